//! `auth0-sync plan`: snapshot the source and the tenant, compute the changes with
//! the pure planner, seal them into a plan file and show them.

use crate::auth0::{Auth0Client, RoleLookup};
use crate::error::{Error, Result};
use crate::plan::{OnMissing, Plan};
use crate::planner::{self, Policy};
use crate::render::Format;
use crate::render::MarkdownOptions;
use crate::settings::args::SafetyArgs;
use crate::settings::{PolicyArgs, SettingsError, SourceArgs, SourceSettings, Tenant, TenantArgs, both};
use crate::targets::{Targets, plan_targets};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Default, clap::Args)]
#[command(after_help = super::output::MORE_SETTINGS)]
pub struct PlanArgs {
    /// Where to write the plan (default: plans/plan-YYYYMMDD-HHMMSS.json).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Replace --out if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// How to show the plan: table (for people), json (the plan file) or markdown (for a PR comment).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// What to do with connection users missing from the source.
    #[arg(long, value_enum, default_value_t, help_heading = "Policy")]
    pub on_missing: OnMissing,
    /// Plan the creation of roles the source names that the tenant lacks.
    #[arg(long, help_heading = "Policy")]
    pub create_missing_roles: bool,
    /// With --on-missing block: delete a user the tool blocked at least this long ago
    /// (e.g. 30d; users blocked by people are never deleted).
    #[arg(long, value_name = "DURATION", value_parser = crate::settings::args::parse_age, help_heading = "Policy")]
    pub delete_after: Option<chrono::Duration>,
    /// Revoke the sessions and refresh tokens of the users the plan blocks (Auth0
    /// Enterprise; checked now with a cheap probe).
    #[arg(long, help_heading = "Policy")]
    pub revoke_sessions: bool,
    /// The plan's clock (RFC 3339), for tests of --delete-after; default: now.
    #[arg(long, hide = true, value_name = "TIME")]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// How to learn role membership: per-role (list members), per-user, or auto.
    #[arg(long, value_enum, default_value_t, help_heading = "Tenant", hide_short_help = true)]
    pub role_lookup: RoleLookup,
    /// Reads in flight at once (within the request budget).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64), help_heading = "Tenant", hide_short_help = true)]
    pub concurrency: u16,
    /// Do not refuse a plan the token's scopes could not apply (for pipelines that
    /// plan with read-only credentials; apply always checks).
    #[arg(long, help_heading = "Tenant")]
    pub skip_scope_check: bool,
    /// Plan for this user only (repeatable): a partial plan, by the full rules.
    #[arg(long = "only", value_name = "EMAIL", help_heading = "Targets")]
    pub only: Vec<String>,
    /// Like --only, for each line of FILE (blank lines and # comments skipped).
    #[arg(long, value_name = "FILE", help_heading = "Targets")]
    pub only_file: Option<PathBuf>,
    /// Sign the plan with this Ed25519 private key (from `auth0-sync keygen`).
    #[arg(long, env = "AUTH0_SYNC_SIGNING_KEY", value_name = "PATH")]
    pub signing_key: Option<PathBuf>,
    /// Most characters --format markdown prints [default: 60000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(5000..=10_000_000), hide_short_help = true)]
    pub max_chars: Option<u32>,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub tenant: TenantArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub safety: SafetyArgs,
}

/// Everything `plan` needs, checked.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub tenant: Tenant,
    pub source: SourceSettings,
    pub policy: Policy,
    pub role_lookup: RoleLookup,
    /// Reads in flight at once.
    pub concurrency: usize,
    pub out: Option<PathBuf>,
    pub overwrite: bool,
    pub format: Format,
    pub detailed_exitcode: bool,
    pub skip_scope_check: bool,
    /// `--only` / `--only-file`: a partial plan for these users.
    pub targets: Option<Targets>,
    /// The private key `plan` signs with (AUTH0_SYNC_SIGNING_KEY), read when planning.
    pub signing_key: Option<PathBuf>,
    /// Budget of `--format markdown`.
    pub max_chars: usize,
}

