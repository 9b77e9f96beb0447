//! User accounts with Argon2id password hashes, kept in the store.
//!
//! `Debug` of a user never shows the password hash; logs name users by id only.
//!
//! Every Argon2 run takes ~19 MiB for its duration, so at most `password_checks` run at
//! once ([`Users::with_password_checks`]): a login that finds them all busy is refused
//! at once ([`UserError::Busy`]) rather than queued, so a flood of logins costs no more
//! memory than that many checks.

use super::password_policy::{PasswordPolicy, PasswordProblem, MAX_PASSWORD_BYTES};
use crate::store::{Conflict, Store, StoreError, Write};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::fmt;
use std::sync::Arc;
use tokio::sync::Semaphore;

pub use crate::store::User;
/// What a user may do (DESIGN §4); the same vocabulary the rules use.
pub use linli_shared::domain::Role;

/// What `linli user add` and the admin API provide.
#[derive(Clone)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub role: Role,
    pub grids: Vec<String>,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser").field("username", &self.username).field("role", &self.role).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("username must be 1 to 64 letters, digits, '.', '_' or '-'")]
    BadUsername,
    #[error(transparent)]
    WeakPassword(#[from] PasswordProblem),
    #[error("user `{0}` already exists")]
    Exists(String),
    #[error("grid `{0}` does not exist (create it with `linli grid add`)")]
    UnknownGrid(String),
    #[error("a {0} must belong to at least one grid (--grid)")]
    NeedsGrid(Role),
    #[error("password hashing failed")]
    Hash,
    /// Every password check is in use: try again in a moment.
    #[error("the server is busy checking other passwords")]
    Busy,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(Conflict::Username(name)) => UserError::Exists(name),
            e => UserError::Store(e),
        }
    }
}

/// Password checks (Argon2 runs) at once, unless set otherwise.
pub const DEFAULT_PASSWORD_CHECKS: usize = 4;

/// The user directory.
#[derive(Debug, Clone)]
pub struct Users {
    store: Store,
    policy: PasswordPolicy,
    /// One permit per Argon2 run (see the module docs).
    checks: Arc<Semaphore>,
}

impl Users {
    pub fn new(store: Store) -> Self {
        Users { store, policy: PasswordPolicy::default(), checks: Arc::new(Semaphore::new(DEFAULT_PASSWORD_CHECKS)) }
    }

    /// The rules new passwords must follow.
    pub fn with_password_policy(mut self, policy: PasswordPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// At most `n` (at least 1) password hashes or verifications at once.
    pub fn with_password_checks(mut self, n: usize) -> Self {
        self.checks = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    /// Creates a user. Durable on return.
    pub async fn add(&self, new: NewUser) -> Result<User, UserError> {
        let valid_name = !new.username.is_empty()
            && new.username.len() <= 64
            && new.username.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid_name {
            return Err(UserError::BadUsername);
        }
        self.policy.check(&new.username, &new.password)?;
        if new.role != Role::Admin && new.grids.is_empty() {
            return Err(UserError::NeedsGrid(new.role));
        }
        for g in &new.grids {
            if self.store.grid(g).await?.is_none() {
                return Err(UserError::UnknownGrid(g.clone()));
            }
        }
        let password = new.password;
        // An administrator's request: it waits its turn rather than being refused.
        let permit = self.checks.clone().acquire_owned().await.map_err(|_| UserError::Hash)?;
        let password_hash = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_password(&password)
        })
        .await
        .map_err(|_| UserError::Hash)??;
        let user = User {
            id: format!("u-{}", uuid::Uuid::new_v4().simple()),
            username: new.username,
            role: new.role,
            grids: new.grids,
            inbox: linli_shared::DocumentId::random(),
            password_hash,
            created_at: (self.store.now_ms() / 1000) as u64,
            disabled: false,
        };
        // The store refuses a taken username atomically, so two concurrent adds cannot both succeed.
        self.store.commit(vec![Write::InsertUser(user.clone())]).await?;
        Ok(user)
    }

    pub async fn get(&self, id: &str) -> Result<Option<User>, UserError> {
        Ok(self.store.user(id).await?)
    }

    pub async fn by_username(&self, username: &str) -> Result<Option<User>, UserError> {
        Ok(self.store.user_by_name(username).await?)
    }

    /// Every user, by username.
    pub async fn list(&self) -> Result<Vec<User>, UserError> {
        Ok(self.store.users().await?)
    }

    /// Checks a password. Always spends the time of one Argon2 verification, also for an
    /// unknown user, so response time does not reveal which usernames exist. When every
    /// password check is in use it answers [`UserError::Busy`] at once, without hashing.
    pub async fn verify(&self, username: &str, password: &str) -> Result<Option<User>, UserError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(None);
        }
        let permit = self.checks.clone().try_acquire_owned().map_err(|_| UserError::Busy)?;
        let user = self.by_username(username).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let password = password.to_owned();
        // The permit moves into the blocking task: it is held for as long as Argon2 runs,
        // even if the request that asked has gone.
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let hash = hash.unwrap_or_else(dummy_hash);
            PasswordHash::new(&hash)
                .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .map_err(|_| UserError::Hash)?;
        Ok(user.filter(|u| ok && !u.disabled))
    }
}

fn hash_password(password: &str) -> Result<String, UserError> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|_| UserError::Hash)?.to_string())
}

fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default()).clone()
}
