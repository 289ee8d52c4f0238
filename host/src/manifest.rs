//! Loading `spin.toml` to build or run it: the schema and its normalization are the
//! `spin-manifest` crate's (shared with build scripts); here are the checks Spin makes when it
//! loads an application, against the files beside the manifest and the host's own interfaces.
//! Whatever Spin 3.4–4.0.2 refuses is refused here with the same reason, and what this host
//! does not implement (other trigger types, component dependencies, AI models, the Wagi
//! executor, remote sources) is refused by name instead of being ignored. The table of these
//! rules, each with the reason given, is `manifest/rules.rs`.

#[cfg(test)]
pub mod rules;

use crate::outbound;
use crate::routes::{self, Route};
use crate::variables::{AppVariables, Template};
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
pub use spin_manifest::*;
use std::path::{Path, PathBuf};

// ---- loading --------------------------------------------------------------------------

/// A manifest together with the directory its relative paths are resolved against.
#[derive(Debug)]
pub struct App {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// What the host noticed and does not act on, printed when the manifest is loaded.
    pub notes: Vec<String>,
}

/// How much of the application must exist: to build it, the manifest; to run it, the
/// component sources and the files they mount too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Build,
    Run,
}

impl App {
    /// Load a manifest for building or deploying (`edge build`, `edge deploy`, `edge db`).
    pub fn load(path: &Path) -> Result<App> {
        App::load_for(path, Purpose::Build)
    }

    /// Load a manifest to run it (`edge up`): the sources and mounted files must exist too.
    pub fn load_to_run(path: &Path) -> Result<App> {
        App::load_for(path, Purpose::Run)
    }

