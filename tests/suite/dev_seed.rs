//! scripts/demo.sql, the demo data scripts/dev seeds: run twice it changes nothing the second
//! time, and through the real functions the demo user is on the paid plan with every feature,
//! sees its clients and quotes (stored as quote-processor stores them), renders a quote's PDF,
//! runs a batch export, and its next quote takes the next number.

use e2e::{root, Host, HostConfig, Jwt, TestDb};
use serde_json::{json, Value};

/// The ids the seed gives a new database (README and scripts/dev print them).
const DEMO_USER: &str = "de300000-0000-4000-8000-000000000001";
const DEMO_QUOTE: &str = "de300000-0000-4000-8000-00000000a001";

fn seed(db: &TestDb) {
    let sql = std::fs::read_to_string(root().join("scripts/demo.sql")).expect("scripts/demo.sql");
    db.exec(&sql);
}

fn counts(db: &TestDb) -> Vec<i64> {
    let mut c = db.client();
    let row = c
        .query_one(
            "SELECT (SELECT count(*) FROM auth.users WHERE email = 'demo@quotekit.local'),
                    (SELECT count(*) FROM subscriptions WHERE user_id = $1::text::uuid),
                    (SELECT count(*) FROM clients WHERE user_id = $1::text::uuid),
                    (SELECT count(*) FROM quotes WHERE user_id = $1::text::uuid),
                    (SELECT coalesce(max(last_seq), 0)::bigint FROM quote_counters WHERE user_id = $1::text::uuid),
                    (SELECT count(*) FROM company_settings WHERE id = $1::text::uuid)",
            &[&DEMO_USER],
        )
        .unwrap();
    (0..6).map(|i| row.get::<_, i64>(i)).collect()
}

#[test]
fn the_demo_seed_puts_the_demo_user_on_a_paid_plan_and_runs_twice_unchanged() {
    let db = TestDb::new();
    seed(&db);
    let first = counts(&db);
    assert_eq!(first, vec![1, 1, 3, 3, 3, 1], "user, subscription, clients, quotes, counter, company settings");
    seed(&db);
    assert_eq!(counts(&db), first, "a second run adds nothing");

    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(DEMO_USER);
    let r = host.get("/functions/v1/subscription-status").bearer(&token).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let d = r.json()["data"].clone();
    assert_eq!(
        (d["plan"]["key"].as_str(), d["plan"]["entitled"].as_bool()),
        (Some("prod_demo_pro"), Some(true)),
        "{d}"
    );
    for flag in ["pdf_export", "email_quotes", "custom_branding", "analytics", "api_access", "bulk_operations"] {
        assert_eq!(d["features"][flag], true, "{flag}");
    }
    assert_eq!(d["diagnostics"], json!([]), "the demo user's plan raises nothing");

    // The seeded quotes read back as quote-processor's own, totals and numbers included.
    let r = host.get("/functions/v1/quote-processor").bearer(&token).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let mut numbers: Vec<String> =
        list["data"].as_array().unwrap().iter().map(|q| q["quote_number"].as_str().unwrap().to_string()).collect();
    numbers.sort();
    let year = numbers[0][2..6].to_string();
    assert_eq!(numbers, (1..=3).map(|n| format!("Q-{year}-{n:04}")).collect::<Vec<_>>());
    let q = host.get(&format!("/functions/v1/quote-processor/{DEMO_QUOTE}")).bearer(&token).send();
    assert_eq!(q.status, 200, "{}", q.text());
    let q: Value = q.json();
    let q = if q.get("data").is_some() { q["data"].clone() } else { q };
    assert_eq!(
        (q["subtotal"].as_str(), q["tax_amount"].as_str(), q["total"].as_str()),
        (Some("275.00"), Some("22.69"), Some("297.69")),
        "{q}"
    );

    // An update recomputes from the stored items: the same totals.
    let r = e2e::Req::new("PATCH", &host.url(&format!("/functions/v1/quote-processor/{DEMO_QUOTE}")))
        .bearer(&token)
        .json(&json!({"notes": "Checked"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let u = r.json();
    let u = if u.get("data").is_some() { u["data"].clone() } else { u };
    assert_eq!(u["total"], "297.69", "{u}");

    // The README's PDF and batch calls: no 402.
    let r = host.post("/functions/v1/quote-pdf-generator").bearer(&token).json(&json!({"quote_id": DEMO_QUOTE})).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    let r = host
        .post("/functions/v1/batch-processor")
        .bearer(&token)
        .json(&json!({"operation": "export_quotes", "items": [DEMO_QUOTE], "options": {"format": "csv"}}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());

    // A new quote takes the number after the seeded ones.
    let r = host
        .post("/functions/v1/quote-processor")
        .bearer(&token)
        .json(&json!({"client_name": "Greenleaf", "line_items": [{"name": "Mowing", "quantity": 3, "unit_price": "19.99"}], "tax_rate": 8.25}))
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let created = if created.get("data").is_some() { created["data"].clone() } else { created };
    assert_eq!(created["quote_number"], format!("Q-{year}-0004"));

    // Seeding again keeps what the user made and changed.
    seed(&db);
    assert_eq!(counts(&db)[3], 4);
}
