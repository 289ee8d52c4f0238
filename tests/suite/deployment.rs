//! Deployment: the placement in spin.toml (and the `global_*` tables seeded with the same
//! figures), `edge build`'s size and import checks, `edge deploy --plan`, the SpinKube manifests
//! (validated against SpinKube's own CRD schemas) and `spin deploy` for Fermyon Cloud.

use e2e::{edge_bin, probe_wasm, root, TempDir, TestDb};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn edge(args: &[&str], env: &[(&str, &str)], clear_env: bool) -> Run {
    let mut cmd = Command::new(edge_bin());
    cmd.args(args).current_dir(root());
    if clear_env {
        cmd.env_clear();
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run edge");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// The placement, read straight from spin.toml (independently of the host's reader).

struct Placement {
    /// (region, priority, weight), highest priority first.
    regions: Vec<(String, i64, f64)>,
    /// component → (regions, tier)
    components: BTreeMap<String, (BTreeSet<String>, String)>,
    /// component → its allowed_outbound_hosts
    hosts: BTreeMap<String, Vec<String>>,
    /// variable → (secret, required, default)
    variables: BTreeMap<String, (bool, bool, Option<String>)>,
}

fn spin_toml() -> toml::Table {
    std::fs::read_to_string(root().join("spin.toml")).unwrap().parse().expect("spin.toml is TOML")
}

/// The suites' list of functions is spin.toml's, in its order.
#[test]
fn the_suites_list_of_functions_is_the_manifests() {
    let text = std::fs::read_to_string(root().join("spin.toml")).unwrap();
    let declared: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("[component.")?.strip_suffix(']'))
        .filter(|name| !name.contains('.'))
        .collect();
    assert_eq!(declared, e2e::FUNCTIONS);
}

fn placement() -> Placement {
    let m = spin_toml();
    let mut regions: Vec<(String, i64, f64)> = m["application"]["tool"]["edge"]["regions"]
        .as_table()
        .expect("[application.tool.edge.regions.*]")
        .iter()
        .map(|(name, r)| (name.clone(), r["priority"].as_integer().unwrap(), r["weight"].as_float().unwrap()))
        .collect();
    regions.sort_by_key(|r| std::cmp::Reverse(r.1));
    let mut components = BTreeMap::new();
    let mut hosts = BTreeMap::new();
    for (name, c) in m["component"].as_table().unwrap() {
        let edge = &c["tool"]["edge"];
        let rs = edge["regions"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect();
        components.insert(name.clone(), (rs, edge["tier"].as_str().unwrap().to_string()));
        let h = c.get("allowed_outbound_hosts").and_then(|h| h.as_array()).cloned().unwrap_or_default();
        hosts.insert(name.clone(), h.iter().map(|v| v.as_str().unwrap().to_string()).collect());
    }
    let variables = m["variables"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, d)| {
            let flag = |f: &str| d.get(f).and_then(|v| v.as_bool()).unwrap_or(false);
            (k.clone(), (flag("secret"), flag("required"), d.get("default").and_then(|v| v.as_str()).map(String::from)))
        })
        .collect();
    Placement { regions, components, hosts, variables }
}

#[test]
fn the_placement_in_spin_toml_is_the_one_seeded_in_the_global_tables() {
    let p = placement();
    let db = TestDb::new();
    let mut c = db.client();

    let rows = c
        .query(
            "SELECT region, priority, weight::float8, home FROM global_regions WHERE enabled ORDER BY priority DESC",
            &[],
        )
        .unwrap();
    let seeded: Vec<(String, i64, f64, bool)> =
        rows.iter().map(|r| (r.get(0), r.get::<_, i32>(1) as i64, r.get(2), r.get(3))).collect();
    let expected: Vec<(String, i64, f64, bool)> =
        p.regions.iter().enumerate().map(|(i, (n, pr, w))| (n.clone(), *pr, *w, i == 0)).collect();
    assert_eq!(seeded, expected, "global_regions against [application.tool.edge.regions.*] (home = highest priority)");
    assert_eq!(p.regions.len(), 5);
    assert!((p.regions.iter().map(|r| r.2).sum::<f64>() - 1.0).abs() < 1e-9, "weights add up to 1");

    let rows = c.query("SELECT function_name, region, tier FROM global_function_placement", &[]).unwrap();
    let seeded: BTreeSet<(String, String, String)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    let expected: BTreeSet<(String, String, String)> = p
        .components
        .iter()
        .flat_map(|(name, (rs, tier))| rs.iter().map(move |r| (name.clone(), r.clone(), tier.clone())))
        .collect();
    assert_eq!(seeded, expected, "global_function_placement against [component.X.tool.edge]");
    assert_eq!(p.components.len(), 11);

    // The tiers' replica floors are the ones the SpinKube manifests carry.
    let out = TempDir::new("tiers");
    let run = spinkube(&out.0, &[]);
    assert!(run.ok, "{}", run.stderr);
    let floors = replica_floors(&out.0, &p);
    for r in c.query("SELECT tier, min_replicas, home_region_only FROM global_placement_tiers", &[]).unwrap() {
        let tier: String = r.get(0);
        assert_eq!(floors.get(&tier), Some(&(r.get::<_, i32>(1) as i64)), "min replicas of tier {tier}");
        let home_only: bool = r.get(2);
        let outside_home = p.components.values().any(|(rs, t)| *t == tier && rs.iter().any(|r| *r != p.regions[0].0));
        if home_only {
            assert!(!outside_home, "tier {tier} is home-region only in the database");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// edge deploy --plan

#[test]
fn the_plan_lists_every_region_by_priority_with_what_runs_there() {
    let p = placement();
    let run = edge(&["deploy", "--plan"], &[], false);
    assert!(run.ok, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let mut last_priority = i64::MAX;
    for (region, priority, weight) in &p.regions {
        let rows: Vec<&&str> = lines.iter().filter(|l| l.split_whitespace().next() == Some(region)).collect();
        assert!(!rows.is_empty(), "{region} is missing:\n{}", run.stdout);
        assert!(*priority < last_priority);
        last_priority = *priority;
        for tier in ["hot", "warm", "cold"] {
            let expected: Vec<&String> =
                p.components.iter().filter(|(_, (rs, t))| t == tier && rs.contains(region)).map(|(n, _)| n).collect();
            let row = rows.iter().find(|l| l.split_whitespace().nth(3) == Some(tier));
            match row {
                None => assert!(expected.is_empty(), "{region}/{tier} missing:\n{}", run.stdout),
                Some(row) => {
                    let words: Vec<&str> = row.split_whitespace().collect();
                    assert_eq!(words[1], priority.to_string());
                    assert_eq!(words[2], format!("{weight:.2}"));
                    let served = row.split("  ").last().unwrap().split(" (+").next().unwrap();
                    let served: Vec<&str> = served.trim().split(", ").collect();
                    assert_eq!(served, expected.iter().map(|s| s.as_str()).collect::<Vec<_>>(), "{row}");
                }
            }
        }
    }
    assert!(run.stdout.contains(&format!("home region: {}", p.regions[0].0)));
}

// ---------------------------------------------------------------------------------------------
// SpinKube

fn spinkube(out: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "deploy",
        "--target",
        "spinkube",
        "--out",
        out.to_str().unwrap(),
        "--image",
        "ghcr.io/example/quotekit:1.2.3",
        "--variable",
        "db_host=db.internal:5432",
        "--variable",
        "public_base_url=https://api.example.com",
    ];
    args.extend_from_slice(extra);
    edge(&args, &[], false)
}

/// Every YAML document of a file, as JSON values.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line == "---" {
            docs.push(String::new());
        } else {
            docs.last_mut().unwrap().push_str(&format!("{line}\n"));
        }
    }
    docs.iter()
        .filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.starts_with('#')))
        .map(|d| serde_yaml::from_str::<Value>(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

fn all_objects(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                for doc in documents(&p) {
                    out.push((p.clone(), doc));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The openAPIV3Schema of a CRD in ../shared/reference/spinkube-crds/ (SpinKube's own CRDs,
/// kept beside the checkout, not in it): `None`, said as a skip, when they are not there.
fn crd_schema(file: &str, test: &str) -> Option<Value> {
    let dir = e2e::beside_checkout("reference/spinkube-crds", test, "validation against SpinKube's CRD schemas")?;
    let crd = documents(&dir.join(file)).remove(0);
    let version =
        crd["spec"]["versions"].as_array().unwrap().iter().find(|v| v["name"] == "v1alpha1").expect("v1alpha1");
    Some(version["schema"]["openAPIV3Schema"].clone())
}

/// A validator for the structural OpenAPI v3 schemas of CRDs: types, properties (a field the
/// schema does not know is an error, as with `kubectl apply --validate=strict`), required,
/// items, enums, lengths, int32, patterns, anyOf and int-or-string. A keyword it does not know
/// is an error too, so nothing is skipped silently.
fn validate(schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    const KNOWN: &[&str] = &[
        "description",
        "type",
        "properties",
        "required",
        "items",
        "additionalProperties",
        "enum",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "pattern",
        "format",
        "default",
        "anyOf",
        "x-kubernetes-int-or-string",
        "x-kubernetes-map-type",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-preserve-unknown-fields",
    ];
    let s = schema.as_object().expect("a schema is an object");
    for k in s.keys() {
        if !KNOWN.contains(&k.as_str()) {
            errs.push(format!("{path}: the validator does not know the keyword {k}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(|e| e.as_array()) {
        if !e.contains(v) {
            errs.push(format!("{path}: {v} is not one of {e:?}"));
        }
    }
    if let Some(any) = s.get("anyOf").and_then(|a| a.as_array()) {
        if !any.iter().any(|alt| {
            let mut e = Vec::new();
            validate(alt, v, path, &mut e);
            e.is_empty()
        }) {
            errs.push(format!("{path}: {v} matches none of anyOf"));
        }
    }
    if let (Some(p), Some(text)) = (s.get("pattern").and_then(|p| p.as_str()), v.as_str()) {
        if !regex::Regex::new(p).unwrap().is_match(text) {
            errs.push(format!("{path}: {text:?} does not match {p}"));
        }
    }
    if s.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(v.is_i64() || v.is_u64() || v.is_string()) {
            errs.push(format!("{path}: {v} is neither an integer nor a string"));
        }
        return;
    }
    match s.get("type").and_then(|t| t.as_str()) {
        Some("object") => {
            let Some(obj) = v.as_object() else {
                errs.push(format!("{path}: {v} is not an object"));
                return;
            };
            for r in s.get("required").and_then(|r| r.as_array()).into_iter().flatten() {
                if !obj.contains_key(r.as_str().unwrap()) {
                    errs.push(format!("{path}: required field {r} is missing"));
                }
            }
            let props = s.get("properties").and_then(|p| p.as_object());
            let extra = s.get("additionalProperties");
            let preserve = s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            for (k, val) in obj {
                let sub = format!("{path}.{k}");
                match (props.and_then(|p| p.get(k)), extra) {
                    (Some(ps), _) => validate(ps, val, &sub, errs),
                    (None, Some(Value::Object(_))) => validate(extra.unwrap(), val, &sub, errs),
                    (None, _) if props.is_some() && !preserve => errs.push(format!("{sub}: unknown field")),
                    _ => {}
                }
            }
        }
        Some("array") => {
            let Some(items) = v.as_array() else {
                errs.push(format!("{path}: {v} is not an array"));
                return;
            };
            if let Some(min) = s.get("minItems").and_then(|m| m.as_u64()) {
                if (items.len() as u64) < min {
                    errs.push(format!("{path}: fewer than {min} items"));
                }
            }
            if let Some(is) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(is, item, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Some("string") => match v.as_str() {
            None => errs.push(format!("{path}: {v} is not a string")),
            Some(text) => {
                let n = text.chars().count() as u64;
                if s.get("maxLength").and_then(|m| m.as_u64()).is_some_and(|m| n > m) {
                    errs.push(format!("{path}: longer than maxLength"));
                }
                if s.get("minLength").and_then(|m| m.as_u64()).is_some_and(|m| n < m) {
                    errs.push(format!("{path}: shorter than minLength"));
                }
            }
        },
        Some("integer") => match v.as_i64() {
            None => errs.push(format!("{path}: {v} is not an integer")),
            Some(i) => {
                if s.get("format").and_then(|f| f.as_str()) == Some("int32") && i32::try_from(i).is_err() {
                    errs.push(format!("{path}: {i} is out of int32 range"));
                }
                if s.get("minimum").and_then(|m| m.as_i64()).is_some_and(|m| i < m) {
                    errs.push(format!("{path}: {i} is below the minimum"));
                }
            }
        },
        Some("boolean") if !v.is_boolean() => errs.push(format!("{path}: {v} is not a boolean")),
        Some("number") if !v.is_number() => errs.push(format!("{path}: {v} is not a number")),
        _ => {}
    }
}

fn schema_errors(schema: &Value, object: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    validate(schema, object, "", &mut errs);
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    let dns = name.len() <= 63
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !dns {
        errs.push(format!(".metadata.name {name:?} is not a DNS label"));
    }
    errs
}

/// hot/warm/cold → the replica floor the manifests give it.
fn replica_floors(out: &Path, p: &Placement) -> BTreeMap<String, i64> {
    let objects = all_objects(out);
    let mut floors = BTreeMap::new();
    for (_, o) in objects.iter().filter(|(_, o)| o["kind"] == "SpinApp") {
        let tier = o["spec"]["podLabels"]["quotekit.dev/tier"].as_str().unwrap().to_string();
        let floor = if o["spec"]["enableAutoscaling"] == Value::Bool(true) {
            let hpa = objects
                .iter()
                .find(|(_, h)| {
                    h["kind"] == "HorizontalPodAutoscaler"
                        && h["spec"]["scaleTargetRef"]["name"] == o["metadata"]["name"]
                })
                .expect("an autoscaled SpinApp has its autoscaler");
            hpa.1["spec"]["minReplicas"].as_i64().unwrap()
        } else {
            o["spec"]["replicas"].as_i64().expect("replicas when not autoscaled")
        };
        let previous = floors.insert(tier.clone(), floor);
        assert!(previous.is_none() || previous == Some(floor), "tier {tier} has one floor everywhere");
    }
    assert_eq!(floors.len(), p.components.values().map(|(_, t)| t).collect::<BTreeSet<_>>().len());
    floors
}

#[test]
fn spinkube_manifests_validate_against_the_crds_and_follow_the_placement() {
    let p = placement();
    let out = TempDir::new("spinkube");
    let run = spinkube(&out.0, &[]);
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    const TEST: &str = "spinkube_manifests_validate_against_the_crds_and_follow_the_placement";
    let spinapp_schema = crd_schema("core.spinkube.dev_spinapps.yaml", TEST);
    let executor_schema = crd_schema("core.spinkube.dev_spinappexecutors.yaml", TEST);
    let objects = all_objects(&out.0);
    let home = &p.regions[0].0;

    let mut kinds = BTreeMap::<String, usize>::new();
    for (path, o) in &objects {
        *kinds.entry(o["kind"].as_str().unwrap().to_string()).or_default() += 1;
        match o["kind"].as_str().unwrap() {
            "SpinApp" => {
                assert_eq!(o["apiVersion"], "core.spinkube.dev/v1alpha1");
                if let Some(schema) = &spinapp_schema {
                    let errs = schema_errors(schema, o);
                    assert!(errs.is_empty(), "{}: {errs:#?}", path.display());
                }
            }
            "SpinAppExecutor" => {
                assert_eq!(o["apiVersion"], "core.spinkube.dev/v1alpha1");
                if let Some(schema) = &executor_schema {
                    let errs = schema_errors(schema, o);
                    assert!(errs.is_empty(), "{}: {errs:#?}", path.display());
                }
            }
            _ => {}
        }
    }
    let n = p.regions.len();
    assert_eq!(kinds.get("SpinAppExecutor"), Some(&n), "{kinds:?}");
    assert_eq!(kinds.get("RuntimeClass"), Some(&n), "{kinds:?}");
    assert_eq!(kinds.get("ConfigMap"), Some(&n), "{kinds:?}");
    assert_eq!(kinds.get("Kustomization"), Some(&(n + 1)), "{kinds:?}");

    let find = |kind: &str, name: &str| -> &Value {
        &objects
            .iter()
            .find(|(_, o)| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
            .1
    };
    for (region, _, _) in &p.regions {
        // Pinned to the region: RuntimeClass → executor → SpinApps.
        let rc = find("RuntimeClass", &format!("wasmtime-spin-v2-{region}"));
        assert_eq!(rc["apiVersion"], "node.k8s.io/v1");
        assert_eq!(rc["handler"], "spin");
        assert_eq!(rc["scheduling"]["nodeSelector"], serde_json::json!({ "topology.kubernetes.io/region": region }));
        let ex = find("SpinAppExecutor", &format!("spin-{region}"));
        assert_eq!(ex["spec"]["createDeployment"], true);
        assert_eq!(ex["spec"]["deploymentConfig"]["runtimeClassName"], rc["metadata"]["name"]);

        // Plain variables in the region's ConfigMap, with the region's own name.
        let cm = find("ConfigMap", &format!("quotekit-config-{region}"));
        assert_eq!(cm["data"]["region"], region.as_str());
        assert_eq!(cm["data"]["db_host"], "db.internal:5432");
        assert_eq!(cm["data"]["public_base_url"], "https://api.example.com");

        let apps: Vec<&Value> = objects
            .iter()
            .map(|(_, o)| o)
            .filter(|o| {
                o["kind"] == "SpinApp" && o["metadata"]["labels"]["topology.kubernetes.io/region"] == region.as_str()
            })
            .collect();
        let mut served_here = BTreeSet::new();
        for app in &apps {
            let spec = &app["spec"];
            assert_eq!(spec["executor"], ex["metadata"]["name"]);
            assert_eq!(spec["image"], "ghcr.io/example/quotekit:1.2.3");
            let tier = spec["podLabels"]["quotekit.dev/tier"].as_str().unwrap();
            let loaded: Vec<&str> =
                spec["components"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
            let served: BTreeSet<&str> = loaded.iter().copied().filter(|c| p.components[*c].1 == tier).collect();
            let expected: BTreeSet<&str> = p
                .components
                .iter()
                .filter(|(_, (rs, t))| t == tier && rs.contains(region))
                .map(|(n, _)| n.as_str())
                .collect();
            assert_eq!(served, expected, "{region}/{tier}");
            // Anything else loaded is there for service chaining from what is served.
            for extra in loaded.iter().filter(|c| !served.contains(*c)) {
                assert!(p.components[*extra].0.contains(region), "{extra} does not run in {region}");
                let called = served.iter().any(|s| {
                    p.hosts[*s]
                        .iter()
                        .any(|h| h == &format!("http://{extra}.spin.internal") || h == "http://*.spin.internal")
                });
                assert!(called, "{extra} is loaded into {region}/{tier} but nothing there calls it");
            }
            served_here.extend(served);
            // Replicas per tier.
            if tier == "cold" {
                assert_eq!(*region, *home, "cold components run in the home region only");
                assert_eq!(spec["replicas"], 1);
                assert!(spec.get("enableAutoscaling").is_none_or(|v| v == false));
            } else {
                assert_eq!(spec["enableAutoscaling"], true);
                assert!(spec.get("replicas").is_none(), "replicas cannot be set with autoscaling");
                let hpa = find("HorizontalPodAutoscaler", app["metadata"]["name"].as_str().unwrap());
                assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
                let (min, max) =
                    (hpa["spec"]["minReplicas"].as_i64().unwrap(), hpa["spec"]["maxReplicas"].as_i64().unwrap());
                assert_eq!(min, if tier == "hot" { 2 } else { 1 });
                assert!(max > min);
            }
            // Secret variables come from the Secret, never as values; plain ones from the ConfigMap.
            let vars = spec["variables"].as_array().unwrap();
            assert_eq!(vars.len(), p.variables.len());
            for v in vars {
                let name = v["name"].as_str().unwrap();
                let (secret, required, _) = &p.variables[name];
                assert!(v.get("value").is_none(), "{name} has a literal value");
                if *secret {
                    let r = &v["valueFrom"]["secretKeyRef"];
                    assert_eq!(r["name"], "quotekit-secrets");
                    assert_eq!(r["key"], name);
                    assert_eq!(r["optional"], !required);
                } else {
                    let r = &v["valueFrom"]["configMapKeyRef"];
                    assert_eq!(r["name"], cm["metadata"]["name"]);
                    assert!(cm["data"].get(name).is_some(), "{name} is not in the ConfigMap");
                }
            }
        }
        let expected: BTreeSet<&str> =
            p.components.iter().filter(|(_, (rs, _))| rs.contains(region)).map(|(n, _)| n.as_str()).collect();
        assert_eq!(served_here, expected, "what {region} serves");
    }
    // No secret value anywhere in the output.
    for (_, o) in &objects {
        assert_ne!(o["kind"], "Secret");
    }

    // Kustomizations list files that exist; the top one covers every region.
    for (path, o) in objects.iter().filter(|(_, o)| o["kind"] == "Kustomization") {
        for r in o["resources"].as_array().unwrap() {
            assert!(path.parent().unwrap().join(r.as_str().unwrap()).exists(), "{}: {r} is missing", path.display());
        }
    }
    let top = &documents(&out.0.join("kustomization.yaml"))[0];
    assert_eq!(top["namespace"], "quotekit");
    for (region, _, _) in &p.regions {
        assert!(top["resources"].as_array().unwrap().contains(&Value::String(region.clone())));
    }

    // The OCI step is written out for the user.
    let notes = std::fs::read_to_string(out.0.join("README.md")).unwrap();
    assert!(notes.contains("spin registry push ghcr.io/example/quotekit:1.2.3"), "{notes}");
    assert!(notes.contains("kubectl apply -k"), "{notes}");
    for (k, (secret, _, _)) in &p.variables {
        assert_eq!(notes.contains(&format!("--from-literal={k}=")), *secret, "{k} in the Secret command");
    }
}

#[test]
fn the_schema_validator_rejects_what_the_operator_would_reject() {
    let out = TempDir::new("spinkube-bad");
    assert!(spinkube(&out.0, &[]).ok);
    let Some(schema) =
        crd_schema("core.spinkube.dev_spinapps.yaml", "the_schema_validator_rejects_what_the_operator_would_reject")
    else {
        return;
    };
    let app = all_objects(&out.0).into_iter().map(|(_, o)| o).find(|o| o["kind"] == "SpinApp").unwrap();
    assert!(schema_errors(&schema, &app).is_empty());
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut a = app.clone();
        f(&mut a);
        schema_errors(&schema, &a)
    };
    assert!(!broken(&|a| a["spec"]["replicas"] = "two".into()).is_empty(), "replicas must be an integer");
    assert!(!broken(&|a| a["spec"]["replicas"] = (1i64 << 40).into()).is_empty(), "replicas are int32");
    assert!(!broken(&|a| a["spec"]["nodeSelector"] = serde_json::json!({})).is_empty(), "SpinApp has no nodeSelector");
    assert!(!broken(&|a| {
        a["spec"].as_object_mut().unwrap().remove("executor");
    })
    .is_empty());
    assert!(!broken(&|a| a["spec"]["components"] = serde_json::json!([])).is_empty(), "minItems 1");
    assert!(!broken(&|a| a["spec"]["resources"]["requests"]["cpu"] = "a lot".into()).is_empty(), "quantity pattern");
    assert!(!broken(&|a| a["spec"]["variables"][0]["valueFrom"]["secretKeyRef"] = serde_json::json!({ "name": "x" }))
        .is_empty());
    assert!(!broken(&|a| a["metadata"]["name"] = "Quotekit_Hot".into()).is_empty());
}

#[test]
fn spinkube_never_writes_secret_values_and_wants_every_required_value() {
    let out = TempDir::new("spinkube-refuse");
    let run = spinkube(&out.0, &["--variable", "db_url=postgres://u:p@h/db"]);
    assert!(!run.ok);
    assert!(run.stderr.contains("db_url is secret"), "{}", run.stderr);
    let run = edge(&["deploy", "--target", "spinkube", "--out", out.0.to_str().unwrap()], &[], false);
    assert!(!run.ok);
    assert!(run.stderr.contains("required variables without a value: db_host"), "{}", run.stderr);
    let run = spinkube(&out.0, &["--variable", "no_such_variable=1"]);
    assert!(!run.ok && run.stderr.contains("declares no variable no_such_variable"), "{}", run.stderr);
    assert!(!out.0.join("kustomization.yaml").exists(), "nothing written after a refusal");
}

// ---------------------------------------------------------------------------------------------
// Fermyon Cloud / Spin

#[test]
fn deploying_with_spin_says_what_to_install_when_spin_is_missing() {
    let empty = TempDir::new("no-spin");
    let run = edge(&["deploy", "--target", "spin"], &[("PATH", empty.0.to_str().unwrap())], true);
    assert!(!run.ok);
    assert!(run.stderr.contains("`spin` is not installed"), "{}", run.stderr);
    assert!(run.stderr.contains("spinframework.dev"), "{}", run.stderr);
    assert!(run.stderr.contains("spin cloud login"), "{}", run.stderr);
}

#[test]
fn deploying_with_spin_runs_spin_deploy_with_the_variables() {
    use std::os::unix::fs::PermissionsExt;
    let bin = TempDir::new("fake-spin");
    let record = bin.0.join("args");
    let script = bin.0.join("spin");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nexit ${{FAKE_SPIN_EXIT:-0}}\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let manifest = root().join("spin.toml");
    let cloud = TempDir::new("spin-cloud");
    let path = bin.0.to_str().unwrap();
    let env = [("PATH", path), ("SPIN_VARIABLE_JWT_ISSUER", "https://issuer.example.com")];
    let run = edge(
        &[
            "deploy",
            "--target",
            "spin",
            "-f",
            manifest.to_str().unwrap(),
            "--out",
            cloud.0.to_str().unwrap(),
            "--variable",
            "db_host=db.example.com:5432",
            "--variable",
            "db_url=postgres://u:p@db.example.com:5432/app",
        ],
        &env,
        true,
    );
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    // What is deployed is the application without local service chaining, which Fermyon
    // Cloud refuses: the functions call each other through the application's own origin.
    let written = cloud.0.join("spin.toml");
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(!text.contains(".spin.internal"), "{text}");
    let doc: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(doc["variables"]["service_chaining"]["default"].as_str(), Some("self"));
    let hosts = |c: &str| doc["component"][c]["allowed_outbound_hosts"].as_array().unwrap().clone();
    for chaining in
        ["quote-processor", "batch-processor", "production-validator", "security-hardening", "performance-optimizer"]
    {
        assert!(hosts(chaining).contains(&toml::Value::String("http://self".into())), "{chaining}");
    }
    let source = doc["component"]["quote-processor"]["source"].as_str().unwrap();
    assert!(std::path::Path::new(source).is_absolute() && source.ends_with("quote_processor.wasm"), "{source}");
    let args: Vec<String> = std::fs::read_to_string(&record).unwrap().lines().map(String::from).collect();
    assert_eq!(
        args,
        [
            "deploy",
            "--from",
            written.to_str().unwrap(),
            "--variable",
            "db_host=db.example.com:5432",
            "--variable",
            "db_url=postgres://u:p@db.example.com:5432/app",
            "--variable",
            "jwt_issuer=https://issuer.example.com",
        ]
    );
    assert!(!run.stdout.contains("u:p@"), "secret values are not echoed: {}", run.stdout);
    assert!(run.stderr.contains("jwt_secret"), "unset required variables are named: {}", run.stderr);

    // spin's failure is edge's failure.
    let env = [("PATH", path), ("FAKE_SPIN_EXIT", "3")];
    let run = edge(&["deploy", "--target", "spin", "--out", cloud.0.to_str().unwrap()], &env, true);
    assert!(!run.ok);
    assert!(run.stderr.contains("spin deploy failed"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// edge build: sizes and imports

/// A one-component application in a temporary directory, with a copy of the project's wit/.
fn one_component_app(dir: &Path, wasm: &Path, budget_kib: u64, hosts: &[&str]) -> PathBuf {
    // The whole world (every file of wit/, whatever it holds).
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    copy_dir(&root().join("wit"), &dir.join("wit"));
    let hosts: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"spin_manifest_version = 2
[application]
name = "sizes"
[variables]
x = {{ default = "1" }}
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "{}"
allowed_outbound_hosts = [{}]
[component.probe.variables]
x = "{{{{ x }}}}"
[component.probe.tool.edge]
size_budget_kib = {budget_kib}
"#,
            wasm.display(),
            hosts.join(", ")
        ),
    )
    .unwrap();
    manifest
}

#[test]
fn build_fails_over_budget_and_prints_the_table() {
    let dir = TempDir::new("budget");
    let wasm = probe_wasm();
    let size = std::fs::metadata(&wasm).expect("the probe component is built").len();
    let kib = size as f64 / 1024.0;
    let all = ["postgres://localhost:5432", "https://example.com"];
    let m = one_component_app(&dir.0, &wasm, 1, &all);
    let run = edge(&["build", "--check", "-f", m.to_str().unwrap()], &[], false);
    assert!(!run.ok, "over budget must fail: {}", run.stdout);
    assert!(
        run.stdout.contains("COMPONENT") && run.stdout.contains("BUDGET") && run.stdout.contains("IMPORTS"),
        "{}",
        run.stdout
    );
    let row = run.stdout.lines().find(|l| l.starts_with("probe ")).expect("a row for the component");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], format!("{kib:.1}"), "{row}");
    assert_eq!(cells[2], "1");
    assert_eq!(cells[3], "http-out,postgres,variables");
    assert!(row.ends_with("OVER BUDGET"), "{row}");
    assert!(run.stderr.contains("probe"), "{}", run.stderr);

    let m = one_component_app(&dir.0, &wasm, size / 1024 + 1, &all);
    let run = edge(&["build", "--check", "-f", m.to_str().unwrap()], &[], false);
    assert!(run.ok, "within budget and needs: {}{}", run.stdout, run.stderr);
}

#[test]
fn build_refuses_imports_the_manifest_gives_no_use_for() {
    let dir = TempDir::new("imports");
    let wasm = probe_wasm(); // imports outgoing HTTP, Postgres and variables
    let m = one_component_app(&dir.0, &wasm, 100_000, &["postgres://localhost:5432"]);
    let run = edge(&["build", "--check", "-f", m.to_str().unwrap()], &[], false);
    assert!(!run.ok);
    assert!(
        run.stdout.contains("imports wasi:http/outgoing-handler@0.2.6 but allowed_outbound_hosts has no http(s) host"),
        "{}",
        run.stdout
    );
    let m = one_component_app(&dir.0, &wasm, 100_000, &["https://example.com"]);
    let run = edge(&["build", "--check", "-f", m.to_str().unwrap()], &[], false);
    assert!(!run.ok);
    assert!(
        run.stdout.contains("imports spin:postgres/postgres@4.0.0 but allowed_outbound_hosts has no postgres host"),
        "{}",
        run.stdout
    );
    // A world without Postgres: the import is outside it.
    let m = one_component_app(&dir.0, &wasm, 100_000, &["https://example.com", "postgres://localhost:5432"]);
    std::fs::write(
        dir.0.join("wit/world.wit"),
        "package quotekit:edge;\nworld spin-services {\n  import fermyon:spin/variables@2.0.0;\n}\n",
    )
    .unwrap();
    let run = edge(&["build", "--check", "-f", m.to_str().unwrap()], &[], false);
    assert!(!run.ok);
    assert!(
        run.stdout.contains("imports spin:postgres/postgres@4.0.0, which is outside the world in wit/"),
        "{}",
        run.stdout
    );
}

#[test]
fn every_built_component_fits_its_budget_and_imports_only_what_it_needs() {
    let run = edge(&["build", "--check"], &[], false);
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    let rows = run.stdout.lines().filter(|l| l.ends_with(" ok")).count();
    assert_eq!(rows, placement().components.len(), "{}", run.stdout);
}

/// The part of Kubernetes' batch/v1 CronJob schema the generated CronJobs use, in the
/// structural form `validate` reads (field names, types, required fields and enums as in the
/// Kubernetes API reference; a field not listed here is an error, as with strict validation).
fn cron_job_schema() -> Value {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let labels = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let container = obj(
        json!({
            "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
            "image": {"type": "string"},
            "args": {"type": "array", "items": {"type": "string"}},
            "env": {"type": "array", "items": obj(json!({
                "name": {"type": "string"},
                "valueFrom": obj(json!({"secretKeyRef": obj(json!({"name": {"type": "string"}, "key": {"type": "string"},
                                                                   "optional": {"type": "boolean"}}), &["key"])}), &[]),
            }), &["name"])},
        }),
        &["name"],
    );
    let pod_spec = obj(
        json!({
            "restartPolicy": {"type": "string", "enum": ["Always", "OnFailure", "Never"]},
            "containers": {"type": "array", "minItems": 1, "items": container},
        }),
        &["containers"],
    );
    let job_spec = obj(
        json!({
            "backoffLimit": {"type": "integer", "format": "int32", "minimum": 0},
            "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
            "template": obj(json!({"metadata": obj(json!({"labels": labels}), &[]), "spec": pod_spec}), &[]),
        }),
        &["template"],
    );
    obj(
        json!({
            "apiVersion": {"type": "string", "enum": ["batch/v1"]},
            "kind": {"type": "string", "enum": ["CronJob"]},
            "metadata": obj(json!({"name": {"type": "string", "maxLength": 52}, "labels": labels}), &["name"]),
            "spec": obj(json!({
                // Five fields (minute hour day-of-month month day-of-week).
                "schedule": {"type": "string", "pattern": "^(\\S+ ){4}\\S+$"},
                "timeZone": {"type": "string"},
                "concurrencyPolicy": {"type": "string", "enum": ["Allow", "Forbid", "Replace"]},
                "startingDeadlineSeconds": {"type": "integer", "minimum": 0},
                "successfulJobsHistoryLimit": {"type": "integer", "format": "int32", "minimum": 0},
                "failedJobsHistoryLimit": {"type": "integer", "format": "int32", "minimum": 0},
                "jobTemplate": obj(json!({"spec": job_spec}), &[]),
            }), &["schedule", "jobTemplate"]),
        }),
        &["apiVersion", "kind", "metadata", "spec"],
    )
}

#[test]
fn spinkube_runs_the_schedule_as_cronjobs_that_call_a_spinapp_serving_the_path() {
    let p = placement();
    let out = TempDir::new("spinkube-schedule");
    let run = spinkube(&out.0, &[]);
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    let home = &p.regions[0].0;
    let objects = all_objects(&out.0);
    let jobs: Vec<&(PathBuf, Value)> = objects.iter().filter(|(_, o)| o["kind"] == "CronJob").collect();
    // Declared once, in spin.toml: every schedule entry is one CronJob, in the home region only.
    let manifest = spin_toml();
    let entries = manifest["application"]["tool"]["edge"]["schedule"].as_array().unwrap();
    assert_eq!(jobs.len(), entries.len());
    let schema = cron_job_schema();
    for (path, job) in &jobs {
        assert!(path.ends_with(format!("{home}/schedule.yaml")), "{}", path.display());
        let errs = schema_errors(&schema, job);
        assert!(errs.is_empty(), "{}: {errs:#?}", path.display());
        let container = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<&str> = container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        let url = *args.last().unwrap();
        // http://<SpinApp>.<namespace>.svc.cluster.local/functions/v1/<component>/...: the
        // operator's Service of a SpinApp that serves that component in the home region.
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path_q) = rest.split_once('/').unwrap();
        let service = host.strip_suffix(".quotekit.svc.cluster.local").unwrap_or_else(|| panic!("{url}"));
        let component = path_q.strip_prefix("functions/v1/").unwrap().split(['/', '?']).next().unwrap();
        let app = objects
            .iter()
            .find(|(_, o)| o["kind"] == "SpinApp" && o["metadata"]["name"] == service)
            .unwrap_or_else(|| panic!("{url} calls {service}, which the files do not define"));
        assert!(app.0.parent() == path.parent(), "the SpinApp is in the same region");
        assert!(
            app.1["spec"]["components"].as_array().unwrap().iter().any(|c| c == component),
            "{service} serves {component}"
        );
        let entry = entries.iter().find(|e| url.ends_with(e["path"].as_str().unwrap())).expect("a spin.toml entry");
        assert!(args.windows(2).any(|w| w == ["-X", entry["method"].as_str().unwrap()]), "{args:?}");
        assert!(args.contains(&"Authorization: Bearer $(SERVICE_ROLE_KEY)"));
        let secret = &container["env"][0]["valueFrom"]["secretKeyRef"];
        assert_eq!(
            (secret["name"].as_str(), secret["key"].as_str()),
            (Some("quotekit-secrets"), Some("service_role_key"))
        );
        assert_eq!(job["spec"]["concurrencyPolicy"], "Forbid");
    }
    let schedule_of = |needle: &str| -> String {
        let job = jobs.iter().find(|(_, o)| o["metadata"]["name"].as_str().unwrap().contains(needle)).unwrap();
        job.1["spec"]["schedule"].as_str().unwrap().to_string()
    };
    assert_eq!(schedule_of("batch-processor-jobs-advance"), "* * * * *");
    assert_eq!(schedule_of("migration-controller-evaluate"), "* * * * *");
    assert_eq!(schedule_of("cost-report"), "0 0 * * *");
    assert_eq!(schedule_of("retention"), "0 0 * * *");
    let kustomization = documents(&out.0.join(home).join("kustomization.yaml")).remove(0);
    assert!(kustomization["resources"].as_array().unwrap().iter().any(|r| r == "schedule.yaml"));
    // Probes: liveness /health and readiness /ready of a component each SpinApp serves.
    for (_, app) in objects.iter().filter(|(_, o)| o["kind"] == "SpinApp") {
        let checks = &app["spec"]["checks"];
        let live = checks["liveness"]["httpGet"]["path"].as_str().unwrap();
        let ready = checks["readiness"]["httpGet"]["path"].as_str().unwrap();
        let component = live.strip_prefix("/functions/v1/").unwrap().strip_suffix("/health").unwrap();
        assert_eq!(ready, format!("/functions/v1/{component}/ready"));
        assert!(app["spec"]["components"].as_array().unwrap().iter().any(|c| c == component));
    }
    let notes = std::fs::read_to_string(out.0.join("README.md")).unwrap();
    assert!(notes.contains("--from-literal=service_role_key="), "{notes}");
}
