//! The record of masq's attached XDP programs: one line `IFNAME ID` per
//! interface, in a file beside the admin socket (`ADMIN_SOCKET.xdp`),
//! written once both programs are attached and removed at a clean stop. A
//! run started after a killed one reads it to recognise the programs that
//! run left behind by their ids, which needs no privilege, where reading a
//! program's name needs CAP_SYS_ADMIN (which `control/masq.service` does
//! not grant).

use std::path::{Path, PathBuf};

/// The record's path for an admin socket.
pub(super) fn path(admin_socket: &Path) -> PathBuf {
    let mut p = admin_socket.as_os_str().to_owned();
    p.push(".xdp");
    PathBuf::from(p)
}

/// The program ids recorded for `ifname` (none when there is no record);
/// lines that do not parse are skipped with a warning.
pub(super) fn read(admin_socket: &Path, ifname: &str) -> Vec<u32> {
    let p = path(admin_socket);
    let Ok(text) = std::fs::read_to_string(&p) else {
        return Vec::new();
    };
    parse(&text, ifname).unwrap_or_else(|line| {
        eprintln!(
            "masq: warning: {}: ignored, line {line:?} is not IFNAME ID",
            p.display()
        );
        Vec::new()
    })
}

/// The ids of `ifname` in a record, or the first line that is not
/// `IFNAME ID`.
fn parse<'a>(text: &'a str, ifname: &str) -> Result<Vec<u32>, &'a str> {
    let mut ids = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut w = line.split_whitespace();
        let (Some(name), Some(id), None) = (w.next(), w.next(), w.next()) else {
            return Err(line);
        };
        let id: u32 = id.parse().map_err(|_| line)?;
        if name == ifname {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Writes the record of `programs` (interface, program id).
pub(super) fn write(admin_socket: &Path, programs: &[(&str, u32)]) -> Result<(), String> {
    let p = path(admin_socket);
    let text: String = programs
        .iter()
        .map(|(name, id)| format!("{name} {id}\n"))
        .collect();
    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
}

/// Removes the record (a clean stop detached the programs).
pub(super) fn remove(admin_socket: &Path) {
    let _ = std::fs::remove_file(path(admin_socket));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_lines_are_named() {
        let dir = std::env::temp_dir().join(format!("masq-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("masq.sock");
        assert!(read(&sock, "lan0").is_empty(), "no record, no ids");
        write(&sock, &[("lan0", 41), ("wan0", 42)]).unwrap();
        assert_eq!(path(&sock), dir.join("masq.sock.xdp"));
        assert_eq!(read(&sock, "lan0"), [41]);
        assert_eq!(read(&sock, "wan0"), [42]);
        assert!(read(&sock, "eth0").is_empty());
        remove(&sock);
        assert!(!path(&sock).exists());
        let _ = std::fs::remove_dir_all(&dir);

        assert_eq!(parse("lan0 7\n\nlan0 9\n", "lan0"), Ok(vec![7, 9]));
        assert_eq!(parse("lan0 seven\n", "lan0"), Err("lan0 seven"));
        assert_eq!(parse("lan0 7 extra\n", "lan0"), Err("lan0 7 extra"));
        assert_eq!(parse("lan0\n", "wan0"), Err("lan0"));
    }
}
