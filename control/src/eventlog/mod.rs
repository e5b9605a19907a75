//! NAT event logging: the `[log]` table and the logger thread.
//!
//! The workers move their shards' events into one bounded lock-free queue
//! (`Shared::events`); the logger thread drains it and exports each event
//! * as an IPFIX data record (RFC 7011 over UDP, information elements and
//!   natEvent values of RFC 8158 and the IANA IPFIX registry) to a
//!   collector, several records per message, templates sent at start and
//!   again every `template_interval` seconds (RFC 7011 §8.4: over UDP a
//!   template is only known to a collector that has seen it recently);
//! * as a syslog line (RFC 5424 header, the event's `key=value` text as the
//!   message) over UDP, or to stderr.
//!
//! [`Ipfix`] and [`syslog_line`] only turn events into bytes and read no
//! clock; the thread owns the sockets and the clock. A worker never waits
//! for the logger: when the queue is full the event is dropped and counted
//! (`masq_eventlog_dropped_total`).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use masq_core::{Event, Exhaustion};
use masq_xsk::worker::Shared;
use serde::Deserialize;

/// Default capacity of the event queue between the workers and the logger.
pub const DEFAULT_QUEUE: u32 = 65536;
/// Largest event queue accepted (events of about 32 bytes each).
const MAX_QUEUE: u32 = 1 << 24;
/// Default seconds between two sendings of the IPFIX templates.
pub const DEFAULT_TEMPLATE_INTERVAL: u32 = 60;
/// Most bytes of an IPFIX message: with IP and UDP headers it stays under
/// a 1500-byte MTU, so no message is fragmented.
pub const MAX_MESSAGE: usize = 1400;
/// Longest time a record waits in a message that is not full yet.
const FLUSH_AFTER: Duration = Duration::from_millis(100);
/// How long the logger sleeps when the queue was empty.
const IDLE_SLEEP: Duration = Duration::from_millis(10);
/// Most events taken from the queue between two looks at the clock.
const DRAIN_STEP: usize = 4096;

/// The `[log]` table as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    ipfix: Option<String>,
    syslog: Option<String>,
    sessions: Option<bool>,
    destinations: Option<bool>,
    queue: Option<u32>,
    observation_domain: Option<u32>,
    template_interval: Option<u32>,
}

/// Where syslog lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogTo {
    /// One UDP datagram per line.
    Udp(SocketAddr),
    /// One line per event on standard error.
    Stderr,
}

impl std::fmt::Display for SyslogTo {
    /// The value of `log.syslog` that selects this destination.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyslogTo::Udp(a) => write!(f, "{a}"),
            SyslogTo::Stderr => f.write_str(STDERR),
        }
    }
}

/// The value of `log.syslog` that sends lines to standard error.
const STDERR: &str = "stderr";

/// The checked `[log]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// IPFIX collector (None: no IPFIX).
    pub ipfix: Option<SocketAddr>,
    /// Syslog destination (None: no syslog).
    pub syslog: Option<SyslogTo>,
    /// Log session creation and deletion (with port blocks, block events
    /// already tell who held which port when).
    pub sessions: bool,
    /// Add the remote address and port to session records.
    pub destinations: bool,
    /// Capacity of the queue between the workers and the logger.
    pub queue: u32,
    /// IPFIX observation domain id.
    pub observation_domain: u32,
    /// Seconds between two sendings of the IPFIX templates.
    pub template_interval: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            ipfix: None,
            syslog: None,
            sessions: false,
            destinations: false,
            queue: DEFAULT_QUEUE,
            observation_domain: 1,
            template_interval: DEFAULT_TEMPLATE_INTERVAL,
        }
    }
}

impl LogConfig {
    /// Whether anything is logged at all.
    pub fn enabled(&self) -> bool {
        self.ipfix.is_some() || self.syslog.is_some()
    }

    /// Whether the core should queue session events: only when a log
    /// exists and asks for them.
    pub fn session_events(&self) -> bool {
        self.enabled() && self.sessions
    }

    /// The table as TOML, every key shown (absent outputs as comments).
    pub fn to_toml(&self) -> String {
        let mut s = String::from("[log]\n");
        match self.ipfix {
            Some(a) => s += &format!("ipfix = \"{a}\"\n"),
            None => s += "# ipfix = \"IP:PORT\" (off)\n",
        }
        match self.syslog {
            Some(to) => s += &format!("syslog = \"{to}\"\n"),
            None => s += &format!("# syslog = \"IP:PORT\" or \"{STDERR}\" (off)\n"),
        }
        s += &format!(
            "sessions = {}\ndestinations = {}\nqueue = {}\nobservation_domain = {}\n\
             template_interval = {}\n",
            self.sessions,
            self.destinations,
            self.queue,
            self.observation_domain,
            self.template_interval
        );
        s
    }
}

fn collector(key: &str, s: &str) -> Result<SocketAddr, String> {
    let a: SocketAddr = s
        .parse()
        .map_err(|e| format!("{key}: {s:?}: {e} (an IP:PORT such as 192.0.2.10:4739)"))?;
    if a.port() == 0 || a.ip().is_unspecified() {
        return Err(format!(
            "{key}: {s:?}: needs a real address and a port other than 0"
        ));
    }
    Ok(a)
}

