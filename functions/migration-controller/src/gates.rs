//! The gates of a step, judged from real rows.
//!
//! Samples (performance_metrics of the run's functions, health routes excluded):
//! - errors: what clients of each colour saw. Blue: rows blue wrote for requests it served
//!   itself (`blue`) since the run started. Green: rows blue wrote for requests it forwarded
//!   (`forwarded`, green's answer; 502 when green could not be reached) since the step started.
//!   A green that cannot even write its own rows still shows up here.
//! - latency: the processing time of each build. Blue's own rows since the run started against
//!   green's own rows (`green`, written by the green host) since the step started; the forwarding
//!   hop is not green's fault, so it is left out of the comparison.
//!
//! Blue's window is the whole run because blue's share shrinks as the migration advances (none at
//! 100 %); green's is the step, so each traffic share is judged on its own traffic.
//!
//! A gate with fewer samples than `min_samples` on either side it compares is `insufficient`:
//! never a pass, never a breach. A breach rolls the run back; `advance` needs every gate `pass`.

use crate::settings::Gates;
use crate::store::Run;
use serde_json::{json, Value};
use shared::db::{self, Db, DbError};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub samples: i64,
    pub errors: i64,
    pub p95_ms: Option<f64>,
}

impl Sample {
    pub fn error_rate(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.errors as f64 / self.samples as f64)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Blue's own rows (errors and latency).
    pub blue: Sample,
    /// Blue's rows of forwarded requests: green's answers as clients saw them (errors).
    pub forwarded: Sample,
    /// Green's own rows (latency).
    pub green: Sample,
    /// The longest run of consecutive failed health checks of any function, and which.
    pub failed_health_checks: i64,
    pub failing_function: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Insufficient,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Insufficient => "insufficient",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub gates: Vec<Gate>,
}

impl Verdict {
    pub fn breached(&self) -> Vec<&Gate> {
        self.gates.iter().filter(|g| g.status == Status::Fail).collect()
    }

    pub fn insufficient(&self) -> Vec<&Gate> {
        self.gates.iter().filter(|g| g.status == Status::Insufficient).collect()
    }

    pub fn all_pass(&self) -> bool {
        self.gates.iter().all(|g| g.status == Status::Pass)
    }

    /// The reason a rollback records: every breached gate's finding.
    pub fn breach_reason(&self) -> String {
        let found: Vec<String> = self.breached().iter().map(|g| format!("{}: {}", g.name, g.detail)).collect();
        format!("automatic rollback: {}", found.join("; "))
    }
}

fn pct(rate: f64) -> String {
    format!("{:.2} %", rate * 100.0)
}

/// Judge `f` against `g` with `min` samples required on each compared side.
pub fn judge(f: &Figures, g: &Gates, min: i64) -> Verdict {
    let mut gates = Vec::new();
    let enough_green = f.forwarded.samples >= min;
    let enough_blue = f.blue.samples >= min;
    let green_rate = f.forwarded.error_rate().unwrap_or(0.0);
    let blue_rate = f.blue.error_rate().unwrap_or(0.0);

    gates.push(if !enough_green {
        Gate {
            name: "green_error_rate",
            status: Status::Insufficient,
            detail: format!("{} of {min} green requests so far", f.forwarded.samples),
        }
    } else {
        let status = if green_rate <= g.max_error_rate { Status::Pass } else { Status::Fail };
        Gate {
            name: "green_error_rate",
            status,
            detail: format!(
                "green error rate {} ({} of {}) against at most {}",
                pct(green_rate),
                f.forwarded.errors,
                f.forwarded.samples,
                pct(g.max_error_rate)
            ),
        }
    });

    gates.push(if !enough_green || !enough_blue {
        Gate {
            name: "error_rate_vs_blue",
            status: Status::Insufficient,
            detail: format!("{} green and {} blue requests; {min} of each needed", f.forwarded.samples, f.blue.samples),
        }
    } else {
        let status = if green_rate <= blue_rate + g.error_rate_margin { Status::Pass } else { Status::Fail };
        Gate {
            name: "error_rate_vs_blue",
            status,
            detail: format!(
                "green {} against blue {} plus a margin of {}",
                pct(green_rate),
                pct(blue_rate),
                pct(g.error_rate_margin)
            ),
        }
    });

    // Latency: enough timings on both sides, and worse by the ratio *and* the absolute margin.
    let need = min.max(g.min_latency_samples);
    gates.push(match (f.green.p95_ms, f.blue.p95_ms) {
        (Some(green), Some(blue)) if f.green.samples >= need && f.blue.samples >= need => {
            let limit = g.max_p95_ratio * blue;
            let regressed = green > limit && green - blue >= g.min_p95_increase_ms;
            Gate {
                name: "p95_latency",
                status: if regressed { Status::Fail } else { Status::Pass },
                detail: format!(
                    "green p95 {:.1} ms against blue p95 {:.1} ms: a regression is over {:.1} ms (× {}) and at least {} ms more ({:+.1} ms)",
                    green,
                    blue,
                    limit,
                    g.max_p95_ratio,
                    g.min_p95_increase_ms,
                    green - blue
                ),
            }
        }
        _ => Gate {
            name: "p95_latency",
            status: Status::Insufficient,
            detail: format!("{} green and {} blue timings; {need} of each needed", f.green.samples, f.blue.samples),
        },
    });

    let failing = f.failing_function.as_deref().unwrap_or("-");
    gates.push(Gate {
        name: "health_checks",
        status: if f.failed_health_checks < g.max_failed_health_checks { Status::Pass } else { Status::Fail },
        detail: format!(
            "{} consecutive failed health checks ({failing}); {} or more roll back",
            f.failed_health_checks, g.max_failed_health_checks
        ),
    });
    Verdict { gates }
}

