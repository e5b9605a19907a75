//! Parsing a frame once: `IpRepr` on a valid frame, on other
//! ethertypes and on every `WireError` it returns (options and
//! fragments included); the transport checksum check; `FlowRepr`'s
//! rules for whole packets and first fragments; each kind of
//! `Transport`; `Embedded` on good, truncated, bad-checksum and
//! untracked errors. Frames are literal bytes, checksums computed
//! apart from the core.

use super::*;
use crate::wire::samples::{ECHO, ERR, TCP_SYN, UDP};

const HOST: u32 = 0xc0a8_010a;
const REMOTE: u32 = 0xc633_6401;
const EXT: u32 = 0xcb00_7101;

/// The checksum field for `b` (RFC 1071), written here apart from
/// `super::checksum`.
fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|w| u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0)))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Writes a new total length into the IPv4 header at `at` and
/// recomputes its checksum.
fn set_len(f: &mut [u8], at: usize, len: usize) {
    f[at + 2..at + 4].copy_from_slice(&(len as u16).to_be_bytes());
    refill_ip(f, at);
}

/// Recomputes the checksum of the IPv4 header at `at`.
fn refill_ip(f: &mut [u8], at: usize) {
    let hl = usize::from(f[at] & 0x0f) * 4;
    f[at + 10..at + 12].fill(0);
    let c = csum(&f[at..at + hl]);
    f[at + 10..at + 12].copy_from_slice(&c.to_be_bytes());
}

/// Sets the flags and fragment offset word and fixes the checksum.
fn set_frag(f: &mut [u8], word: u16) {
    f[20..22].copy_from_slice(&word.to_be_bytes());
    refill_ip(f, 14);
}

/// `f` with `opts` inserted after its IPv4 header (IHL and total
/// length raised, checksum recomputed).
fn with_options(f: &[u8], opts: &[u8]) -> Vec<u8> {
    let mut v = [&f[..34], opts, &f[34..]].concat();
    v[14] = 0x45 + (opts.len() / 4) as u8;
    let len = v.len() - 14;
    set_len(&mut v, 14, len);
    v
}

/// The ICMP error of [`ERR`]'s outer headers carrying `quote`, with
/// its lengths and checksums right.
fn error_with(quote: &[u8]) -> Vec<u8> {
    let mut v = [&ERR[..42], quote].concat();
    let len = v.len() - 14;
    set_len(&mut v, 14, len);
    v[36..38].fill(0);
    let c = csum(&v[34..]);
    v[36..38].copy_from_slice(&c.to_be_bytes());
    v
}

fn parse(f: &[u8]) -> IpRepr {
    IpRepr::parse(f).unwrap().unwrap()
}

#[test]
fn ip_repr_takes_a_udp_frame_apart() {
    let ip = parse(&UDP);
    assert_eq!(
        ip,
        IpRepr {
            l4: 34,
            end: 47,
            proto: PROTO_UDP,
            src: HOST,
            dst: REMOTE,
            ttl: 64,
            frag: false,
            later: false,
            df: true,
            id: 0x1234,
        }
    );
    assert_eq!(ip.packet_len(), 33);
    assert_eq!(ip.segment(&UDP), &UDP[34..]);
    assert_eq!(ip.packet(&UDP), &UDP[14..]);
    // Ethernet padding after the packet is not the packet's.
    let padded = [&UDP[..], &[0u8; 13]].concat();
    assert_eq!(parse(&padded), ip);
    assert_eq!(ip.segment(&padded), &UDP[34..]);
    let mut f = UDP;
    ip.segment_mut(&mut f)[0] = 0xff;
    ip.packet_mut(&mut f)[0] = 0x46;
    assert_eq!((f[34], f[14]), (0xff, 0x46));
}

#[test]
fn another_ethertype_is_none() {
    let mut f = UDP;
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(IpRepr::parse(&f), Ok(None));
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(IpRepr::parse(&f), Ok(None));
}

