//! The quote domain: what a client may send to create or change a quote, how it is checked,
//! its totals, and the status machine. Pure code: no database, no I/O.
//!
//! # Bodies
//!
//! - Create ([`QuoteInput`] → [`validate`] → [`ValidQuote`]): the quote object itself, or
//!   `{"quote": {...}, "operations": {...}}` as the original clients send it.
//! - Update ([`QuoteUpdateInput`] → [`validate_update`] → [`QuoteUpdate`]): a partial quote,
//!   or the original's `{"quote_id": ..., "updates": {...}, "operations": {...}}` (`quote`
//!   may stand for `updates`). Absent fields stay as they are; `null` or blank text clears
//!   an optional field. Apply it with [`QuoteUpdate::apply`], then [`QuoteFields::check`]
//!   the result: the rules between fields hold for the whole quote, not for the patch.
//!
//! Operations (`generate_pdf`, `send_email`) come in `operations` or, in the direct form,
//! as top-level flags. The original's `update_usage` and `auto_save` are accepted and ignored:
//! usage is always counted.
//!
//! # Errors
//!
//! Every problem is reported at once, as [`FieldError`]s for `Problem::validation`. Field
//! names are relative to the quote in both body forms: `client_name`, `line_items[3].quantity`,
//! `operations.send_email`. Codes are in [`code`].
//!
//! # Rules (and the decisions behind them)
//!
//! - Fields the server owns (`id`, `user_id`, `quote_number`, the totals, timestamps, and
//!   `status` on create) are refused as `read_only`, any other unknown field as
//!   `unknown_field`. The original wrote whatever the client sent (mass assignment); a typo
//!   should not be silently dropped either. A line item's `total`, which the original's
//!   clients send with every item, is accepted and ignored: the server computes it.
//! - Text is trimmed; blank optional text counts as absent; otherwise text is kept verbatim
//!   (`O'Brien <b>` stays so): escaping is the renderer's job. Control characters are refused
//!   (PostgreSQL cannot store NUL), except newlines and tabs in multi-line fields
//!   (`client_address`, `description`, `notes`).
//! - A quote has 1..=200 line items; a template may have none. `template_name` is required
//!   when `is_template` is true.
//! - Line items take `unit_price` or the app's `cost` (both when they are equal), and an
//!   optional `id` (string or integer) and `category`.
//! - Numbers are JSON numbers or decimal strings, read exactly (see [`crate::money`]): prices
//!   with at most the decimals of the quote's currency (2 for USD, 0 for JPY, 3 for KWD),
//!   quantities with ≤ 3, rates (percent) with ≤ 2. Totals follow the rounding rule
//!   documented there, to the currency's smallest unit; a quote whose total would exceed
//!   9999999999.99 is refused.
//! - `tax_rate` and `markup_rate` default to 0 on create.
//! - `currency` is an active ISO 4217 code ([`crate::currency`]), upper case; unknown codes
//!   are `unknown_currency`. Absent on create, the caller fills in the owner's preferred
//!   currency and checks the quote again ([`QuoteFields::check`]). Unit prices must be whole
//!   numbers of the currency's smallest unit (`"10.50"` in JPY, `"10.505"` in USD and
//!   `"1.2345"` anywhere are `too_precise` on `line_items[i].unit_price`, never rounded away)
//!   and every total is rounded to that unit ([`crate::money::Totals::compute_in`]).
//! - Status: draft → sent → accepted | declined | expired; accepted → converted
//!   ([`transition`]). Setting the status a quote already has is allowed and changes nothing.

use crate::currency::Currency;
use crate::money::{Money, MoneyError, Priced, Quantity, Rate, Totals};
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use shared::http::{FieldError, Problem};
use shared::params::is_uuid;
use std::fmt;

pub const MAX_LINE_ITEMS: usize = 200;
/// `client_name`, a line item's `name`, `template_name`.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
pub const MAX_UNIT_CHARS: usize = 50;
pub const MAX_CATEGORY_CHARS: usize = 100;
pub const MAX_ITEM_ID_CHARS: usize = 100;
pub const MAX_NOTES_CHARS: usize = 10_000;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_PHONE_CHARS: usize = 50;
pub const MAX_ADDRESS_CHARS: usize = 1_000;
/// Quantities are > 0 and at most this many units.
pub const MAX_QUANTITY_UNITS: i64 = 1_000_000;
/// Unit prices are ≥ 0 and at most this much.
pub const MAX_UNIT_PRICE_UNITS: i64 = 1_000_000_000;
pub const MAX_TAX_PERCENT: i64 = 100;
pub const MAX_MARKUP_PERCENT: i64 = 1_000;

/// The stable `code` of each field error.
pub mod code {
    pub const REQUIRED: &str = "required";
    /// The JSON type is wrong (a number where text belongs, ...).
    pub const INVALID_TYPE: &str = "invalid_type";
    pub const TOO_LONG: &str = "too_long";
    pub const TOO_MANY: &str = "too_many";
    /// Control characters (or line breaks in a single-line field).
    pub const INVALID_CHARACTERS: &str = "invalid_characters";
    pub const INVALID_EMAIL: &str = "invalid_email";
    /// Not a number, nor a decimal string.
    pub const INVALID_NUMBER: &str = "invalid_number";
    /// More decimal places than the field carries.
    pub const TOO_PRECISE: &str = "too_precise";
    pub const OUT_OF_RANGE: &str = "out_of_range";
    pub const INVALID_DATE: &str = "invalid_date";
    pub const INVALID_UUID: &str = "invalid_uuid";
    pub const INVALID_STATUS: &str = "invalid_status";
    /// Two fields that must agree do not (`cost` and `unit_price`, `quote` and `updates`).
    pub const CONFLICT: &str = "conflict";
    /// A field the server owns.
    pub const READ_ONLY: &str = "read_only";
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    /// Not an active ISO 4217 code.
    pub const UNKNOWN_CURRENCY: &str = "unknown_currency";
}

/// The client-writable fields of a quote.
const QUOTE_FIELDS: &[&str] = &[
    "client_name",
    "client_email",
    "client_phone",
    "client_address",
    "client_id",
    "line_items",
    "tax_rate",
    "markup_rate",
    "notes",
    "valid_until",
    "is_template",
    "template_name",
    "currency",
];

/// Columns the server owns. `status` is writable on update only, through [`transition`].
const READ_ONLY_FIELDS: &[&str] = &[
    "id",
    "user_id",
    "quote_number",
    "quote_year",
    "quote_seq",
    "subtotal",
    "markup_amount",
    "tax_amount",
    "total",
    "status",
    "created_at",
    "updated_at",
    "sent_at",
    "accepted_at",
    "declined_at",
];

const ITEM_FIELDS: &[&str] = &["id", "name", "description", "unit", "category", "quantity", "unit_price", "cost"];

// ---------------------------------------------------------------------------------------------
// Status machine
// ---------------------------------------------------------------------------------------------

/// The `quote_status` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuoteStatus {
    Draft,
    Sent,
    Accepted,
    Declined,
    Expired,
    Converted,
}

impl QuoteStatus {
    pub const ALL: [QuoteStatus; 6] = [
        QuoteStatus::Draft,
        QuoteStatus::Sent,
        QuoteStatus::Accepted,
        QuoteStatus::Declined,
        QuoteStatus::Expired,
        QuoteStatus::Converted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QuoteStatus::Draft => "draft",
            QuoteStatus::Sent => "sent",
            QuoteStatus::Accepted => "accepted",
            QuoteStatus::Declined => "declined",
            QuoteStatus::Expired => "expired",
            QuoteStatus::Converted => "converted",
        }
    }

    pub fn parse(s: &str) -> Option<QuoteStatus> {
        QuoteStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The statuses a quote in this one may move to.
    pub fn next(self) -> &'static [QuoteStatus] {
        match self {
            QuoteStatus::Draft => &[QuoteStatus::Sent],
            QuoteStatus::Sent => &[QuoteStatus::Accepted, QuoteStatus::Declined, QuoteStatus::Expired],
            QuoteStatus::Accepted => &[QuoteStatus::Converted],
            QuoteStatus::Declined | QuoteStatus::Expired | QuoteStatus::Converted => &[],
        }
    }
}

impl fmt::Display for QuoteStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status change the machine does not allow (409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: QuoteStatus,
    pub to: QuoteStatus,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} quote cannot become {}", self.from, self.to)?;
        match self.from.next() {
            [] => write!(f, "; {} is final", self.from),
            next => {
                let names: Vec<_> = next.iter().map(|s| s.as_str()).collect();
                write!(f, "; it can become {}", names.join(" or "))
            }
        }
    }
}

impl std::error::Error for IllegalTransition {}

impl From<IllegalTransition> for Problem {
    fn from(e: IllegalTransition) -> Problem {
        Problem::new(409, "illegal_transition", "Illegal status change").detail(e.to_string())
    }
}

/// draft → sent → accepted | declined | expired; accepted → converted. `from == to` is
/// allowed and is no move: callers skip the side effects of entering a status (`sent_at`,
/// emails) when the status does not change.
pub fn transition(from: QuoteStatus, to: QuoteStatus) -> Result<(), IllegalTransition> {
    if from == to || from.next().contains(&to) {
        Ok(())
    } else {
        Err(IllegalTransition { from, to })
    }
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

/// A calendar date, read and written as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// `None` unless the date exists (years 1..=9999).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        ((1..=9999).contains(&year) && (1..=days).contains(&day)).then_some(Date { year, month, day })
    }

    /// Exactly `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| {
            b[r].iter().try_fold(0u16, |n, c| c.is_ascii_digit().then(|| n * 10 + (c - b'0') as u16))
        };
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Date::new(digits(0..4)?, digits(5..7)? as u8, digits(8..10)? as u8)
    }

    pub fn year(self) -> u16 {
        self.year
    }
    pub fn month(self) -> u8 {
        self.month
    }
    pub fn day(self) -> u8 {
        self.day
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse(&s).ok_or_else(|| D::Error::custom("expected a date written YYYY-MM-DD"))
    }
}

