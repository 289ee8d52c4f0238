//! The company logo at the top of the first page, added to the finished file as an
//! incremental update: the image as an XObject (and its soft mask when it is transparent), a
//! content stream drawing it, and new versions of the first page (its contents now that stream
//! then its own) and of its resources (the XObject named). Nothing of the file is parsed beyond
//! the few objects it touches. The image data is [`quotekit::image::pdf_data`]'s: a JPEG as it is
//! (`DCTDecode`), a PNG as zlib data with PNG row predictors (`FlateDecode` `/Predictor 15`),
//! its own or its pixels decoded to 8 bits, the alpha as an `/SMask`.
//!
//! The caller reserves the space ([`Placement`]) while laying out; [`embed`] answers `None`
//! when the file is not shaped as expected, and the caller keeps the file without the logo.

use super::tidy::{find, number, rfind};
use quotekit::image::{self, ColorSpace, Image, PdfData};
use std::io::Write;

/// The largest box the logo is fitted into (keeping its proportions), top-left of the page's
/// text area.
pub const MAX_WIDTH_MM: f64 = 50.0;
pub const MAX_HEIGHT_MM: f64 = 18.0;
const PT_PER_MM: f64 = 72.0 / 25.4;

/// A logo that can be drawn, and its size on the page.
pub struct Placement {
    image: Image,
    data: PdfData,
    pub width_mm: f64,
    pub height_mm: f64,
}

impl Placement {
    /// `None` (and a log line) for stored bytes that are not an image this writer embeds.
    pub fn new(bytes: &[u8]) -> Option<Placement> {
        let (image, data) = match image::pdf_data(bytes) {
            Ok(found) => found,
            Err(p) => {
                eprintln!("company logo left out of the PDF: {}", p.detail.unwrap_or(p.code));
                return None;
            }
        };
        if image.width == 0 || image.height == 0 {
            return None;
        }
        let scale = (MAX_WIDTH_MM / image.width as f64).min(MAX_HEIGHT_MM / image.height as f64);
        let (width_mm, height_mm) = (image.width as f64 * scale, image.height as f64 * scale);
        Some(Placement { image, data, width_mm, height_mm })
    }
}

