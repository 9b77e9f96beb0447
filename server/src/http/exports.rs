//! CSV exports (DESIGN §9, issue 14): `GET /api/export/{tasks|episodes|households}.csv
//! ?purpose=…`. An export needs a purpose, which is audited with who made it, which export
//! and how many rows; the file itself says who made it, when and why; its columns are
//! those the exporter's role may see ([`columns`], the one place that decides), so a
//! column a role may not see is absent, not masked. Every row's document of an audited
//! kind counts as a read of it ([`crate::read_audit`]).
//!
//! The files are made for Excel and WPS on Chinese Windows: a UTF-8 byte order mark (or
//! they are read as GBK), Chinese column names and values (the PWA's own `zh` names, so
//! the two never drift), local dates and times, usernames rather than ids, and phone
//! numbers that stay text ([`phone_cell`]). Every cell passes [`csv_cell`].

use super::caller::{authenticate, Caller};
use super::work::oversees;
use super::{ApiError, AppState};
use crate::read_audit::Via;
use crate::store::{Alert, AlertStatus, Holder, ProjRow};
use actix_web::{web, HttpRequest, HttpResponse};
use linli_shared::domain::{
    AlertKind, Checkin, DomainDoc, DomainLimits, Episode, EpisodeStatus, Household, Kind, Role, Task, FEVER_THRESHOLD_C,
};
use linli_shared::DocumentId;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// Longest purpose of an export, in characters (after trimming).
pub const MAX_PURPOSE_CHARS: usize = 200;

/// Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection"):
/// `=`, `+`, `-`, `@`, and tab and carriage return, which some importers strip before
/// looking at the next character; plus their fullwidth forms, which Excel and WPS in a
/// Chinese locale (IME input) also accept as a formula's start.
const FORMULA_STARTS: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];

/// One exported cell, neutralised against CSV injection: a cell that would start a formula
/// gets a leading `'`, which spreadsheets show as text and do not evaluate. "Would start"
/// also covers a formula character after leading whitespace (ASCII or the ideographic
/// space U+3000), since some spreadsheets trim it on import. Any other cell is unchanged,
/// so ids, dates and numbers read as before. Quoting of commas, quotes and line breaks is
/// the CSV writer's job, not this function's.
pub fn csv_cell(cell: String) -> String {
    let first = cell.trim_start_matches([' ', '\n', '\u{3000}']).chars().next();
    if first.is_some_and(|c| FORMULA_STARTS.contains(&c)) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// A phone number as a cell Excel keeps as text. Excel turns an all-digit cell into a
/// number (`013912345678` loses its zero, `13800138000` shows as `1.38E+10`). The usual
/// tricks do not fit: `="…"` is a formula (and `csv_cell` rightly neutralises it, leaving
/// `'="…"` on screen), a leading `'` is shown as it is in a CSV, and a leading tab is
/// neutralised the same way (and would be a stray character in the value). Digits grouped
/// with spaces, as phone numbers are written anyway (`138 0013 8000`), are not a number to
/// Excel or WPS: the cell stays text, leading zeros and all, nothing invisible is added,
/// and a dialer ignores the spaces. Anything but a plain run of digits is left as written.
pub fn phone_cell(phone: &str) -> String {
    let digits = phone.trim();
    if digits.len() <= 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return phone.to_owned();
    }
    // 11 digits (mobile, or area code and number): 3-4-4; otherwise groups of 4 from the
    // right.
    let first = if digits.len() == 11 { 3 } else { digits.len() % 4 };
    let (head, rest) = digits.split_at(first);
    let mut groups: Vec<&str> = if head.is_empty() { Vec::new() } else { vec![head] };
    groups.extend(rest.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or_default()));
    groups.join(" ")
}

/// The purpose given for an export: 1–[`MAX_PURPOSE_CHARS`] characters after trimming,
/// no control characters.
pub fn purpose(raw: Option<&str>) -> Result<String, ApiError> {
    let p = raw.unwrap_or("").trim();
    let bad = |why: &str| {
        ApiError::BadRequest(format!(
            "an export needs a purpose: ?purpose=<why this list is needed, 1–{MAX_PURPOSE_CHARS} characters>; {why}"
        ))
    };
    if p.is_empty() {
        return Err(bad("none was given"));
    }
    if p.chars().count() > MAX_PURPOSE_CHARS {
        return Err(bad("this one is too long"));
    }
    if p.chars().any(char::is_control) {
        return Err(bad("it may not hold control characters (line breaks, tabs…)"));
    }
    Ok(p.to_owned())
}

