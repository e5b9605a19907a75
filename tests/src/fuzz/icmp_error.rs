//! The `icmp_error` fuzz target: ICMP errors about live sessions.
//!
//! [`run`] builds the entry target's two-shard NAT ([`config`]: its
//! configuration byte plus two port forwards and a one-to-one mapping),
//! opens sessions of every kind through the same driver and checks (UDP,
//! TCP and ICMP echo on both shards, a hairpinned pair, port-forwarded and
//! one-to-one flows: [`setup`]), then reads the rest of the input as a
//! sequence of operations. Each is an operation of the entry target (after
//! a byte 0xff) or an ICMP error about one of the live sessions, built from
//! the session's own tuple and then mutated:
//!
//! ```text
//!   s   session: index into the live sessions, modulo their number
//!   f   bit 0     0: from the WAN about the packet the session sent out
//!                 (embedded: outside endpoint to remote endpoint);
//!                 1: from the LAN about a packet the session let in
//!                 (embedded: remote endpoint to inside endpoint)
//!       bit 1     the shard the error arrives at
//!       bit 2     mutations follow
//!       bits 3-5  ICMP type: 3, 3, 11, 12, 3, 11; 6 and 7: a type byte follows
//!       bit 6     the whole embedded packet (else its header and 8 bytes)
//!       bit 7     a code byte follows (else 3 for type 3, 0 for the others)
//!   [type] [code] [mutations: a count byte n, then n % 8 + 1 pairs
//!                  (kind, value), kinds in `mutation`]
//! ```
//!
//! Besides every check of the entry target (which include the ICMP error
//! oracle `Driver::check_translated_error` and the frame accounting), each
//! error whose mutations leave it valid must be translated to the
//! session's inside host (from the WAN) or out of its external address
//! (from the LAN), and one whose embedded remote endpoint was changed to one
//! no session has must be dropped as `icmp_error_no_session`.

use masq_core::wire::icmp;
use masq_core::{Config, DropReason, SessionInfo, Side, StaticMapping, Verdict};

use super::{be16, hex, Driver, Reader, MAX_OPS, PAYLOAD};
use crate::check::{fold, ones_sum, sum};
use crate::frames::{self, From, GW_MAC, HOST_MAC, LAN_MAC, WAN_MAC};

/// Mutation kinds (the first byte of a mutation pair; the second is its
/// value `v`).
pub mod mutation {
    /// Cut the embedded packet to `v` bytes (its IP header included).
    pub const TRUNC: u8 = 0;
    /// Embedded IHL: `v & 0x10` 0: insert `v & 7` words of options (NOP,
    /// or router alert when `v & 8`); 1: set the IHL field to `v & 15`
    /// without inserting anything.
    pub const EMB_IHL: u8 = 1;
    /// Embedded total length: `v >> 6` 0: `v & 63` short, 1: `v & 63`
    /// long, 2: `v & 63`, 3: 65535 - `v & 63`.
    pub const EMB_TOTLEN: u8 = 2;
    /// Embedded checksum wrong: `v & 0x80` 0: the IP header's, 1: the
    /// transport checksum (low byte XOR `v | 1`).
    pub const EMB_CSUM: u8 = 3;
    /// Embedded protocol set to `v`.
    pub const EMB_PROTO: u8 = 4;
    /// Embedded tuple changed: `v & 3` 0 the session-side address, 1 the
    /// session-side port (echo id), 2 the remote address, 3 the remote
    /// port; its low byte XOR `v >> 2 | 1`.
    pub const EMB_TUPLE: u8 = 5;
    /// Outer TTL set to `v`.
    pub const OUT_TTL: u8 = 6;
    /// Outer flags and fragment offset: bit 0 MF, bit 1 DF, bits 2-7 offset.
    pub const OUT_FRAG: u8 = 7;
    /// Outer IP options: `v & 7` + 1 words (NOP, or other bytes when
    /// `v & 0x80`).
    pub const OUT_OPTS: u8 = 8;
    /// Outer IP header checksum wrong (after it was filled).
    pub const OUT_CSUM: u8 = 9;
    /// ICMP checksum wrong (after it was filled).
    pub const ICMP_CSUM: u8 = 10;
    /// The embedded packet becomes an ICMP message (type from `v & 7`: 3,
    /// 11, 12, 3, 0, 8, 4, 5; code `v >> 3 & 15`) back to its source that
    /// carries it (header and 8 bytes, or all of it when `v & 0x80`): an
    /// error about an error when the type is one.
    pub const NEST: u8 = 11;
    /// Outer source: `v & 7` picks the usual one, the session's remote
    /// address, its inside address, a pool address, the one-to-one outside
    /// address, 0.0.0.0, 255.255.255.255, 198.51.100.`v`.
    pub const OUT_SRC: u8 = 12;
    /// Outer destination: `v & 7` picks the usual one, the session's
    /// outside, inside and remote address, a pool address, the one-to-one
    /// outside address, 255.255.255.255, 10.0.0.`v`.
    pub const OUT_DST: u8 = 13;
    /// One byte of the ICMP message (at `v` modulo its length) changed.
    pub const BYTE: u8 = 14;
    /// `v & 31` + 1 bytes of Ethernet padding after the IP packet.
    pub const PAD: u8 = 15;
    /// The embedded ICMP type set to `v` (when there is one).
    pub const EMB_TYPE: u8 = 16;
    /// ICMP bytes 4-7 (unused, pointer, next-hop MTU) set from `v`.
    pub const ICMP_WORD: u8 = 17;
    /// `8 * v` bytes appended to the embedded packet (its total length and
    /// header checksum follow): errors larger than the egress MTU.
    pub const GROW: u8 = 18;
    /// Number of kinds (kinds are taken modulo this).
    pub const COUNT: u8 = 19;
}

/// Inside host of the port forwards.
pub const SERVER: [u8; 4] = [192, 168, 3, 10];
/// Inside host of the one-to-one mapping.
pub const DMZ: [u8; 4] = [192, 168, 3, 20];
/// Outside address of the one-to-one mapping (not a pool address).
pub const ONE_TO_ONE: [u8; 4] = [203, 0, 113, 9];
/// Outside address of the TCP port forward.
pub const FWD_TCP: [u8; 4] = [203, 0, 113, 1];
/// Outside port of the TCP port forward (a NAT port only with 64 blocks
/// of 64 ports).
pub const FWD_TCP_PORT: u16 = 2222;
/// Outside address of the UDP port forward, whose port is `port_min + 1`
/// (a block kept for it).
pub const FWD_UDP: [u8; 4] = [203, 0, 113, 2];
/// The router that sends errors from the WAN.
pub const ROUTER: [u8; 4] = [198, 51, 100, 254];

