//! `legate keygen`: a fresh gossip encryption key, 32 random bytes (AES-256) in standard
//! base64, made locally as `consul keygen` makes it.

use super::Outcome;
use base64::Engine;
use rand::RngCore;

/// The key size `consul keygen` produces.
const KEY_BYTES: usize = 32;

/// A key from `rng` (the OS generator in use; a seeded one in tests).
pub fn generate(rng: &mut impl RngCore) -> String {
    let mut key = [0u8; KEY_BYTES];
    rng.fill_bytes(&mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

pub fn run() -> Outcome {
    Outcome::ok(format!("{}\n", generate(&mut rand::rngs::OsRng)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_api::backend::GossipKey;

    #[test]
    fn keys_are_valid_gossip_keys_and_differ() {
        let first = generate(&mut rand::thread_rng());
        let second = generate(&mut rand::thread_rng());
        assert_eq!(first.len(), 44);
        assert!(GossipKey::parse(&first).is_ok());
        assert_ne!(first, second);
    }
}
