//! PCP (RFC 6887, version 2) and NAT-PMP (RFC 6886, version 0) messages:
//! views over the bytes of requests, with every length checked once when
//! the view is made and every offset named in [`field`], and builders of
//! responses. Only IPv4 is served: PCP carries it as an IPv4-mapped IPv6
//! address (`::ffff:a.b.c.d`), which [`mapped_v4`] takes apart.

/// PCP's version number.
pub const PCP_VERSION: u8 = 2;
/// NAT-PMP's version number.
pub const NATPMP_VERSION: u8 = 0;
/// Largest PCP message (RFC 6887 §7).
pub const MAX_LEN: usize = 1100;
/// PCP request and response header.
pub const HEADER_LEN: usize = 24;
/// MAP opcode body.
pub const MAP_LEN: usize = 36;
/// PEER opcode body.
pub const PEER_LEN: usize = 56;
/// Option header (code, reserved, length).
pub const OPTION_HEADER_LEN: usize = 4;
/// NAT-PMP mapping request.
pub const NATPMP_MAP_LEN: usize = 12;
/// NAT-PMP public address response.
pub const NATPMP_ADDRESS_RESPONSE_LEN: usize = 12;
/// NAT-PMP mapping response.
pub const NATPMP_MAP_RESPONSE_LEN: usize = 16;

/// PCP opcodes.
pub mod opcode {
    /// ANNOUNCE.
    pub const ANNOUNCE: u8 = 0;
    /// MAP.
    pub const MAP: u8 = 1;
    /// PEER.
    pub const PEER: u8 = 2;
}

/// NAT-PMP opcodes.
pub mod natpmp_op {
    /// Public address request.
    pub const ADDRESS: u8 = 0;
    /// Map a UDP port.
    pub const MAP_UDP: u8 = 1;
    /// Map a TCP port.
    pub const MAP_TCP: u8 = 2;
}

/// PCP option codes (0-127 must be processed, 128-255 may be ignored).
pub mod option {
    /// THIRD_PARTY: the internal address is another host's.
    pub const THIRD_PARTY: u8 = 1;
    /// PREFER_FAILURE: refuse rather than give another external endpoint.
    pub const PREFER_FAILURE: u8 = 2;
    /// FILTER: remote peers admitted by a MAP mapping.
    pub const FILTER: u8 = 3;
    /// Codes from this one up are optional to process.
    pub const FIRST_OPTIONAL: u8 = 128;
}

