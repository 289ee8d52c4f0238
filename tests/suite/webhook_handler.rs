//! webhook-handler through the host: the fixture delivery sequences end in their stated final
//! state, every event type lands in the mirror, failures go to the dead-letter queue and are
//! retried once fixed, duplicates (also concurrent) apply once, bad input is refused cleanly.

use e2e::{fixture_bytes, fixture_json, Host, HostConfig, HttpResponse, TestDb};
use serde_json::Value;
use std::collections::BTreeSet;

const PATH: &str = "/functions/v1/webhook-handler";
const USER: &str = "3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b";
/// Long enough that the fixtures' historic signatures are inside it; the age rule itself is
/// checked by the signature vectors in credentials/tests.
const TOLERANCE_FOR_FIXTURES: &str = "999999999";

fn signing_secret() -> String {
    fixture_json("stripe/events/sequences.json")["signing_secret"].as_str().unwrap().to_string()
}

fn start(db: &TestDb) -> Host {
    Host::start(
        HostConfig::app(db)
            .var("stripe_webhook_secrets", &format!("whsec_previous_secret_kept_for_rotation,{}", signing_secret()))
            .var("stripe_webhook_tolerance_s", TOLERANCE_FOR_FIXTURES),
    )
}

fn event_bytes(file: &str) -> Vec<u8> {
    fixture_bytes(&format!("stripe/events/{file}"))
}

fn post(host: &Host, body: Vec<u8>, signature: &str) -> HttpResponse {
    host.post(PATH).header("content-type", "application/json").header("stripe-signature", signature).body(body).send()
}

/// Sign with the real clock (for bodies the fixtures do not carry).
fn post_signed(host: &Host, body: &[u8]) -> HttpResponse {
    let sig = e2e::sign::stripe_signature(body, &signing_secret(), e2e::sign::now_unix());
    post(host, body.to_vec(), &sig)
}

fn the_user(db: &TestDb) {
    db.exec(&format!(
        "INSERT INTO auth.users (id, email) VALUES ('{USER}', 'maria.oconnor@greenleaf-landscaping.example')"
    ));
}

fn subscription_row(db: &TestDb) -> Option<postgres::Row> {
    db.client()
        .query_opt(
            "SELECT s.stripe_subscription_id, s.stripe_customer_id, s.status::text AS status, s.cancel_at_period_end,
                    extract(epoch FROM s.cancel_at)::int8 AS cancel_at, extract(epoch FROM s.canceled_at)::int8 AS canceled_at,
                    extract(epoch FROM s.ended_at)::int8 AS ended_at, s.stripe_price_id, p.stripe_product_id, s.quantity,
                    extract(epoch FROM s.current_period_start)::int8 AS current_period_start,
                    extract(epoch FROM s.current_period_end)::int8 AS current_period_end,
                    s.latest_invoice, s.default_payment_method, s.user_id::text AS user_id
             FROM subscriptions s LEFT JOIN stripe_prices p ON p.id = s.stripe_price_id",
            &[],
        )
        .unwrap()
}

