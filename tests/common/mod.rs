//! Shared helpers for CLI tests: an emulated tenant on a random port, a SQLite HR
//! table in a temp dir, and the `auth0-sync` binary run with only the settings given.
#![allow(dead_code)]

use assert_cmd::Command;
use auth0_sync::emulator::{Emulator, TenantState};
use std::path::{Path, PathBuf};

pub const CONNECTION: &str = "Username-Password-Authentication";
pub const QUERY: &str = "SELECT email, role, name, given_name, family_name FROM employees WHERE active = 1";

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
}

impl Env {
    /// Emulator with the demo tenant, and the demo HR database copied to a temp dir.
    pub async fn demo() -> Env {
        Self::with(demo_state(), include_bytes!("../../examples/demo/hr.sqlite")).await
    }

    pub async fn with(state: TenantState, db_bytes: &[u8]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hr.sqlite");
        std::fs::write(&db, db_bytes).unwrap();
        let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), state, None).await.unwrap();
        Env { dir, emulator, db }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary, in the temp dir, with a clean environment plus the demo settings.
    pub fn cmd(&self) -> Command {
        let state = demo_state();
        let app = &state.clients[0];
        let mut c = Command::cargo_bin("auth0-sync").unwrap();
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .env("USERS_DB_URL", format!("sqlite:{}", self.db.display()))
            .env("USERS_DB_QUERY", QUERY)
            .env("AUTH0_URL", self.emulator.base_url())
            .env("AUTH0_CLIENT_ID", &app.client_id)
            .env("AUTH0_CLIENT_SECRET", &app.client_secret)
            .env("AUTH0_CONNECTION", CONNECTION)
            .env("CLIENT_IGNORE_USERS", "ci-bot@acme.example,*@auditors.acme.example");
        c
    }
}

/// Runs a blocking command from an async test without stalling the emulator.
pub async fn run(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
