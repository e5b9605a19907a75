#!/usr/bin/python3
"""Peers and probes of tests/netns/flood.sh, one subcommand each.

  echo tcp|udp PORT            echo server: TCP echoes each line, UDP each datagram
  keepalive HOST PORT          one TCP connection; a line every 0.1 s; prints
                               "WALL_TIME SEQ RTT_MS" per round trip, "error ..." and
                               exit 1 when the connection fails
  flows tcp|udp HOST PORT N [--bind IP] [--even FIRST]
                               N new flows one after another (each a new socket,
                               kept open to the end), one exchange each (UDP: up to
                               8 tries 0.3 s apart, so that a loss is not a failure);
                               prints one word per flow: ok, timeout or the errno's
                               name (EHOSTUNREACH: an ICMP 3/13 reached the socket);
                               --even: from the source ports FIRST, FIRST+2, ...
  sample SOCKET PID INTERVAL   every INTERVAL s, one JSON line: wall time, masq's VmRSS
                               (kB), sessions, and sessions per subscriber, from the
                               admin socket
  gap LOG T0 T1                the longest time (s) without a keepalive round trip
                               between T0 and T1 (wall clock), the round trips in it,
                               and whether the log reports an error
  peak SAMPLES T0 T1 [ADDR...] over the samples taken between T0 and T1: the most
                               sessions, the most VmRSS, the most sessions of any ADDR
"""

import errno
import json
import socket
import socketserver
import sys
import time


def echo(kind, port):
    if kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        while True:
            data, addr = s.recvfrom(65535)
            s.sendto(data, addr)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            try:
                for line in self.rfile:
                    self.wfile.write(line)
                    self.wfile.flush()
            except OSError:
                pass

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    Server(("0.0.0.0", port), Handler).serve_forever()


def keepalive(host, port):
    s = socket.create_connection((host, port), timeout=5)
    s.settimeout(10)
    f = s.makefile("rwb", buffering=0)
    seq = 0
    while True:
        seq += 1
        t = time.monotonic()
        try:
            f.write(b"%d\n" % seq)
            line = f.readline()
        except OSError as e:
            print(f"error {time.time():.3f} {e}", flush=True)
            sys.exit(1)
        if line != b"%d\n" % seq:
            print(f"error {time.time():.3f} sent {seq}, got {line!r}", flush=True)
            sys.exit(1)
        print(f"{time.time():.3f} {seq} {(time.monotonic() - t) * 1000:.1f}", flush=True)
        time.sleep(0.1)


def flows(kind, host, port, n, bind, even):
    socks, out = [], []
    for i in range(n):
        if kind == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.3)
            tries = 8
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(8)
            tries = 1
        socks.append(s)
        if bind or even:
            s.bind((bind or "0.0.0.0", even + 2 * i if even else 0))
        r = "timeout"
        msg = b"flow%d\n" % i
        try:
            s.connect((host, port))
            for _ in range(tries):
                try:
                    s.send(msg)
                    r = "ok" if s.recv(2048) == msg else "bad_reply"
                    break
                except socket.timeout:
                    pass
        except socket.timeout:
            pass
        except OSError as e:
            r = errno.errorcode.get(e.errno, str(e.errno))
        out.append(r)
    print(" ".join(out))


def admin(path, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(json.dumps(req).encode() + b"\n")
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    return json.loads(buf)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sample(path, pid, interval):
    while True:
        t = time.time()
        try:
            st = admin(path, {"cmd": "stats"})
            subs = admin(path, {"cmd": "subscribers"})
            rec = {
                "t": t,
                "rss_kb": rss_kb(pid),
                "sessions": st["totals"]["sessions"],
                "subs": {s["subscriber"]: s["sessions"] for s in subs["subscribers"]},
            }
        except (OSError, ValueError, KeyError) as e:
            rec = {"t": t, "error": str(e)}
        print(json.dumps(rec), flush=True)
        time.sleep(interval)


def gap(log, t0, t1):
    times, error = [], ""
    with open(log) as f:
        for line in f:
            w = line.split()
            if w and w[0] == "error":
                error = line.strip()
            elif len(w) == 3:
                times.append(float(w[0]))
    inside = [t for t in times if t0 < t < t1]
    after = [t for t in times if t >= t1]
    before = [t for t in times if t <= t0]
    start = before[-1] if before else t0
    end = after[0] if after else time.time()
    points = [start] + inside + [end]
    longest = max(b - a for a, b in zip(points, points[1:]))
    print(f"{longest:.2f} {len(inside)} {'error' if error else 'none'}")


def peak(samples, t0, t1, addrs):
    top_sessions = top_rss = top_sub = 0
    n = 0
    with open(samples) as f:
        for line in f:
            rec = json.loads(line)
            if "error" in rec or not t0 <= rec["t"] <= t1:
                continue
            n += 1
            top_sessions = max(top_sessions, rec["sessions"])
            top_rss = max(top_rss, rec["rss_kb"])
            for a in addrs:
                top_sub = max(top_sub, rec["subs"].get(a, 0))
    print(f"{n} {top_sessions} {top_rss} {top_sub}")


def main():
    a = sys.argv[1:]
    cmd = a[0] if a else ""
    if cmd == "echo":
        echo(a[1], int(a[2]))
    elif cmd == "keepalive":
        keepalive(a[1], int(a[2]))
    elif cmd == "flows":
        opts = dict(zip(a[5::2], a[6::2]))
        flows(a[1], a[2], int(a[3]), int(a[4]), opts.get("--bind"), int(opts.get("--even", 0)))
    elif cmd == "sample":
        sample(a[1], int(a[2]), float(a[3]))
    elif cmd == "gap":
        gap(a[1], float(a[2]), float(a[3]))
    elif cmd == "peak":
        peak(a[1], float(a[2]), float(a[3]), a[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
