//! What the kernel knows about the interfaces: MAC and IPv4 addresses,
//! the default gateway and the neighbour table. The kernel keeps owning
//! ARP; masq only reads its answers (and asks it to resolve a next hop by
//! sending one datagram there through the normal stack).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};

use masq_core::wire::Mac;

fn parse_mac(s: &str) -> Option<Mac> {
    let mut m = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in &mut m {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(Mac(m))
}

/// The MAC address of an interface.
pub fn mac_of(ifname: &str) -> io::Result<Mac> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{ifname}/address"))
        .map_err(|e| io::Error::new(e.kind(), format!("interface {ifname:?}: {e}")))?;
    parse_mac(&s).ok_or_else(|| io::Error::other(format!("interface {ifname:?}: bad MAC {s:?}")))
}

/// The IPv4 addresses of an interface, primary first.
pub fn ipv4_of(ifname: &str) -> io::Result<Vec<u32>> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `ifap` with a list we free below.
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut p = ifap;
    while !p.is_null() {
        // SAFETY: `p` is a node of the list getifaddrs returned, alive
        // until freeifaddrs; its name is a NUL-terminated string and its
        // address, when not null and of family AF_INET, a sockaddr_in.
        unsafe {
            let ifa = &*p;
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name).to_string_lossy();
            if name == ifname
                && !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                out.push(u32::from_be(sin.sin_addr.s_addr));
            }
            p = ifa.ifa_next;
        }
    }
    // SAFETY: frees the list getifaddrs allocated, once.
    unsafe { libc::freeifaddrs(ifap) };
    Ok(out)
}

/// Number of receive queues of an interface (from sysfs).
pub fn rx_queues(ifname: &str) -> io::Result<usize> {
    let dir = std::fs::read_dir(format!("/sys/class/net/{ifname}/queues"))
        .map_err(|e| io::Error::new(e.kind(), format!("interface {ifname:?}: {e}")))?;
    Ok(dir
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count())
}

/// The kernel's ephemeral port range (net.ipv4.ip_local_port_range).
pub fn local_port_range() -> io::Result<(u16, u16)> {
    let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")?;
    let mut it = s.split_whitespace().filter_map(|x| x.parse::<u16>().ok());
    match (it.next(), it.next()) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(io::Error::other(format!("bad ip_local_port_range {s:?}"))),
    }
}

/// The gateway of the default route through `ifname`, from /proc/net/route.
pub fn default_gateway(ifname: &str) -> io::Result<Option<u32>> {
    let s = std::fs::read_to_string("/proc/net/route")?;
    Ok(parse_route(&s, ifname))
}

fn parse_route(s: &str, ifname: &str) -> Option<u32> {
    for line in s.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || f[0] != ifname || f[1] != "00000000" || f[7] != "00000000" {
            continue;
        }
        // Fields are the kernel's u32 printed in hex, in host order of
        // the network-order value.
        let gw = u32::from_str_radix(f[2], 16).ok()?;
        let gw = u32::from_be(gw.to_le());
        if gw != 0 {
            return Some(gw);
        }
    }
    None
}

/// The MAC of `addr` in the kernel's neighbour table, if resolved.
pub fn neighbour(addr: u32) -> io::Result<Option<Mac>> {
    let s = std::fs::read_to_string("/proc/net/arp")?;
    Ok(parse_arp(&s, addr))
}

fn parse_arp(s: &str, addr: u32) -> Option<Mac> {
    let want = Ipv4Addr::from(addr).to_string();
    for line in s.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // IP address, HW type, Flags, HW address, Mask, Device
        if f.len() >= 4 && f[0] == want && f[2] == "0x2" {
            return parse_mac(f[3]);
        }
    }
    None
}

/// Asks the kernel to resolve `addr` by sending it one empty datagram to
/// the discard port through the normal stack.
pub fn solicit(addr: u32) -> io::Result<()> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.send_to(&[], SocketAddrV4::new(Ipv4Addr::from(addr), 9))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_and_arp_tables() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     wan0\t00000000\t0100710A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     wan0\t0000710A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(
            parse_route(route, "wan0"),
            Some(u32::from(Ipv4Addr::new(10, 113, 0, 1)))
        );
        assert_eq!(parse_route(route, "lan0"), None);
        let arp =
            "IP address       HW type     Flags       HW address            Mask     Device\n\
                   10.113.0.1       0x1         0x2         02:00:00:00:00:99     *        wan0\n\
                   10.113.0.7       0x1         0x0         00:00:00:00:00:00     *        wan0\n";
        assert_eq!(
            parse_arp(arp, u32::from(Ipv4Addr::new(10, 113, 0, 1))),
            Some(Mac([2, 0, 0, 0, 0, 0x99]))
        );
        assert_eq!(
            parse_arp(arp, u32::from(Ipv4Addr::new(10, 113, 0, 7))),
            None,
            "incomplete entry"
        );
        assert_eq!(parse_mac("02:00:00:00:00:zz"), None);
    }
}
