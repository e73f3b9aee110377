//! The ignore list: tenant users (exact emails and globs) that are never deleted or
//! blocked.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Emails (exact, case-insensitive) and glob patterns (`*@contractors.example.com`)
/// of tenant users that are never deleted.
#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    patterns: Vec<String>,
    set: GlobSet,
}

impl IgnoreList {
    /// Builds the list; an entry that is not a valid glob is returned as the error.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(entries: I) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        let mut patterns = Vec::new();
        for e in entries {
            let p = e.as_ref().trim().to_lowercase();
            if p.is_empty() {
                continue;
            }
            let glob = Glob::new(&p).map_err(|err| format!("{p:?}: {err}"))?;
            builder.add(glob);
            patterns.push(p);
        }
        let set = builder.build().map_err(|e| e.to_string())?;
        Ok(IgnoreList { patterns, set })
    }

    pub fn matches(&self, email: &str) -> bool {
        !self.patterns.is_empty() && self.set.is_match(crate::email::key(email).as_ref())
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}
