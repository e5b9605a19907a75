//! Fragments after the first: translated as their first fragment was,
//! held when they come before it and released translated when it comes,
//! dropped with the rest of a dropped datagram, timed out, refused when
//! there is no room, and checked for TTL and MTU on the way in.

use super::*;

const PAYLOAD: [u8; 32] = *b"0123456789abcdefghijklmnopqrstuv";

/// The two fragments of a 40-byte UDP datagram from `p`: 16 bytes at
/// offset 0, then 24 at offset 16.
fn halves(p: Pkt, sport: u16, dport: u16) -> (Vec<u8>, Vec<u8>) {
    let seg = udp_seg(p.src, p.dst, sport, dport, &PAYLOAD);
    (
        p.frag(MF).raw(17, &seg[..16]),
        p.frag(2).raw(17, &seg[16..]),
    )
}

#[test]
fn an_outbound_datagram_is_translated_fragment_by_fragment() {
    let mut s = shard(&cfg());
    let p = lan(HOST, REMOTE);
    let (first, second) = halves(p, 40000, 53);
    let (v, f1) = run(&mut s, first, Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    let (v, f2) = run(&mut s, second, Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    let (w1, w2) = halves(p.to_wan(EXT), 1024, 53);
    assert_eq!(f1, w1);
    assert_eq!(f2, w2);
    assert_checksums(&f1);
    assert_checksums(&f2);
    assert_eq!(s.counters().fragments_translated, 1);
    // Put back together, the datagram's checksum verifies from scratch.
    let whole = [&f1[34..], &f2[34..]].concat();
    assert!(verifies(sum(pseudo(EXT, REMOTE, 17, 40), &whole)));
}

#[test]
fn a_later_fragment_before_its_first_is_held_then_released() {
    let mut s = shard(&cfg());
    let p = lan(HOST, REMOTE);
    let (first, second) = halves(p, 40000, 53);
    let v = run(&mut s, second, Side::Lan, 0).0;
    assert_eq!(v, Verdict::Held);
    assert_eq!(s.held_fragments(), 1);
    assert_eq!(s.counters().fragments_held, 1);
    assert!(!s.has_emitted());
    let (v, f1) = run(&mut s, first, Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    let (w1, w2) = halves(p.to_wan(EXT), 1024, 53);
    assert_eq!(f1, w1);
    assert_eq!(emitted(&mut s), [(Verdict::ToWan, w2)]);
    assert_eq!(s.held_fragments(), 0);
    assert_eq!(s.counters().fragments_translated, 1);
    assert_eq!(s.counters().tx_wan, 2);
}

#[test]
fn inbound_fragments_held_and_released() {
    let mut s = shard(&cfg());
    udp_session(&mut s, 0);
    let p = wan(REMOTE, EXT);
    let (first, second) = halves(p, 53, 1024);
    assert_eq!(run(&mut s, second, Side::Wan, 1).0, Verdict::Held);
    let (v, f1) = run(&mut s, first, Side::Wan, 1);
    assert_eq!(v, Verdict::ToLan);
    let (w1, w2) = halves(p.to_lan(HOST, HOST_MAC), 53, 40000);
    assert_eq!(f1, w1);
    assert_eq!(emitted(&mut s), [(Verdict::ToLan, w2)]);
}

#[test]
fn the_rest_of_a_dropped_datagram_is_dropped() {
    let mut s = shard(&cfg());
    // A TCP first fragment that is no SYN opens nothing...
    let p = lan(HOST, REMOTE);
    let seg = tcp_seg(HOST, REMOTE, 40000, 80, ACK, &[], &[9; 20]);
    let v = run(&mut s, p.frag(MF).raw(6, &seg[..24]), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::TcpNotSyn));
    let v = run(&mut s, p.frag(3).raw(6, &seg[24..]), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::FragmentOfDropped));
    // ...nor does a UDP first fragment too short for the ports.
    let q = Pkt { id: 7, ..p };
    let v = run(&mut s, q.frag(MF).raw(17, &[0; 4]), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::BadFragment));
    let v = run(&mut s, q.frag(1).raw(17, &[0; 8]), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::FragmentOfDropped));
    // A TCP fragment at offset 8 could rewrite the flags: refused.
    let r = Pkt { id: 8, ..p };
    let v = run(&mut s, r.frag(1).raw(6, &[0; 8]), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::BadFragment));
    // A fragmented ICMP error is not taken.
    let inner = wan(REMOTE, HOST).udp(53, 40000, b"x");
    let e = Pkt { id: 9, ..p }.frag(MF).icmp(3, 3, 0, &inner[14..]);
    let v = run(&mut s, e, Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::BadFragment));
    assert_eq!(s.session_count(), 0);
}

#[test]
fn a_held_fragment_times_out() {
    let c = cfg();
    let mut s = shard(&c);
    let (first, second) = halves(lan(HOST, REMOTE), 40000, 53);
    assert_eq!(run(&mut s, second, Side::Lan, 0).0, Verdict::Held);
    let timeout = u64::from(c.fragments.timeout);
    assert_eq!(s.next_expiry(), Some(at(timeout)));
    s.expire(at(timeout - 1), usize::MAX);
    assert_eq!(s.held_fragments(), 1);
    s.expire(at(timeout), usize::MAX);
    assert_eq!(s.held_fragments(), 0);
    assert_eq!(drops(&s, DropReason::FragmentTimeout), 1);
    assert_eq!(run(&mut s, first, Side::Lan, timeout).0, Verdict::ToWan);
    assert!(!s.has_emitted());
}

#[test]
fn no_room_to_hold() {
    let mut c = cfg();
    c.fragments.max_held = 0;
    let mut s = shard(&c);
    let (_, second) = halves(lan(HOST, REMOTE), 40000, 53);
    let v = run(&mut s, second, Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::FragmentsFull));
}

#[test]
fn a_later_inbound_fragment_is_checked_for_ttl_not_refused_for_size() {
    let c = Config {
        lan_mtu: 576,
        ..cfg()
    };
    let mut s = shard(&c);
    udp_session(&mut s, 0);
    let p = wan(REMOTE, EXT);
    let v = run(&mut s, p.ttl(1).frag(2).raw(17, &[0; 8]), Side::Wan, 1).0;
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    // Larger than the LAN MTU: held like any other (cut when it leaves).
    let v = run(&mut s, p.frag(2).raw(17, &[0; 600]), Side::Wan, 1).0;
    assert_eq!(v, Verdict::Held);
    assert!(!s.has_emitted(), "no error about a later fragment");
    assert_eq!(s.held_fragments(), 1);
}
