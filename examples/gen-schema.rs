//! Writes `plans/plan.schema.json` from the plan types (schemars):
//! `cargo run --example gen-schema`. The test `plan_schema::committed_schema_is_current`
//! fails when the committed file differs from what this writes.

fn main() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/plan.schema.json");
    std::fs::write(&path, auth0_sync::schema::json_schema_text()).expect("write plans/plan.schema.json");
    println!("wrote {}", path.display());
}
