//! The closed vocabularies of the documents: kinds, roles, statuses, symptoms… Each is a
//! Rust enum whose wire string (in automerge documents, JSON and TypeScript) is written
//! once, next to the variant, by the `names!` macro, so the string forms cannot drift
//! between `Display`, `FromStr`, serde and the generated TypeScript union.

use std::fmt;
use std::str::FromStr;

/// A string is not one of the names of a vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownName {
    /// Which vocabulary, e.g. "kind".
    pub what: &'static str,
    /// The refused string (cut to 40 characters).
    pub value: String,
}

macro_rules! names {
    (
        $(#[$meta:meta])*
        $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $s:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, ts_rs::TS,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $s)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire string.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($s => Ok($name::$variant),)+
                    other => Err(UnknownName { what: $what, value: other.chars().take(40).collect() }),
                }
            }
        }

        $crate::domain::am_json::via_json!($name);
    };
}

names! {
    /// What a document is: the root `kind` of every Linli document.
    Kind("kind") {
        Household = "household",
        Task = "task",
        Episode = "episode",
        /// A medic's notes on one episode, for the grid's medics only (DESIGN §9).
        Medical = "medical",
        /// The check-ins of one episode, for its volunteer and the grid's medics (DESIGN §9).
        Readings = "readings",
        GridIndex = "grid-index",
        /// A grid's episodes and the households with an open episode, for its medics.
        MedicIndex = "medic-index",
        Inbox = "inbox",
    }
}

impl Kind {
    /// The schema version this build writes and accepts for documents of this kind (their
    /// root `schema`). A store written with older versions is migrated when the server
    /// opens it (`server/src/migrate.rs`): `episode` 2 moved the medics' notes into a
    /// `medical` document of their own, `episode` 3 its check-ins into a `readings` one.
    #[must_use]
    pub const fn schema_version(self) -> u64 {
        match self {
            Kind::Episode => 3,
            Kind::Household
            | Kind::Task
            | Kind::Medical
            | Kind::Readings
            | Kind::GridIndex
            | Kind::MedicIndex
            | Kind::Inbox => 1,
        }
    }
}

names! {
    /// What a user may do (DESIGN §4).
    Role("role") {
        /// The whole community.
        Admin = "admin",
        /// Grid coordinator (网格员): their grids.
        Coordinator = "coordinator",
        /// Reads episodes and alerts of their grids, writes medical notes.
        Medic = "medic",
        /// What is assigned to them.
        Volunteer = "volunteer",
    }
}

names! {
    /// The plan's three risk levels of an area (低/中/高风险); each sets a policy
    /// ([`RiskLevel::policy`]).
    RiskLevel("risk level") {
        Low = "low",
        Medium = "medium",
        High = "high",
    }
}

/// What a grid's risk level asks of its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct RiskPolicy {
    /// Health check-ins per day for people in home isolation.
    pub checkins_per_day: u32,
    /// Deliveries are left at the door, without contact.
    pub contactless: bool,
}

impl RiskLevel {
    /// Low risk: one check-in a day. Medium and high: morning and evening temperature,
    /// and contactless delivery (the plan's closed management of medium/high-risk areas).
    #[must_use]
    pub fn policy(self) -> RiskPolicy {
        match self {
            RiskLevel::Low => RiskPolicy { checkins_per_day: 1, contactless: false },
            RiskLevel::Medium | RiskLevel::High => RiskPolicy { checkins_per_day: 2, contactless: true },
        }
    }
}

names! {
    /// Special-care groups of the plan: elderly living alone, children without guardians,
    /// disabled people, chronic-disease patients.
    CareFlag("care flag") {
        ElderlyAlone = "elderly_alone",
        ChildUnattended = "child_unattended",
        Disabled = "disabled",
        Chronic = "chronic",
    }
}

names! {
    /// What a delivery carries.
    Category("category") {
        Food = "food",
        Medicine = "medicine",
        Supplies = "supplies",
    }
}

names! {
    /// How soon a delivery is needed; sorts most urgent first.
    Priority("priority") {
        Urgent = "urgent",
        High = "high",
        Normal = "normal",
    }
}

names! {
    /// Where a delivery stands: new → assigned → accepted → picked_up → delivered | failed →
    /// confirmed, or cancelled before delivery (see `transition_allowed`).
    TaskStatus("task status") {
        New = "new",
        Assigned = "assigned",
        Accepted = "accepted",
        PickedUp = "picked_up",
        Delivered = "delivered",
        Failed = "failed",
        Confirmed = "confirmed",
        Cancelled = "cancelled",
    }
}

