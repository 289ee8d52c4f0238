//! `fermyon:spin/sqlite@2.0.0`: the embedded `default` database, as Spin has it without a
//! runtime configuration: one SQLite file in the application's state folder
//! (`.edge/sqlite_db.db`), shared by the components that list it in `sqlite_databases`
//! (others get `access-denied`).

use crate::bindings::fermyon::spin::sqlite::{self as sql, Error, QueryResult, RowResult, Value};
use crate::state::RequestState;
use rusqlite::types::ValueRef;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::component::Resource;

/// The label of the one database this host provides.
pub const DEFAULT: &str = "default";

/// An open connection, as a component holds it.
pub struct Connection {
    label: String,
}

/// The application's databases, opened on first use and shared by every request.
pub struct Databases {
    default_path: PathBuf,
    default: OnceLock<Arc<Mutex<rusqlite::Connection>>>,
}

impl Databases {
    pub fn new(default_path: PathBuf) -> Databases {
        Databases { default_path, default: OnceLock::new() }
    }

    fn connection(&self) -> Result<Arc<Mutex<rusqlite::Connection>>, Error> {
        if let Some(c) = self.default.get() {
            return Ok(c.clone());
        }
        if let Some(dir) = self.default_path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let c = rusqlite::Connection::open(&self.default_path).map_err(io)?;
        c.busy_timeout(std::time::Duration::from_secs(5)).map_err(io)?;
        let c = Arc::new(Mutex::new(c));
        Ok(self.default.get_or_init(|| c).clone())
    }
}

fn io(e: rusqlite::Error) -> Error {
    Error::Io(e.to_string())
}

fn to_sql(v: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Integer(i) => V::Integer(i),
        Value::Real(r) => V::Real(r),
        Value::Text(t) => V::Text(t),
        Value::Blob(b) => V::Blob(b),
        Value::Null => V::Null,
    }
}

fn from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Run one statement with its parameters; the rows it returns, if any.
fn execute(c: &rusqlite::Connection, statement: &str, parameters: Vec<Value>) -> rusqlite::Result<QueryResult> {
    let mut stmt = c.prepare_cached(statement)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_string).collect();
    let n = columns.len();
    let mut rows = stmt.query(rusqlite::params_from_iter(parameters.into_iter().map(to_sql)))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..n).map(|i| row.get_ref(i).map(from_sql)).collect::<rusqlite::Result<_>>()?;
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

impl sql::Host for RequestState {}

impl sql::HostConnection for RequestState {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if !self.component.sqlite_databases.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        if database != DEFAULT {
            return Ok(Err(Error::NoSuchDatabase));
        }
        if let Err(e) = self.shared.sqlite.connection() {
            return Ok(Err(e));
        }
        Ok(Ok(self.table.push(Connection { label: database })?))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        if self.table.get(&connection)?.label != DEFAULT {
            return Ok(Err(Error::InvalidConnection));
        }
        let c = match self.shared.sqlite.connection() {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let result = tokio::task::spawn_blocking(move || {
            execute(&c.lock().unwrap_or_else(|p| p.into_inner()), &statement, parameters).map_err(io)
        })
        .await;
        Ok(result.unwrap_or_else(|e| Err(Error::Io(e.to_string()))))
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_return_columns_and_typed_rows() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        execute(&c, "CREATE TABLE t(k TEXT NOT NULL, n INTEGER, r REAL, b BLOB)", vec![]).unwrap();
        execute(
            &c,
            "INSERT INTO t VALUES (?, ?, ?, ?)",
            vec![Value::Text("a".into()), Value::Integer(7), Value::Real(1.5), Value::Blob(vec![1, 2])],
        )
        .unwrap();
        execute(&c, "INSERT INTO t VALUES ('b', NULL, NULL, NULL)", vec![]).unwrap();
        let r =
            execute(&c, "SELECT * FROM t WHERE k = ? OR n IS NULL ORDER BY k", vec![Value::Text("a".into())]).unwrap();
        assert_eq!(r.columns, ["k", "n", "r", "b"]);
        assert_eq!(r.rows.len(), 2);
        assert!(
            matches!(&r.rows[0].values[..], [Value::Text(k), Value::Integer(7), Value::Real(_), Value::Blob(b)] if k == "a" && b == &[1, 2])
        );
        assert!(matches!(&r.rows[1].values[1], Value::Null));
        assert!(execute(&c, "SELECT nope FROM t", vec![]).is_err());
    }
}
