//! infrastructure / `regional_configuration`: the `global_*` tables (migration 0007) describe
//! a deployable placement: the enabled regions' weights add up to 1, there is exactly one home
//! region, every component of this build is placed (and nothing else), each with one tier,
//! home-only tiers only in the home region, no placement in a disabled region, and a component
//! that calls another (`<callee>.spin.internal`, from spin.toml) runs only where its callee runs;
//! and the regions (priority, weight) and each component's regions and tier are those of the
//! spin.toml this build was made with (`tool.edge` tables; compared only when it has them).

use crate::built::{CHAINS, COMPONENTS, MANIFEST_PLACEMENT, MANIFEST_REGIONS};
use crate::check::{start, Category, Check, Severity, Status};
use serde_json::{json, Value};
use shared::db::Db;

const PLACEMENT_SQL: &str = "
SELECT (SELECT coalesce(sum(weight), 0) = 1 FROM public.global_regions WHERE enabled) AS weights_add_up,
       (SELECT coalesce(sum(weight), 0)::text FROM public.global_regions WHERE enabled) AS weight_sum,
       (SELECT coalesce(jsonb_agg(region ORDER BY region), '[]') FROM public.global_regions WHERE home AND enabled) AS home,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('region', region, 'priority', priority, 'weight', weight::text)
                                  ORDER BY priority DESC), '[]')
          FROM public.global_regions WHERE enabled) AS regions,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'function', p.function_name, 'region', p.region, 'tier', p.tier,
                  'home_only', t.home_region_only, 'region_enabled', r.enabled, 'home', r.home)
                ORDER BY p.function_name, p.region), '[]')
          FROM public.global_function_placement p
          JOIN public.global_placement_tiers t ON t.tier = p.tier
          JOIN public.global_regions r ON r.region = p.region) AS placement";

pub fn regional_configuration(db: &Db) -> Check {
    let p = start(Category::Infrastructure, "regional_configuration", Severity::High);
    let remedy =
        "correct global_regions / global_function_placement (migration 0007) so that they match spin.toml's placement";
    let present = db.query(
        "SELECT to_regclass('public.global_regions') IS NOT NULL AND to_regclass('public.global_function_placement') IS NOT NULL
                AND to_regclass('public.global_placement_tiers') IS NOT NULL AS present",
        &[],
    );
    match present {
        Ok(r) if r.first().map(|row| row.flag("present").unwrap_or(false)).unwrap_or(false) => {}
        Ok(_) => {
            return p.done(
                Status::Fail,
                "the global_* tables do not exist (migration 0007 not applied)",
                json!({}),
                remedy,
            )
        }
        Err(e) => return p.unavailable("the regional configuration", super::error_kind(&e)),
    }
    let rows = match db.query(PLACEMENT_SQL, &[]) {
        Ok(r) => r,
        Err(e) => return p.unavailable("the regional configuration", super::error_kind(&e)),
    };
    let Some(r) = rows.first() else { return p.unavailable("the regional configuration", "no row") };
    let (Ok(weights_ok), Ok(sum), Ok(Some(home)), Ok(Some(regions)), Ok(Some(placement))) =
        (r.flag("weights_add_up"), r.string("weight_sum"), r.json("home"), r.json("regions"), r.json("placement"))
    else {
        return p.unavailable("the regional configuration", "unexpected row shape");
    };
    let rows: Vec<Value> = placement.as_array().cloned().unwrap_or_default();
    let mut findings = findings(&rows, COMPONENTS.iter().map(|c| c.0), CHAINS);
    findings.extend(differences_from_manifest(
        regions.as_array().map(Vec::as_slice).unwrap_or(&[]),
        &rows,
        MANIFEST_REGIONS,
        MANIFEST_PLACEMENT,
    ));
    if !weights_ok {
        findings.insert(0, format!("the enabled regions' weights add up to {sum}, not 1"));
    }
    let homes = home.as_array().map(Vec::len).unwrap_or(0);
    if homes != 1 {
        findings.insert(0, format!("{homes} enabled home regions; exactly one is needed"));
    }
    let evidence = json!({
        "regions": regions,
        "home_region": home,
        "weight_sum": sum,
        "placed_components": by_function(&rows).len(),
        "compared_with_manifest": !MANIFEST_REGIONS.is_empty() || !MANIFEST_PLACEMENT.is_empty(),
        "findings": findings,
    });
    if findings.is_empty() {
        p.done(
            Status::Pass,
            format!(
                "{} regions with weights adding up to 1, one home region, all {} components placed consistently",
                regions.as_array().map(Vec::len).unwrap_or(0),
                COMPONENTS.len()
            ),
            evidence,
            remedy,
        )
    } else {
        p.done(Status::Fail, findings.join("; "), evidence, remedy)
    }
}

