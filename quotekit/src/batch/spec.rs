//! What a job asks for: the operation, its items and options, parsed and checked before
//! anything is stored. Every problem is reported at once (400 `validation_failed`), and a
//! request with any problem creates no job.

use crate::money::{Money, Rate};
use crate::quote::QuoteStatus;
use serde_json::{json, Map, Value};
use shared::FieldError;

/// Most items one job may carry.
pub const MAX_ITEMS: usize = 1000;
/// PDFs are rendered one by one: fewer per job.
pub const MAX_PDF_ITEMS: usize = 100;
const MAX_NAME: usize = 200;
const MAX_SHORT_TEXT: usize = 100;
const MAX_IDEMPOTENCY_KEY: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    UpdateQuoteStatus,
    DeleteQuotes,
    ExportQuotes,
    DeleteClients,
    UpdateItemPrices,
    BulkCreateItems,
    GeneratePdfs,
}

impl Operation {
    pub const ALL: [Operation; 7] = [
        Operation::UpdateQuoteStatus,
        Operation::DeleteQuotes,
        Operation::ExportQuotes,
        Operation::DeleteClients,
        Operation::UpdateItemPrices,
        Operation::BulkCreateItems,
        Operation::GeneratePdfs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::UpdateQuoteStatus => "update_quote_status",
            Operation::DeleteQuotes => "delete_quotes",
            Operation::ExportQuotes => "export_quotes",
            Operation::DeleteClients => "delete_clients",
            Operation::UpdateItemPrices => "update_item_prices",
            Operation::BulkCreateItems => "bulk_create_items",
            Operation::GeneratePdfs => "generate_pdfs",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.as_str() == s)
    }

    pub fn max_items(self) -> usize {
        match self {
            Operation::GeneratePdfs => MAX_PDF_ITEMS,
            _ => MAX_ITEMS,
        }
    }

    /// Items claimed per chunk: a chunk is one transaction.
    pub fn chunk_size(self) -> usize {
        match self {
            Operation::GeneratePdfs => 10,
            _ => 50,
        }
    }

    /// Whether the items are ids (everything but `bulk_create_items`).
    fn takes_ids(self) -> bool {
        self != Operation::BulkCreateItems
    }
}

/// How `update_item_prices` changes a cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceAdjustment {
    /// new = round(old × (100 + p) / 100), p in percent.
    Percentage(Rate),
    /// new = old + amount.
    Fixed(Money),
}

impl PriceAdjustment {
    /// The new cost: rounded to cents half away from zero, never below 0.
    pub fn apply(self, cost: Money) -> Option<Money> {
        let new = match self {
            PriceAdjustment::Percentage(p) => cost.percent(Rate::from_hundredths(10_000 + p.hundredths())).ok()?,
            PriceAdjustment::Fixed(a) => cost.checked_add(a).ok()?,
        };
        Some(if new.is_negative() { Money::ZERO } else { new })
    }

    pub fn from_options(options: &Value) -> Option<PriceAdjustment> {
        let adj = &options["price_adjustment"];
        match adj["type"].as_str()? {
            "percentage" => Rate::from_json(&adj["value"]).ok().map(PriceAdjustment::Percentage),
            "fixed" => Money::cents_from_json(&adj["value"]).ok().map(PriceAdjustment::Fixed),
            _ => None,
        }
    }
}

/// A checked job request: items normalised (ids lower case, items to create in stored form).
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub operation: Operation,
    pub items: Vec<Value>,
    pub options: Value,
    pub idempotency_key: Option<String>,
}

struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }
}

const BODY_FIELDS: &[&str] = &["operation", "items", "options", "idempotency_key"];

