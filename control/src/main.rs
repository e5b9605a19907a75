//! masq: a carrier-grade NAT44 on AF_XDP.
//!
//! `masq run --config FILE` attaches masq's XDP program to the LAN and WAN
//! interfaces, starts one pinned poll-mode worker per queue pair and runs
//! the control thread (address following, `/metrics`, the admin socket,
//! SIGHUP reload) and, when `[log]` asks for it, the NAT event logger
//! (IPFIX, syslog) until SIGINT or SIGTERM, when it stops the workers,
//! detaches the programs and prints a report. `masq check-config FILE`
//! prints the effective configuration or the first error. `masq sessions`,
//! `subscribers`, `stats` and `flush` ask a running masq over its admin
//! socket.

#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use masq_control::admin::{self, Request};
use masq_control::{config, daemon, lookup};

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
    /// Check a configuration file and print the effective configuration.
    CheckConfig {
        /// The configuration file (TOML).
        file: PathBuf,
    },
    /// List sessions of a running masq.
    Sessions {
        /// Only sessions of this inside (subscriber) address.
        #[arg(long)]
        subscriber: Option<Ipv4Addr>,
        /// Only sessions on this external IP, or IP:PORT.
        #[arg(long, value_parser = parse_external)]
        external: Option<(Ipv4Addr, u16)>,
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
    /// Who holds an external IP:PORT, or where an inside address is
    /// translated to, from the configuration alone (deterministic NAT and
    /// static mappings; no running masq needed).
    Lookup {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// External address and port to find the subscriber of.
        #[arg(long, value_parser = parse_endpoint, conflicts_with = "inside", required_unless_present = "inside")]
        external: Option<(Ipv4Addr, u16)>,
        /// Inside (subscriber) address to find the external address and
        /// ports of.
        #[arg(long)]
        inside: Option<Ipv4Addr>,
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
    /// Remove sessions of a running masq (all, or one subscriber's).
    Flush {
        /// Only sessions of this inside (subscriber) address.
        #[arg(long)]
        subscriber: Option<Ipv4Addr>,
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
    /// The admin socket of the running masq.
    #[arg(long, default_value = config::DEFAULT_SOCKET)]
    socket: PathBuf,
}

fn parse_external(s: &str) -> Result<(Ipv4Addr, u16), String> {
    match s.split_once(':') {
        Some((a, p)) => Ok((
            a.parse().map_err(|e| format!("{a:?}: {e}"))?,
            p.parse().map_err(|e| format!("port {p:?}: {e}"))?,
        )),
        None => Ok((s.parse().map_err(|e| format!("{s:?}: {e}"))?, 0)),
    }
}

fn parse_endpoint(s: &str) -> Result<(Ipv4Addr, u16), String> {
    match parse_external(s)? {
        (_, 0) => Err(format!("{s:?}: give IP:PORT")),
        e => Ok(e),
    }
}

fn ask(req: Request, client: Client) -> Result<(), String> {
    let v = admin::call(&client.socket, &req)?;
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
        Cmd::CheckConfig { file } => config::load(&file).and_then(|c| write_out(&c.to_toml())),
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
                external,
                limit,
            },
            client,
        ),
        Cmd::Subscribers { client } => ask(Request::Subscribers, client),
        Cmd::Lookup {
            config,
            external,
            inside,
        } => config::load(&config).and_then(|rc| {
            let q = match (external, inside) {
                (Some((a, p)), _) => lookup::Query::External(a, p),
                (None, Some(a)) => lookup::Query::Inside(a),
                (None, None) => return Err("give --external IP:PORT or --inside IP".into()),
            };
            write_out(&lookup::lookup(&rc, q)?)
        }),
        Cmd::Stats { client } => ask(Request::Stats, client),
        Cmd::Flush { subscriber, client } => ask(Request::Flush { subscriber }, client),
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
