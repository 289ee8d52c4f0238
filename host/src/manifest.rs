//! `spin.toml` (manifest version 2), read exactly as strictly as Spin 3.4–4.0.2 reads it.
//!
//! Reading has three steps. The file is parsed against the schema (unknown keys, wrong types
//! and invalid ids are errors pointing at the line, as Spin's are); it is normalized as Spin
//! normalizes it (trigger ids, inline components moved into `[component]`); then the checks
//! Spin makes when it loads an application run (`check`). Whatever one of those Spin versions
//! refuses is refused here with the same reason, and what this host does not implement
//! (other trigger types, component dependencies, AI models, the Wagi executor, remote
//! sources) is refused by name instead of being ignored. The table of these rules, each with
//! the reason given, is `manifest/rules.rs`.

mod ids;
#[cfg(test)]
pub mod rules;

use crate::outbound;
use crate::routes::{self, Route};
use crate::variables::{AppVariables, Template};
use anyhow::{anyhow, bail, Context, Result};
pub use ids::{check_label, ComponentId, VariableName};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The application as the host uses it: normalized, every component under `[component]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawManifest")]
pub struct Manifest {
    pub application: Application,
    pub variables: BTreeMap<String, VariableDecl>,
    pub trigger: Triggers,
    pub component: BTreeMap<String, ComponentDecl>,
    /// Whether the file had a `[trigger]` table at all (Spin requires one).
    has_trigger_table: bool,
    /// Trigger types other than `http`, with the number of triggers of each.
    other_triggers: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// Some fields are read only so that the manifest is checked whole (unknown keys refused).
#[allow(dead_code)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    /// The Spin environments the application must be compatible with (checked by `spin
    /// build`/`spin deploy` against a registry; not by this host).
    #[serde(default)]
    pub targets: Vec<String>,
    /// `[application.trigger.<type>]`: settings of a trigger type for the whole application.
    #[serde(default, rename = "trigger")]
    pub trigger_settings: BTreeMap<String, toml::Table>,
    /// `[application.tool.edge]`: settings for this host that Spin itself ignores.
    #[serde(default)]
    pub tool: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// Some fields are read only so that the manifest is checked whole (unknown keys refused).
#[allow(dead_code)]
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

#[derive(Debug, Clone, Default)]
pub struct Triggers {
    pub http: Vec<HttpTrigger>,
}

/// One `[[trigger.http]]`, its component a reference into `[component]`.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    pub id: String,
    pub route: RouteDecl,
    pub component: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecl {
    Path(String),
    /// `{ private = true }`: reachable only from other components.
    Private,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// Some fields are read only so that the manifest is checked whole (unknown keys refused).
#[allow(dead_code)]
pub struct ComponentDecl {
    pub source: Source,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "variable_templates")]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<FilesMount>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    /// The deprecated form of `allowed_outbound_hosts` (host[:port], HTTP and HTTPS); folded
    /// into `allowed_outbound_hosts` when the manifest is read.
    #[serde(default)]
    pub allowed_http_hosts: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default, deserialize_with = "labels")]
    pub key_value_stores: Vec<String>,
    #[serde(default, deserialize_with = "labels")]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    #[serde(default)]
    pub build: Option<BuildDecl>,
    /// `[component.X.tool.edge]`: placement and packaging settings Spin ignores.
    #[serde(default)]
    pub tool: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<bool>,
    #[serde(default)]
    pub dependencies: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub profile: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
#[allow(dead_code)] // `registry` is parsed to refuse it by name.
pub enum Source {
    File(String),
    Remote { url: String, digest: String },
    Registry { registry: Option<String>, package: String, version: String },
}

/// One entry of `files`: a path or glob pattern relative to the manifest, or a directory or
/// file placed at a path in the guest.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum FilesMount {
    Pattern(String),
    Placement { source: String, destination: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// Some fields are read only so that the manifest is checked whole (unknown keys refused).
#[allow(dead_code)]
pub struct BuildDecl {
    /// One command, or several run one after the other (joined with `&&`).
    #[serde(deserialize_with = "commands")]
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

fn commands<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Commands {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Commands::deserialize(d)? {
        Commands::One(c) => c,
        Commands::Many(cs) => cs.join(" && "),
    })
}

fn variable_templates<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let typed = BTreeMap::<VariableName, String>::deserialize(d)?;
    Ok(typed.into_iter().map(|(k, v)| (k.as_str().to_string(), v)).collect())
}

fn labels<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    if list.iter().all(|l| check_label(l)) {
        Ok(list)
    } else {
        Err(serde::de::Error::custom("expected kebab-case or snake_case"))
    }
}

// ---- the file as written, and its normalization ---------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: Application,
    #[serde(default)]
    variables: BTreeMap<VariableName, VariableDecl>,
    #[serde(default)]
    trigger: Option<BTreeMap<String, Vec<RawTrigger>>>,
    #[serde(default)]
    component: BTreeMap<ComponentId, ComponentDecl>,
}

#[derive(Deserialize)]
struct RawTrigger {
    #[serde(default)]
    id: String,
    #[serde(default)]
    component: Option<ComponentSpec>,
    #[serde(flatten)]
    config: toml::Table,
}

/// A trigger's component: the id of a `[component]` entry, or the component written inline.
enum ComponentSpec {
    Reference(ComponentId),
    Inline(Box<ComponentDecl>),
}

impl<'de> Deserialize<'de> for ComponentSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ComponentSpec, D::Error> {
        let value = toml::Value::deserialize(d)?;
        match value {
            toml::Value::String(s) => {
                ComponentId::parse(&s).map(ComponentSpec::Reference).map_err(serde::de::Error::custom)
            }
            other => ComponentDecl::deserialize(other)
                .map(|c| ComponentSpec::Inline(Box::new(c)))
                .map_err(serde::de::Error::custom),
        }
    }
}

