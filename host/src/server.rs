//! The HTTP front: connections, Spin routing, `spin-*` headers, one instance per request,
//! host metrics.
//!
//! A request goes: admitted connection (see `connections`) → head → body read whole (with
//! its time limit, minimum rate and the host's budget for bodies) → route → a slot (per client
//! address and in all; calls between components have slots of their own) → a fresh instance
//! that must end by the request's deadline, its answer body included.

use crate::connections::{Admitted, BusyGuard, Connections, Guarded};
use crate::figures::{RequestFigures, HOST};
use crate::logs;
use crate::memory::OutOfMemory;
use crate::otlp::{Attr, Exporter, Kind, Span};
use crate::routes::Router;
use crate::runtime::Runtime;
use crate::trace::RequestScope;
use anyhow::Result;
use bytes::{Bytes, BytesMut};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::WasiBody;

type Body = UnsyncBoxBody<Bytes, anyhow::Error>;

/// The longest a request waits for a free slot before it is answered 503.
const SLOT_WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct HostMetrics {
    pub requests: AtomicU64,
    pub responses_5xx: AtomicU64,
    pub not_found: AtomicU64,
    pub traps: AtomicU64,
    pub timeouts: AtomicU64,
    pub out_of_memory: AtomicU64,
    pub refused_per_address: AtomicU64,
    pub request_micros_total: AtomicU64,
}

pub struct Server {
    pub runtime: Runtime,
    pub router: Router,
    /// Instances serving clients.
    slots: Arc<Semaphore>,
    /// Instances serving calls between components: a chained call never waits for a slot its
    /// own caller holds.
    chained_slots: Arc<Semaphore>,
    addresses: Arc<AddressSlots>,
    /// Request bodies held in memory, in KiB.
    body_budget: Arc<Semaphore>,
    pub connections: Arc<Connections>,
    pub metrics: HostMetrics,
    /// Answers by component, method and status class, and their latency.
    pub figures: Arc<RequestFigures>,
    /// Spans go there when an OTLP endpoint is set.
    pub exporter: Option<Exporter>,
    pub started: Instant,
}

/// Instances serving each client address: at most `max` at once, the others wait their turn
/// behind the address's own running requests. One address can thus never take every slot
/// from the others, while many clients behind one proxy or NAT are queued, not refused.
struct AddressSlots {
    max: usize,
    open: Mutex<HashMap<IpAddr, AddressEntry>>,
}

struct AddressEntry {
    permits: Arc<Semaphore>,
    /// Requests holding or waiting for one of the permits; the entry goes when none are left.
    users: usize,
}

/// A request's claim on its address's slots, held or waited for.
struct AddressSlot {
    slots: Arc<AddressSlots>,
    address: IpAddr,
    _permit: Option<OwnedSemaphorePermit>,
}

impl AddressSlots {
    async fn take(self: &Arc<Self>, address: IpAddr, wait: Duration) -> Option<AddressSlot> {
        let permits = {
            let mut open = self.open.lock().unwrap();
            let entry = open
                .entry(address)
                .or_insert_with(|| AddressEntry { permits: Arc::new(Semaphore::new(self.max)), users: 0 });
            entry.users += 1;
            entry.permits.clone()
        };
        let mut slot = AddressSlot { slots: self.clone(), address, _permit: None };
        match tokio::time::timeout(wait, permits.acquire_owned()).await {
            Ok(Ok(permit)) => {
                slot._permit = Some(permit);
                Some(slot)
            }
            _ => None,
        }
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap();
        if let Some(entry) = open.get_mut(&self.address) {
            entry.users -= 1;
            if entry.users == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// What an instance holds while it runs: its slot (and its address's), freed when it ends.
struct Slot {
    _permit: OwnedSemaphorePermit,
    _address: Option<AddressSlot>,
}

/// Connections the kernel may hold for us before we accept them.
const ACCEPT_BACKLOG: u32 = 4096;

/// Listen on `address` (`host:port`). A thousand clients connecting at once must not overflow
/// the accept queue: a dropped SYN is retried by the client only after a second. The usual
/// backlog of 128 did overflow (611 drops when 1,000 connections opened together), so the
/// queue is as long as the kernel allows (`net.core.somaxconn` caps it).
pub async fn bind(address: &str) -> Result<TcpListener> {
    let addr = tokio::net::lookup_host(address)
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{address} resolves to no address"))?;
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket.listen(ACCEPT_BACKLOG)?)
}

/// Marks an answer a component wrote (not one the host gave itself).
#[derive(Clone, Copy)]
struct ComponentAnswer;

/// The answer to a connection refused at the connection caps, written without reading.
const AT_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 195\r\n\r\n\
{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,\"code\":\"overloaded\",\"detail\":\"too many open connections\",\"success\":false,\"error\":\"Service Unavailable: too many open connections\"}";

pub async fn serve(server: Arc<Server>, listener: TcpListener) -> Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .keep_alive(true)
        // Also the idle limit of a kept-alive connection: the timer runs while waiting for a head.
        .header_read_timeout(server.connections.limits.header_timeout)
        .max_buf_size(64 << 10);
    loop {
        let (mut stream, client) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                logs::error("edge", None, &format!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Some(admitted) = server.connections.admit(client.ip()) else {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(AT_CAPACITY)).await;
            });
            continue;
        };
        let server = server.clone();
        let http = http.clone();
        tokio::spawn(async move { server.serve_connection(http, stream, client, admitted).await });
    }
}

