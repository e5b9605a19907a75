// SPDX-License-Identifier: GPL-2.0
// masq's benchmark traffic generator and sink.
//
// masq_gen runs under BPF_PROG_RUN with live frames: the kernel hands it
// copies of one UDP template frame; it gives each the next source port of
// `flows` (or a new port every time when `flows` is 0) and redirects it out
// of `ifindex`. The UDP checksum of the template is 0, so changing the port
// needs no checksum update.  masq_sink counts frames and drops them;
// masq_pass lets a veth accept redirected frames for the kernel's stack.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Must match `GenConfig` in src/gen.rs. */
struct gen_cfg {
    __u32 ifindex;
    __u32 flows;
    __u32 base_port;
    __u32 base_addr; /* host order; flows spread over 256 source addresses */
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct gen_cfg);
} gen_config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} counter SEC(".maps");

SEC("xdp")
int masq_gen(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    struct gen_cfg *c;
    __u64 *n;
    __u32 zero = 0, i, port, addr;

    if ((void *)(udp + 1) > data_end)
        return XDP_ABORTED;
    c = bpf_map_lookup_elem(&gen_config, &zero);
    n = bpf_map_lookup_elem(&counter, &zero);
    if (!c || !n)
        return XDP_ABORTED;
    i = (__u32)*n;
    *n += 1;
    if (c->flows)
        i = i % c->flows;
    /* 256 hosts, ports counting up from base_port on each. */
    port = c->base_port + (i >> 8) % (65536 - c->base_port);
    addr = c->base_addr + (i & 0xff);
    udp->source = bpf_htons((__u16)port);
    if (ip->saddr != bpf_htonl(addr)) {
        /* Incremental update of the header checksum for the new source. */
        __u32 old = bpf_ntohl(ip->saddr), sum;
        sum = (__u16)~bpf_ntohs(ip->check);
        sum += (__u16)~(old >> 16) + (__u16)~(old & 0xffff);
        sum += (addr >> 16) + (addr & 0xffff);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        ip->check = bpf_htons((__u16)~sum);
        ip->saddr = bpf_htonl(addr);
    }
    return bpf_redirect(c->ifindex, 0);
}

SEC("xdp")
int masq_sink(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    __u32 zero = 0;
    __u64 *n;

    /* Only IPv4 UDP is counted and dropped: ARP and the rest pass, so the
     * sink's host still answers next-hop resolution. */
    if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP)
        return XDP_PASS;
    n = bpf_map_lookup_elem(&counter, &zero);
    if (n)
        *n += 1;
    return XDP_DROP;
}

/* Passes everything: attached to a veth that receives redirected frames
 * but runs no other XDP program (the kernel-NAT runs of the benchmark),
 * since veth drops such frames unless an XDP program is attached. */
SEC("xdp")
int masq_pass(struct xdp_md *ctx)
{
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
