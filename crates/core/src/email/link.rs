//! Signed links a customer follows from an email: unsubscribe now, survey answers next. A token
//! names its purpose, the store and the customer (and whatever else its purpose needs, such as an
//! invitation and a score), optionally an expiry, and carries an HMAC-SHA256 over all of it keyed
//! with the deployment's link secret (`RETENTION_LINK_SECRET`). It cannot be forged, and a token
//! for one customer, store or purpose is useless for any other: every field is under the MAC.
//!
//! Form: `base64url(payload JSON) "." base64url(MAC)`, URL-safe without escaping.

use crate::ids::{CustomerId, StoreId};
use crate::signature::hmac_sha256;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// What the MAC is keyed with, separated from every other use of the secret.
const DOMAIN: &[u8] = b"retention-link-v1\0";

/// Longer tokens are refused before any decoding (a URL of an email is never this long).
pub const MAX_TOKEN_LEN: usize = 2048;

/// The deployment's link secret. Its `Debug` prints nothing of it.
#[derive(Clone)]
pub struct LinkSecret(Vec<u8>);

impl LinkSecret {
    /// At least 16 bytes: a short secret could be guessed from one link.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, String> {
        let secret = secret.into();
        if secret.len() < 16 {
            return Err(format!(
                "the link secret has {} bytes; it needs at least 16 (say, `openssl rand -hex 32`)",
                secret.len()
            ));
        }
        Ok(Self(secret))
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret(<redacted>)")
    }
}

/// What a link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Unsubscribe,
    Survey,
}

/// A token's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "p")]
    pub purpose: Purpose,
    #[serde(rename = "s")]
    pub store: StoreId,
    #[serde(rename = "c")]
    pub customer: CustomerId,
    /// Purpose-specific fields (a survey's invitation and score), under the MAC like the rest.
    #[serde(rename = "x", default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
    /// Seconds since the epoch after which the token is refused; none for unsubscribe links,
    /// which must work for as long as the email is kept.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed or incomplete (was it cut off by the mail client?)")]
    Malformed,
    #[error("the link's signature does not match: it was changed or not made by this store")]
    Forged,
    #[error("the link is for something else")]
    WrongPurpose,
    #[error("the link expired on {0}")]
    Expired(DateTime<Utc>),
}

impl Claims {
    pub fn sign(&self, secret: &LinkSecret) -> String {
        let payload = serde_json::to_vec(self).expect("claims serialize");
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let mac = hmac_sha256(secret.bytes(), &[DOMAIN, payload.as_bytes()]);
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// The claims of `token`, provided its MAC holds, it is for `purpose` and not expired at `now`.
    pub fn verify(
        token: &str,
        secret: &LinkSecret,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<Claims, LinkError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(LinkError::Malformed);
        }
        let (payload, mac) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let claimed = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| LinkError::Malformed)?;
        let expected = hmac_sha256(secret.bytes(), &[DOMAIN, payload.as_bytes()]);
        if !bool::from(expected.as_slice().ct_eq(&claimed)) {
            return Err(LinkError::Forged);
        }
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| LinkError::Malformed)?;
        if claims.purpose != purpose {
            return Err(LinkError::WrongPurpose);
        }
        if let Some(exp) = claims.expires {
            if now.timestamp() > exp {
                return Err(LinkError::Expired(
                    DateTime::from_timestamp(exp, 0).unwrap_or(now),
                ));
            }
        }
        Ok(claims)
    }

    /// An unsubscribe link's claims: no expiry.
    pub fn unsubscribe(store: &StoreId, customer: &CustomerId) -> Self {
        Self {
            purpose: Purpose::Unsubscribe,
            store: store.clone(),
            customer: customer.clone(),
            extra: vec![],
            expires: None,
        }
    }
}

