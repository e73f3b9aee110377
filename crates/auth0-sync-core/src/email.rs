//! The one home of email rules: how an address from the HR table is checked and
//! normalised, and how tenant emails are compared with it.

use std::borrow::Cow;

/// Normalises an email: trimmed and lower-cased. `None` when it is not a plausible
/// address (one `@`, non-empty local part, a dot in the domain, no whitespace).
pub fn normalize(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(e)
}

/// The form emails are compared in (trimmed, lower-cased), borrowed when `e`
/// already is: Auth0 stores database emails lower-cased, but other connections and
/// older users may not.
pub fn key(e: &str) -> Cow<'_, str> {
    let t = e.trim();
    if t.chars().any(char::is_uppercase) { Cow::Owned(t.to_lowercase()) } else { Cow::Borrowed(t) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_borrows_normal_emails() {
        assert!(matches!(key("a@b.c"), Cow::Borrowed("a@b.c")));
        assert_eq!(key(" A@B.c "), "a@b.c");
        assert_eq!(normalize(" A@B.c ").as_deref(), Some("a@b.c"));
        assert_eq!(normalize("nope"), None);
    }
}
