//! quote-pdf-generator through the host: real PDFs checked with qpdf and read back with
//! poppler (every field, wrapping inside the page, a header on every page, placeholders for
//! what Helvetica cannot show), ownership, plan features, the document cache, and emails
//! through a recording stand-in for Resend.

use base64::Engine as _;
use e2e::http::Recorder;
use e2e::{Host, HostConfig, HttpResponse, Jwt, Plan, TempDir, TestDb};
use serde_json::{json, Value};
use std::process::Command;

const PATH: &str = "/functions/v1/quote-pdf-generator";

// ---------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------

/// An active subscription to a plan with `pdf_export`, and `email_quotes` / `custom_branding`
/// as given.
fn plan(db: &TestDb, user: &str, email_quotes: bool, custom_branding: bool) {
    db.subscribe(user, Plan { pdf_export: true, email_quotes, custom_branding, ..Plan::unlimited() });
}

fn company(db: &TestDb, user: &str) {
    db.client()
        .execute(
            "INSERT INTO company_settings (id, company_name, company_address, company_email, company_phone, quote_terms)
             VALUES ($1::text::uuid, 'Greenleaf Gardens', '7 Orchard Lane\nSpringfield', 'office@greenleaf.example',
                     '+1 555 0199', 'Payment due within 14 days of acceptance.')",
            &[&user],
        )
        .expect("company settings");
}

struct Line {
    name: String,
    description: Option<String>,
    quantity: i64,
    price_cents: i64,
}

fn line(name: &str, description: &str, quantity: i64, price_cents: i64) -> Line {
    Line {
        name: name.into(),
        description: Some(description.into()).filter(|d: &String| !d.is_empty()),
        quantity,
        price_cents,
    }
}

struct QuoteSpec {
    seq: i32,
    client_name: String,
    client_email: Option<String>,
    lines: Vec<Line>,
    /// Hundredths of a percent.
    markup: i64,
    tax: i64,
    notes: Option<String>,
}

fn spec(seq: i32, lines: Vec<Line>) -> QuoteSpec {
    QuoteSpec {
        seq,
        client_name: "Ada Lovelace".into(),
        client_email: Some("ada@client.example".into()),
        lines,
        markup: 0,
        tax: 0,
        notes: None,
    }
}

/// Amounts in cents as the quote stores them (line totals are whole: integer quantities).
struct Totals {
    subtotal: i64,
    markup: i64,
    tax: i64,
    total: i64,
}

fn percent(cents: i64, hundredths: i64) -> i64 {
    (cents * hundredths + 5_000) / 10_000 // half away from zero, amounts are positive
}

fn decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// As the document prints amounts: `1,234.50`.
fn printed(cents: i64) -> String {
    let int = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", cents % 100)
}

/// Inserts the quote as `Q-2026-<seq>` with consistent totals; returns its id and totals.
fn insert_quote(db: &TestDb, user: &str, q: &QuoteSpec) -> (String, Totals) {
    let items: Vec<Value> = q
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut item =
                json!({"name": l.name, "unit": "h", "quantity": l.quantity, "unit_price": decimal(l.price_cents)});
            if i % 2 == 1 {
                item["quantity"] = json!(l.quantity.to_string()); // numbers as strings or numbers
            }
            if let Some(d) = &l.description {
                item["description"] = json!(d);
            }
            item
        })
        .collect();
    let subtotal: i64 = q.lines.iter().map(|l| l.quantity * l.price_cents).sum();
    let markup = percent(subtotal, q.markup);
    let tax = percent(subtotal + markup, q.tax);
    let t = Totals { subtotal, markup, tax, total: subtotal + markup + tax };
    let number = format!("Q-2026-{:04}", q.seq);
    let row = db
        .client()
        .query_one(
            "INSERT INTO quotes (user_id, client_name, client_email, client_phone, client_address, quote_number, quote_year,
                                 quote_seq, line_items, subtotal, markup_rate, markup_amount, tax_rate, tax_amount, total,
                                 valid_until, notes)
             VALUES ($1::text::uuid, $2, $3, '+1 555 0142', '12 Analytical Street\nLondon', $4, 2026, $5, $6::text::jsonb,
                     $7::text::numeric, $8::text::numeric, $9::text::numeric, $10::text::numeric, $11::text::numeric,
                     $12::text::numeric, '2026-12-31', $13)
             RETURNING id::text",
            &[
                &user,
                &q.client_name,
                &q.client_email,
                &number,
                &q.seq,
                &Value::Array(items).to_string(),
                &decimal(t.subtotal),
                &decimal(q.markup),
                &decimal(t.markup),
                &decimal(q.tax),
                &decimal(t.tax),
                &decimal(t.total),
                &q.notes,
            ],
        )
        .expect("insert quote");
    (row.get(0), t)
}

fn scalar(db: &TestDb, sql: &str) -> i64 {
    db.client().query_one(sql, &[]).expect(sql).get(0)
}

// ---------------------------------------------------------------------------------------------
// Requests and PDF tools
// ---------------------------------------------------------------------------------------------

fn pdf(host: &Host, user: &str, body: &Value) -> HttpResponse {
    host.post(PATH).bearer(&Jwt::user(user)).json(body).send()
}

fn json_doc(host: &Host, user: &str, body: &Value) -> HttpResponse {
    host.post(PATH).bearer(&Jwt::user(user)).header("accept", "application/json").json(body).send()
}

fn decoded(doc: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(doc["pdf_base64"].as_str().expect("pdf_base64")).expect("base64")
}

/// Runs a PDF tool on `bytes`; its stdout.
fn tool(bytes: &[u8], program: &str, args: &[&str]) -> String {
    let dir = TempDir::new("pdf");
    let file = dir.0.join("doc.pdf");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new(program)
        .args(args)
        .arg(&file)
        .args(if program == "pdftotext" { &["-"][..] } else { &[][..] })
        .output()
        .unwrap_or_else(|e| panic!("{program} is missing ({e}): scripts/test installs qpdf and poppler-utils"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{program} failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn qpdf_check(bytes: &[u8]) {
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF: {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(80)]));
    let out = tool(bytes, "qpdf", &["--check"]);
    assert!(out.contains("No syntax or stream encoding errors"), "{out}");
}

fn text(bytes: &[u8]) -> String {
    tool(bytes, "pdftotext", &["-layout"])
}

fn pages(bytes: &[u8]) -> usize {
    let info = tool(bytes, "pdfinfo", &[]);
    let line = info.lines().find(|l| l.starts_with("Pages:")).expect("pdfinfo prints Pages");
    line["Pages:".len()..].trim().parse().unwrap()
}

fn assert_has(text: &str, wanted: &str) {
    assert!(text.contains(wanted), "`{wanted}` not in the PDF text:\n{text}");
}

// ---------------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------------

#[test]
fn a_quote_renders_as_a_valid_pdf_with_every_field() {
    let db = TestDb::new();
    let user = db.user("owner@example.test");
    plan(&db, &user, true, false);
    company(&db, &user);
    let mut q = spec(
        1,
        vec![
            line("Lawn mowing", "Front and back lawn", 3, 1999),
            line("Hedge trimming", "", 2, 4550),
            line("Mulch delivery", "Bark mulch, 2 m³", 1, 123_456),
        ],
    );
    q.markup = 1250;
    q.tax = 825;
    q.notes = Some("Gate code 4711; dogs are friendly.".into());
    let (id, t) = insert_quote(&db, &user, &q);
    let host = Host::start(HostConfig::app(&db));

    let r = pdf(&host, &user, &json!({"quote_id": id}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"quote-Q-2026-0001.pdf\""));
    assert_eq!(r.header("x-document-cached"), Some("false"));
    qpdf_check(&r.body);
    assert_eq!(pages(&r.body), 1);
    let text = text(&r.body);
    for wanted in [
        "Greenleaf Gardens",
        "7 Orchard Lane",
        "Springfield",
        "+1 555 0199",
        "office@greenleaf.example",
        "Quote Q-2026-0001",
        "Date: 20",
        "Valid until: 2026-12-31",
        "Status: Draft",
        "Ada Lovelace",
        "ada@client.example",
        "+1 555 0142",
        "12 Analytical Street",
        "London",
        "Item",
        "Description",
        "Qty",
        "Unit price",
        "Line total",
        "Lawn mowing",
        "Front and back lawn",
        "Hedge trimming",
        "Mulch delivery",
        "Bark mulch, 2 m³",
        "19.99",
        "59.97",
        "45.50",
        "91.00",
        "1,234.56",
        "Gate code 4711; dogs are friendly.",
        "Payment due within 14 days of acceptance.",
        "Created with QuoteKit",
    ] {
        assert_has(&text, wanted);
    }
    // 3 × 19.99 + 2 × 45.50 + 1,234.56 = 1,385.53; markup 12.5 % = 173.19; tax 8.25 % = 128.59
    assert_eq!((t.subtotal, t.markup, t.tax, t.total), (138_553, 17_319, 12_859, 168_731));
    for (label, cents) in
        [("Subtotal", t.subtotal), ("Markup (12.50%)", t.markup), ("Tax (8.25%)", t.tax), ("Total (USD)", t.total)]
    {
        let row = text.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("no `{label}` line:\n{text}"));
        assert!(row.trim_end().ends_with(&printed(cents)), "{label}: {row}");
    }
    let usage = scalar(&db, &format!("SELECT pdf_exports_count::bigint FROM user_usage WHERE user_id = '{user}'"));
    assert_eq!(usage, 1, "one pdf_exports usage per document");
}

