//! masq's uses of libbpf-rs: an object loaded from memory, its programs and
//! maps, map writes and per-CPU reads, the name of a loaded program, and the
//! table of the XDP programs this process attached.
//!
//! The table serves two callers that hold no handle of their own: a worker
//! registers its sockets in an XSKMAP it knows only by the fd number
//! [`crate::xdp::XdpProgram::xsks_fd`] gave out ([`map_update`]), and
//! [`crate::xdp::detach_stale`], called from the panic hook on a thread that
//! may keep only `CAP_NET_ADMIN`, recognises the programs this process
//! attached by their ids without reading any program's name.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use libbpf_rs::query::ProgInfoIter;
use libbpf_rs::{MapCore, MapFlags, MapHandle, Object, ObjectBuilder, Program};

/// A libbpf-rs error as an `io::Error` that says what failed, with the
/// whole chain of causes.
pub fn error(what: &str, e: &libbpf_rs::Error) -> io::Error {
    let mut msg = format!("{what}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    io::Error::other(msg)
}

/// Opens and loads an ELF image (8-byte aligned).
pub(crate) fn load(image: &[u8]) -> io::Result<Object> {
    ObjectBuilder::default()
        .open_memory(image)
        .and_then(|o| o.load())
        .map_err(|e| error("load the XDP object", &e))
}

/// An fd of program `name` of `obj`, its own (the object may be dropped).
pub(crate) fn program(obj: &Object, name: &str) -> io::Result<OwnedFd> {
    let p = obj
        .progs()
        .find(|p| p.name() == name)
        .ok_or_else(|| io::Error::other(format!("program {name} not found in the XDP object")))?;
    p.as_fd().try_clone_to_owned()
}

/// A handle of map `name` of `obj`, its own (the object may be dropped).
pub(crate) fn map(obj: &Object, name: &str) -> io::Result<MapHandle> {
    let m = obj
        .maps()
        .find(|m| m.name() == name)
        .ok_or_else(|| io::Error::other(format!("map {name} not found in the XDP object")))?;
    MapHandle::try_from(&m).map_err(|e| error(&format!("map {name}"), &e))
}

/// Writes `val` under `key` in `map` (libbpf-rs checks both sizes against
/// the map's).
pub(crate) fn update(map: &MapHandle, key: &[u8], val: &[u8], what: &str) -> io::Result<()> {
    map.update(key, val, MapFlags::ANY)
        .map_err(|e| error(what, &e))
}

/// The sum over CPUs of entry `key` of a per-CPU array of u64.
pub(crate) fn percpu_sum(map: &MapHandle, key: u32) -> io::Result<u64> {
    let what = || {
        format!(
            "read entry {key} of per-CPU map {}",
            map.name().to_string_lossy()
        )
    };
    let vals = map
        .lookup_percpu(&key.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| error(&what(), &e))?
        .ok_or_else(|| io::Error::other(format!("{}: no such entry", what())))?;
    vals.iter().try_fold(0u64, |sum, v| {
        let v: [u8; 8] = v
            .as_slice()
            .try_into()
            .map_err(|_| io::Error::other(format!("{}: values of {} bytes", what(), v.len())))?;
        Ok(sum.wrapping_add(u64::from_ne_bytes(v)))
    })
}

/// The name of loaded program `id`. None when it cannot be read: the
/// kernel lists and opens programs by id only for `CAP_SYS_ADMIN`.
pub(crate) fn program_name(id: u32) -> Option<String> {
    ProgInfoIter::default()
        .find(|p| p.id == id)
        .map(|p| p.name.to_string_lossy().into_owned())
}

/// The id of a loaded program.
pub(crate) fn program_id(prog: &OwnedFd) -> io::Result<u32> {
    Program::id_from_fd(prog.as_fd()).map_err(|e| error("read the program's id", &e))
}

/// An XDP program this process attached.
#[derive(Debug)]
pub(crate) struct Attached {
    /// The interface it is attached to.
    pub ifindex: i32,
    /// Its id.
    pub prog_id: u32,
    /// An fd of it, for queries and detachment from the panic hook.
    pub prog: OwnedFd,
    /// Its XSKMAP.
    pub xsks: MapHandle,
}

static ATTACHED: Mutex<Vec<Attached>> = Mutex::new(Vec::new());

/// The table of attached programs. A poisoned lock is taken anyway (the
/// table is only pushed to and removed from).
pub(crate) fn attached() -> MutexGuard<'static, Vec<Attached>> {
    ATTACHED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The table, or None when another holder has it: the panic hook must not
/// wait on a lock its own thread may hold.
pub(crate) fn try_attached() -> Option<MutexGuard<'static, Vec<Attached>>> {
    match ATTACHED.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Writes `val` under `key` in the XSKMAP whose fd number is `fd` (one that
/// [`crate::xdp::XdpProgram::xsks_fd`] gave out, of a program still
/// attached).
pub(crate) fn map_update(fd: i32, key: &u32, val: &i32, what: &str) -> io::Result<()> {
    let table = attached();
    let a = table
        .iter()
        .find(|a| a.xsks.as_fd().as_raw_fd() == fd)
        .ok_or_else(|| {
            io::Error::other(format!("{what}: fd {fd} is no attached program's XSKMAP"))
        })?;
    update(&a.xsks, &key.to_ne_bytes(), &val.to_ne_bytes(), what)
}
