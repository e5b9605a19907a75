//! Drop reasons and per-shard counters, each declared once.
//!
//! `drop_reasons!` turns one table into [`DropReason`], its names and
//! [`DROP_REASONS`]; `counters!` turns one table into the fields of
//! [`Counters`], [`Counters::values`], [`Counters::NAMES`] and [`COUNTERS`].
//! Exporters and tests read these, never a copy, so a counter added to a
//! table reaches every list at once. Counters are plain integers owned by
//! one shard: the worker that owns the shard is the only writer.
//!
//! These names are the labels of `masq_drops_total{reason}` together with
//! the worker's own drops (`masq_xsk::worker::Io::DROPS`), so the two lists
//! must not share a name. The XDP program's reasons
//! (`masq_xsk::xdp::DROP_REASONS`) are another family,
//! `masq_xdp_dropped_total`, and reuse `bad_ip_header` on purpose: the same
//! fault, caught before the frame reaches a worker.

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
    BadL4Header => "bad_l4_header", "TCP data offset, UDP length or ICMP header is wrong; a DCCP or UDP-Lite packet too short for its checksum.";
    BadL4Checksum => "bad_l4_checksum", "TCP, UDP or ICMP query checksum does not verify (checked when a session is created).";
    BadIcmpChecksum => "bad_icmp_checksum", "ICMP error checksum does not verify.";
    BadFragment => "bad_fragment", "First fragment too short to hold the transport ports (and TCP flags), a TCP fragment at offset 8 (over the flags, RFC 1858), a fragment ending past 65535 bytes, or a fragment of an ICMP error or of a hairpinned flow.";
    FragmentsFull => "fragment_table_full", "No room to track another fragmented datagram, or to hold another early fragment.";
    FragmentTimeout => "fragment_timeout", "Early fragment whose first fragment did not come before the timeout.";
    FragmentOfDropped => "fragment_of_dropped", "Fragment of a datagram whose first fragment was dropped.";
    MtuExceeded => "mtu_exceeded", "Packet larger than the egress link's MTU with DF set (ICMP 3/4 sent back, except about an ICMP error or a later fragment).";
    FragmentQueueFull => "fragment_queue_full", "Packet larger than the egress link's MTU without DF, and no room in the emit queue for all its fragments: dropped whole (also a released early fragment that found the queue full).";
    NoNeighbor => "no_neighbor", "Inbound packet for a static mapping whose inside host's MAC address is not known yet.";
    TtlExpired => "ttl_expired", "TTL would reach zero when forwarded.";
    UnsupportedProtocol => "unsupported_protocol", "Outbound packet of IP protocol 0, which the session table cannot hold (HOPOPT is an IPv6 extension header, meaningless in IPv4).";
    IcmpUnsupported => "icmp_unsupported", "Outbound ICMP type that is neither a query nor an error.";
    MartianSource => "martian_source", "WAN frame whose source is an inside or pool address, or in 0.0.0.0/8.";
    MartianDestination => "martian_destination", "Outbound packet to an address never forwarded: 0.0.0.0/8, 127.0.0.0/8 or 240.0.0.0/4.";
    NoMapping => "no_mapping", "Inbound frame for an external address and port with no mapping.";
    Filtered => "filtered", "Inbound frame refused by address(-and-port)-dependent filtering.";
    ProtocolConflict => "protocol_conflict", "Outbound packet of an address-only protocol (GRE, ESP, ...) to a remote address with which every external address it may use already has a session of that protocol for another subscriber (ICMP 3/13 sent).";
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

macro_rules! counters {
    ($($(#[doc = $doc:literal])+ $field:ident,)*) => {
        /// Per-shard counters, plain integers.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Counters {
            $($(#[doc = $doc])+ pub $field: u64,)*
            /// Drops, indexed by `DropReason as usize`.
            pub drops: [u64; DROP_REASONS],
        }

        impl Counters {
            /// Every counter other than the drops, in [`Counters::NAMES`]
            /// order (for exporters that copy them without naming each
            /// field).
            pub fn values(&self) -> [u64; COUNTERS] {
                [$(self.$field,)*]
            }

            /// Names of [`Counters::values`], as the fields are named.
            pub const NAMES: [&'static str; COUNTERS] = [$(stringify!($field),)*];
        }

        /// Number of counters in [`Counters::values`].
        pub const COUNTERS: usize = [$(stringify!($field),)*].len();
    };
}

counters! {
    /// Frames received from the LAN side.
    rx_lan,
    /// Frames received from the WAN side.
    rx_wan,
    /// Frames handed over by another shard (hairpin second stage).
    rx_hairpin,
    /// Frames forwarded to the LAN side.
    tx_lan,
    /// Frames forwarded to the WAN side.
    tx_wan,
    /// Bytes forwarded to the LAN side.
    tx_lan_bytes,
    /// Bytes forwarded to the WAN side.
    tx_wan_bytes,
    /// Frames passed to the kernel (not for the NAT).
    passed,
    /// Frames handed off to another shard.
    handed_off,
    /// Frames that hairpinned (LAN to LAN through a mapping).
    hairpinned,
    /// ICMP errors translated.
    icmp_errors_translated,
    /// Sessions created.
    sessions_created,
    /// Sessions removed because their timer ran out.
    sessions_expired,
    /// Sessions removed by an operator flush.
    sessions_flushed,
    /// Sessions removed because their external address went away
    /// (MASQUERADE following the WAN address).
    sessions_readdressed,
    /// Held mappings' anchors removed by their release (PCP, NAT-PMP).
    sessions_released,
    /// Port blocks given to subscribers.
    blocks_allocated,
    /// Port blocks given back by subscribers.
    blocks_released,
    /// Events lost because the event queue was full.
    events_dropped,
    /// ICMP errors the NAT generated (time exceeded, 3/13, 3/4).
    icmp_generated,
    /// ICMP errors not generated because a rate limit held them back.
    icmp_rate_limited,
    /// Generated or released frames lost because the emit queue was full.
    emit_dropped,
    /// Non-first fragments translated.
    fragments_translated,
    /// Early fragments held until their first fragment came.
    fragments_held,
    /// TCP SYNs whose MSS option was lowered.
    mss_clamped,
    /// Packets larger than the egress link's MTU without DF, cut into
    /// fragments (RFC 4787 REQ-13a).
    packets_fragmented,
    /// Fragments sent of the packets cut.
    fragments_sent,
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
}

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

    #[test]
    fn counter_names_are_the_fields_in_order() {
        // Debug is derived from the struct itself, so it tells the field
        // names and order independently of the macro's NAMES.
        let debug = format!("{:?}", Counters::default());
        let fields: Vec<&str> = debug
            .trim_start_matches("Counters {")
            .split(", ")
            .filter_map(|f| f.trim().split_once(':').map(|(n, _)| n))
            .collect();
        assert_eq!(fields.len(), COUNTERS + 1);
        assert_eq!(fields[..COUNTERS], Counters::NAMES);
        assert_eq!(fields[COUNTERS], "drops");
        assert_eq!(Counters::default().values().len(), Counters::NAMES.len());
        let mut seen = std::collections::HashSet::new();
        for n in Counters::NAMES {
            assert!(seen.insert(n), "duplicate {n}");
        }
    }
}
