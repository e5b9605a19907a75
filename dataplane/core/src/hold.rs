//! What the control plane asks of a shard for a subscriber's own mappings
//! (PCP MAP and PEER, NAT-PMP), and the answer. A held mapping is the
//! NAT's own endpoint-independent mapping, taken from the subscriber's
//! port blocks like any other, kept until an absolute second instead of
//! until idle; the room that keeps them is `shard/holds.rs`.

use core::fmt;

use crate::wire::Mac;

/// Most remote-peer filters one held mapping keeps (PCP FILTER options);
/// a request with more is refused by the server (EXCESSIVE_REMOTE_PEERS).
pub const MAX_FILTERS: usize = 4;

/// One remote-peer filter: only remotes in `prefix`/`len`, from `port`
/// (0: any port), may open sessions on the mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteFilter {
    /// Remote prefix address (host bits zero).
    pub addr: u32,
    /// Prefix length, 0 to 32 (0: every address).
    pub len: u8,
    /// Remote port, 0 for any.
    pub port: u16,
}

impl RemoteFilter {
    /// Whether remote `addr:port` passes this filter.
    pub fn admits(&self, addr: u32, port: u16) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len.min(32)))
        };
        addr & mask == self.addr & mask && (self.port == 0 || self.port == port)
    }
}

/// Which kind of mapping is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldKind {
    /// PCP MAP, NAT-PMP: the mapping itself, open to every remote the
    /// filters admit (all of them when there is none).
    Map,
    /// PCP PEER: the mapping and its session to this one remote.
    Peer {
        /// Remote address.
        remote: u32,
        /// Remote port.
        remote_port: u16,
    },
}

/// What kind of hold keeps a session, as snapshots show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldKind {
    /// The anchor of a held mapping (remote `any`).
    Map,
    /// A held session to one remote.
    Peer,
}

impl HeldKind {
    /// The name the docs and `masq sessions` use.
    pub fn name(self) -> &'static str {
        match self {
            HeldKind::Map => "pcp map",
            HeldKind::Peer => "pcp peer",
        }
    }
}

impl fmt::Display for HeldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A request to create, renew or change a held mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldAsk {
    /// Map or peer.
    pub kind: HoldKind,
    /// TCP or UDP.
    pub proto: u8,
    /// Inside address (the subscriber).
    pub inside: u32,
    /// Inside port (not 0).
    pub inside_port: u16,
    /// Suggested external address (0: any) and port (0: any).
    pub suggested: (u32, u16),
    /// Refuse rather than give another external endpoint than the
    /// suggested one (PCP PREFER_FAILURE).
    pub prefer_failure: bool,
    /// Second (the shard's clock) until which the mapping is held.
    pub until: u32,
    /// Remote-peer filters; empty admits every remote. Replaces the
    /// filters of a mapping renewed.
    pub filters: Vec<RemoteFilter>,
    /// The subscriber's MAC when the control plane knows it (inbound
    /// sessions need it before the subscriber sends anything).
    pub mac: Option<Mac>,
}

/// A held mapping granted: its external endpoint and end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Granted {
    /// External address.
    pub external: u32,
    /// External port.
    pub external_port: u16,
    /// Second (the shard's clock) until which it is held.
    pub until: u32,
}

/// Why a held mapping was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldRefusal {
    /// No port or block is left for the subscriber, the session or
    /// subscriber table is full, or the shard's table of held mappings is
    /// (PCP NO_RESOURCES).
    NoResources,
    /// The subscriber is at its session or block limit (PCP
    /// USER_EX_QUOTA).
    Quota,
    /// PREFER_FAILURE and the suggested endpoint cannot be given (PCP
    /// CANNOT_PROVIDE_EXTERNAL).
    CannotProvideExternal,
    /// MASQUERADE with no WAN address: no mapping can be made (PCP
    /// NETWORK_FAILURE; NAT-PMP network failure).
    NoExternalAddress,
    /// A protocol other than TCP and UDP, or inside port 0 (PCP
    /// UNSUPP_PROTOCOL).
    Unsupported,
    /// The inside address is not in an inside prefix or belongs to
    /// another shard.
    NotOurs,
}

impl HoldRefusal {
    /// The name the docs and logs use.
    pub fn name(self) -> &'static str {
        match self {
            HoldRefusal::NoResources => "no resources",
            HoldRefusal::Quota => "quota exceeded",
            HoldRefusal::CannotProvideExternal => "cannot provide the suggested external endpoint",
            HoldRefusal::NoExternalAddress => "no external address",
            HoldRefusal::Unsupported => "unsupported protocol",
            HoldRefusal::NotOurs => "not a subscriber of this shard",
        }
    }
}

impl fmt::Display for HoldRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_admit_by_prefix_and_port() {
        let f = RemoteFilter {
            addr: 0xc633_6400,
            len: 24,
            port: 0,
        };
        assert!(f.admits(0xc633_6407, 9));
        assert!(!f.admits(0xc633_6507, 9));
        let p = RemoteFilter {
            addr: 0xc633_6407,
            len: 32,
            port: 53,
        };
        assert!(p.admits(0xc633_6407, 53));
        assert!(!p.admits(0xc633_6407, 54));
        assert!(RemoteFilter::default().admits(1, 2));
    }
}
