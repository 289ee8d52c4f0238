//! The Stripe objects the mirror reads, as types with Stripe's field names, each built from an
//! event's `data.object`.
//!
//! Read as tolerantly as Stripe's own libraries read them: an optional field that is absent or
//! of another type is `None`, an expandable reference (`"customer": "cus_…"` or the expanded
//! `{"id": "cus_…", …}`) is its id either way. Only what the mirror cannot do without (an id,
//! a subscription's status, a price's product and currency) is an error, naming the field.
//!
//! The types serialize to the rows the upserts read by name (`jsonb_to_record`), so each SQL
//! statement takes one record instead of a long list of positional parameters.

use serde::Serialize;
use serde_json::{Map, Value};

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn flag(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

/// A nested object, when it is one.
fn object<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|o| o.is_object())
}

/// An expandable reference: the id, or the id of the expanded object.
fn reference(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(Value::String(id)) => Some(id.clone()),
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// `metadata`, or an empty object (the mirror's columns are `NOT NULL DEFAULT '{}'`).
fn metadata(v: &Value) -> Value {
    object(v, "metadata").cloned().unwrap_or_else(|| Value::Object(Map::new()))
}

fn required(v: &Value, key: &str, what: &str) -> Result<String, String> {
    text(v, key).ok_or_else(|| format!("{what} has no {key}"))
}

/// A product (`product.*` events).
#[derive(Debug, Serialize)]
pub struct Product {
    pub id: String,
    pub active: bool,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: Value,
}

impl Product {
    pub fn read(o: &Value) -> Result<Product, String> {
        Ok(Product {
            id: required(o, "id", "product")?,
            active: flag(o, "active").unwrap_or(true),
            name: text(o, "name"),
            description: text(o, "description"),
            metadata: metadata(o),
        })
    }
}

/// Plan limits kept in a product's metadata (`max_quotes` present): one `plan_limits` row.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PlanLimits {
    pub plan_key: String,
    pub name: String,
    pub max_quotes: i64,
    pub max_clients: i64,
    pub pdf_export: bool,
    pub email_quotes: bool,
    pub custom_branding: bool,
    pub analytics: bool,
    pub api_access: bool,
    pub bulk_operations: bool,
}

impl PlanLimits {
    /// `None` when the product's metadata defines no plan; `Err` names a limit that is not a
    /// number of at least -1 (unlimited).
    pub fn read(product: &Product) -> Result<Option<PlanLimits>, String> {
        let meta = &product.metadata;
        if meta.get("max_quotes").is_none() {
            return Ok(None);
        }
        let limit = |k: &str, default: i64| -> Result<i64, String> {
            match meta.get(k) {
                None => Ok(default),
                Some(v) => v
                    .as_str()
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .or_else(|| v.as_i64())
                    .filter(|n| (-1..=i64::from(i32::MAX)).contains(n))
                    .ok_or_else(|| format!("product {}: metadata {k} is not a limit", product.id)),
            }
        };
        let on = |k: &str| meta.get(k).and_then(Value::as_str) == Some("true");
        Ok(Some(PlanLimits {
            plan_key: product.id.clone(),
            name: product.name.clone().unwrap_or_else(|| product.id.clone()),
            max_quotes: limit("max_quotes", 5)?,
            max_clients: limit("max_clients", 3)?,
            pdf_export: on("pdf_export"),
            email_quotes: on("email_quotes"),
            custom_branding: on("custom_branding"),
            analytics: on("analytics"),
            api_access: on("api_access"),
            bulk_operations: on("bulk_operations"),
        }))
    }
}

/// A price (`price.*` events, and the price inside a subscription's items).
#[derive(Debug, Serialize)]
pub struct Price {
    pub id: String,
    pub product: String,
    pub active: bool,
    /// Lower case, as the mirror stores currencies.
    pub currency: String,
    pub unit_amount: Option<i64>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub interval: Option<String>,
    pub interval_count: Option<i64>,
    pub trial_period_days: Option<i64>,
    pub metadata: Value,
}

impl Price {
    pub fn read(o: &Value) -> Result<Price, String> {
        let id = required(o, "id", "price")?;
        let product = reference(o, "product").ok_or_else(|| format!("price {id} has no product"))?;
        let recurring = object(o, "recurring");
        let in_recurring = |k: &str| recurring.and_then(|r| int(r, k));
        Ok(Price {
            product,
            active: flag(o, "active").unwrap_or(true),
            currency: required(o, "currency", "price")?.to_ascii_lowercase(),
            unit_amount: int(o, "unit_amount"),
            kind: text(o, "type"),
            interval: recurring.and_then(|r| text(r, "interval")),
            interval_count: in_recurring("interval_count"),
            trial_period_days: in_recurring("trial_period_days"),
            metadata: metadata(o),
            id,
        })
    }
}

