//! `openapi.yaml` says what the functions serve, both ways:
//!
//! - every documented operation is served: asked without credentials, it answers anything but
//!   `route_not_found` or 405;
//! - every route served is documented: each function's routing code (`src/lib.rs` and
//!   `src/routes.rs`, where the functions keep their routing tables) is read for the path
//!   words it matches on, and each word is tried with every method at the function's root and
//!   below each documented path and each prefix of one. Whatever is not `route_not_found` must match a documented
//!   path (segments written with `_` where the description has `-` count as the same), and
//!   with that method unless the answer is 405. A route added without documenting it fails.

use e2e::{Host, HostConfig, TestDb};
use std::collections::{BTreeMap, BTreeSet};

const PREFIX: &str = "/functions/v1/";
const SAMPLE_ID: &str = "00000000-0000-4000-8000-000000000000";
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Documented path → its methods (upper case), read from the `paths:` block.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    read_description().0
}

/// `(path, METHOD)` → the query string its required query parameters need (first enum value).
fn required_queries() -> BTreeMap<(String, String), String> {
    read_description().1
}

fn read_description() -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<(String, String), String>) {
    let text = std::fs::read_to_string(e2e::root().join("openapi.yaml")).expect("openapi.yaml at the repository root");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut queries = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut method = String::new();
    for line in text.lines() {
        // Parameters are written one JSON object a line.
        if let (Some(p), Some(param)) = (&current, line.trim_start().strip_prefix("- {")) {
            let v: serde_json::Value = serde_json::from_str(&format!("{{{param}")).expect("a parameter line is JSON");
            if v["in"] == "query" && v["required"] == true {
                let value = v["schema"]["enum"][0].as_str().unwrap_or("x").to_string();
                let q: &mut String = queries.entry((p.clone(), method.clone())).or_default();
                q.push_str(&format!("{}{}={value}", if q.is_empty() { "" } else { "&" }, v["name"].as_str().unwrap()));
            }
            continue;
        }
        if let Some(path) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            current = Some(format!("/{path}"));
            out.entry(format!("/{path}")).or_default();
        } else if !line.starts_with("  ") || line.starts_with("  ") && !line.starts_with("   ") {
            current = None;
        } else if let (Some(p), Some(m)) = (&current, line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))) {
            if METHODS.iter().any(|x| x.eq_ignore_ascii_case(m)) {
                method = m.to_ascii_uppercase();
                out.get_mut(p).unwrap().insert(method.clone());
            }
        }
    }
    (out, queries)
}

fn function_of(path: &str) -> &str {
    path.strip_prefix(PREFIX).unwrap().split('/').next().unwrap()
}

fn concrete(template: &str) -> String {
    template.split('/').map(|s| if s.starts_with('{') { SAMPLE_ID } else { s }).collect::<Vec<_>>().join("/")
}

fn same_segment(template: &str, served: &str) -> bool {
    template.starts_with('{') || template.replace('_', "-") == served.replace('_', "-")
}

/// The documented paths `served` matches.
fn matching<'a>(docs: &'a BTreeMap<String, BTreeSet<String>>, served: &str) -> Vec<(&'a String, &'a BTreeSet<String>)> {
    let s: Vec<&str> = served.split('/').collect();
    docs.iter()
        .filter(|(t, _)| {
            let t: Vec<&str> = t.split('/').collect();
            t.len() == s.len() && t.iter().zip(&s).all(|(a, b)| same_segment(a, b))
        })
        .collect()
}

fn host() -> (TestDb, Host) {
    let db = TestDb::new();
    db.exec(
        "DO $$ BEGIN
           IF to_regclass('public.security_configuration') IS NOT NULL THEN
             UPDATE public.security_configuration
                SET config_value = '{\"requestsPerMinute\": 10000000, \"burstLimit\": 10000000, \"blockDuration\": 1}'
              WHERE config_category = 'rate_limiting' AND config_key = 'global_settings';
           END IF;
         END $$;",
    );
    let host = Host::start(HostConfig::app(&db));
    (db, host)
}

/// Whether the answer says "no such route" (the shared pipeline's and the host's code).
fn unrouted(host: &Host, method: &str, path: &str) -> (bool, u16) {
    let mut req = e2e::Req::new(method, &host.url(path));
    if method != "GET" && method != "DELETE" {
        req = req.json(&serde_json::json!({}));
    }
    let r = req.send();
    let code = serde_json::from_slice::<serde_json::Value>(&r.body).ok().and_then(|v| v["code"].as_str().map(str::to_string));
    (r.status == 404 && code.as_deref() == Some("route_not_found"), r.status)
}

