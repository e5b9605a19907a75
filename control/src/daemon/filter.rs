//! The filters of masq's two XDP programs, made from the configuration:
//! which frames each interface redirects to the NAT.

use std::net::Ipv4Addr;

use masq_core::{OwnAddrs, Prefix};
use masq_xsk::xdp;

use crate::config::{Mode, RunConfig};

/// The WAN program's filter: the pool (with the static mappings and what
/// on the box's own pool addresses is the box's), or the
/// inside prefixes for the L2 forwarder (which sends replies to inside
/// hosts untranslated).
pub(super) fn wan_filter(rc: &RunConfig, l2_forward: bool) -> xdp::Filter {
    let c = &rc.core;
    let ports = (c.port_min, c.port_max);
    if l2_forward {
        return xdp::Filter::Wan {
            pool: pfx(&c.inside),
            ports,
            one_to_one: Vec::new(),
            static_ports: Vec::new(),
            drop_other: false,
            own: Vec::new(),
            kernel_ports: None,
        };
    }
    let mut static_ports: Vec<u16> = c
        .statics
        .iter()
        .filter(|m| m.proto.is_some() && !(c.port_min..=c.port_max).contains(&m.outside_port))
        .map(|m| m.outside_port)
        .collect();
    static_ports.sort_unstable();
    static_ports.dedup();
    xdp::Filter::Wan {
        pool: pfx(&c.pool),
        ports,
        one_to_one: c
            .statics
            .iter()
            .filter(|m| m.proto.is_none())
            .map(|m| m.outside)
            .collect(),
        static_ports,
        drop_other: rc.mode == Mode::Snat,
        own: match &c.own_addrs {
            OwnAddrs::None => Vec::new(),
            OwnAddrs::Pool => c.pool_addrs(),
            OwnAddrs::Listed(v) => v.clone(),
        },
        kernel_ports: c.kernel_ports,
    }
}

/// The LAN program's filter: subscribers, less the excluded destinations;
/// LAN sources that are the NAT's own addresses (the pool in snat mode,
/// static mappings' outside addresses, the WAN interface's addresses
/// `wan`) are dropped as spoofed.
pub(super) fn lan_filter(rc: &RunConfig, wan: &[Ipv4Addr]) -> xdp::Filter {
    let mut spoofed = if rc.mode == Mode::Snat {
        pfx(&rc.core.pool)
    } else {
        Vec::new()
    };
    spoofed.extend(rc.core.statics.iter().map(|m| (m.outside, 32)));
    spoofed.extend(wan.iter().map(|&a| (u32::from(a), 32)));
    // A subscriber's own address is never a spoof.
    spoofed.retain(|&(a, _)| !rc.core.inside.iter().any(|p| p.contains(a)));
    spoofed.sort_unstable();
    spoofed.dedup();
    xdp::Filter::Lan {
        inside: pfx(&rc.core.inside),
        exclude: pfx(&rc.core.exclude),
        spoofed,
    }
}

fn pfx(v: &[Prefix]) -> Vec<(u32, u8)> {
    v.iter().map(|p| (p.addr(), p.len())).collect()
}
