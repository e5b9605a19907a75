//! The documentation held to the code:
//! * every key of the configuration file has a row in
//!   `docs/configuration.md`; the keys come from the binary itself
//!   (`masq check-config` on a file that sets every optional table, and
//!   the parser's list of accepted keys for each table);
//! * every metric family of `src/metrics.rs`, every drop reason (the
//!   NAT's, a worker's, the XDP program's) has a row in `docs/metrics.md`;
//! * every relative link of `README.md` and `docs/*.md` leads to a file,
//!   and to a heading of it when it names one.
//!
//! A key or family row is a table row whose first cell is the name in
//! backticks: ``| `timeouts.udp` | ...``.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod common;

/// A file that sets every optional part of the configuration, so that
/// `check-config` prints every key: deterministic NAT, a port forward, both
/// log outputs with session records.
const EVERYTHING: &str = r#"
lan = "lan0"
wan = "wan0"
mode = "snat"
inside = ["100.64.0.0/24"]
pool = ["203.0.113.0/28"]
exclude = ["198.51.100.0/24"]
mss_clamp = 1360

[deterministic]
ports_per_subscriber = 2016

[[static]]
proto = "tcp"
inside = "100.64.0.80:80"
outside = "203.0.113.1:80"

[log]
ipfix = "192.0.2.10:4739"
syslog = "stderr"
sessions = true
destinations = true
"#;

/// A key no table accepts, put in each table to make the parser list the
/// keys it accepts there.
const PROBE: &str = "masq_docs_probe";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("control/ has a parent")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The effective configuration of [`EVERYTHING`], as `check-config`
/// prints it.
fn effective() -> toml::Table {
    let (ok, out, err) = common::check_config("everything.toml", EVERYTHING);
    assert!(
        ok,
        "check-config refused the file that sets everything: {err}"
    );
    toml::from_str(&out).unwrap_or_else(|e| panic!("check-config printed bad TOML: {e}\n{out}"))
}

/// The tables of a configuration: (name, the table or the first entry of
/// an array of tables).
fn tables(t: &toml::Table) -> Vec<(String, &toml::Table)> {
    t.iter()
        .filter_map(|(k, v)| match v {
            toml::Value::Table(inner) => Some((k.clone(), inner)),
            toml::Value::Array(a) => a.first()?.as_table().map(|inner| (k.clone(), inner)),
            _ => None,
        })
        .collect()
}

/// Dotted names of every key in `t` (`lan`, `timeouts.udp`, `static.proto`).
fn printed_keys(t: &toml::Table) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for (k, v) in t {
        let entries: Vec<&toml::Table> = match v {
            toml::Value::Table(inner) => vec![inner],
            toml::Value::Array(a) if a.iter().all(toml::Value::is_table) && !a.is_empty() => {
                a.iter().filter_map(toml::Value::as_table).collect()
            }
            _ => {
                keys.insert(k.clone());
                continue;
            }
        };
        for inner in entries {
            for k2 in inner.keys() {
                keys.insert(format!("{k}.{k2}"));
            }
        }
    }
    keys
}

/// The keys the parser accepts in `table` ("" for the top level): the
/// names serde lists when it refuses an unknown key there.
fn accepted_keys(base: &toml::Table, table: &str) -> BTreeSet<String> {
    let mut t = base.clone();
    let target = if table.is_empty() {
        &mut t
    } else {
        match t.get_mut(table) {
            Some(toml::Value::Table(inner)) => inner,
            Some(toml::Value::Array(a)) => a
                .first_mut()
                .and_then(toml::Value::as_table_mut)
                .expect("an array of tables"),
            _ => panic!("no table {table}"),
        }
    };
    target.insert(PROBE.into(), toml::Value::Integer(1));
    let text = toml::to_string(&t).unwrap();
    let (ok, _, err) = common::check_config("probe.toml", &text);
    assert!(
        !ok,
        "check-config accepted the unknown key {PROBE} in [{table}]"
    );
    let after = err
        .split_once(&format!("unknown field `{PROBE}`"))
        .unwrap_or_else(|| panic!("[{table}]: no unknown-field error for {PROBE}: {err}"))
        .1;
    let names: BTreeSet<String> = after
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|n| {
            if table.is_empty() {
                n.to_string()
            } else {
                format!("{table}.{n}")
            }
        })
        .collect();
    assert!(
        !names.is_empty(),
        "[{table}]: no accepted keys listed in: {err}"
    );
    names
}

/// Every key of the configuration file: printed by `check-config`, or
/// accepted by the parser.
fn config_keys() -> BTreeSet<String> {
    let t = effective();
    let mut keys = printed_keys(&t);
    keys.extend(accepted_keys(&t, ""));
    for (name, _) in tables(&t) {
        keys.extend(accepted_keys(&t, &name));
    }
    keys
}

/// Lines of `text` outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push(line);
        }
    }
    out
}

/// The names in backticks that start table rows (``| `name` | ...``).
fn row_names(lines: &[&str]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| {
            let cell = l.strip_prefix('|')?.split('|').next()?.trim();
            let name = cell.strip_prefix('`')?.strip_suffix('`')?;
            (!name.contains('`')).then(|| name.to_string())
        })
        .collect()
}

