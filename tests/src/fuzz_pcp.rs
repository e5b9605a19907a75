//! The `pcp` fuzz target: any bytes as PCP or NAT-PMP requests from a
//! subscriber, answered by `masq_control::pcp::Server` with a fake NAT.
//!
//! The input: one byte of setup, then the requests. Setup bits 0-2 pick
//! what the fake NAT does (grant, or one of its refusals, or no answer),
//! bit 3 allows THIRD_PARTY, bit 4 gives the NAT an external address, bit 5
//! sends from outside the inside prefix, bit 7 says the rest is framed
//! (a two-octet length before each request); without it the rest is one
//! request, sent twice (a renewal). After the requests the external
//! address changes and the announcements are collected.
//!
//! [`run`] checks: no panic; every answer parses as a response of the
//! request's protocol with a known result code (PCP: version 2, R bit,
//! at most 1100 octets, a multiple of 4, the request's opcode unless the
//! version was refused); the request counters add up to the answers and
//! the drop counters to the silences; the table never holds more than the
//! NAT granted; every announcement parses.

use std::net::{Ipv4Addr, SocketAddrV4};

use masq_control::config::PcpConfig;
use masq_control::pcp::wire::{self, build_option, option, v4_mapped, PcpResponse};
use masq_control::pcp::{Nat, Server};
use masq_core::{Granted, HoldAsk, HoldKind, HoldRefusal};

/// The subscriber the requests come from.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
/// A source outside the inside prefix.
pub const OUTSIDER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const EXT: u32 = 0xcb00_7101;

struct FakeNat {
    mode: u8,
    external: bool,
    granted: usize,
    next: u16,
}

impl Nat for FakeNat {
    fn hold(&mut self, ask: HoldAsk) -> Result<Granted, Option<HoldRefusal>> {
        let refusal = match self.mode {
            0 | 7 => None,
            1 => Some(Some(HoldRefusal::NoResources)),
            2 => Some(Some(HoldRefusal::Quota)),
            3 => Some(Some(HoldRefusal::CannotProvideExternal)),
            4 => Some(Some(HoldRefusal::NoExternalAddress)),
            5 => Some(Some(HoldRefusal::NotOurs)),
            _ => Some(None),
        };
        if let Some(r) = refusal {
            return Err(r);
        }
        assert!(ask.inside_port != 0, "the NAT was asked for port 0");
        assert!(
            matches!(ask.proto, 6 | 17),
            "the NAT was asked for {}",
            ask.proto
        );
        assert!(ask.filters.len() <= masq_core::MAX_FILTERS);
        self.granted += 1;
        self.next = self.next.wrapping_add(1);
        Ok(Granted {
            external: EXT,
            external_port: if ask.suggested.1 != 0 {
                ask.suggested.1
            } else {
                1024 + self.next
            },
            until: ask.until,
        })
    }
    fn release(&mut self, _: HoldKind, _: u8, _: u32, _: u16) -> bool {
        true
    }
    fn external_of(&mut self, _: u32) -> Option<u32> {
        self.external.then_some(EXT)
    }
}

fn requests(data: &[u8]) -> Vec<&[u8]> {
    let Some((&setup, rest)) = data.split_first() else {
        return Vec::new();
    };
    if setup & 0x80 == 0 {
        return vec![rest, rest];
    }
    let mut v = Vec::new();
    let mut r = rest;
    while r.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([r[0], r[1]])).min(r.len() - 2);
        v.push(&r[2..2 + n]);
        r = &r[2 + n..];
    }
    v
}

/// Checks one answer to `req`; its result code.
fn check_answer(req: &[u8], answer: &[u8]) -> u16 {
    if req[0] == wire::NATPMP_VERSION {
        let (op, result, _) = wire::natpmp_response(answer)
            .unwrap_or_else(|| panic!("not a NAT-PMP response: {answer:02x?}"));
        assert_eq!(op, req[1], "NAT-PMP opcode");
        assert!(result <= 5);
        return result;
    }
    let r = PcpResponse::new_checked(answer)
        .unwrap_or_else(|| panic!("not a PCP response: {answer:02x?}"));
    if r.result() != wire::ResultCode::UnsuppVersion {
        assert_eq!(r.opcode(), req[1] & 0x7f, "PCP opcode");
    }
    if r.result() == wire::ResultCode::Success && matches!(r.opcode(), 1 | 2) {
        assert!(
            r.assigned().is_some(),
            "a MAP or PEER success without an endpoint"
        );
    }
    r.result() as u16
}

/// Runs one input (see the module documentation).
pub fn run(data: &[u8]) {
    let _ = results(data);
}

