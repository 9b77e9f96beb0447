//! User accounts with Argon2id password hashes, kept in the store.
//!
//! `Debug` of a user never shows the password hash; logs name users by id only.

use crate::store::{Conflict, Store, StoreError, Write};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::fmt;

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
    #[error("password must be at least {0} characters")]
    WeakPassword(usize),
    #[error("user `{0}` already exists")]
    Exists(String),
    #[error("grid `{0}` does not exist (create it with `linli grid add`)")]
    UnknownGrid(String),
    #[error("a {0} must belong to at least one grid (--grid)")]
    NeedsGrid(Role),
    #[error("password hashing failed")]
    Hash,
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

pub const MIN_PASSWORD_LEN: usize = 8;

/// The user directory.
#[derive(Debug, Clone)]
pub struct Users {
    store: Store,
}

impl Users {
    pub fn new(store: Store) -> Self {
        Users { store }
    }

    /// Creates a user. Durable on return.
    pub async fn add(&self, new: NewUser) -> Result<User, UserError> {
        let valid_name = !new.username.is_empty()
            && new.username.len() <= 64
            && new.username.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid_name {
            return Err(UserError::BadUsername);
        }
        if new.password.chars().count() < MIN_PASSWORD_LEN {
            return Err(UserError::WeakPassword(MIN_PASSWORD_LEN));
        }
        if new.role != Role::Admin && new.grids.is_empty() {
            return Err(UserError::NeedsGrid(new.role));
        }
        for g in &new.grids {
            if self.store.grid(g).await?.is_none() {
                return Err(UserError::UnknownGrid(g.clone()));
            }
        }
        let password = new.password;
        let password_hash =
            tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|_| UserError::Hash)??;
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
    /// unknown user, so response time does not reveal which usernames exist.
    pub async fn verify(&self, username: &str, password: &str) -> Result<Option<User>, UserError> {
        let user = self.by_username(username).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(dummy_hash);
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
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
