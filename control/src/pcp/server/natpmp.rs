//! NAT-PMP requests (RFC 6886), served as RFC 6887 Appendix A says:
//! the public address from the NAT, mappings through the same table and
//! [`Nat::hold`] as PCP MAP (with an all-zero nonce), PCP results told in
//! NAT-PMP's codes.

use super::{row, Ask, Drop, Key, Server};
use crate::pcp::wire::{self, natpmp_op, ResultCode};
use crate::pcp::Nat;

impl Server {
    pub(super) fn natpmp(
        &mut self,
        msg: &[u8],
        source: u32,
        now_ms: u64,
        nat: &mut dyn Nat,
    ) -> Option<Vec<u8>> {
        let op = msg[wire::field::OPCODE];
        let epoch = self.epoch(now_ms);
        let authorized = self.inside(source);
        match op {
            natpmp_op::ADDRESS => {
                let r = match (
                    authorized,
                    authorized.then(|| nat.external_of(source)).flatten(),
                ) {
                    (false, _) => Err(ResultCode::NotAuthorized),
                    (true, None) => Err(ResultCode::NetworkFailure),
                    (true, Some(a)) => Ok(a),
                };
                let (code, addr) = match r {
                    Ok(a) => (ResultCode::Success, a),
                    Err(c) => (c, 0),
                };
                self.count(row::NATPMP_ADDRESS, code);
                Some(wire::natpmp_address(code.natpmp(), epoch, addr))
            }
            natpmp_op::MAP_UDP | natpmp_op::MAP_TCP => {
                let Some((_, internal, suggested, lifetime)) = wire::natpmp_map_request(msg) else {
                    self.drops[Drop::TooShort as usize] += 1;
                    return None;
                };
                let proto = if op == natpmp_op::MAP_UDP { 17 } else { 6 };
                let r = if !authorized {
                    Err(ResultCode::NotAuthorized)
                } else if internal == 0 && lifetime == 0 {
                    // Delete every mapping of this client and protocol.
                    let keys: Vec<Key> = self
                        .table
                        .keys()
                        .filter(|k| k.client == source && k.proto == proto && k.peer.is_none())
                        .copied()
                        .collect();
                    for k in keys {
                        nat.release(k.kind(), k.proto, k.client, k.port);
                        self.forget(&k);
                    }
                    Ok((0, 0, 0))
                } else if internal == 0 {
                    Err(ResultCode::MalformedRequest)
                } else {
                    let ask = Ask {
                        key: Key {
                            client: source,
                            proto,
                            port: internal,
                            peer: None,
                        },
                        nonce: [0; 12],
                        lifetime,
                        suggested: (0, if lifetime == 0 { 0 } else { suggested }),
                        prefer_failure: false,
                        filters: Vec::new(),
                    };
                    self.map(ask, now_ms, nat)
                };
                let code = r.err().unwrap_or(ResultCode::Success);
                self.count(row::NATPMP_MAP, code);
                let (port, life) = match r {
                    // A deletion answers external port 0.
                    Ok((_, p, l)) => (if l == 0 { 0 } else { p }, l),
                    Err(_) => (0, 0),
                };
                Some(wire::natpmp_map(
                    op,
                    code.natpmp(),
                    epoch,
                    internal,
                    port,
                    life,
                ))
            }
            _ => {
                self.count(row::OTHER, ResultCode::UnsuppOpcode);
                Some(wire::natpmp_unsupported(msg, epoch))
            }
        }
    }
}
