//! The tenant snapshot a plan is computed from: roles, the connection's users, and who
//! holds which role (per role or per user, whichever costs fewer calls).

use super::Auth0Error;
use super::client::{Auth0Client, PER_PAGE, ROLE_MEMBER_CONCURRENCY};
use super::wire::User;
use crate::fields::NAMESPACE;
use crate::model::{NameSet, Profile, SyncedFields, TenantRole, TenantSnapshot, TenantUser, UNKNOWN_CONNECTION};
use futures::{StreamExt, TryStreamExt};

/// The model's view of a user as the API answers it (roles not included: they come
/// from other calls). A user whose primary connection Auth0 did not say is in
/// [`UNKNOWN_CONNECTION`], never the managed one; with `managed`, a user whose identity
/// in it is linked under another primary gets `linked_to` (and that identity's email).
pub(super) fn tenant_user(user: User, managed: Option<&str>) -> TenantUser {
    let connection = user.connection().unwrap_or(UNKNOWN_CONNECTION).to_owned();
    let blocked_by_sync = user.blocked_by_sync();
    let linked = managed.and_then(|m| user.linked_identity_in(m));
    let linked_email = linked.and_then(|i| i.profile_data.as_ref()).and_then(|p| p.email.clone());
    let linked_to = linked.map(|_| user.user_id.clone());
    TenantUser {
        synced: synced_of(&user),
        email: linked_email.or(user.email).filter(|e| !e.is_empty()),
        user_id: user.user_id,
        connection,
        blocked: user.blocked.unwrap_or(false),
        blocked_by_sync,
        role_ids: NameSet::new(),
        linked_to,
    }
}

impl Auth0Client {
    /// All roles, and every user of `connection` with its role ids.
    pub async fn snapshot(&self, connection: &str) -> Result<TenantSnapshot, Auth0Error> {
        self.snapshot_with(connection, RoleLookup::Auto, ROLE_MEMBER_CONCURRENCY).await
    }

    /// [`Auth0Client::snapshot`] with a chosen role-membership strategy and up to
    /// `concurrency` reads in flight (always within the request budget).
    pub async fn snapshot_with(
        &self,
        connection: &str,
        lookup: RoleLookup,
        concurrency: usize,
    ) -> Result<TenantSnapshot, Auth0Error> {
        let concurrency = concurrency.max(1);
        let roles = self.list_roles().await?;
        let users = self.list_connection_users(connection).await?;
        let mut snapshot = TenantSnapshot::default();
        for role in roles {
            snapshot.roles.insert(role.id.clone(), TenantRole { id: role.id, name: role.name });
        }
        for user in users {
            if let Some(m) = user.sync_marker() {
                snapshot.markers.insert(user.user_id.clone(), m);
            }
            let user = tenant_user(user, Some(connection));
            snapshot.users.insert(user.user_id.clone(), user);
        }
        if snapshot.users.is_empty() {
            return Ok(snapshot);
        }
        // Cost in calls: per role, one page per 100 members (at least one per role; the
        // members of all roles are at least the connection's users that hold a role,
        // estimated here by all of them); per user, one call each.
        let users_n = snapshot.users.len();
        let per_role_cost = snapshot.roles.len() + users_n.div_ceil(PER_PAGE as usize);
        let strategy = match lookup {
            RoleLookup::Auto if users_n < per_role_cost => RoleLookup::PerUser,
            RoleLookup::Auto => RoleLookup::PerRole,
            other => other,
        };
        tracing::info!(
            // The flag's spelling (`per-role`), not the Rust name.
            strategy = %clap::ValueEnum::to_possible_value(&strategy).map_or_else(String::new, |v| v.get_name().to_owned()),
            users = users_n,
            roles = snapshot.roles.len(),
            per_role_cost,
            per_user_cost = users_n,
            "role membership lookup"
        );
        if strategy == RoleLookup::PerUser {
            let user_ids: Vec<String> = snapshot.users.keys().cloned().collect();
            let found: Vec<(String, Vec<String>)> = futures::stream::iter(user_ids)
                .map(|user_id| async move {
                    let roles = self.roles_of_user(&user_id).await?;
                    Ok::<_, Auth0Error>((user_id, roles))
                })
                .buffer_unordered(concurrency)
                .try_collect()
                .await?;
            for (user_id, roles) in found {
                if let Some(user) = snapshot.users.get_mut(&user_id) {
                    user.role_ids.extend(roles);
                }
            }
            return Ok(snapshot);
        }
        let role_ids: Vec<String> = snapshot.roles.keys().cloned().collect();
        let memberships: Vec<(String, Vec<String>)> = futures::stream::iter(role_ids)
            .map(|role_id| async move {
                let members = self.role_members(&role_id).await?;
                Ok::<_, Auth0Error>((role_id, members))
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        for (role_id, members) in memberships {
            for user_id in members {
                // Members from other connections are not part of the snapshot.
                if let Some(user) = snapshot.users.get_mut(&user_id) {
                    user.role_ids.insert(role_id.clone());
                }
            }
        }
        Ok(snapshot)
    }
}

/// How the snapshot learns who holds which role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RoleLookup {
    /// List each role's members (checkpoint paging): about roles + members/100 calls.
    PerRole,
    /// Ask each connection user for its roles: one call per user.
    PerUser,
    /// Estimate both costs from the counts at hand and take the cheaper.
    #[default]
    Auto,
}

/// What the snapshot reads of a user besides roles: the HR key in the tool's namespace,
/// the profile, and the other top-level `app_metadata` keys.
pub(super) fn synced_of(user: &User) -> SyncedFields {
    let md = user.app_metadata.as_ref().and_then(serde_json::Value::as_object);
    let key = md
        .and_then(|m| m.get(NAMESPACE))
        .and_then(|n| n.get("key"))
        .and_then(serde_json::Value::as_str)
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let metadata = md
        .into_iter()
        .flat_map(|m| m.iter())
        .filter(|(k, _)| k.as_str() != NAMESPACE)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let text = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let profile =
        Profile { name: text(&user.name), given_name: text(&user.given_name), family_name: text(&user.family_name) };
    SyncedFields { key, profile, metadata }
}
