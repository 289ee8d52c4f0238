//! The request pipeline every function runs through:
//! read (with a body limit) → CORS preflight / health / ready → handler → CORS → response → metrics.
//! A handler only sees a [`Context`] and returns a response or a [`Problem`].

use crate::auth::{self, Caller};
use crate::db::Db;
use crate::http::{cors_headers, Method, Problem, Request, Response, DEFAULT_BODY_LIMIT};
use crate::metrics;
pub use crate::security::guard::Callers;
use crate::security::{client, client::Client, guard};
use crate::settings::Settings;
use futures::StreamExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::time::Instant;

/// Everything a handler may use for one request.
pub struct Context {
    pub function: &'static str,
    pub request: Request,
    pub request_id: String,
    /// The request's database connection, once opened; given back by [`Context::release_db`].
    db: RefCell<Option<Rc<Db>>>,
    user_id: RefCell<Option<String>>,
    /// The bearer token, verified once per request (the middleware and the handler share it).
    caller: OnceCell<Result<Caller, Problem>>,
    /// Keys fetched from `jwks_url` for this request's token, when it needed them.
    fetched_jwks: OnceCell<Option<String>>,
    /// A Stripe delivery's signature, verified once per request (the middleware and
    /// webhook-handler share it).
    stripe_delivery: OnceCell<Result<i64, credentials::stripe::SignatureError>>,
    client: OnceCell<Client>,
    /// Set when the canary forwarded the request to green (the metrics row says so).
    pub(crate) forwarded: std::cell::Cell<bool>,
}

impl Context {
    pub fn new(function: &'static str, request: Request) -> Context {
        let request_id = request_id_of(&request.headers).unwrap_or_else(request_id);
        Context {
            function,
            request,
            request_id,
            db: RefCell::new(None),
            user_id: RefCell::new(None),
            caller: OnceCell::new(),
            fetched_jwks: OnceCell::new(),
            stripe_delivery: OnceCell::new(),
            client: OnceCell::new(),
            forwarded: std::cell::Cell::new(false),
        }
    }

    /// This request's settings (the component variables, read and parsed once).
    pub fn settings(&self) -> &'static Settings {
        crate::settings::current()
    }

    /// The database connection, opened on first use and shared for the rest of the request.
    pub fn db(&self) -> Result<Rc<Db>, Problem> {
        if let Some(db) = self.db.borrow().as_ref() {
            return Ok(db.clone());
        }
        let db = Rc::new(Db::connect()?);
        *self.db.borrow_mut() = Some(db.clone());
        Ok(db)
    }

    /// Give the database connection back to the pool before waiting on something slow: above
    /// all a call to another of our functions, which needs a connection of its own. A request
    /// must never wait for a connection it holds itself; where connections are pooled (25 by
    /// default in edge, 64 in Spin) enough such waits at once would deadlock. The next
    /// [`Context::db`] takes one again. (Taking effect once no caller keeps a `db()` handle.)
    pub fn release_db(&self) {
        self.db.borrow_mut().take();
    }

    /// The verified bearer token (401 when missing or invalid).
    pub fn caller(&self) -> Result<Caller, Problem> {
        self.caller
            .get_or_init(|| auth::authenticate_with(&self.request, self.fetched_jwks.get().and_then(|d| d.as_deref())))
            .clone()
    }

    /// The request's `Stripe-Signature` checked against its body (see
    /// [`auth::stripe_delivery`]): the delivery's timestamp when it is Stripe's.
    pub fn stripe_delivery(&self) -> Result<i64, credentials::stripe::SignatureError> {
        *self.stripe_delivery.get_or_init(|| {
            auth::stripe_delivery(&self.request.body, self.request.header("stripe-signature").unwrap_or(""))
        })
    }

    /// Before anything verifies the token: when it is an ES256/RS256 token whose `kid` the
    /// configured `jwks` lacks and `jwks_url` is set, the keys published there (cached in the
    /// database; see `auth::jwks`).
    async fn fetch_signing_keys(&self) {
        let Some(url) = self.settings().jwks_url() else { return };
        let Some((alg, kid)) = auth::bearer(&self.request).ok().and_then(auth::jwks::asymmetric_key_of) else { return };
        if self.settings().jwt_keys().is_ok_and(|c| c.has_key(&alg, &kid)) {
            return;
        }
        let Ok(db) = self.db() else { return };
        let document = auth::jwks::document_for(&db, url, &alg, &kid).await;
        let _ = self.fetched_jwks.set(document);
    }

    /// Who the request comes from (user, service role or address), for rate limits, blocks
    /// and sticky canary assignment.
    pub fn client(&self) -> &Client {
        self.client
            .get_or_init(|| client::identify_with(&self.request, self.settings().trusted_proxies(), self.caller().ok()))
    }

    /// The signed-in user calling this endpoint (401 / 403 otherwise).
    pub fn user(&self) -> Result<Caller, Problem> {
        let caller = auth::user_only(self.caller()?)?;
        *self.user_id.borrow_mut() = Some(caller.user_id().to_string());
        Ok(caller)
    }

    /// An administrator (the service role, or a user with an active admin role).
    pub fn admin(&self) -> Result<Caller, Problem> {
        let caller = self.caller()?;
        if !caller.is_service_role() {
            *self.user_id.borrow_mut() = Some(caller.user_id().to_string());
        }
        auth::admin_only(caller, &*self.db()?)
    }
}

