//! Applying a verified Stripe event to the mirror tables, exactly once.
//!
//! One transaction per delivery: record the event under its unique id (a concurrent or later
//! duplicate waits on that row and then sees it processed), apply it, mark it processed. Each
//! mirrored object keeps a watermark (the `created` time and id of the last event applied to
//! it): an older event is recorded and acknowledged but not applied, so out-of-order delivery
//! never regresses state. A failing handler rolls everything back and the raw event goes to
//! the dead-letter queue (500, so Stripe retries); a later success resolves the entry.
//! webhook-handler (deliveries) and webhook-monitor (replays) both come through here.
//!
//! Customers and users: a customer belongs to the user its first link names, and every later
//! event of the customer follows that link. A later event naming the user for another
//! customer (a second checkout carrying their id or email) or the customer for another user
//! does not move the link: it is recorded in `stripe_link_conflicts` for an administrator and
//! acknowledged. A checkout's email links only to a unique, confirmed address.
//!
//! A failure keeps its text (database errors included) for the administrators' views and
//! carries a [`FailureReason`], the only thing the customer concerned is told.

mod objects;

use objects::{Invoice, PaymentMethod, PlanLimits, Price, Product, Subscription};
use serde::Serialize;
use serde_json::Value;
use shared::db::{self, Db, DbError, Param};
use shared::http::Problem;
use std::time::Instant;

/// Where a delivery came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Stripe,
    /// Re-run of a stored dead-letter event by an administrator.
    Replay,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Stripe => "stripe",
            Source::Replay => "replay",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Changed the mirror tables.
    Applied,
    /// Older than what the object already reflects: acknowledged, not applied.
    Stale,
    /// Nothing to do for this event (an unhandled type, a customer of no user).
    Ignored,
    /// This event id was processed before: acknowledged, nothing changed.
    Duplicate,
    /// The handler failed: rolled back, stored in the dead-letter queue.
    Failed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Applied => "applied",
            Kind::Stale => "stale",
            Kind::Ignored => "ignored",
            Kind::Duplicate => "duplicate",
            Kind::Failed => "failed",
        }
    }

    /// The HTTP status Stripe gets: 2xx stops its retries, 5xx asks for them.
    pub fn http_status(self) -> u16 {
        if self == Kind::Failed {
            500
        } else {
            200
        }
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub event_id: String,
    pub event_type: String,
    pub kind: Kind,
    pub detail: String,
    /// Set when the event is (still) in the dead-letter queue.
    pub dead_letter_id: Option<String>,
    /// Why it failed, in words its customer may read (with `Kind::Failed`).
    pub reason: Option<FailureReason>,
}

/// Why an event could not be applied, as `stripe_webhook_events.failure_reason` keeps it for
/// the customer's own diagnostics (subscription-status). The handler's text, which may quote
/// the database, stays in `error_message` and the dead-letter queue, for administrators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// Stripe's data did not fit the mirror's rules (a constraint, a missing or unknown value).
    BillingDataRejected,
    /// The event is about a customer not linked to any user (yet).
    CustomerNotLinked,
    /// A conflict with concurrent work or a timeout: the retry is expected to succeed.
    TemporarilyUnavailable,
    /// Anything else.
    ProcessingFailed,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::BillingDataRejected => "billing_data_rejected",
            FailureReason::CustomerNotLinked => "customer_not_linked",
            FailureReason::TemporarilyUnavailable => "temporarily_unavailable",
            FailureReason::ProcessingFailed => "processing_failed",
        }
    }

    /// A database error by its SQLSTATE class: data and integrity errors (22, 23) mean the
    /// event's data was refused; serialization, deadlock, lock and statement timeouts pass.
    fn of(e: &DbError) -> FailureReason {
        match e.sqlstate() {
            Some(c) if c.starts_with("22") || c.starts_with("23") => FailureReason::BillingDataRejected,
            Some("40001" | "40P01" | "55P03" | "57014") => FailureReason::TemporarilyUnavailable,
            _ => FailureReason::ProcessingFailed,
        }
    }
}

/// The parts of an event every handler needs.
pub struct Event {
    pub id: String,
    pub kind: String,
    pub created: i64,
    pub object: Value,
    pub raw: Value,
}

impl Event {
    /// Parse a raw body; `Err` explains why it is not a Stripe event.
    pub fn parse(raw_body: &str) -> Result<Event, String> {
        let raw: Value = serde_json::from_str(raw_body).map_err(|e| format!("the body is not JSON ({e})"))?;
        let id = raw.get("id").and_then(Value::as_str).filter(|s| s.starts_with("evt_") && s.len() <= 255);
        let kind = raw.get("type").and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 255);
        let created = raw.get("created").and_then(Value::as_i64);
        let object = raw.get("data").and_then(|d| d.get("object")).filter(|o| o.is_object());
        match (id, kind, created, object) {
            (Some(id), Some(kind), Some(created), Some(object)) => Ok(Event {
                id: id.to_string(),
                kind: kind.to_string(),
                created,
                object: object.clone(),
                raw: raw.clone(),
            }),
            _ => Err("the JSON is not a Stripe event (needs id evt_…, type, created, data.object)".into()),
        }
    }

    fn object_id(&self) -> Option<&str> {
        self.object.get("id").and_then(Value::as_str)
    }

    fn object_type(&self) -> Option<&str> {
        self.object.get("object").and_then(Value::as_str)
    }

    /// The Stripe customer the event concerns.
    fn customer_id(&self) -> Option<String> {
        if self.object_type() == Some("customer") {
            return self.object_id().map(str::to_string);
        }
        match self.object.get("customer") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
    }
}

/// Why a delivery could not be applied.
enum Failure {
    /// The database is unreachable: nothing can be recorded; the caller gets 503.
    Unavailable(DbError),
    /// The handler failed: the event goes to the dead-letter queue.
    Handler { reason: FailureReason, detail: String },
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Failure {
        match e {
            DbError::Unavailable(_) => Failure::Unavailable(e),
            other => Failure::Handler { reason: FailureReason::of(&other), detail: other.to_string() },
        }
    }
}

