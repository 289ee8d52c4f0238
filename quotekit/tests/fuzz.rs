//! Bounded random-input runs over the code that reads what strangers send: the Stripe
//! signature header, access tokens, JSON request bodies and quote validation, quote maths,
//! the threat detector and uploaded logos. Every input is generated from a fixed seed (a failure names its seed
//! and input and can be replayed), mutated from valid samples so the runs reach deep into the
//! parsers, and checked for more than "no panic": each target has properties that must hold.
//!
//! `FUZZ_ITERS` sets the executions per target (default 20,000, a few seconds in all);
//! `RELIABILITY_LONG=1` runs 1,000,000 per target. `FUZZ_SEED` changes the seed. The threat
//! detector's work target reads inputs of up to 1 MiB, so it runs a hundredth of that.

use credentials::encoding::base64url_decode;
use credentials::jwt::{self, JwtConfig};
use quotekit::image::{self, samples};
use quotekit::money::{Money, Quantity, Rate, Totals};
use quotekit::quote::{validate, validate_update, QuoteInput, QuoteUpdateInput};
use serde_json::{json, Value};
use shared::http::{Method, Request};
use shared::security::threats::{self, work, Enabled, RULES};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn iterations() -> u64 {
    if let Some(n) = std::env::var("FUZZ_ITERS").ok().and_then(|v| v.parse().ok()) {
        return n;
    }
    if std::env::var("RELIABILITY_LONG").is_ok_and(|v| v == "1") {
        1_000_000
    } else {
        20_000
    }
}

fn base_seed() -> u64 {
    std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_2026)
}

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// An integer biased towards edges: 0, ±1, powers of ten, the type's limits.
    fn edgy_i64(&mut self) -> i64 {
        match self.below(6) {
            0 => *self.pick(&[0, 1, -1, i64::MAX, i64::MIN, 999_999_999_999, -999_999_999_999, 1_000_000_000_000]),
            1 => 10i64.pow(self.below(19) as u32) * if self.chance(20) { -1 } else { 1 },
            2 => (self.next() % 1_000) as i64,
            3 => (self.next() % 10_000_000) as i64,
            4 => self.next() as i64,
            _ => (self.next() % 100_000_000_000) as i64 - if self.chance(10) { 50_000_000_000 } else { 0 },
        }
    }
}

/// Fragments that parsers trip on, spliced into mutated inputs.
const SPLICES: &[&str] = &[
    ",",
    "=",
    "t=",
    "v1=",
    "v0=",
    ".",
    "..",
    "-",
    "+",
    "e",
    "E",
    "1e309",
    "NaN",
    "\u{0}",
    "\u{feff}",
    "\u{10ffff}",
    "é",
    "𝟘",
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ":",
    "null",
    "true",
    "0x",
    "0.",
    "-0",
    "99999999999999999999",
    " ",
    "\t",
    "\r\n",
    "%",
    "%00",
    "%zz",
    "'",
    "' OR '1'='1",
    "<script>",
    "$(id)",
    "`",
    "../",
    "=",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            2 if !out.is_empty() => {
                let i = rng.below(out.len());
                let n = 1 + rng.below(8.min(out.len() - i));
                out.drain(i..i + n);
            }
            3 => {
                let i = rng.below(out.len() + 1);
                let s = rng.pick(SPLICES).as_bytes();
                out.splice(i..i, s.iter().copied());
            }
            4 if !out.is_empty() => {
                // Repeat a slice: long runs, duplicated fields.
                let i = rng.below(out.len());
                let n = 1 + rng.below(32.min(out.len() - i));
                let piece: Vec<u8> = out[i..i + n].to_vec();
                for _ in 0..1 + rng.below(20) {
                    out.splice(i..i, piece.iter().copied());
                }
            }
            5 => out.truncate(rng.below(out.len() + 1)),
            _ => {
                let i = rng.below(out.len() + 1);
                let junk: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                out.splice(i..i, junk);
            }
        }
    }
    out
}

