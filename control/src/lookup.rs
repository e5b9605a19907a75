//! `masq lookup`: which subscribers hold an external address (and port),
//! or where an inside address is translated to, answered from the
//! configuration alone (deterministic NAT, RFC 7422, and static mappings).
//! Dynamic port blocks are handed out at run time; for them the answer is
//! in the event log ([`history`]). [`cluster`] runs the command over one
//! box or several.

use std::fmt;
use std::net::Ipv4Addr;

use masq_core::addr::fmt_addr;
use masq_core::{deterministic, proto, StaticMapping};
use serde_json::{json, Value};

use crate::config::RunConfig;

pub mod cluster;
pub mod history;

/// What is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// Which subscribers hold this external address, on this port only
    /// when one is given.
    External(Ipv4Addr, Option<u16>),
    /// Where this inside address is translated to.
    Inside(Ipv4Addr),
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::External(a, Some(p)) => write!(f, "external {a}:{p}"),
            Query::External(a, None) => write!(f, "external {a}"),
            Query::Inside(a) => write!(f, "inside {a}"),
        }
    }
}

/// One place the configuration gives a subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A one-to-one mapping: every port and protocol.
    OneToOne {
        /// Inside address.
        inside: u32,
        /// Outside address.
        outside: u32,
    },
    /// A port forward of one protocol.
    Forward {
        /// Its protocol number.
        proto: u8,
        /// Inside address and port.
        inside: (u32, u16),
        /// Outside address and port.
        outside: (u32, u16),
    },
    /// Deterministic NAT's fixed block.
    Deterministic(deterministic::Place),
}

impl Answer {
    fn of(m: &StaticMapping) -> Answer {
        match m.proto {
            None => Answer::OneToOne {
                inside: m.inside,
                outside: m.outside,
            },
            Some(proto) => Answer::Forward {
                proto,
                inside: (m.inside, m.inside_port),
                outside: (m.outside, m.outside_port),
            },
        }
    }

    /// The answer as JSON, in the words of its line.
    pub fn json(&self) -> Value {
        match *self {
            Answer::OneToOne { inside, outside } => json!({
                "kind": "static one-to-one",
                "inside": fmt_addr(inside).to_string(),
                "external": fmt_addr(outside).to_string(),
            }),
            Answer::Forward {
                proto,
                inside,
                outside,
            } => json!({
                "kind": "static",
                "protocol": proto::name_of(proto),
                "inside": format!("{}:{}", fmt_addr(inside.0), inside.1),
                "external": format!("{}:{}", fmt_addr(outside.0), outside.1),
            }),
            Answer::Deterministic(p) => json!({
                "kind": "deterministic",
                "inside": fmt_addr(p.inside).to_string(),
                "external": fmt_addr(p.external).to_string(),
                "first_port": p.first_port,
                "last_port": p.last_port,
            }),
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Answer::OneToOne { inside, outside } => write!(
                f,
                "static one-to-one: inside {} -> external {} (every port)",
                fmt_addr(inside),
                fmt_addr(outside)
            ),
            Answer::Forward {
                proto,
                inside,
                outside,
            } => write!(
                f,
                "static {}: inside {}:{} -> external {}:{}",
                proto::name_of(proto),
                fmt_addr(inside.0),
                inside.1,
                fmt_addr(outside.0),
                outside.1
            ),
            Answer::Deterministic(p) => write!(f, "deterministic: {p}"),
        }
    }
}

/// Every place the configuration gives that answers `q`; an error naming
/// the query when nothing does.
pub fn lookup(rc: &RunConfig, q: Query) -> Result<Vec<Answer>, String> {
    let c = &rc.core;
    let mut out = Vec::new();
    match q {
        Query::External(addr, port) => {
            let a = u32::from(addr);
            let holds = |m: &&StaticMapping| {
                m.outside == a && (m.proto.is_none() || port.is_none_or(|p| m.outside_port == p))
            };
            out.extend(c.statics.iter().filter(holds).map(Answer::of));
            if c.deterministic {
                let place = |p: u16| deterministic::outside_to_inside(c, a, p);
                match port {
                    Some(p) => out.extend(place(p).map(Answer::Deterministic)),
                    // Every block of the address, by its first port.
                    None => out.extend(
                        (0..c.blocks_per_addr())
                            .map(|b| (u32::from(c.port_min) + b * u32::from(c.block_size)) as u16)
                            .filter_map(place)
                            .map(Answer::Deterministic),
                    ),
                }
            }
        }
        Query::Inside(addr) => {
            let a = u32::from(addr);
            out.extend(c.statics.iter().filter(|m| m.inside == a).map(Answer::of));
            if c.deterministic {
                out.extend(deterministic::inside_to_outside(c, a).map(Answer::Deterministic));
            }
        }
    }
    if out.is_empty() {
        return Err(if c.deterministic {
            format!("{q}: no subscriber or static mapping has it in this configuration")
        } else {
            format!(
                "{q}: no static mapping has it, and without [deterministic] ports are \
                 handed out at run time: ask the event log (`masq lookup --at TIME --log \
                 FILE`), or `masq sessions` on the running masq"
            )
        });
    }
    Ok(out)
}

