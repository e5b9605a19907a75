//! Held mappings under random sequences of holds, releases, packets,
//! sweeps and flushes: the table of holds always agrees with the
//! sessions, a granted mapping is reachable until its end, and once every
//! end and timer is past nothing is left, ports and blocks included.

use super::holds::assert_consistent;
use super::*;
use crate::config::Filtering;
use crate::hold::{HoldAsk, HoldKind, RemoteFilter};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// A MAP (`peer` None) or PEER from host `h`, port `port`.
    Hold {
        h: u8,
        tcp: bool,
        port: u16,
        peer: Option<u16>,
        life: u16,
        suggested: u16,
        prefer_failure: bool,
        filter: bool,
    },
    Release {
        h: u8,
        tcp: bool,
        port: u16,
        peer: Option<u16>,
    },
    /// An outbound UDP datagram from host `h`, port `port`.
    Out {
        h: u8,
        port: u16,
        rport: u16,
    },
    /// An inbound UDP datagram to external port `ext` from remote port.
    In {
        ext: u16,
        rport: u16,
    },
    Expire,
    Flush {
        h: u8,
    },
    Tick(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3u8, any::<bool>(), 5000..5004u16, prop::option::of(50..53u16),
              1..4000u16, prop_oneof![Just(0u16), 1024..1100u16, 2048..2060u16],
              any::<bool>(), any::<bool>())
            .prop_map(|(h, tcp, port, peer, life, suggested, prefer_failure, filter)| Op::Hold {
                h, tcp, port, peer, life, suggested, prefer_failure, filter
            }),
        2 => (0..3u8, any::<bool>(), 5000..5004u16, prop::option::of(50..53u16))
            .prop_map(|(h, tcp, port, peer)| Op::Release { h, tcp, port, peer }),
        2 => (0..3u8, 5000..5004u16, 50..53u16).prop_map(|(h, port, rport)| Op::Out { h, port, rport }),
        3 => (prop_oneof![1024..1100u16, 2048..2060u16], 7000..7003u16)
            .prop_map(|(ext, rport)| Op::In { ext, rport }),
        1 => Just(Op::Expire),
        1 => (0..3u8).prop_map(|h| Op::Flush { h }),
        2 => (1..2000u16).prop_map(Op::Tick),
    ]
}

fn host(h: u8) -> u32 {
    HOST + u32::from(h)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn holds_stay_consistent(
        ops in prop::collection::vec(op(), 1..60),
        filtering in prop::sample::select(Filtering::ALL.to_vec()),
    ) {
        let mut c = cfg();
        c.filtering = filtering;
        c.max_holds = 6;
        c.max_sessions = 256;
        c.limits.blocks_per_subscriber = 2;
        let mut s = shard(&c);
        let mut now = 0u64;
        // Granted MAPs: (ext port, proto, host, port, until).
        let mut granted: Vec<(u16, u8, u32, u16, u32)> = Vec::new();
        for op in ops {
            match op {
                Op::Hold { h, tcp, port, peer, life, suggested, prefer_failure, filter } => {
                    let proto = if tcp { 6 } else { 17 };
                    let kind = match peer {
                        None => HoldKind::Map,
                        Some(rp) => HoldKind::Peer { remote: REMOTE, remote_port: rp },
                    };
                    let until = sec(now) + u32::from(life);
                    let ask = HoldAsk {
                        kind,
                        proto,
                        inside: host(h),
                        inside_port: port,
                        suggested: (0, suggested),
                        prefer_failure,
                        until,
                        filters: if filter {
                            vec![RemoteFilter { addr: REMOTE, len: 32, port: 0 }]
                        } else {
                            Vec::new()
                        },
                        mac: Some(Mac(HOST_MAC)),
                    };
                    if let Ok(g) = s.hold(&ask, at(now)) {
                        prop_assert_eq!(g.external, EXT);
                        if prefer_failure && suggested != 0 {
                            prop_assert_eq!(g.external_port, suggested);
                        }
                        if peer.is_none() {
                            granted.retain(|x| (x.1, x.2, x.3) != (proto, host(h), port));
                            granted.push((g.external_port, proto, host(h), port, until));
                        }
                    }
                }
                Op::Release { h, tcp, port, peer } => {
                    let proto = if tcp { 6 } else { 17 };
                    let kind = match peer {
                        None => HoldKind::Map,
                        Some(rp) => HoldKind::Peer { remote: REMOTE, remote_port: rp },
                    };
                    let was = s.release_hold(kind, proto, host(h), port, at(now));
                    if peer.is_none() {
                        let before = granted.len();
                        granted.retain(|x| (x.1, x.2, x.3) != (proto, host(h), port));
                        prop_assert_eq!(was, before != granted.len());
                    }
                }
                Op::Out { h, port, rport } => {
                    let p = lan(host(h), REMOTE).udp(port, rport, b"q");
                    run(&mut s, p, Side::Lan, now);
                }
                Op::In { ext, rport } => {
                    let (v, f) = run(&mut s, wan(REMOTE, EXT).udp(rport, ext, b"a"), Side::Wan, now);
                    let held = granted
                        .iter()
                        .find(|x| x.0 == ext && x.1 == 17 && x.4 > sec(now));
                    if let Some(&(_, _, inside, port, _)) = held {
                        // A live held UDP map admits REMOTE (every filter
                        // drawn here does).
                        prop_assert_eq!(v, Verdict::ToLan);
                        prop_assert_eq!(be32(&f, 30), inside);
                        prop_assert_eq!(be16(&f, 36), port);
                    }
                }
                Op::Expire => {
                    s.expire(at(now), usize::MAX);
                    granted.retain(|x| x.4 > sec(now));
                }
                Op::Flush { h } => {
                    s.flush(at(now), |i| i.inside.addr == host(h));
                    granted.retain(|x| x.2 != host(h));
                }
                Op::Tick(d) => {
                    now += u64::from(d);
                    // Ends passed while no sweep ran may be swept later:
                    // only those still ahead are sure to be reachable.
                    granted.retain(|x| x.4 > sec(now));
                    s.expire(at(now), usize::MAX);
                }
            }
            assert_consistent(&s);
            let c = s.counters();
            let gone = c.sessions_expired + c.sessions_flushed + c.sessions_released;
            prop_assert_eq!(c.sessions_created - gone, s.session_count() as u64);
            let subs: u32 = s.subscribers().map(|x| x.sessions).sum();
            prop_assert_eq!(subs as usize, s.session_count());
        }
        // Every end and timer past: nothing left.
        let far = now + 100_000;
        s.expire(at(far), usize::MAX);
        s.expire(at(far + 1), usize::MAX);
        prop_assert_eq!(s.session_count(), 0);
        prop_assert_eq!(s.held_count(), 0);
        prop_assert_eq!(s.subscriber_count(), 0);
        prop_assert!(s.block_usage().iter().all(|&(_, used, _)| used == 0));
    }
}
