//! The fast path: a packet of an existing session, rewritten with the
//! precomputed deltas (both directions, echo identifiers, the second half
//! of a hairpin), TCP state steps and their timers, MSS clamping, and
//! batches giving what single frames give.

use super::*;
use crate::tcp::TcpState;
use crate::wire::checksum::Delta;
use crate::wire::End;

#[test]
fn outbound_packet_of_a_session_gets_the_session_rewrite() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    let (v, f) = run(
        &mut s,
        lan(HOST, REMOTE).udp(40000, 53, b"again!"),
        Side::Lan,
        5,
    );
    assert_eq!(v, Verdict::ToWan);
    // Source 203.0.113.1:1024, TTL 63, gateway MACs, checksums from scratch.
    assert_eq!(f, lan(HOST, REMOTE).to_wan(EXT).udp(1024, 53, b"again!"));
    assert_eq!(&f[0..12], &[GW_MAC, WAN_MAC].concat()[..]);
    assert_eq!(f[22], 63);
    assert_eq!(be32(&f, 26), EXT);
    assert_eq!(be16(&f, 34), 1024);
    assert_checksums(&f);
    let idx = s.find_out(17, HOST, 40000, REMOTE, 53).unwrap();
    assert_eq!(s.sessions[idx as usize].last_seen, sec(5), "refreshed");
    assert_eq!(s.counters().sessions_created, 1, "no second session");
    assert_eq!(s.counters().tx_wan, 2);
}

#[test]
fn inbound_packet_of_a_session_gets_the_mirror_rewrite() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    let reply = wan(REMOTE, EXT).udp(53, 1024, b"answer");
    let (v, f) = run(&mut s, reply, Side::Wan, 10);
    assert_eq!(v, Verdict::ToLan);
    assert_eq!(
        f,
        wan(REMOTE, EXT)
            .to_lan(HOST, HOST_MAC)
            .udp(53, 40000, b"answer")
    );
    assert_checksums(&f);
    let idx = s.find_in(17, EXT, 1024, REMOTE, 53).unwrap();
    assert_eq!(Some(idx), s.find_out(17, HOST, 40000, REMOTE, 53));
    assert_eq!(
        s.sessions[idx as usize].last_seen,
        sec(0),
        "inbound UDP does not refresh by default"
    );
    assert_eq!(s.find_in(17, EXT, 1024, REMOTE, 54), None);
    assert_eq!(s.find_in(6, EXT, 1024, REMOTE, 53), None);
    assert_eq!(s.find_out(17, HOST, 40001, REMOTE, 53), None);
}

#[test]
fn inbound_refresh_refreshes() {
    let c = Config {
        inbound_refresh: true,
        ..cfg()
    };
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    let (v, _) = run(&mut s, wan(REMOTE, EXT).udp(53, 1024, b"a"), Side::Wan, 10);
    assert_eq!(v, Verdict::ToLan);
    let idx = s.find_in(17, EXT, 1024, REMOTE, 53).unwrap();
    assert_eq!(s.sessions[idx as usize].last_seen, sec(10));
}

#[test]
fn echo_identifier_is_translated_both_ways() {
    let mut s = shard(&cfg());
    let (v, f) = run(
        &mut s,
        lan(HOST, REMOTE).echo(8, 0x4242, b"ping"),
        Side::Lan,
        0,
    );
    assert_eq!(v, Verdict::ToWan);
    // An identifier takes the first free port of either parity.
    assert_eq!(f, lan(HOST, REMOTE).to_wan(EXT).echo(8, 1024, b"ping"));
    assert_checksums(&f);
    let (v, f) = run(
        &mut s,
        wan(REMOTE, EXT).echo(0, 1024, b"ping"),
        Side::Wan,
        1,
    );
    assert_eq!(v, Verdict::ToLan);
    assert_eq!(
        f,
        wan(REMOTE, EXT)
            .to_lan(HOST, HOST_MAC)
            .echo(0, 0x4242, b"ping")
    );
    assert_checksums(&f);
}

