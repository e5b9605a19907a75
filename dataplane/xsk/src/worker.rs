//! Poll-mode workers.
//!
//! A worker owns one queue pair: the LAN and WAN AF_XDP sockets of queue
//! `q`, bound to one UMEM so that a frame received on one side is sent on
//! the other without a copy, and one [`Shard`] of NAT state. It busy-polls
//! both sockets, runs each receive batch through [`Shard::process_batch`],
//! and moves every frame descriptor to exactly one place: a transmit ring,
//! another worker's hand-off ring (as a copy), or back to its free pool.
//!
//! Frame accounting: every descriptor of the UMEM is, at any time, in
//! exactly one of: the free pool, a fill ring or what the kernel or NIC
//! took from it, an RX ring, the batch being processed, a TX ring or the
//! completion ring. At a batch boundary the worker's counts (pool, frames
//! given to fill rings and not yet received, frames sent and not yet
//! completed) add up to the UMEM exactly; any difference is published as
//! `frames_unaccounted`.
//!
//! NAT events: each loop, a worker moves at most [`EVENTS_PER_LOOP`] of its
//! shard's events into `Shared::events` for the logger thread (a push that
//! finds the queue full drops the event and counts `Io::EventsDropped`), or
//! discards them when nothing logs.
//!
//! Counters: the worker's own, [`Io`], are one table (`io_counters!`) that
//! makes the variants, [`IO`] and [`Io::DROPS`], the drops it reports
//! under `masq_drops_total{reason}` beside the NAT's `DropReason` names;
//! the shard's are `masq_core::Counters`, published in its own order.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_queue::ArrayQueue;

use crate::command::{Mailbox, Server};
use masq_core::counters::{COUNTERS, DROP_REASONS};
use masq_core::wire::Mac;
use masq_core::{Config, Counters, Event, NextHops, Shard, Side, Time, Verdict};
use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig,
};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

/// Frames per receive batch.
pub const BATCH: usize = 64;
/// Size of a UMEM frame and of a hand-off buffer.
pub const FRAME_SIZE: usize = 2048;
/// Empty polls before a worker sleeps in poll(2) for at most 1 ms.
const SPIN_BEFORE_SLEEP: u32 = 20_000;
/// Most events a worker moves from its shard to `Shared::events` per loop
/// (more than a loop's frames can make; the rest wait in the shard's own
/// queue for the next loop).
pub const EVENTS_PER_LOOP: usize = 8 * BATCH;

/// A frame copied to the worker that owns its flow.
#[derive(Clone, Debug)]
pub struct Handoff {
    side: Side,
    len: u16,
    buf: [u8; FRAME_SIZE],
}

