//! Session and port-block events, as plain values.
//!
//! The shard pushes events into a bounded queue that the worker drains at
//! batch boundaries and hands to logging and metrics; nothing is printed
//! here. A full queue drops the event and counts it.

use std::collections::VecDeque;

/// One side of a translation: an address and a port (or ICMP identifier).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// IPv4 address.
    pub addr: u32,
    /// Port or ICMP identifier.
    pub port: u16,
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A session was created.
    SessionCreated {
        /// IP protocol.
        proto: u8,
        /// Subscriber side.
        inside: Endpoint,
        /// Translated side.
        outside: Endpoint,
        /// Remote side (port 0 for ICMP).
        remote: Endpoint,
        /// Time in seconds since the clock's epoch.
        at: u32,
    },
    /// A session was removed.
    SessionDeleted {
        /// IP protocol.
        proto: u8,
        /// Subscriber side.
        inside: Endpoint,
        /// Translated side.
        outside: Endpoint,
        /// Remote side (port 0 for ICMP).
        remote: Endpoint,
        /// Time in seconds since the clock's epoch.
        at: u32,
    },
    /// A held mapping (PCP MAP, NAT-PMP) was made (RFC 8158 natEvent 8,
    /// NAT44 BIB create). Queued whatever `session_events` says.
    MappingCreated {
        /// TCP or UDP.
        proto: u8,
        /// Subscriber side.
        inside: Endpoint,
        /// Translated side.
        outside: Endpoint,
        /// Time in seconds since the clock's epoch.
        at: u32,
    },
    /// A held mapping went: expired, released, flushed or readdressed
    /// (RFC 8158 natEvent 9, NAT44 BIB delete).
    MappingDeleted {
        /// TCP or UDP.
        proto: u8,
        /// Subscriber side.
        inside: Endpoint,
        /// Translated side.
        outside: Endpoint,
        /// Time in seconds since the clock's epoch.
        at: u32,
    },
    /// A port block was given to a subscriber.
    BlockAllocated {
        /// Inside address of the subscriber.
        subscriber: u32,
        /// External address of the block.
        external: u32,
        /// First port of the block.
        first_port: u16,
        /// Last port of the block (inclusive).
        last_port: u16,
        /// Time in seconds since the clock's epoch.
        at: u32,
    },
    /// A port block was given back.
    BlockReleased {
        /// Inside address of the subscriber.
        subscriber: u32,
        /// External address of the block.
        external: u32,
        /// First port of the block.
        first_port: u16,
        /// Last port of the block (inclusive).
        last_port: u16,
        /// Time in seconds since the clock's epoch.
        at: u32,
    },
    /// A new mapping could not be made for lack of a resource (RFC 6888
    /// REQ-11 c; RFC 8158 natEvent 3, 12 and 13). Rate-limited by the
    /// shard, so a flood of refused packets makes a few events, not one
    /// per packet.
    Exhausted {
        /// Which resource ran out.
        what: Exhaustion,
        /// Inside address of the subscriber whose packet was refused.
        subscriber: u32,
        /// The subscriber's paired external address, 0 when it has none.
        external: u32,
        /// Time in seconds since the clock's epoch.
        at: u32,
    },
}

/// The resource a refused mapping lacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exhaustion {
    /// No external address has a free port block (natEvent 3, NAT
    /// addresses exhausted).
    Addresses,
    /// The subscriber's paired address has no free block, or the
    /// subscriber holds its most blocks and they are full (natEvent 12,
    /// NAT ports exhausted).
    Ports,
    /// The subscriber holds its most sessions (natEvent 13, quota
    /// exceeded: maximum entries per user, natQuotaExceededEvent 3).
    SessionsPerSubscriber,
    /// The shard's session table is full (natEvent 13, quota exceeded:
    /// maximum session entries, natQuotaExceededEvent 1).
    Sessions,
    /// The shard's subscriber table is full (natEvent 13, quota exceeded:
    /// maximum active hosts or subscribers, natQuotaExceededEvent 4).
    Subscribers,
}

impl Exhaustion {
    /// The name used in log lines and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Exhaustion::Addresses => "addresses",
            Exhaustion::Ports => "ports",
            Exhaustion::SessionsPerSubscriber => "sessions-per-subscriber",
            Exhaustion::Sessions => "sessions",
            Exhaustion::Subscribers => "subscribers",
        }
    }
}

impl core::fmt::Display for Exhaustion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.name())
    }
}

/// A bounded queue of events that never reallocates.
#[derive(Debug)]
pub struct EventQueue {
    q: VecDeque<Event>,
    cap: usize,
}

impl EventQueue {
    /// A queue of `cap` events.
    pub fn new(cap: usize) -> EventQueue {
        EventQueue {
            q: VecDeque::with_capacity(cap),
            cap,
        }
    }

