//! Company logos: the PNG or JPEG a user uploads, checked before it is stored so that a stored
//! logo can always be drawn (the quote PDF, the share page). The files are read here, by hand:
//! no image library enters the components; zlib is `flate2`, already in the tree.
//!
//! What is accepted, and how the PDF writer embeds it:
//! - JPEG, baseline or extended or progressive Huffman (SOF0..SOF2), gray or YCbCr (1 or 3
//!   components), 8 bits: its bytes become a `DCTDecode` image as they are;
//! - PNG of any standard kind ([`png`]): gray, RGB or palette, with or without alpha or a
//!   `tRNS` chunk, 1 to 16 bits, interlaced or not. Its pixels are decoded on upload, so a
//!   broken or hostile file is refused before anything is stored, and again for every PDF,
//!   so broken image data never reaches a document. The usual 8-bit opaque PNG
//!   goes into the PDF as its own zlib data with PNG row filters (`FlateDecode` with
//!   `/Predictor 15`); the others as 8-bit gray or RGB and, when they are transparent, an
//!   8-bit soft mask (`/SMask`).
//!
//! Arithmetic coded, lossless or hierarchical JPEGs are refused (`unsupported_image_type`):
//! PDF readers do not display them.
//!
//! Sizes: at most [`MAX_BYTES`]; each side in [`MIN_SIDE`]..=[`MAX_SIDE`] pixels. Below 16 px a
//! logo is unreadable at any print size; above 4096 px it is far beyond what a header (a few
//! centimetres at 300 dpi, well under 1000 px) needs, and a tiny compressed file of huge
//! dimensions would make every PDF reader inflate hundreds of megabytes. A decoded PNG must
//! compress again into at most [`MAX_PDF_BYTES`] for the PDF (only a file made to defeat
//! compression comes near; the renderer then leaves the logo out).

mod png;

use shared::http::Problem;

/// Largest accepted file.
pub const MAX_BYTES: usize = 512 * 1024;
/// Largest image data a decoded PNG may take in the PDF (colour and mask together): four
/// times the largest file, far above what a logo's pixels compress to.
pub const MAX_PDF_BYTES: usize = 4 * MAX_BYTES;
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
}

/// The image's pixel data as a PDF image XObject stream carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfData {
    /// `DCTDecode` (the JPEG file) or `FlateDecode` (8-bit samples with PNG row filters, read
    /// with `/Predictor 15`).
    pub filter: &'static str,
    pub color: ColorSpace,
    pub data: Vec<u8>,
    /// The soft mask (alpha) of a transparent image: 8-bit gray, `FlateDecode` with
    /// `/Predictor 15`, the image's width and height.
    pub smask: Option<Vec<u8>>,
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
    let (image, png) = parse(bytes)?;
    if image.kind != kind {
        return Err(invalid(format!("the file is a {} but was labelled {}", image.kind.mime(), kind.mime())));
    }
    for (side, px) in [("width", image.width), ("height", image.height)] {
        if !(MIN_SIDE..=MAX_SIDE).contains(&px) {
            return Err(invalid(format!("{side} is {px} px; each side must be {MIN_SIDE} to {MAX_SIDE} px")));
        }
    }
    // Every row decoded: what is stored can be drawn (the renderer decodes it again).
    if let Parsed::Png(png) = png {
        png::verify(&png)?;
    }
    Ok(image)
}

/// A file's headers: a PNG's chunks, a JPEG's colour space.
enum Parsed {
    Png(png::Png),
    Jpeg(ColorSpace),
}

/// Reads the headers of a PNG (all its chunks) or a JPEG, whatever it is labelled.
fn parse(bytes: &[u8]) -> Result<(Image, Parsed), Problem> {
    if bytes.starts_with(PNG_SIGNATURE) {
        let png = png::read(bytes)?;
        Ok((Image { kind: Kind::Png, width: png.width, height: png.height }, Parsed::Png(png)))
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        let (image, color) = jpeg(bytes)?;
        Ok((image, Parsed::Jpeg(color)))
    } else {
        Err(invalid("the file is neither a PNG nor a JPEG"))
    }
}

