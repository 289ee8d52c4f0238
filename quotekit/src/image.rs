//! Company logos: the PNG or JPEG a user uploads, checked before it is stored so that a stored
//! logo can always be drawn (the quote PDF, the share page). The headers are read here, by hand:
//! no image library enters the components, and nothing is decoded.
//!
//! What is accepted is exactly what the PDF writer embeds without decoding pixels:
//! - JPEG, baseline or extended or progressive Huffman (SOF0..SOF2), gray or YCbCr (1 or 3
//!   components), 8 bits: its bytes become a `DCTDecode` image as they are;
//! - PNG, non-interlaced, 8 bits, gray, RGB or palette (colour types 0, 2, 3): its IDAT stream
//!   is already zlib with PNG row filters, i.e. `FlateDecode` with `/Predictor 15`.
//!
//! PNGs with an alpha channel (colour types 4, 6) would need their pixels decoded to split the
//! alpha into a soft mask; they are refused (`unsupported_image_type`) with that reason. Arithmetic
//! coded, lossless or hierarchical JPEGs are refused too: PDF readers do not display them.
//!
//! Sizes: at most [`MAX_BYTES`]; each side in [`MIN_SIDE`]..=[`MAX_SIDE`] pixels. Below 16 px a
//! logo is unreadable at any print size; above 4096 px it is far beyond what a header (a few
//! centimetres at 300 dpi, well under 1000 px) needs, and a tiny compressed file of huge
//! dimensions would make every PDF reader inflate hundreds of megabytes.

use shared::http::Problem;

/// Largest accepted file.
pub const MAX_BYTES: usize = 512 * 1024;
/// Smallest accepted side, in pixels.
pub const MIN_SIDE: u32 = 16;
/// Largest accepted side, in pixels.
pub const MAX_SIDE: u32 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpeg,
}

impl Kind {
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
        }
    }

    pub fn from_mime(mime: &str) -> Option<Kind> {
        match mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
            "image/png" => Some(Kind::Png),
            "image/jpeg" | "image/jpg" => Some(Kind::Jpeg),
            _ => None,
        }
    }
}

/// What the PDF writer needs to draw the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColorSpace {
    Gray,
    Rgb,
    /// RGB palette entries (3 bytes each).
    Indexed(Vec<u8>),
}

impl ColorSpace {
    /// Colour components per pixel in the encoded data.
    pub fn colors(&self) -> u8 {
        match self {
            ColorSpace::Rgb => 3,
            _ => 1,
        }
    }
}

/// A checked image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    pub color: ColorSpace,
}

/// The image's pixel data as a PDF image XObject stream carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfData {
    /// `DCTDecode` (the JPEG file) or `FlateDecode` (the PNG's IDAT, with `/Predictor 15`).
    pub filter: &'static str,
    pub data: Vec<u8>,
}

fn invalid(detail: impl Into<String>) -> Problem {
    Problem::new(400, "invalid_image", "The image is not valid").detail(detail)
}

fn unsupported(detail: impl Into<String>) -> Problem {
    Problem::new(400, "unsupported_image_type", "The image type is not supported").detail(detail)
}

/// Checks an upload: `content_type` as the request labels it, `bytes` the file.
pub fn check(content_type: Option<&str>, bytes: &[u8]) -> Result<Image, Problem> {
    let kind = content_type.and_then(Kind::from_mime).ok_or_else(|| {
        unsupported(format!(
            "send the image with Content-Type image/png or image/jpeg (got {})",
            content_type.unwrap_or("none")
        ))
    })?;
    if bytes.len() > MAX_BYTES {
        return Err(Problem::new(413, "image_too_large", "The image is too large").detail(format!(
            "{} bytes; a logo is at most {} KiB",
            bytes.len(),
            MAX_BYTES / 1024
        )));
    }
    let image = parse(bytes)?;
    if image.kind != kind {
        return Err(invalid(format!("the file is a {} but was labelled {}", image.kind.mime(), kind.mime())));
    }
    for (side, px) in [("width", image.width), ("height", image.height)] {
        if !(MIN_SIDE..=MAX_SIDE).contains(&px) {
            return Err(invalid(format!("{side} is {px} px; each side must be {MIN_SIDE} to {MAX_SIDE} px")));
        }
    }
    Ok(image)
}

