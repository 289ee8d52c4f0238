//! `openapi.yaml` says what the functions serve, both ways:
//!
//! - every documented operation is served: asked without credentials, it answers anything but
//!   `route_not_found` or 405;
//! - every route served is documented: each function's routing code (`src/lib.rs` and
//!   `src/routes.rs`, where the functions keep their routing tables) is read for the path
//!   words it matches on, and each word is tried with every method at the function's root and
//!   below each documented path and each prefix of one. Whatever is not `route_not_found` must match a documented
//!   path (segments written with `_` where the description has `-` count as the same), and
//!   with that method unless the answer is 405. A route added without documenting it fails.

use e2e::{Host, HostConfig, TestDb};
use std::collections::{BTreeMap, BTreeSet};

const PREFIX: &str = "/functions/v1/";
const SAMPLE_ID: &str = "00000000-0000-4000-8000-000000000000";
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Documented path → its methods (upper case), read from the `paths:` block.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    read_description().0
}

/// `(path, METHOD)` → the query string its required query parameters need (first enum value).
fn required_queries() -> BTreeMap<(String, String), String> {
    read_description().1
}

/// Documented paths with their methods, and the required query parameters of each (path, method).
type Description = (BTreeMap<String, BTreeSet<String>>, BTreeMap<(String, String), String>);

fn read_description() -> Description {
    let text = std::fs::read_to_string(e2e::root().join("openapi.yaml")).expect("openapi.yaml at the repository root");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut queries = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut method = String::new();
    for line in text.lines() {
        // Parameters are written one JSON object a line.
        if let (Some(p), Some(param)) = (&current, line.trim_start().strip_prefix("- {")) {
            let v: serde_json::Value = serde_json::from_str(&format!("{{{param}")).expect("a parameter line is JSON");
            if v["in"] == "query" && v["required"] == true {
                let value = v["schema"]["enum"][0].as_str().unwrap_or("x").to_string();
                let q: &mut String = queries.entry((p.clone(), method.clone())).or_default();
                q.push_str(&format!("{}{}={value}", if q.is_empty() { "" } else { "&" }, v["name"].as_str().unwrap()));
            }
            continue;
        }
        if let Some(path) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            current = Some(format!("/{path}"));
            out.entry(format!("/{path}")).or_default();
        } else if !line.starts_with("  ") || line.starts_with("  ") && !line.starts_with("   ") {
            current = None;
        } else if let (Some(p), Some(m)) = (&current, line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))) {
            if METHODS.iter().any(|x| x.eq_ignore_ascii_case(m)) {
                method = m.to_ascii_uppercase();
                out.get_mut(p).unwrap().insert(method.clone());
            }
        }
    }
    (out, queries)
}

fn function_of(path: &str) -> &str {
    path.strip_prefix(PREFIX).unwrap().split('/').next().unwrap()
}

fn concrete(template: &str) -> String {
    template.split('/').map(|s| if s.starts_with('{') { SAMPLE_ID } else { s }).collect::<Vec<_>>().join("/")
}

fn same_segment(template: &str, served: &str) -> bool {
    template.starts_with('{') || template.replace('_', "-") == served.replace('_', "-")
}

/// The documented paths `served` matches.
fn matching<'a>(docs: &'a BTreeMap<String, BTreeSet<String>>, served: &str) -> Vec<(&'a String, &'a BTreeSet<String>)> {
    let s: Vec<&str> = served.split('/').collect();
    docs.iter()
        .filter(|(t, _)| {
            let t: Vec<&str> = t.split('/').collect();
            t.len() == s.len() && t.iter().zip(&s).all(|(a, b)| same_segment(a, b))
        })
        .collect()
}

fn host() -> (TestDb, Host) {
    let db = TestDb::new();
    db.exec(
        "DO $$ BEGIN
           IF to_regclass('public.security_configuration') IS NOT NULL THEN
             UPDATE public.security_configuration
                SET config_value = '{\"requestsPerMinute\": 10000000, \"burstLimit\": 10000000, \"blockDuration\": 1}'
              WHERE config_category = 'rate_limiting' AND config_key IN ('global_settings', 'failed_webhook_signatures');
           END IF;
         END $$;",
    );
    let host = Host::start(HostConfig::app(&db));
    (db, host)
}

/// Whether the answer says "no such route" (the shared pipeline's and the host's code).
fn unrouted(host: &Host, method: &str, path: &str) -> (bool, u16) {
    let mut req = e2e::Req::new(method, &host.url(path));
    if method != "GET" && method != "DELETE" {
        req = req.json(&serde_json::json!({}));
    }
    let r = req.send();
    let code =
        serde_json::from_slice::<serde_json::Value>(&r.body).ok().and_then(|v| v["code"].as_str().map(str::to_string));
    (r.status == 404 && code.as_deref() == Some("route_not_found"), r.status)
}

