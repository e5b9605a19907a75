//! A cluster as `masq check-config` of several files sees it: one box per
//! configuration file, named by `[routing] name` or the file's stem, and
//! the checks that make the set safe behind ECMP and BGP
//! (docs/scale-out.md). The box must be a pure function of the external
//! address, so the external addresses (pool prefixes, static outside
//! addresses) of two boxes never overlap; a deterministic box serves its
//! own subscribers, so its inside ranges overlap no other box's. Dynamic
//! boxes may share inside ranges (ECMP spreads those subscribers over
//! them). Pure functions over parsed configurations: the caller reads the
//! files.

use std::fmt;
use std::path::{Path, PathBuf};

use masq_core::addr::fmt_addr;
use masq_core::Prefix;
use serde_json::{json, Value};

use crate::config::{external_prefixes, Mode, Origin, RunConfig};

/// One box of the cluster: its name, its file and its configuration.
#[derive(Clone, Debug)]
pub struct Member {
    /// `[routing] name`, else the file's name without its extension.
    pub name: String,
    /// The file, as given.
    pub file: String,
    /// Its configuration.
    pub config: RunConfig,
}

impl Member {
    /// The box of `config`, read from `path`.
    pub fn new(path: &Path, config: RunConfig) -> Member {
        let name = config.routing.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string())
        });
        Member {
            name,
            file: path.display().to_string(),
            config,
        }
    }

    /// Whether this box runs deterministic NAT.
    pub fn deterministic(&self) -> bool {
        self.config.core.deterministic
    }

    /// What the box announces upstream, each with the words that say
    /// where it comes from: the pool's prefixes, then the static outside
    /// addresses the pool lacks (once each).
    pub fn external(&self) -> Vec<(Prefix, String)> {
        external_prefixes(&self.config.core)
            .into_iter()
            .map(|(p, origin)| match origin {
                Origin::Pool => (p, format!("pool {p}")),
                Origin::Static => (p, format!("static {}", fmt_addr(p.addr()))),
            })
            .collect()
    }

    /// Number of external addresses the box announces.
    pub fn addresses(&self) -> u64 {
        self.external().iter().map(|(p, _)| p.size()).sum()
    }

    /// Whether the box announces `addr`.
    pub fn announces(&self, addr: u32) -> bool {
        self.external().iter().any(|(p, _)| p.contains(addr))
    }

    /// The mode as the summary says it.
    pub fn mode(&self) -> &'static str {
        match (self.config.mode, self.deterministic()) {
            (Mode::Masquerade, _) => "masquerade",
            (Mode::Snat, true) => "deterministic",
            (Mode::Snat, false) => "dynamic",
        }
    }

    /// `name (file)`, as every message names a box.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.file)
    }

    /// The summary line of the box.
    pub fn summary(&self) -> String {
        let ext: Vec<String> = self.external().iter().map(|(p, _)| p.to_string()).collect();
        format!(
            "{}: pool {}; {} addresses; {}",
            self.label(),
            ext.join(", "),
            self.addresses(),
            self.mode()
        )
    }

    /// The box as JSON.
    pub fn json(&self) -> Value {
        let c = &self.config.core;
        json!({
            "name": self.name,
            "file": self.file,
            "mode": self.mode(),
            "pool": c.pool.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "announced": self.external().iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>(),
            "addresses": self.addresses(),
            "inside": c.inside.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        })
    }
}

/// An inclusive range of addresses, printed `a-b`, or `a` alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range(pub u32, pub u32);

impl Range {
    fn of(p: Prefix) -> Range {
        Range(p.addr(), p.addr() | !p.mask())
    }

    fn meet(self, o: Range) -> Option<Range> {
        let (lo, hi) = (self.0.max(o.0), self.1.min(o.1));
        (lo <= hi).then_some(Range(lo, hi))
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == self.1 {
            write!(f, "{}", fmt_addr(self.0))
        } else {
            write!(f, "{}-{}", fmt_addr(self.0), fmt_addr(self.1))
        }
    }
}