#[test]
fn the_description_covers_all_eleven_functions() {
    let docs = documented();
    let functions: BTreeSet<&str> = docs.keys().map(|p| function_of(p)).collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(e2e::root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(functions.iter().map(|s| s.to_string()).collect::<Vec<_>>(), on_disk);
    for f in &on_disk {
        assert!(docs.get(&format!("{PREFIX}{f}/health")).is_some_and(|m| m.contains("GET")), "{f}/health is not documented");
    }
    assert!(docs.values().map(BTreeSet::len).sum::<usize>() > 100, "{} operations", docs.values().map(BTreeSet::len).sum::<usize>());
}

#[test]
fn every_documented_operation_is_served() {
    let (_db, host) = host();
    let mut wrong = Vec::new();
    let mut asked = 0;
    let queries = required_queries();
    for (template, methods) in documented() {
        for m in methods {
            let query = queries.get(&(template.clone(), m.clone())).map(|q| format!("?{q}")).unwrap_or_default();
            let (missing, status) = unrouted(&host, &m, &format!("{}{query}", concrete(&template)));
            asked += 1;
            if missing || status == 405 {
                wrong.push(format!("{m} {template} -> {status}"));
            }
        }
    }
    eprintln!("{asked} documented operations asked");
    assert!(wrong.is_empty(), "documented but not served:\n{}", wrong.join("\n"));
}

/// The path words a function's routing code matches on.
fn route_words(function: &str) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for file in ["lib.rs", "routes.rs"] {
        let Ok(text) = std::fs::read_to_string(e2e::root().join("functions").join(function).join("src").join(file)) else { continue };
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for piece in code.split('"').skip(1).step_by(2) {
            let word = !piece.is_empty()
                && piece.len() <= 40
                && piece.starts_with(|c: char| c.is_ascii_lowercase())
                && piece.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c));
            if word {
                words.insert(piece.to_string());
            }
        }
    }
    words
}

#[test]
fn every_served_route_is_documented() {
    let docs = documented();
    let (_db, host) = host();
    let mut undocumented = BTreeSet::new();
    let mut asked = 0;
    let functions: BTreeSet<String> = docs.keys().map(|p| function_of(p).to_string()).collect();
    for f in &functions {
        let root = format!("{PREFIX}{f}");
        // The root, every documented path and every prefix of one (`/alerts/{id}` of
        // `/alerts/{id}/resolve`).
        let mut bases: BTreeSet<String> = BTreeSet::from([root.clone()]);
        for p in docs.keys().filter(|p| p.starts_with(&format!("{root}/"))) {
            let p = concrete(p);
            let mut prefix = p.as_str();
            while prefix.len() > root.len() {
                bases.insert(prefix.to_string());
                prefix = &prefix[..prefix.rfind('/').unwrap()];
            }
        }
        for word in route_words(f) {
            for base in &bases {
                let path = format!("{base}/{word}");
                for m in METHODS {
                    let (missing, status) = unrouted(&host, m, &path);
                    asked += 1;
                    if missing {
                        continue;
                    }
                    let found = matching(&docs, &path);
                    let ok = if status == 405 { !found.is_empty() } else { found.iter().any(|(_, ms)| ms.contains(m)) };
                    if !ok {
                        undocumented.insert(format!("{m} {path} -> {status}"));
                    }
                }
            }
        }
    }
    eprintln!("{asked} probes of {} functions' route words", functions.len());
    assert!(undocumented.is_empty(), "served but not in openapi.yaml:\n{}", undocumented.into_iter().collect::<Vec<_>>().join("\n"));
}

#[test]
fn the_description_parser_reads_paths_and_methods() {
    // The checks above are only as good as this reading of the file.
    let docs = documented();
    assert_eq!(docs.get("/functions/v1/quote-processor/{id}").map(|m| m.iter().cloned().collect::<Vec<_>>()),
               Some(vec!["DELETE".into(), "GET".into(), "PATCH".into(), "PUT".into()]));
    assert!(matching(&docs, "/functions/v1/security-hardening/audit_log").iter().any(|(p, _)| p.ends_with("/audit-log")));
    assert!(matching(&docs, "/functions/v1/quote-processor/nope/extra/deep").is_empty());
    let q = required_queries();
    assert_eq!(q.get(&("/functions/v1/monitoring-alerting/alerts".to_string(), "POST".to_string())).map(String::as_str), Some("action=acknowledge"));
}
