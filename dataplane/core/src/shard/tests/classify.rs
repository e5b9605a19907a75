//! Where a frame belongs: inside, pool and one-to-one addresses, the
//! owner of a subscriber and of an inbound flow, the frames that are not
//! the NAT's (both directions), and where a hairpin's second half goes.

use super::*;
use crate::config::StaticMapping;
use crate::hash::subscriber_owner;
use crate::shard::classify::Ext;
use crate::wire::FlowRepr;

/// 198.18.0.20, a one-to-one outside address.
const ONE_OUT: u32 = 0xc612_0014;

fn fwd(proto: u8, inside: u32, port: u16, outside_port: u16) -> StaticMapping {
    StaticMapping {
        proto: Some(proto),
        inside,
        inside_port: port,
        outside: EXT,
        outside_port,
    }
}

#[test]
fn inside_pool_and_one_to_one_addresses() {
    let c = Config {
        pool: vec![
            Prefix::new(0xcb00_7100, 30).unwrap(),
            Prefix::new(0xc612_0008, 31).unwrap(),
        ],
        statics: vec![StaticMapping {
            proto: None,
            inside: HOST2,
            inside_port: 0,
            outside: ONE_OUT,
            outside_port: 0,
        }],
        ..cfg()
    };
    let s = shard(&c);
    assert!(s.is_inside(HOST) && s.is_inside(0x6440_0001));
    assert!(!s.is_inside(REMOTE) && !s.is_inside(EXT));
    let idx: Vec<Option<usize>> = [
        0xcb00_7100,
        0xcb00_7103,
        0xcb00_7104,
        0xc612_0008,
        0xc612_0009,
    ]
    .into_iter()
    .map(|a| s.pool_index(a))
    .collect();
    assert_eq!(idx, [Some(0), Some(3), None, Some(4), Some(5)]);
    assert_eq!(s.ext_of(0xc612_0009), Some(Ext::Pool(5)));
    assert_eq!(s.ext_of(ONE_OUT), Some(Ext::OneToOne(0)));
    assert_eq!(s.ext_of(REMOTE), None);
}

#[test]
fn owners_of_subscribers_and_of_inbound_flows() {
    let c = Config {
        workers: 4,
        statics: vec![fwd(6, HOST, 22, 8080), fwd(6, HOST2, 80, 80)],
        ..cfg()
    };
    let s = shard(&c);
    for a in [HOST, HOST2, 0xc0a8_0203, 0x6440_0007] {
        assert_eq!(s.owner_of(a), subscriber_owner(a, 4));
    }
    let pool = Ext::Pool(0);
    // Block k (512 ports from 1024) belongs to shard k mod 4.
    for (port, owner) in [(1024, 0), (1536, 1), (2047, 1), (2560, 3), (3072, 0)] {
        assert_eq!(s.owner_in(pool, EXT, 17, port), Ok(Some(owner)), "{port}");
    }
    assert_eq!(s.owner_in(pool, EXT, 17, 1000), Ok(None), "in no block");
    // Static mappings: the inside host's owner.
    let h = s.owner_of(HOST);
    assert_eq!(s.owner_in(pool, EXT, 6, 8080), Ok(Some(h)));
    assert_eq!(s.owner_in(pool, EXT, 6, 8081), Err(DropReason::NoMapping));
    assert_eq!(s.owner_in(pool, EXT, 17, 8080), Err(DropReason::NoMapping));
    assert_eq!(s.owner_in(pool, EXT, 6, 80), Ok(Some(s.owner_of(HOST2))));
    assert_eq!(s.owner_in(pool, EXT, 6, 81), Ok(None));
    // Deterministic NAT: the owner of the subscriber's block.
    let mut d = Config {
        inside: vec![Prefix::new(0xc0a8_0100, 28).unwrap()],
        deterministic: true,
        workers: 2,
        block_size: 2,
        port_max: 1055,
        ..cfg()
    };
    d.limits.blocks_per_subscriber = 1;
    let s = shard(&d);
    assert_eq!((s.owner_of(HOST), s.owner_of(HOST2)), (0, 1));
}

#[test]
fn outbound_frames_that_are_not_the_nats() {
    let c = Config {
        exclude: vec![Prefix::new(0x0a0a_0000, 16).unwrap()],
        ..cfg()
    };
    let mut s = shard(&c);
    let pass = [
        lan(HOST, HOST2).udp(1, 2, b""),
        lan(REMOTE, REMOTE2).udp(1, 2, b""),
        lan(HOST, 0x0a0a_0001).udp(1, 2, b""),
        lan(HOST, REMOTE).macs([0xff; 6], HOST_MAC).udp(1, 2, b""),
        lan(HOST, 0xe000_00fb).udp(5353, 5353, b""),
        lan(HOST, u32::MAX).udp(68, 67, b""),
    ];
    for (n, f) in pass.into_iter().enumerate() {
        let ip = parse(&f);
        assert_eq!(s.not_for_nat_out(&f, &ip), Some(Verdict::Pass), "{n}");
        let (v, out) = run(&mut s, f.clone(), Side::Lan, 0);
        assert_eq!((v, out), (Verdict::Pass, f), "{n}");
    }
    for dst in [0x7f00_0001, 0x0001_0203, 0xf000_0001] {
        let v = run(&mut s, lan(HOST, dst).udp(1, 2, b""), Side::Lan, 0).0;
        assert_eq!(v, Verdict::Drop(DropReason::MartianDestination));
    }
    let ok = lan(HOST, REMOTE).udp(1, 2, b"");
    assert_eq!(s.not_for_nat_out(&ok, &parse(&ok)), None);
    // Not IPv4 at all; IPv4 with a bad header checksum.
    let mut arp = ok.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(run(&mut s, arp, Side::Lan, 0).0, Verdict::Pass);
    let mut bad = ok;
    bad[24] ^= 1;
    let v = run(&mut s, bad, Side::Lan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::BadIpChecksum));
    assert_eq!(s.counters().passed, 7);
    assert_eq!(s.session_count(), 0);
}

