//! What subscription-status tells a user about their account, derived from facts only.

use quotekit::plans::{at_limit, Entitlements, Usage};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub level: &'static str,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<String>,
}

fn d(level: &'static str, code: &'static str, message: String, recommendation: Option<&str>) -> Diagnostic {
    Diagnostic { level, code, message, recommendation: recommendation.map(str::to_string) }
}

pub struct Facts<'a> {
    pub has_customer: bool,
    pub entitlements: &'a Entitlements,
    pub usage: &'a Usage,
    /// Webhook events of this user's own Stripe customer not yet processed.
    pub unprocessed_events: i64,
}

pub fn diagnose(f: &Facts<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let e = f.entitlements;
    if !f.has_customer {
        out.push(d(
            "warning",
            "no_stripe_customer",
            "No Stripe customer is linked to your account".into(),
            Some("If you have paid, contact support with your receipt so the payment can be linked"),
        ));
    } else if !e.entitled {
        out.push(d(
            "info",
            "no_active_subscription",
            "You have no active subscription; the free plan applies".into(),
            Some("Subscribe to a paid plan to raise your limits"),
        ));
    }
    if e.past_due {
        out.push(d(
            "warning",
            "payment_past_due",
            "Your last payment failed; your plan stays active while Stripe retries".into(),
            Some("Update your payment method to avoid losing access"),
        ));
    }
    if let Some(s) = &e.subscription {
        if s.cancel_at_period_end {
            out.push(d(
                "info",
                "cancels_at_period_end",
                format!(
                    "Your subscription ends at the end of the current period{}",
                    s.current_period_end.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
                ),
                Some("Resume the subscription to keep your plan"),
            ));
        }
    }
    if e.entitled && !e.limits_configured {
        out.push(d(
            "warning",
            "plan_limits_missing",
            format!(
                "Plan `{}` has no limits of its own; the default for paid plans (`paid_default`) applies",
                e.plan_key
            ),
            Some("Contact support: the plan's limits need to be configured"),
        ));
    }
    if at_limit(e.features.max_quotes, f.usage.quotes) {
        out.push(d(
            "warning",
            "quote_limit_reached",
            format!(
                "You have reached your quote limit of {} this month ({} used)",
                e.features.max_quotes, f.usage.quotes
            ),
            Some("Upgrade your plan to create more quotes"),
        ));
    }
    if at_limit(e.features.max_clients, f.usage.clients) {
        out.push(d(
            "warning",
            "client_limit_reached",
            format!("You have reached your client limit of {} ({} clients)", e.features.max_clients, f.usage.clients),
            Some("Upgrade your plan to add more clients"),
        ));
    }
    if f.unprocessed_events > 0 {
        out.push(d(
            "error",
            "webhook_events_unprocessed",
            format!(
                "{} billing event{} for your account {} not been processed yet",
                f.unprocessed_events,
                if f.unprocessed_events == 1 { "" } else { "s" },
                if f.unprocessed_events == 1 { "has" } else { "have" }
            ),
            Some("Your plan may be out of date; it updates once the events are processed"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotekit::plans::{Features, SubscriptionSummary};

    fn ent(entitled: bool, max_quotes: i64) -> Entitlements {
        Entitlements {
            plan_key: if entitled { "prod_x".into() } else { "free".into() },
            plan_name: "Plan".into(),
            entitled,
            past_due: false,
            limits_configured: true,
            subscription: None,
            features: Features {
                max_quotes,
                max_clients: 3,
                pdf_export: false,
                email_quotes: false,
                custom_branding: false,
                analytics: false,
                api_access: false,
                bulk_operations: false,
            },
        }
    }

    fn usage(quotes: i64, clients: i64) -> Usage {
        Usage {
            quotes,
            clients,
            pdf_exports: 0,
            api_calls: 0,
            bulk_operations: 0,
            period_start: None,
            period_end: None,
        }
    }

    fn codes(f: &Facts<'_>) -> Vec<&'static str> {
        diagnose(f).into_iter().map(|d| d.code).collect()
    }

    #[test]
    fn a_new_free_user_is_told_there_is_no_customer() {
        let (e, u) = (ent(false, 5), usage(0, 0));
        let f = Facts { has_customer: false, entitlements: &e, usage: &u, unprocessed_events: 0 };
        assert_eq!(codes(&f), vec!["no_stripe_customer"]);
    }

    #[test]
    fn a_customer_without_subscription_gets_info_not_warning() {
        let (e, u) = (ent(false, 5), usage(1, 1));
        let f = Facts { has_customer: true, entitlements: &e, usage: &u, unprocessed_events: 0 };
        let list = diagnose(&f);
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].level, list[0].code), ("info", "no_active_subscription"));
    }

    #[test]
    fn limits_reached_are_warned_and_unlimited_never_is() {
        let (e, u) = (ent(true, 5), usage(5, 3));
        let f = Facts { has_customer: true, entitlements: &e, usage: &u, unprocessed_events: 0 };
        assert_eq!(codes(&f), vec!["quote_limit_reached", "client_limit_reached"]);
        let (e, u) = (ent(true, -1), usage(10_000, 0));
        let f = Facts { has_customer: true, entitlements: &e, usage: &u, unprocessed_events: 0 };
        assert!(codes(&f).is_empty());
    }

    #[test]
    fn past_due_cancelling_and_backlog_are_reported() {
        let mut e = ent(true, -1);
        e.past_due = true;
        e.subscription = Some(SubscriptionSummary {
            id: "x".into(),
            stripe_subscription_id: None,
            status: "past_due".into(),
            price_id: None,
            unit_amount: None,
            currency: None,
            interval: None,
            current_period_start: None,
            current_period_end: Some("2026-12-01T00:00:00Z".into()),
            cancel_at_period_end: true,
        });
        let u = usage(0, 0);
        let f = Facts { has_customer: true, entitlements: &e, usage: &u, unprocessed_events: 2 };
        assert_eq!(codes(&f), vec!["payment_past_due", "cancels_at_period_end", "webhook_events_unprocessed"]);
        assert!(diagnose(&f)[2].message.starts_with("2 billing events"));
    }
}
