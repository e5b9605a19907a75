//! The sans-IO PCP and NAT-PMP server: checks each request in the order
//! of RFC 6887 §8.3, answers it with a result code, keeps the table of
//! the mappings it holds for subscribers (nonce, external endpoint, end),
//! the epoch, the per-source rate limit, the counters, and the
//! unsolicited announcements after a start or an address change. The
//! NAT is reached through [`Nat`]; time comes in as milliseconds on the
//! shared epoch of the control thread and the workers.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};

use masq_core::{HoldAsk, HoldKind, HoldRefusal, Prefix, RemoteFilter};

use super::wire::{self, opcode, ResultCode};
use super::Nat;
use crate::config::PcpConfig;

/// Where unsolicited messages go: the all-hosts group, port 5350.
pub const ANNOUNCE_TO: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 1), 5350);
/// The client port of unicast announcements.
pub const CLIENT_PORT: u16 = 5350;
/// Announcements after a start or an address change (RFC 6886 §3.2.1).
pub const ANNOUNCEMENTS: u32 = 10;
/// Delay between the first two announcements; each next one doubles.
pub const FIRST_INTERVAL_MS: u64 = 250;
/// Lifetime of a long lifetime error response, seconds.
pub const LONG_ERROR_LIFETIME: u32 = 1800;
/// Lifetime of a short lifetime error response, seconds.
pub const SHORT_ERROR_LIFETIME: u32 = 30;
/// Rate-limit buckets kept before the full ones are first forgotten.
const BUCKETS_SWEPT_AT: usize = 4096;

/// Rows of the request counters, in the order of [`OPCODES`].
mod row {
    pub const ANNOUNCE: usize = 0;
    pub const MAP: usize = 1;
    pub const PEER: usize = 2;
    pub const NATPMP_ADDRESS: usize = 3;
    pub const NATPMP_MAP: usize = 4;
    pub const OTHER: usize = 5;
}

/// The `opcode` label of `masq_pcp_requests_total`.
pub const OPCODES: [&str; 6] = [
    "announce",
    "map",
    "peer",
    "natpmp_address",
    "natpmp_map",
    "other",
];

/// Why a datagram was dropped without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// `[pcp] enabled = false`.
    Disabled,
    /// Under two octets, or a NAT-PMP mapping request under 12.
    TooShort,
    /// A response (R bit or NAT-PMP top opcode bit set).
    Response,
    /// Sent to a multicast, broadcast or unspecified address.
    NotUnicast,
    /// Over the source's request rate.
    RateLimited,
}

impl Drop {
    /// Every reason.
    pub const ALL: [Drop; 5] = [
        Drop::Disabled,
        Drop::TooShort,
        Drop::Response,
        Drop::NotUnicast,
        Drop::RateLimited,
    ];

    /// The name the metrics and docs use.
    pub fn name(self) -> &'static str {
        match self {
            Drop::Disabled => "disabled",
            Drop::TooShort => "too_short",
            Drop::Response => "response",
            Drop::NotUnicast => "not_unicast",
            Drop::RateLimited => "rate_limited",
        }
    }
}

/// A mapping of the table: who, which protocol and port, PEER's remote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    client: u32,
    proto: u8,
    port: u16,
    /// PEER's remote address and port; `None` for MAP and NAT-PMP.
    peer: Option<(u32, u16)>,
}

