//! Carrier-grade behaviour of the core beyond translation itself:
//! generated ICMP, MSS clamping, static mappings, exclusions, fragments
//! and deterministic NAT. Literal frames in, frames and counters out.

use masq_core::wire::Mac;
use masq_core::{
    deterministic, Config, DropReason, Event, Exhaustion, Limits, Side, StaticMapping, Verdict,
};
use masq_tests::check::{checksums, seen};
use masq_tests::frames::{self, From, ACK, GW_MAC, HOST_MAC, LAN_MAC, SYN, SYN_ACK, WAN_MAC};
use masq_tests::harness::Nat;

const H1: [u8; 4] = [192, 168, 1, 10];
const H2: [u8; 4] = [192, 168, 1, 11];
const SRV: [u8; 4] = [192, 168, 1, 80];
const DMZ: [u8; 4] = [192, 168, 1, 90];
const R: [u8; 4] = [198, 51, 100, 1];
const LAN_ADDR: [u8; 4] = [192, 168, 1, 1];
const POOL0: [u8; 4] = [203, 0, 113, 0];
const ONE: [u8; 4] = [203, 0, 114, 9];

fn a(x: [u8; 4]) -> u32 {
    u32::from_be_bytes(x)
}

fn cfg() -> Config {
    Config {
        inside: vec!["192.168.0.0/16".parse().unwrap()],
        pool: vec!["203.0.113.0/29".parse().unwrap()],
        max_sessions: 4096,
        max_subscribers: 256,
        event_queue: 4096,
        ..Config::default()
    }
}

fn nat(c: &Config) -> Nat {
    let mut n = Nat::new(c);
    for s in &mut n.shards {
        s.set_lan_address(a(LAN_ADDR));
    }
    n
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn set_df(mut f: Vec<u8>, df: bool) -> Vec<u8> {
    f[20] = if df { 0x40 } else { 0 };
    f[21] = 0;
    frames::refill_ip_checksum(&mut f);
    f
}

/// Checks a generated ICMP error: addresses, type/code, checksums, and
/// that it quotes the start of `orig`'s IPv4 packet.
fn assert_icmp_error(e: &[u8], from: [u8; 4], to: [u8; 4], ty: u8, code: u8, orig: &[u8]) {
    let s = seen(e);
    assert_eq!((s.src, s.dst, s.proto), (from, to, 1), "addresses");
    assert_eq!((e[34], e[35]), (ty, code), "type and code");
    checksums(e).unwrap();
    let quoted = &e[42..];
    let n = quoted.len();
    assert!(n >= 28, "quotes the header and 8 bytes");
    assert_eq!(quoted, &orig[14..14 + n]);
    assert_eq!(&e[0..6], &orig[6..12], "back to the MAC it came from");
}

#[test]
fn ttl_expiry_sends_time_exceeded_both_ways() {
    let mut n = nat(&cfg());
    let f = frames::with_ttl(frames::udp(From::Lan, H1, 40000, R, 33434, b"probe"), 1);
    let mut x = f.clone();
    assert_eq!(
        n.send(&mut x, Side::Lan),
        Verdict::Drop(DropReason::TtlExpired)
    );
    let out = n.emitted();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, Verdict::ToLan);
    assert_icmp_error(&out[0].1, LAN_ADDR, H1, 11, 0, &f);
    assert_eq!(&out[0].1[6..12], &LAN_MAC);
    // TTL 2 goes through; the reply comes back with TTL 1 and gets an
    // error from the pool address it was sent to.
    let mut x = frames::with_ttl(frames::udp(From::Lan, H1, 40000, R, 53, b"q"), 2);
    assert_eq!(n.send(&mut x, Side::Lan), Verdict::ToWan);
    let ext = seen(&x);
    let back = frames::with_ttl(
        frames::udp(From::Wan, R, 53, ext.src, ext.sport, b"answer"),
        1,
    );
    let mut y = back.clone();
    assert_eq!(
        n.send(&mut y, Side::Wan),
        Verdict::Drop(DropReason::TtlExpired)
    );
    let out = n.emitted();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, Verdict::ToWan);
    assert_icmp_error(&out[0].1, ext.src, R, 11, 0, &back);
    assert_eq!(&out[0].1[6..12], &WAN_MAC);
    // Never an error about an ICMP error.
    let err = frames::with_ttl(frames::icmp_error(From::Lan, H1, R, 3, 3, &x[14..], 28), 1);
    let mut e = err.clone();
    assert_eq!(
        n.send(&mut e, Side::Lan),
        Verdict::Drop(DropReason::TtlExpired)
    );
    assert!(n.emitted().is_empty());
    assert_eq!(n.shards[0].counters().icmp_generated, 2);
}

