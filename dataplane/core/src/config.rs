//! The core's configuration: checked types, validated once at load time.
//!
//! Every rejection names the key it is about, so the file loader in the
//! control crate can point the operator at the line to fix.

use core::fmt;

// Re-exported so that `config::Prefix` and `config::fmt_addr` keep
// working for the crates and modules that name them there.
pub use crate::addr::{fmt_addr, Prefix};

/// Which inbound packets a mapping admits (RFC 4787 section 5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Filtering {
    /// Any remote endpoint may reach a mapping (RFC 6888 REQ-7 default).
    #[default]
    EndpointIndependent,
    /// Only remote addresses the inside endpoint has sent to.
    AddressDependent,
    /// Only remote (address, port) pairs the inside endpoint has sent to.
    AddressAndPortDependent,
}

impl Filtering {
    /// Every behaviour, in declaration order.
    pub const ALL: [Filtering; 3] = [
        Filtering::EndpointIndependent,
        Filtering::AddressDependent,
        Filtering::AddressAndPortDependent,
    ];

    /// The name in the configuration file (the RFC 4787 term, hyphenated).
    pub fn name(self) -> &'static str {
        match self {
            Filtering::EndpointIndependent => "endpoint-independent",
            Filtering::AddressDependent => "address-dependent",
            Filtering::AddressAndPortDependent => "address-and-port-dependent",
        }
    }
}

impl fmt::Display for Filtering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl core::str::FromStr for Filtering {
    type Err = String;

    fn from_str(s: &str) -> Result<Filtering, String> {
        Filtering::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Filtering::ALL.iter().map(|f| f.name()).collect();
                format!("{s:?} is not one of {}", names.join(", "))
            })
    }
}

/// Session and block timers, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// UDP idle timeout (RFC 4787 REQ-5: at least 120 s; default 300 s).
    pub udp: u32,
    /// TCP established idle timeout (RFC 5382 REQ-5: at least 7440 s).
    pub tcp_established: u32,
    /// TCP transitory (opening, closing, reset) timeout (RFC 7857: 240 s).
    pub tcp_transitory: u32,
    /// How long a session opened by an inbound SYN waits for the inside
    /// SYN (RFC 6146 TCP_INCOMING_SYN: 6 s).
    pub tcp_incoming_syn: u32,
    /// ICMP query idle timeout (RFC 5508 REQ-1: 60 s).
    pub icmp: u32,
    /// How long a freed port block is held before another subscriber may
    /// have it (RFC 6888 REQ-8: 120 s).
    pub block_hold: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            udp: 300,
            tcp_established: 7440,
            tcp_transitory: 240,
            tcp_incoming_syn: 6,
            icmp: 60,
            block_hold: 120,
        }
    }
}

/// Per-subscriber limits (RFC 6888 REQ-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most sessions one subscriber may hold.
    pub sessions_per_subscriber: u32,
    /// Most port blocks one subscriber may hold.
    pub blocks_per_subscriber: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sessions_per_subscriber: 8192,
            blocks_per_subscriber: 8,
        }
    }
}

/// A mapping fixed by configuration: a port forward or a one-to-one address.
///
/// With `proto` set it maps one inside `IP:PORT` to one outside `IP:PORT`
/// for that protocol. With `proto` `None` it is a one-to-one mapping of
/// the whole inside address to the outside address: every TCP/UDP port and
/// ICMP identifier keeps its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StaticMapping {
    /// 6 (TCP) or 17 (UDP); `None` for a one-to-one address mapping.
    pub proto: Option<u8>,
    /// Inside address.
    pub inside: u32,
    /// Inside port (0 for one-to-one).
    pub inside_port: u16,
    /// Outside address.
    pub outside: u32,
    /// Outside port (0 for one-to-one).
    pub outside_port: u16,
}

impl fmt::Display for StaticMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proto {
            Some(p) => write!(
                f,
                "{} {}:{} -> {}:{}",
                crate::proto::name_of(p),
                fmt_addr(self.inside),
                self.inside_port,
                fmt_addr(self.outside),
                self.outside_port
            ),
            None => write!(f, "{} -> {}", fmt_addr(self.inside), fmt_addr(self.outside)),
        }
    }
}

