//! A deliberately small subset of Auth0's user search (`q`, Lucene syntax, search
//! engine v3): `field:value` or `field:"value"` terms joined by `AND`. Anything else
//! is rejected with a 400 so the client never relies on syntax the emulator fakes.

use crate::state::StateUser;

/// One `field:value` term.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Term {
    pub field: Field,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// `identities.connection`: any identity, linked ones included (an array field).
    Connection,
    /// `identities.isSocial`: any identity.
    IsSocial,
    Email,
    UserId,
    Name,
    GivenName,
    FamilyName,
    Username,
    Blocked,
    EmailVerified,
}

/// A parsed query: all terms must match.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct UserQuery {
    pub terms: Vec<Term>,
}

fn field(name: &str) -> Option<Field> {
    Some(match name {
        "identities.connection" => Field::Connection,
        "identities.isSocial" => Field::IsSocial,
        "email" => Field::Email,
        "user_id" => Field::UserId,
        "name" => Field::Name,
        "given_name" => Field::GivenName,
        "family_name" => Field::FamilyName,
        "username" => Field::Username,
        "blocked" => Field::Blocked,
        "email_verified" => Field::EmailVerified,
        _ => return None,
    })
}

/// Parses `q`. The error is the message of the 400 answer.
pub(crate) fn parse(q: &str) -> Result<UserQuery, String> {
    let bad = |why: &str| format!("Bad query: {why} in {q:?}");
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    let mut terms = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= chars.len() {
            break;
        }
        if !terms.is_empty() {
            // Expect AND.
            let rest: String = chars[i..].iter().take(4).collect();
            if rest.starts_with("AND") && rest.chars().nth(3).is_none_or(char::is_whitespace) {
                i += 3;
                skip_ws(&mut i);
            } else {
                return Err(bad("only `AND` may join terms"));
            }
        }
        let start = i;
        while i < chars.len() && chars[i] != ':' && !chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() || chars[i] != ':' {
            return Err(bad("expected `field:value`"));
        }
        let name: String = chars[start..i].iter().collect();
        let Some(f) = field(&name) else {
            return Err(bad(&format!("unsupported field {name:?}")));
        };
        i += 1;
        let value = if i < chars.len() && chars[i] == '"' {
            i += 1;
            let mut v = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(bad("unterminated quoted value")),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        let Some(c) = chars.get(i + 1) else {
                            return Err(bad("dangling escape"));
                        };
                        v.push(*c);
                        i += 2;
                    }
                    Some(c) => {
                        v.push(*c);
                        i += 1;
                    }
                }
            }
            if i < chars.len() && !chars[i].is_whitespace() {
                return Err(bad("expected whitespace after a quoted value"));
            }
            v
        } else {
            let s = i;
            while i < chars.len() && !chars[i].is_whitespace() {
                i += 1;
            }
            let v: String = chars[s..i].iter().collect();
            if v.is_empty() {
                return Err(bad("missing value"));
            }
            if v.contains(['*', '?', '(', ')', '[', ']', '{', '}', '~', '^', '"', ':']) {
                return Err(bad("unsupported Lucene syntax"));
            }
            v
        };
        if matches!(f, Field::Blocked | Field::EmailVerified | Field::IsSocial) && value != "true" && value != "false" {
            return Err(bad("boolean fields take true or false"));
        }
        terms.push(Term { field: f, value });
    }
    Ok(UserQuery { terms })
}

impl UserQuery {
    /// Whether `u` matches; `social(connection)` says whether a connection is social.
    pub fn matches(&self, u: &StateUser) -> bool {
        self.matches_with(u, &|_| false)
    }

    pub fn matches_with(&self, u: &StateUser, social: &dyn Fn(&str) -> bool) -> bool {
        self.terms.iter().all(|t| {
            let opt = |o: &Option<String>| o.as_deref() == Some(t.value.as_str());
            match t.field {
                Field::Connection => u.has_identity_in(&t.value),
                Field::IsSocial => {
                    let want = t.value == "true";
                    if u.identities.is_empty() {
                        social(&u.connection) == want
                    } else {
                        u.identities.iter().any(|i| social(i.provider.as_deref().unwrap_or(&i.connection)) == want)
                    }
                }
                Field::Email => u.email.as_deref().is_some_and(|e| e.to_lowercase() == t.value.to_lowercase()),
                Field::UserId => u.user_id == t.value,
                Field::Name => opt(&u.name),
                Field::GivenName => opt(&u.given_name),
                Field::FamilyName => opt(&u.family_name),
                Field::Username => opt(&u.username),
                Field::Blocked => u.blocked == (t.value == "true"),
                Field::EmailVerified => u.email_verified == (t.value == "true"),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_terms() {
        let q = parse(r#"identities.connection:"Username-Password-Authentication" AND email:"a@b.c""#).expect("valid");
        assert_eq!(q.terms.len(), 2);
        assert_eq!(q.terms[0].field, Field::Connection);
        assert_eq!(q.terms[1].value, "a@b.c");
        assert!(parse("").expect("empty").terms.is_empty());
        assert_eq!(parse("blocked:true").expect("bool").terms[0].value, "true");
    }

    #[test]
    fn rejects_unknown_syntax() {
        for q in [
            "email:a OR email:b",
            "foo:bar",
            "email:*@x.com",
            "email:\"a",
            "justtext",
            "(email:a)",
            "email:\"a\"AND",
            "blocked:maybe",
        ] {
            assert!(parse(q).is_err(), "{q} should be rejected");
        }
    }
}
