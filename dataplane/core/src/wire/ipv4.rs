//! IPv4 packets (RFC 791).
//!
//! `new_checked` accepts a buffer that holds the whole header (options
//! included) and the whole `total length`; bytes past the total length
//! (Ethernet padding) are ignored by every accessor.

use super::checksum;
use super::{be16, be32, put16, put32, WireError};

pub(crate) mod field {
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// Length of an IPv4 header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// Highest byte offset a fragment may reach (the largest datagram).
pub const MAX_DATAGRAM: usize = 0xffff;

pub(crate) const FLAG_DF: u16 = 0x4000;
pub(crate) const FLAG_MF: u16 = 0x2000;
pub(crate) const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view over an IPv4 packet.
#[derive(Debug)]
pub struct Ipv4Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// A view over a buffer already checked (by `new_checked` of this or
    /// an enclosing view, or by a parse in [`super::repr`]): accessors
    /// index into it without checking again.
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        Ipv4Packet { buf }
    }

    /// Checks version, IHL and total length against the buffer.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let p = Self::new_header_checked(buf)?;
        let tl = usize::from(p.total_len());
        if tl < p.header_len() || tl > p.buf.as_ref().len() {
            return Err(WireError::BadTotalLength);
        }
        Ok(p)
    }

    /// Checks only that the fixed header and its options are present, for
    /// the truncated copy of a packet that an ICMP error carries.
    pub fn new_header_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(WireError::NotIpv4);
        }
        let hl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        if hl < MIN_HEADER_LEN || hl > b.len() {
            return Err(WireError::BadIhl);
        }
        Ok(Ipv4Packet { buf })
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Total length field.
    pub fn total_len(&self) -> u16 {
        be16(self.buf.as_ref(), field::TOTAL_LEN)
    }

    /// Identification field.
    pub fn ident(&self) -> u16 {
        be16(self.buf.as_ref(), field::IDENT)
    }

    /// Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        be16(self.buf.as_ref(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// More Fragments flag.
    pub fn more_frags(&self) -> bool {
        be16(self.buf.as_ref(), field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buf.as_ref(), field::FLAGS_FRAG) & FRAG_OFFSET_MASK
    }

    /// True when this packet is a fragment (first or later).
    pub fn is_fragment(&self) -> bool {
        be16(self.buf.as_ref(), field::FLAGS_FRAG) & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buf.as_ref()[field::TTL]
    }

    /// Protocol number.
    pub fn protocol(&self) -> u8 {
        self.buf.as_ref()[field::PROTOCOL]
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    pub fn src(&self) -> u32 {
        be32(self.buf.as_ref(), field::SRC)
    }

    /// Destination address.
    pub fn dst(&self) -> u32 {
        be32(self.buf.as_ref(), field::DST)
    }

    /// The header, options included.
    pub fn header(&self) -> &[u8] {
        &self.buf.as_ref()[..self.header_len()]
    }

    /// Options bytes (empty when IHL is 5).
    pub fn options(&self) -> &[u8] {
        &self.buf.as_ref()[MIN_HEADER_LEN..self.header_len()]
    }

    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::add_bytes(0, self.header())) == 0xffff
    }

    /// The payload up to the total length (a view made with
    /// `new_header_checked` yields what the buffer holds).
    pub fn payload(&self) -> &[u8] {
        let b = self.buf.as_ref();
        let end = usize::from(self.total_len()).clamp(self.header_len(), b.len());
        &b[self.header_len()..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the source address (checksum untouched).
    pub fn set_src(&mut self, a: u32) {
        put32(self.buf.as_mut(), field::SRC, a);
    }

    /// Sets the destination address (checksum untouched).
    pub fn set_dst(&mut self, a: u32) {
        put32(self.buf.as_mut(), field::DST, a);
    }

    /// Sets the TTL (checksum untouched).
    pub fn set_ttl(&mut self, t: u8) {
        self.buf.as_mut()[field::TTL] = t;
    }

    /// Sets the header checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buf.as_mut(), field::CHECKSUM, c);
    }

    /// Lowers the TTL by one (never below zero; the checksum is the
    /// caller's, with [`checksum::Delta::TTL_DECREMENT`]).
    #[inline]
    pub fn decrement_ttl(&mut self) {
        let t = self.ttl();
        self.set_ttl(t.saturating_sub(1));
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    /// The payload up to the total length, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let end = usize::from(self.total_len()).clamp(hl, self.buf.as_ref().len());
        &mut self.buf.as_mut()[hl..end]
    }
}

