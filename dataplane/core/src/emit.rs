//! Frames the core sends that are not the frame it was given: ICMP errors
//! it generates, and early fragments it held and now releases.
//!
//! They wait in a fixed ring of frame-sized slots, allocated when the
//! shard is built; the worker takes them with [`crate::Shard::pop_emitted`]
//! after each batch. A full ring drops the new frame and counts it; the
//! fragments of one packet are queued all or none ([`EmitQueue::free`]).

use crate::verdict::Verdict;
use crate::wire::ethernet::{self, EthernetFrame, Mac};
use crate::wire::repr::{self, IpRepr};
use crate::wire::{icmp, ipv4, IcmpPacket};

/// Bytes a generated ICMP error may carry of the packet it is about, so
/// that the error's IP datagram stays within 576 bytes (RFC 1812 4.3.2.3).
const QUOTE_MAX: usize = 576 - 20 - 8;

/// Bytes of one slot of the emit queue and of the held fragments: one
/// 2048-byte AF_XDP frame, the largest frame a worker hands the core.
pub const SLOT: usize = 2048;

/// Slots of the emit queue beyond the held fragments and the ICMP errors,
/// for fragments of packets cut to fit the egress MTU: the fragments of
/// 128 full-size packets cut for a 1400-byte link (two each), or 13
/// 1500-byte packets cut for the smallest MTU, 68 (37 each), per batch.
pub const FRAGMENT_ROOM: usize = 512;

#[derive(Debug)]
pub(crate) struct EmitQueue {
    buf: Vec<u8>,
    meta: Vec<(Verdict, u16)>,
    head: usize,
    len: usize,
    slot: usize,
}

impl EmitQueue {
    /// A ring of `n` slots of `slot` bytes.
    pub(crate) fn new(n: usize, slot: usize) -> EmitQueue {
        EmitQueue {
            buf: vec![0; n * slot],
            meta: vec![(Verdict::Pass, 0); n],
            head: 0,
            len: 0,
            slot,
        }
    }

    /// The next free slot (its whole length), or `None` when full. The
    /// frame is queued only by [`EmitQueue::commit`].
    pub(crate) fn reserve(&mut self) -> Option<&mut [u8]> {
        let n = self.meta.len();
        if self.len >= n {
            return None;
        }
        let at = (self.head + self.len) % n * self.slot;
        Some(&mut self.buf[at..at + self.slot])
    }

    /// Queues the reserved slot holding `len` bytes, to go where `v` says.
    pub(crate) fn commit(&mut self, v: Verdict, len: usize) {
        let n = self.meta.len();
        let i = (self.head + self.len) % n;
        self.meta[i] = (v, len as u16);
        self.len += 1;
    }

    /// Copies the oldest frame into `out`; returns where it goes and its
    /// length (cut to `out`'s length).
    pub(crate) fn pop(&mut self, out: &mut [u8]) -> Option<(Verdict, usize)> {
        if self.len == 0 {
            return None;
        }
        let (v, len) = self.meta[self.head];
        let at = self.head * self.slot;
        let len = usize::from(len).min(out.len());
        out[..len].copy_from_slice(&self.buf[at..at + len]);
        self.head = (self.head + 1) % self.meta.len();
        self.len -= 1;
        Some((v, len))
    }

    /// Slots free now.
    pub(crate) fn free(&self) -> usize {
        self.meta.len() - self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.buf.capacity() + self.meta.capacity() * core::mem::size_of::<(Verdict, u16)>()
    }
}

/// A token bucket: `rate` tokens per second, at most `rate` saved up.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Thousandths of a token.
    milli: u64,
    last_ms: u64,
}

impl Bucket {
    fn take(&mut self, rate: u32, now_ms: u64) -> bool {
        let cap = u64::from(rate) * 1000;
        let dt = now_ms.saturating_sub(self.last_ms);
        self.last_ms = now_ms;
        self.milli = (self.milli + dt.saturating_mul(u64::from(rate))).min(cap);
        if self.milli >= 1000 {
            self.milli -= 1000;
            true
        } else {
            false
        }
    }
}

