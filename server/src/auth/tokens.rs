//! Session tokens: JWT signed with HS256 (the only algorithm accepted), carrying `sub`
//! (user id), `iss`, `aud`, `exp`, `iat` and `jti` (the session id used for revocation).
//!
//! The signing key comes from the `jwt_secret` setting or, if unset, is generated once
//! and kept in the store, so tokens survive a restart. It is never logged.

use crate::store::{Store, StoreError, Write};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const ISSUER: &str = "linli";
pub const AUDIENCE: &str = "linli";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the session has expired")]
    Expired,
    #[error("the session was revoked")]
    Revoked,
    #[error("invalid token")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
    store: Store,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens").field("ttl_secs", &self.ttl_secs).field("key", &"<redacted>").finish()
    }
}

impl Tokens {
    pub async fn new(store: Store, secret: Option<&str>, ttl_secs: u64) -> Result<Self, StoreError> {
        let key = match secret {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                use rand::RngCore;
                let mut k = vec![0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut k);
                store.meta_or_init("jwt_secret", k).await?
            }
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Tokens {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            ttl_secs,
            store,
        })
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// Issues a token for `user_id`, valid for the configured time.
    pub fn issue(&self, user_id: &str) -> Result<(String, Claims), TokenError> {
        self.issue_with_ttl(user_id, self.ttl_secs)
    }

    pub fn issue_with_ttl(&self, user_id: &str, ttl_secs: u64) -> Result<(String, Claims), TokenError> {
        let now = crate::now_secs();
        let claims = Claims {
            sub: user_id.to_owned(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + ttl_secs,
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|_| TokenError::Invalid)?;
        Ok((token, claims))
    }

    /// Verifies signature, algorithm, issuer, audience and expiry, then revocation.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        if self.is_revoked(&data.claims.jti).await? {
            return Err(TokenError::Revoked);
        }
        Ok(data.claims)
    }

    /// Revokes one session until its natural expiry. Durable on return.
    pub async fn revoke(&self, claims: &Claims) -> Result<(), TokenError> {
        // Kept a minute past the token's expiry, which verification tolerates (leeway).
        self.store.commit(vec![Write::Revoke { id: claims.jti.clone(), until: claims.exp + 60 }]).await?;
        Ok(())
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, TokenError> {
        Ok(self.store.is_revoked(jti).await?)
    }

    /// Drops revocation records of tokens that have expired anyway.
    pub async fn prune_revocations(&self) -> Result<usize, TokenError> {
        Ok(self.store.prune_revocations(crate::now_secs()).await?)
    }
}
