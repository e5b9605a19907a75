//! What the control thread knows of the kernel's network state, rebuilt
//! from rtnetlink messages: links, IPv4 addresses, the IPv4 default
//! routes of the main table and IPv4 neighbours. Pure: no socket, no
//! clock. [`KernelView::apply`] takes one message (a dump answer or a
//! notification alike) and says what it changed; a dump is bracketed by
//! [`KernelView::begin_dump`] and [`KernelView::end_dump`], which removes
//! what the dump did not hold (notifications lost to an overrun).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;

use masq_core::wire::Mac;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_REPLACE};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::entries::{Address, Changes, DefaultRoute, Gateway, Hop, Link, Neighbour, Nud, Table};

/// What a dump in progress has seen, to remove the rest at its end.
#[derive(Debug)]
enum Seen {
    Links(HashSet<u32>),
    Addresses(HashSet<(u32, Ipv4Addr, u8)>),
    Routes(HashSet<DefaultRoute>),
    Neighbours(HashSet<(u32, Ipv4Addr)>),
}

/// The kernel's state as far as masq follows it.
#[derive(Debug, Default)]
pub struct KernelView {
    links: BTreeMap<u32, Link>,
    /// Per interface, in the kernel's order.
    addresses: BTreeMap<u32, Vec<Address>>,
    routes: Vec<DefaultRoute>,
    neighbours: HashMap<(u32, Ipv4Addr), Neighbour>,
    dump: Option<Seen>,
}

impl KernelView {
    /// An empty view.
    pub fn new() -> KernelView {
        KernelView::default()
    }

    /// The index of the interface named `name`.
    pub fn index_of(&self, name: &str) -> Option<u32> {
        self.links
            .iter()
            .find(|(_, l)| l.name == name)
            .map(|(&i, _)| i)
    }

    /// The interface of index `index`.
    pub fn link(&self, index: u32) -> Option<&Link> {
        self.links.get(&index)
    }

    /// The IPv4 addresses of an interface, primary ones first.
    pub fn addresses(&self, index: u32) -> Vec<Ipv4Addr> {
        let all = self.addresses.get(&index).map_or(&[][..], |v| &v[..]);
        let primary = all.iter().filter(|a| !a.secondary);
        let secondary = all.iter().filter(|a| a.secondary);
        primary.chain(secondary).map(|a| a.addr).collect()
    }

    /// Every IPv4 address of every interface (the box's own addresses).
    pub fn all_addresses(&self) -> Vec<Ipv4Addr> {
        self.addresses.values().flatten().map(|a| a.addr).collect()
    }

    /// The first primary IPv4 address of an interface.
    pub fn primary_address(&self, index: u32) -> Option<Ipv4Addr> {
        self.addresses
            .get(&index)?
            .iter()
            .find(|a| !a.secondary)
            .map(|a| a.addr)
    }

    /// The gateway of the main table's default route through `oif` with
    /// the lowest metric (the first one listed among equals).
    pub fn gateway(&self, oif: u32) -> Option<Gateway> {
        let mut best: Option<Gateway> = None;
        for r in &self.routes {
            for h in &r.hops {
                if let (true, Some(addr)) = (h.oif == oif, h.gateway) {
                    if best.is_none_or(|b| r.metric < b.metric) {
                        best = Some(Gateway {
                            addr,
                            metric: r.metric,
                        });
                    }
                }
            }
        }
        best
    }

    /// The neighbour entry of `addr` on interface `index`.
    pub fn neighbour(&self, index: u32, addr: Ipv4Addr) -> Option<Neighbour> {
        self.neighbours.get(&(index, addr)).copied()
    }

    /// Takes one message; returns what it changed. Messages of other
    /// families, tables and kinds change nothing.
    pub fn apply(&mut self, msg: &NetlinkMessage<RouteNetlinkMessage>) -> Changes {
        let NetlinkPayload::InnerMessage(m) = &msg.payload else {
            return Changes::default();
        };
        let replace = msg.header.flags & NLM_F_REPLACE != 0;
        match m {
            RouteNetlinkMessage::NewLink(l) => self.new_link(l),
            RouteNetlinkMessage::DelLink(l) => self.del_link(l),
            RouteNetlinkMessage::NewAddress(a) => self.address(a, true),
            RouteNetlinkMessage::DelAddress(a) => self.address(a, false),
            RouteNetlinkMessage::NewRoute(r) => self.route(r, Some(replace)),
            RouteNetlinkMessage::DelRoute(r) => self.route(r, None),
            RouteNetlinkMessage::NewNeighbour(n) => self.neighbour_msg(n, true),
            RouteNetlinkMessage::DelNeighbour(n) => self.neighbour_msg(n, false),
            _ => Changes::default(),
        }
    }

