//! Cutting an IPv4 packet into fragments that fit a link's MTU (RFC 791,
//! RFC 4787 REQ-13a): in order, offsets 8-byte aligned and added to the
//! packet's own offset, MF on every fragment but the last (and on the
//! last too when the packet was itself a non-final fragment), the header
//! checksum computed per fragment.
//!
//! The first fragment keeps the packet's whole header, options included;
//! the later ones carry only the options whose copied flag is set (RFC 791
//! 3.1), padded with end-of-list to a multiple of four bytes.
//!
//! [`Plan::of`] reads the packet once and says how it is cut; [`write`]
//! writes one fragment. Both take a frame the caller checked: an IPv4
//! header whose options are well formed and a total length within the
//! frame.

use super::checksum;
use super::ethernet;
use super::ipv4::{self, field};
use super::{be16, put16};

const L3: usize = ethernet::HEADER_LEN;
const H: usize = ipv4::MIN_HEADER_LEN;

/// Largest IPv4 header.
const MAX_HEADER: usize = 60;

/// How a packet is cut for one MTU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The packet's header length, and the later fragments'.
    pub first_header: usize,
    /// Header length of the fragments after the first.
    pub later_header: usize,
    /// Payload bytes in the first fragment (a multiple of 8).
    pub first_step: usize,
    /// Payload bytes in each later fragment but the last (a multiple of 8).
    pub later_step: usize,
    /// Payload bytes of the packet.
    pub payload: usize,
    /// Fragments.
    pub count: usize,
    /// The later fragments' options (copied ones, padded), `later_header -
    /// 20` bytes of it.
    opts: [u8; MAX_HEADER - H],
}

/// Payload bytes that fit after a header of `header` bytes in `mtu`, a
/// multiple of 8.
fn step(mtu: u16, header: usize) -> usize {
    usize::from(mtu).saturating_sub(header) & !7
}

impl Plan {
    /// How the packet of `frame` is cut for `mtu`; `None` when the MTU
    /// leaves no room for 8 bytes of payload after a header.
    pub fn of(frame: &[u8], mtu: u16) -> Option<Plan> {
        let first_header = usize::from(frame[L3] & 0x0f) * 4;
        let total = usize::from(be16(frame, L3 + field::TOTAL_LEN));
        let mut opts = [0u8; MAX_HEADER - H];
        let n = copied_options(&frame[L3 + H..L3 + first_header], &mut opts);
        let later_header = H + n.next_multiple_of(4);
        let payload = total - first_header;
        let (first_step, later_step) = (step(mtu, first_header), step(mtu, later_header));
        if first_step == 0 || later_step == 0 {
            return None;
        }
        let count = if payload <= first_step {
            1
        } else {
            1 + (payload - first_step).div_ceil(later_step)
        };
        Some(Plan {
            first_header,
            later_header,
            first_step,
            later_step,
            payload,
            count,
            opts,
        })
    }

    /// Payload range of fragment `k`.
    fn range(&self, k: usize) -> (usize, usize) {
        let from = if k == 0 {
            0
        } else {
            self.first_step + (k - 1) * self.later_step
        };
        let step = if k == 0 {
            self.first_step
        } else {
            self.later_step
        };
        (from, (from + step).min(self.payload))
    }
}

/// Copies the options of `opts` whose copied flag is set into `out`;
/// returns their length. Stops at end-of-list or at a length that does not
/// fit.
fn copied_options(opts: &[u8], out: &mut [u8]) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < opts.len() {
        match opts[i] {
            0 => break,
            1 => i += 1,
            t => {
                let len = usize::from(opts.get(i + 1).copied().unwrap_or(0));
                if len < 2 || i + len > opts.len() {
                    break;
                }
                if t & 0x80 != 0 {
                    out[n..n + len].copy_from_slice(&opts[i..i + len]);
                    n += len;
                }
                i += len;
            }
        }
    }
    n
}