/// Reads the header of a PNG or JPEG file, whatever it is labelled.
pub fn parse(bytes: &[u8]) -> Result<Image, Problem> {
    if bytes.starts_with(PNG_SIGNATURE) {
        png(bytes).map(|(i, _)| i)
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg(bytes)
    } else {
        Err(invalid("the file is neither a PNG nor a JPEG"))
    }
}

/// The image data for a PDF XObject, for a stored (already checked) image.
pub fn pdf_data(bytes: &[u8]) -> Result<(Image, PdfData), Problem> {
    if bytes.starts_with(PNG_SIGNATURE) {
        let (image, idat) = png(bytes)?;
        Ok((image, PdfData { filter: "FlateDecode", data: idat }))
    } else {
        let image = jpeg(bytes)?;
        Ok((image, PdfData { filter: "DCTDecode", data: bytes.to_vec() }))
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// CRC-32 (ISO-HDLC), as PNG chunks carry it.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for part in parts {
        for &byte in *part {
            crc ^= byte as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
    }
    !crc
}

/// Walks every chunk (lengths and CRCs), returns the image and its IDAT data joined.
fn png(bytes: &[u8]) -> Result<(Image, Vec<u8>), Problem> {
    let mut at = PNG_SIGNATURE.len();
    let mut header: Option<(u32, u32, u8)> = None;
    let mut palette: Option<Vec<u8>> = None;
    let mut idat = Vec::new();
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
        if crc32(&[kind, data]) != be32(crc) {
            return Err(invalid(format!("the PNG is corrupt (bad CRC in chunk {})", String::from_utf8_lossy(kind))));
        }
        if header.is_none() && kind != b"IHDR" {
            return Err(invalid("the PNG does not start with its IHDR chunk"));
        }
        match kind {
            b"IHDR" => {
                if header.is_some() || len != 13 {
                    return Err(invalid("the PNG's IHDR chunk is malformed"));
                }
                let (w, h, depth, color) = (be32(data), be32(&data[4..]), data[8], data[9]);
                let (compression, filter, interlace) = (data[10], data[11], data[12]);
                let depth_ok = match color {
                    0 => [1, 2, 4, 8, 16].contains(&depth),
                    3 => [1, 2, 4, 8].contains(&depth),
                    2 | 4 | 6 => [8, 16].contains(&depth),
                    _ => false,
                };
                if !depth_ok || compression != 0 || filter != 0 || interlace > 1 || w == 0 || h == 0 {
                    return Err(invalid("the PNG's header is invalid"));
                }
                if color == 4 || color == 6 {
                    return Err(unsupported(
                        "PNG with an alpha channel (transparency); flatten it onto a background or send a JPEG",
                    ));
                }
                if depth != 8 {
                    return Err(unsupported(format!("PNG of {depth} bits per sample; save it with 8 bits")));
                }
                if interlace == 1 {
                    return Err(unsupported("interlaced PNG; save it without interlacing"));
                }
                header = Some((w, h, color));
            }
            b"PLTE" => {
                if len == 0 || !len.is_multiple_of(3) || len > 768 {
                    return Err(invalid("the PNG's palette is malformed"));
                }
                palette = Some(data.to_vec());
            }
            b"tRNS" if header.map(|h| h.2) == Some(3) => {
                return Err(unsupported("PNG with transparency; flatten it onto a background or send a JPEG"));
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => {
                ended = true;
                break;
            }
            _ => {}
        }
        at += 12 + len;
    }
    let (width, height, color) = header.ok_or_else(|| invalid("the PNG has no header"))?;
    if !ended {
        return Err(invalid("the PNG is truncated (no IEND chunk)"));
    }
    if idat.len() < 2 || (u16::from(idat[0]) << 8 | u16::from(idat[1])) % 31 != 0 || idat[0] & 0x0F != 8 {
        return Err(invalid("the PNG has no valid image data"));
    }
    let color = match color {
        0 => ColorSpace::Gray,
        2 => ColorSpace::Rgb,
        _ => ColorSpace::Indexed(palette.ok_or_else(|| invalid("the palette PNG has no palette"))?),
    };
    Ok((Image { kind: Kind::Png, width, height, color }, idat))
}

/// Walks the markers up to the first scan; requires the end marker at the end of the file.
fn jpeg(bytes: &[u8]) -> Result<Image, Problem> {
    let mut at = 2;
    let mut frame: Option<Image> = None;
    loop {
        // Markers may be preceded by fill bytes 0xFF.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return Err(invalid("the JPEG is truncated or malformed (marker expected)"));
        };
        at += 2;
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            continue; // no length
        }
        if marker == 0xD8 || marker == 0xD9 || marker == 0x00 {
            return Err(invalid("the JPEG is malformed (unexpected marker before the image data)"));
        }
        let Some(len) = bytes.get(at..at + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
            return Err(invalid("the JPEG is truncated"));
        };
        let Some(segment) = bytes.get(at + 2..at + len).filter(|_| len >= 2) else {
            return Err(invalid("the JPEG is truncated (segment longer than the file)"));
        };
        match marker {
            0xC0..=0xC2 => {
                if segment.len() < 6 {
                    return Err(invalid("the JPEG's frame header is malformed"));
                }
                let precision = segment[0];
                let height = u32::from(u16::from_be_bytes([segment[1], segment[2]]));
                let width = u32::from(u16::from_be_bytes([segment[3], segment[4]]));
                let components = segment[5];
                if precision != 8 {
                    return Err(unsupported("JPEG of 12 bits per sample; save it with 8 bits"));
                }
                if segment.len() != 6 + 3 * usize::from(components) {
                    return Err(invalid("the JPEG's frame header is malformed"));
                }
                let color = match components {
                    1 => ColorSpace::Gray,
                    3 => ColorSpace::Rgb,
                    4 => return Err(unsupported("CMYK JPEG; save it in RGB")),
                    _ => return Err(invalid("the JPEG has an invalid number of components")),
                };
                if height == 0 {
                    return Err(unsupported("JPEG whose height is given after the image data (DNL); save it again"));
                }
                frame = Some(Image { kind: Kind::Jpeg, width, height, color });
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(unsupported(
                    "lossless, hierarchical or arithmetic-coded JPEG; save it as a baseline or progressive JPEG",
                ));
            }
            0xDA => break,
            _ => {}
        }
        at += len;
    }
    let image = frame.ok_or_else(|| invalid("the JPEG has no frame header before its image data"))?;
    let end = bytes.iter().rposition(|&b| b != 0).unwrap_or(0);
    if end < 1 || bytes[end - 1] != 0xFF || bytes[end] != 0xD9 || end <= at {
        return Err(invalid("the JPEG is truncated (no end-of-image marker)"));
    }
    Ok(image)
}