#[test]
fn refused_mapping_gets_3_13_an_event_and_a_rate_limit() {
    let mut c = cfg();
    c.limits = Limits {
        sessions_per_subscriber: 2,
        blocks_per_subscriber: 1,
    };
    c.icmp.rate_per_subscriber = 3;
    let mut n = nat(&c);
    for p in 0..2 {
        let mut f = frames::udp(From::Lan, H1, 40000 + p, R, 53, b"q");
        assert_eq!(n.send(&mut f, Side::Lan), Verdict::ToWan);
    }
    while n.shards[0].pop_event().is_some() {}
    let refused = frames::udp(From::Lan, H1, 40009, R, 53, b"q");
    for _ in 0..5 {
        let mut f = refused.clone();
        assert_eq!(
            n.send(&mut f, Side::Lan),
            Verdict::Drop(DropReason::SessionLimit)
        );
    }
    let out = n.emitted();
    assert_eq!(out.len(), 3, "three per second to one host");
    for (v, e) in &out {
        assert_eq!(*v, Verdict::ToLan);
        assert_icmp_error(e, LAN_ADDR, H1, 3, 13, &refused);
    }
    assert_eq!(n.shards[0].counters().icmp_rate_limited, 2);
    let ev: Vec<Event> = std::iter::from_fn(|| n.shards[0].pop_event()).collect();
    assert_eq!(
        ev.len(),
        1,
        "one exhaustion event per subscriber per second: {ev:?}"
    );
    assert!(matches!(
        ev[0],
        Event::Exhausted { what: Exhaustion::SessionsPerSubscriber, subscriber, external, .. }
            if subscriber == a(H1) && external >> 8 == a(POOL0) >> 8
    ));
    // Another host is not held back by H1's limit, and a second later H1
    // gets errors again.
    let mut f = frames::udp(From::Lan, H2, 40000, R, 53, b"q");
    assert_eq!(n.send(&mut f, Side::Lan), Verdict::ToWan);
    n.advance(1);
    let mut f = refused.clone();
    n.send(&mut f, Side::Lan);
    assert_eq!(n.emitted().len(), 1);
    // Rate 0 turns generation off.
    let mut c2 = c.clone();
    c2.icmp.rate = 0;
    let mut n = nat(&c2);
    for p in 0..3 {
        let mut f = frames::udp(From::Lan, H1, 40000 + p, R, 53, b"q");
        n.send(&mut f, Side::Lan);
    }
    assert!(n.emitted().is_empty());
}

#[test]
fn pool_exhaustion_is_reported_as_addresses_or_ports() {
    let mut c = cfg();
    c.pool = vec!["203.0.113.0/32".parse().unwrap()];
    c.block_size = 32256;
    c.limits.blocks_per_subscriber = 1;
    let mut n = nat(&c);
    // Two blocks on one address: two subscribers get one each.
    for h in [H1, H2] {
        let mut f = frames::udp(From::Lan, h, 40000, R, 53, b"q");
        assert_eq!(n.send(&mut f, Side::Lan), Verdict::ToWan);
    }
    while n.shards[0].pop_event().is_some() {}
    let mut f = frames::udp(From::Lan, [192, 168, 1, 12], 40000, R, 53, b"q");
    assert_eq!(
        n.send(&mut f, Side::Lan),
        Verdict::Drop(DropReason::PoolExhausted)
    );
    let ev = n.shards[0].pop_event();
    assert!(
        matches!(
            ev,
            Some(Event::Exhausted {
                what: Exhaustion::Addresses,
                external: 0,
                ..
            })
        ),
        "{ev:?}"
    );
    assert_eq!(n.emitted()[0].1[34..36], [3, 13]);
}

