//! The view fed with rtnetlink messages captured from a kernel
//! (`captured.rs`): addresses added and removed, default routes of other
//! metrics, tables and interfaces, neighbours through their states, links
//! going down, up and away, and dumps that remove what is gone; and the
//! socket itself on this machine's kernel, read again after an overrun.

use std::net::Ipv4Addr;

use masq_core::wire::Mac;

use super::{messages, Kernel, NetlinkMessage, NetlinkPayload, RouteNetlinkMessage};
use super::{Changes, Gateway, KernelView, Nud, Table};

mod captured;
use captured::*;

const LO: u32 = 1;
const WAN: u32 = 2;
const LAN: u32 = 3;

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn decode(hex: &str) -> NetlinkMessage<RouteNetlinkMessage> {
    NetlinkMessage::deserialize(&bytes(hex)).expect("a captured message decodes")
}

/// Applies messages as notifications; returns what they changed.
fn apply(v: &mut KernelView, msgs: &[&str]) -> Changes {
    let mut c = Changes::default();
    for m in msgs {
        c.merge(v.apply(&decode(m)));
    }
    c
}

/// Applies a captured dump (ending in NLMSG_DONE) as the kernel module
/// does: bracketed by begin_dump and end_dump.
fn dump(v: &mut KernelView, table: Table, msgs: &[&str]) -> Changes {
    v.begin_dump(table);
    let mut c = Changes::default();
    for m in msgs {
        let m = decode(m);
        if matches!(m.payload, NetlinkPayload::Done(_)) {
            c.merge(v.end_dump());
        } else {
            c.merge(v.apply(&m));
        }
    }
    c
}

/// The box as the start-up dumps show it.
fn started() -> KernelView {
    let mut v = KernelView::new();
    dump(&mut v, Table::Links, DUMP_LINKS);
    dump(&mut v, Table::Addresses, DUMP_ADDRESSES);
    dump(&mut v, Table::Routes, DUMP_ROUTES);
    dump(&mut v, Table::Neighbours, DUMP_NEIGHBOURS_EMPTY);
    v
}

fn gw(addr: Ipv4Addr, metric: u32) -> Option<Gateway> {
    Some(Gateway { addr, metric })
}

#[test]
fn the_start_up_dumps_give_links_addresses_and_the_default_route() {
    let v = started();
    assert_eq!(v.index_of("lo"), Some(LO));
    assert_eq!(v.index_of("wan0"), Some(WAN));
    assert_eq!(v.index_of("lan0"), Some(LAN));
    assert_eq!(v.index_of("eth9"), None);
    let wan = v.link(WAN).expect("wan0");
    assert!(wan.up && wan.carrier);
    assert_eq!(wan.mtu, 1500);
    assert_eq!(wan.mac, Some(Mac([2, 0, 0, 0, 1, 1])));
    assert_eq!(wan.to_string(), "wan0 up, mtu 1500, 02:00:00:00:01:01");
    assert_eq!(v.addresses(WAN), vec![ip(198, 18, 0, 1)]);
    assert_eq!(v.primary_address(LAN), Some(ip(192, 168, 50, 1)));
    assert_eq!(v.primary_address(LO), Some(ip(127, 0, 0, 1)));
    assert_eq!(v.gateway(WAN), gw(ip(198, 18, 0, 2), 100));
    assert_eq!(
        v.gateway(LAN),
        None,
        "the local table's routes are not default routes"
    );
    assert_eq!(v.neighbour(WAN, ip(198, 18, 0, 2)), None);
}

#[test]
fn an_address_added_then_the_primary_removed_promotes_the_secondary() {
    let mut v = started();
    let c = apply(&mut v, ADDR_ADD_SECONDARY);
    assert_eq!(c.addresses.iter().copied().collect::<Vec<_>>(), vec![WAN]);
    assert!(!c.routes, "a local-table route is no default route");
    assert_eq!(v.addresses(WAN), vec![ip(198, 18, 0, 1), ip(198, 18, 0, 5)]);
    assert_eq!(v.primary_address(WAN), Some(ip(198, 18, 0, 1)));

    let c = apply(&mut v, ADDR_DEL_PRIMARY);
    assert!(c.addresses.contains(&WAN));
    assert!(
        c.routes_unannounced,
        "an address removal asks for the routes"
    );
    assert_eq!(v.addresses(WAN), vec![ip(198, 18, 0, 5)]);
    assert_eq!(v.primary_address(WAN), Some(ip(198, 18, 0, 5)));
    assert_eq!(v.gateway(WAN), gw(ip(198, 18, 0, 2), 100), "unchanged");
    assert_eq!(v.addresses(LAN), vec![ip(192, 168, 50, 1)], "unchanged");

    let c = apply(&mut v, ADDR_FLUSH);
    assert!(c.addresses.contains(&WAN));
    assert_eq!(v.addresses(WAN), Vec::<Ipv4Addr>::new());
    assert_eq!(v.primary_address(WAN), None);
}

