//! The slow path: what it takes to open a session (a TCP SYN, a valid
//! transport checksum, room under the limits), the mapping a new flow
//! gets, filtering of inbound flows in its three modes, and the events
//! of a new session.

use super::*;
use crate::config::Filtering;
use crate::event::Endpoint;
use crate::tcp::TcpState;

#[test]
fn outbound_tcp_without_a_session_must_be_a_syn() {
    let mut s = shard(&cfg());
    for fl in [ACK, FIN | ACK, SYN | RST, RST] {
        let f = lan(HOST, REMOTE).tcp(40000, 80, fl, &[], b"");
        let (v, out) = run(&mut s, f.clone(), Side::Lan, 0);
        assert_eq!(v, Verdict::Drop(DropReason::TcpNotSyn), "flags {fl:#x}");
        assert_eq!(out, f, "a dropped frame is left as it was");
    }
    assert_eq!(drops(&s, DropReason::TcpNotSyn), 4);
    assert_eq!(s.session_count(), 0);
    assert_eq!(s.subscriber_count(), 0);
    let syn = lan(HOST, REMOTE).tcp(40000, 80, SYN, &[], b"");
    assert_eq!(run(&mut s, syn, Side::Lan, 0).0, Verdict::ToWan);
}

#[test]
fn a_bad_transport_checksum_opens_nothing() {
    let mut s = shard(&cfg());
    let mut u = lan(HOST, REMOTE).udp(40000, 53, b"query");
    u[41] ^= 0x01; // UDP checksum
    let mut t = lan(HOST, REMOTE).tcp(40000, 80, SYN, &[], b"");
    t[38] ^= 0x80; // sequence number
    let mut e = lan(HOST, REMOTE).echo(8, 9, b"ping");
    e[45] ^= 0x01; // payload
    for f in [u, t, e] {
        let v = run(&mut s, f, Side::Lan, 0).0;
        assert_eq!(v, Verdict::Drop(DropReason::BadL4Checksum));
    }
    assert_eq!(drops(&s, DropReason::BadL4Checksum), 3);
    assert_eq!(s.session_count(), 0);
    // A UDP datagram without a checksum (0) is taken, and keeps 0.
    let mut z = lan(HOST, REMOTE).udp(40000, 53, b"query");
    z[40..42].copy_from_slice(&[0, 0]);
    let (v, f) = run(&mut s, z, Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    let mut want = lan(HOST, REMOTE).to_wan(EXT).udp(1024, 53, b"query");
    want[40..42].copy_from_slice(&[0, 0]);
    assert_eq!(f, want);
}

#[test]
fn inbound_without_a_mapping() {
    let mut s = shard(&cfg());
    let v = run(&mut s, wan(REMOTE, EXT).udp(53, 1024, b""), Side::Wan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    // A port outside every block is the box's own.
    let v = run(&mut s, wan(REMOTE, EXT).udp(53, 80, b""), Side::Wan, 0).0;
    assert_eq!(v, Verdict::Pass);
    assert_eq!(drops(&s, DropReason::NoMapping), 1);
    assert_eq!(s.counters().passed, 1);
}

#[test]
fn filtering_modes() {
    use Filtering::*;
    use Verdict::{Drop, ToLan};
    const F: Verdict = Drop(DropReason::Filtered);
    // (mode, same address other port, other address, the remote itself)
    for (mode, port, addr) in [
        (EndpointIndependent, ToLan, ToLan),
        (AddressDependent, ToLan, F),
        (AddressAndPortDependent, F, F),
    ] {
        let c = Config {
            filtering: mode,
            ..cfg()
        };
        let mut s = shard(&c);
        udp_session(&mut s, 0);
        let (v, f) = run(&mut s, wan(REMOTE, EXT).udp(54, 1024, b"p"), Side::Wan, 1);
        assert_eq!(v, port, "{mode:?}: other port");
        if v == ToLan {
            let want = wan(REMOTE, EXT).to_lan(HOST, HOST_MAC);
            assert_eq!(f, want.udp(54, 40000, b"p"));
        }
        let v = run(&mut s, wan(REMOTE2, EXT).udp(53, 1024, b"a"), Side::Wan, 1).0;
        assert_eq!(v, addr, "{mode:?}: other address");
        let v = run(&mut s, wan(REMOTE, EXT).udp(53, 1024, b"r"), Side::Wan, 1).0;
        assert_eq!(v, ToLan, "{mode:?}: the remote itself");
        let opened = [port, addr].iter().filter(|v| **v == ToLan).count();
        assert_eq!(s.session_count(), 1 + opened, "{mode:?}");
        assert_eq!(drops(&s, DropReason::Filtered), 2 - opened as u64);
    }
}

#[test]
fn an_inbound_opening_must_be_a_bare_syn_with_a_good_checksum() {
    let c = cfg();
    let mut s = shard(&c);
    let syn = lan(HOST, REMOTE).tcp(40000, 80, SYN, &[], b"");
    assert_eq!(run(&mut s, syn, Side::Lan, 0).0, Verdict::ToWan);
    let from2 = |fl| wan(REMOTE2, EXT).tcp(443, 1024, fl, &[], b"");
    for fl in [ACK, SYN | ACK, SYN | RST] {
        let v = run(&mut s, from2(fl), Side::Wan, 1).0;
        assert_eq!(v, Verdict::Drop(DropReason::TcpNotSyn), "{fl:#x}");
    }
    let mut bad = from2(SYN);
    bad[50] ^= 1;
    let v = run(&mut s, bad, Side::Wan, 1).0;
    assert_eq!(v, Verdict::Drop(DropReason::BadL4Checksum));
    let (v, f) = run(&mut s, from2(SYN), Side::Wan, 1);
    assert_eq!(v, Verdict::ToLan);
    let want = wan(REMOTE2, EXT).to_lan(HOST, HOST_MAC);
    assert_eq!(f, want.tcp(443, 40000, SYN, &[], b""));
    let idx = s.find_in(6, EXT, 1024, REMOTE2, 443).unwrap() as usize;
    let x = s.sessions[idx];
    assert_eq!(TcpState::from_u8(x.state), Some(TcpState::SynIn));
    assert_eq!(x.wheel_at, sec(1) + c.timeouts.tcp_incoming_syn);
    assert_eq!(x.in_mac, HOST_MAC, "the mapping's MAC");
}

#[test]
fn an_echo_reply_from_another_host_is_filtered() {
    let mut s = shard(&cfg());
    let v = run(&mut s, lan(HOST, REMOTE).echo(8, 9, b"p"), Side::Lan, 0).0;
    assert_eq!(v, Verdict::ToWan);
    let v = run(&mut s, wan(REMOTE2, EXT).echo(0, 1024, b"p"), Side::Wan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    assert_eq!(s.session_count(), 1);
}

#[test]
fn a_second_remote_shares_the_mapping() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    let (v, f) = run(
        &mut s,
        lan(HOST, REMOTE2).udp(40000, 53, b"q"),
        Side::Lan,
        1,
    );
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(f, lan(HOST, REMOTE2).to_wan(EXT).udp(1024, 53, b"q"));
    let a = s.find_out(17, HOST, 40000, REMOTE, 53).unwrap();
    let b = s.find_out(17, HOST, 40000, REMOTE2, 53).unwrap();
    assert_eq!(s.sessions[a as usize].map_next, b, "one circle");
    assert_eq!(s.sessions[b as usize].map_next, a);
    assert_eq!(s.counters().blocks_allocated, 1);
}

#[test]
fn the_per_subscriber_session_limit() {
    let mut c = cfg();
    c.limits.sessions_per_subscriber = 2;
    let mut s = shard(&c);
    for p in [40000, 40002] {
        let v = run(&mut s, lan(HOST, REMOTE).udp(p, 53, b""), Side::Lan, 0).0;
        assert_eq!(v, Verdict::ToWan);
    }
    let v = run(&mut s, lan(HOST, REMOTE).udp(40004, 53, b""), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::SessionLimit));
    // Another subscriber is not held back.
    let v = run(&mut s, lan(HOST2, REMOTE).udp(40004, 53, b""), Side::Lan, 0).0;
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(s.session_count(), 3);
}

#[test]
fn the_session_table_limit() {
    let c = Config {
        max_sessions: 2,
        ..cfg()
    };
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    let v = run(&mut s, lan(HOST2, REMOTE).udp(1, 53, b""), Side::Lan, 0).0;
    assert_eq!(v, Verdict::ToWan);
    let v = run(&mut s, lan(HOST2, REMOTE).udp(3, 53, b""), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::SessionTableFull));
    // Inbound openings are held to it too.
    let v = run(&mut s, wan(REMOTE2, EXT).udp(53, 1024, b""), Side::Wan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::SessionTableFull));
}