/// The answers as lines of text.
pub fn text(answers: &[Answer]) -> String {
    answers.iter().map(|a| format!("{a}\n")).collect()
}

/// The answers as JSON: the query and the list.
pub fn json(q: Query, answers: &[Answer]) -> Value {
    json!({
        "query": q.to_string(),
        "count": answers.len(),
        "answers": answers.iter().map(Answer::json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(extra: &str) -> RunConfig {
        crate::config::parse(&format!(
            "lan = \"lan0\"\nwan = \"wan0\"\ninside = [\"100.64.0.0/24\"]\n\
             pool = [\"203.0.113.0/30\"]\n{extra}"
        ))
        .unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn deterministic_both_ways() {
        let c = rc("[deterministic]\nports_per_subscriber = 1000\n");
        // 64 blocks of 1000 ports per address: subscriber 70 has block 6
        // of the second address.
        let out = lookup(&c, Query::Inside(ip("100.64.0.70"))).unwrap();
        assert_eq!(
            text(&out),
            "deterministic: inside 100.64.0.70 -> external 203.0.113.1 ports 7024-8023\n"
        );
        let back = lookup(&c, Query::External(ip("203.0.113.1"), Some(8000))).unwrap();
        assert_eq!(out, back);
        let e = lookup(&c, Query::External(ip("203.0.113.1"), Some(80))).unwrap_err();
        assert!(e.contains("external 203.0.113.1:80: no subscriber"), "{e}");
        // The address alone: every subscriber with a block on it, in port
        // order (subscribers 64..=127 of the /24 hold .1's 64 blocks;
        // the /24 has 256, so all are held).
        let all = lookup(&c, Query::External(ip("203.0.113.1"), None)).unwrap();
        assert_eq!(all.len(), 64);
        assert_eq!(all[6], out[0]);
        let Answer::Deterministic(last) = all[63] else {
            panic!("{}", all[63])
        };
        assert_eq!(
            (last.inside, last.last_port),
            (u32::from(ip("100.64.0.127")), 65023)
        );
        let j = json(Query::External(ip("203.0.113.1"), None), &all);
        assert_eq!(j["query"], "external 203.0.113.1");
        assert_eq!(j["count"], 64);
        assert_eq!(j["answers"][6]["kind"], "deterministic");
        assert_eq!(j["answers"][6]["inside"], "100.64.0.70");
        assert_eq!(j["answers"][6]["first_port"], 7024);
    }

    #[test]
    fn statics_and_dynamic_mode() {
        let c = rc("[[static]]\nproto = \"tcp\"\ninside = \"100.64.0.9:80\"\n\
                    outside = \"203.0.113.2:8080\"\n\
                    [[static]]\ninside = \"100.64.0.11\"\noutside = \"198.51.100.3\"\n");
        let fwd = "static tcp: inside 100.64.0.9:80 -> external 203.0.113.2:8080\n";
        let out = lookup(&c, Query::External(ip("203.0.113.2"), Some(8080))).unwrap();
        assert_eq!(text(&out), fwd);
        assert_eq!(
            text(&lookup(&c, Query::External(ip("203.0.113.2"), None)).unwrap()),
            fwd
        );
        let e = lookup(&c, Query::External(ip("203.0.113.2"), Some(8081))).unwrap_err();
        assert!(
            e.starts_with("external 203.0.113.2:8081: no static mapping"),
            "{e}"
        );
        let out = lookup(&c, Query::Inside(ip("100.64.0.9"))).unwrap();
        assert_eq!(text(&out), fwd);
        let j = json(Query::Inside(ip("100.64.0.9")), &out);
        assert_eq!(j["answers"][0]["protocol"], "tcp");
        assert_eq!(j["answers"][0]["external"], "203.0.113.2:8080");
        // A one-to-one address answers for any port.
        let o2o = "static one-to-one: inside 100.64.0.11 -> external 198.51.100.3 (every port)\n";
        let out = lookup(&c, Query::External(ip("198.51.100.3"), Some(5000))).unwrap();
        assert_eq!(text(&out), o2o);
        assert_eq!(
            json(Query::Inside(ip("100.64.0.11")), &out)["answers"][0]["kind"],
            "static one-to-one"
        );
        let e = lookup(&c, Query::Inside(ip("100.64.0.10"))).unwrap_err();
        assert!(e.contains("event log"), "{e}");
    }
}
