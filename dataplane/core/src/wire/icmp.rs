//! ICMPv4 messages (RFC 792): echo request/reply and the errors that carry
//! the IP header and first 8 bytes of the packet that caused them.

use super::{be16, put16, WireError};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    pub const BODY: usize = 8;
}

/// Length of the fixed ICMP header.
pub const HEADER_LEN: usize = field::BODY;

/// Echo reply.
pub const ECHO_REPLY: u8 = 0;
/// Destination unreachable.
pub const DEST_UNREACHABLE: u8 = 3;
/// Echo request.
pub const ECHO_REQUEST: u8 = 8;
/// Time exceeded.
pub const TIME_EXCEEDED: u8 = 11;
/// Parameter problem.
pub const PARAMETER_PROBLEM: u8 = 12;

/// What an ICMP message type means to a NAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Echo request or reply: the identifier is mapped like a port.
    Query,
    /// Unreachable, time exceeded or parameter problem: carries the packet
    /// that caused it.
    Error,
    /// Anything else (timestamp, redirect, router advertisement...).
    Other,
}

/// Classifies an ICMP type.
pub fn kind(ty: u8) -> Kind {
    match ty {
        ECHO_REQUEST | ECHO_REPLY => Kind::Query,
        DEST_UNREACHABLE | TIME_EXCEEDED | PARAMETER_PROBLEM => Kind::Error,
        _ => Kind::Other,
    }
}

/// A view over an ICMP message.
#[derive(Debug)]
pub struct IcmpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// A view over a buffer already checked (by `new_checked` of this or
    /// an enclosing view, or by a parse in [`super::repr`]): accessors
    /// index into it without checking again.
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        IcmpPacket { buf }
    }

    /// Checks that the 8-byte header is present.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(IcmpPacket { buf })
    }

    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buf.as_ref()[field::TYPE]
    }

    /// Message code.
    pub fn code(&self) -> u8 {
        self.buf.as_ref()[field::CODE]
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier.
    pub fn ident(&self) -> u16 {
        be16(self.buf.as_ref(), field::IDENT)
    }

    /// Echo sequence number.
    pub fn seq(&self) -> u16 {
        be16(self.buf.as_ref(), field::SEQ)
    }

    /// Bytes after the 8-byte header (for errors: the embedded packet).
    pub fn body(&self) -> &[u8] {
        &self.buf.as_ref()[field::BODY..]
    }

    /// True when the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        super::checksum::fold(super::checksum::add_bytes(0, self.buf.as_ref())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, t: u8) {
        self.buf.as_mut()[field::TYPE] = t;
    }

    /// Sets the code.
    pub fn set_code(&mut self, c: u8) {
        self.buf.as_mut()[field::CODE] = c;
    }

    /// Sets the echo identifier.
    pub fn set_ident(&mut self, id: u16) {
        put16(self.buf.as_mut(), field::IDENT, id);
    }

    /// Sets the four bytes after the checksum (identifier and sequence of
    /// a query; unused, or the next-hop MTU of a 3/4, in an error).
    pub fn set_rest(&mut self, v: u32) {
        super::put32(self.buf.as_mut(), field::IDENT, v);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buf.as_mut(), field::CHECKSUM, c);
    }

    /// Recomputes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = super::checksum::checksum(self.buf.as_ref());
        self.set_checksum(c);
    }

    /// The body, writable.
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[field::BODY..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Echo request id 0x1234 seq 1, payload "hi", checksum filled below.
    const ECHO: [u8; 10] = [8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, 0x68, 0x69];

    #[test]
    fn parse_and_checksum() {
        let mut b = ECHO;
        let mut p = IcmpPacket::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.msg_type(), ECHO_REQUEST);
        assert_eq!(kind(p.msg_type()), Kind::Query);
        assert_eq!(p.ident(), 0x1234);
        assert_eq!(p.seq(), 1);
        assert_eq!(p.body(), b"hi");
        let ep = etherparse::Icmpv4Slice::from_slice(&b).unwrap();
        assert_eq!(
            ep.header().icmp_type.calc_checksum(ep.payload()),
            p_checksum(&b)
        );
    }

    fn p_checksum(b: &[u8]) -> u16 {
        u16::from_be_bytes([b[2], b[3]])
    }

    #[test]
    fn kinds() {
        assert_eq!(kind(3), Kind::Error);
        assert_eq!(kind(11), Kind::Error);
        assert_eq!(kind(12), Kind::Error);
        assert_eq!(kind(0), Kind::Query);
        assert_eq!(kind(5), Kind::Other);
        assert_eq!(kind(13), Kind::Other);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            IcmpPacket::new_checked(&ECHO[..7]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn rewrite_ident() {
        let mut b = ECHO;
        let mut p = IcmpPacket::new_checked(&mut b[..]).unwrap();
        p.set_ident(0x0400);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(&b[4..6], &[0x04, 0x00]);
    }

    #[test]
    fn set_rest_writes_the_four_bytes_after_the_checksum() {
        let mut b = ECHO;
        let mut p = IcmpPacket::new_unchecked(&mut b[..]);
        p.set_rest(576); // a 3/4's next-hop MTU
        assert_eq!(p.ident(), 0);
        assert_eq!(p.seq(), 576);
        assert_eq!(b[4..8], [0, 0, 2, 0x40]);
        assert_eq!(b[8..], ECHO[8..]);
    }
}
