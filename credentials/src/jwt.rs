//! Verification of Supabase-style access tokens (`Authorization: Bearer <JWT>`).
//!
//! Policy (the one pinned by `tests/fixtures/jwt/tokens.json` → `validation`):
//!
//! * tokens longer than [`MAX_TOKEN_BYTES`] are rejected before any parsing;
//! * JWS compact serialization only: exactly three segments, each strict *unpadded,
//!   canonical* base64url (no `=`, no whitespace, nothing outside the alphabet, no
//!   non-zero trailing bits); the header and the payload must be JSON objects;
//! * `alg` allow-list: `HS256`, `ES256`, `RS256` (case-sensitive). `none`, `HS512`, … are
//!   rejected;
//! * `HS256` is verified with the configured project secret only (never with a JWKS key, so
//!   the "HMAC keyed with the public key" confusion cannot work); a `kid` on an HS256 token is
//!   ignored (Supabase puts one there);
//! * `ES256`/`RS256` are verified with the configured JWKS key whose `kid` equals the
//!   header's `kid` *and* whose type fits the algorithm (EC P-256 for ES256, RSA for RS256;
//!   a JWK `alg`, when present, must equal the header's). No `kid`, no key;
//! * a header that names or embeds a key (`jku`, `x5u`, `jwk`, `x5c`) is rejected, and so is
//!   any `crit` header;
//! * ES256 signatures must be the 64-byte `R || S` form (DER is rejected);
//! * the signature is checked over the exact received `header.payload` bytes, before the
//!   payload is parsed;
//! * claims: `exp`, `sub`, `aud`, `role` (and `iss` when an issuer is configured) are
//!   required; `exp`/`nbf`/`iat` must be JSON numbers; invalid when `now >= exp + leeway`
//!   or `now + leeway < nbf`; `aud` is a string or an array of strings containing the
//!   audience; `iss` equals the configured issuer; `sub` is a UUID (8-4-4-4-12 hex);
//! * one other shape is accepted: a project API key (Supabase's legacy `anon` and
//!   `service_role` keys), HS256 with the project secret, claims `iss` = `"supabase"`, `ref`
//!   (the project ref), `role` `anon` | `service_role`, `iat`, `exp`, and neither `sub` nor
//!   `aud`. Its `exp` is checked like any other; when the configured issuer names a hosted
//!   project (`https://<ref>.supabase.co/...`), `ref` must be that project's. See
//!   [`TokenKind`].
//!
//! Cryptography comes from `jwt-simple` (key types: [`HS256Key`], [`ES256PublicKey`],
//! [`RS256PublicKey`]) and the crates it is built on (`p256`, `superboring`); all token
//! parsing and claim checks are done here, so `jwt-simple`'s own header/claims parsing never
//! decides anything. Nothing in this module panics on untrusted input.

use std::fmt;

use jwt_simple::algorithms::{
    ECDSAP256PublicKeyLike, ES256PublicKey, HS256Key, MACLike, RS256PublicKey, RSAPublicKeyLike,
};
use serde_json::{Map, Value};

use crate::encoding::{base64url_decode, base64url_encode, constant_time_eq};

/// Tokens longer than this (in bytes) are rejected before parsing.
pub const MAX_TOKEN_BYTES: usize = 8192;
/// The only algorithms ever accepted.
pub const ALLOWED_ALGORITHMS: [&str; 3] = ["HS256", "ES256", "RS256"];
/// HS256 secrets shorter than this are refused (jwt-simple's own lower bound).
pub const MIN_HS256_SECRET_BYTES: usize = 12;
/// RSA JWKS keys with a shorter modulus are refused (RFC 7518 §3.3 requires 2048 bits).
pub const MIN_RSA_MODULUS_BITS: usize = 2048;
/// Header parameters that name or embed a key; a token carrying any of them is rejected.
pub const FORBIDDEN_HEADER_PARAMS: [&str; 4] = ["jku", "x5u", "jwk", "x5c"];

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Why a [`JwtConfig`] could not be built. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtConfigError {
    /// The HS256 secret is non-empty but shorter than [`MIN_HS256_SECRET_BYTES`].
    WeakHs256Secret,
    /// The audience is empty.
    EmptyAudience,
    /// The configured issuer is `Some("")`.
    EmptyIssuer,
    /// The JWKS document is not JSON, or not an object with a `keys` array.
    InvalidJwks(&'static str),
    /// A JWKS entry that claims to be an ES256/RS256 verification key is unusable.
    InvalidJwk { index: usize, reason: &'static str },
}

impl fmt::Display for JwtConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtConfigError::WeakHs256Secret => {
                write!(f, "the HS256 JWT secret is shorter than {MIN_HS256_SECRET_BYTES} bytes")
            }
            JwtConfigError::EmptyAudience => write!(f, "the JWT audience is empty"),
            JwtConfigError::EmptyIssuer => write!(f, "the JWT issuer is configured but empty"),
            JwtConfigError::InvalidJwks(why) => write!(f, "invalid JWKS document: {why}"),
            JwtConfigError::InvalidJwk { index, reason } => {
                write!(f, "invalid JWKS key at index {index}: {reason}")
            }
        }
    }
}

impl std::error::Error for JwtConfigError {}

#[derive(Clone)]
struct Es256Key {
    kid: String,
    key: ES256PublicKey,
}

#[derive(Clone)]
struct Rs256Key {
    kid: String,
    key: RS256PublicKey,
}

/// Everything needed to verify a token: keys, expected issuer/audience and leeway.
/// Built once per request from configuration; `Debug` never prints key material.
#[derive(Clone)]
pub struct JwtConfig {
    hs256: Option<HS256Key>,
    es256: Vec<Es256Key>,
    rs256: Vec<Rs256Key>,
    issuer: Option<String>,
    audience: String,
    /// The project ref a project API key must carry, derived from a hosted project's issuer.
    project_ref: Option<String>,
    /// Clock-skew tolerance in seconds for `exp` and `nbf` (default 0).
    leeway_s: u32,
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field("hs256", &self.hs256.is_some())
            .field("es256_kids", &self.es256.iter().map(|k| &k.kid).collect::<Vec<_>>())
            .field("rs256_kids", &self.rs256.iter().map(|k| &k.kid).collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("project_ref", &self.project_ref)
            .field("leeway_s", &self.leeway_s)
            .finish()
    }
}

