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
        let sha = credentials::encoding::hex(&hmac_sha256::Hash::hash(&text));
        found.push((version.to_string(), name.to_string(), sha));
    }
    found.sort();
    found
}

type ManifestFacts = (Vec<(String, String)>, Vec<String>, Vec<(String, String)>);

/// Read as the host reads it (the `spin-manifest` crate): a manifest the host would refuse
/// fails the build here too.
fn manifest(path: &Path) -> spin_manifest::Manifest {
    let text = std::fs::read_to_string(path).expect("spin.toml is readable");
    toml::from_str(&text).unwrap_or_else(|e| panic!("spin.toml: {e}"))
}

fn manifest_facts(path: &Path) -> ManifestFacts {
    let m = manifest(path);
    let components = m
        .trigger
        .http
        .iter()
        .filter_map(|t| match &t.route {
            spin_manifest::RouteDecl::Path(route) => {
                Some((t.component.clone(), route.trim_end_matches("/...").trim_end_matches('/').to_string()))
            }
            spin_manifest::RouteDecl::Private => None,
        })
        .collect();
    let required = m.variables.iter().filter(|(_, v)| v.required).map(|(name, _)| name.clone()).collect();
    // Named chains only: a wildcard (`http://*.spin.internal`) names no particular callee.
    let mut chains = Vec::new();
    for (name, component) in &m.component {
        for host in &component.allowed_outbound_hosts {
            let callee = host.split("://").nth(1).and_then(|h| h.strip_suffix(".spin.internal"));
            if let Some(callee) = callee.filter(|c| !c.contains('*')) {
                chains.push((name.clone(), callee.to_string()));
            }
        }
    }
    (components, required, chains)
}

type Placement = (Vec<(String, i64, String)>, Vec<(String, Vec<String>, String)>);

/// Regions (weights printed with three decimals, as the database's numeric(4,3) prints them)
/// and each component's regions and tier; empty where the manifest has none.
fn manifest_placement(path: &Path) -> Placement {
    let m = manifest(path);
    let mut regions = Vec::new();
    if let Some(table) = m.application.tool.get("edge").and_then(|e| e.get("regions")) {
        for (name, r) in table.as_table().into_iter().flatten() {
            let priority = r.get("priority").and_then(|p| p.as_integer()).unwrap_or(0);
            let weight = r.get("weight").and_then(|w| w.as_float().or(w.as_integer().map(|i| i as f64))).unwrap_or(0.0);
            regions.push((name.clone(), priority, format!("{weight:.3}")));
        }
    }
    let mut placement = Vec::new();
    for (name, component) in &m.component {
        let Some(e) = component.tool.get("edge") else { continue };
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
