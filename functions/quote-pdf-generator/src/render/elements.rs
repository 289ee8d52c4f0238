//! The layout pieces genpdf lacks: text that always wraps inside its column, a table whose
//! header repeats on every page it spans, rules under table rows, and a page footer.

use genpdf::elements::{Break, CellDecorator, LinearLayout, Paragraph, TableLayout};
use genpdf::error::Error;
use genpdf::render::Area;
use genpdf::style::{Color, Style, StyledString};
use genpdf::{Alignment, Context, Element, Margins, Mm, PageDecorator, Position, RenderResult, Size};

use super::text;

/// Room kept free at the right of every line: genpdf measures without kerning slack.
const SLACK_MM: f64 = 0.6;

/// User text in a block of its own: line breaks start new lines, long lines wrap at spaces,
/// and words wider than the column are cut into pieces that fit (genpdf would drop the rest
/// of the paragraph instead). Anything Helvetica cannot show is already a placeholder.
pub struct Wrapped {
    lines: Vec<String>,
    style: Style,
    alignment: Alignment,
    layout: Option<LinearLayout>,
}

impl Wrapped {
    /// Multi-line text (addresses, descriptions, notes).
    pub fn new(s: &str) -> Wrapped {
        Wrapped { lines: text::lines(s), style: Style::new(), alignment: Alignment::Left, layout: None }
    }

    /// One line of text (names, numbers); line breaks in it become spaces.
    pub fn line(s: &str) -> Wrapped {
        let l = text::line(s);
        Wrapped { lines: if l.is_empty() { Vec::new() } else { vec![l] }, ..Wrapped::new("") }
    }

    pub fn style(mut self, style: impl Into<Style>) -> Wrapped {
        self.style.merge(style);
        self
    }

    pub fn right(mut self) -> Wrapped {
        self.alignment = Alignment::Right;
        self
    }

    fn layout(&self, context: &Context, width: Mm, style: Style) -> LinearLayout {
        let effective = style.and(self.style);
        let fits = width - Mm::from(SLACK_MM);
        let mut layout = LinearLayout::vertical();
        for l in &self.lines {
            if l.is_empty() {
                layout.push(Break::new(1));
                continue;
            }
            let em = Mm::from(printpdf::Pt(f64::from(effective.font_size())));
            let fitted = cut_long_words(l, fits, em, |c| effective.char_width(&context.font_cache, c));
            layout.push(Paragraph::new(StyledString::new(fitted, self.style)).aligned(self.alignment));
        }
        layout
    }
}

impl Element for Wrapped {
    fn render(&mut self, context: &Context, area: Area<'_>, style: Style) -> Result<RenderResult, Error> {
        if self.layout.is_none() {
            self.layout = Some(self.layout(context, area.size().width, style));
        }
        self.layout.as_mut().expect("set above").render(context, area, style)
    }
}

/// `line` with every word wider than `max` cut into pieces no wider than `max` (a space
/// included, since genpdf measures a word with the space that follows it).
pub fn cut_long_words(line: &str, max: Mm, em: Mm, width: impl Fn(char) -> Mm) -> String {
    let space = width(' ');
    let mut out = String::with_capacity(line.len());
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // No glyph is wider than an em: short words fit without measuring each character.
        if em * (word.chars().count() as f64) <= max - space {
            out.push_str(word);
            continue;
        }
        let total = word.chars().fold(Mm::from(0), |w, c| w + width(c));
        if total + space <= max {
            out.push_str(word);
            continue;
        }
        let mut used = Mm::from(0);
        let mut piece_len = 0;
        for c in word.chars() {
            let w = width(c);
            if piece_len > 0 && used + w + space > max {
                out.push(' ');
                used = Mm::from(0);
                piece_len = 0;
            }
            out.push(c);
            used += w;
            piece_len += 1;
        }
    }
    out
}

/// A horizontal rule under each cell: grey between rows, dark under a header.
pub struct Rules {
    color: Color,
}

impl Rules {
    pub fn light() -> Rules {
        Rules { color: Color::Greyscale(190) }
    }

    pub fn dark() -> Rules {
        Rules { color: Color::Greyscale(40) }
    }
}

impl CellDecorator for Rules {
    fn decorate_cell(&mut self, _column: usize, _row: usize, has_more: bool, area: Area<'_>, style: Style) {
        // A row that continues on the next page is ruled where it ends.
        if !has_more {
            let h = area.size().height;
            area.draw_line(
                vec![Position::new(0, h), Position::new(area.size().width, h)],
                style.with_color(self.color),
            );
        }
    }
}

/// Builds one row of cells; called again for every page the table's header appears on.
pub type RowBuilder = Box<dyn Fn() -> Vec<Box<dyn Element>>>;

