//! What the control plane changes: flushing selected sessions or all of
//! them, following the WAN address (readdressing, losing it, refusing
//! what cannot be), and a new configuration while running.

use super::*;
use crate::config::Filtering;

/// 203.0.113.2, the WAN interface's next address.
const NEW: u32 = 0xcb00_7102;

#[test]
fn flush_removes_what_is_picked() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    run(&mut s, lan(HOST, REMOTE).udp(40000, 123, b""), Side::Lan, 0);
    events(&mut s);
    let n = s.flush(at(5), |i| i.remote.port == 53);
    assert_eq!(n, 1);
    assert_eq!(s.counters().sessions_flushed, 1);
    assert_eq!(s.find_out(17, HOST, 40000, REMOTE, 53), None);
    assert!(s.find_out(17, HOST, 40000, REMOTE, 123).is_some());
    let ev = events(&mut s);
    assert!(
        matches!(ev[..], [Event::SessionDeleted { at, .. }] if at == sec(5)),
        "{ev:?}"
    );
    assert_eq!(s.flush(at(6), |_| false), 0);
    assert_eq!(s.flush(at(6), |_| true), 1);
    assert_eq!(s.session_count(), 0);
    assert_eq!(s.counters().blocks_released, 1, "the last session's block");
}

#[test]
fn flush_all_clears_everything_at_once() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    run(&mut s, lan(HOST2, REMOTE).udp(5000, 53, b""), Side::Lan, 0);
    let later = lan(HOST, REMOTE).frag(2).raw(17, &[0; 8]);
    assert_eq!(run(&mut s, later, Side::Lan, 0).0, Verdict::Held);
    events(&mut s);
    assert_eq!(s.flush_all(at(9)), 2);
    assert_eq!(s.session_count(), 0);
    assert_eq!(s.subscriber_count(), 0);
    assert_eq!(s.held_fragments(), 0);
    assert_eq!(s.counters().sessions_flushed, 2);
    assert_eq!(s.counters().blocks_released, 2);
    let released = events(&mut s)
        .into_iter()
        .filter(|e| matches!(e, Event::BlockReleased { at, .. } if *at == sec(9)))
        .count();
    assert_eq!(released, 2);
    // Blocks are free at once; mappings are gone.
    assert_eq!(s.block_usage(), [(EXT, 0, 126)]);
    let v = run(&mut s, wan(REMOTE, EXT).udp(53, 1024, b""), Side::Wan, 10).0;
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    udp_session(&mut s, 10);
}

#[test]
fn a_new_wan_address_readdresses() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    assert_eq!(s.set_external_address(Some(EXT), at(1)), Ok(0), "the same");
    assert_eq!(s.session_count(), 1);
    assert_eq!(s.set_external_address(Some(NEW), at(2)), Ok(1));
    assert_eq!(s.counters().sessions_readdressed, 1);
    assert_eq!(s.session_count(), 0);
    let (v, f) = run(&mut s, lan(HOST, REMOTE).udp(40000, 53, b"q"), Side::Lan, 3);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(f, lan(HOST, REMOTE).to_wan(NEW).udp(1024, 53, b"q"));
    assert_eq!(s.block_usage(), [(NEW, 1, 125)]);
    // The old address is no longer the NAT's.
    let v = run(&mut s, wan(REMOTE, EXT).udp(53, 1024, b""), Side::Wan, 3).0;
    assert_eq!(v, Verdict::Pass);
}

#[test]
fn no_wan_address_refuses_new_mappings() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    assert_eq!(s.set_external_address(None, at(1)), Ok(1));
    assert_eq!(s.set_external_address(None, at(1)), Ok(0), "already down");
    let ev = events(&mut s);
    assert!(
        matches!(ev.last(), Some(Event::BlockReleased { .. })),
        "{ev:?}"
    );
    let f = lan(HOST, REMOTE).udp(40000, 53, b"q");
    let v = run(&mut s, f.clone(), Side::Lan, 2).0;
    assert_eq!(v, Verdict::Drop(DropReason::NoExternalAddress));
    // A 3/13 to the subscriber, but no exhaustion event.
    let e = emitted(&mut s);
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].0, e[0].1[34], e[0].1[35]), (Verdict::ToLan, 3, 13));
    assert!(events(&mut s).is_empty());
    assert_eq!(s.subscriber_count(), 0);
    // Back, on the old address.
    assert_eq!(s.set_external_address(Some(EXT), at(3)), Ok(0));
    udp_session(&mut s, 3);
}

#[test]
fn wan_addresses_that_are_refused() {
    let mut s = shard(&cfg());
    let e = s.set_external_address(Some(HOST), at(0)).unwrap_err();
    assert_eq!(e.key, "pool");
    assert!(e.reason.contains("inside prefix"), "{e}");
    let wide = Config {
        pool: vec![Prefix::new(0xcb00_7100, 30).unwrap()],
        ..cfg()
    };
    let mut s = shard(&wide);
    assert_eq!(
        s.set_external_address(Some(NEW), at(0)).unwrap_err().key,
        "pool"
    );
    let two = Config {
        pool: vec![Prefix::new(EXT, 32).unwrap(), Prefix::new(NEW, 32).unwrap()],
        ..cfg()
    };
    let mut s = shard(&two);
    assert_eq!(s.set_external_address(None, at(0)).unwrap_err().key, "pool");
}

#[test]
fn a_new_timer_reschedules_live_sessions() {
    let c = cfg();
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    let mut longer = c.clone();
    longer.timeouts.udp = 600;
    s.reconfigure(&longer, at(10)).unwrap();
    assert_eq!(s.config().timeouts.udp, 600);
    assert_eq!(s.expire(at(300), usize::MAX), 0);
    assert_eq!(s.next_expiry(), Some(at(600)));
    assert_eq!(s.expire(at(600), usize::MAX), 1);
}

#[test]
fn a_new_configuration_takes_filtering_and_pool_additions() {
    let c = cfg();
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    let mut next = c.clone();
    next.filtering = Filtering::AddressAndPortDependent;
    next.pool.push(Prefix::new(NEW, 32).unwrap());
    s.reconfigure(&next, at(1)).unwrap();
    assert_eq!(s.block_usage(), [(EXT, 1, 125), (NEW, 0, 126)]);
    let v = run(&mut s, wan(REMOTE2, EXT).udp(53, 1024, b""), Side::Wan, 2).0;
    assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    // What needs a restart is refused, naming the key; nothing changes.
    let mut bad = next.clone();
    bad.inside = vec![Prefix::new(0x0a00_0000, 8).unwrap()];
    assert_eq!(s.reconfigure(&bad, at(3)).unwrap_err().key, "inside");
    let mut fewer = next.clone();
    fewer.pool.truncate(1);
    assert_eq!(s.reconfigure(&fewer, at(3)).unwrap_err().key, "pool");
    assert_eq!(s.config(), &next);
}
