//! Drop reasons and per-shard counters.
//!
//! One list, [`DropReason::ALL`], makes both the counter index and its name;
//! the metrics exporter and the tests read the same names. Counters are
//! plain integers owned by one shard: the worker that owns the shard is the
//! only writer.

macro_rules! drop_reasons {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// Why the NAT dropped a frame.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason {
            $(#[doc = $doc] $variant,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];

            /// The counter's name (`snake_case`, used as a metric label).
            pub fn name(self) -> &'static str {
                match self {
                    $(DropReason::$variant => $name,)*
                }
            }
        }

        impl core::fmt::Display for DropReason {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.pad(self.name())
            }
        }
    };
}

drop_reasons! {
    Truncated => "truncated", "Frame shorter than its headers.";
    BadIpHeader => "bad_ip_header", "IPv4 version, IHL or total length is wrong.";
    BadIpChecksum => "bad_ip_checksum", "IPv4 header checksum does not verify.";
    BadIpOptions => "bad_ip_options", "IPv4 options whose lengths do not add up to the header.";
    BadL4Header => "bad_l4_header", "TCP data offset, UDP length or ICMP header is wrong.";
    BadL4Checksum => "bad_l4_checksum", "TCP, UDP or ICMP query checksum does not verify (checked when a session is created).";
    BadIcmpChecksum => "bad_icmp_checksum", "ICMP error checksum does not verify.";
    BadFragment => "bad_fragment", "First fragment too short to hold the transport ports (and TCP flags), a TCP fragment at offset 8 (over the flags, RFC 1858), a fragment ending past 65535 bytes, or a fragment of an ICMP error or of a hairpinned flow.";
    FragmentsFull => "fragment_table_full", "No room to track another fragmented datagram, or to hold another early fragment.";
    FragmentTimeout => "fragment_timeout", "Early fragment whose first fragment did not come before the timeout.";
    FragmentOfDropped => "fragment_of_dropped", "Fragment of a datagram whose first fragment was dropped.";
    MtuExceeded => "mtu_exceeded", "Packet larger than the egress link's MTU (ICMP 3/4 sent when DF is set; fragmenting is not built).";
    NoNeighbor => "no_neighbor", "Inbound packet for a static mapping whose inside host's MAC address is not known yet.";
    TtlExpired => "ttl_expired", "TTL would reach zero when forwarded.";
    UnsupportedProtocol => "unsupported_protocol", "Outbound IP protocol other than TCP, UDP or ICMP.";
    IcmpUnsupported => "icmp_unsupported", "Outbound ICMP type that is neither a query nor an error.";
    MartianSource => "martian_source", "WAN frame whose source is an inside or pool address.";
    MartianDestination => "martian_destination", "Outbound packet to an address never forwarded: 0.0.0.0/8, 127.0.0.0/8 or 240.0.0.0/4.";
    NoMapping => "no_mapping", "Inbound frame for an external address and port with no mapping.";
    Filtered => "filtered", "Inbound frame refused by address(-and-port)-dependent filtering.";
    TcpNotSyn => "tcp_not_syn", "TCP segment with no session that is not a SYN.";
    IcmpErrorNoSession => "icmp_error_no_session", "ICMP error about a flow the NAT does not track.";
    IcmpErrorMalformed => "icmp_error_malformed", "ICMP error whose embedded packet cannot be read.";
    SessionLimit => "subscriber_session_limit", "The subscriber holds its maximum number of sessions.";
    PortsExhausted => "subscriber_ports_exhausted", "The subscriber's blocks are full and it holds its maximum number of blocks.";
    PoolExhausted => "pool_exhausted", "No free port block on the subscriber's external address (or on any, for a new subscriber).";
    SessionTableFull => "session_table_full", "The shard's session table is full.";
    SubscriberTableFull => "subscriber_table_full", "The shard's subscriber table is full.";
    NoExternalAddress => "no_external_address", "MASQUERADE: the WAN interface has no IPv4 address to translate to.";
}

/// Number of drop reasons.
pub const DROP_REASONS: usize = DropReason::ALL.len();

