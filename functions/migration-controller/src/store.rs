//! The rows of a migration: runs, steps, transitions and rollbacks (migration 0005). All
//! reads and writes run as the service role, after the caller has been checked to be an admin.

use crate::settings::{Gates, Settings};
use serde_json::{json, Value};
use shared::db::{self, Db, DbError, Row};
use shared::Problem;

pub struct Run {
    pub id: String,
    pub status: String,
    pub traffic_percent: i64,
    pub plan: Vec<i64>,
    pub functions: Vec<String>,
    pub green_base_url: String,
    pub bake_seconds: i64,
    pub min_samples: i64,
    pub gates: Gates,
    pub started_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub finish_reason: Option<String>,
}

/// The open step of a run: the period at the current traffic share.
pub struct Step {
    pub id: String,
    pub traffic_percent: i64,
    pub started_at: String,
    pub elapsed_seconds: f64,
}

const RUN_COLUMNS: &str = "id::text, status, traffic_percent, to_json(step_plan) AS step_plan, \
    to_json(functions) AS functions, green_base_url, bake_seconds, min_samples, \
    max_error_rate::float8 AS max_error_rate, error_rate_margin::float8 AS error_rate_margin, \
    max_p95_ratio::float8 AS max_p95_ratio, min_p95_increase_ms::float8 AS min_p95_increase_ms, \
    min_latency_samples, max_failed_health_checks, started_by, \
    started_at, finished_at, finish_reason";

fn run_of(row: Row<'_>) -> Result<Run, DbError> {
    let plan = row.json("step_plan")?.unwrap_or(Value::Null);
    let functions = row.json("functions")?.unwrap_or(Value::Null);
    Ok(Run {
        id: row.string("id")?,
        status: row.string("status")?,
        traffic_percent: row.i64("traffic_percent")?,
        plan: plan.as_array().map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default(),
        functions: functions
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        green_base_url: row.string("green_base_url")?,
        bake_seconds: row.i64("bake_seconds")?,
        min_samples: row.i64("min_samples")?,
        gates: Gates {
            max_error_rate: row.float("max_error_rate")?.unwrap_or(0.0),
            error_rate_margin: row.float("error_rate_margin")?.unwrap_or(0.0),
            max_p95_ratio: row.float("max_p95_ratio")?.unwrap_or(1.0),
            min_p95_increase_ms: row.float("min_p95_increase_ms")?.unwrap_or(0.0),
            min_latency_samples: row.i64("min_latency_samples")?,
            max_failed_health_checks: row.i64("max_failed_health_checks")?,
        },
        started_by: row.string("started_by")?,
        started_at: row.timestamp("started_at")?.unwrap_or_default(),
        finished_at: row.timestamp("finished_at")?,
        finish_reason: row.text("finish_reason")?,
    })
}

impl Run {
    /// The step after `traffic_percent` in the plan (`None` at 100 %: the next move completes).
    pub fn next_percent(&self) -> Option<i64> {
        self.plan.iter().copied().find(|p| *p > self.traffic_percent)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status,
            "phase": phase(&self.status, self.traffic_percent),
            "traffic_percent": self.traffic_percent,
            "steps": self.plan,
            "next_percent": if self.status == "active" { json!(self.next_percent()) } else { Value::Null },
            "functions": self.functions,
            "green_base_url": self.green_base_url,
            "bake_time_seconds": self.bake_seconds,
            "min_samples": self.min_samples,
            "gates": self.gates.to_json(),
            "started_by": self.started_by,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "finish_reason": self.finish_reason,
        })
    }
}

/// The original's phase names (`traffic_25_percent`, `completed`, `rolled_back`).
pub fn phase(status: &str, percent: i64) -> String {
    match status {
        "active" => format!("traffic_{percent}_percent"),
        other => other.to_string(),
    }
}

impl Step {
    pub fn to_json(&self, run: &Run) -> Value {
        let remaining = (run.bake_seconds as f64 - self.elapsed_seconds).max(0.0);
        json!({
            "id": self.id,
            "traffic_percent": self.traffic_percent,
            "started_at": self.started_at,
            "elapsed_seconds": round1(self.elapsed_seconds),
            "bake_remaining_seconds": round1(remaining),
            "baked": remaining <= 0.0,
        })
    }
}

pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The active run, locked for the rest of the transaction when `lock` is set.
pub fn active(db: &Db, lock: bool) -> Result<Option<Run>, DbError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM public.migration_runs WHERE status = 'active'{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let rows = db.query(&sql, &[])?;
    rows.first().map(run_of).transpose()
}

/// The active run, else the most recent one.
pub fn latest(db: &Db) -> Result<Option<Run>, DbError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM public.migration_runs ORDER BY (status = 'active') DESC, started_at DESC LIMIT 1"
    );
    let rows = db.query(&sql, &[])?;
    rows.first().map(run_of).transpose()
}

