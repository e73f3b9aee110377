//! The process around the verbs: the dotenv file, argument parsing, the diagnostic
//! handler, how the final error is printed (a report, or a JSON event with
//! `--log-format json`), and exit codes.

use crate::cli::Cli;
use crate::commands::Command;
use crate::error::Error;
use crate::logging::LogFormat;
use crate::settings::{SettingsError, env_file};
use miette::{GraphicalReportHandler, GraphicalTheme, MietteHandlerOpts};
use std::ffi::OsString;
use std::process::ExitCode;
use textwrap::{WordSeparator, WordSplitter};

/// Process entry point: load the dotenv file, parse, run, map to an exit code
/// (0 ok, 1 error, 2 changes with `plan --detailed-exitcode`).
pub fn main() -> ExitCode {
    use clap::Parser;
    install_diagnostic_hook();
    let args: Vec<OsString> = std::env::args_os().collect();
    // A broken dotenv file must not stop `--help`, `--version`, `completions`, `man` or
    // `show`: its error waits until the verb is known.
    let env_problem = env_file::load(&args).err();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::FAILURE;
        }
        Err(e) => {
            // Usage errors exit 1: 2 means "changes" for `plan --detailed-exitcode`.
            let format = log_format_of(&args);
            if let Some(p) = env_problem {
                report(Error::from(p), format);
            }
            report(Error::from(SettingsError::usage(&e)), format);
            return ExitCode::FAILURE;
        }
    };
    if cli.redact {
        crate::redact::enable();
    }
    crate::logging::init(cli.verbose, cli.log_format);
    if let Some(p) = env_problem {
        if needs_settings(&cli.command) {
            report(Error::from(p), cli.log_format);
            return ExitCode::FAILURE;
        }
        if !matches!(cli.command, Command::Completions(_) | Command::Man(_)) {
            tracing::warn!("{p}; ignored, as this command reads no settings");
        }
    }
    let format = cli.log_format;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::commands::run(cli.command, <Cli as clap::CommandFactory>::command)) {
        Ok(code) => code,
        Err(e) => {
            report(e, format);
            ExitCode::FAILURE
        }
    }
}

/// The verbs that read the settings (and so must not run with a broken dotenv file).
fn needs_settings(c: &Command) -> bool {
    match c {
        Command::Plan(_) | Command::Apply(_) | Command::Invite(_) | Command::Check(_) => true,
        Command::Show(_)
        | Command::Emulator(_)
        | Command::Demo
        | Command::Keygen(_)
        | Command::Completions(_)
        | Command::Man(_) => false,
    }
}

/// `--log-format` from raw arguments that clap refused (so the refusal is a JSON event
/// too when asked).
fn log_format_of(args: &[OsString]) -> LogFormat {
    let mut format = LogFormat::Text;
    let mut it = args.iter().filter_map(|a| a.to_str());
    while let Some(a) = it.next() {
        let v = if a == "--log-format" { it.next() } else { a.strip_prefix("--log-format=") };
        if let Some(v) = v {
            format = if v == "json" { LogFormat::Json } else { LogFormat::Text };
        }
    }
    format
}

/// Prints the error that ends the process: a graphical report, or with
/// `--log-format json` one JSON event (code, message, help, related problems). Emails
/// are masked with `--redact`.
pub fn report(e: Error, format: LogFormat) {
    match format {
        LogFormat::Text => {
            let text = format!("{:?}", miette::Report::new(e));
            let text = if crate::redact::enabled() { crate::redact::text(&text, None, true) } else { text };
            eprintln!("{text}");
        }
        LogFormat::Json => crate::logging::error_event(&e),
    }
}

/// Diagnostics wrap at spaces only, so a flag (`--max-deletes`), a URL, an email or a hex
/// digest is never split across lines (a long one runs past the width instead).
pub fn graphical_handler(theme: GraphicalTheme, width: usize) -> GraphicalReportHandler {
    GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_break_words(false)
        .with_word_separator(WordSeparator::AsciiSpace)
        .with_word_splitter(WordSplitter::NoHyphenation)
}

/// Width of diagnostics when stderr is not a terminal (a CI log, a file): as the
/// snapshots in `tests/it/diagnostics.rs` show them.
pub const DIAGNOSTIC_WIDTH: usize = 100;

/// The process's miette hook: miette's own choice of theme (color only on a terminal,
/// `NO_COLOR` honoured), the terminal's width or [`DIAGNOSTIC_WIDTH`], wrapping as
/// [`graphical_handler`] does.
fn install_diagnostic_hook() {
    use std::io::IsTerminal;
    let _ = miette::set_hook(Box::new(|_| {
        let opts = MietteHandlerOpts::new()
            .break_words(false)
            .word_separator(WordSeparator::AsciiSpace)
            .word_splitter(WordSplitter::NoHyphenation);
        let opts = if std::io::stderr().is_terminal() { opts } else { opts.width(DIAGNOSTIC_WIDTH) };
        Box::new(opts.build())
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_is_found_in_refused_arguments() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(log_format_of(&a(&["x", "plan", "--log-format", "json", "--bogus"])), LogFormat::Json);
        assert_eq!(log_format_of(&a(&["x", "--log-format=json"])), LogFormat::Json);
        assert_eq!(log_format_of(&a(&["x", "--bogus"])), LogFormat::Text);
    }
}