#[test]
fn oversize_df_gets_frag_needed_with_the_mtu() {
    let mut c = cfg();
    c.wan_mtu = 1400;
    c.lan_mtu = 1300;
    let mut n = nat(&c);
    let big = set_df(frames::udp(From::Lan, H1, 40000, R, 53, &[7u8; 1420]), true);
    let mut x = big.clone();
    assert_eq!(
        n.send(&mut x, Side::Lan),
        Verdict::Drop(DropReason::MtuExceeded)
    );
    let out = n.emitted();
    assert_eq!(out.len(), 1);
    assert_icmp_error(&out[0].1, LAN_ADDR, H1, 3, 4, &big);
    assert_eq!(be16(&out[0].1, 40), 1400, "next-hop MTU");
    // 576 bytes at most: header, ICMP header and 548 quoted bytes.
    assert_eq!(out[0].1.len(), 14 + 576);
    // Without DF: no error, cut into two fragments that fit (RFC 4787
    // REQ-13a).
    let mut x = set_df(
        frames::udp(From::Lan, H1, 40000, R, 53, &[7u8; 1420]),
        false,
    );
    assert_eq!(n.send(&mut x, Side::Lan), Verdict::Fragmented);
    let out = n.emitted();
    assert_eq!(out.len(), 2);
    for (v, f) in &out {
        assert_eq!(*v, Verdict::ToWan);
        assert!(be16(f, 16) <= 1400);
    }
    assert_eq!(be16(&out[0].1, 20), 0x2000, "MF, offset 0");
    assert_eq!(be16(&out[1].1, 20), 1376 / 8, "the rest, at 1376");
    // Exactly the MTU passes; inbound the LAN MTU counts.
    let mut x = set_df(frames::udp(From::Lan, H1, 40000, R, 53, &[7u8; 1372]), true);
    assert_eq!(n.send(&mut x, Side::Lan), Verdict::ToWan);
    let ext = seen(&x);
    let back = set_df(
        frames::udp(From::Wan, R, 53, ext.src, ext.sport, &[1u8; 1300]),
        true,
    );
    let mut y = back.clone();
    assert_eq!(
        n.send(&mut y, Side::Wan),
        Verdict::Drop(DropReason::MtuExceeded)
    );
    let out = n.emitted();
    assert_icmp_error(&out[0].1, ext.src, R, 3, 4, &back);
    assert_eq!(be16(&out[0].1, 40), 1300);
}

/// A TCP SYN (or SYN-ACK) with an MSS option.
fn syn_with_mss(
    from: From,
    src: [u8; 4],
    sp: u16,
    dst: [u8; 4],
    dp: u16,
    ack: bool,
    mss: u16,
) -> Vec<u8> {
    let mut f = frames::tcp(from, src, sp, dst, dp, if ack { SYN_ACK } else { SYN }, b"");
    // Grow the header by 8 bytes: NOP, NOP, MSS (kind 2, length 4).
    let opts = [1, 1, 2, 4, (mss >> 8) as u8, mss as u8, 0, 0];
    let l4 = 34;
    f.splice(l4 + 20..l4 + 20, opts);
    f[l4 + 12] = 7 << 4;
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    frames::refill_checksums(&mut f);
    f
}

fn mss_of(f: &[u8]) -> u16 {
    be16(f, 34 + 24)
}

