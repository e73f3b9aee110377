//! `--redact`: masks emails in everything printed or logged (plan files and journals
//! keep them, since apply needs them).

use std::borrow::Cow;

/// `alice@acme.example` → `a***@acme.example`; text without `@` → `a***`.
pub fn mask(email: &str) -> String {
    let first: String = email.chars().next().map(String::from).unwrap_or_default();
    match email.rsplit_once('@') {
        Some((_, domain)) => format!("{first}***@{domain}"),
        None => format!("{first}***"),
    }
}

/// Masks `email` when `on`.
pub fn email(email: &str, on: bool) -> Cow<'_, str> {
    if on { Cow::Owned(mask(email)) } else { Cow::Borrowed(email) }
}

/// Masks every `…@…` word of a free text, and `raw` (e.g. an invalid address) if given.
pub fn text(s: &str, raw: Option<&str>, on: bool) -> String {
    if !on {
        return s.to_owned();
    }
    let mut s = s.to_owned();
    if let Some(r) = raw.filter(|r| !r.is_empty()) {
        s = s.replace(r, &mask(r));
    }
    s.split(' ')
        .map(|w| {
            let core = w.trim_matches(|c: char| "\"'`(),;:".contains(c));
            if core.contains('@') && !core.contains("***") { w.replace(core, &mask(core)) } else { w.to_owned() }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Masks every address in a JSON value (the plan or a report printed with `--redact`):
/// `email` fields whole, and every `…@…` word of every other string.
pub fn json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let raw = map.get("email").and_then(|e| e.as_str()).map(str::to_owned);
            for (k, val) in map.iter_mut() {
                match val {
                    serde_json::Value::String(s) if k == "email" => *s = mask(s),
                    serde_json::Value::String(s) if k == "message" || k == "detail" => {
                        *s = text(s, raw.as_deref(), true)
                    }
                    other => json(other),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(json),
        // Any other text holding an address (ignore lists, policy records, notes).
        serde_json::Value::String(s) => *s = text(s, None, true),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_addresses_and_words() {
        assert_eq!(mask("alice@acme.example"), "a***@acme.example");
        assert_eq!(mask("judy.acme.example"), "j***");
        assert_eq!(text("role \"x\" for bob@acme.example, ok", None, true), "role \"x\" for b***@acme.example, ok");
        assert_eq!(
            text("\"judy.acme.example\" is not valid", Some("judy.acme.example"), true),
            "\"j***\" is not valid"
        );
        assert_eq!(text("bob@x.io", None, false), "bob@x.io");
        let mut v = serde_json::json!({"changes": [{"user": {"email": "bob@x.io"}}], "email": "a@b.c"});
        json(&mut v);
        assert_eq!(v["changes"][0]["user"]["email"], "b***@x.io");
        assert_eq!(v["email"], "a***@b.c");
    }
}
