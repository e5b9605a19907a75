//! What CI runs of the fuzz targets (dataplane/core/fuzz): every committed
//! seed, then a few thousand pseudo-random inputs from a fixed PRNG seed,
//! raw and structured, through `masq_tests::fuzz::run` and `views` (targets
//! `entry` and `views`), `masq_tests::fuzz::icmp_error::run` (`icmp_error`)
//! `masq_tests::fuzz_config::run` (`config`) and `masq_tests::fuzz_pcp::run`
//! (`pcp`).
//!
//! `MASQ_WRITE_SEEDS=1 cargo test -p masq-tests --test fuzz_replay` writes
//! the seed files again from `masq_tests::fuzz::seeds`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use masq_tests::fuzz::{self, icmp_error, kind, seeds};
use masq_tests::{fuzz_config, fuzz_pcp};

fn seed_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dataplane/core/fuzz/seeds")
        .join(target)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs `f` on `data`; on a panic, fails naming the input in hex so it can
/// be replayed (`echo HEX | xxd -r -p > crash; cargo fuzz run entry crash`).
fn replay(what: &str, data: &[u8], f: fn(&[u8])) {
    if catch_unwind(AssertUnwindSafe(|| f(data))).is_err() {
        panic!("{what} failed on input {}", hex(data));
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).expect("read seed"),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn seeds_are_current() {
    let write = std::env::var_os("MASQ_WRITE_SEEDS").is_some();
    for (target, list) in [
        ("entry", seeds::entry()),
        ("views", seeds::views()),
        ("icmp_error", icmp_error::seeds()),
        ("config", fuzz_config::seeds()),
        ("pcp", fuzz_pcp::seeds()),
    ] {
        let dir = seed_dir(target);
        if write {
            std::fs::create_dir_all(&dir).expect("create seed dir");
            for (name, bytes) in &list {
                std::fs::write(dir.join(name), bytes).expect("write seed");
            }
            continue;
        }
        // Views seeds are frames from the shared builders, config seeds
        // include what `check-config` prints: both may change under us and
        // only need to exist. Entry and icmp_error seeds are scripts and
        // must match exactly, and so must the pcp seeds (plain bytes).
        if target == "views" || target == "config" {
            for (name, _) in &list {
                assert!(
                    dir.join(name).is_file(),
                    "seed {target}/{name} is missing: MASQ_WRITE_SEEDS=1 cargo test -p masq-tests --test fuzz_replay"
                );
            }
            continue;
        }
        for (name, bytes) in &list {
            let on_disk = std::fs::read(dir.join(name)).unwrap_or_default();
            assert!(
                on_disk == *bytes,
                "seed {target}/{name} is stale: MASQ_WRITE_SEEDS=1 cargo test -p masq-tests --test fuzz_replay"
            );
        }
    }
}

#[test]
fn entry_seeds() {
    let on_disk = files(&seed_dir("entry"));
    assert!(on_disk.len() >= 24, "only {} entry seeds", on_disk.len());
    for (name, data) in on_disk.iter().chain(&seeds::entry()) {
        replay(&format!("entry seed {name}"), data, fuzz::run);
    }
}

#[test]
fn views_seeds() {
    for (name, data) in files(&seed_dir("views")).iter().chain(&seeds::views()) {
        replay(&format!("views seed {name}"), data, fuzz::views);
        for cut in 0..data.len().min(80) {
            replay(
                &format!("views seed {name} cut at {cut}"),
                &data[..cut],
                fuzz::views,
            );
        }
    }
}

/// xorshift64*: small, deterministic, good enough to pick bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A byte that is mostly small (selectors of the first few entries).
    fn small(&mut self) -> u8 {
        match self.below(4) {
            0 => self.byte(),
            _ => self.below(8) as u8,
        }
    }
}

/// A random program: mostly well-formed operations with small selectors,
/// so flows get answered, tables fill and timers run.
fn structured(rng: &mut Rng) -> Vec<u8> {
    let mut v = vec![rng.byte()];
    for _ in 0..rng.below(60) + 1 {
        let k = match rng.below(16) {
            0..=3 => kind::UDP,
            4..=6 => kind::TCP,
            7 => kind::ECHO,
            8 => kind::ICMP_ERROR,
            9..=11 => kind::REPLY,
            12 => kind::RAW,
            13 | 14 => kind::TIME,
            _ => kind::RESEND,
        };
        let mut op = k;
        if rng.below(4) == 0 {
            op |= (rng.below(4) as u8) << 3;
        }
        if rng.below(4) == 0 {
            op |= 0x20;
        }
        if rng.below(8) == 0 {
            op |= 0x40;
        }
        if rng.below(12) == 0 {
            op |= 0x80;
        }
        v.push(op);
        let n = match k {
            kind::TIME => 2,
            kind::RESEND => 1,
            kind::REPLY => 3,
            kind::RAW => {
                let len = rng.below(64) as u8;
                v.push(len);
                v.push(rng.byte());
                for _ in 0..len {
                    v.push(rng.byte());
                }
                0
            }
            _ => 5,
        };
        for _ in 0..n {
            let b = rng.small();
            v.push(b);
        }
        if op & 0x40 != 0 {
            v.push(rng.byte());
        }
        if op & 0x80 != 0 {
            let c = rng.byte();
            v.push(c);
            for _ in 0..=(c & 3) {
                v.push(rng.byte());
                v.push(rng.byte());
            }
        }
    }
    v
}