impl JwtConfig {
    /// * `hs256_secret`: the project JWT secret. `None` or `Some("")`: HS256 tokens are
    ///   rejected ([`Rejection::UnknownKey`]). Shorter than [`MIN_HS256_SECRET_BYTES`]: error.
    /// * `jwks_json`: the JWKS document (`{"keys":[...]}`). `None`/blank: no ES256/RS256 keys.
    ///   Entries that are not ES256/RS256 signature-verification keys (other `kty`, `crv` or
    ///   `alg`, `use` ≠ `sig`, `key_ops` without `verify`, no `kid`) are skipped; an entry that
    ///   is such a key but has broken parameters (bad base64, point not on the curve, RSA
    ///   modulus < 2048 bits) is an error, so a misconfiguration is loud.
    /// * `issuer`: when `Some`, `iss` is required and must equal it.
    /// * `audience`: `aud` must be, or contain, this value (Supabase: `"authenticated"`).
    pub fn new(
        hs256_secret: Option<&str>,
        jwks_json: Option<&str>,
        issuer: Option<&str>,
        audience: &str,
    ) -> Result<Self, JwtConfigError> {
        let hs256 = match hs256_secret {
            None | Some("") => None,
            Some(s) if s.len() < MIN_HS256_SECRET_BYTES => return Err(JwtConfigError::WeakHs256Secret),
            Some(s) => Some(HS256Key::from_bytes(s.as_bytes())),
        };
        if audience.is_empty() {
            return Err(JwtConfigError::EmptyAudience);
        }
        if issuer == Some("") {
            return Err(JwtConfigError::EmptyIssuer);
        }
        let (es256, rs256) = match jwks_json {
            Some(doc) if !doc.trim().is_empty() => parse_jwks(doc)?,
            _ => (Vec::new(), Vec::new()),
        };
        Ok(JwtConfig {
            hs256,
            es256,
            rs256,
            issuer: issuer.map(str::to_owned),
            audience: audience.to_owned(),
            project_ref: issuer.and_then(hosted_project_ref),
            leeway_s: 0,
        })
    }

    /// Adds the ES256/RS256 keys of another JWKS document (one fetched from `jwks_url`) to
    /// the configured ones. Same rules as the `jwks_json` of [`JwtConfig::new`].
    pub fn with_jwks(mut self, jwks_json: &str) -> Result<Self, JwtConfigError> {
        let (es256, rs256) = parse_jwks(jwks_json)?;
        self.es256.extend(es256);
        self.rs256.extend(rs256);
        Ok(self)
    }

    /// Whether a key with this `kid` can verify `alg` (`ES256` or `RS256`) tokens.
    pub fn has_key(&self, alg: &str, kid: &str) -> bool {
        match alg {
            "ES256" => self.es256.iter().any(|k| k.kid == kid),
            "RS256" => self.rs256.iter().any(|k| k.kid == kid),
            _ => false,
        }
    }

    /// Sets the clock-skew tolerance (seconds) applied to `exp` and `nbf`.
    pub fn with_leeway(mut self, seconds: u32) -> Self {
        self.leeway_s = seconds;
        self
    }

    /// The clock-skew tolerance in seconds.
    pub fn leeway(&self) -> u32 {
        self.leeway_s
    }

    /// Whether HS256 tokens can be verified (a secret is configured).
    pub fn has_hs256(&self) -> bool {
        self.hs256.is_some()
    }

    /// Number of usable ES256 and RS256 keys loaded from the JWKS.
    pub fn jwks_key_count(&self) -> usize {
        self.es256.len() + self.rs256.len()
    }

    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The project ref project API keys must carry, when the issuer names a hosted project.
    pub fn project_ref(&self) -> Option<&str> {
        self.project_ref.as_deref()
    }
}

/// `abcdefghijklmnopqrst` of `https://abcdefghijklmnopqrst.supabase.co/auth/v1`: a hosted
/// Supabase project's ref, which its API keys carry as `ref`. Other issuers (a local or
/// self-hosted Supabase) name no ref.
fn hosted_project_ref(issuer: &str) -> Option<String> {
    let host = issuer.strip_prefix("https://")?.split(['/', ':']).next()?;
    let project = host.strip_suffix(".supabase.co")?;
    (!project.is_empty() && !project.contains('.')).then(|| project.to_owned())
}

type JwksKeys = (Vec<Es256Key>, Vec<Rs256Key>);

fn parse_jwks(doc: &str) -> Result<JwksKeys, JwtConfigError> {
    let v: Value = serde_json::from_str(doc).map_err(|_| JwtConfigError::InvalidJwks("not valid JSON"))?;
    let keys = v
        .as_object()
        .ok_or(JwtConfigError::InvalidJwks("not a JSON object"))?
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwtConfigError::InvalidJwks("no \"keys\" array"))?;
    let mut es256 = Vec::new();
    let mut rs256 = Vec::new();
    for (index, jwk) in keys.iter().enumerate() {
        let bad = |reason| JwtConfigError::InvalidJwk { index, reason };
        let jwk = jwk.as_object().ok_or(bad("not a JSON object"))?;
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);

        // Only public signature-verification keys are candidates.
        if let Some(u) = jwk.get("use") {
            if u.as_str() != Some("sig") {
                continue;
            }
        }
        if let Some(ops) = jwk.get("key_ops") {
            let verify = ops.as_array().is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
            if !verify {
                continue;
            }
        }
        let kid = match text("kid") {
            Some(k) if !k.is_empty() => k.to_owned(),
            _ => continue, // unselectable: header.kid must equal the JWK's kid
        };
        let alg = jwk.get("alg");
        match text("kty") {
            Some("EC") => {
                if alg.is_some_and(|a| a.as_str() != Some("ES256")) || text("crv") != Some("P-256") {
                    continue;
                }
                let x = text("x").and_then(base64url_decode).ok_or(bad("EC \"x\" is not base64url"))?;
                let y = text("y").and_then(base64url_decode).ok_or(bad("EC \"y\" is not base64url"))?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(bad("EC P-256 coordinates must be 32 bytes"));
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let key = ES256PublicKey::from_bytes(&point).map_err(|_| bad("EC point is not on P-256"))?;
                es256.push(Es256Key { kid, key });
            }
            Some("RSA") => {
                if alg.is_some_and(|a| a.as_str() != Some("RS256")) {
                    continue;
                }
                let n = text("n").and_then(base64url_decode).ok_or(bad("RSA \"n\" is not base64url"))?;
                let e = text("e").and_then(base64url_decode).ok_or(bad("RSA \"e\" is not base64url"))?;
                if bit_length(&n) < MIN_RSA_MODULUS_BITS {
                    return Err(bad("RSA modulus shorter than 2048 bits"));
                }
                let key = RS256PublicKey::from_components(&n, &e).map_err(|_| bad("RSA public key rejected"))?;
                rs256.push(Rs256Key { kid, key });
            }
            _ => continue,
        }
    }
    Ok((es256, rs256))
}

fn bit_length(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        None => 0,
        Some(i) => (be.len() - i) * 8 - be[i].leading_zeros() as usize,
    }
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// What a verified token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A user's access token (`sub`, `aud`, `role`; issued by Supabase Auth).
    User,
    /// A project API key: Supabase's legacy `anon` or `service_role` key (`iss` "supabase",
    /// `ref`, `role`; no `sub`, no `aud`), HS256 with the project secret. It stands for the
    /// project, not for a user: `sub` is empty.
    ProjectKey,
}

