//! The server against a fake NAT: every result code, renewals, deletion,
//! nonces, quota, rate limit, epoch, announcements.

use super::*;
use crate::pcp::wire::{build_option, v4_mapped, PcpResponse};
use masq_core::Granted;

const EXT: u32 = 0xcb00_7101; // 203.0.113.1
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);
const OTHER: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 3);
const BOX: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);

/// A NAT that grants the suggested port (or 40000 and up), or refuses as
/// told, and records what it was asked.
#[derive(Default)]
struct FakeNat {
    refuse: Option<Option<HoldRefusal>>,
    asked: Vec<HoldAsk>,
    released: Vec<(HoldKind, u8, u32, u16)>,
    next: u16,
    external: Option<u32>,
}

impl Nat for FakeNat {
    fn hold(&mut self, ask: HoldAsk) -> Result<Granted, Option<HoldRefusal>> {
        self.asked.push(ask.clone());
        if let Some(r) = self.refuse {
            return Err(r);
        }
        let port = if ask.suggested.1 != 0 {
            ask.suggested.1
        } else {
            self.next += 1;
            40000 + self.next
        };
        Ok(Granted {
            external: EXT,
            external_port: port,
            until: ask.until,
        })
    }
    fn release(&mut self, kind: HoldKind, proto: u8, inside: u32, inside_port: u16) -> bool {
        self.released.push((kind, proto, inside, inside_port));
        true
    }
    fn external_of(&mut self, _inside: u32) -> Option<u32> {
        self.external
    }
}

fn server() -> Server {
    let cfg = PcpConfig {
        requests_per_second: 1000,
        ..PcpConfig::default()
    };
    Server::new(cfg, vec!["192.168.0.0/24".parse().unwrap()], 0)
}

/// A PCP request: opcode, lifetime, client address field, body, options.
fn request(op: u8, lifetime: u32, client: [u8; 16], body: &[u8], options: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![2, op, 0, 0];
    v.extend_from_slice(&lifetime.to_be_bytes());
    v.extend_from_slice(&client);
    v.extend_from_slice(body);
    for o in options {
        v.extend_from_slice(o);
    }
    v
}

fn map_body(nonce: u8, proto: u8, internal: u16, suggested: u16) -> Vec<u8> {
    let mut b = vec![nonce; 12];
    b.extend_from_slice(&[proto, 0, 0, 0]);
    b.extend_from_slice(&internal.to_be_bytes());
    b.extend_from_slice(&suggested.to_be_bytes());
    b.extend_from_slice(&[0; 16]);
    b
}

fn peer_body(nonce: u8, proto: u8, internal: u16, remote: u32, rport: u16) -> Vec<u8> {
    let mut b = map_body(nonce, proto, internal, 0);
    b.extend_from_slice(&rport.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&v4_mapped(remote));
    b
}

fn map(lifetime: u32, body: &[u8], options: &[Vec<u8>]) -> Vec<u8> {
    request(1, lifetime, v4_mapped(u32::from(CLIENT)), body, options)
}

fn filter(plen: u8, port: u16, addr: u32) -> Vec<u8> {
    let mut d = vec![0, plen];
    d.extend_from_slice(&port.to_be_bytes());
    d.extend_from_slice(&v4_mapped(addr));
    build_option(option::FILTER, &d)
}

fn send(
    s: &mut Server,
    nat: &mut FakeNat,
    from: Ipv4Addr,
    msg: &[u8],
    now_ms: u64,
) -> Option<Vec<u8>> {
    s.handle(msg, SocketAddrV4::new(from, 40001), BOX, now_ms, nat)
}

/// The result code of the answer, which must parse as a PCP response.
fn result(answer: &[u8]) -> ResultCode {
    PcpResponse::new_checked(answer)
        .unwrap_or_else(|| panic!("not a PCP response: {answer:?}"))
        .result()
}

