//! Address-only translation: every IP protocol but TCP, UDP and ICMP (GRE,
//! ESP, AH, SCTP, ...), as VPP nat44-ed's unknown-protocol path and
//! netfilter's generic tracker do. A session is one (inside address,
//! protocol, remote address) on one external address; only the addresses
//! change (and, for DCCP and UDP-Lite, the checksum their pseudo-header
//! covers). Its owner in both directions is the owner of its key, a
//! 16-bit hash of (protocol, remote) ([`address_only_owner`]), so one
//! shard sees every session of a (protocol, remote) pair and can give a
//! second subscriber another external address, or refuse it
//! (`protocol_conflict`, ICMP 3/13); the keys held on own addresses go to
//! the XDP program (`held_keys.rs`), which leaves the rest to the box.
//! Every fragment is translated through the session directly: there is
//! no port to wait for.

use super::slowpath::Spec;
use super::{Shard, Side, Verdict};
use crate::counters::DropReason;
use crate::hash::address_only_owner;
use crate::proto::{PROTO_DCCP, PROTO_UDPLITE};
use crate::wire::{icmp, repr, IpRepr, Rewrite};

/// What an address-only packet must be: a DCCP or UDP-Lite packet (or
/// first fragment) holds the 8 bytes up to its checksum, which is
/// patched; IP protocol 0 cannot be held (0 marks a free session).
fn headers_ok(frame: &[u8], ip: &IpRepr) -> Result<(), DropReason> {
    match ip.proto {
        0 => Err(DropReason::UnsupportedProtocol),
        PROTO_DCCP | PROTO_UDPLITE if !ip.later && ip.segment(frame).len() < 8 => {
            Err(DropReason::BadL4Header)
        }
        _ => Ok(()),
    }
}

/// Applies a session's rewrite to any fragment: a later fragment has no
/// transport header, so only its IPv4 header changes.
#[inline]
fn apply(rw: Rewrite, frame: &mut [u8], ip: &IpRepr) {
    if ip.later {
        rw.apply_headers(frame);
    } else {
        rw.apply(frame, ip);
    }
}

impl Shard {
    /// The shard that owns address-only flows of `proto` with `remote`.
    #[inline]
    pub(super) fn address_only_owner(&self, proto: u8, remote: u32) -> u16 {
        address_only_owner(proto, remote, self.cfg.workers)
    }

    /// The hand-off of a frame of `proto` with `remote` that arrived on
    /// `side` at a shard that does not own it.
    #[inline]
    fn not_mine(&self, proto: u8, remote: u32, side: Side) -> Option<Verdict> {
        let shard = self.address_only_owner(proto, remote);
        (shard != self.id).then_some(Verdict::HandOff { shard, side })
    }

    /// For an outbound ICMP error about an address-only packet the
    /// subscriber received, the shard that owns its session; `None` for
    /// anything else (the subscriber's own shard takes it).
    pub(super) fn embedded_address_only_owner(&self, frame: &[u8], ip: &IpRepr) -> Option<u16> {
        let seg = ip.segment(frame);
        if ip.frag || seg.len() < icmp::HEADER_LEN + 20 || icmp::kind(seg[0]) != icmp::Kind::Error {
            return None;
        }
        let inner = &seg[icmp::HEADER_LEN..];
        let proto = inner[9];
        if !crate::proto::is_address_only(proto) {
            return None;
        }
        let src = u32::from_be_bytes([inner[12], inner[13], inner[14], inner[15]]);
        Some(self.address_only_owner(proto, src))
    }

    /// An outbound packet, or any fragment of one, of an address-only
    /// protocol.
    pub(super) fn outbound_address_only(
        &mut self,
        frame: &mut [u8],
        ip: &IpRepr,
        now: u32,
    ) -> Verdict {
        if let Some(v) = self.not_mine(ip.proto, ip.dst, Side::Lan) {
            return v;
        }
        if self.ext_of(ip.dst).is_some() {
            // To one of the NAT's own addresses: the box's (a tunnel it
            // ends), never another subscriber's session.
            return Verdict::Pass;
        }
        if let Some(v) = self.ttl_and_mtu(frame, ip, Side::Lan) {
            return v;
        }
        if let Err(r) = headers_ok(frame, ip) {
            return Verdict::Drop(r);
        }
        let idx = match self.find_out(ip.proto, ip.src, 0, ip.dst, 0) {
            Some(i) => i,
            None => match self.create_address_only(frame, ip, now) {
                Ok(i) => i,
                Err(r) => {
                    self.refused(frame, ip, r);
                    return Verdict::Drop(r);
                }
            },
        };
        let s = &mut self.sessions[idx as usize];
        s.last_seen = now;
        let s = *s;
        apply(self.out_rewrite(&s), frame, ip);
        self.counters.fragments_translated += u64::from(ip.later);
        Verdict::ToWan
    }

