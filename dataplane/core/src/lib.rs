//! masq-core: the NAT44 core of masq, with no I/O.
//!
//! This crate decides, for any frame and any instant, what the NAT does.
//! It owns no sockets, threads or clock: time comes in as an argument and
//! [`Shard::next_expiry`] says when the caller should next call
//! [`Shard::expire`]. One [`Shard`] holds the sessions, subscribers and
//! port blocks that one worker owns; [`Shard::process`] takes a frame, the
//! side it arrived on and the time, rewrites the frame in place and returns
//! a [`Verdict`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod addr;
pub mod config;
pub mod counters;
pub mod deterministic;
mod emit;
pub mod event;
mod frag;
pub mod hash;
pub mod index;
pub mod pool;
pub mod proto;
mod session;
pub mod shard;
pub mod tcp;
pub mod wire;

pub use addr::Prefix;
pub use config::{
    Config, ConfigError, Filtering, Fragments, IcmpGeneration, Limits, StaticMapping, Timeouts,
};
pub use counters::{Counters, DropReason};
pub use event::{Endpoint, Event, Exhaustion};
pub use hash::subscriber_owner;
pub use pool::BlockMap;
pub use proto::Protocol;
pub use shard::{NextHops, SessionInfo, Shard, Side, SubscriberInfo, Verdict};
pub use tcp::TcpState;

/// A point in time on the caller's monotonic clock, in milliseconds.
///
/// The core keeps time in whole seconds; the milliseconds only let callers
/// pass their clock as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl Time {
    /// `s` seconds after the epoch.
    pub const fn from_secs(s: u64) -> Time {
        Time(s * 1000)
    }

    /// `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms)
    }

    /// Whole seconds since the epoch, as the core counts them. The count
    /// stops at 2^31 s (68 years), so that adding any timer to it cannot
    /// overflow.
    pub fn secs(self) -> u32 {
        (self.0 / 1000).min(Time::MAX_SECS) as u32
    }

    /// The largest second count the core uses.
    const MAX_SECS: u64 = 1 << 31;
}
