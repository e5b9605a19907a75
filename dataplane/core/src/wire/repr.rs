//! A frame as the NAT reads it, parsed once (smoltcp's `Repr` idea): the
//! IPv4 fields of an Ethernet frame with the offsets of its transport
//! header ([`IpRepr`]), the transport identity of a flow ([`FlowRepr`]),
//! what the transport part is ([`Transport`]) and the packet an ICMP error
//! carries ([`Embedded`]).
//!
//! Each parse checks every length it relies on, so the offsets it returns
//! index the frame it parsed without panicking; the callers re-view that
//! frame with the views' `new_unchecked`.

use super::checksum;
use super::ethernet::{self, EthernetFrame, Mac};
use super::ipv4::{self, Ipv4Packet, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use super::{icmp, tcp, IcmpPacket, TcpPacket, UdpPacket, WireError};

/// Offset of the IPv4 header in an Ethernet frame.
pub const L3: usize = ethernet::HEADER_LEN;

/// The IPv4 header of an Ethernet frame, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRepr {
    /// Offset of the transport header in the frame.
    pub l4: usize,
    /// Offset of the end of the IP packet in the frame (padding after it
    /// is not the packet's).
    pub end: usize,
    /// Protocol number.
    pub proto: u8,
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Time to live.
    pub ttl: u8,
    /// A fragment, first or later.
    pub frag: bool,
    /// A later fragment (offset > 0): no transport header.
    pub later: bool,
    /// Don't Fragment.
    pub df: bool,
    /// Identification.
    pub id: u16,
}

impl IpRepr {
    /// Parses Ethernet and IPv4, verifying the header checksum, the
    /// options and the fragment fields. `Ok(None)`: not IPv4.
    ///
    /// Always inlined: with its option and fragment checks the compiler
    /// stopped inlining it on its own, which cost the fast path about
    /// 10 % (`bench-core`).
    #[inline(always)]
    pub fn parse(frame: &[u8]) -> Result<Option<IpRepr>, WireError> {
        let eth = EthernetFrame::new_checked(frame)?;
        if eth.ethertype() != ethernet::ETHERTYPE_IPV4 {
            return Ok(None);
        }
        let ip = Ipv4Packet::new_checked(eth.payload())?;
        if !ip.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        let out = IpRepr {
            l4: L3 + ip.header_len(),
            end: L3 + usize::from(ip.total_len()),
            proto: ip.protocol(),
            src: ip.src(),
            dst: ip.dst(),
            ttl: ip.ttl(),
            frag: ip.is_fragment(),
            later: ip.frag_offset() != 0,
            df: ip.dont_frag(),
            id: ip.ident(),
        };
        // Options and fragments are rare: one test on the common path,
        // their checks out of line.
        if out.l4 - L3 > ipv4::MIN_HEADER_LEN || out.frag {
            options_and_fragment(&ip)?;
        }
        Ok(Some(out))
    }

    /// Length of the IP packet (its total length field).
    #[inline]
    pub fn packet_len(&self) -> usize {
        self.end - L3
    }

    /// The transport part (header and payload) of the parsed frame.
    #[inline]
    pub fn segment<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        &frame[self.l4..self.end]
    }

    /// The transport part, writable.
    #[inline]
    pub fn segment_mut<'a>(&self, frame: &'a mut [u8]) -> &'a mut [u8] {
        &mut frame[self.l4..self.end]
    }

    /// The IP packet of the parsed frame.
    #[inline]
    pub fn packet<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        &frame[L3..self.end]
    }

    /// The IP packet of the parsed frame, writable.
    #[inline]
    pub fn packet_mut<'a>(&self, frame: &'a mut [u8]) -> &'a mut [u8] {
        &mut frame[L3..self.end]
    }

    /// True when the transport checksum verifies over the whole segment
    /// (a UDP datagram without one passes). ICMP is summed without a
    /// pseudo-header; other protocols have no checksum known here.
    pub fn transport_checksum_ok(&self, frame: &[u8]) -> bool {
        let seg = self.segment(frame);
        let (src, dst) = (self.src.to_be_bytes(), self.dst.to_be_bytes());
        match self.proto {
            PROTO_TCP => {
                let acc = checksum::pseudo_header(src, dst, PROTO_TCP, seg.len() as u16);
                checksum::fold(checksum::add_bytes(acc, seg)) == 0xffff
            }
            PROTO_UDP => {
                let Ok(u) = UdpPacket::new_checked(seg) else {
                    return false;
                };
                if u.checksum() == 0 {
                    return true;
                }
                let len = usize::from(u.len()).min(seg.len());
                let acc = checksum::pseudo_header(src, dst, PROTO_UDP, len as u16);
                checksum::fold(checksum::add_bytes(acc, &seg[..len])) == 0xffff
            }
            _ => checksum::fold(checksum::add_bytes(0, seg)) == 0xffff,
        }
    }
}

