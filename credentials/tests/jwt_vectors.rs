//! The shared JWT vectors (`tests/fixtures/jwt/tokens.json`, 34 cases minted with
//! jose and cross-checked with PyJWT), evaluated at `validation.now` with the configuration
//! `validation` describes, plus extra tokens minted here with the fixture keys for cases the
//! vectors do not pin (no kid, padded segments with a valid MAC, exact size limit, ...).
//!
//! The fixtures are required: a missing or unreadable file fails the test, it never skips.

use credentials::encoding::base64url_encode;
use credentials::jwt::{self, verify, Claims, JwtConfig, Rejection};
use jwt_simple::algorithms::{ECDSAP256KeyPairLike, ES256KeyPair, HS256Key, MACLike, RS256KeyPair, RSAKeyPairLike};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/jwt");

fn read(rel: &str) -> String {
    let path = format!("{FIXTURES}/{rel}");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("JWT fixture {path} is required but could not be read: {e}"))
}

fn tokens() -> Value {
    serde_json::from_str(&read("tokens.json")).expect("tokens.json is valid JSON")
}

fn validation() -> Value {
    tokens()["validation"].clone()
}

fn now() -> i64 {
    validation()["now"].as_i64().expect("validation.now")
}

fn config() -> JwtConfig {
    let v = validation();
    let jwks = read(v["jwks_file"].as_str().expect("validation.jwks_file"));
    let cfg = JwtConfig::new(
        Some(v["hs256_secret"].as_str().expect("validation.hs256_secret")),
        Some(&jwks),
        Some(v["issuer"].as_str().expect("validation.issuer")),
        v["audience"].as_str().expect("validation.audience"),
    )
    .expect("config from the fixture validation + jwks.json");
    let skew = v["clock_skew_s"].as_u64().expect("validation.clock_skew_s");
    cfg.with_leeway(u32::try_from(skew).expect("small clock skew"))
}

/// The rejection each invalid vector is expected to produce with this implementation
/// (the fixture only pins valid/invalid; this pins *why*).
fn expected_rejection(name: &str) -> Option<Rejection> {
    use Rejection::*;
    Some(match name {
        "expired" | "expired_exactly_now" => Expired,
        "not_yet_valid_nbf" => NotYetValid,
        "wrong_audience" => WrongAudience,
        "wrong_issuer" => WrongIssuer,
        "missing_sub" | "missing_exp" => MissingClaim,
        "sub_not_uuid" => InvalidSubject,
        "exp_as_string" => InvalidClaim,
        "alg_none" | "alg_hs512_not_allowed" => UnsupportedAlgorithm,
        "key_confusion_hs256_with_rs256_public_pem"
        | "wrong_hs256_secret"
        | "signature_stripped"
        | "tampered_payload_role_escalation"
        | "es256_der_encoded_signature" => BadSignature,
        "malformed_base64_payload" | "malformed_base64_payload_with_valid_mac" | "two_segments_only" => Malformed,
        "unknown_kid" | "alg_mismatch_rs256_header_with_ec_kid" => UnknownKey,
        "jku_header_points_elsewhere" | "x5u_header_points_elsewhere" | "embedded_jwk_header_attacker_key" => {
            ForbiddenHeader
        }
        "crit_header_unknown_extension" => CritHeader,
        "oversized_10kb" => TooLarge,
        _ => return None,
    })
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn aud_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().expect("aud string").to_owned()).collect(),
        other => panic!("expected_claims.aud has an unexpected shape: {other}"),
    }
}

