//! `masq run`: start-up and the control thread.
//!
//! The control thread is the only place that talks netlink, serves HTTP
//! and the admin socket, and reads the configuration file. It sleeps in
//! poll(2) on the rtnetlink socket and the two listeners (at most 100 ms)
//! and, between events:
//! * follows the WAN address in MASQUERADE mode and the WAN next hop;
//! * serves `/metrics` and admin requests;
//! * applies a SIGHUP reload;
//! * prints a statistics line when asked to.
//!
//! Beside it, when `[log]` names an output, the event logger thread
//! (`eventlog`) drains the workers' event queue; it is stopped after the
//! workers, so that it sends their last events.
//!
//! It reaches the workers only through their mailboxes
//! (`masq_xsk::command`) and reads their published atomics; it never
//! blocks a worker.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use masq_core::addr::fmt_addr;
use masq_core::wire::Mac;
use masq_core::{DropReason, NextHops, Prefix, SessionInfo, Shard, TcpState};
use masq_xsk::command::{Command, Reply, Select};
use masq_xsk::worker::{self, Io, Mode as XskMode, Shared, Started, WorkerSpec};
use masq_xsk::{netinfo, privilege, xdp};
use serde_json::{json, Value};

use crate::admin::{self, Request};
use crate::config::{self, Mode, RunConfig};
use crate::eventlog::{self, LogState, Logger};
use crate::metrics::{Metrics, Scrape};

/// The longest the control thread reads one HTTP request.
const HTTP_REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the control thread waits for the workers to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// Placeholder external address while MASQUERADE has none (never used:
/// the workers refuse new mappings until an address comes).
const NO_ADDRESS: u32 = 0xc000_0201;

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

/// The WAN program's filter: the pool (with the static mappings), or the
/// inside prefixes for the L2 forwarder (which sends replies to inside
/// hosts untranslated).
fn wan_filter(rc: &RunConfig, l2_forward: bool) -> xdp::Filter {
    let c = &rc.core;
    let ports = (c.port_min, c.port_max);
    if l2_forward {
        return xdp::Filter::Wan {
            pool: pfx(&c.inside),
            ports,
            one_to_one: Vec::new(),
            static_ports: Vec::new(),
            drop_other: false,
        };
    }
    let mut static_ports: Vec<u16> = c
        .statics
        .iter()
        .filter(|m| m.proto.is_some() && !(c.port_min..=c.port_max).contains(&m.outside_port))
        .map(|m| m.outside_port)
        .collect();
    static_ports.sort_unstable();
    static_ports.dedup();
    xdp::Filter::Wan {
        pool: pfx(&c.pool),
        ports,
        one_to_one: c
            .statics
            .iter()
            .filter(|m| m.proto.is_none())
            .map(|m| m.outside)
            .collect(),
        static_ports,
        drop_other: rc.mode == Mode::Snat,
    }
}

/// The LAN program's filter: subscribers, less the excluded destinations;
/// LAN sources that are the NAT's own addresses (the pool in snat mode,
/// static mappings' outside addresses, the WAN interface's addresses now)
/// are dropped as spoofed.
fn lan_filter(rc: &RunConfig) -> xdp::Filter {
    let mut spoofed = if rc.mode == Mode::Snat {
        pfx(&rc.core.pool)
    } else {
        Vec::new()
    };
    spoofed.extend(rc.core.statics.iter().map(|m| (m.outside, 32)));
    spoofed.extend(
        netinfo::ipv4_of(&rc.wan)
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a, 32)),
    );
    // A subscriber's own address is never a spoof.
    spoofed.retain(|&(a, _)| !rc.core.inside.iter().any(|p| p.contains(a)));
    spoofed.sort_unstable();
    spoofed.dedup();
    xdp::Filter::Lan {
        inside: pfx(&rc.core.inside),
        exclude: pfx(&rc.core.exclude),
        spoofed,
    }
}

fn pfx(v: &[Prefix]) -> Vec<(u32, u8)> {
    v.iter().map(|p| (p.addr(), p.len())).collect()
}

fn load(opts: &Options) -> Result<RunConfig, String> {
    let mut rc = config::load(&opts.config)?;
    if let Some(m) = &opts.metrics_listen {
        rc.metrics_listen = match m.as_str() {
            "off" => None,
            a => Some(
                a.parse()
                    .map_err(|e| format!("--metrics-listen {a:?}: {e}"))?,
            ),
        };
    }
    Ok(rc)
}

