//! The worker's two AF_XDP sockets: binding them to one UMEM (zero-copy
//! when the driver offers it, copy mode otherwise), registering them in the
//! XDP programs' XSKMAPs, the busy-poll socket options, and the ring
//! operations of one socket ([`Port`]). Also the kernel's per-socket
//! counters ([`xsk_statistics`]), which the control thread reads.

use std::io;
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Duration;

use super::{Mode, Started, WorkerSpec, BATCH};
use xsk_rs::config::{BindFlags, Interface, LibxdpFlags, QueueSize, SocketConfig};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

/// One socket's four rings and the worker's count of what is in them.
pub(super) struct Port {
    tx: TxQueue,
    rx: RxQueue,
    fq: FillQueue,
    cq: CompQueue,
    /// Frames on the TX ring not yet completed.
    pub(super) outstanding: usize,
    /// Frames given to the fill ring and not yet received back.
    pub(super) filled: usize,
    /// Frames to put on the TX ring at the next [`Port::transmit`].
    pub(super) pending: Vec<FrameDesc>,
}

impl Port {
    /// The socket's file descriptor.
    pub(super) fn fd(&self) -> i32 {
        self.rx.fd().as_raw_fd()
    }

    /// Takes received descriptors into `into` (at most its length);
    /// returns how many.
    #[inline]
    pub(super) fn receive(&mut self, into: &mut [FrameDesc]) -> usize {
        // SAFETY: `into` only receives descriptors the kernel hands back;
        // the caller routes each to exactly one place.
        let n = unsafe { self.rx.consume(into) };
        self.filled -= n.min(self.filled);
        n
    }

    /// Puts the pending frames on the TX ring as far as it has room (the
    /// rest go back to `free`) and kicks the kernel while frames are
    /// outstanding; returns (sent, dropped for a full ring).
    #[inline]
    pub(super) fn transmit(&mut self, free: &mut Vec<FrameDesc>, mode: Mode) -> (usize, usize) {
        let n = self.pending.len();
        let mut sent = 0;
        if n > 0 {
            let room = self.tx.nb_free(n as u32) as usize;
            let take = room.min(n);
            // SAFETY: pending descriptors are owned by this worker and go
            // to the TX ring once; the rest return to the pool.
            sent = unsafe { self.tx.produce(&self.pending[..take]) };
            self.outstanding += sent;
            free.extend_from_slice(&self.pending[sent..]);
            self.pending.clear();
        }
        // Copy mode only moves frames inside sendto(): kick while any are
        // outstanding.
        if self.outstanding > 0 && (mode == Mode::Copy || self.tx.needs_wakeup()) {
            let _ = self.tx.wakeup();
        }
        (sent, n - sent)
    }

    /// Moves every completed frame to `free`, through `scratch`; returns
    /// how many.
    #[inline]
    pub(super) fn complete(
        &mut self,
        scratch: &mut [FrameDesc],
        free: &mut Vec<FrameDesc>,
    ) -> usize {
        let mut total = 0;
        loop {
            // SAFETY: completed descriptors come back from the kernel once
            // and go to the pool.
            let done = unsafe { self.cq.consume(scratch) };
            if done == 0 {
                return total;
            }
            total += done;
            self.outstanding -= done.min(self.outstanding);
            free.extend_from_slice(&scratch[..done]);
        }
    }

    /// Gives at most `max` frames from the end of `free` to the fill ring
    /// and wakes the kernel when it asks.
    #[inline]
    pub(super) fn refill(&mut self, free: &mut Vec<FrameDesc>, max: usize) {
        let room = self.fq.nb_free(max as u32) as usize;
        let n = room.min(free.len()).min(max);
        if n > 0 {
            let at = free.len() - n;
            // SAFETY: these descriptors come from the free pool and are
            // handed to the kernel once; they leave the pool in the same
            // step.
            let got = unsafe { self.fq.produce(&free[at..]) };
            free.truncate(at + (n - got));
            self.filled += got;
        }
        if self.fq.needs_wakeup() {
            let _ = self.fq.wakeup(self.rx.fd_mut(), 0);
        }
    }
}

/// Binds the LAN and WAN sockets of `spec` to `umem` (zero-copy when both
/// drivers offer it, copy mode otherwise), registers them in the XSKMAPs
/// and asks for preferred busy polling.
pub(super) fn open(umem: &Umem, spec: &WorkerSpec) -> io::Result<([Port; 2], Started)> {
    let (lan, wan, mode) = match (
        bind(umem, &spec.lan, spec.queue, spec.ring, true),
        bind(umem, &spec.wan, spec.queue, spec.ring, true),
    ) {
        (Ok(l), Ok(w)) => (l, w, Mode::ZeroCopy),
        (l, w) => {
            drop((l, w));
            (
                bind(umem, &spec.lan, spec.queue, spec.ring, false)?,
                bind(umem, &spec.wan, spec.queue, spec.ring, false)?,
                Mode::Copy,
            )
        }
    };
    register(spec.xsks.0, spec.queue, lan.fd())?;
    register(spec.xsks.1, spec.queue, wan.fd())?;
    let busy_poll = prefer_busy_poll(lan.fd()) & prefer_busy_poll(wan.fd());
    Ok(([lan, wan], Started { mode, busy_poll }))
}

