//! Opening and changing a collection window (regulator administrators): the
//! form, with its column rules and settings (issue 16), and what it posts.

use app::collections::{
    RULE_FIELDS, ReminderDaysInput, RulesInput, VisibleWindow, WindowInput, rule_error_key,
};
use app::records::WindowRecord;
use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use domain::checks::{ColumnType, RuleRow};
use domain::collection::{FileKind, Work};
use domain::role::AreaKind;
use time::OffsetDateTime;

use super::forms::{Errors, error_for, first, summary_in};
use super::windows::may_manage_windows;
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/collections/new", get(new_form).post(new_submit))
        .route("/collections/{id}/edit", get(edit_form).post(edit_submit))
}

/// One GOV.UK date input: its field name, legend, hint, and day, month, year as typed.
struct DateField {
    field: &'static str,
    legend: &'static str,
    hint: &'static str,
    parts: Vec<(&'static str, &'static str, &'static str, String)>,
}

fn date_field(
    field: &'static str,
    legend: &'static str,
    hint: &'static str,
    typed: [&str; 3],
) -> DateField {
    DateField {
        field,
        legend,
        hint,
        parts: vec![
            ("day", "Day", "2", typed[0].to_owned()),
            ("month", "Month", "2", typed[1].to_owned()),
            ("year", "Year", "4", typed[2].to_owned()),
        ],
    }
}

#[derive(Template)]
#[template(path = "pages/collections/new.html")]
struct NewPage {
    layout: Layout,
    /// Where the form goes, its heading and its button: opening or changing a window.
    action: String,
    heading: &'static str,
    button: &'static str,
    /// Changing a window: its data return is fixed, shown by name.
    fixed_area: String,
    areas: Vec<(String, String)>,
    area: String,
    window_name: String,
    dates: Vec<DateField>,
    guidance: String,
    types: Vec<(&'static str, &'static str, bool)>,
    /// The rows of column rules, spare ones included.
    rules: Vec<RuleRowView>,
    /// The column types, for each row's select: (value, label).
    column_types: Vec<(&'static str, &'static str)>,
    sign_off_required: bool,
    late_submissions: bool,
    reminder_days: String,
    /// The most rows the form shows: no "Add another column" once reached.
    may_add_column: bool,
    errors: Errors,
    fields: FieldErrors,
}

/// One row of column rules as the form shows it: its number (from 1), what
/// was typed, and each field's error ("" when none). Every field's id is its
/// name, `columns-<n>-<part>`.
struct RuleRowView {
    n: usize,
    row: RuleRow,
    name_error: String,
    type_error: String,
    min_error: String,
    max_error: String,
    allowed_error: String,
    warn_above_error: String,
}

impl RuleRowView {
    /// The three number fields side by side: (part, label, typed, error).
    fn numbers(&self) -> [(&'static str, &'static str, &str, &str); 3] {
        [
            ("min", "Minimum", &self.row.min, &self.min_error),
            ("max", "Maximum", &self.row.max, &self.max_error),
            (
                "warn_above",
                "Warn above",
                &self.row.warn_above,
                &self.warn_above_error,
            ),
        ]
    }
}

/// Blank rows shown after the last one filled in.
const SPARE_ROWS: usize = 5;
/// The most rows the form shows or reads: one past the most rules a window
/// may have, so that "at most" can be said of the row past them.
const MAX_ROWS: usize = domain::checks::MAX_RULES + 1;

impl NewPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

/// Which window form: opening a new one, or changing one (by id, with its area's name).
enum Target {
    New,
    Edit { id: String, area: String },
}

async fn new_page(
    page: &Page,
    status: StatusCode,
    input: &WindowForm,
    fields: FieldErrors,
    target: &Target,
) -> Response {
    let areas = match page.state.app.areas().await {
        Ok(a) => a,
        Err(e) => return page.error(e),
    };
    let (action, heading, button, fixed_area) = match target {
        Target::New => (
            "/collections/new".to_owned(),
            "Open a collection window",
            "Open the window",
            String::new(),
        ),
        Target::Edit { id, area } => (
            format!("/collections/{id}/edit"),
            "Change a collection window",
            "Save changes",
            area.clone(),
        ),
    };
    let chosen: Vec<&str> = input.file_types.iter().map(String::as_str).collect();
    let rows = input.shown_rows();
    let rules: Vec<RuleRowView> = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let n = i + 1;
            let e = |part: &str| error_for(&fields, rule_error_key(n, part));
            RuleRowView {
                n,
                name_error: e("name"),
                type_error: e("type"),
                min_error: e("min"),
                max_error: e("max"),
                allowed_error: e("allowed"),
                warn_above_error: e("warn_above"),
                row,
            }
        })
        .collect();
    let mut order: Vec<String> = [
        "area",
        "name",
        "opens_at",
        "closes_at",
        "guidance",
        "file_types",
    ]
    .iter()
    .map(|f| (*f).to_owned())
    .collect();
    for n in 1..=rules.len().max(1) {
        order.extend(RULE_FIELDS.iter().map(|f| rule_error_key(n, f).to_owned()));
    }
    order.extend(
        [
            "columns",
            "sign_off_required",
            "late_submissions",
            "reminder_days",
        ]
        .iter()
        .map(|f| (*f).to_owned()),
    );
    let order: Vec<&str> = order.iter().map(String::as_str).collect();
    let view = NewPage {
        layout: page.layout(if fields.is_empty() {
            heading.to_owned()
        } else {
            format!("Error: {heading}")
        }),
        action,
        heading,
        button,
        fixed_area,
        areas: areas
            .iter()
            .filter(|a| a.kind == AreaKind::DataReturn)
            .map(|a| (a.slug.to_string(), a.name.clone()))
            .collect(),
        area: input.area.clone(),
        window_name: input.name.clone(),
        dates: vec![
            date_field(
                "opens_at",
                "Opens on",
                "The window opens at the start of this day (UK time). For example, 1 10 2026",
                [&input.opens_day, &input.opens_month, &input.opens_year],
            ),
            date_field(
                "closes_at",
                "Closes on",
                "The window closes at the end of this day (UK time). For example, 31 10 2026",
                [&input.closes_day, &input.closes_month, &input.closes_year],
            ),
        ],
        guidance: input.guidance.clone(),
        types: FileKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label(), chosen.contains(&k.as_str())))
            .collect(),
        may_add_column: rules.len() < MAX_ROWS,
        rules,
        column_types: ColumnType::ALL
            .iter()
            .map(|t| (t.as_str(), t.label()))
            .collect(),
        sign_off_required: input.sign_off_required,
        late_submissions: input.late_submissions,
        reminder_days: input.reminder_days.clone(),
        errors: summary_in(&fields, &order)
            .into_iter()
            .map(|(message, href)| {
                // A date's error leads to its first box; the file types' to
                // the first checkbox; the rules as a whole to the first row.
                let href = match href.as_str() {
                    "#opens_at" | "#closes_at" => format!("{href}-day"),
                    "#file_types" => format!("#file_types-{}", FileKind::ALL[0].as_str()),
                    "#columns" => "#columns-1-name".to_owned(),
                    _ => href,
                };
                (message, href)
            })
            .collect(),
        fields,
    };
    page.render(status, &view)
}

