//! Frames that belong to another worker's shard: the copy that travels
//! through the owner's bounded hand-off ring. A full ring drops the frame
//! and counts it; a worker never waits on another.

use crossbeam_queue::ArrayQueue;

use super::stats::LocalStats;
use super::{Io, FRAME_SIZE};
use masq_core::Side;

/// A frame copied to the worker that owns its flow.
#[derive(Clone, Debug)]
pub struct Handoff {
    side: Side,
    len: u16,
    buf: [u8; FRAME_SIZE],
}

impl Handoff {
    /// The side the frame arrived on.
    pub(super) fn side(&self) -> Side {
        self.side
    }

    /// The frame's bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len).min(FRAME_SIZE)]
    }
}

/// Copies a frame into the hand-off ring of worker `owner`; a full ring
/// (or an owner that does not exist) drops it and counts it.
pub(super) fn send(
    rings: &[ArrayQueue<Handoff>],
    owner: u16,
    side: Side,
    bytes: &[u8],
    c: &mut LocalStats,
) {
    let len = bytes.len().min(FRAME_SIZE);
    let mut h = Handoff {
        side,
        len: len as u16,
        buf: [0; FRAME_SIZE],
    };
    h.buf[..len].copy_from_slice(&bytes[..len]);
    let pushed = match rings.get(usize::from(owner)) {
        Some(q) => q.push(h).is_ok(),
        None => false,
    };
    if pushed {
        c[Io::HandedOff] += 1;
    } else {
        c[Io::HandoffFull] += 1;
    }
}
