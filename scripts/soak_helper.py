#!/usr/bin/python3
"""Helpers of scripts/soak.sh (run with /usr/bin/python3).

  soak_helper.py echo PORT
      UDP echo server on 0.0.0.0:PORT (the WAN end of the UDP churn).
  soak_helper.py churn --dst IP --port PORT --seconds S --rate R --icmp-every K
      For S seconds, R short UDP flows a second, each from a fresh socket
      (so a new source port each) answered by the echo server, and every
      K-th flow an ICMP echo with a fresh identifier; prints the counts as
      one JSON object at the end (or on SIGTERM).
  soak_helper.py sample --metrics FILE --pid PID --t T --phase PHASE --csv CSV
      Reads one /metrics scrape and masq's VmRSS, appends a row to CSV
      (written with a header when new) and prints one progress line.
  soak_helper.py last CSV COLUMN...
      The named columns of the last row, space-separated.
  soak_helper.py column-range CSV COLUMN [PHASE]
      The smallest and largest value of a column (over the rows of PHASE
      if given).
  soak_helper.py rss CSV
      RSS of the traffic phase (KiB): the medians of its second and last
      fifths, their difference, the smallest and largest samples, the
      sample counts of the two fifths, the first and the last sample.
  soak_helper.py drops FILE
      Drop counters of a /metrics scrape that are not zero, as
      "reason=count" summed over workers.
  soak_helper.py sums FILE NAME[{LABEL=VALUE,...}]...
      For each name, the sum of the matching samples of a /metrics scrape,
      as "name=sum".
  soak_helper.py iperf JSONFILE
      Bytes the receiving end of an iperf3 test got (and for UDP the loss
      in percent), from the client's --json output.
"""

import csv
import json
import os
import random
import re
import select
import signal
import socket
import statistics
import struct
import sys
import time

COLUMNS = [
    "t_s", "phase", "rss_kib", "sessions", "tcp", "udp", "icmp", "subscribers",
    "blocks_in_use", "blocks_held", "blocks_free", "unaccounted", "xsk_invalid",
    "rx_packets", "tx_packets", "pps_in", "pps_out", "drops", "created",
    "expired", "removed", "blocks_allocated", "blocks_released",
    "heartbeat_age_s",
]

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')