#[test]
fn custom_branding_leaves_the_created_with_footer_out() {
    let db = TestDb::new();
    let user = db.user("brand@example.test");
    plan(&db, &user, false, true);
    let (id, _) = insert_quote(&db, &user, &spec(1, vec![line("Consulting", "", 1, 10_000)]));
    let host = Host::start(HostConfig::app(&db));
    let r = pdf(&host, &user, &json!({"quote_id": id}));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = text(&r.body);
    assert_has(&text, "Quote Q-2026-0001");
    assert!(!text.contains("Created with QuoteKit"), "{text}");
}

#[test]
fn a_long_description_wraps_inside_the_page() {
    let db = TestDb::new();
    let user = db.user("wrap@example.test");
    plan(&db, &user, false, false);
    let words: Vec<String> = (0..120).map(|i| format!("word{i}")).collect();
    let unbroken = "x".repeat(300);
    let description = format!("{} {unbroken}", words.join(" "));
    let (id, _) = insert_quote(&db, &user, &spec(1, vec![line("Landscape design", &description, 1, 50_000)]));
    let host = Host::start(HostConfig::app(&db));
    let r = pdf(&host, &user, &json!({"quote_id": id}));
    assert_eq!(r.status, 200, "{}", r.text());
    qpdf_check(&r.body);

    // Every word is somewhere on the page, and every word ends inside the right margin.
    let bbox = tool(&r.body, "pdftotext", &["-bbox"]);
    let page_width: f64 = attribute(bbox.lines().find(|l| l.contains("<page ")).unwrap(), "width");
    let mut found = Vec::new();
    for l in bbox.lines().filter(|l| l.trim_start().starts_with("<word ")) {
        let x_max: f64 = attribute(l, "xMax");
        let word = l.split('>').nth(1).unwrap().split('<').next().unwrap().to_string();
        assert!(x_max <= page_width - 40.0, "`{word}` ends at {x_max} of {page_width}");
        found.push(word);
    }
    for w in &words {
        assert!(found.contains(w), "{w} is missing");
    }
    let xs: usize = found.iter().filter(|w| w.chars().all(|c| c == 'x')).map(|w| w.len()).sum();
    assert_eq!(xs, 300, "the unbroken word is cut into pieces, none lost");
    assert_eq!(found.iter().filter(|w| w.starts_with("word")).count(), 120, "each word once");
}

fn attribute(tag: &str, name: &str) -> f64 {
    let at = tag.find(&format!("{name}=\"")).unwrap_or_else(|| panic!("no {name} in {tag}")) + name.len() + 2;
    tag[at..].split('"').next().unwrap().parse().unwrap()
}

#[test]
fn two_hundred_items_paginate_with_the_table_header_on_every_page() {
    let db = TestDb::new();
    let user = db.user("big@example.test");
    plan(&db, &user, false, false);
    let lines: Vec<Line> =
        (1..=200).map(|i| line(&format!("Item {i:03}"), &format!("Task number {i}"), 1, 1000 + i)).collect();
    let (id, t) = insert_quote(&db, &user, &spec(7, lines));
    let host = Host::start(HostConfig::app(&db));
    let r = pdf(&host, &user, &json!({"quote_id": id}));
    assert_eq!(r.status, 200, "{}", r.text());
    qpdf_check(&r.body);
    let n = pages(&r.body);
    assert!(n >= 4, "200 items on {n} pages");
    let text = text(&r.body);
    let per_page: Vec<&str> = text.split('\u{c}').filter(|p| !p.trim().is_empty()).collect();
    assert_eq!(per_page.len(), n);
    for (i, page) in per_page.iter().enumerate() {
        assert_eq!(page.matches("Line total").count(), 1, "page {} has the table header once:\n{page}", i + 1);
        let item_rows = page.lines().filter(|l| {
            l.trim_start().strip_prefix("Item ").is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        });
        assert!(item_rows.count() > 0, "page {} carries line items", i + 1);
        assert!(page.contains(&format!("Page {}", i + 1)));
    }
    assert_eq!(text.matches("Unit price").count(), n, "one header per page");
    for i in 1..=200 {
        assert_has(&text, &format!("Item {i:03}"));
    }
    assert_has(&text, &printed(t.total));
}

#[test]
fn text_outside_latin_1_prints_a_placeholder_and_never_breaks_the_file() {
    let db = TestDb::new();
    let user = db.user("intl@example.test");
    plan(&db, &user, false, false);
    let mut q = spec(1, vec![line("Łódź 東京 😀", "Straße, café, naïve – fine", 1, 100)]);
    q.client_name = "Zoë Ærø Łódź 東京 😀".into();
    q.notes = Some("(unbalanced ) paren \\ BT /F1 99 Tf (x) Tj ET endstream endobj %%EOF".into());
    let (id, _) = insert_quote(&db, &user, &q);
    let host = Host::start(HostConfig::app(&db));
    let r = pdf(&host, &user, &json!({"quote_id": id}));
    assert_eq!(r.status, 200, "{}", r.text());
    qpdf_check(&r.body);
    assert_eq!(pages(&r.body), 1, "text never adds layout");
    let text = text(&r.body);
    assert_has(&text, "Zoë Ærø ?ód? ?? ?");
    assert_has(&text, "?ód? ?? ?");
    assert_has(&text, "Straße, café, naïve – fine");
    assert_has(&text, "(unbalanced ) paren \\ BT /F1 99 Tf (x) Tj ET endstream endobj %%EOF");
}

// ---------------------------------------------------------------------------------------------
// Ownership, plans, input
// ---------------------------------------------------------------------------------------------

