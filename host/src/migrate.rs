//! `edge db migrate | status | reset`: apply `migrations/NNNN_name.sql` in order, recorded in
//! `supabase_migrations.schema_migrations` exactly as the Supabase CLI records them, so the
//! same files and the same history work with `supabase migration up` too.

use crate::manifest::App;
use crate::variables::{env_key, read_dotenv};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tokio_postgres::Client;

/// One migration file.
#[derive(Debug, Clone)]
pub struct Migration {
    pub version: String,
    pub name: String,
    pub path: PathBuf,
}

/// `NNNN_name.sql` files in version order.
pub fn list(dir: &Path) -> Result<Vec<Migration>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else { continue };
        let Some(stem) = file.strip_suffix(".sql") else { continue };
        let Some((version, name)) = stem.split_once('_') else { continue };
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        out.push(Migration { version: version.to_string(), name: name.to_string(), path: path.clone() });
    }
    out.sort_by(|a, b| a.version.cmp(&b.version));
    for pair in out.windows(2) {
        if pair[0].version == pair[1].version {
            bail!("two migrations share version {}", pair[0].version);
        }
    }
    Ok(out)
}

/// A variable as components would see it: environment, then `.env`, then the manifest default.
pub fn resolve_variable(name: &str, manifest: &Path) -> Result<Option<String>> {
    let key = env_key(name);
    if let Ok(v) = std::env::var(&key) {
        return Ok(Some(v));
    }
    let dir =
        manifest.parent().map(Path::to_path_buf).filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| ".".into());
    if let Some(v) = read_dotenv(&dir.join(".env")).get(&key) {
        return Ok(Some(v.clone()));
    }
    if manifest.exists() {
        let app = App::load(manifest)?;
        return Ok(app.manifest.variables.get(name).and_then(|d| d.default.clone()));
    }
    Ok(None)
}

pub fn resolve_db_url(flag: Option<String>, manifest: &Path) -> Result<String> {
    match flag {
        Some(u) => Ok(u),
        None => resolve_variable("db_url", manifest)?
            .context("no database: pass --db-url, or set SPIN_VARIABLE_DB_URL (environment or .env)"),
    }
}

async fn connect(db_url: &str) -> Result<Client> {
    let target = pgtls::Target::parse(db_url)?;
    let (client, connection) = target
        .connect()
        .await
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot connect to {}", crate::pool::redact(db_url)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("edge: database connection ended: {e}");
        }
    });
    Ok(client)
}

const HISTORY_DDL: &str = "
CREATE SCHEMA IF NOT EXISTS supabase_migrations;
CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (
    version text PRIMARY KEY,
    statements text[],
    name text
);";

async fn applied(client: &Client) -> Result<Vec<String>> {
    Ok(history(client).await?.into_iter().map(|(v, _)| v).collect())
}

/// Applied versions with the statements recorded for each.
async fn history(client: &Client) -> Result<Vec<(String, Option<Vec<String>>)>> {
    client.batch_execute(HISTORY_DDL).await?;
    let rows = client
        .query("SELECT version, statements FROM supabase_migrations.schema_migrations ORDER BY version", &[])
        .await?;
    Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, Option<Vec<String>>>(1))).collect())
}

/// Whether an applied file differs from what was applied (only knowable for files this
/// tool applied: it records the whole file as the one statement).
fn changed_since_applied(recorded: &Option<Vec<String>>, file: &str) -> bool {
    matches!(recorded, Some(s) if s.len() == 1 && s[0] != file)
}

