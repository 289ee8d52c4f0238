//! What a client sends (both body forms) and how it is read: every field checked, every
//! problem reported at once as a [`FieldError`].

use super::*;

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

pub(super) fn json_object<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
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
pub(super) struct Errors(pub(super) Vec<FieldError>);

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
pub(super) enum Slot<T> {
    Absent,
    /// `null`, or blank text.
    Null,
    Set(T),
    /// Present and wrong; the error is recorded.
    Invalid,
}

/// What reading a present value gives: `Ok(None)` for blank, `Err` with the error recorded.
pub(super) type Read<T> = Result<Option<T>, ()>;

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
pub(super) enum Mode {
    Create,
    Update,
}

/// Every quote field of one object, each read on its own.
pub(super) struct Partial {
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

pub(super) fn read_quote(
    errors: &mut Errors,
    q: &Map<String, Value>,
    mode: Mode,
    operations: &mut Operations,
) -> Partial {
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
pub(super) fn whole_quote_rules(
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
pub(super) fn lookup_currency(errors: &mut Errors, code: &str) -> Result<Currency, ()> {
    Currency::lookup(code).ok_or_else(|| {
        errors.add("currency", code::UNKNOWN_CURRENCY, format!("`{code}` is not an active ISO 4217 currency code"))
    })
}

/// An ISO 4217 code (any case, kept in capitals).
pub(super) fn read_currency(errors: &mut Errors, field: &str, v: &Value) -> Read<String> {
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

pub(super) fn read_line_items(errors: &mut Errors, field: &str, v: &Value) -> Read<Vec<ValidLineItem>> {
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

pub(super) fn read_line_item(errors: &mut Errors, at: &str, v: &Value) -> Option<ValidLineItem> {
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
pub(super) enum Lines {
    One,
    /// Newlines and tabs allowed.
    Many,
}

pub(super) fn read_text(errors: &mut Errors, field: &str, v: &Value, max: usize, lines: Lines) -> Read<String> {
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

pub(super) fn read_email(errors: &mut Errors, field: &str, v: &Value) -> Read<String> {
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

pub(super) fn read_uuid(errors: &mut Errors, field: &str, v: &Value) -> Read<String> {
    match v {
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) if is_uuid(s.trim()) => Ok(Some(s.trim().to_ascii_lowercase())),
        _ => {
            errors.add(field, code::INVALID_UUID, "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000");
            Err(())
        }
    }
}

pub(super) fn read_date(errors: &mut Errors, field: &str, v: &Value) -> Read<Date> {
    match v {
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) if Date::parse(s.trim()).is_some() => Ok(Date::parse(s.trim())),
        _ => {
            errors.add(field, code::INVALID_DATE, "must be a calendar date written YYYY-MM-DD");
            Err(())
        }
    }
}

pub(super) fn read_bool(errors: &mut Errors, field: &str, v: &Value) -> Read<bool> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        _ => {
            errors.add(field, code::INVALID_TYPE, "must be true or false");
            Err(())
        }
    }
}

pub(super) fn read_status(errors: &mut Errors, field: &str, v: &Value) -> Read<QuoteStatus> {
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

pub(super) fn read_item_id(errors: &mut Errors, field: &str, v: &Value) -> Read<String> {
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
pub(super) fn read_decimal<T>(
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

pub(super) fn read_quantity(errors: &mut Errors, field: &str, v: &Value) -> Read<Quantity> {
    let max = Quantity::from_units(MAX_QUANTITY_UNITS).unwrap_or(Quantity::ZERO);
    let range = format!("must be greater than 0 and at most {MAX_QUANTITY_UNITS}");
    read_decimal(errors, field, v, Quantity::from_json, |q| *q > Quantity::ZERO && *q <= max, &range)
}

pub(super) fn read_price(errors: &mut Errors, field: &str, v: &Value) -> Read<Money> {
    let max = Money::from_thousandths(MAX_UNIT_PRICE_UNITS * 1000).unwrap_or(Money::ZERO);
    let range = format!("must be between 0 and {max}");
    read_decimal(errors, field, v, Money::from_json, |m| !m.is_negative() && *m <= max, &range)
}

pub(super) fn read_rate(errors: &mut Errors, field: &str, v: &Value, max_percent: i64) -> Read<Rate> {
    let max = Rate::from_percent(max_percent).unwrap_or(Rate::ZERO);
    let range = format!("must be a percentage between 0 and {max_percent}");
    read_decimal(errors, field, v, Rate::from_json, |r| *r >= Rate::ZERO && *r <= max, &range)
}

pub(super) fn read_flag(errors: &mut Errors, field: &str, v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Null => false,
        _ => {
            errors.add(field, code::INVALID_TYPE, "must be true or false");
            false
        }
    }
}

pub(super) fn read_operations(errors: &mut Errors, field: &str, v: &Value, operations: &mut Operations) {
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
