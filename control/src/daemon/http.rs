//! `/metrics` and `/healthz`, served by tiny_http on threads of their own
//! (all named `masq-http`, holding no capability), answered by the
//! control thread, which alone knows the state the pages show.
//!
//! The control thread never touches an HTTP socket. tiny_http accepts and
//! reads each connection on a thread of its own; a responder thread takes
//! each request and, for the two pages, queues an [`Ask`] on a bounded
//! channel and wakes the control loop through a socket pair that the loop
//! polls. The control thread computes the page ([`Control::serve_http`]
//! only computes) and the responder writes it. So:
//! * a client that trickles its request holds only the tiny_http thread
//!   that reads its connection;
//! * a client that never reads holds only its responder, and that for
//!   about [`WRITE_TIMEOUT`]: a send timeout and a TCP user timeout are
//!   set on the listening socket, whose accepted sockets inherit them
//!   (tiny_http does not hand out its streams); past them the kernel
//!   aborts the connection, so that the responses to requests the client
//!   pipelined behind fail at once instead of waiting in turn;
//! * one responder serves a connection's requests in turn (tiny_http
//!   writes a connection's responses in order anyway), and at most
//!   [`RESPONDERS`] connections are answered at once; the next waits in
//!   tiny_http's queue for a free responder (the control thread waits for
//!   none of them), and pages asked for together are computed once;
//! * tiny_http has no read timeout: a connection that never completes a
//!   request keeps its reading thread until the client closes it, so the
//!   number of such threads is bounded by the open-file limit (two
//!   descriptors a connection);
//! * tiny_http stops accepting at its first accept error (out of file
//!   descriptors, say); the server is then made again on the same
//!   listening socket a second later.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use masq_xsk::command::{Command, Reply};
use masq_xsk::{privilege, worker};
use tiny_http::{Header, Method, Request, Response, Server};

use super::Control;
use crate::metrics::{PcpScrape, Scrape};

/// How long writing a response may make no progress before the
/// connection is aborted.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a responder waits for the control thread's answer (a scrape
/// asks the workers, who have 5 s to answer).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests answered at once.
const RESPONDERS: usize = 16;
/// Requests waiting for the control thread (each responder has at most
/// one; those of responders that gave up may linger).
const ASKS: usize = 2 * RESPONDERS;
/// The type of every answer: Prometheus's text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The pages the control thread computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Page {
    Metrics,
    Healthz,
}

/// A status and a plain-text body.
#[derive(Clone, Debug)]
pub(super) struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    fn new(status: u16, body: impl Into<String>) -> Answer {
        Answer {
            status,
            body: body.into(),
        }
    }
}

/// A page asked for, and where its answer goes.
#[derive(Debug)]
pub(super) struct Ask {
    pub page: Page,
    reply: SyncSender<Answer>,
}

impl Ask {
    /// Hands the answer to the waiting responder (never blocks: its
    /// channel holds one answer).
    pub fn answer(self, a: Answer) {
        let _ = self.reply.try_send(a);
    }
}

/// The control thread's end of the HTTP server.
#[derive(Debug)]
pub(super) struct Http {
    asks: Receiver<Ask>,
    wake: UnixStream,
}

