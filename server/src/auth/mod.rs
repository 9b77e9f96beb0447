//! Who is asking: users with Argon2 password hashes, signed session tokens (JWT), and
//! revocation. The user always comes from a verified token, never from a peer id.

pub mod password_policy;
pub mod tokens;
pub mod users;

pub use password_policy::{PasswordPolicy, PasswordProblem};
pub use tokens::{Claims, TokenError, Tokens};
pub use users::{NewUser, Role, User, UserError, Users};

/// The user id the server writes and acts as (its Automerge actor is bound to it).
pub const SERVER_USER: &str = "server";

/// Who the audit log names for what was done at the server's command line (`linli …`).
pub const OPERATOR: &str = "operator";
