//! The few libbpf calls the project makes: open and load an object from
//! memory, find its programs and maps, update and read maps.

use std::ffi::CStr;
use std::io;
use std::ptr;

use libxdp_sys as sys;

/// A libbpf return value: negative is `-errno`.
pub(crate) fn check(ret: libc::c_int, what: &str) -> io::Result<()> {
    if ret < 0 {
        let e = io::Error::from_raw_os_error(-ret);
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

/// A loaded BPF object; closed on drop.
#[derive(Debug)]
pub(crate) struct Object {
    obj: *mut sys::bpf_object,
}

// SAFETY: the object is only used through libbpf calls that are safe from
// any thread (map and program lookups, map syscalls) and closed once, in
// Drop; it is never shared, only moved.
unsafe impl Send for Object {}

impl Object {
    /// Opens and loads an ELF image (8-byte aligned, 'static).
    pub(crate) fn load(image: &'static [u8]) -> io::Result<Object> {
        // SAFETY: `image` is a valid ELF image that lives for 'static; null
        // options are allowed.
        let obj = unsafe {
            sys::bpf_object__open_mem(image.as_ptr().cast(), image.len() as _, ptr::null())
        };
        if obj.is_null() {
            return Err(io::Error::other(format!(
                "bpf_object__open_mem: {}",
                io::Error::last_os_error()
            )));
        }
        let o = Object { obj };
        // SAFETY: `obj` is a valid opened object owned by `o`.
        check(unsafe { sys::bpf_object__load(obj) }, "bpf_object__load")?;
        Ok(o)
    }

    /// The fd of program `name`.
    pub(crate) fn prog_fd(&self, name: &CStr) -> io::Result<i32> {
        // SAFETY: the object is loaded; `name` is NUL-terminated.
        let p = unsafe { sys::bpf_object__find_program_by_name(self.obj, name.as_ptr()) };
        if p.is_null() {
            return Err(io::Error::other(format!("program {name:?} not found")));
        }
        // SAFETY: `p` belongs to the loaded object.
        let fd = unsafe { sys::bpf_program__fd(p) };
        check(fd, "bpf_program__fd")?;
        Ok(fd)
    }

    /// The fd of map `name`.
    pub(crate) fn map_fd(&self, name: &CStr) -> io::Result<i32> {
        // SAFETY: the object is loaded; `name` is NUL-terminated.
        let fd = unsafe { sys::bpf_object__find_map_fd_by_name(self.obj, name.as_ptr()) };
        check(fd, &format!("map {name:?}"))?;
        Ok(fd)
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        // SAFETY: closing our own object, once.
        unsafe { sys::bpf_object__close(self.obj) };
    }
}

/// Writes `val` under `key` in map `fd`. `K` and `V` must have the sizes
/// of the map's key and value (the C structs they mirror).
pub(crate) fn map_update<K: Copy, V: Copy>(
    fd: i32,
    key: &K,
    val: &V,
    what: &str,
) -> io::Result<()> {
    // SAFETY: key and value point to live values; the kernel reads exactly
    // the map's key and value sizes, which the caller's types match.
    let r = unsafe {
        sys::bpf_map_update_elem(
            fd,
            (key as *const K).cast(),
            (val as *const V).cast(),
            u64::from(sys::BPF_ANY),
        )
    };
    check(r, what)
}

/// The sum over CPUs of entry `key` of a per-CPU array of u64.
pub(crate) fn percpu_sum(fd: i32, key: u32) -> io::Result<u64> {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    let ncpu = s
        .trim()
        .rsplit(['-', ','])
        .next()
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| io::Error::other(format!("bad cpu list {s:?}")))?
        + 1;
    let mut vals = vec![0u64; ncpu];
    // SAFETY: a per-CPU array lookup writes one u64 per possible CPU into
    // `vals`, which holds exactly that many.
    let r = unsafe {
        sys::bpf_map_lookup_elem(fd, (&key as *const u32).cast(), vals.as_mut_ptr().cast())
    };
    check(r, "read per-CPU map")?;
    Ok(vals.iter().sum())
}
