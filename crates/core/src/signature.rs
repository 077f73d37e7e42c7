//! Webhook signatures. Every comparison is constant-time (`subtle`), and a store may hold two secrets
//! during a rotation: a delivery verifies when either one signed it.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How far the generic scheme's timestamp may stray from now, either way.
pub const GENERIC_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header {0} is missing")]
    Missing(&'static str),
    #[error("the signature header {0} is malformed")]
    Malformed(&'static str),
    #[error("the signature does not match")]
    Mismatch,
    #[error(
        "the signature timestamp is {0} s away from now (more than {GENERIC_TOLERANCE_SECS} s)"
    )]
    Stale(i64),
}

pub fn hmac_sha256(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // An HMAC key may have any length, so this never fails.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn matches_any(secrets: &[impl AsRef<[u8]>], parts: &[&[u8]], claimed: &[u8]) -> bool {
    // Check every secret, not just until the first match, so timing does not reveal which one matched.
    secrets.iter().fold(false, |found, secret| {
        let expected = hmac_sha256(secret.as_ref(), parts);
        found | bool::from(expected.as_slice().ct_eq(claimed))
    })
}

/// Shopify and WooCommerce: base64(HMAC-SHA256(secret, raw body)).
pub fn verify_base64_body(
    header: &'static str,
    secrets: &[impl AsRef<[u8]>],
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing(header))?;
    let claimed = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Malformed(header))?;
    if matches_any(secrets, &[body], &claimed) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

pub fn sign_base64_body(secret: &[u8], body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, &[body]))
}

pub const GENERIC_HEADER: &str = "X-Retention-Signature";

/// The generic scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`. Several `v1`
/// entries may be present (a sender mid-rotation); any matching one will do.
pub fn verify_generic(
    secrets: &[impl AsRef<[u8]>],
    body: &[u8],
    header: Option<&str>,
    now_unix: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing(GENERIC_HEADER))?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed(GENERIC_HEADER))?;
        match k {
            "t" => timestamp = Some(v),
            "v1" => candidates
                .push(hex::decode(v).map_err(|_| SignatureError::Malformed(GENERIC_HEADER))?),
            _ => {} // Unknown schemes are skipped, so a later v2 can be added without breaking v1.
        }
    }
    let t_text = timestamp.ok_or(SignatureError::Malformed(GENERIC_HEADER))?;
    let t: i64 = t_text
        .parse()
        .map_err(|_| SignatureError::Malformed(GENERIC_HEADER))?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed(GENERIC_HEADER));
    }
    let parts: [&[u8]; 3] = [t_text.as_bytes(), b".", body];
    if !candidates.iter().any(|c| matches_any(secrets, &parts, c)) {
        return Err(SignatureError::Mismatch);
    }
    // Checked after the MAC so an attacker learns nothing about timing windows from unsigned probes.
    let skew = now_unix.saturating_sub(t);
    if skew.abs() > GENERIC_TOLERANCE_SECS {
        return Err(SignatureError::Stale(skew));
    }
    Ok(())
}

pub fn sign_generic(secret: &[u8], body: &[u8], t: i64) -> String {
    let t = t.to_string();
    format!(
        "t={t},v1={}",
        hex::encode(hmac_sha256(secret, &[t.as_bytes(), b".", body]))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base64_round_trip_and_rotation() {
        let body = br#"{"id":1}"#;
        let sig = sign_base64_body(b"old", body);
        assert_eq!(
            verify_base64_body("X-Sig", &["new", "old"], body, Some(&sig)),
            Ok(())
        );
        assert_eq!(
            verify_base64_body("X-Sig", &["new"], body, Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_base64_body("X-Sig", &["new"], body, None),
            Err(SignatureError::Missing("X-Sig"))
        );
        assert_eq!(
            verify_base64_body("X-Sig", &["new"], body, Some("%%%")),
            Err(SignatureError::Malformed("X-Sig"))
        );
    }

    #[test]
    fn generic_checks_timestamp_window() {
        let body = b"{}";
        let h = sign_generic(b"s", body, 1_000_000);
        assert_eq!(verify_generic(&["s"], body, Some(&h), 1_000_100), Ok(()));
        assert_eq!(
            verify_generic(&["s"], body, Some(&h), 1_000_301),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            verify_generic(&["s"], body, Some(&h), 999_699),
            Err(SignatureError::Stale(-301))
        );
        assert_eq!(
            verify_generic(&["x"], body, Some(&h), 1_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_generic(&["s"], body, Some("v1=00"), 1_000_000),
            Err(SignatureError::Malformed(GENERIC_HEADER))
        );
    }

    proptest! {
        #[test]
        fn any_changed_byte_breaks_the_signature(body in proptest::collection::vec(any::<u8>(), 1..200), i in any::<usize>(), flip in 1u8..) {
            let sig = sign_base64_body(b"k", &body);
            let mut tampered = body.clone();
            let i = i % tampered.len();
            tampered[i] ^= flip;
            prop_assert_eq!(verify_base64_body("X", &["k"], &tampered, Some(&sig)), Err(SignatureError::Mismatch));
        }
    }
}