/// The destination MAC of a frame is a group (broadcast or multicast)
/// address.
#[inline]
pub fn to_group_mac(frame: &[u8]) -> bool {
    EthernetFrame::new_unchecked(frame).dst().is_group()
}

/// The source MAC of a frame.
#[inline]
pub fn src_mac(frame: &[u8]) -> Mac {
    EthernetFrame::new_unchecked(frame).src()
}

/// The destination MAC of a frame.
#[inline]
pub fn dst_mac(frame: &[u8]) -> Mac {
    EthernetFrame::new_unchecked(frame).dst()
}

/// Refuses malformed options and the fragments a NAT does not take: a TCP
/// fragment at offset 8, which could rewrite the flags the first fragment
/// showed (RFC 1858), or one that ends past 65535 bytes.
#[cold]
#[inline(never)]
fn options_and_fragment(ip: &Ipv4Packet<&[u8]>) -> Result<(), WireError> {
    if ip.header_len() > ipv4::MIN_HEADER_LEN && !ipv4::options_valid(ip.options()) {
        return Err(WireError::BadOptions);
    }
    if ip.is_fragment() {
        let off = usize::from(ip.frag_offset()) * 8;
        if (off == 8 && ip.protocol() == PROTO_TCP)
            || off + usize::from(ip.total_len()) - ip.header_len() > ipv4::MAX_DATAGRAM
        {
            return Err(WireError::BadFragment);
        }
    }
    Ok(())
}

/// Transport identity of a packet. For ICMP queries the identifier
/// stands in for the port of the host that chose it: the source port of
/// an echo request, the destination port of an echo reply; the other
/// port is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRepr {
    /// Protocol number.
    pub proto: u8,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// TCP flags (0 for other protocols).
    pub flags: u8,
}

impl FlowRepr {
    /// Reads the TCP or UDP ports of a parsed packet. A first fragment
    /// carries only the start of the segment: the ports (and TCP flags)
    /// must be in it, the rest of the lengths cannot be checked.
    #[inline]
    pub fn parse_ports(frame: &[u8], ip: &IpRepr) -> Result<FlowRepr, WireError> {
        let seg = ip.segment(frame);
        let tcp = ip.proto == PROTO_TCP;
        if ip.frag {
            let need = if tcp { 14 } else { 8 };
            if seg.len() < need {
                return Err(WireError::BadFragment);
            }
            // TCP and UDP keep their ports in the same first four bytes.
            let t = TcpPacket::new_unchecked(seg);
            return Ok(FlowRepr {
                proto: ip.proto,
                sport: t.src_port(),
                dport: t.dst_port(),
                flags: if tcp { t.flags() } else { 0 },
            });
        }
        if tcp {
            let t = TcpPacket::new_checked(seg)?;
            Ok(FlowRepr {
                proto: PROTO_TCP,
                sport: t.src_port(),
                dport: t.dst_port(),
                flags: t.flags(),
            })
        } else {
            let u = UdpPacket::new_checked_exact(seg)?;
            Ok(FlowRepr {
                proto: PROTO_UDP,
                sport: u.src_port(),
                dport: u.dst_port(),
                flags: 0,
            })
        }
    }

