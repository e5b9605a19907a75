//! Requests from the control thread to a worker, and the answers.
//!
//! The mailbox is the one channel from the control thread to a worker:
//! everything the control thread tells a worker after it started (a
//! reloaded configuration, the WAN address, the WAN gateway's MAC, the
//! MACs of static mappings' hosts, the LAN address) is a [`Command`]. The
//! only other thing a worker reads from the control thread is the `stop`
//! flag of `worker::Shared`, an atomic each loop checks, so that stopping
//! never waits behind queued commands or a full ring. What flows the other
//! way besides [`Reply`]s (counters, heartbeats, NAT events, socket fds)
//! is published by the worker and only read by the control thread.
//!
//! Each worker has a small inbound ring of [`Command`]s and an outbound ring
//! of [`Reply`]s (crossbeam `ArrayQueue`s: lock-free, bounded). The worker
//! looks at its ring between batches and never waits on the control
//! thread: a full reply ring drops the answer (the control thread then
//! times out and says so). Snapshots of the session table are taken in
//! steps of [`STEP_SLOTS`] table slots per loop, so a snapshot of a large
//! table never stalls forwarding for long. Every command carries a sequence
//! number that its reply repeats, so a late reply is never taken for the
//! answer to a later request.

use std::fmt;
use std::net::Ipv4Addr;

use crossbeam_queue::ArrayQueue;
use masq_core::wire::Mac;
use masq_core::{
    Config, Granted, HoldAsk, HoldKind, HoldRefusal, SessionInfo, Shard, SubscriberInfo, Time,
};

/// Table slots a worker walks per loop while it builds a snapshot.
pub const STEP_SLOTS: usize = 4096;
/// Capacity of each command and reply ring.
pub const RING: usize = 16;

/// Which sessions a snapshot or a flush selects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Select {
    /// Only sessions of this inside address.
    pub subscriber: Option<u32>,
    /// Only sessions of this external address and (when not 0) port.
    pub external: Option<(u32, u16)>,
}

impl Select {
    /// Whether `s` is selected.
    pub fn picks(&self, s: &SessionInfo) -> bool {
        self.subscriber.is_none_or(|a| s.inside.addr == a)
            && self
                .external
                .is_none_or(|(a, p)| s.outside.addr == a && (p == 0 || s.outside.port == p))
    }
}

/// What the control thread asks.
#[derive(Debug)]
pub enum Command {
    /// Apply a reloaded configuration ([`Shard::reconfigure`]).
    Reconfigure(Box<Config>),
    /// Follow the WAN address ([`Shard::set_external_address`]).
    SetAddress(Option<u32>),
    /// Remove the selected sessions.
    Flush(Select),
    /// Copy up to `max` selected sessions into `buf` (given by the control
    /// thread, so the worker allocates only if it is too small).
    Sessions {
        /// The selection.
        select: Select,
        /// Most sessions to return.
        max: usize,
        /// Where to put them.
        buf: Vec<SessionInfo>,
    },
    /// List the subscribers.
    Subscribers,
    /// Port blocks per external address: (address, in use, free now).
    Blocks,
    /// The MAC of a static mapping's inside host ([`Shard::set_neighbor`]).
    SetNeighbor(u32, Mac),
    /// The WAN gateway's MAC, the destination of every frame sent to the
    /// WAN. The worker applies it to its next hops ([`Shard::set_next_hops`])
    /// and, until the first one, drops frames for the WAN as `no_next_hop`.
    SetGateway(Mac),
    /// The source of ICMP errors to subscribers ([`Shard::set_lan_address`]).
    SetLanAddress(u32),
    /// The MTUs of the LAN and WAN links ([`Shard::set_mtus`]).
    SetMtus {
        /// LAN MTU.
        lan: u16,
        /// WAN MTU.
        wan: u16,
    },
    /// Create, renew or change a subscriber's held mapping (PCP, NAT-PMP;
    /// [`Shard::hold`]). Sent to the subscriber's owner worker only.
    Hold(Box<HoldAsk>),
    /// Remove a held mapping ([`Shard::release_hold`]).
    Release {
        /// Map or peer.
        kind: HoldKind,
        /// TCP or UDP.
        proto: u8,
        /// Inside address.
        inside: u32,
        /// Inside port.
        inside_port: u16,
    },
    /// The external address a subscriber is (or would be) mapped to
    /// ([`Shard::external_of`]).
    ExternalOf(u32),
    /// Fault injection: the worker sleeps this long before it goes on, as
    /// a stuck worker would (sent only when masq runs with
    /// `--fault-injection`, so that tests can check stall detection).
    Pause(std::time::Duration),
}

