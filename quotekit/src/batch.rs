//! Durable bulk jobs over a user's quotes, clients and catalog items (SPEC "batch-processor"),
//! shared by batch-processor and quote-processor's `/batch`: one job model (`batch_jobs`, with
//! per-item rows in `batch_job_items`), one worker, one set of operations.
//!
//! - [`spec`]: what a job asks for, checked before anything is stored (400 listing every problem).
//! - [`jobs`]: create (entitlement `bulk_operations`, idempotency key, usage counted once per job),
//!   read, list, run, cancel — the HTTP handlers.
//! - [`worker`]: chunk by chunk, claimed with `FOR UPDATE SKIP LOCKED`, each chunk one transaction.
//! - [`ops`]: the work on one item, as the user (RLS applies).
//! - [`export`]: the CSV / JSON / PDF downloads.
//!
//! quote-processor's `/batch` maps its body onto a [`spec::JobSpec`] (`status_update` →
//! `update_quote_status`, `bulk_delete` → `delete_quotes`, `bulk_export` → `export_quotes`) and
//! calls [`jobs::submit`].

pub mod export;
pub mod jobs;
pub mod ops;
pub mod spec;
mod tx;
pub mod worker;
