//! Every result code, THIRD_PARTY, the options that reach the NAT, the
//! silent drops.

use super::*;

#[test]
fn every_result_code_is_produced() {
    use ResultCode::*;
    let me = v4_mapped(u32::from(CLIENT));
    let mut v6 = [0u8; 16];
    v6[0] = 0x20;
    let good = map_body(1, 17, 7777, 0);
    let m = |body: &[u8], o: &[Vec<u8>]| map(600, body, o);
    let pf = || build_option(option::PREFER_FAILURE, &[]);
    let mut suggest_v6 = map_body(1, 17, 7777, 9999);
    suggest_v6[20..36].copy_from_slice(&v6);
    let mut v1 = m(&good, &[]);
    v1[0] = 1;
    let mut odd = m(&good, &[]);
    odd.push(0);
    let mut big = m(&good, &[]);
    big.resize(1104, 0);
    let outsider = Ipv4Addr::new(10, 0, 0, 1);
    let third = build_option(option::THIRD_PARTY, &v4_mapped(u32::from(OTHER)));
    let peer_filter = request(2, 600, me, &peer_body(1, 17, 7777, 0x0808_0808, 53), &[]);
    let five: Vec<Vec<u8>> = (0..5).map(|i| filter(128, 0, 0x0808_0800 + i)).collect();
    // Requests refused for what they are, from CLIENT unless said.
    let cases: Vec<(&str, Ipv4Addr, Vec<u8>, ResultCode)> = vec![
        ("map", CLIENT, m(&good, &[]), Success),
        ("announce", CLIENT, request(0, 0, me, &[], &[]), Success),
        ("version 1", CLIENT, v1, UnsuppVersion),
        (
            "outside source",
            outsider,
            request(1, 600, v4_mapped(0x0a00_0001), &good, &[]),
            NotAuthorized,
        ),
        (
            "third party refused",
            CLIENT,
            m(&good, &[third]),
            NotAuthorized,
        ),
        (
            "short",
            CLIENT,
            vec![2, 1, 0, 0, 0, 0, 0, 0],
            MalformedRequest,
        ),
        ("not a multiple of 4", CLIENT, odd, MalformedRequest),
        ("over 1100", CLIENT, big, MalformedRequest),
        (
            "short MAP body",
            CLIENT,
            request(1, 600, me, &good[..32], &[]),
            MalformedRequest,
        ),
        (
            "port 0",
            CLIENT,
            m(&map_body(1, 17, 0, 0), &[]),
            MalformedRequest,
        ),
        (
            "protocol 0, a port",
            CLIENT,
            m(&map_body(1, 0, 80, 0), &[]),
            MalformedRequest,
        ),
        (
            "opcode 5",
            CLIENT,
            request(5, 0, me, &[], &[]),
            UnsuppOpcode,
        ),
        (
            "unknown option",
            CLIENT,
            m(&good, &[build_option(99, &[])]),
            UnsuppOption,
        ),
        (
            "FILTER in PEER",
            CLIENT,
            [peer_filter, filter(128, 0, 1)].concat(),
            UnsuppOption,
        ),
        (
            "option in ANNOUNCE",
            CLIENT,
            request(0, 0, me, &[], &[pf()]),
            UnsuppOption,
        ),
        (
            "PREFER_FAILURE twice",
            CLIENT,
            m(&map_body(1, 17, 1, 9), &[pf(), pf()]),
            MalformedOption,
        ),
        (
            "THIRD_PARTY short",
            CLIENT,
            m(&good, &[build_option(1, &[0; 4])]),
            MalformedOption,
        ),
        (
            "option past the end",
            CLIENT,
            m(&good, &[vec![3, 0, 0, 20]]),
            MalformedOption,
        ),
        (
            "FILTER prefix 64",
            CLIENT,
            m(&good, &[filter(64, 0, 1)]),
            MalformedOption,
        ),
        (
            "GRE",
            CLIENT,
            m(&map_body(1, 47, 7777, 0), &[]),
            UnsuppProtocol,
        ),
        (
            "all protocols",
            CLIENT,
            m(&map_body(1, 0, 0, 0), &[]),
            UnsuppProtocol,
        ),
        (
            "IPv6 with PREFER_FAILURE",
            CLIENT,
            m(&suggest_v6, &[pf()]),
            CannotProvideExternal,
        ),
        (
            "client is another",
            CLIENT,
            request(1, 600, v4_mapped(u32::from(OTHER)), &good, &[]),
            AddressMismatch,
        ),
        (
            "client is IPv6",
            CLIENT,
            request(1, 600, v6, &good, &[]),
            AddressMismatch,
        ),
        (
            "five filters",
            CLIENT,
            m(&good, &five),
            ExcessiveRemotePeers,
        ),
    ];
    // The NAT's refusals of a good MAP.
    let refusals = [
        (None, NetworkFailure),
        (Some(HoldRefusal::NoExternalAddress), NetworkFailure),
        (Some(HoldRefusal::NotOurs), NotAuthorized),
        (Some(HoldRefusal::NoResources), NoResources),
        (Some(HoldRefusal::Unsupported), UnsuppProtocol),
        (Some(HoldRefusal::Quota), UserExQuota),
        (
            Some(HoldRefusal::CannotProvideExternal),
            CannotProvideExternal,
        ),
    ];
    let all = cases
        .into_iter()
        .map(|(w, f, r, c)| (w.to_string(), f, r, None, c));
    let refused = refusals
        .into_iter()
        .map(|(r, c)| (format!("NAT: {r:?}"), CLIENT, m(&good, &[]), Some(r), c));
    let mut seen = std::collections::BTreeSet::new();
    for (what, from, req, refuse, want) in all.chain(refused) {
        let mut s = server();
        let mut nat = FakeNat {
            refuse,
            ..FakeNat::default()
        };
        let answer = send(&mut s, &mut nat, from, &req, 1000).expect("answered");
        let got = result(&answer);
        assert_eq!(got, want, "{what}");
        let r = PcpResponse::new_checked(&answer).unwrap();
        if got == UnsuppVersion {
            assert_eq!(answer[0], 2, "{what}: the highest version served");
        } else {
            assert_eq!(r.opcode(), req[1] & 0x7f, "{what}");
        }
        match got {
            Success => {}
            c if c.is_short() => assert_eq!(r.lifetime(), SHORT_ERROR_LIFETIME, "{what}"),
            _ => assert_eq!(r.lifetime(), LONG_ERROR_LIFETIME, "{what}"),
        }
        seen.insert(got as u8);
    }
    // The table's own quota (USER_EX_QUOTA without the NAT) is tested in
    // table.rs; every code appears here.
    assert_eq!(seen.len(), ResultCode::ALL.len(), "{seen:?}");
}

