//! The one rewrite every translation applies: one end (source or
//! destination) of an IPv4 packet gets a new address and, optionally, a
//! new port (or ICMP identifier); the TTL is lowered when forwarding; the
//! checksums are patched with deltas computed beforehand (RFC 1624); the
//! Ethernet addresses are set for the next hop.
//!
//! Sessions, fragment records, one-to-one mappings and ICMP errors (outer
//! packet and the packet inside) all describe their change as a
//! [`Rewrite`]; nothing else in the core writes header fields.

use super::checksum::{self, Delta};
use super::ethernet::{EthernetFrame, Mac};
use super::ipv4::{Ipv4Packet, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use super::repr::{Embedded, IpRepr, L3};
use super::{IcmpPacket, TcpPacket, UdpPacket};
use crate::proto::{PROTO_DCCP, PROTO_UDPLITE};

/// Which end of a packet a translation changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The source address and port (a packet leaving the subscriber).
    Source,
    /// The destination address and port (a packet coming back).
    Destination,
}

impl End {
    /// The other end.
    #[inline]
    pub fn other(self) -> End {
        match self {
            End::Source => End::Destination,
            End::Destination => End::Source,
        }
    }
}

/// A new port (or ICMP identifier) and the transport checksum's delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRewrite {
    /// The new port.
    pub port: u16,
    /// Delta of the transport checksum: address and port for TCP and UDP
    /// (their pseudo-header holds the address), port only for ICMP.
    pub delta: Delta,
}

/// How one packet's headers change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rewrite {
    /// The end that changes.
    pub end: End,
    /// Its new address.
    pub addr: u32,
    /// Lower the TTL by one (forwarding); off for a packet already
    /// forwarded once (a hairpin's second half).
    pub ttl: bool,
    /// Delta of the IPv4 header checksum: the address change, plus
    /// [`Delta::TTL_DECREMENT`] when `ttl` is set.
    pub ip_delta: Delta,
    /// The port change, if any.
    pub port: Option<PortRewrite>,
    /// Ethernet destination and source for the next hop.
    pub macs: (Mac, Mac),
}

impl Rewrite {
    /// Applies the rewrite to a parsed frame. A first fragment gets its
    /// port rewritten too (its segment holds the ports).
    #[inline(always)]
    pub fn apply(&self, frame: &mut [u8], ip: &IpRepr) {
        self.apply_headers(frame);
        if let Some(p) = self.port {
            rewrite_port(ip.segment_mut(frame), ip.proto, self.end, p);
        }
    }

    /// Applies the address, TTL and MAC part only, to a frame whose IPv4
    /// header was checked when it was parsed (a later fragment, which has
    /// no transport header).
    #[inline(always)]
    pub fn apply_headers(&self, frame: &mut [u8]) {
        rewrite_ip(
            &mut frame[L3..],
            self.end,
            self.addr,
            self.ttl,
            self.ip_delta,
        );
        set_macs(frame, self.macs);
    }

    /// Applies the rewrite to an ICMP error about a packet of the same
    /// flow, which travels the same way but carries the packet it is about
    /// with the ends swapped: the outer header gets the address (no port),
    /// the packet inside gets the address and port at its other end (its
    /// TTL untouched; `old_addr` is the address it replaces), and the ICMP
    /// checksum is computed again.
    pub fn apply_to_error(&self, frame: &mut [u8], ip: &IpRepr, inner: &Embedded, old_addr: u32) {
        self.apply_headers(frame);
        let end = self.end.other();
        let d = Delta::u32(old_addr, self.addr);
        rewrite_ip(&mut frame[inner.at..ip.end], end, self.addr, false, d);
        if let Some(p) = self.port {
            rewrite_port(&mut frame[inner.l4..ip.end], inner.proto, end, p);
        }
        IcmpPacket::new_unchecked(ip.segment_mut(frame)).fill_checksum();
    }
}

