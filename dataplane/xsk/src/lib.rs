//! masq-xsk: the AF_XDP side of masq.
//!
//! The only crate of masq itself with `unsafe` code (the benchmark's
//! traffic generator, in bench/, has its own), all of it in [`worker`]:
//! the xsk-rs socket and ring operations, whose contract is that a frame
//! descriptor is handed to the kernel at most once at a time, and the
//! AF_XDP socket's own system calls (busy-poll options, poll, statistics),
//! and the shared mapping of the XDP program's echo identifier table.
//! The XDP program is loaded, configured and attached through libbpf-rs,
//! and privileges cut through caps and rustix, without `unsafe`. Each
//! `unsafe` block says why it holds.
//!
//! * [`xdp`]: the project's own XDP program (xdp/masq.c, compiled by
//!   build.rs), loaded from memory, configured and attached per interface
//!   in native mode, never over another program.
//! * [`worker`]: one poll-mode worker per queue pair: a UMEM shared by its
//!   LAN and WAN sockets, a [`masq_core::Shard`], and the loop that moves
//!   frames between them.
//! * [`netinfo`]: an interface's MAC and receive queues (sysfs) and the
//!   kernel's ephemeral port range.
//! * [`privilege`]: each thread's capabilities cut to what it still needs
//!   once setup is done.
//! * [`command`]: the mailboxes, the one channel through which the control
//!   thread tells the workers what changed (configuration, addresses,
//!   next-hop MACs) and asks them for snapshots.

mod bpf;
/// A libbpf-rs error as an `io::Error` naming what failed and every cause.
pub use bpf::error as bpf_error;
pub mod command;
pub mod netinfo;
pub mod privilege;
pub mod worker;
pub mod xdp;