/// One column of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Id,
    Grid,
    Household,
    Address,
    Category,
    Items,
    Priority,
    Due,
    Contactless,
    Assignee,
    Status,
    FailureReason,
    CreatedBy,
    CreatedAt,
    Person,
    Age,
    Reason,
    Start,
    End,
    Slots,
    Checkins,
    /// normal / abnormal / missed, without values.
    Health,
    OpenAlerts,
    LatestTemp,
    Symptoms,
    CheckinNote,
    MedicNotes,
    Building,
    Unit,
    Room,
    Phone,
    Notes,
    Members,
    CareFlags,
    Medicines,
}

impl Col {
    /// The column's name in the file.
    pub fn label(self) -> &'static str {
        match self {
            Col::Id => "编号",
            Col::Grid => "网格",
            Col::Household => "住户编号",
            Col::Address => "地址",
            Col::Category => "类别",
            Col::Items => "物品",
            Col::Priority => "优先级",
            Col::Due => "截止时间",
            Col::Contactless => "无接触配送",
            Col::Assignee => "负责人",
            Col::Status => "状态",
            Col::FailureReason => "未送达原因",
            Col::CreatedBy => "创建人",
            Col::CreatedAt => "创建时间",
            Col::Person => "姓名",
            Col::Age => "年龄",
            Col::Reason => "观察原因",
            Col::Start => "开始日期",
            Col::End => "结束日期",
            Col::Slots => "每日打卡次数",
            Col::Checkins => "打卡次数",
            Col::Health => "健康状况",
            Col::OpenAlerts => "未处理预警",
            Col::LatestTemp => "最近体温(°C)",
            Col::Symptoms => "最近症状",
            Col::CheckinNote => "最近打卡备注",
            Col::MedicNotes => "医护备注",
            Col::Building => "楼号",
            Col::Unit => "单元",
            Col::Room => "房号",
            Col::Phone => "联系电话",
            Col::Notes => "备注",
            Col::Members => "成员",
            Col::CareFlags => "重点关照",
            Col::Medicines => "常用药",
        }
    }
}

/// The columns of an export of `kind` for `role` (DESIGN §9): the one place that decides.
/// Coordinators and admins get no readings and no medical notes — an episode's health
/// status and open alerts only; medics get readings and notes, and no tasks; volunteers
/// export nothing.
pub fn columns(kind: Kind, role: Role) -> Result<Vec<Col>, ApiError> {
    use Col::*;
    if role == Role::Volunteer {
        return Err(ApiError::Forbidden("volunteers cannot export"));
    }
    Ok(match kind {
        Kind::Task if role == Role::Medic => return Err(ApiError::Forbidden("medics export episodes and households")),
        Kind::Task => vec![
            Id,
            Grid,
            Household,
            Address,
            Category,
            Items,
            Priority,
            Due,
            Contactless,
            Assignee,
            Status,
            FailureReason,
            CreatedBy,
            CreatedAt,
        ],
        Kind::Episode => {
            let mut cols =
                vec![Id, Grid, Household, Address, Person, Age, Reason, Start, End, Slots, Assignee, Status, Checkins];
            cols.extend([Health, OpenAlerts]);
            if role == Role::Medic {
                cols.extend([LatestTemp, Symptoms, CheckinNote, MedicNotes]);
            }
            cols
        }
        Kind::Household => {
            vec![Id, Grid, Building, Unit, Room, Phone, Notes, Members, CareFlags, Medicines]
        }
        Kind::Medical | Kind::Readings | Kind::GridIndex | Kind::MedicIndex | Kind::Inbox => {
            return Err(ApiError::NotFound("exports are tasks.csv, episodes.csv and households.csv"))
        }
    })
}

/// The PWA's Chinese names (`web/src/i18n/zh.ts`, lines `"key": "value",`), so that an
/// export says 已送达 where the app does.
fn zh(key: &str) -> Option<&'static str> {
    static NAMES: std::sync::OnceLock<HashMap<&'static str, &'static str>> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            include_str!("../../../web/src/i18n/zh.ts")
                .lines()
                .filter_map(|line| {
                    let rest = line.trim().strip_prefix('"')?;
                    let (k, rest) = rest.split_once("\": \"")?;
                    let v = rest.trim_end_matches(',').strip_suffix('"')?;
                    Some((k, v))
                })
                .collect()
        })
        .get(key)
        .copied()
}

