//! security / `rls_enabled` and `privileged_functions`: read from the PostgreSQL catalog,
//! tables and functions matched to schema `public` by namespace oid (a table of the same name
//! in another schema cannot hide one here).

use crate::check::{start, Category, Check, Severity, Status};
use serde_json::json;
use shared::db::Db;
use shared::security::{catalog, USER_CALLABLE_DEFINERS};

pub fn rls(db: &Db) -> Check {
    let p = start(Category::Security, "rls_enabled", Severity::Critical);
    let t = match catalog::tables(db) {
        Ok(t) => t,
        Err(e) => return p.unavailable("the table catalog", super::error_kind(&e)),
    };
    let evidence = json!({ "tables": t.count, "without_rls": t.without_rls, "without_policies": t.without_policies });
    if t.count == 0 {
        return p.done(Status::Skip, "schema public has no tables to check", evidence, "apply the migrations");
    }
    if !t.without_rls.is_empty() || !t.without_policies.is_empty() {
        let mut parts = Vec::new();
        if !t.without_rls.is_empty() {
            parts.push(format!("row level security is off on {}", t.without_rls.join(", ")));
        }
        if !t.without_policies.is_empty() {
            parts.push(format!("no policy on {}", t.without_policies.join(", ")));
        }
        return p.done(
            Status::Fail,
            parts.join("; "),
            evidence,
            "ALTER TABLE ... ENABLE ROW LEVEL SECURITY and add policies (service_role full access, admins read) for every listed table",
        );
    }
    p.done(Status::Pass, format!("all {} tables in public have row level security and policies", t.count), evidence, "")
}

pub fn privileged_functions(db: &Db) -> Check {
    let p = start(Category::Security, "privileged_functions", Severity::Critical);
    let d = match catalog::definers(db) {
        Ok(d) => d,
        Err(e) => return p.unavailable("the function catalog", super::error_kind(&e)),
    };
    let evidence = json!({
        "definer_functions": d.count,
        "executable_by_anon": d.executable_by_anon,
        "executable_by_authenticated_outside_allow_list": d.executable_by_authenticated,
        "allow_list": USER_CALLABLE_DEFINERS,
    });
    if d.executable_by_anon.is_empty() && d.executable_by_authenticated.is_empty() {
        return p.done(
            Status::Pass,
            format!(
                "none of the {} SECURITY DEFINER functions is executable by anon, nor by authenticated outside the allow-list",
                d.count
            ),
            evidence,
            "",
        );
    }
    let all: Vec<String> = d.executable_by_anon.iter().chain(d.executable_by_authenticated.iter()).cloned().collect();
    p.done(
        Status::Fail,
        format!("SECURITY DEFINER functions executable by anon or authenticated: {}", all.join(", ")),
        evidence,
        "REVOKE EXECUTE ON FUNCTION ... FROM PUBLIC, anon, authenticated and GRANT it to service_role; \
         a function that must be user-callable checks its caller and goes on the allow-list in tests/sql/rls_privileged_functions.sql",
    )
}
