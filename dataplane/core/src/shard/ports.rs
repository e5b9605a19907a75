//! Subscribers and their port blocks: the subscriber records, port
//! allocation (a port of the inside port's parity in one of the
//! subscriber's blocks, or a new block on its paired address; RFC 6888
//! REQ-3/4, RFC 4787 REQ-2/3), deterministic NAT's one fixed block per
//! subscriber (RFC 7422), and the return of ports and blocks.

use super::Shard;
use crate::counters::DropReason;
use crate::event::Event;
use crate::session::{Session, NONE};
use crate::wire::ipv4::PROTO_ICMP;

/// One subscriber: its sessions, its blocks and its paired address.
#[derive(Clone, Copy, Debug)]
pub(super) struct Subscriber {
    pub addr: u32,
    /// Index of its paired external address; NONE until its first block.
    pub ext: u32,
    pub sessions: u32,
    /// First of its blocks (linked through the block table).
    pub blocks: u32,
    pub nblocks: u16,
    /// Free-list link while unused.
    pub next_free: u32,
}

impl Subscriber {
    /// An unused record (its free-list link set by the caller).
    const FREE: Subscriber = Subscriber {
        addr: 0,
        ext: NONE,
        sessions: 0,
        blocks: NONE,
        nblocks: 0,
        next_free: NONE,
    };
}

/// `n` free subscriber records, linked in order into one free list.
pub(super) fn free_subscribers(n: usize) -> Vec<Subscriber> {
    let mut subs = vec![Subscriber::FREE; n];
    relink_subscribers(&mut subs);
    subs
}

/// Makes every subscriber record free, linked in order into one free list.
pub(super) fn relink_subscribers(subs: &mut [Subscriber]) {
    let n = subs.len();
    for (i, s) in subs.iter_mut().enumerate() {
        *s = Subscriber {
            next_free: if i + 1 < n { i as u32 + 1 } else { NONE },
            ..Subscriber::FREE
        };
    }
}

/// The parity class of ports a flow gets: the inside port's (RFC 4787
/// REQ-2 port parity), or either (2) for ICMP identifiers.
fn parity_of(proto: u8, in_port: u16) -> u8 {
    if proto == PROTO_ICMP {
        2
    } else {
        (in_port & 1) as u8
    }
}

impl Shard {
    /// The record of subscriber `addr`, if it has one.
    pub(super) fn find_sub(&self, addr: u32) -> Option<u32> {
        let subs = &self.subs;
        self.sub_index.find(self.hasher.subscriber(addr), |i| {
            subs[i as usize].addr == addr
        })
    }

    /// The record of subscriber `addr`, made when it has none.
    pub(super) fn sub_for(&mut self, addr: u32) -> Result<u32, DropReason> {
        if let Some(i) = self.find_sub(addr) {
            return Ok(i);
        }
        let i = self.sub_free;
        if i == NONE {
            return Err(DropReason::SubscriberTableFull);
        }
        if !self.sub_index.insert(self.hasher.subscriber(addr), i) {
            return Err(DropReason::SubscriberTableFull);
        }
        let s = &mut self.subs[i as usize];
        self.sub_free = s.next_free;
        *s = Subscriber {
            addr,
            ..Subscriber::FREE
        };
        self.subs_live += 1;
        self.subs_away += u32::from(self.owner_of(addr) != self.id);
        Ok(i)
    }

    /// Frees subscriber record `i` once it holds no session and no block.
    pub(super) fn maybe_free_sub(&mut self, i: u32) {
        let s = self.subs[i as usize];
        if s.sessions != 0 || s.nblocks != 0 {
            return;
        }
        let subs = &self.subs;
        let hasher = &self.hasher;
        self.sub_index.remove(hasher.subscriber(s.addr), i, |j| {
            hasher.subscriber(subs[j as usize].addr)
        });
        self.subs[i as usize] = Subscriber {
            next_free: self.sub_free,
            ..Subscriber::FREE
        };
        self.sub_free = i;
        self.subs_live -= 1;
        self.subs_away -= u32::from(self.owner_of(s.addr) != self.id);
    }

    /// The pool address indices in the order subscriber `addr` tries
    /// them: its paired address first (a hash of it modulo the pool
    /// size), then the next ones. The port path takes the first with a
    /// free block, the address-only path the first free for its
    /// (protocol, remote).
    pub(super) fn pool_order(&self, addr: u32) -> impl Iterator<Item = usize> {
        let n = self.pool_addrs.len();
        let start = match n {
            0 => 0,
            _ => (self.hasher.subscriber(addr) % n as u64) as usize,
        };
        (0..n).map(move |k| (start + k) % n)
    }

