//! Start-up of `masq run`: the configuration and the WAN address, the
//! checks that fail early (queues, listeners), the XDP programs, the
//! workers and the event logger, the privilege drop and the lines that
//! say what runs. It hands a ready [`Control`] to the control loop.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use masq_core::wire::Mac;
use masq_core::{NextHops, OwnAddrs, Shard};
use masq_xsk::command::Command;
use masq_xsk::worker::{self, Mode as XskMode, Shared, Started, WorkerSpec};
use masq_xsk::{netinfo, privilege, xdp};

use super::filter::{lan_filter, wan_filter};
use super::http::{self, Http};
use super::kernel::wan_address;
use super::{pcp, record, Control, Options, Stall};
use crate::config::{self, Mode, RunConfig};
use crate::eventlog::{self, Logger};
use crate::external::External;
use crate::kernel::{Kernel, KernelView};
use crate::metrics::Metrics;
use crate::mtu;
use crate::sharing::{self, Sharing};
use crate::sys;

/// A started masq: the control thread's state, the workers, the event
/// logger and the signal flags.
pub(super) struct Running {
    pub ctl: Control,
    pub handles: Vec<JoinHandle<std::io::Result<Shard>>>,
    pub logger: Option<Logger>,
    pub stop: Arc<AtomicBool>,
    pub hup: Arc<AtomicBool>,
}

