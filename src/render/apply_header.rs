//! What `apply` says around its writes: before the first one, the target and what will
//! be done (or that there is nothing to do) and where the journal goes; at the end,
//! the journal again, so an operator knows where the record of the run is.

use super::RenderOptions;
use crate::plan::Plan;
use std::io::{self, Write};
use std::path::Path;

/// Before the first write: `Applying PLAN to tenant T, connection C:` and the counts
/// per action (`4 to create, 2 to update roles, 2 to delete (8 changes).`), then the
/// journal path; for a plan without changes, that there is nothing to apply.
pub fn apply_header(
    plan: &Plan,
    plan_path: &Path,
    journal: &Path,
    out: &mut dyn Write,
    opts: &RenderOptions,
) -> io::Result<()> {
    let s = &plan.changeset.summary;
    let target = format!("tenant {}, connection {}", plan.tenant, plan.connection);
    if plan.changeset.changes.is_empty() && plan.changeset.create_roles.is_empty() {
        return writeln!(
            out,
            "Nothing to apply: {} has no changes ({target}); the tenant matched the source when it was planned.",
            plan_path.display()
        );
    }
    let counts: Vec<String> = [
        (s.create_role, "role(s) to create first", 32),
        (s.create_user, "to create", 32),
        (s.unblock_user, "to unblock", 32),
        (s.update_roles, "to update roles", 33),
        (s.block_user, "to block", 31),
        (s.delete_user, "to delete", 31),
        (s.update_email, "email(s) to change", 33),
        (s.adopt_user, "to adopt", 36),
        (s.update_profile, "profile(s) to update", 33),
    ]
    .into_iter()
    .filter(|(n, _, _)| *n > 0)
    .map(|(n, what, color)| paint(&format!("{n} {what}"), color, opts))
    .collect();
    let changes = plan.changeset.changes.len();
    writeln!(
        out,
        "Applying {} to {target}:\n  {} ({changes} change{}).",
        plan_path.display(),
        counts.join(", "),
        if changes == 1 { "" } else { "s" }
    )?;
    writeln!(out, "Journal: {} (run the same apply again to resume after an interruption).", journal.display())
}

/// After the report: where the journal of this run is.
pub fn apply_footer(journal: &Path, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "Journal of this run: {}", journal.display())
}

/// Writes a header or footer where it belongs: stdout next to the table report, stderr
/// when stdout carries JSON (`apply --format json`). A closed stdout pipe is not an error.
/// `opts`: for stdout and for stderr.
pub fn print_note(
    json: bool,
    opts: (&RenderOptions, &RenderOptions),
    write: impl FnOnce(&mut dyn Write, &RenderOptions) -> io::Result<()>,
) -> io::Result<()> {
    let r = if json {
        let mut err = io::stderr().lock();
        write(&mut err, opts.1)
    } else {
        let mut out = io::stdout().lock();
        write(&mut out, opts.0).and_then(|_| out.flush())
    };
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn paint(text: &str, code: u8, opts: &RenderOptions) -> String {
    if opts.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
}
