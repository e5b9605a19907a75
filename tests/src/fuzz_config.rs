//! The `config` fuzz target: any bytes as a configuration file.
//!
//! [`run`] reads the input as text (invalid UTF-8 replaced) and gives it to
//! `masq_control::config::parse`, which must never panic. A configuration
//! it accepts must hold what `masq run` relies on:
//!
//! * the core configuration validates (in masquerade mode with a
//!   stand-in WAN address, as the parser checks it);
//! * `to_toml()` (what `masq check-config` prints) parses again, to the same
//!   configuration: the same core configuration, nothing that would need a
//!   restart, and the same text when printed again;
//! * `masq lookup` answers for addresses of the configuration without a
//!   panic, and with `[deterministic]` the mapping is the same both ways:
//!   inside address to external block, and either end of that block back to
//!   the inside address.

use std::net::Ipv4Addr;

use masq_control::config::{self, Mode, RunConfig};
use masq_control::lookup::{self, Query};
use masq_core::deterministic;

/// Runs one input (see the module documentation); panics when a property
/// does not hold.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(rc) = config::parse(&text) {
        check(&rc, data);
    }
}

/// The properties of an accepted configuration; `data` only picks extra
/// addresses to look up.
pub fn check(rc: &RunConfig, data: &[u8]) {
    let mut core = rc.core.clone();
    if rc.mode == Mode::Masquerade {
        assert!(core.pool.is_empty(), "masquerade with a pool: {core:?}");
        core.pool = masq_control::external::External::masquerade_pool(None);
    }
    if let Err(e) = core.validate() {
        panic!("accepted, but the core refuses it: {e}\n{}", rc.to_toml());
    }

    let text = rc.to_toml();
    let again = config::parse(&text)
        .unwrap_or_else(|e| panic!("to_toml() does not parse again: {e}\n{text}"));
    assert!(
        again.core == rc.core,
        "to_toml() parses to another core configuration:\n{:?}\n{:?}\n{text}",
        rc.core,
        again.core
    );
    assert_eq!(
        rc.restart_only_change(&again),
        None,
        "to_toml() parses to a configuration that differs:\n{text}"
    );
    assert_eq!(
        (rc.lan.as_str(), rc.wan.as_str(), &rc.admin_socket),
        (again.lan.as_str(), again.wan.as_str(), &again.admin_socket),
        "{text}"
    );
    let twice = again.to_toml();
    assert!(
        twice == text,
        "to_toml() is not stable:\n--- first\n{text}\n--- second\n{twice}"
    );

    // Lookups: the ends of every prefix, the static mappings' endpoints,
    // the port range's ends, and addresses taken from the input.
    let c = &rc.core;
    let mut addrs: Vec<u32> = Vec::new();
    for p in c.inside.iter().chain(&c.pool).chain(&c.exclude) {
        addrs.push(p.addr());
        addrs.push(p.addr() | !p.mask());
    }
    for m in &c.statics {
        addrs.push(m.inside);
        addrs.push(m.outside);
    }
    for w in data.chunks_exact(4).take(4) {
        addrs.push(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let mut ports = vec![0, 1, c.port_min, c.port_max, 65535];
    ports.extend(c.statics.iter().map(|m| m.outside_port));
    ports.push(c.port_min.wrapping_add(c.block_size));
    for &a in &addrs {
        let ip = Ipv4Addr::from(a);
        let _ = lookup::lookup(rc, Query::Inside(ip));
        let _ = lookup::lookup(rc, Query::External(ip, None));
        for &p in &ports {
            let _ = lookup::lookup(rc, Query::External(ip, Some(p)));
        }
    }
    if c.deterministic {
        for &a in &addrs {
            let inside = c.inside.iter().any(|p| p.contains(a));
            let Some(place) = deterministic::inside_to_outside(&core, a) else {
                assert!(!inside, "no place for inside address {}", Ipv4Addr::from(a));
                continue;
            };
            assert!(
                place.first_port <= place.last_port
                    && place.first_port >= c.port_min
                    && place.last_port <= c.port_max,
                "{place:?} outside the port range"
            );
            for port in [place.first_port, place.last_port] {
                let back = deterministic::outside_to_inside(&core, place.external, port);
                assert_eq!(back, Some(place), "{place:?} back from port {port}");
            }
        }
    }
}

/// The example configuration file of the repository.
pub const EXAMPLE: &str = include_str!("../../control/masq.example.toml");

/// What `masq_config snat` of scripts/topology.sh writes for one worker.
const TOPOLOGY: &str = "lan = \"lan0\"\nwan = \"wan0\"\nmode = \"snat\"\n\
inside = [\"192.168.50.0/24\"]\npool = [\"198.19.0.0/29\"]\nmax_sessions = 65536\n\
max_subscribers = 1024\nring_size = 512\nworkers = 1\nadmin_socket = \"/tmp/masq.sock\"\n";

/// The smallest snat file.
const MINIMAL: &str = "lan = \"lan0\"\nwan = \"wan0\"\ninside = [\"100.64.0.0/10\"]\n\
pool = [\"203.0.113.0/29\"]\n";

/// Named seed inputs: the repository's configurations and variants that
/// use every section and key.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let base = MINIMAL;
    let with = |extra: &str| format!("{base}{extra}");
    let mut v: Vec<(&str, String)> = vec![
        ("example", EXAMPLE.to_string()),
        ("topology_snat", TOPOLOGY.to_string()),
        (
            "topology_masquerade",
            TOPOLOGY
                .replace("mode = \"snat\"", "mode = \"masquerade\"")
                .replace("pool = [\"198.19.0.0/29\"]\n", ""),
        ),
        ("minimal", base.to_string()),
        (
            "top_level_keys",
            with(
                "filtering = \"address-and-port-dependent\"\ninbound_refresh = true\n\
                 port_min = 2048\nport_max = 60999\nblock_size = 256\nmax_sessions = 4096\n\
                 max_subscribers = 512\nmax_holds = 100\nring_size = 2048\numem_frames = 16384\n\
                 handoff_ring = 4096\nmetrics_listen = \"[::1]:9100\"\n\
                 admin_socket = \"/run/masq/other.sock\"\nexclude = [\"100.64.9.0/24\", \"10.0.0.0/8\"]\n\
                 mss_clamp = 1400\nlan_mtu = 1500\nwan_mtu = 1492\n",
            ),
        ),
        (
            "workers_and_cores",
            with("workers = 1\ncores = [0]\nfiltering = \"address-dependent\"\n"),
        ),
        ("metrics_off", with("metrics_listen = \"off\"\n")),
        (
            "limits_and_timeouts",
            with(
                "[limits]\nsessions_per_subscriber = 100\nblocks_per_subscriber = 3\n\n\
                 [timeouts]\nudp = 120\ntcp_established = 7500\ntcp_transitory = 240\n\
                 tcp_incoming_syn = 6\nicmp = 60\nblock_hold = 150\n",
            ),
        ),
        (
            "statics",
            with(
                "[[static]]\nproto = \"tcp\"\ninside = \"100.64.0.10:80\"\n\
                 outside = \"203.0.113.1:8080\"\n\n[[static]]\nproto = \"udp\"\n\
                 inside = \"100.64.0.10:53\"\noutside = \"203.0.113.1:53\"\n\n\
                 [[static]]\ninside = \"100.64.0.20\"\noutside = \"198.51.100.20\"\n\n\
                 [[static]]\nproto = \"tcp\"\ninside = \"100.64.0.21:22\"\n\
                 outside = \"198.51.100.20:2222\"\n",
            ),
        ),
        (
            "icmp_and_fragments",
            with(
                "[icmp]\nrate = 500\nrate_per_subscriber = 5\n\n\
                 [fragments]\nmax_datagrams = 1024\nmax_held = 64\ntimeout = 5\n",
            ),
        ),
        (
            "deterministic",
            "lan = \"lan0\"\nwan = \"wan0\"\ninside = [\"100.64.0.0/24\", \"192.168.7.0/28\"]\n\
             pool = [\"203.0.113.0/30\"]\nport_min = 4096\n\n\
             [deterministic]\nports_per_subscriber = 500\n"
                .to_string(),
        ),
        (
            "log_ipfix",
            with(
                "[log]\nipfix = \"192.0.2.10:4739\"\nsessions = true\ndestinations = true\n\
                 queue = 4096\nobservation_domain = 7\ntemplate_interval = 60\n",
            ),
        ),
        (
            "log_syslog",
            with("[log]\nsyslog = \"[2001:db8::1]:514\"\n"),
        ),
        ("log_stderr", with("[log]\nsyslog = \"stderr\"\nsessions = true\n")),
        (
            "quoted_names",
            "lan = \"lan\\\"0\\\\x\\t\\u0001\\u00e9\"\nwan = 'wan 0'\ninside = ['100.64.0.0/10']\n\
             pool = [\"203.0.113.0/29\",]\nadmin_socket = \"/run/masq dir/\\u00e9.sock\"\n"
                .to_string(),
        ),
        (
            "inline_tables",
            "lan = \"lan0\"\nwan = \"wan0\"\ninside = [\"100.64.0.0/10\"]\n\
             pool = [\"203.0.113.0/29\"]\nlimits = { sessions_per_subscriber = 10 }\n\
             timeouts = { udp = 300 }\nstatic = [{ inside = \"100.64.0.5\", outside = \"198.51.100.5\" }]\n"
                .to_string(),
        ),
        ("bad_key", with("colour = \"blue\"\n")),
        ("bad_prefix", base.replace("/10", "/33")),
        ("bad_timer", with("[timeouts]\nudp = 1\n")),
        ("empty", String::new()),
    ];
    // The effective configuration of the fullest valid seeds, as
    // `check-config` prints it.
    let mut printed = Vec::new();
    for (name, text) in &v {
        if let Ok(rc) = config::parse(text) {
            if matches!(*name, "example" | "statics" | "deterministic" | "log_ipfix") {
                printed.push((format!("printed_{name}"), rc.to_toml()));
            }
        }
    }
    v.extend(printed.iter().map(|(n, t)| (n.as_str(), t.clone())));
    v.into_iter()
        .map(|(n, t)| (n.to_string(), t.into_bytes()))
        .collect()
}

/// The libFuzzer dictionary of the target (dataplane/core/fuzz/config.dict).
pub const DICTIONARY: &str = include_str!("../../dataplane/core/fuzz/config.dict");
