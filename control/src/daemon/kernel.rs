//! What the kernel view's changes mean for masq: in MASQUERADE mode the
//! WAN address (owned by `Control::external`, from which the workers'
//! shards, the pool copy and the WAN program's map are derived; see
//! [`crate::external`]), the LAN program's list of the NAT's own
//! addresses, the LAN address ICMP errors come from, the MTUs of both
//! links ([`crate::mtu`]), the WAN next hop's MAC and the MACs of static
//! mappings' hosts; the workers are told
//! through [`Control::ask`] and `Shared`. Nothing here reads the kernel:
//! it reads the view that `crate::kernel` keeps, and asks the kernel to
//! resolve the neighbours it lacks.

use std::net::Ipv4Addr;

use masq_core::wire::Mac;
use masq_xsk::command::{Command, Reply};

use super::filter::{lan_filter, wan_filter};
use super::Control;
use crate::config::RunConfig;
use crate::external::External;
use crate::kernel::{Changes, KernelView, Neighbour, Nud};

/// The WAN interface's address MASQUERADE translates to: its first
/// address (primary ones first) that is not a subscriber's.
pub(super) fn wan_address(rc: &RunConfig, view: &KernelView) -> Option<Ipv4Addr> {
    let wan = view.index_of(&rc.wan)?;
    view.addresses(wan)
        .into_iter()
        .find(|a| !rc.core.inside.iter().any(|p| p.contains(u32::from(*a))))
}

/// Whether to ask the kernel about a neighbour entry: none yet, failed,
/// or stale (the kernel does not see the frames masq sends to it, so it
/// would let the entry age away).
fn needs_asking(n: Option<Neighbour>) -> bool {
    n.is_none_or(|n| matches!(n.state, Nud::Stale | Nud::Failed | Nud::None))
}

impl Control {
    /// Follows everything once (at start).
    pub(super) fn follow_all(&mut self) {
        self.follow_address();
        self.follow_lan_filter();
        self.follow_lan_address();
        self.follow_next_hop();
        self.follow_static_neighbours();
    }

    /// Reacts to what the kernel view says changed.
    pub(super) fn follow(&mut self, c: &Changes) {
        if c.is_empty() {
            return;
        }
        let view = self.kernel.view();
        let now = [view.index_of(&self.rc.lan), view.index_of(&self.rc.wan)];
        let mut touched = [false; 2];
        for (k, (side, name)) in [("lan", &self.rc.lan), ("wan", &self.rc.wan)]
            .into_iter()
            .enumerate()
        {
            // The index it had and the one it has (a link made again
            // gets another).
            for i in [self.if_indexes[k], now[k]].into_iter().flatten() {
                touched[k] |= c.addresses.contains(&i) || c.links.contains(&i);
            }
            if now[k] != self.if_indexes[k] || now[k].is_some_and(|i| c.links.contains(&i)) {
                match now[k].and_then(|i| view.link(i)) {
                    Some(l) => eprintln!("masq: {side} link {l}"),
                    None => eprintln!("masq: {side} {name}: the interface is gone"),
                }
            }
        }
        self.if_indexes = now;
        if touched[1] {
            self.follow_address();
            self.follow_lan_filter();
        }
        if touched[0] {
            self.follow_lan_address();
        }
        if touched[0] || touched[1] {
            self.follow_mtu();
        }
        self.follow_next_hop();
        self.follow_static_neighbours();
    }

    /// MASQUERADE: makes the workers follow the WAN interface's address.
    pub(super) fn follow_address(&mut self) {
        let External::Interface(current) = self.external else {
            return;
        };
        let now = wan_address(&self.rc, self.kernel.view());
        if now == current {
            return;
        }
        self.set_external(External::Interface(now));
    }

