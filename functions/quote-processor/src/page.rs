//! The pages a client sees through a share link: the quote, the thank-you after a decision,
//! and the page of a link that no longer works. Plain HTML with inline style, no script, no
//! outside resource, so the strict policy in [`CSP`] holds; every text that comes from a
//! user (the quote, the company block, the signer) goes through [`escape`].

use quotekit::money::Money;
use serde_json::Value;

/// The page's Content-Security-Policy: nothing loads from anywhere, inline style only, data:
/// images, and forms post back to this origin only.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'";

/// HTML-escape text for element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text with its line breaks kept (notes, terms, addresses).
fn paragraphs(s: &str) -> String {
    escape(s).replace("\r\n", "\n").replace('\n', "<br>")
}

/// A JSON value as text: strings as they are, numbers as written, nothing for null.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The company block of the owner, as their settings say it (all optional).
#[derive(Debug, Default, Clone)]
pub struct Company {
    pub name: Option<String>,
    pub address: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub terms: Option<String>,
    /// The logo as a `data:` URL (its type checked on upload: image/png or image/jpeg).
    pub logo: Option<String>,
}

/// A `data:` URL of a stored logo, from its type and the database's base64 (line-wrapped).
pub fn logo_data_url(mime: Option<String>, base64: Option<String>) -> Option<String> {
    let mime = mime.filter(|m| m == "image/png" || m == "image/jpeg")?;
    let compact: String = base64?.split_ascii_whitespace().collect();
    let clean = !compact.is_empty() && compact.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
    clean.then(|| format!("data:{mime};base64,{compact}"))
}

const STYLE: &str = "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2330;background:#f4f5f7}\
main{max-width:760px;margin:0 auto;padding:16px}\
.card{background:#fff;border-radius:8px;padding:16px;margin:0 0 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}\
h1{font-size:1.4em;margin:0 0 4px}h2{font-size:1.15em;margin:0 0 8px}\
.muted{color:#5b6475;font-size:.92em;margin:2px 0}\
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:6px 4px;border-bottom:1px solid #e3e6eb;vertical-align:top}\
td.n,th.n{text-align:right;white-space:nowrap}\
.totals td{border:0}.grand td{font-weight:700;font-size:1.1em;border-top:2px solid #1d2330}\
label{display:block;margin:8px 0 4px;font-weight:600}\
input,textarea{box-sizing:border-box;width:100%;padding:10px;border:1px solid #b9c0cc;border-radius:6px;font:inherit}\
button{margin-top:12px;width:100%;padding:12px;border:0;border-radius:6px;font:inherit;font-weight:700;color:#fff;cursor:pointer}\
.accept{background:#1f7a3f}.decline{background:#9b2c2c}\
.logo{display:block;max-width:240px;max-height:96px;margin:0 0 8px}\
@media(min-width:640px){.forms{display:flex;gap:16px}.forms .card{flex:1}}";

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><meta name=\"robots\" content=\"noindex\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

