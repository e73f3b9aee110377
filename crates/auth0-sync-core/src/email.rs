//! The one home of email rules: how an address from the HR table is checked and
//! normalised, and how tenant emails are compared with it.
//!
//! Auth0 checks emails with `isEmail` of the `validator` npm package, default options
//! (Auth0 support, "Auth0 Email Validation",
//! <https://community.auth0.com/t/auth0-email-validation/104550>): no display name
//! (`Carol <carol@acme.example>`), no IP or `[...]` domain, a top-level domain, at most 64
//! bytes before the `@` and 254 in all. An address Auth0 would refuse must become a source
//! warning here, not a failed change at apply time. The RFC 5322 grammar is the
//! `email_address` crate's; the rules `isEmail` adds to it (the domain and length rules) are
//! listed in [`auth0_domain_ok`].

use email_address::{EmailAddress, Options};
use std::borrow::Cow;

/// `isEmail`'s limit on the whole address.
const MAX_LEN: usize = 254;

/// Normalises an email: trimmed and lower-cased (Auth0 database connections store
/// emails lower-cased). `None` when Auth0 would not accept it as an email.
pub fn normalize(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    valid(&e).then_some(e)
}

/// Whether Auth0 accepts `e` (already trimmed) as a user's email.
pub fn valid(e: &str) -> bool {
    if e.len() > MAX_LEN || e.chars().any(|c| c.is_control()) {
        return false;
    }
    let options = Options::default().without_display_text().without_domain_literal().with_required_tld();
    match EmailAddress::parse_with_options(e, options) {
        Ok(addr) => auth0_domain_ok(addr.domain()),
        Err(_) => false,
    }
}

/// The domain rules of `isEmail` (its `isFQDN` with default options) that RFC 5322 does
/// not have: labels of letters, digits and hyphens (or non-ASCII letters) only, no
/// underscore and no full-width forms; a top-level domain of at least two letters (or a
/// punycode `xn--` one), never all digits.
fn auth0_domain_ok(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && !is_full_width(c)))
    };
    let Some(tld) = labels.last() else { return false };
    let tld_ok = (tld.starts_with("xn--") && tld.len() > 4)
        || (tld.chars().count() >= 2
            && tld.chars().all(|c| c.is_ascii_alphabetic() || (!c.is_ascii() && c.is_alphabetic())));
    labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok
}

/// `isFQDN` refuses the full-width forms U+FF01..=U+FF5E.
fn is_full_width(c: char) -> bool {
    ('\u{ff01}'..='\u{ff5e}').contains(&c)
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
        assert_eq!(normalize(" A@B.co ").as_deref(), Some("a@b.co"));
        assert_eq!(normalize("nope"), None);
    }

    #[test]
    fn accepts_what_auth0_accepts() {
        for ok in [
            "alice@acme.example",
            "first.last+tag@acme.example",
            "o'brien@acme.example",
            "x_y-z@sub.acme-corp.example",
            "josé@acme.example",
            "a@b.co",
            "user@xn--bcher-kva.example",
            "\"john doe\"@acme.example",
        ] {
            assert!(normalize(ok).is_some(), "{ok} should be accepted");
        }
    }

    #[test]
    fn refuses_what_auth0_refuses() {
        let long_local = format!("{}@acme.example", "a".repeat(65));
        let long_total = format!("a@{}.example", "b".repeat(250));
        for bad in [
            "<carol@acme.example>",
            "Carol <carol@acme.example>",
            "dot.@acme.example",
            ".dot@acme.example",
            "two..dots@acme.example",
            "a@b@acme.example",
            "alice@localhost",
            "alice@acme",
            "alice@acme.c",
            "alice@acme.123",
            "alice@[10.0.0.1]",
            "alice@10.0.0.1",
            "alice@-acme.example",
            "alice@acme-.example",
            "test@test-au-.com",
            "alice@ac_me.example",
            "alice@acme..example",
            "alice@acme.example.",
            "al ice@acme.example",
            "alice@acme.example\u{0}",
            "@acme.example",
            "alice@",
            long_local.as_str(),
            long_total.as_str(),
        ] {
            assert_eq!(normalize(bad), None, "{bad:?} should be refused");
        }
    }
}
