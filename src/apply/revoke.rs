//! `plan --revoke-sessions`: the sessions and refresh tokens of the users a plan blocks
//! are revoked after the block (`DELETE /users/{id}/sessions` and `/refresh-tokens`,
//! Enterprise-only endpoints), and a tenant without them is found at plan time by a
//! cheap probe, never half way through an apply. Revocation is idempotent (202), so a
//! resumed apply revokes again for every block of the plan that is in place.

use super::executor::Run;
use super::report::{FailureInfo, OutcomeStatus};
use crate::auth0::{Auth0Client, Auth0Error};
use crate::plan::Action;

const REVOKED: &str = "sessions and refresh tokens revoked";

/// Revokes the sessions and refresh tokens of every user this plan blocks whose block
/// is in place (done now or by an earlier run). A failed revocation fails its change
/// ("blocked, revocation failed").
pub(super) async fn revoke_blocked(run: &mut Run<'_>) {
    if !run.plan.policy.revoke_sessions {
        return;
    }
    let client = run.client;
    for t in run.tracked.values_mut() {
        if run.cancel.is_cancelled() {
            return;
        }
        if t.change.action != Action::BlockUser || t.status != Some(OutcomeStatus::Done) {
            continue;
        }
        let Some(user_id) = t.work.user_id.clone().or_else(|| t.change.user.user_id.clone()) else { continue };
        t.requests += 2;
        run.sent += 2;
        match revoke_one(client, &user_id).await {
            Ok(()) => t.detail = Some(REVOKED.into()),
            Err(e) => {
                t.status = Some(OutcomeStatus::Failed);
                t.detail = Some("blocked, revocation failed".into());
                t.error = Some(FailureInfo::from(&e));
            }
        }
    }
    for o in run.settled.iter_mut() {
        if run.cancel.is_cancelled() {
            return;
        }
        if o.action != Action::BlockUser || o.status != OutcomeStatus::AlreadyApplied {
            continue;
        }
        let Some(user_id) = o.user_id.clone() else { continue };
        run.sent += 2;
        match revoke_one(client, &user_id).await {
            Ok(()) => o.detail = Some(REVOKED.into()),
            Err(e) => {
                o.status = OutcomeStatus::Failed;
                o.detail = Some("blocked, revocation failed".into());
                o.error = Some(FailureInfo::from(&e));
            }
        }
    }
}

async fn revoke_one(client: &Auth0Client, user_id: &str) -> Result<(), Auth0Error> {
    client.revoke_user_tokens(user_id, "sessions").await?;
    client.revoke_user_tokens(user_id, "refresh-tokens").await
}
