//! How figures and echoed input are shown (query parameters are parsed by `shared::params`).

/// Input echoed in a message is cut short.
pub fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Rounded to two decimals for display; comparisons use the unrounded value.
pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
