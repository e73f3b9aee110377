//! Colored tables (comfy-table) with a role diff per changed user (similar).

use super::{RenderOptions, plan_summary_line, signature_note, summary_rows};
use crate::apply::{ApplyReport, OutcomeStatus};
use crate::plan::{Action, Change, Plan};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table};
use std::io::{self, Write};

/// Width of tables on a terminal that reports no usable size (some CI runners, `docker
/// run -t`, serial consoles): comfy-table would give each column one character.
pub const FALLBACK_WIDTH: u16 = 100;

/// Narrower than this, a reported terminal width is taken as "unknown".
const MIN_TERMINAL_WIDTH: u16 = 20;

/// A table fitted to the terminal (or `opts.width`), unconstrained when not printed to
/// a terminal, and [`FALLBACK_WIDTH`] wide on a terminal that reports no size.
pub(crate) fn new_table(opts: &RenderOptions) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = opts.width {
        t.set_width(w);
    }
    if opts.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    if let Some(w) = fallback_width(opts.width.is_some() || !t.is_tty(), t.width()) {
        t.set_width(w);
    }
    t
}

/// The width to impose when the table would follow a terminal (`fixed_or_piped` false)
/// whose reported width is missing or too small to be real.
fn fallback_width(fixed_or_piped: bool, reported: Option<u16>) -> Option<u16> {
    match reported {
        _ if fixed_or_piped => None,
        Some(w) if w >= MIN_TERMINAL_WIDTH => None,
        _ => Some(FALLBACK_WIDTH),
    }
}

fn action_color(a: Action) -> Color {
    match a {
        Action::CreateUser | Action::UnblockUser => Color::Green,
        Action::UpdateRoles | Action::UpdateEmail | Action::UpdateProfile => Color::Yellow,
        Action::AdoptUser => Color::Cyan,
        Action::BlockUser | Action::DeleteUser => Color::Red,
    }
}

fn cell(text: impl ToString, color: Option<Color>, opts: &RenderOptions) -> Cell {
    let c = Cell::new(text);
    match (opts.color, color) {
        (true, Some(col)) => c.fg(col),
        _ => c,
    }
}

