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

    /// Length of the IP packet.
    #[inline]
    pub fn len(&self) -> usize {
        self.end - L3
    }

    /// Always false: a parsed packet holds at least its header.
    #[inline]
    pub fn is_empty(&self) -> bool {
        false
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
    /// verifying the error's checksum. `Ok(None)`: a protocol a NAT does
    /// not track (neither TCP, UDP nor an echo request).
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
                let u = UdpPacket::new_unchecked(seg);
                (u.src_port(), u.dst_port())
            }
            PROTO_ICMP if seg[0] == icmp::ECHO_REQUEST => {
                let id = IcmpPacket::new_unchecked(seg).ident();
                (id, id)
            }
            _ => return Ok(None),
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
mod tests {
    //! Parsing a frame once: `IpRepr` on a valid frame, on other
    //! ethertypes and on every `WireError` it returns (options and
    //! fragments included); the transport checksum check; `FlowRepr`'s
    //! rules for whole packets and first fragments; each kind of
    //! `Transport`; `Embedded` on good, truncated, bad-checksum and
    //! untracked errors. Frames are literal bytes, checksums computed
    //! apart from the core.

    use super::*;
    use crate::wire::samples::{ECHO, ERR, TCP_SYN, UDP};

    const HOST: u32 = 0xc0a8_010a;
    const REMOTE: u32 = 0xc633_6401;
    const EXT: u32 = 0xcb00_7101;

