//! Held mappings: a MAP opens its mapping to remotes its filters admit
//! (whatever `filtering` says) until its end, renewals keep the endpoint,
//! suggested endpoints are honoured where they can be, PEER sessions
//! outlive their idle timer, refusals leave nothing behind, and flushes
//! and readdressing take holds away with their sessions.

use super::*;
use crate::config::Filtering;
use crate::event::Endpoint;
use crate::hold::{Granted, HeldKind, HoldAsk, HoldKind, HoldRefusal, RemoteFilter};
use crate::session::{HELD_MAP, HELD_NONE};
use crate::SessionInfo;

const UDP: u8 = 17;
const TCP: u8 = 6;

/// A MAP for HOST:`port` over `proto`, held until `until`, with the
/// host's MAC known.
fn map(proto: u8, port: u16, until: u32) -> HoldAsk {
    HoldAsk {
        kind: HoldKind::Map,
        proto,
        inside: HOST,
        inside_port: port,
        suggested: (0, 0),
        prefer_failure: false,
        until,
        filters: Vec::new(),
        mac: Some(Mac(HOST_MAC)),
    }
}

/// A PEER for HOST:`port` to REMOTE:`rport`.
fn peer(proto: u8, port: u16, rport: u16, until: u32) -> HoldAsk {
    HoldAsk {
        kind: HoldKind::Peer {
            remote: REMOTE,
            remote_port: rport,
        },
        ..map(proto, port, until)
    }
}

fn ep(addr: u32, port: u16) -> Endpoint {
    Endpoint { addr, port }
}

/// The table of holds agrees with the sessions: every held session has
/// one record, every anchor heads its mapping in both indexes.
#[track_caller]
pub(super) fn assert_consistent(s: &Shard) {
    let held: Vec<usize> = (0..s.sessions.len())
        .filter(|&i| s.sessions[i].proto != 0 && s.sessions[i].held != HELD_NONE)
        .collect();
    assert_eq!(s.held_count(), held.len(), "one record per held session");
    let per_sub: u32 = s.subscribers().map(|x| x.held).sum();
    assert_eq!(
        per_sub as usize,
        held.len(),
        "each subscriber counts its holds"
    );
    for &i in &held {
        let x = s.sessions[i];
        assert!(
            s.held_until(i as u32).is_some(),
            "session {i} has its record"
        );
        if x.held == HELD_MAP {
            assert_eq!((x.rem_addr, x.rem_port), (0, 0));
            assert_eq!(
                s.mapping_head(x.proto, x.in_addr, x.in_port),
                Some(i as u32),
                "the anchor heads its mapping"
            );
        }
    }
}

/// An inbound UDP datagram from `from`:`rport` to EXT:`port` at `secs`.
fn udp_in(s: &mut Shard, from: u32, rport: u16, port: u16, secs: u64) -> (Verdict, Vec<u8>) {
    run(s, wan(from, EXT).udp(rport, port, b"hi"), Side::Wan, secs)
}

#[test]
fn a_map_opens_its_port_to_any_remote_whatever_the_filtering() {
    for filtering in Filtering::ALL {
        for proto in [UDP, TCP] {
            let mut s = shard(&Config { filtering, ..cfg() });
            let g = s.hold(&map(proto, 5000, sec(3600)), at(0)).unwrap();
            assert_eq!(
                g,
                Granted {
                    external: EXT,
                    external_port: 1024,
                    until: sec(3600)
                }
            );
            assert_eq!(
                events(&mut s)[1..],
                [Event::MappingCreated {
                    proto,
                    inside: ep(HOST, 5000),
                    outside: ep(EXT, 1024),
                    at: sec(0),
                }]
            );
            for (k, from) in [REMOTE, REMOTE2].into_iter().enumerate() {
                let w = wan(from, EXT);
                let f = if proto == UDP {
                    w.udp(7000, 1024, b"hi")
                } else {
                    w.tcp(7000, 1024, SYN, &[], b"")
                };
                let (v, out) = run(&mut s, f, Side::Wan, 1 + k as u64);
                assert_eq!(v, Verdict::ToLan, "{filtering} proto {proto}");
                let want = w.to_lan(HOST, HOST_MAC);
                let want = if proto == UDP {
                    want.udp(7000, 5000, b"hi")
                } else {
                    want.tcp(7000, 5000, SYN, &[], b"")
                };
                assert_eq!(out, want);
                assert_checksums(&out);
            }
            // The anchor and one session per remote, on one mapping.
            assert_eq!(s.session_count(), 3);
            assert_consistent(&s);
        }
    }
}

