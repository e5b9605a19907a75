//! The MTUs masq cuts packets to and answers ICMP 3/4 with: the `lan_mtu`
//! and `wan_mtu` overrides when set, else each interface's own MTU from
//! the kernel view (netlink), followed while masq runs, clamped to what
//! one AF_XDP frame holds ([`MAX_MTU`]).

use std::fmt;

use crate::config::RunConfig;
use crate::kernel::KernelView;

/// Largest MTU masq sends at: a frame with a VLAN tag's room must fit one
/// 2048-byte AF_XDP frame.
pub const MAX_MTU: u16 = 2048 - 18;
/// Smallest IPv4 MTU (RFC 791).
pub const MIN_MTU: u16 = 68;
/// The MTU used while an interface's is not known.
pub const FALLBACK: u16 = 1500;

/// Where an MTU in force comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The configuration's `lan_mtu` / `wan_mtu`.
    Override,
    /// The interface's own.
    Interface,
    /// The interface's own, this large, clamped to [`MAX_MTU`].
    Clamped(u32),
    /// The interface is not in the kernel view: [`FALLBACK`].
    Unknown,
}

/// An MTU in force and where it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mtu {
    /// Bytes.
    pub value: u16,
    /// From where.
    pub source: Source,
}

/// The MTU of a side with override `over` and interface MTU `link`.
pub fn pick(over: Option<u16>, link: Option<u32>) -> Mtu {
    let (value, source) = match (over, link) {
        (Some(m), _) => (m, Source::Override),
        (None, Some(l)) if l > u32::from(MAX_MTU) => (MAX_MTU, Source::Clamped(l)),
        (None, Some(l)) => ((l as u16).max(MIN_MTU), Source::Interface),
        (None, None) => (FALLBACK, Source::Unknown),
    };
    Mtu { value, source }
}

/// The LAN and WAN MTUs of `rc` on the interfaces of `view`.
pub fn both(rc: &RunConfig, view: &KernelView) -> [Mtu; 2] {
    let link = |name: &str| {
        view.index_of(name)
            .and_then(|i| view.link(i))
            .map(|l| l.mtu)
            .filter(|&m| m != 0)
    };
    [
        pick(rc.lan_mtu, link(&rc.lan)),
        pick(rc.wan_mtu, link(&rc.wan)),
    ]
}

impl fmt::Display for Mtu {
    /// `1400 (the interface's)`, `1400 (set in the configuration)`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.value)?;
        match self.source {
            Source::Override => f.write_str("(set in the configuration)"),
            Source::Interface => f.write_str("(the interface's)"),
            Source::Clamped(l) => write!(
                f,
                "(the interface's {l}, clamped: a frame must fit one 2048-byte AF_XDP frame)"
            ),
            Source::Unknown => f.write_str("(the interface's is not known yet)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_wins_then_the_interface_clamped() {
        assert_eq!(pick(Some(1400), Some(9000)).value, 1400);
        assert_eq!(pick(Some(1400), None).source, Source::Override);
        let m = pick(None, Some(1492));
        assert_eq!((m.value, m.source), (1492, Source::Interface));
        assert_eq!(m.to_string(), "1492 (the interface's)");
        let m = pick(None, Some(9000));
        assert_eq!((m.value, m.source), (2030, Source::Clamped(9000)));
        assert!(m.to_string().contains("9000, clamped"), "{m}");
        assert_eq!(pick(None, None).value, 1500);
        assert_eq!(pick(None, Some(20)).value, 68);
    }
}
