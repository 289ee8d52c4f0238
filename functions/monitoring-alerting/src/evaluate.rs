//! `POST /evaluate[?force=true]`: every enabled rule whose evaluation interval has passed
//! (every enabled rule with `force`) is evaluated over its window in one statement, its
//! decision applied in one transaction (open at most one alert per rule, honour cooldown,
//! resolve when the condition clears), then notifications go out and are recorded.
//!
//! Conditions must last: a rule needs `min_samples` in its window for a verdict and
//! `min_events` of what its figure counts for its condition to hold, and an open alert is
//! notified once (PagerDuty: one incident, one `dedup_key`, for the episode). Security incidents
//! answered `alert_admin` reach the administrators the same way, through the
//! `security_alert_admin` rule, never one message per request.

use crate::condition::{self, Decision, Open};
use crate::display::round2;
use crate::notify::{self, Event, Message};
use crate::security_incidents;
use serde_json::{json, Value};
use shared::db::{self, Db, DbError, Param};
use shared::params::Params;
use shared::{Problem, Request};
use std::time::Instant;

fn opt_uuid(id: &Option<String>) -> Param {
    id.as_deref().map(db::uuid).unwrap_or(Param::DbNull)
}

/// One rule with its figure over its window, its open alert and its cooldown state.
const RULES_SQL: &str = "
SELECT r.id::text AS id, r.rule_id, r.name, r.category, r.severity, r.metric, r.operator, r.threshold,
       r.window_minutes, r.min_samples::int8 AS min_samples, r.min_events::int8 AS min_events, r.function_name,
       r.notification_channels, m.samples, m.events, m.value,
       o.id::text AS open_id, o.status AS open_status, o.dedup_key AS open_dedup_key,
       coalesce((SELECT max(coalesce(a.resolved_at, a.triggered_at)) FROM public.alerts a WHERE a.rule_id = r.id)
                  > now() - make_interval(mins => r.cooldown_minutes), false) AS in_cooldown
FROM public.alert_rules r
CROSS JOIN LATERAL public.alert_metric_figure(r.metric, r.window_minutes, r.function_name) m
LEFT JOIN public.alerts o ON o.rule_id = r.id AND o.status IN ('active', 'acknowledged', 'suppressed')
WHERE r.enabled
  AND ($1 OR r.last_evaluated_at IS NULL
       OR r.last_evaluated_at <= now() - make_interval(mins => r.evaluation_interval_minutes) + interval '5 seconds')
ORDER BY r.rule_id";

struct Rule {
    id: String,
    rule_id: String,
    name: String,
    category: String,
    severity: String,
    metric: String,
    operator: String,
    threshold: f64,
    window_minutes: i64,
    min_samples: i64,
    min_events: i64,
    function_name: Option<String>,
    channels: Vec<String>,
    samples: i64,
    events: i64,
    value: Option<f64>,
    open_id: Option<String>,
    open_status: Option<String>,
    open_dedup_key: Option<String>,
    in_cooldown: bool,
}

fn load(db: &Db, force: bool) -> Result<Vec<Rule>, DbError> {
    let rows = db.query(RULES_SQL, &[Param::Boolean(force)])?;
    rows.iter()
        .map(|r| {
            let channels = r
                .json("notification_channels")?
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect();
            Ok(Rule {
                id: r.string("id")?,
                rule_id: r.string("rule_id")?,
                name: r.string("name")?,
                category: r.string("category")?,
                severity: r.string("severity")?,
                metric: r.string("metric")?,
                operator: r.string("operator")?,
                threshold: r.float("threshold")?.unwrap_or(0.0),
                window_minutes: r.i64("window_minutes")?,
                min_samples: r.i64("min_samples")?,
                min_events: r.i64("min_events")?,
                function_name: r.text("function_name")?,
                channels,
                samples: r.i64("samples")?,
                events: r.i64("events")?,
                value: r.float("value")?,
                open_id: r.text("open_id")?,
                open_status: r.text("open_status")?,
                open_dedup_key: r.text("open_dedup_key")?,
                in_cooldown: r.flag("in_cooldown")?,
            })
        })
        .collect()
}

impl Rule {
    fn open(&self) -> Open {
        match self.open_status.as_deref() {
            None => Open::None,
            Some("suppressed") => Open::Suppressed,
            Some(_) => Open::Notifying,
        }
    }

    fn scope(&self) -> String {
        self.function_name.clone().unwrap_or_else(|| "all functions".into())
    }