/// Runs `body` `iterations()` times with its own seeded generator; a panic is reported with
/// the iteration's seed so it can be replayed with FUZZ_SEED / FUZZ_ITERS=1.
fn run(target: &str, body: impl FnMut(&mut Rng) -> Result<(), String>) -> u64 {
    run_n(target, iterations(), body)
}

fn run_n(target: &str, n: u64, mut body: impl FnMut(&mut Rng) -> Result<(), String>) -> u64 {
    let seed = base_seed();
    let mut failures = Vec::new();
    for i in 0..n {
        let iteration_seed = seed ^ (i.wrapping_mul(0x2545_F491_4F6C_DD1D)) ^ fxhash(target);
        let mut rng = Rng(iteration_seed);
        match catch_unwind(AssertUnwindSafe(|| body(&mut rng))) {
            Ok(Ok(())) => {}
            Ok(Err(property)) => failures.push(format!("iteration {i} (seed {iteration_seed}): {property}")),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("iteration {i} (seed {iteration_seed}): PANIC {msg}"));
            }
        }
        if failures.len() >= 5 {
            break;
        }
    }
    assert!(failures.is_empty(), "{target}: {} failure(s):\n{}", failures.len(), failures.join("\n"));
    eprintln!("fuzz {target}: {n} executions, no failure");
    n
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

// ---- Stripe-Signature ---------------------------------------------------------------------

const STRIPE_SECRET: &str = "whsec_fuzzing_secret_for_the_signature_parser";
const NOW: i64 = 1_795_000_000;

#[test]
fn stripe_signature_header_parser() {
    let payload = br#"{"id":"evt_1","type":"customer.created","created":1795000000}"#;
    let valid = credentials::stripe::sign(payload, STRIPE_SECRET, NOW - 10);
    run("stripe_signature", |rng| {
        let header_bytes = if rng.chance(80) {
            mutate(rng, valid.as_bytes())
        } else {
            (0..rng.below(200)).map(|_| *rng.pick(b"t=v1,0123456789abcdef ")).collect()
        };
        let header = String::from_utf8_lossy(&header_bytes).into_owned();
        let body = if rng.chance(20) { mutate(rng, payload) } else { payload.to_vec() };
        let secrets: &[&str] = if rng.chance(10) { &["whsec_other", STRIPE_SECRET] } else { &[STRIPE_SECRET] };
        match credentials::stripe::verify(&body, &header, secrets, 300, NOW) {
            // Accepted only if the header really carries the MAC of this body at that time.
            Ok(t) => {
                let expected = credentials::stripe::sign(&body, STRIPE_SECRET, t);
                let mac = expected.split("v1=").nth(1).unwrap_or("");
                if !header.contains(mac) || (NOW - t).abs() > 300 {
                    return Err(format!("accepted a forged header {header:?}"));
                }
            }
            Err(e) => {
                if e.code().is_empty() || e.message().is_empty() {
                    return Err("a rejection without a code or message".into());
                }
            }
        }
        Ok(())
    });
}

// ---- JWT ----------------------------------------------------------------------------------

