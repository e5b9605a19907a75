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