/// The Chinese name of a vocabulary value, e.g. `name("status", "delivered")` → 已送达;
/// the code itself if the app has no name for it.
fn name(prefix: &str, code: &str) -> String {
    zh(&format!("{prefix}.{code}")).map_or_else(|| code.to_owned(), str::to_owned)
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    purpose: Option<String>,
}

/// What the rows are rendered with: names of users, the local clock, the households met.
struct Ctx<'a> {
    state: &'a AppState,
    role: Role,
    usernames: HashMap<String, String>,
    limits: DomainLimits,
    households: HashMap<DocumentId, Option<Household>>,
    alerts: HashMap<String, Vec<Alert>>,
}

impl Ctx<'_> {
    fn username(&self, id: &str) -> String {
        self.usernames.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }

    /// `YYYY-MM-DD HH:MM`, community local time.
    fn local(&self, ms: i64) -> String {
        self.limits.local_datetime(ms).map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
    }

    async fn household(&mut self, id: DocumentId) -> Result<Option<&Household>, ApiError> {
        if !self.households.contains_key(&id) {
            let h = match crate::projector::load_doc(&self.state.store, &id).await? {
                Some(DomainDoc::Household(h)) => Some(h),
                _ => None,
            };
            self.households.insert(id, h);
        }
        Ok(self.households.get(&id).and_then(Option::as_ref))
    }

    async fn address(&mut self, id: DocumentId) -> Result<String, ApiError> {
        Ok(self.household(id).await?.map(|h| format!("{}号楼{}单元{}", h.building, h.unit, h.room)).unwrap_or_default())
    }
}

fn open_alerts<'a>(ctx: &'a Ctx<'_>, doc: &str) -> impl Iterator<Item = &'a Alert> {
    ctx.alerts.get(doc).into_iter().flatten().filter(|a| a.status != AlertStatus::Resolved)
}

