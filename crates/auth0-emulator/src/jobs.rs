//! Export and import jobs, the client's way past the 1000-result paging cap and its
//! bulk-creation path: `POST /api/v2/jobs/users-exports`, `POST
//! /api/v2/jobs/users-imports` (multipart), `GET /api/v2/jobs/{id}`, `GET
//! /api/v2/jobs/{id}/errors`, and the export download (a pre-signed-like URL on the
//! emulator that needs no bearer token and expires).
//!
//! A job stays `pending`/`processing` for the first `job_pending_polls` polls (or
//! until `job_max_pending` has passed) and completes on the next poll; with
//! `job_duration` it takes exactly that long on the emulator clock instead, counting
//! `time_left_seconds` down. An import is applied to the tenant when it completes, an
//! export is written then (in `export_gzip_members` gzip members); each poll of a
//! completed export hands out a fresh download link that expires.

use crate::Shared;
use crate::clock::{Clock, Tick};
use crate::http::{ApiError, ApiResult, Body, bad_body, path_id, read_body};
use crate::routes::{picture_for, random_id, user_json, valid_email};
use crate::state::{StateConnection, StateUser};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

/// Largest users-imports request Auth0 accepts (the whole multipart payload).
pub(crate) const IMPORT_MAX_BYTES: usize = 512_000;
/// Import jobs that may be pending or processing at once per tenant.
pub(crate) const MAX_CONCURRENT_IMPORTS: usize = 2;
/// Fields an export may name.
pub(crate) const MAX_EXPORT_FIELDS: usize = 30;
/// Exported when the request names no fields (`identities[0].connection` instead of
/// `identities` in CSV).
const DEFAULT_EXPORT_FIELDS: &[&str] = &[
    "user_id",
    "email",
    "email_verified",
    "username",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "blocked",
    "created_at",
    "updated_at",
    "identities",
];
/// Properties of a user in an import file (Auth0's bulk import schema).
const IMPORT_PROPS: &[&str] = &[
    "email",
    "email_verified",
    "user_id",
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "blocked",
    "app_metadata",
    "user_metadata",
    "password_hash",
    "custom_password_hash",
    "mfa_factors",
];
const CONNECTION_ID_PATTERN: &str = "^con_[A-Za-z0-9]{16}$";

#[derive(Debug)]
enum Kind {
    Export {
        format: String,
        limit: Option<u64>,
        /// `(name, key in the file)`
        fields: Vec<(String, String)>,
        fields_json: Option<Value>,
    },
    Import {
        upsert: bool,
        external_id: Option<String>,
        users: Vec<Value>,
    },
}

/// A written export file and the download links handed out for it: every `GET
/// /jobs/{id}` of a completed export mints a fresh link, each valid for
/// `export_url_lifetime` (Auth0: 60 s; the file stays for 24 h).
#[derive(Debug)]
struct Export {
    file: Option<Vec<u8>>,
    /// (signature, expiry), newest last.
    links: Vec<(String, Tick)>,
}

/// How long a job's data (an export's file) is kept.
const JOB_RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

#[derive(Debug)]
struct Job {
    id: String,
    kind: Kind,
    connection: Option<StateConnection>,
    created_at: String,
    created: Tick,
    polls: u32,
    completed: bool,
    summary: Option<Value>,
    errors: Vec<Value>,
    export: Option<Export>,
}

/// The tenant's jobs, by id. Never persisted.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    jobs: HashMap<String, Job>,
}

fn lock_jobs(s: &Shared) -> std::sync::MutexGuard<'_, Jobs> {
    s.jobs.lock().unwrap_or_else(|e| e.into_inner())
}

fn no_job() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "The job does not exist.", Some("inexistent_job"))
}

fn no_connection() -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "The connection does not exist.", Some("inexistent_connection"))
}

