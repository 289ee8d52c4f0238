//! Every case of `tests/fixtures/stripe/signatures.json` (made with Stripe's own libraries) gives
//! the labelled verdict; the implementation-defined quirks are refused (documented choice).

use credentials::stripe::verify;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/../tests/fixtures/stripe/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path} missing: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_fixture_case_gets_the_libraries_verdict() {
    let fx = load("signatures.json");
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 45);
    let mut failures = Vec::new();
    for c in cases {
        let secrets: Vec<&str> = c["secrets"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        let ok = secrets.iter().any(|s| {
            verify(
                c["payload"].as_str().unwrap().as_bytes(),
                c["header"].as_str().unwrap(),
                &[s],
                c["tolerance_s"].as_i64().unwrap(),
                c["timestamp_now"].as_i64().unwrap(),
            )
            .is_ok()
        });
        // The multi-secret form must agree with trying each secret alone.
        let all = verify(
            c["payload"].as_str().unwrap().as_bytes(),
            c["header"].as_str().unwrap(),
            &secrets,
            c["tolerance_s"].as_i64().unwrap(),
            c["timestamp_now"].as_i64().unwrap(),
        )
        .is_ok();
        if ok != (c["expect"] == "valid") || all != ok {
            failures.push(format!("{}: expected {}, got {ok}/{all}", c["name"], c["expect"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn quirks_are_refused() {
    let fx = load("signatures_quirks.json");
    let cases = fx["cases"].as_array().unwrap();
    for c in cases {
        let secrets: Vec<&str> = c["secrets"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        let r = verify(
            c["payload"].as_str().unwrap().as_bytes(),
            c["header"].as_str().unwrap(),
            &secrets,
            c["tolerance_s"].as_i64().unwrap_or(300),
            c["timestamp_now"].as_i64().unwrap(),
        );
        let accepted = c["acceptable"].as_array().unwrap();
        assert!(accepted.iter().any(|a| a == "invalid"), "{}", c["name"]);
        assert!(r.is_err(), "quirk accepted: {}", c["name"]);
    }
}
