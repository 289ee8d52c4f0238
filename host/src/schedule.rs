//! Scheduled calls: each `[[application.tool.edge.schedule]]` entry (`path`, `every`,
//! optional `method`, default POST) is requested from the running server on its interval,
//! with a short-lived service-role token minted from `jwt_secret`, exactly as an outside
//! scheduler (a Kubernetes CronJob with curl) would. Spin ignores the table; where Spin runs
//! the application, such a scheduler does the calling.

use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub path: String,
    pub method: String,
    pub every: Duration,
}

/// `500ms`, `30s`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().with_context(|| format!("`{text}` is not a duration like 60s"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => bail!("`{text}`: the unit must be ms, s, m or h"),
    };
    if d < Duration::from_millis(100) {
        bail!("`{text}`: a schedule runs at most every 100 ms");
    }
    Ok(d)
}

/// The schedules of `[application.tool.edge]`.
pub fn from_settings(list: Option<&toml::Value>) -> Result<Vec<Schedule>> {
    let Some(list) = list else { return Ok(Vec::new()) };
    let list = list.as_array().context("[application.tool.edge] schedule must be an array of tables")?;
    list.iter()
        .map(|entry| {
            let t = entry.as_table().context("each schedule entry is a table")?;
            let text = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let path = text("path").context("a schedule entry needs `path`")?;
            if !path.starts_with('/') {
                bail!("schedule path `{path}` must start with /");
            }
            let method = text("method").unwrap_or_else(|| "POST".into()).to_ascii_uppercase();
            if !matches!(method.as_str(), "GET" | "POST") {
                bail!("schedule method `{method}` must be GET or POST");
            }
            let every = parse_duration(&text("every").context("a schedule entry needs `every`")?)?;
            for k in t.keys() {
                if !matches!(k.as_str(), "path" | "method" | "every") {
                    bail!("unknown schedule setting `{k}`");
                }
            }
            Ok(Schedule { path, method, every })
        })
        .collect()
}

/// The schedule as a Kubernetes CronJob's `schedule` (five fields, UTC). A CronJob runs at
/// most once a minute, so an interval of a minute or less runs every minute there; an interval
/// that does not divide the hour or the day evenly cannot be written as one and is refused.
pub fn cron(every: Duration) -> Result<String> {
    let secs = every.as_secs();
    if secs <= 60 {
        return Ok("* * * * *".into());
    }
    if every.subsec_nanos() != 0 || !secs.is_multiple_of(60) {
        bail!("an interval of {every:?} is not a whole number of minutes: a CronJob cannot run it");
    }
    let minutes = secs / 60;
    if minutes < 60 && 60 % minutes == 0 {
        return Ok(format!("*/{minutes} * * * *"));
    }
    if minutes.is_multiple_of(60) {
        let hours = minutes / 60;
        if hours == 24 {
            return Ok("0 0 * * *".into());
        }
        if hours < 24 && 24 % hours == 0 {
            return Ok(if hours == 1 { "0 * * * *".into() } else { format!("0 */{hours} * * *") });
        }
    }
    bail!("an interval of {every:?} does not divide an hour or a day evenly: a CronJob cannot run it")
}

/// The component a scheduled path calls: `/functions/v1/<component>/...`.
pub fn component_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/functions/v1/")?;
    let name = rest.split(['/', '?']).next()?;
    (!name.is_empty()).then_some(name)
}

/// One call; the status code, or why there was none.
async fn call(addr: SocketAddr, s: &Schedule, token: &str) -> Result<u16> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\nuser-agent: edge-schedule\r\n\
         content-length: 0\r\nconnection: close\r\n\r\n",
        s.method, s.path
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
    head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).with_context(|| format!("no HTTP status in `{head}`"))
}

/// Run every schedule against the server at `addr` until the process ends. The first call
/// comes one interval after start; a call that overruns delays the next instead of piling up.
pub fn start(schedules: Vec<Schedule>, addr: SocketAddr, secret: Option<String>, issuer: Option<String>) {
    if schedules.is_empty() {
        return;
    }
    let Some(secret) = secret else {
        crate::logs::warn("edge", None, "schedules not started: jwt_secret is not set");
        return;
    };
    for s in schedules {
        crate::logs::banner(&format!("edge: schedule {} {} every {:?}", s.method, s.path, s.every));
        let (secret, issuer) = (secret.clone(), issuer.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + s.every, s.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // Valid for a few intervals at most: a leaked token expires quickly.
                let ttl = (s.every.as_secs() as i64 * 2).clamp(60, 3600);
                let token = crate::token::mint(
                    &secret,
                    "00000000-0000-0000-0000-000000000000",
                    "service_role",
                    None,
                    issuer.as_deref(),
                    ttl,
                );
                let started = Instant::now();
                match call(addr, &s, &token).await {
                    Ok(status) => crate::logs::info(
                        "schedule",
                        None,
                        &format!(
                            "{} {} -> {status} ({:.2} ms)",
                            s.method,
                            s.path,
                            started.elapsed().as_secs_f64() * 1e3
                        ),
                    ),
                    Err(e) => crate::logs::error("schedule", None, &format!("{} {} failed: {e:#}", s.method, s.path)),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("60").is_err());
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("10ms").is_err());
    }

    #[test]
    fn intervals_become_cron_schedules_where_they_can() {
        let cron_of = |s: &str| cron(parse_duration(s).unwrap());
        assert_eq!(cron_of("1s").unwrap(), "* * * * *");
        assert_eq!(cron_of("60s").unwrap(), "* * * * *");
        assert_eq!(cron_of("5m").unwrap(), "*/5 * * * *");
        assert_eq!(cron_of("1h").unwrap(), "0 * * * *");
        assert_eq!(cron_of("6h").unwrap(), "0 */6 * * *");
        assert_eq!(cron_of("24h").unwrap(), "0 0 * * *");
        assert!(cron_of("7m").is_err());
        assert!(cron_of("90s").is_err());
        assert!(cron_of("5h").is_err());
        assert_eq!(
            component_of("/functions/v1/migration-controller/evaluate?if_active=true"),
            Some("migration-controller")
        );
        assert_eq!(component_of("/functions/v1/x"), Some("x"));
        assert_eq!(component_of("/other"), None);
    }

    #[test]
    fn schedules_are_read_from_the_edge_settings() {
        let settings: toml::Table = toml::from_str(
            r#"
request_timeout_ms = 1000
[[schedule]]
path = "/functions/v1/monitoring-alerting/evaluate"
every = "60s"
[[schedule]]
path = "/x"
method = "get"
every = "2m"
"#,
        )
        .unwrap();
        let s = from_settings(settings.get("schedule")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].method.as_str(), s[0].every), ("POST", Duration::from_secs(60)));
        assert_eq!((s[1].method.as_str(), s[1].path.as_str()), ("GET", "/x"));
        let bad: toml::Table = toml::from_str("[[schedule]]\npath = \"x\"\nevery = \"1s\"").unwrap();
        assert!(from_settings(bad.get("schedule")).is_err());
        let unknown: toml::Table = toml::from_str("[[schedule]]\npath = \"/x\"\nevery = \"1s\"\ncron = \"*\"").unwrap();
        assert!(from_settings(unknown.get("schedule")).is_err());
        assert!(from_settings(None).unwrap().is_empty());
    }
}