    /// Finds or makes room for a new mapping of subscriber `si`: a port of
    /// the inside port's parity in one of its blocks, or in a new block on
    /// its paired address.
    pub(super) fn alloc_port(
        &mut self,
        si: u32,
        proto: u8,
        in_port: u16,
        now: u32,
    ) -> Result<(u32, u16), DropReason> {
        if self.ext_down {
            return Err(DropReason::NoExternalAddress);
        }
        if self.cfg.deterministic {
            return self.alloc_port_deterministic(si, proto, in_port, now);
        }
        let parity = parity_of(proto, in_port);
        for pass in [parity, 2] {
            let mut b = self.subs[si as usize].blocks;
            while b != NONE {
                if let Some(p) = self.blocks.take_port(b, proto, pass) {
                    return Ok((self.pool_addrs[self.blocks.addr_idx(b)], p));
                }
                b = self.blocks.next_of(b);
            }
            if pass != parity {
                break;
            }
            let sub = self.subs[si as usize];
            if sub.nblocks >= self.cfg.limits.blocks_per_subscriber {
                continue;
            }
            let addr_idx = if sub.ext != NONE {
                sub.ext as usize
            } else {
                match self.pool_order(sub.addr).find(|&a| self.blocks.has_free(a)) {
                    Some(a) => a,
                    // No block left: the other parity of its own blocks.
                    None => continue,
                }
            };
            let Some(local) = self.blocks.take(addr_idx, sub.blocks) else {
                continue;
            };
            self.give_block(si, local, addr_idx, now);
            if let Some(p) = self.blocks.take_port(local, proto, parity) {
                return Ok((self.pool_addrs[addr_idx], p));
            }
        }
        if self.subs[si as usize].nblocks >= self.cfg.limits.blocks_per_subscriber {
            Err(DropReason::PortsExhausted)
        } else {
            Err(DropReason::PoolExhausted)
        }
    }

    /// Makes block `local` on pool address `addr_idx`, just taken and
    /// linked before the subscriber's others, the first of subscriber
    /// `si`'s blocks, and logs it.
    pub(super) fn give_block(&mut self, si: u32, local: u32, addr_idx: usize, now: u32) {
        let s = &mut self.subs[si as usize];
        s.blocks = local;
        s.nblocks += 1;
        s.ext = addr_idx as u32;
        let subscriber = s.addr;
        self.counters.blocks_allocated += 1;
        let e = Event::BlockAllocated {
            subscriber,
            external: self.pool_addrs[addr_idx],
            first_port: self.blocks.first_port(local),
            last_port: self.blocks.last_port(local),
            at: now,
        };
        self.push_event(e);
    }

    /// Deterministic NAT: a port of the subscriber's one fixed block.
    fn alloc_port_deterministic(
        &mut self,
        si: u32,
        proto: u8,
        in_port: u16,
        now: u32,
    ) -> Result<(u32, u16), DropReason> {
        let sub = self.subs[si as usize];
        let place = crate::deterministic::inside_to_outside(&self.cfg, sub.addr)
            .ok_or(DropReason::PoolExhausted)?;
        let local = self
            .blocks
            .local(place.addr_idx, place.first_port)
            .ok_or(DropReason::PoolExhausted)?;
        if sub.nblocks == 0 {
            self.blocks
                .take_specific(local, NONE)
                .ok_or(DropReason::PoolExhausted)?;
            self.give_block(si, local, place.addr_idx, now);
        }
        let parity = parity_of(proto, in_port);
        [parity, 2]
            .into_iter()
            .find_map(|p| self.blocks.take_port(local, proto, p))
            .map(|port| (place.external, port))
            .ok_or(DropReason::PortsExhausted)
    }

    /// Gives back the port of a mapping whose last session went; a block
    /// left empty is unlinked from its subscriber and held (or, for
    /// deterministic NAT, free at once).
    pub(super) fn free_mapping_port(&mut self, s: &Session, now: u32) {
        let Some(a) = self.pool_index(s.ext_addr) else {
            return;
        };
        if self.is_reserved(a, s.ext_port) {
            return;
        }
        let Some(local) = self.blocks.local(a, s.ext_port) else {
            return;
        };
        if !self.blocks.free_port(local, s.proto, s.ext_port) {
            return;
        }
        // The block is empty: unlink it from its subscriber and hold it.
        let sub = &mut self.subs[s.sub as usize];
        if sub.blocks == local {
            sub.blocks = self.blocks.next_of(local);
        } else {
            let mut b = sub.blocks;
            while b != NONE {
                let n = self.blocks.next_of(b);
                if n == local {
                    self.blocks.set_next(b, self.blocks.next_of(local));
                    break;
                }
                b = n;
            }
        }
        sub.nblocks -= 1;
        let subscriber = sub.addr;
        let e = Event::BlockReleased {
            subscriber,
            external: s.ext_addr,
            first_port: self.blocks.first_port(local),
            last_port: self.blocks.last_port(local),
            at: now,
        };
        if self.cfg.deterministic {
            self.blocks.release_now(local);
        } else {
            self.blocks.release(local, now);
        }
        self.counters.blocks_released += 1;
        self.push_event(e);
    }
}