/// Test images, built here rather than stored: a PNG whose pixels are zlib "stored" blocks
/// (valid deflate without compressing) and a baseline JPEG's header structure. For tests
/// (here and in the functions); nothing else calls them.
#[doc(hidden)]
pub mod samples {
    use super::crc32;

    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
    }

    fn zlib_stored(raw: &[u8]) -> Vec<u8> {
        let mut z = vec![0x78, 0x01];
        let blocks: Vec<&[u8]> = if raw.is_empty() { vec![&[][..]] } else { raw.chunks(65_535).collect() };
        for (i, block) in blocks.iter().enumerate() {
            z.push(u8::from(i + 1 == blocks.len()));
            let n = block.len() as u16;
            z.extend_from_slice(&n.to_le_bytes());
            z.extend_from_slice(&(!n).to_le_bytes());
            z.extend_from_slice(block);
        }
        let (mut a, mut b) = (1u32, 0u32);
        for &x in raw {
            a = (a + u32::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        z.extend_from_slice(&((b << 16) | a).to_be_bytes());
        z
    }

    /// An 8-bit RGB PNG of `w`×`h`, a diagonal gradient.
    pub fn png_rgb(w: u32, h: u32) -> Vec<u8> {
        let mut raw = Vec::with_capacity(((w * 3 + 1) * h) as usize);
        for y in 0..h {
            raw.push(0); // filter: none
            for x in 0..w {
                raw.extend_from_slice(&[(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 128]);
            }
        }
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", &zlib_stored(&raw));
        chunk(&mut out, b"IEND", &[]);
        out
    }

    /// A baseline JPEG's marker structure for a `w`×`h` 3-component image (SOI, APP0, DQT,
    /// SOF0, DHT, SOS, a short scan, EOI): enough for header checks, not for decoding.
    pub fn jpeg_baseline(w: u16, h: u16) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        let mut seg = |marker: u8, data: &[u8]| {
            out.extend_from_slice(&[0xFF, marker]);
            out.extend_from_slice(&((data.len() + 2) as u16).to_be_bytes());
            out.extend_from_slice(data);
        };
        seg(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        let mut dqt = vec![0u8];
        dqt.extend_from_slice(&[1u8; 64]);
        seg(0xDB, &dqt);
        let mut sof = vec![8];
        sof.extend_from_slice(&h.to_be_bytes());
        sof.extend_from_slice(&w.to_be_bytes());
        sof.extend_from_slice(&[3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
        seg(0xC0, &sof);
        let mut dht = vec![0u8, 1];
        dht.extend_from_slice(&[0u8; 15]);
        dht.push(0);
        seg(0xC4, &dht);
        seg(0xDA, &[3, 1, 0, 2, 0, 3, 0, 0, 63, 0]);
        out.extend_from_slice(&[0x00, 0x00, 0xFF, 0xD9]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;

    fn code(r: Result<Image, Problem>) -> (u16, String) {
        let p = r.expect_err("refused");
        (p.status, p.code)
    }

    #[test]
    fn png_header_is_read() {
        let img = check(Some("image/png"), &png_rgb(40, 20)).unwrap();
        assert_eq!((img.kind, img.width, img.height, img.color), (Kind::Png, 40, 20, ColorSpace::Rgb));
        let (_, data) = pdf_data(&png_rgb(40, 20)).unwrap();
        assert_eq!(data.filter, "FlateDecode");
        assert_eq!(&data.data[..2], &[0x78, 0x01]);
    }

    #[test]
    fn jpeg_header_is_read() {
        let img = check(Some("image/jpeg"), &jpeg_baseline(300, 100)).unwrap();
        assert_eq!((img.kind, img.width, img.height, img.color), (Kind::Jpeg, 300, 100, ColorSpace::Rgb));
        assert_eq!(pdf_data(&jpeg_baseline(300, 100)).unwrap().1.filter, "DCTDecode");
    }

    #[test]
    fn sizes_are_bounded() {
        assert_eq!(code(check(Some("image/png"), &png_rgb(15, 40))).1, "invalid_image");
        assert_eq!(code(check(Some("image/jpeg"), &jpeg_baseline(4097, 40))).1, "invalid_image");
        assert!(check(Some("image/jpeg"), &jpeg_baseline(4096, 16)).is_ok());
        let mut big = png_rgb(16, 16);
        big.resize(MAX_BYTES + 1, 0);
        assert_eq!(code(check(Some("image/png"), &big)), (413, "image_too_large".into()));
    }

    #[test]
    fn wrong_or_missing_type_is_refused() {
        assert_eq!(code(check(Some("text/plain"), &png_rgb(20, 20))).1, "unsupported_image_type");
        assert_eq!(code(check(None, &png_rgb(20, 20))).1, "unsupported_image_type");
        assert_eq!(code(check(Some("image/png"), b"hello, not an image")), (400, "invalid_image".into()));
        assert_eq!(code(check(Some("image/jpeg"), &png_rgb(20, 20))).1, "invalid_image");
        assert!(check(Some("image/PNG; charset=binary"), &png_rgb(20, 20)).is_ok());
    }

    #[test]
    fn truncated_and_corrupt_files_are_refused() {
        let png = png_rgb(20, 20);
        for cut in [9, 20, 33, png.len() / 2, png.len() - 1] {
            assert_eq!(code(check(Some("image/png"), &png[..cut])).1, "invalid_image", "cut at {cut}");
        }
        let mut flipped = png.clone();
        flipped[40] ^= 1;
        assert_eq!(code(check(Some("image/png"), &flipped)).1, "invalid_image");
        let jpeg = jpeg_baseline(20, 20);
        for cut in [3, 10, jpeg.len() - 1] {
            assert_eq!(code(check(Some("image/jpeg"), &jpeg[..cut])).1, "invalid_image", "cut at {cut}");
        }
    }

    #[test]
    fn what_pdf_cannot_embed_is_refused() {
        let mut alpha = png_rgb(20, 20);
        alpha[8 + 8 + 9] = 6; // colour type RGBA
        let crc = crc32(&[&alpha[12..16], &alpha[16..29]]);
        alpha[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(code(check(Some("image/png"), &alpha)).1, "unsupported_image_type");
        let mut arith = jpeg_baseline(20, 20);
        let sof = arith.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        arith[sof + 1] = 0xC9;
        assert_eq!(code(check(Some("image/jpeg"), &arith)).1, "unsupported_image_type");
    }
}
