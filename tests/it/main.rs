//! The one integration-test binary (as uv and ripgrep do): every suite is a module
//! here, so the crates are linked once and the fixtures in `common` are shared.

mod apply_offline;
mod apply_safety;
mod approved_cap;
mod auth0_client;
mod auth0_real;
mod check;
mod cli;
mod common;
mod crash_resume;
mod diagnostics;
mod emulator_api;
mod emulator_invites;
mod emulator_scale;
mod emulator_state;
mod emulator_users;
mod ergonomics;
mod fuzz_regressions;
mod invites;
mod markdown;
mod mock_sql;
mod mssql_connect;
mod mssql_e2e;
mod mssql_source;
mod outcomes;
mod plan_schema;
mod planner;
mod policy_example;
mod properties;
mod render;
mod resume;
mod scale;
mod secrets;
mod signing;
mod source_sqlite;
mod targets;
