//! What every verb prints through: plans to stdout in the chosen format, a closed
//! pipe taken as success, the exit code for "changes", and the help footer of verbs
//! with rarely changed settings.

use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::render::{self, Format, RenderOptions};
use std::io::Write;
use std::path::Path;

/// Exit code of `plan --detailed-exitcode` when the plan has changes.
pub const EXIT_CHANGES: u8 = 2;

/// Said under the help of verbs whose rarely used settings `--help` leaves out.
pub const MORE_SETTINGS: &str = "Rarely changed settings (SQL Server port, instance, TLS and connection string; rate limit and burst, retries, backoff; concurrency, batch sizes) are not listed here: `auth0-sync man VERB` and the README's settings table describe every one.";

/// Prints a plan to stdout in `format` (a closed pipe ends it quietly).
pub fn print_plan(plan: &Plan, format: Format) -> Result<()> {
    print_plan_with(plan, format, &render::MarkdownOptions::default())
}

/// [`print_plan`] with markdown's budget and the plan's path (for "show PLAN has it all").
pub fn print_plan_with(plan: &Plan, format: Format, md: &render::MarkdownOptions) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let written = match format {
        Format::Table => render::plan_table(plan, &mut out, &RenderOptions::for_stdout()),
        Format::Json => render::plan_json(plan, &mut out, crate::redact::enabled()),
        Format::Markdown => {
            let md = render::MarkdownOptions { redact: crate::redact::enabled(), ..md.clone() };
            render::plan_markdown(plan, &mut out, &md)
        }
    };
    quiet_broken_pipe(written.and_then(|_| out.flush())).map_err(stdout_err)
}

/// A reader that went away (`auth0-sync show plan.json | head`) ends the output, not
/// the command: a closed pipe is success.
pub(crate) fn quiet_broken_pipe(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

pub(crate) fn stdout_err(e: std::io::Error) -> Error {
    Error::io("write to", Path::new("stdout"), e)
}
