//! The operations: start a run, report it, judge its step, move it on, roll it back, and say
//! where a client key is routed.

use crate::gates::{self, Figures, Verdict};
use crate::health::{self, Check};
use crate::routes::Body;
use crate::settings::{self, int, reason};
use crate::store::{self, Run, Step};
use serde_json::{json, Value};
use shared::canary;
use shared::db::{self, Db};
use shared::http::{envelope, problem_with};
use shared::{Context, FieldError, Problem, Response};

fn ok(ctx: &Context, data: Value, message: &str) -> Result<Response, Problem> {
    Ok(envelope(ctx.function, &ctx.request_id, data, message))
}

/// The green deployment, when it is configured and reachable by the covered functions: their
/// `allowed_outbound_hosts` name green by `green_origin`, so that must be green_base_url's origin.
fn green_base_url() -> Result<String, Problem> {
    let settings = shared::settings::current();
    let green = settings.green_base_url().ok_or_else(|| {
        Problem::new(409, "green_not_configured", "No green deployment is configured")
            .detail("set the green_base_url variable to the green deployment's origin (scheme://host:port)")
    })?;
    let origin = origin_of(green);
    if settings.green_origin() != origin {
        return Err(Problem::new(409, "green_origin_mismatch", "green_origin does not match green_base_url").detail(
            format!(
                "set the green_origin variable to {origin}: the covered functions may only reach green at that origin"
            ),
        ));
    }
    Ok(green.to_string())
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// `initialize_migration`: validate, check green answers its health checks, store the run.
pub async fn initialize(ctx: &Context, db: &Db, actor: &str, body: &Body) -> Result<Response, Problem> {
    let settings = settings::parse(body)?;
    let green = green_base_url()?;
    if db.as_service(|db| store::active(db, false))?.is_some() {
        return Err(store::already_active());
    }
    let checks = health::probe(&green, &settings.functions).await;
    if checks.iter().any(|c| !c.ok) {
        let problem = Problem::new(409, "green_unhealthy", "The green deployment failed its health checks")
            .detail("every covered function must answer its health check on green before traffic moves");
        return Ok(problem_with(
            &problem,
            json!({ "health_checks": checks.iter().map(Check::to_json).collect::<Vec<_>>() }),
        ));
    }
    let (run, step) = db.as_service(|db| -> Result<(Run, Step), Problem> {
        let metrics = json!({ "health_checks": checks.iter().map(Check::to_json).collect::<Vec<_>>() });
        let id = store::insert_run(db, &settings, &green, actor, &metrics)?;
        health::record(db, &id, &checks)?;
        let run = store::require_active(db, false)?;
        let step = store::require_step(db, &run)?;
        Ok((run, step))
    })?;
    let mut reply = envelope(
        ctx.function,
        &ctx.request_id,
        json!({
            "migration": run.to_json(),
            "step": step.to_json(&run),
            "health_checks": checks.iter().map(Check::to_json).collect::<Vec<_>>(),
        }),
        "Migration started",
    );
    reply.status = 201;
    Ok(reply)
}

/// `health-check` (the original's): green's health answers for the functions the active run
/// covers (else every coverable one), now, recorded with the run when one is active. Nothing
/// moves; `overall` is `healthy` when every check passed.
pub async fn health_check(ctx: &Context, db: &Db) -> Result<Response, Problem> {
    let green = green_base_url()?;
    let run = db.as_service(|db| store::active(db, false))?;
    let functions: Vec<String> = match &run {
        Some(r) => r.functions.clone(),
        None => shared::canary::COVERABLE.iter().map(|s| s.to_string()).collect(),
    };
    let checks = health::probe(&green, &functions).await;
    if let Some(r) = &run {
        db.as_service(|db| health::record(db, &r.id, &checks))?;
    }
    let passed = checks.iter().filter(|c| c.ok).count();
    Ok(envelope(
        ctx.function,
        &ctx.request_id,
        json!({
            "overall": if passed == checks.len() { "healthy" } else if passed * 10 >= checks.len() * 7 { "degraded" } else { "unhealthy" },
            "healthy": passed,
            "total": checks.len(),
            "migration_id": run.as_ref().map(|r| r.id.clone()),
            "health_checks": checks.iter().map(Check::to_json).collect::<Vec<_>>(),
        }),
        "Green health checked",
    ))
}

/// `status`: the active run (else the latest), its step, evaluation, transitions and checks.
pub fn status(ctx: &Context, db: &Db) -> Result<Response, Problem> {
    let data = db.as_service(|db| -> Result<Value, Problem> {
        let Some(run) = store::latest(db)? else {
            return Ok(json!({ "active": false, "migration": null, "migrationId": "none" }));
        };
        let step = if run.status == "active" { Some(store::require_step(db, &run)?) } else { None };
        let evaluation = match &step {
            Some(s) => store::last_evaluation(db, &s.id)?,
            None => Value::Null,
        };
        Ok(json!({
            "active": run.status == "active",
            "migrationId": run.id,
            "currentPhase": store::phase(&run.status, run.traffic_percent),
            "trafficSplitPercent": run.traffic_percent,
            "migration": run.to_json(),
            "step": step.as_ref().map(|s| s.to_json(&run)),
            "last_evaluation": evaluation,
            "rollback": store::rollback_of(db, &run.id)?,
            "transitions": store::transitions(db, &run.id, 50)?,
            "health_checks": health::recent(db, &run.id, 20)?,
        }))
    })?;
    ok(ctx, data, "Migration status")
}

/// One judgement of the active run's open step.
struct Evaluation {
    run: Run,
    step: Step,
    verdict: Verdict,
    report: Value,
    /// The reason, when a breached gate rolled the run back.
    rolled_back: Option<String>,
}

/// Probe green, measure, judge, store the judgement; a breached gate rolls back at once.
async fn evaluate_active(db: &Db, actor: &str) -> Result<Evaluation, Problem> {
    let (run, step) = db.as_service(|db| -> Result<(Run, Step), Problem> {
        let run = store::require_active(db, false)?;
        let step = store::require_step(db, &run)?;
        Ok((run, step))
    })?;
    let checks = health::probe(&run.green_base_url, &run.functions).await;
    db.as_service(|db| -> Result<Evaluation, Problem> {
        health::record(db, &run.id, &checks)?;
        let figures: Figures = gates::measure(db, &run, &step.id)?;
        let verdict = gates::judge(&figures, &run.gates, run.min_samples);
        let mut report = gates::report(&figures, &verdict, run.min_samples);
        report["health_checks"] = json!(checks.iter().map(Check::to_json).collect::<Vec<_>>());
        report["step_traffic_percent"] = json!(step.traffic_percent);
        store::save_evaluation(db, &step.id, &report)?;
        let mut rolled_back = None;
        if !verdict.breached().is_empty() {
            // Under the run's lock: a concurrent rollback or advance has already decided.
            if let Some(current) = store::active(db, true)?.filter(|r| r.id == run.id) {
                let reason = verdict.breach_reason();
                store::roll_back(db, &current, actor, &reason, true, Some(&report))?;
                rolled_back = Some(reason);
            }
        }
        Ok(Evaluation { run, step, verdict, report, rolled_back })
    })
}

/// `evaluate`: judge the step now (`advance` does too). The schedule in spin.toml calls
/// `evaluate?if_active=true` every minute: with no active run that is a 200 saying so, not a
/// 409, so an idle minute is not a failed job.
pub async fn evaluate(ctx: &Context, db: &Db, actor: &str, body: &Body) -> Result<Response, Problem> {
    let if_active = match body.get("if_active") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        Some(_) => {
            return Err(Problem::validation(vec![FieldError::new(
                "if_active",
                "invalid_boolean",
                "if_active must be true or false",
            )]))
        }
    };
    if if_active && db.as_service(|db| store::active(db, false))?.is_none() {
        return ok(ctx, json!({ "active": false, "action": "none" }), "No migration is active");
    }
    let e = evaluate_active(db, actor).await?;
    let run = db.as_service(store::latest)?.unwrap_or(e.run);
    let action = if e.rolled_back.is_some() { "rolled_back" } else { "none" };
    ok(
        ctx,
        json!({
            "migration": run.to_json(),
            "step": e.step.to_json(&run),
            "evaluation": e.report,
            "action": action,
            "rollback_reason": e.rolled_back,
        }),
        if e.rolled_back.is_some() { "Gate breached: migration rolled back" } else { "Step evaluated" },
    )
}

