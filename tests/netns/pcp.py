"""A small PCP (RFC 6887) client for tests/netns/pcp.sh, with struct only
(run with /usr/bin/python3 in a LAN host's namespace).

  pcp.py ask OPCODE [options]
      Builds one request (OPCODE: announce, map, peer, or a number), sends
      it to --server:5351 from --src, and prints the response as one line
      of key=value pairs: result (its name), lifetime, epoch and, for MAP
      and PEER, external (IP:PORT) and internal port; "result=none" when
      nothing came back (two tries, 1.5 s each). With --expect NAME the
      exit status is 1 unless the result is NAME ("none": no answer).
      A MAP or PEER response must carry the request's nonce, come from
      the server's port 5351 and have the R bit and the opcode set, or
      the exit status is 3.
  pcp.py burst COUNT [options]
      COUNT ANNOUNCE requests from one socket at once; prints
      "sent=COUNT answered=N" after 2 s of quiet.
  pcp.py listen FILE SECONDS
      Listens on UDP 5350 (any address, 224.0.0.1 joined) for SECONDS and
      appends one line per message to FILE: "to=DST from=IP:PORT
      kind=pcp opcode=... result=... epoch=..." for PCP or "kind=natpmp
      opcode=... result=... epoch=... external=IP" for NAT-PMP.

Request options (ask): --src IP, --client IP (the client address field,
default --src), --lifetime N, --proto udp|tcp|N, --port N (internal),
--suggest IP:PORT, --nonce HEX24, --remote IP:PORT (PEER), --version N,
--prefer-failure, --filter IP/LEN:PORT (LEN of the IPv4-mapped address,
96..128; repeatable), --third-party IP, --option CODE:HEX (any option,
repeatable), --option-len CODE:LEN:HEX (an option whose length field is
LEN whatever the data), --truncate N, --pad N (zero octets appended).
"""
import argparse
import ipaddress
import os
import select
import socket
import struct
import sys
import time

RESULTS = [
    "SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST",
    "UNSUPP_OPCODE", "UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE",
    "NO_RESOURCES", "UNSUPP_PROTOCOL", "USER_EX_QUOTA",
    "CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS",
]
OPCODES = {"announce": 0, "map": 1, "peer": 2}
OPNAMES = {v: k.upper() for k, v in OPCODES.items()}
PROTOS = {"udp": 17, "tcp": 6}
THIRD_PARTY, PREFER_FAILURE, FILTER = 1, 2, 3
IP_PKTINFO = 8  # Linux; the socket module does not name it


def result_name(code):
    return RESULTS[code] if code < len(RESULTS) else str(code)


def mapped(ip):
    """An IPv4 address as the IPv4-mapped IPv6 address PCP carries."""
    return b"\0" * 10 + b"\xff\xff" + socket.inet_aton(ip)