/// Buckets per shard for the per-host limit.
const HOST_BUCKETS: usize = 256;

/// The two limits on generated ICMP errors: one for the shard, one per
/// destination host (hashed into [`HOST_BUCKETS`] buckets).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    global: Bucket,
    hosts: Box<[Bucket]>,
}

impl RateLimiter {
    pub(crate) fn new() -> RateLimiter {
        RateLimiter {
            // Full buckets: the first errors after start are not held back.
            global: Bucket {
                milli: u64::MAX / 4,
                last_ms: 0,
            },
            hosts: vec![
                Bucket {
                    milli: u64::MAX / 4,
                    last_ms: 0
                };
                HOST_BUCKETS
            ]
            .into_boxed_slice(),
        }
    }

    /// True when one more error to the host of `hash` is allowed now.
    pub(crate) fn allow(&mut self, hash: u64, rate: u32, per_host: u32, now_ms: u64) -> bool {
        if rate == 0 || per_host == 0 {
            return false;
        }
        let h = &mut self.hosts[(hash as usize) % HOST_BUCKETS];
        // Peek the host bucket first, so that a host over its limit does
        // not also spend the shard's tokens.
        let mut probe = *h;
        if !probe.take(per_host, now_ms) {
            *h = probe;
            return false;
        }
        if !self.global.take(rate, now_ms) {
            return false;
        }
        *h = probe;
        true
    }
}

/// What an ICMP error says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IcmpError {
    pub ty: u8,
    pub code: u8,
    /// Next-hop MTU, for "fragmentation needed" (type 3 code 4).
    pub mtu: u16,
}

/// Writes into `out` an Ethernet frame carrying an ICMP error about the
/// IPv4 packet of the parsed frame `orig`, sent from `src` (and MAC
/// `src_mac`) back to the packet's source (and the MAC it came from),
/// through a link of `link_mtu` bytes: the quote is cut so that the error
/// fits that link and 576 bytes. Returns the frame's length.
pub(crate) fn build_icmp_error(
    out: &mut [u8],
    orig: &[u8],
    ip: &IpRepr,
    src: u32,
    src_mac: Mac,
    e: IcmpError,
    link_mtu: u16,
) -> usize {
    let room = usize::from(link_mtu).saturating_sub(ipv4::MIN_HEADER_LEN + icmp::HEADER_LEN);
    let quote = ip.packet_len().min(QUOTE_MAX).min(room);
    let total = ipv4::MIN_HEADER_LEN + icmp::HEADER_LEN + quote;
    let len = ethernet::HEADER_LEN + total;
    let mut eth = EthernetFrame::new_unchecked(&mut out[..len]);
    eth.set_dst(repr::src_mac(orig));
    eth.set_src(src_mac);
    eth.set_ethertype(ethernet::ETHERTYPE_IPV4);
    let header = ipv4::HeaderRepr {
        // Internetwork control precedence, as routers send their errors.
        tos: 0xc0,
        total_len: total as u16,
        ttl: 64,
        protocol: ipv4::PROTO_ICMP,
        src,
        dst: ip.src,
    };
    header.emit(eth.payload_mut());
    let mut msg = IcmpPacket::new_unchecked(&mut eth.payload_mut()[ipv4::MIN_HEADER_LEN..]);
    msg.set_msg_type(e.ty);
    msg.set_code(e.code);
    msg.set_rest(u32::from(e.mtu));
    msg.body_mut().copy_from_slice(&ip.packet(orig)[..quote]);
    msg.fill_checksum();
    len
}

