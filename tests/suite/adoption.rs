//! Adopting a deployment of the original system: `edge db migrate` on a database that holds
//! the original schema and a deployment's rows upgrades it in place, and then the users see
//! their plans, their quotes and PDFs of their old quotes through the API.

use e2e::original::deployment;
use e2e::{edge_bin, root, Host, HostConfig, Jwt, TempDir, TestDb};
use serde_json::{json, Value};
use std::process::Command;

const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
const BOB: &str = "b0b00000-0000-4000-8000-000000000002";
const CAROL: &str = "ca201000-0000-4000-8000-000000000003";
const DAVE: &str = "da7e0000-0000-4000-8000-000000000004";
const ERIN: &str = "e21e0000-0000-4000-8000-000000000005";
const OPS: &str = "0b500000-0000-4000-8000-000000000006";
const CARLOS: &str = "0a8b8ce7-3cc3-476e-b820-2296df2119cf";

fn edge(args: &[&str]) -> (bool, String) {
    let out = Command::new(edge_bin()).args(args).current_dir(root()).output().expect("run edge");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Everything the database holds, named, and the rows of the tables adoption reads: equal
/// before and after means nothing changed.
fn fingerprint(db: &TestDb) -> String {
    let mut c = db.client();
    let objects: String = c
        .query_one(
            "SELECT string_agg(x, ',' ORDER BY x) FROM (
               SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text AS x FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
               UNION ALL SELECT n.nspname || '.' || p.proname || '()' FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
               UNION ALL SELECT 'trigger ' || tgname || (CASE WHEN tgenabled = 'D' THEN ' off' ELSE '' END) FROM pg_trigger WHERE NOT tgisinternal
             ) all_objects",
            &[],
        )
        .unwrap()
        .get(0);
    let rows: String = c
        .query_one(
            "SELECT concat_ws(',', (SELECT count(*) FROM public.quotes), (SELECT sum(total) FROM public.quotes),
                    (SELECT count(*) FROM public.subscriptions), (SELECT count(*) FROM public.clients),
                    (SELECT count(*) FROM auth.users), (SELECT count(*) FROM supabase_migrations.schema_migrations))",
            &[],
        )
        .unwrap()
        .get(0);
    format!("{objects}\n{rows}")
}

