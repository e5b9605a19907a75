//! Tests of the IPFIX records and messages, read back by the decoder in
//! `fixtures`.

use std::collections::HashMap;

use super::*;
use crate::eventlog::fixtures::{decode, events, field, logging, EXT, QUOTAS, REM, SUB};
use crate::eventlog::templates::ie;
use crate::eventlog::thread::event_secs;

#[test]
fn ipfix_records_decode_to_their_events() {
    let log = LogConfig {
        observation_domain: 7,
        ..logging(true, true)
    };
    let mut enc = Ipfix::new(&log);
    let mut known = HashMap::new();
    let t = decode(&enc.template_message(1_700_000_000), &mut known);
    assert_eq!(
        (t.export, t.sequence, t.domain, t.sets),
        (1_700_000_000, 0, 7, 1)
    );
    let ids: Vec<u16> = t.templates.iter().map(|t| t.0).collect();
    assert_eq!(ids, [257, 258, 259, 260, 261, 262, 263, 264]);
    for (id, fields) in &t.templates {
        let want = TEMPLATES.iter().find(|x| x.id == *id).unwrap();
        assert_eq!(fields.as_slice(), want.fields, "template {id}");
    }
    let epoch = 1_700_000_000_000u64;
    for e in events() {
        let r = record(&e, epoch + u64::from(event_secs(&e)) * 1000, &log, &QUOTAS).unwrap();
        assert_eq!(r.bytes().len(), template(r.shape).record_len());
        assert!(enc.add(&r, 1_700_000_001).is_none(), "all fit one message");
    }
    assert_eq!(enc.pending(), 9);
    let m = enc.finish(1_700_000_002).unwrap();
    let d = decode(&m, &mut known);
    assert_eq!((d.export, d.sequence, d.domain), (1_700_000_002, 0, 7));
    // Runs of one template share a set: sessions, blocks, then five.
    assert_eq!(d.sets, 7);
    let r: Vec<(u16, &[(u16, u64)])> = d
        .records
        .iter()
        .map(|(id, v)| (*id, v.as_slice()))
        .collect();
    assert_eq!(r.len(), 9);
    let session = r[0].1;
    assert_eq!(r[0].0, 257);
    for (ie, want) in [
        (ie::OBSERVATION_TIME_MILLISECONDS, epoch + 5000),
        (ie::NAT_EVENT, 4),
        (ie::PROTOCOL_IDENTIFIER, 17),
        (ie::SOURCE_IPV4_ADDRESS, u64::from(SUB)),
        (ie::POST_NAT_SOURCE_IPV4_ADDRESS, u64::from(EXT)),
        (ie::SOURCE_TRANSPORT_PORT, 40000),
        (ie::POST_NAPT_SOURCE_TRANSPORT_PORT, 1024),
        (ie::DESTINATION_IPV4_ADDRESS, u64::from(REM)),
        (ie::DESTINATION_TRANSPORT_PORT, 53),
    ] {
        assert_eq!(field(session, ie), Some(want), "session IE {ie}");
    }
    assert_eq!(field(r[1].1, ie::NAT_EVENT), Some(5));
    assert_eq!(
        field(r[1].1, ie::OBSERVATION_TIME_MILLISECONDS),
        Some(epoch + 305_000)
    );
    for (k, ev) in [(2, 16), (3, 17)] {
        assert_eq!(r[k].0, 258);
        for (ie, want) in [
            (ie::NAT_EVENT, ev),
            (ie::SOURCE_IPV4_ADDRESS, u64::from(SUB)),
            (ie::POST_NAT_SOURCE_IPV4_ADDRESS, u64::from(EXT)),
            (ie::PORT_RANGE_START, 1024),
            (ie::PORT_RANGE_END, 1535),
            (ie::PORT_RANGE_STEP_SIZE, 1),
            (ie::PORT_RANGE_NUM_PORTS, 512),
        ] {
            assert_eq!(field(r[k].1, ie), Some(want), "block IE {ie}");
        }
    }
    // (template, natEvent, natQuotaExceededEvent, (limit IE, limit)).
    let exhausted = [
        (259, 3, None, Some((ie::NAT_POOL_ID, 0))),
        (
            260,
            12,
            None,
            Some((ie::POST_NAT_SOURCE_IPV4_ADDRESS, u64::from(EXT))),
        ),
        (261, 13, Some(1), Some((ie::MAX_SESSION_ENTRIES, 1000))),
        (262, 13, Some(3), Some((ie::MAX_ENTRIES_PER_USER, 64))),
        (263, 13, Some(4), Some((ie::MAX_SUBSCRIBERS, 50))),
    ];
    for (k, (id, ev, quota, extra)) in exhausted.into_iter().enumerate() {
        let (got_id, rec) = r[4 + k];
        assert_eq!(got_id, id);
        assert_eq!(field(rec, ie::NAT_EVENT), Some(ev), "template {id}");
        assert_eq!(
            field(rec, ie::NAT_QUOTA_EXCEEDED_EVENT),
            quota,
            "template {id}"
        );
        assert_eq!(field(rec, ie::SOURCE_IPV4_ADDRESS), Some(u64::from(SUB)));
        assert_eq!(
            field(rec, ie::OBSERVATION_TIME_MILLISECONDS),
            Some(epoch + 7000)
        );
        if let Some((ie, v)) = extra {
            assert_eq!(field(rec, ie), Some(v), "template {id} IE {ie}");
        }
    }
    // The next message's sequence number counts these nine records.
    let e = events()[2];
    enc.add(&record(&e, epoch, &log, &QUOTAS).unwrap(), 0);
    let next = decode(&enc.finish(0).unwrap(), &mut known);
    assert_eq!(next.sequence, 9);
    assert!(enc.finish(0).is_none(), "nothing pending");
}

