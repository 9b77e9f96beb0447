//! User accounts, stored in sled with Argon2id password hashes.
//!
//! `Debug` of a user never shows the password hash; logs name users by id only.

use crate::db::{Db, DbError};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a user may do (DESIGN §4); the same vocabulary the rules use.
pub use linli_shared::domain::Role;

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub grids: Vec<String>,
    /// The user's server-authored `inbox` document.
    pub inbox: linli_shared::DocumentId,
    password_hash: String,
    pub created_at: u64,
    #[serde(default)]
    pub disabled: bool,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("grids", &self.grids)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

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
    Db(#[from] DbError),
}

impl From<sled::Error> for UserError {
    fn from(e: sled::Error) -> Self {
        UserError::Db(DbError::Sled(e))
    }
}

pub const MIN_PASSWORD_LEN: usize = 8;

/// The user directory.
#[derive(Debug, Clone)]
pub struct Users {
    db: Db,
}

impl Users {
    pub fn new(db: Db) -> Self {
        Users { db }
    }

    /// Creates a user. Durable on return.
    pub fn add(&self, new: NewUser) -> Result<User, UserError> {
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
            if self.db.grids.get(g.as_bytes())?.is_none() {
                return Err(UserError::UnknownGrid(g.clone()));
            }
        }
        let salt = SaltString::generate(&mut OsRng);
        let password_hash =
            Argon2::default().hash_password(new.password.as_bytes(), &salt).map_err(|_| UserError::Hash)?.to_string();
        let user = User {
            id: format!("u-{}", uuid::Uuid::new_v4().simple()),
            username: new.username.clone(),
            role: new.role,
            grids: new.grids,
            inbox: linli_shared::DocumentId::random(),
            password_hash,
            created_at: (self.db.now_ms() / 1000) as u64,
            disabled: false,
        };
        // Claim the username atomically, so two concurrent adds cannot both succeed.
        let claimed = self.db.usernames.compare_and_swap(
            user.username.as_bytes(),
            None as Option<&[u8]>,
            Some(user.id.as_bytes()),
        )?;
        if claimed.is_err() {
            return Err(UserError::Exists(user.username));
        }
        let json = serde_json::to_vec(&user).map_err(|e| DbError::Corrupt(e.to_string()))?;
        self.db.users.insert(user.id.as_bytes(), json)?;
        self.db.durable()?;
        Ok(user)
    }

    pub fn get(&self, id: &str) -> Result<Option<User>, UserError> {
        match self.db.users.get(id.as_bytes())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v).map_err(|e| DbError::Corrupt(format!("user record: {e}")))?)),
            None => Ok(None),
        }
    }

    pub fn by_username(&self, username: &str) -> Result<Option<User>, UserError> {
        match self.db.usernames.get(username.as_bytes())? {
            Some(id) => self.get(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Every user, by username.
    pub fn list(&self) -> Result<Vec<User>, UserError> {
        let mut users = Vec::new();
        for item in self.db.users.iter().values() {
            let v = item?;
            users.push(serde_json::from_slice(&v).map_err(|e| DbError::Corrupt(format!("user record: {e}")))?);
        }
        users.sort_by(|a: &User, b: &User| a.username.cmp(&b.username));
        Ok(users)
    }

    pub fn count(&self) -> usize {
        self.db.users.len()
    }

    /// Checks a password. Always spends the time of one Argon2 verification, also for an
    /// unknown user, so response time does not reveal which usernames exist.
    pub fn verify(&self, username: &str, password: &str) -> Result<Option<User>, UserError> {
        let user = self.by_username(username)?;
        let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(dummy_hash);
        let ok = PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        Ok(user.filter(|u| ok && !u.disabled))
    }
}

fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default().hash_password(b"not a real password", &salt).map(|h| h.to_string()).unwrap_or_default()
        })
        .clone()
}