// ---------------------------------------------------------------------------------------------
// Valid quotes
// ---------------------------------------------------------------------------------------------

/// A checked line item. Serialises with `unit_price` and, for the app, the same value as
/// `cost` (its stored shape is `{id, name, unit, cost, quantity}`); numbers as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidLineItem {
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub unit: Option<String>,
    pub category: Option<String>,
    pub quantity: Quantity,
    pub unit_price: Money,
}

impl ValidLineItem {
    /// quantity × unit price, rounded to cents half away from zero (whether it fits at all;
    /// a quote's line totals are rounded in its currency by [`Totals::compute_in`]).
    pub fn total(&self) -> Result<Money, MoneyError> {
        self.unit_price.times(self.quantity)
    }
}

impl Priced for ValidLineItem {
    fn quantity(&self) -> Quantity {
        self.quantity
    }
    fn unit_price(&self) -> Money {
        self.unit_price
    }
}

impl Serialize for ValidLineItem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(id) = &self.id {
            m.serialize_entry("id", id)?;
        }
        m.serialize_entry("name", &self.name)?;
        for (key, value) in [("description", &self.description), ("unit", &self.unit), ("category", &self.category)] {
            if let Some(v) = value {
                m.serialize_entry(key, v)?;
            }
        }
        m.serialize_entry("quantity", &self.quantity)?;
        m.serialize_entry("unit_price", &self.unit_price)?;
        m.serialize_entry("cost", &self.unit_price)?;
        m.end()
    }
}

/// A line item with its total, as answered and stored.
#[derive(Debug, Clone, Serialize)]
pub struct PricedLineItem<'a> {
    #[serde(flatten)]
    pub item: &'a ValidLineItem,
    pub total: Money,
}

/// The items beside their line totals (`totals` computed from these `items`).
pub fn priced<'a>(items: &'a [ValidLineItem], totals: &Totals) -> Vec<PricedLineItem<'a>> {
    items.iter().zip(&totals.line_totals).map(|(item, total)| PricedLineItem { item, total: *total }).collect()
}

/// Everything about a quote a client may write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuoteFields {
    pub client_name: String,
    pub client_email: Option<String>,
    pub client_phone: Option<String>,
    pub client_address: Option<String>,
    /// Lower case.
    pub client_id: Option<String>,
    pub line_items: Vec<ValidLineItem>,
    pub tax_rate: Rate,
    pub markup_rate: Rate,
    pub notes: Option<String>,
    pub valid_until: Option<Date>,
    pub is_template: bool,
    pub template_name: Option<String>,
    /// ISO 4217 code; `None` until the owner's preferred currency is filled in (create).
    pub currency: Option<String>,
}

impl QuoteFields {
    /// The rules between fields (at least one line item unless a template; a template's
    /// name) and the totals; for a quote after an update was applied.
    pub fn check(&self) -> Result<Totals, Vec<FieldError>> {
        let mut errors = Errors::default();
        let currency = match self.currency.as_deref() {
            Some(code) => lookup_currency(&mut errors, code).map(Some),
            None => Ok(None),
        };
        let totals = whole_quote_rules(
            &mut errors,
            Some(self.is_template),
            self.template_name.is_some(),
            Some(&self.line_items),
            Some(self.markup_rate),
            Some(self.tax_rate),
            currency,
        );
        match totals {
            Some(t) if errors.0.is_empty() => Ok(t),
            _ => Err(errors.0),
        }
    }
}

/// What the client asked for besides the quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Operations {
    pub generate_pdf: bool,
    pub send_email: bool,
}

/// A create request that passed [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidQuote {
    pub quote: QuoteFields,
    pub totals: Totals,
    pub operations: Operations,
}

/// A checked update: `None` leaves a field alone; for optional fields `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuoteUpdate {
    /// From the `{"quote_id": ..., "updates": ...}` form (lower case).
    pub quote_id: Option<String>,
    pub client_name: Option<String>,
    pub client_email: Option<Option<String>>,
    pub client_phone: Option<Option<String>>,
    pub client_address: Option<Option<String>>,
    pub client_id: Option<Option<String>>,
    pub line_items: Option<Vec<ValidLineItem>>,
    pub tax_rate: Option<Rate>,
    pub markup_rate: Option<Rate>,
    pub notes: Option<Option<String>>,
    pub valid_until: Option<Option<Date>>,
    pub is_template: Option<bool>,
    pub template_name: Option<Option<String>>,
    pub currency: Option<String>,
    /// Only a request: check it with [`transition`] against the stored status.
    pub status: Option<QuoteStatus>,
    pub operations: Operations,
}

impl QuoteUpdate {
    /// Writes the changed fields into `quote`; follow with [`QuoteFields::check`].
    pub fn apply(&self, quote: &mut QuoteFields) {
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *target = v.clone();
            }
        }
        set(&mut quote.client_name, &self.client_name);
        set(&mut quote.client_email, &self.client_email);
        set(&mut quote.client_phone, &self.client_phone);
        set(&mut quote.client_address, &self.client_address);
        set(&mut quote.client_id, &self.client_id);
        set(&mut quote.line_items, &self.line_items);
        set(&mut quote.tax_rate, &self.tax_rate);
        set(&mut quote.markup_rate, &self.markup_rate);
        set(&mut quote.notes, &self.notes);
        set(&mut quote.valid_until, &self.valid_until);
        set(&mut quote.is_template, &self.is_template);
        set(&mut quote.template_name, &self.template_name);
        if let Some(c) = &self.currency {
            quote.currency = Some(c.clone());
        }
    }

    /// Whether any quote field (not the status, not operations) changes.
    pub fn changes_fields(&self) -> bool {
        let QuoteUpdate {
            quote_id: _,
            client_name,
            client_email,
            client_phone,
            client_address,
            client_id,
            line_items,
            tax_rate,
            markup_rate,
            notes,
            valid_until,
            is_template,
            template_name,
            currency,
            status: _,
            operations: _,
        } = self;
        client_name.is_some()
            || client_email.is_some()
            || client_phone.is_some()
            || client_address.is_some()
            || client_id.is_some()
            || line_items.is_some()
            || tax_rate.is_some()
            || markup_rate.is_some()
            || notes.is_some()
            || valid_until.is_some()
            || is_template.is_some()
            || template_name.is_some()
            || currency.is_some()
    }

    /// Whether the totals must be recomputed.
    pub fn changes_totals(&self) -> bool {
        self.line_items.is_some() || self.tax_rate.is_some() || self.markup_rate.is_some() || self.currency.is_some()
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// A create body as received (any JSON object); [`validate`] makes sense of it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteInput {
    body: Map<String, Value>,
}

/// An update body as received (any JSON object); [`validate_update`] makes sense of it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteUpdateInput {
    body: Map<String, Value>,
}

fn json_object<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::Object(body) => Ok(body),
        _ => Err(D::Error::custom("the body must be a JSON object")),
    }
}

impl QuoteInput {
    /// The original clients' form, `{"quote": {...}, "operations": {...}}`.
    pub fn is_original_form(&self) -> bool {
        self.body.get("quote").is_some_and(Value::is_object)
    }
}

impl QuoteUpdateInput {
    /// The original clients' form, `{"quote_id": ..., "updates": {...}}`.
    pub fn is_original_form(&self) -> bool {
        self.body.contains_key("updates") || self.body.get("quote").is_some_and(Value::is_object)
    }

    /// `quote_id` as sent (checked by [`validate_update`]).
    pub fn quote_id(&self) -> Option<&str> {
        self.body.get("quote_id").and_then(Value::as_str)
    }
}

impl<'de> Deserialize<'de> for QuoteInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<QuoteInput, D::Error> {
        json_object(d).map(|body| QuoteInput { body })
    }
}

