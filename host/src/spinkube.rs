//! `edge deploy --target spinkube --out DIR`: Kubernetes manifests for SpinKube's operator,
//! one directory per region, from the placement in `spin.toml`.
//!
//! Per region: a RuntimeClass whose `scheduling.nodeSelector` pins pods to the region's nodes
//! (`topology.kubernetes.io/region`), a SpinAppExecutor that uses it, a ConfigMap with the plain
//! variables, and one SpinApp per cold-start tier present there (`components` selects what runs
//! in it), with a HorizontalPodAutoscaler for the tiers that scale. Secret variables are read
//! from the Secret `<app>-secrets`, which the user creates (its values never go into files).
//! Each SpinApp's probes: liveness `/health`, readiness `/ready` (the database reachable) of a
//! component it serves. In the home region, `schedule.yaml` holds one CronJob per
//! `[[application.tool.edge.schedule]]` entry: curl with the service-role key of the same
//! Secret (`service_role_key`), calling the Service the operator creates for the SpinApp that
//! serves the path (named as the SpinApp, port 80).

use crate::manifest::App;
use crate::placement::{Placement, Tier};
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

pub const SPINAPP_API: &str = "core.spinkube.dev/v1alpha1";

pub struct Options {
    /// OCI reference `spin registry push` published the application to.
    pub image: String,
    pub namespace: String,
    /// Values for plain variables (the region's own name is set per region).
    pub variables: BTreeMap<String, String>,
}

/// One generated file: its path under the output directory and the objects in it.
pub struct File {
    pub path: String,
    pub objects: Vec<Value>,
}

