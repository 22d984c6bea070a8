//! Areas and their members (API.md "Areas and access keys", seed 000 E).

use std::collections::HashMap;

use app::AppError;
use app::areas::AreaInput;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{UserView, answer};
use super::{ApiJson, Caller, refuse};
use crate::error::{ApiError, ApiErrorBody};
use crate::path_id::parse_id;
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(members, add_member))
        .routes(routes!(remove_member))
}

#[derive(Serialize, ToSchema)]
struct AreaView {
    slug: String,
    name: String,
    kind: &'static str,
    sensitive: bool,
}

impl From<&domain::role::Area> for AreaView {
    fn from(a: &domain::role::Area) -> Self {
        Self {
            slug: a.slug.to_string(),
            name: a.name.clone(),
            kind: a.kind.as_str(),
            sensitive: a.sensitive,
        }
    }
}

/// Every area.
#[utoipa::path(get, path = "/areas", tag = "Areas", security(("bearer" = [])),
    responses((status = 200, body = Vec<AreaView>), (status = 401, body = ApiErrorBody)))]
async fn list(State(state): State<WebState>, caller: Caller) -> Response {
    match state.app.areas().await {
        Ok(areas) => Json(areas.iter().map(AreaView::from).collect::<Vec<_>>()).into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AreaBody {
    slug: String,
    name: String,
    /// `data_return` or `communication`.
    kind: String,
    #[serde(default)]
    sensitive: bool,
}

/// Define an area (regulator administrators).
#[utoipa::path(post, path = "/areas", tag = "Areas", security(("bearer" = [])), request_body = AreaBody,
    responses((status = 201, body = AreaView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
async fn create(
    State(state): State<WebState>,
    caller: Caller,
    body: ApiJson<AreaBody>,
) -> Response {
    let b = &body.data;
    let input = AreaInput {
        slug: b.slug.clone(),
        name: b.name.clone(),
        kind: b.kind.clone(),
        sensitive: b.sensitive,
    };
    match state
        .app
        .create_area(caller.principal(), &input, &caller.ctx.meta)
        .await
    {
        Ok(area) => (StatusCode::CREATED, Json(AreaView::from(&area))).into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}

#[derive(Serialize, ToSchema)]
struct MembersView {
    items: Vec<UserView>,
    total: i64,
}

/// The caller's organisation's users who hold the area's role (`?q=&page=`).
#[utoipa::path(get, path = "/areas/{slug}/users", tag = "Areas", security(("bearer" = [])),
    params(("slug" = String, Path), ("q" = Option<String>, Query), ("page" = Option<i64>, Query)),
    responses((status = 200, body = MembersView), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn members(
    State(state): State<WebState>,
    caller: Caller,
    Path(slug): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let meta = &caller.ctx.meta;
    let actor = caller.principal();
    let page = match q.get("page").map(String::as_str) {
        None | Some("") => 1,
        Some(v) => match v.parse::<i64>().ok().filter(|n| *n >= 1) {
            Some(n) => n,
            None => {
                let e = AppError::invalid("page", "Must be a whole number, 1 or more");
                return refuse(&state, &caller, e).await;
            }
        },
    };
    let result = match state.app.area(actor, &slug, meta).await {
        Ok(area) => {
            state
                .app
                .area_users(actor, &area, q.get("q").cloned(), page, meta)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(p) => {
            let now = state.app.clock.now();
            Json(MembersView {
                items: p.items.iter().map(|u| UserView::new(u, now)).collect(),
                total: p.total,
            })
            .into_response()
        }
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    user_id: String,
}

/// Add a user to the area: they get its role (never a sensitive area's: that
/// takes an access key).
#[utoipa::path(post, path = "/areas/{slug}/users", tag = "Areas", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = MemberBody,
    responses((status = 200, body = UserView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn add_member(
    State(state): State<WebState>,
    caller: Caller,
    Path(slug): Path<String>,
    body: ApiJson<MemberBody>,
) -> Response {
    let meta = &caller.ctx.meta;
    let actor = caller.principal();
    let result = match state.app.area(actor, &slug, meta).await {
        Ok(area) => {
            match parse_id(&state.app, meta, Some(actor), &body.data.user_id, "user_id").await {
                Ok(user) => state.app.add_to_area(actor, &area, user, meta).await,
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    answer(&state, &caller, result).await
}

/// Remove a user from the area (their role for it is taken away).
#[utoipa::path(delete, path = "/areas/{slug}/users/{user_id}", tag = "Areas", security(("bearer" = [])),
    params(("slug" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn remove_member(
    State(state): State<WebState>,
    caller: Caller,
    Path((slug, user)): Path<(String, String)>,
) -> Response {
    let meta = &caller.ctx.meta;
    let actor = caller.principal();
    let result = match state.app.area(actor, &slug, meta).await {
        Ok(area) => match parse_id(&state.app, meta, Some(actor), &user, "user_id").await {
            Ok(user) => state.app.remove_from_area(actor, &area, user, meta).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}
