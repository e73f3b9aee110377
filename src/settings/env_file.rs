//! The dotenv file: `--env-file FILE`, else `./.env` in the working directory when there
//! is one, loaded before the arguments are parsed (clap reads the environment). A file
//! that cannot be parsed is reported with its line and column, never with its content
//! (the lines hold secrets).

use super::SettingsError;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Loads the dotenv file the arguments name (`--env-file FILE`), else `./.env` when
/// present. Variables already set in the environment win over the file. Returns the
/// file loaded, if any.
pub fn load(args: &[OsString]) -> Result<Option<PathBuf>, SettingsError> {
    let (path, explicit) = match explicit_path(args) {
        Some(p) => (p, true),
        None => (PathBuf::from("./.env"), false),
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(&path, &e.to_string(), explicit)),
    };
    match dotenvy::from_read(bytes.as_slice()) {
        Ok(()) => Ok(Some(path)),
        Err(dotenvy::Error::LineParse(line, index)) => {
            let text = String::from_utf8_lossy(&bytes);
            Err(parse_error(&path, text.trim_start_matches('\u{feff}'), &line, index))
        }
        Err(e) => Err(read_error(&path, &e.to_string(), explicit)),
    }
}

/// The value of the last `--env-file FILE` / `--env-file=FILE` before a bare `--`.
fn explicit_path(args: &[OsString]) -> Option<PathBuf> {
    let mut found = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--env-file" {
            found = it.next().map(PathBuf::from);
        } else if let Some(v) = a.to_str().and_then(|a| a.strip_prefix("--env-file=")) {
            found = Some(PathBuf::from(v));
        }
    }
    found
}

fn read_error(path: &Path, reason: &str, explicit: bool) -> SettingsError {
    let help = if explicit {
        "pass a readable dotenv file (KEY=value lines), e.g. --env-file .env.production"
    } else {
        "make ./.env readable (KEY=value lines, UTF-8), or remove it from the working directory"
    };
    SettingsError::EnvFile { path: path.to_path_buf(), action: "read", reason: reason.to_owned(), help: help.into() }
}

/// Where dotenvy's error is in the file, and what kind it is.
#[derive(Debug, PartialEq, Eq)]
struct Place<'a> {
    line: usize,
    column: usize,
    key: Option<&'a str>,
    why: &'static str,
}

fn parse_error(path: &Path, text: &str, line: &str, index: usize) -> SettingsError {
    let place = locate(text, line, index);
    let (at, why) = match &place {
        Some(p) => {
            let key = p.key.filter(|k| known(k)).map(|k| format!(" ({k})")).unwrap_or_default();
            (format!("line {}, column {}{key}", p.line, p.column), p.why)
        }
        None => ("a line".to_owned(), "it is not KEY=value"),
    };
    let line_no = place.map(|p| format!("line {} of ", p.line)).unwrap_or_default();
    SettingsError::EnvFile {
        path: path.to_path_buf(),
        action: "parse",
        reason: format!("{at}: {why}"),
        help: format!(
            "fix {line_no}{} (KEY=value lines; quote values with spaces: KEY=\"a b\"), or remove it",
            path.display()
        ),
    }
}

/// dotenvy reports either a logical line (several physical lines when a quoted value
/// spans them) with a byte index, or only the value after `KEY=` with a character
/// index; this finds the physical line and column (both 1-based) in the file.
fn locate<'a>(text: &'a str, line: &str, index: usize) -> Option<Place<'a>> {
    if line.is_empty() {
        return None;
    }
    let mut start = 0;
    for (n, physical) in text.split_inclusive('\n').enumerate() {
        let rest = &text[start..];
        let first = physical.trim_end_matches(['\n', '\r']);
        let eq = first.find('=');
        let key = eq.map(|e| first[..e].trim().trim_start_matches("export ").trim());
        if rest.starts_with(line) {
            // The whole line: a bad key, a missing `=`, or (at the end of the file) a quote
            // that is never closed.
            if index >= line.len() {
                let quote = first.find(['"', '\'']).unwrap_or(0);
                return Some(Place {
                    line: n + 1,
                    column: column(first, quote),
                    key,
                    why: "a quoted value is not closed",
                });
            }
            let why = match eq {
                Some(e) if index <= e => "the key is not a name (letters, digits, `_` and `.`)",
                Some(_) => "the value needs quotes (it holds a space, a quote, `#` or `$`)",
                None => "it is not KEY=value (nor a # comment)",
            };
            return Some(Place { line: n + 1, column: column(first, index.min(first.len())), key, why });
        }
        if let Some(e) = eq {
            let after = &first[e + 1..];
            let value_at = e + 1 + (after.len() - after.trim_start_matches([' ', '\t']).len());
            if first[value_at..].starts_with(line.trim_end()) {
                let byte = line.char_indices().nth(index).map_or(line.len(), |(b, _)| b);
                let why = "the value needs quotes (it holds a space, a quote, `#` or `$`)";
                return Some(Place { line: n + 1, column: column(first, value_at + byte), key, why });
            }
        }
        start += physical.len();
    }
    None
}

/// The 1-based column of byte `at` of `line`.
fn column(line: &str, at: usize) -> usize {
    let mut end = at.min(line.len());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].chars().count() + 1
}

/// Whether `name` is one of the tool's settings (only those are named in an error: any
/// other text before a `=` could be part of a secret).
fn known(name: &str) -> bool {
    use clap::CommandFactory;
    name == "AUTH0_SYNC_LOG"
        || crate::cli::Cli::command()
            .get_subcommands()
            .flat_map(|s| s.get_arguments())
            .filter_map(|a| a.get_env())
            .any(|e| e == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        let e = match dotenvy::from_read_iter(text.as_bytes()).find_map(|r| r.err()) {
            Some(dotenvy::Error::LineParse(line, index)) => parse_error(Path::new("./.env"), text, &line, index),
            other => panic!("no parse error: {other:?}"),
        };
        e.to_string()
    }

    #[test]
    fn parse_errors_name_the_line_and_column_but_not_the_content() {
        let e = err("# settings\nAUTH0_URL=https://acme.auth0.com\n\nAUTH0_CLIENT_SECRET=s3cr3t value\n");
        assert!(e.contains("line 4, column 28 (AUTH0_CLIENT_SECRET): the value needs quotes"), "{e}");
        assert!(e.starts_with("could not parse the dotenv file ./.env"), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
        let e = err("A=1\nhunter2-on-its-own-line\n");
        assert!(e.contains("line 2, column") && e.contains("not KEY=value") && !e.contains("hunter2"), "{e}");
        let e = err("A=1\nAUTH0_CLIENT_SECRET=\"unclosed\nB=2\n");
        assert!(e.contains("line 2, column 21 (AUTH0_CLIENT_SECRET): a quoted value is not closed"), "{e}");
        let e = err("A=1\nMY-KEY=2\n");
        assert!(e.contains("line 2, column 3: the key is not a name"), "{e}");
        // A name that is not a setting is not repeated: it may be part of a secret.
        let e = err("c2VjcmV0=x y\n");
        assert!(e.contains("line 1, column") && !e.contains("c2VjcmV0"), "{e}");
    }

    #[test]
    fn the_last_env_file_flag_wins() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(explicit_path(&a(&["x", "plan", "--env-file", "a.env"])), Some("a.env".into()));
        assert_eq!(explicit_path(&a(&["x", "--env-file=a", "--env-file", "b"])), Some("b".into()));
        assert_eq!(explicit_path(&a(&["x", "show", "--", "--env-file=a"])), None);
    }
}
