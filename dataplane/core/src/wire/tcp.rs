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
