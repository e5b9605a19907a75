//! Held mappings: a subscriber's own mappings asked for over PCP or
//! NAT-PMP ([`crate::hold`]), kept until an absolute second.
//!
//! A held MAP is an anchor session: a session of the mapping with remote
//! 0.0.0.0:0, filed in the mapping's circle and made its head, so the
//! mapping, its port and its block live while the anchor does, outbound
//! flows of the inside endpoint reuse its external endpoint, and an
//! inbound packet finds it in one lookup (`create_in`). A held PEER is
//! the session to its remote, kept at least until its end. The session's
//! `held` byte says which; the end and the remote filters are in a
//! fixed-capacity table here, looked up by session index.

use super::slowpath::Spec;
use super::Shard;
use crate::counters::DropReason;
use crate::event::Event;
use crate::hold::{Granted, HoldAsk, HoldKind, HoldRefusal, RemoteFilter, MAX_FILTERS};
use crate::index::Index;
use crate::session::{HELD_MAP, HELD_NONE, HELD_PEER, NONE};
use crate::tcp::TcpState;
use crate::wire::ipv4::{PROTO_TCP, PROTO_UDP};
use crate::wire::Mac;
use crate::Time;

/// The end and filters of one held session.
#[derive(Clone, Copy, Debug)]
struct Hold {
    /// Index of the held session; NONE while the record is free.
    session: u32,
    /// Second until which the session is held.
    until: u32,
    filters: [RemoteFilter; MAX_FILTERS],
    nfilters: u8,
    /// Free-list link while unused.
    next_free: u32,
}

impl Hold {
    const FREE: Hold = Hold {
        session: NONE,
        until: 0,
        filters: [RemoteFilter {
            addr: 0,
            len: 0,
            port: 0,
        }; MAX_FILTERS],
        nfilters: 0,
        next_free: NONE,
    };
}

/// The held sessions of a shard: a record per held session, found by
/// session index; allocated whole at start.
#[derive(Debug)]
pub(super) struct HoldTable {
    recs: Vec<Hold>,
    index: Index,
    free: u32,
    live: u32,
}

impl HoldTable {
    /// A table for `cap` held sessions.
    pub(super) fn new(cap: usize) -> HoldTable {
        let mut t = HoldTable {
            recs: vec![Hold::FREE; cap],
            index: Index::with_capacity(cap),
            free: NONE,
            live: 0,
        };
        t.clear();
        t
    }

    /// Frees every record.
    pub(super) fn clear(&mut self) {
        let n = self.recs.len();
        for (i, r) in self.recs.iter_mut().enumerate() {
            *r = Hold {
                next_free: if i + 1 < n { i as u32 + 1 } else { NONE },
                ..Hold::FREE
            };
        }
        self.free = if n == 0 { NONE } else { 0 };
        self.live = 0;
        self.index.clear();
    }

    /// Held sessions.
    pub(super) fn live(&self) -> usize {
        self.live as usize
    }

    fn is_full(&self) -> bool {
        self.free == NONE
    }

    fn find(&self, hash: u64, session: u32) -> Option<u32> {
        let recs = &self.recs;
        self.index
            .find(hash, |r| recs[r as usize].session == session)
    }

    /// Files a record for `session`; false when the table is full.
    fn add(&mut self, hash: u64, session: u32) -> Option<u32> {
        let r = self.free;
        if r == NONE || !self.index.insert(hash, r) {
            return None;
        }
        self.free = self.recs[r as usize].next_free;
        self.recs[r as usize] = Hold {
            session,
            ..Hold::FREE
        };
        self.live += 1;
        Some(r)
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.recs.capacity() * core::mem::size_of::<Hold>() + self.index.memory_bytes()
    }
}

/// Whether the mapping's endpoint `(addr, port)` is the one `ask`
/// suggests (a zero part suggests nothing).
fn as_suggested(ask: &HoldAsk, (addr, port): (u32, u16)) -> bool {
    let (sa, sp) = ask.suggested;
    (sa == 0 || sa == addr) && (sp == 0 || sp == port)
}

