//! Adopting a database that holds the original QuoteKit schema (`edge db migrate`).
//!
//! A deployment of the original system has its own `public.quotes`, `subscriptions`,
//! `quote_status`, ... so migration 0001 cannot apply there. When `edge db migrate` finds
//! that schema (a `public.quotes` with the original's `quote_data` column) and none of this
//! application's migrations applied, it adopts the database in one transaction:
//!
//! 1. `adopt/set_aside.sql` moves every object of `public` to the schema `quotekit_original`
//!    (renamed, never dropped; made inert) and records each in
//!    `supabase_migrations.adoptions`;
//! 2. migrations 0001 to [`ADOPTED_AT`] apply as on an empty database;
//! 3. `adopt/carry_over.sql` maps the rows the application needs (users, business settings,
//!    clients, catalog, quotes, Stripe mirror, plans, usage, roles, settings) into the new
//!    tables, recording how many went where;
//! 4. each set-aside object is matched with the migration whose object took its name.
//!
//! A failure anywhere rolls the whole transaction back: the database is as it was. Once
//! adopted, the original's columns are gone from `public`, so a second run finds nothing to
//! adopt and applies nothing. `edge db status` lists what was adopted ([`report`]).

use crate::migrate::Migration;
use anyhow::{bail, Context, Result};
use tokio_postgres::{Client, GenericClient};

/// The last migration the carry-over script is written against: adoption applies the
/// migrations up to this one, then maps the rows; later ones apply as usual afterwards.
pub const ADOPTED_AT: &str = "0009";

/// The schema the original objects are kept in.
pub const KEPT_IN: &str = "quotekit_original";

const SET_ASIDE: &str = include_str!("../adopt/set_aside.sql");
const CARRY_OVER: &str = include_str!("../adopt/carry_over.sql");

/// Whether the database holds the original schema and nothing of ours: `public.quotes` with
/// the original's `quote_data` column. A database adopted before has no such column.
pub async fn found(client: &Client) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                            WHERE table_schema = 'public' AND table_name = 'quotes' AND column_name = 'quote_data') AS original,
                    to_regnamespace($1) IS NOT NULL AS kept",
            &[&KEPT_IN],
        )
        .await?;
    let (original, kept): (bool, bool) = (row.get(0), row.get(1));
    if original && kept {
        bail!(
            "public.quotes has the original schema's quote_data column, but schema {KEPT_IN} exists already: \
             the database was adopted and then given the original schema again; restore it from a backup"
        );
    }
    Ok(original)
}

/// Adopt the database (see the module's description). `applied` are the versions recorded
/// as applied; none of this application's may be among them. Returns the migrations applied.
pub async fn adopt(client: &mut Client, migrations: &[Migration], applied: &[String]) -> Result<usize> {
    let ours: Vec<&Migration> = migrations.iter().filter(|m| m.version.as_str() <= ADOPTED_AT).collect();
    if !ours.iter().any(|m| m.version == ADOPTED_AT) {
        bail!(
            "adopting the original schema needs migrations 0001 to {ADOPTED_AT}; migrations/ has {} of them",
            ours.len()
        );
    }
    if let Some(m) = ours.iter().find(|m| applied.contains(&m.version)) {
        bail!(
            "the database holds the original QuoteKit schema, yet migration {}_{} is recorded as applied; \
             nothing was changed (check supabase_migrations.schema_migrations)",
            m.version,
            m.name
        );
    }
    println!("found the original QuoteKit schema: adopting it (its objects move to schema {KEPT_IN}; one transaction)");
    let tx = client.transaction().await?;
    tx.batch_execute(SET_ASIDE)
        .await
        .context("adoption failed while setting the original schema aside; nothing was changed")?;
    let mut texts = Vec::new();
    for m in &ours {
        let sql = std::fs::read_to_string(&m.path)?;
        tx.batch_execute(&sql)
            .await
            .with_context(|| format!("adoption failed in migration {}_{}; nothing was changed", m.version, m.name))?;
        tx.execute(
            "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &vec![sql.clone()]],
        )
        .await?;
        texts.push((m.version.clone(), sql));
    }
    tx.batch_execute(CARRY_OVER).await.context("adoption failed while carrying the rows over; nothing was changed")?;
    record_replacements(&tx, &texts).await?;
    tx.commit().await.context("adoption failed at commit; nothing was changed")?;
    for m in &ours {
        println!("applied {}_{}.sql", m.version, m.name);
    }
    let mapped: i64 = client
        .query_one("SELECT coalesce(sum(rows_mapped), 0)::bigint FROM supabase_migrations.adoptions", &[])
        .await?
        .get(0);
    let objects: i64 = client.query_one("SELECT count(*) FROM supabase_migrations.adoptions", &[]).await?.get(0);
    println!(
        "adopted: {objects} original objects kept in {KEPT_IN}, {mapped} rows carried over (edge db status lists them)"
    );
    Ok(ours.len())
}

