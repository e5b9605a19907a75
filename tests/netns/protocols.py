"""GRE and ESP peers for tests/netns/protocols.sh (run with /usr/bin/python3,
which has scapy).

  protocols.py ask PROTO DST MARKER [TIMEOUT]
      On a subscriber: scapy sends one GRE (PROTO gre) or ESP (esp) packet
      carrying MARKER to DST, then waits for the answer on a raw socket of
      that protocol. Prints "reply FROM" (the WAN host's answer reached
      us), "refused TYPE/CODE FROM" (an ICMP error quoting our packet), or
      "none".
  protocols.py respond LOG
      On the WAN host: raw sockets for GRE and ESP (which also keep the
      kernel from answering protocol unreachable); each packet is logged
      as "PROTO SRC MARKER" and answered with the same protocol header and
      "re:" before the marker, from this host to the packet's source.
"""
import select
import socket
import sys
import time

from scapy.all import ESP, GRE, IP, Raw, conf, send

conf.verb = 0
PROTOS = {"gre": 47, "esp": 50}
NAMES = {v: k for k, v in PROTOS.items()}


def packet(proto, dst, marker):
    if proto == "gre":
        return IP(dst=dst) / GRE(proto=0x0800) / Raw(marker)
    return IP(dst=dst) / ESP(spi=0x1001, seq=1) / Raw(marker)


def header_len(proto):
    # GRE without options: 4 bytes; ESP: SPI and sequence number, 8 bytes.
    return 4 if proto == 47 else 8


def ask(proto, dst, marker, timeout):
    n = PROTOS[proto]
    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, n)
    icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    send(packet(proto, dst, marker.encode()))
    want = b"re:" + marker.encode()
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([rx, icmp], [], [], max(0.0, end - time.time()))
        for s in r:
            data, addr = s.recvfrom(65535)
            ihl = (data[0] & 0x0F) * 4
            body = data[ihl:]
            if s is rx and body[header_len(n):] == want:
                print(f"reply {addr[0]}")
                return
            if s is icmp and len(body) >= 8 + 20 and body[0] == 3:
                inner = body[8:]
                if inner[9] == n and socket.inet_ntoa(inner[16:20]) == dst:
                    print(f"refused {body[0]}/{body[1]} {addr[0]}")
                    return
    print("none")


def respond(log):
    socks = {socket.socket(socket.AF_INET, socket.SOCK_RAW, n): n for n in PROTOS.values()}
    out = open(log, "a", buffering=1)
    print("ready", flush=True)
    while True:
        r, _, _ = select.select(list(socks), [], [])
        for s in r:
            data, addr = s.recvfrom(65535)
            n = socks[s]
            ihl = (data[0] & 0x0F) * 4
            body = data[ihl:]
            hl = header_len(n)
            marker = body[hl:]
            if marker.startswith(b"re:"):
                continue
            out.write(f"{NAMES[n]} {addr[0]} {marker.decode(errors='replace')}\n")
            s.sendto(body[:hl] + b"re:" + marker, (addr[0], 0))


if __name__ == "__main__":
    if sys.argv[1] == "ask":
        ask(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]) if len(sys.argv) > 5 else 2.0)
    elif sys.argv[1] == "respond":
        respond(sys.argv[2])
    else:
        sys.exit(__doc__)
