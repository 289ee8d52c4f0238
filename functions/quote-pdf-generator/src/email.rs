//! A quote by email, with the PDF attached, sent through `shared::email` (Resend). A provider that fails or cannot be reached is an outcome,
//! not an error: the caller still gets the document and the attempt is recorded.
//!
//! The email leaves from the platform's own address, so it must not be a way to send anything
//! to anyone: the recipient is the quote's client email, the subject is
//! "Quote Q-YYYY-NNNN from <company>", and the body is a fixed plain-text message about the
//! quote in which the caller's note (at most [`crate::request::MAX_MESSAGE_CHARS`]
//! characters) appears as quoted text. How many a user may send a day is capped in the
//! database (`claim_quote_emails`, see [`crate::store::claim_emails`]).

use crate::request::EmailOptions;
use crate::store::StoredQuote;
use quotekit::quote::code;
use shared::FieldError;

/// Longest company name put into a subject line.
const MAX_SUBJECT_COMPANY_CHARS: usize = 80;

/// A field error code: `email.to` names someone other than the quote's client.
pub const RECIPIENT_NOT_ALLOWED: &str = "recipient_not_allowed";

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// What of the request was not honoured (answered beside the outcome).
    pub warnings: Vec<String>,
}

/// The message for `quote`, to its client email: the fixed subject and text, with the
/// caller's note inside. A quote without a client email, or an `email.to` naming anyone else,
/// is a field error; an `email.subject` is ignored with a warning.
pub fn compose(options: &EmailOptions, quote: &StoredQuote) -> Result<Email, FieldError> {
    let client = quote.client_email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let to = match (client, options.to.as_deref()) {
        (Some(client), None) => client.to_string(),
        (Some(client), Some(asked)) if asked.eq_ignore_ascii_case(client) => client.to_string(),
        (client, Some(_)) => {
            return Err(FieldError::new(
                "email.to",
                RECIPIENT_NOT_ALLOWED,
                format!(
                    "quote {} is emailed to its client's address ({}); to send it elsewhere, change the quote's client_email",
                    quote.quote_number,
                    client.unwrap_or("none set")
                ),
            ))
        }
        (None, None) => {
            return Err(FieldError::new(
                "email.to",
                code::REQUIRED,
                format!("quote {} has no client email; set the quote's client_email to email it", quote.quote_number),
            ))
        }
    };
    let company = quote.company_name.as_deref().map(one_line).filter(|c| !c.is_empty());
    let subject = match &company {
        Some(c) => format!("Quote {} from {}", quote.quote_number, shorten(c, MAX_SUBJECT_COMPANY_CHARS)),
        None => format!("Quote {}", quote.quote_number),
    };
    let mut warnings = Vec::new();
    if options.subject.is_some() {
        warnings.push(format!("email.subject is ignored: quote emails have the subject \"{subject}\""));
    }
    Ok(Email { to, subject, text: text(quote, company.as_deref(), options.message.as_deref()), warnings })
}

/// The fixed plain-text message; `note` (the caller's) is indented under a line saying whose
/// words it is, and nothing in it can change the rest.
fn text(quote: &StoredQuote, company: Option<&str>, note: Option<&str>) -> String {
    let sender = company.unwrap_or("Your contractor");
    let valid = quote.valid_until.as_ref().map(|d| format!(", valid until {d}")).unwrap_or_default();
    let mut out = format!(
        "Hello {},\n\n{sender} has sent you quote {} for {}{valid}. The quote is attached as a PDF.\n\n",
        one_line(&quote.client_name),
        quote.quote_number,
        quotekit::currency::format(quote.total, &quote.currency),
    );
    if let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) {
        out.push_str(&format!("A note from {sender}:\n\n"));
        for line in note.lines() {
            let line: String = line.chars().filter(|c| !c.is_control() || *c == '\t').collect();
            match line.trim_end() {
                "" => out.push('\n'),
                line => out.push_str(&format!("    {line}\n")),
            }
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Kind regards,\n{sender}\n\n--\nSent by QuoteKit on behalf of {sender}. Questions about the quote go to {sender}, not to this address.\n"
    ));
    out
}