/// Byte offsets of every field, in one place.
pub mod field {
    use core::ops::Range;
    /// Version (both protocols).
    pub const VERSION: usize = 0;
    /// R bit and opcode (PCP), opcode (NAT-PMP).
    pub const OPCODE: usize = 1;
    /// PCP request: requested lifetime.
    pub const REQ_LIFETIME: Range<usize> = 4..8;
    /// PCP request: the client's IP address.
    pub const REQ_CLIENT: Range<usize> = 8..24;
    /// PCP response: result code.
    pub const RESP_RESULT: usize = 3;
    /// PCP response: lifetime.
    pub const RESP_LIFETIME: Range<usize> = 4..8;
    /// PCP response: epoch time.
    pub const RESP_EPOCH: Range<usize> = 8..12;
    /// PCP response: reserved.
    pub const RESP_RESERVED: Range<usize> = 12..24;
    /// MAP and PEER bodies (from the start of the body): nonce.
    pub const NONCE: Range<usize> = 0..12;
    /// Protocol.
    pub const PROTOCOL: usize = 12;
    /// Reserved after the protocol.
    pub const BODY_RESERVED: Range<usize> = 13..16;
    /// Internal port.
    pub const INTERNAL_PORT: Range<usize> = 16..18;
    /// Suggested (request) or assigned (response) external port.
    pub const EXTERNAL_PORT: Range<usize> = 18..20;
    /// Suggested or assigned external address.
    pub const EXTERNAL_ADDR: Range<usize> = 20..36;
    /// PEER: remote peer port.
    pub const REMOTE_PORT: Range<usize> = 36..38;
    /// PEER: reserved after the remote port.
    pub const REMOTE_RESERVED: Range<usize> = 38..40;
    /// PEER: remote peer address.
    pub const REMOTE_ADDR: Range<usize> = 40..56;
    /// Option: code.
    pub const OPT_CODE: usize = 0;
    /// Option: length of the data.
    pub const OPT_LEN: Range<usize> = 2..4;
    /// FILTER data: prefix length.
    pub const FILTER_PREFIX: usize = 1;
    /// FILTER data: remote port.
    pub const FILTER_PORT: Range<usize> = 2..4;
    /// FILTER data: remote address.
    pub const FILTER_ADDR: Range<usize> = 4..20;
    /// NAT-PMP: result code (responses).
    pub const NATPMP_RESULT: Range<usize> = 2..4;
    /// NAT-PMP: seconds since the start of the epoch (responses).
    pub const NATPMP_EPOCH: Range<usize> = 4..8;
    /// NAT-PMP public address response: the address.
    pub const NATPMP_ADDRESS: Range<usize> = 8..12;
    /// NAT-PMP map request: internal port.
    pub const NATPMP_INTERNAL: Range<usize> = 4..6;
    /// NAT-PMP map request: suggested external port.
    pub const NATPMP_SUGGESTED: Range<usize> = 6..8;
    /// NAT-PMP map request: requested lifetime.
    pub const NATPMP_LIFETIME: Range<usize> = 8..12;
    /// NAT-PMP map response: internal port.
    pub const NATPMP_R_INTERNAL: Range<usize> = 8..10;
    /// NAT-PMP map response: mapped external port.
    pub const NATPMP_R_EXTERNAL: Range<usize> = 10..12;
    /// NAT-PMP map response: lifetime.
    pub const NATPMP_R_LIFETIME: Range<usize> = 12..16;
}

/// PCP result codes (RFC 6887 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultCode {
    /// 0.
    Success = 0,
    /// 1: the version is not served.
    UnsuppVersion = 1,
    /// 2: not allowed for this client.
    NotAuthorized = 2,
    /// 3: the request could not be parsed.
    MalformedRequest = 3,
    /// 4: the opcode is not served.
    UnsuppOpcode = 4,
    /// 5: a mandatory option is not served.
    UnsuppOption = 5,
    /// 6: an option is malformed or repeated.
    MalformedOption = 6,
    /// 7: the NAT could not be reached or has no external address.
    NetworkFailure = 7,
    /// 8: no port or table room now.
    NoResources = 8,
    /// 9: the protocol is not served.
    UnsuppProtocol = 9,
    /// 10: the subscriber is at its quota.
    UserExQuota = 10,
    /// 11: PREFER_FAILURE and the suggested endpoint cannot be given.
    CannotProvideExternal = 11,
    /// 12: the client address field is not the source address.
    AddressMismatch = 12,
    /// 13: more FILTER options than the NAT keeps.
    ExcessiveRemotePeers = 13,
}

impl ResultCode {
    /// Every code, in numeric order.
    pub const ALL: [ResultCode; 14] = [
        ResultCode::Success,
        ResultCode::UnsuppVersion,
        ResultCode::NotAuthorized,
        ResultCode::MalformedRequest,
        ResultCode::UnsuppOpcode,
        ResultCode::UnsuppOption,
        ResultCode::MalformedOption,
        ResultCode::NetworkFailure,
        ResultCode::NoResources,
        ResultCode::UnsuppProtocol,
        ResultCode::UserExQuota,
        ResultCode::CannotProvideExternal,
        ResultCode::AddressMismatch,
        ResultCode::ExcessiveRemotePeers,
    ];

    /// The code of a number, if it is one.
    pub fn from_u8(v: u8) -> Option<ResultCode> {
        ResultCode::ALL.get(usize::from(v)).copied()
    }

