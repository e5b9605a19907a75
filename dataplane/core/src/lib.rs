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
pub mod hold;
pub mod index;
pub mod pool;
pub mod proto;
mod session;
pub mod shard;
pub mod tcp;
mod time;
mod verdict;
pub mod wire;

pub use addr::Prefix;
pub use config::{
    Config, ConfigError, Filtering, Fragments, IcmpGeneration, Limits, OwnAddrs, StaticMapping,
    Timeouts,
};
pub use counters::{Counters, DropReason};
pub use event::{Endpoint, Event, Exhaustion};
pub use hash::{address_only_key, address_only_owner, key_owner, subscriber_owner};
pub use hold::{Granted, HeldKind, HoldAsk, HoldKind, HoldRefusal, RemoteFilter, MAX_FILTERS};
pub use pool::BlockMap;
pub use proto::Protocol;
pub use shard::{SessionInfo, Shard, SubscriberInfo};
pub use tcp::TcpState;
pub use time::Time;
pub use verdict::{NextHops, Side, Verdict};

/// Bytes of the largest frame [`Shard::pop_emitted`] hands out (and of
/// the largest the shard holds or cuts): one 2048-byte AF_XDP frame.
pub const EMIT_SLOT: usize = emit::SLOT;
