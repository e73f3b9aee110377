//! The emulator's state file: load errors that name the file, atomic save through
//! `shutdown`, and the in-process pieces of `auth0-sync emulator` (`serve_until_with`).

use auth0_emulator::state::{ClientApp, StateConnection};
use auth0_emulator::{Emulator, EmulatorOptions, TenantState, serve_until_with};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn tenant() -> TenantState {
    TenantState {
        clients: vec![ClientApp {
            client_id: "sync".into(),
            client_secret: "s3cret".into(),
            scopes: vec!["create:users".into(), "read:users".into()],
        }],
        connections: vec![StateConnection {
            id: "con_db".into(),
            name: "DB".into(),
            strategy: "auth0".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn token(http: &reqwest::Client, base: &str) -> String {
    crate::common::access_token(http, base, "sync", "s3cret").await
}

async fn create(http: &reqwest::Client, base: &str, tok: &str, email: &str) -> reqwest::StatusCode {
    http.post(format!("{base}/api/v2/users"))
        .bearer_auth(tok)
        .json(&json!({"connection": "DB", "email": email, "password": "Sup3r-secret-pw"}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn shutdown_saves_and_load_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenant.json");
    let emu = Emulator::start("127.0.0.1:0".parse().unwrap(), tenant(), Some(path.clone())).await.unwrap();
    let http = reqwest::Client::new();
    let base = emu.base_url();
    assert_eq!(base, format!("http://{}", emu.addr()));
    assert!(base.starts_with("http://127.0.0.1:"));
    let tok = token(&http, &base).await;
    assert_eq!(create(&http, &base, &tok, "a@example.com").await, 201);
    let returned = emu.shutdown().await.unwrap();
    assert_eq!(returned.users.len(), 1);

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("Sup3r-secret-pw"), "password must never be stored");
    let loaded = TenantState::load(&path).unwrap();
    assert_eq!(loaded, returned);
    // No temporary files left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // Serving the loaded state again keeps the user (409 on re-create).
    let emu = Emulator::start("127.0.0.1:0".parse().unwrap(), loaded, None).await.unwrap();
    let base = emu.base_url();
    let tok = token(&http, &base).await;
    assert_eq!(create(&http, &base, &tok, "a@example.com").await, 409);
    emu.shutdown().await.unwrap();
    assert_eq!(TenantState::load(&path).unwrap(), returned, "no state_path: no save");
}

#[tokio::test]
async fn load_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let e = TenantState::load(&missing).unwrap_err().to_string();
    assert!(e.contains("missing.json") && e.contains("cannot read"), "{e}");

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"users\": [{\"user_id\": 5}]}").unwrap();
    let e = TenantState::load(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.json") && e.contains("users[0].user_id"), "{e}");

    let incons = dir.path().join("incons.json");
    std::fs::write(&incons, r#"{"users": [{"user_id": "auth0|1", "connection": "Nope"}]}"#).unwrap();
    let e = TenantState::load(&incons).unwrap_err().to_string();
    assert!(e.contains("incons.json") && e.contains("\"Nope\""), "{e}");

    // Bind failure is an emulator error naming the address.
    let first = Emulator::start("127.0.0.1:0".parse().unwrap(), tenant(), None).await.unwrap();
    let Err(e) = Emulator::start(first.addr(), tenant(), None).await else {
        panic!("second bind on the same port must fail");
    };
    assert!(e.to_string().contains(&first.addr().to_string()), "{e}");
}

/// A `Write` the test can read while `serve_until_with` holds it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn serve_until_prints_the_listening_line_first_and_saves_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenant.json");
    tenant().save(&path).unwrap();
    let out = Shared::default();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = {
        let (path, mut out) = (path.clone(), out.clone());
        tokio::spawn(async move {
            serve_until_with(&path, "127.0.0.1:0".parse().unwrap(), EmulatorOptions::default(), &mut out, async {
                let _ = rx.await;
            })
            .await
        })
    };
    let mut line = String::new();
    for _ in 0..100 {
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        if let Some(l) = text.lines().next() {
            line = l.to_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let base = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("first line was {line:?}")).to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let http = reqwest::Client::new();
    let tok = token(&http, &base).await;
    assert_eq!(create(&http, &base, &tok, "b@example.com").await, 201);
    tx.send(()).unwrap();
    let state = task.await.unwrap().unwrap();
    assert_eq!(state.users.len(), 1);
    assert_eq!(TenantState::load(&path).unwrap(), state);
    assert_eq!(
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap(),
        format!("{line}\n"),
        "nothing else is printed"
    );
}

/// The demo tenant file as shipped, copied to a temp dir (issue #15 item 12: pointing
/// the emulator at it must not dirty the repository).
fn demo_copy(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("tenant.json");
    std::fs::copy("examples/demo/tenant.json", &path).unwrap();
    path
}

/// Runs `serve_with` on `path` (saving or not), lets `during` talk to it, then stops it.
async fn serve_then_stop<F, Fut>(path: &std::path::Path, save: bool, during: F) -> TenantState
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let out = Shared::default();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = {
        let (path, mut out) = (path.to_path_buf(), out.clone());
        tokio::spawn(async move {
            auth0_emulator::serve_with(
                &path,
                save,
                "127.0.0.1:0".parse().unwrap(),
                EmulatorOptions::default(),
                &mut out,
                async {
                    let _ = rx.await;
                },
            )
            .await
        })
    };
    let mut base = None;
    for _ in 0..100 {
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        if let Some(l) = text.lines().next() {
            base = l.strip_prefix("listening on ").map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    during(base.expect("listening line")).await;
    tx.send(()).unwrap();
    task.await.unwrap().unwrap()
}

async fn demo_create(base: String) {
    let http = reqwest::Client::new();
    let tok =
        crate::common::access_token(&http, &base, "demo-m2m-client", "demo-only-secret-not-used-anywhere-else").await;
    let r = http
        .post(format!("{base}/api/v2/users"))
        .bearer_auth(tok)
        .json(&json!({"connection": "Username-Password-Authentication", "email": "new@acme.example",
            "password": "Sup3r-secret-pw", "verify_email": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn an_untouched_tenant_leaves_its_file_alone_and_no_save_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = demo_copy(dir.path());
    let shipped = std::fs::read(&path).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    // Reads (and a token) change nothing: the file is not rewritten.
    serve_then_stop(&path, true, |base| async move {
        let http = reqwest::Client::new();
        let tok =
            crate::common::access_token(&http, &base, "demo-m2m-client", "demo-only-secret-not-used-anywhere-else")
                .await;
        let r = http.get(format!("{base}/api/v2/users")).bearer_auth(tok).send().await.unwrap();
        assert_eq!(r.status(), 200);
    })
    .await;
    assert_eq!(std::fs::read(&path).unwrap(), shipped, "rewritten although nothing changed");
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    // --no-save: a change is served, then forgotten.
    let state = serve_then_stop(&path, false, demo_create).await;
    assert_eq!(state.users.len(), 10);
    assert_eq!(std::fs::read(&path).unwrap(), shipped, "--no-save wrote the file");
    // Control: with saving, the same change is written.
    let state = serve_then_stop(&path, true, demo_create).await;
    assert_eq!(TenantState::load(&path).unwrap(), state);
    assert_ne!(std::fs::read(&path).unwrap(), shipped);
}

/// `auth0-sync emulator --state FILE [ARGS]`, stopped by SIGTERM after `during`.
fn run_binary(path: &std::path::Path, args: &[&str], during: impl FnOnce(&str)) -> std::process::ExitStatus {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("auth0-sync"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--state"])
        .arg(path)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first:?}")).to_owned();
    during(&url);
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap()
}

#[test]
fn the_binary_keeps_an_unchanged_or_no_save_state_file_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = demo_copy(dir.path());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let shipped = std::fs::read(&path).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let exit = run_binary(&path, &[], |url| {
        let r = reqwest::blocking::get(format!("{url}/api/v2/users")).unwrap();
        assert_eq!(r.status(), 401);
    });
    assert!(exit.success(), "{exit:?}");
    let exit = run_binary(&path, &["--no-save"], |url| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(demo_create(url.to_owned()));
    });
    assert!(exit.success(), "--no-save must not try to write a read-only file: {exit:?}");
    assert_eq!(std::fs::read(&path).unwrap(), shipped);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o444);
}
