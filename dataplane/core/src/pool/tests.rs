//! Unit tests of the port blocks: their arithmetic, allocation by parity,
//! holds and release.

use super::*;

fn map(shards: u16, bs: u16) -> BlockMap {
    BlockMap {
        shards,
        port_min: 1024,
        block_size: bs,
        blocks_per_addr: (65536 - 1024) / u32::from(bs),
    }
}

#[test]
fn proto_slots_follow_protocol_all() {
    for (k, p) in crate::Protocol::ALL.iter().enumerate() {
        assert_eq!(proto_slot(p.number()), k, "{p}");
    }
}

#[test]
fn ownership_is_arithmetic() {
    let m = map(4, 512);
    assert_eq!(m.block_of(1023), None);
    assert_eq!(m.block_of(1024), Some(0));
    assert_eq!(m.block_of(1535), Some(0));
    assert_eq!(m.block_of(1536), Some(1));
    assert_eq!(m.block_of(65535), Some(125));
    assert_eq!(m.owner(1536), Some(1));
    assert_eq!(m.owner(1024 + 5 * 512), Some(1));
    // Every block is owned by exactly one shard, and each shard's local
    // numbering covers exactly its blocks.
    let shards: Vec<Blocks> = (0..4).map(|k| Blocks::new(m, k, 2, 1000, 120)).collect();
    for a in 0..2 {
        for b in 0..m.blocks_per_addr {
            let port = m.first_port(b);
            let owners: Vec<usize> = (0..4)
                .filter(|&k| shards[k].local(a, port).is_some())
                .collect();
            assert_eq!(owners, vec![m.owner(port).unwrap() as usize]);
            let k = owners[0];
            let l = shards[k].local(a, port).unwrap();
            assert_eq!(shards[k].first_port(l), port);
            assert_eq!(shards[k].addr_idx(l), a);
        }
    }
}

#[test]
fn ports_keep_parity_and_fill_the_block() {
    let mut b = Blocks::new(map(1, 100), 0, 1, 10, 120);
    let l = b.take(0, NONE).unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        let p = b.take_port(l, 17, 1).unwrap();
        assert_eq!(p % 2, 1);
        assert!(seen.insert(p));
        assert!((1024..1124).contains(&p));
    }
    assert_eq!(b.take_port(l, 17, 1), None, "all odd ports used");
    assert!(b.take_port(l, 17, 0).is_some());
    assert!(b.take_port(l, 6, 1).is_some(), "TCP has its own space");
    assert!(!b.free_port(l, 6, 1025));
}

#[test]
fn reset_all_frees_held_and_used_blocks() {
    let mut b = Blocks::new(map(1, 32256), 0, 2, 10, 120);
    let a0 = b.take(0, NONE).unwrap();
    let a1 = b.take(1, NONE).unwrap();
    let a0b = b.take(0, NONE).unwrap();
    let p = b.take_port(a0b, 17, 0).unwrap();
    b.release(a0, 10);
    b.release(a1, 11);
    assert_eq!(b.free_count(0), 0);
    b.reset_all();
    assert_eq!((b.free_count(0), b.free_count(1)), (2, 2));
    assert_eq!(b.in_use(), &[0, 0]);
    assert_eq!(b.next_hold_end(), None, "no hold left");
    // The bitmap of the block that was in use starts empty again.
    let l = b.take(0, NONE).unwrap();
    let l2 = b.take(0, NONE).unwrap();
    for l in [l, l2] {
        if b.first_port(l) == b.first_port(a0b) {
            assert_eq!(b.take_port(l, 17, 0), Some(p));
        }
    }
}

#[test]
fn added_addresses_and_arena_grow() {
    // Arena bound by the pool: one address of two blocks.
    let mut b = Blocks::new(map(1, 32256), 0, 1, 100, 120);
    assert!(b.take(0, NONE).is_some());
    assert!(b.take(0, NONE).is_some());
    b.add_addrs(2);
    assert_eq!(b.naddr(), 3);
    for a in 1..3 {
        let l = b.take(a, NONE).expect("a block on the new address");
        assert_eq!(b.addr_idx(l), a);
        assert!(b.take_port(l, 17, 0).is_some(), "its bitmap slot works");
    }
    // Arena bound by the limit: raising it makes room.
    let mut b = Blocks::new(map(1, 512), 0, 1, 1, 120);
    assert!(b.take(0, NONE).is_some());
    assert_eq!(b.take(0, NONE), None);
    b.set_max_in_use(2);
    assert!(b.take(0, NONE).is_some());
}

#[test]
fn reserved_and_specific_blocks() {
    let m = map(1, 512);
    let mut b = Blocks::new(m, 0, 1, 200, 120);
    b.reserve(0, 1024 + 3 * 512 + 7);
    let l3 = b.local(0, 1024 + 3 * 512).unwrap();
    let mut got = Vec::new();
    while let Some(l) = b.take(0, NONE) {
        got.push(l);
    }
    assert_eq!(got.len() as u32, m.blocks_per_addr - 1);
    assert!(!got.contains(&l3), "a reserved block is never handed out");
    b.reset_all();
    assert!((0..200).filter_map(|_| b.take(0, NONE)).all(|l| l != l3));
    // Deterministic: one particular block, freed without a hold.
    let mut b = Blocks::new(m, 0, 1, 200, 120);
    let l5 = b.local(0, 1024 + 5 * 512).unwrap();
    assert_eq!(b.take_specific(l5, NONE), Some(l5));
    assert_eq!(b.take_specific(l5, NONE), None, "already owned");
    let p = b.take_port(l5, 17, 0).unwrap();
    assert!(b.free_port(l5, 17, p));
    b.release_now(l5);
    assert_eq!(b.next_hold_end(), None);
    assert_eq!(b.take_specific(l5, NONE), Some(l5));
}

#[test]
fn freed_block_is_held() {
    let mut b = Blocks::new(map(1, 32256), 0, 1, 10, 120);
    let l0 = b.take(0, NONE).unwrap();
    let l1 = b.take(0, NONE).unwrap();
    assert_eq!(b.take(0, NONE), None, "two blocks per address");
    let p = b.take_port(l0, 6, 0).unwrap();
    assert!(b.free_port(l0, 6, p));
    b.release(l0, 1000);
    assert_eq!(b.next_hold_end(), Some(1120));
    b.expire_held(1119);
    assert_eq!(b.take(0, NONE), None, "held for 120 s");
    b.expire_held(1120);
    assert_eq!(b.take(0, NONE), Some(l0));
    assert_ne!(l0, l1);
}
