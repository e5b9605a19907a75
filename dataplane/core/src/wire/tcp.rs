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
                        let c = be16(b, field::CHECKSUM);
                        let d = super::checksum::Delta::u16(mss, clamp);
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
}
