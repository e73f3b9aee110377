//! The plan file against its published JSON Schema (`plans/plan.schema.json`), and
//! `Plan::parse` against tampered files. Plans are built in-process through the
//! public API: planner → `Changeset` → `Plan::new` → `to_json_pretty`.

use auth0_sync::digest::sha256_tagged;
use auth0_sync::error::PlanFileError;
use auth0_sync::model::{DesiredState, Profile, TenantRole, TenantSnapshot, TenantUser};
use auth0_sync::plan::{Action, FORMAT_VERSION, OnMissing, Plan, SourceInfo, UserState};
use auth0_sync::planner::{self, DeleteCap, IgnoreList, Policy};
use auth0_sync::source::{DesiredStateBuilder, RawRow};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const CONNECTION: &str = "Username-Password-Authentication";
const SCHEMA_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plans/plan.schema.json");

// ---------------------------------------------------------------------------
// Fixtures

fn schema() -> Value {
    let text = std::fs::read_to_string(SCHEMA_PATH).expect("plans/plan.schema.json is readable");
    serde_json::from_str(&text).expect("plans/plan.schema.json is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::options().should_validate_formats(true).build(&schema()).expect("the schema compiles")
}

/// Validation errors as `instance path: message` lines; empty when valid.
fn errors(instance: &Value) -> Vec<String> {
    let v = validator();
    v.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

fn assert_valid(instance: &Value) {
    let errs = errors(instance);
    assert!(
        errs.is_empty(),
        "plan does not match the schema:\n{}\n{}",
        errs.join("\n"),
        serde_json::to_string_pretty(instance).unwrap()
    );
}

fn assert_invalid(instance: &Value, why: &str) {
    assert!(
        !validator().is_valid(instance),
        "schema accepted a plan with {why}:\n{}",
        serde_json::to_string_pretty(instance).unwrap()
    );
}

fn row(email: &str, roles: &[&str]) -> RawRow {
    RawRow {
        email: Some(email.to_owned()),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        profile: Profile::default(),
        ..Default::default()
    }
}

fn tenant_user(id: &str, email: &str, connection: &str, role_ids: &[&str]) -> TenantUser {
    TenantUser {
        user_id: id.to_owned(),
        email: Some(email.to_owned()),
        connection: connection.to_owned(),
        blocked: false,
        blocked_by_sync: false,
        role_ids: role_ids.iter().map(|r| (*r).to_owned()).collect(),
        linked_to: None,
        synced: Default::default(),
    }
}

/// A user blocked by auth0-sync (`by_sync`) or by a person.
fn blocked_user(id: &str, email: &str, role_ids: &[&str], by_sync: bool) -> TenantUser {
    TenantUser { blocked: true, blocked_by_sync: by_sync, ..tenant_user(id, email, CONNECTION, role_ids) }
}

const ADMIN: &str = "rol_admin0000000001";
const EDITOR: &str = "rol_editor000000002";
const VIEWER: &str = "rol_viewer000000003";
const SUPPORT: &str = "rol_support00000004";

fn tenant() -> TenantSnapshot {
    let mut t = TenantSnapshot::default();
    for (id, name) in [(ADMIN, "admin"), (EDITOR, "editor"), (VIEWER, "viewer"), (SUPPORT, "support")] {
        t.roles.insert(id.to_owned(), TenantRole { id: id.to_owned(), name: name.to_owned() });
    }
    for u in [
        // Roles change: editor → admin + viewer (support is not managed in the block fixture).
        tenant_user("auth0|bob", "Bob@Example.com", CONNECTION, &[EDITOR, SUPPORT]),
        // Already matches.
        tenant_user("auth0|dave", "dave@example.com", CONNECTION, &[VIEWER]),
        // Not in the source: deleted, or blocked.
        tenant_user("auth0|carol", "carol@example.com", CONNECTION, &[ADMIN, VIEWER]),
        // Not in the source but ignored.
        tenant_user("auth0|erin", "erin@contractors.example.com", CONNECTION, &[]),
        // Another connection: never touched.
        tenant_user("google-oauth2|frank", "frank@example.com", "google-oauth2", &[ADMIN]),
        // Blocked by auth0-sync and back in the source: unblocked (on_missing block), roles change too.
        blocked_user("auth0|grace", "grace@example.com", &[VIEWER], true),
        // Blocked by a person and in the source: never unblocked by the tool; roles match.
        blocked_user("auth0|henry", "henry@example.com", &[VIEWER], false),
        // Not in the source and already blocked: deleted (before.blocked), or kept.
        blocked_user("auth0|ivan", "ivan@example.com", &[EDITOR], true),
        // A role id the snapshot does not know is left out of every change.
        tenant_user("auth0|judy", "judy@example.com", CONNECTION, &[VIEWER, "rol_gone00000000005"]),
    ] {
        t.users.insert(u.user_id.clone(), u);
    }
    t
}

/// The source: a create with a profile, updates, unchanged users, a user back from a
/// block, and rows that only produce warnings. `auditor` is not in the tenant and
/// `billing` is outside the managed roles of the block fixture.
fn desired(with_new_roles: bool) -> DesiredState {
    let mut b = DesiredStateBuilder::new();
    let alice: &[&str] =
        if with_new_roles { &["editor", "viewer", "auditor", "billing"] } else { &["editor", "viewer"] };
    b.push(RawRow {
        profile: Profile {
            name: Some("Alice Liddell".into()),
            given_name: Some("Alice".into()),
            family_name: Some("Liddell".into()),
        },
        ..row(" Alice@Example.com ", alice)
    });
    b.push(row("bob@example.com", &["admin"]));
    b.push(row("BOB@example.com", &["viewer"]));
    b.push(row("dave@example.com", &["viewer"]));
    b.push(row("not-an-email", &["viewer"]));
    b.push(RawRow { email: None, ..row("", &["viewer"]) });
    b.push(RawRow {
        profile: Profile { name: Some("Alice L.".into()), ..Profile::default() },
        ..row("alice@example.com", &[])
    });
    b.push(row("grace@example.com", if with_new_roles { &["viewer", "auditor"] } else { &["viewer"] }));
    b.push(row("henry@example.com", &["viewer"]));
    b.push(row("judy@example.com", &["viewer"]));
    b.finish()
}

fn ignore() -> IgnoreList {
    IgnoreList::new(["*@contractors.example.com"]).unwrap()
}

fn policy() -> Policy {
    Policy { connection: CONNECTION.to_owned(), ignore: ignore(), ..Default::default() }
}

/// on_missing block, managed roles, missing roles created.
fn block_policy() -> Policy {
    Policy {
        managed_roles: auth0_sync::roles::ManagedRoles(Some(
            ["admin", "auditor", "editor", "viewer"].map(str::to_owned).into(),
        )),
        on_missing: OnMissing::Block,
        create_missing_roles: true,
        ..policy()
    }
}

fn make_plan(desired: &DesiredState, tenant: &TenantSnapshot, policy: &Policy) -> Plan {
    let changeset = planner::plan(desired, tenant, policy).expect("planning succeeds");
    let record = policy.record(tenant, &changeset);
    Plan::new(
        Utc.with_ymd_and_hms(2026, 11, 28, 13, 30, 0).unwrap(),
        "acme.eu.auth0.com".to_owned(),
        CONNECTION.to_owned(),
        tenant.fingerprint(),
        SourceInfo {
            kind: "sqlite".into(),
            location: "examples/demo/hr.sqlite".into(),
            rows: desired.rows,
            users: desired.users.len() as u64,
            ..Default::default()
        },
        record,
        changeset,
    )
}

/// on_missing delete (the default): creates, role updates, deletes.
fn full_plan() -> Plan {
    make_plan(&desired(false), &tenant(), &policy())
}

/// on_missing block with managed roles and roles to create: every action but delete.
fn block_plan() -> Plan {
    make_plan(&desired(true), &tenant(), &block_policy())
}

/// on_missing ignore, no deletion cap.
fn ignore_plan() -> Plan {
    let policy = Policy { on_missing: OnMissing::Ignore, delete_cap: DeleteCap::Unlimited, ..policy() };
    make_plan(&desired(false), &tenant(), &policy)
}

/// Two-stage leaving and session revocation (#14): `policy.delete_after` and
/// `policy.revoke_sessions` recorded.
fn two_stage_plan() -> Plan {
    let two = auth0_sync::leavers::TwoStage {
        delete_after: chrono::Duration::days(7),
        now: chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc),
    };
    make_plan(&desired(true), &tenant(), &Policy { two_stage: Some(two), revoke_sessions: true, ..block_policy() })
}

/// A plan with no changes: the tenant already holds exactly the desired users.
fn empty_plan() -> Plan {
    let mut b = DesiredStateBuilder::new();
    b.push(row("dave@example.com", &["viewer"]));
    let mut t = tenant();
    t.users.retain(|id, _| id == "auth0|dave");
    make_plan(&b.finish(), &t, &policy())
}

/// The plan as written to disk, parsed back into a JSON value.
fn written(plan: &Plan) -> Value {
    serde_json::from_str(&plan.to_json_pretty()).expect("to_json_pretty writes JSON")
}

/// Index of the first change with `action`, asserting there is one.
fn change_index(v: &Value, action: &str) -> usize {
    v["changes"]
        .as_array()
        .expect("changes is an array")
        .iter()
        .position(|c| c["action"] == action)
        .unwrap_or_else(|| panic!("the fixture plan has no {action} change"))
}

/// Canonical JSON as `Plan` seals it: object keys sorted at every level (whatever
/// map type serde_json was built with), no whitespace.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                canonical(&o[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).unwrap()),
    }
}