/// Checks the `[log]` table; each error names its key (`log.ipfix: ...`).
pub fn from_file(f: LogFile) -> Result<LogConfig, String> {
    let d = LogConfig::default();
    let ipfix = f
        .ipfix
        .as_deref()
        .map(|s| collector("log.ipfix", s))
        .transpose()?;
    let syslog = match f.syslog.as_deref() {
        None => None,
        Some(STDERR) => Some(SyslogTo::Stderr),
        Some(s) => Some(SyslogTo::Udp(
            collector("log.syslog", s).map_err(|e| format!("{e}; or \"stderr\""))?,
        )),
    };
    let sessions = f.sessions.unwrap_or(d.sessions);
    let destinations = f.destinations.unwrap_or(d.destinations);
    if destinations && !sessions {
        return Err(
            "log.destinations: destinations are only in session records; set log.sessions = true"
                .into(),
        );
    }
    let queue = f.queue.unwrap_or(d.queue);
    if !(1..=MAX_QUEUE).contains(&queue) {
        return Err(format!("log.queue: {queue} must be 1..={MAX_QUEUE} events"));
    }
    let template_interval = f.template_interval.unwrap_or(d.template_interval);
    if !(1..=3600).contains(&template_interval) {
        return Err(format!(
            "log.template_interval: {template_interval} must be 1..=3600 seconds"
        ));
    }
    Ok(LogConfig {
        ipfix,
        syslog,
        sessions,
        destinations,
        queue,
        observation_domain: f.observation_domain.unwrap_or(d.observation_domain),
        template_interval,
    })
}

/// IPFIX information element ids (IANA "IPFIX Information Elements").
pub mod ie {
    /// protocolIdentifier, unsigned8.
    pub const PROTOCOL_IDENTIFIER: u16 = 4;
    /// sourceTransportPort, unsigned16 (the ICMP identifier for ICMP).
    pub const SOURCE_TRANSPORT_PORT: u16 = 7;
    /// sourceIPv4Address: the subscriber's inside address.
    pub const SOURCE_IPV4_ADDRESS: u16 = 8;
    /// destinationTransportPort, unsigned16.
    pub const DESTINATION_TRANSPORT_PORT: u16 = 11;
    /// destinationIPv4Address.
    pub const DESTINATION_IPV4_ADDRESS: u16 = 12;
    /// postNATSourceIPv4Address: the external address.
    pub const POST_NAT_SOURCE_IPV4_ADDRESS: u16 = 225;
    /// postNAPTSourceTransportPort, unsigned16.
    pub const POST_NAPT_SOURCE_TRANSPORT_PORT: u16 = 227;
    /// natEvent, unsigned8.
    pub const NAT_EVENT: u16 = 230;
    /// natPoolId, unsigned32.
    pub const NAT_POOL_ID: u16 = 283;
    /// observationTimeMilliseconds, dateTimeMilliseconds (8 bytes).
    pub const OBSERVATION_TIME_MILLISECONDS: u16 = 323;
    /// portRangeStart, unsigned16.
    pub const PORT_RANGE_START: u16 = 361;
    /// portRangeEnd, unsigned16.
    pub const PORT_RANGE_END: u16 = 362;
    /// portRangeStepSize, unsigned16.
    pub const PORT_RANGE_STEP_SIZE: u16 = 363;
    /// portRangeNumPorts, unsigned16.
    pub const PORT_RANGE_NUM_PORTS: u16 = 364;
    /// natQuotaExceededEvent, unsigned32.
    pub const NAT_QUOTA_EXCEEDED_EVENT: u16 = 466;
    /// maxSessionEntries, unsigned32.
    pub const MAX_SESSION_ENTRIES: u16 = 471;
    /// maxEntriesPerUser, unsigned32.
    pub const MAX_ENTRIES_PER_USER: u16 = 473;
    /// maxSubscribers, unsigned32.
    pub const MAX_SUBSCRIBERS: u16 = 474;
}

/// natEvent values (RFC 8158 §4.3, IANA "NAT Event Type"; 1 and 2 are
/// the historic "NAT translation create/delete", not the NAT44 ones).
pub mod nat_event {
    /// NAT addresses exhausted.
    pub const ADDRESSES_EXHAUSTED: u8 = 3;
    /// NAT44 session create.
    pub const NAT44_SESSION_CREATE: u8 = 4;
    /// NAT44 session delete.
    pub const NAT44_SESSION_DELETE: u8 = 5;
    /// NAT ports exhausted.
    pub const PORTS_EXHAUSTED: u8 = 12;
    /// Quota exceeded.
    pub const QUOTA_EXCEEDED: u8 = 13;
    /// Port block allocation.
    pub const PORT_BLOCK_ALLOCATION: u8 = 16;
    /// Port block de-allocation.
    pub const PORT_BLOCK_DEALLOCATION: u8 = 17;
}

/// natQuotaExceededEvent values (RFC 8158, IANA "NAT Quota
/// Exceeded Event Type").
pub mod quota_event {
    /// Maximum session entries.
    pub const MAX_SESSION_ENTRIES: u32 = 1;
    /// Maximum entries per user.
    pub const MAX_ENTRIES_PER_USER: u32 = 3;
    /// Maximum active hosts or subscribers.
    pub const MAX_SUBSCRIBERS: u32 = 4;
}

/// The record shapes; each has one template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// NAT44 session create/delete, without the remote side.
    Session,
    /// NAT44 session create/delete with the remote address and port.
    SessionDestination,
    /// Port block allocation/de-allocation.
    Block,
    /// NAT addresses exhausted.
    AddressesExhausted,
    /// NAT ports exhausted.
    PortsExhausted,
    /// Quota exceeded: maximum session entries.
    QuotaSessions,
    /// Quota exceeded: maximum entries per user.
    QuotaPerSubscriber,
    /// Quota exceeded: maximum active hosts or subscribers.
    QuotaSubscribers,
}