#[test]
fn every_result_code_is_produced() {
    let me = v4_mapped(u32::from(CLIENT));
    let mut v6 = [0u8; 16];
    v6[0] = 0x20;
    let good = map_body(1, 17, 7777, 0);
    let third = |a: u32| build_option(option::THIRD_PARTY, &v4_mapped(a));
    let mut suggest_v6 = map_body(1, 17, 7777, 9999);
    suggest_v6[20..36].copy_from_slice(&v6);
    // (what, from, request, NAT refusal, code)
    type Case = (
        &'static str,
        Ipv4Addr,
        Vec<u8>,
        Option<Option<HoldRefusal>>,
        ResultCode,
    );
    let cases: Vec<Case> = vec![
        (
            "map",
            CLIENT,
            map(600, &good, &[]),
            None,
            ResultCode::Success,
        ),
        (
            "announce",
            CLIENT,
            request(0, 0, me, &[], &[]),
            None,
            ResultCode::Success,
        ),
        (
            "version 1",
            CLIENT,
            {
                let mut m = map(600, &good, &[]);
                m[0] = 1;
                m
            },
            None,
            ResultCode::UnsuppVersion,
        ),
        (
            "outside source",
            Ipv4Addr::new(10, 0, 0, 1),
            request(1, 600, v4_mapped(0x0a00_0001), &good, &[]),
            None,
            ResultCode::NotAuthorized,
        ),
        (
            "third party refused",
            CLIENT,
            map(600, &good, &[third(u32::from(OTHER))]),
            None,
            ResultCode::NotAuthorized,
        ),
        (
            "NAT: not ours",
            CLIENT,
            map(600, &good, &[]),
            Some(Some(HoldRefusal::NotOurs)),
            ResultCode::NotAuthorized,
        ),
        (
            "short",
            CLIENT,
            vec![2, 1, 0, 0, 0, 0, 0, 0],
            None,
            ResultCode::MalformedRequest,
        ),
        (
            "not a multiple of 4",
            CLIENT,
            {
                let mut m = map(600, &good, &[]);
                m.push(0);
                m
            },
            None,
            ResultCode::MalformedRequest,
        ),
        (
            "over 1100",
            CLIENT,
            {
                let mut m = map(600, &good, &[]);
                m.resize(1104, 0);
                m
            },
            None,
            ResultCode::MalformedRequest,
        ),
        (
            "short MAP body",
            CLIENT,
            request(1, 600, me, &good[..32], &[]),
            None,
            ResultCode::MalformedRequest,
        ),
        (
            "port 0 with a protocol",
            CLIENT,
            map(600, &map_body(1, 17, 0, 0), &[]),
            None,
            ResultCode::MalformedRequest,
        ),
        (
            "protocol 0 with a port",
            CLIENT,
            map(600, &map_body(1, 0, 80, 0), &[]),
            None,
            ResultCode::MalformedRequest,
        ),
        (
            "opcode 5",
            CLIENT,
            request(5, 0, me, &[], &[]),
            None,
            ResultCode::UnsuppOpcode,
        ),
        (
            "unknown mandatory option",
            CLIENT,
            map(600, &good, &[build_option(99, &[])]),
            None,
            ResultCode::UnsuppOption,
        ),
        (
            "FILTER in PEER",
            CLIENT,
            request(
                2,
                600,
                me,
                &peer_body(1, 17, 7777, 0x0808_0808, 53),
                &[filter(128, 0, 1)],
            ),
            None,
            ResultCode::UnsuppOption,
        ),
        (
            "mandatory option in ANNOUNCE",
            CLIENT,
            request(0, 0, me, &[], &[build_option(option::PREFER_FAILURE, &[])]),
            None,
            ResultCode::UnsuppOption,
        ),
        (
            "PREFER_FAILURE twice",
            CLIENT,
            map(
                600,
                &map_body(1, 17, 7777, 9999),
                &[build_option(2, &[]), build_option(2, &[])],
            ),
            None,
            ResultCode::MalformedOption,
        ),
        (
            "THIRD_PARTY short",
            CLIENT,
            map(600, &good, &[build_option(1, &[0; 4])]),
            None,
            ResultCode::MalformedOption,
        ),
        (
            "option past the end",
            CLIENT,
            map(600, &good, &[vec![3, 0, 0, 20]]),
            None,
            ResultCode::MalformedOption,
        ),
        (
            "FILTER prefix 64",
            CLIENT,
            map(600, &good, &[filter(64, 0, 1)]),
            None,
            ResultCode::MalformedOption,
        ),
        (
            "NAT did not answer",
            CLIENT,
            map(600, &good, &[]),
            Some(None),
            ResultCode::NetworkFailure,
        ),
        (
            "NAT: no external address",
            CLIENT,
            map(600, &good, &[]),
            Some(Some(HoldRefusal::NoExternalAddress)),
            ResultCode::NetworkFailure,
        ),
        (
            "NAT: no resources",
            CLIENT,
            map(600, &good, &[]),
            Some(Some(HoldRefusal::NoResources)),
            ResultCode::NoResources,
        ),
        (
            "GRE",
            CLIENT,
            map(600, &map_body(1, 47, 7777, 0), &[]),
            None,
            ResultCode::UnsuppProtocol,
        ),
        (
            "all protocols",
            CLIENT,
            map(600, &map_body(1, 0, 0, 0), &[]),
            None,
            ResultCode::UnsuppProtocol,
        ),
        (
            "NAT: unsupported",
            CLIENT,
            map(600, &good, &[]),
            Some(Some(HoldRefusal::Unsupported)),
            ResultCode::UnsuppProtocol,
        ),
        (
            "NAT: quota",
            CLIENT,
            map(600, &good, &[]),
            Some(Some(HoldRefusal::Quota)),
            ResultCode::UserExQuota,
        ),
        (
            "NAT: cannot provide",
            CLIENT,
            map(600, &map_body(1, 17, 7777, 9999), &[build_option(2, &[])]),
            Some(Some(HoldRefusal::CannotProvideExternal)),
            ResultCode::CannotProvideExternal,
        ),
        (
            "IPv6 suggestion with PREFER_FAILURE",
            CLIENT,
            map(600, &suggest_v6, &[build_option(2, &[])]),
            None,
            ResultCode::CannotProvideExternal,
        ),
        (
            "client field is another",
            CLIENT,
            request(1, 600, v4_mapped(u32::from(OTHER)), &good, &[]),
            None,
            ResultCode::AddressMismatch,
        ),
        (
            "client field is IPv6",
            CLIENT,
            request(1, 600, v6, &good, &[]),
            None,
            ResultCode::AddressMismatch,
        ),
        (
            "five filters",
            CLIENT,
            map(
                600,
                &good,
                &(0..5)
                    .map(|i| filter(128, 0, 0x0808_0800 + i))
                    .collect::<Vec<_>>(),
            ),
            None,
            ResultCode::ExcessiveRemotePeers,
        ),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (what, from, req, refuse, want) in cases {
        let mut s = server();
        let mut nat = FakeNat {
            refuse,
            ..FakeNat::default()
        };
        let answer =
            send(&mut s, &mut nat, from, &req, 1000).unwrap_or_else(|| panic!("{what}: dropped"));
        let got = result(&answer);
        assert_eq!(got, want, "{what}");
        let r = PcpResponse::new_checked(&answer).unwrap();
        if got == ResultCode::UnsuppVersion {
            assert_eq!(answer[0], 2, "{what}: the highest version served");
        } else {
            assert_eq!(r.opcode(), req[1] & 0x7f, "{what}");
        }
        let life = r.lifetime();
        match got {
            ResultCode::Success => {}
            c if c.is_short() => assert_eq!(life, SHORT_ERROR_LIFETIME, "{what}"),
            _ => assert_eq!(life, LONG_ERROR_LIFETIME, "{what}"),
        }
        seen.insert(got as u8);
    }
    // The quota of the table (USER_EX_QUOTA from the server itself) has
    // its own test below; every code appears here.
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
fn map_grants_renews_and_deletes() {
    let mut s = server();
    let mut nat = FakeNat::default();
    let body = map_body(7, 17, 7777, 0);
    // Lifetimes are clamped to [min, max].
    let a = send(&mut s, &mut nat, CLIENT, &map(5, &body, &[]), 10_000).unwrap();
    let r = PcpResponse::new_checked(&a).unwrap();
    assert_eq!(r.result(), ResultCode::Success);
    assert_eq!(r.lifetime(), 120);
    assert_eq!(r.assigned(), Some((EXT, 40001)));
    assert_eq!(nat.asked[0].until, 10 + 120);
    assert_eq!(nat.asked[0].inside, u32::from(CLIENT));
    assert_eq!((nat.asked[0].proto, nat.asked[0].inside_port), (17, 7777));
    assert_eq!(s.mappings(), 1);
    // Nonce, protocol and internal port are echoed.
    assert_eq!(&a[24..42], &body[..18]);
    // A renewal keeps the external endpoint and takes the new lifetime.
    let a = send(&mut s, &mut nat, CLIENT, &map(999_999, &body, &[]), 20_000).unwrap();
    let r = PcpResponse::new_checked(&a).unwrap();
    assert_eq!(r.lifetime(), 86400);
    assert_eq!(r.assigned(), Some((EXT, 40001)));
    assert_eq!(nat.asked[1].suggested, (EXT, 40001));
    assert_eq!(s.mappings(), 1);
    // Another nonce for the same mapping is refused.
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &map_body(8, 17, 7777, 0), &[]),
        20_000,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::NotAuthorized);
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(0, &map_body(8, 17, 7777, 0), &[]),
        20_000,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::NotAuthorized);
    assert!(nat.released.is_empty());
    // Lifetime 0 deletes.
    let a = send(&mut s, &mut nat, CLIENT, &map(0, &body, &[]), 30_000).unwrap();
    let r = PcpResponse::new_checked(&a).unwrap();
    assert_eq!((r.result(), r.lifetime()), (ResultCode::Success, 0));
    assert_eq!(
        nat.released,
        vec![(HoldKind::Map, 17, u32::from(CLIENT), 7777)]
    );
    assert_eq!(s.mappings(), 0);
    // Deleting what is not there succeeds and asks nothing of the NAT.
    let a = send(&mut s, &mut nat, CLIENT, &map(0, &body, &[]), 30_000).unwrap();
    assert_eq!(result(&a), ResultCode::Success);
    assert_eq!(nat.released.len(), 1);
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
fn peer_is_keyed_by_its_remote() {
    let mut s = server();
    let mut nat = FakeNat::default();
    let me = v4_mapped(u32::from(CLIENT));
    for (i, remote) in [0x0808_0808u32, 0x0101_0101].into_iter().enumerate() {
        let a = send(
            &mut s,
            &mut nat,
            CLIENT,
            &request(2, 300, me, &peer_body(3, 6, 5000, remote, 443), &[]),
            0,
        )
        .unwrap();
        let r = PcpResponse::new_checked(&a).unwrap();
        assert_eq!(r.result(), ResultCode::Success);
        assert_eq!(r.assigned(), Some((EXT, 40001 + i as u16)));
        assert_eq!(
            nat.asked[i].kind,
            HoldKind::Peer {
                remote,
                remote_port: 443
            }
        );
        // The remote is echoed.
        assert_eq!(&a[60..80], &peer_body(3, 6, 5000, remote, 443)[36..56]);
    }
    assert_eq!(s.mappings(), 2);
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &request(2, 0, me, &peer_body(3, 6, 5000, 0x0808_0808, 443), &[]),
        0,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::Success);
    assert_eq!(s.mappings(), 1);
    assert!(matches!(
        nat.released[0].0,
        HoldKind::Peer {
            remote: 0x0808_0808,
            ..
        }
    ));
    // A remote port 0 is malformed.
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &request(2, 300, me, &peer_body(3, 6, 5000, 9, 0), &[]),
        0,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::MalformedRequest);
}

