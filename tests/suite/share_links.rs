//! Share links of quote-processor through the host: the owner shares a quote, the client opens
//! it without an account (a strict, escaped HTML page and its PDF), accepts or declines it
//! once, the owner is emailed (a local server stands in for Resend); revoked, used and expired
//! links answer 410; the schedule expires quotes past valid_until; every change is in the
//! quote's history.

use e2e::http::Recorder;
use e2e::{Host, HostConfig, HttpResponse, Jwt, Plan, TestDb};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PATH: &str = "/functions/v1/quote-processor";
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'";

fn owner(db: &TestDb, email: &str) -> String {
    let user = db.user(email);
    db.subscribe(&user, Plan { pdf_export: true, ..Plan::unlimited() });
    db.client()
        .execute(
            "INSERT INTO company_settings (id, company_name, company_address, quote_terms)
             VALUES ($1::text::uuid, 'Greenleaf & Sons', '7 Orchard Lane', 'Payment due within 14 days.')",
            &[&user],
        )
        .unwrap();
    user
}

fn host_with_resend(db: &TestDb, rec: &Recorder) -> Host {
    Host::start(
        HostConfig::app(db)
            .var("resend_api_base", &format!("http://127.0.0.1:{}", rec.port))
            .var("resend_api_key", "re_test")
            .var("email_from", "QuoteKit <quotes@quotekit.example>"),
    )
}

fn new_quote(host: &Host, token: &str) -> String {
    let body = json!({
        "client_name": "Ada Client",
        "line_items": [{"name": "Hedge trimming", "quantity": 2, "unit_price": "45.50"}],
        "tax_rate": 10,
        "notes": "Access through the side gate",
        "valid_until": "2099-01-31"
    });
    let r = host.post(PATH).bearer(token).json(&body).send();
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_string()
}

fn share(host: &Host, token: &str, id: &str, body: Option<Value>) -> HttpResponse {
    let req = host.post(&format!("{PATH}/{id}/share")).bearer(token);
    match body {
        Some(b) => req.json(&b).send(),
        None => req.send(),
    }
}

/// A new link's path (asserting it was made).
fn link(host: &Host, token: &str, id: &str) -> String {
    let r = share(host, token, id, None);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["path"].as_str().unwrap().to_string()
}

fn decide(host: &Host, path: &str, decision: &str, body: &Value) -> HttpResponse {
    host.post(&format!("{path}/{decision}")).json(body).send()
}

fn text(db: &TestDb, sql: &str) -> String {
    db.client().query_one(sql, &[]).unwrap_or_else(|e| panic!("{e}: {sql}")).get(0)
}

fn assert_gone(r: &HttpResponse) {
    assert_eq!(r.status, 410, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["code"], "share_link_gone");
}