#[test]
fn every_error_ip_repr_returns() {
    let err = |f: &[u8]| IpRepr::parse(f).unwrap_err();
    assert_eq!(err(&UDP[..13]), WireError::Truncated, "no Ethernet header");
    assert_eq!(err(&UDP[..33]), WireError::Truncated, "19 bytes of IPv4");
    let mut f = UDP;
    f[14] = 0x65;
    assert_eq!(err(&f), WireError::NotIpv4);
    f[14] = 0x44;
    assert_eq!(err(&f), WireError::BadIhl);
    let mut f = UDP;
    set_len(&mut f, 14, 34);
    assert_eq!(err(&f), WireError::BadTotalLength, "past the frame");
    set_len(&mut f, 14, 19);
    assert_eq!(err(&f), WireError::BadTotalLength, "below the header");
    let mut f = UDP;
    f[25] ^= 1;
    assert_eq!(err(&f), WireError::BadChecksum);
    assert_eq!(
        err(&with_options(&UDP, &[1, 1, 1, 7])),
        WireError::BadOptions
    );
    assert_eq!(
        err(&with_options(&UDP, &[0x44, 8, 5, 0])),
        WireError::BadOptions
    );
}

#[test]
fn options_that_add_up_are_taken() {
    for opts in [[1, 1, 1, 0], [0x94, 4, 0, 0], [7, 3, 4, 0]] {
        let f = with_options(&UDP, &opts);
        let ip = parse(&f);
        assert_eq!((ip.l4, ip.end), (38, 51), "{opts:?}");
        assert_eq!(ip.segment(&f), &UDP[34..]);
    }
}

#[test]
fn fragments_a_nat_takes_and_refuses() {
    let mut f = UDP;
    set_frag(&mut f, 0x2000); // MF: the first fragment
    let ip = parse(&f);
    assert!(ip.frag && !ip.later && !ip.df);
    set_frag(&mut f, 0x0002); // offset 16, the last fragment
    let ip = parse(&f);
    assert!(ip.frag && ip.later);
    set_frag(&mut f, 0x1fff); // 65528 + 13 bytes: past 65535
    assert_eq!(IpRepr::parse(&f), Err(WireError::BadFragment));
    set_frag(&mut f, 0x1ffe); // 65520 + 13: fits
    assert!(parse(&f).later);
    // TCP at offset 8 could rewrite the flags.
    let mut t = TCP_SYN;
    set_frag(&mut t, 0x0001);
    assert_eq!(IpRepr::parse(&t), Err(WireError::BadFragment));
    set_frag(&mut t, 0x0002);
    assert!(parse(&t).later);
}

#[test]
fn transport_checksums() {
    for f in [&UDP[..], &TCP_SYN[..], &ECHO[..], &ERR[..]] {
        assert!(parse(f).transport_checksum_ok(f), "{f:x?}");
        let mut bad = f.to_vec();
        *bad.last_mut().unwrap() ^= 0x10;
        assert!(!parse(&bad).transport_checksum_ok(&bad), "{f:x?}");
    }
    let mut none = UDP;
    none[40..42].fill(0);
    none[46] ^= 0x10;
    assert!(parse(&none).transport_checksum_ok(&none), "UDP without one");
    let mut short = UDP;
    set_len(&mut short, 14, 27);
    assert!(
        !parse(&short).transport_checksum_ok(&short),
        "no UDP header"
    );
}