/// The lines of the section under heading `title` (up to the next heading
/// of the same or a higher level).
fn section<'a>(lines: &[&'a str], title: &str) -> Vec<&'a str> {
    let start = lines
        .iter()
        .position(|l| l.trim_start_matches('#').trim() == title && l.starts_with('#'))
        .unwrap_or_else(|| panic!("no heading {title:?}"));
    let level = lines[start].chars().take_while(|&c| c == '#').count();
    lines[start + 1..]
        .iter()
        .take_while(|l| {
            !(l.starts_with('#') && l.chars().take_while(|&c| c == '#').count() <= level)
        })
        .copied()
        .collect()
}

#[test]
fn every_configuration_key_is_documented() {
    let doc = read(&repo().join("docs/configuration.md"));
    let rows = row_names(&prose(&doc));
    let keys = config_keys();
    for want in [
        "lan",
        "timeouts.udp",
        "log.ipfix",
        "static.proto",
        "deterministic.ports_per_subscriber",
    ] {
        assert!(
            keys.contains(want),
            "{want} not found among the keys: {keys:?}"
        );
    }
    // A key that is a table is documented by rows of its keys.
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !rows.contains(*k) && !rows.iter().any(|r| r.starts_with(&format!("{k}."))))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md has no row for these keys: {missing:?}"
    );
}

#[test]
fn every_documented_key_exists() {
    let doc = read(&repo().join("docs/configuration.md"));
    let keys = config_keys();
    let stale: Vec<String> = row_names(&prose(&doc))
        .into_iter()
        .filter(|r| !keys.contains(r))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/configuration.md documents keys the file does not have: {stale:?}"
    );
}

#[test]
fn every_metric_family_is_documented() {
    let doc = read(&repo().join("docs/metrics.md"));
    let rows = row_names(&prose(&doc));
    let exported = common::exported();
    assert!(exported.contains("masq_packets_total"), "{exported:?}");
    let missing: Vec<&String> = exported.iter().filter(|f| !rows.contains(*f)).collect();
    assert!(
        missing.is_empty(),
        "docs/metrics.md has no row for these families: {missing:?}"
    );
    let stale: Vec<&String> = rows
        .iter()
        .filter(|r| r.starts_with("masq_") && !exported.contains(*r))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/metrics.md documents families masq does not export: {stale:?}"
    );
}

#[test]
fn every_drop_reason_is_documented() {
    let doc = read(&repo().join("docs/metrics.md"));
    let lines = prose(&doc);
    let nat_and_worker = row_names(&section(&lines, "Drop reasons"));
    let xdp = row_names(&section(&lines, "Drops in the XDP program"));
    let want: Vec<(&str, &BTreeSet<String>)> = masq_core::DropReason::ALL
        .iter()
        .map(|r| (r.name(), &nat_and_worker))
        .chain(
            masq_xsk::worker::Io::DROPS
                .iter()
                .map(|(_, n)| (*n, &nat_and_worker)),
        )
        .chain(masq_xsk::xdp::DROP_REASONS.iter().map(|n| (*n, &xdp)))
        .collect();
    let missing: Vec<&str> = want
        .into_iter()
        .filter(|(reason, rows)| !rows.contains(*reason))
        .map(|(reason, _)| reason)
        .collect();
    assert!(
        missing.is_empty(),
        "docs/metrics.md has no row for these drop reasons in their section: {missing:?}"
    );
}

/// GitHub's anchor of a heading: lower case, punctuation removed, spaces
/// as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The anchors of a Markdown file's headings (repeats get `-1`, `-2`, ...).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in prose(text) {
        if !line.starts_with('#') {
            continue;
        }
        let s = slug(line.trim_start_matches('#'));
        let n = seen.entry(s.clone()).or_insert(0);
        out.insert(if *n == 0 {
            s.clone()
        } else {
            format!("{s}-{n}")
        });
        *n += 1;
    }
    out
}

/// The targets of the inline links `[text](target)` of a Markdown text,
/// outside code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        // Inline code spans are not links.
        let plain: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect();
        let mut rest = plain.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            out.push(rest[..end].trim().to_string());
            rest = &rest[end..];
        }
    }
    out
}

fn markdown_files() -> Vec<PathBuf> {
    let root = repo();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn relative_links_lead_somewhere() {
    let mut checked = 0;
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = read(&file);
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let dest = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            checked += 1;
            if !dest.exists() {
                broken.push(format!("{}: {target}: no such file", file.display()));
                continue;
            }
            if let Some(a) = anchor {
                if dest.extension().is_some_and(|x| x == "md") && !anchors(&read(&dest)).contains(a)
                {
                    broken.push(format!(
                        "{}: {target}: no heading with that anchor",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_helpers_read_markdown_as_github_does() {
    assert_eq!(
        slug(" The core benchmark (`scripts/bench.sh core`)"),
        "the-core-benchmark-scriptsbenchsh-core"
    );
    assert_eq!(slug(" `[log]`: NAT event logging"), "log-nat-event-logging");
    assert_eq!(
        links("see [a](x.md#y), `[no](code)` and [b](../c.png)\n```\n[no](fenced)\n```\n"),
        vec!["x.md#y", "../c.png"]
    );
    assert!(anchors("# A\n## A\n").contains("a-1"));
}
