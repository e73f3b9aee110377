//! Wire types of the Management API, as in Auth0's OpenAPI document.
//!
//! Response types ignore fields they do not name (Auth0 adds fields over time), and
//! every field that Auth0 may omit is optional or defaulted. Request types carry
//! exactly the properties the OpenAPI schema allows. Types that hold a secret
//! (client secret, access token, password) have no `Debug` that could print it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `POST /oauth/token` body for the client-credentials grant.
#[derive(Serialize)]
pub struct TokenRequest<'a> {
    pub grant_type: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub audience: &'a str,
}

impl fmt::Debug for TokenRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("audience", &self.audience)
            .finish()
    }
}

/// `POST /oauth/token` answer.
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Seconds; Auth0 answers 86400 for Management API tokens.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Space-separated scopes granted to the token.
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub token_type: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"***")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("token_type", &self.token_type)
            .finish()
    }
}

/// Error body of the token endpoint: `{error, error_description}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// Error body of the Management API: `{statusCode, error, message, errorCode}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default, rename = "statusCode")]
    pub status_code: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, rename = "errorCode")]
    pub error_code: Option<String>,
}

/// One identity of a user (`identities[]`; the first is the primary one). Its
/// `user_id` (a string or, for some social providers, a number) is not read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Identity {
    /// Name of the connection holding this identity.
    #[serde(default)]
    pub connection: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default, rename = "isSocial")]
    pub is_social: Option<bool>,
    /// A linked (secondary) identity's own profile: Auth0 keeps its email here.
    #[serde(default, rename = "profileData")]
    pub profile_data: Option<ProfileData>,
}

/// `identities[].profileData` of a linked identity (only what the tool reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ProfileData {
    #[serde(default)]
    pub email: Option<String>,
}

/// `null` (as some export lines carry for a field without value) reads as empty.
fn null_as_empty<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A user as `GET /users`, `GET /users-by-email` and `POST /users` answer it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct User {
    pub user_id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub blocked: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub identities: Vec<Identity>,
    #[serde(default)]
    pub app_metadata: Option<serde_json::Value>,
}

impl User {
    /// Name of the connection of the first identity (the primary one), when Auth0 said.
    pub fn connection(&self) -> Option<&str> {
        self.identities.first().and_then(|i| i.connection.as_deref()).filter(|c| !c.is_empty())
    }

    /// The identity in `connection` when it is not the primary one (account linking).
    pub fn linked_identity_in(&self, connection: &str) -> Option<&Identity> {
        if self.connection() == Some(connection) {
            return None;
        }
        self.identities.iter().skip(1).find(|i| i.connection.as_deref() == Some(connection))
    }

    /// The tool's namespace `app_metadata.auth0_sync`, when it is an object.
    pub fn sync_marker(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        self.app_metadata.as_ref()?.get("auth0_sync")?.as_object().cloned()
    }

    /// Whether auth0-sync blocked this user (`app_metadata.auth0_sync.blocked == true`),
    /// as opposed to a person.
    pub fn blocked_by_sync(&self) -> bool {
        self.app_metadata
            .as_ref()
            .and_then(|m| m.pointer("/auth0_sync/blocked"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }
}

/// A role (`GET /roles`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Role {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A member of a role (`GET /roles/{id}/users`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RoleMember {
    pub user_id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// Checkpoint page of role members: `{users, next}`; no `next` means the last page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RoleMembersPage {
    #[serde(default)]
    pub users: Vec<RoleMember>,
    #[serde(default)]
    pub next: Option<String>,
}

/// A connection as `GET /connections` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ConnectionItem {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub strategy: String,
}

/// One page of an offset-paged list (`page`, `per_page`, `include_totals=true`):
/// `{start, limit, total, <key>: [...]}`; a bare array (no totals) is tolerated.
#[derive(Debug, Clone, PartialEq)]
pub struct OffsetPage<T> {
    /// `total` when the body carried it.
    pub total: Option<u64>,
    pub items: Vec<T>,
}

impl<T: DeserializeOwned> OffsetPage<T> {
    /// Parses a list body whose items sit under `key` (`users`, `roles`, `connections`).
    /// The error names the JSON path that did not fit.
    pub fn from_json(body: &[u8], key: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        match value {
            serde_json::Value::Array(_) => Ok(OffsetPage { total: None, items: from_value_with_path(value)? }),
            serde_json::Value::Object(mut map) => {
                let total = match map.get("total") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(t) => Some(
                        t.as_f64()
                            .filter(|t| t.is_finite() && *t >= 0.0)
                            .ok_or_else(|| format!("total is not a count: {t}"))? as u64,
                    ),
                };
                let items = map.remove(key).ok_or_else(|| format!("the body has no {key:?} list"))?;
                let items = from_value_with_path(items).map_err(|e| format!("{key}{e}"))?;
                Ok(OffsetPage { total, items })
            }
            _ => Err(format!("expected an object with {key:?} or an array")),
        }
    }
}

/// Deserialises with the failing path in the message (e.g. `[3].user_id: missing field`).
pub fn from_value_with_path<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        format!("{path}: {}", e.inner())
    })
}

/// Deserialises a body, naming the failing path.
pub fn from_slice_with_path<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." { e.inner().to_string() } else { format!("{path}: {}", e.inner()) }
    })
}

/// `POST /users` body for a database user; only properties of `CreateUserRequestContent`.
/// No `Debug`: it carries the password.
#[derive(Serialize)]
pub struct CreateUserRequest<'a> {
    pub connection: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub email_verified: bool,
    pub verify_email: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<&'a str>,
}

