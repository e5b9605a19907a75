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

/// What a batch of rtnetlink notifications was about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// A link went up, down, or changed.
    pub link: bool,
    /// An IPv4 address was added or removed.
    pub addr: bool,
    /// An IPv4 route was added or removed.
    pub route: bool,
    /// A neighbour entry changed.
    pub neigh: bool,
}

impl Changes {
    /// Whether anything changed.
    pub fn any(self) -> bool {
        self.link | self.addr | self.route | self.neigh
    }

    const ALL: Changes = Changes {
        link: true,
        addr: true,
        route: true,
        neigh: true,
    };
}

/// An rtnetlink socket subscribed to link, IPv4 address, IPv4 route and
/// neighbour notifications. The notifications only say *that* something
/// changed; the caller then reads the current state with the functions of
/// this module, so no message is parsed beyond its type.
#[derive(Debug)]
pub struct Watcher {
    fd: std::os::fd::OwnedFd,
    buf: Vec<u8>,
}

const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_NEIGH: u32 = 0x4;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;

impl Watcher {
    /// Opens and subscribes the socket (non-blocking).
    pub fn new() -> io::Result<Watcher> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        sa.nl_groups = RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE;
        use std::os::fd::AsRawFd;
        // SAFETY: `sa` is a valid sockaddr_nl and its size is passed with it.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Watcher {
            fd,
            buf: vec![0; 64 * 1024],
        })
    }

    /// The descriptor, for poll(2).
    pub fn raw_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.fd.as_raw_fd()
    }

    /// Reads every pending notification. A lost notification (the socket
    /// overran) is reported as a change of everything.
    pub fn drain(&mut self) -> io::Result<Changes> {
        use std::os::fd::AsRawFd;
        let mut c = Changes::default();
        loop {
            // SAFETY: `buf` is writable for its whole length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EAGAIN) => Ok(c),
                    Some(libc::ENOBUFS) => {
                        c = Changes::ALL;
                        continue;
                    }
                    Some(libc::EINTR) => continue,
                    _ => Err(e),
                };
            }
            classify(&self.buf[..n as usize], &mut c);
        }
    }
}

/// Marks in `c` the kinds of the netlink messages in `buf`.
fn classify(buf: &[u8], c: &mut Changes) {
    let mut at = 0usize;
    while at + 16 <= buf.len() {
        let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        match kind {
            libc::RTM_NEWLINK | libc::RTM_DELLINK => c.link = true,
            libc::RTM_NEWADDR | libc::RTM_DELADDR => c.addr = true,
            libc::RTM_NEWROUTE | libc::RTM_DELROUTE => c.route = true,
            libc::RTM_NEWNEIGH | libc::RTM_DELNEIGH => c.neigh = true,
            _ => {}
        }
        if len < 16 {
            break;
        }
        at += (len + 3) & !3;
    }
}

#[cfg(test)]
mod watch_tests {
    use super::*;

    fn msg(kind: u16, len: u32) -> Vec<u8> {
        let mut m = vec![0u8; len as usize];
        m[..4].copy_from_slice(&len.to_ne_bytes());
        m[4..6].copy_from_slice(&kind.to_ne_bytes());
        m
    }

    #[test]
    fn classify_marks_each_kind() {
        let mut buf = msg(libc::RTM_NEWADDR, 18); // padded to 20
        buf.extend([0, 0]);
        buf.extend(msg(libc::RTM_DELNEIGH, 16));
        let mut c = Changes::default();
        classify(&buf, &mut c);
        assert_eq!(
            c,
            Changes {
                addr: true,
                neigh: true,
                ..Changes::default()
            }
        );
        // A zero length stops the walk instead of looping.
        let mut c = Changes::default();
        classify(&msg(0, 16).iter().map(|_| 0).collect::<Vec<u8>>(), &mut c);
        assert!(!c.any());
    }

    #[test]
    fn parses_macs() {
        assert_eq!(
            parse_mac("02:00:00:0a:0b:ff\n"),
            Some(Mac([2, 0, 0, 10, 11, 255]))
        );
        assert_eq!(parse_mac("02:00:00:0a:0b"), None);
        assert_eq!(parse_mac("02:00:00:0a:0b:ff:01"), None);
    }
}

/// Waits until one of `fds` is readable or `timeout_ms` passes (poll(2));
/// for the control thread's event loop.
pub fn wait_readable(fds: &[i32], timeout_ms: i32) {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `p` is a valid array of pollfd of the length passed.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
}

/// Runs `f` with the process's file mode mask set to `mask` (so that a
/// file `f` creates never exists with wider permissions), then restores it.
pub fn with_umask<T>(mask: u32, f: impl FnOnce() -> T) -> T {
    // SAFETY: umask(2) only swaps the process's file mode mask.
    let old = unsafe { libc::umask(mask as libc::mode_t) };
    let r = f();
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    r
}