/// The rows grouped by function, in the order the query sorted them (by function).
fn by_function(rows: &[Value]) -> Vec<(&str, Vec<&Value>)> {
    let mut groups: Vec<(&str, Vec<&Value>)> = Vec::new();
    for r in rows {
        let f = r["function"].as_str().unwrap_or("");
        match groups.iter_mut().find(|(name, _)| *name == f) {
            Some((_, rs)) => rs.push(r),
            None => groups.push((f, vec![r])),
        }
    }
    groups
}

/// Placement rules over the joined placement rows (`function`, `region`, `tier`, `home_only`,
/// `region_enabled`, `home`).
pub fn findings<'a>(rows: &[Value], components: impl Iterator<Item = &'a str>, chains: &[(&str, &str)]) -> Vec<String> {
    let placed = by_function(rows);
    let components: Vec<&str> = components.collect();
    let mut out = Vec::new();
    for c in &components {
        if !placed.iter().any(|(f, _)| f == c) {
            out.push(format!("{c} is not placed in any region"));
        }
    }
    for (function, rows) in &placed {
        if !components.contains(function) {
            out.push(format!("{function} is placed but is not a component of this build"));
        }
        let mut tiers: Vec<&str> = rows.iter().filter_map(|r| r["tier"].as_str()).collect();
        tiers.dedup();
        if tiers.len() > 1 {
            out.push(format!("{function} has several tiers ({})", tiers.join(", ")));
        }
        for r in rows {
            let region = r["region"].as_str().unwrap_or("");
            if r["home_only"] == true && r["home"] != true {
                out.push(format!(
                    "{function} is {} (home region only) but placed in {region}",
                    r["tier"].as_str().unwrap_or("")
                ));
            }
            if r["region_enabled"] != true {
                out.push(format!("{function} is placed in the disabled region {region}"));
            }
        }
    }
    for (caller, callee) in chains {
        let regions = |f: &str| -> Vec<&str> {
            placed
                .iter()
                .find(|(name, _)| *name == f)
                .map(|(_, rs)| rs.iter().filter_map(|r| r["region"].as_str()).collect())
                .unwrap_or_default()
        };
        let callee_regions = regions(callee);
        let missing: Vec<&str> = regions(caller).into_iter().filter(|r| !callee_regions.contains(r)).collect();
        if !missing.is_empty() {
            out.push(format!("{caller} calls {callee} but {callee} does not run in {}", missing.join(", ")));
        }
    }
    out
}

