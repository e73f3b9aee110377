//! Turns plans and apply reports into text for people and machines (table, markdown,
//! JSON), always writing to an `impl Write` so tests can snapshot the exact output.

mod apply_header;
mod markdown;
mod table;

pub use apply_header::{apply_footer, apply_header, print_note};
pub use markdown::plan_markdown;
pub(crate) use table::new_table;
pub use table::{FALLBACK_WIDTH, apply_report, plan_table};

use crate::plan::{Plan, Summary};
use std::io::{self, Write};

/// How to draw text for a terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// ANSI colors on.
    pub color: bool,
    /// Fixed table width; `None` lets the table fit the terminal.
    pub width: Option<u16>,
    /// Mask emails (`--redact`).
    pub redact: bool,
}

impl RenderOptions {
    /// Colors only when stdout is a terminal and `NO_COLOR` is unset (or empty).
    pub fn for_stdout() -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        RenderOptions { color: !no_color && io::stdout().is_terminal(), width: None, redact: crate::redact::enabled() }
    }
}

/// The plan file itself, pretty JSON (emails masked with `redact`).
pub fn plan_json(plan: &Plan, out: &mut impl Write, redact: bool) -> io::Result<()> {
    if !redact {
        return writeln!(out, "{}", plan.to_json_pretty());
    }
    let mut v = serde_json::to_value(plan).map_err(io::Error::other)?;
    crate::redact::json(&mut v);
    writeln!(out, "{}", serde_json::to_string_pretty(&v).map_err(io::Error::other)?)
}

/// One line: `Plan: 2 to create, 1 to update (3 roles assigned, 1 removed), 1 to delete.`
pub fn summary_line(s: &Summary) -> String {
    if s.total_changes() == 0 {
        return format!(
            "No changes: the tenant matches the source ({} user(s) unchanged, {} ignored).",
            s.unchanged, s.ignored
        );
    }
    format!(
        "Plan: {} to create, {} to update ({} role(s) assigned, {} removed), {} to delete; {} unchanged, {} ignored.",
        s.create_user, s.update_roles, s.roles_assigned, s.roles_removed, s.delete_user, s.unchanged, s.ignored
    )
}
