//! One shard of NAT state and the path of a frame through it.
//!
//! A shard owns the subscribers that hash to it, the port blocks whose
//! number is congruent to its id, and every session of those subscribers.
//! This file holds the [`Shard`] type and the path of a frame, each step a
//! call into the room that owns it:
//!
//! | room | owns |
//! |---|---|
//! | `classify.rs` | where an address leads: inside, pool, one-to-one; which shard owns a flow |
//! | `fastpath.rs` | session lookup and the precomputed rewrite; TCP state |
//! | `slowpath.rs` | filtering, limits and creating sessions |
//! | `ports.rs` | subscribers, port blocks and port allocation (deterministic too) |
//! | `statics.rs` | static mappings: port forwards and one-to-one addresses |
//! | `holds.rs` | held mappings (PCP, NAT-PMP): anchors, held sessions, their ends |
//! | `icmp_error.rs` | translating ICMP errors, both directions (RFC 5508) |
//! | `generate.rs` | the ICMP errors the NAT sends itself, exhaustion events |
//! | `fragments.rs` | fragments after the first (RFC 4787 REQ-14) |
//! | `address_only.rs` | every other IP protocol (GRE, ESP, ...): address-only sessions |
//! | `egress.rs` | packets larger than the egress MTU, cut into fragments (REQ-13a) |
//! | `timers.rs` | expiry and removal of sessions |
//! | `snapshot.rs` | what the control plane reads: counts, sessions, subscribers |
//! | `ops.rs` | what the control plane changes: flush, address, configuration |
//!
//! Each room has unit tests of its own in `tests/`; `docs/core.md` walks
//! one packet through the rooms.

mod address_only;
mod classify;
mod egress;
mod fastpath;
mod fragments;
mod generate;
mod held_keys;
mod holds;
mod icmp_error;
mod ops;
mod ports;
mod slowpath;
mod snapshot;
mod statics;
mod timers;

#[cfg(test)]
mod tests;

pub use held_keys::KEY_CHANGES;
pub use snapshot::{SessionInfo, SubscriberInfo};

use crate::config::Config;
use crate::counters::{Counters, DropReason};
use crate::emit::{self, EmitQueue, RateLimiter};
use crate::event::EventQueue;
use crate::frag;
use crate::hash::Hasher;
use crate::index::Index;
use crate::pool::{BlockMap, Blocks};
use crate::session::{Session, Wheel};
use crate::verdict::{NextHops, Side, Verdict};
use crate::wire::icmp;
use crate::wire::ipv4::PROTO_ICMP;
use crate::wire::{IpRepr, Transport, WireError};
use crate::Time;
use classify::Ext;
use held_keys::HeldKeys;
use ports::Subscriber;
use statics::Static;

/// See the module documentation.
#[derive(Debug)]
pub struct Shard {
    id: u16,
    cfg: Config,
    hasher: Hasher,
    pool_addrs: Vec<u32>,
    sessions: Vec<Session>,
    free_head: u32,
    sess_out: Index,
    sess_in: Index,
    map_out: Index,
    map_in: Index,
    subs: Vec<Subscriber>,
    sub_free: u32,
    subs_live: u32,
    /// Records of subscribers another shard owns (they hold address-only
    /// sessions only): not counted as this shard's subscribers.
    subs_away: u32,
    sub_index: Index,
    blocks: Blocks,
    wheel: Wheel,
    hops: NextHops,
    counters: Counters,
    events: EventQueue,
    /// Live sessions per protocol slot (`proto::slot_of`).
    live_proto: [u32; crate::proto::SLOTS],
    /// MASQUERADE with no WAN address: no new mapping can be made.
    ext_down: bool,
    /// Frames the shard sends besides the one it was given.
    emit: EmitQueue,
    /// Limits on generated ICMP errors.
    icmp_limit: RateLimiter,
    /// Limits on exhaustion events.
    event_limit: RateLimiter,
    frags: frag::Table,
    held: frag::Held,
    /// One frame's room, for a held fragment on its way out.
    scratch: Vec<u8>,
    /// The caller's clock at the frame being processed, in milliseconds.
    now_ms: u64,
    /// Source of ICMP errors sent to subscribers (the LAN interface's
    /// address); 0 until set, when the first pool address stands in.
    lan_addr: u32,
    /// Static mappings with the inside host's MAC, once known.
    statics: Vec<Static>,
    /// Bit per (pool address, block): set for blocks that hold a static
    /// mapping's port. Empty when no static mapping is on a pool address.
    reserved: Vec<u64>,
    /// ICMP echo mappings per identifier, for the XDP program's table.
    echo: HeldKeys,
    /// Address-only sessions on own addresses per key, for the XDP
    /// program's table.
    address_only_keys: HeldKeys,
    /// Ends and filters of held sessions (PCP, NAT-PMP).
    holds: holds::HoldTable,
}

