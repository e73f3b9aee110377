//! Shared helpers for CLI tests: an emulated tenant on a random port, a SQLite HR
//! table in a temp dir, and the `auth0-sync` binary run with only the settings given.
#![allow(dead_code)]

use assert_cmd::Command;
use auth0_emulator::{Emulator, TenantState};
use std::path::{Path, PathBuf};

pub const CONNECTION: &str = "Username-Password-Authentication";
pub const QUERY: &str = "SELECT employee_id, email, role, name, given_name, family_name, department AS \"app_metadata.department\" FROM employees WHERE active = 1";

/// The demo tenant (examples/demo/tenant.json).
pub fn demo_state() -> TenantState {
    serde_json::from_str(include_str!("../../examples/demo/tenant.json")).unwrap()
}

/// Removes roles from a state, and from every user holding them.
pub fn remove_roles(state: &mut TenantState, names: &[&str]) {
    let ids: Vec<String> =
        state.roles.iter().filter(|r| names.contains(&r.name.as_str())).map(|r| r.id.clone()).collect();
    state.roles.retain(|r| !ids.contains(&r.id));
    for u in &mut state.users {
        u.roles.retain(|r| !ids.contains(r));
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub emulator: Emulator,
    pub db: PathBuf,
    /// The application whose credentials the tool uses (the state's first client).
    pub app: auth0_emulator::state::ClientApp,
}

impl Env {
    /// Emulator with the demo tenant, and the demo HR database copied to a temp dir.
    pub async fn demo() -> Env {
        Self::with(demo_state(), include_bytes!("../../examples/demo/hr.sqlite")).await
    }

    pub async fn with(state: TenantState, db_bytes: &[u8]) -> Env {
        Self::with_options(state, db_bytes, auth0_emulator::EmulatorOptions::default()).await
    }

    pub async fn with_options(state: TenantState, db_bytes: &[u8], options: auth0_emulator::EmulatorOptions) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hr.sqlite");
        std::fs::write(&db, db_bytes).unwrap();
        let app = state.clients[0].clone();
        let emulator = Emulator::start_with("127.0.0.1:0".parse().unwrap(), state, None, options).await.unwrap();
        Env { dir, emulator, db, app }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The demo settings for this environment.
    pub fn vars(&self) -> Vec<(String, String)> {
        let app = &self.app;
        [
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("NO_COLOR", "1".into()),
            ("USERS_DB_URL", format!("sqlite:{}", self.db.display())),
            ("USERS_DB_QUERY", QUERY.into()),
            ("AUTH0_URL", self.emulator.base_url()),
            ("AUTH0_CLIENT_ID", app.client_id.clone()),
            ("AUTH0_CLIENT_SECRET", app.client_secret.clone()),
            ("AUTH0_CONNECTION", CONNECTION.into()),
            ("CLIENT_IGNORE_USERS", "ci-bot@acme.example,*@auditors.acme.example".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The binary as a plain `std::process::Command`, set up like [`Env::cmd`].
    pub fn std_cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("auth0-sync"));
        c.env_clear().current_dir(self.dir.path()).envs(self.vars());
        c
    }

    /// The binary, in the temp dir, with a clean environment plus the demo settings.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("auth0-sync").unwrap();
        c.env_clear().current_dir(self.dir.path()).envs(self.vars());
        c
    }
}

/// Runs a blocking command from an async test without stalling the emulator.
pub async fn run(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

/// The outcomes of `apply --format json` and those of them that failed.
pub fn apply_outcomes(out: &std::process::Output) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("apply --format json output");
    let all = report["outcomes"].as_array().expect("outcomes").clone();
    let failed = all.iter().filter(|o| o["status"] == "failed").cloned().collect();
    (all, failed)
}

/// `POST /oauth/token` with client credentials, as the tool sends it.
pub async fn token_request(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> reqwest::Response {
    http.post(format!("{base}/oauth/token"))
        .json(&serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": id,
            "client_secret": secret,
            "audience": format!("{base}/api/v2/"),
        }))
        .send()
        .await
        .expect("token request")
}

/// An access token from the emulator at `base` (the request must succeed).
pub async fn access_token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> String {
    let resp = token_request(http, base, id, secret).await;
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let v: serde_json::Value = resp.json().await.expect("token json");
    v["access_token"].as_str().expect("access_token").to_owned()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Changes the tenant behind the tool's back, through the Management API, as a
/// person in the Auth0 dashboard would.
pub struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    pub async fn new(env: &Env) -> Admin {
        let app = demo_state().clients[0].clone();
        let base = env.emulator.base_url();
        let http = reqwest::Client::new();
        let token = access_token(&http, &base, &app.client_id, &app.client_secret).await;
        Admin { http, base, token }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: serde_json::Value) -> reqwest::StatusCode {
        let r = self
            .http
            .request(method, format!("{}/api/v2/{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        r.status()
    }
}