fn jwt_config() -> (JwtConfig, String) {
    let read = |name: &str| {
        let path = format!("{}/../tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("JWT fixture {path} missing: {e}"))
    };
    let fixture: Value = serde_json::from_str(&read("tokens.json")).unwrap();
    let v = &fixture["validation"];
    let jwks = read("jwks.json");
    let secret = v["hs256_secret"].as_str().unwrap().to_string();
    let cfg = JwtConfig::new(Some(&secret), Some(&jwks), v["issuer"].as_str(), "authenticated").expect("config");
    (cfg, secret)
}

fn decoded_parts(token: &str) -> Option<Vec<Vec<u8>>> {
    token.split('.').map(base64url_decode).collect()
}

#[test]
fn jwt_verification_path() {
    let (cfg, secret) = jwt_config();
    let claims = json!({
        "sub": "5f0c3b1e-6a8d-4c2b-9e61-2f4a7d9b8c10", "role": "authenticated", "aud": "authenticated",
        "iss": "http://127.0.0.1:54321/auth/v1", "exp": NOW + 3600, "iat": NOW, "email": "a@example.test",
    });
    let valid = jwt::mint_hs256(&claims, &secret);
    assert!(jwt::verify(&valid, &cfg, NOW).is_ok(), "the seed token itself is valid");
    let original = decoded_parts(&valid).unwrap();
    let headers = [
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"alg":"none"}"#,
        r#"{"alg":"ES256","kid":"x"}"#,
        r#"{"alg":"RS256"}"#,
        r#"{"alg":"HS256","crit":["b64"]}"#,
        r#"{"alg":"HS256","jku":"http://evil"}"#,
        r#"[]"#,
        r#"{"alg":1}"#,
    ];
    run("jwt_verify", |rng| {
        let token = match rng.below(3) {
            // Byte-level mutations of a valid token.
            0 => String::from_utf8_lossy(&mutate(rng, valid.as_bytes())).into_owned(),
            // Structured: odd headers and claims, signed with the real secret.
            1 => {
                let mut c = claims.clone();
                let keys = ["sub", "role", "aud", "iss", "exp", "nbf", "iat", "email"];
                for _ in 0..1 + rng.below(3) {
                    let k = *rng.pick(&keys);
                    let v = match rng.below(7) {
                        0 => Value::Null,
                        1 => json!(rng.edgy_i64()),
                        2 => json!(rng.edgy_i64() as f64 / 7.0),
                        3 => json!(String::from_utf8_lossy(&mutate(rng, b"5f0c3b1e-6a8d-4c2b-9e61-2f4a7d9b8c10"))),
                        4 => json!([1, "authenticated", null]),
                        5 => json!({"nested": {"deep": [1, 2, 3]}}),
                        _ => Value::Bool(rng.chance(50)),
                    };
                    c[k] = v;
                }
                let header = *rng.pick(&headers);
                let mut t = credentials::encoding::base64url_encode(header.as_bytes());
                t.push('.');
                t.push_str(&credentials::encoding::base64url_encode(c.to_string().as_bytes()));
                let signing_input = t.clone();
                let full = jwt::mint_hs256(&c, &secret);
                let sig = full.rsplit('.').next().unwrap();
                // Right or wrong signature, over the right or a different signing input.
                if rng.chance(50) && header == headers[0] {
                    full
                } else {
                    format!("{signing_input}.{sig}")
                }
            }
            // Raw segments of random base64url text.
            _ => (0..3)
                .map(|_| {
                    (0..rng.below(60))
                        .map(|_| *rng.pick(b"ABCDEFabcdef0123456789-_=+/"))
                        .map(char::from)
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("."),
        };
        match jwt::verify(&token, &cfg, NOW) {
            Ok(c) => {
                // Any token accepted must be the seed token (same bytes after decoding) or carry
                // a real HMAC of its signing input under the secret (checked independently).
                let same = decoded_parts(&token).is_some_and(|p| p == original);
                let (input, sig) = token.rsplit_once('.').unwrap_or(("", ""));
                let signed = base64url_decode(sig)
                    .is_some_and(|s| s == hmac_sha256::HMAC::mac(input.as_bytes(), secret.as_bytes()).to_vec());
                if !(same || (signed && c.alg == "HS256")) {
                    return Err(format!("accepted a token that was not signed: {token}"));
                }
                let user_ok = jwt::is_uuid(&c.sub) && c.aud.iter().any(|a| a == "authenticated");
                let project_key_ok = c.kind == jwt::TokenKind::ProjectKey
                    && c.sub.is_empty()
                    && c.raw.get("sub").is_none()
                    && c.raw.get("aud").is_none()
                    && c.raw["iss"] == "supabase"
                    && matches!(c.role.as_str(), "anon" | "service_role");
                if !(user_ok || project_key_ok) || c.exp <= NOW {
                    return Err(format!("accepted invalid claims: {:?}", c.raw));
                }
            }
            Err(r) => {
                if r.code().is_empty() {
                    return Err("rejection without a code".into());
                }
            }
        }
        Ok(())
    });
}

// ---- JSON bodies and quote validation -----------------------------------------------------

fn request(body: Vec<u8>, content_type: &str) -> Request {
    Request {
        method: Method::Post,
        path: "/functions/v1/quote-processor".into(),
        sub_path: String::new(),
        query: String::new(),
        headers: vec![("content-type".into(), content_type.into())],
        body,
    }
}

fn random_json(rng: &mut Rng, depth: usize) -> Value {
    match if depth > 4 { rng.below(4) } else { rng.below(7) } {
        0 => Value::Null,
        1 => json!(rng.edgy_i64()),
        2 => json!(rng.edgy_i64() as f64 / 1000.0),
        3 => {
            let seed = rng_str(rng);
            json!(String::from_utf8_lossy(&mutate(rng, seed.as_bytes())))
        }
        4 => Value::Array((0..rng.below(4)).map(|_| random_json(rng, depth + 1)).collect()),
        5 => {
            let keys = ["name", "quantity", "unit_price", "cost", "line_items", "tax_rate", "markup_rate", "x", ""];
            Value::Object(
                (0..rng.below(5)).map(|_| (rng.pick(&keys).to_string(), random_json(rng, depth + 1))).collect(),
            )
        }
        _ => Value::Bool(rng.chance(50)),
    }
}

fn rng_str(rng: &mut Rng) -> &'static str {
    let word: &&'static str =
        rng.pick(&["19.99", "0.001", "1e3", "-5", "Greenleaf", "2026-02-30", "draft", "sent", "", "1.005", "100.00"]);
    word
}

fn sample_quote() -> Value {
    json!({
        "client_name": "Greenleaf", "client_email": "ops@greenleaf.example", "title": "Spring",
        "line_items": [{"name": "Mowing", "quantity": 3, "unit_price": "19.99", "unit": "h"},
                       {"name": "Edging", "quantity": "0.333", "unit_price": 10, "description": "front"}],
        "tax_rate": 8.25, "markup_rate": "12.5", "valid_until": "2026-12-31", "notes": "thanks",
    })
}

#[test]
fn json_bodies_and_quote_validation() {
    let sample = sample_quote();
    let sample_text = sample.to_string();
    let fields = [
        "client_name",
        "line_items",
        "tax_rate",
        "markup_rate",
        "valid_until",
        "status",
        "id",
        "quote",
        "operations",
        "notes",
    ];
    run("quote_json", |rng| {
        let (bytes, ct) = match rng.below(3) {
            0 => (mutate(rng, sample_text.as_bytes()), "application/json"),
            1 => {
                let mut q = sample.clone();
                for _ in 0..1 + rng.below(4) {
                    let field = *rng.pick(&fields);
                    let v = random_json(rng, 0);
                    if rng.chance(40) {
                        let i = rng.below(3);
                        if let Some(items) = q["line_items"].as_array_mut() {
                            if i < items.len() && items[i].is_object() {
                                let k = *rng.pick(&["name", "quantity", "unit_price", "cost", "unit", "extra"]);
                                items[i][k] = v;
                                continue;
                            }
                        }
                    }
                    q[field] = v;
                }
                (
                    q.to_string().into_bytes(),
                    *rng.pick(&[
                        "application/json",
                        "application/json; charset=utf-8",
                        "text/plain",
                        "application/merge-patch+json",
                    ]),
                )
            }
            _ => ((0..rng.below(64)).map(|_| rng.next() as u8).collect(), "application/json"),
        };
        let req = request(bytes, ct);
        match req.json::<QuoteInput>() {
            Ok(input) => match validate(&input) {
                Ok(valid) => {
                    let _ = valid;
                }
                Err(errors) => {
                    if errors.is_empty() {
                        return Err("validation failed without naming a field".into());
                    }
                }
            },
            Err(p) => {
                let v = p.to_json();
                let status = v["status"].as_u64().unwrap_or(0);
                if !(400..500).contains(&status) || v["code"].as_str().unwrap_or("").is_empty() {
                    return Err(format!("a bad body gave {v}"));
                }
            }
        }
        // The same bytes as an update body.
        if let Ok(input) = req.json::<QuoteUpdateInput>() {
            if let Err(errors) = validate_update(&input) {
                if errors.is_empty() {
                    return Err("update validation failed without naming a field".into());
                }
            }
        }
        Ok(())
    });
}

// ---- Quote maths --------------------------------------------------------------------------

/// Half away from zero, written independently of quotekit::money.
fn reference_round(num: i128, den: i128) -> i128 {
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den.abs() {
        q + num.signum() * den.signum()
    } else {
        q
    }
}

/// An amount in cents (`Totals::compute` rounds every amount to cents).
fn cents(m: Money) -> i128 {
    m.thousandths() as i128 / 10
}

#[test]
fn quote_maths() {
    const MAX: i128 = 999_999_999_999;
    run("money", |rng| {
        let lines: Vec<(Quantity, Money)> = (0..rng.below(6))
            .map(|_| {
                let q = if rng.chance(70) { (rng.next() % 100_000) as i64 } else { rng.edgy_i64() };
                let p = if rng.chance(70) { (rng.next() % 10_000_000) as i64 } else { rng.edgy_i64() };
                let p = p.clamp(-(MAX as i64), MAX as i64) * 10; // cents, in thousandths
                (Quantity::from_thousandths(q), Money::from_thousandths(p).unwrap())
            })
            .collect();
        let markup = Rate::from_hundredths(if rng.chance(80) { (rng.next() % 100_001) as i64 } else { rng.edgy_i64() });
        let tax = Rate::from_hundredths(if rng.chance(80) { (rng.next() % 10_001) as i64 } else { rng.edgy_i64() });

        // The reference: the module's documented rule in i128, with the range checks.
        let expected: Option<(Vec<i128>, i128, i128, i128, i128)> = (|| {
            if markup.hundredths() < 0 || tax.hundredths() < 0 {
                return None;
            }
            let mut totals = Vec::new();
            let mut sub = 0i128;
            for (q, p) in &lines {
                if q.thousandths() < 0 || cents(*p) < 0 {
                    return None;
                }
                let t = reference_round(q.thousandths() as i128 * cents(*p), 1000);
                if t > MAX {
                    return None;
                }
                sub += t;
                if sub > MAX {
                    return None;
                }
                totals.push(t);
            }
            let m = reference_round(sub * markup.hundredths() as i128, 10_000);
            if m > MAX || sub + m > MAX {
                return None;
            }
            let x = reference_round((sub + m) * tax.hundredths() as i128, 10_000);
            if x > MAX || sub + m + x > MAX {
                return None;
            }
            Some((totals, sub, m, x, sub + m + x))
        })();
        let got = Totals::compute(&lines, markup, tax);
        match (got, expected) {
            (Ok(t), Some((lines_e, sub, m, x, total))) => {
                let lines_g: Vec<i128> = t.line_totals.iter().map(|m| cents(*m)).collect();
                let mut amounts = t.line_totals.iter().chain([&t.subtotal, &t.markup_amount, &t.tax_amount, &t.total]);
                if lines_g != lines_e
                    || cents(t.subtotal) != sub
                    || cents(t.markup_amount) != m
                    || cents(t.tax_amount) != x
                    || cents(t.total) != total
                    || !amounts.all(|a| a.is_multiple_of(10))
                {
                    return Err(format!("totals differ from the reference: {t:?} vs {sub} {m} {x} {total}"));
                }
            }
            (Err(_), None) => {}
            (g, e) => {
                return Err(format!("compute {g:?} but the reference says {e:?} for {lines:?} {markup:?} {tax:?}"))
            }
        }

        // Parsing: whatever is accepted writes back as text that reads as the same value.
        let seed = *rng.pick(&["19.99", "0.333", "8.25", "-0.01", "9999999999.99"]);
        let text = String::from_utf8_lossy(&mutate(rng, seed.as_bytes())).into_owned();
        if let Ok(m) = Money::parse(&text) {
            if Money::parse(&m.to_string()) != Ok(m) {
                return Err(format!("Money {text:?} does not round-trip"));
            }
        }
        if let Ok(q) = Quantity::parse(&text) {
            if Quantity::parse(&q.to_string()) != Ok(q) {
                return Err(format!("Quantity {text:?} does not round-trip"));
            }
        }
        if let Ok(r) = Rate::parse(&text) {
            if Rate::parse(&r.to_string()) != Ok(r) {
                return Err(format!("Rate {text:?} does not round-trip"));
            }
        }
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            let _ = (Money::from_json(&v), Quantity::from_json(&v), Rate::from_json(&v));
        }
        Ok(())
    });
}

