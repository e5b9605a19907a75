//! Fuzz driver (see the fuzz crate under dataplane/core/fuzz).
//!
//! [`run`] decodes its input as a small program that drives a two-shard NAT
//! with tiny tables the way workers do (every frame arrives at a shard the
//! input picks and hand-offs are followed to their owner), and panics as
//! soon as a property of the core does not hold. [`views`] feeds arbitrary
//! bytes to the packet views of `masq_core::wire`. [`icmp_error::run`] is a
//! second front end on the same driver, for ICMP errors about live
//! sessions. All are deterministic: the same input always does the same
//! thing.
//!
//! # Input format of [`run`]
//!
//! Missing bytes read as zero. The first byte picks the configuration
//! ([`config`]); the rest is a sequence of operations, each an op byte
//!
//! ```text
//!   bits 0-2  kind: 0 UDP, 1 TCP, 2 ICMP echo, 3 ICMP error, 4 reply,
//!             5 raw frame, 6 time step, 7 resend an earlier input frame
//!   bits 3-4  side: 0 natural, 1 LAN, 2 WAN, 3 hairpin
//!   bit  5    shard the frame arrives at (before hand-offs)
//!   bit  6    a shape byte follows the operands ([`shape`])
//!   bit  7    a mutation list follows (count/flags byte, then offset and
//!             value byte pairs; flag 0x80: fix checksums afterwards)
//! ```
//!
//! followed by the kind's operands:
//!
//! * UDP: `src dst sport dport len` (addresses and ports are selectors:
//!   see `addr` and `port`; for a LAN frame src is an inside host and dst
//!   a remote one, for a WAN frame src is remote and dst a pool address).
//! * TCP: `src dst sport dport flags` (flags: bit 0 SYN, 1 ACK, 2 FIN,
//!   3 RST; high nibble: payload length).
//! * echo: `src dst id seq x` (x bit 0 turns a request into a reply).
//! * ICMP error: `k type code keep src`: an error about the k-th most
//!   recent forwarded frame, from the side that frame went out of.
//! * reply: `k x o [src] [sport] [dst] [dport]`: the peer's answer to the
//!   k-th most recent forwarded frame (same protocol, endpoints swapped),
//!   from the side that frame went out of; `x` as for TCP/echo; bits 0-3
//!   of `o` say which of the four optional overrides follow.
//! * raw: `len flags bytes...` (flags bit 0: prepend an Ethernet header;
//!   bit 1: fix checksums).
//! * time step: `t e [who]`: see `time_step`.
//! * resend: `k`: the k-th most recent input frame again.

use masq_core::wire::checksum::{self, Delta};
use masq_core::wire::{icmp, EthernetFrame, IcmpPacket, Ipv4Packet, TcpPacket, UdpPacket};
use std::collections::VecDeque;

use masq_core::proto::is_address_only;
use masq_core::{
    address_only_owner, subscriber_owner, Config, DropReason, Event, Filtering, Limits, Prefix,
    SessionInfo, Shard, Side, StaticMapping, Time, Timeouts, Verdict,
};

use crate::check::{self, fold, sum};
use crate::frames::{self, Flags, From, GW_MAC, HOST_MAC, LAN_MAC, WAN_MAC};
use crate::harness::Nat;

pub mod icmp_error;
pub mod seeds;

/// Session table size of each shard.
pub const MAX_SESSIONS: u32 = 64;
/// Subscriber table size of each shard.
pub const MAX_SUBSCRIBERS: u32 = 8;
/// Sessions one subscriber may hold.
pub const SESSIONS_PER_SUBSCRIBER: u32 = 16;
/// Port blocks one subscriber may hold.
pub const BLOCKS_PER_SUBSCRIBER: u16 = 2;
/// Number of shards.
pub const SHARDS: u16 = 2;
/// Most operations one input runs.
pub const MAX_OPS: usize = 256;
/// Most frames the twin NAT takes in one `process_batch` call (more than
/// one prefetch stage of the core).
pub const BATCH_MAX: usize = 40;

/// Operation kinds (bits 0-2 of an op byte).
pub mod kind {
    /// A templated UDP datagram.
    pub const UDP: u8 = 0;
    /// A templated TCP segment.
    pub const TCP: u8 = 1;
    /// A templated ICMP echo request or reply.
    pub const ECHO: u8 = 2;
    /// An ICMP error about an earlier forwarded frame.
    pub const ICMP_ERROR: u8 = 3;
    /// The peer's answer to an earlier forwarded frame.
    pub const REPLY: u8 = 4;
    /// Raw bytes.
    pub const RAW: u8 = 5;
    /// Clock step, timers, flush.
    pub const TIME: u8 = 6;
    /// An earlier input frame again.
    pub const RESEND: u8 = 7;
}

/// Sides (bits 3-4 of an op byte).
pub mod side {
    /// The side the template implies (LAN for fresh frames, the side an
    /// earlier frame went out of for replies and errors).
    pub const NATURAL: u8 = 0;
    /// From a subscriber.
    pub const LAN: u8 = 1;
    /// From the Internet.
    pub const WAN: u8 = 2;
    /// The second half of a hairpin.
    pub const HAIRPIN: u8 = 3;
}

/// The configuration selected by the first input byte: bits 0-1 filtering
/// (EIF, ADF, APDF, and EIF with small MTUs, LAN 120 and WAN 96, so that
/// datagrams are cut into fragments both ways), bit 2 inbound refresh, bits 3-4 block size (64,
/// 8, 2, 16), bits 5-6 port range (four blocks and a partial one from
/// 1024; four blocks ending at 65535; 64 blocks; two blocks), bit 7 an
/// event queue of 3.
pub fn config(b: u8) -> Config {
    let filtering = match b & 3 {
        1 => Filtering::AddressDependent,
        2 => Filtering::AddressAndPortDependent,
        _ => Filtering::EndpointIndependent,
    };
    let bs: u16 = [64, 8, 2, 16][usize::from(b >> 3 & 3)];
    let (port_min, port_max): (u16, u16) = match b >> 5 & 3 {
        0 => (1024, 1024 + 4 * bs - 1 + bs / 2),
        1 => ((65536 - 4 * u32::from(bs)) as u16, 65535),
        2 => (1024, 1024 + 64 * bs - 1),
        _ => (1024, 1024 + 2 * bs - 1),
    };
    Config {
        inside: vec![prefix([192, 168, 0, 0], 16), prefix([100, 64, 0, 0], 10)],
        pool: vec![prefix([203, 0, 113, 0], 30)],
        workers: SHARDS,
        port_min,
        port_max,
        block_size: bs,
        max_sessions: MAX_SESSIONS,
        max_subscribers: MAX_SUBSCRIBERS,
        limits: Limits {
            sessions_per_subscriber: SESSIONS_PER_SUBSCRIBER,
            blocks_per_subscriber: BLOCKS_PER_SUBSCRIBER,
        },
        timeouts: Timeouts::default(),
        filtering,
        inbound_refresh: b & 4 != 0,
        event_queue: if b & 0x80 != 0 { 3 } else { 512 },
        hash_seed: 0x5eed_f00d_0bad_cafe,
        lan_mtu: if b & 3 == 3 { 120 } else { 1500 },
        wan_mtu: if b & 3 == 3 { 96 } else { 1500 },
        ..Config::default()
    }
}

fn prefix(a: [u8; 4], len: u8) -> Prefix {
    Prefix::new(u32::from_be_bytes(a), len).expect("valid prefix")
}

// ---- input reader -------------------------------------------------------

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = self.pos.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

// ---- selectors ------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Inside,
    Remote,
    Pool,
}

const INSIDE: [[u8; 4]; 8] = [
    [192, 168, 0, 1],
    [192, 168, 0, 2],
    [100, 64, 0, 1],
    [192, 168, 1, 7],
    [100, 127, 255, 254],
    [192, 168, 255, 255],
    [100, 64, 0, 0],
    [192, 168, 0, 0],
];

const REMOTE: [[u8; 4]; 8] = [
    [198, 51, 100, 1],
    [198, 51, 100, 2],
    [8, 8, 8, 8],
    [1, 1, 1, 1],
    [10, 0, 0, 1],
    [0, 0, 0, 0],
    [255, 255, 255, 255],
    [203, 0, 113, 4],
];

fn class_addr(c: Class, i: u8) -> [u8; 4] {
    match c {
        Class::Inside if i < 8 => INSIDE[usize::from(i)],
        Class::Inside if i & 1 == 1 => [100, 64, 1, i],
        Class::Inside => [192, 168, 2, i],
        Class::Remote if i < 8 => REMOTE[usize::from(i)],
        Class::Remote => [198, 51, 100, i],
        Class::Pool => [203, 0, 113, i & 3],
    }
}

/// An address selector: below 0xc0 an index into the role's own class;
/// from 0xc0, bits 4-5 pick the class (inside, remote, pool, or 4 literal
/// bytes from the input) and bits 0-3 the index.
fn addr(r: &mut Reader<'_>, sel: u8, role: Class) -> [u8; 4] {
    if sel < 0xc0 {
        return class_addr(role, sel);
    }
    let i = sel & 15;
    match sel >> 4 & 3 {
        0 => class_addr(Class::Inside, i),
        1 => class_addr(Class::Remote, i),
        2 => class_addr(Class::Pool, i),
        _ => [r.u8(), r.u8(), r.u8(), r.u8()],
    }
}

/// Interesting ports of a configuration, block boundaries included.
fn port_set(cfg: &Config) -> [u16; 24] {
    let (min, max, bs) = (cfg.port_min, cfg.port_max, cfg.block_size);
    let blocks_end = (u32::from(min) + cfg.blocks_per_addr() * u32::from(bs)) as u16;
    [
        40000,
        40001,
        53,
        80,
        443,
        min,
        min.wrapping_add(1),
        min.wrapping_add(bs - 1),
        min.wrapping_add(bs),
        min.wrapping_add(2 * bs - 1),
        min.wrapping_add(2 * bs),
        max,
        max.wrapping_sub(1),
        max.wrapping_add(1),
        min - 1,
        0,
        1,
        1023,
        65535,
        5000,
        5001,
        12345,
        blocks_end,
        65534,
    ]
}

