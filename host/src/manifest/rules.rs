//! The rules `edge` applies when it loads a manifest, one case each: the manifest, what edge
//! does with it (accept, or refuse with a reason) and what Spin does with it.
//!
//! The host's unit tests load every case (`App::from_text`, for running); the end-to-end suite
//! (`tests/suite/manifest_rules.rs`) runs every case through `edge up`, and through the real
//! Spin 4.0.2 binary when it is present, to show that Spin accepts and refuses the same
//! manifests. Each manifest is written after the version line and may use `p.wasm` (a
//! component), `bad.wasm` (not WebAssembly) and `static/a.txt`, `static/b.txt`.
//!
//! Every case runs with the variable `r` (required) set to `x`.

/// What Spin does with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spin {
    /// Spin accepts it too.
    Accepts,
    /// Spin refuses it too; its message contains this text.
    Refuses(&'static str),
    /// Spin 3.4 refuses it (it does not know the key) while Spin 4.0.2 accepts it; edge keeps
    /// to what both accept.
    OnlySpin4Accepts,
    /// Something Spin supports that edge does not implement: edge refuses it by name. The
    /// text, when there is one, is what the Spin binary says without the services it needs.
    NotImplemented(Option<&'static str>),
}

// `spin` and `env` are read by tests/suite/manifest_rules.rs, which runs each case through
// the real commands; the host's own tests only load the manifests.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    /// The manifest after its first line (`spin_manifest_version = 2`, unless `raw`).
    pub manifest: &'static str,
    /// The manifest is complete as written (no version line added).
    pub raw: bool,
    /// `None`: edge accepts it; `Some(text)`: edge refuses it, its error containing `text`.
    pub edge: Option<&'static str>,
    pub spin: Spin,
    /// Refused only when the host starts (compiling the component), not when the manifest is
    /// read: the unit test skips it.
    pub at_start: bool,
    /// Variables set in the environment, besides `r`.
    pub env: &'static [(&'static str, &'static str)],
}

const fn case(name: &'static str, manifest: &'static str, edge: Option<&'static str>, spin: Spin) -> Case {
    Case { name, manifest, raw: false, edge, spin, at_start: false, env: &[] }
}

/// A case that refuses the same manifest for the same reason, written the same way.
const fn same(name: &'static str, manifest: &'static str, reason: &'static str) -> Case {
    case(name, manifest, Some(reason), Spin::Refuses(reason))
}

const fn accepted(name: &'static str, manifest: &'static str) -> Case {
    case(name, manifest, None, Spin::Accepts)
}

/// A component entry whose `allowed_outbound_hosts` is the given list.
macro_rules! hosts {
    ($list:literal) => {
        concat!(
            "[application]\nname = \"x\"\n[variables]\nv = { default = \"\" }\nr = { required = true }\n",
            "h = { default = \"example.com\" }\nbad = { default = \"invalid host\" }\n",
            "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\n",
            "allowed_outbound_hosts = [",
            $list,
            "]\n"
        )
    };
}

/// An application of one component `a` on `/...`, with these lines added to the component.
macro_rules! component {
    ($lines:literal) => {
        concat!(
            "[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\n",
            $lines
        )
    };
}

/// An application of one component `a` whose source is the given path.
macro_rules! sourced {
    ($source:literal) => {
        concat!("[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"", $source, "\"\n")
    };
}

/// An application whose component `a` is served by the given trigger lines.
macro_rules! trigger {
    ($lines:literal) => {
        concat!("[application]\nname = \"x\"\n", $lines, "\n[component.a]\nsource = \"p.wasm\"\n")
    };
}

/// An application with these `[variables]` lines (and one component).
macro_rules! variables {
    ($lines:literal) => {
        concat!(
            "[application]\nname = \"x\"\n[variables]\n",
            $lines,
            "\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\n"
        )
    };
}

