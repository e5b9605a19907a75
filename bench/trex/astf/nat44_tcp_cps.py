"""TRex ASTF profile: TCP connections per second through a NAT44: connect,
one request and response of `bytes` bytes, close. Every connection walks
the NAT's TCP state machine from SYN to the transitory timer.

    start -f bench/trex/astf/nat44_tcp_cps.py -m 1 -t cps=50000

Tunables: subscribers, servers, client, server, port, cps, bytes.
"""
import os
import sys

from trex.astf.api import ASTFProgram

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nat44_astf import parse, profile  # noqa: E402


class Nat44TcpCps:
    def get_profile(self, tunables=(), **kwargs):
        a = parse("nat44_tcp_cps", list(tunables), port=8080, cps=1000.0, bytes=64)
        client = ASTFProgram()
        client.send(b"q" * a.bytes)
        client.recv(a.bytes)
        server = ASTFProgram()
        server.recv(a.bytes)
        server.send(b"r" * a.bytes)
        return profile(a, client, server)


def register():
    return Nat44TcpCps()
