//! Unit tests of the shard's rooms, one file per room: frames written byte
//! by byte go in, and the verdict, the counters and the exact bytes that
//! come out are checked. This file holds what they share: a small
//! configuration, a frame builder and a checksum verifier that use none of
//! the core's wire code, so a fault there cannot hide itself.

mod address_only;
mod classify;
mod egress;
mod fastpath;
mod fragments;
mod generate;
mod held_keys;
mod holds;
mod holds_props;
mod icmp_error;
mod kernel_ports;
mod ops;
mod ports;
mod slowpath;
mod snapshot;
mod statics;
mod timers;

use super::{NextHops, Shard, Side, Verdict};
use crate::config::{Config, Prefix};
use crate::event::Event;
use crate::wire::{IpRepr, Mac};
use crate::{DropReason, Time};

pub(super) const HOST: u32 = 0xc0a8_010a; // 192.168.1.10, a subscriber
pub(super) const HOST2: u32 = 0xc0a8_010b; // 192.168.1.11, another
pub(super) const REMOTE: u32 = 0xc633_6401; // 198.51.100.1, a server
pub(super) const REMOTE2: u32 = 0xc633_6402; // 198.51.100.2, another
pub(super) const EXT: u32 = 0xcb00_7101; // 203.0.113.1, cfg()'s one pool address

pub(super) const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];
pub(super) const HOST2_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x12];
pub(super) const LAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub(super) const WAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub(super) const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];

/// The clock's reading, in seconds, when a test's shard is built.
pub(super) const T0: u64 = 1000;

/// IPv4 flags (Don't Fragment, More Fragments) and TCP flags.
pub(super) const DF: u16 = 0x4000;
pub(super) const MF: u16 = 0x2000;
pub(super) const FIN: u8 = 0x01;
pub(super) const SYN: u8 = 0x02;
pub(super) const RST: u8 = 0x04;
pub(super) const ACK: u8 = 0x10;

/// A small configuration: the default one with one pool address and
/// small tables.
pub(super) fn cfg() -> Config {
    Config {
        pool: vec![Prefix::new(EXT, 32).unwrap()],
        max_sessions: 64,
        max_subscribers: 16,
        event_queue: 256,
        ..Config::default()
    }
}

/// [`cfg`] in deterministic NAT over 192.168.1.0/28 with blocks of two
/// ports, one block a subscriber: HOST (subscriber 10) has 1044-1045.
pub(super) fn deterministic_cfg() -> Config {
    let mut c = Config {
        inside: vec![Prefix::new(0xc0a8_0100, 28).unwrap()],
        deterministic: true,
        block_size: 2,
        port_max: 1055,
        ..cfg()
    };
    c.limits.blocks_per_subscriber = 1;
    c
}

/// Shard 0 of `cfg`, built at [`T0`], with its next hops set.
pub(super) fn shard(cfg: &Config) -> Shard {
    shard_id(cfg, 0)
}

/// Every shard of `cfg` (`cfg.workers` of them), as [`shard`] builds one.
pub(super) fn shards(cfg: &Config) -> Vec<Shard> {
    (0..cfg.workers).map(|i| shard_id(cfg, i)).collect()
}

fn shard_id(cfg: &Config, id: u16) -> Shard {
    let mut s = Shard::new(cfg, id, at(0)).unwrap();
    s.set_next_hops(NextHops {
        lan_mac: Mac(LAN_MAC),
        wan_mac: Mac(WAN_MAC),
        gateway_mac: Mac(GW_MAC),
    });
    s
}

/// `secs` seconds after [`T0`].
pub(super) fn at(secs: u64) -> Time {
    Time::from_secs(T0 + secs)
}

/// `secs` after [`T0`], as the core counts seconds.
pub(super) fn sec(secs: u64) -> u32 {
    (T0 + secs) as u32
}

/// Processes `f` arriving on `side` at `secs`; returns the verdict and
/// the frame as it is after.
pub(super) fn run(s: &mut Shard, mut f: Vec<u8>, side: Side, secs: u64) -> (Verdict, Vec<u8>) {
    let v = s.process(&mut f, side, at(secs));
    (v, f)
}

/// The drop counter of `r`.
pub(super) fn drops(s: &Shard, r: DropReason) -> u64 {
    s.counters().drops[r as usize]
}

/// Every frame the shard wants sent, in order.
pub(super) fn emitted(s: &mut Shard) -> Vec<(Verdict, Vec<u8>)> {
    let mut buf = [0u8; 9018];
    core::iter::from_fn(|| s.pop_emitted(&mut buf).map(|(v, n)| (v, buf[..n].to_vec()))).collect()
}

/// Every pending event, in order.
pub(super) fn events(s: &mut Shard) -> Vec<Event> {
    core::iter::from_fn(|| s.pop_event()).collect()
}

/// The parsed headers of a frame the tests built.
pub(super) fn parse(f: &[u8]) -> IpRepr {
    IpRepr::parse(f).unwrap().unwrap()
}

// ---- Checksums, computed here from scratch (RFC 1071). ----