#[derive(Default)]
struct WindowForm {
    area: String,
    name: String,
    opens_day: String,
    opens_month: String,
    opens_year: String,
    closes_day: String,
    closes_month: String,
    closes_year: String,
    guidance: String,
    file_types: Vec<String>,
    /// The rows of column rules as posted, blank ones included (their
    /// numbers are what the messages count).
    rows: Vec<RuleRow>,
    sign_off_required: bool,
    late_submissions: bool,
    reminder_days: String,
    /// "Add another column" was pressed: show the form again, one row more.
    add_column: bool,
}

async fn new_form(page: Page) -> Response {
    if page.principal().is_none() {
        return Redirect::to("/sign-in").into_response();
    }
    if !may_manage_windows(&page) {
        return page
            .refuse("windows.create", domain::collection::NOT_REGULATOR_ADMIN)
            .await;
    }
    let input = WindowForm {
        file_types: vec!["csv".into(), "xlsx".into()],
        ..WindowForm::default()
    };
    new_page(
        &page,
        StatusCode::OK,
        &input,
        FieldErrors::new(),
        &Target::New,
    )
    .await
}

/// A date typed in the GOV.UK date input.
fn date(day: &str, month: &str, year: &str) -> Option<time::Date> {
    let d: u8 = day.trim().parse().ok()?;
    let m: u8 = month.trim().parse().ok()?;
    let y: i32 = year
        .trim()
        .parse()
        .ok()
        .filter(|y| (2000..=2100).contains(y))?;
    let month = time::Month::try_from(m).ok()?;
    time::Date::from_calendar_date(y, month, d).ok()
}

