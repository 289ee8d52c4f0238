//! The checks, one module per thing checked. Each returns [`Check`]s with the evidence behind
//! the verdict; a check that cannot see what it checks is a `skip`, never a `pass`.

pub mod catalog;
pub mod database;
pub mod migrations;
pub mod placement;
pub mod plans;
pub mod probes;
pub mod security_config;
pub mod traffic;
pub mod variables;
pub mod webhooks;

use shared::db::DbError;

/// What kind of database failure it was (never the database's text, which may carry SQL).
pub fn error_kind(e: &DbError) -> String {
    match e {
        DbError::Unavailable(_) => "database unavailable".into(),
        DbError::Query { code: Some(c), .. } => format!("query failed (SQLSTATE {c})"),
        DbError::Query { code: None, .. } => "query failed".into(),
        DbError::Decode(_) => "unexpected result shape".into(),
    }
}
