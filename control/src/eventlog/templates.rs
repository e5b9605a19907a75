//! The IPFIX templates masq sends: the information element ids, natEvent
//! and natQuotaExceededEvent values (RFC 8158, IANA registries), the
//! record shapes and the one template of each.

/// IPFIX information element ids (IANA "IPFIX Information Elements").
pub mod ie {
    /// protocolIdentifier, unsigned8.
    pub const PROTOCOL_IDENTIFIER: u16 = 4;
    /// sourceTransportPort, unsigned16 (the ICMP identifier for ICMP).
    pub const SOURCE_TRANSPORT_PORT: u16 = 7;
    /// sourceIPv4Address: the subscriber's inside address.
    pub const SOURCE_IPV4_ADDRESS: u16 = 8;
    /// destinationTransportPort, unsigned16.
    pub const DESTINATION_TRANSPORT_PORT: u16 = 11;
    /// destinationIPv4Address.
    pub const DESTINATION_IPV4_ADDRESS: u16 = 12;
    /// postNATSourceIPv4Address: the external address.
    pub const POST_NAT_SOURCE_IPV4_ADDRESS: u16 = 225;
    /// postNAPTSourceTransportPort, unsigned16.
    pub const POST_NAPT_SOURCE_TRANSPORT_PORT: u16 = 227;
    /// natEvent, unsigned8.
    pub const NAT_EVENT: u16 = 230;
    /// natPoolId, unsigned32.
    pub const NAT_POOL_ID: u16 = 283;
    /// observationTimeMilliseconds, dateTimeMilliseconds (8 bytes).
    pub const OBSERVATION_TIME_MILLISECONDS: u16 = 323;
    /// portRangeStart, unsigned16.
    pub const PORT_RANGE_START: u16 = 361;
    /// portRangeEnd, unsigned16.
    pub const PORT_RANGE_END: u16 = 362;
    /// portRangeStepSize, unsigned16.
    pub const PORT_RANGE_STEP_SIZE: u16 = 363;
    /// portRangeNumPorts, unsigned16.
    pub const PORT_RANGE_NUM_PORTS: u16 = 364;
    /// natQuotaExceededEvent, unsigned32.
    pub const NAT_QUOTA_EXCEEDED_EVENT: u16 = 466;
    /// maxSessionEntries, unsigned32.
    pub const MAX_SESSION_ENTRIES: u16 = 471;
    /// maxEntriesPerUser, unsigned32.
    pub const MAX_ENTRIES_PER_USER: u16 = 473;
    /// maxSubscribers, unsigned32.
    pub const MAX_SUBSCRIBERS: u16 = 474;
}

/// natEvent values (RFC 8158 §4.3, IANA "NAT Event Type"; 1 and 2 are
/// the historic "NAT translation create/delete", not the NAT44 ones).
pub mod nat_event {
    /// NAT addresses exhausted.
    pub const ADDRESSES_EXHAUSTED: u8 = 3;
    /// NAT44 session create.
    pub const NAT44_SESSION_CREATE: u8 = 4;
    /// NAT44 session delete.
    pub const NAT44_SESSION_DELETE: u8 = 5;
    /// NAT44 BIB create (a held mapping made).
    pub const NAT44_BIB_CREATE: u8 = 8;
    /// NAT44 BIB delete (a held mapping gone).
    pub const NAT44_BIB_DELETE: u8 = 9;
    /// NAT ports exhausted.
    pub const PORTS_EXHAUSTED: u8 = 12;
    /// Quota exceeded.
    pub const QUOTA_EXCEEDED: u8 = 13;
    /// Port block allocation.
    pub const PORT_BLOCK_ALLOCATION: u8 = 16;
    /// Port block de-allocation.
    pub const PORT_BLOCK_DEALLOCATION: u8 = 17;
}

/// natQuotaExceededEvent values (RFC 8158, IANA "NAT Quota
/// Exceeded Event Type").
pub mod quota_event {
    /// Maximum session entries.
    pub const MAX_SESSION_ENTRIES: u32 = 1;
    /// Maximum entries per user.
    pub const MAX_ENTRIES_PER_USER: u32 = 3;
    /// Maximum active hosts or subscribers.
    pub const MAX_SUBSCRIBERS: u32 = 4;
}

/// The record shapes; each has one template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// NAT44 session create/delete, without the remote side.
    Session,
    /// NAT44 session create/delete with the remote address and port.
    SessionDestination,
    /// Port block allocation/de-allocation.
    Block,
    /// NAT addresses exhausted.
    AddressesExhausted,
    /// NAT ports exhausted.
    PortsExhausted,
    /// Quota exceeded: maximum session entries.
    QuotaSessions,
    /// Quota exceeded: maximum entries per user.
    QuotaPerSubscriber,
    /// Quota exceeded: maximum active hosts or subscribers.
    QuotaSubscribers,
    /// NAT44 BIB create/delete: a held mapping (PCP, NAT-PMP).
    Mapping,
}

