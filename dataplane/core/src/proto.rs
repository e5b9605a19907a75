//! The IP protocols the NAT keeps sessions for, and their names.
//!
//! Every name an operator reads or writes for a protocol (`tcp`, `udp`,
//! `icmp` in the configuration file, the admin answers, metric labels and
//! the exit report) comes from the one table here, so the spellings cannot
//! drift apart between the places that print and the places that parse.

use core::fmt;

use crate::wire::ipv4::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};

/// A protocol with sessions of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP queries (1), keyed by their identifier.
    Icmp,
}

/// Number and name of each protocol.
const TABLE: [(Protocol, u8, &str); 3] = [
    (Protocol::Tcp, PROTO_TCP, "tcp"),
    (Protocol::Udp, PROTO_UDP, "udp"),
    (Protocol::Icmp, PROTO_ICMP, "icmp"),
];

impl Protocol {
    /// Every protocol, in the order of
    /// [`Shard::session_count_by_proto`](crate::Shard::session_count_by_proto).
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp];

    /// The protocol of IP protocol number `p`, if the NAT tracks it.
    pub fn from_number(p: u8) -> Option<Protocol> {
        TABLE.iter().find(|t| t.1 == p).map(|t| t.0)
    }

    /// The IP protocol number.
    pub fn number(self) -> u8 {
        TABLE[self as usize].1
    }

    /// The lowercase name: `tcp`, `udp` or `icmp`.
    pub fn name(self) -> &'static str {
        TABLE[self as usize].2
    }
}

/// The name of IP protocol number `p`, or `other` for one the NAT does not
/// track (such numbers have no sessions, but a caller printing raw
/// numbers still gets a word).
pub fn name_of(p: u8) -> &'static str {
    Protocol::from_number(p).map_or("other", Protocol::name)
}

impl fmt::Display for Protocol {
    /// The name; width and alignment apply, so tables can pad it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl core::str::FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Protocol, String> {
        TABLE
            .iter()
            .find(|t| t.2 == s)
            .map(|t| t.0)
            .ok_or_else(|| format!("{s:?} is not one of tcp, udp, icmp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for p in Protocol::ALL {
            assert_eq!(TABLE[p as usize].0, p, "TABLE is in declaration order");
            assert_eq!(Protocol::from_number(p.number()), Some(p));
            assert_eq!(p.name().parse::<Protocol>(), Ok(p));
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!(Protocol::Udp.number(), 17);
        assert_eq!(name_of(1), "icmp");
        assert_eq!(name_of(47), "other");
        assert_eq!(format!("{:<5}|", Protocol::Tcp), "tcp  |");
        assert!("TCP".parse::<Protocol>().is_err());
    }
}
