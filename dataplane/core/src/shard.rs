//! One shard of NAT state and the entry point that processes frames.
//!
//! A shard owns the subscribers that hash to it, the port blocks whose
//! number is congruent to its id, and every session of those subscribers.
//! [`Shard::process`] is the whole per-frame decision: parse, check
//! ownership, look the flow up (fast path: apply the rewrite stored in the
//! session), or create it (slow path: limits, port allocation, filtering).

use crate::config::{Config, Filtering, Prefix, StaticMapping};
use crate::counters::{Counters, DropReason};
use crate::emit::{self, EmitQueue, IcmpError, RateLimiter};
use crate::event::{Endpoint, Event, EventQueue, Exhaustion};
use crate::frag::{self, Action};
use crate::hash::{subscriber_owner, Hasher};
use crate::index::Index;
use crate::pool::{BlockMap, Blocks};
use crate::session::{Session, Wheel, NONE};
use crate::tcp::{Dir, TcpState, TcpTimer};
use crate::wire::checksum::{self, Delta};
use crate::wire::ipv4::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use crate::wire::{
    be16, be32, icmp, put16, put32, tcp, Ipv4Packet, Mac, TcpPacket, UdpPacket, WireError,
};
use crate::Time;

/// Offset of the IPv4 header in a frame.
const L3: usize = crate::wire::ethernet::HEADER_LEN;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];

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
    /// [`Shard::pop_emitted`], or is dropped as `fragment_timeout`.
    Held,
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

/// A read-only copy of one session, for snapshots and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// IP protocol.
    pub proto: u8,
    /// Subscriber side.
    pub inside: Endpoint,
    /// Translated side.
    pub outside: Endpoint,
    /// Remote side (port 0 for ICMP).
    pub remote: Endpoint,
    /// TCP state, for TCP sessions.
    pub tcp: Option<TcpState>,
    /// Second of the last refresh.
    pub last_seen: u32,
    /// Second at which the session expires unless refreshed.
    pub expires: u32,
}

/// Makes every session record free, linked in order into one free list.
fn free_sessions(sessions: &mut [Session]) {
    let cap = sessions.len();
    for (i, s) in sessions.iter_mut().enumerate() {
        *s = Session {
            wheel_at: NONE,
            next: if i + 1 < cap { i as u32 + 1 } else { NONE },
            ..Session::default()
        };
    }
}

/// Makes every subscriber record free, linked in order into one free list.
fn free_subscribers(subs: &mut [Subscriber]) {
    let n = subs.len();
    for (i, s) in subs.iter_mut().enumerate() {
        *s = Subscriber {
            next_free: if i + 1 < n { i as u32 + 1 } else { NONE },
            ..Subscriber::FREE
        };
    }
}

#[derive(Clone, Copy, Debug)]
struct Subscriber {
    addr: u32,
    /// Index of its paired external address; NONE until its first block.
    ext: u32,
    sessions: u32,
    blocks: u32,
    nblocks: u16,
    /// Free-list link while unused.
    next_free: u32,
}

impl Subscriber {
    /// An unused record (its free-list link set by the caller).
    const FREE: Subscriber = Subscriber {
        addr: 0,
        ext: NONE,
        sessions: 0,
        blocks: NONE,
        nblocks: 0,
        next_free: NONE,
    };
}

#[derive(Clone, Copy, Debug)]
struct Ip {
    l4: usize,
    end: usize,
    proto: u8,
    src: u32,
    dst: u32,
    ttl: u8,
    /// A fragment, first or later.
    frag: bool,
    /// A later fragment (offset > 0): no transport header.
    later: bool,
    df: bool,
    id: u16,
}

/// Transport identity of a frame. For ICMP queries the identifier stands
/// in for the local port and the remote port is 0.
#[derive(Clone, Copy, Debug)]
struct Flow {
    proto: u8,
    sport: u16,
    dport: u16,
    flags: u8,
}

fn wire_drop(e: WireError) -> DropReason {
    match e {
        WireError::Truncated => DropReason::Truncated,
        WireError::NotIpv4 | WireError::BadIhl | WireError::BadTotalLength => {
            DropReason::BadIpHeader
        }
        WireError::BadDataOffset | WireError::BadUdpLength => DropReason::BadL4Header,
    }
}

/// Parses Ethernet and IPv4. `Ok(None)`: not IPv4, not for the NAT.
/// Always inlined: with its option and fragment checks the compiler
/// stopped inlining it on its own, which cost the fast path about 10 %
/// (`bench-core`).
#[inline(always)]
fn parse_ip(frame: &[u8]) -> Result<Option<Ip>, DropReason> {
    if frame.len() < L3 {
        return Err(DropReason::Truncated);
    }
    if frame[12..14] != ETHERTYPE_IPV4 {
        return Ok(None);
    }
    let ip = Ipv4Packet::new_checked(&frame[L3..]).map_err(wire_drop)?;
    if !ip.verify_checksum() {
        return Err(DropReason::BadIpChecksum);
    }
    let out = Ip {
        l4: L3 + ip.header_len(),
        end: L3 + usize::from(ip.total_len()),
        proto: ip.protocol(),
        src: ip.src(),
        dst: ip.dst(),
        ttl: ip.ttl(),
        frag: ip.is_fragment(),
        later: ip.frag_offset() != 0,
        df: ip.dont_frag(),
        id: ip.ident(),
    };
    // Options and fragments are rare: one test on the common path, their
    // checks out of line.
    if out.l4 - L3 > crate::wire::ipv4::MIN_HEADER_LEN || out.frag {
        options_and_fragment(&ip)?;
    }
    Ok(Some(out))
}

/// Refuses malformed options (`bad_ip_options`) and the fragments the NAT
/// does not take (`bad_fragment`): a TCP fragment at offset 8, which could
/// rewrite the flags the first fragment showed (RFC 1858), or one that
/// ends past 65535 bytes.
#[cold]
#[inline(never)]
fn options_and_fragment(ip: &Ipv4Packet<&[u8]>) -> Result<(), DropReason> {
    if ip.header_len() > crate::wire::ipv4::MIN_HEADER_LEN && !options_ok(ip.options()) {
        return Err(DropReason::BadIpOptions);
    }
    if ip.is_fragment() {
        let off = usize::from(ip.frag_offset()) * 8;
        if (off == 8 && ip.protocol() == PROTO_TCP)
            || off + usize::from(ip.total_len()) - ip.header_len() > 0xffff
        {
            return Err(DropReason::BadFragment);
        }
    }
    Ok(())
}

/// True when IPv4 options are well formed: end of list and no-operation
/// are one byte; every other option has a length of at least 2 that stays
/// inside the header.
fn options_ok(opts: &[u8]) -> bool {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => return true,
            1 => i += 1,
            _ => match opts.get(i + 1) {
                Some(&len) if len >= 2 && i + usize::from(len) <= opts.len() => {
                    i += usize::from(len)
                }
                _ => return false,
            },
        }
    }
    true
}

/// Parses TCP or UDP ports. A first fragment carries only the start of
/// the segment: the ports (and TCP flags) must be in it, the rest of the
/// lengths cannot be checked.
#[inline]
fn parse_ports(frame: &[u8], ip: &Ip) -> Result<Flow, DropReason> {
    let seg = &frame[ip.l4..ip.end];
    if ip.frag {
        let need = if ip.proto == PROTO_TCP { 14 } else { 8 };
        if seg.len() < need {
            return Err(DropReason::BadFragment);
        }
        return Ok(Flow {
            proto: ip.proto,
            sport: be16(seg, 0),
            dport: be16(seg, 2),
            flags: if ip.proto == PROTO_TCP { seg[13] } else { 0 },
        });
    }
    if ip.proto == PROTO_TCP {
        let t = TcpPacket::new_checked(seg).map_err(wire_drop)?;
        Ok(Flow {
            proto: PROTO_TCP,
            sport: t.src_port(),
            dport: t.dst_port(),
            flags: t.flags(),
        })
    } else {
        let u = UdpPacket::new_checked_exact(seg).map_err(wire_drop)?;
        Ok(Flow {
            proto: PROTO_UDP,
            sport: u.src_port(),
            dport: u.dst_port(),
            flags: 0,
        })
    }
}

/// What the transport part of a frame is to the NAT.
#[derive(Clone, Copy, Debug)]
enum L4 {
    /// TCP, UDP, or the ICMP query of this direction (echo request going
    /// out, echo reply coming in).
    Flow(Flow),
    /// An ICMP error.
    IcmpError,
    /// Any other ICMP message.
    IcmpOther,
    /// Another IP protocol.
    Other,
}

/// Reads the transport identity of a frame arriving on `side`.
#[inline]
fn classify(frame: &[u8], ip: &Ip, side: Side) -> Result<L4, DropReason> {
    match ip.proto {
        PROTO_TCP | PROTO_UDP => parse_ports(frame, ip).map(L4::Flow),
        PROTO_ICMP => {
            let seg = &frame[ip.l4..ip.end];
            if seg.len() < icmp::HEADER_LEN {
                return Err(DropReason::BadL4Header);
            }
            let id = be16(seg, 4);
            Ok(match (seg[0], icmp::kind(seg[0]), side) {
                (icmp::ECHO_REQUEST, _, Side::Lan) => L4::Flow(Flow {
                    proto: PROTO_ICMP,
                    sport: id,
                    dport: 0,
                    flags: 0,
                }),
                (icmp::ECHO_REPLY, _, Side::Wan | Side::Hairpin) => L4::Flow(Flow {
                    proto: PROTO_ICMP,
                    sport: 0,
                    dport: id,
                    flags: 0,
                }),
                (_, icmp::Kind::Error, _) => L4::IcmpError,
                _ => L4::IcmpOther,
            })
        }
        _ => Ok(L4::Other),
    }
}

/// Full verification of a transport checksum (slow path only).
fn l4_checksum_ok(frame: &[u8], ip: &Ip) -> bool {
    let seg = &frame[ip.l4..ip.end];
    let src = ip.src.to_be_bytes();
    let dst = ip.dst.to_be_bytes();
    match ip.proto {
        PROTO_TCP => {
            let acc = checksum::pseudo_header(src, dst, PROTO_TCP, seg.len() as u16);
            checksum::fold(checksum::add_bytes(acc, seg)) == 0xffff
        }
        PROTO_UDP => {
            if be16(seg, 6) == 0 {
                return true;
            }
            let len = be16(seg, 4);
            let acc = checksum::pseudo_header(src, dst, PROTO_UDP, len);
            checksum::fold(checksum::add_bytes(acc, &seg[..usize::from(len)])) == 0xffff
        }
        _ => checksum::fold(checksum::add_bytes(0, seg)) == 0xffff,
    }
}

