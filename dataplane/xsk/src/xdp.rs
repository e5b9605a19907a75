//! The XDP program: loading, configuration, attachment and detachment.
//!
//! masq attaches its program in native (driver) mode and never over another
//! one: an interface that holds another XDP program is refused, naming it
//! (its id and name), and left as it is. [`detach_stale`] removes only
//! masq's own program (one of its name, [`PROGRAM`], left by a killed run,
//! or one this process attached), and an [`XdpProgram`] detaches on drop
//! only while the interface still holds that very program (checked by id).
//!
//! Its counters are the slots of [`stats`], the one table that build.rs
//! also writes into the program's C header.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use libbpf_rs::{MapHandle, Xdp, XdpFlags};

use crate::bpf::{self, Attached};

mod attach;
pub mod stats;

pub use attach::detach_stale;

#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

/// The compiled program (xdp/masq.c); libbpf wants it 8-byte aligned.
static OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/masq.o")));

/// The name of the program in xdp/masq.c, by which a stale one is known.
pub const PROGRAM: &str = "masq_xdp";
/// Prefixes the program can hold (`MAX_PREFIXES` in masq.c).
pub const MAX_PREFIXES: usize = 16;
/// Bytes of the echo identifier table (`struct echo_ids` in masq.c).
pub const ECHO_IDS_LEN: usize = 1 << 16;
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
        /// Pool addresses that are also the box's own: what is the box's
        /// on them (see `kernel_ports`, the echo identifier table, ICMP
        /// errors about its packets) goes to the kernel, never dropped.
        own: Vec<u32>,
        /// Ports the box's stack keeps on `own` addresses (inclusive).
        kernel_ports: Option<(u16, u16)>,
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
    kport_min: u32,
    kport_max: u32,
    own_count: u32,
    own_addr: [u32; MAX_PREFIXES],
}

impl RawConfig {
    /// The bytes of the map value: the fields in order, each in host byte
    /// order, as the C struct lays them out (all `__u32`, so no padding).
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(std::mem::size_of::<RawConfig>());
        let mut put = |words: &[u32]| {
            for w in words {
                out.extend_from_slice(&w.to_ne_bytes());
            }
        };
        put(&[self.side, self.count]);
        put(&self.addr);
        put(&self.mask);
        put(&[self.port_min, self.port_max, self.excl_count]);
        put(&self.excl_addr);
        put(&self.excl_mask);
        put(&[self.o2o_count]);
        put(&self.o2o_addr);
        put(&[self.sport_count]);
        put(&self.sport);
        put(&[self.drop_other, self.spoof_count]);
        put(&self.spoof_addr);
        put(&self.spoof_mask);
        put(&[self.kport_min, self.kport_max, self.own_count]);
        put(&self.own_addr);
        out
    }
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
        kport_min: 0,
        kport_max: 0,
        own_count: 0,
        own_addr: [0; MAX_PREFIXES],
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
            own,
            kernel_ports,
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
            if own.len() > MAX_PREFIXES {
                return Err(io::Error::other(format!(
                    "{} pool addresses of the box; the XDP program holds at most {MAX_PREFIXES}",
                    own.len()
                )));
            }
            for (i, a) in own.iter().enumerate() {
                c.own_addr[i] = a.to_be();
            }
            c.own_count = own.len() as u32;
            if let Some((lo, hi)) = kernel_ports {
                (c.kport_min, c.kport_max) = (u32::from(*lo), u32::from(*hi));
            }
        }
    }
    Ok(c)
}

/// The index of interface `name`.
pub fn ifindex(name: &str) -> io::Result<i32> {
    let i = nix::net::if_::if_nametoindex(name)
        .map_err(|e| io::Error::other(format!("no interface {name}: {e}")))?;
    i32::try_from(i)
        .map_err(|_| io::Error::other(format!("interface {name}: index {i} out of range")))
}