/// A port selector: below 0x80 an index into the port set; 0x80..0xf0 the
/// port 20000 + sel (many distinct ports of both parities); from 0xf0 two
/// literal bytes from the input.
fn port(r: &mut Reader<'_>, ports: &[u16; 24], sel: u8) -> u16 {
    match sel {
        0..=0x7f => ports[usize::from(sel) % ports.len()],
        0x80..=0xef => 20000 + u16::from(sel),
        _ => r.u16(),
    }
}

fn tcp_flags(x: u8) -> Flags {
    Flags {
        syn: x & 1 != 0,
        ack: x & 2 != 0,
        fin: x & 4 != 0,
        rst: x & 8 != 0,
    }
}

const PAYLOAD: [u8; 32] = *b"0123456789abcdefghijklmnopqrstuv";

/// [`PAYLOAD`] eight times over.
const PAYLOAD8: [u8; 256] = {
    let mut a = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        a[i] = PAYLOAD[i % 32];
        i += 1;
    }
    a
};

/// A UDP payload of `n` units: bytes, or eight bytes each in the
/// small-MTU configuration, so that its datagrams are cut.
fn udp_payload(cfg: &Config, n: usize) -> &'static [u8] {
    if cfg.wan_mtu < 1500 {
        &PAYLOAD8[..n * 8]
    } else {
        &PAYLOAD[..n]
    }
}

// ---- frame surgery (test side, never panics) ----------------------------

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Applies a shape byte to a built frame, keeping it valid: bits 0-1 TTL
/// (kept, 1, 0, 255), bit 2 one word of IP options, bit 3 three bytes of
/// Ethernet padding, bit 4 MF, bit 5 fragment offset 1, bit 6 UDP checksum
/// 0, bit 7 DF toggled. Checksums are recomputed.
pub fn shape(f: &mut Vec<u8>, s: u8) {
    if f.len() < 34 || f[12..14] != [8, 0] || f[14] >> 4 != 4 {
        return;
    }
    match s & 3 {
        1 => f[22] = 1,
        2 => f[22] = 0,
        3 => f[22] = 255,
        _ => {}
    }
    if s & 0x10 != 0 {
        f[20] |= 0x20;
    }
    if s & 0x20 != 0 {
        f[21] |= 1;
    }
    if s & 0x80 != 0 {
        f[20] ^= 0x40;
    }
    let hl = usize::from(f[14] & 0x0f) * 4;
    if s & 0x40 != 0 && f[23] == 17 && f.len() >= 14 + hl + 8 {
        f[14 + hl + 6] = 0;
        f[14 + hl + 7] = 0;
    }
    if s & 4 != 0 && hl <= 56 && 14 + hl <= f.len() {
        let at = 14 + hl;
        f.splice(at..at, [1, 1, 1, 0]);
        f[14] += 1;
        let tl = be16(f, 16).wrapping_add(4);
        f[16..18].copy_from_slice(&tl.to_be_bytes());
    }
    if s & 8 != 0 {
        f.extend_from_slice(&[0xee; 3]);
    }
    // Only the IPv4 header changed, except a zeroed UDP checksum: the
    // transport checksum does not cover what changed here (the pseudo
    // header uses the transport length).
    frames::refill_ip_checksum(f);
}

fn ipv4_header_ok(f: &[u8]) -> bool {
    if f.len() < 34 {
        return false;
    }
    let hl = usize::from(f[14] & 0x0f) * 4;
    hl >= 20 && 14 + hl <= f.len() && fold(sum(0, &f[14..14 + hl])) == 0xffff
}

/// `check::checksums`, but false instead of a panic where that function
/// would index out of bounds (a UDP length field past the datagram).
fn all_checksums_ok(f: &[u8]) -> bool {
    if check::try_seen(f).is_err() {
        return false;
    }
    let l4 = 14 + usize::from(f[14] & 0x0f) * 4;
    let end = 14 + usize::from(be16(f, 16));
    if f[23] == 17 {
        if end - l4 < 8 {
            return false;
        }
        let len = usize::from(be16(f, l4 + 4));
        if len < 8 || l4 + len > end {
            return false;
        }
    }
    check::checksums(f).is_ok()
}

/// A generated ICMP error `f` (leaving with `ev`) about `before`, the frame
/// as the refusing hop got it on side `from`, whose verdict was `v`.
fn check_generated(f: &[u8], before: &[u8], from: Side, ev: Verdict, v: Verdict, cfg: &Config) {
    let ctx = || {
        format!(
            "generated ({ev:?}) about a frame that got {v:?} on {from:?}\nabout: {}\nerror: {}",
            hex(before),
            hex(f)
        )
    };
    let l4 = 14 + usize::from(f[14] & 0x0f) * 4;
    assert!(f.len() >= l4 + 8 + 20, "no quoted header: {}", ctx());
    let quote = &f[l4 + 8..];
    let tl = usize::from(be16(before, 16));
    // Within 576 bytes and the link the error leaves by.
    let link = if ev == Verdict::ToLan {
        cfg.lan_mtu
    } else {
        cfg.wan_mtu
    };
    let most = usize::from(link).min(576) - 28;
    assert_eq!(quote.len(), tl.min(most), "quote length: {}", ctx());
    assert!(
        before[14..].starts_with(quote),
        "the quote is not the packet as it arrived: {}",
        ctx()
    );
    assert_eq!(f[30..34], before[26..30], "not to the source: {}", ctx());
    assert_eq!(f[0..6], before[6..12], "not to the source's MAC: {}", ctx());
    assert_eq!(
        be16(before, 20) & 0x1fff,
        0,
        "about a later fragment: {}",
        ctx()
    );
    let bl4 = 14 + usize::from(before[14] & 0x0f) * 4;
    if before[23] == 1 {
        assert!(
            icmp::kind(before[bl4]) == icmp::Kind::Query,
            "about an ICMP message that is not a query: {}",
            ctx()
        );
    }
    let back = if from == Side::Lan {
        Verdict::ToLan
    } else {
        Verdict::ToWan
    };
    assert_eq!(ev, back, "not through the side it came from: {}", ctx());
    if ev == Verdict::ToWan {
        assert_eq!(f[26..30], before[30..34], "source: {}", ctx());
    }
    let want = match v {
        Verdict::Drop(DropReason::TtlExpired) => (11, 0),
        Verdict::Drop(DropReason::MtuExceeded) => (3, 4),
        Verdict::Drop(
            DropReason::PortsExhausted
            | DropReason::PoolExhausted
            | DropReason::SessionLimit
            | DropReason::SessionTableFull
            | DropReason::SubscriberTableFull
            | DropReason::NoExternalAddress,
        ) => (3, 13),
        _ => panic!(
            "an ICMP error about a frame that was not refused: {}",
            ctx()
        ),
    };
    assert_eq!((f[l4], f[l4 + 1]), want, "type and code: {}", ctx());
    let mtu = be16(f, l4 + 6);
    if want == (3, 4) {
        // The MTU of a link the packet would have left by, smaller than
        // the packet: the WAN's from the LAN, the LAN's from the WAN or
        // for a hairpinned packet (to an outside address).
        let dst = u32::from_be_bytes([before[30], before[31], before[32], before[33]]);
        let to_outside = cfg.pool.iter().any(|p| p.contains(dst))
            || cfg
                .statics
                .iter()
                .any(|m| m.proto.is_none() && m.outside == dst);
        let link = if from == Side::Lan {
            mtu == cfg.wan_mtu || to_outside && mtu == cfg.lan_mtu
        } else {
            mtu == cfg.lan_mtu
        };
        assert!(
            link && usize::from(mtu) < tl,
            "next-hop MTU {mtu}: {}",
            ctx()
        );
    } else {
        assert_eq!(mtu, 0, "unused field: {}", ctx());
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---- the driver -----------------------------------------------------------

/// Recently seen frames: (tag, bytes), newest last.
struct Ring {
    items: Vec<(u8, Vec<u8>)>,
    next: usize,
    len: usize,
}

const RING: usize = 8;

impl Ring {
    fn new() -> Ring {
        Ring {
            items: Vec::new(),
            next: 0,
            len: 0,
        }
    }

    fn push(&mut self, tag: u8, f: &[u8]) {
        if self.items.len() < RING {
            self.items.push((tag, f.to_vec()));
        } else {
            let (t, v) = &mut self.items[self.next];
            *t = tag;
            v.clear();
            v.extend_from_slice(f);
        }
        self.next = (self.next + 1) % RING;
        self.len = (self.len + 1).min(RING);
    }

    /// The k-th most recent (k counted modulo the number held).
    fn get(&self, k: u8) -> Option<(u8, &[u8])> {
        if self.len == 0 {
            return None;
        }
        let k = usize::from(k) % self.len;
        let i = (self.next + RING - 1 - k) % RING;
        let (t, v) = &self.items[i];
        Some((*t, v))
    }
}

const TO_LAN: u8 = 0;
const TO_WAN: u8 = 1;

#[derive(Clone, Copy, Debug)]
struct Key {
    proto: u8,
    a: u32,
    ap: u16,
    b: u32,
    bp: u16,
    /// A session of a static mapping: its outside address and port are
    /// not from the subscriber's paired address and blocks.
    fixed: bool,
}

struct Driver {
    cfg: Config,
    nat: Nat,
    ports: [u16; 24],
    fwd: Ring,
    inputs: Ring,
    orig: Vec<u8>,
    before: Vec<u8>,
    keys: Vec<Key>,
    /// Address-only sessions seen by `check_state`: (protocol, outside,
    /// remote, inside) addresses.
    addr_only: Vec<(u8, u32, u32, u32)>,
    /// Per shard: sessions created minus deleted, from the events.
    ev_live: [i64; SHARDS as usize],
    /// What each operation did, when tracing.
    trace: Option<Vec<String>>,
    /// Sessions created, expired and flushed over all shards at the last
    /// check: while it does not move, no session came or went, and the
    /// keys of the live ones (which never change in place) need no new
    /// cross-check.
    generation: u64,
    /// A second NAT that gets the same operations, except that runs of
    /// frames that the first processed at one shard without a hand-off go
    /// through `Shard::process_batch`: it must end up identical.
    twin: Nat,
    /// The pending run: input frames, and what the first NAT made of each.
    batch: Vec<Vec<u8>>,
    expect: Vec<(Verdict, Vec<u8>)>,
    batch_len: usize,
    batch_key: (Side, u16),
    verdicts: Vec<Verdict>,
    /// Events of the first NAT that the twin has not produced yet.
    ev_log: [VecDeque<Event>; SHARDS as usize],
    by_ext: Table,
    by_inside: Table,
    by_sub: Table,
    subs: Vec<SubUse>,
    /// Sessions before a timer run: (key, expiry).
    pre: Vec<(u64, u32)>,
    /// Every shard's counters before the frame being sent.
    pre_counters: Vec<masq_core::Counters>,
    /// The side of the hop that gave the final verdict.
    last_side: Side,
}

/// A hash of a session's identity (protocol, inside and remote endpoints).
fn session_key(x: &SessionInfo) -> u64 {
    let a = u64::from(x.inside.addr) << 32 | u64::from(x.remote.addr);
    let b = u64::from(x.proto) << 32 | u64::from(x.inside.port) << 16 | u64::from(x.remote.port);
    (a ^ 0x243f_6a88_85a3_08d3)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(29)
        ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
}

/// What one subscriber's sessions use.
struct SubUse {
    /// The paired external address (of dynamic sessions).
    ext: Option<u32>,
    sessions: u32,
    blocks: [u32; 3],
    nblocks: usize,
}

/// A small open-addressing map from u64 to u64 that empties in O(1)
/// (entries of older stamps are free), for the cross checks of up to 128
/// sessions.
struct Table {
    slots: Vec<(u32, u64, u64)>,
    stamp: u32,
}

const TABLE: usize = 512;

impl Table {
    fn new() -> Table {
        Table {
            slots: vec![(0, 0, 0); TABLE],
            stamp: 1,
        }
    }

    fn reset(&mut self) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.slots.fill((0, 0, 0));
            self.stamp = 1;
        }
    }

    /// Inserts `key -> val` unless the key is there; returns the value
    /// already there.
    fn insert(&mut self, key: u64, val: u64) -> Option<u64> {
        let mut i = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 55) as usize;
        loop {
            let s = &mut self.slots[i];
            if s.0 != self.stamp {
                *s = (self.stamp, key, val);
                return None;
            }
            if s.1 == key {
                return Some(s.2);
            }
            i = (i + 1) % TABLE;
        }
    }
}

