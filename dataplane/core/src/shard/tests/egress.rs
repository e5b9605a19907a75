//! Packets larger than the egress MTU: without DF they are translated and
//! cut into fragments that a receiver puts back together (reassembled
//! here from scratch, as RFC 791 says, and compared byte for byte with
//! the datagram the NAT sends when it fits); with DF, ICMP 3/4.

use super::*;
use crate::emit::FRAGMENT_ROOM;
use proptest::prelude::*;

/// Puts the fragments of one datagram back together as a receiver does:
/// every header checksum verifies, every fragment fits `mtu`, offsets are
/// 8-byte aligned and leave no hole or overlap, only the last has MF
/// clear, and all share the identification, addresses, protocol and TTL;
/// later fragments carry no more options than the first. Returns the
/// Ethernet header of the first fragment and the datagram with the first
/// fragment's header, its length, flags and checksum made whole.
#[track_caller]
fn reassemble(frags: &[Vec<u8>], mtu: u16) -> Vec<u8> {
    assert!(!frags.is_empty());
    let first = &frags[0];
    let mut data = Vec::new();
    for (k, f) in frags.iter().enumerate() {
        let ip = &f[14..];
        let hl = usize::from(ip[0] & 0x0f) * 4;
        assert!(ip[0] >> 4 == 4 && hl >= 20 && hl <= usize::from(first[14] & 0x0f) * 4);
        let total = usize::from(be16(ip, 2));
        assert_eq!(f.len(), 14 + total, "fragment {k}: frame length");
        assert!(total <= usize::from(mtu), "fragment {k}: {total} > {mtu}");
        assert!(verifies(sum(0, &ip[..hl])), "fragment {k}: header checksum");
        assert_eq!(&f[..14], &first[..14], "fragment {k}: Ethernet header");
        // Identification, TTL, protocol and addresses as the first's.
        assert_eq!(ip[4..6], first[18..20], "fragment {k}: id");
        assert_eq!(ip[8..10], first[22..24], "fragment {k}: ttl, protocol");
        assert_eq!(ip[12..20], first[26..34], "fragment {k}: addresses");
        let flags = be16(ip, 6);
        assert_eq!(flags & 0x4000, 0, "fragment {k}: DF");
        let off = usize::from(flags & 0x1fff) * 8;
        assert_eq!(off, data.len(), "fragment {k}: offset, in order");
        let last = k + 1 == frags.len();
        assert_eq!(flags & 0x2000 == 0, last, "fragment {k}: MF");
        if !last {
            assert_eq!((total - hl) % 8, 0, "fragment {k}: a multiple of 8");
        }
        data.extend_from_slice(&ip[hl..total]);
    }
    let end = 14 + usize::from(first[14] & 0x0f) * 4;
    let mut out = first[..end].to_vec();
    out[16..18].copy_from_slice(&((end - 14 + data.len()) as u16).to_be_bytes());
    out[20..22].copy_from_slice(&[0, 0]);
    out[24..26].copy_from_slice(&[0, 0]);
    let c = csum(sum(0, &out[14..end]));
    out[24..26].copy_from_slice(&c.to_be_bytes());
    out.extend_from_slice(&data);
    out
}

/// Every emitted frame, asserting they all go where `v` says.
#[track_caller]
fn frames_to(s: &mut Shard, v: Verdict) -> Vec<Vec<u8>> {
    emitted(s)
        .into_iter()
        .map(|(w, f)| {
            assert_eq!(w, v);
            f
        })
        .collect()
}

/// A shard of [`cfg`] with these LAN and WAN MTUs.
fn shard_with(lan_mtu: u16, wan_mtu: u16) -> Shard {
    shard(&Config {
        lan_mtu,
        wan_mtu,
        ..cfg()
    })
}

