//! Where the NAT's external addresses come from: the configured pool
//! (SNAT) or the WAN interface's address (MASQUERADE), and the stand-in
//! address MASQUERADE's configuration carries while the interface has
//! none.
//!
//! In MASQUERADE mode the control thread's `Control::external` is the one
//! owner of the WAN address. The kernel view (`crate::kernel`) reports an
//! address change on the WAN; the control thread picks the interface's
//! first primary address that is not a subscriber's and, when it differs,
//! derives from it in this order: the workers' shards
//! (`Command::SetAddress`, which drops the sessions on the old address),
//! the configuration's pool copy (`RunConfig::core.pool`, one /32 from
//! [`External::masquerade_pool`], which a reload and the filters read),
//! and the WAN XDP program's pool map. The start line, `masq stats` and
//! `/metrics` print `Control::external` itself. While the address is
//! gone the shards and the pool copy keep the last one and new mappings
//! are refused.

use std::fmt;
use std::net::Ipv4Addr;

use masq_core::Prefix;

/// The stand-in external address of MASQUERADE while the WAN interface
/// has none (192.0.2.1, TEST-NET-1): it makes the configuration valid
/// and is never translated to, since the workers refuse new mappings
/// until a real address comes.
pub const PLACEHOLDER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// The source of the external addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum External {
    /// SNAT: the configured pool.
    #[default]
    Pool,
    /// MASQUERADE: the WAN interface's address, when it has one.
    Interface(Option<Ipv4Addr>),
}

impl External {
    /// The address MASQUERADE translates to now (none in SNAT mode).
    pub fn address(self) -> Option<Ipv4Addr> {
        match self {
            External::Pool => None,
            External::Interface(a) => a,
        }
    }

    /// Whether the NAT has an address to translate to.
    pub fn is_up(self) -> bool {
        self != External::Interface(None)
    }

    /// The pool MASQUERADE's configuration carries for `addr`: one /32 of
    /// it, or of [`PLACEHOLDER`] when there is none.
    pub fn masquerade_pool(addr: Option<Ipv4Addr>) -> Vec<Prefix> {
        let a = addr.unwrap_or(PLACEHOLDER);
        Prefix::new(u32::from(a), 32).into_iter().collect()
    }
}

/// "pool", the address, or "none".
impl fmt::Display for External {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            External::Pool => f.write_str("pool"),
            External::Interface(Some(a)) => write!(f, "{a}"),
            External::Interface(None) => f.write_str("none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_makes_the_masquerade_pool() {
        let a = Ipv4Addr::new(198, 18, 0, 1);
        assert_eq!(External::Interface(Some(a)).to_string(), "198.18.0.1");
        assert_eq!(External::Interface(None).to_string(), "none");
        assert_eq!(External::Pool.to_string(), "pool");
        assert!(External::Pool.is_up() && !External::Interface(None).is_up());
        assert_eq!(External::Interface(Some(a)).address(), Some(a));
        let p = External::masquerade_pool(Some(a));
        assert_eq!(
            p.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["198.18.0.1/32"]
        );
        let p = External::masquerade_pool(None);
        assert_eq!(
            p.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["192.0.2.1/32"]
        );
    }
}
