//! PNG logos: the chunks read and checked, the pixels decoded when the PDF cannot take the
//! file's own image data, and those pixels written again for the PDF.
//!
//! A PNG whose IDAT data a PDF reader decodes as it is (8 bits, not interlaced, gray, RGB or
//! palette, without transparency) goes into the PDF unchanged: `FlateDecode` with PNG
//! predictors (`/Predictor 15`). Every other PNG (an alpha channel or a `tRNS` chunk,
//! interlacing, 16 bits or fewer than 8) is decoded to 8-bit gray or RGB, and an 8-bit alpha
//! channel that becomes the image's soft mask (`/SMask`); both are compressed again with the
//! PNG Paeth predictor.
//!
//! Hostile files cost linear time and bounded memory: the decompressed size is known from the
//! header before anything is inflated (rows × (1 + bytes a row), per Adam7 pass), the inflater
//! is never asked for more than that (plus one byte, to refuse data beyond it), and sides are
//! at most [`super::MAX_SIDE`]; so a small file cannot inflate into more than a 4096 × 4096
//! image's rows. The decoded image is at most 4 bytes a pixel (64 MiB at the largest size),
//! and what is written for the PDF is cut off at [`super::MAX_PDF_BYTES`].

use super::{invalid, ColorSpace, PdfData, MAX_PDF_BYTES, MAX_SIDE, PNG_SIGNATURE};
use shared::http::Problem;
use std::io::{Read, Write};

/// A PNG's header, palette, transparency and joined IDAT data; the chunks' lengths and CRCs
/// checked.
pub(super) struct Png {
    pub width: u32,
    pub height: u32,
    depth: u8,
    color_type: u8,
    interlaced: bool,
    palette: Option<Vec<u8>>,
    trns: Option<Vec<u8>>,
    idat: Vec<u8>,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Walks every chunk (lengths and CRCs) up to IEND.
pub(super) fn read(bytes: &[u8]) -> Result<Png, Problem> {
    let mut at = PNG_SIGNATURE.len();
    let mut png: Option<Png> = None;
    let mut ended = false;
    while at < bytes.len() {
        if bytes.len() - at < 12 {
            return Err(invalid("the PNG is truncated (incomplete chunk)"));
        }
        let len = be32(&bytes[at..]) as usize;
        let kind = &bytes[at + 4..at + 8];
        let Some(data) = bytes.get(at + 8..at + 8 + len) else {
            return Err(invalid("the PNG is truncated (chunk longer than the file)"));
        };
        let Some(crc) = bytes.get(at + 8 + len..at + 12 + len) else {
            return Err(invalid("the PNG is truncated (chunk without CRC)"));
        };
        if super::crc32(&[kind, data]) != be32(crc) {
            return Err(invalid(format!("the PNG is corrupt (bad CRC in chunk {})", String::from_utf8_lossy(kind))));
        }
        if kind == b"IHDR" {
            if png.is_some() || len != 13 {
                return Err(invalid("the PNG's IHDR chunk is malformed"));
            }
            png = Some(header(data)?);
            at += 12 + len;
            continue;
        }
        let Some(p) = png.as_mut() else {
            return Err(invalid("the PNG does not start with its IHDR chunk"));
        };
        match kind {
            b"PLTE" => {
                if len == 0 || !len.is_multiple_of(3) || len > 768 {
                    return Err(invalid("the PNG's palette is malformed"));
                }
                p.palette = Some(data.to_vec());
            }
            b"tRNS" => {
                let fits = match p.color_type {
                    0 => len == 2,
                    2 => len == 6,
                    3 => p.palette.as_ref().is_some_and(|pal| len <= pal.len() / 3),
                    _ => false,
                };
                if !fits || p.trns.is_some() {
                    return Err(invalid("the PNG's transparency (tRNS) chunk is malformed"));
                }
                p.trns = Some(data.to_vec());
            }
            b"IDAT" => p.idat.extend_from_slice(data),
            b"IEND" => {
                ended = true;
                break;
            }
            _ => {}
        }
        at += 12 + len;
    }
    let png = png.ok_or_else(|| invalid("the PNG has no header"))?;
    if !ended {
        return Err(invalid("the PNG is truncated (no IEND chunk)"));
    }
    let idat = &png.idat;
    if idat.len() < 2 || (u16::from(idat[0]) << 8 | u16::from(idat[1])) % 31 != 0 || idat[0] & 0x0F != 8 {
        return Err(invalid("the PNG has no valid image data"));
    }
    if png.color_type == 3 && png.palette.is_none() {
        return Err(invalid("the palette PNG has no palette"));
    }
    Ok(png)
}

fn header(data: &[u8]) -> Result<Png, Problem> {
    let (width, height, depth, color_type) = (be32(data), be32(&data[4..]), data[8], data[9]);
    let (compression, filter, interlace) = (data[10], data[11], data[12]);
    let depth_ok = match color_type {
        0 => [1, 2, 4, 8, 16].contains(&depth),
        3 => [1, 2, 4, 8].contains(&depth),
        2 | 4 | 6 => [8, 16].contains(&depth),
        _ => false,
    };
    if !depth_ok || compression != 0 || filter != 0 || interlace > 1 || width == 0 || height == 0 {
        return Err(invalid("the PNG's header is invalid"));
    }
    // Here, before anything is allocated or inflated: every size below follows from these.
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(invalid(format!("the PNG is {width} × {height} px; each side is at most {MAX_SIDE}")));
    }
    Ok(Png {
        width,
        height,
        depth,
        color_type,
        interlaced: interlace == 1,
        palette: None,
        trns: None,
        idat: Vec::new(),
    })
}

