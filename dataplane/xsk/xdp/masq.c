// SPDX-License-Identifier: GPL-2.0
// masq's XDP program: redirect to the queue's AF_XDP socket only the frames
// the NAT translates, and pass everything else (ARP, DHCP, traffic to and
// from the box itself) to the kernel.
//
// LAN side: IPv4 whose source is in an inside prefix and whose destination
// is in neither an inside nor an excluded prefix.  WAN side: IPv4 to a pool
// address that is a fragment, TCP or UDP to a port in the NAT range or to a
// static mapping's port, an ICMP echo reply, or an ICMP error; and every
// IPv4 packet to a one-to-one mapping's outside address.  Link-layer
// broadcast and multicast, IPv4 multicast and the limited broadcast are
// never redirected.
//
// Dropped and counted by reason: IPv4 whose header the kernel would refuse
// too (short, version, IHL, total length); on the LAN, a source that is
// the NAT's own (a pool or one-to-one address, the WAN address); on the
// WAN with `drop_other` (snat mode, where pool addresses are not the
// box's), whatever is for a pool or one-to-one address and not redirected.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_PREFIXES 16
#define MAX_SPOOF (3 * MAX_PREFIXES)
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
    __u32 drop_other;
    __u32 spoof_count;
    __u32 spoof_addr[MAX_SPOOF];
    __u32 spoof_mask[MAX_SPOOF];
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

/* Must match `XdpStat` in src/xdp.rs. */
enum {
    ST_REDIRECT,
    ST_PASS,
    ST_BAD_HEADER,
    ST_SPOOFED,
    ST_NOT_FOR_NAT,
    ST_COUNT,
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, ST_COUNT);
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

static __always_inline int spoofed(const struct masq_cfg *c, __u32 a)
{
#pragma unroll
    for (int i = 0; i < MAX_SPOOF; i++) {
        if (i < c->spoof_count && (a & c->spoof_mask[i]) == c->spoof_addr[i])
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
    int group;

    if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return count(ST_PASS, XDP_PASS);
    ip = (void *)(eth + 1);
    /* What ip_rcv_core would drop: a short or bad header, a total length
     * below the header or past the frame. */
    if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5 ||
        (void *)ip + ip->ihl * 4 > data_end ||
        bpf_ntohs(ip->tot_len) < ip->ihl * 4 ||
        (void *)ip + bpf_ntohs(ip->tot_len) > data_end)
        return count(ST_BAD_HEADER, XDP_DROP);
    c = bpf_map_lookup_elem(&config, &zero);
    if (!c)
        return count(ST_PASS, XDP_PASS);
    /* Link-layer broadcast or multicast, IPv4 multicast or the limited
     * broadcast: for the box's own stack (RFC 1812 5.3.4, 5.3.5). */
    group = (eth->h_dest[0] & 1) ||
            (ip->daddr & bpf_htonl(0xf0000000)) == bpf_htonl(0xe0000000) ||
            ip->daddr == 0xffffffff;

    if (c->side == SIDE_LAN) {
        if (spoofed(c, ip->saddr))
            return count(ST_SPOOFED, XDP_DROP);
        if (group || !in_prefixes(c, ip->saddr) || in_prefixes(c, ip->daddr) ||
            excluded(c, ip->daddr))
            return count(ST_PASS, XDP_PASS);
        goto redirect;
    }

    if (one_to_one(c, ip->daddr)) {
        if (group)
            goto other;
        goto redirect;
    }
    if (!in_prefixes(c, ip->daddr))
        return count(ST_PASS, XDP_PASS);
    if (group)
        goto other;
    if (ip->frag_off & bpf_htons(0x3fff))
        goto redirect;
    if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
        __u8 *l4 = (__u8 *)ip + ip->ihl * 4;
        __u16 port;
        /* Too short for the ports: the NAT counts it as truncated. */
        if ((void *)(l4 + 4) > data_end)
            goto redirect;
        port = ((__u16)l4[2] << 8) | l4[3];
        if ((port < c->port_min || port > c->port_max) && !static_port(c, port))
            goto other;
        goto redirect;
    }
    if (ip->protocol == IPPROTO_ICMP) {
        __u8 *l4 = (__u8 *)ip + ip->ihl * 4;
        if ((void *)(l4 + 1) > data_end)
            goto redirect;
        if (l4[0] == 0 || l4[0] == 3 || l4[0] == 11 || l4[0] == 12)
            goto redirect;
    }

other:
    /* For a NAT address, not for the NAT: the box's own in masquerade
     * mode; in snat mode the kernel could only drop it, or with
     * forwarding on route it back to the WAN. */
    if (c->drop_other)
        return count(ST_NOT_FOR_NAT, XDP_DROP);
    return count(ST_PASS, XDP_PASS);

redirect:
    count(ST_REDIRECT, XDP_PASS);
    /* Dropped when no socket is bound to this queue: the kernel cannot
     * translate it, and passing it would leak inside addresses or answer
     * subscribers' flows with resets. masq binds every queue. */
    return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
