//! The Grafana dashboard in `control/grafana/masq-dashboard.json` only
//! queries metric families and drop reasons that masq exports, and its
//! layout is sound (unique panel ids, no overlapping panels).

use std::collections::BTreeSet;

use serde_json::Value;

mod common;
use common::{exported, is_name_byte};

const DASHBOARD: &str = include_str!("../grafana/masq-dashboard.json");

/// Every identifier matching `masq_[a-z0-9_]+` in `text` (not preceded by
/// an identifier character).
fn masq_identifiers(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = text[i..].find("masq_") {
        let start = i + off;
        let mut end = start + "masq_".len();
        while end < bytes.len() && is_name_byte(bytes[end]) {
            end += 1;
        }
        let boundary = start == 0
            || !(bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b':');
        if boundary && end > start + "masq_".len() {
            out.push(&text[start..end]);
        }
        i = end;
    }
    out
}

fn dashboard() -> Value {
    serde_json::from_str(DASHBOARD).expect("masq-dashboard.json is not valid JSON")
}

/// Every panel, rows' nested panels included.
fn all_panels(d: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a [Value], out: &mut Vec<&'a Value>) {
        for p in panels {
            out.push(p);
            if let Some(inner) = p.get("panels").and_then(Value::as_array) {
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(panels) = d.get("panels").and_then(Value::as_array) {
        walk(panels, &mut out);
    }
    out
}

fn title(p: &Value) -> String {
    format!(
        "panel {} ({:?})",
        p.get("id").map_or("<no id>".to_string(), Value::to_string),
        p.get("title")
            .and_then(Value::as_str)
            .unwrap_or("<untitled>")
    )
}

#[test]
fn identity() {
    let d = dashboard();
    assert_eq!(d["uid"], "masq-overview", "dashboard uid");
    assert_eq!(d["schemaVersion"], 39, "dashboard schemaVersion");
    let panels = d["panels"].as_array().expect("\"panels\" is not an array");
    assert!(!panels.is_empty(), "\"panels\" is empty");
}

#[test]
fn the_exported_names_are_found() {
    let names = exported();
    for want in [
        "masq_packets_total",
        "masq_sessions",
        "masq_worker_heartbeat_age_seconds",
        "masq_xsk_tx_ring_empty_total",
    ] {
        assert!(names.contains(want), "{want} not found in src/metrics.rs");
    }
}

#[test]
fn every_expression_uses_exported_metrics() {
    let d = dashboard();
    let names = exported();
    let mut checked = 0;
    for p in all_panels(&d) {
        let Some(targets) = p.get("targets").and_then(Value::as_array) else {
            continue;
        };
        for (k, t) in targets.iter().enumerate() {
            let expr = t
                .get("expr")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{} target {k} has no expr", title(p)));
            for id in masq_identifiers(expr) {
                assert!(
                    names.contains(id),
                    "{} uses {id}, which masq does not export, in {expr:?}",
                    title(p)
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no masq_ metric found in any panel expression");
}

#[test]
fn template_queries_use_exported_metrics() {
    let d = dashboard();
    let names = exported();
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        let q = match &v["query"] {
            Value::String(s) => s.as_str(),
            q => q["query"].as_str().unwrap_or(""),
        };
        for id in masq_identifiers(q) {
            assert!(
                names.contains(id),
                "variable {} uses {id}, which masq does not export, in {q:?}",
                v["name"]
            );
        }
    }
}

#[test]
fn panel_ids_are_unique() {
    let d = dashboard();
    let mut seen = BTreeSet::new();
    for p in all_panels(&d) {
        let id = p["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{} has no numeric id", title(p)));
        assert!(seen.insert(id), "{} reuses id {id}", title(p));
    }
}

#[test]
fn panels_do_not_overlap() {
    let d = dashboard();
    let top = d["panels"].as_array().expect("\"panels\" is not an array");
    let rects: Vec<(String, [u64; 4])> = top
        .iter()
        .map(|p| {
            let g = &p["gridPos"];
            let f = |k: &str| {
                g[k].as_u64()
                    .unwrap_or_else(|| panic!("{} has no gridPos.{k}", title(p)))
            };
            let r = [f("x"), f("y"), f("w"), f("h")];
            assert!(
                r[2] > 0 && r[3] > 0 && r[0] + r[2] <= 24,
                "{} has gridPos {g} outside the 24 columns or empty",
                title(p)
            );
            (title(p), r)
        })
        .collect();
    for (i, (a, [ax, ay, aw, ah])) in rects.iter().enumerate() {
        for (b, [bx, by, bw, bh]) in &rects[i + 1..] {
            let overlap = ax < &(bx + bw) && bx < &(ax + aw) && ay < &(by + bh) && by < &(ay + ah);
            assert!(!overlap, "{a} overlaps {b}");
        }
    }
}

#[test]
fn every_panel_uses_the_datasource_variable() {
    let d = dashboard();
    for p in all_panels(&d) {
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(
            p["datasource"]["uid"],
            "${datasource}",
            "{} datasource",
            title(p)
        );
        for t in p["targets"].as_array().into_iter().flatten() {
            assert_eq!(
                t["datasource"]["uid"],
                "${datasource}",
                "{} target {} datasource",
                title(p),
                t["refId"]
            );
        }
    }
}

/// Every `reason="…"` a panel filters on is a drop reason masq reports
/// (the NAT's, a worker's or the XDP program's), read from their tables.
#[test]
fn drop_reasons_in_expressions_exist() {
    let d = dashboard();
    let known: BTreeSet<&str> = masq_core::DropReason::ALL
        .iter()
        .map(|r| r.name())
        .chain(masq_xsk::worker::Io::DROPS.iter().map(|(_, n)| *n))
        .chain(masq_xsk::xdp::DROP_REASONS)
        .collect();
    let mut checked = 0;
    for p in all_panels(&d) {
        for t in p
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let expr = t.get("expr").and_then(Value::as_str).unwrap_or("");
            for part in expr.split("reason=\"").skip(1) {
                let reason = part.split('"').next().unwrap_or("");
                assert!(
                    known.contains(reason),
                    "{} filters on reason {reason:?}, which masq does not report",
                    title(p)
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no panel filters on a reason");
}
