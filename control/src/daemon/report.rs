//! What masq prints about its traffic: the statistics line
//! (`--stats-interval`) and the report at exit.

use std::sync::atomic::Ordering;

use masq_core::{DropReason, Shard, TcpState};
use masq_xsk::worker::{Io, Shared};

/// One line of totals for `--stats-interval` and the final report.
pub fn stats_line(shared: &Shared) -> String {
    let io = |k: Io| shared.total(|s| s.io(k));
    format!(
        "rx lan {} wan {}, tx lan {} wan {}, sessions {}, nat drops {}, tx ring full {}, handoff full {}",
        io(Io::RxLan),
        io(Io::RxWan),
        io(Io::TxLan),
        io(Io::TxWan),
        shared.total(|s| s.sessions()),
        shared.total(|s| s.drops.iter().map(|d| d.load(Ordering::Relaxed)).sum()),
        io(Io::TxRingFull),
        io(Io::HandoffFull),
    )
}

pub(super) fn report(
    shared: &Shared,
    shards: &[Shard],
    xdp: [Option<(u64, u64)>; 2],
    max_sessions: usize,
) {
    println!("== masq report ==");
    println!("{}", stats_line(shared));
    if let [Some(l), Some(w)] = xdp {
        println!(
            "xdp: lan redirected {} passed {}; wan redirected {} passed {}",
            l.0, l.1, w.0, w.1
        );
    }
    let r = Ordering::Relaxed;
    for (i, s) in shared.stats.iter().enumerate() {
        let polls = s.io(Io::Polls).max(1);
        println!(
            "worker {i}: busy {:.3} of {} polls, handed off {} in {}, pass dropped {}, frames unaccounted {}",
            s.io(Io::BusyPolls) as f64 / polls as f64,
            polls,
            s.io(Io::HandedOff),
            s.io(Io::HandedIn),
            s.io(Io::PassDropped),
            s.frames_unaccounted.load(r)
        );
    }
    let mut listed = 0;
    println!("sessions:");
    for shard in shards {
        let c = shard.counters();
        for d in DropReason::ALL {
            if c.drop_count(*d) > 0 {
                println!(
                    "  shard {} drop {} = {}",
                    shard.id(),
                    d.name(),
                    c.drop_count(*d)
                );
            }
        }
        println!(
            "  shard {}: {} live, {} created, {} expired",
            shard.id(),
            shard.session_count(),
            c.sessions_created,
            c.sessions_expired
        );
        for s in shard.sessions() {
            if listed >= max_sessions {
                break;
            }
            listed += 1;
            let proto = masq_core::proto::Name(s.proto);
            println!(
                "  {proto:<4} {} -> {} -> remote {}  {}",
                s.inside,
                s.outside,
                s.remote,
                s.tcp.map_or("-", TcpState::name)
            );
        }
    }
}
