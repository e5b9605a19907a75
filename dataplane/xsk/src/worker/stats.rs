//! What a worker counts and what it shares with the control thread.
//!
//! The worker's own counters, [`Io`], are one table (`io_counters!`) that
//! makes the variants, [`IO`] and [`Io::DROPS`], the drops it reports under
//! `masq_drops_total{reason}` beside the NAT's `DropReason` names. The
//! worker counts in [`LocalStats`] (plain numbers) and publishes them, with
//! the shard's `masq_core::Counters`, into its [`WorkerStats`] at batch
//! boundaries. [`Shared`] holds every worker's published numbers, hand-off
//! rings and mailboxes.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use crossbeam_queue::ArrayQueue;

use super::handoff::Handoff;
use crate::command::Mailbox;
use masq_core::counters::{COUNTERS, DROP_REASONS};
use masq_core::{Counters, Event, Shard};

macro_rules! io_counters {
    ($($(#[doc = $doc:literal])+ $variant:ident $(=> $drop:literal)?,)*) => {
        /// A worker's own counters (the shard keeps the NAT's).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Io {
            $($(#[doc = $doc])+ $variant,)*
        }

        impl Io {
            /// Every counter, in index order.
            pub const ALL: [Io; IO] = [$(Io::$variant,)*];

            /// The frames a worker drops outside the NAT, with the drop
            /// reason names under which they are reported beside the NAT's.
            pub const DROPS: [(Io, &'static str); [$($($drop,)?)*].len()] =
                [$($((Io::$variant, $drop),)?)*];
        }

        /// Number of [`Io`] counters.
        pub const IO: usize = [$(stringify!($variant),)*].len();
    };
}

// A counter with `=> "name"` is a drop, exported under that reason.
io_counters! {
    /// Frames received from the LAN socket.
    RxLan,
    /// Frames received from the WAN socket.
    RxWan,
    /// Bytes received from the LAN socket.
    RxLanBytes,
    /// Bytes received from the WAN socket.
    RxWanBytes,
    /// Frames put on the LAN TX ring.
    TxLan,
    /// Frames put on the WAN TX ring.
    TxWan,
    /// Frames handed to other workers.
    HandedOff,
    /// Frames received from other workers.
    HandedIn,
    /// Frames dropped because a TX ring was full.
    TxRingFull => "tx_ring_full",
    /// Frames dropped because the owner's hand-off ring was full.
    HandoffFull => "handoff_ring_full",
    /// Frames for the WAN dropped because the gateway's MAC was not known
    /// yet.
    NoGateway => "no_next_hop",
    /// Frames the NAT would pass to the kernel but the XDP program had
    /// already redirected (dropped).
    PassDropped => "pass_after_redirect",
    /// All polls.
    Polls,
    /// Polls that found work.
    BusyPolls,
    /// Answers to the control thread lost because its ring was full.
    RepliesDropped,
    /// NAT events lost because `Shared::events` (the event log's queue)
    /// was full.
    EventsDropped,
    /// Frames the shard made itself (generated ICMP errors, released
    /// fragments) that the worker took to send.
    Emitted,
}

/// Numbers a worker publishes for the control thread (plain stores at
/// batch boundaries; never a lock or a syscall).
#[derive(Debug)]
pub struct WorkerStats {
    /// The worker's own counters, indexed by [`Io`].
    pub io: [AtomicU64; IO],
    /// The shard's counters, in `Counters::NAMES` order.
    pub core: [AtomicU64; COUNTERS],
    /// The shard's drops, in `DropReason::ALL` order.
    pub drops: [AtomicU64; DROP_REASONS],
    /// Live sessions per protocol slot, in `masq_core::proto::SLOT_NAMES`
    /// order.
    pub sessions_by_proto: [AtomicU64; masq_core::proto::SLOTS],
    /// Live subscribers.
    pub subscribers: AtomicU64,
    /// UMEM frames neither in the pool nor in a ring the worker knows of
    /// (0 unless a frame leaked).
    pub frames_unaccounted: AtomicU64,
    /// File descriptors of the LAN and WAN sockets (-1 until bound), for
    /// the control thread's XDP_STATISTICS reads.
    pub fds: [AtomicI32; 2],
    /// Milliseconds since `Shared::epoch` at the worker's last publication
    /// (a worker that stops publishing is stuck).
    pub heartbeat_ms: AtomicU64,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            io: Default::default(),
            core: Default::default(),
            drops: Default::default(),
            sessions_by_proto: Default::default(),
            subscribers: AtomicU64::new(0),
            frames_unaccounted: AtomicU64::new(0),
            fds: [AtomicI32::new(-1), AtomicI32::new(-1)],
            heartbeat_ms: AtomicU64::new(0),
        }
    }
}

impl WorkerStats {
    /// One of the worker's own counters.
    pub fn io(&self, k: Io) -> u64 {
        self.io[k as usize].load(Ordering::Relaxed)
    }

    /// Live sessions of the shard.
    pub fn sessions(&self) -> u64 {
        self.sessions_by_proto
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }

    /// One of the shard's counters, by its `Counters::NAMES` name (0 for
    /// an unknown name).
    pub fn core(&self, name: &str) -> u64 {
        Counters::NAMES
            .iter()
            .position(|n| *n == name)
            .map_or(0, |i| self.core[i].load(Ordering::Relaxed))
    }
}

/// What workers share with the control thread. Requests to a worker go
/// through its mailbox only (see [`crate::command`]); `stop` is the one
/// flag the control thread sets outside it.
#[derive(Debug)]
pub struct Shared {
    /// Set to stop every worker (each reads it once per loop).
    pub stop: AtomicBool,
    /// One entry per worker.
    pub stats: Vec<WorkerStats>,
    /// One inbound hand-off ring per worker.
    pub handoff: Vec<ArrayQueue<Handoff>>,
    /// One mailbox per worker, for the control thread's requests.
    pub mailboxes: Vec<Mailbox>,
    /// The clock all workers read.
    pub epoch: Instant,
    /// The wall clock read together with `epoch`, so that times on the
    /// workers' clock (event times) can be told as wall-clock times.
    pub epoch_wall: SystemTime,
    /// NAT events of every worker for the event logger; `None` when
    /// nothing logs (the workers then discard their shards' events).
    pub events: Option<ArrayQueue<Event>>,
}

impl Shared {
    /// Shared state for `workers` workers with hand-off rings of `ring`
    /// and no event queue.
    pub fn new(workers: usize, ring: usize) -> Shared {
        Shared {
            stop: AtomicBool::new(false),
            stats: (0..workers).map(|_| WorkerStats::default()).collect(),
            handoff: (0..workers).map(|_| ArrayQueue::new(ring.max(1))).collect(),
            mailboxes: (0..workers).map(|_| Mailbox::default()).collect(),
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
            events: None,
        }
    }

    /// The same with an event queue of `capacity` events (at least 1)
    /// that the workers fill for the event logger.
    pub fn with_events(mut self, capacity: usize) -> Shared {
        self.events = Some(ArrayQueue::new(capacity.max(1)));
        self
    }

    /// The sum over workers of one published number.
    pub fn total(&self, f: impl Fn(&WorkerStats) -> u64) -> u64 {
        self.stats.iter().map(f).sum()
    }
}

/// The worker's [`Io`] counters as plain numbers, published at batch
/// boundaries.
#[derive(Default)]
pub(super) struct LocalStats([u64; IO]);

impl std::ops::Index<Io> for LocalStats {
    type Output = u64;
    fn index(&self, k: Io) -> &u64 {
        &self.0[k as usize]
    }
}

impl std::ops::IndexMut<Io> for LocalStats {
    fn index_mut(&mut self, k: Io) -> &mut u64 {
        &mut self.0[k as usize]
    }
}

impl LocalStats {
    /// Stores these counters, the shard's and the frames unaccounted for
    /// into `s`.
    pub(super) fn publish(&self, s: &WorkerStats, shard: &Shard, unaccounted: usize) {
        let r = Ordering::Relaxed;
        for (a, v) in s.io.iter().zip(self.0) {
            a.store(v, r);
        }
        let counters = shard.counters();
        for (a, v) in s.core.iter().zip(counters.values()) {
            a.store(v, r);
        }
        for (a, v) in s.drops.iter().zip(counters.drops) {
            a.store(v, r);
        }
        for (a, v) in s
            .sessions_by_proto
            .iter()
            .zip(shard.session_count_by_proto())
        {
            a.store(v as u64, r);
        }
        s.subscribers.store(shard.subscriber_count() as u64, r);
        s.frames_unaccounted.store(unaccounted as u64, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use masq_core::DropReason;

    #[test]
    fn io_table_is_consistent() {
        assert_eq!(Io::ALL.len(), IO);
        for (i, k) in Io::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?}");
        }
        let mut seen = std::collections::HashSet::new();
        for (k, name) in Io::DROPS {
            assert!(seen.insert(k as usize), "{k:?} twice");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            // One label set per reason in masq_drops_total: a name the NAT
            // uses too would overwrite its count.
            assert!(
                DropReason::ALL.iter().all(|d| d.name() != name),
                "{name} is also a NAT drop reason"
            );
        }
        let names: std::collections::HashSet<_> = Io::DROPS.iter().map(|(_, n)| n).collect();
        assert_eq!(names.len(), Io::DROPS.len());
    }
}
