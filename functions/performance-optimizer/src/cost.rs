//! `GET|POST /cost_report?days=30`: daily `cost_metrics` rows computed from
//! `performance_metrics` (invocations, duration, response bytes; a day the retention rolled up,
//! from `performance_metrics_daily`) and the unit prices in
//! `cost_settings`, then a monthly estimate against the configured baseline, in the shape of
//! the deployment guide's cost table (edge functions, database, bandwidth, monitoring).
//!
//! All money is PostgreSQL `numeric` (never a float) and answered as decimal strings:
//! - invocations: count × price per million / 1,000,000;
//! - compute: Σ duration (s) × memory (MiB / 1024 = GB) × price per GB-second;
//! - bandwidth: Σ response bytes / 10⁹ (GB) × price per GB;
//!
//! each rounded to 6 decimals (a millionth of a dollar), the day's total their sum.
//!
//! Days are UTC. Every day of the window gets its row (0 on a day without requests); today's
//! is `complete = false`. The monthly estimate is 30 × the average cost of the complete days
//! from the first day with requests to yesterday; with no complete day it is not estimated.
//! `GET|PUT /cost_report/settings` reads and changes the unit prices (validated).

use crate::params::Params;
use serde_json::{json, Value};
use shared::db::{self, Db, DbError, Param};
use shared::Problem;

pub const DAYS_IN_MONTH: i32 = 30;

const UPSERT_SQL: &str = "
WITH s AS (SELECT * FROM public.cost_settings WHERE id),
days AS (
  SELECT d::date AS day
  FROM generate_series((now() AT TIME ZONE 'UTC')::date - ($1::int - 1), (now() AT TIME ZONE 'UTC')::date, interval '1 day') d
),
raw AS (
  SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
         count(*) AS invocations,
         count(*) FILTER (WHERE status >= 500) AS server_errors,
         coalesce(sum(duration_ms), 0) AS duration_ms,
         coalesce(sum(response_bytes), 0)::numeric AS bytes,
         count(*) FILTER (WHERE response_bytes IS NULL) AS unmeasured
  FROM public.performance_metrics
  WHERE created_at >= (((now() AT TIME ZONE 'UTC')::date - ($1::int - 1))::timestamp AT TIME ZONE 'UTC')
  GROUP BY 1
),
rolled AS (
  SELECT metric_date AS day, sum(requests) AS invocations, sum(server_errors) AS server_errors,
         sum(duration_ms_total) AS duration_ms, sum(response_bytes)::numeric AS bytes,
         sum(unmeasured_bytes_rows) AS unmeasured
  FROM public.performance_metrics_daily
  WHERE metric_date >= (now() AT TIME ZONE 'UTC')::date - ($1::int - 1)
  GROUP BY 1
),
m AS (
  SELECT day, sum(invocations)::int8 AS invocations, sum(server_errors)::int8 AS server_errors,
         sum(duration_ms) AS duration_ms, sum(bytes) AS bytes, sum(unmeasured)::int8 AS unmeasured
  FROM (SELECT * FROM raw UNION ALL SELECT * FROM rolled) both_sources
  GROUP BY day
),
c AS (
  SELECT days.day,
         coalesce(m.invocations, 0) AS invocations,
         coalesce(m.server_errors, 0) AS server_errors,
         coalesce(m.duration_ms, 0) AS duration_ms,
         coalesce(m.duration_ms, 0)::numeric / 1000 * s.memory_mb / 1024 AS gb_seconds,
         coalesce(m.bytes, 0) AS bytes,
         coalesce(m.unmeasured, 0) AS unmeasured,
         s.*
  FROM days CROSS JOIN s LEFT JOIN m ON m.day = days.day
),
priced AS (
  SELECT c.*,
         round(c.invocations * c.price_per_million_invocations / 1000000, 6) AS invocation_cost,
         round(c.gb_seconds * c.price_per_gb_second, 6) AS compute_cost,
         round(c.bytes / 1000000000 * c.price_per_gb_egress, 6) AS bandwidth_cost
  FROM c
)
INSERT INTO public.cost_metrics AS t
  (metric_date, edge_function_invocations, server_errors, duration_ms_total, compute_gb_seconds, egress_bytes,
   bandwidth_usage_gb, unmeasured_egress_rows, invocation_cost, compute_cost, bandwidth_cost, estimated_daily_cost,
   unit_prices, complete, computed_at)