#[test]
fn filters_admit_their_remotes_and_refuse_the_others() {
    let mut s = shard(&cfg());
    let mut ask = map(UDP, 5000, sec(3600));
    ask.filters = vec![RemoteFilter {
        addr: REMOTE,
        len: 32,
        port: 7000,
    }];
    s.hold(&ask, at(0)).unwrap();
    assert_eq!(udp_in(&mut s, REMOTE, 7000, 1024, 1).0, Verdict::ToLan);
    for (from, rport) in [(REMOTE, 7001), (REMOTE2, 7000)] {
        let v = udp_in(&mut s, from, rport, 1024, 2).0;
        assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    }
    assert_eq!(drops(&s, DropReason::Filtered), 2);
    // A renewal replaces the filters: none admits everyone.
    ask.filters.clear();
    s.hold(&ask, at(3)).unwrap();
    assert_eq!(udp_in(&mut s, REMOTE2, 7000, 1024, 4).0, Verdict::ToLan);
}

#[test]
fn a_renewal_keeps_the_endpoint_and_moves_the_end() {
    let mut s = shard(&cfg());
    let g = s.hold(&map(UDP, 5000, sec(100)), at(0)).unwrap();
    let mut ask = map(UDP, 5000, sec(7200));
    ask.suggested = (EXT, 2000);
    let r = s.hold(&ask, at(50)).unwrap();
    assert_eq!((r.external, r.external_port), (g.external, g.external_port));
    assert_eq!(r.until, sec(7200));
    assert_eq!((s.session_count(), s.held_count()), (1, 1));
    // Only one creation event: a renewal is no new mapping.
    let created = events(&mut s)
        .into_iter()
        .filter(|e| matches!(e, Event::MappingCreated { .. }))
        .count();
    assert_eq!(created, 1);
    // Held past the first end.
    s.expire(at(7199), usize::MAX);
    assert_eq!(s.held_count(), 1);
    let info: Vec<SessionInfo> = s.sessions().collect();
    assert_eq!(info[0].held, Some((HeldKind::Map, sec(7200))));
    assert_eq!(info[0].remote, ep(0, 0));
    assert_eq!(info[0].expires, sec(7200));
    // A renewal may shorten it too.
    s.hold(&map(UDP, 5000, sec(7300)), at(7199)).unwrap();
    assert_eq!(s.expire(at(7300), usize::MAX), 1);
    assert_eq!(s.session_count(), 0);
}

#[test]
fn a_map_ends_at_its_end_not_before_even_without_traffic() {
    let mut s = shard(&cfg());
    let end = 5000; // far past every idle timer
    s.hold(&map(TCP, 5000, sec(end)), at(0)).unwrap();
    events(&mut s);
    assert_eq!(s.expire(at(end - 1), usize::MAX), 0);
    assert_eq!((s.session_count(), s.held_count()), (1, 1));
    assert!(s.next_expiry().is_some_and(|t| t <= at(end)));
    assert_eq!(s.expire(at(end), usize::MAX), 1);
    assert_eq!((s.session_count(), s.held_count()), (0, 0));
    let ev = events(&mut s);
    assert_eq!(
        ev[0],
        Event::MappingDeleted {
            proto: TCP,
            inside: ep(HOST, 5000),
            outside: ep(EXT, 1024),
            at: sec(end),
        }
    );
    assert!(matches!(ev[1], Event::BlockReleased { .. }), "{ev:?}");
    // Nothing reaches the port now.
    let syn = wan(REMOTE, EXT).tcp(7000, 1024, SYN, &[], b"");
    let (v, _) = run(&mut s, syn, Side::Wan, end + 1);
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
}

