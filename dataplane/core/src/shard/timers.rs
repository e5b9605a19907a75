//! Timers: how long a session lives in its state (RFC 4787 REQ-5,
//! RFC 5382 REQ-5, RFC 5508 REQ-1), the sweep that removes sessions whose
//! time ran out (bounded per call, driven by the caller's clock), and the
//! removal of one session from every table it is filed in.

use super::Shard;
use crate::session::{Session, HELD_MAP, HELD_NONE, NONE};
use crate::tcp::{TcpState, TcpTimer};
use crate::wire::ipv4::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use crate::{DropReason, Time};

/// `cap` free session records, linked in order into one free list.
pub(super) fn free_sessions(cap: usize) -> Vec<Session> {
    let mut sessions = vec![Session::default(); cap];
    relink_sessions(&mut sessions);
    sessions
}

/// Makes every session record free, linked in order into one free list.
pub(super) fn relink_sessions(sessions: &mut [Session]) {
    let cap = sessions.len();
    for (i, s) in sessions.iter_mut().enumerate() {
        *s = Session {
            wheel_at: NONE,
            next: if i + 1 < cap { i as u32 + 1 } else { NONE },
            ..Session::default()
        };
    }
}

impl Shard {
    /// How long session `s` lives without a refreshing packet.
    pub(super) fn timeout_of(&self, s: &Session) -> u32 {
        let t = &self.cfg.timeouts;
        match s.proto {
            PROTO_TCP => match TcpState::from_u8(s.state).map(TcpState::timer) {
                Some(TcpTimer::Established) => t.tcp_established,
                Some(TcpTimer::IncomingSyn) => t.tcp_incoming_syn,
                _ => t.tcp_transitory,
            },
            PROTO_UDP => t.udp,
            PROTO_ICMP => t.icmp,
            _ => t.other,
        }
    }

    /// Removes sessions whose timer ran out by `now` and frees port blocks
    /// whose hold is over. At most `budget` sessions are removed per call so
    /// a worker's pause stays bounded; returns how many were.
    pub fn expire(&mut self, now: Time, budget: usize) -> usize {
        self.now_ms = now.0;
        let timed_out = self.held.expire(now.0);
        self.counters.drops[DropReason::FragmentTimeout as usize] += timed_out as u64;
        let now = now.secs();
        self.blocks.expire_held(now);
        let wheel = crate::session::WHEEL;
        if now >= self.wheel.now.saturating_add(wheel) {
            // Every slot is visited in this call anyway.
            self.wheel.now = now + 1 - wheel;
        }
        let mut removed = 0;
        // With a budget of 0 the wheel stays where it is.
        while self.wheel.now <= now && budget > 0 {
            let tick = self.wheel.now;
            while let Some(idx) = self.wheel.pop(&mut self.sessions, tick) {
                let due = self.due_of(idx);
                if due <= now {
                    self.delete_session(idx, now);
                    self.counters.sessions_expired += 1;
                    removed += 1;
                    if removed >= budget {
                        return removed;
                    }
                } else {
                    self.wheel.insert(&mut self.sessions, idx, due);
                }
            }
            self.wheel.now += 1;
        }
        self.blocks.expire_held(now);
        removed
    }

    /// The earliest time at which [`Shard::expire`] may have work: a
    /// session's timer or a block's hold. Refreshed sessions make it early,
    /// never late.
    pub fn next_expiry(&self) -> Option<Time> {
        let a = self.wheel.next_occupied();
        let b = self.blocks.next_hold_end();
        let t = match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|t| Time::from_secs(u64::from(t)));
        match (t, self.held.next_expiry().map(Time::from_millis)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes session `idx` from the wheel, the indexes and its mapping
    /// (whose port goes back when it was the last), and frees the record.
    pub(super) fn delete_session(&mut self, idx: u32, now: u32) {
        let s = self.sessions[idx as usize];
        if s.held == HELD_MAP {
            self.push_mapping_deleted(&s, now);
        } else if self.cfg.session_events {
            self.push_session_event(false, &s, now);
        }
        if s.held != HELD_NONE {
            self.drop_hold(idx);
        }
        self.wheel.remove(&mut self.sessions, idx);
        let hasher = self.hasher;
        let sessions = &self.sessions;
        self.sess_out.remove(
            hasher.session(s.proto, s.in_addr, s.in_port, s.rem_addr, s.rem_port),
            idx,
            |i| {
                let x = &sessions[i as usize];
                hasher.session(x.proto, x.in_addr, x.in_port, x.rem_addr, x.rem_port)
            },
        );
        self.sess_in.remove(
            hasher.session(s.proto, s.ext_addr, s.ext_port, s.rem_addr, s.rem_port),
            idx,
            |i| {
                let x = &sessions[i as usize];
                hasher.session(x.proto, x.ext_addr, x.ext_port, x.rem_addr, x.rem_port)
            },
        );
        let hm_out = hasher.mapping(s.proto, s.in_addr, s.in_port);
        let hm_in = hasher.mapping(s.proto, s.ext_addr, s.ext_port);
        if crate::proto::is_address_only(s.proto) {
            // No mapping index and no port: only its key to give back.
            self.note_address_only(s.proto, s.ext_addr, s.rem_addr, false);
        } else if s.map_next == idx {
            // Last session of its mapping: the mapping and its port go.
            self.map_out.remove(hm_out, idx, |i| {
                let x = &sessions[i as usize];
                hasher.mapping(x.proto, x.in_addr, x.in_port)
            });
            self.map_in.remove(hm_in, idx, |i| {
                let x = &sessions[i as usize];
                hasher.mapping(x.proto, x.ext_addr, x.ext_port)
            });
            if s.proto == PROTO_ICMP && self.pool_index(s.ext_addr).is_some() {
                self.echo.release(s.ext_port);
            }
            self.free_mapping_port(&s, now);
        } else {
            self.sessions[s.map_prev as usize].map_next = s.map_next;
            self.sessions[s.map_next as usize].map_prev = s.map_prev;
            self.map_out.replace(hm_out, idx, s.map_next);
            self.map_in.replace(hm_in, idx, s.map_next);
        }
        self.subs[s.sub as usize].sessions -= 1;
        self.maybe_free_sub(s.sub);
        let rec = &mut self.sessions[idx as usize];
        *rec = Session {
            wheel_at: NONE,
            next: self.free_head,
            ..Session::default()
        };
        self.free_head = idx;
        self.live_proto[crate::proto::slot_of(s.proto)] -= 1;
    }
}