impl WindowForm {
    /// The form's fields; the file types are repeated checkboxes.
    fn from_pairs(data: &[(String, String)]) -> Self {
        let get = |k: &str| first(data, k).unwrap_or_default();
        Self {
            area: get("area"),
            name: get("name"),
            opens_day: get("opens_at-day"),
            opens_month: get("opens_at-month"),
            opens_year: get("opens_at-year"),
            closes_day: get("closes_at-day"),
            closes_month: get("closes_at-month"),
            closes_year: get("closes_at-year"),
            guidance: get("guidance"),
            file_types: data
                .iter()
                .filter(|(k, _)| k == "file_types")
                .map(|(_, v)| v.clone())
                .collect(),
            rows: rule_rows(data),
            sign_off_required: ticked(data, "sign_off_required"),
            late_submissions: ticked(data, "late_submissions"),
            reminder_days: get("reminder_days"),
            add_column: first(data, "add_column").is_some(),
        }
    }

    /// The rows to show: those posted (or the window's), and spare ones
    /// after the last filled in; one more for "Add another column".
    fn shown_rows(&self) -> Vec<RuleRow> {
        let filled = self
            .rows
            .iter()
            .rposition(|r| !r.is_blank())
            .map_or(0, |i| i + 1);
        let mut n = self.rows.len().max(filled + SPARE_ROWS);
        if self.add_column {
            n += 1;
        }
        let n = n.min(MAX_ROWS).max(self.rows.len());
        let mut rows = self.rows.clone();
        rows.resize_with(n, RuleRow::default);
        rows
    }

    /// A window's form as it stands, to change it.
    fn of(w: &WindowRecord) -> Self {
        let day = |t: OffsetDateTime| {
            let t = domain::uk_time::uk_date(t);
            (
                t.day().to_string(),
                u8::from(t.month()).to_string(),
                t.year().to_string(),
            )
        };
        let (od, om, oy) = day(w.opens_at);
        let (cd, cm, cy) = day(w.closes_at);
        Self {
            area: w.area.to_string(),
            name: w.name.clone(),
            opens_day: od,
            opens_month: om,
            opens_year: oy,
            closes_day: cd,
            closes_month: cm,
            closes_year: cy,
            guidance: w.guidance.clone(),
            file_types: w.file_types.iter().map(|k| k.as_str().to_owned()).collect(),
            rows: w.column_rules.iter().map(RuleRow::from_rule).collect(),
            sign_off_required: w.sign_off_required,
            late_submissions: w.late_submissions,
            reminder_days: w
                .reminder_days
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            add_column: false,
        }
    }

    /// What the use case takes: a window opens at the start of its first day
    /// and closes at the end of its last (UK time); and what the form itself says
    /// of a date typed that is not one. The use case still sees the rest, so
    /// that every error is reported in one pass (an unreadable date goes to it
    /// as missing, and the form's words replace its "Enter when…").
    fn input(&self) -> (WindowInput, FieldErrors) {
        let mut own = FieldErrors::new();
        let typed = |parts: [&str; 3]| parts.iter().any(|p| !p.trim().is_empty());
        let opens = date(&self.opens_day, &self.opens_month, &self.opens_year)
            .map(domain::uk_time::uk_midnight);
        let closes = date(&self.closes_day, &self.closes_month, &self.closes_year).map(|d| {
            domain::uk_time::uk_midnight(d.next_day().unwrap_or(d)) - time::Duration::seconds(1)
        });
        if opens.is_none() && typed([&self.opens_day, &self.opens_month, &self.opens_year]) {
            own.insert("opens_at", "Enter a real date, like 1 10 2026".into());
        }
        if closes.is_none() && typed([&self.closes_day, &self.closes_month, &self.closes_year]) {
            own.insert("closes_at", "Enter a real date, like 31 10 2026".into());
        }
        let input = WindowInput {
            area: self.area.clone(),
            name: self.name.clone(),
            opens_at: opens,
            closes_at: closes,
            guidance: self.guidance.clone(),
            file_types: self.file_types.clone(),
            columns: Some(RulesInput::Rows(self.rows.clone())),
            sign_off_required: Some(self.sign_off_required),
            reminder_days: Some(ReminderDaysInput::Text(self.reminder_days.clone())),
            late_submissions: Some(self.late_submissions),
        };
        (input, own)
    }
}

