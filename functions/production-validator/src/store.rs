//! Reports in `production_validation_reports` with their checks in
//! `production_validation_checks` (migration 0007), written in one transaction as the
//! service role; listed newest first.

use crate::check::Check;
use crate::report::Summary;
use crate::routes::ListQuery;
use crate::validation_type::ValidationType;
use serde_json::{json, Value};
use shared::auth::Caller;
use shared::db::{self, Db, DbError, Param};
use shared::Problem;

pub struct Stored {
    pub id: String,
    pub created_at: String,
    pub requested_by: Option<String>,
    pub requested_role: String,
}

const INSERT_REPORT: &str = "
INSERT INTO public.production_validation_reports
  (validation_type, overall_status, overall_score, deployment_ready, estimated_risk,
   total_checks, passed_checks, warning_checks, failed_checks, skipped_checks,
   category_scores, recommendations, execution_time_ms, requested_by, requested_role,
   region, deployment_color, component_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13, $14::uuid, $15, $16, $17, $18)
RETURNING id::text AS id, created_at";

const INSERT_CHECKS: &str = "
INSERT INTO public.production_validation_checks
  (report_id, position, category, name, subject, status, severity, message, evidence, duration_ms)
SELECT $1::uuid, c.position, c.category, c.name, c.subject, c.status, c.severity, c.message,
       coalesce(c.evidence, '{}'::jsonb), c.duration_ms
FROM jsonb_to_recordset($2::jsonb) AS c(position int, category text, name text, subject text, status text,
                                        severity text, message text, evidence jsonb, duration_ms float8)";

fn jsonb(v: &Value) -> Param {
    Param::Jsonb(serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec()))
}

pub fn save(
    db: &Db,
    caller: &Caller,
    kind: ValidationType,
    summary: &Summary,
    checks: &[Check],
    execution_ms: f64,
) -> Result<Stored, Problem> {
    let requested_by = (!caller.is_service_role()).then(|| caller.user_id().to_string());
    let role = caller.claims.role.clone();
    let rows: Vec<Value> = checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut v = c.to_json();
            v["position"] = json!(i);
            v
        })
        .collect();
    let (id, created_at) = db.as_service(|db| -> Result<(String, String), DbError> {
        let r = db.query(
            INSERT_REPORT,
            &[
                db::text(kind.as_str()),
                db::text(summary.status.as_str()),
                summary.score.map(|s| Param::Int32(s as i32)).unwrap_or(Param::DbNull),
                Param::Boolean(summary.deployment_ready),
                db::text(summary.risk),
                Param::Int32(summary.counts.total as i32),
                Param::Int32(summary.counts.passed as i32),
                Param::Int32(summary.counts.warnings as i32),
                Param::Int32(summary.counts.failed as i32),
                Param::Int32(summary.counts.skipped as i32),
                jsonb(&summary.category_scores),
                jsonb(&Value::Array(summary.recommendations.clone())),
                Param::Floating64(execution_ms),
                requested_by.as_deref().map(db::uuid).unwrap_or(Param::DbNull),
                db::text(role.clone()),
                db::text(shared::settings::current().region()),
                db::text(shared::settings::current().deployment_color()),
                db::text(env!("CARGO_PKG_VERSION")),
            ],
        )?;
        let row = r.one()?;
        let id = row.string("id")?;
        let created_at = row.timestamp("created_at")?.unwrap_or_default();
        db.execute(INSERT_CHECKS, &[Param::Uuid(id.clone()), jsonb(&Value::Array(rows))])?;
        Ok((id, created_at))
    })?;
    Ok(Stored { id, created_at, requested_by, requested_role: role })
}

pub fn report_json(stored: &Stored, kind: &str, s: &Summary, checks: &[Check], execution_ms: f64) -> Value {
    json!({
        "report_id": stored.id,
        "validation_type": kind,
        "overall_status": s.status.as_str(),
        "overall_score": s.score,
        "deployment_ready": s.deployment_ready,
        "estimated_risk": s.risk,
        "summary": {
            "total": s.counts.total,
            "passed": s.counts.passed,
            "warnings": s.counts.warnings,
            "failed": s.counts.failed,
            "skipped": s.counts.skipped,
        },
        "category_scores": s.category_scores,
        "recommendations": s.recommendations,
        "checks": checks.iter().map(Check::to_json).collect::<Vec<_>>(),
        "execution_time_ms": (execution_ms * 100.0).round() / 100.0,
        "requested_by": stored.requested_by,
        "requested_role": stored.requested_role,
        "created_at": stored.created_at,
    })
}