/// The configuration file with the command line's overrides.
pub(super) fn load(opts: &Options) -> Result<RunConfig, String> {
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

/// Starts everything `masq run` runs; on error, nothing is left attached.
pub(super) fn start(opts: Options) -> Result<Running, String> {
    let mut rc = load(&opts)?;
    // Before the kernel's tables are read, so that they hold its interface.
    let routing = super::routing::Routing::open(&rc.routing)?;
    let kernel = Kernel::open().map_err(|e| format!("rtnetlink: {e}"))?;
    let external = masquerade_address(&mut rc, kernel.view())?;
    own_pool_addresses(&mut rc, kernel.view())?;
    // The workers start with the MTUs in force; the control thread
    // follows the interfaces' from here on (`kernel::follow_mtu`).
    let mtus = mtu::both(&rc, kernel.view());
    rc.core.lan_mtu = mtus[0].value;
    rc.core.wan_mtu = mtus[1].value;
    check_queues(&rc)?;
    let hops = NextHops {
        lan_mac: mac_of("lan", &rc.lan, kernel.view())?,
        wan_mac: mac_of("wan", &rc.wan, kernel.view())?,
        gateway_mac: Mac::default(),
    };
    // Listeners before anything is attached: a port in use fails early.
    let http = match rc.metrics_listen {
        Some(a) => {
            let l = TcpListener::bind(a).map_err(|e| format!("metrics_listen {a}: {e}"))?;
            let h = Http::start(l, http::WRITE_TIMEOUT)
                .map_err(|e| format!("metrics_listen {a}: {e}"))?;
            Some(h)
        }
        None => None,
    };
    let admin = bind_admin(&rc.admin_socket)?;
    // PCP listens on the LAN interface's address (ICMP errors to
    // subscribers come from it too).
    let lan_address = kernel
        .view()
        .index_of(&rc.lan)
        .and_then(|i| kernel.view().primary_address(i));
    let pcp = pcp::open(&rc, lan_address, 0)?;
    let log_outputs = eventlog::Outputs::open(&rc.log)?;
    let metrics = Metrics::new().map_err(|e| format!("metrics: {e}"))?;
    let (lan_prog, wan_prog) = attach_programs(&rc, opts.l2_forward, kernel.view())?;

    let workers = usize::from(rc.core.workers);
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
    if !external.is_up() {
        // Queued before the workers start: they refuse mappings at once.
        for mb in &shared.mailboxes {
            let _ = mb.commands.push((0, Command::SetAddress(None)));
        }
    }
    // ICMP errors to subscribers come from the LAN interface's address.
    if let Some(a) = lan_address {
        for mb in &shared.mailboxes {
            let _ = mb.commands.push((0, Command::SetLanAddress(u32::from(a))));
        }
    }

    let xsks = (lan_prog.xsks_fd(), wan_prog.xsks_fd());
    let held_keys = wan_prog.held_keys_fd();
    let (handles, first) = match start_workers(&rc, &opts, hops, (xsks, held_keys), &shared) {
        Ok(h) => h,
        Err(e) => {
            let _ = std::fs::remove_file(&rc.admin_socket);
            record::remove(&rc.admin_socket);
            if let Some(l) = logger {
                l.stop();
            }
            return Err(e);
        }
    };
    // Setup is done: the programs are attached, the sockets bound, the
    // listeners open. The control thread keeps only what detaching the
    // programs at exit needs; the workers and the event logger keep nothing.
    let kept = privilege::keep_only(&[privilege::Capability::CAP_NET_ADMIN])
        .map_err(|e| format!("dropping privileges: {e}"))?;
    announce(&rc, &opts, external, first, &kept, lan_address);
    eprintln!(
        "masq: MTU: LAN {} {}, WAN {} {}",
        rc.lan, mtus[0], rc.wan, mtus[1]
    );

    let if_indexes = [
        kernel.view().index_of(&rc.lan),
        kernel.view().index_of(&rc.wan),
    ];
    let mut ctl = Control {
        opts,
        rc,
        shared: Arc::clone(&shared),
        lan_prog,
        wan_prog,
        metrics,
        http,
        admin,
        if_indexes,
        kernel,
        external,
        address_changes: 0,
        reloads: (0, 0),
        seq: 1,
        lan_address,
        gateway: None,
        gateway_mac: None,
        gateway_state: None,
        started: Instant::now(),
        eventlog: logger.as_ref().map(|l| Arc::clone(&l.state)),
        neighbours: std::collections::HashMap::new(),
        stalls: vec![Stall::default(); workers],
        pcp,
        routing,
        healthy: None,
        health_changes: 0,
    };
    let public = ctl.public_address();
    if let Some(p) = &mut ctl.pcp {
        p.server.set_public_address(public);
    }
    Ok(Running {
        ctl,
        handles,
        logger,
        stop,
        hup,
    })
}

/// MASQUERADE: the pool is the WAN interface's address, if it has one
/// yet ([`External::masquerade_pool`]). Returns where the external
/// address comes from.
fn masquerade_address(rc: &mut RunConfig, view: &KernelView) -> Result<External, String> {
    if rc.mode != Mode::Masquerade {
        return Ok(External::Pool);
    }
    let a = wan_address(rc, view);
    rc.core.pool = External::masquerade_pool(a);
    rc.core.validate().map_err(|e| e.to_string())?;
    if a.is_none() {
        eprintln!(
            "masq: wan {}: no IPv4 address yet; translation starts when one is added",
            rc.wan
        );
    }
    Ok(External::Interface(a))
}

/// The MAC of the interface `name` (the `side` of the NAT).
fn mac_of(side: &str, name: &str, view: &KernelView) -> Result<Mac, String> {
    let link = view
        .index_of(name)
        .and_then(|i| view.link(i))
        .ok_or_else(|| format!("{side} {name}: no such interface"))?;
    link.mac
        .ok_or_else(|| format!("{side} {name}: the interface has no MAC address"))
}

/// Every receive queue of both interfaces needs a worker.
fn check_queues(rc: &RunConfig) -> Result<(), String> {
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
    Ok(())
}

/// SNAT: the pool addresses that are the box's own now (an interface
/// holds them), on which the kernel keeps its ports
/// ([`crate::sharing`]). Fixed for the run.
fn own_pool_addresses(rc: &mut RunConfig, view: &KernelView) -> Result<(), String> {
    if rc.mode == Mode::Snat {
        let own = sharing::own_pool_addresses(&rc.core, view);
        rc.core.own_addrs = if own.is_empty() {
            OwnAddrs::None
        } else {
            OwnAddrs::Listed(own)
        };
    }
    sharing::check_deterministic(&rc.core)
}

/// Removes stale copies of masq's program, arranges for a crash to
/// detach, and attaches the LAN and WAN programs.
fn attach_programs(
    rc: &RunConfig,
    l2_forward: bool,
    view: &KernelView,
) -> Result<(xdp::XdpProgram, xdp::XdpProgram), String> {
    for ifname in [&rc.lan, &rc.wan] {
        let recorded = record::read(&rc.admin_socket, ifname);
        if xdp::detach_stale(ifname, &recorded).map_err(|e| format!("{ifname}: {e}"))? {
            eprintln!("masq: removed a stale XDP program from {ifname}");
        }
    }
    // With `panic = "abort"` no destructor runs: detach the programs from
    // the panic hook so that a crash does not leave them attached.
    let (lan_name, wan_name) = (rc.lan.clone(), rc.wan.clone());
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = xdp::detach_stale(&lan_name, &[]);
        let _ = xdp::detach_stale(&wan_name, &[]);
        default_hook(info);
    }));
    let wan_addresses: Vec<Ipv4Addr> = view
        .index_of(&rc.wan)
        .map(|i| view.addresses(i))
        .unwrap_or_default();
    let lan = xdp::XdpProgram::attach(&rc.lan, &lan_filter(rc, &wan_addresses))
        .map_err(|e| format!("lan {}: {e}", rc.lan))?;
    let wan = xdp::XdpProgram::attach(&rc.wan, &wan_filter(rc, l2_forward))
        .map_err(|e| format!("wan {}: {e}", rc.wan))?;
    if let Err(e) = record::write(
        &rc.admin_socket,
        &[(&rc.lan, lan.id()), (&rc.wan, wan.id())],
    ) {
        eprintln!(
            "masq: warning: the record of the XDP programs was not written ({e}); after a \
             crash, a run without CAP_SYS_ADMIN cannot tell them for masq's"
        );
    }
    Ok((lan, wan))
}

