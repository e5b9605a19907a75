//! The admin interface: a Unix socket (mode 0600) served by the control
//! thread, and the client subcommands of the same binary.
//!
//! The protocol is one JSON request per connection, one JSON answer, then
//! the server closes the connection. Answers are built from snapshots the
//! workers take between batches (see `masq_xsk::command`); the workers
//! never stop forwarding for them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use masq_core::addr::fmt_addr;
use masq_core::proto;
use masq_core::{Endpoint, HeldKind, SessionInfo, TcpState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// List sessions.
    Sessions {
        /// Only this subscriber's.
        subscriber: Option<Ipv4Addr>,
        /// Only this external address, and port when not 0.
        external: Option<(Ipv4Addr, u16)>,
        /// Most sessions to return.
        limit: usize,
    },
    /// List subscribers with their sessions and port blocks.
    Subscribers,
    /// Counters and gauges.
    Stats,
    /// Remove sessions (all, or those selected).
    Flush {
        /// Only this subscriber's.
        subscriber: Option<Ipv4Addr>,
        /// Only this external address, and port when not 0.
        #[serde(default)]
        external: Option<(Ipv4Addr, u16)>,
    },
    /// Fault injection: one worker sleeps as a stuck worker would
    /// (refused unless masq runs with `--fault-injection`).
    PauseWorker {
        /// The worker.
        worker: usize,
        /// How long, in milliseconds.
        millis: u64,
    },
    /// Drain the box (`on`): its access routes are announced as draining
    /// (realm 3) while its pool stays announced; or end the drain.
    Drain {
        /// Whether the box drains.
        on: bool,
    },
}

/// Largest request accepted.
const MAX_REQUEST: u64 = 64 * 1024;

/// Reads one request from a connection.
pub fn read_request(stream: &UnixStream) -> Result<Request, String> {
    let mut line = String::new();
    BufReader::new(stream.take(MAX_REQUEST))
        .read_line(&mut line)
        .map_err(|e| format!("reading the request: {e}"))?;
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))
}

/// The JSON of one session, with ages relative to `now_s`. An
/// address-only session (GRE, ESP, ...) has addresses without ports;
/// `protocol` is the name, or the number of a protocol without one. A
/// held session (PCP, NAT-PMP) names its hold (`pcp map`, `pcp peer`)
/// and the seconds it is held for; a held map's remote is `any`.
pub fn session_json(s: &SessionInfo, now_s: u32) -> Value {
    let ep = |e: Endpoint| {
        if proto::is_address_only(s.proto) {
            fmt_addr(e.addr).to_string()
        } else {
            endpoint(e)
        }
    };
    json!({
        "protocol": proto::Name(s.proto).to_string(),
        "protocol_number": s.proto,
        "inside": ep(s.inside),
        "outside": ep(s.outside),
        "remote": match s.held {
            Some((HeldKind::Map, _)) => "any".to_string(),
            _ => ep(s.remote),
        },
        "state": s.tcp.map(TcpState::name),
        "held": s.held.map(|(k, _)| k.name()),
        "held_for_s": s.held.map(|(_, until)| until.saturating_sub(now_s)),
        "idle_s": now_s.saturating_sub(s.last_seen),
        "expires_in_s": s.expires.saturating_sub(now_s),
    })
}

fn endpoint(e: Endpoint) -> String {
    format!("{}:{}", fmt_addr(e.addr), e.port)
}

