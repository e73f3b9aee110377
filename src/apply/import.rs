//! Bulk creation with users-import jobs (`--create-via import|auto`): files under
//! 450 KB and at most 1000 users, 2 jobs at a time; per-user errors from the jobs'
//! error lists; the new users' ids looked up afterwards so that their roles can be
//! assigned in batches.

use super::executor::{Run, existing_user};
use super::journal::Entry;
use super::report::FailureInfo;
use super::steps::creation_metadata;
use crate::auth0::{Auth0Error, ImportUser};
use crate::error::{Error, Result};
use chrono::Utc;
use futures::StreamExt;
use std::collections::BTreeMap;

/// Users per import file (Auth0 accepts about 1000).
const IMPORT_MAX_USERS: usize = 1000;
/// Bytes per import file (Auth0's limit is 500 KB for the whole request).
const IMPORT_MAX_BYTES: usize = 450 * 1024;
/// Auth0 runs at most 2 import jobs of a tenant at once.
const IMPORT_JOBS_AT_ONCE: usize = 2;
/// Up to this many imported users are looked up one by one; more, with one export
/// job first (then one by one for those the export does not show yet).
const LOOKUP_ONE_BY_ONE: usize = 100;

impl Run<'_> {
    /// Creates the users of `ids` with import jobs. Users the jobs refuse as
    /// duplicates are looked up and adopted; other refusals fail their change.
    pub(super) async fn import_creates(&mut self, ids: &[u32]) -> Result<()> {
        if ids.is_empty() || self.cancel.is_cancelled() {
            return Ok(());
        }
        let Some(conn) = self.client.connection_by_name(&self.plan.connection).await? else {
            return Err(Error::UnknownConnection { name: self.plan.connection.clone(), known: String::new() });
        };
        let user_of = |id: &u32| {
            let c = self.tracked[id].change;
            let after = c.after.clone().unwrap_or_default();
            let p = after.profile.clone();
            ImportUser {
                email: c.user.email.clone(),
                email_verified: false,
                name: p.name,
                given_name: p.given_name,
                family_name: p.family_name,
                app_metadata: creation_metadata(&after),
            }
        };
        let mut chunks: Vec<(Vec<u32>, Vec<ImportUser>)> = Vec::new();
        let mut size = 0usize;
        for id in ids {
            let u = user_of(id);
            let len = serde_json::to_vec(&u).map_or(0, |v| v.len()) + 1;
            match chunks.last_mut() {
                Some((ids, users)) if users.len() < IMPORT_MAX_USERS && size + len < IMPORT_MAX_BYTES => {
                    ids.push(*id);
                    users.push(u);
                    size += len;
                }
                _ => {
                    chunks.push((vec![*id], vec![u]));
                    size = len;
                }
            }
        }
        let (client, cancel, journal) = (self.client, self.cancel, &self.journal);
        let conn_id = conn.id.clone();
        let mut results = futures::stream::iter(chunks)
            .map(|(ids, users)| {
                let conn_id = conn_id.clone();
                async move {
                    if cancel.is_cancelled() {
                        return Ok(None);
                    }
                    let begin = Entry::Begin { changes: ids.clone(), step: "import".into(), at: Utc::now() };
                    journal.lock().unwrap_or_else(|e| e.into_inner()).append(&begin)?;
                    Ok::<_, Error>(Some((ids, client.import_users(&conn_id, &users).await)))
                }
            })
            .buffer_unordered(IMPORT_JOBS_AT_ONCE);
        let mut imported = Vec::new();
        let mut duplicates = Vec::new();
        let mut outcomes = Vec::new();
        while let Some(item) = results.next().await {
            if let Some(done) = item? {
                outcomes.push(done);
            }
        }
        drop(results);
        for (ids, result) in outcomes {
            if !matches!(result, Err(Auth0Error::Cancelled { .. })) {
                self.sent += 1;
            }
            for id in &ids {
                if let Some(t) = self.tracked.get_mut(id) {
                    t.requests += 1;
                }
            }
            match result {
                Err(Auth0Error::Cancelled { .. }) => {}
                Err(e) => {
                    for id in ids {
                        self.fail(id, FailureInfo::from(&e))?;
                    }
                }
                Ok(refused) => {
                    for id in ids {
                        let email = self.tracked[&id].change.user.email.clone();
                        match refused.get(&email) {
                            // Created already (an earlier run's import, or anyone):
                            // like a 409, found and taken over.
                            Some(why) if why.contains("DUPLICATED_USER") => duplicates.push(id),
                            Some(why) => self.fail(
                                id,
                                FailureInfo {
                                    status: None,
                                    error_code: Some("import_error".into()),
                                    message: format!("the import job refused the user: {why}"),
                                },
                            )?,
                            None => imported.push(id),
                        }
                    }
                }
            }
        }
        self.learn_imported_ids(imported).await?;
        for id in duplicates {
            self.adopt(id).await?;
        }
        Ok(())
    }

    /// Imports do not say the new ids. Search and exports lag behind imports, so an
    /// export (for many users) is only a first answer; whoever it lacks is looked up
    /// with `users-by-email`, which is immediately consistent.
    async fn learn_imported_ids(&mut self, imported: Vec<u32>) -> Result<()> {
        if imported.is_empty() {
            return Ok(());
        }
        let mut by_email: BTreeMap<String, String> = BTreeMap::new();
        if imported.len() > LOOKUP_ONE_BY_ONE {
            for u in self.client.export_connection_users(&self.plan.connection).await? {
                if let Some(e) = u.email {
                    by_email.insert(crate::email::key(&e).into_owned(), u.user_id);
                }
            }
        }
        let mut entries = Vec::new();
        for id in imported {
            let email = self.tracked[&id].change.user.email.clone();
            let user_id = match by_email.get(&email) {
                Some(uid) => Some(uid.clone()),
                None => {
                    let found = self.client.find_by_email(&email).await?;
                    found.into_iter().find(|u| u.connection == self.plan.connection).map(|u| u.user_id)
                }
            };
            match user_id {
                Some(uid) => {
                    let t = self.tracked.get_mut(&id).expect("tracked");
                    t.work.user_id = Some(uid.clone());
                    t.progressed = true;
                    entries.push(Entry::Step { id, step: "import".into(), user_id: Some(uid), at: Utc::now() });
                }
                None => self.fail(
                    id,
                    FailureInfo::note(format!(
                        "{email} was imported but users-by-email does not find it; run apply again to assign its roles"
                    )),
                )?,
            }
        }
        let ids: Vec<u32> = self.tracked.keys().copied().collect();
        entries.extend(ids.into_iter().filter_map(|id| self.complete_if_done(id)));
        self.journal_entries(&entries)
    }

    /// A user that already existed: found with an immediately consistent read and
    /// taken over when its roles fit the plan.
    async fn adopt(&mut self, id: u32) -> Result<()> {
        let email = self.tracked[&id].change.user.email.clone();
        match existing_user(self.client, self.plan, &self.role_names, &email).await {
            Ok(Some((user_id, roles, key))) => self.adopted(id, user_id, roles, key),
            Ok(None) => self.fail(id, FailureInfo::note("the import job said the user exists, but it cannot be found")),
            Err(e) => self.fail(id, FailureInfo::from(&e)),
        }
    }
}
