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
            requires_username: false,
            password_policy: None,
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
