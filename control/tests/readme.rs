//! README's list of metrics spells out some label values and families by
//! hand; these tests hold it to the tables they come from, so that a drop
//! reason or an AF_XDP statistic added to its table is documented too.

const README: &str = include_str!("../../README.md");

/// The README's paragraph on `/metrics`.
fn metrics_section() -> &'static str {
    let start = README
        .find("* **Prometheus.**")
        .expect("README has no Prometheus paragraph");
    let rest = &README[start + 1..];
    let end = rest.find("\n* ").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

fn assert_named(what: &str, needles: impl IntoIterator<Item = String>) {
    let section = metrics_section();
    for n in needles {
        assert!(
            section.contains(&n),
            "README's Prometheus paragraph does not name {what} {n}"
        );
    }
}

#[test]
fn worker_drop_reasons_are_documented() {
    assert_named(
        "worker drop reason",
        masq_xsk::worker::Io::DROPS
            .iter()
            .map(|(_, n)| format!("`{n}`")),
    );
}

#[test]
fn xdp_drop_reasons_are_documented() {
    let reasons = masq_xsk::xdp::DROP_REASONS.join("|");
    assert_named("the XDP reasons", [format!("reason={reasons}")]);
}

#[test]
fn xsk_families_are_documented() {
    assert_named(
        "AF_XDP family",
        masq_xsk::worker::XSK_STATISTICS
            .iter()
            .map(|(stat, _)| format!("`masq_xsk_{stat}_total`")),
    );
}