/// One loaded copy of the program, attached to one interface; detached
/// (if the interface still holds it) and closed on drop.
#[derive(Debug)]
pub struct XdpProgram {
    _obj: libbpf_rs::Object,
    prog: OwnedFd,
    prog_id: u32,
    ifindex: i32,
    ifname: String,
    xsks_fd: i32,
    stats: MapHandle,
    config: MapHandle,
    echo_ids: MapHandle,
}

impl XdpProgram {
    /// Loads the program, writes `filter` into its configuration map and
    /// attaches it to `ifname` in native mode. An interface that holds
    /// another XDP program is refused, naming it.
    pub fn attach(ifname: &str, filter: &Filter) -> io::Result<XdpProgram> {
        let cfg = raw(filter)?;
        let ifindex = ifindex(ifname)?;
        let obj = bpf::load(&OBJECT.0)?;
        let prog = bpf::program(&obj, PROGRAM)?;
        let prog_id = bpf::program_id(&prog)?;
        let xsks = bpf::map(&obj, "xsks")?;
        let stats = bpf::map(&obj, "stats")?;
        let config = bpf::map(&obj, "config")?;
        let echo_ids = bpf::map(&obj, "echo_ids")?;
        bpf::update(
            &config,
            &0u32.to_ne_bytes(),
            &cfg.bytes(),
            "write config map",
        )?;
        attach::attach(&Xdp::new(prog.as_fd()), ifname, ifindex)?;
        let p = XdpProgram {
            _obj: obj,
            prog,
            prog_id,
            ifindex,
            ifname: ifname.to_string(),
            xsks_fd: xsks.as_fd().as_raw_fd(),
            stats,
            config,
            echo_ids,
        };
        // From here on, an error drops `p`, which detaches it.
        let entry = Attached {
            ifindex,
            prog_id,
            prog: p.prog.try_clone()?,
            xsks,
        };
        bpf::attached().push(entry);
        Ok(p)
    }

    /// Frames redirected to the NAT and passed to the kernel so far
    /// (slots [`stats::FRAMES`]).
    pub fn stats(&self) -> io::Result<(u64, u64)> {
        Ok((
            bpf::percpu_sum(&self.stats, 0)?,
            bpf::percpu_sum(&self.stats, 1)?,
        ))
    }

    /// Frames dropped so far, by reason ([`DROP_REASONS`] order).
    pub fn drops(&self) -> io::Result<[u64; DROP_REASONS.len()]> {
        let mut d = [0; DROP_REASONS.len()];
        for (i, v) in d.iter_mut().enumerate() {
            *v = bpf::percpu_sum(&self.stats, (stats::FRAMES.len() + i) as u32)?;
        }
        Ok(d)
    }

    /// Replaces the filter of the attached program (the external address
    /// changed, or pool addresses were added). One map write: the program
    /// reads the new filter from its next frame.
    pub fn set_filter(&self, filter: &Filter) -> io::Result<()> {
        bpf::update(
            &self.config,
            &0u32.to_ne_bytes(),
            &raw(filter)?.bytes(),
            "write config map",
        )
    }

    /// The fd number of the program's XSKMAP, where workers register
    /// sockets; valid while this program lives.
    pub fn xsks_fd(&self) -> i32 {
        self.xsks_fd
    }

    /// The fd of the program's echo identifier table ([`ECHO_IDS_LEN`]
    /// bytes, one per identifier, mappable), which the workers write;
    /// valid while this program lives.
    pub fn echo_ids_fd(&self) -> i32 {
        self.echo_ids.as_fd().as_raw_fd()
    }

    /// The program's id (what `ip link` shows on the interface).
    pub fn id(&self) -> u32 {
        self.prog_id
    }