#[test]
fn mss_is_clamped_both_ways_with_checksums_right() {
    let mut c = cfg();
    c.mss_clamp = 1360;
    let mut n = nat(&c);
    let mut s = syn_with_mss(From::Lan, H1, 40000, R, 80, false, 1460);
    assert_eq!(n.send(&mut s, Side::Lan), Verdict::ToWan);
    assert_eq!(mss_of(&s), 1360);
    checksums(&s).unwrap();
    let ext = seen(&s);
    let mut sa = syn_with_mss(From::Wan, R, 80, ext.src, ext.sport, true, 1460);
    assert_eq!(n.send(&mut sa, Side::Wan), Verdict::ToLan);
    assert_eq!(mss_of(&sa), 1360);
    checksums(&sa).unwrap();
    // A smaller MSS is left alone; so are segments without SYN.
    let mut s = syn_with_mss(From::Lan, H1, 40001, R, 80, false, 1200);
    assert_eq!(n.send(&mut s, Side::Lan), Verdict::ToWan);
    assert_eq!(mss_of(&s), 1200);
    checksums(&s).unwrap();
    assert_eq!(n.shards[0].counters().mss_clamped, 2);
    // Off by default.
    let mut n = nat(&cfg());
    let mut s = syn_with_mss(From::Lan, H1, 40000, R, 80, false, 1460);
    assert_eq!(n.send(&mut s, Side::Lan), Verdict::ToWan);
    assert_eq!(mss_of(&s), 1460);
}

fn statics_cfg() -> Config {
    let mut c = cfg();
    c.statics = vec![
        StaticMapping {
            proto: Some(6),
            inside: a(SRV),
            inside_port: 80,
            outside: a(POOL0),
            outside_port: 8080,
        },
        StaticMapping {
            proto: Some(17),
            inside: a(SRV),
            inside_port: 53,
            outside: a(POOL0),
            outside_port: 53,
        },
        StaticMapping {
            proto: None,
            inside: a(DMZ),
            inside_port: 0,
            outside: a(ONE),
            outside_port: 0,
        },
    ];
    c
}

const SRV_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x80];

#[test]
fn port_forward_reaches_the_inside_server() {
    let mut n = nat(&statics_cfg());
    let syn = frames::tcp(From::Wan, R, 50000, POOL0, 8080, SYN, b"");
    let mut x = syn.clone();
    assert_eq!(
        n.send(&mut x, Side::Wan),
        Verdict::Drop(DropReason::NoNeighbor),
        "the server's MAC is not known yet"
    );
    n.shards[0].set_neighbor(a(SRV), Mac(SRV_MAC));
    let mut x = syn.clone();
    assert_eq!(n.send(&mut x, Side::Wan), Verdict::ToLan);
    let s = seen(&x);
    assert_eq!((s.dst, s.dport, s.src, s.sport), (SRV, 80, R, 50000));
    assert_eq!((s.dst_mac, s.src_mac), (SRV_MAC, LAN_MAC));
    checksums(&x).unwrap();
    // The server answers from port 80: it leaves as the forwarded port.
    let mut sa = frames::tcp(From::Lan, SRV, 80, R, 50000, SYN_ACK, b"");
    assert_eq!(n.send(&mut sa, Side::Lan), Verdict::ToWan);
    let s = seen(&sa);
    assert_eq!((s.src, s.sport), (POOL0, 8080));
    // Port forwards ignore filtering: a second remote gets in too, even
    // with address-and-port-dependent filtering.
    let mut c = statics_cfg();
    c.filtering = masq_core::Filtering::AddressAndPortDependent;
    let mut n = nat(&c);
    n.shards[0].set_neighbor(a(SRV), Mac(SRV_MAC));
    for r in [R, [198, 51, 100, 7]] {
        let mut q = frames::udp(From::Wan, r, 5353, POOL0, 53, b"query");
        assert_eq!(n.send(&mut q, Side::Wan), Verdict::ToLan);
        assert_eq!(seen(&q).dport, 53);
    }
    // A port in the reserved block that no mapping names is refused; the
    // forwarded TCP port is not open for UDP.
    let mut q = frames::udp(From::Wan, R, 5353, POOL0, 8081, b"x");
    assert_eq!(
        n.send(&mut q, Side::Wan),
        Verdict::Drop(DropReason::NoMapping)
    );
    let mut q = frames::udp(From::Wan, R, 5353, POOL0, 8080, b"x");
    assert_eq!(
        n.send(&mut q, Side::Wan),
        Verdict::Drop(DropReason::NoMapping)
    );
}