/// The refusal of a hold for the reason a packet would have been dropped.
fn refusal_of(r: DropReason) -> HoldRefusal {
    match r {
        DropReason::SessionLimit | DropReason::PortsExhausted => HoldRefusal::Quota,
        DropReason::NoExternalAddress => HoldRefusal::NoExternalAddress,
        _ => HoldRefusal::NoResources,
    }
}

impl Shard {
    /// Creates, renews or changes the held mapping `ask` describes.
    pub fn hold(&mut self, ask: &HoldAsk, now: Time) -> Result<Granted, HoldRefusal> {
        let now = now.secs();
        if !matches!(ask.proto, PROTO_TCP | PROTO_UDP) || ask.inside_port == 0 {
            return Err(HoldRefusal::Unsupported);
        }
        if let HoldKind::Peer {
            remote,
            remote_port,
        } = ask.kind
        {
            if remote >> 24 == 0 || remote_port == 0 || self.is_inside(remote) {
                return Err(HoldRefusal::Unsupported);
            }
        }
        if !self.is_inside(ask.inside) || self.owner_of(ask.inside) != self.id {
            return Err(HoldRefusal::NotOurs);
        }
        if ask.filters.len() > MAX_FILTERS {
            return Err(HoldRefusal::NoResources);
        }
        // An existing hold is renewed in place.
        if let Some(idx) = self.held_session(ask) {
            let s = self.sessions[idx as usize];
            if ask.prefer_failure && !as_suggested(ask, (s.ext_addr, s.ext_port)) {
                return Err(HoldRefusal::CannotProvideExternal);
            }
            return Ok(self.set_hold(idx, ask, now));
        }
        if let HoldKind::Peer {
            remote,
            remote_port,
        } = ask.kind
        {
            let found = self.find_out(ask.proto, ask.inside, ask.inside_port, remote, remote_port);
            if let Some(idx) = found {
                let s = self.sessions[idx as usize];
                if ask.prefer_failure && !as_suggested(ask, (s.ext_addr, s.ext_port)) {
                    return Err(HoldRefusal::CannotProvideExternal);
                }
                if self.holds.is_full() {
                    return Err(HoldRefusal::NoResources);
                }
                self.sessions[idx as usize].held = HELD_PEER;
                return Ok(self.set_hold(idx, ask, now));
            }
        }
        if self.holds.is_full() {
            return Err(HoldRefusal::NoResources);
        }
        if self.ext_down {
            return Err(HoldRefusal::NoExternalAddress);
        }
        let si = self.sub_for(ask.inside).map_err(refusal_of)?;
        let r = self.new_hold(si, ask, now);
        if r.is_err() {
            self.maybe_free_sub(si);
        }
        r
    }

    /// The session that holds `ask`'s mapping now: the anchor of a MAP,
    /// a held PEER session.
    fn held_session(&self, ask: &HoldAsk) -> Option<u32> {
        let idx = match ask.kind {
            HoldKind::Map => self.mapping_head(ask.proto, ask.inside, ask.inside_port)?,
            HoldKind::Peer {
                remote,
                remote_port,
            } => self.find_out(ask.proto, ask.inside, ask.inside_port, remote, remote_port)?,
        };
        let want = match ask.kind {
            HoldKind::Map => HELD_MAP,
            HoldKind::Peer { .. } => HELD_PEER,
        };
        (self.sessions[idx as usize].held == want).then_some(idx)
    }

    /// The first session of inside endpoint `addr:port`'s mapping (its
    /// anchor, when it is held).
    pub(super) fn mapping_head(&self, proto: u8, addr: u32, port: u16) -> Option<u32> {
        let sessions = &self.sessions;
        self.map_out
            .find(self.hasher.mapping(proto, addr, port), |i| {
                let s = &sessions[i as usize];
                s.in_addr == addr && s.in_port == port && s.proto == proto
            })
    }