#[test]
fn ports_of_whole_packets() {
    let ports = |f: &[u8]| FlowRepr::parse_ports(f, &parse(f));
    let u = ports(&UDP).unwrap();
    assert_eq!(
        (u.proto, u.sport, u.dport, u.flags),
        (PROTO_UDP, 40000, 53, 0)
    );
    let t = ports(&TCP_SYN).unwrap();
    assert_eq!(
        (t.proto, t.sport, t.dport, t.flags),
        (PROTO_TCP, 80, 1024, tcp::SYN)
    );
    let mut f = UDP;
    f[38..40].copy_from_slice(&[0, 7]);
    assert_eq!(ports(&f), Err(WireError::BadUdpLength));
    f[38..40].copy_from_slice(&[0, 14]);
    assert_eq!(ports(&f), Err(WireError::BadUdpLength));
    let mut t = TCP_SYN;
    t[46] = 0x40;
    assert_eq!(ports(&t), Err(WireError::BadDataOffset));
    t[46] = 0x70;
    assert_eq!(ports(&t), Err(WireError::BadDataOffset));
    let mut t = TCP_SYN;
    set_len(&mut t, 14, 39);
    assert_eq!(ports(&t), Err(WireError::Truncated));
}

#[test]
fn ports_of_first_fragments() {
    let ports = |f: &[u8]| FlowRepr::parse_ports(f, &parse(f));
    // UDP: the 8-byte header is enough; its length is not checked.
    let mut f = UDP;
    set_frag(&mut f, 0x2000);
    set_len(&mut f, 14, 28);
    let u = ports(&f[..42]).unwrap();
    assert_eq!((u.sport, u.dport), (40000, 53));
    set_len(&mut f, 14, 27);
    assert_eq!(ports(&f[..41]), Err(WireError::BadFragment));
    // TCP: up to the flags (14 bytes).
    let mut t = TCP_SYN;
    set_frag(&mut t, 0x2000);
    set_len(&mut t, 14, 34);
    let s = ports(&t[..48]).unwrap();
    assert_eq!((s.sport, s.dport, s.flags), (80, 1024, tcp::SYN));
    set_len(&mut t, 14, 33);
    assert_eq!(ports(&t[..47]), Err(WireError::BadFragment));
}

#[test]
fn echo_identities_and_syns() {
    let q = FlowRepr::echo(icmp::ECHO_REQUEST, 7);
    assert_eq!((q.proto, q.sport, q.dport, q.flags), (PROTO_ICMP, 7, 0, 0));
    let r = FlowRepr::echo(icmp::ECHO_REPLY, 7);
    assert_eq!((r.sport, r.dport), (0, 7));
    let syn = |flags| FlowRepr {
        proto: PROTO_TCP,
        sport: 1,
        dport: 2,
        flags,
    };
    assert!(syn(tcp::SYN).is_syn_without(tcp::ACK));
    assert!(!syn(tcp::SYN | tcp::ACK).is_syn_without(tcp::ACK));
    assert!(syn(tcp::SYN | tcp::ACK).is_syn_without(tcp::RST));
    assert!(!syn(tcp::ACK).is_syn_without(0));
    assert!(!FlowRepr {
        proto: PROTO_UDP,
        ..syn(tcp::SYN)
    }
    .is_syn_without(0));
}

#[test]
fn each_kind_of_transport() {
    let kind = |f: &[u8], q| Transport::parse(f, &parse(f), q);
    let flow = |p, s, d, fl| {
        Ok(Transport::Flow(FlowRepr {
            proto: p,
            sport: s,
            dport: d,
            flags: fl,
        }))
    };
    assert_eq!(
        kind(&UDP, icmp::ECHO_REQUEST),
        flow(PROTO_UDP, 40000, 53, 0)
    );
    assert_eq!(
        kind(&TCP_SYN, icmp::ECHO_REPLY),
        flow(PROTO_TCP, 80, 1024, tcp::SYN)
    );
    assert_eq!(
        kind(&ECHO, icmp::ECHO_REQUEST),
        flow(PROTO_ICMP, 0x4242, 0, 0)
    );
    assert_eq!(kind(&ECHO, icmp::ECHO_REPLY), Ok(Transport::IcmpOther));
    assert_eq!(kind(&ERR, icmp::ECHO_REPLY), Ok(Transport::IcmpError));
    let mut ts = ECHO;
    ts[34] = 13; // timestamp: not read, so its checksum may stay
    assert_eq!(kind(&ts, icmp::ECHO_REQUEST), Ok(Transport::IcmpOther));
    let mut short = ECHO;
    set_len(&mut short, 14, 27);
    assert_eq!(
        kind(&short, icmp::ECHO_REQUEST),
        Err(WireError::BadIcmpHeader)
    );
    let mut gre = UDP;
    gre[23] = 47;
    refill_ip(&mut gre, 14);
    assert_eq!(kind(&gre, icmp::ECHO_REQUEST), Ok(Transport::Other));
}