impl PlanArgs {
    /// Checks every setting (all problems at once) before anything is read or sent.
    pub fn resolve(&self) -> Result<PlanSettings, SettingsError> {
        let (tenant, (((source, ignore), targets), (authority, on_null))) = both(
            self.tenant.resolve(),
            both(
                both(
                    both(self.source.resolve(), self.policy.ignore()),
                    resolve_targets(&self.only, self.only_file.as_deref()),
                ),
                both(self.policy.field_authority(), self.policy.on_null()),
            ),
        )?;
        let policy = Policy {
            connection: tenant.connection.clone(),
            ignore,
            managed_roles: self.policy.managed_roles(),
            on_missing: self.on_missing,
            delete_cap: self.safety.delete_cap(),
            removal_caps: self.safety.removal_caps(),
            allow_empty_source: self.safety.allow_empty_source,
            create_missing_roles: self.create_missing_roles,
            on_null,
            authority,
            revoke_sessions: self.revoke_sessions,
            two_stage: self.delete_after.map(|delete_after| crate::leavers::TwoStage {
                delete_after,
                now: self.now.unwrap_or_else(chrono::Utc::now),
            }),
        };
        if self.delete_after.is_some() && self.on_missing != OnMissing::Block {
            return Err(SettingsError::Invalid {
                var: "--delete-after",
                reason: "needs --on-missing block (users are blocked first, then deleted)".into(),
                help: "pass --on-missing block with --delete-after, or drop --delete-after".into(),
            });
        }
        Ok(PlanSettings {
            tenant,
            source,
            policy,
            role_lookup: self.role_lookup,
            concurrency: usize::from(self.concurrency).max(1),
            out: self.out.clone(),
            overwrite: self.overwrite,
            format: self.format,
            detailed_exitcode: self.detailed_exitcode,
            skip_scope_check: self.skip_scope_check,
            targets,
            signing_key: self.signing_key.clone().filter(|p| !p.as_os_str().is_empty()),
            max_chars: self.max_chars.map_or(MarkdownOptions::DEFAULT_MAX_CHARS, |n| n as usize),
        })
    }
}

/// `--only` emails and the lines of `--only-file`, normalised; `None` when neither
/// is given. Every unusable email is reported at once.
fn resolve_targets(only: &[String], file: Option<&Path>) -> Result<Option<Targets>, SettingsError> {
    if only.is_empty() && file.is_none() {
        return Ok(None);
    }
    let invalid =
        |var: &'static str, reason: String, help: &str| SettingsError::Invalid { var, reason, help: help.to_owned() };
    let not_emails = |var, bad: Vec<String>| {
        invalid(
            var,
            format!("not an email address: {}", bad.join(", ")),
            "give each target as a full address, e.g. --only jane.doe@acme.example",
        )
    };
    let from_flags = Targets::new(only).map_err(|bad| not_emails("--only", bad));
    let from_file = match file {
        None => Ok(Vec::new()),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| {
                invalid(
                    "--only-file",
                    format!("could not read {}: {e}", path.display()),
                    "pass a readable text file with one email a line",
                )
            })
            .and_then(|text| {
                let lines: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned)
                    .collect();
                if lines.is_empty() {
                    return Err(invalid(
                        "--only-file",
                        format!("{} lists no email", path.display()),
                        "put one email a line in the file (blank lines and lines starting with # are skipped)",
                    ));
                }
                Targets::new(&lines).map(|_| lines).map_err(|bad| not_emails("--only-file", bad))
            }),
    };
    let (_, lines) = both(from_flags, from_file)?;
    Ok(Some(Targets::new(only.iter().cloned().chain(lines)).expect("every target was checked")))
}

