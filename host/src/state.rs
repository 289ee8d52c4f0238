//! Per-request store data and the state shared by every request.

use crate::bindings::fermyon::spin::variables::{self, Error as VariableError};
use crate::cpu::Meter;
use crate::memory::MemoryLimiter;
use crate::outbound::OutboundPolicy;
use crate::pool::Pools;
use crate::variables::{AppVariables, ComponentVariables};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// What the host knows about one component.
pub struct ComponentInfo {
    pub name: String,
    pub outbound: OutboundPolicy,
    pub variables: ComponentVariables,
    /// `key_value_stores` and `sqlite_databases`: the labels it may open.
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
}

/// State shared by all requests.
pub struct Shared {
    pub app_variables: AppVariables,
    pub pools: Pools,
    /// The embedded `default` key-value store and SQLite database (in the state folder).
    pub key_value: crate::key_value::Stores,
    pub sqlite: crate::sqlite::Databases,
    /// Fail queries whose results released Spin could not return (`EDGE_SPIN_COMPAT=1`).
    pub spin_compat: bool,
    /// Environment variables every component sees (`edge up -e KEY=VALUE`).
    pub env: Vec<(String, String)>,
}

/// The data of one request's store.
pub struct RequestState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: OutboundHooks,
    pub memory: MemoryLimiter,
    /// The request is a call from another component (it may use the database connections
    /// kept for such calls).
    pub chained: bool,
    /// When the request's time is up: the instance traps at its next tick after this.
    pub deadline: Instant,
    /// Its computing time and place in the heavy lane (see `cpu`).
    pub cpu: Arc<Meter>,
    pub component: Arc<ComponentInfo>,
    pub shared: Arc<Shared>,
}

impl RequestState {
    pub fn log(&self, message: &str) {
        crate::logs::warn(&self.component.name, Some(&self.hooks.scope), message);
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

impl variables::Host for RequestState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, VariableError>> {
        Ok(self.component.variables.get(&self.shared.app_variables, &name).map_err(|e| match e {
            crate::variables::VariableError::InvalidName(n) => VariableError::InvalidName(n),
            crate::variables::VariableError::Undefined(n) => VariableError::Undefined(n),
        }))
    }
}

/// Outgoing HTTP: only to `allowed_outbound_hosts`; `<component>.spin.internal` in-process,
/// anything else with the default client.
pub struct OutboundHooks {
    pub component: Arc<ComponentInfo>,
    /// The server, for requests between components; none outside a server (benchmarks).
    pub server: Option<Arc<crate::server::Server>>,
    /// The request's deadline, which its calls to other components inherit.
    pub deadline: Instant,
    /// The request's ids: its calls to other components are its children in the trace.
    pub scope: Arc<crate::trace::RequestScope>,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>),
                wasmtime_wasi_http::Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_string();
        let host = uri.host().unwrap_or("").to_string();
        let port = uri.port_u16();
        // A self request (Spin's way to call the application's own origin where service
        // chaining is not available): `http://self.alt/...`, or a URL without a host. Allowed
        // by `http://self` (or a wildcard) and served in-process, routed like a client's.
        if host.is_empty() || host == "self.alt" {
            if !self.component.outbound.allows_self(if scheme == "https" { "https" } else { "http" }) {
                crate::logs::warn(
                    &self.component.name,
                    Some(&self.scope),
                    "outbound request to self refused: add http://self to allowed_outbound_hosts",
                );
                return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
            }
            let server = self.server.clone();
            let deadline = self.deadline;
            let scope = Arc::new(self.scope.child());
            return Box::new(async move {
                use http_body_util::BodyExt;
                let server = server.ok_or(wasmtime_wasi_http::Error::DestinationUnavailable)?;
                let response = server.dispatch_self(request, deadline, scope).await;
                let response =
                    response.map(|b| b.map_err(|_| wasmtime_wasi_http::Error::HttpResponseIncomplete).boxed_unsync());
                Ok((
                    response,
                    Box::new(async { Ok(()) })
                        as Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                ))
            });
        }
        if !self.component.outbound.allows(&scheme, &host, port) {
            crate::logs::warn(
                &self.component.name,
                Some(&self.scope),
                &format!(
                    "outbound {scheme}://{host}{} refused: not in allowed_outbound_hosts",
                    port.map(|p| format!(":{p}")).unwrap_or_default()
                ),
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        if let Some(target) = host.strip_suffix(".spin.internal") {
            let target = target.to_string();
            let server = self.server.clone();
            let deadline = self.deadline;
            let scope = Arc::new(self.scope.child());
            return Box::new(async move {
                use http_body_util::BodyExt;
                let server = server.ok_or(wasmtime_wasi_http::Error::DestinationUnavailable)?;
                let response = server.dispatch_internal(&target, request, deadline, scope).await;
                let response =
                    response.map(|b| b.map_err(|_| wasmtime_wasi_http::Error::HttpResponseIncomplete).boxed_unsync());
                Ok((
                    response,
                    Box::new(async { Ok(()) })
                        as Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                ))
            });
        }
        // A provider that hangs must not hold a request past these (components may set their own).
        let options = options.or(Some(wasmtime_wasi_http::RequestOptions {
            connect_timeout: Some(std::time::Duration::from_secs(5)),
            first_byte_timeout: Some(std::time::Duration::from_secs(15)),
            between_bytes_timeout: Some(std::time::Duration::from_secs(15)),
        }));
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
            ))
        })
    }
}
