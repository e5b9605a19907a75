//! Syslog lines: the RFC 5424 line of an event, its timestamp and the
//! host name it names. Pure functions: the logger thread sends the lines.

use masq_core::Event;

/// Syslog facility local0 (RFC 5424 §6.2.1).
const FACILITY: u8 = 16;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for `ms` milliseconds since the Unix epoch.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let mut days = secs / 86400;
    let rem = secs % 86400;
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut year = 1970u64;
    loop {
        let n = if leap(year) { 366 } else { 365 };
        if days < n {
            break;
        }
        days -= n;
        year += 1;
    }
    let feb = if leap(year) { 29 } else { 28 };
    let lengths = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 1;
    for l in lengths {
        if days < l {
            break;
        }
        days -= l;
        month += 1;
    }
    format!(
        "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        days + 1,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// The host name for syslog lines: printable ASCII without spaces, or "-".
pub fn hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let h = h.trim();
    if h.is_empty() || h.len() > 255 || !h.bytes().all(|b| (33..=126).contains(&b)) {
        "-".into()
    } else {
        h.into()
    }
}

/// One syslog line (RFC 5424 header; no trailing newline) for an event at
/// `ms`: `<PRI>1 TIMESTAMP HOST masq - - - MESSAGE`, MESSAGE being the
/// event's `key=value` text, without the remote side unless
/// `destinations`. Exhaustion is a warning, everything else
/// informational.
pub fn syslog_line(e: &Event, ms: u64, host: &str, destinations: bool) -> String {
    let severity = if matches!(e, Event::Exhausted { .. }) {
        4
    } else {
        6
    };
    let msg = match *e {
        Event::SessionCreated {
            proto,
            inside,
            outside,
            at,
            ..
        }
        | Event::SessionDeleted {
            proto,
            inside,
            outside,
            at,
            ..
        } if !destinations => {
            let what = e.name();
            format!("{what} proto={proto} inside={inside} outside={outside} at={at}")
        }
        _ => e.to_string(),
    };
    format!(
        "<{}>1 {} {host} masq - - - {msg}",
        FACILITY * 8 + severity,
        rfc3339(ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::fixtures::events;
    use masq_core::Endpoint;

    #[test]
    fn syslog_lines() {
        let ms = 1_700_000_000_123; // 2023-11-14T22:13:20.123Z
        let ev = events();
        assert_eq!(
            syslog_line(&ev[2], ms, "nat1", false),
            "<134>1 2023-11-14T22:13:20.123Z nat1 masq - - - \
             block-allocate subscriber=192.168.1.10 external=203.0.113.1 ports=1024-1535 at=5"
        );
        assert_eq!(
            syslog_line(&ev[0], ms, "nat1", false),
            "<134>1 2023-11-14T22:13:20.123Z nat1 masq - - - \
             session-create proto=17 inside=192.168.1.10:40000 outside=203.0.113.1:1024 at=5"
        );
        assert!(syslog_line(&ev[1], ms, "nat1", true)
            .ends_with("session-delete proto=17 inside=192.168.1.10:40000 outside=203.0.113.1:1024 remote=198.51.100.1:53 at=305"));
        // An address-only session (GRE): its number and ports 0.
        let gre = match ev[0] {
            Event::SessionCreated {
                inside,
                outside,
                remote,
                at,
                ..
            } => Event::SessionCreated {
                proto: 47,
                inside: Endpoint { port: 0, ..inside },
                outside: Endpoint { port: 0, ..outside },
                remote: Endpoint { port: 0, ..remote },
                at,
            },
            _ => unreachable!("the fixture starts with a creation"),
        };
        assert!(syslog_line(&gre, ms, "nat1", true)
            .ends_with("session-create proto=47 inside=192.168.1.10:0 outside=203.0.113.1:0 remote=198.51.100.1:0 at=5"));
        let x = syslog_line(&ev[5], ms, "-", false);
        assert!(x.starts_with("<132>1 2023-11-14T22:13:20.123Z - masq - - - exhausted resource=ports subscriber=192.168.1.10"), "{x}");
        for (ms, want) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (951_868_799_999, "2000-02-29T23:59:59.999Z"),
            (1_735_689_599_000, "2024-12-31T23:59:59.000Z"),
            (1_735_689_600_000, "2025-01-01T00:00:00.000Z"),
        ] {
            assert_eq!(rfc3339(ms), want);
        }
        let h = hostname();
        assert!(!h.is_empty() && !h.contains(' '));
    }
}