/// Check a request body; `header_key` is the `Idempotency-Key` header, if sent.
pub fn parse(body: &Value, header_key: Option<&str>) -> Result<JobSpec, Vec<FieldError>> {
    let mut e = Errors(Vec::new());
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError::new("body", "invalid_type", "the body must be a JSON object")]);
    };
    for k in obj.keys().filter(|k| !BODY_FIELDS.contains(&k.as_str())) {
        e.add(k.clone(), "unknown_field", format!("`{k}` is not a field of a batch job ({})", BODY_FIELDS.join(", ")));
    }
    let names: Vec<_> = Operation::ALL.iter().map(|o| o.as_str()).collect();
    let operation = match obj.get("operation") {
        None | Some(Value::Null) => {
            e.add("operation", "required", format!("operation is required: one of {}", names.join(", ")));
            None
        }
        Some(Value::String(s)) => {
            let op = Operation::parse(s);
            if op.is_none() {
                e.add(
                    "operation",
                    "unknown_operation",
                    format!("unknown operation `{s}`; use one of {}", names.join(", ")),
                );
            }
            op
        }
        Some(_) => {
            e.add("operation", "invalid_type", "operation must be a string");
            None
        }
    };
    let idempotency_key = idempotency_key(obj.get("idempotency_key"), header_key, &mut e);
    let options = match obj.get("options") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(o @ Value::Object(_)) => o.clone(),
        Some(_) => {
            e.add("options", "invalid_type", "options must be an object");
            Value::Null
        }
    };
    let items = match obj.get("items") {
        None | Some(Value::Null) => {
            e.add("items", "required", "items is required: a non-empty array");
            Vec::new()
        }
        Some(Value::Array(a)) if a.is_empty() => {
            e.add("items", "empty", "items must not be empty");
            Vec::new()
        }
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            e.add("items", "invalid_type", "items must be an array");
            Vec::new()
        }
    };
    let Some(operation) = operation else {
        return Err(e.0);
    };
    if items.len() > operation.max_items() {
        e.add(
            "items",
            "too_many",
            format!(
                "{} allows at most {} items per job; {} were sent",
                operation.as_str(),
                operation.max_items(),
                items.len()
            ),
        );
    }
    let items = if operation.takes_ids() { ids(&items, &mut e) } else { new_items(&items, &mut e) };
    let options = if options.is_object() { check_options(operation, options, &mut e) } else { options };
    if e.0.is_empty() {
        Ok(JobSpec { operation, items, options, idempotency_key })
    } else {
        Err(e.0)
    }
}

fn idempotency_key(body: Option<&Value>, header: Option<&str>, e: &mut Errors) -> Option<String> {
    let key = match (body, header) {
        (None | Some(Value::Null), None) => return None,
        (Some(Value::String(s)), _) => s.clone(),
        (None | Some(Value::Null), Some(h)) => h.to_string(),
        (Some(_), _) => {
            e.add("idempotency_key", "invalid_type", "idempotency_key must be a string");
            return None;
        }
    };
    let key = key.trim().to_string();
    if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY {
        e.add(
            "idempotency_key",
            "invalid_length",
            format!("idempotency_key must have 1 to {MAX_IDEMPOTENCY_KEY} characters"),
        );
        return None;
    }
    Some(key)
}

/// Ids: UUIDs, each once.
fn ids(items: &[Value], e: &mut Errors) -> Vec<Value> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        match v.as_str() {
            Some(s) if shared::params::is_uuid(s) => {
                let id = s.to_ascii_lowercase();
                if let Some(first) = seen.get(&id) {
                    e.add(
                        format!("items[{i}]"),
                        "duplicate",
                        format!("{id} is listed twice (first at items[{first}])"),
                    );
                } else {
                    seen.insert(id.clone(), i);
                }
                out.push(Value::String(id));
            }
            Some(_) => e.add(format!("items[{i}]"), "invalid_uuid", "each item must be a UUID"),
            None => e.add(format!("items[{i}]"), "invalid_type", "each item must be a UUID string"),
        }
    }
    out
}

const ITEM_FIELDS: &[&str] = &["name", "unit", "cost", "category"];

