//! `GET /dashboard[?hours=24][&bucket_minutes=][&days=30]` (also the bare path): component
//! health, open alerts, request figures over the window (overall, per function, and per time
//! bucket for the charts) and business figures. Every number is read from rows in this call.
//!
//! Definitions: an error is a 5xx answer; percentiles are nearest-rank (`percentile_disc`);
//! MRR is Σ unit_amount × quantity of active subscriptions on recurring prices, normalised to
//! a month (year ÷ 12, week × 52 ÷ 12, day × 365 ÷ 12, divided by interval_count) and rounded
//! to minor units per currency; acceptance rate is accepted (or converted) quotes over quotes
//! that left draft, among quotes created in the last `days` days (templates excluded).

use crate::alerts;
use crate::components;
use crate::display::round2;
use serde_json::{json, Value};
use shared::db::{Db, DbError, Param};
use shared::params::Params;
use shared::{Problem, Request};

const WINDOW_SQL: &str = "
SELECT count(*) AS requests, count(*) FILTER (WHERE status >= 500) AS errors,
       avg(duration_ms) AS avg_ms,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
       percentile_disc(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms
FROM public.performance_metrics WHERE created_at >= now() - make_interval(hours => $1::int) AND deployment_color <> 'forwarded'";

const PER_FUNCTION_SQL: &str = "
SELECT function_name, count(*) AS requests, count(*) FILTER (WHERE status >= 500) AS errors,
       avg(duration_ms) AS avg_ms,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
       percentile_disc(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms
FROM public.performance_metrics WHERE created_at >= now() - make_interval(hours => $1::int) AND deployment_color <> 'forwarded'
GROUP BY function_name ORDER BY function_name";

const SERIES_SQL: &str = "
SELECT date_bin(make_interval(mins => $2::int), created_at, timestamptz '2000-01-01 00:00:00+00') AS bucket,
       count(*) AS requests, count(*) FILTER (WHERE status >= 500) AS errors,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms
FROM public.performance_metrics WHERE created_at >= now() - make_interval(hours => $1::int) AND deployment_color <> 'forwarded'
GROUP BY 1 ORDER BY 1";

const BY_FUNCTION_SQL: &str = "
SELECT date_bin(make_interval(mins => $2::int), created_at, timestamptz '2000-01-01 00:00:00+00') AS bucket,
       function_name, count(*) AS requests
FROM public.performance_metrics WHERE created_at >= now() - make_interval(hours => $1::int) AND deployment_color <> 'forwarded'
GROUP BY 1, 2 ORDER BY 1, 2";

const SUBSCRIPTIONS_SQL: &str = "
SELECT count(*) FILTER (WHERE s.status IN ('active', 'trialing')) AS active,
       count(*) FILTER (WHERE s.status = 'trialing') AS trialing,
       count(*) FILTER (WHERE s.status = 'active' AND coalesce(p.unit_amount, 0) > 0) AS paying
FROM public.subscriptions s LEFT JOIN public.stripe_prices p ON p.id = s.stripe_price_id";

const MRR_SQL: &str = "
SELECT p.currency,
       round(sum(p.unit_amount::numeric * s.quantity *
                 CASE p.\"interval\" WHEN 'month' THEN 1::numeric WHEN 'year' THEN 1::numeric / 12
                                     WHEN 'week' THEN 52::numeric / 12 WHEN 'day' THEN 365::numeric / 12 END
                 / p.interval_count))::int8 AS mrr_minor,
       count(*) AS subscriptions
FROM public.subscriptions s JOIN public.stripe_prices p ON p.id = s.stripe_price_id
WHERE s.status = 'active' AND p.type = 'recurring' AND p.unit_amount IS NOT NULL AND p.\"interval\" IS NOT NULL
GROUP BY p.currency ORDER BY p.currency";

const QUOTES_SQL: &str = "
SELECT count(*) AS created,
       count(*) FILTER (WHERE status <> 'draft') AS sent,
       count(*) FILTER (WHERE status IN ('accepted', 'converted')) AS accepted
FROM public.quotes WHERE NOT is_template AND created_at >= now() - make_interval(days => $1::int)";

fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| round2(100.0 * part as f64 / whole as f64))
}

fn figures(r: &shared::db::Row) -> Result<Value, DbError> {
    let requests = r.i64("requests")?;
    let errors = r.i64("errors")?;
    Ok(json!({
        "requests": requests,
        "errors": errors,
        "error_rate": rate(errors, requests),
        "avg_ms": r.float("avg_ms")?.map(round2),
        "p50_ms": r.float("p50_ms")?.map(round2),
        "p95_ms": r.float("p95_ms")?.map(round2),
        "p99_ms": r.float("p99_ms")?.map(round2),
    }))
}

pub struct Window {
    pub hours: i32,
    pub bucket_minutes: i32,
    pub days: i32,
}

