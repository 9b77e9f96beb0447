//! `household` documents: one per household, written by the grid's coordinators. The
//! address and members are what a volunteer needs at the door; the care flags mark the
//! plan's special-care groups so their needs come first.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::check::{at_most, Check};
use super::names::{CareFlag, Kind};
use super::violation::Violation;

/// A household of the community (DESIGN §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Household {
    /// Always `"household"`.
    #[ts(type = "\"household\"")]
    pub kind: Kind,
    /// Schema version: 1.
    pub schema: u64,
    /// The grid (网格) the household belongs to.
    pub grid: String,
    /// Building (楼), e.g. "3".
    pub building: String,
    /// Unit (单元), e.g. "2"; may be empty.
    pub unit: String,
    /// Room (室), e.g. "501".
    pub room: String,
    /// Contact telephone.
    pub phone: String,
    /// Free notes for the volunteers (access, pets, language…).
    pub notes: String,
    /// The people living there.
    pub members: Vec<Member>,
}

/// A person of a household.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub name: String,
    /// Age in years, 0–150.
    pub age: u32,
    /// Special-care groups this person belongs to; no duplicates.
    pub flags: Vec<CareFlag>,
    /// Regular medicines, so deliveries can include them.
    pub medicines: Vec<String>,
}

super::am_json::via_json!(Household);
super::am_json::via_json!(Member);

/// Oldest age accepted.
pub const MAX_AGE: u32 = 150;

impl Household {
    /// The short address shown in lists: building-unit-room, empty parts left out
    /// ("3-2-501"). It names a door, not a person.
    #[must_use]
    pub fn address_label(&self) -> String {
        [&self.building, &self.unit, &self.room]
            .into_iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    }

    pub(crate) fn validate_fields(&self, c: Check<'_>) -> Result<(), Violation> {
        c.short("building", &self.building)?;
        c.short("unit", &self.unit)?;
        c.short("room", &self.room)?;
        c.short("phone", &self.phone)?;
        c.text("notes", &self.notes)?;
        c.list("members", self.members.len())?;
        for (i, m) in self.members.iter().enumerate() {
            c.short(&format!("members.{i}.name"), &m.name)?;
            if m.age > MAX_AGE {
                return Err(Violation::new(format!("members.{i}.age"), format!("must be at most {MAX_AGE}")));
            }
            at_most(&format!("members.{i}.flags"), m.flags.len(), CareFlag::ALL.len())?;
            if let Some(dup) = first_duplicate(&m.flags) {
                return Err(Violation::new(format!("members.{i}.flags"), format!("`{dup}` is listed twice")));
            }
            c.list(&format!("members.{i}.medicines"), m.medicines.len())?;
            for (j, med) in m.medicines.iter().enumerate() {
                c.short_required(&format!("members.{i}.medicines.{j}"), med)?;
            }
        }
        Ok(())
    }
}

/// The first value that appears twice in `items`.
pub(crate) fn first_duplicate<T: PartialEq + Copy>(items: &[T]) -> Option<T> {
    items.iter().enumerate().find(|(i, x)| items[..*i].contains(x)).map(|(_, x)| *x)
}
