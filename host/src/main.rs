//! `edge`: run this Spin application without Spin.
//!
//! ```text
//! edge up [--listen ADDR] [-f spin.toml] [--variable NAME=VALUE]...
//! edge db migrate | status | reset [--db-url URL] [-f spin.toml]
//! edge build [-f spin.toml] [--component NAME]... [--check]
//! edge deploy [--plan] [--target spinkube --out DIR [--image REF] | --target spin] [--variable NAME=VALUE]...
//! edge token --sub UUID [--role ROLE] [--email EMAIL] [--ttl SECONDS]
//! ```

mod bindings;
mod builder;
mod cli;
mod componentize;
mod connections;
mod cpu;
mod deploy;
mod files;
mod imports;
mod key_value;
mod manifest;
mod memory;
mod migrate;
mod outbound;
mod placement;
mod pool;
mod postgres;
mod routes;
mod runtime;
mod schedule;
mod server;
mod settings;
mod spinkube;
mod sqlite;
mod state;
mod token;
mod variables;

use anyhow::{bail, Context, Result};
use cli::Args;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const USAGE: &str = "usage:
  edge up [--listen ADDR] [-f spin.toml] [--variable NAME=VALUE]... [--request-timeout-ms N]
  edge db migrate|status|reset [--db-url URL] [-f spin.toml] [--force]
  edge build [-f spin.toml] [--component NAME]... [--check]   (--check: the built files only)
  edge deploy [-f spin.toml] [--plan] [--variable NAME=VALUE]...
              [--target spinkube --out DIR [--image OCI-REF] [--namespace NS] | --target spin]
  edge token --sub UUID [--role authenticated|service_role|anon] [--email E] [--ttl SECONDS]
  edge bench-instantiate [-f spin.toml] [--component NAME] [--rounds N]";

fn main() {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(args, started) {
        eprintln!("edge: {e:#}");
        std::process::exit(1);
    }
}

fn run(argv: Vec<String>, started: Instant) -> Result<()> {
    let mut args = Args::new(argv);
    let Some(command) = args.command() else {
        println!("{USAGE}");
        return Ok(());
    };
    match command.as_str() {
        "up" => up(args, started),
        "db" => {
            let sub = args.command().context("edge db needs migrate, status or reset")?;
            let manifest = manifest_path(&mut args);
            let db_url = args.value("--db-url");
            let force = args.flag("--force");
            args.finish()?;
            let db_url = migrate::resolve_db_url(db_url, &manifest)?;
            let dir = manifest.parent().map(|p| p.to_path_buf()).unwrap_or_default().join("migrations");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                match sub.as_str() {
                    "migrate" => migrate::migrate(&db_url, &dir).await,
                    "status" => migrate::status(&db_url, &dir).await,
                    "reset" => migrate::reset(&db_url, &dir, force).await,
                    other => bail!("unknown `edge db {other}`\n{USAGE}"),
                }
            })
        }
        "build" => {
            let manifest = manifest_path(&mut args);
            let only = args.values("--component");
            let check_only = args.flag("--check");
            args.finish()?;
            builder::build(&manifest, &only, check_only)
        }
        "deploy" => {
            let manifest = manifest_path(&mut args);
            deploy::command(args, manifest)
        }
        "token" => {
            let sub = args.value("--sub").context("edge token needs --sub UUID")?;
            let role = args.value("--role").unwrap_or_else(|| "authenticated".into());
            let email = args.value("--email");
            let ttl: i64 = args.value("--ttl").map(|v| v.parse()).transpose()?.unwrap_or(3600);
            let manifest = manifest_path(&mut args);
            args.finish()?;
            let secret = migrate::resolve_variable("jwt_secret", &manifest)?
                .context("jwt_secret is not set (SPIN_VARIABLE_JWT_SECRET or .env)")?;
            let issuer = migrate::resolve_variable("jwt_issuer", &manifest)?.filter(|i| !i.is_empty());
            println!("{}", token::mint(&secret, &sub, &role, email.as_deref(), issuer.as_deref(), ttl));
            Ok(())
        }
        "bench-instantiate" => {
            let manifest = manifest_path(&mut args);
            let name = args.value("--component").unwrap_or_else(|| "subscription-status".into());
            let rounds: usize = args.value("--rounds").map(|v| v.parse()).transpose()?.unwrap_or(2000);
            args.finish()?;
            bench_instantiate(&manifest, &name, rounds)
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n{USAGE}"),
    }
}

fn manifest_path(args: &mut Args) -> PathBuf {
    args.value("-f").or_else(|| args.value("--from")).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("spin.toml"))
}

