//! Session tokens: JWT signed with HS256 (the only algorithm accepted), carrying `sub`
//! (user id), `iss`, `aud`, `exp`, `iat`, `jti` (this token) and `sid` (the login it
//! belongs to: a refresh gives a new `jti` with the same `sid`).
//!
//! A token is refused once it expires, once its `jti` is revoked (it was refreshed, or
//! its login logged out), once its `sid` is revoked (logout ends the login, every token
//! a refresh gave it included), or once it was issued before the user's
//! "sessions not before" mark (an administrator ended all of that user's sessions).
//! Revocations are kept in the store, so they hold across restarts.
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
    /// The login this token belongs to. Tokens issued before sessions had ids have none:
    /// their `jti` is their session.
    #[serde(default)]
    pub sid: String,
}

impl Claims {
    /// The login this token belongs to.
    pub fn session_id(&self) -> &str {
        if self.sid.is_empty() {
            &self.jti
        } else {
            &self.sid
        }
    }
}

/// Seconds a revocation is kept past a token's expiry: verification tolerates a few
/// seconds of clock skew (its leeway), and this covers that.
const KEEP_PAST_EXPIRY_SECS: u64 = 60;

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

    /// Issues the first token of a new login of `user_id`, valid for the configured time.
    pub async fn issue(&self, user_id: &str) -> Result<(String, Claims), TokenError> {
        self.issue_in_session(user_id, new_id()).await
    }

    /// A new token of the same login for a valid `old` one, which is revoked. Durable on
    /// return: `old` is refused from then on.
    pub async fn refresh(&self, old: &Claims) -> Result<(String, Claims), TokenError> {
        let fresh = self.issue_in_session(&old.sub, old.session_id().to_owned()).await?;
        self.revoke(old).await?;
        Ok(fresh)
    }

    async fn issue_in_session(&self, user_id: &str, sid: String) -> Result<(String, Claims), TokenError> {
        // A login in the same second as "end all sessions" is not one of the sessions ended:
        // it is stamped as issued at the mark.
        let not_before = self.store.sessions_not_before(user_id).await?.unwrap_or(0);
        let iat = crate::now_secs().max(not_before);
        let claims = Claims {
            sub: user_id.to_owned(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat,
            exp: iat + self.ttl_secs,
            jti: new_id(),
            sid,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|_| TokenError::Invalid)?;
        Ok((token, claims))
    }

    /// Verifies signature, algorithm, issuer, audience and expiry, then that neither the
    /// token nor its login was ended (see the module docs).
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        self.not_ended(&data.claims).await?;
        Ok(data.claims)
    }

    /// [`TokenError::Revoked`] if the token of `claims`, or its login, or every session of
    /// its user was ended.
    pub async fn not_ended(&self, claims: &Claims) -> Result<(), TokenError> {
        if self.is_revoked(&claims.jti).await? || self.is_revoked(claims.session_id()).await? {
            return Err(TokenError::Revoked);
        }
        if self.store.sessions_not_before(&claims.sub).await?.is_some_and(|nb| claims.iat < nb) {
            return Err(TokenError::Revoked);
        }
        Ok(())
    }

    /// Revokes one token until its natural expiry. Durable on return.
    pub async fn revoke(&self, claims: &Claims) -> Result<(), TokenError> {
        self.store
            .commit(vec![Write::Revoke { id: claims.jti.clone(), until: claims.exp + KEEP_PAST_EXPIRY_SECS }])
            .await?;
        Ok(())
    }

    /// Ends the login `claims` belongs to: this token and every other token of it (each
    /// refresh gave one). Durable on return.
    pub async fn end_session(&self, claims: &Claims) -> Result<(), TokenError> {
        // No token of this login outlives a token issued now.
        let until = crate::now_secs() + self.ttl_secs + KEEP_PAST_EXPIRY_SECS;
        let mut writes = vec![Write::Revoke { id: claims.session_id().to_owned(), until }];
        if claims.session_id() != claims.jti {
            writes.push(Write::Revoke { id: claims.jti.clone(), until: claims.exp + KEEP_PAST_EXPIRY_SECS });
        }
        self.store.commit(writes).await?;
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

/// The write that ends every session `user` has now (every token issued before it), to
/// commit with its audit entry. Tokens issued in the same second count as before it; a
/// login after it is stamped as issued at the mark, so it is not ended (see
/// [`Tokens::issue`]). A mark never moves back, even if the clock does.
pub async fn end_all_sessions(store: &Store, user: &str) -> Result<Write, StoreError> {
    let mark = crate::now_secs() + 1;
    let secs = store.sessions_not_before(user).await?.map_or(mark, |old| old.max(mark));
    Ok(Write::SessionsNotBefore { user: user.to_owned(), secs })
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn tokens() -> Tokens {
        Tokens::new(Store::memory(), Some("a test signing key of at least 32 bytes"), 3600).await.unwrap()
    }

    fn revoked(r: Result<Claims, TokenError>) -> bool {
        matches!(r, Err(TokenError::Revoked))
    }

    #[tokio::test]
    async fn a_refresh_keeps_the_login_and_ends_the_old_token() {
        let t = tokens().await;
        let (first, c1) = t.issue("u-1").await.unwrap();
        let (second, c2) = t.refresh(&c1).await.unwrap();
        assert_eq!(c1.session_id(), c2.session_id());
        assert_ne!(c1.jti, c2.jti);
        assert!(revoked(t.verify(&first).await));
        assert_eq!(t.verify(&second).await.unwrap(), c2);
        // Another login of the same user is another session.
        let (_, other) = t.issue("u-1").await.unwrap();
        assert_ne!(other.session_id(), c1.session_id());
    }

    #[tokio::test]
    async fn ending_a_login_ends_every_token_it_was_refreshed_to() {
        let t = tokens().await;
        let (_, c1) = t.issue("u-1").await.unwrap();
        // Two refreshes of one token that raced: both new tokens are valid.
        let (a, ca) = t.issue_in_session("u-1", c1.sid.clone()).await.unwrap();
        let (b, _) = t.issue_in_session("u-1", c1.sid.clone()).await.unwrap();
        let (other, _) = t.issue("u-1").await.unwrap();
        t.end_session(&ca).await.unwrap();
        assert!(revoked(t.verify(&a).await));
        assert!(revoked(t.verify(&b).await), "a token of the ended login still works");
        assert!(t.verify(&other).await.is_ok(), "another login of the user was ended too");
    }

    #[tokio::test]
    async fn ending_all_sessions_ends_the_tokens_issued_before_and_not_after() {
        let t = tokens().await;
        let (before, _) = t.issue("u-1").await.unwrap();
        let (someone_else, _) = t.issue("u-2").await.unwrap();
        let mark = end_all_sessions(&t.store, "u-1").await.unwrap();
        t.store.commit(vec![mark]).await.unwrap();
        assert!(revoked(t.verify(&before).await));
        assert!(t.verify(&someone_else).await.is_ok());
        // A login right after (within the same second) works.
        let (after, claims) = t.issue("u-1").await.unwrap();
        assert!(t.verify(&after).await.is_ok());
        assert_eq!(claims.exp - claims.iat, 3600);
        // The mark never moves back.
        t.store.commit(vec![Write::SessionsNotBefore { user: "u-1".into(), secs: u64::MAX / 2 }]).await.unwrap();
        let again = end_all_sessions(&t.store, "u-1").await.unwrap();
        assert_eq!(again, Write::SessionsNotBefore { user: "u-1".into(), secs: u64::MAX / 2 });
    }

    #[tokio::test]
    async fn a_token_from_before_session_ids_is_its_own_session() {
        let t = tokens().await;
        let now = crate::now_secs();
        let legacy = serde_json::json!({
            "sub": "u-1", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, "jti": "old-token",
        });
        let token = encode(&Header::new(Algorithm::HS256), &legacy, &t.encoding).unwrap();
        let claims = t.verify(&token).await.unwrap();
        assert_eq!(claims.session_id(), "old-token");
        let (fresh, c2) = t.refresh(&claims).await.unwrap();
        assert_eq!(c2.sid, "old-token");
        t.end_session(&c2).await.unwrap();
        assert!(revoked(t.verify(&fresh).await));
    }
}
