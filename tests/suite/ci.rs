//! CI as the design promises: `tests/crates.txt` maps every workspace crate to its unit tests and
//! the end-to-end suites that concern it (`scripts/test --crate NAME`); the workflow runs one
//! job per crate with that command and one job with the whole suite (`.ci/run`, which runs the
//! README's test command and nothing else); actionlint finds nothing in the workflow.

use e2e::root;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const WORKFLOW: &str = ".github/workflows/ci.yml";

/// A row of tests/crates.txt: the unit-test profile and the suite modules (`*`: all).
struct Row {
    unit: String,
    suites: Vec<String>,
}

fn crate_table() -> BTreeMap<String, Row> {
    let text = std::fs::read_to_string(root().join("tests/crates.txt")).expect("tests/crates.txt");
    let mut rows = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap().to_string();
        let unit = words.next().unwrap_or_else(|| panic!("{line}: no unit column")).to_string();
        let suites: Vec<String> = words.map(str::to_string).collect();
        assert!(!suites.is_empty(), "{line}: no suites column (write - for none)");
        assert!(rows.insert(name.clone(), Row { unit, suites }).is_none(), "{name} is in tests/crates.txt twice");
    }
    rows
}

/// The package names of the workspace, from `cargo metadata`.
fn workspace_crates() -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(root())
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

/// The modules of the end-to-end suite (`mod NAME;` in suite/main.rs).
fn suite_modules() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("tests/suite/main.rs")).unwrap();
    text.lines().filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_string)).collect()
}

#[test]
fn the_crate_table_names_every_crate_and_every_suite() {
    let table = crate_table();
    let crates = workspace_crates();
    let listed: BTreeSet<String> = table.keys().cloned().collect();
    assert_eq!(listed, crates, "tests/crates.txt must have one row per workspace crate");
    let modules = suite_modules();
    let mut placed = BTreeSet::new();
    for (name, row) in &table {
        assert!(
            ["dev", "host", "lib", "-"].contains(&row.unit.as_str()),
            "{name}: unit is dev, host, lib or -, not {}",
            row.unit
        );
        if row.suites == ["-"] || row.suites == ["*"] {
            continue;
        }
        for m in &row.suites {
            assert!(modules.contains(m), "{name}: tests/suite/{m}.rs does not exist (modules: {modules:?})");
            placed.insert(m.clone());
        }
    }
    // A new suite must say which crate's job runs it; this module checks the table and the
    // workflow themselves, which concern the whole suite's job (and e2e's, which runs all).
    let unplaced: Vec<&String> = modules.iter().filter(|m| !placed.contains(*m) && m.as_str() != "ci").collect();
    assert!(unplaced.is_empty(), "suite modules no crate's row names in tests/crates.txt: {unplaced:?}");
}

#[test]
fn the_workflow_has_a_job_per_crate_and_one_for_everything() {
    let text = std::fs::read_to_string(root().join(WORKFLOW)).expect("the workflow");
    let wf: serde_yaml::Value = serde_yaml::from_str(&text).expect("the workflow is YAML");
    let jobs = &wf["jobs"];
    let matrix: Vec<String> = jobs["crate"]["strategy"]["matrix"]["crate"]
        .as_sequence()
        .expect("jobs.crate.strategy.matrix.crate")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let table: Vec<String> = crate_table().into_keys().collect();
    let mut sorted = matrix.clone();
    sorted.sort();
    assert_eq!(sorted, table, "the workflow's matrix must list the crates of tests/crates.txt, each once");

    let runs = |job: &str| -> Vec<String> {
        jobs[job]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str().map(|r| r.trim().to_string()))
            .collect()
    };
    assert_eq!(runs("crate"), vec![r#"scripts/test --crate "${{ matrix.crate }}""#.to_string()]);
    assert_eq!(runs("whole"), vec![".ci/run".to_string()]);

    // .ci/run runs the README's test command and nothing else.
    let ci_run = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let commands: Vec<&str> = ci_run.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert_eq!(commands, ["set -euo pipefail", r#"cd "$(dirname "$0")/..""#, "exec scripts/test"]);
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let head: Vec<&str> = readme.lines().take(60).collect();
    for command in ["scripts/dev", "scripts/test"] {
        assert!(head.iter().any(|l| l.starts_with(command)), "README's first 60 lines must give `{command}`");
    }
}

#[test]
fn actionlint_finds_nothing_in_the_workflow() {
    let Ok(actionlint) = std::env::var("ACTIONLINT") else {
        let why = std::env::var("ACTIONLINT_UNAVAILABLE")
            .unwrap_or_else(|_| "ACTIONLINT is not set (scripts/test installs it and sets it)".into());
        e2e::skip("ci::actionlint_finds_nothing_in_the_workflow", &why);
        return;
    };
    let out =
        Command::new(&actionlint).arg("-no-color").arg(WORKFLOW).current_dir(root()).output().expect("run actionlint");
    assert!(
        out.status.success(),
        "actionlint {WORKFLOW}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
