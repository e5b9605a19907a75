//! Port allocation at exhaustion: a subscriber is refused only when none
//! of its blocks has a free port and it can get no other block.

use masq_core::{Config, DropReason, Side, Verdict};
use masq_tests::check::{checksums, seen};
use masq_tests::frames::{self, From};
use masq_tests::harness::Nat;

const A: [u8; 4] = [192, 168, 1, 10];
const B: [u8; 4] = [192, 168, 1, 11];
const R: [u8; 4] = [198, 51, 100, 1];

/// One pool address with two blocks of four ports (1024-1027, 1028-1031),
/// up to eight blocks per subscriber.
fn two_blocks() -> Config {
    Config {
        inside: vec!["192.168.0.0/16".parse().unwrap()],
        pool: vec!["203.0.113.1/32".parse().unwrap()],
        port_min: 1024,
        port_max: 1031,
        block_size: 4,
        max_sessions: 64,
        max_subscribers: 16,
        event_queue: 64,
        ..Config::default()
    }
}

fn udp(nat: &mut Nat, src: [u8; 4], sport: u16) -> Result<u16, Verdict> {
    let mut f = frames::udp(From::Lan, src, sport, R, 53, b"x");
    match nat.send(&mut f, Side::Lan) {
        Verdict::ToWan => {
            checksums(&f).unwrap();
            Ok(seen(&f).sport)
        }
        v => Err(v),
    }
}

#[test]
fn an_exhausted_pool_leaves_a_subscriber_the_other_parity_of_its_block() {
    let mut nat = Nat::new(&two_blocks());
    // A and B take the pool's two blocks.
    let a0 = udp(&mut nat, A, 10).unwrap();
    udp(&mut nat, B, 10).unwrap();
    // A's even ports run out; it may hold more blocks but the pool has none.
    let a1 = udp(&mut nat, A, 12).unwrap();
    assert_eq!((a0 % 2, a1 % 2), (0, 0), "parity kept while it can be");
    // Its block's two odd ports are still free: they are used rather than
    // refusing the flow.
    let a2 = udp(&mut nat, A, 14).expect("an odd port of A's own block");
    let a3 = udp(&mut nat, A, 16).expect("the other odd port of A's own block");
    let mut ports = vec![a0, a1, a2, a3];
    ports.sort_unstable();
    assert_eq!(
        ports[0] / 4,
        ports[3] / 4,
        "all four from one block: {ports:?}"
    );
    ports.dedup();
    assert_eq!(ports.len(), 4, "four distinct ports");
    // Now the block is full and the pool has no other: refused as pool
    // exhaustion (A holds fewer blocks than its limit).
    assert_eq!(
        udp(&mut nat, A, 18),
        Err(Verdict::Drop(DropReason::PoolExhausted))
    );
    assert_eq!(nat.drops(DropReason::PoolExhausted), 1);
    // B is untouched.
    udp(&mut nat, B, 11).unwrap();
}