#[test]
fn the_description_covers_all_eleven_functions() {
    let docs = documented();
    let functions: BTreeSet<&str> = docs.keys().map(|p| function_of(p)).collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(e2e::root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(functions.iter().map(|s| s.to_string()).collect::<Vec<_>>(), on_disk);
    for f in &on_disk {
        assert!(
            docs.get(&format!("{PREFIX}{f}/health")).is_some_and(|m| m.contains("GET")),
            "{f}/health is not documented"
        );
    }
    assert!(
        docs.values().map(BTreeSet::len).sum::<usize>() > 100,
        "{} operations",
        docs.values().map(BTreeSet::len).sum::<usize>()
    );
}

#[test]
fn every_documented_operation_is_served() {
    let (_db, host) = host();
    let mut wrong = Vec::new();
    let mut asked = 0;
    let queries = required_queries();
    for (template, methods) in documented() {
        for m in methods {
            let query = queries.get(&(template.clone(), m.clone())).map(|q| format!("?{q}")).unwrap_or_default();
            let (missing, status) = unrouted(&host, &m, &format!("{}{query}", concrete(&template)));
            asked += 1;
            if missing || status == 405 {
                wrong.push(format!("{m} {template} -> {status}"));
            }
        }
    }
    eprintln!("{asked} documented operations asked");
    assert!(wrong.is_empty(), "documented but not served:\n{}", wrong.join("\n"));
}

/// The path words a function's routing code matches on.
fn route_words(function: &str) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for file in ["lib.rs", "routes.rs"] {
        let Ok(text) = std::fs::read_to_string(e2e::root().join("functions").join(function).join("src").join(file))
        else {
            continue;
        };
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for piece in code.split('"').skip(1).step_by(2) {
            let word = !piece.is_empty()
                && piece.len() <= 40
                && piece.starts_with(|c: char| c.is_ascii_lowercase())
                && piece.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c));
            if word {
                words.insert(piece.to_string());
            }
        }
    }
    words
}