#[test]
fn a_shared_quote_is_a_safe_page_and_accepting_it_once_tells_the_owner() {
    let db = TestDb::new();
    let user = owner(&db, "owner@greenleaf.example");
    let rec = Recorder::start(200, r#"{"id":"email_accept_1"}"#);
    let host = host_with_resend(&db, &rec);
    let token = Jwt::user(&user);
    let id = new_quote(&host, &token);
    // Text a hostile client name would carry (the middleware refuses it in a JSON body, so it
    // is put in place as an import or an older version could have stored it).
    db.exec(&format!("UPDATE quotes SET client_name = '<script>alert(1)</script> & Co' WHERE id = '{id}'"));

    let r = share(&host, &token, &id, Some(json!({"expires_in_days": 7})));
    assert_eq!(r.status, 201, "{}", r.text());
    let shared = r.json();
    let path = shared["path"].as_str().unwrap().to_string();
    let secret = shared["token"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "256 bits in URL-safe base64");
    assert!(path.ends_with(&format!("/shared/{secret}")), "{path}");
    assert!(shared["url"].as_str().unwrap().ends_with(&path));
    assert_eq!(shared["quote_status"], "sent");
    // Only the token's hash is stored; the link lasts the days asked for.
    let stored = text(&db, "SELECT token_sha256 FROM quote_share_links");
    assert_eq!(stored.len(), 64);
    assert!(!stored.contains(secret));
    assert_eq!(text(&db, "SELECT (expires_at - created_at)::text FROM quote_share_links"), "7 days");
    assert_eq!(
        text(&db, &format!("SELECT status::text FROM quotes WHERE id = '{id}'")),
        "sent",
        "sharing a draft sends it"
    );

    // Not the owner: as if there were no such quote.
    let stranger = db.user("stranger@example.test");
    assert_eq!(share(&host, &Jwt::user(&stranger), &id, None).status, 404);
    assert_eq!(share(&host, &token, &id, Some(json!({"expires_in_days": 91}))).status, 400);
    assert_eq!(host.post(&format!("{PATH}/{id}/share")).send().status, 401);

    // The page: no authentication, escaped, under the strict policy.
    let page = host.get(&path).header("accept", "text/html").send();
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(page.header("content-security-policy"), Some(CSP));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    let html = page.text();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    for shown in [
        "Greenleaf &amp; Sons",
        "7 Orchard Lane",
        "Hedge trimming",
        "91.00",
        "USD 100.10",
        "Access through the side gate",
        "Payment due within 14 days.",
        "action=\"",
        "/accept\"",
        "/decline\"",
        "/pdf\"",
    ] {
        assert!(html.contains(shown), "{shown} missing from {html}");
    }
    assert!(!html.contains("owner@greenleaf.example"), "the owner's account stays private");

    // The PDF, rendered by quote-pdf-generator for the link.
    let pdf = host.get(&format!("{path}/pdf")).send();
    assert_eq!(pdf.status, 200, "{}", pdf.text());
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    assert!(pdf.body.starts_with(b"%PDF-"));

    // Accepting through the page's form: recorded, the quote accepted, the owner emailed.
    let form = host
        .post(&format!("{path}/accept"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"name=Ada+Client&comment=Please+start+in+May+%3Cb%3E".to_vec())
        .send();
    assert_eq!(form.status, 200, "{}", form.text());
    assert_eq!(form.header("content-security-policy"), Some(CSP));
    assert!(form.text().contains("was accepted by Ada Client"), "{}", form.text());
    let q = host.get(&format!("{PATH}/{id}")).bearer(&token).send().json();
    assert_eq!(q["status"], "accepted");
    assert!(q["accepted_at"].is_string());
    let row = db
        .client()
        .query_one(
            "SELECT decision, signer_name, comment, client_address, owner_email_status FROM quote_responses",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "accepted");
    assert_eq!(row.get::<_, String>(1), "Ada Client");
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("Please start in May <b>"));
    assert!(row.get::<_, Option<String>>(3).is_some_and(|a| a.contains("127.0.0.1")));
    assert_eq!(row.get::<_, String>(4), "sent");
    let mails = rec.received();
    assert_eq!(mails.len(), 1);
    assert_eq!((mails[0].method.as_str(), mails[0].path.as_str()), ("POST", "/emails"));
    let mail: Value = serde_json::from_slice(&mails[0].body).unwrap();
    assert_eq!(mail["to"], json!(["owner@greenleaf.example"]));
    let subject = mail["subject"].as_str().unwrap();
    assert!(subject.contains(q["quote_number"].as_str().unwrap()) && subject.contains("accepted"), "{subject}");
    assert!(mail["text"].as_str().unwrap().contains("Signed by: Ada Client"), "{mail}");

    // Used: a second decision, the page and the PDF answer 410.
    assert_gone(&decide(&host, &path, "accept", &json!({"name": "Ada Client"})));
    assert_gone(&decide(&host, &path, "decline", &json!({"name": "Ada Client"})));
    assert_gone(&host.get(&path).send());
    let browser = host.get(&path).header("accept", "text/html").send();
    assert_eq!((browser.status, browser.header("content-type")), (410, Some("text/html; charset=utf-8")));
    assert_eq!(rec.received().len(), 1, "one decision, one email");

    // Tokens that name no link.
    assert_eq!(host.get(&format!("{PATH}/shared/{}", "A".repeat(43))).send().status, 404);
    assert_eq!(host.get(&format!("{PATH}/shared/not-a-token")).send().status, 404);

    // The history: created, the stored name, shared (draft → sent), accepted through the link.
    let h = host.get(&format!("{PATH}/{id}/history")).bearer(&token).send();
    assert_eq!(h.status, 200, "{}", h.text());
    let entries = h.json()["entries"].as_array().unwrap().clone();
    let summary: Vec<(String, String, Option<String>)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["path"].as_str().unwrap().into(),
                e["status_to"].as_str().map(String::from),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("created".into(), "api".into(), Some("draft".into())),
            ("updated".into(), "api".into(), Some("draft".into())),
            ("updated".into(), "api".into(), Some("sent".into())),
            ("updated".into(), "share_link".into(), Some("accepted".into())),
        ],
        "{entries:?}"
    );
    assert_eq!(entries[0]["changed_by"], user.as_str());
    assert_eq!(entries[1]["changes"]["client_name"]["to"], "<script>alert(1)</script> & Co");
    assert_eq!(entries[3]["changes"]["status"], json!({"from": "sent", "to": "accepted"}));
    assert!(entries[3]["changed_by"].is_null());
    assert_eq!(host.get(&format!("{PATH}/{id}/history")).bearer(&Jwt::user(&stranger)).send().status, 404);
}