fn load(manifest: &PathBuf, overrides: &[(String, String)]) -> Result<(manifest::App, settings::EdgeSettings, Arc<state::Shared>)> {
    let app = manifest::App::load_to_run(manifest)?;
    let settings = settings::EdgeSettings::from_table(&app.edge_settings())?;
    let mut env: HashMap<String, String> = std::env::vars().collect();
    for (k, v) in overrides {
        env.insert(variables::env_key(k), v.clone());
    }
    let app_variables = variables::AppVariables::resolve(&app.manifest, &app.dir, &env)?;
    let pools = pool::Pools::new(settings.pg_pool_size.filter(|n| *n > 0).unwrap_or(pool::DEFAULT_MAX_CONNECTIONS));
    let state_dir = app.state_dir();
    let shared = Arc::new(state::Shared {
        app_variables,
        pools,
        key_value: key_value::Stores::new(state_dir.join("key_value.db")),
        sqlite: sqlite::Databases::new(state_dir.join("sqlite_db.db")),
    });
    Ok((app, settings, shared))
}

fn up(mut args: Args, started: Instant) -> Result<()> {
    let manifest = manifest_path(&mut args);
    let listen = args.value("--listen").unwrap_or_else(|| "127.0.0.1:3000".into());
    let overrides: Vec<(String, String)> = args
        .values("--variable")
        .into_iter()
        .map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).context("--variable takes NAME=VALUE"))
        .collect::<Result<_>>()?;
    let only = args.values("--component-id");
    let timeout: Option<u64> = args.value("--request-timeout-ms").map(|v| v.parse()).transpose()?;
    args.finish()?;

    let (app, settings, shared) = load(&manifest, &overrides)?;
    let limits = settings.limits(timeout);
    let descriptors = connections::raise_descriptor_limit();
    let mut connection_limits = settings.connection_limits();
    // Room for the database pool, outbound calls, logs and the compiled-code cache.
    connection_limits.fit_descriptors(descriptors, 256 + pool::DEFAULT_MAX_CONNECTIONS as u64 * 2);
    let schedules = schedule::from_settings(settings.schedule.as_ref()).context("[application.tool.edge] schedule")?;
    let jwt = |name: &str| shared.app_variables.get(name).filter(|v| !v.is_empty()).map(str::to_string);
    let (schedule_secret, schedule_issuer) = (jwt("jwt_secret"), jwt("jwt_issuer"));
    let mut names: Vec<String> = app.manifest.component.keys().cloned().collect();
    if !only.is_empty() {
        names.retain(|n| only.contains(n));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let runtime = runtime::Runtime::new(&app, shared, limits.clone(), &names)?;
        let (router, notes) = app.router(&names)?;
        for note in notes {
            eprintln!("edge: note: {note}");
        }
        let listener = server::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let compiled = runtime.components.values().filter(|c| c.origin == "compiled").count();
        println!(
            "edge: {} components ready in {} ms ({} from cache, {} compiled)",
            runtime.components.len(),
            started.elapsed().as_millis(),
            runtime.components.len() - compiled,
            compiled
        );
        println!("Serving http://{addr}\nAvailable Routes:");
        let mut shown: Vec<_> = router.routes().iter().collect();
        shown.sort_by(|a, b| a.component.cmp(&b.component));
        for r in shown {
            println!("  {}: http://{addr}{}{}", r.component, r.base, if r.wildcard { " (wildcard)" } else { "" });
        }
        println!(
            "Limits: {} requests at once ({} per address), {} s each, {} MiB per instance, {} MiB for all; \
             {} connections ({} per address, {} descriptors); heavy requests compute on {} of {} cores",
            limits.max_concurrent,
            limits.max_concurrent_per_address,
            limits.request_timeout.as_secs_f64(),
            limits.memory_bytes >> 20,
            limits.memory_budget_bytes >> 20,
            connection_limits.max_total,
            connection_limits.max_per_address,
            descriptors,
            runtime.lane.size(),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        );
        let server = server::Server::new(runtime, router, connections::Connections::new(connection_limits), started);
        schedule::start(schedules, addr, schedule_secret, schedule_issuer);
        tokio::select! {
            r = server::serve(server, listener) => r,
            _ = shutdown_signal() => {
                println!("edge: shutting down");
                Ok(())
            }
        }
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn bench_instantiate(manifest: &PathBuf, name: &str, rounds: usize) -> Result<()> {
    let (app, settings, shared) = load(manifest, &[])?;
    let limits = settings.limits(None);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let runtime = runtime::Runtime::new(&app, shared, limits, &[name.to_string()])?;
        let mut samples = runtime::measure_instantiation(&runtime, name, rounds).await?;
        samples.sort();
        let pct = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
        println!(
            "{{\"component\":\"{name}\",\"rounds\":{rounds},\"p50_us\":{:.1},\"p99_us\":{:.1},\"min_us\":{:.1}}}",
            pct(0.50).as_secs_f64() * 1e6,
            pct(0.99).as_secs_f64() * 1e6,
            samples[0].as_secs_f64() * 1e6
        );
        Ok(())
    })
}
