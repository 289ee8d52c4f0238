//! subscription-status through the host against real rows: free defaults, each subscription
//! status, unlimited plans, limit warnings, diagnostics, and other users' data never visible.

use e2e::{Host, HostConfig, Jwt, TestDb};
use serde_json::Value;

const PATH: &str = "/functions/v1/subscription-status";

/// A Pro product (100 quotes, 50 clients, every feature) and an Unlimited one (-1).
fn seed_catalog(db: &TestDb) {
    db.exec(
        "INSERT INTO stripe_products (id, name) VALUES ('prod_pro', 'Pro'), ('prod_unlimited', 'Unlimited'), ('prod_bare', 'Bare');
         INSERT INTO stripe_prices (id, stripe_product_id, currency, unit_amount, type, \"interval\") VALUES
           ('price_pro', 'prod_pro', 'usd', 2900, 'recurring', 'month'),
           ('price_unl', 'prod_unlimited', 'usd', 9900, 'recurring', 'month'),
           ('price_bare', 'prod_bare', 'usd', 500, 'recurring', 'month');
         INSERT INTO plan_limits (plan_key, name, max_quotes, max_clients, pdf_export, email_quotes, custom_branding,
                                  analytics, api_access, bulk_operations) VALUES
           ('prod_pro', 'Pro', 100, 50, true, true, true, true, true, true),
           ('prod_unlimited', 'Unlimited', -1, -1, true, true, true, true, true, true);",
    );
}

fn subscribe(db: &TestDb, user: &str, price: &str, status: &str, sub_id: &str) {
    db.exec(&format!(
        "INSERT INTO stripe_customers (user_id, stripe_customer_id, email) VALUES ('{user}', 'cus_{sub_id}', 'x@example.test')
           ON CONFLICT (user_id) DO NOTHING;
         INSERT INTO subscriptions (stripe_subscription_id, user_id, stripe_customer_id, stripe_price_id, status,
                                    current_period_start, current_period_end)
           VALUES ('{sub_id}', '{user}', 'cus_{sub_id}', '{price}', '{status}', now(), now() + interval '30 days');"
    ));
}

fn status(host: &Host, user: &str) -> Value {
    let r = host.get(PATH).bearer(&Jwt::user(user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"].clone()
}

fn codes(data: &Value) -> Vec<String> {
    data["diagnostics"]
        .as_array()
        .map(|a| a.iter().map(|d| d["code"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn a_new_user_gets_the_free_plan_defaults() {
    let db = TestDb::new();
    let user = db.user("new@example.test");
    let host = Host::start(HostConfig::app(&db));
    let d = status(&host, &user);
    assert_eq!(d["plan"]["key"], "free");
    assert_eq!(d["plan"]["entitled"], false);
    assert_eq!(d["subscription"], Value::Null);
    let f = &d["features"];
    assert_eq!((f["max_quotes"].as_i64(), f["max_clients"].as_i64()), (Some(5), Some(3)));
    for flag in ["pdf_export", "email_quotes", "custom_branding", "analytics", "api_access", "bulk_operations"] {
        assert_eq!(f[flag], false, "{flag}");
    }
    assert_eq!(d["limits"]["quotesRemaining"], 5);
    assert_eq!(d["limits"]["clientsRemaining"], 3);
    assert_eq!(codes(&d), vec!["no_stripe_customer"]);
    assert!(d["usage"]["periodStart"].as_str().unwrap().ends_with("-01T00:00:00Z"));
}

#[test]
fn each_subscription_status_entitles_or_falls_back_to_free() {
    let db = TestDb::new();
    seed_catalog(&db);
    let host = Host::start(HostConfig::app(&db));
    let cases = [
        ("active", true, false),
        ("trialing", true, false),
        ("past_due", true, true),
        ("canceled", false, false),
        ("incomplete", false, false),
        ("incomplete_expired", false, false),
        ("unpaid", false, false),
        ("paused", false, false),
    ];
    for (i, (st, entitled, past_due)) in cases.iter().enumerate() {
        let user = db.user(&format!("s{i}@example.test"));
        subscribe(&db, &user, "price_pro", st, &format!("sub_{i}"));
        let d = status(&host, &user);
        assert_eq!(d["plan"]["entitled"], *entitled, "{st}");
        assert_eq!(d["plan"]["past_due"], *past_due, "{st}");
        let max = d["features"]["max_quotes"].as_i64().unwrap();
        assert_eq!(max, if *entitled { 100 } else { 5 }, "{st}");
        assert_eq!(d["features"]["pdf_export"], *entitled, "{st}");
        let c = codes(&d);
        assert_eq!(c.contains(&"payment_past_due".to_string()), *past_due, "{st}: {c:?}");
        assert_eq!(c.contains(&"no_active_subscription".to_string()), !entitled, "{st}: {c:?}");
        if *entitled {
            assert_eq!(d["subscription"]["status"], *st);
            assert_eq!(d["subscription"]["unit_amount"], 2900);
            assert_eq!(d["plan"]["name"], "Pro");
        }
    }
}

#[test]
fn an_unlimited_plan_reports_minus_one_and_never_warns() {
    let db = TestDb::new();
    seed_catalog(&db);
    let user = db.user("big@example.test");
    subscribe(&db, &user, "price_unl", "active", "sub_unl");
    db.exec(&format!(
        "INSERT INTO user_usage (user_id, month_year, quotes_count) VALUES ('{user}', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM'), 5000)"
    ));
    let host = Host::start(HostConfig::app(&db));
    let d = status(&host, &user);
    assert_eq!(d["features"]["max_quotes"], -1);
    assert_eq!(d["limits"]["quotesRemaining"], -1);
    assert_eq!(d["usage"]["quotes"], 5000);
    assert!(codes(&d).is_empty(), "{:?}", codes(&d));
}

#[test]
fn reaching_a_limit_is_warned_with_exact_figures() {
    let db = TestDb::new();
    let user = db.user("busy@example.test");
    db.exec(&format!(
        "INSERT INTO user_usage (user_id, month_year, quotes_count, pdf_exports_count) VALUES ('{user}', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM'), 5, 2);
         INSERT INTO clients (user_id, name) VALUES ('{user}', 'a'), ('{user}', 'b');
         INSERT INTO user_usage (user_id, month_year, quotes_count) VALUES ('{user}', '2001-01', 99);"
    ));
    let host = Host::start(HostConfig::app(&db));
    let d = status(&host, &user);
    assert_eq!(d["usage"]["quotes"], 5, "only this month counts");
    assert_eq!(d["usage"]["pdf_exports"], 2);
    assert_eq!(d["usage"]["clients"], 2);
    assert_eq!(d["limits"]["quotesRemaining"], 0);
    assert_eq!(d["limits"]["clientsRemaining"], 1);
    let c = codes(&d);
    assert!(c.contains(&"quote_limit_reached".to_string()), "{c:?}");
    assert!(!c.contains(&"client_limit_reached".to_string()), "{c:?}");
    let warning = d["diagnostics"].as_array().unwrap().iter().find(|x| x["code"] == "quote_limit_reached").unwrap();
    assert!(warning["message"].as_str().unwrap().contains("quote limit of 5"));
}

#[test]
fn another_users_subscription_and_webhook_backlog_are_never_visible() {
    let db = TestDb::new();
    seed_catalog(&db);
    let alice = db.user("alice@example.test");
    let bob = db.user("bob@example.test");
    subscribe(&db, &bob, "price_pro", "active", "sub_bob");
    // Bob's customer has two unprocessed events; another customer has one.
    db.exec(
        "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, stripe_customer_id, processed, error_message)
         VALUES ('evt_b1', 'invoice.paid', 'cus_sub_bob', false, 'price missing'),
                ('evt_b2', 'customer.updated', 'cus_sub_bob', false, null),
                ('evt_b3', 'customer.updated', 'cus_sub_bob', true, null),
                ('evt_x', 'invoice.paid', 'cus_other', false, 'boom');",
    );
    let host = Host::start(HostConfig::app(&db));
    let a = status(&host, &alice);
    assert_eq!(a["plan"]["key"], "free");
    assert_eq!(a["subscription"], Value::Null);
    assert!(!a.to_string().contains("evt_"), "alice sees no webhook events: {a}");
    let b = status(&host, &bob);
    assert_eq!(b["plan"]["key"], "prod_pro");
    let events: Vec<&str> =
        b["unprocessed_webhook_events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.contains(&"evt_b1") && events.contains(&"evt_b2"));
    let diag = b["diagnostics"].as_array().unwrap().iter().find(|x| x["code"] == "webhook_events_unprocessed").unwrap();
    assert!(diag["message"].as_str().unwrap().starts_with("2 billing events"));
}

#[test]
fn a_paid_plan_without_limits_of_its_own_gets_paid_default_never_the_free_plan() {
    let db = TestDb::new();
    seed_catalog(&db);
    // The operator's default for paid products without limits (0009 seeds it; editable).
    db.exec("UPDATE plan_limits SET max_quotes = 250, max_clients = 40, custom_branding = false WHERE plan_key = 'paid_default'");
    let user = db.user("bare@example.test");
    subscribe(&db, &user, "price_bare", "active", "sub_bare");
    let host = Host::start(HostConfig::app(&db));
    let d = status(&host, &user);
    assert_eq!(d["plan"]["entitled"], true);
    assert_eq!(d["plan"]["key"], "prod_bare");
    assert_eq!(d["plan"]["limits_configured"], false);
    assert_eq!(d["features"]["max_quotes"], 250);
    assert_eq!(d["features"]["max_clients"], 40);
    assert_eq!(d["features"]["pdf_export"], true);
    assert_eq!(d["features"]["custom_branding"], false);
    assert!(codes(&d).contains(&"plan_limits_missing".to_string()));

    // A product whose subscribed price costs nothing is the free plan.
    db.exec(
        "INSERT INTO stripe_products (id, name) VALUES ('prod_gratis', 'Gratis');
         INSERT INTO stripe_prices (id, stripe_product_id, currency, unit_amount, type, \"interval\")
           VALUES ('price_gratis', 'prod_gratis', 'usd', 0, 'recurring', 'month');",
    );
    let other = db.user("gratis@example.test");
    subscribe(&db, &other, "price_gratis", "active", "sub_gratis");
    let d = status(&host, &other);
    assert_eq!(d["features"]["max_quotes"], 5);
    assert_eq!(d["plan"]["limits_configured"], true);
    assert!(!codes(&d).contains(&"plan_limits_missing".to_string()));
}

#[test]
fn diagnostics_can_be_turned_off_and_bad_values_are_refused() {
    let db = TestDb::new();
    let user = db.user("quiet@example.test");
    let host = Host::start(HostConfig::app(&db));
    let r = host.get(&format!("{PATH}?include_diagnostics=false")).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 200);
    assert!(r.json()["data"].get("diagnostics").is_none());
    let r = host.get(&format!("{PATH}?include_diagnostics=maybe")).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"][0]["field"], "include_diagnostics");
}

#[test]
fn every_request_writes_one_metrics_row() {
    let db = TestDb::new();
    let user = db.user("metrics@example.test");
    let host = Host::start(HostConfig::app(&db));
    status(&host, &user);
    host.get(PATH).send(); // 401
    host.get(&format!("{PATH}/health")).send();
    // Rows are written after the response; give the last one a moment.
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = db
            .client()
            .query(
                "SELECT route, method, status, user_id::text, region, deployment_color, duration_ms
                 FROM performance_metrics WHERE function_name = 'subscription-status' ORDER BY id",
                &[],
            )
            .unwrap();
        if rows.len() >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(rows.len(), 3);
    // Rows are written after each response, so their order is not the requests' order.
    let mut seen: Vec<(String, i32, Option<String>)> =
        rows.iter().map(|r| (r.get(0), r.get(2), r.get::<_, Option<String>>(3))).collect();
    seen.sort();
    let root = "/functions/v1/subscription-status".to_string();
    assert_eq!(
        seen,
        vec![(root.clone(), 200, Some(user.clone())), (root.clone(), 401, None), (format!("{root}/health"), 200, None),]
    );
    assert!(rows.iter().all(|r| r.get::<_, String>(5) == "blue" && r.get::<_, String>(1) == "GET"));
    assert!(rows.iter().all(|r| r.get::<_, f64>(6) > 0.0));
}

#[test]
fn a_subscription_whose_period_ended_no_longer_entitles() {
    let db = TestDb::new();
    seed_catalog(&db);
    let host = Host::start(HostConfig::app(&db));
    // Still "active" in the mirror (its renewal or cancellation never arrived), its period over
    // for four days: the free plan. Two hours over: inside the grace for a late renewal.
    let cases = [("lapsed", "4 days", false), ("late", "2 hours", true)];
    for (name, ago, entitled) in cases {
        let user = db.user(&format!("{name}@example.test"));
        subscribe(&db, &user, "price_pro", "active", &format!("sub_{name}"));
        db.exec(&format!(
            "UPDATE subscriptions SET current_period_start = now() - interval '1 month' - interval '{ago}',
                                      current_period_end = now() - interval '{ago}'
             WHERE stripe_subscription_id = 'sub_{name}'"
        ));
        let d = status(&host, &user);
        assert_eq!(d["plan"]["entitled"], entitled, "{name}: {d}");
        assert_eq!(d["features"]["max_quotes"], if entitled { 100 } else { 5 }, "{name}");
        assert_eq!(d["features"]["pdf_export"], entitled, "{name}");
    }
    // The quota follows the same rule: the lapsed user gets the free plan's 5 quotes.
    let lapsed: String = db
        .client()
        .query_one("SELECT id::text FROM auth.users WHERE email = 'lapsed@example.test'", &[])
        .unwrap()
        .get(0);
    let token = Jwt::user(&lapsed);
    let quote = serde_json::json!({"client_name": "C", "line_items": [{"name": "x", "quantity": 1, "unit_price": 1}]});
    let statuses: Vec<u16> =
        (0..6).map(|_| host.post("/functions/v1/quote-processor").bearer(&token).json(&quote).send().status).collect();
    assert_eq!(statuses, [201, 201, 201, 201, 201, 402]);
}

#[test]
fn unprocessed_events_tell_the_user_a_classified_reason_never_database_text() {
    const SECRET: &str = "whsec_status_0123456789abcdefghij";
    let db = TestDb::new();
    let user = db.user("billing@example.test");
    db.exec(&format!("INSERT INTO stripe_customers (user_id, stripe_customer_id) VALUES ('{user}', 'cus_billing')"));
    let host = Host::start(HostConfig::app(&db).var("stripe_webhook_secrets", SECRET));
    // A subscription snapshot whose price Stripe sent with a currency our mirror refuses: the
    // database's check constraint fails, the event waits in the dead-letter queue.
    let now = e2e::sign::now_unix();
    let body = serde_json::json!({
        "id": "evt_bad_price", "object": "event", "type": "customer.subscription.created", "created": now,
        "data": {"object": {"id": "sub_bad", "object": "subscription", "customer": "cus_billing", "status": "active",
            "items": {"data": [{"price": {"id": "price_bad", "object": "price", "product": "prod_bad", "currency": "dollars",
                "unit_amount": 100, "type": "recurring", "recurring": {"interval": "month"}}}]}}},
    })
    .to_string();
    let signature = e2e::sign::stripe_signature(body.as_bytes(), SECRET, now);
    let r = host
        .post("/functions/v1/webhook-handler")
        .header("content-type", "application/json")
        .header("stripe-signature", &signature)
        .body(body.into_bytes())
        .send();
    assert_eq!(r.status, 500, "{}", r.text());
    let stored: String = db
        .client()
        .query_one("SELECT error_message FROM stripe_webhook_events WHERE stripe_event_id = 'evt_bad_price'", &[])
        .unwrap()
        .get(0);
    assert!(stored.contains("violates check constraint"), "the administrators keep the detail: {stored}");

    let r = host.get(PATH).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    for internal in ["query failed", "violates", "constraint", "stripe_prices", "23514", "relation"] {
        assert!(!text.contains(internal), "`{internal}` reaches the user: {text}");
    }
    let d = r.json()["data"].clone();
    let events = d["unprocessed_webhook_events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{d}");
    assert_eq!(events[0]["id"], "evt_bad_price");
    assert_eq!(events[0]["reason"], "billing_data_rejected");
    assert!(events[0].get("error").is_none(), "{d}");
    assert!(codes(&d).contains(&"webhook_events_unprocessed".to_string()));

    // Administrators still see the database's words in the monitor.
    let admin = Jwt::token("00000000-0000-4000-8000-000000000001", "service_role");
    let dlq = host.get("/functions/v1/webhook-monitor/dead-letter-queue").bearer(&admin).send();
    assert_eq!(dlq.status, 200, "{}", dlq.text());
    assert!(dlq.text().contains("violates check constraint"), "{}", dlq.text());
}
