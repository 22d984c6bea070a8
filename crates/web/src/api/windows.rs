//! Collection windows (API.md "Collections and submissions"): the windows a
//! caller may see; opening, changing and closing one (regulator
//! administrators); and every provider's progress on one.

use app::AppError;
use app::collections::{VisibleWindow, WindowInput};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
        .routes(routes!(progress))
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
}

fn window_input(b: &WindowBody) -> Result<WindowInput, AppError> {
    let time = |field: &'static str, v: &str| {
        OffsetDateTime::parse(v, &Rfc3339)
            .map_err(|_| AppError::invalid(field, "Give a time like 2027-07-31T17:00:00Z"))
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
    })
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

/// Change a window's name, times, guidance or file types (regulator administrators).
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

#[derive(Serialize, ToSchema)]
struct ProgressView {
    organisation_id: String,
    organisation_name: String,
    ukprn: Option<String>,
    /// The newest submitted version's status, or `not_submitted`.
    status: &'static str,
    version: Option<i64>,
}

/// Every provider and where its return stands: who has not submitted
/// (regulator administrators and the area's officers).
#[utoipa::path(get, path = "/collections/{id}/progress", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<ProgressView>), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn progress(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    match state
        .app
        .window_progress(caller.principal(), &id, &caller.ctx.meta)
        .await
    {
        Ok((_, rows)) => Json(
            rows.iter()
                .map(|p| ProgressView {
                    organisation_id: p.organisation.id.to_string(),
                    organisation_name: p.organisation.name.clone(),
                    ukprn: p.organisation.ukprn.as_ref().map(|u| u.to_string()),
                    status: p
                        .latest
                        .as_ref()
                        .map_or("not_submitted", |s| s.status.as_str()),
                    version: p.latest.as_ref().map(|s| s.version),
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}