/// What makes a set of boxes unsafe as one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Two boxes announce the same external addresses.
    External {
        /// The boxes (`name (file)`).
        boxes: [String; 2],
        /// The shared addresses.
        range: Range,
        /// What each box has there (`pool P`, `static A`).
        what: [String; 2],
    },
    /// A deterministic box shares subscribers with another box.
    Inside {
        /// The boxes (`name (file)`).
        boxes: [String; 2],
        /// The shared inside addresses.
        range: Range,
    },
    /// A box in masquerade mode: its external address is the WAN
    /// interface's, no configured pool.
    Masquerade(String),
    /// Two files name the same box.
    SameName {
        /// The name.
        name: String,
        /// The files.
        files: [String; 2],
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::External { boxes, range, what } => {
                let kind = if what.iter().all(|w| w.starts_with("pool")) {
                    "pools"
                } else {
                    "external addresses"
                };
                write!(
                    f,
                    "{} and {}: {kind} overlap on {range} ({}, {}); the box must be a pure \
                     function of the external address",
                    boxes[0], boxes[1], what[0], what[1]
                )
            }
            Problem::Inside { boxes, range } => write!(
                f,
                "{} and {}: subscriber (inside) ranges overlap on {range}; a deterministic \
                 box serves its own subscribers",
                boxes[0], boxes[1]
            ),
            Problem::Masquerade(b) => write!(
                f,
                "{b}: masquerade mode translates to the WAN interface's address, not a \
                 configured pool, so no check can keep it apart from the others; a box of a \
                 cluster runs mode = \"snat\" with a pool of its own"
            ),
            Problem::SameName { name, files } => write!(
                f,
                "{} and {} both name the box {name:?}; give each a [routing] name of its own",
                files[0], files[1]
            ),
        }
    }
}

