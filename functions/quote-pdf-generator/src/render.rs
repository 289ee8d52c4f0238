//! A quote as a PDF, from a plain [`QuoteDocument`]: pure, no database, no I/O.
//!
//! Text is drawn with the PDF's built-in Helvetica (WinAnsi); the committed Liberation Sans
//! TTFs, metrically identical, only give genpdf the glyph widths, so the files stay small
//! (no embedded font). User text is data, never layout: it only ever fills its own block,
//! wraps inside its column (words too wide are cut), and characters Helvetica cannot show
//! print as `?` (see [`text`]).
//!
//! Layout (A4): company block and quote block side by side; the client; the line items
//! (item, description, qty, unit price, line total) with the header repeated on every page
//! the table spans; subtotal, markup (rate), tax (rate), total; notes; terms; a footer on
//! every page with the quote number, the page number and, unless the plan has custom
//! branding, "Created with QuoteKit".

mod elements;
mod logo;
pub mod text;
mod tidy;

use elements::{Pages, RepeatingTable, RowBuilder, Wrapped};
use genpdf::elements::{Break, LinearLayout, TableLayout};
use genpdf::fonts::{FontData, FontFamily};
use genpdf::style::{Color, Style};
use genpdf::{Element, Margins, Mm, PaperSize};
use printpdf::BuiltinFont;
use quotekit::money::{Money, Quantity, Rate};
use std::fmt;
use std::sync::OnceLock;

static SANS_REGULAR: &[u8] = include_bytes!("../fonts/LiberationSans-Regular.ttf");
static SANS_BOLD: &[u8] = include_bytes!("../fonts/LiberationSans-Bold.ttf");

/// The footer of documents of plans without custom branding.
pub const BRANDING: &str = "Created with QuoteKit";

/// Column titles of the line-item table, in order.
pub const COLUMNS: [&str; 5] = ["Item", "Description", "Qty", "Unit price", "Line total"];
const COLUMN_WEIGHTS: [usize; 5] = [6, 9, 3, 4, 5];

const BODY_PT: u8 = 9;
/// Page margins the logo aligns with.
const MARGIN_TOP_MM: f64 = 15.0;
const MARGIN_LEFT_MM: f64 = 15.0;
const CELL_PADDING_MM: f64 = 1.2;

/// Everything a quote document shows, already read from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteDocument {
    pub quote_number: String,
    /// The `quote_status` value (`draft`, `sent`, ...).
    pub status: String,
    /// `YYYY-MM-DD` (UTC).
    pub created: String,
    pub valid_until: Option<String>,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
    pub company: Company,
    pub client: Client,
    pub items: Vec<Item>,
    pub subtotal: Money,
    pub markup_rate: Rate,
    pub markup_amount: Money,
    pub tax_rate: Rate,
    pub tax_amount: Money,
    pub total: Money,
    pub notes: Option<String>,
    /// `company_settings.quote_terms`.
    pub terms: Option<String>,
    /// The plan has `custom_branding`: no "Created with QuoteKit" footer.
    pub custom_branding: bool,
    /// `company_settings.logo` (PNG or JPEG, checked on upload), drawn at the top of the first
    /// page; bytes that cannot be embedded are left out, never a failed document.
    pub logo: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Company {
    pub name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub description: Option<String>,
    pub unit: Option<String>,
    pub quantity: Quantity,
    pub unit_price: Money,
    pub total: Money,
}

/// The document could not be produced (a genpdf failure; user text cannot cause one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError(pub String);

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PDF rendering failed: {}", self.0)
    }
}

impl std::error::Error for RenderError {}

impl From<genpdf::error::Error> for RenderError {
    fn from(e: genpdf::error::Error) -> RenderError {
        RenderError(e.to_string())
    }
}

