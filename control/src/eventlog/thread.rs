//! The logger thread: it opens the sockets, drains the workers' event
//! queue, turns events into IPFIX messages and syslog lines, and counts
//! what it sends (`LogState`, read by `/metrics`, which also holds the
//! quotas that quota-exceeded records report).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use masq_core::Event;
use masq_xsk::worker::Shared;

use super::ipfix::{data_records, record, Ipfix, Quotas};
use super::syslog::{hostname, syslog_line};
use super::{LogConfig, SyslogTo};

/// Longest time a record waits in a message that is not full yet.
const FLUSH_AFTER: Duration = Duration::from_millis(100);
/// How long the logger sleeps when the queue was empty.
const IDLE_SLEEP: Duration = Duration::from_millis(10);
/// Most events taken from the queue between two looks at the clock.
const DRAIN_STEP: usize = 4096;

/// Counters of one output, read by `/metrics`.
#[derive(Debug, Default)]
pub struct Counts {
    /// Events sent (IPFIX data records, syslog lines).
    pub records: AtomicU64,
    /// Messages sent (IPFIX messages, templates included; syslog lines).
    pub messages: AtomicU64,
    /// Sends that failed (their records are lost).
    pub send_errors: AtomicU64,
}

impl Counts {
    /// Counts one message sent that held `records` events.
    fn sent(&self, records: u64) {
        let r = Ordering::Relaxed;
        self.messages.fetch_add(1, r);
        self.records.fetch_add(records, r);
    }

    fn snapshot(&self) -> [u64; 3] {
        let r = Ordering::Relaxed;
        [
            self.records.load(r),
            self.messages.load(r),
            self.send_errors.load(r),
        ]
    }
}

/// What the logger thread shares with the control thread.
#[derive(Debug, Default)]
pub struct LogState {
    /// IPFIX counters.
    pub ipfix: Counts,
    /// Syslog counters.
    pub syslog: Counts,
    /// Sessions per worker, subscribers per worker, sessions per
    /// subscriber: what quota records report (a reload may change them).
    quotas: [AtomicU32; 3],
}

impl LogState {
    /// Sets the limits quota-exceeded records report.
    pub fn set_quotas(&self, q: Quotas) {
        let r = Ordering::Relaxed;
        self.quotas[0].store(q.sessions, r);
        self.quotas[1].store(q.subscribers, r);
        self.quotas[2].store(q.per_subscriber, r);
    }

    fn quotas(&self) -> Quotas {
        let r = Ordering::Relaxed;
        Quotas {
            sessions: self.quotas[0].load(r),
            subscribers: self.quotas[1].load(r),
            per_subscriber: self.quotas[2].load(r),
        }
    }

    /// (output, [records, messages, send errors]) of each configured
    /// output, for `/metrics`.
    pub fn snapshot(&self, log: &LogConfig) -> Vec<(&'static str, [u64; 3])> {
        let mut v = Vec::new();
        if log.ipfix.is_some() {
            v.push(("ipfix", self.ipfix.snapshot()));
        }
        if log.syslog.is_some() {
            v.push(("syslog", self.syslog.snapshot()));
        }
        v
    }
}

/// The logger's sockets, opened before anything is attached so that a
/// bad address fails at start.
#[derive(Debug)]
pub struct Outputs {
    log: LogConfig,
    ipfix: Option<Udp>,
    syslog: Option<SyslogOut>,
}

impl Outputs {
    /// Opens what `log` asks for; `None` when nothing is logged.
    pub fn open(log: &LogConfig) -> Result<Option<Outputs>, String> {
        if !log.enabled() {
            return Ok(None);
        }
        let ipfix = log.ipfix.map(|a| Udp::open("log.ipfix", a)).transpose()?;
        let syslog = match log.syslog {
            None => None,
            Some(SyslogTo::Stderr) => Some(SyslogOut::Stderr),
            Some(SyslogTo::Udp(a)) => Some(SyslogOut::Udp(Udp::open("log.syslog", a)?)),
        };
        Ok(Some(Outputs {
            log: log.clone(),
            ipfix,
            syslog,
        }))
    }
}