    /// Makes `new` the external address and derives the rest from it: the
    /// workers' shards, then the pool copy and the WAN program's map.
    fn set_external(&mut self, new: External) {
        let old = self.external;
        let addr = new.address().map(u32::from);
        match self.ask(|_| Command::SetAddress(addr)) {
            Ok(replies) => {
                let mut removed = 0;
                for r in replies {
                    match r {
                        Reply::Applied(Ok(n)) => removed += n,
                        Reply::Applied(Err(e)) => eprintln!("masq: address change: {e}"),
                        _ => {}
                    }
                }
                // With no address the shards keep the last one, and so
                // does the pool copy.
                if let Some(a) = new.address() {
                    self.rc.core.pool = External::masquerade_pool(Some(a));
                    if let Err(e) = self
                        .wan_prog
                        .set_filter(&wan_filter(&self.rc, self.opts.l2_forward))
                    {
                        eprintln!("masq: wan {}: XDP filter: {e}", self.rc.wan);
                    }
                }
                self.external = new;
                self.address_changes += 1;
                self.pcp_mappings_lost();
                eprintln!(
                    "masq: wan {} address {old} -> {new}: {removed} session(s) on the old address removed{}",
                    self.rc.wan,
                    if new.is_up() { "" } else { "; translation stopped until an address returns" }
                );
            }
            Err(e) => eprintln!("masq: address change to {new}: {e}; retrying"),
        }
    }

    /// Keeps the LAN program's list of spoofed sources (the NAT's own
    /// addresses, the WAN interface's among them) current. Rewriting an
    /// unchanged filter is harmless.
    pub(super) fn follow_lan_filter(&self) {
        let view = self.kernel.view();
        let wan = view
            .index_of(&self.rc.wan)
            .map(|i| view.addresses(i))
            .unwrap_or_default();
        if let Err(e) = self.lan_prog.set_filter(&lan_filter(&self.rc, &wan)) {
            eprintln!("masq: lan {}: XDP filter: {e}", self.rc.lan);
        }
    }

    /// Keeps the workers told the LAN interface's address (the source of
    /// the ICMP errors they send to subscribers); with none they keep the
    /// last one.
    fn follow_lan_address(&mut self) {
        let view = self.kernel.view();
        let Some(a) = view
            .index_of(&self.rc.lan)
            .and_then(|i| view.primary_address(i))
        else {
            return;
        };
        if self.lan_address == Some(a) {
            return;
        }
        self.follow_pcp_address(a);
        match self.ask(|_| Command::SetLanAddress(u32::from(a))) {
            Ok(_) => {
                eprintln!(
                    "masq: lan {} address {a}: ICMP errors to subscribers come from it",
                    self.rc.lan
                );
                self.lan_address = Some(a);
            }
            Err(e) => eprintln!("masq: lan {} address {a}: {e}", self.rc.lan),
        }
    }

    /// Keeps the workers' MTUs those of the interfaces (or the
    /// configuration's overrides): a change (PPPoE's 1492, `ip link set
    /// mtu`) is applied while masq runs.
    fn follow_mtu(&mut self) {
        let m = crate::mtu::both(&self.rc, self.kernel.view());
        let (lan, wan) = (m[0].value, m[1].value);
        if (lan, wan) == (self.rc.core.lan_mtu, self.rc.core.wan_mtu) {
            return;
        }
        match self.ask_applied(|_| Command::SetMtus { lan, wan }) {
            Ok(()) => {
                self.rc.core.lan_mtu = lan;
                self.rc.core.wan_mtu = wan;
                eprintln!(
                    "masq: MTU now: LAN {} {}, WAN {} {}",
                    self.rc.lan, m[0], self.rc.wan, m[1]
                );
            }
            Err(e) => eprintln!("masq: MTU change to LAN {lan}, WAN {wan}: {e}; retrying"),
        }
    }

