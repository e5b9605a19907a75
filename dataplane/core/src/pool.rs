//! Port blocks of the external pool owned by one shard (PBA).
//!
//! Block `b` of every external address covers ports
//! `port_min + b * block_size ..` and belongs to shard `b mod shards`, so
//! the owner of any (external address, port) is arithmetic. A shard keeps a
//! record for each block it owns and a port bitmap (one per protocol) for
//! each block that is in use. A block whose last port is freed is held for
//! `block_hold` seconds before any subscriber may get it again (RFC 6888
//! REQ-8); the hold queue is FIFO because the hold time is constant.

const NONE: u32 = u32::MAX;

/// Protocols with their own port space in a block.
pub(crate) const PROTOS: usize = 3;

/// Index of a protocol's port space, in the order of `Protocol::ALL`
/// (TCP, UDP, ICMP). Anything not TCP or UDP counts as ICMP: the caller
/// has already refused other protocols, and this sits on the fast path.
#[inline]
pub(crate) fn proto_slot(proto: u8) -> usize {
    match proto {
        6 => 0,
        17 => 1,
        _ => 2,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    Owned,
    Held,
    /// Holds a static mapping's port: never given to a subscriber.
    Reserved,
}

#[derive(Clone, Debug)]
struct Block {
    state: State,
    used: [u16; PROTOS],
    cursor: u16,
    next: u32,
    hold_until: u32,
    slot: u32,
}

/// Arithmetic of blocks: shared by every shard and by the I/O layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMap {
    /// Number of shards.
    pub shards: u16,
    /// First port of block 0.
    pub port_min: u16,
    /// Ports per block.
    pub block_size: u16,
    /// Whole blocks per address.
    pub blocks_per_addr: u32,
}

impl BlockMap {
    /// Block number of `port`, if the port lies in a block.
    #[inline]
    pub fn block_of(&self, port: u16) -> Option<u32> {
        let off = port.checked_sub(self.port_min)?;
        let b = u32::from(off) / u32::from(self.block_size);
        (b < self.blocks_per_addr).then_some(b)
    }

    /// The shard that owns `port` on any external address.
    #[inline]
    pub fn owner(&self, port: u16) -> Option<u16> {
        self.block_of(port)
            .map(|b| (b % u32::from(self.shards)) as u16)
    }

    /// First port of block `b`.
    pub fn first_port(&self, b: u32) -> u16 {
        (u32::from(self.port_min) + b * u32::from(self.block_size)) as u16
    }
}

/// The blocks one shard owns, over every pool address.
#[derive(Debug)]
pub(crate) struct Blocks {
    map: BlockMap,
    shard: u16,
    /// Blocks owned per address.
    local_per_addr: u32,
    recs: Vec<Block>,
    /// Per address: stack of free local block ids.
    free: Vec<Vec<u32>>,
    /// Port bitmaps: `slots × PROTOS × words` words.
    bits: Vec<u64>,
    words: usize,
    slot_free: Vec<u32>,
    held_head: u32,
    held_tail: u32,
    hold: u32,
    in_use: Vec<u32>,
    /// Most blocks in use at once (subscribers × blocks each): bounds the
    /// bitmap arena.
    max_in_use: usize,
    /// Blocks kept for static mappings.
    reserved: Vec<u32>,
}

impl Blocks {
    pub(crate) fn new(
        map: BlockMap,
        shard: u16,
        naddr: usize,
        max_in_use: usize,
        hold: u32,
    ) -> Blocks {
        let s = u32::from(map.shards);
        let k = u32::from(shard);
        let local_per_addr = (map.blocks_per_addr + s - 1 - k) / s;
        let total = naddr * local_per_addr as usize;
        let recs = vec![
            Block {
                state: State::Free,
                used: [0; PROTOS],
                cursor: 0,
                next: NONE,
                hold_until: 0,
                slot: NONE
            };
            total
        ];
        let free = (0..naddr)
            .map(|a| {
                let base = a as u32 * local_per_addr;
                (0..local_per_addr).rev().map(|j| base + j).collect()
            })
            .collect();
        let slots = max_in_use.min(total);
        let words = usize::from(map.block_size).div_ceil(64);
        Blocks {
            map,
            shard,
            local_per_addr,
            recs,
            free,
            bits: vec![0; slots * PROTOS * words],
            words,
            slot_free: (0..slots as u32).rev().collect(),
            held_head: NONE,
            held_tail: NONE,
            hold,
            in_use: vec![0; naddr],
            max_in_use,
            reserved: Vec::new(),
        }
    }

