//! quote-processor through the host: exact totals, every validation error at once,
//! race-free numbering, the plan quota under concurrency, allow-listed updates and status
//! moves, ownership.

use e2e::{Host, HostConfig, HttpResponse, Jwt, Plan, TestDb};
use serde_json::{json, Value};

const PATH: &str = "/functions/v1/quote-processor";

/// No quote limit, with PDFs and bulk operations.
fn unlimited_plan(db: &TestDb, user: &str) {
    db.subscribe(user, Plan { pdf_export: true, bulk_operations: true, ..Plan::unlimited() });
}

fn sample() -> Value {
    json!({
        "client_name": "María O'Connor <Greenleaf>",
        "client_email": "maria@example.test",
        "line_items": [
            {"name": "Mowing", "description": "Front and back lawn", "unit": "hour", "quantity": 3, "unit_price": "19.99"},
            {"name": "Edging", "quantity": "0.333", "unit_price": 10},
            {"name": "Mulch", "unit": "bag", "quantity": 2.5, "cost": "0.01"}
        ],
        "markup_rate": 12.5,
        "tax_rate": "8.25",
        "notes": "select the drop-off time; 1 < 2 > 0",
        "valid_until": "2027-01-31"
    })
}

fn create(host: &Host, token: &str, body: &Value) -> HttpResponse {
    host.post(PATH).bearer(token).json(body).send()
}

#[test]
fn a_quote_is_created_with_exact_totals_and_its_number() {
    let db = TestDb::new();
    let user = db.user("maker@example.test");
    let host = Host::start(HostConfig::app(&db));
    let r = create(&host, &Jwt::user(&user), &sample());
    assert_eq!(r.status, 201, "{}", r.text());
    let q = r.json();
    // 3 × 19.99 = 59.97; 0.333 × 10.00 = 3.33; 2.5 × 0.01 = 0.025 → 0.03 (half away from zero)
    let totals: Vec<&str> = q["line_items"].as_array().unwrap().iter().map(|i| i["total"].as_str().unwrap()).collect();
    assert_eq!(totals, vec!["59.97", "3.33", "0.03"]);
    assert_eq!(q["subtotal"], "63.33");
    assert_eq!(q["markup_amount"], "7.92"); // 12.5 % of 63.33 = 7.91625
    assert_eq!(q["tax_amount"], "5.88"); // 8.25 % of 71.25 = 5.878125
    assert_eq!(q["total"], "77.13");
    assert_eq!(q["status"], "draft");
    assert_eq!(q["client_name"], "María O'Connor <Greenleaf>");
    assert_eq!(q["notes"], "select the drop-off time; 1 < 2 > 0");
    assert_eq!(q["valid_until"], "2027-01-31");
    let number = q["quote_number"].as_str().unwrap();
    assert!(number.starts_with("Q-") && number.ends_with("-0001"), "{number}");
    let id = q["id"].as_str().unwrap();
    for path in [format!("{PATH}/{id}"), format!("{PATH}?id={id}")] {
        let got = host.get(&path).bearer(&Jwt::user(&user)).send();
        assert_eq!(got.status, 200, "{}", got.text());
        assert_eq!(got.json()["total"], "77.13");
    }
    // The stored row holds the same figures (three decimals a column, migration 0018).
    let row = db
        .client()
        .query_one("SELECT total::text, user_id::text FROM quotes WHERE id = $1::text::uuid", &[&id])
        .unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, String>(1)), ("77.130".to_string(), user.clone()));
    // The `{quote, operations}` form of the original clients works too.
    let r = create(&host, &Jwt::user(&user), &json!({"quote": sample(), "operations": {}}));
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.json()["quote_number"].as_str().unwrap().ends_with("-0002"));
}