#[test]
fn the_packet_inside_an_error() {
    let e = Embedded::parse(&ERR, &parse(&ERR)).unwrap().unwrap();
    assert_eq!(
        e,
        Embedded {
            at: 42,
            l4: 62,
            proto: PROTO_UDP,
            src: EXT,
            dst: REMOTE,
            sport: 1024,
            dport: 53,
        }
    );
    // Header and 8 bytes are enough; an echo request's identifier is
    // both its ports.
    let short = error_with(&ERR[42..70]);
    let s = Embedded::parse(&short, &parse(&short)).unwrap().unwrap();
    assert_eq!((s.sport, s.dport, s.l4), (1024, 53, 62));
    let echo = error_with(&ECHO[14..42]);
    let x = Embedded::parse(&echo, &parse(&echo)).unwrap().unwrap();
    assert_eq!((x.proto, x.sport, x.dport), (PROTO_ICMP, 0x4242, 0x4242));
    // Inner options move the transport header.
    let framed = [&[0u8; 14][..], &ERR[42..]].concat();
    let inner = with_options(&framed, &[1, 1, 1, 0]);
    let o = error_with(&inner[14..]);
    let y = Embedded::parse(&o, &parse(&o)).unwrap().unwrap();
    assert_eq!((y.at, y.l4, y.sport), (42, 66, 1024));
}

#[test]
fn errors_about_echo_replies_and_unreadable_packets() {
    let emb = |f: &[u8]| Embedded::parse(f, &parse(f));
    let mut reply = ECHO;
    reply[34] = icmp::ECHO_REPLY;
    assert_eq!(emb(&error_with(&reply[14..42])), Ok(None), "an echo reply");
    let mut gre = ERR;
    gre[51] = 47;
    let g = emb(&error_with(&gre[42..])).unwrap().unwrap();
    assert_eq!((g.proto, g.sport, g.dport), (47, 0, 0), "GRE: address-only");
    assert_eq!(emb(&error_with(&ERR[42..69])), Err(WireError::Truncated));
    // IHL 6 with only 8 bytes after the fixed header.
    let mut ihl6 = ERR;
    ihl6[42] = 0x46;
    assert_eq!(emb(&error_with(&ihl6[42..70])), Err(WireError::Truncated));
    let mut v6 = ERR;
    v6[42] = 0x65;
    assert_eq!(emb(&error_with(&v6[42..])), Err(WireError::NotIpv4));
    let mut ihl4 = ERR;
    ihl4[42] = 0x44;
    assert_eq!(emb(&error_with(&ihl4[42..])), Err(WireError::BadIhl));
    let mut bad = ERR;
    bad[74] ^= 1;
    assert_eq!(emb(&bad), Err(WireError::BadChecksum));
}

#[test]
fn macs_of_a_frame() {
    assert_eq!(src_mac(&UDP), Mac([2, 0, 0, 0, 0, 0x11]));
    assert_eq!(dst_mac(&UDP), Mac([2, 0, 0, 0, 0, 0x01]));
    assert!(!to_group_mac(&UDP));
    let mut f = UDP;
    f[..6].fill(0xff);
    assert!(to_group_mac(&f));
    f[..6].copy_from_slice(&[0x01, 0x00, 0x5e, 0, 0, 0xfb]);
    assert!(to_group_mac(&f));
}
