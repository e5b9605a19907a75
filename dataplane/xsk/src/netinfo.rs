//! What the workers' start-up and the traffic generator read about an
//! interface from sysfs and procfs: its MAC address and receive queues,
//! and the kernel's ephemeral port range. Addresses, routes and
//! neighbours are the control thread's (rtnetlink, in the `masq` crate).

use std::io;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_macs() {
        assert_eq!(
            parse_mac("02:00:00:0a:0b:ff\n"),
            Some(Mac([2, 0, 0, 10, 11, 255]))
        );
        assert_eq!(parse_mac("02:00:00:0a:0b"), None);
        assert_eq!(parse_mac("02:00:00:0a:0b:ff:01"), None);
        assert_eq!(parse_mac("02:00:00:00:00:zz"), None);
    }
}