macro_rules! io_counters {
    ($($(#[doc = $doc:literal])+ $variant:ident $(=> $drop:literal)?,)*) => {
        /// A worker's own counters (the shard keeps the NAT's).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Io {
            $($(#[doc = $doc])+ $variant,)*
        }

        impl Io {
            /// Every counter, in index order.
            pub const ALL: [Io; IO] = [$(Io::$variant,)*];

            /// The frames a worker drops outside the NAT, with the drop
            /// reason names under which they are reported beside the NAT's.
            pub const DROPS: [(Io, &'static str); [$($($drop,)?)*].len()] =
                [$($((Io::$variant, $drop),)?)*];
        }

        /// Number of [`Io`] counters.
        pub const IO: usize = [$(stringify!($variant),)*].len();
    };
}

// A counter with `=> "name"` is a drop, exported under that reason.
io_counters! {
    /// Frames received from the LAN socket.
    RxLan,
    /// Frames received from the WAN socket.
    RxWan,
    /// Bytes received from the LAN socket.
    RxLanBytes,
    /// Bytes received from the WAN socket.
    RxWanBytes,
    /// Frames put on the LAN TX ring.
    TxLan,
    /// Frames put on the WAN TX ring.
    TxWan,
    /// Frames handed to other workers.
    HandedOff,
    /// Frames received from other workers.
    HandedIn,
    /// Frames dropped because a TX ring was full.
    TxRingFull => "tx_ring_full",
    /// Frames dropped because the owner's hand-off ring was full.
    HandoffFull => "handoff_ring_full",
    /// Frames for the WAN dropped because the gateway's MAC was not known
    /// yet.
    NoGateway => "no_next_hop",
    /// Frames the NAT would pass to the kernel but the XDP program had
    /// already redirected (dropped).
    PassDropped => "pass_after_redirect",
    /// All polls.
    Polls,
    /// Polls that found work.
    BusyPolls,
    /// Answers to the control thread lost because its ring was full.
    RepliesDropped,
    /// NAT events lost because `Shared::events` (the event log's queue)
    /// was full.
    EventsDropped,
    /// Frames the shard made itself (generated ICMP errors, released
    /// fragments) that the worker took to send.
    Emitted,
}

/// Numbers a worker publishes for the control thread (plain stores at
/// batch boundaries; never a lock or a syscall).
#[derive(Debug)]
pub struct WorkerStats {
    /// The worker's own counters, indexed by [`Io`].
    pub io: [AtomicU64; IO],
    /// The shard's counters, in `Counters::NAMES` order.
    pub core: [AtomicU64; COUNTERS],
    /// The shard's drops, in `DropReason::ALL` order.
    pub drops: [AtomicU64; DROP_REASONS],
    /// Live sessions per protocol, in `masq_core::Protocol::ALL` order.
    pub sessions_by_proto: [AtomicU64; 3],
    /// Live subscribers.
    pub subscribers: AtomicU64,
    /// UMEM frames neither in the pool nor in a ring the worker knows of
    /// (0 unless a frame leaked).
    pub frames_unaccounted: AtomicU64,
    /// File descriptors of the LAN and WAN sockets (-1 until bound), for
    /// the control thread's XDP_STATISTICS reads.
    pub fds: [AtomicI32; 2],
    /// Milliseconds since `Shared::epoch` at the worker's last publication
    /// (a worker that stops publishing is stuck).
    pub heartbeat_ms: AtomicU64,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            io: Default::default(),
            core: Default::default(),
            drops: Default::default(),
            sessions_by_proto: Default::default(),
            subscribers: AtomicU64::new(0),
            frames_unaccounted: AtomicU64::new(0),
            fds: [AtomicI32::new(-1), AtomicI32::new(-1)],
            heartbeat_ms: AtomicU64::new(0),
        }
    }
}

impl WorkerStats {
    /// One of the worker's own counters.
    pub fn io(&self, k: Io) -> u64 {
        self.io[k as usize].load(Ordering::Relaxed)
    }

    /// Live sessions of the shard.
    pub fn sessions(&self) -> u64 {
        self.sessions_by_proto
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }

    /// One of the shard's counters, by its `Counters::NAMES` name (0 for
    /// an unknown name).
    pub fn core(&self, name: &str) -> u64 {
        Counters::NAMES
            .iter()
            .position(|n| *n == name)
            .map_or(0, |i| self.core[i].load(Ordering::Relaxed))
    }
}

/// What workers share with the control thread.
#[derive(Debug)]
pub struct Shared {
    /// Set to stop every worker.
    pub stop: AtomicBool,
    /// The WAN gateway's MAC in the low 48 bits; bit 63 set when known.
    pub gateway_mac: AtomicU64,
    /// One entry per worker.
    pub stats: Vec<WorkerStats>,
    /// One inbound hand-off ring per worker.
    pub handoff: Vec<ArrayQueue<Handoff>>,
    /// One mailbox per worker, for the control thread's requests.
    pub mailboxes: Vec<Mailbox>,
    /// The clock all workers read.
    pub epoch: Instant,
    /// The wall clock read together with `epoch`, so that times on the
    /// workers' clock (event times) can be told as wall-clock times.
    pub epoch_wall: SystemTime,
    /// NAT events of every worker for the event logger; `None` when
    /// nothing logs (the workers then discard their shards' events).
    pub events: Option<ArrayQueue<Event>>,
}

impl Shared {
    /// Shared state for `workers` workers with hand-off rings of `ring`
    /// and no event queue.
    pub fn new(workers: usize, ring: usize) -> Shared {
        Shared {
            stop: AtomicBool::new(false),
            gateway_mac: AtomicU64::new(0),
            stats: (0..workers).map(|_| WorkerStats::default()).collect(),
            handoff: (0..workers).map(|_| ArrayQueue::new(ring.max(1))).collect(),
            mailboxes: (0..workers).map(|_| Mailbox::default()).collect(),
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
            events: None,
        }
    }

    /// The same with an event queue of `capacity` events (at least 1)
    /// that the workers fill for the event logger.
    pub fn with_events(mut self, capacity: usize) -> Shared {
        self.events = Some(ArrayQueue::new(capacity.max(1)));
        self
    }

    /// The sum over workers of one published number.
    pub fn total(&self, f: impl Fn(&WorkerStats) -> u64) -> u64 {
        self.stats.iter().map(f).sum()
    }

    /// Publishes the gateway's MAC.
    pub fn set_gateway(&self, mac: Mac) {
        let m = mac.0;
        let v = u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]]) | (1 << 63);
        self.gateway_mac.store(v, Ordering::Relaxed);
    }

    fn gateway(&self) -> Option<Mac> {
        let v = self.gateway_mac.load(Ordering::Relaxed);
        if v >> 63 == 0 {
            return None;
        }
        let b = v.to_be_bytes();
        Some(Mac([b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
}

/// Where a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerSpec {
    /// Worker (and shard) id.
    pub id: u16,
    /// Queue index on both interfaces.
    pub queue: u32,
    /// LAN interface.
    pub lan: String,
    /// WAN interface.
    pub wan: String,
    /// Core to pin to.
    pub core: Option<usize>,
    /// Frames in the UMEM.
    pub frames: u32,
    /// Entries in each ring.
    pub ring: u32,
    /// XSKMAP fds of the LAN and WAN programs.
    pub xsks: (i32, i32),
    /// Forward frames between the sides with their MACs rewritten and
    /// nothing else (no NAT): the I/O ceiling the benchmark compares with.
    pub l2_forward: bool,
}

/// The benchmark's plain L2 forwarder: LAN frames go to the WAN gateway,
/// WAN frames to the last LAN host seen; only the MACs change.
#[derive(Clone, Copy, Debug)]
struct L2Forward {
    hops: NextHops,
    lan_peer: [u8; 6],
}

impl L2Forward {
    #[inline]
    fn process(&mut self, frame: &mut [u8], side: Side) -> Verdict {
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

/// What a worker reports once its sockets are bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    /// Copy or zero-copy.
    pub mode: Mode,
    /// Whether the kernel accepted the preferred-busy-poll socket options.
    pub busy_poll: bool,
}

/// How the sockets were bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The kernel copies frames (veth, drivers without zero-copy).
    Copy,
    /// The NIC DMAs into the UMEM.
    ZeroCopy,
}

impl std::fmt::Display for Mode {
    /// `copy` or `zero-copy`, as the startup line prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Mode::Copy => "copy",
            Mode::ZeroCopy => "zero-copy",
        })
    }
}

