//! A Markdown summary of a plan, fit for a pull-request comment.

use super::summary_line;
use crate::plan::{Action, Plan};
use std::io::{self, Write};

pub fn plan_markdown(plan: &Plan, out: &mut impl Write, redact: bool) -> io::Result<()> {
    let cs = &plan.changeset;
    let s = &cs.summary;
    writeln!(out, "### auth0-sync plan for `{}` (connection `{}`)\n", plan.tenant, plan.connection)?;
    if s.delete_user > 0 {
        writeln!(out, "> [!WARNING]\n> This plan **deletes {} user(s)**. Deletion cannot be undone.\n", s.delete_user)?;
    }
    writeln!(out, "| action | users |\n|---|---:|")?;
    for a in Action::ALL {
        writeln!(out, "| {} | {} |", a.label(), s.count(a))?;
    }
    writeln!(out, "| roles assigned | {} |\n| roles removed | {} |", s.roles_assigned, s.roles_removed)?;
    writeln!(out, "| unchanged | {} |\n| ignored | {} |\n", s.unchanged, s.ignored)?;
    writeln!(out, "{}\n", summary_line(s))?;
    if !cs.changes.is_empty() {
        writeln!(out, "<details><summary>{} change(s)</summary>\n", cs.changes.len())?;
        for c in &cs.changes {
            let mut roles: Vec<String> = c.assign().iter().map(|r| format!("+{r}")).collect();
            roles.extend(c.remove().iter().map(|r| format!("-{r}")));
            let roles = if roles.is_empty() { String::new() } else { format!(" ({})", roles.join(" ")) };
            writeln!(
                out,
                "- {} `{}`{roles}",
                c.action.label(),
                md_escape(&crate::redact::email(&c.user.email, redact))
            )?;
        }
        writeln!(out, "\n</details>\n")?;
    }
    if !cs.ignored_users.is_empty() {
        let names: Vec<_> =
            cs.ignored_users.iter().map(|e| format!("`{}`", md_escape(&crate::redact::email(e, redact)))).collect();
        writeln!(out, "Ignored (kept although not in the source): {}\n", names.join(", "))?;
    }
    if !cs.create_roles.is_empty() {
        writeln!(out, "Roles to create first: {}\n", cs.create_roles.join(", "))?;
    }
    if !cs.warnings.is_empty() {
        writeln!(out, "**{} warning(s)** in the source:\n", cs.warnings.len())?;
        for w in &cs.warnings {
            let at = w.row.map(|r| format!("row {r}: ")).unwrap_or_default();
            writeln!(out, "- {at}{}", md_escape(&crate::redact::text(&w.message, w.email.as_deref(), redact)))?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "<sub>format {} · checksum `{}` · tenant fingerprint `{}` · made {}</sub>",
        plan.format_version,
        plan.checksum,
        plan.tenant_fingerprint,
        plan.created_at.to_rfc3339()
    )
}

fn md_escape(s: &str) -> String {
    s.replace('`', "'").replace('<', "&lt;").replace('>', "&gt;")
}
