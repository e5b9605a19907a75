// SPDX-License-Identifier: GPL-2.0
// masq's XDP program: redirect to the queue's AF_XDP socket only the frames
// the NAT translates, and pass everything else (ARP, DHCP, traffic to and
// from the box itself) to the kernel.
//
// LAN side: IPv4 whose source is in an inside prefix and whose destination
// is in neither an inside nor an excluded prefix.  WAN side: IPv4 to a pool
// address that is a fragment, TCP or UDP to a port in the NAT range or to a
// static mapping's port, an ICMP echo reply, or an ICMP error; and every
// IPv4 packet to a one-to-one mapping's outside address.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_PREFIXES 16
#define SIDE_LAN 0
#define SIDE_WAN 1

/* Must match `XdpConfig` in src/xdp.rs. Addresses and masks in network
 * byte order, ports in host byte order. */
struct masq_cfg {
    __u32 side;
    __u32 count;
    __u32 addr[MAX_PREFIXES];
    __u32 mask[MAX_PREFIXES];
    __u32 port_min;
    __u32 port_max;
    __u32 excl_count;
    __u32 excl_addr[MAX_PREFIXES];
    __u32 excl_mask[MAX_PREFIXES];
    __u32 o2o_count;
    __u32 o2o_addr[MAX_PREFIXES];
    __u32 sport_count;
    __u32 sport[MAX_PREFIXES];
};

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u32);
} xsks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct masq_cfg);
} config SEC(".maps");

/* 0: redirected, 1: passed. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

static __always_inline int count(__u32 idx, int action)
{
    __u64 *c = bpf_map_lookup_elem(&stats, &idx);
    if (c)
        *c += 1;
    return action;
}

static __always_inline int in_prefixes(const struct masq_cfg *c, __u32 a)
{
#pragma unroll
    for (int i = 0; i < MAX_PREFIXES; i++) {
        if (i < c->count && (a & c->mask[i]) == c->addr[i])
            return 1;
    }
    return 0;
}

static __always_inline int excluded(const struct masq_cfg *c, __u32 a)
{
#pragma unroll
    for (int i = 0; i < MAX_PREFIXES; i++) {
        if (i < c->excl_count && (a & c->excl_mask[i]) == c->excl_addr[i])
            return 1;
    }
    return 0;
}

static __always_inline int one_to_one(const struct masq_cfg *c, __u32 a)
{
#pragma unroll
    for (int i = 0; i < MAX_PREFIXES; i++) {
        if (i < c->o2o_count && a == c->o2o_addr[i])
            return 1;
    }
    return 0;
}

static __always_inline int static_port(const struct masq_cfg *c, __u32 p)
{
#pragma unroll
    for (int i = 0; i < MAX_PREFIXES; i++) {
        if (i < c->sport_count && p == c->sport[i])
            return 1;
    }
    return 0;
}

SEC("xdp")
int masq_xdp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip;
    struct masq_cfg *c;
    __u32 zero = 0;

    if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return count(1, XDP_PASS);
    ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end)
        return count(1, XDP_PASS);
    c = bpf_map_lookup_elem(&config, &zero);
    if (!c)
        return count(1, XDP_PASS);

    if (c->side == SIDE_LAN) {
        if (!in_prefixes(c, ip->saddr) || in_prefixes(c, ip->daddr) ||
            excluded(c, ip->daddr))
            return count(1, XDP_PASS);
        goto redirect;
    }

    if (one_to_one(c, ip->daddr))
        goto redirect;
    if (!in_prefixes(c, ip->daddr))
        return count(1, XDP_PASS);
    if (ip->frag_off & bpf_htons(0x3fff))
        goto redirect;
    if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
        __u8 *l4 = (__u8 *)ip + ip->ihl * 4;
        __u16 port;
        if ((void *)(l4 + 4) > data_end)
            return count(1, XDP_PASS);
        port = ((__u16)l4[2] << 8) | l4[3];
        if ((port < c->port_min || port > c->port_max) && !static_port(c, port))
            return count(1, XDP_PASS);
        goto redirect;
    }
    if (ip->protocol == IPPROTO_ICMP) {
        __u8 *l4 = (__u8 *)ip + ip->ihl * 4;
        if ((void *)(l4 + 1) > data_end)
            return count(1, XDP_PASS);
        if (l4[0] == 0 || l4[0] == 3 || l4[0] == 11 || l4[0] == 12)
            goto redirect;
    }
    return count(1, XDP_PASS);

redirect:
    count(0, XDP_PASS);
    /* Dropped when no socket is bound to this queue: the kernel cannot
     * translate it, and passing it would leak inside addresses or answer
     * subscribers' flows with resets. masq binds every queue. */
    return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
