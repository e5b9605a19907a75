//! `[routing]`: the routes masq holds in the kernel for a routing daemon
//! to announce while the box is healthy (docs/scale-out.md). masq makes a
//! TUN interface of its own (`interface`), which the kernel removes when
//! masq exits however it exits, and installs its routes through it in a
//! table of their own (`table`), never the main one: the pool's prefixes
//! (realm 1, announced upstream) and `access_routes` (realm 2, announced
//! to the access side; realm 3 while the box drains). The daemon (BIRD's
//! kernel protocol with `learn`) exports them; a route masq removes, or
//! that goes with the interface, is withdrawn.

use std::fmt;

use masq_core::{Config, Prefix};
use serde::Deserialize;

use super::{err, prefixes, toml_string, Mode};

/// `[routing]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoutingFile {
    enabled: Option<bool>,
    name: Option<String>,
    interface: Option<String>,
    table: Option<u32>,
    access_routes: Option<Vec<String>>,
}

/// What a route is for, carried in its realm (`ip route ... realm N`,
/// BIRD's `krt_realm`) so that one routing daemon configuration serves
/// every box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Realm {
    /// A prefix of the pool: announced upstream, so that return traffic
    /// reaches this box.
    Pool,
    /// A route the access side uses to reach the NAT.
    Access,
    /// An access route while the box drains (`masq drain`).
    Draining,
}

impl Realm {
    /// Every realm, in the order of their numbers.
    pub const ALL: [Realm; 3] = [Realm::Pool, Realm::Access, Realm::Draining];

    /// The realm number in the kernel route.
    pub fn number(self) -> u16 {
        match self {
            Realm::Pool => 1,
            Realm::Access => 2,
            Realm::Draining => 3,
        }
    }
}

impl fmt::Display for Realm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Realm::Pool => "pool",
            Realm::Access => "access",
            Realm::Draining => "draining",
        })
    }
}

/// One route masq holds while healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// Its destination.
    pub prefix: Prefix,
    /// What it is for.
    pub realm: Realm,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.prefix, self.realm)
    }
}

/// Where an external prefix comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A prefix of the pool.
    Pool,
    /// A static mapping's outside address the pool lacks.
    Static,
}

/// The box's external addresses, which a cluster's boxes never share and
/// a box announces upstream: the pool's prefixes, then the static
/// mappings' outside addresses the pool lacks (once each, as /32).
pub fn external_prefixes(core: &Config) -> Vec<(Prefix, Origin)> {
    let mut v: Vec<(Prefix, Origin)> = core.pool.iter().map(|&p| (p, Origin::Pool)).collect();
    for m in &core.statics {
        if core.pool.iter().any(|p| p.contains(m.outside)) {
            continue;
        }
        let p = Prefix::new(m.outside, 32).expect("a /32 has no host bits");
        if !v.iter().any(|(q, _)| *q == p) {
            v.push((p, Origin::Static));
        }
    }
    v
}

/// `[routing]`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingConfig {
    /// Whether masq holds its routes in the kernel.
    pub enabled: bool,
    /// The box's name in a cluster (`masq check-config` of several
    /// files, `masq lookup`); None: the file's name.
    pub name: Option<String>,
    /// The TUN interface the routes go through.
    pub interface: String,
    /// The kernel routing table of the routes.
    pub table: u32,
    /// The routes the access side uses to reach the NAT.
    pub access_routes: Vec<Prefix>,
}

impl Default for RoutingConfig {
    fn default() -> RoutingConfig {
        RoutingConfig {
            enabled: false,
            name: None,
            interface: "masq-routes".into(),
            table: 4269,
            access_routes: vec![Prefix::new(0, 0).expect("0.0.0.0/0")],
        }
    }
}

/// The kernel's own tables (unspec, default, main, local): masq's routes
/// never go there.
const RESERVED_TABLES: [u32; 4] = [0, 253, 254, 255];

impl RoutingConfig {
    /// The route protocol number of masq's routes (`proto 250` in
    /// `ip route`; BIRD's `krt_source`).
    pub const PROTOCOL: u8 = 250;