#[test]
fn the_default_route_with_the_lowest_metric_wins_and_a_replacement_takes_its_place() {
    let mut v = started();
    let c = apply(&mut v, ROUTE_ADD_METRIC_50);
    assert!(c.routes);
    assert_eq!(v.gateway(WAN), gw(ip(198, 18, 0, 3), 50));

    // Same prefix and metric: the route via .3 is replaced, not joined.
    let c = apply(&mut v, ROUTE_REPLACE_METRIC_50);
    assert!(c.routes);
    assert_eq!(v.gateway(WAN), gw(ip(198, 18, 0, 2), 50));

    let c = apply(&mut v, ROUTE_DEL_METRIC_50);
    assert!(c.routes);
    assert_eq!(
        v.gateway(WAN),
        gw(ip(198, 18, 0, 2), 100),
        "the metric 100 route again"
    );
    // Deleting it again changes nothing.
    assert!(apply(&mut v, ROUTE_DEL_METRIC_50).is_empty());
}

#[test]
fn routes_of_another_table_or_interface_do_not_move_the_wan_gateway() {
    let mut v = started();
    let c = apply(&mut v, ROUTE_OTHER_TABLE);
    assert!(c.is_empty(), "table 100 is not followed: {c:?}");
    let c = apply(&mut v, ROUTE_VIA_LAN);
    assert!(c.routes, "a main-table default route changed");
    assert_eq!(v.gateway(WAN), gw(ip(198, 18, 0, 2), 100));
    assert_eq!(v.gateway(LAN), gw(ip(192, 168, 50, 7), 10));
}

#[test]
fn a_multipath_default_route_gives_its_hops() {
    let mut v = KernelView::new();
    assert!(apply(&mut v, ROUTE_MULTIPATH).routes);
    assert_eq!(v.gateway(WAN), gw(ip(198, 18, 0, 2), 200), "the first hop");
    // Beside the single-path route of metric 100, that one wins.
    let mut v = started();
    apply(&mut v, ROUTE_MULTIPATH);
    assert_eq!(v.gateway(WAN), gw(ip(198, 18, 0, 2), 100));
}

#[test]
fn neighbours_go_reachable_stale_probe_and_failed() {
    let mut v = started();
    let gw = ip(198, 18, 0, 2);
    let mac = Mac([2, 0, 0, 0, 1, 2]);
    let c = apply(&mut v, NEIGH_WAN_REACHABLE);
    assert_eq!(
        c.neighbours.iter().copied().collect::<Vec<_>>(),
        vec![(WAN, gw)]
    );
    let n = v.neighbour(WAN, gw).expect("entry");
    assert_eq!((n.state, n.usable_mac()), (Nud::Reachable, Some(mac)));
    assert_eq!(v.neighbour(LAN, gw), None, "another interface's entry");
    assert!(
        apply(&mut v, NEIGH_WAN_REACHABLE).is_empty(),
        "the same again"
    );

    apply(&mut v, NEIGH_WAN_STALE);
    let n = v.neighbour(WAN, gw).expect("entry");
    assert_eq!(n.state, Nud::Stale);
    assert_eq!(n.usable_mac(), Some(mac), "a stale MAC is still sent to");

    apply(&mut v, &NEIGH_WAN_REVALIDATED[..1]);
    assert_eq!(v.neighbour(WAN, gw).map(|n| n.state), Some(Nud::Probe));
    apply(&mut v, &NEIGH_WAN_REVALIDATED[1..]);
    assert_eq!(v.neighbour(WAN, gw).map(|n| n.state), Some(Nud::Reachable));

    let host = ip(192, 168, 50, 11);
    apply(&mut v, NEIGH_LAN_REACHABLE);
    assert_eq!(
        v.neighbour(LAN, host).and_then(|n| n.usable_mac()),
        Some(Mac([2, 0, 0, 0, 2, 11]))
    );

    let lost = ip(198, 18, 0, 99);
    let c = apply(&mut v, NEIGH_FAILED);
    assert!(c.neighbours.contains(&(WAN, lost)));
    let n = v.neighbour(WAN, lost).expect("entry");
    assert_eq!((n.state, n.mac, n.usable_mac()), (Nud::Failed, None, None));
    assert_eq!(n.state.to_string(), "failed");
}

#[test]
fn a_link_going_down_loses_its_neighbours_and_a_route_dump_its_default_route() {
    let mut v = started();
    dump(&mut v, Table::Neighbours, DUMP_NEIGHBOURS);
    assert_eq!(
        v.neighbour(WAN, ip(198, 18, 0, 99)).map(|n| n.state),
        Some(Nud::Failed)
    );

    let c = apply(&mut v, LINK_DOWN);
    assert!(c.links.contains(&WAN));
    assert!(c.routes_unannounced, "the kernel drops the routes silently");
    let wan = v.link(WAN).expect("still there");
    assert!(!wan.up);
    assert_eq!(wan.to_string(), "wan0 down, mtu 1500, 02:00:00:00:01:01");
    assert_eq!(v.neighbour(WAN, ip(198, 18, 0, 2)), None);
    assert_eq!(v.neighbour(WAN, ip(198, 18, 0, 99)), None);
    assert!(v.neighbour(LAN, ip(192, 168, 50, 11)).is_some());
    assert!(v.gateway(WAN).is_some(), "no notification removed it");

    let c = dump(&mut v, Table::Routes, DUMP_ROUTES_AFTER_LINK_DOWN);
    assert!(c.routes);
    assert_eq!(v.gateway(WAN), None);
    // The dump also holds the default route added through lan0 meanwhile.
    assert_eq!(v.gateway(LAN), gw(ip(192, 168, 50, 7), 10));

    let c = apply(&mut v, LINK_UP);
    assert!(c.links.contains(&WAN) && !c.routes && !c.routes_unannounced);
    assert!(v.link(WAN).is_some_and(|l| l.up));
}

