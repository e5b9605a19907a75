//! `masq lookup` as the command runs it: over one configuration (the
//! answer of [`super::lookup`] alone, as it always was), over a cluster
//! (several `--config`: the box that announces the external address
//! answers; for an inside address every box that has a fixed place for
//! it), and at a time from the event log (`--at`, `--log`:
//! [`super::history`]).

use std::io::BufReader;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::history::{self, Scan};
use super::{Answer, Query};
use crate::cluster::{self, Member};

/// What the command asks.
#[derive(Debug)]
pub struct Ask {
    /// One configuration per box (may be empty with `--log`).
    pub configs: Vec<PathBuf>,
    /// The question.
    pub query: Query,
    /// `--at`, as given.
    pub at: Option<String>,
    /// The event logs.
    pub logs: Vec<PathBuf>,
    /// JSON output.
    pub json: bool,
}

/// What the command prints, and the error it exits with after printing
/// (None: it found an answer).
#[derive(Debug)]
pub struct Said {
    /// Standard output.
    pub text: String,
    /// Why it exits 1 after the text.
    pub missing: Option<String>,
}

/// Answers `ask`; an error names the file it is about.
pub fn run(ask: &Ask) -> Result<Said, String> {
    let q = ask.query;
    let mut boxes = Vec::new();
    for p in &ask.configs {
        boxes.push(Member::new(p, crate::config::load(p)?));
    }
    if boxes.len() == 1 && ask.at.is_none() {
        // One box, the configuration alone: the answer as it always was.
        let answers = super::lookup(&boxes[0].config, q)?;
        let text = if ask.json {
            pretty(&super::json(q, &answers))
        } else {
            super::text(&answers)
        };
        return Ok(Said {
            text,
            missing: None,
        });
    }
    if let Some(p) = cluster::check(&boxes).first() {
        return Err(format!(
            "the configurations are not one safe cluster ({p}); see masq check-config"
        ));
    }
    let chosen: Vec<&Member> = match q {
        Query::External(a, _) if boxes.len() > 1 => {
            let owners = cluster::owners(&boxes, u32::from(a));
            if owners.is_empty() {
                let all: Vec<String> = boxes
                    .iter()
                    .map(|b| {
                        let ext: Vec<String> =
                            b.external().iter().map(|(p, _)| p.to_string()).collect();
                        format!("{} {}", b.name, ext.join(" "))
                    })
                    .collect();
                return Err(format!(
                    "{q}: no box of the cluster announces it ({})",
                    all.join("; ")
                ));
            }
            owners
        }
        _ => boxes.iter().collect(),
    };
    let named = boxes.len() > 1;
    let mut text = String::new();
    let mut parts = Vec::new();
    let mut found = false;
    let mut whys = Vec::new();
    for b in &chosen {
        let got = super::lookup(&b.config, q);
        if named && (got.is_ok() || chosen.len() == 1) {
            text += &format!("box: {}\n", b.label());
        }
        match &got {
            Ok(answers) => {
                found = true;
                text += &super::text(answers);
            }
            Err(e) if named => whys.push(format!("{}: {e}", b.label())),
            Err(e) => whys.push(e.clone()),
        }
        parts.push(json!({
            "box": {"name": b.name, "file": b.file},
            "answers": got.as_ref().map_or(Vec::new(), |a| a.iter().map(Answer::json).collect()),
            "error": got.err(),
        }));
    }
    let log = match (&ask.at, q) {
        (None, _) => None,
        (Some(at), Query::External(a, port)) => {
            let at = history::parse_at(at)?;
            let mut scan = Scan::new(a, port);
            for p in &ask.logs {
                let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
                scan.read(&p.display().to_string(), BufReader::new(f))?;
            }
            let answer = scan.who(at);
            found |= !answer.held.is_empty();
            text += &answer.to_string();
            Some(answer)
        }
        (Some(_), Query::Inside(_)) => {
            return Err("--at answers for --external IP[:PORT]".into());
        }
    };
    if ask.at.is_none() && !found {
        return Err(whys.join("\nmasq: "));
    }
    if ask.json {
        text = pretty(&json!({
            "query": q.to_string(),
            "boxes": parts,
            "log": log.as_ref().map_or(Value::Null, |l| l.json()),
        }));
    }
    Ok(Said {
        text,
        missing: (!found).then(|| match &log {
            Some(l) => format!("{q}: no holder at {}", crate::eventlog::rfc3339(l.at)),
            None => format!("{q}: no answer"),
        }),
    })
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}
