//! A valid quote: its line items and fields, the rules between fields, and the totals they
//! give; an update and how it applies to a quote.

use super::*;

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
