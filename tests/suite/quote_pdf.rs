//! quote-pdf-generator suite (being written).
