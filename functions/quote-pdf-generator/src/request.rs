//! What a client may ask for: which quotes (by id only: nothing about a quote is taken from
//! the request), and whether to email them. Every problem is reported at once.
//!
//! ```json
//! {"quote_id": "<uuid>"}                                   // one document
//! {"quote_ids": ["<uuid>", ...]}                           // 1..=25 distinct ids, JSON answer
//! {"quote_id": "<uuid>", "send_email": true,
//!  "email": {"message": "..."}}                            // a note inside the fixed email
//! ```
//!
//! The original clients' forms are read too, for the ids only: `{"quotes": [{"id": ...,
//! ...}], "template_options": {...}, "output_options": {...}}` (one document per quote, a
//! JSON answer; the quote objects' other fields are not read, the quotes are loaded from the
//! database) and `{"quote_id": ..., "template": ..., "options": {...}}`. Templates, template
//! options and output options are accepted and ignored: the layout is the built-in one and
//! nothing is written to storage paths a caller names.
//!
//! The email's recipient is the quote's own `client_email` and its subject is fixed
//! ([`crate::email`]): the platform sends from its own address, so the caller chooses neither.
//! The original request shape is still read: `email.to` is accepted only when it is the
//! quote's client email (checked per quote, [`crate::email::compose`]), `email.subject` is
//! ignored with a warning in the answer.

use quotekit::quote::code;
use serde_json::{Map, Value};
use shared::params::is_uuid;
use shared::FieldError;

/// Most quotes one request may render.
pub const MAX_BATCH: usize = 25;
/// Fields of the original clients' bodies that are accepted and not used (see above).
const ORIGINAL_FIELDS: [&str; 5] = ["quotes", "template_options", "output_options", "template", "options"];
pub const MAX_SUBJECT_CHARS: usize = 200;
/// The caller's note inside a quote email: a few lines, not a letter of its own.
pub const MAX_MESSAGE_CHARS: usize = 1_000;
const MAX_EMAIL_CHARS: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `quote_id`: answered with the PDF itself (or JSON when asked for).
    One(String),
    /// `quote_ids`: answered with a JSON list, one entry per id, in order.
    Many(Vec<String>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailOptions {
    /// Accepted only when it is the quote's client email (the original clients send it).
    pub to: Option<String>,
    /// No longer honoured: the subject is fixed. Kept to warn about it.
    pub subject: Option<String>,
    /// The caller's note, shown as plain text inside the fixed message.
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateRequest {
    pub target: Target,
    pub send_email: bool,
    pub email: EmailOptions,
}

impl GenerateRequest {
    /// The quote ids, lower case, in the order asked.
    pub fn ids(&self) -> &[String] {
        match &self.target {
            Target::One(id) => std::slice::from_ref(id),
            Target::Many(ids) => ids,
        }
    }
}

/// Checks a request body; all field errors at once.
pub fn parse(body: &Value) -> Result<GenerateRequest, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(body) = body.as_object() else {
        return Err(vec![FieldError::new("body", code::INVALID_TYPE, "the body must be a JSON object")]);
    };
    for key in body.keys() {
        if !["quote_id", "quote_ids", "send_email", "email"].contains(&key.as_str())
            && !ORIGINAL_FIELDS.contains(&key.as_str())
        {
            errors.push(FieldError::new(
                key.as_str(),
                code::UNKNOWN_FIELD,
                format!("`{key}` is not a known field; send quote_id or quote_ids, send_email and email"),
            ));
        }
    }
    // The original's list of quote objects: their ids.
    let from_quotes = match body.get("quotes") {
        None => None,
        Some(_) if body.contains_key("quote_id") || body.contains_key("quote_ids") => {
            errors.push(FieldError::new("quotes", code::CONFLICT, "send quote_id, quote_ids or quotes, one of them"));
            None
        }
        Some(Value::Array(list)) => {
            let ids: Vec<Value> = list.iter().map(|q| q.get("id").cloned().unwrap_or(Value::Null)).collect();
            Some(Value::Array(ids))
        }
        Some(_) => {
            errors.push(FieldError::new(
                "quotes",
                code::INVALID_TYPE,
                "quotes must be an array of quotes with their `id`",
            ));
            None
        }
    };

    let target = match (body.get("quote_id"), body.get("quote_ids").or(from_quotes.as_ref())) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new("quote_ids", code::CONFLICT, "send either quote_id or quote_ids, not both"));
            None
        }
        (Some(id), None) => match id.as_str().map(str::trim) {
            Some(s) if is_uuid(s) => Some(Target::One(s.to_ascii_lowercase())),
            _ => {
                errors.push(invalid_uuid("quote_id"));
                None
            }
        },
        (None, Some(ids)) => many(&mut errors, ids).map(Target::Many),
        (None, None) => {
            errors.push(FieldError::new("quote_id", code::REQUIRED, "quote_id (or quote_ids) is required"));
            None
        }
    };

    let send_email = match body.get("send_email") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::new("send_email", code::INVALID_TYPE, "send_email must be true or false"));
            false
        }
    };

    let email = match body.get("email") {
        None | Some(Value::Null) => EmailOptions::default(),
        Some(Value::Object(o)) => {
            if body.get("send_email") != Some(&Value::Bool(true)) {
                errors.push(FieldError::new("email", code::CONFLICT, "email options need \"send_email\": true"));
            }
            email_options(&mut errors, o)
        }
        Some(_) => {
            errors.push(FieldError::new("email", code::INVALID_TYPE, "email must be an object {to, subject, message}"));
            EmailOptions::default()
        }
    };

    match target {
        Some(target) if errors.is_empty() => Ok(GenerateRequest { target, send_email, email }),
        _ => {
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            Err(errors)
        }
    }
}

