//! Property tests: translation round trips byte for byte, checksums stay
//! right, mappings never collide, limits always hold.

use std::collections::{HashMap, HashSet};

use masq_core::{Config, Side, Verdict};
use masq_tests::check::{checksums, seen};
use masq_tests::frames::{self, Flags, From};
use masq_tests::harness::Nat;
use proptest::prelude::*;

const R: [u8; 4] = [198, 51, 100, 1];

/// Per subscriber: sessions, external addresses, (address, block) pairs.
type SubUse = (usize, HashSet<u32>, HashSet<(u32, u16)>);

fn cfg(shards: u16) -> Config {
    Config {
        inside: vec!["100.64.0.0/10".parse().unwrap()],
        pool: vec!["203.0.113.0/30".parse().unwrap()],
        workers: shards,
        block_size: 128,
        max_sessions: 2048,
        max_subscribers: 64,
        event_queue: 16,
        ..Config::default()
    }
}

/// The reply a peer would send to `f`: MACs, addresses and ports swapped,
/// an echo request answered, TTL set, checksums recomputed.
fn reply_of(f: &[u8], ttl: u8) -> Vec<u8> {
    let mut r = f.to_vec();
    r[0..6].copy_from_slice(&f[6..12]);
    r[6..12].copy_from_slice(&f[0..6]);
    r[26..30].copy_from_slice(&f[30..34]);
    r[30..34].copy_from_slice(&f[26..30]);
    r[22] = ttl;
    let l4 = 14 + usize::from(f[14] & 0x0f) * 4;
    if f[23] == 1 {
        r[l4] = 0;
    } else {
        r[l4..l4 + 2].copy_from_slice(&f[l4 + 2..l4 + 4]);
        r[l4 + 2..l4 + 4].copy_from_slice(&f[l4..l4 + 2]);
    }
    frames::refill_checksums(&mut r);
    r
}