fn side_of(s: u8) -> Side {
    match s {
        side::WAN => Side::Wan,
        side::HAIRPIN => Side::Hairpin,
        _ => Side::Lan,
    }
}

fn side_code(s: Side) -> u8 {
    match s {
        Side::Lan => side::LAN,
        Side::Wan => side::WAN,
        Side::Hairpin => side::HAIRPIN,
    }
}

fn from_of(s: Side) -> From {
    if s == Side::Lan {
        From::Lan
    } else {
        From::Wan
    }
}

/// The static mapping a session of `proto` from inside `addr:port` was
/// made from, if any: a port forward of that protocol and endpoint, or a
/// one-to-one mapping of the address (every protocol and port).
fn static_of(statics: &[StaticMapping], proto: u8, addr: u32, port: u16) -> Option<StaticMapping> {
    let fwd = statics
        .iter()
        .find(|m| m.proto == Some(proto) && m.inside == addr && m.inside_port == port);
    fwd.or_else(|| {
        statics
            .iter()
            .find(|m| m.proto.is_none() && m.inside == addr)
    })
    .copied()
}

/// The outside endpoint a static mapping gives an inside port.
fn static_outside(m: &StaticMapping, inside_port: u16) -> (u32, u16) {
    match m.proto {
        Some(_) => (m.outside, m.outside_port),
        None => (m.outside, inside_port),
    }
}

fn ip4(b: &[u8]) -> [u8; 4] {
    [b[0], b[1], b[2], b[3]]
}

impl Driver {
    fn new(cfg_byte: u8) -> Driver {
        Driver::with_config(config(cfg_byte))
    }

    fn with_config(cfg: Config) -> Driver {
        let nat = Nat::new(&cfg);
        Driver {
            twin: Nat::new(&cfg),
            ports: port_set(&cfg),
            cfg,
            nat,
            fwd: Ring::new(),
            inputs: Ring::new(),
            orig: Vec::with_capacity(256),
            before: Vec::with_capacity(256),
            keys: Vec::with_capacity(2 * MAX_SESSIONS as usize),
            addr_only: Vec::with_capacity(2 * MAX_SESSIONS as usize),
            ev_live: [0; SHARDS as usize],
            trace: None,
            generation: u64::MAX,
            batch: Vec::new(),
            expect: Vec::new(),
            batch_len: 0,
            batch_key: (Side::Lan, 0),
            verdicts: vec![Verdict::Pass; BATCH_MAX],
            ev_log: [VecDeque::new(), VecDeque::new()],
            by_ext: Table::new(),
            by_inside: Table::new(),
            by_sub: Table::new(),
            subs: Vec::with_capacity(2 * MAX_SUBSCRIBERS as usize),
            pre: Vec::with_capacity(2 * MAX_SESSIONS as usize),
            pre_counters: Vec::with_capacity(usize::from(SHARDS)),
            last_side: Side::Lan,
        }
    }

    fn is_inside(&self, a: [u8; 4]) -> bool {
        let a = u32::from_be_bytes(a);
        self.cfg.inside.iter().any(|p| p.contains(a))
    }

    fn is_pool(&self, a: [u8; 4]) -> bool {
        let a = u32::from_be_bytes(a);
        self.cfg.pool.iter().any(|p| p.contains(a))
    }

    /// A pool address or a one-to-one mapping's outside address.
    fn is_outside(&self, a: [u8; 4]) -> bool {
        self.is_pool(a) || self.one_to_one_of_outside(u32::from_be_bytes(a)).is_some()
    }

    fn one_to_one_of_outside(&self, a: u32) -> Option<StaticMapping> {
        self.cfg
            .statics
            .iter()
            .find(|m| m.proto.is_none() && m.outside == a)
            .copied()
    }

    /// One operation; false when the input is used up.
    fn op(&mut self, r: &mut Reader<'_>) -> bool {
        if r.done() {
            return false;
        }
        let op = r.u8();
        let k = op & 7;
        let sd = op >> 3 & 3;
        let first = u16::from(op >> 5 & 1);
        if k == kind::TIME {
            // The twin catches up at the old time.
            self.sync_twin();
            self.time_step(r);
            self.check_state();
            self.sync_twin();
            return true;
        }
        let Some((mut frame, side)) = self.build(r, k, sd) else {
            // Nothing to answer yet: still consume the modifiers.
            if op & 0x40 != 0 {
                r.u8();
            }
            if op & 0x80 != 0 {
                let n = r.u8();
                r.bytes(2 * (usize::from(n & 3) + 1));
            }
            return true;
        };
        if op & 0x40 != 0 {
            shape(&mut frame, r.u8());
        }
        if op & 0x80 != 0 {
            let n = r.u8();
            for _ in 0..=(n & 3) {
                let off = r.u8();
                let val = r.u8();
                if !frame.is_empty() {
                    let i = usize::from(off) % frame.len();
                    frame[i] = val;
                }
            }
            if n & 0x80 != 0 {
                frames::refill_checksums(&mut frame);
            }
        }
        self.inject(&mut frame, side, first);
        true
    }

    /// Sends one input frame with every check: what comes out, the state
    /// of the NAT after it, and the twin NAT.
    fn inject(&mut self, frame: &mut [u8], side: Side, first: u16) -> Verdict {
        self.inputs.push(side_code(side), frame);
        let (v, hops) = self.send(frame, side, first);
        self.check_state();
        self.twin_frame(frame, side, first, v, hops);
        v
    }

    /// Gives the twin the frame the first NAT just processed (its input is
    /// in `orig`, its output in `out`).
    fn twin_frame(&mut self, out: &[u8], side: Side, first: u16, v: Verdict, hops: u32) {
        if hops == 0 {
            if self.batch_len > 0
                && (self.batch_key != (side, first) || self.batch_len == BATCH_MAX)
            {
                self.flush_twin();
            }
            self.batch_key = (side, first);
            let k = self.batch_len;
            if self.batch.len() == k {
                self.batch.push(Vec::new());
            }
            if self.expect.len() == k {
                self.expect.push((v, Vec::new()));
            }
            self.batch[k].clear();
            self.batch[k].extend_from_slice(&self.orig);
            self.expect[k].0 = v;
            self.expect[k].1.clear();
            self.expect[k].1.extend_from_slice(out);
            self.batch_len += 1;
            return;
        }
        self.flush_twin();
        let k = 0;
        if self.batch.is_empty() {
            self.batch.push(Vec::new());
        }
        self.batch[k].clear();
        self.batch[k].extend_from_slice(&self.orig);
        let now = self.nat.now;
        let mut shard = first;
        let mut cur = side;
        let tv = loop {
            match self.twin.shards[usize::from(shard)].process(&mut self.batch[k], cur, now) {
                Verdict::HandOff { shard: to, side: s } if to < SHARDS && to != shard => {
                    shard = to;
                    cur = s;
                }
                tv => break tv,
            }
        };
        assert_eq!(tv, v, "the twin NAT disagrees on {}", hex(&self.orig));
        assert!(
            self.batch[k] == out,
            "the twin NAT wrote another frame for {}",
            hex(&self.orig)
        );
        self.sync_twin();
    }

