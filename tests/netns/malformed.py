#!/usr/bin/python3
"""Malformed and unusual IPv4 frames for tests/netns/malformed.sh.

    malformed.py send IFACE DST_MAC CASE COUNT [KEY=VALUE ...]
        Sends COUNT frames of CASE out of IFACE (a raw AF_PACKET socket,
        the bytes exactly as built) to DST_MAC, and prints
        "sent CASE FRAMES" (or "refused CASE ERROR" when the sending kernel
        will not take the frame). KEY=VALUE sets the fields a case uses:
        src, dst (IPv4), sport, dport, ttl, mac (the destination MAC,
        overriding DST_MAC), idbase (first IP id of fragment cases).
    malformed.py serve IFACE DST_MAC
        Prints "ready", then reads lines "CASE COUNT [KEY=VALUE ...]" from
        stdin and answers each as send does (one line, flushed), so that a
        test pays for starting scapy once.
    malformed.py cases
        Lists the cases, one a line: NAME FRAMES_PER_COUNT DESCRIPTION.
    malformed.py pcap FILE [KEY=VALUE ...]
        Counts the IPv4 packets of a capture that match every KEY=VALUE
        given (see match()) and prints the count.

Each case builds frame i (0 <= i < COUNT) from scapy layers and then
breaks it on purpose, so the bytes on the wire are what the name says.
"""

import socket
import struct
import sys

from scapy.all import ICMP, IP, TCP, UDP, Ether, Raw, get_if_hwaddr, rdpcap
from scapy.utils import checksum

PAYLOAD = b"masq-malformed-test-payload!"  # 28 bytes


def ipv4(p, **kw):
    """An IPv4 header with the case's addresses and TTL."""
    return IP(src=p["src"], dst=p["dst"], ttl=int(p.get("ttl", 64)), **kw)


def udp(p, i, **kw):
    return bytes(ipv4(p, id=i & 0xFFFF, **kw) / UDP(sport=int(p.get("sport", 40000)), dport=int(p.get("dport", 9))) / Raw(PAYLOAD))


def tcp(p, i, flags="S"):
    return bytes(ipv4(p, id=i & 0xFFFF) / TCP(sport=int(p.get("sport", 40000)), dport=int(p.get("dport", 9)),
                                               flags=flags, seq=1000 + i, ack=(1 if "A" in flags else 0)))


def set_ip_checksum(b):
    """Recomputes the IPv4 header checksum of b (header length from IHL,
    clamped to what b holds)."""
    b = bytearray(b)
    hl = min((b[0] & 0x0F) * 4, len(b))
    hl = max(hl, 12)
    b[10:12] = b"\0\0"
    b[10:12] = struct.pack("!H", checksum(bytes(b[:hl])))
    return bytes(b)


def with_options(b, opts):
    """Inserts raw option bytes (a multiple of 4) after a 20-byte header,
    with IHL, total length and header checksum to match."""
    b = bytearray(b[:20] + opts + b[20:])
    b[0] = 0x40 | (len(opts) + 20) // 4
    b[2:4] = struct.pack("!H", len(b))
    return set_ip_checksum(b)


def with_ihl(b, ihl):
    b = bytearray(b)
    b[0] = 0x40 | ihl
    return set_ip_checksum(b)


def with_total_len(b, tl):
    b = bytearray(b)
    b[2:4] = struct.pack("!H", tl)
    return set_ip_checksum(b)


def flip_l4_checksum(b, at):
    """Adds one to the 16-bit transport checksum at offset at (of the
    transport header), so it no longer verifies (and is never 0)."""
    b = bytearray(b)
    hl = (b[0] & 0x0F) * 4
    c = struct.unpack("!H", b[hl + at:hl + at + 2])[0]
    c = (c + 1) & 0xFFFF or 1
    b[hl + at:hl + at + 2] = struct.pack("!H", c)
    return bytes(b)


def cut_l4(b, keep):
    """Keeps keep bytes of the transport header and sets the total length
    (and header checksum) to match, so only the transport part is short."""
    hl = (b[0] & 0x0F) * 4
    return with_total_len(b[:hl + keep], hl + keep)


def frag(p, i, proto, l4, off, mf):
    """One fragment: l4 raw bytes at offset off (8-byte units)."""
    flags = "MF" if mf else 0
    ipid = (int(p.get("idbase", 0x5000)) + i) & 0xFFFF
    return bytes(ipv4(p, id=ipid, proto=proto, flags=flags, frag=off) / Raw(l4))


def udp_segment(p, data):
    """A whole UDP header + data with a correct checksum, as bytes."""
    return bytes(IP(src=p["src"], dst=p["dst"]) / UDP(sport=int(p.get("sport", 40000)), dport=int(p.get("dport", 9))) / Raw(data))[20:]


