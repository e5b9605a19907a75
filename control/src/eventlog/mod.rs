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
//!
//! The rooms, whose items this module re-exports:
//! * `config`: the `[log]` table, its checks and defaults;
//! * `templates`: IPFIX information elements, natEvent values and templates;
//! * `ipfix`: records and messages (pure);
//! * `syslog`: the syslog line of an event (pure);
//! * `thread`: the logger thread, its sockets, quotas and counters.

mod config;
#[cfg(test)]
mod fixtures;
mod ipfix;
mod syslog;
mod templates;
mod thread;

pub use config::{
    from_file, LogConfig, LogFile, SyslogTo, DEFAULT_QUEUE, DEFAULT_TEMPLATE_INTERVAL,
};
pub use ipfix::{record, Ipfix, Quotas, Record, MAX_MESSAGE};
pub use syslog::{hostname, rfc3339, syslog_line};
pub use templates::{ie, nat_event, quota_event, template, Shape, Template, TEMPLATES};
pub use thread::{Counts, LogState, Logger, Outputs};