pub fn generate(app: &App, placement: &Placement, opts: &Options) -> Result<Vec<File>> {
    let name = &app.manifest.application.name;
    let secret_name = format!("{name}-secrets");
    for k in opts.variables.keys() {
        match app.manifest.variables.get(k) {
            None => bail!("--variable {k}: spin.toml declares no variable {k}"),
            Some(d) if d.secret => bail!(
                "--variable {k}: {k} is secret; it is read from the Secret {secret_name}, never written into the manifests"
            ),
            _ => {}
        }
    }
    let missing: Vec<&String> = app
        .manifest
        .variables
        .iter()
        .filter(|(k, d)| !d.secret && d.required && d.default.is_none() && !opts.variables.contains_key(*k))
        .map(|(k, _)| k)
        .collect();
    if !missing.is_empty() {
        bail!(
            "required variables without a value: {} (pass --variable NAME=VALUE)",
            missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        );
    }

    let schedules = crate::schedule::from_settings(app.edge_settings().get("schedule"))
        .context("[application.tool.edge] schedule")?;
    let mut files = Vec::new();
    let mut region_dirs = Vec::new();
    for region in &placement.regions {
        let r = &region.name;
        let runtime_class = format!("wasmtime-spin-v2-{r}");
        let executor = format!("spin-{r}");
        let config_map = format!("{name}-config-{r}");
        let labels = json!({ "app.kubernetes.io/part-of": name, "topology.kubernetes.io/region": r });
        let mut resources =
            vec!["runtimeclass.yaml".to_string(), "executor.yaml".to_string(), "config.yaml".to_string()];

        files.push(File {
            path: format!("{r}/runtimeclass.yaml"),
            objects: vec![json!({
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": { "name": runtime_class, "labels": labels },
                "handler": "spin",
                "scheduling": { "nodeSelector": { "topology.kubernetes.io/region": r } },
            })],
        });
        files.push(File {
            path: format!("{r}/executor.yaml"),
            objects: vec![json!({
                "apiVersion": SPINAPP_API,
                "kind": "SpinAppExecutor",
                "metadata": { "name": executor, "labels": labels },
                "spec": {
                    "createDeployment": true,
                    "deploymentConfig": { "runtimeClassName": runtime_class, "installDefaultCACerts": true },
                },
            })],
        });
        let mut data = Map::new();
        for (k, d) in &app.manifest.variables {
            if d.secret {
                continue;
            }
            let value = if k == "region" {
                Some(r.clone())
            } else {
                opts.variables.get(k).cloned().or_else(|| d.default.clone())
            };
            if let Some(v) = value {
                data.insert(k.clone(), Value::String(v));
            }
        }
        files.push(File {
            path: format!("{r}/config.yaml"),
            objects: vec![json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": { "name": config_map, "labels": labels },
                "data": data,
            })],
        });

        let variables: Vec<Value> = app
            .manifest
            .variables
            .iter()
            .map(|(k, d)| {
                if d.secret {
                    json!({ "name": k, "valueFrom": { "secretKeyRef": { "name": secret_name, "key": k, "optional": !d.required } } })
                } else {
                    json!({ "name": k, "valueFrom": { "configMapKeyRef": { "name": config_map, "key": k } } })
                }
            })
            .collect();

        for tier in [Tier::Hot, Tier::Warm, Tier::Cold] {
            let (served, chained) = placement.spin_app(r, tier);
            if served.is_empty() {
                continue;
            }
            // Callees through service chaining are loaded too: `*.spin.internal` stays in-process.
            // Probes: any served component tells for the process (one process serves them all).
            let probed = served[0].clone();
            let components: Vec<String> = served.into_iter().chain(chained).collect();
            let app_name = format!("{name}-{}-{r}", tier.name());
            let mut spec = json!({
                "checks": {
                    "liveness": { "httpGet": { "path": format!("/functions/v1/{probed}/health") } },
                    "readiness": { "httpGet": { "path": format!("/functions/v1/{probed}/ready") } },
                },
                "image": opts.image,
                "executor": executor,
                "components": components,
                "variables": variables,
                "podLabels": { "app.kubernetes.io/part-of": name, "topology.kubernetes.io/region": r, "quotekit.dev/tier": tier.name() },
                "resources": {
                    "requests": { "cpu": "100m", "memory": "128Mi" },
                    "limits": { "memory": "512Mi" },
                },
            });
            match tier.max_replicas() {
                Some(max) => {
                    // The operator leaves the replica count to the autoscaler below.
                    spec["enableAutoscaling"] = json!(true);
                    files.push(File {
                        path: format!("{r}/{}-autoscaler.yaml", tier.name()),
                        objects: vec![json!({
                            "apiVersion": "autoscaling/v2",
                            "kind": "HorizontalPodAutoscaler",
                            "metadata": { "name": app_name, "labels": labels },
                            "spec": {
                                "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": app_name },
                                "minReplicas": tier.min_replicas(),
                                "maxReplicas": max,
                                "metrics": [{
                                    "type": "Resource",
                                    "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } },
                                }],
                            },
                        })],
                    });
                    resources.push(format!("{}-autoscaler.yaml", tier.name()));
                }
                None => spec["replicas"] = json!(tier.min_replicas()),
            }
            files.push(File {
                path: format!("{r}/{}-spinapp.yaml", tier.name()),
                objects: vec![json!({
                    "apiVersion": SPINAPP_API,
                    "kind": "SpinApp",
                    "metadata": { "name": app_name, "labels": labels },
                    "spec": spec,
                })],
            });
            resources.push(format!("{}-spinapp.yaml", tier.name()));
        }
        if r == &placement.home().name && !schedules.is_empty() {
            let jobs = cron_jobs(name, &secret_name, r, placement, &schedules, &opts.namespace, &labels)?;
            files.push(File { path: format!("{r}/schedule.yaml"), objects: jobs });
            resources.push("schedule.yaml".to_string());
        }
        resources.sort();
        files.push(File {
            path: format!("{r}/kustomization.yaml"),
            objects: vec![json!({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": resources,
            })],
        });
        region_dirs.push(r.clone());
    }
    files.push(File {
        path: "namespace.yaml".into(),
        objects: vec![json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": opts.namespace } })],
    });
    let mut top = vec!["namespace.yaml".to_string()];
    top.extend(region_dirs);
    files.push(File {
        path: "kustomization.yaml".into(),
        objects: vec![json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": opts.namespace,
            "resources": top,
        })],
    });
    Ok(files)
}

