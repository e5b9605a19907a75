"""Shared parts of the ASTF profiles: address generators for subscribers
behind the NAT (clients) and servers on the WAN side, and the tunables.

The NAT rewrites the clients' addresses and ports; TRex's servers accept
connections by destination port (ASTFAssociationRule), whatever source the
NAT gave them, so no learning mode is needed.
"""
import argparse

from trex.astf.api import (ASTFAssociationRule, ASTFIPGen, ASTFIPGenDist,
                           ASTFIPGenGlobal, ASTFProfile, ASTFTCPClientTemplate,
                           ASTFTCPServerTemplate, ASTFTemplate)


def ipv4_add(addr, n):
    a = [int(x) for x in addr.split(".")]
    v = (a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3]) + n
    return ".".join(str((v >> s) & 0xFF) for s in (24, 16, 8, 0))


def parse(prog, tunables, **defaults):
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--subscribers", type=int, default=4096)
    p.add_argument("--servers", type=int, default=256)
    p.add_argument("--client", default="100.64.0.1")
    p.add_argument("--server", default="198.18.1.1")
    p.add_argument("--port", type=int, default=defaults.get("port", 8080))
    p.add_argument("--cps", type=float, default=defaults.get("cps", 1000.0))
    p.add_argument("--bytes", type=int, default=defaults.get("bytes", 64))
    a = p.parse_args(tunables)
    if not 1 <= a.subscribers <= 1 << 22:
        p.error("subscribers: 1 to 4194304")
    if not 1 <= a.servers <= 65536:
        p.error("servers: 1 to 65536")
    if not 1 <= a.port <= 65535:
        p.error("port: 1 to 65535")
    if a.cps <= 0 or a.bytes < 1:
        p.error("cps and bytes must be positive")
    return a


def ip_gen(a):
    return ASTFIPGen(
        glob=ASTFIPGenGlobal(ip_offset="1.0.0.0"),
        dist_client=ASTFIPGenDist(
            ip_range=[a.client, ipv4_add(a.client, a.subscribers - 1)], distribution="seq"),
        dist_server=ASTFIPGenDist(
            ip_range=[a.server, ipv4_add(a.server, a.servers - 1)], distribution="seq"),
    )


def profile(a, client, server):
    """One template: `client` programs run at `cps` from the subscribers to
    the servers' `port`, where `server` programs answer."""
    gen = ip_gen(a)
    template = ASTFTemplate(
        client_template=ASTFTCPClientTemplate(program=client, ip_gen=gen, port=a.port, cps=a.cps),
        server_template=ASTFTCPServerTemplate(program=server, assoc=ASTFAssociationRule(port=a.port)),
    )
    return ASTFProfile(default_ip_gen=gen, templates=template)
