//! Table-driven behaviour of the core: frame in, verdict and frame out.

use masq_core::{Config, DropReason, Filtering, Side, Verdict};
use masq_tests::check::{checksums, seen};
use masq_tests::frames::{
    self, From, ACK, FIN_ACK, GW_MAC, HOST_MAC, LAN_MAC, RST, SYN, SYN_ACK, WAN_MAC,
};
use masq_tests::harness::Nat;

const H1: [u8; 4] = [192, 168, 1, 10];
const H2: [u8; 4] = [192, 168, 1, 11];
const R: [u8; 4] = [198, 51, 100, 1];
const R2: [u8; 4] = [198, 51, 100, 2];

fn cfg() -> Config {
    Config {
        inside: vec![
            "192.168.0.0/16".parse().unwrap(),
            "100.64.0.0/10".parse().unwrap(),
        ],
        pool: vec!["203.0.113.0/29".parse().unwrap()],
        max_sessions: 4096,
        max_subscribers: 256,
        event_queue: 4096,
        ..Config::default()
    }
}

fn in_pool(a: [u8; 4]) -> bool {
    a[0] == 203 && a[1] == 0 && a[2] == 113 && a[3] < 8
}

/// Sends an outbound UDP datagram and returns what left the WAN side.
fn udp_out(
    nat: &mut Nat,
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
) -> masq_tests::check::Seen {
    let mut f = frames::udp(From::Lan, src, sport, dst, dport, b"hello");
    assert_eq!(nat.send(&mut f, Side::Lan), Verdict::ToWan);
    checksums(&f).unwrap();
    seen(&f)
}

#[test]
fn outbound_udp_is_translated_and_the_reply_comes_back() {
    let mut nat = Nat::new(&cfg());
    let mut f = frames::udp(From::Lan, H1, 40000, R, 53, b"query");
    assert_eq!(nat.send(&mut f, Side::Lan), Verdict::ToWan);
    checksums(&f).unwrap();
    let out = seen(&f);
    assert!(in_pool(out.src), "{:?}", out.src);
    assert_eq!(out.dst, R);
    assert_eq!(out.dport, 53);
    assert!(out.sport >= 1024);
    assert_eq!(out.sport % 2, 40000 % 2, "port parity kept");
    assert_eq!(out.ttl, frames::TTL - 1);
    assert_eq!((out.src_mac, out.dst_mac), (WAN_MAC, GW_MAC));
    assert_eq!(&f[f.len() - 5..], b"query", "payload untouched");

    let mut r = frames::udp(From::Wan, R, 53, out.src, out.sport, b"answer");
    assert_eq!(nat.send(&mut r, Side::Wan), Verdict::ToLan);
    checksums(&r).unwrap();
    let back = seen(&r);
    assert_eq!(
        (back.src, back.sport, back.dst, back.dport),
        (R, 53, H1, 40000)
    );
    assert_eq!(
        (back.src_mac, back.dst_mac),
        (LAN_MAC, HOST_MAC),
        "LAN next hop learnt from the host's frames"
    );
    assert_eq!(nat.sessions(), 1);
}

#[test]
fn frames_not_for_the_nat_pass_to_the_kernel() {
    let mut nat = Nat::new(&cfg());
    let mut arp = vec![0xffu8; 42];
    arp[12] = 0x08;
    arp[13] = 0x06;
    let cases: Vec<(&str, Vec<u8>, Side)> = vec![
        ("ARP", arp, Side::Lan),
        (
            "LAN source outside the inside prefixes",
            frames::udp(From::Lan, [10, 9, 9, 9], 1, R, 53, b""),
            Side::Lan,
        ),
        (
            "LAN to LAN",
            frames::udp(From::Lan, H1, 1, H2, 53, b""),
            Side::Lan,
        ),
        (
            "WAN to a non-pool address",
            frames::udp(From::Wan, R, 53, [203, 0, 113, 200], 4000, b""),
            Side::Wan,
        ),
        (
            "WAN to a pool address below the NAT ports",
            frames::tcp(From::Wan, R, 5555, [203, 0, 113, 1], 22, SYN, b""),
            Side::Wan,
        ),
        (
            "echo request to a pool address",
            frames::echo(From::Wan, R, [203, 0, 113, 1], 7, 1, true),
            Side::Wan,
        ),
        (
            "ping from inside to a pool address",
            frames::echo(From::Lan, H1, [203, 0, 113, 1], 7, 1, true),
            Side::Lan,
        ),
        (
            "WAN GRE to a pool address",
            gre(From::Wan, R, [203, 0, 113, 1]),
            Side::Wan,
        ),
        (
            "LAN to the limited broadcast",
            frames::udp(From::Lan, H1, 68, [255, 255, 255, 255], 67, b""),
            Side::Lan,
        ),
        (
            "LAN to a multicast group",
            frames::udp(From::Lan, H1, 5353, [224, 0, 0, 251], 5353, b""),
            Side::Lan,
        ),
        (
            "LAN unicast in an Ethernet broadcast",
            edited(frames::udp(From::Lan, H1, 1, R, 53, b""), |f| {
                f[..6].copy_from_slice(&[0xff; 6])
            }),
            Side::Lan,
        ),
        (
            "WAN to a NAT port in an Ethernet multicast",
            edited(
                frames::udp(From::Wan, R, 53, [203, 0, 113, 1], 4000, b""),
                |f| f[..6].copy_from_slice(&[1, 0, 0x5e, 0, 0, 1]),
            ),
            Side::Wan,
        ),
    ];
    for (name, mut f, side) in cases {
        let before = f.clone();
        assert_eq!(nat.send(&mut f, side), Verdict::Pass, "{name}");
        assert_eq!(f, before, "{name}: a passed frame is not modified");
    }
    assert_eq!(nat.sessions(), 0);
}