#[test]
fn the_table_quota_refuses_new_mappings_only() {
    let cfg = PcpConfig {
        mappings_per_subscriber: 2,
        requests_per_second: 1000,
        ..PcpConfig::default()
    };
    let mut s = Server::new(cfg, vec!["192.168.0.0/24".parse().unwrap()], 0);
    let mut nat = FakeNat::default();
    for port in [1000, 1001] {
        let a = send(
            &mut s,
            &mut nat,
            CLIENT,
            &map(600, &map_body(1, 17, port, 0), &[]),
            0,
        )
        .unwrap();
        assert_eq!(result(&a), ResultCode::Success);
    }
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &map_body(1, 17, 1002, 0), &[]),
        0,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::UserExQuota);
    assert_eq!(nat.asked.len(), 2, "the NAT is not asked over the quota");
    // A renewal is not a new mapping; another subscriber has its own quota.
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &map_body(1, 17, 1000, 0), &[]),
        0,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::Success);
    let a = s
        .handle(
            &request(
                1,
                600,
                v4_mapped(u32::from(OTHER)),
                &map_body(1, 17, 1000, 0),
                &[],
            ),
            SocketAddrV4::new(OTHER, 1),
            BOX,
            0,
            &mut nat,
        )
        .unwrap();
    assert_eq!(result(&a), ResultCode::Success);
    // Ended entries leave the table and free the quota.
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &map_body(1, 17, 1002, 0), &[]),
        601_000,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::Success);
    assert_eq!(s.mappings(), 1);
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

