//! Ethernet II frames.

use super::{be16, put16, WireError};

mod field {
    pub const DST: core::ops::Range<usize> = 0..6;
    pub const SRC: core::ops::Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

/// Length of an Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;

/// A MAC address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// True for broadcast and multicast (group bit set).
    pub fn is_group(self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl core::fmt::Display for Mac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// A view over an Ethernet II frame.
#[derive(Debug)]
pub struct EthernetFrame<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// A view over a buffer already checked (by `new_checked` of this or
    /// an enclosing view, or by a parse in [`super::repr`]): accessors
    /// index into it without checking again.
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        EthernetFrame { buf }
    }

    /// Checks that the buffer holds a whole header.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(EthernetFrame { buf })
    }

    /// Destination address.
    pub fn dst(&self) -> Mac {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buf.as_ref()[field::DST]);
        Mac(m)
    }

    /// Source address.
    pub fn src(&self) -> Mac {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buf.as_ref()[field::SRC]);
        Mac(m)
    }

    /// EtherType (no VLAN tag is interpreted).
    pub fn ethertype(&self) -> u16 {
        be16(self.buf.as_ref(), field::ETHERTYPE)
    }

    /// Bytes after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination address.
    pub fn set_dst(&mut self, m: Mac) {
        self.buf.as_mut()[field::DST].copy_from_slice(&m.0);
    }

    /// Sets the source address.
    pub fn set_src(&mut self, m: Mac) {
        self.buf.as_mut()[field::SRC].copy_from_slice(&m.0);
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, t: u16) {
        put16(self.buf.as_mut(), field::ETHERTYPE, t);
    }

    /// Bytes after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[field::PAYLOAD..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: [u8; 16] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0xaa,
        0xbb,
    ];

    #[test]
    fn parse() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst(), Mac([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.src(), Mac([2, 0, 0, 0, 0, 2]));
        assert_eq!(f.ethertype(), ETHERTYPE_IPV4);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
        assert!(!f.dst().is_group());
        assert!(Mac([0xff; 6]).is_group());
    }

    #[test]
    fn truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&FRAME[..13]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn build() {
        let mut buf = [0u8; 14];
        let mut f = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        f.set_dst(Mac([2, 0, 0, 0, 0, 1]));
        f.set_src(Mac([2, 0, 0, 0, 0, 2]));
        f.set_ethertype(ETHERTYPE_IPV4);
        assert_eq!(buf, FRAME[..14]);
        assert_eq!(Mac([2, 0, 0, 0, 0, 0xab]).to_string(), "02:00:00:00:00:ab");
    }
}
