//! What the core says about a frame: the side it arrived on, what to do
//! with it, and the MAC addresses it is sent with. Shared by the shard and
//! the queues it fills (emitted frames, held fragments).

use crate::counters::DropReason;
use crate::wire::Mac;

/// Where a frame came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// From a subscriber.
    Lan,
    /// From the Internet.
    Wan,
    /// The second half of a hairpin, handed over by the shard that
    /// translated the sender: treated as arriving from the WAN, without the
    /// checks that only make sense for real WAN frames.
    Hairpin,
}

/// What to do with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten in place; send it out of the LAN interface.
    ToLan,
    /// Rewritten in place; send it out of the WAN interface.
    ToWan,
    /// Another shard owns this flow: give it the frame, unchanged (or, for
    /// `Side::Hairpin`, half translated), with this arrival side.
    HandOff {
        /// The owner.
        shard: u16,
        /// The side to pass to the owner's `process`.
        side: Side,
    },
    /// Not for the NAT: give it to the kernel's stack, unchanged.
    Pass,
    /// Kept by the core (a fragment that came before its first fragment):
    /// the caller may reuse the buffer. The fragment comes back through
    /// [`crate::Shard::pop_emitted`], or is dropped as `fragment_timeout`.
    Held,
    /// Larger than the egress link's MTU without DF: translated, then cut
    /// into fragments that fit, queued in order; they come out of
    /// [`crate::Shard::pop_emitted`]. The caller may reuse the buffer.
    Fragmented,
    /// Drop it, for this reason (already counted).
    Drop(DropReason),
}

/// MAC addresses for rewritten frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NextHops {
    /// The LAN interface's own address (source of frames sent to the LAN).
    pub lan_mac: Mac,
    /// The WAN interface's own address (source of frames sent to the WAN).
    pub wan_mac: Mac,
    /// The WAN next hop (destination of frames sent to the WAN).
    pub gateway_mac: Mac,
}

impl core::fmt::Display for Side {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Side::Lan => "lan",
            Side::Wan => "wan",
            Side::Hairpin => "hairpin",
        })
    }
}

impl core::fmt::Display for Verdict {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Verdict::ToLan => f.write_str("to lan"),
            Verdict::ToWan => f.write_str("to wan"),
            Verdict::HandOff { shard, side } => write!(f, "hand off to worker {shard} ({side})"),
            Verdict::Pass => f.write_str("pass to the kernel"),
            Verdict::Held => f.write_str("held"),
            Verdict::Fragmented => f.write_str("fragmented"),
            Verdict::Drop(r) => write!(f, "drop: {r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_print_in_words() {
        let cases = [
            (Verdict::ToWan, "to wan"),
            (Verdict::ToLan, "to lan"),
            (
                Verdict::HandOff {
                    shard: 3,
                    side: Side::Hairpin,
                },
                "hand off to worker 3 (hairpin)",
            ),
            (Verdict::Pass, "pass to the kernel"),
            (Verdict::Held, "held"),
            (Verdict::Fragmented, "fragmented"),
            (Verdict::Drop(DropReason::NoMapping), "drop: no_mapping"),
        ];
        for (v, want) in cases {
            assert_eq!(v.to_string(), want);
        }
    }
}