    /// Runs the pending frames through `process_batch` on the twin.
    fn flush_twin(&mut self) {
        let n = self.batch_len;
        if n == 0 {
            return;
        }
        self.batch_len = 0;
        let (side, shard) = self.batch_key;
        if let Some(t) = &mut self.trace {
            t.push(format!(
                "twin: process_batch of {n} at shard {shard} ({side:?})"
            ));
        }
        let now = self.nat.now;
        self.twin.shards[usize::from(shard)].process_batch(
            &mut self.batch[..n],
            side,
            now,
            &mut self.verdicts[..n],
        );
        for k in 0..n {
            let (v, out) = &self.expect[k];
            assert_eq!(
                self.verdicts[k], *v,
                "process_batch: verdict of frame {k} of {n} at shard {shard} ({side:?})"
            );
            assert!(
                self.batch[k] == *out,
                "process_batch: frame {k} of {n} at shard {shard} ({side:?}) differs"
            );
        }
        self.twin_events();
    }

    /// Takes the twin's events: they must be the oldest ones the first NAT
    /// produced and the twin had not.
    fn twin_events(&mut self) {
        let log = self.cfg.event_queue as usize >= 512;
        for (i, t) in self.twin.shards.iter_mut().enumerate() {
            while let Some(e) = t.pop_event() {
                if log {
                    let want = self.ev_log[i].pop_front();
                    assert_eq!(Some(e), want, "shard {i}: the twin NAT's events differ");
                }
            }
        }
    }

    /// With no frame pending, the twin must be in the same state.
    fn sync_twin(&mut self) {
        self.flush_twin();
        self.twin_events();
        for i in 0..usize::from(SHARDS) {
            assert!(
                self.ev_log[i].is_empty(),
                "shard {i}: events the twin NAT did not produce"
            );
            let (a, b) = (&self.nat.shards[i], &self.twin.shards[i]);
            let (mut ca, mut cb) = (a.counters().clone(), b.counters().clone());
            ca.events_dropped = 0;
            cb.events_dropped = 0;
            assert_eq!(ca, cb, "shard {i}: the twin NAT's counters differ");
            assert_eq!(
                a.session_count(),
                b.session_count(),
                "shard {i}: twin session count"
            );
            assert!(
                a.sessions().eq(b.sessions()),
                "shard {i}: the twin NAT's sessions differ"
            );
            assert_eq!(
                a.next_expiry(),
                b.next_expiry(),
                "shard {i}: twin next expiry"
            );
            assert_eq!(
                a.subscriber_count(),
                b.subscriber_count(),
                "shard {i}: twin subscribers"
            );
        }
    }

    /// Builds the frame of a frame operation and the side it arrives on.
    fn build(&mut self, r: &mut Reader<'_>, k: u8, sd: u8) -> Option<(Vec<u8>, Side)> {
        match k {
            kind::UDP | kind::TCP | kind::ECHO => {
                let side = side_of(sd);
                let lan = side == Side::Lan;
                let (sr, dr) = if lan {
                    (Class::Inside, Class::Remote)
                } else {
                    (Class::Remote, Class::Pool)
                };
                let s = r.u8();
                let src = addr(r, s, sr);
                let d = r.u8();
                let dst = addr(r, d, dr);
                let p = r.u8();
                let sport = port(r, &self.ports, p);
                let q = r.u8();
                let x = r.u8();
                let f = match k {
                    kind::UDP => {
                        let dport = port(r, &self.ports, q);
                        frames::udp(
                            from_of(side),
                            src,
                            sport,
                            dst,
                            dport,
                            udp_payload(&self.cfg, usize::from(x & 31)),
                        )
                    }
                    kind::TCP => {
                        let dport = port(r, &self.ports, q);
                        let pl = &PAYLOAD[..usize::from(x >> 4)];
                        frames::tcp(from_of(side), src, sport, dst, dport, tcp_flags(x), pl)
                    }
                    _ => frames::echo(
                        from_of(side),
                        src,
                        dst,
                        sport,
                        u16::from(q),
                        lan ^ (x & 1 != 0),
                    ),
                };
                Some((f, side))
            }
            kind::REPLY => {
                let kk = r.u8();
                let x = r.u8();
                let o = r.u8();
                let (tag, f) = self.fwd.get(kk)?;
                let s = check::try_seen(f).ok()?;
                let natural = if tag == TO_WAN { Side::Wan } else { Side::Lan };
                let side = if sd == side::NATURAL {
                    natural
                } else {
                    side_of(sd)
                };
                let lan = side == Side::Lan;
                let (mut src, mut sport, mut dst, mut dport) = (s.dst, s.dport, s.src, s.sport);
                let (sr, dr) = if lan {
                    (Class::Inside, Class::Remote)
                } else {
                    (Class::Remote, Class::Pool)
                };
                let proto = s.proto;
                if proto == 1 && s.icmp_type != 0 && s.icmp_type != 8 {
                    return None;
                }
                if o & 1 != 0 {
                    let a = r.u8();
                    src = addr(r, a, sr);
                }
                if o & 2 != 0 {
                    let a = r.u8();
                    sport = port(r, &self.ports, a);
                }
                if o & 4 != 0 {
                    let a = r.u8();
                    dst = addr(r, a, dr);
                }
                if o & 8 != 0 {
                    let a = r.u8();
                    dport = port(r, &self.ports, a);
                }
                let f = match proto {
                    17 => frames::udp(
                        from_of(side),
                        src,
                        sport,
                        dst,
                        dport,
                        udp_payload(&self.cfg, usize::from(x >> 4)),
                    ),
                    6 => {
                        let pl = &PAYLOAD[..usize::from(x >> 4)];
                        frames::tcp(from_of(side), src, sport, dst, dport, tcp_flags(x), pl)
                    }
                    1 => {
                        let id = if lan { sport } else { dport };
                        frames::echo(
                            from_of(side),
                            src,
                            dst,
                            id,
                            u16::from(x >> 4),
                            lan ^ (x & 1 != 0),
                        )
                    }
                    _ => return None,
                };
                Some((f, side))
            }
            kind::ICMP_ERROR => {
                let kk = r.u8();
                let t = r.u8();
                let code = r.u8();
                let keep = r.u8();
                let s = r.u8();
                let (tag, emb) = self.fwd.get(kk)?;
                if emb.len() < 34 {
                    return None;
                }
                let natural = if tag == TO_WAN { Side::Wan } else { Side::Lan };
                let side = if sd == side::NATURAL {
                    natural
                } else {
                    side_of(sd)
                };
                let (e_src, e_dst) = (ip4(&emb[26..30]), ip4(&emb[30..34]));
                let role = if side == Side::Lan {
                    Class::Inside
                } else {
                    Class::Remote
                };
                let emb = emb.to_vec();
                let src = if s < 0x80 { e_dst } else { addr(r, s, role) };
                let ty = [3, 11, 12, 3, 3, 11, 4, 5][usize::from(t & 7)];
                let keep = [8, 8, 0, 4, 12, 20, 1500, 28][usize::from(keep & 7)];
                Some((
                    frames::icmp_error(from_of(side), src, e_src, ty, code, &emb, keep),
                    side,
                ))
            }
            kind::RAW => {
                let len = r.u8();
                let fl = r.u8();
                let side = side_of(sd);
                let mut f = Vec::with_capacity(usize::from(len) + 14);
                if fl & 1 != 0 {
                    let (s, d) = if side == Side::Lan {
                        (HOST_MAC, LAN_MAC)
                    } else {
                        (GW_MAC, WAN_MAC)
                    };
                    f.extend_from_slice(&d);
                    f.extend_from_slice(&s);
                    f.extend_from_slice(&[8, 0]);
                }
                f.extend_from_slice(r.bytes(usize::from(len)));
                if fl & 2 != 0 {
                    frames::refill_checksums(&mut f);
                }
                Some((f, side))
            }
            _ => {
                let kk = r.u8();
                let (tag, f) = self.inputs.get(kk)?;
                let side = if sd == side::NATURAL {
                    side_of(tag)
                } else {
                    side_of(sd)
                };
                Some((f.to_vec(), side))
            }
        }
    }

