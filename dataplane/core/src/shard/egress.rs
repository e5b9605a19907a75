//! Packets larger than the link they leave by (RFC 4787 REQ-13, 13a).
//!
//! With DF set, `generate::ttl_and_mtu` refuses them before translation
//! (ICMP 3/4 with the egress MTU). Without DF they are translated as any
//! other packet (the transport checksum covers the whole datagram), and
//! then cut here into in-order fragments ([`crate::wire::fragment`]) that
//! go out through the emit queue: all of a packet's fragments, or none
//! (`fragment_queue_full`). Options whose copied flag is set are repeated
//! in every fragment, the others stay in the first. The MTUs are the configuration's
//! `lan_mtu` and `wan_mtu`, which the control plane keeps equal to the
//! interfaces' ([`Shard::set_mtus`]).

use super::{count_verdict, Shard, Verdict};
use crate::counters::{Counters, DropReason};
use crate::emit::{EmitQueue, SLOT};
use crate::wire::ipv4::{self, field, FLAG_DF};
use crate::wire::{be16, ethernet, fragment};

const L3: usize = ethernet::HEADER_LEN;

/// The IP length of an Ethernet frame's packet, when the frame is long
/// enough to hold a header.
fn ip_len(frame: &[u8]) -> Option<usize> {
    (frame.len() >= L3 + ipv4::MIN_HEADER_LEN)
        .then(|| usize::from(be16(frame, L3 + field::TOTAL_LEN)))
        .filter(|&t| t >= ipv4::MIN_HEADER_LEN && L3 + t <= frame.len())
}

/// Queues the translated frame `frame`, bound where `v` says, into `emit`:
/// whole when its packet fits `mtu` (`Ok(false)`), cut into fragments
/// otherwise (`Ok(true)`), each counted as a frame sent. `Err`: refused,
/// nothing queued.
pub(super) fn queue_fitted(
    emit: &mut EmitQueue,
    c: &mut Counters,
    frame: &[u8],
    mtu: u16,
    v: Verdict,
) -> Result<bool, DropReason> {
    let Some(total) = ip_len(frame) else {
        return Err(DropReason::Truncated);
    };
    if total <= usize::from(mtu) {
        let Some(slot) = emit.reserve() else {
            return Err(DropReason::FragmentQueueFull);
        };
        let len = frame.len().min(slot.len());
        slot[..len].copy_from_slice(&frame[..len]);
        emit.commit(v, len);
        count_verdict(c, v, len);
        return Ok(false);
    }
    cut(emit, c, frame, total, mtu, v).map(|()| true)
}

/// Cuts the frame's packet of `total` bytes, larger than `mtu`, into
/// fragments queued in `emit`.
fn cut(
    emit: &mut EmitQueue,
    c: &mut Counters,
    frame: &[u8],
    total: usize,
    mtu: u16,
    v: Verdict,
) -> Result<(), DropReason> {
    let flags = be16(frame, L3 + field::FLAGS_FRAG);
    if flags & FLAG_DF != 0 {
        return Err(DropReason::MtuExceeded);
    }
    let header = usize::from(frame[L3] & 0x0f) * 4;
    if header < ipv4::MIN_HEADER_LEN || header > total {
        return Err(DropReason::BadIpHeader);
    }
    // A fragment is one slot at most.
    let mtu = mtu.min((SLOT - L3) as u16);
    let Some(plan) = fragment::Plan::of(frame, mtu) else {
        return Err(DropReason::MtuExceeded);
    };
    if emit.free() < plan.count {
        return Err(DropReason::FragmentQueueFull);
    }
    for k in 0..plan.count {
        let Some(slot) = emit.reserve() else {
            return Err(DropReason::FragmentQueueFull);
        };
        let len = fragment::write(frame, &plan, k, slot);
        emit.commit(v, len);
        count_verdict(c, v, len);
        c.fragments_sent += 1;
    }
    Ok(())
}

impl Shard {
    /// The MTU of the link a frame with verdict `v` leaves by.
    #[inline]
    pub(super) fn egress_mtu(&self, v: Verdict) -> u16 {
        if v == Verdict::ToLan {
            self.cfg.lan_mtu
        } else {
            self.cfg.wan_mtu
        }
    }

    /// A translated frame bound for the LAN or WAN (`v`) that is longer
    /// than the link's MTU allows: cut into fragments (`Fragmented`),
    /// refused, or `v` again when only Ethernet padding made it long.
    #[cold]
    pub(super) fn fit_to_mtu(&mut self, frame: &[u8], v: Verdict) -> Verdict {
        let mtu = self.egress_mtu(v);
        let Some(total) = ip_len(frame) else {
            return v;
        };
        if total <= usize::from(mtu) {
            return v;
        }
        match cut(&mut self.emit, &mut self.counters, frame, total, mtu, v) {
            Ok(()) => Verdict::Fragmented,
            Err(r) => Verdict::Drop(r),
        }
    }

    /// Sets the MTUs of the LAN and WAN links (the interfaces' MTUs, or
    /// the configuration's overrides): packets larger than them are cut,
    /// or refused with ICMP 3/4 when DF is set. Refused outside 68..=9000.
    pub fn set_mtus(&mut self, lan: u16, wan: u16) -> Result<(), crate::ConfigError> {
        crate::config::check_mtu("lan_mtu", lan)?;
        crate::config::check_mtu("wan_mtu", wan)?;
        self.cfg.lan_mtu = lan;
        self.cfg.wan_mtu = wan;
        Ok(())
    }

    /// The MTUs in force: (LAN, WAN).
    pub fn mtus(&self) -> (u16, u16) {
        (self.cfg.lan_mtu, self.cfg.wan_mtu)
    }
}