/// A template: its id and its fields (information element, length).
#[derive(Debug)]
pub struct Template {
    /// Template id (256 and up).
    pub id: u16,
    /// What it logs.
    pub shape: Shape,
    /// (information element id, field length in bytes), in record order.
    pub fields: &'static [(u16, u16)],
}

impl Template {
    /// Bytes of one data record.
    pub fn record_len(&self) -> usize {
        self.fields.iter().map(|f| usize::from(f.1)).sum()
    }
}

/// Every template masq sends. The first two fields are always the time
/// and natEvent. Besides RFC 8158's fields, the exhaustion records carry
/// the subscriber whose packet was refused (sourceIPv4Address).
pub const TEMPLATES: [Template; 8] = {
    use ie::*;
    const T: (u16, u16) = (OBSERVATION_TIME_MILLISECONDS, 8);
    const E: (u16, u16) = (NAT_EVENT, 1);
    [
        Template {
            id: 256,
            shape: Shape::Session,
            fields: &[
                T,
                E,
                (PROTOCOL_IDENTIFIER, 1),
                (SOURCE_IPV4_ADDRESS, 4),
                (POST_NAT_SOURCE_IPV4_ADDRESS, 4),
                (SOURCE_TRANSPORT_PORT, 2),
                (POST_NAPT_SOURCE_TRANSPORT_PORT, 2),
            ],
        },
        Template {
            id: 257,
            shape: Shape::SessionDestination,
            fields: &[
                T,
                E,
                (PROTOCOL_IDENTIFIER, 1),
                (SOURCE_IPV4_ADDRESS, 4),
                (POST_NAT_SOURCE_IPV4_ADDRESS, 4),
                (SOURCE_TRANSPORT_PORT, 2),
                (POST_NAPT_SOURCE_TRANSPORT_PORT, 2),
                (DESTINATION_IPV4_ADDRESS, 4),
                (DESTINATION_TRANSPORT_PORT, 2),
            ],
        },
        Template {
            id: 258,
            shape: Shape::Block,
            fields: &[
                T,
                E,
                (SOURCE_IPV4_ADDRESS, 4),
                (POST_NAT_SOURCE_IPV4_ADDRESS, 4),
                (PORT_RANGE_START, 2),
                (PORT_RANGE_END, 2),
                (PORT_RANGE_STEP_SIZE, 2),
                (PORT_RANGE_NUM_PORTS, 2),
            ],
        },
        Template {
            id: 259,
            shape: Shape::AddressesExhausted,
            fields: &[T, E, (NAT_POOL_ID, 4), (SOURCE_IPV4_ADDRESS, 4)],
        },
        Template {
            id: 260,
            shape: Shape::PortsExhausted,
            fields: &[
                T,
                E,
                (POST_NAT_SOURCE_IPV4_ADDRESS, 4),
                (SOURCE_IPV4_ADDRESS, 4),
            ],
        },
        Template {
            id: 261,
            shape: Shape::QuotaSessions,
            fields: &[
                T,
                E,
                (NAT_QUOTA_EXCEEDED_EVENT, 4),
                (MAX_SESSION_ENTRIES, 4),
                (SOURCE_IPV4_ADDRESS, 4),
            ],
        },
        Template {
            id: 262,
            shape: Shape::QuotaPerSubscriber,
            fields: &[
                T,
                E,
                (NAT_QUOTA_EXCEEDED_EVENT, 4),
                (MAX_ENTRIES_PER_USER, 4),
                (SOURCE_IPV4_ADDRESS, 4),
            ],
        },
        Template {
            id: 263,
            shape: Shape::QuotaSubscribers,
            fields: &[
                T,
                E,
                (NAT_QUOTA_EXCEEDED_EVENT, 4),
                (MAX_SUBSCRIBERS, 4),
                (SOURCE_IPV4_ADDRESS, 4),
            ],
        },
    ]
};

/// The template of a shape.
pub fn template(shape: Shape) -> &'static Template {
    // TEMPLATES is in Shape order (checked by a test).
    &TEMPLATES[shape as usize]
}

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
            if !log.sessions {
                return None;
            }
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
            let r = Record::new(shape, ms, ev)
                .u8(proto)
                .u32(inside.addr)
                .u32(outside.addr)
                .u16(inside.port)
                .u16(outside.port);
            if log.destinations {
                r.u32(remote.addr).u16(remote.port)
            } else {
                r
            }
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

/// Syslog facility local0 (RFC 5424 §6.2.1).
const FACILITY: u8 = 16;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for `ms` milliseconds since the Unix epoch.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let mut days = secs / 86400;
    let rem = secs % 86400;
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut year = 1970u64;
    loop {
        let n = if leap(year) { 366 } else { 365 };
        if days < n {
            break;
        }
        days -= n;
        year += 1;
    }
    let feb = if leap(year) { 29 } else { 28 };
    let lengths = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 1;
    for l in lengths {
        if days < l {
            break;
        }
        days -= l;
        month += 1;
    }
    format!(
        "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        days + 1,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// The host name for syslog lines: printable ASCII without spaces, or "-".
pub fn hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let h = h.trim();
    if h.is_empty() || h.len() > 255 || !h.bytes().all(|b| (33..=126).contains(&b)) {
        "-".into()
    } else {
        h.into()
    }
}

