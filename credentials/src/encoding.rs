//! The encodings credentials travel in, one implementation of each (ct-codecs, already in the
//! tree through jwt-simple): decoding in constant time with respect to the data, and refusing
//! every non-canonical form, so each byte string has exactly one accepted encoding.

use ct_codecs::{Base64, Base64UrlSafeNoPadding, Decoder, Encoder, Hex};

/// Unpadded base64url (RFC 4648 §5), as JWTs use it.
pub fn base64url_encode(data: &[u8]) -> String {
    Base64UrlSafeNoPadding::encode_to_string(data).unwrap_or_default()
}

/// Decodes unpadded base64url. Refuses `=`, whitespace, characters outside the URL-safe
/// alphabet, impossible lengths (`len % 4 == 1`) and non-zero trailing bits.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    Base64UrlSafeNoPadding::decode_to_vec(text, None).ok()
}

/// Padded standard base64 (RFC 4648 §4), as email attachments and `data:` URLs use it.
pub fn base64_encode(data: &[u8]) -> String {
    Base64::encode_to_string(data).unwrap_or_default()
}

/// Decodes padded standard base64, refusing whitespace and non-canonical input.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    Base64::decode_to_vec(text, None).ok()
}

/// Lower-case hexadecimal.
pub fn hex(data: &[u8]) -> String {
    Hex::encode_to_string(data).unwrap_or_default()
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    ct_codecs::verify(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_unpadded_and_strict() {
        assert_eq!(base64url_encode(b"A"), "QQ");
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url_decode("QQ"), Some(vec![0x41]));
        assert_eq!(base64url_decode("QUI"), Some(vec![0x41, 0x42]));
        assert_eq!(base64url_decode(""), Some(vec![]));
        for bad in ["QR", "QUJ", "Q", "QQ==", "Q Q", "+/", "QQ\n"] {
            assert_eq!(base64url_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn base64_is_padded_and_strict() {
        assert_eq!(base64_encode(b"hi?"), "aGk/");
        assert_eq!(base64_encode(b"A"), "QQ==");
        assert_eq!(base64_decode("QQ=="), Some(vec![0x41]));
        for bad in ["QQ", "QR==", "Q Q=", "-_8="] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_byte_string_round_trips() {
        for len in 0..70 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64url_decode(&base64url_encode(&data)), Some(data.clone()));
            assert_eq!(base64_decode(&base64_encode(&data)), Some(data.clone()));
        }
    }

    #[test]
    fn hex_and_comparison() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
