//! The command line, in Spin's spellings where `edge` does what `spin` does (`-f`, `--listen`,
//! `-e/--env`, `--variable NAME=VALUE` and `NAME=@file`, `--build`, `-c/--component-id`).

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "edge",
    version,
    propagate_version = true,
    about = "Runs this Spin application without Spin: serve, migrate, build, deploy."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the application (like `spin up`).
    Up(Up),
    /// The database: migrate, status, reset.
    Db {
        #[command(subcommand)]
        action: DbAction,
        #[command(flatten)]
        target: DbTarget,
    },
    /// Run each component's build command, then check sizes and imports (like `spin build`).
    Build(Build),
    /// Plan a deployment, write SpinKube manifests, or deploy with `spin deploy`.
    Deploy(Deploy),
    /// Mint an access token signed with `jwt_secret`, for local use.
    Token(Token),
    /// Time instantiating a component, for the benchmarks.
    #[command(hide = true)]
    BenchInstantiate {
        #[command(flatten)]
        app: AppArgs,
        #[arg(long, default_value = "subscription-status")]
        component: String,
        #[arg(long, default_value_t = 2000)]
        rounds: usize,
    },
}

/// Where the application is.
#[derive(Debug, Args)]
pub struct AppArgs {
    /// The manifest.
    #[arg(short = 'f', long = "from", visible_alias = "file", default_value = "spin.toml", value_name = "SPIN_TOML")]
    pub manifest: PathBuf,
}

#[derive(Debug, Args)]
pub struct Up {
    #[command(flatten)]
    pub app: AppArgs,
    /// Address to listen on (given twice, the last wins: a wrapper's default can be overridden).
    #[arg(long, default_value = "127.0.0.1:3000", value_name = "ADDRESS", overrides_with = "listen")]
    pub listen: String,
    /// An application variable, NAME=VALUE or NAME=@FILE (overrides SPIN_VARIABLE_<NAME> and .env).
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = parse_variable)]
    pub variables: Vec<(String, String)>,
    /// An environment variable for every component, KEY=VALUE.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub env: Vec<(String, String)>,
    /// Serve only these components (repeat the flag for several).
    #[arg(short = 'c', long = "component-id", value_name = "ID")]
    pub components: Vec<String>,
    /// Build the components first (like `spin up --build`).
    #[arg(long)]
    pub build: bool,
    /// The time limit of a request, overriding `request_timeout_ms` of the manifest.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: Option<u64>,
    /// How the host writes its own lines: text for people, json for log collectors.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Apply the migrations not applied yet.
    Migrate,
    /// List the migrations and whether each is applied (and unchanged).
    Status,
    /// Drop and recreate a local database, then migrate it.
    Reset {
        /// Also for a database that is not on this machine.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct DbTarget {
    /// The database (default: `db_url` of the application's variables).
    #[arg(long, global = true, value_name = "URL")]
    pub db_url: Option<String>,
    /// The manifest, for `db_url` and the migrations beside it.
    #[arg(short = 'f', long = "from", global = true, default_value = "spin.toml", value_name = "SPIN_TOML")]
    pub manifest: PathBuf,
}

#[derive(Debug, Args)]
pub struct Build {
    #[command(flatten)]
    pub app: AppArgs,
    /// Build only these components (repeat the flag for several).
    #[arg(short = 'c', long = "component-id", visible_alias = "component", value_name = "ID")]
    pub components: Vec<String>,
    /// Only check the built files (sizes, imports); run no build command.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Kubernetes manifests for SpinKube.
    Spinkube,
    /// `spin deploy` (Fermyon Cloud).
    Spin,
}

#[derive(Debug, Args)]
pub struct Deploy {
    #[command(flatten)]
    pub app: AppArgs,
    /// Print the placement plan (with --target spin: write the manifest and stop there).
    #[arg(long)]
    pub plan: bool,
    #[arg(long, value_enum)]
    pub target: Option<Target>,
    /// Where to write what the target needs.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The OCI reference of the application (spinkube).
    #[arg(long, value_name = "OCI-REF")]
    pub image: Option<String>,
    /// The Kubernetes namespace (spinkube).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// An application variable, NAME=VALUE or NAME=@FILE.
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = parse_variable)]
    pub variables: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(clippy::enum_variant_names, reason = "the variants are PostgreSQL's role names, service_role among them")]