impl TaskStatus {
    /// Work still to do: not delivered, failed, confirmed or cancelled.
    #[must_use]
    pub fn is_open(self) -> bool {
        matches!(self, Self::New | Self::Assigned | Self::Accepted | Self::PickedUp)
    }
}

names! {
    /// Why a person is under home medical observation.
    Reason("reason") {
        /// Returned from a high-risk area.
        Returnee = "returnee",
        /// Close contact of a confirmed case.
        CloseContact = "close_contact",
        /// Home isolation ordered for another reason.
        HomeIsolation = "home_isolation",
    }
}

names! {
    /// Where an observation episode stands.
    EpisodeStatus("episode status") {
        Active = "active",
        /// A medic has flagged it for attention.
        Escalated = "escalated",
        Closed = "closed",
    }
}

names! {
    /// How a check-in was taken.
    Method("method") {
        /// At the door.
        Visit = "visit",
        /// By telephone.
        Phone = "phone",
        /// Reported by the person themself.
        SelfReport = "self",
    }
}

names! {
    /// The plan's symptom list: fever, fatigue, cough, sore throat, sneezing, diarrhoea,
    /// vomiting, jaundice, rash, conjunctival congestion (发热、乏力、咳嗽、咽痛、打喷嚏、腹泻、
    /// 呕吐、黄疸、皮疹、结膜充血), and other.
    Symptom("symptom") {
        Fever = "fever",
        Fatigue = "fatigue",
        Cough = "cough",
        SoreThroat = "sore_throat",
        Sneezing = "sneezing",
        Diarrhoea = "diarrhoea",
        Vomiting = "vomiting",
        Jaundice = "jaundice",
        Rash = "rash",
        ConjunctivalCongestion = "conjunctival_congestion",
        Other = "other",
    }
}

names! {
    /// What an alert is about (DESIGN §5).
    AlertKind("alert kind") {
        /// A check-in with a temperature of 37.3 °C or more.
        Fever = "fever",
        /// A check-in with any symptom.
        Symptoms = "symptoms",
        /// Abnormal on three or more consecutive days.
        ThreeDaysAbnormal = "three_days_abnormal",
        /// A check-in slot passed without a check-in.
        MissedCheckin = "missed_checkin",
        /// A delivery past due and not done.
        OverdueDelivery = "overdue_delivery",
    }
}

names! {
    /// How soon an alert needs somebody (triage): `red` first, then `amber`, then `info`
    /// (declaration order is the order of the alert list).
    Severity("severity") {
        /// Act now: a fever of 38.5 °C or more, abnormal three days running, an urgent
        /// delivery overdue.
        Red = "red",
        /// Look today: a fever, symptoms, a missed check-in, a high-priority delivery overdue.
        Amber = "amber",
        /// For information: an ordinary delivery overdue.
        Info = "info",
    }
}

impl Default for Severity {
    /// Alerts stored before severities existed count as `amber`.
    fn default() -> Self {
        Severity::Amber
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_display_fromstr_and_serde() {
        fn check<T>(all: &[T])
        where
            T: Copy + fmt::Display + FromStr<Err = UnknownName> + PartialEq + fmt::Debug + serde::Serialize,
            T: serde::de::DeserializeOwned,
        {
            for v in all {
                let s = v.to_string();
                assert_eq!(s.parse::<T>().unwrap(), *v);
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::Value::String(s.clone()));
                assert_eq!(serde_json::from_value::<T>(serde_json::Value::String(s)).unwrap(), *v);
            }
        }
        check(Kind::ALL);
        check(Role::ALL);
        check(CareFlag::ALL);
        check(Category::ALL);
        check(Priority::ALL);
        check(TaskStatus::ALL);
        check(Reason::ALL);
        check(EpisodeStatus::ALL);
        check(Method::ALL);
        check(Symptom::ALL);
        check(AlertKind::ALL);
        check(Severity::ALL);
    }

    #[test]
    fn documented_wire_strings() {
        assert_eq!(Kind::GridIndex.to_string(), "grid-index");
        assert_eq!(Kind::MedicIndex.to_string(), "medic-index");
        assert_eq!(TaskStatus::PickedUp.to_string(), "picked_up");
        assert_eq!(Method::SelfReport.to_string(), "self");
        assert_eq!(Symptom::ConjunctivalCongestion.to_string(), "conjunctival_congestion");
        assert_eq!(CareFlag::ChildUnattended.to_string(), "child_unattended");
        assert_eq!(Symptom::ALL.len(), 11);
    }

    #[test]
    fn unknown_names_are_refused_and_named() {
        let e = "grid_index".parse::<Kind>().unwrap_err();
        assert_eq!(e.to_string(), "unknown kind `grid_index`");
        assert!("Admin".parse::<Role>().is_err());
        assert!("".parse::<TaskStatus>().is_err());
    }
}