/// `POST /roles` body.
#[derive(Debug, Clone, Serialize)]
pub struct CreateRoleRequest<'a> {
    pub name: &'a str,
}

/// `PATCH /users/{id}` body that blocks or unblocks a user and records in
/// `app_metadata.auth0_sync.blocked` whether auth0-sync did it (`auth0_sync: null` removes
/// the mark: metadata is merged at the root, and a null removes the property).
#[derive(Debug, Clone, Serialize)]
pub struct SetBlockedRequest {
    pub blocked: bool,
    pub app_metadata: serde_json::Value,
}

/// `POST /roles/{id}/users` body.
#[derive(Debug, Clone, Serialize)]
pub struct RoleUsersRequest<'a> {
    pub users: &'a [String],
}

/// `POST`/`DELETE /users/{id}/roles` body.
#[derive(Debug, Clone, Serialize)]
pub struct UserRolesRequest<'a> {
    pub roles: &'a [String],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_from_recording_keeps_first_identity_connection() {
        let body = r#"{"blocked":false,"created_at":"2023-01-25T19:00:31.387Z","email":"chuck212@example.com","email_verified":true,"family_name":"Sanchez","given_name":"Chuck","identities":[{"connection":"Username-Password-Authentication","user_id":"63d17c4f62d6dbc216a6e8ed","provider":"auth0","isSocial":false}],"name":"chuck212@example.com","nickname":"Chucky","picture":"https://example-picture-url.jpg","updated_at":"2023-01-25T19:00:31.387Z","user_id":"auth0|63d17c4f62d6dbc216a6e8ed","user_metadata":{"favourite_attack":"roundhouse_kick"},"username":"test-user538","app_metadata":{"facts":["count_to_infinity_twice"]}}"#;
        let u: User = serde_json::from_str(body).unwrap();
        assert_eq!(u.user_id, "auth0|63d17c4f62d6dbc216a6e8ed");
        assert_eq!(u.connection(), Some("Username-Password-Authentication"));
        assert_eq!(u.blocked, Some(false));
        assert!(!u.blocked_by_sync());
        let u: User = serde_json::from_str(
            r#"{"user_id":"auth0|1","blocked":true,"app_metadata":{"auth0_sync":{"blocked":true}}}"#,
        )
        .unwrap();
        assert!(u.blocked_by_sync());
    }

    #[test]
    fn linked_identities_and_export_lines_without_values() {
        // Auth0's docs sample of a linked profile (and a secondary in a database).
        let u: User = serde_json::from_str(
            r#"{"user_id":"google-oauth2|115015401343387192604","email":"p@example.com","identities":[{"provider":"google-oauth2","user_id":"115015401343387192604","connection":"google-oauth2","isSocial":true},{"profileData":{"email":"secondary@example.com","email_verified":false},"connection":"Username-Password-Authentication","user_id":22222,"provider":"auth0","isSocial":false}]}"#,
        )
        .unwrap();
        assert_eq!(u.connection(), Some("google-oauth2"));
        let linked = u.linked_identity_in("Username-Password-Authentication").unwrap();
        assert_eq!(linked.profile_data.as_ref().and_then(|p| p.email.as_deref()), Some("secondary@example.com"));
        assert!(u.linked_identity_in("google-oauth2").is_none(), "the primary is not linked");
        let bare: User = serde_json::from_str(r#"{"user_id":"auth0|1","identities":null,"email":null}"#).unwrap();
        assert_eq!(bare.connection(), None);
        let empty: User = serde_json::from_str(r#"{"user_id":"auth0|1","identities":[{"connection":""}]}"#).unwrap();
        assert_eq!(empty.connection(), None);
    }

    #[test]
    fn pages_with_totals_and_bare_arrays() {
        let p: OffsetPage<Role> = OffsetPage::from_json(
            br#"{"roles":[{"id":"rol_9yRKwo2Bl0zckceV","name":"test-role14","description":"Test Role"}],"start":0,"limit":50,"total":1}"#,
            "roles",
        )
        .unwrap();
        assert_eq!(p.total, Some(1));
        assert_eq!(p.items[0].name, "test-role14");
        let p: OffsetPage<Role> = OffsetPage::from_json(br#"[{"id":"rol_1","name":"a"}]"#, "roles").unwrap();
        assert_eq!(p.total, None);
        assert_eq!(p.items.len(), 1);
        let e = OffsetPage::<User>::from_json(br#"{"total":2,"users":[{"user_id":"a"},{"email":"x@y"}]}"#, "users")
            .unwrap_err();
        assert!(e.contains("users[1]") && e.contains("user_id"), "{e}");
    }

    #[test]
    fn role_members_page_without_next_is_last() {
        let p: RoleMembersPage = serde_json::from_str(
            r#"{"users":[{"user_id":"auth0|64107988d3534be8b2dc383d","email":"chuck908@example.com","picture":"https://example-picture-url.jpg","name":"chuck908@example.com"}]}"#,
        )
        .unwrap();
        assert!(p.next.is_none());
        assert_eq!(p.users.len(), 1);
    }

    #[test]
    fn secret_carriers_do_not_debug_secrets() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"eyJhbGciOi-secret","expires_in":86400}"#).unwrap();
        assert!(!format!("{t:?}").contains("eyJ"));
        let r = TokenRequest {
            grant_type: "client_credentials",
            client_id: "id",
            client_secret: "hunter2",
            audience: "https://a/api/v2/",
        };
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
