//! IPFIX encoding (RFC 7011 messages of RFC 8158 records): the data record
//! of an event and the messages that carry records and templates. Pure
//! functions of their arguments: no socket, no clock.

use masq_core::{Endpoint, Event, Exhaustion};

use super::templates::{nat_event, quota_event, template, Shape, Template, TEMPLATES};
use super::LogConfig;

/// Most bytes of an IPFIX message: with IP and UDP headers it stays under
/// a 1500-byte MTU, so no message is fragmented.
pub const MAX_MESSAGE: usize = 1400;

/// The limits quota-exceeded records report (per worker, as configured).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quotas {
    /// Sessions one worker holds (`max_sessions`).
    pub sessions: u32,
    /// Subscribers one worker holds (`max_subscribers`).
    pub subscribers: u32,
    /// Sessions one subscriber may hold (`limits.sessions_per_subscriber`).
    pub per_subscriber: u32,
}

impl Quotas {
    /// The limits of a core configuration.
    pub fn of(c: &masq_core::Config) -> Quotas {
        Quotas {
            sessions: c.max_sessions,
            subscribers: c.max_subscribers,
            per_subscriber: c.limits.sessions_per_subscriber,
        }
    }
}

/// One data record, built on the stack.
#[derive(Debug)]
pub struct Record {
    shape: Shape,
    len: usize,
    bytes: [u8; 32],
}

impl Record {
    fn new(shape: Shape, ms: u64, nat_event: u8) -> Record {
        let mut r = Record {
            shape,
            len: 0,
            bytes: [0; 32],
        };
        r.put(&ms.to_be_bytes());
        r.put(&[nat_event]);
        r
    }

    /// The fields a session and a held mapping share: protocol, inside
    /// and outside addresses, inside and outside ports.
    fn translation(
        shape: Shape,
        ms: u64,
        nat_event: u8,
        proto: u8,
        inside: Endpoint,
        outside: Endpoint,
    ) -> Record {
        Record::new(shape, ms, nat_event)
            .u8(proto)
            .u32(inside.addr)
            .u32(outside.addr)
            .u16(inside.port)
            .u16(outside.port)
    }

    fn put(&mut self, b: &[u8]) {
        // Records are at most 28 bytes (the largest template); the check
        // keeps a future field from writing past the buffer.
        if let Some(dst) = self.bytes.get_mut(self.len..self.len + b.len()) {
            dst.copy_from_slice(b);
            self.len += b.len();
        }
    }

    fn u16(mut self, v: u16) -> Record {
        self.put(&v.to_be_bytes());
        self
    }

    fn u32(mut self, v: u32) -> Record {
        self.put(&v.to_be_bytes());
        self
    }

    fn u8(mut self, v: u8) -> Record {
        self.put(&[v]);
        self
    }