fn valid_connection_id(id: &str) -> bool {
    id.strip_prefix("con_").is_some_and(|r| r.len() == 16 && r.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn bad_connection_id() -> ApiError {
    bad_body(&format!("'String does not match pattern {CONNECTION_ID_PATTERN}' on property connection_id."))
}

/// Completes every job whose time has come (`job_duration` when set, else
/// `job_max_pending`); forgets expired links and files older than 24 h.
pub(crate) fn advance(s: &Shared) {
    let opts = s.options();
    let mut jobs = lock_jobs(s);
    let now = s.clock.tick();
    let due = if opts.job_duration.is_zero() { opts.job_max_pending } else { opts.job_duration };
    for job in jobs.jobs.values_mut() {
        if !job.completed && now.since(job.created) >= due {
            complete(s, job);
        }
        if let Some(e) = &mut job.export {
            e.links.retain(|(_, expires)| *expires > now);
            if now.since(job.created) >= JOB_RETENTION {
                e.file = None;
            }
        }
    }
}

/// A fresh download link for a completed export (each `GET /jobs/{id}`).
fn mint_link(s: &Shared, job: &mut Job) {
    if let Some(e) = &mut job.export {
        let bytes: [u8; 16] = rand::random();
        e.links.push((hex::encode(bytes), s.clock.tick() + s.options().export_url_lifetime));
    }
}

/// Gzips `out` (whole lines) into `members` concatenated gzip members.
fn gzip_members(out: &[u8], members: u32) -> Option<Vec<u8>> {
    let lines: Vec<&[u8]> = out.split_inclusive(|b| *b == b'\n').collect();
    let per = lines.len().div_ceil(members.max(1) as usize).max(1);
    let mut file = Vec::new();
    let chunks: Vec<&[&[u8]]> = if lines.is_empty() { vec![&[][..]] } else { lines.chunks(per).collect() };
    for chunk in chunks {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for l in chunk {
            gz.write_all(l).ok()?;
        }
        file.extend(gz.finish().ok()?);
    }
    Some(file)
}

fn complete(s: &Shared, job: &mut Job) {
    job.completed = true;
    let conn_name = job.connection.as_ref().map(|c| c.name.clone());
    match &job.kind {
        Kind::Export { format, limit, fields, .. } => {
            // The export reads the lagging search index when that knob says so.
            let indexed = if s.options().export_from_index { s.indexed_users() } else { None };
            let t = s.tenant.lock().unwrap_or_else(|e| e.into_inner());
            let all = indexed.as_deref().unwrap_or(&t.users);
            // By the user's primary connection: a user linked under another primary
            // is not exported with this connection (the stricter reading).
            let users = all
                .values()
                .filter(|u| conn_name.as_ref().is_none_or(|c| &u.connection == c))
                .take(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)));
            let mut out = Vec::new();
            if format == "csv" {
                let header: Vec<String> = fields.iter().map(|(_, k)| csv_cell(&Value::String(k.clone()))).collect();
                out.extend_from_slice(header.join(",").as_bytes());
                out.push(b'\n');
            }
            for u in users {
                let v = user_json(u, &t.connections);
                if format == "csv" {
                    let row: Vec<String> =
                        fields.iter().map(|(name, _)| resolve(&v, name).map(csv_cell).unwrap_or_default()).collect();
                    out.extend_from_slice(row.join(",").as_bytes());
                } else {
                    let mut line = Map::new();
                    for (name, key) in fields {
                        if let Some(val) = resolve(&v, name) {
                            line.insert(key.clone(), val.clone());
                        }
                    }
                    out.extend_from_slice(Value::Object(line).to_string().as_bytes());
                }
                out.push(b'\n');
            }
            let file = gzip_members(&out, s.options().export_gzip_members);
            job.export = Some(Export { file, links: Vec::new() });
        }
        Kind::Import { upsert, users, .. } => {
            let Some(conn) = job.connection.clone() else {
                return;
            };
            let (mut inserted, mut updated, mut failed) = (0u64, 0u64, 0u64);
            let mut t = s.tenant.lock().unwrap_or_else(|e| e.into_inner());
            for raw in users {
                match import_one(&mut t.users, &conn, *upsert, raw, &s.clock) {
                    Ok(true) => inserted += 1,
                    Ok(false) => updated += 1,
                    Err(errors) => {
                        failed += 1;
                        job.errors.push(json!({"user": echo_user(raw), "errors": errors}));
                    }
                }
            }
            job.summary = Some(json!({
                "failed": failed,
                "updated": updated,
                "inserted": inserted,
                "total": users.len(),
            }));
        }
    }
}