/// Starts the workers and runs the control thread until SIGINT or SIGTERM.
pub fn run(opts: Options) -> Result<(), String> {
    let mut rc = load(&opts)?;
    let mut external = None;
    if rc.mode == Mode::Masquerade {
        let addrs = netinfo::ipv4_of(&rc.wan).map_err(|e| format!("wan {}: {e}", rc.wan))?;
        external = Some(addrs.first().copied());
        let a = addrs.first().copied().unwrap_or(NO_ADDRESS);
        rc.core.pool = vec![Prefix::new(a, 32).map_err(|e| format!("pool: {e}"))?];
        rc.core.validate().map_err(|e| e.to_string())?;
        if addrs.is_empty() {
            eprintln!(
                "masq: wan {}: no IPv4 address yet; translation starts when one is added",
                rc.wan
            );
        }
    }
    let workers = usize::from(rc.core.workers);
    for ifname in [&rc.lan, &rc.wan] {
        let q = netinfo::rx_queues(ifname).map_err(|e| format!("{ifname}: {e}"))?;
        if q > workers {
            return Err(format!(
                "workers: {ifname} has {q} receive queues but {workers} worker(s); set workers = {q} \
                 or reduce the queues (ethtool -L {ifname} combined {workers})"
            ));
        }
    }
    if rc.mode == Mode::Masquerade {
        if let Ok((lo, hi)) = netinfo::local_port_range() {
            if lo <= rc.core.port_max && hi >= rc.core.port_min {
                eprintln!(
                    "masq: warning: the box's own ephemeral ports {lo}-{hi} (net.ipv4.ip_local_port_range) \
                     overlap the NAT ports {}-{}: replies to the box's own connections from the WAN \
                     address would go to the NAT. Set port_max = {} (or move the kernel's range).",
                    rc.core.port_min,
                    rc.core.port_max,
                    lo.saturating_sub(1)
                );
            }
        }
    }
    let lan_mac = netinfo::mac_of(&rc.lan).map_err(|e| format!("lan: {e}"))?;
    let wan_mac = netinfo::mac_of(&rc.wan).map_err(|e| format!("wan: {e}"))?;
    // Listeners before anything is attached: a port in use fails early.
    let http = match rc.metrics_listen {
        Some(a) => {
            let l = TcpListener::bind(a).map_err(|e| format!("metrics_listen {a}: {e}"))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            Some(l)
        }
        None => None,
    };
    let admin = bind_admin(&rc.admin_socket)?;
    let log_outputs = eventlog::Outputs::open(&rc.log)?;
    let watcher = netinfo::Watcher::new().map_err(|e| format!("rtnetlink: {e}"))?;
    let metrics = Metrics::new().map_err(|e| format!("metrics: {e}"))?;

    for ifname in [&rc.lan, &rc.wan] {
        if xdp::detach_stale(ifname).map_err(|e| format!("{ifname}: {e}"))? {
            eprintln!("masq: removed a stale XDP program from {ifname}");
        }
    }
    // With `panic = "abort"` no destructor runs: detach the programs from
    // the panic hook so that a crash does not leave them attached.
    let (lan_name, wan_name) = (rc.lan.clone(), rc.wan.clone());
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = xdp::detach_stale(&lan_name);
        let _ = xdp::detach_stale(&wan_name);
        default_hook(info);
    }));
    let lan_prog = xdp::XdpProgram::attach(&rc.lan, &lan_filter(&rc))
        .map_err(|e| format!("lan {}: {e}", rc.lan))?;
    let wan_prog = xdp::XdpProgram::attach(&rc.wan, &wan_filter(&rc, opts.l2_forward))
        .map_err(|e| format!("wan {}: {e}", rc.wan))?;

    let mut shared = Shared::new(workers, rc.handoff_ring as usize);
    if log_outputs.is_some() {
        shared = shared.with_events(rc.log.queue as usize);
    }
    let shared = Arc::new(shared);
    let logger = match log_outputs {
        Some(o) => Some(Logger::start(
            o,
            Arc::clone(&shared),
            eventlog::Quotas::of(&rc.core),
        )?),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
        .map_err(|e| format!("signal handler: {e}"))?;
    if external == Some(None) {
        // Queued before the workers start: they refuse mappings at once.
        for mb in &shared.mailboxes {
            let _ = mb.commands.push((0, Command::SetAddress(None)));
        }
    }
    // ICMP errors to subscribers come from the LAN interface's address.
    if let Some(&a) = netinfo::ipv4_of(&rc.lan)
        .ok()
        .and_then(|v| v.first().copied())
        .as_ref()
    {
        for mb in &shared.mailboxes {
            let _ = mb.commands.push((0, Command::SetLanAddress(a)));
        }
    }

    let hops = NextHops {
        lan_mac,
        wan_mac,
        gateway_mac: Mac::default(),
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Started>();
    let mut handles = Vec::new();
    for id in 0..workers {
        let spec = WorkerSpec {
            id: id as u16,
            queue: id as u32,
            lan: rc.lan.clone(),
            wan: rc.wan.clone(),
            core: rc.cores.get(id).copied(),
            frames: rc.umem_frames,
            ring: rc.ring_size,
            xsks: (lan_prog.xsks_fd(), wan_prog.xsks_fd()),
            l2_forward: opts.l2_forward,
        };
        let cfg = rc.core.clone();
        let shared = Arc::clone(&shared);
        let tx = ready_tx.clone();
        let h = std::thread::Builder::new()
            .name(format!("masq-worker-{id}"))
            .spawn(move || {
                worker::run(spec, cfg, hops, shared, |m| {
                    let _ = tx.send(m);
                })
            })
            .map_err(|e| format!("worker {id}: {e}"))?;
        handles.push(h);
    }
    drop(ready_tx);
    let mut modes = Vec::new();
    for _ in 0..workers {
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(m) => modes.push(m),
            Err(_) => {
                shared.stop.store(true, Ordering::Relaxed);
                let errs: Vec<String> = handles
                    .into_iter()
                    .filter_map(|h| h.join().ok().and_then(|r| r.err()).map(|e| e.to_string()))
                    .collect();
                let _ = std::fs::remove_file(&rc.admin_socket);
                if let Some(l) = logger {
                    l.stop();
                }
                return Err(format!("workers did not start: {}", errs.join("; ")));
            }
        }
    }
    // Setup is done: the programs are attached, the sockets bound, the
    // listeners open. The control thread keeps only what detaching the
    // programs at exit needs; the workers and the event logger keep nothing.
    let kept = privilege::keep_only(&[privilege::Capability::CAP_NET_ADMIN])
        .map_err(|e| format!("dropping privileges: {e}"))?;
    let first = modes.first().copied().unwrap_or(Started {
        mode: XskMode::Copy,
        busy_poll: false,
    });
    if opts.l2_forward {
        eprintln!(
            "masq: --l2-forward: frames are forwarded with their MACs rewritten, not translated"
        );
    }
    eprintln!(
        "masq: running: {} to {}, LAN {} WAN {}, {} worker(s) in {} mode, busy-poll socket options {}, pinned to cores {}",
        rc.mode,
        match external {
            Some(None) => "(no address yet)".to_string(),
            _ => rc.core.pool.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(","),
        },
        rc.lan,
        rc.wan,
        workers,
        first.mode,
        if first.busy_poll { "on" } else { "refused by the kernel" },
        rc.cores.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",")
    );
    match rc.metrics_listen {
        Some(a) if a.ip().is_loopback() => eprintln!("masq: metrics at http://{a}/metrics"),
        Some(a) => eprintln!(
            "masq: metrics at http://{a}/metrics; note: reachable beyond this host, without authentication (keep it on a management network)"
        ),
        None => eprintln!("masq: metrics off"),
    }
    eprintln!("masq: admin socket {}", rc.admin_socket.display());
    eprintln!(
        "masq: privileges: control thread keeps {}, workers and event logger none; no new privileges",
        privilege::names(&kept)
    );
    if rc.log.enabled() {
        let show = |a: Option<String>| a.unwrap_or_else(|| "off".into());
        eprintln!(
            "masq: event log: ipfix {}, syslog {}, session events {}",
            show(rc.log.ipfix.map(|a| a.to_string())),
            show(rc.log.syslog.map(|s| s.to_string())),
            match (rc.log.sessions, rc.log.destinations) {
                (false, _) => "off (port blocks and exhaustion only)",
                (true, false) => "on, without destinations",
                (true, true) => "on, with destinations",
            }
        );
    }

    let mut ctl = Control {
        opts,
        rc,
        shared: Arc::clone(&shared),
        lan_prog,
        wan_prog,
        metrics,
        http,
        admin,
        watcher,
        external,
        address_changes: 0,
        reloads: (0, 0),
        seq: 1,
        gateway: None,
        gateway_mac: None,
        started: Instant::now(),
        eventlog: logger.as_ref().map(|l| Arc::clone(&l.state)),
        neighbours: std::collections::HashMap::new(),
        stalls: vec![Stall::default(); workers],
    };
    let result = ctl.run(&stop, &hup, &handles);
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
    report(&shared, &shards, xdp_stats, report_sessions);
    eprintln!("masq: stopped; XDP programs detached");
    result?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Binds the admin socket with mode 0600, replacing a stale socket file
