//! Deterministic NAT (RFC 7422): the external address and port block of
//! every inside address follow from the configuration alone.
//!
//! Inside addresses are numbered in the order of the `inside` prefixes
//! (the first address of the first prefix is subscriber 0). With `k`
//! blocks of `block_size` ports per external address, subscriber `i` gets
//! block `i mod k` of external address `i / k` (pool addresses numbered
//! in the order of the `pool` prefixes). Block `b` is owned by shard
//! `b mod shards`, as in dynamic mode, so a subscriber's owner is the
//! owner of its block. Nothing needs logging per session: the lookup in
//! either direction is arithmetic ([`inside_to_outside`],
//! [`outside_to_inside`]).
//!
//! This module reads a [`Config`]; the configuration's own check that a
//! deterministic pool is large enough lives in `config`, so nothing there
//! calls back here.

use crate::addr::{fmt_addr, Prefix};
use crate::config::Config;

/// Position of `a` in the concatenated prefixes, if it is in one.
fn index_in(prefixes: &[Prefix], a: u32) -> Option<u64> {
    let mut base = 0u64;
    for p in prefixes {
        if p.contains(a) {
            return Some(base + u64::from(a - p.addr()));
        }
        base += p.size();
    }
    None
}

/// Address number `i` of the concatenated prefixes.
fn nth(prefixes: &[Prefix], mut i: u64) -> Option<u32> {
    for p in prefixes {
        if i < p.size() {
            return Some(p.addr() + i as u32);
        }
        i -= p.size();
    }
    None
}

/// The fixed place of one subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// Inside address.
    pub inside: u32,
    /// External address.
    pub external: u32,
    /// Index of the external address in the pool.
    pub addr_idx: usize,
    /// Block number on that address.
    pub block: u32,
    /// First port of the block.
    pub first_port: u16,
    /// Last port of the block (inclusive).
    pub last_port: u16,
}

impl core::fmt::Display for Place {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "inside {} -> external {} ports {}-{}",
            fmt_addr(self.inside),
            fmt_addr(self.external),
            self.first_port,
            self.last_port
        )
    }
}

fn place(cfg: &Config, inside: u32, i: u64) -> Option<Place> {
    let k = u64::from(cfg.blocks_per_addr());
    if k == 0 {
        return None;
    }
    let addr_idx = i / k;
    let block = (i % k) as u32;
    let external = nth(&cfg.pool, addr_idx)?;
    let first_port = (u32::from(cfg.port_min) + block * u32::from(cfg.block_size)) as u16;
    Some(Place {
        inside,
        external,
        addr_idx: addr_idx as usize,
        block,
        first_port,
        last_port: first_port + (cfg.block_size - 1),
    })
}

/// Where inside address `a` is translated to; `None` when `a` is not in
/// an inside prefix (or the configuration has no room for it, which
/// [`Config::validate`] refuses).
pub fn inside_to_outside(cfg: &Config, a: u32) -> Option<Place> {
    place(cfg, a, index_in(&cfg.inside, a)?)
}

/// Which subscriber holds external `addr:port`; `None` when the address
/// is not in the pool, the port in no block, or the block belongs to no
/// inside address.
pub fn outside_to_inside(cfg: &Config, addr: u32, port: u16) -> Option<Place> {
    let a = index_in(&cfg.pool, addr)?;
    let off = port.checked_sub(cfg.port_min)?;
    let b = u32::from(off) / u32::from(cfg.block_size);
    let k = cfg.blocks_per_addr();
    if b >= k {
        return None;
    }
    let i = a * u64::from(k) + u64::from(b);
    let inside = nth(&cfg.inside, i)?;
    place(cfg, inside, i)
}

/// The shard that owns inside address `a` in deterministic mode.
pub(crate) fn owner(cfg: &Config, a: u32) -> Option<u16> {
    let i = index_in(&cfg.inside, a)?;
    let k = u64::from(cfg.blocks_per_addr());
    Some(((i % k) % u64::from(cfg.workers)) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(inside: &[&str], pool: &[&str], ports: u16) -> Config {
        Config {
            inside: inside.iter().map(|s| s.parse().unwrap()).collect(),
            pool: pool.iter().map(|s| s.parse().unwrap()).collect(),
            block_size: ports,
            deterministic: true,
            limits: crate::Limits {
                blocks_per_subscriber: 1,
                ..crate::Limits::default()
            },
            ..Config::default()
        }
    }

    #[test]
    fn both_directions_agree_over_every_subscriber() {
        // 2 inside prefixes (256 + 64 addresses), 63 blocks of 1024 ports
        // per address: 320 subscribers on 6 external addresses.
        let c = cfg(
            &["100.64.0.0/24", "10.9.0.0/26"],
            &["203.0.113.0/30", "198.51.100.8/30"],
            1024,
        );
        c.validate().unwrap();
        assert_eq!(c.blocks_per_addr(), 63);
        let mut seen = std::collections::HashSet::new();
        for i in 0..320u64 {
            let a = nth(&c.inside, i).unwrap();
            let p = inside_to_outside(&c, a).unwrap();
            assert!(seen.insert((p.external, p.first_port)), "block given twice");
            assert_eq!(p.last_port - p.first_port, 1023);
            for port in [p.first_port, p.first_port + 511, p.last_port] {
                assert_eq!(outside_to_inside(&c, p.external, port), Some(p));
            }
        }
        // Subscriber 63 is the first of the second address.
        let p = inside_to_outside(&c, 0x6440_003f).unwrap();
        assert_eq!((p.external, p.first_port), (0xcb00_7101, 1024));
        // The 257th subscriber is in the second inside prefix.
        let p = inside_to_outside(&c, 0x0a09_0000).unwrap();
        assert_eq!(p.addr_idx, 4);
        assert_eq!(p.external, 0xc633_6408);
        // Outside the prefixes, below port_min, or a block no one has.
        assert_eq!(inside_to_outside(&c, 0x0a09_0040), None);
        assert_eq!(outside_to_inside(&c, 0xcb00_7100, 1023), None);
        assert_eq!(outside_to_inside(&c, 0xc633_640b, 1024 + 5 * 1024), None);
        assert_eq!(outside_to_inside(&c, 0x0101_0101, 2000), None);
    }

    #[test]
    fn pool_too_small_is_refused_with_numbers() {
        let c = cfg(&["100.64.0.0/16"], &["203.0.113.0/28"], 2048);
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "deterministic");
        assert!(e.reason.contains("65536 inside addresses"), "{e}");
        let mut c = cfg(&["100.64.0.0/24"], &["203.0.113.0/28"], 2048);
        c.limits.blocks_per_subscriber = 2;
        assert_eq!(c.validate().unwrap_err().key, "deterministic");
    }

    #[test]
    fn owner_follows_the_block() {
        let mut c = cfg(&["100.64.0.0/24"], &["203.0.113.0/28"], 2048);
        c.workers = 4;
        let map = crate::BlockMap {
            shards: 4,
            port_min: c.port_min,
            block_size: c.block_size,
            blocks_per_addr: c.blocks_per_addr(),
        };
        for a in 0x6440_0000..0x6440_0100u32 {
            let p = inside_to_outside(&c, a).unwrap();
            assert_eq!(owner(&c, a), map.owner(p.first_port));
        }
    }
}
