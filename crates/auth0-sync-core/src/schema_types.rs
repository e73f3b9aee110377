//! Schema stand-ins for plan fields whose JSON Schema says more than their Rust type
//! (a `sha256:` text, a flag written only when set) and the per-action rules of a
//! change: what the plan types name in their `schemars` attributes, apart from the
//! generator (`schema`) so that the plan does not depend on it.

use crate::action::Action;
use crate::model::NameSet;
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