/// Sends `req` to the server at `socket` and returns its answer.
pub fn call(socket: &Path, req: &Request) -> Result<Value, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| {
        format!(
            "{}: {e} (is masq running, with this admin_socket, and are you root?)",
            socket.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut line = serde_json::to_string(req).map_err(|e| e.to_string())?;
    line.push('\n');
    s.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    let v: Value = serde_json::from_str(&out).map_err(|e| format!("bad answer: {e}"))?;
    match v.get("error").and_then(Value::as_str) {
        Some(e) => Err(e.to_string()),
        None => Ok(v),
    }
}

/// An answer as a human-readable table.
pub fn table(req: &Request, v: &Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    };
    match req {
        Request::Sessions { .. } => {
            let _ = writeln!(
                out,
                "{:<7} {:<21} {:<21} {:<21} {:<12} {:>6} {:>8}",
                "PROTO", "INSIDE", "OUTSIDE", "REMOTE", "STATE", "IDLE", "EXPIRES"
            );
            for x in v["sessions"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "{:<7} {:<21} {:<21} {:<21} {:<12} {:>5}s {:>7}s",
                    s(&x["protocol"]),
                    s(&x["inside"]),
                    s(&x["outside"]),
                    s(&x["remote"]),
                    // A held session shows its hold in place of its state.
                    match &x["held"] {
                        Value::Null => s(&x["state"]),
                        h => s(h),
                    },
                    s(&x["idle_s"]),
                    s(&x["expires_in_s"])
                );
            }
            let _ = writeln!(
                out,
                "{} session(s){}",
                s(&v["count"]),
                if v["truncated"] == true {
                    " (limit reached)"
                } else {
                    ""
                }
            );
        }
        Request::Subscribers => {
            let _ = writeln!(
                out,
                "{:<16} {:>8} {:>4}  BLOCKS",
                "SUBSCRIBER", "SESSIONS", "PCP"
            );
            for x in v["subscribers"].as_array().into_iter().flatten() {
                let blocks: Vec<String> = x["blocks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| {
                        format!(
                            "{}:{}-{}",
                            s(&b["external"]),
                            s(&b["first_port"]),
                            s(&b["last_port"])
                        )
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "{:<16} {:>8} {:>4}  {}",
                    s(&x["subscriber"]),
                    s(&x["sessions"]),
                    s(&x["pcp_mappings"]),
                    blocks.join(" ")
                );
            }
        }
        Request::Stats => {
            let health: Vec<&str> = v["health"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{:<28} {}",
                "health",
                if health.is_empty() {
                    "ok".to_string()
                } else {
                    health.join("; ")
                }
            );
            if let Some(a) = v["routes_held"].as_array() {
                let r: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
                let r = if r.is_empty() {
                    "none".to_string()
                } else {
                    r.join(", ")
                };
                let _ = writeln!(out, "{:<28} {r}", "routes held");
            }
            if let Some(o) = v["totals"].as_object() {
                for (k, x) in o {
                    let _ = writeln!(out, "{k:<28} {}", s(x));
                }
            }
            if let Some(o) = v["drops"].as_object() {
                for (k, x) in o.iter().filter(|(_, x)| x.as_u64() != Some(0)) {
                    let _ = writeln!(out, "drop {k:<23} {}", s(x));
                }
            }
        }
        Request::Flush { .. } => {
            let _ = writeln!(out, "flushed {} session(s)", s(&v["flushed"]));
        }
        Request::PauseWorker { .. } => {
            let _ = writeln!(
                out,
                "worker {} pauses for {} ms",
                s(&v["paused"]),
                s(&v["millis"])
            );
        }
        Request::Drain { .. } => {
            let _ = writeln!(out, "{}", s(&v["routing"]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_json() {
        let cases = [
            (
                Request::Sessions {
                    subscriber: Some(Ipv4Addr::new(192, 168, 1, 2)),
                    external: Some((Ipv4Addr::new(203, 0, 113, 7), 40123)),
                    limit: 10,
                },
                r#"{"cmd":"sessions","subscriber":"192.168.1.2","external":["203.0.113.7",40123],"limit":10}"#,
            ),
            (Request::Stats, r#"{"cmd":"stats"}"#),
            (
                Request::Flush {
                    subscriber: None,
                    external: Some((Ipv4Addr::new(203, 0, 113, 7), 0)),
                },
                r#"{"cmd":"flush","subscriber":null,"external":["203.0.113.7",0]}"#,
            ),
        ];
        for (req, text) in cases {
            assert_eq!(serde_json::to_string(&req).unwrap(), text);
            assert_eq!(serde_json::from_str::<Request>(text).unwrap(), req);
        }
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
        // A client that does not know --external asks for every session.
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"flush","subscriber":null}"#).unwrap(),
            Request::Flush {
                subscriber: None,
                external: None
            }
        );
    }

    #[test]
    fn session_json_names_every_side() {
        let e = |a: [u8; 4], port| Endpoint {
            addr: u32::from_be_bytes(a),
            port,
        };
        let s = SessionInfo {
            proto: 6,
            inside: e([192, 168, 1, 2], 5000),
            outside: e([203, 0, 113, 7], 40123),
            remote: e([198, 51, 100, 1], 443),
            tcp: Some(masq_core::TcpState::Established),
            last_seen: 100,
            expires: 7540,
            held: None,
        };
        let v = session_json(&s, 110);
        assert_eq!(v["protocol"], "tcp");
        assert_eq!(v["inside"], "192.168.1.2:5000");
        assert_eq!(v["outside"], "203.0.113.7:40123");
        assert_eq!(v["remote"], "198.51.100.1:443");
        assert_eq!(v["state"], "established");
        assert_eq!(v["idle_s"], 10);
        assert_eq!(v["expires_in_s"], 7430);
        let gre = SessionInfo {
            proto: 47,
            inside: e([192, 168, 1, 2], 0),
            outside: e([203, 0, 113, 7], 0),
            remote: e([198, 51, 100, 1], 0),
            tcp: None,
            ..s
        };
        let v = session_json(&gre, 110);
        assert_eq!(v["protocol"], "gre");
        assert_eq!(v["protocol_number"], 47);
        assert_eq!(v["inside"], "192.168.1.2");
        assert_eq!(v["outside"], "203.0.113.7");
        assert_eq!(v["remote"], "198.51.100.1");
        assert_eq!(v["state"], Value::Null);
        let v = session_json(&SessionInfo { proto: 253, ..gre }, 110);
        assert_eq!(v["protocol"], "253");
        assert_eq!(v["held"], Value::Null);
        let map = SessionInfo {
            proto: 17,
            remote: e([0, 0, 0, 0], 0),
            tcp: None,
            held: Some((HeldKind::Map, 3710)),
            ..s
        };
        let v = session_json(&map, 110);
        assert_eq!(v["remote"], "any");
        assert_eq!(v["held"], "pcp map");
        assert_eq!(v["held_for_s"], 3600);
        let peer = SessionInfo {
            held: Some((HeldKind::Peer, 200)),
            ..s
        };
        let v = session_json(&peer, 110);
        assert_eq!(v["remote"], "198.51.100.1:443");
        assert_eq!(v["held"], "pcp peer");
        assert_eq!(v["held_for_s"], 90);
    }
}
