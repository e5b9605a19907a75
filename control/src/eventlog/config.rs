//! The `[log]` table: what the file may say (`LogFile`), its checks
//! (`from_file`, each error naming its key) and the checked
//! configuration (`LogConfig`) that the rest of the logger reads.

use std::net::SocketAddr;

use masq_core::Event;
use serde::Deserialize;

/// Default capacity of the event queue between the workers and the logger.
pub const DEFAULT_QUEUE: u32 = 65536;
/// Largest event queue accepted (events of about 32 bytes each).
const MAX_QUEUE: u32 = 1 << 24;
/// Default seconds between two sendings of the IPFIX templates.
pub const DEFAULT_TEMPLATE_INTERVAL: u32 = 60;

/// The `[log]` table as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    ipfix: Option<String>,
    syslog: Option<String>,
    sessions: Option<bool>,
    destinations: Option<bool>,
    queue: Option<u32>,
    observation_domain: Option<u32>,
    template_interval: Option<u32>,
}

/// Where syslog lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogTo {
    /// One UDP datagram per line.
    Udp(SocketAddr),
    /// One line per event on standard error.
    Stderr,
}

impl std::fmt::Display for SyslogTo {
    /// The value of `log.syslog` that selects this destination.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyslogTo::Udp(a) => write!(f, "{a}"),
            SyslogTo::Stderr => f.write_str(STDERR),
        }
    }
}

/// The value of `log.syslog` that sends lines to standard error.
const STDERR: &str = "stderr";

/// The checked `[log]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// IPFIX collector (None: no IPFIX).
    pub ipfix: Option<SocketAddr>,
    /// Syslog destination (None: no syslog).
    pub syslog: Option<SyslogTo>,
    /// Log session creation and deletion (with port blocks, block events
    /// already tell who held which port when).
    pub sessions: bool,
    /// Add the remote address and port to session records.
    pub destinations: bool,
    /// Capacity of the queue between the workers and the logger.
    pub queue: u32,
    /// IPFIX observation domain id.
    pub observation_domain: u32,
    /// Seconds between two sendings of the IPFIX templates.
    pub template_interval: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            ipfix: None,
            syslog: None,
            sessions: false,
            destinations: false,
            queue: DEFAULT_QUEUE,
            observation_domain: 1,
            template_interval: DEFAULT_TEMPLATE_INTERVAL,
        }
    }
}

impl LogConfig {
    /// Whether anything is logged at all.
    pub fn enabled(&self) -> bool {
        self.ipfix.is_some() || self.syslog.is_some()
    }

    /// Whether `e` is logged: session events only with `sessions`.
    pub fn logs(&self, e: &Event) -> bool {
        self.sessions
            || !matches!(
                e,
                Event::SessionCreated { .. } | Event::SessionDeleted { .. }
            )
    }

    /// Whether the core should queue session events: only when a log
    /// exists and asks for them.
    pub fn session_events(&self) -> bool {
        self.enabled() && self.sessions
    }

    /// The table as TOML, every key shown (absent outputs as comments).
    pub fn to_toml(&self) -> String {
        let mut s = String::from("[log]\n");
        match self.ipfix {
            Some(a) => s += &format!("ipfix = \"{a}\"\n"),
            None => s += "# ipfix = \"IP:PORT\" (off)\n",
        }
        match self.syslog {
            Some(to) => s += &format!("syslog = \"{to}\"\n"),
            None => s += &format!("# syslog = \"IP:PORT\" or \"{STDERR}\" (off)\n"),
        }
        s += &format!(
            "sessions = {}\ndestinations = {}\nqueue = {}\nobservation_domain = {}\n\
             template_interval = {}\n",
            self.sessions,
            self.destinations,
            self.queue,
            self.observation_domain,
            self.template_interval
        );
        s
    }
}

/// The address of a UDP output (`key` = `s` in the file), a real address
/// with a port.
fn collector(key: &str, s: &str) -> Result<SocketAddr, String> {
    let a: SocketAddr = s
        .parse()
        .map_err(|e| format!("{key}: \"{s}\": {e} (an IP:PORT such as 192.0.2.10:4739)"))?;
    if a.port() == 0 || a.ip().is_unspecified() {
        return Err(format!(
            "{key}: \"{s}\": needs a real address and a port other than 0"
        ));
    }
    Ok(a)
}