/// The one's-complement sum of `data` as 16-bit words, added to `acc`.
pub(super) fn sum(mut acc: u32, data: &[u8]) -> u32 {
    for w in data.chunks(2) {
        let hi = u32::from(w[0]) << 8;
        acc += hi | w.get(1).map_or(0, |&b| u32::from(b));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

/// The checksum field for data summing to `acc`.
pub(super) fn csum(acc: u32) -> u16 {
    let mut a = acc;
    while a > 0xffff {
        a = (a & 0xffff) + (a >> 16);
    }
    !(a as u16)
}

/// The sum of the TCP/UDP pseudo-header.
pub(super) fn pseudo(src: u32, dst: u32, proto: u8, len: usize) -> u32 {
    let words = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff);
    words + u32::from(proto) + len as u32
}

/// True when data (checksum field included) sums to all ones.
pub(super) fn verifies(acc: u32) -> bool {
    csum(acc) == 0
}

pub(super) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(super) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Asserts, from scratch, every checksum of an Ethernet/IPv4 frame (see
/// [`checksum_fault`]).
#[track_caller]
pub(super) fn assert_checksums(f: &[u8]) {
    assert_eq!(checksum_fault(f), None);
}

/// The first checksum of an Ethernet/IPv4 frame that does not verify,
/// computed from scratch: the IPv4 header; unless the frame is a fragment,
/// the transport's (TCP and UDP over the pseudo-header, a UDP 0 meaning
/// none; ICMP over the message); and for an ICMP error the header of the
/// packet inside.
pub(super) fn checksum_fault(f: &[u8]) -> Option<&'static str> {
    let ip = &f[14..];
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(ip, 2));
    if !verifies(sum(0, &ip[..hl])) {
        return Some("IPv4 header");
    }
    if be16(ip, 6) & 0x3fff != 0 {
        // A fragment: the transport checksum covers bytes not here.
        return None;
    }
    let seg = &ip[hl..total];
    let (src, dst) = (be32(ip, 12), be32(ip, 16));
    let ok = match ip[9] {
        6 => verifies(sum(pseudo(src, dst, 6, seg.len()), seg)),
        17 => be16(seg, 6) == 0 || verifies(sum(pseudo(src, dst, 17, seg.len()), seg)),
        1 => {
            if !verifies(sum(0, seg)) {
                return Some("ICMP");
            }
            if matches!(seg[0], 3 | 11 | 12) {
                let inner = &seg[8..];
                let ihl = usize::from(inner[0] & 0x0f) * 4;
                if !verifies(sum(0, &inner[..ihl])) {
                    return Some("inner IPv4 header");
                }
            }
            true
        }
        _ => true,
    };
    (!ok).then_some("transport")
}

// ---- Frames, written byte by byte. ----

/// The Ethernet and IPv4 header fields of a frame to build.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pkt {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub tos: u8,
    pub id: u16,
    /// Flags and fragment offset (in 8-byte units).
    pub frag: u16,
    pub ttl: u8,
    pub src: u32,
    pub dst: u32,
}

/// A frame from subscriber [`HOST`]'s MAC to the NAT's LAN interface.
pub(super) fn lan(src: u32, dst: u32) -> Pkt {
    Pkt {
        dst_mac: LAN_MAC,
        src_mac: HOST_MAC,
        tos: 0,
        id: 0x1234,
        frag: 0,
        ttl: 64,
        src,
        dst,
    }
}

/// A frame from the gateway to the NAT's WAN interface.
pub(super) fn wan(src: u32, dst: u32) -> Pkt {
    Pkt {
        dst_mac: WAN_MAC,
        src_mac: GW_MAC,
        ..lan(src, dst)
    }
}

impl Pkt {
    /// The same, with these Ethernet destination and source.
    pub fn macs(self, dst_mac: [u8; 6], src_mac: [u8; 6]) -> Pkt {
        Pkt {
            dst_mac,
            src_mac,
            ..self
        }
    }

    /// The same, with this TTL.
    pub fn ttl(self, ttl: u8) -> Pkt {
        Pkt { ttl, ..self }
    }

    /// The same, with these flags and fragment offset.
    pub fn frag(self, frag: u16) -> Pkt {
        Pkt { frag, ..self }
    }

    /// The frame a NAT sends to the WAN for this packet after
    /// translating it: source `src`, TTL one lower, gateway MACs.
    pub fn to_wan(self, src: u32) -> Pkt {
        Pkt {
            src,
            ttl: self.ttl - 1,
            ..self.macs(GW_MAC, WAN_MAC)
        }
    }

    /// The frame a NAT sends to the LAN: destination `dst` at `mac`, TTL
    /// one lower.
    pub fn to_lan(self, dst: u32, mac: [u8; 6]) -> Pkt {
        Pkt {
            dst,
            ttl: self.ttl - 1,
            ..self.macs(mac, LAN_MAC)
        }
    }

