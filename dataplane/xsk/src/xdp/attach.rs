//! Attachment to an interface and detachment from it, checked by program
//! id, so that masq never replaces nor removes another XDP program.
//!
//! libbpf-rs's [`Xdp`] works through the fd of a program; the queries and
//! the detachment it makes are the interface's, whichever program that is.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use caps::{CapSet, Capability};
use libbpf_rs::{Xdp, XdpFlags};

use super::{ifindex, OBJECT, PROGRAM};
use crate::bpf;

/// Attaches the program behind `xdp` to `ifindex` in native mode, only if
/// the interface holds no XDP program yet.
pub(super) fn attach(xdp: &Xdp, ifname: &str, ifindex: i32) -> io::Result<()> {
    let Err(e) = xdp.attach(ifindex, XdpFlags::DRV_MODE | XdpFlags::UPDATE_IF_NOEXIST) else {
        return Ok(());
    };
    // Refused because a program is there already: name it.
    if let Some(&(_, id)) = attached_ids(xdp, ifindex)
        .ok()
        .as_ref()
        .and_then(|v| v.first())
    {
        return Err(foreign(ifname, id));
    }
    Err(bpf::error(
        &format!("attach the XDP program to {ifname} in native mode"),
        &e,
    ))
}

/// The programs attached to `ifindex`: for each mode that holds one, the
/// flag that names the mode (its bits: `XdpFlags` is not `Copy`) and the
/// program's id.
fn attached_ids(xdp: &Xdp, ifindex: i32) -> io::Result<Vec<(u32, u32)>> {
    let q = xdp
        .query(ifindex, XdpFlags::NONE)
        .map_err(|e| bpf::error("query the interface's XDP programs", &e))?;
    Ok([
        (XdpFlags::DRV_MODE.bits(), q.drv_prog_id),
        (XdpFlags::SKB_MODE.bits(), q.skb_prog_id),
        (XdpFlags::HW_MODE.bits(), q.hw_prog_id),
    ]
    .into_iter()
    .filter(|&(_, id)| id != 0)
    .collect())
}

/// Detaches program `id` from mode `mode` (`XdpFlags` bits) of `ifindex`
/// if it is the one attached there when asked; returns whether it was.
pub(super) fn detach_own(xdp: &Xdp, ifindex: i32, mode: u32, id: u32) -> io::Result<bool> {
    let mode = || XdpFlags::from_bits_retain(mode);
    let now = xdp
        .query_id(ifindex, mode())
        .map_err(|e| bpf::error("query the interface's XDP program", &e))?;
    if now != id {
        return Ok(false);
    }
    xdp.detach(ifindex, mode())
        .map_err(|e| bpf::error("detach the XDP program", &e))?;
    Ok(true)
}

/// The refusal to touch program `id` on `ifname`, naming it.
fn foreign(ifname: &str, id: u32) -> io::Error {
    let name = bpf::program_name(id).unwrap_or_else(|| {
        if caps::has_cap(None, CapSet::Effective, Capability::CAP_SYS_ADMIN).unwrap_or(false) {
            "unknown".into()
        } else {
            "unknown: reading it needs CAP_SYS_ADMIN".into()
        }
    });
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "interface {ifname} has another XDP program attached (id {id}, name {name}); \
             masq does not remove it"
        ),
    )
}

/// Whether program `id` is masq's: one this process attached, one in
/// `recorded` (the ids a run wrote down when it attached its programs), or
/// one named [`PROGRAM`] (reading a name needs CAP_SYS_ADMIN).
fn is_masq(id: u32, recorded: &[u32]) -> bool {
    let own = bpf::try_attached().is_some_and(|t| t.iter().any(|a| a.prog_id == id));
    own || recorded.contains(&id) || bpf::program_name(id).as_deref() == Some(PROGRAM)
}

/// A program fd to query and detach through: one this process attached,
/// else masq's program, loaded for the purpose and never attached.
fn handle() -> io::Result<OwnedFd> {
    if let Some(a) = bpf::try_attached()
        .as_ref()
        .and_then(|t| t.first().map(|a| a.prog.try_clone()))
    {
        return a;
    }
    bpf::program(&bpf::load(&OBJECT.0)?, PROGRAM)
}

/// Removes masq's XDP program from `ifname` (a killed run leaves its
/// program behind): one this process attached, one whose id is in
/// `recorded`, or one named `masq_xdp`, in whatever mode. Returns whether
/// one was removed. Any other program is left attached, and named in the
/// error.
pub fn detach_stale(ifname: &str, recorded: &[u32]) -> io::Result<bool> {
    let idx = ifindex(ifname)?;
    let prog = handle()?;
    let xdp = Xdp::new(prog.as_fd());
    let mut removed = false;
    for (mode, id) in attached_ids(&xdp, idx)? {
        if !is_masq(id, recorded) {
            return Err(foreign(ifname, id));
        }
        removed |= detach_own(&xdp, idx, mode, id)?;
    }
    Ok(removed)
}
