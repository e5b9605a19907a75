//! The fast path: find the session of a packet and apply the rewrite that
//! was computed when the session was made (addresses, port, checksum
//! deltas), refresh it, and move TCP through its states. Lookups only:
//! nothing here allocates a port or creates a session (VPP's
//! in2out/out2in split).

use super::{Shard, Side, STAGE};
use crate::session::Session;
use crate::tcp::{Dir, TcpState};
use crate::wire::checksum::Delta;
use crate::wire::ethernet::{self, EthernetFrame};
use crate::wire::ipv4::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use crate::wire::{tcp, End, FlowRepr, IcmpPacket, IpRepr, Ipv4Packet, Mac, PortRewrite};
use crate::wire::{Rewrite, TcpPacket, UdpPacket};

impl Shard {
    /// The session of an outbound flow.
    #[inline]
    pub(super) fn find_out(
        &self,
        proto: u8,
        in_addr: u32,
        in_port: u16,
        rem: u32,
        rem_port: u16,
    ) -> Option<u32> {
        let h = self.hasher.session(proto, in_addr, in_port, rem, rem_port);
        let sessions = &self.sessions;
        self.sess_out.find(h, |i| {
            let s = &sessions[i as usize];
            s.in_addr == in_addr
                && s.rem_addr == rem
                && s.in_port == in_port
                && s.rem_port == rem_port
                && s.proto == proto
        })
    }

    /// The session of an inbound flow.
    #[inline]
    pub(super) fn find_in(
        &self,
        proto: u8,
        ext_addr: u32,
        ext_port: u16,
        rem: u32,
        rem_port: u16,
    ) -> Option<u32> {
        let h = self
            .hasher
            .session(proto, ext_addr, ext_port, rem, rem_port);
        let sessions = &self.sessions;
        self.sess_in.find(h, |i| {
            let s = &sessions[i as usize];
            s.ext_addr == ext_addr
                && s.rem_addr == rem
                && s.ext_port == ext_port
                && s.rem_port == rem_port
                && s.proto == proto
        })
    }

    /// How an outbound packet of session `s` is rewritten.
    #[inline(always)]
    pub(super) fn out_rewrite(&self, s: &Session) -> Rewrite {
        Rewrite {
            end: End::Source,
            addr: s.ext_addr,
            ttl: true,
            ip_delta: Delta(s.ip_out),
            port: Some(PortRewrite {
                port: s.ext_port,
                delta: Delta(s.l4_out),
            }),
            macs: (self.hops.gateway_mac, self.hops.wan_mac),
        }
    }

    /// How an inbound packet of session `s` is rewritten; the second half
    /// of a hairpin keeps its TTL (the first half lowered it).
    #[inline(always)]
    pub(super) fn in_rewrite(&self, s: &Session, hairpin: bool) -> Rewrite {
        let ip_delta = if hairpin {
            Delta(s.ip_in).plus(Delta::TTL_DECREMENT.negate())
        } else {
            Delta(s.ip_in)
        };
        Rewrite {
            end: End::Destination,
            addr: s.in_addr,
            ttl: !hairpin,
            ip_delta,
            port: Some(PortRewrite {
                port: s.in_port,
                delta: Delta(s.l4_in),
            }),
            macs: (Mac(s.in_mac), self.hops.lan_mac),
        }
    }

    /// Translates an outbound packet of session `idx` and refreshes it.
    #[inline]
    pub(super) fn rewrite_out(
        &mut self,
        frame: &mut [u8],
        ip: &IpRepr,
        flow: &FlowRepr,
        idx: u32,
        now: u32,
    ) {
        let s = &mut self.sessions[idx as usize];
        s.last_seen = now;
        let s = *s;
        self.out_rewrite(&s).apply(frame, ip);
        if flow.proto == PROTO_TCP {
            self.clamp_mss(frame, ip, flow);
            self.tcp_step(idx, Dir::Out, flow.flags, now);
        }
    }

    /// Translates an inbound packet of session `idx`; refreshes it when
    /// inbound packets do (TCP always, others with `inbound_refresh`).
    #[inline]
    pub(super) fn rewrite_in(
        &mut self,
        frame: &mut [u8],
        ip: &IpRepr,
        flow: &FlowRepr,
        idx: u32,
        now: u32,
        hairpin: bool,
    ) {
        let refresh = flow.proto == PROTO_TCP || self.cfg.inbound_refresh;
        let s = &mut self.sessions[idx as usize];
        if refresh {
            s.last_seen = now;
        }
        let s = *s;
        self.in_rewrite(&s, hairpin).apply(frame, ip);
        if flow.proto == PROTO_TCP {
            self.clamp_mss(frame, ip, flow);
            self.tcp_step(idx, Dir::In, flow.flags, now);
        }
    }