/// The quote behind a link (`quote` as [`crate::store::to_json`] answers it), with the forms
/// to accept or decline it. `token` is the link's own (URL-safe; escaped all the same).
pub fn quote_page(quote: &Value, company: &Company, token: &str) -> String {
    let number = text(&quote["quote_number"]);
    let currency = text(&quote["currency"]);
    // Amounts in the quote's currency: `EUR 1,234.50` in the totals, the number alone
    // (`1,234.50`, `1,235` in JPY) in the item rows.
    let amount = |v: &Value| match Money::parse(&text(v)) {
        Ok(m) => (quotekit::currency::number(m, &currency), quotekit::currency::format(m, &currency)),
        Err(_) => (text(v), format!("{currency} {}", text(v))),
    };
    let nonzero = |v: &Value| Money::parse(&text(v)) != Ok(Money::ZERO);
    let mut b = String::new();

    b.push_str("<section class=\"card\">");
    if let Some(logo) = &company.logo {
        b.push_str(&format!("<img class=\"logo\" src=\"{}\" alt=\"\">", escape(logo)));
    }
    let company_name = company.name.as_deref().filter(|n| !n.trim().is_empty());
    b.push_str(&format!("<h1>{}</h1>", escape(company_name.unwrap_or("Quote"))));
    if let Some(a) = company.address.as_deref().filter(|a| !a.trim().is_empty()) {
        b.push_str(&format!("<p class=\"muted\">{}</p>", paragraphs(a)));
    }
    let contact: Vec<String> = [&company.email, &company.phone]
        .into_iter()
        .flatten()
        .filter(|c| !c.trim().is_empty())
        .map(|c| escape(c))
        .collect();
    if !contact.is_empty() {
        b.push_str(&format!("<p class=\"muted\">{}</p>", contact.join(" · ")));
    }
    b.push_str("</section>");

    b.push_str("<section class=\"card\">");
    b.push_str(&format!("<h2>Quote {}</h2>", escape(&number)));
    b.push_str(&format!("<p>Prepared for <strong>{}</strong></p>", escape(&text(&quote["client_name"]))));
    if let Some(a) = quote["client_address"].as_str().filter(|a| !a.trim().is_empty()) {
        b.push_str(&format!("<p class=\"muted\">{}</p>", paragraphs(a)));
    }
    if let Some(d) = quote["valid_until"].as_str() {
        b.push_str(&format!("<p class=\"muted\">Valid until {}</p>", escape(d)));
    }
    b.push_str("<table><thead><tr><th>Item</th><th class=\"n\">Qty</th><th class=\"n\">Price</th><th class=\"n\">Total</th></tr></thead><tbody>");
    for item in quote["line_items"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let unit =
            item["unit"].as_str().filter(|u| !u.is_empty()).map(|u| format!(" {}", escape(u))).unwrap_or_default();
        let description = item["description"]
            .as_str()
            .filter(|d| !d.trim().is_empty())
            .map(|d| format!("<br><span class=\"muted\">{}</span>", paragraphs(d)))
            .unwrap_or_default();
        b.push_str(&format!(
            "<tr><td>{}{description}</td><td class=\"n\">{}{unit}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&text(&item["name"])),
            escape(&text(&item["quantity"])),
            escape(&amount(&item["unit_price"]).0),
            escape(&amount(&item["total"]).0),
        ));
    }
    b.push_str("</tbody></table><table class=\"totals\">");
    let row = |label: &str, key: &str| {
        format!("<tr><td>{label}</td><td class=\"n\">{}</td></tr>", escape(&amount(&quote[key]).1))
    };
    b.push_str(&row("Subtotal", "subtotal"));
    if nonzero(&quote["markup_amount"]) {
        b.push_str(&row("Markup", "markup_amount"));
    }
    if nonzero(&quote["tax_amount"]) {
        b.push_str(&format!(
            "<tr><td>Tax ({} %)</td><td class=\"n\">{}</td></tr>",
            escape(&text(&quote["tax_rate"])),
            escape(&amount(&quote["tax_amount"]).1)
        ));
    }
    b.push_str(&format!(
        "<tr class=\"grand\"><td>Total</td><td class=\"n\">{}</td></tr></table>",
        escape(&amount(&quote["total"]).1)
    ));
    b.push_str("</section>");

    if let Some(n) = quote["notes"].as_str().filter(|n| !n.trim().is_empty()) {
        b.push_str(&format!("<section class=\"card\"><h2>Notes</h2><p>{}</p></section>", paragraphs(n)));
    }
    if let Some(t) = company.terms.as_deref().filter(|t| !t.trim().is_empty()) {
        b.push_str(&format!("<section class=\"card\"><h2>Terms</h2><p>{}</p></section>", paragraphs(t)));
    }
    let token = escape(token);
    b.push_str(&format!("<p><a href=\"{token}/pdf\">Download the quote as PDF</a></p>"));
    b.push_str("<div class=\"forms\">");
    for (action, label, class) in
        [("accept", "Accept the quote", "accept"), ("decline", "Decline the quote", "decline")]
    {
        b.push_str(&format!(
            "<form class=\"card\" method=\"post\" action=\"{token}/{action}\">\
             <label for=\"{action}-name\">Your name</label>\
             <input id=\"{action}-name\" name=\"name\" required maxlength=\"200\" autocomplete=\"name\">\
             <label for=\"{action}-comment\">Comment (optional)</label>\
             <textarea id=\"{action}-comment\" name=\"comment\" rows=\"3\" maxlength=\"2000\"></textarea>\
             <button class=\"{class}\" type=\"submit\">{label}</button></form>"
        ));
    }
    b.push_str("</div>");
    let title = match company_name {
        Some(c) => format!("Quote {number} from {c}"),
        None => format!("Quote {number}"),
    };
    document(&title, &b)
}

