//! The generator's fallback for kernels without live frames: the same
//! frames sent through an AF_PACKET socket with libc calls (no kept crate
//! builds a packet socket address safely).

use std::io;
use std::time::{Duration, Instant};

use masq_xsk::xdp::ifindex;

use crate::xdp::Traffic;

/// The same traffic as [`crate::xdp::generate`], sent through an AF_PACKET socket on
/// `t.iface` (qdisc bypassed, 64 frames per sendmmsg) instead of the
/// live-frames test run (slower; for kernels without live frames). The
/// frames of up to 1M flows are built up front. Returns the frames the
/// kernel accepted.
pub fn generate_packet(t: &Traffic, duration: Duration) -> io::Result<u64> {
    // Every frame a new flow is approximated by 1M distinct frames.
    let flows = if t.flows == 0 {
        1 << 20
    } else {
        t.flows.min(1 << 20)
    };
    let frames: Vec<Vec<u8>> = (0..flows).map(|i| t.frame(i)).collect();
    let idx = ifindex(&t.iface)?;
    // SAFETY: plain socket(2) call; the fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if fd < 0 {
        return Err(io::Error::other(format!(
            "AF_PACKET socket: {}",
            io::Error::last_os_error()
        )));
    }
    let result = send_loop(fd, idx, &frames, duration);
    // SAFETY: closing the socket opened above, once.
    unsafe { libc::close(fd) };
    result
}

fn send_loop(fd: i32, ifindex: i32, frames: &[Vec<u8>], duration: Duration) -> io::Result<u64> {
    // SAFETY: an all-zero sockaddr_ll is valid; the fields that matter are
    // set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex;
    sll.sll_protocol = 0;
    // SAFETY: `sll` is a live sockaddr_ll and its size is passed with it.
    let r = unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::other(format!(
            "bind AF_PACKET: {}",
            io::Error::last_os_error()
        )));
    }
    let one: libc::c_int = 1;
    // SAFETY: `one` is a live c_int and its size is passed with it.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        )
    };
    const BATCH: usize = 64;
    let start = Instant::now();
    let mut sent = 0u64;
    let mut next = 0usize;
    // SAFETY: an all-zero iovec is a valid value (null base, length 0).
    let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: an all-zero mmsghdr is a valid value; every entry used is
    // filled before the call.
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    while start.elapsed() < duration {
        for k in 0..BATCH {
            let f = &frames[next];
            next = (next + 1) % frames.len();
            iov[k] = libc::iovec {
                iov_base: f.as_ptr() as *mut libc::c_void,
                iov_len: f.len(),
            };
            msgs[k].msg_hdr.msg_iov = &mut iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `msgs` holds BATCH headers whose iovecs point into
        // `frames`, alive for the call; the kernel only reads them.
        let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), BATCH as u32, 0) };
        if n > 0 {
            sent += n as u64;
        }
    }
    Ok(sent)
}
