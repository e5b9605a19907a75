"""TRex STL profile: one direction (LAN to WAN) of 64-byte UDP through a
NAT44, from many subscribers with many flows each.

Flow i has source address SUBNET_START + i % subscribers and source port
1024 + i // subscribers (TRex's tuple generator walks the addresses first),
so there are subscribers * ports_per_subscriber distinct flows, all to one
remote endpoint. Run with the NAT's LAN on TRex port 0:

    start -f bench/trex/stl/nat44_udp.py -m 10mpps --port 0 \
        -t subscribers=4096,ports_per_subscriber=256,size=64

Tunables (all optional): subscribers, ports_per_subscriber, size (frame
length with the FCS), src (first subscriber address), dst (remote address),
dport.
"""
import argparse

from trex_stl_lib.api import (IP, STLPktBuilder, STLScVmRaw, STLStream,
                              STLTXCont, STLVmFixIpv4, STLVmTupleGen,
                              STLVmWrFlowVar, UDP, Ether)

FCS = 4


def ipv4_add(addr, n):
    a = [int(x) for x in addr.split(".")]
    v = (a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3]) + n
    return ".".join(str((v >> s) & 0xFF) for s in (24, 16, 8, 0))


def parse(tunables):
    p = argparse.ArgumentParser(prog="nat44_udp")
    p.add_argument("--subscribers", type=int, default=4096)
    p.add_argument("--ports_per_subscriber", type=int, default=256)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--src", default="100.64.0.1")
    p.add_argument("--dst", default="198.18.1.1")
    p.add_argument("--dport", type=int, default=9)
    a = p.parse_args(tunables)
    if not 1 <= a.subscribers <= 1 << 22:
        p.error("subscribers: 1 to 4194304 (100.64.0.0/10)")
    if not 1 <= a.ports_per_subscriber <= 64511:
        p.error("ports_per_subscriber: 1 to 64511")
    if not 64 <= a.size <= 9000:
        p.error("size: 64 to 9000")
    return a


def udp_stream(a, size, pps=None, percentage=None):
    """One continuous stream of `size`-byte frames over the profile's flows."""
    base = Ether() / IP(src=a.src, dst=a.dst) / UDP(sport=1024, dport=a.dport)
    pad = max(0, size - FCS - len(base)) * b"\x00"
    vm = STLScVmRaw([
        STLVmTupleGen(name="flow",
                      ip_min=a.src, ip_max=ipv4_add(a.src, a.subscribers - 1),
                      port_min=1024, port_max=1024 + a.ports_per_subscriber - 1),
        STLVmWrFlowVar(fv_name="flow.ip", pkt_offset="IP.src"),
        STLVmWrFlowVar(fv_name="flow.port", pkt_offset="UDP.sport"),
        STLVmFixIpv4(offset="IP"),
    ])
    mode = STLTXCont(pps=pps) if pps is not None else STLTXCont(percentage=percentage or 100)
    return STLStream(packet=STLPktBuilder(pkt=base / pad, vm=vm), mode=mode)


class Nat44Udp:
    def get_streams(self, tunables=(), **kwargs):
        a = parse(list(tunables))
        return [udp_stream(a, a.size)]


def register():
    return Nat44Udp()
