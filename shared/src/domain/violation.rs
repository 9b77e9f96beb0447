//! `Violation`: why a document, or a change to one, was refused — always naming the field,
//! as a dotted path (`status`, `items.3.qty`, `checkins.2026-12-01/1.temp_c`), so the
//! phone can point at it and the quarantine record says exactly what was wrong.

/// A document or a change broke a rule of the schema or of access.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct Violation {
    /// Dotted path of the offending field; `""` for the document as a whole.
    pub field: String,
    /// What is wrong, in a short English sentence (logged and shown to admins).
    pub reason: String,
}

impl Violation {
    /// A violation of `field` for `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

/// Joins a path and a child name with a dot (`""` + `a` = `a`).
pub(crate) fn join(parent: &str, child: impl std::fmt::Display) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}
