//! `fermyon:spin/key-value@2.0.0`: the embedded `default` store, as Spin has it without a
//! runtime configuration, kept in one SQLite file in the application's state folder
//! (`.edge/key_value.db`). A component opens only the stores its `key_value_stores` lists
//! (`access-denied` otherwise); the manifest may list no store but `default`.

use crate::bindings::fermyon::spin::key_value::{self as kv, Error};
use crate::state::RequestState;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::component::Resource;

/// The label of the one store this host provides.
pub const DEFAULT: &str = "default";

/// An open store, as a component holds it.
pub struct Store {
    label: String,
}

/// The stores of the application: one SQLite file, opened on first use and shared.
pub struct Stores {
    path: PathBuf,
    connection: OnceLock<Arc<Mutex<rusqlite::Connection>>>,
}

impl Stores {
    pub fn new(path: PathBuf) -> Stores {
        Stores { path, connection: OnceLock::new() }
    }

    fn connection(&self) -> Result<Arc<Mutex<rusqlite::Connection>>, Error> {
        if let Some(c) = self.connection.get() {
            return Ok(c.clone());
        }
        let open = || -> rusqlite::Result<rusqlite::Connection> {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let c = rusqlite::Connection::open(&self.path)?;
            c.busy_timeout(std::time::Duration::from_secs(5))?;
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS edge_key_value (
                    store TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value BLOB NOT NULL,
                    PRIMARY KEY (store, key)
                )",
            )?;
            Ok(c)
        };
        let c = Arc::new(Mutex::new(open().map_err(other)?));
        Ok(self.connection.get_or_init(|| c).clone())
    }

    /// Run `f` on the store's connection, off the async threads.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        let c = self.connection()?;
        tokio::task::spawn_blocking(move || f(&c.lock().unwrap_or_else(|p| p.into_inner())).map_err(other))
            .await
            .map_err(|e| Error::Other(e.to_string()))?
    }
}

fn other(e: rusqlite::Error) -> Error {
    Error::Other(e.to_string())
}

impl RequestState {
    fn store_label(&self, store: &Resource<Store>) -> wasmtime::Result<String> {
        Ok(self.table.get(store)?.label.clone())
    }
}

impl kv::Host for RequestState {}

impl kv::HostStore for RequestState {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<Store>, Error>> {
        if !self.component.key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        if label != DEFAULT {
            return Ok(Err(Error::NoSuchStore));
        }
        if let Err(e) = self.shared.key_value.connection() {
            return Ok(Err(e));
        }
        Ok(Ok(self.table.push(Store { label })?))
    }

    async fn get(&mut self, store: Resource<Store>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let label = self.store_label(&store)?;
        Ok(self
            .shared
            .key_value
            .run(move |c| {
                let mut q = c.prepare_cached("SELECT value FROM edge_key_value WHERE store = ?1 AND key = ?2")?;
                let mut rows = q.query((&label, &key))?;
                rows.next()?.map(|r| r.get::<_, Vec<u8>>(0)).transpose()
            })
            .await)
    }

    async fn set(
        &mut self,
        store: Resource<Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let label = self.store_label(&store)?;
        Ok(self
            .shared
            .key_value
            .run(move |c| {
                c.prepare_cached(
                    "INSERT INTO edge_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                )?
                .execute((&label, &key, &value))
                .map(drop)
            })
            .await)
    }

    async fn delete(&mut self, store: Resource<Store>, key: String) -> wasmtime::Result<Result<(), Error>> {
        let label = self.store_label(&store)?;
        Ok(self
            .shared
            .key_value
            .run(move |c| {
                c.prepare_cached("DELETE FROM edge_key_value WHERE store = ?1 AND key = ?2")?
                    .execute((&label, &key))
                    .map(drop)
            })
            .await)
    }

    async fn exists(&mut self, store: Resource<Store>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        let label = self.store_label(&store)?;
        Ok(self
            .shared
            .key_value
            .run(move |c| {
                c.prepare_cached("SELECT 1 FROM edge_key_value WHERE store = ?1 AND key = ?2")?.exists((&label, &key))
            })
            .await)
    }

    async fn get_keys(&mut self, store: Resource<Store>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let label = self.store_label(&store)?;
        Ok(self
            .shared
            .key_value
            .run(move |c| {
                let mut q = c.prepare_cached("SELECT key FROM edge_key_value WHERE store = ?1")?;
                let keys = q.query_map([&label], |r| r.get::<_, String>(0))?;
                keys.collect()
            })
            .await)
    }

    async fn drop(&mut self, store: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
