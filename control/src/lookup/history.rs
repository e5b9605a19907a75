//! `masq lookup --at TIME --log FILE`: who held an external IP:PORT at a
//! time, read from the NAT event log as syslog lines
//! (docs/event-logging.md): the port block that covered the port
//! (`block-allocate` .. `block-release`), and the PCP mappings
//! (`mapping-create` .. `mapping-delete`) and sessions (`session-create`
//! .. `session-delete`) on that exact address and port. The time of an
//! event is its line's timestamp. Reading is lenient: lines that are not
//! masq's are counted and skipped, a masq line that cannot be read is
//! named (file and line) and skipped; nothing here panics on its input.

use std::io::BufRead;
use std::net::Ipv4Addr;

use masq_core::addr::fmt_addr;
use masq_core::event::name::{
    BLOCK_ALLOCATE, BLOCK_RELEASE, MAPPING_CREATE, MAPPING_DELETE, SESSION_CREATE, SESSION_DELETE,
};

mod answer;
mod time;

pub use answer::{Answer, End, Span};
pub use time::{parse_at, parse_rfc3339, Ms};

/// Unreadable lines named one by one in the answer; the rest are counted.
const NAMED_BAD: usize = 10;

/// What an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// A port block of a subscriber.
    Block {
        /// Inside address of the subscriber.
        subscriber: u32,
        /// First and last port.
        ports: (u16, u16),
    },
    /// A PCP or NAT-PMP mapping.
    Mapping {
        /// Its protocol number.
        proto: u8,
        /// Inside address and port.
        inside: (u32, u16),
        /// External port.
        port: u16,
    },
    /// A session.
    Session {
        /// Its protocol number.
        proto: u8,
        /// Inside address and port.
        inside: (u32, u16),
        /// External port.
        port: u16,
        /// Remote address and port, when the log has it.
        remote: Option<(u32, u16)>,
    },
}

impl Held {
    /// The ports on the external address it covers.
    fn ports(&self) -> (u16, u16) {
        match *self {
            Held::Block { ports, .. } => ports,
            Held::Mapping { port, .. } | Held::Session { port, .. } => (port, port),
        }
    }

    /// Whether `end` ends what `self` began: the same thing, or (a later
    /// beginning) the same kind taking the same ports over.
    fn ended_by(&self, end: &Held, takeover: bool) -> bool {
        if takeover {
            let (a, b) = (self.ports(), end.ports());
            std::mem::discriminant(self) == std::mem::discriminant(end)
                && a.0 <= b.1
                && b.0 <= a.1
                && match (self, end) {
                    (Held::Mapping { proto: p, .. }, Held::Mapping { proto: q, .. })
                    | (Held::Session { proto: p, .. }, Held::Session { proto: q, .. }) => p == q,
                    _ => true,
                }
        } else {
            match (self, end) {
                (
                    Held::Session {
                        proto,
                        inside,
                        port,
                        remote,
                    },
                    Held::Session {
                        proto: p2,
                        inside: i2,
                        port: o2,
                        remote: r2,
                    },
                ) => {
                    (proto, inside, port) == (p2, i2, o2)
                        && (remote.is_none() || r2.is_none() || remote == r2)
                }
                _ => self == end,
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Held::Block { .. } => "block",
            Held::Mapping { .. } => "mapping",
            Held::Session { .. } => "session",
        }
    }
}

/// One event on the address asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Event {
    ms: Ms,
    begins: bool,
    held: Held,
    /// Index of the file, and the line number in it.
    file: usize,
    line: usize,
}

/// The event log read for one external address (and port).
#[derive(Debug)]
pub struct Scan {
    addr: u32,
    port: Option<u16>,
    files: Vec<String>,
    events: Vec<Event>,
    /// Lines read.
    pub lines: usize,
    /// Lines of masq (syslog APP-NAME masq).
    pub masq: usize,
    /// Lines of other programs (or not syslog), skipped.
    pub other: usize,
    /// masq lines that could not be read, skipped.
    pub unreadable: usize,
    named_bad: Vec<String>,
}

