//! Single Management API operations: connections, roles, and the user changes apply
//! makes (create, delete, block, role assignment and removal).

use super::Auth0Error;
use super::client::{Auth0Client, Connection};
use super::retry::Idempotency;
use super::snapshot::tenant_user;
use super::transport::{Call, decode, decode_error, display_path, json_body};
use super::wire::{
    ConnectionItem, CreateRoleRequest, CreateUserRequest, OffsetPage, Role, RoleUsersRequest, SetBlockedRequest, User,
    UserRolesRequest,
};
use crate::fields::{NAMESPACE, Namespace};
use crate::model::{Profile, TenantRole, TenantUser};
use crate::settings::Secret;
use reqwest::Method;
use secrecy::ExposeSecret;

impl Auth0Client {
    /// Looks a connection up by name.
    pub async fn connection_by_name(&self, name: &str) -> Result<Option<Connection>, Auth0Error> {
        let call = Call {
            method: Method::GET,
            segments: &["connections"],
            query: vec![("name", name.to_owned())],
            body: None,
            idempotency: Idempotency::Idempotent,
            needs: &["read:connections"],
        };
        let path = display_path(call.segments);
        let raw = self.call(&call).await?;
        let page: OffsetPage<ConnectionItem> = OffsetPage::from_json(&raw.body, "connections")
            .map_err(|message| decode_error(&Method::GET, &path, message))?;
        Ok(page.items.into_iter().find(|c| c.name == name).map(|c| Connection {
            id: c.id,
            name: c.name,
            strategy: c.strategy,
        }))
    }

    /// Every role of the tenant.
    pub async fn roles(&self) -> Result<Vec<TenantRole>, Auth0Error> {
        Ok(self.list_roles().await?.into_iter().map(|r| TenantRole { id: r.id, name: r.name }).collect())
    }

    /// Creates a database user; returns its user_id.
    pub async fn create_user(
        &self,
        connection: &str,
        email: &str,
        profile: &Profile,
        password: &Secret,
    ) -> Result<String, Auth0Error> {
        self.create_user_with(connection, email, profile, None, password).await
    }

    /// Users with exactly this email, in every connection: (user_id, connection).
    /// Immediately consistent, unlike search (Auth0 docs, "User Search").
    pub async fn users_by_email(&self, email: &str) -> Result<Vec<(String, String)>, Auth0Error> {
        Ok(self.find_by_email(email).await?.into_iter().map(|u| (u.user_id, u.connection)).collect())
    }

    /// The users with exactly this email, in every connection, as the model sees
    /// them (roles not read). Immediately consistent.
    pub async fn find_by_email(&self, email: &str) -> Result<Vec<TenantUser>, Auth0Error> {
        self.find_by_email_linked(email, None).await
    }

    /// [`Auth0Client::find_by_email`] that also marks, with `linked_to`, users whose
    /// identity in `connection` is linked under another primary (never change those).
    pub async fn find_by_email_in(&self, email: &str, connection: &str) -> Result<Vec<TenantUser>, Auth0Error> {
        self.find_by_email_linked(email, Some(connection)).await
    }

    async fn find_by_email_linked(&self, email: &str, managed: Option<&str>) -> Result<Vec<TenantUser>, Auth0Error> {
        let call = Call {
            method: Method::GET,
            segments: &["users-by-email"],
            query: vec![("email", email.to_owned())],
            body: None,
            idempotency: Idempotency::Idempotent,
            needs: &["read:users"],
        };
        let raw = self.call(&call).await?;
        let users: Vec<User> = decode(&call, &raw)?;
        Ok(users.into_iter().map(|u| tenant_user(u, managed)).collect())
    }