    /// `t e [who]`: t bits 6-7 pick the unit of bits 0-5 (seconds, 16 s,
    /// 1000 s, 100 ms); e bits 0-2 the expire budget (0, 1, 2, 3, 4, 8,
    /// unbounded, unbounded), bits 3-4 which shards expire (both, 0, 1,
    /// none), bit 5 expire twice, bits 6-7 = 3: flush the sessions of the
    /// inside host `who`.
    fn time_step(&mut self, r: &mut Reader<'_>) {
        let t = r.u8();
        let e = r.u8();
        let n = u64::from(t & 63);
        let ms = match t >> 6 {
            0 => n * 1000,
            1 => n * 16_000,
            2 => n * 1_000_000,
            _ => n * 100,
        };
        // Stay within a realistic monotonic clock (decades, not centuries).
        self.nat.now = Time(self.nat.now.0.saturating_add(ms).min(1 << 40));
        let now = self.nat.now;
        let budget = [0, 1, 2, 3, 4, 8, usize::MAX, usize::MAX][usize::from(e & 7)];
        let who = e >> 3 & 3;
        let flush = (e >> 6 == 3).then(|| u32::from_be_bytes(class_addr(Class::Inside, r.u8())));
        self.twin.now = now;
        // Remember every session and when it expires.
        self.pre.clear();
        for sh in &self.nat.shards {
            self.pre
                .extend(sh.sessions().map(|x| (session_key(&x), x.expires)));
        }
        for nat in [&mut self.nat, &mut self.twin] {
            for _ in 0..=(e >> 5 & 1) {
                for (i, s) in nat.shards.iter_mut().enumerate() {
                    if who == 0 || usize::from(who) == i + 1 {
                        s.expire(now, budget);
                    }
                }
            }
        }
        // Timers never remove a session before it expires.
        self.by_sub.reset();
        for sh in &self.nat.shards {
            for x in sh.sessions() {
                self.by_sub.insert(session_key(&x), 0);
            }
        }
        let now_s = now.secs();
        for &(k, expires) in &self.pre {
            if self.by_sub.insert(k, 0).is_none() {
                assert!(
                    expires <= now_s,
                    "a session expiring at {expires} was removed at {now_s}"
                );
            }
        }
        if budget == usize::MAX && who == 0 {
            self.check_after_full_expire();
        }
        if let Some(a) = flush {
            for nat in [&mut self.nat, &mut self.twin] {
                for s in &mut nat.shards {
                    s.flush(now, |x| x.inside.addr == a);
                }
            }
        }
    }

    /// Sends one frame in on `side` at shard `first`, follows hand-offs and
    /// checks what comes out.
    fn send(&mut self, frame: &mut [u8], side: Side, first: u16) -> (Verdict, u32) {
        let created_before = self.created();
        self.pre_counters.clear();
        self.pre_counters
            .extend(self.nat.shards.iter().map(|s| s.counters().clone()));
        let held_before: usize = self.nat.shards.iter().map(Shard::held_fragments).sum();
        self.orig.clear();
        self.orig.extend_from_slice(frame);
        // A fragment's transport checksum covers bytes it does not carry.
        let fragment =
            frame.len() >= 22 && frame[12..14] == [8, 0] && be16(frame, 20) & 0x3fff != 0;
        let pre_ok = !fragment && all_checksums_ok(frame);
        let now = self.nat.now;
        let mut shard = first;
        let mut cur = side;
        let mut hops = 0;
        let v = loop {
            self.before.clear();
            self.before.extend_from_slice(frame);
            let v = self.nat.shards[usize::from(shard)].process(frame, cur, now);
            match v {
                Verdict::HandOff { shard: to, side: s } => {
                    assert!(
                        to < SHARDS && to != shard,
                        "hand-off from {shard} to {to}: {}",
                        hex(&self.orig)
                    );
                    assert!(
                        s == cur || (cur == Side::Lan && s == Side::Hairpin),
                        "hand-off turned {cur:?} into {s:?}: {}",
                        hex(&self.orig)
                    );
                    if s == cur {
                        assert!(
                            *frame == self.before[..],
                            "frame changed before a hand-off: {}",
                            hex(&self.orig)
                        );
                    }
                    hops += 1;
                    assert!(hops <= 2, "hand-off loop: {}", hex(&self.orig));
                    shard = to;
                    cur = s;
                }
                Verdict::Pass => {
                    assert!(
                        *frame == self.before[..],
                        "frame changed but passed: {}",
                        hex(&self.orig)
                    );
                    break v;
                }
                v => break v,
            }
        };
        if let Some(t) = &mut self.trace {
            let what = check::try_seen(&self.orig).map_or_else(
                |e| format!("unparsed ({e}), {} bytes", self.orig.len()),
                |s| {
                    format!(
                        "proto {} {:?}:{} -> {:?}:{} type {}",
                        s.proto, s.src, s.sport, s.dst, s.dport, s.icmp_type
                    )
                },
            );
            t.push(format!(
                "t={}ms {side:?} at shard {first}: {what} => {v:?}{}",
                now.0,
                if pre_ok {
                    ""
                } else {
                    " (checksums not all valid)"
                }
            ));
        }
        self.last_side = cur;
        self.check_accounting(v, side, first, shard, hops, held_before);
        let created = self.created() - created_before;
        if created > 0 {
            self.check_creation(side, created);
        }
        if matches!(v, Verdict::ToLan | Verdict::ToWan) {
            // Nothing leaves larger than the egress link's MTU.
            let mtu = if v == Verdict::ToLan {
                self.cfg.lan_mtu
            } else {
                self.cfg.wan_mtu
            };
            assert!(
                frame.len() < 18 || be16(frame, 16) <= mtu,
                "{v:?}: {} bytes over the MTU of {mtu}: {}...",
                be16(frame, 16),
                hex(&self.orig[..self.orig.len().min(96)])
            );
            if fragment && be16(&self.orig, 20) & 0x1fff != 0 {
                self.check_later_fragment(frame, v);
            } else {
                self.check_forwarded(frame, side, v, pre_ok);
            }
            let tag = if v == Verdict::ToLan { TO_LAN } else { TO_WAN };
            self.fwd.push(tag, frame);
        }
        self.check_emitted(v);
        (v, hops)
    }

    /// Every frame is counted once per shard it passes: one receive
    /// counter of its side at each hop, one verdict counter per hop
    /// (hand-offs, then the final verdict at the final shard), plus one
    /// verdict per early fragment it released; an ICMP error counts as
    /// translated exactly when it was forwarded.
    fn check_accounting(
        &self,
        v: Verdict,
        side: Side,
        first: u16,
        last: u16,
        hops: u32,
        held_before: usize,
    ) {
        let ctx = || format!("{side:?} -> {v:?} after {hops} hop(s): {}", hex(&self.orig));
        let mut d = [0u64; 7];
        let held_after: usize = self.nat.shards.iter().map(Shard::held_fragments).sum();
        for (s, pre) in self.nat.shards.iter().zip(&self.pre_counters) {
            let c = s.counters();
            let rx = |c: &masq_core::Counters| c.rx_lan + c.rx_wan + c.rx_hairpin;
            // A packet cut into fragments is one verdict (`Fragmented`),
            // its fragments counted as frames sent besides.
            let sent = |c: &masq_core::Counters| {
                c.tx_lan + c.tx_wan - c.fragments_sent + c.packets_fragmented
            };
            let out = |c: &masq_core::Counters| {
                sent(c) + c.passed + c.handed_off + c.fragments_held + c.drops_total()
            };
            d[0] += rx(c) - rx(pre);
            d[1] += out(c) - out(pre);
            d[2] += c.fragments_held - pre.fragments_held;
            d[3] += c.handed_off - pre.handed_off;
            d[4] += c.icmp_errors_translated - pre.icmp_errors_translated;
            d[5] += sent(c) - sent(pre);
            d[6] += c.rx_hairpin - pre.rx_hairpin;
        }
        let hops = u64::from(hops);
        assert_eq!(d[0], hops + 1, "frames received: {}", ctx());
        let released = (held_before as u64 + d[2])
            .checked_sub(held_after as u64)
            .unwrap_or_else(|| panic!("held fragments appeared: {}", ctx()));
        assert_eq!(d[1], hops + 1 + released, "verdicts counted: {}", ctx());
        let (f, l) = (
            &self.nat.shards[usize::from(first)],
            &self.pre_counters[usize::from(first)],
        );
        let arrived = match side {
            Side::Lan => f.counters().rx_lan - l.rx_lan,
            Side::Wan => f.counters().rx_wan - l.rx_wan,
            Side::Hairpin => f.counters().rx_hairpin - l.rx_hairpin,
        };
        assert!(arrived >= 1, "not counted where it arrived: {}", ctx());
        if released == 0 {
            assert_eq!(d[3], hops, "hand-offs counted: {}", ctx());
            let (c, p) = (
                self.nat.shards[usize::from(last)].counters(),
                &self.pre_counters[usize::from(last)],
            );
            let moved = match v {
                Verdict::ToLan => c.tx_lan - p.tx_lan,
                Verdict::ToWan => c.tx_wan - p.tx_wan,
                Verdict::Pass => c.passed - p.passed,
                Verdict::Held => c.fragments_held - p.fragments_held,
                Verdict::Fragmented => c.packets_fragmented - p.packets_fragmented,
                Verdict::Drop(r) => c.drop_count(r) - p.drop_count(r),
                Verdict::HandOff { .. } => 0,
            };
            assert_eq!(moved, 1, "the final verdict's counter: {}", ctx());
            let fwd = u64::from(matches!(
                v,
                Verdict::ToLan | Verdict::ToWan | Verdict::Fragmented
            ));
            assert_eq!(d[5], fwd, "frames forwarded: {}", ctx());
        }
        let o = &self.orig[..];
        let error = o.len() >= 34
            && o[12..14] == [8, 0]
            && o[23] == 1
            && be16(o, 20) & 0x3fff == 0
            && o.get(14 + usize::from(o[14] & 0x0f) * 4)
                .is_some_and(|&t| icmp::kind(t) == icmp::Kind::Error);
        let translated =
            error && matches!(v, Verdict::ToLan | Verdict::ToWan | Verdict::Fragmented);
        assert_eq!(
            d[4],
            u64::from(translated),
            "ICMP errors counted as translated: {}",
            ctx()
        );
    }