impl Png {
    /// Samples a pixel carries in the file.
    fn channels(&self) -> usize {
        match self.color_type {
            2 => 3,
            4 => 2,
            6 => 4,
            _ => 1,
        }
    }

    /// Whether a PDF reader decodes the IDAT data as it is (see the module documentation).
    fn embeds_as_is(&self) -> bool {
        self.depth == 8 && !self.interlaced && self.trns.is_none() && matches!(self.color_type, 0 | 2 | 3)
    }

    /// Whether the image can be transparent: an alpha channel, or a `tRNS` chunk.
    fn has_alpha(&self) -> bool {
        matches!(self.color_type, 4 | 6) || self.trns.is_some()
    }

    /// 1 for gray, 3 for colour (a palette's colours are RGB).
    fn colors(&self) -> usize {
        if matches!(self.color_type, 0 | 4) {
            1
        } else {
            3
        }
    }
}

/// The image data for a PDF: the IDAT data as it is when it can be, else the pixels decoded
/// and written again. Either way every row is decoded first, on upload and on every render
/// alike, so that no broken image data ever reaches a PDF (a row at a time when the data goes
/// in as it is: memory stays small).
pub(super) fn pdf_data(png: &Png) -> Result<PdfData, Problem> {
    if png.embeds_as_is() {
        verify(png)?;
        let color = match png.color_type {
            0 => ColorSpace::Gray,
            2 => ColorSpace::Rgb,
            _ => ColorSpace::Indexed(png.palette.clone().unwrap_or_default()),
        };
        return Ok(PdfData { filter: "FlateDecode", color, data: png.idat.clone(), smask: None });
    }
    let (w, h, colors) = (png.width as usize, png.height as usize, png.colors());
    let mut color = vec![0u8; w * h * colors];
    let mut alpha = if png.has_alpha() { vec![0u8; w * h] } else { Vec::new() };
    decode(png, |x, y, rgba| {
        let at = y as usize * w + x as usize;
        color[at * colors..(at + 1) * colors].copy_from_slice(&rgba[..colors]);
        if let Some(a) = alpha.get_mut(at) {
            *a = rgba[3];
        }
    })?;
    let data = deflate(&color, w * colors, colors, MAX_PDF_BYTES)?;
    drop(color);
    // An alpha channel that is opaque everywhere needs no mask.
    let smask = if alpha.iter().any(|&a| a != 255) {
        Some(deflate(&alpha, w, 1, MAX_PDF_BYTES.saturating_sub(data.len()))?)
    } else {
        None
    };
    let color = if colors == 1 { ColorSpace::Gray } else { ColorSpace::Rgb };
    Ok(PdfData { filter: "FlateDecode", color, data, smask })
}