def unmapped(b):
    if b[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntoa(b[12:16])
    return str(ipaddress.IPv6Address(b))


def endpoint(text):
    ip, port = text.rsplit(":", 1)
    return ip, int(port)


def option(code, data, length=None):
    """An option: code, reserved, length, data padded to 4 octets."""
    n = len(data) if length is None else length
    return struct.pack("!BBH", code, 0, n) + data + b"\0" * (-len(data) % 4)


def build(a, opcode):
    client = a.client or a.src
    msg = struct.pack("!BBHI", a.version, opcode & 0x7F, 0, a.lifetime) + mapped(client)
    if opcode in (1, 2):
        proto = PROTOS.get(a.proto, None)
        proto = int(a.proto) if proto is None else proto
        sip, sport = endpoint(a.suggest)
        msg += a.nonce + struct.pack("!B3xHH", proto, a.port, sport) + mapped(sip)
        if opcode == 2:
            rip, rport = endpoint(a.remote)
            msg += struct.pack("!H2x", rport) + mapped(rip)
    if a.third_party:
        msg += option(THIRD_PARTY, mapped(a.third_party))
    if a.prefer_failure:
        msg += option(PREFER_FAILURE, b"")
    for f in a.filter:
        addr, port = f.rsplit(":", 1)
        ip, plen = addr.split("/")
        msg += option(FILTER, struct.pack("!xBH", int(plen), int(port)) + mapped(ip))
    for o in a.option:
        code, data = o.split(":")
        msg += option(int(code), bytes.fromhex(data))
    for o in a.option_len:
        code, n, data = o.split(":")
        msg += option(int(code), bytes.fromhex(data), int(n))
    if a.truncate is not None:
        msg = msg[: a.truncate]
    return msg + b"\0" * a.pad


def parse(resp):
    """The fields of a PCP response (or of a NAT-PMP one, version 0)."""
    if len(resp) >= 8 and resp[0] == 0:
        ver, op, res, epoch = struct.unpack("!BBHI", resp[:8])
        d = {"kind": "natpmp", "version": ver, "opcode": op, "result": res, "epoch": epoch}
        if op == 128 and len(resp) >= 12:
            d["external"] = socket.inet_ntoa(resp[8:12])
        return d
    if len(resp) < 24:
        return {"kind": "short", "length": len(resp)}
    ver, rop, _, res, life, epoch = struct.unpack("!BBBBII", resp[:12])
    op = rop & 0x7F
    d = {
        "kind": "pcp", "version": ver, "r": rop >> 7,
        "opcode": OPNAMES.get(op, str(op)), "result": result_name(res),
        "lifetime": life, "epoch": epoch, "length": len(resp),
    }
    if op in (1, 2) and len(resp) >= 60:
        body = resp[24:60]
        d["nonce"] = body[:12].hex()
        proto, iport, eport = struct.unpack("!B3xHH", body[12:20])
        d["proto"] = proto
        d["internal"] = iport
        d["external"] = "%s:%d" % (unmapped(body[20:36]), eport)
        if op == 2 and len(resp) >= 80:
            rport = struct.unpack("!H", resp[60:62])[0]
            d["remote"] = "%s:%d" % (unmapped(resp[64:80]), rport)
    return d


def line(d):
    return " ".join("%s=%s" % kv for kv in d.items())


def ask(a):
    opcode = OPCODES.get(a.opcode)
    opcode = int(a.opcode) if opcode is None else opcode
    a.nonce = bytes.fromhex(a.nonce) if a.nonce else os.urandom(12)
    msg = build(a, opcode)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.src, 0))
    got = None
    for _ in range(2):
        s.sendto(msg, (a.server, 5351))
        end = time.time() + 1.5
        while got is None and time.time() < end:
            r, _, _ = select.select([s], [], [], max(0.0, end - time.time()))
            if r:
                data, frm = s.recvfrom(2048)
                got = (data, frm)
        if got:
            break
    if got is None:
        print("result=none")
        return 0 if a.expect in (None, "none") else 1
    data, frm = got
    d = parse(data)
    print(line(d))
    bad = []
    if frm != (a.server, 5351):
        bad.append("from %s:%d" % frm)
    if d.get("kind") == "pcp":
        if d["r"] != 1:
            bad.append("R bit clear")
        if opcode in (1, 2) and d["result"] != "UNSUPP_VERSION":
            if d["opcode"] != OPNAMES[opcode]:
                bad.append("opcode %s" % d["opcode"])
            has = "nonce" in d or d["result"] == "SUCCESS"
            if has and d.get("nonce") != a.nonce.hex():
                bad.append("nonce %s, not %s" % (d.get("nonce"), a.nonce.hex()))
    if bad:
        print("bad response: " + ", ".join(bad), file=sys.stderr)
        return 3
    if a.expect is not None and d.get("result") != a.expect:
        return 1
    return 0


def burst(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.src, 0))
    a.nonce = b""
    msg = build(a, 0)
    for _ in range(a.count):
        s.sendto(msg, (a.server, 5351))
    answered = 0
    while select.select([s], [], [], 2.0)[0]:
        s.recvfrom(2048)
        answered += 1
    print("sent=%d answered=%d" % (a.count, answered))
    return 0


def listen(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    try:
        mreq = socket.inet_aton("224.0.0.1") + socket.inet_aton("0.0.0.0")
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    except OSError:
        pass  # the all-hosts group is joined by every interface anyway
    s.bind(("0.0.0.0", 5350))
    end = time.time() + a.seconds
    with open(a.file, "a") as out:
        print("listening", file=out, flush=True)
        while time.time() < end:
            if not select.select([s], [], [], max(0.0, end - time.time()))[0]:
                continue
            data, anc, _, frm = s.recvmsg(2048, 256)
            dst = "?"
            for level, kind, cdata in anc:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(cdata) >= 12:
                    dst = socket.inet_ntoa(cdata[8:12])
            d = {"to": dst, "from": "%s:%d" % frm}
            d.update(parse(data))
            print(line(d), file=out, flush=True)
    return 0


def main():
    p = argparse.ArgumentParser(description="PCP test client")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("ask", "burst"):
        q = sub.add_parser(name)
        if name == "ask":
            q.add_argument("opcode")
        else:
            q.add_argument("count", type=int)
        q.add_argument("--server", default="192.168.50.1")
        q.add_argument("--src", required=True)
        q.add_argument("--client")
        q.add_argument("--version", type=int, default=2)
        q.add_argument("--lifetime", type=int, default=300)
        q.add_argument("--proto", default="udp")
        q.add_argument("--port", type=int, default=0)
        q.add_argument("--suggest", default="0.0.0.0:0")
        q.add_argument("--nonce")
        q.add_argument("--remote", default="0.0.0.0:0")
        q.add_argument("--prefer-failure", action="store_true")
        q.add_argument("--filter", action="append", default=[])
        q.add_argument("--third-party")
        q.add_argument("--option", action="append", default=[])
        q.add_argument("--option-len", action="append", default=[])
        q.add_argument("--truncate", type=int)
        q.add_argument("--pad", type=int, default=0)
        q.add_argument("--expect")
    q = sub.add_parser("listen")
    q.add_argument("file")
    q.add_argument("seconds", type=float)
    a = p.parse_args()
    return {"ask": ask, "burst": burst, "listen": listen}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
