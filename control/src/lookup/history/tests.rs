//! The event log read for literal lines: who held a block, a mapping, a
//! session at a time, and what lenient reading counts and names.

use super::*;
use serde_json::Value;

const T0: &str = "2026-12-03T10:00:05.000Z";

fn at(s: &str) -> Ms {
    parse_at(s).unwrap()
}

fn line(time: &str, msg: &str) -> String {
    format!("<134>1 {time} nat1 masq - - - {msg}\n")
}

fn block(what: &str, time: &str, sub: &str, ports: &str) -> String {
    line(
        time,
        &format!("block-{what} subscriber={sub} external=198.51.100.3 ports={ports} at=5"),
    )
}

/// Subscriber 100.64.0.9's block 1024-1535.
fn nine(what: &str, time: &str) -> String {
    block(what, time, "100.64.0.9", "1024-1535")
}

fn scan(port: Option<u16>, log: &str) -> Scan {
    let mut s = Scan::new("198.51.100.3".parse().unwrap(), port);
    s.read("a.log", log.as_bytes()).unwrap();
    s
}

fn holders(a: &Answer) -> Vec<String> {
    a.held.iter().map(|s| s.what("198.51.100.3")).collect()
}

#[test]
fn the_block_that_covered_the_port() {
    let sub = "block: subscriber 100.64.0.9 held 198.51.100.3 ports 1024-1535";
    // (case, log, port asked, holders at T0)
    let cases: [(&str, String, Option<u16>, &[&str]); 9] = [
        (
            "allocated before, released after",
            nine("allocate", "2026-12-03T09:00:00Z") + &nine("release", "2026-12-03T11:00:00Z"),
            Some(1030),
            &[sub],
        ),
        (
            "allocated at T, never released",
            nine("allocate", T0),
            Some(1535),
            &[sub],
        ),
        (
            "allocated after",
            nine("allocate", "2026-12-03T10:00:06Z"),
            Some(1030),
            &[],
        ),
        (
            "released before",
            nine("allocate", "2026-12-03T09:00:00Z") + &nine("release", "2026-12-03T10:00:04.999Z"),
            Some(1030),
            &[],
        ),
        (
            "another port",
            nine("allocate", "2026-12-03T09:00:00Z"),
            Some(1536),
            &[],
        ),
        (
            "two subscribers over time on the same block",
            cases_log(),
            Some(1100),
            &[sub],
        ),
        (
            "released after, allocated before the log began",
            nine("release", "2026-12-03T10:30:00Z") + &nine("allocate", "2026-12-03T10:40:00Z"),
            Some(1030),
            &[sub],
        ),
        (
            "released before, allocated before the log began",
            nine("release", "2026-12-03T09:30:00Z"),
            Some(1030),
            &[],
        ),
        (
            "the address alone: every block on it",
            nine("allocate", "2026-12-03T09:00:00Z")
                + &block(
                    "allocate",
                    "2026-12-03T09:00:00Z",
                    "100.64.0.10",
                    "1536-2047",
                ),
            None,
            &[
                sub,
                "block: subscriber 100.64.0.10 held 198.51.100.3 ports 1536-2047",
            ],
        ),
    ];
    for (case, log, port, want) in cases {
        let a = scan(port, &log).who(at(T0));
        assert_eq!(holders(&a), want, "{case}\n{a}");
    }
    // The second subscriber's block was taken over with no release
    // logged: the answer says so, and names before and after.
    let log = cases_log();
    let a = scan(Some(1100), &log).who(at("2026-12-03T10:45:00Z"));
    assert_eq!(
        holders(&a),
        ["block: subscriber 100.64.0.8 held 198.51.100.3 ports 1024-1535"]
    );
    let a = scan(Some(1100), &log).who(at("2026-12-03T09:10:00Z"));
    let text = a.to_string();
    assert!(
        text.starts_with(
            "external 198.51.100.3:1100 at 2026-12-03T09:10:00.000Z: nothing held it then\n\
         before: block: subscriber 100.64.0.7 held 198.51.100.3 ports 1024-1535 from \
         2026-12-03T08:00:00.000Z (a.log:1) until 2026-12-03T09:00:00.000Z (a.log:2)\n\
         after: block: subscriber 100.64.0.9"
        ),
        "{text}"
    );
    let a = scan(Some(1030), &nine("release", "2026-12-03T10:30:00Z")).who(at(T0));
    assert!(
        a.to_string().contains(
            "ports 1024-1535 from before the log's first line until \
             2026-12-03T10:30:00.000Z (a.log:1)\n"
        ),
        "{a}"
    );
    assert_eq!(a.json()["held"][0]["from"], Value::Null);
    let a = scan(Some(1100), &log).who(at("2026-12-03T10:00:00Z"));
    assert!(
        a.to_string()
            .contains("until 2026-12-03T10:30:00.000Z (a.log:4: taken over; no release logged)"),
        "{a}"
    );
    let j = a.json();
    assert_eq!(j["held"][0]["subscriber"], "100.64.0.9");
    assert_eq!(j["held"][0]["ended_by"], "takeover");
    assert_eq!(j["held"][0]["from"], "2026-12-03T09:30:00.000Z");
    assert_eq!(j["read"]["masq_lines"], 4);
}

