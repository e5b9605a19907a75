//! What the control thread asks of a running shard: follow the WAN
//! address (MASQUERADE), take a reloaded configuration, and hand out
//! snapshots of sessions and subscribers.

use masq_core::addr::fmt_addr;
use masq_core::{Config, DropReason, Prefix, SessionInfo, Side, Time, Verdict};
use masq_tests::check::seen;
use masq_tests::frames::{self, From};
use masq_tests::harness::Nat;

const H1: [u8; 4] = [192, 168, 1, 10];
const H2: [u8; 4] = [192, 168, 1, 11];
const R: [u8; 4] = [198, 51, 100, 1];
const OLD: [u8; 4] = [203, 0, 113, 5];
const NEW: [u8; 4] = [203, 0, 113, 77];

fn masquerade(shards: u16) -> Config {
    Config {
        inside: vec!["192.168.0.0/16".parse().unwrap()],
        pool: vec!["203.0.113.5/32".parse().unwrap()],
        workers: shards,
        max_sessions: 4096,
        max_subscribers: 64,
        event_queue: 4096,
        ..Config::default()
    }
}

fn out(nat: &mut Nat, src: [u8; 4], sport: u16) -> (Verdict, [u8; 4], u16) {
    let mut f = frames::udp(From::Lan, src, sport, R, 53, b"q");
    let v = nat.send(&mut f, Side::Lan);
    let s = seen(&f);
    (v, s.src, s.sport)
}

fn reply(nat: &mut Nat, ext: [u8; 4], port: u16) -> Verdict {
    let mut f = frames::udp(From::Wan, R, 53, ext, port, b"a");
    nat.send(&mut f, Side::Wan)
}

fn set_addr(nat: &mut Nat, a: Option<[u8; 4]>) -> usize {
    let now = nat.now;
    nat.shards
        .iter_mut()
        .map(|s| {
            s.set_external_address(a.map(u32::from_be_bytes), now)
                .expect("a /32 pool")
        })
        .sum()
}

fn all_sessions(nat: &Nat) -> Vec<SessionInfo> {
    nat.shards.iter().flat_map(|s| s.sessions()).collect()
}

#[test]
fn address_change_drops_old_mappings_and_new_flows_use_the_new_address() {
    for shards in [1, 2, 3] {
        let mut nat = Nat::new(&masquerade(shards));
        let mut old_ports = Vec::new();
        for (h, p) in [(H1, 4000), (H1, 4001), (H2, 5000)] {
            let (v, src, port) = out(&mut nat, h, p);
            assert_eq!((v, src), (Verdict::ToWan, OLD), "{shards} shards");
            old_ports.push(port);
        }
        assert_eq!(nat.sessions(), 3);

        assert_eq!(set_addr(&mut nat, Some(NEW)), 3, "{shards} shards");
        assert_eq!(nat.sessions(), 0, "every session on the old address goes");
        let readdressed: u64 = nat
            .shards
            .iter()
            .map(|s| s.counters().sessions_readdressed)
            .sum();
        assert_eq!(readdressed, 3);
        for s in &nat.shards {
            assert_eq!(s.subscriber_count(), 0, "subscribers with them");
            for (addr, in_use, free) in s.block_usage() {
                assert_eq!(fmt_addr(addr).octets(), NEW);
                assert_eq!(in_use, 0);
                assert!(free > 0, "blocks of the new address are free at once");
            }
        }
        // The old address is no longer the NAT's: replies to the old
        // mappings are not translated but left to the kernel.
        for p in &old_ports {
            assert_eq!(reply(&mut nat, OLD, *p), Verdict::Pass);
        }
        // A new flow, even the same inside endpoint, leaves from NEW.
        let (v, src, port) = out(&mut nat, H1, 4000);
        assert_eq!((v, src), (Verdict::ToWan, NEW));
        assert_eq!(reply(&mut nat, NEW, port), Verdict::ToLan);
        // Setting the same address again changes nothing.
        assert_eq!(set_addr(&mut nat, Some(NEW)), 0);
        assert_eq!(nat.sessions(), 1);
    }
}

