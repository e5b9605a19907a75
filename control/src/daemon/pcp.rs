//! The PCP server's socket and the NAT it reaches. [`crate::pcp::Server`]
//! answers; this room owns UDP 5351 on the LAN interface (bound to the
//! device, so only what arrives on the LAN reaches it), feeds the server
//! the datagrams, sends what it says (answers, and the unsolicited
//! announcements to 224.0.0.1:5350 and the clients), and carries its hold
//! requests to the subscriber's owner worker ([`Control::ask_one`]), with
//! the subscriber's MAC from the kernel's neighbour table.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

use masq_core::{Granted, HoldAsk, HoldKind, HoldRefusal};
use masq_xsk::command::{Command, Reply};
use socket2::{Domain, Protocol, Socket, Type};

use super::Control;
use crate::config::RunConfig;
use crate::external::External;
use crate::pcp::{Nat, Server};

/// The server port of PCP and NAT-PMP (RFC 6887 §19.1).
pub const SERVER_PORT: u16 = 5351;
/// Datagrams read per loop of the control thread, so a flood cannot hold
/// it; the rest wait in the socket's buffer (and are lost when it fills).
const PER_LOOP: usize = 64;

/// The socket (bound to the LAN address, once there is one) and the server.
pub(super) struct Pcp {
    socket: Option<(Ipv4Addr, UdpSocket)>,
    pub server: Server,
}

impl std::fmt::Debug for Pcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pcp")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

/// UDP 5351 of LAN address `a`, bound to the LAN interface too: only
/// unicast requests to the box's LAN address that arrive on the LAN reach
/// it (not those to a broadcast or multicast address, nor those to
/// another of the box's addresses).
fn bind(lan: &str, a: Ipv4Addr) -> Result<UdpSocket, String> {
    let key = |e: std::io::Error| format!("pcp: UDP {a}:{SERVER_PORT} on {lan}: {e}");
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(key)?;
    s.set_reuse_address(true).map_err(key)?;
    s.bind_device(Some(lan.as_bytes())).map_err(key)?;
    s.bind(&SocketAddrV4::new(a, SERVER_PORT).into())
        .map_err(key)?;
    s.set_nonblocking(true).map_err(key)?;
    s.set_multicast_loop_v4(false).map_err(key)?;
    Ok(s.into())
}

/// Opens the server when `[pcp]` enables it, on the LAN interface's
/// address `lan_address` (none yet: the socket comes with the address).
pub(super) fn open(
    rc: &RunConfig,
    lan_address: Option<Ipv4Addr>,
    now_ms: u64,
) -> Result<Option<Pcp>, String> {
    if !rc.pcp.enabled {
        return Ok(None);
    }
    let socket = match lan_address {
        Some(a) => Some((a, bind(&rc.lan, a)?)),
        None => None,
    };
    Ok(Some(Pcp {
        socket,
        server: Server::new(rc.pcp.clone(), rc.core.inside.clone(), now_ms),
    }))
}

impl Pcp {
    /// The socket, for the control loop's poll.
    pub fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.socket.as_ref().map(|(_, s)| s.as_fd())
    }
}

impl Control {
    /// Answers the requests waiting on the socket and sends the
    /// announcements that are due.
    pub(super) fn serve_pcp(&mut self) {
        let Some(mut pcp) = self.pcp.take() else {
            return;
        };
        let Some((to, socket)) = pcp.socket.take() else {
            self.pcp = Some(pcp);
            return;
        };
        let mut buf = [0u8; 2048];
        for _ in 0..PER_LOOP {
            let (n, from) = match socket.recv_from(&mut buf) {
                Ok((n, SocketAddr::V4(from))) => (n, from),
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    eprintln!("masq: pcp: receiving: {e}");
                    break;
                }
            };
            let now = self.now_ms();
            let mut nat = Workers { ctl: self };
            if let Some(answer) = pcp.server.handle(&buf[..n], from, to, now, &mut nat) {
                if let Err(e) = socket.send_to(&answer, from) {
                    eprintln!("masq: pcp: answering {from}: {e}");
                }
            }
        }
        for (dst, msg) in pcp.server.due(self.now_ms()) {
            if let Err(e) = socket.send_to(&msg, dst) {
                eprintln!("masq: pcp: announcing to {dst}: {e}");
            }
        }
        pcp.socket = Some((to, socket));
        self.pcp = Some(pcp);
    }

    /// Moves the socket to the LAN interface's new address `a`.
    pub(super) fn follow_pcp_address(&mut self, a: Ipv4Addr) {
        let Some(pcp) = &mut self.pcp else {
            return;
        };
        if pcp.socket.as_ref().is_some_and(|(b, _)| *b == a) {
            return;
        }
        pcp.socket = None;
        match bind(&self.rc.lan, a) {
            Ok(s) => {
                eprintln!("masq: PCP and NAT-PMP on {a}:{SERVER_PORT}");
                pcp.socket = Some((a, s));
            }
            Err(e) => eprintln!("masq: {e}"),
        }
    }

    /// The NAT lost every mapping (a new external address, a flush of
    /// everything): the server forgets its table and announces (NAT-PMP
    /// notices too, with the one external address there is).
    pub(super) fn pcp_mappings_lost(&mut self) {
        let public = self.public_address();
        let now = self.now_ms();
        if let Some(p) = &mut self.pcp {
            p.server.set_public_address(public);
            p.server.external_changed(now);
        }
    }

    /// The one external address every subscriber has, when there is one:
    /// MASQUERADE's WAN address, or a pool of one address.
    pub(super) fn public_address(&self) -> Option<Ipv4Addr> {
        match (self.external, &self.rc.core.pool[..]) {
            (External::Interface(a), _) => a,
            (External::Pool, [p]) if p.len() == 32 => Some(Ipv4Addr::from(p.addr())),
            _ => None,
        }
    }

    /// The hosts holding PCP mappings, whose MACs the workers need.
    pub(super) fn pcp_hosts(&self) -> Vec<Ipv4Addr> {
        self.pcp
            .as_ref()
            .map(|p| p.server.clients().into_iter().map(Ipv4Addr::from).collect())
            .unwrap_or_default()
    }
}

/// The NAT as the server reaches it: the owner worker of each
/// subscriber, through its mailbox.
struct Workers<'a> {
    ctl: &'a mut Control,
}

impl Workers<'_> {
    fn owner(&self, inside: u32) -> usize {
        usize::from(self.ctl.rc.core.subscriber_shard(inside))
    }

    fn ask(&mut self, inside: u32, cmd: Command) -> Option<Reply> {
        let w = self.owner(inside);
        match self.ctl.ask_one(w, cmd) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("masq: pcp: {e}");
                None
            }
        }
    }
}

impl Nat for Workers<'_> {
    fn hold(&mut self, mut ask: HoldAsk) -> Result<Granted, Option<HoldRefusal>> {
        ask.mac = self.ctl.lan_mac_of(Ipv4Addr::from(ask.inside));
        match self.ask(ask.inside, Command::Hold(Box::new(ask))) {
            Some(Reply::Held(r)) => r.map_err(Some),
            _ => Err(None),
        }
    }

    fn release(&mut self, kind: HoldKind, proto: u8, inside: u32, inside_port: u16) -> bool {
        let cmd = Command::Release {
            kind,
            proto,
            inside,
            inside_port,
        };
        matches!(self.ask(inside, cmd), Some(Reply::Released(true)))
    }

    fn external_of(&mut self, inside: u32) -> Option<u32> {
        match self.ask(inside, Command::ExternalOf(inside)) {
            Some(Reply::External(a)) => a,
            _ => None,
        }
    }
}