pub async fn run(s: &PlanSettings, printer: &crate::printer::Printer) -> Result<ExitCode> {
    let plan = make_plan(s).await?;
    let path = s.out.clone().unwrap_or_else(|| default_plan_path(&plan));
    plan.write_new(&path, s.overwrite)?;
    let md =
        MarkdownOptions { max_chars: s.max_chars, plan_path: Some(path.display().to_string()), ..Default::default() };
    super::output::print_plan_with(&plan, s.format, &md, printer)?;
    if s.format == Format::Table {
        if let Some(key) = plan.signed_by() {
            eprintln!("Plan signed with key {key}.");
        }
        eprintln!("Plan written to {}. Apply it with: auth0-sync apply {}", path.display(), path.display());
    }
    Ok(if s.detailed_exitcode && plan.has_changes() {
        ExitCode::from(super::output::EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

/// Snapshots the source and the tenant and computes a sealed plan.
pub async fn make_plan(s: &PlanSettings) -> Result<Plan> {
    let started = std::time::Instant::now();
    // A key that cannot be used fails the run before the source or the tenant is read.
    let signer = s.signing_key.as_deref().map(crate::gate::load_signing_key).transpose()?;
    if let crate::settings::SourceBackend::Mssql(m) = &s.source.backend {
        for w in
            [crate::source::mssql::trust_warning(m), crate::source::mssql::plaintext_warning(m)].into_iter().flatten()
        {
            eprintln!("warning: {w}");
        }
    }
    let (desired, source_info) = crate::source::load(&s.source).await?;
    let client = Auth0Client::connect(&s.tenant.auth0).await?;
    require_connection(&client, &s.tenant.connection).await?;
    let snapshot = client.snapshot_with(&s.tenant.connection, s.role_lookup, s.concurrency).await?;
    if s.policy.revoke_sessions {
        // One user of the connection (a leaver if there is one): a tenant that cannot
        // revoke says so now, not in the middle of an apply.
        let users = || snapshot.users.values().filter(|u| u.connection == s.tenant.connection);
        if let Some(u) = users().find(|u| !u.blocked).or_else(|| users().next()) {
            crate::auth0::sessions::probe(&client, &u.user_id).await?;
        }
    }
    let changeset = match &s.targets {
        Some(targets) => plan_targets(&desired, &snapshot, &s.policy, targets)?,
        None => planner::plan(&desired, &snapshot, &s.policy)?,
    };
    let policy_record = s.policy.record(&snapshot, &changeset);
    let sum = &changeset.summary;
    tracing::info!(
        source_rows = desired.rows,
        source_users = desired.users.len(),
        tenant_users = snapshot.users.len(),
        create = sum.create_user,
        unblock = sum.unblock_user,
        update = sum.update_roles,
        block = sum.block_user,
        delete = sum.delete_user,
        warnings = changeset.warnings.len(),
        duration_ms = started.elapsed().as_millis() as u64,
        "plan finished"
    );
    let mut plan = Plan::new(
        chrono::Utc::now(),
        s.tenant.auth0.tenant.clone(),
        s.tenant.connection.clone(),
        snapshot.fingerprint(),
        source_info,
        policy_record,
        changeset,
    );
    if let Some(targets) = &s.targets {
        plan = plan.with_targets(targets.iter().cloned());
    }
    if !s.skip_scope_check {
        crate::apply::check_scopes(&plan, &client.scopes(), crate::apply::CreateVia::Api)?;
    }
    if let Some(key) = &signer {
        crate::seal::sign(&mut plan, key);
    }
    Ok(plan)
}

/// Errors unless the tenant has a connection with this name.
pub async fn require_connection(client: &Auth0Client, name: &str) -> Result<()> {
    if client.connection_by_name(name).await?.is_none() {
        return Err(Error::UnknownConnection { name: name.to_owned(), known: String::new() });
    }
    Ok(())
}

/// `plans/plan-YYYYMMDD-HHMMSS.json`, made unique if needed.
pub fn default_plan_path(plan: &Plan) -> PathBuf {
    let stamp = plan.created_at.format("%Y%m%d-%H%M%S");
    let mut path = PathBuf::from(format!("plans/plan-{stamp}.json"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = PathBuf::from(format!("plans/plan-{stamp}-{n}.json"));
    }
    path
}
