//! Test images built in code, with the builders `quotekit::image`'s own tests use: PNGs of
//! every kind (zlib "stored" blocks, valid without a compressor; any bit depth and colour
//! type, interlaced or not, every row filter), a zlib stream that inflates far beyond its size
//! (a decompression bomb), and a minimal baseline JPEG's marker structure.

pub use quotekit::image::samples::{jpeg_baseline, png, png_file, png_rgb, scanlines, zlib_stored, zlib_zeros};
