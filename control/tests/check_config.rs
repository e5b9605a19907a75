//! `masq check-config` as an operator runs it: a good file prints the
//! effective configuration (every default filled in) and exits 0; each bad
//! file exits non-zero with a message naming its key and why.

use std::process::Command;

mod common;

const GOOD: &str = r#"
lan = "lan0"
wan = "wan0"
mode = "snat"
inside = ["192.168.0.0/16"]
pool = ["203.0.113.0/29"]
workers = 1
[timeouts]
udp = 300
"#;

fn check(text: &str) -> (bool, String, String) {
    common::check_config("check.toml", text)
}

#[test]
fn good_file_prints_the_effective_configuration() {
    let (ok, out, err) = check(GOOD);
    assert!(ok, "{err}");
    for want in [
        "mode = \"snat\"",
        "pool = [\"203.0.113.0/29\"]",
        "block_size = 512",
        "metrics_listen = \"127.0.0.1:9469\"",
        "admin_socket = \"/run/masq/masq.sock\"",
        "tcp_established = 7440",
        "block_hold = 120",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[test]
fn bad_files_each_get_their_own_message() {
    // (what, edit of GOOD, words the message must hold)
    let cases: [(&str, &str, &str, &[&str]); 8] = [
        (
            "unknown key",
            "workers = 1",
            "workers = 1\ncolour = \"blue\"",
            &["unknown field", "colour"],
        ),
        (
            "bad prefix",
            "192.168.0.0/16",
            "192.168.0.0/33",
            &["inside", "/33"],
        ),
        (
            "not an address",
            "192.168.0.0/16",
            "192.168.0.300/24",
            &["inside", "192.168.0.300"],
        ),
        (
            "UDP timer under 120 s",
            "udp = 300",
            "udp = 119",
            &["timeouts.udp", "119", "120"],
        ),
        (
            "pool overlapping inside",
            "203.0.113.0/29",
            "192.168.7.0/29",
            &["pool", "overlaps inside prefix 192.168.0.0/16"],
        ),
        (
            "more workers than cores",
            "workers = 1",
            "workers = 4096",
            &["workers", "4096 workers but only"],
        ),
        (
            "metrics address",
            "workers = 1",
            "workers = 1\nmetrics_listen = \"localhost\"",
            &["metrics_listen", "localhost"],
        ),
        (
            "relative admin socket",
            "workers = 1",
            "workers = 1\nadmin_socket = \"masq.sock\"",
            &["admin_socket", "absolute"],
        ),
    ];
    let mut messages = std::collections::HashSet::new();
    for (what, from, to, words) in cases {
        assert!(GOOD.contains(from), "{what}: edit does not apply");
        let (ok, _, err) = check(&GOOD.replace(from, to));
        assert!(!ok, "{what}: accepted");
        for w in words {
            assert!(err.contains(w), "{what}: {w:?} not in {err:?}");
        }
        assert!(
            messages.insert(err.clone()),
            "{what}: same message as another case"
        );
    }
}

#[test]
fn a_missing_file_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_masq"))
        .args(["check-config", "/nonexistent/masq.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/masq.toml"));
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    // `masq check-config FILE | head -1`: the pipe closes before masq
    // writes; masq still exits 0 instead of failing on the broken pipe.
    let dir = std::env::temp_dir().join(format!("masq-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("good.toml");
    std::fs::write(&path, GOOD).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_masq"))
        .arg("check-config")
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
