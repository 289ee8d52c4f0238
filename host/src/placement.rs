//! Regional placement, read from `spin.toml` (Spin ignores `tool` tables):
//!
//! ```toml
//! [application.tool.edge.regions.us-east-1]
//! priority = 8
//! weight = 0.30
//! [component.X.tool.edge]
//! regions = ["us-east-1"]
//! tier = "cold"
//! ```
//!
//! The home region is the one with the highest priority. Tiers decide replicas: `hot` keeps two
//! warm instances per region, `warm` one, `cold` one in the home region only.

use crate::manifest::App;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Region {
    pub name: String,
    pub priority: i64,
    pub weight: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Hot,
    Warm,
    Cold,
}

impl Tier {
    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "hot" => Some(Tier::Hot),
            "warm" => Some(Tier::Warm),
            "cold" => Some(Tier::Cold),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
        }
    }

    /// Replicas kept running in each region the tier is placed in.
    pub fn min_replicas(self) -> u32 {
        match self {
            Tier::Hot => 2,
            Tier::Warm | Tier::Cold => 1,
        }
    }

    /// The autoscaler's ceiling; `None`: a fixed replica count (cold components are admin
    /// functions with a handful of callers; scaling them buys nothing).
    pub fn max_replicas(self) -> Option<u32> {
        match self {
            Tier::Hot => Some(10),
            Tier::Warm => Some(5),
            Tier::Cold => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ComponentPlacement {
    pub regions: Vec<String>,
    pub tier: Tier,
}

#[derive(Debug, Clone)]
pub struct Placement {
    /// Highest priority first.
    pub regions: Vec<Region>,
    pub components: BTreeMap<String, ComponentPlacement>,
    /// Whom each component may call through service chaining (`<name>.spin.internal`).
    pub calls: BTreeMap<String, Callees>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callees {
    Named(Vec<String>),
    /// `*.spin.internal`: any component of its own Spin application.
    Any,
}

impl Placement {
    pub fn from_app(app: &App) -> Result<Placement> {
        let settings = app.edge_settings();
        let table = settings
            .get("regions")
            .and_then(|r| r.as_table())
            .context("spin.toml has no [application.tool.edge.regions.<name>] tables")?;
        let mut regions = Vec::new();
        for (name, r) in table {
            let priority = r
                .get("priority")
                .and_then(|v| v.as_integer())
                .with_context(|| format!("region {name}: priority must be an integer"))?;
            let weight = r
                .get("weight")
                .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
                .with_context(|| format!("region {name}: weight must be a number"))?;
            if !(weight > 0.0 && weight <= 1.0) {
                bail!("region {name}: weight {weight} is not in (0, 1]");
            }
            regions.push(Region { name: name.clone(), priority, weight });
        }
        regions.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
        if regions.windows(2).any(|w| w[0].priority == w[1].priority) {
            bail!("two regions share a priority; the home region would be ambiguous");
        }
        let total: f64 = regions.iter().map(|r| r.weight).sum();
        if (total - 1.0).abs() > 1e-9 {
            bail!("region weights add up to {total}, not 1");
        }
        let home = regions[0].name.clone();

        let mut components = BTreeMap::new();
        for (name, decl) in &app.manifest.component {
            let edge = decl
                .tool
                .get("edge")
                .with_context(|| format!("component {name} has no [component.{name}.tool.edge] placement"))?;
            let list = edge
                .get("regions")
                .and_then(|v| v.as_array())
                .with_context(|| format!("component {name}: regions must be a list of region names"))?;
            let mut placed = Vec::new();
            for r in list {
                let r = r.as_str().with_context(|| format!("component {name}: regions must be strings"))?;
                if !regions.iter().any(|k| k.name == r) {
                    bail!("component {name} is placed in unknown region {r}");
                }
                if placed.iter().any(|p| p == r) {
                    bail!("component {name} lists region {r} twice");
                }
                placed.push(r.to_string());
            }
            if placed.is_empty() {
                bail!("component {name} is placed in no region");
            }
            let tier = edge
                .get("tier")
                .and_then(|v| v.as_str())
                .and_then(Tier::parse)
                .with_context(|| format!("component {name}: tier must be hot, warm or cold"))?;
            if tier == Tier::Cold && placed != [home.clone()] {
                bail!("component {name} is cold: it runs in the home region {home} only");
            }
            // In priority order, so every listing reads the same way.
            placed.sort_by_key(|r| regions.iter().position(|k| &k.name == r));
            components.insert(name.clone(), ComponentPlacement { regions: placed, tier });
        }
        let mut calls = BTreeMap::new();
        for (caller, decl) in &app.manifest.component {
            let mut named = Vec::new();
            let mut any = false;
            for host in &decl.allowed_outbound_hosts {
                match chained_component(host) {
                    Some("*") => any = true,
                    Some(callee) => named.push(callee.to_string()),
                    None => {}
                }
            }
            calls.insert(caller.clone(), if any { Callees::Any } else { Callees::Named(named) });
        }
        let placement = Placement { regions, components, calls };
        placement.check_chaining()?;
        Ok(placement)
    }

    /// Service chaining does not leave the process: a callee must run everywhere its caller
    /// runs (and is loaded into the caller's Spin application, see `spin_app`).
    fn check_chaining(&self) -> Result<()> {
        for (caller, callees) in &self.calls {
            let Callees::Named(names) = callees else { continue };
            for callee in names {
                let (Some(from), Some(to)) = (self.components.get(caller), self.components.get(callee)) else {
                    bail!("component {caller} may call {callee}.spin.internal, which is not a component");
                };
                if let Some(r) = from.regions.iter().find(|r| !to.regions.contains(r)) {
                    bail!(
                        "component {caller} calls {callee} through service chaining but {callee} does not run in {r}"
                    );
                }
            }
        }
        Ok(())
    }

    /// The components one Spin application (a region's tier) loads: those it serves, and those
    /// they call through service chaining, transitively (a `*.spin.internal` caller gets every
    /// component of the region). The second list holds the latter only.
    pub fn spin_app(&self, region: &str, tier: Tier) -> (Vec<String>, Vec<String>) {
        let served = self.in_region(region, tier);
        let mut loaded: Vec<String> = served.clone();
        let mut i = 0;
        while i < loaded.len() {
            let callees: Vec<String> = match &self.calls[&loaded[i]] {
                Callees::Named(n) => n.clone(),
                Callees::Any => self
                    .components
                    .iter()
                    .filter(|(_, p)| p.regions.iter().any(|r| r == region))
                    .map(|(n, _)| n.clone())
                    .collect(),
            };
            for c in callees {
                if !loaded.contains(&c) {
                    loaded.push(c);
                }
            }
            i += 1;
        }
        let mut chained: Vec<String> = loaded.into_iter().filter(|c| !served.contains(c)).collect();
        chained.sort();
        (served, chained)
    }

    pub fn home(&self) -> &Region {
        &self.regions[0]
    }

    /// The components of one tier placed in a region, by name.
    pub fn in_region(&self, region: &str, tier: Tier) -> Vec<String> {
        self.components
            .iter()
            .filter(|(_, p)| p.tier == tier && p.regions.iter().any(|r| r == region))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// `http://quote-pdf-generator.spin.internal` → `quote-pdf-generator`.
pub fn chained_component(host: &str) -> Option<&str> {
    let rest = host.split_once("://").map(|(_, r)| r).unwrap_or(host);
    let rest = rest.split([':', '/']).next()?;
    rest.strip_suffix(".spin.internal")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use std::path::PathBuf;

    fn app(extra: &str) -> Result<Placement> {
        let text = format!(
            r#"
spin_manifest_version = 2
[application]
name = "x"
[application.tool.edge.regions.home]
priority = 2
weight = 0.75
[application.tool.edge.regions.away]
priority = 1
weight = 0.25
[component.a]
source = "a.wasm"
allowed_outbound_hosts = ["http://b.spin.internal"]
[component.b]
source = "b.wasm"
{extra}
"#
        );
        let manifest: Manifest = toml::from_str(&text).unwrap();
        Placement::from_app(&App { dir: PathBuf::from("."), manifest, notes: Vec::new() })
    }

    #[test]
    fn reads_regions_tiers_and_the_home_region() {
        let p = app(r#"[component.a.tool.edge]
regions = ["away", "home"]
tier = "warm"
[component.b.tool.edge]
regions = ["home", "away"]
tier = "warm""#)
        .unwrap();
        assert_eq!(p.home().name, "home");
        assert_eq!(p.components["a"].regions, ["home", "away"]);
        assert_eq!(p.in_region("away", Tier::Warm), ["a", "b"]);
        assert!(p.in_region("away", Tier::Hot).is_empty());
    }

    #[test]
    fn a_spin_app_loads_the_components_its_own_call() {
        let p = app(r#"[component.a.tool.edge]
regions = ["home"]
tier = "cold"
[component.b.tool.edge]
regions = ["home", "away"]
tier = "hot""#)
        .unwrap();
        assert_eq!(p.spin_app("home", Tier::Cold), (vec!["a".to_string()], vec!["b".to_string()]));
        assert_eq!(p.spin_app("home", Tier::Hot), (vec!["b".to_string()], vec![]));
        assert_eq!(p.calls["a"], Callees::Named(vec!["b".into()]));
    }

    #[test]
    fn refuses_a_callee_missing_from_a_callers_region() {
        let e = app(r#"[component.a.tool.edge]
regions = ["home", "away"]
tier = "warm"
[component.b.tool.edge]
regions = ["home"]
tier = "warm""#)
        .unwrap_err();
        assert!(e.to_string().contains("does not run in away"), "{e}");
    }

    #[test]
    fn refuses_cold_components_away_from_home_and_unknown_tiers() {
        let e = app(r#"[component.a.tool.edge]
regions = ["away"]
tier = "cold"
[component.b.tool.edge]
regions = ["away"]
tier = "cold""#)
        .unwrap_err();
        assert!(e.to_string().contains("home region"), "{e}");
        let e = app(r#"[component.a.tool.edge]
regions = ["home"]
tier = "tepid"
[component.b.tool.edge]
regions = ["home"]
tier = "warm""#)
        .unwrap_err();
        assert!(e.to_string().contains("tier"), "{e}");
    }

    #[test]
    fn names_the_chained_component() {
        assert_eq!(chained_component("http://quote-pdf-generator.spin.internal"), Some("quote-pdf-generator"));
        assert_eq!(chained_component("https://api.resend.com"), None);
        assert_eq!(chained_component("http://*.spin.internal"), Some("*"));
    }
}