/// The key=value words of a message.
fn field<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

fn endpoint(s: &str) -> Option<(u32, u16)> {
    let (a, p) = s.split_once(':')?;
    Some((u32::from(a.parse::<Ipv4Addr>().ok()?), p.parse().ok()?))
}

/// A masq message's event on `external`: Ok(None) when it is an event
/// of another kind; Err names what is missing.
fn message(words: &[&str]) -> Result<Option<(bool, u32, Held)>, String> {
    let name = words.first().copied().unwrap_or("");
    let need = |k: &str| field(words, k).ok_or_else(|| format!("{name} without a valid {k}="));
    let addr = |k: &str| {
        need(k)?
            .parse::<Ipv4Addr>()
            .map(u32::from)
            .map_err(|_| format!("{name} without a valid {k}="))
    };
    let ep = |k: &str| endpoint(need(k)?).ok_or_else(|| format!("{name} without a valid {k}="));
    let proto = || {
        need("proto")?
            .parse::<u8>()
            .map_err(|_| format!("{name} without a valid proto="))
    };
    // Every event ends with at=; a line cut short lacks it.
    let complete = || {
        need("at")?
            .parse::<u64>()
            .map_err(|_| format!("{name} without a valid at="))
    };
    let begins = matches!(name, BLOCK_ALLOCATE | MAPPING_CREATE | SESSION_CREATE);
    let out = match name {
        BLOCK_ALLOCATE | BLOCK_RELEASE => {
            let ports = need("ports")?
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .filter(|(a, b): &(u16, u16)| a <= b)
                .ok_or_else(|| format!("{name} without a valid ports=FIRST-LAST"))?;
            let held = Held::Block {
                subscriber: addr("subscriber")?,
                ports,
            };
            (addr("external")?, held)
        }
        MAPPING_CREATE | MAPPING_DELETE => {
            let o = ep("outside")?;
            let held = Held::Mapping {
                proto: proto()?,
                inside: ep("inside")?,
                port: o.1,
            };
            (o.0, held)
        }
        SESSION_CREATE | SESSION_DELETE => {
            let o = ep("outside")?;
            let remote = match field(words, "remote") {
                Some(r) => Some(endpoint(r).ok_or_else(|| format!("{name} with a bad remote="))?),
                None => None,
            };
            let held = Held::Session {
                proto: proto()?,
                inside: ep("inside")?,
                port: o.1,
                remote,
            };
            (o.0, held)
        }
        _ => return Ok(None),
    };
    complete()?;
    Ok(Some((begins, out.0, out.1)))
}

impl Scan {
    /// A scan for `addr`, on `port` only when one is given.
    pub fn new(addr: Ipv4Addr, port: Option<u16>) -> Scan {
        Scan {
            addr: u32::from(addr),
            port,
            files: Vec::new(),
            events: Vec::new(),
            lines: 0,
            masq: 0,
            other: 0,
            unreadable: 0,
            named_bad: Vec::new(),
        }
    }

