//! The ICMP errors the NAT sends itself (RFC 5508 REQ-8, RFC 6888
//! REQ-11, RFC 1812 4.3.2): time exceeded when a TTL runs out here,
//! fragmentation needed (3/4) for a packet too large for the other side
//! with DF set, and communication administratively prohibited (3/13) when
//! a new mapping is refused; with the exhaustion events that go to the
//! log. Both are rate limited.

use super::{Shard, Side, Verdict};
use crate::counters::DropReason;
use crate::emit::{self, IcmpError};
use crate::event::{Event, Exhaustion};
use crate::session::NONE;
use crate::wire::ipv4::PROTO_ICMP;
use crate::wire::{icmp, IpRepr};

impl Shard {
    /// Refuses a packet from `from` whose TTL runs out here (time
    /// exceeded back to its source) or that is larger than the other
    /// side's MTU with DF set (3/4 back). Without DF a packet too large
    /// goes on, to be cut after translation (`egress.rs`).
    #[inline]
    pub(super) fn ttl_and_mtu(&mut self, frame: &[u8], ip: &IpRepr, from: Side) -> Option<Verdict> {
        if ip.ttl <= 1 {
            self.send_icmp_error(frame, ip, from, icmp::TIME_EXCEEDED, 0, 0);
            return Some(Verdict::Drop(DropReason::TtlExpired));
        }
        let mtu = if from == Side::Lan {
            self.cfg.wan_mtu
        } else {
            self.cfg.lan_mtu
        };
        if ip.df && ip.packet_len() > usize::from(mtu) {
            self.send_icmp_error(frame, ip, from, icmp::DEST_UNREACHABLE, 4, mtu);
            return Some(Verdict::Drop(DropReason::MtuExceeded));
        }
        None
    }

    /// Queues an ICMP error about the packet in `frame` back to its
    /// source, through the side it came from, if the rate limits allow.
    /// Never about an ICMP error, a later fragment, or a packet from or to
    /// an address that cannot be answered (RFC 1812 4.3.2.7).
    pub(super) fn send_icmp_error(
        &mut self,
        frame: &[u8],
        ip: &IpRepr,
        to: Side,
        ty: u8,
        code: u8,
        mtu: u16,
    ) {
        if ip.later || !emit::may_answer(ip.src, ip.dst) {
            return;
        }
        if ip.proto == PROTO_ICMP
            && ip
                .segment(frame)
                .first()
                .is_none_or(|&t| icmp::kind(t) != icmp::Kind::Query)
        {
            return;
        }
        let (src, mac, v) = match to {
            Side::Lan => {
                let a = if self.lan_addr != 0 {
                    self.lan_addr
                } else {
                    self.pool_addrs.first().copied().unwrap_or(0)
                };
                (a, self.hops.lan_mac, Verdict::ToLan)
            }
            _ => (ip.dst, self.hops.wan_mac, Verdict::ToWan),
        };
        let link = self.egress_mtu(v);
        let c = self.cfg.icmp;
        let h = self.hasher.subscriber(ip.src);
        if !self
            .icmp_limit
            .allow(h, c.rate, c.rate_per_subscriber, self.now_ms)
        {
            self.counters.icmp_rate_limited += 1;
            return;
        }
        let Some(slot) = self.emit.reserve() else {
            self.counters.emit_dropped += 1;
            return;
        };
        let e = IcmpError { ty, code, mtu };
        let n = emit::build_icmp_error(slot, frame, ip, src, mac, e, link);
        self.emit.commit(v, n);
        self.counters.icmp_generated += 1;
    }

    /// A new outbound mapping was refused: tell the subscriber (3/13) and
    /// the log (an exhaustion event, at most one per subscriber per second
    /// and 100 per second in all).
    pub(super) fn refused(&mut self, frame: &[u8], ip: &IpRepr, r: DropReason) {
        let what = match r {
            DropReason::PortsExhausted => Some(Exhaustion::Ports),
            DropReason::PoolExhausted => Some(Exhaustion::Addresses),
            DropReason::SessionLimit => Some(Exhaustion::SessionsPerSubscriber),
            DropReason::SessionTableFull => Some(Exhaustion::Sessions),
            DropReason::SubscriberTableFull => Some(Exhaustion::Subscribers),
            DropReason::NoExternalAddress | DropReason::ProtocolConflict => None,
            _ => return,
        };
        self.send_icmp_error(frame, ip, Side::Lan, icmp::DEST_UNREACHABLE, 13, 0);
        let Some(mut what) = what else { return };
        let h = self.hasher.subscriber(ip.src);
        if !self.event_limit.allow(h, 100, 1, self.now_ms) {
            return;
        }
        let ext = self
            .find_sub(ip.src)
            .map(|i| self.subs[i as usize].ext)
            .filter(|&e| e != NONE)
            .map_or(0, |e| self.pool_addrs[e as usize]);
        if what == Exhaustion::Addresses && ext != 0 {
            // Its paired address is full, not every address.
            what = Exhaustion::Ports;
        }
        self.push_event(Event::Exhausted {
            what,
            subscriber: ip.src,
            external: ext,
            at: (self.now_ms / 1000).min(u64::from(u32::MAX)) as u32,
        });
    }
}