fn sample_json(s: &Sample) -> Value {
    json!({
        "samples": s.samples,
        "errors": s.errors,
        "error_rate": s.error_rate().map(|r| (r * 1e6).round() / 1e6),
        "p95_ms": s.p95_ms.map(|v| (v * 100.0).round() / 100.0),
    })
}

/// The figures and verdicts as stored with the step and in transitions.
pub fn report(f: &Figures, v: &Verdict, min: i64) -> Value {
    json!({
        "min_samples": min,
        "blue": sample_json(&f.blue),
        "green_as_served_to_clients": sample_json(&f.forwarded),
        "green_own_rows": sample_json(&f.green),
        "consecutive_failed_health_checks": f.failed_health_checks,
        "failing_function": f.failing_function,
        "gates": v.gates.iter().map(|g| json!({"gate": g.name, "status": g.status.as_str(), "detail": g.detail})).collect::<Vec<_>>(),
        "breached": !v.breached().is_empty(),
        "all_pass": v.all_pass(),
    })
}

/// The figures of `run`'s step `step_id` from performance_metrics and the health checks.
pub fn measure(db: &Db, run: &Run, step_id: &str) -> Result<Figures, DbError> {
    let rows = db.query(
        "SELECT m.deployment_color AS colour, count(*) AS samples, \
                count(*) FILTER (WHERE m.status >= 500) AS errors, \
                percentile_cont(0.95) WITHIN GROUP (ORDER BY m.duration_ms) AS p95 \
           FROM public.performance_metrics m \
           JOIN public.migration_runs r ON r.id = $1::uuid \
           JOIN public.migration_steps s ON s.id = $2::uuid \
          WHERE m.function_name = ANY (r.functions) \
            AND m.route NOT LIKE '%/health' \
            AND ((m.deployment_color = 'blue' AND m.created_at >= r.started_at) \
              OR (m.deployment_color IN ('forwarded', 'green') AND m.created_at >= s.started_at)) \
          GROUP BY m.deployment_color",
        &[db::uuid(&run.id), db::uuid(step_id)],
    )?;
    let mut f = Figures::default();
    for r in rows.iter() {
        let s = Sample { samples: r.i64("samples")?, errors: r.i64("errors")?, p95_ms: r.float("p95")? };
        match r.string("colour")?.as_str() {
            "blue" => f.blue = s,
            "forwarded" => f.forwarded = s,
            _ => f.green = s,
        }
    }
    // Consecutive failures: failed checks after each function's latest successful one.
    let rows = db.query(
        "SELECT h.function_name, count(*) AS failures \
           FROM public.migration_health_checks h \
          WHERE h.run_id = $1::uuid AND NOT h.ok \
            AND h.checked_at > coalesce((SELECT max(o.checked_at) FROM public.migration_health_checks o \
                                          WHERE o.run_id = h.run_id AND o.function_name = h.function_name AND o.ok), \
                                        '-infinity') \
          GROUP BY h.function_name ORDER BY failures DESC, h.function_name LIMIT 1",
        &[db::uuid(&run.id)],
    )?;
    if let Some(r) = rows.first() {
        f.failed_health_checks = r.i64("failures")?;
        f.failing_function = Some(r.string("function_name")?);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(samples: i64, errors: i64, p95: f64) -> Sample {
        Sample { samples, errors, p95_ms: Some(p95) }
    }

    fn healthy() -> Figures {
        Figures {
            blue: sample(200, 1, 20.0),
            forwarded: sample(100, 0, 24.0),
            green: sample(100, 0, 22.0),
            ..Figures::default()
        }
    }

    fn status(v: &Verdict, name: &str) -> Status {
        v.gates.iter().find(|g| g.name == name).unwrap().status
    }

    #[test]
    fn a_healthy_green_passes_every_gate() {
        let v = judge(&healthy(), &Gates::default(), 50);
        assert!(v.all_pass(), "{v:?}");
        assert!(v.breached().is_empty());
    }

    #[test]
    fn green_errors_over_one_percent_breach() {
        let mut f = healthy();
        f.forwarded = sample(100, 2, 24.0);
        let v = judge(&f, &Gates::default(), 50);
        assert_eq!(status(&v, "green_error_rate"), Status::Fail);
        assert!(v.breach_reason().contains("green error rate 2.00 %"), "{}", v.breach_reason());
    }

    #[test]
    fn green_worse_than_blue_by_more_than_the_margin_breaches() {
        let mut f = healthy();
        f.blue = sample(1000, 0, 20.0);
        f.forwarded = sample(1000, 8, 20.0); // 0.8 %: under 1 %, but 0.8 > 0 + 0.5
        let v = judge(&f, &Gates::default(), 50);
        assert_eq!(status(&v, "green_error_rate"), Status::Pass);
        assert_eq!(status(&v, "error_rate_vs_blue"), Status::Fail);
    }

    #[test]
    fn a_green_200_ms_slower_breaches_the_p95_gate() {
        let mut f = healthy();
        f.green = sample(100, 0, 220.0);
        let v = judge(&f, &Gates::default(), 50);
        assert_eq!(status(&v, "p95_latency"), Status::Fail);
        assert!(v.breach_reason().contains("+200.0 ms"), "{}", v.breach_reason());
    }

    #[test]
    fn a_latency_regression_is_relative_and_absolute() {
        let mut f = healthy();
        // 3 × blue but only 40 ms more: noise on a fast service, not a regression.
        f.green = sample(100, 0, 60.0);
        assert_eq!(status(&judge(&f, &Gates::default(), 50), "p95_latency"), Status::Pass);
        // 50 ms more but within 1.5 × a slow blue: not a regression either.
        f.blue = sample(200, 0, 400.0);
        f.green = sample(100, 0, 450.0);
        assert_eq!(status(&judge(&f, &Gates::default(), 50), "p95_latency"), Status::Pass);
        // Both: a regression.
        f.green = sample(100, 0, 601.0);
        assert_eq!(status(&judge(&f, &Gates::default(), 50), "p95_latency"), Status::Fail);
        // The thresholds are settings.
        let strict = Gates { min_p95_increase_ms: 0.0, ..Gates::default() };
        f.blue = sample(200, 0, 20.0);
        f.green = sample(100, 0, 31.0);
        assert_eq!(status(&judge(&f, &strict, 50), "p95_latency"), Status::Fail);
    }

    #[test]
    fn the_measured_identical_builds_never_fail_the_latency_gate() {
        // The figures: identical builds, 5–20 samples, p95 22.1 ms against 4.9 ms.
        let f = Figures {
            blue: sample(20, 0, 4.9),
            forwarded: sample(20, 0, 6.0),
            green: sample(20, 0, 22.1),
            ..Figures::default()
        };
        let v = judge(&f, &Gates::default(), 5);
        assert_eq!(status(&v, "p95_latency"), Status::Pass, "{v:?}");
        assert!(v.breached().is_empty());
        // Fewer than min_latency_samples timings: no judgement at all.
        let few = Figures { green: sample(8, 0, 300.0), ..f };
        assert_eq!(status(&judge(&few, &Gates::default(), 5), "p95_latency"), Status::Insufficient);
    }

    #[test]
    fn five_consecutive_failed_health_checks_breach() {
        let mut f = healthy();
        f.failed_health_checks = 4;
        assert_eq!(status(&judge(&f, &Gates::default(), 50), "health_checks"), Status::Pass);
        f.failed_health_checks = 5;
        f.failing_function = Some("quote-processor".into());
        let v = judge(&f, &Gates::default(), 50);
        assert_eq!(status(&v, "health_checks"), Status::Fail);
        assert!(v.breach_reason().contains("quote-processor"));
    }

    #[test]
    fn too_few_samples_is_never_a_pass_nor_a_breach() {
        let f = Figures {
            blue: sample(10, 5, 20.0),
            forwarded: sample(3, 3, 90.0),
            green: sample(3, 0, 90.0),
            ..Figures::default()
        };
        let v = judge(&f, &Gates::default(), 50);
        assert!(v.breached().is_empty());
        assert!(!v.all_pass());
        assert_eq!(v.insufficient().len(), 3);
        // No samples at all: the same.
        let v = judge(&Figures::default(), &Gates::default(), 1);
        assert_eq!(v.insufficient().len(), 3);
    }
}