    /// One user with its role ids (`GET /users/{id}` and `GET /users/{id}/roles`), or
    /// `None` when Auth0 answers 404. Immediately consistent: the proof that a user is
    /// gone, and the state a resumed change is checked against.
    pub async fn user_with_roles(&self, user_id: &str) -> Result<Option<TenantUser>, Auth0Error> {
        let call = Call {
            method: Method::GET,
            segments: &["users", user_id],
            query: Vec::new(),
            body: None,
            idempotency: Idempotency::Idempotent,
            needs: &["read:users"],
        };
        let raw = match self.call(&call).await {
            Err(e) if e.status() == Some(404) => return Ok(None),
            other => other?,
        };
        let user: User = decode(&call, &raw)?;
        let mut user = tenant_user(user, None);
        user.role_ids = self.roles_of_user(user_id).await?.into_iter().collect();
        Ok(Some(user))
    }

    /// Deletes a user (`DELETE /users/{id}`).
    pub async fn delete_user(&self, user_id: &str) -> Result<(), Auth0Error> {
        let call = Call {
            method: Method::DELETE,
            segments: &["users", user_id],
            query: Vec::new(),
            body: None,
            idempotency: Idempotency::Idempotent,
            needs: &["delete:users"],
        };
        self.call(&call).await.map(drop)
    }

    /// Assigns roles to a user (`POST /users/{id}/roles`); no call for an empty list.
    pub async fn assign_roles(&self, user_id: &str, role_ids: &[String]) -> Result<(), Auth0Error> {
        self.user_roles(Method::POST, user_id, role_ids, &["update:users", "create:role_members"]).await
    }

    /// Removes roles from a user (`DELETE /users/{id}/roles`); no call for an empty list.
    pub async fn remove_roles(&self, user_id: &str, role_ids: &[String]) -> Result<(), Auth0Error> {
        self.user_roles(Method::DELETE, user_id, role_ids, &["update:users", "delete:role_members"]).await
    }

    /// Creates a role (`POST /roles`); returns its id. Not retried once it may have
    /// reached Auth0 (a second role of the same name would be a duplicate or a 409).
    pub async fn create_role(&self, name: &str) -> Result<String, Auth0Error> {
        let call = Call {
            method: Method::POST,
            segments: &["roles"],
            query: Vec::new(),
            body: Some(json_body(&CreateRoleRequest { name })),
            idempotency: Idempotency::NotIdempotent,
            needs: &["create:roles"],
        };
        let raw = self.call(&call).await?;
        let role: Role = decode(&call, &raw)?;
        Ok(role.id)
    }

    /// Blocks or unblocks a user (`PATCH /users/{id}`), recording in
    /// `app_metadata.auth0_sync.blocked` that auth0-sync blocked it (removed on unblock),
    /// so that users blocked by people are never unblocked by the tool. The namespace is
    /// sent whole (Auth0 replaces nested objects): `namespace` is the user's as it is, so
    /// that the HR key in it is kept.
    pub async fn set_blocked(&self, user_id: &str, blocked: bool, namespace: &Namespace) -> Result<(), Auth0Error> {
        let existing = namespace.to_value();
        self.set_blocked_marked(user_id, blocked, existing.as_object()).await
    }

