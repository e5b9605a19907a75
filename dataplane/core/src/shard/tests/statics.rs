//! Static mappings: a port forward reaches its inside host once the
//! host's MAC is known (set, or learnt from its own traffic), its block is
//! kept from dynamic use, and a one-to-one address translates echo
//! requests without state and keeps every port.

use super::*;
use crate::config::StaticMapping;

/// 192.168.1.80, the server behind the port forward.
const SERVER: u32 = 0xc0a8_0150;
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x80];
/// 192.168.1.90 <-> 198.18.0.9, one to one.
const ONE_IN: u32 = 0xc0a8_015a;
const ONE_OUT: u32 = 0xc612_0009;
const ONE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x90];

/// [`cfg`] with tcp 192.168.1.80:80 -> 203.0.113.1:8080 and
/// 192.168.1.90 -> 198.18.0.9.
fn statics_cfg() -> Config {
    Config {
        statics: vec![
            StaticMapping {
                proto: Some(6),
                inside: SERVER,
                inside_port: 80,
                outside: EXT,
                outside_port: 8080,
            },
            StaticMapping {
                proto: None,
                inside: ONE_IN,
                inside_port: 0,
                outside: ONE_OUT,
                outside_port: 0,
            },
        ],
        ..cfg()
    }
}

#[test]
fn a_port_forward_needs_the_inside_hosts_mac() {
    let mut s = shard(&statics_cfg());
    let syn = wan(REMOTE, EXT).tcp(5555, 8080, SYN, &[], b"");
    let (v, f) = run(&mut s, syn.clone(), Side::Wan, 0);
    assert_eq!(v, Verdict::Drop(DropReason::NoNeighbor));
    assert_eq!(f, syn);
    assert_eq!((s.session_count(), s.subscriber_count()), (0, 0));
    s.set_neighbor(SERVER, Mac(SERVER_MAC));
    let (v, f) = run(&mut s, syn, Side::Wan, 1);
    assert_eq!(v, Verdict::ToLan);
    let want = wan(REMOTE, EXT).to_lan(SERVER, SERVER_MAC);
    assert_eq!(f, want.tcp(5555, 80, SYN, &[], b""));
    assert_checksums(&f);
    // The answer leaves from the forwarded port.
    let sa = lan(SERVER, REMOTE).macs(LAN_MAC, SERVER_MAC);
    let (v, f) = run(&mut s, sa.tcp(80, 5555, SYN | ACK, &[], b""), Side::Lan, 2);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(f, sa.to_wan(EXT).tcp(8080, 5555, SYN | ACK, &[], b""));
    assert_eq!(drops(&s, DropReason::NoNeighbor), 1);
}

