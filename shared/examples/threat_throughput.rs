//! Threat-detector throughput: scans the concatenated fixture lines (each line as one value)
//! and a 1 MB benign-looking text (in 64 KiB values) repeatedly for ~2 s each, then the worst
//! cases (1 MiB values of one separator, quote or bracket, and a 1 MB JSON body of such
//! strings) for ~1 s each; prints one JSON line with MB/s. The same line carries the
//! detector's rates on every labelled set (`rates`: the shared fixtures and the corpora in
//! `tests/corpora/`, sample and rest): the share of each attack set detected as its kind, and
//! of ordinary text flagged at all.
//! Run: `cargo run --release -p shared --example threat_throughput`.

use shared::security::threats::{scan_json, scan_value, Enabled, ThreatKind};
use std::time::{Duration, Instant};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/threats/");

const CORPORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpora/");

fn read_lines(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split('\n').filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// `"<set>": {"lines": n, "detected_pct": x}` for an attack set (`kind`), or
/// `{"lines": n, "flagged_pct": x}` for ordinary text.
fn rate(name: &str, path: &str, kind: Option<ThreatKind>) -> String {
    let lines = read_lines(path);
    let hits = lines
        .iter()
        .filter(|l| {
            let found = scan_value("f", l, Enabled::ALL);
            match kind {
                Some(k) => found.iter().any(|d| d.kind == k),
                None => !found.is_empty(),
            }
        })
        .count();
    let pct = 100.0 * hits as f64 / lines.len().max(1) as f64;
    let key = if kind.is_some() { "detected_pct" } else { "flagged_pct" };
    format!("\"{name}\":{{\"lines\":{},\"{key}\":{pct:.2}}}", lines.len())
}

/// Rates on the shared fixtures and on both parts of the corpora.
fn rates() -> String {
    let sets = [
        ("sqli", Some(ThreatKind::SqlInjection)),
        ("xss", Some(ThreatKind::Xss)),
        ("cmdi", Some(ThreatKind::CommandInjection)),
        ("benign", None),
    ];
    let mut out = Vec::new();
    for (set, kind) in sets {
        out.push(rate(&format!("fixtures/{set}"), &format!("{DIR}{set}.txt"), kind));
        for part in ["sample", "rest"] {
            let path = format!("{CORPORA}{set}.{part}.txt");
            out.push(rate(&format!("corpora/{set}.{part}"), &path, kind));
        }
    }
    format!("{{{}}}", out.join(","))
}

/// Scans `values` over and over for `budget` (at least once): (MB/s, detections in one round).
fn run(values: &[String], budget: Duration) -> (f64, usize) {
    let bytes: usize = values.iter().map(String::len).sum();
    let start = Instant::now();
    let mut total = 0usize;
    let mut hits;
    loop {
        hits = values.iter().map(|v| scan_value("f", v, Enabled::ALL).len()).sum();
        total += bytes;
        if start.elapsed() >= budget {
            break;
        }
    }
    (total as f64 / 1e6 / start.elapsed().as_secs_f64(), hits)
}

/// One adversarial case as a JSON object: milliseconds per scan and MB/s.
fn adversarial(name: &str, bytes: usize, mut scan: impl FnMut() -> usize) -> String {
    let start = Instant::now();
    let mut scans = 0u32;
    let mut hits = 0;
    while scans == 0 || start.elapsed() < Duration::from_secs(1) {
        hits = scan();
        scans += 1;
    }
    let secs = start.elapsed().as_secs_f64() / f64::from(scans);
    format!(
        "{{\"input\":{},\"bytes\":{bytes},\"ms_per_scan\":{:.2},\"mb_per_s\":{:.2},\"detections\":{hits}}}",
        serde_json::Value::String(name.into()),
        secs * 1e3,
        bytes as f64 / 1e6 / secs,
    )
}

fn main() {
    let mut lines = Vec::new();
    for f in ["sqli.txt", "xss.txt", "cmdi.txt", "benign.txt"] {
        let path = format!("{DIR}{f}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        lines.extend(text.split('\n').filter(|l| !l.is_empty()).map(str::to_string));
    }
    let benign = lines[300..].join(" ");
    let mut text = String::new();
    while text.len() < 1 << 20 {
        text.push_str(&benign);
        text.push('\n');
    }
    let chunks: Vec<String> =
        text.as_bytes().chunks(64 * 1024).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let fixture_bytes: usize = lines.iter().map(String::len).sum();

    let (fix_mbs, _) = run(&lines, Duration::from_secs(2));
    let (text_mbs, text_hits) = run(&chunks, Duration::from_secs(2));

    // The worst cases: one value made of a single separator, quote or bracket (each used to
    // start a rescan of the rest of the input), and the body that froze the server (issue 15).
    let mut cases = Vec::new();
    let mut worst = f64::INFINITY;
    for (name, unit) in [("1 MiB of ';'", ";"), ("1 MiB of \"'\"", "'"), ("1 MiB of '<'", "<"), ("64 KiB of ';'", ";")]
    {
        let size = if name.starts_with("64") { 64 << 10 } else { 1 << 20 };
        let value = unit.repeat(size);
        let case = adversarial(name, size, || scan_value("f", &value, Enabled::ALL).len());
        cases.push(case);
    }
    let body = serde_json::to_vec(&vec![";".repeat(65536); 15]).unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    cases.push(adversarial("JSON body [\";\" x 65536] x 15", body.len(), || scan_json(&parsed, Enabled::ALL).len()));
    for case in &cases {
        let v: serde_json::Value = serde_json::from_str(case).unwrap();
        worst = worst.min(v["mb_per_s"].as_f64().unwrap_or(f64::INFINITY));
    }
    let mut corpus = Vec::new();
    for set in ["sqli", "xss", "cmdi", "benign"] {
        corpus.extend(read_lines(&format!("{CORPORA}{set}.sample.txt")));
    }
    let corpus_bytes: usize = corpus.iter().map(String::len).sum();
    let (corpus_mbs, _) = run(&corpus, Duration::from_secs(2));
    println!(
        "{{\"bench\":\"threat_throughput\",\"fixture_lines\":{},\"fixture_bytes\":{},\"fixtures_mb_per_s\":{:.2},\"benign_text_bytes\":{},\"benign_text_mb_per_s\":{:.2},\"benign_text_detections\":{},\"worst_case_mb_per_s\":{:.2},\"adversarial\":[{}],\"corpus_sample_lines\":{},\"corpus_sample_bytes\":{},\"corpus_sample_mb_per_s\":{:.2},\"rates\":{}}}",
        lines.len(), fixture_bytes, fix_mbs, text.len(), text_mbs, text_hits, worst, cases.join(","),
        corpus.len(), corpus_bytes, corpus_mbs, rates()
    );
}
