//! Every token of `fixtures/jwt/tokens.json` (minted by jose, cross-checked by PyJWT) gets
//! its labelled outcome through the real subscription-status component in the real host.

use e2e::{fixture_json, Host, HostConfig, TestDb};

#[test]
fn every_fixture_token_gets_its_labelled_outcome_through_the_component() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let fx = fixture_json("jwt/tokens.json");
    let cases = fx["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 34, "the fixture has 34 cases");
    let mut failures = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let token = case["token"].as_str().unwrap();
        let r = host.get("/functions/v1/subscription-status").bearer(token).send();
        if case["expect"] == "valid" {
            valid += 1;
            let claims = &case["expected_claims"];
            match claims["role"].as_str().unwrap() {
                "authenticated" => {
                    if r.status != 200 {
                        failures.push(format!("{name}: expected 200, got {} {}", r.status, r.text()));
                        continue;
                    }
                    let user = &r.json()["data"]["user"];
                    if user["id"] != claims["sub"] || user["email"] != claims["email"] {
                        failures.push(format!("{name}: claims not taken from this token: {user}"));
                    }
                }
                // Valid tokens that are not a user's: authenticated, but not allowed here.
                role => {
                    if r.status != 403 {
                        failures.push(format!("{name}: role {role} should get 403, got {} {}", r.status, r.text()));
                    }
                }
            }
        } else {
            invalid += 1;
            let ok = r.status == 401
                && r.header("content-type") == Some("application/problem+json")
                && r.json()["code"].as_str().is_some_and(|c| !c.is_empty());
            if !ok {
                failures.push(format!("{name}: expected 401 problem+json, got {} {}", r.status, r.text()));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!((valid, invalid), (8, 26));
}

#[test]
fn a_token_signed_with_the_wrong_key_never_reaches_the_database() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let forged = e2e::sign::jwt_hs256(
        &serde_json::json!({"sub": "3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b", "role": "authenticated",
            "aud": "authenticated", "iss": e2e::Jwt::issuer(), "exp": e2e::sign::now_unix() + 60}),
        "a-different-secret-of-sufficient-length",
    );
    let r = host.get("/functions/v1/subscription-status").bearer(&forged).send();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "invalid_signature");
}