/// The user as the file gave it, without password hashes (never kept).
fn echo_user(raw: &Value) -> Value {
    match raw {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| *k != "password_hash" && *k != "custom_password_hash")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `a.b`, `identities[0].connection`
fn resolve<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path.split('.') {
        let (name, mut rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            cur = cur.get(r[..end].parse::<usize>().ok()?)?;
            rest = &r[end + 1..];
        }
    }
    (!cur.is_null()).then_some(cur)
}

/// Auth0's CSV cells: strings are prefixed with `'` (CSV injection) and quoted.
fn csv_cell(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"'{}\"", s.replace('"', "\"\"")),
        Value::Null => String::new(),
        Value::Bool(_) | Value::Number(_) => v.to_string(),
        other => format!("\"'{}\"", other.to_string().replace('"', "\"\"")),
    }
}

fn import_error(code: &str, message: &str, path: Option<&str>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let Some(p) = path {
        e["path"] = json!(p);
    }
    e
}

fn is_bcrypt(h: &str) -> bool {
    let b = h.as_bytes();
    // $2a$10$ + 53 chars of [./A-Za-z0-9]
    h.len() == 60
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
        && b[7..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/')
}

/// Imports one user of the file: `Ok(true)` inserted, `Ok(false)` updated, or the
/// errors `GET /jobs/{id}/errors` lists for it.
fn import_one(
    users: &mut std::collections::BTreeMap<String, StateUser>,
    conn: &StateConnection,
    upsert: bool,
    raw: &Value,
    clock: &Clock,
) -> Result<bool, Vec<Value>> {
    let Value::Object(m) = raw else {
        return Err(vec![import_error(
            "INVALID_TYPE",
            &format!("Expected type object but found type {}", crate::http::json_type(raw)),
            None,
        )]);
    };
    let mut errors = Vec::new();
    let extra: Vec<&str> = m.keys().map(String::as_str).filter(|k| !IMPORT_PROPS.contains(k)).collect();
    if !extra.is_empty() {
        errors.push(import_error(
            "OBJECT_ADDITIONAL_PROPERTIES",
            &format!("Additional properties not allowed: {}", extra.join(",")),
            None,
        ));
    }
    let string = |k: &str, errors: &mut Vec<Value>| -> Option<String> {
        match m.get(k) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                errors.push(import_error(
                    "INVALID_TYPE",
                    &format!("Expected type string but found type {}", crate::http::json_type(v)),
                    Some(k),
                ));
                None
            }
        }
    };
    let boolean = |k: &str, errors: &mut Vec<Value>| -> Option<bool> {
        match m.get(k) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(v) => {
                errors.push(import_error(
                    "INVALID_TYPE",
                    &format!("Expected type boolean but found type {}", crate::http::json_type(v)),
                    Some(k),
                ));
                None
            }
        }
    };
    let object = |k: &str, errors: &mut Vec<Value>| -> Option<Value> {
        match m.get(k) {
            None => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(v) => {
                errors.push(import_error(
                    "INVALID_TYPE",
                    &format!("Expected type object but found type {}", crate::http::json_type(v)),
                    Some(k),
                ));
                None
            }
        }
    };
    let email = string("email", &mut errors);
    let email_verified = boolean("email_verified", &mut errors);
    let custom_id = string("user_id", &mut errors);
    let username = string("username", &mut errors);
    let given_name = string("given_name", &mut errors);
    let family_name = string("family_name", &mut errors);
    let name = string("name", &mut errors);
    let nickname = string("nickname", &mut errors);
    let picture = string("picture", &mut errors);
    let blocked = boolean("blocked", &mut errors);
    let app_metadata = object("app_metadata", &mut errors);
    let user_metadata = object("user_metadata", &mut errors);
    object("custom_password_hash", &mut errors);
    if let Some(h) = string("password_hash", &mut errors)
        && !is_bcrypt(&h)
    {
        errors.push(import_error(
            "PATTERN",
            "String does not match pattern ^\\$2[aby]?\\$\\d{2}\\$[./A-Za-z0-9]{53}$",
            Some("password_hash"),
        ));
    }
    if let Some(v) = m.get("mfa_factors")
        && !v.is_array()
    {
        errors.push(import_error(
            "INVALID_TYPE",
            &format!("Expected type array but found type {}", crate::http::json_type(v)),
            Some("mfa_factors"),
        ));
    }
    let email = match email {
        None if !m.contains_key("email") => {
            errors.push(import_error("OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: email", None));
            None
        }
        None => None,
        Some(e) if !valid_email(&e) => {
            errors.push(import_error(
                "INVALID_FORMAT",
                &format!("Object didn't pass validation for format email: {e}"),
                Some("email"),
            ));
            None
        }
        Some(e) => Some(e.to_lowercase()),
    };
    match (&username, conn.requires_username) {
        (None, true) => {
            errors.push(import_error("OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: username", None))
        }
        (Some(_), false) => errors.push(import_error(
            "INVALID_USERNAME",
            "Cannot set username for connection without requireUsername",
            Some("username"),
        )),
        _ => {}
    }
    if let Some(id) = &custom_id
        && (id.is_empty() || id.chars().any(char::is_whitespace))
    {
        errors.push(import_error("PATTERN", "String does not match pattern ^\\S+$", Some("user_id")));
    }
    if let Some(p) = &picture
        && !(p.starts_with("https://") || p.starts_with("http://"))
    {
        errors.push(import_error(
            "INVALID_FORMAT",
            &format!("Object didn't pass validation for format uri: {p}"),
            Some("picture"),
        ));
    }
    let Some(email) = email else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let duplicate =
        || vec![import_error("DUPLICATED_USER", "The user already exist and upsert parameter is false", None)];
    let existing = users
        .values()
        .find(|u| u.emails_in(&conn.name).iter().any(|e| e.to_lowercase() == email))
        .map(|u| u.user_id.clone());
    let now = clock.now_iso();
    if let Some(id) = existing {
        if !upsert {
            return Err(duplicate());
        }
        let Some(u) = users.get_mut(&id) else {
            return Err(duplicate());
        };
        for (slot, val) in [
            (&mut u.given_name, given_name),
            (&mut u.family_name, family_name),
            (&mut u.name, name),
            (&mut u.nickname, nickname),
            (&mut u.picture, picture),
        ] {
            if val.is_some() {
                *slot = val;
            }
        }
        if let Some(b) = blocked {
            u.blocked = b;
        }
        if let Some(v) = email_verified {
            u.email_verified = v;
        }
        if let Some(m) = app_metadata {
            u.app_metadata = m;
        }
        if let Some(m) = user_metadata {
            u.user_metadata = m;
        }
        u.updated_at = Some(now);
        return Ok(false);
    }
    let user_id = match custom_id {
        Some(id) => format!("auth0|{id}"),
        None => loop {
            let bytes: [u8; 12] = rand::random();
            let id = format!("auth0|{}", hex::encode(bytes));
            if !users.contains_key(&id) {
                break id;
            }
        },
    };
    if users.contains_key(&user_id) {
        return Err(duplicate());
    }
    let local = email.split('@').next().unwrap_or_default().to_owned();
    let user = StateUser {
        user_id: user_id.clone(),
        email: Some(email.clone()),
        email_verified: email_verified.unwrap_or(false),
        connection: conn.name.clone(),
        name: Some(name.unwrap_or_else(|| email.clone())),
        given_name,
        family_name,
        blocked: blocked.unwrap_or(false),
        roles: Vec::new(),
        app_metadata: app_metadata.unwrap_or(Value::Null),
        created_at: Some(now.clone()),
        updated_at: Some(now),
        nickname: Some(nickname.unwrap_or_else(|| username.clone().unwrap_or(local))),
        picture: Some(picture.unwrap_or_else(|| picture_for(&email))),
        username,
        user_metadata: user_metadata.unwrap_or(Value::Null),
        identities: Vec::new(),
    };
    users.insert(user_id, user);
    Ok(true)
}

