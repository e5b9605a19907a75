//! bench-core: the in-memory benchmark of the NAT core, on one thread.
//!
//! No I/O is involved: frames are built in memory, handed to
//! [`Shard::process_batch`] in batches of 64, and the time per packet is what the
//! core costs a worker on top of its driver. Measurements:
//!
//! - `fastpath_mpps_10k`, `fastpath_mpps_1m`: 60-byte Ethernet + IPv4 + UDP
//!   frames (64 bytes on the wire with the FCS) from the LAN side, in random
//!   order over 10 000 and 1 048 576 live sessions created beforehand.
//! - `fastpath_mpps_10m`: the same over 10 000 000 sessions (not with
//!   `--quick`); the table alone is about a gigabyte.
//! - `fastpath_single_mpps_1m`: the 1M case with `process` called frame by
//!   frame instead of `process_batch`: what overlapping the table fetches
//!   of a batch buys.
//! - `touch_mpps`: the same frame building, but instead of `process` only
//!   a minimal parse and a MAC swap: the floor any forwarder pays.
//! - `setup_per_s`: sessions created per second in a fresh shard, every
//!   packet a new flow, with the event queue drained once per batch.
//! - `bytes_per_session`, `rss_bytes_per_session`: the memory a full shard
//!   holds, by its own account and as resident pages.
//!
//! Because `process` rewrites frames in place, every packet is rebuilt
//! before it is processed: the access sequence holds compact per-flow
//! records (inside address and port with the two checksums that go with
//! them, precomputed), read sequentially and patched into a copy of one
//! template frame. Both `fastpath` and `touch` pay that copy, so their
//! difference is the cost of the core.
//!
//! Every timed measurement is repeated and reported as the median with the
//! minimum and maximum. Output: one JSON object per line on stdout,
//! progress on stderr.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use masq_core::wire::Mac;
use masq_core::{
    Config, Counters, DropReason, Limits, NextHops, Prefix, Shard, Side, Time, Verdict,
};
use masq_tests::check::{fold, sum};

/// Frame length without the FCS: 64 bytes on the wire.
const FRAME_LEN: usize = 60;
/// Frames per batch, as a worker receives them.
const BATCH: usize = 64;
/// The clock for everything: no timer fires during the run.
const NOW: Time = Time::from_secs(1);

/// 100.64.0.0, the start of the inside prefix 100.64.0.0/10.
const INSIDE_BASE: u32 = 0x6440_0000;
/// Subscribers the flows are spread over.
const SUBSCRIBERS: u32 = 4096;
/// Addresses between two subscribers: 4096 of them cover the /10.
const SUBSCRIBER_STRIDE: u32 = (1 << 22) / SUBSCRIBERS;
/// First inside source port of each subscriber.
const PORT_BASE: u16 = 10_000;
/// 198.51.100.1:53, the one remote endpoint.
const REMOTE: u32 = 0xc633_6401;
const REMOTE_PORT: u16 = 53;
/// 203.0.113.0/24: 256 addresses of 126 blocks of 512 ports.
const POOL: u32 = 0xcb00_7100;

const SMALL: usize = 10_000;
const LARGE: usize = 1 << 20;
const HUGE: usize = 10_000_000;

const LAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const WAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x03];
const SUBSCRIBER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];

/// Offsets in the frame (Ethernet 14 bytes, IPv4 20, UDP 8, payload 18).
mod at {
    pub const ETHERTYPE: usize = 12;
    pub const IP: usize = 14;
    pub const TTL: usize = IP + 8;
    pub const IP_CSUM: usize = IP + 10;
    pub const SRC: usize = IP + 12;
    pub const DST: usize = IP + 16;
    pub const UDP: usize = IP + 20;
    pub const SPORT: usize = UDP;
    pub const UDP_CSUM: usize = UDP + 6;
}

const USAGE: &str = "\
usage: bench-core [--quick]

