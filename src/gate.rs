//! The approval gate's local side: key files (`keygen`, loading the signing and the
//! verify key) and the checks apply makes before any request to Auth0 (signature,
//! recorded deletion cap). The signing and verifying themselves are pure and live in
//! the core (`seal`, `caps`); this module adds the files and their diagnostics.

use crate::caps::{self, DeleteCap};
use crate::plan::Plan;
use crate::seal::{self, KeyProblem, SigningKey, VerifyingKey};
use auth0_sync_core::{PlanError, PlanFileError, PlanStoreError};
use miette::Diagnostic;
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// File name of the private key `keygen` writes.
pub const PRIVATE_KEY_FILE: &str = "plan-signing.key";
/// File name of the public key `keygen` writes.
pub const PUBLIC_KEY_FILE: &str = "plan-signing.pub";

/// What can go wrong with key files. Never carries key material: only paths,
/// fingerprints and what kind of problem it is.
#[derive(Debug, Error, Diagnostic)]
pub enum GateError {
    #[error("{} already exists", path.display())]
    #[diagnostic(
        code(auth0_sync::keygen::exists),
        help(
            "keygen never overwrites a key: choose another --out directory, or move the old key pair away first (plans signed with it can then no longer be verified)"
        )
    )]
    KeyExists { path: PathBuf },

    #[error("could not {action} {}", path.display())]
    #[diagnostic(code(auth0_sync::io), help("check that the path exists and that you may read and write it"))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{var} {} cannot be used: {problem}", path.display())]
    #[diagnostic(
        code(auth0_sync::gate::bad_key),
        help(
            "AUTH0_SYNC_SIGNING_KEY names the private key (plan-signing.key) and AUTH0_SYNC_VERIFY_KEY the public key (plan-signing.pub) that `auth0-sync keygen --out DIR` wrote; both are PEM (PKCS#8 / SPKI) Ed25519 keys, as `openssl genpkey -algorithm ed25519` makes"
        )
    )]
    BadKey { var: &'static str, path: PathBuf, problem: KeyProblem },

    #[error("the operating system gave no randomness for a new key: {message}")]
    #[diagnostic(code(auth0_sync::keygen::random), help("run keygen again on a machine with a working /dev/urandom"))]
    Random { message: String },
}

/// Where `keygen` wrote a key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub private: PathBuf,
    pub public: PathBuf,
    /// `sha256:` fingerprint of the public key, as plans record it.
    pub fingerprint: String,
}

/// Writes a new Ed25519 key pair: `DIR/plan-signing.key` (PKCS#8 PEM, mode 0600) and
/// `DIR/plan-signing.pub` (SPKI PEM). Refuses to overwrite either file.
pub fn keygen(dir: &Path) -> Result<KeyPair, GateError> {
    let (private, public) = (dir.join(PRIVATE_KEY_FILE), dir.join(PUBLIC_KEY_FILE));
    for p in [&private, &public] {
        if p.exists() {
            return Err(GateError::KeyExists { path: p.clone() });
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| GateError::Io {
        action: "create directory",
        path: dir.into(),
        source: e,
    })?;
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|e| GateError::Random { message: e.to_string() })?;
    let key = SigningKey::from_bytes(&seed);
    let pem = seal::signing_key_to_pem(&key);
    write_new(&private, pem.as_bytes(), true)?;
    let pub_pem = seal::verifying_key_to_pem(&key.verifying_key());
    if let Err(e) = write_new(&public, pub_pem.as_bytes(), false) {
        let _ = std::fs::remove_file(&private);
        return Err(e);
    }
    Ok(KeyPair { private, public, fingerprint: seal::fingerprint(&key.verifying_key()) })
}

/// A new file (never an existing one), 0600 when `private`.
fn write_new(path: &Path, bytes: &[u8], private: bool) -> Result<(), GateError> {
    let open = if private {
        crate::plan::open_private(path, false)
    } else {
        std::fs::OpenOptions::new().write(true).create_new(true).open(path)
    };
    let mut f = open.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            GateError::KeyExists { path: path.into() }
        } else {
            GateError::Io { action: "create", path: path.into(), source: e }
        }
    })?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| GateError::Io {
        action: "write",
        path: path.into(),
        source: e,
    })
}