/// 正常 / 异常 / 漏报: abnormal when the latest check-in or an open alert says so, missed
/// when a check-in is missing, never a value.
fn health(ctx: &Ctx<'_>, doc: &str, checkins: &BTreeMap<String, Checkin>) -> &'static str {
    let latest = checkins.values().max_by_key(|c| c.at);
    let abnormal_reading = latest.is_some_and(|c| c.temp_c >= FEVER_THRESHOLD_C || !c.symptoms.is_empty());
    let open: Vec<AlertKind> = open_alerts(ctx, doc).map(|a| a.kind).collect();
    if abnormal_reading
        || open.iter().any(|k| matches!(k, AlertKind::Fever | AlertKind::Symptoms | AlertKind::ThreeDaysAbnormal))
    {
        "异常"
    } else if open.contains(&AlertKind::MissedCheckin) {
        "漏报"
    } else {
        "正常"
    }
}

async fn task_cell(ctx: &mut Ctx<'_>, col: Col, doc: &str, t: &Task) -> Result<String, ApiError> {
    Ok(match col {
        Col::Id => doc.to_owned(),
        Col::Grid => t.grid.clone(),
        Col::Household => t.household.to_string(),
        Col::Address => ctx.address(t.household).await?,
        Col::Category => name("category", t.category.as_str()),
        Col::Items => t.items.iter().map(|i| format!("{} {}{}", i.name, i.qty, i.unit)).collect::<Vec<_>>().join("; "),
        Col::Priority => name("priority", t.priority.as_str()),
        Col::Due => ctx.local(t.due),
        Col::Contactless => if t.contactless { "是" } else { "否" }.to_owned(),
        Col::Assignee => t.assignee.as_deref().map(|a| ctx.username(a)).unwrap_or_default(),
        Col::Status => name("status", t.status.as_str()),
        Col::FailureReason => t.failure_reason.clone().unwrap_or_default(),
        Col::CreatedBy => ctx.username(&t.created_by),
        Col::CreatedAt => ctx.local(t.created_at),
        _ => String::new(),
    })
}

/// A cell of an episode's row; `checkins` are its readings'.
async fn episode_cell(
    ctx: &mut Ctx<'_>,
    col: Col,
    doc: &str,
    e: &Episode,
    checkins: &BTreeMap<String, Checkin>,
) -> Result<String, ApiError> {
    let latest = checkins.values().max_by_key(|c| c.at);
    Ok(match col {
        Col::Id => doc.to_owned(),
        Col::Grid => e.grid.clone(),
        Col::Household => e.household.to_string(),
        // A medic sees where the person lives while the episode is open (DESIGN §9).
        Col::Address if ctx.role == Role::Medic && e.status == EpisodeStatus::Closed => String::new(),
        Col::Address => ctx.address(e.household).await?,
        Col::Person => e.person.name.clone(),
        Col::Age => e.person.age.to_string(),
        Col::Reason => name("reason", e.reason.as_str()),
        Col::Start => e.start.clone(),
        Col::End => e.end.clone(),
        Col::Slots => e.slots.to_string(),
        Col::Assignee => e.assignee.as_deref().map(|a| ctx.username(a)).unwrap_or_default(),
        Col::Status => name("status", e.status.as_str()),
        Col::Checkins => checkins.len().to_string(),
        Col::Health => health(ctx, doc, checkins).to_owned(),
        Col::OpenAlerts => open_alerts(ctx, doc).count().to_string(),
        Col::LatestTemp => latest.map(|c| format!("{:.1}", c.temp_c)).unwrap_or_default(),
        Col::Symptoms => latest
            .map(|c| c.symptoms.iter().map(|s| name("symptom", s.as_str())).collect::<Vec<_>>().join("、"))
            .unwrap_or_default(),
        Col::CheckinNote => latest.map(|c| c.note.clone()).unwrap_or_default(),
        Col::MedicNotes => match e.medical {
            Some(id) => match crate::projector::load_doc(&ctx.state.store, &id).await? {
                Some(DomainDoc::Medical(m)) => m
                    .notes
                    .iter()
                    .map(|n| format!("{} {}：{}", ctx.local(n.at), ctx.username(&n.by), n.text))
                    .collect::<Vec<_>>()
                    .join(" | "),
                _ => String::new(),
            },
            None => String::new(),
        },
        _ => String::new(),
    })
}

async fn household_cell(ctx: &mut Ctx<'_>, col: Col, doc: &str, h: &Household) -> Result<String, ApiError> {
    // A medic sees the address, phone and access notes of a household with an open
    // episode only (DESIGN §9).
    let contact = match (ctx.role, col) {
        (Role::Medic, Col::Building | Col::Unit | Col::Room | Col::Phone | Col::Notes) => {
            let id = doc.parse::<DocumentId>().map_err(ApiError::internal)?;
            ctx.state.store.has_grant(&id, &Holder::OpenEpisode).await?
        }
        _ => true,
    };
    if !contact {
        return Ok(String::new());
    }
    Ok(match col {
        Col::Id => doc.to_owned(),
        Col::Grid => h.grid.clone(),
        Col::Building => h.building.clone(),
        Col::Unit => h.unit.clone(),
        Col::Room => h.room.clone(),
        Col::Phone => return Ok(phone_cell(&h.phone)),
        Col::Notes => h.notes.clone(),
        Col::Members => h.members.iter().map(|m| format!("{} ({})", m.name, m.age)).collect::<Vec<_>>().join("; "),
        Col::CareFlags => h
            .members
            .iter()
            .flat_map(|m| m.flags.iter().map(|f| name("flag", f.as_str())))
            .collect::<Vec<_>>()
            .join("、"),
        Col::Medicines => h.members.iter().flat_map(|m| m.medicines.iter().cloned()).collect::<Vec<_>>().join("; "),
        _ => String::new(),
    })
}

/// `GET /api/export/{tasks|episodes|households}.csv?purpose=…`
pub async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    let name = path.into_inner();
    let (kind, title) = match name.as_str() {
        "tasks.csv" => (Kind::Task, "送货任务"),
        "episodes.csv" => (Kind::Episode, "居家观察"),
        "households.csv" => (Kind::Household, "住户"),
        _ => return Err(ApiError::NotFound("exports are tasks.csv, episodes.csv and households.csv")),
    };
    let cols = columns(kind, caller.user.role)?;
    let purpose = purpose(q.purpose.as_deref())?;
    let rows: Vec<ProjRow> =
        state.store.rows(None).await?.into_iter().filter(|r| r.kind == kind && oversees(&caller, &r.grid)).collect();
    let (body, read) = render(&state, &caller, kind, title, &cols, &rows, &purpose).await?;
    // The file goes out only once its reads and the export itself are durably audited.
    state.reads.record_all(&caller.user.id, &read, Via::Api(&format!("export {name}"))).await?;
    let listed = read.iter().filter(|(k, _)| *k == kind).count();
    let detail = format!("{name}: {listed} rows; purpose: {purpose}");
    state.store.commit(vec![state.audit.entry(&caller.user.id, "export", None, detail)]).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"linli-{name}\"")))
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