/// `pdf` with the logo drawn on its first page, its top-left corner `left_mm` from the left
/// edge and `top_mm` from the top; `None` when the file is not as lopdf writes it.
pub fn embed(pdf: &[u8], logo: &Placement, left_mm: f64, top_mm: f64) -> Option<Vec<u8>> {
    let startxref = rfind(pdf, b"startxref\n")?;
    let prev_xref = number(&pdf[startxref + 10..])?.0;
    let trailer = &pdf[rfind(pdf, b"trailer\n")? + 8..startxref];
    let size = number(&trailer[find(trailer, b"/Size ")? + 6..])?.0;
    let root = reference_after(trailer, b"/Root ")?;

    // The first page: pages are written in order, each as `<</Type/Page/Rotate 0/MediaBox[...`.
    let page_at = find(pdf, b"<</Type/Page/")?;
    let (page_id, page_dict) = object_around(pdf, page_at)?;
    let resources_id = reference_after(page_dict, b"/Resources ")?;
    let contents = format!("/Contents {} 0 R", reference_after(page_dict, b"/Contents ")?);
    let (_, resources) = object_at(pdf, resources_id)?;
    if find(resources, b"/XObject").is_some() || !resources.starts_with(b"<<") {
        return None;
    }
    let page_height = media_box_height(page_dict).unwrap_or(297.0 * PT_PER_MM);

    // The mask, when there is one, is the last new object.
    let (image_id, draw_id, mask_id) = (size, size + 1, size + 2);
    let new_objects = if logo.data.smask.is_some() { 3 } else { 2 };
    let (w, h) = (logo.width_mm * PT_PER_MM, logo.height_mm * PT_PER_MM);
    let (x, y) = (left_mm * PT_PER_MM, page_height - top_mm * PT_PER_MM - h);
    let draw = format!("q {w:.3} 0 0 {h:.3} {x:.3} {y:.3} cm /Logo Do Q\n");

    let mask_len = logo.data.smask.as_ref().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(pdf.len() + logo.data.data.len() + mask_len + 1024);
    out.extend_from_slice(pdf);
    out.push(b'\n');
    let mut offsets = Vec::new();

    offsets.push((image_id, out.len()));
    let (img, data) = (&logo.image, &logo.data);
    let color = match &data.color {
        ColorSpace::Gray => "/DeviceGray".to_string(),
        ColorSpace::Rgb => "/DeviceRGB".to_string(),
        ColorSpace::Indexed(palette) => {
            let hex: String = palette.iter().map(|b| format!("{b:02X}")).collect();
            format!("[/Indexed/DeviceRGB {} <{hex}>]", palette.len() / 3 - 1)
        }
    };
    let parms =
        |colors: u8| format!("/DecodeParms<</Predictor 15/Colors {colors}/BitsPerComponent 8/Columns {}>>", img.width);
    let image_parms = if data.filter == "FlateDecode" { parms(data.color.colors()) } else { String::new() };
    let mask = if data.smask.is_some() { format!("/SMask {mask_id} 0 R") } else { String::new() };
    writeln!(
        out,
        "{image_id} 0 obj<</Type/XObject/Subtype/Image/Width {}/Height {}/ColorSpace {color}/BitsPerComponent 8{mask}/Filter/{}{image_parms}/Length {}>>stream",
        img.width,
        img.height,
        data.filter,
        data.data.len()
    )
    .ok()?;
    out.extend_from_slice(&data.data);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    if let Some(alpha) = &data.smask {
        offsets.push((mask_id, out.len()));
        writeln!(
            out,
            "{mask_id} 0 obj<</Type/XObject/Subtype/Image/Width {}/Height {}/ColorSpace/DeviceGray/BitsPerComponent 8/Filter/FlateDecode{}/Length {}>>stream",
            img.width,
            img.height,
            parms(1),
            alpha.len()
        )
        .ok()?;
        out.extend_from_slice(alpha);
        out.extend_from_slice(b"\nendstream\nendobj\n");
    }

    offsets.push((draw_id, out.len()));
    write!(out, "{draw_id} 0 obj<</Length {}>>stream\n{draw}endstream\nendobj\n", draw.len()).ok()?;

    offsets.push((resources_id, out.len()));
    write!(out, "{resources_id} 0 obj<</XObject<</Logo {image_id} 0 R>>").ok()?;
    out.extend_from_slice(&resources[2..]);
    out.extend_from_slice(b"\nendobj\n");

    offsets.push((page_id, out.len()));
    write!(out, "{page_id} 0 obj").ok()?;
    let at = find(page_dict, contents.as_bytes())?;
    out.extend_from_slice(&page_dict[..at]);
    write!(out, "/Contents[{draw_id} 0 R {}]", &contents[10..]).ok()?;
    out.extend_from_slice(&page_dict[at + contents.len()..]);
    out.extend_from_slice(b"\nendobj\n");

    let xref_at = out.len();
    offsets.sort_unstable();
    out.extend_from_slice(b"xref\n0 1\n0000000000 65535 f \n");
    for (id, offset) in &offsets {
        write!(out, "{id} 1\n{offset:>010} 00000 n \n").ok()?;
    }
    write!(
        out,
        "trailer\n<</Size {}/Root {root} 0 R/Prev {prev_xref}>>\nstartxref\n{xref_at}\n%%EOF",
        size + new_objects
    )
    .ok()?;
    Some(out)
}

/// `(id, dictionary)` of the object whose text contains byte `at`.
fn object_around(pdf: &[u8], at: usize) -> Option<(usize, &[u8])> {
    let start = rfind(&pdf[..at], b"\n")? + 1;
    let (id, rest) = number(&pdf[start..])?;
    rest.strip_prefix(b" 0 obj")?;
    let (_, dict) = object_at(pdf, id)?;
    Some((id, dict))
}

/// `(offset, dictionary)` of object `id` (`\nID 0 obj<<...>>endobj`), its dictionary without
/// the trailing separator.
fn object_at(pdf: &[u8], id: usize) -> Option<(usize, &[u8])> {
    let head = format!("\n{id} 0 obj");
    let start = find(pdf, head.as_bytes())? + head.len();
    let end = start + find(&pdf[start..], b"endobj")?;
    let dict = pdf[start..end].trim_ascii();
    (dict.starts_with(b"<<") && dict.ends_with(b">>")).then_some((start, dict))
}

/// `N` of `KEY N 0 R`.
fn reference_after(dict: &[u8], key: &[u8]) -> Option<usize> {
    let (n, rest) = number(&dict[find(dict, key)? + key.len()..])?;
    rest.starts_with(b" 0 R").then_some(n)
}

fn media_box_height(page: &[u8]) -> Option<f64> {
    let at = find(page, b"/MediaBox[")? + 10;
    let end = at + find(&page[at..], b"]")?;
    std::str::from_utf8(&page[at..end]).ok()?.split_ascii_whitespace().nth(3)?.parse().ok()
}
