//! Re-parses forwarded frames with etherparse and recomputes every checksum
//! from scratch, independently of the core's incremental updates.

use etherparse::{Ipv4HeaderSlice, TcpHeaderSlice, UdpHeaderSlice};

/// Adds big-endian 16-bit words to `acc` (test-side code, written apart
/// from the core's), an odd last byte padded with zero.
pub fn sum(mut acc: u64, data: &[u8]) -> u64 {
    let mut c = data.chunks_exact(2);
    for w in &mut c {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [x] = c.remainder() {
        acc += u64::from(*x) << 8;
    }
    acc
}

/// Folds a sum into 16 bits with end-around carry.
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// One's-complement sum of big-endian words, folded.
pub fn ones_sum(data: &[u8]) -> u16 {
    fold(sum(0, data))
}

/// What a test wants to know about a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// IPv4 source.
    pub src: [u8; 4],
    /// IPv4 destination.
    pub dst: [u8; 4],
    /// TTL.
    pub ttl: u8,
    /// IP protocol.
    pub proto: u8,
    /// Source port (ICMP: identifier of a query, 0 for errors).
    pub sport: u16,
    /// Destination port (ICMP: identifier of a query, 0 for errors).
    pub dport: u16,
    /// ICMP type (0 for other protocols).
    pub icmp_type: u8,
}

fn mac(b: &[u8]) -> [u8; 6] {
    let mut m = [0; 6];
    m.copy_from_slice(&b[..6]);
    m
}

/// Parses a frame; panics with a message when it is not a well-formed
/// Ethernet/IPv4/{TCP,UDP,ICMP} frame.
pub fn seen(frame: &[u8]) -> Seen {
    try_seen(frame).unwrap_or_else(|e| panic!("malformed frame: {e}: {frame:02x?}"))
}

/// Parses a frame.
pub fn try_seen(frame: &[u8]) -> Result<Seen, String> {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return Err("not an IPv4 frame".into());
    }
    let ip = Ipv4HeaderSlice::from_slice(&frame[14..]).map_err(|e| e.to_string())?;
    let l4 = 14 + usize::from(ip.ihl()) * 4;
    let end = 14 + usize::from(ip.total_len());
    if end > frame.len() || l4 > end {
        return Err("bad total length".into());
    }
    let seg = &frame[l4..end];
    let (sport, dport, icmp_type) = match ip.protocol().0 {
        6 | 17 if seg.len() >= 4 => (be16(seg, 0), be16(seg, 2), 0),
        1 if seg.len() >= 8 => {
            let query = seg[0] == 0 || seg[0] == 8;
            let id = if query { be16(seg, 4) } else { 0 };
            (id, id, seg[0])
        }
        _ => (0, 0, 0),
    };
    Ok(Seen {
        dst_mac: mac(&frame[0..6]),
        src_mac: mac(&frame[6..12]),
        src: ip.source(),
        dst: ip.destination(),
        ttl: ip.ttl(),
        proto: ip.protocol().0,
        sport,
        dport,
        icmp_type,
    })
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Verifies the IPv4 header checksum and the TCP, UDP or ICMP checksum by
/// full recomputation; for an ICMP error also the embedded IPv4 header.
pub fn checksums(frame: &[u8]) -> Result<(), String> {
    let ip = Ipv4HeaderSlice::from_slice(&frame[14..]).map_err(|e| e.to_string())?;
    let want = ip.to_header().calc_header_checksum();
    if want != ip.header_checksum() {
        return Err(format!(
            "IPv4 header checksum {:#06x}, want {want:#06x}",
            ip.header_checksum()
        ));
    }
    let l4 = 14 + usize::from(ip.ihl()) * 4;
    let end = 14 + usize::from(ip.total_len());
    let seg = &frame[l4..end];
    match ip.protocol().0 {
        6 => {
            let t = TcpHeaderSlice::from_slice(seg).map_err(|e| e.to_string())?;
            let want = t
                .calc_checksum_ipv4_raw(ip.source(), ip.destination(), &seg[t.slice().len()..])
                .map_err(|e| e.to_string())?;
            if want != t.checksum() {
                return Err(format!(
                    "TCP checksum {:#06x}, want {want:#06x}",
                    t.checksum()
                ));
            }
        }
        17 => {
            let u = UdpHeaderSlice::from_slice(seg).map_err(|e| e.to_string())?;
            if u.checksum() != 0 {
                let len = usize::from(u.length());
                if len < 8 || len > seg.len() {
                    return Err(format!("UDP length {len} does not fit the datagram"));
                }
                let want = u
                    .to_header()
                    .calc_checksum_ipv4_raw(ip.source(), ip.destination(), &seg[8..len])
                    .map_err(|e| e.to_string())?;
                if want != u.checksum() {
                    return Err(format!(
                        "UDP checksum {:#06x}, want {want:#06x}",
                        u.checksum()
                    ));
                }
            }
        }
        1 => {
            if ones_sum(seg) != 0xffff {
                return Err("ICMP checksum does not verify".into());
            }
            if matches!(seg.first(), Some(3 | 11 | 12)) && seg.len() >= 28 {
                let inner = Ipv4HeaderSlice::from_slice(&seg[8..]).map_err(|e| e.to_string())?;
                if inner.to_header().calc_header_checksum() != inner.header_checksum() {
                    return Err("embedded IPv4 header checksum does not verify".into());
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The embedded packet of an ICMP error: (src, sport, dst, dport, proto).
pub fn embedded(frame: &[u8]) -> ([u8; 4], u16, [u8; 4], u16, u8) {
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let at = 14 + ihl + 8;
    let inner = Ipv4HeaderSlice::from_slice(&frame[at..]).expect("embedded header");
    let il4 = at + usize::from(inner.ihl()) * 4;
    let (sp, dp) = if inner.protocol().0 == 1 {
        (be16(frame, il4 + 4), be16(frame, il4 + 4))
    } else {
        (be16(frame, il4), be16(frame, il4 + 2))
    };
    (
        inner.source(),
        sp,
        inner.destination(),
        dp,
        inner.protocol().0,
    )
}
