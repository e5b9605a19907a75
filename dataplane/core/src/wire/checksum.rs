//! Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! A [`Delta`] is the one's-complement sum of `~old + new` over the 16-bit
//! words a rewrite changes. It is computed once when a session is created
//! and applied per packet with [`apply`], which is RFC 1624 equation 3:
//! `HC' = ~(~HC + ~m + m')`.

/// Adds the bytes of `data` as big-endian 16-bit words to `acc`, without
/// folding. An odd trailing byte is padded with zero, as RFC 1071 says.
#[inline]
pub fn add_bytes(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds a wide one's-complement accumulator into 16 bits.
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum field value for `data` (with its checksum field zeroed, or
/// verified: a correct packet sums to zero).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(add_bytes(0, data))
}

/// Sum of the IPv4 pseudo-header used by TCP and UDP.
#[inline]
pub fn pseudo_header(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> u64 {
    let acc = add_bytes(0, &src);
    let acc = add_bytes(acc, &dst);
    acc + u64::from(proto) + u64::from(len)
}

/// A precomputed incremental checksum change (RFC 1624).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta(pub u16);

impl Delta {
    /// No change.
    pub const ZERO: Delta = Delta(0);
    /// The IPv4 header change of decrementing TTL by one: the word holding
    /// TTL and protocol loses 0x0100, so `~m + m'` is the constant 0xfeff.
    pub const TTL_DECREMENT: Delta = Delta(0xfeff);

    /// The change of a 32-bit field (an address) from `old` to `new`.
    #[inline]
    pub fn u32(old: u32, new: u32) -> Delta {
        let acc = u64::from(!(old >> 16) as u16)
            + u64::from(!old as u16)
            + u64::from((new >> 16) as u16)
            + u64::from(new as u16);
        Delta(fold(acc))
    }

    /// The change of a 16-bit field (a port or identifier).
    #[inline]
    pub fn u16(old: u16, new: u16) -> Delta {
        Delta(fold(u64::from(!old) + u64::from(new)))
    }

    /// Both changes together.
    #[inline]
    #[must_use]
    pub fn plus(self, other: Delta) -> Delta {
        Delta(fold(u64::from(self.0) + u64::from(other.0)))
    }

    /// The change that undoes this one.
    #[inline]
    #[must_use]
    pub fn negate(self) -> Delta {
        Delta(!self.0)
    }
}

/// Applies `delta` to a checksum field value (RFC 1624 eqn. 3).
#[inline]
pub fn apply(csum: u16, delta: Delta) -> u16 {
    !fold(u64::from(!csum) + u64::from(delta.0))
}

/// Applies `delta` to a UDP checksum field: 0 means "no checksum" and stays
/// 0; a computed 0 is sent as 0xffff (RFC 768).
#[inline]
pub fn apply_udp(csum: u16, delta: Delta) -> u16 {
    if csum == 0 {
        return 0;
    }
    match apply(csum, delta) {
        0 => 0xffff,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // The worked example of RFC 1071 section 3: words 0001 f203 f4f5 f6f7.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add_bytes(0, &data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(add_bytes(0, &[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    #[test]
    fn incremental_matches_full_recompute() {
        // A 20-byte IPv4 header whose source address is rewritten.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x02, 0xc6, 0x33, 0x64, 0x01,
        ];
        let c = checksum(&hdr);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        let old = u32::from_be_bytes([hdr[12], hdr[13], hdr[14], hdr[15]]);
        let new: u32 = 0xcb00_7107; // 203.0.113.7
        hdr[12..16].copy_from_slice(&new.to_be_bytes());
        hdr[8] -= 1;
        let d = Delta::u32(old, new).plus(Delta::TTL_DECREMENT);
        let inc = apply(c, d);
        hdr[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(inc, checksum(&hdr));
    }

    #[test]
    fn negate_undoes() {
        let d = Delta::u32(0xc0a8_0002, 0xcb00_7107).plus(Delta::u16(40000, 1030));
        for c in [0x0000u16, 0x1234, 0xfffe, 0xffff, 0x8000] {
            let there = apply(c, d);
            let back = apply(there, d.negate());
            // 0x0000 and 0xffff are the same number in one's complement.
            assert!(
                back == c || (back | c) == 0xffff && (back & c) == 0,
                "{c:#x} -> {back:#x}"
            );
        }
    }

    #[test]
    fn udp_zero_stays_zero_and_zero_result_becomes_ffff() {
        assert_eq!(apply_udp(0, Delta::u16(1, 2)), 0);
        // ~c + c is 0xffff, so a delta equal to the checksum yields 0.
        let c = 0x1234;
        assert_eq!(apply(c, Delta(c)), 0);
        assert_eq!(apply_udp(c, Delta(c)), 0xffff);
        assert_ne!(apply_udp(0x0001, Delta::ZERO), 0);
    }
}