/// Recomputes the checksum of an edited plan file the way `Plan::parse` checks it
/// (over the JSON as written, so fields serde would drop count too), so that
/// `Plan::parse` gets past the checksum and judges the content.
fn reseal(v: &mut Value) {
    let mut body = v.clone();
    body.as_object_mut().unwrap().remove("checksum");
    let mut text = String::new();
    canonical(&body, &mut text);
    v["checksum"] = json!(sha256_tagged(text.as_bytes()));
}

/// Edits a typed plan, reseals it with `Plan::compute_checksum` (what someone with
/// this crate would do), and returns the text as written.
fn edited(mut plan: Plan, edit: impl FnOnce(&mut Plan)) -> String {
    edit(&mut plan);
    plan.checksum = plan.compute_checksum();
    plan.to_json_pretty()
}

/// Every plan fixture, by name.
/// The block plan made partial (every email it mentions as a target) and signed:
/// it carries every optional field, `targets` and `signature` included.
fn signed_partial_plan() -> Plan {
    let plan = block_plan();
    let cs = &plan.changeset;
    let emails: Vec<String> =
        cs.changes.iter().map(|c| c.user.email.clone()).chain(cs.ignored_users.iter().cloned()).collect();
    let mut plan = plan.with_targets(emails);
    auth0_sync::seal::sign(&mut plan, &auth0_sync::seal::SigningKey::from_bytes(&[9; 32]));
    plan
}

/// With an HR key and synced fields (#13): a rename with a name change, an adoption,
/// a create with the key and metadata, a metadata key cleared (on_null clear), and a
/// field left to others (create_only).
fn keyed_plan() -> Plan {
    use auth0_sync::fields::{FieldAuthority, OnNull};
    use auth0_sync::model::{SourceColumns, SyncedFields};
    let columns = SourceColumns {
        key: Some("employee_id".into()),
        fields: ["name", "given_name", "app_metadata.team"].map(str::to_owned).into(),
    };
    let mut b = DesiredStateBuilder::with_columns(columns);
    let keyed = |email: &str, key: &str, name: Option<&str>, team: Option<&str>| RawRow {
        key: Some(key.into()),
        profile: Profile { name: name.map(str::to_owned), given_name: name.map(str::to_owned), ..Profile::default() },
        metadata: vec![("team".into(), team.map(str::to_owned))],
        ..row(email, &["viewer"])
    };
    b.push(keyed("kate.new@example.com", "E1", Some("Kate New"), Some("Blue")));
    b.push(keyed("leo@example.com", "E2", None, None));
    b.push(keyed("mia@example.com", "E3", Some("Mia"), Some("Blue")));
    b.push(keyed("ned@example.com", "E4", None, None));
    let mut t = TenantSnapshot::default();
    t.roles.insert(VIEWER.into(), TenantRole { id: VIEWER.into(), name: "viewer".into() });
    let synced = |key: Option<&str>, name: Option<&str>, team: Option<&str>| SyncedFields {
        key: key.map(str::to_owned),
        profile: Profile { name: name.map(str::to_owned), ..Profile::default() },
        metadata: team.map(|t| [("team".to_owned(), json!(t))].into()).unwrap_or_default(),
    };
    for (id, email, synced) in [
        ("auth0|kate", "kate.old@example.com", synced(Some("E1"), Some("Kate Old"), Some("Blue"))),
        ("auth0|leo", "leo@example.com", synced(None, None, None)),
        ("auth0|ned", "ned@example.com", synced(Some("E4"), None, Some("Red"))),
    ] {
        t.users.insert(id.into(), TenantUser { synced, ..tenant_user(id, email, CONNECTION, &[VIEWER]) });
    }
    let policy = Policy {
        on_null: OnNull::Clear,
        authority: FieldAuthority::parse("given_name=create_only").unwrap(),
        ..policy()
    };
    let desired = b.finish();
    let mut plan = make_plan(&desired, &t, &policy);
    plan.source.key_column = desired.columns.key.clone();
    plan.source.fields = desired.columns.fields.iter().cloned().collect();
    plan.checksum = plan.compute_checksum();
    plan
}