/// What an inbound frame must be to open a session: for TCP a bare SYN;
/// a whole datagram's transport checksum must verify (a first fragment's
/// cannot be checked).
fn inbound_opening_ok(frame: &[u8], ip: &Ip, flow: &Flow) -> Result<(), DropReason> {
    if flow.proto == PROTO_TCP && flow.flags & (tcp::SYN | tcp::ACK | tcp::RST) != tcp::SYN {
        return Err(DropReason::TcpNotSyn);
    }
    if !ip.frag && !l4_checksum_ok(frame, ip) {
        return Err(DropReason::BadL4Checksum);
    }
    Ok(())
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
        Verdict::Drop(r) => c.drops[r as usize] += 1,
    }
}

/// Translates a later fragment as its datagram's record says.
fn apply_fragment(frame: &mut [u8], a: Action, side: Side, hops: &NextHops) -> Verdict {
    match a {
        Action::Rewrite {
            addr,
            ip_delta,
            mac,
        } => {
            let out = side == Side::Lan;
            put32(frame, L3 + if out { 12 } else { 16 }, addr);
            frame[L3 + 8] = frame[L3 + 8].saturating_sub(1);
            let c = be16(frame, L3 + 10);
            put16(frame, L3 + 10, checksum::apply(c, Delta(ip_delta)));
            frame[0..6].copy_from_slice(&mac);
            if out {
                frame[6..12].copy_from_slice(&hops.wan_mac.0);
                Verdict::ToWan
            } else {
                frame[6..12].copy_from_slice(&hops.lan_mac.0);
                Verdict::ToLan
            }
        }
        Action::HandOff(shard) => Verdict::HandOff {
            shard,
            side: Side::Wan,
        },
        Action::Drop => Verdict::Drop(DropReason::FragmentOfDropped),
    }
}

/// Lowers the MSS option of the TCP SYN whose header starts at `l4` to
/// `clamp`, fixing the checksum; true when it changed. Options are read
/// up to the data offset and the packet's end, whichever is first.
fn clamp_mss(frame: &mut [u8], l4: usize, end: usize, clamp: u16) -> bool {
    let doff = usize::from(frame[l4 + 12] >> 4) * 4;
    let stop = (l4 + doff).min(end);
    let mut i = l4 + 20;
    while i < stop {
        match frame[i] {
            0 => break,
            1 => i += 1,
            kind => {
                if i + 1 >= stop {
                    break;
                }
                let len = usize::from(frame[i + 1]);
                if len < 2 || i + len > stop {
                    break;
                }
                if kind == 2 && len == 4 {
                    let mss = be16(frame, i + 2);
                    if mss <= clamp {
                        return false;
                    }
                    put16(frame, i + 2, clamp);
                    let c = be16(frame, l4 + 16);
                    put16(frame, l4 + 16, checksum::apply(c, Delta::u16(mss, clamp)));
                    return true;
                }
                i += len;
            }
        }
    }
    false
}

/// See the module documentation.
#[derive(Debug)]
pub struct Shard {
    id: u16,
    shards: u16,
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
    sub_index: Index,
    blocks: Blocks,
    wheel: Wheel,
    hops: NextHops,
    counters: Counters,
    events: EventQueue,
    /// Live sessions per protocol slot (TCP, UDP, ICMP).
    live_proto: [u32; 3],
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
}

/// A static mapping and what the shard knows of its inside host.
#[derive(Clone, Copy, Debug)]
struct Static {
    m: StaticMapping,
    /// The inside host's MAC; all zero until learnt.
    mac: [u8; 6],
}

/// Where an inbound frame's destination address leads.
#[derive(Clone, Copy, Debug)]
enum Ext {
    /// A pool address, by index.
    Pool(usize),
    /// A one-to-one outside address, by index in the static list.
    OneToOne(usize),
}