fn claims_mismatch(c: &Claims, expected: &Value) -> Option<String> {
    let mut diffs = Vec::new();
    let exp_sub = opt_str(expected, "sub");
    if exp_sub.as_deref() != Some(c.sub.as_str()) {
        diffs.push(format!("sub {:?} != {:?}", c.sub, exp_sub));
    }
    let exp_role = opt_str(expected, "role");
    if exp_role.as_deref() != Some(c.role.as_str()) {
        diffs.push(format!("role {:?} != {:?}", c.role, exp_role));
    }
    if opt_str(expected, "email") != c.email {
        diffs.push(format!("email {:?} != {:?}", c.email, opt_str(expected, "email")));
    }
    if opt_str(expected, "session_id") != c.session_id {
        diffs.push(format!("session_id {:?} != {:?}", c.session_id, opt_str(expected, "session_id")));
    }
    let aud = aud_list(expected.get("aud").expect("expected_claims.aud"));
    if aud != c.aud {
        diffs.push(format!("aud {:?} != {:?}", c.aud, aud));
    }
    // raw must be the full payload (what goes to request.jwt.claims)
    for key in ["sub", "role", "aud", "exp", "iss"] {
        if c.raw.get(key).is_none() {
            diffs.push(format!("raw lacks {key}"));
        }
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}

#[test]
fn validation_policy_matches_the_implementation() {
    let v = validation();
    let algs: Vec<&str> = v["algorithms"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(algs, jwt::ALLOWED_ALGORITHMS);
    assert_eq!(v["max_token_bytes"].as_u64(), Some(jwt::MAX_TOKEN_BYTES as u64));
    assert_eq!(v["clock_skew_s"].as_u64(), Some(0));
    let required: Vec<&str> = v["required_claims"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(required, ["exp", "sub", "aud", "iss", "role"]);
    // the secret in keys/ is the one validation names
    assert_eq!(read("keys/hs256_secret.txt").trim(), v["hs256_secret"].as_str().unwrap());
    assert_eq!(config().jwks_key_count(), 2, "jwks.json has one ES256 and one RS256 key");
}

#[test]
fn all_fixture_vectors() {
    let doc = tokens();
    let cases = doc["cases"].as_array().expect("tokens.json: cases[]");
    assert!(!cases.is_empty(), "tokens.json has no cases");
    let cfg = config();
    let now = now();

    let mut failures = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for case in cases {
        let name = case["name"].as_str().expect("case.name");
        let token = case["token"].as_str().expect("case.token");
        let expect = case["expect"].as_str().expect("case.expect");
        let reason = case["reason"].as_str().unwrap_or("");
        let result = verify(token, &cfg, now);
        match (expect, &result) {
            ("valid", Ok(claims)) => {
                valid += 1;
                let expected = case.get("expected_claims").expect("valid case has expected_claims");
                if let Some(diff) = claims_mismatch(claims, expected) {
                    failures.push(format!("{name}: claims differ: {diff} (reason: {reason})"));
                }
            }
            ("valid", Err(r)) => {
                failures.push(format!("{name}: expected valid, rejected with {} (reason: {reason})", r.code()))
            }
            ("invalid", Ok(_)) => failures.push(format!("{name}: expected invalid, ACCEPTED (reason: {reason})")),
            ("invalid", Err(r)) => {
                invalid += 1;
                match expected_rejection(name) {
                    Some(want) if want != *r => failures.push(format!(
                        "{name}: rejected as {} but {} was expected (reason: {reason})",
                        r.code(),
                        want.code()
                    )),
                    _ => {}
                }
                println!("{name:48} invalid → {}", r.code());
            }
            (other, _) => failures.push(format!("{name}: unknown expect {other:?}")),
        }
    }
    println!("{} cases: {valid} valid, {invalid} invalid, {} failures", cases.len(), failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} JWT vectors failed:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

#[test]
fn vectors_are_rejected_one_second_later_or_earlier_only_by_time() {
    // The valid tokens expire in 2100: still valid with any realistic clock; expired_exactly_now
    // becomes valid one second earlier (now < exp), proving the boundary is `now >= exp`.
    let doc = tokens();
    let cfg = config();
    let case = |n: &str| {
        doc["cases"].as_array().unwrap().iter().find(|c| c["name"] == n).unwrap_or_else(|| panic!("case {n}"))["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let t = case("expired_exactly_now");
    assert_eq!(verify(&t, &cfg, now()).unwrap_err(), Rejection::Expired);
    assert!(verify(&t, &cfg, now() - 1).is_ok());
    assert!(verify(&case("valid_hs256_user"), &cfg, 4_102_444_799).is_ok());
    assert_eq!(verify(&case("valid_hs256_user"), &cfg, 4_102_444_800).unwrap_err(), Rejection::Expired);
}

// ------------------------------------------------------------------------------------------
// Extra tokens minted with the fixture keys.
// ------------------------------------------------------------------------------------------

const ES_KID: &str = "949b5ac9-044d-4211-8992-f5b3f4fd98b7";
const RS_KID: &str = "bae1db7f-b897-4528-b48d-6c484e5d82ef";

fn payload() -> Value {
    let v = validation();
    json!({
        "aud": "authenticated", "exp": 4102444800u64, "iat": 1767225600u64,
        "iss": v["issuer"], "sub": "3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b",
        "role": "authenticated", "email": "maria.oconnor@greenleaf-landscaping.example",
        "session_id": "6b1d0c8e-2f7a-4c3b-9e5d-8a7f6e5d4c3b"
    })
}

fn seg(v: &Value) -> String {
    base64url_encode(&serde_json::to_vec(v).unwrap())
}

fn sign_es256(pem_file: &str, input: &str) -> String {
    use p256::ecdsa::signature::Signer as _;
    let kp = ES256KeyPair::from_pem(&read(pem_file)).expect("ES256 private key");
    let sig: p256::ecdsa::Signature = kp.key_pair().as_ref().sign(input.as_bytes());
    format!("{input}.{}", base64url_encode(&sig.to_bytes()))
}

fn sign_rs256(pem_file: &str, input: &str) -> String {
    use superboring::{hash::MessageDigest, pkey::PKey, rsa::Padding, sign::Signer};
    let kp = RS256KeyPair::from_pem(&read(pem_file)).expect("RS256 private key");
    let pkey = PKey::from_rsa(kp.key_pair().as_ref().clone()).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey).unwrap();
    signer.set_rsa_padding(Padding::PKCS1).unwrap();
    signer.update(input.as_bytes()).unwrap();
    format!("{input}.{}", base64url_encode(&signer.sign_to_vec().unwrap()))
}

fn sign_hs256(secret: &[u8], input: &str) -> String {
    let tag = HS256Key::from_bytes(secret).authentication_tag(input.as_bytes());
    format!("{input}.{}", base64url_encode(&tag))
}

fn secret() -> String {
    validation()["hs256_secret"].as_str().unwrap().to_owned()
}

#[test]
fn minted_with_fixture_keys_verify() {
    let cfg = config();
    let body = seg(&payload());
    let es = sign_es256(
        "keys/es256_private.pem",
        &format!("{}.{body}", seg(&json!({"alg":"ES256","typ":"JWT","kid":ES_KID}))),
    );
    let rs = sign_rs256(
        "keys/rs256_private.pem",
        &format!("{}.{body}", seg(&json!({"alg":"RS256","typ":"JWT","kid":RS_KID}))),
    );
    let hs = jwt::mint_hs256(&payload(), &secret());
    for (alg, t) in [("ES256", &es), ("RS256", &rs), ("HS256", &hs)] {
        let c = verify(t, &cfg, now()).unwrap_or_else(|r| panic!("{alg}: {}", r.code()));
        assert_eq!(c.alg, alg);
        assert_eq!(c.raw, payload());
    }
    // Supabase puts a kid on HS256 tokens too: ignored for key selection (even the RSA kid).
    let hs_kid =
        sign_hs256(secret().as_bytes(), &format!("{}.{body}", seg(&json!({"alg":"HS256","typ":"JWT","kid":RS_KID}))));
    assert!(verify(&hs_kid, &cfg, now()).is_ok());
    // A float NumericDate is a number: accepted.
    let mut p = payload();
    p["exp"] = json!(4102444800.5);
    let float_exp = jwt::mint_hs256(&p, &secret());
    assert_eq!(verify(&float_exp, &cfg, now()).unwrap().exp, 4102444800);
}

#[test]
fn key_selection_is_by_kid_and_type_only() {
    let cfg = config();
    let body = seg(&payload());
    let es_input = |h: Value| format!("{}.{body}", seg(&h));
    // ES256 signed by the real key but without a kid: no key is selected.
    let no_kid = sign_es256("keys/es256_private.pem", &es_input(json!({"alg":"ES256","typ":"JWT"})));
    assert_eq!(verify(&no_kid, &cfg, now()).unwrap_err(), Rejection::UnknownKey);
    // ES256 signed by the real EC key but naming the RSA kid: kty mismatch, no key.
    let rsa_kid = sign_es256("keys/es256_private.pem", &es_input(json!({"alg":"ES256","kid":RS_KID})));
    assert_eq!(verify(&rsa_kid, &cfg, now()).unwrap_err(), Rejection::UnknownKey);
    // Attacker EC key under the real kid: bad signature.
    let attacker = sign_es256("keys/attacker_es256_private.pem", &es_input(json!({"alg":"ES256","kid":ES_KID})));
    assert_eq!(verify(&attacker, &cfg, now()).unwrap_err(), Rejection::BadSignature);
    // Attacker RSA key under the real RSA kid: bad signature.
    let attacker_rs = sign_rs256("keys/attacker_rs256_private.pem", &es_input(json!({"alg":"RS256","kid":RS_KID})));
    assert_eq!(verify(&attacker_rs, &cfg, now()).unwrap_err(), Rejection::BadSignature);
    // HMAC keyed with the public keys (PEM text or raw JWK JSON): never accepted.
    for pem in ["keys/es256_public.pem", "keys/rs256_public.pem", "jwks.json"] {
        for kid in [ES_KID, RS_KID] {
            let t = sign_hs256(read(pem).as_bytes(), &es_input(json!({"alg":"HS256","kid":kid})));
            assert_eq!(verify(&t, &cfg, now()).unwrap_err(), Rejection::BadSignature, "{pem} {kid}");
        }
    }
    // An ES256 signature of the wrong size (R||S truncated / extended): bad signature.
    let good = sign_es256("keys/es256_private.pem", &es_input(json!({"alg":"ES256","kid":ES_KID})));
    assert!(verify(&good, &cfg, now()).is_ok());
    let (input, sig) = good.rsplit_once('.').unwrap();
    let raw = credentials::encoding::base64url_decode(sig).unwrap();
    for bad in [&raw[..63], &[raw.as_slice(), &[0u8]].concat()[..]] {
        let t = format!("{input}.{}", base64url_encode(bad));
        assert_eq!(verify(&t, &cfg, now()).unwrap_err(), Rejection::BadSignature);
    }
    // A JWKS that lacks the key: unknown key; no HS256 secret configured: HS256 unknown key.
    let jwks_only =
        JwtConfig::new(None, Some(&read("jwks.json")), Some("http://127.0.0.1:54321/auth/v1"), "authenticated")
            .unwrap();
    assert!(verify(&good, &jwks_only, now()).is_ok());
    assert_eq!(verify(&jwt::mint_hs256(&payload(), &secret()), &jwks_only, now()).unwrap_err(), Rejection::UnknownKey);
    let secret_only =
        JwtConfig::new(Some(&secret()), None, Some("http://127.0.0.1:54321/auth/v1"), "authenticated").unwrap();
    assert_eq!(verify(&good, &secret_only, now()).unwrap_err(), Rejection::UnknownKey);
}

#[test]
fn padded_or_spaced_segments_with_a_valid_mac_are_malformed() {
    // The README's non-vectorised cases: jose accepts them when the MAC covers those exact
    // bytes, PyJWT rejects them; strict unpadded base64url rejects them.
    let cfg = config();
    let mut p = payload();
    // make the payload encoding need padding
    while seg(&p).len().is_multiple_of(4) {
        p["pad"] = json!(format!("{}x", p["pad"].as_str().unwrap_or("")));
    }
    let h = seg(&json!({"alg":"HS256","typ":"JWT"}));
    let body = seg(&p);
    assert!(verify(&sign_hs256(secret().as_bytes(), &format!("{h}.{body}")), &cfg, now()).is_ok());
    let padded = format!("{body}{}", "=".repeat(4 - body.len() % 4));
    let spaced = format!("{} {}", &body[..20], &body[20..]);
    for input in [format!("{h}.{padded}"), format!("{h}.{spaced}")] {
        let t = sign_hs256(secret().as_bytes(), &input);
        assert_eq!(verify(&t, &cfg, now()).unwrap_err(), Rejection::Malformed, "{input}");
    }
}

#[test]
fn size_limit_is_exactly_max_token_bytes() {
    let cfg = config();
    let mint = |n: usize| {
        let mut p = payload();
        p["filler"] = json!("x".repeat(n));
        jwt::mint_hs256(&p, &secret())
    };
    let base = mint(0).len();
    let exact = (0..8)
        .map(|extra| mint((jwt::MAX_TOKEN_BYTES - base) / 4 * 3 + extra))
        .find(|t| t.len() == jwt::MAX_TOKEN_BYTES)
        .expect("a token of exactly MAX_TOKEN_BYTES");
    assert!(verify(&exact, &cfg, now()).is_ok());
    let over = (0..8)
        .map(|extra| mint((jwt::MAX_TOKEN_BYTES - base) / 4 * 3 + extra))
        .find(|t| t.len() > jwt::MAX_TOKEN_BYTES)
        .unwrap();
    assert_eq!(verify(&over, &cfg, now()).unwrap_err(), Rejection::TooLarge);
}
