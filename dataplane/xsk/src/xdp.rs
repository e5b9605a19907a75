//! The XDP program: loading, configuration, attachment and detachment.
//!
//! Its counters are the slots of [`stats`], the one table that build.rs
//! also writes into the program's C header.

use std::ffi::CString;
use std::io;
use std::ptr;

use libxdp_sys as sys;

use crate::bpf::{self, check, Object};

pub mod stats;

#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

/// The compiled program (xdp/masq.c); libbpf wants it 8-byte aligned.
static OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/masq.o")));

/// Native (driver) mode attachment.
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// Prefixes the program can hold (`MAX_PREFIXES` in masq.c).
pub const MAX_PREFIXES: usize = 16;
/// Spoofed-source prefixes the LAN program can hold (`MAX_SPOOF`).
pub const MAX_SPOOF: usize = 3 * MAX_PREFIXES;

/// Why the program dropped frames, as `masq_xdp_dropped_total` reasons,
/// in the order of its drop slots ([`stats::DROPS`]).
pub const DROP_REASONS: [&str; stats::DROPS.len()] = labels(stats::DROPS);

/// The labels of a (C constant, label) table, at compile time, so that
/// [`DROP_REASONS`] stays an array whose length is the table's.
const fn labels<const N: usize>(t: [(&'static str, &'static str); N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = t[i].1;
        i += 1;
    }
    out
}

/// Which traffic an interface's program redirects to the NAT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// LAN: IPv4 from one of the `inside` (address, prefix length) to
    /// anywhere outside them and outside `exclude` (destinations left to
    /// the kernel's routing, untranslated).
    Lan {
        /// Subscriber prefixes.
        inside: Vec<(u32, u8)>,
        /// Destinations not translated.
        exclude: Vec<(u32, u8)>,
        /// Sources dropped as spoofed: the NAT's own addresses (pool,
        /// one-to-one outside addresses, the WAN address).
        spoofed: Vec<(u32, u8)>,
    },
    /// WAN: IPv4 to one of the pool prefixes (fragments, TCP/UDP to a port
    /// in `ports` or in `static_ports`, ICMP echo replies and errors), and
    /// everything to a one-to-one outside address.
    Wan {
        /// Pool prefixes.
        pool: Vec<(u32, u8)>,
        /// The dynamic port range.
        ports: (u16, u16),
        /// Outside addresses of one-to-one mappings.
        one_to_one: Vec<u32>,
        /// Outside ports of port forwards that lie outside `ports`.
        static_ports: Vec<u16>,
        /// Drop (rather than pass to the kernel) what is addressed to a
        /// pool or one-to-one address and not redirected: in snat mode
        /// those addresses are not the box's.
        drop_other: bool,
    },
}

/// Must match `struct masq_cfg` in masq.c.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawConfig {
    side: u32,
    count: u32,
    addr: [u32; MAX_PREFIXES],
    mask: [u32; MAX_PREFIXES],
    port_min: u32,
    port_max: u32,
    excl_count: u32,
    excl_addr: [u32; MAX_PREFIXES],
    excl_mask: [u32; MAX_PREFIXES],
    o2o_count: u32,
    o2o_addr: [u32; MAX_PREFIXES],
    sport_count: u32,
    sport: [u32; MAX_PREFIXES],
    drop_other: u32,
    spoof_count: u32,
    spoof_addr: [u32; MAX_SPOOF],
    spoof_mask: [u32; MAX_SPOOF],
}

/// Writes `prefixes` as network-order (address, mask) pairs.
fn put_prefixes<const N: usize>(
    what: &str,
    prefixes: &[(u32, u8)],
    addr: &mut [u32; N],
    mask: &mut [u32; N],
) -> io::Result<u32> {
    if prefixes.len() > N {
        return Err(io::Error::other(format!(
            "{} {what}; the XDP program holds at most {N}",
            prefixes.len()
        )));
    }
    for (i, &(a, len)) in prefixes.iter().enumerate() {
        let m = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        addr[i] = (a & m).to_be();
        mask[i] = m.to_be();
    }
    Ok(prefixes.len() as u32)
}