SELECT day, invocations, server_errors, duration_ms, round(gb_seconds, 6), bytes::int8, round(bytes / 1000000000, 9),
       unmeasured, invocation_cost, compute_cost, bandwidth_cost, invocation_cost + compute_cost + bandwidth_cost,
       jsonb_build_object('currency', currency,
                          'price_per_million_invocations', price_per_million_invocations::text,
                          'price_per_gb_second', price_per_gb_second::text,
                          'memory_mb', memory_mb,
                          'price_per_gb_egress', price_per_gb_egress::text),
       day < (now() AT TIME ZONE 'UTC')::date, now()
FROM priced
ON CONFLICT (metric_date) DO UPDATE SET
  edge_function_invocations = EXCLUDED.edge_function_invocations,
  server_errors = EXCLUDED.server_errors,
  duration_ms_total = EXCLUDED.duration_ms_total,
  compute_gb_seconds = EXCLUDED.compute_gb_seconds,
  egress_bytes = EXCLUDED.egress_bytes,
  bandwidth_usage_gb = EXCLUDED.bandwidth_usage_gb,
  unmeasured_egress_rows = EXCLUDED.unmeasured_egress_rows,
  invocation_cost = EXCLUDED.invocation_cost,
  compute_cost = EXCLUDED.compute_cost,
  bandwidth_cost = EXCLUDED.bandwidth_cost,
  estimated_daily_cost = EXCLUDED.estimated_daily_cost,
  unit_prices = EXCLUDED.unit_prices,
  complete = EXCLUDED.complete,
  computed_at = EXCLUDED.computed_at";

const DAYS_SQL: &str = "
SELECT metric_date, edge_function_invocations, server_errors, duration_ms_total, compute_gb_seconds::text AS gb_seconds,
       egress_bytes, bandwidth_usage_gb::text AS bandwidth_gb, unmeasured_egress_rows,
       invocation_cost::text AS invocation_cost, compute_cost::text AS compute_cost,
       bandwidth_cost::text AS bandwidth_cost, estimated_daily_cost::text AS daily_cost, complete
FROM public.cost_metrics
WHERE metric_date >= (now() AT TIME ZONE 'UTC')::date - ($1::int - 1)
ORDER BY metric_date DESC";

/// The monthly estimate in numeric arithmetic: the complete days from the first with requests.
const ESTIMATE_SQL: &str = "
WITH s AS (SELECT * FROM public.cost_settings WHERE id),
w AS (
  SELECT * FROM public.cost_metrics
  WHERE complete AND metric_date >= (now() AT TIME ZONE 'UTC')::date - ($1::int - 1)
),
observed AS (
  SELECT * FROM w WHERE metric_date >= (SELECT min(metric_date) FROM w WHERE edge_function_invocations > 0)
),
avg_day AS (
  SELECT count(*) AS days,
         sum(invocation_cost + compute_cost) / nullif(count(*), 0) AS functions,
         sum(bandwidth_cost) / nullif(count(*), 0) AS bandwidth,
         sum(edge_function_invocations)::int8 AS invocations
  FROM observed
),
est AS (
  SELECT a.days, a.invocations,
         round(a.functions * $2::int, 2) AS functions,
         round(a.bandwidth * $2::int, 2) AS bandwidth,
         s.database_monthly, s.monitoring_monthly, s.baseline_monthly_low, s.baseline_monthly_high, s.currency
  FROM avg_day a CROSS JOIN s
)
SELECT days, invocations, currency,
       functions::text AS functions, bandwidth::text AS bandwidth,
       database_monthly::text AS database, monitoring_monthly::text AS monitoring,
       (functions + bandwidth + database_monthly + monitoring_monthly)::text AS total,
       baseline_monthly_low::text AS baseline_low, baseline_monthly_high::text AS baseline_high,
       round(100 * (baseline_monthly_low - (functions + bandwidth + database_monthly + monitoring_monthly))
             / nullif(baseline_monthly_low, 0), 1)::text AS reduction_vs_low,
       round(100 * (baseline_monthly_high - (functions + bandwidth + database_monthly + monitoring_monthly))
             / nullif(baseline_monthly_high, 0), 1)::text AS reduction_vs_high
