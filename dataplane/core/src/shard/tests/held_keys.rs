//! The address-only keys a shard reports to the XDP program: held while a
//! session of the key lives on an own address (only there), freed when
//! its last one goes, reported by the key's one owner, and resynced
//! whole after a flush or an overflow.

use super::*;
use crate::config::OwnAddrs;
use crate::hash::{address_only_key, key_owner};
use crate::shard::KEY_CHANGES;

const GRE: u8 = 47;
const ESP: u8 = 50;
const BODY: [u8; 8] = [0, 0, 0x08, 0x00, 1, 2, 3, 4];
/// 203.0.113.2 and .3: a two-address pool.
const EXT_A: u32 = 0xcb00_7102;
const EXT_B: u32 = 0xcb00_7103;

fn own(own: OwnAddrs) -> Config {
    Config {
        pool: vec![Prefix::new(EXT_A, 31).unwrap()],
        own_addrs: own,
        ..cfg()
    }
}

/// Every (key, held) the next drain reports.
fn drain(s: &mut Shard) -> Vec<(u16, bool)> {
    let mut v = Vec::new();
    s.drain_address_only_keys(|k, held| v.push((k, held)));
    v
}

/// The external address `host`'s packet of `proto` to `remote` left from.
fn out(s: &mut Shard, host: u32, proto: u8, remote: u32) -> u32 {
    let (v, f) = run(s, lan(host, remote).raw(proto, &BODY), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    be32(&f, 26)
}

#[test]
fn a_key_is_held_while_a_session_on_an_own_address_lives() {
    let mut s = shard(&own(OwnAddrs::Pool));
    // The first drain is a full resync: every key, none held.
    let first = drain(&mut s);
    assert_eq!(first.len(), 1 << 16);
    assert!(first.iter().all(|&(_, held)| !held));
    assert_eq!(drain(&mut s), []);
    let (gre, esp) = (address_only_key(GRE, REMOTE), address_only_key(ESP, REMOTE));
    assert_ne!(gre, esp);
    // Two subscribers, one remote: one session on each pool address, one
    // key held twice and reported once.
    let a = out(&mut s, HOST, GRE, REMOTE);
    assert_eq!(drain(&mut s), [(gre, true)]);
    let b = out(&mut s, HOST2, GRE, REMOTE);
    assert_ne!(a, b);
    out(&mut s, HOST, ESP, REMOTE);
    assert_eq!(drain(&mut s), [(esp, true)]);
    assert!(s.holds_address_only_key(gre) && s.holds_address_only_key(esp));
    // TCP, UDP and ICMP mappings are not address-only keys.
    run(&mut s, lan(HOST, REMOTE).udp(40000, 53, b""), Side::Lan, 0);
    assert_eq!(drain(&mut s), []);
    // One of the two GRE sessions goes: the key stays held.
    assert_eq!(
        s.flush(at(1), |x| x.proto == GRE && x.inside.addr == HOST),
        1
    );
    assert_eq!(drain(&mut s), []);
    assert!(s.holds_address_only_key(gre));
    assert_eq!(s.flush(at(1), |x| x.proto == GRE), 1);
    assert_eq!(drain(&mut s), [(gre, false)]);
    assert!(!s.holds_address_only_key(gre));
    // Expiry frees the last one (timeouts.other).
    s.expire(at(1000), usize::MAX);
    assert_eq!(drain(&mut s), [(esp, false)]);
    assert!(!s.holds_address_only_key(esp));
}

#[test]
fn sessions_on_addresses_that_are_not_the_boxs_hold_no_key() {
    let gre = address_only_key(GRE, REMOTE);
    for (o, want) in [
        (OwnAddrs::None, [false, false]),
        (OwnAddrs::Listed(vec![EXT_A]), [true, false]),
        (OwnAddrs::Listed(vec![EXT_B]), [false, true]),
    ] {
        let mut s = shard(&own(o.clone()));
        drain(&mut s);
        let ext = out(&mut s, HOST, GRE, REMOTE);
        let held = want[usize::from(ext == EXT_B)];
        assert_eq!(
            s.holds_address_only_key(gre),
            held,
            "{o:?}, session on {ext:#x}"
        );
        let want_drain: &[(u16, bool)] = if held { &[(gre, true)] } else { &[] };
        assert_eq!(drain(&mut s), want_drain, "{o:?}");
        s.expire(at(1000), usize::MAX);
        let want_drain: &[(u16, bool)] = if held { &[(gre, false)] } else { &[] };
        assert_eq!(drain(&mut s), want_drain, "{o:?}");
    }
}

#[test]
fn each_key_is_reported_by_its_one_owner() {
    let mut c = own(OwnAddrs::Pool);
    c.workers = 4;
    let mut shards = shards(&c);
    // The resyncs of the four shards cover every key exactly once, each
    // on its owner.
    let mut seen = vec![0u8; 1 << 16];
    for (i, s) in shards.iter_mut().enumerate() {
        for (k, held) in drain(s) {
            assert!(!held);
            assert_eq!(usize::from(key_owner(k, 4)), i);
            seen[usize::from(k)] += 1;
        }
    }
    assert!(seen.iter().all(|&n| n == 1));
    // A session's key is held, and reported, by the shard that owns it.
    for r in 0..16u32 {
        let remote = REMOTE + r;
        let k = address_only_key(GRE, remote);
        let owner = usize::from(key_owner(k, 4));
        assert_eq!(
            usize::from(crate::address_only_owner(GRE, remote, 4)),
            owner
        );
        let v = run(
            &mut shards[owner],
            lan(HOST, remote).raw(GRE, &BODY),
            Side::Lan,
            0,
        )
        .0;
        assert_eq!(v, Verdict::ToWan);
        for (i, s) in shards.iter_mut().enumerate() {
            let got = drain(s);
            if i == owner {
                assert_eq!(got, [(k, true)]);
            } else {
                assert_eq!(got, [], "shard {i}");
            }
        }
    }
}

#[test]
fn a_flush_or_an_overflow_resyncs_every_key() {
    let mut c = Config {
        max_sessions: 4096,
        own_addrs: OwnAddrs::Pool,
        ..cfg()
    };
    c.limits.sessions_per_subscriber = 4096;
    let mut s = shard(&c);
    drain(&mut s);
    let n = KEY_CHANGES as u32 + 10;
    let mut keys: Vec<u16> = (0..n).map(|r| address_only_key(GRE, REMOTE + r)).collect();
    for r in 0..n {
        out(&mut s, HOST, GRE, REMOTE + r);
    }
    keys.sort_unstable();
    keys.dedup();
    let all = drain(&mut s);
    assert_eq!(all.len(), 1 << 16, "a full resync");
    let held: Vec<u16> = all.iter().filter(|&&(_, h)| h).map(|&(k, _)| k).collect();
    assert_eq!(held, keys);
    assert_eq!(drain(&mut s), []);
    s.flush_all(at(1));
    let all = drain(&mut s);
    assert_eq!(all.len(), 1 << 16);
    assert!(all.iter().all(|&(_, held)| !held));
}
