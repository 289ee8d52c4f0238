//! `edge deploy`: the placement plan, SpinKube manifests, or `spin deploy` (Fermyon Cloud).

use crate::cli::{AppArgs, Deploy, Target};
use crate::manifest::App;
use crate::placement::{Placement, Tier};
use crate::spinkube;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn command(d: Deploy) -> Result<()> {
    let Deploy { app: AppArgs { manifest }, plan, target, out, image, namespace, variables } = d;
    let variables: BTreeMap<String, String> = variables.into_iter().collect();
    let app = App::load(&manifest)?;
    let placement = Placement::from_app(&app)?;
    if plan {
        print!("{}", plan_table(&placement));
    }
    match target {
        None if plan => Ok(()),
        None => bail!("edge deploy needs --plan or --target spinkube|spin"),
        Some(Target::Spinkube) => {
            let out = out.context("--target spinkube needs --out DIR")?;
            let version = app.manifest.application.version.clone().unwrap_or_else(|| "latest".into());
            let opts = spinkube::Options {
                image: image.unwrap_or_else(|| format!("ghcr.io/{0}/{0}:{version}", app.manifest.application.name)),
                namespace: namespace.unwrap_or_else(|| app.manifest.application.name.clone()),
                variables,
            };
            let written = spinkube::write(&app, &placement, &opts, &out)?;
            println!("wrote {} files to {}:", written.len(), out.display());
            for f in &written {
                println!("  {f}");
            }
            println!(
                "next: spin registry push {}; then kubectl apply -k {} (see {}/README.md)",
                opts.image,
                out.display(),
                out.display()
            );
            Ok(())
        }
        Some(Target::Spin) => {
            if image.is_some() || namespace.is_some() {
                bail!("--image and --namespace belong to --target spinkube");
            }
            let cloud = out.unwrap_or_else(|| app.dir.join(".edge").join("spin-cloud"));
            let written = write_cloud_manifest(&manifest, &cloud)?;
            println!(
                "wrote {} (no local service chaining: calls between functions go to the application's own origin)",
                written.display()
            );
            if plan {
                return Ok(());
            }
            spin_deploy(&app, &written, &variables)
        }
    }
}

/// Regions by priority, and what runs in each.
pub fn plan_table(placement: &Placement) -> String {
    let mut s = format!(
        "{:<16} {:>8} {:>6}  {:<5} {:<9} {}\n",
        "REGION", "PRIORITY", "WEIGHT", "TIER", "REPLICAS", "COMPONENTS"
    );
    for region in &placement.regions {
        for tier in [Tier::Hot, Tier::Warm, Tier::Cold] {
            let (served, chained) = placement.spin_app(&region.name, tier);
            if served.is_empty() {
                continue;
            }
            let mut components = served.join(", ");
            if !chained.is_empty() {
                components.push_str(&format!(" (+ for service chaining: {})", chained.join(", ")));
            }
            let replicas = match tier.max_replicas() {
                Some(max) => format!("{}-{max}", tier.min_replicas()),
                None => tier.min_replicas().to_string(),
            };
            s.push_str(&format!(
                "{:<16} {:>8} {:>6.2}  {:<5} {:<9} {}\n",
                region.name,
                region.priority,
                region.weight,
                tier.name(),
                replicas,
                components
            ));
        }
    }
    s.push_str(&format!("home region: {}\n", placement.home().name));
    s
}

