//! PCP requests (RFC 6887): the checks after the common header in the
//! order of §8.3, the options (THIRD_PARTY, PREFER_FAILURE, FILTER), and
//! the answer built from the request's body.

use masq_core::{RemoteFilter, MAX_FILTERS};

use super::{row, Ask, Key, Server, LONG_ERROR_LIFETIME, SHORT_ERROR_LIFETIME};
use crate::pcp::wire::{self, opcode, option, PcpRequest, RequestError, ResultCode};
use crate::pcp::Nat;

impl Server {
    pub(super) fn pcp(
        &mut self,
        msg: &[u8],
        source: u32,
        now_ms: u64,
        nat: &mut dyn Nat,
    ) -> Vec<u8> {
        let epoch = self.epoch(now_ms);
        let op_byte = msg[wire::field::OPCODE] & 0x7f;
        let slot = match op_byte {
            opcode::ANNOUNCE => row::ANNOUNCE,
            opcode::MAP => row::MAP,
            opcode::PEER => row::PEER,
            _ => row::OTHER,
        };
        let error = |code: ResultCode| -> Vec<u8> {
            // Error responses echo what follows the request's header.
            let rest = msg.get(wire::HEADER_LEN..).unwrap_or(&[]);
            let life = if code.is_short() {
                SHORT_ERROR_LIFETIME
            } else {
                LONG_ERROR_LIFETIME
            };
            wire::build_response(op_byte, code, life, epoch, rest, &[])
        };
        let req = match PcpRequest::new_checked(msg) {
            Ok(r) => r,
            Err(RequestError::Version) => {
                self.count(row::OTHER, ResultCode::UnsuppVersion);
                return error(ResultCode::UnsuppVersion);
            }
            // TooShort and Response were dropped by `handle`.
            Err(_) => {
                self.count(slot, ResultCode::MalformedRequest);
                return error(ResultCode::MalformedRequest);
            }
        };
        let answer = self.pcp_checked(&req, source, now_ms, nat);
        let code = match &answer {
            Ok(_) => ResultCode::Success,
            Err(c) => *c,
        };
        self.count(slot, code);
        match answer {
            Ok((body, options, lifetime)) => wire::build_response(
                op_byte,
                ResultCode::Success,
                lifetime,
                epoch,
                &body,
                &options,
            ),
            Err(c) => error(c),
        }
    }

    /// The checks after the header, and the operation: (body, options
    /// to echo, lifetime) or the error.
    fn pcp_checked(
        &mut self,
        req: &PcpRequest<'_>,
        source: u32,
        now_ms: u64,
        nat: &mut dyn Nat,
    ) -> Result<(Vec<u8>, Vec<u8>, u32), ResultCode> {
        let op = req.opcode();
        if !matches!(op, opcode::ANNOUNCE | opcode::MAP | opcode::PEER) {
            return Err(ResultCode::UnsuppOpcode);
        }
        if !self.inside(source) {
            return Err(ResultCode::NotAuthorized);
        }
        if wire::mapped_v4(&req.client()) != Some(source) {
            return Err(ResultCode::AddressMismatch);
        }
        if op == opcode::ANNOUNCE {
            for o in req.announce_options() {
                let o = o.map_err(|()| ResultCode::MalformedOption)?;
                if o.code < option::FIRST_OPTIONAL {
                    return Err(ResultCode::UnsuppOption);
                }
            }
            return Ok((Vec::new(), Vec::new(), 0));
        }
        let (body, options) = if op == opcode::MAP {
            req.map()
        } else {
            req.peer()
        }
        .ok_or(ResultCode::MalformedRequest)?;
        let proto = body.protocol();
        if proto == 0 && body.internal_port() != 0 {
            return Err(ResultCode::MalformedRequest);
        }
        // The options: THIRD_PARTY (MAP, PEER, once), PREFER_FAILURE
        // (MAP, once), FILTER (MAP, any number).
        let mut third_party = None;
        let mut prefer_failure = false;
        let mut filters = Vec::new();
        let mut echo = Vec::new();
        for o in options {
            let o = o.map_err(|()| ResultCode::MalformedOption)?;
            match o.code {
                option::THIRD_PARTY => {
                    if o.data.len() != 16 || third_party.is_some() {
                        return Err(ResultCode::MalformedOption);
                    }
                    let mut a = [0u8; 16];
                    a.copy_from_slice(o.data);
                    third_party = Some(wire::mapped_v4(&a).ok_or(ResultCode::MalformedOption)?);
                }
                option::PREFER_FAILURE if op == opcode::MAP => {
                    if !o.data.is_empty() || prefer_failure {
                        return Err(ResultCode::MalformedOption);
                    }
                    prefer_failure = true;
                }
                option::FILTER if op == opcode::MAP => {
                    let (plen, port, addr) =
                        wire::filter_data(o.data).ok_or(ResultCode::MalformedOption)?;
                    let a = wire::mapped_v4(&addr).ok_or(ResultCode::MalformedOption)?;
                    if plen == 0 {
                        // Prefix length 0: no filter (every remote).
                        filters.clear();
                    } else if !(96..=128).contains(&plen) {
                        return Err(ResultCode::MalformedOption);
                    } else {
                        let len = plen - 96;
                        let mask = if len == 0 {
                            0
                        } else {
                            u32::MAX << (32 - u32::from(len))
                        };
                        filters.push(RemoteFilter {
                            addr: a & mask,
                            len,
                            port,
                        });
                    }
                }
                c if c >= option::FIRST_OPTIONAL => continue,
                // Unknown, or not one this opcode takes.
                _ => return Err(ResultCode::UnsuppOption),
            }
            echo.extend_from_slice(o.raw);
        }
        if filters.len() > MAX_FILTERS {
            return Err(ResultCode::ExcessiveRemotePeers);
        }
        let client = match third_party {
            None => source,
            Some(_) if !self.cfg.third_party => return Err(ResultCode::NotAuthorized),
            Some(a) if a == source => return Err(ResultCode::MalformedRequest),
            Some(a) if !self.inside(a) => return Err(ResultCode::NotAuthorized),
            Some(a) => a,
        };
        if proto != 6 && proto != 17 {
            return Err(ResultCode::UnsuppProtocol);
        }
        if body.internal_port() == 0 {
            return Err(ResultCode::MalformedRequest);
        }
        let peer = match body.remote() {
            None => None,
            Some((port, addr)) => {
                let a = wire::mapped_v4(&addr).ok_or(ResultCode::MalformedRequest)?;
                if a == 0 || port == 0 {
                    return Err(ResultCode::MalformedRequest);
                }
                Some((a, port))
            }
        };
        let suggested_addr = match wire::suggested_v4(&body.external_addr()) {
            Some(a) => a,
            None if prefer_failure => return Err(ResultCode::CannotProvideExternal),
            // An IPv6 suggestion cannot be given: any address.
            None => 0,
        };
        if prefer_failure && body.external_port() == 0 {
            return Err(ResultCode::MalformedOption);
        }
        let ask = Ask {
            key: Key {
                client,
                proto,
                port: body.internal_port(),
                peer,
            },
            nonce: body.nonce(),
            lifetime: req.lifetime(),
            suggested: (suggested_addr, body.external_port()),
            prefer_failure,
            filters,
        };
        let (external, port, lifetime) = self.map(ask, now_ms, nat)?;
        Ok((
            wire::assigned_body(body.bytes(), external, port),
            echo,
            lifetime,
        ))
    }
}