const R1: [u8; 4] = [198, 51, 100, 1];
const R2: [u8; 4] = [198, 51, 100, 2];
const R3: [u8; 4] = [8, 8, 8, 8];
const A: [u8; 4] = [192, 168, 0, 1];
const B: [u8; 4] = [192, 168, 0, 2];
const C: [u8; 4] = [100, 64, 0, 1];
const D: [u8; 4] = [192, 168, 1, 7];

fn u(a: [u8; 4]) -> u32 {
    u32::from_be_bytes(a)
}

/// LAN MTU of the target's configuration (the smallest allowed).
pub const LAN_MTU: u16 = 576;
/// WAN MTU of the target's configuration.
pub const WAN_MTU: u16 = 1000;

/// The entry target's configuration of byte `b`, with a TCP and a UDP port
/// forward to [`SERVER`], a one-to-one mapping of [`DMZ`], and MTUs an
/// error can exceed ([`LAN_MTU`], [`WAN_MTU`]).
pub fn config(b: u8) -> Config {
    let mut c = super::config(b);
    c.lan_mtu = LAN_MTU;
    c.wan_mtu = WAN_MTU;
    c.statics = vec![
        StaticMapping {
            proto: Some(6),
            inside: u(SERVER),
            inside_port: 22,
            outside: u(FWD_TCP),
            outside_port: FWD_TCP_PORT,
        },
        StaticMapping {
            proto: Some(17),
            inside: u(SERVER),
            inside_port: 5060,
            outside: u(FWD_UDP),
            outside_port: c.port_min + 1,
        },
        StaticMapping {
            proto: None,
            inside: u(DMZ),
            inside_port: 0,
            outside: u(ONE_TO_ONE),
            outside_port: 0,
        },
    ];
    c
}

/// The IPv4 addresses of a frame: (source, destination).
fn addrs(f: &[u8]) -> ([u8; 4], [u8; 4]) {
    ([f[26], f[27], f[28], f[29]], [f[30], f[31], f[32], f[33]])
}

/// Source and destination port (echo identifier twice) of a frame.
fn ports(f: &[u8]) -> (u16, u16) {
    let l4 = 14 + usize::from(f[14] & 0x0f) * 4;
    match f[23] {
        1 => (be16(f, l4 + 4), be16(f, l4 + 4)),
        _ => (be16(f, l4), be16(f, l4 + 2)),
    }
}

impl Driver {
    /// Sends a LAN frame and, when it went out, the remote's answer built
    /// from what left (`answer` gets the translated frame and returns the
    /// reply, if any).
    fn exchange(
        &mut self,
        mut f: Vec<u8>,
        first: u16,
        answer: impl Fn(&[u8]) -> Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        if self.inject(&mut f, Side::Lan, first) != Verdict::ToWan {
            return None;
        }
        if let Some(mut r) = answer(&f) {
            self.inject(&mut r, Side::Wan, first ^ 1);
        }
        Some(f)
    }
}

/// Opens the sessions the errors are about (see the module
/// documentation). Which of them exist depends on the configuration
/// (filtering, limits); the replay tests check that every kind does for
/// the seeds' configurations.
fn setup(d: &mut Driver) {
    let udp_reply = |o: &[u8]| {
        let ((s, dst), (sp, dp)) = (addrs(o), ports(o));
        Some(frames::udp(From::Wan, dst, dp, s, sp, b"answer"))
    };
    let tcp_reply = |o: &[u8]| {
        let ((s, dst), (sp, dp)) = (addrs(o), ports(o));
        Some(frames::tcp(From::Wan, dst, dp, s, sp, frames::SYN_ACK, b""))
    };
    let echo_reply = |o: &[u8]| {
        let ((s, dst), (id, _)) = (addrs(o), ports(o));
        Some(frames::echo(From::Wan, dst, s, id, 1, false))
    };
    let lan = From::Lan;
    d.exchange(frames::udp(lan, A, 40000, R1, 53, b"q"), 0, udp_reply);
    d.exchange(
        frames::tcp(lan, B, 40001, R2, 80, frames::SYN, b""),
        1,
        tcp_reply,
    );
    d.inject(
        &mut frames::tcp(lan, B, 40001, R2, 80, frames::ACK, b""),
        Side::Lan,
        0,
    );
    d.exchange(frames::echo(lan, C, R3, 7, 1, true), 0, echo_reply);
    d.exchange(frames::udp(lan, D, 5000, R1, 53, b"q"), 1, udp_reply);
    d.exchange(
        frames::tcp(lan, D, 5001, R2, 443, frames::SYN, b""),
        0,
        tcp_reply,
    );
    // A hairpinned pair: each sends to the other's external endpoint, so
    // one of the two gets through whatever the filtering.
    let ea = d.exchange(frames::udp(lan, A, 40002, R1, 53, b"q"), 0, |_| None);
    let ed = d.exchange(frames::udp(lan, D, 5002, R2, 53, b"q"), 1, |_| None);
    if let (Some(ea), Some(ed)) = (ea, ed) {
        let ((ea, _), (pa, _)) = (addrs(&ea), ports(&ea));
        let ((ed, _), (pd, _)) = (addrs(&ed), ports(&ed));
        d.inject(&mut frames::udp(lan, A, 40002, ed, pd, b"h"), Side::Lan, 0);
        d.inject(&mut frames::udp(lan, D, 5002, ea, pa, b"h"), Side::Lan, 1);
    }
    // The port forwards: the server speaks first (its MAC is learnt), then
    // a client comes in.
    d.exchange(frames::udp(lan, SERVER, 5060, R1, 5060, b"r"), 0, udp_reply);
    let syn = frames::tcp(
        From::Wan,
        R3,
        50000,
        FWD_TCP,
        FWD_TCP_PORT,
        frames::SYN,
        b"",
    );
    let mut f = syn;
    if d.inject(&mut f, Side::Wan, 1) == Verdict::ToLan {
        let mut sa = frames::tcp(lan, SERVER, 22, R3, 50000, frames::SYN_ACK, b"");
        d.inject(&mut sa, Side::Lan, 0);
    }
    // The one-to-one host: UDP and a ping out, a TCP client in.
    d.exchange(frames::udp(lan, DMZ, 6000, R2, 53, b"q"), 1, udp_reply);
    d.exchange(frames::echo(lan, DMZ, R1, 9, 1, true), 0, echo_reply);
    let mut syn = frames::tcp(From::Wan, R1, 40000, ONE_TO_ONE, 22, frames::SYN, b"");
    d.inject(&mut syn, Side::Wan, 0);
}