/// Per-shard counters, plain integers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames received from the LAN side.
    pub rx_lan: u64,
    /// Frames received from the WAN side.
    pub rx_wan: u64,
    /// Frames handed over by another shard (hairpin second stage).
    pub rx_hairpin: u64,
    /// Frames forwarded to the LAN side.
    pub tx_lan: u64,
    /// Frames forwarded to the WAN side.
    pub tx_wan: u64,
    /// Bytes forwarded to the LAN side.
    pub tx_lan_bytes: u64,
    /// Bytes forwarded to the WAN side.
    pub tx_wan_bytes: u64,
    /// Frames passed to the kernel (not for the NAT).
    pub passed: u64,
    /// Frames handed off to another shard.
    pub handed_off: u64,
    /// Frames that hairpinned (LAN to LAN through a mapping).
    pub hairpinned: u64,
    /// ICMP errors translated.
    pub icmp_errors_translated: u64,
    /// Sessions created.
    pub sessions_created: u64,
    /// Sessions removed because their timer ran out.
    pub sessions_expired: u64,
    /// Sessions removed by an operator flush.
    pub sessions_flushed: u64,
    /// Sessions removed because their external address went away
    /// (MASQUERADE following the WAN address).
    pub sessions_readdressed: u64,
    /// Port blocks given to subscribers.
    pub blocks_allocated: u64,
    /// Port blocks given back by subscribers.
    pub blocks_released: u64,
    /// Events lost because the event queue was full.
    pub events_dropped: u64,
    /// ICMP errors the NAT generated (time exceeded, 3/13, 3/4).
    pub icmp_generated: u64,
    /// ICMP errors not generated because a rate limit held them back.
    pub icmp_rate_limited: u64,
    /// Generated or released frames lost because the emit queue was full.
    pub emit_dropped: u64,
    /// Non-first fragments translated.
    pub fragments_translated: u64,
    /// Early fragments held until their first fragment came.
    pub fragments_held: u64,
    /// TCP SYNs whose MSS option was lowered.
    pub mss_clamped: u64,
    /// Drops, indexed by `DropReason as usize`.
    pub drops: [u64; DROP_REASONS],
}

impl Counters {
    /// Count of one drop reason.
    pub fn drop_count(&self, r: DropReason) -> u64 {
        self.drops[r as usize]
    }

    /// Sum of all drops.
    pub fn drops_total(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Every counter other than the drops, in [`Counters::NAMES`] order
    /// (for exporters that copy them without naming each field).
    pub fn values(&self) -> [u64; COUNTERS] {
        [
            self.rx_lan,
            self.rx_wan,
            self.rx_hairpin,
            self.tx_lan,
            self.tx_wan,
            self.tx_lan_bytes,
            self.tx_wan_bytes,
            self.passed,
            self.handed_off,
            self.hairpinned,
            self.icmp_errors_translated,
            self.sessions_created,
            self.sessions_expired,
            self.sessions_flushed,
            self.sessions_readdressed,
            self.blocks_allocated,
            self.blocks_released,
            self.events_dropped,
            self.icmp_generated,
            self.icmp_rate_limited,
            self.emit_dropped,
            self.fragments_translated,
            self.fragments_held,
            self.mss_clamped,
        ]
    }

    /// Names of [`Counters::values`], as the fields are named.
    pub const NAMES: [&'static str; COUNTERS] = [
        "rx_lan",
        "rx_wan",
        "rx_hairpin",
        "tx_lan",
        "tx_wan",
        "tx_lan_bytes",
        "tx_wan_bytes",
        "passed",
        "handed_off",
        "hairpinned",
        "icmp_errors_translated",
        "sessions_created",
        "sessions_expired",
        "sessions_flushed",
        "sessions_readdressed",
        "blocks_allocated",
        "blocks_released",
        "events_dropped",
        "icmp_generated",
        "icmp_rate_limited",
        "emit_dropped",
        "fragments_translated",
        "fragments_held",
        "mss_clamped",
    ];
}

/// Number of counters in [`Counters::values`].
pub const COUNTERS: usize = 24;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_names() {
        let c = Counters {
            rx_lan: 1,
            events_dropped: 18,
            sessions_readdressed: 15,
            ..Counters::default()
        };
        let v = c.values();
        let at = |n: &str| Counters::NAMES.iter().position(|x| *x == n).unwrap();
        assert_eq!(v[at("rx_lan")], 1);
        assert_eq!(v[at("events_dropped")], 18);
        assert_eq!(v[at("sessions_readdressed")], 15);
        assert_eq!(v.iter().sum::<u64>(), 34);
    }

    #[test]
    fn names_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert!(seen.insert(r.name()), "duplicate {}", r.name());
            assert!(r
                .name()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()));
        }
    }
}
