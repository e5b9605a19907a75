//! What the control plane changes in a shard: next hops and the LAN
//! address, flushes (selected sessions, or everything at once), the
//! external address of MASQUERADE, and a new configuration while running.

use super::{NextHops, SessionInfo, Shard};
use crate::config::{Config, Prefix};
use crate::event::Event;
use crate::session::NONE;
use crate::Time;

impl Shard {
    /// Sets the MAC addresses written into forwarded frames.
    pub fn set_next_hops(&mut self, hops: NextHops) {
        self.hops = hops;
    }

    /// Sets the source address of ICMP errors sent to subscribers (the LAN
    /// interface's own address).
    pub fn set_lan_address(&mut self, a: u32) {
        self.lan_addr = a;
    }

    /// Removes every session `pick` selects; returns how many. This
    /// walks the whole table (see [`Shard::flush_all`] for all sessions).
    pub fn flush(&mut self, now: Time, pick: impl FnMut(&SessionInfo) -> bool) -> usize {
        let n = self.remove_where(now.secs(), pick);
        self.counters.sessions_flushed += n as u64;
        n
    }

    /// Removes every session, mapping, subscriber and port block at once:
    /// the tables are cleared in place (a few sequential passes over
    /// memory instead of one index removal per session). A block release
    /// event is queued for each block in use; no per-session event.
    pub fn flush_all(&mut self, now: Time) -> usize {
        let n = self.clear(now.secs());
        self.counters.sessions_flushed += n as u64;
        n
    }

    fn clear(&mut self, now: u32) -> usize {
        let n = self.session_count();
        self.clear_holds(now);
        for i in 0..self.subs.len() {
            let s = self.subs[i];
            if s.sessions == 0 && s.nblocks == 0 {
                continue;
            }
            let mut b = s.blocks;
            while b != NONE {
                let e = Event::BlockReleased {
                    subscriber: s.addr,
                    external: self.pool_addrs[self.blocks.addr_idx(b)],
                    first_port: self.blocks.first_port(b),
                    last_port: self.blocks.last_port(b),
                    at: now,
                };
                self.push_event(e);
                self.counters.blocks_released += 1;
                b = self.blocks.next_of(b);
            }
        }
        super::timers::relink_sessions(&mut self.sessions);
        self.free_head = if self.sessions.is_empty() { NONE } else { 0 };
        self.live_proto = [0; crate::proto::SLOTS];
        super::ports::relink_subscribers(&mut self.subs);
        self.sub_free = if self.subs.is_empty() { NONE } else { 0 };
        self.subs_live = 0;
        self.subs_away = 0;
        for ix in [
            &mut self.sess_out,
            &mut self.sess_in,
            &mut self.map_out,
            &mut self.map_in,
            &mut self.sub_index,
        ] {
            ix.clear();
        }
        self.wheel.clear();
        self.blocks.reset_all();
        self.echo.clear();
        self.address_only_keys.clear();
        self.frags.clear();
        self.held.clear();
        n
    }

    fn remove_where(&mut self, now: u32, mut pick: impl FnMut(&SessionInfo) -> bool) -> usize {
        let mut n = 0;
        for i in 0..self.sessions.len() {
            if self.sessions[i].proto != 0 && pick(&self.info(i as u32)) {
                self.delete_session(i as u32, now);
                n += 1;
            }
        }
        n
    }

    /// MASQUERADE: follows the WAN interface's address. The pool must be
    /// one /32. `Some(a)` makes `a` the external address: when it differs
    /// from the current one, every session, mapping and port block on the
    /// old address is removed (counted in `sessions_readdressed`) and the
    /// blocks are free at once on the new one. `None` (the interface lost
    /// its address) removes them too and refuses new mappings with
    /// `no_external_address` until an address returns. Returns the
    /// sessions removed. This walks the whole table once.
    pub fn set_external_address(
        &mut self,
        addr: Option<u32>,
        now: Time,
    ) -> Result<usize, crate::ConfigError> {
        let [p] = self.cfg.pool[..] else {
            return Err(crate::ConfigError {
                key: "pool",
                reason: "the external address follows an interface only with a pool of one /32"
                    .into(),
            });
        };
        if p.len() != 32 {
            return Err(crate::ConfigError {
                key: "pool",
                reason: format!("{p} is not a /32"),
            });
        }
        if (addr == Some(p.addr()) && !self.ext_down) || (addr.is_none() && self.ext_down) {
            return Ok(0);
        }
        let new = match addr {
            Some(a) => {
                let new = Prefix::new(a, 32).map_err(|reason| crate::ConfigError {
                    key: "pool",
                    reason,
                })?;
                if let Some(i) = self.cfg.inside.iter().find(|i| i.contains(a)) {
                    return Err(crate::ConfigError {
                        key: "pool",
                        reason: format!("{new} lies in inside prefix {i}"),
                    });
                }
                Some(new)
            }
            None => None,
        };
        // Every session of the shard is on the old address: all go at once.
        let n = self.clear(now.secs());
        self.counters.sessions_readdressed += n as u64;
        match new {
            Some(p) => {
                self.cfg.pool = vec![p];
                self.pool_addrs = vec![p.addr()];
                self.ext_down = false;
            }
            None => self.ext_down = true,
        }
        Ok(n)
    }

    /// Takes a new configuration while running: timers (every session is
    /// rescheduled on its new timer), the block hold (for blocks released
    /// from now on), limits (existing sessions and blocks above a lowered
    /// limit stay until they end), filtering, inbound refresh, and pool
    /// addresses appended at the end. Anything else is refused, naming the
    /// key ([`Config::live_change`]).
    pub fn reconfigure(&mut self, new: &Config, now: Time) -> Result<(), crate::ConfigError> {
        self.cfg.live_change(new)?;
        let added = new.pool_addrs().len() - self.pool_addrs.len();
        if added > 0 {
            self.blocks.add_addrs(added);
            self.pool_addrs = new.pool_addrs();
        }
        self.blocks.set_max_in_use(
            (self.cfg.max_subscribers as usize)
                .saturating_mul(usize::from(new.limits.blocks_per_subscriber)),
        );
        self.blocks.set_hold(new.timeouts.block_hold);
        let timers_changed = new.timeouts != self.cfg.timeouts;
        self.cfg = new.clone();
        if timers_changed {
            let now = now.secs();
            for i in 0..self.sessions.len() {
                if self.sessions[i].proto == 0 {
                    continue;
                }
                let due = self.due_of(i as u32);
                self.wheel.remove(&mut self.sessions, i as u32);
                self.wheel
                    .insert(&mut self.sessions, i as u32, due.max(now));
            }
        }
        Ok(())
    }
}
