//! Jobs: create (entitlement, idempotency key, usage counted once), read, list, cancel.
//! Users read their own jobs through RLS; every write is the service role's.

use super::spec::{self, JobSpec};
use super::worker;
use crate::plans::Entitlements;
use serde_json::{json, Value};
use shared::auth::Caller;
use shared::db::{self, Db, DbError, Param, Row};
use shared::{Context, FieldError, Problem, Response};

const BASE: &str = "/functions/v1/batch-processor";

/// POST `{operation, items, options, idempotency_key?}` (or the `Idempotency-Key` header).
pub async fn create(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let body: Value = ctx.request.json()?;
    let spec = spec::parse(&body, ctx.request.header("idempotency-key")).map_err(Problem::validation)?;
    submit(ctx, &caller, &spec).await
}

/// Create the job (or find it by its idempotency key) and finish it at once when it is small
/// (one chunk): 200 with the finished job, 202 with a pending one, 402 without `bulk_operations`.
pub async fn submit(ctx: &Context, caller: &Caller, spec: &JobSpec) -> Result<Response, Problem> {
    let db = ctx.db()?;
    let entitled = db.as_user(&caller.claims_json, |db| -> Result<bool, Problem> {
        Ok(Entitlements::of_caller(db)?.features.bulk_operations)
    })?;
    if !entitled {
        return Err(Problem::new(402, "plan_upgrade_required", "Bulk operations need a paid plan")
            .detail("your plan does not include bulk_operations; upgrade your plan to run batch jobs"));
    }
    let (job_id, created) = db.as_service(|db| insert(db, caller.user_id(), spec))?;
    if created == Created::OtherRequest {
        return Err(Problem::new(409, "idempotency_key_reused", "The idempotency key belongs to another request")
            .detail(format!(
                "job {job_id} was created with this idempotency key for a different request; use a new key"
            )));
    }
    if created == Created::Replay {
        let mut view = view(&db, caller, &job_id, false)?;
        view["idempotent_replay"] = json!(true);
        return Ok(Response::ok(&view));
    }
    let small = spec.items.len() <= spec.operation.chunk_size();
    if small {
        // Every chunk it takes (normally one); a parallel `run` may take part of it.
        let authorization = ctx.request.header("authorization").unwrap_or("");
        worker::run_for(ctx, caller, authorization, &job_id, worker::BUDGET * 5).await?;
    }
    let view = view(&db, caller, &job_id, small)?;
    let status = if view["status"] == "pending" || view["status"] == "running" { 202 } else { 200 };
    Ok(Response::json(status, &view).header("location", format!("{BASE}/jobs/{job_id}")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Created {
    New,
    /// The idempotency key names a job of this user made by the same request.
    Replay,
    /// The key names a job made by a different request (operation, options or items differ).
    OtherRequest,
}

/// The job and its items in one transaction, usage counted with it; an existing job of this
/// user when the idempotency key names one (a concurrent twin waits for the first to commit).
fn insert(db: &Db, user_id: &str, spec: &JobSpec) -> Result<(String, Created), DbError> {
    let rows = db.query(
        "INSERT INTO public.batch_jobs (user_id, operation, options, idempotency_key, total_items)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id, idempotency_key) DO NOTHING
         RETURNING id",
        &[
            db::uuid(user_id),
            db::text(spec.operation.as_str()),
            Param::Jsonb(serde_json::to_vec(&spec.options).unwrap_or_default()),
            db::opt_text(spec.idempotency_key.clone()),
            Param::Int32(spec.items.len() as i32),
        ],
    )?;
    let Some(row) = rows.first() else {
        let existing = db.query(
            "SELECT j.id, j.operation = $3 AND j.options = $4
                    AND (SELECT coalesce(jsonb_agg(i.item ORDER BY i.position), '[]') FROM public.batch_job_items i
                         WHERE i.job_id = j.id) = $5 AS same
             FROM public.batch_jobs j WHERE j.user_id = $1 AND j.idempotency_key = $2",
            &[
                db::uuid(user_id),
                db::opt_text(spec.idempotency_key.clone()),
                db::text(spec.operation.as_str()),
                Param::Jsonb(serde_json::to_vec(&spec.options).unwrap_or_default()),
                Param::Jsonb(serde_json::to_vec(&spec.items).unwrap_or_default()),
            ],
        )?;
        let row = existing.one()?;
        let same = if row.flag("same")? { Created::Replay } else { Created::OtherRequest };
        return Ok((row.string("id")?, same));
    };
    let id = row.string("id")?;
    db.execute(
        "INSERT INTO public.batch_job_items (job_id, position, item)
         SELECT $1, (t.ord - 1)::int, t.value FROM jsonb_array_elements($2) WITH ORDINALITY AS t(value, ord)",
        &[db::uuid(&id), Param::Jsonb(serde_json::to_vec(&spec.items).unwrap_or_default())],
    )?;
    db.query("SELECT public.increment_usage($1, 'bulk_operations', 1)", &[db::uuid(user_id)])?;
    Ok((id, Created::New))
}

/// A job id from the path: a UUID, else 400.
pub fn job_id(id: &str) -> Result<String, Problem> {
    if shared::params::is_uuid(id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(Problem::validation(vec![FieldError::new("id", "invalid_uuid", "the job id must be a UUID")]))
    }
}

const JOB_COLUMNS: &str = "j.id, j.operation, j.status, j.options, j.idempotency_key, j.total_items, j.processed_items,
  j.failed_items, j.result, j.error_message, j.created_at, j.started_at, j.completed_at, j.cancelled_at, j.updated_at,
  (SELECT count(*) FROM public.batch_job_items i WHERE i.job_id = j.id AND i.status = 'pending') AS pending_items,
  (SELECT count(*) FROM public.batch_job_items i WHERE i.job_id = j.id AND i.status = 'cancelled') AS cancelled_items";

fn job_json(r: &Row<'_>) -> Result<Value, DbError> {
    let id = r.string("id")?;
    let total = r.i64("total_items")?;
    let processed = r.i64("processed_items")?;
    let failed = r.i64("failed_items")?;
    let cancelled = r.i64("cancelled_items")?;
    // Progress counts finished items (done or failed); a cancelled job stops where it was.
    let progress =
        if total == 0 { 100.0 } else { ((processed + failed) as f64 * 10_000.0 / total as f64).round() / 100.0 };
    Ok(json!({
        "id": id,
        "operation": r.string("operation")?,
        "status": r.string("status")?,
        "options": r.json("options")?,
        "idempotency_key": r.text("idempotency_key")?,
        "total_items": total,
        "processed_items": processed,
        "failed_items": failed,
        "cancelled_items": cancelled,
        "pending_items": r.i64("pending_items")?,
        "progress_percent": progress,
        "result": r.json("result")?,
        "error_message": r.text("error_message")?,
        "created_at": r.timestamp("created_at")?,
        "started_at": r.timestamp("started_at")?,
        "completed_at": r.timestamp("completed_at")?,
        "cancelled_at": r.timestamp("cancelled_at")?,
        "updated_at": r.timestamp("updated_at")?,
        "links": {
            "self": format!("{BASE}/jobs/{id}"),
            "run": format!("{BASE}/jobs/{id}/run"),
            "cancel": format!("{BASE}/jobs/{id}/cancel"),
            "download": format!("{BASE}/jobs/{id}/download"),
        },
    }))
}

/// The job as its owner sees it (RLS: another user's job is 404), with per-item errors and,
/// when asked, every item with its result.
pub fn view(db: &Db, caller: &Caller, job_id: &str, with_items: bool) -> Result<Value, Problem> {
    db.as_user(&caller.claims_json, |db| -> Result<Value, Problem> {
        let rows = db.query(&format!("SELECT {JOB_COLUMNS} FROM public.batch_jobs j WHERE j.id = $1"), &[db::uuid(job_id)])?;
        let Some(row) = rows.first() else { return Err(Problem::not_found(format!("no batch job {job_id}"))) };
        let mut job = job_json(&row)?;
        let filter = if with_items { "" } else { "AND status = 'failed'" };
        let items = db.query(
            &format!(
                "SELECT position, item, status, error, result, processed_at FROM public.batch_job_items
                 WHERE job_id = $1 {filter} ORDER BY position"
            ),
            &[db::uuid(job_id)],
        )?;
        let mut errors = Vec::new();
        let mut all = Vec::new();
        for r in items.iter() {
            let status = r.string("status")?;
            if status == "failed" {
                errors.push(json!({ "position": r.i64("position")?, "item": r.json("item")?, "error": r.text("error")? }));
            }
            if with_items {
                all.push(json!({
                    "position": r.i64("position")?, "item": r.json("item")?, "status": status,
                    "error": r.text("error")?, "result": r.json("result")?, "processed_at": r.timestamp("processed_at")?,
                }));
            }
        }
        job["errors"] = Value::Array(errors);
        if with_items {
            job["items"] = Value::Array(all);
        }
        Ok(job)
    })
}

/// GET /jobs/{id}[?items=true]
pub fn get(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = job_id(id)?;
    let with_items = matches!(ctx.request.query_param("items").as_deref(), Some("true" | "1"));
    Ok(Response::ok(&view(&*ctx.db()?, &caller, &id, with_items)?))
}

/// GET /jobs[?status=&limit=&offset=]: the caller's jobs, newest first.
pub fn list(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let req = &ctx.request;
    let mut errors = Vec::new();
    let limit = match req.query_param("limit").map(|v| v.parse::<i64>()) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError::new("limit", "out_of_range", "limit must be an integer from 1 to 100"));
            20
        }
    };
    let offset = match req.query_param("offset").map(|v| v.parse::<i64>()) {
        None => 0,
        Some(Ok(n)) if n >= 0 => n,
        Some(_) => {
            errors.push(FieldError::new("offset", "out_of_range", "offset must be a non-negative integer"));
            0
        }
    };
    let status = req.query_param("status");
    if let Some(s) = &status {
        if !["pending", "running", "completed", "failed", "cancelled"].contains(&s.as_str()) {
            errors.push(FieldError::new(
                "status",
                "invalid_value",
                "status must be pending, running, completed, failed or cancelled",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let (jobs, total) = ctx.db()?.as_user(&caller.claims_json, |db| -> Result<(Vec<Value>, i64), Problem> {
        let params = [db::uuid(caller.user_id()), db::opt_text(status.clone()), db::int(limit), db::int(offset)];
        let rows = db.query(
            &format!(
                "SELECT {JOB_COLUMNS} FROM public.batch_jobs j
                 WHERE j.user_id = $1 AND ($2::text IS NULL OR j.status = $2)
                 ORDER BY j.created_at DESC, j.id LIMIT $3 OFFSET $4"
            ),
            &params,
        )?;
        let jobs = rows.iter().map(|r| job_json(&r)).collect::<Result<Vec<_>, _>>()?;
        let total = db
            .query(
                "SELECT count(*) AS n FROM public.batch_jobs WHERE user_id = $1 AND ($2::text IS NULL OR status = $2)",
                &params[..2],
            )?
            .one()?
            .i64("n")?;
        Ok((jobs, total))
    })?;
    Ok(Response::ok(&json!({ "jobs": jobs, "total": total, "limit": limit, "offset": offset })))
}

/// POST /jobs/{id}/run: advance the job within the time budget and report progress.
pub async fn run(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = job_id(id)?;
    let authorization = ctx.request.header("authorization").unwrap_or("");
    let done = worker::run_for(ctx, &caller, authorization, &id, worker::BUDGET).await?;
    let mut view = view(&*ctx.db()?, &caller, &id, false)?;
    view["processed_this_run"] = json!(done);
    Ok(Response::ok(&view))
}

/// How long one scheduled `advance` keeps working (the schedule calls it every minute; edge's
/// request limit is 30 s).
const ADVANCE_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);
/// Tokens minted for a job's owner live this long: longer than one advance, useless afterwards.
const OWNER_TOKEN_TTL_S: i64 = 120;

/// POST /jobs/advance (service role; `spin.toml` schedules it every minute): advance every
/// unfinished job, oldest first, each as its owner, until none is left or the budget is spent.
/// Jobs larger than one chunk finish without anyone calling `run`; `run` still works, and
/// workers never share an item (`FOR UPDATE SKIP LOCKED`).
pub async fn advance(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.caller()?;
    if !caller.is_service_role() {
        return Err(Problem::forbidden(
            "service_role_required",
            "jobs are advanced by the scheduler's service-role token",
        ));
    }
    let started = std::time::Instant::now();
    let db = ctx.db()?;
    let mut visited: Vec<String> = Vec::new();
    let mut advanced = Vec::new();
    while started.elapsed() < ADVANCE_BUDGET {
        let next = db.as_service(|db| -> Result<Option<(String, String)>, DbError> {
            let rows = db.query(
                "SELECT j.id::text AS id, j.user_id::text AS user_id FROM public.batch_jobs j
                 WHERE j.status IN ('pending', 'running') AND NOT (j.id::text = ANY ($1))
                   AND EXISTS (SELECT 1 FROM public.batch_job_items i WHERE i.job_id = j.id AND i.status = 'pending')
                 ORDER BY j.created_at LIMIT 1",
                &[Param::ArrayStr(visited.iter().map(|v| Some(v.clone())).collect())],
            )?;
            rows.first().map(|r| Ok((r.string("id")?, r.string("user_id")?))).transpose()
        })?;
        let Some((job_id, owner)) = next else { break };
        visited.push(job_id.clone());
        let (as_owner, token) = shared::auth::act_for(&owner, OWNER_TOKEN_TTL_S)?;
        let left = ADVANCE_BUDGET.saturating_sub(started.elapsed());
        let done = worker::run_for(ctx, &as_owner, &format!("Bearer {token}"), &job_id, left).await?;
        let status = db.as_service(|db| -> Result<String, DbError> {
            db.query("SELECT status FROM public.batch_jobs WHERE id = $1", &[db::uuid(&job_id)])?
                .one()?
                .string("status")
        })?;
        advanced.push(json!({ "job_id": job_id, "processed_this_run": done, "status": status }));
    }
    Ok(Response::ok(&json!({
        "jobs_advanced": advanced.len(),
        "jobs": advanced,
        "elapsed_ms": (started.elapsed().as_secs_f64() * 1000.0).round(),
    })))
}

/// POST /jobs/{id}/cancel: no chunk starts after this; a chunk in flight finishes.
pub fn cancel(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = job_id(id)?;
    let db = ctx.db()?;
    db.as_service(|db| -> Result<(), Problem> {
        let rows = db.query(
            "UPDATE public.batch_jobs SET status = 'cancelled', cancelled_at = now()
             WHERE id = $1 AND user_id = $2 AND status IN ('pending', 'running') RETURNING id",
            &[db::uuid(&id), db::uuid(caller.user_id())],
        )?;
        if rows.is_empty() {
            let exists = db.query(
                "SELECT status FROM public.batch_jobs WHERE id = $1 AND user_id = $2",
                &[db::uuid(&id), db::uuid(caller.user_id())],
            )?;
            return match exists.first() {
                None => Err(Problem::not_found(format!("no batch job {id}"))),
                Some(r) => Err(Problem::new(409, "job_finished", "The job has already finished").detail(format!(
                    "the job is {}; only pending or running jobs can be cancelled",
                    r.string("status")?
                ))),
            };
        }
        // Items a worker holds right now are finished by it; every other pending item stops.
        db.execute(
            "UPDATE public.batch_job_items SET status = 'cancelled', processed_at = now()
             WHERE (job_id, position) IN (SELECT job_id, position FROM public.batch_job_items
                                          WHERE job_id = $1 AND status = 'pending' FOR UPDATE SKIP LOCKED)",
            &[db::uuid(&id)],
        )?;
        Ok(())
    })?;
    Ok(Response::ok(&view(&db, &caller, &id, false)?))
}
