//! Collection windows: opened, changed and closed by the regulator's
//! administrators, seen by those whose roles cover the return, and the
//! progress of every provider towards one.

use domain::authz::{Denial, RegulatorTask};
use domain::checks::{self, ColumnRule};
use domain::collection::{FileKind, SubmissionStatus, Work};
use domain::role::{Area, AreaKind};
use domain::{OrgId, OrganisationKind};
use store::{SubmissionRecord, WindowRecord};
use time::OffsetDateTime;

use crate::permit::{self, AreaWork, Permit, Refusal};
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta};

use super::{
    MAX_REMINDER_DAYS, MAX_REMINDERS, ReminderDaysInput, RulesInput, VisibleWindow, WindowInput,
};

impl App {
    /// A window, if `actor` may do any of `works` with it for their own
    /// organisation (404 otherwise for a provider's people; audited).
    pub async fn window_for(
        &self,
        actor: &Principal,
        id: &str,
        works: &[Work],
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<VisibleWindow> {
        let (permit, window) = self.window_permit(actor, id, works, action, meta).await?;
        Ok(VisibleWindow {
            window,
            area: permit.into_inner().area,
        })
    }

    /// As [`App::window_for`], with the permit.
    pub(super) async fn window_permit(
        &self,
        actor: &Principal,
        id: &str,
        works: &[Work],
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<(Permit<AreaWork>, WindowRecord)> {
        let found = match id.parse::<uuid::Uuid>() {
            Ok(id) => self.store.window(id).await?,
            Err(_) => None,
        };
        let decision = match found {
            None => Err(Refusal::denied(
                action,
                Some(id.chars().take(40).collect()),
                Denial::NotFound,
            )),
            Some(window) => {
                let area = self.area_of(&window.area).await?;
                let target = Some(window.id.to_string());
                permit::area_work(actor, &area, actor.organisation.id, works, action, target)
                    .map(|p| (p, window))
            }
        };
        match decision {
            Ok(found) => Ok(found),
            Err(r) => Err(self.refused(meta, Some(actor), r).await),
        }
    }

    /// The windows `actor` may see, newest first: a provider's people those of
    /// the returns they hold a role for (administrators: every return); the
    /// regulator's officers their areas'; its administrators all.
    pub async fn visible_windows(&self, actor: &Principal) -> AppResult<Vec<VisibleWindow>> {
        let areas = self.store.areas().await?;
        let org = actor.organisation.id;
        Ok(self
            .store
            .windows()
            .await?
            .into_iter()
            .filter_map(|window| {
                let area = areas.iter().find(|a| a.slug == window.area)?.clone();
                let listed = Area {
                    sensitive: false,
                    ..area.clone()
                };
                let sees = permit::may_work(actor, &listed, org, Work::SeeReturns)
                    || permit::may_work(actor, &listed, org, Work::ManageWindows);
                sees.then_some(VisibleWindow { window, area })
            })
            .collect())
    }

    fn parse_window(&self, input: &WindowInput, areas: &[Area]) -> AppResult<ParsedWindow> {
        let mut errors = FieldErrors::new();
        let area = areas
            .iter()
            .find(|a| a.slug.as_str() == input.area.trim() && a.kind == AreaKind::DataReturn);
        if area.is_none() {
            errors.insert("area", "Choose the data return the window is for".into());
        }
        let name = input.name.trim();
        if name.is_empty() {
            errors.insert("name", "Enter the window's name, like HESES 2026-27".into());
        } else if name.chars().count() > 120 || name.chars().any(char::is_control) {
            errors.insert(
                "name",
                "The name must be 120 characters or fewer, without control characters".into(),
            );
        }
        if input.guidance.chars().count() > 5000 {
            errors.insert(
                "guidance",
                "Guidance must be 5,000 characters or fewer".into(),
            );
        }
        match (input.opens_at, input.closes_at) {
            (None, _) => {
                errors.insert("opens_at", "Enter when the window opens".into());
            }
            (_, None) => {
                errors.insert("closes_at", "Enter when the window closes".into());
            }
            (Some(o), Some(c)) if c <= o => {
                errors.insert("closes_at", "The window must close after it opens".into());
            }
            _ => {}
        }
        let mut kinds = Vec::new();
        for t in &input.file_types {
            match FileKind::parse(t) {
                Some(k) if !kinds.contains(&k) => kinds.push(k),
                Some(_) => {}
                None => {
                    errors.insert(
                        "file_types",
                        format!("{t} is not a file type: choose CSV, XLSX or PDF"),
                    );
                }
            }
        }
        if kinds.is_empty() && !errors.contains_key("file_types") {
            errors.insert("file_types", "Choose at least one type of file".into());
        }
        let column_rules = match &input.columns {
            None => None,
            Some(given) => match column_rules(given) {
                Ok(rules) => Some(rules),
                Err(problems) => {
                    for p in problems {
                        errors
                            .entry(rule_error_key(p.index + 1, p.field))
                            .or_insert(p.message);
                    }
                    None
                }
            },
        };
        let reminder_days = match &input.reminder_days {
            None => None,
            Some(given) => match reminder_days(given) {
                Ok(days) => Some(days),
                Err(message) => {
                    errors.insert("reminder_days", message);
                    None
                }
            },
        };
        match (area, input.opens_at, input.closes_at) {
            (Some(a), Some(o), Some(c)) if errors.is_empty() => Ok(ParsedWindow {
                area: a.slug.clone(),
                name: name.to_owned(),
                opens_at: o,
                closes_at: c,
                file_types: kinds,
                column_rules,
                sign_off_required: input.sign_off_required,
                reminder_days,
                late_submissions: input.late_submissions,
            }),
            _ => Err(AppError::Invalid(errors)),
        }
    }

    async fn may_manage_windows(
        &self,
        actor: &Principal,
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<Permit<RegulatorTask>> {
        let decision = permit::regulator_task(actor, RegulatorTask::CollectionWindows, action);
        self.permitted(meta, Some(actor), decision).await
    }

    /// A regulator administrator opens a collection window for a data return.
    pub async fn create_window(
        &self,
        actor: &Principal,
        input: &WindowInput,
        meta: &RequestMeta,
    ) -> AppResult<WindowRecord> {
        let permit = self
            .may_manage_windows(actor, "windows.create", meta)
            .await?;
        let areas = self.store.areas().await?;
        let parsed = self.parse_window(input, &areas)?;
        let now = self.clock.now();
        let window = WindowRecord {
            id: uuid::Uuid::new_v4(),
            area: parsed.area,
            name: parsed.name,
            opens_at: parsed.opens_at,
            closes_at: parsed.closes_at,
            guidance: input.guidance.trim().to_owned(),
            file_types: parsed.file_types,
            closed_at: None,
            created_by: Some(actor.user.id),
            created_at: now,
            column_rules: parsed.column_rules.unwrap_or_default(),
            sign_off_required: parsed.sign_off_required.unwrap_or(false),
            reminder_days: parsed.reminder_days.unwrap_or_default(),
            late_submissions: parsed.late_submissions.unwrap_or(false),
        };
        self.change(meta, Some(actor), async |u| {
            u.tx().insert_window(&window).await?;
            let detail = format!(
                "{} {}: {}",
                window.area,
                window.name,
                settings_detail(&window)
            );
            u.audit(&permit, Some(window.id.to_string()), &detail)
                .await?;
            // A window open at once is announced by the worker's next round,
            // which this wakes (collections::notices).
            u.wake_workers();
            Ok(u.done(&permit, window.clone()))
        })
        .await
    }

    /// Changes a window's name, times, guidance, file types, column rules
    /// and settings (not its area).
    pub async fn update_window(
        &self,
        actor: &Principal,
        id: &str,
        input: &WindowInput,
        meta: &RequestMeta,
    ) -> AppResult<WindowRecord> {
        let permit = self
            .may_manage_windows(actor, "windows.update", meta)
            .await?;
        let current = self
            .window_for(actor, id, &[Work::ManageWindows], "windows.update", meta)
            .await?
            .window;
        let areas = self.store.areas().await?;
        let input = WindowInput {
            area: current.area.to_string(),
            ..input.clone()
        };
        let parsed = self.parse_window(&input, &areas)?;
        // Files already checked keep the report of the rules they were
        // checked against; new uploads are checked against these.
        let window = WindowRecord {
            name: parsed.name,
            opens_at: parsed.opens_at,
            closes_at: parsed.closes_at,
            guidance: input.guidance.trim().to_owned(),
            file_types: parsed.file_types,
            column_rules: parsed.column_rules.unwrap_or(current.column_rules.clone()),
            sign_off_required: parsed
                .sign_off_required
                .unwrap_or(current.sign_off_required),
            reminder_days: parsed
                .reminder_days
                .unwrap_or(current.reminder_days.clone()),
            late_submissions: parsed.late_submissions.unwrap_or(current.late_submissions),
            ..current
        };
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            u.tx().update_window(&window, now).await?;
            let detail = format!("{}: {}", window.name, settings_detail(&window));
            u.audit(&permit, Some(window.id.to_string()), &detail)
                .await?;
            // It may open now: the worker looks at once.
            u.wake_workers();
            Ok(u.done(&permit, window.clone()))
        })
        .await
    }

    /// Closes a window now: no more uploads.
    pub async fn close_window(
        &self,
        actor: &Principal,
        id: &str,
        meta: &RequestMeta,
    ) -> AppResult<()> {
        let permit = self
            .may_manage_windows(actor, "windows.close", meta)
            .await?;
        let window = self
            .window_for(actor, id, &[Work::ManageWindows], "windows.close", meta)
            .await?
            .window;
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            u.tx().close_window(window.id, now).await?;
            u.audit(&permit, Some(window.id.to_string()), &window.name)
                .await?;
            Ok(u.done(&permit, ()))
        })
        .await
    }

    /// The submissions to a window `actor` may see: a provider's team sees its
    /// own (drafts too); an officer every provider's submitted versions,
    /// optionally of one provider or one status.
    pub async fn window_submissions(
        &self,
        actor: &Principal,
        window: &VisibleWindow,
        provider: Option<OrgId>,
        status: Option<SubmissionStatus>,
    ) -> AppResult<Vec<SubmissionRecord>> {
        let all = match actor.organisation.kind {
            OrganisationKind::Provider => {
                self.store
                    .submissions(window.window.id, Some(actor.organisation.id), true)
                    .await?
            }
            OrganisationKind::Regulator => {
                let listed = Area {
                    sensitive: false,
                    ..window.area.clone()
                };
                let officer = permit::may_work(actor, &listed, actor.organisation.id, Work::Review);
                if !officer {
                    return Ok(Vec::new());
                }
                self.store
                    .submissions(window.window.id, provider, false)
                    .await?
            }
        };
        Ok(all
            .into_iter()
            .filter(|s| status.is_none_or(|st| s.status == st))
            .collect())
    }
}

