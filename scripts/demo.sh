#!/usr/bin/env bash
# The main job on an embedded default.
#
# The AF_XDP dataplane and its three-namespace demo (LAN host, NAT box, WAN
# host joined by veth) are not built yet. Until they are, this runs the NAT
# core on in-memory frames and prints what it did: translated addresses and
# ports, the sessions it holds, its events and counters.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_cargo
echo "[demo] the network demo (namespaces, veth, AF_XDP) arrives with the dataplane; running the NAT core in memory"
cargo run -q --release --locked -p masq-tests --example core_demo