struct Port {
    tx: TxQueue,
    rx: RxQueue,
    fq: FillQueue,
    cq: CompQueue,
    /// Frames on the TX ring not yet completed.
    outstanding: usize,
    /// Frames given to the fill ring and not yet received back.
    filled: usize,
    pending: Vec<FrameDesc>,
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

/// A frame in the UMEM, seen as bytes.
struct FrameRef<'a>(Option<xsk_rs::umem::frame::DataMut<'a>>);

impl AsMut<[u8]> for FrameRef<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Some(d) => d.contents_mut(),
            None => &mut [],
        }
    }
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

fn register(map_fd: i32, queue: u32, sock_fd: i32) -> io::Result<()> {
    crate::bpf::map_update(map_fd, &queue, &sock_fd, "register socket")
}

/// Binds the sockets of `spec` (zero-copy when the driver offers it, copy
/// mode otherwise), then runs the worker until `shared.stop`; returns the
/// shard for a final report.
pub fn run(
    spec: WorkerSpec,
    cfg: Config,
    hops: NextHops,
    shared: Arc<Shared>,
    ready: impl FnOnce(Started),
) -> io::Result<Shard> {
    if let Some(c) = spec.core {
        core_affinity::set_for_current(core_affinity::CoreId { id: c });
    }
    let mut shard =
        Shard::new(&cfg, spec.id, Time(0)).map_err(|e| io::Error::other(e.to_string()))?;
    shard.set_next_hops(hops);
    let mut l2 = spec.l2_forward.then_some(L2Forward {
        hops,
        lan_peer: [0; 6],
    });
    let frames = std::num::NonZeroU32::new(spec.frames)
        .ok_or_else(|| io::Error::other("frames must be > 0"))?;
    let q = QueueSize::new(spec.ring)
        .map_err(|e| io::Error::other(format!("ring size {}: {e}", spec.ring)))?;
    let umem_cfg = UmemConfig::builder()
        .fill_queue_size(q)
        .comp_queue_size(q)
        .frame_size(FrameSize::new(FRAME_SIZE as u32).map_err(|e| io::Error::other(e.to_string()))?)
        .build()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let (umem, descs) =
        Umem::new(umem_cfg, frames, false).map_err(|e| io::Error::other(format!("UMEM: {e}")))?;
    let (mut lan, mut wan, mode) = match (
        bind(&umem, &spec.lan, spec.queue, spec.ring, true),
        bind(&umem, &spec.wan, spec.queue, spec.ring, true),
    ) {
        (Ok(l), Ok(w)) => (l, w, Mode::ZeroCopy),
        (l, w) => {
            drop((l, w));
            (
                bind(&umem, &spec.lan, spec.queue, spec.ring, false)?,
                bind(&umem, &spec.wan, spec.queue, spec.ring, false)?,
                Mode::Copy,
            )
        }
    };
    register(spec.xsks.0, spec.queue, lan.rx.fd().as_raw_fd())?;
    register(spec.xsks.1, spec.queue, wan.rx.fd().as_raw_fd())?;
    let busy_poll =
        prefer_busy_poll(lan.rx.fd().as_raw_fd()) & prefer_busy_poll(wan.rx.fd().as_raw_fd());
    let stats = &shared.stats[usize::from(spec.id)];
    stats.fds[0].store(lan.rx.fd().as_raw_fd(), Ordering::Relaxed);
    stats.fds[1].store(wan.rx.fd().as_raw_fd(), Ordering::Relaxed);
    let total = descs.len();
    let mut free: Vec<FrameDesc> = descs;
    for p in [&mut lan, &mut wan] {
        let n = (spec.ring as usize).min(free.len() / 2);
        let at = free.len() - n;
        // SAFETY: these descriptors come from the free pool and are handed
        // to the kernel once; they leave the pool in the same step.
        let got = unsafe { p.fq.produce(&free[at..]) };
        free.truncate(at + (n - got));
        p.filled += got;
    }
    // Everything privileged is done: the sockets are bound and registered.
    // A worker parses untrusted frames, so it keeps no capability at all.
    crate::privilege::keep_only(&[])?;
    ready(Started { mode, busy_poll });

    let inbox = &shared.handoff[usize::from(spec.id)];
    let mailbox = &shared.mailboxes[usize::from(spec.id)];
    let mut server = Server::default();
    let mut scratch = vec![FrameDesc::default(); BATCH];
    let mut verdicts = [Verdict::Pass; BATCH];
    let mut emit_buf = vec![0u8; FRAME_SIZE];
    let mut idle = 0u32;
    let mut loops = 0u64;
    let mut c = LocalStats::default();
    // The gateway as last read from the control thread (every 256 loops):
    // frames for the WAN wait for it, without a shared read per frame.
    let mut gateway: Option<Mac> = None;
    let mut next_expiry: Option<Time> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Time(shared.epoch.elapsed().as_millis() as u64);
        let mut work = 0usize;

        // The control thread's requests come first, so that one queued
        // before the worker started (no external address yet) is in force
        // before any frame.
        if server.serve(&mut shard, now, mailbox) {
            // A reload or an address change may move timers.
            next_expiry = None;
            c[Io::RepliesDropped] = server.replies_dropped;
            work += 1;
        }

        // Frames handed over by other workers: copy into a free frame.
        for _ in 0..BATCH {
            if free.is_empty() {
                break;
            }
            let Some(h) = inbox.pop() else { break };
            work += 1;
            c[Io::HandedIn] += 1;
            let Some(mut d) = free.pop() else { break };
            // SAFETY: `d` came from the free pool: no ring and no other
            // reference holds it.
            let mut data = unsafe { umem.data_mut(&mut d) };
            let mut cur = data.cursor();
            cur.set_pos(0);
            let len = usize::from(h.len).min(FRAME_SIZE);
            if cur.write_all(&h.buf[..len]).is_err() {
                free.push(d);
                continue;
            }
            let v = shard.process(data.contents_mut(), h.side, now);
            route(
                v,
                d,
                &mut lan,
                &mut wan,
                &mut free,
                &mut c,
                gateway.is_some(),
            );
        }

        for side in [Side::Lan, Side::Wan] {
            let port = if side == Side::Lan {
                &mut lan
            } else {
                &mut wan
            };
            // SAFETY: `scratch` only receives descriptors the kernel hands
            // back; each is then routed to exactly one place below.
            let n = unsafe { port.rx.consume(&mut scratch) };
            if n == 0 {
                continue;
            }
            port.filled -= n.min(port.filled);
            work += n;
            let bytes: u64 = scratch[..n].iter().map(|d| d.lengths().data() as u64).sum();
            if side == Side::Lan {
                c[Io::RxLan] += n as u64;
                c[Io::RxLanBytes] += bytes;
            } else {
                c[Io::RxWan] += n as u64;
                c[Io::RxWanBytes] += bytes;
            }
            {
                let mut it = scratch[..n].iter_mut();
                let mut batch: [FrameRef<'_>; BATCH] = std::array::from_fn(|_| {
                    FrameRef(it.next().map(|d| {
                        // SAFETY: each descriptor was just received and is
                        // referenced only by this batch.
                        unsafe { umem.data_mut(d) }
                    }))
                });
                match &mut l2 {
                    Some(f) => {
                        for (frame, v) in batch[..n].iter_mut().zip(&mut verdicts[..n]) {
                            *v = f.process(frame.as_mut(), side);
                        }
                    }
                    None => shard.process_batch(&mut batch[..n], side, now, &mut verdicts[..n]),
                }
                for (k, v) in verdicts[..n].iter().enumerate() {
                    if let Verdict::HandOff {
                        shard: owner,
                        side: s,
                    } = *v
                    {
                        hand_off(&shared, owner, s, batch[k].as_mut(), &mut c);
                    }
                }
            }
            for k in 0..n {
                route(
                    verdicts[k],
                    scratch[k],
                    &mut lan,
                    &mut wan,
                    &mut free,
                    &mut c,
                    gateway.is_some(),
                );
            }
        }

        // Frames the shard made itself: ICMP errors it generated and early
        // fragments it held and now releases.
        while shard.has_emitted() {
            let Some(mut d) = free.pop() else { break };
            let Some((v, len)) = shard.pop_emitted(&mut emit_buf) else {
                free.push(d);
                break;
            };
            work += 1;
            c[Io::Emitted] += 1;
            if let Verdict::HandOff { shard: owner, side } = v {
                hand_off(&shared, owner, side, &emit_buf[..len], &mut c);
                free.push(d);
                continue;
            }
            // SAFETY: `d` came from the free pool: no ring and no other
            // reference holds it.
            let mut data = unsafe { umem.data_mut(&mut d) };
            let mut cur = data.cursor();
            cur.set_pos(0);
            if cur.write_all(&emit_buf[..len]).is_err() {
                free.push(d);
                continue;
            }
            route(
                v,
                d,
                &mut lan,
                &mut wan,
                &mut free,
                &mut c,
                gateway.is_some(),
            );
        }

        for (p, is_lan) in [(&mut lan, true), (&mut wan, false)] {
            let n = p.pending.len();
            if n > 0 {
                let room = p.tx.nb_free(n as u32) as usize;
                let take = room.min(n);
                // SAFETY: pending descriptors are owned by this worker and
                // go to the TX ring once; the rest return to the pool.
                let sent = unsafe { p.tx.produce(&p.pending[..take]) };
                p.outstanding += sent;
                if is_lan {
                    c[Io::TxLan] += sent as u64;
                } else {
                    c[Io::TxWan] += sent as u64;
                }
                c[Io::TxRingFull] += (n - sent) as u64;
                free.extend_from_slice(&p.pending[sent..]);
                p.pending.clear();
            }
            // Copy mode only moves frames inside sendto(): kick while any
            // are outstanding.
            if p.outstanding > 0 && (mode == Mode::Copy || p.tx.needs_wakeup()) {
                let _ = p.tx.wakeup();
            }
            loop {
                // SAFETY: completed descriptors come back from the kernel
                // once and go to the pool.
                let done = unsafe { p.cq.consume(&mut scratch) };
                if done == 0 {
                    break;
                }
                work += done;
                p.outstanding -= done.min(p.outstanding);
                free.extend_from_slice(&scratch[..done]);
            }
        }
        for p in [&mut lan, &mut wan] {
            let room = p.fq.nb_free(BATCH as u32) as usize;
            let n = room.min(free.len()).min(BATCH);
            if n > 0 {
                let at = free.len() - n;
                // SAFETY: as when priming: from the pool, to the kernel, once.
                let got = unsafe { p.fq.produce(&free[at..]) };
                free.truncate(at + (n - got));
                p.filled += got;
            }
            if p.fq.needs_wakeup() {
                let _ = p.fq.wakeup(p.rx.fd_mut(), 0);
            }
        }

        if next_expiry.is_none_or(|t| t <= now) {
            shard.expire(now, 4096);
            next_expiry = shard.next_expiry();
        }
        move_events(&mut shard, shared.events.as_ref(), &mut c, EVENTS_PER_LOOP);

        loops += 1;
        c[Io::Polls] += 1;
        if work > 0 {
            c[Io::BusyPolls] += 1;
            idle = 0;
        } else {
            idle += 1;
        }
        if gateway.is_none() || loops % 256 == 0 {
            if let Some(g) = shared.gateway() {
                if gateway != Some(g) {
                    gateway = Some(g);
                    let h = NextHops {
                        gateway_mac: g,
                        ..hops
                    };
                    shard.set_next_hops(h);
                    if let Some(f) = &mut l2 {
                        f.hops = h;
                    }
                }
            }
        }
        if loops % 256 == 0 || idle == SPIN_BEFORE_SLEEP {
            let known = free.len() + lan.outstanding + wan.outstanding + lan.filled + wan.filled;
            c.publish(stats, &shard, total.abs_diff(known));
            stats.heartbeat_ms.store(now.0, Ordering::Relaxed);
        }
        if idle >= SPIN_BEFORE_SLEEP {
            let mut fds = [
                libc::pollfd {
                    fd: lan.rx.fd().as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: wan.rx.fd().as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: `fds` is a valid array of two pollfd for the call.
            unsafe { libc::poll(fds.as_mut_ptr(), 2, 1) };
        }
    }
    // What the last loops made goes to the logger too, before it is told
    // to stop.
    move_events(&mut shard, shared.events.as_ref(), &mut c, usize::MAX);
    let known = free.len() + lan.outstanding + wan.outstanding + lan.filled + wan.filled;
    c.publish(stats, &shard, total.abs_diff(known));
    // The sockets close when this returns: their numbers are not ours to
    // read any more.
    stats.fds[0].store(-1, Ordering::Relaxed);
    stats.fds[1].store(-1, Ordering::Relaxed);
    Ok(shard)
}

