//! `medical` documents: the medics' notes on one episode, apart from the episode itself,
//! because the episode is also on the phones of the grid's coordinators and of the
//! volunteer doing the check-ins, and medical notes are for the grid's medics only
//! (DESIGN §9). The server makes one for every episode and links it from the episode's
//! `medical` field; medics append to `notes`; nobody changes or removes a note.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::check::{timestamp, Check};
use super::episode::MedicNote;
use super::names::Kind;
use super::violation::Violation;
use crate::DocumentId;

/// The medical record of one episode (DESIGN §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Medical {
    /// Always `"medical"`.
    #[ts(type = "\"medical\"")]
    pub kind: Kind,
    /// Schema version: 1.
    pub schema: u64,
    pub grid: String,
    /// The episode these notes are about. Never changes.
    #[ts(type = "string")]
    pub episode: DocumentId,
    /// The episode's household. Never changes.
    #[ts(type = "string")]
    pub household: DocumentId,
    /// Medics' notes, append-only.
    pub notes: Vec<MedicNote>,
}

super::am_json::via_json!(Medical);

impl Medical {
    /// The empty record the server makes for an episode.
    #[must_use]
    pub fn for_episode(grid: &str, episode: DocumentId, household: DocumentId) -> Self {
        Medical {
            kind: Kind::Medical,
            schema: Kind::Medical.schema_version(),
            grid: grid.to_owned(),
            episode,
            household,
            notes: Vec::new(),
        }
    }

    pub(crate) fn validate_fields(&self, c: Check<'_>) -> Result<(), Violation> {
        c.list("notes", self.notes.len())?;
        for (i, n) in self.notes.iter().enumerate() {
            timestamp(&format!("notes.{i}.at"), n.at)?;
            c.user(&format!("notes.{i}.by"), &n.by)?;
            c.text(&format!("notes.{i}.text"), &n.text)?;
        }
        Ok(())
    }
}
