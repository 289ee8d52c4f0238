//! `GET /batch-jobs[?status=&limit=50&offset=0]`: every user's batch jobs (the admin view),
//! newest first, with progress = (processed + failed) / total.

use serde_json::{json, Value};
use shared::db::{self, Db, DbError, Param};
use shared::params::Params;
use shared::Problem;

const STATUSES: [&str; 5] = ["pending", "running", "completed", "failed", "cancelled"];

pub fn list(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let status = params.choice("status", &STATUSES);
    let page = params.page(50);
    params.finish()?;
    db.as_service(|db| -> Result<Value, DbError> {
        // A job without items has nothing left to do: 100 %.
        let rows = db.query(
            "SELECT j.id, j.user_id, j.operation, j.status, j.total_items, j.processed_items, j.failed_items,
                    CASE WHEN j.total_items = 0 THEN 100
                         ELSE least(100, round(100.0 * (j.processed_items + j.failed_items) / j.total_items, 2)) END::float8
                      AS progress_percent,
                    j.error_message, j.created_at, j.started_at, j.completed_at, j.cancelled_at, j.updated_at,
                    (extract(epoch FROM j.completed_at - j.started_at) * 1000)::float8 AS duration_ms
             FROM public.batch_jobs j
             WHERE ($1::text IS NULL OR j.status = $1)
             ORDER BY j.created_at DESC, j.id LIMIT $2 OFFSET $3",
            &[db::opt_text(status), Param::Int64(page.limit), Param::Int64(page.offset)],
        )?;
        let counts = db.query(
            "SELECT count(*) FILTER (WHERE $1::text IS NULL OR j.status = $1) AS total,
                    count(*) FILTER (WHERE j.status = 'pending') AS pending,
                    count(*) FILTER (WHERE j.status = 'running') AS running,
                    count(*) FILTER (WHERE j.status = 'completed') AS completed,
                    count(*) FILTER (WHERE j.status = 'failed') AS failed,
                    count(*) FILTER (WHERE j.status = 'cancelled') AS cancelled
             FROM public.batch_jobs j",
            &[db::opt_text(status)],
        )?;
        let c = counts.one()?;
        let jobs = rows
            .iter()
            .map(|r| {
                Ok(json!({
                    "id": r.string("id")?,
                    "user_id": r.string("user_id")?,
                    "operation": r.string("operation")?,
                    "status": r.string("status")?,
                    "total_items": r.i64("total_items")?,
                    "processed_items": r.i64("processed_items")?,
                    "failed_items": r.i64("failed_items")?,
                    "progress_percent": r.float("progress_percent")?,
                    "error_message": r.text("error_message")?,
                    "created_at": r.timestamp("created_at")?,
                    "started_at": r.timestamp("started_at")?,
                    "completed_at": r.timestamp("completed_at")?,
                    "cancelled_at": r.timestamp("cancelled_at")?,
                    "updated_at": r.timestamp("updated_at")?,
                    "duration_ms": r.float("duration_ms")?,
                }))
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        let mut by_status = serde_json::Map::new();
        for s in STATUSES {
            by_status.insert(s.to_string(), c.i64(s)?.into());
        }
        Ok(json!({
            "status": status,
            "total": c.i64("total")?,
            "limit": page.limit,
            "offset": page.offset,
            "by_status": by_status,
            "jobs": jobs,
        }))
    })
    .map_err(Problem::from)
}