/// The quote as PDF bytes.
pub fn render(doc: &QuoteDocument) -> Result<Vec<u8>, RenderError> {
    let mut pdf = genpdf::Document::new(fonts()?);
    pdf.set_paper_size(PaperSize::A4);
    pdf.set_minimal_conformance();
    pdf.set_title(text::line(&format!("Quote {}", doc.quote_number)));
    pdf.set_font_size(BODY_PT);
    pdf.set_line_spacing(1.2);
    let branding = (!doc.custom_branding).then_some(BRANDING);
    pdf.set_page_decorator(Pages::new(
        Margins::trbl(MARGIN_TOP_MM as i32, 15, 10, MARGIN_LEFT_MM as i32),
        &doc.quote_number,
        branding,
    ));

    let body = Style::new().with_font_size(BODY_PT).with_line_spacing(1.2);
    let line_height = body.line_height(pdf.font_cache());

    let logo = doc.logo.as_deref().and_then(logo::Placement::new);
    if let Some(l) = &logo {
        let line: printpdf::Mm = line_height.into();
        pdf.push(Break::new((l.height_mm + 3.0) / line.0.max(0.1)));
    }
    pdf.push(heading(doc));
    pdf.push(Break::new(1.5));
    pdf.push(client(&doc.client));
    pdf.push(Break::new(1.5));
    pdf.push(items(&doc.items, &doc.currency, line_height)?);
    pdf.push(Break::new(1));
    pdf.push(totals(doc)?);
    for (title, content) in [("Notes", &doc.notes), ("Terms", &doc.terms)] {
        if let Some(content) = content.as_deref().filter(|c| !text::lines(c).is_empty()) {
            pdf.push(Break::new(1.5));
            pdf.push(Wrapped::line(title).style(Style::new().bold()));
            pdf.push(Wrapped::new(content));
        }
    }

    let mut out = Vec::with_capacity(64 * 1024);
    pdf.render(&mut out)?;
    // Valid either way; the tidied file is several times smaller and its text codes are clean.
    let out = tidy::tidy(&out).unwrap_or(out);
    Ok(match &logo {
        Some(l) => logo::embed(&out, l, MARGIN_LEFT_MM, MARGIN_TOP_MM).unwrap_or_else(|| {
            eprintln!("company logo left out of quote {}: the PDF is not shaped as expected", doc.quote_number);
            out
        }),
        None => out,
    })
}

/// Helvetica (built in, not embedded) with Liberation Sans' identical metrics; loaded once
/// per instance (a batch renders many documents).
fn fonts() -> Result<FontFamily<FontData>, RenderError> {
    static FONTS: OnceLock<Result<FontFamily<FontData>, RenderError>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let regular = FontData::new(SANS_REGULAR.to_vec(), Some(BuiltinFont::Helvetica))?;
            let bold = FontData::new(SANS_BOLD.to_vec(), Some(BuiltinFont::HelveticaBold))?;
            // Nothing is set in italics: those slots share the upright fonts.
            Ok(FontFamily { italic: regular.clone(), bold_italic: bold.clone(), regular, bold })
        })
        .clone()
}

fn muted() -> Style {
    Style::new().with_color(Color::Greyscale(90))
}

/// Company on the left, the quote's number, dates and status on the right.
fn heading(doc: &QuoteDocument) -> TableLayout {
    let c = &doc.company;
    let mut company = LinearLayout::vertical();
    if let Some(name) = &c.name {
        company.push(Wrapped::line(name).style(Style::new().bold().with_font_size(14)));
    }
    for part in [&c.address, &c.phone, &c.email].into_iter().flatten() {
        company.push(Wrapped::new(part));
    }

    let mut quote = LinearLayout::vertical();
    quote.push(
        Wrapped::line(&format!("Quote {}", doc.quote_number)).style(Style::new().bold().with_font_size(16)).right(),
    );
    quote.push(Wrapped::line(&format!("Date: {}", doc.created)).right());
    if let Some(valid) = &doc.valid_until {
        quote.push(Wrapped::line(&format!("Valid until: {valid}")).right());
    }
    quote.push(Wrapped::line(&format!("Status: {}", capitalised(&doc.status))).right());

    let mut table = TableLayout::new(vec![1, 1]);
    table.push_row(vec![Box::new(company), Box::new(quote)]).expect("two cells for two columns");
    table
}

fn client(c: &Client) -> LinearLayout {
    let mut block = LinearLayout::vertical();
    block.push(Wrapped::line("Prepared for").style(muted()));
    block.push(Wrapped::line(&c.name).style(Style::new().bold().with_font_size(11)));
    for part in [&c.email, &c.phone, &c.address].into_iter().flatten() {
        block.push(Wrapped::new(part));
    }
    block
}

