//! HTTP plumbing shared by the emulator's handlers, so that every route refuses and
//! pages the same way Auth0 does: Auth0's error body, query-string and JSON-body
//! validation with Auth0's messages, and offset paging.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// A Management API error: `{statusCode, error, message, errorCode?}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, message: &str, code: Option<&str>) -> Self {
        let mut body = json!({
            "statusCode": status.as_u16(),
            "error": status.canonical_reason().unwrap_or("Error"),
            "message": message,
        });
        if let Some(code) = code {
            body["errorCode"] = json!(code);
        }
        ApiError { status, body }
    }

    pub fn from_body(status: StatusCode, body: Value) -> Self {
        ApiError { status, body }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn bad_query(msg: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, &format!("Query validation error: {msg}"), Some("invalid_query_string"))
}

pub(crate) fn bad_body(msg: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, &format!("Payload validation error: {msg}"), Some("invalid_body"))
}

pub(crate) fn no_user() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "The user does not exist.", Some("inexistent_user"))
}

pub(crate) fn no_role() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "The role does not exist.", Some("inexistent_role"))
}

pub(crate) fn paging_cap() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation",
        Some("invalid_paging"),
    )
}

/// Unknown route or method: Auth0's generic 404.
pub(crate) async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "Not Found", None).into_response()
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// ---------------------------------------------------------------- query strings

/// Query-string parameters, validated like Auth0 does (unknown ones are refused).
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn new(
        q: Result<Query<Vec<(String, String)>>, QueryRejection>,
        allowed: &[&str],
    ) -> Result<Self, ApiError> {
        let Query(pairs) = q.map_err(|_| bad_query("malformed query string"))?;
        for (k, _) in &pairs {
            if !allowed.contains(&k.as_str()) {
                return Err(bad_query(&format!("'Additional properties not allowed: {k}'.")));
            }
        }
        Ok(Params(pairs))
    }

    pub(crate) fn one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut it = self.0.iter().filter(|(k, _)| k == name);
        let first = it.next().map(|(_, v)| v.as_str());
        if it.next().is_some() {
            return Err(bad_query(&format!("'Expected type string but found type array' on property {name}.")));
        }
        Ok(first)
    }

    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    pub(crate) fn int(&self, name: &str, min: u64, max: Option<u64>) -> Result<Option<u64>, ApiError> {
        let Some(raw) = self.one(name)? else {
            return Ok(None);
        };
        let n: i64 = raw
            .parse()
            .map_err(|_| bad_query(&format!("'Expected type integer but found type string' on property {name}.")))?;
        if n < min as i64 {
            return Err(bad_query(&format!("'Number must be greater than or equal to {min}' on property {name}.")));
        }
        let n = n as u64;
        if let Some(max) = max
            && n > max
        {
            return Err(bad_query(&format!("'Number must be less than or equal to {max}' on property {name}.")));
        }
        Ok(Some(n))
    }

    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.one(name)? {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(bad_query(&format!("'Expected type boolean but found type string' on property {name}."))),
        }
    }

    /// `fields` + `include_fields`.
    pub(crate) fn fields(&self) -> Result<Option<(Vec<String>, bool)>, ApiError> {
        let include = self.boolean("include_fields")?.unwrap_or(true);
        Ok(self
            .one("fields")?
            .filter(|f| !f.is_empty())
            .map(|f| (f.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(), include)))
    }
}

pub(crate) fn apply_fields(v: Value, fields: &Option<(Vec<String>, bool)>, always: &[&str]) -> Value {
    let (Some((names, include)), Value::Object(map)) = (fields, &v) else {
        return v;
    };
    let keep = |k: &String| always.contains(&k.as_str()) || names.contains(k) == *include;
    Value::Object(map.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), v.clone())).collect())
}

pub(crate) fn path_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    match p {
        Ok(Path(id)) if !id.is_empty() => Ok(id),
        _ => Err(ApiError::new(StatusCode::BAD_REQUEST, "Path validation error: invalid id", Some("invalid_uri"))),
    }
}

/// Offset paging shared by every list: validates `page`/`per_page`, applies `cap`.
pub(crate) struct Offset {
    pub page: u64,
    pub per_page: u64,
    pub totals: bool,
}

impl Offset {
    pub(crate) fn parse(p: &Params, min_per_page: u64, cap: Option<u64>) -> Result<Self, ApiError> {
        let page = p.int("page", 0, None)?.unwrap_or(0);
        let per_page = p.int("per_page", min_per_page, Some(100))?.unwrap_or(50);
        let totals = p.boolean("include_totals")?.unwrap_or(false);
        if let Some(cap) = cap
            && page.saturating_mul(per_page).saturating_add(per_page) > cap
        {
            return Err(paging_cap());
        }
        Ok(Offset { page, per_page, totals })
    }

    pub(crate) fn slice<T: Clone>(&self, items: &[T]) -> Vec<T> {
        let start = usize::try_from(self.page.saturating_mul(self.per_page)).unwrap_or(usize::MAX);
        items.iter().skip(start).take(self.per_page as usize).cloned().collect()
    }