    /// Frames the shards made themselves (ICMP errors, released
    /// fragments): well-formed IPv4 with a valid header checksum. A
    /// generated ICMP error has a valid checksum, quotes the packet the
    /// last hop refused as it arrived there (never an ICMP error or other
    /// non-query, never a later fragment), goes back to that packet's
    /// source through the side it came from, and says why it was refused.
    fn check_emitted(&mut self, v: Verdict) {
        let mut buf = vec![0u8; 2048];
        let mut generated = 0;
        let mut cut = 0;
        for sh in &mut self.nat.shards {
            while let Some((ev, n)) = sh.pop_emitted(&mut buf) {
                let f = &buf[..n];
                assert!(
                    ipv4_header_ok(f),
                    "emitted frame's IPv4 header ({ev:?}): {}",
                    hex(f)
                );
                // Nothing leaves larger than the egress link's MTU.
                let mtu = match ev {
                    Verdict::ToLan => self.cfg.lan_mtu,
                    Verdict::ToWan => self.cfg.wan_mtu,
                    _ => u16::MAX,
                };
                assert!(
                    be16(f, 16) <= mtu,
                    "emitted {ev:?} over the MTU of {mtu}: {}",
                    hex(f)
                );
                cut += usize::from(be16(f, 20) & 0x3fff != 0);
                let l4 = 14 + usize::from(f[14] & 0x0f) * 4;
                if f[23] == 1 && be16(f, 20) & 0x3fff == 0 && icmp::kind(f[l4]) == icmp::Kind::Error
                {
                    let c = masq_core::wire::checksum::checksum(&f[l4..]);
                    assert_eq!(c, 0, "generated ICMP error checksum: {}", hex(f));
                    generated += 1;
                    check_generated(f, &self.before, self.last_side, ev, v, &self.cfg);
                }
            }
        }
        assert!(generated <= 1, "{generated} ICMP errors about one frame");
        if v == Verdict::Fragmented {
            assert!(cut >= 2, "cut into {cut} fragment(s)");
        }
    }

    /// A fragment after the first, forwarded: only its addresses, TTL,
    /// header checksum and MACs changed, to those of a live session.
    fn check_later_fragment(&self, f: &[u8], v: Verdict) {
        let o = &self.orig[..];
        let ctx = || format!("{v:?}\n in: {}\nout: {}", hex(o), hex(f));
        assert_eq!(f.len(), o.len(), "length changed: {}", ctx());
        assert!(ipv4_header_ok(f), "header checksum: {}", ctx());
        assert_eq!(f[22], o[22].wrapping_sub(1), "TTL: {}", ctx());
        let a = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let to_lan = v == Verdict::ToLan;
        let proto = o[23];
        let found = self.nat.shards.iter().flat_map(Shard::sessions).any(|x| {
            x.proto == proto
                && if to_lan {
                    x.outside.addr == a(o, 30)
                        && x.remote.addr == a(o, 26)
                        && x.inside.addr == a(f, 30)
                } else {
                    x.inside.addr == a(o, 26)
                        && x.remote.addr == a(o, 30)
                        && x.outside.addr == a(f, 26)
                }
        });
        assert!(
            found,
            "no session explains the fragment's translation: {}",
            ctx()
        );
        for i in 0..f.len() {
            let allowed = i < 12
                || i == 22
                || i == 24
                || i == 25
                || (!to_lan && (26..30).contains(&i))
                || (to_lan && (30..34).contains(&i));
            assert!(f[i] == o[i] || allowed, "byte {i} changed: {}", ctx());
        }
    }

    /// Sessions created over all shards.
    fn created(&self) -> u64 {
        self.nat
            .shards
            .iter()
            .map(|s| s.counters().sessions_created)
            .sum()
    }

    /// What may create sessions: TCP only with SYN and no RST (and no ACK
    /// from outside), never an ICMP error, never an inbound ICMP packet, and
    /// nothing inbound under address-and-port-dependent filtering.
    fn check_creation(&self, side: Side, created: u64) {
        let o = &self.orig[..];
        let ctx = || format!("{created} session(s) created by {side:?} frame {}", hex(o));
        let s = check::try_seen(o).unwrap_or_else(|e| panic!("unparsable ({e}): {}", ctx()));
        let l4 = 14 + usize::from(o[14] & 0x0f) * 4;
        let apdf = self.cfg.filtering == Filtering::AddressAndPortDependent;
        assert!(created <= 2, "{}", ctx());
        if s.proto == 1 {
            assert!(
                icmp::kind(s.icmp_type) == icmp::Kind::Query,
                "ICMP error: {}",
                ctx()
            );
        }
        if s.proto == 6 {
            let flags = o.get(l4 + 13).copied().unwrap_or(0);
            assert!(
                flags & 0x02 != 0 && flags & 0x04 == 0,
                "TCP flags {flags:#04x}: {}",
                ctx()
            );
        }
        // A static mapping admits inbound flows whatever the filtering.
        let (dst, dport) = (u32::from_be_bytes(s.dst), s.dport);
        let to_static = s.proto != 1
            && self.cfg.statics.iter().any(|m| {
                m.outside == dst
                    && (m.proto.is_none() || m.proto == Some(s.proto) && m.outside_port == dport)
            });
        let open = !apdf || to_static;
        if side == Side::Lan {
            // One outbound session, plus one inbound for a hairpin.
            assert!(created == 1 || open && s.proto != 1, "{}", ctx());
        } else {
            assert!(created == 1 && open && s.proto != 1, "{}", ctx());
            if s.proto == 6 {
                let flags = o.get(l4 + 13).copied().unwrap_or(0);
                assert_eq!(flags & 0x16, 0x02, "inbound TCP flags: {}", ctx());
            }
        }
    }

    /// An echo request to a one-to-one outside address, or its inside
    /// host's echo reply: translated without a session, only the address
    /// of the mapping changed. False when `f` is not such an echo.
    fn one_to_one_echo(&self, f: &[u8], side: Side, v: Verdict) -> bool {
        let o = &self.orig[..];
        let to_lan = v == Verdict::ToLan;
        let l4 = 14 + usize::from(f[14] & 0x0f) * 4;
        if f[l4] != if to_lan { 8 } else { 0 } {
            return false;
        }
        let ctx = || format!("{side:?} -> {v:?}\n in: {}\nout: {}", hex(o), hex(f));
        let a = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let m = if to_lan {
            self.one_to_one_of_outside(a(o, 30))
        } else {
            self.cfg
                .statics
                .iter()
                .find(|m| m.proto.is_none() && m.inside == a(o, 26))
                .copied()
        };
        let m = m
            .unwrap_or_else(|| panic!("ICMP type {} with no one-to-one mapping: {}", f[l4], ctx()));
        let at = if to_lan {
            assert_eq!(side, Side::Wan, "{}", ctx());
            assert_eq!(a(f, 30), m.inside, "{}", ctx());
            30
        } else {
            assert_eq!(side, Side::Lan, "{}", ctx());
            assert_eq!(a(f, 26), m.outside, "{}", ctx());
            26
        };
        for i in 12..f.len() {
            let allowed = i == 22 || i == 24 || i == 25 || (at..at + 4).contains(&i);
            assert!(f[i] == o[i] || allowed, "byte {i} changed: {}", ctx());
        }
        true
    }

    fn check_forwarded(&self, f: &[u8], side: Side, v: Verdict, pre_ok: bool) {
        let o = &self.orig[..];
        let ctx = || format!("{side:?} -> {v:?}\n in: {}\nout: {}", hex(o), hex(f));
        assert_eq!(f.len(), o.len(), "length changed: {}", ctx());
        let s = check::try_seen(f)
            .unwrap_or_else(|e| panic!("forwarded frame does not parse ({e}): {}", ctx()));
        assert!(
            ipv4_header_ok(f),
            "forwarded IPv4 header checksum does not verify: {}",
            ctx()
        );
        if pre_ok {
            if let Err(e) = check::checksums(f) {
                panic!("valid checksums made invalid: {e}: {}", ctx());
            }
        }
        let to_lan = v == Verdict::ToLan;
        let hairpin = side == Side::Lan && to_lan;
        if to_lan {
            assert!(
                self.is_inside(s.dst),
                "to the LAN, not to an inside host: {}",
                ctx()
            );
            assert_eq!(s.src_mac, LAN_MAC, "source MAC: {}", ctx());
            assert!(s.proto != 0, "protocol: {}", ctx());
        } else {
            assert_eq!(side, Side::Lan, "only LAN frames go to the WAN: {}", ctx());
            assert!(
                self.is_outside(s.src),
                "to the WAN without a pool (or one-to-one) source: {}",
                ctx()
            );
            assert_eq!((s.dst_mac, s.src_mac), (GW_MAC, WAN_MAC), "MACs: {}", ctx());
        }
        let ttl = o[22];
        let want_ttl = if side == Side::Hairpin {
            ttl
        } else {
            ttl.wrapping_sub(1)
        };
        assert_eq!(s.ttl, want_ttl, "TTL: {}", ctx());

        let error = s.proto == 1 && icmp::kind(s.icmp_type) == icmp::Kind::Error;
        if error {
            self.check_translated_error(f, side, v);
            return;
        }
        if s.proto == 1 && self.one_to_one_echo(f, side, v) {
            return;
        }
        if s.proto == 1 {
            let want = if to_lan { 0 } else { 8 };
            assert!(s.icmp_type == want, "ICMP type {}: {}", s.icmp_type, ctx());
        }
        // The translation is the one a live session records, and nothing
        // else in the frame changed.
        let rp = |p: u16| if s.proto == 1 { 0 } else { p };
        let (sa, da) = (u32::from_be_bytes(s.src), u32::from_be_bytes(s.dst));
        let os = check::try_seen(o).expect("the input parsed");
        // Outbound packets refresh their session; inbound ones only TCP, or
        // with inbound_refresh.
        let refresh = !to_lan || s.proto == 6 || self.cfg.inbound_refresh;
        let now = self.nat.now.secs();
        let found = self.nat.shards.iter().flat_map(Shard::sessions).any(|x| {
            x.proto == s.proto
                && (!refresh || x.last_seen == now)
                && if to_lan {
                    x.inside.addr == da
                        && x.inside.port == s.dport
                        && x.remote.addr == sa
                        && x.remote.port == rp(s.sport)
                        && (side == Side::Lan
                            || (x.outside.addr == u32::from_be_bytes(os.dst)
                                && x.outside.port == os.dport))
                } else {
                    x.outside.addr == sa
                        && x.outside.port == s.sport
                        && x.remote.addr == da
                        && x.remote.port == rp(s.dport)
                        && x.inside.addr == u32::from_be_bytes(os.src)
                        && x.inside.port == os.sport
                }
        });
        assert!(
            found,
            "no session explains the translation (or it was not refreshed): {}",
            ctx()
        );
        let l4 = 14 + usize::from(o[14] & 0x0f) * 4;
        let (src_changes, dst_changes) = (!to_lan || hairpin, to_lan);
        let allowed = |i: usize| {
            i < 12
                || i == 22
                || i == 24
                || i == 25
                || (src_changes && (26..30).contains(&i))
                || (dst_changes && (30..34).contains(&i))
                || match s.proto {
                    1 => (l4 + 2..l4 + 6).contains(&i),
                    6 => {
                        (l4 + 16..l4 + 18).contains(&i)
                            || (src_changes && (l4..l4 + 2).contains(&i))
                            || (dst_changes && (l4 + 2..l4 + 4).contains(&i))
                    }
                    // Address-only: only DCCP's and UDP-Lite's checksum.
                    p if is_address_only(p) => {
                        matches!(p, 33 | 136) && (l4 + 6..l4 + 8).contains(&i)
                    }
                    _ => {
                        (l4 + 6..l4 + 8).contains(&i)
                            || (src_changes && (l4..l4 + 2).contains(&i))
                            || (dst_changes && (l4 + 2..l4 + 4).contains(&i))
                    }
                }
        };
        for i in 0..f.len() {
            assert!(f[i] == o[i] || allowed(i), "byte {i} changed: {}", ctx());
        }
    }