/// `f` with an IPv4 option word per entry of `words`: 0 four NOPs, 1 a
/// router alert (copied), 2 a 4-byte timestamp option header (not
/// copied); header length, total length and checksum made good.
fn with_options(mut f: Vec<u8>, words: &[usize]) -> Vec<u8> {
    let opts: Vec<u8> = words
        .iter()
        .flat_map(|w| match w {
            0 => [1, 1, 1, 1],
            1 => [148, 4, 0, 0],
            _ => [68, 4, 5, 0],
        })
        .collect();
    let hl = 20 + opts.len();
    f.splice(34..34, opts);
    f[14] = 0x40 | (hl / 4) as u8;
    let total = be16(&f, 16) + (hl - 20) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = csum(sum(0, &f[14..14 + hl]));
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn udp_1450_without_df_leaves_in_two_fragments_for_1400() {
    let mut s = shard_with(1500, 1400);
    let p = payload(1450 - 28);
    let big = lan(HOST, REMOTE).udp(40000, 53, &p);
    assert_eq!(big.len() - 14, 1450);
    let v = run(&mut s, big, Side::Lan, 0).0;
    assert_eq!(v, Verdict::Fragmented);
    let frags = frames_to(&mut s, Verdict::ToWan);
    assert_eq!(frags.len(), 2);
    // 1376 bytes (172 units) and the 54 left.
    assert_eq!(be16(&frags[0], 16), 1396);
    assert_eq!(be16(&frags[0], 20), 0x2000);
    assert_eq!(be16(&frags[1], 16), 20 + 54);
    assert_eq!(be16(&frags[1], 20), 172);
    let whole = reassemble(&frags, 1400);
    assert_eq!(whole, lan(HOST, REMOTE).to_wan(EXT).udp(1024, 53, &p));
    assert_checksums(&whole);
    let k = s.counters();
    assert_eq!((k.packets_fragmented, k.fragments_sent), (1, 2));
    assert_eq!(k.tx_wan, 2);
    assert_eq!(k.tx_wan_bytes, (1396 + 14 + 74 + 14) as u64);
    // The session is the one a datagram that fits makes: the reply
    // comes back.
    let reply = wan(REMOTE, EXT).udp(53, 1024, b"ok");
    assert_eq!(run(&mut s, reply, Side::Wan, 1).0, Verdict::ToLan);
}

#[test]
fn with_df_the_sender_gets_3_4_with_the_mtu() {
    let mut s = shard_with(1500, 1400);
    let big = lan(HOST, REMOTE).frag(DF).udp(40000, 53, &payload(1422));
    let v = run(&mut s, big, Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::MtuExceeded));
    let e = frames_to(&mut s, Verdict::ToLan);
    assert_eq!(e.len(), 1);
    assert_eq!((e[0][34], e[0][35]), (3, 4));
    assert_eq!(be16(&e[0], 40), 1400, "next-hop MTU");
    assert_eq!(s.counters().packets_fragmented, 0);
}

#[test]
fn inbound_is_cut_for_the_lan_mtu() {
    let mut s = shard_with(576, 1500);
    udp_session(&mut s, 0);
    let p = payload(1000);
    let big = wan(REMOTE, EXT).udp(53, 1024, &p);
    assert_eq!(run(&mut s, big, Side::Wan, 1).0, Verdict::Fragmented);
    let frags = frames_to(&mut s, Verdict::ToLan);
    // 552 bytes per fragment: 1008 bytes are two.
    assert_eq!(frags.len(), 2);
    let whole = reassemble(&frags, 576);
    let want = wan(REMOTE, EXT).to_lan(HOST, HOST_MAC).udp(53, 40000, &p);
    assert_eq!(whole, want);
    assert_checksums(&whole);
}

/// What leaves for `f`: the frame itself, or the fragments it was cut
/// into, all toward `to`.
fn outputs(s: &mut Shard, f: Vec<u8>, side: Side, to: Verdict) -> Vec<Vec<u8>> {
    let (v, out) = run(s, f, side, 0);
    let mut all = frames_to(s, to);
    if v == to {
        all.push(out);
    } else {
        assert_eq!(v, Verdict::Fragmented);
    }
    all
}

/// A 2000-byte UDP datagram (HOST:40000 -> REMOTE:53) in the two
/// fragments its sender made: 1480 bytes (MF) and 528 at offset 185.
fn two_fragments(p: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let whole = lan(HOST, REMOTE).udp(40000, 53, p);
    let l4 = &whole[34..];
    (
        lan(HOST, REMOTE).frag(MF).raw(17, &l4[..1480]),
        lan(HOST, REMOTE).frag(185).raw(17, &l4[1480..]),
    )
}

