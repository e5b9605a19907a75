//! The configuration file (TOML) of `masq run`, checked into typed values.
//! Every error names the key it is about.

use std::path::Path;

use std::net::Ipv4Addr;

use masq_core::{Config, Filtering, Prefix, Protocol, StaticMapping};
use serde::Deserialize;

use crate::eventlog::{self, LogConfig};

mod routing;
pub use routing::{external_prefixes, Origin, Realm, Route, RoutingConfig};

/// How the external address is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Translate to the configured `pool`.
    #[default]
    Snat,
    /// Translate to the WAN interface's IPv4 address at start.
    Masquerade,
}

impl Mode {
    /// The value of `mode` in the file (serde reads the same spelling:
    /// the variant name in lowercase).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Snat => "snat",
            Mode::Masquerade => "masquerade",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    sessions_per_subscriber: Option<u32>,
    blocks_per_subscriber: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeoutsFile {
    udp: Option<u32>,
    tcp_established: Option<u32>,
    tcp_transitory: Option<u32>,
    tcp_incoming_syn: Option<u32>,
    icmp: Option<u32>,
    other: Option<u32>,
    block_hold: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    lan: String,
    wan: String,
    #[serde(default)]
    mode: Mode,
    inside: Vec<String>,
    #[serde(default)]
    pool: Vec<String>,
    workers: Option<u16>,
    cores: Option<Vec<usize>>,
    filtering: Option<String>,
    inbound_refresh: Option<bool>,
    port_min: Option<u16>,
    port_max: Option<u16>,
    block_size: Option<u16>,
    max_sessions: Option<u32>,
    max_subscribers: Option<u32>,
    max_holds: Option<u32>,
    umem_frames: Option<u32>,
    ring_size: Option<u32>,
    handoff_ring: Option<u32>,
    metrics_listen: Option<String>,
    admin_socket: Option<String>,
    stall_timeout: Option<u32>,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    timeouts: TimeoutsFile,
    #[serde(default)]
    log: eventlog::LogFile,
    #[serde(default)]
    exclude: Vec<String>,
    mss_clamp: Option<u16>,
    lan_mtu: Option<u16>,
    wan_mtu: Option<u16>,
    #[serde(default, rename = "static")]
    statics: Vec<StaticFile>,
    #[serde(default)]
    icmp: IcmpFile,
    #[serde(default)]
    fragments: FragmentsFile,
    deterministic: Option<DeterministicFile>,
    kernel_ports: Option<String>,
    #[serde(default)]
    pcp: PcpFile,
    #[serde(default)]
    routing: routing::RoutingFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PcpFile {
    enabled: Option<bool>,
    min_lifetime: Option<u32>,
    max_lifetime: Option<u32>,
    mappings_per_subscriber: Option<u32>,
    requests_per_second: Option<u32>,
    third_party: Option<bool>,
}

/// The PCP and NAT-PMP server (`[pcp]`); it changes on SIGHUP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcpConfig {
    /// Whether requests are answered.
    pub enabled: bool,
    /// Shortest lifetime granted, seconds (shorter requests get it).
    pub min_lifetime: u32,
    /// Longest lifetime granted, seconds.
    pub max_lifetime: u32,
    /// Most PCP and NAT-PMP mappings one subscriber holds.
    pub mappings_per_subscriber: u32,
    /// Requests per second one source address may send (a burst of
    /// [`PcpConfig::burst`] is allowed).
    pub requests_per_second: u32,
    /// Whether the THIRD_PARTY option is honoured.
    pub third_party: bool,
}

impl Default for PcpConfig {
    fn default() -> PcpConfig {
        PcpConfig {
            enabled: true,
            min_lifetime: 120,
            max_lifetime: 86400,
            mappings_per_subscriber: 16,
            requests_per_second: 10,
            third_party: false,
        }
    }
}

impl PcpConfig {
    /// Longest lifetime the file may set: a year.
    pub const MAX_LIFETIME: u32 = 31_536_000;

    /// Requests a source may send at once after a quiet while.
    pub fn burst(&self) -> u32 {
        self.requests_per_second.saturating_mul(4)
    }