#[test]
fn a_release_closes_the_port_with_every_session_of_the_mapping() {
    let mut s = shard(&Config {
        filtering: Filtering::AddressAndPortDependent,
        ..cfg()
    });
    s.hold(&map(UDP, 5000, sec(3600)), at(0)).unwrap();
    assert_eq!(udp_in(&mut s, REMOTE, 7000, 1024, 1).0, Verdict::ToLan);
    assert_eq!(udp_in(&mut s, REMOTE2, 7000, 1024, 1).0, Verdict::ToLan);
    events(&mut s);
    assert!(s.release_hold(HoldKind::Map, UDP, HOST, 5000, at(2)));
    assert!(!s.release_hold(HoldKind::Map, UDP, HOST, 5000, at(2)));
    assert_eq!((s.session_count(), s.held_count()), (0, 0));
    assert_eq!(
        s.counters().sessions_released,
        3,
        "the anchor and both sessions"
    );
    let ev = events(&mut s);
    assert!(
        ev.iter().any(|e| matches!(e, Event::MappingDeleted { .. })),
        "{ev:?}"
    );
    // Nothing reaches the port now, not even the remotes that had sessions.
    for remote in [REMOTE, REMOTE2] {
        let v = udp_in(&mut s, remote, 7000, 1024, 3).0;
        assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    }
    assert_consistent(&s);
    // A new hold works after.
    let g = s.hold(&map(UDP, 5000, sec(3600)), at(4)).unwrap();
    assert_eq!(g.external, EXT);
    assert_consistent(&s);
}

#[test]
fn a_suggested_port_is_honoured_when_it_can_be() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0); // HOST:40000 has 1024, in block 1024-1535
    let with = |port: u16, suggested: (u32, u16), prefer_failure: bool| HoldAsk {
        suggested,
        prefer_failure,
        ..map(UDP, port, sec(3600))
    };
    // A free port of the subscriber's block.
    let g = s.hold(&with(5000, (EXT, 1500), false), at(1)).unwrap();
    assert_eq!(g.external_port, 1500);
    // Busy: another port, or a refusal that takes nothing.
    let g = s.hold(&with(5002, (0, 1024), false), at(1)).unwrap();
    assert_ne!(g.external_port, 1024);
    let before = (s.session_count(), s.block_usage());
    let r = s.hold(&with(5004, (0, 1024), true), at(1));
    assert_eq!(r, Err(HoldRefusal::CannotProvideExternal));
    assert_eq!((s.session_count(), s.block_usage()), before);
    // Another address than the subscriber's is not given.
    let r = s.hold(&with(5004, (0xcb00_7163, 0), true), at(1));
    assert_eq!(r, Err(HoldRefusal::CannotProvideExternal));
    // A port of a free block: the block is taken for the subscriber.
    let g = s.hold(&with(5006, (EXT, 3000), true), at(1)).unwrap();
    assert_eq!(g.external_port, 3000);
    let blocks = &s.subscribers().next().unwrap().blocks;
    assert!(blocks.contains(&(EXT, 2560, 3071)), "{blocks:?}");
    // An existing mapping keeps its endpoint whatever is suggested.
    let g = s.hold(&with(40000, (EXT, 1600), false), at(1)).unwrap();
    assert_eq!(g.external_port, 1024);
    let r = s.hold(&with(40000, (EXT, 1600), true), at(1));
    assert_eq!(r, Err(HoldRefusal::CannotProvideExternal));
    assert_consistent(&s);
}

#[test]
fn a_suggested_port_beyond_the_block_limit_is_not_given() {
    let mut c = cfg();
    c.limits.blocks_per_subscriber = 1;
    let mut s = shard(&c);
    s.hold(&map(UDP, 5000, sec(3600)), at(0)).unwrap();
    let mut ask = map(UDP, 5002, sec(3600));
    ask.suggested = (EXT, 3000);
    let g = s.hold(&ask, at(0)).unwrap();
    assert!((1024..1536).contains(&g.external_port), "{g:?}");
    ask.inside_port = 5004;
    ask.prefer_failure = true;
    assert_eq!(s.hold(&ask, at(0)), Err(HoldRefusal::CannotProvideExternal));
}

#[test]
fn deterministic_nat_gives_only_ports_of_the_fixed_block() {
    let c = deterministic_cfg();
    let mut s = shard(&c);
    assert_eq!(s.external_of(HOST), Some(EXT));
    // HOST's fixed block is 1044-1045.
    let mut ask = map(UDP, 5000, sec(3600));
    ask.suggested = (EXT, 1045);
    assert_eq!(s.hold(&ask, at(0)).unwrap().external_port, 1045);
    ask.inside_port = 5002;
    ask.suggested = (EXT, 1030);
    assert_eq!(s.hold(&ask, at(0)).unwrap().external_port, 1044);
    ask.inside_port = 5004;
    assert_eq!(s.hold(&ask, at(0)), Err(HoldRefusal::Quota), "block full");
}