#[test]
fn keyed_plan_matches_the_schema() {
    let v = written(&keyed_plan());
    let actions: Vec<(String, String)> = actions_of(&v);
    let want = [
        ("update_email", "kate.new@example.com"),
        ("create_user", "mia@example.com"),
        ("adopt_user", "leo@example.com"),
        ("update_profile", "kate.new@example.com"),
        ("update_profile", "ned@example.com"),
    ];
    assert_eq!(actions, want.map(|(a, e)| (a.to_owned(), e.to_owned())));
    let rename = &v["changes"][0];
    assert_eq!(rename["before"], json!({"roles": ["viewer"], "key": "E1", "email": "kate.old@example.com"}));
    assert_eq!(
        rename["after"],
        json!({"roles": ["viewer"], "key": "E1", "email": "kate.new@example.com", "email_verified": false, "verify_email": true})
    );
    assert_eq!(v["changes"][1]["after"]["key"], "E3");
    assert_eq!(v["changes"][1]["after"]["fields"], json!({"app_metadata.team": "Blue"}));
    assert_eq!(
        v["changes"][1]["after"]["profile"],
        json!({"name": "Mia", "given_name": "Mia"}),
        "create_only is set at creation"
    );
    assert_eq!(v["changes"][2]["before"], json!({"roles": ["viewer"]}));
    assert_eq!(v["changes"][2]["after"], json!({"roles": ["viewer"], "key": "E2"}));
    assert_eq!(v["changes"][3]["before"]["fields"], json!({"name": "Kate Old"}), "given_name is create_only");
    assert_eq!(v["changes"][3]["after"]["fields"], json!({"name": "Kate New"}));
    assert_eq!(v["changes"][4]["before"]["fields"], json!({"app_metadata.team": "Red"}));
    assert_eq!(v["changes"][4]["after"]["fields"], json!({"app_metadata.team": null}), "on_null clear");
    assert_eq!(v["source"]["key_column"], "employee_id");
    assert_eq!(v["policy"]["field_authority"], json!({"given_name": "create_only"}));
    assert_eq!(v["summary"]["update_email"], 1);
    assert_eq!(v["summary"]["adopt_user"], 1);
    assert_eq!(v["summary"]["update_profile"], 2);
    assert_valid(&v);
}

#[test]
fn rejects_key_changes_of_the_wrong_shape() {
    let base = written(&keyed_plan());
    let refuse = |why: &str, edit: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        edit(&mut v);
        assert_invalid(&v, why);
        reseal(&mut v);
        assert!(
            matches!(
                parse(&serde_json::to_string_pretty(&v).unwrap()),
                Err(PlanFileError::Inconsistent { .. } | PlanFileError::Shape { .. })
            ),
            "parse accepted {why}"
        );
    };
    refuse("a rename without verify_email", &|v| {
        v["changes"][0]["after"].as_object_mut().unwrap().remove("verify_email");
    });
    refuse("a rename marking the new address verified", &|v| v["changes"][0]["after"]["email_verified"] = json!(true));
    refuse("an adoption of a user that has a key", &|v| v["changes"][2]["before"]["key"] = json!("E9"));
    refuse("an adoption without a key", &|v| {
        v["changes"][2]["after"].as_object_mut().unwrap().remove("key");
    });
    refuse("a profile change without fields", &|v| {
        v["changes"][3]["after"].as_object_mut().unwrap().remove("fields");
        v["changes"][3]["before"].as_object_mut().unwrap().remove("fields");
    });
    refuse("a field that is not synced", &|v| {
        v["changes"][3]["after"]["fields"] = json!({"nickname": "K"});
        v["changes"][3]["before"]["fields"] = json!({"nickname": null});
    });
    // Consistency only: what the schema cannot see.
    let inconsistent = |why: &str, edit: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        edit(&mut v);
        reseal(&mut v);
        assert!(
            matches!(parse(&serde_json::to_string_pretty(&v).unwrap()), Err(PlanFileError::Inconsistent { .. })),
            "parse accepted {why}"
        );
    };
    inconsistent("a create_only field in a profile change", &|v| {
        v["changes"][3]["after"]["fields"] = json!({"given_name": "Kate"});
        v["changes"][3]["before"]["fields"] = json!({"given_name": null});
    });
    inconsistent("a rename to another address than the user's", &|v| {
        v["changes"][0]["after"]["email"] = json!("someone@example.com");
    });
    inconsistent("a profile change that changes nothing", &|v| {
        v["changes"][3]["after"]["fields"] = json!({"name": "Kate Old"});
    });
}

fn fixtures() -> Vec<(&'static str, Plan)> {
    vec![
        ("keyed", keyed_plan()),
        ("full", full_plan()),
        ("block", block_plan()),
        ("ignore", ignore_plan()),
        ("empty", empty_plan()),
        ("signed partial", signed_partial_plan()),
        ("two-stage", two_stage_plan()),
    ]
}

/// Values of an enum's schema: `enum`, or the `const` of each `oneOf` branch.
fn enum_values(s: &Value, node: &Value) -> Vec<String> {
    let node = resolve(s, node);
    match (node.get("enum"), node.get("oneOf")) {
        (Some(Value::Array(v)), _) => v.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
        (_, Some(Value::Array(v))) => v.iter().map(|b| b["const"].as_str().unwrap().to_owned()).collect(),
        _ => panic!("not an enum: {node}"),
    }
}

/// `PlanFileError` carries the file for its diagnostics, hence its size (the
/// library allows `clippy::result_large_err` for the same reason).
#[allow(clippy::result_large_err)]
fn parse(text: &str) -> Result<Plan, PlanFileError> {
    Plan::parse("plan.json", text)
}

// ---------------------------------------------------------------------------
// The schema itself

/// `plans/plan.schema.json` is generated from the plan types (schemars): the
/// committed file must be what the types give today. `cargo run --example
/// gen-schema` rewrites it (or run this test with UPDATE_SCHEMA=1).
#[test]
fn committed_schema_is_current() {
    let generated = auth0_sync::schema::json_schema_text();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_PATH, &generated).unwrap();
    }
    let committed: Value = schema();
    let fresh: Value = serde_json::from_str(&generated).unwrap();
    assert!(
        committed == fresh,
        "plans/plan.schema.json is stale: run `cargo run --example gen-schema` and commit the result"
    );
    assert_eq!(std::fs::read_to_string(SCHEMA_PATH).unwrap(), generated, "same content, but not as generated");
}