#[test]
fn every_validation_error_is_reported_at_once_and_nothing_is_stored() {
    let db = TestDb::new();
    let user = db.user("sloppy@example.test");
    let host = Host::start(HostConfig::app(&db));
    let body = json!({
        "client_name": "x".repeat(201),
        "client_email": "not-an-email",
        "line_items": [{"name": "", "quantity": -1, "unit_price": "abc"}],
        "tax_rate": 101,
        "user_id": "00000000-0000-4000-8000-000000000000",
        "total": "1.00",
        "valid_until": "2027-02-30"
    });
    let r = create(&host, &Jwt::user(&user), &body);
    assert_eq!(r.status, 400, "{}", r.text());
    let v = r.json();
    assert_eq!(v["code"], "validation_failed");
    let fields: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for f in [
        "client_name",
        "client_email",
        "line_items[0].name",
        "line_items[0].quantity",
        "line_items[0].unit_price",
        "tax_rate",
        "user_id",
        "total",
        "valid_until",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    let items: Vec<Value> =
        (0..201).map(|i| json!({"name": format!("i{i}"), "quantity": 1, "unit_price": 1})).collect();
    let r = create(&host, &Jwt::user(&user), &json!({"client_name": "c", "line_items": items}));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"][0]["code"], "too_many");
    let n: i64 = db.client().query_one("SELECT count(*) FROM quotes", &[]).unwrap().get(0);
    assert_eq!(n, 0);
    assert_eq!(create(&host, &Jwt::user(&user), &json!([1, 2])).status, 400);
    assert_eq!(
        host.post(PATH)
            .bearer(&Jwt::user(&user))
            .header("content-type", "application/json")
            .body(b"{".to_vec())
            .send()
            .status,
        400
    );
}

#[test]
fn thirty_two_concurrent_creates_get_unique_gap_free_numbers_never_reused() {
    let db = TestDb::new();
    let user = db.user("busy@example.test");
    unlimited_plan(&db, &user);
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    let numbers: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                scope.spawn(|| {
                    let r = create(&host, &token, &sample());
                    assert_eq!(r.status, 201, "{}", r.text());
                    r.json()["quote_number"].as_str().unwrap().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut seqs: Vec<i64> = numbers.iter().map(|n| n.rsplit('-').next().unwrap().parse().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=32).collect::<Vec<i64>>(), "{numbers:?}");
    // Deleting the newest quote does not give its number back.
    let id: String = db.client().query_one("SELECT id::text FROM quotes WHERE quote_seq = 32", &[]).unwrap().get(0);
    assert_eq!(host.post(&format!("{PATH}/{id}")).send().status, 405);
    let del = e2e::Req::new("DELETE", &host.url(&format!("{PATH}/{id}"))).bearer(&token).send();
    assert_eq!(del.status, 204, "{}", del.text());
    let r = create(&host, &token, &sample());
    assert!(r.json()["quote_number"].as_str().unwrap().ends_with("-0033"), "{}", r.text());
    // Past 9999 the number grows a digit instead of wrapping into an existing one.
    db.exec("UPDATE quote_counters SET last_seq = 9999");
    let r = create(&host, &token, &sample());
    assert!(r.json()["quote_number"].as_str().unwrap().ends_with("-10000"), "{}", r.text());
}

#[test]
fn a_free_user_firing_twenty_creates_gets_exactly_five_quotes() {
    let db = TestDb::new();
    let user = db.user("free@example.test");
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    let statuses: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    let r = create(&host, &token, &sample());
                    (r.status, r.json())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|(s, _)| *s == 201).count(), 5, "{statuses:?}");
    let refused: Vec<&Value> = statuses.iter().filter(|(s, _)| *s == 402).map(|(_, v)| v).collect();
    assert_eq!(refused.len(), 15, "{statuses:?}");
    assert!(refused.iter().all(|v| v["code"] == "quota_exceeded"));
    let n: i64 = db.client().query_one("SELECT count(*) FROM quotes", &[]).unwrap().get(0);
    assert_eq!(n, 5);
    let usage = host.get("/functions/v1/subscription-status").bearer(&token).send().json();
    assert_eq!(usage["data"]["usage"]["quotes"], 5);
    assert_eq!(usage["data"]["limits"]["quotesRemaining"], 0);
    // Templates do not count against the quota.
    let t = create(
        &host,
        &token,
        &json!({"client_name": "Template client", "is_template": true, "template_name": "Spring clean-up", "line_items": []}),
    );
    assert_eq!(t.status, 201, "{}", t.text());
}