fn invalid_uuid(field: &str) -> FieldError {
    FieldError::new(field, code::INVALID_UUID, "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000")
}

fn many(errors: &mut Vec<FieldError>, ids: &Value) -> Option<Vec<String>> {
    let Some(list) = ids.as_array() else {
        errors.push(FieldError::new("quote_ids", code::INVALID_TYPE, "quote_ids must be an array of UUIDs"));
        return None;
    };
    if list.is_empty() {
        errors.push(FieldError::new("quote_ids", code::REQUIRED, "quote_ids needs at least one id"));
        return None;
    }
    if list.len() > MAX_BATCH {
        errors.push(FieldError::new(
            "quote_ids",
            code::TOO_MANY,
            format!("at most {MAX_BATCH} quotes per request, got {}", list.len()),
        ));
        return None;
    }
    let before = errors.len();
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match v.as_str().map(str::trim) {
            Some(s) if is_uuid(s) => {
                let id = s.to_ascii_lowercase();
                if out.contains(&id) {
                    errors.push(FieldError::new(format!("quote_ids[{i}]"), "duplicate", "each quote may appear once"));
                } else {
                    out.push(id);
                }
            }
            _ => errors.push(invalid_uuid(&format!("quote_ids[{i}]"))),
        }
    }
    (errors.len() == before).then_some(out)
}

