//! `spin.toml` (manifest version 2) as types: parsed against the schema as strictly as Spin
//! 3.4–4.0.2 parses it (unknown keys, wrong types and invalid ids are errors pointing at the
//! line, as Spin's are), then normalized as Spin normalizes it (trigger ids, inline components
//! moved into `[component]`).
//!
//! Used by the `edge` host, which adds the checks Spin makes when it loads an application
//! (`host/src/manifest.rs`, its rules table in `host/src/manifest/rules.rs`), and by build
//! scripts that compile facts of the manifest into a component (production-validator).
//! Depends on nothing of this workspace.

mod ids;

pub use ids::{check, check_label, ComponentId, VariableName};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// The application as the host uses it: normalized, every component under `[component]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawManifest")]
pub struct Manifest {
    pub application: Application,
    pub variables: BTreeMap<String, VariableDecl>,
    pub trigger: Triggers,
    pub component: BTreeMap<String, ComponentDecl>,
    /// Whether the file had a `[trigger]` table at all (Spin requires one).
    pub has_trigger_table: bool,
    /// Trigger types other than `http`, with the number of triggers of each.
    pub other_triggers: BTreeMap<String, usize>,
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

/// `spin_manifest_version` must be 2.
pub fn check_version(v: &toml::Value) -> Result<(), String> {
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