/// After a decision: what was recorded.
pub fn decided_page(number: &str, decision: &str, signer: &str) -> String {
    let body = format!(
        "<section class=\"card\"><h1>Thank you</h1><p>Quote {} was {} by {}. The sender has been told.</p></section>",
        escape(number),
        escape(decision),
        escape(signer)
    );
    document(&format!("Quote {number} {decision}"), &body)
}

/// A link that no longer works (`why`: a sentence of ours, no user text).
pub fn gone_page(why: &str) -> String {
    document(
        "This link no longer works",
        &format!("<section class=\"card\"><h1>This link no longer works</h1><p>{}</p></section>", escape(why)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_text_is_escaped_everywhere() {
        let quote = json!({
            "quote_number": "Q-2026-0001", "client_name": "<script>alert(1)</script>",
            "client_address": "1 \"Main\" St\n<b>x</b>", "valid_until": "2027-01-31",
            "line_items": [{"name": "<img src=x onerror=alert(2)>", "description": "a & b", "unit": "<u>",
                            "quantity": "2", "unit_price": "10.00", "total": "20.00"}],
            "currency": "USD", "subtotal": "20.00", "markup_amount": "0.00", "tax_rate": "0.00", "tax_amount": "0.00", "total": "20.00",
            "notes": "it's </section><script>x</script>"
        });
        let company =
            Company { name: Some("A&B <Ltd>".into()), terms: Some("<i>pay</i>".into()), ..Company::default() };
        let html = quote_page(&quote, &company, "tok");
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>x"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("A&amp;B &lt;Ltd&gt;"));
        assert!(html.contains("it&#39;s &lt;/section&gt;"));
        assert!(html.contains("1 &quot;Main&quot; St<br>&lt;b&gt;x&lt;/b&gt;"));
        assert!(
            html.contains("action=\"tok/accept\"")
                && html.contains("action=\"tok/decline\"")
                && html.contains("href=\"tok/pdf\"")
        );
        assert!(html.contains("USD 20.00"));
        assert!(!html.contains("Markup"), "a zero markup is not shown");
    }

    #[test]
    fn amounts_print_in_the_quotes_currency() {
        let quote = json!({
            "quote_number": "Q-2026-0002", "client_name": "Sato", "currency": "JPY",
            "line_items": [{"name": "Tatami", "quantity": "0.5", "unit_price": "101.00", "total": "51.00"}],
            "subtotal": "1050.00", "markup_amount": "0.00", "tax_rate": "8.25", "tax_amount": "87.00", "total": "1137.00"
        });
        let html = quote_page(&quote, &Company::default(), "tok");
        for shown in ["JPY 1,050", "JPY 87", "JPY 1,137", ">101<", ">51<"] {
            assert!(html.contains(shown), "{shown} missing from {html}");
        }
        assert!(!html.contains("1137.00") && !html.contains("Markup"), "{html}");
    }

    #[test]
    fn the_logo_is_a_data_url_of_a_known_type_only() {
        let b64 = Some("iVBO\nRw0K".to_string());
        assert_eq!(
            logo_data_url(Some("image/png".into()), b64.clone()).as_deref(),
            Some("data:image/png;base64,iVBORw0K")
        );
        assert_eq!(logo_data_url(Some("text/html".into()), b64.clone()), None);
        assert_eq!(logo_data_url(Some("image/jpeg".into()), Some("\"><script>".into())), None);
        assert_eq!(logo_data_url(None, b64), None);
        let quote = json!({"quote_number": "Q-1", "client_name": "A", "line_items": []});
        let company =
            Company { logo: logo_data_url(Some("image/jpeg".into()), Some("/9j/".into())), ..Company::default() };
        assert!(quote_page(&quote, &company, "t").contains("<img class=\"logo\" src=\"data:image/jpeg;base64,/9j/\""));
        assert!(!quote_page(&quote, &Company::default(), "t").contains("<img"));
    }

    #[test]
    fn the_other_pages_escape_too() {
        assert!(decided_page("Q-1", "accepted", "<Ada>").contains("by &lt;Ada&gt;."));
        assert!(!gone_page("<x>").contains("<x>"));
    }
}