impl<'de> Deserialize<'de> for QuoteUpdateInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<QuoteUpdateInput, D::Error> {
        json_object(d).map(|body| QuoteUpdateInput { body })
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// Checks a create request, reporting every problem at once.
pub fn validate(input: &QuoteInput) -> Result<ValidQuote, Vec<FieldError>> {
    let mut errors = Errors::default();
    let mut operations = Operations::default();
    let body = &input.body;
    let quote = match body.get("quote") {
        None => body,
        Some(quote) => {
            for key in body.keys().filter(|k| !matches!(k.as_str(), "quote" | "operations")) {
                errors.unknown(key, "the body has `quote` and `operations` only");
            }
            if let Some(ops) = body.get("operations") {
                read_operations(&mut errors, "operations", ops, &mut operations);
            }
            match quote {
                Value::Object(q) => q,
                _ => {
                    errors.add("quote", code::INVALID_TYPE, "must be an object with the quote's fields");
                    return Err(errors.0);
                }
            }
        }
    };
    let p = read_quote(&mut errors, quote, Mode::Create, &mut operations);

    if !p.client_name.is_set() && !p.client_name.is_invalid() {
        errors.add("client_name", code::REQUIRED, "client_name is required");
    }
    let is_template = p.is_template.value_or(false);
    let line_items = p.line_items.value_or(Vec::new());
    let markup_rate = p.markup_rate.value_or(Rate::ZERO);
    let tax_rate = p.tax_rate.value_or(Rate::ZERO);
    let has_template_name = p.template_name.is_set() || p.template_name.is_invalid();
    let currency = match &p.currency {
        Slot::Set(c) => lookup_currency(&mut errors, c).map(Some),
        Slot::Invalid => Err(()),
        Slot::Absent | Slot::Null => Ok(None),
    };
    let totals = whole_quote_rules(
        &mut errors,
        is_template,
        has_template_name,
        line_items.as_deref(),
        markup_rate,
        tax_rate,
        currency,
    );

    if !errors.0.is_empty() {
        return Err(errors.0);
    }
    let (Slot::Set(client_name), Some(is_template), Some(line_items), Some(markup_rate), Some(tax_rate), Some(totals)) =
        (p.client_name, is_template, line_items, markup_rate, tax_rate, totals)
    else {
        // Unreachable: every None above came with an error.
        return Err(vec![FieldError::new("", code::REQUIRED, "the quote is incomplete")]);
    };
    let quote = QuoteFields {
        client_name,
        client_email: p.client_email.into_option(),
        client_phone: p.client_phone.into_option(),
        client_address: p.client_address.into_option(),
        client_id: p.client_id.into_option(),
        line_items,
        tax_rate,
        markup_rate,
        notes: p.notes.into_option(),
        valid_until: p.valid_until.into_option(),
        is_template,
        template_name: p.template_name.into_option(),
        currency: p.currency.into_option(),
    };
    Ok(ValidQuote { quote, totals, operations })
}

/// Checks an update request field by field, reporting every problem at once. The rules
/// between fields are checked after [`QuoteUpdate::apply`], by [`QuoteFields::check`].
pub fn validate_update(input: &QuoteUpdateInput) -> Result<QuoteUpdate, Vec<FieldError>> {
    let mut errors = Errors::default();
    let mut operations = Operations::default();
    let body = &input.body;
    let mut quote_id = Slot::Absent;
    let quote = match (body.get("updates"), body.get("quote")) {
        (None, None) => body,
        (updates, quote) => {
            for key in body.keys().filter(|k| !matches!(k.as_str(), "quote_id" | "updates" | "quote" | "operations")) {
                errors.unknown(key, "the body has `quote_id`, `updates` and `operations` only");
            }
            if updates.is_some() && quote.is_some() {
                errors.add("quote", code::CONFLICT, "send the changes in `updates` or in `quote`, not both");
            }
            quote_id = Slot::read(&mut errors, "quote_id", body.get("quote_id"), read_uuid);
            if let Some(ops) = body.get("operations") {
                read_operations(&mut errors, "operations", ops, &mut operations);
            }
            let (name, value) = match updates {
                Some(u) => ("updates", u),
                None => ("quote", quote.unwrap_or(&Value::Null)),
            };
            match value {
                Value::Object(q) => q,
                _ => {
                    errors.add(name, code::INVALID_TYPE, "must be an object with the fields to change");
                    return Err(errors.0);
                }
            }
        }
    };
    let p = read_quote(&mut errors, quote, Mode::Update, &mut operations);

    // Fields every quote has cannot be cleared.
    for (field, null) in [
        ("client_name", p.client_name.is_null()),
        ("line_items", p.line_items.is_null()),
        ("tax_rate", p.tax_rate.is_null()),
        ("markup_rate", p.markup_rate.is_null()),
        ("is_template", p.is_template.is_null()),
        ("status", p.status.is_null()),
        ("currency", p.currency.is_null()),
    ] {
        if null {
            errors.add(field, code::REQUIRED, format!("{field} cannot be removed; send a value or leave it out"));
        }
    }
    if !errors.0.is_empty() {
        return Err(errors.0);
    }
    Ok(QuoteUpdate {
        quote_id: quote_id.into_option(),
        client_name: p.client_name.into_option(),
        client_email: p.client_email.into_patch(),
        client_phone: p.client_phone.into_patch(),
        client_address: p.client_address.into_patch(),
        client_id: p.client_id.into_patch(),
        line_items: p.line_items.into_option(),
        tax_rate: p.tax_rate.into_option(),
        markup_rate: p.markup_rate.into_option(),
        notes: p.notes.into_patch(),
        valid_until: p.valid_until.into_patch(),
        is_template: p.is_template.into_option(),
        template_name: p.template_name.into_patch(),
        currency: p.currency.into_option(),
        status: p.status.into_option(),
        operations,
    })
}

/// Line items as stored in `quotes.line_items` (ours, or the app's `{id, name, unit, cost,
/// quantity}` with JSON numbers), under the same rules; a stored `total` is ignored.
pub fn line_items_from_stored(value: &Value) -> Result<Vec<ValidLineItem>, Vec<FieldError>> {
    let mut errors = Errors::default();
    match read_line_items(&mut errors, "line_items", value) {
        Ok(items) if errors.0.is_empty() => Ok(items.unwrap_or_default()),
        _ => Err(errors.0),
    }
}

#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    fn unknown(&mut self, field: &str, hint: &str) {
        self.add(field, code::UNKNOWN_FIELD, format!("`{field}` is not a known field; {hint}"));
    }
}

/// One field as found in the body.
#[derive(Clone)]
enum Slot<T> {
    Absent,
    /// `null`, or blank text.
    Null,
    Set(T),
    /// Present and wrong; the error is recorded.
    Invalid,
}

/// What reading a present value gives: `Ok(None)` for blank, `Err` with the error recorded.
type Read<T> = Result<Option<T>, ()>;

impl<T> Slot<T> {
    fn read(
        errors: &mut Errors,
        field: &str,
        value: Option<&Value>,
        read: impl FnOnce(&mut Errors, &str, &Value) -> Read<T>,
    ) -> Slot<T> {
        match value {
            None => Slot::Absent,
            Some(Value::Null) => Slot::Null,
            Some(v) => match read(errors, field, v) {
                Ok(Some(t)) => Slot::Set(t),
                Ok(None) => Slot::Null,
                Err(()) => Slot::Invalid,
            },
        }
    }

    fn is_set(&self) -> bool {
        matches!(self, Slot::Set(_))
    }
    fn is_null(&self) -> bool {
        matches!(self, Slot::Null)
    }
    fn is_invalid(&self) -> bool {
        matches!(self, Slot::Invalid)
    }

    /// The value, `default` when absent or null, `None` when invalid.
    fn value_or(self, default: T) -> Option<T> {
        match self {
            Slot::Set(v) => Some(v),
            Slot::Absent | Slot::Null => Some(default),
            Slot::Invalid => None,
        }
    }

    fn into_option(self) -> Option<T> {
        match self {
            Slot::Set(v) => Some(v),
            _ => None,
        }
    }