In-memory benchmark of the masq NAT core on one thread. Prints one JSON
object per measurement on stdout ({\"name\", \"value\", \"unit\", \"min\",
\"max\", \"runs\"}; value is the median of the runs) and progress on stderr.

  --quick   fewer packets and repetitions (a smoke run, well under 20 s)
  -h, --help  this text";

/// How much work each measurement does.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Timed repetitions of each measurement.
    runs: usize,
    /// Packets per fast-path and touch repetition.
    packets: usize,
    /// Flows created per setup repetition.
    setup_flows: usize,
    /// Whether to measure the 10M-session table too.
    huge: bool,
}

const FULL: Plan = Plan {
    runs: 5,
    packets: 1 << 22,
    setup_flows: LARGE,
    huge: true,
};
const QUICK: Plan = Plan {
    runs: 3,
    packets: 1 << 18,
    setup_flows: 1 << 18,
    huge: false,
};

// ---- deterministic PRNG ---------------------------------------------------

/// SplitMix64 (Steele, Lea, Flood 2014).
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply; the bias is negligible here).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

// ---- frames -----------------------------------------------------------------

/// What differs between flows, in wire byte order, ready to be copied into
/// the template: 10 bytes.
#[derive(Clone, Copy, Debug)]
struct Rec {
    src: [u8; 4],
    sport: [u8; 2],
    ip_csum: [u8; 2],
    udp_csum: [u8; 2],
}

/// One receive buffer: a frame in its own cache line, as a NIC ring has it.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Slot([u8; 64]);

impl AsMut<[u8]> for Slot {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0[..FRAME_LEN]
    }
}

/// Folded one's-complement sum of the IPv4 header (0xffff when its
/// checksum is right).
fn ip_sum(f: &[u8]) -> u16 {
    fold(sum(0, &f[at::IP..at::UDP]))
}

/// Folded one's-complement sum of the UDP datagram and its pseudo-header
/// (0xffff when its checksum is right).
fn udp_sum(f: &[u8]) -> u16 {
    let udp = &f[at::UDP..FRAME_LEN];
    fold(sum(
        sum(0, &f[at::SRC..at::UDP]) + 17 + udp.len() as u64,
        udp,
    ))
}

fn ip_header_ok(f: &[u8]) -> bool {
    ip_sum(f) == 0xffff
}

fn udp_ok(f: &[u8]) -> bool {
    // The benchmark's frames always carry a UDP checksum.
    f[at::UDP_CSUM..at::UDP_CSUM + 2] != [0, 0] && udp_sum(f) == 0xffff
}

/// The template: the remote endpoint, a UDP datagram of 18 payload bytes,
/// and zeros where the per-flow fields go.
fn template() -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&LAN_MAC);
    f[6..12].copy_from_slice(&SUBSCRIBER_MAC);
    f[at::ETHERTYPE..at::IP].copy_from_slice(&[0x08, 0x00]);
    let total = (FRAME_LEN - at::IP) as u16;
    f[at::IP] = 0x45;
    f[at::IP + 2..at::IP + 4].copy_from_slice(&total.to_be_bytes());
    f[at::IP + 4..at::IP + 6].copy_from_slice(&0x1234u16.to_be_bytes());
    f[at::IP + 6] = 0x40; // DF
    f[at::TTL] = 64;
    f[at::IP + 9] = 17;
    f[at::DST..at::DST + 4].copy_from_slice(&REMOTE.to_be_bytes());
    let udp_len = (FRAME_LEN - at::UDP) as u16;
    f[at::UDP + 2..at::UDP + 4].copy_from_slice(&REMOTE_PORT.to_be_bytes());
    f[at::UDP + 4..at::UDP + 6].copy_from_slice(&udp_len.to_be_bytes());
    f[at::UDP + 8..].copy_from_slice(b"masq-bench-payload");
    f
}