/// Runs one input and returns the result code of each request's answer
/// (PCP's, or NAT-PMP's), `None` for a request dropped.
pub fn results(data: &[u8]) -> Vec<Option<u16>> {
    let setup = data.first().copied().unwrap_or(0);
    let cfg = PcpConfig {
        third_party: setup & 0x08 != 0,
        mappings_per_subscriber: 4,
        ..PcpConfig::default()
    };
    let inside = vec!["100.64.0.0/24".parse().expect("prefix")];
    let mut s = Server::new(cfg, inside, 1000);
    let mut nat = FakeNat {
        mode: setup & 7,
        external: setup & 0x10 != 0,
        granted: 0,
        next: 0,
    };
    let from = if setup & 0x20 != 0 { OUTSIDER } else { CLIENT };
    let (mut answered, mut silent) = (0u64, 0u64);
    let mut results = Vec::new();
    for (i, req) in requests(data).into_iter().enumerate() {
        let now = 1000 + 400 * i as u64;
        match s.handle(
            req,
            SocketAddrV4::new(from, 5351),
            Ipv4Addr::new(100, 64, 0, 1),
            now,
            &mut nat,
        ) {
            Some(a) => {
                answered += 1;
                results.push(Some(check_answer(req, &a)));
            }
            None => {
                silent += 1;
                results.push(None);
            }
        }
        assert!(
            s.mappings() <= nat.granted,
            "the table holds more than granted"
        );
    }
    let counted: u64 = s.request_counts().iter().map(|c| c.2).sum();
    assert_eq!(counted, answered, "request counters");
    let dropped: u64 = s.drop_counts().iter().map(|c| c.1).sum();
    assert_eq!(dropped, silent, "drop counters");
    s.set_public_address(Some(Ipv4Addr::from(EXT)));
    s.external_changed(100_000);
    assert_eq!(s.mappings(), 0);
    for (_, msg) in s.due(u64::MAX / 2) {
        let ok = PcpResponse::new_checked(&msg).is_some() || wire::natpmp_response(&msg).is_some();
        assert!(ok, "an announcement does not parse: {msg:02x?}");
    }
    assert_eq!(s.next_wake(), None);
    results
}

fn pcp(op: u8, lifetime: u32, client: u32, body: &[u8], options: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![2, op, 0, 0];
    v.extend_from_slice(&lifetime.to_be_bytes());
    v.extend_from_slice(&v4_mapped(client));
    v.extend_from_slice(body);
    for o in options {
        v.extend_from_slice(o);
    }
    v
}

fn map_body(proto: u8, internal: u16, suggested: u16) -> Vec<u8> {
    let mut b = vec![0x5a; 12];
    b.extend_from_slice(&[proto, 0, 0, 0]);
    b.extend_from_slice(&internal.to_be_bytes());
    b.extend_from_slice(&suggested.to_be_bytes());
    b.extend_from_slice(&v4_mapped(0));
    b
}

fn peer_body(proto: u8, internal: u16, remote: u32, port: u16) -> Vec<u8> {
    let mut b = map_body(proto, internal, 0);
    b.extend_from_slice(&port.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&v4_mapped(remote));
    b
}

fn filter(plen: u8, port: u16, addr: u32) -> Vec<u8> {
    let mut d = vec![0, plen];
    d.extend_from_slice(&port.to_be_bytes());
    d.extend_from_slice(&v4_mapped(addr));
    build_option(option::FILTER, &d)
}

fn framed(setup: u8, msgs: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![setup | 0x80];
    for m in msgs {
        v.extend_from_slice(&(m.len() as u16).to_be_bytes());
        v.extend_from_slice(m);
    }
    v
}