pub const CASES: &[Case] = &[
    // ---- the file and its schema ------------------------------------------------------
    accepted("minimal", component!("")),
    Case { raw: true, ..same("version_3", concat!("spin_manifest_version = 3\n", component!("")), "invalid manifest version: 3") },
    Case {
        raw: true,
        ..same("version_as_string", concat!("spin_manifest_version = \"2\"\n", component!("")), "invalid manifest version: \"2\"")
    },
    Case {
        raw: true,
        ..case(
            "version_1_manifest",
            "spin_version = \"1\"\nname = \"x\"\ntrigger = { type = \"http\" }\n[[component]]\nid = \"a\"\nsource = \"p.wasm\"\n[component.trigger]\nroute = \"/...\"\n",
            Some("version 1 manifest"),
            Spin::NotImplemented(None),
        )
    },
    same("missing_application", "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\n", "missing field `application`"),
    same("missing_application_name", "[application]\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\n", "missing field `name`"),
    same("unknown_top_level_key", concat!(component!(""), "[foo]\nbar = 1\n"), "unknown field `foo`"),
    same("unknown_application_key", concat!("[application]\nname = \"x\"\nfoo = 1\n", "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\n"), "unknown field `foo`"),
    same("unknown_component_key", component!("sources = \"x\"\n"), "unknown field `sources`"),
    same("unknown_variable_key", variables!("v = { default = \"a\", foo = 1 }"), "unknown field `foo`"),
    same("unknown_build_key", component!("[component.a.build]\ncommand = \"x\"\nfoo = 1\n"), "unknown field `foo`"),
    same("variable_default_not_a_string", variables!("v = { default = 3 }"), "invalid type: integer `3`, expected a string"),
    same("environment_value_not_a_string", component!("environment = { A = 1 }\n"), "invalid type: integer `1`, expected a string"),
    same("component_without_source", "[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\ndescription = \"x\"\n", "missing field `source`"),
    same("inline_component_unknown_key", "[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = { source = \"p.wasm\", foo = 1 }\n", "unknown field `foo`"),
    same("no_trigger_table", "[application]\nname = \"x\"\n[component.a]\nsource = \"p.wasm\"\n", "missing field `trigger`"),
    same("empty_trigger_table", "[application]\nname = \"x\"\n[trigger]\n[component.a]\nsource = \"p.wasm\"\n", "No triggers in app"),
    accepted("tool_tables", concat!(component!("[component.a.tool.other]\nx = 1\n"), "[application.tool.other]\ny = 2\n")),
    accepted("application_metadata", "[application]\nname = \"x\"\nversion = \"1.0.0\"\ndescription = \"d\"\nauthors = [\"a <a@example.com>\"]\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\ndescription = \"c\"\n"),
    accepted("application_targets", "[application]\nname = \"x\"\ntargets = [\"spin-up:3.3\"]\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\n"),
    accepted("build_commands", component!("[component.a.build]\ncommand = [\"true\", \"true\"]\nworkdir = \".\"\nwatch = [\"src/**/*.rs\"]\n")),
    // ---- ids and names ----------------------------------------------------------------
    same("component_id_with_underscore", "[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a_b\"\n[component.a_b]\nsource = \"p.wasm\"\n", "words must be separated with '-', not '_'"),
    same("component_id_word_starting_with_digit", "[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a-1\"\n[component.a-1]\nsource = \"p.wasm\"\n", "'-'-separated words must start with an ASCII letter; got '1'"),
    same("component_id_mixed_case", "[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"Ab\"\n[component.Ab]\nsource = \"p.wasm\"\n", "'-'-separated words must be all lowercase or all UPPERCASE"),
    accepted("component_id_uppercase_words", "[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"AB-cd\"\n[component.AB-cd]\nsource = \"p.wasm\"\n"),
    same("variable_name_with_dash", variables!("bad-name = { default = \"a\" }"), "words must be separated with '_', not '-'"),
    same("variable_name_double_underscore", variables!("bad__name = { default = \"a\" }"), "'_'-separated words must not be empty"),
    same("variable_name_trailing_underscore", variables!("bad_ = { default = \"a\" }"), "'_'-separated words must not be empty"),
    same("variable_name_leading_digit", variables!("\"1bad\" = { default = \"a\" }"), "'_'-separated words must start with an ASCII letter; got '1'"),
    same("variable_name_mixed_case", variables!("Bad = { default = \"a\" }"), "'_'-separated words must be all lowercase or all UPPERCASE"),
    case("variable_name_uppercase", variables!("BAD = { default = \"a\" }"), Some("identifiers must be all lowercase"), Spin::Refuses("identifiers must be all lowercase")),
    same("component_variable_name_mixed_case", component!("[component.a.variables]\nBad = \"x\"\n"), "'_'-separated words must be all lowercase or all UPPERCASE"),
    same("store_label_camel_case", component!("key_value_stores = [\"camelCase\"]\n"), "expected kebab-case or snake_case"),
    // ---- variables --------------------------------------------------------------------
    same("variable_required_with_default", variables!("v = { default = \"a\", required = true }"), "must be `required` OR have a `default`"),
    same("variable_neither_required_nor_default", variables!("v = { required = false }"), "must be `required` OR have a `default`"),
    same("variable_empty_table", variables!("v = {}"), "must be `required` OR have a `default`"),
    same("component_variable_of_unknown_variable", component!("[component.a.variables]\nv = \"{{ nope }}\"\n"), "unknown variable \"nope\""),
    same("component_variable_unterminated_template", concat!(variables!("v = { default = \"a\" }"), "[component.a.variables]\nv = \"{{ v \"\n"), "unmatched '{{' in template"),
    accepted("component_variable_templates", concat!(variables!("v = { default = \"a\" }"), "[component.a.variables]\nx = \"{{v}}-{{ v }}\"\ny = \"plain\"\n")),
    // ---- allowed_outbound_hosts -------------------------------------------------------
    same("outbound_host_empty", hosts!("\"\""), "\"\" is not an allowed outbound host format"),
    same("outbound_host_star_alone", hosts!("\"*\""), "\"*\" is not an allowed outbound host format"),
    same("outbound_host_without_scheme", hosts!("\"example.com\""), "\"example.com\" does not contain a scheme"),
    same("outbound_host_with_path", hosts!("\"https://example.com/path\""), "must not include a path"),
    same("outbound_host_with_port_and_path", hosts!("\"https://example.com:443/path\""), "has a path but is not allowed to"),
    same("outbound_host_port_not_a_number", hosts!("\"https://example.com:abc\""), "port \"abc\" is not a number"),
    same("outbound_host_port_too_large", hosts!("\"https://example.com:70000\""), "port \"70000\" is not a number"),
    same("outbound_host_no_port_no_default", hosts!("\"tcp://example.com\""), "the scheme \"tcp\" does not have a known default port number"),
    same("outbound_host_uppercase_scheme_without_port", hosts!("\"HTTPS://example.com\""), "the scheme \"HTTPS\" does not have a known default port number"),
    same("outbound_host_scheme_with_digit", hosts!("\"h2c://example.com:80\""), "only alphabetic characters are allowed"),
    same("outbound_host_scheme_list", hosts!("\"{http,https}://a.com\""), "does not have a known default port number"),
    same("outbound_host_wildcard_in_the_middle", hosts!("\"https://a.*.example.com\""), "wildcards are allowed only as subdomains"),
    same("outbound_host_wildcard_suffix", hosts!("\"https://example.*\""), "wildcards are allowed only as subdomains"),
    same("outbound_host_wildcard_without_dot", hosts!("\"https://*example.com\""), "wildcards are allowed only as subdomains"),
    same("outbound_host_two_wildcards", hosts!("\"https://*.*.example.com\""), "wildcards are allowed only as prefixes"),
    case("outbound_host_host_list", hosts!("\"https://{a,b}.com\""), Some("Invalid allowed host \"{a,b}.com\""), Spin::Refuses("Invalid allowed host \"{a,b}.com\"")),
    same("outbound_host_port_list", hosts!("\"https://a.com:{80,443}\""), "port lists are not yet supported"),
    same("outbound_host_port_range_not_numbers", hosts!("\"*://127.0.0.1:7..x\""), "port range \"7..x\" contains non-number"),
    same("outbound_host_network_prefix_too_long", hosts!("\"*://10.0.0.0/33:7\""), "must not include a path"),
    same("outbound_host_network_in_brackets", hosts!("\"*://[::1]/128:7\""), "must not include a path"),
    same("outbound_host_ipv6_without_port", hosts!("\"http://[::1]\""), "port \"1]\" is not a number"),
    same("outbound_host_invalid_name", hosts!("\"https://invalid host\""), "invalid international domain name"),
    same("outbound_host_with_user", hosts!("\"https://u@example.com\""), "invalid international domain name"),
    same("outbound_host_with_query", hosts!("\"https://example.com?x\""), "invalid international domain name"),
    same("outbound_host_insecure_allow_all", hosts!("\"insecure:allow-all\""), "'insecure:allow-all' is not allowed"),
    same("outbound_host_insecure_allow_all_among_others", hosts!("\"insecure:allow-all\", \"https://a.com\""), "\"insecure:allow-all\" does not contain a scheme"),
    same("outbound_host_template_with_empty_default", hosts!("\"{{ v }}\""), "using default variable value(s) with template \"{{ v }}\" results in invalid config \"\""),
    same("outbound_host_template_with_invalid_default", hosts!("\"https://{{ bad }}\""), "results in invalid config \"https://invalid host\""),
    same("outbound_host_unterminated_template", hosts!("\"https://{{ h\""), "unmatched '{{' in template"),
    accepted("outbound_host_template_without_default", hosts!("\"postgres://{{ r }}:5432\"")),
    accepted("outbound_host_template_of_unknown_variable", hosts!("\"https://{{ nope }}\"")),
    accepted("outbound_host_template_with_valid_default", hosts!("\"https://{{ h }}\"")),
    Case { env: &[("h", "invalid host")], ..accepted("outbound_host_template_invalid_only_at_run_time", hosts!("\"https://{{ h }}\"")) },
    accepted("outbound_host_network", hosts!("\"*://127.0.0.0/24:7\"")),
    accepted("outbound_host_ipv6_network", hosts!("\"*://::1/128:7\"")),
    accepted("outbound_host_port_range", hosts!("\"*://127.0.0.1:7..9\"")),
    accepted("outbound_host_port_range_reversed", hosts!("\"*://a.com:9..7\"")),
    accepted("outbound_host_port_zero", hosts!("\"*://a.com:0\"")),
    accepted("outbound_host_everything", hosts!("\"*://*:*\"")),
    accepted("outbound_host_trailing_slash", hosts!("\"https://example.com/\"")),
    accepted("outbound_host_self", hosts!("\"http://self\", \"http://self.alt\"")),
    accepted("outbound_host_service_chaining", hosts!("\"http://*.spin.internal\", \"http://a.spin.internal\"")),
    accepted("outbound_host_ipv6", hosts!("\"http://[::1]:80\"")),
    accepted("outbound_host_default_ports", hosts!("\"mqtt://a.com\", \"redis://a.com\", \"mysql://a.com\", \"postgres://a.com\"")),
    accepted("outbound_host_surrounding_spaces", hosts!("\" https://example.com \"")),
    accepted("outbound_host_uppercase_scheme_with_port", hosts!("\"HTTPS://example.com:443\"")),
    accepted("allowed_http_hosts", component!("allowed_http_hosts = [\"example.com\", \"api.example.com:8080\"]\n")),
    same("allowed_http_hosts_with_path", component!("allowed_http_hosts = [\"example.com/path\"]\n"), "example.com/path contains a path, should be host and optional port only"),
    // ---- triggers and routes ----------------------------------------------------------
    same("trigger_of_unknown_component", trigger!("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"b\""), "no such component \"b\""),
    same("trigger_without_component", trigger!("[[trigger.http]]\nroute = \"/...\""), "Triggers must specify"),
    same("trigger_unknown_key", trigger!("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\nroutes = \"x\""), "unknown field `routes`"),
    same("trigger_components_key", trigger!("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\ncomponents = { x = \"a\" }"), "unknown field `components`"),
    same("trigger_without_route", trigger!("[[trigger.http]]\ncomponent = \"a\""), "missing field `route`"),
    case("route_not_a_string", trigger!("[[trigger.http]]\nroute = 3\ncomponent = \"a\""), Some("route must be a string pattern"), Spin::Refuses("did not match any variant of untagged enum HttpTriggerRouteConfig")),
    same("route_private_false", trigger!("[[trigger.http]]\nroute = { private = false }\ncomponent = \"a\""), "route must be a string pattern or '{ private = true }'"),
    same("route_with_unnamed_segment", trigger!("[[trigger.http]]\nroute = \"/a/:/b\"\ncomponent = \"a\""), "params must be named"),
    same("route_with_named_wildcard", trigger!("[[trigger.http]]\nroute = \"/a/*x\"\ncomponent = \"a\""), "replace `*x` with `*`"),
    accepted("route_private", trigger!("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[[trigger.http]]\nroute = { private = true }\ncomponent = \"a\"")),
    accepted("route_with_named_segments", trigger!("[[trigger.http]]\nroute = \"/a/:x/:y/...\"\ncomponent = \"a\"")),
    accepted("route_with_star", trigger!("[[trigger.http]]\nroute = \"/a/*\"\ncomponent = \"a\"")),
    accepted("route_without_leading_slash", trigger!("[[trigger.http]]\nroute = \"a/...\"\ncomponent = \"a\"")),
    accepted("route_with_trailing_slash", trigger!("[[trigger.http]]\nroute = \"/a/\"\ncomponent = \"a\"")),
    accepted("route_empty", trigger!("[[trigger.http]]\nroute = \"\"\ncomponent = \"a\"")),
    accepted("route_twice", trigger!("[[trigger.http]]\nroute = \"/x\"\ncomponent = \"a\"\n[[trigger.http]]\nroute = \"/x\"\ncomponent = \"a\"")),
    accepted("route_with_a_name_twice", trigger!("[[trigger.http]]\nroute = \"/a/:x/:x\"\ncomponent = \"a\"")),
    accepted("route_with_wildcard_in_the_middle", trigger!("[[trigger.http]]\nroute = \"/a/.../b\"\ncomponent = \"a\"")),
    accepted("route_with_star_in_the_middle", trigger!("[[trigger.http]]\nroute = \"/*/b\"\ncomponent = \"a\"")),
    accepted("route_with_dotted_names", trigger!("[[trigger.http]]\nroute = \"/f/:name.:ext\"\ncomponent = \"a\"")),
    accepted("route_with_double_slash", trigger!("[[trigger.http]]\nroute = \"//a\"\ncomponent = \"a\"")),
    accepted("route_under_well_known", trigger!("[[trigger.http]]\nroute = \"/.well-known/spin/x\"\ncomponent = \"a\"")),
    accepted("trigger_ids", trigger!("[[trigger.http]]\nid = \"t\"\nroute = \"/...\"\ncomponent = \"a\"\n[[trigger.http]]\nid = \"t\"\nroute = \"/x\"\ncomponent = \"a\"\n[[trigger.http]]\nid = \"Weird ID!\"\nroute = \"/y\"\ncomponent = \"a\"")),
    accepted("inline_component", "[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = { source = \"p.wasm\" }\n"),
    accepted("inline_component_id_taken", "[application]\nname = \"x\"\n[[trigger.http]]\nid = \"t\"\nroute = \"/...\"\ncomponent = { source = \"p.wasm\" }\n[component.t-component]\nsource = \"p.wasm\"\n[[trigger.http]]\nroute = \"/x\"\ncomponent = \"t-component\"\n"),
    accepted("component_without_trigger", concat!(component!(""), "[component.b]\nsource = \"p.wasm\"\n")),
    accepted("executor_spin_and_http", trigger!("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\nexecutor = { type = \"spin\" }\n[[trigger.http]]\nroute = \"/h\"\ncomponent = \"a\"\nexecutor = { type = \"http\" }")),
    same("executor_unknown", trigger!("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\nexecutor = { type = \"bogus\" }"), "unknown variant `bogus`, expected one of `http`, `spin`, `wagi`"),
    case("executor_wagi", trigger!("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\nexecutor = { type = \"wagi\" }"), Some("the `wagi` executor is not supported by edge"), Spin::NotImplemented(Some("wagi"))),
    case("static_response", trigger!("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[[trigger.http]]\nroute = \"/s\"\nstatic_response = { status_code = 201, body = \"hi\" }"), Some("`static_response` is not understood by Spin 3.4"), Spin::OnlySpin4Accepts),
    same("application_base_route", "[application]\nname = \"x\"\n[application.trigger.http]\nbase = \"/api\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\n", "deprecated trigger 'base' field"),
    accepted("application_base_route_root", "[application]\nname = \"x\"\n[application.trigger.http]\nbase = \"/\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\n"),
    same("application_http_settings_unknown_key", "[application]\nname = \"x\"\n[application.trigger.http]\nfoo = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\n", "unknown field `foo`, expected `base`"),
    accepted("application_settings_of_other_trigger", "[application]\nname = \"x\"\n[application.trigger.redis]\naddress = \"redis://x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"p.wasm\"\n"),
    case("trigger_redis", trigger!("[[trigger.redis]]\nchannel = \"c\"\ncomponent = \"a\""), Some("edge runs HTTP triggers only"), Spin::NotImplemented(None)),
    case("trigger_cron", trigger!("[[trigger.cron]]\ncron_expression = \"1/2 * * * * *\"\ncomponent = \"a\""), Some("edge runs HTTP triggers only"), Spin::Refuses("No built-in trigger named 'cron'")),
    // ---- components: sources, stores, files, what edge does not implement -------------
    case("source_missing", sourced!("missing.wasm"), Some("failed to read component source from disk"), Spin::Refuses("failed to read component source from disk")),
    case("source_is_a_directory", sourced!("."), Some("it is a directory"), Spin::Refuses("Is a directory")),
    Case { at_start: true, ..case("source_not_webassembly", sourced!("bad.wasm"), Some("not a WebAssembly binary"), Spin::Refuses("failed to componentize")) },
    same("source_url_with_bad_digest", "[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = { url = \"https://example.invalid/x.wasm\", digest = \"abc\" }\n", "must start with 'sha256:'"),
    case("source_url", "[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = { url = \"https://example.invalid/x.wasm\", digest = \"sha256:00\" }\n", Some("edge loads local files only"), Spin::NotImplemented(Some("Failed to load Wasm source"))),
    case("source_registry", "[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = { registry = \"example.invalid\", package = \"a:b\", version = \"1.0.0\" }\n", Some("edge loads local files only"), Spin::NotImplemented(Some("Failed to load Wasm source"))),
    accepted("key_value_default", component!("key_value_stores = [\"default\", \"default\"]\n")),
    same("key_value_undefined_store", component!("key_value_stores = [\"other\"]\n"), "unknown key_value_stores label \"other\" for component \"a\""),
    same("key_value_uppercase_default", component!("key_value_stores = [\"DEFAULT\"]\n"), "unknown key_value_stores label \"DEFAULT\""),
    accepted("sqlite_default", component!("sqlite_databases = [\"default\"]\n")),
    same("sqlite_undefined_database", component!("sqlite_databases = [\"other\"]\n"), "uses database 'other'"),
    accepted("environment", component!("environment = { A = \"b\", EMPTY = \"\" }\n")),
    accepted("files", component!("files = [\"p.wasm\", \"static/*.txt\", \"static/*.nothing\", { source = \"static\", destination = \"/s\" }, { source = \"static\", destination = \"rel\" }]\nexclude_files = [\"static/b.txt\"]\n")),
    same("files_missing", component!("files = [\"nope.txt\"]\n"), "\"nope.txt\" does not exist and doesn't appear to be a glob pattern"),
    same("files_source_missing", component!("files = [{ source = \"nodir\", destination = \"/\" }]\n"), "File or directory \"nodir\" does not exist"),
    same("files_current_directory", component!("files = [\".\"]\n"), "A file pattern can't end in a current directory path (.)"),
    same("files_parent_directory", component!("files = [\"..\"]\n"), "A file pattern can't end in a parent directory path (..)"),
    same("files_bad_glob", component!("files = [\"static/[a\"]\n"), "Failed to resolve glob pattern"),
    same("files_file_to_a_directory", component!("files = [{ source = \"static/a.txt\", destination = \"/x/\" }]\n"), "\"/x/\" is not a valid destination file name"),
    case("ai_models", component!("ai_models = [\"llama2-chat\"]\n"), Some("the Serverless AI interface is not supported by edge"), Spin::NotImplemented(None)),
    case("dependencies", component!("[component.a.dependencies]\n\"foo:bar/baz\" = { path = \"p.wasm\" }\n"), Some("composing component dependencies is not supported by edge"), Spin::NotImplemented(Some("dependency 'foo:bar/baz' doesn't match any imports"))),
    case("dependency_without_package", component!("[component.a.dependencies]\n\"foo-bar\" = \"1.0.0\"\n"), Some("composing component dependencies is not supported by edge"), Spin::Refuses("must specify a package name")),
    accepted("dependencies_inherit_configuration", component!("dependencies_inherit_configuration = true\n")),
    case("component_profile", component!("[component.a.profile.debug]\nsource = \"q.wasm\"\n"), Some("`profile` overrides, which Spin 3.4 does not understand"), Spin::OnlySpin4Accepts),
    case("component_targets", component!("targets = [\"spin-up:3.3\"]\n"), Some("has `targets`, which Spin 3.4 does not understand"), Spin::OnlySpin4Accepts),
];
