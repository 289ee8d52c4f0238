//! What a rule says and what one evaluation of it decides: pure logic, unit tested.

/// The figures a rule may watch (computed by `public.alert_metric_figure` in SQL).
pub const METRICS: [&str; 11] = [
    "error_rate",
    "avg_response_time",
    "p50_response_time",
    "p95_response_time",
    "p99_response_time",
    "request_count",
    "security_incidents_count",
    "security_alert_admin",
    "connection_pool_utilization",
    "conversion_rate",
    "cost_overrun",
];
pub const OPERATORS: [&str; 6] = ["gt", "gte", "lt", "lte", "eq", "ne"];
pub const SEVERITIES: [&str; 4] = ["info", "warning", "error", "critical"];
pub const CATEGORIES: [&str; 6] = ["performance", "security", "reliability", "capacity", "cost", "business"];
pub const CHANNELS: [&str; 4] = ["email", "slack", "pagerduty", "webhook"];

/// Whether `value` meets `operator threshold`.
pub fn holds(operator: &str, value: f64, threshold: f64) -> bool {
    match operator {
        "gt" => value > threshold,
        "gte" => value >= threshold,
        "lt" => value < threshold,
        "lte" => value <= threshold,
        "eq" => value == threshold,
        "ne" => value != threshold,
        _ => false,
    }
}

pub fn symbol(operator: &str) -> &'static str {
    match operator {
        "gt" => ">",
        "gte" => "≥",
        "lt" => "<",
        "lte" => "≤",
        "eq" => "=",
        _ => "≠",
    }
}

/// The alert of a rule that is open now, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    None,
    /// Active or acknowledged: notified when it resolves.
    Notifying,
    /// Suppressed by an admin: resolves silently.
    Suppressed,
}

/// What one evaluation does (also the `outcome` stored in alert_evaluations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The condition does not hold and nothing is open.
    Ok,
    /// Too few samples for a verdict: an open alert stays open (no data is not recovery).
    NoData,
    /// Open a new alert and notify.
    Open,
    /// The condition still holds and its alert is open: no second alert, no second notification.
    StillOpen,
    /// The condition holds but the rule's previous alert ended less than cooldown ago.
    Cooldown,
    /// The condition cleared: resolve the open alert (notify unless it was suppressed).
    Resolve { notify: bool },
}

impl Decision {
    pub fn outcome(&self) -> &'static str {
        match self {
            Decision::Ok => "ok",
            Decision::NoData => "no_data",
            Decision::Open => "opened",
            Decision::StillOpen => "still_open",
            Decision::Cooldown => "cooldown",
            Decision::Resolve { .. } => "resolved",
        }
    }
}

/// `met`: the condition's verdict (`None`: not enough data).
pub fn decide(met: Option<bool>, open: Open, in_cooldown: bool) -> Decision {
    match (met, open) {
        (None, _) => Decision::NoData,
        (Some(true), Open::None) if in_cooldown => Decision::Cooldown,
        (Some(true), Open::None) => Decision::Open,
        (Some(true), _) => Decision::StillOpen,
        (Some(false), Open::None) => Decision::Ok,
        (Some(false), Open::Notifying) => Decision::Resolve { notify: true },
        (Some(false), Open::Suppressed) => Decision::Resolve { notify: false },
    }
}

/// What a rule's figure rests on over its window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    pub value: Option<f64>,
    /// Requests (incident rows, days) the value is computed from.
    pub samples: i64,
    /// The events the figure counts: 5xx answers for error_rate, incidents for the security
    /// figures; the samples for the rest.
    pub events: i64,
}

/// The verdict on a figure: `None` below `min_samples` or without a value. A condition holds
/// only on at least `min_events` events: a rate over a window with a minimum count, so one
/// failed request among ten is not an outage and one refused token pages no one.
pub fn verdict(operator: &str, threshold: f64, figure: Figure, min_samples: i64, min_events: i64) -> Option<bool> {
    let value = figure.value.filter(|v| v.is_finite())?;
    (figure.samples >= min_samples).then(|| figure.events >= min_events && holds(operator, value, threshold))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_compare_as_written() {
        assert!(holds("gt", 5.1, 5.0) && !holds("gt", 5.0, 5.0));
        assert!(holds("gte", 5.0, 5.0) && !holds("gte", 4.9, 5.0));
        assert!(holds("lt", 1.9, 2.0) && !holds("lt", 2.0, 2.0));
        assert!(holds("lte", 2.0, 2.0));
        assert!(holds("eq", 3.0, 3.0) && !holds("ne", 3.0, 3.0));
        assert!(!holds("nope", 1.0, 0.0));
    }

    #[test]
    fn an_alert_opens_once_and_resolves_when_the_condition_clears() {
        assert_eq!(decide(Some(true), Open::None, false), Decision::Open);
        assert_eq!(decide(Some(true), Open::Notifying, false), Decision::StillOpen);
        assert_eq!(decide(Some(true), Open::Suppressed, false), Decision::StillOpen);
        assert_eq!(decide(Some(false), Open::Notifying, false), Decision::Resolve { notify: true });
        assert_eq!(decide(Some(false), Open::Suppressed, true), Decision::Resolve { notify: false });
        assert_eq!(decide(Some(false), Open::None, false), Decision::Ok);
    }

    #[test]
    fn cooldown_holds_back_a_new_alert_only() {
        assert_eq!(decide(Some(true), Open::None, true), Decision::Cooldown);
        assert_eq!(decide(Some(true), Open::Notifying, true), Decision::StillOpen);
    }

    fn figure(value: Option<f64>, samples: i64, events: i64) -> Figure {
        Figure { value, samples, events }
    }

    #[test]
    fn too_few_samples_give_no_verdict_and_keep_an_open_alert() {
        assert_eq!(verdict("gt", 5.0, figure(Some(50.0), 3, 3), 20, 1), None);
        assert_eq!(verdict("gt", 5.0, figure(None, 0, 0), 1, 1), None);
        assert_eq!(verdict("gt", 5.0, figure(Some(50.0), 20, 20), 20, 1), Some(true));
        assert_eq!(decide(None, Open::Notifying, false), Decision::NoData);
    }

    #[test]
    fn a_rate_holds_only_on_its_minimum_count_of_events() {
        // The guide's 1 % error-rate rule: one failed probe among 50 requests is 2 %, not an outage.
        assert_eq!(verdict("gt", 1.0, figure(Some(2.0), 50, 1), 10, 5), Some(false));
        // Five failures among 50: it holds.
        assert_eq!(verdict("gt", 1.0, figure(Some(10.0), 50, 5), 10, 5), Some(true));
        // One refused token is one incident; ten within the window make the alert.
        assert_eq!(verdict("gte", 10.0, figure(Some(1.0), 1, 1), 1, 10), Some(false));
        assert_eq!(verdict("gte", 10.0, figure(Some(10.0), 1, 10), 1, 10), Some(true));
    }
}