    /// Keeps the block holding (address index, port) from dynamic use, if
    /// this shard owns it.
    pub(crate) fn reserve(&mut self, addr_idx: usize, port: u16) {
        let Some(local) = self.local(addr_idx, port) else {
            return;
        };
        if self.recs[local as usize].state == State::Reserved {
            return;
        }
        self.unfree(local);
        self.recs[local as usize].state = State::Reserved;
        self.reserved.push(local);
    }

    /// Removes a block from its address's free list.
    fn unfree(&mut self, local: u32) {
        let a = self.addr_idx(local);
        if let Some(i) = self.free[a].iter().position(|&b| b == local) {
            self.free[a].swap_remove(i);
        }
    }

    /// Takes one particular free block (deterministic NAT: the block is
    /// the subscriber's by arithmetic), linking it in front of `head`.
    pub(crate) fn take_specific(&mut self, local: u32, head: u32) -> Option<u32> {
        if self.recs.get(local as usize)?.state != State::Free {
            return None;
        }
        let slot = self.slot_free.pop()?;
        self.unfree(local);
        self.recs[local as usize] = Block {
            state: State::Owned,
            used: [0; PROTOS],
            cursor: 0,
            next: head,
            hold_until: 0,
            slot,
        };
        let a = self.addr_idx(local);
        self.in_use[a] += 1;
        Some(local)
    }

    /// Frees an unused block at once, without the hold (deterministic
    /// NAT: no other subscriber can ever have it).
    pub(crate) fn release_now(&mut self, local: u32) {
        let a = self.addr_idx(local);
        let r = &mut self.recs[local as usize];
        let slot = r.slot;
        r.state = State::Free;
        r.next = NONE;
        r.slot = NONE;
        self.slot_free.push(slot);
        self.in_use[a] -= 1;
        self.free[a].push(local);
    }

    /// Bitmap slots in the arena.
    fn slots(&self) -> usize {
        self.bits.len() / (PROTOS * self.words)
    }

    /// Grows the bitmap arena to `min(max_in_use, blocks)`; never shrinks
    /// it (a smaller limit is enforced by the caller).
    fn grow_arena(&mut self) {
        let want = self.max_in_use.min(self.recs.len());
        let have = self.slots();
        if want > have {
            self.bits.resize(want * PROTOS * self.words, 0);
            self.slot_free.extend((have as u32..want as u32).rev());
        }
    }

    /// Adds `n` external addresses (pool additions on reload), with every
    /// block of each free.
    pub(crate) fn add_addrs(&mut self, n: usize) {
        for _ in 0..n {
            let base = self.recs.len() as u32;
            let blank = Block {
                state: State::Free,
                used: [0; PROTOS],
                cursor: 0,
                next: NONE,
                hold_until: 0,
                slot: NONE,
            };
            self.recs
                .resize(self.recs.len() + self.local_per_addr as usize, blank);
            self.free
                .push((0..self.local_per_addr).rev().map(|j| base + j).collect());
            self.in_use.push(0);
        }
        self.grow_arena();
    }

    /// Sets the subscriber × blocks bound of the arena (a reload of
    /// `limits.blocks_per_subscriber`).
    pub(crate) fn set_max_in_use(&mut self, max_in_use: usize) {
        self.max_in_use = self.max_in_use.max(max_in_use);
        self.grow_arena();
    }

    /// Sets the hold of blocks released from now on.
    pub(crate) fn set_hold(&mut self, hold: u32) {
        self.hold = hold;
    }

