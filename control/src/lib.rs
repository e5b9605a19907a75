//! The control side of masq as a library: the configuration file, the
//! admin protocol, the NAT event logger, the metrics exposition, `masq
//! lookup` and the daemon (`masq run`). The `masq` binary is a thin CLI
//! over it; fuzz targets and tests use the configuration parser directly.

#![forbid(unsafe_code)]

pub mod admin;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod eventlog;
pub mod external;
pub mod kernel;
pub mod lookup;
pub mod metrics;
pub mod mtu;
pub mod pcp;
pub mod sharing;
pub mod sys;