/// The application as Fermyon Cloud takes it, written to `dir/spin.toml`: Cloud has no local
/// service chaining (it refuses any `*.spin.internal` outbound host), so those hosts give way
/// to `http://self`, and `service_chaining` defaults to `self` (see `shared::chain`).
/// Component sources are made absolute, the written file living elsewhere.
pub fn write_cloud_manifest(manifest: &Path, dir: &Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    let mut doc: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not TOML", manifest.display()))?;
    let base = manifest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).canonicalize()?;
    if let Some(toml::Value::Table(vars)) = doc.get_mut("variables") {
        if let Some(toml::Value::Table(decl)) = vars.get_mut("service_chaining") {
            decl.insert("default".into(), toml::Value::String("self".into()));
        }
    }
    if let Some(toml::Value::Table(components)) = doc.get_mut("component") {
        for (_, component) in components.iter_mut() {
            let toml::Value::Table(component) = component else { continue };
            if let Some(toml::Value::Array(hosts)) = component.get_mut("allowed_outbound_hosts") {
                let before = hosts.len();
                hosts.retain(|h| !h.as_str().is_some_and(is_service_chaining_host));
                let self_host = toml::Value::String("http://self".into());
                if hosts.len() < before && !hosts.contains(&self_host) {
                    hosts.push(self_host);
                }
            }
            if let Some(toml::Value::String(source)) = component.get_mut("source") {
                if Path::new(source.as_str()).is_relative() {
                    *source = base.join(&*source).display().to_string();
                }
            }
        }
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join("spin.toml");
    let header = format!(
        "# Written by `edge deploy --target spin` from {}: for Fermyon Cloud, which has no local\n\
         # service chaining. Edit that file, not this one.\n",
        manifest.display()
    );
    std::fs::write(&path, header + &toml::to_string(&doc)?)?;
    Ok(path)
}

/// `http://name.spin.internal`, `http://*.spin.internal` (any scheme or port).
fn is_service_chaining_host(entry: &str) -> bool {
    let authority = entry.split_once("://").map_or(entry, |(_, rest)| rest);
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    host == "spin.internal" || host.ends_with(".spin.internal")
}

/// `spin deploy --from <manifest> --variable NAME=VALUE...` with the variables given on the
/// command line and those set as SPIN_VARIABLE_* in the environment.
fn spin_deploy(app: &App, manifest: &Path, given: &BTreeMap<String, String>) -> Result<()> {
    let mut variables = BTreeMap::new();
    for name in app.manifest.variables.keys() {
        if let Ok(v) = std::env::var(crate::variables::env_key(name)) {
            variables.insert(name.clone(), v);
        }
    }
    for (k, v) in given {
        if !app.manifest.variables.contains_key(k) {
            bail!("--variable {k}: spin.toml declares no variable {k}");
        }
        variables.insert(k.clone(), v.clone());
    }
    let Some(spin) = find_on_path("spin") else {
        bail!(
            "`spin` is not installed (not found on PATH).\n\
             Install Spin 3.4 or later: https://spinframework.dev/install (for example\n\
             `curl -fsSL https://spinframework.dev/downloads/install.sh | bash` and move `spin` onto PATH),\n\
             then log in to Fermyon Cloud with `spin cloud login` and run `edge deploy --target spin` again.\n\
             Without Spin, `edge up` runs the application here and `edge deploy --target spinkube` writes Kubernetes manifests."
        );
    };
    let missing: Vec<&String> = app
        .manifest
        .variables
        .iter()
        .filter(|(k, d)| d.required && d.default.is_none() && !variables.contains_key(*k))
        .map(|(k, _)| k)
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "edge: note: required variables not set here: {} (set them with --variable, or in the cloud with `spin cloud variables set`)",
            missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let mut cmd = Command::new(&spin);
    cmd.arg("deploy").arg("--from").arg(manifest);
    for (k, v) in &variables {
        cmd.arg("--variable").arg(format!("{k}={v}"));
    }
    // Values are not echoed: some are secrets.
    println!(
        "running {} deploy --from {} {}",
        spin.display(),
        manifest.display(),
        variables.keys().map(|k| format!("--variable {k}=…")).collect::<Vec<_>>().join(" ")
    );
    let status = cmd.status().with_context(|| format!("cannot run {}", spin.display()))?;
    if !status.success() {
        bail!("spin deploy failed ({status})");
    }
    Ok(())
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// A manifest string with every `{{ variable }}` replaced by the variable's default; `None`
/// when one has no default (its value is only known at run time).
pub fn expand_defaults(app: &App, s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}")? + start;
        let name = rest[start + 2..end].trim();
        out.push_str(app.manifest.variables.get(name)?.default.as_deref()?);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}