/// The image data for a PDF XObject, for a stored (already checked) image.
pub fn pdf_data(bytes: &[u8]) -> Result<(Image, PdfData), Problem> {
    let data = match parse(bytes)? {
        (image, Parsed::Png(png)) => (image, png::pdf_data(&png)?),
        (image, Parsed::Jpeg(color)) => {
            (image, PdfData { filter: "DCTDecode", color, data: bytes.to_vec(), smask: None })
        }
    };
    Ok(data)
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

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

/// Walks the markers up to the first scan; requires the end marker at the end of the file.
fn jpeg(bytes: &[u8]) -> Result<(Image, ColorSpace), Problem> {
    let mut at = 2;
    let mut frame: Option<(Image, ColorSpace)> = None;
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
                frame = Some((Image { kind: Kind::Jpeg, width, height }, color));
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
    let found = frame.ok_or_else(|| invalid("the JPEG has no frame header before its image data"))?;
    let end = bytes.iter().rposition(|&b| b != 0).unwrap_or(0);
    if end < 1 || bytes[end - 1] != 0xFF || bytes[end] != 0xD9 || end <= at {
        return Err(invalid("the JPEG is truncated (no end-of-image marker)"));
    }
    Ok(found)
}

/// Test images, built here rather than stored: PNGs whose pixels are zlib "stored" blocks
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

    /// `raw` as a zlib stream of "stored" (uncompressed) blocks: valid without a compressor.
    pub fn zlib_stored(raw: &[u8]) -> Vec<u8> {
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

    /// Adam7's passes: (first column, first row, column step, row step).
    const ADAM7: [(u32, u32, u32, u32); 7] =
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

    /// The filtered scanlines of a `w`×`h` image: each pixel's samples (at bit `depth`) from
    /// `samples(x, y)`, in Adam7's passes when `interlaced`; the rows take the five PNG filters
    /// in turn, so that a decoder meets each of them.
    pub fn scanlines(w: u32, h: u32, depth: u8, interlaced: bool, samples: impl Fn(u32, u32) -> Vec<u16>) -> Vec<u8> {
        let passes: &[(u32, u32, u32, u32)] = if interlaced { &ADAM7 } else { &[(0, 0, 1, 1)] };
        let mut out = Vec::new();
        let mut n = 0u8;
        for &(x0, y0, dx, dy) in passes {
            let (columns, rows) = (w.saturating_sub(x0).div_ceil(dx), h.saturating_sub(y0).div_ceil(dy));
            if columns == 0 || rows == 0 {
                continue;
            }
            let per_pixel = samples(0, 0).len() * usize::from(depth);
            let distance = per_pixel.div_ceil(8);
            let mut prev = vec![0u8; (columns as usize * per_pixel).div_ceil(8)];
            for j in 0..rows {
                let (mut row, mut acc, mut bits) = (Vec::new(), 0u32, 0u8);
                for i in 0..columns {
                    for v in samples(x0 + i * dx, y0 + j * dy) {
                        match depth {
                            16 => row.extend_from_slice(&v.to_be_bytes()),
                            8 => row.push(v as u8),
                            _ => {
                                acc = acc << depth | u32::from(v);
                                bits += depth;
                                if bits == 8 {
                                    row.push(acc as u8);
                                    (acc, bits) = (0, 0);
                                }
                            }
                        }
                    }
                }
                if bits > 0 {
                    row.push((acc << (8 - bits)) as u8);
                }
                let kind = n % 5;
                n += 1;
                out.push(kind);
                for i in 0..row.len() {
                    let a = if i >= distance { row[i - distance] } else { 0 };
                    let c = if i >= distance { prev[i - distance] } else { 0 };
                    let b = prev[i];
                    let predicted = match kind {
                        0 => 0,
                        1 => a,
                        2 => b,
                        3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                        _ => super::png::paeth(a, b, c),
                    };
                    out.push(row[i].wrapping_sub(predicted));
                }
                prev = row;
            }
        }
        out
    }

    /// A PNG file: its header, `chunks` (PLTE, tRNS, ...), `idat` as one IDAT chunk, IEND.
    pub fn png_file(
        w: u32,
        h: u32,
        depth: u8,
        color_type: u8,
        interlaced: bool,
        chunks: &[(&[u8; 4], &[u8])],
        idat: &[u8],
    ) -> Vec<u8> {
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[depth, color_type, 0, 0, u8::from(interlaced)]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut out, b"IHDR", &ihdr);
        for (kind, data) in chunks {
            chunk(&mut out, kind, data);
        }
        chunk(&mut out, b"IDAT", idat);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    /// A PNG of any kind ([`scanlines`], [`png_file`]), its data in zlib "stored" blocks.
    pub fn png(
        w: u32,
        h: u32,
        depth: u8,
        color_type: u8,
        interlaced: bool,
        chunks: &[(&[u8; 4], &[u8])],
        samples: impl Fn(u32, u32) -> Vec<u16>,
    ) -> Vec<u8> {
        let idat = zlib_stored(&scanlines(w, h, depth, interlaced, samples));
        png_file(w, h, depth, color_type, interlaced, chunks, &idat)
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

    /// A zlib stream of `len` zero bytes in well under `len / 200` bytes: one fixed-Huffman
    /// block of a literal 0 and then matches of 258 bytes at distance 1 (13 bits each).
    pub fn zlib_zeros(len: usize) -> Vec<u8> {
        struct Bits {
            out: Vec<u8>,
            acc: u32,
            n: u32,
        }
        impl Bits {
            /// `count` bits of `value`, least significant first (header fields).
            fn put(&mut self, value: u32, count: u32) {
                for i in 0..count {
                    self.acc |= ((value >> i) & 1) << self.n;
                    self.n += 1;
                    if self.n == 8 {
                        self.out.push(self.acc as u8);
                        (self.acc, self.n) = (0, 0);
                    }
                }
            }
            /// A Huffman code, most significant bit first.
            fn code(&mut self, code: u32, count: u32) {
                for i in (0..count).rev() {
                    self.put((code >> i) & 1, 1);
                }
            }
        }
        let mut b = Bits { out: vec![0x78, 0x01], acc: 0, n: 0 };
        b.put(1, 1); // the last block
        b.put(1, 2); // fixed Huffman codes
        b.code(0x30, 8); // literal 0
        let mut left = len.saturating_sub(1);
        while left >= 258 {
            b.code(0b1100_0101, 8); // length code 285: 258 bytes
            b.code(0, 5); // distance code 0: 1 byte back
            left -= 258;
        }
        for _ in 0..left {
            b.code(0x30, 8);
        }
        b.code(0, 7); // end of block
        if b.n > 0 {
            b.out.push(b.acc as u8);
        }
        // Adler-32 of zeros: a stays 1, b grows by 1 a byte.
        let adler = ((len % 65_521) as u32) << 16 | 1;
        b.out.extend_from_slice(&adler.to_be_bytes());
        b.out
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
    fn an_opaque_8_bit_png_goes_into_the_pdf_as_it_is() {
        let img = check(Some("image/png"), &png_rgb(40, 20)).unwrap();
        assert_eq!((img.kind, img.width, img.height), (Kind::Png, 40, 20));
        let (_, data) = pdf_data(&png_rgb(40, 20)).unwrap();
        assert_eq!((data.filter, &data.color, data.smask.is_none()), ("FlateDecode", &ColorSpace::Rgb, true));
        assert_eq!(&data.data[..2], &[0x78, 0x01], "the file's own zlib data");
    }

    #[test]
    fn jpeg_header_is_read() {
        let img = check(Some("image/jpeg"), &jpeg_baseline(300, 100)).unwrap();
        assert_eq!((img.kind, img.width, img.height), (Kind::Jpeg, 300, 100));
        let (_, data) = pdf_data(&jpeg_baseline(300, 100)).unwrap();
        assert_eq!((data.filter, data.color, data.smask), ("DCTDecode", ColorSpace::Rgb, None));
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
        let mut arith = jpeg_baseline(20, 20);
        let sof = arith.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        arith[sof + 1] = 0xC9;
        assert_eq!(code(check(Some("image/jpeg"), &arith)).1, "unsupported_image_type");
    }

    // --- PNGs of every kind ----------------------------------------------------------------

    /// The reference picture, 8-bit RGBA: gradients, and alpha from clear (top left) to opaque.
    fn rgba(x: u32, y: u32) -> [u8; 4] {
        [(x * 7 % 256) as u8, (y * 11 % 256) as u8, ((x + y) * 5 % 256) as u8, ((x * 3 + y * 5) % 256) as u8]
    }

    /// Every pixel of `png` as `decode` hands them out, row by row.
    fn decoded(bytes: &[u8]) -> Vec<[u8; 4]> {
        let p = png::read(bytes).unwrap();
        let mut out = vec![[0u8; 4]; (p.width * p.height) as usize];
        png::decode(&p, |x, y, px| out[(y * p.width + x) as usize] = px).unwrap();
        out
    }

    fn expect(w: u32, h: u32, f: impl Fn([u8; 4]) -> [u8; 4]) -> Vec<[u8; 4]> {
        (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).map(|(x, y)| f(rgba(x, y))).collect()
    }

    fn gray(v: u8) -> [u8; 4] {
        [v, v, v, 255]
    }

    /// 8 bits to 16 (the same value in both bytes), as PNG scales them.
    fn wide(v: u8) -> u16 {
        u16::from(v) << 8 | u16::from(v)
    }

    #[test]
    fn every_kind_of_png_decodes_to_its_pixels_interlaced_or_not() {
        // Odd sizes: Adam7's passes are partly empty, rows end mid-byte at low depths.
        for (w, h) in [(37, 21), (16, 16), (3, 2), (1, 9)] {
            for interlaced in [false, true] {
                let cases = vec![
                    (
                        "RGBA 8",
                        png(w, h, 8, 6, interlaced, &[], |x, y| rgba(x, y).map(u16::from).to_vec()),
                        expect(w, h, |p| p),
                    ),
                    (
                        "RGBA 16",
                        png(w, h, 16, 6, interlaced, &[], |x, y| rgba(x, y).map(wide).to_vec()),
                        expect(w, h, |p| p),
                    ),
                    (
                        "gray + alpha 8",
                        png(w, h, 8, 4, interlaced, &[], |x, y| vec![rgba(x, y)[0].into(), rgba(x, y)[3].into()]),
                        expect(w, h, |p| [p[0], p[0], p[0], p[3]]),
                    ),
                    (
                        "RGB 16",
                        png(w, h, 16, 2, interlaced, &[], |x, y| rgba(x, y)[..3].iter().map(|&v| wide(v)).collect()),
                        expect(w, h, |p| [p[0], p[1], p[2], 255]),
                    ),
                    (
                        "gray 16",
                        png(w, h, 16, 0, interlaced, &[], |x, y| vec![wide(rgba(x, y)[1])]),
                        expect(w, h, |p| gray(p[1])),
                    ),
                    (
                        "gray 4",
                        png(w, h, 4, 0, interlaced, &[], |x, y| vec![u16::from(rgba(x, y)[0] >> 4)]),
                        expect(w, h, |p| gray((p[0] >> 4) * 17)),
                    ),
                    (
                        "gray 1",
                        png(w, h, 1, 0, interlaced, &[], |x, y| vec![u16::from(rgba(x, y)[0] >> 7)]),
                        expect(w, h, |p| gray((p[0] >> 7) * 255)),
                    ),
                ];
                for (what, file, want) in cases {
                    assert_eq!(decoded(&file), want, "{what} {w}x{h} interlaced={interlaced}");
                }
            }
        }
    }

    /// A palette of 16 colours, its alpha in `tRNS`, at 2, 4 and 8 bits an index.
    #[test]
    fn palette_pngs_of_every_depth_and_their_transparency_decode() {
        let palette: Vec<u8> = (0..16u8).flat_map(|i| [i * 16, 255 - i * 16, i * 3]).collect();
        let alpha: Vec<u8> = (0..12u8).map(|i| i * 20).collect(); // indexes 12..16 opaque
        let index = |x: u32, y: u32| ((x + 2 * y) % 16) as u8;
        for depth in [4u8, 8] {
            for interlaced in [false, true] {
                let file = png(37, 21, depth, 3, interlaced, &[(b"PLTE", &palette), (b"tRNS", &alpha)], |x, y| {
                    vec![index(x, y).into()]
                });
                let want: Vec<[u8; 4]> = (0..21)
                    .flat_map(|y| (0..37).map(move |x| (x, y)))
                    .map(|(x, y)| {
                        let i = usize::from(index(x, y));
                        [palette[3 * i], palette[3 * i + 1], palette[3 * i + 2], alpha.get(i).copied().unwrap_or(255)]
                    })
                    .collect();
                assert_eq!(decoded(&file), want, "depth {depth} interlaced={interlaced}");
            }
        }
        // Two bits an index: four colours.
        let file = png(16, 16, 2, 3, false, &[(b"PLTE", &palette[..12])], |x, _| vec![u16::from(x as u8 % 4)]);
        assert_eq!(decoded(&file)[5], [palette[3], palette[4], palette[5], 255]);
    }

    #[test]
    fn a_trns_key_colour_is_transparent() {
        let key = [0u8, 0, 0, 200, 0, 7]; // RGB (0, 200, 7)
        let file =
            png(16, 16, 8, 2, false, &[(b"tRNS", &key)], |x, _| if x == 3 { vec![0, 200, 7] } else { vec![0, 200, 8] });
        let px = decoded(&file);
        assert_eq!((px[3], px[4]), ([0, 200, 7, 0], [0, 200, 8, 255]));
        let gray_key = [0u8, 9];
        let file = png(16, 16, 8, 0, false, &[(b"tRNS", &gray_key)], |x, _| vec![if x == 0 { 9 } else { 10 }]);
        assert_eq!(decoded(&file)[..2], [[9, 9, 9, 0], [10, 10, 10, 255]]);
    }

    /// What [`pdf_data`] writes for a decoded PNG, read back: inflated, rows unfiltered.
    fn read_back(data: &[u8], row_len: usize, distance: usize) -> Vec<u8> {
        use std::io::Read;
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(data).read_to_end(&mut raw).unwrap();
        let mut out = Vec::new();
        let mut prev = vec![0u8; row_len];
        for row in raw.chunks(row_len + 1) {
            let mut r = row[1..].to_vec();
            png::unfilter(row[0], &mut r, &prev, distance).unwrap();
            out.extend_from_slice(&r);
            prev = r;
        }
        out
    }

    #[test]
    fn a_transparent_png_becomes_8_bit_colour_and_a_soft_mask() {
        for (depth, interlaced) in [(8, false), (16, true)] {
            let file = png(37, 21, depth, 6, interlaced, &[], |x, y| {
                rgba(x, y).map(|v| if depth == 16 { wide(v) } else { v.into() }).to_vec()
            });
            assert!(check(Some("image/png"), &file).is_ok());
            let (image, data) = pdf_data(&file).unwrap();
            assert_eq!((image.width, image.height, &data.color), (37, 21, &ColorSpace::Rgb));
            let colour = read_back(&data.data, 37 * 3, 3);
            let mask = read_back(data.smask.as_deref().expect("a soft mask"), 37, 1);
            let want = expect(37, 21, |p| p);
            assert_eq!(colour, want.iter().flat_map(|p| p[..3].to_vec()).collect::<Vec<_>>());
            assert_eq!(mask, want.iter().map(|p| p[3]).collect::<Vec<_>>());
        }
        // Opaque everywhere: no mask; gray stays gray.
        let file = png(20, 20, 8, 4, false, &[], |x, _| vec![x as u16, 255]);
        let (_, data) = pdf_data(&file).unwrap();
        assert_eq!((&data.color, data.smask.is_none()), (&ColorSpace::Gray, true));
        assert_eq!(read_back(&data.data, 20, 1)[..3], [0, 1, 2]);
        assert!(check(Some("image/png"), &file).is_ok());
    }

    #[test]
    fn pngs_refused_before_are_accepted() {
        let kinds = [
            ("RGBA", png(64, 32, 8, 6, false, &[], |x, y| rgba(x, y).map(u16::from).to_vec())),
            ("gray + alpha 16", png(64, 32, 16, 4, false, &[], |x, y| vec![wide(x as u8), wide(y as u8)])),
            ("interlaced RGB", png(64, 32, 8, 2, true, &[], |x, y| vec![x as u16, y as u16, 0])),
            ("16-bit RGB", png(64, 32, 16, 2, false, &[], |x, y| vec![wide(x as u8), 0, wide(y as u8)])),
            ("1-bit gray", png(64, 32, 1, 0, false, &[], |x, y| vec![u16::from((x + y) % 2 == 0)])),
            (
                "4-bit palette",
                png(64, 32, 4, 3, false, &[(b"PLTE", &[0, 0, 0, 255, 0, 0])], |x, _| vec![(x % 2) as u16]),
            ),
        ];
        for (what, file) in kinds {
            let img = check(Some("image/png"), &file).unwrap_or_else(|p| panic!("{what}: {p:?}"));
            assert_eq!((img.width, img.height), (64, 32), "{what}");
            assert!(pdf_data(&file).is_ok(), "{what}");
        }
    }

    // --- hostile PNGs -----------------------------------------------------------------------

    fn refused(bytes: &[u8]) -> String {
        let p = check(Some("image/png"), bytes).expect_err("refused");
        assert_eq!((p.status, p.code.as_str()), (400, "invalid_image"), "{p:?}");
        assert!(pdf_data(bytes).is_err(), "the renderer refuses it too");
        p.detail.unwrap_or_default()
    }

    fn zlib(raw: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(raw).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn truncated_or_corrupt_image_data_is_refused() {
        let raw = scanlines(32, 32, 8, false, |x, y| vec![x as u16, y as u16, 0, 255]);
        let whole = zlib(&raw);
        // Valid chunks around cut data: the rows end early.
        let cut = png_file(32, 32, 8, 6, false, &[], &whole[..whole.len() / 2]);
        assert!(refused(&cut).contains("truncated"));
        // Rows missing though the stream ends properly.
        let short = png_file(32, 32, 8, 6, false, &[], &zlib(&raw[..raw.len() - 129]));
        assert!(refused(&short).contains("truncated"));
        // A deflate block of the reserved type.
        let mut broken = whole.clone();
        broken[2] = 0b111;
        assert!(refused(&png_file(32, 32, 8, 6, false, &[], &broken)).contains("corrupt"));
        // A row filter that does not exist.
        let mut bad_filter = raw.clone();
        bad_filter[129 * 3] = 9;
        assert!(refused(&png_file(32, 32, 8, 6, false, &[], &zlib(&bad_filter))).contains("filter"));
        // The same holds for the kind embedded as it is: a cut stream is refused on upload.
        let rgb = scanlines(32, 32, 8, false, |x, y| vec![x as u16, y as u16, 0]);
        assert!(refused(&png_file(32, 32, 8, 2, false, &[], &zlib(&rgb)[..40])).contains("truncated"));
        // tRNS where it does not belong, or of the wrong size.
        let rgba = png(16, 16, 8, 6, false, &[(b"tRNS", &[0, 0])], |_, _| vec![0, 0, 0, 0]);
        assert!(refused(&rgba).contains("tRNS"));
        let gray = png(16, 16, 8, 0, false, &[(b"tRNS", &[0, 0, 0])], |_, _| vec![0]);
        assert!(refused(&gray).contains("tRNS"));
    }

    #[test]
    fn a_decompression_bomb_is_refused_after_inflating_no_more_than_the_image() {
        // 64 × 64 RGB needs 64 × 193 bytes; the stream holds 64 MiB of zeros (a 64 KiB file).
        let bomb = zlib(&vec![0u8; 64 << 20]);
        let file = png_file(64, 64, 8, 2, false, &[], &bomb);
        assert!(file.len() < MAX_BYTES);
        let started = std::time::Instant::now();
        assert!(refused(&file).contains("more image data"));
        // Reading 12 KiB and one byte more, not 64 MiB (which takes far longer even natively).
        assert!(started.elapsed() < std::time::Duration::from_millis(500), "{:?}", started.elapsed());
    }

    #[test]
    fn huge_dimensions_are_refused_before_anything_is_inflated() {
        let file = png_file(100_000, 100_000, 8, 6, false, &[], &zlib(&[0; 10]));
        assert_eq!(code(check(Some("image/png"), &file)), (400, "invalid_image".into()));
        assert!(pdf_data(&file).is_err());
        let tall = png_file(16, 4097, 16, 6, true, &[], &zlib(&[0; 10]));
        assert!(pdf_data(&tall).unwrap_err().detail.unwrap_or_default().contains("4097"));
    }

    #[test]
    fn what_does_not_compress_again_into_the_limit_is_too_large() {
        // Noise does not compress: 64 × 64 × 3 bytes do not fit in 4 KiB.
        let mut seed = 0x2545_F491u32;
        let noise: Vec<u8> = (0..64 * 64 * 3)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let p = png::deflate(&noise, 64 * 3, 3, 4096).unwrap_err();
        assert_eq!((p.status, p.code.as_str()), (413, "image_too_large"));
        assert_eq!(read_back(&png::deflate(&noise, 64 * 3, 3, 1 << 20).unwrap(), 64 * 3, 3), noise);
    }
}