#[test]
fn address_loss_stops_translation_until_one_returns() {
    let mut nat = Nat::new(&masquerade(2));
    assert_eq!(out(&mut nat, H1, 4000).0, Verdict::ToWan);
    assert_eq!(set_addr(&mut nat, None), 1);
    assert_eq!(set_addr(&mut nat, None), 0, "already down");
    assert_eq!(
        out(&mut nat, H1, 4001).0,
        Verdict::Drop(DropReason::NoExternalAddress)
    );
    assert_eq!(nat.drops(DropReason::NoExternalAddress), 1);
    // The same address coming back is a fresh start.
    assert_eq!(set_addr(&mut nat, Some(OLD)), 0);
    let (v, src, _) = out(&mut nat, H1, 4001);
    assert_eq!((v, src), (Verdict::ToWan, OLD));
}

#[test]
fn address_change_is_refused_for_a_pool() {
    let mut cfg = masquerade(1);
    cfg.pool = vec!["203.0.113.0/29".parse().unwrap()];
    let mut nat = Nat::new(&cfg);
    let e = nat.shards[0]
        .set_external_address(Some(u32::from_be_bytes(NEW)), Time(0))
        .unwrap_err();
    assert_eq!(e.key, "pool");
    let mut nat = Nat::new(&masquerade(1));
    let e = nat.shards[0]
        .set_external_address(Some(u32::from_be_bytes([192, 168, 9, 9])), Time(0))
        .unwrap_err();
    assert!(e.reason.contains("inside prefix"), "{e}");
}

#[test]
fn reload_shortens_timers_of_live_sessions() {
    let mut nat = Nat::new(&masquerade(1));
    assert_eq!(out(&mut nat, H1, 4000).0, Verdict::ToWan);
    nat.advance(100);
    let mut cfg = masquerade(1);
    cfg.timeouts.udp = 150;
    let now = nat.now;
    nat.shards[0].reconfigure(&cfg, now).unwrap();
    nat.advance(49);
    assert_eq!(nat.sessions(), 1, "150 s after the last packet, not before");
    nat.advance(1);
    assert_eq!(nat.sessions(), 0);
    // A longer timer keeps a session past the old one.
    cfg.timeouts.udp = 600;
    let now = nat.now;
    nat.shards[0].reconfigure(&cfg, now).unwrap();
    assert_eq!(out(&mut nat, H1, 4000).0, Verdict::ToWan);
    nat.advance(400);
    assert_eq!(nat.sessions(), 1);
    nat.advance(200);
    assert_eq!(nat.sessions(), 0);
}

#[test]
fn reload_appends_pool_addresses_and_raises_limits() {
    let mut cfg = masquerade(1);
    cfg.block_size = 32256; // two blocks per address
    cfg.limits.blocks_per_subscriber = 1;
    let mut nat = Nat::new(&cfg);
    // Three subscribers, two blocks: the third is refused.
    for (i, h) in [[192, 168, 0, 1], [192, 168, 0, 2]].iter().enumerate() {
        assert_eq!(out(&mut nat, *h, 1000 + i as u16).0, Verdict::ToWan);
    }
    assert_eq!(
        out(&mut nat, [192, 168, 0, 3], 1000).0,
        Verdict::Drop(DropReason::PoolExhausted)
    );
    let mut more = cfg.clone();
    more.pool.push("203.0.113.100/32".parse().unwrap());
    more.limits.blocks_per_subscriber = 2;
    let now = nat.now;
    nat.shards[0].reconfigure(&more, now).unwrap();
    let (v, src, _) = out(&mut nat, [192, 168, 0, 3], 1000);
    assert_eq!((v, src), (Verdict::ToWan, [203, 0, 113, 100]));
    assert_eq!(nat.shards[0].block_usage().len(), 2);
    assert_eq!(nat.shards[0].config().limits.blocks_per_subscriber, 2);
}

#[test]
fn reload_refuses_what_needs_a_restart_and_keeps_the_running_config() {
    let base = masquerade(1);
    type Edit = fn(&mut Config);
    let cases: Vec<(&str, Edit)> = vec![
        ("inside", |c| c.inside.push("10.0.0.0/8".parse().unwrap())),
        ("workers", |c| c.workers = 2),
        ("port_min", |c| c.port_min = 2048),
        ("block_size", |c| c.block_size = 256),
        ("max_sessions", |c| c.max_sessions = 8192),
        ("pool", |c| c.pool = vec!["203.0.113.6/32".parse().unwrap()]),
        ("timeouts.udp", |c| c.timeouts.udp = 60),
    ];
    for (key, change) in cases {
        let mut nat = Nat::new(&base);
        let mut cfg = base.clone();
        change(&mut cfg);
        let e = nat.shards[0].reconfigure(&cfg, Time(0)).unwrap_err();
        assert_eq!(e.key, key, "{e}");
        assert_eq!(nat.shards[0].config(), &base, "{key}: config kept");
    }
}

