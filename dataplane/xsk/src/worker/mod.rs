//! Poll-mode workers.
//!
//! A worker owns one queue pair: the LAN and WAN AF_XDP sockets of queue
//! `q`, bound to one UMEM so that a frame received on one side is sent on
//! the other without a copy, and one [`Shard`] of NAT state. It busy-polls
//! both sockets, runs each receive batch through [`Shard::process_batch`],
//! and moves every frame descriptor to exactly one place: a transmit ring,
//! another worker's hand-off ring (as a copy), or back to its free pool.
//!
//! `Worker` holds all of it; its loop (`Worker::run`) is one call per
//! stage, and the stages are its methods. The rooms:
//!
//! * `stats`: the worker's counters ([`Io`]), what it publishes
//!   ([`WorkerStats`]) and what all workers share with the control thread
//!   ([`Shared`]).
//! * `socket`: binding and registering the two sockets, their busy-poll
//!   options, the ring operations of one socket, and the kernel's socket
//!   counters ([`xsk_statistics`]).
//! * `frames`: the UMEM, its free pool and the frame accounting.
//! * `handoff`: frames copied to the worker that owns them ([`Handoff`]).
//! * `l2forward`: the benchmark's MAC-only forwarder, run in place of the
//!   shard with `--l2-forward`.
//! * `held_keys`: the WAN program's table of held keys (echo identifiers,
//!   address-only keys), written from the shard's changes after each batch
//!   and each loop.
//!
//! NAT events: each loop, a worker moves at most [`EVENTS_PER_LOOP`] of its
//! shard's events into `Shared::events` for the logger thread (a push that
//! finds the queue full drops the event and counts `Io::EventsDropped`), or
//! discards them when nothing logs.
//!
//! The control thread reaches a worker through its mailbox
//! ([`crate::command`]) and the `Shared::stop` flag only.

mod frames;
mod handoff;
mod held_keys;
mod l2forward;
mod socket;
mod stats;

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use crate::command::{Mailbox, Served, Server};
use frames::{FrameRef, Frames};
use l2forward::L2Forward;
use masq_core::wire::Mac;
use masq_core::{Config, NextHops, Shard, Side, Time, Verdict};
use socket::Port;
use stats::LocalStats;
use xsk_rs::FrameDesc;

pub use handoff::Handoff;
pub use socket::{xsk_statistics, XSK_STATISTICS};
pub use stats::{Io, Shared, WorkerStats, IO};

/// Frames per receive batch.
pub const BATCH: usize = 64;
/// Size of a UMEM frame and of a hand-off buffer.
pub const FRAME_SIZE: usize = 2048;
// Every frame the shard emits (fragments it cut among them) fits a frame.
const _: () = assert!(FRAME_SIZE >= masq_core::EMIT_SLOT);
/// Empty polls before a worker sleeps in poll(2) for at most 1 ms.
const SPIN_BEFORE_SLEEP: u32 = 20_000;
/// Most events a worker moves from its shard to `Shared::events` per loop
/// (more than a loop's frames can make; the rest wait in the shard's own
/// queue for the next loop).
pub const EVENTS_PER_LOOP: usize = 8 * BATCH;
/// Loops between two publications of the counters and the heartbeat.
const PUBLISH_EVERY: u64 = 256;

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
    /// The WAN program's table of held keys
    /// ([`crate::xdp::XdpProgram::held_keys_fd`]); `None` to write none.
    pub held_keys: Option<i32>,
    /// Forward frames between the sides with their MACs rewritten and
    /// nothing else (no NAT): the I/O ceiling the benchmark compares with.
    pub l2_forward: bool,
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
    let mut worker = Worker::new(&spec, &cfg, hops, &shared)?;
    // Everything privileged is done: the sockets are bound and registered.
    // A worker parses untrusted frames, so it keeps no capability at all.
    crate::privilege::keep_only(&[])?;
    ready(worker.started);
    worker.run();
    Ok(worker.finish())
}

/// The index of a side's socket in `Worker::ports`.
const LAN: usize = 0;
const WAN: usize = 1;

/// One of the worker's sockets: where it is and what it counts in.
#[derive(Clone, Copy)]
struct PortId {
    /// Index in `Worker::ports`.
    at: usize,
    /// The side its frames arrive on.
    side: Side,
    /// Frames received, bytes received, frames sent.
    rx: Io,
    rx_bytes: Io,
    tx: Io,
}