def tcp_segment(p, i, flags="S"):
    return bytes(IP(src=p["src"], dst=p["dst"]) / TCP(sport=int(p.get("sport", 40000)), dport=int(p.get("dport", 9)),
                                                       flags=flags, seq=1000 + i))[20:]


def icmp_error(p, i, inner, good_checksum=True):
    """ICMP 3/3 (port unreachable) from p's src to p's dst quoting inner."""
    b = bytearray(bytes(ipv4(p, id=i & 0xFFFF) / ICMP(type=3, code=3) / Raw(inner)))
    if not good_checksum:
        c = struct.unpack("!H", b[22:24])[0]
        b[22:24] = struct.pack("!H", (c + 1) & 0xFFFF or 1)
    return bytes(b)


def quoted_udp(p):
    """The first 28 bytes of a UDP datagram the NAT would have sent: from
    p's dst (a pool address) and port, to p's src."""
    q = IP(src=p["dst"], dst=p["src"], ttl=63) / UDP(sport=int(p.get("dport", 9)), dport=int(p.get("sport", 40000))) / Raw(b"x" * 8)
    return bytes(q)[:28]


# name: (frames per count, description, builder(params, i) -> list of L3 bytes
# or (ethertype, bytes) for a non-default Ethernet payload).
CASES = {
    "eth_short": (1, "10 bytes: shorter than an Ethernet header", None),
    "eth_only": (1, "Ethernet header of type IPv4, nothing after it", lambda p, i: [b""]),
    "ip_cut12": (1, "the first 12 bytes of an IPv4 header", lambda p, i: [udp(p, i)[:12]]),
    "ip_cut19": (1, "the first 19 bytes of an IPv4 header", lambda p, i: [udp(p, i)[:19]]),
    "ihl0": (1, "IHL 0", lambda p, i: [with_ihl(udp(p, i), 0)]),
    "ihl4": (1, "IHL 4 (16-byte header)", lambda p, i: [with_ihl(udp(p, i), 4)]),
    "ihl_long": (1, "IHL 15 (60 bytes) in a 48-byte packet", lambda p, i: [with_ihl(udp(p, i)[:48], 15)]),
    "ver6": (1, "version 6 in an IPv4 frame", lambda p, i: [bytes([0x65]) + udp(p, i)[1:]]),
    "tlen_long": (1, "total length 1000, 56 bytes in the frame", lambda p, i: [with_total_len(udp(p, i), 1000)]),
    "tlen_short": (1, "total length 12, below the header length", lambda p, i: [with_total_len(udp(p, i), 12)]),
    "ip_badsum": (1, "IPv4 header checksum off by one", lambda p, i: [flip_ip_checksum(udp(p, i))]),
    "tcp_cut": (1, "TCP header cut to 12 bytes", lambda p, i: [cut_l4(tcp(p, i), 12)]),
    "tcp_doff": (1, "TCP data offset 3 (12 bytes)", lambda p, i: [tcp_doff(p, i)]),
    "udp_cut": (1, "UDP header cut to 4 bytes", lambda p, i: [cut_l4(udp(p, i), 4)]),
    "udp_len": (1, "UDP length 200 in a 36-byte datagram", lambda p, i: [udp_len(p, i)]),
    "icmp_cut": (1, "ICMP echo request cut to 4 bytes", lambda p, i: [cut_l4(echo(p, i), 4)]),
    "udp": (1, "a valid UDP datagram (src, dst, sport, dport, ttl)", lambda p, i: [udp(p, i)]),
    "udp_badsum": (1, "UDP with a wrong checksum", lambda p, i: [flip_l4_checksum(udp(p, i), 6)]),
    "tcp_syn": (1, "a valid TCP SYN", lambda p, i: [tcp(p, i, "S")]),
    "tcp_ack": (1, "a valid bare TCP ACK", lambda p, i: [tcp(p, i, "A")]),
    "tcp_syn_badsum": (1, "TCP SYN with a wrong checksum", lambda p, i: [flip_l4_checksum(tcp(p, i, "S"), 16)]),
    "tcp_ack_badsum": (1, "TCP ACK with a wrong checksum", lambda p, i: [flip_l4_checksum(tcp(p, i, "A"), 16)]),
    "echo": (1, "a valid ICMP echo request", lambda p, i: [echo(p, i)]),
    "echo_badsum": (1, "ICMP echo request with a wrong checksum", lambda p, i: [flip_l4_checksum(echo(p, i), 2)]),
    "opt_valid": (1, "UDP with IP options NOP, router alert, NOP, EOL (IHL 7)",
                  lambda p, i: [with_options(udp(p, i), b"\x01\x94\x04\x00\x00\x01\x00\x00")]),
    "opt_rr": (1, "UDP with a record route option (IHL 8)",
               lambda p, i: [with_options(udp(p, i), b"\x07\x0b\x04" + b"\0" * 8 + b"\x00")]),
    "opt_len0": (1, "UDP with an IP option of length 0",
                 lambda p, i: [with_options(udp(p, i), b"\x44\x00\x00\x00")]),
    "opt_overrun": (1, "UDP with an IP option longer than the header",
                    lambda p, i: [with_options(udp(p, i), b"\x07\x28\x04\x00")]),
    "frag_tiny_tcp": (1, "first TCP fragment of 8 bytes (ports, no flags)",
                      lambda p, i: [frag(p, i, 6, tcp_segment(p, i)[:8], 0, True)]),
    "frag_tiny_udp": (1, "first UDP fragment of 4 bytes (half the header)",
                      lambda p, i: [frag(p, i, 17, udp_segment(p, PAYLOAD * 2)[:4], 0, True)]),
    "frag_overlap": (3, "UDP datagram in 3 fragments, the second overlapping the first",
                     lambda p, i: overlap(p, i)),
    "frag_tcp_off1": (2, "TCP first fragment (24 bytes), then one at offset 8 over its flags",
                      lambda p, i: tcp_off1(p, i)),
    "frag_beyond": (1, "fragment at offset 65520 with 24 bytes: past 65535",
                    lambda p, i: [frag(p, i, 17, b"z" * 24, 8190, False)]),
    "proto47": (1, "GRE (protocol 47)", lambda p, i: [bytes(ipv4(p, id=i, proto=47) / Raw(b"\x00\x00\x08\x00" + PAYLOAD))]),
    "proto132": (1, "SCTP (protocol 132)", lambda p, i: [bytes(ipv4(p, id=i, proto=132) / Raw(b"\x9c\x40\x00\x09" + PAYLOAD))]),
    "proto253": (1, "protocol 253 (experimental)", lambda p, i: [bytes(ipv4(p, id=i, proto=253) / Raw(PAYLOAD))]),
    "proto0": (1, "IP protocol 0 (HOPOPT, no meaning in IPv4)", lambda p, i: [bytes(ipv4(p, id=i, proto=0) / Raw(PAYLOAD))]),
    "dccp_cut": (1, "DCCP (33) of 6 bytes: too short for its checksum", lambda p, i: [bytes(ipv4(p, id=i, proto=33) / Raw(b"\x9c\x40\x00\x09\x03\x00"))]),
    "icmp_err_unknown": (1, "ICMP 3/3 quoting a UDP datagram of no session",
                         lambda p, i: [icmp_error(p, i, quoted_udp(p))]),
    "icmp_err_cut": (1, "ICMP 3/3 quoting 12 bytes of an IPv4 header",
                     lambda p, i: [icmp_error(p, i, quoted_udp(p)[:12])]),
    "icmp_err_badsum": (1, "ICMP 3/3 with a wrong checksum",
                        lambda p, i: [icmp_error(p, i, quoted_udp(p), good_checksum=False)]),
}