fn text(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()).map_err(|e: Infallible| match e {}).boxed_unsync())
        .expect("static response parts are valid")
}

/// A problem+json answer made by the host itself (no component involved).
pub fn problem(status: StatusCode, code: &str, detail: &str) -> Response<Body> {
    let body = serde_json::json!({
        "type": format!("https://quotekit.dev/problems/{code}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
        // What the original API's callers read from every answer (as the components answer).
        "success": false,
        "error": format!("{}: {detail}", status.canonical_reason().unwrap_or("Error")),
    });
    let mut r = text(status, "application/problem+json", body.to_string());
    let h = r.headers_mut();
    h.insert("access-control-allow-origin", "*".parse().unwrap());
    if matches!(status.as_u16(), 429 | 503 | 504) {
        h.insert("retry-after", "1".parse().unwrap());
    }
    r
}

/// A problem answer after which the connection closes (the rest of the request is not read).
fn problem_closing(status: StatusCode, code: &str, detail: &str) -> Response<Body> {
    let mut r = problem(status, code, detail);
    r.headers_mut().insert("connection", "close".parse().unwrap());
    r
}

/// A response body that keeps `held` (the connection's busy mark) until it is written or
/// dropped.
struct Holding<B, H> {
    inner: B,
    _held: H,
}

impl<B: hyper::body::Body + Unpin, H: Unpin> hyper::body::Body for Holding<B, H> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How an instance ended without answering normally.
enum Ended {
    Failed(wasmtime::Error),
    TimedOut,
}

impl Server {
    pub fn new(
        runtime: Runtime,
        router: Router,
        connections: Arc<Connections>,
        started: Instant,
        figures: Arc<RequestFigures>,
        exporter: Option<Exporter>,
    ) -> Arc<Server> {
        let limits = &runtime.limits;
        let body_budget_kib = (connections.limits.body_budget_bytes >> 10).max(1) as usize;
        Arc::new(Server {
            slots: Arc::new(Semaphore::new(limits.max_concurrent)),
            chained_slots: Arc::new(Semaphore::new(limits.max_concurrent)),
            addresses: Arc::new(AddressSlots { max: limits.max_concurrent_per_address, open: Default::default() }),
            body_budget: Arc::new(Semaphore::new(body_budget_kib)),
            connections,
            runtime,
            router,
            metrics: Default::default(),
            figures,
            exporter,
            started,
        })
    }

    async fn serve_connection(
        self: Arc<Self>,
        http: http1::Builder,
        stream: tokio::net::TcpStream,
        client: SocketAddr,
        admitted: Admitted,
    ) {
        let connection = admitted.connection.clone();
        let io = TokioIo::new(Guarded::new(stream, self.connections.clone()));
        let server = self.clone();
        let this = connection.clone();
        let service = hyper::service::service_fn(move |req| {
            let server = server.clone();
            let busy = this.busy();
            async move { Ok::<_, Infallible>(server.handle(req, client, busy).await) }
        });
        tokio::select! {
            _ = http.serve_connection(io, service) => {}
            _ = connection.evicted() => self.connections.note_eviction(),
        }
        drop(admitted);
    }

    /// The request's id goes back to a client that sent `X-Request-Id` (its own when sane,
    /// else the one made here), and on every answer the host gives itself. A component's
    /// answer to a client that sent none is left as the component wrote it, as Spin leaves it
    /// (its conformance suite allows no header the component did not set).
    async fn handle(self: &Arc<Self>, req: Request<Incoming>, client: SocketAddr, busy: BusyGuard) -> Response<Body> {
        let scope = Arc::new(RequestScope::inbound(req.headers()));
        let client_sent_id = req.headers().contains_key("x-request-id");
        let response = self.answer(req, client, &scope).await;
        let (mut parts, body) = response.into_parts();
        let from_component = parts.extensions.get::<ComponentAnswer>().is_some();
        if client_sent_id || !from_component {
            if let Ok(id) = scope.request_id.parse() {
                parts.headers.insert("x-request-id", id);
            }
        }
        Response::from_parts(parts, Holding { inner: body, _held: busy }.boxed_unsync())
    }

    async fn answer(
        self: &Arc<Self>,
        req: Request<Incoming>,
        client: SocketAddr,
        scope: &Arc<RequestScope>,
    ) -> Response<Body> {
        self.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now() + self.runtime.limits.request_timeout;
        let path = req.uri().path().to_string();
        if let Some(r) = self.host_endpoint(&path, req.headers()) {
            self.figures.record(HOST, req.method(), r.status().as_u16(), None);
            return r;
        }
        let (parts, body) = req.into_parts();
        let (body, _budget) = match self.read_body(body, &parts.headers).await {
            Ok(read) => read,
            Err(refusal) => {
                self.figures.record(HOST, &parts.method, refusal.status().as_u16(), None);
                return refusal;
            }
        };
        let body: WasiBody = Full::new(body).map_err(|e: Infallible| match e {}).boxed_unsync();
        self.dispatch(Request::from_parts(parts, body), Some(client), None, deadline, scope.clone()).await
    }

    /// Read a request body whole before the request takes a slot: within `body_timeout`,
    /// never slower than `min_body_rate` after its first second, at most `max_body_bytes`, and
    /// within the host's budget for bodies held at once (the permit comes back with it).
    async fn read_body(
        &self,
        mut body: Incoming,
        headers: &http::HeaderMap,
    ) -> Result<(Bytes, Option<OwnedSemaphorePermit>), Response<Body>> {
        let limits = &self.connections.limits;
        let declared = headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        let too_large = || {
            problem_closing(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("request bodies are limited to {} bytes", limits.max_body_bytes),
            )
        };
        if declared.is_some_and(|n| n > limits.max_body_bytes) {
            return Err(too_large());
        }
        if body.is_end_stream() {
            return Ok((Bytes::new(), None));
        }
        let mut held: Option<OwnedSemaphorePermit> = None;
        let reserve = |bytes: u64, held: &mut Option<OwnedSemaphorePermit>| -> bool {
            let want = bytes.div_ceil(1024) as u32;
            let have = held.as_ref().map_or(0, |p| p.num_permits() as u32);
            if want <= have {
                return true;
            }
            match self.body_budget.clone().try_acquire_many_owned(want - have) {
                Ok(more) => {
                    match held {
                        Some(p) => p.merge(more),
                        None => *held = Some(more),
                    }
                    true
                }
                Err(_) => false,
            }
        };
        let busy = || {
            problem_closing(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the host is reading too many request bodies; retry shortly",
            )
        };
        if let Some(n) = declared {
            if !reserve(n, &mut held) {
                return Err(busy());
            }
        }
        let started = tokio::time::Instant::now();
        let grace = Duration::from_secs(1);
        let mut buf = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
        loop {
            // The next bytes are due when the body would fall below the minimum rate, and in
            // any case before the body's own time limit.
            let by_rate = grace + Duration::from_secs_f64(buf.len() as f64 / limits.min_body_rate as f64);
            let due = started + by_rate.min(limits.body_timeout);
            let frame = match tokio::time::timeout_at(due, body.frame()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(None) => break,
                Ok(Some(Err(_))) => {
                    return Err(problem_closing(
                        StatusCode::BAD_REQUEST,
                        "body_unreadable",
                        "the request body could not be read",
                    ))
                }
                Err(_) => {
                    self.connections.stats.slow_bodies.fetch_add(1, Ordering::Relaxed);
                    return Err(problem_closing(
                        StatusCode::REQUEST_TIMEOUT,
                        "body_too_slow",
                        &format!(
                            "the request body must arrive within {} s and at {} bytes per second or faster",
                            limits.body_timeout.as_secs(),
                            limits.min_body_rate
                        ),
                    ));
                }
            };
            if let Ok(data) = frame.into_data() {
                let total = buf.len() as u64 + data.len() as u64;
                if total > limits.max_body_bytes {
                    return Err(too_large());
                }
                if !reserve(total, &mut held) {
                    return Err(busy());
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok((buf.freeze(), held))
    }

    /// A request from one component to another (`http://<component>.spin.internal/...`,
    /// Spin's service chaining): routed in-process, never over the network, due by its
    /// caller's deadline.
    pub async fn dispatch_internal(
        self: &Arc<Self>,
        component: &str,
        req: Request<WasiBody>,
        deadline: Instant,
        scope: Arc<RequestScope>,
    ) -> Response<Body> {
        self.dispatch(req, None, Some(component), deadline, scope).await
    }

    /// A request of a component to the application's own origin (`http://self.alt/...`, or a
    /// URL without a host: Spin's self requests): routed like a client's, in-process.
    pub async fn dispatch_self(
        self: &Arc<Self>,
        req: Request<WasiBody>,
        deadline: Instant,
        scope: Arc<RequestScope>,
    ) -> Response<Body> {
        self.dispatch(req, None, None, deadline, scope).await
    }

    /// Route a request (to `only` when given), set Spin's headers, and run the component.
    /// `client` is `None` for calls between components; `scope` is the request's ids (for a
    /// call between components, a child of its caller's).
    async fn dispatch(
        self: &Arc<Self>,
        req: Request<WasiBody>,
        client: Option<SocketAddr>,
        only: Option<&str>,
        deadline: Instant,
        scope: Arc<RequestScope>,
    ) -> Response<Body> {
        let started = Instant::now();
        let wall_started = std::time::SystemTime::now();
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        // A request from another component reaches its component as if mounted at `/...`,
        // as in Spin: the whole path is its path info.
        let matched = match only {
            None => self.router.route(&path),
            Some(name) => Some(Router::chained(name, &path)),
        };
        let found = matched.and_then(|m| Some((self.runtime.components.get(&m.route.component)?, m)));
        let Some((component, matched)) = found else {
            self.metrics.not_found.fetch_add(1, Ordering::Relaxed);
            self.figures.record(HOST, &method, 404, None);
            return problem(StatusCode::NOT_FOUND, "route_not_found", &format!("no function serves {path}"));
        };
        let route = matched.route.clone();

        let (mut parts, body) = req.into_parts();
        // Clients must not be able to forge what the host asserts.
        let forged: Vec<_> = parts.headers.keys().filter(|k| k.as_str().starts_with("spin-")).cloned().collect();
        for k in forged {
            parts.headers.remove(k);
        }
        if only.is_some()
            && parts.headers.get("host").and_then(|h| h.to_str().ok()).is_some_and(|h| h.contains(".spin.internal"))
        {
            parts.headers.remove("host");
        }
        let host = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or(path.clone());
        let full_url = format!("http://{host}{path_and_query}");
        // The client's address; a request from another component has none (Spin's 0.0.0.0:0).
        let client_addr = client.map_or("0.0.0.0:0".to_string(), |c| c.to_string());
        let mut spin_headers: Vec<(String, &str)> = vec![
            ("spin-path-info".into(), &matched.path_info),
            ("spin-full-url".into(), &full_url),
            ("spin-matched-route".into(), &route.matched),
            ("spin-base-path".into(), "/"),
            ("spin-raw-component-route".into(), &route.raw),
            ("spin-component-route".into(), route.component_route()),
            ("spin-client-addr".into(), &client_addr),
        ];
        for (name, value) in &matched.named {
            spin_headers.push((format!("spin-path-match-{}", name.to_ascii_lowercase().replace('_', "-")), value));
        }
        for (name, value) in spin_headers {
            if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(name), http::HeaderValue::try_from(value)) {
                parts.headers.insert(name, value);
            }
        }
        let set = |h: &mut http::HeaderMap, k: &'static str, v: &str| {
            if let Ok(v) = v.parse() {
                h.insert(k, v);
            }
        };
        // The component sees the request's id, and this request's span as its parent.
        set(&mut parts.headers, "x-request-id", &scope.request_id);
        set(&mut parts.headers, "traceparent", &scope.traceparent());
        // A new trace (no valid traceparent came) has no vendor state: W3C says drop it.
        if scope.parent_span_id.is_none() {
            parts.headers.remove("tracestate");
        }
        if let Ok(uri) = full_url.parse() {
            parts.uri = uri;
        }
        let req = Request::from_parts(parts, body);

        let response = match self.take_slot(client).await {
            Ok(slot) => self.run_component(component, req, slot, deadline, client.is_none(), &scope).await,
            Err(refusal) => refusal,
        };
        let status = response.status();
        if status.is_server_error() {
            self.metrics.responses_5xx.fetch_add(1, Ordering::Relaxed);
        }
        let elapsed = started.elapsed();
        self.metrics.request_micros_total.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        self.figures.record(&route.component, &method, status.as_u16(), Some(elapsed));
        if let Some(exporter) = &self.exporter {
            let mut attributes = vec![
                ("http.request.method", Attr::Str(method.to_string())),
                ("url.path", Attr::Str(path.clone())),
                ("http.route", Attr::Str(route.raw.clone())),
                ("http.response.status_code", Attr::Int(status.as_u16().into())),
                ("edge.component", Attr::Str(route.component.clone())),
                ("edge.request_id", Attr::Str(scope.request_id.clone())),
            ];
            if client.is_none() {
                let how = if only.is_some() { "service chaining" } else { "self request" };
                attributes.push(("edge.call", Attr::Str(how.to_string())));
            }
            exporter.record(Span {
                scope: (*scope).clone(),
                kind: if client.is_some() { Kind::Server } else { Kind::Client },
                name: format!("{method} {}", route.raw),
                start: wall_started,
                end: wall_started + elapsed,
                attributes,
                error: status.is_server_error(),
            });
        }
        logs::info(
            &route.component,
            Some(&scope),
            &format!(
                "{} {} -> {} ({:.2} ms){}",
                method,
                path,
                status.as_u16(),
                elapsed.as_secs_f64() * 1e3,
                if only.is_some() { " internal" } else { "" }
            ),
        );
        response
    }

    /// A slot for one instance: one of its client address's first, then one of all; each
    /// waited for, together up to `SLOT_WAIT`.
    async fn take_slot(&self, client: Option<SocketAddr>) -> Result<Slot, Response<Body>> {
        let waited = Instant::now();
        let at_capacity =
            || problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the host is at capacity; retry shortly");
        let (slots, address) = match client {
            Some(client) => match self.addresses.take(client.ip(), SLOT_WAIT).await {
                Some(a) => (&self.slots, Some(a)),
                None => {
                    self.metrics.refused_per_address.fetch_add(1, Ordering::Relaxed);
                    return Err(problem(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too_many_concurrent_requests",
                        &format!(
                            "at most {} requests of one client address run at once; retry shortly",
                            self.addresses.max
                        ),
                    ));
                }
            },
            None => (&self.chained_slots, None),
        };
        let wait = SLOT_WAIT.saturating_sub(waited.elapsed());
        match tokio::time::timeout(wait, slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot { _permit: permit, _address: address }),
            _ => Err(at_capacity()),
        }
    }

    /// Run one instance for `req`. It must end by `deadline`, writing of its answer included;
    /// past it, it is stopped wherever it is (a trap at its next tick while computing, dropped
    /// while waiting), and everything it held (slot, memory, database connection) is freed.
    async fn run_component(
        self: &Arc<Self>,
        component: &crate::runtime::LoadedComponent,
        req: Request<WasiBody>,
        slot: Slot,
        deadline: Instant,
        chained: bool,
        scope: &Arc<RequestScope>,
    ) -> Response<Body> {
        let mut store = self.runtime.new_store(component, deadline, Some(self.clone()), chained, scope.clone());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = (|| -> anyhow::Result<_> {
            use wasmtime_wasi_http::WasiHttpView;
            let req = store.data_mut().http().new_incoming_request(Scheme::Http, req).map_err(anyhow::Error::from)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            Ok((req, out))
        })();
        let (req, out) = match prepared {
            Ok(p) => p,
            Err(e) => {
                logs::error(&component.info.name, Some(scope), &format!("cannot prepare request: {e:#}"));
                return problem(StatusCode::BAD_REQUEST, "bad_request", "the request could not be read");
            }
        };
        let pre = component.pre.clone();
        let name = component.info.name.clone();
        let meter = store.data().cpu.clone();
        let tokio_deadline = tokio::time::Instant::from_std(deadline);
        let task = tokio::spawn(crate::cpu::Metered::new(
            async move {
                let _slot = slot;
                let run = async {
                    let proxy = pre.instantiate_async(&mut store).await?;
                    proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
                };
                match tokio::time::timeout_at(tokio_deadline, run).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(Ended::Failed(e)),
                    Err(_) => Err(Ended::TimedOut),
                }
            },
            meter,
        ));

        match tokio::time::timeout_at(tokio_deadline, receiver).await {
            Ok(Ok(Ok(resp))) => {
                let mut resp = resp.map(|b| b.map_err(anyhow::Error::from).boxed_unsync());
                resp.extensions_mut().insert(ComponentAnswer);
                resp
            }
            Ok(Ok(Err(code))) => {
                logs::error(&name, Some(scope), &format!("component answered with an error code: {code:?}"));
                problem(StatusCode::INTERNAL_SERVER_ERROR, "component_error", "the function failed to answer")
            }
            Ok(Err(_)) => {
                // The component ended (or trapped, or ran out of time) without answering.
                match task.await {
                    Ok(Ok(())) => problem(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "function_failed",
                        "the function ended without answering",
                    ),
                    Ok(Err(ended)) => self.failure(&name, ended, scope),
                    Err(e) => {
                        logs::error(&name, Some(scope), &format!("task failed: {e}"));
                        problem(StatusCode::INTERNAL_SERVER_ERROR, "function_failed", "the function failed")
                    }
                }
            }
            Err(_) => {
                task.abort();
                self.failure(&name, Ended::TimedOut, scope)
            }
        }
    }

    /// The answer for an instance that ended without answering.
    fn failure(&self, name: &str, ended: Ended, scope: &RequestScope) -> Response<Body> {
        let timed_out = || {
            self.metrics.timeouts.fetch_add(1, Ordering::Relaxed);
            problem(
                StatusCode::GATEWAY_TIMEOUT,
                "function_timeout",
                &format!("the function exceeded its {} ms time limit", self.runtime.limits.request_timeout.as_millis()),
            )
        };
        let e = match ended {
            Ended::TimedOut => return timed_out(),
            Ended::Failed(e) => e,
        };
        self.metrics.traps.fetch_add(1, Ordering::Relaxed);
        logs::error(name, Some(scope), &format!("trapped: {e:#}"));
        if matches!(e.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt)) {
            return timed_out();
        }
        match e.downcast_ref::<OutOfMemory>() {
            Some(OutOfMemory::Budget) => {
                self.metrics.out_of_memory.fetch_add(1, Ordering::Relaxed);
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "memory_busy",
                    "the host's memory is in use by other requests; retry shortly",
                )
            }
            Some(OutOfMemory::Instance) => {
                self.metrics.out_of_memory.fetch_add(1, Ordering::Relaxed);
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "function_out_of_memory",
                    &format!("the function exceeded its {} MiB memory limit", self.runtime.limits.memory_bytes >> 20),
                )
            }
            None => problem(StatusCode::INTERNAL_SERVER_ERROR, "function_failed", "the function failed"),
        }
    }

    /// The host's own endpoints, under Spin's reserved `/.well-known/` prefix.
    fn host_endpoint(&self, path: &str, headers: &http::HeaderMap) -> Option<Response<Body>> {
        match path {
            "/.well-known/edge/health" => Some(text(StatusCode::OK, "text/plain", "ok\n")),
            "/.well-known/edge/metrics" => Some(text(StatusCode::OK, "text/plain; version=0.0.4", self.prometheus())),
            "/.well-known/edge/pool" => Some(self.pool_statistics(headers)),
            _ => None,
        }
    }

    /// `GET /.well-known/edge/pool`: the Postgres pool figures as JSON, for administrators
    /// only (a service-role JWT signed with `jwt_secret`; performance-optimizer's `pool`).
    fn pool_statistics(&self, headers: &http::HeaderMap) -> Response<Body> {
        let vars = &self.runtime.shared.app_variables;
        let Some(secret) = vars.get("jwt_secret").filter(|s| !s.is_empty()) else {
            return problem(StatusCode::SERVICE_UNAVAILABLE, "not_configured", "jwt_secret is not set");
        };
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let Some(token) = token else {
            return problem(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "send `Authorization: Bearer <service-role token>`",
            );
        };
        let now = chrono::Utc::now().timestamp();
        match crate::token::verify_service_role(token.trim(), secret, vars.get("jwt_issuer"), now) {
            Ok(()) => {}
            Err(crate::token::Refusal::Invalid(why)) => {
                return problem(StatusCode::UNAUTHORIZED, why.code(), why.message());
            }
            Err(crate::token::Refusal::NotServiceRole) => {
                return problem(StatusCode::FORBIDDEN, "admin_required", "pool statistics need the service-role token");
            }
        }
        let pools: Vec<serde_json::Value> = self
            .runtime
            .shared
            .pools
            .all()
            .into_iter()
            .map(|(database, pool)| {
                let st = &pool.stats;
                let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
                let acquired = load(&st.acquired);
                serde_json::json!({
                    "database": database,
                    "max_connections": pool.max(),
                    "reserved_for_chaining": crate::pool::reserved_for_chaining(pool.max()),
                    "in_use": pool.in_use(),
                    "idle": pool.idle_count(),
                    "created": load(&st.created),
                    "acquired": acquired,
                    "reused": load(&st.reused),
                    "waited": load(&st.waited),
                    "timeouts": load(&st.timeouts),
                    "connect_errors": load(&st.connect_errors),
                    "discarded": load(&st.discarded),
                    "rolled_back": load(&st.rolled_back),
                    "acquire_microseconds_total": load(&st.acquire_micros_total),
                    "acquire_avg_microseconds": (acquired > 0)
                        .then(|| load(&st.acquire_micros_total) as f64 / acquired as f64),
                })
            })
            .collect();
        let body = serde_json::json!({
            "host": "edge",
            "uptime_seconds": self.started.elapsed().as_secs_f64(),
            "acquire_timeout_ms": crate::pool::ACQUIRE_TIMEOUT.as_millis() as u64,
            "pools": pools,
        });
        let mut r = text(StatusCode::OK, "application/json", body.to_string());
        r.headers_mut().insert("cache-control", "no-store".parse().unwrap());
        r
    }

    fn prometheus(&self) -> String {
        use std::fmt::Write;
        let m = &self.metrics;
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter("edge_requests_received_total", "HTTP requests received", m.requests.load(Ordering::Relaxed));
        counter("edge_responses_5xx_total", "responses with a 5xx status", m.responses_5xx.load(Ordering::Relaxed));
        counter("edge_not_found_total", "requests matching no route", m.not_found.load(Ordering::Relaxed));
        counter("edge_traps_total", "component instances that trapped", m.traps.load(Ordering::Relaxed));
        counter("edge_timeouts_total", "requests stopped at their time limit", m.timeouts.load(Ordering::Relaxed));
        counter(
            "edge_out_of_memory_total",
            "instances stopped at a memory limit",
            m.out_of_memory.load(Ordering::Relaxed),
        );
        counter(
            "edge_refused_per_address_total",
            "requests refused because their address had too many running",
            m.refused_per_address.load(Ordering::Relaxed),
        );
        if let Some(exporter) = &self.exporter {
            let x = &exporter.stats;
            counter(
                "edge_otlp_spans_exported_total",
                "spans the OTLP collector took",
                x.spans_exported.load(Ordering::Relaxed),
            );
            counter(
                "edge_otlp_spans_dropped_total",
                "spans dropped because the export queue was full",
                x.spans_dropped.load(Ordering::Relaxed),
            );
            counter("edge_otlp_exports_failed_total", "OTLP posts that failed", x.posts_failed.load(Ordering::Relaxed));
        }
        let c = &self.connections.stats;
        counter("edge_connections_accepted_total", "connections admitted", c.accepted.load(Ordering::Relaxed));
        counter(
            "edge_connections_refused_total",
            "connections refused at the connection caps",
            c.refused.load(Ordering::Relaxed),
        );
        counter(
            "edge_connections_evicted_total",
            "idle connections closed to make room",
            c.evicted.load(Ordering::Relaxed),
        );
        counter(
            "edge_write_timeouts_total",
            "connections closed because the client took nothing",
            c.write_timeouts.load(Ordering::Relaxed),
        );
        counter("edge_slow_bodies_total", "request bodies refused as too slow", c.slow_bodies.load(Ordering::Relaxed));
        let mut gauge = |name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge("edge_connections_open", "connections open", self.connections.open_count() as u64);
        gauge(
            "edge_instances_running",
            "instances running for clients",
            (self.runtime.limits.max_concurrent - self.slots.available_permits()) as u64,
        );
        gauge("edge_heavy_lane_in_use", "heavy requests computing", self.runtime.lane.in_use() as u64);
        gauge("edge_instance_memory_bytes", "linear memory held by instances", self.runtime.memory.used() as u64);
        gauge(
            "edge_instance_memory_budget_bytes",
            "linear memory instances may hold together",
            self.runtime.memory.limit() as u64,
        );
        // In seconds, as Prometheus' base unit (promtool refuses microseconds).
        let _ = writeln!(s, "# HELP edge_request_seconds_total time spent serving component requests\n# TYPE edge_request_seconds_total counter");
        let _ = writeln!(
            s,
            "edge_request_seconds_total {:.6}",
            m.request_micros_total.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "# HELP edge_uptime_seconds seconds since start\n# TYPE edge_uptime_seconds gauge");
        let _ = writeln!(s, "edge_uptime_seconds {:.3}", self.started.elapsed().as_secs_f64());
        let _ = writeln!(s, "# HELP edge_pg_pool connection pool figures per database\n# TYPE edge_pg_pool gauge");
        for (addr, pool) in self.runtime.shared.pools.all() {
            let label = crate::pool::public_label(&addr);
            let st = &pool.stats;
            for (k, v) in [
                ("max", pool.max() as u64),
                ("in_use", pool.in_use() as u64),
                ("idle", pool.idle_count() as u64),
                ("created", st.created.load(Ordering::Relaxed)),
                ("acquired", st.acquired.load(Ordering::Relaxed)),
                ("reused", st.reused.load(Ordering::Relaxed)),
                ("waited", st.waited.load(Ordering::Relaxed)),
                ("timeouts", st.timeouts.load(Ordering::Relaxed)),
                ("connect_errors", st.connect_errors.load(Ordering::Relaxed)),
                ("discarded", st.discarded.load(Ordering::Relaxed)),
                ("rolled_back", st.rolled_back.load(Ordering::Relaxed)),
                ("acquire_microseconds_total", st.acquire_micros_total.load(Ordering::Relaxed)),
            ] {
                let _ = writeln!(s, "edge_pg_pool{{pool=\"{label}\",figure=\"{k}\"}} {v}");
            }
        }
        self.figures.prometheus(&mut s);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_past_its_share_waits_while_others_go_ahead() {
        let slots = Arc::new(AddressSlots { max: 2, open: Default::default() });
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = slots.take(a, Duration::from_secs(1)).await.unwrap();
        let _second = slots.take(a, Duration::from_secs(1)).await.unwrap();
        assert!(slots.take(a, Duration::from_millis(50)).await.is_none(), "the third waits, then gives up");
        assert!(slots.take(b, Duration::from_millis(50)).await.is_some(), "another address is not held up");
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take(a, Duration::from_secs(5)).await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        assert!(waiting.await.unwrap(), "a freed slot goes to the one waiting");
    }

    #[tokio::test]
    async fn an_address_with_nothing_running_is_forgotten() {
        let slots = Arc::new(AddressSlots { max: 2, open: Default::default() });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let slot = slots.take(a, Duration::from_secs(1)).await.unwrap();
        assert_eq!(slots.open.lock().unwrap().len(), 1);
        drop(slot);
        assert!(slots.open.lock().unwrap().is_empty());
        assert!(slots.take(a, Duration::from_millis(1)).await.is_some());
        assert!(slots.open.lock().unwrap().is_empty(), "a slot dropped at once leaves nothing behind");
    }
}
