//! Inspection is linear: on adversarial inputs (runs of every separator, quote, bracket,
//! comment marker, entity, escape and keyword, alternations of them, and the shapes that
//! reached each former rescan) the work each detector counts ([`work`]) stays under a fixed
//! number of steps per byte, and 1 MiB costs no more than 16 times 64 KiB.

use super::work::{within_bound, STEPS_PER_BYTE};
use super::*;
use serde_json::json;

const SMALL: usize = 64 << 10;

/// 1 MiB, the request body limit. Debug builds (what `scripts/test` runs, some 20 times slower)
/// check 256 KiB unless `RELIABILITY_LONG=1`; release builds always check 1 MiB.
fn large() -> usize {
    let long = std::env::var("RELIABILITY_LONG").is_ok_and(|v| v == "1");
    if cfg!(debug_assertions) && !long {
        256 << 10
    } else {
        1 << 20
    }
}

/// What the detectors react to, by kind.
const GROUPS: &[(&str, &[&str])] = &[
    ("separators", &[";", "|", "&", "\n", "\r", "`", "^", "$("]),
    ("quotes", &["'", "\""]),
    ("brackets", &["(", ")", "<", ">", "{", "}"]),
    ("comment markers", &["--", "/*", "*/", "#", "<!--"]),
    ("entities", &["&amp;", "&#x41;", "&#65;"]),
    ("escapes", &["%25", "%u0041", "\\x41", "\\u0041", "\\\\"]),
    ("keywords", &["select ", "union ", "or 1=1 ", "<script", "on"]),
];

/// Shapes that reached one of the former rescans (named beside each), or come close to a
/// rule without completing it.
const SHAPES: &[&str] = &[
    "/* ",            // sql: `*/` looked for from every unterminated `/*`
    "$(cat{",         // cmd: each `$(`'s argument read to the end of the run
    "$(sudo+cat{",    // cmd: the same through a wrapper
    "$(cat{>",        // cmd: the redirection target read from every `$(`
    "; cat x ",       // cmd: each command's redirection looked for up to the next separator
    "`;",             // cmd: a closing backtick looked for after every separator
    "\"'; ",          // cmd: the leading separators and quotes re-read at every separator
    "<a",             // xss: `xmlns` looked for in the 200 bytes after every tag
    " onabc=",        // xss: a `(` looked for in the 60 bytes after every handler
    "' or 1=1 -- ",   // sql: quote breaks and comments
    "select a from ", // sql: `select ... from` windows
    "order by 1,",    // sql: `order by` lists
    "union (",        // sql: brackets after `union`
    "<!--#",
    "${a",
    "system (",
    "/bin/",
    "javascript:",
    "alert(",
    "&#",
    "%",
    "\\",
    "a",
];

/// `unit` repeated to at most `len` bytes (a whole number of units).
fn run_of(unit: &str, len: usize) -> String {
    unit.repeat(len / unit.len())
}

/// Every adversarial input at `len` bytes, named; `each_unit`: also a run of each unit on
/// its own.
fn inputs(len: usize, each_unit: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut everything = String::new();
    for (group, units) in GROUPS {
        for u in units.iter().filter(|_| each_unit) {
            out.push((format!("{u:?}"), run_of(u, len)));
        }
        let alternating = units.concat();
        out.push((format!("{group} alternating"), run_of(&alternating, len)));
        let spaced = units.join(" ");
        out.push((format!("{group} with spaces"), run_of(&spaced, len)));
        everything.push_str(&alternating);
    }
    out.push(("everything alternating".into(), run_of(&everything, len)));
    for s in SHAPES {
        out.push((format!("{s:?}"), run_of(s, len)));
    }
    out
}

/// Asserts the bound for `detector` on every input at both sizes, and that the large size
/// costs at most its share more than 64 KiB (plus 1/16 for where the repetition is cut).
fn assert_linear(detector: &str, each_unit: bool, run: impl Fn(&str)) {
    let large = large();
    let mut worst = (0.0, String::new());
    let both = inputs(SMALL, each_unit).into_iter().zip(inputs(large, each_unit));
    for ((name, small), (_, big)) in both {
        let ((), s) = work::measure(|| run(&small));
        let ((), b) = work::measure(|| run(&big));
        for (steps, input) in [(s, &small), (b, &big)] {
            assert!(
                within_bound(steps, input.len()),
                "{detector} on {name} x {}: {steps} steps, more than {STEPS_PER_BYTE} a byte",
                input.len()
            );
        }
        let ratio = big.len() as f64 / small.len() as f64;
        assert!(
            b as f64 <= s as f64 * ratio * 1.0625 + 64.0,
            "{detector} on {name}: {b} steps at {} bytes but {s} at {}: not linear",
            big.len(),
            small.len()
        );
        let per_byte = b as f64 / big.len() as f64;
        if per_byte > worst.0 {
            worst = (per_byte, name);
        }
    }
    eprintln!("{detector}: at most {:.1} steps a byte ({})", worst.0, worst.1);
}

#[test]
fn normalizing_costs_linear_time() {
    assert_linear("normalize", true, |v| {
        normalize::normalize(v);
    });
}

