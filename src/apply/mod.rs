//! Executes a validated plan against the tenant.