/// Every problem of the set, in the order of the files: duplicate names,
/// masquerade boxes, then each pair's overlaps.
pub fn check(boxes: &[Member]) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, a) in boxes.iter().enumerate() {
        if let Some(b) = boxes[..i].iter().find(|b| b.name == a.name) {
            out.push(Problem::SameName {
                name: a.name.clone(),
                files: [b.file.clone(), a.file.clone()],
            });
        }
    }
    for b in boxes {
        if b.config.mode == Mode::Masquerade {
            out.push(Problem::Masquerade(b.label()));
        }
    }
    let snat = |b: &&Member| b.config.mode == Mode::Snat;
    for (i, a) in boxes.iter().enumerate().filter(|(_, b)| snat(b)) {
        for b in boxes[i + 1..].iter().filter(snat) {
            let boxes = || [a.label(), b.label()];
            for (p, wp) in a.external() {
                for (q, wq) in b.external() {
                    if let Some(range) = Range::of(p).meet(Range::of(q)) {
                        out.push(Problem::External {
                            boxes: boxes(),
                            range,
                            what: [wp.clone(), wq],
                        });
                    }
                }
            }
            if a.deterministic() || b.deterministic() {
                for &p in &a.config.core.inside {
                    for &q in &b.config.core.inside {
                        if let Some(range) = Range::of(p).meet(Range::of(q)) {
                            out.push(Problem::Inside {
                                boxes: boxes(),
                                range,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// The verdict line of a set without problems.
pub fn verdict(n: usize) -> String {
    format!("cluster: {n} boxes, no overlaps")
}

/// The text `masq check-config` prints for a set without problems.
pub fn summary(boxes: &[Member]) -> String {
    let mut s: String = boxes.iter().map(|b| b.summary() + "\n").collect();
    s += &verdict(boxes.len());
    s.push('\n');
    s
}

/// The set and its verdict as JSON: the boxes read, and the problems
/// (empty: one safe cluster).
pub fn json(boxes: &[Member], problems: &[String]) -> Value {
    json!({
        "boxes": boxes.iter().map(Member::json).collect::<Vec<_>>(),
        "ok": problems.is_empty(),
        "problems": problems,
        "verdict": if problems.is_empty() {
            verdict(boxes.len())
        } else {
            format!("cluster: {} boxes, {} problems", boxes.len(), problems.len())
        },
    })
}

/// Reads every file and checks the set: what to print on standard
/// output (the summary, or the JSON object with `json`) and the problems,
/// one line each (a file's own error names the file). Empty problems:
/// the set is one safe cluster.
pub fn check_files(paths: &[PathBuf], json_out: bool) -> (String, Vec<String>) {
    let mut errors = Vec::new();
    let mut boxes = Vec::new();
    for p in paths {
        match crate::config::load(p) {
            Ok(c) => boxes.push(Member::new(p, c)),
            Err(e) => errors.push(e),
        }
    }
    let problems = check(&boxes);
    errors.extend(problems.iter().map(|p| p.to_string()));
    let out = if json_out {
        serde_json::to_string_pretty(&json(&boxes, &errors)).unwrap_or_default() + "\n"
    } else if errors.is_empty() {
        summary(&boxes)
    } else {
        String::new()
    };
    (out, errors)
}

/// The boxes that announce `addr`.
pub fn owners(boxes: &[Member], addr: u32) -> Vec<&Member> {
    boxes.iter().filter(|b| b.announces(addr)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A box from a literal: `name` is the file's stem.
    fn member(name: &str, extra: &str) -> Member {
        let text = format!("lan = \"lan0\"\nwan = \"wan0\"\n{extra}");
        let c = crate::config::parse(&text).unwrap_or_else(|e| panic!("{extra}: {e}"));
        Member::new(&PathBuf::from(format!("d/{name}.toml")), c)
    }

    fn lines(boxes: &[Member]) -> Vec<String> {
        check(boxes).iter().map(|p| p.to_string()).collect()
    }

    const IN: &str = "inside = [\"100.64.0.0/16\"]\n";
    const DET: &str = "[deterministic]\nports_per_subscriber = 1000\n";

    #[test]
    fn overlaps_each_named_once_with_both_boxes() {
        // (case, file of box a, file of box b, the messages)
        let cases: [(&str, String, String, &[&str]); 8] = [
            (
                "a /28 in a /24",
                format!("{IN}pool = [\"198.51.100.0/24\"]\n"),
                format!("{IN}pool = [\"198.51.100.16/28\"]\n"),
                &["a (d/a.toml) and b (d/b.toml): pools overlap on 198.51.100.16-198.51.100.31 \
                   (pool 198.51.100.0/24, pool 198.51.100.16/28)"],
            ),
            (
                "adjacent but disjoint",
                format!("{IN}pool = [\"198.51.100.0/29\"]\n"),
                format!("{IN}pool = [\"198.51.100.8/29\"]\n"),
                &[],
            ),
            (
                "dynamic boxes share subscribers",
                format!("{IN}pool = [\"198.51.100.0/30\"]\n"),
                format!("{IN}pool = [\"198.51.100.4/30\", \"203.0.113.0/31\"]\n"),
                &[],
            ),
            (
                "every overlap, one line each",
                format!("{IN}pool = [\"198.51.100.0/30\", \"203.0.113.0/28\"]\n"),
                format!("{IN}pool = [\"198.51.100.2/32\", \"203.0.113.8/29\"]\n"),
                &[
                    "pools overlap on 198.51.100.2 (pool 198.51.100.0/30, pool 198.51.100.2/32)",
                    "pools overlap on 203.0.113.8-203.0.113.15",
                ],
            ),
            (
                "a static outside address in the other's pool",
                format!(
                    "{IN}pool = [\"198.51.100.0/30\"]\n[[static]]\ninside = \"100.64.0.9\"\n\
                     outside = \"203.0.113.5\"\n[[static]]\nproto = \"tcp\"\n\
                     inside = \"100.64.0.9:80\"\noutside = \"198.51.100.1:80\"\n"
                ),
                format!("{IN}pool = [\"203.0.113.0/29\"]\n"),
                &["external addresses overlap on 203.0.113.5 (static 203.0.113.5, pool 203.0.113.0/29)"],
            ),
            (
                "deterministic subscribers are the box's own",
                format!("inside = [\"100.64.0.0/24\"]\npool = [\"198.51.100.0/30\"]\n{DET}"),
                format!("inside = [\"100.64.0.128/25\"]\npool = [\"198.51.100.4/30\"]\n{DET}"),
                &["a (d/a.toml) and b (d/b.toml): subscriber (inside) ranges overlap on \
                   100.64.0.128-100.64.0.255"],
            ),
            (
                "a dynamic box may not share a deterministic box's subscribers",
                format!("inside = [\"100.64.0.0/24\"]\npool = [\"198.51.100.0/30\"]\n{DET}"),
                format!("{IN}pool = [\"198.51.100.4/30\"]\n"),
                &["subscriber (inside) ranges overlap on 100.64.0.0-100.64.0.255"],
            ),
            (
                "deterministic boxes side by side",
                format!("inside = [\"100.64.0.0/25\"]\npool = [\"198.51.100.0/30\"]\n{DET}"),
                format!("inside = [\"100.64.0.128/25\"]\npool = [\"198.51.100.4/30\"]\n{DET}"),
                &[],
            ),
        ];
        for (case, a, b, want) in cases {
            let got = lines(&[member("a", &a), member("b", &b)]);
            assert_eq!(got.len(), want.len(), "{case}: {got:?}");
            for (g, w) in got.iter().zip(want) {
                assert!(g.contains(w), "{case}: {g:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn masquerade_and_duplicate_names_are_refused() {
        let masq = member("m", &format!("mode = \"masquerade\"\n{IN}"));
        let a = member("a", &format!("{IN}pool = [\"198.51.100.0/30\"]\n"));
        let got = lines(&[a.clone(), masq]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("m (d/m.toml): masquerade mode") && got[0].contains("snat"),
            "{got:?}"
        );
        let named = member(
            "other",
            &format!("{IN}pool = [\"203.0.113.0/30\"]\n[routing]\nname = \"a\"\n"),
        );
        assert_eq!(named.name, "a");
        let got = lines(&[a, named]);
        assert_eq!(
            got,
            [
                "d/a.toml and d/other.toml both name the box \"a\"; give each a [routing] name \
              of its own"
            ]
        );
    }

    #[test]
    fn summary_json_and_owners() {
        let a = member(
            "a",
            &format!(
                "{IN}pool = [\"198.51.100.0/28\"]\n[[static]]\ninside = \"100.64.0.9\"\n\
                 outside = \"203.0.113.5\"\n"
            ),
        );
        let b = member(
            "b",
            &format!("inside = [\"100.65.0.0/24\"]\npool = [\"198.51.100.16/30\"]\n{DET}"),
        );
        let boxes = [a, b];
        assert!(check(&boxes).is_empty());
        assert_eq!(
            summary(&boxes),
            "a (d/a.toml): pool 198.51.100.0/28, 203.0.113.5/32; 17 addresses; dynamic\n\
             b (d/b.toml): pool 198.51.100.16/30; 4 addresses; deterministic\n\
             cluster: 2 boxes, no overlaps\n"
        );
        let j = json(&boxes, &[]);
        assert_eq!(j["ok"], true);
        assert_eq!(j["boxes"][1]["mode"], "deterministic");
        assert_eq!(j["boxes"][0]["announced"][1], "203.0.113.5/32");
        assert_eq!(j["verdict"], "cluster: 2 boxes, no overlaps");
        let names = |a: &str| {
            owners(&boxes, u32::from(a.parse::<std::net::Ipv4Addr>().unwrap()))
                .iter()
                .map(|b| b.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("198.51.100.15"), ["a"]);
        assert_eq!(names("203.0.113.5"), ["a"]);
        assert_eq!(names("198.51.100.17"), ["b"]);
        assert!(names("198.51.100.20").is_empty());
    }
}