    /// Frees every block of every address at once, held ones included
    /// (every session of the shard is being removed with them).
    pub(crate) fn reset_all(&mut self) {
        for r in &mut self.recs {
            r.state = State::Free;
            r.used = [0; PROTOS];
            r.next = NONE;
            r.slot = NONE;
        }
        self.held_head = NONE;
        self.held_tail = NONE;
        self.bits.fill(0);
        let slots = self.slots() as u32;
        self.slot_free = (0..slots).rev().collect();
        self.in_use.fill(0);
        for a in 0..self.free.len() {
            let base = a as u32 * self.local_per_addr;
            self.free[a] = (0..self.local_per_addr).rev().map(|j| base + j).collect();
        }
        for i in 0..self.reserved.len() {
            let local = self.reserved[i];
            self.unfree(local);
            self.recs[local as usize].state = State::Reserved;
        }
    }

    pub(crate) fn map(&self) -> &BlockMap {
        &self.map
    }

    /// Local id of the block holding (address index, port), if this shard
    /// owns it.
    #[inline]
    pub(crate) fn local(&self, addr_idx: usize, port: u16) -> Option<u32> {
        let b = self.map.block_of(port)?;
        let s = u32::from(self.map.shards);
        (b % s == u32::from(self.shard)).then(|| addr_idx as u32 * self.local_per_addr + b / s)
    }

    pub(crate) fn addr_idx(&self, local: u32) -> usize {
        (local / self.local_per_addr) as usize
    }

    pub(crate) fn first_port(&self, local: u32) -> u16 {
        let j = local % self.local_per_addr;
        self.map
            .first_port(j * u32::from(self.map.shards) + u32::from(self.shard))
    }

    pub(crate) fn last_port(&self, local: u32) -> u16 {
        self.first_port(local) + (self.map.block_size - 1)
    }

    pub(crate) fn has_free(&self, addr_idx: usize) -> bool {
        !self.free[addr_idx].is_empty()
    }

    pub(crate) fn naddr(&self) -> usize {
        self.free.len()
    }

    /// Blocks in use on each address.
    pub(crate) fn in_use(&self) -> &[u32] {
        &self.in_use
    }

    /// Free (not held, not in use) blocks on an address.
    pub(crate) fn free_count(&self, addr_idx: usize) -> usize {
        self.free[addr_idx].len()
    }

    /// Next block in a subscriber's list.
    pub(crate) fn next_of(&self, local: u32) -> u32 {
        self.recs[local as usize].next
    }

    /// Takes a free block on `addr_idx` for a subscriber, linking it in
    /// front of the list that starts at `head`.
    pub(crate) fn take(&mut self, addr_idx: usize, head: u32) -> Option<u32> {
        let slot = *self.slot_free.last()?;
        let local = self.free[addr_idx].pop()?;
        self.slot_free.pop();
        let r = &mut self.recs[local as usize];
        *r = Block {
            state: State::Owned,
            used: [0; PROTOS],
            cursor: 0,
            next: head,
            hold_until: 0,
            slot,
        };
        self.in_use[addr_idx] += 1;
        Some(local)
    }

    #[inline]
    fn bitmap(&mut self, slot: u32, p: usize) -> &mut [u64] {
        let at = (slot as usize * PROTOS + p) * self.words;
        &mut self.bits[at..at + self.words]
    }

    /// Takes a free port of `parity` (0 even, 1 odd, 2 any) in a block.
    pub(crate) fn take_port(&mut self, local: u32, proto: u8, parity: u8) -> Option<u16> {
        let p = proto_slot(proto);
        let bs = usize::from(self.map.block_size);
        let r = &self.recs[local as usize];
        if r.state != State::Owned || usize::from(r.used[p]) >= bs {
            return None;
        }
        let (slot, cursor) = (r.slot, usize::from(r.cursor));
        let words = self.words;
        let pmask = match parity {
            0 => 0x5555_5555_5555_5555u64,
            1 => 0xaaaa_aaaa_aaaa_aaaa,
            _ => u64::MAX,
        };
        let bm = self.bitmap(slot, p);
        let start = cursor / 64 % words;
        let mut found = None;
        for k in 0..words {
            let w = (start + k) % words;
            let valid = if (w + 1) * 64 > bs {
                (1u64 << (bs - w * 64)) - 1
            } else {
                u64::MAX
            };
            let cand = !bm[w] & pmask & valid;
            if cand != 0 {
                let bit = cand.trailing_zeros() as usize;
                bm[w] |= 1 << bit;
                found = Some(w * 64 + bit);
                break;
            }
        }
        let off = found?;
        let first = self.first_port(local);
        let r = &mut self.recs[local as usize];
        r.used[p] += 1;
        r.cursor = ((off + 1) % bs) as u16;
        Some(first + off as u16)
    }