/// The record of flow (`src`, `sport`) with both checksums filled in.
fn record(tpl: &[u8; FRAME_LEN], src: u32, sport: u16) -> Rec {
    let mut f = *tpl;
    f[at::SRC..at::SRC + 4].copy_from_slice(&src.to_be_bytes());
    f[at::SPORT..at::SPORT + 2].copy_from_slice(&sport.to_be_bytes());
    // The template's checksum fields are zero.
    let ip = !ip_sum(&f);
    f[at::IP_CSUM..at::IP_CSUM + 2].copy_from_slice(&ip.to_be_bytes());
    let c = !udp_sum(&f);
    let c = if c == 0 { 0xffff } else { c };
    f[at::UDP_CSUM..at::UDP_CSUM + 2].copy_from_slice(&c.to_be_bytes());
    debug_assert!(ip_header_ok(&f) && udp_ok(&f));
    Rec {
        src: src.to_be_bytes(),
        sport: sport.to_be_bytes(),
        ip_csum: ip.to_be_bytes(),
        udp_csum: c.to_be_bytes(),
    }
}

/// Copies the template into `dst` and patches one flow into it.
#[inline(always)]
fn fill(dst: &mut Slot, tpl: &[u8; FRAME_LEN], r: &Rec) {
    let f = &mut dst.0;
    f[..FRAME_LEN].copy_from_slice(tpl);
    f[at::IP_CSUM..at::IP_CSUM + 2].copy_from_slice(&r.ip_csum);
    f[at::SRC..at::SRC + 4].copy_from_slice(&r.src);
    f[at::SPORT..at::SPORT + 2].copy_from_slice(&r.sport);
    f[at::UDP_CSUM..at::UDP_CSUM + 2].copy_from_slice(&r.udp_csum);
}

/// `n` distinct flows: flow `i` belongs to subscriber `i mod 4096` and uses
/// source port `10000 + i / 4096`, so consecutive flows are of different
/// subscribers and each subscriber's ports fit one block (256 per parity).
fn flows(tpl: &[u8; FRAME_LEN], n: usize) -> Vec<Rec> {
    (0..n)
        .map(|i| {
            let sub = i as u32 % SUBSCRIBERS;
            let src = INSIDE_BASE + sub * SUBSCRIBER_STRIDE + 1;
            let sport = PORT_BASE + (i as u32 / SUBSCRIBERS) as u16;
            record(tpl, src, sport)
        })
        .collect()
}

/// `len` records: whole random permutations of `flows`, one after another,
/// so every flow is hit equally often and in no order the caches can learn.
fn access_sequence(flows: &[Rec], len: usize, rng: &mut SplitMix64) -> Vec<Rec> {
    let mut seq = Vec::with_capacity(len);
    let mut perm = flows.to_vec();
    while seq.len() < len {
        for i in (1..perm.len()).rev() {
            perm.swap(i, rng.below(i + 1));
        }
        let take = (len - seq.len()).min(perm.len());
        seq.extend_from_slice(&perm[..take]);
    }
    seq
}

// ---- the shard ----------------------------------------------------------------

/// The default configuration (inside 192.168.0.0/16 and 100.64.0.0/10,
/// pool 203.0.113.0/24, ports 1024-65535 in blocks of 512), with the given
/// session capacity and limits that refuse no flow of the benchmark.
fn config(max_sessions: usize) -> Result<Config, String> {
    config_with_pool(max_sessions, Prefix::new(POOL, 24)?)
}

/// [`config`] with another pool: the 10M table needs more addresses, since
/// paired pooling puts each subscriber's 5 blocks on one address and a
/// /24 leaves some addresses with more subscribers than blocks.
fn config_with_pool(max_sessions: usize, pool: Prefix) -> Result<Config, String> {
    let cfg = Config {
        pool: vec![pool],
        max_sessions: max_sessions as u32,
        max_subscribers: 1 << 16,
        limits: Limits {
            sessions_per_subscriber: 1 << 16,
            blocks_per_subscriber: 64,
        },
        ..Config::default()
    };
    if !cfg
        .inside
        .iter()
        .any(|p| p.contains(INSIDE_BASE) && p.len() <= 10)
    {
        return Err("the default inside prefixes no longer cover 100.64.0.0/10".into());
    }
    Ok(cfg)
}

fn new_shard(cfg: &Config) -> Result<Shard, String> {
    let mut s = Shard::new(cfg, 0, NOW).map_err(|e| format!("config: {e}"))?;
    s.set_next_hops(NextHops {
        lan_mac: Mac(LAN_MAC),
        wan_mac: Mac(WAN_MAC),
        gateway_mac: Mac(GATEWAY_MAC),
    });
    Ok(s)
}

