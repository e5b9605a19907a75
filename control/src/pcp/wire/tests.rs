//! Requests and responses as literal bytes: taken apart, built, round trips.

use super::*;

/// A MAP request: UDP, internal port 0x1234, suggested 203.0.113.1:0x5678,
/// lifetime 3600, client 192.168.0.2, nonce 1..=12, no option.
pub const MAP: [u8; 60] = [
    2, 1, 0, 0, 0, 0, 0x0e, 0x10, // version, opcode, reserved, lifetime
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 0, 2, // client
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, // nonce
    17, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, // protocol, reserved, ports
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 1,
];

#[test]
fn a_map_request_is_taken_apart() {
    let r = PcpRequest::new_checked(&MAP).unwrap();
    assert_eq!(r.opcode(), opcode::MAP);
    assert_eq!(r.lifetime(), 3600);
    assert_eq!(mapped_v4(&r.client()), Some(0xc0a8_0002));
    let (b, mut o) = r.map().unwrap();
    assert_eq!(b.nonce(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(b.protocol(), 17);
    assert_eq!((b.internal_port(), b.external_port()), (0x1234, 0x5678));
    assert_eq!(suggested_v4(&b.external_addr()), Some(0xcb00_7101));
    assert_eq!(b.remote(), None);
    assert!(o.next().is_none());
    assert!(r.peer().is_none(), "60 octets hold no PEER body");
}

#[test]
fn headers_are_checked() {
    assert_eq!(
        PcpRequest::new_checked(&[2]).unwrap_err(),
        RequestError::TooShort
    );
    assert_eq!(
        PcpRequest::new_checked(&[2, 0x81]).unwrap_err(),
        RequestError::Response
    );
    assert_eq!(
        PcpRequest::new_checked(&[1, 1]).unwrap_err(),
        RequestError::Version
    );
    assert_eq!(
        PcpRequest::new_checked(&MAP[..20]).unwrap_err(),
        RequestError::Malformed
    );
    assert_eq!(
        PcpRequest::new_checked(&MAP[..59]).unwrap_err(),
        RequestError::Malformed
    );
    let mut big = MAP.to_vec();
    big.resize(1104, 0);
    assert_eq!(
        PcpRequest::new_checked(&big).unwrap_err(),
        RequestError::Malformed
    );
    big.truncate(1100);
    assert!(PcpRequest::new_checked(&big).is_ok());
}

#[test]
fn options_are_walked_and_bounded() {
    let mut m = MAP.to_vec();
    m.extend(build_option(option::PREFER_FAILURE, &[]));
    let mut f = vec![0, 120];
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&v4_mapped(0xc633_6400));
    m.extend(build_option(option::FILTER, &f));
    m.extend(build_option(200, &[1, 2, 3]));
    let r = PcpRequest::new_checked(&m).unwrap();
    let (_, o) = r.map().unwrap();
    let v: Vec<_> = o.collect::<Result<_, _>>().unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!((v[0].code, v[0].data.len(), v[0].raw.len()), (2, 0, 4));
    assert_eq!(
        filter_data(v[1].data),
        Some((120, 53, v4_mapped(0xc633_6400)))
    );
    assert_eq!(
        (v[2].code, v[2].data, v[2].raw.len()),
        (200, &[1u8, 2, 3][..], 8)
    );
    // An option whose length runs past the end.
    let mut bad = MAP.to_vec();
    bad.extend_from_slice(&[option::THIRD_PARTY, 0, 0, 16, 0, 0, 0, 0]);
    let r = PcpRequest::new_checked(&bad).unwrap();
    let v: Vec<_> = r.map().unwrap().1.collect();
    assert_eq!(v, vec![Err(())]);
}

#[test]
fn responses_are_built_and_parse_back() {
    let (b, _) = PcpRequest::new_checked(&MAP).unwrap().map().unwrap();
    let body = assigned_body(b.bytes(), 0xcb00_7102, 40000);
    let opt = build_option(option::PREFER_FAILURE, &[]);
    let v = build_response(opcode::MAP, ResultCode::Success, 7200, 99, &body, &opt);
    assert_eq!(v.len(), HEADER_LEN + MAP_LEN + 4);
    assert_eq!(&v[..12], &[2, 0x81, 0, 0, 0, 0, 0x1c, 0x20, 0, 0, 0, 99]);
    let r = PcpResponse::new_checked(&v).unwrap();
    assert_eq!(r.opcode(), opcode::MAP);
    assert_eq!(r.result(), ResultCode::Success);
    assert_eq!((r.lifetime(), r.epoch()), (7200, 99));
    assert_eq!(r.assigned(), Some((0xcb00_7102, 40000)));
    // The nonce, protocol and internal port are the request's.
    assert_eq!(&v[24..40], &MAP[24..40]);
    // Cut to 1100 octets.
    let long = build_response(
        opcode::MAP,
        ResultCode::MalformedRequest,
        0,
        0,
        &[0; 2000],
        &[],
    );
    assert_eq!(long.len(), MAX_LEN);
    assert!(PcpResponse::new_checked(&[2, 0x81, 0, 14, 0, 0, 0, 0]).is_none());
}

#[test]
fn natpmp_messages() {
    let a = natpmp_address(0, 5, 0xcb00_7101);
    assert_eq!(a, [0, 128, 0, 0, 0, 0, 0, 5, 203, 0, 113, 1]);
    assert_eq!(natpmp_response(&a), Some((0, 0, 5)));
    let req = [0u8, 1, 0, 0, 0x1e, 0x61, 0x1e, 0x62, 0, 0, 0x1c, 0x20];
    assert_eq!(natpmp_map_request(&req), Some((1, 7777, 7778, 7200)));
    assert_eq!(natpmp_map_request(&req[..11]), None);
    let m = natpmp_map(2, 4, 6, 7777, 0, 0);
    assert_eq!(m, [0, 130, 0, 4, 0, 0, 0, 6, 0x1e, 0x61, 0, 0, 0, 0, 0, 0]);
    assert_eq!(natpmp_response(&m), Some((2, 4, 6)));
    assert_eq!(natpmp_map_fields(&m), Some((7777, 0, 0)));
    let u = natpmp_unsupported(&[0, 9], 7);
    assert_eq!(u, [0, 0x89, 0, 5, 0, 0, 0, 7]);
    assert_eq!(natpmp_response(&u), Some((9, 5, 7)));
}

#[test]
fn addresses() {
    assert_eq!(mapped_v4(&v4_mapped(0x0a00_0001)), Some(0x0a00_0001));
    let mut v6 = [0u8; 16];
    v6[0] = 0x20;
    v6[1] = 0x01;
    assert_eq!(mapped_v4(&v6), None);
    assert_eq!(suggested_v4(&v6), None);
    assert_eq!(suggested_v4(&[0; 16]), Some(0));
    assert_eq!(suggested_v4(&v4_mapped(0)), Some(0));
    for c in ResultCode::ALL {
        assert_eq!(ResultCode::from_u8(c as u8), Some(c));
    }
    assert_eq!(ResultCode::from_u8(14), None);
}
