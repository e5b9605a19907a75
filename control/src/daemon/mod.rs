//! `masq run`: start-up, the control thread and the exit report.
//!
//! The control thread is the only place that talks netlink, answers HTTP
//! and the admin socket, and reads the configuration file. Its rooms:
//! * `start`: configuration, checks, XDP programs, workers, privilege drop;
//! * `control_loop`: the loop, heartbeats, and `ask`, the one way to the
//!   workers (their mailboxes, `masq_xsk::command`); it never blocks a
//!   worker;
//! * `kernel`: following the WAN address, next hop and neighbours;
//! * `filter`: the XDP programs' filters made from the configuration;
//! * `reload`: SIGHUP;
//! * `http`: `/metrics` and `/healthz`, served on threads of their own
//!   and computed by the control thread;
//! * `answer`: the admin socket's requests;
//! * `report`: the statistics line and the report at exit.
//!
//! Beside it, when `[log]` names an output, the event logger thread
//! (`eventlog`) drains the workers' event queue; it is stopped after the
//! workers, so that it sends their last events.

use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use masq_core::wire::Mac;
use masq_xsk::worker::Shared;
use masq_xsk::{netinfo, xdp};

use crate::config::RunConfig;
use crate::eventlog::LogState;
use crate::metrics::Metrics;

mod answer;
mod control_loop;
mod filter;
mod http;
mod kernel;
mod reload;
mod report;
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
    let report_sessions = ctl.opts.report_sessions;
    drop(ctl);
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
    watcher: netinfo::Watcher,
    /// MASQUERADE: the WAN address in use (`Some(None)`: none); SNAT: `None`.
    external: Option<Option<u32>>,
    address_changes: u64,
    reloads: (u64, u64),
    seq: u64,
    gateway: Option<u32>,
    gateway_mac: Option<Mac>,
    started: Instant,
    /// The event logger's counters (None: nothing logged).
    eventlog: Option<Arc<LogState>>,
    /// MACs of static mappings' inside hosts, as last given to the workers.
    neighbours: std::collections::HashMap<u32, Mac>,
    /// Per worker: whether it is stalled now, and how often it was.
    stalls: Vec<Stall>,
}

/// A worker's stall record.
#[derive(Clone, Copy, Debug, Default)]
struct Stall {
    /// Milliseconds since the epoch of its last heartbeat, while stalled.
    since: Option<u64>,
    /// Stalls detected so far.
    count: u64,
}
