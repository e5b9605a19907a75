//! bench-report: turns the per-run results of `scripts/bench.sh e2e` into
//! the summary: one JSON line per (system, measurement) with the median,
//! minimum and maximum of its runs, a Markdown table with the ratios the
//! targets speak of, and a PNG chart.
//!
//!   bench-report RUNS.jsonl OUT_DIR
//!
//! Each input line: `{"system": S, "name": N, "value": V, "unit": U, ...}`.
//! Writes OUT_DIR/summary.jsonl, OUT_DIR/table.md and OUT_DIR/chart.png,
//! and prints the table.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use plotters::prelude::*;
use serde_json::Value;

/// Systems in the order they are shown.
const SYSTEMS: [&str; 4] = ["masq", "iptables", "nftables", "l2-forwarder"];
/// Measurements in the order they are shown, with a label and whether
/// more is better.
const MEASURES: [(&str, &str, bool); 7] = [
    ("mpps_1flow", "delivered, 1 flow", true),
    ("mpps_10k", "delivered, 10k flows", true),
    ("mpps_1m", "delivered, 1M flows", true),
    ("new_flows_per_s", "new flows per second", true),
    ("rtt_p50_us", "round trip p50", false),
    ("rtt_p99_us", "round trip p99", false),
    ("cpu_s_per_mpkt", "NAT core CPU per Mpkt", false),
];

/// The summary of one (system, measurement).
#[derive(Clone, Debug, PartialEq)]
struct Summary {
    median: f64,
    min: f64,
    max: f64,
    runs: usize,
    unit: String,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Groups the runs by (system, name).
fn summarize(text: &str) -> Result<BTreeMap<(String, String), Summary>, String> {
    let mut runs: BTreeMap<(String, String), (Vec<f64>, String)> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}: {line}", i + 1))?;
        let field = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("line {}: no string {k:?}: {line}", i + 1))
        };
        let value = v
            .get("value")
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("line {}: no number \"value\": {line}", i + 1))?;
        let e = runs
            .entry((field("system")?, field("name")?))
            .or_insert_with(|| (Vec::new(), String::new()));
        e.0.push(value);
        e.1 = field("unit")?;
    }
    Ok(runs
        .into_iter()
        .map(|(k, (mut v, unit))| {
            let s = Summary {
                min: v.iter().copied().fold(f64::INFINITY, f64::min),
                max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                runs: v.len(),
                median: median(&mut v),
                unit,
            };
            (k, s)
        })
        .collect())
}

fn fmt(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// The Markdown table: one row per measurement, a column per system, and
/// the ratios masq ÷ iptables and masq ÷ l2-forwarder of the medians.
fn table(s: &BTreeMap<(String, String), Summary>) -> String {
    let mut out = String::from(
        "| measurement | unit | masq | iptables | nftables | l2-forwarder | masq ÷ iptables | masq ÷ l2-forwarder |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for (name, label, _) in MEASURES {
        let get = |sys: &str| s.get(&(sys.to_string(), name.to_string()));
        let Some(unit) = SYSTEMS
            .iter()
            .find_map(|sys| get(sys))
            .map(|x| x.unit.clone())
        else {
            continue;
        };
        out += &format!("| {label} (`{name}`) | {unit} |");
        for sys in SYSTEMS {
            out += &match get(sys) {
                Some(x) if x.runs > 1 => {
                    format!(" {} ({}–{}) |", fmt(x.median), fmt(x.min), fmt(x.max))
                }
                Some(x) => format!(" {} |", fmt(x.median)),
                None => " – |".into(),
            };
        }
        for other in ["iptables", "l2-forwarder"] {
            out += &match (get("masq"), get(other)) {
                (Some(a), Some(b)) if b.median > 0.0 => format!(" {:.2} |", a.median / b.median),
                _ => " – |".into(),
            };
        }
        out.push('\n');
    }
    let runs = s.values().map(|x| x.runs).max().unwrap_or(0);
    out += &format!(
        "\nMedians of {runs} run(s), (min–max) where there were more. Lower is better for \
         round trips and CPU.\n"
    );
    out
}

fn summary_lines(s: &BTreeMap<(String, String), Summary>) -> String {
    let mut out = String::new();
    for ((system, name), x) in s {
        out += &serde_json::json!({
            "name": name, "value": x.median, "unit": x.unit, "system": system,
            "min": x.min, "max": x.max, "runs": x.runs,
        })
        .to_string();
        out.push('\n');
    }
    out
}

/// Loads a TrueType font for the chart's text (plotters draws text only
/// with a registered font when built without fontconfig).
fn register_font() -> Result<(), String> {
    const FONTS: [&str; 2] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ];
    let bytes = FONTS
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or_else(|| format!("no font found (apt-get install fonts-dejavu-core): {FONTS:?}"))?;
    // The registry keeps a 'static reference: the font lives as long as
    // the program.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| "the font could not be read".to_string())
}