#[test]
fn inbound_frames_that_are_not_the_nats() {
    let mut s = shard(&cfg());
    let nin = |s: &Shard, f: &[u8], hp| s.not_for_nat_in(f, &parse(f), hp);
    let ok = wan(REMOTE, EXT).udp(53, 1024, b"");
    assert_eq!(nin(&s, &ok, false), Ok(Ext::Pool(0)));
    let not_ours = wan(REMOTE, REMOTE2).udp(53, 1024, b"");
    assert_eq!(nin(&s, &not_ours, false), Err(Verdict::Pass));
    let group = wan(REMOTE, EXT).macs([0xff; 6], GW_MAC).udp(53, 1024, b"");
    assert_eq!(nin(&s, &group, false), Err(Verdict::Pass));
    assert_eq!(nin(&s, &group, true), Ok(Ext::Pool(0)));
    let martian = Err(Verdict::Drop(DropReason::MartianSource));
    for src in [HOST, EXT] {
        let f = wan(src, EXT).udp(53, 1024, b"");
        assert_eq!(nin(&s, &f, false), martian);
        assert_eq!(nin(&s, &f, true), Ok(Ext::Pool(0)), "a hairpin's source");
    }
    let frag = wan(EXT, EXT).frag(MF).udp(53, 1024, b"");
    let bad = Err(Verdict::Drop(DropReason::BadFragment));
    assert_eq!(nin(&s, &frag, true), bad);
    let v = run(&mut s, wan(HOST, EXT).udp(53, 1024, b""), Side::Wan, 0).0;
    assert_eq!(v, Verdict::Drop(DropReason::MartianSource));
    assert_eq!(drops(&s, DropReason::MartianSource), 1);
}

#[test]
fn where_a_hairpin_goes() {
    let c = Config {
        lan_mtu: 576,
        ..cfg()
    };
    let mut s = shard(&c);
    let hp = |s: &mut Shard, f: &[u8]| {
        let ip = parse(f);
        let flow = match ip.proto {
            1 => FlowRepr::echo(8, 1),
            _ => FlowRepr::parse_ports(f, &ip).unwrap(),
        };
        s.hairpin_owner(f, &ip, &flow)
    };
    assert_eq!(hp(&mut s, &lan(HOST, REMOTE).udp(1, 1024, b"")), Ok(None));
    assert_eq!(hp(&mut s, &lan(HOST, EXT).udp(1, 1024, b"")), Ok(Some(0)));
    let pass = Err(Verdict::Pass);
    assert_eq!(
        hp(&mut s, &lan(HOST, EXT).echo(8, 1, b"")),
        pass,
        "the box's"
    );
    assert_eq!(
        hp(&mut s, &lan(HOST, EXT).udp(1, 80, b"")),
        pass,
        "no NAT port"
    );
    let frag = lan(HOST, EXT).frag(MF).udp(1, 1024, b"");
    let bad = Err(Verdict::Drop(DropReason::BadFragment));
    assert_eq!(hp(&mut s, &frag), bad);
    // Too large for the LAN it comes back out of: 3/4 with DF; without,
    // it goes on (to be cut when it leaves).
    let mtu = Err(Verdict::Drop(DropReason::MtuExceeded));
    let big = lan(HOST, EXT).udp(1, 1024, &[0; 600]);
    assert_eq!(hp(&mut s, &big), Ok(Some(0)));
    assert!(!s.has_emitted());
    let big_df = lan(HOST, EXT).frag(DF).udp(1, 1024, &[0; 600]);
    assert_eq!(hp(&mut s, &big_df), mtu);
    let e = emitted(&mut s);
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].1[34], e[0].1[35], be16(&e[0].1, 40)), (3, 4, 576));
}

#[test]
fn a_flow_of_another_shard_is_handed_off() {
    let c = Config {
        workers: 2,
        ..cfg()
    };
    let owner = subscriber_owner(HOST, 2);
    let mut s = Shard::new(&c, 1 - owner, at(0)).unwrap();
    let f = lan(HOST, REMOTE).udp(40000, 53, b"q");
    let (v, out) = run(&mut s, f.clone(), Side::Lan, 0);
    assert_eq!(
        v,
        Verdict::HandOff {
            shard: owner,
            side: Side::Lan
        }
    );
    assert_eq!(out, f, "handed over unchanged");
    // Inbound: the block's owner (block 1 is shard 1's, block 2 shard 0's).
    let mut s0 = shard(&c);
    let v = run(&mut s0, wan(REMOTE, EXT).udp(53, 1536, b""), Side::Wan, 0).0;
    assert_eq!(
        v,
        Verdict::HandOff {
            shard: 1,
            side: Side::Wan
        }
    );
    assert_eq!(s0.counters().handed_off, 1);
    assert_eq!(s.counters().handed_off, 1);
}