fn cases_log() -> String {
    block(
        "allocate",
        "2026-12-03T08:00:00Z",
        "100.64.0.7",
        "1024-1535",
    ) + &block("release", "2026-12-03T09:00:00Z", "100.64.0.7", "1024-1535")
        + &nine("allocate", "2026-12-03T09:30:00Z")
        + &block(
            "allocate",
            "2026-12-03T10:30:00Z",
            "100.64.0.8",
            "1024-1535",
        )
}

#[test]
fn mappings_and_sessions_on_the_exact_port() {
    let log = line(
        "2026-12-03T09:00:00Z",
        "mapping-create proto=6 inside=100.64.0.9:8080 outside=198.51.100.3:1030 at=1",
    ) + &line(
        "2026-12-03T10:00:00Z",
        "session-create proto=6 inside=100.64.0.9:8080 outside=198.51.100.3:1030 \
         remote=192.0.2.1:5555 at=2",
    ) + &line(
        "2026-12-03T10:00:01Z",
        "session-create proto=6 inside=100.64.0.9:8080 outside=198.51.100.3:1031 at=2",
    ) + &line(
        "2026-12-03T10:00:04Z",
        "session-delete proto=6 inside=100.64.0.9:8080 outside=198.51.100.3:1030 at=3",
    );
    let a = scan(Some(1030), &log).who(at(T0));
    assert_eq!(
        holders(&a),
        ["mapping tcp: inside 100.64.0.9:8080 -> external 198.51.100.3:1030"]
    );
    let a = scan(Some(1030), &log).who(at("2026-12-03T10:00:02Z"));
    assert_eq!(
        holders(&a)[1],
        "session tcp: inside 100.64.0.9:8080 -> external 198.51.100.3:1030 remote 192.0.2.1:5555"
    );
    assert_eq!(a.json()["held"][1]["kind"], "session");
    assert_eq!(a.json()["held"][1]["inside"], "100.64.0.9:8080");
}

#[test]
fn other_lines_are_counted_and_bad_ones_named() {
    let log = "<30>1 2026-12-03T10:00:00Z nat1 systemd - - - Started masq.service\n\
               Dec  3 10:00:00 nat1 kernel: eth0 up\n\
               \n\
               <134>1 2026-12-03T10:00:00Z nat1 masq - - - block-allocate subscriber=100.64.0.9 external=198.51.100.3 por\n\
               <134>1 yesterday nat1 masq - - - block-allocate subscriber=100.64.0.9 external=198.51.100.3 ports=1-2 at=1\n\
               <134>1 2026-12-03T10:00:00Z nat1 masq - - - exhausted resource=ports subscriber=100.64.0.9 external=198.51.100.3 at=1\n\
               <134>1 2026-12-03T10:00:00Z nat1 masq - - - block-allocate subscriber=100.64.0.9 external=198.51.100.3 ports=9-2 at=1\n\
               <134>1 2026-12-03T10:00:00Z nat1 masq - - - session-create proto=6 inside=x outside=198.51.100.3:80 at=1\n\
               <134>1 2026-12-03T10:00:00Z nat1 masq\n\
               \u{0}\u{ff}<134>1 garbage\n\
               Dec 03 10:00:05 nat1 masq[7]: <134>1 2026-12-03T10:00:00Z nat1 masq - - - block-allocate subscriber=100.64.0.9 external=198.51.100.3 ports=1024-1535 at=1";
    let a = scan(Some(1030), log).who(at("2026-12-03T09:00:00Z"));
    assert!(a.held.is_empty());
    let text = a.to_string();
    assert!(
        text.starts_with(
            "external 198.51.100.3:1030 at 2026-12-03T09:00:00.000Z: nothing held it then\n\
         after: block: subscriber 100.64.0.9"
        ),
        "{text}"
    );
    assert!(text.contains(
        "log: 1 file(s), 11 lines: 7 masq lines (1 events on it), 4 other lines skipped, 5 unreadable"
    ), "{text}");
    for want in [
        "a.log:4: block-allocate without a valid ports= (skipped)",
        "a.log:5: masq line without a readable timestamp",
        "a.log:7: block-allocate without a valid ports=FIRST-LAST",
        "a.log:8: session-create without a valid inside=",
        "a.log:9: masq line without a message",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    let j = a.json();
    assert_eq!(j["read"]["unreadable"], 5);
    let none = scan(Some(2000), log).who(at(T0)).to_string();
    assert!(
        none.starts_with(
            "external 198.51.100.3:2000 at 2026-12-03T10:00:05.000Z: the log holds no \
             event on it"
        ),
        "{none}"
    );
    assert_eq!(j["held"], serde_json::json!([]));
}
