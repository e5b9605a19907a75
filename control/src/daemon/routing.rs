//! The box's health and the routes masq holds for a routing daemon
//! (`[routing]`, docs/scale-out.md).
//!
//! Healthy means every worker beats, both links are up with carrier and
//! the WAN next hop is known: the main table has a default route through
//! the WAN and its gateway's MAC is known and not failed. `/healthz` answers from [`Control::health`];
//! with `[routing]` on, the control loop makes the routes in the kernel
//! follow it on every turn ([`Control::follow_routing`]): all of them
//! while healthy, none otherwise. They go through a TUN interface masq
//! holds open, so that the kernel removes the interface and its routes
//! when masq exits, `kill -9` included; a clean stop removes them first.

use masq_core::Prefix;
use serde_json::{json, Value};

use super::Control;
use crate::config::{Realm, Route, RoutingConfig};
use crate::kernel::{Nud, RouteRequest};

/// The TUN interface and the routes held through it.
pub(super) struct Routing {
    /// The interface; the kernel deletes it when this closes.
    tun: Option<tun::Device>,
    /// The routes in the kernel now, as masq added them.
    held: Vec<Route>,
    /// Whether `masq drain` is on.
    draining: bool,
    /// The last failure to make the interface, logged once.
    failed: Option<String>,
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routing")
            .field("tun", &self.tun.is_some())
            .field("held", &self.held)
            .field("draining", &self.draining)
            .finish()
    }
}

/// Whether a persistent TUN interface of that name exists: masq would
/// attach to it and it would outlive masq, its routes with it.
fn persistent(name: &str) -> bool {
    const IFF_PERSIST: u32 = 0x0800;
    std::fs::read_to_string(format!("/sys/class/net/{name}/tun_flags"))
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
        .is_some_and(|f| f & IFF_PERSIST != 0)
}

/// Makes the TUN interface `name`, up.
fn make_tun(name: &str) -> Result<tun::Device, String> {
    let what = format!("routing.interface {name}");
    if persistent(name) {
        return Err(format!(
            "{what}: a persistent TUN interface of that name exists; it would outlive masq \
             and keep its routes announced (delete it: ip link del {name})"
        ));
    }
    let mut c = tun::Configuration::default();
    c.tun_name(name).up();
    tun::create(&c).map_err(|e| format!("{what}: {e}"))
}

impl Routing {
    /// Makes the interface (at start, with the privileges to do so).
    pub(super) fn open(rc: &RoutingConfig) -> Result<Option<Routing>, String> {
        if !rc.enabled {
            return Ok(None);
        }
        Ok(Some(Routing {
            tun: Some(make_tun(&rc.interface)?),
            held: Vec::new(),
            draining: false,
            failed: None,
        }))
    }
}

/// The kernel request of a route through interface `oif`.
fn request(rc: &RoutingConfig, oif: u32, r: &Route) -> RouteRequest {
    let p: Prefix = r.prefix;
    RouteRequest {
        dst: masq_core::addr::fmt_addr(p.addr()),
        len: p.len(),
        table: rc.table,
        oif,
        protocol: RoutingConfig::PROTOCOL,
        realm: r.realm.number(),
    }
}

impl Control {
    /// Why the box is not healthy (empty: healthy): stalled workers, a
    /// link down, a WAN next hop missing or not answering.
    pub(super) fn health(&self) -> Vec<String> {
        let mut why: Vec<String> = self
            .stalled()
            .into_iter()
            .map(|w| format!("stalled: {w}"))
            .collect();
        let view = self.kernel.view();
        for (side, name) in [("lan", &self.rc.lan), ("wan", &self.rc.wan)] {
            match view.index_of(name).and_then(|i| view.link(i)) {
                None => why.push(format!("{side} {name} is gone")),
                Some(l) if !l.up => why.push(format!("{side} {name} is down")),
                Some(l) if !l.carrier => why.push(format!("{side} {name} has no carrier")),
                Some(_) => {}
            }
        }
        if self.opts.l2_forward {
            return why;
        }
        match self.gateway {
            None => why.push(format!(
                "no WAN next hop: no default route through {}",
                self.rc.wan
            )),
            Some(g) if self.gateway_state == Some(Nud::Failed) => {
                why.push(format!("WAN next hop {g} does not answer ARP"))
            }
            Some(g) if self.gateway_mac.is_none() => {
                why.push(format!("WAN next hop {g} not resolved yet"))
            }
            Some(_) => {}
        }
        why
    }

    /// Keeps the health record and, with `[routing]` on, the routes in
    /// the kernel as the health says; called on every turn of the loop.
    pub(super) fn follow_routing(&mut self) {
        let why = self.health();
        let healthy = why.is_empty();
        match self.healthy {
            // Starting: what is still missing (the next hop's MAC, a
            // first heartbeat) is not news, and masq's own lines say it.
            None if !healthy => {}
            None => self.healthy = Some(true),
            Some(was) if was != healthy => {
                self.health_changes += 1;
                if healthy {
                    eprintln!("masq: healthy again");
                } else {
                    eprintln!("masq: not healthy: {}", why.join("; "));
                }
                self.healthy = Some(healthy);
            }
            Some(_) => {}
        }
        let Some(r) = &self.routing else { return };
        let want = if healthy {
            self.rc.routing.routes(&self.rc.core, r.draining)
        } else {
            Vec::new()
        };
        self.hold_routes(want);
    }

