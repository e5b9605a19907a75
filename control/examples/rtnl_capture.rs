//! Prints the rtnetlink messages this kernel sends, one a line as
//! `TYPE FLAGS HEX`, for the captured-message tests of
//! `masq_control::kernel`. With `dump` it first asks for the links, IPv4
//! addresses, routes and neighbours; then it prints the notifications of
//! the groups masq follows until killed.
//!
//! Usage: `cargo run -p masq --example rtnl_capture [dump]`

use std::io::Write;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

fn main() -> std::io::Result<()> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    // RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE
    socket.bind(&SocketAddr::new(0, 0x1 | 0x4 | 0x10 | 0x40))?;
    let arg = std::env::args().nth(1).unwrap_or_default();
    if arg.starts_with("dump") {
        let mut addr = AddressMessage::default();
        addr.header.family = AddressFamily::Inet;
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        let mut neigh = NeighbourMessage::default();
        neigh.header.family = AddressFamily::Inet;
        for (seq, req) in [
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            RouteNetlinkMessage::GetAddress(addr),
            RouteNetlinkMessage::GetRoute(route),
            RouteNetlinkMessage::GetNeighbour(neigh),
        ]
        .into_iter()
        .enumerate()
        {
            let mut h = NetlinkHeader::default();
            h.flags = NLM_F_REQUEST | NLM_F_DUMP;
            h.sequence_number = seq as u32 + 1;
            let mut m = NetlinkMessage::new(h, NetlinkPayload::from(req));
            m.finalize();
            let mut buf = vec![0; m.buffer_len()];
            m.serialize(&mut buf);
            socket.send_to(&buf, &SocketAddr::new(0, 0), 0)?;
            print_until_done(&socket)?;
        }
        if arg == "dump-once" {
            return Ok(());
        }
    }
    loop {
        print_one(&socket)?;
    }
}

fn print_until_done(socket: &Socket) -> std::io::Result<()> {
    while !print_one(socket)? {}
    Ok(())
}

/// Prints the messages of one datagram; true when it held NLMSG_DONE.
fn print_one(socket: &Socket) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 65536];
    let n = socket.recv(&mut &mut buf[..], 0)?;
    let mut at = 0;
    let mut done = false;
    let mut out = std::io::stdout().lock();
    while at + 16 <= n {
        let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
        if len < 16 || at + len > n {
            break;
        }
        let raw = &buf[at..at + len];
        let kind = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(raw) {
            Ok(m) => match m.payload {
                NetlinkPayload::Done(_) => {
                    done = true;
                    "DONE".to_string()
                }
                NetlinkPayload::InnerMessage(i) => format!("{:?}", i)
                    .split('(')
                    .next()
                    .unwrap_or("?")
                    .to_string(),
                other => format!("{other:?}"),
            },
            Err(e) => format!("undecodable({e})"),
        };
        let flags = u16::from_ne_bytes([raw[6], raw[7]]);
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(out, "{kind} {flags:#06x} {hex}")?;
        at += (len + 3) & !3;
    }
    out.flush()?;
    Ok(done)
}
