//! Seed inputs of the fuzz targets, written as named operations so they can
//! be read and regenerated. The committed files under
//! `dataplane/core/fuzz/seeds/` are the output of [`entry`] and [`views`]:
//! `MASQ_WRITE_SEEDS=1 cargo test -p masq-tests --test fuzz_replay` writes
//! them again, and the same test without the variable checks that the
//! committed entry seeds are current.

use super::{kind, side};
use crate::frames::{self, From, ACK, FIN_ACK, SYN, SYN_ACK};

/// Configuration byte: endpoint-independent filtering.
pub const EIF: u8 = 0;
/// Configuration byte: address-dependent filtering.
pub const ADF: u8 = 1;
/// Configuration byte: address-and-port-dependent filtering.
pub const APDF: u8 = 2;
/// Configuration byte: inbound UDP and ICMP refresh sessions.
pub const REFRESH: u8 = 4;
/// Configuration byte: blocks of 8 ports.
pub const BS8: u8 = 0x08;
/// Configuration byte: blocks of 2 ports.
pub const BS2: u8 = 0x10;
/// Configuration byte: blocks of 16 ports.
pub const BS16: u8 = 0x18;
/// Configuration byte: four blocks ending at port 65535.
pub const HIGH: u8 = 0x20;
/// Configuration byte: 64 blocks per address.
pub const WIDE: u8 = 0x40;
/// Configuration byte: two blocks per address.
pub const NARROW: u8 = 0x60;
/// Configuration byte: an event queue of 3.
pub const TINY_EVENTS: u8 = 0x80;
/// Configuration byte: endpoint-independent filtering, LAN MTU 120 and
/// WAN MTU 96 (UDP payloads in units of 8 bytes, cut into fragments).
pub const SMALL_MTU: u8 = 3;

/// TCP flag bits of a TCP or reply operand.
pub const F_SYN: u8 = 1;
/// ACK.
pub const F_ACK: u8 = 2;
/// FIN.
pub const F_FIN: u8 = 4;
/// RST.
pub const F_RST: u8 = 8;

/// Port selectors (indexes into the port set).
pub mod p {
    /// 40000.
    pub const P40000: u8 = 0;
    /// 40001.
    pub const P40001: u8 = 1;
    /// 53.
    pub const DNS: u8 = 2;
    /// 80.
    pub const HTTP: u8 = 3;
    /// 443.
    pub const HTTPS: u8 = 4;
    /// port_min.
    pub const MIN: u8 = 5;
    /// Last port of the first block.
    pub const BLOCK0_LAST: u8 = 7;
    /// First port of the second block.
    pub const BLOCK1: u8 = 8;
    /// port_max.
    pub const MAX: u8 = 11;
    /// port_max + 1 (wrapping).
    pub const MAX_PLUS_1: u8 = 13;
    /// 0.
    pub const ZERO: u8 = 15;
    /// 65535.
    pub const TOP: u8 = 18;
    /// First port past the whole blocks.
    pub const BLOCKS_END: u8 = 22;
    /// The port 20000 + 0x80 + `i` (for many distinct flows).
    pub const fn many(i: u8) -> u8 {
        0x80 + i
    }
}

/// Time operand: `n` seconds (n < 64).
pub const fn secs(n: u8) -> u8 {
    n & 63
}
/// Time operand: `n` × 16 seconds.
pub const fn x16s(n: u8) -> u8 {
    0x40 | (n & 63)
}
/// Time operand: `n` × 1000 seconds.
pub const fn ks(n: u8) -> u8 {
    0x80 | (n & 63)
}
/// Time operand: `n` × 100 ms.
pub const fn deci(n: u8) -> u8 {
    0xc0 | (n & 63)
}
/// Expire operand: unbounded budget on both shards.
pub const FULL: u8 = 6;
/// Expire operand: budget `b` (0..=4) on both shards.
pub const fn budget(b: u8) -> u8 {
    b & 7
}

/// An input of the entry target, built operation by operation.
#[derive(Clone, Debug)]
pub struct Script {
    bytes: Vec<u8>,
    last_op: usize,
}

impl Script {
    /// A script with configuration byte `cfg`.
    pub fn new(cfg: u8) -> Script {
        Script {
            bytes: vec![cfg],
            last_op: 0,
        }
    }