    /// `None` absent, `Some(None)` cleared, `Some(Some(v))` set.
    fn into_patch(self) -> Option<Option<T>> {
        match self {
            Slot::Absent | Slot::Invalid => None,
            Slot::Null => Some(None),
            Slot::Set(v) => Some(Some(v)),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Update,
}

/// Every quote field of one object, each read on its own.
struct Partial {
    client_name: Slot<String>,
    client_email: Slot<String>,
    client_phone: Slot<String>,
    client_address: Slot<String>,
    client_id: Slot<String>,
    line_items: Slot<Vec<ValidLineItem>>,
    tax_rate: Slot<Rate>,
    markup_rate: Slot<Rate>,
    notes: Slot<String>,
    valid_until: Slot<Date>,
    is_template: Slot<bool>,
    template_name: Slot<String>,
    currency: Slot<String>,
    status: Slot<QuoteStatus>,
}

fn read_quote(errors: &mut Errors, q: &Map<String, Value>, mode: Mode, operations: &mut Operations) -> Partial {
    let line = |max| move |e: &mut Errors, f: &str, v: &Value| read_text(e, f, v, max, Lines::One);
    let multi = |max| move |e: &mut Errors, f: &str, v: &Value| read_text(e, f, v, max, Lines::Many);
    let tax = |e: &mut Errors, f: &str, v: &Value| read_rate(e, f, v, MAX_TAX_PERCENT);
    let markup = |e: &mut Errors, f: &str, v: &Value| read_rate(e, f, v, MAX_MARKUP_PERCENT);
    let items = |e: &mut Errors, f: &str, v: &Value| read_line_items(e, f, v);
    let p = Partial {
        client_name: Slot::read(errors, "client_name", q.get("client_name"), line(MAX_NAME_CHARS)),
        client_email: Slot::read(errors, "client_email", q.get("client_email"), read_email),
        client_phone: Slot::read(errors, "client_phone", q.get("client_phone"), line(MAX_PHONE_CHARS)),
        client_address: Slot::read(errors, "client_address", q.get("client_address"), multi(MAX_ADDRESS_CHARS)),
        client_id: Slot::read(errors, "client_id", q.get("client_id"), read_uuid),
        line_items: Slot::read(errors, "line_items", q.get("line_items"), items),
        tax_rate: Slot::read(errors, "tax_rate", q.get("tax_rate"), tax),
        markup_rate: Slot::read(errors, "markup_rate", q.get("markup_rate"), markup),
        notes: Slot::read(errors, "notes", q.get("notes"), multi(MAX_NOTES_CHARS)),
        valid_until: Slot::read(errors, "valid_until", q.get("valid_until"), read_date),
        is_template: Slot::read(errors, "is_template", q.get("is_template"), read_bool),
        template_name: Slot::read(errors, "template_name", q.get("template_name"), line(MAX_NAME_CHARS)),
        currency: Slot::read(errors, "currency", q.get("currency"), read_currency),
        status: match mode {
            Mode::Update => Slot::read(errors, "status", q.get("status"), read_status),
            Mode::Create => Slot::Absent,
        },
    };
    for (key, value) in q {
        match key.as_str() {
            k if QUOTE_FIELDS.contains(&k) => {}
            "status" if mode == Mode::Update => {}
            "operations" => read_operations(errors, "operations", value, operations),
            "generate_pdf" => operations.generate_pdf |= read_flag(errors, key, value),
            "send_email" => operations.send_email |= read_flag(errors, key, value),
            k if READ_ONLY_FIELDS.contains(&k) => {
                let why = if k == "status" {
                    "a new quote is a draft; change the status with an update"
                } else {
                    "the server sets it"
                };
                errors.add(key, code::READ_ONLY, format!("`{key}` cannot be written: {why}"));
            }
            _ => errors.unknown(key, "see the quote fields in the API documentation"),
        }
    }
    p
}

/// The rules that span fields, on whatever could be read: a template needs a name, a quote
/// needs a line item, prices fit the currency and the totals must fit. `None` for unreadable
/// inputs (already reported). `currency` is `Ok(None)` before the owner's is filled in (the
/// totals are then in cents, and computed again once it is), `Err` when unknown (reported).
fn whole_quote_rules(
    errors: &mut Errors,
    is_template: Option<bool>,
    has_template_name: bool,
    items: Option<&[ValidLineItem]>,
    markup_rate: Option<Rate>,
    tax_rate: Option<Rate>,
    currency: Result<Option<Currency>, ()>,
) -> Option<Totals> {
    if is_template == Some(true) && !has_template_name {
        errors.add("template_name", code::REQUIRED, "a template needs a template_name");
    }
    let items = items?;
    if is_template == Some(false) && items.is_empty() {
        errors.add("line_items", code::REQUIRED, "a quote needs at least one line item (only templates may have none)");
    }
    let before = errors.0.len();
    for (i, item) in items.iter().enumerate() {
        if item.total().is_err() {
            errors.add(
                format!("line_items[{i}]"),
                code::OUT_OF_RANGE,
                format!("quantity × unit_price exceeds {}", Money::MAX),
            );
        }
    }
    let currency = currency.ok()?;
    for (i, item) in items.iter().enumerate() {
        if let Some(c) = currency.filter(|c| !c.carries(item.unit_price)) {
            let detail = match c.minor_units() {
                0 => format!("{} has no minor unit: send a whole unit price", c.code()),
                n => format!("{} has {n} decimal places: send a unit price with at most {n}", c.code()),
            };
            errors.add(format!("line_items[{i}].unit_price"), code::TOO_PRECISE, detail);
        }
    }
    let step = currency.map_or(crate::money::CENT, Currency::step);
    if errors.0.len() > before {
        return None;
    }
    match Totals::compute_in(items, markup_rate?, tax_rate?, step) {
        Ok(totals) => Some(totals),
        Err(_) => {
            errors.add(
                "line_items",
                code::OUT_OF_RANGE,
                format!("the quote total with markup and tax would exceed {}", Money::MAX),
            );
            None
        }
    }
}

/// The currency of `code`; `Err` (with an error) when it is not an active one.
fn lookup_currency(errors: &mut Errors, code: &str) -> Result<Currency, ()> {
    Currency::lookup(code).ok_or_else(|| {
        errors.add("currency", code::UNKNOWN_CURRENCY, format!("`{code}` is not an active ISO 4217 currency code"))
    })
}

/// An ISO 4217 code (any case, kept in capitals).
fn read_currency(errors: &mut Errors, field: &str, v: &Value) -> Read<String> {
    let Value::String(s) = v else {
        errors.add(field, code::INVALID_TYPE, "must be an ISO 4217 currency code such as \"EUR\"");
        return Err(());
    };
    let code = s.trim().to_ascii_uppercase();
    if code.is_empty() {
        return Ok(None);
    }
    match Currency::lookup(&code) {
        Some(c) => Ok(Some(c.code().to_string())),
        None => {
            let shown: String = s.chars().take(10).collect();
            errors.add(field, code::UNKNOWN_CURRENCY, format!("`{shown}` is not an active ISO 4217 currency code"));
            Err(())
        }
    }
}

fn read_line_items(errors: &mut Errors, field: &str, v: &Value) -> Read<Vec<ValidLineItem>> {
    let Value::Array(values) = v else {
        errors.add(field, code::INVALID_TYPE, "must be an array of line items");
        return Err(());
    };
    if values.len() > MAX_LINE_ITEMS {
        errors.add(field, code::TOO_MANY, format!("at most {MAX_LINE_ITEMS} line items (got {})", values.len()));
        return Err(());
    }
    let items: Vec<_> =
        values.iter().enumerate().map(|(i, v)| read_line_item(errors, &format!("{field}[{i}]"), v)).collect();
    items.into_iter().collect::<Option<Vec<_>>>().map(Some).ok_or(())
}

fn read_line_item(errors: &mut Errors, at: &str, v: &Value) -> Option<ValidLineItem> {
    let Value::Object(o) = v else {
        errors.add(at, code::INVALID_TYPE, "must be an object");
        return None;
    };
    let before = errors.0.len();
    let field = |k: &str| format!("{at}.{k}");
    let line = |max| move |e: &mut Errors, f: &str, v: &Value| read_text(e, f, v, max, Lines::One);
    let id = Slot::read(errors, &field("id"), o.get("id"), read_item_id);
    let name = Slot::read(errors, &field("name"), o.get("name"), line(MAX_NAME_CHARS));
    let description = Slot::read(errors, &field("description"), o.get("description"), |e, f, v| {
        read_text(e, f, v, MAX_DESCRIPTION_CHARS, Lines::Many)
    });
    let unit = Slot::read(errors, &field("unit"), o.get("unit"), line(MAX_UNIT_CHARS));
    let category = Slot::read(errors, &field("category"), o.get("category"), line(MAX_CATEGORY_CHARS));
    let quantity = Slot::read(errors, &field("quantity"), o.get("quantity"), read_quantity);
    let unit_price = Slot::read(errors, &field("unit_price"), o.get("unit_price"), read_price);
    let cost = Slot::read(errors, &field("cost"), o.get("cost"), read_price);

    for key in o.keys() {
        match key.as_str() {
            k if ITEM_FIELDS.contains(&k) => {}
            // The original's clients send it; stored rows carry it. The server computes it.
            "total" => {}
            _ => errors.unknown(
                &field(key),
                "a line item has id, name, description, unit, category, quantity and unit_price (or cost)",
            ),
        }
    }
    if matches!(name, Slot::Absent | Slot::Null) {
        errors.add(field("name"), code::REQUIRED, "every line item needs a name");
    }
    if matches!(quantity, Slot::Absent | Slot::Null) {
        errors.add(field("quantity"), code::REQUIRED, "every line item needs a quantity");
    }
    let price = match (unit_price, cost) {
        (Slot::Set(a), Slot::Set(b)) if a != b => {
            errors.add(
                field("cost"),
                code::CONFLICT,
                format!("cost ({b}) differs from unit_price ({a}); send one of them"),
            );
            None
        }
        (Slot::Set(price), _) | (Slot::Absent | Slot::Null, Slot::Set(price)) => Some(price),
        (Slot::Absent | Slot::Null, Slot::Absent | Slot::Null) => {
            errors.add(field("unit_price"), code::REQUIRED, "every line item needs a unit_price");
            None
        }
        _ => None,
    };
    match (name, quantity, price) {
        (Slot::Set(name), Slot::Set(quantity), Some(unit_price)) if errors.0.len() == before => Some(ValidLineItem {
            id: id.into_option(),
            name,
            description: description.into_option(),
            unit: unit.into_option(),
            category: category.into_option(),
            quantity,
            unit_price,
        }),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    One,
    /// Newlines and tabs allowed.
    Many,
}

fn read_text(errors: &mut Errors, field: &str, v: &Value, max: usize, lines: Lines) -> Read<String> {
    let Value::String(s) = v else {
        errors.add(field, code::INVALID_TYPE, "must be a string");
        return Err(());
    };
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let before = errors.0.len();
    let allowed = |c: char| lines == Lines::Many && matches!(c, '\n' | '\r' | '\t');
    if s.chars().any(|c| c.is_control() && !allowed(c)) {
        let message = match lines {
            Lines::One => "must be a single line without control characters",
            Lines::Many => "must not contain control characters other than line breaks and tabs",
        };
        errors.add(field, code::INVALID_CHARACTERS, message);
    }
    let n = s.chars().count();
    if n > max {
        errors.add(field, code::TOO_LONG, format!("must be at most {max} characters (got {n})"));
    }
    if errors.0.len() > before {
        Err(())
    } else {
        Ok(Some(s.to_string()))
    }
}

fn read_email(errors: &mut Errors, field: &str, v: &Value) -> Read<String> {
    let Some(email) = read_text(errors, field, v, MAX_EMAIL_CHARS, Lines::One)? else { return Ok(None) };
    if !is_email(&email) {
        errors.add(field, code::INVALID_EMAIL, "must be an email address such as name@example.com");
        return Err(());
    }
    Ok(Some(email))
}

/// `local@domain.tld`: no spaces or quoting in the local part (≤ 64 bytes, no leading,
/// trailing or double dots); a domain of at least two labels of letters, digits and inner
/// hyphens, the last not all digits.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else { return false };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"@()<>[]\\,;:\"".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let tld_ok = labels.last().is_some_and(|t| !t.chars().all(|c| c.is_ascii_digit()));
    local_ok && domain.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok
}

fn read_uuid(errors: &mut Errors, field: &str, v: &Value) -> Read<String> {
    match v {
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) if is_uuid(s.trim()) => Ok(Some(s.trim().to_ascii_lowercase())),
        _ => {
            errors.add(field, code::INVALID_UUID, "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000");
            Err(())
        }
    }
}

fn read_date(errors: &mut Errors, field: &str, v: &Value) -> Read<Date> {
    match v {
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) if Date::parse(s.trim()).is_some() => Ok(Date::parse(s.trim())),
        _ => {
            errors.add(field, code::INVALID_DATE, "must be a calendar date written YYYY-MM-DD");
            Err(())
        }
    }
}

fn read_bool(errors: &mut Errors, field: &str, v: &Value) -> Read<bool> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        _ => {
            errors.add(field, code::INVALID_TYPE, "must be true or false");
            Err(())
        }
    }
}

