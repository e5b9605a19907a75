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

/// Length of the Ethernet, IPv4 and UDP headers the program writes.
const HDR_LEN: usize = 42;

/// Must match `struct gen_cfg` in gen.c.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct GenConfig {
    ifindex: u32,
    flows: u32,
    hosts: u32,
    ports: u32,
    dsts: u32,
    base_port: u32,
    base_addr: u32,
    dst_addr: u32,
    dst_port: u32,
    header: [u8; HDR_LEN + 2],
}

/// What to send: 60-byte UDP frames (checksum 0) spread over flows.
///
/// Flow `i` has source address `src + i % hosts`, source port
/// `base_port + (i / hosts) % (65536 - base_port)` and destination
/// `dst + i % dsts`, port `dst_port`.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// Interface the frames leave from.
    pub iface: String,
    /// Source and destination MAC.
    pub macs: ([u8; 6], [u8; 6]),
    /// First source address.
    pub src: u32,
    /// First destination address.
    pub dst: u32,
    /// Destination port (what the sink counts).
    pub dst_port: u16,
    /// Lowest source port.
    pub base_port: u16,
    /// Distinct flows (0: every frame a new flow).
    pub flows: u32,
    /// Source addresses the flows are spread over (at least 1).
    pub hosts: u32,
    /// Destination addresses the flows are spread over (at least 1).
    pub dsts: u32,
}

impl Traffic {
    fn ports(&self) -> u32 {
        65536 - u32::from(self.base_port)
    }

    /// Flow `i`'s source address, source port and destination address.
    pub fn flow(&self, i: u32) -> (u32, u16, u32) {
        let i = if self.flows == 0 { i } else { i % self.flows };
        let hosts = self.hosts.max(1);
        (
            self.src.wrapping_add(i % hosts),
            (u32::from(self.base_port) + (i / hosts) % self.ports()) as u16,
            self.dst.wrapping_add(i % self.dsts.max(1)),
        )
    }

    /// The frame of flow `i`, as the generator program writes it.
    pub fn frame(&self, i: u32) -> Vec<u8> {
        let (src, sport, dst) = self.flow(i);
        udp_template(self.macs.0, self.macs.1, src, dst, sport, self.dst_port)
    }

    fn config(&self) -> io::Result<GenConfig> {
        let t = self.frame(0);
        let mut header = [0u8; HDR_LEN + 2];
        header[..HDR_LEN].copy_from_slice(&t[..HDR_LEN]);
        Ok(GenConfig {
            ifindex: ifindex(&self.iface)? as u32,
            flows: self.flows,
            hosts: self.hosts.max(1),
            ports: self.ports(),
            dsts: self.dsts.max(1),
            base_port: u32::from(self.base_port),
            base_addr: self.src,
            dst_addr: self.dst,
            dst_port: u32::from(self.dst_port),
            header,
        })
    }
}