/// Where the database's regional configuration differs from spin.toml's.
pub fn differences_from_manifest(
    regions: &[Value],
    rows: &[Value],
    manifest_regions: &[(&str, i64, &str)],
    manifest_placement: &[(&str, &[&str], &str)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, priority, weight) in manifest_regions {
        match regions.iter().find(|r| r["region"] == *name) {
            None => out.push(format!("spin.toml's region {name} is not an enabled region in global_regions")),
            Some(r) => {
                if r["priority"].as_i64() != Some(*priority) || r["weight"].as_str() != Some(*weight) {
                    out.push(format!(
                        "{name}: priority {} weight {} in global_regions, {priority} / {weight} in spin.toml",
                        r["priority"],
                        r["weight"].as_str().unwrap_or("?")
                    ));
                }
            }
        }
    }
    if !manifest_regions.is_empty() {
        for r in regions {
            let name = r["region"].as_str().unwrap_or("");
            if !manifest_regions.iter().any(|(m, _, _)| *m == name) {
                out.push(format!("global_regions enables {name}, which spin.toml does not list"));
            }
        }
    }
    let placed = by_function(rows);
    for (component, regions, tier) in manifest_placement {
        let Some((_, rs)) = placed.iter().find(|(f, _)| f == component) else { continue };
        let mut db_regions: Vec<&str> = rs.iter().filter_map(|r| r["region"].as_str()).collect();
        db_regions.sort_unstable();
        let mut want: Vec<&str> = regions.to_vec();
        want.sort_unstable();
        let tiers_match = rs.iter().all(|r| r["tier"] == *tier);
        if db_regions != want || !tiers_match {
            out.push(format!(
                "{component}: {} as {} in global_function_placement, {} as {tier} in spin.toml",
                db_regions.join(", "),
                rs.first().and_then(|r| r["tier"].as_str()).unwrap_or("?"),
                want.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(function: &str, region: &str, tier: &str, home: bool) -> Value {
        json!({"function": function, "region": region, "tier": tier, "home_only": tier == "cold",
               "region_enabled": true, "home": home})
    }

    #[test]
    fn a_consistent_placement_has_no_findings() {
        let rows = vec![
            row("quote-pdf-generator", "eu-west-1", "warm", false),
            row("quote-pdf-generator", "us-east-1", "warm", true),
            row("quote-processor", "eu-west-1", "warm", false),
            row("quote-processor", "us-east-1", "warm", true),
            row("webhook-monitor", "us-east-1", "cold", true),
        ];
        let components = ["quote-pdf-generator", "quote-processor", "webhook-monitor"];
        assert!(findings(&rows, components.into_iter(), &[("quote-processor", "quote-pdf-generator")]).is_empty());
    }

    #[test]
    fn each_rule_is_reported() {
        // Sorted by function, as the query returns them.
        let rows = vec![
            row("old-function", "us-east-1", "cold", true),
            row("quote-pdf-generator", "us-east-1", "warm", true),
            row("quote-processor", "eu-west-1", "warm", false),
            row("quote-processor", "us-east-1", "hot", true),
            row("webhook-monitor", "eu-west-1", "cold", false),
        ];
        let components = ["quote-pdf-generator", "quote-processor", "webhook-monitor", "batch-processor"];
        let f = findings(&rows, components.into_iter(), &[("quote-processor", "quote-pdf-generator")]);
        assert_eq!(
            f,
            vec![
                "batch-processor is not placed in any region",
                "old-function is placed but is not a component of this build",
                "quote-processor has several tiers (warm, hot)",
                "webhook-monitor is cold (home region only) but placed in eu-west-1",
                "quote-processor calls quote-pdf-generator but quote-pdf-generator does not run in eu-west-1",
            ]
        );
    }

    #[test]
    fn the_database_is_compared_with_the_manifest() {
        let regions = vec![
            json!({"region": "us-east-1", "priority": 8, "weight": "0.300"}),
            json!({"region": "eu-west-1", "priority": 6, "weight": "0.250"}),
            json!({"region": "sa-east-1", "priority": 1, "weight": "0.000"}),
        ];
        let rows =
            vec![row("webhook-monitor", "us-east-1", "cold", true), row("quote-processor", "us-east-1", "warm", true)];
        let manifest_regions = [("us-east-1", 8, "0.300"), ("eu-west-1", 6, "0.200"), ("us-west-1", 7, "0.250")];
        let placement: [(&str, &[&str], &str); 2] =
            [("webhook-monitor", &["us-east-1"], "cold"), ("quote-processor", &["eu-west-1", "us-east-1"], "warm")];
        assert_eq!(
            differences_from_manifest(&regions, &rows, &manifest_regions, &placement),
            vec![
                "eu-west-1: priority 6 weight 0.250 in global_regions, 6 / 0.200 in spin.toml",
                "spin.toml's region us-west-1 is not an enabled region in global_regions",
                "global_regions enables sa-east-1, which spin.toml does not list",
                "quote-processor: us-east-1 as warm in global_function_placement, eu-west-1, us-east-1 as warm in spin.toml",
            ]
        );
        assert!(
            differences_from_manifest(&regions[..1], &rows[..1], &manifest_regions[..1], &placement[..1]).is_empty()
        );
    }
}