/// The event's data is not what the mirror needs.
fn handler(msg: impl Into<String>) -> Failure {
    Failure::Handler { reason: FailureReason::BillingDataRejected, detail: msg.into() }
}

/// The event's customer is not linked to a user (retried until a checkout links it).
fn not_linked(msg: impl Into<String>) -> Failure {
    Failure::Handler { reason: FailureReason::CustomerNotLinked, detail: msg.into() }
}

/// Process one verified delivery. `Err` only when the database cannot be reached.
pub fn process(
    db: &Db,
    raw_body: &str,
    event: &Event,
    source: Source,
    client_addr: Option<&str>,
) -> Result<Outcome, Problem> {
    let started = Instant::now();
    let attempt = db.as_service(|db| -> Result<(Kind, String), Failure> {
        // The event's row, and (read in the same round trip, for `owner`) the user its customer
        // is linked to. A new event's row says processed from the start: nobody sees it before
        // the transaction commits, and then it is; so marking it below changes no indexed column
        // (the update can stay on its page, HOT). A delivery of an event seen before counts
        // itself; whether that event was processed then makes this one a duplicate.
        let rows = db.query(
            "INSERT INTO public.stripe_webhook_events AS e
               (stripe_event_id, event_type, stripe_customer_id, event_created, payload, raw_body,
                object_type, object_id, livemode, api_version, processed, processed_at)
             VALUES ($1, $2, $3, to_timestamp($4::int8), $5, $6, $7, $8, $9, $10, true, now())
             ON CONFLICT (stripe_event_id) DO UPDATE SET deliveries = e.deliveries + 1
             RETURNING e.deliveries > 1 AND e.processed AS duplicate,
               (SELECT c.user_id::text FROM public.stripe_customers c WHERE c.stripe_customer_id = $3) AS linked_user",
            &[
                db::text(&event.id),
                db::text(&event.kind),
                db::opt_text(event.customer_id()),
                Param::Int64(event.created),
                Param::Jsonb(raw_body.as_bytes().to_vec()),
                db::text(raw_body),
                db::opt_text(event.object_type()),
                db::opt_text(event.object_id()),
                event.raw.get("livemode").and_then(Value::as_bool).map(Param::Boolean).unwrap_or(Param::DbNull),
                db::opt_text(event.raw.get("api_version").and_then(Value::as_str)),
            ],
        )?;
        let recorded = rows.one()?;
        if recorded.flag("duplicate")? {
            audit(db, event, Kind::Duplicate, started.elapsed().as_secs_f64() * 1000.0, client_addr, source)?;
            return Ok((Kind::Duplicate, "already processed".into()));
        }
        let (kind, detail) = apply(db, event, recorded.text("linked_user")?.as_deref())?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        // Mark processed, resolve a dead-letter entry, log and audit: one statement.
        db.execute(
            "WITH ev AS (
               UPDATE public.stripe_webhook_events
                  SET processed = true, processed_at = now(), outcome = $2, error_message = NULL, failure_reason = NULL,
                      processing_ms = $3
                WHERE stripe_event_id = $1
             ), dlq AS (
               UPDATE public.webhook_dead_letter_queue
                  SET resolved_at = now(), resolution = $4, resolved_by = $5
                WHERE stripe_event_id = $1 AND resolved_at IS NULL
             ), log AS (
               INSERT INTO public.webhook_processing_logs (stripe_event_id, event_type, outcome, detail, duration_ms)
               VALUES ($1, $6, $2, $7, $3)
             )
             INSERT INTO public.webhook_audit_trail
               (stripe_event_id, event_type, signature_valid, duplicate, outcome, http_status, duration_ms, client_addr, source)
             VALUES ($1, $6, true, false, $2, 200, $3, $8, $5)",
            &[
                db::text(&event.id),
                db::text(kind.as_str()),
                Param::Floating64(ms),
                db::text(if source == Source::Replay { "replayed" } else { "retried" }),
                db::text(source.as_str()),
                db::text(&event.kind),
                db::text(detail.clone()),
                db::opt_text(client_addr),
            ],
        )?;
        Ok((kind, detail))
    });

    let elapsed = || started.elapsed().as_secs_f64() * 1000.0;
    match attempt {
        Ok((kind, detail)) => Ok(Outcome {
            event_id: event.id.clone(),
            event_type: event.kind.clone(),
            kind,
            detail,
            dead_letter_id: None,
            reason: None,
        }),
        Err(Failure::Unavailable(e)) => Err(e.into()),
        Err(Failure::Handler { reason, detail: error }) => {
            eprintln!("webhook {} ({}) failed ({}): {error}", event.id, event.kind, reason.as_str());
            let dead_letter_id = dead_letter(db, raw_body, event, &error, reason, elapsed(), client_addr, source)?;
            Ok(Outcome {
                event_id: event.id.clone(),
                event_type: event.kind.clone(),
                kind: Kind::Failed,
                detail: error,
                dead_letter_id: Some(dead_letter_id),
                reason: Some(reason),
            })
        }
    }
}

