//! NAT-PMP (RFC 6886) messages: the mapping request taken apart, the
//! three responses built and taken apart.

use super::{field, natpmp_op, u16_at, u32_at, ResultCode, NATPMP_ADDRESS_RESPONSE_LEN};
use super::{NATPMP_MAP_LEN, NATPMP_MAP_RESPONSE_LEN, NATPMP_VERSION};

/// A NAT-PMP public address response.
pub fn natpmp_address(result: u16, epoch: u32, addr: u32) -> Vec<u8> {
    let mut v = vec![NATPMP_VERSION, 0x80 | natpmp_op::ADDRESS];
    v.extend_from_slice(&result.to_be_bytes());
    v.extend_from_slice(&epoch.to_be_bytes());
    v.extend_from_slice(&addr.to_be_bytes());
    v
}

/// A NAT-PMP mapping response.
pub fn natpmp_map(
    op: u8,
    result: u16,
    epoch: u32,
    internal: u16,
    external: u16,
    lifetime: u32,
) -> Vec<u8> {
    let mut v = vec![NATPMP_VERSION, 0x80 | op];
    v.extend_from_slice(&result.to_be_bytes());
    v.extend_from_slice(&epoch.to_be_bytes());
    v.extend_from_slice(&internal.to_be_bytes());
    v.extend_from_slice(&external.to_be_bytes());
    v.extend_from_slice(&lifetime.to_be_bytes());
    v
}

/// The NAT-PMP answer to an opcode it does not know (RFC 6886 §3.5):
/// the request returned with the top bit of the opcode set, the result
/// code and epoch written over octets 2 to 7 (at least 8 octets).
pub fn natpmp_unsupported(request: &[u8], epoch: u32) -> Vec<u8> {
    let mut v = request.to_vec();
    v.resize(v.len().max(8), 0);
    v[field::OPCODE] |= 0x80;
    v[field::NATPMP_RESULT].copy_from_slice(&ResultCode::UnsuppOpcode.natpmp().to_be_bytes());
    v[field::NATPMP_EPOCH].copy_from_slice(&epoch.to_be_bytes());
    v
}

/// A NAT-PMP mapping request: (opcode, internal port, suggested external
/// port, requested lifetime); `None` when shorter than 12 octets.
pub fn natpmp_map_request(buf: &[u8]) -> Option<(u8, u16, u16, u32)> {
    (buf.len() >= NATPMP_MAP_LEN).then(|| {
        (
            buf[field::OPCODE],
            u16_at(buf, field::NATPMP_INTERNAL),
            u16_at(buf, field::NATPMP_SUGGESTED),
            u32_at(buf, field::NATPMP_LIFETIME),
        )
    })
}

/// A NAT-PMP response, taken apart: (opcode without the top bit, result
/// code, epoch); `None` when it is not one of the three forms.
pub fn natpmp_response(buf: &[u8]) -> Option<(u8, u16, u32)> {
    if buf.len() < 8 || buf[field::VERSION] != NATPMP_VERSION || buf[field::OPCODE] & 0x80 == 0 {
        return None;
    }
    let op = buf[field::OPCODE] & 0x7f;
    let result = u16_at(buf, field::NATPMP_RESULT);
    let len_ok = match op {
        natpmp_op::ADDRESS => buf.len() == NATPMP_ADDRESS_RESPONSE_LEN,
        natpmp_op::MAP_UDP | natpmp_op::MAP_TCP => buf.len() == NATPMP_MAP_RESPONSE_LEN,
        _ => result == ResultCode::UnsuppOpcode.natpmp(),
    };
    (len_ok && result <= 5).then(|| (op, result, u32_at(buf, field::NATPMP_EPOCH)))
}

/// A NAT-PMP mapping response's (internal port, external port, lifetime).
pub fn natpmp_map_fields(buf: &[u8]) -> Option<(u16, u16, u32)> {
    (buf.len() >= NATPMP_MAP_RESPONSE_LEN).then(|| {
        (
            u16_at(buf, field::NATPMP_R_INTERNAL),
            u16_at(buf, field::NATPMP_R_EXTERNAL),
            u32_at(buf, field::NATPMP_R_LIFETIME),
        )
    })
}