// ---- Threat detector ----------------------------------------------------------------------

#[test]
fn threat_detector() {
    let samples = [
        "1' UNION SELECT password FROM users--",
        "<img src=x onerror=alert(1)>",
        "; cat /etc/passwd",
        "$(curl evil)",
        "Greenleaf Landscaping",
        "O'Brien & Sons",
        "select the best option from the list",
        "<b>bold</b>",
        "{{7*7}}",
        "() { :;}; /bin/bash",
        "javascript:alert(1)",
        "%3Cscript%3E",
        "admin'--",
    ];
    run("threats", |rng| {
        let base = *rng.pick(&samples);
        let value = String::from_utf8_lossy(&mutate(rng, base.as_bytes())).into_owned();
        let enabled = Enabled { sql_injection: rng.chance(80), xss: rng.chance(80), command_injection: rng.chance(80) };
        let check = |found: &[threats::Detection]| -> Result<(), String> {
            if found.len() > 64 {
                return Err(format!("{} detections (limit 64)", found.len()));
            }
            for d in found {
                if !RULES.contains(&d.rule) || d.excerpt.chars().count() > 80 {
                    return Err(format!("bad detection {d:?}"));
                }
            }
            Ok(())
        };
        check(&threats::scan_value("body.notes", &value, enabled))?;
        let query: String = value.chars().map(|c| if c == ' ' { '+' } else { c }).collect();
        check(&threats::scan_query(&format!("q={query}&x=%{}", rng.below(256)), enabled))?;
        let mut doc = random_json(rng, 0);
        if let Value::Object(m) = &mut doc {
            m.insert(value.clone(), json!([value.clone(), {"k": value}]));
        }
        check(&threats::scan_json(&doc, enabled))?;
        // Deep nesting (built directly, past serde_json's parse limit) must not overflow the stack.
        if rng.chance(2) {
            let mut deep = json!(value);
            for _ in 0..20_000 {
                deep = Value::Array(vec![deep]);
            }
            let found = threats::scan_json(&deep, enabled);
            // Drop iteratively too: serde_json's recursive Drop would overflow on its own.
            let mut v = deep;
            while let Value::Array(mut items) = v {
                v = items.pop().unwrap_or(Value::Null);
            }
            check(&found)?;
        }
        Ok(())
    });
}