    /// A dump of `table` starts: what it does not hold by its end goes.
    pub fn begin_dump(&mut self, table: Table) {
        self.dump = Some(match table {
            Table::Links => Seen::Links(HashSet::new()),
            Table::Addresses => Seen::Addresses(HashSet::new()),
            Table::Routes => Seen::Routes(HashSet::new()),
            Table::Neighbours => Seen::Neighbours(HashSet::new()),
        });
    }

    /// The dump in progress ended: removes what it did not hold.
    pub fn end_dump(&mut self) -> Changes {
        let mut c = Changes::default();
        match self.dump.take() {
            None => {}
            Some(Seen::Links(seen)) => {
                let gone: Vec<u32> = self
                    .links
                    .keys()
                    .filter(|i| !seen.contains(i))
                    .copied()
                    .collect();
                for i in gone {
                    c.merge(self.remove_link(i));
                }
            }
            Some(Seen::Addresses(seen)) => {
                for (&i, v) in self.addresses.iter_mut() {
                    let before = v.len();
                    v.retain(|a| seen.contains(&(i, a.addr, a.prefix_len)));
                    if v.len() != before {
                        c.addresses.insert(i);
                    }
                }
                self.addresses.retain(|_, v| !v.is_empty());
            }
            Some(Seen::Routes(seen)) => {
                let before = self.routes.len();
                self.routes.retain(|r| seen.contains(r));
                c.routes = self.routes.len() != before;
            }
            Some(Seen::Neighbours(seen)) => {
                self.neighbours.retain(|k, _| {
                    let keep = seen.contains(k);
                    if !keep {
                        c.neighbours.insert(*k);
                    }
                    keep
                });
            }
        }
        c
    }

    /// The dump in progress failed: nothing is removed.
    pub fn abort_dump(&mut self) {
        self.dump = None;
    }

