//! The XDP program: loading, configuration, attachment and detachment.

use std::ffi::CString;
use std::io;
use std::ptr;

use libxdp_sys as sys;

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

fn check(ret: libc::c_int, what: &str) -> io::Result<()> {
    if ret < 0 {
        let e = io::Error::from_raw_os_error(-ret);
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(())
    }
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
    obj: *mut sys::bpf_object,
    ifindex: i32,
    ifname: String,
    xsks_fd: i32,
    stats_fd: i32,
}

// SAFETY: the bpf_object is only touched through &self/&mut self methods
// that call thread-safe libbpf map syscalls, or in Drop; moving it to the
// control thread is sound.
unsafe impl Send for XdpProgram {}

impl XdpProgram {
    /// Loads the program, writes `filter` into its configuration map and
    /// attaches it to `ifname` in native mode.
    pub fn attach(ifname: &str, filter: &Filter) -> io::Result<XdpProgram> {
        let cfg = raw(filter)?;
        let ifindex = ifindex(ifname)?;
        let buf: &[u8] = &OBJECT.0;
        // SAFETY: `buf` is a valid ELF image that lives for 'static; null
        // options are allowed.
        let obj =
            unsafe { sys::bpf_object__open_mem(buf.as_ptr().cast(), buf.len() as _, ptr::null()) };
        if obj.is_null() {
            return Err(io::Error::other(format!(
                "bpf_object__open_mem: {}",
                io::Error::last_os_error()
            )));
        }
        let mut p = XdpProgram {
            obj,
            ifindex,
            ifname: ifname.to_string(),
            xsks_fd: -1,
            stats_fd: -1,
        };
        // SAFETY: `obj` is a valid opened object owned by `p`.
        check(unsafe { sys::bpf_object__load(obj) }, "bpf_object__load")?;
        // SAFETY: `obj` is loaded; names are NUL-terminated literals.
        let prog = unsafe { sys::bpf_object__find_program_by_name(obj, c"masq_xdp".as_ptr()) };
        if prog.is_null() {
            return Err(io::Error::other("program masq_xdp not found in the object"));
        }
        // SAFETY: `prog` belongs to the loaded `obj`.
        let prog_fd = unsafe { sys::bpf_program__fd(prog) };
        check(prog_fd, "bpf_program__fd")?;
        // SAFETY: as above.
        p.xsks_fd = unsafe { sys::bpf_object__find_map_fd_by_name(obj, c"xsks".as_ptr()) };
        check(p.xsks_fd, "map xsks")?;
        // SAFETY: as above.
        p.stats_fd = unsafe { sys::bpf_object__find_map_fd_by_name(obj, c"stats".as_ptr()) };
        check(p.stats_fd, "map stats")?;
        // SAFETY: as above.
        let cfg_fd = unsafe { sys::bpf_object__find_map_fd_by_name(obj, c"config".as_ptr()) };
        check(cfg_fd, "map config")?;
        let key = 0u32;
        // SAFETY: key and value point to live values of the map's key and
        // value sizes (u32 and `RawConfig`, which mirrors `struct masq_cfg`).
        let r = unsafe {
            sys::bpf_map_update_elem(
                cfg_fd,
                (&key as *const u32).cast(),
                (&cfg as *const RawConfig).cast(),
                u64::from(sys::BPF_ANY),
            )
        };
        check(r, "write config map")?;
        // SAFETY: plain syscall wrapper on a valid interface and program fd.
        let r = unsafe { sys::bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_DRV_MODE, ptr::null()) };
        check(r, "bpf_xdp_attach")?;
        Ok(p)
    }

    /// Sends frames of receive queue `queue` to the AF_XDP socket `fd`.
    pub fn register(&self, queue: u32, fd: i32) -> io::Result<()> {
        // SAFETY: key and value point to live u32/i32 values, the sizes of
        // the XSKMAP's key and value.
        let r = unsafe {
            sys::bpf_map_update_elem(
                self.xsks_fd,
                (&queue as *const u32).cast(),
                (&fd as *const i32).cast(),
                u64::from(sys::BPF_ANY),
            )
        };
        check(r, "register socket in xsks map")
    }

    /// Frames redirected to the NAT and passed to the kernel so far.
    pub fn stats(&self) -> io::Result<(u64, u64)> {
        let ncpu = possible_cpus()?;
        let mut out = [0u64; 2];
        let mut vals = vec![0u64; ncpu];
        for (k, o) in out.iter_mut().enumerate() {
            let key = k as u32;
            // SAFETY: a per-CPU array lookup writes one u64 per possible CPU
            // into `vals`, which holds exactly that many.
            let r = unsafe {
                sys::bpf_map_lookup_elem(
                    self.stats_fd,
                    (&key as *const u32).cast(),
                    vals.as_mut_ptr().cast(),
                )
            };
            check(r, "read stats map")?;
            *o = vals.iter().sum();
        }
        Ok((out[0], out[1]))
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
        // SAFETY: detaching by interface index and closing our own object,
        // which nothing else references.
        unsafe {
            sys::bpf_xdp_detach(self.ifindex, XDP_FLAGS_DRV_MODE, ptr::null());
            sys::bpf_object__close(self.obj);
        }
    }
}

fn possible_cpus() -> io::Result<usize> {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    let last = s.trim().rsplit(['-', ',']).next().unwrap_or("0");
    last.parse::<usize>()
        .map(|n| n + 1)
        .map_err(|_| io::Error::other(format!("bad cpu list {s:?}")))
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