pub fn window(req: &Request) -> Result<Window, Problem> {
    let mut p = Params::from_query(req);
    let hours = p.int("hours", 24, 1..=168) as i32;
    let default_bucket = (hours as i64 * 60 / 24).max(5);
    let bucket_minutes = p.int("bucket_minutes", default_bucket, 1..=1440) as i32;
    let days = p.int("days", 30, 1..=365) as i32;
    p.finish()?;
    if hours as i64 * 60 / bucket_minutes as i64 > 2000 {
        return Err(Problem::validation(vec![shared::FieldError::new(
            "bucket_minutes",
            "too_many_buckets",
            "hours × 60 / bucket_minutes must be at most 2000",
        )]));
    }
    Ok(Window { hours, bucket_minutes, days })
}

pub fn get(db: &Db, req: &Request) -> Result<Value, Problem> {
    let w = window(req)?;
    let components = components::all(db);
    let overall = components::overall(&components);
    let data = db.as_service(|db| -> Result<Value, DbError> {
        let h = Param::Int32(w.hours);
        let b = Param::Int32(w.bucket_minutes);
        let now = db.query("SELECT now() AS now", &[])?.one()?.timestamp("now")?;
        let total = figures(&db.query(WINDOW_SQL, std::slice::from_ref(&h))?.one()?)?;
        let mut per_function = Vec::new();
        for r in db.query(PER_FUNCTION_SQL, std::slice::from_ref(&h))?.iter() {
            let mut f = figures(&r)?;
            f["function"] = json!(r.string("function_name")?);
            per_function.push(f);
        }
        let mut series = Vec::new();
        for r in db.query(SERIES_SQL, &[h.clone(), b.clone()])?.iter() {
            let (requests, errors) = (r.i64("requests")?, r.i64("errors")?);
            series.push(json!({
                "bucket_start": r.timestamp("bucket")?,
                "requests": requests,
                "errors": errors,
                "error_rate": rate(errors, requests),
                "p50_ms": r.float("p50_ms")?.map(round2),
                "p95_ms": r.float("p95_ms")?.map(round2),
            }));
        }
        let mut by_function = Vec::new();
        for r in db.query(BY_FUNCTION_SQL, &[h, b])?.iter() {
            by_function.push(json!({
                "bucket_start": r.timestamp("bucket")?,
                "function": r.string("function_name")?,
                "requests": r.i64("requests")?,
            }));
        }
        let counts = db.query(
            "SELECT severity, count(*) AS n FROM public.alerts WHERE status IN ('active', 'acknowledged') GROUP BY severity",
            &[],
        )?;
        let mut by_severity = json!({ "critical": 0, "error": 0, "warning": 0, "info": 0 });
        let mut open_total = 0;
        for r in counts.iter() {
            let n = r.i64("n")?;
            open_total += n;
            by_severity[r.string("severity")?] = json!(n);
        }
        let open: Vec<Value> = db
            .query(
                "SELECT id::text AS id, rule_key, severity, category, title, message, metric, operator, threshold,
                        metric_value, last_value, sample_count, status, dedup_key, triggered_at, last_evaluated_at,
                        acknowledged_at, acknowledged_by, resolved_at, resolved_by, resolution_notes, auto_resolved,
                        suppressed_at, suppressed_by, suppression_reason
                 FROM public.alerts WHERE status IN ('active', 'acknowledged')
                 ORDER BY array_position(ARRAY['critical', 'error', 'warning', 'info'], severity), triggered_at DESC
                 LIMIT 20",
                &[],
            )?
            .iter()
            .map(|r| alerts::to_json(&r))
            .collect::<Result<_, _>>()?;
        let subs = db.query(SUBSCRIPTIONS_SQL, &[])?;
        let subs = subs.one()?;
        let mut mrr = Vec::new();
        for r in db.query(MRR_SQL, &[])?.iter() {
            mrr.push(json!({
                "currency": r.string("currency")?,
                "mrr_minor": r.i64("mrr_minor")?,
                "subscriptions": r.i64("subscriptions")?,
            }));
        }
        let quotes = db.query(QUOTES_SQL, &[Param::Int32(w.days)])?;
        let quotes = quotes.one()?;
        let (sent, accepted) = (quotes.i64("sent")?, quotes.i64("accepted")?);
        Ok(json!({
            "generated_at": now,
            "window": { "hours": w.hours, "bucket_minutes": w.bucket_minutes, "business_days": w.days },
            "alerts": { "open": open_total, "by_severity": by_severity, "list": open },
            "performance": total,
            "per_function": per_function,
            "series": series,
            "requests_by_function": by_function,
            "business": {
                "active_subscriptions": subs.i64("active")?,
                "trialing_subscriptions": subs.i64("trialing")?,
                "paying_subscriptions": subs.i64("paying")?,
                "mrr": mrr,
                "quotes_created": quotes.i64("created")?,
                "quotes_sent": sent,
                "quotes_accepted": accepted,
                "acceptance_rate": rate(accepted, sent),
            },
        }))
    })?;
    let mut data = data;
    data["health"] = json!({ "status": overall, "components": components });
    Ok(data)
}