    /// [`Auth0Client::set_blocked`] for a user whose `app_metadata.auth0_sync` is
    /// `existing`: the namespace is sent back whole (Auth0 merges `app_metadata` one
    /// level deep, so a partial object would drop its other fields), a block adding
    /// `blocked`, `blocked_at` (now) and `reason`, an unblock removing them.
    pub async fn set_blocked_marked(
        &self,
        user_id: &str,
        blocked: bool,
        existing: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<(), Auth0Error> {
        let ns = if blocked {
            crate::leavers::block_marker(existing, chrono::Utc::now())
        } else {
            crate::leavers::unblock_marker(existing)
        };
        let call = Call {
            method: Method::PATCH,
            segments: &["users", user_id],
            query: Vec::new(),
            body: Some(json_body(&SetBlockedRequest {
                blocked,
                app_metadata: serde_json::json!({ "auth0_sync": ns }),
            })),
            idempotency: Idempotency::Idempotent,
            needs: &["update:users", "update:users_app_metadata"],
        };
        self.call(&call).await.map(drop)
    }

    /// `GET /users/{id}/{what}?take=1` (`what`: `sessions` or `refresh-tokens`): the
    /// cheap probe of whether the tenant can revoke them (nothing is revoked).
    pub async fn list_sessions_probe(&self, user_id: &str, what: &'static str) -> Result<(), Auth0Error> {
        let needs: &'static [&'static str] =
            if what == "sessions" { &["read:sessions"] } else { &["read:refresh_tokens"] };
        let call = Call {
            method: Method::GET,
            segments: &["users", user_id, what],
            query: vec![("take", "1".to_owned())],
            body: None,
            idempotency: Idempotency::Idempotent,
            needs,
        };
        self.call(&call).await.map(drop)
    }

    /// `DELETE /users/{id}/{what}` (`what`: `sessions` or `refresh-tokens`): revokes
    /// them all (202, asynchronous in Auth0; repeating it is harmless).
    pub async fn revoke_user_tokens(&self, user_id: &str, what: &'static str) -> Result<(), Auth0Error> {
        let needs: &'static [&'static str] =
            if what == "sessions" { &["delete:sessions"] } else { &["delete:refresh_tokens"] };
        let call = Call {
            method: Method::DELETE,
            segments: &["users", user_id, what],
            query: Vec::new(),
            body: None,
            idempotency: Idempotency::Idempotent,
            needs,
        };
        self.call(&call).await.map(drop)
    }

    /// Assigns one role to many users (`POST /roles/{id}/users`); no call for an empty
    /// list. The caller keeps batches moderate.
    pub async fn assign_users_to_role(&self, role_id: &str, user_ids: &[String]) -> Result<(), Auth0Error> {
        if user_ids.is_empty() {
            return Ok(());
        }
        let call = Call {
            method: Method::POST,
            segments: &["roles", role_id, "users"],
            query: Vec::new(),
            body: Some(json_body(&RoleUsersRequest { users: user_ids })),
            idempotency: Idempotency::Idempotent,
            needs: &["update:roles", "create:role_members"],
        };
        self.call(&call).await.map(drop)
    }

    pub(super) async fn user_roles(
        &self,
        method: Method,
        user_id: &str,
        role_ids: &[String],
        needs: &'static [&'static str],
    ) -> Result<(), Auth0Error> {
        if role_ids.is_empty() {
            return Ok(());
        }
        let body = UserRolesRequest { roles: role_ids };
        let call = Call {
            method,
            segments: &["users", user_id, "roles"],
            query: Vec::new(),
            body: Some(serde_json::to_vec(&body).expect("role ids always serialise")),
            idempotency: Idempotency::Idempotent,
            needs,
        };
        self.call(&call).await.map(drop)
    }
}

/// A new address for a user (`PATCH /users/{id}` with `email`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChange {
    pub email: String,
    /// The user's connection, sent along (Auth0 asks for it for secondary identities;
    /// sending it for the primary one is accepted).
    pub connection: String,
    /// What Auth0 records: the tool sends `false`.
    pub email_verified: bool,
    /// Whether Auth0 mails a verification link to the new address: the tool sends `true`.
    pub verify_email: bool,
}

/// One `PATCH /users/{id}` body. Auth0 merges `app_metadata` one level deep (a nested
/// object is replaced whole, `null` removes a key, `{}` would remove everything), so
/// metadata keys are sent one by one, the namespace whole, and never an empty object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub blocked: Option<bool>,
    pub email: Option<EmailChange>,
    /// `name`, `given_name`, `family_name`: a string sets, `null` removes (never `""`).
    pub profile: std::collections::BTreeMap<String, serde_json::Value>,
    /// `app_metadata` keys other than the namespace: a string sets, `null` removes.
    pub metadata: std::collections::BTreeMap<String, serde_json::Value>,
    /// The namespace as it must be after the request.
    pub namespace: Option<Namespace>,
}