#[test]
fn snapshots_in_steps_match_the_full_walk() {
    let mut nat = Nat::new(&masquerade(1));
    for p in 0..50u16 {
        let h = if p % 2 == 0 { H1 } else { H2 };
        assert_eq!(out(&mut nat, h, 3000 + p).0, Verdict::ToWan);
    }
    let full = all_sessions(&nat);
    assert_eq!(full.len(), 50);
    let shard = &nat.shards[0];
    let mut stepped = Vec::new();
    let mut at = Some(0);
    let mut steps = 0;
    while let Some(from) = at {
        at = shard.sessions_in(from, 100, usize::MAX, |_| true, &mut stepped);
        steps += 1;
    }
    assert_eq!(stepped, full);
    assert_eq!(steps, 4096 / 100 + 1);
    // A filter and a limit.
    let h1 = u32::from_be_bytes(H1);
    let mut picked = Vec::new();
    assert_eq!(
        shard.sessions_in(0, 4096, 10, |s| s.inside.addr == h1, &mut picked),
        None
    );
    assert_eq!(picked.len(), 10);
    assert!(picked.iter().all(|s| s.inside.addr == h1));
    // Subscribers and their blocks.
    let subs: Vec<_> = shard.subscribers().collect();
    assert_eq!(subs.len(), 2);
    for s in &subs {
        assert_eq!(s.sessions, 25);
        assert_eq!(s.blocks.len(), 1);
        let (ext, lo, hi) = s.blocks[0];
        assert_eq!(ext, u32::from_be_bytes(OLD));
        for x in full.iter().filter(|x| x.inside.addr == s.addr) {
            assert!((lo..=hi).contains(&x.outside.port));
        }
    }
    assert_eq!(shard.session_count_by_proto()[..3], [0, 50, 0]);
    let pool: Prefix = "203.0.113.5/32".parse().unwrap();
    assert!(full.iter().all(|s| pool.contains(s.outside.addr)));
}

#[test]
fn flush_all_clears_every_table_and_the_shard_works_on() {
    let mut cfg = masquerade(2);
    cfg.pool = vec!["203.0.113.0/29".parse().unwrap()];
    let mut nat = Nat::new(&cfg);
    let hosts: Vec<[u8; 4]> = (1..=20).map(|i| [192, 168, 3, i]).collect();
    let mut first = Vec::new();
    for h in &hosts {
        for p in 0..10u16 {
            assert_eq!(out(&mut nat, *h, 2000 + p).0, Verdict::ToWan);
            first.push((*h, 2000 + p));
        }
    }
    // Some blocks released and held, to check the hold goes too.
    nat.advance(400);
    assert_eq!(nat.sessions(), 0);
    for (h, p) in &first[..50] {
        assert_eq!(out(&mut nat, *h, *p).0, Verdict::ToWan);
    }
    let now = nat.now;
    let removed: usize = nat.shards.iter_mut().map(|s| s.flush_all(now)).sum();
    assert_eq!(removed, 50);
    let mut released = 0;
    for s in &mut nat.shards {
        assert_eq!(s.session_count(), 0);
        assert_eq!(s.subscriber_count(), 0);
        assert_eq!(s.session_count(), 0);
        assert_eq!(s.subscribers().count(), 0);
        assert!(s.sessions().next().is_none());
        assert_eq!(s.next_expiry(), None, "no timer and no hold left");
        for (_, used, free) in s.block_usage() {
            assert_eq!(used, 0);
            assert!(free > 0);
        }
        while let Some(e) = s.pop_event() {
            if matches!(e, masq_core::Event::BlockReleased { .. }) {
                released += 1;
            }
        }
    }
    assert!(
        released >= 5,
        "a release event per block in use ({released})"
    );
    // Every flow can be made again, and replies find it.
    for (h, p) in &first {
        assert_eq!(out(&mut nat, *h, *p).0, Verdict::ToWan);
    }
    assert_eq!(nat.sessions(), first.len());
    for s in all_sessions(&nat) {
        let ext = fmt_addr(s.outside.addr).octets();
        assert_eq!(reply(&mut nat, ext, s.outside.port), Verdict::ToLan);
    }
}
