//! masq-gen: the end-to-end benchmark's traffic generator, sink and
//! latency probe (`scripts/bench.sh e2e` drives it; `masq-gen --help`).
//!
//! * `send` replays 60-byte UDP frames out of an interface through the
//!   kernel's live-frames XDP test run (or an AF_PACKET socket), spread
//!   over a number of flows, or with every frame a new flow.
//! * `sink` attaches an XDP program to the receiving host's interface that
//!   counts and drops the generator's frames, and reports the frames that
//!   arrived in a measurement window after a warm-up, with the CPU time
//!   the whole machine spent in that window.
//! * `pass` attaches a program that passes everything, so that a veth
//!   accepts redirected frames for the kernel's stack.
//! * `echo` and `rtt`: a UDP echo server and a client that measures round
//!   trips through the NAT at a low rate.
//!
//! [`xdp`] holds the generator and sink programs (xdp/gen.c, compiled by
//! build.rs) and drives them through libbpf-rs; [`packet`] is the
//! AF_PACKET sender, the only module with `unsafe` code.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod packet;
mod xdp;

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use masq_xsk::netinfo;

#[derive(Parser, Debug)]
#[command(
    name = "masq-gen",
    about = "Traffic generator, sink and latency probe of masq's end-to-end benchmark"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Via {
    /// BPF_PROG_RUN with live frames, redirected out of the interface.
    Live,
    /// An AF_PACKET socket (qdisc bypassed, sendmmsg).
    Packet,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Send 60-byte UDP frames; prints one JSON line with what was sent.
    Send {
        /// Interface the frames leave from.
        #[arg(long)]
        iface: String,
        /// Destination MAC (the receiver's interface).
        #[arg(long)]
        dst_mac: String,
        /// First source address.
        #[arg(long)]
        src: Ipv4Addr,
        /// First destination address.
        #[arg(long)]
        dst: Ipv4Addr,
        /// Destination port (the sink counts this port).
        #[arg(long, default_value_t = 9)]
        dst_port: u16,
        /// Distinct flows; 0 makes every frame a new flow.
        #[arg(long, default_value_t = 1)]
        flows: u32,
        /// Source addresses the flows are spread over.
        #[arg(long, default_value_t = 256)]
        hosts: u32,
        /// Destination addresses the flows are spread over.
        #[arg(long, default_value_t = 1)]
        dsts: u32,
        /// How long to send.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// How frames are sent.
        #[arg(long, value_enum, default_value_t = Via::Live)]
        via: Via,
    },
    /// Count and drop the generator's frames arriving at an interface;
    /// prints one JSON line for the window after the warm-up.
    Sink {
        /// Interface to attach to.
        #[arg(long)]
        iface: String,
        /// UDP destination port counted (other traffic passes).
        #[arg(long, default_value_t = 9)]
        port: u16,
        /// Seconds before the window opens.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Length of the window.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Also report the busy time of this CPU (the NAT's core).
        #[arg(long)]
        core: Option<usize>,
    },
    /// Pass everything on an interface for a while.
    Pass {
        /// Interface to attach to.
        #[arg(long)]
        iface: String,
        /// How long to stay attached.
        #[arg(long)]
        seconds: f64,
    },
    /// Echo UDP datagrams back to their sender.
    Echo {
        /// Local address to listen on.
        #[arg(long, default_value = "0.0.0.0:7")]
        listen: SocketAddrV4,
        /// How long to serve.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
    },
    /// Measure UDP round trips to an echo server; prints one JSON line.
    Rtt {
        /// The echo server.
        #[arg(long)]
        to: SocketAddrV4,
        /// Probes to send.
        #[arg(long, default_value_t = 2000)]
        count: u32,
        /// Probes per second.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// How long to wait for each answer, in milliseconds.
        #[arg(long, default_value_t = 200)]
        timeout_ms: u64,
        /// Probes sent first and not timed (they pay for address
        /// resolution and for creating the NAT's session).
        #[arg(long, default_value_t = 10)]
        warmup: u32,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("masq-gen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    s.split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<Vec<u8>, _>>()
        .ok()
        .and_then(|v| <[u8; 6]>::try_from(v).ok())
        .ok_or_else(|| format!("bad MAC address {s:?} (want aa:bb:cc:dd:ee:ff)"))
}

fn duration(secs: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs).map_err(|_| format!("bad {what}: {secs}"))
}

fn run(cmd: Cmd) -> Result<(), String> {
    match cmd {
        Cmd::Send {
            iface,
            dst_mac,
            src,
            dst,
            dst_port,
            flows,
            hosts,
            dsts,
            seconds,
            via,
        } => {
            if hosts == 0 || dsts == 0 {
                return Err("--hosts and --dsts must be at least 1".into());
            }
            let src_mac = netinfo::mac_of(&iface)
                .map_err(|e| format!("{iface}: {e}"))?
                .0;
            let t = xdp::Traffic {
                iface,
                macs: (src_mac, parse_mac(&dst_mac)?),
                src: src.into(),
                dst: dst.into(),
                dst_port,
                base_port: 1024,
                flows,
                hosts,
                dsts,
            };
            let d = duration(seconds, "--seconds")?;
            let start = Instant::now();
            let n = match via {
                Via::Live => xdp::generate(&t, d),
                Via::Packet => packet::generate_packet(&t, d),
            }
            .map_err(|e| e.to_string())?;
            let dt = start.elapsed().as_secs_f64();
            println!(
                "{{\"sent\":{n},\"seconds\":{dt:.3},\"mpps\":{:.4}}}",
                n as f64 / dt / 1e6
            );
            Ok(())
        }
        Cmd::Pass { iface, seconds } => {
            let _pass = xdp::Sink::attach_pass(&iface).map_err(|e| format!("{iface}: {e}"))?;
            std::thread::sleep(duration(seconds, "--seconds")?);
            Ok(())
        }
        Cmd::Sink {
            iface,
            port,
            warmup,
            seconds,
            core,
        } => {
            let sink = xdp::Sink::attach(&iface, port).map_err(|e| format!("{iface}: {e}"))?;
            std::thread::sleep(duration(warmup, "--warmup")?);
            let count = || sink.count().map_err(|e| e.to_string());
            let (c0, b0, t0) = (count()?, cpu_busy()?, Instant::now());
            std::thread::sleep(duration(seconds, "--seconds")?);
            let (c1, b1, dt) = (count()?, cpu_busy()?, t0.elapsed().as_secs_f64());
            let frames = c1 - c0;
            let busy = |b: &[f64], i: usize| b.get(i).copied().unwrap_or(0.0);
            let core_busy = match core {
                Some(c) if c + 1 < b0.len() => format!(
                    ",\"core_busy_s\":{:.3}",
                    busy(&b1, c + 1) - busy(&b0, c + 1)
                ),
                Some(c) => return Err(format!("--core {c}: no such CPU in /proc/stat")),
                None => String::new(),
            };
            println!(
                "{{\"frames\":{frames},\"seconds\":{dt:.3},\"mpps\":{:.4},\"cpu_busy_s\":{:.3}{core_busy}}}",
                frames as f64 / dt / 1e6,
                busy(&b1, 0) - busy(&b0, 0)
            );
            Ok(())
        }
        Cmd::Echo { listen, seconds } => echo(listen, duration(seconds, "--seconds")?),
        Cmd::Rtt {
            to,
            count,
            rate,
            timeout_ms,
            warmup,
        } => rtt(
            to,
            count,
            warmup,
            rate.max(1),
            Duration::from_millis(timeout_ms),
        ),
    }
}

/// Seconds spent busy (user, nice, system, irq, softirq, steal) since
/// boot, from /proc/stat: all CPUs together first, then CPU 0, 1, ...
fn cpu_busy() -> Result<Vec<f64>, String> {
    let s = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let mut out = Vec::new();
    for line in s.lines().take_while(|l| l.starts_with("cpu")) {
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if v.len() < 8 {
            return Err(format!("/proc/stat: unexpected line {line:?}"));
        }
        // user nice system idle iowait irq softirq steal, in USER_HZ (100
        // per second in every Linux architecture's ABI).
        out.push((v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) as f64 / 100.0);
    }
    if out.is_empty() {
        return Err("/proc/stat: no cpu lines".into());
    }
    Ok(out)
}

fn echo(listen: SocketAddrV4, d: Duration) -> Result<(), String> {
    let s = UdpSocket::bind(listen).map_err(|e| format!("bind {listen}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut buf = [0u8; 2048];
    while start.elapsed() < d {
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], from);
        }
    }
    Ok(())
}

