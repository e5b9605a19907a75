//! What CI runs of the fuzz targets (dataplane/core/fuzz): every committed
//! seed, then a few thousand pseudo-random inputs from a fixed PRNG seed,
//! raw and structured, through `masq_tests::fuzz::run` and `views`.
//!
//! `MASQ_WRITE_SEEDS=1 cargo test -p masq-tests --test fuzz_replay` writes
//! the seed files again from `masq_tests::fuzz::seeds`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use masq_tests::fuzz::{self, kind, seeds};

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
    for (target, list) in [("entry", seeds::entry()), ("views", seeds::views())] {
        let dir = seed_dir(target);
        if write {
            std::fs::create_dir_all(&dir).expect("create seed dir");
            for (name, bytes) in &list {
                std::fs::write(dir.join(name), bytes).expect("write seed");
            }
            continue;
        }
        // Views seeds are frames from the shared builders, which may change
        // under us; entry seeds are scripts and must match exactly.
        if target != "entry" {
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
