//! The JSON API under `/api/v1` (API.md). Bearer tokens only: no cookies, so
//! no cross-site request can act with a user's authority here.

mod access_keys;
mod areas;
pub(crate) mod audit;
mod auth;
mod documents;
mod feedback;
mod organisations;
mod progress;
mod queries;
mod returns;
mod sessions;
mod submissions;
mod users;
mod windows;

use app::{AppError, Principal};
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use utoipa_axum::router::OpenApiRouter;

use crate::body::{self, BodyError};
use crate::context::Ctx;
use crate::error::ApiError;
use crate::state::WebState;

/// The API's routes and its OpenAPI document, from the same annotations: a
/// route cannot exist without being described. Mounted at `/api/v1`.
pub fn router() -> Router<WebState> {
    let (router, mut doc) = OpenApiRouter::<WebState>::new()
        .merge(auth::routes())
        .merge(users::routes())
        .merge(organisations::routes())
        .merge(areas::routes())
        .merge(access_keys::routes())
        .merge(windows::routes())
        .merge(progress::routes())
        .merge(submissions::routes())
        .merge(queries::routes())
        .merge(documents::routes())
        .merge(feedback::routes())
        .merge(sessions::routes())
        .merge(audit::routes())
        .split_for_parts();
    doc.info.title = "Provider Portal API".into();
    doc.info.version = "1".into();
    doc.info.description = Some("The JSON API of Provider Portal (see API.md). Authenticate with `Authorization: Bearer <token>` from POST /auth/token.".into());
    doc.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        utoipa::openapi::security::SecurityScheme::Http(utoipa::openapi::security::Http::new(
            utoipa::openapi::security::HttpAuthScheme::Bearer,
        )),
    );
    // The document describes itself too, so that every route is in it.
    doc.paths.add_path_operation(
        OPENAPI_PATH,
        vec![utoipa::openapi::HttpMethod::Get],
        utoipa::openapi::path::OperationBuilder::new()
            .tag("Meta")
            .summary(Some("This OpenAPI document"))
            .response(
                "200",
                utoipa::openapi::Response::new("The OpenAPI 3.1 document"),
            )
            .build(),
    );
    let json = std::sync::Arc::new(doc.to_json().unwrap_or_default());
    router
        .route(
            OPENAPI_PATH,
            axum::routing::get(move || {
                let json = json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        (*json).clone(),
                    )
                }
            }),
        )
        .fallback(not_found)
}

/// Where the OpenAPI document is served, inside `/api/v1`.
pub const OPENAPI_PATH: &str = "/openapi.json";

async fn not_found(ctx: Ctx) -> Response {
    ApiError::new(AppError::NotFound, &ctx.meta).into_response()
}

/// The error answer to a signed-in caller. Bad input is audited here; use
/// cases have already audited what they refused.
async fn refuse(state: &WebState, caller: &Caller, e: AppError) -> Response {
    let meta = &caller.ctx.meta;
    if let AppError::Invalid(fields) = &e {
        let detail = fields.keys().copied().collect::<Vec<_>>().join(",");
        state
            .app
            .record_refusal(
                meta,
                Some(caller.principal()),
                "api.invalid",
                &format!("invalid: {detail}"),
            )
            .await;
    }
    ApiError::new(e, meta).into_response()
}

/// A JSON body: `application/json` (else 415), at most 64 KiB (else 413), and
/// exactly the fields `T` declares (else 400). Every refusal is audited.
pub struct ApiJson<T> {
    pub ctx: Ctx,
    pub data: T,
}

impl<T: DeserializeOwned + Send> FromRequest<WebState> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, state).await?;
        let bytes = match body::read(&parts.headers, body, "application/json").await {
            Ok(b) => b,
            Err(e) => {
                state
                    .app
                    .record_refusal(&ctx.meta, ctx.principal(), "api.refused", e.detail())
                    .await;
                let err = match e {
                    BodyError::WrongType => ApiError::plain(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "unsupported_media_type",
                        "Send the body as application/json",
                    ),
                    BodyError::TooLarge => ApiError::plain(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        format!("The body must be at most {} bytes", body::MAX_BODY_BYTES),
                    ),
                    BodyError::Unreadable => ApiError::plain(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "The body could not be read",
                    ),
                };
                return Err(err.into_response());
            }
        };
        match serde_json::from_slice::<T>(&bytes) {
            Ok(data) => Ok(Self { ctx, data }),
            Err(e) => {
                // serde's message names the offending field or position, never
                // anything of ours: it helps the caller and leaks nothing.
                let message = format!("The JSON body is not valid: {e}");
                // The audit keeps where and what kind of error, not serde's text:
                // that quotes the caller's values, which may be a live passcode.
                let detail = format!(
                    "{:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                );
                state
                    .app
                    .record_refusal(&ctx.meta, ctx.principal(), "api.invalid", &detail)
                    .await;
                Err(ApiError::plain(StatusCode::BAD_REQUEST, "invalid", message).into_response())
            }
        }
    }
}

/// The signed-in caller, or 401 (audited).
pub struct Caller {
    pub ctx: Ctx,
}

impl Caller {
    pub fn principal(&self) -> &Principal {
        // Constructed only with a principal present.
        match self.ctx.principal() {
            Some(p) => p,
            None => unreachable!("Caller is only built for signed-in requests"),
        }
    }
}

impl FromRequestParts<WebState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        if ctx.principal.is_none() {
            state
                .app
                .record_refusal(&ctx.meta, None, "api.unauthenticated", parts.uri.path())
                .await;
            return Err(ApiError::new(AppError::Unauthenticated, &ctx.meta).into_response());
        }
        Ok(Self { ctx })
    }
}