/// Every live session, shard by shard in table order.
fn live(d: &Driver) -> Vec<SessionInfo> {
    d.nat.shards.iter().flat_map(|s| s.sessions()).collect()
}

/// The IP packet (no Ethernet header) an error about session `x` is about:
/// from the WAN, the packet the session sent out; from the LAN, one it let
/// in.
fn embedded_packet(x: &SessionInfo, from_lan: bool) -> Vec<u8> {
    let (s, d) = if from_lan {
        (x.remote, x.inside)
    } else {
        (x.outside, x.remote)
    };
    let (sa, da) = (s.addr.to_be_bytes(), d.addr.to_be_bytes());
    let f = match x.proto {
        17 => frames::udp(From::Wan, sa, s.port, da, d.port, &PAYLOAD[..16]),
        6 => frames::tcp(
            From::Wan,
            sa,
            s.port,
            da,
            d.port,
            frames::ACK,
            &PAYLOAD[..12],
        ),
        // The echo request the host sent, or the reply it received.
        _ if from_lan => frames::echo(From::Wan, sa, da, d.port, 1, false),
        _ => frames::echo(From::Wan, sa, da, s.port, 1, true),
    };
    f[14..].to_vec()
}

fn ihl(p: &[u8]) -> usize {
    p.first().map_or(0, |b| usize::from(b & 0x0f) * 4)
}

/// Fills the IPv4 header checksum of packet `p` when its header is whole.
fn fill_ip_checksum(p: &mut [u8]) {
    let hl = ihl(p);
    if hl < 20 || hl > p.len() {
        return;
    }
    p[10] = 0;
    p[11] = 0;
    let c = !fold(sum(0, &p[..hl]));
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// What an error must come to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Only the general checks.
    Any,
    /// Exactly this verdict.
    Verdict(Verdict),
}

/// What the generator knows about one error while building it.
struct Build {
    /// Nothing was done that may make the NAT refuse it.
    benign: bool,
    /// The single reason to refuse it, when there is one.
    only: Option<DropReason>,
    /// The embedded remote endpoint was changed (field 2 or 3).
    remote_changed: bool,
    /// Larger than the egress MTU without DF: when translated it is cut
    /// into fragments.
    cut: bool,
}

impl Build {
    /// One more thing that decides the verdict on its own.
    fn refuse(&mut self, r: DropReason) {
        if self.benign && self.only.is_none() {
            self.only = Some(r);
        } else {
            self.benign = false;
            self.only = None;
        }
    }
}

/// Reads one error operation (after its session byte) and builds the
/// frame; returns it with its side, arrival shard and expectation.
fn build_error(
    r: &mut Reader<'_>,
    x: &SessionInfo,
    sessions: &[SessionInfo],
) -> (Vec<u8>, Side, u16, Expect) {
    let fl = r.u8();
    let from_lan = fl & 1 != 0;
    let first = u16::from(fl >> 1 & 1);
    let ty = match fl >> 3 & 7 {
        t @ 0..=5 => [3, 3, 11, 12, 3, 11][usize::from(t)],
        _ => r.u8(),
    };
    let code = if fl & 0x80 != 0 {
        r.u8()
    } else if ty == 3 {
        3
    } else {
        0
    };
    let mut muts: Vec<(u8, u8)> = Vec::new();
    if fl & 4 != 0 {
        let n = r.u8() % 8 + 1;
        for _ in 0..n {
            muts.push((r.u8() % mutation::COUNT, r.u8()));
        }
    }
    let mut b = Build {
        benign: icmp::kind(ty) == icmp::Kind::Error,
        only: None,
        remote_changed: false,
        cut: false,
    };
    let mut emb = embedded_packet(x, from_lan);
    let mut keep = if fl & 0x40 != 0 {
        emb.len()
    } else {
        ihl(&emb) + 8
    };
    let mut trunc = None;
    for &(m, v) in &muts {
        mutate_embedded(&mut emb, m, v, from_lan, &mut b, &mut trunc);
    }
    if fl & 0x40 != 0 {
        keep = emb.len();
    } else if muts
        .iter()
        .any(|&(m, _)| m == mutation::EMB_IHL || m == mutation::NEST)
    {
        keep = ihl(&emb) + 8;
    }
    if let Some(t) = trunc {
        if t < ihl(&emb) + 8 || ihl(&emb) < 20 {
            b.benign = false;
        }
        keep = t;
    }
    emb.truncate(keep.min(emb.len()));

    // The outer packet.
    let (dflt_src, dflt_dst) = if from_lan {
        (x.inside.addr.to_be_bytes(), x.remote.addr.to_be_bytes())
    } else {
        (ROUTER, x.outside.addr.to_be_bytes())
    };
    let (mut src, mut dst) = (dflt_src, dflt_dst);
    for &(m, v) in &muts {
        let pool = [203, 0, 113, v >> 3 & 3];
        match m {
            mutation::OUT_SRC => {
                src = [
                    dflt_src,
                    x.remote.addr.to_be_bytes(),
                    x.inside.addr.to_be_bytes(),
                    pool,
                    ONE_TO_ONE,
                    [0; 4],
                    [255; 4],
                    [198, 51, 100, v],
                ][usize::from(v & 7)];
            }
            mutation::OUT_DST => {
                dst = [
                    dflt_dst,
                    x.outside.addr.to_be_bytes(),
                    x.inside.addr.to_be_bytes(),
                    x.remote.addr.to_be_bytes(),
                    pool,
                    ONE_TO_ONE,
                    [255; 4],
                    [10, 0, 0, v],
                ][usize::from(v & 7)];
            }
            _ => {}
        }
    }
    if (src, dst) != (dflt_src, dflt_dst) {
        b.benign = false;
    }
    let (smac, dmac) = if from_lan {
        (HOST_MAC, LAN_MAC)
    } else {
        (GW_MAC, WAN_MAC)
    };
    let pb = etherparse::PacketBuilder::ethernet2(smac, dmac)
        .ipv4(src, dst, 64)
        .icmpv4_raw(ty, code, [0; 4]);
    let mut f = Vec::with_capacity(pb.size(emb.len()) + 64);
    pb.write(&mut f, &emb).expect("build the error");
    for &(m, v) in &muts {
        mutate_outer(&mut f, m, v, &mut b);
    }
    frames::refill_ip_checksum(&mut f);
    fill_icmp_checksum(&mut f);
    let l4 = 14 + ihl(&f[14..]);
    for &(m, v) in &muts {
        match m {
            mutation::OUT_CSUM => f[25] ^= v | 1,
            mutation::ICMP_CSUM => f[l4 + 3] ^= v | 1,
            _ => {}
        }
    }
    // What refuses the error on its own, as the frame ended up (two
    // mutations may undo each other).
    let end = 14 + usize::from(be16(&f, 16));
    if ones_sum(&f[14..l4]) != 0xffff {
        b.refuse(DropReason::BadIpChecksum);
    }
    if ones_sum(&f[l4..end]) != 0xffff {
        b.refuse(DropReason::BadIcmpChecksum);
    }
    if f[22] <= 1 {
        b.refuse(DropReason::TtlExpired);
    }
    let mtu = if from_lan { WAN_MTU } else { LAN_MTU };
    if end - 14 > usize::from(mtu) {
        if be16(&f, 20) & 0x4000 != 0 {
            b.refuse(DropReason::MtuExceeded);
        } else {
            b.cut = true;
        }
    }

    let side = if from_lan { Side::Lan } else { Side::Wan };
    let expect = expectation(x, from_lan, &b, &emb, sessions);
    (f, side, first, expect)
}