def flip_ip_checksum(b):
    b = bytearray(b)
    c = struct.unpack("!H", b[10:12])[0]
    b[10:12] = struct.pack("!H", (c + 1) & 0xFFFF)
    return bytes(b)


def echo(p, i):
    return bytes(ipv4(p, id=i & 0xFFFF) / ICMP(type=8, id=int(p.get("sport", 40000)), seq=i & 0xFFFF) / Raw(PAYLOAD))


def tcp_doff(p, i):
    b = bytearray(tcp(p, i))
    b[20 + 12] = (3 << 4) | (b[20 + 12] & 0x0F)
    return bytes(b)


def udp_len(p, i):
    b = bytearray(udp(p, i))
    b[24:26] = struct.pack("!H", 200)
    return bytes(b)


def overlap(p, i):
    """Fragments [0, 24) MF, [8, 32) MF, [32, 36): the second rewrites
    bytes 8..23 that the first already carried."""
    seg = udp_segment(p, b"A" * 28)
    return [frag(p, i, 17, seg[0:24], 0, True),
            frag(p, i, 17, b"B" * 24, 1, True),
            frag(p, i, 17, seg[32:36], 4, False)]


def tcp_off1(p, i):
    """A TCP SYN split as [0, 24) MF and [8, 32) at offset 1: the second
    would overwrite the flags the NAT saw (RFC 1858)."""
    seg = tcp_segment(p, i, "S") + b"\0" * 12
    return [frag(p, i, 6, seg[0:24], 0, True),
            frag(p, i, 6, b"\x00\x00\x00\x00\x50\x12\xff\xff" + b"\0" * 16, 1, False)]


