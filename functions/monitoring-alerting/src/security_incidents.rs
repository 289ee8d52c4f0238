//! Security incidents whose automatic response is `alert_admin` (security_incidents, 0006):
//! each one not yet notified is sent to every configured channel (PagerDuty only for high and
//! critical threats). `admin_notified_at` is set once at least one channel took it; when every
//! channel failed, the incident stays pending and the next `evaluate` tries again.

use crate::notify::{self, Event, Message};
use serde_json::{json, Value};
use shared::db::{self, Db, DbError};
use shared::Problem;

/// At most this many incidents per evaluation (the rest wait for the next one).
const BATCH: i64 = 20;

struct Incident {
    id: String,
    event_type: String,
    threat_level: String,
    function_name: Option<String>,
    source_ip: Option<String>,
    created_at: String,
}

fn pending(db: &Db) -> Result<Vec<Incident>, DbError> {
    let exists = db.query("SELECT to_regclass('public.security_incidents') IS NOT NULL AS present", &[])?;
    if !exists.one()?.flag("present")? {
        return Ok(Vec::new());
    }
    let rows = db.query(
        "SELECT id::text AS id, event_type, threat_level, function_name, source_ip, created_at
         FROM public.security_incidents
         WHERE auto_response = 'alert_admin' AND admin_notified_at IS NULL
         ORDER BY created_at LIMIT $1",
        &[db::int(BATCH)],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Incident {
                id: r.string("id")?,
                event_type: r.string("event_type")?,
                threat_level: r.string("threat_level")?,
                function_name: r.text("function_name")?,
                source_ip: r.text("source_ip")?,
                created_at: r.timestamp("created_at")?.unwrap_or_default(),
            })
        })
        .collect()
}

fn severity(threat_level: &str) -> &'static str {
    match threat_level {
        "critical" => "critical",
        "high" => "error",
        "medium" => "warning",
        _ => "info",
    }
}

fn message(i: &Incident) -> Message {
    let whom = i.source_ip.clone().unwrap_or_else(|| "an unknown source".into());
    let place = i.function_name.clone().unwrap_or_else(|| "the application".into());
    Message {
        event: Event::SecurityIncident,
        severity: severity(&i.threat_level).into(),
        title: format!("[SECURITY {}] {} on {place}", i.threat_level.to_uppercase(), i.event_type),
        text: format!("Security incident {} ({}) from {whom} at {}", i.id, i.event_type, i.created_at),
        dedup_key: format!("quotekit-security-{}", i.id),
        component: place,
        class: i.event_type.clone(),
        details: json!({
            "incident_id": i.id,
            "event_type": i.event_type,
            "threat_level": i.threat_level,
            "function": i.function_name,
            "source_ip": i.source_ip,
            "created_at": i.created_at,
        }),
        alert_id: None,
        incident_id: Some(i.id.clone()),
    }
}

/// Notify pending incidents; returns what happened to each.
pub async fn notify(db: &Db) -> Result<Value, Problem> {
    let incidents = db.as_service(pending)?;
    if incidents.is_empty() {
        return Ok(json!({ "pending": 0, "notified": 0, "deliveries": [] }));
    }
    let mut jobs = Vec::new();
    for i in &incidents {
        for channel in ["email", "slack", "webhook", "pagerduty"] {
            let paged = channel != "pagerduty" || matches!(i.threat_level.as_str(), "high" | "critical");
            if paged && notify::configured(channel) {
                jobs.push((channel, message(i)));
            }
        }
    }
    let deliveries = notify::deliver(jobs).await;
    let notified: Vec<&Incident> = incidents
        .iter()
        .filter(|i| deliveries.iter().any(|d| d.incident_id.as_deref() == Some(&i.id) && d.status == "sent"))
        .collect();
    db.as_service(|db| -> Result<(), DbError> {
        notify::record(db, &deliveries)?;
        for i in &notified {
            db.execute(
                "UPDATE public.security_incidents SET admin_notified_at = now()
                 WHERE id = $1::uuid AND admin_notified_at IS NULL",
                &[db::uuid(&i.id)],
            )?;
        }
        Ok(())
    })?;
    Ok(json!({
        "pending": incidents.len(),
        "notified": notified.len(),
        "deliveries": deliveries.iter().map(notify::summary).collect::<Vec<_>>(),
    }))
}
