//! Application variables resolved as Spin resolves them: `SPIN_VARIABLE_<NAME>` in the
//! environment, then the `.env` file beside the manifest, then the manifest default. Every
//! variable is either required or has a default, so each one resolves to a value.
//! Component variables and `allowed_outbound_hosts` entries are templates (`"{{ db_url }}"`)
//! over application variables.

use crate::manifest::Manifest;
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

/// A string with `{{ name }}` expressions, as Spin writes templates: the text between `{{`
/// and the next `}}`, trimmed, names an application variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Variable(String),
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            match rest.find("{{") {
                Some(0) => {
                    let Some(end) = rest[2..].find("}}") else {
                        return Err("unmatched '{{' in template".into());
                    };
                    parts.push(Part::Variable(rest[2..2 + end].trim().to_string()));
                    rest = &rest[2 + end + 2..];
                }
                Some(start) => {
                    parts.push(Part::Text(rest[..start].to_string()));
                    rest = &rest[start..];
                }
                None => {
                    parts.push(Part::Text(rest.to_string()));
                    rest = "";
                }
            }
        }
        Ok(Template { parts })
    }

    /// True when the template names no variable.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(v) => Some(v.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The text with each variable replaced by `value(name)`; the first name without a value
    /// is the error.
    pub fn render<'a>(&self, value: impl Fn(&str) -> Option<&'a str>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Variable(name) => out.push_str(value(name).ok_or_else(|| name.clone())?),
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Text(t) => f.write_str(t)?,
                Part::Variable(v) => write!(f, "{{{{ {v} }}}}")?,
            }
        }
        Ok(())
    }
}

/// Resolved application variables: every declared variable has a value.
#[derive(Debug, Clone, Default)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl AppVariables {
    /// Resolve every declared variable; fails listing every required variable that is unset.
    pub fn resolve(manifest: &Manifest, app_dir: &Path, env: &HashMap<String, String>) -> Result<AppVariables> {
        let dotenv = read_dotenv(&app_dir.join(".env"));
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in &manifest.variables {
            let key = env_key(name.as_str());
            let value = env.get(&key).cloned().or_else(|| dotenv.get(&key).cloned()).or_else(|| decl.default.clone());
            match value {
                Some(v) => {
                    values.insert(name.to_string(), v);
                }
                None => missing.push(key),
            }
        }
        if !missing.is_empty() {
            bail!("required variables are not set: {} (set them in the environment or in .env)", missing.join(", "));
        }
        Ok(AppVariables { values })
    }

    /// The manifest's defaults only (what Spin checks templates against when it loads an app);
    /// required variables have no value here.
    pub fn defaults(manifest: &Manifest) -> AppVariables {
        let values = manifest
            .variables
            .iter()
            .filter_map(|(name, decl)| Some((name.to_string(), decl.default.clone()?)))
            .collect();
        AppVariables { values }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    #[cfg(test)]
    pub fn set(&mut self, name: &str, value: &str) {
        self.values.insert(name.to_string(), value.to_string());
    }

    pub fn render(&self, template: &Template) -> Result<String, String> {
        template.render(|name| self.get(name)).map_err(|name| format!("variable `{name}` has no value"))
    }
}

/// A component's variables: name → template, rendered on each `get`.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables {
    templates: BTreeMap<String, Template>,
}

impl ComponentVariables {
    pub fn new(templates: BTreeMap<String, Template>) -> ComponentVariables {
        ComponentVariables { templates }
    }