/// Record the failure (outside the rolled-back transaction): the event as unprocessed, the
/// raw body in the dead-letter queue (one entry per event id, counting failures).
#[allow(clippy::too_many_arguments)]
fn dead_letter(
    db: &Db,
    raw_body: &str,
    event: &Event,
    error: &str,
    reason: FailureReason,
    ms: f64,
    client_addr: Option<&str>,
    source: Source,
) -> Result<String, Problem> {
    let error: String = error.chars().take(2000).collect();
    db.as_service(|db| -> Result<String, Problem> {
        db.execute(
            "INSERT INTO public.stripe_webhook_events AS e
               (stripe_event_id, event_type, stripe_customer_id, event_created, payload, raw_body, object_type,
                object_id, processed, outcome, error_message, failure_reason)
             VALUES ($1, $2, $3, to_timestamp($4::int8), $5, $6, $7, $8, false, 'failed', $9, $10)
             ON CONFLICT (stripe_event_id) DO UPDATE
               SET deliveries = e.deliveries + 1, outcome = 'failed', error_message = EXCLUDED.error_message,
                   failure_reason = EXCLUDED.failure_reason",
            &[
                db::text(&event.id),
                db::text(&event.kind),
                db::opt_text(event.customer_id()),
                Param::Int64(event.created),
                Param::Jsonb(raw_body.as_bytes().to_vec()),
                db::text(raw_body),
                db::opt_text(event.object_type()),
                db::opt_text(event.object_id()),
                db::text(error.clone()),
                db::text(reason.as_str()),
            ],
        )?;
        let rows = db.query(
            "INSERT INTO public.webhook_dead_letter_queue AS q (stripe_event_id, event_type, raw_body, payload, last_error)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (stripe_event_id) DO UPDATE
               SET failure_count = q.failure_count + 1, last_error = EXCLUDED.last_error,
                   last_failed_at = now(), resolved_at = NULL, resolution = NULL, resolved_by = NULL
             RETURNING q.id",
            &[
                db::text(&event.id),
                db::text(&event.kind),
                db::text(raw_body),
                Param::Jsonb(raw_body.as_bytes().to_vec()),
                db::text(error.clone()),
            ],
        )?;
        log(db, event, Kind::Failed, &error, ms)?;
        audit(db, event, Kind::Failed, ms, client_addr, source)?;
        Ok(rows.one()?.string("id")?)
    })
}

fn log(db: &Db, event: &Event, kind: Kind, detail: &str, ms: f64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO public.webhook_processing_logs (stripe_event_id, event_type, outcome, detail, duration_ms)
         VALUES ($1, $2, $3, $4, $5)",
        &[db::text(&event.id), db::text(&event.kind), db::text(kind.as_str()), db::text(detail), Param::Floating64(ms)],
    )?;
    Ok(())
}

/// One audit row per delivery with a valid signature, in the caller's transaction (refused
/// deliveries are audited by `audit_rejected`, rate-limited).
fn audit(db: &Db, event: &Event, kind: Kind, ms: f64, client: Option<&str>, source: Source) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO public.webhook_audit_trail
           (stripe_event_id, event_type, signature_valid, duplicate, outcome, http_status, duration_ms, client_addr, source)
         VALUES ($1, $2, true, $3, $4, $5, $6, $7, $8)",
        &[
            db::text(&event.id),
            db::text(&event.kind),
            Param::Boolean(kind == Kind::Duplicate),
            db::text(kind.as_str()),
            Param::Int32(kind.http_status() as i32),
            Param::Floating64(ms),
            db::opt_text(client),
            db::text(source.as_str()),
        ],
    )?;
    Ok(())
}

/// Audit a delivery that was refused before processing (bad signature, not an event):
/// at most a fixed number of rows a minute, so refused requests cannot flood the table.
pub fn audit_rejected(db: &Db, reason: &str, status: u16, ms: f64, client: Option<&str>) {
    let r = db.as_service(|db| {
        db.query(
            "SELECT public.audit_rejected_webhook($1, $2, $3, $4) AS written",
            &[db::text(reason), Param::Int32(status as i32), Param::Floating64(ms), db::opt_text(client)],
        )
    });
    if let Err(e) = r {
        eprintln!("rejected webhook not audited: {e}");
    }
}

// ---- applying events ----------------------------------------------------------------------

type Applied = Result<(Kind, String), Failure>;

/// `linked` is the user the event's customer was linked to when the event was recorded.
fn apply(db: &Db, e: &Event, linked: Option<&str>) -> Applied {
    match e.kind.as_str() {
        "product.created" | "product.updated" => product(db, e, false),
        "product.deleted" => product(db, e, true),
        "price.created" | "price.updated" => price(db, e),
        "price.deleted" => price_deleted(db, e),
        "customer.created" | "customer.updated" => customer(db, e, linked),
        "customer.deleted" => customer_deleted(db, e),
        "checkout.session.completed" => checkout(db, e),
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted"
        | "customer.subscription.paused"
        | "customer.subscription.resumed"
        | "customer.subscription.trial_will_end" => subscription(db, e, linked),
        "invoice.paid" | "invoice.payment_succeeded" | "invoice.payment_failed" => invoice(db, e, linked),
        "payment_method.attached" | "payment_method.updated" => payment_method(db, e, linked),
        "payment_method.detached" => payment_method_detached(db, e),
        "setup_intent.succeeded" => setup_intent(db, e, linked),
        other => Ok((Kind::Ignored, format!("event type {other} is recorded but not handled"))),
    }
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn json(v: &Value, key: &str) -> Param {
    Param::Jsonb(
        serde_json::to_vec(v.get(key).filter(|m| m.is_object()).unwrap_or(&Value::Object(Default::default())))
            .unwrap_or_default(),
    )
}

/// One row for a statement that reads its values by name (`jsonb_to_record($1)`): a Stripe
/// object with what the mirror adds to it.
fn record(row: &impl Serialize) -> Param {
    Param::Jsonb(serde_json::to_vec(row).unwrap_or_default())
}

/// What the mirror adds to a Stripe object: whose it is and which event it comes from.
#[derive(Serialize)]
struct Mirrored<'a, T: Serialize> {
    #[serde(flatten)]
    object: &'a T,
    user_id: Option<&'a str>,
    event_created: Option<i64>,
    event_id: Option<&'a str>,
}