#[test]
fn the_rate_limit_is_per_source() {
    let cfg = PcpConfig {
        requests_per_second: 2,
        ..PcpConfig::default()
    };
    let mut s = Server::new(cfg, vec!["192.168.0.0/24".parse().unwrap()], 0);
    let mut nat = FakeNat::default();
    let me = v4_mapped(u32::from(CLIENT));
    let announce = request(0, 0, me, &[], &[]);
    // A burst of 4 × 2, then nothing until tokens come back.
    let answered = (0..20)
        .filter(|_| send(&mut s, &mut nat, CLIENT, &announce, 1000).is_some())
        .count();
    assert_eq!(answered, 8);
    // Another source has its own bucket.
    let other = request(0, 0, v4_mapped(u32::from(OTHER)), &[], &[]);
    assert!(s
        .handle(&other, SocketAddrV4::new(OTHER, 1), BOX, 1000, &mut nat)
        .is_some());
    // Half a second later one more request is allowed.
    assert!(send(&mut s, &mut nat, CLIENT, &announce, 1500).is_some());
    assert!(send(&mut s, &mut nat, CLIENT, &announce, 1500).is_none());
    let d: HashMap<_, _> = s.drop_counts().into_iter().collect();
    assert_eq!(d["rate_limited"], 13);
}