#[test]
fn the_shard_the_config_names_takes_the_hold_in_deterministic_nat() {
    // The control plane sends a hold to `Config::subscriber_shard`; with
    // deterministic NAT that is not the hash owner for every subscriber.
    let c = Config {
        workers: 2,
        ..deterministic_cfg()
    };
    let mut shards = shards(&c);
    let a = (0xc0a8_0100..0xc0a8_0110u32)
        .find(|&a| c.subscriber_shard(a) != crate::hash::subscriber_owner(a, 2))
        .expect("an address whose two owners differ");
    let o = usize::from(c.subscriber_shard(a));
    let ask = HoldAsk {
        inside: a,
        ..map(UDP, 5000, sec(3600))
    };
    assert!(shards[o].hold(&ask, at(0)).is_ok());
    assert_eq!(shards[1 - o].hold(&ask, at(0)), Err(HoldRefusal::NotOurs));
}

#[test]
fn a_peer_session_is_made_as_an_outbound_one_and_outlives_its_timer() {
    let mut s = shard(&cfg());
    let g = s.hold(&peer(TCP, 40000, 80, sec(20_000)), at(0)).unwrap();
    assert_eq!((g.external, g.external_port), (EXT, 1024));
    let info: Vec<SessionInfo> = s.sessions().collect();
    assert_eq!(info.len(), 1);
    assert_eq!(
        (info[0].inside, info[0].outside, info[0].remote),
        (ep(HOST, 40000), ep(EXT, 1024), ep(REMOTE, 80))
    );
    assert_eq!(info[0].tcp, Some(crate::TcpState::SynOut));
    assert_eq!(info[0].held, Some((HeldKind::Peer, sec(20_000))));
    // The answer to the SYN the host sends goes through.
    let out = lan(HOST, REMOTE).tcp(40000, 80, SYN, &[], b"");
    assert_eq!(run(&mut s, out, Side::Lan, 1).0, Verdict::ToWan);
    let sa = wan(REMOTE, EXT).tcp(80, 1024, SYN | ACK, &[], b"");
    assert_eq!(run(&mut s, sa, Side::Wan, 2).0, Verdict::ToLan);
    // Transitory timer long past: still held.
    assert_eq!(s.expire(at(19_999), usize::MAX), 0);
    assert_eq!(s.session_count(), 1);
    assert_eq!(s.expire(at(20_000), usize::MAX), 1);
    assert_eq!((s.session_count(), s.held_count()), (0, 0));
}

#[test]
fn a_peer_holds_an_existing_session_and_its_release_leaves_it_to_its_timer() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0); // HOST:40000 -> REMOTE:53 on 1024
    let g = s.hold(&peer(UDP, 40000, 53, sec(5000)), at(10)).unwrap();
    assert_eq!(g.external_port, 1024);
    assert_eq!((s.session_count(), s.held_count()), (1, 1));
    assert_eq!(s.expire(at(1000), usize::MAX), 0);
    assert!(s.release_hold(
        HoldKind::Peer {
            remote: REMOTE,
            remote_port: 53
        },
        UDP,
        HOST,
        40000,
        at(1000)
    ));
    assert_eq!(s.held_count(), 0);
    assert_consistent(&s);
    // Its idle timer ran out long ago: it goes at the next sweep.
    assert_eq!(s.expire(at(1001), usize::MAX), 1);
    assert_eq!(s.session_count(), 0);
}

