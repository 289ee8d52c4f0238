//! What the database itself guarantees, read from PostgreSQL's catalog: Row Level Security on
//! every table of schema `public` and no privileged function open to clients. Used by
//! security-hardening's scan and production-validator's checks, each of which words its own
//! finding; tables and functions are matched to `public` by namespace oid (a table of the same
//! name in another schema cannot hide one here), and extension members are left out.

use crate::db::{Db, DbError};

/// Tables of `public` and their RLS state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub count: usize,
    pub without_rls: Vec<String>,
    /// Tables with no policy at all (with RLS on, unreachable for every role but the owner).
    pub without_policies: Vec<String>,
}

pub fn tables(db: &Db) -> Result<Tables, DbError> {
    let rows = db.query(
        "SELECT c.relname AS name, c.relrowsecurity AS rls, \
                (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') \
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                              AND d.objid = c.oid AND d.deptype = 'e') \
          ORDER BY 1",
        &[],
    )?;
    let mut out = Tables { count: rows.len(), without_rls: Vec::new(), without_policies: Vec::new() };
    for row in rows.iter() {
        let name = row.string("name")?;
        if !row.flag("rls")? {
            out.without_rls.push(name.clone());
        }
        if row.i64("policies")? == 0 {
            out.without_policies.push(name);
        }
    }
    Ok(out)
}

/// SECURITY DEFINER functions of `public` that clients could run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definers {
    pub count: usize,
    pub executable_by_anon: Vec<String>,
    /// Executable by `authenticated` and not in [`super::USER_CALLABLE_DEFINERS`].
    pub executable_by_authenticated: Vec<String>,
}

pub fn definers(db: &Db) -> Result<Definers, DbError> {
    let rows = db.query(
        "SELECT p.oid::regprocedure::text AS signature, \
                has_function_privilege('anon', p.oid, 'EXECUTE') AS anon, \
                has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated \
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
          WHERE n.nspname = 'public' AND p.prosecdef \
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass \
                              AND d.objid = p.oid AND d.deptype = 'e') \
          ORDER BY 1",
        &[],
    )?;
    let mut out =
        Definers { count: rows.len(), executable_by_anon: Vec::new(), executable_by_authenticated: Vec::new() };
    for row in rows.iter() {
        let signature = row.string("signature")?;
        if row.flag("anon")? {
            out.executable_by_anon.push(signature.clone());
        }
        if row.flag("authenticated")? && !super::USER_CALLABLE_DEFINERS.contains(&signature.as_str()) {
            out.executable_by_authenticated.push(signature);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// The allow-list has a twin in SQL (tests/sql/rls_privileged_functions.sql, which checks
    /// the database itself); the two must name the same functions.
    #[test]
    fn the_allow_list_is_the_one_the_sql_tests_hold_to() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/sql/rls_privileged_functions.sql");
        let sql = std::fs::read_to_string(path).expect("the SQL test is readable");
        let start = sql
            .find("has_function_privilege('authenticated'")
            .and_then(|i| sql[i..].find("NOT IN (").map(|j| i + j + "NOT IN (".len()))
            .expect("the allow-list clause is present");
        let end = start + sql[start..].find(");").expect("the allow-list ends with `);`");
        let listed: Vec<&str> = sql[start..end]
            .split("::regprocedure")
            .filter_map(|part| {
                let open = part.rfind('\'')?;
                let close = part[..open].rfind('\'')?;
                Some(part[close + 1..open].trim_start_matches("public."))
            })
            .collect();
        assert_eq!(listed, super::super::USER_CALLABLE_DEFINERS);
    }
}