/// Sends one packet of each flow, in batches, draining the event queue
/// after each batch; returns the time taken. Fails unless every packet
/// made its session.
fn create(shard: &mut Shard, tpl: &[u8; FRAME_LEN], flows: &[Rec]) -> Result<Duration, String> {
    let before = shard.session_count();
    let mut bufs = [Slot([0; 64]); BATCH];
    let mut verdicts = [Verdict::Pass; BATCH];
    let mut to_wan = 0usize;
    let mut events = 0usize;
    let t0 = Instant::now();
    for chunk in flows.chunks(BATCH) {
        for (b, r) in bufs.iter_mut().zip(chunk) {
            fill(b, tpl, r);
        }
        let bufs = black_box(&mut bufs);
        shard.process_batch(&mut bufs[..chunk.len()], Side::Lan, NOW, &mut verdicts);
        to_wan += verdicts[..chunk.len()]
            .iter()
            .filter(|v| **v == Verdict::ToWan)
            .count();
        while let Some(e) = shard.pop_event() {
            black_box(e);
            events += 1;
        }
    }
    let dt = t0.elapsed();
    let c = shard.counters();
    if to_wan != flows.len()
        || c.drops_total() != 0
        || shard.session_count() != before + flows.len()
    {
        return Err(format!(
            "session setup failed: {to_wan} of {} packets to the WAN, {} drops ({}), {} sessions",
            flows.len(),
            c.drops_total(),
            drops(c),
            shard.session_count()
        ));
    }
    if c.events_dropped != 0 || events < flows.len() {
        return Err(format!(
            "{} events read, {} dropped",
            events, c.events_dropped
        ));
    }
    Ok(dt)
}

/// One untimed pass over every flow: each verdict must be ToWan and each
/// rewritten frame must carry valid checksums, the pool source address and
/// a decremented TTL.
fn verify(shard: &mut Shard, tpl: &[u8; FRAME_LEN], flows: &[Rec]) -> Result<(), String> {
    let live = shard.session_count();
    let pool = shard.config().pool.clone();
    let mut b = Slot([0; 64]);
    for (i, r) in flows.iter().enumerate() {
        fill(&mut b, tpl, r);
        let f = &mut b.0[..FRAME_LEN];
        if !ip_header_ok(f) || !udp_ok(f) {
            return Err(format!(
                "flow {i}: the benchmark built a frame with a bad checksum"
            ));
        }
        let v = shard.process(f, Side::Lan, NOW);
        if v != Verdict::ToWan {
            return Err(format!(
                "flow {i}: verdict {v}, expected {}",
                Verdict::ToWan
            ));
        }
        let src = u32::from_be_bytes([f[at::SRC], f[at::SRC + 1], f[at::SRC + 2], f[at::SRC + 3]]);
        if !ip_header_ok(f)
            || !udp_ok(f)
            || !pool.iter().any(|p| p.contains(src))
            || f[at::TTL] != 63
            || f[0..6] != GATEWAY_MAC
        {
            return Err(format!("flow {i}: badly rewritten frame {:02x?}", &f[..]));
        }
    }
    if shard.session_count() != live || shard.counters().drops_total() != 0 {
        return Err("verification pass created sessions or dropped frames".into());
    }
    Ok(())
}

/// Processes the whole sequence in batches; returns the time taken. Fails
/// if any verdict is not ToWan.
fn fastpath(shard: &mut Shard, tpl: &[u8; FRAME_LEN], seq: &[Rec]) -> Result<Duration, String> {
    run_fastpath(shard, tpl, seq, true)
}

/// The fast path with `process` called frame by frame inside each batch
/// (no overlapped table fetches), to show what `process_batch` buys.
fn fastpath_single(
    shard: &mut Shard,
    tpl: &[u8; FRAME_LEN],
    seq: &[Rec],
) -> Result<Duration, String> {
    run_fastpath(shard, tpl, seq, false)
}