#[test]
fn dynamic_blocks_never_take_a_static_port() {
    let mut c = statics_cfg();
    c.pool = vec!["203.0.113.0/32".parse().unwrap()];
    c.max_sessions = 1 << 16;
    c.limits.sessions_per_subscriber = 1 << 16;
    c.limits.blocks_per_subscriber = 200;
    let mut n = nat(&c);
    let map = n.shards[0].block_map();
    let reserved = map.block_of(8080).unwrap();
    let mut ports = std::collections::HashSet::new();
    // Every block but the reserved one is handed out (125 of 126).
    for i in 0..(125 * 512) as u32 {
        let mut f = frames::udp(From::Lan, H1, 1024 + i as u16, R, 53, b"q");
        assert_eq!(n.send(&mut f, Side::Lan), Verdict::ToWan, "flow {i}");
        let p = seen(&f).sport;
        assert_ne!(map.block_of(p), Some(reserved), "port {p}");
        ports.insert(p);
    }
    let mut f = frames::udp(From::Lan, H1, 7, [198, 51, 100, 9], 53, b"q");
    assert_eq!(
        n.send(&mut f, Side::Lan),
        Verdict::Drop(DropReason::PoolExhausted)
    );
    assert_eq!(ports.len(), 125 * 512);
}

#[test]
fn one_to_one_keeps_ports_and_answers_pings() {
    let mut n = nat(&statics_cfg());
    let mut f = frames::udp(From::Lan, DMZ, 4500, R, 4500, b"ike");
    assert_eq!(n.send(&mut f, Side::Lan), Verdict::ToWan);
    let s = seen(&f);
    assert_eq!((s.src, s.sport), (ONE, 4500));
    checksums(&f).unwrap();
    // The outbound frame taught the shard the host's MAC: a new inbound
    // flow to any port reaches it.
    let mut t = frames::tcp(From::Wan, R, 40000, ONE, 22, SYN, b"");
    assert_eq!(n.send(&mut t, Side::Wan), Verdict::ToLan);
    let s = seen(&t);
    assert_eq!((s.dst, s.dport, s.dst_mac), (DMZ, 22, HOST_MAC));
    checksums(&t).unwrap();
    // Pings to the outside address reach the host, and its replies go out
    // from the outside address.
    let mut p = frames::echo(From::Wan, R, ONE, 7, 1, true);
    assert_eq!(n.send(&mut p, Side::Wan), Verdict::ToLan);
    assert_eq!(seen(&p).dst, DMZ);
    checksums(&p).unwrap();
    let mut r = frames::echo(From::Lan, DMZ, R, 7, 1, false);
    assert_eq!(n.send(&mut r, Side::Lan), Verdict::ToWan);
    let s = seen(&r);
    assert_eq!((s.src, s.dst_mac, s.src_mac), (ONE, GW_MAC, WAN_MAC));
    checksums(&r).unwrap();
    // A ping whose TTL runs out here is answered with time exceeded from
    // the outside address, not passed on with its TTL wrapped around.
    for ttl in [1, 0] {
        let q = frames::with_ttl(frames::echo(From::Wan, R, ONE, 8, 1, true), ttl);
        let mut p = q.clone();
        assert_eq!(
            n.send(&mut p, Side::Wan),
            Verdict::Drop(DropReason::TtlExpired),
            "TTL {ttl}"
        );
        let out = n.emitted();
        assert_eq!(out.len(), 1, "TTL {ttl}");
        assert_eq!(out[0].0, Verdict::ToWan);
        assert_icmp_error(&out[0].1, ONE, R, 11, 0, &q);
    }
    // Nothing else reaches the LAN through it: an ACK with no session.
    let mut t = frames::tcp(From::Wan, R, 40001, ONE, 22, ACK, b"");
    assert_eq!(
        n.send(&mut t, Side::Wan),
        Verdict::Drop(DropReason::TcpNotSyn)
    );
}