/// The use case's answer with the form's own date errors laid over it.
fn with_own<T>(result: Result<T, AppError>, own: FieldErrors) -> Result<T, AppError> {
    match result {
        Err(AppError::Invalid(mut fields)) => {
            fields.extend(own);
            Err(AppError::Invalid(fields))
        }
        other => other,
    }
}

async fn new_submit(form: Form<Vec<(String, String)>>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let form = WindowForm::from_pairs(&data);
    if form.add_column {
        // Only the form again, one row more: nothing is opened.
        if !may_manage_windows(&page) {
            return page
                .refuse("windows.create", domain::collection::NOT_REGULATOR_ADMIN)
                .await;
        }
        return new_page(
            &page,
            StatusCode::OK,
            &form,
            FieldErrors::new(),
            &Target::New,
        )
        .await;
    }
    let (input, own) = form.input();
    let result = with_own(
        page.state
            .app
            .create_window(actor, &input, &page.ctx.meta)
            .await,
        own,
    );
    match result {
        Ok(w) => Redirect::to(&format!("/collections/{}?opened=1", w.id)).into_response(),
        Err(AppError::Invalid(fields)) => {
            page.state
                .app
                .record_refusal(
                    &page.ctx.meta,
                    Some(actor),
                    "windows.create",
                    "invalid form",
                )
                .await;
            new_page(&page, StatusCode::BAD_REQUEST, &form, fields, &Target::New).await
        }
        Err(e) => page.error(e),
    }
}

/// The window, if the actor may change it (a refusal is audited).
async fn managed(page: &Page, id: &str, action: &'static str) -> Result<VisibleWindow, Response> {
    let Some(actor) = page.principal() else {
        return Err(Redirect::to("/sign-in").into_response());
    };
    page.state
        .app
        .window_for(actor, id, &[Work::ManageWindows], action, &page.ctx.meta)
        .await
        .map_err(|e| page.error(e))
}

async fn edit_form(page: Page, Path(id): Path<String>) -> Response {
    let w = match managed(&page, &id, "windows.update").await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let target = Target::Edit {
        id,
        area: w.area.name.clone(),
    };
    new_page(
        &page,
        StatusCode::OK,
        &WindowForm::of(&w.window),
        FieldErrors::new(),
        &target,
    )
    .await
}

async fn edit_submit(Path(id): Path<String>, form: Form<Vec<(String, String)>>) -> Response {
    let Form { page, data } = form;
    let w = match managed(&page, &id, "windows.update").await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let form = WindowForm {
        area: w.area.slug.to_string(),
        ..WindowForm::from_pairs(&data)
    };
    if form.add_column {
        // Only the form again, one row more: nothing is changed.
        let target = Target::Edit {
            id: id.clone(),
            area: w.area.name.clone(),
        };
        return new_page(&page, StatusCode::OK, &form, FieldErrors::new(), &target).await;
    }
    let (input, own) = form.input();
    let result = with_own(
        page.state
            .app
            .update_window(actor, &id, &input, &page.ctx.meta)
            .await,
        own,
    );
    match result {
        Ok(_) => Redirect::to(&format!("/collections/{id}?changed=1")).into_response(),
        Err(AppError::Invalid(fields)) => {
            page.state
                .app
                .record_refusal(
                    &page.ctx.meta,
                    Some(actor),
                    "windows.update",
                    "invalid form",
                )
                .await;
            let target = Target::Edit {
                id: id.clone(),
                area: w.area.name.clone(),
            };
            new_page(&page, StatusCode::BAD_REQUEST, &form, fields, &target).await
        }
        Err(e) => page.error(e),
    }
}

/// Whether a checkbox was ticked (sent with any value).
fn ticked(data: &[(String, String)], key: &str) -> bool {
    data.iter().any(|(k, v)| k == key && !v.is_empty())
}

/// The rows of column rules posted (`columns-<n>-<part>`, rows from 1, at
/// most [`MAX_ROWS`]), up to the last row anything was sent for.
fn rule_rows(data: &[(String, String)]) -> Vec<RuleRow> {
    let mut rows: Vec<RuleRow> = Vec::new();
    for (key, value) in data {
        let Some(rest) = key.strip_prefix("columns-") else {
            continue;
        };
        let Some((n, part)) = rest.split_once('-') else {
            continue;
        };
        let Some(n) = n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_ROWS).contains(n))
        else {
            continue;
        };
        if rows.len() < n {
            rows.resize_with(n, RuleRow::default);
        }
        let row = &mut rows[n - 1];
        match part {
            "name" => row.name = value.clone(),
            "type" => row.kind = value.clone(),
            "required" => row.required = !value.is_empty(),
            "min" => row.min = value.clone(),
            "max" => row.max = value.clone(),
            "allowed" => row.allowed = value.clone(),
            "warn_above" => row.warn_above = value.clone(),
            _ => {}
        }
    }
    rows
}