#[test]
fn the_mac_is_learnt_from_the_hosts_own_traffic() {
    let mut s = shard(&statics_cfg());
    let out = lan(SERVER, REMOTE2).macs(LAN_MAC, SERVER_MAC);
    let (v, f) = run(&mut s, out.tcp(80, 443, SYN, &[], b""), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(f, out.to_wan(EXT).tcp(8080, 443, SYN, &[], b""));
    assert_eq!(s.statics[0].mac, SERVER_MAC);
    let syn = wan(REMOTE, EXT).tcp(5555, 8080, SYN, &[], b"");
    let (v, f) = run(&mut s, syn, Side::Wan, 1);
    assert_eq!(v, Verdict::ToLan);
    assert_eq!(&f[0..6], &SERVER_MAC);
    assert_eq!(s.session_count(), 2);
}

#[test]
fn the_forwarded_ports_block_is_reserved() {
    let mut s = shard(&statics_cfg());
    // 8080 lies in block 13: 7680-8191.
    assert!(s.is_reserved(0, 8080));
    assert!(s.is_reserved(0, 7680) && s.is_reserved(0, 8191));
    assert!(!s.is_reserved(0, 8192) && !s.is_reserved(0, 1024));
    assert!(!s.is_reserved(0, 80), "in no block");
    assert_eq!(s.block_usage(), [(EXT, 0, 125)]);
    s.set_neighbor(SERVER, Mac(SERVER_MAC));
    for f in [
        wan(REMOTE, EXT).udp(5555, 8080, b""),
        wan(REMOTE, EXT).tcp(5555, 8081, SYN, &[], b""),
    ] {
        let v = run(&mut s, f, Side::Wan, 0).0;
        assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    }
    assert!(
        !shard(&cfg()).is_reserved(0, 8080),
        "no statics, nothing kept"
    );
}

#[test]
fn statics_are_found_from_both_ends() {
    let s = shard(&statics_cfg());
    assert_eq!(s.static_for_inside(6, SERVER, 80), Some((EXT, 8080)));
    assert_eq!(s.static_for_inside(17, SERVER, 80), None);
    assert_eq!(s.static_for_inside(6, SERVER, 81), None);
    assert_eq!(s.static_for_inside(17, ONE_IN, 1234), Some((ONE_OUT, 1234)));
    assert_eq!(s.static_for_outside(6, EXT, 8080), Some((SERVER, 80, 0)));
    assert_eq!(s.static_for_outside(17, EXT, 8080), None);
    assert_eq!(s.static_for_outside(6, ONE_OUT, 22), Some((ONE_IN, 22, 1)));
    assert_eq!(s.one_to_one_outside(ONE_OUT), Some(1));
    assert_eq!(s.one_to_one_outside(EXT), None);
}

#[test]
fn one_to_one_echo_both_ways() {
    let mut s = shard(&statics_cfg());
    let req = wan(REMOTE, ONE_OUT).echo(8, 77, b"ping");
    let v = run(&mut s, req.clone(), Side::Wan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::NoNeighbor));
    s.set_neighbor(ONE_IN, Mac(ONE_MAC));
    let (v, f) = run(&mut s, req, Side::Wan, 0);
    assert_eq!(v, Verdict::ToLan);
    let want = wan(REMOTE, ONE_OUT).to_lan(ONE_IN, ONE_MAC);
    assert_eq!(f, want.echo(8, 77, b"ping"));
    assert_checksums(&f);
    let rep = lan(ONE_IN, REMOTE).macs(LAN_MAC, ONE_MAC);
    let (v, f) = run(&mut s, rep.echo(0, 77, b"ping"), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(f, rep.to_wan(ONE_OUT).echo(0, 77, b"ping"));
    assert_checksums(&f);
    assert_eq!(s.session_count(), 0, "without state");
    // Other ICMP to the address is the box's; a TTL that runs out here
    // is answered from the one-to-one address.
    let ts = wan(REMOTE, ONE_OUT).icmp(13, 0, 0, &[0; 12]);
    assert_eq!(run(&mut s, ts, Side::Wan, 0).0, Verdict::Pass);
    let last = wan(REMOTE, ONE_OUT).ttl(1).echo(8, 78, b"x");
    let v = run(&mut s, last, Side::Wan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    let e = emitted(&mut s);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, Verdict::ToWan);
    assert_eq!((be32(&e[0].1, 26), be32(&e[0].1, 30)), (ONE_OUT, REMOTE));
}

#[test]
fn one_to_one_flows_keep_their_ports() {
    let mut s = shard(&statics_cfg());
    let out = lan(ONE_IN, REMOTE).macs(LAN_MAC, ONE_MAC);
    let (v, f) = run(&mut s, out.udp(5353, 53, b"q"), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(f, out.to_wan(ONE_OUT).udp(5353, 53, b"q"));
    let (v, f) = run(&mut s, out.echo(8, 0x99, b"p"), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(f, out.to_wan(ONE_OUT).echo(8, 0x99, b"p"));
    // Any port of the outside address reaches the same port inside.
    let syn = wan(REMOTE2, ONE_OUT).tcp(6000, 22, SYN, &[], b"");
    let (v, f) = run(&mut s, syn, Side::Wan, 1);
    assert_eq!(v, Verdict::ToLan);
    let want = wan(REMOTE2, ONE_OUT).to_lan(ONE_IN, ONE_MAC);
    assert_eq!(f, want.tcp(6000, 22, SYN, &[], b""));
    assert_eq!(s.block_usage(), [(EXT, 0, 125)], "no pool block taken");
    assert_eq!(s.counters().blocks_allocated, 0);
}

#[test]
fn outbound_icmp_that_is_neither_query_nor_error_is_refused() {
    let mut s = shard(&statics_cfg());
    let ts = lan(HOST, REMOTE).icmp(13, 0, 0, &[0; 12]);
    let v = run(&mut s, ts, Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::IcmpUnsupported));
    // An echo reply from a host with no one-to-one address, too.
    let rep = lan(HOST, REMOTE).echo(0, 5, b"");
    let v = run(&mut s, rep, Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::IcmpUnsupported));
    assert_eq!(drops(&s, DropReason::IcmpUnsupported), 2);
}

#[test]
fn echoes_with_ttl_0_or_1_to_a_one_to_one_address_are_each_answered() {
    let mut s = shard(&statics_cfg());
    s.set_neighbor(ONE_IN, Mac(ONE_MAC));
    for ttl in [1u8, 0, 1, 0] {
        let last = wan(REMOTE, ONE_OUT).ttl(ttl).echo(8, 78, b"x");
        let v = run(&mut s, last, Side::Wan, 0).0;
        assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
        let e = emitted(&mut s);
        assert_eq!(e.len(), 1, "ttl {ttl}");
    }
}
