//! Hashing of flow keys and the ownership functions.
//!
//! Table hashes are keyed by a per-deployment seed so that remote hosts,
//! who choose their own addresses and ports, cannot aim collisions. The
//! ownership hash is unkeyed: every shard, and the I/O layer steering
//! packets, must agree on it.

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// Seeded hasher for table keys.
#[derive(Clone, Copy, Debug)]
pub struct Hasher {
    k0: u64,
    k1: u64,
}

const K0: u64 = 0x243f_6a88_85a3_08d3;
const K1: u64 = 0x1319_8a2e_0370_7344;
const K2: u64 = 0xa409_3822_299f_31d0;

impl Hasher {
    /// A hasher for `seed`.
    pub fn new(seed: u64) -> Hasher {
        Hasher {
            k0: fold_mul(seed ^ K0, K1) | 1,
            k1: fold_mul(seed ^ K1, K2) | 1,
        }
    }

    /// Hash of a session key: protocol, local address and port (inside or
    /// external), remote address and port.
    #[inline]
    pub fn session(&self, proto: u8, addr: u32, port: u16, rem: u32, rem_port: u16) -> u64 {
        let a = (u64::from(addr) << 32) | u64::from(rem);
        let b = (u64::from(proto) << 32) | (u64::from(port) << 16) | u64::from(rem_port);
        fold_mul(fold_mul(a ^ self.k0, b ^ self.k1), K2)
    }

    /// Hash of a mapping key: protocol, address and port.
    #[inline]
    pub fn mapping(&self, proto: u8, addr: u32, port: u16) -> u64 {
        let b = (1u64 << 56) | (u64::from(proto) << 32) | u64::from(port);
        fold_mul(fold_mul(u64::from(addr) ^ self.k0, b ^ self.k1), K2)
    }

    /// Hash of a subscriber address.
    #[inline]
    pub fn subscriber(&self, addr: u32) -> u64 {
        fold_mul(fold_mul(u64::from(addr) ^ self.k1, K0 ^ self.k0), K2)
    }
}

/// The shard that owns subscriber `inside`: `hash(inside) mod shards`.
#[inline]
pub fn subscriber_owner(inside: u32, shards: u16) -> u16 {
    let h = (u64::from(inside).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32;
    ((u64::from(h) * u64::from(shards)) >> 32) as u16
}

/// The shard that owns the address-only sessions of protocol `proto`
/// with remote address `remote`, in both directions: `hash(proto, remote)
/// mod shards`. An inbound packet of such a protocol carries no port to
/// name a block's owner, only these two; and one shard seeing every
/// session of a (protocol, remote) pair can tell which external addresses
/// are free for it.
#[inline]
pub fn address_only_owner(proto: u8, remote: u32, shards: u16) -> u16 {
    let k = (u64::from(proto) << 32) | u64::from(remote);
    let h = (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32;
    ((u64::from(h) * u64::from(shards)) >> 32) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_in_range_and_spreads() {
        let mut count = [0u32; 4];
        for a in 0..4096u32 {
            let o = subscriber_owner(0x6440_0000 + a, 4);
            count[usize::from(o)] += 1;
        }
        for c in count {
            assert!((900..1150).contains(&c), "{count:?}");
        }
        assert_eq!(subscriber_owner(12345, 1), 0);
        let mut count = [0u32; 4];
        for a in 0..4096u32 {
            count[usize::from(address_only_owner(47, 0xc633_6400 + a, 4))] += 1;
        }
        for c in count {
            assert!((900..1150).contains(&c), "{count:?}");
        }
        assert_eq!(address_only_owner(50, 12345, 1), 0);
    }

    #[test]
    fn seeded() {
        let a = Hasher::new(1).session(17, 1, 2, 3, 4);
        let b = Hasher::new(2).session(17, 1, 2, 3, 4);
        assert_ne!(a, b);
        let h = Hasher::new(1);
        assert_ne!(h.session(17, 1, 2, 3, 4), h.session(6, 1, 2, 3, 4));
        assert_ne!(h.session(17, 1, 2, 3, 4), h.session(17, 1, 4, 3, 2));
        assert_ne!(h.mapping(17, 1, 2), h.mapping(6, 1, 2));
    }
}