    /// The RFC's name in lower case (the metric's `result` label).
    pub fn name(self) -> &'static str {
        match self {
            ResultCode::Success => "success",
            ResultCode::UnsuppVersion => "unsupp_version",
            ResultCode::NotAuthorized => "not_authorized",
            ResultCode::MalformedRequest => "malformed_request",
            ResultCode::UnsuppOpcode => "unsupp_opcode",
            ResultCode::UnsuppOption => "unsupp_option",
            ResultCode::MalformedOption => "malformed_option",
            ResultCode::NetworkFailure => "network_failure",
            ResultCode::NoResources => "no_resources",
            ResultCode::UnsuppProtocol => "unsupp_protocol",
            ResultCode::UserExQuota => "user_ex_quota",
            ResultCode::CannotProvideExternal => "cannot_provide_external",
            ResultCode::AddressMismatch => "address_mismatch",
            ResultCode::ExcessiveRemotePeers => "excessive_remote_peers",
        }
    }

    /// Whether the error lasts only as long as a temporary condition
    /// (RFC 6887 §7.4 "short lifetime error").
    pub fn is_short(self) -> bool {
        matches!(
            self,
            ResultCode::NetworkFailure
                | ResultCode::NoResources
                | ResultCode::UserExQuota
                | ResultCode::CannotProvideExternal
        )
    }

    /// The NAT-PMP result code standing for it (RFC 6886 §3.5): 1
    /// unsupported version, 2 not authorized or refused, 3 network
    /// failure, 4 out of resources, 5 unsupported opcode.
    pub fn natpmp(self) -> u16 {
        match self {
            ResultCode::Success => 0,
            ResultCode::UnsuppVersion => 1,
            ResultCode::NetworkFailure => 3,
            ResultCode::NoResources | ResultCode::UserExQuota => 4,
            ResultCode::UnsuppOpcode => 5,
            _ => 2,
        }
    }
}

impl core::fmt::Display for ResultCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

fn u16_at(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[r]);
    u16::from_be_bytes(a)
}

fn u32_at(b: &[u8], r: core::ops::Range<usize>) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[r]);
    u32::from_be_bytes(a)
}

fn addr_at(b: &[u8], r: core::ops::Range<usize>) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[r]);
    a
}

/// The IPv4 address of an IPv4-mapped IPv6 address; `None` for any other.
pub fn mapped_v4(a: &[u8; 16]) -> Option<u32> {
    (a[..10] == [0; 10] && a[10..12] == [0xff, 0xff])
        .then(|| u32::from_be_bytes([a[12], a[13], a[14], a[15]]))
}

/// `addr` as an IPv4-mapped IPv6 address.
pub fn v4_mapped(addr: u32) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[10] = 0xff;
    a[11] = 0xff;
    a[12..].copy_from_slice(&addr.to_be_bytes());
    a
}

/// A suggested external address: `Some(0)` for "any" (`::` or
/// `::ffff:0.0.0.0`), `Some(addr)` for IPv4, `None` for another IPv6.
pub fn suggested_v4(a: &[u8; 16]) -> Option<u32> {
    if *a == [0; 16] {
        Some(0)
    } else {
        mapped_v4(a)
    }
}

/// Why bytes are not a PCP request of the opcode they name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Under two octets: dropped silently (RFC 6887 §8.3).
    TooShort,
    /// The R bit is set: a response, dropped silently.
    Response,
    /// A version other than 2.
    Version,
    /// Shorter than the header or the opcode body, longer than 1100
    /// octets, or not a multiple of 4.
    Malformed,
}

/// A PCP request: header checked (length, version, R bit, size rules);
/// the opcode body is checked by [`PcpRequest::map`] and
/// [`PcpRequest::peer`].
#[derive(Clone, Copy, Debug)]
pub struct PcpRequest<'a> {
    buf: &'a [u8],
}

