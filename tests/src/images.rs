//! Small test images built in code: PNGs of every kind (zlib "stored" blocks, valid without a
//! compressor; any bit depth and colour type, interlaced or not, every row filter), a zlib
//! stream that inflates far beyond its size (a decompression bomb), and a minimal baseline
//! JPEG's marker structure.

/// CRC-32 as PNG chunks carry it.
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

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

pub fn zlib_stored(raw: &[u8]) -> Vec<u8> {
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
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

/// An 8-bit RGB PNG of `w`×`h` (a gradient).
pub fn png_rgb(w: u32, h: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0);
        for x in 0..w {
            raw.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 128]);
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

fn paeth(a: u8, b: u8, c: u8) -> u8 {
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

/// The filtered scanlines of a `w`×`h` image whose pixels' samples (at bit `depth`) come from
/// `samples(x, y)`, in Adam7's seven passes when `interlaced`; row after row takes filter 0, 1,
/// 2, 3, 4, 0, ... so that a decoder meets every one.
pub fn scanlines(w: u32, h: u32, depth: u8, interlaced: bool, samples: impl Fn(u32, u32) -> Vec<u16>) -> Vec<u8> {
    let passes: &[(u32, u32, u32, u32)] = if interlaced { &ADAM7 } else { &[(0, 0, 1, 1)] };
    let bits_per_pixel = samples(0, 0).len() * usize::from(depth);
    let distance = bits_per_pixel.div_ceil(8);
    let mut out = Vec::new();
    let mut filter = 0u8;
    for &(x0, y0, dx, dy) in passes {
        let (columns, rows) = (w.saturating_sub(x0).div_ceil(dx), h.saturating_sub(y0).div_ceil(dy));
        if columns == 0 || rows == 0 {
            continue;
        }
        let mut prev = vec![0u8; (columns as usize * bits_per_pixel).div_ceil(8)];
        for j in 0..rows {
            let mut row = Vec::with_capacity(prev.len());
            let (mut acc, mut bits) = (0u32, 0u8);
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
            out.push(filter);
            for i in 0..row.len() {
                let a = if i >= distance { row[i - distance] } else { 0 };
                let c = if i >= distance { prev[i - distance] } else { 0 };
                let predicted = match filter {
                    0 => 0,
                    1 => a,
                    2 => prev[i],
                    3 => ((u16::from(a) + u16::from(prev[i])) / 2) as u8,
                    _ => paeth(a, prev[i], c),
                };
                out.push(row[i].wrapping_sub(predicted));
            }
            filter = (filter + 1) % 5;
            prev = row;
        }
    }
    out
}

/// A PNG file: its IHDR, then `chunks` (PLTE, tRNS, ...), `idat` as its image data, IEND.
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

/// A PNG of any kind: [`scanlines`] in zlib "stored" blocks, in a [`png_file`].
pub fn png(
    w: u32,
    h: u32,
    depth: u8,
    color_type: u8,
    interlaced: bool,
    chunks: &[(&[u8; 4], &[u8])],
    samples: impl Fn(u32, u32) -> Vec<u16>,
) -> Vec<u8> {
    png_file(w, h, depth, color_type, interlaced, chunks, &zlib_stored(&scanlines(w, h, depth, interlaced, samples)))
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