/// Decodes every row of the image data and keeps nothing: an upload is checked in a row's
/// memory. (Compressing it again for the PDF is left to the renderer, which keeps the
/// components that only store logos small.)
pub(super) fn verify(png: &Png) -> Result<(), Problem> {
    decode(png, |_, _, _| {})
}

/// Adam7's passes: (first column, first row, column step, row step).
const ADAM7: [(u32, u32, u32, u32); 7] =
    [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

/// Inflates and unfilters the image data row by row, handing each pixel to `put` as 8-bit
/// RGBA (gray repeated; alpha 255 where the file has none) with its position.
pub(super) fn decode(png: &Png, mut put: impl FnMut(u32, u32, [u8; 4])) -> Result<(), Problem> {
    let passes: &[(u32, u32, u32, u32)] = if png.interlaced { &ADAM7 } else { &[(0, 0, 1, 1)] };
    let bits_per_pixel = png.channels() * usize::from(png.depth);
    // Filters work on whole bytes: the byte this far back is the same sample of the pixel before.
    let distance = bits_per_pixel.div_ceil(8);
    let mut z = flate2::bufread::ZlibDecoder::new(&png.idat[..]);
    let corrupt = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => invalid("the PNG is truncated (its image data ends early)"),
        _ => invalid("the PNG is corrupt (its image data does not inflate)"),
    };
    for &(x0, y0, dx, dy) in passes {
        let columns = png.width.saturating_sub(x0).div_ceil(dx);
        let rows = png.height.saturating_sub(y0).div_ceil(dy);
        if columns == 0 || rows == 0 {
            continue;
        }
        let len = (columns as usize * bits_per_pixel).div_ceil(8);
        // A filter byte, then the row; the previous row of the pass starts as zeros.
        let (mut row, mut prev) = (vec![0u8; len + 1], vec![0u8; len + 1]);
        for j in 0..rows {
            z.read_exact(&mut row).map_err(corrupt)?;
            unfilter(row[0], &mut row[1..], &prev[1..], distance)?;
            for i in 0..columns {
                put(x0 + i * dx, y0 + j * dy, pixel(png, &row[1..], i as usize));
            }
            std::mem::swap(&mut row, &mut prev);
        }
    }
    // The header says how much data there is; more is not a PNG (and could be a bomb's tail).
    let mut more = [0u8; 1];
    if z.read(&mut more).map_err(corrupt)? != 0 {
        return Err(invalid("the PNG holds more image data than its size needs"));
    }
    Ok(())
}

/// Undoes PNG filter `kind` on `row`, given the previous row of the pass.
pub(super) fn unfilter(kind: u8, row: &mut [u8], prev: &[u8], distance: usize) -> Result<(), Problem> {
    for i in 0..row.len() {
        let a = if i >= distance { row[i - distance] } else { 0 };
        let c = if i >= distance { prev[i - distance] } else { 0 };
        let b = prev[i];
        row[i] = row[i].wrapping_add(match kind {
            0 => 0,
            1 => a,
            2 => b,
            3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
            4 => paeth(a, b, c),
            _ => return Err(invalid(format!("the PNG is corrupt (unknown row filter {kind})"))),
        });
    }
    Ok(())
}