/// The file, and the documents whose rows it holds.
async fn render(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    title: &str,
    cols: &[Col],
    rows: &[ProjRow],
    purpose: &str,
) -> Result<(Vec<u8>, Vec<(Kind, DocumentId)>), ApiError> {
    let usernames = state.users.list().await?.into_iter().map(|u| (u.id, u.username)).collect();
    let mut alerts: HashMap<String, Vec<Alert>> = HashMap::new();
    if kind == Kind::Episode {
        for a in state.store.alerts(None).await? {
            alerts.entry(a.doc.clone()).or_default().push(a);
        }
    }
    let limits = DomainLimits { utc_offset_minutes: state.utc_offset_minutes, ..DomainLimits::default() };
    let mut ctx = Ctx { state, role: caller.user.role, usernames, limits, households: HashMap::new(), alerts };
    let mut table = csv::Writer::from_writer(Vec::new());
    // Every cell, header included, passes through `csv_cell`: none can start a formula.
    let mut write =
        |fields: Vec<String>| table.write_record(fields.into_iter().map(csv_cell)).map_err(ApiError::internal);
    write(cols.iter().map(|c| c.label().to_owned()).collect())?;
    let (mut read, mut written) = (Vec::new(), 0);
    for row in rows {
        let Ok(id) = row.doc.parse::<DocumentId>() else { continue };
        let Some(doc) = crate::projector::load_doc(&state.store, &id).await? else { continue };
        // An episode's check-ins are in its readings: a read of its own, by every role
        // (coordinators and admins get only what they say, normal or not, and how many).
        let mut checkins = BTreeMap::new();
        if let DomainDoc::Episode(Episode { readings: Some(r), .. }) = &doc {
            if let Some(DomainDoc::Readings(readings)) = crate::projector::load_doc(&state.store, r).await? {
                checkins = readings.checkins;
                read.push((Kind::Readings, *r));
            }
        }
        let mut cells = Vec::with_capacity(cols.len());
        for &col in cols {
            let cell = match &doc {
                DomainDoc::Task(t) => task_cell(&mut ctx, col, &row.doc, t).await?,
                DomainDoc::Episode(e) => episode_cell(&mut ctx, col, &row.doc, e, &checkins).await?,
                DomainDoc::Household(h) => household_cell(&mut ctx, col, &row.doc, h).await?,
                _ => String::new(),
            };
            cells.push(cell);
        }
        write(cells)?;
        written += 1;
        read.push((kind, id));
        // The medical record the notes column read is a read of its own.
        if let (DomainDoc::Episode(Episode { medical: Some(m), .. }), true) = (&doc, cols.contains(&Col::MedicNotes)) {
            read.push((Kind::Medical, *m));
        }
    }
    let table = table.into_inner().map_err(ApiError::internal)?;
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(header_block(state, caller, title, written, purpose).await?);
    out.extend(b"\r\n");
    out.extend(table);
    Ok((out, read))
}

