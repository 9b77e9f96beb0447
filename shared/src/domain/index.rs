//! Server-authored documents that list work: `grid-index` (one per grid, for its
//! coordinators), `medic-index` (one per grid, for its medics: episodes and the
//! households with an open episode, nothing of deliveries) and `inbox` (one per user:
//! what they work on now). A phone
//! opens its list at start and `find()`s every id in it, so all its work is on the phone.
//! Rows are short and non-sensitive: no names, no health data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::check::{at_most, timestamp, Check};
use super::household::Household;
use super::names::{Kind, Priority};
use super::violation::{join, Violation};
use crate::DocumentId;

/// The open (and recently closed) work of one grid. Written only by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct GridIndex {
    /// Always `"grid-index"`.
    #[ts(type = "\"grid-index\"")]
    pub kind: Kind,
    pub schema: u64,
    pub grid: String,
    /// Rows by DocumentId.
    pub docs: BTreeMap<String, SummaryRow>,
}

/// What a grid's medics may see of its work (DESIGN §9): its episodes, and the
/// households that have an open episode. Written only by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct MedicIndex {
    /// Always `"medic-index"`.
    #[ts(type = "\"medic-index\"")]
    pub kind: Kind,
    pub schema: u64,
    pub grid: String,
    /// Rows by DocumentId.
    pub docs: BTreeMap<String, SummaryRow>,
}

/// What one user works on now. Written only by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Inbox {
    /// Always `"inbox"`.
    #[ts(type = "\"inbox\"")]
    pub kind: Kind,
    pub schema: u64,
    /// The user's first grid, or `""` for a user without one (an admin).
    pub grid: String,
    /// The user id this inbox belongs to.
    pub user: String,
    /// Rows by DocumentId.
    pub docs: BTreeMap<String, SummaryRow>,
}

/// One line of a list: enough to sort, filter and show a work item without opening it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct SummaryRow {
    pub kind: Kind,
    /// The document's status string (`assigned`, `escalated`…).
    pub status: String,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
    /// ms since the epoch.
    #[serde(default)]
    pub due: Option<i64>,
    /// Unresolved alerts on the document (filled in by the server from its alert store).
    pub alerts: u32,
    /// The household's DocumentId.
    #[serde(default)]
    pub household: Option<String>,
    /// Short and non-sensitive: the kind of work (`"food"`, `"check-in"`), in a grid index
    /// after the address (`"3-2-501 food"`); never a name or health data. Inboxes and
    /// medic indexes carry no address, since their history outlives their reader's access
    /// to the household (DESIGN §9).
    pub title: String,
}

super::am_json::via_json!(GridIndex);
super::am_json::via_json!(MedicIndex);
super::am_json::via_json!(Inbox);
super::am_json::via_json!(SummaryRow);

impl SummaryRow {
    /// Puts the household's address label in front of the title ("food" → "3-2-501 food").
    #[must_use]
    pub fn with_address(mut self, household: &Household) -> Self {
        let label = household.address_label();
        if !label.is_empty() {
            self.title = format!("{label} {}", self.title);
        }
        self
    }
}

pub(crate) fn validate_rows(c: Check<'_>, rows: &BTreeMap<String, SummaryRow>) -> Result<(), Violation> {
    at_most("docs", rows.len(), c.limits.max_index_rows)?;
    for (id, row) in rows {
        let field = join("docs", id);
        id.parse::<DocumentId>().map_err(|e| Violation::new(&field, format!("not a DocumentId: {e}")))?;
        if matches!(row.kind, Kind::GridIndex | Kind::MedicIndex | Kind::Inbox) {
            return Err(Violation::new(join(&field, "kind"), "lists list work, not other lists"));
        }
        c.short_required(&join(&field, "status"), &row.status)?;
        c.opt_user(&join(&field, "assignee"), row.assignee.as_deref())?;
        if let Some(due) = row.due {
            timestamp(&join(&field, "due"), due)?;
        }
        if let Some(h) = &row.household {
            h.parse::<DocumentId>()
                .map_err(|e| Violation::new(join(&field, "household"), format!("not a DocumentId: {e}")))?;
        }
        c.short(&join(&field, "title"), &row.title)?;
    }
    Ok(())
}