impl<'a, T: Serialize> Mirrored<'a, T> {
    fn new(object: &'a T, user_id: Option<&'a str>, e: Option<&'a Event>) -> Mirrored<'a, T> {
        Mirrored { object, user_id, event_created: e.map(|e| e.created), event_id: e.map(|e| e.id.as_str()) }
    }
}

fn required<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, Failure> {
    s(v, key).ok_or_else(|| handler(format!("{what} has no {key}")))
}

/// The watermark statement: advances the object's watermark (parameters: object type, id,
/// event created, event id) unless a newer event was applied; a row when it advanced. The row
/// lock serializes events of one object.
macro_rules! advance_watermark_sql {
    () => {
        "INSERT INTO public.stripe_object_watermarks AS w (object_type, object_id, event_created, event_id)
         VALUES ($1, $2, to_timestamp($3::int8), $4)
         ON CONFLICT (object_type, object_id) DO UPDATE
           SET event_created = EXCLUDED.event_created, event_id = EXCLUDED.event_id, updated_at = now()
           WHERE w.event_created <= EXCLUDED.event_created
         RETURNING true AS advanced"
    };
}

fn watermark_params(object_type: &str, object_id: &str, e: &Event) -> Vec<Param> {
    vec![db::text(object_type), db::text(object_id), Param::Int64(e.created), db::text(&e.id)]
}

/// Advance the object's watermark if this event is not older than the last one applied.
/// Returns false for a stale event.
fn advance_watermark(db: &Db, object_type: &str, object_id: &str, e: &Event) -> Result<bool, Failure> {
    let rows = db.query(advance_watermark_sql!(), &watermark_params(object_type, object_id, e))?;
    Ok(!rows.is_empty())
}

fn stale(object_type: &str, id: &str) -> Applied {
    Ok((Kind::Stale, format!("{object_type} {id} already reflects a newer event")))
}

/// Whose an event's customer is.
enum Owner {
    /// Linked to this user (now, or before).
    User(String),
    /// The event named a user or customer that is linked otherwise: recorded, not linked.
    Conflict(String),
    /// No link, and nothing in the event that may make one.
    Unknown,
}

/// How an event named the user it would link a customer to.
#[derive(Clone, Copy)]
enum MatchedBy {
    ClientReferenceId,
    Metadata,
    Email,
}

impl MatchedBy {
    fn as_str(self) -> &'static str {
        match self {
            MatchedBy::ClientReferenceId => "client_reference_id",
            MatchedBy::Metadata => "metadata",
            MatchedBy::Email => "email",
        }
    }
}

/// The user of `customer`: the mirror's link (for the event's own customer, `linked`, read when
/// the event was recorded); else, when `metadata.supabase_user_id` names an existing user, a new
/// link to them (see [`link`]). Never anyone the customer is not linked to.
fn owner(
    db: &Db,
    e: &Event,
    linked: Option<&str>,
    customer: Option<&str>,
    metadata: Option<&Value>,
) -> Result<Owner, Failure> {
    let Some(customer) = customer else { return Ok(Owner::Unknown) };
    let linked = if e.customer_id().as_deref() == Some(customer) {
        linked.map(str::to_string)
    } else {
        let rows = db.query(
            "SELECT user_id::text AS user_id FROM public.stripe_customers WHERE stripe_customer_id = $1",
            &[db::text(customer)],
        )?;
        rows.first().map(|r| r.string("user_id")).transpose()?
    };
    if let Some(user) = linked {
        return Ok(Owner::User(user));
    }
    let claimed = metadata.and_then(|m| s(m, "supabase_user_id")).filter(|u| shared::params::is_uuid(u));
    match claimed {
        Some(user) if user_exists(db, user)? => {
            link(db, e, &user.to_ascii_lowercase(), customer, None, MatchedBy::Metadata)
        }
        _ => Ok(Owner::Unknown),
    }
}

fn user_exists(db: &Db, id: &str) -> Result<bool, Failure> {
    let rows = db.query("SELECT public.auth_user_exists($1) AS found", &[db::uuid(id)])?;
    Ok(rows.one()?.flag("found")?)
}

/// Link `customer` to `user`. The first link wins, for both sides: a user linked to another
/// customer, or a customer linked to another user, stays as it is and the attempt is recorded
/// in `stripe_link_conflicts` (so a second checkout carrying someone's id or email cannot take
/// their billing over). Only a user whose customer was deleted in Stripe may be linked anew.
fn link(db: &Db, e: &Event, user: &str, customer: &str, email: Option<&str>, by: MatchedBy) -> Result<Owner, Failure> {
    let inserted = db.query(
        "INSERT INTO public.stripe_customers (user_id, stripe_customer_id, email) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING 1",
        &[db::uuid(user), db::text(customer), db::opt_text(email)],
    )?;
    if !inserted.is_empty() {
        return Ok(Owner::User(user.to_string()));
    }
    // Either side is linked already (a concurrent insert has committed by now): look.
    let rows = db.query(
        "SELECT user_id::text AS user_id, stripe_customer_id, deleted FROM public.stripe_customers
         WHERE user_id = $1 OR stripe_customer_id = $2 FOR UPDATE",
        &[db::uuid(user), db::text(customer)],
    )?;
    let mut users_customer: Option<(String, bool)> = None;
    let mut customers_user: Option<String> = None;
    for r in rows.iter() {
        let (row_user, row_customer) = (r.string("user_id")?, r.string("stripe_customer_id")?);
        if row_user == user {
            users_customer = Some((row_customer.clone(), r.flag("deleted")?));
        }
        if row_customer == customer {
            customers_user = Some(row_user);
        }
    }
    match (&users_customer, &customers_user) {
        (Some((linked, _)), _) if linked == customer => {
            if email.is_some() {
                db.execute(
                    "UPDATE public.stripe_customers SET email = $2, updated_at = now() WHERE stripe_customer_id = $1",
                    &[db::text(customer), db::opt_text(email)],
                )?;
            }
            return Ok(Owner::User(user.to_string()));
        }
        (Some((_, true)), None) => {
            db.execute(
                "UPDATE public.stripe_customers SET stripe_customer_id = $2, email = $3, metadata = '{}', deleted = false,
                   last_event_created = NULL, last_event_id = NULL, updated_at = now()
                 WHERE user_id = $1",
                &[db::uuid(user), db::text(customer), db::opt_text(email)],
            )?;
            return Ok(Owner::User(user.to_string()));
        }
        _ => {}
    }
    let linked_customer = users_customer.map(|(c, _)| c);
    db.execute(
        "INSERT INTO public.stripe_link_conflicts (stripe_event_id, event_type, matched_by, claimed_user_id,
           claimed_customer_id, linked_customer_id, linked_user_id, email)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (stripe_event_id, claimed_customer_id) DO NOTHING",
        &[
            db::text(&e.id),
            db::text(&e.kind),
            db::text(by.as_str()),
            db::uuid(user),
            db::text(customer),
            db::opt_text(linked_customer.clone()),
            customers_user.as_deref().map(db::uuid).unwrap_or(Param::DbNull),
            db::opt_text(email),
        ],
    )?;
    let why = match (linked_customer, customers_user) {
        (Some(c), _) => format!("user {user} is linked to customer {c}"),
        (None, Some(u)) => format!("customer {customer} is linked to user {u}"),
        (None, None) => "the link changed meanwhile".to_string(),
    };
    Ok(Owner::Conflict(format!(
        "not linking customer {customer} to user {user} (by {}): {why}; kept, and recorded in stripe_link_conflicts for review",
        by.as_str()
    )))
}

