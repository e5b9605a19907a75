"""UDP peers of tests/netns/mtu.sh; each mode does one exchange and exits.

  recv PORT SIZE            bind PORT, take one datagram, print "LEN ok" when
                            it is SIZE - 28 bytes of the pattern ("LEN bad"
                            otherwise, "none" after 5 s)
  send DST PORT SIZE df|nodf
                            send one datagram of SIZE IP bytes to DST:PORT;
                            with df (IP_PMTUDISC_DO), wait for the ICMP 3/4
                            and print the path MTU the kernel learnt from it
  ask DST PORT SIZE         send "hi" to DST:PORT from a fresh port, then
                            take one datagram as recv does
  reply PORT SIZE df|nodf   bind PORT, take one "hi", send SIZE IP bytes back
                            to its source (same socket); with df print the
                            path MTU learnt from the ICMP 3/4
"""

import socket
import sys
import time

IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2
IP_MTU = 14


def pattern(n):
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


def udp():
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def take(s, size):
    s.settimeout(5)
    try:
        data = s.recv(65535)
    except socket.timeout:
        print("none")
        return
    good = data == pattern(size - 28)
    print(f"{len(data) + 28} {'ok' if good else 'bad'}")


def send(s, size, df):
    """Sends from a connected socket; with DF, prints the learnt MTU."""
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if df else IP_PMTUDISC_DONT)
    try:
        s.send(pattern(size - 28))
    except OSError as e:
        print(f"send: {e}")
        return
    if df:
        time.sleep(1)
        print(s.getsockopt(socket.IPPROTO_IP, IP_MTU))


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    s = udp()
    if mode == "recv":
        s.bind(("0.0.0.0", int(args[0])))
        take(s, int(args[1]))
    elif mode == "send":
        s.connect((args[0], int(args[1])))
        send(s, int(args[2]), args[3] == "df")
    elif mode == "ask":
        s.connect((args[0], int(args[1])))
        s.send(b"hi")
        take(s, int(args[2]))
    elif mode == "reply":
        s.bind(("0.0.0.0", int(args[0])))
        s.settimeout(5)
        try:
            _, addr = s.recvfrom(100)
        except socket.timeout:
            print("no hi")
            return
        s.connect(addr)
        send(s, int(args[1]), args[2] == "df")
    else:
        sys.exit(f"unknown mode {mode}")


main()