fn run_fastpath(
    shard: &mut Shard,
    tpl: &[u8; FRAME_LEN],
    seq: &[Rec],
    batched: bool,
) -> Result<Duration, String> {
    let live = shard.session_count();
    let mut bufs = [Slot([0; 64]); BATCH];
    let mut verdicts = [Verdict::Pass; BATCH];
    let mut to_wan = 0usize;
    let t0 = Instant::now();
    for chunk in seq.chunks_exact(BATCH) {
        for (b, r) in bufs.iter_mut().zip(chunk) {
            fill(b, tpl, r);
        }
        let bufs = black_box(&mut bufs);
        if batched {
            shard.process_batch(bufs, Side::Lan, NOW, &mut verdicts);
        } else {
            for (b, v) in bufs.iter_mut().zip(verdicts.iter_mut()) {
                *v = shard.process(b.as_mut(), Side::Lan, NOW);
            }
        }
        to_wan += verdicts.iter().filter(|v| **v == Verdict::ToWan).count();
    }
    let dt = t0.elapsed();
    let n = seq.len() / BATCH * BATCH;
    if to_wan != n || shard.session_count() != live {
        return Err(format!(
            "fast path: {to_wan} of {n} verdicts to the WAN, sessions {live} -> {}, drops: {}",
            shard.session_count(),
            drops(shard.counters())
        ));
    }
    Ok(dt)
}

/// The least a forwarder does: check the ethertype and IPv4 version and
/// IHL, read addresses and ports, swap the MACs.
#[inline(always)]
fn touch_one(f: &mut [u8]) -> Option<u64> {
    if f[at::ETHERTYPE..at::IP] != [0x08, 0x00] || f[at::IP] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(f[at::IP] & 0x0f) * 4;
    let l4 = at::IP + ihl;
    if ihl < 20 || l4 + 4 > f.len() {
        return None;
    }
    let src = u32::from_be_bytes([f[at::SRC], f[at::SRC + 1], f[at::SRC + 2], f[at::SRC + 3]]);
    let dst = u32::from_be_bytes([f[at::DST], f[at::DST + 1], f[at::DST + 2], f[at::DST + 3]]);
    let sport = u16::from_be_bytes([f[l4], f[l4 + 1]]);
    let dport = u16::from_be_bytes([f[l4 + 2], f[l4 + 3]]);
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&f[0..6]);
    f.copy_within(6..12, 0);
    f[6..12].copy_from_slice(&mac);
    Some((u64::from(src) << 32 | u64::from(dst)) ^ (u64::from(sport) << 16 | u64::from(dport)))
}

fn touch(tpl: &[u8; FRAME_LEN], seq: &[Rec]) -> Result<Duration, String> {
    let mut bufs = [Slot([0; 64]); BATCH];
    let mut ok = 0usize;
    let mut acc = 0u64;
    let t0 = Instant::now();
    for chunk in seq.chunks_exact(BATCH) {
        for (b, r) in bufs.iter_mut().zip(chunk) {
            fill(b, tpl, r);
        }
        let bufs = black_box(&mut bufs);
        for b in bufs.iter_mut() {
            if let Some(x) = touch_one(&mut b.0[..FRAME_LEN]) {
                acc = acc.wrapping_add(x);
                ok += 1;
            }
        }
    }
    let dt = t0.elapsed();
    black_box(acc);
    let n = seq.len() / BATCH * BATCH;
    if ok != n {
        return Err(format!("touch: {ok} of {n} frames parsed"));
    }
    Ok(dt)
}

// ---- reporting ----------------------------------------------------------------

/// Median, minimum and maximum of the runs.
fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (med, v[0], v[n - 1])
}

