//! The engine: compiled components (cached on disk), pre-instantiation, and one fresh,
//! limited instance per request.

use crate::cpu::{HeavyLane, Meter};
use crate::logs::ComponentStderr;
use crate::manifest::App;
use crate::memory::{MemoryBudget, MemoryLimiter};
use crate::outbound::OutboundPolicy;
use crate::state::{ComponentInfo, OutboundHooks, RequestState, Shared};
use crate::trace::RequestScope;
use crate::variables::{ComponentVariables, Template};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::WasiHttpCtx;

/// Limits applied to every request.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Wall-clock time one request may take (guest CPU and waiting alike).
    pub request_timeout: Duration,
    /// Linear memory all live instances may hold together (see `memory`).
    pub memory_budget_bytes: usize,
    /// Instances serving clients at once; further requests wait for a slot. Calls between
    /// components have as many slots again of their own, so a request never waits for a slot
    /// its own caller holds.
    pub max_concurrent: usize,
    /// Instances serving one client address at once.
    pub max_concurrent_per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 128 << 20,
            memory_budget_bytes: 2 << 30,
            request_timeout: Duration::from_secs(30),
            max_concurrent: 200,
            max_concurrent_per_address: 150,
        }
    }
}

/// How often the epoch advances: the time slice of busy guest code, and the resolution of
/// its time limit.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

pub struct LoadedComponent {
    pub pre: ProxyPre<RequestState>,
    pub info: Arc<ComponentInfo>,
    /// The component's stdout and stderr, `.edge/logs/<name>_{stdout,stderr}.txt`, opened once.
    /// Its stderr is also shown in the console (see `logs`).
    logs: Option<(wasmtime_wasi::cli::OutputFile, Arc<std::fs::File>)>,
    /// Where the compiled code came from: "cache" or "compiled".
    pub origin: &'static str,
    /// `environment`: the component's environment variables.
    environment: Vec<(String, String)>,
    /// `files`: the directory mounted read-only at `/`, if the component has files.
    files: Option<PathBuf>,
}

pub struct Runtime {
    pub engine: Engine,
    pub components: HashMap<String, LoadedComponent>,
    pub shared: Arc<Shared>,
    pub limits: Limits,
    pub memory: Arc<MemoryBudget>,
    pub lane: HeavyLane,
}

/// How much of a linear memory a recycled slot keeps resident (see `engine`). With
/// PAGEMAP_SCAN: the pages a request of a hot component dirties, with room to spare. Without
/// it: the first bytes only, as they are memset whether they were used or not.
const KEEP_RESIDENT_SCANNED: usize = 2 << 20;
const KEEP_RESIDENT_FIRST: usize = 256 << 10;

pub fn engine(limits: &Limits) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    let mut pool = PoolingAllocationConfig::default();
    // Client slots, as many again for calls between components, and a few spare.
    let slots = (2 * limits.max_concurrent + 16) as u32;
    pool.total_component_instances(slots);
    pool.total_core_instances(slots * 8);
    pool.total_memories(slots * 2);
    pool.total_tables(slots * 4);
    pool.max_memory_size(limits.memory_bytes);
    pool.max_memories_per_component(4);
    pool.max_core_instances_per_component(20);
    // Reset a slot's pages with memset instead of returning them to the kernel: the madvise,
    // TLB shootdown and page faults per request cost more than the instance itself. With
    // PAGEMAP_SCAN (Linux 6.7+) only the pages the instance dirtied are reset, wherever they
    // are. That matters because a Rust component's stack sits below its data at 1 MiB: "the
    // first N bytes" are the untouched bottom of the stack. Measured (subscription-status,
    // 50 connections): 10 page faults per request to none, host CPU -10 %, peak RSS -17 MiB.
    let scanned = PoolingAllocationConfig::is_pagemap_scan_available();
    pool.pagemap_scan(if scanned { Enabled::Yes } else { Enabled::No });
    pool.linear_memory_keep_resident(if scanned { KEEP_RESIDENT_SCANNED } else { KEEP_RESIDENT_FIRST });
    pool.table_keep_resident(64 << 10);
    pool.async_stack_keep_resident(256 << 10);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)?;
    // Advance the epoch on a clock so runaway guest code is interrupted at its deadline.
    let ticker = engine.weak();
    std::thread::Builder::new().name("edge-epoch".into()).spawn(move || loop {
        std::thread::sleep(EPOCH_TICK);
        match ticker.upgrade() {
            Some(e) => e.increment_epoch(),
            None => break,
        }
    })?;
    Ok(engine)
}