/// A worker's answer.
#[derive(Debug)]
pub enum Reply {
    /// To `Reconfigure` and `SetAddress`: sessions removed, or why not; to
    /// `SetNeighbor`, `SetGateway`, `SetLanAddress` and `Pause`: done; to
    /// `SetMtus`: done, or why not.
    Applied(Result<usize, String>),
    /// To `Flush`: sessions removed.
    Flushed(usize),
    /// To `Sessions`.
    Sessions(Vec<SessionInfo>),
    /// To `Subscribers`.
    Subscribers(Vec<SubscriberInfo>),
    /// To `Blocks`.
    Blocks(Vec<(u32, u32, u32)>),
    /// To `Hold`.
    Held(Result<Granted, HoldRefusal>),
    /// To `Release`: whether there was such a mapping.
    Released(bool),
    /// To `ExternalOf`.
    External(Option<u32>),
}

impl fmt::Display for Select {
    /// `all sessions`, or the subscriber and the external address (and
    /// port) selected.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.subscriber, self.external) {
            (None, None) => f.write_str("all sessions"),
            (s, e) => {
                f.write_str("sessions")?;
                if let Some(a) = s {
                    write!(f, " of subscriber {}", Ipv4Addr::from(a))?;
                }
                match e {
                    Some((a, 0)) => write!(f, " on {}", Ipv4Addr::from(a)),
                    Some((a, p)) => write!(f, " on {}:{p}", Ipv4Addr::from(a)),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Display for Command {
    /// What is asked, in words (`set gateway 02:00:00:00:00:01`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Reconfigure(_) => f.write_str("reconfigure"),
            Command::SetAddress(Some(a)) => write!(f, "set address {}", Ipv4Addr::from(*a)),
            Command::SetAddress(None) => f.write_str("set address none"),
            Command::Flush(s) => write!(f, "flush {s}"),
            Command::Sessions { select, max, .. } => write!(f, "list {select} (at most {max})"),
            Command::Subscribers => f.write_str("list subscribers"),
            Command::Blocks => f.write_str("list port blocks"),
            Command::SetNeighbor(a, mac) => {
                write!(f, "set neighbour {} at {mac}", Ipv4Addr::from(*a))
            }
            Command::SetGateway(mac) => write!(f, "set gateway {mac}"),
            Command::SetLanAddress(a) => write!(f, "set LAN address {}", Ipv4Addr::from(*a)),
            Command::SetMtus { lan, wan } => write!(f, "set MTUs: LAN {lan}, WAN {wan}"),
            Command::Hold(a) => write!(
                f,
                "hold {} {}:{} ({})",
                masq_core::proto::name_of(a.proto),
                Ipv4Addr::from(a.inside),
                a.inside_port,
                match a.kind {
                    HoldKind::Map => "map",
                    HoldKind::Peer { .. } => "peer",
                }
            ),
            Command::Release {
                proto,
                inside,
                inside_port,
                ..
            } => write!(
                f,
                "release {} {}:{inside_port}",
                masq_core::proto::name_of(*proto),
                Ipv4Addr::from(*inside)
            ),
            Command::ExternalOf(a) => write!(f, "external address of {}", Ipv4Addr::from(*a)),
            Command::Pause(d) => write!(f, "pause {} ms", d.as_millis()),
        }
    }
}

impl fmt::Display for Reply {
    /// The answer in words (`applied, 3 session(s) removed`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Applied(Ok(n)) => write!(f, "applied, {n} session(s) removed"),
            Reply::Applied(Err(e)) => write!(f, "refused: {e}"),
            Reply::Flushed(n) => write!(f, "{n} session(s) flushed"),
            Reply::Sessions(v) => write!(f, "{} session(s)", v.len()),
            Reply::Subscribers(v) => write!(f, "{} subscriber(s)", v.len()),
            Reply::Blocks(v) => write!(f, "port blocks on {} address(es)", v.len()),
            Reply::Held(Ok(g)) => write!(
                f,
                "held on {}:{} until second {}",
                Ipv4Addr::from(g.external),
                g.external_port,
                g.until
            ),
            Reply::Held(Err(e)) => write!(f, "refused: {e}"),
            Reply::Released(true) => f.write_str("released"),
            Reply::Released(false) => f.write_str("no such mapping"),
            Reply::External(Some(a)) => write!(f, "external address {}", Ipv4Addr::from(*a)),
            Reply::External(None) => f.write_str("no external address"),
        }
    }
}

