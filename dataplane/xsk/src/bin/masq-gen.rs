//! masq-gen: the end-to-end benchmark's traffic generator and sink.
//!
//!   masq-gen send IFACE DST_MAC SRC_ADDR DST_ADDR FLOWS SECONDS
//!   masq-gen send-packet IFACE DST_MAC SRC_ADDR DST_ADDR FLOWS SECONDS
//!   masq-gen sink IFACE SECONDS
//!   masq-gen pass IFACE SECONDS
//!
//! `send` replays 60-byte UDP frames (to port 9) out of IFACE for SECONDS,
//! spread over FLOWS flows (source ports from 1024 on 256 addresses from
//! SRC_ADDR; 0: every frame a new flow) and prints the frames sent. `sink`
//! counts the IPv4 UDP frames arriving at IFACE for SECONDS (dropping
//! them) and prints the count. `send-packet` sends the same traffic
//! through an AF_PACKET socket (ordinary socket buffers, slower). `pass` attaches a program that passes
//! everything, so a veth accepts redirected frames for the kernel's stack.
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use masq_xsk::{gen, netinfo};

fn main() -> ExitCode {
    let a: Vec<String> = std::env::args().skip(1).collect();
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("masq-gen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad {what}: {s:?}"))
}

fn run(a: &[String]) -> Result<(), String> {
    match a.first().map(String::as_str) {
        Some(cmd @ ("send" | "send-packet")) if a.len() == 7 => {
            let dst_mac = a[2]
                .split(':')
                .map(|b| u8::from_str_radix(b, 16))
                .collect::<Result<Vec<u8>, _>>()
                .ok()
                .and_then(|v| <[u8; 6]>::try_from(v).ok())
                .ok_or_else(|| format!("bad MAC {:?}", a[2]))?;
            let src: Ipv4Addr = num(&a[3], "source address")?;
            let dst: Ipv4Addr = num(&a[4], "destination address")?;
            let flows: u32 = num(&a[5], "flow count")?;
            let secs: f64 = num(&a[6], "seconds")?;
            let src_mac = netinfo::mac_of(&a[1]).map_err(|e| e.to_string())?.0;
            let t = gen::Traffic {
                iface: a[1].clone(),
                template: gen::udp_template(src_mac, dst_mac, src.into(), dst.into(), 1024, 9),
                flows,
                base_port: 1024,
                base_addr: src.into(),
            };
            let start = Instant::now();
            let d = Duration::from_secs_f64(secs);
            let n = if cmd == "send" { gen::generate(&t, d) } else { gen::generate_packet(&t, d) }
                .map_err(|e| e.to_string())?;
            let dt = start.elapsed().as_secs_f64();
            println!("sent {n} frames in {dt:.3} s = {:.3} Mpps", n as f64 / dt / 1e6);
            Ok(())
        }
        Some("pass") if a.len() == 3 => {
            let secs: f64 = num(&a[2], "seconds")?;
            let _pass = gen::Sink::attach_pass(&a[1]).map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_secs_f64(secs));
            Ok(())
        }
        Some("sink") if a.len() == 3 => {
            let secs: f64 = num(&a[2], "seconds")?;
            let sink = gen::Sink::attach(&a[1]).map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_secs_f64(secs));
            println!("received {}", sink.count().map_err(|e| e.to_string())?);
            Ok(())
        }
        _ => Err("usage: masq-gen send|send-packet IFACE DST_MAC SRC_ADDR DST_ADDR FLOWS SECONDS | masq-gen sink IFACE SECONDS | masq-gen pass IFACE SECONDS".into()),
    }
}