const REPORT_COLUMNS: &str =
    "r.id::text AS id, r.validation_type, r.overall_status, r.overall_score, r.deployment_ready,
  r.estimated_risk, r.total_checks, r.passed_checks, r.warning_checks, r.failed_checks, r.skipped_checks,
  r.category_scores, r.recommendations, r.execution_time_ms, r.requested_by::text AS requested_by,
  r.requested_role, r.region, r.deployment_color, r.component_version, r.created_at";

fn summary_of(r: &shared::db::Row<'_>) -> Result<Value, DbError> {
    Ok(json!({
        "report_id": r.string("id")?,
        "validation_type": r.string("validation_type")?,
        "overall_status": r.string("overall_status")?,
        "overall_score": r.int("overall_score")?,
        "deployment_ready": r.flag("deployment_ready")?,
        "estimated_risk": r.string("estimated_risk")?,
        "summary": {
            "total": r.i64("total_checks")?,
            "passed": r.i64("passed_checks")?,
            "warnings": r.i64("warning_checks")?,
            "failed": r.i64("failed_checks")?,
            "skipped": r.i64("skipped_checks")?,
        },
        "category_scores": r.json("category_scores")?,
        "recommendations": r.json("recommendations")?,
        "execution_time_ms": r.float("execution_time_ms")?,
        "requested_by": r.text("requested_by")?,
        "requested_role": r.string("requested_role")?,
        "region": r.text("region")?,
        "deployment_color": r.text("deployment_color")?,
        "component_version": r.text("component_version")?,
        "created_at": r.timestamp("created_at")?,
    }))
}

pub fn list(db: &Db, q: &ListQuery) -> Result<Value, Problem> {
    let filter = q.validation_type.map(db::text).unwrap_or(Param::DbNull);
    db.as_service(|db| -> Result<Value, DbError> {
        let rows = db.query(
            &format!(
                "SELECT {REPORT_COLUMNS} FROM public.production_validation_reports r
                 WHERE $1::text IS NULL OR r.validation_type = $1
                 ORDER BY r.created_at DESC, r.id LIMIT $2 OFFSET $3"
            ),
            &[filter.clone(), Param::Int64(q.limit), Param::Int64(q.offset)],
        )?;
        let total = db.query(
            "SELECT count(*) AS n FROM public.production_validation_reports r WHERE $1::text IS NULL OR r.validation_type = $1",
            std::slice::from_ref(&filter),
        )?;
        let reports = rows.iter().map(|r| summary_of(&r)).collect::<Result<Vec<_>, _>>()?;
        Ok(json!({
            "total": total.one()?.i64("n")?,
            "limit": q.limit,
            "offset": q.offset,
            "validation_type": q.validation_type,
            "reports": reports,
        }))
    })
    .map_err(Problem::from)
}

pub fn get(db: &Db, id: &str) -> Result<Value, Problem> {
    let found = db.as_service(|db| -> Result<Option<Value>, DbError> {
        let rows = db.query(
            &format!("SELECT {REPORT_COLUMNS} FROM public.production_validation_reports r WHERE r.id = $1::uuid"),
            &[db::uuid(id)],
        )?;
        let Some(r) = rows.first() else { return Ok(None) };
        let mut report = summary_of(&r)?;
        let checks = db.query(
            "SELECT category, name, subject, status, severity, message, evidence, duration_ms
             FROM public.production_validation_checks WHERE report_id = $1::uuid ORDER BY position",
            &[db::uuid(id)],
        )?;
        report["checks"] = checks
            .iter()
            .map(|c| {
                Ok(json!({
                    "category": c.string("category")?,
                    "name": c.string("name")?,
                    "subject": c.text("subject")?,
                    "status": c.string("status")?,
                    "severity": c.string("severity")?,
                    "message": c.string("message")?,
                    "evidence": c.json("evidence")?,
                    "duration_ms": c.float("duration_ms")?,
                }))
            })
            .collect::<Result<Vec<_>, DbError>>()?
            .into();
        Ok(Some(report))
    })?;
    found.ok_or_else(|| Problem::not_found(format!("no validation report {id}")))
}