/// What one call of [`Server::serve`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// Nothing was waiting.
    Idle,
    /// A command was applied and answered, or a snapshot step taken.
    Worked,
    /// A `SetGateway` was answered: the worker applies the MAC to its next
    /// hops before it takes another frame.
    Gateway(Mac),
}

/// A worker's two rings.
#[derive(Debug)]
pub struct Mailbox {
    /// Control thread to worker: (sequence number, command).
    pub commands: ArrayQueue<(u64, Command)>,
    /// Worker to control thread: (sequence number, reply).
    pub replies: ArrayQueue<(u64, Reply)>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox {
            commands: ArrayQueue::new(RING),
            replies: ArrayQueue::new(RING),
        }
    }
}

/// A session snapshot being taken in steps.
#[derive(Debug)]
struct Walk {
    seq: u64,
    select: Select,
    max: usize,
    at: usize,
    buf: Vec<SessionInfo>,
}

/// The worker's side of its mailbox.
#[derive(Debug, Default)]
pub struct Server {
    walk: Option<Walk>,
    /// Replies lost because the reply ring was full.
    pub replies_dropped: u64,
}

impl Server {
    /// Takes one step of a snapshot in progress, or the next command.
    pub fn serve(&mut self, shard: &mut Shard, now: Time, mb: &Mailbox) -> Served {
        if let Some(w) = &mut self.walk {
            let next =
                shard.sessions_in(w.at, STEP_SLOTS, w.max, |s| w.select.picks(s), &mut w.buf);
            match next {
                Some(at) => w.at = at,
                None => {
                    if let Some(w) = self.walk.take() {
                        self.reply(mb, w.seq, Reply::Sessions(w.buf));
                    }
                }
            }
            return Served::Worked;
        }
        let Some((seq, cmd)) = mb.commands.pop() else {
            return Served::Idle;
        };
        let mut served = Served::Worked;
        let reply = match cmd {
            Command::Reconfigure(cfg) => Reply::Applied(
                shard
                    .reconfigure(&cfg, now)
                    .map(|()| 0)
                    .map_err(|e| e.to_string()),
            ),
            Command::SetAddress(a) => Reply::Applied(
                shard
                    .set_external_address(a, now)
                    .map_err(|e| e.to_string()),
            ),
            Command::Flush(select) if select == Select::default() => {
                Reply::Flushed(shard.flush_all(now))
            }
            Command::Flush(select) => Reply::Flushed(shard.flush(now, |s| select.picks(s))),
            Command::Sessions {
                select,
                max,
                mut buf,
            } => {
                buf.clear();
                self.walk = Some(Walk {
                    seq,
                    select,
                    max,
                    at: 0,
                    buf,
                });
                return Served::Worked;
            }
            Command::Subscribers => Reply::Subscribers(shard.subscribers().collect()),
            Command::Blocks => Reply::Blocks(shard.block_usage()),
            Command::SetNeighbor(a, mac) => {
                shard.set_neighbor(a, mac);
                Reply::Applied(Ok(0))
            }
            Command::SetGateway(mac) => {
                served = Served::Gateway(mac);
                Reply::Applied(Ok(0))
            }
            Command::SetLanAddress(a) => {
                shard.set_lan_address(a);
                Reply::Applied(Ok(0))
            }
            Command::SetMtus { lan, wan } => Reply::Applied(
                shard
                    .set_mtus(lan, wan)
                    .map(|()| 0)
                    .map_err(|e| e.to_string()),
            ),
            Command::Hold(ask) => Reply::Held(shard.hold(&ask, now)),
            Command::Release {
                kind,
                proto,
                inside,
                inside_port,
            } => Reply::Released(shard.release_hold(kind, proto, inside, inside_port, now)),
            Command::ExternalOf(a) => Reply::External(shard.external_of(a)),
            Command::Pause(d) => {
                std::thread::sleep(d);
                Reply::Applied(Ok(0))
            }
        };
        self.reply(mb, seq, reply);
        served
    }

