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

mod natpmp;
pub use natpmp::{
    natpmp_address, natpmp_map, natpmp_map_fields, natpmp_map_request, natpmp_response,
    natpmp_unsupported,
};

#[cfg(test)]
mod tests;