    /// Reads one log file's lines; an error names the file (and line).
    pub fn read(&mut self, name: &str, r: impl BufRead) -> Result<(), String> {
        let file = self.files.len();
        self.files.push(name.to_string());
        let mut r = r;
        let mut buf = Vec::new();
        let mut n = 0;
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(format!("{name}:{}: {e}", n + 1)),
            }
            n += 1;
            self.line(file, n, &String::from_utf8_lossy(&buf));
        }
    }

    fn line(&mut self, file: usize, n: usize, text: &str) {
        self.lines += 1;
        let words: Vec<&str> = text.split_whitespace().collect();
        // <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG..., from the line's
        // start or after what a collector put before it (journalctl's
        // `Dec 03 10:00:05 host masq[7]: `).
        let header = |w: &&str| {
            w.len() >= 4
                && w.len() <= 6
                && w.starts_with('<')
                && w.ends_with(">1")
                && w[1..w.len() - 2].bytes().all(|b| b.is_ascii_digit())
        };
        let start = words.iter().position(header);
        let words = &words[start.unwrap_or(words.len())..];
        if words.get(3) != Some(&"masq") {
            self.other += 1;
            return;
        }
        self.masq += 1;
        let got = match (words.get(1).and_then(|t| parse_rfc3339(t)), words.get(7..)) {
            (None, _) => Err("masq line without a readable timestamp".to_string()),
            (_, None) => Err("masq line without a message".to_string()),
            (Some(ms), Some(msg)) => message(msg).map(|e| e.map(|e| (ms, e))),
        };
        match got {
            Err(why) => {
                self.unreadable += 1;
                if self.named_bad.len() < NAMED_BAD {
                    self.named_bad
                        .push(format!("{}:{n}: {why} (skipped)", self.files[file]));
                }
            }
            Ok(Some((ms, (begins, external, held)))) => {
                let (lo, hi) = held.ports();
                if external == self.addr && self.port.is_none_or(|p| lo <= p && p <= hi) {
                    self.events.push(Event {
                        ms,
                        begins,
                        held,
                        file,
                        line: n,
                    });
                }
            }
            Ok(None) => {}
        }
    }

    /// Every holding on the address (and port), from the log's events in
    /// time order: each beginning with the end the log gives it.
    fn spans(&self) -> Vec<Span> {
        let mut ev = self.events.clone();
        ev.sort_by_key(|e| e.ms);
        let mut v: Vec<Span> = ev
            .iter()
            .enumerate()
            .filter(|(_, e)| e.begins)
            .map(|(i, e)| {
                let end = ev[i + 1..].iter().find_map(|x| {
                    if !x.begins && e.held.ended_by(&x.held, false) {
                        Some((x, End::Released))
                    } else if x.begins && e.held.ended_by(&x.held, true) {
                        Some((x, End::TakenOver))
                    } else {
                        None
                    }
                });
                Span {
                    held: e.held,
                    from: Some((e.ms, self.at(e))),
                    until: end.map(|(x, how)| (x.ms, self.at(x), how)),
                }
            })
            .collect();
        // A release whose beginning the log lacks (it began before the
        // log's first line, as after a rotation): held until then.
        for (i, e) in ev.iter().enumerate().filter(|(_, e)| !e.begins) {
            if !ev[..i]
                .iter()
                .any(|b| b.begins && b.held.ended_by(&e.held, false))
            {
                v.push(Span {
                    held: e.held,
                    from: None,
                    until: Some((e.ms, self.at(e), End::Released)),
                });
            }
        }
        v
    }

    fn at(&self, e: &Event) -> String {
        format!("{}:{}", self.files[e.file], e.line)
    }

    /// Who held the address (and port) at `at`.
    pub fn who(&self, at: Ms) -> Answer {
        let spans = self.spans();
        let live = |s: &&Span| {
            s.from.as_ref().is_none_or(|f| f.0 <= at) && s.until.as_ref().is_none_or(|u| u.0 >= at)
        };
        let held: Vec<Span> = spans.iter().filter(live).cloned().collect();
        let before = spans
            .iter()
            .filter(|s| s.until.as_ref().is_some_and(|u| u.0 < at))
            .max_by_key(|s| s.until.as_ref().map(|u| u.0))
            .cloned();
        let after = spans
            .iter()
            .filter(|s| s.from.as_ref().is_some_and(|f| f.0 > at))
            .min_by_key(|s| s.from.as_ref().map(|f| f.0))
            .cloned();
        Answer {
            query: match self.port {
                Some(p) => format!("external {}:{p}", fmt_addr(self.addr)),
                None => format!("external {}", fmt_addr(self.addr)),
            },
            at,
            held,
            before,
            after,
            events: self.events.len(),
            files: self.files.len(),
            lines: self.lines,
            masq: self.masq,
            other: self.other,
            unreadable: self.unreadable,
            named_bad: self.named_bad.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
