//! A walk through the NAT core on in-memory frames: two subscribers, a
//! remote server, replies, an ICMP error, a hairpin, an unsolicited probe,
//! and the timers, printed as an operator would read them.

use masq_core::addr::fmt_addr;
use masq_core::{Config, Side, Time, Verdict};
use masq_tests::check::{checksums, seen};
use masq_tests::frames::{self, From, SYN, SYN_ACK};
use masq_tests::harness::Nat;

fn ip(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

fn show(what: &str, before: &[u8], after: &[u8], v: Verdict) {
    let b = seen(before);
    let a = seen(after);
    let ok = if checksums(after).is_ok() {
        "checksums ok"
    } else {
        "CHECKSUM WRONG"
    };
    println!(
        "  {what:<28} {}:{} -> {}:{}  =>  {}:{} -> {}:{}  [{v}, {ok}]",
        ip(b.src),
        b.sport,
        ip(b.dst),
        b.dport,
        ip(a.src),
        a.sport,
        ip(a.dst),
        a.dport
    );
}

fn main() {
    let cfg = Config {
        inside: vec![
            "192.168.0.0/16".parse().unwrap(),
            "100.64.0.0/10".parse().unwrap(),
        ],
        pool: vec!["203.0.113.0/30".parse().unwrap()],
        workers: 2,
        max_sessions: 4096,
        max_subscribers: 256,
        event_queue: 1024,
        ..Config::default()
    };
    println!("masq core demo: in-memory frames through a 2-shard NAT (no network interfaces yet)");
    println!(
        "  inside 192.168.0.0/16, 100.64.0.0/10; pool 203.0.113.0/30; blocks of {} ports",
        cfg.block_size
    );
    let mut nat = Nat::new(&cfg);
    let (h1, h2, srv) = ([192, 168, 1, 10], [100, 64, 0, 9], [198, 51, 100, 1]);

    println!("\nTranslation:");
    let mut q = frames::udp(From::Lan, h1, 40000, srv, 53, b"query");
    let before = q.clone();
    let v = nat.send(&mut q, Side::Lan);
    show("UDP out (h1)", &before, &q, v);
    let o = seen(&q);
    let mut r = frames::udp(From::Wan, srv, 53, o.src, o.sport, b"answer");
    let before = r.clone();
    let v = nat.send(&mut r, Side::Wan);
    show("UDP reply in", &before, &r, v);

    let mut s = frames::tcp(From::Lan, h2, 51000, srv, 443, SYN, b"");
    let before = s.clone();
    let v = nat.send(&mut s, Side::Lan);
    show("TCP SYN out (h2)", &before, &s, v);
    let t = seen(&s);
    let mut sa = frames::tcp(From::Wan, srv, 443, t.src, t.sport, SYN_ACK, b"");
    let before = sa.clone();
    let v = nat.send(&mut sa, Side::Wan);
    show("TCP SYN-ACK in", &before, &sa, v);

    let mut e = frames::icmp_error(From::Wan, [198, 51, 100, 254], o.src, 3, 3, &q, 8);
    let before = e.clone();
    let v = nat.send(&mut e, Side::Wan);
    show("ICMP port unreachable in", &before, &e, v);

    let mut hp = frames::udp(From::Lan, h2, 52000, o.src, o.sport, b"hairpin");
    let before = hp.clone();
    let v = nat.send(&mut hp, Side::Lan);
    show("hairpin h2 -> h1's mapping", &before, &hp, v);

    let mut probe = frames::udp(
        From::Wan,
        [198, 51, 100, 66],
        1234,
        o.src,
        o.sport + 2,
        b"scan",
    );
    let before = probe.clone();
    let v = nat.send(&mut probe, Side::Wan);
    show("unsolicited probe in", &before, &probe, v);

    println!("\nSessions:");
    for shard in &nat.shards {
        for s in shard.sessions() {
            println!(
                "  shard {} {:<4} {}:{} <-> {}:{} remote {}:{} {} expires at {} s",
                shard.id(),
                masq_core::proto::name_of(s.proto),
                fmt_addr(s.inside.addr),
                s.inside.port,
                fmt_addr(s.outside.addr),
                s.outside.port,
                fmt_addr(s.remote.addr),
                s.remote.port,
                s.tcp.map_or("-", masq_core::TcpState::name),
                s.expires
            );
        }
    }

    println!("\nEvents:");
    for shard in &mut nat.shards {
        while let Some(ev) = shard.pop_event() {
            println!("  shard {}: {ev}", shard.id());
        }
    }

    println!("\nTimers: advancing the clock to 301 s (UDP 300 s, TCP established 7440 s)");
    nat.now = Time::from_secs(301);
    let removed: usize = nat
        .shards
        .iter_mut()
        .map(|s| s.expire(Time::from_secs(301), usize::MAX))
        .sum();
    println!("  expired {removed} sessions; {} left", nat.sessions());

    println!("\nCounters:");
    for shard in &nat.shards {
        let c = shard.counters();
        println!(
            "  shard {}: rx lan {} wan {} hairpin {}; tx lan {} wan {}; handed off {}; created {} expired {}",
            shard.id(),
            c.rx_lan,
            c.rx_wan,
            c.rx_hairpin,
            c.tx_lan,
            c.tx_wan,
            c.handed_off,
            c.sessions_created,
            c.sessions_expired
        );
        for r in masq_core::DropReason::ALL {
            if c.drop_count(*r) > 0 {
                println!("    drop {} = {}", r.name(), c.drop_count(*r));
            }
        }
    }
}
