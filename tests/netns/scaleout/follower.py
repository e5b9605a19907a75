#!/usr/bin/env python3
"""Keeps a resilient nexthop group equal to the next hops of a route.

The stand-in for a hardware access router's resilient (consistent) ECMP
(docs/scale-out.md, "Access-side stickiness"). BIRD 2 installs its merged
ECMP route as a plain multipath route, whose hash moves flows of every
next hop when one leaves; BIRD exports it to a table nothing forwards
with (--table), and this follower keeps the members of a resilient
nexthop group (--group) equal to that route's gateways, and the
forwarding route (--prefix in the main table) pointing at the group. A
gateway that leaves takes only its own buckets with it; the others keep
theirs. It reacts to `ip monitor route` events, not a poll.

Each change is logged as one line, in the format of `ip -ts monitor`:
  [TIME] gateways=A,B,... added_ms=N
TIME is when the group was changed; N the milliseconds from the route's
event to then, what the follower adds to the convergence time.

Usage: follower.py --table 100 --group 100 [--prefix 0.0.0.0/0]
       [--buckets 64] [--idle-timer 1] [--log FILE]
"""
import argparse
import datetime
import json
import signal
import subprocess
import sys
import time


def ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def gateways(table, prefix):
    """The (gateway, device) pairs of the route, sorted; empty if none."""
    r = subprocess.run(["ip", "-j", "route", "show", "table", str(table), prefix],
                       capture_output=True, text=True)
    # No table yet (nothing exported to it) is no route.
    routes = json.loads(r.stdout or "[]") if r.returncode == 0 else []
    hops = set()
    for r in routes:
        for h in r.get("nexthops", [r]):
            if "gateway" in h and "dev" in h:
                hops.add((h["gateway"], h["dev"]))
    return sorted(hops)


class Follower:
    def __init__(self, a, log):
        self.a = a
        self.log = log
        self.ids = {}  # (gateway, dev) -> nexthop id
        self.members = None

    def nexthop_id(self, hop):
        """The id of the nexthop object of a (gateway, device), made the
        first time it is needed."""
        if hop not in self.ids:
            nid = self.a.group + 1 + len(self.ids)
            ip("nexthop", "replace", "id", str(nid), "via", hop[0], "dev", hop[1])
            self.ids[hop] = nid
        return self.ids[hop]

    def sync(self, event_time):
        hops = gateways(self.a.table, self.a.prefix)
        if hops == self.members:
            return
        g = str(self.a.group)
        if not hops:
            ip("nexthop", "del", "id", g, check=False)
        else:
            ids = "/".join(str(self.nexthop_id(h)) for h in hops)
            if self.members:
                ip("nexthop", "replace", "id", g, "group", ids, "type", "resilient")
            else:
                # A new group (the first gateways, or again after none):
                # the forwarding route goes with it.
                ip("nexthop", "replace", "id", g, "group", ids, "type", "resilient",
                   "buckets", str(self.a.buckets), "idle_timer", str(self.a.idle_timer))
                ip("route", "replace", self.a.prefix, "nhid", g)
        self.members = hops
        done = time.time()
        names = ",".join(h[0] for h in hops) or "-"
        stamp = datetime.datetime.fromtimestamp(done).isoformat()
        self.log.write(f"[{stamp}] gateways={names} added_ms={(done - event_time) * 1000:.1f}\n")
        self.log.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--table", type=int, required=True)
    p.add_argument("--group", type=int, required=True)
    p.add_argument("--prefix", default="0.0.0.0/0")
    p.add_argument("--buckets", type=int, default=64)
    p.add_argument("--idle-timer", type=int, default=1)
    p.add_argument("--log")
    a = p.parse_args()
    log = open(a.log, "a") if a.log else sys.stdout
    f = Follower(a, log)
    mon = subprocess.Popen(["ip", "-o", "monitor", "route"], stdout=subprocess.PIPE, text=True)

    def stop(signum, frame):
        mon.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    f.sync(time.time())
    log.write("ready\n")
    log.flush()
    table = f"table {a.table} "
    for line in mon.stdout:
        if table in line:
            f.sync(time.time())


if __name__ == "__main__":
    main()
