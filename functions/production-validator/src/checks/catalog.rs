//! security / `rls_enabled` and `privileged_functions`: read from the PostgreSQL catalog,
//! tables and functions matched to schema `public` by namespace oid (a table of the same name
//! in another schema cannot hide one here).

use crate::built::DEFINER_ALLOW_LIST;
use crate::check::{start, Category, Check, Severity, Status};
use serde_json::json;
use shared::db::{self, Db};

const TABLES_SQL: &str = "
SELECT c.relname AS name, c.relrowsecurity AS rls,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY c.relname";

pub fn rls(db: &Db) -> Check {
    let p = start(Category::Security, "rls_enabled", Severity::Critical);
    let rows = match db.query(TABLES_SQL, &[]) {
        Ok(r) => r,
        Err(e) => return p.unavailable("the table catalog", super::error_kind(&e)),
    };
    let mut no_rls = Vec::new();
    let mut no_policy = Vec::new();
    for r in rows.iter() {
        let (Ok(name), Ok(rls), Ok(policies)) = (r.string("name"), r.flag("rls"), r.i64("policies")) else {
            return p.unavailable("the table catalog", "unexpected row shape");
        };
        if !rls {
            no_rls.push(name.clone());
        }
        if policies == 0 {
            no_policy.push(name);
        }
    }
    let evidence = json!({ "tables": rows.len(), "without_rls": no_rls, "without_policies": no_policy });
    if rows.is_empty() {
        return p.done(Status::Skip, "schema public has no tables to check", evidence, "apply the migrations");
    }
    if !no_rls.is_empty() || !no_policy.is_empty() {
        let mut parts = Vec::new();
        if !no_rls.is_empty() {
            parts.push(format!("row level security is off on {}", no_rls.join(", ")));
        }
        if !no_policy.is_empty() {
            parts.push(format!("no policy on {}", no_policy.join(", ")));
        }
        return p.done(
            Status::Fail,
            parts.join("; "),
            evidence,
            "ALTER TABLE ... ENABLE ROW LEVEL SECURITY and add policies (service_role full access, admins read) for every listed table",
        );
    }
    p.done(Status::Pass, format!("all {} tables in public have row level security and policies", rows.len()), evidence, "")
}

/// SECURITY DEFINER functions of `public` (extension members excepted) and who may run them.
const DEFINER_SQL: &str = "
SELECT p.oid::regprocedure::text AS signature,
       has_function_privilege('anon', p.oid, 'EXECUTE') AS anon,
       has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated,
       p.oid IN (SELECT to_regprocedure(a) FROM unnest(string_to_array($1, E'\\n')) AS a) AS allowed
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.prosecdef
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1";

pub fn privileged_functions(db: &Db) -> Check {
    let p = start(Category::Security, "privileged_functions", Severity::Critical);
    let rows = match db.query(DEFINER_SQL, &[db::text(DEFINER_ALLOW_LIST.join("\n"))]) {
        Ok(r) => r,
        Err(e) => return p.unavailable("the function catalog", super::error_kind(&e)),
    };
    let mut open_to_anon = Vec::new();
    let mut open_to_authenticated = Vec::new();
    for r in rows.iter() {
        let (Ok(sig), Ok(anon), Ok(auth), Ok(allowed)) =
            (r.string("signature"), r.flag("anon"), r.flag("authenticated"), r.flag("allowed"))
        else {
            return p.unavailable("the function catalog", "unexpected row shape");
        };
        if anon {
            open_to_anon.push(sig.clone());
        }
        if auth && !allowed {
            open_to_authenticated.push(sig);
        }
    }
    let evidence = json!({
        "definer_functions": rows.len(),
        "executable_by_anon": open_to_anon,
        "executable_by_authenticated_outside_allow_list": open_to_authenticated,
        "allow_list": DEFINER_ALLOW_LIST,
    });
    if open_to_anon.is_empty() && open_to_authenticated.is_empty() {
        return p.done(
            Status::Pass,
            format!(
                "none of the {} SECURITY DEFINER functions is executable by anon, nor by authenticated outside the allow-list",
                rows.len()
            ),
            evidence,
            "",
        );
    }
    let all: Vec<String> = open_to_anon.iter().chain(open_to_authenticated.iter()).cloned().collect();
    p.done(
        Status::Fail,
        format!("SECURITY DEFINER functions executable by anon or authenticated: {}", all.join(", ")),
        evidence,
        "REVOKE EXECUTE ON FUNCTION ... FROM PUBLIC, anon, authenticated and GRANT it to service_role; \
         a function that must be user-callable checks its caller and goes on the allow-list in tests/sql/rls_privileged_functions.sql",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_allow_list_is_the_one_the_security_scan_uses() {
        // DEFINER_ALLOW_LIST comes from tests/sql/rls_privileged_functions.sql (build.rs).
        let compiled: Vec<&str> = DEFINER_ALLOW_LIST.iter().map(|f| f.trim_start_matches("public.")).collect();
        assert_eq!(compiled, shared::security::USER_CALLABLE_DEFINERS);
    }
}
