//! Address-only translation (GRE, ESP and every other protocol): out and
//! back with the exact bytes, filtering by remote, a second subscriber
//! refused on one address and given the other of a two-address pool,
//! timers, fragments in any order, ICMP errors about such packets both
//! ways, the owning shard, DCCP's checksum, limits, deterministic NAT
//! and bad input.

use super::*;
use crate::proto::{slot_of, SLOT_NAMES};

const GRE: u8 = 47;
const ESP: u8 = 50;
const DCCP: u8 = 33;

/// A GRE header (no checksum, key or sequence) carrying IPv4 (0x0800)
/// and a few bytes.
const GRE_BODY: [u8; 12] = [0, 0, 0x08, 0x00, 0x45, 0, 0, 8, 1, 2, 3, 4];
/// An ESP packet: SPI, sequence number, opaque bytes.
const ESP_BODY: [u8; 16] = [0, 0, 0x10, 0x01, 0, 0, 0, 1, 9, 8, 7, 6, 5, 4, 3, 2];

/// 198.51.100.254, a router on the way.
const ROUTER: u32 = 0xc633_64fe;
/// 203.0.113.2 and .3: a two-address pool.
const EXT_A: u32 = 0xcb00_7102;
const EXT_B: u32 = 0xcb00_7103;

fn two_addresses() -> Config {
    Config {
        pool: vec![Prefix::new(EXT_A, 31).unwrap()],
        ..cfg()
    }
}

fn live(s: &Shard, name: &str) -> usize {
    let k = SLOT_NAMES.iter().position(|n| *n == name).unwrap();
    s.session_count_by_proto()[k]
}

#[test]
fn gre_and_esp_go_out_and_come_back_with_only_the_addresses_changed() {
    for (proto, body, name) in [(GRE, &GRE_BODY[..], "gre"), (ESP, &ESP_BODY[..], "esp")] {
        let mut s = shard(&cfg());
        let (v, f) = run(&mut s, lan(HOST, REMOTE).raw(proto, body), Side::Lan, 0);
        assert_eq!(v, Verdict::ToWan, "{name}");
        assert_eq!(f, lan(HOST, REMOTE).to_wan(EXT).raw(proto, body), "{name}");
        assert_checksums(&f);
        let (v, f) = run(&mut s, wan(REMOTE, EXT).raw(proto, body), Side::Wan, 1);
        assert_eq!(v, Verdict::ToLan, "{name}");
        assert_eq!(f, wan(REMOTE, EXT).to_lan(HOST, HOST_MAC).raw(proto, body));
        assert_checksums(&f);
        let all: Vec<_> = s.sessions().collect();
        assert_eq!(all.len(), 1);
        let x = all[0];
        assert_eq!(x.proto, proto);
        assert_eq!((x.inside.addr, x.inside.port), (HOST, 0));
        assert_eq!((x.outside.addr, x.outside.port), (EXT, 0));
        assert_eq!((x.remote.addr, x.remote.port), (REMOTE, 0));
        assert_eq!(x.expires, sec(600), "timeouts.other, not refreshed inbound");
        assert_eq!(live(&s, name), 1);
        assert_eq!(s.session_count_by_proto()[slot_of(proto)], 1);
        assert_eq!(s.subscriber_count(), 1);
    }
}

#[test]
fn only_the_sessions_remote_and_protocol_come_in() {
    let mut s = shard(&cfg());
    run(&mut s, lan(HOST, REMOTE).raw(GRE, &GRE_BODY), Side::Lan, 0);
    // Another remote, or ESP from the same one: no session, the box's.
    let (v, f) = run(&mut s, wan(REMOTE2, EXT).raw(GRE, &GRE_BODY), Side::Wan, 1);
    assert_eq!(v, Verdict::Pass);
    assert_eq!(f, wan(REMOTE2, EXT).raw(GRE, &GRE_BODY), "untouched");
    let v = run(&mut s, wan(REMOTE, EXT).raw(ESP, &ESP_BODY), Side::Wan, 1).0;
    assert_eq!(v, Verdict::Pass);
    // From an inside address on the WAN: a martian, as for any protocol.
    let v = run(&mut s, wan(HOST2, EXT).raw(GRE, &GRE_BODY), Side::Wan, 1).0;
    assert_eq!(v, Verdict::Drop(DropReason::MartianSource));
}

