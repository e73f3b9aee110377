//! The layout stays the design: no import cycle among the files of a crate (every
//! `use crate::…`, `use super::…` and `crate::…` path is an edge from the file that
//! writes it to the file of the module it names; a cycle is a strongly connected
//! component of more than one file), and every module says in its first line why it
//! exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`["apply", "executor"]`) → file, for the `.rs` files under `src`.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                parts.pop();
            }
            out.insert(parts, path);
        }
    }
    out
}

/// Text without comments, string literals and `#[cfg(test)]` modules (so docs and
/// messages naming paths do not count, and unit tests may use anything).
fn code_only(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Paths `crate::a::b` / `super::a` / `use crate::{a, b::c}` of a file, as absolute
/// module paths (segments after `crate`).
fn referenced(module: &[String], text: &str) -> Vec<Vec<String>> {
    let text = code_only(text);
    let mut out = Vec::new();
    let words: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < words.len() {
        let rest: String = words[i..words.len().min(i + 7)].iter().collect();
        let (base, skip): (Vec<String>, usize) = if rest.starts_with("crate::") {
            (Vec::new(), 7)
        } else if rest.starts_with("super::") {
            (module[..module.len().saturating_sub(1)].to_vec(), 7)
        } else {
            i += 1;
            continue;
        };
        let before = if i == 0 { ' ' } else { words[i - 1] };
        if before.is_alphanumeric() || before == '_' || before == ':' {
            i += 1;
            continue;
        }
        let mut j = i + skip;
        let mut segs = base.clone();
        // super::super::
        while words[j..].iter().collect::<String>().starts_with("super::") {
            segs.pop();
            j += 7;
        }
        if words.get(j) == Some(&'{') {
            let end = words[j..].iter().position(|c| *c == '}').map_or(words.len(), |p| j + p);
            let inner: String = words[j + 1..end].iter().collect();
            for item in inner.split(',') {
                let first: Vec<String> = item
                    .trim()
                    .split("::")
                    .map(|s| s.trim().trim_start_matches('{').to_owned())
                    .filter(|s| !s.is_empty() && s != "self")
                    .collect();
                let mut p = segs.clone();
                p.extend(first);
                out.push(p);
            }
            i = end;
            continue;
        }
        loop {
            let start = j;
            while j < words.len() && (words[j].is_alphanumeric() || words[j] == '_') {
                j += 1;
            }
            if start == j {
                break;
            }
            segs.push(words[start..j].iter().collect());
            if words[j..].iter().take(2).collect::<String>() == "::"
                && words.get(j + 2).is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                j += 2;
            } else {
                break;
            }
        }
        out.push(segs);
        i = j;
    }
    out
}

/// The file a module path lands in: its longest prefix that is a module.
fn resolve<'a>(
    mods: &'a BTreeMap<Vec<String>, PathBuf>,
    reexports: &BTreeMap<String, Vec<String>>,
    path: &[String],
) -> Option<&'a Vec<String>> {
    if path.len() == 1
        && let Some(target) = reexports.get(&path[0])
    {
        return mods.get_key_value(target).map(|(k, _)| k);
    }
    (1..=path.len()).rev().find_map(|n| mods.get_key_value(&path[..n]).map(|(k, _)| k))
}

/// `pub use error::{Error, Result};` in the crate root: `Error` → `["error"]`.
fn root_reexports(root: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for line in code_only(root).lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else { continue };
        let rest = rest.trim_end_matches(';');
        let (module, items) = match rest.split_once("::{") {
            Some((m, items)) => (m, items.trim_end_matches('}').split(',').map(str::trim).collect::<Vec<_>>()),
            None => match rest.rsplit_once("::") {
                Some((m, item)) => (m, vec![item]),
                None => continue,
            },
        };
        for item in items {
            out.insert(item.to_owned(), module.split("::").map(str::to_owned).collect());
        }
    }
    out
}

fn cycles(src: &Path) -> Vec<Vec<String>> {
    let mods = modules(src);
    let root_file = mods.get(&Vec::new()).cloned();
    let reexports = root_file.map(|f| root_reexports(&std::fs::read_to_string(f).unwrap())).unwrap_or_default();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &mods {
        let text = std::fs::read_to_string(file).unwrap();
        let targets = edges.entry(module.clone()).or_default();
        for path in referenced(module, &text) {
            if let Some(t) = resolve(&mods, &reexports, &path)
                && t != module
                && !t.is_empty()
            {
                targets.insert(t.clone());
            }
        }
    }
    // Tarjan's strongly connected components.
    struct T<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on: BTreeSet<&'a Vec<String>>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a Vec<String>) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.edges.get(v).into_iter().flatten() {
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.join("::"));
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn crate_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    vec![root.join("src"), root.join("crates/auth0-sync-core/src"), root.join("crates/auth0-emulator/src")]
}

#[test]
fn no_import_cycle_among_the_files_of_a_crate() {
    for src in crate_dirs() {
        let found = cycles(&src);
        assert!(found.is_empty(), "{}: import cycles {found:?}", src.display());
    }
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lib.rs"), "//! x\nmod a;\nmod b;\n").unwrap();
    std::fs::write(dir.path().join("a.rs"), "//! a\nuse crate::b::B;\npub struct A;\n").unwrap();
    std::fs::write(dir.path().join("b.rs"), "//! b\npub struct B(crate::a::A);\n").unwrap();
    assert_eq!(cycles(dir.path()), vec![vec!["a".to_owned(), "b".to_owned()]]);
    std::fs::write(
        dir.path().join("b.rs"),
        "//! b\n// crate::a::A in a comment\npub struct B(&'static str);\nconst S: &str = \"crate::a::A\";\n",
    )
    .unwrap();
    assert!(cycles(dir.path()).is_empty());
}

#[test]
fn every_module_says_why_it_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = crate_dirs();
    dirs.push(root.join("crates/auth0-emulator/src"));
    for src in dirs {
        for file in modules(&src).values() {
            let text = std::fs::read_to_string(file).unwrap();
            assert!(
                text.starts_with("//!") || file.ends_with("main.rs"),
                "{} does not start with a //! line",
                file.display()
            );
        }
    }
}
