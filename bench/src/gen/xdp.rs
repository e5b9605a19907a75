//! The benchmark's traffic generator and sink (xdp/gen.c): the kernel's
//! live-frames test run (BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES)
//! replays one UDP template through `masq_gen`, which spreads it over many
//! flows and redirects it out of an interface; `masq_sink`, attached to
//! the receiving host's interface, counts and drops what arrives. Neither
//! costs the system under test any CPU of its own.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use libbpf_rs::libbpf_sys::BPF_F_TEST_XDP_LIVE_FRAMES;
use libbpf_rs::{MapCore, MapFlags, MapHandle, Object, ObjectBuilder, ProgramInput, Xdp, XdpFlags};
use masq_xsk::bpf_error as error;
use masq_xsk::xdp::ifindex;

#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

/// The compiled programs (xdp/gen.c); libbpf wants them 8-byte aligned.
static OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/gen.o")));

/// The generator's object, loaded.
fn load() -> io::Result<Object> {
    ObjectBuilder::default()
        .open_memory(&OBJECT.0)
        .and_then(|o| o.load())
        .map_err(|e| error("load xdp/gen.c", &e))
}

/// Program `name` of `obj` (the kind of handle a test run takes).
fn program<'o>(obj: &'o Object, name: &str) -> io::Result<libbpf_rs::ProgramMut<'o>> {
    obj.progs_mut()
        .find(|p| p.name() == name)
        .ok_or_else(|| io::Error::other(format!("program {name} not found in xdp/gen.c")))
}

/// A handle of map `name` of `obj`.
fn map(obj: &Object, name: &str) -> io::Result<MapHandle> {
    let m = obj
        .maps()
        .find(|m| m.name() == name)
        .ok_or_else(|| io::Error::other(format!("map {name} not found in xdp/gen.c")))?;
    MapHandle::try_from(&m).map_err(|e| error(&format!("map {name}"), &e))
}

/// Writes `cfg` into the object's `gen_config` map.
fn configure(obj: &Object, cfg: &GenConfig) -> io::Result<()> {
    map(obj, "gen_config")?
        .update(&0u32.to_ne_bytes(), &cfg.bytes(), MapFlags::ANY)
        .map_err(|e| error("write gen_config", &e))
}

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

