//! `masq run`: start-up, the control thread and the exit report.
//!
//! The control thread is the only place that talks netlink (through
//! [`crate::kernel`]), answers HTTP and the admin socket, and reads the
//! configuration file. Its rooms:
//! * `start`: configuration, checks, XDP programs, workers, privilege drop;
//! * `control_loop`: the loop, heartbeats, and `ask`, the one way to the
//!   workers (their mailboxes, `masq_xsk::command`); it never blocks a
//!   worker;
//! * `kernel`: what the kernel view's changes mean for masq: the WAN
//!   address (one owner, `Control::external`; see [`crate::external`]),
//!   the LAN address, the WAN next hop and the static mappings' hosts;
//! * `filter`: the XDP programs' filters made from the configuration;
//! * `record`: the ids of the attached XDP programs, for the next run;
//! * `pcp`: the PCP and NAT-PMP server's socket, and the NAT it asks
//!   (the owner worker of each subscriber);
//! * `reload`: SIGHUP;
//! * `http`: `/metrics` and `/healthz`, served on threads of their own
//!   and computed by the control thread;
//! * `answer`: the admin socket's requests;
//! * `report`: the statistics line and the report at exit.
//!
//! Beside it, when `[log]` names an output, the event logger thread
//! (`eventlog`) drains the workers' event queue; it is stopped after the
//! workers, so that it sends their last events.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use masq_core::wire::Mac;
use masq_xsk::worker::Shared;
use masq_xsk::xdp;

use crate::config::RunConfig;
use crate::eventlog::LogState;
use crate::external::External;
use crate::kernel::{Kernel, Nud};
use crate::metrics::Metrics;

mod answer;
mod control_loop;
mod filter;
mod http;
mod kernel;
mod pcp;
mod record;
mod reload;
mod report;
mod routing;
mod start;

pub use report::stats_line;

/// Options of `masq run` that are not in the file.
#[derive(Debug)]
pub struct Options {
    /// The configuration file (read again on SIGHUP).
    pub config: PathBuf,
    /// Statistics line every this many seconds (0: never).
    pub stats_interval: u64,
    /// Sessions listed in the report at exit.
    pub report_sessions: usize,
    /// Overrides `metrics_listen` of the file.
    pub metrics_listen: Option<String>,
    /// Benchmark baseline: forward with MACs rewritten, no NAT.
    pub l2_forward: bool,
    /// Accept fault-injection requests on the admin socket (tests only).
    pub fault_injection: bool,
}

/// Starts the workers and runs the control thread until SIGINT or SIGTERM;
/// then stops the workers and the event logger and prints the report.
pub fn run(opts: Options) -> Result<(), String> {
    let start::Running {
        mut ctl,
        handles,
        logger,
        stop,
        hup,
    } = start::start(opts)?;
    let result = ctl.run(&stop, &hup, &handles);
    // Traffic stops coming before the workers stop.
    ctl.withdraw_routes();
    let shared = Arc::clone(&ctl.shared);
    shared.stop.store(true, Ordering::Relaxed);
    let mut shards = Vec::new();
    let mut errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(s)) => shards.push(s),
            Ok(Err(e)) => errors.push(e.to_string()),
            Err(_) => errors.push("a worker panicked".into()),
        }
    }
    // After the workers: their last events are in the queue.
    if let Some(l) = logger {
        l.stop();
    }
    let xdp_stats = [ctl.lan_prog.stats().ok(), ctl.wan_prog.stats().ok()];
    let _ = std::fs::remove_file(&ctl.rc.admin_socket);
    let admin_socket = ctl.rc.admin_socket.clone();
    let report_sessions = ctl.opts.report_sessions;
    drop(ctl);
    record::remove(&admin_socket);
    report::report(&shared, &shards, xdp_stats, report_sessions);
    eprintln!("masq: stopped; XDP programs detached");
    result?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The control thread's state.
struct Control {
    opts: Options,
    rc: RunConfig,
    shared: Arc<Shared>,
    lan_prog: xdp::XdpProgram,
    wan_prog: xdp::XdpProgram,
    metrics: Metrics,
    http: Option<http::Http>,
    admin: UnixListener,
    /// The rtnetlink socket and the kernel view it keeps.
    kernel: Kernel,
    /// The source of the external address; in MASQUERADE mode the one
    /// owner of the WAN address in use.
    external: External,
    address_changes: u64,
    reloads: (u64, u64),
    seq: u64,
    /// The LAN and WAN interfaces' indexes, as last seen.
    if_indexes: [Option<u32>; 2],
    /// The LAN interface's address, as last given to the workers.
    lan_address: Option<Ipv4Addr>,
    /// The gateway of the WAN's default route.
    gateway: Option<Ipv4Addr>,
    /// Its MAC, as last given to the workers.
    gateway_mac: Option<Mac>,
    /// Its neighbour state, as last reported.
    gateway_state: Option<Nud>,
    started: Instant,
    /// The event logger's counters (None: nothing logged).
    eventlog: Option<Arc<LogState>>,
    /// MACs of static mappings' inside hosts, as last given to the workers.
    neighbours: HashMap<Ipv4Addr, Mac>,
    /// Per worker: whether it is stalled now, and how often it was.
    stalls: Vec<Stall>,
    /// The PCP server (None: `[pcp]` turned it off).
    pcp: Option<pcp::Pcp>,
    /// The routes held for a routing daemon (None: `[routing]` is off).
    routing: Option<routing::Routing>,
    /// Whether the box was healthy at the last look (None: not yet
    /// healthy since start).
    healthy: Option<bool>,
    /// Times the health changed since start.
    health_changes: u64,
}

/// A worker's stall record.
#[derive(Clone, Copy, Debug, Default)]
struct Stall {
    /// Milliseconds since the epoch of its last heartbeat, while stalled.
    since: Option<u64>,
    /// Stalls detected so far.
    count: u64,
}