/// The verified claims of an access token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Claims {
    pub kind: TokenKind,
    /// The user id (UUID text, lower-cased); empty for a project API key.
    pub sub: String,
    /// `authenticated` | `service_role` | `anon` in Supabase; any string is carried as-is —
    /// authorization (and mapping to a database role) is the caller's job.
    pub role: String,
    /// `email` when it is a string.
    pub email: Option<String>,
    /// `session_id` when it is a string.
    pub session_id: Option<String>,
    /// `aud` normalized to a list.
    pub aud: Vec<String>,
    pub iss: Option<String>,
    /// `exp` in whole seconds (fractional values floored).
    pub exp: i64,
    /// `iat` in whole seconds, when present.
    pub iat: Option<i64>,
    /// `is_anonymous` (Supabase anonymous sign-in); false when absent or not a boolean.
    pub is_anonymous: bool,
    /// The signing algorithm (`HS256`, `ES256` or `RS256`).
    pub alg: &'static str,
    /// The full payload, to pass on as `request.jwt.claims`.
    pub raw: Value,
}

/// Why a token was rejected. Every variant maps to HTTP 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    TooLarge,
    Malformed,
    UnsupportedAlgorithm,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    MissingClaim,
    /// A claim is present but has the wrong JSON type (e.g. `exp` as a string).
    InvalidClaim,
    InvalidSubject,
    CritHeader,
    /// `jku`, `x5u`, `jwk` or `x5c` in the header.
    ForbiddenHeader,
}

impl Rejection {
    pub const ALL: [Rejection; 14] = [
        Rejection::TooLarge,
        Rejection::Malformed,
        Rejection::UnsupportedAlgorithm,
        Rejection::UnknownKey,
        Rejection::BadSignature,
        Rejection::Expired,
        Rejection::NotYetValid,
        Rejection::WrongAudience,
        Rejection::WrongIssuer,
        Rejection::MissingClaim,
        Rejection::InvalidClaim,
        Rejection::InvalidSubject,
        Rejection::CritHeader,
        Rejection::ForbiddenHeader,
    ];

    /// Stable snake_case machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::TooLarge => "token_too_large",
            Rejection::Malformed => "token_malformed",
            Rejection::UnsupportedAlgorithm => "unsupported_algorithm",
            Rejection::UnknownKey => "unknown_signing_key",
            Rejection::BadSignature => "invalid_signature",
            Rejection::Expired => "token_expired",
            Rejection::NotYetValid => "token_not_yet_valid",
            Rejection::WrongAudience => "invalid_audience",
            Rejection::WrongIssuer => "invalid_issuer",
            Rejection::MissingClaim => "missing_claim",
            Rejection::InvalidClaim => "invalid_claim",
            Rejection::InvalidSubject => "invalid_subject",
            Rejection::CritHeader => "unsupported_critical_header",
            Rejection::ForbiddenHeader => "forbidden_header_parameter",
        }
    }

    /// A human sentence (no token content, no secrets).
    pub fn message(&self) -> &'static str {
        match self {
            Rejection::TooLarge => "The bearer token exceeds the maximum allowed size.",
            Rejection::Malformed => "The bearer token is not a well-formed JWT.",
            Rejection::UnsupportedAlgorithm => "The token's signing algorithm is not accepted.",
            Rejection::UnknownKey => "No trusted key matches the token's algorithm and key id.",
            Rejection::BadSignature => "The token signature is invalid.",
            Rejection::Expired => "The token has expired.",
            Rejection::NotYetValid => "The token is not valid yet.",
            Rejection::WrongAudience => "The token was not issued for this audience.",
            Rejection::WrongIssuer => "The token was not issued by the expected issuer.",
            Rejection::MissingClaim => "The token lacks a required claim.",
            Rejection::InvalidClaim => "A token claim has an invalid type or value.",
            Rejection::InvalidSubject => "The token subject is not a valid user id.",
            Rejection::CritHeader => "The token requires an unsupported critical extension.",
            Rejection::ForbiddenHeader => {
                "The token header names or embeds a key (jku, x5u, jwk, x5c), which is not accepted."
            }
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Rejection {}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Alg {
    Hs256,
    Es256,
    Rs256,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Es256 => "ES256",
            Alg::Rs256 => "RS256",
        }
    }
}

/// Verifies `token` (the text after `Bearer `) at time `now_unix` (seconds).
pub fn verify(token: &str, cfg: &JwtConfig, now_unix: i64) -> Result<Claims, Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::TooLarge);
    }

    // Structure: exactly three segments, each strict unpadded base64url.
    let mut parts = token.split('.');
    let (h64, p64, s64) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => (h, p, s),
        _ => return Err(Rejection::Malformed),
    };
    let header_bytes = base64url_decode(h64).ok_or(Rejection::Malformed)?;
    let payload_bytes = base64url_decode(p64).ok_or(Rejection::Malformed)?;
    let signature = base64url_decode(s64).ok_or(Rejection::Malformed)?;

    // Header.
    let header = match serde_json::from_slice::<Value>(&header_bytes) {
        Ok(Value::Object(m)) => m,
        _ => return Err(Rejection::Malformed),
    };
    if header.contains_key("crit") {
        return Err(Rejection::CritHeader);
    }
    if FORBIDDEN_HEADER_PARAMS.iter().any(|p| header.contains_key(*p)) {
        return Err(Rejection::ForbiddenHeader);
    }
    let alg = match header.get("alg") {
        Some(Value::String(a)) => match a.as_str() {
            "HS256" => Alg::Hs256,
            "ES256" => Alg::Es256,
            "RS256" => Alg::Rs256,
            _ => return Err(Rejection::UnsupportedAlgorithm),
        },
        _ => return Err(Rejection::Malformed),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err(Rejection::Malformed),
    };

    // Signature over the exact received bytes `header.payload`.
    let signing_input = &token.as_bytes()[..h64.len() + 1 + p64.len()];
    verify_signature(alg, kid, signing_input, &signature, cfg)?;

    // Payload (authenticated from here on).
    let payload = match serde_json::from_slice::<Value>(&payload_bytes) {
        Ok(Value::Object(m)) => m,
        _ => return Err(Rejection::Malformed),
    };
    let claims = match project_key_role(&payload) {
        Some(_) if matches!(alg, Alg::Hs256) => check_project_key(&payload, cfg, now_unix)?,
        _ => check_claims(&payload, cfg, now_unix)?,
    };
    Ok(Claims { alg: alg.name(), raw: Value::Object(payload), ..claims })
}

