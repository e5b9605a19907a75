//! The benchmark's plain L2 forwarder (`masq run --l2-forward`): LAN
//! frames go to the WAN gateway, WAN frames to the last LAN host seen;
//! only the MACs change. It runs in the worker in place of the shard, so
//! that the benchmark measures the same I/O without the NAT.

use masq_core::{NextHops, Side, Verdict};

/// The forwarder's state: the MACs it writes.
#[derive(Clone, Copy, Debug)]
pub(super) struct L2Forward {
    /// The interfaces' and the gateway's MACs.
    pub(super) hops: NextHops,
    /// Source MAC of the last frame received on the LAN.
    lan_peer: [u8; 6],
}

impl L2Forward {
    /// A forwarder that writes `hops`.
    pub(super) fn new(hops: NextHops) -> L2Forward {
        L2Forward {
            hops,
            lan_peer: [0; 6],
        }
    }

    /// Rewrites the MACs of `frame`, received on `side`, for the other
    /// side.
    #[inline]
    pub(super) fn process(&mut self, frame: &mut [u8], side: Side) -> Verdict {
        if frame.len() < 14 {
            return Verdict::Pass;
        }
        if side == Side::Lan {
            self.lan_peer.copy_from_slice(&frame[6..12]);
            frame[0..6].copy_from_slice(&self.hops.gateway_mac.0);
            frame[6..12].copy_from_slice(&self.hops.wan_mac.0);
            Verdict::ToWan
        } else {
            frame[0..6].copy_from_slice(&self.lan_peer);
            frame[6..12].copy_from_slice(&self.hops.lan_mac.0);
            Verdict::ToLan
        }
    }
}
