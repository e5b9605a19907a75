//! Frame builders. Addresses are written as `[a, b, c, d]`.

use etherparse::PacketBuilder;

use crate::check::{fold, sum};

/// MAC of the first LAN host.
pub const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];
/// MAC of the NAT's LAN interface.
pub const LAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// MAC of the NAT's WAN interface.
pub const WAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// MAC of the WAN gateway.
pub const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];

/// Default TTL of built frames.
pub const TTL: u8 = 64;

/// Which way a frame travels, for choosing MACs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    /// Sent by a LAN host to the NAT.
    Lan,
    /// Sent by the WAN gateway to the NAT.
    Wan,
}

fn macs(from: From) -> ([u8; 6], [u8; 6]) {
    match from {
        From::Lan => (HOST_MAC, LAN_MAC),
        From::Wan => (GW_MAC, WAN_MAC),
    }
}

/// A UDP datagram in an Ethernet frame.
pub fn udp(
    from: From,
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let (s, d) = macs(from);
    let b = PacketBuilder::ethernet2(s, d)
        .ipv4(src, dst, TTL)
        .udp(sport, dport);
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).expect("build udp");
    v
}

/// TCP flags for [`tcp`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// ACK.
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

/// SYN.
pub const SYN: Flags = Flags {
    syn: true,
    ack: false,
    fin: false,
    rst: false,
};
/// SYN+ACK.
pub const SYN_ACK: Flags = Flags {
    syn: true,
    ack: true,
    fin: false,
    rst: false,
};
/// ACK.
pub const ACK: Flags = Flags {
    syn: false,
    ack: true,
    fin: false,
    rst: false,
};
/// FIN+ACK.
pub const FIN_ACK: Flags = Flags {
    syn: false,
    ack: true,
    fin: true,
    rst: false,
};
/// RST.
pub const RST: Flags = Flags {
    syn: false,
    ack: false,
    fin: false,
    rst: true,
};

/// A TCP segment in an Ethernet frame.
pub fn tcp(
    from: From,
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    f: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let (s, d) = macs(from);
    let mut b = PacketBuilder::ethernet2(s, d)
        .ipv4(src, dst, TTL)
        .tcp(sport, dport, 1000, 64240);
    if f.syn {
        b = b.syn();
    }
    if f.ack {
        b = b.ack(2000);
    }
    if f.fin {
        b = b.fin();
    }
    if f.rst {
        b = b.rst();
    }
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).expect("build tcp");
    v
}

/// An ICMP echo request (or reply) in an Ethernet frame.
pub fn echo(from: From, src: [u8; 4], dst: [u8; 4], id: u16, seq: u16, request: bool) -> Vec<u8> {
    echo_with(from, src, dst, id, seq, request, b"abcdefghijklmnop")
}

/// An ICMP echo request (or reply) carrying `payload`.
pub fn echo_with(
    from: From,
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    seq: u16,
    request: bool,
    payload: &[u8],
) -> Vec<u8> {
    let (s, d) = macs(from);
    let ip = PacketBuilder::ethernet2(s, d).ipv4(src, dst, TTL);
    let b = if request {
        ip.icmpv4_echo_request(id, seq)
    } else {
        ip.icmpv4_echo_reply(id, seq)
    };
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).expect("build echo");
    v
}

/// An ICMP error of `ty`/`code` from `src` to `dst` carrying `embedded`
/// (an IP packet, cut to its header plus `keep` bytes).
pub fn icmp_error(
    from: From,
    src: [u8; 4],
    dst: [u8; 4],
    ty: u8,
    code: u8,
    embedded_frame: &[u8],
    keep: usize,
) -> Vec<u8> {
    let (s, d) = macs(from);
    let ip = &embedded_frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let cut = &ip[..(ihl + keep).min(ip.len())];
    let b = PacketBuilder::ethernet2(s, d)
        .ipv4(src, dst, TTL)
        .icmpv4_raw(ty, code, [0; 4]);
    let mut v = Vec::with_capacity(b.size(cut.len()));
    b.write(&mut v, cut).expect("build icmp error");
    v
}

/// Sets the TTL of a built frame and fixes its header checksum.
pub fn with_ttl(mut frame: Vec<u8>, ttl: u8) -> Vec<u8> {
    frame[22] = ttl;
    refill_ip_checksum(&mut frame);
    frame
}