    fn op(&mut self, k: u8, sd: u8, operands: &[u8]) -> &mut Self {
        self.last_op = self.bytes.len();
        self.bytes.push(k | sd << 3);
        self.bytes.extend_from_slice(operands);
        self
    }

    /// A UDP datagram (selectors: see the module documentation of `fuzz`).
    pub fn udp(&mut self, sd: u8, src: u8, dst: u8, sport: u8, dport: u8, len: u8) -> &mut Self {
        self.op(kind::UDP, sd, &[src, dst, sport, dport, len])
    }

    /// A TCP segment with `F_*` flags.
    pub fn tcp(&mut self, sd: u8, src: u8, dst: u8, sport: u8, dport: u8, flags: u8) -> &mut Self {
        self.op(kind::TCP, sd, &[src, dst, sport, dport, flags])
    }

    /// An ICMP echo request from the LAN (reply from the WAN); `x` 1 swaps.
    pub fn echo(&mut self, sd: u8, src: u8, dst: u8, id: u8, seq: u8, x: u8) -> &mut Self {
        self.op(kind::ECHO, sd, &[src, dst, id, seq, x])
    }

    /// An ICMP error about the `k`-th most recent forwarded frame.
    pub fn icmp_error(&mut self, sd: u8, k: u8, ty: u8, code: u8, keep: u8, src: u8) -> &mut Self {
        self.op(kind::ICMP_ERROR, sd, &[k, ty, code, keep, src])
    }

    /// The answer to the `k`-th most recent forwarded frame.
    pub fn reply(&mut self, sd: u8, k: u8, x: u8) -> &mut Self {
        self.op(kind::REPLY, sd, &[k, x, 0])
    }

    /// The answer with overridden source address and port, destination
    /// address and port selectors.
    pub fn reply_with(&mut self, sd: u8, k: u8, x: u8, o: [Option<u8>; 4]) -> &mut Self {
        let mut bits = 0;
        let mut extra = Vec::new();
        for (i, v) in o.iter().enumerate() {
            if let Some(v) = v {
                bits |= 1 << i;
                extra.push(*v);
            }
        }
        self.op(kind::REPLY, sd, &[k, x, bits]);
        self.bytes.extend_from_slice(&extra);
        self
    }

    /// Raw bytes (`flags` bit 0: Ethernet header; bit 1: fix checksums).
    pub fn raw(&mut self, sd: u8, flags: u8, data: &[u8]) -> &mut Self {
        let len = data.len().min(255);
        self.op(kind::RAW, sd, &[len as u8, flags]);
        self.bytes.extend_from_slice(&data[..len]);
        self
    }

    /// Clock step `t` then expire as `e` says.
    pub fn time(&mut self, t: u8, e: u8) -> &mut Self {
        self.op(kind::TIME, 0, &[t, e])
    }

    /// Clock step, full expire, then flush the sessions of inside host
    /// `who`.
    pub fn flush(&mut self, t: u8, who: u8) -> &mut Self {
        self.op(kind::TIME, 0, &[t, FULL | 0xc0, who])
    }

    /// The `k`-th most recent input frame again.
    pub fn resend(&mut self, sd: u8, k: u8) -> &mut Self {
        self.op(kind::RESEND, sd, &[k])
    }

    /// The last operation's frame arrives at shard 1.
    pub fn at_shard1(&mut self) -> &mut Self {
        self.bytes[self.last_op] |= 0x20;
        self
    }

    /// Shapes the last operation's frame (call right after it).
    pub fn shaped(&mut self, s: u8) -> &mut Self {
        self.bytes[self.last_op] |= 0x40;
        self.bytes.push(s);
        self
    }

    /// Mutates the last operation's frame (call right after it, or after
    /// `shaped`): each pair sets the byte at an offset.
    pub fn mutated(&mut self, fix: bool, pairs: &[(u8, u8)]) -> &mut Self {
        assert!((1..=4).contains(&pairs.len()));
        self.bytes[self.last_op] |= 0x80;
        self.bytes
            .push((pairs.len() as u8 - 1) | if fix { 0x80 } else { 0 });
        for (o, v) in pairs {
            self.bytes.extend_from_slice(&[*o, *v]);
        }
        self
    }

    /// The input.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

const N: u8 = side::NATURAL;
const LAN: u8 = side::LAN;
const WAN: u8 = side::WAN;

/// Address selector of a class (0 inside, 1 remote, 2 pool) by index < 16.
pub const fn class(c: u8, i: u8) -> u8 {
    0xc0 | (c & 3) << 4 | (i & 15)
}

/// Named inputs of the entry target.
pub fn entry() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, s: &Script| v.push((name.to_string(), s.bytes()));