fn verify_signature(
    alg: Alg,
    kid: Option<&str>,
    signing_input: &[u8],
    signature: &[u8],
    cfg: &JwtConfig,
) -> Result<(), Rejection> {
    match alg {
        Alg::Hs256 => {
            // Only the project secret; a header kid never selects an HMAC key.
            let key = cfg.hs256.as_ref().ok_or(Rejection::UnknownKey)?;
            let tag = key.authentication_tag(signing_input);
            if constant_time_eq(&tag, signature) {
                Ok(())
            } else {
                Err(Rejection::BadSignature)
            }
        }
        Alg::Es256 => {
            let kid = kid.ok_or(Rejection::UnknownKey)?;
            let mut candidates = cfg.es256.iter().filter(|k| k.kid == kid).peekable();
            if candidates.peek().is_none() {
                return Err(Rejection::UnknownKey);
            }
            // JWS (RFC 7518 §3.4): exactly R || S, 32 bytes each. DER is not accepted.
            if signature.len() != 64 {
                return Err(Rejection::BadSignature);
            }
            let sig = p256::ecdsa::Signature::from_slice(signature).map_err(|_| Rejection::BadSignature)?;
            for k in candidates {
                use p256::ecdsa::signature::Verifier as _;
                if k.key.public_key().as_ref().verify(signing_input, &sig).is_ok() {
                    return Ok(());
                }
            }
            Err(Rejection::BadSignature)
        }
        Alg::Rs256 => {
            let kid = kid.ok_or(Rejection::UnknownKey)?;
            let mut candidates = cfg.rs256.iter().filter(|k| k.kid == kid).peekable();
            if candidates.peek().is_none() {
                return Err(Rejection::UnknownKey);
            }
            for k in candidates {
                if rs256_verify(&k.key, signing_input, signature) {
                    return Ok(());
                }
            }
            Err(Rejection::BadSignature)
        }
    }
}

fn rs256_verify(key: &RS256PublicKey, msg: &[u8], signature: &[u8]) -> bool {
    use superboring::{hash::MessageDigest, pkey::PKey, rsa::Padding, sign::Verifier};
    let rsa = key.public_key().as_ref();
    // PKCS#1 v1.5: the signature is exactly as long as the modulus.
    if signature.len() != rsa.size() as usize {
        return false;
    }
    let Ok(pkey) = PKey::from_rsa(rsa.clone()) else {
        return false;
    };
    let Ok(mut verifier) = Verifier::new(MessageDigest::sha256(), &pkey) else {
        return false;
    };
    if verifier.set_rsa_padding(Padding::PKCS1).is_err() || verifier.update(msg).is_err() {
        return false;
    }
    matches!(verifier.verify(signature), Ok(true))
}

/// The role of a payload shaped like a project API key: `iss` "supabase", a `ref`, `role`
/// `anon` or `service_role`, and neither `sub` nor `aud`. Anything else is checked as a user
/// token (so a user token lacking `sub` stays `missing_claim`).
fn project_key_role(p: &Map<String, Value>) -> Option<&str> {
    if p.contains_key("sub") || p.contains_key("aud") || p.get("iss").and_then(Value::as_str) != Some("supabase") {
        return None;
    }
    p.get("ref").and_then(Value::as_str)?;
    p.get("role").and_then(Value::as_str).filter(|r| matches!(*r, "anon" | "service_role"))
}

/// Time claims of an authenticated payload: `exp` required, `exp`/`nbf`/`iat` JSON numbers,
/// checked against `now` with the leeway. Returns `(exp, iat)`.
fn check_times(p: &Map<String, Value>, cfg: &JwtConfig, now: i64) -> Result<(f64, Option<f64>), Rejection> {
    let exp = p.get("exp").and_then(Value::as_f64).ok_or(Rejection::InvalidClaim)?;
    let nbf = match p.get("nbf") {
        None => None,
        Some(v) => Some(v.as_f64().ok_or(Rejection::InvalidClaim)?),
    };
    let iat = match p.get("iat") {
        None => None,
        Some(v) => Some(v.as_f64().ok_or(Rejection::InvalidClaim)?),
    };
    // f64 is exact for every integer below 2^53, i.e. any realistic NumericDate.
    let now = now as f64;
    let leeway = f64::from(cfg.leeway_s);
    if now >= exp + leeway {
        return Err(Rejection::Expired);
    }
    if let Some(nbf) = nbf {
        if now + leeway < nbf {
            return Err(Rejection::NotYetValid);
        }
    }
    Ok((exp, iat))
}

/// Claim checks of a project API key (HS256 only, see [`project_key_role`]): `exp` as for
/// any token, `ref` equal to the hosted project's when the issuer names one. The configured
/// issuer and audience are those of user tokens; a project key carries neither.
fn check_project_key(p: &Map<String, Value>, cfg: &JwtConfig, now: i64) -> Result<Claims, Rejection> {
    let role = project_key_role(p).ok_or(Rejection::InvalidClaim)?.to_owned();
    if !p.contains_key("exp") {
        return Err(Rejection::MissingClaim);
    }
    let (exp, iat) = check_times(p, cfg, now)?;
    let project = p.get("ref").and_then(Value::as_str).unwrap_or_default();
    if project.is_empty() || cfg.project_ref.as_deref().is_some_and(|expected| expected != project) {
        return Err(Rejection::WrongIssuer);
    }
    Ok(Claims {
        kind: TokenKind::ProjectKey,
        sub: String::new(),
        role,
        email: None,
        session_id: None,
        aud: Vec::new(),
        iss: Some("supabase".to_owned()),
        exp: float_to_secs(exp),
        iat: iat.map(float_to_secs),
        is_anonymous: false,
        alg: "",
        raw: Value::Null,
    })
}

/// Claim checks on an authenticated payload. Returns `Claims` with `alg`/`raw` placeholders.
fn check_claims(p: &Map<String, Value>, cfg: &JwtConfig, now: i64) -> Result<Claims, Rejection> {
    // Required claims present (null counts as present, with the wrong type).
    for name in ["exp", "sub", "aud", "role"] {
        if !p.contains_key(name) {
            return Err(Rejection::MissingClaim);
        }
    }
    if cfg.issuer.is_some() && !p.contains_key("iss") {
        return Err(Rejection::MissingClaim);
    }

    // Types of the registered time claims: JSON numbers (RFC 7519 NumericDate); then time.
    let (exp, iat) = check_times(p, cfg, now)?;

    // Audience: a string or an array of strings containing ours.
    let aud: Vec<String> = match p.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or(Rejection::InvalidClaim))
            .collect::<Result<_, _>>()?,
        _ => return Err(Rejection::InvalidClaim),
    };
    if !aud.contains(&cfg.audience) {
        return Err(Rejection::WrongAudience);
    }

    // Issuer.
    let iss = match p.get("iss") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(Rejection::InvalidClaim),
    };
    if let Some(expected) = &cfg.issuer {
        if iss.as_deref() != Some(expected.as_str()) {
            return Err(Rejection::WrongIssuer);
        }
    }

    // Subject: the user's UUID.
    let sub = match p.get("sub") {
        Some(Value::String(s)) if is_uuid(s) => s.to_ascii_lowercase(),
        _ => return Err(Rejection::InvalidSubject),
    };

    let role = match p.get("role") {
        Some(Value::String(r)) => r.clone(),
        _ => return Err(Rejection::InvalidClaim),
    };

    let text = |name: &str| p.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(Claims {
        kind: TokenKind::User,
        sub,
        role,
        email: text("email"),
        session_id: text("session_id"),
        aud,
        iss,
        exp: float_to_secs(exp),
        iat: iat.map(float_to_secs),
        is_anonymous: p.get("is_anonymous").and_then(Value::as_bool).unwrap_or(false),
        alg: "",
        raw: Value::Null,
    })
}

