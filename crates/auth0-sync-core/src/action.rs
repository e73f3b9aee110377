//! The kinds of change a plan holds, in the order apply executes them: their own
//! module so that the plan's schema rules (`schema_types`) can name them without
//! depending on the plan.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the change does: `update_email` changes the address of a user found by its HR
/// key (same `user_id`, roles and history); `create_user` creates the user in the
/// connection then assigns its roles; `adopt_user` writes the HR key on a user of the
/// connection found by email that has none; `update_profile` sets (or clears) synced
/// fields; `unblock_user` unblocks a user auth0-sync blocked earlier who is back in the
/// source (roles unchanged); `update_roles` assigns and/or removes roles of an existing
/// user; `block_user` blocks a user missing from the source (`policy.on_missing`
/// `block`; reversible, roles unchanged); `delete_user` deletes the user (no undo).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "action")]
pub enum Action {
    /// Change the email of a user found by its HR key (a rename, never a delete and a
    /// create); first, so that addresses are free when creates take them.
    UpdateEmail,
    /// Create the user in the connection, then assign its roles.
    CreateUser,
    /// Write the HR key on a user of the connection found by email (once).
    AdoptUser,
    /// Set or clear synced fields (`name`, `given_name`, `family_name`,
    /// `app_metadata.<key>`).
    UpdateProfile,
    /// Unblock a user auth0-sync blocked earlier who is back in the source.
    UnblockUser,
    /// Assign and/or remove roles of an existing user.
    UpdateRoles,
    /// Block a user missing from the source (`--on-missing block`; reversible).
    BlockUser,
    /// Delete the user (no undo).
    DeleteUser,
}

impl Action {
    /// Every action, in the order a plan lists and apply executes them.
    pub const ALL: [Action; 8] = [
        Action::UpdateEmail,
        Action::CreateUser,
        Action::AdoptUser,
        Action::UpdateProfile,
        Action::UnblockUser,
        Action::UpdateRoles,
        Action::BlockUser,
        Action::DeleteUser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::UpdateEmail => "update_email",
            Action::CreateUser => "create_user",
            Action::AdoptUser => "adopt_user",
            Action::UpdateProfile => "update_profile",
            Action::UnblockUser => "unblock_user",
            Action::UpdateRoles => "update_roles",
            Action::BlockUser => "block_user",
            Action::DeleteUser => "delete_user",
        }
    }

    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Action::UpdateEmail => "update email",
            Action::CreateUser => "create",
            Action::AdoptUser => "adopt",
            Action::UpdateProfile => "set profile",
            Action::UnblockUser => "unblock",
            Action::UpdateRoles => "update roles",
            Action::BlockUser => "block",
            Action::DeleteUser => "delete",
        }
    }
}
