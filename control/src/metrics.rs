//! The Prometheus exposition of `/metrics`.
//!
//! Every value is read at scrape time from what the workers already
//! publish (plain atomics stored at batch boundaries) and from the control
//! thread's own state; nothing here is called on the packet path. Names
//! are prefixed `masq_`, counters end in `_total`, and units are base
//! units (bytes, seconds, ratios).

use std::sync::atomic::{AtomicU64, Ordering};

use masq_core::addr::fmt_addr;
use masq_core::DropReason;
use masq_xsk::worker::{Io, Shared, XSK_STATISTICS};
use prometheus::{Encoder, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::external::External;

/// What the control thread knows at scrape time besides the workers'
/// atomics.
#[derive(Debug, Default)]
pub struct Scrape {
    /// Per external address: (address, blocks in use, blocks free now),
    /// summed over workers; `None` when a worker did not answer in time.
    pub blocks: Option<Vec<(u32, u32, u32)>>,
    /// Whole blocks per external address (over all workers).
    pub blocks_per_addr: u32,
    /// Per worker, per side (LAN, WAN): the kernel's AF_XDP socket
    /// statistics.
    pub xsk: Vec<[Option<[u64; XSK_STATISTICS.len()]>; 2]>,
    /// Per side (LAN, WAN): frames the XDP program redirected and passed.
    pub xdp: [Option<(u64, u64)>; 2],
    /// Per side (LAN, WAN): frames the XDP program dropped, by reason
    /// (`masq_xsk::xdp::DROP_REASONS` order).
    pub xdp_drops: [Option<[u64; masq_xsk::xdp::DROP_REASONS.len()]>; 2],
    /// Session capacity of each worker.
    pub capacity: u64,
    /// Where the external address comes from (MASQUERADE: the address
    /// in use, if any).
    pub external: External,
    /// Times the external address changed.
    pub address_changes: u64,
    /// Reloads that were applied and that were refused.
    pub reloads: (u64, u64),
    /// Milliseconds on the workers' clock now.
    pub now_ms: u64,
    /// Per worker: stalled now, stalls detected so far.
    pub stalls: Vec<(bool, u64)>,
    /// Per configured event log output ("ipfix", "syslog"): records,
    /// messages and failed sends.
    pub eventlog: Vec<(&'static str, [u64; 3])>,
    /// The PCP server's numbers; `None` when it is off.
    pub pcp: Option<PcpScrape>,
    /// Whether the box is healthy (`/healthz`).
    pub healthy: bool,
    /// Times the health changed since start.
    pub health_changes: u64,
    /// Routes held for a routing daemon, per realm (empty: `[routing]`
    /// is off).
    pub routes: Vec<(crate::config::Realm, u64)>,
}

/// The PCP server's numbers at scrape time.
#[derive(Debug, Default)]
pub struct PcpScrape {
    /// Requests answered: (opcode, result, count).
    pub requests: Vec<(&'static str, &'static str, u64)>,
    /// Datagrams dropped unanswered: (reason, count).
    pub dropped: Vec<(&'static str, u64)>,
    /// Mappings the server holds for its clients.
    pub mappings: u64,
}

/// The registry and its metric families.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    counters: Vec<(String, IntCounterVec)>,
    gauges: Vec<(&'static str, IntGaugeVec)>,
    ratios: Vec<(&'static str, prometheus::GaugeVec)>,
}

/// Counter families, besides one `masq_xsk_<stat>_total` {worker, side}
/// per kernel AF_XDP statistic, which are named from `XSK_STATISTICS`.
const COUNTERS: &[(&str, &str, &[&str])] = &[
    (
        "masq_pcp_requests_total",
        "PCP and NAT-PMP requests answered, by opcode and result.",
        &["opcode", "result"],
    ),
    (
        "masq_pcp_dropped_total",
        "Datagrams to the PCP server dropped without an answer, by reason.",
        &["reason"],
    ),
    (
        "masq_health_changes_total",
        "Times the box went from healthy to not healthy or back (/healthz).",
        &[],
    ),
    (
        "masq_worker_stalls_total",
        "Times the control thread found the worker without a heartbeat for stall_timeout.",
        &["worker"],
    ),
    (
        "masq_packets_total",
        "Frames received (rx) and sent (tx) per side.",
        &["worker", "direction", "side"],
    ),
    (
        "masq_bytes_total",
        "Bytes received (rx) and forwarded (tx) per side.",
        &["worker", "direction", "side"],
    ),
    (
        "masq_drops_total",
        "Frames dropped, by reason.",
        &["worker", "reason"],
    ),
    (
        "masq_sessions_created_total",
        "Sessions created.",
        &["worker"],
    ),
    (
        "masq_sessions_expired_total",
        "Sessions removed because their timer ran out.",
        &["worker"],
    ),
    (
        "masq_sessions_removed_total",
        "Sessions removed by an operator flush or because the external address changed.",
        &["worker", "cause"],
    ),
    (
        "masq_port_blocks_allocated_total",
        "Port blocks given to subscribers.",
        &["worker"],
    ),
    (
        "masq_port_blocks_released_total",
        "Port blocks given back by subscribers.",
        &["worker"],
    ),
    (
        "masq_handoff_frames_total",
        "Frames copied to (out) and received from (in) other workers.",
        &["worker", "direction"],
    ),
    (
        "masq_hairpinned_packets_total",
        "Frames hairpinned from the LAN back to the LAN.",
        &["worker"],
    ),
    (
        "masq_icmp_errors_translated_total",
        "ICMP errors translated.",
        &["worker"],
    ),
    (
        "masq_events_dropped_total",
        "NAT events lost because the worker's event queue was full.",
        &["worker"],
    ),
    (
        "masq_icmp_generated_total",
        "ICMP errors the NAT made itself (time exceeded, 3/13, 3/4).",
        &["worker"],
    ),
    (
        "masq_icmp_rate_limited_total",
        "ICMP errors not sent because a rate limit was reached.",
        &["worker"],
    ),
    (
        "masq_emit_dropped_total",
        "Generated or released frames lost because the emit ring was full.",
        &["worker"],
    ),
    (
        "masq_fragments_translated_total",
        "Fragments translated (first and later ones).",
        &["worker"],
    ),
    (
        "masq_fragments_held_total",
        "Early fragments held until their first fragment came.",
        &["worker"],
    ),
    (
        "masq_mss_clamped_total",
        "TCP SYNs whose MSS option was lowered to mss_clamp.",
        &["worker"],
    ),
    (
        "masq_packets_fragmented_total",
        "Packets larger than the egress MTU without DF, cut into fragments.",
        &["worker"],
    ),
    (
        "masq_fragments_sent_total",
        "Fragments sent of the packets cut to fit the egress MTU.",
        &["worker"],
    ),
    (
        "masq_eventlog_dropped_total",
        "NAT events lost because the queue from the workers to the event logger was full.",
        &["worker"],
    ),
    (
        "masq_eventlog_records_total",
        "NAT events exported, per output (IPFIX data records, syslog lines).",
        &["output"],
    ),
    (
        "masq_eventlog_messages_total",
        "Messages sent, per output (IPFIX messages with templates, syslog lines).",
        &["output"],
    ),
    (
        "masq_eventlog_send_errors_total",
        "Event log messages that could not be sent (their events are lost).",
        &["output"],
    ),
    (
        "masq_worker_polls_total",
        "Poll loops of the worker.",
        &["worker"],
    ),
    (
        "masq_worker_busy_polls_total",
        "Poll loops that found work.",
        &["worker"],
    ),
    (
        "masq_control_replies_dropped_total",
        "Answers to the control thread lost because the reply ring was full.",
        &["worker"],
    ),
    (
        "masq_xdp_frames_total",
        "Frames the XDP program redirected to the workers or passed to the kernel.",
        &["side", "action"],
    ),
    (
        "masq_xdp_dropped_total",
        "Frames the XDP program dropped, by reason.",
        &["side", "reason"],
    ),
    (
        "masq_external_address_changes_total",
        "Times the external (WAN) address changed.",
        &[],
    ),
    (
        "masq_config_reloads_total",
        "Configuration reloads (SIGHUP), by result.",
        &["result"],
    ),
];

const GAUGES: &[(&str, &str, &[&str])] = &[
    (
        "masq_worker_stalled",
        "1 while the worker has had no heartbeat for stall_timeout seconds.",
        &["worker"],
    ),
    (
        "masq_sessions",
        "Live sessions, by protocol.",
        &["worker", "protocol"],
    ),
    (
        "masq_subscribers",
        "Subscribers holding sessions or port blocks.",
        &["worker"],
    ),
    (
        "masq_session_table_capacity",
        "Sessions a worker's table can hold.",
        &["worker"],
    ),
    (
        "masq_port_blocks",
        "Port blocks per external address: in use, free, or held after release.",
        &["address", "state"],
    ),
    (
        "masq_umem_frames_unaccounted",
        "UMEM frames the worker cannot account for (0 unless a frame leaked).",
        &["worker"],
    ),
    (
        "masq_healthy",
        "1 while the box is healthy: every worker beats, both links up, the WAN next hop known (/healthz 200).",
        &[],
    ),
    (
        "masq_routes_held",
        "Routes masq holds in the kernel for a routing daemon ([routing]), by realm: pool, access, draining.",
        &["realm"],
    ),
    (
        "masq_pcp_mappings",
        "Mappings the PCP server holds for subscribers (MAP, PEER and NAT-PMP).",
        &[],
    ),
    (
        "masq_external_address_up",
        "1 when the NAT has an external address to translate to.",
        &[],
    ),
    (
        "masq_external_address_info",
        "The external address in use (MASQUERADE), as a label.",
        &["address"],
    ),
];

const RATIOS: &[(&str, &str, &[&str])] = &[
    (
        "masq_session_table_occupancy_ratio",
        "Live sessions over the table capacity.",
        &["worker"],
    ),
    (
        "masq_worker_busy_ratio",
        "Poll loops that found work over all poll loops, since start.",
        &["worker"],
    ),
    (
        "masq_worker_heartbeat_age_seconds",
        "Time since the worker last published its numbers.",
        &["worker"],
    ),
];

impl Metrics {
    /// Registers every family.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let mut m = Metrics {
            registry,
            counters: Vec::new(),
            gauges: Vec::new(),
            ratios: Vec::new(),
        };
        let xsk = XSK_STATISTICS.iter().map(|(stat, what)| {
            let labels: &[&str] = &["worker", "side"];
            (
                format!("masq_xsk_{stat}_total"),
                format!("AF_XDP: {what}."),
                labels,
            )
        });
        let fixed = COUNTERS
            .iter()
            .map(|(name, help, labels)| (name.to_string(), help.to_string(), *labels));
        for (name, help, labels) in fixed.chain(xsk) {
            let v = IntCounterVec::new(Opts::new(name.as_str(), help), labels)?;
            m.registry.register(Box::new(v.clone()))?;
            m.counters.push((name, v));
        }
        for (name, help, labels) in GAUGES {
            let v = IntGaugeVec::new(Opts::new(*name, *help), labels)?;
            m.registry.register(Box::new(v.clone()))?;
            m.gauges.push((name, v));
        }
        for (name, help, labels) in RATIOS {
            let v = prometheus::GaugeVec::new(Opts::new(*name, *help), labels)?;
            m.registry.register(Box::new(v.clone()))?;
            m.ratios.push((name, v));
        }
        Ok(m)
    }

    fn counter(&self, name: &str, labels: &[&str], v: u64) {
        if let Some((_, c)) = self.counters.iter().find(|(n, _)| *n == name) {
            let c = c.with_label_values(labels);
            c.reset();
            c.inc_by(v);
        }
    }

    fn gauge(&self, name: &str, labels: &[&str], v: u64) {
        if let Some((_, g)) = self.gauges.iter().find(|(n, _)| *n == name) {
            g.with_label_values(labels).set(v as i64);
        }
    }

    fn ratio(&self, name: &str, labels: &[&str], v: f64) {
        if let Some((_, g)) = self.ratios.iter().find(|(n, _)| *n == name) {
            g.with_label_values(labels).set(v);
        }
    }

    /// Fills every family from `shared` and `s` and encodes the text format.
    pub fn render(&self, shared: &Shared, s: &Scrape) -> Result<String, prometheus::Error> {
        let r = Ordering::Relaxed;
        let get = |a: &AtomicU64| a.load(r);
        for (i, w) in shared.stats.iter().enumerate() {
            let id = i.to_string();
            let id = id.as_str();
            for (dir, side, v) in [
                ("rx", "lan", w.io(Io::RxLan)),
                ("rx", "wan", w.io(Io::RxWan)),
                ("tx", "lan", w.io(Io::TxLan)),
                ("tx", "wan", w.io(Io::TxWan)),
            ] {
                self.counter("masq_packets_total", &[id, dir, side], v);
            }
            for (dir, side, v) in [
                ("rx", "lan", w.io(Io::RxLanBytes)),
                ("rx", "wan", w.io(Io::RxWanBytes)),
                ("tx", "lan", w.core("tx_lan_bytes")),
                ("tx", "wan", w.core("tx_wan_bytes")),
            ] {
                self.counter("masq_bytes_total", &[id, dir, side], v);
            }
            for (k, d) in DropReason::ALL.iter().enumerate() {
                self.counter("masq_drops_total", &[id, d.name()], get(&w.drops[k]));
            }
            for (k, reason) in Io::DROPS {
                self.counter("masq_drops_total", &[id, reason], w.io(k));
            }
            for (name, field) in [
                ("masq_sessions_created_total", "sessions_created"),
                ("masq_sessions_expired_total", "sessions_expired"),
                ("masq_port_blocks_allocated_total", "blocks_allocated"),
                ("masq_port_blocks_released_total", "blocks_released"),
                ("masq_hairpinned_packets_total", "hairpinned"),
                (
                    "masq_icmp_errors_translated_total",
                    "icmp_errors_translated",
                ),
                ("masq_events_dropped_total", "events_dropped"),
                ("masq_icmp_generated_total", "icmp_generated"),
                ("masq_icmp_rate_limited_total", "icmp_rate_limited"),
                ("masq_emit_dropped_total", "emit_dropped"),
                ("masq_fragments_translated_total", "fragments_translated"),
                ("masq_fragments_held_total", "fragments_held"),
                ("masq_mss_clamped_total", "mss_clamped"),
                ("masq_packets_fragmented_total", "packets_fragmented"),
                ("masq_fragments_sent_total", "fragments_sent"),
            ] {
                self.counter(name, &[id], w.core(field));
            }
            for (cause, field) in [
                ("flush", "sessions_flushed"),
                ("address_change", "sessions_readdressed"),
                ("release", "sessions_released"),
            ] {
                self.counter("masq_sessions_removed_total", &[id, cause], w.core(field));
            }
            self.counter(
                "masq_handoff_frames_total",
                &[id, "out"],
                w.io(Io::HandedOff),
            );
            self.counter("masq_handoff_frames_total", &[id, "in"], w.io(Io::HandedIn));
            let (polls, busy) = (w.io(Io::Polls), w.io(Io::BusyPolls));
            self.counter("masq_worker_polls_total", &[id], polls);
            let (stalled, stalls) = s.stalls.get(i).copied().unwrap_or_default();
            self.gauge("masq_worker_stalled", &[id], u64::from(stalled));
            self.counter("masq_worker_stalls_total", &[id], stalls);
            self.counter("masq_worker_busy_polls_total", &[id], busy);
            self.ratio(
                "masq_worker_busy_ratio",
                &[id],
                busy as f64 / polls.max(1) as f64,
            );
            self.ratio(
                "masq_worker_heartbeat_age_seconds",
                &[id],
                s.now_ms.saturating_sub(get(&w.heartbeat_ms)) as f64 / 1000.0,
            );
            self.counter(
                "masq_control_replies_dropped_total",
                &[id],
                w.io(Io::RepliesDropped),
            );
            self.counter(
                "masq_eventlog_dropped_total",
                &[id],
                w.io(Io::EventsDropped),
            );
            for (k, name) in masq_core::proto::SLOT_NAMES.iter().enumerate() {
                let n = get(&w.sessions_by_proto[k]);
                self.gauge("masq_sessions", &[id, name], n);
            }
            self.gauge("masq_subscribers", &[id], get(&w.subscribers));
            self.gauge("masq_session_table_capacity", &[id], s.capacity);
            self.ratio(
                "masq_session_table_occupancy_ratio",
                &[id],
                w.sessions() as f64 / s.capacity.max(1) as f64,
            );
            self.gauge(
                "masq_umem_frames_unaccounted",
                &[id],
                get(&w.frames_unaccounted),
            );
            for (side, st) in ["lan", "wan"]
                .iter()
                .zip(s.xsk.get(i).into_iter().flatten())
            {
                let Some(st) = st else { continue };
                for ((name, _), v) in XSK_STATISTICS.iter().zip(st) {
                    self.counter(&format!("masq_xsk_{name}_total"), &[id, side], *v);
                }
            }
        }
        for (side, x) in ["lan", "wan"].iter().zip(&s.xdp) {
            if let Some((redirect, pass)) = x {
                self.counter("masq_xdp_frames_total", &[side, "redirect"], *redirect);
                self.counter("masq_xdp_frames_total", &[side, "pass"], *pass);
            }
        }
        for (side, d) in ["lan", "wan"].iter().zip(&s.xdp_drops) {
            for (reason, v) in masq_xsk::xdp::DROP_REASONS.iter().zip(d.iter().flatten()) {
                self.counter("masq_xdp_dropped_total", &[side, reason], *v);
            }
        }
        if let Some(blocks) = &s.blocks {
            if let Some((_, g)) = self.gauges.iter().find(|(n, _)| *n == "masq_port_blocks") {
                g.reset(); // addresses that went away disappear
            }
            for (addr, in_use, free) in blocks {
                let a = fmt_addr(*addr).to_string();
                let held = s.blocks_per_addr.saturating_sub(in_use + free);
                self.gauge("masq_port_blocks", &[&a, "in_use"], u64::from(*in_use));
                self.gauge("masq_port_blocks", &[&a, "free"], u64::from(*free));
                self.gauge("masq_port_blocks", &[&a, "held"], u64::from(held));
            }
        }
        self.counter(
            "masq_external_address_changes_total",
            &[],
            s.address_changes,
        );
        for (output, [records, messages, errors]) in &s.eventlog {
            self.counter("masq_eventlog_records_total", &[output], *records);
            self.counter("masq_eventlog_messages_total", &[output], *messages);
            self.counter("masq_eventlog_send_errors_total", &[output], *errors);
        }
        if let Some(p) = &s.pcp {
            for (opcode, result, n) in &p.requests {
                self.counter("masq_pcp_requests_total", &[opcode, result], *n);
            }
            for (reason, n) in &p.dropped {
                self.counter("masq_pcp_dropped_total", &[reason], *n);
            }
            self.gauge("masq_pcp_mappings", &[], p.mappings);
        }
        self.gauge("masq_healthy", &[], u64::from(s.healthy));
        self.counter("masq_health_changes_total", &[], s.health_changes);
        for (realm, n) in &s.routes {
            self.gauge("masq_routes_held", &[&realm.to_string()], *n);
        }
        self.counter("masq_config_reloads_total", &["ok"], s.reloads.0);
        self.counter("masq_config_reloads_total", &["failed"], s.reloads.1);
        self.gauge(
            "masq_external_address_up",
            &[],
            u64::from(s.external.is_up()),
        );
        if let Some((_, g)) = self
            .gauges
            .iter()
            .find(|(n, _)| *n == "masq_external_address_info")
        {
            g.reset();
        }
        if s.external.address().is_some() {
            self.gauge("masq_external_address_info", &[&s.external.to_string()], 1);
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        for (name, _) in &Metrics::new().unwrap().counters {
            assert!(
                name.starts_with("masq_") && name.ends_with("_total"),
                "{name}"
            );
        }
        for (name, _, _) in GAUGES.iter().chain(RATIOS) {
            assert!(
                name.starts_with("masq_") && !name.ends_with("_total"),
                "{name}"
            );
        }
    }

    #[test]
    fn renders_worker_numbers() {
        let shared = Shared::new(2, 4);
        shared.stats[1].io[Io::RxLan as usize].store(42, Ordering::Relaxed);
        let k = DropReason::ALL
            .iter()
            .position(|d| *d == DropReason::NoMapping)
            .unwrap();
        shared.stats[0].drops[k].store(7, Ordering::Relaxed);
        shared.stats[0].sessions_by_proto[1].store(3, Ordering::Relaxed);
        let m = Metrics::new().unwrap();
        let s = Scrape {
            blocks: Some(vec![(0xcb00_7105, 2, 100)]),
            blocks_per_addr: 126,
            capacity: 1000,
            external: External::Interface(Some(std::net::Ipv4Addr::new(203, 0, 113, 5))),
            address_changes: 1,
            eventlog: vec![("ipfix", [5, 2, 1])],
            pcp: Some(PcpScrape {
                requests: vec![("map", "success", 4), ("map", "user_ex_quota", 1)],
                dropped: vec![("rate_limited", 2)],
                mappings: 3,
            }),
            ..Scrape::default()
        };
        shared.stats[0].io[Io::EventsDropped as usize].store(9, Ordering::Relaxed);
        let text = m.render(&shared, &s).unwrap();
        for want in [
            "masq_packets_total{direction=\"rx\",side=\"lan\",worker=\"1\"} 42",
            "masq_drops_total{reason=\"no_mapping\",worker=\"0\"} 7",
            "masq_sessions{protocol=\"udp\",worker=\"0\"} 3",
            "masq_port_blocks{address=\"203.0.113.5\",state=\"held\"} 24",
            "masq_external_address_info{address=\"203.0.113.5\"} 1",
            "masq_external_address_changes_total 1",
            "masq_eventlog_dropped_total{worker=\"0\"} 9",
            "masq_eventlog_records_total{output=\"ipfix\"} 5",
            "masq_eventlog_send_errors_total{output=\"ipfix\"} 1",
            "masq_pcp_requests_total{opcode=\"map\",result=\"success\"} 4",
            "masq_pcp_requests_total{opcode=\"map\",result=\"user_ex_quota\"} 1",
            "masq_pcp_dropped_total{reason=\"rate_limited\"} 2",
            "masq_pcp_mappings 3",
            "# TYPE masq_drops_total counter",
            "# TYPE masq_sessions gauge",
        ] {
            assert!(text.contains(want), "missing {want}");
        }
        // A second scrape sets, not adds.
        let text = m.render(&shared, &s).unwrap();
        assert!(text.contains("masq_drops_total{reason=\"no_mapping\",worker=\"0\"} 7"));
    }

    #[test]
    fn renders_the_kernel_socket_statistics() {
        let shared = Shared::new(1, 4);
        let s = Scrape {
            xsk: vec![[Some([1, 2, 3, 4, 5, 6]), None]],
            ..Scrape::default()
        };
        let text = Metrics::new().unwrap().render(&shared, &s).unwrap();
        for (k, (stat, _)) in XSK_STATISTICS.iter().enumerate() {
            let want = format!(
                "masq_xsk_{stat}_total{{side=\"lan\",worker=\"0\"}} {}",
                k + 1
            );
            assert!(text.contains(&want), "missing {want}");
        }
        assert!(text.contains(
            "# HELP masq_xsk_rx_ring_full_total AF_XDP: received frames dropped because the RX ring was full."
        ));
    }
}
