//! `GET /alerts[?hours=24]`: the four rules of the SPEC, evaluated on the same figures as
//! overview. Thresholds are strict as written: a success rate of exactly 95 % raises nothing.
//! A rule without data raises nothing and says so in `checks`.

use crate::figures::{round2, Summary, TARGET_MS};
use serde::Serialize;
use serde_json::{json, Value};
use shared::db::Db;
use shared::params::Params;
use shared::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub rule: &'static str,
    pub severity: Severity,
    pub value: f64,
    /// The threshold this severity was raised for.
    pub threshold: f64,
    pub message: String,
}

/// The outcome of one rule, alert or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub rule: &'static str,
    /// `ok`, `alert` or `no_data`.
    pub status: &'static str,
    pub value: Option<f64>,
    pub message: String,
}

struct Rule {
    name: &'static str,
    warning: f64,
    critical: f64,
    /// Low values are bad (success rate) rather than high ones.
    below: bool,
}

const SUCCESS_RATE: Rule = Rule { name: "high_failure_rate", warning: 95.0, critical: 90.0, below: true };
const SLOW_PROCESSING: Rule = Rule { name: "slow_processing", warning: TARGET_MS, critical: 500.0, below: false };
const DLQ_BUILDUP: Rule = Rule { name: "dlq_buildup", warning: 10.0, critical: 50.0, below: false };
/// Any event unprocessed for over an hour is a warning; there is no critical level.
const STALE_WEBHOOKS: Rule = Rule { name: "stale_webhooks", warning: 0.0, critical: f64::INFINITY, below: false };

impl Rule {
    fn severity(&self, value: f64) -> Option<(Severity, f64)> {
        let past = |threshold: f64| if self.below { value < threshold } else { value > threshold };
        if past(self.critical) {
            Some((Severity::Critical, self.critical))
        } else if past(self.warning) {
            Some((Severity::Warning, self.warning))
        } else {
            None
        }
    }

    /// Evaluate on `value` (`None`: no data), describing the value with `describe`.
    fn check(&self, value: Option<f64>, no_data: &str, describe: impl Fn(f64) -> String) -> (Check, Option<Alert>) {
        let Some(value) = value else {
            let check = Check { rule: self.name, status: "no_data", value: None, message: no_data.to_string() };
            return (check, None);
        };
        let shown = round2(value);
        let alert = self.severity(value).map(|(severity, threshold)| Alert {
            rule: self.name,
            severity,
            value: shown,
            threshold,
            message: format!(
                "{} ({} threshold {threshold})",
                describe(shown),
                if self.below { "below" } else { "above" }
            ),
        });
        let status = if alert.is_some() { "alert" } else { "ok" };
        (Check { rule: self.name, status, value: Some(shown), message: describe(shown) }, alert)
    }
}

/// Every rule's check, and the alerts raised, critical first.
pub fn evaluate(s: &Summary) -> (Vec<Check>, Vec<Alert>) {
    let window = format!("in the last {} h", s.hours);
    let no_events = format!("no events {window}");
    let results = [
        SUCCESS_RATE.check(s.success_rate(), &no_events, |v| {
            format!("success rate {v} % ({} of {} events) {window}", s.succeeded(), s.total)
        }),
        SLOW_PROCESSING.check(s.avg_ms, &format!("no timed events {window}"), |v| {
            format!("average processing time {v} ms over {} events {window}", s.timed)
        }),
        DLQ_BUILDUP.check(Some(s.dlq_open as f64), "", |v| format!("open dead-letter entries: {v}")),
        STALE_WEBHOOKS
            .check(Some(s.stale_unprocessed as f64), "", |v| format!("events unprocessed for more than 1 h: {v}")),
    ];
    let checks = results.iter().map(|(c, _)| c.clone()).collect();
    let mut alerts: Vec<Alert> = results.into_iter().filter_map(|(_, a)| a).collect();
    alerts.sort_by_key(|a| a.severity);
    (checks, alerts)
}

pub fn get(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let hours = params.hours();
    params.finish()?;
    let summary = db.as_service(|db| Summary::load(db, hours))?;
    let (checks, alerts) = evaluate(&summary);
    let count = |sev: Severity| alerts.iter().filter(|a| a.severity == sev).count();
    Ok(json!({
        "window_hours": hours,
        "checked_at": summary.generated_at,
        "alert_counts": {
            "critical": count(Severity::Critical),
            "warning": count(Severity::Warning),
            "total": alerts.len(),
        },
        "alerts": alerts,
        "checks": checks,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(s: &Summary) -> Vec<(&'static str, Severity)> {
        evaluate(s).1.into_iter().map(|a| (a.rule, a.severity)).collect()
    }

    fn events(total: i64, failed: i64) -> Summary {
        Summary { hours: 24, total, failed, ..Summary::default() }
    }

    #[test]
    fn success_rate_thresholds_are_strict() {
        assert_eq!(rules(&events(20, 1)), vec![]); // exactly 95 %
        assert_eq!(rules(&events(100, 6)), vec![("high_failure_rate", Severity::Warning)]);
        assert_eq!(rules(&events(10, 1)), vec![("high_failure_rate", Severity::Warning)]); // exactly 90 %
        assert_eq!(rules(&events(100, 11)), vec![("high_failure_rate", Severity::Critical)]);
    }

    #[test]
    fn no_events_raise_nothing_and_say_so() {
        let (checks, alerts) = evaluate(&events(0, 0));
        assert!(alerts.is_empty());
        assert_eq!((checks[0].status, checks[0].message.as_str()), ("no_data", "no events in the last 24 h"));
        assert_eq!(checks[1].status, "no_data");
        assert_eq!((checks[2].status, checks[3].status), ("ok", "ok"));
    }

    #[test]
    fn processing_time_dlq_and_stale_thresholds() {
        let at = |avg: f64| Summary { avg_ms: Some(avg), ..events(1, 0) };
        assert_eq!(rules(&at(200.0)), vec![]);
        assert_eq!(rules(&at(201.0)), vec![("slow_processing", Severity::Warning)]);
        assert_eq!(rules(&at(500.0)), vec![("slow_processing", Severity::Warning)]);
        assert_eq!(rules(&at(501.0)), vec![("slow_processing", Severity::Critical)]);
        let dlq = |n: i64| Summary { dlq_open: n, ..Summary::default() };
        assert_eq!(rules(&dlq(10)), vec![]);
        assert_eq!(rules(&dlq(11)), vec![("dlq_buildup", Severity::Warning)]);
        assert_eq!(rules(&dlq(50)), vec![("dlq_buildup", Severity::Warning)]);
        assert_eq!(rules(&dlq(51)), vec![("dlq_buildup", Severity::Critical)]);
        let stale = |n: i64| Summary { stale_unprocessed: n, ..Summary::default() };
        assert_eq!(rules(&stale(0)), vec![]);
        assert_eq!(rules(&stale(1)), vec![("stale_webhooks", Severity::Warning)]);
        assert_eq!(rules(&stale(1000)), vec![("stale_webhooks", Severity::Warning)]);
    }

    #[test]
    fn critical_alerts_come_first_with_the_threshold_they_crossed() {
        let s = Summary { dlq_open: 11, stale_unprocessed: 1, ..events(100, 20) };
        let (_, alerts) = evaluate(&s);
        assert_eq!(alerts[0].rule, "high_failure_rate");
        assert_eq!((alerts[0].severity, alerts[0].value, alerts[0].threshold), (Severity::Critical, 80.0, 90.0));
        assert!(alerts[1..].iter().all(|a| a.severity == Severity::Warning));
        assert_eq!(alerts.len(), 3);
    }
}