def params(args):
    p = {"src": "192.168.50.11", "dst": "198.18.0.2"}
    for a in args:
        k, _, v = a.partition("=")
        p[k] = v
    return p


def send(iface, dst_mac, case, count, p):
    if case not in CASES:
        print(f"error no case {case!r}")
        return
    dst_mac = p.get("mac", dst_mac)
    src_mac = get_if_hwaddr(iface)
    eth = bytes(Ether(dst=dst_mac, src=src_mac, type=0x0800))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    if case == "eth_short":
        try:
            s.send(eth[:10])
        except OSError as e:
            print(f"refused {case} {e.strerror}")
            return
        frames = [eth[:10]] * count
    else:
        frames = [eth + l3 for i in range(count) for l3 in CASES[case][2](p, i)]
    n = 0
    for f in frames:
        s.send(f)
        n += 1
    print(f"sent {case} {n}")


def bad_l4_checksum(pkt):
    """True when the TCP/UDP/ICMP checksum of an IPv4 packet does not
    verify (a UDP checksum of 0 means none), read from the captured bytes."""
    frame = bytes(getattr(pkt, "original", None) or bytes(pkt))
    raw = frame[14:]
    hl = (raw[0] & 0x0F) * 4
    seg = raw[hl:struct.unpack("!H", raw[2:4])[0]]
    if raw[9] == 1:
        return checksum(seg) != 0
    if raw[9] == 17 and seg[6:8] == b"\0\0":
        return False
    pseudo = raw[12:20] + struct.pack("!BBH", 0, raw[9], len(seg))
    return checksum(pseudo + seg) != 0


PROTOS = {"icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "sctp": 132, "p253": 253}


def match(k, p):
    """True when IPv4 packet k has every property p names: proto
    (icmp/tcp/udp), src (an address, or a prefix ending in "."), dst, sport,
    dport (TCP/UDP), icmp_type, ttl, badsum (1: the transport checksum does
    not verify, 0: it does; never a fragment), options (1: IHL > 5),
    frag (1: a fragment), dst_class (multicast: 224/4, bcast:
    255.255.255.255, martian: 0/8, 127/8, 240/4)."""
    ip = k[IP]
    for key, v in p.items():
        if key == "proto" and ip.proto != PROTOS[v]:
            return False
        if key in ("src", "dst"):
            a = getattr(ip, key)
            if not (a.startswith(v) if v.endswith(".") else a == v):
                return False
        if key in ("sport", "dport", "badsum") and (ip.flags.MF or ip.frag):
            return False
        if key in ("sport", "dport"):
            if ip.proto not in (6, 17) or len(bytes(ip.payload)) < 4:
                return False
            ports = struct.unpack("!HH", bytes(ip.payload)[:4])
            if ports[0 if key == "sport" else 1] != int(v):
                return False
        if key == "icmp_type" and (ip.proto != 1 or ip.frag != 0 or bytes(ip.payload)[:1] != bytes([int(v)])):
            return False
        if key == "ttl" and ip.ttl != int(v):
            return False
        if key == "badsum" and bad_l4_checksum(k) != (v == "1"):
            return False
        if key == "options" and (ip.ihl > 5) != (v == "1"):
            return False
        if key == "frag" and bool(ip.flags.MF or ip.frag) != (v == "1"):
            return False
        if key == "dst_class":
            first = int(ip.dst.split(".")[0])
            cls = ("bcast" if ip.dst == "255.255.255.255" else "multicast" if 224 <= first < 240
                   else "martian" if first in (0, 127) or first >= 240 else "")
            if cls != v:
                return False
    return True


def pcap(path, p):
    n = 0
    for k in rdpcap(path):
        try:
            if IP in k and match(k, p):
                n += 1
        except (IndexError, struct.error, TypeError, ValueError):
            continue
    print(n)


def main(argv):
    if len(argv) >= 2 and argv[1] == "cases":
        for name, (per, desc, _) in CASES.items():
            print(name, per, desc)
        return
    if len(argv) >= 6 and argv[1] == "send":
        send(argv[2], argv[3], argv[4], int(argv[5]), params(argv[6:]))
        return
    if len(argv) == 4 and argv[1] == "serve":
        print("ready", flush=True)
        for line in sys.stdin:
            w = line.split()
            try:
                send(argv[2], argv[3], w[0], int(w[1]), params(w[2:]))
            except (ValueError, IndexError, OSError) as e:
                print(f"error {line.strip()}: {e}")
            sys.stdout.flush()
        return
    if len(argv) >= 3 and argv[1] == "pcap":
        p = dict(a.partition("=")[::2] for a in argv[3:])
        pcap(argv[2], p)
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