// ---- Threat detector: work --------------------------------------------------------------

/// What the detectors react to: separators, quotes, brackets, comment markers, entities,
/// escapes, keywords, and pieces of the shapes that used to make them read the input again.
const THREAT_ATOMS: &[&str] = &[
    ";",
    "|",
    "&",
    "\n",
    "\r",
    "`",
    "^",
    "$(",
    "$'",
    "${",
    "'",
    "\"",
    "(",
    ")",
    "<",
    ">",
    "{",
    "}",
    "--",
    "/*",
    "*/",
    "#",
    "<!--",
    "<!--#",
    "&amp;",
    "&#x41;",
    "&#65;",
    "&#",
    "&",
    "%25",
    "%u0041",
    "%",
    "\\x41",
    "\\u0041",
    "\\\\",
    "\\",
    " ",
    "+",
    "\t",
    "select ",
    "union ",
    "from ",
    "or 1=1 ",
    "order by 1,",
    "-- ",
    "<script",
    "<a",
    "on",
    " onx=",
    "xmlns",
    "cat",
    "cat ",
    "cat{",
    "sudo+",
    "sleep 1",
    "net user",
    "x.php",
    "1.2.3.4",
    "a.b.com",
    "/",
    ".",
    "=",
    "a",
    "1",
    "javascript:",
    "alert(",
    "system(",
    "/etc/passwd",
    "é",
];