    /// A new anchor or PEER session for subscriber `si`.
    fn new_hold(&mut self, si: u32, ask: &HoldAsk, now: u32) -> Result<Granted, HoldRefusal> {
        self.room_for(si).map_err(refusal_of)?;
        let head = self.mapping_head(ask.proto, ask.inside, ask.inside_port);
        let (ext_addr, ext_port) = match head {
            Some(h) => {
                let s = &self.sessions[h as usize];
                (s.ext_addr, s.ext_port)
            }
            None => match self.static_for_inside(ask.proto, ask.inside, ask.inside_port) {
                Some(x) => x,
                None => self.hold_port(si, ask, now)?,
            },
        };
        if ask.prefer_failure && !as_suggested(ask, (ext_addr, ext_port)) {
            // Only an existing or static mapping gets here: nothing taken.
            return Err(HoldRefusal::CannotProvideExternal);
        }
        let mac = match (ask.mac, head) {
            (Some(m), _) => m.0,
            (None, Some(h)) => self.sessions[h as usize].in_mac,
            (None, None) => [0; 6],
        };
        let (rem_addr, rem_port, held, state) = match ask.kind {
            HoldKind::Map => (0, 0, HELD_MAP, 0),
            HoldKind::Peer {
                remote,
                remote_port,
            } => {
                let state = if ask.proto == PROTO_TCP {
                    TcpState::SynOut as u8
                } else {
                    0
                };
                (remote, remote_port, HELD_PEER, state)
            }
        };
        let spec = Spec {
            proto: ask.proto,
            in_addr: ask.inside,
            in_port: ask.inside_port,
            ext_addr,
            ext_port,
            rem_addr,
            rem_port,
            mac,
            state,
            sub: si,
            held,
        };
        let idx = self.insert_session(spec, head, now);
        if held == HELD_MAP {
            if let Some(h) = head {
                // The anchor heads its mapping's circle, so that inbound
                // packets find it without a walk.
                let hs = &self.hasher;
                self.map_out
                    .replace(hs.mapping(ask.proto, ask.inside, ask.inside_port), h, idx);
                self.map_in
                    .replace(hs.mapping(ask.proto, ext_addr, ext_port), h, idx);
            }
            let (inside, outside, _) = super::snapshot::endpoints(&self.sessions[idx as usize]);
            self.push_event(Event::MappingCreated {
                proto: ask.proto,
                inside,
                outside,
                at: now,
            });
        }
        Ok(self.set_hold(idx, ask, now))
    }

    /// The external endpoint of a new mapping for a hold: the suggested
    /// one when it can be given, else one allocated as usual (unless
    /// PREFER_FAILURE).
    fn hold_port(&mut self, si: u32, ask: &HoldAsk, now: u32) -> Result<(u32, u16), HoldRefusal> {
        let (sa, sp) = ask.suggested;
        let paired = self.paired_of(si);
        let addr_ok = sa == 0 || paired.is_some_and(|a| self.pool_addrs[a] == sa);
        if sp != 0 && addr_ok {
            if let Some(a) = paired {
                if self.take_suggested(si, ask.proto, a, sp, now) {
                    return Ok((self.pool_addrs[a], sp));
                }
            }
        }
        if ask.prefer_failure && (!addr_ok || sp != 0) {
            return Err(HoldRefusal::CannotProvideExternal);
        }
        self.alloc_port(si, ask.proto, ask.inside_port, now)
            .map_err(refusal_of)
    }

    /// The pool address (index) subscriber `si`'s blocks are or would be
    /// on.
    fn paired_of(&self, si: u32) -> Option<usize> {
        let sub = self.subs[si as usize];
        if self.cfg.deterministic {
            return crate::deterministic::inside_to_outside(&self.cfg, sub.addr)
                .map(|p| p.addr_idx);
        }
        if sub.ext != NONE {
            return Some(sub.ext as usize);
        }
        self.pool_order(sub.addr).find(|&a| self.blocks.has_free(a))
    }