/// Moves at most `max` of the shard's queued events to the logger's queue
/// (or discards them when nothing logs); a full queue drops the event and
/// counts it. Never waits: each step is one lock-free push.
#[inline]
fn move_events(shard: &mut Shard, to: Option<&ArrayQueue<Event>>, c: &mut LocalStats, max: usize) {
    for _ in 0..max {
        let Some(e) = shard.pop_event() else { break };
        if let Some(q) = to {
            if q.push(e).is_err() {
                c[Io::EventsDropped] += 1;
            }
        }
    }
}

/// Copies a frame into the hand-off ring of worker `owner`; a full ring
/// drops it and counts it.
fn hand_off(shared: &Shared, owner: u16, side: Side, bytes: &[u8], c: &mut LocalStats) {
    let len = bytes.len().min(FRAME_SIZE);
    let mut h = Handoff {
        side,
        len: len as u16,
        buf: [0; FRAME_SIZE],
    };
    h.buf[..len].copy_from_slice(&bytes[..len]);
    let pushed = match shared.handoff.get(usize::from(owner)) {
        Some(q) => q.push(h).is_ok(),
        None => false,
    };
    if pushed {
        c[Io::HandedOff] += 1;
    } else {
        c[Io::HandoffFull] += 1;
    }
}

/// Sends a processed frame's descriptor to its one next place.
#[inline]
fn route(
    v: Verdict,
    d: FrameDesc,
    lan: &mut Port,
    wan: &mut Port,
    free: &mut Vec<FrameDesc>,
    c: &mut LocalStats,
    gateway_known: bool,
) {
    match v {
        Verdict::ToLan => lan.pending.push(d),
        Verdict::ToWan => {
            if !gateway_known {
                // Not sent with an empty destination MAC: dropped and
                // counted until the control thread knows the next hop.
                c[Io::NoGateway] += 1;
                free.push(d)
            } else {
                wan.pending.push(d)
            }
        }
        Verdict::HandOff { .. } | Verdict::Held => free.push(d),
        Verdict::Pass => {
            c[Io::PassDropped] += 1;
            free.push(d)
        }
        // Counted by the shard, by reason.
        Verdict::Drop(_) => free.push(d),
    }
}

