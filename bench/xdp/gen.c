// SPDX-License-Identifier: GPL-2.0
// masq's benchmark traffic generator and sink.
//
// masq_gen runs under BPF_PROG_RUN with live frames: the kernel hands it
// frames from a page pool seeded with one UDP template. The pages are
// recycled without being reset, and a receiver may have rewritten them
// (the kernel's NAT rewrites addresses and MACs in place), so the program
// writes the whole Ethernet/IPv4/UDP header from `gen_config` every time,
// then gives the frame its flow: flow i of `flows` (a new flow every
// frame when `flows` is 0) has source address base_addr + i % hosts,
// source port base_port + (i / hosts) % ports and destination address
// dst_addr + i % dsts. The UDP checksum is 0, so only the IPv4 header
// checksum changes. masq_sink counts frames to the generator's port and
// drops them; masq_pass lets a veth accept redirected frames for the
// kernel's stack.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define HDR_LEN 42

/* Must match `GenConfig` in src/gen/xdp.rs. */
struct gen_cfg {
    __u32 ifindex;
    __u32 flows;
    __u32 hosts;
    __u32 ports;
    __u32 dsts;
    __u32 base_port;
    __u32 base_addr; /* host order */
    __u32 dst_addr;  /* host order */
    __u32 dst_port;
    __u8 header[HDR_LEN + 2]; /* the template's headers (checksum for base_addr -> dst_addr) */
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

static __always_inline __u32 fold(__u32 sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    return (sum & 0xffff) + (sum >> 16);
}

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
    __u32 zero = 0, i, port, addr, dst, sum;

    if ((void *)(udp + 1) > data_end)
        return XDP_ABORTED;
    c = bpf_map_lookup_elem(&gen_config, &zero);
    n = bpf_map_lookup_elem(&counter, &zero);
    if (!c || !n || !c->hosts || !c->ports || !c->dsts)
        return XDP_ABORTED;
    __builtin_memcpy(data, c->header, HDR_LEN);
    i = (__u32)*n;
    *n += 1;
    if (c->flows)
        i = i % c->flows;
    addr = c->base_addr + i % c->hosts;
    port = c->base_port + (i / c->hosts) % c->ports;
    dst = c->dst_addr + i % c->dsts;
    udp->source = bpf_htons((__u16)port);
    ip->saddr = bpf_htonl(addr);
    ip->daddr = bpf_htonl(dst);
    /* Incremental update of the template's checksum (RFC 1624): both
     * addresses differ from the template's by what was added. */
    sum = (__u16)~bpf_ntohs(ip->check);
    sum += (__u16)~(c->base_addr >> 16) + (__u16)~(c->base_addr & 0xffff);
    sum += (__u16)~(c->dst_addr >> 16) + (__u16)~(c->dst_addr & 0xffff);
    sum += (addr >> 16) + (addr & 0xffff) + (dst >> 16) + (dst & 0xffff);
    ip->check = bpf_htons((__u16)~fold(sum));
    return bpf_redirect(c->ifindex, 0);
}

SEC("xdp")
int masq_sink(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    struct gen_cfg *c;
    __u32 zero = 0;
    __u64 *n;

    /* Only the generator's frames (IPv4 UDP without options to its
     * destination port) are counted and dropped: ARP, the latency probe's
     * echo and the rest pass, so the sink's host still answers. */
    if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP ||
        ip->ihl != 5)
        return XDP_PASS;
    c = bpf_map_lookup_elem(&gen_config, &zero);
    if (!c || udp->dest != bpf_htons((__u16)c->dst_port))
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