fn server_cfg_third_party() -> Server {
    let cfg = PcpConfig {
        third_party: true,
        requests_per_second: 1000,
        ..PcpConfig::default()
    };
    Server::new(cfg, vec!["192.168.0.0/24".parse().unwrap()], 0)
}

#[test]
fn third_party_when_allowed() {
    let mut s = server_cfg_third_party();
    let mut nat = FakeNat::default();
    let third = |a: u32| build_option(option::THIRD_PARTY, &v4_mapped(a));
    let body = map_body(1, 6, 80, 0);
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &body, &[third(u32::from(OTHER))]),
        0,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::Success);
    assert_eq!(nat.asked[0].inside, u32::from(OTHER));
    // The option is echoed.
    assert_eq!(&a[a.len() - 20..], &third(u32::from(OTHER))[..]);
    // The internal address must still be a subscriber's, and not the source.
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &body, &[third(0x0a00_0001)]),
        0,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::NotAuthorized);
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &body, &[third(u32::from(CLIENT))]),
        0,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::MalformedRequest);
}

#[test]
fn suggestions_filters_and_prefer_failure_reach_the_nat() {
    let mut s = server();
    let mut nat = FakeNat::default();
    let mut body = map_body(1, 6, 22, 2222);
    body[20..36].copy_from_slice(&v4_mapped(EXT));
    let opts = [
        build_option(option::PREFER_FAILURE, &[]),
        filter(120, 53, 0x0808_0808),
    ];
    let a = send(&mut s, &mut nat, CLIENT, &map(600, &body, &opts), 0).unwrap();
    assert_eq!(result(&a), ResultCode::Success);
    let ask = &nat.asked[0];
    assert_eq!(ask.suggested, (EXT, 2222));
    assert!(ask.prefer_failure);
    assert_eq!(
        ask.filters,
        vec![RemoteFilter {
            addr: 0x0808_0800,
            len: 24,
            port: 53
        }]
    );
    // Both options are echoed; an optional unknown one is not.
    let mut with_unknown = opts.to_vec();
    with_unknown.push(build_option(200, &[9]));
    let a = send(&mut s, &mut nat, CLIENT, &map(600, &body, &with_unknown), 0).unwrap();
    assert_eq!(result(&a), ResultCode::Success);
    assert_eq!(a.len(), 24 + 36 + 4 + 24);
    // PREFER_FAILURE without a suggested port is malformed.
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &map_body(2, 6, 23, 0), &opts[..1]),
        0,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::MalformedOption);
}

#[test]
fn drops_are_silent_and_counted() {
    let mut s = server();
    let mut nat = FakeNat::default();
    let good = map(600, &map_body(1, 17, 7777, 0), &[]);
    assert!(send(&mut s, &mut nat, CLIENT, &[2], 0).is_none());
    let mut response = good.clone();
    response[1] |= 0x80;
    assert!(send(&mut s, &mut nat, CLIENT, &response, 0).is_none());
    assert!(send(&mut s, &mut nat, CLIENT, &[0, 0x80], 0).is_none());
    assert!(s
        .handle(
            &good,
            SocketAddrV4::new(CLIENT, 1),
            Ipv4Addr::new(224, 0, 0, 1),
            0,
            &mut nat
        )
        .is_none());
    assert!(
        send(&mut s, &mut nat, CLIENT, &[0, 1, 0, 0], 0).is_none(),
        "short NAT-PMP map"
    );
    let mut off = server();
    off.reconfigure(
        PcpConfig {
            enabled: false,
            ..PcpConfig::default()
        },
        vec![],
    );
    assert!(send(&mut off, &mut nat, CLIENT, &good, 0).is_none());
    let d: HashMap<_, _> = s.drop_counts().into_iter().collect();
    assert_eq!(d["too_short"], 2);
    assert_eq!(d["response"], 2);
    assert_eq!(d["not_unicast"], 1);
    assert_eq!(d["rate_limited"], 0);
    assert_eq!(off.drop_counts()[0], ("disabled", 1));
    assert!(nat.asked.is_empty());
}