fn cell(content: Wrapped) -> Box<dyn Element> {
    Box::new(content.padded(Margins::all(CELL_PADDING_MM as f32)))
}

fn items(items: &[Item], currency: &str, line_height: Mm) -> Result<RepeatingTable, RenderError> {
    let header: RowBuilder = Box::new(|| {
        COLUMNS
            .iter()
            .enumerate()
            .map(|(i, title)| {
                let w = Wrapped::line(title).style(Style::new().bold());
                cell(if i >= 2 { w.right() } else { w })
            })
            .collect()
    });
    // A header and one line of an item, each with its padding, or the table starts on the next page.
    let min_height = (line_height + Mm::from(2.0 * CELL_PADDING_MM)) * 2.0 + Mm::from(1);
    let mut table = RepeatingTable::new(COLUMN_WEIGHTS.to_vec(), header, min_height);
    for item in items {
        let qty = match item.unit.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(unit) => format!("{} {unit}", item.quantity),
            None => item.quantity.to_string(),
        };
        table.push_row(vec![
            cell(Wrapped::new(&item.name)),
            cell(Wrapped::new(item.description.as_deref().unwrap_or(""))),
            cell(Wrapped::line(&qty).right()),
            cell(Wrapped::line(&quotekit::currency::number(item.unit_price, currency)).right()),
            cell(Wrapped::line(&quotekit::currency::number(item.total, currency)).right()),
        ])?;
    }
    Ok(table)
}

