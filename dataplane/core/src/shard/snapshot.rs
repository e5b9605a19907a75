//! What the control plane reads from a shard: counts, block usage,
//! memory, pending events and emitted frames, and snapshots of sessions
//! and subscribers (walks of whole tables, never on the packet path).

use super::ports::Subscriber;
use super::{Shard, Verdict};
use crate::config::Config;
use crate::counters::Counters;
use crate::event::{Endpoint, Event};
use crate::hold::HeldKind;
use crate::pool::BlockMap;
use crate::session::{Session, HELD_MAP, NONE};
use crate::tcp::TcpState;

/// A read-only copy of one session, for snapshots and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// IP protocol.
    pub proto: u8,
    /// Subscriber side.
    pub inside: Endpoint,
    /// Translated side.
    pub outside: Endpoint,
    /// Remote side (port 0 for ICMP and address-only protocols).
    pub remote: Endpoint,
    /// TCP state, for TCP sessions.
    pub tcp: Option<TcpState>,
    /// Second of the last refresh.
    pub last_seen: u32,
    /// Second at which the session expires unless refreshed.
    pub expires: u32,
    /// What holds the session (PCP, NAT-PMP) and until which second;
    /// `None` for a session that lives by its idle timer. A held MAP is
    /// shown as a session with remote 0.0.0.0:0 (any remote).
    pub held: Option<(HeldKind, u32)>,
}

/// A read-only copy of one subscriber, for snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberInfo {
    /// Inside address.
    pub addr: u32,
    /// Live sessions.
    pub sessions: u32,
    /// Port blocks: (external address, first port, last port).
    pub blocks: Vec<(u32, u16, u16)>,
}

/// Inside, outside and remote endpoints of a session.
pub(super) fn endpoints(s: &Session) -> (Endpoint, Endpoint, Endpoint) {
    (
        Endpoint {
            addr: s.in_addr,
            port: s.in_port,
        },
        Endpoint {
            addr: s.ext_addr,
            port: s.ext_port,
        },
        Endpoint {
            addr: s.rem_addr,
            port: s.rem_port,
        },
    )
}

impl Shard {
    /// This shard's id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Live sessions.
    pub fn session_count(&self) -> usize {
        self.live_proto.iter().map(|&n| n as usize).sum()
    }

    /// Live sessions per protocol slot, in [`crate::proto::SLOT_NAMES`]
    /// order (TCP, UDP, ICMP, the named address-only protocols, other).
    pub fn session_count_by_proto(&self) -> [usize; crate::proto::SLOTS] {
        self.live_proto.map(|n| n as usize)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Live subscribers this shard owns. A subscriber's address-only
    /// sessions may live on other shards, each with a record of it there
    /// (for its session limit) that this count leaves out, so the counts
    /// of all shards add up to the subscribers.
    pub fn subscriber_count(&self) -> usize {
        (self.subs_live - self.subs_away) as usize
    }

    /// The block arithmetic shared by all shards.
    pub fn block_map(&self) -> BlockMap {
        *self.blocks.map()
    }

    /// Per pool address: (address, blocks in use, blocks free now).
    pub fn block_usage(&self) -> Vec<(u32, u32, u32)> {
        (0..self.blocks.naddr())
            .map(|a| {
                (
                    self.pool_addrs[a],
                    self.blocks.in_use()[a],
                    self.blocks.free_count(a) as u32,
                )
            })
            .collect()
    }

    /// Takes the oldest pending event.
    pub fn pop_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// Takes the oldest frame the shard wants sent besides those it was
    /// given (a generated ICMP error, a released early fragment): copies it
    /// into `out` (at least MTU + 18 bytes) and says where it goes and how
    /// long it is. Call after each batch until `None`.
    pub fn pop_emitted(&mut self, out: &mut [u8]) -> Option<(Verdict, usize)> {
        self.emit.pop(out)
    }

    /// Early fragments held now, waiting for their first fragment.
    pub fn held_fragments(&self) -> usize {
        self.held.live()
    }

    /// True when [`Shard::pop_emitted`] has a frame.
    pub fn has_emitted(&self) -> bool {
        !self.emit.is_empty()
    }

    /// Bytes held by every table of the shard (all fixed at creation).
    pub fn memory_bytes(&self) -> usize {
        self.sessions.capacity() * core::mem::size_of::<Session>()
            + self.sess_out.memory_bytes()
            + self.sess_in.memory_bytes()
            + self.map_out.memory_bytes()
            + self.map_in.memory_bytes()
            + self.subs.capacity() * core::mem::size_of::<Subscriber>()
            + self.sub_index.memory_bytes()
            + self.blocks.memory_bytes()
            + self.wheel.memory_bytes()
            + self.events.memory_bytes()
            + self.pool_addrs.capacity() * 4
            + self.emit.memory_bytes()
            + self.frags.memory_bytes()
            + self.held.memory_bytes()
            + self.reserved.capacity() * 8
            + self.holds.memory_bytes()
    }

    pub(super) fn info(&self, idx: u32) -> SessionInfo {
        let s = &self.sessions[idx as usize];
        let (inside, outside, remote) = endpoints(s);
        let kind = if s.held == HELD_MAP {
            HeldKind::Map
        } else {
            HeldKind::Peer
        };
        SessionInfo {
            proto: s.proto,
            inside,
            outside,
            remote,
            tcp: TcpState::from_u8(s.state),
            last_seen: s.last_seen,
            expires: self.due_of(idx),
            held: self.held_until(idx).map(|u| (kind, u)),
        }
    }

    /// Every live session (a walk of the whole table: for snapshots, not
    /// for the packet path).
    pub fn sessions(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.proto != 0)
            .map(|(i, _)| self.info(i as u32))
    }

    /// Live sessions in table slots `from..from + slots` that `pick`
    /// selects, appended to `out` (at most `max` in all); returns the slot
    /// to continue from, or `None` at the end of the table. A snapshot
    /// taken in steps keeps each of the worker's pauses short.
    pub fn sessions_in(
        &self,
        from: usize,
        slots: usize,
        max: usize,
        mut pick: impl FnMut(&SessionInfo) -> bool,
        out: &mut Vec<SessionInfo>,
    ) -> Option<usize> {
        let end = from.saturating_add(slots).min(self.sessions.len());
        for (k, s) in self
            .sessions
            .get(from..end)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            if out.len() >= max {
                return None;
            }
            if s.proto != 0 {
                let i = self.info((from + k) as u32);
                if pick(&i) {
                    out.push(i);
                }
            }
        }
        (end < self.sessions.len() && out.len() < max).then_some(end)
    }

    /// Every live subscriber record with its sessions and port blocks. A
    /// subscriber with address-only sessions on other shards has a record
    /// (sessions, no blocks) on each of them too: a listing of all shards
    /// merges them by address.
    pub fn subscribers(&self) -> impl Iterator<Item = SubscriberInfo> + '_ {
        self.subs
            .iter()
            .filter(|s| s.sessions != 0 || s.nblocks != 0)
            .map(|s| {
                let mut blocks = Vec::with_capacity(usize::from(s.nblocks));
                let mut b = s.blocks;
                while b != NONE {
                    blocks.push((
                        self.pool_addrs[self.blocks.addr_idx(b)],
                        self.blocks.first_port(b),
                        self.blocks.last_port(b),
                    ));
                    b = self.blocks.next_of(b);
                }
                SubscriberInfo {
                    addr: s.addr,
                    sessions: s.sessions,
                    blocks,
                }
            })
    }
}
