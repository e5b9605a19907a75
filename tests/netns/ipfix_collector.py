#!/usr/bin/env python3
"""A small IPFIX collector (RFC 7011) for masq's namespace tests.

It listens on UDP, learns templates per (exporter, observation domain)
and decodes every data record through its template, then writes one JSON
object per data record (one line, flushed at once) to stdout or a file:

    {"exporter": "10.0.0.1:40000", "domain": 1, "sequence": 0,
     "exportTime": 1700000000, "templateId": 258,
     "observationTimeMilliseconds": 1700000000123, "natEvent": 16,
     "sourceIPv4Address": "100.64.0.10", ...}

Information elements masq uses get their IANA names (IPv4 addresses as
dotted quads); others appear as "ie<N>" (enterprise ones as
"ie<N>@<PEN>") with their value as an integer (up to 8 bytes) or hex.

    ipfix_collector.py --listen 127.0.0.1:4739 [--out FILE] [--count N] [--timeout S]
    ipfix_collector.py --decode-file PATH     # messages back to back in a file

Only the Python standard library is used.
"""

import argparse
import json
import socket
import struct
import sys
import time

# id -> (name, kind); kind "ipv4" prints a dotted quad, "uint" an integer.
IES = {
    4: ("protocolIdentifier", "uint"),
    7: ("sourceTransportPort", "uint"),
    8: ("sourceIPv4Address", "ipv4"),
    11: ("destinationTransportPort", "uint"),
    12: ("destinationIPv4Address", "ipv4"),
    225: ("postNATSourceIPv4Address", "ipv4"),
    226: ("postNATDestinationIPv4Address", "ipv4"),
    227: ("postNAPTSourceTransportPort", "uint"),
    228: ("postNAPTDestinationTransportPort", "uint"),
    230: ("natEvent", "uint"),
    283: ("natPoolId", "uint"),
    323: ("observationTimeMilliseconds", "uint"),
    361: ("portRangeStart", "uint"),
    362: ("portRangeEnd", "uint"),
    363: ("portRangeStepSize", "uint"),
    364: ("portRangeNumPorts", "uint"),
    466: ("natQuotaExceededEvent", "uint"),
    471: ("maxSessionEntries", "uint"),
    472: ("maxBIBEntries", "uint"),
    473: ("maxEntriesPerUser", "uint"),
    474: ("maxSubscribers", "uint"),
}

VARIABLE = 65535


class DecodeError(Exception):
    pass


