//! The invariants the fuzz targets (`fuzz/`) check, in the library so that
//! `tests/fuzz_regressions.rs` runs them on every seed and every past crash.

use crate::plan::Plan;
use crate::source::{ColumnMap, DesiredStateBuilder, normalize_email, split_roles};

/// A plan text: `parse` never panics; an accepted plan round-trips exactly and is
/// consistent.
pub fn check_plan_text(text: &str) {
    if let Ok(plan) = Plan::parse("fuzz.json", text) {
        let again = Plan::parse("fuzz.json", &plan.to_json_pretty()).expect("a parsed plan re-parses");
        assert_eq!(again, plan, "round trip");
        assert!(plan.consistency().is_ok());
        assert_eq!(plan.compute_checksum(), plan.checksum);
    }
}

/// Arbitrary bytes as rows of cells (`\n` between rows, `\t` between cells: email,
/// role, roles, name): the builder never panics, and its output is normal.
pub fn check_source_rows(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let map = ColumnMap::new(&["email", "role", "roles", "name"]).expect("columns");
    let mut builder = DesiredStateBuilder::new();
    let mut pushed = 0u64;
    for line in text.split('\n') {
        let cells: Vec<&str> = line.split('\t').collect();
        builder.push(map.row(|i| cells.get(i).map(|c| (*c).to_owned())));
        pushed += 1;
        for cell in &cells {
            for r in split_roles(cell) {
                assert!(!r.is_empty() && r.trim() == r, "role {r:?}");
            }
        }
    }
    let state = builder.finish();
    assert_eq!(state.rows, pushed);
    for (key, user) in &state.users {
        assert_eq!(key, &user.email);
        assert_eq!(normalize_email(key).as_deref(), Some(key.as_str()), "keys are normal emails");
        assert!(user.roles.iter().all(|r| !r.is_empty() && r.trim() == r));
    }
}

/// Arbitrary bytes as `q` (up to the first NUL) and a JSON body (the rest): the
/// emulator's parsing never panics. The split lives in the emulator crate, which the
/// `emulator_request` fuzz target calls directly.
pub fn check_emulator_request(data: &[u8]) {
    let _ = auth0_emulator::fuzz_request_bytes(data);
}
