"""TRex STL profile: the flows of nat44_udp.py with the simple IMIX frame
mix (64, 594 and 1518 bytes in the ratio 7:4:1), LAN to WAN. Tunables as in
nat44_udp.py (size is ignored).

    start -f bench/trex/stl/nat44_udp_imix.py -m 10gbps --port 0
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nat44_udp import parse, udp_stream  # noqa: E402

IMIX = [(64, 7), (594, 4), (1518, 1)]


class Nat44UdpImix:
    def get_streams(self, tunables=(), **kwargs):
        a = parse(list(tunables))
        return [udp_stream(a, size, pps=weight) for size, weight in IMIX]


def register():
    return Nat44UdpImix()
