//! The box and the NAT on the same address: the ports the box's own stack
//! keeps (`Config::kernel_ports`, blocks reserved on the box's pool
//! addresses), and the keys the NAT holds there, which the I/O layer
//! writes into the tables the XDP program reads. A box pings with any
//! identifier and runs tunnels (GRE, ESP, ...) to any remote, so no range
//! can part them from the NAT's: the shard counts what it holds per key
//! and reports each key that became held or free.
//!
//! * ICMP echo identifiers: one per echo mapping on a pool address (an
//!   echo reply whose identifier the NAT does not hold is the box's).
//! * Address-only keys ([`crate::hash::address_only_key`] of protocol and
//!   remote): one per address-only session on an own address (a packet of
//!   such a protocol whose key the NAT does not hold is the box's).
//!
//! Each key has one writer: an identifier lies in one shard's blocks, an
//! address-only key has one owner ([`crate::hash::key_owner`]).

use super::Shard;
use crate::hash::{address_only_key, key_owner};

/// Changes a table keeps between two drains; past that, the next drain
/// reports every key of the shard.
pub const KEY_CHANGES: usize = 1024;

/// What is held per 16-bit key, and the keys changed since the last drain.
#[derive(Debug)]
pub(super) struct HeldKeys {
    count: Vec<u32>,
    changes: Vec<u16>,
    /// More changes than `changes` holds (or a flush): resync everything.
    overflow: bool,
}

impl HeldKeys {
    /// No key held; the first drain reports every one (so a table left by
    /// an earlier run is cleared).
    pub(super) fn new() -> HeldKeys {
        HeldKeys {
            count: vec![0; 1 << 16],
            changes: Vec::with_capacity(KEY_CHANGES),
            overflow: true,
        }
    }

    fn note(&mut self, key: u16) {
        if self.changes.len() < KEY_CHANGES {
            self.changes.push(key);
        } else {
            self.overflow = true;
        }
    }

    /// One more holder of `key`.
    pub(super) fn hold(&mut self, key: u16) {
        let c = &mut self.count[usize::from(key)];
        *c += 1;
        if *c == 1 {
            self.note(key);
        }
    }

    /// A holder of `key` went.
    pub(super) fn release(&mut self, key: u16) {
        let c = &mut self.count[usize::from(key)];
        *c = c.saturating_sub(1);
        if *c == 0 {
            self.note(key);
        }
    }

    /// Every holder went at once.
    pub(super) fn clear(&mut self) {
        self.count.fill(0);
        self.changes.clear();
        self.overflow = true;
    }

    pub(super) fn held(&self, key: u16) -> bool {
        self.count[usize::from(key)] != 0
    }

    /// `f(key, held)` for each key changed since the last drain, or after
    /// an overflow or a flush for every key of `all` (the shard's).
    fn drain(&mut self, all: impl Iterator<Item = u16>, mut f: impl FnMut(u16, bool)) {
        if self.overflow {
            self.overflow = false;
            self.changes.clear();
            for k in all {
                f(k, self.held(k));
            }
            return;
        }
        for &k in &self.changes {
            f(k, self.held(k));
        }
        self.changes.clear();
    }
}

impl Shard {
    /// Whether `port` of pool address index `addr_idx` is one the box's
    /// own stack keeps (`Config::kernel_ports` on an own address).
    #[inline]
    pub(super) fn is_kernel_port(&self, addr_idx: usize, port: u16) -> bool {
        match self.cfg.kernel_ports {
            Some((lo, hi)) if (lo..=hi).contains(&port) => self
                .pool_addrs
                .get(addr_idx)
                .is_some_and(|&a| self.cfg.is_own(a)),
            _ => false,
        }
    }

    /// Reserves, on every own pool address, the blocks that overlap
    /// `Config::kernel_ports` (a block overlapping partly is reserved
    /// whole): no subscriber gets a port or identifier there.
    pub(super) fn reserve_kernel_blocks(&mut self) {
        let Some((first, last)) = self.cfg.kernel_blocks() else {
            return;
        };
        let map = *self.blocks.map();
        for (a, &addr) in self.pool_addrs.iter().enumerate() {
            if !self.cfg.is_own(addr) {
                continue;
            }
            for b in first..=last {
                self.blocks.reserve(a, map.first_port(b));
            }
        }
    }

    /// Whether the NAT holds an echo mapping with identifier `id` on a
    /// pool address (of this shard's blocks).
    #[cfg(test)]
    pub(crate) fn holds_echo_id(&self, id: u16) -> bool {
        self.echo.held(id)
    }

    /// Drains the changes of the echo identifiers this shard holds:
    /// `f(id, held)` for each identifier that became held or free since
    /// the last drain, or, after more changes than [`KEY_CHANGES`] or a
    /// flush, for every identifier of this shard's blocks. Each
    /// identifier belongs to one shard's blocks, so each has one writer.
    pub fn drain_echo_ids(&mut self, f: impl FnMut(u16, bool)) {
        let map = *self.blocks.map();
        let ids = (u32::from(self.id)..map.blocks_per_addr)
            .step_by(usize::from(map.shards))
            .flat_map(move |b| {
                let first = map.first_port(b);
                first..=first + (map.block_size - 1)
            });
        self.echo.drain(ids, f);
    }

    /// Whether an address-only session of this shard on an own address
    /// has key `key` ([`crate::hash::address_only_key`]).
    #[cfg(test)]
    pub(crate) fn holds_address_only_key(&self, key: u16) -> bool {
        self.address_only_keys.held(key)
    }

    /// One more (`held`) or one less address-only session `(proto,
    /// remote)` on external address `ext`; only own addresses count.
    pub(super) fn note_address_only(&mut self, proto: u8, ext: u32, remote: u32, held: bool) {
        if !self.cfg.is_own(ext) {
            return;
        }
        let k = address_only_key(proto, remote);
        if held {
            self.address_only_keys.hold(k);
        } else {
            self.address_only_keys.release(k);
        }
    }

    /// Drains the changes of the address-only keys this shard holds, as
    /// [`Shard::drain_echo_ids`] does for identifiers; a resync reports
    /// every key this shard owns ([`crate::hash::key_owner`]), so each
    /// key has one writer.
    pub fn drain_address_only_keys(&mut self, f: impl FnMut(u16, bool)) {
        let (id, workers) = (self.id, self.cfg.workers);
        let mine = (0..=u16::MAX).filter(move |&k| key_owner(k, workers) == id);
        self.address_only_keys.drain(mine, f);
    }
}
