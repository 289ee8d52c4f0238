//! Health checks of the green deployment: `GET {green}/functions/v1/<function>/health` for each
//! function the run covers, each result a `migration_health_checks` row. A check passes on a
//! 200 whose body says `"status": "ok"`; anything else (another status, a body that is not the
//! health answer, no connection) fails, with what was seen.

use serde_json::{json, Value};
use shared::db::{self, Db, DbError, Param};
use std::time::Instant;

pub struct Check {
    pub function: String,
    pub url: String,
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: f64,
    pub error: Option<String>,
}

impl Check {
    pub fn to_json(&self) -> Value {
        json!({
            "function": self.function,
            "url": self.url,
            "ok": self.ok,
            "status": self.status,
            "latency_ms": (self.latency_ms * 100.0).round() / 100.0,
            "error": self.error,
        })
    }
}

pub fn url(green: &str, function: &str) -> String {
    format!("{}/functions/v1/{function}/health", green.trim_end_matches('/'))
}

/// Probe every function on green (one after the other: a handful of local requests).
pub async fn probe(green: &str, functions: &[String]) -> Vec<Check> {
    let mut out = Vec::with_capacity(functions.len());
    for f in functions {
        out.push(probe_one(green, f).await);
    }
    out
}

async fn probe_one(green: &str, function: &str) -> Check {
    let url = url(green, function);
    let started = Instant::now();
    let request = spin_sdk::http::Request::builder()
        .method(spin_sdk::http::Method::Get)
        .uri(url.as_str())
        .header("accept", "application/json")
        .build();
    let answer = spin_sdk::http::send::<_, spin_sdk::http::Response>(request).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match answer {
        Err(e) => Check {
            function: function.into(),
            url,
            ok: false,
            status: None,
            latency_ms,
            error: Some(format!("unreachable: {}", e.to_string().chars().take(200).collect::<String>())),
        },
        Ok(r) => {
            let status = *r.status();
            let body: Value = serde_json::from_slice(r.body()).unwrap_or(Value::Null);
            let healthy = status == 200 && body["status"] == "ok";
            let error = (!healthy).then(|| format!("HTTP {status}, status {}", body["status"]));
            Check { function: function.into(), url, ok: healthy, status: Some(status), latency_ms, error }
        }
    }
}

pub fn record(db: &Db, run_id: &str, checks: &[Check]) -> Result<(), DbError> {
    for c in checks {
        db.execute(
            "INSERT INTO public.migration_health_checks (run_id, function_name, url, ok, status_code, latency_ms, error) \
             VALUES ($1::uuid, $2, $3, $4, $5::int, $6, $7)",
            &[
                db::uuid(run_id),
                db::text(c.function.as_str()),
                db::text(c.url.as_str()),
                Param::Boolean(c.ok),
                c.status.map(|s| Param::Int32(s as i32)).unwrap_or(Param::DbNull),
                Param::Floating64(c.latency_ms),
                db::opt_text(c.error.clone()),
            ],
        )?;
    }
    Ok(())
}

/// The run's latest checks, newest first.
pub fn recent(db: &Db, run_id: &str, limit: i64) -> Result<Vec<Value>, DbError> {
    let rows = db.query(
        "SELECT function_name, ok, status_code, latency_ms, error, checked_at FROM public.migration_health_checks \
          WHERE run_id = $1::uuid ORDER BY id DESC LIMIT $2::bigint",
        &[db::uuid(run_id), db::int(limit)],
    )?;
    rows.iter()
        .map(|r| {
            Ok(json!({
                "function": r.string("function_name")?,
                "ok": r.flag("ok")?,
                "status": r.int("status_code")?,
                "latency_ms": r.float("latency_ms")?,
                "error": r.text("error")?,
                "at": r.timestamp("checked_at")?,
            }))
        })
        .collect()
}