/// `f` after `edit`.
fn edited(mut f: Vec<u8>, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit(&mut f);
    f
}

/// `f` with `opts` (a multiple of 4 bytes) as its IPv4 options.
fn with_options(f: Vec<u8>, opts: &[u8]) -> Vec<u8> {
    let mut g = f[..34].to_vec();
    g.extend_from_slice(opts);
    g.extend_from_slice(&f[34..]);
    g[14] = 0x45 + (opts.len() / 4) as u8;
    let tl = (g.len() - 14) as u16;
    g[16..18].copy_from_slice(&tl.to_be_bytes());
    frames::refill_ip_checksum(&mut g);
    g
}

fn gre(from: From, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut f = frames::udp(from, src, 1, dst, 2, b"");
    f[23] = 47;
    frames::refill_ip_checksum(&mut f);
    f
}

#[test]
fn bad_frames_are_dropped_with_their_reason() {
    let good = || frames::udp(From::Lan, H1, 40000, R, 53, b"hello");
    let cases: Vec<(&str, Vec<u8>, Side, DropReason)> = vec![
        ("runt", vec![0u8; 10], Side::Lan, DropReason::Truncated),
        (
            "IPv4 header cut",
            good()[..30].to_vec(),
            Side::Lan,
            DropReason::Truncated,
        ),
        (
            "IHL 4",
            edited(good(), |f| f[14] = 0x44),
            Side::Lan,
            DropReason::BadIpHeader,
        ),
        (
            "version 6",
            edited(good(), |f| f[14] = 0x65),
            Side::Lan,
            DropReason::BadIpHeader,
        ),
        (
            "total length past the frame",
            edited(good(), |f| {
                f[17] = 200;
                frames::refill_ip_checksum(f);
            }),
            Side::Lan,
            DropReason::BadIpHeader,
        ),
        (
            "bad header checksum",
            edited(good(), |f| f[24] ^= 0xff),
            Side::Lan,
            DropReason::BadIpChecksum,
        ),
        (
            "UDP length past the datagram",
            edited(good(), |f| f[39] = 200),
            Side::Lan,
            DropReason::BadL4Header,
        ),
        (
            "UDP checksum wrong",
            edited(good(), |f| f[41] ^= 1),
            Side::Lan,
            DropReason::BadL4Checksum,
        ),
        (
            "TCP data offset too big",
            edited(frames::tcp(From::Lan, H1, 40000, R, 80, SYN, b""), |f| {
                f[46] = 0xf0
            }),
            Side::Lan,
            DropReason::BadL4Header,
        ),
        (
            "first fragment of an outbound ICMP error",
            edited(frames::echo(From::Lan, H1, R, 1, 1, true), |f| {
                f[34] = 3;
                f[20] = 0x20;
                frames::refill_ip_checksum(f);
            }),
            Side::Lan,
            DropReason::BadFragment,
        ),
        (
            "IP option of length 0",
            with_options(good(), &[0x44, 0, 0, 0]),
            Side::Lan,
            DropReason::BadIpOptions,
        ),
        (
            "IP option longer than the header",
            with_options(good(), &[1, 7, 12, 4]),
            Side::Lan,
            DropReason::BadIpOptions,
        ),
        (
            "IP option with no length byte",
            with_options(good(), &[1, 1, 1, 7]),
            Side::Lan,
            DropReason::BadIpOptions,
        ),
        (
            "fragment ending past 65535 bytes",
            edited(
                frames::fragments(
                    &frames::udp(From::Lan, H1, 40000, R, 53, b"sixteen bytes..."),
                    8,
                    7,
                )[1]
                .clone(),
                |f| {
                    f[20] = 0x1f;
                    f[21] = 0xff;
                    frames::refill_ip_checksum(f);
                },
            ),
            Side::Lan,
            DropReason::BadFragment,
        ),
        (
            "TCP fragment at offset 8 (RFC 1858)",
            edited(
                frames::fragments(
                    &frames::tcp(From::Lan, H1, 40000, R, 80, SYN, b"data"),
                    8,
                    9,
                )[1]
                .clone(),
                |f| {
                    f[20] = 0x20;
                    f[21] = 1;
                    frames::refill_ip_checksum(f);
                },
            ),
            Side::Lan,
            DropReason::BadFragment,
        ),
        (
            "LAN to 127.0.0.1",
            frames::udp(From::Lan, H1, 40000, [127, 0, 0, 1], 53, b""),
            Side::Lan,
            DropReason::MartianDestination,
        ),
        (
            "LAN to 0.1.2.3",
            frames::udp(From::Lan, H1, 40000, [0, 1, 2, 3], 53, b""),
            Side::Lan,
            DropReason::MartianDestination,
        ),
        (
            "LAN to 240.0.0.1",
            frames::udp(From::Lan, H1, 40000, [240, 0, 0, 1], 53, b""),
            Side::Lan,
            DropReason::MartianDestination,
        ),
        (
            "TTL 1",
            frames::with_ttl(good(), 1),
            Side::Lan,
            DropReason::TtlExpired,
        ),
        (
            "TTL 0",
            frames::with_ttl(good(), 0),
            Side::Lan,
            DropReason::TtlExpired,
        ),
        (
            "outbound IP protocol 0",
            edited(gre(From::Lan, H1, R), |f| {
                f[23] = 0;
                frames::refill_ip_checksum(f);
            }),
            Side::Lan,
            DropReason::UnsupportedProtocol,
        ),
        (
            "outbound timestamp request",
            edited(frames::echo(From::Lan, H1, R, 1, 1, true), |f| f[34] = 13),
            Side::Lan,
            DropReason::IcmpUnsupported,
        ),
        (
            "TCP ACK with no session",
            frames::tcp(From::Lan, H1, 40000, R, 80, ACK, b""),
            Side::Lan,
            DropReason::TcpNotSyn,
        ),
        (
            "WAN source inside",
            frames::udp(From::Wan, H2, 53, [203, 0, 113, 1], 4000, b""),
            Side::Wan,
            DropReason::MartianSource,
        ),
        (
            "WAN source in the pool",
            frames::udp(From::Wan, [203, 0, 113, 2], 53, [203, 0, 113, 1], 4000, b""),
            Side::Wan,
            DropReason::MartianSource,
        ),
        (
            "unsolicited WAN UDP",
            frames::udp(From::Wan, R, 53, [203, 0, 113, 1], 4000, b""),
            Side::Wan,
            DropReason::NoMapping,
        ),
        (
            "unsolicited WAN SYN",
            frames::tcp(From::Wan, R, 5555, [203, 0, 113, 1], 4000, SYN, b""),
            Side::Wan,
            DropReason::NoMapping,
        ),
        (
            "unsolicited echo reply",
            frames::echo(From::Wan, R, [203, 0, 113, 1], 4000, 1, false),
            Side::Wan,
            DropReason::NoMapping,
        ),
    ];
    for (name, mut f, side, reason) in cases {
        let mut nat = Nat::new(&cfg());
        assert_eq!(nat.send(&mut f, side), Verdict::Drop(reason), "{name}");
        assert_eq!(
            nat.drops(reason),
            1,
            "{name}: counted under {}",
            reason.name()
        );
        assert_eq!(nat.sessions(), 0, "{name}");
    }
}