/// A window's fields, checked; the settings `None` where not given.
struct ParsedWindow {
    area: domain::AreaSlug,
    name: String,
    opens_at: OffsetDateTime,
    closes_at: OffsetDateTime,
    file_types: Vec<FileKind>,
    column_rules: Option<Vec<ColumnRule>>,
    sign_off_required: Option<bool>,
    reminder_days: Option<Vec<u32>>,
    late_submissions: Option<bool>,
}

/// The column rules given, checked, names and allowed values trimmed.
fn column_rules(given: &RulesInput) -> Result<Vec<ColumnRule>, Vec<checks::RuleProblem>> {
    match given {
        RulesInput::Rows(rows) => checks::parse_rule_rows(rows),
        RulesInput::Rules(rules) => {
            checks::validate_rules(rules)?;
            Ok(rules
                .iter()
                .map(|r| ColumnRule {
                    name: r.name.trim().to_owned(),
                    allowed: r.allowed.iter().map(|v| v.trim().to_owned()).collect(),
                    ..r.clone()
                })
                .collect())
        }
    }
}

/// Reminder days given, checked: whole numbers from 1 to
/// [`MAX_REMINDER_DAYS`], at most [`MAX_REMINDERS`], none twice; largest
/// first. On the form they are typed separated by commas or spaces.
fn reminder_days(given: &ReminderDaysInput) -> Result<Vec<u32>, String> {
    let days: Vec<i64> = match given {
        ReminderDaysInput::Days(days) => days.clone(),
        ReminderDaysInput::Text(text) => {
            let mut days = Vec::new();
            for part in text
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|p| !p.is_empty())
            {
                match part.parse::<i64>() {
                    Ok(d) => days.push(d),
                    Err(_) => {
                        return Err(
                            "Enter the days as whole numbers separated by commas, like 14, 7, 1"
                                .into(),
                        );
                    }
                }
            }
            days
        }
    };
    if days.len() > MAX_REMINDERS {
        return Err(format!(
            "Give at most {MAX_REMINDERS} reminders (you gave {})",
            days.len()
        ));
    }
    let mut kept: Vec<u32> = Vec::new();
    for d in days {
        if !(1..=MAX_REMINDER_DAYS).contains(&d) {
            return Err(format!(
                "Each reminder must be from 1 to {MAX_REMINDER_DAYS} days before closing, not {d}"
            ));
        }
        let d = u32::try_from(d).unwrap_or(u32::MAX);
        if kept.contains(&d) {
            return Err(format!("{d} days is given twice: give each reminder once"));
        }
        kept.push(d);
    }
    kept.sort_unstable_by(|a, b| b.cmp(a));
    Ok(kept)
}