    fn new_link(&mut self, m: &LinkMessage) -> Changes {
        let mut c = Changes::default();
        // Bridge port notifications (AF_BRIDGE) describe the same links.
        if m.header.interface_family != AddressFamily::Unspec {
            return c;
        }
        let index = m.header.index;
        let mut link = Link {
            name: String::new(),
            up: m.header.flags.contains(LinkFlags::Up),
            carrier: m.header.flags.contains(LinkFlags::LowerUp),
            mtu: 0,
            mac: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => link.name.clone_from(n),
                LinkAttribute::Mtu(v) => link.mtu = *v,
                LinkAttribute::Address(b) => link.mac = mac_of(b),
                _ => {}
            }
        }
        if let Some(Seen::Links(s)) = &mut self.dump {
            s.insert(index);
        }
        let old = self.links.insert(index, link.clone());
        if old.as_ref() != Some(&link) {
            c.links.insert(index);
        }
        if old.is_some_and(|o| o.up) && !link.up {
            c.routes_unannounced = true;
        }
        c
    }

    fn del_link(&mut self, m: &LinkMessage) -> Changes {
        if m.header.interface_family != AddressFamily::Unspec {
            return Changes::default();
        }
        if let Some(Seen::Links(s)) = &mut self.dump {
            s.remove(&m.header.index);
        }
        self.remove_link(m.header.index)
    }

    /// Forgets an interface and everything through it.
    fn remove_link(&mut self, index: u32) -> Changes {
        let mut c = Changes::default();
        if self.links.remove(&index).is_some() {
            c.links.insert(index);
        }
        if self.addresses.remove(&index).is_some() {
            c.addresses.insert(index);
        }
        let before = self.routes.len();
        self.routes
            .retain(|r| r.hops.iter().all(|h| h.oif != index));
        c.routes = self.routes.len() != before;
        self.neighbours.retain(|k, _| {
            let keep = k.0 != index;
            if !keep {
                c.neighbours.insert(*k);
            }
            keep
        });
        c
    }

    fn address(&mut self, m: &AddressMessage, add: bool) -> Changes {
        let mut c = Changes::default();
        if m.header.family != AddressFamily::Inet {
            return c;
        }
        let mut local = None;
        let mut peer = None;
        let mut secondary = m.header.flags.contains(AddressHeaderFlags::Secondary);
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(std::net::IpAddr::V4(v)) => local = Some(*v),
                AddressAttribute::Address(std::net::IpAddr::V4(v)) => peer = Some(*v),
                AddressAttribute::Flags(f) => secondary |= f.contains(AddressFlags::Secondary),
                _ => {}
            }
        }
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the
        // peer's on a point-to-point link and the same otherwise.
        let Some(addr) = local.or(peer) else { return c };
        let index = m.header.index;
        let new = Address {
            addr,
            prefix_len: m.header.prefix_len,
            secondary,
        };
        let key = (index, addr, new.prefix_len);
        if let Some(Seen::Addresses(s)) = &mut self.dump {
            if add {
                s.insert(key);
            } else {
                s.remove(&key);
            }
        }
        let list = self.addresses.entry(index).or_default();
        let at = list
            .iter()
            .position(|a| a.addr == addr && a.prefix_len == new.prefix_len);
        match (add, at) {
            (true, Some(i)) if list[i] == new => {}
            (true, Some(i)) => {
                list[i] = new;
                c.addresses.insert(index);
            }
            (true, None) => {
                list.push(new);
                c.addresses.insert(index);
            }
            (false, Some(i)) => {
                list.remove(i);
                c.addresses.insert(index);
                c.routes_unannounced = true;
            }
            (false, None) => {}
        }
        if list.is_empty() {
            self.addresses.remove(&index);
        }
        c
    }

    /// `replace`: `Some(flag)` for RTM_NEWROUTE, `None` for RTM_DELROUTE.
    fn route(&mut self, m: &RouteMessage, replace: Option<bool>) -> Changes {
        let mut c = Changes::default();
        let Some(r) = default_route(m) else { return c };
        if let Some(Seen::Routes(s)) = &mut self.dump {
            if replace.is_some() {
                s.insert(r.clone());
            } else {
                s.remove(&r);
            }
        }
        let before = self.routes.clone();
        match replace {
            // IPv4 identifies a route by prefix, TOS and metric: a
            // replacement takes the place of the one with the same.
            Some(true) => {
                self.routes
                    .retain(|o| (o.tos, o.metric) != (r.tos, r.metric));
                self.routes.push(r);
            }
            Some(false) => {
                if !self.routes.contains(&r) {
                    self.routes.push(r);
                }
            }
            None => {
                if let Some(i) = self.routes.iter().position(|o| *o == r) {
                    self.routes.remove(i);
                }
            }
        }
        c.routes = self.routes != before;
        c
    }

    fn neighbour_msg(&mut self, m: &NeighbourMessage, add: bool) -> Changes {
        let mut c = Changes::default();
        if m.header.family != AddressFamily::Inet || m.header.flags.contains(NeighbourFlags::Proxy)
        {
            return c;
        }
        let mut dst = None;
        let mut mac = None;
        for a in &m.attributes {
            match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => dst = Some(*v),
                NeighbourAttribute::LinkLayerAddress(b) => mac = mac_of(b),
                _ => {}
            }
        }
        let Some(dst) = dst else { return c };
        let key = (m.header.ifindex, dst);
        if let Some(Seen::Neighbours(s)) = &mut self.dump {
            if add {
                s.insert(key);
            } else {
                s.remove(&key);
            }
        }
        let changed = if add {
            let n = Neighbour {
                mac,
                state: Nud::of(m.header.state),
            };
            self.neighbours.insert(key, n) != Some(n)
        } else {
            self.neighbours.remove(&key).is_some()
        };
        if changed {
            c.neighbours.insert(key);
        }
        c
    }
}

/// A default route of the main IPv4 table, or None for any other route.
fn default_route(m: &RouteMessage) -> Option<DefaultRoute> {
    let h = &m.header;
    if h.address_family != AddressFamily::Inet
        || h.destination_prefix_length != 0
        || h.kind != RouteType::Unicast
    {
        return None;
    }
    let mut table = u32::from(h.table);
    let mut metric = 0;
    let mut oif = None;
    let mut gateway = None;
    let mut hops = Vec::new();
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => gateway = Some(*g),
            RouteAttribute::MultiPath(v) => {
                for nh in v {
                    let gateway = nh.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(RouteAddress::Inet(g)) => Some(*g),
                        _ => None,
                    });
                    hops.push(Hop {
                        oif: nh.interface_index,
                        gateway,
                    });
                }
            }
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return None;
    }
    if let Some(oif) = oif {
        hops.insert(0, Hop { oif, gateway });
    }
    if hops.is_empty() {
        return None;
    }
    Some(DefaultRoute {
        tos: h.tos,
        metric,
        hops,
    })
}

fn mac_of(b: &[u8]) -> Option<Mac> {
    <[u8; 6]>::try_from(b).ok().map(Mac)
}