pub enum Role {
    Authenticated,
    #[value(name = "service_role", alias = "service-role")]
    ServiceRole,
    Anon,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Authenticated => "authenticated",
            Role::ServiceRole => "service_role",
            Role::Anon => "anon",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProjectKey {
    #[value(name = "service_role", alias = "service-role")]
    ServiceRole,
    Anon,
}

#[derive(Debug, Args)]
pub struct Token {
    #[command(flatten)]
    pub app: AppArgs,
    /// The user's id (a UUID): a user's access token.
    #[arg(long, value_parser = parse_uuid, required_unless_present = "key", conflicts_with_all = ["key", "project_ref"])]
    pub sub: Option<String>,
    /// A project API key in Supabase's shape instead (iss "supabase", ref, role; no sub, no aud):
    /// `--key service_role` is the guide's SERVICE_ROLE_KEY.
    #[arg(long, value_enum, conflicts_with_all = ["role", "email"])]
    pub key: Option<ProjectKey>,
    /// The project ref a project API key names.
    #[arg(long = "ref", id = "project_ref", default_value = "local", value_name = "PROJECT_REF")]
    pub project_ref: String,
    #[arg(long, value_enum, default_value_t = Role::Authenticated)]
    pub role: Role,
    /// The user's email.
    #[arg(long, value_parser = parse_email)]
    pub email: Option<String>,
    /// Seconds until it expires (at most 30 days).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..=30 * 86400))]
    pub ttl: i64,
}

/// `KEY=VALUE`.
fn parse_pair(s: &str) -> Result<(String, String)> {
    let (k, v) = s.split_once('=').context("expected KEY=VALUE")?;
    if k.is_empty() {
        bail!("expected KEY=VALUE, the key is empty");
    }
    Ok((k.to_string(), v.to_string()))
}

/// `NAME=VALUE`, or `NAME=@FILE` for the contents of a file (as `spin up --variable` takes).
pub fn parse_variable(s: &str) -> Result<(String, String)> {
    let (name, value) = parse_pair(s)?;
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        bail!("variable names are lower-case letters, digits and `_`: `{name}`");
    }
    match value.strip_prefix('@') {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {path} for variable {name}"))?;
            Ok((name, text.trim_end_matches(['\n', '\r']).to_string()))
        }
        None => Ok((name, value)),
    }
}

fn parse_uuid(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let shaped = b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() });
    if !shaped {
        bail!("`{s}` is not a UUID (8-4-4-4-12 hexadecimal digits)");
    }
    Ok(s.to_ascii_lowercase())
}

fn parse_email(s: &str) -> Result<String> {
    let valid = s.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        bail!("`{s}` is not an email address");
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("edge").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_answers_help_and_version() {
        for command in [
            &["up"][..],
            &["db", "migrate"],
            &["db", "status"],
            &["db", "reset"],
            &["build"],
            &["deploy"],
            &["token"],
            &["bench-instantiate"],
        ] {
            for (flag, kind) in
                [("--help", clap::error::ErrorKind::DisplayHelp), ("--version", clap::error::ErrorKind::DisplayVersion)]
            {
                let mut argv = command.to_vec();
                argv.push(flag);
                let answer = parse(&argv).expect_err("help and version end the parse");
                assert_eq!(answer.kind(), kind, "edge {} {flag}", command.join(" "));
                assert_eq!(answer.exit_code(), 0, "edge {} {flag} exits 0", command.join(" "));
            }
        }
    }

    #[test]
    fn spins_spellings_are_understood() {
        let Command::Up(up) = parse(&[
            "up",
            "-f",
            "x/spin.toml",
            "--listen",
            "0.0.0.0:8080",
            "--variable",
            "region=eu",
            "-e",
            "RUST_LOG=info",
            "-c",
            "a",
            "--build",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        assert_eq!(up.app.manifest, PathBuf::from("x/spin.toml"));
        assert_eq!(up.variables, vec![("region".to_string(), "eu".to_string())]);
        assert_eq!(up.env, vec![("RUST_LOG".to_string(), "info".to_string())]);
        assert!(up.build && up.components == ["a"]);
    }

    #[test]
    fn a_misspelt_flag_is_refused_with_a_suggestion() {
        let err = parse(&["up", "--component-idd", "a"]).unwrap_err().to_string();
        assert!(err.contains("--component-id"), "{err}");
        let err = parse(&["upp"]).unwrap_err().to_string();
        assert!(err.contains("up"), "{err}");
    }

    #[test]
    fn tokens_take_only_well_formed_input() {
        assert!(parse(&["token", "--sub", "not-a-uuid"]).is_err());
        assert!(parse(&["token", "--sub", "3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b", "--ttl", "-5"]).is_err());
        assert!(parse(&["token", "--sub", "3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b", "--role", "root"]).is_err());
        assert!(parse(&["token", "--sub", "3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b", "--email", "nobody"]).is_err());
        let Command::Token(t) =
            parse(&["token", "--sub", "3F9C2B7E-5D41-4A8E-9B6F-1C2D3E4F5A6B", "--role", "service-role"])
                .unwrap()
                .command
        else {
            panic!()
        };
        assert_eq!((t.sub.as_deref(), t.role), (Some("3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b"), Role::ServiceRole));
    }

    #[test]
    fn a_token_is_a_user_token_or_a_project_key_never_both() {
        assert!(parse(&["token"]).is_err(), "neither --sub nor --key");
        assert!(parse(&["token", "--key", "service_role", "--sub", "3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b"]).is_err());
        assert!(parse(&["token", "--key", "admin"]).is_err());
        assert!(parse(&["token", "--key", "anon", "--email", "a@b.example"]).is_err(), "a project key has no email");
        let Command::Token(t) = parse(&["token", "--key", "service_role", "--ref", "abcd"]).unwrap().command else {
            panic!()
        };
        assert_eq!((t.key, t.sub, t.project_ref.as_str()), (Some(ProjectKey::ServiceRole), None, "abcd"));
    }

    #[test]
    fn a_variable_can_come_from_a_file() {
        let path = std::env::temp_dir().join(format!("edge-var-{}", std::process::id()));
        std::fs::write(&path, "s3cret\n").unwrap();
        let parsed = parse_variable(&format!("jwt_secret=@{}", path.display())).unwrap();
        assert_eq!(parsed, ("jwt_secret".to_string(), "s3cret".to_string()));
        assert!(parse_variable("jwt_secret=@/no/such/file").is_err());
        assert!(parse_variable("JWT_SECRET=x").is_err());
        std::fs::remove_file(path).unwrap();
    }
}
