//! A quote by email through Resend's HTTP API, with the PDF attached.
//!
//! `POST {resend_api_base}/emails`, `Authorization: Bearer {resend_api_key}`,
//! `{from: email_from, to: [recipient], subject, text, attachments: [{filename, content}]}`
//! (content: base64 of the PDF). A provider that fails or cannot be reached is an outcome,
//! not an error: the caller still gets the document and the attempt is recorded.

use crate::request::EmailOptions;
use crate::store::StoredQuote;
use base64::Engine as _;
use serde_json::json;
use shared::config;
use shared::quote::code;
use shared::FieldError;
use spin_sdk::http::{Method, Request, Response};

/// Longest provider error kept (it is stored and shown to the caller).
const MAX_ERROR_CHARS: usize = 300;

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// The message for `quote`: the options' recipient, subject and message, else the client's
/// email, "Quote Q-YYYY-NNNN from <company>" and a short default text. No recipient at all
/// is a field error.
pub fn compose(options: &EmailOptions, quote: &StoredQuote) -> Result<Email, FieldError> {
    let to = options.to.clone().or_else(|| quote.client_email.clone()).ok_or_else(|| {
        FieldError::new(
            "email.to",
            code::REQUIRED,
            format!("quote {} has no client email; send the recipient as email.to", quote.quote_number),
        )
    })?;
    let subject = options.subject.clone().unwrap_or_else(|| match &quote.company_name {
        Some(company) => format!("Quote {} from {company}", quote.quote_number),
        None => format!("Quote {}", quote.quote_number),
    });
    let text = options.message.clone().unwrap_or_else(|| {
        let valid = quote.valid_until.as_ref().map(|d| format!(", valid until {d}")).unwrap_or_default();
        let sign = quote.company_name.as_ref().map(|c| format!("\n\n{c}")).unwrap_or_default();
        format!(
            "Hello {},\n\nplease find attached our quote {} for {} {}{valid}.\n\nKind regards{sign}",
            quote.client_name,
            quote.quote_number,
            crate::render::text::amount(quote.total),
            quote.currency
        )
    });
    Ok(Email { to, subject, text })
}

/// What happened to one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent { id: Option<String>, http_status: u16 },
    Failed { error: String, http_status: Option<u16> },
}

/// Sends `email` with `pdf` attached as `filename`.
pub async fn send(email: &Email, filename: &str, pdf: &[u8]) -> Outcome {
    let Some(key) = config::var("resend_api_key") else {
        return Outcome::Failed {
            error: "email is not configured (resend_api_key is empty)".into(),
            http_status: None,
        };
    };
    let base = config::var_or("resend_api_base", "https://api.resend.com");
    let from = config::var_or("email_from", "QuoteKit <quotes@example.com>");
    let body = json!({
        "from": from,
        "to": [email.to],
        "subject": email.subject,
        "text": email.text,
        "attachments": [{
            "filename": filename,
            "content": base64::engine::general_purpose::STANDARD.encode(pdf),
        }],
    });
    let body = body.to_string();
    let request = Request::builder()
        .method(Method::Post)
        .uri(format!("{}/emails", base.trim_end_matches('/')))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("content-length", body.len().to_string())
        .body(body)
        .build();
    match spin_sdk::http::send::<_, Response>(request).await {
        Err(e) => Outcome::Failed {
            error: short(&format!("the email provider could not be reached: {e}")),
            http_status: None,
        },
        Ok(response) => outcome(*response.status(), response.body()),
    }
}

/// The provider's answer as an outcome: 2xx is sent (with Resend's message `id`), anything
/// else failed with the provider's own message.
pub fn outcome(status: u16, body: &[u8]) -> Outcome {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        let id = json.as_ref().and_then(|v| v["id"].as_str()).map(str::to_string);
        return Outcome::Sent { id, http_status: status };
    }
    let message = json
        .as_ref()
        .and_then(|v| v["message"].as_str().or_else(|| v["error"].as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let message = message.trim();
    let error = if message.is_empty() {
        format!("the email provider answered {status}")
    } else {
        format!("the email provider answered {status}: {message}")
    };
    Outcome::Failed { error: short(&error), http_status: Some(status) }
}

fn short(s: &str) -> String {
    let clean: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match clean.char_indices().nth(MAX_ERROR_CHARS) {
        Some((i, _)) => format!("{}…", &clean[..i]),
        None => clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::money::Money;

    fn quote(client_email: Option<&str>, company: Option<&str>) -> StoredQuote {
        StoredQuote::for_tests("Q-2026-0007", "Ada", client_email, company, Money::parse("1234.5").unwrap())
    }

    #[test]
    fn the_client_gets_the_default_message() {
        let e = compose(&EmailOptions::default(), &quote(Some("ada@example.com"), Some("Acme"))).unwrap();
        assert_eq!(e.to, "ada@example.com");
        assert_eq!(e.subject, "Quote Q-2026-0007 from Acme");
        assert!(e.text.contains("quote Q-2026-0007 for 1,234.50 USD"), "{}", e.text);
        assert!(e.text.ends_with("Acme"));
    }

    #[test]
    fn options_override_recipient_subject_and_message() {
        let options =
            EmailOptions { to: Some("b@example.com".into()), subject: Some("S".into()), message: Some("M".into()) };
        let e = compose(&options, &quote(Some("ada@example.com"), None)).unwrap();
        assert_eq!((e.to.as_str(), e.subject.as_str(), e.text.as_str()), ("b@example.com", "S", "M"));
    }

    #[test]
    fn no_recipient_is_a_field_error() {
        let e = compose(&EmailOptions::default(), &quote(None, None)).unwrap_err();
        assert_eq!((e.field.as_str(), e.code.as_str()), ("email.to", "required"));
        assert!(e.message.contains("Q-2026-0007"));
    }

    #[test]
    fn provider_answers_become_outcomes() {
        assert_eq!(
            outcome(200, br#"{"id":"email_123"}"#),
            Outcome::Sent { id: Some("email_123".into()), http_status: 200 }
        );
        assert_eq!(
            outcome(422, br#"{"statusCode":422,"message":"Invalid `to` field","name":"validation_error"}"#),
            Outcome::Failed {
                error: "the email provider answered 422: Invalid `to` field".into(),
                http_status: Some(422)
            }
        );
        assert_eq!(
            outcome(500, b""),
            Outcome::Failed { error: "the email provider answered 500".into(), http_status: Some(500) }
        );
        let Outcome::Failed { error, .. } = outcome(502, "x".repeat(1000).as_bytes()) else { panic!() };
        assert!(error.chars().count() <= MAX_ERROR_CHARS + 1);
    }
}