/// Sets one end's address of the IPv4 packet `pkt`, lowers its TTL when
/// `ttl` is set, and patches the header checksum by `delta`.
#[inline(always)]
pub fn rewrite_ip(pkt: &mut [u8], end: End, addr: u32, ttl: bool, delta: Delta) {
    let mut p = Ipv4Packet::new_unchecked(pkt);
    match end {
        End::Source => p.set_src(addr),
        End::Destination => p.set_dst(addr),
    }
    if ttl {
        p.decrement_ttl();
    }
    let c = p.checksum();
    p.set_checksum(checksum::apply(c, delta));
}

/// Sets one end's port of the transport header `seg` (for ICMP queries the
/// identifier, whatever the end) and patches its checksum. `seg` may be the
/// first 8 bytes of a segment (inside an ICMP error): a TCP checksum is
/// patched only when the segment holds it.
#[inline(always)]
pub fn rewrite_port(seg: &mut [u8], proto: u8, end: End, p: PortRewrite) {
    match proto {
        PROTO_TCP => {
            let mut t = TcpPacket::new_unchecked(seg);
            match end {
                End::Source => t.set_src_port(p.port),
                End::Destination => t.set_dst_port(p.port),
            }
            if t.has_checksum() {
                let c = t.checksum();
                t.set_checksum(checksum::apply(c, p.delta));
            }
        }
        PROTO_UDP => {
            let mut u = UdpPacket::new_unchecked(seg);
            match end {
                End::Source => u.set_src_port(p.port),
                End::Destination => u.set_dst_port(p.port),
            }
            let c = u.checksum();
            u.set_checksum(checksum::apply_udp(c, p.delta));
        }
        PROTO_ICMP => {
            let mut m = IcmpPacket::new_unchecked(seg);
            m.set_ident(p.port);
            let c = m.checksum();
            m.set_checksum(checksum::apply(c, p.delta));
        }
        // Address-only (no port kept), but the checksum at offset 6 covers
        // the pseudo-header: patched when the segment holds it.
        PROTO_DCCP | PROTO_UDPLITE if seg.len() >= 8 => {
            let c = crate::wire::be16(seg, 6);
            crate::wire::put16(seg, 6, checksum::apply(c, p.delta));
        }
        _ => {}
    }
}

/// Sets the Ethernet destination and source of a frame.
#[inline(always)]
pub fn set_macs(frame: &mut [u8], (dst, src): (Mac, Mac)) {
    let mut e = EthernetFrame::new_unchecked(frame);
    e.set_dst(dst);
    e.set_src(src);
}

#[cfg(test)]
mod tests {
    //! The one rewrite: each end of UDP, TCP and echo frames, compared
    //! with literal frames whose checksums were computed apart from the
    //! core; the TTL kept for a hairpin; UDP without a checksum; headers
    //! only (later fragments); short TCP quotes; MACs; and an ICMP error
    //! with the packet inside it.

    use super::*;
    use crate::wire::repr::IpRepr;
    use crate::wire::samples::{ECHO, ERR, TCP_SYN, UDP};