/// The statuses Stripe gives a subscription (the mirror's `subscription_status` enum).
pub const SUBSCRIPTION_STATUSES: [&str; 8] =
    ["trialing", "active", "canceled", "incomplete", "incomplete_expired", "past_due", "unpaid", "paused"];

/// A subscription (`customer.subscription.*` events).
#[derive(Debug, Serialize)]
pub struct Subscription {
    pub id: String,
    pub customer: Option<String>,
    pub status: String,
    /// The first item's price, when the snapshot carries it (mirrored beside the subscription).
    #[serde(skip)]
    pub price: Option<Value>,
    pub price_id: Option<String>,
    pub quantity: i64,
    pub cancel_at_period_end: bool,
    pub created: Option<i64>,
    /// The subscription's own period, or (newer API versions) its first item's.
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    pub ended_at: Option<i64>,
    pub cancel_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    pub metadata: Value,
    pub latest_invoice: Option<String>,
    pub default_payment_method: Option<String>,
}

impl Subscription {
    pub fn read(o: &Value) -> Result<Subscription, String> {
        let id = required(o, "id", "subscription")?;
        let status = required(o, "status", "subscription")?;
        if !SUBSCRIPTION_STATUSES.contains(&status.as_str()) {
            return Err(format!("subscription {id} has unknown status {status}"));
        }
        let item = o.get("items").and_then(|i| i.get("data")).and_then(|d| d.get(0));
        let price = item.and_then(|i| object(i, "price")).cloned();
        let period = |k: &str| int(o, k).or_else(|| item.and_then(|i| int(i, k)));
        Ok(Subscription {
            customer: reference(o, "customer"),
            price_id: price.as_ref().and_then(|p| text(p, "id")),
            price,
            quantity: item.and_then(|i| int(i, "quantity")).or_else(|| int(o, "quantity")).unwrap_or(1),
            cancel_at_period_end: flag(o, "cancel_at_period_end").unwrap_or(false),
            created: int(o, "created"),
            current_period_start: period("current_period_start"),
            current_period_end: period("current_period_end"),
            ended_at: int(o, "ended_at"),
            cancel_at: int(o, "cancel_at"),
            canceled_at: int(o, "canceled_at"),
            trial_start: int(o, "trial_start"),
            trial_end: int(o, "trial_end"),
            metadata: metadata(o),
            latest_invoice: reference(o, "latest_invoice"),
            default_payment_method: text(o, "default_payment_method"),
            id,
            status,
        })
    }
}

/// An invoice (`invoice.*` events), as one `billing_history` row.
#[derive(Debug, Serialize)]
pub struct Invoice {
    pub id: String,
    pub customer: Option<String>,
    /// The subscription it bills (older API versions: `subscription`; newer:
    /// `parent.subscription_details.subscription`).
    pub subscription: Option<String>,
    /// What the event reports: the amount paid, or for a failed payment the amount due.
    pub amount: i64,
    /// `failed` for a failed payment, else the invoice's status (`paid` when absent).
    pub status: String,
    /// Lower case; Stripe's default `usd` when absent.
    pub currency: String,
    /// The description, else the invoice number.
    pub description: Option<String>,
    pub hosted_invoice_url: Option<String>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
}

impl Invoice {
    /// The invoice of an `invoice.*` event; `failed` for `invoice.payment_failed`.
    pub fn read(o: &Value, failed: bool) -> Result<Invoice, String> {
        let parent_subscription =
            || o.get("parent").and_then(|p| p.get("subscription_details")).and_then(|d| text(d, "subscription"));
        Ok(Invoice {
            id: required(o, "id", "invoice")?,
            customer: reference(o, "customer"),
            subscription: text(o, "subscription").or_else(parent_subscription),
            amount: int(o, if failed { "amount_due" } else { "amount_paid" }).unwrap_or(0),
            status: if failed { "failed".into() } else { text(o, "status").unwrap_or_else(|| "paid".into()) },
            currency: text(o, "currency").unwrap_or_else(|| "usd".into()).to_ascii_lowercase(),
            description: text(o, "description").or_else(|| text(o, "number")),
            hosted_invoice_url: text(o, "hosted_invoice_url"),
            period_start: int(o, "period_start"),
            period_end: int(o, "period_end"),
        })
    }
}

/// A payment method (`payment_method.*` events), with its card when it is one.
#[derive(Debug, Serialize)]
pub struct PaymentMethod {
    pub id: String,
    pub customer: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub card_exp_month: Option<i64>,
    pub card_exp_year: Option<i64>,
}