#[test]
fn a_second_subscriber_is_refused_on_one_address() {
    let mut s = shard(&cfg());
    assert_eq!(
        run(&mut s, lan(HOST, REMOTE).raw(GRE, &GRE_BODY), Side::Lan, 0).0,
        Verdict::ToWan
    );
    let p2 = lan(HOST2, REMOTE).macs(LAN_MAC, HOST2_MAC);
    let (v, _) = run(&mut s, p2.raw(GRE, &GRE_BODY), Side::Lan, 1);
    assert_eq!(v, Verdict::Drop(DropReason::ProtocolConflict));
    assert_eq!(drops(&s, DropReason::ProtocolConflict), 1);
    // ICMP 3/13 back to the second subscriber, quoting its packet.
    let out = emitted(&mut s);
    assert_eq!(out.len(), 1);
    let (v, e) = &out[0];
    assert_eq!(*v, Verdict::ToLan);
    assert_eq!((be32(e, 30), e[34], e[35]), (HOST2, 3, 13));
    assert_eq!(be32(e, 42 + 12), HOST2, "the quoted packet is its own");
    assert_checksums(e);
    assert_eq!(s.subscriber_count(), 1, "the refused one holds no record");
    // The first keeps working; the second reaches another remote, and
    // uses ESP to the first remote.
    let (v, f) = run(&mut s, wan(REMOTE, EXT).raw(GRE, &GRE_BODY), Side::Wan, 2);
    assert_eq!((v, be32(&f, 30)), (Verdict::ToLan, HOST));
    let v = run(
        &mut s,
        lan(HOST2, REMOTE2).raw(GRE, &GRE_BODY),
        Side::Lan,
        2,
    )
    .0;
    assert_eq!(v, Verdict::ToWan);
    let v = run(&mut s, lan(HOST2, REMOTE).raw(ESP, &ESP_BODY), Side::Lan, 2).0;
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(s.session_count(), 3);
}

