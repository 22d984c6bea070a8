//! Ids in paths, parsed at the edge: a handler that takes `PathId<UserId>`
//! only ever sees a well-formed id. A malformed one is answered exactly as a
//! missing resource (404, PRODUCT §2 rule 1), and the attempt is audited.

use std::str::FromStr;

use axum::extract::{FromRequestParts, OriginalUri, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::context::Ctx;
use crate::error::ApiError;
use crate::page::Page;
use crate::state::WebState;

/// The audit action of a malformed id in a path.
pub const MALFORMED_ID: &str = "request.malformed_id";

/// The one id of a route such as `/users/{id}`.
pub struct PathId<T>(pub T);

impl<T: FromStr + Send> FromRequestParts<WebState> for PathId<T> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let raw = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?
            .0;
        if let Ok(id) = raw.parse::<T>() {
            return Ok(Self(id));
        }
        let ctx = Ctx::from_request_parts(parts, state).await?;
        // Routers nested under /api/v1 see their path without the prefix.
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |o| o.0.path().to_owned());
        let detail: String = format!("{} {path}", parts.method)
            .chars()
            .take(120)
            .collect();
        state
            .app
            .record_refusal(&ctx.meta, ctx.principal(), MALFORMED_ID, &detail)
            .await;
        if path.starts_with("/api/") {
            Err(ApiError::new(app::AppError::NotFound, &ctx.meta).into_response())
        } else {
            let page = Page::from_request_parts(parts, state).await?;
            Err(page.error(app::AppError::NotFound))
        }
    }
}

/// An id from a body or a second path segment, parsed as [`PathId`] parses
/// one: malformed, it is audited (naming `field`) and answered as not found.
pub async fn parse_id<T: FromStr>(
    app: &app::App,
    meta: &app::RequestMeta,
    actor: Option<&app::Principal>,
    raw: &str,
    field: &str,
) -> Result<T, app::AppError> {
    match raw.parse::<T>() {
        Ok(id) => Ok(id),
        Err(_) => {
            app.record_refusal(meta, actor, MALFORMED_ID, field).await;
            Err(app::AppError::NotFound)
        }
    }
}
