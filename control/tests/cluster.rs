//! A cluster as an operator checks it and looks up in it: `masq
//! check-config` of several files (each box's file, then the set: every
//! overlap one line naming both boxes, exit 1; a summary and the verdict
//! otherwise), and `masq lookup` with several `--config` (the box that
//! announces the address answers) and with `--at` over the event log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A directory of this test process; each test has its own.
fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("masq-cluster-{}-{test}", std::process::id()));
    std::fs::create_dir_all(d.join("a")).unwrap();
    std::fs::create_dir_all(d.join("b")).unwrap();
    d
}

fn write(d: &Path, name: &str, text: &str) -> String {
    let p = d.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn box_file(d: &Path, name: &str, pool: &str, extra: &str) -> String {
    write(
        d,
        name,
        &format!(
            "lan = \"lan0\"\nwan = \"wan0\"\ninside = [\"100.64.0.0/16\"]\npool = [{pool}]\n{extra}"
        ),
    )
}

fn masq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_masq"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> (bool, String, String) {
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn check_config_of_several_files() {
    let d = dir("check");
    let a = box_file(&d, "a/box1.toml", "\"198.51.100.0/28\"", "");
    let b = box_file(&d, "b/box2.toml", "\"198.51.100.16/28\"", "");
    let (ok, out, err) = text(&masq(&["check-config", &a, &b]));
    assert!(ok, "{err}");
    assert_eq!(
        out,
        format!(
            "box1 ({a}): pool 198.51.100.0/28; 16 addresses; dynamic\n\
             box2 ({b}): pool 198.51.100.16/28; 16 addresses; dynamic\n\
             cluster: 2 boxes, no overlaps\n"
        )
    );
    // One file: the effective configuration, as before.
    let (ok, one, _) = text(&masq(&["check-config", &a]));
    assert!(ok && one.starts_with("lan = \"lan0\"\n"), "{one}");

    // Two overlaps, both named; a third file, named by [routing], clean.
    let c = box_file(
        &d,
        "b/box3.toml",
        "\"198.51.100.8/29\", \"203.0.113.0/30\"",
        "[routing]\nname = \"edge3\"\n",
    );
    let e = box_file(&d, "b/e.toml", "\"203.0.113.2/31\"", "");
    let (ok, out, err) = text(&masq(&["check-config", &a, &b, &c, &e]));
    assert!(!ok && out.is_empty(), "{out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0],
        format!(
            "masq: box1 ({a}) and edge3 ({c}): pools overlap on 198.51.100.8-198.51.100.15 \
             (pool 198.51.100.0/28, pool 198.51.100.8/29); the box must be a pure function of \
             the external address"
        )
    );
    assert!(
        lines[1].starts_with(&format!(
            "masq: edge3 ({c}) and e ({e}): pools overlap on 203.0.113.2-203.0.113.3 "
        )),
        "{err}"
    );

    // A bad file is named, and the others still checked.
    let bad = write(&d, "a/bad.toml", "lan = 1\n");
    let m = write(
        &d,
        "a/m.toml",
        "lan = \"lan0\"\nwan = \"wan0\"\nmode = \"masquerade\"\ninside = [\"100.64.0.0/16\"]\n",
    );
    let (ok, _, err) = text(&masq(&["check-config", &bad, &a, &m]));
    assert!(!ok);
    assert!(err.starts_with(&format!("masq: {bad}: ")), "{err}");
    assert!(
        err.contains("masquerade mode") && err.contains("snat"),
        "{err}"
    );

    // --json: the boxes and the verdict, either way.
    let (ok, out, _) = text(&masq(&["check-config", "--json", &a, &b]));
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["boxes"][1]["name"], "box2");
    assert_eq!(v["boxes"][1]["pool"][0], "198.51.100.16/28");
    assert_eq!(v["verdict"], "cluster: 2 boxes, no overlaps");
    let (ok, out, _) = text(&masq(&["check-config", "--json", &a, &c]));
    assert!(!ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"].as_array().map(Vec::len), Some(1), "{v}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn lookup_across_the_cluster_and_in_time() {
    let d = dir("lookup");
    let det = "[deterministic]\nports_per_subscriber = 1000\n";
    let a = write(
        &d,
        "a/box1.toml",
        &format!(
            "lan = \"lan0\"\nwan = \"wan0\"\ninside = [\"100.65.0.0/24\"]\n\
             pool = [\"203.0.113.0/30\"]\n{det}"
        ),
    );
    let b = box_file(&d, "b/box2.toml", "\"198.51.100.0/28\"", "");
    // Both boxes, the external address, and what follows.
    let ask = |external: &str, more: &[&str]| {
        let mut v = vec!["lookup", "-c", &a, "-c", &b, "--external", external];
        v.extend(more);
        text(&masq(&v))
    };
    let (ok, out, err) = ask("203.0.113.1:8000", &[]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        format!(
            "box: box1 ({a})\n\
             deterministic: inside 100.65.0.70 -> external 203.0.113.1 ports 7024-8023\n"
        )
    );
    let (ok, _, err) = ask("192.0.2.1:80", &[]);
    assert!(!ok);
    assert!(
        err.starts_with("masq: external 192.0.2.1:80: no box of the cluster announces it"),
        "{err}"
    );
    // A dynamic box: the configuration has no answer, the log has.
    let log = write(
        &d,
        "masq.log",
        "<134>1 2026-12-03T09:00:00.000Z nat2 masq - - - block-allocate \
         subscriber=100.64.0.9 external=198.51.100.3 ports=1024-1535 at=5\n\
         <30>1 2026-12-03T09:00:01.000Z nat2 systemd - - - something else\n\
         <134>1 2026-12-03T11:00:00.000Z nat2 masq - - - block-release \
         subscriber=100.64.0.9 external=198.51.100.3 ports=1024-1535 at=7205\n",
    );
    let args = |at: &str| ask("198.51.100.3:1030", &["--at", at, "--log", &log]);
    let (ok, out, err) = args("2026-12-03T10:00:05Z");
    assert!(ok, "{err}");
    let want = format!(
        "box: box2 ({b})\n\
         external 198.51.100.3:1030 at 2026-12-03T10:00:05.000Z:\n\
         block: subscriber 100.64.0.9 held 198.51.100.3 ports 1024-1535 from \
         2026-12-03T09:00:00.000Z ({log}:1) until 2026-12-03T11:00:00.000Z ({log}:3)\n\
         log: 1 file(s), 3 lines: 2 masq lines (2 events on it), 1 other lines skipped, \
         0 unreadable\n"
    );
    assert_eq!(out, want);
    // Seconds since the epoch; after the release nothing held it: exit 1.
    let (ok, out, err) = args("1796302800");
    assert!(!ok);
    assert!(
        out.contains("nothing held it then\nbefore: block: subscriber 100.64.0.9"),
        "{out}"
    );
    assert!(
        err.contains("no holder at 2026-12-03T13:00:00.000Z"),
        "{err}"
    );
    let mut v = vec!["lookup", "--json", "--external", "198.51.100.3:1030"];
    v.extend(["--at", "2026-12-03T10:00:05Z", "--log", &log]);
    let (ok, out, err) = text(&masq(&v));
    assert!(ok, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["log"]["held"][0]["subscriber"], "100.64.0.9");
    assert_eq!(j["log"]["read"]["other_lines"], 1);
    // --at needs --log; a missing log is named.
    let (ok, _, err) = text(&masq(&[
        "lookup",
        "-c",
        &b,
        "--external",
        "198.51.100.3:1",
        "--at",
        "0",
    ]));
    assert!(!ok && err.contains("--log"), "{err}");
    let (ok, _, err) = text(&masq(&[
        "lookup",
        "--external",
        "198.51.100.3:1",
        "--at",
        "0",
        "--log",
        "/nonexistent/x.log",
    ]));
    assert!(!ok && err.contains("/nonexistent/x.log"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
