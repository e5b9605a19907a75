"""TRex ASTF profile: TCP throughput through a NAT44: few long connections,
each downloading `bytes` bytes (default 64 MiB) from the WAN side, the way
subscribers' bulk traffic crosses the NAT's fast path.

    start -f bench/trex/astf/nat44_tcp_throughput.py -m 1 -t cps=20

Tunables: subscribers, servers, client, server, port, cps, bytes.
"""
import os
import sys

from trex.astf.api import ASTFProgram

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nat44_astf import parse, profile  # noqa: E402


class Nat44TcpThroughput:
    def get_profile(self, tunables=(), **kwargs):
        a = parse("nat44_tcp_throughput", list(tunables), port=8081, cps=10.0, bytes=64 << 20)
        client = ASTFProgram()
        client.send(b"GET")
        client.recv(a.bytes)
        server = ASTFProgram()
        server.recv(3)
        server.send(b"d" * 65536, size=a.bytes)  # size repeats the buffer up to `bytes`
        return profile(a, client, server)


def register():
    return Nat44TcpThroughput()