fn flow_frame(
    kind: u8,
    host: [u8; 4],
    sport: u16,
    dport: u16,
    payload: &[u8],
    zero_udp: bool,
) -> Vec<u8> {
    match kind {
        0 => {
            let mut f = frames::udp(From::Lan, host, sport, R, dport, payload);
            if zero_udp {
                f[40] = 0;
                f[41] = 0;
            }
            f
        }
        1 => frames::tcp(
            From::Lan,
            host,
            sport,
            R,
            dport,
            Flags {
                syn: true,
                ..Flags::default()
            },
            payload,
        ),
        _ => frames::echo_with(From::Lan, host, R, sport, dport, true, payload),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Out, then the peer's reply in: the subscriber gets exactly the reply
    /// it would have got with no NAT (TTL aside), byte for byte.
    #[test]
    fn round_trip_is_exact(
        kind in 0u8..3,
        host in 1u8..=254,
        sport in any::<u16>(),
        dport in 1u16..,
        payload in proptest::collection::vec(any::<u8>(), 0..80),
        ttl in 2u8..=255,
        zero_udp in any::<bool>(),
        shards in 1u16..=3,
    ) {
        let mut nat = Nat::new(&cfg(shards));
        let orig = frames::with_ttl(flow_frame(kind, [100, 64, 3, host], sport, dport, &payload, zero_udp), ttl);
        let mut out = orig.clone();
        prop_assert_eq!(nat.send(&mut out, Side::Lan), Verdict::ToWan);
        prop_assert!(checksums(&out).is_ok(), "{:?}", checksums(&out));
        let o = seen(&out);
        prop_assert_eq!(o.ttl, ttl - 1);
        prop_assert_eq!(&out[out.len() - payload.len()..], &payload[..]);

        let mut back = reply_of(&out, ttl);
        prop_assert_eq!(nat.send(&mut back, Side::Wan), Verdict::ToLan);
        let want = reply_of(&orig, ttl - 1);
        prop_assert_eq!(back, want);
    }

    /// Random traffic from many subscribers over several shards: every
    /// forwarded frame verifies, no external endpoint serves two inside
    /// endpoints, and every subscriber stays within its limits on one
    /// external address.
    #[test]
    fn mappings_never_collide_and_limits_hold(
        shards in 1u16..=3,
        flows in proptest::collection::vec((0u8..3, 0u8..12, 1000u16..1100, 0u16..4, any::<bool>()), 1..300),
    ) {
        let mut c = cfg(shards);
        c.limits.sessions_per_subscriber = 20;
        c.limits.blocks_per_subscriber = 2;
        let mut nat = Nat::new(&c);
        for (kind, host, sport, rport, reply) in flows {
            let mut f = flow_frame(kind, [100, 64, 9, host], sport, 7000 + rport, b"x", false);
            let v = nat.send(&mut f, Side::Lan);
            if v == Verdict::ToWan {
                prop_assert!(checksums(&f).is_ok());
                if reply {
                    let o = seen(&f);
                    let mut r = reply_of(&f, o.ttl.max(2));
                    prop_assert_eq!(nat.send(&mut r, Side::Wan), Verdict::ToLan);
                    prop_assert!(checksums(&r).is_ok());
                }
            } else {
                prop_assert!(matches!(v, Verdict::Drop(_)), "{:?}", v);
            }
            nat.advance(1);
        }
        let mut by_ext: HashMap<(u8, u32, u16), (u32, u16)> = HashMap::new();
        let mut per_sub: HashMap<u32, SubUse> = HashMap::new();
        for shard in &nat.shards {
            let map = shard.block_map();
            for s in shard.sessions() {
                let ins = (s.inside.addr, s.inside.port);
                let prev = by_ext.insert((s.proto, s.outside.addr, s.outside.port), ins);
                prop_assert!(prev.is_none() || prev == Some(ins), "external endpoint shared: {:?} {:?}", prev, ins);
                prop_assert_eq!(map.owner(s.outside.port), Some(shard.id()), "port from the shard's own blocks");
                if s.proto != 1 {
                    prop_assert_eq!(s.outside.port % 2, s.inside.port % 2, "parity");
                }
                let e = per_sub.entry(s.inside.addr).or_default();
                e.0 += 1;
                e.1.insert(s.outside.addr);
                e.2.insert((s.outside.addr, map.block_of(s.outside.port).unwrap() as u16));
            }
        }
        for (sub, (n, addrs, blocks)) in per_sub {
            prop_assert!(n <= 20, "{} has {} sessions", sub, n);
            prop_assert_eq!(addrs.len(), 1, "paired pooling for {}", sub);
            prop_assert!(blocks.len() <= 2, "{} holds {} blocks", sub, blocks.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// `process_batch` gives exactly the frames and verdicts of calling
    /// `process` on each frame in order, including flows that appear twice
    /// in one batch and frames that are not for the NAT.
    #[test]
    fn batch_equals_one_by_one(
        flows in proptest::collection::vec((0u8..4, 0u8..6, 1000u16..1010, any::<bool>()), 1..150),
    ) {
        let c = cfg(1);
        let mut a = Nat::new(&c);
        let mut b = Nat::new(&c);
        let mut batch_lan: Vec<Vec<u8>> = Vec::new();
        for (kind, host, sport, garbage) in &flows {
            let mut f = if *kind == 3 {
                frames::udp(From::Lan, [10, 0, 0, *host], *sport, R, 53, b"")
            } else {
                flow_frame(*kind, [100, 64, 9, *host], *sport, 7000, b"x", false)
            };
            if *garbage {
                f[20] ^= 0x20; // a fragment: dropped
                frames::refill_ip_checksum(&mut f);
            }
            batch_lan.push(f);
        }
        let mut one = batch_lan.clone();
        let want: Vec<Verdict> = one.iter_mut().map(|f| a.send(f, Side::Lan)).collect();
        let mut got = vec![Verdict::Pass; batch_lan.len()];
        b.shards[0].process_batch(&mut batch_lan, Side::Lan, b.now, &mut got);
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(&batch_lan, &one);

        // And the replies, as a batch on the WAN side.
        let mut replies: Vec<Vec<u8>> = one
            .iter()
            .zip(&want)
            .filter(|(_, v)| **v == Verdict::ToWan)
            .map(|(f, _)| reply_of(f, 64))
            .collect();
        let mut one_r = replies.clone();
        let want_r: Vec<Verdict> = one_r.iter_mut().map(|f| a.send(f, Side::Wan)).collect();
        let mut got_r = vec![Verdict::Pass; replies.len()];
        b.shards[0].process_batch(&mut replies, Side::Wan, b.now, &mut got_r);
        prop_assert_eq!(&got_r, &want_r);
        prop_assert_eq!(&replies, &one_r);
        prop_assert!(want_r.iter().all(|v| *v == Verdict::ToLan));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Address-only protocols (GRE, ESP, AH, SCTP, an unnamed number) from
    /// many subscribers to a few remote hosts over several shards: a packet
    /// leaves with only its source address (and TTL, header checksum, MACs)
    /// changed, to a pool address; the remote's answer comes back to the
    /// subscriber byte for byte; one (protocol, external, remote) never
    /// serves two subscribers; a refusal means every pool address is taken
    /// for that (protocol, remote).
    #[test]
    fn address_only_sessions_never_share_an_address_and_remote(
        shards in 1u16..=3,
        flows in proptest::collection::vec((0usize..5, 0u8..12, 0u8..3, proptest::collection::vec(any::<u8>(), 0..40)), 1..200),
    ) {
        const PROTOS: [u8; 5] = [47, 50, 51, 132, 253];
        let mut nat = Nat::new(&cfg(shards));
        let pool = 0xcb00_7100u32..0xcb00_7104;
        let mut holders: HashMap<(u8, u32), HashSet<u32>> = HashMap::new();
        for (p, host, rem, payload) in flows {
            let proto = PROTOS[p];
            let (src, dst) = ([100, 64, 9, host], [198, 51, 100, 1 + rem]);
            let mut orig = frames::udp(From::Lan, src, 1, dst, 2, &payload);
            orig[23] = proto;
            frames::refill_ip_checksum(&mut orig);
            let mut out = orig.clone();
            let v = nat.send(&mut out, Side::Lan);
            let dst32 = u32::from_be_bytes(dst);
            let src32 = u32::from_be_bytes(src);
            if v != Verdict::ToWan {
                prop_assert_eq!(v, Verdict::Drop(masq_core::DropReason::ProtocolConflict));
                let taken = holders.get(&(proto, dst32)).map_or(0, HashSet::len);
                prop_assert_eq!(taken, 4, "refused with a pool address free");
                continue;
            }
            let ext = u32::from_be_bytes([out[26], out[27], out[28], out[29]]);
            prop_assert!(pool.contains(&ext));
            prop_assert!(checksums(&out).is_ok());
            prop_assert_eq!(&out[34..], &orig[34..], "the transport part untouched");
            holders.entry((proto, dst32)).or_default().insert(src32);
            // The remote answers: addresses and MACs swapped.
            let mut back = out.clone();
            back[0..6].copy_from_slice(&out[6..12]);
            back[6..12].copy_from_slice(&out[0..6]);
            back[26..30].copy_from_slice(&out[30..34]);
            back[30..34].copy_from_slice(&out[26..30]);
            frames::refill_ip_checksum(&mut back);
            prop_assert_eq!(nat.send(&mut back, Side::Wan), Verdict::ToLan);
            prop_assert_eq!(&back[30..34], &src[..], "back to its subscriber");
            prop_assert_eq!(&back[34..], &orig[34..]);
            prop_assert!(checksums(&back).is_ok());
        }
        let mut seen_keys = HashSet::new();
        for shard in &nat.shards {
            for s in shard.sessions() {
                prop_assert!(seen_keys.insert((s.proto, s.outside.addr, s.remote.addr)),
                    "two sessions on one (protocol, external, remote): {:?}", s);
            }
        }
    }
}