def parse_metrics(text):
    """[(name, {label: value}, value)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        labels = dict(LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def total(samples, name, **want):
    """Sum of the samples of `name` whose labels match `want`; None when the
    family has no sample at all (so that a missing metric is not read as 0)."""
    found = None
    for n, labels, v in samples:
        if n == name and all(labels.get(k) == x for k, x in want.items()):
            found = (found or 0) + v
    return found


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def read_rows(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def cmd_sample(a):
    with open(a.metrics) as f:
        s = parse_metrics(f.read())

    def need(name, **want):
        v = total(s, name, **want)
        # A family missing from the scrape is written as -1: every check on
        # it then fails instead of seeing a 0 that was never published.
        return -1 if v is None else int(v)

    row = {
        "t_s": a.t,
        "phase": a.phase,
        "rss_kib": rss_kib(a.pid),
        "sessions": need("masq_sessions"),
        "tcp": need("masq_sessions", protocol="tcp"),
        "udp": need("masq_sessions", protocol="udp"),
        "icmp": need("masq_sessions", protocol="icmp"),
        "subscribers": need("masq_subscribers"),
        "blocks_in_use": need("masq_port_blocks", state="in_use"),
        "blocks_held": need("masq_port_blocks", state="held"),
        "blocks_free": need("masq_port_blocks", state="free"),
        "unaccounted": need("masq_umem_frames_unaccounted"),
        "xsk_invalid": need("masq_xsk_rx_invalid_descs_total")
        + need("masq_xsk_tx_invalid_descs_total"),
        "rx_packets": need("masq_packets_total", direction="rx"),
        "tx_packets": need("masq_packets_total", direction="tx"),
        "drops": need("masq_drops_total"),
        "created": need("masq_sessions_created_total"),
        "expired": need("masq_sessions_expired_total"),
        "removed": need("masq_sessions_removed_total"),
        "blocks_allocated": need("masq_port_blocks_allocated_total"),
        "blocks_released": need("masq_port_blocks_released_total"),
        "heartbeat_age_s": max(
            [v for n, _, v in s if n == "masq_worker_heartbeat_age_seconds"] or [-1]
        ),
    }
    rows = read_rows(a.csv)
    prev = rows[-1] if rows else {"t_s": 0, "rx_packets": 0, "tx_packets": 0}
    dt = max(a.t - float(prev["t_s"]), 1e-3)
    row["pps_in"] = round((row["rx_packets"] - int(prev["rx_packets"])) / dt)
    row["pps_out"] = round((row["tx_packets"] - int(prev["tx_packets"])) / dt)
    new = not os.path.exists(a.csv)
    with open(a.csv, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        w.writerow(row)
    print(
        f"soak: {a.phase:<7} {a.t:6.0f} s  rss {row['rss_kib'] / 1024:7.1f} MiB  "
        f"sessions {row['sessions']:6d} (tcp {row['tcp']} udp {row['udp']} icmp {row['icmp']})  "
        f"subscribers {row['subscribers']}  blocks in use {row['blocks_in_use']} held {row['blocks_held']}  "
        f"unaccounted {row['unaccounted']}  pps in {row['pps_in']} out {row['pps_out']}  "
        f"drops {row['drops']}",
        flush=True,
    )


def cmd_last(a):
    rows = read_rows(a.csv)
    if not rows:
        raise SystemExit(f"{a.csv}: no rows")
    print(" ".join(rows[-1][c] for c in a.columns))


def cmd_column_range(a):
    rows = [r for r in read_rows(a.csv) if a.phase is None or r["phase"] == a.phase]
    if not rows:
        raise SystemExit(f"{a.csv}: no rows")
    v = [int(float(r[a.column])) for r in rows]
    print(min(v), max(v))


def cmd_rss(a):
    rows = [r for r in read_rows(a.csv) if r["phase"] == "traffic"]
    if len(rows) < 5:
        raise SystemExit(f"{a.csv}: {len(rows)} traffic samples, 5 needed for fifths")
    t = [float(r["t_s"]) for r in rows]
    t0, t1 = t[0], t[-1]
    fifth = (t1 - t0) / 5

    def window(k):
        lo, hi = t0 + k * fifth, t0 + (k + 1) * fifth
        return [int(r["rss_kib"]) for r, x in zip(rows, t)
                if lo <= x < hi or (k == 4 and x == t1)]

    second, last = window(1), window(4)
    if not second or not last:
        raise SystemExit(f"{a.csv}: an empty fifth (samples too sparse)")
    m2, m5 = statistics.median(second), statistics.median(last)
    all_rss = [int(r["rss_kib"]) for r in rows]
    print(f"{m2:.0f} {m5:.0f} {m5 - m2:.0f} {min(all_rss)} {max(all_rss)} {len(second)} {len(last)} "
          f"{all_rss[0]} {all_rss[-1]}")


def cmd_drops(a):
    with open(a.file) as f:
        s = parse_metrics(f.read())
    by = {}
    for n, labels, v in s:
        if n == "masq_drops_total" and v:
            by[labels.get("reason", "?")] = by.get(labels.get("reason", "?"), 0) + int(v)
    print(" ".join(f"{k}={v}" for k, v in sorted(by.items())) or "none")


def cmd_sums(a):
    with open(a.file) as f:
        s = parse_metrics(f.read())
    out = []
    for spec in a.names:
        name, _, sel = spec.partition("{")
        want = dict(kv.split("=", 1) for kv in sel.rstrip("}").split(",") if kv)
        v = total(s, name, **want)
        out.append(f"{spec}={'missing' if v is None else int(v)}")
    print(" ".join(out))


def cmd_iperf(a):
    try:
        with open(a.file) as f:
            d = json.load(f)
    except (OSError, ValueError):
        raise SystemExit(f"{a.file}: no complete iperf3 JSON (stopped early?)")
    if "error" in d:
        raise SystemExit(f"{a.file}: iperf3: {d['error']}")
    end = d.get("end", {})
    got = end.get("sum_received", end.get("sum", {})).get("bytes", 0)
    lost = end.get("sum", {}).get("lost_percent")
    print(int(got), "" if lost is None else round(float(lost), 3))


def cmd_echo(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", a.port))
    while True:
        data, addr = s.recvfrom(2048)
        s.sendto(data, addr)


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    c = sum(struct.unpack(f"!{len(b) // 2}H", b))
    c = (c >> 16) + (c & 0xFFFF)
    c += c >> 16
    return ~c & 0xFFFF


def icmp_echo(raw, dst, ident, timeout):
    """One ICMP echo with identifier `ident`; True when its reply came."""
    payload = b"masq-soak"
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, 1) + payload
    raw.sendto(pkt, (dst, 0))
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([raw], [], [], left)
        if not r:
            return False
        data, addr = raw.recvfrom(2048)
        ihl = (data[0] & 0x0F) * 4
        if len(data) < ihl + 8 or addr[0] != dst:
            continue
        typ, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ == 0 and rid == ident:
            return True


def cmd_churn(a):
    counts = {"udp_ok": 0, "udp_fail": 0, "icmp_ok": 0, "icmp_fail": 0}
    done = False

    def stop(*_):
        nonlocal done
        done = True

    signal.signal(signal.SIGTERM, stop)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = random.randrange(1, 0xFFFF)
    start = time.monotonic()
    n = 0
    while not done and time.monotonic() - start < a.seconds:
        n += 1
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(1.0)
        msg = f"soak {n}".encode()
        try:
            u.sendto(msg, (a.dst, a.port))
            ok = u.recvfrom(2048)[0] == msg
        except OSError:
            ok = False
        u.close()
        counts["udp_ok" if ok else "udp_fail"] += 1
        if a.icmp_every and n % a.icmp_every == 0:
            ident = ident % 0xFFFF + 1
            ok = icmp_echo(raw, a.dst, ident, 1.0)
            counts["icmp_ok" if ok else "icmp_fail"] += 1
        # Paced on a fixed schedule: a slow flow is not made up for later
        # in a burst beyond the rate.
        wait = start + n / a.rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    print(json.dumps(counts), flush=True)


def main():
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    x = sub.add_parser("echo")
    x.add_argument("port", type=int)
    x = sub.add_parser("churn")
    x.add_argument("--dst", required=True)
    x.add_argument("--port", type=int, required=True)
    x.add_argument("--seconds", type=float, required=True)
    x.add_argument("--rate", type=float, required=True)
    x.add_argument("--icmp-every", type=int, default=0)
    x = sub.add_parser("sample")
    x.add_argument("--metrics", required=True)
    x.add_argument("--pid", type=int, required=True)
    x.add_argument("--t", type=float, required=True)
    x.add_argument("--phase", required=True)
    x.add_argument("--csv", required=True)
    x = sub.add_parser("last")
    x.add_argument("csv")
    x.add_argument("columns", nargs="+")
    x = sub.add_parser("column-range")
    x.add_argument("csv")
    x.add_argument("column")
    x.add_argument("phase", nargs="?")
    x = sub.add_parser("rss")
    x.add_argument("csv")
    x = sub.add_parser("drops")
    x.add_argument("file")
    x = sub.add_parser("sums")
    x.add_argument("file")
    x.add_argument("names", nargs="+")
    x = sub.add_parser("iperf")
    x.add_argument("file")
    a = p.parse_args()
    {
        "echo": cmd_echo, "churn": cmd_churn, "sample": cmd_sample,
        "last": cmd_last, "column-range": cmd_column_range, "rss": cmd_rss,
        "drops": cmd_drops, "sums": cmd_sums, "iperf": cmd_iperf,
    }[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