#[test]
fn a_dump_removes_what_it_no_longer_holds() {
    let mut v = started();
    dump(&mut v, Table::Neighbours, DUMP_NEIGHBOURS);
    // As after lost notifications: the dump holds only the LAN host.
    let c = dump(&mut v, Table::Neighbours, DUMP_NEIGHBOURS_AFTER_LINK_DOWN);
    let gone: Vec<_> = c.neighbours.iter().copied().collect();
    assert_eq!(
        gone,
        vec![(WAN, ip(198, 18, 0, 2)), (WAN, ip(198, 18, 0, 99))]
    );
    assert!(v.neighbour(LAN, ip(192, 168, 50, 11)).is_some());
    // The same dump again changes nothing.
    assert!(dump(&mut v, Table::Neighbours, DUMP_NEIGHBOURS_AFTER_LINK_DOWN).is_empty());
    // An address dump after an address was lost.
    apply(&mut v, ADDR_ADD_SECONDARY);
    let c = dump(&mut v, Table::Addresses, DUMP_ADDRESSES);
    assert_eq!(c.addresses.iter().copied().collect::<Vec<_>>(), vec![WAN]);
    assert_eq!(v.addresses(WAN), vec![ip(198, 18, 0, 1)]);
}

#[test]
fn a_deleted_link_takes_its_addresses_routes_and_neighbours() {
    let mut v = started();
    apply(&mut v, ROUTE_VIA_LAN);
    apply(&mut v, NEIGH_LAN_REACHABLE);
    let c = apply(&mut v, LINK_DEL);
    assert!(c.links.contains(&LAN) && c.addresses.contains(&LAN) && c.routes);
    assert!(c.neighbours.contains(&(LAN, ip(192, 168, 50, 11))));
    assert_eq!(v.index_of("lan0"), None);
    assert_eq!(v.link(LAN), None);
    assert_eq!(v.addresses(LAN), Vec::<Ipv4Addr>::new());
    assert_eq!(v.gateway(LAN), None);
    assert_eq!(v.neighbour(LAN, ip(192, 168, 50, 11)), None);
    assert_eq!(
        v.gateway(WAN),
        gw(ip(198, 18, 0, 2), 100),
        "the WAN untouched"
    );
}

#[test]
fn a_datagram_splits_into_its_messages_and_bad_lengths_end_it() {
    let mut datagram = Vec::new();
    for m in DUMP_ROUTES {
        datagram.extend(bytes(m));
    }
    let all: Vec<_> = messages(&datagram).collect();
    assert_eq!(all.len(), DUMP_ROUTES.len());
    assert!(all.iter().all(Result::is_ok));
    assert!(matches!(
        all.last().map(|m| m.as_ref().map(|m| &m.payload)),
        Some(Ok(NetlinkPayload::Done(_)))
    ));

    // Cut short: the last message claims more than is left.
    let cut = &datagram[..datagram.len() - 4];
    let r: Vec<_> = messages(cut).collect();
    assert!(r
        .last()
        .is_some_and(|m| m.as_ref().is_err_and(|e| e.contains("bytes in"))));
    // A zero length does not loop.
    assert_eq!(messages(&[0u8; 32]).count(), 1);
    // A route message whose attributes are cut decodes to an error.
    let mut bad = bytes(DUMP_ROUTES[0]);
    bad.truncate(bad.len() - 6);
    let n = bad.len() as u32;
    bad[..4].copy_from_slice(&n.to_ne_bytes());
    assert!(messages(&bad).all(|m| m.is_err()));
}

#[test]
fn an_overrun_reads_the_four_tables_again_on_a_real_socket() {
    let mut k = Kernel::open().expect("rtnetlink socket and start-up dumps");
    let lo = k.view().index_of("lo").expect("the loopback link");
    let addresses = k.view().addresses(lo);
    assert!(!k.dumping());
    k.overrun();
    assert!(k.dumping());
    assert!(k.take_notes()[0].contains("socket overrun"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while k.dumping() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dumps did not end"
        );
        crate::sys::wait_readable(&[k.fd()], std::time::Duration::from_millis(100));
        k.drain().expect("drain");
    }
    assert_eq!(
        k.view().index_of("lo"),
        Some(lo),
        "still there after the sweep"
    );
    assert_eq!(k.view().addresses(lo), addresses);
    assert!(k.take_notes().is_empty());
}
