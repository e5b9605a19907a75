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
        EventQueue { q: VecDeque::with_capacity(cap), cap }
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
