//! Reading one Spin variable from the host (`spin.toml` `[variables]`; locally
//! `SPIN_VARIABLE_<NAME>` or `.env`). Only [`crate::settings`] calls it: everything else asks
//! the settings, which name each variable once and read it once per request.

/// A variable's value; `None` when undefined or empty.
#[cfg(not(feature = "native"))]
pub fn var(name: &str) -> Option<String> {
    match spin_sdk::variables::get(name) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => None,
    }
}

/// Natively compiled (bench/native): `SPIN_VARIABLE_<NAME>` from the environment, the names
/// edge reads.
#[cfg(feature = "native")]
pub fn var(name: &str) -> Option<String> {
    std::env::var(format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())).ok().filter(|v| !v.trim().is_empty())
}