/// Spawns one worker per queue and waits until each has bound its
/// sockets; returns their handles and how the first one runs.
#[allow(clippy::type_complexity)]
fn start_workers(
    rc: &RunConfig,
    opts: &Options,
    hops: NextHops,
    (xsks, held_keys): ((i32, i32), i32),
    shared: &Arc<Shared>,
) -> Result<(Vec<JoinHandle<std::io::Result<Shard>>>, Started), String> {
    let workers = usize::from(rc.core.workers);
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
            xsks,
            held_keys: (!opts.l2_forward).then_some(held_keys),
            l2_forward: opts.l2_forward,
        };
        let cfg = rc.core.clone();
        let shared = Arc::clone(shared);
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
    let first = modes.first().copied().unwrap_or(Started {
        mode: XskMode::Copy,
        busy_poll: false,
    });
    Ok((handles, first))
}

/// The lines that say what runs, where, and with which privileges.
fn announce(
    rc: &RunConfig,
    opts: &Options,
    external: External,
    first: Started,
    kept: &[privilege::Capability],
    lan_address: Option<Ipv4Addr>,
) {
    if opts.l2_forward {
        eprintln!(
            "masq: --l2-forward: frames are forwarded with their MACs rewritten, not translated"
        );
    }
    eprintln!(
        "masq: running: {} to {}, LAN {} WAN {}, {} worker(s) in {} mode, busy-poll socket options {}, pinned to cores {}",
        rc.mode,
        match external {
            External::Pool => rc.core.pool.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(","),
            now => format!("the address of {} (now {now})", rc.wan),
        },
        rc.lan,
        rc.wan,
        rc.core.workers,
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
    if rc.pcp.enabled {
        eprintln!(
            "masq: PCP and NAT-PMP on UDP {}:{} of {} (requests from {})",
            lan_address.map_or("(no address yet)".into(), |a| a.to_string()),
            pcp::SERVER_PORT,
            rc.lan,
            rc.core
                .inside
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
    } else {
        eprintln!("masq: PCP and NAT-PMP off");
    }
    if let Some(first) = Sharing::of(rc).lines().first() {
        eprintln!("masq: address sharing: {first}");
    }
    eprintln!(
        "masq: privileges: control thread keeps {}, workers, event logger and HTTP threads none; no new privileges",
        privilege::names(kept)
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
    let l = sys::with_umask(0o177, || UnixListener::bind(path));
    let l = l.map_err(key)?;
    l.set_nonblocking(true).map_err(key)?;
    Ok(l)
}