fn email_options(errors: &mut Vec<FieldError>, o: &Map<String, Value>) -> EmailOptions {
    for key in o.keys() {
        if !["to", "subject", "message"].contains(&key.as_str()) {
            errors.push(FieldError::new(
                format!("email.{key}"),
                code::UNKNOWN_FIELD,
                "email takes to, subject and message",
            ));
        }
    }
    let mut text = |field: &str, max: usize, multi_line: bool| -> Option<String> {
        let name = format!("email.{field}");
        let s = match o.get(field) {
            None | Some(Value::Null) => return None,
            Some(Value::String(s)) => s.trim(),
            Some(_) => {
                errors.push(FieldError::new(name, code::INVALID_TYPE, "must be a string"));
                return None;
            }
        };
        if s.is_empty() {
            return None;
        }
        if s.chars().count() > max {
            errors.push(FieldError::new(name, code::TOO_LONG, format!("at most {max} characters")));
            return None;
        }
        if s.chars().any(|c| c.is_control() && !(multi_line && matches!(c, '\n' | '\r' | '\t'))) {
            errors.push(FieldError::new(name, code::INVALID_CHARACTERS, "control characters are not allowed"));
            return None;
        }
        Some(s.to_string())
    };
    let to = text("to", MAX_EMAIL_CHARS, false);
    let subject = text("subject", MAX_SUBJECT_CHARS, false);
    let message = text("message", MAX_MESSAGE_CHARS, true);
    let to = match to {
        Some(addr) if !quotekit::quote::is_email(&addr) => {
            errors.push(FieldError::new(
                "email.to",
                code::INVALID_EMAIL,
                "must be an email address such as name@example.com",
            ));
            None
        }
        other => other,
    };
    EmailOptions { to, subject, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "123e4567-e89b-12d3-a456-426614174000";

    fn pairs(body: Value) -> Vec<(String, String)> {
        parse(&body).unwrap_err().into_iter().map(|e| (e.field, e.code)).collect()
    }

    fn p(field: &str, code: &str) -> (String, String) {
        (field.to_string(), code.to_string())
    }

    #[test]
    fn one_quote_by_id() {
        let r = parse(&json!({"quote_id": ID.to_uppercase()})).unwrap();
        assert_eq!(r.target, Target::One(ID.to_string()));
        assert!(!r.send_email);
        assert_eq!(r.ids(), [ID]);
    }

    #[test]
    fn the_original_clients_forms_name_their_quotes_by_id_only() {
        // {quotes: [Quote objects], template_options}: the ids, as a batch (JSON answer).
        let r = parse(&json!({
            "quotes": [{"id": ID, "user_id": "someone-else", "total": 1, "client_name": "<b>x</b>"}],
            "template_options": {"template_id": "fancy", "company_logo": "x"},
            "output_options": {"storage_path": "../../other-user"}
        }))
        .unwrap();
        assert_eq!(r.target, Target::Many(vec![ID.to_string()]));
        // {quote_id, template, options}: one document.
        let r = parse(&json!({"quote_id": ID, "template": "default", "options": {"format": "A4"}})).unwrap();
        assert_eq!(r.target, Target::One(ID.to_string()));
        assert_eq!(pairs(json!({"quotes": [{"client_name": "no id"}]})), [p("quote_ids[0]", "invalid_uuid")]);
        assert_eq!(pairs(json!({"quotes": [{"id": ID}], "quote_id": ID})), [p("quotes", "conflict")]);
        assert_eq!(pairs(json!({"quotes": "x"})), [p("quote_id", "required"), p("quotes", "invalid_type")]);
    }

    #[test]
    fn a_batch_of_distinct_ids() {
        let ids: Vec<String> = (0..25).map(|i| format!("123e4567-e89b-12d3-a456-4266141740{i:02}")).collect();
        let r = parse(&json!({"quote_ids": ids})).unwrap();
        assert_eq!(r.ids().len(), 25);
        let mut too_many = ids.clone();
        too_many.push("123e4567-e89b-12d3-a456-426614174099".into());
        assert_eq!(pairs(json!({"quote_ids": too_many})), [p("quote_ids", "too_many")]);
        assert_eq!(pairs(json!({"quote_ids": []})), [p("quote_ids", "required")]);
        assert_eq!(
            pairs(json!({"quote_ids": [ID, "nope", ID.to_uppercase()]})),
            [p("quote_ids[1]", "invalid_uuid"), p("quote_ids[2]", "duplicate")]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        assert_eq!(pairs(json!({})), [p("quote_id", "required")]);
        assert_eq!(
            pairs(json!({"quote_id": "nope", "send_email": "yes", "email": {"to": "a@b", "cc": "x"}, "html": 1})),
            [
                p("email", "conflict"),
                p("email.cc", "unknown_field"),
                p("email.to", "invalid_email"),
                p("html", "unknown_field"),
                p("quote_id", "invalid_uuid"),
                p("send_email", "invalid_type"),
            ]
        );
        assert_eq!(pairs(json!({"quote_id": ID, "quote_ids": [ID]})), [p("quote_ids", "conflict")]);
        assert_eq!(pairs(json!({"quote_id": 7})), [p("quote_id", "invalid_uuid")]);
        assert_eq!(pairs(json!([ID])), [p("body", "invalid_type")]);
    }

    #[test]
    fn email_options_are_checked() {
        let r = parse(&json!({"quote_id": ID, "send_email": true,
            "email": {"to": " ada@example.com ", "subject": "Your quote", "message": "Hi\nthere"}}))
        .unwrap();
        assert!(r.send_email);
        assert_eq!(r.email.to.as_deref(), Some("ada@example.com"));
        assert_eq!(r.email.message.as_deref(), Some("Hi\nthere"));
        assert_eq!(
            pairs(
                json!({"quote_id": ID, "send_email": true, "email": {"subject": "a\nb", "message": "x".repeat(1_001)}})
            ),
            [p("email.message", "too_long"), p("email.subject", "invalid_characters")]
        );
        assert!(parse(&json!({"quote_id": ID, "send_email": true, "email": {"message": "x".repeat(1_000)}})).is_ok());
    }
}
