//! Packet views: Ethernet II, IPv4, TCP, UDP and ICMP over byte buffers.
//!
//! Each view checks its buffer's length once, in `new_checked`; after that
//! no accessor can panic. `new_unchecked` re-views a buffer that a parse
//! in [`repr`] already checked. Getters work on any `AsRef<[u8]>`, setters
//! on `AsMut<[u8]>`. Field offsets are named constants in each file's
//! `field` module. [`repr`] parses a frame once into plain structs;
//! [`rewrite`] is the one primitive that changes headers, with checksums
//! patched incrementally through [`checksum::Delta`].

pub mod checksum;
pub mod ethernet;
pub(crate) mod fragment;
pub mod icmp;
pub mod ipv4;
pub mod repr;
pub mod rewrite;
#[cfg(test)]
mod samples;
pub mod tcp;
pub mod udp;

pub use ethernet::{EthernetFrame, Mac};
pub use icmp::IcmpPacket;
pub use ipv4::Ipv4Packet;
pub use repr::{Embedded, FlowRepr, IpRepr, Transport};
pub use rewrite::{End, PortRewrite, Rewrite};
pub use tcp::TcpPacket;
pub use udp::UdpPacket;

/// Why a buffer is not a well-formed packet of the expected kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than the fixed header, or than a length field claims.
    Truncated,
    /// IP version is not 4.
    NotIpv4,
    /// IPv4 IHL below 5 or past the buffer.
    BadIhl,
    /// IPv4 total length below the header length or past the buffer.
    BadTotalLength,
    /// TCP data offset below 5 or past the segment.
    BadDataOffset,
    /// UDP length below 8 or past the datagram.
    BadUdpLength,
    /// ICMP message shorter than its 8-byte header.
    BadIcmpHeader,
    /// A header checksum (IPv4, or an ICMP error's) does not verify.
    BadChecksum,
    /// IPv4 options whose lengths do not add up to the header.
    BadOptions,
    /// A fragment a NAT does not take: too short to hold the ports, over
    /// the TCP flags (offset 8), or ending past 65535 bytes.
    BadFragment,
}

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