pub fn require_active(db: &Db, lock: bool) -> Result<Run, Problem> {
    active(db, lock)?.ok_or_else(|| {
        Problem::new(409, "no_active_migration", "No migration is active").detail("start one with initialize_migration")
    })
}

pub fn open_step(db: &Db, run_id: &str) -> Result<Option<Step>, DbError> {
    let rows = db.query(
        "SELECT id::text, traffic_percent, started_at, \
                extract(epoch FROM clock_timestamp() - started_at)::float8 AS elapsed \
           FROM public.migration_steps WHERE run_id = $1::uuid AND ended_at IS NULL",
        &[db::uuid(run_id)],
    )?;
    let Some(r) = rows.first() else { return Ok(None) };
    Ok(Some(Step {
        id: r.string("id")?,
        traffic_percent: r.i64("traffic_percent")?,
        started_at: r.timestamp("started_at")?.unwrap_or_default(),
        elapsed_seconds: r.float("elapsed")?.unwrap_or(0.0),
    }))
}

pub fn require_step(db: &Db, run: &Run) -> Result<Step, Problem> {
    open_step(db, &run.id)?.ok_or_else(|| {
        eprintln!("migration {} is active without an open step", run.id);
        Problem::internal()
    })
}

/// Insert a new active run with its first step and transition. A concurrent or earlier active
/// run makes this a 409 (the partial unique index decides, even under a race).
/// `metrics`: what the decision to start rested on (green's health checks).
pub fn insert_run(db: &Db, s: &Settings, green: &str, actor: &str, metrics: &Value) -> Result<String, Problem> {
    let inserted = db.query(
        "INSERT INTO public.migration_runs (traffic_percent, step_plan, functions, green_base_url, bake_seconds, \
            min_samples, max_error_rate, error_rate_margin, max_p95_ratio, max_failed_health_checks, started_by, \
            min_p95_increase_ms, min_latency_samples) \
         VALUES ($1::bigint, ARRAY(SELECT (jsonb_array_elements_text($2::text::jsonb))::int), \
                 ARRAY(SELECT jsonb_array_elements_text($3::text::jsonb)), $4, $5::bigint, $6::bigint, \
                 $7::text::numeric, $8::text::numeric, $9::text::numeric, $10::bigint, $11, \
                 $12::text::numeric, $13::bigint) \
         RETURNING id::text",
        &[
            db::int(s.target_percent),
            db::text(json!(s.plan).to_string()),
            db::text(json!(s.functions).to_string()),
            db::text(green),
            db::int(s.bake_seconds),
            db::int(s.min_samples),
            db::text(s.gates.max_error_rate.to_string()),
            db::text(s.gates.error_rate_margin.to_string()),
            db::text(s.gates.max_p95_ratio.to_string()),
            db::int(s.gates.max_failed_health_checks),
            db::text(actor),
            db::text(s.gates.min_p95_increase_ms.to_string()),
            db::int(s.gates.min_latency_samples),
        ],
    );
    let id = match inserted {
        Ok(rows) => rows.one()?.string("id")?,
        Err(e) if e.sqlstate() == Some("23505") => return Err(already_active()),
        Err(e) => return Err(e.into()),
    };
    start_step(db, &id, s.target_percent)?;
    transition(db, &id, "initialize", None, "active", None, s.target_percent, actor, &s.reason, Some(metrics))?;
    Ok(id)
}

pub fn already_active() -> Problem {
    Problem::new(409, "migration_active", "A migration is already active")
        .detail("finish it (advance to completion) or roll it back before starting another")
}

pub fn start_step(db: &Db, run_id: &str, percent: i64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO public.migration_steps (run_id, traffic_percent) VALUES ($1::uuid, $2::bigint)",
        &[db::uuid(run_id), db::int(percent)],
    )?;
    Ok(())
}

pub fn end_step(db: &Db, run_id: &str, outcome: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.migration_steps SET ended_at = now(), outcome = $2 WHERE run_id = $1::uuid AND ended_at IS NULL",
        &[db::uuid(run_id), db::text(outcome)],
    )?;
    Ok(())
}

pub fn set_percent(db: &Db, run_id: &str, percent: i64) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.migration_runs SET traffic_percent = $2::bigint WHERE id = $1::uuid",
        &[db::uuid(run_id), db::int(percent)],
    )?;
    Ok(())
}

