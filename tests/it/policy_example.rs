//! The example plan policy (`examples/policy/no_friday_removals.py`, Python 3 with the
//! standard library only; CPython is part of this project's machines) run on plans the
//! tool made: refused on a Friday when the plan removes users, allowed otherwise.

use crate::common::{Env, run, text};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const POLICY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/policy/no_friday_removals.py");
const FRIDAY: &str = "2026-11-27";
const THURSDAY: &str = "2026-11-26";

fn policy(plan: &Path, today: &str) -> Output {
    Command::new("python3")
        .arg(POLICY)
        .args(["--today", today])
        .arg(plan)
        .output()
        .expect("python3 runs (CPython 3 is part of the project's machines)")
}

/// Makes a plan with the binary (`--on-missing` as given) and returns its path.
async fn plan(env: &Env, name: &str, on_missing: &str) -> std::path::PathBuf {
    let path = env.path(name);
    let mut c = env.cmd();
    c.args(["plan", "--on-missing", on_missing, "--out"]).arg(&path);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn no_removals_on_fridays() {
    let env = Env::demo().await;
    let deletes = plan(&env, "deletes.json", "delete").await;
    let blocks = plan(&env, "blocks.json", "block").await;
    let keeps = plan(&env, "keeps.json", "ignore").await;

    for p in [&deletes, &blocks] {
        let out = policy(p, FRIDAY);
        assert_eq!(out.status.code(), Some(1), "{p:?} on a Friday: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("is a Friday"), "{}", text(&out.stderr));
        let out = policy(p, THURSDAY);
        assert_eq!(out.status.code(), Some(0), "{p:?} on a Thursday: {}", text(&out.stderr));
    }
    let out = policy(&keeps, FRIDAY);
    assert_eq!(out.status.code(), Some(0), "no removals, any day: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("0 deletion(s), 0 block(s)"));
    let out = policy(&deletes, FRIDAY);
    assert!(text(&out.stderr).contains("deletes 2 and blocks 0 user(s)"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_show_format_json_from_stdin_and_refuses_other_formats() {
    let env = Env::demo().await;
    let deletes = plan(&env, "deletes.json", "delete").await;
    let mut c = env.cmd();
    c.args(["show", "--format", "json"]).arg(&deletes);
    let shown = run(c).await;
    assert!(shown.status.success());

    let run_stdin = |input: &[u8]| {
        let mut child = Command::new("python3")
            .arg(POLICY)
            .args(["--today", FRIDAY])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    };
    assert_eq!(run_stdin(&shown.stdout).status.code(), Some(1));

    let mut v: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    v["format_version"] = 1.into();
    let out = run_stdin(serde_json::to_string(&v).unwrap().as_bytes());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(run_stdin(b"not json").status.code(), Some(2));
}
