//! The IP protocols the NAT keeps sessions for, and their names.
//!
//! Every name an operator reads or writes for a protocol (`tcp`, `udp`,
//! `icmp` in the configuration file, `gre` or `esp` in the admin answers,
//! metric labels and the exit report) comes from the tables here, so the
//! spellings cannot drift apart between the places that print and the
//! places that parse. TCP, UDP and ICMP have ports (or identifiers) and a
//! [`Protocol`] of their own; every other protocol is translated
//! address-only and is named by [`name_of`] (`other` for a number without
//! a name).

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

/// DCCP: address-only, but its checksum covers a pseudo-header.
pub const PROTO_DCCP: u8 = 33;
/// UDP-Lite: address-only, but its checksum covers a pseudo-header.
pub const PROTO_UDPLITE: u8 = 136;

/// Number and name of the address-only protocols that have a name of
/// their own (IANA's keywords, lowercase); the rest are `other`.
const NAMED: [(u8, &str); 10] = [
    (4, "ipip"),
    (41, "ipv6"),
    (47, "gre"),
    (50, "esp"),
    (51, "ah"),
    (89, "ospf"),
    (115, "l2tp"),
    (132, "sctp"),
    (PROTO_DCCP, "dccp"),
    (PROTO_UDPLITE, "udplite"),
];

/// Number of session-count slots: TCP, UDP, ICMP, each named
/// address-only protocol, and `other` (see [`slot_of`]).
pub const SLOTS: usize = 3 + NAMED.len() + 1;

/// The label of each slot of [`slot_of`], in slot order.
pub const SLOT_NAMES: [&str; SLOTS] = {
    let mut out = ["other"; SLOTS];
    let mut k = 0;
    while k < 3 {
        out[k] = TABLE[k].2;
        k += 1;
    }
    while k < 3 + NAMED.len() {
        out[k] = NAMED[k - 3].1;
        k += 1;
    }
    out
};

/// The session-count slot of IP protocol `p`: its place in
/// [`SLOT_NAMES`], a bounded label set.
pub fn slot_of(p: u8) -> usize {
    usize::from(SLOT_OF[usize::from(p)])
}

/// [`slot_of`] for every protocol number, built from the tables above
/// once, so counting a session costs one load.
const SLOT_OF: [u8; 256] = {
    let mut out = [(SLOTS - 1) as u8; 256];
    let mut k = 0;
    while k < TABLE.len() {
        out[TABLE[k].1 as usize] = k as u8;
        k += 1;
    }
    let mut k = 0;
    while k < NAMED.len() {
        out[NAMED[k].0 as usize] = (3 + k) as u8;
        k += 1;
    }
    out
};

/// True for a protocol translated address-only (every one but TCP, UDP
/// and ICMP): one session per inside address, protocol and remote
/// address, no port.
#[inline]
pub fn is_address_only(p: u8) -> bool {
    !matches!(p, PROTO_TCP | PROTO_UDP | PROTO_ICMP)
}

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

/// The name of IP protocol number `p`: `tcp`, `udp`, `icmp`, one of the
/// named address-only protocols (`gre`, `esp`, ...), or `other`.
pub fn name_of(p: u8) -> &'static str {
    SLOT_NAMES[slot_of(p)]
}

/// Displays IP protocol number `p` by its name, or by its number when it
/// has none (`gre`, `253`); width and alignment apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name(pub u8);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name_of(self.0) {
            "other" => f.pad(&self.0.to_string()),
            n => f.pad(n),
        }
    }
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
            assert_eq!(slot_of(p.number()), p as usize);
            assert!(!is_address_only(p.number()));
        }
        assert_eq!(Protocol::Udp.number(), 17);
        assert_eq!(name_of(1), "icmp");
        assert_eq!(name_of(47), "gre");
        assert_eq!(name_of(50), "esp");
        assert_eq!(name_of(132), "sctp");
        assert_eq!(name_of(253), "other");
        assert_eq!(Name(47).to_string(), "gre");
        assert_eq!(Name(253).to_string(), "253");
        assert_eq!(format!("{:<5}|", Name(50)), "esp  |");
        assert_eq!(format!("{:<5}|", Protocol::Tcp), "tcp  |");
        assert!("TCP".parse::<Protocol>().is_err());
        assert!(is_address_only(47) && is_address_only(0) && is_address_only(255));
    }

    #[test]
    fn every_number_has_one_slot_and_names_are_unique() {
        let mut seen = [0u32; SLOTS];
        for p in 0..=255u8 {
            seen[slot_of(p)] += 1;
        }
        // Each named slot holds exactly one number; `other` the rest.
        assert!(seen[..SLOTS - 1].iter().all(|&n| n == 1), "{seen:?}");
        assert_eq!(seen[SLOTS - 1], 256 - (SLOTS as u32 - 1));
        for (i, a) in SLOT_NAMES.iter().enumerate() {
            assert!(SLOT_NAMES[i + 1..].iter().all(|b| a != b), "{a} twice");
        }
    }
}
