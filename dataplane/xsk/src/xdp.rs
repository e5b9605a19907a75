//! The XDP program: loading, configuration, attachment and detachment.

use std::ffi::CString;
use std::io;
use std::ptr;

use libxdp_sys as sys;

use crate::bpf::{self, check, Object};

#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

/// The compiled program (xdp/masq.c); libbpf wants it 8-byte aligned.
static OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/masq.o")));

/// Native (driver) mode attachment.
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// Prefixes the program can hold (`MAX_PREFIXES` in masq.c).
pub const MAX_PREFIXES: usize = 16;

/// Which traffic an interface's program redirects to the NAT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// LAN: IPv4 from one of these (address, prefix length) to anywhere
    /// outside them.
    Lan(Vec<(u32, u8)>),
    /// WAN: IPv4 to one of these pool prefixes: fragments, TCP/UDP to a
    /// port in `ports`, ICMP echo replies and errors.
    Wan(Vec<(u32, u8)>, (u16, u16)),
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
}

fn raw(filter: &Filter) -> io::Result<RawConfig> {
    let (side, prefixes, ports) = match filter {
        Filter::Lan(p) => (0, p, (0, 0)),
        Filter::Wan(p, ports) => (1, p, *ports),
    };
    if prefixes.len() > MAX_PREFIXES {
        return Err(io::Error::other(format!(
            "{} prefixes; the XDP program holds at most {MAX_PREFIXES}",
            prefixes.len()
        )));
    }
    let mut c = RawConfig {
        side,
        count: prefixes.len() as u32,
        addr: [0; MAX_PREFIXES],
        mask: [0; MAX_PREFIXES],
        port_min: u32::from(ports.0),
        port_max: u32::from(ports.1),
    };
    for (i, &(a, len)) in prefixes.iter().enumerate() {
        let m = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        c.addr[i] = (a & m).to_be();
        c.mask[i] = m.to_be();
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

    /// Frames redirected to the NAT and passed to the kernel so far.
    pub fn stats(&self) -> io::Result<(u64, u64)> {
        Ok((
            bpf::percpu_sum(self.stats_fd, 0)?,
            bpf::percpu_sum(self.stats_fd, 1)?,
        ))
    }

    /// The fd of the program's XSKMAP, where workers register sockets.
    /// Replaces the filter of the attached program (the external address
    /// changed, or pool addresses were added). One map write: the program
    /// reads the new filter from its next frame.
    pub fn set_filter(&self, filter: &Filter) -> io::Result<()> {
        bpf::map_update(self.config_fd, &0u32, &raw(filter)?, "write config map")
    }

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
        let c = raw(&Filter::Wan(vec![(0xcb00_7100, 24)], (1024, 65535))).unwrap();
        assert_eq!(c.side, 1);
        assert_eq!(c.count, 1);
        assert_eq!(c.addr[0], 0xcb00_7100u32.to_be());
        assert_eq!(c.mask[0], 0xffff_ff00u32.to_be());
        assert_eq!((c.port_min, c.port_max), (1024, 65535));
        assert_eq!(
            core::mem::size_of::<RawConfig>(),
            8 + 2 * 4 * MAX_PREFIXES + 8
        );
        let too_many = Filter::Lan(vec![(0, 8); MAX_PREFIXES + 1]);
        assert!(raw(&too_many).is_err());
    }
}
