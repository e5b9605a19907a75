//! `/metrics` and `/healthz`: one request at a time, read within a
//! deadline so that a client that trickles bytes cannot hold the control
//! thread.

use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use masq_xsk::command::{Command, Reply};
use masq_xsk::worker;

use super::Control;
use crate::metrics::Scrape;

/// The longest the control thread reads one HTTP request.
const HTTP_REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

impl Control {
    pub(super) fn scrape(&mut self) -> Scrape {
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

    pub(super) fn serve_http(&mut self, mut conn: std::net::TcpStream) {
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
}