/// Sends `t` for `duration`; returns the frames sent.
pub fn generate(t: &Traffic, duration: Duration) -> io::Result<u64> {
    let o = Object::load(&OBJECT.0)?;
    let prog = o.prog_fd(c"masq_gen")?;
    let cfg = t.config()?;
    bpf::map_update(o.map_fd(c"gen_config")?, &0u32, &cfg, "write gen_config")?;
    let template = t.frame(0);
    let mut ctx = sys::xdp_md {
        data: 0,
        data_end: template.len() as u32,
        data_meta: 0,
        ingress_ifindex: cfg.ifindex,
        rx_queue_index: 0,
        egress_ifindex: 0,
    };
    // Each test run attaches the program to the XDP dispatcher and
    // detaches it, waiting for an RCU grace period each time (milliseconds),
    // so runs are sized to last about 200 ms at the rate measured so far.
    let start = Instant::now();
    let mut sent = 0u64;
    let mut repeat: u32 = 1 << 16;
    while start.elapsed() < duration {
        let mut opts = sys::bpf_test_run_opts {
            sz: std::mem::size_of::<sys::bpf_test_run_opts>(),
            data_in: template.as_ptr().cast(),
            data_out: ptr::null_mut(),
            data_size_in: template.len() as u32,
            data_size_out: 0,
            ctx_in: (&mut ctx as *mut sys::xdp_md).cast(),
            ctx_out: ptr::null_mut(),
            ctx_size_in: std::mem::size_of::<sys::xdp_md>() as u32,
            ctx_size_out: 0,
            retval: 0,
            repeat: repeat as i32,
            duration: 0,
            flags: sys::BPF_F_TEST_XDP_LIVE_FRAMES,
            cpu: 0,
            batch_size: 64,
        };
        // SAFETY: `opts` points at the template and context, both alive for
        // the call; no output buffers are given.
        let r = unsafe { sys::bpf_prog_test_run_opts(prog, &mut opts) };
        check(r, "BPF_PROG_RUN (live frames)")?;
        sent += u64::from(repeat);
        let elapsed = start.elapsed();
        let rate = sent as f64 / elapsed.as_secs_f64().max(1e-6);
        let left = duration.saturating_sub(elapsed).as_secs_f64().min(0.2);
        repeat = ((rate * left) as u32).clamp(1 << 10, 1 << 26);
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
    /// Attaches the sink to `iface` in native mode; it counts and drops
    /// IPv4 UDP frames to `port` and passes everything else.
    pub fn attach(iface: &str, port: u16) -> io::Result<Sink> {
        let s = Sink::attach_program(iface, c"masq_sink")?;
        let t = Traffic {
            iface: iface.to_string(),
            macs: ([0; 6], [0; 6]),
            src: 0,
            dst: 0,
            dst_port: port,
            base_port: 1024,
            flows: 1,
            hosts: 1,
            dsts: 1,
        };
        bpf::map_update(
            s.obj.map_fd(c"gen_config")?,
            &0u32,
            &t.config()?,
            "write gen_config",
        )?;
        Ok(s)
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

/// Runs the generator program `n` times on `input`, without live frames,
/// and returns the frames it wrote (run k of one loaded program writes flow
/// k): what the tests compare with [`Traffic::frame`].
pub fn generate_frames(t: &Traffic, input: &[u8], n: usize) -> io::Result<Vec<Vec<u8>>> {
    let o = Object::load(&OBJECT.0)?;
    let prog = o.prog_fd(c"masq_gen")?;
    let cfg = t.config()?;
    bpf::map_update(o.map_fd(c"gen_config")?, &0u32, &cfg, "write gen_config")?;
    let template = input;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut buf = vec![0u8; template.len()];
        let mut opts = sys::bpf_test_run_opts {
            sz: std::mem::size_of::<sys::bpf_test_run_opts>(),
            data_in: template.as_ptr().cast(),
            data_out: buf.as_mut_ptr().cast(),
            data_size_in: template.len() as u32,
            data_size_out: buf.len() as u32,
            ctx_in: ptr::null(),
            ctx_out: ptr::null_mut(),
            ctx_size_in: 0,
            ctx_size_out: 0,
            retval: 0,
            repeat: 1,
            duration: 0,
            flags: 0,
            cpu: 0,
            batch_size: 0,
        };
        // SAFETY: `opts` points at the template (read) and `buf` (written,
        // its length given), both alive for the call.
        let r = unsafe { sys::bpf_prog_test_run_opts(prog, &mut opts) };
        check(r, "BPF_PROG_RUN")?;
        buf.truncate(opts.data_size_out as usize);
        out.push(buf);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(flows: u32, hosts: u32, dsts: u32) -> Traffic {
        Traffic {
            iface: "lo".into(),
            macs: ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]),
            src: u32::from(std::net::Ipv4Addr::new(100, 64, 0, 0)),
            dst: u32::from(std::net::Ipv4Addr::new(198, 18, 1, 0)),
            dst_port: 9,
            base_port: 1024,
            flows,
            hosts,
            dsts,
        }
    }

    #[test]
    fn flows_spread_over_hosts_ports_and_destinations() {
        let t = traffic(10, 4, 3);
        let a = |h: u32| u32::from(std::net::Ipv4Addr::new(100, 64, 0, 0)) + h;
        let d = |h: u32| u32::from(std::net::Ipv4Addr::new(198, 18, 1, 0)) + h;
        assert_eq!(t.flow(0), (a(0), 1024, d(0)));
        assert_eq!(t.flow(5), (a(1), 1025, d(2)));
        assert_eq!(t.flow(9), (a(1), 1026, d(0)));
        assert_eq!(t.flow(10), t.flow(0), "flow 10 of 10 is flow 0 again");
        let every = traffic(0, 4, 1);
        assert_ne!(every.flow(10), every.flow(0), "flows 0: every frame new");
        let mut seen = std::collections::HashSet::new();
        let big = traffic(1 << 20, 4096, 256);
        for i in (0..1u32 << 20).step_by(97) {
            assert!(seen.insert(big.flow(i)), "flow {i} repeats an earlier one");
        }
    }

    #[test]
    fn frames_are_valid_ipv4_udp() {
        let t = traffic(1000, 256, 16);
        for i in [0, 1, 255, 256, 999] {
            let f = t.frame(i);
            assert_eq!(f.len(), 60);
            assert_eq!(
                masq_core::wire::checksum::checksum(&f[14..34]),
                0,
                "frame {i}"
            );
            let (src, sport, dst) = t.flow(i);
            assert_eq!(f[26..30], src.to_be_bytes());
            assert_eq!(f[30..34], dst.to_be_bytes());
            assert_eq!(f[34..36], sport.to_be_bytes());
            assert_eq!(f[36..38], 9u16.to_be_bytes());
        }
    }

    /// The XDP program writes exactly the frames the Rust model describes,
    /// checksum included, from a template whose bytes it must not trust.
    /// Needs root (BPF_PROG_RUN); skipped with a message otherwise.
    #[test]
    fn the_program_writes_the_model_frames() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: BPF_PROG_RUN needs root");
            return;
        }
        let t = traffic(7, 3, 2);
        // What a receiver may leave in a recycled page: not the template.
        let scribbled = vec![0xa5u8; 60];
        let got = generate_frames(&t, &scribbled, 9).expect("BPF_PROG_RUN");
        for (i, f) in got.iter().enumerate() {
            // The payload is whatever the page held; the headers are the
            // model's.
            assert_eq!(f.len(), 60);
            assert_eq!(f[..HDR_LEN], t.frame(i as u32)[..HDR_LEN], "frame {i}");
        }
    }
}
