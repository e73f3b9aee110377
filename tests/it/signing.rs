//! Signed plans against the real binary: `keygen`, `plan` with AUTH0_SYNC_SIGNING_KEY,
//! `show`, and every refusal of `apply` with AUTH0_SYNC_VERIFY_KEY (unsigned, another
//! key, edited after signing, a re-checksummed forgery), each before any request to
//! the tenant. The private key never shows up in output, plans or errors.

use crate::common::{Env, mode, run, text};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The request count the emulator has seen so far (every path, every method).
fn requests(env: &Env) -> u64 {
    env.emulator.request_counts().values().sum()
}

/// Runs `keygen --out DIR` and returns (private, public, fingerprint printed).
async fn keygen(env: &Env, dir: &str) -> (PathBuf, PathBuf, String) {
    let mut c = env.cmd();
    c.args(["keygen", "--out"]).arg(env.path(dir));
    let out = run(c).await;
    assert!(out.status.success(), "keygen failed: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let fp = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Key fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint in {stdout}"))
        .to_owned();
    let (private, public) = (env.path(dir).join("plan-signing.key"), env.path(dir).join("plan-signing.pub"));
    // The private key's body never reaches the output.
    let pem = std::fs::read_to_string(&private).unwrap();
    assert_no_private_key(&pem, &[&stdout, &text(&out.stderr)]);
    (private, public, fp)
}

/// The base64 lines of a PEM key.
fn pem_body(pem: &str) -> Vec<String> {
    pem.lines().filter(|l| !l.starts_with("-----") && !l.is_empty()).map(str::to_owned).collect()
}

fn assert_no_private_key(pem: &str, outputs: &[&str]) {
    let body = pem_body(pem);
    assert!(!body.is_empty());
    for out in outputs {
        for line in &body {
            assert!(!out.contains(line.as_str()), "the private key appears in:\n{out}");
        }
        assert!(!out.contains("PRIVATE KEY"), "a private key appears in:\n{out}");
    }
}

/// `plan --out NAME` with the signing key (if any); returns the plan path.
async fn plan(env: &Env, name: &str, signing_key: Option<&Path>) -> PathBuf {
    let path = env.path(name);
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(&path);
    if let Some(k) = signing_key {
        c.env("AUTH0_SYNC_SIGNING_KEY", k);
    }
    let out = run(c).await;
    assert!(out.status.success(), "plan failed: {}\n{}", text(&out.stdout), text(&out.stderr));
    path
}

/// `apply PLAN` with the verify key (if any).
async fn apply(env: &Env, plan: &Path, verify_key: Option<&Path>) -> std::process::Output {
    let mut c = env.cmd();
    c.arg("apply").arg(plan);
    if let Some(k) = verify_key {
        c.env("AUTH0_SYNC_VERIFY_KEY", k);
    }
    run(c).await
}

/// Apply must refuse with `code`, having sent nothing and changed nothing.
async fn assert_refused_untouched(env: &Env, plan: &Path, verify_key: &Path, code: &str) -> String {
    let (before, sent) = (env.emulator.state().await, requests(env));
    let out = apply(env, plan, Some(verify_key)).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "apply should refuse:\n{}\n{stderr}", text(&out.stdout));
    assert!(stderr.contains(code), "expected {code} in:\n{stderr}");
    assert_eq!(requests(env), sent, "a refused apply sent requests to the tenant");
    assert_eq!(env.emulator.state().await, before, "a refused apply changed the tenant");
    stderr
}