    /// `{start, limit, total, <key>: items}` with totals, a bare array without.
    pub(crate) fn answer(&self, key: &str, items: Vec<Value>, total: usize, with_length: bool) -> Response {
        if !self.totals {
            return Json(Value::Array(items)).into_response();
        }
        let mut body = json!({
            "start": self.page.saturating_mul(self.per_page),
            "limit": self.per_page,
            "total": total,
        });
        if with_length {
            body["length"] = json!(items.len());
        }
        body[key] = Value::Array(items);
        Json(body).into_response()
    }
}

// ---------------------------------------------------------------- request bodies

/// The raw body; too large or unreadable bodies get an Auth0-style error, not axum's.
pub(crate) fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        let status = e.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "Payload content length greater than maximum allowed".to_owned()
        } else {
            format!("Invalid request payload: {e}")
        };
        ApiError::new(status, &message, None)
    })
}

/// A JSON object body. Auth0 answers 400 for anything else.
pub(crate) fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        if !ct.starts_with("application/json") {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                &format!("Invalid request payload: unsupported Content-Type {ct:?}, expected application/json"),
                Some("invalid_body"),
            ));
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_body("'Expected type object but found type null'."));
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "Invalid request payload JSON format", Some("invalid_body"))
    })?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(bad_body(&format!("'Expected type object but found type {}'.", json_type(&other)))),
    }
}

/// Field-by-field checks of a JSON body against its schema.
pub(crate) struct Body(Map<String, Value>);

impl Body {
    pub(crate) fn parse(
        headers: &HeaderMap,
        body: &Bytes,
        allowed: &[&str],
        required: &[&str],
    ) -> Result<Self, ApiError> {
        let map = json_body(headers, body)?;
        let extra: Vec<&str> = map.keys().map(String::as_str).filter(|k| !allowed.contains(k)).collect();
        if !extra.is_empty() {
            return Err(bad_body(&format!("'Additional properties not allowed: {}'.", extra.join(","))));
        }
        for r in required {
            if !map.contains_key(*r) {
                return Err(bad_body(&format!("'Missing required property: {r}'.")));
            }
        }
        Ok(Body(map))
    }

    pub(crate) fn has(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }

    /// Whether the body is `{}`.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A non-negative integer no larger than `max` (JSON integers only: `1.5` and
    /// `"1"` are type errors).
    pub(crate) fn uint(&self, k: &str, max: Option<u64>) -> Result<Option<u64>, ApiError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => {
                if let Some(i) = n.as_i64()
                    && i < 0
                {
                    return Err(bad_body(&format!("'Number must be greater than or equal to 0' on property {k}.")));
                }
                let Some(u) = n.as_u64() else {
                    return Err(Self::wrong_type(k, "integer", v));
                };
                if let Some(max) = max
                    && u > max
                {
                    return Err(bad_body(&format!("'Number must be less than or equal to {max}' on property {k}.")));
                }
                Ok(Some(u))
            }
            Some(v) => Err(Self::wrong_type(k, "integer", v)),
        }
    }

    pub(crate) fn wrong_type(k: &str, want: &str, v: &Value) -> ApiError {
        bad_body(&format!("'Expected type {want} but found type {}' on property {k}.", json_type(v)))
    }

    /// A string with length bounds; `Ok(Some(None))` is an explicit null when allowed.
    pub(crate) fn string(
        &self,
        k: &str,
        min: usize,
        max: usize,
        nullable: bool,
    ) -> Result<Option<Option<String>>, ApiError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Null) if nullable => Ok(Some(None)),
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n < min {
                    return Err(bad_body(&format!(
                        "'String is too short ({n} chars), minimum {min}' on property {k}."
                    )));
                }
                if n > max {
                    return Err(bad_body(&format!("'String is too long ({n} chars), maximum {max}' on property {k}.")));
                }
                Ok(Some(Some(s.clone())))
            }
            Some(v) => Err(Self::wrong_type(k, "string", v)),
        }
    }

    pub(crate) fn boolean(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(Self::wrong_type(k, "boolean", v)),
        }
    }

    pub(crate) fn object(&self, k: &str) -> Result<Option<Map<String, Value>>, ApiError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(v) => Err(Self::wrong_type(k, "object", v)),
        }
    }

    pub(crate) fn string_array(&self, k: &str, min_items: usize) -> Result<Vec<String>, ApiError> {
        let v = self.0.get(k).unwrap_or(&Value::Null);
        let Value::Array(items) = v else {
            return Err(Self::wrong_type(k, "array", v));
        };
        if items.len() < min_items {
            return Err(bad_body(&format!(
                "'Array is too short ({}), minimum {min_items}' on property {k}.",
                items.len()
            )));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, it)| match it {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                Value::String(_) => {
                    Err(bad_body(&format!("'String is too short (0 chars), minimum 1' on property {k}[{i}].")))
                }
                other => Err(Self::wrong_type(&format!("{k}[{i}]"), "string", other)),
            })
            .collect()
    }
}