    fn from_file(f: &PcpFile) -> Result<PcpConfig, String> {
        let d = PcpConfig::default();
        let c = PcpConfig {
            enabled: f.enabled.unwrap_or(d.enabled),
            min_lifetime: f.min_lifetime.unwrap_or(d.min_lifetime),
            max_lifetime: f.max_lifetime.unwrap_or(d.max_lifetime),
            mappings_per_subscriber: f
                .mappings_per_subscriber
                .unwrap_or(d.mappings_per_subscriber),
            requests_per_second: f.requests_per_second.unwrap_or(d.requests_per_second),
            third_party: f.third_party.unwrap_or(d.third_party),
        };
        let max = PcpConfig::MAX_LIFETIME;
        if !(1..=max).contains(&c.min_lifetime) {
            return Err(err(
                "pcp.min_lifetime",
                format!("{} must be 1..={max} seconds", c.min_lifetime),
            ));
        }
        if !(c.min_lifetime..=max).contains(&c.max_lifetime) {
            return Err(err(
                "pcp.max_lifetime",
                format!(
                    "{} must be pcp.min_lifetime ({})..={max} seconds",
                    c.max_lifetime, c.min_lifetime
                ),
            ));
        }
        if !(1..=65535).contains(&c.mappings_per_subscriber) {
            return Err(err(
                "pcp.mappings_per_subscriber",
                format!("{} must be 1..=65535", c.mappings_per_subscriber),
            ));
        }
        if !(1..=10000).contains(&c.requests_per_second) {
            return Err(err(
                "pcp.requests_per_second",
                format!("{} must be 1..=10000", c.requests_per_second),
            ));
        }
        Ok(c)
    }

