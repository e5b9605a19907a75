#!/usr/bin/env python3
"""Traffic and timing tools of tests/netns/scaleout.sh.

  probe.py serve PORT               on the wan host: a UDP echo that answers
                                    each datagram with "IP:PORT" it saw, and
                                    a TCP server on the same port that does
                                    the same for each connection
  probe.py ask DST PORT SRC...      from the subscribers: one new flow per
                                    source address; prints "SRC SEEN_IP" per
                                    line ("SRC -" when no answer)
  probe.py tcp DST PORT SRC         one TCP connection; prints the address seen
  probe.py flows DST PORT SECONDS OUT --stream SRC... --mover SRC
                                    UDP at 100 datagrams/s from each source
                                    for SECONDS; writes JSON to OUT: per
                                    source sent, answered, the addresses
                                    seen, and for each mover the time of its
                                    first answer from each address
  probe.py summary OUT T0            per source of a flows run: KIND SRC SENT
                                    ANSWERED IP@MS,... (each address seen,
                                    with its first answer in ms after T0)
  probe.py first LOG T0 REGEX       the first line of an `ip -ts -o monitor`
                                    log after T0 (seconds since the epoch)
                                    that matches REGEX: prints its time
                                    minus T0 in ms and the line, or "-"
                                    when none
"""
import datetime
import json
import re
import selectors
import socket
import sys
import threading
import time


def serve(port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("0.0.0.0", port))
    t.listen(64)

    def tcp():
        while True:
            c, addr = t.accept()
            try:
                c.sendall(f"{addr[0]}:{addr[1]}\n".encode())
            finally:
                c.close()

    threading.Thread(target=tcp, daemon=True).start()
    while True:
        data, addr = u.recvfrom(2048)
        u.sendto(data + f" {addr[0]}:{addr[1]}".encode(), addr)


def ask(dst, port, srcs):
    socks = {}
    sel = selectors.DefaultSelector()
    for s in srcs:
        k = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        k.bind((s, 0))
        k.setblocking(False)
        socks[s] = k
        sel.register(k, selectors.EVENT_READ, s)
    seen = {}
    for attempt in range(3):
        for s, k in socks.items():
            if s not in seen:
                k.sendto(b"ask", (dst, port))
        end = time.time() + 1
        while len(seen) < len(socks) and time.time() < end:
            for key, _ in sel.select(max(0, end - time.time())):
                data = key.fileobj.recv(2048).decode()
                seen[key.data] = data.split()[-1].split(":")[0]
        if len(seen) == len(socks):
            break
    for s in srcs:
        print(s, seen.get(s, "-"))


def tcp(dst, port, src):
    c = socket.create_connection((dst, port), timeout=3, source_address=(src, 0))
    print(c.recv(100).decode().strip().split(":")[0])


def flows(dst, port, seconds, out, streams, movers):
    srcs = [(s, "stream") for s in streams] + [(s, "mover") for s in movers]
    st = {}
    sel = selectors.DefaultSelector()
    for s, kind in srcs:
        k = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        k.bind((s, 0))
        k.setblocking(False)
        sel.register(k, selectors.EVENT_READ, s)
        st[s] = {"kind": kind, "sock": k, "sent": 0, "answered": 0, "seen": {}}
    start = time.time()
    end = start + seconds
    grace = end + 0.5
    nxt = start
    while True:
        now = time.time()
        if now >= grace:
            break
        if now >= nxt and now < end:
            for s, v in st.items():
                v["sock"].sendto(str(v["sent"]).encode(), (dst, port))
                v["sent"] += 1
            nxt += 0.01
        timeout = max(0, min(nxt, grace) - time.time()) if now < end else grace - now
        for key, _ in sel.select(timeout):
            try:
                data = key.fileobj.recv(2048).decode()
            except OSError:
                continue
            v = st[key.data]
            v["answered"] += 1
            ip = data.split()[-1].split(":")[0]
            v["seen"].setdefault(ip, time.time())
    for v in st.values():
        del v["sock"]
    with open(out, "w") as f:
        json.dump(st, f)


def first(log, t0, regex):
    r = re.compile(regex)
    with open(log) as f:
        for line in f:
            m = re.match(r"\[(\S+)\]\s*(.*)", line)
            if not m:
                continue
            t = datetime.datetime.fromisoformat(m.group(1)).timestamp()
            if t >= t0 and r.search(m.group(2)):
                print(f"{(t - t0) * 1000:.0f} {m.group(2)}")
                return
    print("-")


def summary(path, t0):
    with open(path) as f:
        st = json.load(f)
    for src, v in st.items():
        seen = sorted(v["seen"], key=v["seen"].get)
        first_ms = ",".join(f"{ip}@{(v['seen'][ip] - t0) * 1000:.0f}" for ip in seen)
        print(v["kind"], src, v["sent"], v["answered"], first_ms or "-")


def main():
    a = sys.argv[1:]
    if a[0] == "serve":
        serve(int(a[1]))
    elif a[0] == "ask":
        ask(a[1], int(a[2]), a[3:])
    elif a[0] == "tcp":
        tcp(a[1], int(a[2]), a[3])
    elif a[0] == "flows":
        streams, movers, kind = [], [], None
        for x in a[5:]:
            if x in ("--stream", "--mover"):
                kind = x
            elif kind == "--stream":
                streams.append(x)
            else:
                movers.append(x)
        flows(a[1], int(a[2]), float(a[3]), a[4], streams, movers)
    elif a[0] == "summary":
        summary(a[1], float(a[2]))
    elif a[0] == "first":
        first(a[1], float(a[2]), a[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