#[test]
fn refusals_leave_nothing_behind() {
    let mut c = cfg();
    c.max_holds = 1;
    c.limits.sessions_per_subscriber = 2;
    let mut s = shard(&c);
    let mut ask = map(UDP, 5000, sec(60));
    ask.proto = 1;
    assert_eq!(s.hold(&ask, at(0)), Err(HoldRefusal::Unsupported));
    assert_eq!(
        s.hold(&map(UDP, 0, sec(60)), at(0)),
        Err(HoldRefusal::Unsupported)
    );
    let mut far = map(UDP, 5000, sec(60));
    far.inside = 0x0a00_0001; // 10.0.0.1, no inside prefix
    assert_eq!(s.hold(&far, at(0)), Err(HoldRefusal::NotOurs));
    s.hold(&map(UDP, 5000, sec(60)), at(0)).unwrap();
    assert_eq!(
        s.hold(&map(UDP, 5002, sec(60)), at(0)),
        Err(HoldRefusal::NoResources),
        "the table of holds is full"
    );
    let mut other = map(UDP, 5000, sec(60));
    other.inside = HOST2;
    assert_eq!(s.hold(&other, at(0)), Err(HoldRefusal::NoResources));
    assert_eq!((s.session_count(), s.subscriber_count()), (1, 1));
    assert_consistent(&s);
    // The session limit: a quota.
    let mut c = cfg();
    c.limits.sessions_per_subscriber = 1;
    let mut s = shard(&c);
    s.hold(&map(UDP, 5000, sec(60)), at(0)).unwrap();
    let r = s.hold(&map(UDP, 5002, sec(60)), at(0));
    assert_eq!(r, Err(HoldRefusal::Quota));
    assert_eq!((s.session_count(), s.held_count()), (1, 1));
    // Another shard's subscriber.
    let c = Config {
        workers: 2,
        ..cfg()
    };
    let mut ss = shards(&c);
    let theirs = (0xc0a8_0101..).find(|&a| ss[0].owner_of(a) == 1).unwrap();
    let mut ask = map(UDP, 5000, sec(60));
    ask.inside = theirs;
    assert_eq!(ss[0].hold(&ask, at(0)), Err(HoldRefusal::NotOurs));
    assert!(ss[1].hold(&ask, at(0)).is_ok());
    assert_eq!(ss[0].subscriber_count(), 0);
}

#[test]
fn the_anchor_is_matched_by_no_packet() {
    let mut s = shard(&cfg());
    s.hold(&map(UDP, 5000, sec(3600)), at(0)).unwrap();
    let (v, _) = run(&mut s, wan(0, EXT).udp(0, 1024, b"x"), Side::Wan, 1);
    assert_eq!(v, Verdict::Drop(DropReason::MartianSource));
    // Nor is it by an ICMP error about a packet sent to 0.0.0.0:0.
    let inner = lan(EXT, 0).udp(1024, 0, b"");
    let err = wan(REMOTE, EXT).icmp(3, 3, 0, &inner[14..]);
    let (v, _) = run(&mut s, err, Side::Wan, 1);
    assert_eq!(v, Verdict::Drop(DropReason::IcmpErrorNoSession));
    // An outbound packet to it is a martian destination.
    let (v, _) = run(&mut s, lan(HOST, 0).udp(5000, 0, b"x"), Side::Lan, 1);
    assert_eq!(v, Verdict::Drop(DropReason::MartianDestination));
    assert_eq!(s.session_count(), 1);
}

#[test]
fn inbound_waits_for_the_hosts_mac() {
    let mut s = shard(&cfg());
    let mut ask = map(UDP, 5000, sec(3600));
    ask.mac = None;
    s.hold(&ask, at(0)).unwrap();
    let v = udp_in(&mut s, REMOTE, 7000, 1024, 1).0;
    assert_eq!(v, Verdict::Drop(DropReason::NoNeighbor));
    s.set_neighbor(HOST, Mac(HOST2_MAC));
    let (v, f) = udp_in(&mut s, REMOTE, 7000, 1024, 2);
    assert_eq!(v, Verdict::ToLan);
    assert_eq!(&f[..6], &HOST2_MAC);
    // The host's own traffic on the mapping teaches its MAC too.
    let out = lan(HOST, REMOTE2).udp(5000, 53, b"q");
    assert_eq!(run(&mut s, out, Side::Lan, 3).0, Verdict::ToWan);
    let (v, f) = udp_in(&mut s, REMOTE2, 7001, 1024, 4);
    assert_eq!(v, Verdict::ToLan);
    assert_eq!(&f[..6], &HOST_MAC);
}

#[test]
fn an_outbound_flow_reuses_the_held_mapping() {
    let mut s = shard(&cfg());
    let mut ask = map(UDP, 5000, sec(3600));
    ask.suggested = (EXT, 1300);
    s.hold(&ask, at(0)).unwrap();
    let out = lan(HOST, REMOTE).udp(5000, 53, b"q");
    let (v, f) = run(&mut s, out, Side::Lan, 1);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(f, lan(HOST, REMOTE).to_wan(EXT).udp(1300, 53, b"q"));
    assert_consistent(&s);
}

