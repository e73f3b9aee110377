//! Where and how the process prints, made once from the global flags and passed down
//! (redaction, colour, the progress bars that logs share stderr with) instead of
//! process-wide globals: a library caller or a test builds its own.

use crate::render::RenderOptions;
use indicatif::MultiProgress;
use std::borrow::Cow;
use std::io::Write;

/// What every command prints through. Cheap to clone (the bars are shared).
#[derive(Debug, Clone, Default)]
pub struct Printer {
    redact: bool,
    bars: MultiProgress,
}

impl Printer {
    /// `redact`: mask emails in everything printed or logged (`--redact`).
    pub fn new(redact: bool) -> Printer {
        Printer { redact, bars: MultiProgress::new() }
    }

    /// Whether emails are masked.
    pub fn redact(&self) -> bool {
        self.redact
    }

    /// An email as this printer shows it (masked with `--redact`).
    pub fn email<'a>(&self, email: &'a str) -> Cow<'a, str> {
        crate::redact::email(email, self.redact)
    }

    /// Free text with every `…@…` word masked under `--redact`.
    pub fn text(&self, text: String) -> String {
        if self.redact { crate::redact::text(&text, None, true) } else { text }
    }

    /// The progress bars of this process; log lines suspend them while written.
    pub fn bars(&self) -> &MultiProgress {
        &self.bars
    }

    /// A stderr writer that hides the bars while a line is written.
    pub fn stderr(&self) -> SuspendingStderr {
        SuspendingStderr { bars: self.bars.clone() }
    }

    /// Options for what goes to stdout: colour only on a terminal without `NO_COLOR`.
    pub fn stdout_options(&self) -> RenderOptions {
        RenderOptions::for_stdout(self.redact)
    }

    /// Options for notes on stderr (next to JSON on stdout).
    pub fn stderr_options(&self) -> RenderOptions {
        RenderOptions { color: color_on_stderr(), ..self.stdout_options() }
    }

    /// Prints a line on stdout with the bars suspended. A closed stdout (`| head`) is
    /// not an error and never a panic: the line is dropped.
    pub fn line(&self, line: &str) {
        self.bars.suspend(|| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        });
    }
}

/// A stderr writer that hides the bars while a line is written.
pub struct SuspendingStderr {
    bars: MultiProgress,
}

impl Write for SuspendingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bars.suspend(|| std::io::stderr().write_all(buf)).map(|_| buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Whether log lines on stderr may be coloured.
pub fn color_on_stderr() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}