#[test]
fn epoch_counts_from_the_start_and_resets_on_a_change() {
    let mut s = Server::new(
        PcpConfig::default(),
        vec!["192.168.0.0/24".parse().unwrap()],
        5_000,
    );
    let mut nat = FakeNat::default();
    let announce = request(0, 0, v4_mapped(u32::from(CLIENT)), &[], &[]);
    let a = send(&mut s, &mut nat, CLIENT, &announce, 65_000).unwrap();
    assert_eq!(PcpResponse::new_checked(&a).unwrap().epoch(), 60);
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &map_body(1, 17, 7777, 0), &[]),
        65_000,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::Success);
    s.external_changed(100_000);
    assert_eq!(s.mappings(), 0);
    let a = send(&mut s, &mut nat, CLIENT, &announce, 103_500).unwrap();
    assert_eq!(PcpResponse::new_checked(&a).unwrap().epoch(), 3);
    // After the change a MAP with the old nonce is a new mapping.
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &map_body(9, 17, 7777, 0), &[]),
        103_500,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::Success);
}

#[test]
fn announcements_are_due_at_start_and_after_a_change() {
    let mut s = server();
    let mut nat = FakeNat::default();
    assert_eq!(s.next_wake(), Some(0));
    let first = s.due(0);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, ANNOUNCE_TO);
    let r = PcpResponse::new_checked(&first[0].1).unwrap();
    assert_eq!(
        (r.opcode(), r.result(), r.epoch()),
        (opcode::ANNOUNCE, ResultCode::Success, 0)
    );
    // Then at 250, 750, 1750 ... ms: ten in all.
    assert_eq!(s.next_wake(), Some(250));
    assert!(s.due(249).is_empty());
    let mut times = vec![0];
    let mut now = 0;
    while let Some(t) = s.next_wake() {
        now = t;
        assert_eq!(s.due(now).len(), 1);
        times.push(t);
    }
    assert_eq!(times.len(), ANNOUNCEMENTS as usize);
    assert_eq!(&times[..4], &[0, 250, 750, 1750]);
    assert!(s.due(now + 1_000_000).is_empty());
    // A client with a mapping, then an address change: multicast PCP and
    // NAT-PMP notices, and unicast to the client.
    s.set_public_address(Some(Ipv4Addr::from(EXT)));
    let t = now + 10_000;
    send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &map_body(1, 17, 7777, 0), &[]),
        t,
    )
    .unwrap();
    s.external_changed(t + 1);
    assert_eq!(s.next_wake(), Some(t + 1));
    let out = s.due(t + 1);
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out
        .iter()
        .any(|(to, b)| *to == ANNOUNCE_TO && b == &wire::natpmp_address(0, 0, EXT)));
    assert!(out
        .iter()
        .any(|(to, b)| *to == SocketAddrV4::new(CLIENT, CLIENT_PORT)
            && PcpResponse::new_checked(b).map(|r| r.opcode()) == Some(opcode::ANNOUNCE)));
    // Everything due is sent at once when the caller was late.
    let rest = s.due(t + 1 + 1_000_000);
    assert_eq!(rest.len(), 3 * (ANNOUNCEMENTS as usize - 1));
    assert_eq!(s.next_wake(), None);
}