/// Applies an embedded-packet mutation (the others wait).
fn mutate_embedded(
    emb: &mut Vec<u8>,
    m: u8,
    v: u8,
    from_lan: bool,
    b: &mut Build,
    trunc: &mut Option<usize>,
) {
    let hl = ihl(emb);
    match m {
        mutation::TRUNC => *trunc = Some(usize::from(v)),
        mutation::EMB_IHL if v & 0x10 == 0 => {
            let words = usize::from(v & 7);
            if words > 0 && hl >= 20 && hl + 4 * words <= 60 && hl <= emb.len() {
                let opt: [u8; 4] = if v & 8 != 0 { [0x94, 4, 0, 0] } else { [1; 4] };
                for _ in 0..words {
                    emb.splice(hl..hl, opt);
                }
                emb[0] = 0x40 | ((hl + 4 * words) / 4) as u8;
                let tl = be16(emb, 2).wrapping_add(4 * words as u16);
                emb[2..4].copy_from_slice(&tl.to_be_bytes());
                fill_ip_checksum(emb);
            }
        }
        mutation::EMB_IHL => {
            emb[0] = 0x40 | (v & 15);
            if usize::from(v & 15) * 4 != hl {
                b.benign = false;
            }
            fill_ip_checksum(emb);
        }
        mutation::EMB_TOTLEN => {
            let tl = be16(emb, 2);
            let k = u16::from(v & 63);
            let tl = match v >> 6 {
                0 => tl.wrapping_sub(k),
                1 => tl.wrapping_add(k),
                2 => k,
                _ => 0xffff - k,
            };
            emb[2..4].copy_from_slice(&tl.to_be_bytes());
            fill_ip_checksum(emb);
        }
        mutation::EMB_CSUM if v & 0x80 == 0 => emb[11] ^= v | 1,
        mutation::EMB_CSUM => {
            let at = match emb[9] {
                6 => hl + 17,
                17 => hl + 7,
                _ => hl + 3,
            };
            if let Some(c) = emb.get_mut(at) {
                *c ^= v | 1;
            }
        }
        mutation::EMB_PROTO => {
            if emb[9] != v {
                b.benign = false;
            }
            emb[9] = v;
            fill_ip_checksum(emb);
        }
        mutation::EMB_TUPLE => {
            // Session side: the source from the WAN, the destination from
            // the LAN.
            let session_side = v & 2 == 0;
            let src = session_side != from_lan;
            let x = v >> 2 | 1;
            let icmp = emb[9] == 1;
            if v & 1 == 0 {
                emb[if src { 15 } else { 19 }] ^= x;
            } else if icmp && session_side {
                if let Some(p) = emb.get_mut(hl + 5) {
                    *p ^= x;
                }
            } else if !icmp {
                if let Some(p) = emb.get_mut(hl + if src { 1 } else { 3 }) {
                    *p ^= x;
                }
            } else {
                // An echo has no remote port: nothing changed.
                return;
            }
            fill_ip_checksum(emb);
            if session_side {
                b.benign = false;
            } else {
                b.remote_changed = true;
            }
        }
        mutation::GROW if hl >= 20 && emb.len() >= 20 => {
            emb.extend(std::iter::repeat_n(v ^ 0x3c, 8 * usize::from(v)));
            let tl = be16(emb, 2).wrapping_add(8 * u16::from(v));
            emb[2..4].copy_from_slice(&tl.to_be_bytes());
            fill_ip_checksum(emb);
        }
        mutation::EMB_TYPE if emb[9] == 1 && hl < emb.len() => {
            if emb[hl] != v {
                b.benign = false;
            }
            emb[hl] = v;
        }
        mutation::NEST => {
            let ty = [3, 11, 12, 3, 0, 8, 4, 5][usize::from(v & 7)];
            let keep = if v & 0x80 != 0 { emb.len() } else { 8 };
            let (s, d) = (
                [emb[12], emb[13], emb[14], emb[15]],
                [emb[16], emb[17], emb[18], emb[19]],
            );
            let mut eth = vec![0u8; 14];
            eth.extend_from_slice(emb);
            let n = frames::icmp_error(From::Wan, d, s, ty, v >> 3 & 15, &eth, keep);
            *emb = n[14..].to_vec();
            b.benign = false;
        }
        _ => {}
    }
}

