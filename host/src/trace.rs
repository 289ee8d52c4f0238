//! Who a request is: its request id (`X-Request-Id`, honoured when sane) and its place in a
//! W3C trace (`traceparent`), handed down to the calls it makes to other components.

use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The longest request id taken from a client; a longer one is replaced.
pub const MAX_REQUEST_ID: usize = 128;

/// One request's ids: the request id it is logged under, and its span in the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestScope {
    pub request_id: String,
    pub trace_id: [u8; 16],
    /// This request's own span.
    pub span_id: [u8; 8],
    /// The span it was called from: the client's (from `traceparent`) or the calling component's.
    pub parent_span_id: Option<[u8; 8]>,
    /// The trace flags (bit 0: sampled), passed on as received.
    pub flags: u8,
}

impl RequestScope {
    /// The scope of a client's request, from its `X-Request-Id` and `traceparent` headers.
    pub fn inbound(headers: &http::HeaderMap) -> RequestScope {
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| sane_request_id(v))
            .map(str::to_string)
            .unwrap_or_else(new_request_id);
        let parent = headers.get("traceparent").and_then(|v| v.to_str().ok()).and_then(parse_traceparent);
        match parent {
            Some(p) => RequestScope {
                request_id,
                trace_id: p.trace_id,
                span_id: random_bytes(),
                parent_span_id: Some(p.span_id),
                flags: p.flags,
            },
            None => RequestScope {
                request_id,
                trace_id: random_bytes(),
                span_id: random_bytes(),
                parent_span_id: None,
                flags: 1,
            },
        }
    }

    /// The scope of a call this request makes to another component: same request and trace,
    /// a span of its own below this one.
    pub fn child(&self) -> RequestScope {
        RequestScope {
            request_id: self.request_id.clone(),
            trace_id: self.trace_id,
            span_id: random_bytes(),
            parent_span_id: Some(self.span_id),
            flags: self.flags,
        }
    }

    /// The `traceparent` that names this request's span as the parent.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", hex(&self.trace_id), hex(&self.span_id), self.flags)
    }

    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }
}

/// A request id is taken from a client when it is 1 to 128 visible ASCII characters: it is
/// written into log lines and headers, so no spaces, control characters or anything else.
pub fn sane_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A fresh request id: 32 hexadecimal digits.
pub fn new_request_id() -> String {
    hex(&random_bytes::<16>())
}

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

/// `traceparent` as W3C Trace Context defines it: `version-traceid-parentid-flags` in lower-case
/// hex; version `ff` and all-zero ids are invalid. A later version may append fields after a
/// `-`, which are ignored; version 00 has exactly four.
pub fn parse_traceparent(value: &str) -> Option<TraceParent> {
    let value = value.trim();
    let mut fields = value.split('-');
    let (version, trace, span, flags) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let lower_hex =
        |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !lower_hex(version, 2)
        || version == "ff"
        || !lower_hex(trace, 32)
        || !lower_hex(span, 16)
        || !lower_hex(flags, 2)
    {
        return None;
    }
    if version == "00" && fields.next().is_some() {
        return None;
    }
    let trace_id: [u8; 16] = unhex(trace)?.try_into().ok()?;
    let span_id: [u8; 8] = unhex(span)?.try_into().ok()?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(TraceParent { trace_id, span_id, flags: u8::from_str_radix(flags, 16).ok()? })
}

pub use credentials::encoding::hex;

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Random ids, never all zero: SHA-256 of a key read from the system once and a counter.
/// Ids need to be unique and unguessable enough not to collide across hosts, not secret; this
/// spares a dependency on a random number crate.
fn random_bytes<const N: usize>() -> [u8; N] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let key = KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        let read = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key));
        if read.is_err() {
            // No /dev/urandom: the clock and the process id still keep hosts apart.
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            key[..16].copy_from_slice(&now.as_nanos().to_le_bytes());
            key[16..20].copy_from_slice(&std::process::id().to_le_bytes());
        }
        key
    });
    loop {
        let mut h = Sha256::new();
        h.update(key);
        h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        let digest = h.finalize();
        let mut out = [0u8; N];
        out.copy_from_slice(&digest[..N]);
        if out != [0u8; N] {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_valid_traceparent_is_parsed() {
        let p = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(hex(&p.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&p.span_id), "00f067aa0ba902b7");
        assert_eq!(p.flags, 1);
        // A later version may carry more fields.
        assert!(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra").is_some());
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "0-04bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-é4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn request_ids_are_honoured_only_when_sane() {
        assert!(sane_request_id("req-42_ABC.x:y"));
        assert!(sane_request_id(&"a".repeat(128)));
        assert!(!sane_request_id(&"a".repeat(129)));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("two words"));
        assert!(!sane_request_id("line\nbreak"));
        assert!(!sane_request_id("ünïcode"));
        let kept = RequestScope::inbound(&headers(&[("x-request-id", "abc-123")]));
        assert_eq!(kept.request_id, "abc-123");
        let replaced = RequestScope::inbound(&headers(&[("x-request-id", "has space")]));
        assert_eq!(replaced.request_id.len(), 32);
        assert!(replaced.request_id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn a_call_to_another_component_is_a_child_of_its_caller() {
        let scope = RequestScope::inbound(&headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]));
        assert_eq!(scope.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(scope.parent_span_id.map(|s| hex(&s)).as_deref(), Some("00f067aa0ba902b7"));
        let child = scope.child();
        assert_eq!(
            (child.trace_id, child.parent_span_id, &child.request_id),
            (scope.trace_id, Some(scope.span_id), &scope.request_id)
        );
        assert_ne!(child.span_id, scope.span_id);
        assert_eq!(parse_traceparent(&child.traceparent()).unwrap().span_id, child.span_id);
    }

    #[test]
    fn without_a_traceparent_a_new_trace_begins() {
        let a = RequestScope::inbound(&http::HeaderMap::new());
        let b = RequestScope::inbound(&http::HeaderMap::new());
        assert_ne!(a.trace_id, b.trace_id);
        assert_ne!(a.request_id, b.request_id);
        assert_eq!(a.parent_span_id, None);
    }
}