/// Which of `texts` (version, SQL) creates an object of this kind and name in `public`.
fn creator<'a>(texts: &'a [(String, String)], kind: &str, object: &str) -> Option<&'a str> {
    let name = object.strip_prefix("public.")?.split('(').next()?;
    let keywords: &[&str] = match kind {
        "table" => &["CREATE TABLE", "CREATE TABLE IF NOT EXISTS"],
        "view" => &["CREATE VIEW", "CREATE OR REPLACE VIEW", "CREATE MATERIALIZED VIEW"],
        "function" => &["CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"],
        "type" => &["CREATE TYPE", "CREATE DOMAIN"],
        "sequence" => &["CREATE SEQUENCE"],
        _ => return None,
    };
    texts.iter().find_map(|(version, sql)| {
        let hit = keywords.iter().any(|k| {
            let needle = format!("{k} public.{name}");
            sql.match_indices(&needle).any(|(i, _)| {
                let next = sql[i + needle.len()..].chars().next();
                !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        });
        hit.then_some(version.as_str())
    })
}

async fn record_replacements(tx: &impl GenericClient, texts: &[(String, String)]) -> Result<()> {
    let rows =
        tx.query("SELECT object, kind FROM supabase_migrations.adoptions WHERE replaced_by IS NULL", &[]).await?;
    for r in rows {
        let (object, kind): (String, String) = (r.get(0), r.get(1));
        if let Some(version) = creator(texts, &kind, &object) {
            tx.execute(
                "UPDATE supabase_migrations.adoptions SET replaced_by = $3 WHERE object = $1 AND kind = $2",
                &[&object, &kind, &version],
            )
            .await?;
        }
    }
    Ok(())
}

/// One adopted object, as `edge db status` lists it.
pub struct Adopted {
    pub object: String,
    pub kind: String,
    pub kept_as: String,
    pub replaced_by: Option<String>,
    pub rows_kept: Option<i64>,
    pub mapped_into: Option<String>,
    pub rows_mapped: Option<i64>,
    pub note: Option<String>,
    pub adopted_at: String,
}

/// What an adoption recorded, if the database was adopted.
pub async fn report(client: &Client) -> Result<Vec<Adopted>> {
    let exists: bool =
        client.query_one("SELECT to_regclass('supabase_migrations.adoptions') IS NOT NULL", &[]).await?.get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT object, kind, kept_as, replaced_by, rows_kept, mapped_into, rows_mapped, note,
                    to_char(adopted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
             FROM supabase_migrations.adoptions
             ORDER BY replaced_by NULLS LAST, kind DESC, object",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Adopted {
            object: r.get(0),
            kind: r.get(1),
            kept_as: r.get(2),
            replaced_by: r.get(3),
            rows_kept: r.get(4),
            mapped_into: r.get(5),
            rows_mapped: r.get(6),
            note: r.get(7),
            adopted_at: r.get(8),
        })
        .collect())
}

/// The lines `edge db status` prints about an adoption: one per object a migration replaced
/// or whose rows were carried over, then a summary of what is only kept.
pub fn describe(adopted: &[Adopted], name_of: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let Some(first) = adopted.first() else { return Vec::new() };
    let mut out = vec![format!(
        "Adopted the original QuoteKit schema on {}; its {} objects are kept in schema {KEPT_IN}:",
        first.adopted_at,
        adopted.len()
    )];
    for a in adopted.iter().filter(|a| a.replaced_by.is_some() || a.mapped_into.is_some()) {
        let by = match &a.replaced_by {
            Some(v) => format!("{v}_{}", name_of(v).unwrap_or_default()),
            None => "(no migration)".to_string(),
        };
        let mut line = format!("  {by:<28} adopted {} {}", a.kind, a.object);
        if let Some(n) = a.rows_kept {
            line.push_str(&format!(" ({n} rows kept as {})", a.kept_as));
        }
        if let (Some(into), Some(n)) = (&a.mapped_into, a.rows_mapped) {
            line.push_str(&format!("; {n} rows carried into {into}"));
        }
        if let Some(note) = &a.note {
            line.push_str(&format!("; {note}"));
        }
        out.push(line);
    }
    let only: Vec<&Adopted> = adopted.iter().filter(|a| a.replaced_by.is_none() && a.mapped_into.is_none()).collect();
    if !only.is_empty() {
        let with_rows: Vec<String> = only
            .iter()
            .filter(|a| a.rows_kept.unwrap_or(0) > 0)
            .map(|a| format!("{} ({})", a.object, a.rows_kept.unwrap_or(0)))
            .collect();
        out.push(format!(
            "  {:<28} kept only: {} objects with no counterpart here{}",
            "(no migration)",
            only.len(),
            if with_rows.is_empty() { String::new() } else { format!("; tables with rows: {}", with_rows.join(", ")) }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_matched_with_the_migration_creating_its_name() {
        let texts = vec![
            (
                "0001".to_string(),
                "CREATE TABLE public.quotes (\n id uuid);\nCREATE FUNCTION public.is_admin() RETURNS".to_string(),
            ),
            (
                "0004".to_string(),
                "CREATE TABLE public.quote_documents (id uuid);\nCREATE TYPE public.x AS ENUM ()".to_string(),
            ),
            ("0008".to_string(), "CREATE OR REPLACE FUNCTION public.enforce_quote_quota()".to_string()),
        ];
        assert_eq!(creator(&texts, "table", "public.quotes"), Some("0001"));
        assert_eq!(creator(&texts, "table", "public.quote_documents"), Some("0004"));
        // A prefix of another name is not that name.
        assert_eq!(creator(&texts, "table", "public.quote"), None);
        assert_eq!(creator(&texts, "function", "public.is_admin(user_id uuid)"), Some("0001"));
        assert_eq!(creator(&texts, "function", "public.enforce_quote_quota()"), Some("0008"));
        assert_eq!(creator(&texts, "type", "public.x"), Some("0004"));
        assert_eq!(creator(&texts, "view", "public.quotes"), None);
    }
}
