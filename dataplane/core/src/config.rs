//! The core's configuration: checked types, validated once at load time.
//!
//! Every rejection names the key it is about, so the file loader in the
//! control crate can point the operator at the line to fix.

use core::fmt;

mod validate;
pub(crate) use validate::check_mtu;

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
    /// Idle timeout of address-only sessions: every protocol but TCP, UDP
    /// and ICMP (GRE, ESP, SCTP, ...); 600 s, netfilter's generic timeout.
    pub other: u32,
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
            other: 600,
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
    /// Held mappings (PCP, NAT-PMP) one shard keeps at once, fixed at
    /// start (at most `max_sessions` are kept); 0 refuses every one.
    pub max_holds: u32,
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
    /// IPv4 MTU of the LAN link: larger inbound packets are cut into
    /// fragments, or refused with ICMP 3/4 when DF is set. Changes while
    /// running ([`crate::Shard::set_mtus`]).
    pub lan_mtu: u16,
    /// IPv4 MTU of the WAN link, the same for outbound packets.
    pub wan_mtu: u16,
    /// ICMP errors the NAT generates.
    pub icmp: IcmpGeneration,
    /// Fragment handling.
    pub fragments: Fragments,
    /// Ports the box's own stack keeps (inclusive; its ephemeral range) on
    /// the pool addresses that are the box's (`own_addrs`): no block
    /// overlapping them is handed out there, and inbound traffic to them
    /// is the box's. `None`: the NAT's range is all the NAT's.
    pub kernel_ports: Option<(u16, u16)>,
    /// Which pool addresses are the box's own.
    pub own_addrs: OwnAddrs,
}

/// Which pool addresses are also addresses of the box itself, whose own
/// stack keeps `Config::kernel_ports` on them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OwnAddrs {
    /// None (an SNAT pool apart from the box's addresses).
    #[default]
    None,
    /// Every pool address: MASQUERADE's one /32, whatever it becomes.
    Pool,
    /// These pool addresses (SNAT with some of the box's addresses).
    Listed(Vec<u32>),
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
            max_holds: 4096,
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
            kernel_ports: None,
            own_addrs: OwnAddrs::None,
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

impl Config {
    /// Whole blocks that fit in the port range of one address.
    pub fn blocks_per_addr(&self) -> u32 {
        if self.port_max < self.port_min || self.block_size == 0 {
            return 0;
        }
        (u32::from(self.port_max) - u32::from(self.port_min) + 1) / u32::from(self.block_size)
    }

    /// The shard (worker) that owns subscriber `a`: its deterministic
    /// owner with `[deterministic]`, else [`crate::subscriber_owner`].
    /// The shards and the control plane (PCP) ask this one function.
    #[inline]
    pub fn subscriber_shard(&self, a: u32) -> u16 {
        if self.deterministic {
            if let Some(o) = crate::deterministic::owner(self, a) {
                return o;
            }
        }
        crate::hash::subscriber_owner(a, self.workers)
    }

    /// Whether pool address `a` is the box's own ([`Config::own_addrs`]).
    pub fn is_own(&self, a: u32) -> bool {
        match &self.own_addrs {
            OwnAddrs::None => false,
            OwnAddrs::Pool => true,
            OwnAddrs::Listed(v) => v.contains(&a),
        }
    }

    /// The blocks (numbers on every address) that overlap
    /// `kernel_ports`, as an inclusive range; `None` when none does.
    pub fn kernel_blocks(&self) -> Option<(u32, u32)> {
        let (lo, hi) = self.kernel_ports?;
        let n = self.blocks_per_addr();
        if n == 0 || hi < self.port_min || lo > self.port_max || lo > hi {
            return None;
        }
        let size = u32::from(self.block_size);
        let first = u32::from(lo.max(self.port_min) - self.port_min) / size;
        let last = (u32::from(hi.min(self.port_max) - self.port_min) / size).min(n - 1);
        (first < n).then_some((first, last))
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
