#!/usr/bin/python3
"""Checks the TRex profiles without TRex.

TRex cannot run here (it needs DPDK NICs), so this loads every profile
against small stand-ins for `trex_stl_lib.api` and `trex.astf.api` that
record what the profile builds and check it: packets are built with scapy,
flow variables write to fields the packet has, address ranges are valid and
cover the subscribers asked for, tunables are honoured and bad ones refused.
It proves the profiles are well-formed Python that builds what they say;
it cannot prove TRex accepts every keyword (that needs a TRex install:
`trex-console` then `start -f PROFILE`).

    /usr/bin/python3 bench/trex/check_profiles.py
"""
import contextlib
import importlib.util
import io
import ipaddress
import os
import sys
import types

from scapy.all import IP, UDP, Ether  # noqa: F401  (the stand-in re-exports them)

HERE = os.path.dirname(os.path.abspath(__file__))


class Recorder:
    """Keeps its constructor's arguments."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


def _ip(s):
    return int(ipaddress.IPv4Address(s))


class STLVmTupleGen(Recorder):
    def __init__(self, name, ip_min, ip_max, port_min, port_max, **kw):
        super().__init__(name=name, ip_min=ip_min, ip_max=ip_max, port_min=port_min, port_max=port_max, **kw)
        assert _ip(ip_min) <= _ip(ip_max), f"tuple {name}: {ip_min} > {ip_max}"
        assert 0 < port_min <= port_max <= 65535, f"tuple {name}: ports {port_min}-{port_max}"
        self.name = name
        self.flows = (_ip(ip_max) - _ip(ip_min) + 1) * (port_max - port_min + 1)


class STLVmWrFlowVar(Recorder):
    def __init__(self, fv_name, pkt_offset, **kw):
        super().__init__(fv_name=fv_name, pkt_offset=pkt_offset, **kw)
        self.fv_name, self.pkt_offset = fv_name, pkt_offset


class STLVmFixIpv4(Recorder):
    def __init__(self, offset, **kw):
        super().__init__(offset=offset, **kw)
        self.offset = offset


class STLScVmRaw(Recorder):
    def __init__(self, list_of_commands, **kw):
        super().__init__(list_of_commands, **kw)
        self.commands = list_of_commands


class STLPktBuilder(Recorder):
    def __init__(self, pkt, vm=None, **kw):
        super().__init__(pkt=pkt, vm=vm, **kw)
        self.pkt, self.vm = pkt, vm
        names = set()
        for c in vm.commands if vm else []:
            if isinstance(c, STLVmTupleGen):
                names |= {c.name + ".ip", c.name + ".port"}
            elif isinstance(c, STLVmWrFlowVar):
                assert c.fv_name in names, f"writes {c.fv_name} before it is defined"
                layer, field = c.pkt_offset.split(".")
                assert pkt.haslayer(layer), f"no {layer} layer for {c.pkt_offset}"
                assert field in pkt[layer].fields_desc_names(), f"no field {c.pkt_offset}"
            elif isinstance(c, STLVmFixIpv4):
                assert pkt.haslayer(c.offset), f"no {c.offset} layer to fix"


class STLTXCont(Recorder):
    def __init__(self, pps=None, percentage=None, **kw):
        super().__init__(pps=pps, percentage=percentage, **kw)
        assert pps is None or pps > 0
        self.pps = pps


class STLStream(Recorder):
    def __init__(self, packet=None, mode=None, **kw):
        super().__init__(packet=packet, mode=mode, **kw)
        assert isinstance(packet, STLPktBuilder) and isinstance(mode, STLTXCont)
        self.packet, self.mode = packet, mode


class ASTFIPGenDist(Recorder):
    def __init__(self, ip_range, distribution="seq", **kw):
        super().__init__(ip_range=ip_range, distribution=distribution, **kw)
        lo, hi = ip_range
        assert _ip(lo) <= _ip(hi), f"range {ip_range}"
        assert distribution in ("seq", "rand")
        self.count = _ip(hi) - _ip(lo) + 1
        self.ip_range = ip_range


class ASTFIPGenGlobal(Recorder):
    pass


class ASTFIPGen(Recorder):
    def __init__(self, glob, dist_client, dist_server, **kw):
        super().__init__(glob=glob, dist_client=dist_client, dist_server=dist_server, **kw)
        self.client, self.server = dist_client, dist_server


class ASTFProgram(Recorder):
    def __init__(self, stream=True, **kw):
        super().__init__(stream=stream, **kw)
        self.stream = stream
        self.steps = []

    def _step(self, name, *args, **kw):
        udp_only = name in ("send_msg", "recv_msg")
        assert udp_only == (not self.stream), f"{name} in a {'stream' if self.stream else 'datagram'} program"
        self.steps.append((name, args, kw))

    def send(self, buf, size=None, fill=None):
        self._step("send", buf, size=size, fill=fill)

    def recv(self, bytes, **kw):
        self._step("recv", bytes, **kw)

    def send_msg(self, buf, **kw):
        self._step("send_msg", buf, **kw)

    def recv_msg(self, pkts, **kw):
        self._step("recv_msg", pkts, **kw)


class ASTFAssociationRule(Recorder):
    def __init__(self, port=80, **kw):
        super().__init__(port=port, **kw)
        self.port = port


class ASTFTCPClientTemplate(Recorder):
    def __init__(self, program, ip_gen, port=80, cps=1, **kw):
        super().__init__(program=program, ip_gen=ip_gen, port=port, cps=cps, **kw)
        self.program, self.ip_gen, self.port, self.cps = program, ip_gen, port, cps


class ASTFTCPServerTemplate(Recorder):
    def __init__(self, program, assoc, **kw):
        super().__init__(program=program, assoc=assoc, **kw)
        self.program, self.assoc = program, assoc


class ASTFTemplate(Recorder):
    def __init__(self, client_template, server_template, **kw):
        super().__init__(client_template=client_template, server_template=server_template, **kw)
        assert client_template.port == server_template.assoc.port, "client and server ports differ"
        self.client, self.server = client_template, server_template


class ASTFProfile(Recorder):
    def __init__(self, default_ip_gen, templates, **kw):
        super().__init__(default_ip_gen=default_ip_gen, templates=templates, **kw)
        self.templates = templates if isinstance(templates, list) else [templates]


def install_stand_ins():
    def fields_desc_names(self):
        return [f.name for f in self.fields_desc]

    from scapy.packet import Packet
    Packet.fields_desc_names = fields_desc_names
    stl = types.ModuleType("trex_stl_lib.api")
    for name in ("STLVmTupleGen", "STLVmWrFlowVar", "STLVmFixIpv4", "STLScVmRaw", "STLPktBuilder",
                 "STLTXCont", "STLStream"):
        setattr(stl, name, globals()[name])
    stl.Ether, stl.IP, stl.UDP = Ether, IP, UDP
    astf = types.ModuleType("trex.astf.api")
    for name in ("ASTFIPGenDist", "ASTFIPGenGlobal", "ASTFIPGen", "ASTFProgram", "ASTFAssociationRule",
                 "ASTFTCPClientTemplate", "ASTFTCPServerTemplate", "ASTFTemplate", "ASTFProfile"):
        setattr(astf, name, globals()[name])
    sys.modules["trex_stl_lib"] = types.ModuleType("trex_stl_lib")
    sys.modules["trex_stl_lib.api"] = stl
    sys.modules["trex"] = types.ModuleType("trex")
    sys.modules["trex.astf"] = types.ModuleType("trex.astf")
    sys.modules["trex.astf.api"] = astf


def load(rel):
    path = os.path.join(HERE, rel)
    spec = importlib.util.spec_from_file_location(rel.replace("/", "_")[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.register()


def refused(call):
    """Whether the profile refuses (argparse exits), its message kept quiet."""
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            call()
        except SystemExit:
            return True
    return False


def check_stl():
    p = load("stl/nat44_udp.py")
    (s,) = p.get_streams()
    assert len(s.packet.pkt) + 4 == 64, f"default frame is {len(s.packet.pkt) + 4} bytes"
    tup = s.packet.vm.commands[0]
    assert tup.flows == 4096 * 256, tup.flows
    assert tup.kwargs["ip_min"] == "100.64.0.1" and tup.kwargs["ip_max"] == "100.64.16.0"
    (s,) = p.get_streams(["--subscribers", "10", "--ports_per_subscriber", "3", "--size", "128"])
    assert len(s.packet.pkt) + 4 == 128
    assert s.packet.vm.commands[0].flows == 30
    assert refused(lambda: p.get_streams(["--size", "63"]))
    assert refused(lambda: p.get_streams(["--subscribers", "0"]))
    imix = load("stl/nat44_udp_imix.py").get_streams()
    got = sorted((len(x.packet.pkt) + 4, x.mode.pps) for x in imix)
    assert got == [(64, 7), (594, 4), (1518, 1)], got
    return 2


def check_astf():
    n = 0
    for rel, port, stream in (("astf/nat44_udp_cps.py", 5353, False), ("astf/nat44_tcp_cps.py", 8080, True),
                              ("astf/nat44_tcp_throughput.py", 8081, True)):
        p = load(rel)
        prof = p.get_profile()
        (t,) = prof.templates
        assert t.client.port == port, (rel, t.client.port)
        assert t.client.program.stream is stream and t.server.program.stream is stream, rel
        assert t.client.ip_gen.client.count == 4096 and t.client.ip_gen.server.count == 256, rel
        assert t.client.program.steps and t.server.program.steps, rel
        prof = p.get_profile(["--subscribers", "100", "--cps", "5000", "--port", "9000"])
        (t,) = prof.templates
        assert (t.client.ip_gen.client.count, t.client.cps, t.server.assoc.port) == (100, 5000, 9000), rel
        assert refused(lambda: p.get_profile(["--cps", "0"])), rel
        assert refused(lambda: p.get_profile(["--port", "70000"])), rel
        n += 1
    return n


def main():
    install_stand_ins()
    n = check_stl() + check_astf()
    print(f"check_profiles: {n} TRex profiles load and build what they describe (against stand-ins, not TRex)")


if __name__ == "__main__":
    main()