/// True when RFC 1812 (4.3.2.7) allows an ICMP error about a packet from
/// `src` to `dst`: not about a broadcast or multicast, nor to a source
/// that cannot be answered.
pub(crate) fn may_answer(src: u32, dst: u32) -> bool {
    let bad = |a: u32| a == 0 || a == u32::MAX || a >> 28 >= 0xe || a >> 24 == 127;
    !bad(src) && dst >> 28 < 0xe && dst != u32::MAX
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use crate::wire::{put16, put32};

    #[test]
    fn ring_keeps_order_and_bounds() {
        let mut q = EmitQueue::new(2, 64);
        for (i, v) in [Verdict::ToLan, Verdict::ToWan].into_iter().enumerate() {
            let s = q.reserve().unwrap();
            s[0] = i as u8;
            q.commit(v, 10 + i);
        }
        assert!(q.reserve().is_none(), "full");
        let mut out = [0u8; 64];
        assert_eq!(q.pop(&mut out), Some((Verdict::ToLan, 10)));
        assert_eq!(out[0], 0);
        assert_eq!(q.pop(&mut out), Some((Verdict::ToWan, 11)));
        assert_eq!(out[0], 1);
        assert_eq!(q.pop(&mut out), None);
        assert!(q.is_empty());
    }

    #[test]
    fn limits_per_host_and_per_shard() {
        let mut r = RateLimiter::new();
        // Per host: 2 per second, burst 2 after the first second.
        let mut ok = 0;
        for _ in 0..10 {
            ok += usize::from(r.allow(7, 100, 2, 1000));
        }
        assert_eq!(ok, 2);
        assert!(!r.allow(7, 100, 2, 1200), "0.4 tokens regained");
        assert!(r.allow(7, 100, 2, 1500), "1 token regained after 0.5 s");
        // Another host has its own bucket, but the shard's holds all.
        let mut r = RateLimiter::new();
        let granted = (0..50u64).filter(|h| r.allow(*h, 10, 5, 1000)).count();
        assert_eq!(granted, 10);
        assert!(!RateLimiter::new().allow(1, 0, 5, 0), "rate 0: never");
    }

    #[test]
    fn error_frame_is_well_formed() {
        let mut orig = vec![0u8; 14 + 60];
        orig[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        orig[14] = 0x45;
        put16(&mut orig, 16, 60);
        put32(&mut orig, 14 + 12, 0xc0a8_010a);
        put32(&mut orig, 14 + 16, 0x0808_0808);
        let mut out = [0u8; 600];
        let e = IcmpError {
            ty: 3,
            code: 4,
            mtu: 1400,
        };
        let ip = IpRepr {
            l4: 34,
            end: 74,
            proto: 17,
            src: 0xc0a8_010a,
            dst: 0x0808_0808,
            ttl: 0,
            frag: false,
            later: false,
            df: false,
            id: 0,
        };
        let mac = Mac([2, 0, 0, 0, 0, 1]);
        let n = build_icmp_error(&mut out, &orig, &ip, 0xc0a8_0101, mac, e, 1500);
        assert_eq!(n, 14 + 20 + 8 + 60);
        assert_eq!(&out[0..6], &[2, 0, 0, 0, 0, 9]);
        assert_eq!(checksum::checksum(&out[14..34]), 0);
        assert_eq!(checksum::checksum(&out[34..n]), 0);
        assert_eq!(&out[14 + 16..14 + 20], &[192, 168, 1, 10]);
        assert_eq!(&out[40..42], &1400u16.to_be_bytes());
        assert_eq!(&out[42..n], &orig[14..]);
        assert!(may_answer(0xc0a8_010a, 0x0808_0808));
        assert!(!may_answer(0, 0x0808_0808));
        assert!(!may_answer(0xc0a8_010a, 0xe000_0001));
        assert!(!may_answer(0xc0a8_010a, u32::MAX));
        // A link smaller than 576: the quote is cut to fit it.
        let n = build_icmp_error(&mut out, &orig, &ip, 0xc0a8_0101, mac, e, 68);
        assert_eq!(n, 14 + 68);
        assert_eq!(checksum::checksum(&out[34..n]), 0);
    }
}
