//! The manifest rules of `host/src/manifest/rules.rs`, through the real commands: each case
//! through `edge up` (accepted when it serves, refused with its reason), and through the real
//! Spin 4.0.2 binary when it is present (`../shared/tools/spin/spin`), which must accept and
//! refuse the same manifests. Cases edge refuses because it does not implement something
//! Spin supports, or because Spin 3.4 refuses them, are listed as such in the table.

#[path = "../../host/src/manifest/rules.rs"]
#[allow(dead_code)]
mod rules;

use e2e::{edge_bin, probe_wasm, root, TempDir};
use rules::{Case, Spin};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A directory holding what the table's manifests name.
fn workspace() -> TempDir {
    let dir = TempDir::new("manifest-rules");
    std::fs::copy(probe_wasm(), dir.0.join("p.wasm")).expect("the probe component (built by scripts/test)");
    std::fs::write(dir.0.join("bad.wasm"), b"not wasm").unwrap();
    std::fs::create_dir_all(dir.0.join("static")).unwrap();
    std::fs::write(dir.0.join("static/a.txt"), b"a").unwrap();
    std::fs::write(dir.0.join("static/b.txt"), b"b").unwrap();
    dir
}

fn write_case(dir: &Path, case: &Case) -> PathBuf {
    let text =
        if case.raw { case.manifest.to_string() } else { format!("spin_manifest_version = 2\n{}", case.manifest) };
    let path = dir.join(format!("{}.toml", case.name));
    std::fs::write(&path, text).unwrap();
    path
}

enum Outcome {
    Served,
    Refused(String),
}

/// Run `command` until it prints `Serving` (accepted: the whole process group is stopped) or
/// exits (refused, with everything it printed).
fn outcome(mut command: Command) -> Outcome {
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = command.spawn().expect("the command starts");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for stream in
        [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || tx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut output = String::new();
    let served = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(chunk) => {
                output.push_str(&chunk);
                if output.contains("Serving http") {
                    break true;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if Instant::now() > deadline => break false,
            Err(_) => {}
        }
    };
    // The whole group: `spin up` runs its trigger as a child process. Each member is killed by
    // its own id (some sandboxes do not deliver a signal sent to a group).
    let members = group_members(pid);
    let _ = Command::new("kill").arg("-9").args(members.iter().map(u32::to_string)).status();
    let _ = child.kill();
    let _ = child.wait();
    if served {
        Outcome::Served
    } else {
        while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            output.push_str(&chunk);
        }
        Outcome::Refused(output)
    }
}

/// The processes of group `group` (the child started with `process_group(0)` and what it
/// started), the child first.
fn group_members(group: u32) -> Vec<u32> {
    let mut members = vec![group];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        // /proc/PID/stat: `pid (comm) state ppid pgrp ...`; comm may hold spaces, so read after ')'.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        if pid != group && fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(group) {
            members.push(pid);
        }
    }
    members
}

fn with_env(mut command: Command, case: &Case) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("SPIN_VARIABLE_") {
            command.env_remove(k);
        }
    }
    command.env("SPIN_VARIABLE_R", "x");
    for (k, v) in case.env {
        command.env(format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v);
    }
    command
}

#[test]
fn edge_up_accepts_and_refuses_every_case_of_the_table() {
    let dir = workspace();
    let mut failures = Vec::new();
    for case in rules::CASES {
        let manifest = write_case(&dir.0, case);
        let mut command = Command::new(edge_bin());
        command.args(["up", "--listen", "127.0.0.1:0", "-f"]).arg(&manifest).current_dir(&dir.0);
        match (case.edge, outcome(with_env(command, case))) {
            (None, Outcome::Served) => {}
            (Some(why), Outcome::Refused(out)) if out.contains(why) => {}
            (None, Outcome::Refused(out)) => {
                failures.push(format!("{}: refused, expected to serve:\n{out}", case.name))
            }
            (Some(why), Outcome::Served) => failures.push(format!("{}: served, expected a refusal ({why})", case.name)),
            (Some(why), Outcome::Refused(out)) => {
                failures.push(format!("{}: refused without {why:?}:\n{out}", case.name))
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), rules::CASES.len(), failures.join("\n\n"));
}

fn spin_bin() -> Option<PathBuf> {
    let bin = root().join("../shared/tools/spin/spin");
    bin.exists().then_some(bin)
}

#[test]
fn spin_accepts_and_refuses_the_same_cases() {
    let Some(spin) = spin_bin() else {
        eprintln!("skipped: the Spin CLI is not at ../shared/tools/spin/spin");
        return;
    };
    let dir = workspace();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in rules::CASES {
        // Spin would connect to a Redis server or ask a registry for these.
        if matches!(case.spin, Spin::NotImplemented(None)) {
            continue;
        }
        let manifest = write_case(&dir.0, case);
        let mut command = Command::new(&spin);
        command
            .args(["up", "--listen", "127.0.0.1:0", "-f"])
            .arg(&manifest)
            .current_dir(&dir.0)
            .env("SPIN_DISABLE_TELEMETRY", "1");
        checked += 1;
        match (case.spin, outcome(with_env(command, case))) {
            (Spin::Accepts | Spin::OnlySpin4Accepts, Outcome::Served) => {}
            (Spin::Refuses(why) | Spin::NotImplemented(Some(why)), Outcome::Refused(out)) if out.contains(why) => {}
            (expected, Outcome::Served) => {
                failures.push(format!("{}: Spin serves it, the table says {expected:?}", case.name))
            }
            (expected, Outcome::Refused(out)) => {
                failures.push(format!("{}: Spin refuses it, the table says {expected:?}:\n{out}", case.name))
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} cases:\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn the_applications_own_manifest_loads() {
    // `edge deploy --plan` reads and checks spin.toml without the built components.
    let out = Command::new(edge_bin()).args(["deploy", "--plan", "-f"]).arg(root().join("spin.toml")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