fn product(db: &Db, e: &Event, deleted: bool) -> Applied {
    let mut product = Product::read(&e.object).map_err(handler)?;
    let id = product.id.clone();
    if !advance_watermark(db, "product", &id, e)? {
        return stale("product", &id);
    }
    product.active &= !deleted;
    db.execute(
        "INSERT INTO public.stripe_products (id, active, name, description, metadata, last_event_created, last_event_id)
         SELECT p.id, p.active, p.name, p.description, p.metadata, to_timestamp(p.event_created), p.event_id
         FROM jsonb_to_record($1::jsonb) AS p(id text, active bool, name text, description text, metadata jsonb,
                                              event_created int8, event_id text)
         ON CONFLICT (id) DO UPDATE SET active = EXCLUDED.active,
           name = coalesce(EXCLUDED.name, stripe_products.name), description = EXCLUDED.description,
           metadata = EXCLUDED.metadata, last_event_created = EXCLUDED.last_event_created,
           last_event_id = EXCLUDED.last_event_id, updated_at = now()",
        &[record(&Mirrored::new(&product, None, Some(e)))],
    )?;
    // Plan limits may be kept in Stripe: product metadata with `max_quotes` defines the row.
    if let Some(limits) = PlanLimits::read(&product).map_err(handler)? {
        db.execute(
            "INSERT INTO public.plan_limits (plan_key, name, max_quotes, max_clients, pdf_export, email_quotes,
                                             custom_branding, analytics, api_access, bulk_operations)
             SELECT * FROM jsonb_to_record($1::jsonb) AS l(plan_key text, name text, max_quotes int, max_clients int,
               pdf_export bool, email_quotes bool, custom_branding bool, analytics bool, api_access bool,
               bulk_operations bool)
             ON CONFLICT (plan_key) DO UPDATE SET name = EXCLUDED.name, max_quotes = EXCLUDED.max_quotes,
               max_clients = EXCLUDED.max_clients, pdf_export = EXCLUDED.pdf_export, email_quotes = EXCLUDED.email_quotes,
               custom_branding = EXCLUDED.custom_branding, analytics = EXCLUDED.analytics,
               api_access = EXCLUDED.api_access, bulk_operations = EXCLUDED.bulk_operations, updated_at = now()",
            &[record(&limits)],
        )?;
    }
    Ok((Kind::Applied, format!("product {id} {}", if product.active { "active" } else { "inactive" })))
}

/// Mirror a price: from its own event (`e`), or from a subscription's snapshot (no event of
/// its own, so the price's watermark columns keep what they had).
fn upsert_price(db: &Db, price: &Price, e: Option<&Event>) -> Result<(), Failure> {
    db.execute(
        "INSERT INTO public.stripe_prices (id, stripe_product_id, active, currency, unit_amount, type, \"interval\",
                                           interval_count, trial_period_days, metadata, last_event_created, last_event_id)
         SELECT p.id, p.product, p.active, p.currency, p.unit_amount, p.type, p.\"interval\", coalesce(p.interval_count, 1),
                p.trial_period_days, p.metadata, to_timestamp(p.event_created), p.event_id
         FROM jsonb_to_record($1::jsonb) AS p(id text, product text, active bool, currency text, unit_amount int8,
                                              type text, \"interval\" text, interval_count int, trial_period_days int,
                                              metadata jsonb, event_created int8, event_id text)
         ON CONFLICT (id) DO UPDATE SET stripe_product_id = EXCLUDED.stripe_product_id, active = EXCLUDED.active,
           currency = EXCLUDED.currency, unit_amount = EXCLUDED.unit_amount, type = EXCLUDED.type,
           \"interval\" = EXCLUDED.\"interval\", interval_count = EXCLUDED.interval_count,
           trial_period_days = EXCLUDED.trial_period_days, metadata = EXCLUDED.metadata,
           last_event_created = coalesce(EXCLUDED.last_event_created, stripe_prices.last_event_created),
           last_event_id = coalesce(EXCLUDED.last_event_id, stripe_prices.last_event_id), updated_at = now()",
        &[record(&Mirrored::new(price, None, e))],
    )?;
    Ok(())
}

fn price(db: &Db, e: &Event) -> Applied {
    let id = required(&e.object, "id", "price")?;
    if !advance_watermark(db, "price", id, e)? {
        return stale("price", id);
    }
    // A price whose product is unknown fails (foreign key) and is retried from the queue once
    // product.created has arrived.
    upsert_price(db, &Price::read(&e.object).map_err(handler)?, Some(e))?;
    Ok((Kind::Applied, format!("price {id}")))
}

fn price_deleted(db: &Db, e: &Event) -> Applied {
    let id = required(&e.object, "id", "price")?;
    if !advance_watermark(db, "price", id, e)? {
        return stale("price", id);
    }
    let n = db.execute(
        "UPDATE public.stripe_prices SET active = false, last_event_created = to_timestamp($2::int8), last_event_id = $3,
           updated_at = now() WHERE id = $1",
        &[db::text(id), Param::Int64(e.created), db::text(&e.id)],
    )?;
    Ok(if n == 0 {
        (Kind::Ignored, format!("price {id} was never mirrored"))
    } else {
        (Kind::Applied, format!("price {id} archived"))
    })
}