    for (name, cfg) in [
        ("eif", EIF),
        ("adf", ADF),
        ("apdf", APDF),
        ("refresh", REFRESH),
    ] {
        add(
            &format!("udp_out_reply_{name}"),
            Script::new(cfg)
                .udp(N, 0, 0, p::P40000, p::DNS, 4)
                .reply(N, 0, 0x40)
                .time(secs(10), FULL)
                .reply(N, 1, 0x10)
                .time(x16s(12), FULL)
                .reply(N, 2, 0x10)
                .time(x16s(8), FULL)
                .reply(N, 3, 0x10),
        );
        // Another remote address, then another port of the same address.
        add(
            &format!("udp_unsolicited_{name}"),
            Script::new(cfg)
                .udp(N, 0, 0, p::P40000, p::DNS, 4)
                .reply_with(N, 0, 0, [Some(1), None, None, None])
                .udp(N, 0, 0, p::P40000, p::DNS, 4)
                .reply_with(N, 0, 0, [None, Some(p::HTTP), None, None])
                .udp(N, 0, 0, p::P40000, p::DNS, 4)
                .reply_with(N, 0, 0, [Some(2), Some(p::HTTPS), None, None]),
        );
        add(
            &format!("tcp_inbound_syn_{name}"),
            Script::new(cfg)
                .tcp(N, 0, 0, p::P40000, p::HTTP, F_SYN)
                .reply(N, 0, F_SYN | F_ACK)
                .reply_with(WAN, 1, F_SYN, [Some(1), None, None, None])
                .reply(N, 0, F_SYN | F_ACK)
                .time(secs(7), FULL)
                .reply(N, 0, F_ACK),
        );
    }
    add(
        "tcp_handshake_fin",
        Script::new(EIF)
            .tcp(N, 0, 0, p::P40000, p::HTTP, F_SYN)
            .reply(N, 0, F_SYN | F_ACK)
            .reply(N, 0, F_ACK | 0x30)
            .reply(N, 0, F_FIN | F_ACK)
            .reply(N, 0, F_FIN | F_ACK)
            .reply(N, 0, F_ACK)
            .time(x16s(14), FULL)
            .time(x16s(1), FULL)
            .reply(N, 1, F_ACK),
    );
    add(
        "tcp_rst",
        Script::new(EIF)
            .tcp(N, 1, 2, p::P40001, p::HTTPS, F_SYN)
            .reply(N, 0, F_RST)
            .reply(N, 1, F_SYN | F_ACK)
            .reply(N, 0, F_ACK)
            .reply(N, 0, F_RST)
            .reply(N, 0, F_ACK)
            .reply(N, 0, F_RST | F_ACK)
            .time(x16s(16), FULL)
            .reply(N, 0, F_ACK),
    );
    add(
        "tcp_not_syn_and_retransmit",
        Script::new(EIF)
            .tcp(N, 0, 0, p::P40000, p::HTTP, F_ACK)
            .tcp(N, 0, 0, p::P40000, p::HTTP, F_SYN | F_RST)
            .tcp(N, 0, 0, p::P40000, p::HTTP, F_SYN)
            .resend(N, 0)
            .resend(WAN, 0)
            .at_shard1()
            .reply(N, 0, F_SYN | F_ACK)
            .resend(N, 0)
            .time(x16s(20), FULL),
    );
    add(
        "echo_out_reply",
        Script::new(EIF)
            .echo(N, 0, 0, p::P40000, 1, 0)
            .reply(N, 0, 0)
            .echo(N, 0, 1, p::P40000, 2, 0)
            .reply_with(N, 0, 0, [Some(3), None, None, None])
            .time(secs(61), FULL)
            .reply(N, 1, 0),
    );
    add(
        "echo_to_pool_and_from_wan",
        Script::new(EIF)
            .echo(LAN, 0, class(2, 1), p::P40000, 1, 0)
            .echo(WAN, 0, 0, p::P40000, 1, 0)
            .echo(WAN, 0, 0, p::MIN, 1, 1),
    );
    for (name, proto) in [("udp", kind::UDP), ("tcp", kind::TCP), ("echo", kind::ECHO)] {
        let mut s = Script::new(EIF);
        match proto {
            kind::UDP => s.udp(N, 2, 0, p::P40000, p::DNS, 8),
            kind::TCP => s.tcp(N, 2, 0, p::P40000, p::HTTP, F_SYN),
            _ => s.echo(N, 2, 0, p::P40000, 7, 0),
        };
        s.icmp_error(N, 0, 0, 3, 0, 0) // port unreachable, 8 bytes
            .icmp_error(N, 1, 1, 0, 6, 0x80 | 0x52) // time exceeded, whole packet, from a router
            .icmp_error(N, 2, 2, 0, 7, 0) // parameter problem, 28 bytes
            .icmp_error(N, 3, 0, 4, 2, 0) // truncated to the header
            .icmp_error(N, 3, 7, 0, 0, 0) // not an error type
            .icmp_error(N, 3, 0, 3, 0, 0)
            .at_shard1();
        add(&format!("icmp_error_in_{name}"), &s);
    }
    add(
        "icmp_error_out",
        Script::new(EIF)
            .udp(N, 3, 1, p::P40000, p::DNS, 8)
            .reply(N, 0, 0x20)
            .icmp_error(N, 0, 0, 3, 0, 0)
            .tcp(N, 3, 1, p::P40001, p::HTTP, F_SYN)
            .reply(N, 0, F_SYN | F_ACK)
            .icmp_error(N, 0, 0, 1, 6, 0)
            .icmp_error(LAN, 1, 0, 1, 0, 0)
            .icmp_error(N, 0, 1, 0, 0, 0x80 | 0x41),
    );
    add(
        "hairpin_udp",
        Script::new(EIF)
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .reply_with(LAN, 0, 0x10, [Some(1), None, None, None])
            .reply(N, 0, 0x20)
            .icmp_error(LAN, 0, 0, 3, 0, 0)
            .reply_with(LAN, 2, 0x10, [Some(4), None, None, None])
            .at_shard1()
            .reply_with(LAN, 3, 0x10, [Some(0), None, None, None]),
    );
    for (name, cfg) in [("eif", EIF), ("adf", ADF), ("apdf", APDF)] {
        add(
            &format!("hairpin_tcp_{name}"),
            Script::new(cfg)
                .tcp(N, 2, 0, p::P40000, p::HTTPS, F_SYN)
                .reply_with(LAN, 0, F_SYN, [Some(5), Some(p::P40001), None, None])
                .reply(N, 0, F_SYN | F_ACK)
                .reply(N, 0, F_ACK)
                .reply(N, 0, F_FIN | F_ACK)
                .at_shard1(),
        );
    }
    {
        let mut s = Script::new(EIF);
        for i in 0..18 {
            s.udp(N, 1, i % 3, p::many(i), p::DNS, 1);
        }
        s.reply(N, 0, 0)
            .time(x16s(19), FULL)
            .udp(N, 1, 0, p::many(40), p::DNS, 1);
        add("subscriber_session_limit", &s);
    }
    for (name, cfg) in [
        ("bs2", BS2 | NARROW),
        ("bs8", BS8),
        ("bs2_high", BS2 | HIGH),
    ] {
        let mut s = Script::new(cfg);
        for i in 0..10 {
            s.udp(N, 2, 0, p::many(i), p::DNS, 1);
            s.tcp(N, 2, 0, p::many(i), p::HTTP, F_SYN);
        }
        s.echo(N, 2, 0, p::P40000, 1, 0)
            .echo(N, 2, 0, p::P40001, 1, 0)
            .reply(N, 0, 0)
            .time(x16s(20), FULL)
            .time(x16s(8), FULL)
            .udp(N, 2, 0, p::many(50), p::DNS, 1);
        add(&format!("ports_exhausted_{name}"), &s);
    }
    for (name, cfg) in [
        ("narrow", NARROW),
        ("wide", WIDE),
        ("narrow_bs2", NARROW | BS2),
    ] {
        let mut s = Script::new(cfg);
        for i in 0..24 {
            s.udp(N, i, 0, p::P40000, p::DNS, 1);
        }
        s.time(x16s(19), FULL).time(x16s(8), FULL);
        for i in 24..32 {
            s.udp(N, i, 0, p::P40000, p::DNS, 1);
        }
        add(&format!("subscribers_and_pool_{name}"), &s);
    }
    {
        let mut s = Script::new(WIDE);
        for h in 0..10 {
            for i in 0..16 {
                s.udp(N, h, i % 2, p::many(i), p::DNS, 0);
            }
        }
        add("session_table_full", &s);
    }
    add(
        "time_jumps",
        Script::new(EIF)
            .udp(N, 0, 0, p::P40000, p::DNS, 1)
            .tcp(N, 0, 0, p::P40000, p::HTTP, F_SYN)
            .reply(N, 0, F_SYN | F_ACK)
            .echo(N, 1, 0, p::P40000, 1, 0)
            .time(deci(7), budget(1))
            .time(ks(9), budget(1))
            .time(secs(0), budget(2))
            .time(secs(0), budget(0))
            .reply(N, 1, 0)
            .time(secs(1), FULL)
            .time(ks(63), FULL)
            .udp(N, 0, 0, p::P40000, p::DNS, 1)
            .time(0x80 | 8, 0x08 | 6)
            .time(secs(0), 0x10 | 6)
            .reply(N, 0, 0),
    );
    add(
        "block_hold",
        Script::new(NARROW)
            .udp(N, 0, 0, p::P40000, p::DNS, 1)
            .time(x16s(19), FULL)
            .udp(N, 1, 0, p::P40000, p::DNS, 1)
            .udp(N, 0, 0, p::P40000, p::DNS, 1)
            .time(x16s(8), FULL)
            .udp(N, 2, 0, p::P40000, p::DNS, 1)
            .reply(N, 0, 0),
    );
    add(
        "flush",
        Script::new(EIF)
            .udp(N, 0, 0, p::P40000, p::DNS, 1)
            .tcp(N, 0, 0, p::P40000, p::HTTP, F_SYN)
            .udp(N, 1, 0, p::P40000, p::DNS, 1)
            .flush(secs(1), 0)
            .reply(N, 0, 0)
            .reply(N, 2, F_SYN | F_ACK),
    );
    add(
        "inbound_refresh",
        Script::new(REFRESH | ADF)
            .udp(N, 0, 0, p::P40000, p::DNS, 1)
            .time(x16s(12), FULL)
            .reply(N, 0, 0)
            .time(x16s(12), FULL)
            .reply(N, 1, 0)
            .time(x16s(12), FULL)
            .reply(N, 2, 0),
    );
    add(
        "wan_handoff_and_ports",
        Script::new(EIF)
            .udp(N, 0, 0, p::P40000, p::DNS, 1)
            .reply(N, 0, 0)
            .at_shard1()
            .udp(WAN, 0, 0, p::DNS, p::MIN, 1)
            .udp(WAN, 0, 1, p::DNS, p::BLOCK0_LAST, 1)
            .at_shard1()
            .udp(WAN, 0, 2, p::DNS, p::BLOCK1, 1)
            .udp(WAN, 0, 3, p::DNS, p::MAX, 1)
            .udp(WAN, 0, 3, p::DNS, p::MAX_PLUS_1, 1)
            .udp(WAN, 0, 3, p::DNS, p::BLOCKS_END, 1)
            .tcp(WAN, 0, 0, p::HTTP, p::ZERO, F_SYN)
            .udp(side::HAIRPIN, 0, 0, p::DNS, p::MIN, 1)
            .reply(side::HAIRPIN, 0, 0),
    );
    add(
        "martians_and_passes",
        Script::new(EIF)
            .udp(WAN, class(0, 0), 0, p::DNS, p::MIN, 1)
            .udp(WAN, class(2, 1), 0, p::DNS, p::MIN, 1)
            .udp(WAN, 0, class(1, 0), p::DNS, p::MIN, 1)
            .udp(LAN, class(1, 0), 0, p::DNS, p::MIN, 1)
            .udp(LAN, 0, class(0, 1), p::DNS, p::MIN, 1)
            .udp(LAN, 0, class(3, 0), p::DNS, p::MIN, 1),
    );
    // Literal address bytes follow the selector 0xf0.
    add(
        "literal_addresses",
        &Script {
            bytes: vec![
                EIF,
                kind::UDP,
                0xf0, // source: literal 100.100.0.1
                100,
                100,
                0,
                1,
                0,    // destination: remote 0
                0xf0, // source port: literal 40000
                0x9c,
                0x40,
                0xf0, // destination port: literal, read after the length byte
                4,    // payload length
                0x00,
                0x35,
                kind::REPLY,
                0,
                0,
                0,
            ],
            last_op: 0,
        },
    );
    add(
        "shaped",
        Script::new(EIF)
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .shaped(0x04 | 0x08)
            .reply(N, 0, 0)
            .shaped(0x04)
            .udp(N, 0, 0, p::P40001, p::DNS, 4)
            .shaped(0x40)
            .reply(N, 0, 0)
            .shaped(0x40)
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .shaped(1)
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .shaped(2)
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .shaped(0x10)
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .shaped(0x20 | 0x80)
            .tcp(N, 0, 0, p::P40000, p::HTTP, F_SYN)
            .shaped(0x04 | 3)
            .reply(N, 0, F_SYN | F_ACK)
            .shaped(1)
            .reply(N, 1, F_SYN | F_ACK)
            .shaped(0x04 | 0x08)
            .icmp_error(N, 0, 0, 3, 6, 0)
            .shaped(0x04),
    );
    add(
        "mutated",
        Script::new(EIF)
            .tcp(N, 0, 0, p::P40000, p::HTTP, F_SYN)
            .mutated(true, &[(47, 0x03)])
            .tcp(N, 0, 0, p::P40000, p::HTTP, F_SYN)
            .mutated(true, &[(46, 0x40)])
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .mutated(true, &[(39, 0x30)])
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .mutated(false, &[(14, 0x46)])
            .reply(N, 0, 0)
            .mutated(true, &[(23, 0x2f)])
            .echo(N, 0, 0, p::P40000, 1, 0)
            .mutated(true, &[(34, 13)])
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .icmp_error(N, 0, 0, 3, 6, 0)
            .mutated(true, &[(42, 0x46), (51, 6), (44, 0)]),
    );
    add(
        "bad_checksums_and_unknown_flows",
        Script::new(EIF)
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .mutated(false, &[(45, 0x55)])
            .tcp(N, 0, 0, p::P40000, p::HTTP, F_SYN)
            .mutated(false, &[(54, 0x55)])
            .echo(N, 0, 0, p::P40000, 1, 0)
            .mutated(false, &[(45, 0x55)])
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .icmp_error(N, 0, 0, 3, 0, 0)
            .mutated(false, &[(40, 0x55)])
            .icmp_error(N, 0, 0, 3, 0, 0)
            .mutated(true, &[(64, 0x55)])
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .mutated(true, &[(23, 47)])
            .udp(N, 0, 0, p::P40000, p::DNS, 4)
            .mutated(true, &[(23, 1)]),
    );
    add(
        "raw",
        Script::new(EIF)
            .raw(LAN, 0, &[0xff; 13])
            .raw(LAN, 0, &[0; 60])
            .raw(
                WAN,
                1,
                &[
                    0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 198, 51, 100, 1, 203, 0, 113, 0,
                ],
            )
            .raw(
                LAN,
                3,
                &[
                    0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 0, 1, 198, 51, 100, 1,
                    0x9c, 0x40, 0, 53, 0, 8, 1, 0,
                ],
            )
            .reply(N, 0, 0)
            .raw(
                LAN,
                3,
                &[
                    0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 0, 1, 198, 51, 100, 1,
                    0x9c, 0x40, 0, 53, 0, 9, 1, 0, 0xee,
                ],
            )
            .raw(
                WAN,
                3,
                &[
                    0x4f, 0, 0, 60, 0, 0, 0, 0, 64, 1, 0, 0, 198, 51, 100, 1, 203, 0, 113, 0,
                ],
            ),
    );
    // Address-only protocols: GRE, ESP, DCCP and protocol 0 made from a
    // UDP template, GRE replies from the WAN to every pool address,
    // fragments, an ICMP error about GRE, then the timers.
    let mut s = Script::new(EIF);
    s.udp(N, 0, 0, p::P40000, p::DNS, 4)
        .mutated(true, &[(23, 47)])
        .reply(N, 0, 0)
        .icmp_error(N, 0, 0, 3, 0, 0)
        .udp(N, 1, 0, p::P40000, p::DNS, 4)
        .mutated(true, &[(23, 47)])
        .udp(N, 0, 0, p::P40000, p::DNS, 4)
        .mutated(true, &[(23, 50)])
        .udp(N, 0, 1, p::P40000, p::DNS, 4)
        .mutated(true, &[(23, 33)])
        .reply(N, 0, 0)
        .udp(N, 0, 0, p::P40000, p::DNS, 4)
        .mutated(true, &[(23, 47), (20, 0x20)])
        .udp(N, 0, 0, p::P40000, p::DNS, 4)
        .mutated(true, &[(23, 47), (21, 0x02)])
        .udp(N, 2, 0, p::P40000, p::DNS, 4)
        .mutated(true, &[(23, 0)]);
    for ext in 0..4u8 {
        s.raw(
            WAN,
            3,
            &[
                0x45, 0, 0, 28, 0, 0, 0, 0, 64, 47, 0, 0, 198, 51, 100, 1, 203, 0, 113, ext, 0, 0,
                0x08, 0, 1, 2, 3, 4,
            ],
        );
    }
    s.time(ks(1), FULL);
    add("address_only", &s);
    add(
        "tiny_event_queue",
        Script::new(TINY_EVENTS | BS8)
            .udp(N, 0, 0, p::many(0), p::DNS, 1)
            .udp(N, 0, 0, p::many(2), p::DNS, 1)
            .udp(N, 0, 0, p::many(4), p::DNS, 1)
            .udp(N, 0, 0, p::many(6), p::DNS, 1)
            .udp(N, 0, 0, p::many(8), p::DNS, 1)
            .time(x16s(20), FULL)
            .time(x16s(20), FULL),
    );
    for (name, cfg) in [
        ("high_bs64", HIGH),
        ("high_bs16", HIGH | BS16),
        ("wide_bs2", WIDE | BS2),
    ] {
        let mut s = Script::new(cfg | ADF);
        for i in 0..6 {
            s.udp(N, i, 0, p::P40000, p::DNS, 1).reply(N, 0, 0);
            s.tcp(N, i, 0, p::P40001, p::HTTP, F_SYN)
                .reply(N, 0, F_SYN | F_ACK);
        }
        s.udp(WAN, 0, 0, p::DNS, p::MAX, 1)
            .udp(WAN, 0, 1, p::DNS, p::TOP, 1)
            .time(ks(1), FULL);
        add(&format!("ports_{name}"), &s);
    }
    // Cut into fragments both ways: 248 bytes out, 120 back, and sizes
    // around both MTUs.
    let mut s = Script::new(SMALL_MTU);
    s.udp(N, 0, 0, p::P40000, p::DNS, 31).reply(N, 0, 0xf0);
    for len in [7, 8, 9, 11, 12] {
        s.udp(N, 0, 0, p::P40000, p::DNS, len).reply(N, 0, len << 4);
    }
    add("fragmented_both_ways", &s);
    v
}