    fn reply(&mut self, mb: &Mailbox, seq: u64, r: Reply) {
        if mb.replies.push((seq, r)).is_err() {
            self.replies_dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard() -> Shard {
        let cfg = Config {
            pool: vec!["203.0.113.5/32".parse().unwrap()],
            max_sessions: 40000,
            max_subscribers: 16,
            event_queue: 16,
            ..Config::default()
        };
        Shard::new(&cfg, 0, Time(0)).unwrap()
    }

    #[test]
    fn commands_are_answered_with_their_sequence_number() {
        let mut s = shard();
        let mb = Mailbox::default();
        let mut srv = Server::default();
        assert_eq!(srv.serve(&mut s, Time(0), &mb), Served::Idle);
        mb.commands
            .push((7, Command::SetAddress(Some(0xcb00_7163))))
            .unwrap();
        mb.commands.push((8, Command::Blocks)).unwrap();
        mb.commands
            .push((
                9,
                Command::Sessions {
                    select: Select::default(),
                    max: 10,
                    buf: Vec::new(),
                },
            ))
            .unwrap();
        while srv.serve(&mut s, Time(0), &mb) != Served::Idle {}
        let (seq, r) = mb.replies.pop().unwrap();
        assert_eq!(seq, 7);
        assert!(matches!(r, Reply::Applied(Ok(0))), "{r:?}");
        let (seq, r) = mb.replies.pop().unwrap();
        assert_eq!(seq, 8);
        let Reply::Blocks(b) = r else { panic!("{r:?}") };
        assert_eq!(b[0].0, 0xcb00_7163, "the new address");
        // 40000 slots take ten steps; the answer comes at the end.
        let (seq, r) = mb.replies.pop().unwrap();
        assert_eq!(seq, 9);
        assert!(matches!(r, Reply::Sessions(v) if v.is_empty()));
        assert!(mb.replies.pop().is_none());
    }

    #[test]
    fn the_gateway_goes_back_to_the_worker() {
        let mut s = shard();
        let mb = Mailbox::default();
        let mut srv = Server::default();
        let mac = Mac([2, 0, 0, 0, 0, 1]);
        mb.commands.push((3, Command::SetGateway(mac))).unwrap();
        assert_eq!(srv.serve(&mut s, Time(0), &mb), Served::Gateway(mac));
        let (seq, r) = mb.replies.pop().unwrap();
        assert_eq!(seq, 3);
        assert!(matches!(r, Reply::Applied(Ok(0))), "{r:?}");
    }

    #[test]
    fn commands_and_replies_print_in_words() {
        let cases = [
            (
                Command::SetGateway(Mac([2, 0, 0, 0, 0, 1])).to_string(),
                "set gateway 02:00:00:00:00:01",
            ),
            (
                Command::SetAddress(Some(0xcb00_7105)).to_string(),
                "set address 203.0.113.5",
            ),
            (
                Command::Flush(Select::default()).to_string(),
                "flush all sessions",
            ),
            (
                Command::Flush(Select {
                    subscriber: Some(0x6440_0001),
                    external: Some((0xcb00_7105, 1024)),
                })
                .to_string(),
                "flush sessions of subscriber 100.64.0.1 on 203.0.113.5:1024",
            ),
            (
                Command::Pause(std::time::Duration::from_millis(1500)).to_string(),
                "pause 1500 ms",
            ),
            (
                Reply::Applied(Ok(3)).to_string(),
                "applied, 3 session(s) removed",
            ),
            (Reply::Applied(Err("no".into())).to_string(), "refused: no"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn errors_come_back_as_text() {
        let mut s = shard();
        let mb = Mailbox::default();
        let mut srv = Server::default();
        let mut cfg = s.config().clone();
        cfg.timeouts.udp = 10;
        mb.commands
            .push((1, Command::Reconfigure(Box::new(cfg))))
            .unwrap();
        srv.serve(&mut s, Time(0), &mb);
        let (_, r) = mb.replies.pop().unwrap();
        let Reply::Applied(Err(e)) = r else {
            panic!("{r:?}")
        };
        assert!(e.starts_with("timeouts.udp:"), "{e}");
    }

    #[test]
    fn select_by_subscriber_and_external() {
        use masq_core::Endpoint;
        let s = SessionInfo {
            proto: 17,
            inside: Endpoint { addr: 1, port: 10 },
            outside: Endpoint { addr: 2, port: 20 },
            remote: Endpoint { addr: 3, port: 30 },
            tcp: None,
            last_seen: 0,
            expires: 0,
            held: None,
        };
        let cases = [
            (Select::default(), true),
            (
                Select {
                    subscriber: Some(1),
                    external: None,
                },
                true,
            ),
            (
                Select {
                    subscriber: Some(9),
                    external: None,
                },
                false,
            ),
            (
                Select {
                    subscriber: None,
                    external: Some((2, 0)),
                },
                true,
            ),
            (
                Select {
                    subscriber: None,
                    external: Some((2, 20)),
                },
                true,
            ),
            (
                Select {
                    subscriber: None,
                    external: Some((2, 21)),
                },
                false,
            ),
            (
                Select {
                    subscriber: Some(1),
                    external: Some((3, 0)),
                },
                false,
            ),
        ];
        for (sel, want) in cases {
            assert_eq!(sel.picks(&s), want, "{sel:?}");
        }
    }
}