FROM est";

const SETTINGS_SQL: &str = "
SELECT currency, price_per_million_invocations::text AS price_per_million_invocations,
       price_per_gb_second::text AS price_per_gb_second, memory_mb,
       price_per_gb_egress::text AS price_per_gb_egress, database_monthly::text AS database_monthly,
       monitoring_monthly::text AS monitoring_monthly, baseline_monthly_low::text AS baseline_monthly_low,
       baseline_monthly_high::text AS baseline_monthly_high, updated_at, updated_by
FROM public.cost_settings WHERE id";

fn missing_settings() -> Problem {
    Problem::new(409, "cost_settings_missing", "No unit prices are configured")
        .detail("the cost_settings row is missing; migration 0004 seeds it (INSERT INTO cost_settings ...)")
}

fn settings_json(db: &Db) -> Result<Option<Value>, DbError> {
    let rows = db.query(SETTINGS_SQL, &[])?;
    let Some(r) = rows.first() else { return Ok(None) };
    Ok(Some(json!({
        "currency": r.string("currency")?,
        "price_per_million_invocations": r.string("price_per_million_invocations")?,
        "price_per_gb_second": r.string("price_per_gb_second")?,
        "memory_mb": r.i64("memory_mb")?,
        "price_per_gb_egress": r.string("price_per_gb_egress")?,
        "database_monthly": r.string("database_monthly")?,
        "monitoring_monthly": r.string("monitoring_monthly")?,
        "baseline_monthly_low": r.string("baseline_monthly_low")?,
        "baseline_monthly_high": r.string("baseline_monthly_high")?,
        "updated_at": r.timestamp("updated_at")?,
        "updated_by": r.text("updated_by")?,
    })))
}

