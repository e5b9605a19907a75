//! The box and the NAT on one address: blocks overlapping the kernel's
//! ports reserved on own addresses only (and kept across a new WAN
//! address and a flush), inbound traffic to those ports left to the box,
//! and the echo identifiers the shard reports held and free (changes,
//! the full resync after a flush or an overflow).

use super::*;
use crate::config::OwnAddrs;
use crate::shard::ECHO_CHANGES;

const NEW: u32 = 0xcb00_7164; // 203.0.113.100

/// Four blocks of 512 ports (1024-3071); the kernel keeps 1536-2100,
/// which overlaps blocks 1 (whole) and 2 (partly).
fn carved(own: OwnAddrs) -> Config {
    let mut c = Config {
        port_max: 3071,
        kernel_ports: Some((1536, 2100)),
        own_addrs: own,
        ..cfg()
    };
    c.limits.blocks_per_subscriber = 1;
    c
}

/// The (address, port) the first UDP flow of subscriber `host` gets.
fn first_port(s: &mut Shard, host: u32) -> Result<(u32, u16), Verdict> {
    match run(s, lan(host, REMOTE).udp(40000, 53, b""), Side::Lan, 0) {
        (Verdict::ToWan, f) => Ok((be32(&f, 26), be16(&f, 34))),
        (v, _) => Err(v),
    }
}

#[test]
fn blocks_overlapping_the_kernel_ports_are_never_handed_out() {
    assert_eq!(carved(OwnAddrs::Pool).kernel_blocks(), Some((1, 2)));
    let mut s = shard(&carved(OwnAddrs::Pool));
    assert_eq!(s.block_usage(), [(EXT, 0, 2)]);
    let hosts = [HOST, HOST2, HOST2 + 1];
    assert_eq!(first_port(&mut s, hosts[0]), Ok((EXT, 1024)));
    assert_eq!(first_port(&mut s, hosts[1]), Ok((EXT, 2560)));
    assert_eq!(
        first_port(&mut s, hosts[2]),
        Err(Verdict::Drop(DropReason::PoolExhausted))
    );
    // Every port of both blocks, and every identifier, stays outside.
    for p in 40001..40600u16 {
        for h in &hosts[..2] {
            let f = lan(*h, REMOTE).udp(p, 53, b"");
            if let (Verdict::ToWan, f) = run(&mut s, f, Side::Lan, 0) {
                assert!(!(1536..=2559).contains(&be16(&f, 34)));
            }
        }
    }
    // A flush and a new address keep the blocks reserved.
    s.flush_all(at(1));
    assert_eq!(s.block_usage(), [(EXT, 0, 2)]);
    s.set_external_address(Some(NEW), at(2)).unwrap();
    assert_eq!(s.block_usage(), [(NEW, 0, 2)]);
    assert_eq!(first_port(&mut s, hosts[0]), Ok((NEW, 1024)));
    assert_eq!(first_port(&mut s, hosts[1]), Ok((NEW, 2560)));
}

#[test]
fn only_own_addresses_are_carved() {
    let mut s = shard(&carved(OwnAddrs::None));
    assert_eq!(s.block_usage(), [(EXT, 0, 4)]);
    let mut s2 = shard(&carved(OwnAddrs::Listed(vec![NEW])));
    assert_eq!(s2.block_usage(), [(EXT, 0, 4)]);
    let s3 = shard(&carved(OwnAddrs::Listed(vec![EXT])));
    assert_eq!(s3.block_usage(), [(EXT, 0, 2)]);
    for s in [&mut s, &mut s2] {
        assert_eq!(first_port(s, HOST), Ok((EXT, 1024)));
        assert_eq!(first_port(s, HOST2), Ok((EXT, 1536)));
    }
    // No range: nothing reserved.
    let c = Config {
        kernel_ports: None,
        ..carved(OwnAddrs::Pool)
    };
    assert_eq!(shard(&c).block_usage(), [(EXT, 0, 4)]);
}

#[test]
fn inbound_to_a_kernel_port_is_the_boxs() {
    let mut s = shard(&carved(OwnAddrs::Pool));
    let v = run(&mut s, wan(REMOTE, EXT).udp(53, 1600, b""), Side::Wan, 0).0;
    assert_eq!(v, Verdict::Pass);
    // Past the range but in a reserved block: the NAT's, unmapped.
    let v = run(&mut s, wan(REMOTE, EXT).udp(53, 2200, b""), Side::Wan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    let mut s = shard(&carved(OwnAddrs::None));
    let v = run(&mut s, wan(REMOTE, EXT).udp(53, 1600, b""), Side::Wan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
}

/// Every (identifier, held) the next drain reports.
fn drain(s: &mut Shard) -> Vec<(u16, bool)> {
    let mut v = Vec::new();
    s.drain_echo_ids(|id, held| v.push((id, held)));
    v
}

#[test]
fn echo_identifiers_are_reported_held_and_free() {
    let mut s = shard(&cfg());
    // The first drain is a full resync: every identifier of the blocks.
    let first = drain(&mut s);
    assert_eq!(first.len(), 126 * 512);
    assert!(first.iter().all(|&(_, held)| !held));
    assert_eq!(drain(&mut s), []);
    let (v, f) = run(&mut s, lan(HOST, REMOTE).echo(8, 7, b""), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    let id = be16(&f, 38);
    // A second session of the same mapping changes nothing.
    run(&mut s, lan(HOST, REMOTE2).echo(8, 7, b""), Side::Lan, 0);
    assert_eq!(drain(&mut s), [(id, true)]);
    assert!(s.holds_echo_id(id));
    // UDP mappings are not echo identifiers.
    run(&mut s, lan(HOST, REMOTE).udp(40000, 53, b""), Side::Lan, 0);
    assert_eq!(drain(&mut s), []);
    s.expire(at(1000), usize::MAX);
    assert_eq!(drain(&mut s), [(id, false)]);
    assert!(!s.holds_echo_id(id));
}

#[test]
fn a_flush_or_an_overflow_resyncs_every_identifier() {
    let mut c = Config {
        max_sessions: 4096,
        ..cfg()
    };
    c.limits.blocks_per_subscriber = 8;
    let mut s = shard(&c);
    drain(&mut s);
    let n = ECHO_CHANGES + 10;
    for id in 0..n as u16 {
        let v = run(&mut s, lan(HOST, REMOTE).echo(8, id, b""), Side::Lan, 0).0;
        assert_eq!(v, Verdict::ToWan);
    }
    let all = drain(&mut s);
    assert_eq!(all.len(), 126 * 512, "a full resync");
    assert_eq!(all.iter().filter(|&&(_, held)| held).count(), n);
    assert_eq!(drain(&mut s), []);
    s.flush_all(at(1));
    let all = drain(&mut s);
    assert_eq!(all.len(), 126 * 512);
    assert!(all.iter().all(|&(_, held)| !held));
}
