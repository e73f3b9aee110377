//! Signed plans: the checksum catches accidental edits, a signature catches
//! deliberate ones. `plan` signs the plan's canonical content with an Ed25519 key
//! (ed25519-dalek) and records the public key's fingerprint; `apply` with a verify
//! key refuses unsigned plans, plans signed by another key and plans changed after
//! signing, a recomputed checksum included. Keys are PKCS#8 / SPKI PEM files, the
//! format OpenSSL reads and writes. Pure: no I/O, no clock.

use crate::digest::sha256_tagged;
use crate::digest::write_canonical;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, Verifier};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// Prefix of every signed message, so that a plan signature can never be taken for a
/// signature over anything else made with the same key.
const DOMAIN: &[u8] = b"auth0-sync plan signature v1\n";

/// The signature algorithm. Only one exists; the field makes the choice explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "signatureAlgorithm")]
pub enum SignatureAlgorithm {
    /// Ed25519 (RFC 8032) over the signed message.
    Ed25519,
}

/// A plan's signature: who signed it and the signature over its canonical content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "signature", deny_unknown_fields)]
pub struct PlanSignature {
    /// Always `ed25519`.
    pub algorithm: SignatureAlgorithm,
    /// Fingerprint of the signing key's public half: `sha256:` of its 32 raw bytes
    /// (what `auth0-sync keygen` prints and `show` names).
    #[schemars(with = "crate::schema_types::Sha256Text")]
    pub key: String,
    /// The Ed25519 signature, 128 lower-case hex digits, over `auth0-sync plan
    /// signature v1\n` followed by the canonical JSON (keys sorted, no whitespace) of
    /// the plan without `checksum` and without this `value`.
    #[schemars(regex(pattern = r"^[0-9a-f]{128}$"))]
    pub value: String,
}

/// Why a plan fails verification (mapped to a plan-file diagnostic with a span).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealProblem {
    /// No `signature` field.
    Unsigned,
    /// Signed by the key with this fingerprint.
    WrongKey { found: String },
    /// The signature does not verify over the content (or is malformed).
    Mismatch(String),
}

/// `sha256:<hex>` of the raw public key bytes.
pub fn fingerprint(key: &VerifyingKey) -> String {
    sha256_tagged(key.as_bytes())
}

/// The bytes a plan's signature covers: [`DOMAIN`], then the canonical JSON of the
/// plan value without `checksum` and without `signature.value`.
pub fn signed_message(plan: &Value) -> Vec<u8> {
    let mut out = DOMAIN.to_vec();
    match plan {
        Value::Object(o) => {
            let mut top = o.clone();
            top.remove("checksum");
            if let Some(Value::Object(sig)) = top.get_mut("signature") {
                sig.remove("value");
            }
            write_canonical(&Value::Object(top), &mut out);
        }
        other => write_canonical(other, &mut out),
    }
    out
}

/// What [`sign`] signs: the plan (`plan.rs` implements it), so that this module does
/// not depend on the plan's other types.
pub trait Signable: serde::Serialize {
    /// Replaces the signature.
    fn set_signature(&mut self, signature: Option<PlanSignature>);
    /// The signature, to fill in its value.
    fn signature_mut(&mut self) -> Option<&mut PlanSignature>;
    /// Recomputes the checksum (which covers the signature).
    fn reseal(&mut self);
}

/// Signs `plan` with `key` (replacing any earlier signature) and reseals its checksum,
/// which covers the signature too.
pub fn sign(plan: &mut impl Signable, key: &SigningKey) {
    plan.set_signature(Some(PlanSignature {
        algorithm: SignatureAlgorithm::Ed25519,
        key: fingerprint(&key.verifying_key()),
        value: String::new(),
    }));
    let v = serde_json::to_value(&*plan).expect("plans always serialise");
    let sig = key.sign(&signed_message(&v));
    if let Some(s) = plan.signature_mut() {
        s.value = hex::encode(sig.to_bytes());
    }
    plan.reseal();
}

