//! A crash never loses or repeats work: apply is SIGKILLed at several points (during
//! creates, role assignments, removals and deletes) against an emulator with latency,
//! then run again; Ctrl-C stops cleanly and says how to resume.

use crate::common::{Env, run, text};
use auth0_emulator::EmulatorOptions;
use auth0_sync::apply::journal::{Entry, path_for};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

async fn slow_env() -> Env {
    let opts = EmulatorOptions { latency_ms: 40, ..Default::default() };
    Env::with_options(crate::common::demo_state(), include_bytes!("../../examples/demo/hr.sqlite"), opts).await
}

fn journal_lines(plan: &Path) -> usize {
    std::fs::read_to_string(path_for(plan)).map(|t| t.lines().count()).unwrap_or(0)
}

/// Starts `apply` and sends `signal` once the journal has `lines` lines. Returns
/// whether the signal was sent before the run ended by itself, and the output.
async fn apply_until(env: &Env, plan: &Path, lines: usize, signal: &str) -> (bool, std::process::Output) {
    let mut cmd = env.std_cmd();
    cmd.args(["apply", "--concurrency", "1"]).arg(plan);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let plan = plan.to_path_buf();
    let signal = signal.to_owned();
    tokio::task::spawn_blocking(move || {
        let child = cmd.spawn().unwrap();
        let pid = child.id().to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut sent = false;
        let mut child = child;
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if journal_lines(&plan) >= lines {
                std::process::Command::new("kill").args([signal.as_str(), &pid]).status().unwrap();
                sent = true;
                break;
            }
            assert!(Instant::now() < deadline, "apply did not progress");
            std::thread::sleep(Duration::from_millis(2));
        }
        (sent, child.wait_with_output().unwrap())
    })
    .await
    .unwrap()
}

/// Journal entries of changes, by outcome.
fn journal_changes(plan: &Path) -> Vec<(u32, String)> {
    std::fs::read_to_string(path_for(plan))
        .unwrap()
        .lines()
        .filter_map(|l| match serde_json::from_str::<Entry>(l).ok()? {
            Entry::Change { id, outcome, .. } => Some((id, outcome)),
            _ => None,
        })
        .collect()
}

async fn converged(env: &Env, plan: &Path) {
    let mut c = env.cmd();
    c.args(["plan", "--detailed-exitcode", "--out"]).arg(env.path("after.json"));
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "tenant did not reach the desired state:\n{}", text(&out.stdout));
    // Nobody created twice.
    let state = env.emulator.state().await;
    let mut per_email: BTreeMap<String, usize> = BTreeMap::new();
    for u in state.users.iter().filter(|u| u.connection == crate::common::CONNECTION) {
        *per_email.entry(u.email.clone().unwrap_or_default()).or_default() += 1;
    }
    assert!(per_email.values().all(|n| *n == 1), "{per_email:?}");
    // A create the killed process sent may still be executed by the tenant after the
    // process died (and after the resume's snapshot): the resume's create then meets
    // a 409 and finds the user by email. So requests may exceed 4, users may not.
    let creates = env.emulator.request_counts().get("POST /api/v2/users").copied().unwrap_or(0);
    assert!((4..=5).contains(&creates), "{creates} create requests");
    // No change was done twice: at most one `done` per change id.
    let mut done: BTreeMap<u32, usize> = BTreeMap::new();
    for (id, outcome) in journal_changes(plan) {
        if outcome == "done" {
            *done.entry(id).or_default() += 1;
        }
    }
    assert!(done.values().all(|n| *n == 1), "{done:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_every_stage_then_resume() {
    // Journal lines: 1 = run started; then one per finished change, in the order
    // creates (heidi has no roles, so she finishes first), role batches, removals, deletes.
    for kill_at in [1usize, 2, 3, 5, 6, 7, 8] {
        let env = slow_env().await;
        let plan = env.path("plan.json");
        let mut c = env.cmd();
        c.args(["plan", "--out"]).arg(&plan);
        assert!(run(c).await.status.success());

        let (killed, out) = apply_until(&env, &plan, kill_at, "-KILL").await;
        assert!(killed, "apply finished before reaching journal line {kill_at}: {}", text(&out.stdout));
        // Resume (possibly several kills deep: once more with a later kill point).
        let mut c = env.cmd();
        c.arg("apply").arg(&plan);
        let out = run(c).await;
        assert!(out.status.success(), "resume after kill at {kill_at}: {}{}", text(&out.stdout), text(&out.stderr));
        converged(&env, &plan).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_finishes_in_flight_work_and_says_how_to_resume() {
    let env = slow_env().await;
    let plan = env.path("plan.json");
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(&plan);
    assert!(run(c).await.status.success());

    // Line 5: past the demo's rename, adoption and profile update (#13), in the creates.
    let (sent, out) = apply_until(&env, &plan, 5, "-INT").await;
    assert!(sent);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("auth0_sync::apply::interrupted") && err.contains("run the same"), "{err}");
    let before_resume = journal_changes(&plan).len();
    assert!(before_resume >= 2, "the journal keeps what was done: {before_resume}");

    let mut c = env.cmd();
    c.arg("apply").arg(&plan);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("already done by an earlier run"), "{}", text(&out.stdout));
    converged(&env, &plan).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_reports_every_change_in_the_same_categories_as_the_journal() {
    let env = slow_env().await;
    let plan = env.path("plan.json");
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(&plan);
    assert!(run(c).await.status.success());

    let mut cmd = env.std_cmd();
    cmd.args(["apply", "--concurrency", "1", "--format", "json"]).arg(&plan);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let plan2 = plan.clone();
    let out = tokio::task::spawn_blocking(move || {
        let child = cmd.spawn().unwrap();
        let pid = child.id().to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        // Interrupt once a create has its user but not yet its roles (or later).
        while journal_lines(&plan2) < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report after Ctrl-C");
    assert_eq!(report["interrupted"], true);
    let s = &report["summary"];
    let total: u64 = ["done", "already_applied", "adopted", "partly_done", "failed", "skipped", "not_started"]
        .iter()
        .map(|k| s[k].as_u64().unwrap())
        .sum();
    assert_eq!(total, 11, "every change has exactly one outcome: {s}");
    assert_eq!(report["outcomes"].as_array().unwrap().len(), 11);
    assert!(s["not_started"].as_u64().unwrap() + s["partly_done"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(crate::resume::last_summary(&plan), *s, "the journal's summary is the report's");
    let err = text(&out.stderr);
    let line = format!("{} sent", s["sent"]);
    assert!(err.contains(&line) && err.contains(&format!("{} not started", s["not_started"])), "{err}");
}
