//! Advancing a job chunk by chunk. One chunk is one transaction: claim the next pending
//! items (`FOR UPDATE SKIP LOCKED`, so parallel workers never share an item), do each item's
//! work as the user (a savepoint per item, so one failure does not undo the others), mark the
//! items and the job's counters as the service role, commit. A crash rolls the whole chunk
//! back: its items are still pending and the next `run` does them, once.
//!
//! A `generate_pdfs` chunk keeps its connection while quote-pdf-generator renders its items
//! (the claimed rows' locks are what keep other workers off them); each render is a call
//! between components, which takes its connection from those the host keeps for such calls
//! (edge keeps a fifth of its pool), so it never waits for the one its worker holds.

use super::ops::{self, ItemError};
use super::spec::Operation;
use super::tx::Tx;
use serde_json::{json, Value};
use shared::auth::Caller;
use shared::db::{self, Param};
use shared::{Context, Problem};
use std::time::{Duration, Instant};

/// How long one `run` request keeps claiming chunks.
pub const BUDGET: Duration = Duration::from_secs(2);

pub enum Chunk {
    /// Items were processed (how many).
    Worked(usize),
    /// Nothing left to claim (finished, cancelled, or the rest is being worked on elsewhere).
    Idle,
}

/// Claim and process chunks until nothing is left or the budget is spent. `authorization` is
/// the owner's `Authorization` header, for the calls an item makes on their behalf (PDFs).
pub async fn run_for(
    ctx: &Context,
    caller: &Caller,
    authorization: &str,
    job_id: &str,
    budget: Duration,
) -> Result<usize, Problem> {
    let started = Instant::now();
    let mut done = 0;
    while started.elapsed() < budget {
        match chunk(ctx, caller, authorization, job_id).await? {
            Chunk::Worked(n) => done += n,
            Chunk::Idle => break,
        }
    }
    Ok(done)
}

/// One chunk of the caller's job; 404 when the job is not theirs.
pub async fn chunk(ctx: &Context, caller: &Caller, authorization: &str, job_id: &str) -> Result<Chunk, Problem> {
    let db = &*ctx.db()?;
    let tx = Tx::begin(db)?;
    let rows = db.query(
        "SELECT operation, options, status FROM public.batch_jobs WHERE id = $1 AND user_id = $2",
        &[db::uuid(job_id), db::uuid(caller.user_id())],
    )?;
    let Some(job) = rows.first() else {
        return Err(Problem::not_found(format!("no batch job {job_id}")));
    };
    let operation = Operation::parse(&job.string("operation")?).ok_or_else(Problem::internal)?;
    let options = job.json("options")?.unwrap_or(Value::Null);
    match job.string("status")?.as_str() {
        "pending" | "running" => {}
        "cancelled" => {
            // Items a worker held (and then gave back) when the job was cancelled.
            db.execute(
                "UPDATE public.batch_job_items SET status = 'cancelled', processed_at = now()
                 WHERE (job_id, position) IN (SELECT job_id, position FROM public.batch_job_items
                                              WHERE job_id = $1 AND status = 'pending' FOR UPDATE SKIP LOCKED)",
                &[db::uuid(job_id)],
            )?;
            tx.commit()?;
            return Ok(Chunk::Idle);
        }
        _ => return Ok(Chunk::Idle),
    }
    let claimed = db.query(
        "SELECT position, item FROM public.batch_job_items
         WHERE job_id = $1 AND status = 'pending'
         ORDER BY position LIMIT $2 FOR UPDATE SKIP LOCKED",
        &[db::uuid(job_id), db::int(operation.chunk_size() as i64)],
    )?;
    let items: Vec<(i64, Value)> = claimed
        .iter()
        .map(|r| Ok((r.i64("position")?, r.json("item")?.unwrap_or(Value::Null))))
        .collect::<Result<_, shared::db::DbError>>()?;
    if items.is_empty() {
        // A job whose last items were finished by a worker that saw others still in flight.
        finish(&tx, job_id, 0, 0)?;
        tx.commit()?;
        return Ok(Chunk::Idle);
    }

    tx.user(&caller.claims_json)?;
    let mut outcomes = Vec::with_capacity(items.len());
    let (mut processed, mut failed) = (0, 0);
    for (position, item) in &items {
        db.execute("SAVEPOINT item", &[])?;
        let result = match operation {
            Operation::GeneratePdfs => ops::pdf(authorization, item.as_str().unwrap_or_default()).await,
            _ => ops::run(db, operation, &options, item),
        };
        match result {
            Ok(value) => {
                db.execute("RELEASE SAVEPOINT item", &[])?;
                processed += 1;
                outcomes.push(json!({ "position": position, "status": "processed", "error": null, "result": value }));
            }
            Err(ItemError::Failed(reason)) => {
                db.execute("ROLLBACK TO SAVEPOINT item", &[])?;
                failed += 1;
                outcomes.push(json!({ "position": position, "status": "failed", "error": reason, "result": null }));
            }
            Err(ItemError::Abort(e)) => return Err(e.into()), // the transaction rolls back on drop
        }
    }
    tx.service()?;
    db.execute(
        "UPDATE public.batch_job_items AS i
         SET status = u.status, error = u.error, result = u.result, processed_at = now()
         FROM jsonb_to_recordset($2) AS u(position integer, status text, error text, result jsonb)
         WHERE i.job_id = $1 AND i.position = u.position",
        &[db::uuid(job_id), Param::Jsonb(serde_json::to_vec(&outcomes).unwrap_or_default())],
    )?;
    finish(&tx, job_id, processed, failed)?;
    tx.commit()?;
    Ok(Chunk::Worked(items.len()))
}

/// Add this chunk's counts and complete the job when nothing is pending any more. The job
/// row is locked first, in its own statement: the UPDATE that follows then sees every chunk
/// committed before this one, so the last worker to finish always completes the job.
fn finish(tx: &Tx<'_>, job_id: &str, processed: i64, failed: i64) -> Result<(), shared::db::DbError> {
    let db = tx.db();
    db.query("SELECT 1 FROM public.batch_jobs WHERE id = $1 FOR UPDATE", &[db::uuid(job_id)])?;
    db.execute(
        "UPDATE public.batch_jobs j SET
             processed_items = j.processed_items + $2,
             failed_items = j.failed_items + $3,
             started_at = coalesce(j.started_at, now()),
             status = CASE
                 WHEN j.status NOT IN ('pending', 'running') THEN j.status
                 WHEN EXISTS (SELECT 1 FROM public.batch_job_items i WHERE i.job_id = j.id AND i.status = 'pending') THEN 'running'
                 WHEN j.processed_items + $2 = 0 THEN 'failed'
                 ELSE 'completed' END,
             completed_at = CASE
                 WHEN j.status IN ('pending', 'running')
                  AND NOT EXISTS (SELECT 1 FROM public.batch_job_items i WHERE i.job_id = j.id AND i.status = 'pending')
                 THEN now() ELSE j.completed_at END,
             error_message = CASE
                 WHEN j.status IN ('pending', 'running') AND j.processed_items + $2 = 0
                  AND NOT EXISTS (SELECT 1 FROM public.batch_job_items i WHERE i.job_id = j.id AND i.status = 'pending')
                 THEN 'every item failed' ELSE j.error_message END
         WHERE j.id = $1",
        &[db::uuid(job_id), Param::Int32(processed as i32), Param::Int32(failed as i32)],
    )?;
    Ok(())
}
