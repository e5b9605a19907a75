//! Timers on a simulated clock: idle timeouts per protocol and TCP state,
//! refresh rules, block hold, `next_expiry`, and the events they produce.

use masq_core::{Config, DropReason, Event, Side, Time, Verdict};
use masq_tests::check::seen;
use masq_tests::frames::{self, From, ACK, FIN_ACK, RST, SYN, SYN_ACK};
use masq_tests::harness::Nat;

const H1: [u8; 4] = [192, 168, 1, 10];
const H2: [u8; 4] = [192, 168, 1, 11];
const R: [u8; 4] = [198, 51, 100, 1];

fn cfg() -> Config {
    Config {
        inside: vec!["192.168.0.0/16".parse().unwrap()],
        pool: vec!["203.0.113.0/29".parse().unwrap()],
        max_sessions: 1024,
        max_subscribers: 64,
        event_queue: 1024,
        ..Config::default()
    }
}

fn send(nat: &mut Nat, mut f: Vec<u8>, side: Side) -> (Verdict, Vec<u8>) {
    let v = nat.send(&mut f, side);
    (v, f)
}

/// Advances the clock one second at a time (as a worker calling `expire`
/// often would) until `secs` have passed; returns when the session count
/// first dropped, in seconds from the start of the call.
fn gone_after(nat: &mut Nat, secs: u64) -> Option<u64> {
    let start = nat.sessions();
    for t in 1..=secs {
        nat.advance(1);
        if nat.sessions() < start {
            return Some(t);
        }
    }
    None
}

#[test]
fn idle_timeouts_per_protocol() {
    // (what, frame, seconds it lives)
    let cases: Vec<(&str, Vec<u8>, u64)> = vec![
        ("udp", frames::udp(From::Lan, H1, 5000, R, 53, b"q"), 300),
        ("icmp", frames::echo(From::Lan, H1, R, 9, 1, true), 60),
        (
            "tcp syn only",
            frames::tcp(From::Lan, H1, 5000, R, 80, SYN, b""),
            240,
        ),
    ];
    for (what, f, life) in cases {
        let mut nat = Nat::new(&cfg());
        assert_eq!(send(&mut nat, f, Side::Lan).0, Verdict::ToWan, "{what}");
        assert_eq!(gone_after(&mut nat, life + 5), Some(life), "{what}");
        assert_eq!(nat.shards[0].counters().sessions_expired, 1);
    }
}

#[test]
fn tcp_timers_follow_state() {
    let open = |nat: &mut Nat| {
        let (_, f) = send(
            nat,
            frames::tcp(From::Lan, H1, 5000, R, 80, SYN, b""),
            Side::Lan,
        );
        let o = seen(&f);
        assert_eq!(
            send(
                nat,
                frames::tcp(From::Wan, R, 80, o.src, o.sport, SYN_ACK, b""),
                Side::Wan
            )
            .0,
            Verdict::ToLan
        );
        o
    };
    // Established: 7440 s idle.
    let mut nat = Nat::new(&cfg());
    open(&mut nat);
    nat.advance(7000);
    assert_eq!(nat.sessions(), 1);
    assert_eq!(gone_after(&mut nat, 500), Some(440));

    // FIN both ways: transitory, 240 s.
    let mut nat = Nat::new(&cfg());
    let o = open(&mut nat);
    send(
        &mut nat,
        frames::tcp(From::Lan, H1, 5000, R, 80, FIN_ACK, b""),
        Side::Lan,
    );
    send(
        &mut nat,
        frames::tcp(From::Wan, R, 80, o.src, o.sport, FIN_ACK, b""),
        Side::Wan,
    );
    assert_eq!(gone_after(&mut nat, 300), Some(240));

    // RST: transitory; a later segment revives it to established.
    let mut nat = Nat::new(&cfg());
    let o = open(&mut nat);
    send(
        &mut nat,
        frames::tcp(From::Wan, R, 80, o.src, o.sport, RST, b""),
        Side::Wan,
    );
    nat.advance(200);
    assert_eq!(
        send(
            &mut nat,
            frames::tcp(From::Lan, H1, 5000, R, 80, ACK, b""),
            Side::Lan
        )
        .0,
        Verdict::ToWan
    );
    nat.advance(1000);
    assert_eq!(nat.sessions(), 1, "back on the established timer");

    // Inbound SYN through a mapping waits 6 s for the inside SYN.
    let mut nat = Nat::new(&cfg());
    let (_, f) = send(
        &mut nat,
        frames::udp(From::Lan, H1, 5000, R, 53, b""),
        Side::Lan,
    );
    let u = seen(&f);
    let (_, f) = send(
        &mut nat,
        frames::tcp(From::Lan, H1, 5001, R, 80, SYN, b""),
        Side::Lan,
    );
    let t = seen(&f);
    assert_eq!(u.src, t.src);
    // Another remote opens to the TCP mapping, nobody answers.
    let (v, _) = send(
        &mut nat,
        frames::tcp(From::Wan, [198, 51, 100, 9], 7, t.src, t.sport, SYN, b""),
        Side::Wan,
    );
    assert_eq!(v, Verdict::ToLan);
    assert_eq!(nat.sessions(), 3);
    assert_eq!(gone_after(&mut nat, 10), Some(6));
}