    /// The identity of an ICMP echo request or reply with identifier `id`.
    #[inline]
    pub fn echo(ty: u8, id: u16) -> FlowRepr {
        let (sport, dport) = if ty == icmp::ECHO_REQUEST {
            (id, 0)
        } else {
            (0, id)
        };
        FlowRepr {
            proto: PROTO_ICMP,
            sport,
            dport,
            flags: 0,
        }
    }

    /// True for a TCP segment with SYN set and none of `not` (the
    /// opening of a connection).
    #[inline]
    pub fn is_syn_without(&self, not: u8) -> bool {
        self.proto == PROTO_TCP && self.flags & (tcp::SYN | not) == tcp::SYN
    }
}

/// What the transport part of a packet is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP, UDP, or the ICMP query type asked for.
    Flow(FlowRepr),
    /// An ICMP error.
    IcmpError,
    /// Any other ICMP message.
    IcmpOther,
    /// Another IP protocol.
    Other,
}

impl Transport {
    /// Reads the transport part of a parsed packet; among ICMP queries
    /// only `query` (echo request or echo reply) is a flow.
    #[inline]
    pub fn parse(frame: &[u8], ip: &IpRepr, query: u8) -> Result<Transport, WireError> {
        match ip.proto {
            PROTO_TCP | PROTO_UDP => FlowRepr::parse_ports(frame, ip).map(Transport::Flow),
            PROTO_ICMP => {
                let m = IcmpPacket::new_checked(ip.segment(frame))
                    .map_err(|_| WireError::BadIcmpHeader)?;
                let ty = m.msg_type();
                Ok(if ty == query && icmp::kind(ty) == icmp::Kind::Query {
                    Transport::Flow(FlowRepr::echo(ty, m.ident()))
                } else if icmp::kind(ty) == icmp::Kind::Error {
                    Transport::IcmpError
                } else {
                    Transport::IcmpOther
                })
            }
            _ => Ok(Transport::Other),
        }
    }
}

/// The packet an ICMP error carries: its IPv4 header and at least 8 bytes
/// of its transport header. For an embedded echo request both ports are
/// its identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Embedded {
    /// Offset of its IPv4 header in the frame.
    pub at: usize,
    /// Offset of its transport header in the frame.
    pub l4: usize,
    /// Protocol number.
    pub proto: u8,
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

impl Embedded {
    /// Reads the packet inside the ICMP error of a parsed frame, after
    /// verifying the error's checksum. An address-only protocol (any but
    /// TCP, UDP and ICMP) has ports 0. `Ok(None)`: ICMP other than an
    /// echo request.
    pub fn parse(frame: &[u8], ip: &IpRepr) -> Result<Option<Embedded>, WireError> {
        let msg = ip.segment(frame);
        if msg.len() < icmp::HEADER_LEN + ipv4::MIN_HEADER_LEN + 8 {
            return Err(WireError::Truncated);
        }
        if !IcmpPacket::new_unchecked(msg).verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        let at = ip.l4 + icmp::HEADER_LEN;
        let inner = Ipv4Packet::new_header_checked(&frame[at..ip.end])?;
        let l4 = at + inner.header_len();
        if l4 + 8 > ip.end {
            return Err(WireError::Truncated);
        }
        let seg = &frame[l4..ip.end];
        let proto = inner.protocol();
        let (sport, dport) = match proto {
            PROTO_TCP | PROTO_UDP => {
                // Only the first 8 bytes are quoted: a TCP header is read
                // for its ports, which sit where UDP's do.
                let u = UdpPacket::new_unchecked(seg);
                (u.src_port(), u.dst_port())
            }
            PROTO_ICMP if seg[0] == icmp::ECHO_REQUEST => {
                let id = IcmpPacket::new_unchecked(seg).ident();
                (id, id)
            }
            PROTO_ICMP => return Ok(None),
            _ => (0, 0),
        };
        Ok(Some(Embedded {
            at,
            l4,
            proto,
            src: inner.src(),
            dst: inner.dst(),
            sport,
            dport,
        }))
    }
}

#[cfg(test)]
mod tests;