impl PaymentMethod {
    pub fn read(o: &Value) -> Result<PaymentMethod, String> {
        let card = object(o, "card");
        Ok(PaymentMethod {
            id: required(o, "id", "payment method")?,
            customer: reference(o, "customer"),
            kind: text(o, "type").unwrap_or_else(|| "card".into()),
            card_brand: card.and_then(|c| text(c, "brand")),
            card_last4: card.and_then(|c| text(c, "last4")),
            card_exp_month: card.and_then(|c| int(c, "exp_month")),
            card_exp_year: card.and_then(|c| int(c, "exp_year")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_subscription_reads_its_item_and_expanded_references() {
        let s = Subscription::read(&json!({
            "id": "sub_1", "status": "active", "customer": {"id": "cus_1", "object": "customer"},
            "items": {"data": [{"quantity": 3, "current_period_end": 200,
                                "price": {"id": "price_1", "product": "prod_1", "currency": "EUR"}}]},
            "current_period_start": 100, "latest_invoice": "in_1", "trial_end": "not a number",
        }))
        .unwrap();
        assert_eq!((s.customer.as_deref(), s.price_id.as_deref(), s.quantity), (Some("cus_1"), Some("price_1"), 3));
        assert_eq!((s.current_period_start, s.current_period_end), (Some(100), Some(200)));
        assert_eq!((s.latest_invoice.as_deref(), s.trial_end), (Some("in_1"), None));
        assert_eq!(s.metadata, json!({}));
        let row = serde_json::to_value(&s).unwrap();
        assert_eq!(row["price_id"], "price_1");
        assert!(row.get("price").is_none(), "the price object is mirrored on its own, not in the row");
    }

    #[test]
    fn what_the_mirror_needs_is_required() {
        assert_eq!(Subscription::read(&json!({"status": "active"})).unwrap_err(), "subscription has no id");
        assert_eq!(
            Subscription::read(&json!({"id": "sub_1", "status": "bogus"})).unwrap_err(),
            "subscription sub_1 has unknown status bogus"
        );
        assert_eq!(
            Price::read(&json!({"id": "price_1", "currency": "usd"})).unwrap_err(),
            "price price_1 has no product"
        );
        assert_eq!(Price::read(&json!({"id": "price_1", "product": "prod_1"})).unwrap_err(), "price has no currency");
    }

    #[test]
    fn a_price_reads_recurring_details_and_lowercases_its_currency() {
        let p = Price::read(&json!({
            "id": "price_1", "product": {"id": "prod_1"}, "currency": "USD", "unit_amount": 1900, "type": "recurring",
            "recurring": {"interval": "month", "interval_count": 1},
        }))
        .unwrap();
        assert_eq!((p.product.as_str(), p.currency.as_str(), p.unit_amount), ("prod_1", "usd", Some(1900)));
        assert_eq!((p.interval.as_deref(), p.interval_count, p.trial_period_days), (Some("month"), Some(1), None));
        assert_eq!(serde_json::to_value(&p).unwrap()["type"], "recurring");
    }

    #[test]
    fn an_invoice_finds_its_subscription_in_either_api_version() {
        let old =
            Invoice::read(&json!({"id": "in_1", "subscription": "sub_1", "number": "A-1", "amount_paid": 900}), false)
                .unwrap();
        let new = Invoice::read(
            &json!({"id": "in_2", "amount_due": 500, "parent": {"subscription_details": {"subscription": "sub_2"}}}),
            true,
        )
        .unwrap();
        assert_eq!((old.subscription.as_deref(), old.description.as_deref()), (Some("sub_1"), Some("A-1")));
        assert_eq!((new.subscription.as_deref(), new.currency.as_str()), (Some("sub_2"), "usd"));
        assert_eq!((old.amount, old.status.as_str(), new.amount, new.status.as_str()), (900, "paid", 500, "failed"));
    }

    #[test]
    fn plan_limits_come_from_product_metadata() {
        let product = |meta: Value| Product::read(&json!({"id": "prod_pro", "name": "Pro", "metadata": meta})).unwrap();
        assert_eq!(PlanLimits::read(&product(json!({"tier": "x"}))).unwrap(), None);
        let limits =
            PlanLimits::read(&product(json!({"max_quotes": "-1", "pdf_export": "true", "analytics": "yes"}))).unwrap();
        let limits = limits.unwrap();
        assert_eq!((limits.max_quotes, limits.max_clients, limits.pdf_export, limits.analytics), (-1, 3, true, false));
        assert_eq!(
            PlanLimits::read(&product(json!({"max_quotes": "-2"}))).unwrap_err(),
            "product prod_pro: metadata max_quotes is not a limit"
        );
    }
}
