//! Application variables resolved as Spin resolves them: `SPIN_VARIABLE_<NAME>` in the
//! environment, then the `.env` file beside the manifest, then the manifest default.
//! Component variables are templates (`"{{ db_url }}"`) over application variables.

use crate::manifest::Manifest;
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Resolved application variables (absent when optional and unset).
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
            if !valid_name(name) {
                bail!("variable name `{name}` is invalid: use lowercase letters, digits and underscores");
            }
            let key = env_key(name);
            let value = env.get(&key).cloned().or_else(|| dotenv.get(&key).cloned()).or_else(|| decl.default.clone());
            match value {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None if decl.required => missing.push(key),
                None => {}
            }
        }
        if !missing.is_empty() {
            bail!("required variables are not set: {} (set them in the environment or in .env)", missing.join(", "));
        }
        Ok(AppVariables { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    #[cfg(test)]
    pub fn set(&mut self, name: &str, value: &str) {
        self.values.insert(name.to_string(), value.to_string());
    }

    /// Expand `{{ name }}` templates. Unknown or unset names are an error naming the variable.
    pub fn expand(&self, template: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| format!("unterminated template in `{template}`"))?;
            let name = after[..end].trim();
            match self.get(name) {
                Some(v) => out.push_str(v),
                None => return Err(format!("variable `{name}` is not set")),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// A component's variables: name → template, expanded on each `get`.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables {
    templates: BTreeMap<String, String>,
}

impl ComponentVariables {
    pub fn new(templates: BTreeMap<String, String>) -> ComponentVariables {
        ComponentVariables { templates }
    }

    pub fn get(&self, app: &AppVariables, name: &str) -> Result<String, VariableError> {
        if !valid_name(name) {
            return Err(VariableError::InvalidName(name.to_string()));
        }
        let template = self.templates.get(name).ok_or_else(|| VariableError::Undefined(name.to_string()))?;
        app.expand(template).map_err(VariableError::Undefined)
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

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
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
        let v = if v.len() >= 2 && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\''))) {
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
optional = { required = false }
"#,
        )
        .unwrap()
    }

    #[test]
    fn environment_beats_dotenv_beats_default() {
        let dir = std::env::temp_dir().join(format!("edge-vars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".env"), "SPIN_VARIABLE_DB_URL=from-dotenv\nSPIN_VARIABLE_REGION='eu-west-1'\n").unwrap();
        let mut env = HashMap::new();
        let vars = AppVariables::resolve(&manifest(), &dir, &env).unwrap();
        assert_eq!(vars.get("db_url"), Some("from-dotenv"));
        assert_eq!(vars.get("region"), Some("eu-west-1"));
        assert_eq!(vars.get("optional"), None);
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
    fn component_templates_expand_and_report_unset_names() {
        let mut env = HashMap::new();
        env.insert("SPIN_VARIABLE_DB_URL".to_string(), "postgres://x".to_string());
        let app = AppVariables::resolve(&manifest(), Path::new("/nonexistent"), &env).unwrap();
        let mut t = BTreeMap::new();
        t.insert("db_url".to_string(), "{{ db_url }}".to_string());
        t.insert("where".to_string(), "region={{region}}".to_string());
        t.insert("opt".to_string(), "{{ optional }}".to_string());
        let c = ComponentVariables::new(t);
        assert_eq!(c.get(&app, "db_url").unwrap(), "postgres://x");
        assert_eq!(c.get(&app, "where").unwrap(), "region=local");
        assert!(matches!(c.get(&app, "opt"), Err(VariableError::Undefined(_))));
        assert!(matches!(c.get(&app, "nope"), Err(VariableError::Undefined(_))));
        assert!(matches!(c.get(&app, "Bad-Name"), Err(VariableError::InvalidName(_))));
    }
}
