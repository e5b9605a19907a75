//! The server against a fake NAT: every result code and the options
//! (`codes.rs`), the table: renewals, deletion, nonces, quota, rate limit
//! (`table.rs`), NAT-PMP (`natpmp.rs`), epoch and announcements
//! (`announce.rs`).

use super::*;
use crate::pcp::wire::{build_option, option, v4_mapped, PcpResponse};
use masq_core::Granted;

const EXT: u32 = 0xcb00_7101; // 203.0.113.1
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);
const OTHER: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 3);
const BOX: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);

/// A NAT that grants the suggested port (or 40000 and up), or refuses as
/// told, and records what it was asked.
#[derive(Default)]
struct FakeNat {
    refuse: Option<Option<HoldRefusal>>,
    asked: Vec<HoldAsk>,
    released: Vec<(HoldKind, u8, u32, u16)>,
    next: u16,
    external: Option<u32>,
}

impl Nat for FakeNat {
    fn hold(&mut self, ask: HoldAsk) -> Result<Granted, Option<HoldRefusal>> {
        self.asked.push(ask.clone());
        if let Some(r) = self.refuse {
            return Err(r);
        }
        let port = if ask.suggested.1 != 0 {
            ask.suggested.1
        } else {
            self.next += 1;
            40000 + self.next
        };
        Ok(Granted {
            external: EXT,
            external_port: port,
            until: ask.until,
        })
    }
    fn release(&mut self, kind: HoldKind, proto: u8, inside: u32, inside_port: u16) -> bool {
        self.released.push((kind, proto, inside, inside_port));
        true
    }
    fn external_of(&mut self, _inside: u32) -> Option<u32> {
        self.external
    }
}

fn server() -> Server {
    let cfg = PcpConfig {
        requests_per_second: 1000,
        ..PcpConfig::default()
    };
    Server::new(cfg, vec!["192.168.0.0/24".parse().unwrap()], 0)
}

/// A PCP request: opcode, lifetime, client address field, body, options.
fn request(op: u8, lifetime: u32, client: [u8; 16], body: &[u8], options: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![2, op, 0, 0];
    v.extend_from_slice(&lifetime.to_be_bytes());
    v.extend_from_slice(&client);
    v.extend_from_slice(body);
    for o in options {
        v.extend_from_slice(o);
    }
    v
}

fn map_body(nonce: u8, proto: u8, internal: u16, suggested: u16) -> Vec<u8> {
    let mut b = vec![nonce; 12];
    b.extend_from_slice(&[proto, 0, 0, 0]);
    b.extend_from_slice(&internal.to_be_bytes());
    b.extend_from_slice(&suggested.to_be_bytes());
    b.extend_from_slice(&[0; 16]);
    b
}

fn peer_body(nonce: u8, proto: u8, internal: u16, remote: u32, rport: u16) -> Vec<u8> {
    let mut b = map_body(nonce, proto, internal, 0);
    b.extend_from_slice(&rport.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&v4_mapped(remote));
    b
}

fn map(lifetime: u32, body: &[u8], options: &[Vec<u8>]) -> Vec<u8> {
    request(1, lifetime, v4_mapped(u32::from(CLIENT)), body, options)
}

fn filter(plen: u8, port: u16, addr: u32) -> Vec<u8> {
    let mut d = vec![0, plen];
    d.extend_from_slice(&port.to_be_bytes());
    d.extend_from_slice(&v4_mapped(addr));
    build_option(option::FILTER, &d)
}

fn send(
    s: &mut Server,
    nat: &mut FakeNat,
    from: Ipv4Addr,
    msg: &[u8],
    now_ms: u64,
) -> Option<Vec<u8>> {
    s.handle(msg, SocketAddrV4::new(from, 40001), BOX, now_ms, nat)
}

/// The result code of the answer, which must parse as a PCP response.
fn result(answer: &[u8]) -> ResultCode {
    PcpResponse::new_checked(answer)
        .unwrap_or_else(|| panic!("not a PCP response: {answer:?}"))
        .result()
}

/// The result code of a MAP of `body` (no option) from `CLIENT`.
fn map_result(
    s: &mut Server,
    nat: &mut FakeNat,
    lifetime: u32,
    body: &[u8],
    now_ms: u64,
) -> ResultCode {
    result(&send(s, nat, CLIENT, &map(lifetime, body, &[]), now_ms).unwrap())
}

mod announce;
mod codes;
mod natpmp;
mod table;