/// Floors a NumericDate to whole seconds (saturating; `as` never panics).
fn float_to_secs(v: f64) -> i64 {
    v.floor() as i64
}

/// `8-4-4-4-12` hexadecimal digits (either case).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

// ---------------------------------------------------------------------------------------------
// Minting (tests and dev tooling)
// ---------------------------------------------------------------------------------------------

/// Mints an HS256 token: header `{"alg":"HS256","typ":"JWT"}`, payload `claims` as given.
/// For tests, dev tooling and our own probes; production tokens are issued by Supabase Auth.
pub fn mint_hs256(claims: &serde_json::Value, secret: &str) -> String {
    mint_hs256_with_header(&serde_json::json!({"alg": "HS256", "typ": "JWT"}), claims, secret.as_bytes())
}

/// As [`mint_hs256`] with any header and key bytes (the security scan's key-confusion probe
/// signs with a public key and names its `kid`).
pub fn mint_hs256_with_header(header: &serde_json::Value, claims: &serde_json::Value, key: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_else(|_| b"null".to_vec());
    let mut token = base64url_encode(header.to_string().as_bytes());
    token.push('.');
    token.push_str(&base64url_encode(&payload));
    let tag = HS256Key::from_bytes(key).authentication_tag(token.as_bytes());
    token.push('.');
    token.push_str(&base64url_encode(&tag));
    token
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "unit-test-secret-with-at-least-32-characters";
    const ISS: &str = "http://127.0.0.1:54321/auth/v1";
    const NOW: i64 = 1_795_000_000;
    const USER: &str = "3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b";

    fn cfg() -> JwtConfig {
        JwtConfig::new(Some(SECRET), None, Some(ISS), "authenticated").unwrap()
    }

    fn claims() -> Value {
        json!({
            "aud": "authenticated", "exp": NOW + 3600, "iat": NOW - 60, "iss": ISS,
            "sub": USER, "role": "authenticated", "email": "a@example.com",
            "session_id": "6b1d0c8e-2f7a-4c3b-9e5d-8a7f6e5d4c3b", "is_anonymous": false
        })
    }

    /// Signs arbitrary `header.payload` text with HS256 (the MAC covers exactly those bytes).
    fn sign_raw(signing_input: &str, secret: &str) -> String {
        let tag = HS256Key::from_bytes(secret.as_bytes()).authentication_tag(signing_input.as_bytes());
        format!("{signing_input}.{}", base64url_encode(&tag))
    }

    fn with(mut v: Value, key: &str, val: Value) -> Value {
        v[key] = val;
        v
    }

    fn without(mut v: Value, key: &str) -> Value {
        v.as_object_mut().unwrap().remove(key);
        v
    }

    /// Tiny deterministic PRNG (xorshift64*), enough for fuzz-ish loops.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn mint_verify_roundtrip() {
        let token = mint_hs256(&claims(), SECRET);
        let c = verify(&token, &cfg(), NOW).expect("valid");
        assert_eq!(c.sub, USER);
        assert_eq!(c.role, "authenticated");
        assert_eq!(c.email.as_deref(), Some("a@example.com"));
        assert_eq!(c.session_id.as_deref(), Some("6b1d0c8e-2f7a-4c3b-9e5d-8a7f6e5d4c3b"));
        assert_eq!(c.aud, vec!["authenticated".to_string()]);
        assert_eq!(c.iss.as_deref(), Some(ISS));
        assert_eq!(c.exp, NOW + 3600);
        assert_eq!(c.iat, Some(NOW - 60));
        assert_eq!(c.alg, "HS256");
        assert!(!c.is_anonymous);
        assert_eq!(c.raw, claims());
        // the header is exactly what mint_hs256 documents
        let h = token.split('.').next().unwrap();
        assert_eq!(base64url_decode(h).unwrap(), br#"{"alg":"HS256","typ":"JWT"}"#);
        // another secret does not verify it
        let other =
            JwtConfig::new(Some("a-different-secret-of-enough-length"), None, Some(ISS), "authenticated").unwrap();
        assert_eq!(verify(&token, &other, NOW).unwrap_err(), Rejection::BadSignature);
    }

    /// A project API key as Supabase mints them (the dashboard's anon and service_role keys).
    fn project_key(role: &str) -> Value {
        json!({ "iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": role, "iat": NOW - 86_400, "exp": NOW + 86_400 * 3650 })
    }

    #[test]
    fn project_api_keys_are_accepted_with_their_role() {
        let v = |claims: Value, cfg: &JwtConfig| verify(&mint_hs256(&claims, SECRET), cfg, NOW);
        for role in ["service_role", "anon"] {
            let c = v(project_key(role), &cfg()).expect("a project key with the configured issuer set");
            assert_eq!((c.kind, c.role.as_str(), c.sub.as_str()), (TokenKind::ProjectKey, role, ""));
            assert!(c.aud.is_empty());
            assert_eq!(c.iss.as_deref(), Some("supabase"));
        }
        let unconfigured = JwtConfig::new(Some(SECRET), None, None, "authenticated").unwrap();
        assert_eq!(v(project_key("service_role"), &unconfigured).unwrap().kind, TokenKind::ProjectKey);
        // Expired keys are expired; exp is required.
        assert_eq!(v(with(project_key("service_role"), "exp", json!(NOW)), &cfg()).unwrap_err(), Rejection::Expired);
        assert_eq!(v(without(project_key("service_role"), "exp"), &cfg()).unwrap_err(), Rejection::MissingClaim);
        // Any other role, a missing ref or another issuer is a user token lacking sub.
        assert_eq!(v(with(project_key("authenticated"), "x", json!(1)), &cfg()).unwrap_err(), Rejection::MissingClaim);
        assert_eq!(v(without(project_key("service_role"), "ref"), &cfg()).unwrap_err(), Rejection::MissingClaim);
        assert_eq!(
            v(with(project_key("service_role"), "iss", json!(ISS)), &cfg()).unwrap_err(),
            Rejection::MissingClaim
        );
        // A sub or an aud makes it a user token, checked as one.
        assert_eq!(
            v(with(project_key("service_role"), "sub", json!("admin")), &cfg()).unwrap_err(),
            Rejection::MissingClaim
        );
        let with_aud = with(project_key("service_role"), "aud", json!("authenticated"));
        assert_eq!(v(with_aud, &cfg()).unwrap_err(), Rejection::MissingClaim);
        // Another project's key, when the issuer names a hosted project.
        let hosted = JwtConfig::new(
            Some(SECRET),
            None,
            Some("https://abcdefghijklmnopqrst.supabase.co/auth/v1"),
            "authenticated",
        )
        .unwrap();
        assert_eq!(hosted.project_ref(), Some("abcdefghijklmnopqrst"));
        assert!(v(project_key("anon"), &hosted).is_ok());
        let other = with(project_key("service_role"), "ref", json!("zzzzzzzzzzzzzzzzzzzz"));
        assert_eq!(v(other, &hosted).unwrap_err(), Rejection::WrongIssuer);
        assert_eq!(cfg().project_ref(), None, "a local issuer names no project");
        // Signed with another secret: refused like any token.
        let forged = mint_hs256(&project_key("service_role"), "a-different-secret-of-enough-length");
        assert_eq!(verify(&forged, &cfg(), NOW).unwrap_err(), Rejection::BadSignature);
    }

    #[test]
    fn claim_rules() {
        let c = cfg();
        let v = |claims: Value| verify(&mint_hs256(&claims, SECRET), &c, NOW);
        assert_eq!(v(with(claims(), "exp", json!(NOW))).unwrap_err(), Rejection::Expired);
        assert!(v(with(claims(), "exp", json!(NOW + 1))).is_ok());
        assert!(v(with(claims(), "exp", json!(NOW as f64 + 0.5))).is_ok());
        assert_eq!(v(with(claims(), "exp", json!(u64::MAX))).unwrap().exp, i64::MAX);
        assert_eq!(v(with(claims(), "exp", json!("4102444800"))).unwrap_err(), Rejection::InvalidClaim);
        assert_eq!(v(with(claims(), "exp", Value::Null)).unwrap_err(), Rejection::InvalidClaim);
        assert_eq!(v(without(claims(), "exp")).unwrap_err(), Rejection::MissingClaim);
        assert_eq!(v(with(claims(), "nbf", json!(NOW + 1))).unwrap_err(), Rejection::NotYetValid);
        assert!(v(with(claims(), "nbf", json!(NOW))).is_ok());
        assert_eq!(v(with(claims(), "nbf", json!("0"))).unwrap_err(), Rejection::InvalidClaim);
        assert_eq!(v(with(claims(), "iat", json!("0"))).unwrap_err(), Rejection::InvalidClaim);
        assert!(v(with(claims(), "aud", json!(["x", "authenticated"]))).is_ok());
        assert_eq!(v(with(claims(), "aud", json!([]))).unwrap_err(), Rejection::WrongAudience);
        assert_eq!(v(with(claims(), "aud", json!("anon"))).unwrap_err(), Rejection::WrongAudience);
        assert_eq!(v(with(claims(), "aud", json!("Authenticated"))).unwrap_err(), Rejection::WrongAudience);
        assert_eq!(v(with(claims(), "aud", json!(5))).unwrap_err(), Rejection::InvalidClaim);
        assert_eq!(v(with(claims(), "aud", json!(["authenticated", 5]))).unwrap_err(), Rejection::InvalidClaim);
        assert_eq!(v(without(claims(), "aud")).unwrap_err(), Rejection::MissingClaim);
        assert_eq!(
            v(with(claims(), "iss", json!("https://evil.example/auth/v1"))).unwrap_err(),
            Rejection::WrongIssuer
        );
        assert_eq!(v(without(claims(), "iss")).unwrap_err(), Rejection::MissingClaim);
        assert_eq!(v(with(claims(), "sub", json!("admin"))).unwrap_err(), Rejection::InvalidSubject);
        assert_eq!(v(with(claims(), "sub", json!(42))).unwrap_err(), Rejection::InvalidSubject);
        assert_eq!(
            v(with(claims(), "sub", json!("3f9c2b7e5d414a8e9b6f1c2d3e4f5a6b0000"))).unwrap_err(),
            Rejection::InvalidSubject
        );
        assert_eq!(v(with(claims(), "sub", json!("3F9C2B7E-5D41-4A8E-9B6F-1C2D3E4F5A6B"))).unwrap().sub, USER);
        assert_eq!(v(without(claims(), "sub")).unwrap_err(), Rejection::MissingClaim);
        assert_eq!(v(without(claims(), "role")).unwrap_err(), Rejection::MissingClaim);
        assert_eq!(v(with(claims(), "role", json!(["service_role"]))).unwrap_err(), Rejection::InvalidClaim);
        let anon = v(with(with(claims(), "role", json!("anon")), "is_anonymous", json!(true))).unwrap();
        assert!(anon.is_anonymous && anon.role == "anon");
        let no_email = v(without(without(claims(), "email"), "session_id")).unwrap();
        assert_eq!((no_email.email, no_email.session_id), (None, None));
        // payload must be an object
        assert_eq!(v(json!([1, 2])).unwrap_err(), Rejection::Malformed);
        assert_eq!(v(json!("x")).unwrap_err(), Rejection::Malformed);
    }

    #[test]
    fn issuer_optional_when_not_configured() {
        let c = JwtConfig::new(Some(SECRET), None, None, "authenticated").unwrap();
        assert!(verify(&mint_hs256(&without(claims(), "iss"), SECRET), &c, NOW).is_ok());
        let any_iss = with(claims(), "iss", json!("https://elsewhere.example"));
        assert!(verify(&mint_hs256(&any_iss, SECRET), &c, NOW).is_ok());
        assert_eq!(
            verify(&mint_hs256(&with(claims(), "iss", json!(1)), SECRET), &c, NOW).unwrap_err(),
            Rejection::InvalidClaim
        );
    }

    #[test]
    fn leeway_applies_to_exp_and_nbf() {
        let c = cfg().with_leeway(30);
        assert_eq!(c.leeway(), 30);
        let v = |claims: Value| verify(&mint_hs256(&claims, SECRET), &c, NOW);
        assert!(v(with(claims(), "exp", json!(NOW))).is_ok());
        assert!(v(with(claims(), "exp", json!(NOW - 29))).is_ok());
        assert_eq!(v(with(claims(), "exp", json!(NOW - 30))).unwrap_err(), Rejection::Expired);
        assert!(v(with(claims(), "nbf", json!(NOW + 30))).is_ok());
        assert_eq!(v(with(claims(), "nbf", json!(NOW + 31))).unwrap_err(), Rejection::NotYetValid);
        // default leeway is 0
        assert_eq!(cfg().leeway(), 0);
    }

    #[test]
    fn padding_and_whitespace_are_rejected_even_with_a_valid_mac() {
        // a payload whose encoding is not a multiple of 4 chars (so it has a padded form)
        let token = (0..3)
            .map(|n| mint_hs256(&with(claims(), "pad", json!("x".repeat(n))), SECRET))
            .find(|t| t.split('.').nth(1).unwrap().len() % 4 != 0)
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let (h, p) = (parts[0], parts[1]);
        assert!(verify(&token, &cfg(), NOW).is_ok());

        // Correct '=' padding on the payload / header, MAC computed over those exact bytes.
        let pad = |s: &str| {
            assert!(!s.len().is_multiple_of(4), "test needs a segment that has padding");
            format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4))
        };
        // the unpadded header above is accepted when signed, so only the padding is at fault
        let hk = base64url_encode(br#"{"alg":"HS256","kid":"k"}"#);
        assert!(verify(&sign_raw(&format!("{hk}.{p}"), SECRET), &cfg(), NOW).is_ok());
        let mut variants = vec![
            sign_raw(&format!("{h}.{}", pad(p)), SECRET),
            // (a header of 25 bytes: its encoding needs "==")
            sign_raw(&format!("{}.{p}", pad(&base64url_encode(br#"{"alg":"HS256","kid":"k"}"#))), SECRET),
            sign_raw(&format!("{h}.{p}="), SECRET),
            // embedded or surrounding whitespace
            sign_raw(&format!("{h}.{} {}", &p[..10], &p[10..]), SECRET),
            sign_raw(&format!("{h}.{}\n{}", &p[..10], &p[10..]), SECRET),
            sign_raw(&format!(" {h}.{p}"), SECRET),
            // standard (non-url) alphabet
            sign_raw(&format!("{h}.{}+{}", &p[..10], &p[11..]), SECRET),
            // characters outside the alphabet
            sign_raw(&format!("{h}.{}!{}", &p[..10], &p[11..]), SECRET),
        ];
        // padding / whitespace on the signature segment itself
        variants.push(format!("{h}.{p}.{}", pad(parts[2]))); // 43 chars + "="
        variants.push(format!("{token} "));
        variants.push(format!("{token}\n"));
        variants.push(format!(" {token}"));
        variants.push(format!("{h}.{p}. {}", parts[2]));
        for t in &variants {
            assert_eq!(verify(t, &cfg(), NOW).unwrap_err(), Rejection::Malformed, "{t}");
        }
    }

    #[test]
    fn non_canonical_trailing_bits_are_rejected() {
        // "QQ" is canonical for [0x41]; "QR".."QZ" decode to the same byte with junk bits.
        assert_eq!(base64url_decode("QQ"), Some(vec![0x41]));
        assert_eq!(base64url_decode("QR"), None);
        assert_eq!(base64url_decode("QUI"), Some(vec![0x41, 0x42]));
        assert_eq!(base64url_decode("QUJ"), None);
        assert_eq!(base64url_decode("Q"), None);
        assert_eq!(base64url_decode(""), Some(vec![]));
        assert_eq!(base64url_decode("QQ=="), None);
        assert_eq!(base64url_decode("Q Q"), None);
        assert_eq!(base64url_decode("+/"), None);
        // encoder/decoder agree on every length and byte value
        let mut rng = Rng(7);
        for len in 0..200 {
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let enc = base64url_encode(&data);
            assert!(!enc.contains('='));
            assert_eq!(base64url_decode(&enc), Some(data));
        }
        assert_eq!(base64url_encode(b"\xfb\xff"), "-_8");
    }

    #[test]
    fn header_policy() {
        let c = cfg();
        let body = base64url_encode(&serde_json::to_vec(&claims()).unwrap());
        let t = |header: Value| {
            let h = base64url_encode(&serde_json::to_vec(&header).unwrap());
            verify(&sign_raw(&format!("{h}.{body}"), SECRET), &c, NOW)
        };
        assert!(t(json!({"alg":"HS256"})).is_ok());
        assert!(t(json!({"alg":"HS256","typ":"JWT","kid":"anything"})).is_ok());
        assert_eq!(t(json!({"alg":"none"})).unwrap_err(), Rejection::UnsupportedAlgorithm);
        assert_eq!(t(json!({"alg":"hs256"})).unwrap_err(), Rejection::UnsupportedAlgorithm);
        assert_eq!(t(json!({"alg":"HS512"})).unwrap_err(), Rejection::UnsupportedAlgorithm);
        assert_eq!(t(json!({"alg":"PS256"})).unwrap_err(), Rejection::UnsupportedAlgorithm);
        assert_eq!(t(json!({"typ":"JWT"})).unwrap_err(), Rejection::Malformed);
        assert_eq!(t(json!({"alg":256})).unwrap_err(), Rejection::Malformed);
        assert_eq!(t(json!({"alg":"HS256","kid":1})).unwrap_err(), Rejection::Malformed);
        assert_eq!(t(json!(["HS256"])).unwrap_err(), Rejection::Malformed);
        assert_eq!(t(json!({"alg":"HS256","crit":[]})).unwrap_err(), Rejection::CritHeader);
        assert_eq!(t(json!({"alg":"HS256","crit":["b64"],"b64":true})).unwrap_err(), Rejection::CritHeader);
        for p in FORBIDDEN_HEADER_PARAMS {
            let mut h = json!({"alg":"HS256"});
            h[p] = json!("https://attacker.example/x");
            assert_eq!(t(h).unwrap_err(), Rejection::ForbiddenHeader, "{p}");
        }
        // ES256/RS256 need a kid and a JWKS; none configured here
        assert_eq!(t(json!({"alg":"ES256","kid":"k"})).unwrap_err(), Rejection::UnknownKey);
        assert_eq!(t(json!({"alg":"RS256"})).unwrap_err(), Rejection::UnknownKey);
    }

    #[test]
    fn structure_and_size() {
        let c = cfg();
        let token = mint_hs256(&claims(), SECRET);
        let (h, rest) = token.split_once('.').unwrap();
        for bad in [
            "",
            ".",
            "..",
            "...",
            "a.b",
            "a.b.c.d",
            &format!("{token}."),
            &format!(".{token}"),
            h,
            &format!("{h}.{rest}.{rest}"),
        ] {
            assert_eq!(verify(bad, &c, NOW).unwrap_err(), Rejection::Malformed, "{bad:?}");
        }
        // empty signature → bad signature (never "unsigned = fine")
        let (signing_input, _) = token.rsplit_once('.').unwrap();
        assert_eq!(verify(&format!("{signing_input}."), &c, NOW).unwrap_err(), Rejection::BadSignature);
        // size limit is on bytes, checked first, and inclusive of exactly MAX_TOKEN_BYTES
        assert_eq!(verify(&"a".repeat(MAX_TOKEN_BYTES + 1), &c, NOW).unwrap_err(), Rejection::TooLarge);
        assert_eq!(verify(&"a".repeat(MAX_TOKEN_BYTES), &c, NOW).unwrap_err(), Rejection::Malformed);
        let base = mint_hs256(&with(claims(), "pad", json!("")), SECRET).len();
        // each 3 bytes of filler adds 4 base64 chars: find a filler landing exactly on the limit
        let exact = (0..8).find_map(|extra| {
            let n = (MAX_TOKEN_BYTES - base) / 4 * 3 + extra;
            let t = mint_hs256(&with(claims(), "pad", json!("x".repeat(n))), SECRET);
            (t.len() == MAX_TOKEN_BYTES).then_some(t)
        });
        let exact = exact.expect("a token of exactly MAX_TOKEN_BYTES");
        assert!(verify(&exact, &c, NOW).is_ok());
        let over = mint_hs256(&with(claims(), "pad", json!("x".repeat(MAX_TOKEN_BYTES))), SECRET);
        assert_eq!(verify(&over, &c, NOW).unwrap_err(), Rejection::TooLarge);
    }

    #[test]
    fn config_rules() {
        assert_eq!(
            JwtConfig::new(Some("short"), None, None, "authenticated").unwrap_err(),
            JwtConfigError::WeakHs256Secret
        );
        assert_eq!(JwtConfig::new(None, None, None, "").unwrap_err(), JwtConfigError::EmptyAudience);
        assert_eq!(JwtConfig::new(None, None, Some(""), "authenticated").unwrap_err(), JwtConfigError::EmptyIssuer);
        // no secret (or an empty one) → HS256 tokens rejected
        for secret in [None, Some("")] {
            let c = JwtConfig::new(secret, Some("  "), Some(ISS), "authenticated").unwrap();
            assert!(!c.has_hs256());
            assert_eq!(c.jwks_key_count(), 0);
            assert_eq!(verify(&mint_hs256(&claims(), SECRET), &c, NOW).unwrap_err(), Rejection::UnknownKey);
        }
        for bad in ["{", "[]", "{}", r#"{"keys":{}}"#] {
            assert!(
                matches!(JwtConfig::new(None, Some(bad), None, "authenticated"), Err(JwtConfigError::InvalidJwks(_))),
                "{bad}"
            );
        }
        // keys that are not ES256/RS256 verification keys are skipped
        let skipped = r#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0","kid":"h"},
            {"kty":"EC","crv":"P-384","x":"AA","y":"AA","kid":"p384"},
            {"kty":"EC","crv":"P-256","alg":"ES384","x":"AA","y":"AA","kid":"e"},
            {"kty":"RSA","alg":"PS256","n":"AQAB","e":"AQAB","kid":"ps"},
            {"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB","kid":"enc"},
            {"kty":"RSA","key_ops":["encrypt"],"n":"AQAB","e":"AQAB","kid":"ops"},
            {"kty":"RSA","n":"AQAB","e":"AQAB"},
            {"kty":"OKP","crv":"Ed25519","x":"AA","kid":"ed"}
        ]}"#;
        let c = JwtConfig::new(None, Some(skipped), None, "authenticated").unwrap();
        assert_eq!(c.jwks_key_count(), 0);
        // broken ES256/RS256 keys are errors
        let x = base64url_encode(&[1u8; 32]);
        for bad in [
            format!(r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{x}","y":"{x}","kid":"k"}}]}}"#),
            r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA==","y":"AA","kid":"k"}]}"#.to_string(),
            r#"{"keys":[{"kty":"RSA","alg":"RS256","n":"AQAB","e":"AQAB","kid":"k"}]}"#.to_string(),
            r#"{"keys":[7]}"#.to_string(),
        ] {
            assert!(
                matches!(
                    JwtConfig::new(None, Some(&bad), None, "authenticated"),
                    Err(JwtConfigError::InvalidJwk { .. })
                ),
                "{bad}"
            );
        }
        // Debug never shows the secret
        assert!(!format!("{:?}", cfg()).contains(SECRET));
    }

    #[test]
    fn rejection_codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for r in Rejection::ALL {
            let code = r.code();
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
            assert!(seen.insert(code), "duplicate {code}");
            assert!(r.message().ends_with('.'));
            assert_eq!(r.to_string(), r.message());
        }
    }

    #[test]
    fn garbage_never_panics_and_never_verifies() {
        let c = cfg();
        let valid = mint_hs256(&claims(), SECRET);
        assert!(verify(&valid, &c, NOW).is_ok());
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

        // every truncation (ASCII token: every index is a char boundary)
        for i in 0..valid.len() {
            assert!(verify(&valid[..i], &c, NOW).is_err());
            assert!(verify(&valid[i + 1..], &c, NOW).is_err());
        }
        // every single-character substitution is rejected
        let alphabet: Vec<char> = "ABCXYZabcxyz0189-_=.+/ !\u{e9}\u{1F600}\0".chars().collect();
        for i in 0..valid.len() {
            for &ch in &alphabet {
                if valid.as_bytes()[i] as char == ch {
                    continue;
                }
                let mut s = String::with_capacity(valid.len() + 4);
                s.push_str(&valid[..i]);
                s.push(ch);
                s.push_str(&valid[i + 1..]);
                assert!(verify(&s, &c, NOW).is_err(), "mutation at {i} to {ch:?} accepted");
            }
        }
        // random strings over a JWT-ish alphabet and over arbitrary chars
        let jwtish: Vec<char> =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \t\n{}\"".chars().collect();
        for round in 0..20_000 {
            let len = rng.below(if round % 100 == 0 { 9000 } else { 400 });
            let s: String = (0..len)
                .map(|_| {
                    if rng.below(10) == 0 {
                        char::from_u32(rng.next() as u32 % 0x11_0000).unwrap_or('\u{FFFD}')
                    } else {
                        jwtish[rng.below(jwtish.len())]
                    }
                })
                .collect();
            let _ = verify(&s, &c, NOW);
        }
        // structurally valid segments carrying random / hostile JSON
        let fragments = [
            "{}",
            "[]",
            "null",
            "1",
            "\"x\"",
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"ES256","kid":"k"}"#,
            r#"{"alg":"RS256","kid":null}"#,
            r#"{"alg":["HS256"]}"#,
            r#"{"crit":"x"}"#,
            r#"{"exp":1e400}"#,
            r#"{"exp":-1e308,"sub":{},"aud":[[]],"role":1}"#,
            r#"{"exp":18446744073709551616,"nbf":-9223372036854775809}"#,
            "{\"a\":\"\u{0}\"}",
            "\u{FEFF}{}",
            "{\"alg\":\"HS256\"",
            "\u{FF}\u{FE}",
        ];
        let nested = "[".repeat(10_000);
        for round in 0..5_000 {
            let mut seg = || {
                let raw: Vec<u8> = match rng.below(4) {
                    0 => fragments[rng.below(fragments.len())].as_bytes().to_vec(),
                    1 => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
                    2 => nested.as_bytes()[..rng.below(nested.len())].to_vec(),
                    _ => serde_json::to_vec(&with(claims(), "exp", json!(rng.next() as i64))).unwrap(),
                };
                base64url_encode(&raw)
            };
            let (h, p) = (seg(), seg());
            let sig_len = [0usize, 32, 64, 72, 256][round % 5];
            let sig: Vec<u8> = (0..sig_len).map(|_| rng.next() as u8).collect();
            let t = format!("{h}.{p}.{}", base64url_encode(&sig));
            assert!(verify(&t, &c, NOW).is_err());
            // correctly MACed hostile payloads must never panic either
            let _ = verify(&sign_raw(&format!("{}.{p}", base64url_encode(br#"{"alg":"HS256"}"#)), SECRET), &c, NOW);
        }
    }
}
