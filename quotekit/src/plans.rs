//! Plans, entitlements and quotas. The limits themselves live in one place, the
//! `plan_limits` table (the `free` row is the free plan); `get_entitlements()` picks the
//! caller's plan from their subscription. Every function asks the same question here.

use serde::Serialize;
use shared::db::{Db, DbError, Row};

/// `-1` in a limit means unlimited.
pub const UNLIMITED: i64 = -1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Features {
    pub max_quotes: i64,
    pub max_clients: i64,
    pub pdf_export: bool,
    pub email_quotes: bool,
    pub custom_branding: bool,
    pub analytics: bool,
    pub api_access: bool,
    pub bulk_operations: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionSummary {
    pub id: String,
    pub stripe_subscription_id: Option<String>,
    pub status: String,
    pub price_id: Option<String>,
    /// Minor units (cents) of the price.
    pub unit_amount: Option<i64>,
    pub currency: Option<String>,
    pub interval: Option<String>,
    pub current_period_start: Option<String>,
    pub current_period_end: Option<String>,
    pub cancel_at_period_end: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entitlements {
    pub plan_key: String,
    pub plan_name: String,
    /// An active, trialing or past-due subscription backs this plan.
    pub entitled: bool,
    /// Entitled, but the last payment failed.
    pub past_due: bool,
    /// False when the subscribed paid product has no `plan_limits` row of its own (the
    /// `paid_default` row applies).
    pub limits_configured: bool,
    pub subscription: Option<SubscriptionSummary>,
    pub features: Features,
}

impl Entitlements {
    /// From a row with the columns of `get_entitlements()`.
    pub fn from_row(r: &Row<'_>) -> Result<Entitlements, DbError> {
        let subscription = match r.text("subscription_id")? {
            Some(id) => Some(SubscriptionSummary {
                id,
                stripe_subscription_id: r.text("stripe_subscription_id")?,
                status: r.string("subscription_status")?,
                price_id: r.text("price_id")?,
                unit_amount: r.int("unit_amount")?,
                currency: r.text("currency")?,
                interval: r.text("interval")?,
                current_period_start: r.timestamp("current_period_start")?,
                current_period_end: r.timestamp("current_period_end")?,
                cancel_at_period_end: r.flag("cancel_at_period_end")?,
            }),
            None => None,
        };
        Ok(Entitlements {
            plan_key: r.string("plan_key")?,
            plan_name: r.string("plan_name")?,
            entitled: r.flag("entitled")?,
            past_due: r.flag("past_due")?,
            limits_configured: r.flag("limits_configured")?,
            subscription,
            features: Features {
                max_quotes: r.i64("max_quotes")?,
                max_clients: r.i64("max_clients")?,
                pdf_export: r.flag("pdf_export")?,
                email_quotes: r.flag("email_quotes")?,
                custom_branding: r.flag("custom_branding")?,
                analytics: r.flag("analytics")?,
                api_access: r.flag("api_access")?,
                bulk_operations: r.flag("bulk_operations")?,
            },
        })
    }

    /// The caller's entitlements, inside their own (user-scoped) transaction.
    pub fn of_caller(db: &Db) -> Result<Entitlements, DbError> {
        let rows = db.query("SELECT * FROM public.my_entitlements()", &[])?;
        Entitlements::from_row(&rows.one()?)
    }

    /// Any user's entitlements (service-role transactions only).
    pub fn of_user(db: &Db, user_id: &str) -> Result<Entitlements, DbError> {
        let rows = db.query("SELECT * FROM public.get_entitlements($1)", &[shared::db::uuid(user_id)])?;
        Entitlements::from_row(&rows.one()?)
    }
}

/// Usage in the current billing month (clients: all of the user's clients).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub quotes: i64,
    pub clients: i64,
    pub pdf_exports: i64,
    pub api_calls: i64,
    pub bulk_operations: i64,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
}

impl Usage {
    pub fn of_user(db: &Db, user_id: &str) -> Result<Usage, DbError> {
        let rows = db.query("SELECT * FROM public.get_current_usage($1)", &[shared::db::uuid(user_id)])?;
        Usage::from_row(&rows.one()?)
    }

    /// From a row with the columns of `get_current_usage()`.
    pub fn from_row(r: &Row<'_>) -> Result<Usage, DbError> {
        Ok(Usage {
            quotes: r.i64("quotes_count")?,
            clients: r.i64("clients_count")?,
            pdf_exports: r.i64("pdf_exports_count")?,
            api_calls: r.i64("api_calls_count")?,
            bulk_operations: r.i64("bulk_operations_count")?,
            period_start: r.timestamp("period_start")?,
            period_end: r.timestamp("period_end")?,
        })
    }
}

/// What is left of a limit: `-1` when unlimited, never negative.
pub fn remaining(limit: i64, used: i64) -> i64 {
    if limit == UNLIMITED {
        UNLIMITED
    } else {
        (limit - used).max(0)
    }
}

/// True when `used` has reached a (finite) limit.
pub fn at_limit(limit: i64, used: i64) -> bool {
    limit != UNLIMITED && used >= limit
}

/// Whether `wanted` more fit under the limit.
pub fn allows(limit: i64, used: i64, wanted: i64) -> bool {
    limit == UNLIMITED || used + wanted <= limit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_is_never_negative_and_unlimited_stays_unlimited() {
        assert_eq!(remaining(5, 2), 3);
        assert_eq!(remaining(5, 5), 0);
        assert_eq!(remaining(5, 9), 0);
        assert_eq!(remaining(UNLIMITED, 1_000_000), UNLIMITED);
    }

    #[test]
    fn limits() {
        assert!(at_limit(5, 5));
        assert!(!at_limit(5, 4));
        assert!(!at_limit(UNLIMITED, i64::MAX));
        assert!(allows(5, 4, 1));
        assert!(!allows(5, 4, 2));
        assert!(allows(UNLIMITED, 10, 10));
    }
}