    fn describe(&self, value: Option<f64>) -> String {
        let shown = value.map(|v| round2(v).to_string()).unwrap_or_else(|| "no value".into());
        format!(
            "{} = {shown} (condition {} {} on at least {} events; {} events in {} samples over the last {} min, {})",
            self.metric,
            condition::symbol(&self.operator),
            self.threshold,
            self.min_events,
            self.events,
            self.samples,
            self.window_minutes,
            self.scope()
        )
    }

    fn message(&self, event: Event, alert_id: &str, dedup_key: &str) -> Message {
        let (prefix, verb) = match event {
            Event::Resolve => ("RESOLVED".to_string(), "resolved"),
            _ => (self.severity.to_uppercase(), "firing"),
        };
        Message {
            event,
            severity: self.severity.clone(),
            title: format!("[{prefix}] {}: {verb}", self.name),
            text: self.describe(self.value),
            dedup_key: dedup_key.to_string(),
            component: self.function_name.clone().unwrap_or_else(|| "quotekit".into()),
            class: self.metric.clone(),
            details: json!({
                "rule_id": self.rule_id,
                "metric": self.metric,
                "operator": self.operator,
                "threshold": self.threshold,
                "value": self.value,
                "samples": self.samples,
                "events": self.events,
                "min_events": self.min_events,
                "window_minutes": self.window_minutes,
                "function": self.function_name,
            }),
            alert_id: Some(alert_id.to_string()),
            incident_id: None,
        }
    }
}

/// Opens the rule's alert unless another evaluation opened one first; `None` then.
fn open_alert(db: &Db, rule: &Rule) -> Result<Option<(String, String)>, DbError> {
    let rows = db.query(
        "INSERT INTO public.alerts (rule_id, rule_key, severity, category, title, message, metric, operator,
                                    threshold, metric_value, last_value, sample_count, dedup_key)
         VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, 'quotekit-alert-' || gen_random_uuid())
         ON CONFLICT (rule_id) WHERE status IN ('active', 'acknowledged', 'suppressed') DO NOTHING
         RETURNING id::text AS id, dedup_key",
        &[
            db::uuid(&rule.id),
            db::text(rule.rule_id.clone()),
            db::text(rule.severity.clone()),
            db::text(rule.category.clone()),
            db::text(rule.name.clone()),
            db::text(rule.describe(rule.value)),
            db::text(rule.metric.clone()),
            db::text(rule.operator.clone()),
            Param::Floating64(rule.threshold),
            rule.value.map(Param::Floating64).unwrap_or(Param::DbNull),
            Param::Int64(rule.samples),
        ],
    )?;
    match rows.first() {
        Some(r) => Ok(Some((r.string("id")?, r.string("dedup_key")?))),
        None => Ok(None),
    }
}

struct Applied {
    decision: Decision,
    message: Option<(Vec<String>, Message)>,
}

