//! The plan's JSON Schema, generated from the plan types (schemars) so that it
//! cannot drift from what serde writes: `plans/plan.schema.json` is
//! [`json_schema`]'s output (`cargo run --example gen-schema` writes it; a test
//! checks the committed file is current). Descriptions are the types' doc comments;
//! what types cannot say (one `if`/`then` per action) is added here from the same
//! rules `Plan::consistency` enforces.

use crate::model::NameSet;
use crate::plan::{Action, FORMAT_VERSION, Plan};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};
use std::borrow::Cow;

/// A `sha256:<hex>` text (checksum, fingerprints), for the schema only.
pub(crate) struct Sha256Text;

impl JsonSchema for Sha256Text {
    fn schema_name() -> Cow<'static, str> {
        "sha256".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A SHA-256 digest: `sha256:` followed by 64 lower-case hex digits.",
            "type": "string",
            "pattern": "^sha256:[0-9a-f]{64}$"
        })
    }
}

/// `true`: a flag serde writes only when set, for the schema only.
pub(crate) struct True;

impl JsonSchema for True {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "true".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "const": true })
    }
}

impl JsonSchema for NameSet {
    fn schema_name() -> Cow<'static, str> {
        "roleNames".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Role names, sorted, each at most once.",
            "type": "array",
            "uniqueItems": true,
            "items": { "type": "string", "minLength": 1 }
        })
    }
}

/// What each action requires of `before`, `after` and `user` (the shapes
/// `Plan::consistency` checks), as one `if`/`then` per action, in plan order.
pub(crate) fn change_branches(schema: &mut Schema) {
    let state = json!({ "$ref": "#/$defs/userState" });
    let with = |extra: Value| {
        let mut s = state.clone();
        s.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        s
    };
    let unblocked = || with(json!({ "not": { "required": ["blocked"] } }));
    let unblocked_with = |required: Value, absent: Value| {
        with(json!({ "allOf": [
            { "not": { "required": ["blocked"] } },
            { "required": required },
            { "not": { "anyOf": absent.as_array().expect("array").iter().map(|k| json!({ "required": [k] })).collect::<Vec<_>>() } }
        ] }))
    };
    let blocked = || with(json!({ "required": ["blocked"] }));
    let null = || json!({ "type": "null" });
    let has_id = || json!({ "required": ["user_id"] });
    let branches: Vec<Value> = Action::ALL
        .iter()
        .map(|a| {
            let (before, after, user) = match a {
                Action::UpdateEmail => (
                    unblocked_with(json!(["key"]), json!(["fields", "profile", "email_verified", "verify_email"])),
                    {
                        let mut s = unblocked_with(
                            json!(["key", "email", "email_verified", "verify_email"]),
                            json!(["fields", "profile"]),
                        );
                        s.as_object_mut().expect("object").insert(
                            "properties".into(),
                            json!({ "email_verified": { "const": false }, "verify_email": { "const": true } }),
                        );
                        s
                    },
                    has_id(),
                ),
                Action::CreateUser => (null(), unblocked(), json!({ "not": { "required": ["user_id"] } })),
                Action::AdoptUser => (
                    unblocked_with(json!([]), json!(["key", "fields", "email"])),
                    unblocked_with(json!(["key"]), json!(["fields", "email"])),
                    has_id(),
                ),
                Action::UpdateProfile => (
                    unblocked_with(json!(["fields"]), json!(["email", "profile"])),
                    unblocked_with(json!(["fields"]), json!(["email", "profile"])),
                    has_id(),
                ),
                Action::UnblockUser => (blocked(), unblocked(), has_id()),
                Action::UpdateRoles => (unblocked(), unblocked(), has_id()),
                Action::BlockUser => (unblocked(), blocked(), has_id()),
                Action::DeleteUser => (state.clone(), null(), has_id()),
            };
            json!({
                "if": { "properties": { "action": { "const": a.as_str() } }, "required": ["action"] },
                "then": { "properties": { "before": before, "after": after, "user": user } }
            })
        })
        .collect();
    schema.insert("allOf".into(), Value::Array(branches));
}

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