fn read_key_file(path: &Path) -> Result<zeroize::Zeroizing<String>, GateError> {
    std::fs::read_to_string(path).map(zeroize::Zeroizing::new).map_err(|e| GateError::Io {
        action: "read key file",
        path: path.into(),
        source: e,
    })
}

/// Loads the private key `plan` signs with (AUTH0_SYNC_SIGNING_KEY).
pub fn load_signing_key(path: &Path) -> Result<SigningKey, GateError> {
    const VAR: &str = "AUTH0_SYNC_SIGNING_KEY";
    let text = read_key_file(path)?;
    seal::signing_key_from_pem(&text).map_err(|problem| GateError::BadKey { var: VAR, path: path.into(), problem })
}

/// Loads the public key `apply` verifies with (AUTH0_SYNC_VERIFY_KEY).
pub fn load_verify_key(path: &Path) -> Result<VerifyingKey, GateError> {
    const VAR: &str = "AUTH0_SYNC_VERIFY_KEY";
    let text = read_key_file(path)?;
    seal::verifying_key_from_pem(&text).map_err(|problem| GateError::BadKey { var: VAR, path: path.into(), problem })
}

/// Checks a plan file's text against the verify key: refuses an unsigned plan, one
/// signed by another key, and one changed after signing (also when its checksum was
/// recomputed), then validates the rest as `Plan::parse` does. Pure: call it before
/// any request to Auth0. `name` labels the file in diagnostics.
pub fn verify(name: &str, plan_text: &str, verify_key: &VerifyingKey) -> Result<Plan, PlanFileError> {
    Plan::parse_verified(name, plan_text, Some(verify_key))
}

/// Reads and validates a plan file, checking its signature when `verify_key` is set.
pub fn read_plan(path: &Path, verify_key: Option<&VerifyingKey>) -> Result<Plan, PlanStoreError> {
    Plan::read_verified(path, verify_key)
}

/// The deletion cap apply enforces for `plan`: the recorded one, or `apply_flag` when
/// it is lower for `connection_users` (the connection's users at apply time); a
/// higher flag is refused ([`PlanError::CapAboveApproved`]).
pub fn apply_cap(plan: &Plan, apply_flag: Option<DeleteCap>, connection_users: u32) -> Result<DeleteCap, PlanError> {
    caps::effective_cap(plan.policy.delete_cap, apply_flag, connection_users)
}

/// [`apply_cap`], then the plan's deletions and blocks against it: what apply's
/// preflight checks once it knows the connection's user count.
pub fn check_apply_cap(
    plan: &Plan,
    apply_flag: Option<DeleteCap>,
    connection_users: u32,
) -> Result<DeleteCap, PlanError> {
    caps::check_apply_cap(&plan.changeset, plan.policy.delete_cap, apply_flag, connection_users)
}

/// The plan's blocks and role removals against the caps it recorded (or lower
/// `flags`), on the bases `view` gives (the tenant as it is at apply time): what
/// apply's preflight checks once it has read the tenant.
pub fn check_apply_removal_caps(
    plan: &Plan,
    flags: &caps::RemovalCapFlags,
    view: &crate::model::TenantSnapshot,
) -> Result<(), PlanError> {
    let managed = crate::roles::ManagedRoles(plan.policy.managed_roles.as_ref().map(|m| m.iter().cloned().collect()));
    let base = caps::CapBase::of(view, &plan.connection, &managed);
    caps::check_apply_removal_caps(&plan.changeset, &plan.policy.removal_caps, flags, &base)
}

/// Refuses, before any request, apply flags for blocks and role removals above the
/// caps the plan recorded, on the bases the plan recorded (apply checks again on the
/// tenant as it is once it has read it).
pub fn removal_cap_flags(plan: &Plan, flags: &caps::RemovalCapFlags) -> Result<(), PlanError> {
    use caps::CapKind;
    let r = &plan.policy.removal_caps;
    caps::effective_cap_for(CapKind::Blocks, r.blocks.cap, flags.blocks, r.blocks.base, None)?;
    caps::effective_cap_for(
        CapKind::RoleRemovals,
        r.role_removals.cap,
        flags.role_removals,
        r.role_removals.base,
        None,
    )?;
    for (role, rec) in &r.role_removals_per_role.roles {
        let cap = r.role_removals_per_role.cap;
        caps::effective_cap_for(CapKind::RoleRemovalsPerRole, cap, flags.per_role, rec.holders, Some(role))?;
    }
    Ok(())
}
