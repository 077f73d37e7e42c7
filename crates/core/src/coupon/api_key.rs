//! Per-store API keys for the coupon endpoints. The key is shown once; only its SHA-256 is kept, so
//! a leaked table does not leak keys. A key has 160 random bits, so a fast hash is enough (there is
//! nothing to brute-force, unlike a password).

use rand::{RngCore, TryRngCore};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "rtk_";
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const SYMBOLS: usize = 32;

/// A freshly made key, to show the operator once. Its `Debug` does not print it.
pub struct ApiKey(String);

impl ApiKey {
    pub fn generate(rng: &mut (impl RngCore + ?Sized)) -> Self {
        let mut bytes = [0u8; SYMBOLS];
        rng.fill_bytes(&mut bytes);
        // 32 symbols of a 32-letter alphabet: five bits each, no bias.
        let body: String = bytes
            .iter()
            .map(|b| ALPHABET[(b & 0x1f) as usize] as char)
            .collect();
        Self(format!("{PREFIX}{body}"))
    }
    /// A key from the operating system's CSPRNG.
    pub fn generate_secure() -> Self {
        Self::generate(&mut rand::rngs::OsRng.unwrap_err())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn hash(&self) -> ApiKeyHash {
        ApiKeyHash::of(&self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(…)")
    }
}

/// What the table keeps of a key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyHash([u8; 32]);

impl ApiKeyHash {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    pub fn from_hex(s: &str) -> Option<Self> {
        let v = hex::decode(s).ok()?;
        Some(Self(v.try_into().ok()?))
    }
    /// Whether `presented` is the key this hash was made from, in time independent of where they differ.
    pub fn verify(&self, presented: &str) -> bool {
        let candidate = ApiKeyHash::of(presented);
        self.0.ct_eq(&candidate.0).into()
    }
}

impl fmt::Debug for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyHash({}…)", &self.to_hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn keys_verify_against_their_hash_only() {
        let mut rng = StdRng::seed_from_u64(1);
        let key = ApiKey::generate(&mut rng);
        assert!(key.expose().starts_with(PREFIX));
        assert_eq!(key.expose().len(), PREFIX.len() + SYMBOLS);
        let hash = key.hash();
        assert!(hash.verify(key.expose()));
        assert!(!hash.verify("rtk_wrong"));
        assert!(!hash.verify(""));
        assert_eq!(ApiKeyHash::from_hex(&hash.to_hex()), Some(hash.clone()));
        assert!(!format!("{key:?}").contains(&key.expose()[4..]));
        let other = ApiKey::generate(&mut rng);
        assert_ne!(other.expose(), key.expose());
    }
}
