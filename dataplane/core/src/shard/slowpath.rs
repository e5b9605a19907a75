//! The slow path: a packet with no session. Outbound, it needs a TCP SYN
//! (or any UDP or echo), a valid checksum, room under the limits and a
//! mapping (the flow's existing one, a static one, or a new port);
//! inbound, it must pass filtering or reach a static mapping. The new
//! session gets its rewrite computed once, here.

use super::Shard;
use crate::config::Filtering;
use crate::counters::DropReason;
use crate::event::Event;
use crate::session::{Session, HELD_MAP, HELD_NONE, NONE};
use crate::tcp::TcpState;
use crate::wire::checksum::Delta;
use crate::wire::ipv4::{PROTO_ICMP, PROTO_TCP};
use crate::wire::{repr, tcp, FlowRepr, IpRepr};

/// What a new session is made of.
#[derive(Clone, Copy, Debug)]
pub(super) struct Spec {
    pub proto: u8,
    pub in_addr: u32,
    pub in_port: u16,
    pub ext_addr: u32,
    pub ext_port: u16,
    pub rem_addr: u32,
    pub rem_port: u16,
    pub mac: [u8; 6],
    pub state: u8,
    pub sub: u32,
    /// `HELD_NONE`, or what holds the session (`holds.rs`).
    pub held: u8,
}

/// What an inbound frame must be to open a session: for TCP a bare SYN;
/// a whole datagram's transport checksum must verify (a first fragment's
/// cannot be checked).
fn inbound_opening_ok(frame: &[u8], ip: &IpRepr, flow: &FlowRepr) -> Result<(), DropReason> {
    if flow.proto == PROTO_TCP && !flow.is_syn_without(tcp::ACK | tcp::RST) {
        return Err(DropReason::TcpNotSyn);
    }
    if !ip.frag && !ip.transport_checksum_ok(frame) {
        return Err(DropReason::BadL4Checksum);
    }
    Ok(())
}

/// The state a new session starts in: for TCP, the SYN's direction.
fn opening_state(proto: u8, state: TcpState) -> u8 {
    if proto == PROTO_TCP {
        state as u8
    } else {
        0
    }
}

impl Shard {
    /// A new outbound session for a flow with none.
    pub(super) fn create_out(
        &mut self,
        frame: &[u8],
        ip: &IpRepr,
        flow: &FlowRepr,
        now: u32,
    ) -> Result<u32, DropReason> {
        if flow.proto == PROTO_TCP && !flow.is_syn_without(tcp::RST) {
            return Err(DropReason::TcpNotSyn);
        }
        // A first fragment's checksum covers bytes it does not carry.
        if !ip.frag && !ip.transport_checksum_ok(frame) {
            return Err(DropReason::BadL4Checksum);
        }
        let mac = repr::src_mac(frame).0;
        self.learn_static_mac(ip.src, mac);
        let si = self.sub_for(ip.src)?;
        let r = self.create_out_for(si, mac, ip, flow, now);
        if r.is_err() {
            self.maybe_free_sub(si);
        }
        r
    }

    fn create_out_for(
        &mut self,
        si: u32,
        mac: [u8; 6],
        ip: &IpRepr,
        flow: &FlowRepr,
        now: u32,
    ) -> Result<u32, DropReason> {
        self.room_for(si)?;
        let hm = self.hasher.mapping(flow.proto, ip.src, flow.sport);
        let sessions = &self.sessions;
        let head = self.map_out.find(hm, |i| {
            let s = &sessions[i as usize];
            s.in_addr == ip.src && s.in_port == flow.sport && s.proto == flow.proto
        });
        let (ext_addr, ext_port) = match head {
            Some(h) => (
                self.sessions[h as usize].ext_addr,
                self.sessions[h as usize].ext_port,
            ),
            None => match self.static_for_inside(flow.proto, ip.src, flow.sport) {
                Some(x) => x,
                None => self.alloc_port(si, flow.proto, flow.sport, now)?,
            },
        };
        if let Some(h) = head.filter(|_| self.holds.live() != 0) {
            if self.sessions[h as usize].held == HELD_MAP {
                // A held mapping learns its host's MAC from its traffic.
                self.sessions[h as usize].in_mac = mac;
            }
        }
        if head.is_none() && flow.proto == PROTO_ICMP && self.pool_index(ext_addr).is_some() {
            self.echo.hold(ext_port);
        }
        let spec = Spec {
            proto: flow.proto,
            in_addr: ip.src,
            in_port: flow.sport,
            ext_addr,
            ext_port,
            rem_addr: ip.dst,
            rem_port: flow.dport,
            mac,
            state: opening_state(flow.proto, TcpState::SynOut),
            sub: si,
            held: HELD_NONE,
        };
        Ok(self.insert_session(spec, head, now))
    }