/// Text for a single line: control characters (line breaks included) become spaces.
fn one_line(s: &str) -> String {
    let spaced: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

pub use shared::email::Outcome;

/// Sends `email` with `pdf` attached as `filename` (through `shared::email`).
pub async fn send(email: &Email, filename: &str, pdf: &[u8]) -> Outcome {
    let pdf = shared::email::Attachment {
        filename: filename.to_string(),
        content_base64: credentials::encoding::base64_encode(pdf),
    };
    shared::email::send(&email.to, &email.subject, &email.text, &[pdf]).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotekit::money::Money;

    fn quote(client_email: Option<&str>, company: Option<&str>) -> StoredQuote {
        StoredQuote::for_tests("Q-2026-0007", "Ada", client_email, company, Money::parse("1234.5").unwrap())
    }

    #[test]
    fn the_client_gets_the_fixed_message() {
        let e = compose(&EmailOptions::default(), &quote(Some("ada@example.com"), Some("Acme"))).unwrap();
        assert_eq!(e.to, "ada@example.com");
        assert_eq!(e.subject, "Quote Q-2026-0007 from Acme");
        assert!(
            e.text.starts_with("Hello Ada,\n\nAcme has sent you quote Q-2026-0007 for USD 1,234.50."),
            "{}",
            e.text
        );
        assert!(e.text.contains("Kind regards,\nAcme\n"), "{}", e.text);
        assert!(!e.text.contains("A note from"));
        assert!(e.warnings.is_empty());
    }

    #[test]
    fn the_recipient_is_the_quotes_client_and_no_one_else() {
        let q = quote(Some("ada@example.com"), None);
        let same = EmailOptions { to: Some("ADA@example.com".into()), ..EmailOptions::default() };
        assert_eq!(compose(&same, &q).unwrap().to, "ada@example.com");
        let other = EmailOptions { to: Some("victim@elsewhere.example".into()), ..EmailOptions::default() };
        let e = compose(&other, &q).unwrap_err();
        assert_eq!((e.field.as_str(), e.code.as_str()), ("email.to", RECIPIENT_NOT_ALLOWED));
        assert!(e.message.contains("client_email"), "{}", e.message);
        let e = compose(&other, &quote(None, None)).unwrap_err();
        assert_eq!(e.code, RECIPIENT_NOT_ALLOWED);
    }

    #[test]
    fn the_subject_is_fixed_and_the_note_is_plain_text_inside_the_message() {
        let options = EmailOptions {
            to: None,
            subject: Some("You won a prize".into()),
            message: Some("Click http://evil.example now\r\n\nSubject: fake\n<b>bold</b>".into()),
        };
        let e = compose(&options, &quote(Some("ada@example.com"), Some("Acme\r\nBcc: x@y.example"))).unwrap();
        assert_eq!(e.subject, "Quote Q-2026-0007 from Acme Bcc: x@y.example");
        assert_eq!(e.warnings.len(), 1);
        assert!(e.warnings[0].contains("email.subject is ignored"));
        assert!(e.text.starts_with("Hello Ada,\n\n"), "{}", e.text);
        assert!(e.text.contains("A note from Acme Bcc: x@y.example:\n\n    Click http://evil.example now\n\n    Subject: fake\n    <b>bold</b>\n"), "{}", e.text);
        assert!(e.text.ends_with("not to this address.\n"), "{}", e.text);
        let long = "x".repeat(200);
        let e = compose(&EmailOptions::default(), &quote(Some("a@b.example"), Some(&long))).unwrap();
        assert_eq!(e.subject.chars().count(), "Quote Q-2026-0007 from ".len() + 80 + 1);
    }

    #[test]
    fn no_recipient_is_a_field_error() {
        let e = compose(&EmailOptions::default(), &quote(None, None)).unwrap_err();
        assert_eq!((e.field.as_str(), e.code.as_str()), ("email.to", "required"));
        assert!(e.message.contains("Q-2026-0007"));
    }
}
