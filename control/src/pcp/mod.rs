//! The PCP server (RFC 6887) with NAT-PMP (RFC 6886) on the same port,
//! sans-IO: bytes and the sender come in with the time, bytes to send
//! come out; the NAT is reached through [`Nat`], so the protocol is tested
//! without sockets or workers. The daemon (`daemon/pcp.rs`) owns the
//! socket and implements [`Nat`] over the workers' mailboxes.
//!
//! | room | owns |
//! |---|---|
//! | `wire.rs` | PCP and NAT-PMP messages: parsing requests, building responses (`wire/natpmp.rs`: NAT-PMP's) |
//! | `server.rs` | the server: the table of mappings, rate limit, epoch, announcements, counters |
//! | `server/pcp.rs` | PCP requests: checks, options, result codes |
//! | `server/natpmp.rs` | NAT-PMP requests over the same table |

pub mod server;
pub mod wire;

pub use server::Server;

use masq_core::{Granted, HoldAsk, HoldKind, HoldRefusal};

/// The NAT as the server sees it: the owner shard of a subscriber,
/// reached through the control channel.
pub trait Nat {
    /// Creates, renews or changes a held mapping; `Err(None)` when the
    /// NAT could not be asked (a worker did not answer), which the server
    /// answers as a network failure.
    fn hold(&mut self, ask: HoldAsk) -> Result<Granted, Option<HoldRefusal>>;
    /// Removes a held mapping; whether there was one.
    fn release(&mut self, kind: HoldKind, proto: u8, inside: u32, inside_port: u16) -> bool;
    /// The external address subscriber `inside` is (or would be) mapped
    /// to; `None` when there is none (MASQUERADE without a WAN address).
    fn external_of(&mut self, inside: u32) -> Option<u32>;
}
