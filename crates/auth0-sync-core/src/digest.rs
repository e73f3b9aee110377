//! `sha256:<hex>` digests, used for the plan's checksum and the tenant fingerprint.

use sha2::{Digest, Sha256};

/// `sha256:<hex digest>`.
pub fn sha256_tagged(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