/// Compile a component, or load it from the on-disk cache keyed by its bytes and the engine.
pub fn load_component(engine: &Engine, wasm_path: &Path, cache_dir: &Path) -> Result<(Component, &'static str)> {
    let bytes = std::fs::read(wasm_path)
        .with_context(|| format!("cannot read {} (run `edge build` first)", wasm_path.display()))?;
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let mut h = Sha256::new();
    h.update(&bytes);
    h.update(engine_hash.finish().to_le_bytes());
    let key = credentials::encoding::hex(&h.finalize());
    let cached = cache_dir.join(format!("{key}.cwasm"));
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of this same engine
        // configuration (the key includes the engine's compatibility hash), in a directory
        // only this host writes.
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(c) => return Ok((c, "cache")),
            Err(e) => {
                crate::logs::warn("edge", None, &format!("ignoring unusable cache entry {}: {e}", cached.display()))
            }
        }
    }
    // A core module is componentized first, as Spin does (the cache holds the result).
    let bytes = crate::componentize::componentize_if_module(&bytes)
        .with_context(|| format!("failed to componentize {}", wasm_path.display()))?;
    let component = Component::new(engine, &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile {}", wasm_path.display()))?;
    std::fs::create_dir_all(cache_dir)?;
    static TMP_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = TMP_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = cache_dir.join(format!("{key}.tmp{}.{seq}", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, &cached)?;
    Ok((component, "compiled"))
}

impl Runtime {
    pub fn new(app: &App, shared: Arc<Shared>, limits: Limits, names: &[String]) -> Result<Runtime> {
        let engine = engine(&limits)?;
        let cache_dir = app.state_dir().join("cache");
        let log_dir = app.state_dir().join("logs");
        std::fs::create_dir_all(&log_dir)?;
        let mut linker: Linker<RequestState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::bindings::SpinServices::add_to_linker::<_, wasmtime::component::HasSelf<RequestState>>(
            &mut linker,
            |s| s,
        )?;

        // Compile (or load) every component in parallel: the cold path is CPU-bound.
        let jobs: Vec<(String, PathBuf)> =
            names.iter().map(|n| Ok((n.clone(), app.source_path(n)?))).collect::<Result<_>>()?;
        let results: Vec<(String, Result<(Component, &'static str)>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|(name, path)| {
                    let engine = &engine;
                    let cache_dir = &cache_dir;
                    scope.spawn(move || (name.clone(), load_component(engine, path, cache_dir)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("compile thread panicked")).collect()
        });

        let mut components = HashMap::new();
        let all_ids: Vec<String> = app.manifest.component.keys().cloned().collect();
        let files_root = app.state_dir().join("files");
        for (name, loaded) in results {
            let (component, origin) = loaded?;
            let decl = &app.manifest.component[&name];
            let outbound = OutboundPolicy::new(&decl.allowed_outbound_hosts, &shared.app_variables, &all_ids);
            if let Some(why) = outbound.error() {
                // As in Spin, the component runs, and every outbound attempt is refused for this reason.
                eprintln!("edge: component `{name}` has no outbound access: allowed_outbound_hosts: {why}");
            }
            let templates = decl
                .variables
                .iter()
                .map(|(k, v)| Ok((k.clone(), Template::parse(v).map_err(|e| anyhow::anyhow!("{e}"))?)))
                .collect::<Result<_>>()
                .with_context(|| format!("component `{name}` variables"))?;
            let files = crate::files::mount(&app.dir, &files_root.join(&name), decl)
                .with_context(|| format!("component `{name}` files"))?;
            let info = Arc::new(ComponentInfo {
                name: name.clone(),
                outbound,
                variables: ComponentVariables::new(templates),
                key_value_stores: decl.key_value_stores.clone(),
                sqlite_databases: decl.sqlite_databases.clone(),
            });
            let environment = decl.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let pre = ProxyPre::new(
                linker
                    .instantiate_pre(&component)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("component `{name}` imports something this host does not provide"))?,
            )?;
            let open = |suffix: &str| {
                std::fs::OpenOptions::new().create(true).append(true).open(log_dir.join(format!("{name}_{suffix}.txt")))
            };
            let logs = match (open("stdout"), open("stderr")) {
                (Ok(o), Ok(e)) => Some((wasmtime_wasi::cli::OutputFile::new(o), Arc::new(e))),
                _ => None,
            };
            components.insert(name, LoadedComponent { pre, info, origin, logs, environment, files });
        }
        let memory = MemoryBudget::new(limits.memory_budget_bytes);
        Ok(Runtime { engine, components, shared, limits, memory, lane: HeavyLane::for_this_machine() })
    }

    /// A fresh store for one request of `component`, due by `deadline`; `server` serves its
    /// calls to other components; `scope` names the request in logs and traces.
    pub fn new_store(
        &self,
        component: &LoadedComponent,
        deadline: Instant,
        server: Option<Arc<crate::server::Server>>,
        chained: bool,
        scope: Arc<RequestScope>,
    ) -> Store<RequestState> {
        let mut wasi = WasiCtx::builder();
        // The component's own `environment`, then `edge up -e` (the command line wins).
        wasi.envs(&component.environment);
        for (k, v) in &self.shared.env {
            wasi.env(k, v);
        }
        if let Some(dir) = &component.files {
            if let Err(e) = wasi.preopened_dir(dir, "/", FsPerms::ReadOnly) {
                crate::logs::warn(&component.info.name, Some(&*scope), &format!("cannot mount its files: {e:#}"));
            }
        }
        // wasi:sockets: connections only where allowed_outbound_hosts allows them (as tcp:// or
        // udp://, or any scheme); no listening sockets. The implicit bind of an outgoing
        // connection (any address, any port) is let through, an explicit bind is not.
        wasi.allow_tcp(true).allow_udp(true);
        let info = component.info.clone();
        let socket_scope = scope.clone();
        wasi.socket_addr_check(move |addr, usage| {
            let implicit = addr.ip().is_unspecified() && addr.port() == 0;
            let allowed = match usage {
                SocketAddrUse::TcpBind => implicit,
                SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
                SocketAddrUse::TcpConnect => info.outbound.allows_socket(addr, false),
                SocketAddrUse::UdpBind => implicit || info.outbound.allows_socket(addr, true),
                SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => info.outbound.allows_socket(addr, true),
            };
            if !allowed {
                let why = info.outbound.error().map(|e| format!(" ({e})")).unwrap_or_default();
                crate::logs::warn(
                    &info.name,
                    Some(&*socket_scope),
                    &format!("socket {usage:?} {addr} refused: not in allowed_outbound_hosts{why}"),
                );
            }
            Box::pin(async move { allowed })
        });
        let stderr_file = match &component.logs {
            Some((out, err)) => {
                wasi.stdout(out.clone());
                Some(err.clone())
            }
            None => {
                wasi.inherit_stdout();
                None
            }
        };
        wasi.stderr(ComponentStderr::new(stderr_file, &component.info.name, scope.clone()));
        let state = RequestState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks { component: component.info.clone(), server, deadline, scope },
            memory: MemoryLimiter::new(self.limits.memory_bytes, self.memory.clone()),
            chained,
            deadline,
            cpu: Meter::new(self.lane.clone()),
            component: component.info.clone(),
            shared: self.shared.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        // At every tick: past the deadline the instance traps; otherwise it yields (see `cpu`).
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|store| {
            let state = store.data();
            if Instant::now() >= state.deadline {
                return Err(wasmtime::Trap::Interrupt.into());
            }
            Ok(state.cpu.on_tick())
        });
        store
    }
}

/// Time to create and instantiate one instance, for the benchmark.
pub async fn measure_instantiation(runtime: &Runtime, name: &str, rounds: usize) -> Result<Vec<Duration>> {
    let component = runtime.components.get(name).with_context(|| format!("no component `{name}`"))?;
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let scope = Arc::new(RequestScope::inbound(&http::HeaderMap::new()));
        let mut store =
            runtime.new_store(component, Instant::now() + runtime.limits.request_timeout, None, false, scope);
        let _proxy = component.pre.instantiate_async(&mut store).await?;
        out.push(started.elapsed());
    }
    Ok(out)
}