impl TryFrom<RawManifest> for Manifest {
    type Error = String;

    fn try_from(raw: RawManifest) -> Result<Manifest, String> {
        check_version(&raw.spin_manifest_version)?;
        let has_trigger_table = raw.trigger.is_some();
        let mut triggers = raw.trigger.unwrap_or_default();
        let mut component: BTreeMap<String, ComponentDecl> =
            raw.component.into_iter().map(|(id, c)| (id.as_str().to_string(), c)).collect();

        // Trigger ids, as Spin assigns them: `<component>-<type>-trigger` when that is free,
        // else `<type>-trigger<n>`.
        let mut taken: Vec<String> = triggers.values().flatten().map(|t| t.id.clone()).collect();
        for (kind, list) in triggers.iter_mut() {
            let mut n = 1;
            for t in list.iter_mut().filter(|t| t.id.is_empty()) {
                if let Some(ComponentSpec::Reference(c)) = &t.component {
                    let natural = format!("{c}-{kind}-trigger");
                    if !taken.contains(&natural) {
                        t.id = natural.clone();
                        taken.push(natural);
                        continue;
                    }
                }
                while taken.contains(&format!("{kind}-trigger{n}")) {
                    n += 1;
                }
                t.id = format!("{kind}-trigger{n}");
                taken.push(t.id.clone());
            }
        }
        // Inline components move to `[component]` as `<trigger-id>-component` (or
        // `inline-component<n>` when that is not a free, valid id).
        let mut n = 1;
        for t in triggers.values_mut().flatten() {
            if let Some(ComponentSpec::Inline(_)) = &t.component {
                let natural = format!("{}-component", t.id);
                let id = if ComponentId::parse(&natural).is_ok() && !component.contains_key(&natural) {
                    natural
                } else {
                    while component.contains_key(&format!("inline-component{n}")) {
                        n += 1;
                    }
                    format!("inline-component{n}")
                };
                let Some(ComponentSpec::Inline(decl)) = t.component.take() else { unreachable!() };
                component.insert(id.clone(), *decl);
                t.component = Some(ComponentSpec::Reference(ComponentId::parse(&id).expect("a valid id")));
            }
        }

        let mut http = Vec::new();
        let mut other_triggers = BTreeMap::new();
        for (kind, list) in triggers {
            if kind != "http" {
                other_triggers.insert(kind, list.len());
                continue;
            }
            for t in list {
                http.push(http_trigger(t)?);
            }
        }
        Ok(Manifest {
            application: raw.application,
            variables: raw.variables.into_iter().map(|(k, v)| (k.as_str().to_string(), v)).collect(),
            trigger: Triggers { http },
            component,
            has_trigger_table,
            other_triggers,
        })
    }
}

fn check_version(v: &toml::Value) -> Result<(), String> {
    match v {
        toml::Value::Integer(2) => Ok(()),
        toml::Value::String(s) => Err(format!("invalid manifest version: {s:?}")),
        other => Err(format!("invalid manifest version: {other}")),
    }
}

/// The settings of one HTTP trigger, refused as Spin refuses them: unknown keys, a missing
/// route or component, an unknown executor.
fn http_trigger(t: RawTrigger) -> Result<HttpTrigger, String> {
    const KNOWN: &str = "expected one of `component`, `route`, `executor`";
    let mut route = None;
    for (key, value) in &t.config {
        match key.as_str() {
            "route" => route = Some(value),
            "executor" => check_executor(value)?,
            "static_response" => {
                return Err(format!(
                    "trigger `{}`: `static_response` is not understood by Spin 3.4 (Spin 4.0 added it); \
                     this application stays compatible with Spin 3.4+, so serve the answer from a component",
                    t.id
                ))
            }
            other => return Err(format!("unknown field `{other}`, {KNOWN}")),
        }
    }
    let route = match route {
        None => return Err(format!("trigger `{}`: missing field `route`", t.id)),
        Some(toml::Value::String(s)) => RouteDecl::Path(s.clone()),
        Some(toml::Value::Table(table)) => match (table.get("private"), table.len()) {
            (Some(toml::Value::Boolean(true)), 1) => RouteDecl::Private,
            (Some(toml::Value::Boolean(false)), 1) => {
                return Err(format!(
                    "route must be a string pattern or '{{ private = true }}': '{}' has {{ private = false }}",
                    t.component.as_ref().map_or(t.id.clone(), spec_name)
                ))
            }
            _ => return Err(format!("trigger `{}`: route must be a string pattern or `{{ private = true }}`", t.id)),
        },
        Some(_) => return Err(format!("trigger `{}`: route must be a string pattern or `{{ private = true }}`", t.id)),
    };
    let Some(ComponentSpec::Reference(component)) = t.component else {
        return Err(format!("Triggers must specify a component - {} has none", t.id));
    };
    Ok(HttpTrigger { id: t.id, route, component: component.as_str().to_string() })
}

fn spec_name(spec: &ComponentSpec) -> String {
    match spec {
        ComponentSpec::Reference(id) => id.to_string(),
        ComponentSpec::Inline(_) => "an inline component".into(),
    }
}

fn check_executor(value: &toml::Value) -> Result<(), String> {
    let kind = value.as_table().and_then(|t| t.get("type")).and_then(|v| v.as_str());
    match kind {
        Some("http" | "spin") => Ok(()),
        Some("wagi") => {
            Err("the `wagi` executor is not supported by edge: build the component as a WASI HTTP component".into())
        }
        Some(other) => Err(format!("unknown variant `{other}`, expected one of `http`, `spin`, `wagi`")),
        None => Err("executor must be a table with a `type` (`http`, `spin` or `wagi`)".into()),
    }
}

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