#[test]
fn sql_scan_costs_linear_time() {
    assert_linear("sql", true, |v| {
        sql::scan(v);
    });
}

#[test]
fn xss_scan_costs_linear_time() {
    assert_linear("xss", true, |v| {
        xss::scan(v);
    });
}

#[test]
fn command_scan_costs_linear_time() {
    assert_linear("cmd", true, |v| {
        cmd::scan(v);
    });
}

/// The detectors after normalisation, as a request meets them (the runs of single units are
/// left to the tests above).
#[test]
fn whole_value_scan_costs_linear_time() {
    assert_linear("scan_value", false, |v| {
        scan_value("f", v, Enabled::ALL);
    });
}

/// Issue 15: 8 KiB of `;` took 87 ms and 64 KiB 3.4 s (every separator re-read everything
/// before it), and two 1 MB bodies of such strings held the server for 33 s.
#[test]
fn runs_of_semicolons_cost_linear_time() {
    let mut per_byte = Vec::new();
    for len in [8 << 10, 64 << 10, 1 << 20] {
        let v = ";".repeat(len);
        let (found, steps) = work::measure(|| cmd::scan(&v));
        assert_eq!(found, None);
        per_byte.push(steps as f64 / len as f64);
    }
    assert!(per_byte.iter().all(|&p| p <= 16.0), "steps a byte at 8 KiB, 64 KiB, 1 MiB: {per_byte:?}");
    let body = serde_json::Value::Array(vec![json!(";".repeat(65536)); 15]);
    let (found, steps) = work::measure(|| scan_json(&body, Enabled::ALL));
    assert!(found.is_empty());
    assert!(within_bound(steps, 15 * 65536), "{steps} steps");
}

/// The padding blind spot: an attack after 64 KiB (or 16 K tokens) of padding is found.
#[test]
fn attack_after_padding_is_found() {
    let pad_len = 256 << 10;
    for (pad, attack, kind) in [
        ("a", "; cat /etc/passwd", ThreatKind::CommandInjection),
        ("a ", "' or 1=1 --", ThreatKind::SqlInjection),
        ("( ", "' or 1=1 --", ThreatKind::SqlInjection),
        ("a", "<script>alert(1)</script>", ThreatKind::Xss),
    ] {
        let v = format!("{}{attack}", run_of(pad, pad_len));
        let found = scan_value("f", &v, Enabled::ALL);
        assert!(found.iter().any(|d| d.kind == kind), "{pad:?} then {attack}");
        let body = json!({ "notes": v });
        assert!(scan_json(&body, Enabled::ALL).iter().any(|d| d.kind == kind));
    }
}

/// However short the value, a call costs at most `STEPS_PER_CALL` more.
#[test]
fn short_values_cost_a_bounded_amount() {
    for v in ["", "a", ";", "'", "<", "$(", "/*", "&#", "%", "select", "<a on", "a=1"] {
        let (_, steps) = work::measure(|| scan_value("f", v, Enabled::ALL));
        assert!(within_bound(steps, v.len()), "{v:?}: {steps} steps");
        let (_, steps) = work::measure(|| scan_query(v, Enabled::ALL));
        assert!(within_bound(steps, v.len()), "query {v:?}: {steps} steps");
    }
}

#[test]
fn json_and_query_walks_cost_linear_time() {
    let n = large();
    let long_key = "k".repeat(300);
    let bodies = [
        // many small values: what each value costs whatever its length
        ("one-byte strings", serde_json::Value::Array(vec![json!("a"); n / 4])),
        ("empty strings", serde_json::Value::Array(vec![json!(""); n / 3])),
        ("numbers", serde_json::Value::Array(vec![json!(1); n / 2])),
        // a path past MAX_PATH above every element of a long array
        ("long path", json!({ long_key.as_str(): vec![json!(1); n / 2] })),
        ("objects", serde_json::Value::Array(vec![json!({"k": ";"}); n / 10])),
        ("semicolon strings", serde_json::Value::Array(vec![json!(";".repeat(n / 16)); 15])),
    ];
    for (name, body) in bodies {
        let len = serde_json::to_vec(&body).unwrap().len();
        let (_, steps) = work::measure(|| scan_json(&body, Enabled::ALL));
        assert!(within_bound(steps, len), "{name}: {steps} steps for {len} bytes");
        eprintln!("scan_json {name}: {:.1} steps a byte", steps as f64 / len as f64);
    }
    let queries = [
        ("one-byte values", "a=1&".repeat(n / 4)),
        ("empty parts", "&".repeat(n)),
        ("semicolons", format!("q={}", "%3B".repeat(n / 3))),
        ("escapes", format!("q={}", "%2525".repeat(n / 5))),
    ];
    for (name, query) in queries {
        let (_, steps) = work::measure(|| scan_query(&query, Enabled::ALL));
        let len = query.len();
        assert!(within_bound(steps, len), "{name}: {steps} steps for {len} bytes");
        eprintln!("scan_query {name}: {:.1} steps a byte", steps as f64 / len as f64);
    }
}