/// The id the request arrived with (`X-Request-Id`: edge passes on a client's sane id or its
/// own), so the answer, the host's log lines, the metrics row and the audit rows all name the
/// same request; `None` when there is none or it is not 1 to 128 visible ASCII characters.
fn request_id_of(headers: &[(String, String)]) -> Option<String> {
    let id = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("x-request-id")).map(|(_, v)| v.trim())?;
    (!id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())).then(|| id.to_string())
}

#[cfg(not(feature = "native"))]
fn request_id() -> String {
    format!("{:016x}", wasi::random::random::get_random_u64())
}

/// Natively compiled (bench/native): std's per-process random keys, fresh for each id.
#[cfg(feature = "native")]
fn request_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    format!("{:016x}", std::collections::hash_map::RandomState::new().build_hasher().finish())
}

fn method_of(m: spin_sdk::http::Method) -> Method {
    use spin_sdk::http::Method as M;
    match m {
        M::Get => Method::Get,
        M::Post => Method::Post,
        M::Put => Method::Put,
        M::Patch => Method::Patch,
        M::Delete => Method::Delete,
        M::Options => Method::Options,
        M::Head => Method::Head,
        other => Method::Other(other.to_string()),
    }
}

/// Read the request; `Err` is the answer to give instead (e.g. 413).
async fn read_request(function: &str, incoming: IncomingRequest, limit: usize) -> Result<Request, Problem> {
    let method = method_of(incoming.method());
    let headers: Vec<(String, String)> = incoming
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let path_and_query = incoming.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (path_and_query.clone(), String::new()),
    };
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let sub_path = sub_path(function, &path, &headers);
    let too_large = || {
        Problem::new(413, "payload_too_large", "The request body is too large")
            .detail(format!("bodies are limited to {limit} bytes"))
    };
    if header("content-length").and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = incoming.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Problem::new(400, "body_unreadable", "The request body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Request { method, path, sub_path, query, headers, body })
}

/// The path below the function's own route (`/functions/v1/<function>`): `/123` of
/// `/functions/v1/quote-processor/123`, empty at the root. Under the function's own route it is
/// taken from the path itself: Spin matches a call from another function (service chaining) as
/// if against `/...`, so its `spin-path-info` is the whole path there. Mounted at any other
/// route, the host's `spin-path-info` says it (its last line, see `Request::header`).
fn sub_path(function: &str, path: &str, headers: &[(String, String)]) -> String {
    let own_route = format!("/functions/v1/{function}");
    match path.strip_prefix(&own_route) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_string(),
        _ => match headers.iter().rev().find(|(k, _)| k == "spin-path-info") {
            Some((_, info)) => info.clone(),
            None => path.to_string(),
        },
    }
}