#[test]
fn ip_options_and_zero_udp_checksum_are_kept() {
    let mut nat = Nat::new(&cfg());
    // Rebuild a UDP frame with a 4-byte option (IHL 6).
    let plain = frames::udp(From::Lan, H1, 40001, R, 9, b"opts");
    let mut f = plain[..34].to_vec();
    f.extend_from_slice(&[1, 1, 1, 0]);
    f.extend_from_slice(&plain[34..]);
    f[14] = 0x46;
    let tl = u16::from_be_bytes([f[16], f[17]]) + 4;
    f[16..18].copy_from_slice(&tl.to_be_bytes());
    frames::refill_ip_checksum(&mut f);
    checksums(&f).unwrap();
    assert_eq!(nat.send(&mut f, Side::Lan), Verdict::ToWan);
    checksums(&f).unwrap();
    assert_eq!(&f[34..38], &[1, 1, 1, 0]);
    // Well-formed options pass whole: router alert, record route.
    for opts in [&[0x94, 4, 0, 0][..], &[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]] {
        let mut g = with_options(frames::udp(From::Lan, H1, 40003, R, 9, b"o"), opts);
        assert_eq!(nat.send(&mut g, Side::Lan), Verdict::ToWan, "{opts:?}");
        checksums(&g).unwrap();
        assert_eq!(&g[34..34 + opts.len()], opts);
    }

    let mut z = frames::udp(From::Lan, H1, 40002, R, 9, b"nocsum");
    z[40] = 0;
    z[41] = 0;
    assert_eq!(nat.send(&mut z, Side::Lan), Verdict::ToWan);
    assert_eq!(&z[40..42], &[0, 0], "UDP checksum 0 stays 0");
    let out = seen(&z);
    let mut r = frames::udp(From::Wan, R, 9, out.src, out.sport, b"back");
    r[40] = 0;
    r[41] = 0;
    assert_eq!(nat.send(&mut r, Side::Wan), Verdict::ToLan);
    assert_eq!(&r[40..42], &[0, 0]);
    assert_eq!(seen(&r).dport, 40002);
}

