//! The control thread's rtnetlink socket: it owns the [`KernelView`] and
//! keeps it current. At start it dumps the links, IPv4 addresses, IPv4
//! routes and IPv4 neighbours; then it reads the notifications of the same
//! groups as they come. A dump runs one at a time; a lost notification
//! (the socket overran, ENOBUFS) queues all four dumps again, and so does
//! a dump the kernel marks interrupted. IPv4 removes the routes through a
//! link that goes down or loses its addresses without a notification: such
//! a change queues a dump of the routes.
//!
//! It also asks the kernel to resolve a neighbour (RTM_NEWNEIGH with
//! NTF_USE): the kernel creates the entry if needed and sends its ARP
//! requests, or revalidates a stale entry, as it does for its own traffic.
//! The answer arrives as a neighbour notification.
//!
//! * `view`: the pure state and what each message changes;
//! * `entries`: what the view holds, and [`Changes`];
//! * `tests`: the view fed with messages captured from a kernel.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_DUMP_INTR, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteRealm, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

mod entries;
mod view;

#[cfg(test)]
mod tests;

pub use entries::{Address, Changes, Gateway, Hop, Link, Neighbour, Nud, Table};
pub use view::KernelView;

/// Multicast groups (RTMGRP_*): links, neighbours, IPv4 addresses and
/// IPv4 routes.
const GROUPS: u32 = 0x1 | 0x4 | 0x10 | 0x40;

/// The socket's receive buffer: room for bursts of notifications (a link
/// going down removes many neighbours at once).
const RECEIVE_BUFFER: usize = 1 << 20;

/// The most a start-up dump may take.
const DUMP_TIMEOUT: Duration = Duration::from_secs(5);

/// A neighbour is asked for at most this often.
const RESOLVE_INTERVAL: Duration = Duration::from_secs(1);

/// The rtnetlink socket and the view it keeps.
#[derive(Debug)]
pub struct Kernel {
    socket: Socket,
    buf: Vec<u8>,
    view: KernelView,
    seq: u32,
    /// Dumps still to run, in order.
    queued: VecDeque<Table>,
    /// The dump running: its table, sequence number and whether the
    /// kernel marked it interrupted.
    running: Option<(Table, u32, bool)>,
    /// Neighbours asked for, and when (to ask at most once a
    /// [`RESOLVE_INTERVAL`]).
    asked: HashMap<(u32, Ipv4Addr), Instant>,
    /// Sequence numbers of resolution requests not yet answered, to name
    /// the address in an error.
    requests: HashMap<u32, Ipv4Addr>,
    /// The last error of resolving an address, noted once until the
    /// address's entry changes.
    failed: HashMap<Ipv4Addr, String>,
    /// Lines to log: failed requests, overruns.
    notes: Vec<String>,
    /// Route requests not yet answered, by sequence number: what each
    /// asked, to name it in an error.
    route_requests: HashMap<u32, String>,
}

/// A route of masq's own ([`Kernel::set_route`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteRequest {
    /// Destination and prefix length.
    pub dst: Ipv4Addr,
    /// Prefix length.
    pub len: u8,
    /// The routing table.
    pub table: u32,
    /// The interface the route goes through.
    pub oif: u32,
    /// The route protocol number.
    pub protocol: u8,
    /// The realm (destination part).
    pub realm: u16,
}

