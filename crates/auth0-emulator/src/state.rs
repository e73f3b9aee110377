//! The emulator's tenant state and its JSON file format, so that a tenant can be written
//! by hand, kept across runs and compared by tests (README, section "Emulator state
//! file"): loaded at start, saved atomically on shutdown.

use crate::EmulatorError;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

/// A machine-to-machine application allowed to get Management API tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientApp {
    pub client_id: String,
    pub client_secret: String,
    /// Scopes granted to its tokens, e.g. `read:users`.
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateConnection {
    /// `con_...`
    pub id: String,
    pub name: String,
    /// `auth0` for database connections.
    #[serde(default = "default_strategy")]
    pub strategy: String,
    /// Whether new users of this (database) connection need a `username`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub requires_username: bool,
    /// Auth0 password policy name (`none`, `low`, `fair`, `good`, `excellent`). The
    /// emulator never enforces less than `fair`; absent means `good` (Auth0's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_policy: Option<String>,
    /// `client_id`s of the applications (in `clients`) for which the connection is
    /// enabled, e.g. the application that sends invitations
    /// (`POST /dbconnections/change_password`); served by
    /// `GET /api/v2/connections/{id}/clients`. Absent: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enabled_clients: Vec<String>,
}

impl Default for StateConnection {
    /// A database connection (`strategy: auth0`) with empty id and name.
    fn default() -> Self {
        StateConnection {
            id: String::new(),
            name: String::new(),
            strategy: default_strategy(),
            requires_username: false,
            password_policy: None,
            enabled_clients: Vec::new(),
        }
    }
}

fn default_strategy() -> String {
    "auth0".to_owned()
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRole {
    /// `rol_...`
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateUser {
    /// `auth0|...` for database users.
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// Connection name of the user's identity.
    pub connection: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default)]
    pub blocked: bool,
    /// Role ids assigned to the user.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub app_metadata: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub user_metadata: serde_json::Value,
    /// Linked accounts: every identity, the primary first (its `connection` is the
    /// user's). Empty: the one identity `connection` implies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<StateIdentity>,
}

/// One identity of a user with linked accounts, as Auth0 lists it in `identities`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateIdentity {
    pub connection: String,
    /// Without the provider prefix (`115015401343387192604`, `560ebaeef609ee1adaa7c551`).
    pub user_id: String,
    /// Default: the connection's strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// A secondary identity's own profile (`{"email": ...}`); Auth0 keeps a linked
    /// account's attributes here.
    #[serde(default, rename = "profileData", skip_serializing_if = "serde_json::Value::is_null")]
    pub profile_data: serde_json::Value,
}

impl StateUser {
    /// Whether one of the user's identities (the primary or a linked one) is in `connection`.
    pub fn has_identity_in(&self, connection: &str) -> bool {
        self.connection == connection || self.identities.iter().any(|i| i.connection == connection)
    }

    /// Emails under which the user is known in `connection`: its own when its primary
    /// is there, a linked identity's `profileData.email` (or, without one, the user's).
    pub fn emails_in(&self, connection: &str) -> Vec<&str> {
        let mut out = Vec::new();
        if self.connection == connection {
            out.extend(self.email.as_deref());
        }
        for i in self.identities.iter().skip(1).filter(|i| i.connection == connection) {
            match i.profile_data.get("email").and_then(serde_json::Value::as_str) {
                Some(e) => out.push(e),
                None => out.extend(self.email.as_deref()),
            }
        }
        out
    }
}

/// The whole tenant: applications, connections, roles, users. Passwords are never
/// stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantState {
    #[serde(default)]
    pub clients: Vec<ClientApp>,
    #[serde(default)]
    pub connections: Vec<StateConnection>,
    #[serde(default)]
    pub roles: Vec<StateRole>,
    #[serde(default)]
    pub users: Vec<StateUser>,
}

impl TenantState {
    /// Reads and checks a state file. Errors name the file and what is wrong with it.
    pub fn load(path: &Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EmulatorError::ReadState { path: path.to_path_buf(), reason: e.to_string() })?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let state: TenantState = serde_path_to_error::deserialize(de).map_err(|e| {
            let inner = e.inner();
            EmulatorError::ParseState {
                path: path.to_path_buf(),
                at: e.path().to_string(),
                line: inner.line(),
                column: inner.column(),
                reason: inner.to_string(),
            }
        })?;
        state.validate().map_err(|why| EmulatorError::InconsistentState { path: path.to_path_buf(), why })?;
        Ok(state)
    }

    /// Writes the state as pretty JSON, atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), EmulatorError> {
        let fail = |action: &'static str, e: &dyn std::fmt::Display| EmulatorError::SaveState {
            action,
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| fail("serialise", &e))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail("write", &e))?;
        tmp.write_all(&json).map_err(|e| fail("write", &e))?;
        tmp.write_all(b"\n").map_err(|e| fail("write", &e))?;
        tmp.as_file().sync_all().map_err(|e| fail("write", &e))?;
        tmp.persist(path).map_err(|e| fail("replace", &e.error))?;
        Ok(())
    }

    /// Checks references and uniqueness; returns what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for c in &self.clients {
            if !seen.insert(c.client_id.as_str()) {
                return Err(format!("client_id {:?} appears twice", c.client_id));
            }
        }
        let mut names = HashSet::new();
        let mut ids = HashSet::new();
        for c in &self.connections {
            if !names.insert(c.name.as_str()) {
                return Err(format!("connection name {:?} appears twice", c.name));
            }
            if !ids.insert(c.id.as_str()) {
                return Err(format!("connection id {:?} appears twice", c.id));
            }
            let mut enabled = HashSet::new();
            for e in &c.enabled_clients {
                if !seen.contains(e.as_str()) {
                    return Err(format!("connection {:?} enables client {:?}, which is not in `clients`", c.name, e));
                }
                if !enabled.insert(e.as_str()) {
                    return Err(format!("connection {:?} enables client {:?} twice", c.name, e));
                }
            }
        }
        let mut role_ids = HashSet::new();
        let mut role_names = HashSet::new();
        for r in &self.roles {
            if !role_ids.insert(r.id.as_str()) {
                return Err(format!("role id {:?} appears twice", r.id));
            }
            if !role_names.insert(r.name.to_lowercase()) {
                return Err(format!("role name {:?} appears twice", r.name));
            }
        }
        let mut user_ids = HashSet::new();
        for u in &self.users {
            if !user_ids.insert(u.user_id.as_str()) {
                return Err(format!("user_id {:?} appears twice", u.user_id));
            }
            if !names.contains(u.connection.as_str()) {
                return Err(format!(
                    "user {:?} names connection {:?}, which is not in `connections`",
                    u.user_id, u.connection
                ));
            }
            if let Some(first) = u.identities.first()
                && first.connection != u.connection
            {
                return Err(format!(
                    "user {:?}: its first identity is in {:?}, but its connection is {:?} (the first identity is the primary one)",
                    u.user_id, first.connection, u.connection
                ));
            }
            if let Some(i) = u.identities.iter().find(|i| !names.contains(i.connection.as_str())) {
                return Err(format!(
                    "user {:?} has an identity in connection {:?}, which is not in `connections`",
                    u.user_id, i.connection
                ));
            }
            for r in &u.roles {
                if !role_ids.contains(r.as_str()) {
                    return Err(format!("user {:?} has role {:?}, which is not in `roles`", u.user_id, r));
                }
            }
        }
        Ok(())
    }
}