/// True when IPv4 options are well formed: end of list and no-operation
/// are one byte; every other option has a length of at least 2 that stays
/// inside the options.
pub fn options_valid(opts: &[u8]) -> bool {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => return true,
            1 => i += 1,
            _ => match opts.get(i + 1) {
                Some(&len) if len >= 2 && i + usize::from(len) <= opts.len() => {
                    i += usize::from(len)
                }
                _ => return false,
            },
        }
    }
    true
}

/// An option-less IPv4 header to write (smoltcp's `Repr::emit` idea): the
/// core builds the headers of the ICMP errors it generates with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderRepr {
    /// Type of service byte.
    pub tos: u8,
    /// Total length, header included.
    pub total_len: u16,
    /// Time to live.
    pub ttl: u8,
    /// Protocol number.
    pub protocol: u8,
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
}

impl HeaderRepr {
    /// Writes the header, checksum included, at the start of `buf` (at
    /// least [`MIN_HEADER_LEN`] bytes): no options, identification 0, no
    /// fragment flags.
    pub fn emit(&self, buf: &mut [u8]) {
        let h = &mut buf[..MIN_HEADER_LEN];
        h.fill(0);
        h[field::VER_IHL] = 0x45;
        h[1] = self.tos;
        put16(h, field::TOTAL_LEN, self.total_len);
        h[field::TTL] = self.ttl;
        h[field::PROTOCOL] = self.protocol;
        put32(h, field::SRC, self.src);
        put32(h, field::DST, self.dst);
        Ipv4Packet::new_unchecked(h).fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 192.168.0.2 -> 198.51.100.1, UDP, 28 bytes total, checksum correct,
    // followed by two bytes of Ethernet padding.
    const PACKET: [u8; 30] = [
        0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x3d, 0xbe, 0xc0, 0xa8, 0x00,
        0x02, 0xc6, 0x33, 0x64, 0x01, 0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00, 0xee, 0xee,
    ];

    #[test]
    fn parse() {
        let p = Ipv4Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), PROTO_UDP);
        assert_eq!(p.src(), 0xc0a8_0002);
        assert_eq!(p.dst(), 0xc633_6401);
        assert!(p.verify_checksum(), "checksum {:#x}", p.checksum());
        assert_eq!(p.payload().len(), 8, "padding is not payload");
        assert!(p.options().is_empty());
    }

    #[test]
    fn checksum_matches_etherparse() {
        let h = etherparse::Ipv4HeaderSlice::from_slice(&PACKET)
            .unwrap()
            .to_header();
        assert_eq!(h.calc_header_checksum(), 0x3dbe);
    }

    #[test]
    fn rejects() {
        let mut p = PACKET;
        assert_eq!(
            Ipv4Packet::new_checked(&p[..19]).unwrap_err(),
            WireError::Truncated
        );
        p[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&p[..]).unwrap_err(),
            WireError::NotIpv4
        );
        p[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&p[..]).unwrap_err(),
            WireError::BadIhl
        );
        p[0] = 0x4f; // 60-byte header in a 30-byte buffer
        assert_eq!(
            Ipv4Packet::new_checked(&p[..]).unwrap_err(),
            WireError::BadIhl
        );
        p[0] = 0x45;
        p[3] = 0x40; // total length 64 past the buffer
        assert_eq!(
            Ipv4Packet::new_checked(&p[..]).unwrap_err(),
            WireError::BadTotalLength
        );
        p[3] = 0x10; // total length 16 below the header
        assert_eq!(
            Ipv4Packet::new_checked(&p[..]).unwrap_err(),
            WireError::BadTotalLength
        );
    }

    #[test]
    fn options_and_fragments() {
        // IHL 6: one 4-byte option (NOP NOP NOP EOL); MF set.
        let mut b = [0u8; 24];
        b[0] = 0x46;
        b[3] = 24;
        b[6] = 0x20;
        b[8] = 1;
        b[9] = PROTO_UDP;
        b[20..24].copy_from_slice(&[1, 1, 1, 0]);
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert!(p.is_fragment() && p.more_frags() && p.frag_offset() == 0);
        assert!(p.payload().is_empty());
    }

    #[test]
    fn rewrite() {
        let mut b = PACKET;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_src(0xcb00_7107);
        p.set_dst(0x0a00_0001);
        p.set_ttl(63);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.src(), 0xcb00_7107);
        assert_eq!(p.dst(), 0x0a00_0001);
        assert_eq!(&b[12..16], &[203, 0, 113, 7]);
    }

    #[test]
    fn options_valid_adds_up_the_lengths() {
        let good: [&[u8]; 6] = [
            &[],
            &[1, 1, 1, 0],
            &[0, 0xff, 0xff, 0xff], // after the end of the list, anything
            &[7, 3, 4, 0],          // record route, then the end
            &[0x94, 4, 0, 0],       // router alert
            &[0x44, 8, 5, 0, 1, 2, 3, 4],
        ];
        for o in good {
            assert!(options_valid(o), "{o:?}");
        }
        let bad: [&[u8]; 5] = [
            &[0x44, 8, 5, 0], // longer than the options
            &[0x44, 1, 0, 0], // length below 2
            &[0x44, 0, 0, 0], // length 0 would never move
            &[1, 1, 1, 7],    // no length byte
            &[7],
        ];
        for o in bad {
            assert!(!options_valid(o), "{o:?}");
        }
    }

    // 203.0.113.1 -> 192.168.1.10, ICMP, TOS 0xc0, 56 bytes, TTL 64, id 0,
    // checksum computed apart from the core.
    const EMITTED: [u8; 20] = [
        0x45, 0xc0, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01, 0x7c, 0x51, 0xcb, 0x00, 0x71,
        0x01, 0xc0, 0xa8, 0x01, 0x0a,
    ];

    #[test]
    fn header_repr_emits_a_whole_header() {
        let h = HeaderRepr {
            tos: 0xc0,
            total_len: 56,
            ttl: 64,
            protocol: PROTO_ICMP,
            src: 0xcb00_7101,
            dst: 0xc0a8_010a,
        };
        // Whatever the buffer held is overwritten; past 20 bytes, nothing.
        let mut b = [0xaa; 24];
        h.emit(&mut b);
        assert_eq!(b[..20], EMITTED);
        assert_eq!(b[20..], [0xaa; 4]);
        let p = Ipv4Packet::new_header_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!((p.header_len(), p.total_len(), p.ttl()), (20, 56, 64));
        assert_eq!((p.src(), p.dst(), p.protocol()), (h.src, h.dst, PROTO_ICMP));
        assert!(!p.is_fragment() && !p.dont_frag() && p.ident() == 0);
        let e = etherparse::Ipv4HeaderSlice::from_slice(&b[..20])
            .unwrap()
            .to_header();
        assert_eq!(e.header_checksum, e.calc_header_checksum());
        assert_eq!(e.source, [203, 0, 113, 1]);
        assert_eq!(e.destination, [192, 168, 1, 10]);
    }

    #[test]
    fn decrement_ttl_stops_at_zero() {
        let mut b = PACKET;
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.decrement_ttl();
        assert_eq!(p.ttl(), 63);
        p.set_ttl(0);
        p.decrement_ttl();
        assert_eq!(p.ttl(), 0);
        assert_eq!(b[10..12], PACKET[10..12], "the checksum is the caller's");
    }
}
