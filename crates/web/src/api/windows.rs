//! Collection windows (API.md "Collections and submissions"): the windows a
//! caller may see; opening, changing and closing one (regulator
//! administrators). Every provider's progress on one: [`super::progress`].

use app::collections::{ReminderDaysInput, RulesInput, VisibleWindow, WindowInput, rule_error_key};
use app::{AppError, FieldErrors};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::checks::{ColumnRule, ColumnType};
use domain::collection::FileKind;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::returns::rfc3339;
use super::{ApiJson, Caller, refuse};
use crate::error::{ApiError, ApiErrorBody};
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(list_windows, create_window))
        .routes(routes!(update_window))
        .routes(routes!(close_window))
}

#[derive(Serialize, ToSchema)]
struct WindowView {
    id: String,
    area: String,
    area_name: String,
    name: String,
    opens_at: String,
    closes_at: String,
    /// `upcoming`, `open` or `closed`.
    state: &'static str,
    guidance: String,
    file_types: Vec<&'static str>,
    /// The column rules CSV uploads are checked against.
    columns: Vec<ColumnBody>,
    /// Whether a Portal Administrator must sign a return off before it can be accepted.
    sign_off_required: bool,
    /// Days before closing at which providers that have not submitted are reminded, largest first.
    reminder_days: Vec<u32>,
    /// Whether late submissions (with a reason) are accepted until the window is closed.
    late_submissions: bool,
}

/// One column's rule (API.md "Data-return checks and sign-off").
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ColumnBody {
    name: String,
    /// `text`, `integer`, `number`, `ukprn` or `date`.
    #[serde(rename = "type")]
    kind: String,
    /// Whether every file must have the column (false when absent).
    #[serde(default)]
    required: bool,
    /// Numbers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    /// Numbers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    /// Text only: the values a cell may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allowed: Option<Vec<String>>,
    /// Numbers only: a value above it is a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    warn_above: Option<f64>,
}

impl ColumnBody {
    fn of(rule: &ColumnRule) -> Self {
        Self {
            name: rule.name.clone(),
            kind: rule.kind.as_str().to_owned(),
            required: rule.required,
            min: rule.min,
            max: rule.max,
            allowed: (!rule.allowed.is_empty()).then(|| rule.allowed.clone()),
            warn_above: rule.warn_above,
        }
    }
}

fn window_view(w: &VisibleWindow, now: OffsetDateTime) -> WindowView {
    WindowView {
        id: w.window.id.to_string(),
        area: w.area.slug.to_string(),
        area_name: w.area.name.clone(),
        name: w.window.name.clone(),
        opens_at: rfc3339(w.window.opens_at),
        closes_at: rfc3339(
            w.window
                .closes_at
                .min(w.window.closed_at.unwrap_or(w.window.closes_at)),
        ),
        state: w.window.state(now).as_str(),
        guidance: w.window.guidance.clone(),
        file_types: w.window.file_types.iter().map(|k| k.as_str()).collect(),
        columns: w.window.column_rules.iter().map(ColumnBody::of).collect(),
        sign_off_required: w.window.sign_off_required,
        reminder_days: w.window.reminder_days.clone(),
        late_submissions: w.window.late_submissions,
    }
}

/// The windows the caller may see.
#[utoipa::path(get, path = "/collections", tag = "Collections", security(("bearer" = [])),
    responses((status = 200, body = Vec<WindowView>), (status = 401, body = ApiErrorBody)))]
