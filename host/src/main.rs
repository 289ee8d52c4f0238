//! `edge`: run this Spin application without Spin. `edge --help` and `edge <command> --help`
//! say what each command takes (see cli.rs).

mod adopt;
mod bindings;
mod builder;
mod cli;
mod componentize;
mod connections;
mod cpu;
mod deploy;
mod figures;
mod files;
mod imports;
mod key_value;
mod logs;
mod manifest;
mod memory;
mod migrate;
mod otlp;
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
mod trace;
mod variables;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command, DbAction};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let started = Instant::now();
    let cli = Cli::parse();
    if let Err(e) = run(cli, started) {
        eprintln!("edge: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli, started: Instant) -> Result<()> {
    match cli.command {
        Command::Up(up) => self::up(up, started),
        Command::Db { action, target } => {
            let db_url = migrate::resolve_db_url(target.db_url, &target.manifest)?;
            let dir = target.manifest.parent().map(|p| p.to_path_buf()).unwrap_or_default().join("migrations");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                match action {
                    DbAction::Migrate => migrate::migrate(&db_url, &dir).await,
                    DbAction::Status => migrate::status(&db_url, &dir).await,
                    DbAction::Reset { force } => migrate::reset(&db_url, &dir, force).await,
                }
            })
        }
        Command::Build(b) => builder::build(&b.app.manifest, &b.components, b.check),
        Command::Deploy(d) => deploy::command(d),
        Command::Token(t) => {
            let secret = migrate::resolve_variable("jwt_secret", &t.app.manifest)?
                .context("jwt_secret is not set (SPIN_VARIABLE_JWT_SECRET or .env)")?;
            let issuer = migrate::resolve_variable("jwt_issuer", &t.app.manifest)?.filter(|i| !i.is_empty());
            match (t.key, t.sub) {
                (Some(key), _) => {
                    let role = if key == cli::ProjectKey::ServiceRole { "service_role" } else { "anon" };
                    println!("{}", token::mint_project_key(&secret, role, &t.project_ref, t.ttl))
                }
                (None, Some(sub)) => {
                    println!(
                        "{}",
                        token::mint(&secret, &sub, t.role.as_str(), t.email.as_deref(), issuer.as_deref(), t.ttl)
                    )
                }
                (None, None) => anyhow::bail!("edge token needs --sub UUID (a user token) or --key service_role|anon"),
            }
            Ok(())
        }
        Command::BenchInstantiate { app, component, rounds } => bench_instantiate(&app.manifest, &component, rounds),
    }
}

fn load(
    manifest: &Path,
    overrides: &[(String, String)],
    component_env: Vec<(String, String)>,
) -> Result<(manifest::App, settings::EdgeSettings, Arc<state::Shared>)> {
    let app = manifest::App::load_to_run(manifest)?;
    let settings = settings::EdgeSettings::from_table(&app.edge_settings())?;
    let mut env: HashMap<String, String> = std::env::vars().collect();
    for (k, v) in overrides {
        env.insert(variables::env_key(k), v.clone());
    }
    let app_variables = variables::AppVariables::resolve(&app.manifest, &app.dir, &env)?;
    let env = component_env;
    let pools = pool::Pools::new(settings.pg_pool_size.filter(|n| *n > 0));
    let spin_compat = std::env::var("EDGE_SPIN_COMPAT").is_ok_and(|v| v == "1");
    let state_dir = app.state_dir();
    let shared = Arc::new(state::Shared {
        app_variables,
        pools,
        spin_compat,
        env,
        key_value: key_value::Stores::new(state_dir.join("key_value.db")),
        sqlite: sqlite::Databases::new(state_dir.join("sqlite_db.db")),
    });
    Ok((app, settings, shared))
}

fn up(up: cli::Up, started: Instant) -> Result<()> {
    let manifest = up.app.manifest;
    if up.build {
        builder::build(&manifest, &up.components, false)?;
    }
    let listen = up.listen;
    let overrides = up.variables;
    let only = up.components;
    let timeout = up.request_timeout_ms;
    logs::set_format(up.log_format);
    let (app, settings, shared) = load(&manifest, &overrides, up.env)?;
    let limits = settings.limits(timeout);
    let descriptors = connections::raise_descriptor_limit();
    let mut connection_limits = settings.connection_limits();
    // Room for the database pool (at its largest: `pg_pool_size`, or a remote database's size),
    // outbound calls, logs and the compiled-code cache.
    let pool_at_most = settings.pg_pool_size.filter(|n| *n > 0).unwrap_or(pgvalue::REMOTE_POOL_SIZE);
    connection_limits.fit_descriptors(descriptors, 256 + pool_at_most as u64 * 2);
    let schedules = schedule::from_settings(settings.schedule.as_ref()).context("[application.tool.edge] schedule")?;
    let jwt = |name: &str| shared.app_variables.get(name).filter(|v| !v.is_empty()).map(str::to_string);
    let (schedule_secret, schedule_issuer) = (jwt("jwt_secret"), jwt("jwt_issuer"));
    let mut names: Vec<String> = app.manifest.component.keys().cloned().collect();
    if let Some(unknown) = only.iter().find(|n| !names.contains(n)) {
        anyhow::bail!("--component-id {unknown}: the manifest has no such component (it has {})", names.join(", "));
    }
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
        logs::banner(&format!(
            "edge: {} components ready in {} ms ({} from cache, {} compiled)",
            runtime.components.len(),
            started.elapsed().as_millis(),
            runtime.components.len() - compiled,
            compiled
        ));
        logs::banner(&format!("Serving http://{addr}"));
        logs::banner("Available Routes:");
        let mut shown: Vec<_> = router.routes().iter().collect();
        shown.sort_by(|a, b| a.component.cmp(&b.component));
        for r in shown {
            logs::banner(&format!(
                "  {}: http://{addr}{}{}",
                r.component,
                r.base,
                if r.wildcard { " (wildcard)" } else { "" }
            ));
        }
        logs::banner(&format!(
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
        ));
        let figures = Arc::new(figures::RequestFigures::default());
        let exporter =
            otlp::Config::from_env(|k| std::env::var(k).ok(), &app.manifest.application.name).map(|config| {
                let to: Vec<String> = [&config.traces, &config.metrics]
                    .iter()
                    .filter_map(|u| u.as_ref().map(|u| u.to_string()))
                    .collect();
                logs::banner(&format!("OTLP: exporting to {}", to.join(" and ")));
                otlp::Exporter::start(config, figures.clone())
            });
        let server = server::Server::new(
            runtime,
            router,
            connections::Connections::new(connection_limits),
            started,
            figures,
            exporter,
        );
        schedule::start(schedules, addr, schedule_secret, schedule_issuer);
        tokio::select! {
            r = server::serve(server, listener) => r,
            _ = shutdown_signal() => {
                logs::banner("edge: shutting down");
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

fn bench_instantiate(manifest: &Path, name: &str, rounds: usize) -> Result<()> {
    let (app, settings, shared) = load(manifest, &[], Vec::new())?;
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