    /// The `[pcp]` table as `check-config` prints it.
    pub fn to_toml(&self) -> String {
        format!(
            "[pcp]\nenabled = {}\nmin_lifetime = {}\nmax_lifetime = {}\n\
             mappings_per_subscriber = {}\nrequests_per_second = {}\nthird_party = {}\n",
            self.enabled,
            self.min_lifetime,
            self.max_lifetime,
            self.mappings_per_subscriber,
            self.requests_per_second,
            self.third_party
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticFile {
    proto: Option<String>,
    inside: String,
    outside: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IcmpFile {
    rate: Option<u32>,
    rate_per_subscriber: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FragmentsFile {
    max_datagrams: Option<u32>,
    max_held: Option<u32>,
    timeout: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeterministicFile {
    ports_per_subscriber: u16,
}

use crate::mtu::MAX_MTU;

/// Parses one `[[static]]` entry.
fn static_mapping(f: &StaticFile) -> Result<StaticMapping, String> {
    let e = |why: String| err("static", format!("{} -> {}: {why}", f.inside, f.outside));
    let addr = |s: &str| {
        s.parse::<Ipv4Addr>()
            .map(u32::from)
            .map_err(|_| e(format!("{s:?} is not an IPv4 address")))
    };
    let endpoint = |s: &str| -> Result<(u32, u16), String> {
        let (a, p) = s
            .rsplit_once(':')
            .ok_or_else(|| e(format!("{s:?} is not IP:PORT")))?;
        let p = p
            .parse::<u16>()
            .map_err(|_| e(format!("bad port in {s:?}")))?;
        Ok((addr(a)?, p))
    };
    match f.proto.as_deref() {
        None => Ok(StaticMapping {
            proto: None,
            inside: addr(&f.inside)?,
            inside_port: 0,
            outside: addr(&f.outside)?,
            outside_port: 0,
        }),
        Some(p) => {
            let proto = match p.parse::<Protocol>() {
                Ok(p @ (Protocol::Tcp | Protocol::Udp)) => p.number(),
                _ => return Err(e(format!("proto {p:?} is not \"tcp\" or \"udp\""))),
            };
            let (inside, inside_port) = endpoint(&f.inside)?;
            let (outside, outside_port) = endpoint(&f.outside)?;
            Ok(StaticMapping {
                proto: Some(proto),
                inside,
                inside_port,
                outside,
                outside_port,
            })
        }
    }
}

/// Everything `masq run` needs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// LAN interface.
    pub lan: String,
    /// WAN interface.
    pub wan: String,
    /// SNAT or MASQUERADE.
    pub mode: Mode,
    /// Core configuration (in masquerade mode its pool is filled at start).
    pub core: Config,
    /// Cores to pin workers to, one per worker.
    pub cores: Vec<usize>,
    /// Frames per worker UMEM.
    pub umem_frames: u32,
    /// Entries of each AF_XDP ring.
    pub ring_size: u32,
    /// Entries of each worker's hand-off ring.
    pub handoff_ring: u32,
    /// Where `/metrics` is served (None: not served).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Path of the admin socket.
    pub admin_socket: std::path::PathBuf,
    /// Seconds without a heartbeat after which the control thread reports
    /// a worker as stalled.
    pub stall_timeout: u32,
    /// NAT event logging (`[log]`).
    pub log: LogConfig,
    /// `lan_mtu`: overrides the LAN interface's MTU ([`crate::mtu`]);
    /// `core.lan_mtu` holds the MTU in force.
    pub lan_mtu: Option<u16>,
    /// `wan_mtu`: overrides the WAN interface's MTU.
    pub wan_mtu: Option<u16>,
    /// The `kernel_ports` setting as written (its range is
    /// `core.kernel_ports`).
    pub kernel_ports: crate::sharing::KernelPorts,
    /// The PCP and NAT-PMP server (`[pcp]`).
    pub pcp: PcpConfig,
    /// The routes held for a routing daemon (`[routing]`).
    pub routing: RoutingConfig,
}

/// Default address of the Prometheus endpoint: local only.
pub const DEFAULT_METRICS: &str = "127.0.0.1:9469";
/// Default seconds without a heartbeat before a worker counts as stalled.
pub const DEFAULT_STALL_TIMEOUT: u32 = 2;
/// Default path of the admin socket.
pub const DEFAULT_SOCKET: &str = "/run/masq/masq.sock";

impl RunConfig {
    /// Names the first setting that differs from `new` and cannot change
    /// without a restart (the core's own are checked by
    /// `Config::live_change`).
    pub fn restart_only_change(&self, new: &RunConfig) -> Option<&'static str> {
        [
            ("lan", self.lan != new.lan),
            ("wan", self.wan != new.wan),
            ("mode", self.mode != new.mode),
            ("cores", self.cores != new.cores),
            ("umem_frames", self.umem_frames != new.umem_frames),
            ("ring_size", self.ring_size != new.ring_size),
            ("handoff_ring", self.handoff_ring != new.handoff_ring),
            ("metrics_listen", self.metrics_listen != new.metrics_listen),
            ("admin_socket", self.admin_socket != new.admin_socket),
            ("log", self.log != new.log),
            ("routing", self.routing != new.routing),
        ]
        .into_iter()
        .find_map(|(k, changed)| changed.then_some(k))
    }

    /// The effective configuration as TOML: every key, defaults filled in.
    pub fn to_toml(&self) -> String {
        let c = &self.core;
        let list = |v: &[Prefix]| {
            v.iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut s = format!(
            "lan = {}\nwan = {}\nmode = \"{}\"\ninside = [{}]\n",
            toml_string(&self.lan),
            toml_string(&self.wan),
            self.mode,
            list(&c.inside)
        );
        if self.mode == Mode::Snat {
            s += &format!("pool = [{}]\n", list(&c.pool));
        }
        s += &format!(
            "workers = {}\ncores = [{}]\nfiltering = \"{}\"\ninbound_refresh = {}\n\
             port_min = {}\nport_max = {}\nblock_size = {}\nmax_sessions = {}\n\
             max_subscribers = {}\nmax_holds = {}\numem_frames = {}\nring_size = {}\nhandoff_ring = {}\n\
             metrics_listen = \"{}\"\nadmin_socket = {}\nstall_timeout = {}\n",
            c.workers,
            self.cores
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            c.filtering,
            c.inbound_refresh,
            c.port_min,
            c.port_max,
            c.block_size,
            c.max_sessions,
            c.max_subscribers,
            c.max_holds,
            self.umem_frames,
            self.ring_size,
            self.handoff_ring,
            self.metrics_listen
                .map(|a| a.to_string())
                .unwrap_or_else(|| "off".into()),
            toml_string(&self.admin_socket.to_string_lossy()),
            self.stall_timeout,
        );
        s += &format!(
            "kernel_ports = \"{}\"\nexclude = [{}]\nmss_clamp = {}\n",
            self.kernel_ports,
            list(&c.exclude),
            c.mss_clamp,
        );
        for (key, over, side, name) in [
            ("lan_mtu", self.lan_mtu, "LAN", &self.lan),
            ("wan_mtu", self.wan_mtu, "WAN", &self.wan),
        ] {
            s += &match over {
                Some(m) => format!("{key} = {m}\n"),
                None => format!(
                    "# {key} unset: the {side} MTU is the MTU of {}, followed while running\n",
                    toml_string(name)
                ),
            };
        }
        s += "\n";
        let (l, t) = (&c.limits, &c.timeouts);
        s += &format!(
            "[limits]\nsessions_per_subscriber = {}\nblocks_per_subscriber = {}\n\n\
             [timeouts]\nudp = {}\ntcp_established = {}\ntcp_transitory = {}\n\
             tcp_incoming_syn = {}\nicmp = {}\nother = {}\nblock_hold = {}\n",
            l.sessions_per_subscriber,
            l.blocks_per_subscriber,
            t.udp,
            t.tcp_established,
            t.tcp_transitory,
            t.tcp_incoming_syn,
            t.icmp,
            t.other,
            t.block_hold
        );
        s += &format!(
            "\n[icmp]\nrate = {}\nrate_per_subscriber = {}\n\n\
             [fragments]\nmax_datagrams = {}\nmax_held = {}\ntimeout = {}\n",
            c.icmp.rate,
            c.icmp.rate_per_subscriber,
            c.fragments.max_datagrams,
            c.fragments.max_held,
            c.fragments.timeout
        );
        if c.deterministic {
            s += &format!(
                "\n[deterministic]\nports_per_subscriber = {}\n",
                c.block_size
            );
        }
        for m in &c.statics {
            let a = masq_core::addr::fmt_addr;
            s += &match m.proto {
                Some(p) => format!(
                    "\n[[static]]\nproto = \"{}\"\ninside = \"{}:{}\"\noutside = \"{}:{}\"\n",
                    masq_core::proto::name_of(p),
                    a(m.inside),
                    m.inside_port,
                    a(m.outside),
                    m.outside_port
                ),
                None => format!(
                    "\n[[static]]\ninside = \"{}\"\noutside = \"{}\"\n",
                    a(m.inside),
                    a(m.outside)
                ),
            };
        }
        s += "\n";
        s += &self.pcp.to_toml();
        s += "\n";
        s += &self.routing.to_toml();
        s += "\n";
        s += &self.log.to_toml();
        s
    }
}

/// A TOML document (the effective configuration) as pretty JSON, key
/// for key and table for table.
pub fn toml_to_json(text: &str) -> Result<String, String> {
    let t: toml::Table =
        toml::from_str(text).map_err(|e| format!("the effective configuration: {e}"))?;
    serde_json::to_string_pretty(&t).map_err(|e| e.to_string())
}

/// `s` as a TOML basic string: quoted, with quotes, backslashes and
/// control characters escaped (names and paths may hold any of them).
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn err(key: &str, why: impl std::fmt::Display) -> String {
    format!("{key}: {why}")
}

fn prefixes(key: &str, v: &[String]) -> Result<Vec<Prefix>, String> {
    v.iter()
        .map(|s| {
            s.parse::<Prefix>()
                .map_err(|e| err(key, format!("{s:?}: {e}")))
        })
        .collect()
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<RunConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Checks configuration text.
pub fn parse(text: &str) -> Result<RunConfig, String> {
    let f: File = toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
    let log = eventlog::from_file(f.log)?;
    let pcp = PcpConfig::from_file(&f.pcp)?;
    let routing = RoutingConfig::from_file(&f.routing, f.mode)?;
    let d = Config::default();
    let mut core = Config {
        inside: prefixes("inside", &f.inside)?,
        pool: prefixes("pool", &f.pool)?,
        workers: f.workers.unwrap_or(1),
        port_min: f.port_min.unwrap_or(d.port_min),
        port_max: f.port_max.unwrap_or(d.port_max),
        block_size: f.block_size.unwrap_or(d.block_size),
        max_sessions: f.max_sessions.unwrap_or(d.max_sessions),
        max_subscribers: f.max_subscribers.unwrap_or(d.max_subscribers),
        max_holds: f.max_holds.unwrap_or(d.max_holds),
        // The core queues session events only when the log reads them.
        session_events: log.session_events(),
        ..d
    };
    if let Some(s) = &f.filtering {
        core.filtering = s.parse::<Filtering>().map_err(|e| err("filtering", e))?;
    }
    if let Some(b) = f.inbound_refresh {
        core.inbound_refresh = b;
    }
    let l = &f.limits;
    core.limits.sessions_per_subscriber = l
        .sessions_per_subscriber
        .unwrap_or(core.limits.sessions_per_subscriber);
    core.limits.blocks_per_subscriber = l
        .blocks_per_subscriber
        .unwrap_or(core.limits.blocks_per_subscriber);
    let t = &f.timeouts;
    let ct = &mut core.timeouts;
    ct.udp = t.udp.unwrap_or(ct.udp);
    ct.tcp_established = t.tcp_established.unwrap_or(ct.tcp_established);
    ct.tcp_transitory = t.tcp_transitory.unwrap_or(ct.tcp_transitory);
    ct.tcp_incoming_syn = t.tcp_incoming_syn.unwrap_or(ct.tcp_incoming_syn);
    ct.icmp = t.icmp.unwrap_or(ct.icmp);
    ct.other = t.other.unwrap_or(ct.other);
    ct.block_hold = t.block_hold.unwrap_or(ct.block_hold);
    core.exclude = prefixes("exclude", &f.exclude)?;
    core.mss_clamp = f.mss_clamp.unwrap_or(core.mss_clamp);
    // Unset, the interfaces' MTUs replace these at start (crate::mtu).
    for (key, v, slot) in [
        ("lan_mtu", f.lan_mtu, &mut core.lan_mtu),
        ("wan_mtu", f.wan_mtu, &mut core.wan_mtu),
    ] {
        if let Some(m) = v {
            if m > MAX_MTU {
                return Err(err(
                    key,
                    format!("{m} is over {MAX_MTU} (one 2048-byte AF_XDP frame)"),
                ));
            }
            *slot = m;
        }
    }
    core.statics = f
        .statics
        .iter()
        .map(static_mapping)
        .collect::<Result<_, _>>()?;
    core.icmp.rate = f.icmp.rate.unwrap_or(core.icmp.rate);
    core.icmp.rate_per_subscriber = f
        .icmp
        .rate_per_subscriber
        .unwrap_or(core.icmp.rate_per_subscriber);
    let fr = &mut core.fragments;
    fr.max_datagrams = f.fragments.max_datagrams.unwrap_or(fr.max_datagrams);
    fr.max_held = f.fragments.max_held.unwrap_or(fr.max_held);
    fr.timeout = f.fragments.timeout.unwrap_or(fr.timeout);
    if let Some(d) = &f.deterministic {
        if f.block_size.is_some_and(|b| b != d.ports_per_subscriber) {
            return Err(err(
                "block_size",
                "set by deterministic.ports_per_subscriber in deterministic mode; leave it out",
            ));
        }
        if l.blocks_per_subscriber.is_some_and(|b| b != 1) {
            return Err(err(
                "limits.blocks_per_subscriber",
                "each subscriber has exactly one block in deterministic mode; leave it out",
            ));
        }
        core.deterministic = true;
        core.block_size = d.ports_per_subscriber;
        core.limits.blocks_per_subscriber = 1;
        if d.ports_per_subscriber < 2 || d.ports_per_subscriber % 2 != 0 {
            return Err(err(
                "deterministic.ports_per_subscriber",
                format!("{} must be even and at least 2", d.ports_per_subscriber),
            ));
        }
    }
    let kernel_ports = match &f.kernel_ports {
        Some(s) => s.parse().map_err(|e| err("kernel_ports", e))?,
        None => crate::sharing::KernelPorts::Auto,
    };
    core.kernel_ports = kernel_ports.resolve().map_err(|e| err("kernel_ports", e))?;
    if f.mode == Mode::Masquerade {
        core.own_addrs = masq_core::OwnAddrs::Pool;
        crate::sharing::check_deterministic(&core)?;
    }
    let max = masq_xsk::xdp::MAX_PREFIXES;
    let one_to_one = core.statics.iter().filter(|m| m.proto.is_none()).count();
    if one_to_one > max {
        return Err(err(
            "static",
            format!("{one_to_one} one-to-one mappings; the XDP program holds at most {max}"),
        ));
    }
    let mut low: Vec<u16> = core
        .statics
        .iter()
        .filter(|m| m.proto.is_some() && !(core.port_min..=core.port_max).contains(&m.outside_port))
        .map(|m| m.outside_port)
        .collect();
    low.sort_unstable();
    low.dedup();
    if low.len() > max {
        return Err(err(
            "static",
            format!(
                "{} distinct outside ports outside port_min..=port_max; the XDP program holds at most {max}",
                low.len()
            ),
        ));
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let workers = usize::from(core.workers);
    if workers > cpus {
        return Err(err(
            "workers",
            format!("{workers} workers but only {cpus} cores"),
        ));
    }
    match f.mode {
        Mode::Snat if core.pool.is_empty() => {
            return Err(err("pool", "snat mode needs at least one pool prefix"))
        }
        Mode::Masquerade if !core.pool.is_empty() => {
            return Err(err(
                "pool",
                "masquerade mode takes the WAN address; leave pool out",
            ))
        }
        Mode::Masquerade => {
            // Validated with a placeholder; the WAN address replaces it.
            let mut probe = core.clone();
            probe.pool = crate::external::External::masquerade_pool(None);
            probe.validate().map_err(|e| e.to_string())?;
        }
        Mode::Snat => core.validate().map_err(|e| e.to_string())?,
    }
    let cores = match f.cores {
        Some(c) if c.len() != workers => {
            return Err(err(
                "cores",
                format!("{} cores listed for {workers} workers", c.len()),
            ))
        }
        Some(c) => {
            let mut seen = c.clone();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() != c.len() {
                return Err(err(
                    "cores",
                    "a core is listed twice: each worker busy-polls a core of its own",
                ));
            }
            if let Some(bad) = c.iter().find(|&&x| x >= cpus) {
                return Err(err(
                    "cores",
                    format!("core {bad} does not exist ({cpus} cores)"),
                ));
            }
            c
        }
        None => (0..workers).collect(),
    };
    if workers > 64 {
        return Err(err(
            "workers",
            format!("{workers}: at most 64 (the XDP program's socket map)"),
        ));
    }
    for (key, n) in [
        ("inside", core.inside.len()),
        ("pool", core.pool.len()),
        ("exclude", core.exclude.len()),
    ] {
        if n > masq_xsk::xdp::MAX_PREFIXES {
            return Err(err(
                key,
                format!(
                    "{n} prefixes; the XDP program holds at most {}",
                    masq_xsk::xdp::MAX_PREFIXES
                ),
            ));
        }
    }
    let ring_size = f.ring_size.unwrap_or(1024);
    if !ring_size.is_power_of_two() || !(64..=16384).contains(&ring_size) {
        return Err(err(
            "ring_size",
            format!("{ring_size} must be a power of two in 64..=16384"),
        ));
    }
    let umem_frames = f.umem_frames.unwrap_or(4 * ring_size);
    if umem_frames < 4 * ring_size {
        return Err(err(
            "umem_frames",
            format!("{umem_frames} is below 4 × ring_size ({})", 4 * ring_size),
        ));
    }
    let handoff_ring = f.handoff_ring.unwrap_or(1024);
    if !(1..=65536).contains(&handoff_ring) {
        return Err(err(
            "handoff_ring",
            format!("{handoff_ring} must be 1..=65536 frames (2 KiB each)"),
        ));
    }
    if f.lan == f.wan {
        return Err(err("wan", "LAN and WAN must be different interfaces"));
    }
    let metrics_listen = match f.metrics_listen.as_deref().unwrap_or(DEFAULT_METRICS) {
        "off" => None,
        a => Some(a.parse().map_err(|e| {
            err(
                "metrics_listen",
                format!("{a:?}: {e} (an IP:PORT such as {DEFAULT_METRICS}, or \"off\")"),
            )
        })?),
    };
    let admin_socket =
        std::path::PathBuf::from(f.admin_socket.as_deref().unwrap_or(DEFAULT_SOCKET));
    if !admin_socket.is_absolute() {
        return Err(err(
            "admin_socket",
            format!("{} must be an absolute path", admin_socket.display()),
        ));
    }
    let stall_timeout = f.stall_timeout.unwrap_or(DEFAULT_STALL_TIMEOUT);
    if !(1..=3600).contains(&stall_timeout) {
        return Err(err(
            "stall_timeout",
            format!("{stall_timeout} must be 1..=3600 seconds"),
        ));
    }
    Ok(RunConfig {
        lan: f.lan,
        wan: f.wan,
        mode: f.mode,
        core,
        cores,
        umem_frames,
        ring_size,
        handoff_ring,
        metrics_listen,
        admin_socket,
        stall_timeout,
        log,
        lan_mtu: f.lan_mtu,
        wan_mtu: f.wan_mtu,
        kernel_ports,
        pcp,
        routing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        lan = "lan0"
        wan = "wan0"
        mode = "snat"
        inside = ["192.168.0.0/16"]
        pool = ["203.0.113.0/29"]
        [timeouts]
        udp = 300
    "#;

    #[test]
    fn mtus_are_the_interfaces_unless_overridden() {
        let c = parse(GOOD).unwrap();
        assert_eq!((c.lan_mtu, c.wan_mtu), (None, None));
        let t = c.to_toml();
        assert!(
            t.contains(
                "# wan_mtu unset: the WAN MTU is the MTU of \"wan0\", followed while running\n"
            ),
            "{t}"
        );
        assert_eq!(parse(&t).unwrap().wan_mtu, None);
        let o = parse(&format!("wan_mtu = 1492\n{GOOD}")).unwrap();
        assert_eq!((o.wan_mtu, o.core.wan_mtu), (Some(1492), 1492));
        let t = o.to_toml();
        assert!(t.contains("\nwan_mtu = 1492\n"), "{t}");
        assert!(t.contains("# lan_mtu unset"), "{t}");
        assert_eq!(parse(&t).unwrap().wan_mtu, Some(1492));
        let e = parse(&format!("lan_mtu = 9000\n{GOOD}")).unwrap_err();
        assert!(e.starts_with("lan_mtu: 9000 is over 2030"), "{e}");
    }

    #[test]
    fn good_config() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.lan, "lan0");
        assert_eq!(c.core.pool.len(), 1);
        assert_eq!(c.ring_size, 1024);
        assert_eq!(c.umem_frames, 4096);
        assert_eq!(c.cores, vec![0]);
        let m = parse(
            &GOOD
                .replace("mode = \"snat\"", "mode = \"masquerade\"")
                .replace("pool = [\"203.0.113.0/29\"]", ""),
        )
        .unwrap();
        assert_eq!(m.mode, Mode::Masquerade);
        // The printed name is the one the parser reads.
        for mode in [Mode::Snat, Mode::Masquerade] {
            let text = GOOD.replace("mode = \"snat\"", &format!("mode = \"{mode}\""));
            let text = match mode {
                Mode::Snat => text,
                Mode::Masquerade => text.replace("pool = [\"203.0.113.0/29\"]", ""),
            };
            assert_eq!(parse(&text).unwrap().mode, mode);
        }
    }

    #[test]
    fn bad_configs_name_their_key() {
        let cases = [("colour = 1\n", "colour"), ("", "missing field")];
        for (extra, want) in cases {
            let text = if extra.is_empty() {
                "lan = \"a\"\n".to_string()
            } else {
                format!("{extra}{GOOD}")
            };
            let e = parse(&text).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        let edits: [(&str, &str, &str); 10] = [
            ("192.168.0.0/16", "192.168.0.0/33", "inside"),
            ("203.0.113.0/29", "192.168.1.0/24", "pool"),
            ("udp = 300", "udp = 60", "timeouts.udp"),
            ("mode = \"snat\"", "mode = \"masquerade\"", "pool"),
            ("mode = \"snat\"", "mode = \"nat\"", "mode"),
            (
                "mode = \"snat\"",
                "mode = \"snat\"\nworkers = 4096",
                "workers",
            ),
            (
                "mode = \"snat\"",
                "mode = \"snat\"\nring_size = 1000",
                "ring_size",
            ),
            ("wan = \"wan0\"", "wan = \"lan0\"", "wan"),
            (
                "mode = \"snat\"",
                "mode = \"snat\"\nhandoff_ring = 0",
                "handoff_ring",
            ),
            (
                "mode = \"snat\"",
                "mode = \"snat\"\ncores = [0, 0]\nworkers = 2",
                "cores",
            ),
        ];
        for (from, to, key) in edits {
            let e = parse(&GOOD.replace(from, to)).unwrap_err();
            assert!(e.contains(key), "{to}: {e}");
        }
    }
}

#[cfg(test)]
mod pcp_tests {
    use super::*;

    const BASE: &str =
        "lan = \"a\"\nwan = \"b\"\ninside = [\"10.0.0.0/8\"]\npool = [\"203.0.113.0/29\"]\n";

    #[test]
    fn pcp_defaults_print_and_parse_back() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.pcp, PcpConfig::default());
        let t = c.to_toml();
        assert!(
            t.contains("[pcp]\nenabled = true\nmin_lifetime = 120\n"),
            "{t}"
        );
        let set = format!(
            "{BASE}[pcp]\nenabled = false\nmin_lifetime = 60\nmax_lifetime = 600\n\
             mappings_per_subscriber = 2\nrequests_per_second = 3\nthird_party = true\n"
        );
        let c = parse(&set).unwrap();
        let want = PcpConfig {
            enabled: false,
            min_lifetime: 60,
            max_lifetime: 600,
            mappings_per_subscriber: 2,
            requests_per_second: 3,
            third_party: true,
        };
        assert_eq!(c.pcp, want);
        assert_eq!(parse(&c.to_toml()).unwrap().pcp, want);
    }

    #[test]
    fn max_holds_sets_the_cores_table() {
        assert_eq!(
            parse(BASE).unwrap().core.max_holds,
            Config::default().max_holds
        );
        let c = parse(&format!("max_holds = 7\n{BASE}")).unwrap();
        assert_eq!(c.core.max_holds, 7);
        assert!(c.to_toml().contains("\nmax_holds = 7\n"));
        let e = parse(&format!("max_holds = 99999999\n{BASE}")).unwrap_err();
        assert!(e.starts_with("max_holds:"), "{e}");
    }

    #[test]
    fn pcp_errors_name_their_key() {
        for (extra, key) in [
            ("min_lifetime = 0", "pcp.min_lifetime"),
            ("max_lifetime = 60", "pcp.max_lifetime"),
            ("max_lifetime = 99999999", "pcp.max_lifetime"),
            ("mappings_per_subscriber = 0", "pcp.mappings_per_subscriber"),
            ("requests_per_second = 0", "pcp.requests_per_second"),
            ("colour = 1", "colour"),
        ] {
            let e = parse(&format!("{BASE}[pcp]\n{extra}\n")).unwrap_err();
            assert!(e.contains(key), "{extra}: {e}");
        }
    }
}

#[cfg(test)]
mod example {
    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../masq.example.toml");
        let c = super::parse(text).unwrap();
        assert_eq!(c.core.pool.len(), 1);
        assert_eq!(c.core.limits.blocks_per_subscriber, 8);
    }
}