impl Shard {
    /// Builds shard `id` of a validated configuration, allocating every
    /// table at its full size. `now` starts the timer wheel.
    pub fn new(cfg: &Config, id: u16, now: Time) -> Result<Shard, crate::ConfigError> {
        cfg.validate()?;
        if id >= cfg.shards {
            return Err(crate::ConfigError {
                key: "shards",
                reason: format!("shard {id} of {}", cfg.shards),
            });
        }
        let cap = cfg.max_sessions as usize;
        let mut sessions = vec![Session::default(); cap];
        free_sessions(&mut sessions);
        let nsubs = cfg.max_subscribers as usize;
        let mut subs = vec![Subscriber::FREE; nsubs];
        free_subscribers(&mut subs);
        let map = BlockMap {
            shards: cfg.shards,
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
        let mut reserved = Vec::new();
        let index_of = |a: u32| pool_addrs.iter().position(|&p| p == a);
        for m in &cfg.statics {
            let (Some(a), Some(b)) = (index_of(m.outside), map.block_of(m.outside_port)) else {
                continue;
            };
            blocks.reserve(a, m.outside_port);
            let bit = a * map.blocks_per_addr as usize + b as usize;
            if reserved.is_empty() {
                reserved =
                    vec![0u64; (pool_addrs.len() * map.blocks_per_addr as usize).div_ceil(64)];
            }
            reserved[bit / 64] |= 1 << (bit % 64);
        }
        let slot = usize::from(cfg.lan_mtu.max(cfg.wan_mtu)) + 18;
        let f = cfg.fragments;
        Ok(Shard {
            id,
            shards: cfg.shards,
            hasher: Hasher::new(cfg.hash_seed),
            blocks,
            emit: EmitQueue::new(f.max_held as usize + 64, slot),
            icmp_limit: RateLimiter::new(),
            event_limit: RateLimiter::new(),
            frags: frag::Table::new(f.max_datagrams),
            held: frag::Held::new(f.max_held, slot),
            now_ms: now.0,
            lan_addr: 0,
            statics: cfg
                .statics
                .iter()
                .map(|&m| Static { m, mac: [0; 6] })
                .collect(),
            reserved,
            pool_addrs,
            sessions,
            free_head: 0,
            sess_out: Index::with_capacity(cap),
            sess_in: Index::with_capacity(cap),
            map_out: Index::with_capacity(cap),
            map_in: Index::with_capacity(cap),
            subs,
            sub_free: 0,
            subs_live: 0,
            sub_index: Index::with_capacity(nsubs),
            wheel: Wheel::new(now.secs()),
            hops: NextHops::default(),
            counters: Counters::default(),
            events: EventQueue::new(cfg.event_queue as usize),
            live_proto: [0; 3],
            ext_down: false,
            cfg: cfg.clone(),
        })
    }

    /// This shard's id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Sets the MAC addresses written into forwarded frames.
    pub fn set_next_hops(&mut self, hops: NextHops) {
        self.hops = hops;
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Live sessions.
    pub fn session_count(&self) -> usize {
        self.live_proto.iter().map(|&n| n as usize).sum()
    }

    /// Live sessions of TCP, UDP and ICMP.
    pub fn session_count_by_proto(&self) -> [usize; 3] {
        self.live_proto.map(|n| n as usize)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Live subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.subs_live as usize
    }

    /// The block arithmetic shared by all shards.
    pub fn block_map(&self) -> BlockMap {
        *self.blocks.map()
    }

    /// Per pool address: (address, blocks in use, blocks free now).
    pub fn block_usage(&self) -> Vec<(u32, u32, u32)> {
        (0..self.blocks.naddr())
            .map(|a| {
                (
                    self.pool_addrs[a],
                    self.blocks.in_use()[a],
                    self.blocks.free_count(a) as u32,
                )
            })
            .collect()
    }

    /// Takes the oldest pending event.
    pub fn pop_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// Takes the oldest frame the shard wants sent besides those it was
    /// given (a generated ICMP error, a released early fragment): copies it
    /// into `out` (at least MTU + 18 bytes) and says where it goes and how
    /// long it is. Call after each batch until `None`.
    pub fn pop_emitted(&mut self, out: &mut [u8]) -> Option<(Verdict, usize)> {
        self.emit.pop(out)
    }

    /// Early fragments held now, waiting for their first fragment.
    pub fn held_fragments(&self) -> usize {
        self.held.live()
    }

    /// True when [`Shard::pop_emitted`] has a frame.
    pub fn has_emitted(&self) -> bool {
        !self.emit.is_empty()
    }

    /// Sets the source address of ICMP errors sent to subscribers (the LAN
    /// interface's own address).
    pub fn set_lan_address(&mut self, a: u32) {
        self.lan_addr = a;
    }

    /// Tells the shard the MAC of inside host `addr` (a static mapping's
    /// server, which inbound traffic may reach before it sent anything).
    pub fn set_neighbor(&mut self, addr: u32, mac: Mac) {
        for st in self.statics.iter_mut().filter(|st| st.m.inside == addr) {
            st.mac = mac.0;
        }
    }

    /// Bytes held by every table of the shard (all fixed at creation).
    pub fn memory_bytes(&self) -> usize {
        self.sessions.capacity() * core::mem::size_of::<Session>()
            + self.sess_out.memory_bytes()
            + self.sess_in.memory_bytes()
            + self.map_out.memory_bytes()
            + self.map_in.memory_bytes()
            + self.subs.capacity() * core::mem::size_of::<Subscriber>()
            + self.sub_index.memory_bytes()
            + self.blocks.memory_bytes()
            + self.wheel.memory_bytes()
            + self.events.memory_bytes()
            + self.pool_addrs.capacity() * 4
            + self.emit.memory_bytes()
            + self.frags.memory_bytes()
            + self.held.memory_bytes()
            + self.reserved.capacity() * 8
    }

    #[inline]
    fn is_inside(&self, a: u32) -> bool {
        self.cfg.inside.iter().any(|p| p.contains(a))
    }

    /// Index of `a` in the pool.
    #[inline]
    fn pool_index(&self, a: u32) -> Option<usize> {
        let mut base = 0usize;
        for p in &self.cfg.pool {
            if p.contains(a) {
                return Some(base + (a - p.addr()) as usize);
            }
            base += p.size() as usize;
        }
        None
    }

    /// Processes one frame that arrived on `side` at `now`, rewriting it in
    /// place when it is forwarded.
    pub fn process(&mut self, frame: &mut [u8], side: Side, now: Time) -> Verdict {
        self.now_ms = now.0;
        let now = now.secs();
        let v = match side {
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
        const STAGE: usize = 32;
        let n = frames.len().min(verdicts.len());
        let mut start = 0;
        while start < n {
            let end = (start + STAGE).min(n);
            let mut hashes = [(0u64, 0u64); STAGE];
            let mut any = [false; STAGE];
            let (index, maps) = if side == Side::Lan {
                (&self.sess_out, &self.map_out)
            } else {
                (&self.sess_in, &self.map_in)
            };
            for (k, f) in frames[start..end].iter_mut().enumerate() {
                if let Some(h) = self.peek_hash(f.as_mut(), side) {
                    hashes[k] = h;
                    any[k] = true;
                }
            }
            // Touch the first index cell of every frame, then the session
            // it names: plain loads whose misses overlap across frames. An
            // empty first cell means a certain miss: touch the mapping
            // index the slow path reads instead.
            let mut slots = [u32::MAX; STAGE];
            for k in 0..end - start {
                if any[k] {
                    slots[k] = index.peek(hashes[k].0).unwrap_or(u32::MAX);
                }
            }
            let mut acc = 0u32;
            for k in 0..end - start {
                if let Some(s) = self.sessions.get(slots[k] as usize) {
                    acc ^= s.rem_addr;
                } else if any[k] {
                    acc ^= maps.peek(hashes[k].1).unwrap_or(0);
                }
            }
            core::hint::black_box(acc);
            for k in start..end {
                verdicts[k] = self.process(frames[k].as_mut(), side, now);
            }
            start = end;
        }
    }

    /// The session-index and mapping-index hashes of a TCP/UDP/ICMP-echo
    /// frame, read without validation (they only steer prefetching;
    /// `process` validates).
    #[inline]
    fn peek_hash(&self, f: &[u8], side: Side) -> Option<(u64, u64)> {
        if f.len() < L3 + 20 || f[12..14] != ETHERTYPE_IPV4 {
            return None;
        }
        let l4 = L3 + usize::from(f[L3] & 0x0f) * 4;
        if f.len() < l4 + 8 {
            return None;
        }
        let proto = f[L3 + 9];
        let src = u32::from_be_bytes([f[L3 + 12], f[L3 + 13], f[L3 + 14], f[L3 + 15]]);
        let dst = u32::from_be_bytes([f[L3 + 16], f[L3 + 17], f[L3 + 18], f[L3 + 19]]);
        let (sp, dp) = match proto {
            PROTO_TCP | PROTO_UDP => (be16(f, l4), be16(f, l4 + 2)),
            PROTO_ICMP if side == Side::Lan => (be16(f, l4 + 4), 0),
            PROTO_ICMP => (0, be16(f, l4 + 4)),
            _ => return None,
        };
        Some(match side {
            Side::Lan => (
                self.hasher.session(proto, src, sp, dst, dp),
                self.hasher.mapping(proto, src, sp),
            ),
            _ => (
                self.hasher.session(proto, dst, dp, src, sp),
                self.hasher.mapping(proto, dst, dp),
            ),
        })
    }

    /// The shard that owns subscriber `a`.
    #[inline]
    fn owner_of(&self, a: u32) -> u16 {
        if self.cfg.deterministic {
            if let Some(o) = crate::deterministic::owner(&self.cfg, a) {
                return o;
            }
        }
        subscriber_owner(a, self.shards)
    }

    /// The one-to-one mapping whose outside address is `a`.
    fn one_to_one_outside(&self, a: u32) -> Option<usize> {
        if self.statics.is_empty() {
            return None;
        }
        self.statics
            .iter()
            .position(|st| st.m.proto.is_none() && st.m.outside == a)
    }

    /// What an outbound flow from inside `a:port` is statically mapped
    /// to: a port forward's outside endpoint, or the one-to-one outside
    /// address with the port kept.
    fn static_for_inside(&self, proto: u8, a: u32, port: u16) -> Option<(u32, u16)> {
        let fwd = self
            .statics
            .iter()
            .find(|st| st.m.proto == Some(proto) && st.m.inside == a && st.m.inside_port == port);
        if let Some(st) = fwd {
            return Some((st.m.outside, st.m.outside_port));
        }
        self.statics
            .iter()
            .find(|st| st.m.proto.is_none() && st.m.inside == a)
            .map(|st| (st.m.outside, port))
    }

    /// The inside endpoint a static mapping gives outside `a:port`, with
    /// the mapping's index.
    fn static_for_outside(&self, proto: u8, a: u32, port: u16) -> Option<(u32, u16, usize)> {
        let fwd = self.statics.iter().position(|st| {
            st.m.proto == Some(proto) && st.m.outside == a && st.m.outside_port == port
        });
        if let Some(k) = fwd {
            let m = self.statics[k].m;
            return Some((m.inside, m.inside_port, k));
        }
        self.one_to_one_outside(a)
            .map(|k| (self.statics[k].m.inside, port, k))
    }

    /// True when `port` of pool address `addr_idx` lies in a block kept
    /// for static mappings.
    #[inline]
    fn is_reserved(&self, addr_idx: usize, port: u16) -> bool {
        if self.reserved.is_empty() {
            return false;
        }
        let map = self.blocks.map();
        let Some(b) = map.block_of(port) else {
            return false;
        };
        let bit = addr_idx * map.blocks_per_addr as usize + b as usize;
        self.reserved
            .get(bit / 64)
            .is_some_and(|w| w >> (bit % 64) & 1 != 0)
    }

    /// The shard that translates inbound traffic to `addr:port`: the
    /// block's owner, or for a static mapping the inside host's owner.
    /// `Ok(None)`: no NAT port (for the box itself).
    #[inline]
    fn owner_in(
        &self,
        ext: Ext,
        addr: u32,
        proto: u8,
        port: u16,
    ) -> Result<Option<u16>, DropReason> {
        match ext {
            Ext::OneToOne(k) => Ok(Some(self.owner_of(self.statics[k].m.inside))),
            Ext::Pool(i) => {
                let map = self.blocks.map();
                let reserved = self.is_reserved(i, port);
                if reserved || (map.block_of(port).is_none() && !self.statics.is_empty()) {
                    if let Some((inside, _, _)) = self.static_for_outside(proto, addr, port) {
                        return Ok(Some(self.owner_of(inside)));
                    }
                    if reserved {
                        return Err(DropReason::NoMapping);
                    }
                }
                Ok(map.owner(port))
            }
        }
    }

    /// Where an inbound destination address leads, if anywhere.
    #[inline]
    fn ext_of(&self, a: u32) -> Option<Ext> {
        match self.pool_index(a) {
            Some(i) => Some(Ext::Pool(i)),
            None => self.one_to_one_outside(a).map(Ext::OneToOne),
        }
    }

    fn outbound(&mut self, frame: &mut [u8], now: u32) -> Verdict {
        let ip = match parse_ip(frame) {
            Ok(Some(ip)) => ip,
            Ok(None) => return Verdict::Pass,
            Err(r) => return Verdict::Drop(r),
        };
        if !self.is_inside(ip.src) || self.is_inside(ip.dst) {
            return Verdict::Pass;
        }
        if !self.cfg.exclude.is_empty() && self.cfg.exclude.iter().any(|p| p.contains(ip.dst)) {
            return Verdict::Pass;
        }
        // Link-layer broadcast or multicast, IPv4 multicast and the limited
        // broadcast are for the box's own stack, never translated (RFC 1812
        // 5.3.4, 5.3.5.1).
        if frame[0] & 1 != 0 || ip.dst >> 28 == 0xe || ip.dst == u32::MAX {
            return Verdict::Pass;
        }
        if ip.dst >> 24 == 0 || ip.dst >> 24 == 127 || ip.dst >> 28 == 0xf {
            return Verdict::Drop(DropReason::MartianDestination);
        }
        let owner = self.owner_of(ip.src);
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

    /// Refuses a packet from `from` whose TTL runs out here (time
    /// exceeded back to its source) or that is larger than the other
    /// side's MTU (3/4 back when DF is set).
    #[inline]
    fn ttl_and_mtu(&mut self, frame: &[u8], ip: &Ip, from: Side) -> Option<Verdict> {
        if ip.ttl <= 1 {
            self.icmp_error(frame, ip, from, icmp::TIME_EXCEEDED, 0, 0);
            return Some(Verdict::Drop(DropReason::TtlExpired));
        }
        let mtu = if from == Side::Lan {
            self.cfg.wan_mtu
        } else {
            self.cfg.lan_mtu
        };
        if ip.end - L3 > usize::from(mtu) {
            if ip.df {
                self.icmp_error(frame, ip, from, icmp::DEST_UNREACHABLE, 4, mtu);
            }
            return Some(Verdict::Drop(DropReason::MtuExceeded));
        }
        None
    }

    /// An outbound packet, or the first fragment of one.
    fn outbound_first(&mut self, frame: &mut [u8], ip: &Ip, now: u32) -> Verdict {
        let ip = *ip;
        let flow = match classify(frame, &ip, Side::Lan) {
            Ok(L4::Flow(f)) => f,
            Ok(_) if ip.frag => return Verdict::Drop(DropReason::BadFragment),
            Ok(L4::IcmpError) => return self.icmp_error_out(frame, &ip),
            Ok(L4::IcmpOther) => return self.one_to_one_icmp(frame, &ip, Side::Lan),
            Ok(L4::Other) => return Verdict::Drop(DropReason::UnsupportedProtocol),
            Err(r) => return Verdict::Drop(r),
        };
        let hairpin = match self.ext_of(ip.dst) {
            None => None,
            Some(_) if flow.proto == PROTO_ICMP => return Verdict::Pass,
            Some(ext) => match self.owner_in(ext, ip.dst, flow.proto, flow.dport) {
                // Addressed to a pool address but not to a NAT port: the
                // box itself (e.g. a ping to the masquerade address).
                Ok(None) => return Verdict::Pass,
                Ok(Some(o)) => Some(o),
                Err(r) => return Verdict::Drop(r),
            },
        };
        if hairpin.is_some() && ip.frag {
            return Verdict::Drop(DropReason::BadFragment);
        }
        if hairpin.is_some() && ip.end - L3 > usize::from(self.cfg.lan_mtu) {
            // A hairpinned packet leaves by the LAN: its MTU holds too.
            if ip.df {
                let mtu = self.cfg.lan_mtu;
                self.icmp_error(frame, &ip, Side::Lan, icmp::DEST_UNREACHABLE, 4, mtu);
            }
            return Verdict::Drop(DropReason::MtuExceeded);
        }
        let found = self.find_out(flow.proto, ip.src, flow.sport, ip.dst, flow.dport);
        let idx = match found {
            Some(i) => i,
            None => match self.create_out(frame, &ip, &flow, now) {
                Ok(i) => i,
                Err(r) => {
                    self.refused(frame, &ip, r);
                    return Verdict::Drop(r);
                }
            },
        };
        self.rewrite_out(frame, &ip, &flow, idx, now);
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

    fn inbound(&mut self, frame: &mut [u8], now: u32, hairpin: bool) -> Verdict {
        let ip = match parse_ip(frame) {
            Ok(Some(ip)) => ip,
            Ok(None) => return Verdict::Pass,
            Err(r) => return Verdict::Drop(r),
        };
        let Some(ext) = self.ext_of(ip.dst) else {
            return Verdict::Pass;
        };
        if !hairpin && frame[0] & 1 != 0 {
            // Link-layer broadcast or multicast: not for the NAT.
            return Verdict::Pass;
        }
        if !hairpin && (self.is_inside(ip.src) || self.pool_index(ip.src).is_some()) {
            return Verdict::Drop(DropReason::MartianSource);
        }
        if ip.frag && hairpin {
            return Verdict::Drop(DropReason::BadFragment);
        }
        if ip.later {
            if ip.ttl <= 1 {
                return Verdict::Drop(DropReason::TtlExpired);
            }
            if ip.end - L3 > usize::from(self.cfg.lan_mtu) {
                return Verdict::Drop(DropReason::MtuExceeded);
            }
            return self.later_fragment(frame, &ip, Side::Wan);
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
        ip: &Ip,
        ext: Ext,
        now: u32,
        hairpin: bool,
    ) -> Verdict {
        let ip = *ip;
        let flow = match classify(frame, &ip, Side::Wan) {
            Ok(L4::Flow(f)) => f,
            Ok(_) if ip.frag => return Verdict::Drop(DropReason::BadFragment),
            Ok(L4::IcmpError) => return self.icmp_error_in(frame, &ip, hairpin),
            Ok(L4::IcmpOther) if !hairpin => return self.one_to_one_icmp(frame, &ip, Side::Wan),
            Ok(L4::IcmpOther | L4::Other) => return Verdict::Pass,
            Err(r) => return Verdict::Drop(r),
        };
        let owner = match self.owner_in(ext, ip.dst, flow.proto, flow.dport) {
            Ok(Some(o)) => o,
            Ok(None) => return Verdict::Pass,
            Err(r) => return Verdict::Drop(r),
        };
        if owner != self.id {
            let side = if hairpin { Side::Hairpin } else { Side::Wan };
            return Verdict::HandOff { shard: owner, side };
        }
        if !hairpin {
            if let Some(v) = self.ttl_and_mtu(frame, &ip, Side::Wan) {
                return v;
            }
        }
        let found = self.find_in(flow.proto, ip.dst, flow.dport, ip.src, flow.sport);
        let idx = match found {
            Some(i) => i,
            None => match self.create_in(frame, &ip, &flow, now) {
                Ok(i) => i,
                Err(r) => return Verdict::Drop(r),
            },
        };
        self.rewrite_in(frame, &ip, &flow, idx, now, hairpin);
        Verdict::ToLan
    }

    /// ICMP that is neither a query of its direction nor an error: echo
    /// requests to a one-to-one address and the inside host's replies are
    /// translated without state; anything else is refused (outbound) or
    /// left to the kernel (inbound).
    fn one_to_one_icmp(&mut self, frame: &mut [u8], ip: &Ip, side: Side) -> Verdict {
        let ty = frame[ip.l4];
        let (k, from, to) = if side == Side::Lan {
            let k = (ty == icmp::ECHO_REPLY)
                .then(|| {
                    self.statics
                        .iter()
                        .position(|st| st.m.proto.is_none() && st.m.inside == ip.src)
                })
                .flatten();
            let Some(k) = k else {
                return Verdict::Drop(DropReason::IcmpUnsupported);
            };
            (k, self.statics[k].m.inside, self.statics[k].m.outside)
        } else {
            let k = (ty == icmp::ECHO_REQUEST)
                .then(|| self.one_to_one_outside(ip.dst))
                .flatten();
            let Some(k) = k else {
                return Verdict::Pass;
            };
            if let Some(v) = self.ttl_and_mtu(frame, ip, Side::Wan) {
                return v;
            }
            (k, self.statics[k].m.outside, self.statics[k].m.inside)
        };
        let (at, dst_mac, src_mac, v) = if side == Side::Lan {
            self.statics[k].mac.copy_from_slice(&frame[6..12]);
            (
                L3 + 12,
                self.hops.gateway_mac.0,
                self.hops.wan_mac.0,
                Verdict::ToWan,
            )
        } else {
            let mac = self.statics[k].mac;
            if mac == [0; 6] {
                return Verdict::Drop(DropReason::NoNeighbor);
            }
            (L3 + 16, mac, self.hops.lan_mac.0, Verdict::ToLan)
        };
        put32(frame, at, to);
        frame[L3 + 8] = ip.ttl - 1;
        let d = Delta::u32(from, to).plus(Delta::TTL_DECREMENT);
        let c = be16(frame, L3 + 10);
        put16(frame, L3 + 10, checksum::apply(c, d));
        frame[0..6].copy_from_slice(&dst_mac);
        frame[6..12].copy_from_slice(&src_mac);
        v
    }

    // ---- generated ICMP (RFC 5508 REQ-8, RFC 6888 REQ-11) ----------------

    /// Queues an ICMP error about the packet in `frame` back to its
    /// source, through the side it came from, if the rate limits allow.
    /// Never about an ICMP error, a later fragment, or a packet from or to
    /// an address that cannot be answered (RFC 1812 4.3.2.7).
    fn icmp_error(&mut self, frame: &[u8], ip: &Ip, to: Side, ty: u8, code: u8, mtu: u16) {
        if ip.later || !emit::may_answer(ip.src, ip.dst) {
            return;
        }
        if ip.proto == PROTO_ICMP
            && frame
                .get(ip.l4)
                .is_none_or(|&t| icmp::kind(t) != icmp::Kind::Query)
        {
            return;
        }
        let (src, mac, v) = match to {
            Side::Lan => {
                let a = if self.lan_addr != 0 {
                    self.lan_addr
                } else {
                    self.pool_addrs.first().copied().unwrap_or(0)
                };
                (a, self.hops.lan_mac.0, Verdict::ToLan)
            }
            _ => (ip.dst, self.hops.wan_mac.0, Verdict::ToWan),
        };
        let c = self.cfg.icmp;
        let h = self.hasher.subscriber(ip.src);
        if !self
            .icmp_limit
            .allow(h, c.rate, c.rate_per_host, self.now_ms)
        {
            self.counters.icmp_rate_limited += 1;
            return;
        }
        let Some(slot) = self.emit.reserve() else {
            self.counters.emit_dropped += 1;
            return;
        };
        let e = IcmpError { ty, code, mtu };
        let n = emit::build_icmp_error(slot, frame, ip.end - L3, src, mac, e);
        self.emit.commit(v, n);
        self.counters.icmp_generated += 1;
    }

    /// A new outbound mapping was refused: tell the subscriber (3/13) and
    /// the log (an exhaustion event, at most one per subscriber per second
    /// and 100 per second in all).
    fn refused(&mut self, frame: &[u8], ip: &Ip, r: DropReason) {
        let what = match r {
            DropReason::PortsExhausted => Some(Exhaustion::Ports),
            DropReason::PoolExhausted => Some(Exhaustion::Addresses),
            DropReason::SessionLimit => Some(Exhaustion::SessionsPerSubscriber),
            DropReason::SessionTableFull => Some(Exhaustion::Sessions),
            DropReason::SubscriberTableFull => Some(Exhaustion::Subscribers),
            DropReason::NoExternalAddress => None,
            _ => return,
        };
        self.icmp_error(frame, ip, Side::Lan, icmp::DEST_UNREACHABLE, 13, 0);
        let Some(mut what) = what else { return };
        let h = self.hasher.subscriber(ip.src);
        if !self.event_limit.allow(h, 100, 1, self.now_ms) {
            return;
        }
        let ext = self
            .find_sub(ip.src)
            .map(|i| self.subs[i as usize].ext)
            .filter(|&e| e != NONE)
            .map_or(0, |e| self.pool_addrs[e as usize]);
        if what == Exhaustion::Addresses && ext != 0 {
            // Its paired address is full, not every address.
            what = Exhaustion::Ports;
        }
        self.push_event(Event::Exhausted {
            what,
            subscriber: ip.src,
            external: ext,
            at: (self.now_ms / 1000).min(u64::from(u32::MAX)) as u32,
        });
    }

    // ---- fragments (RFC 4787 REQ-14) ---------------------------------------

    fn frag_key(ip: &Ip, side: Side) -> frag::Key {
        frag::Key {
            src: ip.src,
            dst: ip.dst,
            id: ip.id,
            proto: ip.proto,
            wan: u8::from(side != Side::Lan),
        }
    }

    /// A fragment after the first: translated as its first fragment was,
    /// or held until that comes.
    fn later_fragment(&mut self, frame: &mut [u8], ip: &Ip, side: Side) -> Verdict {
        let key = Self::frag_key(ip, side);
        let t = u64::from(self.cfg.fragments.timeout) * 1000;
        if let Some(a) = self.frags.get(&key, self.now_ms) {
            self.frags.touch(&key, self.now_ms, t);
            let v = apply_fragment(frame, a, side, &self.hops);
            if matches!(v, Verdict::ToLan | Verdict::ToWan) {
                self.counters.fragments_translated += 1;
            }
            return v;
        }
        if self.held.hold(key, side, frame, self.now_ms + t) {
            Verdict::Held
        } else {
            Verdict::Drop(DropReason::FragmentsFull)
        }
    }

    /// Records what the first fragment's verdict means for the rest of its
    /// datagram, and releases the fragments that came before it.
    fn first_fragment_done(&mut self, frame: &[u8], ip: &Ip, side: Side, v: Verdict) {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&frame[0..6]);
        let rewrite = |at: usize, old: u32| {
            let new = be32(frame, L3 + at);
            Action::Rewrite {
                addr: new,
                ip_delta: Delta::u32(old, new).plus(Delta::TTL_DECREMENT).0,
                mac,
            }
        };
        let action = match v {
            Verdict::ToWan => rewrite(12, ip.src),
            Verdict::ToLan => rewrite(16, ip.dst),
            Verdict::HandOff { shard, .. } => Action::HandOff(shard),
            Verdict::Drop(_) => Action::Drop,
            Verdict::Pass | Verdict::Held => return,
        };
        let key = Self::frag_key(ip, side);
        let t = u64::from(self.cfg.fragments.timeout) * 1000;
        // With no room for the record, later fragments are held and time
        // out (counted then).
        self.frags.put(key, action, self.now_ms, t);
        while self.held.has(&key) {
            let Some(slot) = self.emit.reserve() else {
                self.counters.emit_dropped += 1;
                break;
            };
            let Some((side, len)) = self.held.take(&key, slot) else {
                break;
            };
            let v = apply_fragment(&mut slot[..len], action, side, &self.hops);
            if !matches!(v, Verdict::Drop(_)) {
                self.emit.commit(v, len);
            }
            if matches!(v, Verdict::ToLan | Verdict::ToWan) {
                self.counters.fragments_translated += 1;
            }
            count_verdict(&mut self.counters, v, len);
        }
    }

    /// The session of an outbound flow.
    #[inline]
    fn find_out(
        &self,
        proto: u8,
        in_addr: u32,
        in_port: u16,
        rem: u32,
        rem_port: u16,
    ) -> Option<u32> {
        let h = self.hasher.session(proto, in_addr, in_port, rem, rem_port);
        let sessions = &self.sessions;
        self.sess_out.find(h, |i| {
            let s = &sessions[i as usize];
            s.in_addr == in_addr
                && s.rem_addr == rem
                && s.in_port == in_port
                && s.rem_port == rem_port
                && s.proto == proto
        })
    }

    /// The session of an inbound flow.
    #[inline]
    fn find_in(
        &self,
        proto: u8,
        ext_addr: u32,
        ext_port: u16,
        rem: u32,
        rem_port: u16,
    ) -> Option<u32> {
        let h = self
            .hasher
            .session(proto, ext_addr, ext_port, rem, rem_port);
        let sessions = &self.sessions;
        self.sess_in.find(h, |i| {
            let s = &sessions[i as usize];
            s.ext_addr == ext_addr
                && s.rem_addr == rem
                && s.ext_port == ext_port
                && s.rem_port == rem_port
                && s.proto == proto
        })
    }

    fn timeout_of(&self, s: &Session) -> u32 {
        let t = &self.cfg.timeouts;
        match s.proto {
            PROTO_TCP => match TcpState::from_u8(s.state).map(TcpState::timer) {
                Some(TcpTimer::Established) => t.tcp_established,
                Some(TcpTimer::IncomingSyn) => t.tcp_incoming_syn,
                _ => t.tcp_transitory,
            },
            PROTO_UDP => t.udp,
            _ => t.icmp,
        }
    }

    /// Moves a TCP session through its state machine; re-files it on the
    /// wheel when its timer changes.
    #[inline]
    fn tcp_step(&mut self, idx: u32, dir: Dir, flags: u8, now: u32) {
        let s = &self.sessions[idx as usize];
        let Some(old) = TcpState::from_u8(s.state) else {
            return;
        };
        if old == TcpState::Established && flags & (tcp::SYN | tcp::FIN | tcp::RST) == 0 {
            return;
        }
        let new = old.step(dir, flags);
        if new == old {
            return;
        }
        self.sessions[idx as usize].state = new as u8;
        if new.timer() != old.timer() {
            let t = self.timeout_of(&self.sessions[idx as usize]);
            self.wheel.remove(&mut self.sessions, idx);
            self.wheel
                .insert(&mut self.sessions, idx, now.saturating_add(t));
        }
    }

    #[inline]
    fn rewrite_out(&mut self, frame: &mut [u8], ip: &Ip, flow: &Flow, idx: u32, now: u32) {
        let s = &mut self.sessions[idx as usize];
        s.last_seen = now;
        let s = *s;
        put32(frame, L3 + 12, s.ext_addr);
        frame[L3 + 8] = ip.ttl - 1;
        let c = be16(frame, L3 + 10);
        put16(frame, L3 + 10, checksum::apply(c, Delta(s.ip_out)));
        let l4 = ip.l4;
        match flow.proto {
            PROTO_TCP => {
                put16(frame, l4, s.ext_port);
                let c = be16(frame, l4 + 16);
                put16(frame, l4 + 16, checksum::apply(c, Delta(s.l4_out)));
                if flow.flags & tcp::SYN != 0 && self.cfg.mss_clamp != 0 && !ip.frag {
                    self.counters.mss_clamped +=
                        u64::from(clamp_mss(frame, l4, ip.end, self.cfg.mss_clamp));
                }
                self.tcp_step(idx, Dir::Out, flow.flags, now);
            }
            PROTO_UDP => {
                put16(frame, l4, s.ext_port);
                let c = be16(frame, l4 + 6);
                put16(frame, l4 + 6, checksum::apply_udp(c, Delta(s.l4_out)));
            }
            _ => {
                put16(frame, l4 + 4, s.ext_port);
                let c = be16(frame, l4 + 2);
                put16(frame, l4 + 2, checksum::apply(c, Delta(s.l4_out)));
            }
        }
        frame[0..6].copy_from_slice(&self.hops.gateway_mac.0);
        frame[6..12].copy_from_slice(&self.hops.wan_mac.0);
    }

    #[inline]
    fn rewrite_in(
        &mut self,
        frame: &mut [u8],
        ip: &Ip,
        flow: &Flow,
        idx: u32,
        now: u32,
        hairpin: bool,
    ) {
        let refresh = flow.proto == PROTO_TCP || self.cfg.inbound_refresh;
        let s = &mut self.sessions[idx as usize];
        if refresh {
            s.last_seen = now;
        }
        let s = *s;
        put32(frame, L3 + 16, s.in_addr);
        let ip_delta = if hairpin {
            // The first half already decremented TTL.
            Delta(s.ip_in).plus(Delta::TTL_DECREMENT.negate())
        } else {
            frame[L3 + 8] = ip.ttl - 1;
            Delta(s.ip_in)
        };
        let c = be16(frame, L3 + 10);
        put16(frame, L3 + 10, checksum::apply(c, ip_delta));
        let l4 = ip.l4;
        match flow.proto {
            PROTO_TCP => {
                put16(frame, l4 + 2, s.in_port);
                let c = be16(frame, l4 + 16);
                put16(frame, l4 + 16, checksum::apply(c, Delta(s.l4_in)));
                if flow.flags & tcp::SYN != 0 && self.cfg.mss_clamp != 0 && !ip.frag {
                    self.counters.mss_clamped +=
                        u64::from(clamp_mss(frame, l4, ip.end, self.cfg.mss_clamp));
                }
                self.tcp_step(idx, Dir::In, flow.flags, now);
            }
            PROTO_UDP => {
                put16(frame, l4 + 2, s.in_port);
                let c = be16(frame, l4 + 6);
                put16(frame, l4 + 6, checksum::apply_udp(c, Delta(s.l4_in)));
            }
            _ => {
                put16(frame, l4 + 4, s.in_port);
                let c = be16(frame, l4 + 2);
                put16(frame, l4 + 2, checksum::apply(c, Delta(s.l4_in)));
            }
        }
        frame[0..6].copy_from_slice(&s.in_mac);
        frame[6..12].copy_from_slice(&self.hops.lan_mac.0);
    }

    // ---- slow path ------------------------------------------------------

    fn find_sub(&self, addr: u32) -> Option<u32> {
        let subs = &self.subs;
        self.sub_index.find(self.hasher.subscriber(addr), |i| {
            subs[i as usize].addr == addr
        })
    }

    fn sub_for(&mut self, addr: u32) -> Result<u32, DropReason> {
        if let Some(i) = self.find_sub(addr) {
            return Ok(i);
        }
        let i = self.sub_free;
        if i == NONE {
            return Err(DropReason::SubscriberTableFull);
        }
        if !self.sub_index.insert(self.hasher.subscriber(addr), i) {
            return Err(DropReason::SubscriberTableFull);
        }
        let s = &mut self.subs[i as usize];
        self.sub_free = s.next_free;
        *s = Subscriber {
            addr,
            ..Subscriber::FREE
        };
        self.subs_live += 1;
        Ok(i)
    }

    fn maybe_free_sub(&mut self, i: u32) {
        let s = self.subs[i as usize];
        if s.sessions != 0 || s.nblocks != 0 {
            return;
        }
        let subs = &self.subs;
        let hasher = &self.hasher;
        self.sub_index.remove(hasher.subscriber(s.addr), i, |j| {
            hasher.subscriber(subs[j as usize].addr)
        });
        self.subs[i as usize] = Subscriber {
            next_free: self.sub_free,
            ..Subscriber::FREE
        };
        self.sub_free = i;
        self.subs_live -= 1;
    }

    fn push_event(&mut self, e: Event) {
        if !self.events.push(e) {
            self.counters.events_dropped += 1;
        }
    }

    /// Finds or makes room for a new mapping of subscriber `si`: a port of
    /// the inside port's parity in one of its blocks, or in a new block on
    /// its paired address.
    fn alloc_port(
        &mut self,
        si: u32,
        proto: u8,
        in_port: u16,
        now: u32,
    ) -> Result<(u32, u16), DropReason> {
        if self.ext_down {
            return Err(DropReason::NoExternalAddress);
        }
        if self.cfg.deterministic {
            return self.alloc_port_deterministic(si, proto, in_port, now);
        }
        let parity = if proto == PROTO_ICMP {
            2
        } else {
            (in_port & 1) as u8
        };
        for pass in [parity, 2] {
            let mut b = self.subs[si as usize].blocks;
            while b != NONE {
                if let Some(p) = self.blocks.take_port(b, proto, pass) {
                    return Ok((self.pool_addrs[self.blocks.addr_idx(b)], p));
                }
                b = self.blocks.next_of(b);
            }
            if pass != parity {
                break;
            }
            let sub = self.subs[si as usize];
            if sub.nblocks >= self.cfg.limits.blocks_per_subscriber {
                continue;
            }
            let addr_idx = if sub.ext != NONE {
                sub.ext as usize
            } else {
                let n = self.blocks.naddr();
                let start = (self.hasher.subscriber(sub.addr) % n as u64) as usize;
                match (0..n)
                    .map(|k| (start + k) % n)
                    .find(|&a| self.blocks.has_free(a))
                {
                    Some(a) => a,
                    // No block left: the other parity of its own blocks.
                    None => continue,
                }
            };
            let Some(local) = self.blocks.take(addr_idx, sub.blocks) else {
                continue;
            };
            let s = &mut self.subs[si as usize];
            s.blocks = local;
            s.nblocks += 1;
            s.ext = addr_idx as u32;
            self.counters.blocks_allocated += 1;
            let e = Event::BlockAllocated {
                subscriber: sub.addr,
                external: self.pool_addrs[addr_idx],
                first_port: self.blocks.first_port(local),
                last_port: self.blocks.last_port(local),
                at: now,
            };
            self.push_event(e);
            if let Some(p) = self.blocks.take_port(local, proto, parity) {
                return Ok((self.pool_addrs[addr_idx], p));
            }
        }
        if self.subs[si as usize].nblocks >= self.cfg.limits.blocks_per_subscriber {
            Err(DropReason::PortsExhausted)
        } else {
            Err(DropReason::PoolExhausted)
        }
    }

    /// Deterministic NAT: a port of the subscriber's one fixed block.
    fn alloc_port_deterministic(
        &mut self,
        si: u32,
        proto: u8,
        in_port: u16,
        now: u32,
    ) -> Result<(u32, u16), DropReason> {
        let sub = self.subs[si as usize];
        let place = crate::deterministic::inside_to_outside(&self.cfg, sub.addr)
            .ok_or(DropReason::PoolExhausted)?;
        let local = self
            .blocks
            .local(place.addr_idx, place.first_port)
            .ok_or(DropReason::PoolExhausted)?;
        if sub.nblocks == 0 {
            self.blocks
                .take_specific(local, NONE)
                .ok_or(DropReason::PoolExhausted)?;
            let s = &mut self.subs[si as usize];
            s.blocks = local;
            s.nblocks = 1;
            s.ext = place.addr_idx as u32;
            self.counters.blocks_allocated += 1;
            self.push_event(Event::BlockAllocated {
                subscriber: sub.addr,
                external: place.external,
                first_port: place.first_port,
                last_port: place.last_port,
                at: now,
            });
        }
        let parity = if proto == PROTO_ICMP {
            2
        } else {
            (in_port & 1) as u8
        };
        [parity, 2]
            .into_iter()
            .find_map(|p| self.blocks.take_port(local, proto, p))
            .map(|port| (place.external, port))
            .ok_or(DropReason::PortsExhausted)
    }

    fn create_out(
        &mut self,
        frame: &[u8],
        ip: &Ip,
        flow: &Flow,
        now: u32,
    ) -> Result<u32, DropReason> {
        if flow.proto == PROTO_TCP && flow.flags & (tcp::SYN | tcp::RST) != tcp::SYN {
            return Err(DropReason::TcpNotSyn);
        }
        // A first fragment's checksum covers bytes it does not carry.
        if !ip.frag && !l4_checksum_ok(frame, ip) {
            return Err(DropReason::BadL4Checksum);
        }
        for st in self.statics.iter_mut().filter(|st| st.m.inside == ip.src) {
            st.mac.copy_from_slice(&frame[6..12]);
        }
        let si = self.sub_for(ip.src)?;
        let r = self.create_out_for(si, frame, ip, flow, now);
        if r.is_err() {
            self.maybe_free_sub(si);
        }
        r
    }

    fn create_out_for(
        &mut self,
        si: u32,
        frame: &[u8],
        ip: &Ip,
        flow: &Flow,
        now: u32,
    ) -> Result<u32, DropReason> {
        self.room_for(si)?;
        let hm = self.hasher.mapping(flow.proto, ip.src, flow.sport);
        let sessions = &self.sessions;
        let head = self.map_out.find(hm, |i| {
            let s = &sessions[i as usize];
            s.in_addr == ip.src && s.in_port == flow.sport && s.proto == flow.proto
        });
        let (ext_addr, ext_port) = match head {
            Some(h) => (
                self.sessions[h as usize].ext_addr,
                self.sessions[h as usize].ext_port,
            ),
            None => match self.static_for_inside(flow.proto, ip.src, flow.sport) {
                Some(x) => x,
                None => self.alloc_port(si, flow.proto, flow.sport, now)?,
            },
        };
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&frame[6..12]);
        let state = if flow.proto == PROTO_TCP {
            TcpState::SynOut as u8
        } else {
            0
        };
        let spec = Spec {
            proto: flow.proto,
            in_addr: ip.src,
            in_port: flow.sport,
            ext_addr,
            ext_port,
            rem_addr: ip.dst,
            rem_port: flow.dport,
            mac,
            state,
            sub: si,
        };
        Ok(self.insert_session(spec, head, now))
    }

    fn create_in(
        &mut self,
        frame: &[u8],
        ip: &Ip,
        flow: &Flow,
        now: u32,
    ) -> Result<u32, DropReason> {
        let hm = self.hasher.mapping(flow.proto, ip.dst, flow.dport);
        let sessions = &self.sessions;
        let head = self.map_in.find(hm, |i| {
            let s = &sessions[i as usize];
            s.ext_addr == ip.dst && s.ext_port == flow.dport && s.proto == flow.proto
        });
        if !self.statics.is_empty() && flow.proto != PROTO_ICMP {
            if let Some(st) = self.static_for_outside(flow.proto, ip.dst, flow.dport) {
                return self.create_in_static(frame, ip, flow, head, st, now);
            }
        }
        let Some(head) = head else {
            return Err(DropReason::NoMapping);
        };
        if flow.proto == PROTO_ICMP {
            // An echo reply from a host the query was not sent to.
            return Err(DropReason::Filtered);
        }
        match self.cfg.filtering {
            Filtering::EndpointIndependent => {}
            Filtering::AddressDependent => {
                let mut i = head;
                loop {
                    if self.sessions[i as usize].rem_addr == ip.src {
                        break;
                    }
                    i = self.sessions[i as usize].map_next;
                    if i == head {
                        return Err(DropReason::Filtered);
                    }
                }
            }
            Filtering::AddressAndPortDependent => return Err(DropReason::Filtered),
        }
        inbound_opening_ok(frame, ip, flow)?;
        let h = self.sessions[head as usize];
        self.room_for(h.sub)?;
        let state = if flow.proto == PROTO_TCP {
            TcpState::SynIn as u8
        } else {
            0
        };
        let spec = Spec {
            proto: flow.proto,
            in_addr: h.in_addr,
            in_port: h.in_port,
            ext_addr: h.ext_addr,
            ext_port: h.ext_port,
            rem_addr: ip.src,
            rem_port: flow.sport,
            mac: h.in_mac,
            state,
            sub: h.sub,
        };
        Ok(self.insert_session(spec, Some(head), now))
    }

    /// An inbound flow to a static mapping: admitted from any remote
    /// endpoint (a port forward is reachable by design), whatever the
    /// filtering.
    fn create_in_static(
        &mut self,
        frame: &[u8],
        ip: &Ip,
        flow: &Flow,
        head: Option<u32>,
        (in_addr, in_port, k): (u32, u16, usize),
        now: u32,
    ) -> Result<u32, DropReason> {
        inbound_opening_ok(frame, ip, flow)?;
        let mac = self.statics[k].mac;
        if mac == [0; 6] {
            return Err(DropReason::NoNeighbor);
        }
        let si = self.sub_for(in_addr)?;
        if let Err(r) = self.room_for(si) {
            self.maybe_free_sub(si);
            return Err(r);
        }
        let state = if flow.proto == PROTO_TCP {
            TcpState::SynIn as u8
        } else {
            0
        };
        let spec = Spec {
            proto: flow.proto,
            in_addr,
            in_port,
            ext_addr: ip.dst,
            ext_port: flow.dport,
            rem_addr: ip.src,
            rem_port: flow.sport,
            mac,
            state,
            sub: si,
        };
        Ok(self.insert_session(spec, head, now))
    }

    /// Whether subscriber `si` and the table have room for one more
    /// session.
    fn room_for(&self, si: u32) -> Result<(), DropReason> {
        if self.subs[si as usize].sessions >= self.cfg.limits.sessions_per_subscriber {
            return Err(DropReason::SessionLimit);
        }
        if self.session_count() >= self.cfg.max_sessions as usize {
            return Err(DropReason::SessionTableFull);
        }
        Ok(())
    }

    fn insert_session(&mut self, x: Spec, head: Option<u32>, now: u32) -> u32 {
        let idx = self.free_head;
        debug_assert!(idx != NONE, "callers check live < max_sessions");
        let a = Delta::u32(x.in_addr, x.ext_addr);
        let p = Delta::u16(x.in_port, x.ext_port);
        let ra = Delta::u32(x.ext_addr, x.in_addr);
        let rp = Delta::u16(x.ext_port, x.in_port);
        let (l4_out, l4_in) = if x.proto == PROTO_ICMP {
            (p, rp)
        } else {
            (a.plus(p), ra.plus(rp))
        };
        let s = &mut self.sessions[idx as usize];
        self.free_head = s.next;
        *s = Session {
            in_addr: x.in_addr,
            ext_addr: x.ext_addr,
            rem_addr: x.rem_addr,
            in_port: x.in_port,
            ext_port: x.ext_port,
            rem_port: x.rem_port,
            proto: x.proto,
            state: x.state,
            in_mac: x.mac,
            ip_out: a.plus(Delta::TTL_DECREMENT).0,
            l4_out: l4_out.0,
            ip_in: ra.plus(Delta::TTL_DECREMENT).0,
            l4_in: l4_in.0,
            prev: NONE,
            next: NONE,
            map_prev: idx,
            map_next: idx,
            last_seen: now,
            wheel_at: NONE,
            sub: x.sub,
        };
        let h = &self.hasher;
        let ok_out = self.sess_out.insert(
            h.session(x.proto, x.in_addr, x.in_port, x.rem_addr, x.rem_port),
            idx,
        );
        let ok_in = self.sess_in.insert(
            h.session(x.proto, x.ext_addr, x.ext_port, x.rem_addr, x.rem_port),
            idx,
        );
        debug_assert!(ok_out && ok_in);
        match head {
            None => {
                self.map_out
                    .insert(h.mapping(x.proto, x.in_addr, x.in_port), idx);
                self.map_in
                    .insert(h.mapping(x.proto, x.ext_addr, x.ext_port), idx);
            }
            Some(hd) => {
                let n = self.sessions[hd as usize].map_next;
                self.sessions[idx as usize].map_prev = hd;
                self.sessions[idx as usize].map_next = n;
                self.sessions[hd as usize].map_next = idx;
                self.sessions[n as usize].map_prev = idx;
            }
        }
        let t = self.timeout_of(&self.sessions[idx as usize]);
        self.wheel
            .insert(&mut self.sessions, idx, now.saturating_add(t));
        self.subs[x.sub as usize].sessions += 1;
        self.live_proto[crate::pool::proto_slot(x.proto)] += 1;
        self.counters.sessions_created += 1;
        if self.cfg.session_events {
            let s = self.sessions[idx as usize];
            self.push_session_event(true, &s, now);
        }
        idx
    }

    fn push_session_event(&mut self, created: bool, s: &Session, at: u32) {
        let (inside, outside, remote) = endpoints(s);
        let proto = s.proto;
        self.push_event(if created {
            Event::SessionCreated {
                proto,
                inside,
                outside,
                remote,
                at,
            }
        } else {
            Event::SessionDeleted {
                proto,
                inside,
                outside,
                remote,
                at,
            }
        });
    }

    fn delete_session(&mut self, idx: u32, now: u32) {
        let s = self.sessions[idx as usize];
        if self.cfg.session_events {
            self.push_session_event(false, &s, now);
        }
        self.wheel.remove(&mut self.sessions, idx);
        let hasher = self.hasher;
        let sessions = &self.sessions;
        self.sess_out.remove(
            hasher.session(s.proto, s.in_addr, s.in_port, s.rem_addr, s.rem_port),
            idx,
            |i| {
                let x = &sessions[i as usize];
                hasher.session(x.proto, x.in_addr, x.in_port, x.rem_addr, x.rem_port)
            },
        );
        self.sess_in.remove(
            hasher.session(s.proto, s.ext_addr, s.ext_port, s.rem_addr, s.rem_port),
            idx,
            |i| {
                let x = &sessions[i as usize];
                hasher.session(x.proto, x.ext_addr, x.ext_port, x.rem_addr, x.rem_port)
            },
        );
        let hm_out = hasher.mapping(s.proto, s.in_addr, s.in_port);
        let hm_in = hasher.mapping(s.proto, s.ext_addr, s.ext_port);
        if s.map_next == idx {
            // Last session of its mapping: the mapping and its port go.
            self.map_out.remove(hm_out, idx, |i| {
                let x = &sessions[i as usize];
                hasher.mapping(x.proto, x.in_addr, x.in_port)
            });
            self.map_in.remove(hm_in, idx, |i| {
                let x = &sessions[i as usize];
                hasher.mapping(x.proto, x.ext_addr, x.ext_port)
            });
            self.free_mapping_port(&s, now);
        } else {
            self.sessions[s.map_prev as usize].map_next = s.map_next;
            self.sessions[s.map_next as usize].map_prev = s.map_prev;
            self.map_out.replace(hm_out, idx, s.map_next);
            self.map_in.replace(hm_in, idx, s.map_next);
        }
        self.subs[s.sub as usize].sessions -= 1;
        self.maybe_free_sub(s.sub);
        let rec = &mut self.sessions[idx as usize];
        *rec = Session {
            wheel_at: NONE,
            next: self.free_head,
            ..Session::default()
        };
        self.free_head = idx;
        self.live_proto[crate::pool::proto_slot(s.proto)] -= 1;
    }

    fn free_mapping_port(&mut self, s: &Session, now: u32) {
        let Some(a) = self.pool_index(s.ext_addr) else {
            return;
        };
        if self.is_reserved(a, s.ext_port) {
            return;
        }
        let Some(local) = self.blocks.local(a, s.ext_port) else {
            return;
        };
        if !self.blocks.free_port(local, s.proto, s.ext_port) {
            return;
        }
        // The block is empty: unlink it from its subscriber and hold it.
        let sub = &mut self.subs[s.sub as usize];
        if sub.blocks == local {
            sub.blocks = self.blocks.next_of(local);
        } else {
            let mut b = sub.blocks;
            while b != NONE {
                let n = self.blocks.next_of(b);
                if n == local {
                    self.blocks.set_next(b, self.blocks.next_of(local));
                    break;
                }
                b = n;
            }
        }
        sub.nblocks -= 1;
        let subscriber = sub.addr;
        let e = Event::BlockReleased {
            subscriber,
            external: s.ext_addr,
            first_port: self.blocks.first_port(local),
            last_port: self.blocks.last_port(local),
            at: now,
        };
        if self.cfg.deterministic {
            self.blocks.release_now(local);
        } else {
            self.blocks.release(local, now);
        }
        self.counters.blocks_released += 1;
        self.push_event(e);
    }

    // ---- ICMP errors (RFC 5508) ------------------------------------------

    /// Reads the packet embedded in an ICMP error, after verifying the
    /// error's checksum.
    fn embedded(frame: &[u8], ip: &Ip) -> Result<Embedded, DropReason> {
        let msg = &frame[ip.l4..ip.end];
        if msg.len() < icmp::HEADER_LEN + 20 + 8 {
            return Err(DropReason::IcmpErrorMalformed);
        }
        if checksum::fold(checksum::add_bytes(0, msg)) != 0xffff {
            return Err(DropReason::BadIcmpChecksum);
        }
        let at = ip.l4 + icmp::HEADER_LEN;
        let inner = Ipv4Packet::new_header_checked(&frame[at..ip.end])
            .map_err(|_| DropReason::IcmpErrorMalformed)?;
        let il4 = at + inner.header_len();
        if il4 + 8 > ip.end {
            return Err(DropReason::IcmpErrorMalformed);
        }
        let proto = inner.protocol();
        let (sp, dp) = match proto {
            PROTO_TCP | PROTO_UDP => (be16(frame, il4), be16(frame, il4 + 2)),
            PROTO_ICMP if frame[il4] == icmp::ECHO_REQUEST => {
                (be16(frame, il4 + 4), be16(frame, il4 + 4))
            }
            _ => return Err(DropReason::IcmpErrorNoSession),
        };
        Ok(Embedded {
            at,
            il4,
            proto,
            src: inner.src(),
            dst: inner.dst(),
            sport: sp,
            dport: dp,
        })
    }

    /// Rewrites one address and port of the embedded packet and the outer
    /// ICMP checksum.
    #[allow(clippy::too_many_arguments)]
    fn rewrite_embedded(
        frame: &mut [u8],
        ip: &Ip,
        at: usize,
        il4: usize,
        proto: u8,
        src_side: bool,
        addr: (u32, u32),
        port: u16,
        l4_delta: Delta,
    ) {
        put32(frame, at + if src_side { 12 } else { 16 }, addr.1);
        let c = be16(frame, at + 10);
        put16(
            frame,
            at + 10,
            checksum::apply(c, Delta::u32(addr.0, addr.1)),
        );
        match proto {
            PROTO_ICMP => {
                put16(frame, il4 + 4, port);
                let c = be16(frame, il4 + 2);
                put16(frame, il4 + 2, checksum::apply(c, l4_delta));
            }
            _ => {
                put16(frame, il4 + if src_side { 0 } else { 2 }, port);
                if proto == PROTO_UDP {
                    let c = be16(frame, il4 + 6);
                    put16(frame, il4 + 6, checksum::apply_udp(c, l4_delta));
                } else if il4 + 18 <= ip.end {
                    let c = be16(frame, il4 + 16);
                    put16(frame, il4 + 16, checksum::apply(c, l4_delta));
                }
            }
        }
        put16(frame, ip.l4 + 2, 0);
        let c = checksum::checksum(&frame[ip.l4..ip.end]);
        put16(frame, ip.l4 + 2, c);
    }

    /// An error from the WAN about a packet the NAT sent out: its embedded
    /// source is the mapping's external endpoint.
    fn icmp_error_in(&mut self, frame: &mut [u8], ip: &Ip, hairpin: bool) -> Verdict {
        let Embedded {
            at,
            il4,
            proto,
            src,
            dst,
            sport,
            dport,
        } = match Self::embedded(frame, ip) {
            Ok(x) => x,
            Err(r) => return Verdict::Drop(r),
        };
        if src != ip.dst {
            return Verdict::Drop(DropReason::IcmpErrorMalformed);
        }
        let Some(ext) = self.ext_of(src) else {
            return Verdict::Pass;
        };
        let owner = match self.owner_in(ext, src, proto, sport) {
            Ok(Some(o)) => o,
            Ok(None) => return Verdict::Pass,
            Err(r) => return Verdict::Drop(r),
        };
        if owner != self.id {
            return Verdict::HandOff {
                shard: owner,
                side: if hairpin { Side::Hairpin } else { Side::Wan },
            };
        }
        if !hairpin && ip.ttl <= 1 {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        if ip.end - L3 > usize::from(self.cfg.lan_mtu) {
            // Larger than the LAN link takes; never a 3/4 about an error.
            return Verdict::Drop(DropReason::MtuExceeded);
        }
        let rport = if proto == PROTO_ICMP { 0 } else { dport };
        let Some(idx) = self.find_in(proto, src, sport, dst, rport) else {
            return Verdict::Drop(DropReason::IcmpErrorNoSession);
        };
        let s = self.sessions[idx as usize];
        put32(frame, L3 + 16, s.in_addr);
        if !hairpin {
            frame[L3 + 8] = ip.ttl - 1;
        }
        let d = if hairpin {
            Delta::u32(s.ext_addr, s.in_addr)
        } else {
            Delta(s.ip_in)
        };
        let c = be16(frame, L3 + 10);
        put16(frame, L3 + 10, checksum::apply(c, d));
        Self::rewrite_embedded(
            frame,
            ip,
            at,
            il4,
            proto,
            true,
            (s.ext_addr, s.in_addr),
            s.in_port,
            Delta(s.l4_in),
        );
        frame[0..6].copy_from_slice(&s.in_mac);
        frame[6..12].copy_from_slice(&self.hops.lan_mac.0);
        self.counters.icmp_errors_translated += 1;
        Verdict::ToLan
    }

    /// An error from a subscriber about a packet it received through the
    /// NAT: its embedded destination is the subscriber's inside endpoint.
    fn icmp_error_out(&mut self, frame: &mut [u8], ip: &Ip) -> Verdict {
        let Embedded {
            at,
            il4,
            proto,
            src,
            dst,
            sport,
            dport,
        } = match Self::embedded(frame, ip) {
            Ok(x) => x,
            Err(r) => return Verdict::Drop(r),
        };
        if dst != ip.src || proto == PROTO_ICMP {
            return Verdict::Drop(DropReason::IcmpErrorNoSession);
        }
        let Some(idx) = self.find_out(proto, dst, dport, src, sport) else {
            return Verdict::Drop(DropReason::IcmpErrorNoSession);
        };
        let s = self.sessions[idx as usize];
        put32(frame, L3 + 12, s.ext_addr);
        frame[L3 + 8] = ip.ttl - 1;
        let c = be16(frame, L3 + 10);
        put16(frame, L3 + 10, checksum::apply(c, Delta(s.ip_out)));
        Self::rewrite_embedded(
            frame,
            ip,
            at,
            il4,
            proto,
            false,
            (s.in_addr, s.ext_addr),
            s.ext_port,
            Delta(s.l4_out),
        );
        frame[0..6].copy_from_slice(&self.hops.gateway_mac.0);
        frame[6..12].copy_from_slice(&self.hops.wan_mac.0);
        self.counters.icmp_errors_translated += 1;
        Verdict::ToWan
    }

    // ---- timers -----------------------------------------------------------

    /// Removes sessions whose timer ran out by `now` and frees port blocks
    /// whose hold is over. At most `budget` sessions are removed per call so
    /// a worker's pause stays bounded; returns how many were.
    pub fn expire(&mut self, now: Time, budget: usize) -> usize {
        self.now_ms = now.0;
        let timed_out = self.held.expire(now.0);
        self.counters.drops[DropReason::FragmentTimeout as usize] += timed_out as u64;
        let now = now.secs();
        self.blocks.expire_held(now);
        let wheel = crate::session::WHEEL;
        if now >= self.wheel.now.saturating_add(wheel) {
            // Every slot is visited in this call anyway.
            self.wheel.now = now + 1 - wheel;
        }
        let mut removed = 0;
        while self.wheel.now <= now {
            let tick = self.wheel.now;
            while let Some(idx) = self.wheel.pop(&mut self.sessions, tick) {
                let s = &self.sessions[idx as usize];
                let due = s.last_seen.saturating_add(self.timeout_of(s));
                if due <= now {
                    self.delete_session(idx, now);
                    self.counters.sessions_expired += 1;
                    removed += 1;
                    if removed >= budget {
                        return removed;
                    }
                } else {
                    self.wheel.insert(&mut self.sessions, idx, due);
                }
            }
            self.wheel.now += 1;
        }
        self.blocks.expire_held(now);
        removed
    }

    /// The earliest time at which [`Shard::expire`] may have work: a
    /// session's timer or a block's hold. Refreshed sessions make it early,
    /// never late.
    pub fn next_expiry(&self) -> Option<Time> {
        let a = self.wheel.next_occupied();
        let b = self.blocks.next_hold_end();
        let t = match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|t| Time::from_secs(u64::from(t)));
        match (t, self.held.next_expiry().map(Time::from_millis)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- inspection and operator actions -----------------------------------

    fn info(&self, s: &Session) -> SessionInfo {
        let (inside, outside, remote) = endpoints(s);
        SessionInfo {
            proto: s.proto,
            inside,
            outside,
            remote,
            tcp: TcpState::from_u8(s.state),
            last_seen: s.last_seen,
            expires: s.last_seen.saturating_add(self.timeout_of(s)),
        }
    }

    /// Every live session (a walk of the whole table: for snapshots, not
    /// for the packet path).
    pub fn sessions(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.sessions
            .iter()
            .filter(|s| s.proto != 0)
            .map(|s| self.info(s))
    }

    /// Live sessions in table slots `from..from + slots` that `pick`
    /// selects, appended to `out` (at most `max` in all); returns the slot
    /// to continue from, or `None` at the end of the table. A snapshot
    /// taken in steps keeps each of the worker's pauses short.
    pub fn sessions_in(
        &self,
        from: usize,
        slots: usize,
        max: usize,
        mut pick: impl FnMut(&SessionInfo) -> bool,
        out: &mut Vec<SessionInfo>,
    ) -> Option<usize> {
        let end = from.saturating_add(slots).min(self.sessions.len());
        for s in self.sessions.get(from..end).unwrap_or(&[]) {
            if out.len() >= max {
                return None;
            }
            if s.proto != 0 {
                let i = self.info(s);
                if pick(&i) {
                    out.push(i);
                }
            }
        }
        (end < self.sessions.len() && out.len() < max).then_some(end)
    }

    /// Every live subscriber with its sessions and port blocks.
    pub fn subscribers(&self) -> impl Iterator<Item = SubscriberInfo> + '_ {
        self.subs
            .iter()
            .filter(|s| s.sessions != 0 || s.nblocks != 0)
            .map(|s| {
                let mut blocks = Vec::with_capacity(usize::from(s.nblocks));
                let mut b = s.blocks;
                while b != NONE {
                    blocks.push((
                        self.pool_addrs[self.blocks.addr_idx(b)],
                        self.blocks.first_port(b),
                        self.blocks.last_port(b),
                    ));
                    b = self.blocks.next_of(b);
                }
                SubscriberInfo {
                    addr: s.addr,
                    sessions: s.sessions,
                    blocks,
                }
            })
    }

    /// Removes every session `pick` selects; returns how many. This
    /// walks the whole table (see [`Shard::flush_all`] for all sessions).
    pub fn flush(&mut self, now: Time, pick: impl FnMut(&SessionInfo) -> bool) -> usize {
        let n = self.remove_where(now.secs(), pick);
        self.counters.sessions_flushed += n as u64;
        n
    }

    /// Removes every session, mapping, subscriber and port block at once:
    /// the tables are cleared in place (a few sequential passes over
    /// memory instead of one index removal per session). A block release
    /// event is queued for each block in use; no per-session event.
    pub fn flush_all(&mut self, now: Time) -> usize {
        let n = self.clear(now.secs());
        self.counters.sessions_flushed += n as u64;
        n
    }

    fn clear(&mut self, now: u32) -> usize {
        let n = self.session_count();
        for i in 0..self.subs.len() {
            let s = self.subs[i];
            if s.sessions == 0 && s.nblocks == 0 {
                continue;
            }
            let mut b = s.blocks;
            while b != NONE {
                let e = Event::BlockReleased {
                    subscriber: s.addr,
                    external: self.pool_addrs[self.blocks.addr_idx(b)],
                    first_port: self.blocks.first_port(b),
                    last_port: self.blocks.last_port(b),
                    at: now,
                };
                self.push_event(e);
                self.counters.blocks_released += 1;
                b = self.blocks.next_of(b);
            }
        }
        free_sessions(&mut self.sessions);
        self.free_head = if self.sessions.is_empty() { NONE } else { 0 };
        self.live_proto = [0; 3];
        free_subscribers(&mut self.subs);
        self.sub_free = if self.subs.is_empty() { NONE } else { 0 };
        self.subs_live = 0;
        for ix in [
            &mut self.sess_out,
            &mut self.sess_in,
            &mut self.map_out,
            &mut self.map_in,
            &mut self.sub_index,
        ] {
            ix.clear();
        }
        self.wheel.clear();
        self.blocks.reset_all();
        self.frags.clear();
        self.held.clear();
        n
    }

    fn remove_where(&mut self, now: u32, mut pick: impl FnMut(&SessionInfo) -> bool) -> usize {
        let mut n = 0;
        for i in 0..self.sessions.len() {
            if self.sessions[i].proto != 0 && pick(&self.info(&self.sessions[i])) {
                self.delete_session(i as u32, now);
                n += 1;
            }
        }
        n
    }

    /// MASQUERADE: follows the WAN interface's address. The pool must be
    /// one /32. `Some(a)` makes `a` the external address: when it differs
    /// from the current one, every session, mapping and port block on the
    /// old address is removed (counted in `sessions_readdressed`) and the
    /// blocks are free at once on the new one. `None` (the interface lost
    /// its address) removes them too and refuses new mappings with
    /// `no_external_address` until an address returns. Returns the
    /// sessions removed. This walks the whole table once.
    pub fn set_external_address(
        &mut self,
        addr: Option<u32>,
        now: Time,
    ) -> Result<usize, crate::ConfigError> {
        let [p] = self.cfg.pool[..] else {
            return Err(crate::ConfigError {
                key: "pool",
                reason: "the external address follows an interface only with a pool of one /32"
                    .into(),
            });
        };
        if p.len() != 32 {
            return Err(crate::ConfigError {
                key: "pool",
                reason: format!("{p} is not a /32"),
            });
        }
        if (addr == Some(p.addr()) && !self.ext_down) || (addr.is_none() && self.ext_down) {
            return Ok(0);
        }
        let new = match addr {
            Some(a) => {
                let new = Prefix::new(a, 32).map_err(|reason| crate::ConfigError {
                    key: "pool",
                    reason,
                })?;
                if let Some(i) = self.cfg.inside.iter().find(|i| i.contains(a)) {
                    return Err(crate::ConfigError {
                        key: "pool",
                        reason: format!("{new} lies in inside prefix {i}"),
                    });
                }
                Some(new)
            }
            None => None,
        };
        // Every session of the shard is on the old address: all go at once.
        let n = self.clear(now.secs());
        self.counters.sessions_readdressed += n as u64;
        match new {
            Some(p) => {
                self.cfg.pool = vec![p];
                self.pool_addrs = vec![p.addr()];
                self.ext_down = false;
            }
            None => self.ext_down = true,
        }
        Ok(n)
    }

    /// Takes a new configuration while running: timers (every session is
    /// rescheduled on its new timer), the block hold (for blocks released
    /// from now on), limits (existing sessions and blocks above a lowered
    /// limit stay until they end), filtering, inbound refresh, and pool
    /// addresses appended at the end. Anything else is refused, naming the
    /// key ([`Config::live_change`]).
    pub fn reconfigure(&mut self, new: &Config, now: Time) -> Result<(), crate::ConfigError> {
        self.cfg.live_change(new)?;
        let added = new.pool_addrs().len() - self.pool_addrs.len();
        if added > 0 {
            self.blocks.add_addrs(added);
            self.pool_addrs = new.pool_addrs();
        }
        self.blocks.set_max_in_use(
            (self.cfg.max_subscribers as usize)
                .saturating_mul(usize::from(new.limits.blocks_per_subscriber)),
        );
        self.blocks.set_hold(new.timeouts.block_hold);
        let timers_changed = new.timeouts != self.cfg.timeouts;
        self.cfg = new.clone();
        if timers_changed {
            let now = now.secs();
            for i in 0..self.sessions.len() {
                if self.sessions[i].proto == 0 {
                    continue;
                }
                let due = self.sessions[i]
                    .last_seen
                    .saturating_add(self.timeout_of(&self.sessions[i]));
                self.wheel.remove(&mut self.sessions, i as u32);
                self.wheel
                    .insert(&mut self.sessions, i as u32, due.max(now));
            }
        }
        Ok(())
    }
}

/// A read-only copy of one subscriber, for snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberInfo {
    /// Inside address.
    pub addr: u32,
    /// Live sessions.
    pub sessions: u32,
    /// Port blocks: (external address, first port, last port).
    pub blocks: Vec<(u32, u16, u16)>,
}

/// What a new session is made of.
#[derive(Clone, Copy, Debug)]
struct Spec {
    proto: u8,
    in_addr: u32,
    in_port: u16,
    ext_addr: u32,
    ext_port: u16,
    rem_addr: u32,
    rem_port: u16,
    mac: [u8; 6],
    state: u8,
    sub: u32,
}

/// The packet an ICMP error carries. For an embedded echo request both
/// ports are its identifier.
#[derive(Clone, Copy, Debug)]
struct Embedded {
    /// Offset of its IPv4 header in the frame.
    at: usize,
    /// Offset of its transport header in the frame.
    il4: usize,
    proto: u8,
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
}

/// Inside, outside and remote endpoints of a session.
fn endpoints(s: &Session) -> (Endpoint, Endpoint, Endpoint) {
    (
        Endpoint {
            addr: s.in_addr,
            port: s.in_port,
        },
        Endpoint {
            addr: s.ext_addr,
            port: s.ext_port,
        },
        Endpoint {
            addr: s.rem_addr,
            port: s.rem_port,
        },
    )
}