/// `<base>/<path>` with exactly one slash between them (`RETENTION_PUBLIC_URL` may end in one).
pub fn url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// The one-click unsubscribe URL of a customer (`customer-pages` serves `GET`/`POST /u/{token}`).
pub fn unsubscribe_url(
    base: &str,
    secret: &LinkSecret,
    store: &StoreId,
    customer: &CustomerId,
) -> String {
    url(
        base,
        &format!("u/{}", Claims::unsubscribe(store, customer).sign(secret)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secret() -> LinkSecret {
        LinkSecret::new("0123456789abcdef0123456789abcdef").unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn ids() -> (StoreId, CustomerId) {
        (
            StoreId::parse("acme").unwrap(),
            CustomerId::parse("c-1").unwrap(),
        )
    }

    #[test]
    fn a_token_verifies_for_its_own_purpose_only() {
        let (s, c) = ids();
        let t = Claims::unsubscribe(&s, &c).sign(&secret());
        let claims = Claims::verify(&t, &secret(), Purpose::Unsubscribe, now()).unwrap();
        assert_eq!((claims.store, claims.customer), (s, c));
        assert_eq!(
            Claims::verify(&t, &secret(), Purpose::Survey, now()),
            Err(LinkError::WrongPurpose)
        );
        let other = LinkSecret::new("another secret of enough bytes").unwrap();
        assert_eq!(
            Claims::verify(&t, &other, Purpose::Unsubscribe, now()),
            Err(LinkError::Forged)
        );
        assert!(LinkSecret::new("short").is_err());
        assert_eq!(format!("{:?}", secret()), "LinkSecret(<redacted>)");
    }

    #[test]
    fn another_customers_claims_cannot_reuse_a_signature() {
        let (s, c) = ids();
        let t = Claims::unsubscribe(&s, &c).sign(&secret());
        let (_, mac) = t.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Claims::unsubscribe(&s, &CustomerId::parse("c-2").unwrap()))
                .unwrap(),
        );
        assert_eq!(
            Claims::verify(
                &format!("{forged_payload}.{mac}"),
                &secret(),
                Purpose::Unsubscribe,
                now()
            ),
            Err(LinkError::Forged)
        );
        for bad in ["", "abc", "a.b.c", &"x".repeat(MAX_TOKEN_LEN + 1)] {
            assert!(Claims::verify(bad, &secret(), Purpose::Unsubscribe, now()).is_err());
        }
    }

    #[test]
    fn an_expired_token_is_refused_with_its_date() {
        let (s, c) = ids();
        let mut claims = Claims::unsubscribe(&s, &c);
        claims.purpose = Purpose::Survey;
        claims.extra = vec!["inv-1".into(), "9".into()];
        claims.expires = Some(now().timestamp() - 1);
        let t = claims.sign(&secret());
        assert!(matches!(
            Claims::verify(&t, &secret(), Purpose::Survey, now()),
            Err(LinkError::Expired(_))
        ));
        claims.expires = Some(now().timestamp() + 60);
        let t = claims.sign(&secret());
        assert_eq!(
            Claims::verify(&t, &secret(), Purpose::Survey, now())
                .unwrap()
                .extra,
            vec!["inv-1", "9"]
        );
    }

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(url("http://h/x/", "/u/t"), "http://h/x/u/t");
        assert_eq!(url("http://h/x", "u/t"), "http://h/x/u/t");
    }

    proptest! {
        /// Flipping any character of a token never yields a token that verifies.
        #[test]
        fn tampering_is_detected(pos in 0usize..200, ch in "[A-Za-z0-9_.-]") {
            let (s, c) = ids();
            let t = Claims::unsubscribe(&s, &c).sign(&secret());
            let pos = pos % t.len();
            let mut bytes = t.clone().into_bytes();
            bytes[pos] = ch.as_bytes()[0];
            let tampered = String::from_utf8(bytes).unwrap();
            prop_assume!(tampered != t);
            prop_assert!(Claims::verify(&tampered, &secret(), Purpose::Unsubscribe, now()).is_err());
        }
    }
}
