//! The box and the NAT on the same address: the ports the box's own stack
//! keeps (`Config::kernel_ports`, blocks reserved on the box's pool
//! addresses) and the echo identifiers the NAT holds. A box pings with
//! any identifier, so no range can part them: the shard counts its ICMP
//! echo mappings per identifier and reports each identifier that became
//! held or free, which the I/O layer writes into the table the XDP
//! program reads (an echo reply whose identifier the NAT does not hold is
//! the box's).

use super::Shard;

/// Changes the shard keeps between two drains; past that, the next drain
/// reports every identifier of the shard's blocks.
pub const ECHO_CHANGES: usize = 1024;

/// ICMP echo mappings per identifier, and the identifiers changed since
/// the last drain.
#[derive(Debug)]
pub(super) struct EchoIds {
    count: Vec<u32>,
    changes: Vec<u16>,
    /// More changes than `changes` holds (or a flush): resync everything.
    overflow: bool,
}

impl EchoIds {
    /// No identifier held; the first drain reports every one (so a table
    /// left by an earlier run is cleared).
    pub(super) fn new() -> EchoIds {
        EchoIds {
            count: vec![0; 1 << 16],
            changes: Vec::with_capacity(ECHO_CHANGES),
            overflow: true,
        }
    }

    fn note(&mut self, id: u16) {
        if self.changes.len() < ECHO_CHANGES {
            self.changes.push(id);
        } else {
            self.overflow = true;
        }
    }

    /// A new echo mapping with identifier `id`.
    pub(super) fn hold(&mut self, id: u16) {
        let c = &mut self.count[usize::from(id)];
        *c += 1;
        if *c == 1 {
            self.note(id);
        }
    }

    /// An echo mapping with identifier `id` went.
    pub(super) fn release(&mut self, id: u16) {
        let c = &mut self.count[usize::from(id)];
        *c = c.saturating_sub(1);
        if *c == 0 {
            self.note(id);
        }
    }

    /// Every mapping went at once.
    pub(super) fn clear(&mut self) {
        self.count.fill(0);
        self.changes.clear();
        self.overflow = true;
    }

    pub(super) fn held(&self, id: u16) -> bool {
        self.count[usize::from(id)] != 0
    }
}

impl Shard {
    /// Whether `port` of pool address index `addr_idx` is one the box's
    /// own stack keeps (`Config::kernel_ports` on an own address).
    #[inline]
    pub(super) fn is_kernel_port(&self, addr_idx: usize, port: u16) -> bool {
        match self.cfg.kernel_ports {
            Some((lo, hi)) if (lo..=hi).contains(&port) => self
                .pool_addrs
                .get(addr_idx)
                .is_some_and(|&a| self.cfg.is_own(a)),
            _ => false,
        }
    }

    /// Reserves, on every own pool address, the blocks that overlap
    /// `Config::kernel_ports` (a block overlapping partly is reserved
    /// whole): no subscriber gets a port or identifier there.
    pub(super) fn reserve_kernel_blocks(&mut self) {
        let Some((first, last)) = self.cfg.kernel_blocks() else {
            return;
        };
        let map = *self.blocks.map();
        for (a, &addr) in self.pool_addrs.iter().enumerate() {
            if !self.cfg.is_own(addr) {
                continue;
            }
            for b in first..=last {
                self.blocks.reserve(a, map.first_port(b));
            }
        }
    }

    /// Whether the NAT holds an echo mapping with identifier `id` on a
    /// pool address (of this shard's blocks).
    pub fn holds_echo_id(&self, id: u16) -> bool {
        self.echo.held(id)
    }

    /// Drains the changes of the echo identifiers this shard holds:
    /// `f(id, held)` for each identifier that became held or free since
    /// the last drain, or, after more changes than [`ECHO_CHANGES`] or a
    /// flush, for every identifier of this shard's blocks. Each
    /// identifier belongs to one shard's blocks, so each has one writer.
    pub fn drain_echo_ids(&mut self, mut f: impl FnMut(u16, bool)) {
        if self.echo.overflow {
            self.echo.overflow = false;
            self.echo.changes.clear();
            let map = *self.blocks.map();
            for b in (u32::from(self.id)..map.blocks_per_addr).step_by(usize::from(map.shards)) {
                let first = map.first_port(b);
                for id in first..=first + (map.block_size - 1) {
                    f(id, self.echo.held(id));
                }
            }
            return;
        }
        for &id in &self.echo.changes {
            f(id, self.echo.held(id));
        }
        self.echo.changes.clear();
    }
}
