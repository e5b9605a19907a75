//! masq: a carrier-grade NAT44 on AF_XDP.
//!
//! `masq run --config FILE` attaches masq's XDP program to the LAN and WAN
//! interfaces, starts one pinned poll-mode worker per queue pair and runs
//! the control thread (address following, `/metrics`, the admin socket,
//! SIGHUP reload) and, when `[log]` asks for it, the NAT event logger
//! (IPFIX, syslog) until SIGINT or SIGTERM, when it stops the workers,
//! detaches the programs and prints a report. `masq check-config FILE`
//! prints the effective configuration or the first error; given the files
//! of every box of a cluster, it refuses overlapping pools by name.
//! `masq lookup` answers who holds an external address from the
//! configurations (and, at a time, from the event log). `masq sessions`,
//! `subscribers`, `stats` and `flush` ask a running masq over its admin
//! socket.

#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use masq_control::admin::{self, Request};
use masq_control::sharing::{self, Sharing};
use masq_control::{cluster, config, daemon, lookup};

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
        /// Where to serve Prometheus /metrics (IP:PORT, or "off"); overrides
        /// metrics_listen of the file (default 127.0.0.1:9469).
        #[arg(long)]
        metrics_listen: Option<String>,
        /// Benchmark baseline, not a NAT: forward LAN frames to the WAN
        /// gateway and WAN frames to inside addresses with only their MACs
        /// rewritten (the I/O ceiling `scripts/bench.sh e2e` compares with).
        #[arg(long)]
        l2_forward: bool,
        /// Accept fault-injection requests (`masq pause-worker`) on the
        /// admin socket; for tests of stall detection, never in service.
        #[arg(long)]
        fault_injection: bool,
    },
    /// Check a configuration file and print the effective configuration
    /// (TOML, or JSON with --json); with several files, check each and
    /// the set as one cluster (no overlapping pools, docs/scale-out.md).
    CheckConfig {
        /// The configuration file (TOML).
        #[arg(long, short, required_unless_present = "file", conflicts_with = "file")]
        config: Option<PathBuf>,
        /// The configuration file(s), given without --config: one per box
        /// of a cluster.
        #[arg(value_name = "FILE")]
        file: Vec<PathBuf>,
        /// Print the effective configuration (several files: the boxes
        /// and the verdict) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List sessions of a running masq.
    Sessions {
        /// Only sessions of this inside (subscriber) address.
        #[arg(long)]
        subscriber: Option<Ipv4Addr>,
        /// Only sessions on this external IP, or IP:PORT.
        #[arg(long, value_name = "IP[:PORT]", value_parser = parse_external)]
        external: Option<External>,
        /// Most sessions to list.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[command(flatten)]
        client: Client,
    },
    /// List the subscribers of a running masq with their port blocks.
    Subscribers {
        #[command(flatten)]
        client: Client,
    },
    /// Counters of a running masq.
    Stats {
        #[command(flatten)]
        client: Client,
    },
    /// Who holds an external IP (or IP:PORT), or where an inside address
    /// is translated to, from the configuration alone (deterministic NAT
    /// and static mappings; no running masq needed); with several
    /// --config, the box of the cluster that announces the address; with
    /// --at and --log, who held it at that time by the NAT event log.
    Lookup {
        /// The configuration file (TOML); once per box of a cluster.
        #[arg(long, short, required_unless_present = "log")]
        config: Vec<PathBuf>,
        /// External IP, or IP:PORT, to find the subscribers of.
        #[arg(long, value_name = "IP[:PORT]", value_parser = parse_external, conflicts_with = "inside", required_unless_present = "inside")]
        external: Option<External>,
        /// Inside (subscriber) address to find the external address and
        /// ports of.
        #[arg(long)]
        inside: Option<Ipv4Addr>,
        /// The time to answer for: RFC 3339 (2026-12-03T10:00:05Z) or
        /// seconds since the epoch; needs --log and --external.
        #[arg(long, value_name = "TIME", requires = "log", conflicts_with = "inside")]
        at: Option<String>,
        /// The NAT event log (syslog lines), once per file; needs --at.
        #[arg(long, value_name = "FILE", requires = "at")]
        log: Vec<PathBuf>,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fault injection: make one worker of a running masq sleep, as a
    /// stuck worker would, to test stall detection (the masq must run with
    /// --fault-injection).
    PauseWorker {
        /// The worker (0-based).
        #[arg(long)]
        worker: usize,
        /// How long it sleeps.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[command(flatten)]
        client: Client,
    },
    /// Drain a running masq of a cluster: its access routes are announced
    /// as draining, so that the access side moves its subscribers to the
    /// other boxes, while its pool stays announced for the flows still
    /// open (docs/scale-out.md).
    Drain {
        /// End the drain: announce the access routes again.
        #[arg(long)]
        undo: bool,
        #[command(flatten)]
        client: Client,
    },
    /// Remove sessions of a running masq (all, or those selected).
    Flush {
        /// Only sessions of this inside (subscriber) address.
        #[arg(long)]
        subscriber: Option<Ipv4Addr>,
        /// Only sessions on this external IP, or IP:PORT.
        #[arg(long, value_name = "IP[:PORT]", value_parser = parse_external)]
        external: Option<External>,
        #[command(flatten)]
        client: Client,
    },
}

/// Options of the admin subcommands.
#[derive(Args, Debug)]
struct Client {
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
    /// The admin socket of the running masq [default: admin_socket of
    /// --config, else /run/masq/masq.sock].
    #[arg(long)]
    socket: Option<PathBuf>,
    /// The running masq's configuration file, to find its admin socket.
    #[arg(long, short, conflicts_with = "socket")]
    config: Option<PathBuf>,
}

impl Client {
    /// The admin socket: --socket, the file's admin_socket, or the default.
    fn socket(&self) -> Result<PathBuf, String> {
        match (&self.socket, &self.config) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(f)) => Ok(config::load(f)?.admin_socket),
            (None, None) => Ok(PathBuf::from(config::DEFAULT_SOCKET)),
        }
    }
}