fn job_json(s: &Shared, job: &Job) -> Value {
    let kind = match &job.kind {
        Kind::Export { .. } => "users_export",
        Kind::Import { .. } => "users_import",
    };
    let status = if job.completed {
        "completed"
    } else if job.polls <= 1 {
        "pending"
    } else {
        "processing"
    };
    let mut v = json!({"type": kind, "status": status});
    let duration = s.options().job_duration;
    if !job.completed && !duration.is_zero() {
        let spent = s.clock.tick().since(job.created);
        let left = duration.saturating_sub(spent);
        v["percentage_done"] = json!((spent.as_secs_f64() / duration.as_secs_f64() * 100.0).min(99.0) as u64);
        v["time_left_seconds"] = json!(left.as_secs_f64().ceil() as u64);
    }
    if let Some(c) = &job.connection {
        v["connection_id"] = json!(c.id);
    }
    match &job.kind {
        Kind::Export { format, limit, fields_json, .. } => {
            v["format"] = json!(format);
            if let Some(l) = limit {
                v["limit"] = json!(l);
            }
            if let Some(f) = fields_json {
                v["fields"] = f.clone();
            }
            if let Some((signature, _)) = job.export.as_ref().and_then(|e| e.links.last()) {
                let ext = if format == "csv" { "csv" } else { "json" };
                let lifetime = s.options().export_url_lifetime.as_secs();
                v["location"] = json!(format!(
                    "{}/__emulator/exports/{}.{ext}.gz?X-Amz-Expires={lifetime}&X-Amz-Signature={signature}",
                    s.base_url, job.id
                ));
            }
        }
        Kind::Import { external_id, .. } => {
            if let Some(summary) = &job.summary {
                v["summary"] = summary.clone();
            }
            if let Some(x) = external_id {
                v["external_id"] = json!(x);
            }
        }
    }
    if let Some(c) = &job.connection {
        v["connection"] = json!(c.name);
    }
    v["created_at"] = json!(job.created_at);
    v["id"] = json!(job.id);
    v
}