fn totals(doc: &QuoteDocument) -> Result<TableLayout, RenderError> {
    let mut table = TableLayout::new(vec![8, 5, 5]);
    let rows = [
        ("Subtotal".to_string(), doc.subtotal, false),
        (format!("Markup ({}%)", doc.markup_rate), doc.markup_amount, false),
        (format!("Tax ({}%)", doc.tax_rate), doc.tax_amount, false),
        (format!("Total ({})", doc.currency), doc.total, true),
    ];
    for (label, amount, strong) in rows {
        let style = if strong { Style::new().bold().with_font_size(11) } else { Style::new() };
        table.push_row(vec![
            Box::new(Wrapped::line("")),
            cell(Wrapped::line(&label).style(style).right()),
            cell(Wrapped::line(&quotekit::currency::format(amount, &doc.currency)).style(style).right()),
        ])?;
    }
    Ok(table)
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    pub(crate) fn sample(n: usize) -> QuoteDocument {
        let items: Vec<Item> = (1..=n)
            .map(|i| Item {
                name: format!("Item {i:03}"),
                description: Some(format!("Description of item {i}")),
                unit: Some("h".into()),
                quantity: Quantity::parse("2").unwrap(),
                unit_price: m("12.50"),
                total: m("25.00"),
            })
            .collect();
        let subtotal = Money::from_thousandths(25_000 * n as i64).unwrap();
        QuoteDocument {
            quote_number: "Q-2026-0001".into(),
            status: "draft".into(),
            created: "2026-03-01".into(),
            valid_until: Some("2026-03-31".into()),
            currency: "USD".into(),
            company: Company {
                name: Some("Acme Landscaping".into()),
                address: Some("1 Garden Way\nSpringfield".into()),
                phone: Some("+1 555 0100".into()),
                email: Some("office@acme.example".into()),
            },
            client: Client {
                name: "Ada Lovelace".into(),
                email: Some("ada@example.com".into()),
                phone: None,
                address: Some("12 Analytical St".into()),
            },
            items,
            subtotal,
            markup_rate: Rate::ZERO,
            markup_amount: Money::ZERO,
            tax_rate: Rate::ZERO,
            tax_amount: Money::ZERO,
            total: subtotal,
            notes: Some("Thank you!".into()),
            terms: Some("Payable within 30 days.".into()),
            custom_branding: false,
            logo: None,
        }
    }

    fn pages(pdf: &[u8]) -> Vec<String> {
        let doc = lopdf::Document::load_mem(pdf).expect("the PDF parses");
        let n = doc.get_pages().len() as u32;
        (1..=n).map(|p| doc.extract_text(&[p]).expect("text of a page")).collect()
    }

    fn is_pdf(bytes: &[u8]) {
        assert!(bytes.starts_with(b"%PDF-"), "starts with %PDF-");
        let tail = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(32)..]).into_owned();
        assert!(tail.trim_end().ends_with("%%EOF"), "ends with %%EOF: {tail:?}");
        // The tidy pass ran: page content is compressed, text codes are single bytes.
        assert!(bytes.windows(26).any(|w| w == b"/Filter/FlateDecode/Length"), "tidied");
    }

    #[test]
    fn a_quote_renders_as_a_pdf_with_every_field() {
        let mut doc = sample(3);
        doc.markup_rate = Rate::parse("12.5").unwrap();
        doc.markup_amount = m("9.38");
        doc.tax_rate = Rate::parse("8.25").unwrap();
        doc.tax_amount = m("6.96");
        doc.total = m("91.34");
        let pdf = render(&doc).unwrap();
        is_pdf(&pdf);
        let text = pages(&pdf).concat();
        for want in [
            "Acme Landscaping",
            "1 Garden Way",
            "Springfield",
            "+1 555 0100",
            "office@acme.example",
            "Quote Q-2026-0001",
            "2026-03-01",
            "2026-03-31",
            "Draft",
            "Ada Lovelace",
            "ada@example.com",
            "12 Analytical St",
            "Item",
            "Description",
            "Qty",
            "Unit price",
            "Line total",
            "Item 001",
            "Description of item 2",
            "2 h",
            "12.50",
            "25.00",
            "Subtotal",
            "75.00",
            "Markup (12.50%)",
            "9.38",
            "Tax (8.25%)",
            "6.96",
            "Total (USD)",
            "91.34",
            "Thank you!",
            "Payable within 30 days.",
            BRANDING,
            "Page 1",
        ] {
            assert!(text.contains(want), "`{want}` missing from:\n{text}");
        }
    }

    #[test]
    fn custom_branding_drops_the_footer() {
        let mut doc = sample(1);
        doc.custom_branding = true;
        let text = pages(&render(&doc).unwrap()).concat();
        assert!(!text.contains(BRANDING));
        assert!(text.contains("Page 1"));
    }

    #[test]
    fn two_hundred_items_paginate_with_the_header_on_every_page() {
        let small = render(&sample(10)).unwrap();
        let large = render(&sample(200)).unwrap();
        is_pdf(&large);
        let (small, large) = (pages(&small), pages(&large));
        assert_eq!(small.len(), 1);
        assert!(large.len() > 3, "{} pages", large.len());
        for (i, page) in large.iter().enumerate() {
            if page.contains("Item 0") || page.contains("Item 1") || page.contains("Item 2") {
                assert_eq!(page.matches("Line total").count(), 1, "page {}: {page}", i + 1);
            }
        }
        let all = large.concat();
        for i in 1..=200 {
            assert!(all.contains(&format!("Item {i:03}")), "item {i} missing");
        }
        assert!(all.contains("5,000.00"), "subtotal of 200 × 25.00");
    }

    #[test]
    fn long_descriptions_wrap_and_lose_nothing() {
        let mut doc = sample(1);
        let words: Vec<String> = (0..150).map(|i| format!("word{i}")).collect();
        let unbroken = "x".repeat(400);
        doc.items[0].description = Some(format!("{} {unbroken}", words.join(" ")));
        let text = pages(&render(&doc).unwrap()).concat();
        for w in &words {
            assert!(text.contains(w.as_str()), "{w} missing");
        }
        let xs: usize = text.matches('x').count();
        assert!(xs >= 400, "the unbroken word was cut, not dropped ({xs} x)");
    }

    #[test]
    fn text_outside_winansi_prints_a_placeholder() {
        let mut doc = sample(1);
        doc.client.name = "Łódź 東京 😀".into();
        doc.notes = Some("(unbalanced \\ paren) Tj ET /Type /Page <<>>".into());
        let pdf = render(&doc).unwrap();
        is_pdf(&pdf);
        let text = pages(&pdf).concat();
        // lopdf's text extraction drops the non-ASCII `ó` that the file does carry (poppler's
        // pdftotext reads "?ód? ?? ?"; the end-to-end suite checks that).
        assert!(text.contains("d? ?? ?"), "{text}");
        assert!(text.contains("(unbalanced \\ paren) Tj ET /Type /Page <<>>"), "{text}");
    }

    #[test]
    fn a_quote_without_optional_fields_renders() {
        let mut doc = sample(1);
        doc.company = Company::default();
        doc.client = Client { name: "X".into(), ..Client::default() };
        doc.valid_until = None;
        doc.notes = None;
        doc.terms = Some("\n\n".into());
        let text = pages(&render(&doc).unwrap()).concat();
        assert!(text.contains("Quote Q-2026-0001") && !text.contains("Terms") && !text.contains("Valid until"));
    }

    fn images_of_first_page(pdf: &[u8]) -> usize {
        let doc = lopdf::Document::load_mem(pdf).expect("the PDF parses");
        let first = *doc.get_pages().get(&1).unwrap();
        let (inline, ids) = doc.get_page_resources(first);
        let mut n = 0;
        for dict in inline.into_iter().chain(ids.iter().filter_map(|id| doc.get_dictionary(*id).ok())) {
            if let Ok(x) = dict.get(b"XObject").and_then(lopdf::Object::as_dict) {
                n += x.len();
            }
        }
        n
    }

    #[test]
    fn a_png_logo_is_drawn_on_the_first_page() {
        let mut doc = sample(3);
        doc.logo = Some(quotekit::image::samples::png_rgb(120, 40));
        let pdf = render(&doc).unwrap();
        is_pdf(&pdf);
        assert_eq!(images_of_first_page(&pdf), 1);
        assert!(pages(&pdf)[0].contains("Acme Landscaping"));
        let plain = render(&sample(3)).unwrap();
        assert_eq!(images_of_first_page(&plain), 0);
    }

    #[test]
    fn a_jpeg_logo_is_drawn_on_the_first_page() {
        let mut doc = sample(60);
        doc.logo = Some(quotekit::image::samples::jpeg_baseline(200, 200));
        let pdf = render(&doc).unwrap();
        is_pdf(&pdf);
        assert_eq!(images_of_first_page(&pdf), 1);
        assert!(pages(&pdf).len() >= 2);
    }

    #[test]
    fn a_transparent_logo_is_drawn_with_its_soft_mask() {
        let mut doc = sample(3);
        // Interlaced 16-bit RGBA, half of it see-through.
        doc.logo = Some(quotekit::image::samples::png(60, 30, 16, 6, true, &[], |x, _| {
            vec![0xFFFF, 0x8000, 0, if x < 30 { 0 } else { 0xFFFF }]
        }));
        let pdf = render(&doc).unwrap();
        is_pdf(&pdf);
        assert_eq!(images_of_first_page(&pdf), 1);
        let file = lopdf::Document::load_mem(&pdf).unwrap();
        let (image, mask) = file
            .objects
            .values()
            .filter_map(|o| o.as_stream().ok())
            .find_map(|s| Some((s, s.dict.get(b"SMask").ok()?.as_reference().ok()?)))
            .expect("an image with a soft mask");
        assert_eq!(image.dict.get(b"BitsPerComponent").unwrap().as_i64().unwrap(), 8);
        let mask = file.get_object(mask).unwrap().as_stream().unwrap();
        assert_eq!(mask.dict.get(b"ColorSpace").unwrap().as_name().unwrap(), b"DeviceGray");
        assert_eq!(mask.dict.get(b"Width").unwrap().as_i64().unwrap(), 60);
    }

    #[test]
    fn a_logo_that_cannot_be_embedded_is_left_out() {
        for bad in [b"not an image".to_vec(), quotekit::image::samples::png_rgb(20, 20)[..30].to_vec(), Vec::new()] {
            let mut doc = sample(2);
            doc.logo = Some(bad);
            let pdf = render(&doc).unwrap();
            is_pdf(&pdf);
            assert_eq!(images_of_first_page(&pdf), 0);
        }
    }
}