/// One syslog line (RFC 5424 header; no trailing newline) for an event at
/// `ms`: `<PRI>1 TIMESTAMP HOST masq - - - MESSAGE`, MESSAGE being the
/// event's `key=value` text, without the remote side unless
/// `destinations`. Exhaustion is a warning, everything else
/// informational.
pub fn syslog_line(e: &Event, ms: u64, host: &str, destinations: bool) -> String {
    let severity = if matches!(e, Event::Exhausted { .. }) {
        4
    } else {
        6
    };
    let msg = match *e {
        Event::SessionCreated {
            proto,
            inside,
            outside,
            at,
            ..
        }
        | Event::SessionDeleted {
            proto,
            inside,
            outside,
            at,
            ..
        } if !destinations => {
            let what = if matches!(e, Event::SessionCreated { .. }) {
                "session-create"
            } else {
                "session-delete"
            };
            format!("{what} proto={proto} inside={inside} outside={outside} at={at}")
        }
        _ => e.to_string(),
    };
    format!(
        "<{}>1 {} {host} masq - - - {msg}",
        FACILITY * 8 + severity,
        rfc3339(ms)
    )
}

/// Counters of one output, read by `/metrics`.
#[derive(Debug, Default)]
pub struct Counts {
    /// Events sent (IPFIX data records, syslog lines).
    pub records: AtomicU64,
    /// Messages sent (IPFIX messages, templates included; syslog lines).
    pub messages: AtomicU64,
    /// Sends that failed (their records are lost).
    pub send_errors: AtomicU64,
}

impl Counts {
    fn snapshot(&self) -> [u64; 3] {
        let r = Ordering::Relaxed;
        [
            self.records.load(r),
            self.messages.load(r),
            self.send_errors.load(r),
        ]
    }
}

/// What the logger thread shares with the control thread.
#[derive(Debug, Default)]
pub struct LogState {
    /// IPFIX counters.
    pub ipfix: Counts,
    /// Syslog counters.
    pub syslog: Counts,
    /// Sessions per worker, subscribers per worker, sessions per
    /// subscriber: what quota records report (a reload may change them).
    quotas: [AtomicU32; 3],
}

impl LogState {
    /// Sets the limits quota-exceeded records report.
    pub fn set_quotas(&self, q: Quotas) {
        let r = Ordering::Relaxed;
        self.quotas[0].store(q.sessions, r);
        self.quotas[1].store(q.subscribers, r);
        self.quotas[2].store(q.per_subscriber, r);
    }

    fn quotas(&self) -> Quotas {
        let r = Ordering::Relaxed;
        Quotas {
            sessions: self.quotas[0].load(r),
            subscribers: self.quotas[1].load(r),
            per_subscriber: self.quotas[2].load(r),
        }
    }

    /// (output, [records, messages, send errors]) of each configured
    /// output, for `/metrics`.
    pub fn snapshot(&self, log: &LogConfig) -> Vec<(&'static str, [u64; 3])> {
        let mut v = Vec::new();
        if log.ipfix.is_some() {
            v.push(("ipfix", self.ipfix.snapshot()));
        }
        if log.syslog.is_some() {
            v.push(("syslog", self.syslog.snapshot()));
        }
        v
    }
}

/// The logger's sockets, opened before anything is attached so that a
/// bad address fails at start.
#[derive(Debug)]
pub struct Outputs {
    log: LogConfig,
    ipfix: Option<Udp>,
    syslog: Option<Option<Udp>>,
}

/// A UDP socket and where its datagrams go. It is not connected: a
/// connected socket would fail its next send after an ICMP port
/// unreachable (a collector restarting), losing that message too.
#[derive(Debug)]
struct Udp {
    sock: UdpSocket,
    to: SocketAddr,
}

fn udp_to(key: &str, to: SocketAddr) -> Result<Udp, String> {
    let any: SocketAddr = if to.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(any).map_err(|e| format!("{key} {to}: {e}"))?;
    Ok(Udp { sock, to })
}

impl Outputs {
    /// Opens what `log` asks for; `None` when nothing is logged.
    pub fn open(log: &LogConfig) -> Result<Option<Outputs>, String> {
        if !log.enabled() {
            return Ok(None);
        }
        let ipfix = log.ipfix.map(|a| udp_to("log.ipfix", a)).transpose()?;
        let syslog = match log.syslog {
            None => None,
            Some(SyslogTo::Stderr) => Some(None),
            Some(SyslogTo::Udp(a)) => Some(Some(udp_to("log.syslog", a)?)),
        };
        Ok(Some(Outputs {
            log: log.clone(),
            ipfix,
            syslog,
        }))
    }
}

/// The running logger thread.
#[derive(Debug)]
pub struct Logger {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
    /// Counters and quotas shared with the control thread.
    pub state: Arc<LogState>,
}

impl Logger {
    /// Starts the thread that drains `shared.events` into `out`.
    pub fn start(out: Outputs, shared: Arc<Shared>, quotas: Quotas) -> Result<Logger, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(LogState::default());
        state.set_quotas(quotas);
        let (s, st) = (Arc::clone(&stop), Arc::clone(&state));
        let handle = std::thread::Builder::new()
            .name("masq-eventlog".into())
            .spawn(move || {
                // Its sockets are open: it needs no capability.
                if let Err(e) = masq_xsk::privilege::keep_only(&[]) {
                    eprintln!("masq: event log thread: dropping privileges: {e}");
                }
                run(out, &shared, &s, &st)
            })
            .map_err(|e| format!("event log thread: {e}"))?;
        Ok(Logger {
            stop,
            handle,
            state,
        })
    }

    /// Sends what is still queued and stops the thread (call after the
    /// workers stopped, so that their last events are in the queue).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        if self.handle.join().is_err() {
            eprintln!("masq: the event log thread panicked");
        }
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn export_secs() -> u32 {
    (unix_ms(SystemTime::now()) / 1000) as u32
}

