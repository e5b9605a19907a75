//! UDP datagrams (RFC 768).

use super::{be16, put16, WireError};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// Length of a UDP header.
pub const HEADER_LEN: usize = 8;

/// A view over a UDP datagram (or the first 8 bytes of one, inside an ICMP
/// error).
#[derive(Debug)]
pub struct UdpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// A view over a buffer already checked (by `new_checked` of this or
    /// an enclosing view, or by a parse in [`super::repr`]): accessors
    /// index into it without checking again.
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        UdpPacket { buf }
    }

    /// Checks that the header is present.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(UdpPacket { buf })
    }

    /// Checks the header and that the length field matches the buffer,
    /// which must be exactly the IP payload.
    pub fn new_checked_exact(buf: T) -> Result<Self, WireError> {
        let p = Self::new_checked(buf)?;
        let len = usize::from(p.len());
        if len < HEADER_LEN || len > p.buf.as_ref().len() {
            return Err(WireError::BadUdpLength);
        }
        Ok(p)
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::DST_PORT)
    }

    /// Length field.
    pub fn len(&self) -> u16 {
        be16(self.buf.as_ref(), field::LENGTH)
    }

    /// True when the length field says the datagram has no header.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checksum field (0: none was computed).
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
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

/// Byte offset of the UDP checksum field.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;

#[cfg(test)]
mod tests {
    use super::*;

    const DGRAM: [u8; 10] = [0x30, 0x39, 0x00, 0x35, 0x00, 0x0a, 0xab, 0xcd, 0x68, 0x69];

    #[test]
    fn parse() {
        let u = UdpPacket::new_checked_exact(&DGRAM[..]).unwrap();
        assert_eq!(u.src_port(), 12345);
        assert_eq!(u.dst_port(), 53);
        assert_eq!(u.len(), 10);
        assert_eq!(u.checksum(), 0xabcd);
    }

    #[test]
    fn rejects() {
        assert_eq!(
            UdpPacket::new_checked(&DGRAM[..7]).unwrap_err(),
            WireError::Truncated
        );
        let mut d = DGRAM;
        d[5] = 11;
        assert_eq!(
            UdpPacket::new_checked_exact(&d[..]).unwrap_err(),
            WireError::BadUdpLength
        );
        d[5] = 7;
        assert_eq!(
            UdpPacket::new_checked_exact(&d[..]).unwrap_err(),
            WireError::BadUdpLength
        );
        // The 8-byte copy in an ICMP error may claim more than it holds.
        assert!(UdpPacket::new_checked(&DGRAM[..8]).is_ok());
    }

    #[test]
    fn build() {
        let mut d = DGRAM;
        let mut u = UdpPacket::new_checked(&mut d[..]).unwrap();
        u.set_src_port(1024);
        u.set_dst_port(80);
        u.set_checksum(0);
        assert_eq!(&d[..8], &[0x04, 0x00, 0x00, 0x50, 0x00, 0x0a, 0, 0]);
    }
}