    pub fn get(&self, app: &AppVariables, name: &str) -> Result<String, VariableError> {
        if let Err(reason) = check_key(name) {
            return Err(VariableError::InvalidName(format!("{name:?}: {reason}")));
        }
        let template =
            self.templates.get(name).ok_or_else(|| VariableError::Undefined(format!("no variable for {name:?}")))?;
        app.render(template).map_err(VariableError::Undefined)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableError {
    InvalidName(String),
    Undefined(String),
}

pub fn env_key(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

/// A name a component may ask for: lowercase letters, digits and single underscores, starting
/// with a letter and ending with a letter or digit (so that it maps to an environment
/// variable and back).
pub fn check_key(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("must not be empty")
    } else if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        Err("only lowercase letters, digits and underscores are allowed")
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Err("must start with a lowercase letter")
    } else if !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        Err("must end with a lowercase letter or a digit")
    } else if name.contains("__") {
        Err("must not contain two underscores in a row")
    } else {
        Ok(())
    }
}

/// `KEY=VALUE` lines; `#` comments; optional `export `; optional matching quotes.
pub fn read_dotenv(path: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else { return HashMap::new() };
    parse_dotenv(&text)
}

pub fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
        {
            &v[1..v.len() - 1]
        } else {
            v
        };
        out.insert(k.trim().to_string(), v.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        toml::from_str(
            r#"
spin_manifest_version = 2
[application]
name = "x"
[variables]
db_url = { required = true, secret = true }
region = { default = "local" }
empty = { default = "" }
[trigger]
"#,
        )
        .unwrap()
    }

    #[test]
    fn environment_beats_dotenv_beats_default() {
        let dir = std::env::temp_dir().join(format!("edge-vars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".env"), "SPIN_VARIABLE_DB_URL=from-dotenv\nSPIN_VARIABLE_REGION='eu-west-1'\n")
            .unwrap();
        let mut env = HashMap::new();
        let vars = AppVariables::resolve(&manifest(), &dir, &env).unwrap();
        assert_eq!(vars.get("db_url"), Some("from-dotenv"));
        assert_eq!(vars.get("region"), Some("eu-west-1"));
        assert_eq!(vars.get("empty"), Some(""));
        env.insert("SPIN_VARIABLE_DB_URL".into(), "from-env".into());
        let vars = AppVariables::resolve(&manifest(), &dir, &env).unwrap();
        assert_eq!(vars.get("db_url"), Some("from-env"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_required_variables_are_named() {
        let err = AppVariables::resolve(&manifest(), Path::new("/nonexistent"), &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("SPIN_VARIABLE_DB_URL"), "{err}");
    }

    #[test]
    fn templates_parse_like_spins() {
        let t = Template::parse("a-{{ x }}-{{y}}").unwrap();
        assert_eq!(t.variables().collect::<Vec<_>>(), ["x", "y"]);
        assert!(!t.is_literal());
        assert!(Template::parse("https://example.com").unwrap().is_literal());
        assert!(Template::parse("}} stays text").unwrap().is_literal());
        assert_eq!(Template::parse("{{ a }} {{ b").unwrap_err(), "unmatched '{{' in template");
        assert_eq!(Template::parse("x{{a}}y").unwrap().to_string(), "x{{ a }}y");
    }

    #[test]
    fn component_templates_render_and_report_bad_names() {
        let mut env = HashMap::new();
        env.insert("SPIN_VARIABLE_DB_URL".to_string(), "postgres://x".to_string());
        let app = AppVariables::resolve(&manifest(), Path::new("/nonexistent"), &env).unwrap();
        let mut t = BTreeMap::new();
        t.insert("db_url".to_string(), Template::parse("{{ db_url }}").unwrap());
        t.insert("where".to_string(), Template::parse("region={{region}}").unwrap());
        let c = ComponentVariables::new(t);
        assert_eq!(c.get(&app, "db_url").unwrap(), "postgres://x");
        assert_eq!(c.get(&app, "where").unwrap(), "region=local");
        assert!(matches!(c.get(&app, "nope"), Err(VariableError::Undefined(_))));
        for bad in ["invalid-name", "invalid!name", "4invalidname", "Bad", "a__b", "a_", ""] {
            assert!(matches!(c.get(&app, bad), Err(VariableError::InvalidName(_))), "{bad}");
        }
    }
}
