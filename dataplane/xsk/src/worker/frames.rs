//! The worker's UMEM and its pool of free frames.
//!
//! Frame accounting: every descriptor of the UMEM is, at any time, in
//! exactly one of: the free pool, a fill ring or what the kernel or NIC
//! took from it, an RX ring, the batch being processed, a TX ring or the
//! completion ring. At a batch boundary the worker's counts (pool, frames
//! given to fill rings and not yet received, frames sent and not yet
//! completed) add up to [`Frames::total`] exactly; any difference is
//! published as `frames_unaccounted`.
//!
//! [`Frames::copy_in`] is the one place where bytes are copied into a
//! frame: frames handed in by other workers and frames the shard made
//! itself. Received frames are rewritten in place.

use std::io::{self, Write};
use std::num::NonZeroU32;

use super::FRAME_SIZE;
use xsk_rs::config::{FrameSize, QueueSize, UmemConfig};
use xsk_rs::umem::frame::DataMut;
use xsk_rs::{FrameDesc, Umem};

/// The UMEM and the descriptors no ring holds.
pub(super) struct Frames {
    pub(super) umem: Umem,
    /// Descriptors no ring and no batch holds.
    pub(super) free: Vec<FrameDesc>,
    /// Descriptors of the UMEM.
    pub(super) total: usize,
}

impl Frames {
    /// A UMEM of `frames` frames of [`FRAME_SIZE`] bytes, with fill and
    /// completion rings of `ring` entries; every frame starts free.
    pub(super) fn new(frames: u32, ring: u32) -> io::Result<Frames> {
        let frames =
            NonZeroU32::new(frames).ok_or_else(|| io::Error::other("frames must be > 0"))?;
        let q =
            QueueSize::new(ring).map_err(|e| io::Error::other(format!("ring size {ring}: {e}")))?;
        let size =
            FrameSize::new(FRAME_SIZE as u32).map_err(|e| io::Error::other(e.to_string()))?;
        let cfg = UmemConfig::builder()
            .fill_queue_size(q)
            .comp_queue_size(q)
            .frame_size(size)
            .build()
            .map_err(|e| io::Error::other(e.to_string()))?;
        let (umem, free) =
            Umem::new(cfg, frames, false).map_err(|e| io::Error::other(format!("UMEM: {e}")))?;
        Ok(Frames {
            umem,
            total: free.len(),
            free,
        })
    }

    /// Copies `bytes` into a free frame and gives its contents to `f`;
    /// returns the frame and what `f` returned. None when no frame is free
    /// or the bytes do not fit in one (the frame then stays free).
    #[inline]
    pub(super) fn copy_in<R>(
        &mut self,
        bytes: &[u8],
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Option<(FrameDesc, R)> {
        let mut d = self.free.pop()?;
        // SAFETY: `d` came from the free pool: no ring and no other
        // reference holds it.
        let mut data = unsafe { self.umem.data_mut(&mut d) };
        let mut cur = data.cursor();
        cur.set_pos(0);
        if cur.write_all(bytes).is_err() {
            self.free.push(d);
            return None;
        }
        let r = f(data.contents_mut());
        Some((d, r))
    }
}

/// A frame in the UMEM, seen as bytes (an empty slice stands for a batch
/// slot that holds no frame).
pub(super) struct FrameRef<'a>(pub(super) Option<DataMut<'a>>);

impl AsMut<[u8]> for FrameRef<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Some(d) => d.contents_mut(),
            None => &mut [],
        }
    }
}
