//! The host's log lines, as text for people or one JSON object per line for log collectors
//! (`edge up --log-format`), and components' stderr shown among them, line by line, under the
//! component's name and the request's id (and still appended to its log file).
//!
//! Text: `2026-12-07T15:10:25.123Z INFO  <request id> [<component>] <message>`; `-` for no
//! request. JSON: `{"ts", "level", "component", "request_id", "trace_id", "msg"}` (`stream`:
//! `stderr` on a component's own lines).

use crate::cli::LogFormat;
use crate::trace::RequestScope;
use bytes::Bytes;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Set once, at start; text until then.
pub fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or(LogFormat::Text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

pub fn info(component: &str, scope: Option<&RequestScope>, msg: &str) {
    emit(Level::Info, component, scope, msg, None);
}

pub fn warn(component: &str, scope: Option<&RequestScope>, msg: &str) {
    emit(Level::Warn, component, scope, msg, None);
}

pub fn error(component: &str, scope: Option<&RequestScope>, msg: &str) {
    emit(Level::Error, component, scope, msg, None);
}

/// A start-up line (`Serving http://...`, the routes, the limits): as it is in text, so it
/// reads like `spin up`'s banner; a JSON object like any other line in JSON.
pub fn banner(msg: &str) {
    match format() {
        LogFormat::Text => println!("{msg}"),
        LogFormat::Json => emit(Level::Info, "edge", None, msg, None),
    }
}

/// Information goes to stdout, problems to stderr (as before the format existed); each line
/// written whole under the stream's lock, so lines of concurrent requests never interleave.
fn emit(level: Level, component: &str, scope: Option<&RequestScope>, msg: &str, stream: Option<&str>) {
    let line = render(format(), level, component, scope, msg, stream, &now());
    let _ = if level == Level::Info {
        writeln!(std::io::stdout().lock(), "{line}")
    } else {
        writeln!(std::io::stderr().lock(), "{line}")
    };
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn render(
    format: LogFormat,
    level: Level,
    component: &str,
    scope: Option<&RequestScope>,
    msg: &str,
    stream: Option<&str>,
    ts: &str,
) -> String {
    match format {
        LogFormat::Text => {
            let id = scope.map_or("-", |s| s.request_id.as_str());
            format!("{ts} {:<5} {id} [{component}] {msg}", level.as_str().to_ascii_uppercase())
        }
        LogFormat::Json => {
            let mut line = serde_json::json!({
                "ts": ts,
                "level": level.as_str(),
                "component": component,
                "request_id": scope.map(|s| s.request_id.as_str()),
                "trace_id": scope.map(|s| s.trace_id_hex()),
                "msg": msg,
            });
            if let Some(stream) = stream {
                line["stream"] = stream.into();
            }
            line.to_string()
        }
    }
}

/// The longest piece of a component's stderr held waiting for its end of line; a longer one
/// is shown as it is.
const MAX_PENDING: usize = 16 << 10;

/// A component's stderr for one request: appended to its log file as written, and shown in
/// the console a line at a time.
#[derive(Clone)]
pub struct ComponentStderr {
    file: Option<Arc<std::fs::File>>,
    console: Arc<Console>,
}

struct Console {
    component: String,
    scope: Arc<RequestScope>,
    pending: Mutex<Vec<u8>>,
}

impl ComponentStderr {
    pub fn new(file: Option<Arc<std::fs::File>>, component: &str, scope: Arc<RequestScope>) -> ComponentStderr {
        ComponentStderr {
            file,
            console: Arc::new(Console { component: component.to_string(), scope, pending: Mutex::new(Vec::new()) }),
        }
    }

    fn write_bytes(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.console.take(bytes);
        match &self.file {
            Some(f) => (&**f).write_all(bytes),
            None => Ok(()),
        }
    }
}

impl Console {
    fn take(&self, bytes: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.extend_from_slice(bytes);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            self.show(&line[..end]);
        }
        if pending.len() > MAX_PENDING {
            let line = std::mem::take(&mut *pending);
            self.show(&line);
        }
    }

    fn show(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        emit(Level::Info, &self.component, Some(&self.scope), line, Some("stderr"));
    }
}

impl Drop for Console {
    /// The request is over: a last line without its newline is shown too.
    fn drop(&mut self) {
        let pending = std::mem::take(self.pending.get_mut().unwrap_or_else(|e| e.into_inner()));
        if !pending.is_empty() {
            self.show(&pending);
        }
    }
}

impl IsTerminal for ComponentStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for ComponentStderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for ComponentStderr {
    async fn ready(&mut self) {}
}

impl OutputStream for ComponentStderr {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes).map_err(|e| StreamError::LastOperationFailed(wasmtime::format_err!(e)))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for ComponentStderr {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(self.write_bytes(buf).map(|()| buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> RequestScope {
        RequestScope {
            request_id: "req-1".into(),
            trace_id: [0xab; 16],
            span_id: [1; 8],
            parent_span_id: None,
            flags: 1,
        }
    }

    #[test]
    fn text_lines_carry_time_level_request_and_component() {
        let line = render(
            LogFormat::Text,
            Level::Warn,
            "quote-processor",
            Some(&scope()),
            "GET /x -> 200",
            None,
            "2026-01-01T00:00:00.000Z",
        );
        assert_eq!(line, "2026-01-01T00:00:00.000Z WARN  req-1 [quote-processor] GET /x -> 200");
        let line = render(LogFormat::Text, Level::Info, "edge", None, "started", None, "T");
        assert_eq!(line, "T INFO  - [edge] started");
    }

    #[test]
    fn json_lines_are_one_object_each() {
        let line = render(
            LogFormat::Json,
            Level::Info,
            "quote-processor",
            Some(&scope()),
            "a \"quoted\"\nmessage",
            Some("stderr"),
            "T",
        );
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ts"], "T");
        assert_eq!(v["level"], "info");
        assert_eq!(v["component"], "quote-processor");
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["trace_id"], "ab".repeat(16));
        assert_eq!(v["msg"], "a \"quoted\"\nmessage");
        assert_eq!(v["stream"], "stderr");
        let v: serde_json::Value =
            serde_json::from_str(&render(LogFormat::Json, Level::Error, "edge", None, "m", None, "T")).unwrap();
        assert!(v["request_id"].is_null() && v["trace_id"].is_null());
    }

    #[test]
    fn stderr_goes_to_the_file_whole_and_to_the_console_by_lines() {
        let path = std::env::temp_dir().join(format!("edge-stderr-{}", std::process::id()));
        let file = Arc::new(std::fs::File::create(&path).unwrap());
        let mut out = ComponentStderr::new(Some(file), "c", Arc::new(scope()));
        out.write(Bytes::from_static(b"first li")).unwrap();
        assert_eq!(out.console.pending.lock().unwrap().as_slice(), b"first li");
        out.write(Bytes::from_static(b"ne\r\nsecond\nthi")).unwrap();
        assert_eq!(out.console.pending.lock().unwrap().as_slice(), b"thi", "whole lines were shown");
        out.write(Bytes::from(vec![b'x'; MAX_PENDING + 1])).unwrap();
        assert!(out.console.pending.lock().unwrap().is_empty(), "an endless line is shown anyway");
        drop(out);
        assert_eq!(std::fs::read(&path).unwrap().len(), "first line\r\nsecond\nthi".len() + MAX_PENDING + 1);
        std::fs::remove_file(path).unwrap();
    }
}
