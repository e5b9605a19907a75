//! Giving up privileges once setup is done.
//!
//! Linux capabilities and the no-new-privileges flag belong to each
//! thread, so every thread of masq calls [`keep_only`] itself when it has
//! what it needs: a worker once its sockets are bound and registered (it
//! then keeps nothing), the event logger at its start (nothing), the
//! control thread once the XDP programs are attached and the workers are
//! running (only `CAP_NET_ADMIN`, to detach the programs when it stops).
//! Threads started after that inherit the reduced sets.

use std::io;

pub use caps::Capability;
use caps::{CapSet, CapsHashSet};

fn other(what: &str, e: caps::errors::CapsError) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// Reduces the calling thread to `keep`: effective and permitted sets to
/// `keep` (what it does not already hold is not gained), inheritable and
/// ambient sets cleared, the bounding set cut to `keep` when the thread may
/// (it holds `CAP_SETPCAP`), and no-new-privileges set, so that nothing it
/// executes could regain a capability. Returns what the thread keeps.
pub fn keep_only(keep: &[Capability]) -> io::Result<Vec<Capability>> {
    let keep: CapsHashSet = keep.iter().copied().collect();
    let held = caps::read(None, CapSet::Permitted).map_err(|e| other("read permitted", e))?;
    let kept: CapsHashSet = held.intersection(&keep).copied().collect();
    caps::clear(None, CapSet::Ambient).map_err(|e| other("clear ambient", e))?;
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        let bounding = caps::read(None, CapSet::Bounding).map_err(|e| other("read bounding", e))?;
        for c in bounding.difference(&keep) {
            caps::drop(None, CapSet::Bounding, *c).map_err(|e| other("drop bounding", e))?;
        }
    }
    caps::clear(None, CapSet::Inheritable).map_err(|e| other("clear inheritable", e))?;
    caps::set(None, CapSet::Effective, &kept).map_err(|e| other("set effective", e))?;
    caps::set(None, CapSet::Permitted, &kept).map_err(|e| other("set permitted", e))?;
    rustix::thread::set_no_new_privs(true)
        .map_err(|e| io::Error::other(format!("prctl(PR_SET_NO_NEW_PRIVS): {e}")))?;
    let mut v: Vec<Capability> = kept.into_iter().collect();
    v.sort_by_key(|c| c.index());
    Ok(v)
}

/// The capabilities named the way `capsh` and /proc print them, or "none".
pub fn names(v: &[Capability]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter()
        .map(|c| c.to_string().to_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a thread of its own (capabilities are per thread), so the test
    /// process keeps its own.
    #[test]
    fn a_thread_keeps_only_what_it_asks_for() {
        let before = caps::read(None, CapSet::Permitted).unwrap();
        let got = std::thread::spawn(|| {
            let kept = keep_only(&[Capability::CAP_NET_ADMIN]).unwrap();
            let eff = caps::read(None, CapSet::Effective).unwrap();
            let perm = caps::read(None, CapSet::Permitted).unwrap();
            (kept, eff, perm)
        })
        .join()
        .unwrap();
        let (kept, eff, perm) = got;
        let expect: Vec<Capability> = if before.contains(&Capability::CAP_NET_ADMIN) {
            vec![Capability::CAP_NET_ADMIN]
        } else {
            vec![]
        };
        assert_eq!(kept, expect);
        assert_eq!(eff.into_iter().collect::<Vec<_>>(), expect);
        assert_eq!(perm.into_iter().collect::<Vec<_>>(), expect);
        // This thread was not touched.
        assert_eq!(caps::read(None, CapSet::Permitted).unwrap(), before);
        assert_eq!(names(&[]), "none");
        assert_eq!(names(&[Capability::CAP_NET_ADMIN]), "cap_net_admin");
    }
}
