//! ICMP errors about translated flows, both directions: the outer header
//! gets the session's rewrite, the packet inside the mirror one, every
//! checksum stays right (echo identifiers and short TCP quotes included);
//! and the errors that are refused, each with its reason.

use super::*;

/// 198.51.100.254, a router on the way.
const ROUTER: u32 = 0xc633_64fe;

/// The IP packet of a frame.
fn ip(f: &[u8]) -> &[u8] {
    &f[14..]
}

#[test]
fn a_wan_error_about_a_udp_flow_reaches_the_subscriber() {
    let mut s = shard(&cfg());
    let (_, sent) = run(
        &mut s,
        lan(HOST, REMOTE).udp(40000, 53, b"query"),
        Side::Lan,
        0,
    );
    // Port unreachable, quoting the datagram as it left the NAT.
    let err = wan(REMOTE, EXT).icmp(3, 3, 0, ip(&sent));
    let (v, f) = run(&mut s, err, Side::Wan, 1);
    assert_eq!(v, Verdict::ToLan);
    // Outer: to HOST; inner: the datagram as HOST sent it (TTL 63, as
    // the NAT left it), every checksum recomputed from scratch here.
    let quoted = lan(HOST, REMOTE).ttl(63).udp(40000, 53, b"query");
    let want = wan(REMOTE, EXT).to_lan(HOST, HOST_MAC);
    assert_eq!(f, want.icmp(3, 3, 0, ip(&quoted)));
    assert_checksums(&f);
    assert!(
        verifies(sum(pseudo(HOST, REMOTE, 17, 13), &f[62..75])),
        "the inner UDP checksum"
    );
    assert_eq!(s.counters().icmp_errors_translated, 1);
}

#[test]
fn a_lan_error_leaves_with_the_external_endpoint() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    let (v, got) = run(
        &mut s,
        wan(REMOTE, EXT).udp(53, 1024, b"answer"),
        Side::Wan,
        1,
    );
    assert_eq!(v, Verdict::ToLan);
    let err = lan(HOST, REMOTE).icmp(3, 3, 0, ip(&got));
    let (v, f) = run(&mut s, err, Side::Lan, 2);
    assert_eq!(v, Verdict::ToWan);
    let quoted = wan(REMOTE, EXT).ttl(63).udp(53, 1024, b"answer");
    let want = lan(HOST, REMOTE).to_wan(EXT);
    assert_eq!(f, want.icmp(3, 3, 0, ip(&quoted)));
    assert_checksums(&f);
    assert_eq!(s.counters().icmp_errors_translated, 1);
}

#[test]
fn an_error_about_an_echo_gets_the_identifier_back() {
    let mut s = shard(&cfg());
    let (_, sent) = run(
        &mut s,
        lan(HOST, REMOTE).echo(8, 0x4242, b"ping"),
        Side::Lan,
        0,
    );
    assert_eq!(be16(&sent, 38), 1024);
    // Time exceeded from a router, quoting the header and 8 bytes.
    let err = wan(ROUTER, EXT).icmp(11, 0, 0, &ip(&sent)[..28]);
    let (v, f) = run(&mut s, err, Side::Wan, 1);
    assert_eq!(v, Verdict::ToLan);
    let quoted = lan(HOST, REMOTE).ttl(63).echo(8, 0x4242, b"ping");
    let want = wan(ROUTER, EXT).to_lan(HOST, HOST_MAC);
    assert_eq!(f, want.icmp(11, 0, 0, &ip(&quoted)[..28]));
    assert_checksums(&f);
}

#[test]
fn tcp_quotes_short_and_whole() {
    let mut s = shard(&cfg());
    let (_, sent) = run(
        &mut s,
        lan(HOST, REMOTE).tcp(40000, 80, SYN, &[], b""),
        Side::Lan,
        0,
    );
    let orig = lan(HOST, REMOTE).ttl(63).tcp(40000, 80, SYN, &[], b"");
    // 8 bytes of TCP (no checksum field quoted), then the whole header.
    for keep in [28, 40] {
        let err = wan(ROUTER, EXT).icmp(3, 1, 0, &ip(&sent)[..keep]);
        let (v, f) = run(&mut s, err, Side::Wan, 1);
        assert_eq!(v, Verdict::ToLan, "{keep}");
        let want = wan(ROUTER, EXT).to_lan(HOST, HOST_MAC);
        assert_eq!(f, want.icmp(3, 1, 0, &ip(&orig)[..keep]), "{keep}");
        assert_checksums(&f);
    }
}

