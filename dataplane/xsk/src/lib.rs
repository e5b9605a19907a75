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
//! * [`netinfo`]: interface addresses and next hops read from the kernel,
//!   the rtnetlink watcher and the small system calls of the control
//!   thread (poll, umask), so that the `masq` binary needs no `unsafe`.
//! * [`privilege`]: each thread's capabilities cut to what it still needs
//!   once setup is done.
//! * [`command`]: the mailboxes, the one channel through which the control
//!   thread tells the workers what changed (configuration, addresses,
//!   next-hop MACs) and asks them for snapshots.

mod bpf;
pub mod command;
pub mod gen;
pub mod netinfo;
pub mod privilege;
pub mod worker;
pub mod xdp;