impl Shard {
    /// Builds shard `id` of a validated configuration, allocating every
    /// table at its full size. `now` starts the timer wheel.
    pub fn new(cfg: &Config, id: u16, now: Time) -> Result<Shard, crate::ConfigError> {
        cfg.validate()?;
        if id >= cfg.workers {
            return Err(crate::ConfigError {
                key: "workers",
                reason: format!("shard {id} of {}", cfg.workers),
            });
        }
        let cap = cfg.max_sessions as usize;
        let nsubs = cfg.max_subscribers as usize;
        let map = BlockMap {
            shards: cfg.workers,
            port_min: cfg.port_min,
            block_size: cfg.block_size,
            blocks_per_addr: cfg.blocks_per_addr(),
        };
        let pool_addrs = cfg.pool_addrs();
        let max_in_use = nsubs.saturating_mul(usize::from(cfg.limits.blocks_per_subscriber));
        let mut blocks = Blocks::new(
            map,
            id,
            pool_addrs.len(),
            max_in_use,
            cfg.timeouts.block_hold,
        );
        let reserved = statics::reserve_blocks(cfg, &pool_addrs, &mut blocks);
        let f = cfg.fragments;
        let mut shard = Shard {
            id,
            hasher: Hasher::new(cfg.hash_seed),
            blocks,
            emit: EmitQueue::new(f.max_held as usize + 64 + emit::FRAGMENT_ROOM, emit::SLOT),
            scratch: vec![0; emit::SLOT],
            icmp_limit: RateLimiter::new(),
            event_limit: RateLimiter::new(),
            frags: frag::Table::new(f.max_datagrams),
            held: frag::Held::new(f.max_held, emit::SLOT),
            now_ms: now.0,
            lan_addr: 0,
            statics: cfg
                .statics
                .iter()
                .map(|&m| Static { m, mac: [0; 6] })
                .collect(),
            reserved,
            pool_addrs,
            sessions: timers::free_sessions(cap),
            free_head: 0,
            sess_out: Index::with_capacity(cap),
            sess_in: Index::with_capacity(cap),
            map_out: Index::with_capacity(cap),
            map_in: Index::with_capacity(cap),
            subs: ports::free_subscribers(nsubs),
            sub_free: 0,
            subs_live: 0,
            subs_away: 0,
            sub_index: Index::with_capacity(nsubs),
            wheel: Wheel::new(now.secs()),
            hops: NextHops::default(),
            counters: Counters::default(),
            events: EventQueue::new(cfg.event_queue as usize),
            live_proto: [0; crate::proto::SLOTS],
            ext_down: false,
            echo: HeldKeys::new(),
            address_only_keys: HeldKeys::new(),
            holds: holds::HoldTable::new(cfg.max_holds.min(cfg.max_sessions) as usize),
            cfg: cfg.clone(),
        };
        shard.reserve_kernel_blocks();
        Ok(shard)
    }

    /// Processes one frame that arrived on `side` at `now`, rewriting it in
    /// place when it is forwarded.
    pub fn process(&mut self, frame: &mut [u8], side: Side, now: Time) -> Verdict {
        self.now_ms = now.0;
        let now = now.secs();
        let mut v = match side {
            Side::Lan => {
                self.counters.rx_lan += 1;
                self.outbound(frame, now)
            }
            Side::Wan => {
                self.counters.rx_wan += 1;
                self.inbound(frame, now, false)
            }
            Side::Hairpin => {
                self.counters.rx_hairpin += 1;
                self.inbound(frame, now, true)
            }
        };
        // One length test on the common path: only a frame longer than
        // the egress link takes goes to be cut.
        if matches!(v, Verdict::ToLan | Verdict::ToWan)
            && frame.len() > usize::from(self.egress_mtu(v)) + crate::wire::ethernet::HEADER_LEN
        {
            v = self.fit_to_mtu(frame, v);
        }
        count_verdict(&mut self.counters, v, frame.len());
        v
    }