/// The worker's sockets, in `Worker::ports` order.
const PORTS: [PortId; 2] = [
    PortId {
        at: LAN,
        side: Side::Lan,
        rx: Io::RxLan,
        rx_bytes: Io::RxLanBytes,
        tx: Io::TxLan,
    },
    PortId {
        at: WAN,
        side: Side::Wan,
        rx: Io::RxWan,
        rx_bytes: Io::RxWanBytes,
        tx: Io::TxWan,
    },
];

/// One poll-mode worker: its sockets, UMEM, shard and counters.
struct Worker<'a> {
    shared: &'a Shared,
    /// This worker's hand-off ring (others write, it reads).
    inbox: &'a ArrayQueue<Handoff>,
    mailbox: &'a Mailbox,
    stats: &'a WorkerStats,
    /// How the sockets were bound.
    started: Started,
    /// The LAN and WAN sockets, at [`LAN`] and [`WAN`].
    ports: [Port; 2],
    frames: Frames,
    shard: Shard,
    /// `Some` with `--l2-forward`: runs in place of the shard.
    l2: Option<L2Forward>,
    /// The table of held keys the WAN program reads.
    held: Option<held_keys::HeldTable>,
    /// The MACs written into frames; the gateway's is set by the control
    /// thread's `SetGateway`.
    hops: NextHops,
    /// Whether a `SetGateway` came: until then frames for the WAN are
    /// dropped rather than sent with an empty destination MAC.
    gateway_known: bool,
    server: Server,
    /// Descriptors of the batch being received or completed.
    scratch: Vec<FrameDesc>,
    /// What the shard decided for each frame of the batch.
    verdicts: [Verdict; BATCH],
    /// A frame the shard made itself, before it is copied into the UMEM.
    emit_buf: Vec<u8>,
    c: LocalStats,
    /// Loops since the last one that found work.
    idle: u32,
    loops: u64,
    /// When the shard's next timer is due; `None` to ask it again.
    next_expiry: Option<Time>,
}