#[test]
fn random_inputs() {
    let mut rng = Rng(0x6d61_7371_2d66_757a);
    let seeds: Vec<Vec<u8>> = seeds::entry().into_iter().map(|(_, b)| b).collect();
    for i in 0..3000 {
        let data = match i % 3 {
            0 => (0..rng.below(300)).map(|_| rng.byte()).collect(),
            1 => structured(&mut rng),
            _ => {
                // A seed with a few bytes changed, cut or extended.
                let mut d = seeds[rng.below(seeds.len())].clone();
                for _ in 0..rng.below(4) + 1 {
                    let at = rng.below(d.len());
                    d[at] = rng.byte();
                }
                match rng.below(4) {
                    0 => d.truncate(rng.below(d.len()) + 1),
                    1 => d.extend_from_slice(&structured(&mut rng)[1..]),
                    _ => {}
                }
                d
            }
        };
        replay("entry", &data, fuzz::run);
        replay("views", &data, fuzz::views);
    }
}

/// `MASQ_TRACE=HEX cargo test -p masq-tests --test fuzz_replay trace -- --nocapture`
/// prints what an input does, frame by frame; `MASQ_TRACE=seeds` does so
/// for every entry seed.
#[test]
fn trace() {
    let Ok(what) = std::env::var("MASQ_TRACE") else {
        return;
    };
    let inputs: Vec<(String, Vec<u8>)> = if what == "seeds" {
        seeds::entry()
    } else {
        let b = (0..what.len() / 2)
            .map(|i| u8::from_str_radix(&what[2 * i..2 * i + 2], 16).expect("hex"))
            .collect();
        vec![("input".to_string(), b)]
    };
    for (name, data) in inputs {
        println!("== {name}");
        for line in fuzz::trace(&data) {
            println!("  {line}");
        }
    }
}

#[test]
fn icmp_error_seeds() {
    let on_disk = files(&seed_dir("icmp_error"));
    assert!(
        on_disk.len() >= 16,
        "only {} icmp_error seeds",
        on_disk.len()
    );
    for (name, data) in on_disk.iter().chain(&icmp_error::seeds()) {
        replay(&format!("icmp_error seed {name}"), data, icmp_error::run);
    }
}

/// The sessions the `icmp_error` target sets up are of every kind, on both
/// shards, for every configuration byte; except a hairpinned pair with
/// two blocks of two ports per address, where the subscribers run out of
/// ports first.
#[test]
fn icmp_error_setup_covers_every_kind() {
    for cfg in 0..=255u8 {
        let kinds = icmp_error::setup_kinds(cfg);
        let tiny = cfg & 0x78 == 0x70;
        assert!(
            kinds.iter().all(|&(k, n)| n > 0 || tiny && k == "hairpin"),
            "configuration byte {cfg:#04x}: {kinds:?}"
        );
    }
}

/// A random error operation of the `icmp_error` target.
fn icmp_op(rng: &mut Rng, v: &mut Vec<u8>) {
    if rng.below(12) == 0 {
        // An operation of the entry target: a time step or a new flow.
        v.push(0xff);
        if rng.below(2) == 0 {
            v.extend_from_slice(&[kind::TIME, rng.byte() & 0x3f | 0x40, 6]);
        } else {
            v.extend_from_slice(&[kind::UDP, rng.small(), rng.small(), rng.small(), 3, 4]);
        }
        return;
    }
    v.push(rng.below(30) as u8);
    let mut f = rng.byte();
    if rng.below(3) != 0 {
        f &= !0x80;
    }
    v.push(f);
    if f >> 3 & 7 >= 6 {
        v.push(rng.byte());
    }
    if f & 0x80 != 0 {
        v.push(rng.byte());
    }
    if f & 4 != 0 {
        let n = rng.below(3) as u8;
        v.push(n);
        for _ in 0..=n {
            v.push(rng.below(usize::from(icmp_error::mutation::COUNT)) as u8);
            v.push(rng.byte());
        }
    }
}