    /// Processes a batch of frames that arrived on the same side, writing
    /// one verdict per frame into `verdicts` (which must be at least as
    /// long as `frames`). The result is exactly that of calling
    /// [`Shard::process`] on each frame in order; the batch only lets the
    /// table memory of all frames be fetched before any is looked up, so
    /// cache misses overlap instead of queueing.
    pub fn process_batch<F: AsMut<[u8]>>(
        &mut self,
        frames: &mut [F],
        side: Side,
        now: Time,
        verdicts: &mut [Verdict],
    ) {
        let n = frames.len().min(verdicts.len());
        let mut start = 0;
        while start < n {
            let end = (start + STAGE).min(n);
            self.prefetch(&mut frames[start..end], side);
            for k in start..end {
                verdicts[k] = self.process(frames[k].as_mut(), side, now);
            }
            start = end;
        }
    }

    /// A frame from a subscriber.
    fn outbound(&mut self, frame: &mut [u8], now: u32) -> Verdict {
        let ip = match IpRepr::parse(frame) {
            Ok(Some(ip)) => ip,
            Ok(None) => return Verdict::Pass,
            Err(e) => return Verdict::Drop(drop_reason(e)),
        };
        if let Some(v) = self.not_for_nat_out(frame, &ip) {
            return v;
        }
        if crate::proto::is_address_only(ip.proto) {
            return self.outbound_address_only(frame, &ip, now);
        }
        let owner = match ip.proto {
            PROTO_ICMP => self
                .embedded_address_only_owner(frame, &ip)
                .unwrap_or_else(|| self.owner_of(ip.src)),
            _ => self.owner_of(ip.src),
        };
        if owner != self.id {
            return Verdict::HandOff {
                shard: owner,
                side: Side::Lan,
            };
        }
        if let Some(v) = self.ttl_and_mtu(frame, &ip, Side::Lan) {
            return v;
        }
        if ip.later {
            return self.later_fragment(frame, &ip, Side::Lan);
        }
        let v = self.outbound_first(frame, &ip, now);
        if ip.frag {
            self.first_fragment_done(frame, &ip, Side::Lan, v);
        }
        v
    }

    /// An outbound packet, or the first fragment of one.
    fn outbound_first(&mut self, frame: &mut [u8], ip: &IpRepr, now: u32) -> Verdict {
        let flow = match Transport::parse(frame, ip, icmp::ECHO_REQUEST) {
            Ok(Transport::Flow(f)) => f,
            Ok(_) if ip.frag => return Verdict::Drop(DropReason::BadFragment),
            Ok(Transport::IcmpError) => return self.translate_icmp_error(frame, ip, Side::Lan),
            Ok(Transport::IcmpOther) => return self.one_to_one_icmp(frame, ip, Side::Lan),
            Ok(Transport::Other) => return self.outbound_address_only(frame, ip, now),
            Err(e) => return Verdict::Drop(drop_reason(e)),
        };
        let hairpin = match self.hairpin_owner(frame, ip, &flow) {
            Ok(h) => h,
            Err(v) => return v,
        };
        let idx = match self.find_out(flow.proto, ip.src, flow.sport, ip.dst, flow.dport) {
            Some(i) => i,
            None => match self.create_out(frame, ip, &flow, now) {
                Ok(i) => i,
                Err(r) => {
                    self.refused(frame, ip, r);
                    return Verdict::Drop(r);
                }
            },
        };
        self.rewrite_out(frame, ip, &flow, idx, now);
        match hairpin {
            None => Verdict::ToWan,
            Some(o) => {
                self.counters.hairpinned += 1;
                if o == self.id {
                    self.inbound(frame, now, true)
                } else {
                    Verdict::HandOff {
                        shard: o,
                        side: Side::Hairpin,
                    }
                }
            }
        }
    }