/// Emits rates measured in packets per second as Mpps.
/// The drop counters that are not 0, by name ("none" when all are).
fn drops(c: &Counters) -> String {
    let v: Vec<String> = DropReason::ALL
        .iter()
        .filter(|d| c.drop_count(**d) > 0)
        .map(|d| format!("{} {}", d.name(), c.drop_count(*d)))
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn emit_mpps(name: &str, per_s: Vec<f64>) {
    emit(
        name,
        "Mpps",
        per_s.into_iter().map(|x| x / 1e6).collect(),
        3,
    );
}

fn emit(name: &str, unit: &str, runs: Vec<f64>, digits: usize) {
    let n = runs.len();
    let (med, min, max) = stats(runs);
    println!(
        "{{\"name\":\"{name}\",\"value\":{med:.digits$},\"unit\":\"{unit}\",\"min\":{min:.digits$},\
         \"max\":{max:.digits$},\"runs\":{n}}}"
    );
}

/// Repeats a timed measurement; returns the rate (items per second) of each
/// run.
fn repeat(
    label: &str,
    plan: Plan,
    items: usize,
    mut once: impl FnMut() -> Result<Duration, String>,
) -> Result<Vec<f64>, String> {
    let mut rates = Vec::with_capacity(plan.runs);
    for r in 0..plan.runs {
        let dt = once()?;
        let rate = items as f64 / dt.as_secs_f64();
        eprintln!(
            "  {label} run {}/{}: {items} in {:.3} s = {:.3} M/s ({:.1} ns each)",
            r + 1,
            plan.runs,
            dt.as_secs_f64(),
            rate / 1e6,
            dt.as_secs_f64() * 1e9 / items as f64
        );
        rates.push(rate);
    }
    Ok(rates)
}

/// Resident bytes of this process, from /proc/self/statm.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    let kib = std::fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("KernelPageSize:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        });
    kib.map_or(4096, |k| k * 1024)
}

/// Table slots per snapshot step of a worker (`masq_xsk::command::STEP_SLOTS`).
const STEP_SLOTS: usize = 4096;

/// The pauses the control thread's requests cost a worker on a full
/// table: one snapshot step, and removing every session (what an address
/// change in MASQUERADE mode or `masq flush` with no subscriber does).
fn control_pauses(shard: &mut Shard) -> Result<(), String> {
    let live = shard.session_count();
    let mut buf = Vec::with_capacity(live);
    let mut steps = Vec::new();
    let mut at = Some(0);
    while let Some(from) = at {
        let t = Instant::now();
        at = shard.sessions_in(from, STEP_SLOTS, usize::MAX, |_| true, &mut buf);
        steps.push(t.elapsed().as_secs_f64() * 1e6);
    }
    if buf.len() != live {
        return Err(format!("snapshot saw {} of {live} sessions", buf.len()));
    }
    eprintln!(
        "snapshot_step_us: {} steps of {STEP_SLOTS} slots over {live} sessions",
        steps.len()
    );
    emit("snapshot_step_us", "us", steps, 1);
    let t = Instant::now();
    let n = shard.flush_all(Time(0));
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if n != live || shard.session_count() != 0 {
        return Err(format!("flush_all removed {n} of {live}"));
    }
    while shard.pop_event().is_some() {}
    eprintln!("remove_all_ms_1m: every session removed, tables cleared in place ({n})");
    emit("remove_all_ms_1m", "ms", vec![ms], 1);
    Ok(())
}