/// but refusing to steal one that a running masq answers on.
fn bind_admin(path: &Path) -> Result<UnixListener, String> {
    let key = |e: std::io::Error| format!("admin_socket {}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(key)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "admin_socket {}: another masq is answering there; stop it or choose another path",
                path.display()
            ));
        }
        std::fs::remove_file(path).map_err(key)?;
    }
    // Created with no permission for group and others from the start.
    let l = netinfo::with_umask(0o177, || UnixListener::bind(path));
    let l = l.map_err(key)?;
    l.set_nonblocking(true).map_err(key)?;
    Ok(l)
}

struct Control {
    opts: Options,
    rc: RunConfig,
    shared: Arc<Shared>,
    lan_prog: xdp::XdpProgram,
    wan_prog: xdp::XdpProgram,
    metrics: Metrics,
    http: Option<TcpListener>,
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

impl Control {
    fn run(
        &mut self,
        stop: &AtomicBool,
        hup: &AtomicBool,
        handles: &[JoinHandle<std::io::Result<Shard>>],
    ) -> Result<(), String> {
        let mut last_stats = Instant::now();
        let mut last_check = Instant::now() - Duration::from_secs(10);
        while !stop.load(Ordering::Relaxed) {
            let mut fds = vec![self.watcher.raw_fd(), self.admin.as_raw_fd()];
            if let Some(h) = &self.http {
                fds.push(h.as_raw_fd());
            }
            netinfo::wait_readable(&fds, 100);
            let mut changes = match self.watcher.drain() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("masq: rtnetlink: {e}");
                    netinfo::Changes::default()
                }
            };
            // A slow safety net besides the notifications.
            if last_check.elapsed() >= Duration::from_secs(1) {
                last_check = Instant::now();
                self.follow_static_neighbours();
                changes.addr = true;
                changes.route = true;
                changes.neigh = true;
            }
            if changes.addr || changes.link {
                self.follow_address();
                self.follow_lan_filter();
            }
            if changes.any() {
                self.follow_next_hop(changes.route || changes.link);
            }
            if hup.swap(false, Ordering::Relaxed) {
                match self.reload() {
                    Ok(what) => {
                        self.reloads.0 += 1;
                        eprintln!("masq: reloaded {}: {what}", self.opts.config.display());
                    }
                    Err(e) => {
                        self.reloads.1 += 1;
                        eprintln!(
                            "masq: reload of {} refused, running configuration kept: {e}",
                            self.opts.config.display()
                        );
                    }
                }
            }
            while let Ok((conn, _)) = self.admin.accept() {
                self.serve_admin(conn);
            }
            while let Some(Ok((conn, _))) = self.http.as_ref().map(TcpListener::accept) {
                self.serve_http(conn);
            }
            if self.opts.stats_interval > 0
                && last_stats.elapsed() >= Duration::from_secs(self.opts.stats_interval)
            {
                last_stats = Instant::now();
                eprintln!("masq: {}", stats_line(&self.shared));
            }
            self.watch_heartbeats();
            if handles.iter().any(|h| h.is_finished()) {
                return Err("a worker stopped".into());
            }
        }
        Ok(())
    }

    fn now_s(&self) -> u32 {
        self.shared.epoch.elapsed().as_secs() as u32
    }

    /// Reports workers whose heartbeat is older than `stall_timeout` (a
    /// worker publishes one at least every few hundred milliseconds, busy
    /// or idle), and their recovery.
    fn watch_heartbeats(&mut self) {
        let now = self.shared.epoch.elapsed().as_millis() as u64;
        let limit = u64::from(self.rc.stall_timeout) * 1000;
        for (i, w) in self.shared.stats.iter().enumerate() {
            let beat = w.heartbeat_ms.load(Ordering::Relaxed);
            let age = now.saturating_sub(beat);
            let st = &mut self.stalls[i];
            match st.since {
                None if age > limit => {
                    st.since = Some(beat);
                    st.count += 1;
                    eprintln!(
                        "masq: error: worker {i} stalled: no heartbeat for {:.1} s; frames of its queue are not being forwarded",
                        age as f64 / 1000.0
                    );
                }
                Some(b) if beat != b => {
                    st.since = None;
                    eprintln!(
                        "masq: worker {i} recovered after a stall of {:.1} s",
                        beat.saturating_sub(b) as f64 / 1000.0
                    );
                }
                _ => {}
            }
        }
    }

    /// The stalled workers, as "worker 1 (no heartbeat for 3.2 s)".
    fn stalled(&self) -> Vec<String> {
        let now = self.shared.epoch.elapsed().as_millis() as u64;
        self.stalls
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.since.map(|b| {
                    format!(
                        "worker {i} (no heartbeat for {:.1} s)",
                        now.saturating_sub(b) as f64 / 1000.0
                    )
                })
            })
            .collect()
    }

    /// Sends one command to every worker and collects their answers (in
    /// worker order), or says which worker did not answer in time. With a
    /// worker stalled it fails at once rather than wait for it.
    fn ask(&mut self, mut cmd: impl FnMut(usize) -> Command) -> Result<Vec<Reply>, String> {
        let stalled = self.stalled();
        if !stalled.is_empty() {
            return Err(format!("stalled: {}", stalled.join(", ")));
        }
        self.seq += 1;
        let seq = self.seq;
        let n = self.shared.mailboxes.len();
        for (i, mb) in self.shared.mailboxes.iter().enumerate() {
            if mb.commands.push((seq, cmd(i))).is_err() {
                return Err(format!("worker {i}: its command ring is full"));
            }
        }
        let mut got: Vec<Option<Reply>> = (0..n).map(|_| None).collect();
        let deadline = Instant::now() + ASK_TIMEOUT;
        while got.iter().any(Option::is_none) {
            for (i, mb) in self.shared.mailboxes.iter().enumerate() {
                while let Some((s, r)) = mb.replies.pop() {
                    if s == seq {
                        got[i] = Some(r);
                    }
                }
            }
            if Instant::now() > deadline {
                let late: Vec<String> = got
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.is_none())
                    .map(|(i, _)| i.to_string())
                    .collect();
                return Err(format!(
                    "worker(s) {} did not answer within {} s",
                    late.join(","),
                    ASK_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(got.into_iter().flatten().collect())
    }

    /// MASQUERADE: makes the workers follow the WAN interface's primary
    /// IPv4 address.
    fn follow_address(&mut self) {
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
    fn follow_lan_filter(&self) {
        if let Err(e) = self.lan_prog.set_filter(&lan_filter(&self.rc)) {
            eprintln!("masq: lan {}: XDP filter: {e}", self.rc.lan);
        }
    }

    /// Keeps the workers told the MAC of every static mapping's inside
    /// host, from the kernel's neighbour table (asking the kernel to
    /// resolve the ones it does not know).
    fn follow_static_neighbours(&mut self) {
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
    fn follow_next_hop(&mut self, routes: bool) {
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
                    match self.ask(|_| Command::SetGateway(mac)) {
                        Ok(_) => {
                            eprintln!("masq: WAN next hop {} is {mac}", fmt_addr(gw));
                            self.gateway_mac = Some(mac);
                        }
                        Err(e) => {
                            eprintln!("masq: gateway {} at {mac}: {e}; retrying", fmt_addr(gw))
                        }
                    }
                }
            }
            _ => {
                let _ = netinfo::solicit(gw);
            }
        }
    }

    /// Applies the configuration file again; returns what changed.
    fn reload(&mut self) -> Result<String, String> {
        let mut new = load(&self.opts)?;
        if self.rc.mode == Mode::Masquerade && new.mode == Mode::Masquerade {
            new.core.pool = self.rc.core.pool.clone();
        }
        self.rc
            .core
            .live_change(&new.core)
            .map_err(|e| e.to_string())?;
        if let Some(k) = self.rc.restart_only_change(&new) {
            return Err(format!("{k}: changes only on restart"));
        }
        if new.core == self.rc.core {
            return Ok("no change".into());
        }
        let pool_grew = new.core.pool != self.rc.core.pool;
        let cfg = Box::new(new.core.clone());
        let replies = self.ask(|_| Command::Reconfigure(cfg.clone()))?;
        for (i, r) in replies.into_iter().enumerate() {
            if let Reply::Applied(Err(e)) = r {
                return Err(format!("worker {i}: {e}"));
            }
        }
        let what = describe_change(&self.rc.core, &new.core);
        self.rc = new;
        if let Some(l) = &self.eventlog {
            l.set_quotas(eventlog::Quotas::of(&self.rc.core));
        }
        if pool_grew {
            self.wan_prog
                .set_filter(&wan_filter(&self.rc, self.opts.l2_forward))
                .map_err(|e| format!("pool applied, but the XDP filter was not: {e}"))?;
            self.follow_lan_filter();
        }
        Ok(what)
    }

    fn scrape(&mut self) -> Scrape {
        let blocks = self.ask(|_| Command::Blocks).ok().map(|replies| {
            let mut sum: Vec<(u32, u32, u32)> = Vec::new();
            for r in replies {
                if let Reply::Blocks(v) = r {
                    for (a, used, free) in v {
                        match sum.iter_mut().find(|x| x.0 == a) {
                            Some(x) => {
                                x.1 += used;
                                x.2 += free;
                            }
                            None => sum.push((a, used, free)),
                        }
                    }
                }
            }
            sum
        });
        let xsk = self
            .shared
            .stats
            .iter()
            .map(|w| {
                let fd = |k: usize| {
                    let fd = w.fds[k].load(Ordering::Relaxed);
                    (fd >= 0).then(|| worker::xsk_statistics(fd).ok()).flatten()
                };
                [fd(0), fd(1)]
            })
            .collect();
        Scrape {
            blocks,
            blocks_per_addr: self.rc.core.blocks_per_addr(),
            xsk,
            xdp: [self.lan_prog.stats().ok(), self.wan_prog.stats().ok()],
            xdp_drops: [self.lan_prog.drops().ok(), self.wan_prog.drops().ok()],
            capacity: u64::from(self.rc.core.max_sessions),
            external: self.external,
            address_changes: self.address_changes,
            reloads: self.reloads,
            now_ms: self.shared.epoch.elapsed().as_millis() as u64,
            stalls: self
                .stalls
                .iter()
                .map(|s| (s.since.is_some(), s.count))
                .collect(),
            eventlog: self
                .eventlog
                .as_ref()
                .map(|l| l.snapshot(&self.rc.log))
                .unwrap_or_default(),
        }
    }

    fn serve_http(&mut self, mut conn: std::net::TcpStream) {
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
        // One deadline for the whole request: a client that trickles bytes
        // must not hold the control thread (and stall detection) for long.
        let deadline = Instant::now() + HTTP_REQUEST_TIMEOUT;
        let mut buf = [0u8; 4096];
        let mut len = 0;
        while len < buf.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match conn.read(&mut buf[len..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    len += n;
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
        let req = String::from_utf8_lossy(&buf[..len]);
        let mut parts = req.split_whitespace();
        let (status, body) = match (parts.next(), parts.next()) {
            (Some("GET"), Some("/metrics")) => {
                let s = self.scrape();
                match self.metrics.render(&self.shared, &s) {
                    Ok(b) => ("200 OK", b),
                    Err(e) => ("500 Internal Server Error", format!("{e}\n")),
                }
            }
            (Some("GET"), Some("/healthz")) => {
                let stalled = self.stalled();
                if stalled.is_empty() {
                    ("200 OK", "ok\n".into())
                } else {
                    (
                        "503 Service Unavailable",
                        format!("stalled: {}\n", stalled.join(", ")),
                    )
                }
            }
            (Some("GET"), Some(_)) => (
                "404 Not Found",
                "only /metrics and /healthz are served\n".into(),
            ),
            _ => (
                "405 Method Not Allowed",
                "GET /metrics or /healthz\n".into(),
            ),
        };
        let head = format!(
            "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(head.as_bytes());
        let _ = conn.write_all(body.as_bytes());
    }

    fn serve_admin(&mut self, conn: std::os::unix::net::UnixStream) {
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
        let answer = admin::read_request(&conn)
            .and_then(|req| self.answer(req))
            .unwrap_or_else(|e| json!({ "error": e }));
        let mut w = std::io::BufWriter::new(&conn);
        let _ = serde_json::to_writer(&mut w, &answer);
        let _ = w.write_all(b"\n");
    }

    fn answer(&mut self, req: Request) -> Result<Value, String> {
        let now = self.now_s();
        match req {
            Request::Sessions {
                subscriber,
                external,
                limit,
            } => {
                let select = Select {
                    subscriber: subscriber.map(u32::from),
                    external: external.map(|(a, p)| (u32::from(a), p)),
                };
                let max = limit.saturating_add(1);
                let replies = self.ask(|_| Command::Sessions {
                    select,
                    max,
                    buf: Vec::with_capacity(max.min(65536)),
                })?;
                let mut all: Vec<SessionInfo> = replies
                    .into_iter()
                    .flat_map(|r| match r {
                        Reply::Sessions(v) => v,
                        _ => Vec::new(),
                    })
                    .collect();
                let truncated = all.len() > limit;
                all.truncate(limit);
                let list: Vec<Value> = all.iter().map(|s| admin::session_json(s, now)).collect();
                Ok(json!({ "count": list.len(), "truncated": truncated, "sessions": list }))
            }
            Request::Subscribers => {
                let replies = self.ask(|_| Command::Subscribers)?;
                let mut list = Vec::new();
                for r in replies {
                    if let Reply::Subscribers(v) = r {
                        for s in v {
                            let blocks: Vec<Value> = s
                                .blocks
                                .iter()
                                .map(|(a, lo, hi)| {
                                    json!({"external": fmt_addr(*a).to_string(), "first_port": lo, "last_port": hi})
                                })
                                .collect();
                            list.push(json!({
                                "subscriber": fmt_addr(s.addr).to_string(),
                                "sessions": s.sessions,
                                "blocks": blocks,
                            }));
                        }
                    }
                }
                Ok(json!({ "count": list.len(), "subscribers": list }))
            }
            Request::Flush { subscriber } => {
                let select = Select {
                    subscriber: subscriber.map(u32::from),
                    external: None,
                };
                let n: usize = self
                    .ask(|_| Command::Flush(select))?
                    .into_iter()
                    .map(|r| match r {
                        Reply::Flushed(n) => n,
                        _ => 0,
                    })
                    .sum();
                Ok(json!({ "flushed": n }))
            }
            Request::Stats => Ok(self.stats_json()),
            Request::PauseWorker { worker, millis } => {
                if !self.opts.fault_injection {
                    return Err(
                        "fault injection is off (start masq run with --fault-injection)".into(),
                    );
                }
                let mb = self.shared.mailboxes.get(worker).ok_or_else(|| {
                    format!(
                        "worker {worker}: there are {} worker(s)",
                        self.shared.mailboxes.len()
                    )
                })?;
                self.seq += 1;
                let d = Duration::from_millis(millis);
                mb.commands
                    .push((self.seq, Command::Pause(d)))
                    .map_err(|_| format!("worker {worker}: its command ring is full"))?;
                eprintln!("masq: fault injection: worker {worker} told to pause for {millis} ms");
                Ok(json!({ "paused": worker, "millis": millis }))
            }
        }
    }

    fn stats_json(&self) -> Value {
        let r = Ordering::Relaxed;
        let sh = &self.shared;
        let mut drops = serde_json::Map::new();
        for (k, d) in DropReason::ALL.iter().enumerate() {
            drops.insert(d.name().into(), sh.total(|s| s.drops[k].load(r)).into());
        }
        for (k, name) in Io::DROPS {
            drops.insert(name.into(), sh.total(|s| s.io(k)).into());
        }
        let mut xdp_drops = serde_json::Map::new();
        for (side, p) in [("lan", &self.lan_prog), ("wan", &self.wan_prog)] {
            if let Ok(d) = p.drops() {
                let by: serde_json::Map<String, Value> = xdp::DROP_REASONS
                    .iter()
                    .zip(d)
                    .map(|(r, v)| (r.to_string(), v.into()))
                    .collect();
                xdp_drops.insert(side.into(), by.into());
            }
        }
        let io = |k: Io| sh.total(|s| s.io(k));
        let core = |name: &str| sh.total(|s| s.core(name));
        json!({
            "uptime_s": self.started.elapsed().as_secs(),
            "mode": self.rc.mode.name(),
            "external_address": match self.external {
                Some(Some(a)) => Value::from(fmt_addr(a).to_string()),
                Some(None) => Value::Null,
                None => Value::from(self.rc.core.pool.iter().map(|p| p.to_string()).collect::<Vec<_>>()),
            },
            "external_address_changes": self.address_changes,
            "reloads_ok": self.reloads.0,
            "reloads_failed": self.reloads.1,
            "workers_stalled": self.stalled(),
            "worker_stalls": self.stalls.iter().map(|s| s.count).collect::<Vec<_>>(),
            "totals": {
                "rx_lan_packets": io(Io::RxLan),
                "rx_wan_packets": io(Io::RxWan),
                "tx_lan_packets": io(Io::TxLan),
                "tx_wan_packets": io(Io::TxWan),
                "sessions": sh.total(|s| s.sessions()),
                "subscribers": sh.total(|s| s.subscribers.load(r)),
                "sessions_created": core("sessions_created"),
                "sessions_expired": core("sessions_expired"),
                "sessions_flushed": core("sessions_flushed"),
                "sessions_readdressed": core("sessions_readdressed"),
                "handed_off": io(Io::HandedOff),
                "frames_unaccounted": sh.total(|s| s.frames_unaccounted.load(r)),
            },
            "drops": drops,
            "xdp_drops": xdp_drops,
        })
    }
}

/// One line naming what a reload changed.
fn describe_change(old: &masq_core::Config, new: &masq_core::Config) -> String {
    let mut v = Vec::new();
    if old.timeouts != new.timeouts {
        v.push("timeouts");
    }
    if old.limits != new.limits {
        v.push("limits");
    }
    if old.filtering != new.filtering {
        v.push("filtering");
    }
    if old.inbound_refresh != new.inbound_refresh {
        v.push("inbound_refresh");
    }
    if old.pool != new.pool {
        v.push("pool (addresses added)");
    }
    v.join(", ")
}

/// One line of totals for `--stats-interval` and the final report.
pub fn stats_line(shared: &Shared) -> String {
    let io = |k: Io| shared.total(|s| s.io(k));
    format!(
        "rx lan {} wan {}, tx lan {} wan {}, sessions {}, nat drops {}, tx ring full {}, handoff full {}",
        io(Io::RxLan),
        io(Io::RxWan),
        io(Io::TxLan),
        io(Io::TxWan),
        shared.total(|s| s.sessions()),
        shared.total(|s| s.drops.iter().map(|d| d.load(Ordering::Relaxed)).sum()),
        io(Io::TxRingFull),
        io(Io::HandoffFull),
    )
}

fn report(shared: &Shared, shards: &[Shard], xdp: [Option<(u64, u64)>; 2], max_sessions: usize) {
    println!("== masq report ==");
    println!("{}", stats_line(shared));
    if let [Some(l), Some(w)] = xdp {
        println!(
            "xdp: lan redirected {} passed {}; wan redirected {} passed {}",
            l.0, l.1, w.0, w.1
        );
    }
    let r = Ordering::Relaxed;
    for (i, s) in shared.stats.iter().enumerate() {
        let polls = s.io(Io::Polls).max(1);
        println!(
            "worker {i}: busy {:.3} of {} polls, handed off {} in {}, pass dropped {}, frames unaccounted {}",
            s.io(Io::BusyPolls) as f64 / polls as f64,
            polls,
            s.io(Io::HandedOff),
            s.io(Io::HandedIn),
            s.io(Io::PassDropped),
            s.frames_unaccounted.load(r)
        );
    }
    let mut listed = 0;
    println!("sessions:");
    for shard in shards {
        let c = shard.counters();
        for d in DropReason::ALL {
            if c.drop_count(*d) > 0 {
                println!(
                    "  shard {} drop {} = {}",
                    shard.id(),
                    d.name(),
                    c.drop_count(*d)
                );
            }
        }
        println!(
            "  shard {}: {} live, {} created, {} expired",
            shard.id(),
            shard.session_count(),
            c.sessions_created,
            c.sessions_expired
        );
        for s in shard.sessions() {
            if listed >= max_sessions {
                break;
            }
            listed += 1;
            let proto = masq_core::proto::name_of(s.proto);
            println!(
                "  {proto:<4} {} -> {} -> remote {}  {}",
                s.inside,
                s.outside,
                s.remote,
                s.tcp.map_or("-", TcpState::name)
            );
        }
    }
}
