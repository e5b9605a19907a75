//! IPv4 addresses as the core holds them (host-order `u32`) and the
//! prefixes built from them.
//!
//! Both the configuration and the deterministic arithmetic work on these
//! types, so they live below both; this module uses nothing else of the
//! crate.

use core::fmt;
use core::net::Ipv4Addr;

/// An IPv4 prefix such as `100.64.0.0/10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: u32,
    len: u8,
}

impl Prefix {
    /// Builds a prefix; host bits must be zero.
    pub fn new(addr: u32, len: u8) -> Result<Prefix, String> {
        if len > 32 {
            return Err(format!("prefix length {len} is over 32"));
        }
        let p = Prefix { addr, len };
        if addr & !p.mask() != 0 {
            return Err(format!("{} has host bits set past /{len}", fmt_addr(addr)));
        }
        Ok(p)
    }

    /// The network address.
    pub fn addr(self) -> u32 {
        self.addr
    }

    /// The prefix length.
    pub fn len(self) -> u8 {
        self.len
    }

    /// Always false: even a /32 holds one address. Present because
    /// clippy expects `is_empty` beside `len`.
    pub fn is_empty(self) -> bool {
        false
    }

    /// The netmask as a number.
    pub fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len)
        }
    }

    /// True when `a` is inside the prefix.
    #[inline]
    pub fn contains(self, a: u32) -> bool {
        a & self.mask() == self.addr
    }

    /// True when the two prefixes share an address.
    pub fn overlaps(self, o: Prefix) -> bool {
        let m = self.mask() & o.mask();
        self.addr & m == o.addr & m
    }

    /// Number of addresses covered.
    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }
}

impl core::str::FromStr for Prefix {
    type Err = String;

    /// Parses `a.b.c.d/len`, or `a.b.c.d` as a /32.
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => {
                let l = l
                    .parse::<u8>()
                    .map_err(|_| format!("bad prefix length in {s:?}"))?;
                (a, l)
            }
            None => (s, 32),
        };
        let a: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("bad IPv4 address in {s:?}"))?;
        Prefix::new(u32::from(a), l)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", fmt_addr(self.addr), self.len)
    }
}

/// An address held as a number, in the type that prints it dotted.
pub fn fmt_addr(a: u32) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes() {
        assert_eq!(p("100.64.0.0/10").to_string(), "100.64.0.0/10");
        assert_eq!(p("203.0.113.7"), Prefix::new(0xcb00_7107, 32).unwrap());
        assert!(p("192.168.0.0/16").contains(0xc0a8_0102));
        assert!(!p("192.168.0.0/16").contains(0xc0a9_0102));
        assert!(p("0.0.0.0/0").contains(0x0101_0101));
        assert!(p("10.0.0.0/8").overlaps(p("10.1.0.0/16")));
        assert!(!p("10.0.0.0/8").overlaps(p("11.0.0.0/8")));
        assert!("10.0.0.1/8"
            .parse::<Prefix>()
            .unwrap_err()
            .contains("host bits"));
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        assert!("10.0.0/8".parse::<Prefix>().is_err());
    }
}
