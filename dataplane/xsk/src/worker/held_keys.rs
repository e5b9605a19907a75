//! The worker's view of the WAN program's table of held keys (`struct
//! held_keys` in masq.c): the map's one value mapped shared into this
//! process, a byte per ICMP echo identifier and then a byte per
//! address-only key. After each batch and each loop the worker drains its
//! shard's changes (`Shard::drain_echo_ids`,
//! `Shard::drain_address_only_keys`) into it; each identifier lies in one
//! shard's blocks and each address-only key has one owning shard, so each
//! byte has one writer. The XDP program sends an echo reply, or a packet
//! of another protocol, to the box's own address to the NAT only while
//! its byte is set.

use std::io;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

use masq_core::Shard;
use rustix::mm::{mmap, munmap, MapFlags, ProtFlags};

use crate::xdp::{ADDRESS_ONLY_KEYS_AT, HELD_KEYS_LEN};

/// The mapped table; unmapped on drop.
pub(super) struct HeldTable {
    ptr: NonNull<AtomicU8>,
}

impl HeldTable {
    /// Maps the table of the map whose fd is `fd` (an mmapable array of
    /// one [`HELD_KEYS_LEN`]-byte value, which the caller keeps open while
    /// the worker runs).
    pub(super) fn map(fd: i32) -> io::Result<HeldTable> {
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
                HELD_KEYS_LEN,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }
        .map_err(|e| io::Error::other(format!("mapping the table of held keys: {e}")))?;
        let ptr = NonNull::new(p.cast::<AtomicU8>())
            .ok_or_else(|| io::Error::other("mapping the table of held keys: null"))?;
        Ok(HeldTable { ptr })
    }

    fn bytes(&self) -> &[AtomicU8] {
        // SAFETY: the mapping is HELD_KEYS_LEN bytes, readable and
        // writable, and lives until `drop`; the kernel and other workers
        // touch it only byte by byte, which AtomicU8 allows.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), HELD_KEYS_LEN) }
    }

    /// Writes the shard's changes since the last call.
    #[inline]
    pub(super) fn sync(&self, shard: &mut Shard) {
        write_changes(self.bytes(), shard);
    }
}

/// Writes the shard's changes into `table` (laid out as `struct
/// held_keys`): echo identifiers from 0, address-only keys from
/// [`ADDRESS_ONLY_KEYS_AT`].
#[inline]
fn write_changes(table: &[AtomicU8], shard: &mut Shard) {
    let (echo, address_only) = table.split_at(ADDRESS_ONLY_KEYS_AT);
    shard.drain_echo_ids(|id, held| echo[usize::from(id)].store(u8::from(held), Ordering::Relaxed));
    shard.drain_address_only_keys(|k, held| {
        address_only[usize::from(k)].store(u8::from(held), Ordering::Relaxed)
    });
}

impl Drop for HeldTable {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once; no reference
        // from `bytes` outlives `&self`.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), HELD_KEYS_LEN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use masq_core::{address_only_key, Config, NextHops, OwnAddrs, Prefix, Side, Time, Verdict};

    /// An Ethernet + IPv4 frame from `src` to `dst` of `proto` carrying
    /// `l4`, with its header checksum.
    fn frame(src: u32, dst: u32, proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 0x11, 0x08, 0x00];
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        h[8] = 64;
        h[9] = proto;
        h[12..16].copy_from_slice(&src.to_be_bytes());
        h[16..20].copy_from_slice(&dst.to_be_bytes());
        let mut sum: u32 = h
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        f.extend_from_slice(&h);
        f.extend_from_slice(l4);
        f
    }

    #[test]
    fn echo_identifiers_and_address_only_keys_land_in_their_halves() {
        const HOST: u32 = 0xc0a8_010a;
        const REMOTE: u32 = 0xc633_6401;
        let cfg = Config {
            pool: vec![Prefix::new(0xcb00_7101, 32).unwrap()],
            own_addrs: OwnAddrs::Pool,
            max_sessions: 64,
            max_subscribers: 16,
            event_queue: 256,
            ..Config::default()
        };
        let mut shard = Shard::new(&cfg, 0, Time(0)).unwrap();
        shard.set_next_hops(NextHops::default());
        let table: Vec<AtomicU8> = (0..HELD_KEYS_LEN).map(|_| AtomicU8::new(7)).collect();
        let set = |t: &[AtomicU8]| -> Vec<usize> {
            (0..HELD_KEYS_LEN)
                .filter(|&i| t[i].load(Ordering::Relaxed) != 0)
                .collect()
        };
        // The first write clears every byte the shard owns: with one
        // shard, every address-only key and every identifier of its blocks.
        write_changes(&table, &mut shard);
        let left = set(&table);
        assert!(
            left.iter().all(|&i| i < usize::from(cfg.port_min)),
            "{:?}",
            &left[..4]
        );
        // A GRE session and an echo mapping.
        let mut f = frame(HOST, REMOTE, 47, &[0, 0, 0x08, 0x00]);
        assert_eq!(shard.process(&mut f, Side::Lan, Time(0)), Verdict::ToWan);
        let mut e = frame(HOST, REMOTE, 1, &[8, 0, 0xf7, 0xf8, 0, 7, 0, 0]);
        assert_eq!(shard.process(&mut e, Side::Lan, Time(0)), Verdict::ToWan);
        let id = usize::from(u16::from_be_bytes([e[38], e[39]]));
        write_changes(&table, &mut shard);
        let key = ADDRESS_ONLY_KEYS_AT + usize::from(address_only_key(47, REMOTE));
        let now: Vec<usize> = set(&table)
            .into_iter()
            .filter(|i| !left.contains(i))
            .collect();
        assert_eq!(now, [id, key]);
    }
}