/// Named inputs of the views target: frames of every kind the core reads.
pub fn views() -> Vec<(String, Vec<u8>)> {
    let h = [192, 168, 0, 1];
    let r = [198, 51, 100, 1];
    let udp = frames::udp(From::Lan, h, 40000, r, 53, b"query");
    let tcp = frames::tcp(From::Lan, h, 40000, r, 80, SYN, b"");
    let mut v = vec![
        ("udp".to_string(), udp.clone()),
        ("tcp_syn".to_string(), tcp.clone()),
        (
            "tcp_synack".to_string(),
            frames::tcp(From::Wan, r, 80, h, 40000, SYN_ACK, b"data"),
        ),
        (
            "tcp_fin".to_string(),
            frames::tcp(From::Wan, r, 80, h, 40000, FIN_ACK, b""),
        ),
        (
            "tcp_ack".to_string(),
            frames::tcp(From::Wan, r, 80, h, 40000, ACK, b"x"),
        ),
        (
            "echo".to_string(),
            frames::echo(From::Lan, h, r, 7, 1, true),
        ),
        (
            "icmp_error_udp".to_string(),
            frames::icmp_error(From::Wan, r, h, 3, 3, &udp, 8),
        ),
        (
            "icmp_error_tcp_full".to_string(),
            frames::icmp_error(From::Wan, r, h, 11, 0, &tcp, 1500),
        ),
        ("ip_only".to_string(), udp[14..].to_vec()),
        ("short".to_string(), udp[..20].to_vec()),
    ];
    let mut opt = udp.clone();
    super::shape(&mut opt, 0x04 | 0x08 | 0x10);
    v.push(("udp_options_padding_mf".to_string(), opt));
    let mut bad = tcp.clone();
    bad[46] = 0xf0; // data offset past the segment
    v.push(("tcp_bad_offset".to_string(), bad));
    let mut bad = udp;
    bad[38] = 0xff; // UDP length past the datagram
    v.push(("udp_bad_length".to_string(), bad));
    v
}
