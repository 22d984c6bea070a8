//! Every provider's progress on a collection window (API.md "Collections and
//! submissions", issue 16): regulator administrators and the area's officers.
//! The same rows, in the same order, as the progress page and its CSV
//! (`App::progress`).

use std::collections::HashMap;

use app::collections::{PROGRESS_ACTION, ProgressAsk, ProviderProgress};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Caller;
use crate::error::{ApiError, ApiErrorBody};
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new().routes(routes!(progress))
}

#[derive(Serialize, ToSchema)]
struct ProgressView {
    organisation_id: String,
    organisation_name: String,
    ukprn: Option<String>,
    /// The newest submitted version's status, or `not_submitted`.
    status: &'static str,
    /// The newest submitted version's number.
    version: Option<i64>,
    /// `not_started`, `uploaded` (its newest version is a draft), `submitted`,
    /// `signed_off`, `returned` or `accepted`.
    state: &'static str,
    /// Submitted with warnings, and those explained.
    warnings_explained: bool,
    /// Submitted; the window asks for a sign-off not given yet.
    awaiting_sign_off: bool,
    /// The newest submitted version came after the window closed.
    late: bool,
    /// Errors and warnings of the draft while `uploaded`, otherwise of the
    /// newest submitted version.
    errors: u64,
    warnings: u64,
    /// RFC 3339.
    submitted_at: Option<String>,
    signed_off_at: Option<String>,
    /// Queries on its versions not closed yet.
    open_queries: usize,
}

fn rfc3339(t: Option<time::OffsetDateTime>) -> Option<String> {
    t.and_then(|t| t.format(&Rfc3339).ok())
}

impl From<&ProviderProgress> for ProgressView {
    fn from(p: &ProviderProgress) -> Self {
        Self {
            organisation_id: p.organisation.id.to_string(),
            organisation_name: p.organisation.name.clone(),
            ukprn: p.organisation.ukprn.as_ref().map(|u| u.to_string()),
            status: p
                .latest
                .as_ref()
                .map_or("not_submitted", |s| s.status.as_str()),
            version: p.version(),
            state: p.state().as_str(),
            warnings_explained: p.standing.warnings_explained,
            awaiting_sign_off: p.standing.awaiting_sign_off,
            late: p.late(),
            errors: p.errors(),
            warnings: p.warnings(),
            submitted_at: rfc3339(p.submitted_at()),
            signed_off_at: rfc3339(p.signed_off_at()),
            open_queries: p.open_queries,
        }
    }
}

/// Every provider and where its return stands: who has not submitted
/// (regulator administrators and the area's officers). Filtered by `state`
/// and by `q` (part of a name or UKPRN); sorted by `sort` (`provider`,
/// `ukprn`, `state`, `submitted`) and `order` (`ascending`, `descending`).
#[utoipa::path(get, path = "/collections/{id}/progress", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path),
        ("state" = Option<String>, Query, description = "not_started, uploaded, submitted, signed_off, returned or accepted"),
        ("q" = Option<String>, Query, description = "Part of a provider's name or UKPRN"),
        ("sort" = Option<String>, Query, description = "provider (default), ukprn, state or submitted"),
        ("order" = Option<String>, Query, description = "ascending (default) or descending")),
    responses((status = 200, body = Vec<ProgressView>), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn progress(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ask = ProgressAsk {
        state: q.get("state").cloned(),
        q: q.get("q").cloned(),
        sort: q.get("sort").cloned(),
        order: q.get("order").cloned(),
    };
    match state
        .app
        .progress(
            caller.principal(),
            &id,
            &ask,
            PROGRESS_ACTION,
            &caller.ctx.meta,
        )
        .await
    {
        Ok(view) => {
            Json(view.rows.iter().map(ProgressView::from).collect::<Vec<_>>()).into_response()
        }
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}