/// Applies an outer mutation that comes before the checksums are filled.
fn mutate_outer(f: &mut Vec<u8>, m: u8, v: u8, b: &mut Build) {
    let l4 = 14 + ihl(&f[14..]);
    let end = 14 + usize::from(be16(f, 16));
    match m {
        mutation::OUT_TTL => f[22] = v,
        mutation::OUT_FRAG => {
            let field = u16::from(v & 1) << 13 | u16::from(v & 2) << 13 | u16::from(v >> 2);
            f[20..22].copy_from_slice(&field.to_be_bytes());
            if field & 0x3fff != 0 {
                b.benign = false;
            }
        }
        mutation::OUT_OPTS => {
            let words = usize::from(v & 7) + 1;
            let hl = l4 - 14;
            if hl + 4 * words <= 60 {
                let opt: [u8; 4] = if v & 0x80 != 0 {
                    [v, 4, v ^ 0x5a, 0]
                } else {
                    [1; 4]
                };
                for _ in 0..words {
                    f.splice(l4..l4, opt);
                }
                f[14] = 0x40 | ((hl + 4 * words) / 4) as u8;
                let tl = be16(f, 16) + 4 * words as u16;
                f[16..18].copy_from_slice(&tl.to_be_bytes());
                if v & 0x80 != 0 {
                    b.benign = false;
                }
            }
        }
        mutation::BYTE => {
            let at = l4 + usize::from(v) % (end - l4);
            f[at] = v.rotate_left(3) ^ 0xa5;
            b.benign = false;
        }
        mutation::PAD => f.extend(std::iter::repeat_n(v, usize::from(v & 31) + 1)),
        mutation::ICMP_WORD => f[l4 + 4..l4 + 8].copy_from_slice(&[v, v ^ 1, v ^ 2, v ^ 3]),
        _ => {}
    }
}

/// Fills the ICMP checksum of an error frame over its whole message.
fn fill_icmp_checksum(f: &mut [u8]) {
    let l4 = 14 + ihl(&f[14..]);
    let end = 14 + usize::from(be16(f, 16));
    f[l4 + 2] = 0;
    f[l4 + 3] = 0;
    let c = !fold(sum(0, &f[l4..end]));
    f[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes());
}

/// The embedded tuple of a built error as the NAT reads it: (protocol,
/// src, sport, dst, dport), the echo identifier standing for both ports,
/// 0 for both of an address-only protocol.
fn tuple(emb: &[u8]) -> Option<(u8, u32, u16, u32, u16)> {
    let hl = ihl(emb);
    if emb.len() < hl + 8 || hl < 20 {
        return None;
    }
    let a = |at: usize| u32::from_be_bytes([emb[at], emb[at + 1], emb[at + 2], emb[at + 3]]);
    let (sp, dp) = sp_dp(emb, emb[9], hl);
    Some((emb[9], a(12), sp, a(16), dp))
}

fn expectation(
    x: &SessionInfo,
    from_lan: bool,
    b: &Build,
    emb: &[u8],
    sessions: &[SessionInfo],
) -> Expect {
    // An error from the LAN goes to the session's remote address: one the
    // NAT never sends to (this network, loopback, multicast, reserved) is
    // for the box or refused, whatever the session (sessions from such
    // sources can be opened inbound through a static mapping).
    let r = x.remote.addr;
    let ordinary = r >> 24 != 0 && r >> 24 != 127 && r >> 28 < 0xe;
    if !b.benign || from_lan && !ordinary {
        return Expect::Any;
    }
    if let Some(r) = b.only {
        return Expect::Verdict(Verdict::Drop(r));
    }
    let Some((proto, s, sp, d, dp)) = tuple(emb) else {
        return Expect::Any;
    };
    // Which session the NAT will look up: from the WAN by outside and
    // remote endpoint, from the LAN by inside and remote endpoint.
    let rp = |p: u16| if proto == 1 { 0 } else { p };
    let hit = sessions.iter().any(|y| {
        y.proto == proto
            && if from_lan {
                (y.inside.addr, y.inside.port, y.remote.addr, y.remote.port) == (d, dp, s, rp(sp))
            } else {
                (y.outside.addr, y.outside.port, y.remote.addr, y.remote.port) == (s, sp, d, rp(dp))
            }
    });
    if b.remote_changed && hit {
        return Expect::Any;
    }
    // Errors from the LAN about an echo reply it received are not
    // translated (RFC 5508 leaves them to the host; masq drops them).
    if !hit || from_lan && x.proto == 1 {
        return Expect::Verdict(Verdict::Drop(DropReason::IcmpErrorNoSession));
    }
    Expect::Verdict(if b.cut {
        Verdict::Fragmented
    } else if from_lan {
        Verdict::ToWan
    } else {
        Verdict::ToLan
    })
}

/// Runs one input of the `icmp_error` target (see the module
/// documentation); panics when a property does not hold.
pub fn run(data: &[u8]) {
    let mut r = Reader { data, pos: 0 };
    let mut d = Driver::with_config(config(r.u8()));
    setup(&mut d);
    for _ in 0..MAX_OPS {
        if !op(&mut d, &mut r) {
            break;
        }
    }
    d.sync_twin();
}

/// [`run`], returning one line per error sent and the sessions it chose
/// from (for reading seeds and crashes).
pub fn trace(data: &[u8]) -> Vec<String> {
    let mut r = Reader { data, pos: 0 };
    let mut d = Driver::with_config(config(r.u8()));
    setup(&mut d);
    let mut t: Vec<String> = live(&d)
        .iter()
        .enumerate()
        .map(|(i, x)| format!("session {i}: {x:?}"))
        .collect();
    d.trace = Some(Vec::new());
    for _ in 0..MAX_OPS {
        if !op(&mut d, &mut r) {
            break;
        }
    }
    t.extend(d.trace.take().unwrap_or_default());
    t
}