fn run_sequence(name: &str) -> (TestDb, Value) {
    let fx = fixture_json("stripe/events/sequences.json");
    let seq = fx["sequences"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone();
    let db = TestDb::new();
    the_user(&db);
    let host = start(&db);
    let deliveries = seq["deliveries"].as_array().unwrap();
    let mut i = 0;
    while i < deliveries.len() {
        let d = &deliveries[i];
        // Deliveries of one concurrent group go out at the same moment, on separate connections.
        let group: Vec<&Value> = match d["concurrent_group"].as_str() {
            Some(g) => deliveries[i..].iter().take_while(|x| x["concurrent_group"] == g).collect(),
            None => vec![d],
        };
        let responses: Vec<HttpResponse> = std::thread::scope(|scope| {
            let handles: Vec<_> = group
                .iter()
                .map(|d| {
                    let host = &host;
                    scope.spawn(move || {
                        post(host, event_bytes(d["file"].as_str().unwrap()), d["stripe_signature"].as_str().unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let outcomes: Vec<String> = responses
            .iter()
            .zip(&group)
            .map(|(r, d)| {
                assert_eq!(r.status, 200, "{name} seq {}: {}", d["seq"], r.text());
                r.json()["outcome"].as_str().unwrap().to_string()
            })
            .collect();
        let applied = |o: &str| o == "applied" || o == "ignored";
        match &group[0]["expected_apply"] {
            Value::Bool(true) => assert!(outcomes.iter().all(|o| applied(o)), "{name} seq {}: {outcomes:?}", d["seq"]),
            Value::Bool(false) => {
                assert!(outcomes.iter().all(|o| !applied(o)), "{name} seq {}: {outcomes:?}", d["seq"])
            }
            _ => assert_eq!(outcomes.iter().filter(|o| applied(o)).count(), 1, "{name}: exactly one of {outcomes:?}"),
        }
        if let Some(status) = group[0]["expected_subscription_status_after"].as_str() {
            let row = subscription_row(&db).expect("subscription mirrored");
            assert_eq!(row.get::<_, String>("status"), status, "{name} after seq {}", d["seq"]);
        }
        i += group.len();
    }
    (db, seq)
}

fn check_final(db: &TestDb, seq: &Value) {
    let want = &seq["expected_final"]["subscription"];
    let row = subscription_row(db).expect("subscription mirrored");
    let opt = |k: &str| row.get::<_, Option<i64>>(k).map(Value::from).unwrap_or(Value::Null);
    assert_eq!(row.get::<_, String>("stripe_subscription_id"), want["id"]);
    assert_eq!(row.get::<_, String>("stripe_customer_id"), want["customer"]);
    assert_eq!(row.get::<_, String>("status"), want["status"]);
    assert_eq!(row.get::<_, bool>("cancel_at_period_end"), want["cancel_at_period_end"]);
    assert_eq!(opt("cancel_at"), want["cancel_at"]);
    assert_eq!(opt("canceled_at"), want["canceled_at"]);
    assert_eq!(opt("ended_at"), want["ended_at"]);
    assert_eq!(row.get::<_, String>("stripe_price_id"), want["price"]);
    assert_eq!(row.get::<_, String>("stripe_product_id"), want["product"]);
    assert_eq!(row.get::<_, i32>("quantity") as i64, want["quantity"].as_i64().unwrap());
    assert_eq!(opt("current_period_start"), want["current_period_start"]);
    assert_eq!(opt("current_period_end"), want["current_period_end"]);
    assert_eq!(row.get::<_, Option<String>>("latest_invoice").as_deref(), want["latest_invoice"].as_str());
    assert_eq!(
        row.get::<_, Option<String>>("default_payment_method").as_deref(),
        want["default_payment_method"].as_str()
    );
    assert_eq!(row.get::<_, String>("user_id"), want["supabase_user_id"]);

    let processed: BTreeSet<String> = db
        .client()
        .query("SELECT stripe_event_id FROM stripe_webhook_events WHERE processed", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: BTreeSet<String> = seq["expected_final"]["processed_event_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(processed, expected);
    assert_eq!(processed.len() as i64, seq["expected_final"]["distinct_events_processed"].as_i64().unwrap());
}

#[test]
fn sequence_in_order_lifecycle_ends_canceled_with_every_event_processed_once() {
    let (db, seq) = run_sequence("a_in_order_lifecycle");
    check_final(&db, &seq);
    let mut c = db.client();
    // Catalog: product and price archived, plan row kept for history.
    let r = c.query_one("SELECT active, name FROM stripe_products WHERE id = 'prod_qnaf4OXOPZuGuO'", &[]).unwrap();
    assert_eq!((r.get::<_, bool>(0), r.get::<_, Option<String>>(1).as_deref()), (false, Some("QuoteKit Pro")));
    let r = c
        .query_one(
            "SELECT active, unit_amount, \"interval\" FROM stripe_prices WHERE id = 'price_1gc5CORk3Jm02eZvHCNyJIJR'",
            &[],
        )
        .unwrap();
    assert_eq!(
        (r.get::<_, bool>(0), r.get::<_, Option<i64>>(1), r.get::<_, Option<String>>(2).as_deref()),
        (false, Some(4900), Some("month"))
    );
    // Customer linked, then deleted.
    let r = c.query_one("SELECT user_id::text, deleted, email FROM stripe_customers WHERE stripe_customer_id = 'cus_6lQ59gDRwJ2cJY'", &[]).unwrap();
    assert_eq!(r.get::<_, String>(0), USER);
    assert!(r.get::<_, bool>(1));
    // Cards: the first detached, the second set up.
    let r = c
        .query_one(
            "SELECT card_last4, detached_at IS NOT NULL FROM payment_methods WHERE id = 'pm_1C0dsORk3Jm02eZvuoUlXq9h'",
            &[],
        )
        .unwrap();
    assert_eq!((r.get::<_, Option<String>>(0).as_deref(), r.get::<_, bool>(1)), (Some("4242"), true));
    assert_eq!(
        c.query("SELECT 1 FROM payment_methods WHERE id = 'pm_1lPglFRk3Jm02eZvkI7b8YOV'", &[]).unwrap().len(),
        1
    );
    // Billing history: one paid invoice, one failed; one payment recorded per invoice.paid.
    let rows = c.query("SELECT id, amount, status FROM billing_history ORDER BY id", &[]).unwrap();
    let bills: Vec<(String, i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        bills,
        vec![
            ("in_1ADTVyRk3Jm02eZv9a5AZ3uN".to_string(), 4900, "paid".to_string()),
            ("in_1e2SsKRk3Jm02eZvpXQtS1Vw".to_string(), 4900, "failed".to_string())
        ]
    );
    let changes: Vec<String> = c
        .query("SELECT change_type FROM subscription_changes ORDER BY \"timestamp\", created_at", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(changes.iter().filter(|c| *c == "payment_succeeded").count(), 1, "{changes:?}");
    assert_eq!(changes.iter().filter(|c| *c == "payment_failed").count(), 1, "{changes:?}");
    assert!(
        changes.contains(&"cancellation".to_string()) && changes.contains(&"reactivation".to_string()),
        "{changes:?}"
    );
    assert_eq!(changes.last().map(String::as_str), Some("cancellation"), "{changes:?}");
}

#[test]
fn sequence_out_of_order_never_regresses_to_an_older_snapshot() {
    let (db, seq) = run_sequence("b_out_of_order");
    check_final(&db, &seq);
    let stale: i64 = db
        .client()
        .query_one("SELECT count(*) FROM stripe_webhook_events WHERE outcome = 'stale'", &[])
        .unwrap()
        .get(0);
    assert_eq!(stale, 3, "the late created event and the two re-sent updates");
}

#[test]
fn sequence_duplicates_applies_each_event_once_and_records_one_payment() {
    let (db, seq) = run_sequence("c_duplicates");
    check_final(&db, &seq);
    let mut c = db.client();
    let bills: i64 = c
        .query_one(
            "SELECT count(*) FROM billing_history WHERE id = 'in_1ADTVyRk3Jm02eZv9a5AZ3uN' AND amount = 4900",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(bills, 1);
    let payments: i64 = c
        .query_one("SELECT count(*) FROM subscription_changes WHERE change_type = 'payment_succeeded'", &[])
        .unwrap()
        .get(0);
    assert_eq!(payments, 1);
    let deliveries: i32 = c
        .query_one(
            "SELECT deliveries FROM stripe_webhook_events WHERE stripe_event_id = 'evt_1xfxhvRk3Jm02eZvzPHti9dJ'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(deliveries, 3);
    let audited: i64 = c.query_one("SELECT count(*) FROM webhook_audit_trail WHERE duplicate", &[]).unwrap().get(0);
    assert_eq!(audited, 3, "two late duplicates and one concurrent one");
}

#[test]
fn the_same_new_event_from_eight_connections_at_once_is_applied_once() {
    let db = TestDb::new();
    the_user(&db);
    let host = start(&db);
    {
        let f = "03_customer.created.json";
        assert_eq!(post_signed(&host, &event_bytes(f)).status, 200);
    }
    let body = event_bytes("09_invoice.paid.json");
    let outcomes: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| post_signed(&host, &body))).collect();
        handles
            .into_iter()
            .map(|h| {
                let r = h.join().unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
                r.json()["outcome"].as_str().unwrap().to_string()
            })
            .collect()
    });
    assert_eq!(outcomes.iter().filter(|o| *o == "applied").count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| *o == "duplicate").count(), 7, "{outcomes:?}");
    let mut c = db.client();
    let n: i64 = c.query_one("SELECT count(*) FROM billing_history", &[]).unwrap().get(0);
    assert_eq!(n, 1);
    let p: i64 = c
        .query_one("SELECT count(*) FROM subscription_changes WHERE change_type = 'payment_succeeded'", &[])
        .unwrap()
        .get(0);
    assert_eq!(p, 1);
}

#[test]
fn a_failing_handler_goes_to_the_dead_letter_queue_and_a_retry_after_the_fix_applies_once() {
    let db = TestDb::new();
    let host = start(&db);
    let price = event_bytes("02_price.created.json");
    // The price's product is unknown: the handler fails, nothing of it stays.
    for attempt in 1..=2 {
        let r = post_signed(&host, &price);
        assert_eq!(r.status, 500, "{}", r.text());
        assert_eq!(r.json()["code"], "webhook_handler_failed");
        let row = db
            .client()
            .query_one(
                "SELECT failure_count, resolved_at IS NULL, raw_body = $1, last_error LIKE '%foreign key%'
                 FROM webhook_dead_letter_queue WHERE stripe_event_id = 'evt_1k0ZhiRk3Jm02eZvWsmtYMNE'",
                &[&String::from_utf8(price.clone()).unwrap()],
            )
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), attempt);
        assert!(row.get::<_, bool>(1) && row.get::<_, bool>(2) && row.get::<_, bool>(3));
    }
    let mut c = db.client();
    assert_eq!(c.query("SELECT 1 FROM stripe_prices", &[]).unwrap().len(), 0, "nothing half-written");
    let r = c.query_one("SELECT processed, outcome FROM stripe_webhook_events WHERE stripe_event_id = 'evt_1k0ZhiRk3Jm02eZvWsmtYMNE'", &[]).unwrap();
    assert_eq!((r.get::<_, bool>(0), r.get::<_, Option<String>>(1).as_deref()), (false, Some("failed")));
    // Fix the cause, then Stripe's retry goes through once.
    assert_eq!(post_signed(&host, &event_bytes("01_product.created.json")).status, 200);
    let r = post_signed(&host, &price);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["outcome"], "applied");
    assert_eq!(post_signed(&host, &price).json()["outcome"], "duplicate");
    let r = c.query_one("SELECT resolved_at IS NOT NULL, resolution FROM webhook_dead_letter_queue", &[]).unwrap();
    assert_eq!((r.get::<_, bool>(0), r.get::<_, Option<String>>(1).as_deref()), (true, Some("retried")));
    assert_eq!(c.query("SELECT 1 FROM stripe_prices", &[]).unwrap().len(), 1);
}

#[test]
fn events_for_unknown_customers_and_unknown_types_get_their_documented_answers() {
    let db = TestDb::new(); // no user: nothing links cus_6lQ59gDRwJ2cJY
    let host = start(&db);
    // A subscription of a customer no user owns: retried until a checkout links it.
    let mut sub: Value = serde_json::from_slice(&event_bytes("06_customer.subscription.created.json")).unwrap();
    sub["data"]["object"]["metadata"] = serde_json::json!({});
    let r = post_signed(&host, sub.to_string().as_bytes());
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(db.client().query("SELECT 1 FROM subscriptions", &[]).unwrap().len(), 0);
    assert_eq!(db.client().query("SELECT 1 FROM webhook_dead_letter_queue", &[]).unwrap().len(), 1);
    // A customer of no known user: recorded, acknowledged, nothing mirrored.
    let mut cus: Value = serde_json::from_slice(&event_bytes("03_customer.created.json")).unwrap();
    cus["data"]["object"]["metadata"] = serde_json::json!({});
    let r = post_signed(&host, cus.to_string().as_bytes());
    assert_eq!((r.status, r.json()["outcome"].as_str()), (200, Some("ignored")));
    // An event type we do not handle: recorded and acknowledged.
    let other = serde_json::json!({"id": "evt_other_1", "object": "event", "type": "balance.available", "created": 1,
        "data": {"object": {"id": "bal_1", "object": "balance"}}});
    let r = post_signed(&host, other.to_string().as_bytes());
    assert_eq!((r.status, r.json()["outcome"].as_str()), (200, Some("ignored")));
    let n: i64 = db
        .client()
        .query_one("SELECT count(*) FROM stripe_webhook_events WHERE outcome = 'ignored'", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[test]
fn bad_deliveries_are_refused_before_the_database_and_audited_within_a_limit() {
    let db = TestDb::new();
    // Unverified requests have a budget of their own (security::failed_signatures_have_their_own_limit_that_blocks_no_one);
    // raised here so that all 67 reach the handler, whose audit limit is what this measures.
    db.exec(
        "UPDATE security_configuration SET config_value = '{\"requestsPerMinute\": 10000, \"burstLimit\": 10000}'
              WHERE config_category = 'rate_limiting' AND config_key = 'failed_webhook_signatures'",
    );
    let host = start(&db);
    let now = e2e::sign::now_unix();
    let expect = |r: HttpResponse, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(r.json()["code"], code);
    };
    let body = event_bytes("09_invoice.paid.json");
    expect(post(&host, body.clone(), ""), 400, "signature_missing");
    expect(
        post(&host, Vec::new(), &e2e::sign::stripe_signature(b"", &signing_secret(), now)),
        400,
        "signature_mismatch",
    );
    expect(post(&host, body.clone(), "t=abc,v1=00"), 400, "signature_no_timestamp");
    expect(post(&host, body.clone(), &format!("t={now}{}", ",v1=00".repeat(1000))), 400, "signature_too_many");
    expect(
        post(&host, body.clone(), &e2e::sign::stripe_signature(&body, "whsec_wrong", now)),
        400,
        "signature_mismatch",
    );
    expect(post_signed(&host, b"this is not json"), 400, "invalid_event");
    expect(post_signed(&host, br#"{"hello": "world"}"#), 400, "invalid_event");
    let big = vec![b' '; 5 << 20];
    expect(post(&host, big, "t=1,v1=00"), 413, "payload_too_large");
    let mut c = db.client();
    assert_eq!(c.query("SELECT 1 FROM stripe_webhook_events", &[]).unwrap().len(), 0, "nothing recorded");
    // Flooding with unsigned requests costs one counter, and a bounded number of audit rows.
    for _ in 0..60 {
        assert_eq!(post(&host, body.clone(), "t=1,v1=00").status, 400);
    }
    let audited: i64 =
        c.query_one("SELECT count(*) FROM webhook_audit_trail WHERE NOT signature_valid", &[]).unwrap().get(0);
    let counted: i64 =
        c.query_one("SELECT coalesce(sum(rejections), 0)::int8 FROM webhook_rejection_windows", &[]).unwrap().get(0);
    assert_eq!(counted, 67, "every rejected delivery is counted");
    assert!(audited <= 30 + 30, "at most 30 audit rows per minute window: {audited}");
    assert!(audited >= 30.min(counted), "the first rejections of a window are audited: {audited}");
}

#[test]
fn a_rotated_secret_and_several_v1_values_are_accepted() {
    let db = TestDb::new();
    let host = Host::start(
        HostConfig::app(&db)
            .var("stripe_webhook_secrets", "whsec_old_one, whsec_new_one")
            .var("stripe_webhook_tolerance_s", "300"),
    );
    let body = br#"{"id":"evt_rot_1","object":"event","type":"ping","created":1,"data":{"object":{"id":"x","object":"ping"}}}"#;
    let now = e2e::sign::now_unix();
    let new = e2e::sign::stripe_signature(body, "whsec_new_one", now);
    assert_eq!(post(&host, body.to_vec(), &new).status, 200);
    let other = e2e::sign::stripe_signature(body, "whsec_unknown", now);
    let both = format!("{},{}", other, new.split(',').nth(1).unwrap());
    let r = post(&host, body.to_vec(), &both);
    assert_eq!((r.status, r.json()["outcome"].as_str()), (200, Some("duplicate")));
    let old = e2e::sign::stripe_signature(body, "whsec_old_one", now - 301);
    assert_eq!(post(&host, body.to_vec(), &old).json()["code"], "signature_expired");
}

// ---------------------------------------------------------------------------------------------
// Customer links: the first link wins
// ---------------------------------------------------------------------------------------------

static EVENT_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A Stripe event of `kind` about `object`, each one created a second after the last.
fn event(kind: &str, object: Value) -> Vec<u8> {
    let n = EVENT_SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    serde_json::json!({
        "id": format!("evt_link_{}_{n}", std::process::id()), "object": "event", "type": kind,
        "created": e2e::sign::now_unix() + n as i64, "livemode": false, "data": {"object": object},
    })
    .to_string()
    .into_bytes()
}

fn checkout(customer: &str, client_reference_id: Option<&str>, email: &str) -> Value {
    serde_json::json!({
        "id": format!("cs_test_{customer}"), "object": "checkout.session", "mode": "subscription",
        "customer": customer, "client_reference_id": client_reference_id, "customer_email": email,
        "customer_details": {"email": email}, "metadata": {},
    })
}

fn subscription(id: &str, customer: &str, status: &str, metadata: Value) -> Value {
    let now = e2e::sign::now_unix();
    serde_json::json!({
        "id": id, "object": "subscription", "customer": customer, "status": status, "metadata": metadata,
        "cancel_at_period_end": false, "created": now - 60, "current_period_start": now - 60,
        "current_period_end": now + 30 * 86400,
        "items": {"data": [{"quantity": 1, "price": {"id": "price_pro_link", "object": "price", "product": "prod_pro_link",
            "currency": "usd", "unit_amount": 4900, "type": "recurring", "recurring": {"interval": "month"}}}]},
    })
}

fn applied(r: &HttpResponse) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["outcome"].as_str().unwrap().to_string()
}

fn plan_of(host: &Host, user: &str) -> Value {
    let r = host.get("/functions/v1/subscription-status").bearer(&e2e::Jwt::user(user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"]["plan"].clone()
}

#[test]
fn a_later_checkout_naming_a_linked_user_cannot_take_over_their_billing() {
    let db = TestDb::new();
    let alice = db.user("alice@example.test");
    db.exec(&format!("UPDATE auth.users SET email_confirmed_at = now() WHERE id = '{alice}'"));
    let mallory = db.user("mallory@example.test");
    db.exec(
        "INSERT INTO stripe_products (id, name) VALUES ('prod_pro_link', 'Pro');
         INSERT INTO plan_limits (plan_key, name, max_quotes, max_clients, pdf_export) VALUES ('prod_pro_link', 'Pro', 100, 50, true);",
    );
    let host = start(&db);
    // Alice subscribes: her checkout links cus_alice, her subscription follows.
    assert_eq!(
        applied(&post_signed(
            &host,
            &event("checkout.session.completed", checkout("cus_alice", Some(&alice), "alice@example.test"))
        )),
        "applied"
    );
    let sub = subscription("sub_alice", "cus_alice", "active", serde_json::json!({}));
    assert_eq!(applied(&post_signed(&host, &event("customer.subscription.created", sub))), "applied");
    assert_eq!(plan_of(&host, &alice)["key"], "prod_pro_link");

    // The attack: Mallory pays through a payment link whose URL carries Alice's id, another
    // checkout carries her email (in other letters' case), and a subscription of Mallory's
    // customer claims her in its metadata.
    let by_id = post_signed(
        &host,
        &event("checkout.session.completed", checkout("cus_mallory", Some(&alice), "mallory@example.test")),
    );
    assert_eq!(applied(&by_id), "ignored", "acknowledged, not failed: {}", by_id.text());
    let by_email =
        post_signed(&host, &event("checkout.session.completed", checkout("cus_mallory_2", None, "ALICE@Example.test")));
    assert_eq!(applied(&by_email), "ignored", "{}", by_email.text());
    let claim = subscription("sub_mallory", "cus_mallory", "active", serde_json::json!({"supabase_user_id": alice}));
    assert_eq!(applied(&post_signed(&host, &event("customer.subscription.created", claim))), "ignored");
    // The unclaimed subscription of an unlinked customer waits for a link, as always.
    let unlinked = subscription("sub_mallory_2", "cus_mallory_2", "trialing", serde_json::json!({}));
    assert_eq!(post_signed(&host, &event("customer.subscription.created", unlinked)).status, 500);

    let mut c = db.client();
    let links: Vec<(String, String)> = c
        .query("SELECT user_id::text, stripe_customer_id FROM stripe_customers ORDER BY 2", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(links, vec![(alice.clone(), "cus_alice".to_string())], "the first link stays, and only it");
    let conflicts: Vec<(String, String, Option<String>)> = c
        .query(
            "SELECT matched_by, claimed_customer_id, linked_customer_id FROM stripe_link_conflicts
             WHERE claimed_user_id = $1::text::uuid ORDER BY created_at, matched_by",
            &[&alice],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        conflicts,
        vec![
            ("client_reference_id".to_string(), "cus_mallory".to_string(), Some("cus_alice".to_string())),
            ("email".to_string(), "cus_mallory_2".to_string(), Some("cus_alice".to_string())),
            ("metadata".to_string(), "cus_mallory".to_string(), Some("cus_alice".to_string())),
        ]
    );
    let subs: Vec<(String, String)> = c
        .query("SELECT stripe_subscription_id, user_id::text FROM subscriptions ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(subs, vec![("sub_alice".to_string(), alice.clone())], "nothing of Mallory's is Alice's");
    assert_eq!(plan_of(&host, &mallory)["key"], "free");

    // Alice cancels: her own customer's event still finds her, and her plan ends.
    let mut ended = subscription("sub_alice", "cus_alice", "canceled", serde_json::json!({}));
    ended["ended_at"] = serde_json::json!(e2e::sign::now_unix());
    assert_eq!(applied(&post_signed(&host, &event("customer.subscription.deleted", ended))), "applied");
    let plan = plan_of(&host, &alice);
    assert_eq!((plan["key"].as_str(), plan["entitled"].as_bool()), (Some("free"), Some(false)), "{plan}");
    let dead: i64 =
        c.query_one("SELECT count(*) FROM webhook_dead_letter_queue WHERE resolved_at IS NULL", &[]).unwrap().get(0);
    assert_eq!(dead, 1, "only the unlinked customer's subscription waits");
}

#[test]
fn a_checkout_links_by_email_only_to_one_confirmed_address() {
    let db = TestDb::new();
    let user = db.user("owner@example.test");
    let host = start(&db);
    let body = event("checkout.session.completed", checkout("cus_by_email", None, "Owner@Example.test"));
    // Not confirmed: anyone could have typed the address. Refused (Stripe retries), not linked.
    let r = post_signed(&host, &body);
    assert_eq!((r.status, r.json()["code"].as_str()), (500, Some("webhook_handler_failed")), "{}", r.text());
    let reason: String = db
        .client()
        .query_one("SELECT failure_reason FROM stripe_webhook_events WHERE NOT processed", &[])
        .unwrap()
        .get(0);
    assert_eq!(reason, "customer_not_linked");
    assert_eq!(db.client().query("SELECT 1 FROM stripe_customers", &[]).unwrap().len(), 0);
    // Confirmed and unique: Stripe's retry links it.
    db.exec(&format!("UPDATE auth.users SET email_confirmed_at = now() WHERE id = '{user}'"));
    assert_eq!(applied(&post_signed(&host, &body)), "applied");
    let linked: String = db
        .client()
        .query_one("SELECT user_id::text FROM stripe_customers WHERE stripe_customer_id = 'cus_by_email'", &[])
        .unwrap()
        .get(0);
    assert_eq!(linked, user);
    // Two users with the address (in any case), both confirmed: no one is linked.
    let a = db.user("twin@example.test");
    let b = db.user("TWIN@example.test");
    db.exec(&format!("UPDATE auth.users SET email_confirmed_at = now() WHERE id IN ('{a}', '{b}')"));
    let r = post_signed(&host, &event("checkout.session.completed", checkout("cus_twin", None, "twin@example.test")));
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(
        db.client().query("SELECT 1 FROM stripe_customers WHERE stripe_customer_id = 'cus_twin'", &[]).unwrap().len(),
        0
    );
}

#[test]
fn the_change_history_records_what_changed_first_with_its_old_and_new_value() {
    let db = TestDb::new();
    let user = db.user("history@example.test");
    let host = start(&db);
    // The first event links its customer by the metadata; the rest find the link.
    let mut sub = subscription("sub_history", "cus_history", "active", serde_json::json!({"supabase_user_id": user}));
    let mut send = |kind: &str, change: &dyn Fn(&mut Value)| {
        change(&mut sub);
        let body = event(kind, sub.clone());
        let created = serde_json::from_slice::<Value>(&body).unwrap()["created"].as_i64().unwrap();
        assert_eq!(applied(&post_signed(&host, &body)), "applied");
        created
    };
    let first = send("customer.subscription.created", &|_| {});
    send("customer.subscription.updated", &|_| {}); // nothing changed: no line
    send("customer.subscription.updated", &|s| s["cancel_at_period_end"] = true.into());
    send("customer.subscription.updated", &|s| s["cancel_at_period_end"] = false.into());
    send("customer.subscription.updated", &|s| s["items"]["data"][0]["price"]["id"] = "price_team_link".into());
    send("customer.subscription.paused", &|s| s["status"] = "paused".into());
    send("customer.subscription.resumed", &|s| s["status"] = "active".into());
    // The status decides before the cancellation flag that changed with it.
    send("customer.subscription.updated", &|s| {
        s["status"] = "past_due".into();
        s["cancel_at_period_end"] = true.into();
    });
    let last = send("customer.subscription.deleted", &|s| s["status"] = "canceled".into());
    send("customer.subscription.created", &|s| s["status"] = "trialing".into());

    let rows = db
        .client()
        .query(
            "SELECT user_id::text, subscription_id, change_type, old_value::text, new_value::text,
                    extract(epoch FROM \"timestamp\")::int8, metadata ->> 'event_type'
             FROM subscription_changes ORDER BY \"timestamp\"",
            &[],
        )
        .unwrap();
    let lines: Vec<(String, String, String)> =
        rows.iter().map(|r| (r.get::<_, String>(2), r.get::<_, String>(3), r.get::<_, String>(4))).collect();
    let new = |status: &str, cancel: bool, price: &str| {
        format!(r#"{{"price": "{price}", "status": "{status}", "cancel_at_period_end": {cancel}}}"#)
    };
    let line = |kind: &str, old: &str, new: String| (kind.to_string(), old.to_string(), new);
    assert_eq!(
        lines,
        vec![
            line("status_change", "null", new("active", false, "price_pro_link")),
            line("cancellation", r#"{"cancel_at_period_end": false}"#, new("active", true, "price_pro_link")),
            line("reactivation", r#"{"cancel_at_period_end": true}"#, new("active", false, "price_pro_link")),
            line("plan_change", r#"{"price": "price_pro_link"}"#, new("active", false, "price_team_link")),
            line("status_change", r#"{"status": "active"}"#, new("paused", false, "price_team_link")),
            line("reactivation", r#"{"status": "paused"}"#, new("active", false, "price_team_link")),
            line("status_change", r#"{"status": "active"}"#, new("past_due", true, "price_team_link")),
            line("cancellation", r#"{"status": "past_due"}"#, new("canceled", true, "price_team_link")),
            line("reactivation", r#"{"status": "canceled"}"#, new("trialing", true, "price_team_link")),
        ]
    );
    for r in &rows {
        assert_eq!((r.get::<_, String>(0), r.get::<_, String>(1)), (user.clone(), "sub_history".to_string()));
    }
    // Each line is dated by its event and names it.
    assert_eq!(rows[0].get::<_, i64>(5), first);
    assert_eq!(rows[7].get::<_, i64>(5), last);
    assert_eq!(rows[7].get::<_, String>(6), "customer.subscription.deleted");
}