fn customer(db: &Db, e: &Event, linked: Option<&str>) -> Applied {
    let o = &e.object;
    let id = required(o, "id", "customer")?;
    let user = match owner(db, e, linked, Some(id), o.get("metadata"))? {
        Owner::User(user) => user,
        Owner::Conflict(why) => return Ok((Kind::Ignored, why)),
        Owner::Unknown => {
            return Ok((
                Kind::Ignored,
                format!("customer {id} belongs to no known user (no link, no supabase_user_id)"),
            ))
        }
    };
    if !advance_watermark(db, "customer", id, e)? {
        return stale("customer", id);
    }
    db.execute(
        "UPDATE public.stripe_customers SET email = coalesce($5, email), metadata = $2,
           last_event_created = to_timestamp($3::int8), last_event_id = $4, updated_at = now()
         WHERE stripe_customer_id = $1",
        &[db::text(id), json(o, "metadata"), Param::Int64(e.created), db::text(&e.id), db::opt_text(s(o, "email"))],
    )?;
    let default_pm = o.get("invoice_settings").and_then(|i| s(i, "default_payment_method"));
    if let Some(pm) = default_pm {
        db.execute(
            "UPDATE public.payment_methods SET is_default = (id = $2), updated_at = now() WHERE stripe_customer_id = $1",
            &[db::text(id), db::text(pm)],
        )?;
    }
    Ok((Kind::Applied, format!("customer {id} linked to user {user}")))
}

fn customer_deleted(db: &Db, e: &Event) -> Applied {
    let id = required(&e.object, "id", "customer")?;
    if !advance_watermark(db, "customer", id, e)? {
        return stale("customer", id);
    }
    let n = db.execute(
        "UPDATE public.stripe_customers SET deleted = true, last_event_created = to_timestamp($2::int8),
           last_event_id = $3, updated_at = now() WHERE stripe_customer_id = $1",
        &[db::text(id), Param::Int64(e.created), db::text(&e.id)],
    )?;
    Ok(if n == 0 {
        (Kind::Ignored, format!("customer {id} was never linked"))
    } else {
        (Kind::Applied, format!("customer {id} deleted"))
    })
}

fn checkout(db: &Db, e: &Event) -> Applied {
    let o = &e.object;
    let Some(customer) = s(o, "customer") else {
        return Ok((Kind::Ignored, "checkout session without a customer".into()));
    };
    let email = o.get("customer_details").and_then(|d| s(d, "email")).or_else(|| s(o, "customer_email"));
    // The session names its user by client_reference_id (which a payment link takes from its
    // URL, so anyone can write it), then metadata; the email only as a fallback, and only when
    // it is one user's confirmed address. Whoever it names, the first link wins (`link`).
    let mut claim = None;
    let named = [
        (s(o, "client_reference_id"), MatchedBy::ClientReferenceId),
        (o.get("metadata").and_then(|m| s(m, "supabase_user_id")), MatchedBy::Metadata),
    ];
    for (candidate, by) in named {
        if let Some(id) = candidate.filter(|c| shared::params::is_uuid(c)) {
            if user_exists(db, id)? {
                claim = Some((id.to_ascii_lowercase(), by));
                break;
            }
        }
    }
    if claim.is_none() {
        if let Some(email) = email {
            let rows = db.query("SELECT public.auth_user_by_verified_email($1)::text AS id", &[db::text(email)])?;
            claim = rows.one()?.text("id")?.map(|id| (id, MatchedBy::Email));
        }
    }
    let Some((user, by)) = claim else {
        return Err(not_linked(format!(
            "checkout session {} cannot be linked to a user (no known user id, no unique confirmed email)",
            s(o, "id").unwrap_or("?")
        )));
    };
    match link(db, e, &user, customer, email, by)? {
        Owner::User(user) => {
            Ok((Kind::Applied, format!("customer {customer} linked to user {user} by checkout ({})", by.as_str())))
        }
        Owner::Conflict(why) => Ok((Kind::Ignored, why)),
        Owner::Unknown => Ok((Kind::Ignored, format!("customer {customer} was not linked"))),
    }
}

