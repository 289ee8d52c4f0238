//! Capability tokens: unguessable secrets that are themselves the permission (a quote's share
//! link). 256 bits from the host's random source (WASI `random`, the OS's CSPRNG), written in
//! URL-safe base64 (43 characters). Only [`digest`] of a token is ever stored, so whoever
//! reads the database (a backup, a log of queries) still cannot open the links.

/// Random bytes in a token: 256 bits, twice the 128 the guessing bound asks for.
pub const TOKEN_BYTES: usize = 32;

/// A fresh token.
pub fn new_token() -> String {
    credentials::encoding::base64url_encode(&random_bytes(TOKEN_BYTES))
}

#[cfg(not(feature = "native"))]
fn random_bytes(n: usize) -> Vec<u8> {
    wasi::random::random::get_random_bytes(n as u64)
}

/// Natively compiled (bench/native): std's per-process random keys, hashed. Never used to
/// serve real links.
#[cfg(feature = "native")]
fn random_bytes(n: usize) -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    (0..n).map(|_| std::collections::hash_map::RandomState::new().build_hasher().finish() as u8).collect()
}

/// Whether `s` can be a token this module made: 43 URL-safe base64 characters. Anything else
/// is refused before the database is asked.
pub fn is_token(s: &str) -> bool {
    s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The stored form of a token (or of any secret): lowercase hexadecimal SHA-256.
pub fn digest(secret: &[u8]) -> String {
    credentials::encoding::hex(&hmac_sha256::Hash::hash(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_in_hex() {
        assert_eq!(digest(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(digest(b"").len(), 64);
    }

    #[test]
    fn only_token_shaped_strings_are_tokens() {
        let t = "a".repeat(43);
        assert!(is_token(&t));
        assert!(is_token("AbC-_0123456789abcdefghijklmnopqrstuvwxyzAB"));
        assert!(!is_token(&"a".repeat(42)));
        assert!(!is_token(&"a".repeat(44)));
        assert!(!is_token(&format!("{}=", "a".repeat(42))));
        assert!(!is_token(&format!("{}/", "a".repeat(42))));
        assert!(!is_token("00000000-0000-4000-8000-000000000000"));
    }
}
