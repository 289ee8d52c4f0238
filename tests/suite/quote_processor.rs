//! quote-processor suite (being written).