/// Recomputes the IPv4 header checksum of a frame (test-side code).
pub fn refill_ip_checksum(frame: &mut [u8]) {
    refill_ip_header(frame, 14);
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Recomputes the checksum of the IPv4 header at `at` if it is whole.
fn refill_ip_header(f: &mut [u8], at: usize) -> bool {
    if f.len() < at + 20 || f[at] >> 4 != 4 {
        return false;
    }
    let hl = usize::from(f[at] & 0x0f) * 4;
    if hl < 20 || at + hl > f.len() {
        return false;
    }
    f[at + 10] = 0;
    f[at + 11] = 0;
    let c = !fold(sum(0, &f[at..at + hl]));
    f[at + 10..at + 12].copy_from_slice(&c.to_be_bytes());
    true
}

/// Recomputes every checksum of an Ethernet/IPv4 frame that its structure
/// allows: IPv4 header, TCP, UDP (unless 0), ICMP (after the header of an
/// embedded packet).
pub fn refill_checksums(f: &mut [u8]) {
    if f.len() < 34 || f[12..14] != [8, 0] || !refill_ip_header(f, 14) {
        return;
    }
    let l4 = 14 + usize::from(f[14] & 0x0f) * 4;
    let end = 14 + usize::from(be16(f, 16));
    if end > f.len() || end < l4 {
        return;
    }
    let pseudo = |f: &[u8], len: usize| sum(0, &f[26..34]) + u64::from(f[23]) + len as u64;
    match f[23] {
        6 if end - l4 >= 20 => {
            f[l4 + 16] = 0;
            f[l4 + 17] = 0;
            let c = !fold(sum(pseudo(f, end - l4), &f[l4..end]));
            f[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        }
        17 if end - l4 >= 8 => {
            let len = usize::from(be16(f, l4 + 4));
            if len < 8 || l4 + len > end || be16(f, l4 + 6) == 0 {
                return;
            }
            f[l4 + 6] = 0;
            f[l4 + 7] = 0;
            let c = match !fold(sum(pseudo(f, len), &f[l4..l4 + len])) {
                0 => 0xffff,
                c => c,
            };
            f[l4 + 6..l4 + 8].copy_from_slice(&c.to_be_bytes());
        }
        1 if end - l4 >= 4 => {
            if matches!(f[l4], 3 | 11 | 12) && end - l4 >= 28 {
                let _ = refill_ip_header(&mut f[..end], l4 + 8);
            }
            f[l4 + 2] = 0;
            f[l4 + 3] = 0;
            let c = !fold(sum(0, &f[l4..end]));
            f[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}

/// Cuts the IPv4 packet of `frame` into fragments of at most `size` payload
/// bytes (a multiple of 8), with IP id `id`, in order.
pub fn fragments(frame: &[u8], size: usize, id: u16) -> Vec<Vec<u8>> {
    assert!(size % 8 == 0 && size > 0);
    let hl = usize::from(frame[14] & 0x0f) * 4;
    let end = 14 + usize::from(be16(frame, 16));
    let payload = &frame[14 + hl..end];
    let chunks: Vec<&[u8]> = payload.chunks(size).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut f = frame[..14 + hl].to_vec();
            f.extend_from_slice(c);
            let total = (hl + c.len()) as u16;
            f[16..18].copy_from_slice(&total.to_be_bytes());
            f[18..20].copy_from_slice(&id.to_be_bytes());
            let more = if i + 1 < chunks.len() { 0x2000 } else { 0 };
            let off = ((i * size / 8) as u16) | more;
            f[20..22].copy_from_slice(&off.to_be_bytes());
            refill_ip_checksum(&mut f);
            f
        })
        .collect()
}

/// Puts fragments (any order) back together into one frame: the first
/// fragment's Ethernet and IPv4 headers with the whole payload. `None`
/// when they disagree on addresses or leave a gap.
pub fn reassemble(frags: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut parts: Vec<(usize, &[u8])> = Vec::new();
    let first = frags.iter().find(|f| be16(f, 20) & 0x1fff == 0)?;
    let hl = usize::from(first[14] & 0x0f) * 4;
    for f in frags {
        if f[26..34] != first[26..34] || f[18..20] != first[18..20] {
            return None;
        }
        let fhl = usize::from(f[14] & 0x0f) * 4;
        let end = 14 + usize::from(be16(f, 16));
        parts.push((usize::from(be16(f, 20) & 0x1fff) * 8, &f[14 + fhl..end]));
    }
    parts.sort_by_key(|p| p.0);
    let mut payload = Vec::new();
    for (off, data) in parts {
        if off != payload.len() {
            return None;
        }
        payload.extend_from_slice(data);
    }
    let mut out = first[..14 + hl].to_vec();
    out.extend_from_slice(&payload);
    let total = (hl + payload.len()) as u16;
    out[16..18].copy_from_slice(&total.to_be_bytes());
    out[20..22].copy_from_slice(&[0, 0]);
    refill_ip_checksum(&mut out);
    Some(out)
}
