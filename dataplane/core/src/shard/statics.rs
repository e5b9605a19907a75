//! Static mappings: port forwards (a fixed outside endpoint for an inside
//! one, reachable from anywhere) and one-to-one addresses (a whole outside
//! address for one inside host, echo requests included). Their ports are
//! kept out of dynamic allocation by reserving the blocks they fall in.

use super::{Shard, Side, Verdict};
use crate::config::{Config, StaticMapping};
use crate::counters::DropReason;
use crate::pool::Blocks;
use crate::wire::checksum::Delta;
use crate::wire::{icmp, repr, End, IpRepr, Mac, Rewrite};

/// A static mapping and what the shard knows of its inside host.
#[derive(Clone, Copy, Debug)]
pub(super) struct Static {
    pub m: StaticMapping,
    /// The inside host's MAC; all zero until learnt.
    pub mac: [u8; 6],
}

/// Reserves in `blocks` the port of every static mapping on a pool
/// address; returns the bit set of reserved (pool address, block) pairs,
/// empty when no static mapping is on a pool address.
pub(super) fn reserve_blocks(cfg: &Config, pool_addrs: &[u32], blocks: &mut Blocks) -> Vec<u64> {
    let map = *blocks.map();
    let mut reserved = Vec::new();
    let index_of = |a: u32| pool_addrs.iter().position(|&p| p == a);
    for m in &cfg.statics {
        let (Some(a), Some(b)) = (index_of(m.outside), map.block_of(m.outside_port)) else {
            continue;
        };
        blocks.reserve(a, m.outside_port);
        let bit = a * map.blocks_per_addr as usize + b as usize;
        if reserved.is_empty() {
            reserved = vec![0u64; (pool_addrs.len() * map.blocks_per_addr as usize).div_ceil(64)];
        }
        reserved[bit / 64] |= 1 << (bit % 64);
    }
    reserved
}

impl Shard {
    /// Tells the shard the MAC of inside host `addr` (a static mapping's
    /// server, or a host with held mappings, which inbound traffic may
    /// reach before it sent anything).
    pub fn set_neighbor(&mut self, addr: u32, mac: Mac) {
        self.learn_static_mac(addr, mac.0);
        self.learn_held_mac(addr, mac);
    }

    /// Records the MAC of inside host `addr` for its static mappings.
    pub(super) fn learn_static_mac(&mut self, addr: u32, mac: [u8; 6]) {
        for st in self.statics.iter_mut().filter(|st| st.m.inside == addr) {
            st.mac = mac;
        }
    }

    /// The one-to-one mapping whose outside address is `a`.
    pub(super) fn one_to_one_outside(&self, a: u32) -> Option<usize> {
        if self.statics.is_empty() {
            return None;
        }
        self.statics
            .iter()
            .position(|st| st.m.proto.is_none() && st.m.outside == a)
    }

    /// What an outbound flow from inside `a:port` is statically mapped
    /// to: a port forward's outside endpoint, or the one-to-one outside
    /// address with the port kept.
    pub(super) fn static_for_inside(&self, proto: u8, a: u32, port: u16) -> Option<(u32, u16)> {
        let fwd = self
            .statics
            .iter()
            .find(|st| st.m.proto == Some(proto) && st.m.inside == a && st.m.inside_port == port);
        if let Some(st) = fwd {
            return Some((st.m.outside, st.m.outside_port));
        }
        self.statics
            .iter()
            .find(|st| st.m.proto.is_none() && st.m.inside == a)
            .map(|st| (st.m.outside, port))
    }

    /// The inside endpoint a static mapping gives outside `a:port`, with
    /// the mapping's index.
    pub(super) fn static_for_outside(
        &self,
        proto: u8,
        a: u32,
        port: u16,
    ) -> Option<(u32, u16, usize)> {
        let fwd = self.statics.iter().position(|st| {
            st.m.proto == Some(proto) && st.m.outside == a && st.m.outside_port == port
        });
        if let Some(k) = fwd {
            let m = self.statics[k].m;
            return Some((m.inside, m.inside_port, k));
        }
        self.one_to_one_outside(a)
            .map(|k| (self.statics[k].m.inside, port, k))
    }

    /// True when `port` of pool address `addr_idx` lies in a block kept
    /// for static mappings.
    #[inline]
    pub(super) fn is_reserved(&self, addr_idx: usize, port: u16) -> bool {
        if self.reserved.is_empty() {
            return false;
        }
        let map = self.blocks.map();
        let Some(b) = map.block_of(port) else {
            return false;
        };
        let bit = addr_idx * map.blocks_per_addr as usize + b as usize;
        self.reserved
            .get(bit / 64)
            .is_some_and(|w| w >> (bit % 64) & 1 != 0)
    }

    /// ICMP that is neither a query of its direction nor an error: echo
    /// requests to a one-to-one address and the inside host's replies are
    /// translated without state; anything else is refused (outbound) or
    /// left to the kernel (inbound).
    pub(super) fn one_to_one_icmp(&mut self, frame: &mut [u8], ip: &IpRepr, side: Side) -> Verdict {
        let ty = ip.segment(frame)[0];
        let (end, from, to, macs) = if side == Side::Lan {
            let k = (ty == icmp::ECHO_REPLY)
                .then(|| {
                    self.statics
                        .iter()
                        .position(|st| st.m.proto.is_none() && st.m.inside == ip.src)
                })
                .flatten();
            let Some(k) = k else {
                return Verdict::Drop(DropReason::IcmpUnsupported);
            };
            self.statics[k].mac = repr::src_mac(frame).0;
            let m = self.statics[k].m;
            let macs = (self.hops.gateway_mac, self.hops.wan_mac);
            (End::Source, m.inside, m.outside, macs)
        } else {
            let k = (ty == icmp::ECHO_REQUEST)
                .then(|| self.one_to_one_outside(ip.dst))
                .flatten();
            let Some(k) = k else {
                return Verdict::Pass;
            };
            if let Some(v) = self.ttl_and_mtu(frame, ip, Side::Wan) {
                return v;
            }
            let Static { m, mac } = self.statics[k];
            if mac == [0; 6] {
                return Verdict::Drop(DropReason::NoNeighbor);
            }
            let macs = (Mac(mac), self.hops.lan_mac);
            (End::Destination, m.outside, m.inside, macs)
        };
        let rw = Rewrite {
            end,
            addr: to,
            ttl: true,
            ip_delta: Delta::u32(from, to).plus(Delta::TTL_DECREMENT),
            port: None,
            macs,
        };
        rw.apply_headers(frame);
        if end == End::Source {
            Verdict::ToWan
        } else {
            Verdict::ToLan
        }
    }
}
