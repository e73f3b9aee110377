//! `auth0-sync keygen --out DIR`: a new Ed25519 key pair for signed plans, made once.
//! The private key becomes a secret of the CI job that plans; the public key goes to
//! the job that applies (AUTH0_SYNC_VERIFY_KEY). Local only: no settings, no network.

use crate::error::Result;
use crate::gate;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Directory for plan-signing.key (private, 0600) and plan-signing.pub (public);
    /// created if missing. Existing key files are never overwritten.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: &KeygenArgs, out: &mut impl std::io::Write) -> Result<ExitCode> {
    let pair = gate::keygen(&args.out)?;
    writeln!(
        out,
        "Wrote {} (private key, mode 0600) and {} (public key).\n\
         Key fingerprint: {}\n\
         Give the private key only to the job that runs `plan` (AUTH0_SYNC_SIGNING_KEY=path),\n\
         the public key to the job that runs `apply` (AUTH0_SYNC_VERIFY_KEY=path).",
        pair.private.display(),
        pair.public.display(),
        pair.fingerprint
    )
    .map_err(super::output::stdout_err)?;
    Ok(ExitCode::SUCCESS)
}
