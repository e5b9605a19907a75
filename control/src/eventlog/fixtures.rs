//! What the tests of the rooms share: one event of each kind, the quotas
//! they report, and an IPFIX decoder written from RFC 7011 alone.

use std::collections::HashMap;

use masq_core::{Endpoint, Event, Exhaustion};

use super::{LogConfig, Quotas};

pub(super) const SUB: u32 = 0xc0a8_010a; // 192.168.1.10
pub(super) const EXT: u32 = 0xcb00_7101; // 203.0.113.1
pub(super) const REM: u32 = 0xc633_6401; // 198.51.100.1
pub(super) const QUOTAS: Quotas = Quotas {
    sessions: 1000,
    subscribers: 50,
    per_subscriber: 64,
};

fn ep(addr: u32, port: u16) -> Endpoint {
    Endpoint { addr, port }
}

/// One event of each kind, in the order the tests expect them back.
pub(super) fn events() -> Vec<Event> {
    let (inside, outside, remote) = (ep(SUB, 40000), ep(EXT, 1024), ep(REM, 53));
    let mut v = vec![
        Event::SessionCreated {
            proto: 17,
            inside,
            outside,
            remote,
            at: 5,
        },
        Event::SessionDeleted {
            proto: 17,
            inside,
            outside,
            remote,
            at: 305,
        },
        Event::BlockAllocated {
            subscriber: SUB,
            external: EXT,
            first_port: 1024,
            last_port: 1535,
            at: 5,
        },
        Event::BlockReleased {
            subscriber: SUB,
            external: EXT,
            first_port: 1024,
            last_port: 1535,
            at: 425,
        },
    ];
    for what in [
        Exhaustion::Addresses,
        Exhaustion::Ports,
        Exhaustion::Sessions,
        Exhaustion::SessionsPerSubscriber,
        Exhaustion::Subscribers,
    ] {
        v.push(Event::Exhausted {
            what,
            subscriber: SUB,
            external: if what == Exhaustion::Addresses {
                0
            } else {
                EXT
            },
            at: 7,
        });
    }
    v
}

/// A message as the decoder saw it.
#[derive(Debug, Default)]
pub(super) struct Msg {
    pub(super) export: u32,
    pub(super) sequence: u32,
    pub(super) domain: u32,
    pub(super) sets: usize,
    pub(super) templates: Vec<(u16, Vec<(u16, u16)>)>,
    /// (template id, [(information element, value)]).
    pub(super) records: Vec<(u16, Vec<(u16, u64)>)>,
}

/// A small IPFIX decoder written from RFC 7011 §3 alone (not from the
/// encoder): header, Template Sets, Data Sets read through the
/// templates seen so far (`known`). Every field here is an unsigned
/// number or an address of at most 8 bytes.
pub(super) fn decode(m: &[u8], known: &mut HashMap<u16, Vec<(u16, u16)>>) -> Msg {
    let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    let be32 = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    assert!(m.len() >= 16, "short message");
    assert_eq!(be16(m, 0), 10, "version");
    assert_eq!(usize::from(be16(m, 2)), m.len(), "length field");
    let mut d = Msg {
        export: be32(m, 4),
        sequence: be32(m, 8),
        domain: be32(m, 12),
        ..Msg::default()
    };
    let mut at = 16;
    while at < m.len() {
        let (id, len) = (be16(m, at), usize::from(be16(m, at + 2)));
        assert!(len >= 4 && at + len <= m.len(), "set length {len} at {at}");
        let body = &m[at + 4..at + len];
        d.sets += 1;
        if id == 2 {
            let mut p = 0;
            while p < body.len() {
                let (tid, n) = (be16(body, p), be16(body, p + 2));
                assert!(tid >= 256, "template id {tid}");
                p += 4;
                let mut fields = Vec::new();
                for _ in 0..n {
                    let (ie, l) = (be16(body, p), be16(body, p + 2));
                    assert_eq!(ie & 0x8000, 0, "enterprise bit");
                    fields.push((ie, l));
                    p += 4;
                }
                known.insert(tid, fields.clone());
                d.templates.push((tid, fields));
            }
        } else {
            assert!(id >= 256, "data set id {id}");
            let fields = known.get(&id).expect("data before its template").clone();
            let rl: usize = fields.iter().map(|f| usize::from(f.1)).sum();
            assert_eq!(body.len() % rl, 0, "set {id} holds whole records");
            for rec in body.chunks(rl) {
                let mut p = 0;
                let mut vals = Vec::new();
                for &(ie, l) in &fields {
                    let v = rec[p..p + usize::from(l)]
                        .iter()
                        .fold(0u64, |v, b| v << 8 | u64::from(*b));
                    vals.push((ie, v));
                    p += usize::from(l);
                }
                d.records.push((id, vals));
            }
        }
        at += len;
    }
    d
}

pub(super) fn field(r: &[(u16, u64)], ie: u16) -> Option<u64> {
    r.iter().find(|f| f.0 == ie).map(|f| f.1)
}

pub(super) fn logging(sessions: bool, destinations: bool) -> LogConfig {
    LogConfig {
        sessions,
        destinations,
        ..LogConfig::default()
    }
}
