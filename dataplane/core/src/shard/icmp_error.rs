//! ICMP errors about translated flows (RFC 5508 REQ-3/4, RFC 5382
//! REQ-8/9): an error travels the way of a packet of its flow, so it is
//! translated with that flow's session rewrite, and the packet it carries
//! (the flow's packet the other way) gets the mirror change. One routine
//! serves both directions; only finding the session differs. An error
//! about an address-only packet (GRE, ESP, ...) finds its session by
//! addresses alone, on the shard that owns its (protocol, remote).

use super::{Shard, Side, Verdict};
use crate::counters::DropReason;
use crate::wire::ipv4::PROTO_ICMP;
use crate::wire::{Embedded, IpRepr, WireError};

impl Shard {
    /// Translates an ICMP error that arrived on `side`.
    pub(super) fn translate_icmp_error(
        &mut self,
        frame: &mut [u8],
        ip: &IpRepr,
        side: Side,
    ) -> Verdict {
        let inner = match Embedded::parse(frame, ip) {
            Ok(Some(inner)) => inner,
            Ok(None) => return Verdict::Drop(DropReason::IcmpErrorNoSession),
            Err(WireError::BadChecksum) => return Verdict::Drop(DropReason::BadIcmpChecksum),
            Err(_) => return Verdict::Drop(DropReason::IcmpErrorMalformed),
        };
        let hairpin = side == Side::Hairpin;
        let found = match side {
            Side::Lan => self.error_session_out(ip, &inner),
            Side::Wan | Side::Hairpin => self.error_session_in(ip, &inner, hairpin),
        };
        let s = match found {
            Ok(idx) => self.sessions[idx as usize],
            Err(v) => return v,
        };
        let (rewrite, old_addr, v) = match side {
            Side::Lan => (self.out_rewrite(&s), s.in_addr, Verdict::ToWan),
            Side::Wan | Side::Hairpin => (self.in_rewrite(&s, hairpin), s.ext_addr, Verdict::ToLan),
        };
        rewrite.apply_to_error(frame, ip, &inner, old_addr);
        self.counters.icmp_errors_translated += 1;
        v
    }

    /// The session of an error from a subscriber about a packet it
    /// received through the NAT: the embedded destination is the
    /// subscriber's inside endpoint.
    fn error_session_out(&self, ip: &IpRepr, inner: &Embedded) -> Result<u32, Verdict> {
        if inner.dst != ip.src || inner.proto == PROTO_ICMP {
            return Err(Verdict::Drop(DropReason::IcmpErrorNoSession));
        }
        self.find_out(inner.proto, inner.dst, inner.dport, inner.src, inner.sport)
            .ok_or(Verdict::Drop(DropReason::IcmpErrorNoSession))
    }

    /// The session of an error from the WAN about a packet the NAT sent
    /// out: the embedded source is the mapping's external endpoint, which
    /// also names the shard that owns it.
    fn error_session_in(
        &self,
        ip: &IpRepr,
        inner: &Embedded,
        hairpin: bool,
    ) -> Result<u32, Verdict> {
        if inner.src != ip.dst {
            return Err(Verdict::Drop(DropReason::IcmpErrorMalformed));
        }
        let Some(ext) = self.ext_of(inner.src) else {
            return Err(Verdict::Pass);
        };
        let owner = if crate::proto::is_address_only(inner.proto) {
            Ok(Some(self.address_only_owner(inner.proto, inner.dst)))
        } else {
            self.owner_in(ext, inner.src, inner.proto, inner.sport)
        };
        let owner = match owner {
            Ok(Some(o)) => o,
            Ok(None) => return Err(Verdict::Pass),
            Err(r) => return Err(Verdict::Drop(r)),
        };
        if owner != self.id {
            let side = if hairpin { Side::Hairpin } else { Side::Wan };
            return Err(Verdict::HandOff { shard: owner, side });
        }
        if !hairpin && ip.ttl <= 1 {
            return Err(Verdict::Drop(DropReason::TtlExpired));
        }
        if ip.df && ip.packet_len() > usize::from(self.cfg.lan_mtu) {
            // Larger than the LAN link takes, with DF; never a 3/4 about
            // an error. Without DF it is cut when it leaves (`egress.rs`).
            return Err(Verdict::Drop(DropReason::MtuExceeded));
        }
        let rport = if inner.proto == PROTO_ICMP {
            0
        } else {
            inner.dport
        };
        // A held mapping's anchor (remote 0.0.0.0:0) is no session.
        self.find_in(inner.proto, inner.src, inner.sport, inner.dst, rport)
            .filter(|&i| self.sessions[i as usize].held != crate::session::HELD_MAP)
            .ok_or(Verdict::Drop(DropReason::IcmpErrorNoSession))
    }
}
