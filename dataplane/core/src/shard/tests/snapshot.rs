//! What the control plane reads: sessions and subscribers as snapshots
//! (whole, and in steps with `sessions_in`), counts by protocol, block
//! usage, events in order, and memory fixed at creation.

use super::*;
use crate::event::Endpoint;
use crate::shard::{SessionInfo, SubscriberInfo};
use crate::tcp::TcpState;

fn ep(addr: u32, port: u16) -> Endpoint {
    Endpoint { addr, port }
}

/// UDP 40000 -> REMOTE:53 and :123, TCP 40001 -> REMOTE:80, echo 5 from
/// HOST; UDP 5000 -> REMOTE:53 from HOST2.
fn traffic(s: &mut Shard) {
    let frames = [
        lan(HOST, REMOTE).udp(40000, 53, b""),
        lan(HOST, REMOTE).udp(40000, 123, b""),
        lan(HOST, REMOTE).tcp(40001, 80, SYN, &[], b""),
        lan(HOST, REMOTE).echo(8, 5, b""),
        lan(HOST2, REMOTE).udp(5000, 53, b""),
    ];
    for f in frames {
        assert_eq!(run(s, f, Side::Lan, 7).0, Verdict::ToWan);
    }
}

#[test]
fn sessions_are_read_back_as_they_are() {
    let c = cfg();
    let mut s = shard(&c);
    traffic(&mut s);
    let all: Vec<SessionInfo> = s.sessions().collect();
    assert_eq!(all.len(), 5);
    assert_eq!(
        all[0],
        SessionInfo {
            proto: 17,
            inside: ep(HOST, 40000),
            outside: ep(EXT, 1024),
            remote: ep(REMOTE, 53),
            tcp: None,
            last_seen: sec(7),
            expires: sec(7) + c.timeouts.udp,
            held: None,
        }
    );
    assert_eq!(all[1].remote, ep(REMOTE, 123));
    assert_eq!(all[1].outside, ep(EXT, 1024), "the same mapping");
    assert_eq!(all[2].proto, 6);
    assert_eq!(all[2].outside, ep(EXT, 1025));
    assert_eq!(all[2].tcp, Some(TcpState::SynOut));
    assert_eq!(all[2].expires, sec(7) + c.timeouts.tcp_transitory);
    assert_eq!(
        (all[3].inside, all[3].outside, all[3].remote),
        (ep(HOST, 5), ep(EXT, 1024), ep(REMOTE, 0))
    );
    assert_eq!(all[4].outside, ep(EXT, 1536), "HOST2's own block");
    assert_eq!(s.session_count(), 5);
    assert_eq!(s.session_count_by_proto()[..4], [1, 3, 1, 0]);
}

#[test]
fn subscribers_with_their_sessions_and_blocks() {
    let mut s = shard(&cfg());
    traffic(&mut s);
    let subs: Vec<SubscriberInfo> = s.subscribers().collect();
    assert_eq!(
        subs,
        [
            SubscriberInfo {
                addr: HOST,
                sessions: 4,
                blocks: vec![(EXT, 1024, 1535)],
            },
            SubscriberInfo {
                addr: HOST2,
                sessions: 1,
                blocks: vec![(EXT, 1536, 2047)],
            },
        ]
    );
    assert_eq!(s.subscriber_count(), 2);
    assert_eq!(s.block_usage(), [(EXT, 2, 124)]);
}

#[test]
fn sessions_in_steps() {
    let mut s = shard(&cfg());
    traffic(&mut s);
    let all = |_: &SessionInfo| true;
    let mut out = Vec::new();
    // Two slots at a time: the table has 64.
    assert_eq!(s.sessions_in(0, 2, 100, all, &mut out), Some(2));
    assert_eq!(out.len(), 2);
    assert_eq!(s.sessions_in(2, 2, 100, all, &mut out), Some(4));
    assert_eq!(s.sessions_in(4, 2, 100, all, &mut out), Some(6));
    assert_eq!(s.sessions_in(6, 100, 100, all, &mut out), None, "end");
    assert_eq!(out, s.sessions().collect::<Vec<_>>());
    // A filter, and a cap on the whole snapshot.
    let mut dns = Vec::new();
    let port53 = |i: &SessionInfo| i.remote.port == 53;
    assert_eq!(s.sessions_in(0, 64, 100, port53, &mut dns), None);
    assert_eq!(dns.len(), 2);
    assert!(dns.iter().all(|i| i.remote.port == 53));
    let mut three = Vec::new();
    assert_eq!(s.sessions_in(0, 64, 3, all, &mut three), None, "full");
    assert_eq!(three.len(), 3);
    let mut none = Vec::new();
    assert_eq!(s.sessions_in(100, 10, 100, all, &mut none), None);
    assert!(none.is_empty());
}

#[test]
fn events_come_in_order() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    let ev = events(&mut s);
    assert_eq!(
        ev[0],
        Event::BlockAllocated {
            subscriber: HOST,
            external: EXT,
            first_port: 1024,
            last_port: 1535,
            at: sec(0),
        }
    );
    assert!(matches!(ev[1], Event::SessionCreated { .. }));
    assert_eq!(s.pop_event(), None);
    // A full queue drops and counts.
    let c = Config {
        event_queue: 1,
        ..cfg()
    };
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    assert_eq!(s.counters().events_dropped, 1);
    assert_eq!(events(&mut s).len(), 1);
}

#[test]
fn identity_configuration_and_memory() {
    let mut c = cfg();
    c.workers = 2;
    let s = Shard::new(&c, 1, at(0)).unwrap();
    assert_eq!(s.id(), 1);
    assert_eq!(s.config(), &c);
    assert_eq!(s.block_map().shards, 2);
    assert!(Shard::new(&c, 2, at(0)).is_err(), "no shard 2 of 2");
    let mut s = shard(&cfg());
    let before = s.memory_bytes();
    assert!(before > 64 * 64, "at least the session table");
    traffic(&mut s);
    assert_eq!(s.memory_bytes(), before, "allocated once");
}