    /// Keeps the workers told the WAN next hop's MAC, from the main
    /// table's default route through the WAN with the lowest metric and
    /// the neighbour entry of its gateway.
    fn follow_next_hop(&mut self) {
        let view = self.kernel.view();
        let Some(wan) = view.index_of(&self.rc.wan) else {
            return;
        };
        let g = view.gateway(wan).map(|g| g.addr);
        if g != self.gateway {
            match g {
                Some(g) => eprintln!("masq: WAN next hop is {g}"),
                None => eprintln!(
                    "masq: wan {}: no default route; frames go to the last next hop",
                    self.rc.wan
                ),
            }
            self.gateway = g;
            self.gateway_mac = None;
            self.gateway_state = None;
        }
        let Some(gw) = self.gateway else { return };
        let n = self.kernel.view().neighbour(wan, gw);
        let state = n.map(|n| n.state);
        match n.and_then(|n| n.usable_mac()) {
            // Recorded only once every worker took it, so that the
            // once-a-second retry offers it again otherwise.
            Some(mac) if self.gateway_mac != Some(mac) => {
                match self.ask(|_| Command::SetGateway(mac)) {
                    Ok(_) => {
                        eprintln!("masq: WAN next hop {gw} is {mac}");
                        self.gateway_mac = Some(mac);
                    }
                    Err(e) => eprintln!("masq: gateway {gw} at {mac}: {e}; retrying"),
                }
            }
            Some(_) => {}
            None if state == Some(Nud::Failed) && self.gateway_state != state => {
                eprintln!("masq: WAN next hop {gw} does not answer ARP; asking again every second");
            }
            None => {}
        }
        self.gateway_state = state;
        if needs_asking(n) {
            self.resolve(wan, gw);
        }
    }

    /// Keeps the workers told the MAC of every static mapping's inside
    /// host and of every host holding PCP mappings, from the LAN's
    /// neighbour entries.
    fn follow_static_neighbours(&mut self) {
        let Some(lan) = self.kernel.view().index_of(&self.rc.lan) else {
            return;
        };
        let mut hosts: Vec<Ipv4Addr> = self
            .rc
            .core
            .statics
            .iter()
            .map(|m| Ipv4Addr::from(m.inside))
            .chain(self.pcp_hosts())
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        for a in hosts {
            let n = self.kernel.view().neighbour(lan, a);
            if let Some(mac) = n.and_then(|n| n.usable_mac()) {
                if self.neighbours.get(&a) != Some(&mac) {
                    match self.ask(|_| Command::SetNeighbor(u32::from(a), mac)) {
                        Ok(_) => {
                            eprintln!("masq: mapping host {a} is {mac}");
                            self.neighbours.insert(a, mac);
                        }
                        Err(e) => eprintln!("masq: mapping host {a}: {e}"),
                    }
                }
            }
            if needs_asking(n) {
                self.resolve(lan, a);
            }
        }
    }

    /// The MAC of LAN host `a` when the kernel knows it; when it does not,
    /// the kernel is asked (and the answer reaches the workers through
    /// `follow_static_neighbours`).
    pub(super) fn lan_mac_of(&mut self, a: Ipv4Addr) -> Option<Mac> {
        let lan = self.kernel.view().index_of(&self.rc.lan)?;
        let n = self.kernel.view().neighbour(lan, a);
        if needs_asking(n) {
            self.resolve(lan, a);
        }
        n.and_then(|n| n.usable_mac())
    }

    /// Asks the kernel to resolve (or revalidate) a neighbour; the kernel
    /// module asks at most once a second per neighbour.
    fn resolve(&mut self, index: u32, addr: Ipv4Addr) {
        if let Err(e) = self.kernel.resolve(index, addr) {
            eprintln!("masq: rtnetlink: resolving {addr}: {e}");
        }
    }

    /// The slow retry, once a second: applies again what the workers did
    /// not take (comparing with the view, which is not read again) and
    /// asks the kernel again for the neighbours masq needs and it has not
    /// resolved (or let go stale).
    pub(super) fn retry(&mut self) {
        self.follow_address();
        self.follow_lan_address();
        self.follow_mtu();
        self.follow_next_hop();
        self.follow_static_neighbours();
    }
}