impl<'a> PcpRequest<'a> {
    /// Checks the common header and the message's size rules.
    pub fn new_checked(buf: &'a [u8]) -> Result<PcpRequest<'a>, RequestError> {
        if buf.len() < 2 {
            return Err(RequestError::TooShort);
        }
        if buf[field::OPCODE] & 0x80 != 0 {
            return Err(RequestError::Response);
        }
        if buf[field::VERSION] != PCP_VERSION {
            return Err(RequestError::Version);
        }
        if buf.len() < HEADER_LEN || buf.len() > MAX_LEN || buf.len() % 4 != 0 {
            return Err(RequestError::Malformed);
        }
        Ok(PcpRequest { buf })
    }

    /// The opcode (R bit cleared).
    pub fn opcode(&self) -> u8 {
        self.buf[field::OPCODE] & 0x7f
    }

    /// Requested lifetime, seconds.
    pub fn lifetime(&self) -> u32 {
        u32_at(self.buf, field::REQ_LIFETIME)
    }

    /// The client's IP address field.
    pub fn client(&self) -> [u8; 16] {
        addr_at(self.buf, field::REQ_CLIENT)
    }

    /// Everything after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..]
    }

    /// The MAP body and the options after it; `None` when too short.
    pub fn map(&self) -> Option<(MapBody<'a>, Options<'a>)> {
        self.body(MAP_LEN)
    }

    /// The PEER body and the options after it; `None` when too short.
    pub fn peer(&self) -> Option<(MapBody<'a>, Options<'a>)> {
        self.body(PEER_LEN)
    }

    /// The options of an ANNOUNCE request (all of the payload).
    pub fn announce_options(&self) -> Options<'a> {
        Options {
            rest: self.payload(),
        }
    }

    fn body(&self, len: usize) -> Option<(MapBody<'a>, Options<'a>)> {
        let p = self.payload();
        (p.len() >= len).then(|| (MapBody { buf: &p[..len] }, Options { rest: &p[len..] }))
    }
}

/// A MAP body (36 octets) or PEER body (56 octets), length checked.
#[derive(Clone, Copy, Debug)]
pub struct MapBody<'a> {
    buf: &'a [u8],
}

impl<'a> MapBody<'a> {
    /// The bytes (to echo in a response).
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// Mapping nonce.
    pub fn nonce(&self) -> [u8; 12] {
        let mut n = [0u8; 12];
        n.copy_from_slice(&self.buf[field::NONCE]);
        n
    }
    /// Protocol (0: all protocols).
    pub fn protocol(&self) -> u8 {
        self.buf[field::PROTOCOL]
    }
    /// Internal port.
    pub fn internal_port(&self) -> u16 {
        u16_at(self.buf, field::INTERNAL_PORT)
    }
    /// Suggested external port.
    pub fn external_port(&self) -> u16 {
        u16_at(self.buf, field::EXTERNAL_PORT)
    }
    /// Suggested external address.
    pub fn external_addr(&self) -> [u8; 16] {
        addr_at(self.buf, field::EXTERNAL_ADDR)
    }
    /// PEER: the remote peer's port and address; `None` for a MAP body.
    pub fn remote(&self) -> Option<(u16, [u8; 16])> {
        (self.buf.len() >= PEER_LEN).then(|| {
            (
                u16_at(self.buf, field::REMOTE_PORT),
                addr_at(self.buf, field::REMOTE_ADDR),
            )
        })
    }
}

/// One option: its code and data (padding removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcpOption<'a> {
    /// Option code.
    pub code: u8,
    /// Data, `Option Length` octets.
    pub data: &'a [u8],
    /// The whole option with its padding (to echo it).
    pub raw: &'a [u8],
}

/// The options of a request, one by one; an option whose header or data
/// runs past the message yields `Err(())` (MALFORMED_OPTION) and ends it.
#[derive(Clone, Copy, Debug)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<PcpOption<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.rest;
        if r.len() < OPTION_HEADER_LEN {
            self.rest = &[];
            return Some(Err(()));
        }
        let len = usize::from(u16_at(r, field::OPT_LEN));
        let padded = OPTION_HEADER_LEN + len.div_ceil(4) * 4;
        if padded > r.len() {
            self.rest = &[];
            return Some(Err(()));
        }
        self.rest = &r[padded..];
        Some(Ok(PcpOption {
            code: r[field::OPT_CODE],
            data: &r[OPTION_HEADER_LEN..OPTION_HEADER_LEN + len],
            raw: &r[..padded],
        }))
    }
}

