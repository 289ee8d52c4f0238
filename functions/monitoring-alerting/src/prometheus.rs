//! `GET /metrics`: Prometheus text exposition format (version 0.0.4), read from rows at scrape
//! time. Request figures cover the last five minutes (gauges); deliveries and evaluations are
//! counters over all stored rows.

use crate::components::{self, Status};
use shared::db::{Db, DbError};
use shared::{Problem, Response};
use std::fmt::Write;

/// A label value with `\`, `"` and newlines escaped as the format requires.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One metric family being written.
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        let labels = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
        let _ = writeln!(self.0, "{name}{labels} {value}");
    }
}

pub fn render(db: &Db) -> Result<String, DbError> {
    let mut out = Out(String::new());
    let components = components::all(db);
    out.family("quotekit_component_status", "gauge", "Component health: 0 ok, 1 degraded, 2 down.");
    for c in &components {
        let v = match c.status {
            Status::Ok => 0.0,
            Status::Degraded => 1.0,
            Status::Down => 2.0,
        };
        out.sample("quotekit_component_status", &[("component", c.name)], v);
    }
    db.as_service(|db| -> Result<(), DbError> {
        let rows = db.query(
            "SELECT function_name, count(*) AS requests, count(*) FILTER (WHERE status >= 500) AS errors,
                    percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
                    percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95,
                    percentile_disc(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99
             FROM public.performance_metrics WHERE created_at >= now() - interval '5 minutes' AND deployment_color <> 'forwarded'
             GROUP BY function_name ORDER BY function_name",
            &[],
        )?;
        let mut per_function = Vec::new();
        for r in rows.iter() {
            per_function.push((
                r.string("function_name")?,
                r.i64("requests")?,
                r.i64("errors")?,
                [("p50", r.float("p50")?), ("p95", r.float("p95")?), ("p99", r.float("p99")?)],
            ));
        }
        out.family("quotekit_requests_last5m", "gauge", "Requests answered in the last 5 minutes.");
        for (f, n, _, _) in &per_function {
            out.sample("quotekit_requests_last5m", &[("function", f)], *n as f64);
        }
        out.family("quotekit_request_errors_last5m", "gauge", "5xx answers in the last 5 minutes.");
        for (f, _, e, _) in &per_function {
            out.sample("quotekit_request_errors_last5m", &[("function", f)], *e as f64);
        }
        out.family(
            "quotekit_request_duration_last5m_seconds",
            "gauge",
            "Nearest-rank percentiles (p50, p95, p99) of request duration in the last 5 minutes.",
        );
        for (f, _, _, qs) in &per_function {
            for (q, v) in qs {
                if let Some(ms) = v {
                    out.sample("quotekit_request_duration_last5m_seconds", &[("function", f), ("percentile", q)], ms / 1000.0);
                }
            }
        }
        out.family("quotekit_alerts_open", "gauge", "Alerts active or acknowledged, by severity.");
        let open = db.query(
            "SELECT s.severity, count(a.id) AS n
             FROM unnest(ARRAY['critical', 'error', 'warning', 'info']) AS s(severity)
             LEFT JOIN public.alerts a ON a.severity = s.severity AND a.status IN ('active', 'acknowledged')
             GROUP BY s.severity ORDER BY s.severity",
            &[],
        )?;
        for r in open.iter() {
            out.sample("quotekit_alerts_open", &[("severity", &r.string("severity")?)], r.i64("n")? as f64);
        }
        out.family("quotekit_notification_deliveries_total", "counter", "Notification deliveries by channel and outcome.");
        for r in db
            .query(
                "SELECT channel, status, count(*) AS n FROM public.notification_deliveries GROUP BY 1, 2 ORDER BY 1, 2",
                &[],
            )?
            .iter()
        {
            let (c, s) = (r.string("channel")?, r.string("status")?);
            out.sample("quotekit_notification_deliveries_total", &[("channel", &c), ("status", &s)], r.i64("n")? as f64);
        }
        out.family("quotekit_alert_evaluations_total", "counter", "Rule evaluations by outcome.");
        for r in db
            .query("SELECT outcome, count(*) AS n FROM public.alert_evaluations GROUP BY 1 ORDER BY 1", &[])?
            .iter()
        {
            out.sample("quotekit_alert_evaluations_total", &[("outcome", &r.string("outcome")?)], r.i64("n")? as f64);
        }
        let subs = db.query(
            "SELECT count(*) FILTER (WHERE status IN ('active', 'trialing')) AS n FROM public.subscriptions",
            &[],
        )?;
        out.family("quotekit_subscriptions_active", "gauge", "Subscriptions active or trialing.");
        out.sample("quotekit_subscriptions_active", &[], subs.one()?.i64("n")? as f64);
        Ok(())
    })?;
    Ok(out.0)
}

pub fn get(db: &Db) -> Result<Response, Problem> {
    let text = render(db)?;
    Ok(Response::bytes(200, "text/plain; version=0.0.4; charset=utf-8", text.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("a\nb"), "a\\nb");
    }

    #[test]
    fn samples_render_in_text_format() {
        let mut o = Out(String::new());
        o.family("x_total", "counter", "Things.");
        o.sample("x_total", &[("k", "v")], 3.0);
        o.sample("x_total", &[], 0.5);
        assert_eq!(o.0, "# HELP x_total Things.\n# TYPE x_total counter\nx_total{k=\"v\"} 3\nx_total 0.5\n");
    }
}