    pub(super) fn from_file(f: &RoutingFile, mode: Mode) -> Result<RoutingConfig, String> {
        let d = RoutingConfig::default();
        let c = RoutingConfig {
            enabled: f.enabled.unwrap_or(d.enabled),
            name: f.name.clone(),
            interface: f.interface.clone().unwrap_or(d.interface),
            table: f.table.unwrap_or(d.table),
            access_routes: match &f.access_routes {
                Some(v) => prefixes("routing.access_routes", v)?,
                None => d.access_routes,
            },
        };
        if let Some(n) = &c.name {
            if n.is_empty() || n.len() > 64 || !n.bytes().all(|b| (33..=126).contains(&b)) {
                return Err(err(
                    "routing.name",
                    format!("{n:?}: give 1 to 64 printable characters without spaces"),
                ));
            }
        }
        let i = &c.interface;
        if i.is_empty()
            || i.len() > 15
            || !i
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(err(
                "routing.interface",
                format!("{i:?}: an interface name is 1 to 15 letters, digits, '-', '_' or '.'"),
            ));
        }
        if RESERVED_TABLES.contains(&c.table) {
            return Err(err(
                "routing.table",
                format!(
                    "{} is one of the kernel's own tables (0, 253 default, 254 main, 255 local); \
                     give a table of masq's own",
                    c.table
                ),
            ));
        }
        if c.enabled && mode == Mode::Masquerade {
            return Err(err(
                "routing.enabled",
                "masquerade mode translates to the WAN interface's address, which is not \
                 masq's to announce; a box that announces its pool runs mode = \"snat\"",
            ));
        }
        Ok(c)
    }

    /// The routes of a healthy box: the external prefixes (realm pool),
    /// then the access routes (realm access, or draining while the box
    /// drains).
    pub fn routes(&self, core: &Config, draining: bool) -> Vec<Route> {
        let mut v: Vec<Route> = external_prefixes(core)
            .into_iter()
            .map(|(prefix, _)| Route {
                prefix,
                realm: Realm::Pool,
            })
            .collect();
        let realm = if draining {
            Realm::Draining
        } else {
            Realm::Access
        };
        v.extend(
            self.access_routes
                .iter()
                .map(|&prefix| Route { prefix, realm }),
        );
        v
    }

    /// The `[routing]` table as `check-config` prints it.
    pub fn to_toml(&self) -> String {
        let mut s = format!("[routing]\nenabled = {}\n", self.enabled);
        if let Some(n) = &self.name {
            s += &format!("name = {}\n", toml_string(n));
        }
        let routes: Vec<String> = self
            .access_routes
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect();
        s += &format!(
            "interface = {}\ntable = {}\naccess_routes = [{}]\n",
            toml_string(&self.interface),
            self.table,
            routes.join(", ")
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, Realm, RoutingConfig};

    const BASE: &str = "lan = \"a\"\nwan = \"b\"\ninside = [\"10.0.0.0/8\"]\n\
                        pool = [\"203.0.113.0/29\", \"198.51.100.7/32\"]\n";

    #[test]
    fn defaults_print_and_parse_back() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.routing, RoutingConfig::default());
        assert!(!c.routing.enabled);
        let set = format!(
            "{BASE}[routing]\nenabled = true\nname = \"box2\"\ninterface = \"nat-up\"\n\
             table = 100\naccess_routes = [\"0.0.0.0/0\", \"192.0.2.0/24\"]\n"
        );
        let c = parse(&set).unwrap();
        assert!(c.routing.enabled);
        assert_eq!(c.routing.name.as_deref(), Some("box2"));
        assert_eq!(c.routing.interface, "nat-up");
        assert_eq!(c.routing.table, 100);
        assert_eq!(c.routing.access_routes.len(), 2);
        assert_eq!(parse(&c.to_toml()).unwrap().routing, c.routing);
    }

    #[test]
    fn routes_are_the_pool_the_statics_it_lacks_and_the_access_side() {
        let text = format!(
            "{BASE}[[static]]\nproto = \"tcp\"\ninside = \"10.0.0.5:80\"\noutside = \"203.0.113.3:8080\"\n\
             [[static]]\ninside = \"10.0.0.6\"\noutside = \"192.0.2.9\"\n"
        );
        let c = parse(&text).unwrap();
        let show = |draining| {
            c.routing
                .routes(&c.core, draining)
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            show(false),
            [
                "203.0.113.0/29 (pool)",
                "198.51.100.7/32 (pool)",
                "192.0.2.9/32 (pool)",
                "0.0.0.0/0 (access)"
            ]
        );
        assert_eq!(show(true)[3], "0.0.0.0/0 (draining)");
        let numbers: Vec<u16> = Realm::ALL.iter().map(|r| r.number()).collect();
        assert_eq!(numbers, [1, 2, 3]);
    }

    #[test]
    fn errors_name_their_key() {
        for (extra, key) in [
            ("table = 254", "routing.table"),
            ("table = 0", "routing.table"),
            ("interface = \"a b\"", "routing.interface"),
            ("interface = \"sixteen-letters!\"", "routing.interface"),
            ("name = \"\"", "routing.name"),
            ("access_routes = [\"10.0.0.1/8\"]", "routing.access_routes"),
            ("bogus = 1", "bogus"),
        ] {
            let e = parse(&format!("{BASE}[routing]\n{extra}\n")).unwrap_err();
            assert!(e.contains(key), "{extra}: {e}");
        }
        let masq = "lan = \"a\"\nwan = \"b\"\nmode = \"masquerade\"\ninside = [\"10.0.0.0/8\"]\n\
                    [routing]\nenabled = true\n";
        let e = parse(masq).unwrap_err();
        assert!(e.contains("routing.enabled") && e.contains("snat"), "{e}");
    }
}