/// What the audit log says of a window's rules and settings.
fn settings_detail(w: &WindowRecord) -> String {
    let rules = match w.column_rules.len() {
        0 => "no column rules".to_owned(),
        1 => "1 column rule".to_owned(),
        n => format!("{n} column rules"),
    };
    let sign_off = if w.sign_off_required {
        "sign-off required"
    } else {
        "no sign-off"
    };
    let late = if w.late_submissions {
        "late submissions accepted"
    } else {
        "no late submissions"
    };
    let reminders = if w.reminder_days.is_empty() {
        "no reminders".to_owned()
    } else {
        let days: Vec<String> = w.reminder_days.iter().map(u32::to_string).collect();
        format!("reminders {} days before closing", days.join(", "))
    };
    format!("{rules}, {sign_off}, {late}, {reminders}")
}

/// The rows of column rules errors are keyed for: the form's, and the one
/// past the most a window may have (where "at most" is said).
const KEYED_ROWS: usize = checks::MAX_RULES + 1;

/// The error key of one part of one column rule, `row` counted from 1 as
/// the form and the messages count: `columns-3-name`, `columns-3-type`,
/// `columns-3-min`… (the form's field ids). Rows past the keyed ones, and
/// parts not known, have the key `columns`.
pub fn rule_error_key(row: usize, field: &str) -> &'static str {
    static KEYS: std::sync::OnceLock<Vec<[&'static str; RULE_FIELDS.len()]>> =
        std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        (1..=KEYED_ROWS)
            .map(|r| {
                RULE_FIELDS.map(|f| -> &'static str {
                    // Made once, a bounded number: the key type is `&'static str`.
                    Box::leak(format!("columns-{r}-{f}").into_boxed_str())
                })
            })
            .collect()
    });
    let part = RULE_FIELDS.iter().position(|f| *f == field);
    match (row.checked_sub(1).and_then(|r| keys.get(r)), part) {
        (Some(k), Some(p)) => k[p],
        _ => "columns",
    }
}