/// Synchronous probes at `rate` per second: each carries its sequence
/// number and is timed from send to the matching answer; late answers to
/// earlier probes are skipped. The first `warmup` are not timed.
fn rtt(
    to: SocketAddrV4,
    count: u32,
    warmup: u32,
    rate: u32,
    timeout: Duration,
) -> Result<(), String> {
    let s = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("bind: {e}"))?;
    s.connect(to).map_err(|e| format!("connect {to}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let gap = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut rtts_us: Vec<f64> = Vec::with_capacity(count as usize);
    let start = Instant::now();
    let mut buf = [0u8; 64];
    for seq in 0..count + warmup {
        let due = start + gap * seq;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut probe = [0u8; 18];
        probe[..4].copy_from_slice(&seq.to_be_bytes());
        let sent = Instant::now();
        s.send(&probe).map_err(|e| format!("send to {to}: {e}"))?;
        loop {
            match s.recv(&mut buf) {
                Ok(n) if n >= 4 && buf[..4] == seq.to_be_bytes() => {
                    if seq >= warmup {
                        rtts_us.push(sent.elapsed().as_secs_f64() * 1e6);
                    }
                    break;
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
    let received = rtts_us.len();
    if received == 0 {
        return Err(format!("no answer from {to} to {count} probes"));
    }
    rtts_us.sort_by(f64::total_cmp);
    let q = |p: f64| rtts_us[((received as f64 - 1.0) * p).round() as usize];
    println!(
        "{{\"sent\":{count},\"received\":{received},\"p50_us\":{:.1},\"p99_us\":{:.1},\"max_us\":{:.1}}}",
        q(0.5),
        q(0.99),
        rtts_us[received - 1]
    );
    Ok(())
}