/// The first lines of the file: who made it, when, why, of which grids.
async fn header_block(
    state: &AppState,
    caller: &Caller,
    title: &str,
    rows: usize,
    purpose: &str,
) -> Result<Vec<u8>, ApiError> {
    let limits = DomainLimits { utc_offset_minutes: state.utc_offset_minutes, ..DomainLimits::default() };
    let now = limits.local_datetime(state.store.now_ms()).map(|t| t.format("%Y-%m-%d %H:%M").to_string());
    let offset = state.utc_offset_minutes;
    let zone = format!("UTC{}{:02}:{:02}", if offset < 0 { '-' } else { '+' }, offset.abs() / 60, offset.abs() % 60);
    let grids = match caller.user.role {
        Role::Admin => "全部网格".to_owned(),
        _ => {
            let all = state.store.grids().await?;
            caller
                .user
                .grids
                .iter()
                .map(|g| all.iter().find(|x| &x.id == g).map_or_else(|| g.clone(), |x| format!("{} {}", x.id, x.name)))
                .collect::<Vec<_>>()
                .join("、")
        }
    };
    let lines = [
        ("导出内容", title.to_owned()),
        ("导出人", format!("{}（{}）", caller.user.username, name("role", caller.user.role.as_str()))),
        ("导出时间", format!("{} ({zone})", now.unwrap_or_default())),
        ("导出目的", purpose.to_owned()),
        ("网格", grids),
        ("行数", rows.to_string()),
        ("提示", "本文件含居民个人信息，仅限上述目的使用，用后请删除".to_owned()),
    ];
    let mut w = csv::Writer::from_writer(Vec::new());
    for (k, v) in lines {
        w.write_record([csv_cell(k.to_owned()), csv_cell(v)]).map_err(ApiError::internal)?;
    }
    w.into_inner().map_err(ApiError::internal)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for cell in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "=WEBSERVICE(\"http://x\")",
            "+1+1",
            "-1+1",
            "@SUM(1)",
            "\t=1+1",
            "\r=1+1",
            "  =1+1",
            "\n=1+1",
            "\u{3000}=1+1",
            "＝1+1",
            "＋1",
            "－1",
            "＠SUM(1)",
        ] {
            assert_eq!(csv_cell(cell.to_owned()), format!("'{cell}"), "{cell:?}");
        }
    }

    #[test]
    fn other_cells_are_unchanged() {
        for cell in ["", "3", "401", "王秀英 (78)", "a=b", "1+1", "x@y", "'quoted", "2026-03-01", "***", "  text"] {
            assert_eq!(csv_cell(cell.to_owned()), cell, "{cell:?}");
        }
    }

    #[test]
    fn phone_numbers_stay_text() {
        assert_eq!(phone_cell("13800138000"), "138 0013 8000");
        assert_eq!(phone_cell("01012345678"), "010 1234 5678");
        assert_eq!(phone_cell("057188881234"), "0571 8888 1234");
        assert_eq!(phone_cell("88881234"), "8888 1234");
        assert_eq!(phone_cell("110"), "110");
        assert_eq!(phone_cell("+86 138 0013 8000"), "+86 138 0013 8000", "left as written (csv_cell neutralises)");
        assert_eq!(csv_cell(phone_cell("=1+1")), "'=1+1");
    }

    #[test]
    fn purposes_are_short_plain_text() {
        assert_eq!(purpose(Some("  物资发放核对 ")).unwrap(), "物资发放核对");
        for bad in [None, Some(""), Some("   "), Some("a\nb"), Some("a\tb")] {
            assert!(purpose(bad).is_err(), "{bad:?}");
        }
        assert!(purpose(Some(&"字".repeat(MAX_PURPOSE_CHARS))).is_ok());
        assert!(purpose(Some(&"字".repeat(MAX_PURPOSE_CHARS + 1))).is_err());
    }

    #[test]
    fn only_medics_get_readings_and_medical_notes() {
        let health = [Col::LatestTemp, Col::Symptoms, Col::CheckinNote, Col::MedicNotes];
        for role in [Role::Coordinator, Role::Admin] {
            let cols = columns(Kind::Episode, role).unwrap();
            assert!(cols.iter().all(|c| !health.contains(c)), "{role:?}: {cols:?}");
            assert!(cols.contains(&Col::Health) && cols.contains(&Col::OpenAlerts));
        }
        let medic = columns(Kind::Episode, Role::Medic).unwrap();
        assert!(health.iter().all(|c| medic.contains(c)), "{medic:?}");
        assert!(columns(Kind::Task, Role::Medic).is_err());
        for kind in [Kind::Task, Kind::Episode, Kind::Household] {
            assert!(columns(kind, Role::Volunteer).is_err());
        }
    }

    #[test]
    fn vocabulary_names_come_from_the_app() {
        use linli_shared::domain::{CareFlag, Category, Priority, Reason, Symptom, TaskStatus};
        let all: Vec<(&str, &str)> = [
            Category::ALL.iter().map(|v| ("category", v.as_str())).collect::<Vec<_>>(),
            Priority::ALL.iter().map(|v| ("priority", v.as_str())).collect(),
            TaskStatus::ALL.iter().map(|v| ("status", v.as_str())).collect(),
            EpisodeStatus::ALL.iter().map(|v| ("status", v.as_str())).collect(),
            Reason::ALL.iter().map(|v| ("reason", v.as_str())).collect(),
            CareFlag::ALL.iter().map(|v| ("flag", v.as_str())).collect(),
            Symptom::ALL.iter().map(|v| ("symptom", v.as_str())).collect(),
            Role::ALL.iter().map(|v| ("role", v.as_str())).collect(),
        ]
        .concat();
        for (prefix, code) in all {
            assert!(zh(&format!("{prefix}.{code}")).is_some(), "web/src/i18n/zh.ts has no {prefix}.{code}");
        }
        assert_eq!(name("status", "delivered"), "已送达");
    }
}