impl GenConfig {
    /// The bytes of the map value, as the C struct lays them out: the
    /// `__u32` fields in host byte order, then the header (no padding).
    fn bytes(&self) -> Vec<u8> {
        let words = [
            self.ifindex,
            self.flows,
            self.hosts,
            self.ports,
            self.dsts,
            self.base_port,
            self.base_addr,
            self.dst_addr,
            self.dst_port,
        ];
        let mut out: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        out.extend_from_slice(&self.header);
        out
    }
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

/// The `xdp_md` context of a test run: a frame of `len` bytes received on
/// `ifindex`, queue 0 (the fields of `struct xdp_md` in order, each `__u32`).
fn context(len: usize, ifindex: u32) -> Vec<u8> {
    let md = [0, len as u32, 0, ifindex, 0, 0];
    md.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

/// Sends `t` for `duration`; returns the frames sent.
pub fn generate(t: &Traffic, duration: Duration) -> io::Result<u64> {
    let obj = load()?;
    let prog = program(&obj, "masq_gen")?;
    let cfg = t.config()?;
    configure(&obj, &cfg)?;
    let template = t.frame(0);
    let mut ctx = context(template.len(), cfg.ifindex);
    // Each test run attaches the program to the XDP dispatcher and
    // detaches it, waiting for an RCU grace period each time (milliseconds),
    // so runs are sized to last about 200 ms at the rate measured so far.
    let start = Instant::now();
    let mut sent = 0u64;
    let mut repeat: u32 = 1 << 16;
    while start.elapsed() < duration {
        let input = ProgramInput {
            context_in: Some(&mut ctx),
            data_in: Some(&template),
            flags: BPF_F_TEST_XDP_LIVE_FRAMES,
            repeat,
            ..Default::default()
        };
        prog.test_run(input)
            .map_err(|e| error("BPF_PROG_RUN (live frames)", &e))?;
        sent += u64::from(repeat);
        let elapsed = start.elapsed();
        let rate = sent as f64 / elapsed.as_secs_f64().max(1e-6);
        let left = duration.saturating_sub(elapsed).as_secs_f64().min(0.2);
        repeat = ((rate * left) as u32).clamp(1 << 10, 1 << 26);
    }
    Ok(sent)
}

/// A counting sink attached to an interface in native mode; detached on
/// drop if the interface still holds it.
#[derive(Debug)]
pub struct Sink {
    obj: Object,
    name: &'static str,
    id: u32,
    ifindex: i32,
}

impl Sink {
    /// Attaches the sink to `iface` in native mode; it counts and drops
    /// IPv4 UDP frames to `port` and passes everything else.
    pub fn attach(iface: &str, port: u16) -> io::Result<Sink> {
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
        let cfg = t.config()?;
        let obj = load()?;
        configure(&obj, &cfg)?;
        Sink::attach_program(obj, iface, "masq_sink")
    }

    /// Attaches the pass-everything program to `iface` instead.
    pub fn attach_pass(iface: &str) -> io::Result<Sink> {
        Sink::attach_program(load()?, iface, "masq_pass")
    }

    /// Attaches program `name` of `obj`, only where no XDP program is.
    fn attach_program(obj: Object, iface: &str, name: &'static str) -> io::Result<Sink> {
        let ifindex = ifindex(iface)?;
        let prog = program(&obj, name)?;
        let id = libbpf_rs::Program::id_from_fd(prog.as_fd())
            .map_err(|e| error(&format!("id of {name}"), &e))?;
        Xdp::new(prog.as_fd())
            .attach(ifindex, XdpFlags::DRV_MODE | XdpFlags::UPDATE_IF_NOEXIST)
            .map_err(|e| error(&format!("attach {name} in native mode"), &e))?;
        Ok(Sink {
            obj,
            name,
            id,
            ifindex,
        })
    }

    /// Frames counted so far.
    pub fn count(&self) -> io::Result<u64> {
        let key = 0u32.to_ne_bytes();
        let vals = map(&self.obj, "counter")?
            .lookup_percpu(&key, MapFlags::ANY)
            .map_err(|e| error("read counter", &e))?
            .ok_or_else(|| io::Error::other("read counter: no entry 0"))?;
        vals.iter().try_fold(0u64, |sum, v| {
            let v: [u8; 8] = v.as_slice().try_into().map_err(|_| {
                io::Error::other(format!("read counter: values of {} bytes", v.len()))
            })?;
            Ok(sum.wrapping_add(u64::from_ne_bytes(v)))
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let Ok(prog) = program(&self.obj, self.name) else {
            return;
        };
        let xdp = Xdp::new(prog.as_fd());
        if xdp.query_id(self.ifindex, XdpFlags::DRV_MODE).ok() == Some(self.id) {
            let _ = xdp.detach(self.ifindex, XdpFlags::DRV_MODE);
        }
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

/// Runs the generator program `n` times on `input`, without live frames,
/// and returns the frames it wrote (run k of one loaded program writes flow
/// k): what the tests compare with [`Traffic::frame`].
#[cfg(test)]
fn generate_frames(t: &Traffic, input: &[u8], n: usize) -> io::Result<Vec<Vec<u8>>> {
    let obj = load()?;
    let prog = program(&obj, "masq_gen")?;
    configure(&obj, &t.config()?)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut buf = vec![0u8; input.len()];
        let run = ProgramInput {
            data_in: Some(input),
            data_out: Some(&mut buf),
            ..Default::default()
        };
        let written = prog
            .test_run(run)
            .map_err(|e| error("BPF_PROG_RUN", &e))?
            .data
            .map_or(0, |d| d.len());
        buf.truncate(written);
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
    fn the_context_is_an_xdp_md() {
        let c = context(60, 7);
        assert_eq!(
            c.len(),
            std::mem::size_of::<libbpf_rs::libbpf_sys::xdp_md>()
        );
        assert_eq!(c[4..8], 60u32.to_ne_bytes(), "data_end");
        assert_eq!(c[12..16], 7u32.to_ne_bytes(), "ingress_ifindex");
    }

    #[test]
    fn the_config_is_the_c_struct() {
        let c = traffic(7, 3, 2).config().unwrap();
        let b = c.bytes();
        assert_eq!(b.len(), std::mem::size_of::<GenConfig>());
        let at = |off: usize| u32::from_ne_bytes(b[off..off + 4].try_into().unwrap());
        assert_eq!(at(std::mem::offset_of!(GenConfig, flows)), 7);
        assert_eq!(at(std::mem::offset_of!(GenConfig, dst_port)), 9);
        let h = std::mem::offset_of!(GenConfig, header);
        assert_eq!(b[h..], c.header);
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
        if !nix::unistd::geteuid().is_root() {
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