#[test]
fn hairpin_second_half_keeps_the_ttl() {
    let mut s = shard(&cfg());
    // HOST2 gets 203.0.113.1:1024 (block 0), HOST then 1536 (block 1).
    let h2 = lan(HOST2, REMOTE).macs(LAN_MAC, HOST2_MAC);
    let (v, _) = run(&mut s, h2.udp(5000, 53, b"x"), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    let (v, f) = run(&mut s, lan(HOST, EXT).udp(40000, 1024, b"hi"), Side::Lan, 1);
    assert_eq!(v, Verdict::ToLan);
    // Translated at both ends, TTL lowered once, to HOST2's MAC.
    let want = lan(EXT, HOST2).macs(HOST2_MAC, LAN_MAC).ttl(63);
    assert_eq!(f, want.udp(1536, 5000, b"hi"));
    assert_checksums(&f);
    assert_eq!(s.counters().hairpinned, 1);
    assert_eq!(s.counters().tx_lan, 1);
    // And the answer the other way.
    let back = lan(HOST2, EXT).macs(LAN_MAC, HOST2_MAC);
    let (v, f) = run(&mut s, back.udp(5000, 1536, b"re"), Side::Lan, 2);
    assert_eq!(v, Verdict::ToLan);
    let want = lan(EXT, HOST).macs(HOST_MAC, LAN_MAC).ttl(63);
    assert_eq!(f, want.udp(1024, 40000, b"re"));
    assert_eq!(s.counters().hairpinned, 2);
}

#[test]
fn in_rewrite_of_a_hairpin_leaves_the_ttl_and_its_delta_out() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    let idx = s.find_out(17, HOST, 40000, REMOTE, 53).unwrap();
    let x = s.sessions[idx as usize];
    let plain = s.in_rewrite(&x, false);
    let hp = s.in_rewrite(&x, true);
    assert!(plain.ttl && !hp.ttl);
    assert_eq!(plain.ip_delta, Delta(x.ip_in));
    assert_eq!(
        hp.ip_delta,
        Delta(x.ip_in).plus(Delta::TTL_DECREMENT.negate())
    );
    assert_eq!((hp.end, hp.addr), (End::Destination, HOST));
    assert_eq!(hp.macs, (Mac(HOST_MAC), Mac(LAN_MAC)));
    let o = s.out_rewrite(&x);
    assert_eq!((o.end, o.addr, o.ttl), (End::Source, EXT, true));
    assert_eq!(o.port.unwrap().port, 1024);
    assert_eq!(o.macs, (Mac(GW_MAC), Mac(WAN_MAC)));
}

#[test]
fn tcp_moves_through_its_states_and_timers() {
    let c = cfg();
    let t = c.timeouts;
    let mut s = shard(&c);
    let out = |fl| lan(HOST, REMOTE).tcp(40000, 80, fl, &[], b"");
    let inb = |fl| wan(REMOTE, EXT).tcp(80, 1024, fl, &[], b"");
    assert_eq!(run(&mut s, out(SYN), Side::Lan, 0).0, Verdict::ToWan);
    let idx = s.find_out(6, HOST, 40000, REMOTE, 80).unwrap() as usize;
    let state = |s: &Shard| TcpState::from_u8(s.sessions[idx].state).unwrap();
    assert_eq!(state(&s), TcpState::SynOut);
    assert_eq!(s.sessions[idx].wheel_at, sec(0) + t.tcp_transitory);
    assert_eq!(run(&mut s, inb(SYN | ACK), Side::Wan, 1).0, Verdict::ToLan);
    assert_eq!(state(&s), TcpState::Established);
    assert_eq!(s.sessions[idx].wheel_at, sec(1) + t.tcp_established);
    assert_eq!(run(&mut s, out(ACK), Side::Lan, 2).0, Verdict::ToWan);
    assert_eq!(run(&mut s, out(FIN | ACK), Side::Lan, 3).0, Verdict::ToWan);
    assert_eq!(state(&s), TcpState::FinOut);
    // Same timer: the session stays where the wheel filed it.
    assert_eq!(s.sessions[idx].wheel_at, sec(1) + t.tcp_established);
    assert_eq!(run(&mut s, inb(FIN | ACK), Side::Wan, 4).0, Verdict::ToLan);
    assert_eq!(state(&s), TcpState::FinBoth);
    assert_eq!(s.sessions[idx].wheel_at, sec(4) + t.tcp_transitory);
    assert_eq!(run(&mut s, inb(RST), Side::Wan, 5).0, Verdict::ToLan);
    assert_eq!(state(&s), TcpState::Reset);
}