impl Http {
    /// Serves `listener` (bound by the caller, so that a port in use fails
    /// start-up before anything is attached) on threads that first give up
    /// every capability.
    pub fn start(listener: TcpListener, write_timeout: Duration) -> Result<Http, String> {
        listener.set_nonblocking(false).map_err(|e| e.to_string())?;
        // Inherited by every accepted socket: a write waits at most this
        // long, and a connection whose data goes unacknowledged (or whose
        // window stays shut) this long is aborted, so that the responses
        // it has queued behind fail at once.
        let sock = socket2::SockRef::from(&listener);
        sock.set_write_timeout(Some(write_timeout))
            .map_err(|e| format!("write timeout: {e}"))?;
        sock.set_tcp_user_timeout(Some(write_timeout))
            .map_err(|e| format!("TCP user timeout: {e}"))?;
        let (wake_rx, wake_tx) = UnixStream::pair().map_err(|e| e.to_string())?;
        for s in [&wake_rx, &wake_tx] {
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
        }
        let (ask_tx, asks) = mpsc::sync_channel(ASKS);
        let asker = Asker {
            asks: ask_tx,
            wake: Arc::new(wake_tx),
        };
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        std::thread::Builder::new()
            .name("masq-http".into())
            .spawn(move || {
                // Before tiny_http starts its threads: they inherit this.
                if let Err(e) = privilege::keep_only(&[]) {
                    let _ = ready_tx.send(Err(format!("dropping privileges: {e}")));
                    return;
                }
                match make_server(&listener) {
                    Ok(server) => {
                        let _ = ready_tx.send(Ok(()));
                        serve(server, &listener, &asker);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| format!("HTTP thread: {e}"))?;
        ready_rx
            .recv()
            .map_err(|_| "the HTTP thread ended at its start".to_string())??;
        Ok(Http {
            asks,
            wake: wake_rx,
        })
    }

    /// Readable when pages are asked for (poll it with the others).
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// The pages asked for since the last call; never blocks.
    pub fn take(&self) -> Vec<Ask> {
        // Drained before the queue is read: an ask queued after this read
        // leaves its wake-up byte for the next poll.
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
        self.asks.try_iter().collect()
    }
}

/// The responders' end: queues an ask and wakes the control loop.
#[derive(Clone, Debug)]
struct Asker {
    asks: SyncSender<Ask>,
    wake: Arc<UnixStream>,
}

impl Asker {
    fn ask(&self, page: Page) -> Answer {
        let (reply, answer) = mpsc::sync_channel(1);
        match self.asks.try_send(Ask { page, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Answer::new(503, format!("busy: {ASKS} requests wait already\n"))
            }
            Err(TrySendError::Disconnected(_)) => return Answer::new(503, "stopping\n"),
        }
        // Non-blocking: with the socket pair full, a wake-up is pending.
        let _ = (&*self.wake).write(&[1]);
        answer.recv_timeout(ANSWER_TIMEOUT).unwrap_or_else(|_| {
            Answer::new(
                503,
                format!(
                    "the control thread did not answer within {} s\n",
                    ANSWER_TIMEOUT.as_secs()
                ),
            )
        })
    }
}

fn make_server(listener: &TcpListener) -> Result<Server, String> {
    let l = listener.try_clone().map_err(|e| e.to_string())?;
    Server::from_listener(l, None).map_err(|e| e.to_string())
}

/// Hands each request to a responder; makes the server again when
/// tiny_http stops accepting.
fn serve(mut server: Server, listener: &TcpListener, asker: &Asker) {
    let places = Places::new(RESPONDERS);
    let waiting = Arc::new(Waiting::default());
    loop {
        match server.recv() {
            Ok(rq) => dispatch(rq, asker, &places, &waiting),
            Err(e) => {
                eprintln!("masq: metrics_listen: accepting stopped ({e}); accepting again in 1 s");
                // Dropping it would connect to the listening socket to wake
                // an accept loop that has already ended, and could wait on
                // a full backlog.
                std::mem::forget(server);
                server = loop {
                    std::thread::sleep(Duration::from_secs(1));
                    if let Ok(s) = make_server(listener) {
                        break s;
                    }
                };
            }
        }
    }
}

/// Responders' places: a token taken to start one, given back when it
/// ends. The dispatcher waits for a free place.
#[derive(Debug)]
struct Places {
    give: SyncSender<()>,
    take: Receiver<()>,
}

impl Places {
    fn new(n: usize) -> Places {
        let (give, take) = mpsc::sync_channel(n);
        for _ in 0..n {
            let _ = give.try_send(());
        }
        Places { give, take }
    }

    fn wait(&self) -> Place {
        let _ = self.take.recv();
        Place(self.give.clone())
    }
}

/// A responder's place, given back when dropped.
struct Place(SyncSender<()>);

impl Drop for Place {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

/// Requests waiting behind the one being answered, per connection: a
/// connection's responses go out in order, so one responder serves each
/// connection, and a client that pipelines requests takes one place.
type Waiting = Mutex<HashMap<Option<SocketAddr>, VecDeque<Request>>>;

fn dispatch(rq: Request, asker: &Asker, places: &Places, waiting: &Arc<Waiting>) {
    let conn = rq.remote_addr().copied();
    {
        let mut w = waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(q) = w.get_mut(&conn) {
            q.push_back(rq);
            return;
        }
        w.insert(conn, VecDeque::new());
    }
    let place = places.wait();
    let (asker, w) = (asker.clone(), Arc::clone(waiting));
    let spawned = std::thread::Builder::new()
        .name("masq-http".into())
        .spawn(move || {
            let _place = place;
            let mut rq = rq;
            loop {
                answer(rq, &asker);
                let mut w = w.lock().unwrap_or_else(PoisonError::into_inner);
                match w.get_mut(&conn).and_then(VecDeque::pop_front) {
                    Some(next) => rq = next,
                    None => {
                        w.remove(&conn);
                        return;
                    }
                }
            }
        });
    // Should the thread not start, the request is dropped (tiny_http
    // answers it with 500) and the connection's next request starts anew.
    if spawned.is_err() {
        let mut w = waiting.lock().unwrap_or_else(PoisonError::into_inner);
        w.remove(&conn);
    }
}

/// Answers one request: 404 and 405 at once, the pages from the control
/// thread.
fn answer(rq: Request, asker: &Asker) {
    let path = rq.url().split('?').next().unwrap_or_default();
    let a = match (rq.method(), path) {
        (Method::Get, "/metrics") => asker.ask(Page::Metrics),
        (Method::Get, "/healthz") => asker.ask(Page::Healthz),
        (Method::Get, _) => Answer::new(404, "only /metrics and /healthz are served\n"),
        _ => Answer::new(405, "GET /metrics or /healthz\n"),
    };
    respond(rq, a);
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn respond(rq: Request, a: Answer) {
    // The length is known: sent as Content-Length, never chunked.
    let mut r = Response::from_string(a.body)
        .with_status_code(a.status)
        .with_chunked_threshold(usize::MAX)
        .with_header(header("Content-Type", CONTENT_TYPE));
    if a.status == 405 {
        r.add_header(header("Allow", "GET"));
    }
    // A failed write (the client left, or made no progress within the
    // write timeout) only ends this connection.
    let _ = rq.respond(r);
}

impl Control {
    /// Answers the pages asked for since the last call, each computed once.
    pub(super) fn serve_http(&mut self) {
        let asks = match &self.http {
            Some(h) => h.take(),
            None => return,
        };
        let (mut metrics, mut health) = (None, None);
        for ask in asks {
            let a = match ask.page {
                Page::Metrics => metrics.get_or_insert_with(|| self.metrics_page()),
                Page::Healthz => health.get_or_insert_with(|| self.health_page()),
            };
            ask.answer(a.clone());
        }
    }

    fn metrics_page(&mut self) -> Answer {
        let s = self.scrape();
        match self.metrics.render(&self.shared, &s) {
            Ok(b) => Answer::new(200, b),
            Err(e) => Answer::new(500, format!("{e}\n")),
        }
    }

    fn health_page(&self) -> Answer {
        let why = self.health();
        if why.is_empty() {
            Answer::new(200, "ok\n")
        } else {
            Answer::new(503, format!("{}\n", why.join("; ")))
        }
    }

    pub(super) fn scrape(&mut self) -> Scrape {
        let blocks = self.ask(|_| Command::Blocks).ok().map(|replies| {
            let mut sum: Vec<(u32, u32, u32)> = Vec::new();
            for r in replies {
                if let Reply::Blocks(v) = r {
                    for (a, used, free) in v {
                        match sum.iter_mut().find(|x| x.0 == a) {
                            Some(x) => {
                                x.1 += used;
                                x.2 += free;
                            }
                            None => sum.push((a, used, free)),
                        }
                    }
                }
            }
            sum
        });
        let xsk = self
            .shared
            .stats
            .iter()
            .map(|w| {
                let fd = |k: usize| {
                    let fd = w.fds[k].load(Ordering::Relaxed);
                    (fd >= 0).then(|| worker::xsk_statistics(fd).ok()).flatten()
                };
                [fd(0), fd(1)]
            })
            .collect();
        Scrape {
            blocks,
            blocks_per_addr: self.rc.core.blocks_per_addr(),
            xsk,
            xdp: [self.lan_prog.stats().ok(), self.wan_prog.stats().ok()],
            xdp_drops: [self.lan_prog.drops().ok(), self.wan_prog.drops().ok()],
            capacity: u64::from(self.rc.core.max_sessions),
            external: self.external,
            address_changes: self.address_changes,
            reloads: self.reloads,
            now_ms: self.now_ms(),
            stalls: self
                .stalls
                .iter()
                .map(|s| (s.since.is_some(), s.count))
                .collect(),
            eventlog: self
                .eventlog
                .as_ref()
                .map(|l| l.snapshot(&self.rc.log))
                .unwrap_or_default(),
            pcp: self.pcp.as_ref().map(|p| PcpScrape {
                requests: p.server.request_counts(),
                dropped: p.server.drop_counts(),
                mappings: p.server.mappings() as u64,
            }),
            healthy: self.healthy == Some(true),
            health_changes: self.health_changes,
            routes: self.routes_held(),
        }
    }
}

#[cfg(test)]
mod tests;