/// The parts of a column rule, as the form names its fields, in its order.
pub const RULE_FIELDS: [&str; 7] = [
    "name",
    "type",
    "required",
    "min",
    "max",
    "allowed",
    "warn_above",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_days_are_checked_and_kept_largest_first() {
        let text = |t: &str| reminder_days(&ReminderDaysInput::Text(t.into()));
        assert_eq!(text("1, 14,7"), Ok(vec![14, 7, 1]));
        assert_eq!(text("  "), Ok(vec![]));
        assert_eq!(text("14 7"), Ok(vec![14, 7]));
        assert!(text("14, seven").unwrap_err().contains("whole numbers"));
        assert!(text("0").unwrap_err().contains("from 1 to 365 days"));
        assert!(text("366").unwrap_err().contains("not 366"));
        assert!(text("7, 7").unwrap_err().contains("7 days is given twice"));
        let days = |d: &[i64]| reminder_days(&ReminderDaysInput::Days(d.to_vec()));
        assert!(
            days(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
                .unwrap_err()
                .contains("at most 10")
        );
        assert!(days(&[-1]).is_err());
        assert_eq!(days(&[30, 1]), Ok(vec![30, 1]));
    }

    #[test]
    fn rule_errors_are_keyed_by_row_and_part() {
        assert_eq!(rule_error_key(3, "name"), "columns-3-name");
        assert_eq!(rule_error_key(101, "warn_above"), "columns-101-warn_above");
        assert_eq!(rule_error_key(102, "name"), "columns");
        assert_eq!(rule_error_key(0, "name"), "columns");
        assert_eq!(rule_error_key(1, "colour"), "columns");
    }
}
