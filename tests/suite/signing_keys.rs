//! The keys tokens are verified with, as a Supabase project has them: its legacy anon and
//! service-role API keys (HS256 with the JWT secret, no `sub`, no `aud`), and signing keys
//! published at `jwks_url` that rotate (fetched on an unknown kid, cached in the database,
//! refetched at most once per floor interval however many instances ask).

use e2e::http::Recorder;
use e2e::sign::{es256_jwk, es256_key, jwt_es256, jwt_hs256, now_unix};
use e2e::{Host, HostConfig, Jwt, TestDb};
use serde_json::{json, Value};

const STATUS: &str = "/functions/v1/subscription-status";

fn user_claims(sub: &str) -> Value {
    let now = now_unix();
    json!({ "sub": sub, "role": "authenticated", "aud": "authenticated", "iss": Jwt::issuer(),
            "email": "rotating@example.test", "iat": now, "exp": now + 3600 })
}

/// A Supabase project API key: what the dashboard shows as the anon / service_role key.
pub fn project_key(role: &str) -> String {
    let now = now_unix();
    jwt_hs256(
        &json!({ "iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": role, "iat": now, "exp": now + 10 * 365 * 86_400 }),
        &Jwt::secret(),
    )
}

fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

fn fetches(server: &Recorder) -> usize {
    server.received().iter().filter(|r| r.path == "/auth/v1/.well-known/jwks.json").count()
}

#[test]
fn supabase_api_keys_act_with_their_role() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let service = project_key("service_role");
    let anon = project_key("anon");
    // The service-role key is the guide's $SERVICE_ROLE_KEY: admin functions answer it.
    let r = host.get("/functions/v1/webhook-monitor/overview").bearer(&service).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = host.get("/functions/v1/monitoring-alerting").bearer(&service).send();
    assert_eq!(r.status, 200, "{}", r.text());
    // The anon key is a valid token without a user: user endpoints want a sign-in, admin
    // endpoints an administrator.
    let r = host.get(STATUS).bearer(&anon).send();
    assert_eq!((r.status, r.json()["code"].as_str()), (403, Some("sign_in_required")), "{}", r.text());
    let r = host.get("/functions/v1/webhook-monitor/overview").bearer(&anon).send();
    assert_eq!((r.status, r.json()["code"].as_str()), (403, Some("admin_required")));
    // The host's own admin endpoint takes the same key.
    let r = host.get("/.well-known/edge/pool").bearer(&service).send();
    assert_eq!(r.status, 200, "{}", r.text());
    // A key of another project's secret is refused; an expired key is expired.
    let forged = jwt_hs256(
        &json!({ "iss": "supabase", "ref": "x", "role": "service_role", "iat": 1, "exp": now_unix() + 60 }),
        "another-projects-secret-of-some-length",
    );
    assert_eq!(host.get("/functions/v1/webhook-monitor/overview").bearer(&forged).send().status, 401);
    let expired = jwt_hs256(
        &json!({ "iss": "supabase", "ref": "x", "role": "service_role", "iat": 1, "exp": now_unix() - 10 }),
        &Jwt::secret(),
    );
    let r = host.get("/functions/v1/webhook-monitor/overview").bearer(&expired).send();
    assert_eq!((r.status, r.json()["code"].as_str()), (401, Some("token_expired")));
}

#[test]
fn rotated_signing_keys_are_fetched_from_jwks_url_once_per_floor() {
    let db = TestDb::new();
    let user = db.user("rotating@example.test");
    let first = es256_key("signing key 1");
    let second = es256_key("signing key 2");
    let server = Recorder::start(200, &jwks(&[es256_jwk(&first, "key-1")]));
    let origin = format!("http://127.0.0.1:{}", server.port);
    let host = Host::start(
        HostConfig::app(&db)
            .var("jwks_url", &format!("{origin}/auth/v1/.well-known/jwks.json"))
            .var("jwks_origin", &origin),
    );
    let status_with = |token: &str| {
        let r = host.get(STATUS).bearer(token).send();
        (r.status, r.json()["code"].as_str().map(str::to_string))
    };

    // A key only jwks_url has: fetched once, then served from the database's cache.
    let token1 = jwt_es256(&user_claims(&user), &first, "key-1");
    assert_eq!(status_with(&token1).0, 200);
    assert_eq!(status_with(&token1).0, 200);
    assert_eq!(fetches(&server), 1, "the second request used the cached document");

    // The project rotates: a token of the new key, within the floor after the last fetch,
    // is refused without a fetch; once the floor has passed, one request refetches.
    server.answer(200, &jwks(&[es256_jwk(&first, "key-1"), es256_jwk(&second, "key-2")]));
    let token2 = jwt_es256(&user_claims(&user), &second, "key-2");
    assert_eq!(status_with(&token2), (401, Some("unknown_signing_key".to_string())));
    assert_eq!(fetches(&server), 1, "no refetch within the floor");
    db.exec("UPDATE public.jwks_cache SET attempted_at = attempted_at - interval '31 seconds'");
    assert_eq!(status_with(&token2).0, 200);
    assert_eq!(fetches(&server), 2);
    assert_eq!(status_with(&token1).0, 200, "the old key verifies while it is published");

    // Twelve requests at once with kids nobody published: one fetch, twelve refusals.
    db.exec("UPDATE public.jwks_cache SET attempted_at = attempted_at - interval '31 seconds'");
    let made_up: Vec<String> = (0..12)
        .map(|i| jwt_es256(&user_claims(&user), &es256_key(&format!("nobody {i}")), &format!("made-up-{i}")))
        .collect();
    let answers: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = made_up.iter().map(|t| s.spawn(|| host.get(STATUS).bearer(t).send().status)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|s| *s == 401), "{answers:?}");
    assert_eq!(fetches(&server), 3, "one fetch for the whole burst");

    // The configured jwks is still trusted, without a fetch.
    let fixture = e2e::fixture_json("jwt/tokens.json");
    let es256 = fixture["cases"].as_array().unwrap().iter().find(|c| c["name"] == "valid_es256_via_jwks").unwrap();
    let r = host.get(STATUS).bearer(es256["token"].as_str().unwrap()).send();
    assert_ne!(r.status, 401, "{}", r.text());
    assert_eq!(fetches(&server), 3);

    // jwks_url failing: the last good document stays in use; the failure is recorded.
    server.answer(500, "{}");
    db.exec("UPDATE public.jwks_cache SET attempted_at = attempted_at - interval '31 seconds', fetched_at = fetched_at - interval '11 minutes'");
    assert_eq!(status_with(&token2).0, 200);
    assert_eq!(fetches(&server), 4);
    let error: String = db.client().query_one("SELECT last_error FROM public.jwks_cache", &[]).unwrap().get(0);
    assert!(error.contains("HTTP 500"), "{error}");
}
