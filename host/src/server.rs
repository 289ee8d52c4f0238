//! The HTTP front: Spin routing, `spin-*` headers, one instance per request, host metrics.

use crate::routes::Router;
use crate::runtime::Runtime;
use anyhow::Result;
use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::WasiBody;

type Body = UnsyncBoxBody<Bytes, anyhow::Error>;

/// Largest request body the host passes to a component at all; components apply their
/// own, smaller limits.
pub const MAX_BODY_BYTES: u64 = 16 << 20;

#[derive(Default)]
pub struct HostMetrics {
    pub requests: AtomicU64,
    pub responses_5xx: AtomicU64,
    pub not_found: AtomicU64,
    pub traps: AtomicU64,
    pub timeouts: AtomicU64,
    pub request_micros_total: AtomicU64,
}

pub struct Server {
    pub runtime: Runtime,
    pub router: Router,
    pub slots: Semaphore,
    pub metrics: HostMetrics,
    pub started: Instant,
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

pub async fn serve(server: Arc<Server>, listener: TcpListener) -> Result<()> {
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("edge: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(server.handle(req, client).await) }
            });
            let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
        });
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
    });
    let mut r = text(status, "application/problem+json", body.to_string());
    let h = r.headers_mut();
    h.insert("access-control-allow-origin", "*".parse().unwrap());
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::GATEWAY_TIMEOUT {
        h.insert("retry-after", "1".parse().unwrap());
    }
    r
}

/// A request slot held by a running instance; returned when the instance ends (or is
/// aborted at its time limit).
struct SlotGuard(Arc<Server>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.slots.add_permits(1);
    }
}