/// The PNG Paeth predictor: whichever of left, up and up-left is nearest to left + up − up-left.
pub(super) fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Sample `index` of an unfiltered row, at the file's bit depth.
fn sample(row: &[u8], index: usize, depth: u8) -> u16 {
    match depth {
        8 => u16::from(row[index]),
        16 => u16::from_be_bytes([row[2 * index], row[2 * index + 1]]),
        _ => {
            let per_byte = usize::from(8 / depth);
            let shift = 8 - depth as usize * (index % per_byte + 1);
            u16::from(row[index / per_byte] >> shift) & ((1 << depth) - 1)
        }
    }
}

/// Pixel `i` of an unfiltered row as 8-bit RGBA.
fn pixel(png: &Png, row: &[u8], i: usize) -> [u8; 4] {
    let n = png.channels();
    let s = |c: usize| sample(row, i * n + c, png.depth);
    // 16 bits keep their high byte; 1, 2 and 4 bits stretch to the full 0–255 range.
    let eight = |v: u16| match png.depth {
        16 => (v >> 8) as u8,
        8 => v as u8,
        d => (u32::from(v) * 255 / ((1 << d) - 1)) as u8,
    };
    // A tRNS key colour (16-bit values, compared at the file's depth) is fully transparent.
    let keyed = |values: &[u16]| {
        let key = png.trns.as_deref().unwrap_or_default();
        key.len() == 2 * values.len()
            && values.iter().enumerate().all(|(k, v)| u16::from_be_bytes([key[2 * k], key[2 * k + 1]]) == *v)
    };
    let opaque = |transparent: bool| if transparent { 0 } else { 255 };
    match png.color_type {
        0 => {
            let g = s(0);
            let v = eight(g);
            [v, v, v, opaque(keyed(&[g]))]
        }
        2 => {
            let (r, g, b) = (s(0), s(1), s(2));
            [eight(r), eight(g), eight(b), opaque(keyed(&[r, g, b]))]
        }
        3 => {
            let index = usize::from(s(0));
            let palette = png.palette.as_deref().unwrap_or_default();
            // An index past the palette is black, as PDF readers show one.
            let rgb = palette.get(index * 3..index * 3 + 3).unwrap_or(&[0, 0, 0]);
            let a = png.trns.as_deref().and_then(|t| t.get(index)).copied().unwrap_or(255);
            [rgb[0], rgb[1], rgb[2], a]
        }
        4 => {
            let v = eight(s(0));
            [v, v, v, eight(s(1))]
        }
        _ => [eight(s(0)), eight(s(1)), eight(s(2)), eight(s(3))],
    }
}

/// `plane` (rows of `row_len` bytes, `distance` bytes a pixel) as zlib data whose rows carry
/// the PNG Paeth filter, as `FlateDecode` with `/Predictor 15` reads them; refused when it
/// would be larger than `limit` (memory stays bounded, and the PDF stays a sensible size).
pub(super) fn deflate(plane: &[u8], row_len: usize, distance: usize, limit: usize) -> Result<Vec<u8>, Problem> {
    let too_large = || {
        Problem::new(413, "image_too_large", "The image is too large").detail(format!(
            "its pixels take more than {} KiB even compressed; save it with fewer pixels or colours",
            limit / 1024
        ))
    };
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let zeros = vec![0u8; row_len];
    let mut prev: &[u8] = &zeros;
    let mut filtered = vec![4u8; row_len + 1];
    for row in plane.chunks_exact(row_len.max(1)) {
        for i in 0..row_len {
            let a = if i >= distance { row[i - distance] } else { 0 };
            let c = if i >= distance { prev[i - distance] } else { 0 };
            filtered[i + 1] = row[i].wrapping_sub(paeth(a, prev[i], c));
        }
        // Writing to a Vec cannot fail.
        let _ = z.write_all(&filtered);
        if z.get_ref().len() > limit {
            return Err(too_large());
        }
        prev = row;
    }
    let out = z.finish().unwrap_or_default();
    if out.len() > limit {
        return Err(too_large());
    }
    Ok(out)
}
