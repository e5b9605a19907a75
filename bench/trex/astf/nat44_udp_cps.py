"""TRex ASTF profile: UDP "connections" per second through a NAT44. Each
connection is one request and one response of `bytes` bytes: every one
makes the NAT create a session (and, with port blocks, sometimes a block).

    start -f bench/trex/astf/nat44_udp_cps.py -m 1 \
        -t subscribers=4096,cps=100000

Scale with -m (a multiplier of cps). Tunables: subscribers, servers, client,
server, port, cps, bytes.
"""
import os
import sys

from trex.astf.api import ASTFProgram

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nat44_astf import parse, profile  # noqa: E402


class Nat44UdpCps:
    def get_profile(self, tunables=(), **kwargs):
        a = parse("nat44_udp_cps", list(tunables), port=5353, cps=1000.0, bytes=64)
        msg = b"q" * a.bytes
        client = ASTFProgram(stream=False)
        client.send_msg(msg)
        client.recv_msg(1)
        server = ASTFProgram(stream=False)
        server.recv_msg(1)
        server.send_msg(msg)
        return profile(a, client, server)


def register():
    return Nat44UdpCps()
