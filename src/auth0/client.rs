//! Typed async client of the Management API v2 over reqwest.

use super::Auth0Error;
use crate::model::{Profile, TenantSnapshot};
use crate::settings::{Auth0Settings, Secret};

/// A connection of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub name: String,
    pub strategy: String,
}

/// Cheap to clone; clones share the token and HTTP pool.
#[derive(Clone)]
pub struct Auth0Client {}

impl Auth0Client {
    /// Builds the client and obtains a token with client credentials.
    pub async fn connect(settings: &Auth0Settings) -> Result<Self, Auth0Error> {
        let _ = settings;
        unimplemented!("auth0 helper")
    }

    /// Scopes granted to the token.
    pub fn scopes(&self) -> Vec<String> {
        unimplemented!("auth0 helper")
    }

    /// Looks a connection up by name.
    pub async fn connection_by_name(&self, name: &str) -> Result<Option<Connection>, Auth0Error> {
        let _ = name;
        unimplemented!("auth0 helper")
    }

    /// All roles, and every user of `connection` with its role ids.
    pub async fn snapshot(&self, connection: &str) -> Result<TenantSnapshot, Auth0Error> {
        let _ = connection;
        unimplemented!("auth0 helper")
    }

    /// Creates a database user; returns its user_id.
    pub async fn create_user(
        &self,
        connection: &str,
        email: &str,
        profile: &Profile,
        password: &Secret,
    ) -> Result<String, Auth0Error> {
        let _ = (connection, email, profile, password);
        unimplemented!("auth0 helper")
    }

    /// Users with exactly this email, in every connection: (user_id, connection).
    pub async fn users_by_email(&self, email: &str) -> Result<Vec<(String, String)>, Auth0Error> {
        let _ = email;
        unimplemented!("auth0 helper")
    }

    pub async fn delete_user(&self, user_id: &str) -> Result<(), Auth0Error> {
        let _ = user_id;
        unimplemented!("auth0 helper")
    }

    pub async fn assign_roles(&self, user_id: &str, role_ids: &[String]) -> Result<(), Auth0Error> {
        let _ = (user_id, role_ids);
        unimplemented!("auth0 helper")
    }

    pub async fn remove_roles(&self, user_id: &str, role_ids: &[String]) -> Result<(), Auth0Error> {
        let _ = (user_id, role_ids);
        unimplemented!("auth0 helper")
    }
}

impl Auth0Client {
    /// Every role of the tenant.
    pub async fn roles(&self) -> Result<Vec<crate::model::TenantRole>, Auth0Error> {
        unimplemented!("auth0 helper")
    }
}
