//! A Markdown summary of a plan for a pull-request comment, that always fits a
//! character budget (GitHub refuses comment bodies over 65,536 characters).
//!
//! What goes in, in this order, each part only as far as the budget lets it: a
//! hidden marker line (so a CI job can update its comment in place), the summary
//! table, the summary line and the warnings about the plan itself; then source
//! warnings (at most a tenth of the budget); then every deletion and block in full;
//! then email changes; role changes grouped per role (`+admin`: 12 user(s), each list
//! cut with a count); profile and metadata changes (field by field); adoptions;
//! unblocks; creations; ignored users; and last a line saying what was left
//! out and that `auth0-sync show PLAN` has it all. If the deletions and blocks alone
//! do not fit, the comment says so plainly at the top and at the end, with how many
//! are not listed: nothing is dropped silently, and the budget is never exceeded.

use super::{plan_summary_line, signature_note, summary_rows};
use crate::plan::{Action, Change, Plan};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// First characters of the marker line: `<!-- auth0-sync:plan tenant=… connection=… -->`.
pub const MARKER_PREFIX: &str = "<!-- auth0-sync:plan";

/// How to render the markdown summary.
#[derive(Debug, Clone)]
pub struct MarkdownOptions {
    /// Mask emails (`--redact`).
    pub redact: bool,
    /// Most characters (Unicode scalar values) of the whole output (`--max-chars`).
    pub max_chars: usize,
    /// The plan file, named in "`auth0-sync show PLAN` has it all".
    pub plan_path: Option<String>,
}

impl MarkdownOptions {
    /// 60,000: under GitHub's 65,536 with room for a workflow's own lines.
    pub const DEFAULT_MAX_CHARS: usize = 60_000;
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions { redact: false, max_chars: Self::DEFAULT_MAX_CHARS, plan_path: None }
    }
}

pub fn plan_markdown(plan: &Plan, out: &mut impl Write, opts: &MarkdownOptions) -> io::Result<()> {
    out.write_all(render(plan, opts).as_bytes())
}

/// Room kept for the closing lines (what was left out, the plan's identity).
const FOOTER_RESERVE: usize = 1_200;
/// Room kept at the top for the notice that deletions or blocks did not all fit.
const NOTICE_RESERVE: usize = 400;

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Text built within a character budget.
struct Part {
    text: String,
    left: usize,
}

impl Part {
    fn new(budget: usize) -> Self {
        Part { text: String::new(), left: budget }
    }
    /// Appends `line` and a newline if it fits, keeping `keep` characters free.
    fn try_line(&mut self, line: &str, keep: usize) -> bool {
        let n = chars(line) + 1;
        if n + keep > self.left {
            return false;
        }
        self.text.push_str(line);
        self.text.push('\n');
        self.left -= n;
        true
    }
    /// Appends a line the budget was reserved for.
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        self.left = self.left.saturating_sub(chars(line) + 1);
    }
}

/// Room for a "… and 123,456 more …" line.
const MORE_RESERVE: usize = 120;

/// A heading and as many `items` as fit in `budget`, then "… and N more {noun}" when
/// some did not. Returns the text and how many items were left out.
fn list(heading: &str, items: &[String], budget: usize, noun: &str) -> (String, usize) {
    if items.is_empty() {
        return (String::new(), 0);
    }
    let mut p = Part::new(budget);
    if !p.try_line(heading, MORE_RESERVE) {
        return (String::new(), items.len());
    }
    let mut shown = 0;
    for item in items {
        let keep = if shown + 1 < items.len() { MORE_RESERVE } else { 1 };
        if !p.try_line(item, keep) {
            break;
        }
        shown += 1;
    }
    let missing = items.len() - shown;
    if missing > 0 {
        p.line(&format!("- … and {missing} more {noun} (see `auth0-sync show`)"));
    }
    p.line("");
    (p.text, missing)
}