    pub fn load_for(path: &Path, purpose: Purpose) -> Result<App> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let app = App::from_text(&text, dir, purpose)
            .with_context(|| format!("{} is not a valid Spin manifest", path.display()))?;
        for note in &app.notes {
            eprintln!("edge: note: {note}");
        }
        Ok(app)
    }

    /// Parse, normalize and check a manifest whose relative paths start at `dir`.
    pub fn from_text(text: &str, dir: PathBuf, purpose: Purpose) -> Result<App> {
        probe_version(text)?;
        let manifest: Manifest = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
        let mut app = App { dir, manifest, notes: Vec::new() };
        app.check(purpose)?;
        Ok(app)
    }

    /// The checks Spin makes when it loads an application, in the order it makes them, plus
    /// the refusal of what this host does not implement.
    fn check(&mut self, purpose: Purpose) -> Result<()> {
        let m = &self.manifest;
        for (name, c) in &m.component {
            if !c.dependencies.is_empty() {
                bail!(
                    "component `{name}` has `dependencies`: composing component dependencies is not supported by edge \
                     (compose the component before running it, e.g. with `wac plug`)"
                );
            }
            if !c.profile.is_empty() {
                bail!(
                    "component `{name}` has `profile` overrides, which Spin 3.4 does not understand (Spin 4.0 added them); \
                     this application stays compatible with Spin 3.4+"
                );
            }
            if c.targets.is_some() {
                bail!(
                    "component `{name}` has `targets`, which Spin 3.4 does not understand (Spin 4.0 added them); \
                     this application stays compatible with Spin 3.4+"
                );
            }
        }
        for (name, v) in &m.variables {
            if v.required == v.default.is_some() {
                bail!("variable `{name}`: must be `required` OR have a `default`");
            }
        }
        let defaults = AppVariables::defaults(m);
        for (name, c) in &m.component {
            self.check_component(name, c, &defaults, purpose)
                .with_context(|| format!("Failed to load component `{name}`"))?;
        }
        // What the variables, key-value and SQLite parts of Spin check when they configure the app.
        for (name, c) in &m.component {
            for template in c.variables.values() {
                let t = Template::parse(template).map_err(|e| anyhow!("invalid variable template: {e}"))?;
                let unknown = t.variables().find(|v| !m.variables.contains_key(*v)).map(str::to_string);
                if let Some(unknown) = unknown {
                    bail!("component `{name}`: invalid variable template: unknown variable {unknown:?}");
                }
            }
            if let Some(label) = c.key_value_stores.iter().find(|l| *l != "default") {
                bail!(
                    "unknown key_value_stores label {label:?} for component {name:?}: edge provides the `default` store \
                     only (it has no runtime configuration for other stores)"
                );
            }
            if let Some(label) = c.sqlite_databases.iter().find(|l| *l != "default") {
                bail!(
                    "a component uses a SQLite database which is not defined: Component {name} uses database '{label}' \
                     (edge provides the `default` database only: it has no runtime configuration for other databases)"
                );
            }
            if !c.ai_models.is_empty() {
                bail!("component `{name}` lists `ai_models`: the Serverless AI interface is not supported by edge");
            }
        }
        self.check_triggers()?;
        if !m.application.targets.is_empty() {
            self.notes.push(format!(
                "[application] targets = {:?} are not checked by edge (spin build checks them against its registry)",
                m.application.targets
            ));
        }
        Ok(())
    }

    fn check_component(&self, name: &str, c: &ComponentDecl, defaults: &AppVariables, purpose: Purpose) -> Result<()> {
        if !c.allowed_http_hosts.is_empty() {
            outbound::from_allowed_http_hosts(&c.allowed_http_hosts).context("`allowed_http_hosts` is malformed")?;
        }
        outbound::check_entries(&c.allowed_outbound_hosts, defaults)
            .context("`allowed_outbound_hosts` is malformed")?;
        match &c.source {
            Source::File(f) => {
                if purpose == Purpose::Run {
                    let path = self.dir.join(f);
                    if !path.is_file() {
                        let why =
                            if path.is_dir() { "it is a directory".to_string() } else { "no such file".to_string() };
                        bail!(
                            "failed to read component source from disk at path {:?}: {why} (run `edge build`)",
                            path.display().to_string()
                        );
                    }
                }
            }
            Source::Remote { url, digest } => {
                if !digest.starts_with("sha256:") {
                    bail!("Failed to load Wasm source {url:?} with digest {digest:?}: invalid `digest`; must start with 'sha256:'");
                }
                bail!("the source of component `{name}` is a URL ({url}): edge loads local files only; download it and name the file");
            }
            Source::Registry { package, version, .. } => {
                bail!(
                    "the source of component `{name}` is the registry package {package}@{version}: edge loads local files \
                     only; pull it (spin registry pull) and name the file"
                );
            }
        }
        if purpose == Purpose::Run {
            crate::files::check(&self.dir, c)?;
        }
        Ok(())
    }

    fn check_triggers(&self) -> Result<()> {
        let m = &self.manifest;
        if !m.has_trigger_table {
            bail!("missing field `trigger`");
        }
        if let Some((kind, _)) = m.other_triggers.iter().next() {
            bail!(
                "`[[trigger.{kind}]]`: edge runs HTTP triggers only (Spin itself knows `http` and `redis`, \
                 and other types through plugins)"
            );
        }
        if m.trigger.http.is_empty() {
            bail!("No triggers in app");
        }
        if let Some(http) = m.application.trigger_settings.get("http") {
            for (key, value) in http {
                if key != "base" {
                    bail!("invalid metadata value for \"http\": unknown field `{key}`, expected `base`");
                }
                if value.as_str() != Some("/") {
                    bail!(
                        "This application is using the deprecated trigger 'base' field. The base must be prepended to \
                         each [[trigger.http]]'s 'route'."
                    );
                }
            }
        }
        for t in &m.trigger.http {
            if !m.component.contains_key(&t.component) {
                bail!("trigger `{}`: no such component {:?}", t.id, t.component);
            }
            if let RouteDecl::Path(p) = &t.route {
                Route::parse(p, &t.component)
                    .map_err(|e| anyhow!("Error parsing route {p} associated with component {}: {e}", t.component))?;
            }
        }
        Ok(())
    }

    /// The routes of `names`' triggers; a route written twice is served by the trigger written
    /// last, as in Spin, and reported.
    pub fn router(&self, names: &[String]) -> Result<(routes::Router, Vec<String>)> {
        let mut list = Vec::new();
        for t in &self.manifest.trigger.http {
            if let RouteDecl::Path(p) = &t.route {
                if names.contains(&t.component) {
                    list.push(Route::parse(p, &t.component).map_err(|e| anyhow!("route {p}: {e}"))?);
                }
            }
        }
        Ok(routes::Router::new(list))
    }

    /// The local `.wasm` file of a component.
    pub fn source_path(&self, component: &str) -> Result<PathBuf> {
        let decl = self.manifest.component.get(component).with_context(|| format!("no component `{component}`"))?;
        match &decl.source {
            Source::File(f) => Ok(self.dir.join(f)),
            Source::Remote { url, .. } => {
                bail!("component `{component}` has a remote source ({url}); download it and name the file")
            }
            Source::Registry { package, .. } => {
                bail!("component `{component}` comes from the registry package {package}; pull it and name the file")
            }
        }
    }

    /// The state folder of the application (Spin's `.spin/`): caches, logs, the default
    /// key-value store and SQLite database.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join(".edge")
    }

    /// `[application.tool.edge]` as a table (empty when absent).
    pub fn edge_settings(&self) -> toml::Table {
        match self.manifest.application.tool.get("edge") {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => toml::Table::new(),
        }
    }
}

