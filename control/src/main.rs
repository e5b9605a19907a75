//! masq: a carrier-grade NAT44 on AF_XDP.
//!
//! `masq run --config FILE` attaches masq's XDP program to the LAN and WAN
//! interfaces, starts one pinned poll-mode worker per queue pair, and
//! keeps the WAN next hop resolved from the control thread until SIGINT or
//! SIGTERM, when it stops the workers, detaches the programs and prints a
//! report. `masq check-config FILE` prints the effective configuration or
//! the first error.

mod config;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use masq_core::config::fmt_addr;
use masq_core::{DropReason, NextHops, Prefix};
use masq_xsk::worker::{self, Mode as XskMode, Shared, Started, WorkerSpec};
use masq_xsk::{netinfo, xdp};

use crate::config::{Mode, RunConfig};

#[derive(Parser, Debug)]
#[command(name = "masq", version, about = "Carrier-grade NAT44 on AF_XDP")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the NAT on the interfaces of a configuration file.
    Run {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Print a statistics line every this many seconds (0: never).
        #[arg(long, default_value_t = 0)]
        stats_interval: u64,
        /// Sessions to list in the report printed at exit.
        #[arg(long, default_value_t = 20)]
        report_sessions: usize,
    },
    /// Check a configuration file and print the effective configuration.
    CheckConfig {
        /// The configuration file (TOML).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::CheckConfig { file } => config::load(&file).map(|c| println!("{c:#?}")),
        Cmd::Run {
            config,
            stats_interval,
            report_sessions,
        } => config::load(&config).and_then(|c| run(c, stats_interval, report_sessions)),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("masq: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut rc: RunConfig, stats_interval: u64, report_sessions: usize) -> Result<(), String> {
    if rc.mode == Mode::Masquerade {
        let addrs = netinfo::ipv4_of(&rc.wan).map_err(|e| format!("wan {}: {e}", rc.wan))?;
        let a = *addrs
            .first()
            .ok_or_else(|| format!("wan {}: no IPv4 address to masquerade to", rc.wan))?;
        rc.core.pool = vec![Prefix::new(a, 32).map_err(|e| format!("pool: {e}"))?];
        rc.core.validate().map_err(|e| e.to_string())?;
    }
    let workers = usize::from(rc.core.shards);
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
    let pfx = |v: &[Prefix]| v.iter().map(|p| (p.addr(), p.len())).collect::<Vec<_>>();
    let lan_prog = xdp::XdpProgram::attach(&rc.lan, &xdp::Filter::Lan(pfx(&rc.core.inside)))
        .map_err(|e| format!("lan {}: {e}", rc.lan))?;
    let wan_prog = xdp::XdpProgram::attach(
        &rc.wan,
        &xdp::Filter::Wan(pfx(&rc.core.pool), (rc.core.port_min, rc.core.port_max)),
    )
    .map_err(|e| format!("wan {}: {e}", rc.wan))?;

    let shared = Arc::new(Shared::new(workers, rc.handoff_ring as usize));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("signal handler: {e}"))?;
    }

    let mut gateway = netinfo::default_gateway(&rc.wan).map_err(|e| format!("routes: {e}"))?;
    let hops = NextHops {
        lan_mac,
        wan_mac,
        gateway_mac: Default::default(),
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
                return Err(format!("workers did not start: {}", errs.join("; ")));
            }
        }
    }
    let pool: Vec<String> = rc.core.pool.iter().map(|p| p.to_string()).collect();
    let first = modes.first().copied().unwrap_or(Started {
        mode: XskMode::Copy,
        busy_poll: false,
    });
    eprintln!(
        "masq: running: {:?} to {}, LAN {} WAN {}, {} worker(s) in {:?} mode, busy-poll socket options {}, pinned to cores {:?}",
        rc.mode,
        pool.join(","),
        rc.lan,
        rc.wan,
        workers,
        first.mode,
        if first.busy_poll { "on" } else { "refused by the kernel" },
        rc.cores
    );

    // Control loop: keep the WAN next hop resolved, print statistics.
    let mut last_stats = Instant::now();
    let mut gw_known = None;
    while !stop.load(Ordering::Relaxed) {
        if gateway.is_none() {
            gateway = netinfo::default_gateway(&rc.wan).ok().flatten();
        }
        if let Some(gw) = gateway {
            match netinfo::neighbour(gw) {
                Ok(Some(mac)) => {
                    if gw_known != Some(mac) {
                        eprintln!("masq: WAN next hop {} is {mac}", fmt_addr(gw));
                        gw_known = Some(mac);
                    }
                    shared.set_gateway(mac);
                }
                _ => {
                    let _ = netinfo::solicit(gw);
                }
            }
        }
        if stats_interval > 0 && last_stats.elapsed() >= Duration::from_secs(stats_interval) {
            last_stats = Instant::now();
            eprintln!("masq: {}", stats_line(&shared));
        }
        if handles.iter().any(|h| h.is_finished()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
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
    let xdp_stats = [lan_prog.stats().ok(), wan_prog.stats().ok()];
    drop(lan_prog);
    drop(wan_prog);
    report(&shared, &shards, xdp_stats, report_sessions);
    eprintln!("masq: stopped; XDP programs detached");
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn stats_line(shared: &Shared) -> String {
    let sum = |f: fn(&worker::WorkerStats) -> &std::sync::atomic::AtomicU64| {
        shared
            .stats
            .iter()
            .map(|s| f(s).load(Ordering::Relaxed))
            .sum::<u64>()
    };
    format!(
        "rx lan {} wan {}, tx lan {} wan {}, sessions {}, nat drops {}, tx ring full {}, handoff full {}",
        sum(|s| &s.rx_lan),
        sum(|s| &s.rx_wan),
        sum(|s| &s.tx_lan),
        sum(|s| &s.tx_wan),
        sum(|s| &s.sessions),
        sum(|s| &s.nat_dropped),
        sum(|s| &s.tx_ring_full),
        sum(|s| &s.handoff_full),
    )
}

fn report(
    shared: &Shared,
    shards: &[masq_core::Shard],
    xdp: [Option<(u64, u64)>; 2],
    max_sessions: usize,
) {
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
        let polls = s.polls.load(r).max(1);
        println!(
            "worker {i}: busy {:.3} of {} polls, handed off {} in {}, pass dropped {}, frames unaccounted {}",
            s.busy_polls.load(r) as f64 / polls as f64,
            polls,
            s.handed_off.load(r),
            s.handed_in.load(r),
            s.pass_dropped.load(r),
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
            let proto = match s.proto {
                6 => "tcp",
                17 => "udp",
                _ => "icmp",
            };
            println!(
                "  {proto:<4} {} -> {} -> remote {}  {:?}",
                s.inside, s.outside, s.remote, s.tcp
            );
        }
    }
}