    /// The record's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The data record of an event at `ms` (milliseconds since the Unix
/// epoch); `None` for a session event when sessions are not logged.
pub fn record(e: &Event, ms: u64, log: &LogConfig, q: &Quotas) -> Option<Record> {
    if !log.logs(e) {
        return None;
    }
    Some(match *e {
        Event::SessionCreated {
            proto,
            inside,
            outside,
            remote,
            ..
        }
        | Event::SessionDeleted {
            proto,
            inside,
            outside,
            remote,
            ..
        } => {
            let ev = if matches!(e, Event::SessionCreated { .. }) {
                nat_event::NAT44_SESSION_CREATE
            } else {
                nat_event::NAT44_SESSION_DELETE
            };
            let shape = if log.destinations {
                Shape::SessionDestination
            } else {
                Shape::Session
            };
            let r = Record::translation(shape, ms, ev, proto, inside, outside);
            if log.destinations {
                r.u32(remote.addr).u16(remote.port)
            } else {
                r
            }
        }
        Event::MappingCreated {
            proto,
            inside,
            outside,
            ..
        }
        | Event::MappingDeleted {
            proto,
            inside,
            outside,
            ..
        } => {
            let ev = if matches!(e, Event::MappingCreated { .. }) {
                nat_event::NAT44_BIB_CREATE
            } else {
                nat_event::NAT44_BIB_DELETE
            };
            Record::translation(Shape::Mapping, ms, ev, proto, inside, outside)
        }
        Event::BlockAllocated {
            subscriber,
            external,
            first_port,
            last_port,
            ..
        }
        | Event::BlockReleased {
            subscriber,
            external,
            first_port,
            last_port,
            ..
        } => {
            let ev = if matches!(e, Event::BlockAllocated { .. }) {
                nat_event::PORT_BLOCK_ALLOCATION
            } else {
                nat_event::PORT_BLOCK_DEALLOCATION
            };
            let ports = last_port.saturating_sub(first_port).saturating_add(1);
            Record::new(Shape::Block, ms, ev)
                .u32(subscriber)
                .u32(external)
                .u16(first_port)
                .u16(last_port)
                .u16(1)
                .u16(ports)
        }
        Event::Exhausted {
            what,
            subscriber,
            external,
            ..
        } => match what {
            // masq has one pool: natPoolId 0.
            Exhaustion::Addresses => Record::new(
                Shape::AddressesExhausted,
                ms,
                nat_event::ADDRESSES_EXHAUSTED,
            )
            .u32(0)
            .u32(subscriber),
            Exhaustion::Ports => Record::new(Shape::PortsExhausted, ms, nat_event::PORTS_EXHAUSTED)
                .u32(external)
                .u32(subscriber),
            Exhaustion::Sessions => {
                Record::new(Shape::QuotaSessions, ms, nat_event::QUOTA_EXCEEDED)
                    .u32(quota_event::MAX_SESSION_ENTRIES)
                    .u32(q.sessions)
                    .u32(subscriber)
            }
            Exhaustion::SessionsPerSubscriber => {
                Record::new(Shape::QuotaPerSubscriber, ms, nat_event::QUOTA_EXCEEDED)
                    .u32(quota_event::MAX_ENTRIES_PER_USER)
                    .u32(q.per_subscriber)
                    .u32(subscriber)
            }
            Exhaustion::Subscribers => {
                Record::new(Shape::QuotaSubscribers, ms, nat_event::QUOTA_EXCEEDED)
                    .u32(quota_event::MAX_SUBSCRIBERS)
                    .u32(q.subscribers)
                    .u32(subscriber)
            }
        },
    })
}

/// IPFIX message header length; set header length.
const HEADER: usize = 16;
const SET_HEADER: usize = 4;
/// Set id of a Template Set.
const TEMPLATE_SET: u16 = 2;

/// Builds IPFIX messages: records go into the open message, one Data Set
/// per run of records of one template, until the next would pass
/// [`MAX_MESSAGE`]; the message is then finished and handed back to be
/// sent. Reads no clock: export times come in as arguments.
#[derive(Debug)]
pub struct Ipfix {
    domain: u32,
    /// Templates announced (those the configuration can use).
    templates: Vec<&'static Template>,
    /// The open message, its header space included.
    buf: Vec<u8>,
    /// Offset and id of the open Data Set.
    set: Option<(usize, u16)>,
    /// Data records in the open message.
    records: u32,
    /// Data records finished before the open message (RFC 7011 §3.1:
    /// the Sequence Number counts Data Records, modulo 2^32).
    sequence: u32,
}

impl Ipfix {
    /// An encoder for observation domain `domain` that announces the
    /// templates `log` can use.
    pub fn new(log: &LogConfig) -> Ipfix {
        let templates = TEMPLATES
            .iter()
            .filter(|t| match t.shape {
                Shape::Session => log.sessions && !log.destinations,
                Shape::SessionDestination => log.sessions && log.destinations,
                _ => true,
            })
            .collect();
        Ipfix {
            domain: log.observation_domain,
            templates,
            buf: Vec::with_capacity(MAX_MESSAGE),
            set: None,
            records: 0,
            sequence: 0,
        }
    }