/// Checks the `[log]` table; each error names its key (`log.ipfix: ...`).
pub fn from_file(f: LogFile) -> Result<LogConfig, String> {
    let d = LogConfig::default();
    let ipfix = f
        .ipfix
        .as_deref()
        .map(|s| collector("log.ipfix", s))
        .transpose()?;
    let syslog = match f.syslog.as_deref() {
        None => None,
        Some(STDERR) => Some(SyslogTo::Stderr),
        Some(s) => Some(SyslogTo::Udp(
            collector("log.syslog", s).map_err(|e| format!("{e}; or \"{STDERR}\""))?,
        )),
    };
    let sessions = f.sessions.unwrap_or(d.sessions);
    let destinations = f.destinations.unwrap_or(d.destinations);
    if destinations && !sessions {
        return Err(
            "log.destinations: destinations are only in session records; set log.sessions = true"
                .into(),
        );
    }
    let queue = f.queue.unwrap_or(d.queue);
    if !(1..=MAX_QUEUE).contains(&queue) {
        return Err(format!("log.queue: {queue} must be 1..={MAX_QUEUE} events"));
    }
    let template_interval = f.template_interval.unwrap_or(d.template_interval);
    if !(1..=3600).contains(&template_interval) {
        return Err(format!(
            "log.template_interval: {template_interval} must be 1..=3600 seconds"
        ));
    }
    Ok(LogConfig {
        ipfix,
        syslog,
        sessions,
        destinations,
        queue,
        observation_domain: f.observation_domain.unwrap_or(d.observation_domain),
        template_interval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::fixtures::events;

    fn log_of(text: &str) -> Result<LogConfig, String> {
        let f: LogFile = toml::from_str(text).map_err(|e| e.to_string())?;
        from_file(f)
    }

    #[test]
    fn configuration_defaults_and_errors_name_their_key() {
        let d = log_of("").unwrap();
        assert_eq!(d, LogConfig::default());
        assert!(!d.enabled() && !d.session_events());
        let c = log_of(
            "ipfix = \"192.0.2.10:4739\"\nsyslog = \"stderr\"\nsessions = true\n\
             destinations = true\nqueue = 1024\nobservation_domain = 9\ntemplate_interval = 30\n",
        )
        .unwrap();
        assert_eq!(c.ipfix, Some("192.0.2.10:4739".parse().unwrap()));
        assert_eq!(c.syslog, Some(SyslogTo::Stderr));
        assert!(c.session_events());
        assert_eq!(
            (c.queue, c.observation_domain, c.template_interval),
            (1024, 9, 30)
        );
        assert_eq!(
            log_of("syslog = \"[2001:db8::1]:514\"").unwrap().syslog,
            Some(SyslogTo::Udp("[2001:db8::1]:514".parse().unwrap()))
        );
        assert!(
            !log_of("sessions = true").unwrap().session_events(),
            "no output"
        );
        for (text, key) in [
            ("ipfix = \"collector\"", "log.ipfix"),
            ("ipfix = \"192.0.2.10\"", "log.ipfix"),
            ("ipfix = \"192.0.2.10:0\"", "log.ipfix"),
            ("ipfix = \"0.0.0.0:4739\"", "log.ipfix"),
            ("syslog = \"stdout\"", "log.syslog"),
            ("destinations = true", "log.destinations"),
            ("queue = 0", "log.queue"),
            ("queue = 16777217", "log.queue"),
            ("template_interval = 0", "log.template_interval"),
            ("colour = 1", "colour"),
        ] {
            let e = log_of(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
        // The value is quoted as written in the file.
        assert_eq!(
            log_of("syslog = \"192.0.2.10:0\"").unwrap_err(),
            "log.syslog: \"192.0.2.10:0\": needs a real address and a port other than 0; \
             or \"stderr\""
        );
        // The printed table reads back as the same configuration.
        #[derive(Deserialize)]
        struct W {
            log: LogFile,
        }
        for c in [c, d] {
            let w: W = toml::from_str(&c.to_toml()).unwrap();
            assert_eq!(from_file(w.log).unwrap(), c);
        }
    }

    #[test]
    fn session_events_are_logged_only_with_sessions() {
        let ev = events();
        let off = LogConfig::default();
        assert!(!off.logs(&ev[0]) && !off.logs(&ev[1]));
        assert!(ev[2..].iter().all(|e| off.logs(e)), "blocks, exhaustion");
        let on = LogConfig {
            sessions: true,
            ..LogConfig::default()
        };
        assert!(ev.iter().all(|e| on.logs(e)));
    }

    #[test]
    fn the_log_table_in_the_configuration_file() {
        let base = "lan = \"lan0\"\nwan = \"wan0\"\ninside = [\"192.168.0.0/16\"]\n\
                    pool = [\"203.0.113.0/29\"]\n";
        let rc = crate::config::parse(base).unwrap();
        assert!(!rc.log.enabled());
        assert!(!rc.core.session_events, "nobody reads session events");
        let text = format!("{base}[log]\nipfix = \"192.0.2.10:4739\"\nsessions = true\n");
        let rc = crate::config::parse(&text).unwrap();
        assert!(rc.core.session_events);
        assert!(rc
            .to_toml()
            .contains("[log]\nipfix = \"192.0.2.10:4739\"\n"));
        let again = crate::config::parse(&rc.to_toml()).unwrap();
        assert_eq!(again.log, rc.log);
        let e = crate::config::parse(&format!("{base}[log]\nipfix = \"nowhere\"\n")).unwrap_err();
        assert!(e.starts_with("log.ipfix: "), "{e}");
        let e = crate::config::parse(&format!("{base}[log]\nipfx = \"192.0.2.10:4739\"\n"))
            .unwrap_err();
        assert!(e.contains("ipfx"), "{e}");
        let mut other = rc.clone();
        other.log.template_interval = 5;
        assert_eq!(rc.restart_only_change(&other), Some("log"));
    }
}