/// The image the CronJobs run curl from.
pub const CURL_IMAGE: &str = "curlimages/curl:8.11.1";

/// One CronJob per schedule, in the home region `region`: it calls the path on the Service of
/// the SpinApp serving its component there.
fn cron_jobs(
    name: &str,
    secret_name: &str,
    region: &str,
    placement: &Placement,
    schedules: &[crate::schedule::Schedule],
    namespace: &str,
    labels: &Value,
) -> Result<Vec<Value>> {
    let mut jobs = Vec::new();
    for s in schedules {
        let component = crate::schedule::component_of(&s.path)
            .with_context(|| format!("schedule path {} does not name a function (/functions/v1/<name>/...)", s.path))?;
        let tier = [Tier::Hot, Tier::Warm, Tier::Cold]
            .into_iter()
            .find(|t| placement.in_region(region, *t).iter().any(|c| c == component))
            .with_context(|| {
                format!("schedule path {}: {component} does not run in the home region {region}", s.path)
            })?;
        let service = format!("{name}-{}-{region}", tier.name());
        let schedule = crate::schedule::cron(s.every).with_context(|| format!("schedule {}", s.path))?;
        let slug: String = s.path["/functions/v1/".len()..]
            .split('?')
            .next()
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .collect();
        let mut job_name = format!("{name}-{}", slug.trim_matches('-'));
        // A CronJob's name is at most 52 characters (its Jobs append 11).
        job_name.truncate(52);
        let job_name = job_name.trim_end_matches('-').to_string();
        let url = format!("http://{service}.{namespace}.svc.cluster.local{}", s.path);
        let timeout = s.every.as_secs().clamp(30, 600);
        jobs.push(json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": { "name": job_name, "labels": labels },
            "spec": {
                "schedule": schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 120,
                "successfulJobsHistoryLimit": 1,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 0,
                        "activeDeadlineSeconds": timeout,
                        "template": {
                            "metadata": { "labels": labels },
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{
                                    "name": "call",
                                    "image": CURL_IMAGE,
                                    "env": [{
                                        "name": "SERVICE_ROLE_KEY",
                                        "valueFrom": { "secretKeyRef": { "name": secret_name, "key": "service_role_key" } },
                                    }],
                                    "args": ["-fsS", "--max-time", timeout.to_string(), "-X", s.method,
                                             "-H", "Authorization: Bearer $(SERVICE_ROLE_KEY)", url],
                                }],
                            },
                        },
                    },
                },
            },
        }));
    }
    Ok(jobs)
}

