//! subscription-status and webhook-handler compiled natively behind a plain hyper server: the
//! upper bound of `scripts/bench compare` (what Wasm isolation costs). The code is the
//! components' own (`route`, shared's pipeline, `Db`); only the platform differs: PostgreSQL
//! through tokio-postgres (shared's `native` feature, pooled like edge's) and variables from
//! `SPIN_VARIABLE_<NAME>`, as edge reads them.
//!
//! `bench-native --listen 127.0.0.1:3000`

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use shared::http::{Method, DEFAULT_BODY_LIMIT};
use shared::service::Function;
use shared::{Problem, Request, Response};
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:3000".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if let Err(e) = runtime.block_on(serve(&listen)) {
        eprintln!("bench-native: {e}");
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: bench-native [--listen ADDR]");
    std::process::exit(2)
}

async fn serve(listen: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    eprintln!("bench-native: listening on http://{listen}");
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("bench-native: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(move |req| async move { Ok::<_, Infallible>(handle(req, client).await) });
            let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn method_of(m: &hyper::Method) -> Method {
    match *m {
        hyper::Method::GET => Method::Get,
        hyper::Method::POST => Method::Post,
        hyper::Method::PUT => Method::Put,
        hyper::Method::PATCH => Method::Patch,
        hyper::Method::DELETE => Method::Delete,
        hyper::Method::OPTIONS => Method::Options,
        hyper::Method::HEAD => Method::Head,
        ref other => Method::Other(other.to_string()),
    }
}

async fn handle(req: hyper::Request<Incoming>, client: SocketAddr) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let below = path.strip_prefix("/functions/v1/").unwrap_or("");
    let (function, sub_path) = match below.find('/') {
        Some(i) => (&below[..i], below[i..].to_string()),
        None => (below, String::new()),
    };
    let function: &'static Function = match function {
        "subscription-status" => &subscription_status::FUNCTION,
        "webhook-handler" => &webhook_handler::FUNCTION,
        _ => return answer(Response::problem(&Problem::new(404, "route_not_found", "No such function"))),
    };
    let body = match Limited::new(body, DEFAULT_BODY_LIMIT).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => {
            return answer(Response::problem(
                &Problem::new(413, "payload_too_large", "The request body is too large")
                    .detail(format!("bodies are limited to {DEFAULT_BODY_LIMIT} bytes")),
            ))
        }
    };
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| !k.as_str().starts_with("spin-"))
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    headers.push(("spin-path-info".into(), sub_path.clone()));
    headers.push(("spin-client-addr".into(), client.to_string()));
    let request = Request {
        method: method_of(&parts.method),
        path,
        sub_path,
        query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body,
    };

    // The handler's database calls block: it runs on the blocking pool, and the response comes
    // back as soon as it exists (the metrics row is written after, on the same thread).
    let (tx, rx) = oneshot::channel();
    let send = move |r: Response| {
        let _ = tx.send(r);
    };
    tokio::task::spawn_blocking(move || {
        futures::executor::block_on(async move {
            match function.name {
                "subscription-status" => {
                    shared::service::serve_native(function, request, send, subscription_status::route).await
                }
                _ => shared::service::serve_native(function, request, send, webhook_handler::route).await,
            }
        })
    });
    match rx.await {
        Ok(r) => answer(r),
        Err(_) => answer(Response::problem(&Problem::internal())),
    }
}

fn answer(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k, v);
    }
    b.body(Full::new(Bytes::from(r.body))).unwrap_or_else(|_| {
        hyper::Response::builder().status(500).body(Full::new(Bytes::new())).expect("static response")
    })
}