pub fn finish(db: &Db, run_id: &str, status: &str, percent: i64, reason: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.migration_runs SET status = $2, traffic_percent = $3::bigint, finished_at = now(), \
                finish_reason = $4 WHERE id = $1::uuid",
        &[db::uuid(run_id), db::text(status), db::int(percent), db::text(reason)],
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn transition(
    db: &Db,
    run_id: &str,
    action: &str,
    from_status: Option<&str>,
    to_status: &str,
    from_percent: Option<i64>,
    to_percent: i64,
    actor: &str,
    reason: &str,
    metrics: Option<&Value>,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO public.migration_transitions \
            (run_id, action, from_status, to_status, from_percent, to_percent, actor, reason, metrics) \
         VALUES ($1::uuid, $2, $3, $4, $5::bigint, $6::bigint, $7, $8, $9::text::jsonb)",
        &[
            db::uuid(run_id),
            db::text(action),
            db::opt_text(from_status),
            db::text(to_status),
            from_percent.map(db::int).unwrap_or(db::Param::DbNull),
            db::int(to_percent),
            db::text(actor),
            db::text(reason),
            db::opt_text(metrics.map(Value::to_string)),
        ],
    )?;
    Ok(())
}

/// Traffic to 0 % at once, the run closed as rolled back, the rollback and its transition
/// recorded. The caller holds the run's lock.
pub fn roll_back(
    db: &Db,
    run: &Run,
    actor: &str,
    reason: &str,
    automatic: bool,
    metrics: Option<&Value>,
) -> Result<(), DbError> {
    finish(db, &run.id, "rolled_back", 0, reason)?;
    end_step(db, &run.id, "rolled_back")?;
    db.execute(
        "INSERT INTO public.migration_rollbacks (run_id, reason, automatic, actor, traffic_at_rollback, metrics) \
         VALUES ($1::uuid, $2, $3, $4, $5::bigint, $6::text::jsonb)",
        &[
            db::uuid(&run.id),
            db::text(reason),
            db::Param::Boolean(automatic),
            db::text(actor),
            db::int(run.traffic_percent),
            db::opt_text(metrics.map(Value::to_string)),
        ],
    )?;
    let action = if automatic { "auto_rollback" } else { "rollback" };
    transition(db, &run.id, action, Some("active"), "rolled_back", Some(run.traffic_percent), 0, actor, reason, metrics)
}

/// The run's transitions, newest first.
pub fn transitions(db: &Db, run_id: &str, limit: i64) -> Result<Vec<Value>, DbError> {
    let rows = db.query(
        "SELECT id, action, from_status, to_status, from_percent, to_percent, actor, reason, metrics, created_at \
           FROM public.migration_transitions WHERE run_id = $1::uuid ORDER BY id DESC LIMIT $2::bigint",
        &[db::uuid(run_id), db::int(limit)],
    )?;
    rows.iter()
        .map(|r| {
            Ok(json!({
                "id": r.i64("id")?,
                "action": r.string("action")?,
                "from_status": r.text("from_status")?,
                "to_status": r.string("to_status")?,
                "from_percent": r.int("from_percent")?,
                "to_percent": r.i64("to_percent")?,
                "actor": r.string("actor")?,
                "reason": r.string("reason")?,
                "metrics": r.json("metrics")?,
                "at": r.timestamp("created_at")?,
            }))
        })
        .collect()
}

pub fn rollback_of(db: &Db, run_id: &str) -> Result<Option<Value>, DbError> {
    let rows = db.query(
        "SELECT reason, automatic, actor, traffic_at_rollback, created_at FROM public.migration_rollbacks \
          WHERE run_id = $1::uuid",
        &[db::uuid(run_id)],
    )?;
    rows.first()
        .map(|r| {
            Ok(json!({
                "reason": r.string("reason")?,
                "automatic": r.flag("automatic")?,
                "actor": r.string("actor")?,
                "traffic_at_rollback": r.i64("traffic_at_rollback")?,
                "at": r.timestamp("created_at")?,
            }))
        })
        .transpose()
}

/// The figures an operator's decision rests on: the open step's latest evaluation, if any.
pub fn step_context(db: &Db, run: &Run) -> Result<Value, DbError> {
    let Some(step) = open_step(db, &run.id)? else { return Ok(Value::Null) };
    Ok(json!({
        "step": step.to_json(run),
        "last_evaluation": last_evaluation(db, &step.id)?,
    }))
}

/// The latest evaluation stored on the open step.
pub fn save_evaluation(db: &Db, step_id: &str, evaluation: &Value) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.migration_steps SET last_evaluation = $2::text::jsonb, evaluated_at = now() WHERE id = $1::uuid",
        &[db::uuid(step_id), db::text(evaluation.to_string())],
    )?;
    Ok(())
}

pub fn last_evaluation(db: &Db, step_id: &str) -> Result<Value, DbError> {
    let rows = db.query(
        "SELECT last_evaluation, evaluated_at FROM public.migration_steps WHERE id = $1::uuid",
        &[db::uuid(step_id)],
    )?;
    let Some(r) = rows.first() else { return Ok(Value::Null) };
    Ok(json!({ "evaluation": r.json("last_evaluation")?, "at": r.timestamp("evaluated_at")? }))
}