/// The policy example reads what `show --format json` prints; a policy engine may
/// rely on the fields it uses being required by the schema.
#[test]
fn the_fields_a_policy_reads_are_required() {
    let s = schema();
    let required = |node: &Value| -> BTreeSet<String> {
        resolve(&s, node)["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    assert!(required(&s).is_superset(&BTreeSet::from(["changes".into(), "summary".into(), "created_at".into()])));
    assert!(required(&s["$defs"]["change"]).is_superset(&BTreeSet::from([
        "action".into(),
        "before".into(),
        "after".into()
    ])));
    assert!(required(&s["$defs"]["summary"]).contains("delete_user"));
}

#[test]
fn schema_is_a_valid_draft_2020_12_schema() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema", "the schema must declare draft 2020-12");
    if let Err(e) = jsonschema::meta::validate(&s) {
        panic!("plans/plan.schema.json violates the 2020-12 meta-schema: {e}");
    }
}

/// Follows a local `$ref` (`#/$defs/name`) to its target.
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let ptr = r.strip_prefix('#').expect("only local references");
            resolve(root, root.pointer(ptr).unwrap_or_else(|| panic!("dangling $ref {r}")))
        }
        None => node,
    }
}

/// Every named property, at any depth, carries its own description (the
/// `if`/`then` branches only restate constraints of documented properties).
fn undocumented(node: &Value, at: &str, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                for (name, prop) in props {
                    let documented = prop.get("description").is_some();
                    if !documented && !at.contains("/if") && !at.contains("/then") {
                        out.push(format!("{at}/properties/{name}"));
                    }
                }
            }
            for (k, v) in map {
                undocumented(v, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                undocumented(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_field_has_a_description() {
    let s = schema();
    let mut missing = Vec::new();
    undocumented(&s, "#", &mut missing);
    assert!(missing.is_empty(), "fields without a description: {missing:?}");
}

/// The schema names exactly the fields serde writes, at the top level and in each
/// nested object: a field added to or removed from the Rust types must show up here.
#[test]
fn schema_properties_match_what_serde_writes() {
    let s = schema();
    let full = written(&full_plan());
    let block = written(&signed_partial_plan());
    let keys = |o: &Value| -> BTreeSet<String> { o.as_object().unwrap().keys().cloned().collect() };
    let props = |def: &Value| keys(&resolve(&s, def)["properties"]);

    // The block plan carries every optional field: create_roles, managed_roles, blocked.
    assert_eq!(keys(&block), props(&s), "top-level fields");
    assert_eq!(
        keys(&full),
        &props(&s) - &BTreeSet::from(["create_roles".to_owned(), "targets".to_owned(), "signature".to_owned()]),
        "top-level fields, no roles to create, a full unsigned plan"
    );
    assert_eq!(keys(&block["source"]), props(&s["$defs"]["source"]), "source");
    let two = written(&two_stage_plan());
    assert_eq!(keys(&two["policy"]), props(&s["$defs"]["policy"]), "policy");
    assert_eq!(keys(&two["policy"]["delete_after"]), props(&s["$defs"]["deleteAfter"]), "delete_after");
    assert_eq!(keys(&block["summary"]), props(&s["$defs"]["summary"]), "summary");
    let change = &block["changes"][change_index(&block, "update_roles")];
    assert_eq!(keys(change), props(&s["$defs"]["change"]), "change");
    assert_eq!(keys(&change["user"]), props(&s["$defs"]["userRef"]), "user");
    let create = &block["changes"][change_index(&block, "create_user")];
    let unblock = &block["changes"][change_index(&block, "unblock_user")];
    let keyed = written(&keyed_plan());
    let rename = &keyed["changes"][change_index(&keyed, "update_email")];
    let keyed_create = &keyed["changes"][change_index(&keyed, "create_user")];
    assert_eq!(
        &(&keys(&create["after"]) | &keys(&unblock["before"]))
            | &(&keys(&rename["after"]) | &keys(&keyed_create["after"])),
        props(&s["$defs"]["userState"]),
        "user state"
    );
    assert_eq!(keys(&create["after"]["profile"]), props(&s["$defs"]["profile"]), "profile");
    let warning = full["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w.get("email").is_some() && w.get("row").is_some())
        .expect("a warning with a row and an email");
    assert_eq!(keys(warning), props(&s["$defs"]["warning"]), "warning");

    let actions = enum_values(&s, &s["$defs"]["change"]["properties"]["action"]);
    let rust: Vec<String> = Action::ALL.iter().map(|a| a.as_str().to_owned()).collect();
    assert_eq!(actions, rust, "action enum, in plan order");
    let on_missing = enum_values(&s, &s["$defs"]["policy"]["properties"]["on_missing"]);
    assert_eq!(keys(&block["signature"]), props(&s["$defs"]["signature"]), "signature");
    let rust: Vec<Value> = [OnMissing::Delete, OnMissing::Block, OnMissing::Ignore]
        .iter()
        .map(|m| serde_json::to_value(m).unwrap())
        .collect();
    assert_eq!(json!(on_missing), json!(rust), "on_missing enum");
    // Every action has its own if/then branch.
    let branches: Vec<&str> = s["$defs"]["change"]["allOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["if"]["properties"]["action"]["const"].as_str().unwrap())
        .collect();
    assert_eq!(json!(branches), json!(actions), "one if/then per action");
    assert_eq!(s["properties"]["format_version"]["const"], json!(FORMAT_VERSION));
}

// ---------------------------------------------------------------------------
// Plans the tool writes match the schema

#[test]
fn full_plan_matches_the_schema() {
    let plan = full_plan();
    let v = written(&plan);

    // The fixture really covers what it claims to.
    let create = &v["changes"][change_index(&v, "create_user")];
    assert_eq!(create["user"]["email"], "alice@example.com");
    assert_eq!(create["before"], Value::Null);
    assert_eq!(create["after"]["roles"], json!(["editor", "viewer"]));
    assert_eq!(create["after"]["profile"]["given_name"], "Alice");
    assert!(create["user"].get("user_id").is_none());
    let update = &v["changes"][change_index(&v, "update_roles")];
    assert_eq!(update["user"]["user_id"], "auth0|bob");
    assert_eq!(update["before"]["roles"], json!(["editor", "support"]));
    assert_eq!(update["after"]["roles"], json!(["admin", "viewer"]));
    assert!(update["after"].get("profile").is_none());
    let delete = &v["changes"][change_index(&v, "delete_user")];
    assert_eq!(delete["user"]["user_id"], "auth0|carol");
    assert_eq!(delete["after"], Value::Null);
    // A user already blocked is deleted with `blocked` in its before state.
    let ivan = &v["changes"][delete_index_plus_one(&v)];
    assert_eq!(ivan["user"]["user_id"], "auth0|ivan");
    assert_eq!(ivan["before"], json!({ "roles": ["editor"], "blocked": true }));
    assert_eq!(v["roles"], json!({ "admin": ADMIN, "editor": EDITOR, "support": SUPPORT, "viewer": VIEWER }));
    assert_eq!(
        v["policy"],
        json!({
            "ignore_users": ["*@contractors.example.com"],
            "on_missing": "delete",
            "delete_cap": "default",
            // 10% of 8 users, at least 5 (#14 lowered the floor from 10).
            "max_deletes": 5,
            "on_null": "keep",
            "field_authority": {},
            "removal_caps": {
                "blocks": { "cap": "default", "base": 8, "max": 5 },
                "role_removals": { "cap": "default", "base": 9, "max": 5 },
                "role_removals_per_role": {
                    "cap": "default",
                    "roles": { "editor": { "holders": 2, "max": 5 }, "support": { "holders": 1, "max": 5 } }
                }
            }
        })
    );
    let kinds: BTreeSet<&str> = v["warnings"].as_array().unwrap().iter().map(|w| w["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["conflicting_duplicate", "invalid_email", "missing_email"]));
    assert_eq!(v["summary"]["create_user"], 1);
    assert_eq!(v["summary"]["update_roles"], 1);
    assert_eq!(v["summary"]["delete_user"], 2);
    // dave, judy, and the user a person blocked; the one auth0-sync blocked is unblocked
    // whatever the on-missing mode.
    assert_eq!(v["summary"]["unchanged"], 3);
    assert_eq!(v["summary"]["unblock_user"], 1);
    assert_eq!(v["summary"]["ignored"], 1);
    assert_eq!(v["summary"]["connection_users"], 8);
    assert!(v.get("create_roles").is_none());

    assert_valid(&v);
}

fn delete_index_plus_one(v: &Value) -> usize {
    change_index(v, "delete_user") + 1
}

fn actions_of(v: &Value) -> Vec<(String, String)> {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["action"].as_str().unwrap().to_owned(), c["user"]["email"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn block_plan_matches_the_schema() {
    let plan = block_plan();
    let v = written(&plan);

    let expected = [
        ("create_user", "alice@example.com"),
        ("unblock_user", "grace@example.com"),
        ("update_roles", "bob@example.com"),
        ("update_roles", "grace@example.com"),
        ("block_user", "carol@example.com"),
    ];
    assert_eq!(actions_of(&v), expected.map(|(a, e)| (a.to_owned(), e.to_owned())));
    let create = &v["changes"][0];
    assert_eq!(create["after"]["roles"], json!(["auditor", "editor", "viewer"]), "billing is not managed");
    let unblock = &v["changes"][1];
    assert_eq!(unblock["user"]["user_id"], "auth0|grace");
    assert_eq!(unblock["before"], json!({ "roles": ["viewer"], "blocked": true }));
    assert_eq!(unblock["after"], json!({ "roles": ["viewer"] }));
    assert_eq!(v["changes"][2]["before"]["roles"], json!(["editor"]), "support is not managed");
    assert_eq!(v["changes"][3]["after"]["roles"], json!(["auditor", "viewer"]));
    let block = &v["changes"][4];
    assert_eq!(block["user"]["user_id"], "auth0|carol");
    assert_eq!(block["before"], json!({ "roles": ["admin", "viewer"] }));
    assert_eq!(block["after"], json!({ "roles": ["admin", "viewer"], "blocked": true }));

    assert_eq!(v["create_roles"], json!(["auditor"]));
    assert_eq!(v["roles"], json!({ "admin": ADMIN, "editor": EDITOR, "viewer": VIEWER }));
    assert_eq!(
        v["policy"],
        json!({
            "ignore_users": ["*@contractors.example.com"],
            "managed_roles": ["admin", "auditor", "editor", "viewer"],
            "on_missing": "block",
            "delete_cap": "default",
            "max_deletes": 5,
            "on_null": "keep",
            "field_authority": {},
            "removal_caps": {
                "blocks": { "cap": "default", "base": 8, "max": 5 },
                "role_removals": { "cap": "default", "base": 8, "max": 5 },
                "role_removals_per_role": { "cap": "default", "roles": { "editor": { "holders": 2, "max": 5 } } }
            },
        })
    );
    let s = &v["summary"];
    assert_eq!(
        [&s["create_user"], &s["unblock_user"], &s["update_roles"], &s["block_user"], &s["delete_user"]],
        [1, 1, 2, 1, 0]
    );
    assert_eq!(
        [&s["create_role"], &s["kept"], &s["ignored"], &s["unchanged"]],
        [1, 1, 1, 3],
        "ivan kept; dave, henry, judy unchanged"
    );
    assert!(v["warnings"].as_array().unwrap().iter().any(|w| w["kind"] == "unmanaged_role"));

    assert_valid(&v);
}

#[test]
fn ignore_plan_matches_the_schema() {
    let v = written(&ignore_plan());
    assert_eq!(v["policy"]["on_missing"], "ignore");
    assert_eq!(v["policy"]["max_deletes"], Value::Null, "no cap is written as null");
    assert_eq!(v["summary"]["kept"], 2, "carol and ivan");
    assert!(v["changes"].as_array().unwrap().iter().all(|c| c["action"] != "delete_user"));
    assert_valid(&v);
}

/// Whatever the planner emits for the fixtures passes the schema and `Plan::parse`.
#[test]
fn every_fixture_plan_matches_the_schema_and_parses() {
    for (name, plan) in fixtures() {
        let errs = errors(&written(&plan));
        assert!(errs.is_empty(), "the {name} plan does not match the schema: {errs:?}");
        assert_eq!(plan.consistency(), Ok(()), "the {name} plan is inconsistent");
        let back = parse(&plan.to_json_pretty()).unwrap_or_else(|e| panic!("parse refused the {name} plan: {e:?}"));
        assert_eq!(back, plan);
    }
}

#[test]
fn empty_plan_matches_the_schema() {
    let plan = empty_plan();
    assert!(!plan.has_changes());
    let v = written(&plan);
    assert_eq!(v["changes"], json!([]));
    assert_eq!(v["warnings"], json!([]));
    assert_eq!(v["roles"], json!({}));
    assert_valid(&v);
}

#[test]
fn plan_without_warnings_or_profile_matches_the_schema() {
    let mut b = DesiredStateBuilder::new();
    b.push(row("new@example.com", &[]));
    let v = written(&make_plan(&b.finish(), &TenantSnapshot::default(), &policy()));
    let create = &v["changes"][change_index(&v, "create_user")];
    assert_eq!(create["after"], json!({ "roles": [] }));
    assert_valid(&v);
}

// ---------------------------------------------------------------------------
// The schema rejects what the tool would never write

/// Applies `edit` to the written full plan; the result must fail validation
/// (while the unedited plan passes, so the edit is what the schema objects to).
fn rejects(why: &str, edit: impl FnOnce(&mut Value)) {
    let mut v = written(&full_plan());
    assert_valid(&v);
    edit(&mut v);
    assert_invalid(&v, why);
}

#[test]
fn rejects_unknown_action() {
    rejects("an unknown action", |v| {
        let i = change_index(v, "update_roles");
        v["changes"][i]["action"] = json!("rename_user");
    });
}

#[test]
fn rejects_missing_checksum() {
    rejects("no checksum", |v| {
        assert!(v.as_object_mut().unwrap().remove("checksum").is_some());
    });
}

#[test]
fn rejects_bad_checksum_patterns() {
    for bad in [
        "sha1:0123456789abcdef0123456789abcdef01234567",
        "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "",
    ] {
        rejects(&format!("checksum {bad:?}"), |v| v["checksum"] = json!(bad));
    }
    rejects("a bad tenant_fingerprint", |v| {
        v["tenant_fingerprint"] = json!("sha256:xyz");
    });
}

#[test]
fn rejects_extra_top_level_field() {
    rejects("an extra top-level field", |v| {
        v["approved_by"] = json!("mallory");
    });
}

#[test]
fn rejects_extra_nested_fields() {
    rejects("an extra field in a change", |v| v["changes"][0]["force"] = json!(true));
    rejects("an extra field in a user state", |v| {
        let i = change_index(v, "update_roles");
        v["changes"][i]["after"]["suspended"] = json!(true);
    });
    rejects("an extra field in the policy", |v| v["policy"]["allow_empty_source"] = json!(true));
    rejects("an extra field in the summary", |v| v["summary"]["skipped"] = json!(0));
}

#[test]
fn rejects_create_with_before() {
    rejects("a create_user with a non-null before", |v| {
        let i = change_index(v, "create_user");
        v["changes"][i]["before"] = json!({ "roles": ["admin"] });
    });
}

#[test]
fn rejects_inconsistent_before_after() {
    rejects("a create_user with a null after", |v| {
        let i = change_index(v, "create_user");
        v["changes"][i]["after"] = Value::Null;
    });
    rejects("a delete_user with a non-null after", |v| {
        let i = change_index(v, "delete_user");
        v["changes"][i]["after"] = json!({ "roles": [] });
    });
    rejects("an update_roles with a null before", |v| {
        let i = change_index(v, "update_roles");
        v["changes"][i]["before"] = Value::Null;
    });
    rejects("a change without its before key", |v| {
        let i = change_index(v, "create_user");
        v["changes"][i].as_object_mut().unwrap().remove("before");
    });
    rejects("a create_user with a user_id", |v| {
        let i = change_index(v, "create_user");
        v["changes"][i]["user"]["user_id"] = json!("auth0|alice");
    });
    rejects("a delete_user without a user_id", |v| {
        let i = change_index(v, "delete_user");
        v["changes"][i]["user"].as_object_mut().unwrap().remove("user_id");
    });
}

#[test]
fn rejects_bad_values() {
    rejects("format_version 1 (before signed plans)", |v| v["format_version"] = json!(1));
    rejects("format_version 2 (before HR keys and the removal caps)", |v| v["format_version"] = json!(2));
    rejects("format_version 4", |v| v["format_version"] = json!(4));
    rejects("a delete_cap that is not a cap", |v| v["policy"]["delete_cap"] = json!("lots"));
    rejects("a delete_cap over 100%", |v| v["policy"]["delete_cap"] = json!("120%"));
    rejects("an empty targets list", |v| v["targets"] = json!([]));
    rejects("a signature by sha1", |v| {
        v["signature"] = json!({ "algorithm": "ed25519", "key": "sha1:00", "value": "00" });
    });
    rejects("a created_at that is not a date-time", |v| {
        v["created_at"] = json!("yesterday");
    });
    rejects("duplicate role names", |v| {
        let i = change_index(v, "update_roles");
        v["changes"][i]["after"]["roles"] = json!(["admin", "admin"]);
    });
    rejects("an empty profile", |v| {
        let i = change_index(v, "create_user");
        v["changes"][i]["after"]["profile"] = json!({});
    });
    rejects("a change id 0", |v| v["changes"][0]["id"] = json!(0));
    rejects("a negative count", |v| v["summary"]["unchanged"] = json!(-1));
}

// ---------------------------------------------------------------------------
// Plan::parse

#[test]
fn parse_round_trips_a_written_plan() {
    for (_, plan) in fixtures() {
        let text = plan.to_json_pretty();
        let back = parse(&text).unwrap_or_else(|e| panic!("parse refused a written plan: {e:?}"));
        assert_eq!(back, plan);
        assert_eq!(back.to_json_pretty(), text);
    }
}

#[test]
fn write_new_then_read_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans/plan.json");
    let plan = full_plan();
    plan.write_new(&path, false).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_valid(&serde_json::from_str(&text).unwrap());
    assert_eq!(Plan::read(&path).unwrap(), plan);
}

#[test]
fn parse_refuses_a_tampered_email() {
    let plan = full_plan();
    let text = plan.to_json_pretty();
    assert!(text.contains("\"carol@example.com\""));
    let tampered = text.replace("\"carol@example.com\"", "\"ceo@example.com\"");
    match parse(&tampered) {
        Err(PlanFileError::Checksum { recorded, actual, .. }) => {
            assert_eq!(recorded, plan.checksum);
            assert_ne!(actual, recorded);
        }
        other => panic!("expected a checksum refusal, got {other:?}"),
    }
}

#[test]
fn parse_refuses_a_wrong_format_version() {
    // Plans of format 1 (before signatures and recorded caps) and 2 (before the
    // removal caps of #14) are refused by version.
    for old in [1, 2, 4] {
        let mut v = written(&full_plan());
        v["format_version"] = json!(old);
        reseal(&mut v);
        match parse(&serde_json::to_string_pretty(&v).unwrap()) {
            Err(PlanFileError::UnknownVersion { found, supported, .. }) => {
                assert_eq!(found, old.to_string());
                assert_eq!(supported, FORMAT_VERSION);
            }
            other => panic!("expected an unknown-version refusal, got {other:?}"),
        }
    }
}

#[test]
fn parse_refuses_invalid_json() {
    let text = full_plan().to_json_pretty();
    let broken = &text[..text.len() / 2];
    assert!(matches!(parse(broken), Err(PlanFileError::Syntax { .. })), "expected a syntax refusal");
    assert!(
        matches!(parse("{ \"format_version\": 1, }"), Err(PlanFileError::Syntax { .. })),
        "expected a syntax refusal for a trailing comma"
    );
}

/// Where the schema says "no", parse says "no" too, even when the editor also
/// recomputed the checksum.
#[test]
fn parse_refuses_what_the_schema_rejects_even_when_resealed() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "unknown action",
            Box::new(|v| {
                let i = change_index(v, "update_roles");
                v["changes"][i]["action"] = json!("rename_user");
            }),
        ),
        ("extra top-level field", Box::new(|v| v["approved_by"] = json!("mallory"))),
        ("a change id 0", Box::new(|v| v["changes"][0]["id"] = json!(0))),
        ("a summary without kept", Box::new(|v| _ = v["summary"].as_object_mut().unwrap().remove("kept"))),
        ("extra field in a change", Box::new(|v| v["changes"][0]["force"] = json!(true))),
        (
            "duplicate role names",
            Box::new(|v| {
                let i = change_index(v, "update_roles");
                v["changes"][i]["after"]["roles"] = json!(["admin", "admin", "viewer"]);
            }),
        ),
        (
            "empty profile",
            Box::new(|v| {
                let i = change_index(v, "create_user");
                v["changes"][i]["after"]["profile"] = json!({});
            }),
        ),
    ];
    for (why, edit) in cases {
        let mut v = written(&full_plan());
        edit(&mut v);
        reseal(&mut v);
        assert_invalid(&v, why);
        let text = serde_json::to_string_pretty(&v).unwrap();
        assert!(parse(&text).is_err(), "Plan::parse accepted a resealed plan with {why}");
    }
}

// ---------------------------------------------------------------------------
// Block, unblock, roles to create, policy: what the schema refuses

/// Like [`rejects`], on the written block plan.
fn block_rejects(why: &str, edit: impl FnOnce(&mut Value)) {
    let mut v = written(&block_plan());
    assert_valid(&v);
    edit(&mut v);
    assert_invalid(&v, why);
}

#[test]
fn rejects_block_and_unblock_of_the_wrong_shape() {
    for action in ["block_user", "unblock_user"] {
        block_rejects(&format!("a {action} with a null before"), |v| {
            let i = change_index(v, action);
            v["changes"][i]["before"] = Value::Null;
        });
        block_rejects(&format!("a {action} with a null after"), |v| {
            let i = change_index(v, action);
            v["changes"][i]["after"] = Value::Null;
        });
        block_rejects(&format!("a {action} without a user_id"), |v| {
            let i = change_index(v, action);
            v["changes"][i]["user"].as_object_mut().unwrap().remove("user_id");
        });
    }
    block_rejects("a block_user whose after is not blocked", |v| {
        let i = change_index(v, "block_user");
        v["changes"][i]["after"].as_object_mut().unwrap().remove("blocked");
    });
    block_rejects("a block_user of a user already blocked", |v| {
        let i = change_index(v, "block_user");
        v["changes"][i]["before"]["blocked"] = json!(true);
    });
    block_rejects("an unblock_user of a user not blocked", |v| {
        let i = change_index(v, "unblock_user");
        v["changes"][i]["before"].as_object_mut().unwrap().remove("blocked");
    });
    block_rejects("an unblock_user that leaves the user blocked", |v| {
        let i = change_index(v, "unblock_user");
        v["changes"][i]["after"]["blocked"] = json!(true);
    });
    block_rejects("a create_user of a blocked user", |v| {
        let i = change_index(v, "create_user");
        v["changes"][i]["after"]["blocked"] = json!(true);
    });
    block_rejects("an update_roles that blocks", |v| {
        let i = change_index(v, "update_roles");
        v["changes"][i]["after"]["blocked"] = json!(true);
    });
    block_rejects("blocked written as false (serde skips it)", |v| {
        let i = change_index(v, "block_user");
        v["changes"][i]["before"]["blocked"] = json!(false);
    });
}

#[test]
fn rejects_bad_policy_and_role_fields() {
    block_rejects("an unknown on_missing", |v| v["policy"]["on_missing"] = json!("archive"));
    block_rejects("no on_missing", |v| {
        v["policy"].as_object_mut().unwrap().remove("on_missing");
    });
    block_rejects("no max_deletes (serde writes null)", |v| {
        v["policy"].as_object_mut().unwrap().remove("max_deletes");
    });
    block_rejects("a negative max_deletes", |v| v["policy"]["max_deletes"] = json!(-1));
    block_rejects("a max_deletes as text", |v| v["policy"]["max_deletes"] = json!("10%"));
    block_rejects("duplicate managed roles", |v| v["policy"]["managed_roles"] = json!(["admin", "admin"]));
    block_rejects("managed_roles null (serde skips None)", |v| v["policy"]["managed_roles"] = Value::Null);
    block_rejects("an empty create_roles (serde skips it)", |v| v["create_roles"] = json!([]));
    block_rejects("duplicate create_roles", |v| v["create_roles"] = json!(["auditor", "auditor"]));
    for count in ["unblock_user", "block_user", "create_role", "kept", "connection_users"] {
        block_rejects(&format!("a summary without {count}"), |v| {
            v["summary"].as_object_mut().unwrap().remove(count);
        });
    }
}

// ---------------------------------------------------------------------------
// Plan::parse refuses a resealed plan that contradicts itself

/// `Plan::parse` refuses `text` as inconsistent, and says `expect` in the problem.
fn assert_inconsistent(why: &str, text: &str, expect: &str) {
    match parse(text) {
        Err(PlanFileError::Inconsistent { problem, .. }) => {
            assert!(problem.contains(expect), "{why}: expected a problem mentioning {expect:?}, got {problem:?}")
        }
        other => panic!("{why}: expected an Inconsistent refusal, got {other:?}"),
    }
}

fn index_of(plan: &Plan, action: Action) -> usize {
    plan.changeset.changes.iter().position(|c| c.action == action).expect("the fixture has the action")
}

type PlanEdit = Box<dyn Fn(&mut Plan)>;
type Fixture = fn() -> Plan;

/// Changes of the wrong shape for their action: the schema and `Plan::parse` both refuse.
#[test]
fn parse_refuses_changes_of_the_wrong_shape_even_when_resealed() {
    let state = || Some(UserState { roles: ["viewer".to_owned()].into(), ..Default::default() });
    let set = |action, f: fn(&mut auth0_sync::plan::Change, Option<UserState>)| -> PlanEdit {
        Box::new(move |p: &mut Plan| {
            let i = index_of(p, action);
            f(&mut p.changeset.changes[i], state());
        })
    };
    let cases: Vec<(&str, Fixture, PlanEdit)> = vec![
        ("create_user with a before", full_plan, set(Action::CreateUser, |c, s| c.before = s)),
        ("create_user without an after", full_plan, set(Action::CreateUser, |c, _| c.after = None)),
        (
            "create_user with a user_id",
            full_plan,
            set(Action::CreateUser, |c, _| c.user.user_id = Some("auth0|alice".into())),
        ),
        ("update_roles without a before", full_plan, set(Action::UpdateRoles, |c, _| c.before = None)),
        ("update_roles without an after", full_plan, set(Action::UpdateRoles, |c, _| c.after = None)),
        ("update_roles without a user_id", full_plan, set(Action::UpdateRoles, |c, _| c.user.user_id = None)),
        ("delete_user without a before", full_plan, set(Action::DeleteUser, |c, _| c.before = None)),
        ("delete_user with an after", full_plan, set(Action::DeleteUser, |c, s| c.after = s)),
        ("delete_user without a user_id", full_plan, set(Action::DeleteUser, |c, _| c.user.user_id = None)),
        ("block_user without a before", block_plan, set(Action::BlockUser, |c, _| c.before = None)),
        ("block_user without an after", block_plan, set(Action::BlockUser, |c, _| c.after = None)),
        ("block_user without a user_id", block_plan, set(Action::BlockUser, |c, _| c.user.user_id = None)),
        ("unblock_user without a before", block_plan, set(Action::UnblockUser, |c, _| c.before = None)),
        ("unblock_user without an after", block_plan, set(Action::UnblockUser, |c, _| c.after = None)),
        ("unblock_user without a user_id", block_plan, set(Action::UnblockUser, |c, _| c.user.user_id = None)),
    ];
    for (why, fixture, edit) in cases {
        let text = edited(fixture(), edit);
        assert_invalid(&serde_json::from_str(&text).unwrap(), why);
        assert_inconsistent(why, &text, "wrong shape");
    }
}

/// Ids that do not run 1..n, actions out of order, roles missing from the role
/// table, summary counts that do not match the changes: JSON Schema cannot see
/// these (the plans below pass it), `Plan::parse` refuses them.
#[test]
fn parse_refuses_a_plan_that_contradicts_itself_even_when_resealed() {
    let cases: Vec<(&str, Fixture, &str, PlanEdit)> = vec![
        (
            "ids starting at 2",
            full_plan,
            "ids must run",
            Box::new(|p| p.changeset.changes.iter_mut().for_each(|c| c.id += 1)),
        ),
        ("a duplicate id", full_plan, "ids must run", Box::new(|p| p.changeset.changes[1].id = 1)),
        (
            "ids with a gap",
            full_plan,
            "ids must run",
            Box::new(|p| {
                let last = p.changeset.changes.last_mut().unwrap();
                last.id += 1;
            }),
        ),
        (
            "a delete before a create",
            full_plan,
            "out of order",
            Box::new(|p| {
                let n = p.changeset.changes.len();
                p.changeset.changes.swap(0, n - 1);
                for (i, c) in p.changeset.changes.iter_mut().enumerate() {
                    c.id = i as u32 + 1;
                }
            }),
        ),
        (
            "a block before an unblock",
            block_plan,
            "out of order",
            Box::new(|p| {
                let (u, b) = (index_of(p, Action::UnblockUser), index_of(p, Action::BlockUser));
                p.changeset.changes.swap(u, b);
                p.changeset.changes[u].id = u as u32 + 1;
                p.changeset.changes[b].id = b as u32 + 1;
            }),
        ),
        (
            "an assigned role outside the role table",
            full_plan,
            "not in the plan's role table",
            Box::new(|p| {
                let i = index_of(p, Action::UpdateRoles);
                p.changeset.changes[i].after.as_mut().unwrap().roles.insert("superadmin");
            }),
        ),
        (
            "a removed role dropped from the role table",
            full_plan,
            "not in the plan's role table",
            Box::new(|p| {
                p.changeset.roles.remove("editor");
            }),
        ),
        (
            "a role to create dropped from create_roles",
            block_plan,
            "not in the plan's role table",
            Box::new(|p| {
                p.changeset.create_roles.clear();
                p.changeset.summary.create_role = 0;
            }),
        ),
        ("one create_user too many", full_plan, "summary", Box::new(|p| p.changeset.summary.create_user += 1)),
        ("one delete_user too few", full_plan, "summary", Box::new(|p| p.changeset.summary.delete_user -= 1)),
        ("one block_user too many", block_plan, "summary", Box::new(|p| p.changeset.summary.block_user += 1)),
        ("an unblock_user uncounted", block_plan, "summary", Box::new(|p| p.changeset.summary.unblock_user = 0)),
        (
            "a delete counted as an update",
            full_plan,
            "summary",
            Box::new(|p| {
                p.changeset.summary.delete_user -= 1;
                p.changeset.summary.update_roles += 1;
            }),
        ),
    ];
    for (why, fixture, expect, edit) in cases {
        let text = edited(fixture(), edit);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(errors(&v).is_empty(), "{why}: the schema was expected to accept this (it cannot see it)");
        assert_inconsistent(why, &text, expect);
    }
}

/// The test's resealing agrees with `Plan::compute_checksum`, so the refusals above
/// are about content, not about a checksum computed differently.
#[test]
fn reseal_matches_compute_checksum() {
    for (name, plan) in fixtures() {
        let mut v = written(&plan);
        v["checksum"] = json!("");
        reseal(&mut v);
        assert_eq!(v["checksum"], json!(plan.checksum), "{name}");
        let mut typed = plan.clone();
        typed.checksum = String::new();
        assert_eq!(typed.compute_checksum(), plan.checksum, "{name}");
    }
}

/// Self-contradictions `Plan::consistency` does not catch yet (reported, not fixed
/// here): run with `--ignored` to see which still get through.
#[test]
fn parse_refuses_other_contradictions_even_when_resealed() {
    let cases: Vec<(&str, Fixture, PlanEdit)> = vec![
        ("roles_assigned off by 5", full_plan, Box::new(|p| p.changeset.summary.roles_assigned += 5)),
        ("roles_removed off by 5", full_plan, Box::new(|p| p.changeset.summary.roles_removed += 5)),
        ("create_role not the length of create_roles", block_plan, Box::new(|p| p.changeset.summary.create_role = 7)),
        (
            "a block_user that assigns a role",
            block_plan,
            Box::new(|p| {
                let i = index_of(p, Action::BlockUser);
                p.changeset.changes[i].before.as_mut().unwrap().roles.remove("admin");
            }),
        ),
        (
            "a block_user whose after is not blocked",
            block_plan,
            Box::new(|p| {
                let i = index_of(p, Action::BlockUser);
                p.changeset.changes[i].after.as_mut().unwrap().blocked = false;
            }),
        ),
        (
            "an unblock_user of a user not blocked",
            block_plan,
            Box::new(|p| {
                let i = index_of(p, Action::UnblockUser);
                p.changeset.changes[i].before.as_mut().unwrap().blocked = false;
            }),
        ),
        (
            "a delete_user whose before names a role outside the role table",
            full_plan,
            Box::new(|p| {
                let i = index_of(p, Action::DeleteUser);
                p.changeset.changes[i].before.as_mut().unwrap().roles.insert("superadmin");
            }),
        ),
    ];
    let mut accepted = Vec::new();
    for (why, fixture, edit) in cases {
        if parse(&edited(fixture(), edit)).is_ok() {
            accepted.push(why);
        }
    }
    assert!(accepted.is_empty(), "Plan::parse accepted resealed plans with: {accepted:?}");
}