fn bind(umem: &Umem, ifname: &str, queue: u32, ring: u32, zero_copy: bool) -> io::Result<Port> {
    let iface: Interface = ifname
        .parse()
        .map_err(|_| io::Error::other(format!("bad interface name {ifname:?}")))?;
    let q = QueueSize::new(ring).map_err(|e| io::Error::other(format!("ring size {ring}: {e}")))?;
    let flags = if zero_copy {
        BindFlags::XDP_ZEROCOPY
    } else {
        BindFlags::XDP_COPY
    } | BindFlags::XDP_USE_NEED_WAKEUP;
    let cfg = SocketConfig::builder()
        .rx_queue_size(q)
        .tx_queue_size(q)
        .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
        .bind_flags(flags)
        .build();
    let mut delay = Duration::from_millis(10);
    let mut attempt = 0;
    loop {
        // SAFETY: each (interface, queue) pair is bound once per UMEM, and
        // the program-load inhibit flag is set as xsk-rs requires.
        match unsafe { Socket::new(cfg, umem, &iface, queue) } {
            Ok((tx, rx, Some((fq, cq)))) => {
                return Ok(Port {
                    tx,
                    rx,
                    fq,
                    cq,
                    outstanding: 0,
                    filled: 0,
                    pending: Vec::with_capacity(2 * BATCH),
                })
            }
            Ok((_, _, None)) => {
                return Err(io::Error::other(format!(
                    "{ifname} queue {queue}: no fill/completion rings"
                )))
            }
            Err(e) => {
                let busy = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<io::Error>())
                    .is_some_and(|s| s.raw_os_error() == Some(libc::EBUSY));
                attempt += 1;
                if !busy || attempt > 8 {
                    let src = std::error::Error::source(&e)
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    return Err(io::Error::other(format!(
                        "bind {ifname} queue {queue}: {e}: {src}"
                    )));
                }
                // A socket closed just before may still hold the queue.
                thread::sleep(delay);
                delay *= 2;
            }
        }
    }
}

fn register(map_fd: i32, queue: u32, sock_fd: i32) -> io::Result<()> {
    crate::bpf::map_update(map_fd, &queue, &sock_fd, "register socket")
}

/// Socket options of preferred busy polling (include/uapi/asm-generic/socket.h).
const SO_BUSY_POLL: libc::c_int = 46;
const SO_PREFER_BUSY_POLL: libc::c_int = 69;
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// Asks the kernel to prefer busy polling on an AF_XDP socket; true when
/// it accepted all three options (it refuses them without privilege or on
/// kernels that lack them, and the worker then simply polls the rings).
fn prefer_busy_poll(fd: i32) -> bool {
    let set = |opt: libc::c_int, val: libc::c_int| {
        // SAFETY: `val` is a live c_int and its size is passed with it.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&val as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        r == 0
    };
    set(SO_PREFER_BUSY_POLL, 1)
        & set(SO_BUSY_POLL, 20)
        & set(SO_BUSY_POLL_BUDGET, BATCH as libc::c_int)
}

/// Sleeps in poll(2) until one of `fds` has frames to receive, for at most
/// `ms` milliseconds.
pub(super) fn wait_readable(fds: [i32; 2], ms: i32) {
    let mut p = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: `p` is a valid array of two pollfd for the call.
    unsafe { libc::poll(p.as_mut_ptr(), 2, ms) };
}

/// `SOL_XDP` and `XDP_STATISTICS` (include/uapi/linux/if_xdp.h).
const SOL_XDP: libc::c_int = 283;
const XDP_STATISTICS: libc::c_int = 7;

/// Counters the kernel keeps for an AF_XDP socket, in the order of
/// `struct xdp_statistics`, each with what it counts (exported as
/// `masq_xsk_<name>_total`, with that as its help).
pub const XSK_STATISTICS: [(&str, &str); 6] = [
    (
        "rx_dropped",
        "received frames the kernel dropped for other reasons",
    ),
    (
        "rx_invalid_descs",
        "received frames dropped for an invalid descriptor",
    ),
    (
        "tx_invalid_descs",
        "frames to send dropped for an invalid descriptor",
    ),
    (
        "rx_ring_full",
        "received frames dropped because the RX ring was full",
    ),
    (
        "fill_ring_empty",
        "times the kernel found the fill ring empty",
    ),
    ("tx_ring_empty", "times the kernel found the TX ring empty"),
];

/// Reads the kernel's [`XSK_STATISTICS`] of the AF_XDP socket `fd` (one
/// getsockopt; the control thread calls it, never a worker).
pub fn xsk_statistics(fd: i32) -> io::Result<[u64; XSK_STATISTICS.len()]> {
    let mut v = [0u64; XSK_STATISTICS.len()];
    let mut len = std::mem::size_of_val(&v) as libc::socklen_t;
    // SAFETY: `v` is a writable buffer of `len` bytes that outlives the call.
    let r =
        unsafe { libc::getsockopt(fd, SOL_XDP, XDP_STATISTICS, v.as_mut_ptr().cast(), &mut len) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != std::mem::size_of_val(&v) {
        return Err(io::Error::other("XDP_STATISTICS: unexpected size"));
    }
    Ok(v)
}