#[test]
fn a_fragment_is_cut_again_with_its_offsets_and_mf() {
    let mut s = shard_with(1500, 576);
    let p = payload(2000 - 8);
    let (first, second) = two_fragments(&p);
    let mut frags = outputs(&mut s, first, Side::Lan, Verdict::ToWan);
    // 552 per fragment: 1480 is 3, the last with MF still.
    assert_eq!(frags.len(), 3);
    assert_eq!(be16(&frags[1], 20), 0x2000 | 69);
    assert_eq!(
        be16(&frags[2], 20),
        0x2000 | 138,
        "MF kept on the first's last"
    );
    // The 548-byte second fits as it is.
    frags.extend(outputs(&mut s, second, Side::Lan, Verdict::ToWan));
    assert_eq!(frags.len(), 4);
    assert_eq!(be16(&frags[3], 20), 185, "the datagram's last");
    let got = reassemble(&frags, 576);
    assert_eq!(got, lan(HOST, REMOTE).to_wan(EXT).udp(1024, 53, &p));
    assert_checksums(&got);
    assert_eq!(s.counters().fragments_translated, 1);
    assert_eq!(s.counters().packets_fragmented, 1);
}

#[test]
fn an_early_fragment_is_cut_when_it_is_released() {
    let mut s = shard_with(1500, 300);
    let p = payload(2000 - 8);
    let (first, second) = two_fragments(&p);
    assert_eq!(run(&mut s, second, Side::Lan, 0).0, Verdict::Held);
    assert_eq!(run(&mut s, first, Side::Lan, 0).0, Verdict::Fragmented);
    let frags = frames_to(&mut s, Verdict::ToWan);
    // 280 per fragment: the held 528 are 2, released first; 1480 are 6.
    assert_eq!(frags.len(), 8);
    let ordered = [&frags[2..], &frags[..2]].concat();
    let got = reassemble(&ordered, 300);
    assert_eq!(got, lan(HOST, REMOTE).to_wan(EXT).udp(1024, 53, &p));
    assert_eq!(s.counters().packets_fragmented, 2);
    assert_eq!(s.counters().fragments_sent, 8);
}

#[test]
fn the_smallest_mtu_and_odd_sizes() {
    for (mtu, n) in [
        (68u16, 101usize),
        (69, 7),
        (75, 48),
        (577, 1001),
        (1499, 1473),
    ] {
        let c = Config {
            wan_mtu: mtu,
            ..cfg()
        };
        let mut s = shard(&c);
        let p = payload(n);
        let v = run(&mut s, lan(HOST, REMOTE).udp(40000, 53, &p), Side::Lan, 0).0;
        let want = lan(HOST, REMOTE).to_wan(EXT).udp(1024, 53, &p);
        if want.len() - 14 <= usize::from(mtu) {
            assert_eq!(v, Verdict::ToWan, "{mtu} {n}");
            continue;
        }
        assert_eq!(v, Verdict::Fragmented, "{mtu} {n}");
        let frags = frames_to(&mut s, Verdict::ToWan);
        let step = (usize::from(mtu) - 20) / 8 * 8;
        assert_eq!(frags.len(), (n + 8).div_ceil(step), "{mtu} {n}");
        assert_eq!(reassemble(&frags, mtu), want, "{mtu} {n}");
    }
}

#[test]
fn options_with_the_copied_flag_go_in_every_fragment() {
    // Router alert (copied), timestamp (not copied), NOPs.
    let f = with_options(lan(HOST, REMOTE).udp(40000, 53, &payload(400)), &[1, 2, 0]);
    // What the NAT sends when the datagram fits.
    let (v, want) = run(&mut shard_with(1500, 1500), f.clone(), Side::Lan, 0);
    assert_eq!(v, Verdict::ToWan);
    let mut s = shard_with(1500, 200);
    assert_eq!(run(&mut s, f, Side::Lan, 0).0, Verdict::Fragmented);
    let frags = frames_to(&mut s, Verdict::ToWan);
    // 168 bytes after the first's 32-byte header, 176 after the later
    // ones' 24: 408 bytes are 168 + 176 + 64.
    assert_eq!(frags.len(), 3);
    let mut data = Vec::new();
    for (k, g) in frags.iter().enumerate() {
        let hl = usize::from(g[14] & 0x0f) * 4;
        assert!(g.len() - 14 <= 200);
        assert_eq!(usize::from(be16(g, 16)), g.len() - 14);
        assert!(
            verifies(sum(0, &g[14..14 + hl])),
            "fragment {k}: header checksum"
        );
        if k == 0 {
            assert_eq!(
                &g[14..46],
                &{
                    let mut h = want[14..46].to_vec();
                    h[2..4].copy_from_slice(&g[16..18]);
                    h[6..8].copy_from_slice(&[0x20, 0]);
                    h[10..12].copy_from_slice(&g[24..26]);
                    h
                }[..]
            );
        } else {
            assert_eq!(hl, 24, "fragment {k}: the copied option only");
            assert_eq!(&g[34..38], &[148, 4, 0, 0]);
            assert_eq!(&g[26..34], &want[26..34], "fragment {k}: addresses");
        }
        assert_eq!(usize::from(be16(g, 20) & 0x1fff) * 8, data.len());
        assert_eq!(be16(g, 20) & 0x2000 != 0, k < 2, "fragment {k}: MF");
        data.extend_from_slice(&g[14 + hl..]);
    }
    assert_eq!(&data[..], &want[46..]);
}

