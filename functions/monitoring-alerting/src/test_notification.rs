//! `POST /notification-test {"channel": "all" | "email" | "slack" | "pagerduty" | "webhook"}`
//! (the original's `type` is read too): really sends a test message through each channel and
//! records it. `all` means every channel; one that is not configured is reported as skipped.
//! PagerDuty gets a trigger followed by a resolve with the same dedup key, so no incident
//! stays open.

use crate::condition::CHANNELS;
use crate::notify::{self, Event, Message};
use serde_json::{json, Map, Value};
use shared::db::{Db, DbError};
use shared::{FieldError, Problem, Request};

fn message(event: Event, dedup_key: &str) -> Message {
    Message {
        event,
        severity: "info".into(),
        title: "[TEST] quotekit monitoring-alerting notification test".into(),
        text: "This is a test notification from monitoring-alerting; no action is needed.".into(),
        dedup_key: dedup_key.to_string(),
        component: "monitoring-alerting".into(),
        class: "notification_test".into(),
        details: json!({ "test": true }),
        alert_id: None,
        incident_id: None,
    }
}

pub async fn run(db: &Db, req: &Request) -> Result<Value, Problem> {
    let body: Map<String, Value> = req.json_opt()?.unwrap_or_default();
    let named = body.get("channel").or_else(|| body.get("type"));
    let channels: Vec<&'static str> = match named {
        None => CHANNELS.to_vec(),
        Some(Value::String(s)) if s == "all" => CHANNELS.to_vec(),
        Some(Value::String(s)) => {
            match CHANNELS.iter().find(|c| **c == s.as_str() || (s == "pager" && **c == "pagerduty")) {
                Some(c) => vec![*c],
                None => {
                    return Err(Problem::validation(vec![FieldError::new(
                        "channel",
                        "invalid_value",
                        format!("channel must be all, {}", CHANNELS.join(", ")),
                    )]))
                }
            }
        }
        Some(_) => {
            return Err(Problem::validation(vec![FieldError::new("channel", "invalid_value", "channel must be text")]))
        }
    };
    let dedup_key = db.as_service(|db| -> Result<String, DbError> {
        db.query("SELECT 'quotekit-test-' || gen_random_uuid() AS k", &[])?.one()?.string("k")
    })?;
    let jobs: Vec<(&'static str, Message)> = channels.iter().map(|c| (*c, message(Event::Test, &dedup_key))).collect();
    let mut deliveries = notify::deliver(jobs).await;
    let paged = deliveries.iter().any(|d| d.channel == "pagerduty" && d.status == "sent");
    if paged {
        let mut resolve = message(Event::Resolve, &dedup_key);
        resolve.title = "[TEST] resolved".into();
        let mut more = notify::deliver(vec![("pagerduty", resolve)]).await;
        for d in &mut more {
            d.event = Event::Test;
        }
        deliveries.extend(more);
    }
    db.as_service(|db| notify::record(db, &deliveries))?;
    let sent = deliveries.iter().filter(|d| d.status == "sent").count();
    let failed = deliveries.iter().filter(|d| d.status == "failed").count();
    Ok(json!({
        "success": failed == 0 && sent > 0,
        "sent": sent,
        "failed": failed,
        "skipped": deliveries.iter().filter(|d| d.status == "skipped").count(),
        "deliveries": deliveries.iter().map(notify::summary).collect::<Vec<_>>(),
    }))
}
