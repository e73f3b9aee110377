//! Reading lists: offset paging (with Auth0's 1000-result cap) and checkpoint paging
//! of role members, plus the lists built on them.

use super::Auth0Error;
use super::client::{Auth0Client, PER_PAGE, SEARCH_LIMIT};
use super::retry::Idempotency;
use super::transport::{Call, decode, decode_error, display_path, lucene_phrase};
use super::wire::{OffsetPage, Role, RoleMembersPage, User};
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::collections::HashSet;

impl Auth0Client {
    /// Every role of the tenant (offset paging).
    pub(super) async fn list_roles(&self) -> Result<Vec<Role>, Auth0Error> {
        self.list_offset(&["roles"], Vec::new(), "roles", &["read:roles"], |total| {
            decode_error(
                &Method::GET,
                "/api/v2/roles",
                format!(
                    "the tenant reports {total} roles; Auth0 allows at most {SEARCH_LIMIT} and pages through no more"
                ),
            )
        })
        .await
    }

    /// Every user whose identities include `connection` (users search, v3); past the
    /// paging cap, through a users-export job (plus a search for the users linked
    /// under a social primary, which an export by connection may leave out), checked
    /// against the count the search reported ([`Auth0Error::IncompleteSnapshot`]).
    pub(super) async fn list_connection_users(&self, connection: &str) -> Result<Vec<User>, Auth0Error> {
        let phrase = lucene_phrase(connection);
        let query = vec![("q", format!("identities.connection:\"{phrase}\"")), ("search_engine", "v3".to_owned())];
        let paged = self
            .list_offset(&["users"], query, "users", &["read:users"], |total| Auth0Error::TooManyUsers {
                connection: connection.to_owned(),
                total,
                limit: SEARCH_LIMIT,
            })
            .await;
        let total = match paged {
            // Past the paging cap: the documented way is a users-export job.
            Err(Auth0Error::TooManyUsers { total, .. }) => total,
            other => return other,
        };
        tracing::info!(connection, total, "more users than paging reaches; reading them through an export job");
        let mut users = self.export_connection_users(connection).await?;
        let mut seen: HashSet<String> = users.iter().map(|u| u.user_id.clone()).collect();
        let linked = vec![
            ("q", format!("identities.connection:\"{phrase}\" AND identities.isSocial:true")),
            ("search_engine", "v3".to_owned()),
        ];
        match self
            .list_offset::<User>(&["users"], linked, "users", &["read:users"], |total| Auth0Error::TooManyUsers {
                connection: connection.to_owned(),
                total,
                limit: SEARCH_LIMIT,
            })
            .await
        {
            Ok(found) => users.extend(found.into_iter().filter(|u| seen.insert(u.user_id.clone()))),
            Err(e) if e.status() == Some(400) => {
                tracing::warn!(error = %e, "could not search for linked accounts; users linked under a social login are left out of the export-based snapshot");
            }
            Err(e) => return Err(e),
        }
        check_complete(connection, total, users.len() as u64)?;
        Ok(users)
    }

    /// Pages `GET /api/v2/{segments}?page=P&per_page=100&include_totals=true` to the end.
    /// Fails with `over_limit(total)` rather than stop at the 1000-result paging cap.
    pub(super) async fn list_offset<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: Vec<(&'static str, String)>,
        key: &str,
        needs: &'static [&'static str],
        over_limit: impl Fn(u64) -> Auth0Error,
    ) -> Result<Vec<T>, Auth0Error> {
        let path = display_path(segments);
        let mut items: Vec<T> = Vec::new();
        let mut page = 0u64;
        loop {
            if page * PER_PAGE >= SEARCH_LIMIT {
                // Only reachable when the answers carry no total and every page was full.
                return Err(over_limit(items.len() as u64 + 1));
            }
            let mut q = query.clone();
            q.push(("page", page.to_string()));
            q.push(("per_page", PER_PAGE.to_string()));
            q.push(("include_totals", "true".to_owned()));
            let call = Call {
                method: Method::GET,
                segments,
                query: q,
                body: None,
                idempotency: Idempotency::Idempotent,
                needs,
            };
            let raw = self.call(&call).await?;
            let body: OffsetPage<T> =
                OffsetPage::from_json(&raw.body, key).map_err(|message| decode_error(&Method::GET, &path, message))?;
            if let Some(total) = body.total
                && total > SEARCH_LIMIT
            {
                return Err(over_limit(total));
            }
            let got = body.items.len() as u64;
            items.extend(body.items);
            let done = match body.total {
                Some(total) => got == 0 || items.len() as u64 >= total,
                None => got < PER_PAGE,
            };
            if done {
                return Ok(items);
            }
            page += 1;
        }
    }

    /// User ids of a role's members, following the checkpoint cursor to the end.
    /// Role ids of one user: `GET /users/{id}/roles` (a user holds at most 50 roles,
    /// so one page of 100 is all of them).
    pub(super) async fn roles_of_user(&self, user_id: &str) -> Result<Vec<String>, Auth0Error> {
        let roles: Vec<RoleItemId> = self
            .list_offset(&["users", user_id, "roles"], Vec::new(), "roles", &["read:users", "read:roles"], |total| {
                Auth0Error::Decode {
                    method: "GET".into(),
                    path: format!("/api/v2/users/{user_id}/roles"),
                    message: format!("the user has {total} roles, more than Auth0 allows"),
                }
            })
            .await?;
        Ok(roles.into_iter().map(|r| r.id).collect())
    }

    pub(super) async fn role_members(&self, role_id: &str) -> Result<Vec<String>, Auth0Error> {
        let segments = ["roles", role_id, "users"];
        let mut members = Vec::new();
        let mut from: Option<String> = None;
        let mut seen = HashSet::new();
        loop {
            let mut query = vec![("take", PER_PAGE.to_string())];
            if let Some(cursor) = &from {
                query.push(("from", cursor.clone()));
            }
            let call = Call {
                method: Method::GET,
                segments: &segments,
                query,
                body: None,
                idempotency: Idempotency::Idempotent,
                needs: &["read:roles", "read:role_members", "read:users"],
            };
            let raw = self.call(&call).await?;
            let page: RoleMembersPage = decode(&call, &raw)?;
            members.extend(page.users.into_iter().map(|m| m.user_id));
            match page.next.filter(|n| !n.is_empty()) {
                None => return Ok(members),
                Some(next) => {
                    if !seen.insert(next.clone()) {
                        return Err(decode_error(
                            &call.method,
                            &display_path(&segments),
                            "the member list cursor (next) repeats".to_owned(),
                        ));
                    }
                    from = Some(next);
                }
            }
        }
    }
}

/// Users an export may lack against the search's count and still be taken for complete
/// (search lag: users deleted in the last seconds are still counted): 10, plus 1%.
pub fn export_allowance(total: u64) -> u64 {
    10 + total / 100
}

/// An export that holds fewer users than the search counted, beyond the allowance, is
/// an error: a plan from it would create users that exist and miss deletions.
pub(super) fn check_complete(connection: &str, expected: u64, got: u64) -> Result<(), Auth0Error> {
    let allowance = export_allowance(expected);
    if got + allowance < expected {
        return Err(Auth0Error::IncompleteSnapshot { connection: connection.to_owned(), expected, got, allowance });
    }
    if got < expected {
        tracing::info!(
            connection,
            expected,
            got,
            "the export holds a few users less than the search counted (search lag)"
        );
    }
    Ok(())
}

/// Just the id of a role in a list.
#[derive(serde::Deserialize)]
struct RoleItemId {
    id: String,
}
