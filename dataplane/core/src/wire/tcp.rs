//! TCP segments (RFC 9293): ports, flags and checksum; the rest is opaque.

use super::{be16, put16, WireError};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const CHECKSUM: usize = 16;
}

/// Length of a TCP header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Byte offset of the TCP checksum field.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;

/// FIN flag.
pub const FIN: u8 = 0x01;
/// SYN flag.
pub const SYN: u8 = 0x02;
/// RST flag.
pub const RST: u8 = 0x04;
/// ACK flag.
pub const ACK: u8 = 0x10;

/// A view over a TCP segment.
#[derive(Debug)]
pub struct TcpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// A view over a buffer already checked (by `new_checked` of this or
    /// an enclosing view, or by a parse in [`super::repr`]): accessors
    /// index into it without checking again.
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        TcpPacket { buf }
    }

    /// Checks that the header, options included, is present.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let off = usize::from(b[field::DATA_OFFSET] >> 4) * 4;
        if off < MIN_HEADER_LEN || off > b.len() {
            return Err(WireError::BadDataOffset);
        }
        Ok(TcpPacket { buf })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::DST_PORT)
    }

    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The flags byte (CWR ECE URG ACK PSH RST SYN FIN).
    pub fn flags(&self) -> u8 {
        self.buf.as_ref()[field::FLAGS]
    }

    /// True when the buffer holds the checksum field (a segment's first
    /// bytes inside an ICMP error may not).
    pub fn has_checksum(&self) -> bool {
        self.buf.as_ref().len() >= field::CHECKSUM + 2
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, p: u16) {
        put16(self.buf.as_mut(), field::SRC_PORT, p);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, p: u16) {
        put16(self.buf.as_mut(), field::DST_PORT, p);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buf.as_mut(), field::CHECKSUM, c);
    }
}

/// TCP option kinds the NAT reads.
mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const MSS_LEN: usize = 4;
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Lowers the MSS option to `clamp` when it is higher, patching the
    /// checksum; true when it changed. Options are walked up to the data
    /// offset or the end of the buffer, whichever is first; a malformed
    /// option ends the walk.
    pub fn clamp_mss(&mut self, clamp: u16) -> bool {
        let b = self.buf.as_mut();
        let stop = options_end(b);
        let mut i = MIN_HEADER_LEN;
        while i < stop {
            match b[i] {
                option::END => break,
                option::NOP => i += 1,
                kind => {
                    if i + 1 >= stop {
                        break;
                    }
                    let len = usize::from(b[i + 1]);
                    if len < 2 || i + len > stop {
                        break;
                    }
                    if kind == option::MSS && len == option::MSS_LEN {
                        let mss = be16(b, i + 2);
                        if mss <= clamp {
                            return false;
                        }
                        put16(b, i + 2, clamp);
                        // At an odd offset the value straddles two
                        // checksum words: its bytes count swapped.
                        let d = if i % 2 == 0 {
                            super::checksum::Delta::u16(mss, clamp)
                        } else {
                            super::checksum::Delta::u16(mss.swap_bytes(), clamp.swap_bytes())
                        };
                        let c = be16(b, field::CHECKSUM);
                        put16(b, field::CHECKSUM, super::checksum::apply(c, d));
                        return true;
                    }
                    i += len;
                }
            }
        }
        false
    }
}