#[test]
fn every_served_route_is_documented() {
    let docs = documented();
    let (_db, host) = host();
    let mut undocumented = BTreeSet::new();
    let mut asked = 0;
    let functions: BTreeSet<String> = docs.keys().map(|p| function_of(p).to_string()).collect();
    for f in &functions {
        let root = format!("{PREFIX}{f}");
        // The root, every documented path and every prefix of one (`/alerts/{id}` of
        // `/alerts/{id}/resolve`).
        let mut bases: BTreeSet<String> = BTreeSet::from([root.clone()]);
        for p in docs.keys().filter(|p| p.starts_with(&format!("{root}/"))) {
            let p = concrete(p);
            let mut prefix = p.as_str();
            while prefix.len() > root.len() {
                bases.insert(prefix.to_string());
                prefix = &prefix[..prefix.rfind('/').unwrap()];
            }
        }
        for word in route_words(f) {
            for base in &bases {
                let path = format!("{base}/{word}");
                for m in METHODS {
                    let (missing, status) = unrouted(&host, m, &path);
                    asked += 1;
                    if missing {
                        continue;
                    }
                    let found = matching(&docs, &path);
                    let ok = if status == 405 { !found.is_empty() } else { found.iter().any(|(_, ms)| ms.contains(m)) };
                    if !ok {
                        undocumented.insert(format!("{m} {path} -> {status}"));
                    }
                }
            }
        }
    }
    eprintln!("{asked} probes of {} functions' route words", functions.len());
    assert!(
        undocumented.is_empty(),
        "served but not in openapi.yaml:\n{}",
        undocumented.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_description_parser_reads_paths_and_methods() {
    // The checks above are only as good as this reading of the file.
    let docs = documented();
    assert_eq!(
        docs.get("/functions/v1/quote-processor/{id}").map(|m| m.iter().cloned().collect::<Vec<_>>()),
        Some(vec!["DELETE".into(), "GET".into(), "PATCH".into(), "PUT".into()])
    );
    assert!(matching(&docs, "/functions/v1/security-hardening/audit_log")
        .iter()
        .any(|(p, _)| p.ends_with("/audit-log")));
    assert!(matching(&docs, "/functions/v1/quote-processor/nope/extra/deep").is_empty());
    let q = required_queries();
    assert_eq!(
        q.get(&("/functions/v1/monitoring-alerting/alerts".to_string(), "POST".to_string())).map(String::as_str),
        Some("action=acknowledge")
    );
}

// ---- Answers against the description -------------------------------------------------------

/// openapi.yaml as JSON.
fn description_json() -> serde_json::Value {
    let text = std::fs::read_to_string(e2e::root().join("openapi.yaml")).expect("openapi.yaml");
    serde_yaml::from_str(&text).expect("openapi.yaml is YAML")
}

/// Calls operations by their operationId, checks that each answers 2xx as described (status,
/// content type, the schema of a JSON body) and remembers which were answered.
struct Tour<'h> {
    doc: serde_json::Value,
    /// operationId → (path template, method).
    ops: BTreeMap<String, (String, String)>,
    host: &'h e2e::Host,
    answered: BTreeMap<String, u16>,
    wrong: Vec<String>,
    dump: Vec<serde_json::Value>,
}

impl<'h> Tour<'h> {
    fn new(host: &'h e2e::Host) -> Tour<'h> {
        let doc = description_json();
        let mut ops = BTreeMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if let Some(id) = op["operationId"].as_str() {
                    assert!(
                        ops.insert(id.to_string(), (path.clone(), method.to_ascii_uppercase())).is_none(),
                        "operationId {id} twice"
                    );
                }
            }
        }
        Tour { doc, ops, host, answered: BTreeMap::new(), wrong: Vec::new(), dump: Vec::new() }
    }

    /// Call `op` with `params` filling the path's `{...}` in order, then `query`, then the body.
    fn call(
        &mut self,
        op: &str,
        params: &[&str],
        query: &str,
        body: Option<serde_json::Value>,
        token: &str,
    ) -> serde_json::Value {
        self.call_with(op, params, query, body, token, &[])
    }

    fn call_with(
        &mut self,
        op: &str,
        params: &[&str],
        query: &str,
        body: Option<serde_json::Value>,
        token: &str,
        headers: &[(&str, &str)],
    ) -> serde_json::Value {
        self.call_body(op, params, query, body.map(Body::Json), token, headers)
    }

    /// `op` with a raw body of the given content type (an upload).
    fn call_raw(&mut self, op: &str, content_type: &str, bytes: Vec<u8>, token: &str) -> serde_json::Value {
        self.call_body(op, &[], "", Some(Body::Raw(content_type.to_string(), bytes)), token, &[])
    }

    fn call_body(
        &mut self,
        op: &str,
        params: &[&str],
        query: &str,
        body: Option<Body>,
        token: &str,
        headers: &[(&str, &str)],
    ) -> serde_json::Value {
        let (template, method) =
            self.ops.get(op).unwrap_or_else(|| panic!("no operation {op} in openapi.yaml")).clone();
        let mut params = params.iter();
        let path: Vec<String> = template
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    params.next().unwrap_or_else(|| panic!("{op}: a value for {s}")).to_string()
                } else {
                    s.to_string()
                }
            })
            .collect();
        let url = format!("{}{}", path.join("/"), if query.is_empty() { String::new() } else { format!("?{query}") });
        let mut req = e2e::Req::new(&method, &self.host.url(&url));
        if !token.is_empty() {
            req = req.bearer(token);
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        match body {
            Some(Body::Json(b)) => req = req.json(&b),
            Some(Body::Raw(content_type, bytes)) => req = req.header("content-type", &content_type).body(bytes),
            None => {}
        }
        let r = req.send();
        let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
        self.dump.push(
            serde_json::json!({"op": op, "status": r.status, "content_type": r.header("content-type"), "body": json}),
        );
        let described = &self.doc["paths"][&template][method.to_ascii_lowercase()]["responses"];
        if !(200..300).contains(&r.status) {
            self.wrong.push(format!(
                "{op}: {method} {url} answered {} {}",
                r.status,
                r.text().chars().take(300).collect::<String>()
            ));
            return json;
        }
        let response =
            [r.status.to_string(), "2XX".to_string()].into_iter().map(|k| &described[&k]).find(|v| !v.is_null());
        let Some(response) = response else {
            self.wrong.push(format!("{op}: answered {}, which openapi.yaml does not list", r.status));
            return json;
        };
        if r.body.is_empty() && response.get("content").is_none() {
            self.answered.insert(op.to_string(), r.status);
            return json;
        }
        let media = r.header("content-type").unwrap_or("").split(';').next().unwrap().trim().to_string();
        let Some(content) = response["content"].get(&media) else {
            self.wrong.push(format!("{op}: answered {} as {media}, which openapi.yaml does not list for it", r.status));
            return json;
        };
        if media.ends_with("json") {
            let schema = &content["schema"];
            if schema.is_null() || *schema == serde_json::json!({"type": ["object", "array"]}) {
                self.wrong.push(format!("{op}: {} {media} has no schema", r.status));
            }
            let errors = e2e::schema::Checker { doc: &self.doc }.errors(schema, &json);
            if !errors.is_empty() {
                self.wrong.push(format!(
                    "{op}: the {} answer does not fit its schema:\n    {}",
                    r.status,
                    errors.join("\n    ")
                ));
            }
        }
        self.answered.insert(op.to_string(), r.status);
        json
    }
}

/// A request body of the tour.
enum Body {
    Json(serde_json::Value),
    Raw(String, Vec<u8>),
}

/// `data` of an enveloped answer, or the answer itself.
fn data(v: &serde_json::Value) -> &serde_json::Value {
    if v.get("success").is_some() && v.get("data").is_some() {
        &v["data"]
    } else {
        v
    }
}

/// The first string at one of `pointers` in `v` (an id an earlier answer gave).
fn id_of(v: &serde_json::Value, pointers: &[&str]) -> String {
    pointers
        .iter()
        .find_map(|p| v.pointer(p).and_then(|x| x.as_str()))
        .unwrap_or_else(|| panic!("no id at {pointers:?} in {}", v.to_string().chars().take(500).collect::<String>()))
        .to_string()
}