/// Spin reads `spin_manifest_version` first: `"1"` is the old format, `2` this one.
fn probe_version(text: &str) -> Result<()> {
    #[derive(Deserialize)]
    struct Probe {
        spin_manifest_version: Option<toml::Value>,
        spin_version: Option<toml::Value>,
    }
    let probe: Probe = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
    match (probe.spin_manifest_version, probe.spin_version) {
        (Some(toml::Value::Integer(2)), _) => Ok(()),
        (None, Some(toml::Value::String(v))) | (Some(toml::Value::String(v)), _) if v == "1" => bail!(
            "this is a version 1 manifest (spin_version = \"1\"), which edge does not read: convert it to \
             spin_manifest_version = 2 (`spin doctor` does it)"
        ),
        (Some(other), _) => check_version(&other).map_err(|e| anyhow!(e)),
        (None, _) => bail!("missing field `spin_manifest_version`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes_a_manifest() {
        let app = App::from_text(
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
[[trigger.http]]
route = "/inline"
component = { source = "b.wasm" }
[component.a]
source = "a.wasm"
allowed_outbound_hosts = ["postgres://localhost:5432"]
[component.a.variables]
db_url = "{{ db_url }}"
[component.a.tool.edge]
size_budget_kib = 800
[component.a.build]
command = ["one", "two"]
"#,
            PathBuf::from("."),
            Purpose::Build,
        )
        .unwrap();
        let m = &app.manifest;
        assert_eq!(m.trigger.http.len(), 3);
        assert_eq!(m.trigger.http[0].id, "a-http-trigger");
        assert_eq!(m.trigger.http[1].id, "http-trigger1");
        assert_eq!(m.trigger.http[1].route, RouteDecl::Private);
        assert_eq!(m.trigger.http[2].component, "http-trigger2-component");
        assert!(m.component.contains_key("http-trigger2-component"));
        assert!(m.variables["db_url"].required);
        assert!(m.component["a"].tool.contains_key("edge"));
        assert_eq!(m.component["a"].build.as_ref().unwrap().command, "one && two");
    }
}

#[cfg(test)]
mod rule_table {
    use super::*;

    /// A directory holding what the table's manifests name.
    fn workspace() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("edge-rules-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("static")).unwrap();
        std::fs::write(dir.join("p.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
        std::fs::write(dir.join("bad.wasm"), b"not wasm").unwrap();
        std::fs::write(dir.join("static/a.txt"), b"a").unwrap();
        std::fs::write(dir.join("static/b.txt"), b"b").unwrap();
        dir
    }

    #[test]
    fn every_rule_of_the_table_holds() {
        let dir = workspace();
        let mut failures = Vec::new();
        for case in rules::CASES.iter().filter(|c| !c.at_start) {
            let text = if case.raw {
                case.manifest.to_string()
            } else {
                format!("spin_manifest_version = 2\n{}", case.manifest)
            };
            let outcome = App::from_text(&text, dir.clone(), Purpose::Run).map(drop).map_err(|e| format!("{e:#}"));
            match (case.edge, outcome) {
                (None, Ok(())) => {}
                (Some(why), Err(e)) if e.contains(why) => {}
                (expected, got) => failures.push(format!("{}: expected {expected:?}, got {got:?}", case.name)),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), rules::CASES.len(), failures.join("\n"));
    }

    #[test]
    fn case_names_are_unique() {
        let mut names: Vec<_> = rules::CASES.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), rules::CASES.len());
    }
}
