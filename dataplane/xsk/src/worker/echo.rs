//! The worker's view of the WAN program's echo identifier table: the map's
//! one value (a byte per ICMP echo identifier) mapped shared into this
//! process. After each loop the worker drains its shard's changes
//! (`Shard::drain_echo_ids`) into it; each identifier lies in one shard's
//! blocks, so each byte has one writer. The XDP program sends an echo
//! reply to the box's own address to the NAT only while its byte is set.

use std::io;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

use masq_core::Shard;
use rustix::mm::{mmap, munmap, MapFlags, ProtFlags};

use crate::xdp::ECHO_IDS_LEN;

/// The mapped table; unmapped on drop.
pub(super) struct EchoTable {
    ptr: NonNull<AtomicU8>,
}

impl EchoTable {
    /// Maps the table of the map whose fd is `fd` (an mmapable array of
    /// one [`ECHO_IDS_LEN`]-byte value, which the caller keeps open while
    /// the worker runs).
    pub(super) fn map(fd: i32) -> io::Result<EchoTable> {
        // SAFETY: `fd` is the open map fd the control thread holds for the
        // whole run (the XdpProgram outlives the workers); it is only
        // borrowed for the call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        // SAFETY: a fresh shared mapping chosen by the kernel (no address
        // hint), of the map's whole value; nothing else in this process
        // refers to that range.
        let p = unsafe {
            mmap(
                std::ptr::null_mut(),
                ECHO_IDS_LEN,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }
        .map_err(|e| io::Error::other(format!("mapping the echo identifier table: {e}")))?;
        let ptr = NonNull::new(p.cast::<AtomicU8>())
            .ok_or_else(|| io::Error::other("mapping the echo identifier table: null"))?;
        Ok(EchoTable { ptr })
    }

    fn bytes(&self) -> &[AtomicU8] {
        // SAFETY: the mapping is ECHO_IDS_LEN bytes, readable and
        // writable, and lives until `drop`; the kernel and other workers
        // touch it only byte by byte, which AtomicU8 allows.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), ECHO_IDS_LEN) }
    }

    /// Writes the shard's changes since the last call.
    #[inline]
    pub(super) fn sync(&self, shard: &mut Shard) {
        let t = self.bytes();
        shard
            .drain_echo_ids(|id, held| t[usize::from(id)].store(u8::from(held), Ordering::Relaxed));
    }
}

impl Drop for EchoTable {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once; no reference
        // from `bytes` outlives `&self`.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), ECHO_IDS_LEN) };
    }
}