fn new_job(s: &Shared, kind: Kind, connection: Option<StateConnection>) -> Job {
    Job {
        id: format!("job_{}", random_id(16)),
        kind,
        connection,
        created_at: s.clock.now_iso(),
        created: s.clock.tick(),
        polls: 0,
        completed: false,
        summary: None,
        errors: Vec::new(),
        export: None,
    }
}

/// `POST /api/v2/jobs/users-exports`: 200 with the pending job (recorded).
pub(crate) async fn create_export(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = read_body(body)?;
    let b = Body::parse(&headers, &body, &["connection_id", "format", "limit", "fields"], &[])?;
    let connection_id = b.string("connection_id", 0, usize::MAX, false)?.flatten();
    // Stricter: without `format` the file is CSV, so a client wanting NDJSON must say so.
    let format = b.string("format", 0, usize::MAX, false)?.flatten().unwrap_or_else(|| "csv".to_owned());
    if format != "json" && format != "csv" {
        return Err(bad_body(&format!("'No enum match for: \"{format}\"' on property format.")));
    }
    let raw = crate::http::json_body(&headers, &body)?;
    let limit = match raw.get("limit") {
        None => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|l| l >= 1) => n.as_u64(),
        Some(Value::Number(_)) => {
            return Err(bad_body("'Number must be greater than or equal to 1' on property limit."));
        }
        Some(v) => return Err(Body::wrong_type("limit", "integer", v)),
    };
    let (fields, fields_json) = match raw.get("fields") {
        None => (
            DEFAULT_EXPORT_FIELDS
                .iter()
                .map(|f| if format == "csv" && *f == "identities" { "identities[0].connection" } else { f })
                .map(|f| (f.to_string(), f.to_string()))
                .collect(),
            None,
        ),
        Some(Value::Array(items)) => {
            if items.len() > MAX_EXPORT_FIELDS {
                return Err(bad_body(&format!(
                    "'Array is too long ({}), maximum {MAX_EXPORT_FIELDS}' on property fields.",
                    items.len()
                )));
            }
            let mut out = Vec::new();
            for (i, it) in items.iter().enumerate() {
                let Value::Object(f) = it else {
                    return Err(Body::wrong_type(&format!("fields[{i}]"), "object", it));
                };
                if let Some(k) = f.keys().find(|k| *k != "name" && *k != "export_as") {
                    return Err(bad_body(&format!(
                        "'Additional properties not allowed: {k}' on property fields[{i}]."
                    )));
                }
                let get = |k: &str| -> Result<Option<String>, ApiError> {
                    match f.get(k) {
                        None => Ok(None),
                        Some(Value::String(s)) if s.chars().count() <= 100 && !s.is_empty() => Ok(Some(s.clone())),
                        Some(Value::String(s)) => Err(bad_body(&format!(
                            "'String is too long ({} chars), maximum 100' on property fields[{i}].{k}.",
                            s.chars().count()
                        ))),
                        Some(v) => Err(Body::wrong_type(&format!("fields[{i}].{k}"), "string", v)),
                    }
                };
                let Some(name) = get("name")? else {
                    return Err(bad_body(&format!("'Missing required property: name' on property fields[{i}].")));
                };
                if format == "csv" && ["app_metadata", "user_metadata", "identities"].contains(&name.as_str()) {
                    return Err(bad_body(&format!(
                        "'{name} cannot be exported as a whole in csv; name its fields' on property fields[{i}].name."
                    )));
                }
                let key = get("export_as")?.unwrap_or_else(|| name.clone());
                out.push((name, key));
            }
            (out, Some(Value::Array(items.clone())))
        }
        Some(v) => return Err(Body::wrong_type("fields", "array", v)),
    };
    let connection = match &connection_id {
        None => None,
        Some(id) if !valid_connection_id(id) => return Err(bad_connection_id()),
        Some(id) => {
            let t = s.tenant.lock().unwrap_or_else(|e| e.into_inner());
            Some(t.connections.iter().find(|c| &c.id == id).cloned().ok_or_else(no_connection)?)
        }
    };
    let job = new_job(&s, Kind::Export { format, limit, fields, fields_json }, connection);
    let answer = job_json(&s, &job);
    lock_jobs(&s).jobs.insert(job.id.clone(), job);
    Ok(Json(answer).into_response())
}

