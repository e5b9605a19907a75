//! Subscribers and port blocks: port parity, identifiers of either
//! parity, the fallback to the other parity, paired pooling (every block
//! of a subscriber on one address), blocks held after release and only
//! then given again, deterministic NAT's fixed block, and subscriber
//! records made and given back.

use super::*;
use crate::event::Exhaustion;
use crate::shard::SubscriberInfo;

/// The source port of the frame a flow from HOST's `port` went out with.
fn ext_port(s: &mut Shard, port: u16, secs: u64) -> Result<(u32, u16), Verdict> {
    match run(s, lan(HOST, REMOTE).udp(port, 53, b""), Side::Lan, secs) {
        (Verdict::ToWan, f) => Ok((be32(&f, 26), be16(&f, 34))),
        (v, _) => Err(v),
    }
}

#[test]
fn the_inside_port_parity_is_kept() {
    let mut s = shard(&cfg());
    let got: Vec<u16> = [40000, 40001, 40002, 40003, 7, 8]
        .into_iter()
        .map(|p| ext_port(&mut s, p, 0).unwrap().1)
        .collect();
    assert_eq!(got, [1024, 1025, 1026, 1027, 1029, 1028]);
    // Identifiers take either parity.
    for (id, want) in [(2, 1024), (4, 1025)] {
        let (v, f) = run(&mut s, lan(HOST, REMOTE).echo(8, id, b""), Side::Lan, 0);
        assert_eq!(v, Verdict::ToWan);
        assert_eq!(be16(&f, 38), want, "identifier {id}");
    }
}

#[test]
fn the_other_parity_only_when_no_block_is_left() {
    // Blocks of two ports (one even, one odd).
    let mut c = Config {
        block_size: 2,
        port_max: 1031,
        ..cfg()
    };
    c.limits.blocks_per_subscriber = 1;
    let mut s = shard(&c);
    assert_eq!(ext_port(&mut s, 40000, 0), Ok((EXT, 1024)));
    assert_eq!(ext_port(&mut s, 40002, 0), Ok((EXT, 1025)));
    let v = ext_port(&mut s, 40004, 0);
    assert_eq!(v, Err(Verdict::Drop(DropReason::PortsExhausted)));
    // With room for a second block, a second block of the right parity.
    c.limits.blocks_per_subscriber = 2;
    let mut s = shard(&c);
    assert_eq!(ext_port(&mut s, 40000, 0), Ok((EXT, 1024)));
    assert_eq!(ext_port(&mut s, 40002, 0), Ok((EXT, 1026)));
    assert_eq!(ext_port(&mut s, 40004, 0), Ok((EXT, 1027)));
    assert_eq!(s.counters().blocks_allocated, 2);
}

#[test]
fn every_block_of_a_subscriber_is_on_its_paired_address() {
    let mut c = Config {
        pool: vec![Prefix::new(0xcb00_7100, 29).unwrap()],
        block_size: 2,
        port_max: 1031, // four blocks per address
        ..cfg()
    };
    c.limits.blocks_per_subscriber = 5;
    let mut s = shard(&c);
    let (addr, _) = ext_port(&mut s, 40000, 0).unwrap();
    for p in [40002, 40004, 40006] {
        assert_eq!(ext_port(&mut s, p, 0).unwrap().0, addr, "port {p}");
    }
    let si = s.find_sub(HOST).unwrap() as usize;
    assert_eq!(s.pool_addrs[s.subs[si].ext as usize], addr);
    let subs: Vec<SubscriberInfo> = s.subscribers().collect();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].blocks.len(), 4);
    assert!(subs[0].blocks.iter().all(|b| b.0 == addr));
    // Its address has no block left: odd ports of its own blocks, never
    // a block on another address.
    for p in [40008, 40010, 40012, 40014] {
        let (a, port) = ext_port(&mut s, p, 0).unwrap();
        assert_eq!(a, addr);
        assert_eq!(port % 2, 1);
    }
    let v = ext_port(&mut s, 40016, 0);
    assert_eq!(v, Err(Verdict::Drop(DropReason::PoolExhausted)));
    assert_eq!(s.subscribers().next().unwrap().blocks.len(), 4);
    // The log says its ports ran out, not every address.
    let last = events(&mut s).pop().unwrap();
    assert!(
        matches!(last, Event::Exhausted { what: Exhaustion::Ports, external, .. } if external == addr),
        "{last:?}"
    );
}

