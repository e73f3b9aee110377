//! Strong random passwords for new database users. They are sent once to Auth0 and
//! never printed, logged or stored.
//!
//! 32 characters drawn uniformly from 78 symbols (about 200 bits of entropy) with the
//! thread-local CSPRNG of `rand` (ChaCha, seeded and reseeded from the OS). A draw is
//! kept only when it satisfies Auth0's strictest ("excellent") policy: lower case,
//! upper case, digit and special character all present, and never more than two
//! identical characters in a row. Rejection keeps the choice uniform among those.

use crate::settings::Secret;
use rand::RngExt;

/// Length of generated passwords.
pub const LENGTH: usize = 32;

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";
/// No quotes, backslash or space: nothing that needs escaping anywhere.
const SPECIAL: &[u8] = b"!#$%&*+-.:=?@^_~";

/// A random password satisfying Auth0's strictest password policy.
pub fn generate() -> Secret {
    let alphabet: Vec<u8> = [LOWER, UPPER, DIGITS, SPECIAL].concat();
    let mut rng = rand::rng();
    loop {
        let candidate: Vec<u8> = (0..LENGTH).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
        if acceptable(&candidate) {
            // Only ASCII from the alphabet above.
            let s = String::from_utf8(candidate).expect("ASCII alphabet");
            return Secret::from(s);
        }
    }
}

/// Every character class present and no run of three identical characters.
fn acceptable(p: &[u8]) -> bool {
    let has = |class: &[u8]| p.iter().any(|c| class.contains(c));
    has(LOWER) && has(UPPER) && has(DIGITS) && has(SPECIAL) && !p.windows(3).any(|w| w[0] == w[1] && w[1] == w[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptable_rejects_weak_candidates() {
        assert!(acceptable(b"aB3!"));
        assert!(!acceptable(b"ab3!"));
        assert!(!acceptable(b"AB3!"));
        assert!(!acceptable(b"aBc!"));
        assert!(!acceptable(b"aB3c"));
        assert!(!acceptable(b"aB3!!!"));
    }
}