#[test]
fn excluded_destinations_are_left_untranslated() {
    let mut c = cfg();
    c.exclude = vec!["198.51.100.0/24".parse().unwrap()];
    let mut n = nat(&c);
    let orig = frames::udp(From::Lan, H1, 40000, R, 53, b"q");
    let mut f = orig.clone();
    assert_eq!(n.send(&mut f, Side::Lan), Verdict::Pass);
    assert_eq!(f, orig);
    let mut f = frames::udp(From::Lan, H1, 40000, [198, 51, 101, 1], 53, b"q");
    assert_eq!(n.send(&mut f, Side::Lan), Verdict::ToWan);
}

/// Sends `frags` in the given order; returns what came out (forwarded
/// frames and released ones), in order.
fn send_frags(n: &mut Nat, frags: &[Vec<u8>], order: &[usize], side: Side) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for &i in order {
        let mut f = frags[i].clone();
        let v = n.send(&mut f, side);
        match v {
            Verdict::ToLan | Verdict::ToWan => out.push(f),
            Verdict::Held => {}
            v => panic!("fragment {i}: {v:?}"),
        }
        for (v, e) in n.emitted() {
            assert!(matches!(v, Verdict::ToLan | Verdict::ToWan), "{v:?}");
            out.push(e);
        }
    }
    out
}

#[test]
fn fragments_cross_in_any_order_both_ways() {
    let payload: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    for (k, order) in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]]
        .iter()
        .enumerate()
    {
        let mut n = nat(&cfg());
        let whole = frames::udp(From::Lan, H1, 41000 + k as u16, R, 9000, &payload);
        let frags = frames::fragments(&whole, 800, 0x1234 + k as u16);
        assert_eq!(frags.len(), 4);
        let out = send_frags(&mut n, &frags, order, Side::Lan);
        assert_eq!(out.len(), 4, "order {order:?}");
        let back = frames::reassemble(&out).expect("one datagram");
        checksums(&back).unwrap();
        let s = seen(&back);
        assert_eq!((s.dst, s.dport), (R, 9000));
        assert!(s.src[..3] == POOL0[..3]);
        assert_eq!(&back[42..], &payload[..]);
        for f in &out {
            assert_eq!((&f[0..6], &f[6..12]), (&GW_MAC[..], &WAN_MAC[..]));
            assert_eq!(f[22], frames::TTL - 1);
        }
        // The reply, fragmented by the remote, comes back the same way.
        let reply = frames::udp(From::Wan, R, 9000, s.src, s.sport, &payload);
        let frags = frames::fragments(&reply, 1200, 0x4321);
        let rorder: Vec<usize> = (0..frags.len()).rev().collect();
        let out = send_frags(&mut n, &frags, &rorder, Side::Wan);
        let back = frames::reassemble(&out).expect("one datagram");
        checksums(&back).unwrap();
        let s = seen(&back);
        assert_eq!((s.dst, s.dport), (H1, 41000 + k as u16));
        let c = n.shards[0].counters();
        assert!(c.fragments_translated >= 5, "{c:?}");
    }
}

