//! Reports say exactly what happened: every change ends as done, already applied,
//! adopted, partly done, failed, skipped or not started, with the same words and
//! counts in the table, the JSON, the summary line and the journal.

use crate::common::{Env, apply_outcomes, run, text};
use crate::resume::last_summary;

async fn plan(env: &Env, name: &str) -> std::path::PathBuf {
    let path = env.path(name);
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(&path);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    path
}

fn writes(env: &Env) -> u64 {
    env.emulator
        .request_counts()
        .iter()
        .filter(|(route, _)| !route.starts_with("GET ") && !route.contains("/oauth/token"))
        .map(|(_, n)| *n)
        .sum()
}

fn journal_outcomes(plan: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(auth0_sync::apply::journal::path_for(plan))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "change")
        .map(|v| v["outcome"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_plan_whose_changes_are_all_in_place_sends_nothing_and_says_so() {
    let env = Env::demo().await;
    let first = plan(&env, "first.json").await;
    let second = plan(&env, "second.json").await;
    let mut c = env.cmd();
    c.args(["apply", "--format", "json"]).arg(&first);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // "sent" is exactly the write requests the tenant saw.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["sent"], writes(&env), "{report}");
    assert_eq!(report["summary"]["done"], 11, "{report}");

    let before = writes(&env);
    let mut c = env.cmd();
    c.arg("apply").arg(&second);
    let out = run(c).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(writes(&env), before, "nothing was sent");
    assert!(
        stdout.contains("Apply: 0 sent: 0 done, 11 already applied, 0 adopted, 0 partly done, 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("Made by this run: 0 created, 0 unblocked, 0 updated, 0 blocked, 0 deleted."), "{stdout}");
    // The journal says the same, change by change and in its summary.
    let outcomes = journal_outcomes(&second);
    assert_eq!(outcomes.len(), 11, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| o == "already_applied"), "{outcomes:?}");
    let summary = last_summary(&second);
    assert_eq!(summary["already_applied"], 11);
    assert_eq!(summary["sent"], 0);

    // And the JSON report, run once more (now every change is in the journal).
    let mut c = env.cmd();
    c.args(["apply", "--format", "json"]).arg(&second);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (all, failed) = apply_outcomes(&out);
    assert!(failed.is_empty());
    assert_eq!(all.len(), 11);
    assert!(all.iter().all(|o| o["status"] == "already_applied" && o["requests"] == 0), "{all:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["already_applied"], 11);
    assert_eq!(last_summary(&second), report["summary"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_is_applied_only_when_get_user_says_404() {
    // The user is gone from the tenant when apply starts: its snapshot lacks it, and
    // only `GET /users/{id}` answering 404 lets apply record the delete as applied.
    let env = Env::demo().await;
    let p = plan(&env, "p.json").await;
    let admin = crate::common::Admin::new(&env).await;
    let dave = "auth0%7C64a0000000000000000000d4";
    assert!(admin.send(reqwest::Method::DELETE, &format!("users/{dave}"), serde_json::json!({})).await.is_success());
    let gets_before = env.emulator.request_counts().get("GET /api/v2/users/{id}").copied().unwrap_or(0);
    let mut c = env.cmd();
    c.args(["apply", "--format", "json"]).arg(&p);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (all, _) = apply_outcomes(&out);
    let d = all.iter().find(|o| o["email"] == "dave@acme.example").unwrap();
    assert_eq!(d["status"], "already_applied", "{d}");
    assert_eq!(d["requests"], 0);
    let gets = env.emulator.request_counts().get("GET /api/v2/users/{id}").copied().unwrap_or(0);
    assert!(gets > gets_before, "the absence was confirmed with GET /users/{{id}}");
}