/// One part of a `multipart/form-data` body.
struct Part {
    name: String,
    data: Vec<u8>,
}

/// The parts of a `multipart/form-data` body, read by axum's `Multipart` extractor
/// (multer). It runs here on the body `create_import` has already buffered rather than
/// in the handler's signature: streamed, a parse error (400) or a wrong content type
/// could come before the 512000-byte limit (413), and bytes after the closing boundary
/// would not be read, while the limit is on the whole payload and checked first.
async fn multipart(headers: &HeaderMap, body: Bytes) -> Result<Vec<Part>, ApiError> {
    let invalid = || bad_body("'Invalid multipart payload format'.");
    let mut req = Request::new(axum::body::Body::from(body));
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        req.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
    }
    // Rejected when the type is not multipart/form-data or has no boundary.
    let mut form = Multipart::from_request(req, &()).await.map_err(|_| invalid())?;
    let mut parts = Vec::new();
    while let Some(field) = form.next_field().await.map_err(|_| invalid())? {
        let name = field.name().ok_or_else(invalid)?.to_owned();
        let data = field.bytes().await.map_err(|_| invalid())?.to_vec();
        parts.push(Part { name, data });
    }
    Ok(parts)
}

fn too_large() -> ApiError {
    ApiError::from_body(
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({
            "statusCode": 413,
            "error": "Request Entity Too Large",
            "message": format!("Payload content length greater than maximum allowed: {IMPORT_MAX_BYTES}"),
        }),
    )
}

