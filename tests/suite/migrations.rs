//! `edge db migrate | status`: files apply in order, are recorded Supabase-style, and a second
//! run applies nothing.

use e2e::{edge_bin, root, TestDb};
use std::process::Command;

fn edge(args: &[&str]) -> (bool, String) {
    let out = Command::new(edge_bin()).args(args).current_dir(root()).output().expect("run edge");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn migrations_are_recorded_like_supabase_and_rerunning_applies_nothing() {
    let db = TestDb::new(); // cloned from the migrated template: everything already applied
    let files: Vec<String> = std::fs::read_dir(root().join("migrations"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".sql"))
        .collect();
    let mut c = db.client();
    let rows =
        c.query("SELECT version, name FROM supabase_migrations.schema_migrations ORDER BY version", &[]).unwrap();
    assert_eq!(rows.len(), files.len(), "every migration file is recorded");
    let (ok, out) = edge(&["db", "migrate", "--db-url", &db.url]);
    assert!(ok, "{out}");
    assert!(out.contains("0 migration(s) applied"), "{out}");
    let (ok, out) = edge(&["db", "status", "--db-url", &db.url]);
    assert!(ok, "{out}");
    assert_eq!(out.matches(" applied").count(), files.len(), "{out}");
    assert!(!out.contains("pending"), "{out}");
}

#[test]
fn a_removed_record_is_reported_pending_and_reapplying_a_failed_file_changes_nothing() {
    let db = TestDb::new();
    db.exec("DELETE FROM supabase_migrations.schema_migrations WHERE version = '0002'");
    let (ok, out) = edge(&["db", "status", "--db-url", &db.url]);
    assert!(ok && out.contains("pending"), "{out}");
    // 0002's objects still exist, so applying it again fails; the transaction leaves no trace.
    let (ok, out) = edge(&["db", "migrate", "--db-url", &db.url]);
    assert!(!ok, "re-applying an applied file must fail: {out}");
    assert!(out.contains("nothing of it was applied"), "{out}");
    let n: i64 =
        db.client().query_one("SELECT count(*) FROM supabase_migrations.schema_migrations", &[]).unwrap().get(0);
    assert_eq!(n as usize, std::fs::read_dir(root().join("migrations")).unwrap().count() - 1);
}

#[test]
fn status_reports_an_applied_file_that_changed_since() {
    let db = TestDb::new();
    let dir = e2e::TempDir::new("migrations");
    let copy = dir.0.join("migrations");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(root().join("migrations")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
    }
    let manifest = dir.0.join("spin.toml");
    let (ok, out) = edge(&["db", "status", "-f", manifest.to_str().unwrap(), "--db-url", &db.url]);
    assert!(ok && !out.contains("changed since"), "{out}");
    let first = copy.join("0001_foundation.sql");
    let mut text = std::fs::read_to_string(&first).unwrap();
    text.push_str("\n-- edited after it was applied\n");
    std::fs::write(&first, text).unwrap();
    let (ok, out) = edge(&["db", "status", "-f", manifest.to_str().unwrap(), "--db-url", &db.url]);
    assert!(ok, "{out}");
    let line = out.lines().find(|l| l.starts_with("0001")).unwrap();
    assert!(line.contains("changed since"), "{out}");
    assert_eq!(out.matches("changed since").count(), 1, "{out}");
}

#[test]
fn reset_recreates_a_local_database_and_migrates_it() {
    let db = TestDb::new();
    db.exec("INSERT INTO auth.users (email) VALUES ('gone@example.test')");
    let (ok, out) = edge(&["db", "reset", "--db-url", &db.url]);
    assert!(ok, "{out}");
    assert!(out.contains("recreated database"), "{out}");
    let users: i64 = db.client().query_one("SELECT count(*) FROM auth.users", &[]).unwrap().get(0);
    assert_eq!(users, 0, "the data is gone");
    let (ok, out) = edge(&["db", "status", "--db-url", &db.url]);
    assert!(ok && !out.contains("pending") && !out.contains("changed since"), "{out}");
    // Never a remote database without --force.
    let (ok, out) = edge(&["db", "reset", "--db-url", "postgres://u@db.example.com:5432/prod"]);
    assert!(!ok && out.contains("refusing"), "{out}");
}

#[test]
fn quote_currency_is_backfilled_from_the_owners_preferred_currency() {
    let db = TestDb::new();
    // As before 0016: no column (nor 0018's trigger that fills it in), the file not applied.
    db.exec("DROP TRIGGER quotes_default_currency ON public.quotes");
    db.exec("ALTER TABLE public.quotes DROP COLUMN currency");
    db.exec("DELETE FROM supabase_migrations.schema_migrations WHERE version = '0016'");
    let mut owners = Vec::new();
    for (i, (email, preferred)) in
        [("eu@example.test", Some("EUR")), ("jp@example.test", Some("jpy")), ("none@example.test", None)]
            .into_iter()
            .enumerate()
    {
        let user = db.user(email);
        db.subscribe(&user, e2e::Plan::unlimited());
        if let Some(c) = preferred {
            db.exec(&format!("INSERT INTO company_settings (id, preferred_currency) VALUES ('{user}', '{c}')"));
        }
        db.exec(&format!(
            "INSERT INTO quotes (user_id, client_name, quote_number, quote_year, quote_seq, line_items, subtotal, markup_rate,
                                 markup_amount, tax_rate, tax_amount, total)
             VALUES ('{user}', 'c', 'Q-2026-000{n}', 2026, {n}, '[]', 0, 0, 0, 0, 0, 0)",
            n = i + 1
        ));
        owners.push(user);
    }
    let (ok, out) = edge(&["db", "migrate", "--db-url", &db.url]);
    assert!(ok && out.contains("1 migration(s) applied"), "{out}");
    let currency = |user: &str| -> String {
        db.client().query_one("SELECT currency FROM quotes WHERE user_id = $1::text::uuid", &[&user]).unwrap().get(0)
    };
    assert_eq!([currency(&owners[0]), currency(&owners[1]), currency(&owners[2])], ["EUR", "JPY", "USD"]);
    // Three capital letters only.
    let bad = db.client().execute("UPDATE quotes SET currency = 'eur'", &[]);
    assert!(bad.is_err(), "lower case passes the check");
}