/// ICMP errors the NAT sends itself (time exceeded, 3/13, 3/4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpGeneration {
    /// Most errors per second a shard sends (0: none at all).
    pub rate: u32,
    /// Most errors per second to one destination host (hashed into 256
    /// buckets, so hosts that collide share one).
    pub rate_per_subscriber: u32,
}

impl Default for IcmpGeneration {
    fn default() -> Self {
        IcmpGeneration {
            rate: 1000,
            rate_per_subscriber: 10,
        }
    }
}

/// Virtual reassembly of fragments (RFC 4787 REQ-14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragments {
    /// Datagrams whose fragments a shard tracks at once.
    pub max_datagrams: u32,
    /// Early non-first fragments (arriving before their first) a shard
    /// holds at once.
    pub max_held: u32,
    /// Seconds a datagram's fragments are tracked, and an early fragment
    /// held, after its last fragment was seen.
    pub timeout: u32,
}

impl Default for Fragments {
    fn default() -> Self {
        Fragments {
            max_datagrams: 1024,
            max_held: 64,
            timeout: 2,
        }
    }
}

/// Configuration of the NAT core (one copy per shard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Subscriber prefixes whose traffic is translated.
    pub inside: Vec<Prefix>,
    /// External addresses (SNAT pool, or the WAN address as a /32).
    pub pool: Vec<Prefix>,
    /// Number of workers (one shard each) the state is split over.
    pub workers: u16,
    /// Lowest external port handed out (inclusive, even).
    pub port_min: u16,
    /// Highest external port handed out (inclusive).
    pub port_max: u16,
    /// Ports per block (even).
    pub block_size: u16,
    /// Session capacity of one shard, fixed at start.
    pub max_sessions: u32,
    /// Subscriber capacity of one shard, fixed at start.
    pub max_subscribers: u32,
    /// Per-subscriber limits.
    pub limits: Limits,
    /// Timers.
    pub timeouts: Timeouts,
    /// Inbound filtering behaviour.
    pub filtering: Filtering,
    /// Whether inbound UDP and ICMP refresh a session (outbound always
    /// does; TCP follows its state machine in both directions).
    pub inbound_refresh: bool,
    /// Capacity of each shard's event queue; a full queue drops events
    /// with a counter.
    pub event_queue: u32,
    /// Seed of the table hash, so remote hosts cannot aim collisions.
    pub hash_seed: u64,
    /// Whether session create/delete events are queued. Block and
    /// exhaustion events always are; with port block allocation they are
    /// what a log needs (RFC 7422, RFC 6888 REQ-12), so `masq run` turns
    /// session events off unless the log asks for them.
    pub session_events: bool,
    /// Deterministic NAT (RFC 7422): every inside address has one fixed
    /// block of `block_size` ports on a fixed external address, computed
    /// from `inside`, `pool` and the port range alone (see
    /// [`crate::deterministic`]).
    pub deterministic: bool,
    /// Static mappings (port forwards and one-to-one addresses).
    pub statics: Vec<StaticMapping>,
    /// Destination prefixes that subscribers reach untranslated (RFC 6888
    /// REQ-6): the NAT leaves them to the kernel's routing.
    pub exclude: Vec<Prefix>,
    /// MSS written into TCP SYNs that carry a larger one, both directions
    /// (0: off).
    pub mss_clamp: u16,
    /// IPv4 MTU of the LAN link: larger inbound packets are refused (ICMP
    /// 3/4 when DF is set).
    pub lan_mtu: u16,
    /// IPv4 MTU of the WAN link: larger outbound packets are refused (ICMP
    /// 3/4 when DF is set).
    pub wan_mtu: u16,
    /// ICMP errors the NAT generates.
    pub icmp: IcmpGeneration,
    /// Fragment handling.
    pub fragments: Fragments,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            inside: vec![known_prefix(0xc0a8_0000, 16), known_prefix(0x6440_0000, 10)],
            pool: vec![known_prefix(0xcb00_7100, 24)],
            workers: 1,
            port_min: 1024,
            port_max: 65535,
            block_size: 512,
            max_sessions: 1 << 20,
            max_subscribers: 1 << 16,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            filtering: Filtering::default(),
            inbound_refresh: false,
            event_queue: 65536,
            hash_seed: 0x9e37_79b9_7f4a_7c15,
            session_events: true,
            deterministic: false,
            statics: Vec::new(),
            exclude: Vec::new(),
            mss_clamp: 0,
            lan_mtu: 1500,
            wan_mtu: 1500,
            icmp: IcmpGeneration::default(),
            fragments: Fragments::default(),
        }
    }
}