fn subscription(db: &Db, e: &Event, linked: Option<&str>) -> Applied {
    let subscription = Subscription::read(&e.object).map_err(handler)?;
    let Subscription { id, status, price_id, .. } = &subscription;
    let customer = e.customer_id();
    // The subscription is its customer's: whoever else its metadata names gets nothing.
    let user = match owner(db, e, linked, customer.as_deref(), e.object.get("metadata"))? {
        Owner::User(user) => user,
        Owner::Conflict(why) => return Ok((Kind::Ignored, why)),
        // Retried until checkout.session.completed (or the customer) links it.
        Owner::Unknown => {
            return Err(not_linked(format!(
                "subscription {id}: customer {} is not linked to a user",
                customer.unwrap_or_default()
            )))
        }
    };
    // The watermark, and whether the snapshot's price is mirrored yet: one round trip.
    let mut params = watermark_params("subscription", id, e);
    params.push(db::opt_text(price_id.as_deref()));
    let rows = db.query(
        concat!(
            "WITH w AS (",
            advance_watermark_sql!(),
            ") SELECT EXISTS (SELECT 1 FROM w) AS advanced,
                      EXISTS (SELECT 1 FROM public.stripe_prices WHERE id = $5) AS price_mirrored"
        ),
        &params,
    )?;
    let row = rows.one()?;
    if !row.flag("advanced")? {
        return stale("subscription", id);
    }
    if let (Some(price), Some(_), false) = (&subscription.price, price_id, row.flag("price_mirrored")?) {
        // The snapshot carries the whole price: mirror it (and a placeholder for its product
        // until product.created arrives), so a subscription never waits on catalog events.
        let price = Price::read(price).map_err(handler)?;
        db.execute(
            "INSERT INTO public.stripe_products (id, active) VALUES ($1, true) ON CONFLICT (id) DO NOTHING",
            &[db::text(&price.product)],
        )?;
        upsert_price(db, &price, None)?;
    }
    // The upsert and, when the status, the cancellation or the price changed, a line of the
    // change history (for the user's billing page and support): one statement, which compares
    // the row as it was with the snapshot.
    db.execute(
        "WITH s AS (
           SELECT * FROM jsonb_to_record($1::jsonb) AS s(id text, user_id uuid, customer text, price_id text,
             status text, quantity int, cancel_at_period_end bool, created int8, current_period_start int8,
             current_period_end int8, ended_at int8, cancel_at int8, canceled_at int8, trial_start int8, trial_end int8,
             metadata jsonb, latest_invoice text, default_payment_method text, event_created int8, event_id text)
         ), old AS (
           SELECT status::text AS status, cancel_at_period_end, stripe_price_id
           FROM public.subscriptions WHERE stripe_subscription_id = (SELECT id FROM s)
         ), up AS (
         INSERT INTO public.subscriptions (stripe_subscription_id, user_id, stripe_customer_id, stripe_price_id, status,
            quantity, cancel_at_period_end, created, current_period_start, current_period_end, ended_at, cancel_at,
            canceled_at, trial_start, trial_end, metadata, latest_invoice, default_payment_method,
            last_event_created, last_event_id)
         SELECT s.id, s.user_id, s.customer, s.price_id, s.status::public.subscription_status, s.quantity,
            s.cancel_at_period_end, coalesce(to_timestamp(s.created), now()), to_timestamp(s.current_period_start),
            to_timestamp(s.current_period_end), to_timestamp(s.ended_at), to_timestamp(s.cancel_at),
            to_timestamp(s.canceled_at), to_timestamp(s.trial_start), to_timestamp(s.trial_end), s.metadata,
            s.latest_invoice, s.default_payment_method, to_timestamp(s.event_created), s.event_id
         FROM s
         ON CONFLICT (stripe_subscription_id) DO UPDATE SET user_id = EXCLUDED.user_id,
            stripe_customer_id = EXCLUDED.stripe_customer_id, stripe_price_id = EXCLUDED.stripe_price_id,
            status = EXCLUDED.status, quantity = EXCLUDED.quantity, cancel_at_period_end = EXCLUDED.cancel_at_period_end,
            created = EXCLUDED.created, current_period_start = EXCLUDED.current_period_start,
            current_period_end = EXCLUDED.current_period_end, ended_at = EXCLUDED.ended_at,
            cancel_at = EXCLUDED.cancel_at, canceled_at = EXCLUDED.canceled_at, trial_start = EXCLUDED.trial_start,
            trial_end = EXCLUDED.trial_end, metadata = EXCLUDED.metadata, latest_invoice = EXCLUDED.latest_invoice,
            default_payment_method = EXCLUDED.default_payment_method,
            last_event_created = EXCLUDED.last_event_created, last_event_id = EXCLUDED.last_event_id, updated_at = now()
         ), change AS (
           -- What changed first: no row (a new subscription), the status, the cancellation, the price.
           SELECT CASE
                    WHEN old.status IS NULL THEN 'status_change'
                    WHEN old.status <> s.status THEN
                      CASE WHEN s.status = 'canceled' THEN 'cancellation'
                           WHEN old.status = 'canceled' OR (old.status = 'paused' AND s.status = 'active') THEN 'reactivation'
                           ELSE 'status_change' END
                    WHEN old.cancel_at_period_end <> s.cancel_at_period_end THEN
                      CASE WHEN s.cancel_at_period_end THEN 'cancellation' ELSE 'reactivation' END
                    WHEN old.stripe_price_id IS DISTINCT FROM s.price_id THEN 'plan_change'
                  END AS kind,
                  CASE
                    WHEN old.status IS NULL THEN 'null'::jsonb
                    WHEN old.status <> s.status THEN jsonb_build_object('status', old.status)
                    WHEN old.cancel_at_period_end <> s.cancel_at_period_end
                      THEN jsonb_build_object('cancel_at_period_end', old.cancel_at_period_end)
                    ELSE jsonb_build_object('price', old.stripe_price_id)
                  END AS old_value
           FROM s LEFT JOIN old ON true
         )
         INSERT INTO public.subscription_changes (user_id, subscription_id, change_type, old_value, new_value, \"timestamp\", metadata)
         SELECT s.user_id, s.id, change.kind, change.old_value,
                jsonb_build_object('status', s.status, 'cancel_at_period_end', s.cancel_at_period_end, 'price', s.price_id),
                to_timestamp(s.event_created), jsonb_build_object('event_id', s.event_id, 'event_type', $2::text)
         FROM s, change WHERE change.kind IS NOT NULL",
        &[record(&Mirrored::new(&subscription, Some(&user), Some(e))), db::text(&e.kind)],
    )?;
    Ok((Kind::Applied, format!("subscription {id} is {status}")))
}

fn invoice(db: &Db, e: &Event, linked: Option<&str>) -> Applied {
    let failed = e.kind == "invoice.payment_failed";
    let invoice = Invoice::read(&e.object, failed).map_err(handler)?;
    let id = invoice.id.as_str();
    let user = match owner(db, e, linked, invoice.customer.as_deref(), None)? {
        Owner::User(user) => Some(user),
        Owner::Conflict(_) | Owner::Unknown => None,
    };
    let (amount, status) = (invoice.amount, invoice.status.as_str());
    let currency = invoice.currency.as_str();
    let subscription = invoice.subscription.clone();
    // One row per invoice; the newest event about it decides its status.
    if advance_watermark(db, "invoice", id, e)? {
        db.execute(
            "INSERT INTO public.billing_history (id, user_id, stripe_customer_id, subscription_id, amount, currency, status,
                 description, invoice_url, period_start, period_end)
             SELECT b.id, b.user_id, b.customer, b.subscription, b.amount, b.currency, b.status, b.description,
                    b.hosted_invoice_url, to_timestamp(b.period_start), to_timestamp(b.period_end)
             FROM jsonb_to_record($1::jsonb) AS b(id text, user_id uuid, customer text, subscription text, amount int8,
                    currency text, status text, description text, hosted_invoice_url text, period_start int8,
                    period_end int8)
             ON CONFLICT (id) DO UPDATE SET user_id = coalesce(EXCLUDED.user_id, billing_history.user_id),
               amount = EXCLUDED.amount, currency = EXCLUDED.currency, status = EXCLUDED.status,
               invoice_url = coalesce(EXCLUDED.invoice_url, billing_history.invoice_url), updated_at = now()",
            &[record(&Mirrored::new(&invoice, user.as_deref(), None))],
        )?;
    }
    // Each payment event is recorded once (the event id is processed once). The subscription's
    // status itself follows Stripe's own customer.subscription.updated (past_due), applied by
    // the newest-snapshot rule, so a late failure never overrides a newer state.
    if e.kind != "invoice.payment_succeeded" || !already_recorded_payment(db, id)? {
        db.execute(
            "INSERT INTO public.subscription_changes (user_id, subscription_id, change_type, new_value, \"timestamp\", metadata)
             VALUES ($1, $2, $3, $4, to_timestamp($5::int8), $6)",
            &[
                user.as_deref().map(db::uuid).unwrap_or(Param::DbNull),
                db::opt_text(subscription),
                db::text(if failed { "payment_failed" } else { "payment_succeeded" }),
                Param::Jsonb(serde_json::json!({ "invoice": id, "amount": amount, "currency": currency }).to_string().into_bytes()),
                Param::Int64(e.created),
                Param::Jsonb(serde_json::json!({ "event_id": e.id, "event_type": e.kind }).to_string().into_bytes()),
            ],
        )?;
    }
    Ok((Kind::Applied, format!("invoice {id} {status} ({amount} {currency})")))
}

