//! The two small system calls of the control thread, through rustix's
//! safe API: waiting for descriptors to become readable (poll) and
//! creating files under a narrower file mode mask (umask).

use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::Mode;
use rustix::process::umask;

/// Waits until one of `fds` is readable or `timeout` passes. An
/// interrupted or failed wait returns early; the caller's loop polls again.
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Duration) {
    let mut p: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN))
        .collect();
    let t = Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let _ = poll(&mut p, Some(&t));
}

/// Runs `f` with the process's file mode mask set to `mask` (so that a
/// file `f` creates never exists with wider permissions), then restores it.
pub fn with_umask<T>(mask: u32, f: impl FnOnce() -> T) -> T {
    let old = umask(Mode::from_bits_truncate(mask));
    let r = f();
    umask(old);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::time::Instant;

    #[test]
    fn waits_for_a_readable_socket_or_the_timeout() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let t = Instant::now();
        wait_readable(&[a.as_fd()], Duration::from_millis(50));
        assert!(t.elapsed() >= Duration::from_millis(40), "returned early");
        std::io::Write::write_all(&mut &b, b"x").unwrap();
        let t = Instant::now();
        wait_readable(&[a.as_fd()], Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1), "missed the data");
    }
}
