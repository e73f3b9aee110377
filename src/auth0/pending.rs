//! Temporary seam: methods apply needs that the client does not have yet.
//! (Moved into client.rs when the client lands.)

use super::{Auth0Client, Auth0Error};

impl Auth0Client {
    /// Creates a role; returns its id.
    pub async fn create_role(&self, name: &str) -> Result<String, Auth0Error> {
        let _ = name;
        unimplemented!("client")
    }

    /// Blocks or unblocks a user, marking blocks made by auth0-sync in app_metadata.
    pub async fn set_blocked(&self, user_id: &str, blocked: bool) -> Result<(), Auth0Error> {
        let _ = (user_id, blocked);
        unimplemented!("client")
    }

    /// Assigns one role to many users: `POST /roles/{id}/users`.
    pub async fn assign_users_to_role(&self, role_id: &str, user_ids: &[String]) -> Result<(), Auth0Error> {
        let _ = (role_id, user_ids);
        unimplemented!("client")
    }
}