impl Kernel {
    /// Opens the socket, subscribes to the groups and reads the four
    /// tables; fails if the kernel does not answer within 5 s.
    pub fn open() -> io::Result<Kernel> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind(&SocketAddr::new(0, GROUPS))?;
        // Best effort: past net.core.rmem_max with CAP_NET_ADMIN, else up
        // to it; a smaller buffer only makes overruns likelier.
        if rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, RECEIVE_BUFFER).is_err()
        {
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, RECEIVE_BUFFER);
        }
        socket.set_non_blocking(true)?;
        let mut k = Kernel {
            socket,
            buf: vec![0; 64 * 1024],
            view: KernelView::new(),
            seq: 0,
            queued: Table::ALL.into_iter().collect(),
            running: None,
            asked: HashMap::new(),
            requests: HashMap::new(),
            failed: HashMap::new(),
            notes: Vec::new(),
            route_requests: HashMap::new(),
        };
        let deadline = Instant::now() + DUMP_TIMEOUT;
        k.kick()?;
        while k.dumping() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the kernel did not answer the dumps within {} s",
                        DUMP_TIMEOUT.as_secs()
                    ),
                ));
            }
            crate::sys::wait_readable(&[k.fd()], left);
            k.drain()?;
        }
        Ok(k)
    }

    /// The view.
    pub fn view(&self) -> &KernelView {
        &self.view
    }

    /// The descriptor, for poll(2).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Whether a dump is running or queued.
    pub fn dumping(&self) -> bool {
        self.running.is_some() || !self.queued.is_empty()
    }

    /// The lines to log since the last call: failed requests, overruns.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Reads every pending message into the view; returns what changed.
    pub fn drain(&mut self) -> io::Result<Changes> {
        let mut changes = Changes::default();
        loop {
            match self.socket.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => {
                    let n = n.min(self.buf.len());
                    let datagram = std::mem::take(&mut self.buf);
                    let r = self.datagram(&datagram[..n], &mut changes);
                    self.buf = datagram;
                    r?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if rustix::io::Errno::from_io_error(&e) == Some(rustix::io::Errno::NOBUFS) =>
                {
                    self.overrun();
                }
                Err(e) => return Err(e),
            }
        }
        self.kick()?;
        Ok(changes)
    }

    /// Asks the kernel to resolve `addr` on interface `index` (or to
    /// revalidate its entry), unless asked less than a second ago.
    pub fn resolve(&mut self, index: u32, addr: Ipv4Addr) -> io::Result<()> {
        let now = Instant::now();
        if self
            .asked
            .get(&(index, addr))
            .is_some_and(|t| now.duration_since(*t) < RESOLVE_INTERVAL)
        {
            return Ok(());
        }
        self.asked
            .retain(|_, t| now.duration_since(*t) < RESOLVE_INTERVAL);
        self.asked.insert((index, addr), now);
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.ifindex = index;
        m.header.state = NeighbourState::None;
        m.header.flags = NeighbourFlags::Use;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                addr,
            )));
        let seq = self.send(
            RouteNetlinkMessage::NewNeighbour(m),
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
        )?;
        if self.requests.len() >= 256 {
            self.requests.clear();
        }
        self.requests.insert(seq, addr);
        Ok(())
    }

    /// Adds (or replaces) or deletes a route through interface `oif` in
    /// `table`, with masq's route protocol and a realm (`[routing]`). The
    /// kernel's answer to a failed request is noted, naming the route.
    pub fn set_route(&mut self, add: bool, r: &RouteRequest) -> io::Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = r.len;
        m.header.table = if r.table < 256 { r.table as u8 } else { 0 };
        m.header.protocol = RouteProtocol::Other(r.protocol);
        m.header.scope = RouteScope::Link;
        m.header.kind = RouteType::Unicast;
        m.attributes.push(RouteAttribute::Table(r.table));
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(r.dst)));
        m.attributes.push(RouteAttribute::Oif(r.oif));
        m.attributes.push(RouteAttribute::Realm(RouteRealm {
            source: 0,
            destination: r.realm,
        }));
        let (msg, flags) = if add {
            (
                RouteNetlinkMessage::NewRoute(m),
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
            )
        } else {
            (RouteNetlinkMessage::DelRoute(m), NLM_F_REQUEST | NLM_F_ACK)
        };
        let seq = self.send(msg, flags)?;
        if self.route_requests.len() >= 256 {
            self.route_requests.clear();
        }
        let verb = if add { "adding" } else { "removing" };
        self.route_requests.insert(
            seq,
            format!("{verb} route {}/{} (table {})", r.dst, r.len, r.table),
        );
        Ok(())
    }

    /// Takes the messages of one datagram.
    fn datagram(&mut self, buf: &[u8], changes: &mut Changes) -> io::Result<()> {
        for m in messages(buf) {
            match m {
                Ok(m) => self.message(&m, changes)?,
                Err(e) => self.notes.push(e),
            }
        }
        Ok(())
    }

    /// Takes one message.
    fn message(
        &mut self,
        m: &NetlinkMessage<RouteNetlinkMessage>,
        changes: &mut Changes,
    ) -> io::Result<()> {
        let seq = m.header.sequence_number;
        let ours = self.running.filter(|r| r.1 == seq && seq != 0);
        match &m.payload {
            NetlinkPayload::Done(_) if ours.is_some() => {
                changes.merge(self.view.end_dump());
                if let Some((table, _, true)) = ours {
                    self.queue(table);
                }
                self.running = None;
                self.kick()?;
            }
            NetlinkPayload::Error(e) if ours.is_some() => {
                self.view.abort_dump();
                if let Some((table, _, _)) = ours {
                    self.notes
                        .push(format!("dump of the {table}: {}", e.to_io()));
                }
                self.running = None;
            }
            NetlinkPayload::Error(e) if e.code.is_some() => match self.requests.remove(&seq) {
                Some(a) => {
                    let text = e.to_io().to_string();
                    if self.failed.get(&a) != Some(&text) {
                        self.notes.push(format!("resolving {a}: {text}"));
                        self.failed.insert(a, text);
                    }
                }
                None => match self.route_requests.remove(&seq) {
                    Some(what) => self.notes.push(format!("{what}: {}", e.to_io())),
                    None => self.notes.push(format!("request {seq}: {}", e.to_io())),
                },
            },
            NetlinkPayload::Error(_) => {
                // An acknowledgement.
                self.route_requests.remove(&seq);
            }
            NetlinkPayload::Overrun(_) => self.overrun(),
            NetlinkPayload::InnerMessage(_) => {
                if let (Some(r), true) = (&mut self.running, m.header.flags & NLM_F_DUMP_INTR != 0)
                {
                    r.2 = true;
                }
                let c = self.view.apply(m);
                for (_, a) in &c.neighbours {
                    self.failed.remove(a);
                }
                if c.routes_unannounced {
                    self.queue(Table::Routes);
                }
                changes.merge(c);
            }
            _ => {}
        }
        Ok(())
    }

    /// Notifications were lost: everything is read again.
    fn overrun(&mut self) {
        self.notes.push(
            "notifications lost (socket overrun): reading links, addresses, routes and neighbours again"
                .into(),
        );
        for t in Table::ALL {
            self.queue(t);
        }
    }

    fn queue(&mut self, table: Table) {
        if !self.queued.contains(&table) {
            self.queued.push_back(table);
        }
    }

    /// Starts the next queued dump unless one is running.
    fn kick(&mut self) -> io::Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let Some(table) = self.queued.pop_front() else {
            return Ok(());
        };
        let req = match table {
            Table::Links => RouteNetlinkMessage::GetLink(LinkMessage::default()),
            Table::Addresses => {
                let mut m = AddressMessage::default();
                m.header.family = AddressFamily::Inet;
                RouteNetlinkMessage::GetAddress(m)
            }
            Table::Routes => {
                let mut m = RouteMessage::default();
                m.header.address_family = AddressFamily::Inet;
                RouteNetlinkMessage::GetRoute(m)
            }
            Table::Neighbours => {
                let mut m = NeighbourMessage::default();
                m.header.family = AddressFamily::Inet;
                RouteNetlinkMessage::GetNeighbour(m)
            }
        };
        let seq = self.send(req, NLM_F_REQUEST | NLM_F_DUMP)?;
        self.view.begin_dump(table);
        self.running = Some((table, seq, false));
        Ok(())
    }

    /// Sends one request; returns its sequence number.
    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut h = NetlinkHeader::default();
        h.flags = flags;
        h.sequence_number = self.seq;
        let mut m = NetlinkMessage::new(h, NetlinkPayload::from(msg));
        m.finalize();
        let mut buf = vec![0; m.buffer_len()];
        m.serialize(&mut buf);
        self.socket.send_to(&buf, &SocketAddr::new(0, 0), 0)?;
        Ok(self.seq)
    }
}

/// The messages of one datagram, in order; one that cannot be decoded is
/// an error naming why (a length that overruns the datagram ends it).
pub fn messages(
    mut buf: &[u8],
) -> impl Iterator<Item = Result<NetlinkMessage<RouteNetlinkMessage>, String>> + '_ {
    std::iter::from_fn(move || {
        if buf.len() < 16 {
            return None;
        }
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < 16 || len > buf.len() {
            let e = format!(
                "a message of {len} bytes in {} left of a datagram",
                buf.len()
            );
            buf = &[];
            return Some(Err(e));
        }
        let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[..len])
            .map_err(|e| format!("undecodable message: {e}"));
        buf = &buf[((len + 3) & !3).min(buf.len())..];
        Some(m)
    })
}