#[test]
fn fragments_hand_off_to_the_owner_in_order() {
    let mut c = cfg();
    c.workers = 2;
    let payload = vec![5u8; 2000];
    let mut n = nat(&c);
    // Find a subscriber whose block lives on shard 1, so WAN fragments
    // arriving at shard 0 need a hand-off.
    let mut f = frames::udp(From::Lan, H1, 42000, R, 9000, b"open");
    assert_eq!(n.send(&mut f, Side::Lan), Verdict::ToWan);
    let ext = seen(&f);
    let owner = n.shards[0].block_map().owner(ext.sport).unwrap();
    let first = 1 - owner;
    let reply = frames::udp(From::Wan, R, 9000, ext.src, ext.sport, &payload);
    let frags = frames::fragments(&reply, 800, 77);
    // Later fragments first, at the non-owner: held there.
    for f in &frags[1..] {
        let mut x = f.clone();
        assert_eq!(
            n.shards[usize::from(first)].process(&mut x, Side::Wan, n.now),
            Verdict::Held
        );
    }
    // The first goes to the owner, and the held ones follow it.
    let mut x = frags[0].clone();
    let v = n.shards[usize::from(first)].process(&mut x, Side::Wan, n.now);
    assert_eq!(
        v,
        Verdict::HandOff {
            shard: owner,
            side: Side::Wan
        }
    );
    let mut out = Vec::new();
    assert_eq!(n.send_to(owner, &mut x, Side::Wan), Verdict::ToLan);
    out.push(x);
    let mut buf = vec![0u8; 2048];
    while let Some((v, len)) = n.shards[usize::from(first)].pop_emitted(&mut buf) {
        assert_eq!(
            v,
            Verdict::HandOff {
                shard: owner,
                side: Side::Wan
            }
        );
        let mut y = buf[..len].to_vec();
        assert_eq!(n.send_to(owner, &mut y, Side::Wan), Verdict::ToLan);
        out.push(y);
    }
    let back = frames::reassemble(&out).expect("whole");
    checksums(&back).unwrap();
    assert_eq!(seen(&back).dst, H1);
}

#[test]
fn fragment_buffers_are_bounded_and_time_out() {
    let mut c = cfg();
    c.fragments.max_held = 2;
    let mut n = nat(&c);
    let whole = frames::udp(From::Lan, H1, 43000, R, 9000, &[1u8; 4000]);
    let frags = frames::fragments(&whole, 800, 9);
    let mut held = 0;
    for f in &frags[1..] {
        let mut x = f.clone();
        match n.send(&mut x, Side::Lan) {
            Verdict::Held => held += 1,
            v => assert_eq!(v, Verdict::Drop(DropReason::FragmentsFull)),
        }
    }
    assert_eq!(held, 2);
    assert_eq!(
        n.drops(DropReason::FragmentsFull),
        frags.len() as u64 - 1 - 2
    );
    // Unfragmented traffic is untouched by the full buffer.
    let mut f = frames::udp(From::Lan, H2, 40000, R, 53, b"q");
    assert_eq!(n.send(&mut f, Side::Lan), Verdict::ToWan);
    n.advance(3);
    assert_eq!(n.drops(DropReason::FragmentTimeout), 2);
    assert_eq!(n.shards[0].held_fragments(), 0);
    // A datagram whose first fragment is refused (a fragmented ICMP
    // error) takes the rest with it.
    let err = {
        let mut f = frames::udp(From::Lan, H1, 1, R, 2, &[0u8; 1000]);
        f[23] = 1;
        f[34] = 3;
        frames::refill_ip_checksum(&mut f);
        f
    };
    let frags = frames::fragments(&err, 400, 10);
    let mut x = frags[0].clone();
    assert_eq!(
        n.send(&mut x, Side::Lan),
        Verdict::Drop(DropReason::BadFragment)
    );
    let mut x = frags[1].clone();
    assert_eq!(
        n.send(&mut x, Side::Lan),
        Verdict::Drop(DropReason::FragmentOfDropped)
    );
}