/// The worker's [`Io`] counters as plain numbers, published at batch
/// boundaries.
#[derive(Default)]
struct LocalStats([u64; IO]);

impl std::ops::Index<Io> for LocalStats {
    type Output = u64;
    fn index(&self, k: Io) -> &u64 {
        &self.0[k as usize]
    }
}

impl std::ops::IndexMut<Io> for LocalStats {
    fn index_mut(&mut self, k: Io) -> &mut u64 {
        &mut self.0[k as usize]
    }
}

impl LocalStats {
    fn publish(&self, s: &WorkerStats, shard: &Shard, unaccounted: usize) {
        let r = Ordering::Relaxed;
        for (a, v) in s.io.iter().zip(self.0) {
            a.store(v, r);
        }
        let counters = shard.counters();
        for (a, v) in s.core.iter().zip(counters.values()) {
            a.store(v, r);
        }
        for (a, v) in s.drops.iter().zip(counters.drops) {
            a.store(v, r);
        }
        for (a, v) in s
            .sessions_by_proto
            .iter()
            .zip(shard.session_count_by_proto())
        {
            a.store(v as u64, r);
        }
        s.subscribers.store(shard.subscriber_count() as u64, r);
        s.frames_unaccounted.store(unaccounted as u64, r);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use masq_core::DropReason;

    #[test]
    fn io_table_is_consistent() {
        assert_eq!(Io::ALL.len(), IO);
        for (i, k) in Io::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?}");
        }
        let mut seen = std::collections::HashSet::new();
        for (k, name) in Io::DROPS {
            assert!(seen.insert(k as usize), "{k:?} twice");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            // One label set per reason in masq_drops_total: a name the NAT
            // uses too would overwrite its count.
            assert!(
                DropReason::ALL.iter().all(|d| d.name() != name),
                "{name} is also a NAT drop reason"
            );
        }
        let names: std::collections::HashSet<_> = Io::DROPS.iter().map(|(_, n)| n).collect();
        assert_eq!(names.len(), Io::DROPS.len());
    }
}
