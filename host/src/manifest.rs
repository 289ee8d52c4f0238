//! `spin.toml` (manifest version 2): the parts a Spin host acts on, read the way Spin reads them.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every field is parsed (and so validated); not all are acted on
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `[application.tool.edge]`: settings for this host that Spin itself ignores.
    #[serde(default)]
    pub tool: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // every field is parsed (and so validated); not all are acted on
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

#[derive(Debug, Deserialize)]
pub struct HttpTrigger {
    pub route: RouteDecl,
    pub component: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // every field is parsed (and so validated); not all are acted on
pub enum RouteDecl {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every field is parsed (and so validated); not all are acted on
pub struct ComponentDecl {
    pub source: Source,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<BuildDecl>,
    /// `[component.X.tool.edge]`: placement and packaging settings Spin ignores.
    #[serde(default)]
    pub tool: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // every field is parsed (and so validated); not all are acted on
pub enum Source {
    File(String),
    Remote { url: String, digest: String },
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every field is parsed (and so validated); not all are acted on
pub struct BuildDecl {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

/// A manifest together with the directory its relative paths are resolved against.
#[derive(Debug)]
pub struct App {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl App {
    pub fn load(path: &Path) -> Result<App> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let manifest: Manifest = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid Spin manifest", path.display()))?;
        if manifest.spin_manifest_version != 2 {
            bail!("only spin_manifest_version = 2 is supported");
        }
        for t in &manifest.trigger.http {
            if !manifest.component.contains_key(&t.component) {
                bail!("trigger route refers to unknown component `{}`", t.component);
            }
        }
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(App { dir, manifest })
    }

    /// The local `.wasm` file of a component.
    pub fn source_path(&self, component: &str) -> Result<PathBuf> {
        let decl = self
            .manifest
            .component
            .get(component)
            .with_context(|| format!("no component `{component}`"))?;
        match &decl.source {
            Source::File(f) => Ok(self.dir.join(f)),
            Source::Remote { url, .. } => {
                bail!("component `{component}` has a remote source ({url}); run `spin registry pull` or build it locally")
            }
        }
    }

    /// `[application.tool.edge]` as a table (empty when absent).
    pub fn edge_settings(&self) -> toml::Table {
        match self.manifest.application.tool.get("edge") {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => toml::Table::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_v2_manifest() {
        let m: Manifest = toml::from_str(
            r#"
spin_manifest_version = 2
[application]
name = "x"
[variables]
db_url = { required = true, secret = true }
region = { default = "local" }
[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = { private = true }
component = "a"
[component.a]
source = "a.wasm"
allowed_outbound_hosts = ["postgres://localhost:5432"]
[component.a.variables]
db_url = "{{ db_url }}"
[component.a.tool.edge]
size_budget_kib = 800
"#,
        )
        .unwrap();
        assert_eq!(m.trigger.http.len(), 2);
        assert!(m.variables["db_url"].required);
        assert_eq!(m.variables["region"].default.as_deref(), Some("local"));
        assert!(m.component["a"].tool.contains_key("edge"));
    }
}