/// An adversarial value of about `len` bytes, and the name of the generator that made it.
fn adversarial_value(rng: &mut Rng, len: usize) -> (&'static str, String) {
    let atom = |rng: &mut Rng| *rng.pick(THREAT_ATOMS);
    let repeat = |unit: &str, len: usize| unit.repeat((len / unit.len()).max(1));
    match rng.below(5) {
        0 => ("run", repeat(atom(rng), len)),
        1 => {
            let unit: String = (0..2 + rng.below(3)).map(|_| atom(rng)).collect();
            ("alternation", repeat(&unit, len))
        }
        2 => {
            let mut v = repeat(atom(rng), len).into_bytes();
            for _ in 0..1 + rng.below(8) {
                v = mutate(rng, &v);
            }
            ("mutated run", String::from_utf8_lossy(&v).into_owned())
        }
        3 => {
            let mut v = String::new();
            while v.len() < len {
                v.push_str(atom(rng));
            }
            ("atoms", v)
        }
        _ => {
            let attack = *rng.pick(&["; cat /etc/passwd", "' or 1=1 --", "<script>alert(1)</script>", "$(id)"]);
            let pad = repeat(atom(rng), len.saturating_sub(attack.len()));
            ("padding then attack", pad + attack)
        }
    }
}

/// Every value the detectors can meet costs at most the bound in `work` (a constant per byte),
/// whatever its shape: the worst input found is printed.
#[test]
fn threat_detector_work_is_linear() {
    let mut worst = (0.0, String::new());
    let n = (iterations() / 100).max(1);
    run_n("threat_work", n, |rng| {
        // Sizes on a log scale: nine in ten from 16 B to 8 KiB, the rest from 16 KiB to 1 MiB.
        let len = if rng.chance(10) { 1 << (14 + rng.below(7)) } else { 16 << rng.below(10) };
        let (generator, value) = adversarial_value(rng, len);
        let (found, steps) = work::measure(|| threats::scan_value("body.notes", &value, Enabled::ALL));
        let describe = || {
            let prefix: String = value.chars().take(40).collect();
            format!("{generator}, {} bytes, {prefix:?}...: {steps} steps", value.len())
        };
        if !work::within_bound(steps, value.len()) {
            return Err(format!("over the bound ({} a byte): {}", work::STEPS_PER_BYTE, describe()));
        }
        if found.len() > 3 {
            return Err(format!("{} detections for one value", found.len()));
        }
        let per_byte = steps as f64 / value.len().max(1) as f64;
        if value.len() >= 1024 && per_byte > worst.0 {
            worst = (per_byte, describe());
        }
        // The same value as a query parameter and inside a JSON body.
        if rng.chance(10) {
            let query = format!("q={}", value.replace('&', "%26"));
            let (_, steps) = work::measure(|| threats::scan_query(&query, Enabled::ALL));
            if !work::within_bound(steps, query.len()) {
                return Err(format!("query over the bound: {}", describe()));
            }
            let body = json!({"notes": value, "items": [value.as_str(), {value.as_str(): 1}]});
            let bytes = body.to_string().len();
            let (_, steps) = work::measure(|| threats::scan_json(&body, Enabled::ALL));
            if !work::within_bound(steps, bytes) {
                return Err(format!("JSON body over the bound: {}", describe()));
            }
        }
        Ok(())
    });
    eprintln!("fuzz threat_work: worst {:.1} steps a byte (bound {}): {}", worst.0, work::STEPS_PER_BYTE, worst.1);
}