fn raw(filter: &Filter) -> io::Result<RawConfig> {
    let mut c = RawConfig {
        side: 0,
        count: 0,
        addr: [0; MAX_PREFIXES],
        mask: [0; MAX_PREFIXES],
        port_min: 0,
        port_max: 0,
        excl_count: 0,
        excl_addr: [0; MAX_PREFIXES],
        excl_mask: [0; MAX_PREFIXES],
        o2o_count: 0,
        o2o_addr: [0; MAX_PREFIXES],
        sport_count: 0,
        sport: [0; MAX_PREFIXES],
        drop_other: 0,
        spoof_count: 0,
        spoof_addr: [0; MAX_SPOOF],
        spoof_mask: [0; MAX_SPOOF],
    };
    match filter {
        Filter::Lan {
            inside,
            exclude,
            spoofed,
        } => {
            c.count = put_prefixes("prefixes", inside, &mut c.addr, &mut c.mask)?;
            c.excl_count = put_prefixes(
                "excluded prefixes",
                exclude,
                &mut c.excl_addr,
                &mut c.excl_mask,
            )?;
            c.spoof_count = put_prefixes(
                "NAT addresses (pool, one-to-one, WAN)",
                spoofed,
                &mut c.spoof_addr,
                &mut c.spoof_mask,
            )?;
        }
        Filter::Wan {
            pool,
            ports,
            one_to_one,
            static_ports,
            drop_other,
        } => {
            c.side = 1;
            c.drop_other = u32::from(*drop_other);
            c.count = put_prefixes("prefixes", pool, &mut c.addr, &mut c.mask)?;
            c.port_min = u32::from(ports.0);
            c.port_max = u32::from(ports.1);
            if one_to_one.len() > MAX_PREFIXES || static_ports.len() > MAX_PREFIXES {
                return Err(io::Error::other(format!(
                    "the XDP program holds at most {MAX_PREFIXES} one-to-one addresses and \
                     {MAX_PREFIXES} static ports outside the dynamic range"
                )));
            }
            for (i, a) in one_to_one.iter().enumerate() {
                c.o2o_addr[i] = a.to_be();
            }
            c.o2o_count = one_to_one.len() as u32;
            for (i, &p) in static_ports.iter().enumerate() {
                c.sport[i] = u32::from(p);
            }
            c.sport_count = static_ports.len() as u32;
        }
    }
    Ok(c)
}

/// The index of interface `name`.
pub fn ifindex(name: &str) -> io::Result<i32> {
    let c =
        CString::new(name).map_err(|_| io::Error::other(format!("bad interface name {name:?}")))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(io::Error::other(format!(
            "no interface {name:?}: {}",
            io::Error::last_os_error()
        )));
    }
    Ok(i as i32)
}

/// Removes whatever XDP program is attached to `ifname` in native mode
/// (a killed run leaves its program behind). Returns whether one was.
pub fn detach_stale(ifname: &str) -> io::Result<bool> {
    let idx = ifindex(ifname)?;
    let mut prog_id: u32 = 0;
    // SAFETY: `prog_id` is a valid out-pointer for the duration of the call.
    let r = unsafe { sys::bpf_xdp_query_id(idx, XDP_FLAGS_DRV_MODE as i32, &mut prog_id) };
    check(r, "bpf_xdp_query_id")?;
    if prog_id == 0 {
        return Ok(false);
    }
    // SAFETY: plain syscall wrapper; null options are allowed.
    let r = unsafe { sys::bpf_xdp_detach(idx, XDP_FLAGS_DRV_MODE, ptr::null()) };
    check(r, "bpf_xdp_detach")?;
    Ok(true)
}

/// One loaded copy of the program, attached to one interface; detached
/// and closed on drop.
#[derive(Debug)]
pub struct XdpProgram {
    _obj: Object,
    ifindex: i32,
    ifname: String,
    xsks_fd: i32,
    stats_fd: i32,
    config_fd: i32,
}