/// Catalog items to create, validated like the catalog: name 1..200, cost ≥ 0 with ≤ 2 decimals.
fn new_items(items: &[Value], e: &mut Errors) -> Vec<Value> {
    let mut out = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        let Some(obj) = v.as_object() else {
            e.add(format!("items[{i}]"), "invalid_type", "each item must be an object {name, unit, cost, category}");
            continue;
        };
        for k in obj.keys().filter(|k| !ITEM_FIELDS.contains(&k.as_str())) {
            e.add(
                format!("items[{i}].{k}"),
                "unknown_field",
                format!("`{k}` is not a field of a catalog item ({})", ITEM_FIELDS.join(", ")),
            );
        }
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() && s.trim().chars().count() <= MAX_NAME => {
                Some(s.trim().to_string())
            }
            Some(Value::String(_)) => {
                e.add(
                    format!("items[{i}].name"),
                    "invalid_length",
                    format!("name must have 1 to {MAX_NAME} characters"),
                );
                None
            }
            None | Some(Value::Null) => {
                e.add(format!("items[{i}].name"), "required", "name is required");
                None
            }
            Some(_) => {
                e.add(format!("items[{i}].name"), "invalid_type", "name must be a string");
                None
            }
        };
        let mut short = |field: &str| -> Option<String> {
            match obj.get(field) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().chars().count() <= MAX_SHORT_TEXT => {
                    Some(s.trim().to_string()).filter(|s| !s.is_empty())
                }
                Some(Value::String(_)) => {
                    e.add(
                        format!("items[{i}].{field}"),
                        "invalid_length",
                        format!("{field} must have at most {MAX_SHORT_TEXT} characters"),
                    );
                    None
                }
                Some(_) => {
                    e.add(format!("items[{i}].{field}"), "invalid_type", format!("{field} must be a string"));
                    None
                }
            }
        };
        let unit = short("unit");
        let category = short("category");
        let cost = match obj.get("cost") {
            None | Some(Value::Null) => {
                e.add(format!("items[{i}].cost"), "required", "cost is required");
                None
            }
            // The catalog keeps cents (`line_items.cost numeric(12,2)`): it has no currency.
            Some(c) => match Money::cents_from_json(c) {
                Ok(m) if !m.is_negative() => Some(m),
                Ok(_) => {
                    e.add(format!("items[{i}].cost"), "out_of_range", "cost must not be negative");
                    None
                }
                Err(err) => {
                    e.add(
                        format!("items[{i}].cost"),
                        "invalid_amount",
                        format!("cost must be an amount with at most 2 decimals ({err})"),
                    );
                    None
                }
            },
        };
        if let (Some(name), Some(cost)) = (name, cost) {
            out.push(json!({ "name": name, "unit": unit, "cost": cost.to_string(), "category": category }));
        }
    }
    out
}

