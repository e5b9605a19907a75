//! The table of mappings: grants, renewals, deletion, nonces, PEER, the
//! quota, the rate limit, the counters.

use super::*;

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
    assert_eq!(
        map_result(&mut s, &mut nat, 600, &map_body(8, 17, 7777, 0), 20_000),
        ResultCode::NotAuthorized
    );
    assert_eq!(
        map_result(&mut s, &mut nat, 0, &map_body(8, 17, 7777, 0), 20_000),
        ResultCode::NotAuthorized
    );
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
    assert_eq!(
        map_result(&mut s, &mut nat, 600, &map_body(1, 17, 1000, 0), 0),
        ResultCode::Success
    );
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
    assert_eq!(
        map_result(&mut s, &mut nat, 600, &map_body(1, 17, 1002, 0), 601_000),
        ResultCode::Success
    );
    assert_eq!(s.mappings(), 1);
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

#[test]
fn request_counts_cover_every_pair() {
    let mut s = server();
    let mut nat = FakeNat::default();
    let m = map_result(&mut s, &mut nat, 600, &map_body(1, 17, 7777, 0), 0);
    assert_eq!(m, ResultCode::Success);
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
