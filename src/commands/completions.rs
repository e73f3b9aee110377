//! `auth0-sync completions SHELL` and `auth0-sync man [VERB]`: what shells and `man`
//! expect of a command-line tool, generated from the same clap definition as `--help`
//! (clap_complete, clap_mangen), so they never disagree with it.

use crate::error::Result;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for, e.g. `source <(auth0-sync completions bash)`.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// The verbs that have a page of their own (`auth0-sync-plan(1)`, ...).
pub const VERBS: &[&str] =
    &["plan", "show", "apply", "invite", "check", "emulator", "demo", "keygen", "completions", "man"];

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The verb whose page to print (default: the page of auth0-sync itself, which lists the verbs).
    #[arg(value_name = "VERB", value_parser = clap::builder::PossibleValuesParser::new(VERBS))]
    pub verb: Option<String>,
}

pub fn completions(args: &CompletionsArgs, mut app: clap::Command) -> Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut app, "auth0-sync", &mut script);
    write_stdout(&script)
}

pub fn man(args: &ManArgs, app: clap::Command) -> Result<ExitCode> {
    let mut page = Vec::new();
    man_page(app, args.verb.as_deref(), &mut page).map_err(super::output::stdout_err)?;
    write_stdout(&page)
}

/// The roff page of `auth0-sync` (`verb` None) or of `auth0-sync VERB`.
pub fn man_page(mut cmd: clap::Command, verb: Option<&str>, out: &mut impl Write) -> std::io::Result<()> {
    // Propagates the global flags into each verb, as `--help` shows them.
    cmd.build();
    let page = match verb {
        None => cmd,
        Some(v) => {
            let sub = cmd.find_subcommand(v).ok_or_else(|| std::io::Error::other(format!("no verb {v:?}")))?;
            // clap names are 'static; this runs once in a process that then exits.
            let name: &'static str = Box::leak(format!("auth0-sync-{v}").into_boxed_str());
            sub.clone().name(name).bin_name(format!("auth0-sync {v}")).display_name(name)
        }
    };
    clap_mangen::Man::new(page).render(out)
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    super::output::quiet_broken_pipe(out.write_all(bytes).and_then(|_| out.flush()))
        .map_err(super::output::stdout_err)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_has_a_page() {
        use clap::CommandFactory;
        let names: Vec<String> = crate::cli::Cli::command()
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .filter(|n| n != "help")
            .collect();
        assert_eq!(names, VERBS);
        for v in VERBS {
            let mut page = Vec::new();
            man_page(crate::cli::Cli::command(), Some(v), &mut page).unwrap();
            let page = String::from_utf8(page).unwrap();
            assert!(page.starts_with(".ie") || page.contains(".TH"), "{v}: {page}");
            assert!(page.contains(&format!("auth0-sync-{v}")), "{v}");
        }
    }
}