    /// Makes the routes in the kernel `want`: removes the others, adds
    /// the missing ones; makes the interface again if it is gone.
    fn hold_routes(&mut self, want: Vec<Route>) {
        let name = self.rc.routing.interface.clone();
        let Some(r) = &mut self.routing else { return };
        let view = self.kernel.view();
        let oif = view.index_of(&name);
        let up = oif.and_then(|i| view.link(i)).is_some_and(|l| l.up);
        if oif.is_none() && !r.held.is_empty() {
            eprintln!("masq: routing: interface {name} is gone, and its routes with it");
            r.held.clear();
        }
        if !up && !r.held.is_empty() {
            // The kernel removed the routes when the link went down.
            eprintln!("masq: routing: interface {name} went down, and its routes with it");
            r.held.clear();
        }
        if oif.is_none() && r.tun.is_some() && !want.is_empty() {
            // Deleted under masq (its fd no longer names a device): made
            // again, once the kernel view has seen it go.
            r.tun = None;
        }
        if r.tun.is_none() {
            match make_tun(&name) {
                Ok(t) => {
                    eprintln!("masq: routing: interface {name} made again");
                    r.tun = Some(t);
                    r.failed = None;
                }
                Err(e) => {
                    if r.failed.as_ref() != Some(&e) {
                        eprintln!("masq: {e}; retrying");
                        r.failed = Some(e);
                    }
                }
            }
            return;
        }
        if let (Some(t), false, Some(_)) = (&mut r.tun, up, oif) {
            use tun::AbstractDevice;
            match t.enabled(true) {
                Ok(()) => {}
                // Being deleted (the kernel says a link goes down before
                // it goes): made again on a later turn.
                Err(tun::Error::Io(e))
                    if e.raw_os_error() == Some(rustix::io::Errno::NODEV.raw_os_error()) =>
                {
                    r.tun = None;
                }
                Err(e) => eprintln!("masq: routing: setting {name} up: {e}"),
            }
            return;
        }
        let Some(oif) = oif else { return };
        if want == r.held {
            return;
        }
        // A prefix that stays with another realm (a drain) is replaced in
        // place, never removed first: the daemon sees no withdrawal.
        let gone: Vec<Route> = r
            .held
            .iter()
            .filter(|h| !want.iter().any(|w| w.prefix == h.prefix))
            .copied()
            .collect();
        let new: Vec<Route> = want
            .iter()
            .filter(|w| !r.held.contains(w))
            .copied()
            .collect();
        let rc = &self.rc.routing;
        for (add, list) in [(true, &new), (false, &gone)] {
            for route in list {
                if let Err(e) = self.kernel.set_route(add, &request(rc, oif, route)) {
                    eprintln!("masq: routing: {route}: {e}");
                }
            }
        }
        let held: Vec<String> = want.iter().map(Route::to_string).collect();
        eprintln!(
            "masq: routing: {} route(s) added, {} removed in table {}; held: {}",
            new.len(),
            gone.len(),
            rc.table,
            if held.is_empty() {
                "none (withdrawn)".to_string()
            } else {
                held.join(", ")
            }
        );
        if let Some(r) = &mut self.routing {
            r.held = want;
        }
    }

    /// Removes every route (a clean stop), before the workers stop.
    pub(super) fn withdraw_routes(&mut self) {
        if self.routing.as_ref().is_some_and(|r| !r.held.is_empty()) {
            self.hold_routes(Vec::new());
        }
    }

    /// The routes held now, per realm (for `/metrics`).
    pub(super) fn routes_held(&self) -> Vec<(Realm, u64)> {
        let Some(r) = &self.routing else {
            return Vec::new();
        };
        Realm::ALL
            .iter()
            .map(|&realm| {
                let n = r.held.iter().filter(|h| h.realm == realm).count();
                (realm, n as u64)
            })
            .collect()
    }

    /// The routes held now, as the docs print them (None: `[routing]` is
    /// off).
    pub(super) fn routing_routes(&self) -> Option<Vec<String>> {
        let r = self.routing.as_ref()?;
        Some(r.held.iter().map(Route::to_string).collect())
    }

    /// `masq drain`: the access routes announced as draining, or again as
    /// access routes.
    pub(super) fn drain(&mut self, on: bool) -> Result<Value, String> {
        let Some(r) = &mut self.routing else {
            return Err(
                "routing is off ([routing] enabled = false): there is nothing to drain".into(),
            );
        };
        let was = r.draining;
        r.draining = on;
        if was != on {
            eprintln!(
                "masq: {}",
                if on {
                    "draining: access routes held as draining (realm 3)"
                } else {
                    "drain ended: access routes held as access routes (realm 2)"
                }
            );
        }
        self.follow_routing();
        let held: Vec<String> = self
            .routing
            .as_ref()
            .map(|r| r.held.iter().map(Route::to_string).collect())
            .unwrap_or_default();
        let state = match (on, self.healthy == Some(true)) {
            (true, true) => "draining",
            (false, true) => "serving",
            (_, false) => "not healthy: no routes held",
        };
        Ok(json!({
            "draining": on,
            "routing": format!("{state}; routes held: {}", if held.is_empty() { "none".to_string() } else { held.join(", ") }),
            "routes": held,
        }))
    }
}
