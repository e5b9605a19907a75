//! `masq lookup`: who held an external address and port, or where an
//! inside address is translated to, answered from the configuration alone
//! (deterministic NAT, RFC 7422, and static mappings). Dynamic port blocks
//! are handed out at run time; for them the answer is in the event log.

use std::net::Ipv4Addr;

use masq_core::addr::fmt_addr;
use masq_core::{deterministic, proto};

use crate::config::RunConfig;

/// What is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// Which subscriber holds this external address and port.
    External(Ipv4Addr, u16),
    /// Where this inside address is translated to.
    Inside(Ipv4Addr),
}

/// A static mapping's protocol; one without is a one-to-one mapping of
/// every protocol.
fn proto_name(p: Option<u8>) -> &'static str {
    p.map_or("all", proto::name_of)
}

/// The answer as lines of text; an error when nothing in the
/// configuration answers it.
pub fn lookup(rc: &RunConfig, q: Query) -> Result<String, String> {
    let c = &rc.core;
    let mut out = String::new();
    match q {
        Query::External(addr, port) => {
            let a = u32::from(addr);
            for m in c.statics.iter().filter(|m| m.outside == a) {
                if m.proto.is_none() {
                    out += &format!(
                        "static one-to-one: external {addr}:{port} -> inside {}:{port}\n",
                        fmt_addr(m.inside)
                    );
                } else if m.outside_port == port {
                    out += &format!(
                        "static {}: external {addr}:{port} -> inside {}:{}\n",
                        proto_name(m.proto),
                        fmt_addr(m.inside),
                        m.inside_port
                    );
                }
            }
            if c.deterministic {
                if let Some(p) = deterministic::outside_to_inside(c, a, port) {
                    out += &format!("deterministic: {p}\n");
                }
            }
        }
        Query::Inside(addr) => {
            let a = u32::from(addr);
            for m in c.statics.iter().filter(|m| m.inside == a) {
                out += &match m.proto {
                    None => format!(
                        "static one-to-one: inside {addr} -> external {} (every port)\n",
                        fmt_addr(m.outside)
                    ),
                    Some(_) => format!(
                        "static {}: inside {addr}:{} -> external {}:{}\n",
                        proto_name(m.proto),
                        m.inside_port,
                        fmt_addr(m.outside),
                        m.outside_port
                    ),
                };
            }
            if c.deterministic {
                if let Some(p) = deterministic::inside_to_outside(c, a) {
                    out += &format!("deterministic: {p}\n");
                }
            }
        }
    }
    if out.is_empty() {
        let what = match q {
            Query::External(a, p) => format!("external {a}:{p}"),
            Query::Inside(a) => format!("inside {a}"),
        };
        return Err(if c.deterministic {
            format!("{what}: no subscriber or static mapping has it in this configuration")
        } else {
            format!(
                "{what}: no static mapping has it, and without [deterministic] ports are \
                 handed out at run time: see the event log's block-allocate events, or \
                 `masq sessions` on the running masq"
            )
        });
    }
    Ok(out)
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

    #[test]
    fn deterministic_both_ways() {
        let c = rc("[deterministic]\nports_per_subscriber = 1000\n");
        // 64 blocks of 1000 ports per address: subscriber 70 has block 6
        // of the second address.
        let out = lookup(&c, Query::Inside("100.64.0.70".parse().unwrap())).unwrap();
        assert_eq!(
            out,
            "deterministic: inside 100.64.0.70 -> external 203.0.113.1 ports 7024-8023\n"
        );
        let back = lookup(&c, Query::External("203.0.113.1".parse().unwrap(), 8000)).unwrap();
        assert_eq!(out, back);
        let e = lookup(&c, Query::External("203.0.113.1".parse().unwrap(), 80)).unwrap_err();
        assert!(e.contains("no subscriber"), "{e}");
    }

    #[test]
    fn statics_and_dynamic_mode() {
        let c = rc("[[static]]\nproto = \"tcp\"\ninside = \"100.64.0.9:80\"\n\
                    outside = \"203.0.113.2:8080\"\n");
        let out = lookup(&c, Query::External("203.0.113.2".parse().unwrap(), 8080)).unwrap();
        assert_eq!(
            out,
            "static tcp: external 203.0.113.2:8080 -> inside 100.64.0.9:80\n"
        );
        let out = lookup(&c, Query::Inside("100.64.0.9".parse().unwrap())).unwrap();
        assert!(out.contains("203.0.113.2:8080"), "{out}");
        let e = lookup(&c, Query::Inside("100.64.0.10".parse().unwrap())).unwrap_err();
        assert!(e.contains("event log"), "{e}");
    }
}
