//! The answer of the event log: each holding (what, from which line,
//! until which and how it ended) and what was read, as text and JSON.

use std::fmt;

use masq_core::addr::fmt_addr;
use masq_core::proto;
use serde_json::{json, Value};

use super::{Held, Ms};
use crate::eventlog::rfc3339;

/// How a holding ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Its release (block-release, mapping-delete, session-delete).
    Released,
    /// Another beginning on the same ports, with no release logged
    /// between (a restart, a lost line).
    TakenOver,
}

/// A holding: what, from when (and the line), until when and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// What was held.
    pub held: Held,
    /// When it began, and the line that says so; None: before the log's
    /// first line (the log has only its end).
    pub from: Option<(Ms, String)>,
    /// When it ended, the line, and how; None: held to the log's end.
    pub until: Option<(Ms, String, End)>,
}

impl Span {
    pub(super) fn what(&self, addr: &str) -> String {
        let ep = |(a, p): (u32, u16)| format!("{}:{p}", fmt_addr(a));
        match self.held {
            Held::Block { subscriber, ports } => format!(
                "block: subscriber {} held {addr} ports {}-{}",
                fmt_addr(subscriber),
                ports.0,
                ports.1
            ),
            Held::Mapping {
                proto: p,
                inside,
                port,
            } => format!(
                "mapping {}: inside {} -> external {addr}:{port}",
                proto::name_of(p),
                ep(inside)
            ),
            Held::Session {
                proto: p,
                inside,
                port,
                remote,
            } => {
                let mut s = format!(
                    "session {}: inside {} -> external {addr}:{port}",
                    proto::name_of(p),
                    ep(inside)
                );
                if let Some(r) = remote {
                    s += &format!(" remote {}", ep(r));
                }
                s
            }
        }
    }

    fn line(&self, addr: &str) -> String {
        let until = match &self.until {
            None => "held at the end of the log".to_string(),
            Some((ms, at, End::Released)) => format!("until {} ({at})", rfc3339(*ms)),
            Some((ms, at, End::TakenOver)) => format!(
                "until {} ({at}: taken over; no release logged)",
                rfc3339(*ms)
            ),
        };
        let from = match &self.from {
            Some((ms, at)) => format!("from {} ({at})", rfc3339(*ms)),
            None => "from before the log's first line".to_string(),
        };
        format!("{} {from} {until}", self.what(addr))
    }

    fn json(&self, addr: &str) -> Value {
        let mut v = json!({
            "kind": self.held.kind(),
            "what": self.what(addr),
            "from": self.from.as_ref().map(|f| rfc3339(f.0)),
            "from_line": self.from.as_ref().map(|f| f.1.clone()),
        });
        if let Held::Block { subscriber, ports } = self.held {
            v["subscriber"] = fmt_addr(subscriber).to_string().into();
            v["first_port"] = ports.0.into();
            v["last_port"] = ports.1.into();
        }
        if let Held::Mapping { inside, .. } | Held::Session { inside, .. } = self.held {
            v["inside"] = format!("{}:{}", fmt_addr(inside.0), inside.1).into();
        }
        match &self.until {
            None => v["until"] = Value::Null,
            Some((ms, at, how)) => {
                v["until"] = rfc3339(*ms).into();
                v["until_line"] = at.clone().into();
                v["ended_by"] = match how {
                    End::Released => "release",
                    End::TakenOver => "takeover",
                }
                .into();
            }
        }
        v
    }
}

/// The answer of the log.
#[derive(Clone, Debug)]
pub struct Answer {
    /// `external IP[:PORT]`.
    pub query: String,
    /// The time asked about.
    pub at: Ms,
    /// What was held then.
    pub held: Vec<Span>,
    /// The last holding that ended before, when nothing was held.
    pub before: Option<Span>,
    /// The next holding that began after.
    pub after: Option<Span>,
    /// Events the log has on the address (and port).
    pub events: usize,
    pub(super) files: usize,
    pub(super) lines: usize,
    pub(super) masq: usize,
    pub(super) other: usize,
    pub(super) unreadable: usize,
    pub(super) named_bad: Vec<String>,
}

impl fmt::Display for Answer {
    /// The held lines, or why there are none, then what was read.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addr = self.addr();
        let when = rfc3339(self.at);
        if self.held.is_empty() {
            if self.events == 0 {
                writeln!(
                    f,
                    "{} at {when}: the log holds no event on it (nothing allocated, mapped \
                     or in session there)",
                    self.query
                )?;
            } else {
                writeln!(f, "{} at {when}: nothing held it then", self.query)?;
            }
            if let Some(b) = &self.before {
                writeln!(f, "before: {}", b.line(&addr))?;
            }
            if let Some(a) = &self.after {
                writeln!(f, "after: {}", a.line(&addr))?;
            }
        } else {
            writeln!(f, "{} at {when}:", self.query)?;
            for s in &self.held {
                writeln!(f, "{}", s.line(&addr))?;
            }
        }
        writeln!(f, "{}", self.read_line())?;
        for b in &self.named_bad {
            writeln!(f, "{b}")?;
        }
        Ok(())
    }
}

impl Answer {
    fn addr(&self) -> String {
        let a = self.query.trim_start_matches("external ");
        a.split(':').next().unwrap_or(a).to_string()
    }

    fn read_line(&self) -> String {
        format!(
            "log: {} file(s), {} lines: {} masq lines ({} events on it), {} other lines \
             skipped, {} unreadable",
            self.files, self.lines, self.masq, self.events, self.other, self.unreadable
        )
    }

    /// The answer as JSON.
    pub fn json(&self) -> Value {
        let addr = self.addr();
        let span = |s: &Option<Span>| s.as_ref().map_or(Value::Null, |s| s.json(&addr));
        json!({
            "query": self.query,
            "at": rfc3339(self.at),
            "held": self.held.iter().map(|s| s.json(&addr)).collect::<Vec<_>>(),
            "before": span(&self.before),
            "after": span(&self.after),
            "events_on_it": self.events,
            "read": {
                "files": self.files,
                "lines": self.lines,
                "masq_lines": self.masq,
                "other_lines": self.other,
                "unreadable": self.unreadable,
                "unreadable_lines": self.named_bad,
            },
        })
    }
}