/// Writes fragment `k` of the plan `p` of the Ethernet frame `frame` into
/// `out`; returns the fragment frame's length. `out` must hold the
/// fragment (at most 14 + the MTU the plan was made for).
pub fn write(frame: &[u8], p: &Plan, k: usize, out: &mut [u8]) -> usize {
    let (from, to) = p.range(k);
    let header = if k == 0 {
        p.first_header
    } else {
        p.later_header
    };
    let flags = be16(frame, L3 + field::FLAGS_FRAG);
    let offset = usize::from(flags & ipv4::FRAG_OFFSET_MASK) + from / 8;
    let mf = k + 1 < p.count || flags & ipv4::FLAG_MF != 0;
    let at = L3 + header;
    if k == 0 {
        out[..at].copy_from_slice(&frame[..at]);
    } else {
        out[..L3 + H].copy_from_slice(&frame[..L3 + H]);
        out[L3] = 0x40 | (header / 4) as u8;
        out[L3 + H..at].copy_from_slice(&p.opts[..header - H]);
    }
    put16(out, L3 + field::TOTAL_LEN, (header + to - from) as u16);
    put16(
        out,
        L3 + field::FLAGS_FRAG,
        (offset as u16 & ipv4::FRAG_OFFSET_MASK) | if mf { ipv4::FLAG_MF } else { 0 },
    );
    put16(out, L3 + field::CHECKSUM, 0);
    let c = checksum::checksum(&out[L3..at]);
    put16(out, L3 + field::CHECKSUM, c);
    let payload = &frame[L3 + p.first_header..];
    out[at..at + to - from].copy_from_slice(&payload[from..to]);
    at + to - from
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet frame with `opts` and a payload of `n` bytes counting up.
    fn frame(opts: &[u8], n: usize, flags: u16) -> Vec<u8> {
        let hl = 20 + opts.len();
        let mut f = vec![0u8; 14 + hl + n];
        f[12] = 8;
        f[14] = 0x40 | (hl / 4) as u8;
        put16(&mut f, 16, (hl + n) as u16);
        put16(&mut f, 18, 0x1234);
        put16(&mut f, 20, flags);
        f[22] = 63;
        f[23] = 17;
        f[26..30].copy_from_slice(&[203, 0, 113, 1]);
        f[30..34].copy_from_slice(&[198, 51, 100, 1]);
        f[34..34 + opts.len()].copy_from_slice(opts);
        for (i, b) in f[14 + hl..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let c = checksum::checksum(&f[14..14 + hl]);
        put16(&mut f, 24, c);
        f
    }

    #[test]
    fn steps_and_counts() {
        let p = Plan::of(&frame(&[], 1430, 0), 1400).unwrap();
        assert_eq!((p.first_step, p.later_step, p.count), (1376, 1376, 2));
        let p = Plan::of(&frame(&[], 1376, 0), 1400).unwrap();
        assert_eq!(p.count, 1);
        let p = Plan::of(&frame(&[], 100, 0), 68).unwrap();
        assert_eq!((p.first_step, p.count), (48, 3));
        assert_eq!(Plan::of(&frame(&[], 100, 0), 27), None);
    }

    #[test]
    fn a_non_final_fragment_keeps_mf_and_its_offset() {
        // Offset 100 (800 bytes), MF: every piece has MF and offsets from 100.
        let f = frame(&[], 200, 0x2000 | 100);
        let p = Plan::of(&f, 68).unwrap();
        assert_eq!(p.count, 5);
        let mut out = [0u8; 200];
        for k in 0..p.count {
            let len = write(&f, &p, k, &mut out);
            assert_eq!(checksum::checksum(&out[14..34]), 0);
            let fl = be16(&out, 20);
            assert_eq!(fl & 0x1fff, 100 + 6 * k as u16);
            assert_ne!(fl & 0x2000, 0, "MF on fragment {k}");
            assert_eq!(len, 34 + if k < 4 { 48 } else { 8 });
            assert_eq!(&out[34..len], &f[34 + 48 * k..34 + 48 * k + len - 34]);
        }
    }

    #[test]
    fn later_fragments_carry_only_the_copied_options() {
        // NOP, record route (7, not copied, 7 bytes), router alert (148,
        // copied, 4 bytes), NOP, end of list: 16 bytes.
        let opts = [1, 7, 7, 4, 0, 0, 0, 0, 148, 4, 0, 0, 1, 0, 0, 0];
        let f = frame(&opts, 300, 0);
        let p = Plan::of(&f, 120).unwrap();
        assert_eq!((p.first_header, p.later_header), (36, 24));
        assert_eq!((p.first_step, p.later_step), (80, 96));
        assert_eq!(p.count, 4, "80 + 96 + 96 + 28");
        let mut out = [0u8; 200];
        let mut data = Vec::new();
        for k in 0..p.count {
            let len = write(&f, &p, k, &mut out);
            let hl = usize::from(out[14] & 0x0f) * 4;
            assert!(len - 14 <= 120);
            assert_eq!(checksum::checksum(&out[14..14 + hl]), 0);
            assert_eq!(usize::from(be16(&out, 16)), len - 14);
            if k == 0 {
                assert_eq!(&out[34..50], &opts);
            } else {
                assert_eq!(hl, 24);
                assert_eq!(&out[34..38], &[148, 4, 0, 0]);
            }
            assert_eq!(usize::from(be16(&out, 20) & 0x1fff) * 8, data.len());
            data.extend_from_slice(&out[14 + hl..len]);
        }
        assert_eq!(&data[..], &f[14 + 36..]);
    }
}