    /// A new inbound session: another remote endpoint of an existing
    /// mapping, as filtering allows, or a flow to a static mapping.
    pub(super) fn create_in(
        &mut self,
        frame: &[u8],
        ip: &IpRepr,
        flow: &FlowRepr,
        now: u32,
    ) -> Result<u32, DropReason> {
        let hm = self.hasher.mapping(flow.proto, ip.dst, flow.dport);
        let sessions = &self.sessions;
        let head = self.map_in.find(hm, |i| {
            let s = &sessions[i as usize];
            s.ext_addr == ip.dst && s.ext_port == flow.dport && s.proto == flow.proto
        });
        if !self.statics.is_empty() && flow.proto != PROTO_ICMP {
            if let Some(st) = self.static_for_outside(flow.proto, ip.dst, flow.dport) {
                return self.create_in_static(frame, ip, flow, head, st, now);
            }
        }
        let Some(head) = head else {
            return Err(DropReason::NoMapping);
        };
        if flow.proto == PROTO_ICMP {
            // An echo reply from a host the query was not sent to.
            return Err(DropReason::Filtered);
        }
        let h = self.sessions[head as usize];
        if h.held == HELD_MAP {
            // A held mapping: open to every remote its filters admit,
            // whatever `filtering` says.
            if !self.anchor_admits(head, ip.src, flow.sport) {
                return Err(DropReason::Filtered);
            }
        } else {
            self.filter(head, ip.src)?;
        }
        inbound_opening_ok(frame, ip, flow)?;
        if h.held == HELD_MAP && h.in_mac == [0; 6] {
            return Err(DropReason::NoNeighbor);
        }
        self.room_for(h.sub)?;
        let spec = Spec {
            proto: flow.proto,
            in_addr: h.in_addr,
            in_port: h.in_port,
            ext_addr: h.ext_addr,
            ext_port: h.ext_port,
            rem_addr: ip.src,
            rem_port: flow.sport,
            mac: h.in_mac,
            state: opening_state(flow.proto, TcpState::SynIn),
            sub: h.sub,
            held: HELD_NONE,
        };
        Ok(self.insert_session(spec, Some(head), now))
    }

    /// Whether filtering lets remote address `from` open a session on the
    /// mapping whose circle of sessions starts at `head` (RFC 4787 REQ-8).
    fn filter(&self, head: u32, from: u32) -> Result<(), DropReason> {
        match self.cfg.filtering {
            Filtering::EndpointIndependent => Ok(()),
            Filtering::AddressDependent => {
                let mut i = head;
                loop {
                    if self.sessions[i as usize].rem_addr == from {
                        return Ok(());
                    }
                    i = self.sessions[i as usize].map_next;
                    if i == head {
                        return Err(DropReason::Filtered);
                    }
                }
            }
            Filtering::AddressAndPortDependent => Err(DropReason::Filtered),
        }
    }

    /// An inbound flow to a static mapping: admitted from any remote
    /// endpoint (a port forward is reachable by design), whatever the
    /// filtering.
    fn create_in_static(
        &mut self,
        frame: &[u8],
        ip: &IpRepr,
        flow: &FlowRepr,
        head: Option<u32>,
        (in_addr, in_port, k): (u32, u16, usize),
        now: u32,
    ) -> Result<u32, DropReason> {
        inbound_opening_ok(frame, ip, flow)?;
        let mac = self.statics[k].mac;
        if mac == [0; 6] {
            return Err(DropReason::NoNeighbor);
        }
        let si = self.sub_for(in_addr)?;
        if let Err(r) = self.room_for(si) {
            self.maybe_free_sub(si);
            return Err(r);
        }
        let spec = Spec {
            proto: flow.proto,
            in_addr,
            in_port,
            ext_addr: ip.dst,
            ext_port: flow.dport,
            rem_addr: ip.src,
            rem_port: flow.sport,
            mac,
            state: opening_state(flow.proto, TcpState::SynIn),
            sub: si,
            held: HELD_NONE,
        };
        Ok(self.insert_session(spec, head, now))
    }

