//! The session record and the timer wheel that expires sessions.
//!
//! A session is one cache line (64 bytes). It holds the translation of one
//! flow, the checksum deltas precomputed at creation for both directions,
//! and the links of three intrusive lists: the timer wheel slot it waits in,
//! the circle of sessions sharing its mapping, and (while free) the free
//! list.
//!
//! The wheel has one-second ticks and 8192 slots. Refreshing a session
//! only writes `last_seen`; the session stays in its slot, and when the
//! slot's tick comes the wheel re-files it at its true expiry. So each
//! session is touched by the wheel about once per timeout, not per packet.

pub(crate) const NONE: u32 = u32::MAX;

/// See the module documentation.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub(crate) struct Session {
    pub in_addr: u32,
    pub ext_addr: u32,
    pub rem_addr: u32,
    pub in_port: u16,
    pub ext_port: u16,
    pub rem_port: u16,
    /// IP protocol; 0 marks a free record.
    pub proto: u8,
    /// TCP state (`TcpState as u8`), 0 for UDP and ICMP.
    pub state: u8,
    pub in_mac: [u8; 6],
    /// IPv4 header checksum delta, outbound (address and TTL).
    pub ip_out: u16,
    /// Transport checksum delta, outbound (pseudo-header and port, or
    /// ICMP identifier).
    pub l4_out: u16,
    /// IPv4 header checksum delta, inbound.
    pub ip_in: u16,
    /// Transport checksum delta, inbound.
    pub l4_in: u16,
    /// Whether the session is held ([`HELD_NONE`], [`HELD_MAP`],
    /// [`HELD_PEER`]); its end and filters are in `shard/holds.rs`.
    pub held: u8,
    pub prev: u32,
    pub next: u32,
    pub map_prev: u32,
    pub map_next: u32,
    /// Second of the last refreshing packet.
    pub last_seen: u32,
    /// Tick of the wheel slot the session waits in; NONE when not filed.
    pub wheel_at: u32,
    /// Slot of the subscriber record.
    pub sub: u32,
}

const _: () = assert!(core::mem::size_of::<Session>() == 64);

/// A session that is not held.
pub(crate) const HELD_NONE: u8 = 0;
/// The anchor of a held MAP: remote 0.0.0.0:0, never matched by a packet.
pub(crate) const HELD_MAP: u8 = 1;
/// A held PEER session.
pub(crate) const HELD_PEER: u8 = 2;

/// Number of wheel slots (ticks of one second).
pub(crate) const WHEEL: u32 = 8192;

#[derive(Debug)]
pub(crate) struct Wheel {
    heads: Box<[u32]>,
    occupied: Box<[u64]>,
    /// The next tick to process.
    pub now: u32,
}

impl Wheel {
    pub(crate) fn new(now: u32) -> Wheel {
        Wheel {
            heads: vec![NONE; WHEEL as usize].into_boxed_slice(),
            occupied: vec![0; (WHEEL / 64) as usize].into_boxed_slice(),
            now,
        }
    }

    /// Files session `i` to be looked at on tick `t` (clamped to the
    /// window the wheel covers).
    pub(crate) fn insert(&mut self, s: &mut [Session], i: u32, t: u32) {
        let t = t.clamp(self.now, self.now + (WHEEL - 1));
        let slot = (t % WHEEL) as usize;
        let head = self.heads[slot];
        s[i as usize].prev = NONE;
        s[i as usize].next = head;
        s[i as usize].wheel_at = t;
        if head != NONE {
            s[head as usize].prev = i;
        }
        self.heads[slot] = i;
        self.occupied[slot / 64] |= 1 << (slot % 64);
    }

    /// Empties every slot; the clock stays.
    pub(crate) fn clear(&mut self) {
        self.heads.fill(NONE);
        self.occupied.fill(0);
    }

    /// Takes session `i` out of its slot.
    pub(crate) fn remove(&mut self, s: &mut [Session], i: u32) {
        let (prev, next, at) = {
            let x = &s[i as usize];
            (x.prev, x.next, x.wheel_at)
        };
        if at == NONE {
            return;
        }
        let slot = (at % WHEEL) as usize;
        if prev == NONE {
            self.heads[slot] = next;
            if next == NONE {
                self.occupied[slot / 64] &= !(1 << (slot % 64));
            }
        } else {
            s[prev as usize].next = next;
        }
        if next != NONE {
            s[next as usize].prev = prev;
        }
        let x = &mut s[i as usize];
        x.prev = NONE;
        x.next = NONE;
        x.wheel_at = NONE;
    }

    /// Takes the first session of tick `t`'s slot.
    pub(crate) fn pop(&mut self, s: &mut [Session], t: u32) -> Option<u32> {
        let head = self.heads[(t % WHEEL) as usize];
        if head == NONE {
            return None;
        }
        self.remove(s, head);
        Some(head)
    }

    /// The first tick at or after `now` whose slot is occupied.
    pub(crate) fn next_occupied(&self) -> Option<u32> {
        let start = self.now % WHEEL;
        let n = WHEEL / 64;
        for k in 0..=n {
            let w = (start / 64 + k) % n;
            let mut bits = self.occupied[w as usize];
            if k == 0 {
                bits &= u64::MAX << (start % 64);
            }
            if k == n {
                bits &= !(u64::MAX << (start % 64));
            }
            if bits != 0 {
                let slot = w * 64 + bits.trailing_zeros();
                return Some(self.now + (slot + WHEEL - start) % WHEEL);
            }
        }
        None
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.heads.len() * 4 + self.occupied.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_find() {
        let mut s = vec![
            Session {
                wheel_at: NONE,
                ..Session::default()
            };
            4
        ];
        let mut w = Wheel::new(100);
        assert_eq!(w.next_occupied(), None);
        w.insert(&mut s, 0, 160);
        w.insert(&mut s, 1, 105);
        w.insert(&mut s, 2, 105);
        w.insert(&mut s, 3, 50); // already due: filed at `now`
        assert_eq!(w.next_occupied(), Some(100));
        assert_eq!(w.pop(&mut s, 100), Some(3));
        assert_eq!(w.pop(&mut s, 100), None);
        w.now = 101;
        assert_eq!(w.next_occupied(), Some(105));
        w.remove(&mut s, 2);
        w.remove(&mut s, 2); // removing twice is harmless
        assert_eq!(w.pop(&mut s, 105), Some(1));
        assert_eq!(w.next_occupied(), Some(160));
        w.insert(&mut s, 1, 100_000); // beyond the window: clamped
        assert_eq!(s[1].wheel_at, 101 + WHEEL - 1);
        w.now = 161;
        assert_eq!(
            w.next_occupied(),
            Some(101 + WHEEL - 1),
            "wraps past the end of the array"
        );
    }
}