/// `POST /api/v2/jobs/users-imports`: 202 with the pending job (recorded).
pub(crate) async fn create_import(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = match body {
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
        other => read_body(other)?,
    };
    if body.len() > IMPORT_MAX_BYTES {
        return Err(too_large());
    }
    let parts = multipart(&headers, body).await?;
    let part = |n: &str| parts.iter().find(|p| p.name == n);
    let text = |n: &str| -> Result<Option<String>, ApiError> {
        part(n)
            .map(|p| {
                String::from_utf8(p.data.clone()).map_err(|_| bad_body(&format!("'Invalid value' on property {n}.")))
            })
            .transpose()
    };
    let flag = |n: &str, default: bool| -> Result<bool, ApiError> {
        match text(n)?.as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(bad_body(&format!("'Expected type boolean but found type string' on property {n}."))),
        }
    };
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, m, Some("invalid_body"));
    let Some(users) = part("users") else {
        return Err(bad("Must provide 'users' file as multipart part."));
    };
    if users.data.iter().all(u8::is_ascii_whitespace) {
        return Err(bad("Users file must not be empty."));
    }
    let Some(connection_id) = text("connection_id")? else {
        return Err(bad("Must provide 'connection_id' as multipart part."));
    };
    if !valid_connection_id(&connection_id) {
        return Err(bad_connection_id());
    }
    let upsert = flag("upsert", false)?;
    flag("send_completion_email", true)?;
    let external_id = text("external_id")?.filter(|x| !x.is_empty());
    let users: Vec<Value> = match serde_json::from_slice(&users.data) {
        Ok(Value::Array(items)) if !items.is_empty() => items,
        Ok(Value::Array(_)) => return Err(bad("Users file must not be empty.")),
        _ => return Err(bad("Users file must be a JSON array of users.")),
    };
    let conn = {
        let t = s.tenant.lock().unwrap_or_else(|e| e.into_inner());
        t.connections.iter().find(|c| c.id == connection_id).cloned().ok_or_else(no_connection)?
    };
    if conn.strategy != "auth0" {
        return Err(bad("Connection must be a database connection."));
    }
    let mut jobs = lock_jobs(&s);
    let running = jobs.jobs.values().filter(|j| !j.completed && matches!(j.kind, Kind::Import { .. })).count();
    if running >= MAX_CONCURRENT_IMPORTS {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "There are {running} active import users jobs, please wait until some of them are finished and try again"
            ),
            Some("too_many_requests"),
        ));
    }
    let job = new_job(&s, Kind::Import { upsert, external_id, users }, Some(conn));
    let answer = job_json(&s, &job);
    jobs.jobs.insert(job.id.clone(), job);
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// `GET /api/v2/jobs/{id}`: each poll counts; the job completes after
/// `job_pending_polls` polls answered pending/processing.
pub(crate) async fn get_job(State(s): State<Arc<Shared>>, id: Result<Path<String>, PathRejection>) -> ApiResult {
    let id = path_id(id)?;
    let opts = s.options();
    let mut jobs = lock_jobs(&s);
    let job = jobs.jobs.get_mut(&id).ok_or_else(no_job)?;
    job.polls = job.polls.saturating_add(1);
    // With `job_duration` only time completes a job (see `advance`).
    if !job.completed && opts.job_duration.is_zero() && job.polls > opts.job_pending_polls {
        complete(&s, job);
    }
    if job.completed {
        mint_link(&s, job);
    }
    Ok(Json(job_json(&s, job)).into_response())
}

/// `GET /api/v2/jobs/{id}/errors`: the per-user failures of a completed import (200),
/// 204 without any; a job still running answers its own description.
pub(crate) async fn get_job_errors(State(s): State<Arc<Shared>>, id: Result<Path<String>, PathRejection>) -> ApiResult {
    let id = path_id(id)?;
    let jobs = lock_jobs(&s);
    let job = jobs.jobs.get(&id).ok_or_else(no_job)?;
    if !job.completed {
        let mut v = job_json(&s, job);
        if let Value::Object(m) = &mut v {
            m.retain(|k, _| ["id", "type", "status", "connection_id", "created_at"].contains(&k.as_str()));
        }
        return Ok(Json(v).into_response());
    }
    if job.errors.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(Json(Value::Array(job.errors.clone())).into_response())
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"))], body).into_response()
}