async fn list_windows(State(state): State<WebState>, caller: Caller) -> Response {
    match state.app.visible_windows(caller.principal()).await {
        Ok(ws) => {
            let now = state.app.clock.now();
            Json(ws.iter().map(|w| window_view(w, now)).collect::<Vec<_>>()).into_response()
        }
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WindowBody {
    area: String,
    name: String,
    #[schema(format = DateTime)]
    opens_at: String,
    #[schema(format = DateTime)]
    closes_at: String,
    #[serde(default)]
    guidance: String,
    /// `csv`, `xlsx`, `pdf`; all three when absent.
    file_types: Option<Vec<String>>,
    /// The column rules CSV uploads are checked against; none when absent
    /// on opening, unchanged when absent on changing.
    columns: Option<Vec<ColumnBody>>,
    /// False when absent on opening, unchanged when absent on changing.
    sign_off_required: Option<bool>,
    /// Whole days, 1 to 365, at most 10, none twice, like `[14, 7, 1]`; none
    /// when absent on opening, unchanged when absent on changing.
    reminder_days: Option<Vec<i64>>,
    /// False when absent on opening, unchanged when absent on changing.
    late_submissions: Option<bool>,
}

fn window_input(b: &WindowBody) -> Result<WindowInput, AppError> {
    let time = |field: &'static str, v: &str| {
        OffsetDateTime::parse(v, &Rfc3339)
            .map_err(|_| AppError::invalid(field, "Give a time like 2027-07-31T17:00:00Z"))
    };
    let columns = match &b.columns {
        None => None,
        Some(given) => Some(RulesInput::Rules(column_rules(given)?)),
    };
    Ok(WindowInput {
        area: b.area.clone(),
        name: b.name.clone(),
        opens_at: Some(time("opens_at", &b.opens_at)?),
        closes_at: Some(time("closes_at", &b.closes_at)?),
        guidance: b.guidance.clone(),
        file_types: b.file_types.clone().unwrap_or_else(|| {
            FileKind::ALL
                .iter()
                .map(|k| k.as_str().to_owned())
                .collect()
        }),
        columns,
        sign_off_required: b.sign_off_required,
        reminder_days: b.reminder_days.clone().map(ReminderDaysInput::Days),
        late_submissions: b.late_submissions,
    })
}

/// The rules as the domain has them; a type that is not one of the five is
/// a field error (`columns-2-type`, rows counted from 1), all of them at once.
fn column_rules(given: &[ColumnBody]) -> Result<Vec<ColumnRule>, AppError> {
    let mut errors = FieldErrors::new();
    let mut rules = Vec::new();
    for (i, c) in given.iter().enumerate() {
        let Some(kind) = ColumnType::parse(&c.kind) else {
            let name = c.name.trim();
            let column = if name.is_empty() || name.chars().count() > 64 {
                format!("Column {}", i + 1)
            } else {
                format!("Column {} ({name})", i + 1)
            };
            errors.insert(
                rule_error_key(i + 1, "type"),
                format!(
                    "{column}: the type must be one of text, integer, number, ukprn or date, not \"{}\"",
                    c.kind.chars().take(20).collect::<String>()
                ),
            );
            continue;
        };
        rules.push(ColumnRule {
            name: c.name.clone(),
            kind,
            required: c.required,
            min: c.min,
            max: c.max,
            allowed: c.allowed.clone().unwrap_or_default(),
            warn_above: c.warn_above,
        });
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// Open a collection window for a data return (regulator administrators).
#[utoipa::path(post, path = "/collections", tag = "Collections", security(("bearer" = [])), request_body = WindowBody,
    responses((status = 201, body = WindowView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
async fn create_window(
    State(state): State<WebState>,
    caller: Caller,
    body: ApiJson<WindowBody>,
) -> Response {
    let meta = &caller.ctx.meta;
    let result = match window_input(&body.data) {
        Ok(input) => {
            state
                .app
                .create_window(caller.principal(), &input, meta)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(w) => {
            let area = state
                .app
                .areas()
                .await
                .ok()
                .and_then(|a| a.into_iter().find(|x| x.slug == w.area));
            match area {
                Some(area) => (
                    StatusCode::CREATED,
                    Json(window_view(
                        &VisibleWindow { window: w, area },
                        state.app.clock.now(),
                    )),
                )
                    .into_response(),
                None => ApiError::new(AppError::internal("window of a missing area"), meta)
                    .into_response(),
            }
        }
        Err(e) => refuse(&state, &caller, e).await,
    }
}

/// Change a window's name, times, guidance, file types, column rules or settings (regulator administrators).
#[utoipa::path(put, path = "/collections/{id}", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = WindowBody,
    responses((status = 200, body = WindowView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn update_window(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<WindowBody>,
) -> Response {
    let meta = &caller.ctx.meta;
    let result = match window_input(&body.data) {
        Ok(input) => {
            state
                .app
                .update_window(caller.principal(), &id, &input, meta)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => match state
            .app
            .window_for(
                caller.principal(),
                &id,
                &[domain::collection::Work::ManageWindows],
                "windows.view",
                meta,
            )
            .await
        {
            Ok(w) => Json(window_view(&w, state.app.clock.now())).into_response(),
            Err(e) => ApiError::new(e, meta).into_response(),
        },
        Err(e) => refuse(&state, &caller, e).await,
    }
}

/// Close a window now (regulator administrators).
#[utoipa::path(post, path = "/collections/{id}/close", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Closed"), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn close_window(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    match state
        .app
        .close_window(caller.principal(), &id, &caller.ctx.meta)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}