fn op(d: &mut Driver, r: &mut Reader<'_>) -> bool {
    if r.done() {
        return false;
    }
    let s = r.u8();
    if s == 0xff {
        return d.op(r);
    }
    let sessions = live(d);
    if sessions.is_empty() {
        r.u8();
        return true;
    }
    let x = sessions[usize::from(s) % sessions.len()];
    let (mut f, side, first, expect) = build_error(r, &x, &sessions);
    if let Some(t) = &mut d.trace {
        t.push(format!("error about {x:?}, expecting {expect:?}"));
    }
    let orig = f.clone();
    let v = d.inject(&mut f, side, first);
    if let Expect::Verdict(want) = expect {
        assert_eq!(
            v,
            want,
            "ICMP error about {x:?} from {side:?}: {}",
            hex(&orig)
        );
    }
    true
}

impl Driver {
    /// A forwarded ICMP error (RFC 5508): the outer header and ICMP
    /// checksums verify; the embedded packet matches a live session (by
    /// outside and remote endpoint from the WAN, by inside and remote
    /// endpoint from the LAN), to whose inside host it goes with the
    /// embedded source restored to the inside endpoint (from the WAN), or
    /// from whose external address it leaves with the embedded destination
    /// translated to the external endpoint (from the LAN); the embedded
    /// header and transport checksums were updated for what changed (their
    /// one's-complement sums over the fields they cover are unchanged, so a
    /// valid one stays valid and a wrong one stays wrong); nothing else
    /// changed.
    pub(super) fn check_translated_error(&self, f: &[u8], side: Side, v: Verdict) {
        let o = &self.orig[..];
        let ctx = || {
            format!(
                "ICMP error {side:?} -> {v:?}\n in: {}\nout: {}",
                hex(o),
                hex(f)
            )
        };
        let to_lan = v == Verdict::ToLan;
        assert!(
            to_lan != (side == Side::Lan),
            "an error went back where it came from: {}",
            ctx()
        );
        assert_eq!(be16(o, 20) & 0x3fff, 0, "a fragment translated: {}", ctx());
        let l4 = 14 + usize::from(o[14] & 0x0f) * 4;
        let end = 14 + usize::from(be16(o, 16));
        assert_eq!(
            ones_sum(&o[l4..end]),
            0xffff,
            "an error with a wrong ICMP checksum was translated: {}",
            ctx()
        );
        assert_eq!(
            ones_sum(&f[l4..end]),
            0xffff,
            "ICMP checksum of the translated error: {}",
            ctx()
        );
        let at = l4 + 8;
        assert!(at + 20 <= end, "no embedded header: {}", ctx());
        let ih = usize::from(o[at] & 0x0f) * 4;
        assert!(
            o[at] >> 4 == 4 && ih >= 20 && at + ih + 8 <= end,
            "embedded header unreadable: {}",
            ctx()
        );
        let il4 = at + ih;
        let proto = o[at + 9];
        let a = |b: &[u8], i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let (o_sp, o_dp) = sp_dp(o, proto, il4);
        let (f_sp, f_dp) = sp_dp(f, proto, il4);
        let rp = |p: u16| if proto == 1 { 0 } else { p };
        let sessions = || self.nat.shards.iter().flat_map(|s| s.sessions());
        if to_lan {
            assert!(
                proto != 1 || o[il4] == icmp::ECHO_REQUEST,
                "about an ICMP message other than an echo request: {}",
                ctx()
            );
            assert_eq!(
                a(o, 30),
                a(o, at + 12),
                "not sent to the embedded source: {}",
                ctx()
            );
            let x = sessions().find(|x| {
                x.proto == proto
                    && (x.outside.addr, x.outside.port) == (a(o, at + 12), o_sp)
                    && (x.remote.addr, x.remote.port) == (a(o, at + 16), rp(o_dp))
            });
            let x = x.unwrap_or_else(|| panic!("no session has the embedded packet: {}", ctx()));
            assert_eq!(a(f, 30), x.inside.addr, "outer destination: {}", ctx());
            assert_eq!(
                (a(f, at + 12), f_sp),
                (x.inside.addr, x.inside.port),
                "embedded source: {}",
                ctx()
            );
            assert_eq!(f[6..12], LAN_MAC, "source MAC: {}", ctx());
        } else {
            assert_eq!(
                a(o, 26),
                a(o, at + 16),
                "not from the embedded destination: {}",
                ctx()
            );
            let x = sessions().find(|x| {
                x.proto == proto
                    && (x.inside.addr, x.inside.port) == (a(o, at + 16), o_dp)
                    && (x.remote.addr, x.remote.port) == (a(o, at + 12), rp(o_sp))
            });
            let x = x.unwrap_or_else(|| panic!("no session has the embedded packet: {}", ctx()));
            assert_eq!(a(f, 26), x.outside.addr, "outer source: {}", ctx());
            assert_eq!(
                (a(f, at + 16), f_dp),
                (x.outside.addr, x.outside.port),
                "embedded destination: {}",
                ctx()
            );
        }
        // The embedded header's sum is unchanged (its checksum updated).
        let hsum = |b: &[u8]| sum(0, &b[at..at + ih]) % 0xffff;
        assert_eq!(
            hsum(o),
            hsum(f),
            "embedded IPv4 header checksum not updated for the change: {}",
            ctx()
        );
        // The transport checksum: the sum of the fields it covers that may
        // change (addresses, ports or echo identifier) and of the checksum
        // itself is unchanged.
        let csum_at = match proto {
            6 if il4 + 18 <= end => Some(il4 + 16),
            6 => None,
            // UDP, and the address-only protocols whose checksum covers
            // the pseudo-header (DCCP, UDP-Lite).
            17 | 33 | 136 => Some(il4 + 6),
            1 => Some(il4 + 2),
            _ => None,
        };
        if let Some(c) = csum_at {
            let covered = |b: &[u8]| {
                let mut s = sum(0, &b[c..c + 2]);
                if proto == 1 {
                    s = sum(s, &b[il4 + 4..il4 + 6]);
                } else {
                    s = sum(s, &b[at + 12..at + 20]);
                    s = sum(s, &b[il4..il4 + 4]);
                }
                s % 0xffff
            };
            if proto == 17 && be16(o, c) == 0 {
                assert_eq!(be16(f, c), 0, "UDP checksum 0 changed: {}", ctx());
            } else {
                assert_eq!(
                    covered(o),
                    covered(f),
                    "embedded transport checksum not updated for the change: {}",
                    ctx()
                );
            }
        }
        // Nothing else changed.
        let port_at = match proto {
            1 => il4 + 4,
            _ if to_lan => il4,
            _ => il4 + 2,
        };
        let (addr_at, e_addr_at) = if to_lan { (30, at + 12) } else { (26, at + 16) };
        for i in 0..f.len() {
            let allowed = i < 12
                || i == 22
                || i == 24
                || i == 25
                || (addr_at..addr_at + 4).contains(&i)
                || (l4 + 2..l4 + 4).contains(&i)
                || (at + 10..at + 12).contains(&i)
                || (e_addr_at..e_addr_at + 4).contains(&i)
                || (!masq_core::proto::is_address_only(proto)
                    && (port_at..port_at + 2).contains(&i))
                || csum_at.is_some_and(|c| (c..c + 2).contains(&i));
            assert!(f[i] == o[i] || allowed, "byte {i} changed: {}", ctx());
        }
    }
}

