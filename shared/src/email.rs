//! Plain-text email through Resend's HTTP API, the one sender of the functions (a quote with
//! its PDF attached, a notice that a client accepted or declined a shared quote):
//! `POST {resend_api_base}/emails`, `Authorization: Bearer {resend_api_key}`,
//! `{from: email_from, to: [recipient], subject, text, attachments: [{filename, content}]}`.
//! A provider that fails or cannot be reached is an [`Outcome`], never an error: what the
//! email reports has already happened and is stored.

/// Longest provider error kept (it is stored beside what the email was about).
pub const MAX_ERROR_CHARS: usize = 300;

/// What happened to one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Resend's message id, and the provider's status.
    Sent { id: Option<String>, http_status: u16 },
    /// Why, and the provider's status when it answered at all.
    Failed { error: String, http_status: Option<u16> },
}

/// A file sent with an email, its content already in base64 (as Resend takes it).
pub struct Attachment {
    pub filename: String,
    pub content_base64: String,
}

/// Sends a plain-text email to `to`.
pub async fn send_text(to: &str, subject: &str, text: &str) -> Outcome {
    send(to, subject, text, &[]).await
}

/// Sends a plain-text email to `to` with `attachments`.
#[cfg(not(feature = "native"))]
pub async fn send(to: &str, subject: &str, text: &str, attachments: &[Attachment]) -> Outcome {
    use spin_sdk::http::{Method, Request, Response};
    let settings = crate::settings::current();
    let Some(key) = settings.resend_api_key() else {
        return Outcome::Failed {
            error: "email is not configured (resend_api_key is empty)".into(),
            http_status: None,
        };
    };
    let (base, from) = (settings.resend_api_base(), settings.email_from());
    let mut body = serde_json::json!({ "from": from, "to": [to], "subject": subject, "text": text });
    if !attachments.is_empty() {
        body["attachments"] = attachments
            .iter()
            .map(|a| serde_json::json!({ "filename": a.filename, "content": a.content_base64 }))
            .collect();
    }
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

/// Natively compiled (bench/native) there is no outgoing HTTP: the email is not sent, and the
/// outcome says so, as it would for a provider that cannot be reached.
#[cfg(feature = "native")]
pub async fn send(_to: &str, _subject: &str, _text: &str, _attachments: &[Attachment]) -> Outcome {
    Outcome::Failed { error: "email cannot be sent from a native build".into(), http_status: None }
}

/// The provider's answer as an outcome: 2xx is sent (with Resend's message `id`), anything
/// else failed with the provider's own message.
pub fn outcome(status: u16, body: &[u8]) -> Outcome {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        return Outcome::Sent {
            id: parsed.as_ref().and_then(|v| v["id"].as_str()).map(str::to_string),
            http_status: status,
        };
    }
    let message = parsed
        .as_ref()
        .and_then(|v| v["message"].as_str().or_else(|| v["error"].as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let error = match message.trim() {
        "" => format!("the email provider answered {status}"),
        m => format!("the email provider answered {status}: {m}"),
    };
    Outcome::Failed { error: short(&error), http_status: Some(status) }
}

/// Text for a single line (a subject): control characters, line breaks included, become
/// spaces, so nothing a user typed can add a header or a line.
pub fn one_line(s: &str) -> String {
    let spaced: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A provider's error on one line and at most [`MAX_ERROR_CHARS`] characters, to be stored.
pub fn short(s: &str) -> String {
    let clean = one_line(s);
    match clean.char_indices().nth(MAX_ERROR_CHARS) {
        Some((i, _)) => format!("{}…", &clean[..i]),
        None => clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_answers_become_outcomes() {
        assert_eq!(
            outcome(200, br#"{"id":"email_1"}"#),
            Outcome::Sent { id: Some("email_1".into()), http_status: 200 }
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

    #[test]
    fn a_subject_stays_one_line() {
        assert_eq!(one_line("Ada\r\nBcc: x@y.example\t "), "Ada Bcc: x@y.example");
    }
}