/// A prefix written in this file, whose host bits are known to be clear.
fn known_prefix(addr: u32, len: u8) -> Prefix {
    Prefix::new(addr, len).expect("a default prefix has no host bits set")
}

/// A configuration value that was refused, with the key it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, as written in the configuration file.
    pub key: &'static str,
    /// Why the value was refused.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Largest session table of one shard: indexes hold 24-bit slot numbers.
pub const MAX_SESSIONS: u32 = (1 << 24) - 2;
/// Largest pool, in addresses.
pub const MAX_POOL_ADDRS: u64 = 1 << 16;

fn err(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        reason: reason.into(),
    }
}

impl Config {
    /// Checks every value; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.inside.is_empty() {
            return Err(err("inside", "at least one inside prefix is needed"));
        }
        if self.pool.is_empty() {
            return Err(err("pool", "at least one pool address or prefix is needed"));
        }
        let pool_size: u64 = self.pool.iter().map(|p| p.size()).sum();
        if pool_size > MAX_POOL_ADDRS {
            return Err(err(
                "pool",
                format!("{pool_size} addresses; at most {MAX_POOL_ADDRS}"),
            ));
        }
        for (i, a) in self.pool.iter().enumerate() {
            if let Some(b) = self.pool[i + 1..].iter().find(|b| a.overlaps(**b)) {
                return Err(err("pool", format!("{a} overlaps {b}")));
            }
            if let Some(b) = self.inside.iter().find(|b| a.overlaps(**b)) {
                return Err(err("pool", format!("{a} overlaps inside prefix {b}")));
            }
        }
        if self.workers == 0 {
            return Err(err("workers", "must be at least 1"));
        }
        if self.block_size < 2 || self.block_size % 2 != 0 {
            return Err(err(
                "block_size",
                format!("{} must be even and at least 2", self.block_size),
            ));
        }
        if self.port_min % 2 != 0 {
            return Err(err(
                "port_min",
                format!("{} must be even to keep port parity", self.port_min),
            ));
        }
        if self.port_min < 1024 {
            return Err(err(
                "port_min",
                format!(
                    "{} is below 1024: the well-known ports 0-1023 are not handed out",
                    self.port_min
                ),
            ));
        }
        if self.port_max < self.port_min {
            return Err(err(
                "port_max",
                format!("{} is below port_min {}", self.port_max, self.port_min),
            ));
        }
        let blocks = self.blocks_per_addr();
        if blocks < u32::from(self.workers) {
            return Err(err(
                "block_size",
                format!(
                    "{blocks} blocks per address cannot give each of {} workers one",
                    self.workers
                ),
            ));
        }
        if self.max_sessions == 0 || self.max_sessions > MAX_SESSIONS {
            return Err(err("max_sessions", format!("must be 1..={MAX_SESSIONS}")));
        }
        if self.max_subscribers == 0 || self.max_subscribers > MAX_SESSIONS {
            return Err(err(
                "max_subscribers",
                format!("must be 1..={MAX_SESSIONS}"),
            ));
        }
        if self.limits.sessions_per_subscriber == 0 {
            return Err(err("limits.sessions_per_subscriber", "must be at least 1"));
        }
        if self.limits.blocks_per_subscriber == 0 {
            return Err(err("limits.blocks_per_subscriber", "must be at least 1"));
        }
        let t = &self.timeouts;
        if t.udp < 120 {
            return Err(err(
                "timeouts.udp",
                format!("{} s is under the 120 s of RFC 4787 REQ-5", t.udp),
            ));
        }
        if t.tcp_established < 7440 {
            return Err(err(
                "timeouts.tcp_established",
                format!(
                    "{} s is under the 7440 s of RFC 5382 REQ-5",
                    t.tcp_established
                ),
            ));
        }
        if t.tcp_transitory < 240 {
            return Err(err(
                "timeouts.tcp_transitory",
                format!(
                    "{} s is under the 240 s of RFC 5382 REQ-5",
                    t.tcp_transitory
                ),
            ));
        }
        if t.tcp_incoming_syn < 6 {
            return Err(err(
                "timeouts.tcp_incoming_syn",
                format!(
                    "{} s is under the 6 s of RFC 5382 REQ-4",
                    t.tcp_incoming_syn
                ),
            ));
        }
        if t.icmp < 60 {
            return Err(err(
                "timeouts.icmp",
                format!("{} s is under the 60 s of RFC 5508 REQ-1", t.icmp),
            ));
        }
        if t.block_hold < 120 {
            return Err(err(
                "timeouts.block_hold",
                format!("{} s is under the 120 s of RFC 6888 REQ-8", t.block_hold),
            ));
        }
        if self.event_queue == 0 {
            return Err(err("event_queue", "must be at least 1"));
        }
        if self.mss_clamp != 0 && !(536..=9000).contains(&self.mss_clamp) {
            return Err(err(
                "mss_clamp",
                format!(
                    "{} is outside 536..=9000 (0 turns clamping off)",
                    self.mss_clamp
                ),
            ));
        }
        for (key, mtu) in [("lan_mtu", self.lan_mtu), ("wan_mtu", self.wan_mtu)] {
            if !(576..=9000).contains(&mtu) {
                return Err(err(key, format!("{mtu} is outside 576..=9000")));
            }
        }
        let f = &self.fragments;
        if f.max_datagrams == 0 || f.max_datagrams > 1 << 20 {
            return Err(err("fragments.max_datagrams", "must be 1..=1048576"));
        }
        if f.max_held > 4096 {
            return Err(err("fragments.max_held", "must be 0..=4096"));
        }
        if f.timeout == 0 || f.timeout > 60 {
            return Err(err("fragments.timeout", "must be 1..=60 seconds"));
        }
        if self.deterministic {
            self.check_deterministic()
                .map_err(|r| err("deterministic", r))?;
        }
        self.check_statics()?;
        Ok(())
    }

    /// Refuses a deterministic configuration whose pool cannot give every
    /// inside address its block. It is checked here rather than in
    /// `deterministic`, which reads a `Config`, so that the dependency
    /// between the two modules runs one way.
    fn check_deterministic(&self) -> Result<(), String> {
        let inside: u64 = self.inside.iter().map(|p| p.size()).sum();
        let pool: u64 = self.pool.iter().map(|p| p.size()).sum();
        let k = u64::from(self.blocks_per_addr());
        if inside > pool * k {
            return Err(format!(
                "{inside} inside addresses need {} external addresses at {k} blocks of {} ports each; \
                 the pool has {pool} (shrink the ports per subscriber or grow the pool)",
                inside.div_ceil(k.max(1)),
                self.block_size
            ));
        }
        if self.limits.blocks_per_subscriber != 1 {
            return Err(
                "each subscriber has exactly one block (limits.blocks_per_subscriber = 1)".into(),
            );
        }
        Ok(())
    }

    fn check_statics(&self) -> Result<(), ConfigError> {
        let map = crate::pool::BlockMap {
            shards: self.workers,
            port_min: self.port_min,
            block_size: self.block_size,
            blocks_per_addr: self.blocks_per_addr(),
        };
        for (i, m) in self.statics.iter().enumerate() {
            let bad = |r: String| err("static", format!("{m}: {r}"));
            if !self.inside.iter().any(|p| p.contains(m.inside)) {
                return Err(bad("the inside address is not in an inside prefix".into()));
            }
            if self.inside.iter().any(|p| p.contains(m.outside)) {
                return Err(bad("the outside address is in an inside prefix".into()));
            }
            let in_pool = self.pool.iter().any(|p| p.contains(m.outside));
            match m.proto {
                None => {
                    if in_pool {
                        return Err(bad(
                            "a one-to-one outside address must not be a pool address".into(),
                        ));
                    }
                    if self.deterministic {
                        return Err(bad(
                            "one-to-one mappings are not offered with deterministic NAT".into(),
                        ));
                    }
                }
                Some(6 | 17) => {
                    if m.inside_port == 0 || m.outside_port == 0 {
                        return Err(bad("port 0 cannot be mapped".into()));
                    }
                    if in_pool && self.deterministic && map.block_of(m.outside_port).is_some() {
                        return Err(bad(format!(
                            "with deterministic NAT every port in {}-{} belongs to a subscriber",
                            self.port_min, self.port_max
                        )));
                    }
                    if !in_pool
                        && !self
                            .statics
                            .iter()
                            .any(|o| o.proto.is_none() && o.outside == m.outside)
                    {
                        return Err(bad(
                            "the outside address must be a pool address (or a one-to-one outside address)"
                                .into(),
                        ));
                    }
                }
                Some(p) => return Err(bad(format!("protocol {p} is not tcp or udp"))),
            }
            for o in &self.statics[..i] {
                let clash = match (m.proto, o.proto) {
                    (None, None) => (m.inside == o.inside)
                        .then_some("inside")
                        .or((m.outside == o.outside).then_some("outside")),
                    (Some(a), Some(b)) if a == b => (m.inside == o.inside
                        && m.inside_port == o.inside_port)
                        .then_some("inside")
                        .or((m.outside == o.outside && m.outside_port == o.outside_port)
                            .then_some("outside")),
                    _ => None,
                };
                if let Some(side) = clash {
                    return Err(bad(format!("its {side} endpoint is also mapped by {o}")));
                }
            }
        }
        Ok(())
    }

    /// Checks that `new` differs from `self` only in what a running shard
    /// can take (see [`crate::Shard::reconfigure`]): timers, limits,
    /// filtering, inbound refresh and pool addresses appended at the end.
    /// Names the first key that needs a restart.
    pub fn live_change(&self, new: &Config) -> Result<(), ConfigError> {
        new.validate()?;
        let fixed = [
            ("inside", new.inside == self.inside),
            ("workers", new.workers == self.workers),
            ("port_min", new.port_min == self.port_min),
            ("port_max", new.port_max == self.port_max),
            ("block_size", new.block_size == self.block_size),
            ("max_sessions", new.max_sessions == self.max_sessions),
            (
                "max_subscribers",
                new.max_subscribers == self.max_subscribers,
            ),
            ("event_queue", new.event_queue == self.event_queue),
            ("hash_seed", new.hash_seed == self.hash_seed),
            ("deterministic", new.deterministic == self.deterministic),
            ("static", new.statics == self.statics),
            ("exclude", new.exclude == self.exclude),
            ("fragments", new.fragments == self.fragments),
            ("lan_mtu", new.lan_mtu == self.lan_mtu),
            ("wan_mtu", new.wan_mtu == self.wan_mtu),
        ];
        if let Some((key, _)) = fixed.iter().find(|(_, same)| !same) {
            return Err(err(key, "changes only on restart"));
        }
        if new.pool.len() < self.pool.len() || new.pool[..self.pool.len()] != self.pool[..] {
            return Err(err(
                "pool",
                "addresses can be appended live; removing or changing one needs a restart",
            ));
        }
        Ok(())
    }

    /// Whole blocks that fit in the port range of one address.
    pub fn blocks_per_addr(&self) -> u32 {
        if self.port_max < self.port_min || self.block_size == 0 {
            return 0;
        }
        (u32::from(self.port_max) - u32::from(self.port_min) + 1) / u32::from(self.block_size)
    }

    /// Every pool address, in order.
    pub fn pool_addrs(&self) -> Vec<u32> {
        let mut v = Vec::new();
        for p in &self.pool {
            let n = p.size();
            for i in 0..n {
                v.push(p.addr().wrapping_add(i as u32));
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
        assert_eq!(Config::default().blocks_per_addr(), 126);
    }

    #[test]
    fn rejections_name_their_key() {
        type Edit = fn(&mut Config);
        let cases: &[(&str, Edit)] = &[
            ("inside", |c| c.inside.clear()),
            ("pool", |c| c.pool.clear()),
            ("pool", |c| c.pool = vec!["192.168.5.0/24".parse().unwrap()]),
            ("pool", |c| c.pool.push("203.0.113.128/25".parse().unwrap())),
            ("pool", |c| c.pool = vec!["10.0.0.0/8".parse().unwrap()]),
            ("workers", |c| c.workers = 0),
            ("block_size", |c| c.block_size = 511),
            ("block_size", |c| {
                c.block_size = 32768;
                c.workers = 4
            }),
            ("port_min", |c| c.port_min = 1025),
            ("port_min", |c| c.port_min = 80),
            ("port_max", |c| c.port_max = 1000),
            ("max_sessions", |c| c.max_sessions = 0),
            ("max_sessions", |c| c.max_sessions = 1 << 25),
            ("limits.sessions_per_subscriber", |c| {
                c.limits.sessions_per_subscriber = 0
            }),
            ("limits.blocks_per_subscriber", |c| {
                c.limits.blocks_per_subscriber = 0
            }),
            ("timeouts.udp", |c| c.timeouts.udp = 119),
            ("timeouts.tcp_established", |c| {
                c.timeouts.tcp_established = 7439
            }),
            ("timeouts.tcp_transitory", |c| {
                c.timeouts.tcp_transitory = 10
            }),
            ("timeouts.tcp_incoming_syn", |c| {
                c.timeouts.tcp_incoming_syn = 5
            }),
            ("timeouts.icmp", |c| c.timeouts.icmp = 59),
            ("timeouts.block_hold", |c| c.timeouts.block_hold = 119),
            ("event_queue", |c| c.event_queue = 0),
        ];
        for (key, edit) in cases {
            let mut c = Config::default();
            edit(&mut c);
            let e = c.validate().unwrap_err();
            assert_eq!(e.key, *key, "{e}");
            assert!(!e.reason.is_empty());
        }
    }

    #[test]
    fn static_mappings_are_checked() {
        let fwd = |inside: &str, ip: u16, outside: &str, op: u16| StaticMapping {
            proto: Some(6),
            inside: u32::from(inside.parse::<core::net::Ipv4Addr>().unwrap()),
            inside_port: ip,
            outside: u32::from(outside.parse::<core::net::Ipv4Addr>().unwrap()),
            outside_port: op,
        };
        let one = |inside: &str, outside: &str| StaticMapping {
            proto: None,
            inside_port: 0,
            outside_port: 0,
            ..fwd(inside, 0, outside, 0)
        };
        let good = vec![
            fwd("192.168.1.80", 80, "203.0.113.1", 8080),
            one("192.168.1.90", "198.51.100.9"),
            fwd("192.168.1.90", 22, "198.51.100.9", 2222),
        ];
        let mut c = Config {
            statics: good.clone(),
            ..Config::default()
        };
        c.validate().unwrap();
        let bad: &[(StaticMapping, &str)] = &[
            (
                fwd("10.0.0.1", 80, "203.0.113.1", 80),
                "not in an inside prefix",
            ),
            (
                fwd("192.168.1.81", 80, "198.51.100.200", 80),
                "must be a pool address",
            ),
            (fwd("192.168.1.81", 0, "203.0.113.1", 80), "port 0"),
            (fwd("192.168.1.81", 80, "203.0.113.1", 8080), "also mapped"),
            (one("192.168.1.91", "203.0.113.2"), "not be a pool address"),
            (one("192.168.1.90", "198.51.100.10"), "also mapped"),
        ];
        for (m, why) in bad {
            c.statics = good.clone();
            c.statics.push(*m);
            let e = c.validate().unwrap_err();
            assert_eq!(e.key, "static");
            assert!(e.reason.contains(why), "{m}: {e}");
        }
        c.statics = good;
        c.deterministic = true;
        c.limits.blocks_per_subscriber = 1;
        c.block_size = 2;
        c.pool = vec!["203.0.113.0/24".parse().unwrap()];
        c.inside = vec!["192.168.0.0/24".parse().unwrap()];
        assert_eq!(c.validate().unwrap_err().key, "static");
        for (key, edit) in [
            (
                "mss_clamp",
                (|c: &mut Config| c.mss_clamp = 100) as fn(&mut Config),
            ),
            ("wan_mtu", |c| c.wan_mtu = 100),
            ("fragments.timeout", |c| c.fragments.timeout = 0),
        ] {
            let mut c = Config::default();
            edit(&mut c);
            assert_eq!(c.validate().unwrap_err().key, key);
        }
    }

    #[test]
    fn filtering_names() {
        assert_eq!(
            "endpoint-independent".parse(),
            Ok(Filtering::EndpointIndependent)
        );
        assert_eq!("address-dependent".parse(), Ok(Filtering::AddressDependent));
        assert_eq!(
            "address-and-port-dependent".parse(),
            Ok(Filtering::AddressAndPortDependent)
        );
        assert!("full-cone".parse::<Filtering>().is_err());
        for f in Filtering::ALL {
            assert_eq!(f.to_string().parse(), Ok(f));
        }
    }
}