    /// Takes `port` of a block in use, if it is free for `proto`.
    pub(crate) fn take_port_at(&mut self, local: u32, proto: u8, port: u16) -> bool {
        let p = proto_slot(proto);
        let r = &self.recs[local as usize];
        let first = self.first_port(local);
        if r.state != State::Owned || port < first || port > self.last_port(local) {
            return false;
        }
        let off = usize::from(port - first);
        let slot = r.slot;
        let bm = self.bitmap(slot, p);
        if bm[off / 64] & 1 << (off % 64) != 0 {
            return false;
        }
        bm[off / 64] |= 1 << (off % 64);
        self.recs[local as usize].used[p] += 1;
        true
    }

    /// Whether block `local` is free to take.
    pub(crate) fn is_free(&self, local: u32) -> bool {
        self.recs
            .get(local as usize)
            .is_some_and(|r| r.state == State::Free)
    }

    /// Frees a port; true when the block is now wholly unused.
    pub(crate) fn free_port(&mut self, local: u32, proto: u8, port: u16) -> bool {
        let p = proto_slot(proto);
        let off = usize::from(port - self.first_port(local));
        let slot = self.recs[local as usize].slot;
        let bm = self.bitmap(slot, p);
        bm[off / 64] &= !(1u64 << (off % 64));
        let r = &mut self.recs[local as usize];
        r.used[p] -= 1;
        r.used.iter().all(|&u| u == 0)
    }

    /// Puts an unused block on hold until `now + hold`. The caller has
    /// already unlinked it from its subscriber's list.
    pub(crate) fn release(&mut self, local: u32, now: u32) {
        let a = self.addr_idx(local);
        let r = &mut self.recs[local as usize];
        debug_assert!(r.state == State::Owned && r.used == [0; PROTOS]);
        let slot = r.slot;
        *r = Block {
            state: State::Held,
            used: [0; PROTOS],
            cursor: 0,
            next: NONE,
            hold_until: now.saturating_add(self.hold),
            slot: NONE,
        };
        self.slot_free.push(slot);
        self.in_use[a] -= 1;
        if self.held_tail == NONE {
            self.held_head = local;
        } else {
            self.recs[self.held_tail as usize].next = local;
        }
        self.held_tail = local;
    }

    /// Returns held blocks whose hold is over to their free lists.
    pub(crate) fn expire_held(&mut self, now: u32) {
        while self.held_head != NONE {
            let local = self.held_head;
            let r = &mut self.recs[local as usize];
            if r.hold_until > now {
                break;
            }
            self.held_head = r.next;
            r.next = NONE;
            r.state = State::Free;
            if self.held_head == NONE {
                self.held_tail = NONE;
            }
            let a = self.addr_idx(local);
            self.free[a].push(local);
        }
    }

    /// When the oldest held block comes free.
    pub(crate) fn next_hold_end(&self) -> Option<u32> {
        (self.held_head != NONE).then(|| self.recs[self.held_head as usize].hold_until)
    }

    /// Sets a block's successor in its subscriber's list.
    pub(crate) fn set_next(&mut self, local: u32, next: u32) {
        self.recs[local as usize].next = next;
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.recs.capacity() * core::mem::size_of::<Block>()
            + self.bits.capacity() * 8
            + self.slot_free.capacity() * 4
            + self.free.iter().map(|f| f.capacity() * 4).sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