    /// An inbound packet, or any fragment of one, of an address-only
    /// protocol: translated when a session of its protocol and remote
    /// holds its destination, otherwise left to the box (its own tunnels).
    pub(super) fn inbound_address_only(
        &mut self,
        frame: &mut [u8],
        ip: &IpRepr,
        now: u32,
    ) -> Verdict {
        if let Some(v) = self.not_mine(ip.proto, ip.src, Side::Wan) {
            return v;
        }
        let Some(idx) = self.find_in(ip.proto, ip.dst, 0, ip.src, 0) else {
            return Verdict::Pass;
        };
        if let Some(v) = self.ttl_and_mtu(frame, ip, Side::Wan) {
            return v;
        }
        if let Err(r) = headers_ok(frame, ip) {
            return Verdict::Drop(r);
        }
        let refresh = self.cfg.inbound_refresh;
        let s = &mut self.sessions[idx as usize];
        if refresh {
            s.last_seen = now;
        }
        let s = *s;
        apply(self.in_rewrite(&s, false), frame, ip);
        self.counters.fragments_translated += u64::from(ip.later);
        Verdict::ToLan
    }

    /// A new address-only session for an outbound packet with none.
    fn create_address_only(
        &mut self,
        frame: &[u8],
        ip: &IpRepr,
        now: u32,
    ) -> Result<u32, DropReason> {
        if self.ext_down {
            return Err(DropReason::NoExternalAddress);
        }
        let mac = repr::src_mac(frame).0;
        self.learn_static_mac(ip.src, mac);
        let si = self.sub_for(ip.src)?;
        let ext = match self
            .room_for(si)
            .and_then(|()| self.address_only_external(ip.proto, ip.src, ip.dst))
        {
            Ok(e) => e,
            Err(r) => {
                self.maybe_free_sub(si);
                return Err(r);
            }
        };
        let spec = Spec {
            proto: ip.proto,
            in_addr: ip.src,
            in_port: 0,
            ext_addr: ext,
            ext_port: 0,
            rem_addr: ip.dst,
            rem_port: 0,
            mac,
            state: 0,
            sub: si,
            held: crate::session::HELD_NONE,
        };
        let idx = self.insert_session(spec, None, now);
        self.note_address_only(ip.proto, ext, ip.dst, true);
        Ok(idx)
    }

    /// The external address of a new address-only session of `inside`
    /// with `remote`: its one-to-one address; in deterministic NAT its
    /// fixed address; otherwise the pool address the port path pairs it
    /// with first ([`Shard::pool_order`]), or the next one that
    /// holds no session of this protocol with this remote. None free:
    /// `protocol_conflict` (in masquerade, one address, the second
    /// subscriber is always refused).
    fn address_only_external(
        &self,
        proto: u8,
        inside: u32,
        remote: u32,
    ) -> Result<u32, DropReason> {
        let free = |e: u32| self.find_in(proto, e, 0, remote, 0).is_none();
        let fixed = match self.static_for_inside(proto, inside, 0) {
            Some((e, _)) => Some(e),
            None if self.cfg.deterministic => Some(
                crate::deterministic::inside_to_outside(&self.cfg, inside)
                    .ok_or(DropReason::PoolExhausted)?
                    .external,
            ),
            None => None,
        };
        if let Some(e) = fixed {
            return if free(e) {
                Ok(e)
            } else {
                Err(DropReason::ProtocolConflict)
            };
        }
        if self.pool_addrs.is_empty() {
            return Err(DropReason::PoolExhausted);
        }
        self.pool_order(inside)
            .map(|a| self.pool_addrs[a])
            .find(|&e| free(e))
            .ok_or(DropReason::ProtocolConflict)
    }
}
