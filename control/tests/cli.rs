//! The command line reads the same way in every subcommand: `--config`
//! wherever a file is read (check-config also takes it positionally),
//! `--external IP[:PORT]` with one meaning, `--json` on every read
//! command, and bad arguments named in the error.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const DETERMINISTIC: &str = r#"
lan = "lan0"
wan = "wan0"
mode = "snat"
inside = ["100.64.0.0/24"]
pool = ["203.0.113.0/30"]
admin_socket = "/nonexistent/masq-cli-test.sock"
[deterministic]
ports_per_subscriber = 1000
"#;

/// Writes `text` to a file of this test process and returns its path.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("masq-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn masq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_masq"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_config_takes_the_file_either_way_and_prints_json() {
    let f = file("det.toml", DETERMINISTIC);
    let f = f.to_str().unwrap();
    let positional = stdout(&masq(&["check-config", f]));
    let flag = stdout(&masq(&["check-config", "--config", f]));
    assert_eq!(positional, flag);
    let v: Value = serde_json::from_str(&stdout(&masq(&["check-config", "-c", f, "--json"])))
        .expect("check-config --json prints JSON");
    assert_eq!(v["mode"], "snat");
    assert_eq!(v["inside"][0], "100.64.0.0/24");
    assert_eq!(v["cores"], Value::Array(vec![0.into()]));
    assert!(v["timeouts"]["udp"].is_number(), "{v}");
    // Both, or neither, is a usage error.
    assert!(stderr(&masq(&["check-config", "--config", f, f])).contains("cannot be used"));
    assert!(stderr(&masq(&["check-config"])).contains("--config"));
}

#[test]
fn lookup_external_with_or_without_port_and_json() {
    let f = file("det-lookup.toml", DETERMINISTIC);
    let f = f.to_str().unwrap();
    let one = stdout(&masq(&[
        "lookup",
        "--config",
        f,
        "--external",
        "203.0.113.1:8000",
    ]));
    assert_eq!(
        one,
        "deterministic: inside 100.64.0.70 -> external 203.0.113.1 ports 7024-8023\n"
    );
    let all = stdout(&masq(&["lookup", "-c", f, "--external", "203.0.113.1"]));
    assert_eq!(all.lines().count(), 64, "{all}");
    assert!(all.contains(one.trim()), "{all}");
    let v: Value = serde_json::from_str(&stdout(&masq(&[
        "lookup",
        "-c",
        f,
        "--inside",
        "100.64.0.70",
        "--json",
    ])))
    .unwrap();
    assert_eq!(v["query"], "inside 100.64.0.70");
    assert_eq!(v["answers"][0]["external"], "203.0.113.1");
    assert_eq!(v["answers"][0]["last_port"], 8023);
}

#[test]
fn bad_external_arguments_are_named() {
    let f = file("det-bad.toml", DETERMINISTIC);
    let f = f.to_str().unwrap();
    for (arg, words) in [
        ("203.0.113.1:0", "0: not a port"),
        ("203.0.113.1:70000", "70000: not a port"),
        ("203.0.113:80", "203.0.113: not an IPv4 address"),
        ("host", "host: not an IPv4 address"),
    ] {
        for cmd in [
            vec!["lookup", "-c", f, "--external", arg],
            vec!["sessions", "--external", arg],
            vec!["flush", "--external", arg],
        ] {
            let e = stderr(&masq(&cmd));
            assert!(e.contains(words), "{cmd:?}: {e}");
        }
    }
}

#[test]
fn admin_commands_find_the_socket_through_the_config() {
    let f = file("det-socket.toml", DETERMINISTIC);
    let f = f.to_str().unwrap();
    for cmd in ["sessions", "subscribers", "stats", "flush"] {
        let e = stderr(&masq(&[cmd, "--config", f]));
        assert!(e.contains("/nonexistent/masq-cli-test.sock"), "{cmd}: {e}");
        let e = stderr(&masq(&[cmd, "--config", "/nonexistent/masq.toml"]));
        assert!(e.contains("/nonexistent/masq.toml"), "{cmd}: {e}");
    }
    for cmd in ["sessions", "subscribers", "stats"] {
        let help = stdout(&masq(&[cmd, "--help"]));
        assert!(help.contains("--json"), "{cmd} has no --json");
    }
}

/// check-config says how the box and the NAT share the WAN address: the
/// kernel's ports, the NAT's, and the blocks reserved, in text and JSON.
#[test]
fn check_config_explains_how_the_box_and_the_nat_share_the_address() {
    let text = "lan = \"lan0\"\nwan = \"wan0\"\nmode = \"masquerade\"\n\
                inside = [\"192.168.0.0/16\"]\nkernel_ports = \"32768-60999\"\n";
    let f = file("share.toml", text);
    let f = f.to_str().unwrap();
    let out = stdout(&masq(&["check-config", f]));
    assert!(out.contains("kernel_ports = \"32768-60999\"\n"), "{out}");
    for want in [
        "# kernel_ports = 32768-60999: on the WAN address the box's own stack keeps TCP/UDP ports 32768-60999",
        "# on the WAN address the NAT hands out ports and echo identifiers 1024-32767, 61440-65535 (70 of 126 blocks; 56 overlapping the kernel's ports reserved whole)",
        "# ICMP echo on the WAN address: a reply goes to the NAT only while it holds an echo mapping",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let v: Value = serde_json::from_str(&stdout(&masq(&["check-config", "--json", f]))).unwrap();
    let s = &v["address_sharing"];
    assert_eq!(s["kernel_range"], serde_json::json!([32768, 60999]), "{s}");
    assert_eq!(
        s["nat_ports"],
        serde_json::json!([[1024, 32767], [61440, 65535]])
    );
    assert_eq!(
        (s["blocks"].as_u64(), s["reserved_blocks"].as_u64()),
        (Some(126), Some(56))
    );
    assert_eq!(s["addresses"][0], "the WAN address");
    // "none": every block is the NAT's.
    let f = file("share-none.toml", &text.replace("32768-60999", "none"));
    let v: Value = serde_json::from_str(&stdout(&masq(&[
        "check-config",
        "--json",
        f.to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(v["address_sharing"]["reserved_blocks"], 0);
    assert_eq!(
        v["address_sharing"]["nat_ports"],
        serde_json::json!([[1024, 65535]])
    );
    // Deterministic NAT with blocks of the kernel's is refused, naming it.
    let det = "kernel_ports = \"32768-60999\"\nlan = \"lan0\"\nwan = \"wan0\"\n\
               mode = \"masquerade\"\ninside = [\"192.168.0.0/26\"]\n\
               [deterministic]\nports_per_subscriber = 512\n";
    let f = file("share-det.toml", det);
    let e = stderr(&masq(&["check-config", f.to_str().unwrap()]));
    assert!(
        e.contains("kernel_ports: 32768-60999 overlaps 56 deterministic block(s)"),
        "{e}"
    );
    // A bad setting names its key.
    let f = file(
        "share-bad.toml",
        &text.replace("32768-60999", "60999-32768"),
    );
    let e = stderr(&masq(&["check-config", f.to_str().unwrap()]));
    assert!(e.contains("kernel_ports"), "{e}");
}
