//! The plan's JSON Schema, generated from the plan types (schemars) so that it
//! cannot drift from what serde writes: `plans/plan.schema.json` is
//! [`json_schema`]'s output (`cargo run --example gen-schema` writes it; a test
//! checks the committed file is current). Descriptions are the types' doc comments;
//! what types cannot say (one `if`/`then` per action) is added here from the same
//! rules `Plan::consistency` enforces.

use crate::plan::{FORMAT_VERSION, Plan};
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

/// The plan file's JSON Schema (draft 2020-12), as committed in
/// `plans/plan.schema.json`.
pub fn json_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().for_serialize().into_generator();
    let mut v = generator.into_root_schema_for::<Plan>().to_value();
    let o = v.as_object_mut().expect("a root schema is an object");
    o.insert("$id".into(), json!(format!("urn:auth0-sync:plan:{FORMAT_VERSION}")));
    o.insert("title".into(), json!(format!("auth0-sync plan file (format_version {FORMAT_VERSION})")));
    unwrap_descriptions(&mut v);
    v
}

/// Doc comments are wrapped at 120 columns; a description is one line per paragraph.
fn unwrap_descriptions(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                match x {
                    Value::String(d) if k == "description" => {
                        *d = d.split("\n\n").map(|p| p.replace('\n', " ")).collect::<Vec<_>>().join("\n\n");
                    }
                    other => unwrap_descriptions(other),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// The schema as written to `plans/plan.schema.json`: pretty, keys sorted, newline.
pub fn json_schema_text() -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&o[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut text = serde_json::to_string_pretty(&sorted(&json_schema())).expect("a schema serialises");
    text.push('\n');
    text
}
