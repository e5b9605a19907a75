//! NAT-PMP: public address, mappings, deletion, refusals, unknown opcodes.

use super::*;

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
    assert_eq!(
        map_result(&mut s, &mut nat, 600, &map_body(1, 17, 7777, 0), 3000),
        ResultCode::NotAuthorized
    );
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
