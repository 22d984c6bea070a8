//! Ids in paths, parsed at the edge: a handler that takes `PathId<UserId>`
//! only ever sees a well-formed id. A malformed one is answered exactly as a
//! missing resource (404, PRODUCT §2 rule 1), and the attempt is audited.
//!
//! Page forms posted to such a route use [`IdForm`]: the CSRF check comes
//! first, so a cross-site post is refused as one before its id is looked at.

use std::str::FromStr;

use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Path, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use crate::context::Ctx;
use crate::error::ApiError;
use serde::de::DeserializeOwned;

use crate::page::{Form, Page};
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
        // A segment that is not even UTF-8 is as malformed as any other.
        let raw = Path::<String>::from_request_parts(parts, state).await.ok();
        if let Some(id) = raw.and_then(|r| r.0.parse::<T>().ok()) {
            return Ok(Self(id));
        }
        let ctx = Ctx::from_request_parts(parts, state).await?;
        // Routers nested under /api/v1 see their path without the prefix.
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |o| o.0.path().to_owned());
        // Pages send someone not signed in to sign in, whatever they asked for.
        if ctx.principal().is_none() && !path.starts_with("/api/") {
            return Err(Redirect::to("/sign-in").into_response());
        }
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
    // Only the id is kept: a parse error need not live across the await.
    match raw.parse::<T>().ok() {
        Some(id) => Ok(id),
        None => {
            app.record_refusal(meta, actor, MALFORMED_ID, field).await;
            Err(app::AppError::NotFound)
        }
    }
}

/// A page form posted to a route with an id (`/users/{id}`): the form's CSRF
/// check first, then the id — someone not signed in is sent to sign in, a
/// malformed id is audited and answered as not found.
pub struct IdForm<I, T> {
    pub id: I,
    pub page: Page,
    pub data: T,
}

impl<I, T> FromRequest<WebState> for IdForm<I, T>
where
    I: FromStr + Send,
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let raw = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map(|p| p.0)
            .unwrap_or_default();
        let Form { page, data } =
            Form::<T>::from_request(Request::from_parts(parts, body), state).await?;
        let Some(actor) = page.principal() else {
            return Err(Redirect::to("/sign-in").into_response());
        };
        match parse_id(&page.state.app, &page.ctx.meta, Some(actor), &raw, "id").await {
            Ok(id) => Ok(Self { id, page, data }),
            Err(e) => Err(page.error(e)),
        }
    }
}