#[test]
fn deterministic_ports_follow_the_arithmetic() {
    let mut c = cfg();
    c.inside = vec!["192.168.1.0/24".parse().unwrap()];
    c.pool = vec!["203.0.113.0/30".parse().unwrap()];
    c.deterministic = true;
    c.block_size = 1000;
    c.limits.blocks_per_subscriber = 1;
    c.workers = 2;
    let mut n = nat(&c);
    for h in [H1, H2, [192, 168, 1, 200]] {
        let place = deterministic::inside_to_outside(&c, a(h)).unwrap();
        for p in 0..20u16 {
            let mut f = frames::udp(From::Lan, h, 30000 + p, R, 53, b"q");
            assert_eq!(n.send(&mut f, Side::Lan), Verdict::ToWan);
            let s = seen(&f);
            assert_eq!(a(s.src), place.external);
            assert!(
                (place.first_port..=place.last_port).contains(&s.sport),
                "{}",
                s.sport
            );
            assert_eq!(s.sport % 2, p % 2, "parity kept");
            assert_eq!(
                deterministic::outside_to_inside(&c, a(s.src), s.sport).map(|x| x.inside),
                Some(a(h))
            );
        }
    }
    // A subscriber's block holds block_size ports per protocol, no more.
    let mut c1 = c.clone();
    c1.block_size = 64;
    c1.workers = 1;
    let mut n = nat(&c1);
    for p in 0..64u16 {
        let mut f = frames::udp(From::Lan, H1, 30000 + p, R, 53, b"q");
        assert_eq!(n.send(&mut f, Side::Lan), Verdict::ToWan);
    }
    let mut f = frames::udp(From::Lan, H1, 31000, R, 53, b"q");
    assert_eq!(
        n.send(&mut f, Side::Lan),
        Verdict::Drop(DropReason::PortsExhausted)
    );
    // When its last session ends the block is free again at once (no hold:
    // no one else can have it).
    n.advance(400);
    let mut f = frames::udp(From::Lan, H1, 31000, R, 53, b"q");
    assert_eq!(n.send(&mut f, Side::Lan), Verdict::ToWan);
}

/// The LAN MTU holds for a hairpinned packet too (3/4 back to its sender
/// from the LAN address, with the LAN MTU), and for an ICMP error from the
/// WAN (dropped, no error about an error).
#[test]
fn hairpin_and_inbound_errors_follow_the_lan_mtu() {
    let mut c = cfg();
    c.wan_mtu = 1400;
    c.lan_mtu = 1300;
    let mut n = nat(&c);
    let mut x = frames::udp(From::Lan, H2, 40000, R, 53, b"x");
    assert_eq!(n.send(&mut x, Side::Lan), Verdict::ToWan);
    let ext = seen(&x);
    // Under the WAN MTU, over the LAN MTU, to H2's external endpoint.
    let big = set_df(
        frames::udp(From::Lan, H1, 40000, ext.src, ext.sport, &[7u8; 1350]),
        true,
    );
    let mut y = big.clone();
    assert_eq!(
        n.send(&mut y, Side::Lan),
        Verdict::Drop(DropReason::MtuExceeded)
    );
    let out = n.emitted();
    assert_eq!(out.len(), 1);
    assert_icmp_error(&out[0].1, LAN_ADDR, H1, 3, 4, &big);
    assert_eq!(be16(&out[0].1, 40), 1300, "next-hop MTU");
    let mut y = set_df(
        frames::udp(From::Lan, H1, 40000, ext.src, ext.sport, &[7u8; 1272]),
        true,
    );
    assert_eq!(n.send(&mut y, Side::Lan), Verdict::ToLan, "exactly the MTU");
    // An error about H2's datagram: over the LAN MTU it is dropped.
    let sent = frames::udp(From::Wan, ext.src, ext.sport, R, 53, &[0u8; 1300]);
    let mut e = frames::icmp_error(From::Wan, R, ext.src, 3, 3, &sent, 1308);
    assert_eq!(e.len() - 14, 1356);
    assert_eq!(
        n.send(&mut e, Side::Wan),
        Verdict::Drop(DropReason::MtuExceeded)
    );
    assert!(n.emitted().is_empty(), "no error about an error");
    let mut e = frames::icmp_error(From::Wan, R, ext.src, 3, 3, &sent, 8);
    assert_eq!(n.send(&mut e, Side::Wan), Verdict::ToLan);
}
