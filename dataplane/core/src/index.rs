//! A fixed-capacity open-addressing hash index from keys to slot numbers.
//!
//! The index stores no keys: each 32-bit cell holds an 8-bit tag taken from
//! the hash and a 24-bit slot number (plus one; zero is empty). Callers
//! confirm a match against their own storage through a closure. Linear
//! probing with backward-shift deletion keeps probe chains short without
//! tombstones. The cell array is sized at creation to at least twice the
//! entry capacity and never grows.

/// See the module documentation.
#[derive(Debug)]
pub struct Index {
    cells: Box<[u32]>,
    mask: usize,
    len: usize,
    cap: usize,
}

const SLOT_MASK: u32 = 0x00ff_ffff;
/// Largest slot number an index can hold.
pub const MAX_SLOT: u32 = SLOT_MASK - 1;

#[inline]
fn tag(hash: u64) -> u32 {
    ((hash >> 56) as u32) << 24
}

impl Index {
    /// An index for up to `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Index {
        let cells = (capacity.max(4) * 2).next_power_of_two();
        Index {
            cells: vec![0u32; cells].into_boxed_slice(),
            mask: cells - 1,
            len: 0,
            cap: capacity,
        }
    }

    /// Removes every entry (one pass over the cells, no rehash).
    pub fn clear(&mut self) {
        self.cells.fill(0);
        self.len = 0;
    }

    /// Entries in the index.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the cell array.
    pub fn memory_bytes(&self) -> usize {
        self.cells.len() * core::mem::size_of::<u32>()
    }

    /// Reads the first cell a hash probes and returns its slot, if any.
    /// Batch processing calls this for many frames before looking any of
    /// them up, so that the cache misses of independent frames overlap.
    #[inline]
    pub fn peek(&self, hash: u64) -> Option<u32> {
        let c = self.cells[hash as usize & self.mask];
        (c != 0).then(|| (c & SLOT_MASK) - 1)
    }

    /// Finds the slot whose entry `eq` confirms.
    #[inline(always)]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(hash);
        let mut i = hash as usize & self.mask;
        loop {
            let c = self.cells[i];
            if c == 0 {
                return None;
            }
            if c & !SLOT_MASK == t {
                let slot = (c & SLOT_MASK) - 1;
                if eq(slot) {
                    return Some(slot);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds an entry; false when the index is at capacity or `slot` is too
    /// large. The caller makes sure the key is not present already.
    pub fn insert(&mut self, hash: u64, slot: u32) -> bool {
        if self.len >= self.cap || slot > MAX_SLOT {
            return false;
        }
        let mut i = hash as usize & self.mask;
        while self.cells[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.cells[i] = tag(hash) | (slot + 1);
        self.len += 1;
        true
    }

    fn position(&self, hash: u64, slot: u32) -> Option<usize> {
        let want = tag(hash) | (slot + 1);
        let mut i = hash as usize & self.mask;
        loop {
            let c = self.cells[i];
            if c == 0 {
                return None;
            }
            if c == want {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Points the entry `(hash, old)` at `new` (same key, other slot).
    pub fn replace(&mut self, hash: u64, old: u32, new: u32) -> bool {
        match self.position(hash, old) {
            Some(i) if new <= MAX_SLOT => {
                self.cells[i] = tag(hash) | (new + 1);
                true
            }
            _ => false,
        }
    }

    /// Removes the entry `(hash, slot)`. `hash_of` gives the hash of any
    /// other stored slot, which backward shifting needs.
    pub fn remove(&mut self, hash: u64, slot: u32, mut hash_of: impl FnMut(u32) -> u64) -> bool {
        let Some(mut hole) = self.position(hash, slot) else {
            return false;
        };
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let c = self.cells[j];
            if c == 0 {
                break;
            }
            let home = hash_of((c & SLOT_MASK) - 1) as usize & self.mask;
            // The entry at j may fill the hole if the hole lies on its probe
            // path, i.e. between its home and j (cyclically).
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.cells[hole] = c;
                hole = j;
            }
        }
        self.cells[hole] = 0;
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn insert_find_remove() {
        let keys: Vec<u64> = (0..100u64)
            .map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let mut ix = Index::with_capacity(100);
        for (slot, &h) in keys.iter().enumerate() {
            assert!(ix.insert(h, slot as u32));
        }
        assert!(!ix.insert(1, 100), "at capacity");
        for (slot, &h) in keys.iter().enumerate() {
            assert_eq!(ix.find(h, |s| keys[s as usize] == h), Some(slot as u32));
        }
        for (slot, &h) in keys.iter().enumerate().step_by(2) {
            assert!(ix.remove(h, slot as u32, |s| keys[s as usize]));
        }
        for (slot, &h) in keys.iter().enumerate() {
            let want = (slot % 2 == 1).then_some(slot as u32);
            assert_eq!(ix.find(h, |s| keys[s as usize] == h), want);
        }
        assert_eq!(ix.len(), 50);
    }

    #[test]
    fn colliding_homes() {
        // Every key starts at the same cell: chains and shifts are exercised.
        let keys: Vec<u64> = (0..8u64).map(|k| (k << 56) | 5).collect();
        let mut ix = Index::with_capacity(8);
        for (s, &h) in keys.iter().enumerate() {
            ix.insert(h, s as u32);
        }
        assert!(ix.remove(keys[0], 0, |s| keys[s as usize]));
        assert!(ix.replace(keys[3], 3, 9));
        for (s, &h) in keys.iter().enumerate().skip(1) {
            let want = if s == 3 { 9 } else { s as u32 };
            assert_eq!(ix.find(h, |x| x == want), Some(want));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((0u64..64, any::<bool>()), 1..400)) {
            // Hashes chosen to collide often in a small table.
            let hash = |k: u64| k.wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xff00_0000_0000_000f;
            let mut ix = Index::with_capacity(64);
            let mut model = std::collections::HashSet::new();
            for (k, add) in ops {
                if add && !model.contains(&k) {
                    prop_assert!(ix.insert(hash(k), k as u32));
                    model.insert(k);
                } else if !add && model.contains(&k) {
                    prop_assert!(ix.remove(hash(k), k as u32, |s| hash(u64::from(s))));
                    model.remove(&k);
                }
                for q in 0..64u64 {
                    let got = ix.find(hash(q), |s| u64::from(s) == q);
                    prop_assert_eq!(got.is_some(), model.contains(&q));
                }
            }
            prop_assert_eq!(ix.len(), model.len());
        }
    }
}
