//! A database as a deployment of the original QuoteKit system has it: `supabase_base.sql`
//! (what a Supabase project provides), the original's 27 migrations applied in file-name
//! order and recorded as the Supabase CLI records them, then a deployment's rows (`rows.sql`).
//! Everything comes from `tests/fixtures/quotekit-original/` (see its README).

use crate::{root, TestDb};
use std::path::PathBuf;
use std::process::Command;

pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures/quotekit-original")
}

/// The original migrations, in file-name order.
pub fn migrations() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("migrations"))
        .expect("tests/fixtures/quotekit-original/migrations")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
}

/// `psql -f file` against `url`; with `stop_on_error` the first error fails the run.
/// Returns psql's error lines.
pub fn psql_file(url: &str, file: &std::path::Path, stop_on_error: bool) -> Vec<String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-d", url, "-f"])
        .arg(file)
        .args(if stop_on_error { &["-v", "ON_ERROR_STOP=1", "-1"][..] } else { &[][..] })
        .output()
        .unwrap_or_else(|e| panic!("psql is missing ({e}): scripts/test installs the PostgreSQL client"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if stop_on_error {
        assert!(out.status.success(), "{} failed:\n{stderr}", file.display());
    }
    stderr.lines().filter(|l| l.contains("ERROR:")).map(str::to_string).collect()
}

/// An empty database on the test cluster (no template: the original starts from nothing).
pub fn empty_database(tag: &str) -> TestDb {
    let admin_url = std::env::var("EDGE_TEST_PG").expect("EDGE_TEST_PG: run the tests with scripts/test");
    let name = format!("{tag}_{}_{}", std::process::id(), crate::next_seq());
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = admin_url.rsplit_once('/').map(|(base, _)| format!("{base}/{name}")).unwrap();
    TestDb::at(&url)
}

/// What applying the original migrations gave: the statements that failed, per file.
pub struct Applied {
    pub failed_statements: Vec<String>,
}

/// The original schema on the Supabase-like base, with or without the deployment's rows.
/// The files apply as `psql -f` applies them (statement by statement): three of them carry
/// statements that fail on their own defects, on Supabase as here.
pub fn deployment(tag: &str, with_rows: bool) -> (TestDb, Applied) {
    let db = empty_database(tag);
    psql_file(&db.url, &fixtures().join("supabase_base.sql"), true);
    let mut failed = Vec::new();
    let mut c = db.client();
    c.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS supabase_migrations;
         CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text PRIMARY KEY, statements text[], name text);",
    )
    .unwrap();
    for file in migrations() {
        failed.extend(psql_file(&db.url, &file, false));
        let stem = file.file_stem().unwrap().to_str().unwrap().to_string();
        let (version, name) = stem.split_once('_').unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        c.execute(
            "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ($1, $2, $3)",
            &[&version, &name, &vec![text]],
        )
        .unwrap();
    }
    if with_rows {
        psql_file(&db.url, &fixtures().join("rows.sql"), true);
    }
    (db, Applied { failed_statements: failed })
}
