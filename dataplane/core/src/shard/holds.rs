//! Held mappings: a subscriber's own mappings asked for over PCP or
//! NAT-PMP ([`crate::hold`]), kept until an absolute second.

use super::Shard;
use crate::hold::{Granted, HoldAsk, HoldKind, HoldRefusal};
use crate::Time;

impl Shard {
    /// Creates, renews or changes the held mapping `ask` describes.
    pub fn hold(&mut self, ask: &HoldAsk, now: Time) -> Result<Granted, HoldRefusal> {
        let _ = (ask, now);
        Err(HoldRefusal::NoResources)
    }

    /// Removes a held mapping; whether there was one.
    pub fn release_hold(
        &mut self,
        kind: HoldKind,
        proto: u8,
        inside: u32,
        inside_port: u16,
        now: Time,
    ) -> bool {
        let _ = (kind, proto, inside, inside_port, now);
        false
    }

    /// The external address subscriber `inside` is mapped to: its paired
    /// address, or the one its first block would be on.
    pub fn external_of(&self, inside: u32) -> Option<u32> {
        let _ = inside;
        None
    }
}
