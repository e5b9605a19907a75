//! Test support for masq: frames built with etherparse (an implementation
//! independent of the core's views), a checker that re-parses frames and
//! recomputes every checksum from scratch, and a small harness around a
//! set of shards that routes hand-offs the way workers do; the fuzz
//! targets' bodies (`fuzz`, `fuzz_config`, `fuzz_pcp`).

pub mod check;
pub mod frames;
pub mod fuzz;
pub mod fuzz_config;
pub mod fuzz_pcp;
pub mod harness;