#[test]
fn a_second_subscriber_gets_the_other_address_of_a_two_address_pool() {
    let mut s = shard(&two_addresses());
    let (v, f1) = run(&mut s, lan(HOST, REMOTE).raw(GRE, &GRE_BODY), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    let (v, f2) = run(&mut s, lan(HOST2, REMOTE).raw(GRE, &GRE_BODY), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    let (a1, a2) = (be32(&f1, 26), be32(&f2, 26));
    assert!([EXT_A, EXT_B].contains(&a1) && [EXT_A, EXT_B].contains(&a2));
    assert_ne!(a1, a2);
    // Replies to each address reach their own subscriber.
    let (v, f) = run(&mut s, wan(REMOTE, a2).raw(GRE, &GRE_BODY), Side::Wan, 1);
    assert_eq!((v, be32(&f, 30)), (Verdict::ToLan, HOST2));
    let (v, f) = run(&mut s, wan(REMOTE, a1).raw(GRE, &GRE_BODY), Side::Wan, 1);
    assert_eq!((v, be32(&f, 30)), (Verdict::ToLan, HOST));
    // A third finds both taken.
    let p3 = lan(0xc0a8_010c, REMOTE);
    let v = run(&mut s, p3.raw(GRE, &GRE_BODY), Side::Lan, 1).0;
    assert_eq!(v, Verdict::Drop(DropReason::ProtocolConflict));
}

#[test]
fn sessions_live_timeouts_other_and_then_go() {
    let mut c = cfg();
    c.timeouts.other = 120;
    let mut s = shard(&c);
    run(&mut s, lan(HOST, REMOTE).raw(GRE, &GRE_BODY), Side::Lan, 0);
    // Refreshed outbound at 100: lives to 220.
    run(
        &mut s,
        lan(HOST, REMOTE).raw(GRE, &GRE_BODY),
        Side::Lan,
        100,
    );
    assert_eq!(s.expire(at(219), 100), 0);
    assert_eq!(s.session_count(), 1);
    assert_eq!(s.expire(at(220), 100), 1);
    assert_eq!(s.session_count(), 0);
    assert_eq!(s.subscriber_count(), 0, "its record went with it");
    assert_eq!(live(&s, "gre"), 0);
    let v = run(&mut s, wan(REMOTE, EXT).raw(GRE, &GRE_BODY), Side::Wan, 221).0;
    assert_eq!(v, Verdict::Pass);
    // Inbound packets refresh only with inbound_refresh.
    c.inbound_refresh = true;
    let mut s = shard(&c);
    run(&mut s, lan(HOST, REMOTE).raw(GRE, &GRE_BODY), Side::Lan, 0);
    run(&mut s, wan(REMOTE, EXT).raw(GRE, &GRE_BODY), Side::Wan, 100);
    assert_eq!(s.expire(at(200), 100), 0);
    assert_eq!(s.expire(at(220), 100), 1);
}

#[test]
fn every_fragment_is_translated_in_any_order() {
    let mut s = shard(&cfg());
    let body: Vec<u8> = (0..32).collect();
    let p = lan(HOST, REMOTE);
    // The later fragment first: address-only needs nothing from the
    // first, so it is not held.
    let (v, f2) = run(&mut s, p.frag(2).raw(GRE, &body[16..]), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(f2, p.to_wan(EXT).frag(2).raw(GRE, &body[16..]));
    let (v, f1) = run(&mut s, p.frag(MF).raw(GRE, &body[..16]), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(f1, p.to_wan(EXT).frag(MF).raw(GRE, &body[..16]));
    assert_eq!(s.held_fragments(), 0);
    assert_eq!(s.session_count(), 1, "one session for the datagram");
    // And back.
    let q = wan(REMOTE, EXT);
    let (v, f) = run(&mut s, q.frag(2).raw(GRE, &body[16..]), Side::Wan, 1);
    assert_eq!(v, Verdict::ToLan);
    assert_eq!(f, q.to_lan(HOST, HOST_MAC).frag(2).raw(GRE, &body[16..]));
    assert_checksums(&f);
    assert_eq!(s.counters().fragments_translated, 2);
    assert_eq!(drops(&s, DropReason::BadFragment), 0);
}

#[test]
fn icmp_errors_about_gre_are_translated_both_ways() {
    let mut s = shard(&cfg());
    let (_, sent) = run(&mut s, lan(HOST, REMOTE).raw(GRE, &GRE_BODY), Side::Lan, 0);
    // From a router on the WAN, quoting the packet as it left the NAT.
    let err = wan(ROUTER, EXT).icmp(3, 1, 0, &sent[14..]);
    let (v, f) = run(&mut s, err, Side::Wan, 1);
    assert_eq!(v, Verdict::ToLan);
    let quoted = lan(HOST, REMOTE).ttl(63).raw(GRE, &GRE_BODY);
    let want = wan(ROUTER, EXT).to_lan(HOST, HOST_MAC);
    assert_eq!(f, want.icmp(3, 1, 0, &quoted[14..]));
    assert_checksums(&f);
    // From the subscriber about a packet it received.
    let (_, got) = run(&mut s, wan(REMOTE, EXT).raw(GRE, &GRE_BODY), Side::Wan, 2);
    let err = lan(HOST, REMOTE).icmp(3, 2, 0, &got[14..]);
    let (v, f) = run(&mut s, err, Side::Lan, 3);
    assert_eq!(v, Verdict::ToWan);
    let quoted = wan(REMOTE, EXT).ttl(63).raw(GRE, &GRE_BODY);
    assert_eq!(
        f,
        lan(HOST, REMOTE).to_wan(EXT).icmp(3, 2, 0, &quoted[14..])
    );
    assert_checksums(&f);
    assert_eq!(s.counters().icmp_errors_translated, 2);
    // About a GRE packet of no session.
    let other = lan(HOST, REMOTE2).to_wan(EXT).raw(GRE, &GRE_BODY);
    let v = run(
        &mut s,
        wan(ROUTER, EXT).icmp(3, 1, 0, &other[14..]),
        Side::Wan,
        4,
    )
    .0;
    assert_eq!(v, Verdict::Drop(DropReason::IcmpErrorNoSession));
}

#[test]
fn the_owner_is_the_shard_of_the_protocol_and_remote() {
    let mut c = cfg();
    c.workers = 4;
    // A remote whose shard is not HOST's.
    let home = crate::subscriber_owner(HOST, 4);
    let rem = (REMOTE..)
        .find(|&r| crate::address_only_owner(GRE, r, 4) != home)
        .unwrap();
    let owner = crate::address_only_owner(GRE, rem, 4);
    let mut shards: Vec<Shard> = (0..4)
        .map(|i| {
            let mut s = Shard::new(&c, i, at(0)).unwrap();
            s.set_next_hops(NextHops {
                lan_mac: Mac(LAN_MAC),
                wan_mac: Mac(WAN_MAC),
                gateway_mac: Mac(GW_MAC),
            });
            s
        })
        .collect();
    for (i, s) in shards.iter_mut().enumerate() {
        let want = if i == usize::from(owner) {
            Verdict::ToWan
        } else {
            Verdict::HandOff {
                shard: owner,
                side: Side::Lan,
            }
        };
        let v = run(s, lan(HOST, rem).raw(GRE, &GRE_BODY), Side::Lan, 0).0;
        assert_eq!(v, want, "outbound on shard {i}");
    }
    // The session's shard holds a record of HOST (for its limit); only
    // HOST's own shard counts it as a subscriber.
    let total: usize = shards.iter().map(Shard::subscriber_count).sum();
    assert_eq!(
        total, 0,
        "no shard but the session's has a record, and it is not HOST's"
    );
    let home = crate::subscriber_owner(HOST, 4);
    assert_ne!(
        home, owner,
        "the test wants the session away from HOST's shard"
    );
    assert_eq!(shards[usize::from(owner)].subscribers().count(), 1);
    for (i, s) in shards.iter_mut().enumerate() {
        let v = run(s, wan(rem, EXT).raw(GRE, &GRE_BODY), Side::Wan, 1).0;
        let want = if i == usize::from(owner) {
            Verdict::ToLan
        } else {
            Verdict::HandOff {
                shard: owner,
                side: Side::Wan,
            }
        };
        assert_eq!(v, want, "inbound on shard {i}");
    }
    // An error from the subscriber about a GRE packet goes to the same
    // shard, not to the subscriber's.
    let got = wan(rem, EXT).to_lan(HOST, HOST_MAC).raw(GRE, &GRE_BODY);
    let err = lan(HOST, rem).icmp(3, 2, 0, &got[14..]);
    for (i, s) in shards.iter_mut().enumerate() {
        let v = run(s, err.clone(), Side::Lan, 2).0;
        if i == usize::from(owner) {
            assert_eq!(v, Verdict::ToWan);
        } else {
            assert_eq!(
                v,
                Verdict::HandOff {
                    shard: owner,
                    side: Side::Lan
                }
            );
        }
    }
}

#[test]
fn dccp_keeps_its_checksum_right() {
    // DCCP header: ports 5000 -> 6000, data offset 3 (12 bytes), CsCov 0,
    // checksum over the pseudo-header and the whole packet.
    let seg_for = |src: u32, dst: u32| {
        let mut seg = vec![
            0x13, 0x88, 0x17, 0x70, 3, 0, 0, 0, 0x01, 0, 0, 0, b'h', b'i',
        ];
        let c = csum(sum(pseudo(src, dst, DCCP, seg.len()), &seg));
        seg[6..8].copy_from_slice(&c.to_be_bytes());
        seg
    };
    let mut s = shard(&cfg());
    let (v, f) = run(
        &mut s,
        lan(HOST, REMOTE).raw(DCCP, &seg_for(HOST, REMOTE)),
        Side::Lan,
        0,
    );
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(
        f,
        lan(HOST, REMOTE)
            .to_wan(EXT)
            .raw(DCCP, &seg_for(EXT, REMOTE))
    );
    let (v, f) = run(
        &mut s,
        wan(REMOTE, EXT).raw(DCCP, &seg_for(REMOTE, EXT)),
        Side::Wan,
        1,
    );
    assert_eq!(v, Verdict::ToLan);
    assert_eq!(
        f,
        wan(REMOTE, EXT)
            .to_lan(HOST, HOST_MAC)
            .raw(DCCP, &seg_for(REMOTE, HOST))
    );
    // Too short to hold its checksum.
    let v = run(&mut s, lan(HOST, REMOTE2).raw(DCCP, &[0; 7]), Side::Lan, 2).0;
    assert_eq!(v, Verdict::Drop(DropReason::BadL4Header));
}

#[test]
fn limits_protocol_zero_and_a_missing_address_refuse() {
    let mut c = cfg();
    c.limits.sessions_per_subscriber = 1;
    let mut s = shard(&c);
    run(&mut s, lan(HOST, REMOTE).raw(GRE, &GRE_BODY), Side::Lan, 0);
    let v = run(&mut s, lan(HOST, REMOTE2).raw(GRE, &GRE_BODY), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::SessionLimit));
    let out = emitted(&mut s);
    assert_eq!((out.len(), out[0].1[34], out[0].1[35]), (1, 3, 13));
    let v = run(&mut s, lan(HOST2, REMOTE).raw(0, &[0; 8]), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::UnsupportedProtocol));
    // MASQUERADE without a WAN address.
    let mut s = shard(&cfg());
    s.set_external_address(None, at(0)).unwrap();
    let v = run(&mut s, lan(HOST, REMOTE).raw(ESP, &ESP_BODY), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::NoExternalAddress));
    // A new WAN address removes the sessions of the old one.
    let mut s = shard(&cfg());
    run(&mut s, lan(HOST, REMOTE).raw(ESP, &ESP_BODY), Side::Lan, 0);
    assert_eq!(s.set_external_address(Some(EXT_A), at(1)).unwrap(), 1);
    let (v, f) = run(&mut s, lan(HOST, REMOTE).raw(ESP, &ESP_BODY), Side::Lan, 2);
    assert_eq!((v, be32(&f, 26)), (Verdict::ToWan, EXT_A));
}

#[test]
fn to_a_nat_address_it_is_the_boxs() {
    let mut s = shard(&cfg());
    let v = run(&mut s, lan(HOST, EXT).raw(GRE, &GRE_BODY), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Pass);
    assert_eq!(s.session_count(), 0);
}

#[test]
fn deterministic_nat_keeps_the_subscribers_address() {
    // Two addresses, blocks of 2 ports over 1024..=1039: eight of the
    // sixteen subscribers per address, HOST (10) and HOST2 (11) on one.
    let mut c = Config {
        inside: vec![Prefix::new(0xc0a8_0100, 28).unwrap()],
        deterministic: true,
        block_size: 2,
        port_max: 1039,
        ..two_addresses()
    };
    c.limits.blocks_per_subscriber = 1;
    let mut s = shard(&c);
    let place = crate::deterministic::inside_to_outside(&c, HOST).unwrap();
    let place2 = crate::deterministic::inside_to_outside(&c, HOST2).unwrap();
    assert_eq!(
        place.external, place2.external,
        "the test wants them paired"
    );
    let (v, f) = run(&mut s, lan(HOST, REMOTE).raw(GRE, &GRE_BODY), Side::Lan, 0);
    assert_eq!((v, be32(&f, 26)), (Verdict::ToWan, place.external));
    // The other address is free, but the second keeps to its own.
    let p2 = lan(HOST2, REMOTE).macs(LAN_MAC, HOST2_MAC);
    let v = run(&mut s, p2.raw(GRE, &GRE_BODY), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::ProtocolConflict));
}