#[test]
fn revoked_and_expired_links_answer_410_and_a_decline_stands_when_the_email_fails() {
    let db = TestDb::new();
    let user = owner(&db, "owner2@greenleaf.example");
    let rec = Recorder::start(500, r#"{"statusCode":500,"message":"provider down"}"#);
    let host = host_with_resend(&db, &rec);
    let token = Jwt::user(&user);

    // Revoked: every link of the quote, or one of them.
    let a = new_quote(&host, &token);
    let (first, second) = (link(&host, &token, &a), link(&host, &token, &a));
    let one: String = text(&db, "SELECT id::text FROM quote_share_links ORDER BY created_at, id LIMIT 1");
    let r = e2e::Req::new("DELETE", &host.url(&format!("{PATH}/{a}/share/{one}"))).bearer(&token).send();
    assert_eq!((r.status, r.json()["revoked"].clone()), (200, json!(1)), "{}", r.text());
    let revoked_first = host.get(&first).send().status == 410;
    let revoked_second = host.get(&second).send().status == 410;
    assert!(revoked_first ^ revoked_second, "exactly the one link");
    let r = e2e::Req::new("DELETE", &host.url(&format!("{PATH}/{a}/share"))).bearer(&token).send();
    assert_eq!(r.status, 200, "{}", r.text());
    for p in [&first, &second] {
        assert_gone(&host.get(p).send());
        assert_gone(&decide(&host, p, "accept", &json!({"name": "Ada"})));
    }
    let r = e2e::Req::new("DELETE", &host.url(&format!("{PATH}/{a}/share")))
        .bearer(&Jwt::user(&db.user("x@example.test")))
        .send();
    assert_eq!(r.status, 404);

    // Expired: the link's own expiry.
    let b = new_quote(&host, &token);
    let expired = link(&host, &token, &b);
    db.exec(&format!("UPDATE quote_share_links SET expires_at = now() - interval '1 minute' WHERE quote_id = '{b}'"));
    assert_gone(&host.get(&expired).send());
    assert_gone(&decide(&host, &expired, "accept", &json!({"name": "Ada"})));
    assert_eq!(text(&db, &format!("SELECT status::text FROM quotes WHERE id = '{b}'")), "sent");

    // A decision needs a name; nothing is recorded without one.
    let c = new_quote(&host, &token);
    let open = link(&host, &token, &c);
    let r = decide(&host, &open, "decline", &json!({"comment": "no name"}));
    assert_eq!((r.status, r.json()["errors"][0]["field"].clone()), (400, json!("name")), "{}", r.text());
    assert_eq!(text(&db, "SELECT count(*)::text FROM quote_responses"), "0");

    // Declined while the email provider fails: the decision stands, the failure is kept.
    let r = decide(&host, &open, "decline", &json!({"name": "Ada Client", "comment": "Too dear"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!((v["decision"].clone(), v["owner_notified"].clone()), (json!("declined"), json!(false)));
    assert_eq!(text(&db, &format!("SELECT status::text FROM quotes WHERE id = '{c}'")), "declined");
    assert_eq!(
        text(&db, "SELECT owner_email_status || ': ' || owner_email_error FROM quote_responses"),
        "failed: the email provider answered 500: provider down"
    );
    assert_eq!(rec.received().len(), 1);
    assert_gone(&decide(&host, &open, "accept", &json!({"name": "Ada Client"})));

    // A decided quote cannot be shared again; a template never.
    let r = share(&host, &token, &c, None);
    assert_eq!((r.status, r.json()["code"].clone()), (409, json!("not_shareable")));
}

#[test]
fn quotes_past_valid_until_expire_on_the_schedule_and_their_links_stop_working() {
    if e2e::edge_only("the schedule in spin.toml (Spin has no scheduler of its own)") {
        return;
    }
    let db = TestDb::new();
    let user = owner(&db, "owner3@greenleaf.example");
    // spin.toml's hourly expiry, every second.
    let manifest = std::fs::read_to_string(e2e::root().join("spin.toml")).unwrap();
    let entry = "path = \"/functions/v1/quote-processor/expire\"\nmethod = \"POST\"\nevery = \"1h\"";
    assert!(manifest.contains(entry), "spin.toml schedules the expiry");
    let fast = e2e::root().join(format!(".spin-schedule-expiry-{}.toml", std::process::id()));
    std::fs::write(&fast, manifest.replace(entry, &entry.replace("\"1h\"", "\"1s\""))).unwrap();
    let host = Host::start(HostConfig { manifest: fast.clone(), ..HostConfig::app(&db) });
    let token = Jwt::user(&user);

    let past = new_quote(&host, &token);
    let current = new_quote(&host, &token);
    let draft = new_quote(&host, &token);
    let path = link(&host, &token, &past);
    link(&host, &token, &current);
    db.exec(&format!(
        "UPDATE quotes SET valid_until = current_date - 1 WHERE id IN ('{past}', '{draft}');
         INSERT INTO quote_idempotency_keys (user_id, idempotency_key, request_sha256, created_at)
           VALUES ('{user}', 'old-key', repeat('a', 64), now() - interval '2 days');"
    ));
    // Past valid_until, the link already refuses, before the schedule has run.
    assert_gone(&decide(&host, &path, "accept", &json!({"name": "Ada"})));

    let started = Instant::now();
    while text(&db, &format!("SELECT status::text FROM quotes WHERE id = '{past}'")) != "expired" {
        assert!(started.elapsed() < Duration::from_secs(60), "not expired:\n{}", host.output());
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = std::fs::remove_file(&fast);
    assert_eq!(text(&db, &format!("SELECT status::text FROM quotes WHERE id = '{current}'")), "sent");
    assert_eq!(
        text(&db, &format!("SELECT status::text FROM quotes WHERE id = '{draft}'")),
        "draft",
        "only sent quotes expire"
    );
    assert_eq!(text(&db, "SELECT count(*)::text FROM quote_idempotency_keys WHERE idempotency_key = 'old-key'"), "0");
    assert_gone(&host.get(&path).send());
    assert!(host.output().contains("[schedule] POST /functions/v1/quote-processor/expire -> 200"), "{}", host.output());
    let h = host.get(&format!("{PATH}/{past}/history")).bearer(&token).send().json();
    let last = h["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["path"].clone(), last["status_to"].clone()), (json!("schedule"), json!("expired")), "{h}");

    // The expiry is the service role's: users are refused.
    assert_eq!(host.post(&format!("{PATH}/expire")).bearer(&token).send().status, 403);
    assert_eq!(host.post(&format!("{PATH}/expire")).send().status, 401);
}

#[test]
fn a_browser_renders_the_shared_page_without_running_anything_from_the_quote() {
    let Some(chromium) = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| std::process::Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
    else {
        return e2e::skip("a_browser_renders_the_shared_page", "chromium is not installed");
    };
    let db = TestDb::new();
    let user = owner(&db, "owner4@greenleaf.example");
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    let id = new_quote(&host, &token);
    // Markup that would change the page's title if it ever ran.
    db.exec(&format!(
        "UPDATE quotes SET client_name = '<img src=x onerror=\"document.title=''pwned''\">',
                           notes = '<script>document.title=''pwned''</script>' WHERE id = '{id}'"
    ));
    let path = link(&host, &token, &id);
    let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--window-size=390,844"];
    let out = std::process::Command::new(chromium).args(flags).arg("--dump-dom").arg(host.url(&path)).output().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(dom.contains("Hedge trimming"), "page did not render:\n{dom}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dom.contains("pwned</title>"), "{dom}");
    assert!(!dom.contains("<img") && !dom.contains("<script"), "{dom}");
    assert!(dom.contains("&lt;img src=x onerror="), "{dom}");
    assert_eq!(dom.matches("<form").count(), 2, "{dom}");
}

#[test]
fn the_history_names_batch_changes_and_outlives_a_deleted_quote() {
    let db = TestDb::new();
    let user = db.user("historian@greenleaf.example");
    db.subscribe(&user, Plan { bulk_operations: true, ..Plan::unlimited() });
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    let id = new_quote(&host, &token);
    let patch = e2e::Req::new("PATCH", &host.url(&format!("{PATH}/{id}")))
        .bearer(&token)
        .json(&json!({"notes": "Gate code 1234"}))
        .send();
    assert_eq!(patch.status, 200, "{}", patch.text());
    let r = host
        .post(&format!("{PATH}/batch"))
        .bearer(&token)
        .json(&json!({"operation": "status_update", "quote_ids": [id], "options": {"status": "sent"}}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = host
        .post(&format!("{PATH}/batch"))
        .bearer(&token)
        .json(&json!({"operation": "bulk_delete", "quote_ids": [id]}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(host.get(&format!("{PATH}/{id}")).bearer(&token).send().status, 404);

    let h = host.get(&format!("{PATH}/{id}/history")).bearer(&token).send();
    assert_eq!(h.status, 200, "{}", h.text());
    let entries = h.json()["entries"].as_array().unwrap().clone();
    let summary: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["action"].as_str().unwrap(), e["path"].as_str().unwrap())).collect();
    assert_eq!(
        summary,
        vec![("created", "api"), ("updated", "api"), ("updated", "batch"), ("deleted", "batch")],
        "{entries:?}"
    );
    assert_eq!(entries[1]["changes"]["notes"], json!({"from": "Access through the side gate", "to": "Gate code 1234"}));
    assert!(entries[1]["changes"].get("updated_at").is_none(), "the bookkeeping column is not a change");
    assert_eq!(entries[2]["changes"]["status"], json!({"from": "draft", "to": "sent"}));
    assert!(entries.iter().all(|e| e["changed_by"] == user.as_str() && e["changed_at"].is_string()));
    // Someone else's quote has no history they can read; a malformed id is a 400.
    assert_eq!(
        host.get(&format!("{PATH}/{id}/history")).bearer(&Jwt::user(&db.user("nosy@example.test"))).send().status,
        404
    );
    assert_eq!(host.get(&format!("{PATH}/not-a-uuid/history")).bearer(&token).send().status, 400);
    assert_eq!(host.get(&format!("{PATH}/{id}/history")).send().status, 401);
}

#[test]
fn each_link_has_its_own_rate_budget() {
    let db = TestDb::new();
    let user = owner(&db, "busy-owner@greenleaf.example");
    db.exec(
        "UPDATE security_configuration SET config_value = '{\"requestsPerMinute\": 1, \"burstLimit\": 2}'
              WHERE config_category = 'rate_limiting' AND config_key = 'share_links'",
    );
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    let first = link(&host, &token, &new_quote(&host, &token));
    let second = link(&host, &token, &new_quote(&host, &token));
    assert_eq!(host.get(&first).send().status, 200);
    assert_eq!(host.get(&first).send().status, 200);
    let r = host.get(&first).send();
    assert_eq!((r.status, r.json()["code"].clone()), (429, json!("rate_limited")), "{}", r.text());
    assert!(r.header("retry-after").is_some());
    // Another link from the same address still opens.
    assert_eq!(host.get(&second).send().status, 200);
}

#[test]
fn the_owner_lists_a_quotes_links_without_their_tokens() {
    let db = TestDb::new();
    let user = owner(&db, "lister@greenleaf.example");
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    let id = new_quote(&host, &token);
    let list = |as_token: &str| host.get(&format!("{PATH}/{id}/share")).bearer(as_token).send();

    // None yet.
    let r = list(&token);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((&r.json()["quote_id"], &r.json()["links"]), (&json!(id), &json!([])));

    // Three links: one opened, one revoked, one used for the decision.
    let made: Vec<Value> = (0..3)
        .map(|_| {
            let r = share(&host, &token, &id, Some(json!({"expires_in_days": 5})));
            assert_eq!(r.status, 201, "{}", r.text());
            r.json()
        })
        .collect();
    let (opened, revoked, decided) = (&made[0], &made[1], &made[2]);
    assert_eq!(host.get(opened["path"].as_str().unwrap()).send().status, 200);
    let r = host.delete(&format!("{PATH}/{id}/share/{}", revoked["id"].as_str().unwrap())).bearer(&token).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(host.get(revoked["path"].as_str().unwrap()).send().status, 410, "a revoked link is not used");

    let r = list(&token);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text();
    for link in &made {
        assert!(!body.contains(link["token"].as_str().unwrap()), "a token in the list: {body}");
    }
    let links = r.json()["links"].as_array().unwrap().clone();
    let ids: Vec<&str> = links.iter().map(|l| l["id"].as_str().unwrap()).collect();
    let newest_first: Vec<&str> = made.iter().rev().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, newest_first);
    for l in &links {
        let mut keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["active", "created_at", "expires_at", "id", "last_used_at", "revoked_at", "used_at"]);
    }
    let by_id = |link: &Value| links.iter().find(|l| l["id"] == link["id"]).unwrap().clone();
    let o = by_id(opened);
    assert_eq!((o["active"].as_bool(), o["revoked_at"].is_null(), o["used_at"].is_null()), (Some(true), true, true));
    assert!(o["last_used_at"].is_string(), "opened: {o}");
    assert_eq!(o["created_at"], opened["created_at"]);
    assert_eq!(o["expires_at"], opened["expires_at"]);
    let v = by_id(revoked);
    assert_eq!(
        (v["active"].as_bool(), v["revoked_at"].is_string(), v["last_used_at"].is_null()),
        (Some(false), true, true)
    );
    let d = by_id(decided);
    assert_eq!((d["active"].as_bool(), d["last_used_at"].is_null()), (Some(true), true), "never opened: {d}");

    // The decision uses up its link, and the others with the quote: nothing is active any more.
    let r = decide(&host, decided["path"].as_str().unwrap(), "decline", &json!({"name": "Ada Client"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let links = list(&token).json()["links"].as_array().unwrap().clone();
    let d = links.iter().find(|l| l["id"] == decided["id"]).unwrap();
    assert!(d["used_at"].is_string() && d["last_used_at"] == d["used_at"], "{d}");
    assert!(links.iter().all(|l| l["active"] == false), "{links:?}");

    // Someone else's quote, or none: 404; a malformed id: 400; no token: 401.
    assert_eq!(list(&Jwt::user(&db.user("nosy-lister@example.test"))).status, 404);
    let r = host.get(&format!("{PATH}/00000000-0000-4000-8000-000000000000/share")).bearer(&token).send();
    assert_eq!(r.status, 404);
    assert_eq!(host.get(&format!("{PATH}/not-a-uuid/share")).bearer(&token).send().status, 400);
    assert_eq!(host.get(&format!("{PATH}/{id}/share")).send().status, 401);
}
