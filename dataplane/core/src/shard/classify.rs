//! Where a packet belongs: whether an address is inside, in the pool or a
//! one-to-one outside address; which frames are not the NAT's to
//! translate (the box's own, broadcast, martians); which shard owns a
//! subscriber, and which owns an inbound flow (the port block's owner, or
//! a static mapping's inside host's).

use super::{Shard, Side, Verdict};
use crate::counters::DropReason;
use crate::wire::ipv4::PROTO_ICMP;
use crate::wire::{icmp, repr, FlowRepr, IpRepr};

/// Where an inbound frame's destination address leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ext {
    /// A pool address, by index.
    Pool(usize),
    /// A one-to-one outside address, by index in the static list.
    OneToOne(usize),
}

/// True for destinations no router forwards: 0.0.0.0/8, 127.0.0.0/8 and
/// 240.0.0.0/4.
fn is_martian_destination(a: u32) -> bool {
    a >> 24 == 0 || a >> 24 == 127 || a >> 28 == 0xf
}

/// True for IPv4 multicast and the limited broadcast.
fn is_multicast_or_broadcast(a: u32) -> bool {
    a >> 28 == 0xe || a == u32::MAX
}

impl Shard {
    #[inline]
    pub(super) fn is_inside(&self, a: u32) -> bool {
        self.cfg.inside.iter().any(|p| p.contains(a))
    }

    /// Index of `a` in the pool.
    #[inline]
    pub(super) fn pool_index(&self, a: u32) -> Option<usize> {
        let mut base = 0usize;
        for p in &self.cfg.pool {
            if p.contains(a) {
                return Some(base + (a - p.addr()) as usize);
            }
            base += p.size() as usize;
        }
        None
    }

    /// Where an inbound destination address leads, if anywhere.
    #[inline]
    pub(super) fn ext_of(&self, a: u32) -> Option<Ext> {
        match self.pool_index(a) {
            Some(i) => Some(Ext::Pool(i)),
            None => self.one_to_one_outside(a).map(Ext::OneToOne),
        }
    }

    /// The shard that owns subscriber `a`.
    #[inline]
    pub(super) fn owner_of(&self, a: u32) -> u16 {
        self.cfg.subscriber_shard(a)
    }

    /// The shard that translates inbound traffic to `addr:port`: the
    /// block's owner, or for a static mapping the inside host's owner.
    /// `Ok(None)`: no NAT port (for the box itself).
    #[inline]
    pub(super) fn owner_in(
        &self,
        ext: Ext,
        addr: u32,
        proto: u8,
        port: u16,
    ) -> Result<Option<u16>, DropReason> {
        match ext {
            Ext::OneToOne(k) => Ok(Some(self.owner_of(self.statics[k].m.inside))),
            Ext::Pool(i) => {
                let map = self.blocks.map();
                let reserved = self.is_reserved(i, port);
                if reserved || (map.block_of(port).is_none() && !self.statics.is_empty()) {
                    if let Some((inside, _, _)) = self.static_for_outside(proto, addr, port) {
                        return Ok(Some(self.owner_of(inside)));
                    }
                    if reserved {
                        return Err(DropReason::NoMapping);
                    }
                }
                if self.is_kernel_port(i, port) {
                    return Ok(None);
                }
                Ok(map.owner(port))
            }
        }
    }

    /// `Some` verdict for an outbound frame the NAT does not translate:
    /// not from an inside host to an outside one, to an excluded
    /// destination, or a broadcast or multicast (left to the box's stack,
    /// RFC 1812 5.3.4, 5.3.5.1); a martian destination is dropped.
    #[inline]
    pub(super) fn not_for_nat_out(&self, frame: &[u8], ip: &IpRepr) -> Option<Verdict> {
        if !self.is_inside(ip.src) || self.is_inside(ip.dst) {
            return Some(Verdict::Pass);
        }
        if !self.cfg.exclude.is_empty() && self.cfg.exclude.iter().any(|p| p.contains(ip.dst)) {
            return Some(Verdict::Pass);
        }
        if repr::to_group_mac(frame) || is_multicast_or_broadcast(ip.dst) {
            return Some(Verdict::Pass);
        }
        if is_martian_destination(ip.dst) {
            return Some(Verdict::Drop(DropReason::MartianDestination));
        }
        None
    }

    /// Where an inbound frame leads, or the verdict for one the NAT does
    /// not take: to an address that is not the NAT's, link-layer broadcast
    /// (left to the box), from an inside or pool address or 0.0.0.0/8 (a
    /// martian), or
    /// a fragmented hairpin.
    #[inline]
    pub(super) fn not_for_nat_in(
        &self,
        frame: &[u8],
        ip: &IpRepr,
        hairpin: bool,
    ) -> Result<Ext, Verdict> {
        let Some(ext) = self.ext_of(ip.dst) else {
            return Err(Verdict::Pass);
        };
        if !hairpin && repr::to_group_mac(frame) {
            return Err(Verdict::Pass);
        }
        // A source in 0.0.0.0/8 also could name a held mapping's anchor
        // (remote 0.0.0.0:0), which no packet may match.
        if !hairpin
            && (self.is_inside(ip.src) || self.pool_index(ip.src).is_some() || ip.src >> 24 == 0)
        {
            return Err(Verdict::Drop(DropReason::MartianSource));
        }
        if ip.frag && hairpin {
            return Err(Verdict::Drop(DropReason::BadFragment));
        }
        Ok(ext)
    }

    /// For an outbound flow to one of the NAT's own addresses (a hairpin),
    /// the shard that translates its second half; `Ok(None)` for an
    /// ordinary outbound flow. The verdict when the frame goes no further:
    /// to the box itself (an echo to the masquerade address, a port that
    /// is no NAT port), a fragment, or too large for the LAN link it
    /// comes back out of with DF set (3/4 back). Without DF a packet too
    /// large is cut when it leaves for the LAN (`egress.rs`).
    pub(super) fn hairpin_owner(
        &mut self,
        frame: &[u8],
        ip: &IpRepr,
        flow: &FlowRepr,
    ) -> Result<Option<u16>, Verdict> {
        let Some(ext) = self.ext_of(ip.dst) else {
            return Ok(None);
        };
        if flow.proto == PROTO_ICMP {
            return Err(Verdict::Pass);
        }
        let owner = match self.owner_in(ext, ip.dst, flow.proto, flow.dport) {
            Ok(None) => return Err(Verdict::Pass),
            Ok(Some(o)) => o,
            Err(r) => return Err(Verdict::Drop(r)),
        };
        if ip.frag {
            return Err(Verdict::Drop(DropReason::BadFragment));
        }
        let mtu = self.cfg.lan_mtu;
        if ip.df && ip.packet_len() > usize::from(mtu) {
            self.send_icmp_error(frame, ip, Side::Lan, icmp::DEST_UNREACHABLE, 4, mtu);
            return Err(Verdict::Drop(DropReason::MtuExceeded));
        }
        Ok(Some(owner))
    }
}