impl Key {
    fn kind(&self) -> HoldKind {
        match self.peer {
            None => HoldKind::Map,
            Some((remote, remote_port)) => HoldKind::Peer {
                remote,
                remote_port,
            },
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The nonce (all zero for NAT-PMP).
    nonce: [u8; 12],
    external: u32,
    external_port: u16,
    /// End, milliseconds.
    end_ms: u64,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Thousandths of a request.
    milli: u64,
    last_ms: u64,
}

/// A MAP, PEER or NAT-PMP mapping request as the server acts on it.
struct Ask {
    key: Key,
    nonce: [u8; 12],
    lifetime: u32,
    suggested: (u32, u16),
    prefer_failure: bool,
    filters: Vec<RemoteFilter>,
}

/// The outcome of a mapping request: the result, and on success the
/// external endpoint and lifetime granted.
type Outcome = Result<(u32, u16, u32), ResultCode>;

/// The server; see the module documentation.
#[derive(Debug)]
pub struct Server {
    cfg: PcpConfig,
    inside: Vec<Prefix>,
    epoch_ms: u64,
    table: HashMap<Key, Entry>,
    /// (end, key) of every entry, to drop the ended ones in order.
    ends: BTreeSet<(u64, Key)>,
    per_client: HashMap<u32, u32>,
    buckets: HashMap<u32, Bucket>,
    /// Bucket count at which the next sweep runs (twice what a sweep
    /// left, so sweeps cost O(1) per request over time).
    sweep_at: usize,
    requests: [[u64; ResultCode::ALL.len()]; OPCODES.len()],
    drops: [u64; Drop::ALL.len()],
    /// Start of the announcements in progress, and how many were sent.
    announcing: Option<(u64, u32)>,
    /// Clients told one by one (those that held mappings at the change).
    unicast: Vec<u32>,
    /// The one external address NAT-PMP notices carry (None: no notice).
    public: Option<u32>,
    /// Whether NAT-PMP notices go with the announcements (address change).
    natpmp_notices: bool,
}

fn unicast(a: Ipv4Addr) -> bool {
    !(a.is_multicast() || a.is_broadcast() || a.is_unspecified())
}

impl Server {
    /// A server started at `now_ms`; the start-up announcements are due
    /// at once.
    pub fn new(cfg: PcpConfig, inside: Vec<Prefix>, now_ms: u64) -> Server {
        Server {
            cfg,
            inside,
            epoch_ms: now_ms,
            table: HashMap::new(),
            ends: BTreeSet::new(),
            per_client: HashMap::new(),
            buckets: HashMap::new(),
            sweep_at: BUCKETS_SWEPT_AT,
            requests: [[0; ResultCode::ALL.len()]; OPCODES.len()],
            drops: [0; Drop::ALL.len()],
            announcing: Some((now_ms, 0)),
            unicast: Vec::new(),
            public: None,
            natpmp_notices: false,
        }
    }

    /// Takes a new `[pcp]` section and inside prefixes (SIGHUP); the
    /// table is kept (its entries end as granted).
    pub fn reconfigure(&mut self, cfg: PcpConfig, inside: Vec<Prefix>) {
        self.cfg = cfg;
        self.inside = inside;
    }

    /// The one external address of the NAT when there is one (masquerade
    /// mode): NAT-PMP address notices after an address change carry it;
    /// with `None` (a pool) only PCP ANNOUNCE is sent.
    pub fn set_public_address(&mut self, addr: Option<Ipv4Addr>) {
        self.public = addr.map(u32::from);
    }

    /// One datagram from `from` that arrived on the LAN interface,
    /// addressed to `to`; the response for `from`, or None (dropped and
    /// counted).
    pub fn handle(
        &mut self,
        msg: &[u8],
        from: SocketAddrV4,
        to: Ipv4Addr,
        now_ms: u64,
        nat: &mut dyn Nat,
    ) -> Option<Vec<u8>> {
        self.expire(now_ms);
        let dropped = if !self.cfg.enabled {
            Some(Drop::Disabled)
        } else if msg.len() < 2 {
            Some(Drop::TooShort)
        } else if msg[wire::field::OPCODE] & 0x80 != 0 {
            Some(Drop::Response)
        } else if !unicast(to) {
            Some(Drop::NotUnicast)
        } else if !self.admit(u32::from(*from.ip()), now_ms) {
            Some(Drop::RateLimited)
        } else {
            None
        };
        if let Some(d) = dropped {
            self.drops[d as usize] += 1;
            return None;
        }
        let source = u32::from(*from.ip());
        if msg[wire::field::VERSION] == wire::NATPMP_VERSION {
            return self.natpmp(msg, source, now_ms, nat);
        }
        Some(self.pcp(msg, source, now_ms, nat))
    }

    /// The NAT lost every mapping (the external address changed, or a
    /// flush of everything): forget the table, reset the epoch, and
    /// start the unsolicited announcements.
    pub fn external_changed(&mut self, now_ms: u64) {
        let mut clients: Vec<u32> = self.per_client.keys().copied().collect();
        clients.sort_unstable();
        self.unicast = clients;
        self.table.clear();
        self.ends.clear();
        self.per_client.clear();
        self.epoch_ms = now_ms;
        self.announcing = Some((now_ms, 0));
        self.natpmp_notices = true;
    }

    /// Unsolicited messages due by `now_ms`: (destination, bytes); the
    /// start-up announcements are due from `new`.
    pub fn due(&mut self, now_ms: u64) -> Vec<(SocketAddrV4, Vec<u8>)> {
        self.expire(now_ms);
        let mut out = Vec::new();
        while let Some((start, sent)) = self.announcing {
            if sent >= ANNOUNCEMENTS || now_ms < start + offset_ms(sent) {
                break;
            }
            let epoch = self.epoch(now_ms);
            let announce =
                wire::build_response(opcode::ANNOUNCE, ResultCode::Success, 0, epoch, &[], &[]);
            out.push((ANNOUNCE_TO, announce.clone()));
            if self.natpmp_notices {
                if let Some(a) = self.public {
                    out.push((ANNOUNCE_TO, wire::natpmp_address(0, epoch, a)));
                }
            }
            for &c in &self.unicast {
                out.push((
                    SocketAddrV4::new(Ipv4Addr::from(c), CLIENT_PORT),
                    announce.clone(),
                ));
            }
            let sent = sent + 1;
            self.announcing = (sent < ANNOUNCEMENTS).then_some((start, sent));
        }
        if self.announcing.is_none() {
            self.unicast.clear();
            self.natpmp_notices = false;
        }
        out
    }

    /// When `due` next has something to send (None: nothing planned).
    pub fn next_wake(&self) -> Option<u64> {
        self.announcing.map(|(start, sent)| start + offset_ms(sent))
    }

    /// Requests answered, by (opcode name, result name, count), every
    /// pair of the two fixed tables (for `masq_pcp_requests_total{opcode,result}`).
    pub fn request_counts(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut v = Vec::with_capacity(OPCODES.len() * ResultCode::ALL.len());
        for (o, row) in OPCODES.iter().zip(&self.requests) {
            for (r, n) in ResultCode::ALL.iter().zip(row) {
                v.push((*o, r.name(), *n));
            }
        }
        v
    }

    /// Datagrams dropped unanswered, by reason name, every reason.
    pub fn drop_counts(&self) -> Vec<(&'static str, u64)> {
        Drop::ALL
            .iter()
            .map(|d| (d.name(), self.drops[*d as usize]))
            .collect()
    }

    /// Mappings in the table.
    pub fn mappings(&self) -> usize {
        self.table.len()
    }

    /// The clients (inside addresses) holding mappings in the table.
    pub fn clients(&self) -> Vec<u32> {
        self.per_client.keys().copied().collect()
    }

    fn epoch(&self, now_ms: u64) -> u32 {
        u32::try_from(now_ms.saturating_sub(self.epoch_ms) / 1000).unwrap_or(u32::MAX)
    }

    fn count(&mut self, op: usize, r: ResultCode) {
        self.requests[op][r as usize] += 1;
    }

    /// Token bucket of one source: `requests_per_second`, burst
    /// [`PcpConfig::burst`].
    fn admit(&mut self, source: u32, now_ms: u64) -> bool {
        let rate = u64::from(self.cfg.requests_per_second);
        let cap = u64::from(self.cfg.burst()) * 1000;
        if self.buckets.len() >= self.sweep_at && !self.buckets.contains_key(&source) {
            // Forget the sources whose bucket has refilled.
            self.buckets.retain(|_, b| {
                b.milli + now_ms.saturating_sub(b.last_ms).saturating_mul(rate) < cap
            });
            self.sweep_at = (2 * self.buckets.len()).max(BUCKETS_SWEPT_AT);
        }
        let b = self.buckets.entry(source).or_insert(Bucket {
            milli: cap,
            last_ms: now_ms,
        });
        let gained = now_ms.saturating_sub(b.last_ms).saturating_mul(rate);
        b.milli = (b.milli + gained).min(cap);
        b.last_ms = b.last_ms.max(now_ms);
        if b.milli >= 1000 {
            b.milli -= 1000;
            true
        } else {
            false
        }
    }

    fn inside(&self, a: u32) -> bool {
        self.inside.iter().any(|p| p.contains(a))
    }

    /// Drops the entries past their end (the NAT drops them by itself).
    fn expire(&mut self, now_ms: u64) {
        while let Some(&(end, key)) = self.ends.first() {
            if end > now_ms {
                break;
            }
            self.ends.pop_first();
            self.forget(&key);
        }
    }

    fn forget(&mut self, key: &Key) {
        if let Some(e) = self.table.remove(key) {
            self.ends.remove(&(e.end_ms, *key));
            if let Some(n) = self.per_client.get_mut(&key.client) {
                *n -= 1;
                if *n == 0 {
                    self.per_client.remove(&key.client);
                }
            }
        }
    }

    fn clamp(&self, lifetime: u32) -> u32 {
        lifetime.clamp(self.cfg.min_lifetime, self.cfg.max_lifetime)
    }

    /// Creates, renews or deletes (lifetime 0) a mapping.
    fn map(&mut self, ask: Ask, now_ms: u64, nat: &mut dyn Nat) -> Outcome {
        let existing = self.table.get(&ask.key).copied();
        if let Some(e) = existing {
            if e.nonce != ask.nonce {
                return Err(ResultCode::NotAuthorized);
            }
        }
        let key = ask.key;
        if ask.lifetime == 0 {
            if let Some(e) = existing {
                nat.release(key.kind(), key.proto, key.client, key.port);
                self.forget(&key);
                return Ok((e.external, e.external_port, 0));
            }
            return Ok((ask.suggested.0, ask.suggested.1, 0));
        }
        let count = self.per_client.get(&key.client).copied().unwrap_or(0);
        if existing.is_none() && count >= self.cfg.mappings_per_subscriber {
            return Err(ResultCode::UserExQuota);
        }
        let lifetime = self.clamp(ask.lifetime);
        let now_s = u32::try_from(now_ms / 1000).unwrap_or(u32::MAX);
        let suggested = match (existing, ask.suggested) {
            (Some(e), (0, 0)) => (e.external, e.external_port),
            (_, s) => s,
        };
        let granted = nat.hold(HoldAsk {
            kind: key.kind(),
            proto: key.proto,
            inside: key.client,
            inside_port: key.port,
            suggested,
            prefer_failure: ask.prefer_failure,
            until: now_s.saturating_add(lifetime),
            filters: ask.filters,
            mac: None,
        });
        let g = match granted {
            Ok(g) => g,
            Err(r) => return Err(refusal(r)),
        };
        let lifetime = g.until.saturating_sub(now_s).min(lifetime);
        if existing.is_some() {
            self.forget(&key);
        }
        if lifetime > 0 {
            let end_ms = now_ms + u64::from(lifetime) * 1000;
            self.table.insert(
                key,
                Entry {
                    nonce: ask.nonce,
                    external: g.external,
                    external_port: g.external_port,
                    end_ms,
                },
            );
            self.ends.insert((end_ms, key));
            *self.per_client.entry(key.client).or_insert(0) += 1;
        }
        Ok((g.external, g.external_port, lifetime))
    }
}

/// When announcement number `n` (from 0) is due after the start:
/// 0, 250, 750, 1750 ... ms (the interval doubles).
fn offset_ms(n: u32) -> u64 {
    FIRST_INTERVAL_MS * ((1u64 << n.min(32)) - 1)
}

/// The result code of a refusal of the NAT; `None` (no answer from the
/// NAT) is a network failure.
fn refusal(r: Option<HoldRefusal>) -> ResultCode {
    match r {
        None => ResultCode::NetworkFailure,
        Some(HoldRefusal::NoResources) => ResultCode::NoResources,
        Some(HoldRefusal::Quota) => ResultCode::UserExQuota,
        Some(HoldRefusal::CannotProvideExternal) => ResultCode::CannotProvideExternal,
        Some(HoldRefusal::NoExternalAddress) => ResultCode::NetworkFailure,
        Some(HoldRefusal::Unsupported) => ResultCode::UnsuppProtocol,
        Some(HoldRefusal::NotOurs) => ResultCode::NotAuthorized,
    }
}

mod natpmp;
mod pcp;
#[cfg(test)]
mod tests;