#[test]
fn another_users_quote_is_not_found() {
    let db = TestDb::new();
    let alice = db.user("alice@example.test");
    let bob = db.user("bob@example.test");
    plan(&db, &alice, true, false);
    plan(&db, &bob, true, false);
    let (bobs, _) = insert_quote(&db, &bob, &spec(1, vec![line("Secret work", "", 1, 100)]));
    let host = Host::start(HostConfig::app(&db));
    for body in [json!({"quote_id": bobs}), json!({"quote_id": "00000000-0000-4000-8000-000000000000"})] {
        let r = json_doc(&host, &alice, &body);
        assert_eq!(r.status, 404, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert_eq!(r.json()["code"], "not_found");
        assert!(!r.text().contains("Secret"));
    }
    let r = json_doc(&host, &alice, &json!({"quote_id": bobs, "send_email": true, "email": {"to": "x@example.com"}}));
    assert_eq!(r.status, 404);
    assert_eq!(scalar(&db, "SELECT count(*) FROM quote_documents"), 0);
    assert_eq!(scalar(&db, "SELECT count(*) FROM quote_email_attempts"), 0);
    assert_eq!(scalar(&db, "SELECT coalesce(sum(pdf_exports_count), 0)::bigint FROM user_usage"), 0);
}

#[test]
fn plans_without_the_features_get_402() {
    let db = TestDb::new();
    let free = db.user("free@example.test");
    let no_email = db.user("noemail@example.test");
    plan(&db, &no_email, false, false);
    let (free_quote, _) = insert_quote(&db, &free, &spec(1, vec![line("A", "", 1, 100)]));
    let (other_quote, _) = insert_quote(&db, &no_email, &spec(1, vec![line("B", "", 1, 100)]));
    let host = Host::start(HostConfig::app(&db));

    let r = pdf(&host, &free, &json!({"quote_id": free_quote}));
    assert_eq!(r.status, 402, "{}", r.text());
    let p = r.json();
    assert_eq!(p["code"], "plan_upgrade_required");
    assert!(p["detail"].as_str().unwrap().contains("pdf_export"), "{p}");

    let r = pdf(&host, &no_email, &json!({"quote_id": other_quote, "send_email": true}));
    assert_eq!(r.status, 402, "{}", r.text());
    assert!(r.json()["detail"].as_str().unwrap().contains("email_quotes"));
    // Without the email the same user may export.
    assert_eq!(pdf(&host, &no_email, &json!({"quote_id": other_quote})).status, 200);
}

#[test]
fn bad_input_is_a_400_listing_every_field() {
    let db = TestDb::new();
    let user = db.user("bad@example.test");
    plan(&db, &user, true, false);
    let host = Host::start(HostConfig::app(&db));
    let fields = |r: &HttpResponse| -> Vec<(String, String)> {
        assert_eq!(r.status, 400, "{}", r.text());
        let p = r.json();
        assert_eq!(p["code"], "validation_failed");
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["field"].as_str().unwrap().into(), e["code"].as_str().unwrap().into()))
            .collect()
    };
    let pair = |f: &str, c: &str| (f.to_string(), c.to_string());

    assert_eq!(fields(&pdf(&host, &user, &json!({}))), [pair("quote_id", "required")]);
    assert_eq!(fields(&pdf(&host, &user, &json!({"quote_id": "Q-2026-0001"}))), [pair("quote_id", "invalid_uuid")]);
    let ids: Vec<String> = (0..26).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
    assert_eq!(fields(&pdf(&host, &user, &json!({"quote_ids": ids}))), [pair("quote_ids", "too_many")]);
    assert_eq!(
        fields(&pdf(
            &host,
            &user,
            &json!({"quote_ids": ["nope"], "send_email": 1, "email": {"to": "bad"}, "quote": {}})
        )),
        [
            pair("email", "conflict"),
            pair("email.to", "invalid_email"),
            pair("quote", "unknown_field"),
            pair("quote_ids[0]", "invalid_uuid"),
            pair("send_email", "invalid_type"),
        ]
    );
    let r = host.post(PATH).bearer(&Jwt::user(&user)).header("content-type", "text/plain").body(b"{}".to_vec()).send();
    assert_eq!(r.status, 415);
    assert_eq!(host.get(PATH).bearer(&Jwt::user(&user)).send().status, 405);
    assert_eq!(host.post(&format!("{PATH}/nope")).bearer(&Jwt::user(&user)).json(&json!({})).send().status, 404);
    assert_eq!(host.post(PATH).json(&json!({"quote_id": ids[0]})).send().status, 401);
}

#[test]
fn a_batch_answers_each_quote_and_lists_the_missing_ones() {
    let db = TestDb::new();
    let user = db.user("batch@example.test");
    let other = db.user("other@example.test");
    plan(&db, &user, false, false);
    let (a, _) = insert_quote(&db, &user, &spec(1, vec![line("First", "", 1, 100)]));
    let (b, _) = insert_quote(&db, &user, &spec(2, vec![line("Second", "", 2, 250)]));
    let (theirs, _) = insert_quote(&db, &other, &spec(1, vec![line("Theirs", "", 1, 100)]));
    let host = Host::start(HostConfig::app(&db));
    let r = pdf(&host, &user, &json!({"quote_ids": [a, theirs, b]}));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!((v["succeeded"].as_u64(), v["failed"].as_u64()), (Some(2), Some(1)));
    let results = v["results"].as_array().unwrap();
    assert_eq!(results[0]["quote_number"], "Q-2026-0001");
    assert_eq!(results[1]["quote_id"], theirs.as_str());
    assert_eq!(results[1]["error"]["status"], 404);
    assert_eq!(results[2]["filename"], "quote-Q-2026-0002.pdf");
    let second = decoded(&results[2]);
    qpdf_check(&second);
    assert_eq!(results[2]["size_bytes"].as_u64(), Some(second.len() as u64));
    assert_has(&text(&second), "Second");
    assert_eq!(scalar(&db, &format!("SELECT pdf_exports_count::bigint FROM user_usage WHERE user_id = '{user}'")), 2);
}

/// A quote of 200 items with descriptions of 1,995 characters: about 420 KB of text.
fn large_quote(db: &TestDb, user: &str, seq: i32) -> String {
    let description = "Supply and fit, including all fixings and making good. ".repeat(35);
    let lines = (0..200).map(|k| line(&format!("Item {k}"), &description, 1 + k % 5, 1999)).collect();
    insert_quote(db, user, &spec(seq, lines)).0
}

#[test]
fn a_batch_holding_too_much_text_is_refused_whole_saying_what_fits() {
    let db = TestDb::new();
    let user = db.user("heavy@example.test");
    plan(&db, &user, false, false);
    let ids: Vec<String> = (1..=6).map(|seq| large_quote(&db, &user, seq)).collect();
    let host = Host::start(HostConfig::app(&db));
    let r = json_doc(&host, &user, &json!({"quote_ids": ids}));
    assert_eq!((r.status, r.json()["code"].as_str()), (413, Some("batch_too_large")), "{}", r.text());
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("the first 4 fit") && detail.contains("generate_pdfs"), "{detail}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM quote_documents"), 0, "nothing rendered");
    // What the answer says fits does fit.
    let r = json_doc(&host, &user, &json!({"quote_ids": ids[..4]}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["succeeded"], 4);
}