/// A template: its id and its fields (information element, length).
#[derive(Debug)]
pub struct Template {
    /// Template id (256 and up).
    pub id: u16,
    /// What it logs.
    pub shape: Shape,
    /// (information element id, field length in bytes), in record order.
    pub fields: &'static [(u16, u16)],
}

impl Template {
    /// Bytes of one data record.
    pub fn record_len(&self) -> usize {
        self.fields.iter().map(|f| usize::from(f.1)).sum()
    }
}

/// Every template masq sends. The first two fields are always the time
/// and natEvent. Besides RFC 8158's fields, the exhaustion records carry
/// the subscriber whose packet was refused (sourceIPv4Address).
pub const TEMPLATES: [Template; 9] = {
    use ie::*;
    const T: (u16, u16) = (OBSERVATION_TIME_MILLISECONDS, 8);
    const E: (u16, u16) = (NAT_EVENT, 1);
    // A session without its remote side, and a held mapping.
    const TRANSLATION: &[(u16, u16)] = &[
        T,
        E,
        (PROTOCOL_IDENTIFIER, 1),
        (SOURCE_IPV4_ADDRESS, 4),
        (POST_NAT_SOURCE_IPV4_ADDRESS, 4),
        (SOURCE_TRANSPORT_PORT, 2),
        (POST_NAPT_SOURCE_TRANSPORT_PORT, 2),
    ];
    [
        Template {
            id: 256,
            shape: Shape::Session,
            fields: TRANSLATION,
        },
        Template {
            id: 257,
            shape: Shape::SessionDestination,
            fields: &[
                T,
                E,
                (PROTOCOL_IDENTIFIER, 1),
                (SOURCE_IPV4_ADDRESS, 4),
                (POST_NAT_SOURCE_IPV4_ADDRESS, 4),
                (SOURCE_TRANSPORT_PORT, 2),
                (POST_NAPT_SOURCE_TRANSPORT_PORT, 2),
                (DESTINATION_IPV4_ADDRESS, 4),
                (DESTINATION_TRANSPORT_PORT, 2),
            ],
        },
        Template {
            id: 258,
            shape: Shape::Block,
            fields: &[
                T,
                E,
                (SOURCE_IPV4_ADDRESS, 4),
                (POST_NAT_SOURCE_IPV4_ADDRESS, 4),
                (PORT_RANGE_START, 2),
                (PORT_RANGE_END, 2),
                (PORT_RANGE_STEP_SIZE, 2),
                (PORT_RANGE_NUM_PORTS, 2),
            ],
        },
        Template {
            id: 259,
            shape: Shape::AddressesExhausted,
            fields: &[T, E, (NAT_POOL_ID, 4), (SOURCE_IPV4_ADDRESS, 4)],
        },
        Template {
            id: 260,
            shape: Shape::PortsExhausted,
            fields: &[
                T,
                E,
                (POST_NAT_SOURCE_IPV4_ADDRESS, 4),
                (SOURCE_IPV4_ADDRESS, 4),
            ],
        },
        Template {
            id: 261,
            shape: Shape::QuotaSessions,
            fields: &[
                T,
                E,
                (NAT_QUOTA_EXCEEDED_EVENT, 4),
                (MAX_SESSION_ENTRIES, 4),
                (SOURCE_IPV4_ADDRESS, 4),
            ],
        },
        Template {
            id: 262,
            shape: Shape::QuotaPerSubscriber,
            fields: &[
                T,
                E,
                (NAT_QUOTA_EXCEEDED_EVENT, 4),
                (MAX_ENTRIES_PER_USER, 4),
                (SOURCE_IPV4_ADDRESS, 4),
            ],
        },
        Template {
            id: 263,
            shape: Shape::QuotaSubscribers,
            fields: &[
                T,
                E,
                (NAT_QUOTA_EXCEEDED_EVENT, 4),
                (MAX_SUBSCRIBERS, 4),
                (SOURCE_IPV4_ADDRESS, 4),
            ],
        },
        Template {
            id: 264,
            shape: Shape::Mapping,
            fields: TRANSLATION,
        },
    ]
};

/// The template of a shape.
pub fn template(shape: Shape) -> &'static Template {
    // TEMPLATES is in Shape order (checked by a test).
    &TEMPLATES[shape as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::fixtures::logging;
    use crate::eventlog::ipfix::{Ipfix, MAX_MESSAGE};
    use crate::eventlog::LogConfig;

    #[test]
    fn templates_follow_the_shapes() {
        let mut ids = std::collections::BTreeSet::new();
        for (i, t) in TEMPLATES.iter().enumerate() {
            assert_eq!(t.shape as usize, i, "TEMPLATES is in Shape order");
            assert!(t.id >= 256 && ids.insert(t.id), "template id {}", t.id);
            assert_eq!(t.fields[0], (ie::OBSERVATION_TIME_MILLISECONDS, 8));
            assert_eq!(t.fields[1], (ie::NAT_EVENT, 1));
            assert!(t.record_len() <= 32, "fits a Record");
        }
        let all = LogConfig {
            destinations: true,
            ..logging(true, true)
        };
        assert!(Ipfix::new(&all).template_message(0).len() <= MAX_MESSAGE);
    }
}
