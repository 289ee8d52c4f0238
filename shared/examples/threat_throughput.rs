//! Threat-detector throughput: scans the concatenated fixture lines (each line as one value)
//! and a 1 MB benign-looking text (in 64 KiB values) repeatedly for ~2 s each; prints one
//! JSON line with MB/s. Run: `cargo run --release -p shared --example threat_throughput`.

use shared::security::threats::{scan_value, Enabled};
use std::time::{Duration, Instant};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/threats/"
);

fn run(values: &[String], budget: Duration) -> (f64, usize) {
    let bytes: usize = values.iter().map(String::len).sum();
    let start = Instant::now();
    let (mut total, mut hits) = (0usize, 0usize);
    while start.elapsed() < budget {
        for v in values {
            hits += scan_value("f", v, Enabled::ALL).len();
        }
        total += bytes;
    }
    (total as f64 / 1e6 / start.elapsed().as_secs_f64(), hits)
}

fn main() {
    let mut lines = Vec::new();
    for f in ["sqli.txt", "xss.txt", "cmdi.txt", "benign.txt"] {
        let path = format!("{DIR}{f}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        lines.extend(
            text.split('\n')
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    let benign = lines[300..].join(" ");
    let mut text = String::new();
    while text.len() < 1 << 20 {
        text.push_str(&benign);
        text.push('\n');
    }
    let chunks: Vec<String> = text
        .as_bytes()
        .chunks(64 * 1024)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let fixture_bytes: usize = lines.iter().map(String::len).sum();

    let (fix_mbs, _) = run(&lines, Duration::from_secs(2));
    let (text_mbs, text_hits) = run(&chunks, Duration::from_secs(2));
    println!(
        "{{\"bench\":\"threat_throughput\",\"fixture_lines\":{},\"fixture_bytes\":{},\"fixtures_mb_per_s\":{:.2},\"benign_text_bytes\":{},\"benign_text_mb_per_s\":{:.2},\"benign_text_detections\":{}}}",
        lines.len(), fixture_bytes, fix_mbs, text.len(), text_mbs, text_hits
    );
}