impl<'a> Worker<'a> {
    /// Creates the shard and the UMEM, binds and registers the sockets and
    /// primes their fill rings.
    fn new(
        spec: &WorkerSpec,
        cfg: &Config,
        hops: NextHops,
        shared: &'a Shared,
    ) -> io::Result<Worker<'a>> {
        let id = usize::from(spec.id);
        let mut shard =
            Shard::new(cfg, spec.id, Time(0)).map_err(|e| io::Error::other(e.to_string()))?;
        shard.set_next_hops(hops);
        let held = spec.held_keys.map(held_keys::HeldTable::map).transpose()?;
        let mut frames = Frames::new(spec.frames, spec.ring)?;
        let (mut ports, started) = socket::open(&frames.umem, spec)?;
        let stats = &shared.stats[id];
        for (a, p) in stats.fds.iter().zip(&ports) {
            a.store(p.fd(), Ordering::Relaxed);
        }
        for p in &mut ports {
            let n = (spec.ring as usize).min(frames.free.len() / 2);
            p.refill(&mut frames.free, n);
        }
        Ok(Worker {
            shared,
            inbox: &shared.handoff[id],
            mailbox: &shared.mailboxes[id],
            stats,
            started,
            ports,
            frames,
            shard,
            l2: spec.l2_forward.then(|| L2Forward::new(hops)),
            held,
            hops,
            gateway_known: false,
            server: Server::default(),
            scratch: vec![FrameDesc::default(); BATCH],
            verdicts: [Verdict::Pass; BATCH],
            emit_buf: vec![0u8; FRAME_SIZE],
            c: LocalStats::default(),
            idle: 0,
            loops: 0,
            next_expiry: None,
        })
    }

    /// Polls until `Shared::stop`.
    fn run(&mut self) {
        while !self.shared.stop.load(Ordering::Relaxed) {
            let now = Time(self.shared.epoch.elapsed().as_millis() as u64);
            // The control thread's requests come first, so that one queued
            // before the worker started (no external address yet) is in
            // force before any frame.
            let mut work = self.serve(now);
            work += self.take_handed_in(now);
            self.sync_held_keys();
            for p in PORTS {
                let n = self.receive(p);
                if n > 0 {
                    self.process(p.side, n, now);
                    // Before the frames leave: a reply to a new echo
                    // mapping or address-only session must find its key
                    // held.
                    self.sync_held_keys();
                    self.dispatch(n);
                    work += n;
                }
            }
            work += self.take_emitted();
            for p in PORTS {
                self.transmit(p);
                work += self.complete(p);
            }
            for p in PORTS {
                self.refill(p);
            }
            self.expire(now);
            self.sync_held_keys();
            self.move_events(EVENTS_PER_LOOP);
            self.end_loop(work, now);
        }
    }

    /// Hands the last events to the logger, publishes the last numbers
    /// and gives the shard back; the sockets close with the worker.
    fn finish(mut self) -> Shard {
        // What the last loops made goes to the logger too, before it is
        // told to stop.
        self.move_events(usize::MAX);
        self.publish();
        // The sockets close when the worker drops: their numbers are not
        // ours to read any more.
        for a in &self.stats.fds {
            a.store(-1, Ordering::Relaxed);
        }
        self.shard
    }

    /// Serves the control thread: one command, or one step of a snapshot.
    /// Returns the work done (0 or 1).
    fn serve(&mut self, now: Time) -> usize {
        match self.server.serve(&mut self.shard, now, self.mailbox) {
            Served::Idle => return 0,
            Served::Worked => {}
            Served::Gateway(mac) => self.set_gateway(mac),
        }
        // A reload or an address change may move timers.
        self.next_expiry = None;
        self.c[Io::RepliesDropped] = self.server.replies_dropped;
        1
    }

    /// Makes `mac` the destination of frames sent to the WAN.
    fn set_gateway(&mut self, mac: Mac) {
        self.hops.gateway_mac = mac;
        self.gateway_known = true;
        self.shard.set_next_hops(self.hops);
        if let Some(f) = &mut self.l2 {
            f.hops = self.hops;
        }
    }

    /// Takes frames other workers handed over: each is copied into a free
    /// frame, processed and routed. Returns how many.
    fn take_handed_in(&mut self, now: Time) -> usize {
        let mut taken = 0;
        while taken < BATCH && !self.frames.free.is_empty() {
            let Some(h) = self.inbox.pop() else { break };
            taken += 1;
            self.c[Io::HandedIn] += 1;
            let shard = &mut self.shard;
            if let Some((d, v)) = self
                .frames
                .copy_in(h.bytes(), |b| shard.process(b, h.side(), now))
            {
                self.route(v, d);
            }
        }
        taken
    }

    /// Receives a batch from one socket into `scratch`; returns its size.
    #[inline]
    fn receive(&mut self, p: PortId) -> usize {
        let n = self.ports[p.at].receive(&mut self.scratch);
        if n > 0 {
            self.c[p.rx] += n as u64;
            self.c[p.rx_bytes] += self.scratch[..n]
                .iter()
                .map(|d| d.lengths().data() as u64)
                .sum::<u64>();
        }
        n
    }

    /// Runs the received batch of `n` frames through the shard (or the L2
    /// forwarder), which rewrites them in place and fills `verdicts`.
    #[inline]
    fn process(&mut self, side: Side, n: usize, now: Time) {
        let umem = &self.frames.umem;
        let mut it = self.scratch[..n].iter_mut();
        let mut batch: [FrameRef<'_>; BATCH] = std::array::from_fn(|_| {
            FrameRef(it.next().map(|d| {
                // SAFETY: each descriptor was just received and is
                // referenced only by this batch.
                unsafe { umem.data_mut(d) }
            }))
        });
        let verdicts = &mut self.verdicts[..n];
        match &mut self.l2 {
            Some(f) => {
                for (frame, v) in batch[..n].iter_mut().zip(verdicts) {
                    *v = f.process(frame.as_mut(), side);
                }
            }
            None => self
                .shard
                .process_batch(&mut batch[..n], side, now, verdicts),
        }
    }

    /// Hands a copy of each frame of the processed batch that another
    /// worker owns to that worker's ring, and routes every frame to its
    /// one next place (`Worker::route`; a handed-off frame goes back to
    /// the pool).
    #[inline]
    fn dispatch(&mut self, n: usize) {
        for k in 0..n {
            let (v, d) = (self.verdicts[k], self.scratch[k]);
            if let Verdict::HandOff { shard, side } = v {
                // SAFETY: `d` was received in this batch and no ring holds
                // it; the bytes are only read, before `route` frees it.
                let bytes = unsafe { self.frames.umem.data(&d) }.contents();
                handoff::send(&self.shared.handoff, shard, side, bytes, &mut self.c);
            }
            self.route(v, d);
        }
    }

    /// Takes the frames the shard made itself (ICMP errors it generated,
    /// early fragments it held and now releases) while frames are free.
    /// Returns how many.
    fn take_emitted(&mut self) -> usize {
        let mut taken = 0;
        while self.shard.has_emitted() && !self.frames.free.is_empty() {
            let Some((v, len)) = self.shard.pop_emitted(&mut self.emit_buf) else {
                break;
            };
            taken += 1;
            self.c[Io::Emitted] += 1;
            let bytes = &self.emit_buf[..len];
            if let Verdict::HandOff { shard, side } = v {
                handoff::send(&self.shared.handoff, shard, side, bytes, &mut self.c);
            } else if let Some((d, ())) = self.frames.copy_in(bytes, |_| ()) {
                self.route(v, d);
            }
        }
        taken
    }

    /// Sends a processed frame's descriptor to its one next place: a
    /// socket's pending frames or the free pool.
    #[inline]
    fn route(&mut self, v: Verdict, d: FrameDesc) {
        match v {
            Verdict::ToLan => self.ports[LAN].pending.push(d),
            Verdict::ToWan => {
                if self.gateway_known {
                    self.ports[WAN].pending.push(d)
                } else {
                    // Not sent with an empty destination MAC: dropped and
                    // counted until the control thread knows the next hop.
                    self.c[Io::NoGateway] += 1;
                    self.frames.free.push(d)
                }
            }
            Verdict::HandOff { .. } | Verdict::Held | Verdict::Fragmented => {
                self.frames.free.push(d)
            }
            Verdict::Pass => {
                self.c[Io::PassDropped] += 1;
                self.frames.free.push(d)
            }
            // Counted by the shard, by reason.
            Verdict::Drop(_) => self.frames.free.push(d),
        }
    }

    /// Puts one socket's pending frames on its TX ring and kicks it.
    #[inline]
    fn transmit(&mut self, p: PortId) {
        let (sent, full) = self.ports[p.at].transmit(&mut self.frames.free, self.started.mode);
        self.c[p.tx] += sent as u64;
        self.c[Io::TxRingFull] += full as u64;
    }

    /// Returns one socket's completed frames to the free pool; returns how
    /// many.
    #[inline]
    fn complete(&mut self, p: PortId) -> usize {
        self.ports[p.at].complete(&mut self.scratch, &mut self.frames.free)
    }

    /// Gives one socket's fill ring up to a batch of free frames, so that
    /// the side that received (and used up frames) gets them back.
    #[inline]
    fn refill(&mut self, p: PortId) {
        self.ports[p.at].refill(&mut self.frames.free, BATCH);
    }

    /// Expires the shard's sessions and blocks when its next timer is due.
    #[inline]
    fn expire(&mut self, now: Time) {
        if self.next_expiry.is_none_or(|t| t <= now) {
            self.shard.expire(now, 4096);
            self.next_expiry = self.shard.next_expiry();
        }
    }

    /// Writes the shard's changes of held keys into the WAN program's
    /// table (nothing to do in most loops).
    #[inline]
    fn sync_held_keys(&mut self) {
        if let Some(t) = &self.held {
            t.sync(&mut self.shard);
        }
    }

    /// Moves at most `max` of the shard's queued events to the logger's
    /// queue (or discards them when nothing logs); a full queue drops the
    /// event and counts it. Never waits: each step is one lock-free push.
    #[inline]
    fn move_events(&mut self, max: usize) {
        for _ in 0..max {
            let Some(e) = self.shard.pop_event() else {
                break;
            };
            if let Some(q) = &self.shared.events {
                if q.push(e).is_err() {
                    self.c[Io::EventsDropped] += 1;
                }
            }
        }
    }

    /// Counts the loop; publishes the numbers and the heartbeat every
    /// [`PUBLISH_EVERY`] loops and when the worker goes idle; sleeps in
    /// poll(2) for at most 1 ms once idle.
    #[inline]
    fn end_loop(&mut self, work: usize, now: Time) {
        self.loops += 1;
        self.c[Io::Polls] += 1;
        if work > 0 {
            self.c[Io::BusyPolls] += 1;
            self.idle = 0;
        } else {
            self.idle += 1;
        }
        if self.loops % PUBLISH_EVERY == 0 || self.idle == SPIN_BEFORE_SLEEP {
            self.publish();
            self.stats.heartbeat_ms.store(now.0, Ordering::Relaxed);
        }
        if self.idle >= SPIN_BEFORE_SLEEP {
            socket::wait_readable(self.ports.each_ref().map(Port::fd), 1);
        }
    }

    /// Publishes the counters and the frames unaccounted for.
    fn publish(&self) {
        let known = self.frames.free.len()
            + self
                .ports
                .iter()
                .map(|p| p.outstanding + p.filled)
                .sum::<usize>();
        self.c
            .publish(self.stats, &self.shard, self.frames.total.abs_diff(known));
    }
}
