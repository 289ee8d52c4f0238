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

mod date;
mod input;
mod rules;
mod status;
pub mod stored;

pub use date::*;
pub use input::*;
pub use rules::*;
pub use status::*;

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

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
