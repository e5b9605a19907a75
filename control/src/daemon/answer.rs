//! Answers on the admin socket (`masq sessions`, `subscribers`, `stats`,
//! `flush`, `pause-worker`): one JSON request, one JSON answer.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use masq_core::addr::fmt_addr;
use masq_core::{DropReason, SessionInfo, SubscriberInfo};
use masq_xsk::command::{Command, Reply, Select};
use masq_xsk::worker::Io;
use masq_xsk::xdp;
use serde_json::{json, Value};

use super::Control;
use crate::admin::{self, Request};
use crate::external::External;

impl Control {
    pub(super) fn serve_admin(&mut self, conn: std::os::unix::net::UnixStream) {
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

    pub(super) fn answer(&mut self, req: Request) -> Result<Value, String> {
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
                // One entry per subscriber: its address-only sessions may
                // sit on other workers than its own, each with a record.
                let mut merged: Vec<SubscriberInfo> = Vec::new();
                let mut at: std::collections::HashMap<u32, usize> = Default::default();
                for r in replies {
                    if let Reply::Subscribers(v) = r {
                        for s in v {
                            match at.get(&s.addr) {
                                Some(&i) => {
                                    merged[i].sessions += s.sessions;
                                    merged[i].held += s.held;
                                    merged[i].blocks.extend(s.blocks);
                                }
                                None => {
                                    at.insert(s.addr, merged.len());
                                    merged.push(s);
                                }
                            }
                        }
                    }
                }
                let list: Vec<Value> = merged
                    .iter()
                    .map(|s| {
                        let blocks: Vec<Value> = s
                            .blocks
                            .iter()
                            .map(|(a, lo, hi)| {
                                json!({"external": fmt_addr(*a).to_string(), "first_port": lo, "last_port": hi})
                            })
                            .collect();
                        json!({
                            "subscriber": fmt_addr(s.addr).to_string(),
                            "sessions": s.sessions,
                            "pcp_mappings": s.held,
                            "blocks": blocks,
                        })
                    })
                    .collect();
                Ok(json!({ "count": list.len(), "subscribers": list }))
            }
            Request::Flush {
                subscriber,
                external,
            } => {
                let select = Select {
                    subscriber: subscriber.map(u32::from),
                    external: external.map(|(a, p)| (u32::from(a), p)),
                };
                let n: usize = self
                    .ask(|_| Command::Flush(select))?
                    .into_iter()
                    .map(|r| match r {
                        Reply::Flushed(n) => n,
                        _ => 0,
                    })
                    .sum();
                if select == Select::default() {
                    // PCP clients learn that their mappings are gone.
                    self.pcp_mappings_lost();
                }
                Ok(json!({ "flushed": n }))
            }
            Request::Stats => Ok(self.stats_json()),
            Request::Drain { on } => self.drain(on),
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

    pub(super) fn stats_json(&self) -> Value {
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
                External::Pool => Value::from(self.rc.core.pool.iter().map(|p| p.to_string()).collect::<Vec<_>>()),
                e if e.is_up() => Value::from(e.to_string()),
                _ => Value::Null,
            },
            "external_address_changes": self.address_changes,
            "reloads_ok": self.reloads.0,
            "reloads_failed": self.reloads.1,
            "workers_stalled": self.stalled(),
            "health": self.health(),
            "routes_held": self.routing_routes(),
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
                "sessions_released": core("sessions_released"),
                "handed_off": io(Io::HandedOff),
                "frames_unaccounted": sh.total(|s| s.frames_unaccounted.load(r)),
            },
            "drops": drops,
            "xdp_drops": xdp_drops,
        })
    }
}