    /// Takes port `port` of pool address `a` for subscriber `si`: in one
    /// of its blocks, or in that port's block when it is free and the
    /// subscriber may take one more (deterministic NAT: only in its fixed
    /// block). False when it cannot be had.
    fn take_suggested(&mut self, si: u32, proto: u8, a: usize, port: u16, now: u32) -> bool {
        let Some(local) = self.blocks.local(a, port) else {
            return false;
        };
        if self.is_reserved(a, port) {
            return false;
        }
        let sub = self.subs[si as usize];
        if self.cfg.deterministic {
            let Some(place) = crate::deterministic::inside_to_outside(&self.cfg, sub.addr) else {
                return false;
            };
            if self.blocks.local(place.addr_idx, place.first_port) != Some(local) {
                return false;
            }
        }
        let mut b = sub.blocks;
        while b != NONE {
            if b == local {
                return self.blocks.take_port_at(local, proto, port);
            }
            b = self.blocks.next_of(b);
        }
        let may_take = sub.nblocks < self.cfg.limits.blocks_per_subscriber
            && (sub.ext == NONE || sub.ext as usize == a || self.cfg.deterministic);
        // A free block has every port free: taking it cannot be wasted.
        if !may_take || !self.blocks.is_free(local) {
            return false;
        }
        if self.blocks.take_specific(local, sub.blocks).is_none() {
            return false;
        }
        self.give_block(si, local, a, now);
        self.blocks.take_port_at(local, proto, port)
    }

    /// Sets the end, filters and MAC of held session `idx` from `ask`,
    /// filing its hold record when it has none; re-files it on the wheel.
    fn set_hold(&mut self, idx: u32, ask: &HoldAsk, now: u32) -> Granted {
        let key = self.hasher.subscriber(idx);
        let r = match self.holds.find(key, idx) {
            Some(r) => r,
            // Callers checked that the table has room.
            None => self.holds.add(key, idx).unwrap_or(NONE),
        };
        if let Some(h) = self.holds.recs.get_mut(r as usize) {
            h.until = ask.until;
            h.nfilters = ask.filters.len() as u8;
            h.filters = [RemoteFilter::default(); MAX_FILTERS];
            h.filters[..ask.filters.len()].copy_from_slice(&ask.filters);
        }
        if let Some(m) = ask.mac {
            self.sessions[idx as usize].in_mac = m.0;
        }
        self.refile(idx, now);
        let s = &self.sessions[idx as usize];
        Granted {
            external: s.ext_addr,
            external_port: s.ext_port,
            until: ask.until,
        }
    }

    /// Re-files session `idx` on the wheel at its true end.
    fn refile(&mut self, idx: u32, now: u32) {
        let due = self.due_of(idx);
        self.wheel.remove(&mut self.sessions, idx);
        self.wheel.insert(&mut self.sessions, idx, due.max(now));
    }

    /// Removes a held mapping; whether there was one. A MAP's port closes
    /// at once: its anchor and every other session of the mapping go
    /// (counted as released), and the port goes back to its block. A PEER
    /// session loses its hold and lives on by its idle timer.
    pub fn release_hold(
        &mut self,
        kind: HoldKind,
        proto: u8,
        inside: u32,
        inside_port: u16,
        now: Time,
    ) -> bool {
        let now = now.secs();
        let ask = HoldAsk {
            kind,
            proto,
            inside,
            inside_port,
            suggested: (0, 0),
            prefer_failure: false,
            until: 0,
            filters: Vec::new(),
            mac: None,
        };
        let Some(idx) = self.held_session(&ask) else {
            return false;
        };
        match kind {
            HoldKind::Map => {
                // The port closes now: every session of the mapping
                // goes with its anchor.
                loop {
                    let next = self.sessions[idx as usize].map_next;
                    if next == idx {
                        break;
                    }
                    self.delete_session(next, now);
                    self.counters.sessions_released += 1;
                }
                self.delete_session(idx, now);
                self.counters.sessions_released += 1;
            }
            HoldKind::Peer { .. } => {
                self.drop_hold(idx);
                self.sessions[idx as usize].held = HELD_NONE;
                self.refile(idx, now);
            }
        }
        true
    }

