//! A set of shards driven like workers: every frame goes to the shard that
//! receives it, and hand-offs are followed to their owner.

use masq_core::wire::Mac;
use masq_core::{Config, NextHops, Shard, Side, Time, Verdict};

use crate::frames::{GW_MAC, LAN_MAC, WAN_MAC};

/// See the module documentation.
#[derive(Debug)]
pub struct Nat {
    /// The shards.
    pub shards: Vec<Shard>,
    /// The simulated clock.
    pub now: Time,
}

impl Nat {
    /// Builds every shard of `cfg` at time 0 with the test MACs.
    pub fn new(cfg: &Config) -> Nat {
        let hops = NextHops {
            lan_mac: Mac(LAN_MAC),
            wan_mac: Mac(WAN_MAC),
            gateway_mac: Mac(GW_MAC),
        };
        let shards = (0..cfg.workers)
            .map(|i| {
                let mut s = Shard::new(cfg, i, Time::from_secs(0)).expect("valid config");
                s.set_next_hops(hops);
                s
            })
            .collect();
        Nat {
            shards,
            now: Time::from_secs(0),
        }
    }

    /// Sends `frame` in on `side`, arriving at shard `first`, and follows
    /// hand-offs. Returns the final verdict (never `HandOff`).
    pub fn send_to(&mut self, first: u16, frame: &mut [u8], side: Side) -> Verdict {
        let mut shard = first;
        let mut side = side;
        for _ in 0..4 {
            match self.shards[usize::from(shard)].process(frame, side, self.now) {
                Verdict::HandOff { shard: s, side: sd } => {
                    assert_ne!(s, shard, "a shard handed a frame to itself");
                    shard = s;
                    side = sd;
                }
                v => return v,
            }
        }
        panic!("hand-off loop");
    }

    /// Sends `frame` in on `side` at shard 0.
    pub fn send(&mut self, frame: &mut [u8], side: Side) -> Verdict {
        self.send_to(0, frame, side)
    }

    /// Moves the clock and runs every shard's timers.
    pub fn advance(&mut self, secs: u64) -> usize {
        self.now = Time(self.now.0 + secs * 1000);
        let now = self.now;
        self.shards
            .iter_mut()
            .map(|s| s.expire(now, usize::MAX))
            .sum()
    }

    /// Live sessions over all shards.
    pub fn sessions(&self) -> usize {
        self.shards.iter().map(Shard::session_count).sum()
    }

    /// Takes every frame the shards made themselves (generated ICMP errors,
    /// released fragments), shard by shard, with where each goes.
    pub fn emitted(&mut self) -> Vec<(Verdict, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 2048];
        for s in &mut self.shards {
            while let Some((v, n)) = s.pop_emitted(&mut buf) {
                out.push((v, buf[..n].to_vec()));
            }
        }
        out
    }

    /// Sum of one drop counter over all shards.
    pub fn drops(&self, r: masq_core::DropReason) -> u64 {
        self.shards.iter().map(|s| s.counters().drop_count(r)).sum()
    }
}