#[test]
fn outbound_refreshes_inbound_does_not_unless_asked() {
    for inbound_refresh in [false, true] {
        let mut c = cfg();
        c.inbound_refresh = inbound_refresh;
        let mut nat = Nat::new(&c);
        let (_, f) = send(
            &mut nat,
            frames::udp(From::Lan, H1, 5000, R, 53, b"q"),
            Side::Lan,
        );
        let o = seen(&f);
        nat.advance(200);
        // Outbound at t=200 moves expiry to 500.
        send(
            &mut nat,
            frames::udp(From::Lan, H1, 5000, R, 53, b"q"),
            Side::Lan,
        );
        nat.advance(200);
        // Inbound at t=400.
        let (v, _) = send(
            &mut nat,
            frames::udp(From::Wan, R, 53, o.src, o.sport, b"a"),
            Side::Wan,
        );
        assert_eq!(v, Verdict::ToLan);
        let left = gone_after(&mut nat, 400);
        let want = if inbound_refresh { 300 } else { 100 };
        assert_eq!(left, Some(want), "inbound_refresh = {inbound_refresh}");
    }
}

#[test]
fn next_expiry_says_when_to_come_back() {
    let mut nat = Nat::new(&cfg());
    assert_eq!(nat.shards[0].next_expiry(), None);
    send(
        &mut nat,
        frames::echo(From::Lan, H1, R, 9, 1, true),
        Side::Lan,
    );
    send(
        &mut nat,
        frames::udp(From::Lan, H1, 5000, R, 53, b"q"),
        Side::Lan,
    );
    assert_eq!(nat.shards[0].next_expiry(), Some(Time::from_secs(60)));
    // Jumping straight past both timers removes both at once.
    nat.now = Time::from_secs(10_000);
    assert_eq!(nat.shards[0].expire(nat.now, usize::MAX), 2);
    // The freed block is now held for 120 s.
    assert_eq!(nat.shards[0].next_expiry(), Some(Time::from_secs(10_120)));
}

#[test]
fn expiry_budget_bounds_each_call() {
    let mut nat = Nat::new(&cfg());
    for p in 0..50u16 {
        send(
            &mut nat,
            frames::udp(From::Lan, H1, 6000 + p, R, 53, b"q"),
            Side::Lan,
        );
    }
    let now = Time::from_secs(301);
    let mut calls = 0;
    while nat.shards[0].session_count() > 0 {
        let n = nat.shards[0].expire(now, 8);
        assert!(n <= 8);
        calls += 1;
        assert!(calls < 100);
    }
    assert_eq!(calls, 7);
}

#[test]
fn freed_block_is_held_before_another_subscriber_gets_it() {
    let mut c = cfg();
    c.pool = vec!["203.0.113.1/32".parse().unwrap()];
    c.block_size = 32256; // two blocks on the one address
    c.limits.blocks_per_subscriber = 1;
    let mut nat = Nat::new(&c);
    let (v, _) = send(
        &mut nat,
        frames::udp(From::Lan, H1, 5000, R, 53, b""),
        Side::Lan,
    );
    assert_eq!(v, Verdict::ToWan);
    let (v, _) = send(
        &mut nat,
        frames::udp(From::Lan, H2, 5000, R, 53, b""),
        Side::Lan,
    );
    assert_eq!(v, Verdict::ToWan);
    // H2 keeps its session alive; H1's expires at 300 s and its block is
    // released.
    nat.advance(250);
    send(
        &mut nat,
        frames::udp(From::Lan, H2, 5000, R, 53, b""),
        Side::Lan,
    );
    nat.advance(51);
    assert_eq!(nat.sessions(), 1);
    let h3 = [192, 168, 1, 12];
    let (v, _) = send(
        &mut nat,
        frames::udp(From::Lan, h3, 5000, R, 53, b""),
        Side::Lan,
    );
    assert_eq!(v, Verdict::Drop(DropReason::PoolExhausted), "held");
    nat.advance(118);
    let (v, _) = send(
        &mut nat,
        frames::udp(From::Lan, h3, 5000, R, 53, b""),
        Side::Lan,
    );
    assert_eq!(
        v,
        Verdict::Drop(DropReason::PoolExhausted),
        "still held at 119 s"
    );
    nat.advance(2);
    let (v, _) = send(
        &mut nat,
        frames::udp(From::Lan, h3, 5000, R, 53, b""),
        Side::Lan,
    );
    assert_eq!(v, Verdict::ToWan, "free after 120 s");
}