#[test]
fn mss_is_lowered_on_syns_only() {
    let c = Config {
        mss_clamp: 1400,
        ..cfg()
    };
    let mut s = shard(&c);
    let mss = |m: u16| [2, 4, (m >> 8) as u8, m as u8];
    let syn = lan(HOST, REMOTE).tcp(40000, 80, SYN, &mss(1460), b"");
    let (v, f) = run(&mut s, syn, Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    let want = lan(HOST, REMOTE).to_wan(EXT);
    assert_eq!(f, want.tcp(1024, 80, SYN, &mss(1400), b""));
    assert_checksums(&f);
    assert_eq!(s.counters().mss_clamped, 1);
    // Lower than the clamp: left alone.
    let sa = wan(REMOTE, EXT).tcp(80, 1024, SYN | ACK, &mss(1380), b"");
    let (v, f) = run(&mut s, sa, Side::Wan, 1);
    assert_eq!(v, Verdict::ToLan);
    let want = wan(REMOTE, EXT).to_lan(HOST, HOST_MAC);
    assert_eq!(f, want.tcp(80, 40000, SYN | ACK, &mss(1380), b""));
    // Not a SYN: left alone.
    let ack = lan(HOST, REMOTE).tcp(40000, 80, ACK, &mss(1460), b"");
    let (_, f) = run(&mut s, ack, Side::Lan, 2);
    assert_eq!(&f[54..58], &mss(1460));
    assert_checksums(&f);
    assert_eq!(s.counters().mss_clamped, 1);
}

#[test]
fn mss_at_an_odd_offset_is_clamped_with_a_valid_checksum() {
    let c = Config {
        mss_clamp: 1400,
        ..cfg()
    };
    let mut s = shard(&c);
    let opts = |m: u16| [1, 2, 4, (m >> 8) as u8, m as u8, 1, 1, 1];
    let syn = lan(HOST, REMOTE).tcp(40000, 80, SYN, &opts(1460), b"");
    let (v, f) = run(&mut s, syn, Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(s.counters().mss_clamped, 1);
    assert_eq!(checksum_fault(&f), None);
    let want = lan(HOST, REMOTE).to_wan(EXT);
    assert_eq!(f, want.tcp(1024, 80, SYN, &opts(1400), b""));
}

#[test]
fn a_batch_gives_what_single_frames_give() {
    let mut frames = vec![
        lan(HOST, REMOTE).udp(40000, 53, b"one"),
        lan(HOST, REMOTE).udp(40000, 53, b"two"),
        lan(HOST, REMOTE).tcp(40001, 80, SYN, &[], b""),
        lan(HOST, REMOTE).echo(8, 7, b"p"),
        lan(HOST, REMOTE).tcp(40003, 80, ACK, &[], b""),
        vec![0u8; 10],
        lan(HOST, REMOTE).raw(47, &[0; 8]),
    ];
    // More frames than one prefetch stage.
    for p in 0..40u16 {
        frames.push(lan(HOST2, REMOTE).udp(2000 + p, 53, b"many"));
    }
    let mut one = shard(&cfg());
    let mut singles = frames.clone();
    let want: Vec<Verdict> = singles
        .iter_mut()
        .map(|f| one.process(f, Side::Lan, at(0)))
        .collect();
    let mut batch = shard(&cfg());
    let mut got = vec![Verdict::Pass; frames.len()];
    batch.process_batch(&mut frames, Side::Lan, at(0), &mut got);
    assert_eq!(got, want);
    assert_eq!(frames, singles);
    assert_eq!(batch.counters(), one.counters());
    assert_eq!(got[4], Verdict::Drop(DropReason::TcpNotSyn));
    assert_eq!(got[5], Verdict::Drop(DropReason::Truncated));
    assert_eq!(got[6], Verdict::ToWan, "GRE, address-only");
    // Inbound too, with sessions to find.
    let mut back: Vec<Vec<u8>> = (0..40u16)
        .map(|p| wan(REMOTE, EXT).udp(53, 1536 + p, b"r"))
        .collect();
    let mut singles = back.clone();
    let want: Vec<Verdict> = singles
        .iter_mut()
        .map(|f| one.process(f, Side::Wan, at(1)))
        .collect();
    let mut got = vec![Verdict::Pass; back.len()];
    batch.process_batch(&mut back, Side::Wan, at(1), &mut got);
    assert_eq!(got, want);
    assert_eq!(back, singles);
    assert!(got.iter().all(|v| *v == Verdict::ToLan), "{got:?}");
}

#[test]
fn a_hairpin_across_shards_is_finished_by_the_owner_of_the_port() {
    let c = Config {
        workers: 2,
        ..cfg()
    };
    // A sender owned by shard 0, a target owned by shard 1.
    let owned = |k: u16| {
        (2..250u32)
            .map(|x| 0xc0a8_0100 | x)
            .find(|&a| crate::hash::subscriber_owner(a, 2) == k)
            .unwrap()
    };
    let (src, dst) = (owned(0), owned(1));
    let mut s0 = shard(&c);
    let mut s1 = Shard::new(&c, 1, at(0)).unwrap();
    s1.set_next_hops(s0.hops);
    // The target's mapping: shard 1's first block is block 1 (1536-2047).
    let t = lan(dst, REMOTE).macs(LAN_MAC, HOST2_MAC);
    let (v, f) = run(&mut s1, t.udp(5000, 53, b""), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    assert_eq!(be16(&f, 34), 1536);
    // Shard 0 translates the first half and hands the rest over.
    let (v, half) = run(&mut s0, lan(src, EXT).udp(40000, 1536, b"hi"), Side::Lan, 1);
    assert_eq!(
        v,
        Verdict::HandOff {
            shard: 1,
            side: Side::Hairpin
        }
    );
    assert_eq!(half, lan(src, EXT).to_wan(EXT).udp(1024, 1536, b"hi"));
    assert_eq!(s0.counters().hairpinned, 1);
    let (v, f) = run(&mut s1, half, Side::Hairpin, 1);
    assert_eq!(v, Verdict::ToLan);
    let want = lan(EXT, dst).macs(HOST2_MAC, LAN_MAC).ttl(63);
    assert_eq!(f, want.udp(1024, 5000, b"hi"));
    assert_checksums(&f);
    assert_eq!(s1.counters().rx_hairpin, 1);
}