impl UserPatch {
    /// From synced fields by name (`name`, `app_metadata.cost_centre`, ...).
    pub fn fields(fields: &std::collections::BTreeMap<String, serde_json::Value>) -> UserPatch {
        let mut p = UserPatch::default();
        for (f, v) in fields {
            match f.strip_prefix(crate::fields::METADATA_PREFIX) {
                Some(k) => p.metadata.insert(k.to_owned(), v.clone()),
                None => p.profile.insert(f.clone(), v.clone()),
            };
        }
        p
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut b = serde_json::Map::new();
        if let Some(blocked) = self.blocked {
            b.insert("blocked".into(), blocked.into());
        }
        if let Some(e) = &self.email {
            b.insert("email".into(), e.email.clone().into());
            b.insert("connection".into(), e.connection.clone().into());
            b.insert("email_verified".into(), e.email_verified.into());
            b.insert("verify_email".into(), e.verify_email.into());
        }
        for (k, v) in &self.profile {
            b.insert(k.clone(), v.clone());
        }
        let mut md: serde_json::Map<String, serde_json::Value> =
            self.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(ns) = &self.namespace {
            md.insert(NAMESPACE.into(), ns.to_value());
        }
        if !md.is_empty() {
            b.insert("app_metadata".into(), serde_json::Value::Object(md));
        }
        serde_json::Value::Object(b)
    }
}

/// `POST /users` with `app_metadata` (the HR key, synced keys). No `Debug`: it
/// carries the password.
#[derive(serde::Serialize)]
struct CreateUserWithMetadata<'a> {
    #[serde(flatten)]
    user: CreateUserRequest<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_metadata: Option<&'a serde_json::Value>,
}

impl Auth0Client {
    /// Changes a user (`PATCH /users/{id}`): email, profile fields, metadata, the
    /// namespace, `blocked`. Idempotent: the same body twice leaves the same user (an
    /// email change that reached Auth0 is answered "already exists" the second time
    /// only when another user has the address).
    pub async fn update_user(&self, user_id: &str, patch: &UserPatch) -> Result<(), Auth0Error> {
        let call = Call {
            method: Method::PATCH,
            segments: &["users", user_id],
            query: Vec::new(),
            body: Some(json_body(&patch.body())),
            idempotency: Idempotency::Idempotent,
            needs: &["update:users", "update:users_app_metadata"],
        };
        self.call(&call).await.map(drop)
    }

    /// [`Auth0Client::create_user`] that also sets `app_metadata` (the HR key in the
    /// tool's namespace and synced keys) in the same request.
    pub async fn create_user_with(
        &self,
        connection: &str,
        email: &str,
        profile: &Profile,
        app_metadata: Option<&serde_json::Value>,
        password: &Secret,
    ) -> Result<String, Auth0Error> {
        let present = |v: &Option<String>| -> Option<String> {
            v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
        };
        let (name, given_name, family_name) =
            (present(&profile.name), present(&profile.given_name), present(&profile.family_name));
        let body = CreateUserWithMetadata {
            user: CreateUserRequest {
                connection,
                email,
                password: password.expose_secret(),
                email_verified: false,
                verify_email: false,
                name: name.as_deref(),
                given_name: given_name.as_deref(),
                family_name: family_name.as_deref(),
            },
            app_metadata,
        };
        let call = Call {
            method: Method::POST,
            segments: &["users"],
            query: Vec::new(),
            body: Some(serde_json::to_vec(&body).expect("a create body always serialises")),
            idempotency: Idempotency::NotIdempotent,
            needs: &["create:users"],
        };
        let raw = self.call(&call).await?;
        let user: User = decode(&call, &raw)?;
        Ok(user.user_id)
    }
}