#[test]
fn flushes_and_readdressing_take_the_holds() {
    let mut s = shard(&cfg());
    s.hold(&map(UDP, 5000, sec(3600)), at(0)).unwrap();
    s.hold(&peer(UDP, 6000, 53, sec(3600)), at(0)).unwrap();
    events(&mut s);
    assert_eq!(s.flush(at(1), |i| i.held.is_some()), 2);
    assert_eq!((s.session_count(), s.held_count()), (0, 0));
    assert!(events(&mut s).contains(&Event::MappingDeleted {
        proto: UDP,
        inside: ep(HOST, 5000),
        outside: ep(EXT, 1024),
        at: sec(1),
    }));
    s.hold(&map(UDP, 5000, sec(3600)), at(2)).unwrap();
    events(&mut s);
    assert_eq!(s.flush_all(at(3)), 1);
    assert_eq!(s.held_count(), 0);
    assert!(matches!(events(&mut s)[0], Event::MappingDeleted { .. }));
    s.hold(&map(UDP, 5000, sec(3600)), at(4)).unwrap();
    assert_consistent(&s);
    // MASQUERADE: a new address takes them all; none without one.
    let c = cfg();
    let mut s = shard(&c);
    s.hold(&map(UDP, 5000, sec(3600)), at(0)).unwrap();
    s.set_external_address(None, at(1)).unwrap();
    assert_eq!(s.held_count(), 0);
    assert_eq!(s.external_of(HOST), None);
    assert_eq!(
        s.hold(&map(UDP, 5000, sec(3600)), at(2)),
        Err(HoldRefusal::NoExternalAddress)
    );
    assert_eq!(s.subscriber_count(), 0);
    let new = 0xcb00_7105;
    s.set_external_address(Some(new), at(3)).unwrap();
    assert_eq!(s.external_of(HOST), Some(new));
    let g = s.hold(&map(UDP, 5000, sec(3600)), at(4)).unwrap();
    assert_eq!(g.external, new);
    assert_consistent(&s);
    // A reload keeps them.
    let mut c2 = s.config().clone();
    c2.timeouts.udp = 600;
    s.reconfigure(&c2, at(5)).unwrap();
    assert_eq!(s.held_count(), 1);
    assert_eq!(s.expire(at(3599), usize::MAX), 0);
    assert_consistent(&s);
}

#[test]
fn external_of_names_the_paired_address() {
    let c = Config {
        pool: vec![Prefix::new(0xcb00_7100, 30).unwrap()],
        ..cfg()
    };
    let mut s = shard(&c);
    let first = s.external_of(HOST).unwrap();
    assert!(c.pool[0].contains(first));
    let g = s.hold(&map(UDP, 5000, sec(3600)), at(0)).unwrap();
    assert_eq!(g.external, first, "the first block lands where it said");
    assert_eq!(s.external_of(HOST), Some(first));
}

#[test]
fn a_static_mapping_keeps_its_endpoint_and_tcp_opens_only_with_a_syn() {
    let c = Config {
        statics: vec![crate::config::StaticMapping {
            proto: Some(TCP),
            inside: HOST,
            inside_port: 80,
            outside: EXT,
            outside_port: 8080,
        }],
        ..cfg()
    };
    let mut s = shard(&c);
    let mut ask = map(TCP, 80, sec(3600));
    ask.suggested = (EXT, 2000);
    let g = s.hold(&ask, at(0)).unwrap();
    assert_eq!((g.external, g.external_port), (EXT, 8080));
    ask.prefer_failure = true;
    assert_eq!(s.hold(&ask, at(0)), Err(HoldRefusal::CannotProvideExternal));
    // A held TCP mapping: a bare SYN opens a session, nothing else does.
    let g = s.hold(&map(TCP, 5000, sec(3600)), at(0)).unwrap();
    let w = wan(REMOTE, EXT);
    let ack = w.tcp(7000, g.external_port, ACK, &[], b"");
    let (v, _) = run(&mut s, ack, Side::Wan, 1);
    assert_eq!(v, Verdict::Drop(DropReason::TcpNotSyn));
    let syn = w.tcp(7000, g.external_port, SYN, &[], b"");
    assert_eq!(run(&mut s, syn, Side::Wan, 2).0, Verdict::ToLan);
    let info: Vec<SessionInfo> = s.sessions().filter(|i| i.held.is_none()).collect();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].tcp, Some(crate::TcpState::SynIn));
    assert_consistent(&s);
}
