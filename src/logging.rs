//! Logs to stderr through tracing (`-v`, `-vv`, `--log-format json`), sharing stderr
//! with the progress bars: every log line is written with the bars suspended, so the
//! two never garble each other.

use indicatif::MultiProgress;
use std::io::Write;
use std::sync::OnceLock;

static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// The one set of progress bars of this process.
pub fn bars() -> &'static MultiProgress {
    BARS.get_or_init(MultiProgress::new)
}

/// A stderr writer that hides the bars while a line is written.
pub struct SuspendingStderr;

impl Write for SuspendingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BARS.get() {
            Some(m) => m.suspend(|| std::io::stderr().write_all(buf)).map(|_| buf.len()),
            None => std::io::stderr().write_all(buf).map(|_| buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the subscriber. `AUTH0_SYNC_LOG` (an EnvFilter) wins over `-v`.
pub fn init(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUTH0_SYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| SuspendingStderr).with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