#[test]
fn events_tell_sessions_and_blocks() {
    let mut nat = Nat::new(&cfg());
    let (_, f) = send(
        &mut nat,
        frames::udp(From::Lan, H1, 5000, R, 53, b""),
        Side::Lan,
    );
    let o = seen(&f);
    let ext = u32::from_be_bytes(o.src);
    let sub = u32::from_be_bytes(H1);
    let mut ev = Vec::new();
    while let Some(e) = nat.shards[0].pop_event() {
        ev.push(e);
    }
    assert_eq!(ev.len(), 2, "{ev:?}");
    match ev[0] {
        Event::BlockAllocated {
            subscriber,
            external,
            first_port,
            last_port,
            at: 0,
        } => {
            assert_eq!((subscriber, external), (sub, ext));
            assert!(first_port <= o.sport && o.sport <= last_port);
            assert_eq!(last_port - first_port + 1, 512);
        }
        e => panic!("{e:?}"),
    }
    match ev[1] {
        Event::SessionCreated {
            proto: 17,
            inside,
            outside,
            remote,
            at: 0,
        } => {
            assert_eq!((inside.addr, inside.port), (sub, 5000));
            assert_eq!((outside.addr, outside.port), (ext, o.sport));
            assert_eq!((remote.addr, remote.port), (u32::from_be_bytes(R), 53));
        }
        e => panic!("{e:?}"),
    }
    nat.advance(300);
    let ev: Vec<_> = std::iter::from_fn(|| nat.shards[0].pop_event()).collect();
    assert!(
        matches!(
            ev[0],
            Event::SessionDeleted {
                proto: 17,
                at: 300,
                ..
            }
        ),
        "{ev:?}"
    );
    assert!(
        matches!(ev[1], Event::BlockReleased { subscriber, at: 300, .. } if subscriber == sub),
        "{ev:?}"
    );
    assert_eq!(nat.shards[0].subscriber_count(), 0);
}

#[test]
fn full_event_queue_drops_and_counts() {
    let mut c = cfg();
    c.event_queue = 3;
    let mut nat = Nat::new(&c);
    for p in 0..5u16 {
        send(
            &mut nat,
            frames::udp(From::Lan, H1, 7000 + p, R, 53, b""),
            Side::Lan,
        );
    }
    // 1 block + 5 sessions = 6 events, 3 fit.
    assert_eq!(nat.shards[0].counters().events_dropped, 3);
    assert_eq!(nat.sessions(), 5, "traffic is not affected");
}

#[test]
fn flush_removes_a_subscribers_sessions() {
    let mut nat = Nat::new(&cfg());
    for p in 0..3u16 {
        send(
            &mut nat,
            frames::udp(From::Lan, H1, 7000 + p, R, 53, b""),
            Side::Lan,
        );
    }
    send(
        &mut nat,
        frames::udp(From::Lan, H2, 7000, R, 53, b""),
        Side::Lan,
    );
    let h1 = u32::from_be_bytes(H1);
    assert_eq!(nat.shards[0].flush(nat.now, |s| s.inside.addr == h1), 3);
    assert_eq!(nat.sessions(), 1);
    assert_eq!(nat.shards[0].subscriber_count(), 1);
    assert_eq!(nat.shards[0].counters().sessions_flushed, 3);
}

#[test]
fn clock_at_its_limit_does_not_overflow() {
    let mut nat = Nat::new(&cfg());
    send(
        &mut nat,
        frames::udp(From::Lan, H1, 5000, R, 53, b"q"),
        Side::Lan,
    );
    nat.now = Time(u64::MAX);
    let (v, _) = send(
        &mut nat,
        frames::udp(From::Lan, H1, 5001, R, 53, b"q"),
        Side::Lan,
    );
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(
        nat.shards[0].expire(nat.now, usize::MAX),
        1,
        "the old session expires"
    );
    assert!(nat.shards[0].next_expiry().is_some());
    assert_eq!(nat.shards[0].expire(nat.now, usize::MAX), 0);
    assert_eq!(nat.sessions(), 1);
}