    /// The interface it is attached to.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        bpf::attached().retain(|a| (a.ifindex, a.prog_id) != (self.ifindex, self.prog_id));
        // Errors have no one to go to here; the interface is left with
        // whatever it holds if this fails.
        let _ = attach::detach_own(
            &Xdp::new(self.prog.as_fd()),
            self.ifindex,
            XdpFlags::DRV_MODE.bits(),
            self.prog_id,
        );
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
            own: vec![0xcb00_7101],
            kernel_ports: Some((32768, 60999)),
        })
        .unwrap();
        assert_eq!(c.side, 1);
        assert_eq!((c.kport_min, c.kport_max), (32768, 60999));
        assert_eq!((c.own_count, c.own_addr[0]), (1, 0xcb00_7101u32.to_be()));
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
                + 4
                + 4
                + 4
                + 4 * MAX_PREFIXES
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

    /// The map value is the struct's memory: every field where `repr(C)`
    /// puts it.
    #[test]
    fn config_bytes_follow_the_struct() {
        let c = raw(&Filter::Wan {
            pool: vec![(0xcb00_7100, 24)],
            ports: (1024, 65000),
            one_to_one: vec![0xcb00_7180],
            static_ports: vec![80, 443],
            drop_other: true,
            own: vec![0xcb00_7101, 0xcb00_7102],
            kernel_ports: Some((32768, 60999)),
        })
        .unwrap();
        let b = c.bytes();
        assert_eq!(b.len(), std::mem::size_of::<RawConfig>());
        let at = |off: usize| u32::from_ne_bytes(b[off..off + 4].try_into().unwrap());
        use std::mem::offset_of;
        assert_eq!(at(offset_of!(RawConfig, side)), 1);
        assert_eq!(at(offset_of!(RawConfig, addr)), c.addr[0]);
        assert_eq!(at(offset_of!(RawConfig, mask)), c.mask[0]);
        assert_eq!(at(offset_of!(RawConfig, port_max)), 65000);
        assert_eq!(at(offset_of!(RawConfig, o2o_addr)), c.o2o_addr[0]);
        assert_eq!(at(offset_of!(RawConfig, sport) + 4), 443);
        assert_eq!(at(offset_of!(RawConfig, drop_other)), 1);
        assert_eq!(at(offset_of!(RawConfig, kport_min)), 32768);
        assert_eq!(at(offset_of!(RawConfig, kport_max)), 60999);
        assert_eq!(at(offset_of!(RawConfig, own_count)), 2);
        assert_eq!(
            at(offset_of!(RawConfig, own_addr) + 4),
            0xcb00_7102u32.to_be()
        );
        let none = raw(&Filter::Wan {
            pool: vec![],
            ports: (1024, 65535),
            one_to_one: vec![],
            static_ports: vec![],
            drop_other: false,
            own: vec![0; MAX_PREFIXES + 1],
            kernel_ports: None,
        });
        assert!(none.is_err(), "more own addresses than the program holds");
        let c = raw(&Filter::Lan {
            inside: vec![],
            exclude: vec![],
            spoofed: vec![(0xc612_0001, 32); MAX_SPOOF],
        })
        .unwrap();
        let b = c.bytes();
        let at = |off: usize| u32::from_ne_bytes(b[off..off + 4].try_into().unwrap());
        let last = offset_of!(RawConfig, spoof_mask) + 4 * (MAX_SPOOF - 1);
        assert_eq!(at(last), u32::MAX.to_be());
        assert_eq!(at(offset_of!(RawConfig, spoof_count)), MAX_SPOOF as u32);
    }

    const MASQ_C: &str = include_str!("../xdp/masq.c");

    /// The struct and the table the loader writes are the ones masq.c
    /// declares: its last fields, in order, and the table's size.
    #[test]
    fn the_program_declares_the_shared_layout() {
        let tail = "    __u32 kport_min;\n    __u32 kport_max;\n    __u32 own_count;\n    \
                    __u32 own_addr[MAX_PREFIXES];\n};";
        assert!(MASQ_C.contains(tail));
        assert!(MASQ_C.contains(&format!("__u8 held[{ECHO_IDS_LEN}];")));
        assert!(MASQ_C.contains("__uint(map_flags, BPF_F_MMAPABLE);"));
    }

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