    /// Whether subscriber `si` and the table have room for one more
    /// session.
    pub(super) fn room_for(&self, si: u32) -> Result<(), DropReason> {
        if self.subs[si as usize].sessions >= self.cfg.limits.sessions_per_subscriber {
            return Err(DropReason::SessionLimit);
        }
        if self.session_count() >= self.cfg.max_sessions as usize {
            return Err(DropReason::SessionTableFull);
        }
        Ok(())
    }

    /// Files a new session in the indexes, its mapping's circle, the
    /// wheel and its subscriber, with the rewrite of both directions
    /// computed once.
    pub(super) fn insert_session(&mut self, x: Spec, head: Option<u32>, now: u32) -> u32 {
        let idx = self.free_head;
        debug_assert!(idx != NONE, "callers check live < max_sessions");
        let a = Delta::u32(x.in_addr, x.ext_addr);
        let p = Delta::u16(x.in_port, x.ext_port);
        let ra = Delta::u32(x.ext_addr, x.in_addr);
        let rp = Delta::u16(x.ext_port, x.in_port);
        // TCP and UDP checksums cover the address (pseudo-header); ICMP's
        // only the identifier. Address-only protocols have no port: the
        // delta is the address's, which only DCCP and UDP-Lite use.
        let (l4_out, l4_in) = if x.proto == PROTO_ICMP {
            (p, rp)
        } else {
            (a.plus(p), ra.plus(rp))
        };
        let s = &mut self.sessions[idx as usize];
        self.free_head = s.next;
        *s = Session {
            in_addr: x.in_addr,
            ext_addr: x.ext_addr,
            rem_addr: x.rem_addr,
            in_port: x.in_port,
            ext_port: x.ext_port,
            rem_port: x.rem_port,
            proto: x.proto,
            state: x.state,
            in_mac: x.mac,
            ip_out: a.plus(Delta::TTL_DECREMENT).0,
            l4_out: l4_out.0,
            ip_in: ra.plus(Delta::TTL_DECREMENT).0,
            l4_in: l4_in.0,
            prev: NONE,
            next: NONE,
            map_prev: idx,
            map_next: idx,
            last_seen: now,
            held: x.held,
            wheel_at: NONE,
            sub: x.sub,
        };
        let h = &self.hasher;
        let ok_out = self.sess_out.insert(
            h.session(x.proto, x.in_addr, x.in_port, x.rem_addr, x.rem_port),
            idx,
        );
        let ok_in = self.sess_in.insert(
            h.session(x.proto, x.ext_addr, x.ext_port, x.rem_addr, x.rem_port),
            idx,
        );
        debug_assert!(ok_out && ok_in);
        match head {
            None if crate::proto::is_address_only(x.proto) => {}
            None => {
                self.map_out
                    .insert(h.mapping(x.proto, x.in_addr, x.in_port), idx);
                self.map_in
                    .insert(h.mapping(x.proto, x.ext_addr, x.ext_port), idx);
            }
            Some(hd) => {
                let n = self.sessions[hd as usize].map_next;
                self.sessions[idx as usize].map_prev = hd;
                self.sessions[idx as usize].map_next = n;
                self.sessions[hd as usize].map_next = idx;
                self.sessions[n as usize].map_prev = idx;
            }
        }
        let t = self.timeout_of(&self.sessions[idx as usize]);
        self.wheel
            .insert(&mut self.sessions, idx, now.saturating_add(t));
        self.subs[x.sub as usize].sessions += 1;
        self.live_proto[crate::proto::slot_of(x.proto)] += 1;
        self.counters.sessions_created += 1;
        if self.cfg.session_events && x.held != HELD_MAP {
            let s = self.sessions[idx as usize];
            self.push_session_event(true, &s, now);
        }
        idx
    }

    /// Queues the creation or deletion event of session `s`.
    pub(super) fn push_session_event(&mut self, created: bool, s: &Session, at: u32) {
        let (inside, outside, remote) = super::snapshot::endpoints(s);
        let proto = s.proto;
        self.push_event(if created {
            Event::SessionCreated {
                proto,
                inside,
                outside,
                remote,
                at,
            }
        } else {
            Event::SessionDeleted {
                proto,
                inside,
                outside,
                remote,
                at,
            }
        });
    }

    /// Queues an event, counting it when the queue is full.
    pub(super) fn push_event(&mut self, e: Event) {
        if !self.events.push(e) {
            self.counters.events_dropped += 1;
        }
    }
}