#[test]
fn every_operation_answers_as_its_schema_says() {
    use e2e::{HostConfig, Jwt};
    use serde_json::json;
    const WHSEC: &str = "whsec_api_description_tour";
    let db = TestDb::new();
    db.exec(&std::fs::read_to_string(e2e::root().join("scripts/demo.sql")).unwrap());
    db.exec(
        "UPDATE public.security_configuration
            SET config_value = '{\"requestsPerMinute\": 10000000, \"burstLimit\": 10000000, \"blockDuration\": 1}'
          WHERE config_category = 'rate_limiting' AND config_key IN ('global_settings', 'failed_webhook_signatures');
         INSERT INTO webhook_dead_letter_queue (stripe_event_id, event_type, raw_body, last_error)
           VALUES ('evt_tour_dlq_1', 'product.created', '{\"id\":\"evt_tour_dlq_1\",\"object\":\"event\",\"type\":\"product.created\",\"created\":1700000000,\"data\":{\"object\":{\"id\":\"prod_tour_dlq\",\"object\":\"product\",\"name\":\"Tour\",\"active\":true,\"metadata\":{}}}}', 'handler failed'),
                  ('evt_tour_dlq_2', 'invoice.paid', '{}', 'handler failed');
         INSERT INTO security_incidents (event_type, threat_level, auto_response) VALUES ('rate_limit_exceeded', 'medium', 'temporary_block');
         INSERT INTO alerts (severity, category, title, message, metric, operator, threshold, dedup_key) VALUES
           ('warning', 'performance', 'Tour 1', 'tour', 'error_rate', 'gt', 5, 'tour-1'),
           ('warning', 'performance', 'Tour 2', 'tour', 'error_rate', 'gt', 5, 'tour-2'),
           ('warning', 'performance', 'Tour 3', 'tour', 'error_rate', 'gt', 5, 'tour-3');",
    );
    let green = e2e::Host::start(
        HostConfig::app(&db).var("deployment_color", "green").var("green_base_url", "http://127.0.0.1:9"),
    );
    let host = e2e::Host::start(
        HostConfig::app(&db)
            .var("deployment_color", "blue")
            .var("green_base_url", &green.base)
            .var("green_origin", &green.base)
            .var("stripe_webhook_secrets", WHSEC),
    );
    let user = Jwt::user("de300000-0000-4000-8000-000000000001");
    let admin = Jwt::token("00000000-0000-4000-8000-0000000000aa", "service_role");
    let quote = "de300000-0000-4000-8000-00000000a001";
    let mut t = Tour::new(&host);

    for f in e2e::FUNCTIONS {
        t.call(&format!("{}_get_health", f.replace('-', "_")), &[], "", None, "");
        t.call(&format!("{}_get_ready", f.replace('-', "_")), &[], "", None, "");
    }

    // subscription-status, quote-processor
    t.call("subscription_status_get", &[], "", None, &user);
    let new_quote = json!({"client_name": "Greenleaf", "line_items": [{"name": "Mowing", "quantity": 3, "unit_price": "19.99"}], "tax_rate": 8.25});
    let created = t.call("quote_processor_post", &[], "", Some(new_quote.clone()), &user);
    let q1 = id_of(&created, &["/id", "/data/id"]);
    t.call("quote_processor_get", &[], "", None, &user);
    t.call("quote_processor_get_id", &[&q1], "", None, &user);
    t.call("quote_processor_put_id", &[&q1], "", Some(json!({"notes": "put"})), &user);
    t.call("quote_processor_patch_id", &[&q1], "", Some(json!({"notes": "patch"})), &user);
    let dup = t.call("quote_processor_post_id_duplicate", &[&q1], "", None, &user);
    let q2 = id_of(&dup, &["/id", "/data/id"]);
    let template = t.call(
        "quote_processor_post",
        &[],
        "",
        Some(json!({"client_name": "Template", "is_template": true, "template_name": "Mowing", "line_items": [{"name": "Mowing", "quantity": 1, "unit_price": "10.00"}]})),
        &user,
    );
    let tpl = id_of(&template, &["/id", "/data/id"]);
    t.call("quote_processor_post_from_template_id", &[&tpl], "", Some(json!({"client_name": "From template"})), &user);
    t.call("quote_processor_post_batch", &[], "", Some(json!({"operation": "bulk_export", "quote_ids": [q1]})), &user);
    t.call("quote_processor_delete_id", &[&q2], "", None, &user);
    // Idempotent creates, share links (the client's side without a token), history, expiry.
    t.call_with(
        "quote_processor_post",
        &[],
        "",
        Some(new_quote.clone()),
        &user,
        &[("idempotency-key", "tour-create-1")],
    );
    t.call_raw("quote_processor_put_company_logo", "image/png", e2e::images::png_rgb(48, 24), &user);
    t.call("quote_processor_get_company_logo", &[], "", None, &user);
    let link = t.call("quote_processor_post_id_share", &[&q1], "", Some(json!({"expires_in_days": 7})), &user);
    let (token, link_id) = (id_of(&link, &["/token"]), id_of(&link, &["/id"]));
    t.call("quote_processor_get_shared_token", &[&token], "", None, "");
    t.call("quote_processor_get_shared_token_pdf", &[&token], "", None, "");
    t.call("quote_processor_post_shared_token_accept", &[&token], "", Some(json!({"name": "Tour Client"})), "");
    t.call("quote_processor_get_id_share", &[&q1], "", None, &user);
    t.call("quote_processor_delete_id_share_link_id", &[&q1, &link_id], "", None, &user);
    t.call("quote_processor_delete_id_share", &[&q1], "", None, &user);
    let declined = t.call("quote_processor_post", &[], "", Some(new_quote.clone()), &user);
    let q3 = id_of(&declined, &["/id", "/data/id"]);
    let link = t.call("quote_processor_post_id_share", &[&q3], "", None, &user);
    t.call(
        "quote_processor_post_shared_token_decline",
        &[&id_of(&link, &["/token"])],
        "",
        Some(json!({"name": "Tour Client", "comment": "Not now"})),
        "",
    );
    t.call("quote_processor_get_id_history", &[&q1], "", None, &user);
    t.call("quote_processor_post_expire", &[], "", None, &admin);

    // quote-pdf-generator
    t.call_with(
        "quote_pdf_generator_post",
        &[],
        "",
        Some(json!({"quote_id": quote})),
        &user,
        &[("accept", "application/json")],
    );
    t.call("quote_pdf_generator_post", &[], "", Some(json!({"quote_id": quote})), &user);
    t.call_with(
        "quote_pdf_generator_post_batch",
        &[],
        "",
        Some(json!({"quote_ids": [quote, q1]})),
        &user,
        &[("accept", "application/json")],
    );
    t.call("quote_processor_delete_company_logo", &[], "", None, &user);

    // webhook-handler
    let event = json!({"id": "evt_tour_1", "object": "event", "type": "product.created", "created": 1700000001, "livemode": false,
                       "data": {"object": {"id": "prod_tour", "object": "product", "name": "Tour", "active": true, "metadata": {}}}});
    let body = event.to_string();
    let sig = e2e::sign::stripe_signature(body.as_bytes(), WHSEC, e2e::sign::now_unix());
    t.call_with("webhook_handler_post", &[], "", Some(event), "", &[("stripe-signature", &sig)]);

    // batch-processor
    let unknown: Vec<String> = (0..60).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
    t.call(
        "batch_processor_post",
        &[],
        "",
        Some(json!({"operation": "export_quotes", "items": [quote], "options": {"format": "csv"}})),
        &user,
    );
    let export = t.call(
        "batch_processor_post_jobs",
        &[],
        "",
        Some(json!({"operation": "export_quotes", "items": [quote, q1], "options": {"format": "csv"}})),
        &user,
    );
    let export_id = id_of(&export, &["/id", "/data/id", "/job/id"]);
    let big = t.call(
        "batch_processor_post",
        &[],
        "",
        Some(json!({"operation": "export_quotes", "items": unknown, "options": {"format": "json"}})),
        &user,
    );
    let big_id = id_of(&big, &["/id", "/data/id", "/job/id"]);
    let big2 = t.call("batch_processor_post_jobs", &[], "", Some(json!({"operation": "export_quotes", "items": unknown, "options": {"format": "json"}, "idempotency_key": "tour-2"})), &user);
    let big2_id = id_of(&big2, &["/id", "/data/id", "/job/id"]);
    t.call("batch_processor_get_jobs", &[], "", None, &user);
    t.call("batch_processor_get_jobs_id", &[&export_id], "", None, &user);
    t.call("batch_processor_post_jobs_id_run", &[&big_id], "", None, &user);
    t.call("batch_processor_post_jobs_id_cancel", &[&big2_id], "", None, &user);
    t.call("batch_processor_get_jobs_id_download", &[&export_id], "format=csv", None, &user);
    t.call("batch_processor_get_jobs_id_download", &[&export_id], "format=json", None, &user);
    t.call("batch_processor_post_jobs_advance", &[], "", None, &admin);

    // webhook-monitor
    for op in [
        "webhook_monitor_get",
        "webhook_monitor_get_overview",
        "webhook_monitor_get_performance",
        "webhook_monitor_get_dead_letter_queue",
        "webhook_monitor_get_audit_trail",
        "webhook_monitor_get_batch_jobs",
        "webhook_monitor_get_alerts",
    ] {
        t.call(op, &[], "", None, &admin);
    }
    for operation in ["overview", "performance", "dead_letter_queue", "audit_trail", "batch_jobs", "alerts"] {
        t.call("webhook_monitor_post", &[], "", Some(json!({"operation": operation})), &admin);
    }
    let dlq = t.call("webhook_monitor_get_dead_letter_queue", &[], "", None, &admin);
    let entries = data(&dlq)
        .pointer("/entries")
        .or_else(|| data(&dlq).pointer("/items"))
        .cloned()
        .unwrap_or_else(|| data(&dlq).clone());
    let dlq_ids: BTreeMap<String, String> = entries
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["stripe_event_id"].as_str().unwrap_or("").to_string(),
                        e["id"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let (dlq1, dlq2) = (
        dlq_ids.get("evt_tour_dlq_1").cloned().unwrap_or_default(),
        dlq_ids.get("evt_tour_dlq_2").cloned().unwrap_or_default(),
    );
    t.call("webhook_monitor_get_dead_letter_queue_id", &[&dlq1], "", None, &admin);
    t.call("webhook_monitor_post_dead_letter_queue_id_replay", &[&dlq1], "", None, &admin);
    t.call("webhook_monitor_post_dead_letter_queue_id_resolve", &[&dlq2], "", Some(json!({"note": "tour"})), &admin);

    // migration-controller
    let fast = json!({"steps": [5, 100], "bake_time_seconds": 1, "min_samples": 1});
    t.call("migration_controller_post_initialize_migration", &[], "", Some(fast.clone()), &admin);
    t.call("migration_controller_get", &[], "", None, &admin);
    t.call("migration_controller_post", &[], "", Some(json!({"operation": "status"})), &admin);
    t.call("migration_controller_get_status", &[], "", None, &admin);
    t.call("migration_controller_post_status", &[], "", None, &admin);
    t.call("migration_controller_post_evaluate", &[], "", None, &admin);
    t.call("migration_controller_get_traffic_split", &[], "", None, &admin);
    t.call("migration_controller_post_traffic_split", &[], "", Some(json!({"target_percent": 10})), &admin);
    t.call("migration_controller_get_route", &[], "key=user:3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b", None, &admin);
    t.call(
        "migration_controller_post_route",
        &[],
        "",
        Some(json!({"key": "user:3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b"})),
        &admin,
    );
    // Passing gates: samples of both colours since the step began, and the bake time over.
    db.exec(
        "INSERT INTO performance_metrics (function_name, route, method, status, duration_ms, deployment_color)
         SELECT f, '/functions/v1/' || f, 'GET', 200, 5, c
           FROM unnest(array['subscription-status', 'quote-processor', 'quote-pdf-generator', 'webhook-handler', 'batch-processor']) f,
                unnest(array['blue', 'forwarded', 'green']) c, generate_series(1, 5)",
    );
    std::thread::sleep(std::time::Duration::from_millis(1200));
    t.call("migration_controller_post_advance", &[], "", None, &admin);
    t.call("migration_controller_post_execute_rollback", &[], "", Some(json!({"reason": "tour"})), &admin);
    t.call("migration_controller_post_initialize", &[], "", Some(fast), &admin);
    t.call("migration_controller_post_rollback", &[], "", Some(json!({"reason": "tour"})), &admin);
    // The original API's names.
    t.call("migration_controller_get_health_check", &[], "", None, &admin);
    t.call("migration_controller_post_health_check", &[], "", None, &admin);
    t.call("migration_controller_get_feature_flags", &[], "", None, &admin);
    t.call("migration_controller_post_feature_flags", &[], "", Some(json!({"flags": {"new_pdf": true}})), &admin);
    t.call(
        "migration_controller_post_start",
        &[],
        "",
        Some(json!({"enabledFunctions": ["subscription-status"], "featureFlags": {}})),
        &admin,
    );
    t.call("migration_controller_post_rollback", &[], "", Some(json!({"reason": "tour"})), &admin);

    // production-validator
    let report =
        t.call("production_validator_post", &[], "", Some(json!({"validation_type": "functionality"})), &admin);
    let report_id = id_of(&report, &["/data/id", "/data/report_id", "/id"]);
    t.call("production_validator_post_validate", &[], "", Some(json!({"validation_type": "infrastructure"})), &admin);
    t.call("production_validator_get_reports", &[], "", None, &admin);
    t.call("production_validator_get_reports_id", &[&report_id], "", None, &admin);

    // security-hardening
    t.call("security_hardening_get", &[], "", None, &admin);
    t.call("security_hardening_post", &[], "", Some(json!({"operation": "config"})), &admin);
    let scan = t.call("security_hardening_post_security_scan", &[], "", None, &admin);
    t.call("security_hardening_post_security_scan_underscored", &[], "", None, &admin);
    t.call("security_hardening_post_scan", &[], "", None, &admin);
    let scan_id = id_of(&scan, &["/data/scanId"]);
    t.call("security_hardening_get_scans", &[], "", None, &admin);
    t.call("security_hardening_get_scans_id", &[&scan_id], "", None, &admin);
    let payload = json!({"payload": {"name": "' OR 1=1 --"}, "query": "q=<script>alert(1)</script>"});
    t.call("security_hardening_post_threat_detection", &[], "", Some(payload.clone()), &admin);
    t.call("security_hardening_post_threat_detection_underscored", &[], "", Some(payload), &admin);
    t.call("security_hardening_get_threat_detection", &[], "", None, &admin);
    t.call("security_hardening_get_threat_detection_underscored", &[], "", None, &admin);
    let config = t.call("security_hardening_get_config", &[], "", None, &admin);
    let rate = json!({"category": "rate_limiting", "value": {"requestsPerMinute": 1000000, "burstLimit": 1000000, "blockDuration": 1}});
    t.call("security_hardening_put_config", &[], "", Some(rate.clone()), &admin);
    t.call("security_hardening_post_config", &[], "", Some(rate), &admin);
    let _ = config;
    let incidents = t.call("security_hardening_get_incidents", &[], "", None, &admin);
    let incident = data(&incidents)
        .pointer("/incidents/0/id")
        .or_else(|| data(&incidents).pointer("/0/id"))
        .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
        .unwrap_or_default();
    t.call("security_hardening_get_incidents_id", &[&incident], "", None, &admin);
    t.call("security_hardening_post_incidents_id_resolve", &[&incident], "", Some(json!({"note": "tour"})), &admin);
    t.call(
        "security_hardening_post_blocks",
        &[],
        "",
        Some(json!({"ip": "203.0.113.7", "duration_seconds": 60, "note": "tour"})),
        &admin,
    );
    t.call("security_hardening_get_blocks", &[], "", None, &admin);
    t.call("security_hardening_delete_blocks_key", &["ip:203.0.113.7"], "", None, &admin);
    t.call("security_hardening_get_audit_log", &[], "", None, &admin);
    t.call("security_hardening_get_audit_log_underscored", &[], "", None, &admin);
    // The original API's names.
    t.call("security_hardening_get_security_config", &[], "", None, &admin);
    t.call("security_hardening_put_security_config", &[], "", None, &admin);
    t.call(
        "security_hardening_post_security_config",
        &[],
        "",
        Some(json!({"category": "rate_limiting", "value": {"requestsPerMinute": 1000000}})),
        &admin,
    );
    for op in [
        "security_hardening_post_compliance_check",
        "security_hardening_post_vulnerability_assessment",
        "security_hardening_post_penetration_test",
    ] {
        t.call(op, &[], "", None, &admin);
    }

    // performance-optimizer
    t.call("performance_optimizer_post", &[], "", Some(json!({"operation": "metrics"})), &admin);
    t.call("performance_optimizer_post_benchmark_all_functions", &[], "", Some(json!({"iterations": 1})), &admin);
    for op in [
        "performance_optimizer_get_metrics",
        "performance_optimizer_get_analyze",
        "performance_optimizer_get_recommendations",
        "performance_optimizer_get_cost_report",
        "performance_optimizer_get_cost_report_settings",
        "performance_optimizer_get_pool",
    ] {
        t.call(op, &[], "", None, &admin);
    }
    t.call("performance_optimizer_post_cost_report", &[], "", Some(json!({"days": 7})), &admin);
    let settings = t.call("performance_optimizer_get_cost_report_settings", &[], "", None, &admin);
    let _ = settings;
    t.call(
        "performance_optimizer_put_cost_report_settings",
        &[],
        "",
        Some(json!({"baseline_monthly_low": "250.00", "baseline_monthly_high": 900})),
        &admin,
    );
    t.call("performance_optimizer_patch_cost_report_settings", &[], "", Some(json!({"memory_mb": 128})), &admin);
    t.call("performance_optimizer_post_retention", &[], "", None, &admin);
    // The original API's names.
    t.call(
        "performance_optimizer_post_benchmark",
        &[],
        "",
        Some(json!({"iterations": 1, "duration": 10, "concurrency": 2})),
        &admin,
    );
    t.call("performance_optimizer_post_cold_start_optimization", &[], "", Some(json!({"iterations": 1})), &admin);
    t.call("performance_optimizer_get_connection_optimization", &[], "", None, &admin);
    t.call("performance_optimizer_post_connection_optimization", &[], "", None, &admin);
    for op in [
        "performance_optimizer_get_warm_up",
        "performance_optimizer_post_warm_up",
        "performance_optimizer_get_memory_optimization",
        "performance_optimizer_post_memory_optimization",
        "performance_optimizer_post_optimize",
    ] {
        t.call(op, &[], "", None, &admin);
    }

    // monitoring-alerting
    t.call("monitoring_alerting_get", &[], "", None, &admin);
    t.call("monitoring_alerting_post", &[], "", Some(json!({"operation": "dashboard"})), &admin);
    t.call("monitoring_alerting_get_dashboard", &[], "", None, &admin);
    t.call("monitoring_alerting_post_dashboard", &[], "", None, &admin);
    t.call("monitoring_alerting_get_dashboard_html", &[], "", None, "");
    let alerts = t.call("monitoring_alerting_get_alerts", &[], "", None, &admin);
    let alert_ids: Vec<String> = data(&alerts)["alerts"]
        .as_array()
        .map(|a| a.iter().map(|x| x["id"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let alert = |i: usize| alert_ids.get(i).cloned().unwrap_or_default();
    t.call("monitoring_alerting_post_alerts", &[], "action=acknowledge", Some(json!({"alertId": alert(0)})), &admin);
    t.call("monitoring_alerting_post_alerts_id_acknowledge", &[&alert(1)], "", Some(json!({})), &admin);
    t.call(
        "monitoring_alerting_post_alerts_id_suppress",
        &[&alert(2)],
        "",
        Some(json!({"suppressionReason": "tour"})),
        &admin,
    );
    t.call(
        "monitoring_alerting_post_alerts_id_resolve",
        &[&alert(1)],
        "",
        Some(json!({"resolutionNotes": "tour"})),
        &admin,
    );
    let rule = json!({"rule_id": "tour_p95", "name": "Tour", "severity": "warning", "metric": "p95_response_time", "operator": "gt",
                      "threshold": 800, "window_minutes": 10, "notification_channels": []});
    t.call("monitoring_alerting_post_rules", &[], "", Some(rule), &admin);
    t.call("monitoring_alerting_get_rules", &[], "", None, &admin);
    t.call("monitoring_alerting_get_rules_id", &["tour_p95"], "", None, &admin);
    t.call("monitoring_alerting_put_rules_id", &["tour_p95"], "", Some(json!({"threshold": 900})), &admin);
    t.call("monitoring_alerting_patch_rules_id", &["tour_p95"], "", Some(json!({"threshold": 950})), &admin);
    t.call("monitoring_alerting_put_rules", &[], "", Some(json!({"ruleId": "tour_p95", "threshold": 1000})), &admin);
    t.call("monitoring_alerting_delete_rules", &[], "ruleId=tour_p95", None, &admin);
    t.call(
        "monitoring_alerting_post_rules",
        &[],
        "",
        Some(json!({"rule_id": "tour_p99", "name": "Tour", "severity": "warning", "metric": "p99_response_time", "operator": "gt", "threshold": 800, "window_minutes": 10, "notification_channels": []})),
        &admin,
    );
    t.call("monitoring_alerting_delete_rules_id", &["tour_p99"], "", None, &admin);
    t.call("monitoring_alerting_post_evaluate", &[], "", None, &admin);
    t.call("monitoring_alerting_get_evaluate", &[], "", None, &admin);
    t.call("monitoring_alerting_get_metrics", &[], "", None, &admin);
    t.call("monitoring_alerting_get_anomaly_detection", &[], "", None, &admin);
    t.call("monitoring_alerting_post_anomaly_detection", &[], "", None, &admin);
    t.call("monitoring_alerting_post_notification_test", &[], "", Some(json!({"channel": "all"})), &admin);
    t.call(
        "monitoring_alerting_post_webhook",
        &[],
        "",
        Some(json!({"severity": "warning", "title": "Queue depth", "message": "12 jobs waiting", "metricValue": 12})),
        &admin,
    );

    if let Ok(path) = std::env::var("API_ANSWERS_DUMP") {
        std::fs::write(&path, serde_json::to_string_pretty(&t.dump).unwrap()).unwrap();
    }
    let missing: Vec<&String> = t.ops.keys().filter(|op| !t.answered.contains_key(*op)).collect();
    eprintln!("{} of {} operations answered 2xx and fit their schema", t.answered.len(), t.ops.len());
    assert!(t.wrong.is_empty(), "answers outside openapi.yaml:\n{}", t.wrong.join("\n"));
    assert!(missing.is_empty(), "operations the tour did not get a success from: {missing:?}");
}

#[test]
fn every_success_response_has_a_schema() {
    let doc = description_json();
    let (mut operations, mut responses) = (0, 0);
    let mut bare = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let id = op["operationId"].as_str().unwrap_or("?");
            let mut any = false;
            for (status, response) in op["responses"].as_object().unwrap() {
                if !status.starts_with('2') {
                    continue;
                }
                any = true;
                responses += 1;
                if status == "204" && response.get("content").is_none() {
                    continue;
                }
                for (media, content) in response["content"].as_object().unwrap_or(&serde_json::Map::new()) {
                    let schema = &content["schema"];
                    let untyped = schema.is_null()
                        || schema.as_object().is_some_and(|s| s.is_empty())
                        || (media.ends_with("json")
                            && schema.get("$ref").is_none()
                            && schema.get("allOf").is_none()
                            && schema.get("anyOf").is_none());
                    if untyped {
                        bare.push(format!("{id} ({} {path}) {status} {media}: {schema}", method.to_ascii_uppercase()));
                    }
                }
            }
            assert!(any, "{id} lists no success response");
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap().len();
    eprintln!("{operations} operations, {responses} success responses, {schemas} component schemas");
    assert!(bare.is_empty(), "success responses without a named schema:\n{}", bare.join("\n"));
}

#[test]
fn openapi_spec_validator_finds_nothing() {
    let validator = std::env::var("OPENAPI_SPEC_VALIDATOR").expect(
        "OPENAPI_SPEC_VALIDATOR is not set: run the tests with scripts/test, which installs openapi-spec-validator",
    );
    let out = std::process::Command::new(&validator)
        .arg("openapi.yaml")
        .current_dir(e2e::root())
        .output()
        .expect("run openapi-spec-validator");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "openapi-spec-validator openapi.yaml:\n{said}");
    assert!(said.contains("OK"), "{said}");
}