/// A FILTER option's data: (prefix length in IPv6 terms, remote port,
/// remote address); `None` when the data is not 20 octets.
pub fn filter_data(data: &[u8]) -> Option<(u8, u16, [u8; 16])> {
    (data.len() == 20).then(|| {
        (
            data[field::FILTER_PREFIX],
            u16_at(data, field::FILTER_PORT),
            addr_at(data, field::FILTER_ADDR),
        )
    })
}

/// An option as bytes: header, data, padding.
pub fn build_option(code: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![code, 0];
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

/// A PCP response: header (version 2, R bit, opcode, result, lifetime,
/// epoch, reserved zero), then `body` and `options`, cut to 1100
/// octets and to a multiple of 4.
pub fn build_response(
    opcode: u8,
    result: ResultCode,
    lifetime: u32,
    epoch: u32,
    body: &[u8],
    options: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + body.len() + options.len());
    v.extend_from_slice(&[PCP_VERSION, 0x80 | (opcode & 0x7f), 0, result as u8]);
    v.extend_from_slice(&lifetime.to_be_bytes());
    v.extend_from_slice(&epoch.to_be_bytes());
    v.extend_from_slice(&[0; 12]);
    v.extend_from_slice(body);
    v.extend_from_slice(options);
    let keep = v.len().min(MAX_LEN) / 4 * 4;
    v.truncate(keep);
    v
}

/// A MAP or PEER response body: the request's body with the assigned
/// external port and address written in.
pub fn assigned_body(request_body: &[u8], external: u32, port: u16) -> Vec<u8> {
    let mut b = request_body.to_vec();
    b[field::EXTERNAL_PORT].copy_from_slice(&port.to_be_bytes());
    b[field::EXTERNAL_ADDR].copy_from_slice(&v4_mapped(external));
    b
}

/// A PCP response, checked: header length, size rules, R bit, version 2
/// and a known result code.
#[derive(Clone, Copy, Debug)]
pub struct PcpResponse<'a> {
    buf: &'a [u8],
}

impl<'a> PcpResponse<'a> {
    /// Checks the bytes; `None` when they are not a PCP response.
    pub fn new_checked(buf: &'a [u8]) -> Option<PcpResponse<'a>> {
        let ok = buf.len() >= HEADER_LEN
            && buf.len() <= MAX_LEN
            && buf.len() % 4 == 0
            && buf[field::VERSION] == PCP_VERSION
            && buf[field::OPCODE] & 0x80 != 0
            && ResultCode::from_u8(buf[field::RESP_RESULT]).is_some();
        ok.then_some(PcpResponse { buf })
    }
    /// Opcode.
    pub fn opcode(&self) -> u8 {
        self.buf[field::OPCODE] & 0x7f
    }
    /// Result code.
    pub fn result(&self) -> ResultCode {
        ResultCode::from_u8(self.buf[field::RESP_RESULT]).unwrap_or(ResultCode::MalformedRequest)
    }
    /// Lifetime.
    pub fn lifetime(&self) -> u32 {
        u32_at(self.buf, field::RESP_LIFETIME)
    }
    /// Epoch time.
    pub fn epoch(&self) -> u32 {
        u32_at(self.buf, field::RESP_EPOCH)
    }
    /// Everything after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..]
    }
    /// The assigned external port and address of a MAP or PEER
    /// response; `None` when the body is short or not IPv4.
    pub fn assigned(&self) -> Option<(u32, u16)> {
        let p = self.payload();
        (p.len() >= MAP_LEN).then_some(())?;
        let a = mapped_v4(&addr_at(p, field::EXTERNAL_ADDR))?;
        Some((a, u16_at(p, field::EXTERNAL_PORT)))
    }
}

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

#[cfg(test)]
pub(crate) mod tests {
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
}