fn status(host: &Host, user: &str) -> Value {
    let r = host.get("/functions/v1/subscription-status").bearer(&Jwt::user(user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"].clone()
}

fn pdf_text(bytes: &[u8]) -> String {
    let dir = TempDir::new("adopted-pdf");
    let file = dir.0.join("quote.pdf");
    std::fs::write(&file, bytes).unwrap();
    let out =
        Command::new("pdftotext").args(["-layout"]).arg(&file).arg("-").output().expect("pdftotext (poppler-utils)");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_original_migrations_apply_on_a_supabase_like_base_as_they_did_in_production() {
    let (db, applied) = deployment("orig", false);
    // 27 files, statement by statement: 12 statements in three files fail on the originals'
    // own defects (an index on now(), seed rows without their parent row, indexes and a
    // policy on an earlier table of the same name, a table no migration creates);
    // everything else applies.
    let files: std::collections::BTreeSet<&str> = applied
        .failed_statements
        .iter()
        .filter_map(|l| l.split(':').nth(1).and_then(|f| f.rsplit('/').next()))
        .collect();
    assert_eq!(
        files.into_iter().collect::<Vec<_>>(),
        [
            "20250808140000_create_migration_control_system.sql",
            "20250808150000_create_production_validation_system.sql",
            "20250808190000_create_performance_optimization_system.sql"
        ],
        "{:#?}",
        applied.failed_statements
    );
    assert_eq!(applied.failed_statements.len(), 12, "{:#?}", applied.failed_statements);
    let mut c = db.client();
    let tables: i64 = c.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", &[]).unwrap().get(0);
    assert_eq!(tables, 85);
    let recorded: i64 = c.query_one("SELECT count(*) FROM supabase_migrations.schema_migrations", &[]).unwrap().get(0);
    assert_eq!(recorded, 27);
    // Our own migrations cannot apply on it as they are: 0001 meets the original's types.
    let (ok, out) = edge(&["db", "status", "--db-url", &db.url]);
    assert!(ok && out.contains("pending"), "{out}");
}

#[test]
fn an_original_deployment_is_adopted_in_place_and_its_users_see_their_plans_quotes_and_pdfs() {
    let (db, _) = deployment("adopt", true);
    let mut c = db.client();
    let legacy_quotes: i64 = c.query_one("SELECT count(*) FROM public.quotes", &[]).unwrap().get(0);

    let (ok, out) = edge(&["db", "migrate", "--db-url", &db.url]);
    assert!(ok, "{out}");
    assert!(out.contains("found the original QuoteKit schema"), "{out}");
    assert!(out.contains(&format!("{0} migration(s) applied, {0} in total", e2e::migration_count())), "{out}");

    // What moved where, as edge db status says it.
    let (ok, out) = edge(&["db", "status", "--db-url", &db.url]);
    assert!(ok, "{out}");
    let line = |needle: &str| {
        out.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no `{needle}` in\n{out}")).to_string()
    };
    let quotes = line("adopted table public.quotes ");
    assert!(quotes.trim_start().starts_with("0001_foundation"), "{quotes}");
    assert!(
        quotes.contains("(6 rows kept as quotekit_original.quotes); 6 rows carried into public.quotes"),
        "{quotes}"
    );
    assert!(line("adopted table public.subscriptions ").trim_start().starts_with("0002_stripe_mirror"), "{out}");
    assert!(line("adopted table public.customers ").contains("5 rows carried into public.stripe_customers"), "{out}");
    assert!(line("adopted type public.quote_status").trim_start().starts_with("0001_foundation"), "{out}");
    assert!(line("adopted table public.security_configuration").trim_start().starts_with("0006_security"), "{out}");
    assert!(line("public.user_roles").contains("not carried: the admin role of carlos@ai.rio.br"), "{out}");
    assert!(line("20250801000000").contains("applied before adoption"), "{out}");
    assert!(line("kept only:").contains("public.global_items (104)"), "{out}");
    assert!(!out.contains("pending"), "{out}");

    // Kept, not dropped; out of reach of the API roles.
    let kept: i64 = c.query_one("SELECT count(*) FROM quotekit_original.quotes", &[]).unwrap().get(0);
    assert_eq!(kept, legacy_quotes);
    let mut tx = c.transaction().unwrap();
    tx.batch_execute("SET LOCAL ROLE authenticated").unwrap();
    let denied = tx.query("SELECT count(*) FROM quotekit_original.quotes", &[]).unwrap_err();
    assert!(format!("{denied:?}").contains("permission denied"), "{denied:?}");
    tx.rollback().unwrap();

    let host = Host::start(HostConfig::app(&db));

    // Each user's plan.
    let alice = status(&host, ALICE);
    assert_eq!(alice["plan"]["key"], "prod_premium_plan", "{alice}");
    assert_eq!(alice["plan"]["entitled"], true);
    assert_eq!(alice["features"]["max_quotes"], -1, "Premium had no limit metadata: paid_default, never free");
    assert_eq!(alice["features"]["pdf_export"], true);
    assert_eq!(alice["usage"]["quotes"], 3, "{alice}");
    let carol = status(&host, CAROL);
    assert_eq!(
        (carol["plan"]["key"].as_str(), carol["features"]["max_quotes"].as_i64()),
        (Some("prod_Pro"), Some(50)),
        "{carol}"
    );
    assert_eq!(carol["plan"]["limits_configured"], true, "limits from the product's Stripe metadata");
    let dave = status(&host, DAVE);
    assert_eq!(
        (dave["plan"]["entitled"].as_bool(), dave["plan"]["past_due"].as_bool()),
        (Some(true), Some(true)),
        "{dave}"
    );
    for free in [BOB, ERIN] {
        let d = status(&host, free);
        assert_eq!((d["plan"]["key"].as_str(), d["features"]["max_quotes"].as_i64()), (Some("free"), Some(5)), "{d}");
    }

    // Alice's quotes: numbers and totals to the cent, line items from the app's quote_data.
    let r = host.get("/functions/v1/quote-processor?limit=100").bearer(&Jwt::user(ALICE)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json()["data"].as_array().unwrap().clone();
    let mut numbers: Vec<&str> = list.iter().map(|q| q["quote_number"].as_str().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, ["Q-2025-0001", "Q-2025-0002", "Q-2025-0003", "Q-2025-0004"]);
    let first = list.iter().find(|q| q["quote_number"] == "Q-2025-0001").unwrap();
    assert_eq!(
        (&first["subtotal"], &first["markup_amount"], &first["tax_amount"], &first["total"]),
        (&json!("392.50"), &json!("58.88"), &json!("37.23"), &json!("488.61")),
        "{first}"
    );
    assert_eq!(first["status"], "sent");
    assert_eq!(first["client_email"], "board@harborview.example");
    let walk_in = list.iter().find(|q| q["quote_number"] == "Q-2025-0003").unwrap();
    assert_eq!(
        (walk_in["client_email"].as_str(), walk_in["total"].as_str()),
        (Some("walkin@example.com"), Some("214.50")),
        "{walk_in}"
    );
    assert_eq!(walk_in["valid_until"], "2025-11-30");
    let one = host
        .get(&format!("/functions/v1/quote-processor/{}", first["id"].as_str().unwrap()))
        .bearer(&Jwt::user(ALICE))
        .send();
    assert_eq!(one.status, 200, "{}", one.text());
    let items: Vec<String> =
        one.json()["line_items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(items, ["Mowing", "Mulch"]);

    // Bob's two quotes the original numbered alike: the older keeps the number.
    let r = host.get("/functions/v1/quote-processor").bearer(&Jwt::user(BOB)).send();
    let bobs: Vec<(String, Value)> = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["quote_number"].as_str().unwrap().to_string(), q["client_id"].clone()))
        .collect();
    assert!(bobs.contains(&("Q-2025-0001".into(), json!("c1000000-0000-4000-8000-0000000000b1"))), "{bobs:?}");
    assert!(
        bobs.contains(&("Q-2025-0002".into(), Value::Null)),
        "the link to another user's client is dropped: {bobs:?}"
    );

    // A PDF of an old quote, from the adopted rows and Alice's business settings.
    let r = host
        .post("/functions/v1/quote-pdf-generator")
        .bearer(&Jwt::user(ALICE))
        .json(&json!({ "quote_id": first["id"] }))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    let text = pdf_text(&r.body);
    for expected in [
        "Q-2025-0001",
        "Greenleaf Landscaping",
        "Harbor View HOA",
        "Mowing",
        "Mulch",
        "392.50",
        "58.88",
        "37.23",
        "488.61",
    ] {
        assert!(text.contains(expected), "{expected} missing from the PDF:\n{text}");
    }

    // New work continues the numbering of the current year.
    let r = host
        .post("/functions/v1/quote-processor")
        .bearer(&Jwt::user(BOB))
        .json(&json!({ "client_name": "Mrs. Lee", "line_items": [{ "name": "Edging", "quantity": 1, "unit_price": "25.00" }] }))
        .send();
    assert_eq!(r.status, 201, "{}", r.text());

    // Roles: the operator's admin stays one; the seeded development admin does not.
    let overview =
        |user: &str| host.get("/functions/v1/webhook-monitor/overview").bearer(&Jwt::user(user)).send().status;
    assert_eq!(overview(OPS), 200);
    assert_eq!(overview(CARLOS), 403);

    // The operator's security settings carried over.
    let limit: String = c
        .query_one("SELECT config_value::text FROM public.security_configuration WHERE config_category = 'rate_limiting' AND config_key = 'global_settings'", &[])
        .unwrap()
        .get(0);
    let limit: Value = serde_json::from_str(&limit).unwrap();
    assert_eq!(limit["requestsPerMinute"], 120);

    // Running it again changes nothing.
    drop(host);
    let before = fingerprint(&db);
    let (ok, out) = edge(&["db", "migrate", "--db-url", &db.url]);
    assert!(ok && out.contains("0 migration(s) applied"), "{out}");
    assert_eq!(fingerprint(&db), before);
}

#[test]
fn a_failed_adoption_leaves_the_database_as_it_was() {
    let (db, _) = deployment("adoptfail", true);
    // A quote whose total lies below its subtotal cannot be split into markup and tax.
    db.exec("UPDATE public.quotes SET total = 10 WHERE id = '91000000-0000-4000-8000-0000000000a2'");
    let before = fingerprint(&db);
    let (ok, out) = edge(&["db", "migrate", "--db-url", &db.url]);
    assert!(!ok, "{out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert!(out.contains("91000000-0000-4000-8000-0000000000a2"), "the message names the row: {out}");
    assert_eq!(fingerprint(&db), before, "the failed adoption left traces");
    // Corrected, it adopts.
    db.exec("UPDATE public.quotes SET total = 540 WHERE id = '91000000-0000-4000-8000-0000000000a2'");
    let (ok, out) = edge(&["db", "migrate", "--db-url", &db.url]);
    assert!(ok, "{out}");
    let n: i64 = db.client().query_one("SELECT count(*) FROM public.quotes", &[]).unwrap().get(0);
    assert_eq!(n, 6);
}