fn paint(text: &str, color: Color, opts: &RenderOptions) -> String {
    if !opts.color {
        return text.to_owned();
    }
    let code = match color {
        Color::Green => 32,
        Color::Red => 31,
        Color::Yellow => 33,
        _ => 0,
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// What the change does: `+admin -viewer` for roles, the address, key or fields for
/// the others.
fn change_cell(c: &Change) -> String {
    let a = c.after.clone().unwrap_or_default();
    match c.action {
        // The email column has the new address, "Email changes" below the old one: a
        // long cell would not fit a 100-column terminal (coloured cells do not wrap).
        Action::UpdateEmail => "new address".to_owned(),
        Action::AdoptUser => format!("HR key {}", a.key.as_deref().unwrap_or("")),
        Action::UpdateProfile => format!("{} field(s)", a.fields.len()),
        _ => roles_cell(c),
    }
}

/// `"Ann"`, `unset`, or the JSON of another value.
pub(crate) fn field_value(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "unset".into(),
        Some(serde_json::Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

/// `+admin -viewer`, or what a create/delete does with roles.
fn roles_cell(c: &Change) -> String {
    let mut parts: Vec<String> = c.assign().iter().map(|r| format!("+{r}")).collect();
    parts.extend(c.remove().iter().map(|r| format!("-{r}")));
    if c.action == Action::DeleteUser {
        parts.extend(c.before.iter().flat_map(|b| b.roles.iter()).map(|r| format!("-{r}")));
    }
    if parts.is_empty() { "(no roles)".to_owned() } else { parts.join(" ") }
}

/// The review table: header, changes grouped by action, role diffs, warnings, summary.
pub fn plan_table(plan: &Plan, out: &mut impl Write, opts: &RenderOptions) -> io::Result<()> {
    let cs = &plan.changeset;
    writeln!(
        out,
        "Plan for tenant {} (connection {}), source {} {} ({} rows, {} users), made {}",
        plan.tenant,
        plan.connection,
        plan.source.kind,
        plan.source.location,
        plan.source.rows,
        plan.source.users,
        plan.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
    )?;
    if let Some(t) = plan.targets() {
        let names: Vec<_> = t.iter().map(|e| crate::redact::email(e, opts.redact)).collect();
        writeln!(
            out,
            "{} only {} target(s), everyone else left as is: {}",
            paint("Partial plan (--only):", Color::Yellow, opts),
            t.len(),
            names.join(", ")
        )?;
    }
    writeln!(out, "Signature: {}", signature_note(plan))?;
    for note in super::leaver_notes(plan) {
        writeln!(out, "{note}")?;
    }
    if !cs.changes.is_empty() {
        let mut t = new_table(opts);
        t.set_header(vec![
            Cell::new("#").add_attribute(Attribute::Bold),
            Cell::new("action").add_attribute(Attribute::Bold),
            Cell::new("email").add_attribute(Attribute::Bold),
            Cell::new("user id").add_attribute(Attribute::Bold),
            Cell::new("change").add_attribute(Attribute::Bold),
        ]);
        for action in Action::ALL {
            for c in cs.changes.iter().filter(|c| c.action == action) {
                let color = Some(action_color(action));
                t.add_row(vec![
                    cell(c.id, None, opts),
                    cell(action.label(), color, opts),
                    cell(crate::redact::email(&c.user.email, opts.redact), None, opts),
                    cell(c.user.user_id.as_deref().unwrap_or("(new)"), None, opts),
                    cell(change_cell(c), color, opts),
                ]);
            }
        }
        writeln!(out, "{t}")?;
    }
    let updates: Vec<&Change> = cs.changes.iter().filter(|c| c.action == Action::UpdateRoles).collect();
    if !updates.is_empty() {
        writeln!(out, "\nRole changes:")?;
        for c in updates {
            writeln!(out, "  {}", crate::redact::email(&c.user.email, opts.redact))?;
            role_diff(c, out, opts)?;
        }
    }
    let renames: Vec<&Change> = cs.changes.iter().filter(|c| c.action == Action::UpdateEmail).collect();
    if !renames.is_empty() {
        writeln!(
            out,
            "\nEmail changes (same user, roles and history; Auth0 marks each new address unverified and mails it a verification link):"
        )?;
        for c in renames {
            let b = c.before.clone().unwrap_or_default();
            let old = b
                .email
                .as_deref()
                .map_or_else(|| "(no email)".to_owned(), |e| crate::redact::email(e, opts.redact).into_owned());
            writeln!(
                out,
                "  HR key {}: {old} → {}",
                b.key.as_deref().unwrap_or(""),
                crate::redact::email(&c.user.email, opts.redact)
            )?;
        }
    }
    let profiles: Vec<&Change> = cs.changes.iter().filter(|c| c.action == Action::UpdateProfile).collect();
    if !profiles.is_empty() {
        writeln!(out, "\nField changes:")?;
        for c in profiles {
            writeln!(out, "  {}", crate::redact::email(&c.user.email, opts.redact))?;
            let (b, a) = (c.before.clone().unwrap_or_default(), c.after.clone().unwrap_or_default());
            for (f, v) in &a.fields {
                writeln!(
                    out,
                    "    {f}: {} → {}",
                    paint(&field_value(b.fields.get(f)), Color::Red, opts),
                    paint(&field_value(Some(v)), Color::Green, opts)
                )?;
            }
        }
    }
    if !cs.ignored_users.is_empty() {
        let names: Vec<_> = cs.ignored_users.iter().map(|e| crate::redact::email(e, opts.redact)).collect();
        writeln!(out, "\nIgnored (CLIENT_IGNORE_USERS, not in the source, kept): {}", names.join(", "))?;
    }
    if !cs.create_roles.is_empty() {
        writeln!(out, "\nRoles to create first: {}", cs.create_roles.join(", "))?;
    }
    if !cs.warnings.is_empty() {
        writeln!(out, "\nWarnings ({}):", cs.warnings.len())?;
        for w in &cs.warnings {
            let at = match (w.row, &w.email) {
                (Some(r), Some(e)) if !w.message.contains(e.as_str()) => {
                    format!("row {r} ({}): ", crate::redact::email(e, opts.redact))
                }
                (Some(r), _) => format!("row {r}: "),
                _ => String::new(),
            };
            let msg = crate::redact::text(&w.message, w.email.as_deref(), opts.redact);
            writeln!(out, "  {} {at}{msg}", paint("!", Color::Yellow, opts))?;
        }
    }
    let mut t = new_table(opts);
    t.set_header(vec![
        Cell::new("summary").add_attribute(Attribute::Bold),
        Cell::new("count").add_attribute(Attribute::Bold),
    ]);
    for (label, n) in summary_rows(&cs.summary) {
        t.add_row(vec![cell(label, None, opts), cell(n, None, opts)]);
    }
    writeln!(out, "\n{t}")?;
    writeln!(out, "\n{}", plan_summary_line(plan))
}

/// A unified diff of the sorted role names before and after.
fn role_diff(c: &Change, out: &mut impl Write, opts: &RenderOptions) -> io::Result<()> {
    let join = |s: &Option<crate::plan::UserState>| -> String {
        s.iter().flat_map(|s| s.roles.iter()).map(|r| format!("{r}\n")).collect()
    };
    let (old, new) = (join(&c.before), join(&c.after));
    let diff = similar::TextDiff::from_lines(&old, &new);
    for change in diff.iter_all_changes() {
        let text = change.value().trim_end();
        let line = match change.tag() {
            similar::ChangeTag::Delete => paint(&format!("- {text}"), Color::Red, opts),
            similar::ChangeTag::Insert => paint(&format!("+ {text}"), Color::Green, opts),
            similar::ChangeTag::Equal => format!("  {text}"),
        };
        writeln!(out, "    {line}")?;
    }
    Ok(())
}

/// What apply did: a row per change that needs a reader's eye (adopted, partly done,
/// failed, skipped), the count of every outcome, and the summary line.
pub fn apply_report(report: &ApplyReport, out: &mut impl Write, opts: &RenderOptions) -> io::Result<()> {
    let notable = |s: OutcomeStatus| {
        matches!(s, OutcomeStatus::Adopted | OutcomeStatus::PartlyDone | OutcomeStatus::Failed | OutcomeStatus::Skipped)
    };
    let rows: Vec<_> = report.outcomes.iter().filter(|o| notable(o.status)).collect();
    if !rows.is_empty() {
        let mut t = new_table(opts);
        t.set_header(vec!["#", "action", "email", "outcome", "detail", "status", "errorCode", "message"]);
        for o in rows {
            let color = Some(match o.status {
                OutcomeStatus::Failed => Color::Red,
                OutcomeStatus::Adopted => Color::Cyan,
                _ => Color::Yellow,
            });
            let err = o.error.as_ref();
            t.add_row(vec![
                cell(o.change_id, None, opts),
                cell(o.action.label(), None, opts),
                cell(crate::redact::email(&o.email, opts.redact), None, opts),
                cell(o.status.label(), color, opts),
                cell(crate::redact::text(o.detail.as_deref().unwrap_or(""), None, opts.redact), None, opts),
                cell(err.and_then(|e| e.status).map(|s| s.to_string()).unwrap_or_default(), None, opts),
                cell(err.and_then(|e| e.error_code.clone()).unwrap_or_default(), None, opts),
                cell(err.map(|e| crate::redact::text(&e.message, None, opts.redact)).unwrap_or_default(), None, opts),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    if !report.roles_created.is_empty() {
        writeln!(out, "Roles created: {}", report.roles_created.join(", "))?;
    }
    let earlier =
        report.outcomes.iter().filter(|o| o.detail.as_deref() == Some(crate::apply::report::EARLIER_RUN)).count();
    if earlier > 0 {
        writeln!(out, "{earlier} change(s) were already done by an earlier run of this plan (see its journal).")?;
    }
    let mut t = new_table(opts);
    t.set_header(vec!["outcome", "changes"]);
    for s in OutcomeStatus::ALL {
        t.add_row(vec![cell(s.label(), None, opts), cell(report.count(s), None, opts)]);
    }
    t.add_row(vec![cell("requests sent", None, opts), cell(report.summary.sent, None, opts)]);
    writeln!(out, "{t}")?;
    let made = |a: Action| {
        report
            .outcomes
            .iter()
            .filter(|o| o.action == a && matches!(o.status, OutcomeStatus::Done | OutcomeStatus::Adopted))
            .count()
    };
    writeln!(
        out,
        "Made by this run: {} created, {} unblocked, {} updated, {} blocked, {} deleted.",
        made(Action::CreateUser),
        made(Action::UnblockUser),
        made(Action::UpdateRoles),
        made(Action::BlockUser),
        made(Action::DeleteUser)
    )?;
    let (renamed, adopted, profiles) =
        (made(Action::UpdateEmail), made(Action::AdoptUser), made(Action::UpdateProfile));
    if renamed + adopted + profiles > 0 {
        writeln!(
            out,
            "Keys and profiles: {renamed} email(s) changed, {adopted} adopted, {profiles} profile(s) updated."
        )?;
    }
    writeln!(out, "Apply: {}.", report.summary.line())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_without_a_size_gets_the_fallback_width() {
        assert_eq!(fallback_width(false, Some(0)), Some(FALLBACK_WIDTH));
        assert_eq!(fallback_width(false, None), Some(FALLBACK_WIDTH));
        assert_eq!(fallback_width(false, Some(132)), None);
        assert_eq!(fallback_width(true, Some(0)), None, "piped or fixed width: unchanged");
    }
}
