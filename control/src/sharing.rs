//! How the box and the NAT share an address (`kernel_ports`): the
//! setting, its range (read from net.ipv4.ip_local_port_range for
//! `auto`), which pool addresses are the box's own, and the explanation
//! `masq check-config` and the start line print.
//!
//! On an own address (MASQUERADE's WAN address, whatever it becomes; an
//! SNAT pool address that an interface of the box holds) the NAT hands
//! out no port block overlapping the kernel's ports, and the XDP program
//! passes TCP/UDP to those ports to the kernel; echo replies go to the
//! NAT only for identifiers it holds (a table the workers keep), and ICMP
//! errors about the box's own packets go to the box.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use masq_core::{Config, OwnAddrs};
use serde_json::{json, Value};

use crate::config::{Mode, RunConfig};
use crate::kernel::KernelView;

/// The `kernel_ports` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelPorts {
    /// The kernel's ephemeral range (net.ipv4.ip_local_port_range), read
    /// at start.
    #[default]
    Auto,
    /// These ports (inclusive).
    Range(u16, u16),
    /// None: the NAT's range is all the NAT's.
    None,
}

impl FromStr for KernelPorts {
    type Err = String;

    fn from_str(s: &str) -> Result<KernelPorts, String> {
        match s {
            "auto" => return Ok(KernelPorts::Auto),
            "none" => return Ok(KernelPorts::None),
            _ => {}
        }
        let bad = || format!("{s:?} is not \"auto\", \"none\" or a range \"FIRST-LAST\"");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let a: u16 = a.trim().parse().map_err(|_| bad())?;
        let b: u16 = b.trim().parse().map_err(|_| bad())?;
        if a == 0 || a > b {
            return Err(format!("{s:?}: give 1 <= FIRST <= LAST"));
        }
        Ok(KernelPorts::Range(a, b))
    }
}

impl fmt::Display for KernelPorts {
    /// As written in the file: `auto`, `none` or `FIRST-LAST`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelPorts::Auto => f.pad("auto"),
            KernelPorts::None => f.pad("none"),
            KernelPorts::Range(a, b) => f.pad(&format!("{a}-{b}")),
        }
    }
}

impl KernelPorts {
    /// The range the setting names now (`auto` reads the sysctl).
    pub fn resolve(self) -> Result<Option<(u16, u16)>, String> {
        match self {
            KernelPorts::Auto => masq_xsk::netinfo::local_port_range()
                .map(Some)
                .map_err(|e| format!("auto: net.ipv4.ip_local_port_range: {e}")),
            KernelPorts::Range(a, b) => Ok(Some((a, b))),
            KernelPorts::None => Ok(None),
        }
    }
}

/// Deterministic NAT gives each subscriber one fixed block: refused when
/// blocks of the box's own addresses are the kernel's, since the
/// subscribers whose block lies there would get no mapping at all.
pub fn check_deterministic(core: &Config) -> Result<(), String> {
    let own = !matches!(&core.own_addrs, OwnAddrs::None);
    match (
        core.deterministic && own,
        core.kernel_blocks(),
        core.kernel_ports,
    ) {
        (true, Some((f, l)), Some((lo, hi))) => Err(format!(
            "kernel_ports: {lo}-{hi} overlaps {} deterministic block(s) on the box's own \
             addresses, whose subscribers would get no mapping; set port_max below {lo} or \
             kernel_ports = \"none\"",
            l - f + 1
        )),
        _ => Ok(()),
    }
}

/// SNAT: the pool addresses that an interface of the box holds now.
pub fn own_pool_addresses(core: &Config, view: &KernelView) -> Vec<u32> {
    let mine = view.all_addresses();
    core.pool_addrs()
        .into_iter()
        .filter(|a| mine.contains(&Ipv4Addr::from(*a)))
        .collect()
}

/// What check-config and the start line explain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sharing {
    /// The setting and its range.
    pub setting: KernelPorts,
    pub kernel: Option<(u16, u16)>,
    /// Where it applies: "the WAN address" or the own pool addresses.
    pub addresses: Vec<String>,
    /// The ports the NAT hands out on those addresses, as ranges.
    pub nat_ports: Vec<(u16, u16)>,
    /// Blocks reserved for the kernel and blocks per address.
    pub reserved_blocks: u32,
    pub blocks: u32,
}

impl Sharing {
    /// The sharing `rc` asks for.
    pub fn of(rc: &RunConfig) -> Sharing {
        let c = &rc.core;
        let blocks = c.blocks_per_addr();
        let end = |b: u32| (u32::from(c.port_min) + b * u32::from(c.block_size)) as u16;
        let all_end = end(blocks).wrapping_sub(1);
        let (nat_ports, reserved) = match c.kernel_blocks() {
            Some((f, l)) => {
                let mut v = Vec::new();
                if f > 0 {
                    v.push((c.port_min, end(f) - 1));
                }
                if l + 1 < blocks {
                    v.push((end(l + 1), all_end));
                }
                (v, l - f + 1)
            }
            None if blocks > 0 => (vec![(c.port_min, all_end)], 0),
            None => (Vec::new(), 0),
        };
        let addresses = match (&c.own_addrs, rc.mode) {
            (OwnAddrs::Pool, _) | (_, Mode::Masquerade) => vec!["the WAN address".to_string()],
            (OwnAddrs::Listed(v), _) => v.iter().map(|a| Ipv4Addr::from(*a).to_string()).collect(),
            (OwnAddrs::None, _) => Vec::new(),
        };
        Sharing {
            setting: rc.kernel_ports,
            kernel: c.kernel_ports,
            addresses,
            nat_ports,
            reserved_blocks: reserved,
            blocks,
        }
    }