fn sp_dp(b: &[u8], proto: u8, il4: usize) -> (u16, u16) {
    match proto {
        1 => (be16(b, il4 + 4), be16(b, il4 + 4)),
        // Address-only (GRE, ESP, ...): sessions have no ports.
        p if masq_core::proto::is_address_only(p) => (0, 0),
        _ => (be16(b, il4), be16(b, il4 + 2)),
    }
}

/// Flag bits of an error operation (see the module documentation).
pub mod flag {
    /// From the LAN about a packet the session let in.
    pub const FROM_LAN: u8 = 1;
    /// Arrives at shard 1.
    pub const SHARD1: u8 = 2;
    /// The whole embedded packet.
    pub const WHOLE: u8 = 0x40;
    /// ICMP type 11 (time exceeded).
    pub const TIME_EXCEEDED: u8 = 2 << 3;
    /// ICMP type 12 (parameter problem).
    pub const PARAMETER_PROBLEM: u8 = 3 << 3;
}

/// An input of the `icmp_error` target, built operation by operation.
#[derive(Clone, Debug)]
pub struct Script {
    bytes: Vec<u8>,
}

impl Script {
    /// A script with configuration byte `cfg` (that of the entry target).
    pub fn new(cfg: u8) -> Script {
        Script { bytes: vec![cfg] }
    }

    /// An error about session `s` with `flag` bits (type 3 unless a
    /// type flag or `ty` says otherwise; the code is `code` or the type's
    /// usual one) and mutations `(kind, value)` (at most 8).
    pub fn error(
        &mut self,
        s: u8,
        flags: u8,
        ty: Option<u8>,
        code: Option<u8>,
        muts: &[(u8, u8)],
    ) -> &mut Self {
        assert!(muts.len() <= 8 && s != 0xff);
        let mut f = flags & (flag::FROM_LAN | flag::SHARD1 | flag::WHOLE | 0x38);
        if ty.is_some() {
            f |= 6 << 3;
        }
        if code.is_some() {
            f |= 0x80;
        }
        if !muts.is_empty() {
            f |= 4;
        }
        self.bytes.extend_from_slice(&[s, f]);
        self.bytes.extend(ty);
        self.bytes.extend(code);
        if !muts.is_empty() {
            self.bytes.push(muts.len() as u8 - 1);
            for (m, v) in muts {
                self.bytes.extend_from_slice(&[*m, *v]);
            }
        }
        self
    }

    /// An operation of the entry target (its op byte and operands).
    pub fn entry_op(&mut self, op: &[u8]) -> &mut Self {
        self.bytes.push(0xff);
        self.bytes.extend_from_slice(op);
        self
    }