pub async fn migrate(db_url: &str, dir: &Path) -> Result<()> {
    let migrations = list(dir)?;
    let mut client = connect(db_url).await?;
    // One migrator at a time per database.
    client.execute("SELECT pg_advisory_lock(4242001)", &[]).await?;
    let mut done = applied(&client).await?;
    let mut count = 0;
    // A deployment of the original system: adopted in place, in one transaction.
    if crate::adopt::found(&client).await? {
        count += crate::adopt::adopt(&mut client, &migrations, &done).await?;
        done = applied(&client).await?;
    }
    for m in &migrations {
        if done.contains(&m.version) {
            continue;
        }
        let sql = std::fs::read_to_string(&m.path)?;
        let tx = client.transaction().await?;
        tx.batch_execute(&sql)
            .await
            .with_context(|| format!("migration {} failed; nothing of it was applied", file_name(&m.path)))?;
        tx.execute(
            "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &vec![sql.clone()]],
        )
        .await?;
        tx.commit().await?;
        println!("applied {}", file_name(&m.path));
        count += 1;
    }
    client.execute("SELECT pg_advisory_unlock(4242001)", &[]).await?;
    println!("{count} migration(s) applied, {} in total", migrations.len());
    Ok(())
}

pub async fn status(db_url: &str, dir: &Path) -> Result<()> {
    let migrations = list(dir)?;
    let client = connect(db_url).await?;
    let recorded = history(&client).await?;
    println!("{:<10} {:<40} STATE", "VERSION", "NAME");
    for m in &migrations {
        let state = match recorded.iter().find(|(v, _)| v == &m.version) {
            None => "pending",
            Some((_, statements)) if changed_since_applied(statements, &std::fs::read_to_string(&m.path)?) => {
                "applied, but the file changed since (reset the database, or add a new migration)"
            }
            Some(_) => "applied",
        };
        println!("{:<10} {:<40} {state}", m.version, m.name);
    }
    let adopted = crate::adopt::report(&client).await?;
    for (v, name) in &recorded_names(&client).await? {
        if !migrations.iter().any(|m| &m.version == v) {
            if !adopted.is_empty() && is_original_version(v) {
                println!(
                    "{v:<10} {:<40} applied before adoption (the original schema; its objects are in {})",
                    name.as_deref().unwrap_or("?"),
                    crate::adopt::KEPT_IN
                );
            } else {
                println!("{v:<10} {:<40} applied, but no file in {}", name.as_deref().unwrap_or("?"), dir.display());
            }
        }
    }
    let name_of = |v: &str| migrations.iter().find(|m| m.version == v).map(|m| m.name.clone());
    for line in crate::adopt::describe(&adopted, name_of) {
        println!("{line}");
    }
    Ok(())
}

/// Recorded versions with their names.
async fn recorded_names(client: &Client) -> Result<Vec<(String, Option<String>)>> {
    let rows =
        client.query("SELECT version, name FROM supabase_migrations.schema_migrations ORDER BY version", &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// A Supabase CLI version (a 14-digit timestamp), as the original's migrations carry.
fn is_original_version(v: &str) -> bool {
    v.len() == 14 && v.bytes().all(|b| b.is_ascii_digit())
}

/// Drop and recreate the database, then migrate. Only for local databases unless forced.
pub async fn reset(db_url: &str, dir: &Path, force: bool) -> Result<()> {
    let target = pgtls::Target::parse(db_url)?;
    let config = &target.config;
    let local = config.get_hosts().iter().all(|h| match h {
        tokio_postgres::config::Host::Tcp(h) => h == "localhost" || h.starts_with("127.") || h == "::1",
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(_) => true,
    });
    if !local && !force {
        bail!("refusing to reset a non-local database; pass --force if you mean it");
    }
    let dbname = config.get_dbname().context("the database URL names no database")?.to_string();
    let mut admin = target.clone();
    admin.config.dbname("postgres");
    let (client, connection) = admin.connect().await.map_err(anyhow::Error::msg)?;
    tokio::spawn(connection);
    let quoted = format!("\"{}\"", dbname.replace('"', "\"\""));
    // Separately: neither statement may run inside the implicit transaction of a batch.
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")).await?;
    client.batch_execute(&format!("CREATE DATABASE {quoted}")).await?;
    println!("recreated database {dbname}");
    migrate(db_url, dir).await
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
}
