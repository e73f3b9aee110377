//! The pure core of auth0-sync: the model, the domain rules (emails, roles, the
//! ignore list, caps), the policy, the planner, the plan file and drift detection.
//! No async, no clock, no network: everything here is a function of its inputs, so
//! it is tested with tables and properties and shared by the CLI, the tests and the
//! fuzzers.

// Diagnostics carry source text and spans; they are on the cold path.
#![allow(clippy::result_large_err)]

pub mod action;
pub mod caps;
mod consistency;
pub mod digest;
pub mod drift;
pub mod email;
mod error;
pub mod fields;
pub mod ignore;
pub mod leavers;
mod matching;
pub mod model;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod roles;
pub mod schema;
mod schema_types;
pub mod seal;
pub mod targets;

pub use error::{DriftItem, PlanError, PlanFileError, PlanStoreError};