#[test]
fn a_refused_new_subscriber_leaves_no_record() {
    let c = Config {
        max_subscribers: 1,
        ..cfg()
    };
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    let v = run(&mut s, lan(HOST2, REMOTE).udp(1, 53, b""), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::SubscriberTableFull));
    assert_eq!(s.subscriber_count(), 1);
    // One block per address: a second subscriber gets a record, then no
    // block; the record is given back.
    let c = Config {
        port_max: 1535,
        ..cfg()
    };
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    let v = run(&mut s, lan(HOST2, REMOTE).udp(1, 53, b""), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::PoolExhausted));
    assert_eq!(s.subscriber_count(), 1);
    assert_eq!(s.find_sub(HOST2), None);
    assert!(s.find_sub(HOST).is_some());
}

#[test]
fn a_new_session_is_announced() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    let ev = events(&mut s);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(matches!(ev[0], Event::BlockAllocated { .. }));
    assert_eq!(
        ev[1],
        Event::SessionCreated {
            proto: 17,
            inside: Endpoint {
                addr: HOST,
                port: 40000
            },
            outside: Endpoint {
                addr: EXT,
                port: 1024
            },
            remote: Endpoint {
                addr: REMOTE,
                port: 53
            },
            at: sec(0),
        }
    );
    let c = Config {
        session_events: false,
        ..cfg()
    };
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1);
    assert!(matches!(ev[0], Event::BlockAllocated { .. }));
}
