//! The ICMP errors the NAT sends itself, read back through `pop_emitted`:
//! time exceeded both ways, fragmentation needed with the MTU, 3/13 for a
//! refused mapping with its exhaustion event; never about an error or a
//! later fragment; rate limits and a full queue.

use super::*;
use crate::event::Exhaustion;

/// The IPv4 header the NAT gives its own errors: precedence 0xc0,
/// identification 0, TTL 64.
fn from_nat(dst_mac: [u8; 6], src_mac: [u8; 6], src: u32, dst: u32) -> Pkt {
    Pkt {
        dst_mac,
        src_mac,
        tos: 0xc0,
        id: 0,
        frag: 0,
        ttl: 64,
        src,
        dst,
    }
}

#[test]
fn ttl_one_from_the_lan_gives_time_exceeded() {
    let mut s = shard(&cfg());
    let f = lan(HOST, REMOTE).ttl(1).udp(40000, 53, b"query");
    let v = run(&mut s, f.clone(), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    assert_eq!(s.session_count(), 0);
    // From the first pool address while no LAN address is set, quoting
    // the whole packet.
    let want = from_nat(HOST_MAC, LAN_MAC, EXT, HOST).icmp(11, 0, 0, &f[14..]);
    assert_eq!(emitted(&mut s), [(Verdict::ToLan, want.clone())]);
    assert_checksums(&want);
    assert_eq!(s.counters().icmp_generated, 1);
    let lan_addr = 0xc0a8_0101;
    s.set_lan_address(lan_addr);
    run(&mut s, f.clone(), Side::Lan, 0);
    let want = from_nat(HOST_MAC, LAN_MAC, lan_addr, HOST).icmp(11, 0, 0, &f[14..]);
    assert_eq!(emitted(&mut s), [(Verdict::ToLan, want)]);
    assert!(!s.has_emitted());
}

#[test]
fn ttl_one_from_the_wan_gives_time_exceeded_from_the_external_address() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    let f = wan(REMOTE, EXT).ttl(1).udp(53, 1024, b"answer");
    let v = run(&mut s, f.clone(), Side::Wan, 1).0;
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    let want = from_nat(GW_MAC, WAN_MAC, EXT, REMOTE).icmp(11, 0, 0, &f[14..]);
    assert_eq!(emitted(&mut s), [(Verdict::ToWan, want)]);
}

#[test]
fn df_and_too_large_gives_fragmentation_needed_with_the_mtu() {
    let c = Config {
        wan_mtu: 576,
        lan_mtu: 1000,
        ..cfg()
    };
    let mut s = shard(&c);
    let big = lan(HOST, REMOTE).frag(DF).udp(40000, 53, &[0xab; 572]);
    assert_eq!(big.len() - 14, 600);
    let v = run(&mut s, big.clone(), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::MtuExceeded));
    // At most 548 bytes quoted, so the error stays within 576.
    let want = from_nat(HOST_MAC, LAN_MAC, EXT, HOST).icmp(3, 4, 576, &big[14..14 + 548]);
    let e = emitted(&mut s);
    assert_eq!(e, [(Verdict::ToLan, want)]);
    assert_eq!(e[0].1.len(), 14 + 576);
    assert_eq!(be16(&e[0].1, 40), 576, "next-hop MTU");
    assert_checksums(&e[0].1);
    // Without DF: no error, cut into fragments (tests/egress.rs).
    let no_df = lan(HOST, REMOTE).udp(40000, 53, &[0xab; 572]);
    let v = run(&mut s, no_df, Side::Lan, 0).0;
    assert_eq!(v, Verdict::Fragmented);
    assert!(emitted(&mut s).iter().all(|(v, _)| *v == Verdict::ToWan));
    // Inbound, the LAN's MTU.
    udp_session(&mut s, 0);
    let big_in = wan(REMOTE, EXT).frag(DF).udp(53, 1024, &[1; 1000]);
    let v = run(&mut s, big_in.clone(), Side::Wan, 1).0;
    assert_eq!(v, Verdict::Drop(DropReason::MtuExceeded));
    let want = from_nat(GW_MAC, WAN_MAC, EXT, REMOTE).icmp(3, 4, 1000, &big_in[14..14 + 548]);
    assert_eq!(emitted(&mut s), [(Verdict::ToWan, want)]);
}

