//! Virtual reassembly of IPv4 fragments (RFC 4787 REQ-14): fragments
//! are translated one by one, never reassembled.
//!
//! Only the first fragment carries the ports that name the flow. When a
//! shard sees it, it records what every fragment of that datagram needs
//! (the address to write, the checksum delta, the MAC to send to, or the
//! shard to hand it to), keyed by (source, destination, protocol, IP id).
//! Later fragments read the record. Fragments that come before their first
//! are copied into a fixed set of slots and released when it comes, or
//! dropped when the timeout passes. Both tables are fixed in size, so a
//! fragment flood fills them and is dropped with counters; traffic that is
//! not fragmented never touches them.

use crate::verdict::Side;

/// Identity of one datagram's fragments, as they arrive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub src: u32,
    pub dst: u32,
    pub id: u16,
    pub proto: u8,
    /// 0: arrived on the LAN side, 1: on the WAN side.
    pub wan: u8,
}

impl Key {
    fn hash(&self) -> u64 {
        let a = (u64::from(self.src) << 32) | u64::from(self.dst);
        let b = (u64::from(self.id) << 16) | (u64::from(self.proto) << 8) | u64::from(self.wan);
        // Two multiply-and-fold rounds: one multiply only carries bits
        // upwards, so the IP id and protocol (in the high bits here) would
        // never reach the low bits that pick the slot, and every datagram
        // between two hosts would share one probe window.
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let x = (a ^ b.rotate_left(29)).wrapping_mul(K);
        let x = (x ^ (x >> 32)).wrapping_mul(K);
        x ^ (x >> 29)
    }
}

/// What every fragment of a datagram gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Rewrite the source (outbound) or destination (inbound) address to
    /// `addr`, apply `ip_delta` to the header checksum, send to `mac` on
    /// the other side.
    Rewrite {
        addr: u32,
        ip_delta: u16,
        mac: [u8; 6],
    },
    /// Another shard translates this datagram: hand fragments to it.
    HandOff(u16),
    /// The first fragment was dropped: drop the rest.
    Drop,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: Key,
    /// 0: empty.
    expires_ms: u64,
    action: Action,
}

const PROBE: usize = 8;

/// Datagram records, open addressing with a short probe.
#[derive(Debug)]
pub(crate) struct Table {
    entries: Box<[Entry]>,
    mask: usize,
}

impl Table {
    pub(crate) fn new(n: u32) -> Table {
        let cap = (n as usize).next_power_of_two().max(PROBE);
        Table {
            entries: vec![
                Entry {
                    key: Key::default(),
                    expires_ms: 0,
                    action: Action::Drop,
                };
                cap
            ]
            .into_boxed_slice(),
            mask: cap - 1,
        }
    }

    /// The slot of `k`'s record, if it is live at `now_ms`.
    fn slot_of(&self, k: &Key, now_ms: u64) -> Option<usize> {
        let h = k.hash() as usize;
        (0..PROBE).map(|i| (h + i) & self.mask).find(|&at| {
            let e = &self.entries[at];
            e.expires_ms > now_ms && e.key == *k
        })
    }

    /// The action recorded for `k`, if it is live at `now_ms`.
    pub(crate) fn get(&self, k: &Key, now_ms: u64) -> Option<Action> {
        self.slot_of(k, now_ms).map(|at| self.entries[at].action)
    }

    /// Records (or renews) `k`; false when every slot it may use is live
    /// with another datagram.
    pub(crate) fn put(&mut self, k: Key, action: Action, now_ms: u64, timeout_ms: u64) -> bool {
        let h = k.hash() as usize;
        let at = self.slot_of(&k, now_ms).or_else(|| {
            (0..PROBE)
                .map(|i| (h + i) & self.mask)
                .find(|&at| self.entries[at].expires_ms <= now_ms)
        });
        let Some(at) = at else { return false };
        self.entries[at] = Entry {
            key: k,
            expires_ms: now_ms + timeout_ms,
            action,
        };
        true
    }

    /// Keeps `k`'s record alive for another timeout.
    pub(crate) fn touch(&mut self, k: &Key, now_ms: u64, timeout_ms: u64) {
        if let Some(at) = self.slot_of(k, now_ms) {
            self.entries[at].expires_ms = now_ms + timeout_ms;
        }
    }

    pub(crate) fn clear(&mut self) {
        for e in self.entries.iter_mut() {
            e.expires_ms = 0;
        }
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.entries.len() * core::mem::size_of::<Entry>()
    }
}

#[derive(Clone, Copy, Debug)]
struct HeldMeta {
    key: Key,
    side: Side,
    len: u16,
    /// 0: slot free.
    expires_ms: u64,
}

/// Early fragments, copied into fixed slots.
#[derive(Debug)]
pub(crate) struct Held {
    meta: Vec<HeldMeta>,
    buf: Vec<u8>,
    slot: usize,
    live: usize,
}

impl Held {
    pub(crate) fn new(n: u32, slot: usize) -> Held {
        Held {
            meta: vec![
                HeldMeta {
                    key: Key::default(),
                    side: Side::Lan,
                    len: 0,
                    expires_ms: 0,
                };
                n as usize
            ],
            buf: vec![0; n as usize * slot],
            slot,
            live: 0,
        }
    }