#[test]
fn natpmp_address_and_mappings() {
    let mut s = server();
    let mut nat = FakeNat {
        external: Some(EXT),
        ..FakeNat::default()
    };
    let a = send(&mut s, &mut nat, CLIENT, &[0, 0], 3000).unwrap();
    assert_eq!(a, wire::natpmp_address(0, 3, EXT));
    nat.external = None;
    let a = send(&mut s, &mut nat, CLIENT, &[0, 0], 3000).unwrap();
    assert_eq!(wire::natpmp_response(&a), Some((0, 3, 3)));
    let a = send(&mut s, &mut nat, Ipv4Addr::new(10, 0, 0, 1), &[0, 0], 3000).unwrap();
    assert_eq!(wire::natpmp_response(&a), Some((0, 2, 3)));
    // Map UDP 7777, suggested 7777, 7200 s.
    let req = [0u8, 1, 0, 0, 0x1e, 0x61, 0x1e, 0x61, 0, 0, 0x1c, 0x20];
    let a = send(&mut s, &mut nat, CLIENT, &req, 3000).unwrap();
    assert_eq!(wire::natpmp_response(&a), Some((1, 0, 3)));
    assert_eq!(wire::natpmp_map_fields(&a), Some((7777, 7777, 7200)));
    assert_eq!(nat.asked[0].proto, 17);
    assert_eq!(nat.asked[0].kind, HoldKind::Map);
    // TCP to the same port is another mapping.
    let mut tcp = req;
    tcp[1] = 2;
    let a = send(&mut s, &mut nat, CLIENT, &tcp, 3000).unwrap();
    assert_eq!(wire::natpmp_response(&a), Some((2, 0, 3)));
    assert_eq!(s.mappings(), 2);
    // A PCP MAP with a nonce cannot take over the NAT-PMP mapping.
    let a = send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &map_body(1, 17, 7777, 0), &[]),
        3000,
    )
    .unwrap();
    assert_eq!(result(&a), ResultCode::NotAuthorized);
    // Delete: lifetime 0; the answer has external port 0 and lifetime 0.
    let mut del = req;
    del[6..12].copy_from_slice(&[0; 6]);
    let a = send(&mut s, &mut nat, CLIENT, &del, 3000).unwrap();
    assert_eq!(wire::natpmp_map_fields(&a), Some((7777, 0, 0)));
    assert_eq!(
        nat.released,
        vec![(HoldKind::Map, 17, u32::from(CLIENT), 7777)]
    );
    // Delete all TCP mappings: internal port 0 too.
    let del_all = [0u8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let a = send(&mut s, &mut nat, CLIENT, &del_all, 3000).unwrap();
    assert_eq!(wire::natpmp_response(&a), Some((2, 0, 3)));
    assert_eq!(s.mappings(), 0);
    assert_eq!(nat.released.len(), 2);
    // Internal port 0 with a lifetime is refused.
    let bad = [0u8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60];
    let a = send(&mut s, &mut nat, CLIENT, &bad, 3000).unwrap();
    assert_eq!(wire::natpmp_response(&a), Some((2, 2, 3)));
    // Refusals of the NAT.
    for (r, code) in [
        (Some(HoldRefusal::NoResources), 4),
        (Some(HoldRefusal::Quota), 4),
        (Some(HoldRefusal::NoExternalAddress), 3),
        (None, 3),
    ] {
        nat.refuse = Some(r);
        let a = send(&mut s, &mut nat, CLIENT, &req, 3000).unwrap();
        assert_eq!(wire::natpmp_response(&a), Some((1, code, 3)), "{r:?}");
    }
    // An unknown opcode comes back with its top bit set and code 5.
    let a = send(&mut s, &mut nat, CLIENT, &[0, 3, 1, 2], 3000).unwrap();
    assert_eq!(a, [0, 0x83, 0, 5, 0, 0, 0, 3]);
}

