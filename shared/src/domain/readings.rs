//! `readings` documents: the check-ins of one episode (temperatures, symptoms, notes),
//! apart from the episode itself, because the episode is also on the phones of the grid's
//! coordinators and of the admins, and DESIGN §9 gives the readings to the assigned
//! volunteer and the grid's medics alone. The server makes one for every episode, links it
//! from the episode's `readings` field, and keeps in it a copy of what the check-in rules
//! and the volunteer's access need from the episode (`start`, `end`, `slots`, `assignee`,
//! `status`), so that the document decides its own reads and writes. Phones write only
//! `checkins`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::check::Check;
use super::episode::{validate_checkins, validate_days, Checkin, Episode};
use super::names::{EpisodeStatus, Kind};
use super::violation::Violation;
use crate::DocumentId;

/// The readings of one episode (DESIGN §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    /// Always `"readings"`.
    #[ts(type = "\"readings\"")]
    pub kind: Kind,
    /// Schema version: 1.
    pub schema: u64,
    pub grid: String,
    /// The episode these check-ins belong to. Never changes.
    #[ts(type = "string")]
    pub episode: DocumentId,
    /// The episode's household. Never changes.
    #[ts(type = "string")]
    pub household: DocumentId,
    /// The episode's first day, copied by the server.
    pub start: String,
    /// The episode's last day, copied by the server.
    pub end: String,
    /// The episode's check-ins a day, copied by the server.
    pub slots: u32,
    /// The episode's volunteer, copied by the server: who checks in, and reads this.
    #[serde(default)]
    pub assignee: Option<String>,
    /// The episode's status, copied by the server: no check-ins once it is closed.
    pub status: EpisodeStatus,
    /// Check-ins by `"YYYY-MM-DD/<slot>"` (slot counts from 0).
    pub checkins: BTreeMap<String, Checkin>,
}

super::am_json::via_json!(Readings);

impl Readings {
    /// The readings document the server makes for `episode` (id `episode_id`), holding
    /// `checkins`.
    #[must_use]
    pub fn for_episode(episode_id: DocumentId, episode: &Episode, checkins: BTreeMap<String, Checkin>) -> Self {
        Readings {
            kind: Kind::Readings,
            schema: Kind::Readings.schema_version(),
            grid: episode.grid.clone(),
            episode: episode_id,
            household: episode.household,
            start: episode.start.clone(),
            end: episode.end.clone(),
            slots: episode.slots,
            assignee: episode.assignee.clone(),
            status: episode.status,
            checkins,
        }
    }

    /// These readings with the server's copies of `episode`'s fields brought up to date;
    /// `None` if they already are.
    #[must_use]
    pub fn mirroring(&self, episode: &Episode) -> Option<Readings> {
        let next = Readings {
            grid: episode.grid.clone(),
            start: episode.start.clone(),
            end: episode.end.clone(),
            slots: episode.slots,
            assignee: episode.assignee.clone(),
            status: episode.status,
            ..self.clone()
        };
        (next != *self).then_some(next)
    }

    /// Open: the episode is not closed.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.status != EpisodeStatus::Closed
    }

    pub(crate) fn validate_fields(&self, c: Check<'_>) -> Result<(), Violation> {
        validate_days(c, &self.start, &self.end, self.slots)?;
        c.opt_user("assignee", self.assignee.as_deref())?;
        validate_checkins(c, &self.checkins, &self.start, &self.end)
    }
}