/// A table whose header row is drawn at the top of every page the table spans. Starts on a
/// new page rather than leave a header alone at the bottom of one.
pub struct RepeatingTable {
    weights: Vec<usize>,
    header: RowBuilder,
    /// Header height plus one body line: the least worth starting on a page.
    min_height: Mm,
    body: TableLayout,
}

impl RepeatingTable {
    pub fn new(weights: Vec<usize>, header: RowBuilder, min_height: Mm) -> RepeatingTable {
        let mut body = TableLayout::new(weights.clone());
        body.set_cell_decorator(Rules::light());
        RepeatingTable { weights, header, min_height, body }
    }

    pub fn push_row(&mut self, row: Vec<Box<dyn Element>>) -> Result<(), Error> {
        self.body.push_row(row)
    }
}

impl Element for RepeatingTable {
    fn render(&mut self, context: &Context, mut area: Area<'_>, style: Style) -> Result<RenderResult, Error> {
        if area.size().height < self.min_height {
            // Nothing drawn: the document continues this element on a fresh page.
            return Ok(RenderResult { size: Size::new(0, 0), has_more: true });
        }
        let mut header = TableLayout::new(self.weights.clone());
        header.set_cell_decorator(Rules::dark());
        header.push_row((self.header)())?;
        let head = header.render(context, area.clone(), style)?;
        area.add_offset(Position::new(0, head.size.height));
        let body = self.body.render(context, area.clone(), style)?;
        Ok(RenderResult {
            size: Size::new(area.size().width, head.size.height + body.size.height),
            has_more: body.has_more,
        })
    }
}

/// Margins, and a footer on every page: the quote number, the page number and (unless the
/// plan has custom branding) "Created with QuoteKit".
pub struct Pages {
    page: usize,
    margins: Margins,
    reference: String,
    branding: Option<String>,
}

impl Pages {
    pub fn new(margins: Margins, reference: &str, branding: Option<&str>) -> Pages {
        Pages { page: 0, margins, reference: text::line(reference), branding: branding.map(text::line) }
    }
}

impl PageDecorator for Pages {
    fn decorate_page<'a>(&mut self, context: &Context, mut area: Area<'a>, style: Style) -> Result<Area<'a>, Error> {
        self.page += 1;
        area.add_margins(self.margins);
        let small = style.with_font_size(7).with_color(Color::Greyscale(90));
        let line_height = small.line_height(&context.font_cache);
        let height = area.size().height;
        let width = area.size().width;

        // The footer's own strip at the bottom: a rule, then one line of small text.
        let strip = line_height + Mm::from(2);
        let mut footer = area.clone();
        footer.add_offset(Position::new(0, height - strip));
        footer.draw_line(
            vec![Position::new(0, 0), Position::new(width, 0)],
            Style::new().with_color(Color::Greyscale(190)),
        );
        let at = |x: Mm| Position::new(x, Mm::from(1.5));
        let print = |x: Mm, s: &str| -> Result<(), Error> {
            if footer.print_str(&context.font_cache, at(x), small, s)? {
                Ok(())
            } else {
                Err(Error::new("the page footer does not fit", genpdf::error::ErrorKind::PageSizeExceeded))
            }
        };
        print(Mm::from(0), &self.reference)?;
        if let Some(brand) = &self.branding {
            let w = small.str_width(&context.font_cache, brand);
            print((width - w) / 2.0, brand)?;
        }
        let page = format!("Page {}", self.page);
        let w = small.str_width(&context.font_cache, &page);
        print(width - w, &page)?;

        area.set_height(height - strip - Mm::from(3));
        Ok(area)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wider_than_the_column_are_cut_to_fit() {
        let w = |_c: char| Mm::from(1);
        // Each piece plus its space fits in 5 mm: 4 characters.
        assert_eq!(cut_long_words("abcdefghij xy", Mm::from(5), Mm::from(1), w), "abcd efgh ij xy");
        assert_eq!(cut_long_words("ab cd", Mm::from(5), Mm::from(1), w), "ab cd");
        assert_eq!(cut_long_words("", Mm::from(5), Mm::from(1), w), "");
    }

    #[test]
    fn nothing_of_a_cut_word_is_lost() {
        let w = |c: char| Mm::from(if c == 'W' { 3 } else { 1 });
        let s = "WWWWWWWWWW iiiiiiiiiiiiiiiiiiii";
        let cut = cut_long_words(s, Mm::from(10), Mm::from(3), w);
        assert_eq!(cut.replace(' ', ""), s.replace(' ', ""));
        for piece in cut.split(' ') {
            let width: i32 = piece.chars().map(|c| if c == 'W' { 3 } else { 1 }).sum();
            assert!(width < 10, "{piece}");
        }
    }
}