#[test]
fn never_about_an_error_another_non_query_or_a_later_fragment() {
    let mut s = shard(&cfg());
    let inner = wan(REMOTE, HOST).udp(53, 40000, b"x");
    let frames = [
        lan(HOST, REMOTE).ttl(1).icmp(3, 3, 0, &inner[14..]),
        lan(HOST, REMOTE).ttl(1).icmp(13, 0, 0, &[0; 12]),
        lan(HOST, REMOTE).ttl(1).frag(3).raw(17, &[0; 16]),
    ];
    for f in frames {
        let v = run(&mut s, f, Side::Lan, 0).0;
        assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    }
    assert!(emitted(&mut s).is_empty());
    // An echo request is a query: answered.
    let v = run(
        &mut s,
        lan(HOST, REMOTE).ttl(1).echo(8, 1, b""),
        Side::Lan,
        0,
    )
    .0;
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    assert_eq!(emitted(&mut s).len(), 1);
}

#[test]
fn errors_are_rate_limited() {
    let mut c = cfg();
    c.icmp.rate = 0;
    let mut s = shard(&c);
    run(
        &mut s,
        lan(HOST, REMOTE).ttl(1).udp(1, 53, b""),
        Side::Lan,
        0,
    );
    assert!(emitted(&mut s).is_empty());
    assert_eq!(s.counters().icmp_rate_limited, 1);
    // Ten per second to one host.
    let mut s = shard(&cfg());
    for _ in 0..11 {
        run(
            &mut s,
            lan(HOST, REMOTE).ttl(1).udp(1, 53, b""),
            Side::Lan,
            0,
        );
    }
    assert_eq!(emitted(&mut s).len(), 10);
    assert_eq!(s.counters().icmp_rate_limited, 1);
    assert_eq!(s.counters().icmp_generated, 10);
}

#[test]
fn a_full_queue_drops_and_counts() {
    let mut c = cfg();
    c.icmp.rate = 100_000;
    c.icmp.rate_per_subscriber = 100_000;
    c.fragments.max_held = 0; // 64 slots, and the fragments' room
    let mut s = shard(&c);
    let slots = 64 + crate::emit::FRAGMENT_ROOM;
    for _ in 0..=slots {
        run(
            &mut s,
            lan(HOST, REMOTE).ttl(1).udp(1, 53, b""),
            Side::Lan,
            0,
        );
    }
    assert_eq!(s.counters().emit_dropped, 1);
    assert_eq!(emitted(&mut s).len(), slots);
}

#[test]
fn a_refused_mapping_gives_3_13_and_an_event_a_second() {
    let mut c = cfg();
    c.limits.sessions_per_subscriber = 1;
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    events(&mut s);
    let f = lan(HOST, REMOTE).udp(40002, 53, b"more");
    for secs in [0, 0, 2] {
        let v = run(&mut s, f.clone(), Side::Lan, secs).0;
        assert_eq!(v, Verdict::Drop(DropReason::SessionLimit));
    }
    let want = from_nat(HOST_MAC, LAN_MAC, EXT, HOST).icmp(3, 13, 0, &f[14..]);
    let e = emitted(&mut s);
    assert_eq!(e.len(), 3);
    assert!(e.iter().all(|x| *x == (Verdict::ToLan, want.clone())));
    let exhausted = |at| Event::Exhausted {
        what: Exhaustion::SessionsPerSubscriber,
        subscriber: HOST,
        external: EXT,
        at,
    };
    assert_eq!(events(&mut s), [exhausted(sec(0)), exhausted(sec(2))]);
    // Other reasons: no 3/13.
    let v = run(
        &mut s,
        lan(HOST, REMOTE).tcp(1, 80, ACK, &[], b""),
        Side::Lan,
        3,
    )
    .0;
    assert_eq!(v, Verdict::Drop(DropReason::TcpNotSyn));
    assert!(emitted(&mut s).is_empty());
}

#[test]
fn each_exhaustion_is_named() {
    let one_block = Config {
        port_max: 1535,
        ..cfg()
    };
    let few_sessions = Config {
        max_sessions: 1,
        ..cfg()
    };
    let few_subs = Config {
        max_subscribers: 1,
        ..cfg()
    };
    for (c, why, what) in [
        (one_block, DropReason::PoolExhausted, Exhaustion::Addresses),
        (
            few_sessions,
            DropReason::SessionTableFull,
            Exhaustion::Sessions,
        ),
        (
            few_subs,
            DropReason::SubscriberTableFull,
            Exhaustion::Subscribers,
        ),
    ] {
        let mut s = shard(&c);
        udp_session(&mut s, 0);
        events(&mut s);
        let v = run(&mut s, lan(HOST2, REMOTE).udp(1, 53, b""), Side::Lan, 0).0;
        assert_eq!(v, Verdict::Drop(why));
        let ev = events(&mut s);
        let want = Event::Exhausted {
            what,
            subscriber: HOST2,
            external: 0,
            at: sec(0),
        };
        assert_eq!(ev, [want], "{why:?}");
        assert_eq!(emitted(&mut s).len(), 1, "{why:?}: 3/13");
    }
}
