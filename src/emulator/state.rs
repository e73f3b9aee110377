//! The emulator's tenant state and its JSON file format (documented in the README,
//! section "Emulator state file").

use serde::{Deserialize, Serialize};

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
}

fn default_strategy() -> String {
    "auth0".to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRole {
    /// `rol_...`
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