#[test]
fn a_quote_inserted_without_a_currency_takes_its_owners() {
    let db = TestDb::new();
    let (euro, plain) = (db.user("euro-api@example.test"), db.user("plain-api@example.test"));
    for user in [&euro, &plain] {
        db.subscribe(user, e2e::Plan::unlimited());
    }
    db.exec(&format!("INSERT INTO company_settings (id, preferred_currency) VALUES ('{euro}', 'eur')"));
    let mut c = db.client();
    // As the original app inserts through the Data API: the owner's role and claims, no currency.
    let insert = |c: &mut postgres::Client, user: &str, seq: i32, currency: Option<&str>| -> String {
        let mut tx = c.transaction().unwrap();
        let claims = format!(r#"{{"sub":"{user}","role":"authenticated","aud":"authenticated"}}"#);
        tx.execute(
            "SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)",
            &[&claims],
        )
        .unwrap();
        let currency_column = if currency.is_some() { ", currency" } else { "" };
        let currency_value = currency.map(|c| format!(", '{c}'")).unwrap_or_default();
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO public.quotes (user_id, client_name, quote_number, quote_year, quote_seq{currency_column})
                     VALUES (auth.uid(), 'Data API', 'Q-2026-' || lpad($1::int::text, 4, '0'), 2026, $1{currency_value})
                     RETURNING currency"
                ),
                &[&seq],
            )
            .unwrap();
        tx.commit().unwrap();
        row.get(0)
    };
    assert_eq!(insert(&mut c, &euro, 1, None), "EUR", "the owner's preferred currency, in capitals");
    assert_eq!(insert(&mut c, &euro, 2, Some("JPY")), "JPY", "a named currency is kept");
    assert_eq!(insert(&mut c, &plain, 1, None), "USD", "no company settings: USD");
    // As the service role or an administrator's SQL, for any owner.
    let by_sql: String = c
        .query_one(
            "INSERT INTO quotes (user_id, client_name, quote_number, quote_year, quote_seq)
             VALUES ($1::text::uuid, 'SQL', 'Q-2026-0003', 2026, 3) RETURNING currency",
            &[&euro],
        )
        .unwrap()
        .get(0);
    assert_eq!(by_sql, "EUR");
    // Also where ordinary triggers are off (data loads in replica mode).
    let mut tx = c.transaction().unwrap();
    tx.batch_execute("SET LOCAL session_replication_role = replica").unwrap();
    let loaded: String = tx
        .query_one(
            "INSERT INTO quotes (user_id, client_name, quote_number, quote_year, quote_seq)
             VALUES ($1::text::uuid, 'Load', 'Q-2026-0005', 2026, 5) RETURNING currency",
            &[&euro],
        )
        .unwrap()
        .get(0);
    tx.commit().unwrap();
    assert_eq!(loaded, "EUR");
    // A setting that is no currency code falls back to USD rather than failing the insert.
    db.exec(&format!("UPDATE company_settings SET preferred_currency = 'e1' || 'x' WHERE id = '{euro}'"));
    assert_eq!(insert(&mut c, &euro, 4, None), "USD");
}

#[test]
fn quote_amounts_keep_three_decimals() {
    let db = TestDb::new();
    let user = db.user("dinar-sql@example.test");
    db.subscribe(&user, e2e::Plan::unlimited());
    let row = db
        .client()
        .query_one(
            "INSERT INTO quotes (user_id, client_name, quote_number, quote_year, quote_seq, currency, subtotal, tax_amount, total)
             VALUES ($1::text::uuid, 'c', 'Q-2026-0001', 2026, 1, 'KWD', 4.038, 0.333, 4.371)
             RETURNING subtotal::text, tax_amount::text, total::text",
            &[&user],
        )
        .unwrap();
    let got: (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(got, ("4.038".into(), "0.333".into(), "4.371".into()));
}