#[test]
fn a_user_renders_at_most_two_large_requests_at_once() {
    let db = TestDb::new();
    let user = db.user("eager@example.test");
    plan(&db, &user, false, false);
    let ids: Vec<String> = (1..=6).map(|seq| large_quote(&db, &user, seq)).collect();
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    let running: Vec<_> = ids
        .iter()
        .map(|id| {
            let req =
                host.post(PATH).bearer(&token).header("accept", "application/json").json(&json!({"quote_id": id}));
            std::thread::spawn(move || req.send())
        })
        .collect();
    // An ordinary quote of the same user is never held back meanwhile.
    let (small, _) = insert_quote(&db, &user, &spec(7, vec![line("Small", "", 1, 100)]));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(json_doc(&host, &user, &json!({"quote_id": small})).status, 200);
    let answers: Vec<HttpResponse> = running.into_iter().map(|t| t.join().unwrap()).collect();
    let refused: Vec<&HttpResponse> = answers.iter().filter(|r| r.status == 429).collect();
    let served = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(served + refused.len(), 6, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(served >= 2 && !refused.is_empty(), "served {served}, refused {}", refused.len());
    for r in refused {
        assert_eq!(r.json()["code"], "renders_in_progress");
        assert!(r.header("retry-after").is_some());
    }
}

// ---------------------------------------------------------------------------------------------
// The document cache
// ---------------------------------------------------------------------------------------------

#[test]
fn an_unchanged_quote_is_served_from_the_cache_until_it_changes() {
    let db = TestDb::new();
    let user = db.user("cache@example.test");
    plan(&db, &user, false, false);
    company(&db, &user);
    let (id, _) = insert_quote(&db, &user, &spec(3, vec![line("Pruning", "Two apple trees", 2, 7500)]));
    let host = Host::start(HostConfig::app(&db));
    let body = json!({"quote_id": id});

    let first = json_doc(&host, &user, &body).json();
    assert_eq!(first["cached"], false);
    assert!(first["render_ms"].as_f64().is_some());
    let bytes = decoded(&first);
    assert_eq!(first["sha256"].as_str().unwrap().len(), 64);
    let second = json_doc(&host, &user, &body).json();
    assert_eq!(second["cached"], true);
    assert_eq!(second["render_ms"], Value::Null);
    assert_eq!(second["sha256"], first["sha256"]);
    assert_eq!(decoded(&second), bytes, "the cached bytes themselves");
    let r = pdf(&host, &user, &body);
    assert_eq!((r.header("x-document-cached"), r.body == bytes), (Some("true"), true));

    db.exec(&format!("UPDATE quotes SET notes = 'Ladder provided by the client' WHERE id = '{id}'"));
    let third = json_doc(&host, &user, &body).json();
    assert_eq!(third["cached"], false);
    assert_ne!(third["sha256"], first["sha256"]);
    assert_has(&text(&decoded(&third)), "Ladder provided by the client");
    assert_eq!(json_doc(&host, &user, &body).json()["cached"], true);

    // The company block is on the document too.
    db.exec(&format!("UPDATE company_settings SET company_name = 'Greenleaf & Sons' WHERE id = '{user}'"));
    let fourth = json_doc(&host, &user, &body).json();
    assert_eq!(fourth["cached"], false);
    assert_has(&text(&decoded(&fourth)), "Greenleaf & Sons");

    assert_eq!(
        scalar(&db, &format!("SELECT count(*) FROM quote_documents WHERE quote_id = '{id}'")),
        1,
        "one current document"
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM quote_documents WHERE render_ms > 0 AND size_bytes > 0"), 1);
    assert_eq!(scalar(&db, &format!("SELECT pdf_exports_count::bigint FROM user_usage WHERE user_id = '{user}'")), 6);
}

// ---------------------------------------------------------------------------------------------
// Email
// ---------------------------------------------------------------------------------------------

fn host_with_resend(db: &TestDb, rec: &Recorder) -> Host {
    Host::start(
        HostConfig::app(db)
            .var("resend_api_base", &format!("http://127.0.0.1:{}", rec.port))
            .var("resend_api_key", "re_test")
            .var("email_from", "Greenleaf <quotes@greenleaf.example>"),
    )
}

#[test]
fn send_email_posts_the_pdf_to_resend_and_records_the_attempt() {
    let db = TestDb::new();
    let user = db.user("mailer@example.test");
    plan(&db, &user, true, false);
    company(&db, &user);
    let (id, _) = insert_quote(&db, &user, &spec(12, vec![line("Spring clean-up", "", 4, 3500)]));
    let rec = Recorder::start(200, r#"{"id":"email_123"}"#);
    let host = host_with_resend(&db, &rec);

    let r = json_doc(&host, &user, &json!({"quote_id": id, "send_email": true}));
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert_eq!(doc["email"]["status"], "sent", "{doc}");
    assert_eq!(doc["email"]["provider_id"], "email_123");
    let pdf_bytes = decoded(&doc);

    let received = rec.received();
    assert_eq!(received.len(), 1);
    let sent = &received[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/emails"));
    let auth = sent.headers.iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.as_str());
    assert_eq!(auth, Some("Bearer re_test"));
    let mail: Value = serde_json::from_slice(&sent.body).expect("a JSON body");
    assert_eq!(mail["to"], json!(["ada@client.example"]));
    assert_eq!(mail["from"], "Greenleaf <quotes@greenleaf.example>");
    let subject = mail["subject"].as_str().unwrap();
    assert!(subject.contains("Q-2026-0012"), "{subject}");
    assert!(mail["text"].as_str().unwrap().contains("Q-2026-0012"));
    assert_eq!(mail["attachments"][0]["filename"], "quote-Q-2026-0012.pdf");
    let attached =
        base64::engine::general_purpose::STANDARD.decode(mail["attachments"][0]["content"].as_str().unwrap()).unwrap();
    assert_eq!(attached, pdf_bytes, "the attachment is the document answered");
    qpdf_check(&attached);

    let row = db
        .client()
        .query_one("SELECT recipient, subject, status, provider_message_id, http_status FROM quote_email_attempts", &[])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "ada@client.example");
    assert_eq!(row.get::<_, String>(1), subject);
    assert_eq!(row.get::<_, String>(2), "sent");
    assert_eq!(row.get::<_, Option<String>>(3).as_deref(), Some("email_123"));
    assert_eq!(row.get::<_, Option<i32>>(4), Some(200));

    // The original request shape still works: `to` naming the client, a subject (ignored, said
    // so), and a note, which appears inside the fixed message.
    let r = json_doc(
        &host,
        &user,
        &json!({"quote_id": id, "send_email": true,
        "email": {"to": "ADA@client.example", "subject": "Your garden", "message": "See attached."}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let email = &r.json()["email"];
    assert_eq!(email["status"], "sent", "{email}");
    assert!(email["warnings"][0].as_str().unwrap().contains("email.subject is ignored"), "{email}");
    let mail: Value = serde_json::from_slice(&rec.received()[1].body).unwrap();
    assert_eq!((mail["to"].clone(), mail["subject"].clone()), (json!(["ada@client.example"]), json!(subject)));
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("A note from Greenleaf Gardens:\n\n    See attached.\n"), "{text}");
    assert!(text.starts_with("Hello Ada Lovelace,"), "{text}");
}

#[test]
fn a_failing_email_provider_does_not_lose_the_document() {
    let db = TestDb::new();
    let user = db.user("unlucky@example.test");
    plan(&db, &user, true, false);
    let (id, _) = insert_quote(&db, &user, &spec(1, vec![line("Tree removal", "", 1, 90_000)]));
    let rec =
        Recorder::start(500, r#"{"statusCode":500,"message":"internal server error","name":"application_error"}"#);
    let host = host_with_resend(&db, &rec);

    let r = pdf(&host, &user, &json!({"quote_id": id, "send_email": true}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-email-status"), Some("failed"));
    qpdf_check(&r.body);

    let doc = json_doc(&host, &user, &json!({"quote_id": id, "send_email": true})).json();
    assert_eq!(doc["email"]["status"], "failed", "{doc}");
    assert!(doc["email"]["error"].as_str().unwrap().contains("500"), "{doc}");
    assert!(!decoded(&doc).is_empty());
    assert_eq!(rec.received().len(), 2);
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM quote_email_attempts WHERE status = 'failed' AND http_status = 500 AND error LIKE '%internal server error%'"),
        2
    );

    // A provider that cannot be reached at all: the same.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let host = Host::start(
        HostConfig::app(&db)
            .var("resend_api_base", &format!("http://127.0.0.1:{port}"))
            .var("resend_api_key", "re_test"),
    );
    let doc = json_doc(&host, &user, &json!({"quote_id": id, "send_email": true})).json();
    assert_eq!(doc["email"]["status"], "failed", "{doc}");
    assert_eq!(doc["email"]["http_status"], Value::Null);
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM quote_email_attempts WHERE status = 'failed' AND http_status IS NULL"),
        1
    );
}

#[test]
fn emailing_a_quote_without_a_recipient_is_a_field_error() {
    let db = TestDb::new();
    let user = db.user("norecipient@example.test");
    plan(&db, &user, true, false);
    let mut q = spec(1, vec![line("Survey", "", 1, 5000)]);
    q.client_email = None;
    let (id, _) = insert_quote(&db, &user, &q);
    let rec = Recorder::start(200, r#"{"id":"never"}"#);
    let host = host_with_resend(&db, &rec);
    let r = pdf(&host, &user, &json!({"quote_id": id, "send_email": true}));
    assert_eq!(r.status, 400, "{}", r.text());
    let p = r.json();
    assert_eq!(p["errors"][0]["field"], "email.to");
    assert_eq!(p["errors"][0]["code"], "required");
    assert!(rec.received().is_empty());
    assert_eq!(scalar(&db, "SELECT count(*) FROM quote_email_attempts"), 0);
    // A recipient in the request is not the quote's client: refused.
    let r = pdf(&host, &user, &json!({"quote_id": id, "send_email": true, "email": {"to": "site@client.example"}}));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["errors"][0]["code"], "recipient_not_allowed");
    // Once the quote has a client email, it goes there.
    db.exec(&format!("UPDATE quotes SET client_email = 'site@client.example' WHERE id = '{id}'"));
    let r = pdf(&host, &user, &json!({"quote_id": id, "send_email": true}));
    assert_eq!(r.header("x-email-status"), Some("sent"), "{}", r.text());
    let mail: Value = serde_json::from_slice(&rec.received()[0].body).unwrap();
    assert_eq!(mail["to"], json!(["site@client.example"]));
}

#[test]
fn quote_emails_go_only_to_the_quotes_client_in_the_fixed_form_and_stop_at_the_daily_cap() {
    let db = TestDb::new();
    let user = db.user("relay@example.test");
    plan(&db, &user, true, false);
    company(&db, &user);
    db.exec(&format!("UPDATE plan_limits SET max_emails_per_day = 3 WHERE plan_key = 'prod_{}'", &user[..8]));
    let ids: Vec<String> =
        (1..=25).map(|i| insert_quote(&db, &user, &spec(i, vec![line("Hedge", "", 1, 5000)])).0).collect();
    let rec = Recorder::start(200, r#"{"id":"email_ok"}"#);
    let host = host_with_resend(&db, &rec);
    let nothing_kept = |db: &TestDb| {
        assert!(rec.received().is_empty(), "nothing was sent");
        for table in ["quote_email_attempts", "quote_documents", "quote_email_daily_usage"] {
            assert_eq!(scalar(db, &format!("SELECT count(*) FROM {table}")), 0, "{table}");
        }
        assert_eq!(scalar(db, "SELECT coalesce(sum(pdf_exports_count), 0)::bigint FROM user_usage"), 0);
    };

    // The attack: the platform's address writing whatever to whomever.
    let r = json_doc(
        &host,
        &user,
        &json!({"quote_id": ids[0], "send_email": true,
        "email": {"to": "victim@elsewhere.example", "subject": "Your account is locked", "message": "Log in at http://evil.example"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let e = &r.json()["errors"][0];
    assert_eq!((e["field"].as_str(), e["code"].as_str()), (Some("email.to"), Some("recipient_not_allowed")), "{e}");
    let r = json_doc(
        &host,
        &user,
        &json!({"quote_id": ids[0], "send_email": true, "email": {"message": "x".repeat(1_001)}}),
    );
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (400, Some("too_long")), "{}", r.text());
    // 25 emails in one request, over the cap of 3: none of them.
    let r = json_doc(&host, &user, &json!({"quote_ids": ids, "send_email": true}));
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["code"], "email_limit_reached");
    let retry: u32 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    nothing_kept(&db);

    // Eight at once, one quote each: exactly the cap goes out, to the quotes' client.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = ids[..8]
            .iter()
            .map(|id| {
                let host = &host;
                let user = &user;
                scope.spawn(move || json_doc(host, user, &json!({"quote_id": id, "send_email": true})).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 5, "{statuses:?}");
    let sent = rec.received();
    assert_eq!(sent.len(), 3);
    for mail in &sent {
        let mail: Value = serde_json::from_slice(&mail.body).unwrap();
        assert_eq!(mail["to"], json!(["ada@client.example"]));
        assert!(mail["subject"].as_str().unwrap().ends_with(" from Greenleaf Gardens"), "{mail}");
    }
    assert_eq!(scalar(&db, "SELECT emails::bigint FROM quote_email_daily_usage"), 3);
    assert_eq!(scalar(&db, "SELECT count(*) FROM quote_email_attempts"), 3);
    // Without an email the same user still exports.
    assert_eq!(pdf(&host, &user, &json!({"quote_id": ids[9]})).status, 200);
}

// ---------------------------------------------------------------------------------------------
// Currency
// ---------------------------------------------------------------------------------------------

const QUOTES: &str = "/functions/v1/quote-processor";

fn new_quote(host: &Host, user: &str, body: &Value) -> HttpResponse {
    host.post(QUOTES).bearer(&Jwt::user(user)).json(body).send()
}

#[test]
fn a_quote_takes_the_company_currency_and_prints_it_in_the_answer_and_the_pdf() {
    let db = TestDb::new();
    let user = db.user("euro@example.test");
    plan(&db, &user, false, false);
    company(&db, &user);
    db.exec(&format!("UPDATE company_settings SET preferred_currency = 'EUR' WHERE id = '{user}'"));
    let host = Host::start(HostConfig::app(&db));
    let r = new_quote(
        &host,
        &user,
        &json!({"client_name": "Ada", "line_items": [{"name": "Design", "quantity": 1, "unit_price": "1234.50"}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let q = r.json();
    assert_eq!((q["currency"].as_str(), q["total"].as_str()), (Some("EUR"), Some("1234.50")));
    assert_eq!(q["total_formatted"], "EUR 1,234.50");
    assert_eq!(q["subtotal_formatted"], "EUR 1,234.50");
    assert_eq!(q["tax_amount_formatted"], "EUR 0.00");
    let id = q["id"].as_str().unwrap().to_string();
    let stored: String =
        db.client().query_one("SELECT currency FROM quotes WHERE id = $1::text::uuid", &[&id]).unwrap().get(0);
    assert_eq!(stored, "EUR");
    let doc = pdf(&host, &user, &json!({"quote_id": id}));
    assert_eq!(doc.status, 200, "{}", doc.text());
    let text = text(&doc.body);
    assert_has(&text, "EUR 1,234.50");
    assert_has(&text, "Total (EUR)");

    // A currency of the request wins; a change of currency is kept, in any case.
    let r = new_quote(
        &host,
        &user,
        &json!({"client_name": "Ada", "currency": "GBP", "line_items": [{"name": "a", "quantity": 2, "unit_price": "5"}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!((r.json()["currency"].as_str(), r.json()["total_formatted"].as_str()), (Some("GBP"), Some("GBP 10.00")));
    let r = host.put(&format!("{QUOTES}/{id}")).bearer(&Jwt::user(&user)).json(&json!({"currency": "usd"})).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["total_formatted"], "USD 1,234.50");

    // Without company settings: USD.
    let other = db.user("plain@example.test");
    let r = new_quote(
        &host,
        &other,
        &json!({"client_name": "Bo", "line_items": [{"name": "a", "quantity": 1, "unit_price": 1}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!((r.json()["currency"].as_str(), r.json()["total_formatted"].as_str()), (Some("USD"), Some("USD 1.00")));
}

#[test]
fn a_yen_quote_has_whole_amounts_and_refuses_fractional_prices() {
    let db = TestDb::new();
    let user = db.user("yen@example.test");
    plan(&db, &user, false, false);
    let host = Host::start(HostConfig::app(&db));
    // 0.5 × 101 = 50.5 → 51; 3 × 333 = 999; subtotal 1,050; tax 8.25 % = 86.625 → 87; total 1,137.
    let r = new_quote(
        &host,
        &user,
        &json!({"client_name": "Sato", "currency": "JPY", "tax_rate": "8.25", "line_items": [
        {"name": "Tatami", "quantity": "0.5", "unit_price": 101}, {"name": "Shoji", "quantity": 3, "unit_price": "333"}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let q = r.json();
    let totals: Vec<&str> = q["line_items"].as_array().unwrap().iter().map(|i| i["total"].as_str().unwrap()).collect();
    assert_eq!(totals, vec!["51.00", "999.00"]);
    assert_eq!(
        (q["subtotal"].as_str(), q["tax_amount"].as_str(), q["total"].as_str()),
        (Some("1050.00"), Some("87.00"), Some("1137.00"))
    );
    assert_eq!(
        (q["total_formatted"].as_str(), q["tax_amount_formatted"].as_str()),
        (Some("JPY 1,137"), Some("JPY 87"))
    );
    let doc = pdf(&host, &user, &json!({"quote_id": q["id"]}));
    assert_eq!(doc.status, 200, "{}", doc.text());
    let text = text(&doc.body);
    for wanted in ["JPY 1,137", "JPY 1,050", "JPY 87", "999"] {
        assert_has(&text, wanted);
    }
    assert!(!text.contains("1,137.00") && !text.contains("999.00"), "no minor units in yen:\n{text}");

    // A fractional yen price is refused, not rounded; so is an unknown currency.
    let r = new_quote(
        &host,
        &user,
        &json!({"client_name": "Sato", "currency": "JPY", "line_items": [{"name": "a", "quantity": 1, "unit_price": "10.50"}]}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let e = &r.json()["errors"][0];
    assert_eq!((e["field"].as_str(), e["code"].as_str()), (Some("line_items[0].unit_price"), Some("too_precise")));
    let r = new_quote(
        &host,
        &user,
        &json!({"client_name": "Sato", "currency": "ABC", "line_items": [{"name": "a", "quantity": 1, "unit_price": 1}]}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["errors"][0];
    assert_eq!((e["field"].as_str(), e["code"].as_str()), (Some("currency"), Some("unknown_currency")));
    let n: i64 = db.client().query_one("SELECT count(*) FROM quotes", &[]).unwrap().get(0);
    assert_eq!(n, 1);
}

#[test]
fn a_dinar_quote_keeps_its_third_decimal_in_the_database_the_answer_the_page_and_the_pdf() {
    let db = TestDb::new();
    let user = db.user("dinar@example.test");
    plan(&db, &user, false, false);
    company(&db, &user);
    db.exec(&format!("UPDATE company_settings SET preferred_currency = 'KWD' WHERE id = '{user}'"));
    let host = Host::start(HostConfig::app(&db));
    // A price with more decimals than the currency has is refused, never rounded away.
    let r = new_quote(
        &host,
        &user,
        &json!({"client_name": "Al-Sabah", "line_items": [{"name": "Tiles", "quantity": 3, "unit_price": "1.2345"}]}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["errors"][0];
    assert_eq!((e["field"].as_str(), e["code"].as_str()), (Some("line_items[0].unit_price"), Some("too_precise")));

    // 3 × 1.235 = 3.705; 0.333 × 1.001 = 0.333333 → 0.333; subtotal 4.038; tax 8.25 % =
    // 0.333135 → 0.333; total 4.371 (in cents it would have been 3.71 + 0.33 + 0.33 = 4.37).
    let r = new_quote(
        &host,
        &user,
        &json!({"client_name": "Al-Sabah", "tax_rate": "8.25", "line_items": [
            {"name": "Tiles", "quantity": 3, "unit_price": "1.235"},
            {"name": "Grout", "quantity": "0.333", "unit_price": 1.001}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let q = r.json();
    assert_eq!(q["currency"], "KWD", "the company's currency");
    let totals: Vec<&str> = q["line_items"].as_array().unwrap().iter().map(|i| i["total"].as_str().unwrap()).collect();
    assert_eq!(totals, vec!["3.705", "0.333"]);
    assert_eq!(
        (q["subtotal"].as_str(), q["tax_amount"].as_str(), q["total"].as_str()),
        (Some("4.038"), Some("0.333"), Some("4.371"))
    );
    assert_eq!(
        (q["total_formatted"].as_str(), q["markup_amount_formatted"].as_str()),
        (Some("KWD 4.371"), Some("KWD 0.000"))
    );
    let id = q["id"].as_str().unwrap().to_string();
    let row = db
        .client()
        .query_one("SELECT subtotal::text, tax_amount::text, total::text FROM quotes WHERE id = $1::text::uuid", &[&id])
        .unwrap();
    let stored: (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(stored, ("4.038".into(), "0.333".into(), "4.371".into()));
    // Read back, the answer is the same.
    let again = host.get(&format!("{QUOTES}/{id}")).bearer(&Jwt::user(&user)).send().json();
    assert_eq!((again["total"].as_str(), again["total_formatted"].as_str()), (Some("4.371"), Some("KWD 4.371")));

    let doc = pdf(&host, &user, &json!({"quote_id": id}));
    assert_eq!(doc.status, 200, "{}", doc.text());
    qpdf_check(&doc.body);
    let text = text(&doc.body);
    for wanted in ["KWD 4.371", "KWD 4.038", "KWD 0.333", "3.705", "1.235", "1.001", "Total (KWD)"] {
        assert_has(&text, wanted);
    }

    let share = host.post(&format!("{QUOTES}/{id}/share")).bearer(&Jwt::user(&user)).send();
    assert_eq!(share.status, 201, "{}", share.text());
    let page = host.get(share.json()["path"].as_str().unwrap()).send();
    assert_eq!(page.status, 200);
    for wanted in ["KWD 4.371", "KWD 4.038", "3.705", "0.333"] {
        assert!(page.text().contains(wanted), "{wanted} on the page:\n{}", page.text());
    }

    // A dollar quote of the same owner still has cents only.
    let r = new_quote(
        &host,
        &user,
        &json!({"client_name": "Bo", "currency": "USD", "line_items": [{"name": "a", "quantity": "0.333", "unit_price": "1.01"}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!((r.json()["total"].as_str(), r.json()["total_formatted"].as_str()), (Some("0.34"), Some("USD 0.34")));
}

// ---------------------------------------------------------------------------------------------
// The company logo (quote-processor's /company/logo, drawn by this function and the share page)
// ---------------------------------------------------------------------------------------------

const LOGO: &str = "/functions/v1/quote-processor/company/logo";

fn put_logo(host: &Host, user: &str, content_type: &str, body: Vec<u8>) -> HttpResponse {
    host.put(LOGO).bearer(&Jwt::user(user)).header("content-type", content_type).body(body).send()
}

fn stored_logo(db: &TestDb, user: &str) -> Option<(i64, String)> {
    db.client()
        .query_opt(
            "SELECT octet_length(logo)::int8, logo_type FROM company_settings WHERE id = $1::text::uuid AND logo IS NOT NULL",
            &[&user],
        )
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

#[test]
fn a_company_logo_is_drawn_on_the_pdf_and_the_share_page() {
    let db = TestDb::new();
    let user = db.user("logo@example.test");
    plan(&db, &user, false, false);
    let (id, _) = insert_quote(&db, &user, &spec(1, vec![line("Lawn mowing", "Front lawn", 3, 1999)]));
    let host = Host::start(HostConfig::app(&db));

    // Without a logo: no image; GET answers 404.
    let before = pdf(&host, &user, &json!({"quote_id": id}));
    assert_eq!(before.status, 200, "{}", before.text());
    assert_eq!(tool(&before.body, "pdfimages", &["-list"]).lines().count(), 2, "no image rows yet");
    assert_eq!(host.get(LOGO).bearer(&Jwt::user(&user)).send().status, 404);

    // Upload (no company_settings row yet: the upload creates it).
    let png = e2e::images::png_rgb(120, 40);
    let r = put_logo(&host, &user, "image/png", png.clone());
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(
        (&answer["content_type"], &answer["width"], &answer["height"], &answer["size_bytes"]),
        (&json!("image/png"), &json!(120), &json!(40), &json!(png.len()))
    );
    assert_eq!(stored_logo(&db, &user), Some((png.len() as i64, "image/png".into())));
    let got = host.get(LOGO).bearer(&Jwt::user(&user)).send();
    assert_eq!((got.status, got.header("content-type")), (200, Some("image/png")));
    assert_eq!(got.body, png);

    // The PDF (the cached one is stale: the settings changed) carries the image.
    let after = pdf(&host, &user, &json!({"quote_id": id}));
    assert_eq!(after.status, 200, "{}", after.text());
    qpdf_check(&after.body);
    let list = tool(&after.body, "pdfimages", &["-list"]);
    let rows: Vec<&str> = list.lines().skip(2).collect();
    assert_eq!(rows.len(), 1, "{list}");
    let cols: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!((cols[0], cols[3], cols[4], cols[5]), ("1", "120", "40", "rgb"), "{list}");
    assert_has(&text(&after.body), "Lawn mowing");

    // The share page shows it as a data: URL.
    let share = host.post(&format!("/functions/v1/quote-processor/{id}/share")).bearer(&Jwt::user(&user)).send();
    assert_eq!(share.status, 201, "{}", share.text());
    let page = host.get(share.json()["path"].as_str().unwrap()).send();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<img class=\"logo\" src=\"data:image/png;base64,"), "{}", page.text());

    // Delete: gone from the PDF and the page.
    assert_eq!(host.delete(LOGO).bearer(&Jwt::user(&user)).send().status, 204);
    assert_eq!(stored_logo(&db, &user), None);
    assert_eq!(host.delete(LOGO).bearer(&Jwt::user(&user)).send().status, 204);
    let gone = pdf(&host, &user, &json!({"quote_id": id}));
    assert_eq!(tool(&gone.body, "pdfimages", &["-list"]).lines().count(), 2);
    assert!(!host.get(share.json()["path"].as_str().unwrap()).send().text().contains("data:image/"));
}

#[test]
fn a_bad_logo_is_refused_and_nothing_is_stored() {
    let db = TestDb::new();
    let user = db.user("badlogo@example.test");
    plan(&db, &user, false, false);
    let host = Host::start(HostConfig::app(&db));
    let png = e2e::images::png_rgb(64, 64);

    let mut big = png.clone();
    big.resize(600 * 1024, 0);
    let mut bad_crc = e2e::images::png_rgb(32, 32);
    bad_crc[25] = 6; // colour type RGBA, CRC left as it was
                     // Hostile image data inside well-formed chunks (every CRC right).
    use e2e::images::{png_file, scanlines, zlib_zeros};
    let rows = scanlines(64, 64, 8, false, |x, y| vec![x as u16, y as u16, 7, 200]);
    let stored = e2e::images::png(64, 64, 8, 6, false, &[], |x, y| vec![x as u16, y as u16, 7, 200]);
    let idat_at = stored.windows(4).position(|w| w == b"IDAT").unwrap() + 4;
    let cut_idat = png_file(64, 64, 8, 6, false, &[], &stored[idat_at..idat_at + rows.len() / 2]);
    let mut bad_filter = rows.clone();
    bad_filter[257 * 5] = 7; // row 5's filter byte
    let bad_filter = png_file(64, 64, 8, 6, false, &[], &e2e::images::zlib_stored(&bad_filter));
    // 64 × 64 RGB needs 12,352 bytes; this stream inflates to 40 MB from about 250 KB.
    let bomb = png_file(64, 64, 8, 2, false, &[], &zlib_zeros(40_000_000));
    assert!(bomb.len() < 512 * 1024, "{}", bomb.len());
    let huge = png_file(60_000, 60_000, 8, 6, true, &[], &zlib_zeros(1 << 20));
    let trns_on_rgba = e2e::images::png(32, 32, 8, 6, false, &[(b"tRNS", &[0, 1])], |_, _| vec![1, 2, 3, 4]);
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("600 KiB", "image/png", big, 413, "image_too_large"),
        ("text labelled PNG", "image/png", b"just some text, not an image".to_vec(), 400, "invalid_image"),
        ("truncated PNG", "image/png", png[..png.len() / 2].to_vec(), 400, "invalid_image"),
        ("PNG labelled JPEG", "image/jpeg", png.clone(), 400, "invalid_image"),
        ("GIF type", "image/gif", b"GIF89a".to_vec(), 400, "unsupported_image_type"),
        ("too small", "image/png", e2e::images::png_rgb(8, 8), 400, "invalid_image"),
        ("bad CRC", "image/png", bad_crc, 400, "invalid_image"),
        ("image data cut short", "image/png", cut_idat, 400, "invalid_image"),
        ("an unknown row filter", "image/png", bad_filter, 400, "invalid_image"),
        ("decompression bomb", "image/png", bomb, 400, "invalid_image"),
        ("60,000 px a side", "image/png", huge, 400, "invalid_image"),
        ("tRNS on RGBA", "image/png", trns_on_rgba, 400, "invalid_image"),
        ("empty", "image/png", Vec::new(), 400, "invalid_image"),
    ];
    for (what, content_type, body, status, code) in cases {
        let r = put_logo(&host, &user, content_type, body);
        assert_eq!(
            (r.status, r.header("content-type")),
            (status, Some("application/problem+json")),
            "{what}: {}",
            r.text()
        );
        assert_eq!(r.json()["code"], code, "{what}");
        assert_eq!(stored_logo(&db, &user), None, "{what}");
    }
    assert_eq!(host.put(LOGO).header("content-type", "image/png").body(png.clone()).send().status, 401);

    // A refusal leaves a stored logo as it was.
    assert_eq!(put_logo(&host, &user, "image/png", png.clone()).status, 200);
    assert_eq!(put_logo(&host, &user, "image/png", png[..20].to_vec()).status, 400);
    assert_eq!(stored_logo(&db, &user), Some((png.len() as i64, "image/png".into())));

    // Bytes that got into the table some other way never break the PDF: it renders without them.
    db.exec(&format!("UPDATE company_settings SET logo = '\\x89504e470d0a1a0a0000'::bytea WHERE id = '{user}'"));
    let (id, _) = insert_quote(&db, &user, &spec(2, vec![line("Hedge", "", 1, 1000)]));
    let r = pdf(&host, &user, &json!({"quote_id": id}));
    assert_eq!(r.status, 200, "{}", r.text());
    qpdf_check(&r.body);
    assert_eq!(tool(&r.body, "pdfimages", &["-list"]).lines().count(), 2);
}

/// The images of a PDF's first page as pdfimages extracts them: binary PPM or PGM (it writes
/// soft masks as PPM, gray in each channel), read as (width, height, samples).
fn extracted_images(pdf: &[u8]) -> Vec<(u32, u32, Vec<u8>)> {
    let dir = TempDir::new("pdfimages");
    let file = dir.0.join("doc.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = Command::new("pdfimages").args(["-f", "1", "-l", "1"]).arg(&file).arg(dir.0.join("img")).output();
    assert!(out.is_ok_and(|o| o.status.success()), "pdfimages failed");
    let mut files: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("img-"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).unwrap();
            // "P6" or "P5", width, height, 255, each after whitespace; one whitespace byte, the samples.
            let mut fields = Vec::new();
            let mut at = 0;
            while fields.len() < 4 {
                while bytes[at].is_ascii_whitespace() {
                    at += 1;
                }
                let start = at;
                while !bytes[at].is_ascii_whitespace() {
                    at += 1;
                }
                fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
            }
            assert!(["P5", "P6"].contains(&fields[0].as_str()) && fields[3] == "255", "{fields:?} in {path:?}");
            (fields[1].parse().unwrap(), fields[2].parse().unwrap(), bytes[at + 1..].to_vec())
        })
        .collect()
}

#[test]
fn transparent_interlaced_16_bit_and_palette_logos_are_drawn_with_their_masks() {
    use e2e::images::png;
    let db = TestDb::new();
    let user = db.user("alpha-logo@example.test");
    plan(&db, &user, false, false);
    let (id, _) = insert_quote(&db, &user, &spec(1, vec![line("Lawn mowing", "", 1, 1000)]));
    let host = Host::start(HostConfig::app(&db));
    let share = host.post(&format!("/functions/v1/quote-processor/{id}/share")).bearer(&Jwt::user(&user)).send();
    assert_eq!(share.status, 201, "{}", share.text());
    let page_path = share.json()["path"].as_str().unwrap().to_string();

    // The reference picture, 8-bit RGBA; 16-bit files carry each value in both bytes.
    let rgba = |x: u32, y: u32| [(x * 4 % 256) as u8, (y * 6 % 256) as u8, 90, ((x + y) * 3 % 256) as u8];
    let wide = |v: u8| u16::from(v) << 8 | u16::from(v);
    let palette: Vec<u8> = (0..16u8).flat_map(|i| [i * 16, 200 - i * 8, 40]).collect();
    let palette_alpha: Vec<u8> = (0..16u8).map(|i| i * 17).collect();
    let index = |x: u32, y: u32| (x / 3 + y) % 16;

    // (what, file, colour space, transparent, the pixels to find: RGB or gray, alpha)
    type Pixels = Option<Box<dyn Fn(u32, u32) -> (Vec<u8>, u8)>>;
    let cases: Vec<(&str, Vec<u8>, &str, bool, Pixels)> =
        vec![
            ("RGBA", png(120, 40, 8, 6, false, &[], |x, y| rgba(x, y).map(u16::from).to_vec()), "rgb", true, None),
            (
                "interlaced 16-bit RGBA",
                png(61, 37, 16, 6, true, &[], |x, y| rgba(x, y).map(wide).to_vec()),
                "rgb",
                true,
                Some(Box::new(move |x, y| (rgba(x, y)[..3].to_vec(), rgba(x, y)[3]))),
            ),
            (
                "gray and alpha",
                png(48, 48, 8, 4, false, &[], |x, y| vec![u16::from(rgba(x, y)[0]), u16::from(rgba(x, y)[3])]),
                "gray",
                true,
                Some(Box::new(move |x, y| (vec![rgba(x, y)[0]], rgba(x, y)[3]))),
            ),
            (
                "4-bit palette with tRNS",
                png(40, 20, 4, 3, false, &[(b"PLTE", &palette), (b"tRNS", &palette_alpha)], |x, y| {
                    vec![index(x, y) as u16]
                }),
                "rgb",
                true,
                Some(Box::new({
                    let (palette, palette_alpha) = (palette.clone(), palette_alpha.clone());
                    move |x, y| {
                        let i = index(x, y) as usize;
                        (palette[3 * i..3 * i + 3].to_vec(), palette_alpha[i])
                    }
                })),
            ),
            (
                "RGB with a tRNS key colour",
                png(32, 32, 8, 2, false, &[(b"tRNS", &[0, 0, 0, 9, 0, 90])], |x, y| {
                    if (x + y) % 2 == 0 {
                        vec![0, 9, 90]
                    } else {
                        vec![200, 9, 90]
                    }
                }),
                "rgb",
                true,
                Some(Box::new(|x, y| if (x + y) % 2 == 0 { (vec![0, 9, 90], 0) } else { (vec![200, 9, 90], 255) })),
            ),
            (
                "interlaced RGB",
                png(50, 30, 8, 2, true, &[], |x, y| rgba(x, y)[..3].iter().map(|&v| v.into()).collect()),
                "rgb",
                false,
                None,
            ),
            ("16-bit gray", png(30, 30, 16, 0, false, &[], |x, y| vec![wide(rgba(x, y)[1])]), "gray", false, None),
            ("1-bit gray", png(64, 16, 1, 0, false, &[], |x, _| vec![u16::from(x % 3 == 0)]), "gray", false, None),
        ];
    for (what, file, color, transparent, pixels) in cases {
        let side = |at: usize| u32::from_be_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]);
        let (w, h) = (side(16), side(20)); // IHDR's width and height
        let r = put_logo(&host, &user, "image/png", file.clone());
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        assert_eq!((&r.json()["width"], &r.json()["height"]), (&json!(w), &json!(h)), "{what}");

        let doc = pdf(&host, &user, &json!({"quote_id": id}));
        assert_eq!(doc.status, 200, "{what}: {}", doc.text());
        qpdf_check(&doc.body);
        assert_has(&text(&doc.body), "Lawn mowing");
        let list = tool(&doc.body, "pdfimages", &["-list"]);
        let rows: Vec<Vec<&str>> = list.lines().skip(2).map(|l| l.split_whitespace().collect()).collect();
        let (size, want_rows) = ((w.to_string(), h.to_string()), if transparent { 2 } else { 1 });
        assert_eq!(rows.len(), want_rows, "{what}:\n{list}");
        assert_eq!(
            (rows[0][2], rows[0][3], rows[0][4], rows[0][5], rows[0][7]),
            ("image", &*size.0, &*size.1, color, "8"),
            "{what}:\n{list}"
        );
        if transparent {
            assert_eq!(
                (rows[1][2], rows[1][3], rows[1][4], rows[1][5]),
                ("smask", &*size.0, &*size.1, "gray"),
                "{what}:\n{list}"
            );
        }
        // The pixels themselves, colour and mask, as a reader gets them.
        if let Some(expected) = pixels {
            let images = extracted_images(&doc.body);
            assert_eq!(images.len(), 2, "{what}");
            let ((iw, ih, colour), (_, _, mask)) = (&images[0], &images[1]);
            assert_eq!((*iw, *ih), (w, h), "{what}");
            // pdfimages may write a gray image as PPM, its gray repeated in each channel.
            let (channels, mask_channels) = (colour.len() / (w * h) as usize, mask.len() / (w * h) as usize);
            for (x, y) in (0..h).flat_map(|y| (0..w).map(move |x| (x, y))) {
                let at = (y * w + x) as usize;
                let (mut want, alpha) = expected(x, y);
                if want.len() == 1 {
                    want = vec![want[0]; channels];
                }
                assert_eq!(&colour[at * channels..(at + 1) * channels], &want[..], "{what}: colour at ({x}, {y})");
                assert_eq!(mask[at * mask_channels], alpha, "{what}: alpha at ({x}, {y})");
            }
        }
        // The share page shows the file itself.
        let page = host.get(&page_path).send();
        assert_eq!(page.status, 200, "{what}");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&file);
        assert!(page.text().contains(&format!("src=\"data:image/png;base64,{b64}\"")), "{what}: the logo on the page");
    }
}
