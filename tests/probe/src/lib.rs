//! Test-only component for the host's own tests; never part of `spin.toml`.
//!
//! Routes (below its mount point): `/echo` (method, path, headers, body length),
//! `/json` (parses a JSON body through the shared pipeline), `/var?name=`, `/loop`
//! (never ends), `/alloc` (grows memory without bound), `/big?kib=` (an answer of that
//! size; with `&db=1` after a query on the request's database connection, `db_url`),
//! `/fetch?url=` (outbound HTTP), `/pg?url=` (opens a Postgres connection), `/session` (the
//! request's database session as it finds it; with `?trap=1` it traps in the middle of a
//! transaction instead of answering).

use serde_json::json;
use shared::db::{self, Db};
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

const FUNCTION: Function = Function::new("probe", "test", Callers::Users);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve(&FUNCTION, req, out, route).await
}

async fn route(ctx: &Context) -> Result<Response, Problem> {
    let req = &ctx.request;
    match req.segments().first().copied().unwrap_or("") {
        "echo" => Ok(Response::ok(&json!({
            "method": req.method.as_str(),
            "path": req.path,
            "sub_path": req.sub_path,
            "query": req.query,
            "headers": req.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "body_len": req.body.len(),
        }))),
        // Two lines on stderr and a third without its newline (the host shows them line by line).
        "stderr" => {
            eprintln!("probe stderr: first line\nprobe stderr: second line");
            eprint!("probe stderr: unterminated");
            Ok(Response::ok(&json!({ "written": 3 })))
        }
        "json" => {
            let v: serde_json::Value = req.json()?;
            Ok(Response::ok(&json!({ "received": v })))
        }
        "var" => {
            let name = req.query_param("name").unwrap_or_default();
            match spin_sdk::variables::get(&name) {
                Ok(v) => Ok(Response::ok(&json!({ "name": name, "value": v }))),
                Err(e) => Err(Problem::not_found(format!("variable {name}: {e}"))),
            }
        }
        "loop" => {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut hog: Vec<Vec<u8>> = Vec::new();
            loop {
                hog.push(vec![1u8; 8 << 20]);
                std::hint::black_box(&hog);
            }
        }
        "big" => {
            let kib: usize = req.query_param("kib").and_then(|k| k.parse().ok()).unwrap_or(1024);
            if req.query_param("db").as_deref() == Some("1") {
                ctx.db()?.query("SELECT 1::int4 AS one", &[])?;
            }
            Ok(Response::bytes(200, "application/octet-stream", vec![b'x'; kib << 10]))
        }
        "fetch" => {
            let url = req.query_param("url").unwrap_or_default();
            let request = spin_sdk::http::Request::get(url).build();
            match spin_sdk::http::send::<_, spin_sdk::http::Response>(request).await {
                Ok(r) => Ok(Response::ok(&json!({ "status": *r.status(), "body": String::from_utf8_lossy(r.body()) }))),
                Err(e) => Ok(Response::json(502, &json!({ "error": e.to_string() }))),
            }
        }
        "pg" => {
            let url = req.query_param("url").unwrap_or_default();
            match shared::db::Db::open(&url) {
                Ok(db) => {
                    let rows = db.query("SELECT 1::int4 AS one", &[])?;
                    Ok(Response::ok(&json!({ "one": rows.one()?.i64("one")? })))
                }
                Err(e) => Ok(Response::json(502, &json!({ "error": e.to_string() }))),
            }
        }
        "session" => {
            let db = ctx.db()?;
            if req.query_param("trap").as_deref() == Some("1") {
                leave_a_transaction_open(&db)?;
                eprintln!("probe session: trapping in a transaction: {}", session(&db)?);
                panic!("probe: trapped in the middle of a transaction");
            }
            Ok(Response::ok(&session(&db)?))
        }
        _ => Err(Problem::route_not_found(req)),
    }
}

/// Everything a request could leave behind on its connection: a transaction (with an id, so
/// the next request can tell it is not inside it), a role and claims, a session setting, an
/// advisory lock; then back from a savepoint, still inside the transaction.
fn leave_a_transaction_open(db: &Db) -> Result<(), Problem> {
    db.execute("BEGIN", &[])?;
    db.query(
        "SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true),
                set_config('application_name', 'left by the probe', false), txid_current()",
        &[db::text(r#"{"sub":"probe"}"#)],
    )?;
    db.execute("SELECT pg_advisory_xact_lock(7247)", &[])?;
    db.execute("SAVEPOINT probe", &[])?;
    db.execute("ROLLBACK TO SAVEPOINT probe", &[])?;
    Ok(())
}

/// The session as this request sees it: its backend, the transaction id it holds if any,
/// its role, claims and application name, the advisory locks it holds.
fn session(db: &Db) -> Result<serde_json::Value, Problem> {
    let rows = db.query(
        "SELECT pg_backend_pid() AS pid, txid_current_if_assigned()::text AS xid,
                current_setting('role') AS role,
                coalesce(current_setting('request.jwt.claims', true), '') AS claims,
                current_setting('application_name') AS application_name,
                (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory')::int4
                    AS advisory_locks",
        &[],
    )?;
    let row = rows.one()?;
    Ok(json!({
        "pid": row.i64("pid")?,
        "xid": row.text("xid")?,
        "role": row.string("role")?,
        "claims": row.string("claims")?,
        "application_name": row.string("application_name")?,
        "advisory_locks": row.i64("advisory_locks")?,
    }))
}
