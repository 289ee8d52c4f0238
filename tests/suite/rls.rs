//! Row Level Security, checked straight in SQL as the `authenticated` role with two users:
//! each file of `tests/sql/` runs on its own fresh database and raises on any violation.

use e2e::{root, TestDb};
use std::process::Command;

fn run_sql_file(name: &str) {
    let db = TestDb::new();
    let path = root().join("tests/sql").join(name);
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
        .arg(&path)
        .output()
        .expect("psql is installed by scripts/test");
    assert!(
        out.status.success(),
        "{name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rls_is_enabled_with_policies_on_every_table() {
    run_sql_file("rls_enabled_everywhere.sql");
}

#[test]
fn users_cannot_read_or_write_each_others_rows() {
    run_sql_file("rls_cross_user.sql");
}

#[test]
fn users_cannot_grant_themselves_a_subscription_usage_or_limits() {
    run_sql_file("rls_billing_writes.sql");
}

#[test]
fn users_cannot_make_themselves_admin_and_is_admin_honours_expiry() {
    run_sql_file("rls_roles_admin.sql");
}

#[test]
fn privileged_functions_are_not_executable_by_anon_or_users() {
    run_sql_file("rls_privileged_functions.sql");
}

#[test]
fn entitlements_prefer_active_subscriptions_and_default_to_free() {
    run_sql_file("rls_entitlements.sql");
}

#[test]
fn quote_numbers_are_per_user_and_never_reused() {
    run_sql_file("rls_quote_numbers.sql");
}

#[test]
fn one_statement_requests_read_as_the_caller_and_only_their_owner_may_call_them() {
    run_sql_file("rls_one_statement_requests.sql");
}

#[test]
fn anon_sees_only_public_catalog_tables() {
    run_sql_file("rls_anon.sql");
}

#[test]
fn every_sql_test_file_is_run_by_this_suite() {
    let source = include_str!("rls.rs");
    for entry in std::fs::read_dir(root().join("tests/sql")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".sql") {
            assert!(source.contains(&format!("\"{name}\"")), "{name} is not run by tests/suite/rls.rs");
        }
    }
}
