//! Facts production-validator checks the running system against, taken from the repository
//! at build time (the component has no filesystem):
//! - the migration files (`migrations/NNNN_name.sql`: version, name, SHA-256 of the text);
//! - from `spin.toml`: the components with their routes, and the variables the manifest
//!   requires, the service chains, and the regional placement (`[application.tool.edge.regions.*]`,
//!   `[component.X.tool.edge] regions / tier`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..");
    let migrations_dir = root.join("migrations");
    let manifest = root.join("spin.toml");
    println!("cargo:rerun-if-changed={}", migrations_dir.display());
    println!("cargo:rerun-if-changed={}", manifest.display());

    let mut out = String::new();
    out.push_str("/// (version, name, SHA-256 hex) of every migration file, in version order.\n");
    out.push_str("pub const MIGRATIONS: &[(&str, &str, &str)] = &[\n");
    for (version, name, sha) in migrations(&migrations_dir) {
        writeln!(out, "    ({version:?}, {name:?}, {sha:?}),").unwrap();
    }
    out.push_str("];\n\n");

    let (components, required, chains) = manifest_facts(&manifest);
    out.push_str("/// (component, route base) of every component in spin.toml.\n");
    out.push_str("pub const COMPONENTS: &[(&str, &str)] = &[\n");
    for (c, base) in components {
        writeln!(out, "    ({c:?}, {base:?}),").unwrap();
    }
    out.push_str("];\n\n");
    out.push_str("/// Variables spin.toml declares `required = true`.\n");
    out.push_str("pub const MANIFEST_REQUIRED: &[&str] = &[\n");
    for v in required {
        writeln!(out, "    {v:?},").unwrap();
    }
    out.push_str("];\n\n");
    let (regions, placement) = manifest_placement(&manifest);
    out.push_str("/// spin.toml's regions: (region, priority, weight with three decimals).\n");
    out.push_str("pub const MANIFEST_REGIONS: &[(&str, i64, &str)] = &[\n");
    for (r, p, w) in regions {
        writeln!(out, "    ({r:?}, {p}, {w:?}),").unwrap();
    }
    out.push_str("];\n\n");
    out.push_str("/// spin.toml's placement: (component, regions, tier).\n");
    out.push_str("pub const MANIFEST_PLACEMENT: &[(&str, &[&str], &str)] = &[\n");
    for (c, rs, t) in placement {
        writeln!(out, "    ({c:?}, &{rs:?}, {t:?}),").unwrap();
    }
    out.push_str("];\n\n");
    out.push_str("/// (caller, callee): components that call another through `<callee>.spin.internal`.\n");
    out.push_str("pub const CHAINS: &[(&str, &str)] = &[\n");
    for (a, b) in chains {
        writeln!(out, "    ({a:?}, {b:?}),").unwrap();
    }
    out.push_str("];\n");

    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("built.rs");
    std::fs::write(dest, out).unwrap();
}

fn migrations(dir: &Path) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("migrations/ is readable") {
        let path = entry.unwrap().path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else { continue };
        let Some((version, name)) = file.strip_suffix(".sql").and_then(|s| s.split_once('_')) else { continue };
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let text = std::fs::read(&path).unwrap();
        let sha: String = hmac_sha256::Hash::hash(&text).iter().map(|b| format!("{b:02x}")).collect();
        found.push((version.to_string(), name.to_string(), sha));
    }
    found.sort();
    found
}

type ManifestFacts = (Vec<(String, String)>, Vec<String>, Vec<(String, String)>);

fn manifest_facts(path: &Path) -> ManifestFacts {
    let text = std::fs::read_to_string(path).expect("spin.toml is readable");
    let doc: toml::Table = text.parse().expect("spin.toml is valid TOML");
    let mut components = Vec::new();
    if let Some(triggers) = doc.get("trigger").and_then(|t| t.get("http")).and_then(|h| h.as_array()) {
        for t in triggers {
            let (Some(c), Some(route)) =
                (t.get("component").and_then(|v| v.as_str()), t.get("route").and_then(|v| v.as_str()))
            else {
                continue;
            };
            let base = route.trim_end_matches("/...").trim_end_matches('/').to_string();
            components.push((c.to_string(), base));
        }
    }
    let mut required = Vec::new();
    if let Some(vars) = doc.get("variables").and_then(|v| v.as_table()) {
        for (name, decl) in vars {
            if decl.get("required").and_then(|r| r.as_bool()) == Some(true) {
                required.push(name.clone());
            }
        }
    }
    // Named chains only: a wildcard (`http://*.spin.internal`) names no particular callee.
    let mut chains = Vec::new();
    if let Some(table) = doc.get("component").and_then(|c| c.as_table()) {
        for (name, component) in table {
            let hosts = component.get("allowed_outbound_hosts").and_then(|h| h.as_array());
            for host in hosts.into_iter().flatten().filter_map(|h| h.as_str()) {
                let callee = host.split("://").nth(1).and_then(|h| h.strip_suffix(".spin.internal"));
                if let Some(callee) = callee.filter(|c| !c.contains('*')) {
                    chains.push((name.clone(), callee.to_string()));
                }
            }
        }
    }
    (components, required, chains)
}

type Placement = (Vec<(String, i64, String)>, Vec<(String, Vec<String>, String)>);

/// Regions (weights printed with three decimals, as the database's numeric(4,3) prints them)
/// and each component's regions and tier; empty where the manifest has none.
fn manifest_placement(path: &Path) -> Placement {
    let doc: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let edge = |t: &toml::Value| t.get("tool").and_then(|t| t.get("edge")).cloned();
    let mut regions = Vec::new();
    if let Some(table) = doc.get("application").and_then(edge).and_then(|e| e.get("regions").cloned()) {
        for (name, r) in table.as_table().into_iter().flatten() {
            let priority = r.get("priority").and_then(|p| p.as_integer()).unwrap_or(0);
            let weight = r.get("weight").and_then(|w| w.as_float().or(w.as_integer().map(|i| i as f64))).unwrap_or(0.0);
            regions.push((name.clone(), priority, format!("{weight:.3}")));
        }
    }
    let mut placement = Vec::new();
    for (name, component) in doc.get("component").and_then(|c| c.as_table()).into_iter().flatten() {
        let Some(e) = edge(component) else { continue };
        let (Some(rs), Some(tier)) =
            (e.get("regions").and_then(|r| r.as_array()), e.get("tier").and_then(|t| t.as_str()))
        else {
            continue;
        };
        let mut rs: Vec<String> = rs.iter().filter_map(|r| r.as_str().map(str::to_string)).collect();
        rs.sort();
        placement.push((name.clone(), rs, tier.to_string()));
    }
    (regions, placement)
}
