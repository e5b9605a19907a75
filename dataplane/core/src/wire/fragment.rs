//! Cutting an IPv4 packet into fragments that fit a link's MTU (RFC 791,
//! RFC 4787 REQ-13a): in order, offsets 8-byte aligned and added to the
//! packet's own offset, MF on every fragment but the last (and on the
//! last too when the packet was itself a non-final fragment), the header
//! checksum computed per fragment.
//!
//! Packets with IP options are not cut here (the caller refuses them):
//! each fragment repeats the packet's 20-byte header with its own length,
//! flags and offset.

use super::checksum;
use super::ethernet;
use super::ipv4::{self, field};
use super::{be16, put16};

/// Bytes of payload each fragment but the last carries for a link of
/// `mtu` bytes: the most that fits after a 20-byte header, a multiple of
/// 8. At least 8 for any MTU of 28 or more.
#[inline]
pub fn step(mtu: u16) -> usize {
    (usize::from(mtu).saturating_sub(ipv4::MIN_HEADER_LEN)) & !7
}

/// The number of fragments a payload of `payload` bytes is cut into for
/// `mtu`; 0 when the MTU leaves no room for 8 bytes.
#[inline]
pub fn count(payload: usize, mtu: u16) -> usize {
    let s = step(mtu);
    if s == 0 {
        0
    } else {
        payload.div_ceil(s)
    }
}

/// Writes fragment `k` of `count(..)` of the Ethernet frame `frame` (an
/// IPv4 packet with a 20-byte header, total length within the frame) into
/// `out`; returns the fragment frame's length. `out` must hold
/// `14 + 20 + step(mtu)` bytes.
pub fn write(frame: &[u8], mtu: u16, k: usize, out: &mut [u8]) -> usize {
    const L3: usize = ethernet::HEADER_LEN;
    const H: usize = ipv4::MIN_HEADER_LEN;
    let total = usize::from(be16(frame, L3 + field::TOTAL_LEN));
    let payload = &frame[L3 + H..L3 + total];
    let s = step(mtu);
    let n = count(payload.len(), mtu);
    let from = k * s;
    let to = (from + s).min(payload.len());
    let flags = be16(frame, L3 + field::FLAGS_FRAG);
    let offset = (flags & ipv4::FRAG_OFFSET_MASK) as usize + from / 8;
    let mf = k + 1 < n || flags & ipv4::FLAG_MF != 0;
    let len = L3 + H + (to - from);
    out[..L3 + H].copy_from_slice(&frame[..L3 + H]);
    put16(out, L3 + field::TOTAL_LEN, (H + to - from) as u16);
    put16(
        out,
        L3 + field::FLAGS_FRAG,
        (offset as u16 & ipv4::FRAG_OFFSET_MASK) | if mf { ipv4::FLAG_MF } else { 0 },
    );
    put16(out, L3 + field::CHECKSUM, 0);
    let c = checksum::checksum(&out[L3..L3 + H]);
    put16(out, L3 + field::CHECKSUM, c);
    out[L3 + H..len].copy_from_slice(&payload[from..to]);
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet frame with a UDP-like payload of `n` bytes counting up.
    fn frame(n: usize, flags: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + n];
        f[12] = 8;
        f[14] = 0x45;
        put16(&mut f, 16, (20 + n) as u16);
        put16(&mut f, 18, 0x1234);
        put16(&mut f, 20, flags);
        f[22] = 63;
        f[23] = 17;
        f[26..30].copy_from_slice(&[203, 0, 113, 1]);
        f[30..34].copy_from_slice(&[198, 51, 100, 1]);
        for (i, b) in f[34..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let c = checksum::checksum(&f[14..34]);
        put16(&mut f, 24, c);
        f
    }

    #[test]
    fn steps_and_counts() {
        assert_eq!(step(1400), 1376);
        assert_eq!(step(68), 48);
        assert_eq!(step(27), 0);
        assert_eq!(count(1430, 1400), 2);
        assert_eq!(count(1376, 1400), 1);
        assert_eq!(count(10, 27), 0);
    }

    #[test]
    fn a_non_final_fragment_keeps_mf_and_its_offset() {
        // Offset 100 (800 bytes), MF: every piece has MF and offsets from 100.
        let f = frame(200, 0x2000 | 100);
        let mut out = [0u8; 200];
        let n = count(200, 68);
        assert_eq!(n, 5);
        for k in 0..n {
            let len = write(&f, 68, k, &mut out);
            assert_eq!(checksum::checksum(&out[14..34]), 0);
            let fl = be16(&out, 20);
            assert_eq!(fl & 0x1fff, 100 + 6 * k as u16);
            assert_ne!(fl & 0x2000, 0, "MF on fragment {k}");
            assert_eq!(len, 34 + if k < 4 { 48 } else { 8 });
            assert_eq!(&out[34..len], &f[34 + 48 * k..34 + 48 * k + len - 34]);
        }
    }
}
