//! A small HTTP/1.1 client (so tests can also send what a polite client never would) and a
//! local server that records the requests it receives.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Req {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Req {
    pub fn new(method: &str, url: &str) -> Req {
        Req {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Req {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Req {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json(self, v: &serde_json::Value) -> Req {
        self.header("content-type", "application/json").body(v.to_string().into_bytes())
    }

    pub fn body(mut self, body: Vec<u8>) -> Req {
        self.body = body;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Req {
        self.timeout = t;
        self
    }

    pub fn send(self) -> HttpResponse {
        self.try_send().unwrap_or_else(|e| panic!("request failed: {e}"))
    }

    pub fn try_send(self) -> std::io::Result<HttpResponse> {
        let rest = self.url.strip_prefix("http://").expect("http:// URLs only");
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let mut stream = TcpStream::connect(authority)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let mut head = format!("{} {} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n", self.method, path);
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let has_length = self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        if !has_length && (!self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH")) {
            head.push_str(&format!("content-length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        // A server may answer (413) before reading a large body; that is not a failure.
        let _ = stream.write_all(&self.body);
        let response = read_response(&mut BufReader::new(stream))?;
        record(&self.method, path, &response);
        Ok(response)
    }
}

/// With `E2E_RECORD_ANSWERS=DIR`, every success answer of a function (a path under
/// `/functions/v1/`) is appended to `DIR/answers-<pid>.jsonl` as `{method, path, status,
/// content_type, body}` (body: the JSON, or null): material to check openapi.yaml's schemas
/// against every answer the suites see, not only the ones api_description asks for.
fn record(method: &str, path: &str, r: &HttpResponse) {
    static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);
    let Ok(dir) = std::env::var("E2E_RECORD_ANSWERS") else { return };
    if !(200..300).contains(&r.status) || !path.starts_with("/functions/v1/") {
        return;
    }
    let line = serde_json::json!({
        "method": method,
        "path": path,
        "status": r.status,
        "content_type": r.header("content-type"),
        "body": serde_json::from_slice::<serde_json::Value>(&r.body).unwrap_or(serde_json::Value::Null),
    });
    let mut file = FILE.lock().unwrap_or_else(|e| e.into_inner());
    if file.is_none() {
        let _ = std::fs::create_dir_all(&dir);
        let path = std::path::Path::new(&dir).join(format!("answers-{}.jsonl", std::process::id()));
        *file = std::fs::OpenOptions::new().create(true).append(true).open(path).ok();
    }
    if let Some(f) = file.as_mut() {
        let _ = writeln!(f, "{line}");
    }
}

/// Read one response (status line, headers, body by length or chunks): also from a kept-alive
/// connection, which the load tests reuse.
pub fn read_response(r: &mut impl BufRead) -> std::io::Result<HttpResponse> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(std::io::Error::other)?;
            if n == 0 {
                let mut end = String::new();
                let _ = r.read_line(&mut end);
                break;
            }
            let mut chunk = vec![0; n];
            r.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(HttpResponse { status, headers, body })
}

/// A request received by a [`Recorder`].
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A local HTTP server that answers every request with a fixed status and body and keeps
/// what it received.
pub struct Recorder {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// What it answers from now on: status and body.
    answer: Arc<Mutex<(u16, String)>>,
}

impl Recorder {
    pub fn start(status: u16, body: &str) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new((status, body.to_string())));
        let log = requests.clone();
        let answers = answer.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                let answers = answers.clone();
                std::thread::spawn(move || {
                    let mut r = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if r.read_line(&mut line).is_err() {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let path = parts.next().unwrap_or("").to_string();
                    let mut headers = Vec::new();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).is_err() {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                        }
                    }
                    let len = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    let mut received = vec![0; len];
                    let _ = r.read_exact(&mut received);
                    log.lock().unwrap().push(Recorded { method, path, headers, body: received });
                    let (status, body) = answers.lock().unwrap().clone();
                    let mut s = stream;
                    let _ = write!(
                        s,
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Recorder { port, requests, answer }
    }

    /// Answer `status` with `body` from now on.
    pub fn answer(&self, status: u16, body: &str) {
        *self.answer.lock().unwrap() = (status, body.to_string());
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}