    /// Adds an event; false (and nothing stored) when full.
    #[inline]
    pub fn push(&mut self, e: Event) -> bool {
        if self.q.len() >= self.cap {
            return false;
        }
        self.q.push_back(e);
        true
    }

    /// Takes the oldest event.
    pub fn pop(&mut self) -> Option<Event> {
        self.q.pop_front()
    }

    /// Number of queued events.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.q.capacity() * core::mem::size_of::<Event>()
    }
}

impl core::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}:{}", core::net::Ipv4Addr::from(self.addr), self.port)
    }
}

/// The name each event has in its text (syslog lines, `Display`), which
/// readers of that text (`masq lookup --at`) match on.
pub mod name {
    /// [`super::Event::SessionCreated`].
    pub const SESSION_CREATE: &str = "session-create";
    /// [`super::Event::SessionDeleted`].
    pub const SESSION_DELETE: &str = "session-delete";
    /// [`super::Event::MappingCreated`].
    pub const MAPPING_CREATE: &str = "mapping-create";
    /// [`super::Event::MappingDeleted`].
    pub const MAPPING_DELETE: &str = "mapping-delete";
    /// [`super::Event::BlockAllocated`].
    pub const BLOCK_ALLOCATE: &str = "block-allocate";
    /// [`super::Event::BlockReleased`].
    pub const BLOCK_RELEASE: &str = "block-release";
    /// [`super::Event::Exhausted`].
    pub const EXHAUSTED: &str = "exhausted";
}

impl Event {
    /// The event's name in its text ([`name`]).
    pub fn name(&self) -> &'static str {
        match self {
            Event::SessionCreated { .. } => name::SESSION_CREATE,
            Event::SessionDeleted { .. } => name::SESSION_DELETE,
            Event::MappingCreated { .. } => name::MAPPING_CREATE,
            Event::MappingDeleted { .. } => name::MAPPING_DELETE,
            Event::BlockAllocated { .. } => name::BLOCK_ALLOCATE,
            Event::BlockReleased { .. } => name::BLOCK_RELEASE,
            Event::Exhausted { .. } => name::EXHAUSTED,
        }
    }
}

impl core::fmt::Display for Event {
    /// One line of `key=value` pairs, e.g.
    /// `session-create proto=17 inside=192.168.1.10:40000 outside=203.0.113.1:1024 remote=198.51.100.1:53 at=0`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let a = |x: u32| core::net::Ipv4Addr::from(x);
        let what = self.name();
        match *self {
            Event::SessionCreated {
                proto,
                inside,
                outside,
                remote,
                at,
            }
            | Event::SessionDeleted {
                proto,
                inside,
                outside,
                remote,
                at,
            } => write!(
                f,
                "{what} proto={proto} inside={inside} outside={outside} remote={remote} at={at}"
            ),
            Event::MappingCreated {
                proto,
                inside,
                outside,
                at,
            }
            | Event::MappingDeleted {
                proto,
                inside,
                outside,
                at,
            } => write!(
                f,
                "{what} proto={proto} inside={inside} outside={outside} at={at}"
            ),
            Event::BlockAllocated {
                subscriber,
                external,
                first_port,
                last_port,
                at,
            }
            | Event::BlockReleased {
                subscriber,
                external,
                first_port,
                last_port,
                at,
            } => write!(
                f,
                "{what} subscriber={} external={} ports={first_port}-{last_port} at={at}",
                a(subscriber),
                a(external)
            ),
            Event::Exhausted {
                what,
                subscriber,
                external,
                at,
            } => write!(
                f,
                "exhausted resource={what} subscriber={} external={} at={at}",
                a(subscriber),
                a(external)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_bounded_queue() {
        let e = Event::BlockAllocated {
            subscriber: 0xc0a8_010a,
            external: 0xcb00_7101,
            first_port: 1024,
            last_port: 1535,
            at: 7,
        };
        assert_eq!(
            e.to_string(),
            "block-allocate subscriber=192.168.1.10 external=203.0.113.1 ports=1024-1535 at=7"
        );
        let s = Event::SessionCreated {
            proto: 17,
            inside: Endpoint {
                addr: 0xc0a8_010a,
                port: 40000,
            },
            outside: Endpoint {
                addr: 0xcb00_7101,
                port: 1024,
            },
            remote: Endpoint {
                addr: 0xc633_6401,
                port: 53,
            },
            at: 0,
        };
        assert_eq!(
            s.to_string(),
            "session-create proto=17 inside=192.168.1.10:40000 outside=203.0.113.1:1024 remote=198.51.100.1:53 at=0"
        );
        let mut q = EventQueue::new(1);
        assert!(q.push(e));
        assert!(!q.push(s));
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(), Some(e));
        assert!(q.is_empty());
    }
}