    // The same leaving as 203.0.113.1:1024, TTL 63, gateway MACs.
    const UDP_OUT: [u8; 47] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x99, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x21, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x11, 0xc3, 0x61, 0xcb, 0x00, 0x71, 0x01,
        0xc6, 0x33, 0x64, 0x01, 0x04, 0x00, 0x00, 0x35, 0x00, 0x0d, 0x45, 0x80, 0x71, 0x75, 0x65,
        0x72, 0x79,
    ];
    // The same delivered to 192.168.1.10:40000, TTL 63, host MACs.
    const TCP_IN: [u8; 58] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x06, 0x3d, 0xb1, 0xc6, 0x33, 0x64, 0x01,
        0xc0, 0xa8, 0x01, 0x0a, 0x00, 0x50, 0x9c, 0x40, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00,
        0x00, 0x60, 0x02, 0xfa, 0xf0, 0x10, 0xd6, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];
    // The same leaving as 203.0.113.1, id 1024.
    const ECHO_OUT: [u8; 46] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x99, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x01, 0xc3, 0x72, 0xcb, 0x00, 0x71, 0x01,
        0xc6, 0x33, 0x64, 0x01, 0x08, 0x00, 0x15, 0x2e, 0x04, 0x00, 0x00, 0x01, 0x70, 0x69, 0x6e,
        0x67,
    ];
    // The same delivered to 192.168.1.10 (TTL 63), quoting UDP's packet
    // as it left the NAT (TTL 63, source 192.168.1.10:40000).
    const ERR_IN: [u8; 75] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x3d, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x01, 0x3d, 0xa5, 0xc6, 0x33, 0x64, 0x01,
        0xc0, 0xa8, 0x01, 0x0a, 0x03, 0x03, 0xe9, 0x02, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00,
        0x21, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x11, 0x3d, 0xb1, 0xc0, 0xa8, 0x01, 0x0a, 0xc6, 0x33,
        0x64, 0x01, 0x9c, 0x40, 0x00, 0x35, 0x00, 0x0d, 0x27, 0x8f, 0x71, 0x75, 0x65, 0x72, 0x79,
    ];

    const HOST: u32 = 0xc0a8_010a;
    const EXT: u32 = 0xcb00_7101;
    const HOST_MAC: Mac = Mac([2, 0, 0, 0, 0, 0x11]);
    const LAN_MAC: Mac = Mac([2, 0, 0, 0, 0, 0x01]);
    const WAN_MAC: Mac = Mac([2, 0, 0, 0, 0, 0x02]);
    const GW_MAC: Mac = Mac([2, 0, 0, 0, 0, 0x99]);

    /// True when `b` sums to all ones (RFC 1071), summed here apart from
    /// `super::checksum`.
    fn sums_to_ones(pre: u32, b: &[u8]) -> bool {
        let mut s: u32 = pre
            + b.chunks(2)
                .map(|w| u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0)))
                .sum::<u32>();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s == 0xffff
    }

    /// The pseudo-header sum of an option-less frame's IPv4 header.
    fn pseudo(f: &[u8]) -> u32 {
        let w = |i: usize| u32::from(u16::from_be_bytes([f[i], f[i + 1]]));
        w(26) + w(28) + w(30) + w(32) + u32::from(f[23]) + (f.len() as u32 - 34)
    }

    /// The rewrite of an outbound packet of HOST:40000's session.
    fn out(proto: u8) -> Rewrite {
        let a = Delta::u32(HOST, EXT);
        let (from, to) = if proto == PROTO_ICMP {
            (0x4242, 1024)
        } else {
            (40000, 1024)
        };
        let p = Delta::u16(from, to);
        Rewrite {
            end: End::Source,
            addr: EXT,
            ttl: true,
            ip_delta: a.plus(Delta::TTL_DECREMENT),
            port: Some(PortRewrite {
                port: 1024,
                delta: if proto == PROTO_ICMP { p } else { a.plus(p) },
            }),
            macs: (GW_MAC, WAN_MAC),
        }
    }

    /// The rewrite of an inbound packet of that session.
    fn back() -> Rewrite {
        let a = Delta::u32(EXT, HOST);
        Rewrite {
            end: End::Destination,
            addr: HOST,
            ttl: true,
            ip_delta: a.plus(Delta::TTL_DECREMENT),
            port: Some(PortRewrite {
                port: 40000,
                delta: a.plus(Delta::u16(1024, 40000)),
            }),
            macs: (HOST_MAC, LAN_MAC),
        }
    }

    fn apply(rw: Rewrite, frame: &[u8]) -> Vec<u8> {
        let mut f = frame.to_vec();
        let ip = IpRepr::parse(&f).unwrap().unwrap();
        rw.apply(&mut f, &ip);
        f
    }

    #[test]
    fn the_source_end_of_a_udp_datagram() {
        let f = apply(out(PROTO_UDP), &UDP);
        assert_eq!(f, UDP_OUT);
        assert!(sums_to_ones(0, &f[14..34]), "IPv4 header");
        assert!(sums_to_ones(pseudo(&f), &f[34..]), "UDP");
    }

    #[test]
    fn the_destination_end_of_a_tcp_segment() {
        let f = apply(back(), &TCP_SYN);
        assert_eq!(f, TCP_IN);
        assert!(sums_to_ones(0, &f[14..34]));
        assert!(sums_to_ones(pseudo(&f), &f[34..]), "TCP");
    }

    #[test]
    fn an_echo_identifier_leaves_the_address_out_of_its_checksum() {
        let f = apply(out(PROTO_ICMP), &ECHO);
        assert_eq!(f, ECHO_OUT);
        assert!(sums_to_ones(0, &f[34..]), "ICMP");
    }

    #[test]
    fn a_hairpins_second_half_keeps_its_ttl() {
        let rw = Rewrite {
            ttl: false,
            ip_delta: Delta::u32(EXT, HOST),
            ..back()
        };
        let f = apply(rw, &TCP_SYN);
        assert_eq!(f[22], 64);
        assert_eq!(&f[30..34], &[192, 168, 1, 10]);
        assert!(sums_to_ones(0, &f[14..34]));
        assert!(sums_to_ones(pseudo(&f), &f[34..]));
        // The TTL never wraps below zero.
        let mut z = UDP;
        z[22] = 0;
        rewrite_ip(&mut z[14..], End::Source, EXT, true, Delta::ZERO);
        assert_eq!(z[22], 0);
    }

    #[test]
    fn udp_without_a_checksum_stays_without() {
        let mut none = UDP;
        none[40..42].fill(0);
        let f = apply(out(PROTO_UDP), &none);
        assert_eq!(&f[40..42], &[0, 0]);
        assert_eq!(&f[34..36], &1024u16.to_be_bytes());
        assert_eq!(f[14..34], UDP_OUT[14..34]);
    }

    #[test]
    fn headers_only_for_a_later_fragment() {
        let mut f = UDP;
        out(PROTO_UDP).apply_headers(&mut f);
        assert_eq!(f[..34], UDP_OUT[..34], "MACs, address, TTL, checksum");
        assert_eq!(f[34..], UDP[34..], "the bytes after the header untouched");
    }

    #[test]
    fn a_short_tcp_quote_has_no_checksum_to_patch() {
        let p = PortRewrite {
            port: 40000,
            delta: Delta::u16(1024, 40000),
        };
        let mut seg = [0u8; 8];
        seg.copy_from_slice(&TCP_SYN[34..42]);
        rewrite_port(&mut seg, PROTO_TCP, End::Destination, p);
        assert_eq!(seg, [0x00, 0x50, 0x9c, 0x40, 0x00, 0x00, 0x03, 0xe8]);
        assert!(!TcpPacket::new_unchecked(&TCP_SYN[34..51]).has_checksum());
        assert!(TcpPacket::new_unchecked(&TCP_SYN[34..52]).has_checksum());
        // Another protocol has no port: left alone.
        let mut gre = [7u8; 8];
        rewrite_port(&mut gre, 47, End::Source, p);
        assert_eq!(gre, [7; 8]);
    }

    #[test]
    fn an_error_and_the_packet_inside_it() {
        let mut f = ERR;
        let ip = IpRepr::parse(&f).unwrap().unwrap();
        let inner = Embedded::parse(&f, &ip).unwrap().unwrap();
        back().apply_to_error(&mut f, &ip, &inner, EXT);
        assert_eq!(f, ERR_IN);
        assert!(sums_to_ones(0, &f[14..34]), "outer IPv4");
        assert!(sums_to_ones(0, &f[34..]), "ICMP");
        assert!(sums_to_ones(0, &f[42..62]), "inner IPv4");
        let inner_pseudo = 0xc0a8 + 0x010a + 0xc633 + 0x6401 + 17 + 13;
        assert!(sums_to_ones(inner_pseudo, &f[62..]), "inner UDP");
    }

    #[test]
    fn ends_and_macs() {
        assert_eq!(End::Source.other(), End::Destination);
        assert_eq!(End::Destination.other(), End::Source);
        let mut f = UDP;
        set_macs(&mut f, (GW_MAC, WAN_MAC));
        assert_eq!(f[..12], UDP_OUT[..12]);
        assert_eq!(f[12..], UDP[12..]);
    }
}
