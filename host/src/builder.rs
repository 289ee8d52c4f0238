//! `edge build`: run each component's build command (as `spin build` does) and report the
//! size of every `.wasm` against its budget (`[component.X.tool.edge] size_budget_kib`).

use crate::manifest::App;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

pub fn build(manifest: &Path, only: &[String]) -> Result<()> {
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
    for (name, command, dir) in &commands {
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
    println!("\n{:<24} {:>10} {:>10}  {}", "COMPONENT", "SIZE KiB", "BUDGET", "STATE");
    let mut over = Vec::new();
    for (name, decl) in &app.manifest.component {
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        let path = app.source_path(name)?;
        let size = std::fs::metadata(&path).with_context(|| format!("{} was not built", path.display()))?.len();
        let kib = size as f64 / 1024.0;
        let budget = decl
            .tool
            .get("edge")
            .and_then(|t| t.get("size_budget_kib"))
            .and_then(|v| v.as_integer());
        let state = match budget {
            Some(b) if kib > b as f64 => {
                over.push(name.clone());
                "OVER BUDGET"
            }
            Some(_) => "ok",
            None => "no budget",
        };
        let budget = budget.map(|b| b.to_string()).unwrap_or_else(|| "-".into());
        println!("{name:<24} {kib:>10.1} {budget:>10}  {state}");
    }
    if !over.is_empty() {
        bail!("over their size budget: {}", over.join(", "));
    }
    Ok(())
}
