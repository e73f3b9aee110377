//! `auth0-sync show PLAN`: a saved plan again, as a table, JSON or markdown. Reads
//! only the file (and a verify key when given): no settings, no network. Says on
//! stderr whether the plan is signed, by which key, and whether that was verified.

use crate::error::Result;
use crate::render::Format;
use crate::render::MarkdownOptions;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The plan file to show.
    pub plan: PathBuf,
    /// How to show the plan: table (for people), json (the plan file) or markdown (for a PR comment).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Verify the plan's signature with this Ed25519 public key (PEM); refuse it if
    /// unsigned, signed by another key or changed after signing.
    #[arg(long, env = "AUTH0_SYNC_VERIFY_KEY", value_name = "PATH")]
    pub verify_key: Option<PathBuf>,
    /// Most characters --format markdown prints [default: 60000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(5000..=10_000_000))]
    pub max_chars: Option<u32>,
}

pub fn run(args: &ShowArgs) -> Result<ExitCode> {
    let verify_path = args.verify_key.as_ref().filter(|p| !p.as_os_str().is_empty());
    let key = verify_path.map(|p| crate::gate::load_verify_key(p)).transpose()?;
    let plan = crate::gate::read_plan(&args.plan, key.as_ref())?;
    let md = MarkdownOptions {
        max_chars: args.max_chars.map_or(MarkdownOptions::DEFAULT_MAX_CHARS, |n| n as usize),
        plan_path: Some(args.plan.display().to_string()),
        ..Default::default()
    };
    super::output::print_plan_with(&plan, args.format, &md)?;
    match (plan.signed_by(), &key) {
        (Some(by), Some(_)) => eprintln!("Signature: valid, by key {by} (checked with the verify key)."),
        (Some(by), None) => {
            eprintln!(
                "Signature: signed by key {by}; not checked here (pass --verify-key or set AUTH0_SYNC_VERIFY_KEY)."
            )
        }
        (None, _) => eprintln!("Signature: none, the plan is unsigned."),
    }
    Ok(ExitCode::SUCCESS)
}