/// Apply one rule's decision and record the evaluation.
fn apply(db: &Db, run_id: &str, rule: &Rule, started: Instant) -> Result<(Applied, Value), DbError> {
    let figure = condition::Figure { value: rule.value, samples: rule.samples, events: rule.events };
    let met = condition::verdict(&rule.operator, rule.threshold, figure, rule.min_samples, rule.min_events);
    let mut decision = condition::decide(met, rule.open(), rule.in_cooldown);
    let mut alert_id = rule.open_id.clone();
    let mut message = None;
    match decision {
        Decision::Open => match open_alert(db, rule)? {
            Some((id, dedup)) => {
                let mut m = rule.message(Event::Trigger, &id, &dedup);
                if rule.metric == security_incidents::METRIC {
                    // The incidents the alert is about, summed up; they count as told.
                    m.details["incidents"] = security_incidents::summary(db, rule.window_minutes)?;
                    security_incidents::told(db, rule.window_minutes)?;
                }
                message = Some((rule.channels.clone(), m));
                alert_id = Some(id);
            }
            None => decision = Decision::StillOpen,
        },
        Decision::StillOpen | Decision::NoData if alert_id.is_some() => {
            db.execute(
                "UPDATE public.alerts SET last_value = coalesce($2, last_value), last_evaluated_at = now()
                 WHERE id = $1::uuid",
                &[opt_uuid(&alert_id), rule.value.map(Param::Floating64).unwrap_or(Param::DbNull)],
            )?;
        }
        Decision::Resolve { notify } => {
            let id = alert_id.clone().unwrap_or_default();
            let resolved = db.execute(
                "UPDATE public.alerts SET status = 'resolved', resolved_at = now(), resolved_by = 'evaluate',
                        auto_resolved = true, last_value = $2, last_evaluated_at = now(),
                        resolution_notes = $3
                 WHERE id = $1::uuid AND status IN ('active', 'acknowledged', 'suppressed')",
                &[
                    db::uuid(&id),
                    rule.value.map(Param::Floating64).unwrap_or(Param::DbNull),
                    db::text(format!("condition cleared: {}", rule.describe(rule.value))),
                ],
            )?;
            if resolved == 0 {
                // Resolved meanwhile (by an admin or a concurrent evaluation): nothing to announce.
                decision = Decision::Ok;
            } else if notify {
                let dedup = rule.open_dedup_key.clone().unwrap_or_default();
                message = Some((rule.channels.clone(), rule.message(Event::Resolve, &id, &dedup)));
            }
        }
        _ => {}
    }
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    db.execute(
        "INSERT INTO public.alert_evaluations
           (run_id, rule_id, rule_key, metric_value, sample_count, condition_met, outcome, alert_id, duration_ms)
         VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8::uuid, $9)",
        &[
            db::uuid(run_id),
            db::uuid(&rule.id),
            db::text(rule.rule_id.clone()),
            rule.value.map(Param::Floating64).unwrap_or(Param::DbNull),
            Param::Int64(rule.samples),
            met.map(Param::Boolean).unwrap_or(Param::DbNull),
            db::text(decision.outcome()),
            opt_uuid(&alert_id),
            Param::Floating64(duration_ms),
        ],
    )?;
    db.execute("UPDATE public.alert_rules SET last_evaluated_at = now() WHERE id = $1::uuid", &[db::uuid(&rule.id)])?;
    let result = json!({
        "rule_id": rule.rule_id,
        "name": rule.name,
        "metric": rule.metric,
        "operator": rule.operator,
        "threshold": rule.threshold,
        "value": rule.value.map(round2),
        "samples": rule.samples,
        "events": rule.events,
        "min_events": rule.min_events,
        "condition_met": met,
        "outcome": decision.outcome(),
        "alert_id": alert_id,
    });
    Ok((Applied { decision, message }, result))
}

pub async fn run(db: &Db, req: &Request) -> Result<Value, Problem> {
    let started = Instant::now();
    let mut params = Params::from_query(req);
    let force = params.boolean("force").unwrap_or(false);
    params.finish()?;

    let (run_id, applied, results) = db.as_service(|db| -> Result<_, DbError> {
        let run_id = db.query("SELECT gen_random_uuid()::text AS id", &[])?.one()?.string("id")?;
        let rules = load(db, force)?;
        let mut applied = Vec::new();
        let mut results = Vec::new();
        for rule in &rules {
            let (a, r) = apply(db, &run_id, rule, Instant::now())?;
            applied.push(a);
            results.push(r);
        }
        Ok((run_id, applied, results))
    })?;

    // After the commit: the network never holds a transaction open.
    let mut jobs = Vec::new();
    for a in &applied {
        if let Some((channels, message)) = &a.message {
            for c in channels {
                if let Some(channel) = condition::CHANNELS.iter().find(|k| *k == c) {
                    jobs.push((*channel, message.clone()));
                }
            }
        }
    }
    let deliveries = notify::deliver(jobs).await;
    db.as_service(|db| notify::record(db, &deliveries))?;

    let incidents = db.as_service(security_incidents::awaiting)?;

    let count = |f: fn(&Decision) -> bool| applied.iter().filter(|a| f(&a.decision)).count();
    Ok(json!({
        "run_id": run_id,
        "forced": force,
        "rules_evaluated": applied.len(),
        "alerts_opened": count(|d| *d == Decision::Open),
        "alerts_resolved": count(|d| matches!(d, Decision::Resolve { .. })),
        "still_open": count(|d| *d == Decision::StillOpen),
        "in_cooldown": count(|d| *d == Decision::Cooldown),
        "no_data": count(|d| *d == Decision::NoData),
        "results": results,
        "deliveries": deliveries.iter().map(notify::summary).collect::<Vec<_>>(),
        "security_incidents": incidents,
        "evaluation_ms": round2(started.elapsed().as_secs_f64() * 1000.0),
    }))
}
