//! Which passwords an account may have: not blank, not too short or long, not the
//! username (or a trivial variant of it), and not guessable.
//!
//! Guessability is [zxcvbn](https://docs.rs/zxcvbn)'s estimate, which carries the
//! common-password, name and word lists and knows keyboard patterns, repeats, sequences,
//! dates and l33t substitutions; the username and its parts are given to it as words the
//! attacker knows. Its score runs 0–4 (fewer than 10³, 10⁶, 10⁸, 10¹⁰ guesses, more);
//! `password_min_score` (default 3, zxcvbn's own advice) is the least a password needs.
//!
//! ```
//! use linli_server::auth::{PasswordPolicy, PasswordProblem};
//! let policy = PasswordPolicy::default();
//! assert!(policy.check("wang.coord", "demo-coord-2026").is_ok());
//! assert!(matches!(policy.check("wang.coord", "Wang.Coord!"), Err(PasswordProblem::IsTheUsername)));
//! assert!(matches!(policy.check("wang.coord", "password123"), Err(PasswordProblem::Guessable { .. })));
//! ```

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The longest password accepted, in bytes: what a login accepts (longer is refused there
/// unhashed, so such an account could never log in).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The default least zxcvbn score.
pub const DEFAULT_MIN_SCORE: u8 = 3;

/// What is wrong with a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("password must not be blank")]
    Blank,
    #[error("password must be at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("password must not be the username")]
    IsTheUsername,
    #[error("password is too easy to guess ({reason}); choose a longer one, e.g. a few unrelated words")]
    Guessable { reason: String },
}

/// See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// The least zxcvbn score (0–4) a password needs.
    pub min_score: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy { min_score: DEFAULT_MIN_SCORE }
    }
}

impl PasswordPolicy {
    /// Whether `username` may have `password`.
    pub fn check(&self, username: &str, password: &str) -> Result<(), PasswordProblem> {
        if password.trim().is_empty() {
            return Err(PasswordProblem::Blank);
        }
        if password.chars().count() < MIN_PASSWORD_LEN {
            return Err(PasswordProblem::TooShort);
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordProblem::TooLong);
        }
        if is_the_username(username, password) {
            return Err(PasswordProblem::IsTheUsername);
        }
        // The attacker knows the username, its parts (`wang`, `coord` of `wang.coord`)
        // and the name of the service.
        let mut known: Vec<&str> = vec![username, "linli", "邻里"];
        known.extend(username.split(['.', '_', '-']).filter(|p| p.chars().count() >= 3));
        let estimate = zxcvbn::zxcvbn(password, &known);
        if u8::from(estimate.score()) < self.min_score {
            let reason = estimate
                .feedback()
                .and_then(|f| f.warning())
                .map(|w| w.to_string().trim_end_matches('.').to_lowercase())
                .unwrap_or_else(|| "it follows a common pattern".to_owned());
            return Err(PasswordProblem::Guessable { reason });
        }
        Ok(())
    }
}

/// Whether `password` is `username` to a guesser: the same letters and digits whatever
/// the case and punctuation (`Wang.Coord!`), repeated or reversed (`wangcoordwangcoord`,
/// `droocgnaw`), with digits before or after (`wang.coord2026`).
fn is_the_username(username: &str, password: &str) -> bool {
    let name = letters_and_digits(username);
    let pass = letters_and_digits(password);
    if pass == name {
        return true;
    }
    let trim = |s: &str| s.trim_matches(|c: char| c.is_ascii_digit()).to_owned();
    let core = trim(&pass);
    if core.is_empty() {
        return false;
    }
    let reverse = |s: &str| s.chars().rev().collect::<String>();
    let units = [name.clone(), trim(&name), reverse(&name), reverse(&trim(&name))];
    units
        .iter()
        .any(|unit| !unit.is_empty() && core.len() % unit.len() == 0 && core == unit.repeat(core.len() / unit.len()))
}

fn letters_and_digits(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(username: &str, password: &str) -> Result<(), PasswordProblem> {
        PasswordPolicy::default().check(username, password)
    }

    #[test]
    fn blank_short_and_overlong_passwords_are_refused() {
        for blank in ["", "        ", " \t\n  \u{3000}   "] {
            assert_eq!(check("wang", blank), Err(PasswordProblem::Blank), "{blank:?}");
        }
        assert_eq!(check("wang", "Xq7#k2p"), Err(PasswordProblem::TooShort));
        assert_eq!(check("wang", &"correct horse battery staple ".repeat(40)), Err(PasswordProblem::TooLong));
    }

    #[test]
    fn the_username_and_its_trivial_variants_are_refused() {
        for same in [
            "wang.coord",
            "WANG.COORD",
            "wang_coord",
            "Wang-Coord!",
            " wang.coord ",
            "wang.coord2026",
            "wang.coord!1",
            "2026wangcoord",
            "wang.coord.wang.coord",
            "droocgnaw",
        ] {
            assert_eq!(check("wang.coord", same), Err(PasswordProblem::IsTheUsername), "{same:?}");
        }
        // The username with a little around it is still guessable.
        for near in ["wangwangwang", "coord.wang", "coordwang1"] {
            assert!(matches!(check("wang.coord", near), Err(PasswordProblem::Guessable { .. })), "{near:?}");
        }
        // Digits alone are no username, and a username inside a longer phrase is no variant.
        assert_eq!(check("12345678", "12345678"), Err(PasswordProblem::IsTheUsername));
        assert_eq!(check("wang", "wang keeps three unrelated words"), Ok(()));
    }

    #[test]
    fn common_passwords_are_refused_with_the_reason() {
        for common in
            ["password", "password123", "12345678", "qwertyuiop", "iloveyou1", "P@ssw0rd", "11111111", "abcdefgh"]
        {
            assert!(matches!(check("wang", common), Err(PasswordProblem::Guessable { .. })), "{common:?}");
        }
        let Err(PasswordProblem::Guessable { reason }) = check("wang", "password") else { panic!("accepted") };
        assert!(reason.contains("common password"), "{reason}");
    }

    #[test]
    fn the_demo_and_test_passwords_and_passphrases_are_accepted() {
        for (user, password) in [
            ("admin", "demo-admin-2026"),
            ("wang.coord", "demo-coord-2026"),
            ("zhao.medic", "demo-medic-2026"),
            ("chen.vol", "demo-vol-2026"),
            ("alice", "alice-password-1"),
            ("bob", "bob-password-1"),
            ("root", "root-password-1"),
            ("wang", "a-long-password"),
            ("wang", "correct horse battery staple"),
        ] {
            assert_eq!(check(user, password), Ok(()), "{user} / {password}");
        }
    }

    #[test]
    fn the_least_score_is_a_setting() {
        let lax = PasswordPolicy { min_score: 0 };
        assert_eq!(lax.check("wang", "password"), Ok(()));
        // Blank passwords and the username stay refused whatever the score.
        assert_eq!(lax.check("wang", "        "), Err(PasswordProblem::Blank));
        assert_eq!(lax.check("wang1234", "Wang1234"), Err(PasswordProblem::IsTheUsername));
        let strict = PasswordPolicy { min_score: 4 };
        assert!(strict.check("bob", "bob-password-1").is_err());
    }
}
