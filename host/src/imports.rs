//! What a built component imports, checked two ways: against the world in `wit/` (nothing
//! outside it), and against its own manifest entry (least privilege: a component that may not
//! reach an HTTP host must not import the outgoing HTTP handler, one that may not reach a
//! database must not import Postgres, one without variables must not import them).

use crate::manifest::{App, ComponentDecl};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::Path;
use wasmparser::{Parser, Payload};

/// The WASI 0.2 packages every Spin HTTP component may import besides the world's own imports
/// (the world in `wit/` names them in its documentation: WASI HTTP and the CLI imports).
const WASI_BASE: &[&str] =
    &["wasi:io/", "wasi:clocks/", "wasi:random/", "wasi:cli/", "wasi:http/types@", OUTGOING_HTTP];
pub const OUTGOING_HTTP: &str = "wasi:http/outgoing-handler@";
const POSTGRES: &str = "spin:postgres/";
const VARIABLES: &str = "fermyon:spin/variables@";
const KEY_VALUE: &str = "fermyon:spin/key-value@";
const SQLITE: &str = "fermyon:spin/sqlite@";

/// The names of a component's top-level imports (nested core modules and components are
/// skipped: their imports are satisfied inside the component).
pub fn component_imports(bytes: &[u8]) -> Result<Vec<String>> {
    let mut depth = 0usize;
    let mut names = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.context("not a WebAssembly component")? {
            Payload::Version { encoding, .. } if depth == 0 && encoding != wasmparser::Encoding::Component => {
                anyhow::bail!("a core module, not a component (build for wasm32-wasip2)")
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    names.push(import?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// The interfaces the world `spin-services` in `wit/` imports, plus the WASI 0.2 base.
pub struct World {
    imports: BTreeSet<String>,
}

impl World {
    pub fn load(wit_dir: &Path) -> Result<World> {
        let mut resolve = wit_parser::Resolve::default();
        let (pkg, _) =
            resolve.push_dir(wit_dir).with_context(|| format!("cannot read the world in {}", wit_dir.display()))?;
        let world = resolve.select_world(&[pkg], Some("spin-services"))?;
        let imports = resolve.worlds[world].imports.keys().map(|k| resolve.name_world_key(k)).collect();
        Ok(World { imports })
    }

    pub fn allows(&self, import: &str) -> bool {
        self.imports.contains(import) || WASI_BASE.iter().any(|p| import.starts_with(p) && wasi_02(import))
    }
}

fn wasi_02(import: &str) -> bool {
    import.rsplit_once('@').is_some_and(|(_, v)| v.starts_with("0.2."))
}

/// What a component's manifest entry lets it do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub http: bool,
    pub postgres: bool,
    pub variables: bool,
    pub key_value: bool,
    pub sqlite: bool,
}

impl Needs {
    /// From `allowed_outbound_hosts` (schemes, with `{{ variable }}` templates resolved through
    /// the variables' defaults; a template that cannot be resolved may be any scheme) and the
    /// component's variables.
    pub fn of(app: &App, decl: &ComponentDecl) -> Needs {
        let mut needs = Needs {
            http: false,
            postgres: false,
            variables: !decl.variables.is_empty(),
            key_value: !decl.key_value_stores.is_empty(),
            sqlite: !decl.sqlite_databases.is_empty(),
        };
        for entry in &decl.allowed_outbound_hosts {
            match scheme(app, entry).as_deref() {
                Some("http" | "https") => needs.http = true,
                Some("postgres") => needs.postgres = true,
                Some("*") | None => {
                    needs.http = true;
                    needs.postgres = true;
                }
                Some(_) => {}
            }
        }
        needs
    }
}

/// The scheme of an allowed host, e.g. `postgres` for `postgres://{{ db_host }}`; a scheme that
/// is itself a template is looked up in the variables' defaults.
fn scheme(app: &App, entry: &str) -> Option<String> {
    let literal = entry.split_once("://").map(|(s, _)| s).filter(|s| !s.contains("{{"));
    let found = match literal {
        Some(s) => s.to_string(),
        None => crate::deploy::expand_defaults(app, entry)?.split_once("://")?.0.to_string(),
    };
    Some(found.to_ascii_lowercase())
}

/// Imports outside the world, and imports the manifest gives the component no use for.
pub fn violations(imports: &[String], world: &World, needs: Needs) -> Vec<String> {
    let mut out = Vec::new();
    for import in imports {
        if !world.allows(import) {
            out.push(format!("imports {import}, which is outside the world in wit/"));
        } else if import.starts_with(OUTGOING_HTTP) && !needs.http {
            out.push(format!("imports {import} but allowed_outbound_hosts has no http(s) host"));
        } else if import.starts_with(POSTGRES) && !needs.postgres {
            out.push(format!("imports {import} but allowed_outbound_hosts has no postgres host"));
        } else if import.starts_with(VARIABLES) && !needs.variables {
            out.push(format!("imports {import} but the component has no variables"));
        } else if import.starts_with(KEY_VALUE) && !needs.key_value {
            out.push(format!("imports {import} but the component lists no key_value_stores"));
        } else if import.starts_with(SQLITE) && !needs.sqlite {
            out.push(format!("imports {import} but the component lists no sqlite_databases"));
        }
    }
    out
}

/// The capabilities a component imports, in a few words for the build table.
pub fn summary(imports: &[String]) -> String {
    let mut words = Vec::new();
    if imports.iter().any(|i| i.starts_with(OUTGOING_HTTP)) {
        words.push("http-out");
    }
    if imports.iter().any(|i| i.starts_with(POSTGRES)) {
        words.push("postgres");
    }
    if imports.iter().any(|i| i.starts_with(VARIABLES)) {
        words.push("variables");
    }
    let others =
        imports.iter().filter(|i| !WASI_BASE.iter().chain([&POSTGRES, &VARIABLES]).any(|p| i.starts_with(p))).count();
    let mut s = words.join(",");
    if others > 0 {
        s.push_str(&format!("{}+{others} other", if s.is_empty() { "" } else { " " }));
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit")).unwrap()
    }

    #[test]
    fn the_world_is_read_from_wit() {
        let w = world();
        assert!(w.allows("spin:postgres/postgres@4.0.0"));
        assert!(w.allows("fermyon:spin/variables@2.0.0"));
        assert!(!w.allows("spin:postgres/postgres@3.0.0"));
        assert!(w.allows("fermyon:spin/key-value@2.0.0"));
        assert!(w.allows("fermyon:spin/sqlite@2.0.0"));
        assert!(!w.allows("fermyon:spin/redis@2.0.0"));
        assert!(w.allows("wasi:http/outgoing-handler@0.2.6"));
        assert!(!w.allows("wasi:filesystem/types@0.2.6"));
        assert!(!w.allows("wasi:sockets/tcp@0.2.6"));
        assert!(!w.allows("wasi:http/types@0.3.0"));
    }

    #[test]
    fn least_privilege_follows_the_needs() {
        let w = world();
        let imports: Vec<String> =
            ["wasi:http/types@0.2.6", "wasi:http/outgoing-handler@0.2.6", "spin:postgres/postgres@4.0.0"]
                .map(String::from)
                .into();
        let all = Needs { http: true, postgres: true, variables: true, key_value: true, sqlite: true };
        assert!(violations(&imports, &w, all).is_empty());
        let v = violations(&imports, &w, Needs { http: false, ..all });
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("outgoing-handler"));
        let v = violations(&imports, &w, Needs { postgres: false, ..all });
        assert!(v[0].contains("postgres"), "{v:?}");
        assert_eq!(summary(&imports), "http-out,postgres");
    }

    #[test]
    fn core_modules_are_refused() {
        // The smallest core module: magic and version 1.
        let core = b"\0asm\x01\0\0\0";
        assert!(component_imports(core).is_err());
    }
}