#[test]
fn icmp_error_random_inputs() {
    let mut rng = Rng(0x6963_6d70_2d65_7272);
    let seeds: Vec<Vec<u8>> = icmp_error::seeds().into_iter().map(|(_, b)| b).collect();
    for i in 0..300 {
        let data = match i % 3 {
            0 => (0..rng.below(200)).map(|_| rng.byte()).collect(),
            1 => {
                let mut v = vec![rng.byte()];
                for _ in 0..rng.below(40) + 1 {
                    icmp_op(&mut rng, &mut v);
                }
                v
            }
            _ => {
                let mut d = seeds[rng.below(seeds.len())].clone();
                for _ in 0..rng.below(4) + 1 {
                    let at = rng.below(d.len());
                    d[at] = rng.byte();
                }
                d
            }
        };
        replay("icmp_error", &data, icmp_error::run);
    }
}

/// `MASQ_TRACE_ICMP=HEX cargo test -p masq-tests --test fuzz_replay
/// trace_icmp_error -- --nocapture` prints the sessions an `icmp_error`
/// input sets up and what each of its operations did.
#[test]
fn trace_icmp_error() {
    let Ok(what) = std::env::var("MASQ_TRACE_ICMP") else {
        return;
    };
    let b: Vec<u8> = (0..what.len() / 2)
        .map(|i| u8::from_str_radix(&what[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    for line in icmp_error::trace(&b) {
        println!("  {line}");
    }
}

#[test]
fn config_seeds() {
    let on_disk = files(&seed_dir("config"));
    assert!(on_disk.len() >= 16, "only {} config seeds", on_disk.len());
    for (name, data) in on_disk.iter().chain(&fuzz_config::seeds()) {
        replay(&format!("config seed {name}"), data, fuzz_config::run);
        // The seeds are what they say: the bad ones are refused, the others
        // accepted (their checks above ran).
        let text = String::from_utf8_lossy(data);
        let r = masq_control::config::parse(&text);
        assert_eq!(
            r.is_err(),
            name.starts_with("bad_") || name == "empty",
            "config seed {name}: {r:?}"
        );
    }
}

/// Every key and section that `check-config` prints for the fullest seeds
/// is in the dictionary (so it follows new keys).
#[test]
fn config_dictionary_covers_every_key() {
    let dict = fuzz_config::DICTIONARY;
    for (name, data) in fuzz_config::seeds() {
        let Ok(rc) = masq_control::config::parse(&String::from_utf8_lossy(&data)) else {
            continue;
        };
        for line in rc.to_toml().lines() {
            let line = line.trim_start_matches("# ");
            let word = match line.split_once(" = ") {
                Some((k, _)) => k.trim().to_string(),
                None if line.starts_with('[') => line.trim().to_string(),
                None => continue,
            };
            assert!(
                dict.contains(&format!("\"{word}\"")),
                "{word:?} (printed for seed {name}) is not in dataplane/core/fuzz/config.dict"
            );
        }
    }
}

/// A seed with text-level changes: lines dropped, doubled or swapped,
/// dictionary words and random bytes put in, numbers changed.
fn config_variant(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let words: Vec<&str> = fuzz_config::DICTIONARY
        .lines()
        .filter_map(|l| l.strip_prefix('"').and_then(|l| l.strip_suffix('"')))
        .filter(|w| !w.contains('\\'))
        .collect();
    let text = String::from_utf8_lossy(seed);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..rng.below(2) + 1 {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let i = rng.below(lines.len());
        match rng.below(7) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(rng.below(lines.len() + 1), l);
            }
            2 => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            3 => {
                let w = words[rng.below(words.len())];
                let at = rng.below(lines[i].len() + 1);
                if lines[i].is_char_boundary(at) {
                    lines[i].insert_str(at, w);
                }
            }
            4 => {
                // A number replaced by an edge value.
                let edge = [
                    "0",
                    "1",
                    "2",
                    "65535",
                    "65536",
                    "4294967295",
                    "-1",
                    "3",
                    "9000",
                ];
                let l = &lines[i];
                if let Some(eq) = l.find(" = ") {
                    let v = edge[rng.below(edge.len())];
                    lines[i] = format!("{}{}", &l[..eq + 3], v);
                }
            }
            5 => lines.insert(
                i,
                format!("{} = {}", words[rng.below(words.len())], rng.below(70000)),
            ),
            _ => {
                let mut b = lines[i].clone().into_bytes();
                if !b.is_empty() {
                    let at = rng.below(b.len());
                    b[at] = rng.byte();
                }
                lines[i] = String::from_utf8_lossy(&b).into_owned();
            }
        }
    }
    let mut out = lines.join("\n").into_bytes();
    if rng.below(16) == 0 {
        out.truncate(rng.below(out.len() + 1));
    }
    out
}

#[test]
fn config_random_inputs() {
    let mut rng = Rng(0x636f_6e66_6967_2121);
    let seeds: Vec<Vec<u8>> = fuzz_config::seeds().into_iter().map(|(_, b)| b).collect();
    let mut accepted = 0;
    for i in 0..2000 {
        let data = if i % 10 == 0 {
            (0..rng.below(200)).map(|_| rng.byte()).collect()
        } else {
            let k = rng.below(seeds.len());
            config_variant(&mut rng, &seeds[k])
        };
        accepted +=
            usize::from(masq_control::config::parse(&String::from_utf8_lossy(&data)).is_ok());
        replay("config", &data, fuzz_config::run);
    }
    // The variants reach the checks of accepted configurations often.
    assert!(accepted >= 150, "only {accepted} of 2000 variants accepted");
}

#[test]
fn pcp_seeds() {
    let on_disk = files(&seed_dir("pcp"));
    assert!(on_disk.len() >= 30, "only {} pcp seeds", on_disk.len());
    for (name, data) in on_disk.iter().chain(&fuzz_pcp::seeds()) {
        replay(&format!("pcp seed {name}"), data, fuzz_pcp::run);
        for cut in 0..data.len().min(120) {
            replay(
                &format!("pcp seed {name} cut at {cut}"),
                &data[..cut],
                fuzz_pcp::run,
            );
        }
    }
}

/// Each pcp seed is what its name says: the result code of the answer to
/// its last request (PCP's or NAT-PMP's), or a drop.
#[test]
fn pcp_seeds_get_their_answers() {
    let want: &[(&str, Option<u16>)] = &[
        ("map_udp", Some(0)),
        ("map_tcp_suggested", Some(0)),
        ("map_delete", Some(0)),
        ("map_other_nonce", Some(2)),
        ("map_quota", Some(10)),
        ("map_prefer_failure_filters", Some(0)),
        ("map_five_filters", Some(13)),
        ("map_third_party", Some(0)),
        ("map_third_party_refused", Some(2)),
        ("map_unknown_options", Some(5)),
        ("map_bad_option", Some(6)),
        ("map_gre", Some(9)),
        ("map_all_protocols", Some(9)),
        ("map_port_zero", Some(3)),
        ("map_short_body", Some(3)),
        ("map_nat_no_resources", Some(8)),
        ("map_nat_quota", Some(10)),
        ("map_nat_cannot_provide", Some(11)),
        ("map_nat_no_external", Some(7)),
        ("map_nat_not_ours", Some(2)),
        ("map_nat_silent", Some(7)),
        ("map_address_mismatch", Some(12)),
        ("map_from_outside", Some(2)),
        ("peer", Some(0)),
        ("peer_delete", Some(0)),
        ("announce", Some(0)),
        ("unsupported_opcode", Some(4)),
        ("unsupported_version", Some(1)),
        ("malformed_length", Some(3)),
        ("response_dropped", None),
        ("natpmp_address", Some(0)),
        ("natpmp_address_none", Some(3)),
        ("natpmp_map_udp", Some(0)),
        ("natpmp_map_tcp", Some(0)),
        ("natpmp_delete", Some(0)),
        ("natpmp_delete_all", Some(0)),
        ("natpmp_short", None),
        ("natpmp_unknown_opcode", Some(5)),
    ];
    let seeds = fuzz_pcp::seeds();
    assert_eq!(seeds.len(), want.len() + 1, "a seed without an answer here");
    for (name, code) in want {
        let data = &seeds.iter().find(|s| s.0 == *name).expect(name).1;
        let got = fuzz_pcp::results(data);
        assert_eq!(got.last(), Some(code), "pcp seed {name}: {got:?}");
    }
}

#[test]
fn pcp_random_inputs() {
    let mut rng = Rng(0x7063_702d_6e61_7470);
    let seeds: Vec<Vec<u8>> = fuzz_pcp::seeds().into_iter().map(|(_, b)| b).collect();
    for i in 0..3000 {
        let data: Vec<u8> = if i % 4 == 0 {
            (0..rng.below(120)).map(|_| rng.byte()).collect()
        } else {
            // A seed with a few bytes changed, cut or extended.
            let mut d = seeds[rng.below(seeds.len() - 1)].clone();
            for _ in 0..rng.below(4) + 1 {
                let at = rng.below(d.len());
                d[at] = match rng.below(3) {
                    0 => rng.byte(),
                    1 => rng.small(),
                    _ => d[at] ^ 0x80,
                };
            }
            match rng.below(4) {
                0 => d.truncate(rng.below(d.len()) + 1),
                1 => d.extend((0..rng.below(16)).map(|_| rng.byte())),
                _ => {}
            }
            d
        };
        replay("pcp", &data, fuzz_pcp::run);
    }
}