async fn write_response(out: ResponseOutparam, response: Response) {
    let mut headers: Vec<(String, Vec<u8>)> =
        response.headers.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect();
    // The length up front: a client can tell a complete answer from one cut short (an
    // instance stopped at its time limit while writing).
    let bodiless = matches!(response.status, 100..=199 | 204 | 304);
    if !bodiless && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        headers.push(("content-length".into(), response.body.len().to_string().into_bytes()));
    }
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(response.status);
    if let Err(e) = out.set_with_body(outgoing, response.body).await {
        eprintln!("response body not fully written: {e:?}");
    }
}

/// A function as the pipeline sees it, declared once at the top of the function's `lib.rs`:
///
/// ```ignore
/// const FUNCTION: Function = Function::new("webhook-monitor", env!("CARGO_PKG_VERSION"), Callers::Administrators);
/// ```
pub struct Function {
    pub name: &'static str,
    pub version: &'static str,
    /// Who calls it: how the security middleware screens its requests follows from this.
    pub callers: Callers,
    /// Its own answer to the public `GET /health`; without one, the generic answer.
    pub health: Option<HealthHandler>,
    /// Endpoints (sub-paths) that analyse payloads submitted on purpose, so whose JSON bodies
    /// the middleware does not screen for injection.
    pub analyses_payloads: &'static [&'static str],
}

impl Function {
    pub const fn new(name: &'static str, version: &'static str, callers: Callers) -> Function {
        Function { name, version, callers, health: None, analyses_payloads: &[] }
    }

    /// With its own answer to `GET /health`.
    pub const fn health(self, answer: HealthHandler) -> Function {
        Function { health: Some(answer), ..self }
    }

    /// With endpoints whose bodies are analysed on purpose (see [`Function::analyses_payloads`]).
    pub const fn analysing(self, endpoints: &'static [&'static str]) -> Function {
        Function { analyses_payloads: endpoints, ..self }
    }

    fn policy(&self, sub_path: &str) -> guard::Policy {
        guard::Policy::for_request(self.callers, self.analyses_payloads, sub_path)
    }
}

/// A function's own answer to the public `GET /health` (no authentication; it must reveal
/// nothing internal).
pub type HealthHandler = fn(&Context) -> Response;