    /// Ethernet and an option-less IPv4 header (checksum filled) carrying
    /// `l4` as it is.
    pub fn raw(&self, proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = [&self.dst_mac[..], &self.src_mac, &[0x08, 0x00]].concat();
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[1] = self.tos;
        h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&self.id.to_be_bytes());
        h[6..8].copy_from_slice(&self.frag.to_be_bytes());
        h[8] = self.ttl;
        h[9] = proto;
        h[12..16].copy_from_slice(&self.src.to_be_bytes());
        h[16..20].copy_from_slice(&self.dst.to_be_bytes());
        let c = csum(sum(0, &h));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&h);
        f.extend_from_slice(l4);
        f
    }

    /// A UDP datagram.
    pub fn udp(&self, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        self.raw(17, &udp_seg(self.src, self.dst, sport, dport, payload))
    }

    /// A TCP segment with `opts` (a multiple of 4 bytes).
    pub fn tcp(&self, sport: u16, dport: u16, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
        let seg = tcp_seg(self.src, self.dst, sport, dport, flags, opts, payload);
        self.raw(6, &seg)
    }

    /// An ICMP message: type, code, the four bytes after the checksum,
    /// and the body.
    pub fn icmp(&self, ty: u8, code: u8, rest: u32, body: &[u8]) -> Vec<u8> {
        self.raw(1, &icmp_msg(ty, code, rest, body))
    }

    /// An echo request (8) or reply (0) with identifier `id`, sequence 1.
    pub fn echo(&self, ty: u8, id: u16, payload: &[u8]) -> Vec<u8> {
        self.icmp(ty, 0, u32::from(id) << 16 | 1, payload)
    }
}

/// A UDP header and payload, checksum over the pseudo-header of
/// `src`/`dst`.
pub(super) fn udp_seg(src: u32, dst: u32, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut s = Vec::with_capacity(len);
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&(len as u16).to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(payload);
    // A computed 0 is sent as all ones (RFC 768).
    let c = Some(csum(sum(pseudo(src, dst, 17, len), &s)))
        .filter(|&c| c != 0)
        .unwrap_or(0xffff);
    s[6..8].copy_from_slice(&c.to_be_bytes());
    s
}

/// A TCP header (sequence 1000, window 64240, acknowledgment 2000 when
/// ACK is set) with options and payload.
pub(super) fn tcp_seg(
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
    flags: u8,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0, "options fill whole words");
    let hl = 20 + opts.len();
    let mut s = vec![0u8; hl];
    s[0..2].copy_from_slice(&sport.to_be_bytes());
    s[2..4].copy_from_slice(&dport.to_be_bytes());
    s[4..8].copy_from_slice(&1000u32.to_be_bytes());
    if flags & ACK != 0 {
        s[8..12].copy_from_slice(&2000u32.to_be_bytes());
    }
    s[12] = ((hl / 4) as u8) << 4;
    s[13] = flags;
    s[14..16].copy_from_slice(&64240u16.to_be_bytes());
    s[20..].copy_from_slice(opts);
    s.extend_from_slice(payload);
    let c = csum(sum(pseudo(src, dst, 6, s.len()), &s));
    s[16..18].copy_from_slice(&c.to_be_bytes());
    s
}

/// An ICMP message with its checksum.
pub(super) fn icmp_msg(ty: u8, code: u8, rest: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest.to_be_bytes());
    m.extend_from_slice(body);
    let c = csum(sum(0, &m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// Sends one outbound UDP datagram HOST:40000 -> REMOTE:53 at `secs`,
/// which makes the session every room's tests start from; asserts it
/// went out as 203.0.113.1:1024.
pub(super) fn udp_session(s: &mut Shard, secs: u64) {
    let f = lan(HOST, REMOTE).udp(40000, 53, b"query");
    let (v, f) = run(s, f, Side::Lan, secs);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(f, lan(HOST, REMOTE).to_wan(EXT).udp(1024, 53, b"query"));
}

#[test]
fn the_builder_writes_what_etherparse_reads() {
    // The builder and verifier above are the tests' own: check them once
    // against an independent implementation.
    use etherparse::{Ipv4HeaderSlice, TcpHeaderSlice, UdpHeaderSlice};
    let f = lan(HOST, REMOTE).udp(40000, 53, b"query");
    let h = Ipv4HeaderSlice::from_slice(&f[14..]).unwrap().to_header();
    assert_eq!(h.header_checksum, h.calc_header_checksum());
    let u = UdpHeaderSlice::from_slice(&f[34..]).unwrap().to_header();
    assert_eq!(u.checksum, u.calc_checksum_ipv4(&h, &f[42..]).unwrap());
    let t = lan(HOST, REMOTE).tcp(40000, 80, SYN, &[2, 4, 5, 0xb4], b"hi");
    let th = Ipv4HeaderSlice::from_slice(&t[14..]).unwrap().to_header();
    let tcp = TcpHeaderSlice::from_slice(&t[34..]).unwrap().to_header();
    assert_eq!(tcp.checksum, tcp.calc_checksum_ipv4(&th, b"hi").unwrap());
    assert_checksums(&t);
    let mut bad = f.clone();
    bad[44] ^= 1;
    assert_eq!(checksum_fault(&bad), Some("transport"));
    bad[22] ^= 1;
    assert_eq!(checksum_fault(&bad), Some("IPv4 header"));
}