    /// Properties of the whole NAT after each operation.
    fn check_state(&mut self) {
        let now = self.nat.now.secs();
        let map = self.nat.shards[0].block_map();
        let generation = self
            .nat
            .shards
            .iter()
            .map(|s| {
                let c = s.counters();
                c.sessions_created + c.sessions_expired + c.sessions_flushed
            })
            .sum::<u64>();
        let cross = generation != self.generation;
        self.generation = generation;
        self.keys.clear();
        self.addr_only.clear();
        for (i, sh) in self.nat.shards.iter_mut().enumerate() {
            let id = i as u16;
            let n = sh.session_count();
            assert!(n <= MAX_SESSIONS as usize, "shard {i}: {n} sessions");
            assert!(sh.subscriber_count() <= MAX_SUBSCRIBERS as usize);
            let mut count = 0;
            for x in sh.sessions() {
                count += 1;
                let ins = x.inside.addr.to_be_bytes();
                let ext = x.outside.addr.to_be_bytes();
                assert!(x.proto != 0, "session protocol {}", x.proto);
                assert!(
                    self.cfg.inside.iter().any(|p| p.contains(x.inside.addr)),
                    "inside {ins:?}"
                );
                let fixed = static_of(&self.cfg.statics, x.proto, x.inside.addr, x.inside.port);
                if is_address_only(x.proto) {
                    // No port anywhere; owned by the shard of its
                    // (protocol, remote); on its one-to-one address or
                    // a pool address.
                    assert_eq!(
                        (x.inside.port, x.outside.port, x.remote.port, x.tcp),
                        (0, 0, 0, None),
                        "address-only {x:?}"
                    );
                    assert_eq!(
                        address_only_owner(x.proto, x.remote.addr, SHARDS),
                        id,
                        "address-only {x:?} on shard {i}"
                    );
                    match &fixed {
                        Some(m) => assert_eq!(x.outside.addr, m.outside, "{x:?}"),
                        None => assert!(
                            self.cfg.pool.iter().any(|p| p.contains(x.outside.addr)),
                            "outside {ext:?}"
                        ),
                    }
                    assert!(
                        x.last_seen <= now && x.expires > x.last_seen,
                        "times of {x:?} at {now}"
                    );
                    self.addr_only
                        .push((x.proto, x.outside.addr, x.remote.addr, x.inside.addr));
                    continue;
                }
                if let Some(m) = &fixed {
                    // A session of a static mapping has the mapping's
                    // outside endpoint (ICMP of a port forward's host is
                    // dynamic: forwards are TCP or UDP).
                    assert_eq!(
                        (x.outside.addr, x.outside.port),
                        static_outside(m, x.inside.port),
                        "static session {x:?} of {m:?}"
                    );
                } else {
                    assert!(
                        self.cfg.pool.iter().any(|p| p.contains(x.outside.addr)),
                        "outside {ext:?}"
                    );
                    assert_eq!(
                        map.owner(x.outside.port),
                        Some(id),
                        "port {} of shard {i}",
                        x.outside.port
                    );
                }
                assert_eq!(
                    subscriber_owner(x.inside.addr, SHARDS),
                    id,
                    "subscriber {ins:?} on shard {i}"
                );
                assert_eq!(x.tcp.is_some(), x.proto == 6, "TCP state of {x:?}");
                assert!(x.proto != 1 || x.remote.port == 0, "ICMP remote port {x:?}");
                assert!(
                    x.last_seen <= now && x.expires > x.last_seen,
                    "times of {x:?} at {now}"
                );
                if !cross {
                    continue;
                }
                self.keys.push(Key {
                    proto: x.proto,
                    a: x.outside.addr,
                    ap: x.outside.port,
                    b: x.inside.addr,
                    bp: x.inside.port,
                    fixed: fixed.is_some(),
                });
            }
            assert_eq!(
                count, n,
                "shard {i}: session_count() and sessions() disagree"
            );
            let c = sh.counters();
            assert_eq!(
                c.sessions_created
                    .wrapping_sub(c.sessions_expired)
                    .wrapping_sub(c.sessions_flushed),
                n as u64,
                "shard {i}: session counters"
            );
            if n > 0 {
                assert!(
                    sh.next_expiry().is_some(),
                    "shard {i}: {n} sessions and no next expiry"
                );
            }
            let dropped = c.events_dropped;
            while let Some(e) = sh.pop_event() {
                if self.cfg.event_queue as usize >= 512 {
                    self.ev_log[i].push_back(e);
                }
                match e {
                    Event::SessionCreated {
                        proto,
                        inside,
                        outside,
                        at,
                        ..
                    } => {
                        self.ev_live[i] += 1;
                        assert!(proto != 0 && at <= now);
                        assert!(self.cfg.inside.iter().any(|p| p.contains(inside.addr)));
                        if let Some(m) =
                            static_of(&self.cfg.statics, proto, inside.addr, inside.port)
                        {
                            assert_eq!(
                                (outside.addr, outside.port),
                                static_outside(&m, inside.port),
                                "{e:?}"
                            );
                        } else {
                            assert!(self.cfg.pool.iter().any(|p| p.contains(outside.addr)));
                            if !is_address_only(proto) {
                                assert_eq!(map.owner(outside.port), Some(id));
                            }
                        }
                    }
                    Event::SessionDeleted { at, .. } => {
                        self.ev_live[i] -= 1;
                        assert!(at <= now);
                    }
                    Event::MappingCreated { at, .. } | Event::MappingDeleted { at, .. } => {
                        assert!(at <= now);
                    }
                    Event::BlockAllocated {
                        external,
                        first_port,
                        last_port,
                        at,
                        ..
                    }
                    | Event::BlockReleased {
                        external,
                        first_port,
                        last_port,
                        at,
                        ..
                    } => {
                        assert!(at <= now);
                        assert!(self.cfg.pool.iter().any(|p| p.contains(external)));
                        let b = map.block_of(first_port);
                        assert!(
                            b.is_some() && map.first_port(b.unwrap_or(0)) == first_port,
                            "{e:?}"
                        );
                        assert_eq!(map.owner(first_port), Some(id), "{e:?}");
                        assert_eq!(
                            u32::from(last_port),
                            u32::from(first_port) + u32::from(self.cfg.block_size) - 1,
                            "{e:?}"
                        );
                    }
                    Event::Exhausted { subscriber, at, .. } => {
                        assert!(at <= now);
                        assert!(self.cfg.inside.iter().any(|p| p.contains(subscriber)));
                    }
                }
            }
            if dropped == 0 {
                assert_eq!(
                    self.ev_live[i], n as i64,
                    "shard {i}: events and sessions disagree"
                );
            }
        }

        // Address-only: one session per (protocol, outside, remote), so a
        // reply names one subscriber; one per (protocol, inside, remote).
        self.addr_only.sort_unstable();
        for w in self.addr_only.windows(2) {
            assert!(
                w[0].0 != w[1].0 || w[0].1 != w[1].1 || w[0].2 != w[1].2,
                "two address-only sessions on one (protocol, outside, remote): {w:?}"
            );
        }
        let mut by_inside: Vec<_> = self.addr_only.iter().map(|k| (k.0, k.3, k.2)).collect();
        by_inside.sort_unstable();
        for w in by_inside.windows(2) {
            assert_ne!(w[0], w[1], "one (protocol, inside, remote) twice");
        }
        if !cross {
            return;
        }
        // Endpoint-independent mapping: one external endpoint, one inside
        // endpoint, both ways. Then per subscriber: session limit, one
        // external address (paired pooling), block limit.
        self.by_ext.reset();
        self.by_inside.reset();
        self.by_sub.reset();
        self.subs.clear();
        for k in &self.keys {
            let ext = u64::from(k.proto) << 56 | u64::from(k.a) << 16 | u64::from(k.ap);
            let ins = u64::from(k.proto) << 56 | u64::from(k.b) << 16 | u64::from(k.bp);
            if let Some(other) = self.by_ext.insert(ext, ins) {
                assert_eq!(
                    other, ins,
                    "external endpoint shared by two inside endpoints: {k:?}"
                );
            }
            if let Some(other) = self.by_inside.insert(ins, ext) {
                assert_eq!(other, ext, "inside endpoint mapped twice: {k:?}");
            }
            let i = match self.by_sub.insert(u64::from(k.b), self.subs.len() as u64) {
                Some(i) => i as usize,
                None => {
                    self.subs.push(SubUse {
                        ext: None,
                        sessions: 0,
                        blocks: [u32::MAX; 3],
                        nblocks: 0,
                    });
                    self.subs.len() - 1
                }
            };
            let u = &mut self.subs[i];
            let sub = k.b.to_be_bytes();
            u.sessions += 1;
            assert!(
                u.sessions <= SESSIONS_PER_SUBSCRIBER,
                "subscriber {sub:?} holds {} sessions",
                u.sessions
            );
            if k.fixed {
                continue;
            }
            let ext = *u.ext.get_or_insert(k.a);
            assert_eq!(ext, k.a, "subscriber {sub:?} on two external addresses");
            let b = map.block_of(k.ap).unwrap_or(u32::MAX);
            if !u.blocks[..u.nblocks].contains(&b) {
                assert!(
                    u.nblocks < usize::from(BLOCKS_PER_SUBSCRIBER),
                    "subscriber {sub:?} holds more than {BLOCKS_PER_SUBSCRIBER} blocks"
                );
                u.blocks[u.nblocks] = b;
                u.nblocks += 1;
            }
        }
    }

