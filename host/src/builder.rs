//! `edge build`: run each component's build command (as `spin build` does), then check every
//! `.wasm`: its size against its budget (`[component.X.tool.edge] size_budget_kib`) and its
//! imports against the world in `wit/` and against what its manifest entry needs
//! (crate::imports). Any failure makes the command fail, after the whole table is printed.

use crate::imports::{component_imports, summary, violations, Needs, World};
use crate::manifest::App;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

pub fn build(manifest: &Path, only: &[String], check_only: bool) -> Result<()> {
    let app = App::load(manifest)?;
    let mut commands: Vec<(String, String, std::path::PathBuf)> = Vec::new();
    for (name, decl) in &app.manifest.component {
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        let Some(b) = &decl.build else { continue };
        let dir = match &b.workdir {
            Some(w) => app.dir.join(w),
            None => app.dir.clone(),
        };
        commands.push((name.clone(), b.command.clone(), dir));
    }
    for (name, command, dir) in commands.iter().filter(|_| !check_only) {
        println!("building {name}: {command}");
        let status = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            .status()
            .with_context(|| format!("cannot run the build command of {name}"))?;
        if !status.success() {
            bail!("building {name} failed ({status})");
        }
    }
    report_sizes(&app, only)
}

pub fn report_sizes(app: &App, only: &[String]) -> Result<()> {
    let world = World::load(&app.dir.join("wit"))?;
    println!("\n{:<24} {:>10} {:>10}  {:<27} STATE", "COMPONENT", "SIZE KiB", "BUDGET", "IMPORTS");
    let mut failed = Vec::new();
    let mut problems = Vec::new();
    for (name, decl) in &app.manifest.component {
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        let path = app.source_path(name)?;
        let bytes = std::fs::read(&path).with_context(|| format!("{} was not built", path.display()))?;
        let kib = bytes.len() as f64 / 1024.0;
        let imports = component_imports(&bytes).with_context(|| format!("{}", path.display()))?;
        let wrong = violations(&imports, &world, Needs::of(app, decl));
        let budget = decl.tool.get("edge").and_then(|t| t.get("size_budget_kib")).and_then(|v| v.as_integer());
        let mut state = match budget {
            Some(b) if kib > b as f64 => "OVER BUDGET",
            Some(_) => "ok",
            None => "no budget",
        }
        .to_string();
        if !wrong.is_empty() {
            state = if state == "ok" { "IMPORTS".into() } else { format!("{state}, IMPORTS") };
        }
        if state != "ok" && state != "no budget" {
            failed.push(name.clone());
        }
        problems.extend(wrong.into_iter().map(|w| format!("{name}: {w}")));
        let budget = budget.map(|b| b.to_string()).unwrap_or_else(|| "-".into());
        println!("{name:<24} {kib:>10.1} {budget:>10}  {:<27} {state}", summary(&imports));
    }
    for p in &problems {
        println!("  {p}");
    }
    if !failed.is_empty() {
        bail!("over their size budget or importing more than they need: {}", failed.join(", "));
    }
    Ok(())
}