    /// The external address subscriber `inside` is mapped to: its paired
    /// address, or the one its first block would be on.
    pub fn external_of(&self, inside: u32) -> Option<u32> {
        if self.ext_down || self.pool_addrs.is_empty() {
            return None;
        }
        if self.cfg.deterministic {
            return crate::deterministic::inside_to_outside(&self.cfg, inside).map(|p| p.external);
        }
        if let Some(si) = self.find_sub(inside) {
            let ext = self.subs[si as usize].ext;
            if ext != NONE {
                return Some(self.pool_addrs[ext as usize]);
            }
        }
        let mut order = self.pool_order(inside);
        let first = order.next()?;
        let a = core::iter::once(first)
            .chain(order)
            .find(|&a| self.blocks.has_free(a))
            .unwrap_or(first);
        Some(self.pool_addrs[a])
    }

    /// Held mappings and sessions of the shard.
    pub fn held_count(&self) -> usize {
        self.holds.live()
    }

    /// The second until which session `idx` is held, if it is.
    pub(super) fn held_until(&self, idx: u32) -> Option<u32> {
        if self.sessions[idx as usize].held == HELD_NONE {
            return None;
        }
        let r = self.holds.find(self.hasher.subscriber(idx), idx)?;
        Some(self.holds.recs[r as usize].until)
    }

    /// When session `idx` ends unless refreshed: its idle timer's end, a
    /// held PEER session's hold end if later, an anchor's hold end.
    pub(super) fn due_of(&self, idx: u32) -> u32 {
        let s = &self.sessions[idx as usize];
        let idle = s.last_seen.saturating_add(self.timeout_of(s));
        match (s.held, self.held_until(idx)) {
            (HELD_MAP, Some(u)) => u,
            (_, Some(u)) => idle.max(u),
            _ => idle,
        }
    }

    /// Whether the filters of anchor `idx` let remote `addr:port` open a
    /// session on its mapping (no filter: every remote).
    pub(super) fn anchor_admits(&self, idx: u32, addr: u32, port: u16) -> bool {
        let Some(r) = self.holds.find(self.hasher.subscriber(idx), idx) else {
            return true;
        };
        let h = &self.holds.recs[r as usize];
        let f = &h.filters[..usize::from(h.nfilters)];
        f.is_empty() || f.iter().any(|f| f.admits(addr, port))
    }

    /// Removes the hold record of session `idx`, which is going or losing
    /// its hold.
    pub(super) fn drop_hold(&mut self, idx: u32) {
        let hash = self.hasher.subscriber(idx);
        let Some(r) = self.holds.find(hash, idx) else {
            return;
        };
        let hasher = self.hasher;
        let recs = &self.holds.recs;
        self.holds
            .index
            .remove(hash, r, |j| hasher.subscriber(recs[j as usize].session));
        self.holds.recs[r as usize] = Hold {
            next_free: self.holds.free,
            ..Hold::FREE
        };
        self.holds.free = r;
        self.holds.live -= 1;
    }

    /// Queues the deletion event of every held MAP and empties the table
    /// (every session is being removed at once).
    pub(super) fn clear_holds(&mut self, now: u32) {
        for i in 0..self.holds.recs.len() {
            let idx = self.holds.recs[i].session;
            if idx == NONE || self.sessions[idx as usize].held != HELD_MAP {
                continue;
            }
            let s = self.sessions[idx as usize];
            self.push_mapping_deleted(&s, now);
        }
        self.holds.clear();
    }

    /// Queues the deletion event of the held MAP whose anchor is `s`.
    pub(super) fn push_mapping_deleted(&mut self, s: &crate::session::Session, at: u32) {
        let (inside, outside, _) = super::snapshot::endpoints(s);
        self.push_event(Event::MappingDeleted {
            proto: s.proto,
            inside,
            outside,
            at,
        });
    }

    /// Sets the MAC of inside host `addr` on its held sessions (a walk of
    /// the table of holds, not of the sessions).
    pub(super) fn learn_held_mac(&mut self, addr: u32, mac: Mac) {
        if self.holds.live() == 0 {
            return;
        }
        for r in &self.holds.recs {
            if r.session == NONE {
                continue;
            }
            let s = &mut self.sessions[r.session as usize];
            if s.in_addr == addr {
                s.in_mac = mac.0;
            }
        }
    }
}
