//! The benchmark's traffic generator and sink (xdp/gen.c): the kernel's
//! live-frames test run (BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES)
//! replays one UDP template through `masq_gen`, which spreads it over many
//! flows and redirects it out of an interface; `masq_sink`, attached to
//! the receiving host's interface, counts and drops what arrives. Neither
//! costs the system under test any CPU of its own.

use std::io;
use std::ptr;
use std::time::{Duration, Instant};

use libxdp_sys as sys;

use crate::bpf::{self, check, Object};
use crate::xdp::ifindex;

#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

static OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/gen.o")));

const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// Must match `struct gen_cfg` in gen.c.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct GenConfig {
    ifindex: u32,
    flows: u32,
    base_port: u32,
    base_addr: u32,
}

/// What to send.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// Interface the frames leave from.
    pub iface: String,
    /// The UDP template frame (its UDP checksum must be 0).
    pub template: Vec<u8>,
    /// Distinct flows (0: every frame a new flow).
    pub flows: u32,
    /// Lowest source port.
    pub base_port: u16,
    /// First of 256 source addresses.
    pub base_addr: u32,
}

/// Sends `t` for `duration`; returns the frames sent.
pub fn generate(t: &Traffic, duration: Duration) -> io::Result<u64> {
    let o = Object::load(&OBJECT.0)?;
    let prog = o.prog_fd(c"masq_gen")?;
    let cfg = GenConfig {
        ifindex: ifindex(&t.iface)? as u32,
        flows: t.flows,
        base_port: u32::from(t.base_port),
        base_addr: t.base_addr,
    };
    bpf::map_update(o.map_fd(c"gen_config")?, &0u32, &cfg, "write gen_config")?;
    let mut ctx = sys::xdp_md {
        data: 0,
        data_end: t.template.len() as u32,
        data_meta: 0,
        ingress_ifindex: cfg.ifindex,
        rx_queue_index: 0,
        egress_ifindex: 0,
    };
    let start = Instant::now();
    let mut sent = 0u64;
    const REPEAT: i32 = 1 << 18;
    while start.elapsed() < duration {
        let mut opts = sys::bpf_test_run_opts {
            sz: std::mem::size_of::<sys::bpf_test_run_opts>(),
            data_in: t.template.as_ptr().cast(),
            data_out: ptr::null_mut(),
            data_size_in: t.template.len() as u32,
            data_size_out: 0,
            ctx_in: (&mut ctx as *mut sys::xdp_md).cast(),
            ctx_out: ptr::null_mut(),
            ctx_size_in: std::mem::size_of::<sys::xdp_md>() as u32,
            ctx_size_out: 0,
            retval: 0,
            repeat: REPEAT,
            duration: 0,
            flags: sys::BPF_F_TEST_XDP_LIVE_FRAMES,
            cpu: 0,
            batch_size: 64,
        };
        // SAFETY: `opts` points at the template and context, both alive for
        // the call; no output buffers are given.
        let r = unsafe { sys::bpf_prog_test_run_opts(prog, &mut opts) };
        check(r, "BPF_PROG_RUN (live frames)")?;
        sent += REPEAT as u64;
    }
    Ok(sent)
}

/// A counting sink attached to an interface; detached on drop.
#[derive(Debug)]
pub struct Sink {
    obj: Object,
    ifindex: i32,
}

impl Sink {
    /// Attaches the sink to `iface` in native mode.
    pub fn attach(iface: &str) -> io::Result<Sink> {
        Sink::attach_program(iface, c"masq_sink")
    }

    /// Attaches the pass-everything program to `iface` instead.
    pub fn attach_pass(iface: &str) -> io::Result<Sink> {
        Sink::attach_program(iface, c"masq_pass")
    }

    fn attach_program(iface: &str, name: &std::ffi::CStr) -> io::Result<Sink> {
        let obj = Object::load(&OBJECT.0)?;
        let prog = obj.prog_fd(name)?;
        let idx = ifindex(iface)?;
        // SAFETY: plain syscall wrapper on a valid interface and program fd.
        let r = unsafe { sys::bpf_xdp_attach(idx, prog, XDP_FLAGS_DRV_MODE, ptr::null()) };
        check(r, "bpf_xdp_attach")?;
        Ok(Sink { obj, ifindex: idx })
    }

    /// Frames counted so far.
    pub fn count(&self) -> io::Result<u64> {
        bpf::percpu_sum(self.obj.map_fd(c"counter")?, 0)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // SAFETY: detaching by interface index; the object outlives it.
        unsafe { sys::bpf_xdp_detach(self.ifindex, XDP_FLAGS_DRV_MODE, ptr::null()) };
    }
}

/// A 60-byte Ethernet/IPv4/UDP frame with UDP checksum 0.
pub fn udp_template(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&46u16.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src.to_be_bytes());
    ip[16..20].copy_from_slice(&dst.to_be_bytes());
    let c = masq_core::wire::checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[38..40].copy_from_slice(&26u16.to_be_bytes());
    f
}

/// The same traffic as [`generate`], sent through an AF_PACKET socket on
/// `t.iface` (qdisc bypassed, 64 frames per sendmmsg) instead of the
/// live-frames test run, so that it enters the receiver as ordinary
/// socket buffers: what the kernel's own NAT needs. `t.flows` frames are
/// built up front (at least 1). Returns the frames the kernel accepted.
pub fn generate_packet(t: &Traffic, duration: Duration) -> io::Result<u64> {
    let flows = t.flows.max(1) as usize;
    let frames: Vec<Vec<u8>> = (0..flows)
        .map(|i| {
            let mut f = t.template.clone();
            let addr = t.base_addr + (i as u32 & 0xff);
            let port = t.base_port as u32 + (i as u32 >> 8) % (65536 - t.base_port as u32);
            f[26..30].copy_from_slice(&addr.to_be_bytes());
            f[24..26].copy_from_slice(&[0, 0]);
            let c = masq_core::wire::checksum::checksum(&f[14..34]);
            f[24..26].copy_from_slice(&c.to_be_bytes());
            f[34..36].copy_from_slice(&(port as u16).to_be_bytes());
            f
        })
        .collect();
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