impl Server {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, client: SocketAddr) -> Response<Body> {
        self.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let path = req.uri().path().to_string();
        if let Some(r) = self.host_endpoint(&path, req.headers()) {
            return r;
        }
        let declared_len = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_len.is_some_and(|n| n > MAX_BODY_BYTES) {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
            );
        }
        let (parts, body) = req.into_parts();
        let body = Limited::new(body, MAX_BODY_BYTES as usize)
            .map_err(|_| wasmtime_wasi_http::Error::HttpRequestBodySize(Some(MAX_BODY_BYTES)))
            .boxed_unsync();
        self.dispatch(Request::from_parts(parts, body), &client.to_string(), None).await
    }

    /// A request from one component to another (`http://<component>.spin.internal/...`,
    /// Spin's service chaining): routed in-process, never over the network.
    pub async fn dispatch_internal(&self, component: &str, req: Request<WasiBody>) -> Response<Body> {
        self.dispatch(req, "127.0.0.1:0", Some(component)).await
    }

    /// Route a request (to `only` when given), set Spin's headers, and run the component.
    async fn dispatch(&self, req: Request<WasiBody>, client: &str, only: Option<&str>) -> Response<Body> {
        let started = Instant::now();
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let matched = match only {
            None => self.router.route(&path),
            Some(name) => self.router.route_to(name, &path),
        };
        let Some(matched) = matched else {
            self.metrics.not_found.fetch_add(1, Ordering::Relaxed);
            return problem(StatusCode::NOT_FOUND, "route_not_found", &format!("no function serves {path}"));
        };
        let route = matched.route.clone();
        let path_info = matched.path_info;
        let Some(component) = self.runtime.components.get(&route.component) else {
            return problem(StatusCode::NOT_FOUND, "route_not_found", &format!("no function serves {path}"));
        };

        let (mut parts, body) = req.into_parts();
        // Clients must not be able to forge what the host asserts.
        let forged: Vec<_> = parts.headers.keys().filter(|k| k.as_str().starts_with("spin-")).cloned().collect();
        for k in forged {
            parts.headers.remove(k);
        }
        let host = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or(path.clone());
        let full_url = format!("http://{host}{path_and_query}");
        let set = |h: &mut http::HeaderMap, k: &'static str, v: &str| {
            if let Ok(v) = v.parse() {
                h.insert(k, v);
            }
        };
        set(&mut parts.headers, "spin-full-url", &full_url);
        set(&mut parts.headers, "spin-path-info", &path_info);
        set(&mut parts.headers, "spin-matched-route", &route.raw);
        set(&mut parts.headers, "spin-raw-component-route", &route.raw);
        set(&mut parts.headers, "spin-component-route", &route.base);
        set(&mut parts.headers, "spin-base-path", "/");
        set(&mut parts.headers, "spin-client-addr", client);
        if let Ok(uri) = full_url.parse() {
            parts.uri = uri;
        }
        let req = Request::from_parts(parts, body);

        let permit = match tokio::time::timeout(self.runtime.limits.request_timeout, self.slots.acquire()).await {
            Ok(Ok(p)) => p,
            _ => return problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the host is at capacity; retry shortly"),
        };
        // The slot goes with the instance: it is freed when the instance ends, not when the
        // response head is out (a component may go on writing its body and its metrics row),
        // so live instances never exceed the slots and the instance pool is never exhausted.
        let response = self.run_component(component, req, permit).await;
        let status = response.status();
        if status.is_server_error() {
            self.metrics.responses_5xx.fetch_add(1, Ordering::Relaxed);
        }
        let elapsed = started.elapsed();
        self.metrics.request_micros_total.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        println!(
            "[{}] {} {} -> {} ({:.2} ms){}",
            route.component,
            method,
            path,
            status.as_u16(),
            elapsed.as_secs_f64() * 1e3,
            if only.is_some() { " internal" } else { "" }
        );
        response
    }

    async fn run_component(
        &self,
        component: &crate::runtime::LoadedComponent,
        req: Request<WasiBody>,
        slot: tokio::sync::SemaphorePermit<'_>,
    ) -> Response<Body> {
        let mut store = self.runtime.new_store(component);
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
                eprintln!("[{}] cannot prepare request: {e:#}", component.info.name);
                return problem(StatusCode::BAD_REQUEST, "bad_request", "the request could not be read");
            }
        };
        let pre = component.pre.clone();
        let name = component.info.name.clone();
        let timeout = self.runtime.limits.request_timeout;
        let server = self.runtime.shared.server.get().and_then(|w| w.upgrade());
        let (slot_guard, _slot_here) = match server {
            Some(server) => {
                slot.forget();
                (Some(SlotGuard(server)), None)
            }
            None => (None, Some(slot)),
        };
        let task = tokio::spawn(async move {
            let _slot = slot_guard;
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
        });

        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(Ok(resp))) => resp.map(|b| b.map_err(anyhow::Error::from).boxed_unsync()),
            Ok(Ok(Err(code))) => {
                eprintln!("[{name}] component answered with an error code: {code:?}");
                problem(StatusCode::INTERNAL_SERVER_ERROR, "component_error", "the function failed to answer")
            }
            Ok(Err(_)) => {
                // The component ended (or trapped) without answering.
                let outcome = task.await;
                let detail = match outcome {
                    Ok(Ok(())) => "the function ended without answering".to_string(),
                    Ok(Err(e)) => {
                        self.metrics.traps.fetch_add(1, Ordering::Relaxed);
                        let timed_out = matches!(e.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt));
                        eprintln!("[{name}] trapped: {e:#}");
                        if timed_out {
                            self.metrics.timeouts.fetch_add(1, Ordering::Relaxed);
                            return problem(
                                StatusCode::GATEWAY_TIMEOUT,
                                "function_timeout",
                                &format!("the function exceeded its {} ms time limit", timeout.as_millis()),
                            );
                        }
                        "the function failed".to_string()
                    }
                    Err(e) => {
                        eprintln!("[{name}] task failed: {e}");
                        "the function failed".to_string()
                    }
                };
                problem(StatusCode::INTERNAL_SERVER_ERROR, "function_failed", &detail)
            }
            Err(_) => {
                self.metrics.timeouts.fetch_add(1, Ordering::Relaxed);
                task.abort();
                problem(
                    StatusCode::GATEWAY_TIMEOUT,
                    "function_timeout",
                    &format!("the function exceeded its {} ms time limit", timeout.as_millis()),
                )
            }
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
            return problem(StatusCode::UNAUTHORIZED, "missing_token", "send `Authorization: Bearer <service-role token>`");
        };
        let now = chrono::Utc::now().timestamp();
        match crate::token::verify_service_role(token.trim(), secret, vars.get("jwt_issuer"), now) {
            Ok(()) => {}
            Err(crate::token::Refusal::Invalid(code)) => {
                return problem(StatusCode::UNAUTHORIZED, code, "the token was refused");
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
        counter("edge_requests_total", "HTTP requests received", m.requests.load(Ordering::Relaxed));
        counter("edge_responses_5xx_total", "responses with a 5xx status", m.responses_5xx.load(Ordering::Relaxed));
        counter("edge_not_found_total", "requests matching no route", m.not_found.load(Ordering::Relaxed));
        counter("edge_traps_total", "component instances that trapped", m.traps.load(Ordering::Relaxed));
        counter("edge_timeouts_total", "requests stopped at their time limit", m.timeouts.load(Ordering::Relaxed));
        counter(
            "edge_request_microseconds_total",
            "time spent serving component requests",
            m.request_micros_total.load(Ordering::Relaxed),
        );
        let _ = writeln!(s, "# HELP edge_uptime_seconds seconds since start\n# TYPE edge_uptime_seconds gauge");
        let _ = writeln!(s, "edge_uptime_seconds {:.3}", self.started.elapsed().as_secs_f64());
        let _ = writeln!(s, "# HELP edge_pg_pool connection pool figures per database\n# TYPE edge_pg_pool gauge");
        for (addr, pool) in self.runtime.shared.pools.all() {
            let (database, fingerprint) = crate::pool::public_label(&addr);
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
                let _ = writeln!(s, "edge_pg_pool{{database=\"{database}\",pool=\"{fingerprint}\",figure=\"{k}\"}} {v}");
            }
        }
        s
    }
}