fn read_status(errors: &mut Errors, field: &str, v: &Value) -> Read<QuoteStatus> {
    match v.as_str().and_then(QuoteStatus::parse) {
        Some(status) => Ok(Some(status)),
        None => {
            errors.add(
                field,
                code::INVALID_STATUS,
                "must be one of draft, sent, accepted, declined, expired, converted",
            );
            Err(())
        }
    }
}

fn read_item_id(errors: &mut Errors, field: &str, v: &Value) -> Read<String> {
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Value::String(_) => read_text(errors, field, v, MAX_ITEM_ID_CHARS, Lines::One),
        _ => {
            errors.add(field, code::INVALID_TYPE, "must be a string or an integer");
            Err(())
        }
    }
}

/// A number or decimal string through `parse`, then `in_range` (with `range` as its message).
fn read_decimal<T>(
    errors: &mut Errors,
    field: &str,
    v: &Value,
    parse: fn(&Value) -> Result<T, MoneyError>,
    in_range: impl FnOnce(&T) -> bool,
    range: &str,
) -> Read<T> {
    if v.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Ok(None);
    }
    let (code, message) = match parse(v) {
        Ok(value) if in_range(&value) => return Ok(Some(value)),
        Ok(_) | Err(MoneyError::OutOfRange | MoneyError::Overflow) => (code::OUT_OF_RANGE, range.to_string()),
        Err(MoneyError::Invalid) => (code::INVALID_NUMBER, MoneyError::Invalid.to_string()),
        Err(e @ MoneyError::TooPrecise { .. }) => (code::TOO_PRECISE, e.to_string()),
    };
    errors.add(field, code, message);
    Err(())
}

fn read_quantity(errors: &mut Errors, field: &str, v: &Value) -> Read<Quantity> {
    let max = Quantity::from_units(MAX_QUANTITY_UNITS).unwrap_or(Quantity::ZERO);
    let range = format!("must be greater than 0 and at most {MAX_QUANTITY_UNITS}");
    read_decimal(errors, field, v, Quantity::from_json, |q| *q > Quantity::ZERO && *q <= max, &range)
}

fn read_price(errors: &mut Errors, field: &str, v: &Value) -> Read<Money> {
    let max = Money::from_thousandths(MAX_UNIT_PRICE_UNITS * 1000).unwrap_or(Money::ZERO);
    let range = format!("must be between 0 and {max}");
    read_decimal(errors, field, v, Money::from_json, |m| !m.is_negative() && *m <= max, &range)
}

fn read_rate(errors: &mut Errors, field: &str, v: &Value, max_percent: i64) -> Read<Rate> {
    let max = Rate::from_percent(max_percent).unwrap_or(Rate::ZERO);
    let range = format!("must be a percentage between 0 and {max_percent}");
    read_decimal(errors, field, v, Rate::from_json, |r| *r >= Rate::ZERO && *r <= max, &range)
}

fn read_flag(errors: &mut Errors, field: &str, v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Null => false,
        _ => {
            errors.add(field, code::INVALID_TYPE, "must be true or false");
            false
        }
    }
}

