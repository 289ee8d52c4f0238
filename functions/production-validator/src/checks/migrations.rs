//! infrastructure / `migrations_applied`: every migration file this build was made with
//! (compiled in by build.rs) is recorded in `supabase_migrations.schema_migrations`. A missing
//! record fails; a file changed since it was applied, or a record no file of this build
//! explains, is a warning. The original system's history (Supabase CLI versions) of a
//! database `edge db migrate` adopted is explained by `supabase_migrations.adoptions`.

use crate::built::MIGRATIONS;
use crate::check::{start, Category, Check, Severity, Status};
use serde_json::json;
use shared::db::Db;

pub fn applied(db: &Db) -> Check {
    let p = start(Category::Infrastructure, "migrations_applied", Severity::Critical);
    // As the connection's own login: the history table belongs to the migration tool.
    let present =
        match db.query("SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL AS present", &[]) {
            Ok(r) => r.first().map(|row| row.flag("present").unwrap_or(false)).unwrap_or(false),
            Err(e) => return p.unavailable("the migration history", super::error_kind(&e)),
        };
    if !present {
        return p.done(
            Status::Fail,
            "no migration history: supabase_migrations.schema_migrations does not exist",
            json!({ "expected": MIGRATIONS.iter().map(|m| m.0).collect::<Vec<_>>() }),
            "apply the migrations (`edge db migrate`, or `supabase migration up`)",
        );
    }
    let rows = match db.query(
        "SELECT version,
                coalesce(array_length(statements, 1), 0) AS statements,
                CASE WHEN array_length(statements, 1) = 1
                     THEN encode(sha256(convert_to(statements[1], 'UTF8')), 'hex') END AS sha256
         FROM supabase_migrations.schema_migrations
         -- the original schema's own history, once edge db migrate adopted it
         WHERE NOT (version ~ '^[0-9]{14}$' AND to_regclass('supabase_migrations.adoptions') IS NOT NULL)
         ORDER BY version",
        &[],
    ) {
        Ok(r) => r,
        Err(e) => return p.unavailable("the migration history", super::error_kind(&e)),
    };
    let mut recorded = Vec::new();
    for r in rows.iter() {
        let (Ok(version), Ok(sha)) = (r.string("version"), r.text("sha256")) else {
            return p.unavailable("the migration history", "unexpected row shape");
        };
        recorded.push((version, sha));
    }
    let missing: Vec<String> = MIGRATIONS
        .iter()
        .filter(|(v, _, _)| !recorded.iter().any(|(r, _)| r == v))
        .map(|(v, n, _)| format!("{v}_{n}"))
        .collect();
    // Only knowable when the whole file was recorded as one statement (edge db migrate does
    // that; the Supabase CLI records split statements).
    let changed: Vec<String> = MIGRATIONS
        .iter()
        .filter(|(v, _, sha)| recorded.iter().any(|(r, s)| r == v && s.as_deref().is_some_and(|s| s != *sha)))
        .map(|(v, n, _)| format!("{v}_{n}"))
        .collect();
    let unknown: Vec<&str> =
        recorded.iter().filter(|(r, _)| !MIGRATIONS.iter().any(|(v, _, _)| v == r)).map(|(r, _)| r.as_str()).collect();
    let evidence = json!({
        "expected": MIGRATIONS.len(),
        "recorded": recorded.len(),
        "missing": missing,
        "changed_since_applied": changed,
        "recorded_without_file": unknown,
    });
    if !missing.is_empty() {
        return p.done(
            Status::Fail,
            format!(
                "{} of {} migrations are not recorded as applied: {}",
                missing.len(),
                MIGRATIONS.len(),
                missing.join(", ")
            ),
            evidence,
            "apply the missing migrations (`edge db migrate`) before deploying this build",
        );
    }
    if !changed.is_empty() || !unknown.is_empty() {
        return p.done(
            Status::Warning,
            format!(
                "all {} migrations applied, but {} changed since and {} recorded versions are unknown to this build",
                MIGRATIONS.len(),
                changed.len(),
                unknown.len()
            ),
            evidence,
            "a changed migration is never re-applied: add a new migration instead; a version unknown to this build means the database is ahead of it",
        );
    }
    p.done(Status::Pass, format!("all {} migrations are applied, unchanged", MIGRATIONS.len()), evidence, "")
}