/// invoice.paid and invoice.payment_succeeded report the same payment: record it once.
fn already_recorded_payment(db: &Db, invoice: &str) -> Result<bool, Failure> {
    let rows = db.query(
        "SELECT 1 FROM public.subscription_changes WHERE change_type = 'payment_succeeded' AND new_value ->> 'invoice' = $1",
        &[db::text(invoice)],
    )?;
    Ok(!rows.is_empty())
}

fn payment_method(db: &Db, e: &Event, linked: Option<&str>) -> Applied {
    let method = PaymentMethod::read(&e.object).map_err(handler)?;
    let id = method.id.as_str();
    let customer = e.customer_id();
    let Owner::User(user) = owner(db, e, linked, customer.as_deref(), None)? else {
        return Err(not_linked(format!(
            "payment method {id}: customer {} is not linked to a user",
            customer.unwrap_or_default()
        )));
    };
    if !advance_watermark(db, "payment_method", id, e)? {
        return stale("payment method", id);
    }
    db.execute(
        "INSERT INTO public.payment_methods (id, user_id, stripe_customer_id, type, card_brand, card_last4,
             card_exp_month, card_exp_year, detached_at)
         SELECT m.id, m.user_id, m.customer, m.type, m.card_brand, m.card_last4, m.card_exp_month, m.card_exp_year, NULL
         FROM jsonb_to_record($1::jsonb) AS m(id text, user_id uuid, customer text, type text, card_brand text,
                                              card_last4 text, card_exp_month int, card_exp_year int)
         ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
           type = EXCLUDED.type, card_brand = EXCLUDED.card_brand, card_last4 = EXCLUDED.card_last4,
           card_exp_month = EXCLUDED.card_exp_month, card_exp_year = EXCLUDED.card_exp_year, detached_at = NULL,
           updated_at = now()",
        &[record(&Mirrored::new(&method, Some(&user), None))],
    )?;
    Ok((Kind::Applied, format!("payment method {id} attached")))
}

fn payment_method_detached(db: &Db, e: &Event) -> Applied {
    let id = required(&e.object, "id", "payment method")?;
    if !advance_watermark(db, "payment_method", id, e)? {
        return stale("payment method", id);
    }
    let n = db.execute(
        "UPDATE public.payment_methods SET detached_at = to_timestamp($2::int8), is_default = false, updated_at = now()
         WHERE id = $1",
        &[db::text(id), Param::Int64(e.created)],
    )?;
    Ok(if n == 0 {
        (Kind::Ignored, format!("payment method {id} was never mirrored"))
    } else {
        (Kind::Applied, format!("payment method {id} detached"))
    })
}

fn setup_intent(db: &Db, e: &Event, linked: Option<&str>) -> Applied {
    let o = &e.object;
    let (Some(pm), customer) = (s(o, "payment_method"), e.customer_id()) else {
        return Ok((Kind::Ignored, "setup intent without a payment method".into()));
    };
    let user = match owner(db, e, linked, customer.as_deref(), o.get("metadata"))? {
        Owner::User(user) => user,
        Owner::Conflict(why) => return Ok((Kind::Ignored, why)),
        Owner::Unknown => {
            return Ok((
                Kind::Ignored,
                format!("setup intent for customer {} of no known user", customer.unwrap_or_default()),
            ))
        }
    };
    // The card's details arrive with payment_method.attached; record that it exists.
    db.execute(
        "INSERT INTO public.payment_methods (id, user_id, stripe_customer_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        &[db::text(pm), db::uuid(&user), db::opt_text(customer)],
    )?;
    Ok((Kind::Applied, format!("payment method {pm} set up")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_must_have_the_stripe_shape() {
        assert!(Event::parse("").is_err());
        assert!(Event::parse("[]").is_err());
        assert!(Event::parse(r#"{"id":"evt_1","type":"x","created":1}"#).is_err());
        assert!(Event::parse(r#"{"id":"x_1","type":"x","created":1,"data":{"object":{}}}"#).is_err());
        let e = Event::parse(r#"{"id":"evt_1","type":"invoice.paid","created":5,"data":{"object":{"id":"in_1","object":"invoice","customer":"cus_1"}}}"#).unwrap();
        assert_eq!((e.id.as_str(), e.kind.as_str(), e.created), ("evt_1", "invoice.paid", 5));
        assert_eq!(e.customer_id().as_deref(), Some("cus_1"));
        let c = Event::parse(r#"{"id":"evt_2","type":"customer.created","created":5,"data":{"object":{"id":"cus_9","object":"customer"}}}"#).unwrap();
        assert_eq!(c.customer_id().as_deref(), Some("cus_9"));
    }

    #[test]
    fn failures_answer_500_everything_else_200() {
        assert_eq!(Kind::Failed.http_status(), 500);
        for k in [Kind::Applied, Kind::Stale, Kind::Ignored, Kind::Duplicate] {
            assert_eq!(k.http_status(), 200);
        }
    }
}
