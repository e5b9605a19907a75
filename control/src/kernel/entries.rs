//! The entries of the kernel view (links, IPv4 addresses, default routes,
//! neighbours and their states) and [`Changes`], what messages changed.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;

use masq_core::wire::Mac;
use netlink_packet_route::neighbour::NeighbourState;

/// The four tables masq follows, in the order they are dumped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// Links (interfaces).
    Links,
    /// IPv4 addresses.
    Addresses,
    /// IPv4 routes (of which the main table's default routes are kept).
    Routes,
    /// IPv4 neighbours.
    Neighbours,
}

impl Table {
    /// All of them, in dump order.
    pub const ALL: [Table; 4] = [
        Table::Links,
        Table::Addresses,
        Table::Routes,
        Table::Neighbours,
    ];
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Table::Links => "links",
            Table::Addresses => "addresses",
            Table::Routes => "routes",
            Table::Neighbours => "neighbours",
        })
    }
}

/// An interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Its name.
    pub name: String,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// With carrier (IFF_LOWER_UP).
    pub carrier: bool,
    /// Its MTU.
    pub mtu: u32,
    /// Its MAC address (none on links without a 6-byte one, such as
    /// tunnels).
    pub mac: Option<Mac>,
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (self.up, self.carrier) {
            (false, _) => "down",
            (true, false) => "up, no carrier",
            (true, true) => "up",
        };
        write!(f, "{} {state}, mtu {}", self.name, self.mtu)?;
        if let Some(m) = self.mac {
            write!(f, ", {m}")?;
        }
        Ok(())
    }
}

/// An IPv4 address of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    /// The address.
    pub addr: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// A secondary address (another in the subnet of a primary one).
    pub secondary: bool,
}

/// A next hop of a default route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hop {
    /// The output interface.
    pub oif: u32,
    /// The gateway (none: the destination is on the link).
    pub gateway: Option<Ipv4Addr>,
}

/// An IPv4 default route of the main table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct DefaultRoute {
    pub(super) tos: u8,
    pub(super) metric: u32,
    pub(super) hops: Vec<Hop>,
}

/// The gateway of the best default route through an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gateway {
    /// Its address.
    pub addr: Ipv4Addr,
    /// The route's metric (lower wins).
    pub metric: u32,
}

/// A neighbour entry's state (NUD_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nud {
    /// Being resolved.
    Incomplete,
    /// Confirmed recently.
    Reachable,
    /// Not confirmed recently; its MAC is still used.
    Stale,
    /// Waiting before a probe.
    Delay,
    /// Being confirmed by unicast probes.
    Probe,
    /// Resolution failed.
    Failed,
    /// Needs no resolution.
    Noarp,
    /// Set by an administrator.
    Permanent,
    /// No state.
    None,
    /// A combination or a state this code does not know.
    Other(u16),
}

impl Nud {
    pub(super) fn of(s: NeighbourState) -> Nud {
        match s {
            NeighbourState::Incomplete => Nud::Incomplete,
            NeighbourState::Reachable => Nud::Reachable,
            NeighbourState::Stale => Nud::Stale,
            NeighbourState::Delay => Nud::Delay,
            NeighbourState::Probe => Nud::Probe,
            NeighbourState::Failed => Nud::Failed,
            NeighbourState::Noarp => Nud::Noarp,
            NeighbourState::Permanent => Nud::Permanent,
            NeighbourState::None => Nud::None,
            other => Nud::Other(u16::from(other)),
        }
    }

    /// Whether the kernel itself would send to the entry's MAC (NUD_VALID).
    pub fn valid(self) -> bool {
        matches!(
            self,
            Nud::Reachable | Nud::Stale | Nud::Delay | Nud::Probe | Nud::Noarp | Nud::Permanent
        )
    }
}

impl fmt::Display for Nud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Nud::Incomplete => f.write_str("incomplete"),
            Nud::Reachable => f.write_str("reachable"),
            Nud::Stale => f.write_str("stale"),
            Nud::Delay => f.write_str("delay"),
            Nud::Probe => f.write_str("probe"),
            Nud::Failed => f.write_str("failed"),
            Nud::Noarp => f.write_str("noarp"),
            Nud::Permanent => f.write_str("permanent"),
            Nud::None => f.write_str("none"),
            Nud::Other(v) => write!(f, "state {v:#x}"),
        }
    }
}

/// A neighbour entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbour {
    /// Its MAC, when the kernel holds one.
    pub mac: Option<Mac>,
    /// Its state.
    pub state: Nud,
}

impl Neighbour {
    /// The MAC, when the state makes it one to send to.
    pub fn usable_mac(&self) -> Option<Mac> {
        self.mac.filter(|_| self.state.valid())
    }
}

/// What one or more messages changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Links added, changed or removed (by index).
    pub links: BTreeSet<u32>,
    /// Interfaces whose IPv4 addresses changed (by index).
    pub addresses: BTreeSet<u32>,
    /// The main table's IPv4 default routes changed.
    pub routes: bool,
    /// Neighbour entries added, changed or removed.
    pub neighbours: BTreeSet<(u32, Ipv4Addr)>,
    /// A link went down or lost an IPv4 address: the kernel then removes
    /// the routes through it without a notification, so the routes must
    /// be read again.
    pub routes_unannounced: bool,
}

impl Changes {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }

    /// Adds `other`'s changes to these.
    pub fn merge(&mut self, other: Changes) {
        self.links.extend(other.links);
        self.addresses.extend(other.addresses);
        self.routes |= other.routes;
        self.neighbours.extend(other.neighbours);
        self.routes_unannounced |= other.routes_unannounced;
    }
}
