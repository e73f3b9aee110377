//! Strong random passwords for new database users. They are sent once to Auth0 and
//! never printed, logged or stored.

use crate::settings::Secret;

/// A random password satisfying Auth0's strictest password policy.
pub fn generate() -> Secret {
    unimplemented!("auth0 helper")
}
