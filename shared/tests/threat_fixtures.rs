//! Detection / false-positive rates of the threat detector on labelled sets: the shared
//! samples in `tests/fixtures/threats/` (see its README) and the larger corpora in
//! `tests/corpora/` (see theirs). Targets: ≥ 95 % of each attack set, ≤ 1 % of ordinary text.

use shared::security::threats::{scan_value, Enabled, ThreatKind};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/threats/");
const CORPORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpora/");

/// The non-empty lines of `dir/name` (every byte of a line is the input).
fn lines_in(dir: &str, name: &str) -> Vec<String> {
    let path = format!("{}/{name}", dir.trim_end_matches('/'));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("threat set {path} missing or unreadable: {e}"));
    let v: Vec<String> = text.split('\n').filter(|l| !l.is_empty()).map(str::to_string).collect();
    assert!(v.len() >= 10, "{path}: only {} lines", v.len());
    v
}

/// Measures one directory's four sets (`sqli`, `xss`, `cmdi`, `benign`, each `<set><suffix>`),
/// prints the rates with every miss and false positive, and returns the goals not met.
fn measure(dir: &str, suffix: &str) -> Vec<String> {
    let mut failed = Vec::new();
    for (set, kind) in
        [("sqli", ThreatKind::SqlInjection), ("xss", ThreatKind::Xss), ("cmdi", ThreatKind::CommandInjection)]
    {
        let file = format!("{set}{suffix}");
        let ls = lines_in(dir, &file);
        let missed: Vec<&String> =
            ls.iter().filter(|l| !scan_value("f", l, Enabled::ALL).iter().any(|d| d.kind == kind)).collect();
        let rate = 100.0 * (ls.len() - missed.len()) as f64 / ls.len() as f64;
        println!("{file}: detected {}/{} = {rate:.1} %", ls.len() - missed.len(), ls.len());
        for m in &missed {
            println!("  missed: {m}");
        }
        if rate < 95.0 {
            failed.push(format!("{file} detection {rate:.1} % < 95 %"));
        }
    }
    let file = format!("benign{suffix}");
    let ls = lines_in(dir, &file);
    let mut fp = 0;
    for l in &ls {
        let d = scan_value("f", l, Enabled::ALL);
        if !d.is_empty() {
            fp += 1;
            println!("  false positive: {l}  -> {:?}", d.iter().map(|d| d.rule).collect::<Vec<_>>());
        }
    }
    let rate = 100.0 * fp as f64 / ls.len() as f64;
    println!("{file}: flagged {fp}/{} = {rate:.2} %", ls.len());
    if rate > 1.0 {
        failed.push(format!("{file} false positives {rate:.2} % > 1 %"));
    }
    failed
}

/// The shared samples; `THREAT_FIXTURES_DIR` measures another directory of the same files
/// (e.g. a held-out set).
#[test]
fn fixture_rates() {
    let dir = std::env::var("THREAT_FIXTURES_DIR").unwrap_or_else(|_| DIR.to_string());
    let failed = measure(&dir, ".txt");
    assert!(failed.is_empty(), "{failed:?}");
}

/// The fixed samples of the corpora (`<set>.sample.txt`). `THREAT_CORPORA_DIR` and
/// `THREAT_CORPORA_SUFFIX` measure other files of that form (`.rest.txt`: the lines not in
/// the sample).
#[test]
fn corpus_sample_rates() {
    let dir = std::env::var("THREAT_CORPORA_DIR").unwrap_or_else(|_| CORPORA.to_string());
    let suffix = std::env::var("THREAT_CORPORA_SUFFIX").unwrap_or_else(|_| ".sample.txt".to_string());
    let failed = measure(&dir, &suffix);
    assert!(failed.is_empty(), "{failed:?}");
}