/// Serve one request of `function` with `handler`.
pub async fn serve<H>(function: &'static Function, incoming: IncomingRequest, out: ResponseOutparam, handler: H)
where
    H: AsyncFn(&Context) -> Result<Response, Problem>,
{
    pipeline::<Local, H>(function, incoming, out, handler).await
}

/// [`serve`] for a function whose traffic a migration may move to the green deployment: the
/// canary middleware runs right after the request is read (see `canary`). Only the functions
/// served this way link the forwarding, and so import outgoing HTTP.
pub async fn serve_covered<H>(function: &'static Function, incoming: IncomingRequest, out: ResponseOutparam, handler: H)
where
    H: AsyncFn(&Context) -> Result<Response, Problem>,
{
    pipeline::<Canary, H>(function, incoming, out, handler).await
}

/// Whether a pipeline forwards a migration's green share. A type rather than a flag, so that a
/// function served without it does not link the forwarding (nor import outgoing HTTP) at all.
trait Forwarding {
    async fn forward(ctx: &Context) -> Option<Response>;
}

struct Local;

impl Forwarding for Local {
    async fn forward(_: &Context) -> Option<Response> {
        None
    }
}

struct Canary;

impl Forwarding for Canary {
    async fn forward(ctx: &Context) -> Option<Response> {
        crate::canary::forward(ctx).await
    }
}

async fn pipeline<F: Forwarding, H>(
    function: &'static Function,
    incoming: IncomingRequest,
    out: ResponseOutparam,
    handler: H,
) where
    H: AsyncFn(&Context) -> Result<Response, Problem>,
{
    let started = Instant::now();
    let origin = incoming.headers().get("origin").first().map(|v| String::from_utf8_lossy(v).into_owned());

    let (ctx, mut response) = match read_request(function.name, incoming, DEFAULT_BODY_LIMIT).await {
        Err(problem) => (None, Response::problem(&problem)),
        Ok(request) => {
            let ctx = Context::new(function.name, request);
            ctx.fetch_signing_keys().await;
            // A migration's green share goes to the green deployment (see `canary`).
            let forwarded = F::forward(&ctx).await;
            let response = match forwarded {
                Some(forwarded) => forwarded,
                None => dispatch(&ctx, function, &handler).await,
            };
            (Some(ctx), response)
        }
    };
    finish(&mut response, origin.as_deref(), ctx.as_ref());
    let status = response.status;
    let response_bytes = response.body.len() as i64;
    // The database connection goes back to the pool before the answer is written: a client
    // that reads slowly, or never, must not hold one of the pool's connections.
    if let Some(ctx) = &ctx {
        ctx.release_db();
    }
    write_response(out, response).await;

    // After the answer is on its way: the metrics row, on a connection taken again.
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let Some(ctx) = ctx else { return };
    if !metrics::enabled() {
        return;
    }
    if let Ok(db) = Db::connect() {
        record_metric(&db, function, &ctx, status, duration_ms, response_bytes);
    }
}

/// What every answer carries, whoever made it (the handler, the middleware, the canary's
/// forwarding, a refused body): the CORS headers for the caller's origin and only those, the
/// request's id, and the colour of the deployment that answered (green's own, when forwarded).
fn finish(response: &mut Response, origin: Option<&str>, ctx: Option<&Context>) {
    response.headers.retain(|(k, _)| !k.starts_with("access-control-"));
    response.headers.extend(cors_headers(origin, crate::settings::current().cors_origins()));
    if let Some(ctx) = ctx {
        response.headers.push(("x-request-id".into(), ctx.request_id.clone()));
    }
    if !response.headers.iter().any(|(k, _)| k == crate::canary::COLOUR_HEADER) {
        response.headers.push((crate::canary::COLOUR_HEADER.into(), crate::canary::colour().into()));
    }
}

/// The request's `performance_metrics` row, written once the answer is on its way.
fn record_metric(db: &Db, function: &Function, ctx: &Context, status: u16, duration_ms: f64, response_bytes: i64) {
    let user_id = ctx.user_id.borrow().clone();
    metrics::record_as(
        db,
        &metrics::RequestMetric {
            function: function.name,
            route: metrics::route_pattern(function.name, &ctx.request.sub_path),
            method: ctx.request.method.as_str(),
            status,
            duration_ms,
            response_bytes,
            user_id: user_id.as_deref(),
            request_id: &ctx.request_id,
        },
        &crate::canary::row_colour(ctx),
    );
}

async fn dispatch<H>(ctx: &Context, function: &Function, handler: &H) -> Response
where
    H: AsyncFn(&Context) -> Result<Response, Problem>,
{
    let req = &ctx.request;
    if req.method == Method::Options {
        return Response::empty(204);
    }
    if req.segments() == ["health"] {
        return match req.method {
            Method::Get | Method::Head => match function.health {
                Some(answer) => answer(ctx),
                None => Response::ok(&serde_json::json!({
                    "status": "ok",
                    "function": function.name,
                    "version": function.version,
                })),
            },
            _ => Response::problem(&Problem::method_not_allowed(&["GET", "HEAD"])),
        };
    }
    if req.segments() == ["ready"] {
        return match req.method {
            Method::Get | Method::Head => readiness(ctx, function),
            _ => Response::problem(&Problem::method_not_allowed(&["GET", "HEAD"])),
        };
    }
    // The security middleware: blocks, rate limit, threat detection (one SQL statement).
    let screened = ctx.settings().security_middleware();
    if screened {
        if let Err(refusal) = guard::screen(
            function.name,
            function.policy(&req.sub_path),
            req,
            ctx.client(),
            ctx.db().ok().as_deref(),
            || ctx.stripe_delivery().is_ok(),
        ) {
            return refusal;
        }
    }
    let mut response = match handler(ctx).await {
        Ok(r) => r,
        Err(p) => Response::problem(&p),
    };
    crate::http::mark_success(&mut response);
    if screened {
        guard::after(function.name, req, ctx.client(), response.status, ctx.db.borrow().as_deref());
    }
    response
}

/// `GET /ready`: readiness, for a Kubernetes readiness probe and load balancers. The instance
/// can serve when it can reach its database: one shaped `SELECT 1`. `/health` is liveness (the
/// process and the component answer) and never looks further: a database outage must take
/// instances out of rotation, not get them restarted.
fn readiness(ctx: &Context, function: &Function) -> Response {
    let reachable = ctx.db().ok().is_some_and(|db| db.query("SELECT 1 AS one", &[]).is_ok_and(|rows| rows.len() == 1));
    if reachable {
        Response::ok(&serde_json::json!({
            "status": "ready",
            "function": function.name,
            "version": function.version,
        }))
    } else {
        Response::problem(
            &Problem::unavailable("not_ready", "the database cannot be reached; this instance cannot serve yet")
                .retry_after(5),
        )
    }
}

/// The same pipeline for a request already read, natively compiled (bench/native: the
/// handlers without Wasm, the baseline of `scripts/bench compare`). `send` gets the response
/// before the metrics row is written, as the component's response is on its way first.
#[cfg(feature = "native")]
pub async fn serve_native<H>(function: &'static Function, request: Request, send: impl FnOnce(Response), handler: H)
where
    H: AsyncFn(&Context) -> Result<Response, Problem>,
{
    let started = Instant::now();
    let origin = request.header("origin").map(str::to_string);
    let ctx = Context::new(function.name, request);
    // No canary forwarding: it goes out through Spin's outbound HTTP, and the benchmark has no
    // green deployment (`forward` answers None before any work when none is configured).
    let mut response = dispatch(&ctx, function, &handler).await;
    finish(&mut response, origin.as_deref(), Some(&ctx));
    let status = response.status;
    let response_bytes = response.body.len() as i64;
    send(response);

    if !metrics::enabled() {
        return;
    }
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(db) = ctx.db() {
        record_metric(&db, function, &ctx, status, duration_ms, response_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::{request_id_of, sub_path};

    #[test]
    fn the_request_id_it_arrived_with_is_kept_when_sane() {
        let id = |v: &str| request_id_of(&[("X-Request-Id".to_string(), v.to_string())]);
        assert_eq!(id("order-7731.retry:2").as_deref(), Some("order-7731.retry:2"));
        assert_eq!(id(&"a".repeat(128)).map(|s| s.len()), Some(128));
        assert_eq!(id(&"a".repeat(129)), None);
        assert_eq!(id("two words"), None);
        assert_eq!(id(""), None);
        assert_eq!(id("naïve"), None);
        assert_eq!(request_id_of(&[]), None);
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_sub_path_is_below_the_functions_own_route_however_the_host_matched_it() {
        // A client's request, matched against the function's route.
        let routed = h(&[("spin-path-info", "/123")]);
        assert_eq!(sub_path("quote-processor", "/functions/v1/quote-processor/123", &routed), "/123");
        // A call from another function through Spin's service chaining (matched as `/...`).
        let chained = h(&[("spin-path-info", "/functions/v1/quote-pdf-generator")]);
        assert_eq!(sub_path("quote-pdf-generator", "/functions/v1/quote-pdf-generator", &chained), "");
        // Not a prefix by accident.
        assert_eq!(sub_path("quote", "/functions/v1/quote-processor", &h(&[("spin-path-info", "/x")])), "/x");
        // Mounted elsewhere: the host's path-info, its own (last) line.
        let elsewhere = h(&[("spin-path-info", "/forged"), ("spin-path-info", "/jobs/7")]);
        assert_eq!(sub_path("batch-processor", "/api/batch/jobs/7", &elsewhere), "/jobs/7");
    }
}