/// Where the thread writes syslog lines.
#[derive(Debug)]
enum SyslogOut {
    /// One datagram per line.
    Udp(Udp),
    /// One line per event on standard error.
    Stderr,
}

impl SyslogOut {
    /// Writes one line and counts it.
    fn write(&self, line: &str, c: &Counts) {
        match self {
            SyslogOut::Udp(u) => u.send(line.as_bytes(), c, 1),
            SyslogOut::Stderr => {
                eprintln!("{line}");
                c.sent(1);
            }
        }
    }
}

/// A UDP socket and where its datagrams go. It is not connected: a
/// connected socket would fail its next send after an ICMP port
/// unreachable (a collector restarting), losing that message too.
#[derive(Debug)]
struct Udp {
    sock: UdpSocket,
    to: SocketAddr,
}

impl Udp {
    /// A socket of `to`'s family, for the output of `key`.
    fn open(key: &str, to: SocketAddr) -> Result<Udp, String> {
        let any: SocketAddr = if to.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(any).map_err(|e| format!("{key}: {to}: {e}"))?;
        Ok(Udp { sock, to })
    }

    /// Sends one datagram holding `records` events and counts it.
    fn send(&self, msg: &[u8], c: &Counts, records: u64) {
        match self.sock.send_to(msg, self.to) {
            Ok(_) => c.sent(records),
            Err(_) => {
                c.send_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The running logger thread.
#[derive(Debug)]
pub struct Logger {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
    /// Counters and quotas shared with the control thread.
    pub state: Arc<LogState>,
}

impl Logger {
    /// Starts the thread that drains `shared.events` into `out`.
    pub fn start(out: Outputs, shared: Arc<Shared>, quotas: Quotas) -> Result<Logger, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(LogState::default());
        state.set_quotas(quotas);
        let (s, st) = (Arc::clone(&stop), Arc::clone(&state));
        let handle = std::thread::Builder::new()
            .name("masq-eventlog".into())
            .spawn(move || {
                // Its sockets are open: it needs no capability.
                if let Err(e) = masq_xsk::privilege::keep_only(&[]) {
                    eprintln!("masq: event log thread: dropping privileges: {e}");
                }
                run(out, &shared, &s, &st)
            })
            .map_err(|e| format!("event log thread: {e}"))?;
        Ok(Logger {
            stop,
            handle,
            state,
        })
    }

    /// Sends what is still queued and stops the thread (call after the
    /// workers stopped, so that their last events are in the queue).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        if self.handle.join().is_err() {
            eprintln!("masq: the event log thread panicked");
        }
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn export_secs() -> u32 {
    (unix_ms(SystemTime::now()) / 1000) as u32
}

/// The thread's body: drains the queue into the outputs until `stop`, then
/// drains what is left and sends the open IPFIX message.
fn run(out: Outputs, shared: &Shared, stop: &AtomicBool, state: &LogState) {
    let Some(queue) = shared.events.as_ref() else {
        return;
    };
    let epoch_ms = unix_ms(shared.epoch_wall);
    let host = hostname();
    let log = &out.log;
    let mut ipfix = Ipfix::new(log);
    let interval = Duration::from_secs(u64::from(log.template_interval));
    let mut templates_due = Instant::now();
    let mut oldest: Option<Instant> = None;
    let send_ipfix = |u: &Udp, m: &[u8]| u.send(m, &state.ipfix, data_records(m));
    loop {
        // Read before draining: events queued before the flag was set are
        // all taken by the final drain below.
        let stopping = stop.load(Ordering::Acquire);
        let now = Instant::now();
        if let Some(sock) = &out.ipfix {
            if now >= templates_due {
                send_ipfix(sock, &ipfix.template_message(export_secs()));
                templates_due = now + interval;
            }
        }
        let quotas = state.quotas();
        let mut n = 0;
        while n < DRAIN_STEP || stopping {
            let Some(e) = queue.pop() else { break };
            n += 1;
            if !log.logs(&e) {
                continue;
            }
            let ms = epoch_ms + u64::from(event_secs(&e)) * 1000;
            if let Some(sock) = &out.ipfix {
                if let Some(r) = record(&e, ms, log, &quotas) {
                    if let Some(m) = ipfix.add(&r, export_secs()) {
                        send_ipfix(sock, &m);
                        // Only this record is pending now.
                        oldest = None;
                    }
                    oldest.get_or_insert(now);
                }
            }
            if let Some(to) = &out.syslog {
                to.write(&syslog_line(&e, ms, &host, log.destinations), &state.syslog);
            }
        }
        if let Some(sock) = &out.ipfix {
            let late = oldest.is_some_and(|t| now.duration_since(t) >= FLUSH_AFTER);
            if ipfix.pending() > 0 && (late || stopping) {
                if let Some(m) = ipfix.finish(export_secs()) {
                    send_ipfix(sock, &m);
                }
                oldest = None;
            }
        }
        if stopping {
            return;
        }
        if n == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
}

/// The event's time, in seconds on the workers' clock.
pub(super) fn event_secs(e: &Event) -> u32 {
    match *e {
        Event::SessionCreated { at, .. }
        | Event::SessionDeleted { at, .. }
        | Event::MappingCreated { at, .. }
        | Event::MappingDeleted { at, .. }
        | Event::BlockAllocated { at, .. }
        | Event::BlockReleased { at, .. }
        | Event::Exhausted { at, .. } => at,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::eventlog::fixtures::{decode, events, field, QUOTAS};
    use crate::eventlog::templates::ie;

    #[test]
    fn the_logger_sends_templates_then_records_and_flushes_at_stop() {
        let timeout = Some(Duration::from_secs(2));
        let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
        collector.set_read_timeout(timeout).unwrap();
        let syslog = UdpSocket::bind("127.0.0.1:0").unwrap();
        syslog.set_read_timeout(timeout).unwrap();
        let log = LogConfig {
            ipfix: Some(collector.local_addr().unwrap()),
            syslog: Some(SyslogTo::Udp(syslog.local_addr().unwrap())),
            sessions: true,
            observation_domain: 3,
            ..LogConfig::default()
        };
        let shared = Arc::new(Shared::new(1, 4).with_events(64));
        let q = shared.events.as_ref().unwrap();
        for e in events() {
            q.push(e).unwrap();
        }
        let out = Outputs::open(&log).unwrap().unwrap();
        let logger = Logger::start(out, Arc::clone(&shared), QUOTAS).unwrap();
        let state = Arc::clone(&logger.state);
        logger.stop();

        let mut buf = [0u8; 2048];
        let mut known = HashMap::new();
        let n = collector.recv(&mut buf).unwrap();
        let first = buf[..n].to_vec();
        let t = decode(&first, &mut known);
        assert_eq!(
            (t.domain, t.sequence, t.records.len()),
            (3, 0, 0),
            "templates first"
        );
        let n = collector.recv(&mut buf).unwrap();
        let d = decode(&buf[..n], &mut known);
        assert_eq!(d.records.len(), 9);
        let epoch_ms = unix_ms(shared.epoch_wall);
        assert_eq!(
            field(&d.records[0].1, ie::OBSERVATION_TIME_MILLISECONDS),
            Some(epoch_ms + 5000)
        );
        assert!(field(&d.records[0].1, ie::DESTINATION_IPV4_ADDRESS).is_none());
        // A sample for the Python collector's --decode-file (checked by
        // hand; not needed by the test).
        let sample = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/eventlog-sample.ipfix"
        );
        let _ = std::fs::write(sample, [first.as_slice(), &buf[..n]].concat());

        let mut lines = Vec::new();
        while lines.len() < 9 {
            let n = syslog.recv(&mut buf).unwrap();
            lines.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        assert!(
            lines[0].contains(" masq - - - session-create proto=17 "),
            "{}",
            lines[0]
        );
        assert!(!lines[0].contains("remote="));
        assert!(lines[8].contains("exhausted resource=subscribers"));
        let r = Ordering::Relaxed;
        assert_eq!(state.ipfix.records.load(r), 9);
        assert_eq!(state.ipfix.messages.load(r), 2);
        assert_eq!(state.ipfix.send_errors.load(r), 0);
        assert_eq!(state.syslog.records.load(r), 9);
        assert_eq!(
            state.snapshot(&log),
            vec![("ipfix", [9, 2, 0]), ("syslog", [9, 9, 0])]
        );
    }
}
