//! Following the kernel: the WAN address in MASQUERADE mode, the LAN
//! program's list of the NAT's own addresses, the MACs of static mappings'
//! hosts and of the WAN next hop, all told to the workers through
//! [`Control::ask`].

use masq_core::addr::fmt_addr;
use masq_core::Prefix;
use masq_xsk::command::{Command, Reply};
use masq_xsk::netinfo;

use super::filter::{lan_filter, wan_filter};
use super::Control;

impl Control {
    /// MASQUERADE: makes the workers follow the WAN interface's primary
    /// IPv4 address.
    pub(super) fn follow_address(&mut self) {
        let Some(current) = self.external else { return };
        let now = netinfo::ipv4_of(&self.rc.wan)
            .ok()
            .and_then(|v| v.first().copied())
            .filter(|a| !self.rc.core.inside.iter().any(|p| p.contains(*a)));
        if now == current {
            return;
        }
        let show = |a: Option<u32>| a.map_or("none".to_string(), |a| fmt_addr(a).to_string());
        match self.ask(|_| Command::SetAddress(now)) {
            Ok(replies) => {
                let mut removed = 0;
                for r in replies {
                    match r {
                        Reply::Applied(Ok(n)) => removed += n,
                        Reply::Applied(Err(e)) => eprintln!("masq: address change: {e}"),
                        _ => {}
                    }
                }
                if let Some(a) = now {
                    self.rc.core.pool = vec![Prefix::new(a, 32).unwrap_or(self.rc.core.pool[0])];
                    if let Err(e) = self
                        .wan_prog
                        .set_filter(&wan_filter(&self.rc, self.opts.l2_forward))
                    {
                        eprintln!("masq: wan {}: XDP filter: {e}", self.rc.wan);
                    }
                }
                self.external = Some(now);
                self.address_changes += 1;
                eprintln!(
                    "masq: wan {} address {} -> {}: {removed} session(s) on the old address removed{}",
                    self.rc.wan,
                    show(current),
                    show(now),
                    if now.is_none() { "; translation stopped until an address returns" } else { "" }
                );
            }
            Err(e) => eprintln!("masq: address change to {}: {e}; retrying", show(now)),
        }
    }

    /// Keeps the LAN program's list of spoofed sources (the NAT's own
    /// addresses) current. Rewriting an unchanged filter is harmless.
    pub(super) fn follow_lan_filter(&self) {
        if let Err(e) = self.lan_prog.set_filter(&lan_filter(&self.rc)) {
            eprintln!("masq: lan {}: XDP filter: {e}", self.rc.lan);
        }
    }

    /// Keeps the workers told the MAC of every static mapping's inside
    /// host, from the kernel's neighbour table (asking the kernel to
    /// resolve the ones it does not know).
    pub(super) fn follow_static_neighbours(&mut self) {
        let mut hosts: Vec<u32> = self.rc.core.statics.iter().map(|m| m.inside).collect();
        hosts.sort_unstable();
        hosts.dedup();
        for a in hosts {
            match netinfo::neighbour(a) {
                Ok(Some(mac)) if self.neighbours.get(&a) != Some(&mac) => {
                    match self.ask(|_| Command::SetNeighbor(a, mac)) {
                        Ok(_) => {
                            eprintln!("masq: static mapping host {} is {mac}", fmt_addr(a));
                            self.neighbours.insert(a, mac);
                        }
                        Err(e) => eprintln!("masq: static mapping host {}: {e}", fmt_addr(a)),
                    }
                }
                Ok(Some(_)) => {}
                _ => {
                    let _ = netinfo::solicit(a);
                }
            }
        }
    }

    /// Keeps the workers' WAN next-hop MAC current.
    pub(super) fn follow_next_hop(&mut self, routes: bool) {
        if routes || self.gateway.is_none() {
            match netinfo::default_gateway(&self.rc.wan) {
                Ok(g) if g != self.gateway => {
                    if let Some(g) = g {
                        eprintln!("masq: WAN next hop is {}", fmt_addr(g));
                    }
                    self.gateway = g;
                    self.gateway_mac = None;
                }
                _ => {}
            }
        }
        let Some(gw) = self.gateway else { return };
        match netinfo::neighbour(gw) {
            Ok(Some(mac)) => {
                if self.gateway_mac != Some(mac) {
                    eprintln!("masq: WAN next hop {} is {mac}", fmt_addr(gw));
                    self.gateway_mac = Some(mac);
                    self.shared.set_gateway(mac);
                }
            }
            _ => {
                let _ = netinfo::solicit(gw);
            }
        }
    }
}