/// `GET /__emulator/exports/{id}.json.gz?X-Amz-Signature=...`: the export file, without
/// a bearer token, until it expires (then 403 like an expired pre-signed URL).
pub(crate) async fn download_export(
    State(s): State<Arc<Shared>>,
    file: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let Ok(Path(file)) = file else {
        return s3_error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist.");
    };
    let Some(id) = file.strip_suffix(".json.gz").or_else(|| file.strip_suffix(".csv.gz")) else {
        return s3_error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist.");
    };
    let signature = q.ok().and_then(|Query(p)| p.into_iter().find(|(k, _)| k == "X-Amz-Signature").map(|(_, v)| v));
    let encoded = s.options().export_content_encoding;
    let jobs = lock_jobs(&s);
    let Some(export) = jobs.jobs.get(id).and_then(|j| j.export.as_ref()) else {
        return s3_error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist.");
    };
    // Links are forgotten once expired (`advance`), so an old one no longer matches.
    let Some((_, expires)) = export.links.iter().find(|(sig, _)| Some(sig) == signature.as_ref()) else {
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    };
    match &export.file {
        Some(bytes) if *expires > s.clock.tick() => {
            if encoded {
                (
                    StatusCode::OK,
                    [
                        (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                        (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                    ],
                    bytes.clone(),
                )
                    .into_response()
            } else {
                (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/gzip"))], bytes.clone())
                    .into_response()
            }
        }
        _ => s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_dotted_and_indexed_paths() {
        let v = json!({"user_id": "auth0|1", "identities": [{"connection": "DB"}], "app_metadata": {"a": {"b": 2}}});
        assert_eq!(resolve(&v, "user_id"), Some(&json!("auth0|1")));
        assert_eq!(resolve(&v, "identities[0].connection"), Some(&json!("DB")));
        assert_eq!(resolve(&v, "app_metadata.a.b"), Some(&json!(2)));
        assert_eq!(resolve(&v, "identities[1].connection"), None);
        assert_eq!(resolve(&v, "identities[x]"), None);
        assert_eq!(resolve(&v, "missing"), None);
    }

    #[test]
    fn csv_cells_are_escaped_like_auth0() {
        assert_eq!(csv_cell(&json!("a\"b")), "\"'a\"\"b\"");
        assert_eq!(csv_cell(&json!(1)), "1");
        assert_eq!(csv_cell(&json!(true)), "true");
        assert_eq!(csv_cell(&Value::Null), "");
    }

    #[test]
    fn bcrypt_shape() {
        assert!(is_bcrypt(&format!("$2b$10${}", "a".repeat(53))));
        assert!(is_bcrypt(&format!("$2a$12${}", "./A9".repeat(13) + "z")));
        assert!(!is_bcrypt("plain-password"));
        assert!(!is_bcrypt(&format!("$2b$10${}", "a".repeat(52))));
        assert!(!is_bcrypt(&format!("$2c$10${}", "a".repeat(53))));
    }

    #[tokio::test]
    async fn multipart_parts_and_malformed_bodies() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("multipart/form-data; boundary=XyZ"));
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"connection_id\"\r\n\r\ncon_x\r\n--XyZ\r\nContent-Disposition: form-data; name=\"users\"; filename=\"u.json\"\r\nContent-Type: application/json\r\n\r\n[1,\r\n2]\r\n--XyZ--\r\n";
        let parts = multipart(&h, Bytes::from_static(body)).await.expect("parses");
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), parts[0].data.as_slice()), ("connection_id", &b"con_x"[..]));
        assert_eq!((parts[1].name.as_str(), parts[1].data.as_slice()), ("users", &b"[1,\r\n2]"[..]));
        assert!(multipart(&h, Bytes::from_static(b"--XyZ\r\nno headers end")).await.is_err());
        assert!(multipart(&h, Bytes::from_static(b"garbage")).await.is_err());
        let mut json_ct = HeaderMap::new();
        json_ct.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(multipart(&json_ct, Bytes::from_static(body)).await.is_err());
    }
}
