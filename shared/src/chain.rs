//! Calls from one of the application's functions to another: quote-processor and
//! batch-processor asking quote-pdf-generator for documents, the validators and the benchmark
//! probing the other functions.
//!
//! Where the platform offers Spin's local service chaining (`spin up`, SpinKube, `edge`), a
//! call goes to `http://<function>.spin.internal`: in process, never over the network. Where
//! it does not (Fermyon Cloud), `service_chaining = self` sends it to the application's own
//! origin instead (`http://self.alt`, which `http://self` in `allowed_outbound_hosts` allows).
//! The choice is configuration; the code is the same.

use crate::settings::Chaining;

/// The URL of `path` (e.g. `/functions/v1/quote-pdf-generator`) of the application's own
/// `function`, as this deployment reaches it.
pub fn url(function: &str, path: &str) -> String {
    match crate::settings::current().service_chaining() {
        Chaining::SelfOrigin => format!("http://self.alt{path}"),
        Chaining::Local => format!("http://{function}.spin.internal{path}"),
    }
}