/// Checks the signature of a plan as read from disk (the JSON value, so that any
/// field, even one this build would drop, is covered) against `key`.
pub fn verify(plan: &Value, key: &VerifyingKey) -> Result<(), SealProblem> {
    let Some(sig) = plan.get("signature").filter(|s| !s.is_null()) else {
        return Err(SealProblem::Unsigned);
    };
    let expected = fingerprint(key);
    match sig.get("key").and_then(Value::as_str) {
        Some(found) if found == expected => {}
        Some(found) => return Err(SealProblem::WrongKey { found: found.to_owned() }),
        None => return Err(SealProblem::Mismatch("the signature names no key".into())),
    }
    if sig.get("algorithm").and_then(Value::as_str) != Some("ed25519") {
        return Err(SealProblem::Mismatch("the signature's algorithm is not ed25519".into()));
    }
    let bytes = sig
        .get("value")
        .and_then(Value::as_str)
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| SealProblem::Mismatch("the signature value is not 128 hex digits".into()))?;
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    key.verify(&signed_message(plan), &signature)
        .map_err(|_| SealProblem::Mismatch("the content is not what was signed".into()))
}

/// Why a key file cannot be used (never carries key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// A public key where a private key is needed.
    PublicNotPrivate,
    /// A private key where a public key is needed.
    PrivateNotPublic,
    /// Not an Ed25519 key in PEM.
    NotEd25519Pem,
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyProblem::PublicNotPrivate => "it holds a public key, but signing needs the private key",
            KeyProblem::PrivateNotPublic => {
                "it holds a private key; verification needs only the public key (plan-signing.pub): keep the private key out of the apply job"
            }
            KeyProblem::NotEd25519Pem => "it is not an Ed25519 key in PEM form",
        })
    }
}

const PRIVATE_LABEL: &str = "-----BEGIN PRIVATE KEY-----";
const PUBLIC_LABEL: &str = "-----BEGIN PUBLIC KEY-----";

/// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
pub fn signing_key_from_pem(text: &str) -> Result<SigningKey, KeyProblem> {
    if text.contains(PUBLIC_LABEL) {
        return Err(KeyProblem::PublicNotPrivate);
    }
    SigningKey::from_pkcs8_pem(text.trim()).map_err(|_| KeyProblem::NotEd25519Pem)
}

/// Reads an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`).
pub fn verifying_key_from_pem(text: &str) -> Result<VerifyingKey, KeyProblem> {
    if text.contains(PRIVATE_LABEL) || text.contains("PRIVATE KEY-----") {
        return Err(KeyProblem::PrivateNotPublic);
    }
    VerifyingKey::from_public_key_pem(text.trim()).map_err(|_| KeyProblem::NotEd25519Pem)
}

/// The private key as PKCS#8 PEM; zeroed when dropped.
pub fn signing_key_to_pem(key: &SigningKey) -> zeroize::Zeroizing<String> {
    key.to_pkcs8_pem(LineEnding::LF).expect("an Ed25519 key always encodes")
}

/// The public key as SPKI PEM.
pub fn verifying_key_to_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF).expect("an Ed25519 key always encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn pem_round_trips_and_refuses_the_wrong_half() {
        let k = key(7);
        let private = signing_key_to_pem(&k);
        let public = verifying_key_to_pem(&k.verifying_key());
        assert!(private.starts_with(PRIVATE_LABEL));
        assert!(public.starts_with(PUBLIC_LABEL));
        assert_eq!(signing_key_from_pem(&private).unwrap().to_bytes(), k.to_bytes());
        assert_eq!(verifying_key_from_pem(&public).unwrap(), k.verifying_key());
        assert_eq!(signing_key_from_pem(&public).unwrap_err(), KeyProblem::PublicNotPrivate);
        assert_eq!(verifying_key_from_pem(&private).unwrap_err(), KeyProblem::PrivateNotPublic);
        assert_eq!(verifying_key_from_pem("hello").unwrap_err(), KeyProblem::NotEd25519Pem);
    }

    #[test]
    fn signed_message_ignores_checksum_and_signature_value_only() {
        let a = serde_json::json!({"b": 1, "checksum": "x", "signature": {"key": "k", "value": "v"}});
        let b = serde_json::json!({"signature": {"value": "w", "key": "k"}, "b": 1, "checksum": "y"});
        assert_eq!(signed_message(&a), signed_message(&b));
        let c = serde_json::json!({"b": 2, "checksum": "x", "signature": {"key": "k", "value": "v"}});
        assert_ne!(signed_message(&a), signed_message(&c));
        let d = serde_json::json!({"b": 1, "checksum": "x", "signature": {"key": "other", "value": "v"}});
        assert_ne!(signed_message(&a), signed_message(&d), "the key fingerprint is signed");
    }
}