/// Where the options of the header in `b` end: the data offset, or the
/// end of the buffer when that comes first.
fn options_end(b: &[u8]) -> usize {
    b.get(field::DATA_OFFSET)
        .map_or(0, |&d| (usize::from(d >> 4) * 4).min(b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // 40000 -> 80, SYN, data offset 6 (one MSS option).
    const SEG: [u8; 24] = [
        0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xfa, 0xf0, 0x12, 0x34, 0, 0,
        0x02, 0x04, 0x05, 0xb4,
    ];

    #[test]
    fn parse() {
        let t = TcpPacket::new_checked(&SEG[..]).unwrap();
        assert_eq!(t.src_port(), 40000);
        assert_eq!(t.dst_port(), 80);
        assert_eq!(t.header_len(), 24);
        assert_eq!(t.flags(), SYN);
        assert_eq!(t.checksum(), 0x1234);
    }

    #[test]
    fn rejects() {
        assert_eq!(
            TcpPacket::new_checked(&SEG[..19]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            TcpPacket::new_checked(&SEG[..23]).unwrap_err(),
            WireError::BadDataOffset
        );
        let mut s = SEG;
        s[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&s[..]).unwrap_err(),
            WireError::BadDataOffset
        );
    }

    #[test]
    fn build() {
        let mut s = SEG;
        let mut t = TcpPacket::new_checked(&mut s[..]).unwrap();
        t.set_src_port(1024);
        t.set_dst_port(443);
        t.set_checksum(0xbeef);
        assert_eq!(&s[..4], &[0x04, 0x00, 0x01, 0xbb]);
        assert_eq!(&s[16..18], &[0xbe, 0xef]);
    }

    // Clamping the MSS. Segments 192.168.1.10:40000 -> 198.51.100.1:80,
    // SYN, checksums right for that pseudo-header (computed apart from
    // the core): MSS 1460 as the first option, and clamped to 1400.
    const SYN_MSS: [u8; 24] = [
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xfa,
        0xf0, 0x10, 0xd6, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];
    const SYN_MSS_1400: [u8; 24] = [
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xfa,
        0xf0, 0x11, 0x12, 0x00, 0x00, 0x02, 0x04, 0x05, 0x78,
    ];
    // NOP, MSS 1460 (at the odd offset 21), NOP NOP NOP; and at 1400.
    const SYN_MSS_ODD: [u8; 28] = [
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x70, 0x02, 0xfa,
        0xf0, 0x4e, 0x80, 0x00, 0x00, 0x01, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x01,
    ];
    const SYN_MSS_ODD_1400: [u8; 28] = [
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x70, 0x02, 0xfa,
        0xf0, 0x8a, 0x80, 0x00, 0x00, 0x01, 0x02, 0x04, 0x05, 0x78, 0x01, 0x01, 0x01,
    ];

    /// The one's-complement sum of the pseudo-header (192.168.1.10 ->
    /// 198.51.100.1, TCP) and `seg`, summed here apart from `checksum`.
    fn sum(seg: &[u8]) -> u16 {
        let mut s: u32 = 0xc0a8 + 0x010a + 0xc633 + 0x6401 + 6 + seg.len() as u32;
        for w in seg.chunks(2) {
            s += u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0));
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    fn verifies(seg: &[u8]) -> bool {
        sum(seg) == 0xffff
    }

    /// A SYN with `opts` after the fixed header, its checksum filled.
    fn syn_with(opts: &[u8]) -> Vec<u8> {
        let mut s = [&SYN_MSS[..20], opts].concat();
        s[12] = ((s.len() / 4) as u8) << 4;
        s[16..18].fill(0);
        let c = !sum(&s);
        s[16..18].copy_from_slice(&c.to_be_bytes());
        s
    }

    fn clamp(seg: &mut [u8], to: u16) -> bool {
        TcpPacket::new_unchecked(seg).clamp_mss(to)
    }

    #[test]
    fn clamp_mss_lowers_a_larger_mss_and_keeps_the_checksum() {
        let mut s = SYN_MSS;
        assert!(verifies(&s));
        assert!(clamp(&mut s, 1400));
        assert_eq!(s, SYN_MSS_1400);
        assert!(verifies(&s));
    }

    #[test]
    fn clamp_mss_never_raises() {
        for to in [1460, 1500, 9000] {
            let mut s = SYN_MSS;
            assert!(!clamp(&mut s, to), "{to}");
            assert_eq!(s, SYN_MSS);
        }
    }

    #[test]
    fn clamp_mss_walks_past_other_options() {
        let ts = [8, 10, 1, 2, 3, 4, 5, 6, 7, 8];
        let cases: [&[u8]; 3] = [
            &[1, 1, 2, 4, 5, 0xb4, 0, 0],
            &[ts.as_slice(), &[2, 4, 5, 0xb4, 1, 1]].concat(),
            // An MSS of the wrong length is stepped over.
            &[2, 2, 2, 4, 5, 0xb4, 0, 0],
        ];
        for opts in cases {
            let mut s = syn_with(opts);
            let at = s.windows(4).rposition(|w| w == [2, 4, 5, 0xb4]).unwrap();
            assert!(verifies(&s));
            assert!(clamp(&mut s, 1400), "{opts:?}");
            assert_eq!(&s[at + 2..at + 4], &1400u16.to_be_bytes(), "{opts:?}");
            assert!(verifies(&s), "{opts:?}");
        }
    }

    #[test]
    fn malformed_options_stop_the_walk() {
        let cases: [&[u8]; 6] = [
            &[8, 1, 2, 4, 5, 0xb4, 0, 0],  // length 1
            &[8, 0, 2, 4, 5, 0xb4, 0, 0],  // length 0
            &[8, 12, 2, 4, 5, 0xb4, 0, 0], // past the header
            &[0, 0, 0, 0, 2, 4, 5, 0xb4],  // end of list first
            &[1, 1, 1, 2],                 // a kind with no length byte
            &[2, 4, 5, 0xb4, 0, 0, 0, 0],  // (the control: clamped)
        ];
        for (n, opts) in cases.into_iter().enumerate() {
            let mut s = syn_with(opts);
            let before = s.clone();
            let changed = clamp(&mut s, 1400);
            assert_eq!(changed, n == 5, "{opts:?}");
            if !changed {
                assert_eq!(s, before, "{opts:?}");
            }
            assert!(verifies(&s));
        }
        // A buffer cut before the data offset ends the walk there.
        for len in [20, 21, 22, 23] {
            let mut cut = SYN_MSS[..len].to_vec();
            assert!(!clamp(&mut cut, 1400), "{len}");
            assert_eq!(cut, SYN_MSS[..len]);
        }
        assert!(!clamp(&mut [0u8; 12], 1400), "not even a data offset");
    }

    #[test]
    fn clamp_mss_at_an_odd_offset_keeps_the_checksum() {
        let mut s = SYN_MSS_ODD;
        assert!(verifies(&s));
        assert!(clamp(&mut s, 1400));
        assert_eq!(&s[23..25], &1400u16.to_be_bytes());
        assert!(
            verifies(&s),
            "checksum {:#06x}",
            u16::from_be_bytes([s[16], s[17]])
        );
        assert_eq!(s, SYN_MSS_ODD_1400);
    }

    #[test]
    fn has_checksum_needs_both_bytes() {
        assert!(TcpPacket::new_unchecked(&SEG[..18]).has_checksum());
        assert!(!TcpPacket::new_unchecked(&SEG[..17]).has_checksum());
        assert!(!TcpPacket::new_unchecked(&SEG[..8]).has_checksum());
    }
}
