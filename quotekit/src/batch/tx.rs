//! One transaction that changes hats: job bookkeeping as `service_role` (users may only read
//! their jobs), the item work itself as the calling user (so RLS guards their data), and both
//! committed together — a crash loses nothing and never repeats an item.
//!
//! `Db::as_user` / `Db::as_service` take a closure and cannot span an `.await` (a PDF is
//! rendered by another component), hence this explicit form.

use shared::db::{Db, DbError, Param};

pub struct Tx<'a> {
    db: &'a Db,
    open: bool,
}

const SERVICE_CLAIMS: &str = r#"{"role":"service_role"}"#;

impl<'a> Tx<'a> {
    /// BEGIN as `service_role`.
    pub fn begin(db: &'a Db) -> Result<Tx<'a>, DbError> {
        db.execute("BEGIN", &[])?;
        let tx = Tx { db, open: true };
        tx.service()?;
        Ok(tx)
    }

    pub fn db(&self) -> &'a Db {
        self.db
    }

    /// From here on: role `authenticated` with the caller's claims (RLS applies).
    pub fn user(&self, claims_json: &str) -> Result<(), DbError> {
        self.role("authenticated", claims_json)
    }

    /// From here on: `service_role`.
    pub fn service(&self) -> Result<(), DbError> {
        self.role("service_role", SERVICE_CLAIMS)
    }

    fn role(&self, role: &str, claims: &str) -> Result<(), DbError> {
        self.db.query(
            "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
            &[Param::Str(role.to_string()), Param::Str(claims.to_string())],
        )?;
        Ok(())
    }

    pub fn commit(mut self) -> Result<(), DbError> {
        self.open = false;
        self.db.execute("COMMIT", &[])?;
        Ok(())
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.db.execute("ROLLBACK", &[]);
        }
    }
}
