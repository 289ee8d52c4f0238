//! Detection / false-positive rates of the threat detector on the labelled sample sets in
//! `tests/fixtures/threats/` (see its README). Targets: ≥ 95 % per attack set, ≤ 1 % FP.

use shared::security::threats::{scan_value, Enabled, ThreatKind};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/threats/"
);

/// `THREAT_FIXTURES_DIR` overrides the directory (e.g. to run the same check on a held-out set).
fn lines(name: &str) -> Vec<String> {
    let dir = std::env::var("THREAT_FIXTURES_DIR").unwrap_or_else(|_| DIR.to_string());
    let path = format!("{}/{name}", dir.trim_end_matches('/'));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("threat fixture {path} missing or unreadable: {e}"));
    let v: Vec<String> = text
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    assert!(v.len() >= 10, "{path}: only {} lines", v.len());
    v
}

#[test]
fn fixture_rates() {
    let mut failed = Vec::new();
    for (file, kind) in [
        ("sqli.txt", ThreatKind::SqlInjection),
        ("xss.txt", ThreatKind::Xss),
        ("cmdi.txt", ThreatKind::CommandInjection),
    ] {
        let ls = lines(file);
        let missed: Vec<&String> = ls
            .iter()
            .filter(|l| {
                !scan_value("f", l, Enabled::ALL)
                    .iter()
                    .any(|d| d.kind == kind)
            })
            .collect();
        let rate = 100.0 * (ls.len() - missed.len()) as f64 / ls.len() as f64;
        println!(
            "{file}: detected {}/{} = {rate:.1} %",
            ls.len() - missed.len(),
            ls.len()
        );
        for m in &missed {
            println!("  missed: {m}");
        }
        if rate < 95.0 {
            failed.push(format!("{file} detection {rate:.1} % < 95 %"));
        }
    }
    let ls = lines("benign.txt");
    let mut fp = 0;
    for l in &ls {
        let d = scan_value("f", l, Enabled::ALL);
        if !d.is_empty() {
            fp += 1;
            println!(
                "  false positive: {l}  -> {:?}",
                d.iter().map(|d| d.rule).collect::<Vec<_>>()
            );
        }
    }
    let rate = 100.0 * fp as f64 / ls.len() as f64;
    println!("benign.txt: flagged {fp}/{} = {rate:.1} %", ls.len());
    if rate > 1.0 {
        failed.push(format!("false positives {rate:.1} % > 1 %"));
    }
    assert!(failed.is_empty(), "{failed:?}");
}