    /// Copies `frame` into a free slot; false when none is free (or the
    /// frame is larger than a slot).
    pub(crate) fn hold(&mut self, k: Key, side: Side, frame: &[u8], expires_ms: u64) -> bool {
        if frame.len() > self.slot {
            return false;
        }
        let Some(i) = self.meta.iter().position(|m| m.expires_ms == 0) else {
            return false;
        };
        self.meta[i] = HeldMeta {
            key: k,
            side,
            len: frame.len() as u16,
            expires_ms,
        };
        self.buf[i * self.slot..i * self.slot + frame.len()].copy_from_slice(frame);
        self.live += 1;
        true
    }

    /// Takes one held fragment of `k`: copies it into `out` and returns its
    /// arrival side and length.
    pub(crate) fn take(&mut self, k: &Key, out: &mut [u8]) -> Option<(Side, usize)> {
        if self.live == 0 {
            return None;
        }
        let i = self
            .meta
            .iter()
            .position(|m| m.expires_ms != 0 && m.key == *k)?;
        let m = self.meta[i];
        let len = usize::from(m.len).min(out.len());
        out[..len].copy_from_slice(&self.buf[i * self.slot..i * self.slot + len]);
        self.meta[i].expires_ms = 0;
        self.live -= 1;
        Some((m.side, len))
    }

    /// True when some fragment of `k` is held.
    pub(crate) fn has(&self, k: &Key) -> bool {
        self.live != 0 && self.meta.iter().any(|m| m.expires_ms != 0 && m.key == *k)
    }

    /// Frees slots whose time is up; returns how many.
    pub(crate) fn expire(&mut self, now_ms: u64) -> usize {
        if self.live == 0 {
            return 0;
        }
        let mut n = 0;
        for m in self.meta.iter_mut() {
            if m.expires_ms != 0 && m.expires_ms <= now_ms {
                m.expires_ms = 0;
                n += 1;
            }
        }
        self.live -= n;
        n
    }

    /// Fragments held.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// When the oldest held fragment times out.
    pub(crate) fn next_expiry(&self) -> Option<u64> {
        self.meta
            .iter()
            .filter(|m| m.expires_ms != 0)
            .map(|m| m.expires_ms)
            .min()
    }

    pub(crate) fn clear(&mut self) {
        for m in self.meta.iter_mut() {
            m.expires_ms = 0;
        }
        self.live = 0;
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.buf.capacity() + self.meta.capacity() * core::mem::size_of::<HeldMeta>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u16) -> Key {
        Key {
            src: 1,
            dst: 2,
            id,
            proto: 17,
            wan: 0,
        }
    }

    #[test]
    fn table_records_expire_and_bound() {
        let mut t = Table::new(8);
        let a = Action::HandOff(3);
        assert!(t.put(key(1), a, 0, 2000));
        assert_eq!(t.get(&key(1), 1999), Some(a));
        assert_eq!(t.get(&key(1), 2000), None, "timed out");
        assert_eq!(t.get(&key(2), 0), None);
        // Eight live records fill the table; the ninth finds no slot.
        let mut t = Table::new(8);
        let stored = (0..100u16).filter(|&i| t.put(key(i), a, 0, 2000)).count();
        assert_eq!(stored, 8);
        // Once they time out the slots are reused.
        assert!(t.put(key(500), a, 2000, 2000));
        t.touch(&key(500), 3000, 2000);
        assert_eq!(t.get(&key(500), 4500), Some(a));
    }

    #[test]
    fn datagrams_of_one_host_pair_spread_over_the_table() {
        // Many datagrams between the same two hosts differ only by IP id
        // (and protocol): they must not all fall into one probe window.
        let mut t = Table::new(1024);
        let a = Action::HandOff(1);
        let stored = (0..256u16).filter(|&i| t.put(key(i), a, 0, 2000)).count();
        assert_eq!(stored, 256);
        let tcp = Key { proto: 6, ..key(0) };
        assert!(t.put(tcp, a, 0, 2000));
        assert!((0..256u16).all(|i| t.get(&key(i), 1) == Some(a)));
    }

    #[test]
    fn held_fragments_come_back_once_or_time_out() {
        let mut h = Held::new(2, 16);
        assert!(h.hold(key(1), Side::Wan, &[1, 2, 3], 100));
        assert!(h.hold(key(1), Side::Wan, &[4, 5], 100));
        assert!(!h.hold(key(2), Side::Wan, &[6], 100), "full");
        assert!(
            !Held::new(2, 4).hold(key(1), Side::Lan, &[0; 5], 1),
            "too big"
        );
        assert!(h.has(&key(1)));
        let mut out = [0u8; 16];
        assert_eq!(h.take(&key(1), &mut out), Some((Side::Wan, 3)));
        assert_eq!(&out[..3], &[1, 2, 3]);
        assert_eq!(h.next_expiry(), Some(100));
        assert_eq!(h.expire(99), 0);
        assert_eq!(h.expire(100), 1);
        assert_eq!(h.live(), 0);
        assert_eq!(h.take(&key(1), &mut out), None);
    }
}
