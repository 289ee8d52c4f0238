//! `GET /dashboard.html`: a self-contained page (inline script and SVG charts, nothing loaded
//! from elsewhere). It holds no data: it asks for an admin token, keeps it in the browser's
//! localStorage, and fetches `dashboard` with it.

use shared::Response;

const PAGE: &str = include_str!("dashboard.html");

pub fn html() -> Response {
    Response::bytes(200, "text/html; charset=utf-8", PAGE.as_bytes().to_vec())
        .header(
            "content-security-policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; \
             img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        )
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-store")
}