    /// Lowers the MSS of a whole TCP SYN to `mss_clamp`, when set.
    #[inline]
    fn clamp_mss(&mut self, frame: &mut [u8], ip: &IpRepr, flow: &FlowRepr) {
        if flow.flags & tcp::SYN != 0 && self.cfg.mss_clamp != 0 && !ip.frag {
            let mut t = TcpPacket::new_unchecked(ip.segment_mut(frame));
            self.counters.mss_clamped += u64::from(t.clamp_mss(self.cfg.mss_clamp));
        }
    }

    /// Moves a TCP session through its state machine; re-files it on the
    /// wheel when its timer changes.
    #[inline]
    fn tcp_step(&mut self, idx: u32, dir: Dir, flags: u8, now: u32) {
        let s = &self.sessions[idx as usize];
        let Some(old) = TcpState::from_u8(s.state) else {
            return;
        };
        if old == TcpState::Established && flags & (tcp::SYN | tcp::FIN | tcp::RST) == 0 {
            return;
        }
        let new = old.step(dir, flags);
        if new == old {
            return;
        }
        self.sessions[idx as usize].state = new as u8;
        if new.timer() != old.timer() {
            let t = self.timeout_of(&self.sessions[idx as usize]);
            self.wheel.remove(&mut self.sessions, idx);
            self.wheel
                .insert(&mut self.sessions, idx, now.saturating_add(t));
        }
    }

    /// Touches the table memory every frame of a batch will read: the
    /// first index cell of each, then the session it names, as plain loads
    /// whose misses overlap across frames. An empty first cell means a
    /// certain miss: the mapping index the slow path reads is touched
    /// instead.
    pub(super) fn prefetch<F: AsMut<[u8]>>(&self, frames: &mut [F], side: Side) {
        let (index, maps) = if side == Side::Lan {
            (&self.sess_out, &self.map_out)
        } else {
            (&self.sess_in, &self.map_in)
        };
        let mut hashes = [None; STAGE];
        for (h, f) in hashes.iter_mut().zip(frames.iter_mut()) {
            *h = self.peek_hash(f.as_mut(), side);
        }
        let mut acc = 0u32;
        for h in hashes.iter().flatten() {
            match index.peek(h.0).and_then(|i| self.sessions.get(i as usize)) {
                Some(s) => acc ^= s.rem_addr,
                None => acc ^= maps.peek(h.1).unwrap_or(0),
            }
        }
        core::hint::black_box(acc);
    }

    /// The session-index and mapping-index hashes of a TCP/UDP/ICMP-echo
    /// frame, read without validation beyond the lengths (they only steer
    /// prefetching; `process` validates).
    #[inline]
    fn peek_hash(&self, f: &[u8], side: Side) -> Option<(u64, u64)> {
        let eth = EthernetFrame::new_checked(f).ok()?;
        if eth.ethertype() != ethernet::ETHERTYPE_IPV4 {
            return None;
        }
        let ip = Ipv4Packet::new_header_checked(eth.payload()).ok()?;
        let seg = eth.payload().get(ip.header_len()..)?;
        if seg.len() < 8 {
            return None;
        }
        let (proto, src, dst) = (ip.protocol(), ip.src(), ip.dst());
        let (sp, dp) = match proto {
            PROTO_TCP | PROTO_UDP => {
                let u = UdpPacket::new_unchecked(seg);
                (u.src_port(), u.dst_port())
            }
            PROTO_ICMP if side == Side::Lan => (IcmpPacket::new_unchecked(seg).ident(), 0),
            PROTO_ICMP => (0, IcmpPacket::new_unchecked(seg).ident()),
            _ => return None,
        };
        Some(match side {
            Side::Lan => (
                self.hasher.session(proto, src, sp, dst, dp),
                self.hasher.mapping(proto, src, sp),
            ),
            _ => (
                self.hasher.session(proto, dst, dp, src, sp),
                self.hasher.mapping(proto, dst, dp),
            ),
        })
    }
}