/// An external address, and a port when one is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct External {
    addr: Ipv4Addr,
    port: Option<u16>,
}

impl External {
    /// As the admin protocol says it: port 0 for every port.
    fn pair(self) -> (Ipv4Addr, u16) {
        (self.addr, self.port.unwrap_or(0))
    }
}

/// `IP` or `IP:PORT`, with the same meaning for every subcommand.
fn parse_external(s: &str) -> Result<External, String> {
    let (a, p) = match s.split_once(':') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr = a
        .parse()
        .map_err(|_| format!("{a}: not an IPv4 address (give IP or IP:PORT)"))?;
    let port = match p {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("{p}: not a port from 1 to 65535")),
            Ok(n) => Some(n),
        },
    };
    Ok(External { addr, port })
}

fn ask(req: Request, client: Client) -> Result<(), String> {
    let v = admin::call(&client.socket()?, &req)?;
    let text = if client.json {
        serde_json::to_string_pretty(&v).map_err(|e| e.to_string())? + "\n"
    } else {
        admin::table(&req, &v)
    };
    write_out(&text)
}

/// Writes to standard output; a reader that went away early (`| head`,
/// `| grep -q`) is not an error.
fn write_out(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::CheckConfig { file, json, .. } if file.len() > 1 => {
            let (text, problems) = cluster::check_files(&file, json);
            write_out(&text).and_then(|()| match problems.is_empty() {
                true => Ok(()),
                false => Err(problems.join("\nmasq: ")),
            })
        }
        Cmd::CheckConfig { config, file, json } => {
            let path = config.or(file.into_iter().next()).unwrap_or_default();
            config::load(&path).and_then(|mut c| {
                // SNAT: which pool addresses are this box's, as `masq run`
                // would find them here.
                if c.mode == config::Mode::Snat {
                    if let Ok(k) = masq_control::kernel::Kernel::open() {
                        let own = sharing::own_pool_addresses(&c.core, k.view());
                        if !own.is_empty() {
                            c.core.own_addrs = masq_core::OwnAddrs::Listed(own);
                        }
                    }
                }
                let why = Sharing::of(&c);
                if json {
                    let t = config::toml_to_json(&c.to_toml())?;
                    let mut v: serde_json::Value =
                        serde_json::from_str(&t).map_err(|e| e.to_string())?;
                    v["address_sharing"] = why.json();
                    let t = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
                    write_out(&(t + "\n"))
                } else {
                    let mut t = c.to_toml();
                    t += "\n# How the box and the NAT share addresses:\n";
                    for l in why.lines() {
                        t += &format!("# {l}\n");
                    }
                    write_out(&t)
                }
            })
        }
        Cmd::Run {
            config,
            stats_interval,
            report_sessions,
            metrics_listen,
            l2_forward,
            fault_injection,
        } => daemon::run(daemon::Options {
            config,
            stats_interval,
            report_sessions,
            metrics_listen,
            l2_forward,
            fault_injection,
        }),
        Cmd::Sessions {
            subscriber,
            external,
            limit,
            client,
        } => ask(
            Request::Sessions {
                subscriber,
                external: external.map(External::pair),
                limit,
            },
            client,
        ),
        Cmd::Subscribers { client } => ask(Request::Subscribers, client),
        Cmd::Lookup {
            config,
            external,
            inside,
            at,
            log,
            json,
        } => {
            let query = match (external, inside) {
                (Some(e), _) => Ok(lookup::Query::External(e.addr, e.port)),
                (None, Some(a)) => Ok(lookup::Query::Inside(a)),
                (None, None) => Err("give --external IP[:PORT] or --inside IP".to_string()),
            };
            query.and_then(|query| {
                let ask = lookup::cluster::Ask {
                    configs: config,
                    query,
                    at,
                    logs: log,
                    json,
                };
                let said = lookup::cluster::run(&ask)?;
                write_out(&said.text)?;
                said.missing.map_or(Ok(()), Err)
            })
        }
        Cmd::Stats { client } => ask(Request::Stats, client),
        Cmd::Flush {
            subscriber,
            external,
            client,
        } => ask(
            Request::Flush {
                subscriber,
                external: external.map(External::pair),
            },
            client,
        ),
        Cmd::Drain { undo, client } => ask(Request::Drain { on: !undo }, client),
        Cmd::PauseWorker {
            worker,
            seconds,
            client,
        } => {
            if !(seconds.is_finite() && (0.0..=3600.0).contains(&seconds)) {
                Err(format!("--seconds {seconds}: give 0 to 3600"))
            } else {
                let millis = (seconds * 1000.0) as u64;
                ask(Request::PauseWorker { worker, millis }, client)
            }
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("masq: {e}");
            ExitCode::FAILURE
        }
    }
}