    /// The checksum field for `b` (RFC 1071), written here apart from
    /// `super::checksum`.
    fn csum(b: &[u8]) -> u16 {
        let mut s: u32 = b
            .chunks(2)
            .map(|w| u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0)))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    /// Writes a new total length into the IPv4 header at `at` and
    /// recomputes its checksum.
    fn set_len(f: &mut [u8], at: usize, len: usize) {
        f[at + 2..at + 4].copy_from_slice(&(len as u16).to_be_bytes());
        refill_ip(f, at);
    }

    /// Recomputes the checksum of the IPv4 header at `at`.
    fn refill_ip(f: &mut [u8], at: usize) {
        let hl = usize::from(f[at] & 0x0f) * 4;
        f[at + 10..at + 12].fill(0);
        let c = csum(&f[at..at + hl]);
        f[at + 10..at + 12].copy_from_slice(&c.to_be_bytes());
    }

    /// Sets the flags and fragment offset word and fixes the checksum.
    fn set_frag(f: &mut [u8], word: u16) {
        f[20..22].copy_from_slice(&word.to_be_bytes());
        refill_ip(f, 14);
    }

    /// `f` with `opts` inserted after its IPv4 header (IHL and total
    /// length raised, checksum recomputed).
    fn with_options(f: &[u8], opts: &[u8]) -> Vec<u8> {
        let mut v = [&f[..34], opts, &f[34..]].concat();
        v[14] = 0x45 + (opts.len() / 4) as u8;
        let len = v.len() - 14;
        set_len(&mut v, 14, len);
        v
    }

    /// The ICMP error of [`ERR`]'s outer headers carrying `quote`, with
    /// its lengths and checksums right.
    fn error_with(quote: &[u8]) -> Vec<u8> {
        let mut v = [&ERR[..42], quote].concat();
        let len = v.len() - 14;
        set_len(&mut v, 14, len);
        v[36..38].fill(0);
        let c = csum(&v[34..]);
        v[36..38].copy_from_slice(&c.to_be_bytes());
        v
    }

    fn parse(f: &[u8]) -> IpRepr {
        IpRepr::parse(f).unwrap().unwrap()
    }

    #[test]
    fn ip_repr_takes_a_udp_frame_apart() {
        let ip = parse(&UDP);
        assert_eq!(
            ip,
            IpRepr {
                l4: 34,
                end: 47,
                proto: PROTO_UDP,
                src: HOST,
                dst: REMOTE,
                ttl: 64,
                frag: false,
                later: false,
                df: true,
                id: 0x1234,
            }
        );
        assert_eq!(ip.len(), 33);
        assert!(!ip.is_empty());
        assert_eq!(ip.segment(&UDP), &UDP[34..]);
        assert_eq!(ip.packet(&UDP), &UDP[14..]);
        // Ethernet padding after the packet is not the packet's.
        let padded = [&UDP[..], &[0u8; 13]].concat();
        assert_eq!(parse(&padded), ip);
        assert_eq!(ip.segment(&padded), &UDP[34..]);
        let mut f = UDP;
        ip.segment_mut(&mut f)[0] = 0xff;
        ip.packet_mut(&mut f)[0] = 0x46;
        assert_eq!((f[34], f[14]), (0xff, 0x46));
    }

    #[test]
    fn another_ethertype_is_none() {
        let mut f = UDP;
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(IpRepr::parse(&f), Ok(None));
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(IpRepr::parse(&f), Ok(None));
    }

    #[test]
    fn every_error_ip_repr_returns() {
        let err = |f: &[u8]| IpRepr::parse(f).unwrap_err();
        assert_eq!(err(&UDP[..13]), WireError::Truncated, "no Ethernet header");
        assert_eq!(err(&UDP[..33]), WireError::Truncated, "19 bytes of IPv4");
        let mut f = UDP;
        f[14] = 0x65;
        assert_eq!(err(&f), WireError::NotIpv4);
        f[14] = 0x44;
        assert_eq!(err(&f), WireError::BadIhl);
        let mut f = UDP;
        set_len(&mut f, 14, 34);
        assert_eq!(err(&f), WireError::BadTotalLength, "past the frame");
        set_len(&mut f, 14, 19);
        assert_eq!(err(&f), WireError::BadTotalLength, "below the header");
        let mut f = UDP;
        f[25] ^= 1;
        assert_eq!(err(&f), WireError::BadChecksum);
        assert_eq!(
            err(&with_options(&UDP, &[1, 1, 1, 7])),
            WireError::BadOptions
        );
        assert_eq!(
            err(&with_options(&UDP, &[0x44, 8, 5, 0])),
            WireError::BadOptions
        );
    }

    #[test]
    fn options_that_add_up_are_taken() {
        for opts in [[1, 1, 1, 0], [0x94, 4, 0, 0], [7, 3, 4, 0]] {
            let f = with_options(&UDP, &opts);
            let ip = parse(&f);
            assert_eq!((ip.l4, ip.end), (38, 51), "{opts:?}");
            assert_eq!(ip.segment(&f), &UDP[34..]);
        }
    }

    #[test]
    fn fragments_a_nat_takes_and_refuses() {
        let mut f = UDP;
        set_frag(&mut f, 0x2000); // MF: the first fragment
        let ip = parse(&f);
        assert!(ip.frag && !ip.later && !ip.df);
        set_frag(&mut f, 0x0002); // offset 16, the last fragment
        let ip = parse(&f);
        assert!(ip.frag && ip.later);
        set_frag(&mut f, 0x1fff); // 65528 + 13 bytes: past 65535
        assert_eq!(IpRepr::parse(&f), Err(WireError::BadFragment));
        set_frag(&mut f, 0x1ffe); // 65520 + 13: fits
        assert!(parse(&f).later);
        // TCP at offset 8 could rewrite the flags.
        let mut t = TCP_SYN;
        set_frag(&mut t, 0x0001);
        assert_eq!(IpRepr::parse(&t), Err(WireError::BadFragment));
        set_frag(&mut t, 0x0002);
        assert!(parse(&t).later);
    }

    #[test]
    fn transport_checksums() {
        for f in [&UDP[..], &TCP_SYN[..], &ECHO[..], &ERR[..]] {
            assert!(parse(f).transport_checksum_ok(f), "{f:x?}");
            let mut bad = f.to_vec();
            *bad.last_mut().unwrap() ^= 0x10;
            assert!(!parse(&bad).transport_checksum_ok(&bad), "{f:x?}");
        }
        let mut none = UDP;
        none[40..42].fill(0);
        none[46] ^= 0x10;
        assert!(parse(&none).transport_checksum_ok(&none), "UDP without one");
        let mut short = UDP;
        set_len(&mut short, 14, 27);
        assert!(
            !parse(&short).transport_checksum_ok(&short),
            "no UDP header"
        );
    }

    #[test]
    fn ports_of_whole_packets() {
        let ports = |f: &[u8]| FlowRepr::parse_ports(f, &parse(f));
        let u = ports(&UDP).unwrap();
        assert_eq!(
            (u.proto, u.sport, u.dport, u.flags),
            (PROTO_UDP, 40000, 53, 0)
        );
        let t = ports(&TCP_SYN).unwrap();
        assert_eq!(
            (t.proto, t.sport, t.dport, t.flags),
            (PROTO_TCP, 80, 1024, tcp::SYN)
        );
        let mut f = UDP;
        f[38..40].copy_from_slice(&[0, 7]);
        assert_eq!(ports(&f), Err(WireError::BadUdpLength));
        f[38..40].copy_from_slice(&[0, 14]);
        assert_eq!(ports(&f), Err(WireError::BadUdpLength));
        let mut t = TCP_SYN;
        t[46] = 0x40;
        assert_eq!(ports(&t), Err(WireError::BadDataOffset));
        t[46] = 0x70;
        assert_eq!(ports(&t), Err(WireError::BadDataOffset));
        let mut t = TCP_SYN;
        set_len(&mut t, 14, 39);
        assert_eq!(ports(&t), Err(WireError::Truncated));
    }

    #[test]
    fn ports_of_first_fragments() {
        let ports = |f: &[u8]| FlowRepr::parse_ports(f, &parse(f));
        // UDP: the 8-byte header is enough; its length is not checked.
        let mut f = UDP;
        set_frag(&mut f, 0x2000);
        set_len(&mut f, 14, 28);
        let u = ports(&f[..42]).unwrap();
        assert_eq!((u.sport, u.dport), (40000, 53));
        set_len(&mut f, 14, 27);
        assert_eq!(ports(&f[..41]), Err(WireError::BadFragment));
        // TCP: up to the flags (14 bytes).
        let mut t = TCP_SYN;
        set_frag(&mut t, 0x2000);
        set_len(&mut t, 14, 34);
        let s = ports(&t[..48]).unwrap();
        assert_eq!((s.sport, s.dport, s.flags), (80, 1024, tcp::SYN));
        set_len(&mut t, 14, 33);
        assert_eq!(ports(&t[..47]), Err(WireError::BadFragment));
    }

    #[test]
    fn echo_identities_and_syns() {
        let q = FlowRepr::echo(icmp::ECHO_REQUEST, 7);
        assert_eq!((q.proto, q.sport, q.dport, q.flags), (PROTO_ICMP, 7, 0, 0));
        let r = FlowRepr::echo(icmp::ECHO_REPLY, 7);
        assert_eq!((r.sport, r.dport), (0, 7));
        let syn = |flags| FlowRepr {
            proto: PROTO_TCP,
            sport: 1,
            dport: 2,
            flags,
        };
        assert!(syn(tcp::SYN).is_syn_without(tcp::ACK));
        assert!(!syn(tcp::SYN | tcp::ACK).is_syn_without(tcp::ACK));
        assert!(syn(tcp::SYN | tcp::ACK).is_syn_without(tcp::RST));
        assert!(!syn(tcp::ACK).is_syn_without(0));
        assert!(!FlowRepr {
            proto: PROTO_UDP,
            ..syn(tcp::SYN)
        }
        .is_syn_without(0));
    }

    #[test]
    fn each_kind_of_transport() {
        let kind = |f: &[u8], q| Transport::parse(f, &parse(f), q);
        let flow = |p, s, d, fl| {
            Ok(Transport::Flow(FlowRepr {
                proto: p,
                sport: s,
                dport: d,
                flags: fl,
            }))
        };
        assert_eq!(
            kind(&UDP, icmp::ECHO_REQUEST),
            flow(PROTO_UDP, 40000, 53, 0)
        );
        assert_eq!(
            kind(&TCP_SYN, icmp::ECHO_REPLY),
            flow(PROTO_TCP, 80, 1024, tcp::SYN)
        );
        assert_eq!(
            kind(&ECHO, icmp::ECHO_REQUEST),
            flow(PROTO_ICMP, 0x4242, 0, 0)
        );
        assert_eq!(kind(&ECHO, icmp::ECHO_REPLY), Ok(Transport::IcmpOther));
        assert_eq!(kind(&ERR, icmp::ECHO_REPLY), Ok(Transport::IcmpError));
        let mut ts = ECHO;
        ts[34] = 13; // timestamp: not read, so its checksum may stay
        assert_eq!(kind(&ts, icmp::ECHO_REQUEST), Ok(Transport::IcmpOther));
        let mut short = ECHO;
        set_len(&mut short, 14, 27);
        assert_eq!(
            kind(&short, icmp::ECHO_REQUEST),
            Err(WireError::BadIcmpHeader)
        );
        let mut gre = UDP;
        gre[23] = 47;
        refill_ip(&mut gre, 14);
        assert_eq!(kind(&gre, icmp::ECHO_REQUEST), Ok(Transport::Other));
    }

    #[test]
    fn the_packet_inside_an_error() {
        let e = Embedded::parse(&ERR, &parse(&ERR)).unwrap().unwrap();
        assert_eq!(
            e,
            Embedded {
                at: 42,
                l4: 62,
                proto: PROTO_UDP,
                src: EXT,
                dst: REMOTE,
                sport: 1024,
                dport: 53,
            }
        );
        // Header and 8 bytes are enough; an echo request's identifier is
        // both its ports.
        let short = error_with(&ERR[42..70]);
        let s = Embedded::parse(&short, &parse(&short)).unwrap().unwrap();
        assert_eq!((s.sport, s.dport, s.l4), (1024, 53, 62));
        let echo = error_with(&ECHO[14..42]);
        let x = Embedded::parse(&echo, &parse(&echo)).unwrap().unwrap();
        assert_eq!((x.proto, x.sport, x.dport), (PROTO_ICMP, 0x4242, 0x4242));
        // Inner options move the transport header.
        let framed = [&[0u8; 14][..], &ERR[42..]].concat();
        let inner = with_options(&framed, &[1, 1, 1, 0]);
        let o = error_with(&inner[14..]);
        let y = Embedded::parse(&o, &parse(&o)).unwrap().unwrap();
        assert_eq!((y.at, y.l4, y.sport), (42, 66, 1024));
    }

    #[test]
    fn errors_the_nat_does_not_track_or_cannot_read() {
        let emb = |f: &[u8]| Embedded::parse(f, &parse(f));
        let mut reply = ECHO;
        reply[34] = icmp::ECHO_REPLY;
        assert_eq!(emb(&error_with(&reply[14..42])), Ok(None), "an echo reply");
        let mut gre = ERR;
        gre[51] = 47;
        assert_eq!(emb(&error_with(&gre[42..])), Ok(None), "GRE");
        assert_eq!(emb(&error_with(&ERR[42..69])), Err(WireError::Truncated));
        // IHL 6 with only 8 bytes after the fixed header.
        let mut ihl6 = ERR;
        ihl6[42] = 0x46;
        assert_eq!(emb(&error_with(&ihl6[42..70])), Err(WireError::Truncated));
        let mut v6 = ERR;
        v6[42] = 0x65;
        assert_eq!(emb(&error_with(&v6[42..])), Err(WireError::NotIpv4));
        let mut ihl4 = ERR;
        ihl4[42] = 0x44;
        assert_eq!(emb(&error_with(&ihl4[42..])), Err(WireError::BadIhl));
        let mut bad = ERR;
        bad[74] ^= 1;
        assert_eq!(emb(&bad), Err(WireError::BadChecksum));
    }

    #[test]
    fn macs_of_a_frame() {
        assert_eq!(src_mac(&UDP), Mac([2, 0, 0, 0, 0, 0x11]));
        assert_eq!(dst_mac(&UDP), Mac([2, 0, 0, 0, 0, 0x01]));
        assert!(!to_group_mac(&UDP));
        let mut f = UDP;
        f[..6].fill(0xff);
        assert!(to_group_mac(&f));
        f[..6].copy_from_slice(&[0x01, 0x00, 0x5e, 0, 0, 0xfb]);
        assert!(to_group_mac(&f));
    }
}