/// Named seed inputs: one per message kind and per answer.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let me = u32::from(CLIENT);
    let map = |l: u32, body: &[u8], o: &[Vec<u8>]| pcp(1, l, me, body, o);
    let one = |setup: u8, m: Vec<u8>| {
        let mut v = vec![setup];
        v.extend(m);
        v
    };
    let udp = map_body(17, 7777, 0);
    let natpmp_map = |op: u8, port: u16, life: u32| {
        let mut v = vec![0, op, 0, 0];
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(&life.to_be_bytes());
        v
    };
    let mut unsupported_version = map(600, &udp, &[]);
    unsupported_version[0] = 1;
    let list: Vec<(&str, Vec<u8>)> = vec![
        ("map_udp", one(0, map(600, &udp, &[]))),
        (
            "map_tcp_suggested",
            one(0, map(7200, &map_body(6, 22, 2222), &[])),
        ),
        (
            "map_delete",
            framed(0, &[map(600, &udp, &[]), map(0, &udp, &[])]),
        ),
        (
            "map_other_nonce",
            framed(
                0,
                &[map(600, &udp, &[]), {
                    let mut m = map(600, &udp, &[]);
                    m[24] ^= 1;
                    m
                }],
            ),
        ),
        (
            "map_quota",
            framed(
                0,
                &(0..6)
                    .map(|p| map(600, &map_body(17, 1000 + p, 0), &[]))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "map_prefer_failure_filters",
            one(
                0,
                map(
                    600,
                    &map_body(6, 80, 8080),
                    &[
                        build_option(option::PREFER_FAILURE, &[]),
                        filter(120, 0, 0x0808_0800),
                        filter(128, 53, 0x0101_0101),
                    ],
                ),
            ),
        ),
        (
            "map_five_filters",
            one(
                0,
                map(
                    600,
                    &udp,
                    &(0..5)
                        .map(|i| filter(128, 0, 0x0808_0800 + i))
                        .collect::<Vec<_>>(),
                ),
            ),
        ),
        (
            "map_third_party",
            one(
                0x08,
                map(
                    600,
                    &udp,
                    &[build_option(option::THIRD_PARTY, &v4_mapped(me + 1))],
                ),
            ),
        ),
        (
            "map_third_party_refused",
            one(
                0,
                map(
                    600,
                    &udp,
                    &[build_option(option::THIRD_PARTY, &v4_mapped(me + 1))],
                ),
            ),
        ),
        (
            "map_unknown_options",
            one(
                0,
                map(
                    600,
                    &udp,
                    &[build_option(200, &[1, 2, 3]), build_option(99, &[])],
                ),
            ),
        ),
        (
            "map_bad_option",
            one(0, map(600, &udp, &[vec![3, 0, 0, 40]])),
        ),
        ("map_gre", one(0, map(600, &map_body(47, 7777, 0), &[]))),
        (
            "map_all_protocols",
            one(0, map(600, &map_body(0, 0, 0), &[])),
        ),
        ("map_port_zero", one(0, map(600, &map_body(17, 0, 0), &[]))),
        ("map_short_body", one(0, pcp(1, 600, me, &udp[..32], &[]))),
        ("map_nat_no_resources", one(1, map(600, &udp, &[]))),
        ("map_nat_quota", one(2, map(600, &udp, &[]))),
        (
            "map_nat_cannot_provide",
            one(
                3,
                map(
                    600,
                    &map_body(6, 80, 8080),
                    &[build_option(option::PREFER_FAILURE, &[])],
                ),
            ),
        ),
        ("map_nat_no_external", one(4, map(600, &udp, &[]))),
        ("map_nat_not_ours", one(5, map(600, &udp, &[]))),
        ("map_nat_silent", one(6, map(600, &udp, &[]))),
        (
            "map_address_mismatch",
            one(0, pcp(1, 600, me + 9, &udp, &[])),
        ),
        ("map_from_outside", one(0x20, map(600, &udp, &[]))),
        (
            "peer",
            one(
                0,
                pcp(2, 600, me, &peer_body(6, 5000, 0x0808_0808, 443), &[]),
            ),
        ),
        (
            "peer_delete",
            framed(
                0,
                &[
                    pcp(2, 600, me, &peer_body(17, 5000, 0x0808_0808, 53), &[]),
                    pcp(2, 0, me, &peer_body(17, 5000, 0x0808_0808, 53), &[]),
                ],
            ),
        ),
        ("announce", one(0, pcp(0, 0, me, &[], &[]))),
        ("unsupported_opcode", one(0, pcp(9, 0, me, &[], &[]))),
        ("unsupported_version", one(0, unsupported_version)),
        ("malformed_length", one(0, vec![2, 1, 0, 0, 0, 0])),
        ("response_dropped", one(0, vec![2, 0x81, 0, 0])),
        ("natpmp_address", one(0x10, vec![0, 0])),
        ("natpmp_address_none", one(0, vec![0, 0])),
        ("natpmp_map_udp", one(0, natpmp_map(1, 7777, 7200))),
        ("natpmp_map_tcp", one(0, natpmp_map(2, 22, 3600))),
        (
            "natpmp_delete",
            framed(0, &[natpmp_map(1, 7777, 7200), natpmp_map(1, 7777, 0)]),
        ),
        (
            "natpmp_delete_all",
            framed(
                0,
                &[
                    natpmp_map(2, 22, 60),
                    natpmp_map(2, 23, 60),
                    natpmp_map(2, 0, 0),
                ],
            ),
        ),
        ("natpmp_short", one(0, vec![0, 1, 0, 0, 0])),
        ("natpmp_unknown_opcode", one(0, vec![0, 3, 0, 0])),
        ("empty", Vec::new()),
    ];
    list.into_iter().map(|(n, b)| (n.to_string(), b)).collect()
}
