#!/usr/bin/env python3
"""Evaluates every panel query of a Grafana dashboard through a Prometheus
server's HTTP API (/api/v1/query), as tests/netns/prometheus.sh uses it.

Grafana's variables are filled in as Grafana fills them for this dashboard:
  $worker           "All" selected: the variable's allValue (".*");
  $__rate_interval  1m: Grafana takes the larger of 4 scrape intervals and
                    $__interval + 1 scrape interval; with the data source's
                    default scrape interval (15 s) and the dashboard's 1 h
                    range, that is 4 x 15 s;
  $__range          the dashboard's time range ("now-1h": 1h).

Each query must return at least one series. The panels named in --moving
(by title) must also add up to more than zero: traffic moves them.
Exits 0 when every query passes; otherwise prints each failing panel and
query and exits 1. With --retry SECONDS it evaluates again until every
query passes or the time is out (rate() needs two scrapes with movement
inside its window).

Usage: dashboard_queries.py DASHBOARD.json PROMETHEUS_URL
           [--moving TITLE]... [--retry SECONDS]
"""

import argparse
import json
import re
import sys
import time
import urllib.parse
import urllib.request


def panels(items):
    """Every panel, those inside collapsed rows too."""
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def duration(grafana_range):
    m = re.fullmatch(r"now-(\d+[smhdw])", grafana_range)
    if not m:
        sys.exit(f"dashboard time range {grafana_range!r} is not now-N<unit>")
    return m.group(1)


def variables(dash):
    """Grafana's substitutions for this dashboard, longest name first."""
    subst = {
        "$__rate_interval": "1m",
        "$__range": duration(dash["time"]["from"]),
    }
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query" and v.get("includeAll"):
            subst["$" + v["name"]] = v.get("allValue") or ".*"
    return sorted(subst.items(), key=lambda kv: -len(kv[0]))


def fill(expr, subst):
    for name, value in subst:
        expr = expr.replace("${" + name[1:] + "}", value).replace(name, value)
    left = re.findall(r"\$\{?\w+", expr)
    if left:
        sys.exit(f"unknown variable(s) {left} in {expr}")
    return expr


def query(url, expr):
    q = urllib.parse.urlencode({"query": expr, "time": f"{time.time():.3f}"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{body.get('errorType')}: {body.get('error')}")
    return body["data"]["result"]


def evaluate(dash, url, moving):
    """(checks, failures): one check per panel query."""
    subst = variables(dash)
    checks, failures = [], []
    for p in panels(dash.get("panels", [])):
        title = p.get("title", "(untitled)")
        for t in p.get("targets", []):
            if "expr" not in t:
                continue
            expr = fill(t["expr"], subst)
            try:
                result = query(url, expr)
            except Exception as e:  # noqa: BLE001 - reported by panel
                failures.append(f"{title!r}: {expr}: {e}")
                continue
            total = sum(float(s["value"][1]) for s in result)
            checks.append((title, expr, len(result), total))
            if not result:
                failures.append(f"{title!r}: {expr}: no data")
            elif title in moving and not total > 0:
                failures.append(f"{title!r}: {expr}: {len(result)} series adding up to {total}, expected > 0 under traffic")
    return checks, failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dashboard")
    ap.add_argument("url")
    ap.add_argument("--moving", action="append", default=[])
    ap.add_argument("--retry", type=float, default=0)
    a = ap.parse_args()
    dash = json.load(open(a.dashboard))
    titles = {p.get("title") for p in panels(dash.get("panels", []))}
    unknown = [m for m in a.moving if m not in titles]
    if unknown:
        sys.exit(f"--moving names no panel of the dashboard: {unknown}")
    deadline = time.time() + a.retry
    while True:
        checks, failures = evaluate(dash, a.url, set(a.moving))
        if not failures or time.time() >= deadline:
            break
        time.sleep(1)
    for title, expr, n, total in checks:
        print(f"  {title}: {n} series, sum {total:.6g}: {expr}")
    if not checks:
        failures.append("the dashboard has no panel query")
    for f in failures:
        print(f"FAIL panel {f}", file=sys.stderr)
    print(f"{len(checks)} panel queries evaluated, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