#[test]
fn a_released_block_is_held_then_free() {
    let c = cfg();
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    assert_eq!(s.block_usage(), [(EXT, 1, 125)]);
    events(&mut s);
    assert_eq!(s.expire(at(300), usize::MAX), 1);
    assert_eq!(s.counters().blocks_released, 1);
    let ev = events(&mut s);
    assert_eq!(
        ev.last(),
        Some(&Event::BlockReleased {
            subscriber: HOST,
            external: EXT,
            first_port: 1024,
            last_port: 1535,
            at: sec(300),
        })
    );
    assert_eq!(
        s.block_usage(),
        [(EXT, 0, 125)],
        "held: neither used nor free"
    );
    assert_eq!(s.subscriber_count(), 0, "no session, no block: record gone");
    assert_eq!(
        s.next_expiry(),
        Some(at(300 + u64::from(c.timeouts.block_hold)))
    );
    s.expire(at(419), usize::MAX);
    assert_eq!(s.block_usage(), [(EXT, 0, 125)]);
    s.expire(at(420), usize::MAX);
    assert_eq!(s.block_usage(), [(EXT, 0, 126)]);
}

#[test]
fn a_held_block_goes_to_nobody_until_its_hold_ends() {
    let c = Config {
        port_max: 1535, // one block per address
        ..cfg()
    };
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    s.expire(at(300), usize::MAX);
    let other = |s: &mut Shard, secs| {
        let f = lan(HOST2, REMOTE).udp(6000, 53, b"");
        run(s, f, Side::Lan, secs)
    };
    let v = other(&mut s, 301).0;
    assert_eq!(v, Verdict::Drop(DropReason::PoolExhausted));
    s.expire(at(420), usize::MAX);
    let (v, f) = other(&mut s, 420);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(be16(&f, 34), 1024);
}

#[test]
fn deterministic_nat_uses_the_subscribers_fixed_block() {
    let c = deterministic_cfg();
    let mut s = shard(&c);
    // 192.168.1.10 is subscriber 10: block 10, ports 1044-1045.
    let place = crate::deterministic::inside_to_outside(&c, HOST).unwrap();
    assert_eq!((place.external, place.first_port), (EXT, 1044));
    assert_eq!(ext_port(&mut s, 40000, 0), Ok((EXT, 1044)));
    assert_eq!(ext_port(&mut s, 40002, 0), Ok((EXT, 1045)));
    let v = ext_port(&mut s, 40004, 0);
    assert_eq!(v, Err(Verdict::Drop(DropReason::PortsExhausted)));
    assert_eq!(s.block_usage(), [(EXT, 1, 15)]);
    // Released at once: no other subscriber can have it anyway.
    assert_eq!(s.expire(at(300), usize::MAX), 2);
    assert_eq!(s.block_usage(), [(EXT, 0, 16)]);
    assert_eq!(ext_port(&mut s, 40000, 301), Ok((EXT, 1044)));
}

#[test]
fn subscriber_records_are_made_once_and_given_back() {
    let mut s = shard(&cfg());
    let i = s.sub_for(HOST).unwrap();
    assert_eq!(s.sub_for(HOST), Ok(i));
    assert_eq!(s.find_sub(HOST), Some(i));
    assert_eq!(s.subscriber_count(), 1);
    let j = s.sub_for(HOST2).unwrap();
    assert_ne!(i, j);
    s.maybe_free_sub(i);
    assert_eq!(s.find_sub(HOST), None);
    assert_eq!(s.subscriber_count(), 1);
    assert_eq!(s.sub_for(0xc0a8_0199), Ok(i), "the freed record is reused");
    // A record with a session is kept.
    udp_session(&mut s, 0);
    let h = s.find_sub(HOST).unwrap();
    s.maybe_free_sub(h);
    assert_eq!(s.find_sub(HOST), Some(h));
}
