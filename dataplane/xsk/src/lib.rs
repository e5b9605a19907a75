//! masq-xsk: the AF_XDP side of masq.
//!
//! This is the only crate of the project with `unsafe` code: the libbpf
//! calls that load and attach the XDP program, and the xsk-rs ring
//! operations whose contract is that a frame descriptor is handed to the
//! kernel at most once at a time. Each `unsafe` block says why it holds.
//!
//! * [`xdp`]: the project's own XDP program (xdp/masq.c, compiled by
//!   build.rs), loaded from memory, configured and attached per interface.
//! * [`worker`]: one poll-mode worker per queue pair: a UMEM shared by its
//!   LAN and WAN sockets, a [`masq_core::Shard`], and the loop that moves
//!   frames between them.
//! * [`netinfo`]: an interface's MAC and receive queues (sysfs) and the
//!   kernel's ephemeral port range.
//! * [`privilege`]: each thread's capabilities cut to what it still needs
//!   once setup is done.
//! * [`command`]: the mailboxes through which the control thread asks the
//!   workers for snapshots, reloads and address changes.

mod bpf;
pub mod command;
pub mod gen;
pub mod netinfo;
pub mod privilege;
pub mod worker;
pub mod xdp;