/// One panel per group of measurements sharing a unit; bars per system
/// with the min–max range as a line.
fn chart(s: &BTreeMap<(String, String), Summary>, path: &Path) -> Result<(), String> {
    register_font()?;
    let panels: [(&str, &[&str]); 4] = [
        (
            "Delivered Mpps (64-byte UDP)",
            &["mpps_1flow", "mpps_10k", "mpps_1m"],
        ),
        ("New flows per second (millions)", &["new_flows_per_s"]),
        ("Round trip, microseconds", &["rtt_p50_us", "rtt_p99_us"]),
        ("NAT core CPU seconds per Mpkt", &["cpu_s_per_mpkt"]),
    ];
    let colors = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x7f, 0x7f, 0x7f),
    ];
    let root = BitMapBackend::new(path, (1400, 900)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("chart: {e}");
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((2, 2));
    for (area, (title, names)) in areas.iter().zip(panels) {
        let scale = |name: &str| if name == "new_flows_per_s" { 1e-6 } else { 1.0 };
        let top = names
            .iter()
            .flat_map(|n| {
                SYSTEMS.iter().filter_map(move |sys| {
                    s.get(&(sys.to_string(), n.to_string()))
                        .map(|x| x.max * scale(n))
                })
            })
            .fold(0.0f64, f64::max)
            .max(1e-3)
            * 1.15;
        let groups = names.len();
        let mut c = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..groups as f64, 0f64..top)
            .map_err(|e| err(&e))?;
        c.configure_mesh()
            .disable_x_mesh()
            .x_labels(groups * 2 + 1)
            .x_label_formatter(&|x| {
                let i = (x - 0.5).round();
                if (x - 0.5 - i).abs() < 0.01 && i >= 0.0 && (i as usize) < groups {
                    names[i as usize].to_string()
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| err(&e))?;
        for (k, sys) in SYSTEMS.iter().enumerate() {
            let w = 0.8 / SYSTEMS.len() as f64;
            let mut bars = Vec::new();
            let mut ranges = Vec::new();
            for (g, n) in names.iter().enumerate() {
                if let Some(x) = s.get(&(sys.to_string(), n.to_string())) {
                    let x0 = g as f64 + 0.1 + k as f64 * w;
                    let f = scale(n);
                    bars.push(Rectangle::new(
                        [(x0, 0.0), (x0 + w * 0.9, x.median * f)],
                        colors[k].filled(),
                    ));
                    let mid = x0 + w * 0.45;
                    ranges.push(PathElement::new(
                        vec![(mid, x.min * f), (mid, x.max * f)],
                        BLACK.stroke_width(2),
                    ));
                }
            }
            c.draw_series(bars)
                .map_err(|e| err(&e))?
                .label(*sys)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], colors[k].filled())
                });
            c.draw_series(ranges).map_err(|e| err(&e))?;
        }
        c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

fn run(input: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let s = summarize(&text)?;
    if s.is_empty() {
        return Err(format!("{}: no results", input.display()));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let write = |name: &str, body: &str| {
        let p = out.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))
    };
    write("summary.jsonl", &summary_lines(&s))?;
    let t = table(&s);
    write("table.md", &t)?;
    chart(&s, &out.join("chart.png"))?;
    print!("{t}");
    Ok(())
}

fn main() -> ExitCode {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 2 {
        eprintln!("usage: bench-report RUNS.jsonl OUT_DIR");
        return ExitCode::from(2);
    }
    match run(Path::new(&a[0]), Path::new(&a[1])) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNS: &str = r#"
{"system":"masq","name":"mpps_10k","value":0.6,"unit":"Mpps"}
{"system":"masq","name":"mpps_10k","value":0.5,"unit":"Mpps"}
{"system":"masq","name":"mpps_10k","value":0.9,"unit":"Mpps"}
{"system":"iptables","name":"mpps_10k","value":0.3,"unit":"Mpps"}
{"system":"iptables","name":"mpps_10k","value":0.4,"unit":"Mpps"}
{"system":"l2-forwarder","name":"mpps_10k","value":1.2,"unit":"Mpps"}
"#;

    #[test]
    fn medians_minima_maxima() {
        let s = summarize(RUNS).unwrap();
        let m = &s[&("masq".to_string(), "mpps_10k".to_string())];
        assert_eq!((m.median, m.min, m.max, m.runs), (0.6, 0.5, 0.9, 3));
        let k = &s[&("iptables".to_string(), "mpps_10k".to_string())];
        assert!(
            (k.median - 0.35).abs() < 1e-12,
            "even count: mean of the middle two"
        );
        assert_eq!(k.unit, "Mpps");
    }

    #[test]
    fn table_rows_and_ratios() {
        let t = table(&summarize(RUNS).unwrap());
        let row = t.lines().find(|l| l.contains("`mpps_10k`")).unwrap();
        // masq 0.6 (0.5–0.9); iptables 0.35 (0.3–0.4); no nftables; l2 1.2;
        // ratios 0.6/0.35 and 0.6/1.2.
        assert_eq!(
            row,
            "| delivered, 10k flows (`mpps_10k`) | Mpps | 0.600 (0.500–0.900) | 0.350 (0.300–0.400) | – | 1.200 | 1.71 | 0.50 |"
        );
        assert!(
            !t.contains("mpps_1m"),
            "a measurement without runs has no row"
        );
    }

    #[test]
    fn summary_lines_carry_the_named_fields() {
        let lines = summary_lines(&summarize(RUNS).unwrap());
        let first: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        for k in ["name", "value", "unit", "system", "min", "max", "runs"] {
            assert!(first.get(k).is_some(), "{k} missing in {first}");
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let e = summarize("{\"system\":\"masq\",\"value\":1}\n").unwrap_err();
        assert!(e.contains("line 1") && e.contains("name"), "{e}");
        let e = summarize("\n\nnot json\n").unwrap_err();
        assert!(e.contains("line 3"), "{e}");
    }
}
