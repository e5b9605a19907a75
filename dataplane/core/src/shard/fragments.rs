//! Fragments after the first (RFC 4787 REQ-14): translated one by one as
//! their first fragment was, from the record [`crate::frag`] keeps per
//! datagram, or held until the first fragment comes. The tables
//! themselves live in `frag`; this room turns a first fragment's verdict
//! into that record and a record into a [`Rewrite`].

use super::{count_verdict, egress, NextHops, Shard, Side, Verdict};
use crate::counters::DropReason;
use crate::frag::{self, Action};
use crate::wire::checksum::Delta;
use crate::wire::repr;
use crate::wire::{End, IpRepr, Ipv4Packet, Mac, Rewrite};

/// The record key of a fragment that arrived on `side`.
fn key(ip: &IpRepr, side: Side) -> frag::Key {
    frag::Key {
        src: ip.src,
        dst: ip.dst,
        id: ip.id,
        proto: ip.proto,
        wan: u8::from(side != Side::Lan),
    }
}

/// Translates a later fragment that arrived on `side` as its datagram's
/// record says.
fn apply(frame: &mut [u8], a: Action, side: Side, hops: &NextHops) -> Verdict {
    match a {
        Action::Rewrite {
            addr,
            ip_delta,
            mac,
        } => {
            let out = side == Side::Lan;
            let rw = Rewrite {
                end: if out { End::Source } else { End::Destination },
                addr,
                ttl: true,
                ip_delta: Delta(ip_delta),
                port: None,
                macs: (Mac(mac), if out { hops.wan_mac } else { hops.lan_mac }),
            };
            rw.apply_headers(frame);
            if out {
                Verdict::ToWan
            } else {
                Verdict::ToLan
            }
        }
        Action::HandOff(shard) => Verdict::HandOff {
            shard,
            side: Side::Wan,
        },
        Action::Drop => Verdict::Drop(DropReason::FragmentOfDropped),
    }
}

impl Shard {
    /// A later fragment from the WAN: its TTL and, with DF, the LAN MTU
    /// are checked here, since no error is sent about a later fragment
    /// (without DF one larger than the LAN MTU is cut when it leaves:
    /// `egress.rs`).
    pub(super) fn later_fragment_in(&mut self, frame: &mut [u8], ip: &IpRepr) -> Verdict {
        if ip.ttl <= 1 {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        if ip.df && ip.packet_len() > usize::from(self.cfg.lan_mtu) {
            return Verdict::Drop(DropReason::MtuExceeded);
        }
        self.later_fragment(frame, ip, Side::Wan)
    }

    /// A fragment after the first: translated as its first fragment was,
    /// or held until that comes.
    pub(super) fn later_fragment(&mut self, frame: &mut [u8], ip: &IpRepr, side: Side) -> Verdict {
        let key = key(ip, side);
        let t = u64::from(self.cfg.fragments.timeout) * 1000;
        if let Some(a) = self.frags.get(&key, self.now_ms) {
            self.frags.touch(&key, self.now_ms, t);
            let v = apply(frame, a, side, &self.hops);
            if matches!(v, Verdict::ToLan | Verdict::ToWan) {
                self.counters.fragments_translated += 1;
            }
            return v;
        }
        if self.held.hold(key, side, frame, self.now_ms + t) {
            Verdict::Held
        } else {
            Verdict::Drop(DropReason::FragmentsFull)
        }
    }

    /// Records what the first fragment's verdict means for the rest of its
    /// datagram, and releases the fragments that came before it.
    pub(super) fn first_fragment_done(
        &mut self,
        frame: &[u8],
        ip: &IpRepr,
        side: Side,
        v: Verdict,
    ) {
        let mac = repr::dst_mac(frame).0;
        let now = Ipv4Packet::new_unchecked(ip.packet(frame));
        let rewrite = |old: u32, new: u32| Action::Rewrite {
            addr: new,
            ip_delta: Delta::u32(old, new).plus(Delta::TTL_DECREMENT).0,
            mac,
        };
        let action = match v {
            Verdict::ToWan => rewrite(ip.src, now.src()),
            Verdict::ToLan => rewrite(ip.dst, now.dst()),
            Verdict::HandOff { shard, .. } => Action::HandOff(shard),
            Verdict::Drop(_) => Action::Drop,
            Verdict::Pass | Verdict::Held | Verdict::Fragmented => return,
        };
        let key = key(ip, side);
        let t = u64::from(self.cfg.fragments.timeout) * 1000;
        // With no room for the record, later fragments are held and time
        // out (counted then).
        self.frags.put(key, action, self.now_ms, t);
        while self.held.has(&key) {
            let Some((side, len)) = self.held.take(&key, &mut self.scratch) else {
                break;
            };
            let frame = &mut self.scratch[..len];
            let v = apply(frame, action, side, &self.hops);
            if !matches!(v, Verdict::ToLan | Verdict::ToWan | Verdict::HandOff { .. }) {
                count_verdict(&mut self.counters, v, len);
                continue;
            }
            if matches!(v, Verdict::ToLan | Verdict::ToWan) {
                self.counters.fragments_translated += 1;
            }
            // Whole, or cut to fit the link it leaves by.
            let mtu = match v {
                Verdict::HandOff { .. } => u16::MAX,
                Verdict::ToLan => self.cfg.lan_mtu,
                _ => self.cfg.wan_mtu,
            };
            match egress::queue_fitted(&mut self.emit, &mut self.counters, frame, mtu, v) {
                Ok(false) => {}
                Ok(true) => count_verdict(&mut self.counters, Verdict::Fragmented, len),
                Err(r) => {
                    // A full queue loses a released frame: counted both
                    // ways, as every frame is one verdict.
                    if r == DropReason::FragmentQueueFull {
                        self.counters.emit_dropped += 1;
                    }
                    count_verdict(&mut self.counters, Verdict::Drop(r), len)
                }
            }
        }
    }
}