fn read_operations(errors: &mut Errors, field: &str, v: &Value, operations: &mut Operations) {
    match v {
        Value::Null => {}
        Value::Object(o) => {
            for (key, value) in o {
                let f = format!("{field}.{key}");
                match key.as_str() {
                    "generate_pdf" => operations.generate_pdf |= read_flag(errors, &f, value),
                    "send_email" => operations.send_email |= read_flag(errors, &f, value),
                    // Sent by the original clients; usage is always counted, drafts always saved.
                    "update_usage" | "auto_save" => {
                        read_flag(errors, &f, value);
                    }
                    _ => errors.unknown(&f, "operations are generate_pdf and send_email"),
                }
            }
        }
        _ => errors.add(field, code::INVALID_TYPE, "must be an object such as {\"generate_pdf\": true}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Quotes as stored in `public.quotes`: the columns every answer reads (numbers as exact
/// decimal text) and the JSON shape of a stored quote, shared by every function that shows one.
pub mod stored {
    use serde_json::{json, Value};
    use shared::db::{DbError, Row};

    /// The columns of a quote aliased `q` (`SELECT {COLUMNS} FROM public.quotes q ...`).
    pub const COLUMNS: &str = "q.id, q.quote_number, q.status::text AS status, q.client_id, q.client_name,
  q.client_email, q.client_phone, q.client_address, q.line_items, q.subtotal::text AS subtotal,
  q.markup_rate::text AS markup_rate, q.markup_amount::text AS markup_amount, q.tax_rate::text AS tax_rate,
  q.tax_amount::text AS tax_amount, q.total::text AS total, q.notes, q.valid_until, q.is_template, q.template_name,
  q.sent_at, q.accepted_at, q.declined_at, q.created_at, q.updated_at, q.currency";

    /// A row of [`COLUMNS`] as the API answers it: the amounts as decimal strings (two
    /// decimals, a third when there is one: `"1234.50"`, `"4.011"`), and each also printed in
    /// the quote's currency (`total_formatted`: `EUR 1,234.50`, `KWD 4.010`).
    pub fn to_json(r: &Row<'_>) -> Result<Value, DbError> {
        let currency = r.string("currency")?;
        let amount = |column: &str| -> Result<crate::money::Money, DbError> {
            crate::money::Money::parse(&r.string(column)?)
                .map_err(|e| DbError::Decode(format!("column `{column}`: {e}")))
        };
        let (subtotal, markup, tax, total) =
            (amount("subtotal")?, amount("markup_amount")?, amount("tax_amount")?, amount("total")?);
        let formatted = |a| crate::currency::format(a, &currency);
        Ok(json!({
            "subtotal_formatted": formatted(subtotal),
            "markup_amount_formatted": formatted(markup),
            "tax_amount_formatted": formatted(tax),
            "total_formatted": formatted(total),
            "currency": currency,
            "id": r.string("id")?,
            "quote_number": r.string("quote_number")?,
            "status": r.string("status")?,
            "client_id": r.text("client_id")?,
            "client_name": r.string("client_name")?,
            "client_email": r.text("client_email")?,
            "client_phone": r.text("client_phone")?,
            "client_address": r.text("client_address")?,
            "line_items": r.json("line_items")?.unwrap_or_else(|| json!([])),
            "subtotal": subtotal.to_string(),
            "markup_rate": r.string("markup_rate")?,
            "markup_amount": markup.to_string(),
            "tax_rate": r.string("tax_rate")?,
            "tax_amount": tax.to_string(),
            "total": total.to_string(),
            "notes": r.text("notes")?,
            "valid_until": r.timestamp("valid_until")?,
            "is_template": r.flag("is_template")?,
            "template_name": r.text("template_name")?,
            "sent_at": r.timestamp("sent_at")?,
            "accepted_at": r.timestamp("accepted_at")?,
            "declined_at": r.timestamp("declined_at")?,
            "created_at": r.timestamp("created_at")?,
            "updated_at": r.timestamp("updated_at")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::testing::XorShift;
    use serde_json::json;
    use QuoteStatus::*;

    fn input(v: Value) -> QuoteInput {
        serde_json::from_value(v).unwrap()
    }
    fn update_input(v: Value) -> QuoteUpdateInput {
        serde_json::from_value(v).unwrap()
    }
    fn ok(v: Value) -> ValidQuote {
        validate(&input(v)).unwrap_or_else(|e| panic!("expected valid, got {e:#?}"))
    }
    fn errs(v: Value) -> Vec<FieldError> {
        validate(&input(v)).expect_err("expected errors")
    }
    fn pairs(errors: &[FieldError]) -> Vec<(&str, &str)> {
        let mut p: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        p.sort();
        p
    }
    fn item() -> Value {
        json!({"name": "Mowing", "quantity": 2, "unit_price": "25.00"})
    }
    fn minimal() -> Value {
        json!({"client_name": "Ada", "line_items": [item()]})
    }
    fn with(mut v: Value, key: &str, value: Value) -> Value {
        v[key] = value;
        v
    }
    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    // --- currency -------------------------------------------------------------------------

    #[test]
    fn currency_is_an_active_iso_code_kept_in_capitals() {
        assert_eq!(ok(with(minimal(), "currency", json!("eur"))).quote.currency.as_deref(), Some("EUR"));
        assert_eq!(ok(minimal()).quote.currency, None);
        assert_eq!(pairs(&errs(with(minimal(), "currency", json!("ABC")))), vec![("currency", code::UNKNOWN_CURRENCY)]);
        assert_eq!(pairs(&errs(with(minimal(), "currency", json!(978)))), vec![("currency", code::INVALID_TYPE)]);
        let update = validate_update(&update_input(json!({"currency": null}))).unwrap_err();
        assert_eq!(pairs(&update), vec![("currency", code::REQUIRED)]);
        let update = validate_update(&update_input(json!({"currency": "JPY"}))).unwrap();
        assert!(update.changes_fields() && update.changes_totals());
    }

    #[test]
    fn a_quote_in_yen_takes_whole_prices_and_has_whole_totals() {
        let jpy =
            |items: Value| json!({"client_name": "Ada", "currency": "JPY", "tax_rate": "8.25", "line_items": items});
        let v = ok(jpy(
            json!([{"name": "a", "quantity": "0.5", "unit_price": "101"}, {"name": "b", "quantity": 3, "unit_price": 333}]),
        ));
        assert_eq!(v.totals.line_totals, vec![m("51"), m("999")]);
        assert_eq!((v.totals.tax_amount, v.totals.total), (m("87"), m("1137")));
        let e = errs(jpy(json!([{"name": "a", "quantity": 1, "unit_price": "10.50"}])));
        assert_eq!(pairs(&e), vec![("line_items[0].unit_price", code::TOO_PRECISE)]);
        // Changing a stored quote to yen checks its prices again.
        let mut fields = stored();
        fields.line_items[0].unit_price = m("25.50");
        validate_update(&update_input(json!({"currency": "JPY"}))).unwrap().apply(&mut fields);
        assert_eq!(pairs(&fields.check().unwrap_err()), vec![("line_items[0].unit_price", code::TOO_PRECISE)]);
    }

    #[test]
    fn a_quote_in_dinars_keeps_three_decimals() {
        let kwd =
            |items: Value| json!({"client_name": "Ada", "currency": "KWD", "tax_rate": "8.25", "line_items": items});
        // 3 × 1.235 = 3.705; tax 8.25 % = 0.3056625 → 0.306; total 4.011.
        let v = ok(kwd(json!([{"name": "a", "quantity": 3, "unit_price": "1.235"}])));
        assert_eq!(v.totals.line_totals, vec![m("3.705")]);
        assert_eq!((v.totals.tax_amount, v.totals.total), (m("0.306"), m("4.011")));
        // A fourth decimal is refused, as a third is in dollars.
        let e = errs(kwd(json!([{"name": "a", "quantity": 3, "unit_price": "1.2345"}])));
        assert_eq!(pairs(&e), vec![("line_items[0].unit_price", code::TOO_PRECISE)]);
        let usd = json!({"client_name": "Ada", "currency": "USD", "line_items": [{"name": "a", "quantity": 1, "unit_price": "1.235"}]});
        let e = errs(usd);
        assert_eq!(pairs(&e), vec![("line_items[0].unit_price", code::TOO_PRECISE)]);
        assert!(e[0].message.contains("USD has 2 decimal places"), "{e:?}");
        // Before the owner's currency is known a third decimal is kept: it may be theirs.
        let v = ok(json!({"client_name": "Ada", "line_items": [{"name": "a", "quantity": 1, "unit_price": "1.235"}]}));
        let mut fields = v.quote;
        fields.currency = Some("BHD".into());
        assert_eq!(fields.check().unwrap().total, m("1.235"));
        fields.currency = Some("EUR".into());
        assert_eq!(pairs(&fields.check().unwrap_err()), vec![("line_items[0].unit_price", code::TOO_PRECISE)]);
    }

    // --- status machine -------------------------------------------------------------------

    #[test]
    fn the_status_machine_allows_exactly_the_spec_moves() {
        let legal = [(Draft, Sent), (Sent, Accepted), (Sent, Declined), (Sent, Expired), (Accepted, Converted)];
        for from in QuoteStatus::ALL {
            for to in QuoteStatus::ALL {
                let allowed = from == to || legal.contains(&(from, to));
                assert_eq!(transition(from, to).is_ok(), allowed, "{from} → {to}");
            }
        }
    }

    #[test]
    fn illegal_moves_are_409_with_the_way_forward() {
        let e = transition(Draft, Accepted).unwrap_err();
        assert_eq!(e.to_string(), "a draft quote cannot become accepted; it can become sent");
        assert_eq!(
            transition(Converted, Draft).unwrap_err().to_string(),
            "a converted quote cannot become draft; converted is final"
        );
        assert_eq!(
            transition(Draft, Expired).unwrap_err().to_string(),
            "a draft quote cannot become expired; it can become sent"
        );
        let p: Problem = e.into();
        assert_eq!((p.status, p.code.as_str()), (409, "illegal_transition"));
    }

    #[test]
    fn statuses_read_and_write_their_enum_names() {
        for s in QuoteStatus::ALL {
            assert_eq!(QuoteStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        assert_eq!(QuoteStatus::parse("Draft"), None);
        assert_eq!(QuoteStatus::parse("deleted"), None);
    }

    // --- dates ----------------------------------------------------------------------------

    #[test]
    fn valid_until_must_be_a_real_date() {
        for good in ["2025-01-31", "2024-02-29", "2000-02-29", "9999-12-31", "0001-01-01"] {
            assert_eq!(Date::parse(good).map(|d| d.to_string()).as_deref(), Some(good));
        }
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2025-04-31",
            "2025-13-01",
            "2025-00-10",
            "2025-01-00",
            "0000-01-01",
            "2025-1-01",
            "2025/01/01",
            "2025-01-01T00:00:00Z",
            "25-01-01",
            "",
            "２０２５-01-01",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
        assert!(Date::parse("2025-01-02") > Date::parse("2024-12-31"));
    }

    // --- creating -------------------------------------------------------------------------

    #[test]
    fn a_minimal_quote_is_valid_with_defaults() {
        let v = ok(minimal());
        assert_eq!(v.quote.client_name, "Ada");
        assert_eq!((v.quote.tax_rate, v.quote.markup_rate, v.quote.is_template), (Rate::ZERO, Rate::ZERO, false));
        assert_eq!(v.totals.total, m("50.00"));
        assert_eq!(v.operations, Operations::default());
    }

    #[test]
    fn a_full_quote_keeps_every_field_and_prices_it() {
        let v = ok(json!({
            "client_name": "  Grace Hopper ",
            "client_email": "grace@navy.mil",
            "client_phone": "+1 555 0100",
            "client_address": "1 Main St\nArlington",
            "client_id": "123E4567-E89B-12D3-A456-426614174000",
            "line_items": [
                {"id": "a1", "name": "Labour", "description": "Two people", "unit": "hour", "category": "work", "quantity": 3, "unit_price": 19.99},
                {"id": 7, "name": "Thirds", "quantity": "0.333", "cost": "10.00"},
                {"name": "Washers", "quantity": 2.5, "unit_price": "0.01", "cost": 0.01}
            ],
            "markup_rate": 12.5,
            "tax_rate": "8.25",
            "notes": "Thanks!\n\tSee you",
            "valid_until": "2025-12-31",
            "is_template": false,
            "send_email": true
        }));
        let q = &v.quote;
        assert_eq!(q.client_name, "Grace Hopper");
        assert_eq!(q.client_id.as_deref(), Some("123e4567-e89b-12d3-a456-426614174000"));
        assert_eq!(q.client_address.as_deref(), Some("1 Main St\nArlington"));
        assert_eq!(q.valid_until.map(|d| d.to_string()).as_deref(), Some("2025-12-31"));
        assert_eq!(q.line_items[1].id.as_deref(), Some("7"));
        assert_eq!(q.line_items[1].unit_price, m("10.00"));
        let t = &v.totals;
        assert_eq!(t.line_totals, vec![m("59.97"), m("3.33"), m("0.03")]);
        assert_eq!(
            (t.subtotal, t.markup_amount, t.tax_amount, t.total),
            (m("63.33"), m("7.92"), m("5.88"), m("77.13"))
        );
        assert_eq!(v.operations, Operations { generate_pdf: false, send_email: true });
        let priced = serde_json::to_value(priced(&q.line_items, t)).unwrap();
        assert_eq!(
            priced[0],
            json!({"id": "a1", "name": "Labour", "description": "Two people", "unit": "hour", "category": "work",
                   "quantity": "3", "unit_price": "19.99", "cost": "19.99", "total": "59.97"})
        );
        assert_eq!(
            priced[2],
            json!({"name": "Washers", "quantity": "2.5", "unit_price": "0.01", "cost": "0.01", "total": "0.03"})
        );
    }

    #[test]
    fn the_quote_and_operations_envelope_works() {
        let v = ok(json!({
            "quote": {"client_name": "Ada", "line_items": [item()], "tax_rate": 10},
            "operations": {"generate_pdf": true, "send_email": false, "update_usage": true, "auto_save": false}
        }));
        assert_eq!(v.quote.tax_rate, Rate::from_percent(10).unwrap());
        assert_eq!(v.totals.total, m("55.00"));
        assert_eq!(v.operations, Operations { generate_pdf: true, send_email: false });
    }

    #[test]
    fn envelope_errors_name_the_envelope() {
        let e = errs(json!({"quote": "x", "operations": {"generate_pdf": 1, "fax": true}, "extra": 1}));
        assert_eq!(
            pairs(&e),
            [
                ("extra", "unknown_field"),
                ("operations.fax", "unknown_field"),
                ("operations.generate_pdf", "invalid_type"),
                ("quote", "invalid_type")
            ]
        );
    }

    #[test]
    fn a_body_with_six_problems_reports_all_six() {
        let e = errs(json!({
            "client_name": "",
            "client_email": "not-an-email",
            "client_id": "42",
            "line_items": [{"name": "Mowing", "quantity": 0, "unit_price": "25.00"}],
            "tax_rate": 101,
            "valid_until": "2025-02-30"
        }));
        assert_eq!(
            pairs(&e),
            [
                ("client_email", "invalid_email"),
                ("client_id", "invalid_uuid"),
                ("client_name", "required"),
                ("line_items[0].quantity", "out_of_range"),
                ("tax_rate", "out_of_range"),
                ("valid_until", "invalid_date"),
            ]
        );
        let problem = Problem::validation(e);
        assert_eq!(problem.to_json()["errors"].as_array().unwrap().len(), 6);
    }

    #[test]
    fn errors_in_many_line_items_are_all_reported() {
        let e = errs(json!({"client_name": "Ada", "line_items": [
            {"name": "", "quantity": "abc", "unit_price": -1},
            item(),
            {"quantity": 1.0005, "unit_price": "1.0001", "colour": "red", "total": "5.00"},
            7
        ]}));
        assert_eq!(
            pairs(&e),
            [
                ("line_items[0].name", "required"),
                ("line_items[0].quantity", "invalid_number"),
                ("line_items[0].unit_price", "out_of_range"),
                ("line_items[2].colour", "unknown_field"),
                ("line_items[2].name", "required"),
                ("line_items[2].quantity", "too_precise"),
                ("line_items[2].unit_price", "too_precise"),
                ("line_items[3]", "invalid_type"),
            ]
        );
    }

    #[test]
    fn two_hundred_line_items_are_fine_and_201_are_too_many() {
        let body = |n: usize| json!({"client_name": "Ada", "line_items": vec![item(); n]});
        assert_eq!(ok(body(200)).totals.total, m("10000.00"));
        let e = errs(body(201));
        assert_eq!(pairs(&e), [("line_items", "too_many")]);
        assert_eq!(e[0].message, "at most 200 line items (got 201)");
    }

    #[test]
    fn client_name_of_201_characters_is_too_long() {
        assert_eq!(ok(with(minimal(), "client_name", json!("x".repeat(200)))).quote.client_name.len(), 200);
        // Characters, not bytes.
        assert_eq!(ok(with(minimal(), "client_name", json!("é".repeat(200)))).quote.client_name.chars().count(), 200);
        let e = errs(with(minimal(), "client_name", json!("x".repeat(201))));
        assert_eq!(pairs(&e), [("client_name", "too_long")]);
        assert_eq!(e[0].message, "must be at most 200 characters (got 201)");
    }

    #[test]
    fn length_limits_of_the_other_fields() {
        let long = |n: usize| json!("y".repeat(n));
        let mut body = minimal();
        body["notes"] = long(10_000);
        body["client_address"] = long(1_000);
        body["client_phone"] = long(50);
        body["line_items"][0]["description"] = long(2_000);
        body["line_items"][0]["unit"] = long(50);
        body["line_items"][0]["category"] = long(100);
        body["line_items"][0]["id"] = long(100);
        ok(body.clone());
        body["notes"] = long(10_001);
        body["client_address"] = long(1_001);
        body["client_phone"] = long(51);
        body["line_items"][0]["description"] = long(2_001);
        body["line_items"][0]["unit"] = long(51);
        body["line_items"][0]["category"] = long(101);
        body["line_items"][0]["id"] = long(101);
        body["line_items"][0]["name"] = long(201);
        body["client_email"] = json!(format!("{}@example.com", "a".repeat(243)));
        body["is_template"] = json!(true);
        body["template_name"] = long(201);
        let e = errs(body);
        assert!(e.iter().all(|e| e.code == "too_long"), "{e:#?}");
        assert_eq!(e.len(), 10);
    }

    #[test]
    fn server_owned_fields_are_read_only() {
        let mut body = minimal();
        for key in [
            "id",
            "user_id",
            "quote_number",
            "subtotal",
            "total",
            "status",
            "tax_amount",
            "markup_amount",
            "created_at",
        ] {
            body[key] = json!("x");
        }
        let e = errs(body);
        assert_eq!(e.len(), 9);
        assert!(e.iter().all(|e| e.code == "read_only"), "{e:#?}");
        assert!(e.iter().any(|e| e.field == "user_id"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = errs(with(with(minimal(), "discount", json!(10)), "client_contact", json!("x")));
        assert_eq!(pairs(&e), [("client_contact", "unknown_field"), ("discount", "unknown_field")]);
    }

    #[test]
    fn names_with_apostrophes_and_markup_are_kept_verbatim() {
        let mut body = minimal();
        body["client_name"] = json!("O'Brien & <b>Sons</b>");
        body["line_items"][0]["name"] = json!("<script>alert('x')</script>");
        body["notes"] = json!("\"quoted\" & 'single' <i>");
        let v = ok(body);
        assert_eq!(v.quote.client_name, "O'Brien & <b>Sons</b>");
        assert_eq!(v.quote.line_items[0].name, "<script>alert('x')</script>");
        assert_eq!(v.quote.notes.as_deref(), Some("\"quoted\" & 'single' <i>"));
    }

    #[test]
    fn control_characters_are_refused_but_notes_may_have_line_breaks() {
        let mut body = minimal();
        body["client_name"] = json!("Ada\u{0}Lovelace");
        body["template_name"] = json!("two\nlines");
        body["notes"] = json!("bell\u{7}");
        body["line_items"][0]["description"] = json!("line one\r\nline two\ttabbed");
        let e = errs(body);
        assert_eq!(
            pairs(&e),
            [
                ("client_name", "invalid_characters"),
                ("notes", "invalid_characters"),
                ("template_name", "invalid_characters")
            ]
        );
    }

    #[test]
    fn blank_optional_text_is_absent() {
        let mut body = minimal();
        body["client_email"] = json!("");
        body["client_phone"] = json!("   ");
        body["notes"] = json!(null);
        body["valid_until"] = json!("");
        body["client_id"] = json!("");
        let v = ok(body);
        assert_eq!((v.quote.client_email, v.quote.client_phone, v.quote.notes), (None, None, None));
        assert_eq!((v.quote.valid_until, v.quote.client_id), (None, None));
    }

    #[test]
    fn wrong_json_types_are_reported_per_field() {
        let e = errs(
            json!({"client_name": 5, "line_items": {"name": "x"}, "is_template": "yes", "tax_rate": [1], "notes": false}),
        );
        assert_eq!(
            pairs(&e),
            [
                ("client_name", "invalid_type"),
                ("is_template", "invalid_type"),
                ("line_items", "invalid_type"),
                ("notes", "invalid_type"),
                ("tax_rate", "invalid_number")
            ]
        );
    }

    #[test]
    fn emails_must_be_plausible() {
        for good in ["a@b.co", "first.last+tag@sub.example.org", "x_y@xn--bcher-kva.de", "josé@correo.es"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@b.",
            "a@.b.com",
            "a b@c.com",
            "a@@b.com",
            "a@b@c.com",
            ".a@b.com",
            "a.@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a@b-.com",
            "a@1.2.3.4",
            "a@b_c.com",
            "\"a\"@b.com",
            "a@b..com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
        assert!(!is_email(&format!("{}@b.com", "a".repeat(65))));
    }

    #[test]
    fn numeric_limits() {
        let priced = |qty: Value, price: Value| {
            with(minimal(), "line_items", json!([{"name": "x", "quantity": qty, "unit_price": price}]))
        };
        ok(priced(json!(1_000_000), json!(1)));
        ok(priced(json!(0.001), json!(1_000_000_000)));
        ok(priced(json!("1"), json!(0)));
        let cases = [
            (priced(json!(1_000_000.001), json!(1)), "line_items[0].quantity", "out_of_range"),
            (priced(json!(-1), json!(1)), "line_items[0].quantity", "out_of_range"),
            (priced(json!(0), json!(1)), "line_items[0].quantity", "out_of_range"),
            (priced(json!(1), json!(1_000_000_000.01)), "line_items[0].unit_price", "out_of_range"),
            (priced(json!(1), json!("-0.01")), "line_items[0].unit_price", "out_of_range"),
            (priced(json!(1), json!("NaN")), "line_items[0].unit_price", "invalid_number"),
            (priced(json!(1), json!("1e3")), "line_items[0].unit_price", "invalid_number"),
            (priced(json!(true), json!(1)), "line_items[0].quantity", "invalid_number"),
            (priced(json!(1), json!(1.0005)), "line_items[0].unit_price", "too_precise"),
            (with(priced(json!(1), json!(1.005)), "currency", json!("USD")), "line_items[0].unit_price", "too_precise"),
        ];
        for (body, field, code) in cases {
            assert_eq!(pairs(&errs(body)), [(field, code)]);
        }
        ok(with(with(minimal(), "tax_rate", json!(100)), "markup_rate", json!(1000)));
        let e = errs(with(with(minimal(), "tax_rate", json!(100.01)), "markup_rate", json!("1000.01")));
        assert_eq!(pairs(&e), [("markup_rate", "out_of_range"), ("tax_rate", "out_of_range")]);
        let e = errs(with(with(minimal(), "tax_rate", json!(-0.5)), "markup_rate", json!("8.255")));
        assert_eq!(pairs(&e), [("markup_rate", "too_precise"), ("tax_rate", "out_of_range")]);
    }

    #[test]
    fn totals_beyond_the_largest_amount_are_refused() {
        let big = json!({"name": "x", "quantity": 1_000_000, "unit_price": 1_000_000_000});
        let e = errs(with(minimal(), "line_items", json!([item(), big])));
        assert_eq!(pairs(&e), [("line_items[1]", "out_of_range")]);
        // Each line fits (10^9 × 5 = 5 × 10^9), the sum of three does not.
        let five = json!({"name": "x", "quantity": 5, "unit_price": 1_000_000_000});
        let e = errs(with(minimal(), "line_items", json!([five, five, five])));
        assert_eq!(pairs(&e), [("line_items", "out_of_range")]);
        // The subtotal fits, the markup pushes it over.
        let e = errs(with(with(minimal(), "line_items", json!([five])), "markup_rate", json!(200)));
        assert_eq!(pairs(&e), [("line_items", "out_of_range")]);
    }

    #[test]
    fn cost_is_an_alias_of_unit_price() {
        let body = |i: Value| with(minimal(), "line_items", json!([i]));
        assert_eq!(
            ok(body(json!({"name": "x", "quantity": 1, "cost": 4.5}))).quote.line_items[0].unit_price,
            m("4.50")
        );
        ok(body(json!({"name": "x", "quantity": 1, "cost": "4.50", "unit_price": 4.5})));
        let e = errs(body(json!({"name": "x", "quantity": 1, "cost": 4, "unit_price": 5})));
        assert_eq!(pairs(&e), [("line_items[0].cost", "conflict")]);
        let e = errs(body(json!({"name": "x", "quantity": 1})));
        assert_eq!(pairs(&e), [("line_items[0].unit_price", "required")]);
    }

    #[test]
    fn quotes_need_a_line_item_and_templates_a_name() {
        let e = errs(json!({"client_name": "Ada", "line_items": []}));
        assert_eq!(pairs(&e), [("line_items", "required")]);
        let e = errs(json!({"client_name": "Ada"}));
        assert_eq!(pairs(&e), [("line_items", "required")]);
        let e = errs(json!({"client_name": "Ada", "is_template": true}));
        assert_eq!(pairs(&e), [("template_name", "required")]);
        let v = ok(json!({"client_name": "Ada", "is_template": true, "template_name": "Weekly mowing"}));
        assert_eq!((v.quote.line_items.len(), v.totals.total), (0, Money::ZERO));
        // A broken is_template says nothing about the other rules.
        let e = errs(json!({"client_name": "Ada", "is_template": 1}));
        assert_eq!(pairs(&e), [("is_template", "invalid_type")]);
    }

    #[test]
    fn a_body_that_is_not_an_object_does_not_deserialize() {
        assert!(serde_json::from_str::<QuoteInput>("[1]").is_err());
        assert!(serde_json::from_str::<QuoteUpdateInput>("\"x\"").is_err());
    }

    #[test]
    fn the_valid_quote_serialises_for_storage() {
        let v = ok(with(minimal(), "valid_until", json!("2026-01-15")));
        let json = serde_json::to_value(&v.quote).unwrap();
        assert_eq!(json["valid_until"], json!("2026-01-15"));
        assert_eq!(json["tax_rate"], json!("0.00"));
        assert_eq!(
            json["line_items"][0],
            json!({"name": "Mowing", "quantity": "2", "unit_price": "25.00", "cost": "25.00"})
        );
    }

    // --- stored line items ----------------------------------------------------------------

    #[test]
    fn the_apps_stored_line_items_read_back() {
        let stored = json!([
            {"id": "5f1c", "name": "Mulch", "unit": "bag", "cost": 4.99, "quantity": 3},
            {"name": "Ours", "quantity": "2.5", "unit_price": "0.01", "cost": "0.01", "total": "0.03"}
        ]);
        let items = line_items_from_stored(&stored).unwrap();
        assert_eq!(items[0].unit_price, m("4.99"));
        assert_eq!(items[0].unit.as_deref(), Some("bag"));
        assert_eq!(items[1].total(), Ok(m("0.03")));
        let e = line_items_from_stored(&json!([{"name": "x"}])).unwrap_err();
        assert_eq!(pairs(&e), [("line_items[0].quantity", "required"), ("line_items[0].unit_price", "required")]);
    }

    // --- updating -------------------------------------------------------------------------

    fn stored() -> QuoteFields {
        ok(json!({"client_name": "Ada", "client_email": "ada@example.com", "notes": "n", "line_items": [item()], "tax_rate": 10})).quote
    }

    #[test]
    fn an_update_changes_only_what_it_names() {
        let u = validate_update(&update_input(
            json!({"client_name": "Ada L.", "client_email": null, "notes": "", "markup_rate": "5"}),
        ))
        .unwrap();
        assert!(u.changes_fields() && u.changes_totals());
        let mut q = stored();
        u.apply(&mut q);
        assert_eq!(q.client_name, "Ada L.");
        assert_eq!((&q.client_email, &q.notes), (&None, &None));
        assert_eq!(q.tax_rate, Rate::from_percent(10).unwrap());
        let t = q.check().unwrap();
        // 50.00 + 5 % = 52.50; + 10 % tax = 5.25 → 57.75
        assert_eq!((t.markup_amount, t.tax_amount, t.total), (m("2.50"), m("5.25"), m("57.75")));
    }

    #[test]
    fn an_update_in_the_original_form_carries_the_id() {
        let u = validate_update(&update_input(json!({
            "quote_id": "123E4567-E89B-12D3-A456-426614174000",
            "updates": {"status": "sent", "line_items": [{"name": "x", "quantity": 1, "cost": 3}]},
            "operations": {"send_email": true}
        })))
        .unwrap();
        assert_eq!(u.quote_id.as_deref(), Some("123e4567-e89b-12d3-a456-426614174000"));
        assert_eq!(u.status, Some(Sent));
        assert!(u.operations.send_email);
        assert_eq!(u.line_items.as_ref().map(|l| l[0].unit_price), Some(m("3.00")));
    }

    #[test]
    fn an_update_reports_every_problem() {
        let e = validate_update(&update_input(json!({
            "client_name": null,
            "tax_rate": null,
            "status": "deleted",
            "user_id": "00000000-0000-0000-0000-000000000000",
            "total": "0.00",
            "quote_number": "Q-2025-0001",
            "line_items": [{"name": "x", "quantity": 1, "unit_price": 1, "total": "1.00"}],
            "whatever": 1
        })))
        .unwrap_err();
        assert_eq!(
            pairs(&e),
            [
                ("client_name", "required"),
                ("quote_number", "read_only"),
                ("status", "invalid_status"),
                ("tax_rate", "required"),
                ("total", "read_only"),
                ("user_id", "read_only"),
                ("whatever", "unknown_field"),
            ]
        );
        let e = validate_update(&update_input(json!({"quote_id": "nope", "updates": 3, "quote": {}}))).unwrap_err();
        assert_eq!(pairs(&e), [("quote", "conflict"), ("quote_id", "invalid_uuid"), ("updates", "invalid_type")]);
    }

    #[test]
    fn rules_between_fields_are_checked_on_the_updated_quote() {
        let mut q = stored();
        validate_update(&update_input(json!({"is_template": true}))).unwrap().apply(&mut q);
        assert_eq!(pairs(&q.check().unwrap_err()), [("template_name", "required")]);
        let mut q = stored();
        validate_update(&update_input(json!({"line_items": []}))).unwrap().apply(&mut q);
        assert_eq!(pairs(&q.check().unwrap_err()), [("line_items", "required")]);
        let mut q = stored();
        validate_update(&update_input(json!({"line_items": [], "is_template": true, "template_name": "T"})))
            .unwrap()
            .apply(&mut q);
        assert_eq!(q.check().unwrap().total, Money::ZERO);
    }

    #[test]
    fn an_empty_update_changes_nothing() {
        let u = validate_update(&update_input(json!({}))).unwrap();
        assert_eq!(u, QuoteUpdate::default());
        assert!(!u.changes_fields() && !u.changes_totals());
        let u = validate_update(&update_input(json!({"status": "accepted"}))).unwrap();
        assert!(!u.changes_fields());
        assert_eq!(u.status, Some(Accepted));
    }

    // --- properties -----------------------------------------------------------------------

    /// A JSON number or decimal string for `value × 10^-scale`, chosen at random.
    fn number(rng: &mut XorShift, value: i64, scale: u32) -> Value {
        let unit = 10i64.pow(scale);
        let text = format!("{}.{:0width$}", value / unit, value % unit, width = scale as usize);
        if rng.next().is_multiple_of(2) {
            json!(text)
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    /// 10,000 random valid quotes, numbers sent as JSON numbers or strings: they validate,
    /// their totals equal the totals of the integers they were made from (so reading is
    /// exact), total = subtotal + markup + tax, and nothing is negative.
    #[test]
    fn property_random_valid_quotes_price_exactly() {
        let mut rng = XorShift::new(0x0B0E_0001);
        for _ in 0..10_000 {
            let n = rng.range(1, 30) as usize;
            let mut lines = Vec::with_capacity(n);
            let mut items = Vec::with_capacity(n);
            for i in 0..n {
                let qty = rng.range(1, 1_000_000); // 0.001 ..= 1,000
                let price = rng.range(0, 1_000_000); // 0 ..= 10,000.00
                lines.push((Quantity::from_thousandths(qty), Money::from_thousandths(price * 10).unwrap()));
                items.push(json!({"name": format!("item {i}"), "quantity": number(&mut rng, qty, 3), "unit_price": number(&mut rng, price, 2)}));
            }
            let markup = rng.range(0, 100_000);
            let tax = rng.range(0, 10_000);
            let body = json!({"client_name": "P", "line_items": items, "markup_rate": number(&mut rng, markup, 2), "tax_rate": number(&mut rng, tax, 2)});
            let v = ok(body);
            let expected = Totals::compute(&lines, Rate::from_hundredths(markup), Rate::from_hundredths(tax)).unwrap();
            assert_eq!(v.totals, expected);
            let t = &v.totals;
            assert_eq!(
                t.total.thousandths(),
                t.subtotal.thousandths() + t.markup_amount.thousandths() + t.tax_amount.thousandths()
            );
            assert!(t.total >= t.subtotal && t.line_totals.iter().all(|l| !l.is_negative()));
            // Serialised amounts parse back to the same values.
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(Money::parse(json["total"].as_str().unwrap()), Ok(t.total));
        }
    }

    /// Any subset of eight independent defects is reported exactly: one error per defect.
    #[test]
    fn property_every_defect_is_reported_at_once() {
        type Defect = (&'static str, &'static str, fn(&mut Value));
        let defects: [Defect; 8] = [
            ("client_name", "required", |b| b["client_name"] = json!(" ")),
            ("client_email", "invalid_email", |b| b["client_email"] = json!("a@b")),
            ("tax_rate", "out_of_range", |b| b["tax_rate"] = json!(100.5)),
            ("markup_rate", "too_precise", |b| b["markup_rate"] = json!("1.001")),
            ("valid_until", "invalid_date", |b| b["valid_until"] = json!("2025-02-29")),
            ("line_items[0].quantity", "invalid_number", |b| b["line_items"][0]["quantity"] = json!("two")),
            ("line_items[1].name", "too_long", |b| b["line_items"][1]["name"] = json!("n".repeat(201))),
            ("subtotal", "read_only", |b| b["subtotal"] = json!("1.00")),
        ];
        let mut rng = XorShift::new(0x0B0E_0002);
        for _ in 0..2_000 {
            let mut body = with(minimal(), "line_items", json!([item(), item()]));
            let mut want = Vec::new();
            for (field, code, apply) in &defects {
                if rng.next().is_multiple_of(2) {
                    apply(&mut body);
                    want.push((*field, *code));
                }
            }
            want.sort();
            match validate(&input(body)) {
                Ok(_) => assert!(want.is_empty()),
                Err(e) => assert_eq!(pairs(&e), want),
            }
        }
    }
}