#[test]
fn updates_are_allow_listed_status_moves_are_checked_and_totals_recomputed() {
    let db = TestDb::new();
    let user = db.user("editor@example.test");
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    let q = create(&host, &token, &sample()).json();
    let id = q["id"].as_str().unwrap();
    let patch =
        |body: Value| e2e::Req::new("PATCH", &host.url(&format!("{PATH}/{id}"))).bearer(&token).json(&body).send();

    let r = patch(
        json!({"user_id": "00000000-0000-4000-8000-000000000000", "quote_number": "Q-1", "total": "0.00", "id": id}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let codes: Vec<String> =
        r.json()["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap().to_string()).collect();
    assert!(codes.iter().all(|c| *c == "read_only"), "{codes:?}");

    let r = patch(
        json!({"line_items": [{"name": "Planting", "quantity": 4, "unit_price": "25.00"}], "tax_rate": 0, "markup_rate": 0}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!((v["subtotal"].as_str(), v["total"].as_str()), (Some("100.00"), Some("100.00")));
    assert_eq!(v["quote_number"], q["quote_number"], "the number never changes");

    assert_eq!(patch(json!({"status": "accepted"})).status, 409, "draft → accepted skips sent");
    let r = patch(json!({"status": "sent"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["sent_at"].is_string());
    assert_eq!(patch(json!({"status": "accepted"})).status, 200);
    let r = patch(json!({"status": "draft"}));
    assert_eq!((r.status, r.json()["code"].as_str()), (409, Some("illegal_transition")));
    assert_eq!(patch(json!({"status": "converted"})).status, 200);
}

#[test]
fn another_users_quotes_are_invisible_and_untouchable() {
    let db = TestDb::new();
    let alice = db.user("alice@example.test");
    let bob = db.user("bob@example.test");
    let host = Host::start(HostConfig::app(&db));
    let q = create(&host, &Jwt::user(&alice), &sample()).json();
    let id = q["id"].as_str().unwrap();
    let bob_token = Jwt::user(&bob);
    assert_eq!(host.get(&format!("{PATH}/{id}")).bearer(&bob_token).send().status, 404);
    let r = e2e::Req::new("PATCH", &host.url(&format!("{PATH}/{id}")))
        .bearer(&bob_token)
        .json(&json!({"notes": "mine"}))
        .send();
    assert_eq!(r.status, 404);
    assert_eq!(e2e::Req::new("DELETE", &host.url(&format!("{PATH}/{id}"))).bearer(&bob_token).send().status, 404);
    assert_eq!(host.post(&format!("{PATH}/{id}/duplicate")).bearer(&bob_token).send().status, 404);
    let list = host.get(PATH).bearer(&bob_token).send().json();
    assert_eq!(list["pagination"]["total"], 0);
    assert_eq!(host.get(&format!("{PATH}/not-a-uuid")).bearer(&bob_token).send().status, 400);
    assert_eq!(host.get(PATH).send().status, 401);
}

#[test]
fn list_filters_and_pages_duplicate_and_templates() {
    let db = TestDb::new();
    let user = db.user("lister@example.test");
    unlimited_plan(&db, &user);
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    for i in 0..7 {
        let mut body = sample();
        body["client_name"] = json!(format!("Client {i}"));
        assert_eq!(create(&host, &token, &body).status, 201);
    }
    let page = |q: &str| host.get(&format!("{PATH}?{q}")).bearer(&token).send();
    let p1 = page("limit=3&page=1").json();
    assert_eq!((p1["data"].as_array().unwrap().len(), p1["pagination"]["total"].as_i64()), (3, Some(7)));
    assert_eq!(p1["pagination"]["totalPages"], 3);
    let p3 = page("limit=3&page=3").json();
    assert_eq!(p3["data"].as_array().unwrap().len(), 1);
    assert_eq!(page("limit=3&page=9").json()["pagination"]["total"], 7);
    assert_eq!(page("q=Client%205").json()["pagination"]["total"], 1);
    assert_eq!(page("status=sent").json()["pagination"]["total"], 0);
    let r = page("status=nope&limit=0&from=yesterday");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"].as_array().unwrap().len(), 3);

    let first = p1["data"][0].clone();
    let dup = host.post(&format!("{PATH}/{}/duplicate", first["id"].as_str().unwrap())).bearer(&token).send();
    assert_eq!(dup.status, 201, "{}", dup.text());
    let d = dup.json();
    assert_ne!(d["quote_number"], first["quote_number"]);
    assert_eq!((d["total"].clone(), d["status"].as_str()), (first["total"].clone(), Some("draft")));

    let t = create(
        &host,
        &token,
        &json!({"client_name": "Anyone", "is_template": true, "template_name": "Weekly mow",
        "line_items": [{"name": "Mowing", "quantity": 1, "unit_price": "40.00"}], "tax_rate": 10}),
    )
    .json();
    let from = host
        .post(&format!("{PATH}/from-template/{}", t["id"].as_str().unwrap()))
        .bearer(&token)
        .json(&json!({"client_name": "Mr. Smith"}))
        .send();
    assert_eq!(from.status, 201, "{}", from.text());
    let f = from.json();
    assert_eq!(
        (f["client_name"].as_str(), f["total"].as_str(), f["is_template"].as_bool()),
        (Some("Mr. Smith"), Some("44.00"), Some(false))
    );
    let not_template =
        host.post(&format!("{PATH}/from-template/{}", first["id"].as_str().unwrap())).bearer(&token).send();
    assert_eq!(not_template.status, 409);
    assert_eq!(page("is_template=true").json()["pagination"]["total"], 1);
}

#[test]
fn the_batch_form_runs_on_the_batch_engine_with_exact_counts() {
    let db = TestDb::new();
    let user = db.user("bulk@example.test");
    unlimited_plan(&db, &user);
    let free = db.user("free-bulk@example.test");
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    let ids: Vec<String> =
        (0..3).map(|_| create(&host, &token, &sample()).json()["id"].as_str().unwrap().to_string()).collect();
    let missing = "00000000-0000-4000-8000-000000000001";
    let r = host
        .post(&format!("{PATH}/batch"))
        .bearer(&token)
        .json(&json!({"operation": "status_update", "quote_ids": [ids[0], ids[1], missing], "options": {"status": "sent"}}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let job = r.json();
    let job = if job.get("data").is_some() { job["data"].clone() } else { job };
    assert_eq!((job["processed_items"].as_i64(), job["failed_items"].as_i64()), (Some(2), Some(1)), "{job}");
    let sent: i64 = db.client().query_one("SELECT count(*) FROM quotes WHERE status = 'sent'", &[]).unwrap().get(0);
    assert_eq!(sent, 2);
    let r = host
        .post(&format!("{PATH}/batch"))
        .bearer(&token)
        .json(&json!({"operation": "bulk_delete", "quote_ids": [ids[2]]}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(db.client().query_one("SELECT count(*) FROM quotes", &[]).unwrap().get::<_, i64>(0), 2);
    let r = host
        .post(&format!("{PATH}/batch"))
        .bearer(&token)
        .json(&json!({"operation": "explode", "quote_ids": []}))
        .send();
    assert_eq!((r.status, r.json()["errors"][0]["field"].as_str()), (400, Some("operation")));
    let r = host
        .post(&format!("{PATH}/batch"))
        .bearer(&Jwt::user(&free))
        .json(&json!({"operation": "bulk_delete", "quote_ids": [ids[0]]}))
        .send();
    assert_eq!(r.status, 402, "{}", r.text());
}

#[test]
fn generate_pdf_on_create_goes_through_quote_pdf_generator_and_never_loses_the_quote() {
    let db = TestDb::new();
    let user = db.user("pdf@example.test");
    unlimited_plan(&db, &user);
    let free = db.user("nopdf@example.test");
    let host = Host::start(HostConfig::app(&db));
    let r = create(&host, &Jwt::user(&user), &json!({"quote": sample(), "operations": {"generate_pdf": true}}));
    assert_eq!(r.status, 201, "{}", r.text());
    let q = r.json();
    assert_eq!(q["document"]["status"], "generated", "{q}");
    assert!(q["document"]["filename"].as_str().unwrap().contains(q["quote_number"].as_str().unwrap()));
    let docs: i64 = db.client().query_one("SELECT count(*) FROM quote_documents", &[]).unwrap().get(0);
    assert_eq!(docs, 1);
    // Without pdf_export the quote is still created; the document step reports why not.
    let r = create(&host, &Jwt::user(&free), &json!({"quote": sample(), "operations": {"generate_pdf": true}}));
    assert_eq!(r.status, 201, "{}", r.text());
    let q = r.json();
    assert_eq!((q["document"]["status"].as_str(), q["document"]["http_status"].as_i64()), (Some("failed"), Some(402)));
    // The host's request log says the call stayed inside the host.
    if !e2e::edge_only("the request log") {
        assert!(host.wait_for_output(
            |o| o.contains("[quote-pdf-generator]") && o.contains("internal"),
            std::time::Duration::from_secs(5)
        ));
    }
}

#[test]
fn turning_templates_into_quotes_counts_against_the_quota_and_stops_at_it() {
    let db = TestDb::new();
    let user = db.user("templates@example.test");
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    let template = |i: usize| {
        json!({"client_name": format!("Client {i}"), "is_template": true, "template_name": format!("Template {i}"),
               "line_items": [{"name": "Mowing", "quantity": 1, "unit_price": "40.00"}]})
    };
    // Templates do not count: a free user (5 quotes a month) keeps fifteen of them.
    let ids: Vec<String> = (0..15)
        .map(|i| {
            let r = create(&host, &token, &template(i));
            assert_eq!(r.status, 201, "{}", r.text());
            r.json()["id"].as_str().unwrap().to_string()
        })
        .collect();
    // The attack: turn every template into a sent quote at once.
    let statuses: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                let (host, token) = (&host, &token);
                scope.spawn(move || {
                    let r = e2e::Req::new("PATCH", &host.url(&format!("{PATH}/{id}")))
                        .bearer(token)
                        .json(&json!({"is_template": false, "status": "sent"}))
                        .send();
                    (r.status, r.json())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|(s, _)| *s == 200).count(), 5, "{statuses:?}");
    let refused: Vec<&Value> = statuses.iter().filter(|(s, _)| *s == 402).map(|(_, v)| v).collect();
    assert_eq!(refused.len(), 10, "{statuses:?}");
    assert!(refused.iter().all(|v| v["code"] == "quota_exceeded"), "{refused:?}");
    let count = |sql: &str| -> i64 { db.client().query_one(sql, &[]).unwrap().get(0) };
    assert_eq!(count("SELECT count(*) FROM quotes WHERE NOT is_template"), 5);
    // Nothing of a refused update stayed: still a draft template, never sent.
    assert_eq!(count("SELECT count(*) FROM quotes WHERE is_template AND status = 'draft' AND sent_at IS NULL"), 10);
    let usage = host.get("/functions/v1/subscription-status").bearer(&token).send().json();
    assert_eq!(usage["data"]["usage"]["quotes"], 5);
    assert_eq!(usage["data"]["limits"]["quotesRemaining"], 0);
    // Every other way to a new quote meets the same limit.
    let quote_id = statuses.iter().find(|(s, _)| *s == 200).unwrap().1["id"].as_str().unwrap().to_string();
    let template_id = ids.iter().zip(&statuses).find(|(_, (s, _))| *s == 402).map(|(id, _)| id).unwrap();
    for r in [
        create(&host, &token, &sample()),
        host.post(&format!("{PATH}/{quote_id}/duplicate")).bearer(&token).send(),
        host.post(&format!("{PATH}/from-template/{template_id}"))
            .bearer(&token)
            .json(&json!({"client_name": "New"}))
            .send(),
    ] {
        assert_eq!((r.status, r.json()["code"].as_str()), (402, Some("quota_exceeded")), "{}", r.text());
    }
    assert_eq!(count("SELECT count(*) FROM quotes WHERE NOT is_template"), 5);
    assert_eq!(count("SELECT count(*) FROM quotes"), 15);
    // Editing a quote that has been counted does not count it again.
    let r = e2e::Req::new("PATCH", &host.url(&format!("{PATH}/{quote_id}")))
        .bearer(&token)
        .json(&json!({"notes": "still a quote"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(count("SELECT quotes_count::int8 FROM user_usage"), 5);
}

// ---------------------------------------------------------------------------------------------
// Idempotency-Key
// ---------------------------------------------------------------------------------------------

fn create_with_key(host: &Host, token: &str, key: &str, body: &Value) -> HttpResponse {
    host.post(PATH).bearer(token).header("idempotency-key", key).json(body).send()
}

fn quotes(db: &TestDb) -> i64 {
    db.client().query_one("SELECT count(*) FROM quotes", &[]).unwrap().get(0)
}

#[test]
fn an_idempotency_key_creates_one_quote_and_answers_every_retry_the_same() {
    let db = TestDb::new();
    let user = db.user("retry@example.test");
    unlimited_plan(&db, &user);
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);

    let first = create_with_key(&host, &token, "order-7f3a", &sample());
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.header("idempotent-replayed"), None);
    // The same body in another layout is the same request.
    let layout = serde_json::to_string_pretty(&sample()).unwrap().into_bytes();
    let again = host
        .post(PATH)
        .bearer(&token)
        .header("idempotency-key", "order-7f3a")
        .header("content-type", "application/json")
        .body(layout)
        .send();
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["id"], first.json()["id"]);
    assert_eq!(again.json()["quote_number"], first.json()["quote_number"]);
    assert_eq!(quotes(&db), 1);

    // Another body under the same key: refused, nothing stored.
    let mut other = sample();
    other["client_name"] = json!("Someone else");
    let r = create_with_key(&host, &token, "order-7f3a", &other);
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["code"], "idempotency_key_reused");
    assert_eq!(quotes(&db), 1);

    // Keys that are not 1-255 visible ASCII characters: 400, nothing stored.
    for bad in ["two words", &"k".repeat(256)] {
        let r = create_with_key(&host, &token, bad, &sample());
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.json()["errors"][0]["code"], "invalid_idempotency_key");
    }
    assert_eq!(quotes(&db), 1);

    // Concurrent retries of a new key: one quote, one answer.
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let r = create_with_key(&host, &token, "order-8b1c", &sample());
                    assert_eq!(r.status, 201, "{}", r.text());
                    r.json()["id"].as_str().unwrap().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(quotes(&db), 2);

    // A key is one user's: another user's key of the same name makes their own quote.
    let other_user = db.user("other-retry@example.test");
    let theirs = create_with_key(&host, &Jwt::user(&other_user), "order-7f3a", &other);
    assert_eq!(theirs.status, 201, "{}", theirs.text());
    assert_ne!(theirs.json()["id"], first.json()["id"]);
    assert_eq!(quotes(&db), 3);

    // Keys are kept 24 hours: an older one names nothing, and the retry creates afresh.
    db.exec("UPDATE quote_idempotency_keys SET created_at = now() - interval '25 hours' WHERE idempotency_key = 'order-7f3a'");
    let later = create_with_key(&host, &token, "order-7f3a", &other);
    assert_eq!(later.status, 201, "{}", later.text());
    assert_eq!(later.header("idempotent-replayed"), None);
    assert_ne!(later.json()["id"], first.json()["id"]);
    assert_eq!(quotes(&db), 4);

    // Without a key, creates are as before: each one a quote.
    assert_eq!(create(&host, &token, &sample()).status, 201);
    assert_eq!(create(&host, &token, &sample()).status, 201);
    assert_eq!(quotes(&db), 6);
}