/// The checksum as `Plan` computes it, recomputed with the project's canonical form
/// (the crate's own function, so the forgery is as good as a forger can make it).
fn reseal(v: &mut Value) {
    let plan: auth0_sync::plan::Plan = serde_json::from_value(v.clone()).expect("still a plan");
    v["checksum"] = json!(plan.compute_checksum());
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn write_json(p: &Path, v: &Value) {
    std::fs::write(p, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn keygen_writes_a_private_key_0600_and_never_overwrites() {
    let env = Env::demo().await;
    let (private, public, fp) = keygen(&env, "keys").await;
    assert_eq!(mode(&private), 0o600);
    assert!(std::fs::read_to_string(&private).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(std::fs::read_to_string(&public).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    assert!(fp.starts_with("sha256:") && fp.len() == 71, "{fp}");
    let key_before = std::fs::read(&private).unwrap();

    let mut c = env.cmd();
    c.args(["keygen", "--out"]).arg(env.path("keys"));
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("auth0_sync::keygen::exists"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&private).unwrap(), key_before, "keygen overwrote a key");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_plan_records_the_key_and_applies_with_the_verify_key() {
    let env = Env::demo().await;
    let (private, public, fp) = keygen(&env, "keys").await;
    let path = plan(&env, "plan.json", Some(&private)).await;
    let v = read_json(&path);
    assert_eq!(v["signature"]["key"], json!(fp));
    assert_eq!(v["signature"]["algorithm"], "ed25519");
    let plan_text = std::fs::read_to_string(&path).unwrap();
    let pem = std::fs::read_to_string(&private).unwrap();
    assert_no_private_key(&pem, &[&plan_text]);
    // Nor in any output or log line, at the most verbose level, in every format.
    for format in ["table", "json", "markdown"] {
        let mut c = env.cmd();
        c.args(["-vv", "--log-format", "json", "plan", "--overwrite", "--format", format, "--out"])
            .arg(env.path("verbose.json"))
            .env("AUTH0_SYNC_SIGNING_KEY", &private);
        let out = run(c).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_no_private_key(&pem, &[&text(&out.stdout), &text(&out.stderr)]);
    }

    // show says it is signed, by which key, and whether it checked.
    let mut c = env.cmd();
    c.arg("show").arg(&path);
    let out = run(c).await;
    assert!(out.status.success());
    assert!(text(&out.stdout).contains(&format!("Signature: signed by key {fp}")), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("not checked here"), "{}", text(&out.stderr));
    let mut c = env.cmd();
    c.args(["show", "--format", "markdown", "--verify-key"]).arg(&public).arg(&path);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("Signature: valid, by key {fp}")), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("signed by key {fp}")));

    let out = apply(&env, &path, Some(&public)).await;
    assert!(out.status.success(), "apply of a signed plan failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    let state = env.emulator.state().await;
    assert!(state.users.iter().any(|u| u.email.as_deref() == Some("grace@acme.example")), "the plan was not applied");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_an_unsigned_plan() {
    let env = Env::demo().await;
    let (_, public, fp) = keygen(&env, "keys").await;
    let path = plan(&env, "plan.json", None).await;
    let err = assert_refused_untouched(&env, &path, &public, "auth0_sync::plan::unsigned").await;
    let flat: String = err.split_whitespace().collect();
    assert!(flat.contains(&fp), "the diagnostic names the expected key:\n{err}");
    // Without a verify key the same unsigned plan is accepted: signatures are
    // required only where the verify key is set.
    assert!(apply(&env, &path, None).await.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_a_plan_signed_by_another_key() {
    let env = Env::demo().await;
    let (private, _, fp) = keygen(&env, "keys").await;
    let (_, other_public, other_fp) = keygen(&env, "other").await;
    let path = plan(&env, "plan.json", Some(&private)).await;
    let err = assert_refused_untouched(&env, &path, &other_public, "auth0_sync::plan::wrong_key").await;
    let flat: String = err.split_whitespace().collect();
    assert!(flat.contains(&fp) && flat.contains(&other_fp), "both keys are named:\n{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_a_plan_edited_after_signing() {
    let env = Env::demo().await;
    let (private, public, _) = keygen(&env, "keys").await;
    let path = plan(&env, "plan.json", Some(&private)).await;
    // A role granted on top of what was reviewed; the checksum is left as it was.
    let mut v = read_json(&path);
    let i = v["changes"].as_array().unwrap().iter().position(|c| c["action"] == "create_user").unwrap();
    v["changes"][i]["after"]["roles"] = json!(["admin", "editor", "viewer"]);
    write_json(&path, &v);
    assert_refused_untouched(&env, &path, &public, "auth0_sync::plan::signature_mismatch").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_a_rechecksummed_forgery() {
    let env = Env::demo().await;
    let (private, public, _) = keygen(&env, "keys").await;
    let path = plan(&env, "plan.json", Some(&private)).await;
    // The attack of issue #12: a create turned into `eve@evil.example +admin`, the
    // checksum recomputed so that the plan is self-consistent.
    let mut v = read_json(&path);
    let i = v["changes"].as_array().unwrap().iter().position(|c| c["action"] == "create_user").unwrap();
    v["changes"][i]["user"]["email"] = json!("eve@evil.example");
    v["changes"][i]["after"]["roles"] = json!(["admin"]);
    let recount = |v: &Value| {
        let plan: auth0_sync::plan::Plan = serde_json::from_value(v.clone()).unwrap();
        let (a, r) =
            plan.changeset.changes.iter().fold((0, 0), |(a, r), c| (a + c.assign().len(), r + c.remove().len()));
        (a, r)
    };
    let (assigned, removed) = recount(&v);
    v["summary"]["roles_assigned"] = json!(assigned);
    v["summary"]["roles_removed"] = json!(removed);
    reseal(&mut v);
    write_json(&path, &v);

    // The checksum alone is fooled: without a verify key the forgery parses.
    let mut c = env.cmd();
    c.args(["show", "--format", "json"]).arg(&path);
    let out = run(c).await;
    assert!(out.status.success(), "the forgery should pass the checksum: {}", text(&out.stderr));

    assert_refused_untouched(&env, &path, &public, "auth0_sync::plan::signature_mismatch").await;
    let state = env.emulator.state().await;
    assert!(!state.users.iter().any(|u| u.email.as_deref() == Some("eve@evil.example")));
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_the_signature_does_not_help_a_forger() {
    let env = Env::demo().await;
    let (private, public, _) = keygen(&env, "keys").await;
    let path = plan(&env, "plan.json", Some(&private)).await;
    let mut v = read_json(&path);
    v.as_object_mut().unwrap().remove("signature");
    reseal(&mut v);
    write_json(&path, &v);
    assert_refused_untouched(&env, &path, &public, "auth0_sync::plan::unsigned").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_files_of_the_wrong_kind_are_refused_without_showing_them() {
    let env = Env::demo().await;
    let (private, public, _) = keygen(&env, "keys").await;
    let path = plan(&env, "plan.json", Some(&private)).await;
    // The private key given as the verify key: refused, and not echoed.
    let (before, sent) = (env.emulator.state().await, requests(&env));
    let out = apply(&env, &path, Some(&private)).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("auth0_sync::gate::bad_key") && stderr.contains("private key"), "{stderr}");
    assert_no_private_key(&std::fs::read_to_string(&private).unwrap(), &[&stderr, &text(&out.stdout)]);
    assert_eq!((env.emulator.state().await, requests(&env)), (before, sent));

    // The public key given as the signing key: plan refuses before reading anything.
    let sent = requests(&env);
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(env.path("p2.json")).env("AUTH0_SYNC_SIGNING_KEY", &public);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("auth0_sync::gate::bad_key"), "{}", text(&out.stderr));
    assert_eq!(requests(&env), sent, "plan with an unusable key contacted the tenant");
    assert!(!env.path("p2.json").exists());
}