/// Sends one datagram and counts it.
fn send(u: &Udp, msg: &[u8], c: &Counts, records: u64) {
    let r = Ordering::Relaxed;
    match u.sock.send_to(msg, u.to) {
        Ok(_) => {
            c.messages.fetch_add(1, r);
            c.records.fetch_add(records, r);
        }
        Err(_) => {
            c.send_errors.fetch_add(1, r);
        }
    }
}

/// Records in a finished IPFIX message (from its set headers).
fn data_records(msg: &[u8]) -> u64 {
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

fn run(mut out: Outputs, shared: &Shared, stop: &AtomicBool, state: &LogState) {
    let Some(queue) = shared.events.as_ref() else {
        return;
    };
    let epoch_ms = unix_ms(shared.epoch_wall);
    let host = hostname();
    let log = out.log.clone();
    let mut ipfix = Ipfix::new(&log);
    let interval = Duration::from_secs(u64::from(log.template_interval));
    let mut templates_due = Instant::now();
    let mut oldest: Option<Instant> = None;
    let send_ipfix = |u: &Udp, m: &[u8]| send(u, m, &state.ipfix, data_records(m));
    loop {
        // Read before draining: events queued before the flag was set are
        // all taken by the final drain below.
        let stopping = stop.load(Ordering::Acquire);
        let now = Instant::now();
        if let Some(sock) = &out.ipfix {
            if now >= templates_due {
                send_ipfix(sock, &ipfix.template_message(export_secs()));
                templates_due = now + interval;
            }
        }
        let quotas = state.quotas();
        let mut n = 0;
        while n < DRAIN_STEP || stopping {
            let Some(e) = queue.pop() else { break };
            n += 1;
            let ms = epoch_ms + u64::from(event_secs(&e)) * 1000;
            if let Some(sock) = &out.ipfix {
                if let Some(r) = record(&e, ms, &log, &quotas) {
                    if let Some(m) = ipfix.add(&r, export_secs()) {
                        send_ipfix(sock, &m);
                        // Only this record is pending now.
                        oldest = None;
                    }
                    oldest.get_or_insert(now);
                }
            }
            if let Some(to) = &mut out.syslog {
                if !log.sessions
                    && matches!(
                        e,
                        Event::SessionCreated { .. } | Event::SessionDeleted { .. }
                    )
                {
                    continue;
                }
                let line = syslog_line(&e, ms, &host, log.destinations);
                match to {
                    Some(sock) => send(sock, line.as_bytes(), &state.syslog, 1),
                    None => {
                        eprintln!("{line}");
                        state.syslog.messages.fetch_add(1, Ordering::Relaxed);
                        state.syslog.records.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        if let Some(sock) = &out.ipfix {
            let late = oldest.is_some_and(|t| now.duration_since(t) >= FLUSH_AFTER);
            if ipfix.pending() > 0 && (late || stopping) {
                if let Some(m) = ipfix.finish(export_secs()) {
                    send_ipfix(sock, &m);
                }
                oldest = None;
            }
        }
        if stopping {
            return;
        }
        if n == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
}

/// The event's time, in seconds on the workers' clock.
fn event_secs(e: &Event) -> u32 {
    match *e {
        Event::SessionCreated { at, .. }
        | Event::SessionDeleted { at, .. }
        | Event::BlockAllocated { at, .. }
        | Event::BlockReleased { at, .. }
        | Event::Exhausted { at, .. } => at,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use masq_core::Endpoint;

    use super::*;

    const SUB: u32 = 0xc0a8_010a; // 192.168.1.10
    const EXT: u32 = 0xcb00_7101; // 203.0.113.1
    const REM: u32 = 0xc633_6401; // 198.51.100.1
    const QUOTAS: Quotas = Quotas {
        sessions: 1000,
        subscribers: 50,
        per_subscriber: 64,
    };

    fn ep(addr: u32, port: u16) -> Endpoint {
        Endpoint { addr, port }
    }

    /// One event of each kind, in the order the tests expect them back.
    fn events() -> Vec<Event> {
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
    struct Msg {
        export: u32,
        sequence: u32,
        domain: u32,
        sets: usize,
        templates: Vec<(u16, Vec<(u16, u16)>)>,
        /// (template id, [(information element, value)]).
        records: Vec<(u16, Vec<(u16, u64)>)>,
    }

    /// A small IPFIX decoder written from RFC 7011 §3 alone (not from the
    /// encoder): header, Template Sets, Data Sets read through the
    /// templates seen so far (`known`). Every field here is an unsigned
    /// number or an address of at most 8 bytes.
    fn decode(m: &[u8], known: &mut HashMap<u16, Vec<(u16, u16)>>) -> Msg {
        let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
        let be32 =
            |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
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

    fn field(r: &[(u16, u64)], ie: u16) -> Option<u64> {
        r.iter().find(|f| f.0 == ie).map(|f| f.1)
    }

    fn logging(sessions: bool, destinations: bool) -> LogConfig {
        LogConfig {
            sessions,
            destinations,
            ..LogConfig::default()
        }
    }

    #[test]
    fn templates_follow_the_shapes() {
        let mut ids = std::collections::BTreeSet::new();
        for (i, t) in TEMPLATES.iter().enumerate() {
            assert_eq!(t.shape as usize, i, "TEMPLATES is in Shape order");
            assert!(t.id >= 256 && ids.insert(t.id), "template id {}", t.id);
            assert_eq!(t.fields[0], (ie::OBSERVATION_TIME_MILLISECONDS, 8));
            assert_eq!(t.fields[1], (ie::NAT_EVENT, 1));
            assert!(t.record_len() <= 32, "fits a Record");
        }
        let all = LogConfig {
            destinations: true,
            ..logging(true, true)
        };
        assert!(Ipfix::new(&all).template_message(0).len() <= MAX_MESSAGE);
    }

    #[test]
    fn ipfix_records_decode_to_their_events() {
        let log = LogConfig {
            observation_domain: 7,
            ..logging(true, true)
        };
        let mut enc = Ipfix::new(&log);
        let mut known = HashMap::new();
        let t = decode(&enc.template_message(1_700_000_000), &mut known);
        assert_eq!(
            (t.export, t.sequence, t.domain, t.sets),
            (1_700_000_000, 0, 7, 1)
        );
        let ids: Vec<u16> = t.templates.iter().map(|t| t.0).collect();
        assert_eq!(ids, [257, 258, 259, 260, 261, 262, 263]);
        for (id, fields) in &t.templates {
            let want = TEMPLATES.iter().find(|x| x.id == *id).unwrap();
            assert_eq!(fields.as_slice(), want.fields, "template {id}");
        }
        let epoch = 1_700_000_000_000u64;
        for e in events() {
            let r = record(&e, epoch + u64::from(event_secs(&e)) * 1000, &log, &QUOTAS).unwrap();
            assert_eq!(r.bytes().len(), template(r.shape).record_len());
            assert!(enc.add(&r, 1_700_000_001).is_none(), "all fit one message");
        }
        assert_eq!(enc.pending(), 9);
        let m = enc.finish(1_700_000_002).unwrap();
        let d = decode(&m, &mut known);
        assert_eq!((d.export, d.sequence, d.domain), (1_700_000_002, 0, 7));
        // Runs of one template share a set: sessions, blocks, then five.
        assert_eq!(d.sets, 7);
        let r: Vec<(u16, &[(u16, u64)])> = d
            .records
            .iter()
            .map(|(id, v)| (*id, v.as_slice()))
            .collect();
        assert_eq!(r.len(), 9);
        let session = r[0].1;
        assert_eq!(r[0].0, 257);
        for (ie, want) in [
            (ie::OBSERVATION_TIME_MILLISECONDS, epoch + 5000),
            (ie::NAT_EVENT, 4),
            (ie::PROTOCOL_IDENTIFIER, 17),
            (ie::SOURCE_IPV4_ADDRESS, u64::from(SUB)),
            (ie::POST_NAT_SOURCE_IPV4_ADDRESS, u64::from(EXT)),
            (ie::SOURCE_TRANSPORT_PORT, 40000),
            (ie::POST_NAPT_SOURCE_TRANSPORT_PORT, 1024),
            (ie::DESTINATION_IPV4_ADDRESS, u64::from(REM)),
            (ie::DESTINATION_TRANSPORT_PORT, 53),
        ] {
            assert_eq!(field(session, ie), Some(want), "session IE {ie}");
        }
        assert_eq!(field(r[1].1, ie::NAT_EVENT), Some(5));
        assert_eq!(
            field(r[1].1, ie::OBSERVATION_TIME_MILLISECONDS),
            Some(epoch + 305_000)
        );
        for (k, ev) in [(2, 16), (3, 17)] {
            assert_eq!(r[k].0, 258);
            for (ie, want) in [
                (ie::NAT_EVENT, ev),
                (ie::SOURCE_IPV4_ADDRESS, u64::from(SUB)),
                (ie::POST_NAT_SOURCE_IPV4_ADDRESS, u64::from(EXT)),
                (ie::PORT_RANGE_START, 1024),
                (ie::PORT_RANGE_END, 1535),
                (ie::PORT_RANGE_STEP_SIZE, 1),
                (ie::PORT_RANGE_NUM_PORTS, 512),
            ] {
                assert_eq!(field(r[k].1, ie), Some(want), "block IE {ie}");
            }
        }
        // (template, natEvent, natQuotaExceededEvent, (limit IE, limit)).
        let exhausted = [
            (259, 3, None, Some((ie::NAT_POOL_ID, 0))),
            (
                260,
                12,
                None,
                Some((ie::POST_NAT_SOURCE_IPV4_ADDRESS, u64::from(EXT))),
            ),
            (261, 13, Some(1), Some((ie::MAX_SESSION_ENTRIES, 1000))),
            (262, 13, Some(3), Some((ie::MAX_ENTRIES_PER_USER, 64))),
            (263, 13, Some(4), Some((ie::MAX_SUBSCRIBERS, 50))),
        ];
        for (k, (id, ev, quota, extra)) in exhausted.into_iter().enumerate() {
            let (got_id, rec) = r[4 + k];
            assert_eq!(got_id, id);
            assert_eq!(field(rec, ie::NAT_EVENT), Some(ev), "template {id}");
            assert_eq!(
                field(rec, ie::NAT_QUOTA_EXCEEDED_EVENT),
                quota,
                "template {id}"
            );
            assert_eq!(field(rec, ie::SOURCE_IPV4_ADDRESS), Some(u64::from(SUB)));
            assert_eq!(
                field(rec, ie::OBSERVATION_TIME_MILLISECONDS),
                Some(epoch + 7000)
            );
            if let Some((ie, v)) = extra {
                assert_eq!(field(rec, ie), Some(v), "template {id} IE {ie}");
            }
        }
        // The next message's sequence number counts these nine records.
        let e = events()[2];
        enc.add(&record(&e, epoch, &log, &QUOTAS).unwrap(), 0);
        let next = decode(&enc.finish(0).unwrap(), &mut known);
        assert_eq!(next.sequence, 9);
        assert!(enc.finish(0).is_none(), "nothing pending");
    }

    #[test]
    fn messages_stay_under_the_bound_and_count_records() {
        let log = logging(false, false);
        let mut enc = Ipfix::new(&log);
        let mut known = HashMap::new();
        let t = decode(&enc.template_message(0), &mut known);
        let ids: Vec<u16> = t.templates.iter().map(|t| t.0).collect();
        assert_eq!(ids, [258, 259, 260, 261, 262, 263], "no session templates");
        let block = events()[2];
        let mut msgs = Vec::new();
        for _ in 0..500 {
            let r = record(&block, 0, &log, &QUOTAS).unwrap();
            msgs.extend(enc.add(&r, 0));
        }
        msgs.extend(enc.finish(0));
        let mut seen = 0u32;
        for (k, m) in msgs.iter().enumerate() {
            assert!(m.len() <= MAX_MESSAGE, "message {k}: {} bytes", m.len());
            let d = decode(m, &mut known);
            assert_eq!(d.sequence, seen, "message {k}");
            assert_eq!(d.sets, 1);
            if k + 1 < msgs.len() {
                assert!(m.len() + 25 > MAX_MESSAGE, "message {k} is full");
            }
            seen += d.records.len() as u32;
        }
        assert_eq!(seen, 500);
        // The sequence number wraps modulo 2^32.
        enc.sequence = u32::MAX - 1;
        for _ in 0..3 {
            enc.add(&record(&block, 0, &log, &QUOTAS).unwrap(), 0);
        }
        assert_eq!(
            decode(&enc.finish(0).unwrap(), &mut known).sequence,
            u32::MAX - 1
        );
        enc.add(&record(&block, 0, &log, &QUOTAS).unwrap(), 0);
        assert_eq!(decode(&enc.finish(0).unwrap(), &mut known).sequence, 1);
    }

    #[test]
    fn session_records_follow_the_switches() {
        let e = events()[0];
        assert!(record(&e, 0, &logging(false, false), &QUOTAS).is_none());
        let r = record(&e, 0, &logging(true, false), &QUOTAS).unwrap();
        assert_eq!(template(r.shape).id, 256);
        let fields = template(r.shape).fields;
        assert!(!fields
            .iter()
            .any(|f| f.0 == ie::DESTINATION_IPV4_ADDRESS || f.0 == ie::DESTINATION_TRANSPORT_PORT));
        let ids: Vec<u16> = Ipfix::new(&logging(true, false))
            .templates
            .iter()
            .map(|t| t.id)
            .collect();
        assert!(ids.contains(&256) && !ids.contains(&257));
    }

    #[test]
    fn syslog_lines() {
        let ms = 1_700_000_000_123; // 2023-11-14T22:13:20.123Z
        let ev = events();
        assert_eq!(
            syslog_line(&ev[2], ms, "nat1", false),
            "<134>1 2023-11-14T22:13:20.123Z nat1 masq - - - \
             block-allocate subscriber=192.168.1.10 external=203.0.113.1 ports=1024-1535 at=5"
        );
        assert_eq!(
            syslog_line(&ev[0], ms, "nat1", false),
            "<134>1 2023-11-14T22:13:20.123Z nat1 masq - - - \
             session-create proto=17 inside=192.168.1.10:40000 outside=203.0.113.1:1024 at=5"
        );
        assert!(syslog_line(&ev[1], ms, "nat1", true)
            .ends_with("session-delete proto=17 inside=192.168.1.10:40000 outside=203.0.113.1:1024 remote=198.51.100.1:53 at=305"));
        let x = syslog_line(&ev[5], ms, "-", false);
        assert!(x.starts_with("<132>1 2023-11-14T22:13:20.123Z - masq - - - exhausted resource=ports subscriber=192.168.1.10"), "{x}");
        for (ms, want) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (951_868_799_999, "2000-02-29T23:59:59.999Z"),
            (1_735_689_599_000, "2024-12-31T23:59:59.000Z"),
            (1_735_689_600_000, "2025-01-01T00:00:00.000Z"),
        ] {
            assert_eq!(rfc3339(ms), want);
        }
        let h = hostname();
        assert!(!h.is_empty() && !h.contains(' '));
    }

    fn log_of(text: &str) -> Result<LogConfig, String> {
        let f: LogFile = toml::from_str(text).map_err(|e| e.to_string())?;
        from_file(f)
    }

    #[test]
    fn configuration_defaults_and_errors_name_their_key() {
        let d = log_of("").unwrap();
        assert_eq!(d, LogConfig::default());
        assert!(!d.enabled() && !d.session_events());
        let c = log_of(
            "ipfix = \"192.0.2.10:4739\"\nsyslog = \"stderr\"\nsessions = true\n\
             destinations = true\nqueue = 1024\nobservation_domain = 9\ntemplate_interval = 30\n",
        )
        .unwrap();
        assert_eq!(c.ipfix, Some("192.0.2.10:4739".parse().unwrap()));
        assert_eq!(c.syslog, Some(SyslogTo::Stderr));
        assert!(c.session_events());
        assert_eq!(
            (c.queue, c.observation_domain, c.template_interval),
            (1024, 9, 30)
        );
        assert_eq!(
            log_of("syslog = \"[2001:db8::1]:514\"").unwrap().syslog,
            Some(SyslogTo::Udp("[2001:db8::1]:514".parse().unwrap()))
        );
        assert!(
            !log_of("sessions = true").unwrap().session_events(),
            "no output"
        );
        for (text, key) in [
            ("ipfix = \"collector\"", "log.ipfix"),
            ("ipfix = \"192.0.2.10\"", "log.ipfix"),
            ("ipfix = \"192.0.2.10:0\"", "log.ipfix"),
            ("ipfix = \"0.0.0.0:4739\"", "log.ipfix"),
            ("syslog = \"stdout\"", "log.syslog"),
            ("destinations = true", "log.destinations"),
            ("queue = 0", "log.queue"),
            ("queue = 16777217", "log.queue"),
            ("template_interval = 0", "log.template_interval"),
            ("colour = 1", "colour"),
        ] {
            let e = log_of(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
        // The printed table reads back as the same configuration.
        #[derive(Deserialize)]
        struct W {
            log: LogFile,
        }
        for c in [c, d] {
            let w: W = toml::from_str(&c.to_toml()).unwrap();
            assert_eq!(from_file(w.log).unwrap(), c);
        }
    }

    #[test]
    fn the_log_table_in_the_configuration_file() {
        let base = "lan = \"lan0\"\nwan = \"wan0\"\ninside = [\"192.168.0.0/16\"]\n\
                    pool = [\"203.0.113.0/29\"]\n";
        let rc = crate::config::parse(base).unwrap();
        assert!(!rc.log.enabled());
        assert!(!rc.core.session_events, "nobody reads session events");
        let text = format!("{base}[log]\nipfix = \"192.0.2.10:4739\"\nsessions = true\n");
        let rc = crate::config::parse(&text).unwrap();
        assert!(rc.core.session_events);
        assert!(rc
            .to_toml()
            .contains("[log]\nipfix = \"192.0.2.10:4739\"\n"));
        let again = crate::config::parse(&rc.to_toml()).unwrap();
        assert_eq!(again.log, rc.log);
        let e = crate::config::parse(&format!("{base}[log]\nipfix = \"nowhere\"\n")).unwrap_err();
        assert!(e.starts_with("log.ipfix: "), "{e}");
        let e = crate::config::parse(&format!("{base}[log]\nipfx = \"192.0.2.10:4739\"\n"))
            .unwrap_err();
        assert!(e.contains("ipfx"), "{e}");
        let mut other = rc.clone();
        other.log.template_interval = 5;
        assert_eq!(rc.restart_only_change(&other), Some("log"));
    }

    #[test]
    fn the_logger_sends_templates_then_records_and_flushes_at_stop() {
        let timeout = Some(Duration::from_secs(2));
        let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
        collector.set_read_timeout(timeout).unwrap();
        let syslog = UdpSocket::bind("127.0.0.1:0").unwrap();
        syslog.set_read_timeout(timeout).unwrap();
        let log = LogConfig {
            ipfix: Some(collector.local_addr().unwrap()),
            syslog: Some(SyslogTo::Udp(syslog.local_addr().unwrap())),
            sessions: true,
            observation_domain: 3,
            ..LogConfig::default()
        };
        let shared = Arc::new(Shared::new(1, 4).with_events(64));
        let q = shared.events.as_ref().unwrap();
        for e in events() {
            q.push(e).unwrap();
        }
        let out = Outputs::open(&log).unwrap().unwrap();
        let logger = Logger::start(out, Arc::clone(&shared), QUOTAS).unwrap();
        let state = Arc::clone(&logger.state);
        logger.stop();

        let mut buf = [0u8; 2048];
        let mut known = HashMap::new();
        let n = collector.recv(&mut buf).unwrap();
        let first = buf[..n].to_vec();
        let t = decode(&first, &mut known);
        assert_eq!(
            (t.domain, t.sequence, t.records.len()),
            (3, 0, 0),
            "templates first"
        );
        let n = collector.recv(&mut buf).unwrap();
        let d = decode(&buf[..n], &mut known);
        assert_eq!(d.records.len(), 9);
        let epoch_ms = unix_ms(shared.epoch_wall);
        assert_eq!(
            field(&d.records[0].1, ie::OBSERVATION_TIME_MILLISECONDS),
            Some(epoch_ms + 5000)
        );
        assert!(field(&d.records[0].1, ie::DESTINATION_IPV4_ADDRESS).is_none());
        // A sample for the Python collector's --decode-file (checked by
        // hand; not needed by the test).
        let sample = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/eventlog-sample.ipfix"
        );
        let _ = std::fs::write(sample, [first.as_slice(), &buf[..n]].concat());

        let mut lines = Vec::new();
        while lines.len() < 9 {
            let n = syslog.recv(&mut buf).unwrap();
            lines.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        assert!(
            lines[0].contains(" masq - - - session-create proto=17 "),
            "{}",
            lines[0]
        );
        assert!(!lines[0].contains("remote="));
        assert!(lines[8].contains("exhausted resource=subscribers"));
        let r = Ordering::Relaxed;
        assert_eq!(state.ipfix.records.load(r), 9);
        assert_eq!(state.ipfix.messages.load(r), 2);
        assert_eq!(state.ipfix.send_errors.load(r), 0);
        assert_eq!(state.syslog.records.load(r), 9);
        assert_eq!(
            state.snapshot(&log),
            vec![("ipfix", [9, 2, 0]), ("syslog", [9, 9, 0])]
        );
    }
}