    fn ranges(v: &[(u16, u16)]) -> String {
        if v.is_empty() {
            return "none".into();
        }
        v.iter()
            .map(|(a, b)| format!("{a}-{b}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The explanation, one sentence a line.
    pub fn lines(&self) -> Vec<String> {
        let setting = match self.setting {
            KernelPorts::Auto => "auto (net.ipv4.ip_local_port_range)".to_string(),
            s => s.to_string(),
        };
        let mut out = Vec::new();
        let Some((lo, hi)) = self.kernel else {
            out.push(format!(
                "kernel_ports = {setting}: the NAT hands out every port of its range; \
                 TCP/UDP to the box's own ports in it on a pool address go to the NAT"
            ));
            return out;
        };
        if self.addresses.is_empty() {
            out.push(format!(
                "kernel_ports = {setting}: {lo}-{hi}; no pool address is the box's, \
                 so the NAT hands out every port of its range"
            ));
            return out;
        }
        let on = self.addresses.join(", ");
        out.push(format!(
            "kernel_ports = {setting}: on {on} the box's own stack keeps TCP/UDP ports {lo}-{hi} \
             (the XDP program passes them to the kernel)"
        ));
        out.push(format!(
            "on {on} the NAT hands out ports and echo identifiers {} ({} of {} blocks; {} \
             overlapping the kernel's ports reserved whole)",
            Sharing::ranges(&self.nat_ports),
            self.blocks - self.reserved_blocks,
            self.blocks,
            self.reserved_blocks
        ));
        out.push(format!(
            "ICMP echo on {on}: a reply goes to the NAT only while it holds an echo mapping \
             with its identifier, otherwise to the box (which pings with any identifier)"
        ));
        out.push(format!(
            "ICMP errors to {on} about the box's own packets (source port kept by the kernel \
             or outside the NAT's range, echo identifier the NAT does not hold) go to the box"
        ));
        out
    }

    /// The explanation as JSON.
    pub fn json(&self) -> Value {
        json!({
            "kernel_ports": self.setting.to_string(),
            "kernel_range": self.kernel.map(|(a, b)| json!([a, b])),
            "addresses": self.addresses,
            "nat_ports": self.nat_ports.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
            "blocks": self.blocks,
            "reserved_blocks": self.reserved_blocks,
            "explanation": self.lines(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(mode: &str, extra: &str) -> RunConfig {
        let pool = if mode == "snat" {
            "pool = [\"203.0.113.0/30\"]\n"
        } else {
            ""
        };
        crate::config::parse(&format!(
            "lan = \"l\"\nwan = \"w\"\nmode = \"{mode}\"\ninside = [\"10.0.0.0/8\"]\n{pool}{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn explains_the_ports_of_each_side() {
        // 40000-40100 lies in one block (39936-40447): reserved whole.
        let s = Sharing::of(&rc("masquerade", "kernel_ports = \"40000-40100\"\n"));
        assert_eq!(s.kernel, Some((40000, 40100)));
        assert_eq!(s.nat_ports, [(1024, 39935), (40448, 65535)]);
        assert_eq!((s.blocks, s.reserved_blocks), (126, 1));
        assert_eq!(s.addresses, ["the WAN address"]);
        assert!(s.lines()[1].contains("1024-39935, 40448-65535 (125 of 126 blocks; 1 overlapping"));
        // Below the NAT's range: nothing to reserve.
        let s = Sharing::of(&rc(
            "masquerade",
            "kernel_ports = \"100-900\"\nport_max = 32767\n",
        ));
        assert_eq!(
            (s.nat_ports.as_slice(), s.reserved_blocks),
            (&[(1024, 32767)][..], 0)
        );
        // SNAT with no pool address of the box's: said so.
        let s = Sharing::of(&rc("snat", "kernel_ports = \"32768-60999\"\n"));
        assert!(s.addresses.is_empty());
        assert!(
            s.lines()[0].contains("no pool address is the box's"),
            "{:?}",
            s.lines()
        );
        let mut r = rc("snat", "kernel_ports = \"32768-60999\"\n");
        r.core.own_addrs = OwnAddrs::Listed(vec![0xcb00_7101]);
        assert_eq!(Sharing::of(&r).addresses, ["203.0.113.1"]);
        let s = Sharing::of(&rc("masquerade", "kernel_ports = \"none\"\n"));
        assert_eq!((s.kernel, s.reserved_blocks), (None, 0));
        assert!(s.lines()[0].starts_with("kernel_ports = none: the NAT hands out every port"));
    }

    #[test]
    fn parses_and_prints_the_setting() {
        for s in ["auto", "none", "32768-60999"] {
            assert_eq!(s.parse::<KernelPorts>().unwrap().to_string(), s);
        }
        for bad in ["", "1", "10-5", "0-10", "a-b", "1-70000"] {
            assert!(bad.parse::<KernelPorts>().is_err(), "{bad}");
        }
    }
}