pub fn write(app: &App, placement: &Placement, opts: &Options, out: &Path) -> Result<Vec<String>> {
    let files = generate(app, placement, opts)?;
    let mut written = Vec::new();
    for f in &files {
        let path = out.join(&f.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut text = String::from(
            "# Generated by `edge deploy --target spinkube` from spin.toml: change spin.toml, not this file.\n",
        );
        for (i, o) in f.objects.iter().enumerate() {
            if i > 0 {
                text.push_str("---\n");
            }
            text.push_str(&to_yaml(o));
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(f.path.clone());
    }
    std::fs::write(out.join("README.md"), notes(app, placement, opts)).context("cannot write README.md")?;
    written.push("README.md".into());
    Ok(written)
}

/// The steps around the manifests that need a registry or a cluster, written out as commands.
fn notes(app: &App, placement: &Placement, opts: &Options) -> String {
    let name = &app.manifest.application.name;
    let mut s = String::new();
    let _ = writeln!(s, "# Deploying {name} with SpinKube\n");
    let _ = writeln!(s, "Generated by `edge deploy --target spinkube` from spin.toml.\n");
    let _ = writeln!(s, "1. Build the components and check their sizes and imports:\n\n       edge build\n");
    let _ = writeln!(
        s,
        "2. Package the application as an OCI artifact and push it (the SpinApps reference this image):\n\n       spin registry login ghcr.io\n       spin registry push {}\n",
        opts.image
    );
    let secrets: Vec<&String> = app.manifest.variables.iter().filter(|(_, d)| d.secret).map(|(k, _)| k).collect();
    let _ = writeln!(s, "3. Create the Secret with the secret variables (never stored in these files):\n");
    let _ = writeln!(s, "       kubectl create namespace {}", opts.namespace);
    let _ = write!(s, "       kubectl -n {} create secret generic {name}-secrets", opts.namespace);
    for k in &secrets {
        let _ = write!(s, " \\\n         --from-literal={k}=...");
    }
    let _ = write!(
        s,
        " \\\n         --from-literal=service_role_key=$(edge token --sub 00000000-0000-0000-0000-000000000000 --role service_role --ttl 31536000)"
    );
    let _ = writeln!(
        s,
        "\n\n   Secret variables with a default may be left out; the required ones may not. `service_role_key` is the\n   token the CronJobs of schedule.yaml ({}) call their paths with (a year here; rotate it with the secret).\n",
        placement.home().name
    );
    let _ = writeln!(
        s,
        "4. Nodes carry `topology.kubernetes.io/region`; SpinKube's operator and the containerd Spin shim are installed. Apply everything, or one region:\n\n       kubectl apply -k .\n       kubectl apply -k {}\n",
        placement.home().name
    );
    let _ = writeln!(s, "## Placement\n\n| region | priority | weight | SpinApp | tier | replicas | components |\n|---|---|---|---|---|---|---|");
    for region in &placement.regions {
        for tier in [Tier::Hot, Tier::Warm, Tier::Cold] {
            let (served, chained) = placement.spin_app(&region.name, tier);
            if served.is_empty() {
                continue;
            }
            let mut components = served.join(", ");
            if !chained.is_empty() {
                components.push_str(&format!(" (loaded for service chaining: {})", chained.join(", ")));
            }
            let replicas = match tier.max_replicas() {
                Some(max) => format!("{}–{max} (autoscaled)", tier.min_replicas()),
                None => tier.min_replicas().to_string(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {name}-{}-{} | {} | {replicas} | {} |",
                region.name,
                region.priority,
                region.weight,
                tier.name(),
                region.name,
                tier.name(),
                components
            );
        }
    }
    let _ = writeln!(
        s,
        "\nEach SpinApp is served by a Service of the same name (port 80). Traffic weights are for the global load balancer in front of the regions."
    );
    s
}

/// YAML for a JSON value: block style, keys in order, strings quoted (as JSON strings, which
/// YAML reads the same) whenever a plain scalar could be read as something else.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    block(v, 0, &mut out);
    out
}

fn block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, val) in m {
                let _ = write!(out, "{pad}{}:", scalar_str(k));
                nested(val, indent, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                let mut inner = String::new();
                block(item, indent + 2, &mut inner);
                // The item's first line starts after "- " instead of its indentation.
                let _ = write!(out, "{pad}- {}", &inner[indent + 2..]);
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other));
        }
    }
}

fn nested(val: &Value, indent: usize, out: &mut String) {
    match val {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            block(val, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            block(val, indent + 2, out);
        }
        other => {
            let _ = writeln!(out, " {}", scalar(other));
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => scalar_str(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

fn scalar_str(s: &str) -> String {
    const WORDS: &[&str] = &["true", "false", "yes", "no", "on", "off", "y", "n", "null"];
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
        && !WORDS.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quotes_what_could_be_misread_and_nests_lists() {
        let y = to_yaml(&json!({
            "a": "plain-text",
            "b": ["yes", "1", "x: y", ""],
            "c": [{ "k": 1, "l": { "m": true } }, []],
            "d": {},
        }));
        assert_eq!(
            y,
            "a: plain-text\nb:\n  - \"yes\"\n  - \"1\"\n  - \"x: y\"\n  - \"\"\nc:\n  - k: 1\n    l:\n      m: true\n  - []\nd: {}\n"
        );
    }
}