fn run(plan: Plan) -> Result<(), String> {
    let started = Instant::now();
    let tpl = template();
    let mut rng = SplitMix64(0x6d61_7371_6265_6e63);
    let large_flows = flows(&tpl, LARGE);
    let small_flows = flows(&tpl, SMALL);
    let cfg = config(LARGE)?;

    // The full shard first, while the heap is fresh, for the memory figures.
    eprintln!("building a shard of {LARGE} sessions");
    let rss0 = rss_bytes();
    let mut large = new_shard(&cfg)?;
    create(&mut large, &tpl, &large_flows)?;
    let rss1 = rss_bytes();
    let mem = large.memory_bytes();
    verify(&mut large, &tpl, &large_flows)?;

    eprintln!("building a shard of {SMALL} sessions (max_sessions {LARGE})");
    let mut small = new_shard(&cfg)?;
    create(&mut small, &tpl, &small_flows)?;
    verify(&mut small, &tpl, &small_flows)?;

    eprintln!("building access sequences of {} packets", plan.packets);
    let small_seq = access_sequence(&small_flows, plan.packets, &mut rng);
    let large_seq = access_sequence(&large_flows, plan.packets, &mut rng);

    eprintln!("fastpath_mpps_10k: {SMALL} sessions");
    fastpath(&mut small, &tpl, &small_seq)?; // warm-up
    let r = repeat("fastpath 10k", plan, plan.packets, || {
        fastpath(&mut small, &tpl, &small_seq)
    })?;
    emit_mpps("fastpath_mpps_10k", r);
    drop(small);

    eprintln!("fastpath_mpps_1m: {LARGE} sessions");
    fastpath(&mut large, &tpl, &large_seq)?; // warm-up
    let r = repeat("fastpath 1m", plan, plan.packets, || {
        fastpath(&mut large, &tpl, &large_seq)
    })?;
    emit_mpps("fastpath_mpps_1m", r);
    eprintln!("fastpath_single_mpps_1m: {LARGE} sessions, process() frame by frame");
    let r = repeat("fastpath single 1m", plan, plan.packets, || {
        fastpath_single(&mut large, &tpl, &large_seq)
    })?;
    emit_mpps("fastpath_single_mpps_1m", r);
    if large.counters().drops_total() != 0 {
        return Err(format!(
            "drops after the fast path: {}",
            drops(large.counters())
        ));
    }
    control_pauses(&mut large)?;
    drop(large);

    if plan.huge {
        eprintln!("fastpath_mpps_10m: building a shard of {HUGE} sessions");
        let huge_flows = flows(&tpl, HUGE);
        // 198.18.0.0/20: 4096 addresses of 126 blocks.
        let mut huge = new_shard(&config_with_pool(HUGE, Prefix::new(0xc612_0000, 20)?)?)?;
        create(&mut huge, &tpl, &huge_flows)?;
        verify(&mut huge, &tpl, &huge_flows)?;
        let seq = access_sequence(&huge_flows, plan.packets, &mut rng);
        drop(huge_flows);
        fastpath(&mut huge, &tpl, &seq)?; // warm-up
        let r = repeat("fastpath 10m", plan, plan.packets, || {
            fastpath(&mut huge, &tpl, &seq)
        })?;
        emit_mpps("fastpath_mpps_10m", r);
        if huge.counters().drops_total() != 0 {
            return Err(format!(
                "drops on the 10M table: {}",
                drops(huge.counters())
            ));
        }
    }

    eprintln!("touch_mpps: template copy, minimal parse, MAC swap");
    touch(&tpl, &large_seq)?; // warm-up
    let r = repeat("touch", plan, plan.packets, || touch(&tpl, &large_seq))?;
    emit_mpps("touch_mpps", r);
    drop(large_seq);
    drop(small_seq);

    let setup_flows = &large_flows[..plan.setup_flows];
    eprintln!(
        "setup_per_s: {} new flows into a fresh shard",
        setup_flows.len()
    );
    let r = repeat("setup", plan, setup_flows.len(), || {
        let mut s = new_shard(&cfg)?;
        let dt = create(&mut s, &tpl, setup_flows)?;
        drop(black_box(s));
        Ok(dt)
    })?;
    emit("setup_per_s", "sessions/s", r, 0);

    let per = mem as f64 / LARGE as f64;
    eprintln!("bytes_per_session: memory_bytes() {mem} / {LARGE} sessions = {per:.1}");
    emit("bytes_per_session", "bytes", vec![per], 1);
    match (rss0, rss1) {
        (Some(a), Some(b)) => {
            let per = b.saturating_sub(a) as f64 / LARGE as f64;
            eprintln!(
                "rss_bytes_per_session: resident {a} -> {b} bytes over {LARGE} sessions = {per:.1}"
            );
            emit("rss_bytes_per_session", "bytes", vec![per], 1);
        }
        _ => eprintln!("rss_bytes_per_session: /proc/self/statm unreadable, skipped"),
    }
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> ExitCode {
    let mut plan = FULL;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--quick" => plan = QUICK,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("bench-core: unknown argument {a:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if cfg!(debug_assertions) {
        eprintln!("bench-core: warning: a debug build; figures mean nothing (use --release)");
    }
    eprintln!(
        "bench-core: {} runs of {} packets, {} setup flows",
        plan.runs, plan.packets, plan.setup_flows
    );
    match run(plan) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-core: error: {e}");
            ExitCode::FAILURE
        }
    }
}