// ---- Logos --------------------------------------------------------------------------------

/// `png` with every complete chunk's CRC made right again, so that a mutation reaches the
/// header, the palette and the image data instead of stopping at the first CRC.
fn with_crcs_fixed(mut png: Vec<u8>) -> Vec<u8> {
    let mut at = 8;
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|end| end + 4 <= png.len()) else { break };
        let crc = image::crc32(&[&png[at + 4..end]]);
        png[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
    png
}

#[test]
fn logo_uploads() {
    use std::io::Write;
    let zlib = |raw: &[u8]| {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(raw).unwrap();
        z.finish().unwrap()
    };
    // (depth, colour type, interlaced, chunks): kinds embedded as they are and decoded ones.
    let palette: Vec<u8> = (0..48u8).collect();
    type Chunks = Vec<(&'static [u8; 4], Vec<u8>)>;
    let kinds: Vec<(u8, u8, bool, Chunks)> = vec![
        (8, 2, false, vec![]),
        (8, 6, true, vec![]),
        (16, 4, false, vec![]),
        (1, 0, true, vec![(b"tRNS", vec![0, 1])]),
        (4, 3, false, vec![(b"PLTE", palette.clone()), (b"tRNS", vec![0, 90, 255])]),
        (16, 2, true, vec![(b"tRNS", vec![0, 1, 0, 2, 0, 3])]),
    ];
    let channels = |color_type: u8| match color_type {
        2 => 3,
        4 => 2,
        6 => 4,
        _ => 1,
    };
    run("logo", |rng| {
        let (depth, color_type, interlaced, chunks) = rng.pick(&kinds).clone();
        let (w, h) = (16 + rng.below(12) as u32, 16 + rng.below(12) as u32);
        let max = (1u32 << depth) - 1;
        let seed = rng.next();
        let pixel = |x: u32, y: u32| -> Vec<u16> {
            (0..channels(color_type))
                .map(|c| ((seed as u32 ^ (x * 31 + y * 7 + c as u32 * 3)) % (max + 1)) as u16)
                .collect()
        };
        let chunks: Vec<(&[u8; 4], &[u8])> = chunks.iter().map(|(k, d)| (*k, d.as_slice())).collect();
        let mut rows = samples::scanlines(w, h, depth, interlaced, pixel);
        // Mutate the decoded rows (filters, lengths) or the file itself (header, chunks, zlib).
        let file = if rng.chance(50) {
            rows = mutate(rng, &rows);
            samples::png_file(w, h, depth, color_type, interlaced, &chunks, &zlib(&rows))
        } else {
            let file = samples::png_file(w, h, depth, color_type, interlaced, &chunks, &zlib(&rows));
            let mutated = mutate(rng, &file);
            if rng.chance(90) {
                with_crcs_fixed(mutated)
            } else {
                mutated
            }
        };
        match image::check(Some("image/png"), &file) {
            Ok(checked) => {
                // Accepted: the renderer gets image data of the right size from it.
                let (img, data) = image::pdf_data(&file).map_err(|p| format!("accepted, then not drawn: {p:?}"))?;
                if (img.width, img.height) != (checked.width, checked.height) || data.data.is_empty() {
                    return Err(format!("drawn as {img:?} after {checked:?}"));
                }
            }
            Err(p) if matches!(p.status, 400 | 413) => {}
            Err(p) => return Err(format!("refused with {}: {p:?}", p.status)),
        }
        Ok(())
    });
}