#[test]
fn mapping_is_endpoint_independent_and_pooling_paired() {
    let mut c = cfg();
    c.block_size = 64;
    let mut nat = Nat::new(&c);
    let a = udp_out(&mut nat, H1, 5000, R, 53);
    let b = udp_out(&mut nat, H1, 5000, R2, 53);
    let d = udp_out(&mut nat, H1, 5000, R, 54);
    assert_eq!(
        (a.src, a.sport),
        (b.src, b.sport),
        "same inside endpoint, other remote: same mapping"
    );
    assert_eq!((a.src, a.sport), (d.src, d.sport));
    let e = udp_out(&mut nat, H1, 5001, R, 53);
    assert_ne!(a.sport, e.sport);
    let t = {
        let mut f = frames::tcp(From::Lan, H1, 5000, R, 80, SYN, b"");
        assert_eq!(nat.send(&mut f, Side::Lan), Verdict::ToWan);
        seen(&f)
    };
    assert_eq!(
        t.src, a.src,
        "TCP of the same subscriber uses the same address"
    );
    // 200 flows need several 64-port blocks: all on the same address.
    let mut addrs = std::collections::HashSet::new();
    for p in 0..200u16 {
        let o = udp_out(&mut nat, H1, 10000 + p, R, 53);
        assert_eq!(o.sport % 2, p % 2, "parity");
        addrs.insert(o.src);
    }
    assert_eq!(addrs.len(), 1, "paired pooling: {addrs:?}");
    // Another subscriber: its own mapping.
    let h2 = udp_out(&mut nat, H2, 5000, R, 53);
    assert_ne!((h2.src, h2.sport), (a.src, a.sport));
}

fn filtering_case(mode: Filtering, from: [u8; 4], sport: u16) -> Verdict {
    let mut c = cfg();
    c.filtering = mode;
    let mut nat = Nat::new(&c);
    let out = udp_out(&mut nat, H1, 6000, R, 3478);
    let mut f = frames::udp(From::Wan, from, sport, out.src, out.sport, b"in");
    let v = nat.send(&mut f, Side::Wan);
    if v == Verdict::ToLan {
        checksums(&f).unwrap();
        let s = seen(&f);
        assert_eq!((s.dst, s.dport, s.src, s.sport), (H1, 6000, from, sport));
    }
    v
}

#[test]
fn filtering_modes() {
    use Filtering::*;
    let filtered = Verdict::Drop(DropReason::Filtered);
    let cases = [
        (EndpointIndependent, R, 3478, Verdict::ToLan),
        (EndpointIndependent, R, 9999, Verdict::ToLan),
        (EndpointIndependent, R2, 9999, Verdict::ToLan),
        (AddressDependent, R, 3478, Verdict::ToLan),
        (AddressDependent, R, 9999, Verdict::ToLan),
        (AddressDependent, R2, 3478, filtered),
        (AddressAndPortDependent, R, 3478, Verdict::ToLan),
        (AddressAndPortDependent, R, 9999, filtered),
        (AddressAndPortDependent, R2, 3478, filtered),
    ];
    for (mode, from, sport, want) in cases {
        assert_eq!(
            filtering_case(mode, from, sport),
            want,
            "{mode:?} from {from:?}:{sport}"
        );
    }
}