#[test]
fn request_counts_cover_every_pair() {
    let mut s = server();
    let mut nat = FakeNat::default();
    send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &map_body(1, 17, 7777, 0), &[]),
        0,
    )
    .unwrap();
    send(
        &mut s,
        &mut nat,
        CLIENT,
        &map(600, &map_body(1, 47, 7777, 0), &[]),
        0,
    )
    .unwrap();
    send(&mut s, &mut nat, CLIENT, &[0, 0], 0).unwrap();
    let c = s.request_counts();
    assert_eq!(c.len(), OPCODES.len() * ResultCode::ALL.len());
    let get = |o: &str, r: &str| c.iter().find(|x| x.0 == o && x.1 == r).unwrap().2;
    assert_eq!(get("map", "success"), 1);
    assert_eq!(get("map", "unsupp_protocol"), 1);
    assert_eq!(get("natpmp_address", "network_failure"), 1);
    assert_eq!(c.iter().map(|x| x.2).sum::<u64>(), 3);
    assert_eq!(s.drop_counts().len(), Drop::ALL.len());
}

#[test]
fn refilled_buckets_are_forgotten() {
    let mut s = server();
    let mut nat = FakeNat::default();
    let n = BUCKETS_SWEPT_AT as u32;
    for i in 0..n {
        let from = Ipv4Addr::from(0x0a00_0000 + i);
        assert!(send(&mut s, &mut nat, from, &[0, 0], 0).is_some());
    }
    assert_eq!(s.buckets.len(), BUCKETS_SWEPT_AT);
    // Much later every bucket has refilled: a new source sweeps them.
    assert!(send(&mut s, &mut nat, CLIENT, &[0, 0], 60_000).is_some());
    assert_eq!(s.buckets.len(), 1);
    assert_eq!(s.sweep_at, BUCKETS_SWEPT_AT);
}