    /// The input.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

fn add_raw(v: &mut Vec<(String, Vec<u8>)>, name: &str, hex: &str) {
    let b = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    v.push((name.to_string(), b));
}

/// Named inputs of the `icmp_error` target.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    use super::seeds::{ks, secs, ADF, APDF, BS16, BS2, EIF, FULL, HIGH, NARROW, REFRESH, WIDE};
    use flag::{FROM_LAN, SHARD1, WHOLE};
    use mutation as m;
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, s: &Script| v.push((name.to_string(), s.bytes()));
    for (name, cfg) in [
        ("eif", EIF),
        ("adf", ADF),
        ("apdf", APDF | REFRESH),
        ("high_bs16", HIGH | BS16),
        ("wide", WIDE),
        ("narrow_bs2", NARROW | BS2),
    ] {
        let mut s = Script::new(cfg);
        for i in 0..24 {
            s.error(i, 0, None, None, &[]);
            s.error(i, FROM_LAN | SHARD1, None, None, &[]);
            s.error(i, WHOLE | flag::TIME_EXCEEDED, None, None, &[]);
        }
        add(&format!("every_session_{name}"), &s);
    }
    let mut s = Script::new(EIF);
    for (i, ty) in [3u8, 11, 12, 0, 8, 4, 5, 13, 14, 17, 255]
        .into_iter()
        .enumerate()
    {
        for code in [0u8, 1, 3, 4, 13, 16, 255] {
            let i = i as u8;
            s.error(i, 0, Some(ty), Some(code), &[]);
            s.error(i + 1, FROM_LAN, Some(ty), Some(code), &[]);
        }
    }
    add("types_and_codes", &s);
    for (name, dir) in [("wan", 0), ("lan", FROM_LAN)] {
        let mut s = Script::new(EIF);
        for t in 0..=60u8 {
            s.error(t, dir, None, None, &[(m::TRUNC, t)]);
        }
        add(&format!("truncated_{name}"), &s);
        let mut s = Script::new(ADF);
        for (i, val) in [1u8, 2, 5, 7, 8, 10, 0x10, 0x14, 0x15, 0x16, 0x1f, 0x19]
            .into_iter()
            .enumerate()
        {
            s.error(i as u8, dir | WHOLE, None, None, &[(m::EMB_IHL, val)]);
            s.error(i as u8, dir, None, None, &[(m::EMB_IHL, val)]);
        }
        for (i, val) in [0u8, 1, 20, 63, 0x41, 0x7f, 0x80, 0x94, 0xc0, 0xff]
            .into_iter()
            .enumerate()
        {
            s.error(i as u8, dir, None, None, &[(m::EMB_TOTLEN, val)]);
        }
        add(&format!("embedded_header_{name}"), &s);
        let mut s = Script::new(EIF);
        for i in 0..12u8 {
            s.error(i, dir | WHOLE, None, None, &[(m::EMB_CSUM, 0x01 + i)]);
            s.error(i, dir | WHOLE, None, None, &[(m::EMB_CSUM, 0x81 + i)]);
            s.error(i, dir, None, None, &[(m::EMB_CSUM, 0x81 + i)]);
            s.error(i, dir, None, None, &[(m::EMB_TUPLE, 4 * i + (i & 3))]);
            s.error(i, dir, None, None, &[(m::EMB_TUPLE, 2), (m::EMB_TUPLE, 7)]);
        }
        for (i, p) in [0u8, 1, 6, 17, 47, 255].into_iter().enumerate() {
            s.error(i as u8, dir, None, None, &[(m::EMB_PROTO, p)]);
            s.error(i as u8 + 6, dir, None, None, &[(m::EMB_TYPE, p)]);
        }
        add(&format!("embedded_fields_{name}"), &s);
        let mut s = Script::new(EIF);
        for i in 0..16u8 {
            s.error(i, dir, None, None, &[(m::NEST, i)]);
            s.error(
                i,
                dir | WHOLE,
                None,
                None,
                &[(m::NEST, 0x80 | i << 3 | i & 7)],
            );
            s.error(i, dir, None, None, &[(m::NEST, i), (m::NEST, 0x80)]);
        }
        add(&format!("nested_{name}"), &s);
        let mut s = Script::new(EIF);
        for i in 0..8u8 {
            s.error(
                i,
                dir,
                None,
                None,
                &[(m::OUT_TTL, [0, 1, 2, 255][usize::from(i & 3)])],
            );
            s.error(i, dir, None, None, &[(m::OUT_FRAG, i)]);
            s.error(i, dir, None, None, &[(m::OUT_FRAG, 0x80 | i)]);
            s.error(i, dir, None, None, &[(m::OUT_OPTS, i)]);
            s.error(i, dir | WHOLE, None, None, &[(m::OUT_OPTS, 0x80 | i)]);
            s.error(i, dir, None, None, &[(m::OUT_CSUM, i)]);
            s.error(i, dir, None, None, &[(m::ICMP_CSUM, i)]);
            s.error(i, dir, None, None, &[(m::OUT_SRC, i)]);
            s.error(i, dir, None, None, &[(m::OUT_DST, i)]);
            s.error(i, dir, None, None, &[(m::BYTE, i * 9)]);
            s.error(i, dir, None, None, &[(m::PAD, i * 5)]);
            s.error(i, dir, None, None, &[(m::ICMP_WORD, i * 33)]);
            // Errors of every size around the LAN and WAN MTUs.
            s.error(i, dir, None, None, &[(m::GROW, 60 + 10 * i)]);
            s.error(i, dir | WHOLE, None, None, &[(m::GROW, 110 + 10 * i)]);
            // Mutations that undo each other.
            s.error(i, dir, None, None, &[(m::OUT_TTL, i & 1), (m::OUT_TTL, 3)]);
            s.error(i, dir, None, None, &[(m::OUT_CSUM, i), (m::OUT_CSUM, i)]);
            s.error(
                i,
                dir,
                None,
                None,
                &[(m::ICMP_CSUM, i), (m::ICMP_CSUM, i ^ 1)],
            );
        }
        add(&format!("outer_{name}"), &s);
    }
    // Sessions expire and come back between errors; errors arrive at the
    // other shard.
    let mut s = Script::new(EIF);
    for i in 0..8 {
        s.error(i, SHARD1, None, None, &[]);
    }
    s.entry_op(&[6, ks(1), FULL]);
    for i in 0..8 {
        s.error(i, SHARD1, None, None, &[]);
        s.error(i, FROM_LAN, None, None, &[]);
    }
    s.entry_op(&[0, 0, 0, 0, 2, 4]);
    s.entry_op(&[6, secs(5), FULL]);
    for i in 0..8 {
        s.error(i, 0, None, None, &[(m::OUT_TTL, 1), (m::PAD, 3)]);
    }
    add("expiry_between_errors", &s);
    // Found by the fuzzer: a session with remote 0.0.0.0 (opened from the
    // WAN through the one-to-one mapping), then an error from the LAN about
    // it, which goes to 0.0.0.0.
    add_raw(
        &mut v,
        "martian_remote",
        concat!(
            "f70004000b000044000b800004010b000b800104000b010144000b8901ffffff",
            "ffffffffffffffff03ffffffffffffffffff0404010b050544010bad040b0105",
            "0544000b800004010b000b800104f90b01014430303030303030303030303030",
            "3030303030303030303030303030303030303030303030303030303030303030",
            "000b8901ffffffffffffffffffffff03ffffffffffffffffff0404010b040b80",
            "05040b040b800504000b050544010bad040b01050544000b800004010b000b80",
            "0104f90b01014430303030303030303030303030303030303030303030303030",
            "3030303030303030303030303030303030303030000b8901ffffffffffffffff",
            "ffffff03ffffffffffffffffff0404010b040b800504000b050544000bad0307",
            "50",
        ),
    );
    v
}

/// How many sessions of each kind [`setup`] opens for configuration byte
/// `cfg`: on shard 0 and 1, UDP, TCP, ICMP, hairpinned (remote address in
/// the pool), port-forwarded, one-to-one.
pub fn setup_kinds(cfg: u8) -> [(&'static str, usize); 8] {
    let mut d = Driver::with_config(config(cfg));
    setup(&mut d);
    let all = live(&d);
    let count = |f: &dyn Fn(&SessionInfo) -> bool| all.iter().filter(|x| f(x)).count();
    let pool = |a: u32| d.cfg.pool.iter().any(|p| p.contains(a));
    [
        ("shard 0", d.nat.shards[0].session_count()),
        ("shard 1", d.nat.shards[1].session_count()),
        ("udp", count(&|x| x.proto == 17)),
        ("tcp", count(&|x| x.proto == 6)),
        ("icmp", count(&|x| x.proto == 1)),
        ("hairpin", count(&|x| pool(x.remote.addr))),
        ("forward", count(&|x| x.inside.addr == u(SERVER))),
        ("one-to-one", count(&|x| x.outside.addr == u(ONE_TO_ONE))),
    ]
}