/// `advance`: after the bake time and with every gate passing, the next step of the plan;
/// at 100 % the run completes.
pub async fn advance(ctx: &Context, db: &Db, actor: &str, body: &Body) -> Result<Response, Problem> {
    let mut errors = Vec::new();
    let why = reason(body, "gates passed over the bake time", &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let e = evaluate_active(db, actor).await?;
    if let Some(reason) = &e.rolled_back {
        let p = Problem::new(409, "gate_breached", "A gate is breached: the migration was rolled back")
            .detail(reason.clone());
        return Ok(problem_with(&p, json!({ "evaluation": e.report })));
    }
    if e.step.elapsed_seconds < e.run.bake_seconds as f64 {
        let remaining = (e.run.bake_seconds as f64 - e.step.elapsed_seconds).ceil();
        let p = Problem::new(409, "bake_time_not_elapsed", "The step has not baked long enough").detail(format!(
            "{:.0} s of {} s at {} % elapsed; {remaining:.0} s remain",
            e.step.elapsed_seconds.floor(),
            e.run.bake_seconds,
            e.run.traffic_percent
        ));
        return Ok(problem_with(&p, json!({ "bake_remaining_seconds": remaining, "evaluation": e.report })));
    }
    if !e.verdict.all_pass() {
        let missing: Vec<String> =
            e.verdict.insufficient().iter().map(|g| format!("{}: {}", g.name, g.detail)).collect();
        let p =
            Problem::new(422, "insufficient_samples", "Too few samples to judge the step").detail(missing.join("; "));
        return Ok(problem_with(&p, json!({ "evaluation": e.report })));
    }
    let (run, message) = db.as_service(|db| -> Result<(Run, &'static str), Problem> {
        let run = store::require_active(db, true)?;
        if run.id != e.run.id || run.traffic_percent != e.run.traffic_percent {
            return Err(Problem::new(409, "migration_changed", "The migration changed while it was evaluated")
                .detail("read its status and try again"));
        }
        let message = match run.next_percent() {
            Some(next) => {
                store::end_step(db, &run.id, "advanced")?;
                store::set_percent(db, &run.id, next)?;
                store::start_step(db, &run.id, next)?;
                store::transition(
                    db,
                    &run.id,
                    "advance",
                    Some("active"),
                    "active",
                    Some(run.traffic_percent),
                    next,
                    actor,
                    &why,
                    Some(&e.report),
                )?;
                "Migration advanced"
            }
            None => {
                store::end_step(db, &run.id, "completed")?;
                store::finish(db, &run.id, "completed", 100, &why)?;
                store::transition(
                    db,
                    &run.id,
                    "complete",
                    Some("active"),
                    "completed",
                    Some(100),
                    100,
                    actor,
                    &why,
                    Some(&e.report),
                )?;
                "Migration completed"
            }
        };
        Ok((store::latest(db)?.unwrap_or(run), message))
    })?;
    let step = db.as_service(|db| store::open_step(db, &run.id))?;
    ok(
        ctx,
        json!({
            "migration": run.to_json(),
            "previous_percent": e.run.traffic_percent,
            "step": step.map(|s| s.to_json(&run)),
            "evaluation": e.report,
        }),
        message,
    )
}

/// `GET traffic-split`: the configured share and the measured one in the open step.
pub fn traffic_split_view(ctx: &Context, db: &Db) -> Result<Response, Problem> {
    let data = db.as_service(|db| -> Result<Value, Problem> {
        let Some(run) = store::active(db, false)? else {
            return Ok(json!({ "active": false, "traffic_percent": 0 }));
        };
        let step = store::require_step(db, &run)?;
        let rows = db.query(
            "SELECT count(*) FILTER (WHERE m.deployment_color = 'blue') AS blue, \
                    count(*) FILTER (WHERE m.deployment_color = 'forwarded') AS forwarded, \
                    count(*) FILTER (WHERE m.deployment_color = 'green') AS green \
               FROM public.performance_metrics m \
               JOIN public.migration_runs r ON r.id = $1::uuid \
               JOIN public.migration_steps s ON s.id = $2::uuid \
              WHERE m.function_name = ANY (r.functions) AND m.route NOT LIKE '%/health' \
                AND m.created_at >= s.started_at",
            &[db::uuid(&run.id), db::uuid(&step.id)],
        )?;
        let r = rows.one()?;
        let (blue, forwarded, green) = (r.i64("blue")?, r.i64("forwarded")?, r.i64("green")?);
        let total = blue + forwarded;
        Ok(json!({
            "active": true,
            "migration_id": run.id,
            "traffic_percent": run.traffic_percent,
            "step": step.to_json(&run),
            "requests": { "served_by_blue": blue, "forwarded_to_green": forwarded, "green_rows": green },
            "measured_green_percent": (total > 0).then(|| store::round1(forwarded as f64 * 100.0 / total as f64)),
        }))
    })?;
    ok(ctx, data, "Traffic split")
}

/// `POST traffic-split {"target_percent": n}`: set the share directly (a new step; bake restarts).
pub fn set_traffic_split(ctx: &Context, db: &Db, actor: &str, body: &Body) -> Result<Response, Problem> {
    let mut errors = Vec::new();
    let name =
        ["target_percent", "targetPercent", "target_traffic_percent"].into_iter().find(|n| body.contains_key(*n));
    let target = match name {
        Some(n) => int(body, n, 0, 0, 100, &mut errors),
        None => {
            errors.push(FieldError::new("target_percent", "required", "target_percent (0–100) is required"));
            0
        }
    };
    let why = reason(body, "traffic split set by an operator", &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let run = db.as_service(|db| -> Result<Run, Problem> {
        let run = store::require_active(db, true)?;
        if run.traffic_percent == target {
            return Err(Problem::new(409, "traffic_unchanged", "The traffic split is already that")
                .detail(format!("green already receives {target} %")));
        }
        let context = store::step_context(db, &run)?;
        store::end_step(db, &run.id, "traffic_split")?;
        store::set_percent(db, &run.id, target)?;
        store::start_step(db, &run.id, target)?;
        store::transition(
            db,
            &run.id,
            "traffic_split",
            Some("active"),
            "active",
            Some(run.traffic_percent),
            target,
            actor,
            &why,
            Some(&context),
        )?;
        store::require_active(db, false)
    })?;
    ok(ctx, json!({ "migration": run.to_json(), "targetPercent": target }), "Traffic split updated")
}

/// `execute_rollback`: traffic to 0 % at once, with the reason.
pub fn rollback(ctx: &Context, db: &Db, actor: &str, body: &Body) -> Result<Response, Problem> {
    let mut errors = Vec::new();
    let why = reason(body, "manual rollback requested", &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let run = db.as_service(|db| -> Result<Run, Problem> {
        let run = store::require_active(db, true)?;
        let context = store::step_context(db, &run)?;
        store::roll_back(db, &run, actor, &why, false, Some(&context))?;
        Ok(store::latest(db)?.unwrap_or(run))
    })?;
    let rollback = db.as_service(|db| store::rollback_of(db, &run.id))?;
    ok(ctx, json!({ "migration": run.to_json(), "reason": why, "rollback": rollback }), "Migration rolled back")
}

/// `route?key=`: where a client key goes now. The key is as the middleware forms it
/// (`user:<uuid>`, `ip:<address>`, `service_role`); a bare uuid means that user.
pub fn route(ctx: &Context, db: &Db, body: &Body) -> Result<Response, Problem> {
    let key = match body.get("key") {
        Some(Value::String(k)) if !k.trim().is_empty() && k.chars().count() <= 256 => k.trim().to_string(),
        _ => {
            return Err(Problem::validation(vec![FieldError::new(
                "key",
                "required",
                "key (the client key: user:<uuid>, ip:<address>, or a user uuid) of 1 to 256 characters is required",
            )]))
        }
    };
    let key = if shared::params::is_uuid(&key) { format!("user:{}", key.to_ascii_lowercase()) } else { key };
    let run = db.as_service(|db| store::active(db, false))?;
    let percent = run.as_ref().map(|r| r.traffic_percent).unwrap_or(0);
    let bucket = canary::bucket(&key);
    ok(
        ctx,
        json!({
            "key": key,
            "bucket": bucket,
            "traffic_percent": percent,
            "colour": if canary::goes_green(&key, percent) { "green" } else { "blue" },
            "migration_id": run.as_ref().map(|r| r.id.clone()),
            "functions": run.as_ref().map(|r| r.functions.clone()).unwrap_or_default(),
        }),
        "Route of a client key",
    )
}