#[test]
fn tcp_handshake_inbound_syn_and_state_checks() {
    let mut nat = Nat::new(&cfg());
    let mut syn = frames::tcp(From::Lan, H1, 41000, R, 443, SYN, b"");
    assert_eq!(nat.send(&mut syn, Side::Lan), Verdict::ToWan);
    checksums(&syn).unwrap();
    let o = seen(&syn);
    let mut sa = frames::tcp(From::Wan, R, 443, o.src, o.sport, SYN_ACK, b"");
    assert_eq!(nat.send(&mut sa, Side::Wan), Verdict::ToLan);
    checksums(&sa).unwrap();
    let mut data = frames::tcp(From::Lan, H1, 41000, R, 443, ACK, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(nat.send(&mut data, Side::Lan), Verdict::ToWan);
    checksums(&data).unwrap();
    let st: Vec<_> = nat.shards[0].sessions().map(|s| s.tcp).collect();
    assert_eq!(st, vec![Some(masq_core::TcpState::Established)]);

    // EIF: a SYN from another host to the mapping opens a session; an ACK
    // from a third host does not.
    let mut s2 = frames::tcp(From::Wan, R2, 5000, o.src, o.sport, SYN, b"");
    assert_eq!(nat.send(&mut s2, Side::Wan), Verdict::ToLan);
    assert_eq!(seen(&s2).dst, H1);
    let mut a3 = frames::tcp(From::Wan, [198, 51, 100, 3], 5000, o.src, o.sport, ACK, b"");
    assert_eq!(
        nat.send(&mut a3, Side::Wan),
        Verdict::Drop(DropReason::TcpNotSyn)
    );
    assert_eq!(nat.sessions(), 2);
}

#[test]
fn icmp_echo_identifier_is_mapped() {
    let mut nat = Nat::new(&cfg());
    let mut q = frames::echo(From::Lan, H1, R, 0x1234, 1, true);
    assert_eq!(nat.send(&mut q, Side::Lan), Verdict::ToWan);
    checksums(&q).unwrap();
    let o = seen(&q);
    assert!(in_pool(o.src));
    let mut q2 = frames::echo(From::Lan, H2, R, 0x1234, 1, true);
    assert_eq!(nat.send(&mut q2, Side::Lan), Verdict::ToWan);
    let o2 = seen(&q2);
    assert_ne!(
        (o.src, o.sport),
        (o2.src, o2.sport),
        "two hosts with the same id get distinct ids or addresses"
    );
    let mut r = frames::echo(From::Wan, R, o.src, o.sport, 1, false);
    assert_eq!(nat.send(&mut r, Side::Wan), Verdict::ToLan);
    checksums(&r).unwrap();
    let b = seen(&r);
    assert_eq!((b.dst, b.dport, b.icmp_type), (H1, 0x1234, 0));
    // A reply from a host the query did not go to is refused.
    let mut x = frames::echo(From::Wan, R2, o.src, o.sport, 1, false);
    assert_eq!(
        nat.send(&mut x, Side::Wan),
        Verdict::Drop(DropReason::Filtered)
    );
}

#[test]
fn icmp_errors_are_translated_back() {
    // (what the embedded packet is, ICMP type, code, bytes of it kept)
    let cases: [(&str, u8, u8, usize); 5] = [
        ("udp", 3, 3, 8),
        ("udp", 3, 4, 8),
        ("tcp", 11, 0, 20),
        ("tcp", 12, 0, 8),
        ("echo", 11, 0, 8),
    ];
    for (kind, ty, code, keep) in cases {
        let mut nat = Nat::new(&cfg());
        let mut out = match kind {
            "udp" => frames::udp(From::Lan, H1, 42000, R, 33434, b"probe"),
            "tcp" => frames::tcp(From::Lan, H1, 42000, R, 80, SYN, b""),
            _ => frames::echo(From::Lan, H1, R, 0x4242, 1, true),
        };
        assert_eq!(nat.send(&mut out, Side::Lan), Verdict::ToWan, "{kind}");
        let o = seen(&out);
        let router = [198, 51, 100, 254];
        let mut err = frames::icmp_error(From::Wan, router, o.src, ty, code, &out, keep);
        checksums(&err).unwrap();
        let expires_before: Vec<_> = nat.shards[0].sessions().map(|s| s.expires).collect();
        nat.now = masq_core::Time::from_secs(30);
        assert_eq!(
            nat.send(&mut err, Side::Wan),
            Verdict::ToLan,
            "{kind} {ty}/{code}"
        );
        checksums(&err).unwrap_or_else(|e| panic!("{kind} {ty}/{code}: {e}"));
        let s = seen(&err);
        assert_eq!((s.src, s.dst, s.icmp_type), (router, H1, ty));
        assert_eq!(err[35], code, "code unchanged");
        let (isrc, isport, idst, idport, _) = masq_tests::check::embedded(&err);
        let want_port = if kind == "echo" { 0x4242 } else { 42000 };
        assert_eq!(
            (isrc, isport, idst),
            (H1, want_port, R),
            "{kind}: embedded source restored"
        );
        if kind != "echo" {
            assert_eq!(idport, o.dport);
        }
        let expires_after: Vec<_> = nat.shards[0].sessions().map(|s| s.expires).collect();
        assert_eq!(
            expires_before, expires_after,
            "an ICMP error does not refresh"
        );
    }
}

#[test]
fn icmp_error_edge_cases() {
    let mut nat = Nat::new(&cfg());
    let mut out = frames::udp(From::Lan, H1, 42000, R, 33434, b"probe");
    assert_eq!(nat.send(&mut out, Side::Lan), Verdict::ToWan);
    let o = seen(&out);
    let mut bad = frames::icmp_error(From::Wan, R, o.src, 3, 3, &out, 8);
    bad[36] ^= 0x55; // ICMP checksum
    assert_eq!(
        nat.send(&mut bad, Side::Wan),
        Verdict::Drop(DropReason::BadIcmpChecksum)
    );
    let mut stray = {
        // An error about a flow to R2 that never left.
        let mut t = frames::udp(From::Lan, H1, 42000, R2, 1, b"x");
        t[26..30].copy_from_slice(&o.src);
        frames::refill_ip_checksum(&mut t);
        frames::icmp_error(From::Wan, R2, o.src, 3, 3, &t, 8)
    };
    assert_eq!(
        nat.send(&mut stray, Side::Wan),
        Verdict::Drop(DropReason::IcmpErrorNoSession)
    );
    let mut short = frames::icmp_error(From::Wan, R, o.src, 3, 3, &out, 4);
    assert_eq!(
        nat.send(&mut short, Side::Wan),
        Verdict::Drop(DropReason::IcmpErrorMalformed)
    );
    assert_eq!(
        nat.sessions(),
        1,
        "errors neither create nor delete sessions"
    );
}

#[test]
fn icmp_error_from_inside_is_translated_out() {
    let mut nat = Nat::new(&cfg());
    let o = udp_out(&mut nat, H1, 43000, R, 5000);
    // R answers; the reply reaches H1, which reports port unreachable.
    let mut r = frames::udp(From::Wan, R, 5000, o.src, o.sport, b"late");
    assert_eq!(nat.send(&mut r, Side::Wan), Verdict::ToLan);
    let mut err = frames::icmp_error(From::Lan, H1, R, 3, 3, &r, 8);
    let expires: Vec<_> = nat.shards[0].sessions().map(|s| s.expires).collect();
    nat.now = masq_core::Time::from_secs(100);
    assert_eq!(nat.send(&mut err, Side::Lan), Verdict::ToWan);
    let after: Vec<_> = nat.shards[0].sessions().map(|s| s.expires).collect();
    assert_eq!(expires, after, "an outbound ICMP error does not refresh");
    checksums(&err).unwrap();
    let s = seen(&err);
    assert_eq!((s.src, s.dst), (o.src, R));
    let (isrc, isport, idst, idport, _) = masq_tests::check::embedded(&err);
    assert_eq!(
        (isrc, isport, idst, idport),
        (R, 5000, o.src, o.sport),
        "embedded destination is the mapping"
    );
}

#[test]
fn hairpinning_on_one_and_two_shards() {
    for shards in [1u16, 2, 4] {
        let mut c = cfg();
        c.workers = shards;
        let mut nat = Nat::new(&c);
        // B opens a mapping; A sends to B's external endpoint.
        let hb = [100, 64, 0, 7];
        let ha = [100, 64, 0, 9];
        let mut fb = frames::udp(From::Lan, hb, 7000, R, 3478, b"stun");
        let owner_b = masq_core::subscriber_owner(u32::from_be_bytes(hb), shards);
        assert_eq!(nat.send_to(owner_b, &mut fb, Side::Lan), Verdict::ToWan);
        let b = seen(&fb);
        let mut fa = frames::udp(From::Lan, ha, 8000, b.src, b.sport, b"hi B");
        let owner_a = masq_core::subscriber_owner(u32::from_be_bytes(ha), shards);
        assert_eq!(
            nat.send_to(owner_a, &mut fa, Side::Lan),
            Verdict::ToLan,
            "{shards} shards"
        );
        checksums(&fa).unwrap();
        let got = seen(&fa);
        assert_eq!((got.dst, got.dport), (hb, 7000), "B receives it");
        assert!(
            in_pool(got.src),
            "B sees A's external address, not its inside one"
        );
        assert_eq!(got.ttl, frames::TTL - 1, "one hop");
        // B answers A's external endpoint: back through the hairpin.
        let mut back = frames::udp(From::Lan, hb, 7000, got.src, got.sport, b"hi A");
        assert_eq!(nat.send_to(owner_b, &mut back, Side::Lan), Verdict::ToLan);
        let s = seen(&back);
        assert_eq!((s.dst, s.dport, s.src, s.sport), (ha, 8000, b.src, b.sport));
    }
}

#[test]
fn hand_off_goes_to_the_owner() {
    let mut c = cfg();
    c.workers = 2;
    let mut nat = Nat::new(&c);
    let host = (0..255u8)
        .map(|i| [100, 64, 1, i])
        .find(|a| masq_core::subscriber_owner(u32::from_be_bytes(*a), 2) == 1)
        .unwrap();
    let mut f = frames::udp(From::Lan, host, 9000, R, 53, b"q");
    let before = f.clone();
    assert_eq!(
        nat.shards[0].process(&mut f, Side::Lan, nat.now),
        Verdict::HandOff {
            shard: 1,
            side: Side::Lan
        }
    );
    assert_eq!(f, before, "handed off unchanged");
    assert_eq!(
        nat.shards[1].process(&mut f, Side::Lan, nat.now),
        Verdict::ToWan
    );
    let o = seen(&f);
    let map = nat.shards[1].block_map();
    assert_eq!(
        map.owner(o.sport),
        Some(1),
        "the owner allocates from its own blocks"
    );
    let mut r = frames::udp(From::Wan, R, 53, o.src, o.sport, b"a");
    assert_eq!(
        nat.shards[0].process(&mut r, Side::Wan, nat.now),
        Verdict::HandOff {
            shard: 1,
            side: Side::Wan
        }
    );
    assert_eq!(
        nat.shards[1].process(&mut r, Side::Wan, nat.now),
        Verdict::ToLan
    );
}

#[test]
fn limits_refuse_new_flows_and_keep_old_ones() {
    let mut c = cfg();
    c.limits.sessions_per_subscriber = 3;
    let mut nat = Nat::new(&c);
    for p in 0..3 {
        udp_out(&mut nat, H1, 100 + p, R, 53);
    }
    let mut f = frames::udp(From::Lan, H1, 200, R, 53, b"");
    assert_eq!(
        nat.send(&mut f, Side::Lan),
        Verdict::Drop(DropReason::SessionLimit)
    );
    udp_out(&mut nat, H1, 100, R, 53); // existing flows still pass
    udp_out(&mut nat, H2, 100, R, 53); // other subscribers are not affected

    let mut c = cfg();
    c.block_size = 2;
    c.limits.blocks_per_subscriber = 2;
    let mut nat = Nat::new(&c);
    // Two blocks of two ports: two even and two odd inside ports fit.
    for p in [10u16, 12, 11, 13] {
        udp_out(&mut nat, H1, p, R, 53);
    }
    let mut f = frames::udp(From::Lan, H1, 14, R, 53, b"");
    assert_eq!(
        nat.send(&mut f, Side::Lan),
        Verdict::Drop(DropReason::PortsExhausted)
    );

    let mut c = cfg();
    c.pool = vec!["203.0.113.1/32".parse().unwrap()];
    c.block_size = 32256; // two blocks per address
    c.limits.blocks_per_subscriber = 1;
    let mut nat = Nat::new(&c);
    udp_out(&mut nat, [192, 168, 2, 1], 10, R, 53);
    udp_out(&mut nat, [192, 168, 2, 2], 10, R, 53);
    let mut f = frames::udp(From::Lan, [192, 168, 2, 3], 10, R, 53, b"");
    assert_eq!(
        nat.send(&mut f, Side::Lan),
        Verdict::Drop(DropReason::PoolExhausted)
    );
    assert_eq!(
        nat.shards[0].subscriber_count(),
        2,
        "the refused subscriber holds nothing"
    );

    let mut c = cfg();
    c.max_sessions = 4;
    let mut nat = Nat::new(&c);
    for p in 0..4 {
        udp_out(&mut nat, H1, 100 + p, R, 53);
    }
    let mut f = frames::udp(From::Lan, H2, 100, R, 53, b"");
    assert_eq!(
        nat.send(&mut f, Side::Lan),
        Verdict::Drop(DropReason::SessionTableFull)
    );
    assert_eq!(nat.sessions(), 4, "nothing evicted");

    let mut c = cfg();
    c.max_subscribers = 1;
    let mut nat = Nat::new(&c);
    udp_out(&mut nat, H1, 100, R, 53);
    let mut f = frames::udp(From::Lan, H2, 100, R, 53, b"");
    assert_eq!(
        nat.send(&mut f, Side::Lan),
        Verdict::Drop(DropReason::SubscriberTableFull)
    );
}

#[test]
fn tcp_fin_and_rst_change_state() {
    use masq_core::TcpState::*;
    let steps: [(&str, From, masq_tests::frames::Flags, masq_core::TcpState); 6] = [
        ("syn", From::Lan, SYN, SynOut),
        ("syn-ack", From::Wan, SYN_ACK, Established),
        ("fin out", From::Lan, FIN_ACK, FinOut),
        ("fin in", From::Wan, FIN_ACK, FinBoth),
        ("ack", From::Lan, ACK, FinBoth),
        ("rst", From::Wan, RST, Reset),
    ];
    let mut nat = Nat::new(&cfg());
    let mut ext = None;
    for (name, from, flags, want) in steps {
        let mut f = match (from, ext) {
            (From::Lan, _) => frames::tcp(From::Lan, H1, 44000, R, 80, flags, b""),
            (From::Wan, Some((a, p))) => frames::tcp(From::Wan, R, 80, a, p, flags, b""),
            (From::Wan, None) => unreachable!(),
        };
        let side = if from == From::Lan {
            Side::Lan
        } else {
            Side::Wan
        };
        let v = nat.send(&mut f, side);
        assert!(
            matches!(v, Verdict::ToLan | Verdict::ToWan),
            "{name}: {v:?}"
        );
        checksums(&f).unwrap();
        if ext.is_none() {
            let s = seen(&f);
            ext = Some((s.src, s.sport));
        }
        let st: Vec<_> = nat.shards[0].sessions().map(|s| s.tcp).collect();
        assert_eq!(st, vec![Some(want)], "after {name}");
    }
}

#[test]
fn tcp_mapping_is_endpoint_independent_and_hairpins() {
    let mut nat = Nat::new(&cfg());
    let open = |nat: &mut Nat, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16| {
        let mut f = frames::tcp(From::Lan, src, sport, dst, dport, SYN, b"");
        let v = nat.send(&mut f, Side::Lan);
        (v, f)
    };
    let (v, a) = open(&mut nat, H1, 45000, R, 80);
    assert_eq!(v, Verdict::ToWan);
    let (v, b) = open(&mut nat, H1, 45000, R2, 443);
    assert_eq!(v, Verdict::ToWan);
    let (a, b) = (seen(&a), seen(&b));
    assert_eq!(
        (a.src, a.sport),
        (b.src, b.sport),
        "one TCP mapping for every destination"
    );
    // H2 connects to H1's external endpoint: the SYN hairpins to H1.
    let (v, h) = open(&mut nat, H2, 46000, a.src, a.sport);
    assert_eq!(v, Verdict::ToLan);
    checksums(&h).unwrap();
    let h = seen(&h);
    assert_eq!((h.dst, h.dport), (H1, 45000));
    assert!(in_pool(h.src));
}

#[test]
fn icmp_query_mapping_is_shared_across_remote_hosts() {
    let mut nat = Nat::new(&cfg());
    let mut q1 = frames::echo(From::Lan, H1, R, 0x77, 1, true);
    let mut q2 = frames::echo(From::Lan, H1, R2, 0x77, 1, true);
    assert_eq!(nat.send(&mut q1, Side::Lan), Verdict::ToWan);
    assert_eq!(nat.send(&mut q2, Side::Lan), Verdict::ToWan);
    let (a, b) = (seen(&q1), seen(&q2));
    assert_eq!(
        (a.src, a.sport),
        (b.src, b.sport),
        "same identifier mapping for both hosts"
    );
    for (host, q) in [(R, a), (R2, b)] {
        let mut r = frames::echo(From::Wan, host, q.src, q.sport, 1, false);
        assert_eq!(nat.send(&mut r, Side::Wan), Verdict::ToLan);
        assert_eq!(seen(&r).dport, 0x77);
    }
}

#[test]
fn outbound_icmp_error_about_an_unknown_flow_is_dropped() {
    let mut nat = Nat::new(&cfg());
    // H1 reports an error about a datagram that never crossed the NAT.
    let stray = frames::udp(From::Wan, R, 5000, H1, 6000, b"x");
    let mut err = frames::icmp_error(From::Lan, H1, R, 3, 3, &stray, 8);
    assert_eq!(
        nat.send(&mut err, Side::Lan),
        Verdict::Drop(DropReason::IcmpErrorNoSession)
    );
    assert_eq!(nat.sessions(), 0);
}

#[test]
fn icmp_error_embedding_ip_options_is_translated() {
    let mut nat = Nat::new(&cfg());
    // An outbound datagram with a 4-byte IP option (IHL 6).
    let plain = frames::udp(From::Lan, H1, 47000, R, 9, b"opts");
    let mut f = plain[..34].to_vec();
    f.extend_from_slice(&[1, 1, 1, 0]);
    f.extend_from_slice(&plain[34..]);
    f[14] = 0x46;
    let tl = u16::from_be_bytes([f[16], f[17]]) + 4;
    f[16..18].copy_from_slice(&tl.to_be_bytes());
    frames::refill_ip_checksum(&mut f);
    assert_eq!(nat.send(&mut f, Side::Lan), Verdict::ToWan);
    let o = seen(&f);
    let mut err = frames::icmp_error(From::Wan, R, o.src, 3, 3, &f, 8);
    assert_eq!(nat.send(&mut err, Side::Wan), Verdict::ToLan);
    checksums(&err).unwrap();
    let (isrc, isport, idst, idport, _) = masq_tests::check::embedded(&err);
    assert_eq!((isrc, isport, idst, idport), (H1, 47000, R, 9));
}