    /// After every shard expired everything due: nothing due is left, and
    /// `next_expiry` is not later than any session's expiry.
    fn check_after_full_expire(&self) {
        let now = self.nat.now.secs();
        for (i, sh) in self.nat.shards.iter().enumerate() {
            let mut min = None::<u32>;
            for x in sh.sessions() {
                assert!(
                    x.expires > now,
                    "shard {i}: {x:?} survived a full expire at {now}"
                );
                min = Some(min.map_or(x.expires, |m| m.min(x.expires)));
            }
            if let Some(m) = min {
                let next = sh.next_expiry().map(Time::secs);
                assert!(
                    next.is_some_and(|t| t <= m),
                    "shard {i}: next_expiry {next:?} after a session's expiry {m}"
                );
            }
        }
    }
}

/// Runs one fuzz input (see the module documentation); panics when a
/// property of the core does not hold.
pub fn run(data: &[u8]) {
    let mut r = Reader { data, pos: 0 };
    let mut d = Driver::new(r.u8());
    for _ in 0..MAX_OPS {
        if !d.op(&mut r) {
            break;
        }
    }
    d.sync_twin();
}

/// [`run`], returning one line per frame sent: what it was, where it
/// arrived and the final verdict (for reading seeds and crashes).
pub fn trace(data: &[u8]) -> Vec<String> {
    let mut r = Reader { data, pos: 0 };
    let mut d = Driver::new(r.u8());
    d.trace = Some(Vec::new());
    for _ in 0..MAX_OPS {
        if !d.op(&mut r) {
            break;
        }
    }
    let mut t = d.trace.take().unwrap_or_default();
    for (i, s) in d.nat.shards.iter().enumerate() {
        t.push(format!(
            "shard {i}: {} sessions, counters {:?}",
            s.session_count(),
            s.counters()
        ));
    }
    t
}

// ---- packet views -----------------------------------------------------------

/// Feeds `data` to every packet view of `masq_core::wire` (at offset 0 and
/// past an Ethernet header), calls every getter and a few setters, and
/// checks what the views promise: lengths within the buffer, checksums
/// that verify once filled, incremental updates that match a recompute.
pub fn views(data: &[u8]) {
    if let Ok(e) = EthernetFrame::new_checked(data) {
        let _ = (e.dst(), e.src(), e.dst().is_group(), e.ethertype());
        assert_eq!(e.payload().len(), data.len() - 14);
    }
    let mut buf = data.to_vec();
    for at in [0usize, 14] {
        if at > data.len() {
            continue;
        }
        ip_views(&data[at..]);
        ip_setters(&mut buf[at..]);
        l4_views(&data[at..]);
    }
    // Incremental updates against a full recompute, on a header built from
    // the input.
    if data.len() >= 30 {
        let mut h = [0u8; 20];
        h.copy_from_slice(&data[..20]);
        h[0] = 0x45;
        let c = checksum::checksum(&{
            let mut z = h;
            z[10] = 0;
            z[11] = 0;
            z
        });
        h[10..12].copy_from_slice(&c.to_be_bytes());
        let old = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        let new = u32::from_be_bytes([data[20], data[21], data[22], data[23]]);
        let old_p = be16(&h, 4);
        let new_p = be16(data, 24);
        h[12..16].copy_from_slice(&new.to_be_bytes());
        h[4..6].copy_from_slice(&new_p.to_be_bytes());
        let d = Delta::u32(old, new).plus(Delta::u16(old_p, new_p));
        let ttl = h[8];
        let d = if ttl > 0 {
            h[8] = ttl - 1;
            d.plus(Delta::TTL_DECREMENT)
        } else {
            d
        };
        let inc = checksum::apply(c, d);
        h[10..12].copy_from_slice(&inc.to_be_bytes());
        assert_eq!(
            fold(sum(0, &h)),
            0xffff,
            "incremental update does not verify: {}",
            hex(&h)
        );
        let back = checksum::apply(inc, d.negate());
        assert!(
            back == c || (back | c) == 0xffff && back & c == 0,
            "negate: {c:#x} -> {inc:#x} -> {back:#x}"
        );
        let u = checksum::apply_udp(be16(data, 26), d);
        assert!(be16(data, 26) == 0 || u != 0, "apply_udp gave 0");
        if be16(data, 26) == 0 {
            assert_eq!(u, 0);
        }
    }
    let _ = checksum::checksum(data);
}

fn ip_views(b: &[u8]) {
    if let Ok(p) = Ipv4Packet::new_checked(b) {
        let hl = p.header_len();
        assert!((20..=60).contains(&hl) && hl <= b.len());
        assert!(usize::from(p.total_len()) <= b.len());
        assert_eq!(p.payload().len(), usize::from(p.total_len()) - hl);
        assert_eq!(p.options().len(), hl - 20);
        assert_eq!(p.header().len(), hl);
        let _ = (
            p.ident(),
            p.dont_frag(),
            p.more_frags(),
            p.frag_offset(),
            p.is_fragment(),
        );
        let _ = (
            p.ttl(),
            p.protocol(),
            p.checksum(),
            p.src(),
            p.dst(),
            p.verify_checksum(),
        );
        assert!(Ipv4Packet::new_header_checked(b).is_ok());
    }
    if let Ok(p) = Ipv4Packet::new_header_checked(b) {
        let hl = p.header_len();
        assert!((20..=60).contains(&hl) && hl <= b.len());
        let pl = p.payload();
        assert!(pl.len() <= b.len() - hl);
        let _ = (
            p.total_len(),
            p.ident(),
            p.dont_frag(),
            p.more_frags(),
            p.frag_offset(),
            p.is_fragment(),
        );
        let _ = (
            p.ttl(),
            p.protocol(),
            p.checksum(),
            p.src(),
            p.dst(),
            p.verify_checksum(),
            p.options(),
        );
        let _ = p.header();
    }
}

fn ip_setters(b: &mut [u8]) {
    if let Ok(mut p) = Ipv4Packet::new_header_checked(&mut *b) {
        let (s, d, t) = (p.dst(), p.src(), p.ttl().wrapping_sub(1));
        p.set_src(s);
        p.set_dst(d);
        p.set_ttl(t);
        p.fill_checksum();
        assert!(p.verify_checksum(), "filled checksum does not verify");
        let _ = p.payload_mut().len();
        p.set_checksum(0);
    }
}

fn l4_views(b: &[u8]) {
    let seg = match Ipv4Packet::new_checked(b) {
        Ok(p) => &b[p.header_len()..usize::from(p.total_len())],
        Err(_) => b,
    };
    if let Ok(t) = TcpPacket::new_checked(seg) {
        assert!((20..=60).contains(&t.header_len()) && t.header_len() <= seg.len());
        let _ = (t.src_port(), t.dst_port(), t.flags(), t.checksum());
        let mut v = seg.to_vec();
        if let Ok(mut t) = TcpPacket::new_checked(&mut v[..]) {
            t.set_src_port(1);
            t.set_dst_port(2);
            t.set_checksum(3);
        }
    }
    if let Ok(u) = UdpPacket::new_checked(seg) {
        let _ = (
            u.src_port(),
            u.dst_port(),
            u.len(),
            u.is_empty(),
            u.checksum(),
        );
    }
    if let Ok(u) = UdpPacket::new_checked_exact(seg) {
        assert!(usize::from(u.len()) >= 8 && usize::from(u.len()) <= seg.len());
        let mut v = seg.to_vec();
        if let Ok(mut u) = UdpPacket::new_checked(&mut v[..]) {
            u.set_src_port(1);
            u.set_dst_port(2);
            u.set_checksum(3);
        }
    }
    if let Ok(i) = IcmpPacket::new_checked(seg) {
        let _ = (
            i.msg_type(),
            i.code(),
            i.checksum(),
            i.ident(),
            i.seq(),
            i.verify_checksum(),
            icmp::kind(i.msg_type()),
        );
        assert_eq!(i.body().len(), seg.len() - 8);
        let mut v = seg.to_vec();
        if let Ok(mut i) = IcmpPacket::new_checked(&mut v[..]) {
            i.set_msg_type(8);
            i.set_code(0);
            i.set_ident(7);
            i.fill_checksum();
            assert!(i.verify_checksum(), "filled ICMP checksum does not verify");
            let _ = i.body_mut().len();
        }
        if icmp::kind(seg[0]) == icmp::Kind::Error {
            ip_views(&seg[8..]);
        }
    }
}
