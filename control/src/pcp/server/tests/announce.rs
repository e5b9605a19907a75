//! The epoch and the unsolicited announcements.

use super::*;

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
    assert_eq!(
        map_result(&mut s, &mut nat, 600, &map_body(1, 17, 7777, 0), 65_000),
        ResultCode::Success
    );
    s.external_changed(100_000);
    assert_eq!(s.mappings(), 0);
    let a = send(&mut s, &mut nat, CLIENT, &announce, 103_500).unwrap();
    assert_eq!(PcpResponse::new_checked(&a).unwrap().epoch(), 3);
    // After the change a MAP with the old nonce is a new mapping.
    let m = map_result(&mut s, &mut nat, 600, &map_body(9, 17, 7777, 0), 103_500);
    assert_eq!(m, ResultCode::Success);
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
    let m = map_result(&mut s, &mut nat, 600, &map_body(1, 17, 7777, 0), t);
    assert_eq!(m, ResultCode::Success);
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