#[test]
fn an_error_too_large_for_the_lan_is_cut_never_answered() {
    let c = Config {
        lan_mtu: 576,
        ..cfg()
    };
    let mut s = shard(&c);
    let big = lan(HOST, REMOTE).udp(40000, 53, &[7; 540]);
    let (_, sent) = run(&mut s, big, Side::Lan, 0);
    let err = wan(REMOTE, EXT).icmp(3, 3, 0, ip(&sent));
    assert_eq!(err.len() - 14, 596);
    let v = run(&mut s, err, Side::Wan, 1).0;
    assert_eq!(v, Verdict::Fragmented);
    let e = emitted(&mut s);
    assert_eq!(e.len(), 2, "two fragments, never an error about an error");
    assert!(e
        .iter()
        .all(|(v, f)| *v == Verdict::ToLan && f.len() <= 14 + 576));
    // With DF it is dropped, still without an answer.
    let (_, sent) = run(
        &mut s,
        lan(HOST, REMOTE).udp(40000, 53, &[7; 540]),
        Side::Lan,
        2,
    );
    let err = wan(REMOTE, EXT).frag(DF).icmp(3, 3, 0, ip(&sent));
    let v = run(&mut s, err, Side::Wan, 3).0;
    assert_eq!(v, Verdict::Drop(DropReason::MtuExceeded));
    assert!(emitted(&mut s).is_empty());
}

#[test]
fn wan_errors_that_are_refused() {
    use DropReason::*;
    let mut s = shard(&cfg());
    let (_, sent) = run(
        &mut s,
        lan(HOST, REMOTE).udp(40000, 53, b"query"),
        Side::Lan,
        0,
    );
    let q = ip(&sent).to_vec();
    let mut bad_sum = wan(REMOTE, EXT).icmp(3, 3, 0, &q);
    bad_sum[36] ^= 1;
    let mut v6 = q.clone();
    v6[0] = 0x65;
    let mut gre = q.clone();
    gre[9] = 47;
    let other = wan(REMOTE2, EXT).udp(1024, 53, b"query");
    let echo_reply = wan(EXT, REMOTE).echo(0, 1024, b"");
    let unknown = lan(HOST, REMOTE).to_wan(EXT).udp(1026, 53, b"query");
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (bad_sum, BadIcmpChecksum),
        (wan(REMOTE, EXT).icmp(3, 3, 0, &q[..24]), IcmpErrorMalformed),
        (wan(REMOTE, EXT).icmp(3, 3, 0, &v6), IcmpErrorMalformed),
        (wan(REMOTE, EXT).icmp(3, 3, 0, &gre), IcmpErrorNoSession),
        (
            wan(REMOTE, EXT).icmp(3, 3, 0, ip(&other)),
            IcmpErrorMalformed,
        ),
        (
            wan(REMOTE, EXT).icmp(3, 3, 0, ip(&echo_reply)),
            IcmpErrorNoSession,
        ),
        (
            wan(REMOTE, EXT).icmp(3, 3, 0, ip(&unknown)),
            IcmpErrorNoSession,
        ),
        (wan(REMOTE, EXT).ttl(1).icmp(3, 3, 0, &q), TtlExpired),
    ];
    for (n, (f, why)) in cases.into_iter().enumerate() {
        let v = run(&mut s, f, Side::Wan, 1).0;
        assert_eq!(v, Verdict::Drop(why), "case {n}");
    }
    assert!(emitted(&mut s).is_empty());
    assert_eq!(s.counters().icmp_errors_translated, 0);
}

#[test]
fn lan_errors_that_are_refused() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    let to_host = wan(REMOTE, HOST).ttl(63).udp(53, 40000, b"answer");
    let to_other = wan(REMOTE, HOST2).ttl(63).udp(53, 40000, b"answer");
    let no_flow = wan(REMOTE, HOST).ttl(63).udp(54, 40000, b"answer");
    let echo = wan(REMOTE, HOST).echo(8, 9, b"");
    for (n, inner) in [&to_other, &no_flow, &echo].into_iter().enumerate() {
        let err = lan(HOST, REMOTE).icmp(3, 3, 0, ip(inner));
        let v = run(&mut s, err, Side::Lan, 1).0;
        assert_eq!(v, Verdict::Drop(DropReason::IcmpErrorNoSession), "{n}");
    }
    let err = lan(HOST, REMOTE).icmp(3, 3, 0, ip(&to_host));
    assert_eq!(run(&mut s, err, Side::Lan, 1).0, Verdict::ToWan);
}