fn check_options(op: Operation, options: Value, e: &mut Errors) -> Value {
    let obj = options.as_object().cloned().unwrap_or_default();
    let allowed: &[&str] = match op {
        Operation::UpdateQuoteStatus => &["status"],
        Operation::ExportQuotes => &["format"],
        Operation::UpdateItemPrices => &["price_adjustment"],
        _ => &[],
    };
    for k in obj.keys().filter(|k| !allowed.contains(&k.as_str())) {
        let known = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
        e.add(
            format!("options.{k}"),
            "unknown_field",
            format!("{} takes no option `{k}` (options: {known})", op.as_str()),
        );
    }
    match op {
        Operation::UpdateQuoteStatus => match obj.get("status") {
            None | Some(Value::Null) => {
                e.add("options.status", "required", "options.status is required: the status to move the quotes to")
            }
            Some(Value::String(s)) if QuoteStatus::parse(s).is_some() => {}
            Some(Value::String(s)) => {
                let names: Vec<_> = QuoteStatus::ALL.iter().map(|s| s.as_str()).collect();
                e.add(
                    "options.status",
                    "invalid_value",
                    format!("`{s}` is not a quote status; use one of {}", names.join(", ")),
                )
            }
            Some(_) => e.add("options.status", "invalid_type", "options.status must be a string"),
        },
        Operation::ExportQuotes => match obj.get("format") {
            None | Some(Value::Null) => e.add("options.format", "required", "options.format is required: csv or json"),
            Some(Value::String(s)) if s == "csv" || s == "json" => {}
            Some(Value::String(s)) => {
                e.add("options.format", "invalid_value", format!("`{s}` is not an export format; use csv or json"))
            }
            Some(_) => e.add("options.format", "invalid_type", "options.format must be a string"),
        },
        Operation::UpdateItemPrices => match obj.get("price_adjustment") {
            None | Some(Value::Null) => e.add(
                "options.price_adjustment",
                "required",
                "options.price_adjustment is required: {\"type\": \"percentage\" | \"fixed\", \"value\": number}",
            ),
            Some(Value::Object(adj)) => {
                for k in adj.keys().filter(|k| *k != "type" && *k != "value") {
                    e.add(
                        format!("options.price_adjustment.{k}"),
                        "unknown_field",
                        "price_adjustment has only type and value",
                    );
                }
                let value = adj.get("value").unwrap_or(&Value::Null);
                match adj.get("type") {
                    None | Some(Value::Null) => {
                        e.add("options.price_adjustment.type", "required", "type is required: percentage or fixed")
                    }
                    Some(Value::String(t)) if t == "percentage" => match Rate::from_json(value) {
                        Ok(r) if (-10_000..=100_000).contains(&r.hundredths()) => {}
                        Ok(_) => e.add(
                            "options.price_adjustment.value",
                            "out_of_range",
                            "a percentage must be between -100 and 1000",
                        ),
                        Err(_) => e.add(
                            "options.price_adjustment.value",
                            "invalid_number",
                            "value must be a percentage with at most 2 decimals",
                        ),
                    },
                    Some(Value::String(t)) if t == "fixed" => {
                        if Money::cents_from_json(value).is_err() {
                            e.add(
                                "options.price_adjustment.value",
                                "invalid_amount",
                                "value must be an amount with at most 2 decimals",
                            )
                        }
                    }
                    Some(Value::String(t)) => e.add(
                        "options.price_adjustment.type",
                        "invalid_value",
                        format!("`{t}` is not an adjustment type; use percentage or fixed"),
                    ),
                    Some(_) => e.add("options.price_adjustment.type", "invalid_type", "type must be a string"),
                }
            }
            Some(_) => {
                e.add("options.price_adjustment", "invalid_type", "price_adjustment must be an object {type, value}")
            }
        },
        _ => {}
    }
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "6f1c0a9e-1b2c-4d3e-8f40-123456789abc";

    fn fields(r: Result<JobSpec, Vec<FieldError>>) -> Vec<(String, String)> {
        r.unwrap_err().into_iter().map(|f| (f.field, f.code)).collect()
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let body = json!({"operation": "update_quote_status", "items": [A, "nope", A.to_uppercase(), 7], "options": {"status": 3}});
        let f = fields(parse(&body, None));
        assert!(f.contains(&("items[1]".into(), "invalid_uuid".into())), "{f:?}");
        assert!(f.contains(&("items[2]".into(), "duplicate".into())), "{f:?}");
        assert!(f.contains(&("items[3]".into(), "invalid_type".into())), "{f:?}");
        assert!(f.contains(&("options.status".into(), "invalid_type".into())), "{f:?}");
    }

    #[test]
    fn unknown_operations_and_missing_options_are_refused() {
        assert_eq!(
            fields(parse(&json!({"operation": "explode", "items": [A]}), None)),
            vec![("operation".into(), "unknown_operation".into())]
        );
        let f = fields(parse(&json!({"operation": "update_item_prices", "items": [A]}), None));
        assert_eq!(f, vec![("options.price_adjustment".into(), "required".into())]);
    }

    #[test]
    fn too_many_items_are_refused() {
        let items: Vec<Value> = (0..1001).map(|i| json!(format!("00000000-0000-4000-8000-{i:012}"))).collect();
        let f = fields(parse(&json!({"operation": "delete_quotes", "items": items}), None));
        assert_eq!(f, vec![("items".into(), "too_many".into())]);
    }

    #[test]
    fn catalog_items_are_validated_like_the_catalog() {
        let body = json!({"operation": "bulk_create_items", "items": [
            {"name": "Mulch", "cost": "12.5", "unit": "bag"},
            {"name": "", "cost": -1},
            {"name": "x", "cost": "1.005", "colour": "red"}
        ]});
        let f = fields(parse(&body, None));
        assert_eq!(f.len(), 4, "{f:?}");
        let ok =
            parse(&json!({"operation": "bulk_create_items", "items": [{"name": " Mulch ", "cost": 12.5}]}), Some("k1"))
                .unwrap();
        assert_eq!(ok.items[0], json!({"name": "Mulch", "unit": null, "cost": "12.50", "category": null}));
        assert_eq!(ok.idempotency_key.as_deref(), Some("k1"));
    }

    #[test]
    fn price_adjustments_round_to_cents_and_floor_at_zero() {
        let pct = |s: &str| PriceAdjustment::Percentage(Rate::parse(s).unwrap());
        let m = |s: &str| Money::parse(s).unwrap();
        assert_eq!(pct("10").apply(m("10.05")), Some(m("11.06"))); // 11.055 → 11.06
        assert_eq!(pct("-10").apply(m("10.05")), Some(m("9.05"))); // 9.045 → 9.05
        assert_eq!(pct("-100").apply(m("3.00")), Some(m("0")));
        assert_eq!(PriceAdjustment::Fixed(m("-5")).apply(m("3.00")), Some(m("0")));
        assert_eq!(PriceAdjustment::Fixed(m("2.5")).apply(m("3.00")), Some(m("5.50")));
    }
}
