//! The HTTP server against a stand-in for the control thread: statuses,
//! the content type, the capabilities of its threads, and clients that
//! trickle or never read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Answer, Http, Page};

/// A served listener and a thread answering as the control thread would:
/// `/metrics` with `metrics` bytes, `/healthz` with a stalled worker.
struct Fixture {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    control: Option<JoinHandle<()>>,
}

impl Fixture {
    fn new(metrics: usize, write_timeout: Duration) -> Fixture {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let http = Http::start(l, write_timeout).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let body: String = if metrics == 0 {
            "masq_test 1\n".into()
        } else {
            "x".repeat(metrics)
        };
        let control = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for ask in http.take() {
                    let a = match ask.page {
                        Page::Metrics => Answer::new(200, body.clone()),
                        Page::Healthz => Answer::new(503, "stalled: worker 1\n"),
                    };
                    ask.answer(a);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Fixture {
            addr,
            stop,
            control: Some(control),
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.control.take() {
            let _ = h.join();
        }
    }
}

/// One request; returns the status, the head (each line ending in CRLF)
/// and the body.
fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, format!("{head}\r\n"), body.to_string())
}

#[test]
fn pages_statuses_and_content_type() {
    let f = Fixture::new(0, Duration::from_secs(5));
    let (status, head, body) = request(f.addr, "GET", "/metrics");
    assert_eq!(status, 200);
    assert_eq!(body, "masq_test 1\n");
    assert!(head.contains("\r\nContent-Length: 12\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{head}"
    );
    assert_eq!(request(f.addr, "GET", "/metrics?name=x").0, 200);
    let (status, head, body) = request(f.addr, "GET", "/healthz");
    assert_eq!((status, body.as_str()), (503, "stalled: worker 1\n"));
    assert!(head.contains("version=0.0.4"), "{head}");
    let (status, _, body) = request(f.addr, "GET", "/other");
    assert_eq!(status, 404);
    assert!(body.contains("/metrics and /healthz"), "{body}");
    for method in ["POST", "PUT", "DELETE", "HEAD"] {
        let (status, head, _) = request(f.addr, method, "/metrics");
        assert_eq!(status, 405, "{method}");
        assert!(head.contains("\r\nAllow: GET"), "{method}: {head}");
    }
}

#[test]
fn its_threads_hold_no_capability() {
    let f = Fixture::new(0, Duration::from_secs(5));
    assert_eq!(request(f.addr, "GET", "/healthz").0, 503);
    let mut seen = 0;
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let t = t.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(t.join("comm")) else {
            continue;
        };
        if comm.trim() != "masq-http" {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(t.join("status")) else {
            continue;
        };
        seen += 1;
        for key in ["CapEff:", "CapPrm:"] {
            let v = status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::trim);
            assert_eq!(v, Some("0000000000000000"), "{} {key}", t.display());
        }
        let nnp = status
            .lines()
            .find_map(|l| l.strip_prefix("NoNewPrivs:"))
            .map(str::trim);
        assert_eq!(nnp, Some("1"), "{}", t.display());
    }
    // The server's own thread, its accept thread and its pool.
    assert!(seen >= 2, "{seen} masq-http threads");
}

#[test]
fn clients_that_trickle_or_never_read_hold_no_one_else() {
    const BODY: usize = 32 << 20;
    let f = Fixture::new(BODY, Duration::from_millis(300));
    // Half a request line, and nothing more.
    let mut trickler = TcpStream::connect(f.addr).unwrap();
    trickler.write_all(b"GET /metr").unwrap();
    // A whole request for a page far larger than the socket buffers,
    // through a small receive buffer, never read.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.connect(&f.addr.into()).unwrap();
    let mut sleeper: TcpStream = s.into();
    sleeper
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let t = Instant::now();
    assert_eq!(request(f.addr, "GET", "/healthz").0, 503);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    // Past the write timeout the sleeper's response was given up: what
    // it can still read ends well short of the page.
    std::thread::sleep(Duration::from_millis(1500));
    sleeper
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match sleeper.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got < BODY, "the sleeper read {got} bytes, the whole page");

    let (status, _, body) = request(f.addr, "GET", "/metrics");
    assert_eq!((status, body.len()), (200, BODY));
    drop(trickler);
}

#[test]
fn a_client_that_pipelines_and_never_reads_is_cut_off() {
    const BODY: usize = 1 << 20;
    let f = Fixture::new(BODY, Duration::from_secs(3));
    // Forty requests at once, whose responses fill every buffer.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.connect(&f.addr.into()).unwrap();
    let mut greedy: TcpStream = s.into();
    let one = "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n";
    greedy.write_all(one.repeat(40).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // Its requests are answered in turn by one responder, blocked in its
    // first write; others are answered meanwhile.
    let t = Instant::now();
    assert_eq!(request(f.addr, "GET", "/healthz").0, 503);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    // Its window stayed shut past the timeout: the kernel aborted the
    // connection, rather than the forty responses each waiting out the
    // timeout in turn (2 minutes).
    std::thread::sleep(Duration::from_secs(6));
    greedy
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0usize;
    let end = loop {
        match greedy.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => got += n,
            Err(e) => break Some(e.kind()),
        }
    };
    assert!(got < 40 * BODY, "read {got} bytes");
    assert!(
        !matches!(
            end,
            Some(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        ),
        "the connection is still open after {got} bytes"
    );
}
