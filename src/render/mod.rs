//! Turns plans and apply reports into text for people and machines (table, markdown,
//! JSON), always writing to an `impl Write` so tests can snapshot the exact output.

mod apply_header;
mod markdown;
mod table;

pub use apply_header::{apply_footer, apply_header, print_note};
pub use markdown::{MARKER_PREFIX, MarkdownOptions, plan_markdown};
pub(crate) use table::new_table;
pub use table::{FALLBACK_WIDTH, apply_report, plan_table};

/// How a plan is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// Colored table for people.
    #[default]
    Table,
    /// The plan file itself.
    Json,
    /// A summary for a pull-request comment.
    Markdown,
}

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
    pub fn for_stdout(redact: bool) -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        RenderOptions { color: !no_color && io::stdout().is_terminal(), width: None, redact }
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

/// Every count of a plan's summary, labelled, in the order the table and markdown
/// show them: each action, roles to create, role operations, then the users the plan
/// leaves as they are.
pub fn summary_rows(s: &Summary) -> [(&'static str, u32); 16] {
    [
        ("update email", s.update_email),
        ("create", s.create_user),
        ("adopt (HR key written)", s.adopt_user),
        ("update profile", s.update_profile),
        ("unblock", s.unblock_user),
        ("update roles", s.update_roles),
        ("block", s.block_user),
        ("delete", s.delete_user),
        ("roles to create", s.create_role),
        ("roles assigned", s.roles_assigned),
        ("roles removed", s.roles_removed),
        ("unchanged", s.unchanged),
        ("ignored (CLIENT_IGNORE_USERS)", s.ignored),
        ("kept although not in the source", s.kept),
        ("users in the connection", s.connection_users),
        ("changes in total", s.total_changes()),
    ]
}

/// One line naming every count: `Plan: 2 to create, 0 to unblock, 1 to update (3
/// role(s) assigned, 1 removed), 0 to block, 1 to delete, 0 role(s) to create; 5
/// unchanged, 1 ignored, 0 kept.` "The tenant matches the source" only when nothing
/// changes and nobody outside the source is kept (ignored users aside).
pub fn summary_line(s: &Summary) -> String {
    summary_sentence(s, "the tenant matches the source", "the tenant does not match the source")
}

/// [`summary_line`] for a plan: a partial plan says so and speaks of its targets.
pub fn plan_summary_line(plan: &Plan) -> String {
    match plan.targets() {
        None => summary_line(&plan.changeset.summary),
        Some(t) => format!(
            "Partial plan ({} target(s)): {}",
            t.len(),
            summary_sentence(
                &plan.changeset.summary,
                "the targets match the source",
                "the targets do not match the source"
            )
        ),
    }
}

fn summary_sentence(s: &Summary, matches: &str, differs: &str) -> String {
    if s.total_changes() == 0 {
        return if s.kept == 0 {
            format!("No changes: {matches} ({} user(s) unchanged, {} ignored).", s.unchanged, s.ignored)
        } else {
            format!(
                "No changes, but {differs}: {} user(s) not in the source are kept (on-missing ignore, or already blocked); {} unchanged, {} ignored.",
                s.kept, s.unchanged, s.ignored
            )
        };
    }
    // The counts of the key's actions only when there are some: plans without an HR
    // key or synced fields read as they always did.
    let keyed: String = [
        (s.update_email, "email(s) to change"),
        (s.adopt_user, "to adopt"),
        (s.update_profile, "profile(s) to update"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!(", {n} {what}"))
    .collect();
    format!(
        "Plan: {} to create, {} to unblock, {} to update ({} role(s) assigned, {} removed), {} to block, {} to delete, {} role(s) to create{keyed}; {} unchanged, {} ignored, {} kept although not in the source.",
        s.create_user,
        s.unblock_user,
        s.update_roles,
        s.roles_assigned,
        s.roles_removed,
        s.block_user,
        s.delete_user,
        s.create_role,
        s.unchanged,
        s.ignored,
        s.kept
    )
}

/// `signed by key sha256:…` or `unsigned` (not verified: that needs the public key).
/// What the plan records of how leavers are handled, one sentence each, for the table
/// and markdown (the reviewer sees what apply will do beyond the rows).
pub fn leaver_notes(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = &plan.policy.delete_after {
        let grace = humantime::format_duration(std::time::Duration::from_secs(d.seconds));
        out.push(format!(
            "Two-stage leaving (--delete-after {grace}): users auth0-sync blocked at least {grace} before {} are deleted; others are blocked first.",
            d.now.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    if plan.policy.revoke_sessions {
        out.push(
            "Blocks revoke the user's sessions and refresh tokens (--revoke-sessions); access tokens already issued stay valid until they expire."
                .to_owned(),
        );
    }
    out
}

pub fn signature_note(plan: &Plan) -> String {
    match plan.signed_by() {
        Some(key) => format!("signed by key {key}"),
        None => "unsigned".to_owned(),
    }
}