/// A number as a rule shows it: "500", "12.5".
fn number(v: f64) -> String {
    format!("{v}")
}

/// A window's column rules in plain English, one (column, rule) pair each,
/// for the window's page: ("students", "Whole number, required; from 0 to
/// 500; a warning above 400").
pub(super) fn rules_summary(w: &WindowRecord) -> Vec<(String, String)> {
    w.column_rules
        .iter()
        .map(|r| {
            let mut parts = vec![format!(
                "{}, {}",
                r.kind.label(),
                if r.required { "required" } else { "optional" }
            )];
            match (r.min, r.max) {
                (Some(min), Some(max)) => {
                    parts.push(format!("from {} to {}", number(min), number(max)));
                }
                (Some(min), None) => parts.push(format!("at least {}", number(min))),
                (None, Some(max)) => parts.push(format!("at most {}", number(max))),
                (None, None) => {}
            }
            if let Some(w) = r.warn_above {
                parts.push(format!("a warning above {}", number(w)));
            }
            if !r.allowed.is_empty() {
                parts.push(format!("one of: {}", r.allowed.join(", ")));
            }
            (r.name.clone(), parts.join("; "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::checks::ColumnRule;

    #[test]
    fn rows_are_read_by_number_blank_ones_kept() {
        let data: Vec<(String, String)> = [
            ("columns-1-name", "ukprn"),
            ("columns-1-type", "ukprn"),
            ("columns-1-required", "yes"),
            ("columns-3-name", "students"),
            ("columns-3-type", "integer"),
            ("columns-3-min", "0"),
            ("columns-102-name", "beyond"),
            ("columns-x-name", "odd"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let rows = rule_rows(&data);
        assert_eq!(rows.len(), 3);
        assert!(rows[0].required && rows[0].kind == "ukprn");
        assert!(rows[1].is_blank());
        assert_eq!(rows[2].min, "0");
        let form = WindowForm {
            rows,
            ..WindowForm::default()
        };
        assert_eq!(form.shown_rows().len(), 3 + SPARE_ROWS);
        let more = WindowForm {
            add_column: true,
            ..form
        };
        assert_eq!(more.shown_rows().len(), 3 + SPARE_ROWS + 1);
        assert_eq!(WindowForm::default().shown_rows().len(), SPARE_ROWS);
    }

    #[test]
    fn rules_are_summarised_in_plain_english() {
        let rule = |name: &str, kind, min, max, warn, allowed: &[&str]| ColumnRule {
            name: name.into(),
            kind,
            required: name == "students",
            min,
            max,
            allowed: allowed.iter().map(|a| (*a).to_owned()).collect(),
            warn_above: warn,
        };
        let w = WindowRecord {
            column_rules: vec![
                rule(
                    "students",
                    ColumnType::Integer,
                    Some(0.0),
                    Some(500.0),
                    Some(400.0),
                    &[],
                ),
                rule("fee", ColumnType::Number, None, Some(9250.5), None, &[]),
                rule("mode", ColumnType::Text, None, None, None, &["FT", "PT"]),
            ],
            ..testkit_window()
        };
        assert_eq!(
            rules_summary(&w),
            [
                (
                    "students".to_owned(),
                    "Whole number, required; from 0 to 500; a warning above 400".to_owned()
                ),
                (
                    "fee".to_owned(),
                    "Number, optional; at most 9250.5".to_owned()
                ),
                (
                    "mode".to_owned(),
                    "Text, optional; one of: FT, PT".to_owned()
                ),
            ]
        );
    }

    fn testkit_window() -> WindowRecord {
        let t = time::OffsetDateTime::UNIX_EPOCH;
        WindowRecord {
            id: uuid::Uuid::nil(),
            area: domain::AreaSlug::parse("heses").unwrap(),
            name: "HESES".into(),
            opens_at: t,
            closes_at: t,
            guidance: String::new(),
            file_types: Vec::new(),
            closed_at: None,
            created_by: None,
            created_at: t,
            column_rules: Vec::new(),
            sign_off_required: false,
            reminder_days: Vec::new(),
            late_submissions: false,
        }
    }
}
