//! Timers: a session lives its protocol's and state's timeout after its
//! last refreshing packet and not a second less, the sweep is bounded by
//! its budget and survives a long pause, `next_expiry` says when to come
//! back, and removing one session of a shared mapping keeps the mapping.

use super::*;
use crate::event::Endpoint;

#[test]
fn a_udp_session_goes_at_its_timeout_and_not_before() {
    let c = cfg();
    let udp = u64::from(c.timeouts.udp);
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    events(&mut s);
    assert_eq!(s.expire(at(udp - 1), usize::MAX), 0);
    assert_eq!(s.session_count(), 1);
    assert_eq!(s.expire(at(udp), usize::MAX), 1);
    assert_eq!(s.session_count(), 0);
    assert_eq!(s.counters().sessions_expired, 1);
    assert_eq!(s.find_out(17, HOST, 40000, REMOTE, 53), None);
    assert_eq!(s.find_in(17, EXT, 1024, REMOTE, 53), None);
    let ev = events(&mut s);
    assert_eq!(
        ev[0],
        Event::SessionDeleted {
            proto: 17,
            inside: Endpoint {
                addr: HOST,
                port: 40000
            },
            outside: Endpoint {
                addr: EXT,
                port: 1024
            },
            remote: Endpoint {
                addr: REMOTE,
                port: 53
            },
            at: sec(udp),
        }
    );
    // The mapping went with it.
    let v = run(&mut s, wan(REMOTE, EXT).udp(53, 1024, b""), Side::Wan, udp);
    assert_eq!(v.0, Verdict::Drop(DropReason::NoMapping));
}

#[test]
fn a_refresh_moves_the_expiry() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    let (v, _) = run(
        &mut s,
        lan(HOST, REMOTE).udp(40000, 53, b""),
        Side::Lan,
        100,
    );
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(s.expire(at(300), usize::MAX), 0, "refreshed at 100");
    let idx = s.find_out(17, HOST, 40000, REMOTE, 53).unwrap() as usize;
    assert_eq!(s.sessions[idx].wheel_at, sec(400), "filed again");
    assert_eq!(s.expire(at(399), usize::MAX), 0);
    assert_eq!(s.expire(at(400), usize::MAX), 1);
}

#[test]
fn each_protocol_and_state_has_its_timeout() {
    let c = cfg();
    let t = c.timeouts;
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    run(&mut s, lan(HOST, REMOTE).echo(8, 5, b""), Side::Lan, 0);
    run(
        &mut s,
        lan(HOST, REMOTE).tcp(40001, 80, SYN, &[], b""),
        Side::Lan,
        0,
    );
    let of = |s: &Shard, p, port, rp| {
        let i = s.find_out(p, HOST, port, REMOTE, rp).unwrap();
        s.timeout_of(&s.sessions[i as usize])
    };
    assert_eq!(of(&s, 17, 40000, 53), t.udp);
    assert_eq!(of(&s, 1, 5, 0), t.icmp);
    assert_eq!(of(&s, 6, 40001, 80), t.tcp_transitory);
    let sa = wan(REMOTE, EXT).tcp(80, 1025, SYN | ACK, &[], b"");
    assert_eq!(run(&mut s, sa, Side::Wan, 1).0, Verdict::ToLan);
    assert_eq!(of(&s, 6, 40001, 80), t.tcp_established);
    // A session an inbound SYN opened waits only for the inside SYN.
    let syn = wan(REMOTE2, EXT).tcp(443, 1025, SYN, &[], b"");
    assert_eq!(run(&mut s, syn, Side::Wan, 1).0, Verdict::ToLan);
    let i = s.find_in(6, EXT, 1025, REMOTE2, 443).unwrap();
    assert_eq!(s.timeout_of(&s.sessions[i as usize]), t.tcp_incoming_syn);
    let incoming = 1 + u64::from(t.tcp_incoming_syn);
    assert_eq!(s.expire(at(incoming - 1), usize::MAX), 0);
    assert_eq!(s.expire(at(incoming), usize::MAX), 1);
    assert_eq!(s.find_in(6, EXT, 1025, REMOTE2, 443), None);
    assert_eq!(s.expire(at(u64::from(t.icmp)), usize::MAX), 1, "the echo");
}

#[test]
fn the_budget_bounds_one_sweep() {
    let mut s = shard(&cfg());
    for p in [1, 3, 5] {
        run(&mut s, lan(HOST, REMOTE).udp(p, 53, b""), Side::Lan, 0);
    }
    assert_eq!(s.expire(at(300), 2), 2);
    assert_eq!(s.session_count(), 1);
    assert_eq!(s.expire(at(300), 2), 1);
    assert_eq!(s.expire(at(300), 2), 0);
}

#[test]
fn a_budget_of_zero_removes_nothing() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    assert_eq!(s.expire(at(300), 0), 0);
    assert_eq!(s.session_count(), 1);
}

#[test]
fn a_long_pause_expires_everything() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    run(&mut s, lan(HOST, REMOTE).echo(8, 5, b""), Side::Lan, 50);
    // Far past the wheel's 8192 slots.
    assert_eq!(s.expire(at(100_000), usize::MAX), 2);
    assert_eq!(s.session_count(), 0);
    assert_eq!(s.next_expiry(), Some(at(100_120)), "the block's hold only");
}

#[test]
fn next_expiry_names_the_earliest_timer() {
    let c = cfg();
    let mut s = shard(&c);
    assert_eq!(s.next_expiry(), None);
    udp_session(&mut s, 0);
    assert_eq!(s.next_expiry(), Some(at(u64::from(c.timeouts.udp))));
    run(&mut s, lan(HOST, REMOTE).echo(8, 5, b""), Side::Lan, 10);
    assert_eq!(s.next_expiry(), Some(at(10 + u64::from(c.timeouts.icmp))));
}

#[test]
fn removing_one_session_of_a_shared_mapping_keeps_the_mapping() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    run(
        &mut s,
        lan(HOST, REMOTE2).udp(40000, 53, b""),
        Side::Lan,
        100,
    );
    assert_eq!(s.expire(at(300), usize::MAX), 1);
    assert_eq!(s.find_out(17, HOST, 40000, REMOTE, 53), None);
    assert_eq!(s.counters().blocks_released, 0);
    // The mapping still answers a new remote (endpoint-independent).
    let remote3 = 0xc633_6403;
    let (v, f) = run(&mut s, wan(remote3, EXT).udp(7, 1024, b"n"), Side::Wan, 301);
    assert_eq!(v, Verdict::ToLan);
    assert_eq!(
        f,
        wan(remote3, EXT).to_lan(HOST, HOST_MAC).udp(7, 40000, b"n")
    );
    // Deleting the rest gives the port and block back.
    for r in [REMOTE2, remote3] {
        let i = s.find_in(17, EXT, 1024, r, if r == REMOTE2 { 53 } else { 7 });
        s.delete_session(i.unwrap(), sec(302));
    }
    assert_eq!(s.session_count(), 0);
    assert_eq!(s.counters().blocks_released, 1);
    assert_eq!(s.subscriber_count(), 0);
}
