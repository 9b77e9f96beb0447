//! `task` documents: one per delivery of food, medicine or supplies to a household. The
//! coordinator creates and assigns it; the assigned volunteer moves its status and
//! appends to its log.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::check::{timestamp, Check};
use super::names::{Category, Kind, Priority, TaskStatus};
use super::violation::Violation;
use crate::DocumentId;

/// A delivery (DESIGN §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Always `"task"`.
    #[ts(type = "\"task\"")]
    pub kind: Kind,
    pub schema: u64,
    pub grid: String,
    /// The household delivered to: a bare DocumentId (no `automerge:` prefix). Never changes.
    #[ts(type = "string")]
    pub household: DocumentId,
    pub category: Category,
    pub items: Vec<Item>,
    pub priority: Priority,
    /// When it is due, ms since the epoch.
    pub due: i64,
    /// Leave at the door without contact.
    pub contactless: bool,
    /// The volunteer's user id; `null` while unassigned.
    #[serde(default)]
    pub assignee: Option<String>,
    pub status: TaskStatus,
    /// Why it failed; required when `status` is `failed`.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// Append-only history of status moves and notes.
    pub log: Vec<LogEntry>,
    /// User id of the creator. Never changes.
    pub created_by: String,
    /// Creation time, ms since the epoch. Never changes.
    pub created_at: i64,
}

/// One line of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub name: String,
    /// How many; more than zero.
    pub qty: f64,
    /// "kg", "box", "盒"…; may be empty.
    pub unit: String,
}

/// A status move (`from` ≠ `to`) or a note (`from` = `to`), by whom and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    /// ms since the epoch.
    pub at: i64,
    /// User id.
    pub by: String,
    pub from: TaskStatus,
    pub to: TaskStatus,
    pub note: String,
}

super::am_json::via_json!(Task);
super::am_json::via_json!(Item);
super::am_json::via_json!(LogEntry);

impl Task {
    pub(crate) fn validate_fields(&self, c: Check<'_>) -> Result<(), Violation> {
        c.list("items", self.items.len())?;
        for (i, item) in self.items.iter().enumerate() {
            c.short_required(&format!("items.{i}.name"), &item.name)?;
            if !(item.qty.is_finite() && item.qty > 0.0) {
                return Err(Violation::new(format!("items.{i}.qty"), "must be a number above zero"));
            }
            c.short(&format!("items.{i}.unit"), &item.unit)?;
        }
        timestamp("due", self.due)?;
        c.opt_user("assignee", self.assignee.as_deref())?;
        if let Some(reason) = &self.failure_reason {
            c.text("failure_reason", reason)?;
        }
        c.list("log", self.log.len())?;
        for (i, e) in self.log.iter().enumerate() {
            timestamp(&format!("log.{i}.at"), e.at)?;
            c.user(&format!("log.{i}.by"), &e.by)?;
            c.text(&format!("log.{i}.note"), &e.note)?;
        }
        c.user("created_by", &self.created_by)?;
        timestamp("created_at", self.created_at)?;
        self.validate_consistency()
    }

    /// The status and the assignment agree: a task waiting in `new` has nobody on it,
    /// one in the volunteer's hands has somebody, a failed one says why.
    fn validate_consistency(&self) -> Result<(), Violation> {
        use TaskStatus as S;
        match (self.status, &self.assignee) {
            (S::New, Some(_)) => {
                return Err(Violation::new("assignee", "a `new` task has no assignee: set status `assigned` too"))
            }
            (S::Assigned | S::Accepted | S::PickedUp, None) => {
                return Err(Violation::new("assignee", format!("a task in `{}` needs an assignee", self.status)))
            }
            _ => {}
        }
        if self.status == S::Failed && self.failure_reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(Violation::new("failure_reason", "a failed delivery needs a reason"));
        }
        Ok(())
    }
}