pub fn report(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let days = params.int("days", 30, 1..=366) as i32;
    params.finish()?;
    db.as_service(|db| -> Result<Value, Problem> {
        let settings = settings_json(db)?.ok_or_else(missing_settings)?;
        db.execute(UPSERT_SQL, &[Param::Int32(days)])?;
        let rows = db.query(DAYS_SQL, &[Param::Int32(days)])?;
        let daily = rows
            .iter()
            .map(|r| -> Result<Value, DbError> {
                Ok(json!({
                    "metric_date": r.timestamp("metric_date")?,
                    "invocations": r.i64("edge_function_invocations")?,
                    "server_errors": r.i64("server_errors")?,
                    "duration_ms_total": r.float("duration_ms_total")?,
                    "compute_gb_seconds": r.string("gb_seconds")?,
                    "egress_bytes": r.i64("egress_bytes")?,
                    "bandwidth_gb": r.string("bandwidth_gb")?,
                    "unmeasured_egress_rows": r.i64("unmeasured_egress_rows")?,
                    "invocation_cost": r.string("invocation_cost")?,
                    "compute_cost": r.string("compute_cost")?,
                    "bandwidth_cost": r.string("bandwidth_cost")?,
                    "estimated_daily_cost": r.string("daily_cost")?,
                    "complete": r.flag("complete")?,
                }))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let est = db.query(ESTIMATE_SQL, &[Param::Int32(days), Param::Int32(DAYS_IN_MONTH)])?;
        let e = est.one()?;
        let observed = e.i64("days")?;
        let monthly = if observed == 0 {
            json!({
                "estimated": false,
                "reason": "no complete day with requests in the window yet (today is still counting)",
            })
        } else {
            json!({
                "estimated": true,
                "currency": e.string("currency")?,
                "based_on_days": observed,
                "invocations_in_those_days": e.i64("invocations")?,
                "method": format!("{DAYS_IN_MONTH} × the average cost of the complete days since the first day with requests"),
                "breakdown": {
                    "edge_functions": e.string("functions")?,
                    "database": e.string("database")?,
                    "bandwidth": e.string("bandwidth")?,
                    "monitoring": e.string("monitoring")?,
                },
                "total": e.string("total")?,
                "baseline": {
                    "low": e.string("baseline_low")?,
                    "high": e.string("baseline_high")?,
                    "reduction_percent_vs_low": e.text("reduction_vs_low")?,
                    "reduction_percent_vs_high": e.text("reduction_vs_high")?,
                },
            })
        };
        Ok(json!({
            "days": days,
            "unit_prices": settings,
            "daily": daily,
            "monthly_estimate": monthly,
        }))
    })
}

pub fn settings(db: &Db) -> Result<Value, Problem> {
    db.as_service(|db| -> Result<Value, Problem> { settings_json(db)?.ok_or_else(missing_settings) })
}

/// The settings a PUT may change, with the decimals each allows.
const DECIMALS: [(&str, usize); 7] = [
    ("price_per_million_invocations", 6),
    ("price_per_gb_second", 10),
    ("price_per_gb_egress", 6),
    ("database_monthly", 2),
    ("monitoring_monthly", 2),
    ("baseline_monthly_low", 2),
    ("baseline_monthly_high", 2),
];

/// `PUT|PATCH /cost_report/settings`: any subset of the prices (decimal strings or plain
/// numbers), `memory_mb` (1–65536) and `currency` (ISO 4217 letters); every error at once.
pub fn update(db: &Db, who: &str, mut params: Params) -> Result<Value, Problem> {
    let mut known: Vec<&str> = DECIMALS.iter().map(|(n, _)| *n).collect();
    known.extend(["memory_mb", "currency"]);
    params.reject_unknown(&known);
    let values: Vec<(&str, Option<String>)> =
        DECIMALS.iter().map(|(n, scale)| (*n, params.decimal(n, *scale))).collect();
    let memory = params.int("memory_mb", -1, 1..=65536);
    let currency = params.text("currency", 3);
    params.finish()?;
    if let Some(c) = &currency {
        if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
            return Err(Problem::validation(vec![shared::FieldError::new(
                "currency",
                "invalid_value",
                "currency must be three capital letters (ISO 4217)",
            )]));
        }
    }
    db.as_service(|db| -> Result<Value, Problem> {
        let v = |name: &str| values.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.clone());
        let opt = |name: &str| v(name).map(db::text).unwrap_or(Param::DbNull);
        let result = db.execute(
            "UPDATE public.cost_settings SET
               price_per_million_invocations = coalesce($1::text::numeric, price_per_million_invocations),
               price_per_gb_second = coalesce($2::text::numeric, price_per_gb_second),
               price_per_gb_egress = coalesce($3::text::numeric, price_per_gb_egress),
               database_monthly = coalesce($4::text::numeric, database_monthly),
               monitoring_monthly = coalesce($5::text::numeric, monitoring_monthly),
               baseline_monthly_low = coalesce($6::text::numeric, baseline_monthly_low),
               baseline_monthly_high = coalesce($7::text::numeric, baseline_monthly_high),
               memory_mb = coalesce($8::int, memory_mb),
               currency = coalesce($9::text, currency),
               updated_at = now(), updated_by = $10
             WHERE id",
            &[
                opt("price_per_million_invocations"),
                opt("price_per_gb_second"),
                opt("price_per_gb_egress"),
                opt("database_monthly"),
                opt("monitoring_monthly"),
                opt("baseline_monthly_low"),
                opt("baseline_monthly_high"),
                if memory > 0 { Param::Int32(memory as i32) } else { Param::DbNull },
                db::opt_text(currency.clone()),
                db::text(who),
            ],
        );
        match result {
            Ok(0) => return Err(missing_settings()),
            Ok(_) => {}
            // A CHECK the row as a whole must meet (the baseline's high below its low).
            Err(e) if e.sqlstate() == Some("23514") => {
                return Err(Problem::validation(vec![shared::FieldError::new(
                    "baseline_monthly_high",
                    "out_of_range",
                    "baseline_monthly_high must be at least baseline_monthly_low",
                )]))
            }
            Err(e) => return Err(e.into()),
        }
        settings_json(db)?.ok_or_else(missing_settings)
    })
}