#[test]
fn a_full_queue_sends_nothing_in_part() {
    let mut s = shard_with(1500, 68);
    // 1472 bytes are 31 fragments for 68: the queue (64 + 64 + room)
    // takes whole datagrams until fewer than 31 slots are free.
    let slots = 64 + 64 + FRAGMENT_ROOM;
    let fit = slots / 31;
    let big = lan(HOST, REMOTE).udp(40000, 53, &payload(1472 - 8));
    for i in 0..fit {
        assert_eq!(
            run(&mut s, big.clone(), Side::Lan, 0).0,
            Verdict::Fragmented,
            "{i}"
        );
    }
    let v = run(&mut s, big.clone(), Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::FragmentQueueFull));
    assert_eq!(frames_to(&mut s, Verdict::ToWan).len(), fit * 31);
    assert_eq!(run(&mut s, big, Side::Lan, 0).0, Verdict::Fragmented);
}

#[test]
fn a_hairpin_too_large_for_the_lan_is_cut() {
    let mut s = shard_with(576, 1500);
    udp_session(&mut s, 0);
    let p = payload(1000);
    let big = lan(HOST2, EXT).macs(LAN_MAC, HOST2_MAC).udp(5000, 1024, &p);
    assert_eq!(run(&mut s, big, Side::Lan, 0).0, Verdict::Fragmented);
    let frags = frames_to(&mut s, Verdict::ToLan);
    assert_eq!(frags.len(), 2);
    let got = reassemble(&frags, 576);
    assert_checksums(&got);
    assert_eq!(be32(&got, 30), HOST, "to the mapping's subscriber");
    assert_eq!(be32(&got, 26), EXT, "from the sender's mapping");
    assert_eq!(be16(&got, 36), 40000);
    assert_eq!(&got[42..], &p[..]);
    // With DF, 3/4 with the LAN's MTU back to the sender.
    let df = lan(HOST2, EXT).frag(DF).udp(5000, 1024, &p);
    let v = run(&mut s, df, Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::MtuExceeded));
    let e = frames_to(&mut s, Verdict::ToLan);
    assert_eq!(be16(&e[0], 40), 576);
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, cases: 200, ..ProptestConfig::default() })]

    /// Any size and any MTU: what leaves fits the MTU and puts back
    /// together into the datagram the NAT sends when it fits, both ways.
    #[test]
    fn fragments_reassemble_to_the_translated_datagram(
        n in 0usize..1900,
        mtu in 68u16..1600,
        inbound in any::<bool>(),
        words in proptest::collection::vec(0usize..3, 0..10),
    ) {
        let mut c = cfg();
        if inbound { c.lan_mtu = mtu } else { c.wan_mtu = mtu }
        let mut s = shard(&c);
        udp_session(&mut s, 0);
        let p = payload(n);
        let (f, side, want, to) = if inbound {
            (
                wan(REMOTE, EXT).udp(53, 1024, &p),
                Side::Wan,
                wan(REMOTE, EXT).to_lan(HOST, HOST_MAC).udp(53, 40000, &p),
                Verdict::ToLan,
            )
        } else {
            (
                lan(HOST, REMOTE).udp(40000, 53, &p),
                Side::Lan,
                lan(HOST, REMOTE).to_wan(EXT).udp(1024, 53, &p),
                Verdict::ToWan,
            )
        };
        let (f, want) = (with_options(f, &words), with_options(want, &words));
        let (v, out) = run(&mut s, f, side, 1);
        if want.len() - 14 <= usize::from(mtu) {
            prop_assert_eq!(v, to);
            prop_assert_eq!(out, want);
        } else {
            prop_assert_eq!(v, Verdict::Fragmented);
            let frags = frames_to(&mut s, to);
            prop_assert_eq!(reassemble(&frags, mtu), want);
        }
    }
}