/// `given_name "Ann" → "Anne"; app_metadata.team unset → "Blue"`.
fn field_diffs(c: &Change) -> String {
    let (b, a) = (c.before.clone().unwrap_or_default(), c.after.clone().unwrap_or_default());
    a.fields
        .iter()
        .map(|(f, v)| {
            format!(
                "{} {} → {}",
                md_escape(f),
                md_escape(&super::table::field_value(b.fields.get(f))),
                md_escape(&super::table::field_value(Some(v)))
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn md_escape(s: &str) -> String {
    s.replace('`', "'").replace('<', "&lt;").replace('>', "&gt;")
}

fn email(c: &Change, redact: bool) -> String {
    format!("`{}`", md_escape(&crate::redact::email(&c.user.email, redact)))
}

fn roles_of(c: &Change, before: bool) -> String {
    let s = if before { &c.before } else { &c.after };
    let names: Vec<&str> = s.iter().flat_map(|s| s.roles.iter().map(String::as_str)).collect();
    if names.is_empty() { "no roles".to_owned() } else { names.join(", ") }
}

/// Role changes grouped per role: `+admin` → emails, `-viewer` → emails.
fn role_groups(plan: &Plan, redact: bool) -> Vec<(String, Vec<String>)> {
    let mut groups: BTreeMap<(String, u8), Vec<String>> = BTreeMap::new();
    for c in plan.changeset.changes.iter().filter(|c| c.action == Action::UpdateRoles) {
        for r in c.assign() {
            groups.entry((r.to_owned(), 0)).or_default().push(email(c, redact));
        }
        for r in c.remove() {
            groups.entry((r.to_owned(), 1)).or_default().push(email(c, redact));
        }
    }
    groups
        .into_iter()
        .map(|((r, sign), v)| (format!("{}{}", if sign == 0 { '+' } else { '-' }, md_escape(&r)), v))
        .collect()
}

fn group_line(label: &str, emails: &[String], k: usize) -> String {
    let n = emails.len();
    let mut line = format!("- **{label}**: {n} user(s)");
    if k > 0 {
        let shown: Vec<&str> = emails.iter().take(k).map(String::as_str).collect();
        line.push_str(": ");
        line.push_str(&shown.join(", "));
        if n > k {
            line.push_str(&format!(", and {} more", n - k));
        }
    }
    line
}

/// The role-change section within `budget`: every group with as many emails each as
/// fit (the same number for every group); groups that do not fit even as a count are
/// counted at the end. Returns the text and how many emails were left out.
fn role_section(groups: &[(String, Vec<String>)], users: u32, budget: usize) -> (String, usize) {
    if groups.is_empty() {
        return (String::new(), 0);
    }
    let total: usize = groups.iter().map(|(_, v)| v.len()).sum();
    let heading = format!("#### Role changes ({users} user(s), grouped per role)\n\n");
    let size = |k: usize| -> usize {
        chars(&heading) + groups.iter().map(|(l, v)| chars(&group_line(l, v, k)) + 1).sum::<usize>() + 1
    };
    let longest = groups.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    if size(0) <= budget {
        // The largest k that fits (size grows with k).
        let (mut lo, mut hi) = (0, longest);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if size(mid) <= budget { lo = mid } else { hi = mid - 1 }
        }
        let mut text = heading;
        for (l, v) in groups {
            text.push_str(&group_line(l, v, lo));
            text.push('\n');
        }
        text.push('\n');
        let shown: usize = groups.iter().map(|(_, v)| v.len().min(lo)).sum();
        return (text, total - shown);
    }
    // Not even one line per group: as many groups as fit, then a count.
    let mut p = Part::new(budget);
    if !p.try_line(heading.trim_end(), MORE_RESERVE) {
        return (String::new(), total);
    }
    let mut shown_groups = 0;
    for (l, v) in groups {
        if !p.try_line(&group_line(l, v, 0), MORE_RESERVE) {
            break;
        }
        shown_groups += 1;
    }
    p.line(&format!("- … and {} more role group(s) (see `auth0-sync show`)", groups.len() - shown_groups));
    p.line("");
    (p.text, total)
}

fn render(plan: &Plan, opts: &MarkdownOptions) -> String {
    let cs = &plan.changeset;
    let s = &cs.summary;
    let redact = opts.redact;
    let show_cmd = match &opts.plan_path {
        Some(p) => format!("`auth0-sync show {}`", md_escape(p)),
        None => "`auth0-sync show PLAN`".to_owned(),
    };

    // The head: always whole.
    let mut head = String::new();
    let safe = |t: &str| t.replace("--", "-\u{2010}").replace('>', "&gt;");
    head.push_str(&format!(
        "{MARKER_PREFIX} tenant={} connection={} -->\n",
        safe(&plan.tenant),
        safe(&plan.connection)
    ));
    head.push_str(&format!("### auth0-sync plan for `{}` (connection `{}`)\n\n", plan.tenant, plan.connection));
    if let Some(t) = plan.targets() {
        let names: Vec<String> =
            t.iter().take(20).map(|e| format!("`{}`", md_escape(&crate::redact::email(e, redact)))).collect();
        let more = if t.len() > 20 { format!(" and {} more", t.len() - 20) } else { String::new() };
        head.push_str(&format!(
            "> [!NOTE]\n> **Partial plan** (`--only`): it considers only these {} user(s): {}{more}. Everyone else is left as is.\n\n",
            t.len(),
            names.join(", ")
        ));
    }
    for note in super::leaver_notes(plan) {
        head.push_str(&format!("> [!NOTE]\n> {}\n\n", md_escape(&note)));
    }
    if s.delete_user > 0 {
        head.push_str(&format!(
            "> [!WARNING]\n> This plan **deletes {} user(s)**. Deletion cannot be undone.\n\n",
            s.delete_user
        ));
    }
    head.push_str("| change | count |\n|---|---:|\n");
    for (label, n) in summary_rows(s) {
        head.push_str(&format!("| {label} | {n} |\n"));
    }
    head.push('\n');
    head.push_str(&plan_summary_line(plan));
    head.push_str("\n\n");
    if !cs.create_roles.is_empty() {
        let roles: Vec<String> = cs.create_roles.iter().map(|r| format!("`{}`", md_escape(r))).collect();
        head.push_str(&format!("Roles to create first: {}\n\n", roles.join(", ")));
    }

    let mut left = opts.max_chars.saturating_sub(chars(&head) + FOOTER_RESERVE + NOTICE_RESERVE);
    let mut omitted: Vec<String> = Vec::new();
    let mut sections = String::new();
    let mut add = |text: String, left: &mut usize| {
        *left = left.saturating_sub(chars(&text));
        sections.push_str(&text);
    };

    // Source warnings: at most a tenth of the budget, so they never crowd out deletions.
    let warnings: Vec<String> = cs
        .warnings
        .iter()
        .map(|w| {
            let at = w.row.map(|r| format!("row {r}: ")).unwrap_or_default();
            format!("- {at}{}", md_escape(&crate::redact::text(&w.message, w.email.as_deref(), redact)))
        })
        .collect();
    let (text, missing) = list(
        &format!("**{} warning(s)** in the source:\n", warnings.len()),
        &warnings,
        left.min(opts.max_chars / 10),
        "warning(s)",
    );
    add(text, &mut left);
    if missing > 0 {
        omitted.push(format!("{missing} warning(s)"));
    }

    // Deletions and blocks: in full, first.
    let mut removals_missing = 0;
    for (action, title) in [(Action::DeleteUser, "Deletions"), (Action::BlockUser, "Blocks")] {
        let items: Vec<String> = cs
            .changes
            .iter()
            .filter(|c| c.action == action)
            .map(|c| format!("- {} (roles: {})", email(c, redact), roles_of(c, true)))
            .collect();
        let (text, missing) = list(&format!("#### {title} ({})\n", items.len()), &items, left, "user(s)");
        add(text, &mut left);
        if missing > 0 {
            removals_missing += missing;
            omitted.push(format!("{missing} {}", title.to_lowercase()));
        }
    }

    // Renames next, in full where they fit: a reviewer checks every address a person
    // signs in with.
    let renames: Vec<String> = cs
        .changes
        .iter()
        .filter(|c| c.action == Action::UpdateEmail)
        .map(|c| {
            let b = c.before.clone().unwrap_or_default();
            let old = b.email.as_deref().map_or_else(
                || "(no email)".to_owned(),
                |e| format!("`{}`", md_escape(&crate::redact::email(e, redact))),
            );
            format!("- {old} → {} (HR key `{}`)", email(c, redact), md_escape(b.key.as_deref().unwrap_or("")))
        })
        .collect();
    let (text, missing) = list(
        &format!(
            "#### Email changes ({}): same user, roles and history; Auth0 marks each new address unverified and mails it a verification link\n",
            renames.len()
        ),
        &renames,
        left,
        "email change(s)",
    );
    add(text, &mut left);
    if missing > 0 {
        omitted.push(format!("{missing} email change(s)"));
    }

    let later: Vec<(&str, &str, Vec<String>)> = [
        (Action::UpdateProfile, "Profile and metadata changes", "profile change(s)"),
        (Action::AdoptUser, "Adoptions (HR key written on users found by email)", "adoption(s)"),
        (Action::UnblockUser, "Unblocks", "unblock(s)"),
        (Action::CreateUser, "Creations", "creation(s)"),
    ]
    .into_iter()
    .map(|(action, title, noun)| {
        let items = cs
            .changes
            .iter()
            .filter(|c| c.action == action)
            .map(|c| match action {
                Action::CreateUser => format!("- {} (roles: {})", email(c, redact), roles_of(c, false)),
                Action::AdoptUser => format!(
                    "- {} gets HR key `{}`",
                    email(c, redact),
                    md_escape(c.after.as_ref().and_then(|a| a.key.as_deref()).unwrap_or(""))
                ),
                Action::UpdateProfile => format!("- {}: {}", email(c, redact), field_diffs(c)),
                _ => format!("- {}", email(c, redact)),
            })
            .collect();
        (title, noun, items)
    })
    .collect();

    // Role changes come first, but leave unblocks and creations up to a third of what
    // is left, so that a long role list does not hide every creation.
    let later_size: usize = later.iter().flat_map(|(_, _, items)| items.iter().map(|i| chars(i) + 1)).sum();
    let groups = role_groups(plan, redact);
    let (text, missing) = role_section(&groups, s.update_roles, left - later_size.min(left / 3));
    add(text, &mut left);
    if missing > 0 {
        omitted.push(format!("{missing} role-change entr{}", if missing == 1 { "y" } else { "ies" }));
    }

    for (title, noun, items) in &later {
        let (text, missing) = list(&format!("#### {title} ({})\n", items.len()), items, left, noun);
        add(text, &mut left);
        if missing > 0 {
            omitted.push(format!("{missing} {noun}"));
        }
    }

    let ignored: Vec<String> =
        cs.ignored_users.iter().map(|e| format!("- `{}`", md_escape(&crate::redact::email(e, redact)))).collect();
    let (text, missing) = list(
        &format!("#### Ignored: kept although not in the source ({})\n", ignored.len()),
        &ignored,
        left,
        "ignored user(s)",
    );
    add(text, &mut left);
    if missing > 0 {
        omitted.push(format!("{missing} ignored user(s)"));
    }

    // Assemble: head, the notice if deletions or blocks did not all fit, the sections, the footer.
    let mut doc = head;
    if removals_missing > 0 {
        doc.push_str(&format!(
            "> [!CAUTION]\n> This plan deletes or blocks {} user(s); {removals_missing} of them are **not listed here**: they do not fit in {} characters. Review every one with {show_cmd} before approving.\n\n",
            s.delete_user + s.block_user,
            opts.max_chars
        ));
    }
    doc.push_str(&sections);
    if !omitted.is_empty() {
        doc.push_str(&format!(
            "**Left out to fit {} characters:** {}. {show_cmd} has it all.\n\n",
            opts.max_chars,
            omitted.join(", ")
        ));
    }
    doc.push_str(&format!(
        "<sub>format {} · {} · checksum `{}` · tenant fingerprint `{}` · made {}</sub>\n",
        plan.format_version,
        signature_note(plan),
        plan.checksum,
        plan.tenant_fingerprint,
        plan.created_at.to_rfc3339()
    ));
    doc
}
