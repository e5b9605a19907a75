-- pktgen-dpdk script: 64-byte UDP from many subscribers through a NAT44,
-- LAN to WAN, with a rate sweep. Port 0 faces the NAT's LAN, port 1 its
-- WAN (it only counts what arrives).
--
--   pktgen -l 0-4 -n 4 -a LAN_PCI -a WAN_PCI -- -P -m "[1:2].0,[3:4].1" \
--       -f bench/pktgen/nat44.lua
--
-- Edit the settings below: the NAT's LAN MAC, the subscribers (source
-- addresses) and ports per subscriber, the remote address and the rates.
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local nat_lan_mac = "02:00:00:00:00:01"
local first_subscriber = "100.64.0.1"
local last_subscriber = "100.64.15.255"  -- 4095 subscribers
local first_port, last_port = 1024, 1279  -- 256 flows each
local remote = "198.18.1.1"
local size = 64
local seconds = 10
local rates = { 10, 25, 50, 75, 100 }     -- percent of line rate

local tx, rx = "0", "1"

pktgen.set(tx, "size", size)
pktgen.set_proto(tx, "udp")
pktgen.set_mac(tx, "dst", nat_lan_mac)

-- Ranges: the source address steps through every subscriber, and the
-- source port steps once per wrap of the addresses.
pktgen.range.dst_mac(tx, "start", nat_lan_mac)
pktgen.range.src_ip(tx, "start", first_subscriber)
pktgen.range.src_ip(tx, "inc", "0.0.0.1")
pktgen.range.src_ip(tx, "min", first_subscriber)
pktgen.range.src_ip(tx, "max", last_subscriber)
pktgen.range.dst_ip(tx, "start", remote)
pktgen.range.dst_ip(tx, "inc", "0.0.0.0")
pktgen.range.dst_ip(tx, "min", remote)
pktgen.range.dst_ip(tx, "max", remote)
pktgen.range.src_port(tx, "start", first_port)
pktgen.range.src_port(tx, "inc", 1)
pktgen.range.src_port(tx, "min", first_port)
pktgen.range.src_port(tx, "max", last_port)
pktgen.range.dst_port(tx, "start", 9)
pktgen.range.dst_port(tx, "inc", 0)
pktgen.range.dst_port(tx, "min", 9)
pktgen.range.dst_port(tx, "max", 9)
pktgen.range.pkt_size(tx, "start", size)
pktgen.range.pkt_size(tx, "inc", 0)
pktgen.range.pkt_size(tx, "min", size)
pktgen.range.pkt_size(tx, "max", size)
pktgen.set_range(tx, "on")

-- A rate sweep: for each rate, what was sent and what arrived on the WAN
-- port. The highest rate with no loss is the NDR estimate (see
-- docs/benchmarking.md for a proper binary search with TRex).
printf("rate%%  sent_pps  received_pps  loss%%\n")
for _, rate in ipairs(rates) do
    pktgen.clr()
    pktgen.set(tx, "rate", rate)
    pktgen.start(tx)
    pktgen.delay(seconds * 1000)
    pktgen.stop(tx)
    pktgen.delay(1000)
    local s = pktgen.portStats(tx, "port")[tonumber(tx)]
    local r = pktgen.portStats(rx, "port")[tonumber(rx)]
    local sent, got = s.opackets, r.ipackets
    local loss = 0
    if sent > 0 then loss = 100 * (sent - got) / sent end
    printf("%5d  %9.0f  %12.0f  %5.2f\n", rate, sent / seconds, got / seconds, loss)
end