class Decoder:
    """Templates learnt so far and the decoding of messages through them."""

    def __init__(self):
        # (exporter, domain, template id) -> [(ie, enterprise, length)]
        self.templates = {}

    def message(self, data, exporter="-"):
        """Decodes one message; returns its data records as dicts."""
        if len(data) < 16:
            raise DecodeError("message shorter than its header")
        version, length, export, seq, domain = struct.unpack_from("!HHIII", data)
        if version != 10:
            raise DecodeError(f"version {version}, not 10")
        if length < 16 or length > len(data):
            raise DecodeError(f"length field {length}, message of {len(data)} bytes")
        base = {"exporter": exporter, "domain": domain, "sequence": seq, "exportTime": export}
        out = []
        at = 16
        while at + 4 <= length:
            set_id, set_len = struct.unpack_from("!HH", data, at)
            if set_len < 4 or at + set_len > length:
                raise DecodeError(f"set {set_id} length {set_len} at {at}")
            body = data[at + 4:at + set_len]
            if set_id in (2, 3):
                self._templates(body, set_id == 3, (exporter, domain))
            elif set_id >= 256:
                out.extend(self._data(body, (exporter, domain, set_id), base))
            at += set_len
        return out

    def _templates(self, body, options, key):
        p = 0
        while p + 4 <= len(body):
            tid, count = struct.unpack_from("!HH", body, p)
            p += 4
            if tid < 256:  # padding
                break
            if options:
                p += 2  # scope field count
            fields = []
            for _ in range(count):
                if p + 4 > len(body):
                    raise DecodeError(f"template {tid} cut short")
                ie, flen = struct.unpack_from("!HH", body, p)
                p += 4
                pen = None
                if ie & 0x8000:
                    if p + 4 > len(body):
                        raise DecodeError(f"template {tid} cut short")
                    (pen,) = struct.unpack_from("!I", body, p)
                    p += 4
                    ie &= 0x7FFF
                fields.append((ie, pen, flen))
            # A template with no field withdraws the template (RFC 7011 §8.1).
            if fields:
                self.templates[key + (tid,)] = fields
            else:
                self.templates.pop(key + (tid,), None)

    def _data(self, body, key, base):
        fields = self.templates.get(key)
        if fields is None:
            return []  # no template yet: nothing to read it with
        fixed = sum(f[2] for f in fields if f[2] != VARIABLE)
        out = []
        p = 0
        while p < len(body) and len(body) - p >= max(fixed, 1):
            rec = dict(base)
            rec["templateId"] = key[2]
            for ie, pen, flen in fields:
                if flen == VARIABLE:
                    if p >= len(body):
                        raise DecodeError("variable-length field cut short")
                    flen = body[p]
                    p += 1
                    if flen == 255:
                        (flen,) = struct.unpack_from("!H", body, p)
                        p += 2
                value = body[p:p + flen]
                if len(value) != flen:
                    raise DecodeError(f"record of template {key[2]} cut short")
                p += flen
                name, kind = IES.get(ie, (f"ie{ie}", "uint")) if pen is None else (f"ie{ie}@{pen}", "uint")
                if kind == "ipv4" and flen == 4:
                    rec[name] = socket.inet_ntoa(value)
                elif flen <= 8:
                    rec[name] = int.from_bytes(value, "big")
                else:
                    rec[name] = value.hex()
            out.append(rec)
        return out


def decode_file(path):
    """Decodes IPFIX messages stored back to back in a file."""
    with open(path, "rb") as f:
        data = f.read()
    d = Decoder()
    records = []
    at = 0
    while at + 4 <= len(data):
        (length,) = struct.unpack_from("!H", data, at + 2)
        if length < 16:
            raise DecodeError(f"length field {length} at offset {at}")
        records.extend(d.message(data[at:at + length], path))
        at += length
    return records


def listen(addr, out, count, timeout):
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, int(port)))
    deadline = time.monotonic() + timeout if timeout else None
    d = Decoder()
    seen = 0
    while count is None or seen < count:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
        try:
            data, peer = sock.recvfrom(65535)
        except socket.timeout:
            break
        exporter = f"{peer[0]}:{peer[1]}"
        try:
            records = d.message(data, exporter)
        except DecodeError as e:
            print(f"ipfix_collector: {exporter}: {e}", file=sys.stderr, flush=True)
            continue
        for r in records:
            out.write(json.dumps(r, sort_keys=True) + "\n")
            out.flush()
            seen += 1
    return seen


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:4739", help="IP:PORT to receive on")
    ap.add_argument("--out", help="file to append JSON lines to (default stdout)")
    ap.add_argument("--count", type=int, help="exit after this many data records")
    ap.add_argument("--timeout", type=float, help="exit after this many seconds")
    ap.add_argument("--decode-file", metavar="PATH", help="decode messages stored in a file and exit")
    a = ap.parse_args()
    if a.decode_file:
        try:
            for r in decode_file(a.decode_file):
                print(json.dumps(r, sort_keys=True), flush=True)
        except (OSError, DecodeError) as e:
            print(f"ipfix_collector: {e}", file=sys.stderr)
            return 1
        return 0
    out = open(a.out, "a", encoding="utf-8") if a.out else sys.stdout
    try:
        listen(a.listen, out, a.count, a.timeout)
    except KeyboardInterrupt:
        pass
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