    fn header(&self, out: &mut [u8], export_secs: u32) {
        let len = out.len().min(usize::from(u16::MAX)) as u16;
        out[0..2].copy_from_slice(&10u16.to_be_bytes());
        out[2..4].copy_from_slice(&len.to_be_bytes());
        out[4..8].copy_from_slice(&export_secs.to_be_bytes());
        out[8..12].copy_from_slice(&self.sequence.to_be_bytes());
        out[12..16].copy_from_slice(&self.domain.to_be_bytes());
    }

    /// A message holding one Template Set with every announced template.
    pub fn template_message(&self, export_secs: u32) -> Vec<u8> {
        let mut m = vec![0u8; HEADER + SET_HEADER];
        for t in &self.templates {
            m.extend_from_slice(&t.id.to_be_bytes());
            m.extend_from_slice(&(t.fields.len() as u16).to_be_bytes());
            for (id, len) in t.fields {
                m.extend_from_slice(&id.to_be_bytes());
                m.extend_from_slice(&len.to_be_bytes());
            }
        }
        let set_len = (m.len() - HEADER) as u16;
        m[HEADER..HEADER + 2].copy_from_slice(&TEMPLATE_SET.to_be_bytes());
        m[HEADER + 2..HEADER + 4].copy_from_slice(&set_len.to_be_bytes());
        self.header(&mut m, export_secs);
        m
    }

    /// Data records in the open message.
    pub fn pending(&self) -> u32 {
        self.records
    }

    /// Adds a record; when it does not fit, the open message is finished
    /// first and returned, to be sent before anything else.
    pub fn add(&mut self, r: &Record, export_secs: u32) -> Option<Vec<u8>> {
        let id = template(r.shape).id;
        let same_set = self.set.is_some_and(|(_, s)| s == id);
        let need = r.len + if same_set { 0 } else { SET_HEADER };
        let mut done = None;
        if !self.buf.is_empty() && self.buf.len() + need > MAX_MESSAGE {
            done = self.finish(export_secs);
        }
        if self.buf.is_empty() {
            self.buf.resize(HEADER, 0);
            self.set = None;
        }
        match self.set {
            Some((_, s)) if s == id => {}
            _ => {
                self.set = Some((self.buf.len(), id));
                self.buf.extend_from_slice(&id.to_be_bytes());
                self.buf.extend_from_slice(&[0, 0]);
            }
        }
        self.buf.extend_from_slice(r.bytes());
        self.records += 1;
        if let Some((at, _)) = self.set {
            let len = (self.buf.len() - at) as u16;
            self.buf[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        done
    }

    /// Finishes the open message (None when it holds no record).
    pub fn finish(&mut self, export_secs: u32) -> Option<Vec<u8>> {
        if self.records == 0 {
            return None;
        }
        let mut m = std::mem::replace(&mut self.buf, Vec::with_capacity(MAX_MESSAGE));
        self.header(&mut m, export_secs);
        self.sequence = self.sequence.wrapping_add(self.records);
        self.records = 0;
        self.set = None;
        Some(m)
    }
}

/// Records in a finished IPFIX message (from its set headers).
pub(super) fn data_records(msg: &[u8]) -> u64 {
    let mut n = 0;
    let mut at = HEADER;
    while at + SET_HEADER <= msg.len() {
        let id = u16::from_be_bytes([msg[at], msg[at + 1]]);
        let len = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
        if len < SET_HEADER {
            break;
        }
        if let Some(t) = TEMPLATES.iter().find(|t| t.id == id) {
            n += ((len - SET_HEADER) / t.record_len()) as u64;
        }
        at += len;
    }
    n
}

#[cfg(test)]
mod tests;