#[test]
fn messages_stay_under_the_bound_and_count_records() {
    let log = logging(false, false);
    let mut enc = Ipfix::new(&log);
    let mut known = HashMap::new();
    let t = decode(&enc.template_message(0), &mut known);
    let ids: Vec<u16> = t.templates.iter().map(|t| t.0).collect();
    assert_eq!(
        ids,
        [258, 259, 260, 261, 262, 263, 264],
        "no session templates"
    );
    let block = events()[2];
    let mut msgs = Vec::new();
    for _ in 0..500 {
        let r = record(&block, 0, &log, &QUOTAS).unwrap();
        msgs.extend(enc.add(&r, 0));
    }
    msgs.extend(enc.finish(0));
    let mut seen = 0u32;
    for (k, m) in msgs.iter().enumerate() {
        assert!(m.len() <= MAX_MESSAGE, "message {k}: {} bytes", m.len());
        let d = decode(m, &mut known);
        assert_eq!(d.sequence, seen, "message {k}");
        assert_eq!(d.sets, 1);
        if k + 1 < msgs.len() {
            assert!(m.len() + 25 > MAX_MESSAGE, "message {k} is full");
        }
        seen += d.records.len() as u32;
    }
    assert_eq!(seen, 500);
    // The sequence number wraps modulo 2^32.
    enc.sequence = u32::MAX - 1;
    for _ in 0..3 {
        enc.add(&record(&block, 0, &log, &QUOTAS).unwrap(), 0);
    }
    assert_eq!(
        decode(&enc.finish(0).unwrap(), &mut known).sequence,
        u32::MAX - 1
    );
    enc.add(&record(&block, 0, &log, &QUOTAS).unwrap(), 0);
    assert_eq!(decode(&enc.finish(0).unwrap(), &mut known).sequence, 1);
}

#[test]
fn session_records_follow_the_switches() {
    let e = events()[0];
    assert!(record(&e, 0, &logging(false, false), &QUOTAS).is_none());
    let r = record(&e, 0, &logging(true, false), &QUOTAS).unwrap();
    assert_eq!(template(r.shape).id, 256);
    let fields = template(r.shape).fields;
    assert!(!fields
        .iter()
        .any(|f| f.0 == ie::DESTINATION_IPV4_ADDRESS || f.0 == ie::DESTINATION_TRANSPORT_PORT));
    let ids: Vec<u16> = Ipfix::new(&logging(true, false))
        .templates
        .iter()
        .map(|t| t.id)
        .collect();
    assert!(ids.contains(&256) && !ids.contains(&257));
}

#[test]
fn held_mappings_are_bib_records_whatever_the_switches() {
    let inside = masq_core::Endpoint {
        addr: SUB,
        port: 5000,
    };
    let outside = masq_core::Endpoint {
        addr: EXT,
        port: 1300,
    };
    let made = Event::MappingCreated {
        proto: 6,
        inside,
        outside,
        at: 9,
    };
    let gone = Event::MappingDeleted {
        proto: 6,
        inside,
        outside,
        at: 99,
    };
    for (sessions, destinations) in [(false, false), (true, false), (true, true)] {
        let log = logging(sessions, destinations);
        let mut enc = Ipfix::new(&log);
        let mut known = HashMap::new();
        let t = decode(&enc.template_message(0), &mut known);
        assert!(t.templates.iter().any(|t| t.0 == 264), "always sent");
        for (e, ev) in [(made, 8), (gone, 9)] {
            let r = record(&e, 1000 * u64::from(event_secs(&e)), &log, &QUOTAS).unwrap();
            assert_eq!(template(r.shape).id, 264);
            enc.add(&r, 0);
            let d = decode(&enc.finish(0).unwrap(), &mut known);
            let rec = d.records[0].1.as_slice();
            for (ie, want) in [
                (
                    ie::OBSERVATION_TIME_MILLISECONDS,
                    1000 * u64::from(event_secs(&e)),
                ),
                (ie::NAT_EVENT, ev),
                (ie::PROTOCOL_IDENTIFIER, 6),
                (ie::SOURCE_IPV4_ADDRESS, u64::from(SUB)),
                (ie::POST_NAT_SOURCE_IPV4_ADDRESS, u64::from(EXT)),
                (ie::SOURCE_TRANSPORT_PORT, 5000),
                (ie::POST_NAPT_SOURCE_TRANSPORT_PORT, 1300),
            ] {
                assert_eq!(field(rec, ie), Some(want), "natEvent {ev} IE {ie}");
            }
        }
    }
    let line = crate::eventlog::syslog::syslog_line(&made, 0, "nat1", false);
    assert!(
        line.ends_with(
            "mapping-create proto=6 inside=192.168.1.10:5000 outside=203.0.113.1:1300 at=9"
        ),
        "{line}"
    );
}
