//! `control/masq.service`: `systemd-analyze verify` accepts it (with the
//! binary and configuration paths pointed at this build and a copy of the
//! example configuration) and refuses copies broken on purpose; its command
//! lines are ones this masq accepts; it bounds masq to the capabilities
//! that setup needs.
//!
//! Without `systemd-analyze` the verification is skipped with the reason
//! printed, unless MASQ_REQUIRE_SYSTEMD is set (scripts/test.sh sets it).

use std::path::{Path, PathBuf};
use std::process::Command;

const UNIT: &str = include_str!("../masq.service");
const EXAMPLE: &str = include_str!("../masq.example.toml");
const BINARY: &str = "/usr/local/bin/masq";
const CONFIG: &str = "/etc/masq/masq.toml";

/// A scratch directory holding the example configuration.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("masq-unit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("masq.toml"), EXAMPLE).unwrap();
    dir
}

/// The unit with its paths pointed at this build and `dir`'s configuration.
fn localized(unit: &str, dir: &Path) -> String {
    unit.replace(BINARY, env!("CARGO_BIN_EXE_masq"))
        .replace(CONFIG, dir.join("masq.toml").to_str().unwrap())
}

/// The values of `key=` lines of the unit, in order.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

fn have_systemd_analyze() -> bool {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("MASQ_REQUIRE_SYSTEMD").is_none(),
            "MASQ_REQUIRE_SYSTEMD is set but systemd-analyze is missing (Debian package systemd)"
        );
        println!("skipped: systemd-analyze is missing (Debian package systemd)");
    }
    found
}

/// `systemd-analyze verify FILE`: whether it exited 0, and the lines it
/// printed about this unit (other units of the host may draw warnings of
/// their own, which are not this test's).
fn verify(dir: &Path, name: &str, text: &str) -> (bool, Vec<String>) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let about: Vec<String> = all
        .lines()
        .filter(|l| l.contains(name) || l.contains(dir.to_str().unwrap()))
        .map(str::to_string)
        .collect();
    (out.status.success(), about)
}

#[test]
fn systemd_analyze_verify_accepts_the_unit_and_refuses_broken_copies() {
    if !have_systemd_analyze() {
        return;
    }
    let dir = scratch("verify");
    let unit = localized(UNIT, &dir);
    let (ok, about) = verify(&dir, "masq.service", &unit);
    assert!(ok && about.is_empty(), "verify: {about:#?}");

    // A directive value systemd does not know: reported, though the exit
    // status stays 0.
    let bad = unit.replace("ProtectSystem=strict", "ProtectSystem=strictest");
    let (_, about) = verify(&dir, "masq-bad-value.service", &bad);
    assert!(about.iter().any(|l| l.contains("strictest")), "{about:#?}");
    // A binary that is not there.
    let bad = unit.replace(env!("CARGO_BIN_EXE_masq"), "/nonexistent/masq");
    let (ok, about) = verify(&dir, "masq-no-binary.service", &bad);
    assert!(!ok && !about.is_empty(), "{about:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn its_command_lines_are_ones_masq_accepts() {
    let dir = scratch("commands");
    let unit = localized(UNIT, &dir);
    let pre = values(&unit, "ExecStartPre");
    assert_eq!(pre.len(), 1, "{pre:?}");
    let words: Vec<&str> = pre[0].split_whitespace().collect();
    assert_eq!(words[0], env!("CARGO_BIN_EXE_masq"));
    let out = Command::new(words[0]).args(&words[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        pre[0],
        String::from_utf8_lossy(&out.stderr)
    );

    // `masq run` is not run here (it needs interfaces and root): its
    // options are checked against `masq run --help`.
    let start = values(&unit, "ExecStart");
    assert_eq!(start.len(), 1, "{start:?}");
    let words: Vec<&str> = start[0].split_whitespace().collect();
    assert_eq!(
        &words[..3],
        &[env!("CARGO_BIN_EXE_masq"), "run", "--config"]
    );
    assert_eq!(words[3], dir.join("masq.toml").to_str().unwrap());
    let help = Command::new(words[0])
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--config <CONFIG>"));

    assert_eq!(values(&unit, "ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert_eq!(values(&unit, "Restart"), ["on-failure"]);
    assert_eq!(values(&unit, "Type"), ["simple"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn it_bounds_masq_to_what_setup_needs() {
    let set: Vec<&str> = values(UNIT, "CapabilityBoundingSet")
        .iter()
        .flat_map(|v| v.split_whitespace())
        .collect();
    assert_eq!(
        set,
        [
            "CAP_NET_ADMIN",
            "CAP_NET_RAW",
            "CAP_BPF",
            "CAP_PERFMON",
            "CAP_IPC_LOCK"
        ]
    );
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("RuntimeDirectory", "masq"),
        (
            "RestrictAddressFamilies",
            "AF_INET AF_INET6 AF_UNIX AF_NETLINK AF_XDP",
        ),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
    ] {
        assert_eq!(values(UNIT, key), [value], "{key}");
    }
    // The admin socket's default lives in the runtime directory, the one
    // place ProtectSystem=strict leaves writable.
    assert!(
        masq_control::config::DEFAULT_SOCKET.starts_with("/run/masq/"),
        "{}",
        masq_control::config::DEFAULT_SOCKET
    );
}