impl XdpProgram {
    /// Loads the program, writes `filter` into its configuration map and
    /// attaches it to `ifname` in native mode.
    pub fn attach(ifname: &str, filter: &Filter) -> io::Result<XdpProgram> {
        let cfg = raw(filter)?;
        let ifindex = ifindex(ifname)?;
        let obj = Object::load(&OBJECT.0)?;
        let prog_fd = obj.prog_fd(c"masq_xdp")?;
        let xsks_fd = obj.map_fd(c"xsks")?;
        let stats_fd = obj.map_fd(c"stats")?;
        let config_fd = obj.map_fd(c"config")?;
        bpf::map_update(config_fd, &0u32, &cfg, "write config map")?;
        let p = XdpProgram {
            _obj: obj,
            ifindex,
            ifname: ifname.to_string(),
            xsks_fd,
            stats_fd,
            config_fd,
        };
        // SAFETY: plain syscall wrapper on a valid interface and program fd.
        let r = unsafe { sys::bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_DRV_MODE, ptr::null()) };
        check(r, "bpf_xdp_attach")?;
        Ok(p)
    }

    /// Frames redirected to the NAT and passed to the kernel so far
    /// (slots [`stats::FRAMES`]).
    pub fn stats(&self) -> io::Result<(u64, u64)> {
        Ok((
            bpf::percpu_sum(self.stats_fd, 0)?,
            bpf::percpu_sum(self.stats_fd, 1)?,
        ))
    }

    /// Frames dropped so far, by reason ([`DROP_REASONS`] order).
    pub fn drops(&self) -> io::Result<[u64; DROP_REASONS.len()]> {
        let mut d = [0; DROP_REASONS.len()];
        for (i, v) in d.iter_mut().enumerate() {
            *v = bpf::percpu_sum(self.stats_fd, (stats::FRAMES.len() + i) as u32)?;
        }
        Ok(d)
    }

    /// Replaces the filter of the attached program (the external address
    /// changed, or pool addresses were added). One map write: the program
    /// reads the new filter from its next frame.
    pub fn set_filter(&self, filter: &Filter) -> io::Result<()> {
        bpf::map_update(self.config_fd, &0u32, &raw(filter)?, "write config map")
    }

    /// The fd of the program's XSKMAP, where workers register sockets.
    pub fn xsks_fd(&self) -> i32 {
        self.xsks_fd
    }

    /// The interface it is attached to.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        // SAFETY: detaching by interface index; the object is closed after
        // this, when its field drops.
        unsafe { sys::bpf_xdp_detach(self.ifindex, XDP_FLAGS_DRV_MODE, ptr::null()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_layout() {
        let c = raw(&Filter::Wan {
            pool: vec![(0xcb00_7100, 24)],
            ports: (1024, 65535),
            one_to_one: vec![0xcb00_7180],
            static_ports: vec![80, 443],
            drop_other: true,
        })
        .unwrap();
        assert_eq!(c.side, 1);
        assert_eq!(c.count, 1);
        assert_eq!(c.addr[0], 0xcb00_7100u32.to_be());
        assert_eq!(c.mask[0], 0xffff_ff00u32.to_be());
        assert_eq!((c.port_min, c.port_max), (1024, 65535));
        assert_eq!((c.o2o_count, c.o2o_addr[0]), (1, 0xcb00_7180u32.to_be()));
        assert_eq!((c.sport_count, c.sport[1]), (2, 443));
        assert_eq!((c.drop_other, c.spoof_count), (1, 0));
        assert_eq!(
            core::mem::size_of::<RawConfig>(),
            8 + 2 * 4 * MAX_PREFIXES
                + 8
                + 4
                + 2 * 4 * MAX_PREFIXES
                + 4
                + 4 * MAX_PREFIXES
                + 4
                + 4 * MAX_PREFIXES
                + 4
                + 4
                + 2 * 4 * MAX_SPOOF
        );
        let c = raw(&Filter::Lan {
            inside: vec![(0xc0a8_0000, 16)],
            exclude: vec![(0xc633_6400, 24)],
            spoofed: vec![(0xcb00_7100, 29), (0xc612_0001, 32)],
        })
        .unwrap();
        assert_eq!((c.side, c.count, c.excl_count), (0, 1, 1));
        assert_eq!(c.excl_mask[0], 0xffff_ff00u32.to_be());
        assert_eq!(c.spoof_count, 2);
        assert_eq!(
            (c.spoof_addr[1], c.spoof_mask[0]),
            (0xc612_0001u32.to_be(), 0xffff_fff8u32.to_be())
        );
        let too_many = Filter::Lan {
            inside: vec![(0, 8); MAX_PREFIXES + 1],
            exclude: vec![],
            spoofed: vec![],
        };
        assert!(raw(&too_many).is_err());
        let too_many = Filter::Lan {
            inside: vec![],
            exclude: vec![],
            spoofed: vec![(0, 32); MAX_SPOOF + 1],
        };
        assert!(raw(&too_many).is_err());
    }

    const MASQ_C: &str = include_str!("../xdp/masq.c");

    #[test]
    fn the_program_counts_with_the_generated_slots() {
        let h = stats::c_header();
        let slots: Vec<&str> = stats::FRAMES
            .iter()
            .chain(stats::DROPS.iter().map(|(c, _)| c))
            .copied()
            .collect();
        for (i, name) in slots.iter().enumerate() {
            assert!(h.contains(&format!("    {name} = {i},\n")), "{name}");
            // A slot the program never counts would export a constant 0.
            assert!(MASQ_C.contains(&format!("count({name},")), "{name}");
        }
        assert!(h.contains(&format!("ST_COUNT = {},", slots.len())));
        assert!(MASQ_C.contains("#include \"masq_stats.h\""));
        // An enum of its own would not compile beside the header; a macro
        // would quietly win over it.
        assert!(
            !MASQ_C.contains("#define ST_"),
            "masq.c numbers slots itself"
        );
        assert_eq!(DROP_REASONS.len(), stats::DROPS.len());
        for ((_, label), reason) in stats::DROPS.iter().zip(DROP_REASONS) {
            assert_eq!(*label, reason);
        }
    }

    #[test]
    fn drop_reasons_are_unique_and_share_only_bad_ip_header() {
        let mut seen = std::collections::HashSet::new();
        for r in DROP_REASONS {
            assert!(seen.insert(r), "duplicate {r}");
            assert!(r.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{r}");
        }
        // Same name for the same fault in another family (see `stats`);
        // any other overlap is a decision to make there.
        let shared: Vec<&str> = masq_core::DropReason::ALL
            .iter()
            .map(|d| d.name())
            .filter(|n| DROP_REASONS.contains(n))
            .collect();
        assert_eq!(shared, ["bad_ip_header"]);
    }
}