    /// A frame from the WAN, or the second half of a hairpin.
    fn inbound(&mut self, frame: &mut [u8], now: u32, hairpin: bool) -> Verdict {
        let ip = match IpRepr::parse(frame) {
            Ok(Some(ip)) => ip,
            Ok(None) => return Verdict::Pass,
            Err(e) => return Verdict::Drop(drop_reason(e)),
        };
        let ext = match self.not_for_nat_in(frame, &ip, hairpin) {
            Ok(ext) => ext,
            Err(v) => return v,
        };
        if crate::proto::is_address_only(ip.proto) && !hairpin {
            return self.inbound_address_only(frame, &ip, now);
        }
        if ip.later {
            return self.later_fragment_in(frame, &ip);
        }
        let v = self.inbound_first(frame, &ip, ext, now, hairpin);
        if ip.frag {
            self.first_fragment_done(frame, &ip, Side::Wan, v);
        }
        v
    }

    /// An inbound packet, or the first fragment of one.
    fn inbound_first(
        &mut self,
        frame: &mut [u8],
        ip: &IpRepr,
        ext: Ext,
        now: u32,
        hairpin: bool,
    ) -> Verdict {
        let side = if hairpin { Side::Hairpin } else { Side::Wan };
        let flow = match Transport::parse(frame, ip, icmp::ECHO_REPLY) {
            Ok(Transport::Flow(f)) => f,
            Ok(_) if ip.frag => return Verdict::Drop(DropReason::BadFragment),
            Ok(Transport::IcmpError) => return self.translate_icmp_error(frame, ip, side),
            Ok(Transport::IcmpOther) if !hairpin => {
                return self.one_to_one_icmp(frame, ip, Side::Wan)
            }
            Ok(Transport::IcmpOther | Transport::Other) => return Verdict::Pass,
            Err(e) => return Verdict::Drop(drop_reason(e)),
        };
        let owner = match self.owner_in(ext, ip.dst, flow.proto, flow.dport) {
            Ok(Some(o)) => o,
            Ok(None) => return Verdict::Pass,
            Err(r) => return Verdict::Drop(r),
        };
        if owner != self.id {
            return Verdict::HandOff { shard: owner, side };
        }
        if !hairpin {
            if let Some(v) = self.ttl_and_mtu(frame, ip, Side::Wan) {
                return v;
            }
        }
        let idx = match self.find_in(flow.proto, ip.dst, flow.dport, ip.src, flow.sport) {
            Some(i) => i,
            None => match self.create_in(frame, ip, &flow, now) {
                Ok(i) => i,
                Err(r) => return Verdict::Drop(r),
            },
        };
        self.rewrite_in(frame, ip, &flow, idx, now, hairpin);
        Verdict::ToLan
    }
}

/// Frames of a batch whose table memory is fetched together.
const STAGE: usize = 32;

/// The drop reason of a frame the packet views refuse.
fn drop_reason(e: WireError) -> DropReason {
    match e {
        WireError::Truncated => DropReason::Truncated,
        WireError::NotIpv4 | WireError::BadIhl | WireError::BadTotalLength => {
            DropReason::BadIpHeader
        }
        WireError::BadDataOffset | WireError::BadUdpLength | WireError::BadIcmpHeader => {
            DropReason::BadL4Header
        }
        WireError::BadChecksum => DropReason::BadIpChecksum,
        WireError::BadOptions => DropReason::BadIpOptions,
        WireError::BadFragment => DropReason::BadFragment,
    }
}

/// Counts a frame that leaves the shard with verdict `v`.
#[inline]
fn count_verdict(c: &mut Counters, v: Verdict, len: usize) {
    match v {
        Verdict::ToLan => {
            c.tx_lan += 1;
            c.tx_lan_bytes += len as u64;
        }
        Verdict::ToWan => {
            c.tx_wan += 1;
            c.tx_wan_bytes += len as u64;
        }
        Verdict::HandOff { .. } => c.handed_off += 1,
        Verdict::Pass => c.passed += 1,
        Verdict::Held => c.fragments_held += 1,
        Verdict::Fragmented => c.packets_fragmented += 1,
        Verdict::Drop(r) => c.drops[r as usize] += 1,
    }
}
