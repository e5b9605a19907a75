//! Checking a configuration: every value at load time, each error naming
//! its key, and which changes a running shard can take.

use super::{Config, ConfigError, MAX_POOL_ADDRS, MAX_SESSIONS};

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
        if self.max_holds > MAX_SESSIONS {
            return Err(err("max_holds", format!("must be 0..={MAX_SESSIONS}")));
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
        if t.other < 60 {
            return Err(err(
                "timeouts.other",
                format!("{} s is under 60 s (the shortest session timer)", t.other),
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
        check_mtu("lan_mtu", self.lan_mtu)?;
        check_mtu("wan_mtu", self.wan_mtu)?;
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
            ("max_holds", new.max_holds == self.max_holds),
            ("hash_seed", new.hash_seed == self.hash_seed),
            ("deterministic", new.deterministic == self.deterministic),
            ("static", new.statics == self.statics),
            ("exclude", new.exclude == self.exclude),
            ("fragments", new.fragments == self.fragments),
            ("kernel_ports", new.kernel_ports == self.kernel_ports),
            ("kernel_ports", new.own_addrs == self.own_addrs),
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
}

/// Checks an MTU: 68 (RFC 791: every host takes a 68-byte datagram
/// whole) to 9000.
pub(crate) fn check_mtu(key: &'static str, mtu: u16) -> Result<(), ConfigError> {
    if (68..=9000).contains(&mtu) {
        Ok(())
    } else {
        Err(err(key, format!("{mtu} is outside 68..=9000")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Filtering, StaticMapping};

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
            ("timeouts.other", |c| c.timeouts.other = 59),
            ("timeouts.block_hold", |c| c.timeouts.block_hold = 119),
            ("event_queue", |c| c.event_queue = 0),
            ("max_holds", |c| c.max_holds = MAX_SESSIONS + 1),
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
            ("wan_mtu", |c| c.wan_mtu = 67),
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
