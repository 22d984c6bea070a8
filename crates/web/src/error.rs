//! One error, two renderings: JSON for the API, a GOV.UK page for people.
//!
//! The cause of an internal error is logged once, with the request id; the
//! client sees only a generic message and that id. A database that cannot be
//! reached just now (connection refused or lost, no connection free in time)
//! is not an internal error: it answers `503 unavailable` with `Retry-After`,
//! so clients and load balancers try again.

use app::error::InternalError;
use app::{AppError, RequestMeta};
use askama::Template;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Serialize;

use crate::layout::Layout;

/// The API's error body (API.md "Conventions").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    /// `invalid`, `unauthenticated`, `code_rejected`, `forbidden`, `not_found`,
    /// `conflict`, `too_large`, `unsupported_media_type`, `rate_limited`, `internal`,
    /// `unavailable`.
    #[schema(value_type = String)]
    pub error: &'static str,
    pub message: String,
    /// Per-field messages, for `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub fields: Option<std::collections::BTreeMap<&'static str, String>>,
}

/// Seconds a client is asked to wait while the database cannot be reached.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// The database cannot be reached just now: trying again later may work.
fn unavailable(e: &AppError) -> bool {
    matches!(e, AppError::Internal(InternalError::Store(s)) if s.is_unavailable())
}

pub struct ApiError {
    status: StatusCode,
    body: ApiErrorBody,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(e: AppError, meta: &RequestMeta) -> Self {
        let (status, error, message, fields, retry_after) = match e.settled() {
            AppError::Invalid(f) => (
                StatusCode::BAD_REQUEST,
                "invalid",
                "Some fields are not valid".to_owned(),
                Some(f),
                None,
            ),
            AppError::CodeRejected => (
                StatusCode::UNAUTHORIZED,
                "code_rejected",
                "The code is incorrect, expired or already used".to_owned(),
                None,
                None,
            ),
            AppError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Sign in to use this".to_owned(),
                None,
                None,
            ),
            AppError::Forbidden(why) => (StatusCode::FORBIDDEN, "forbidden", why, None, None),
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found".to_owned(),
                None,
                None,
            ),
            AppError::Conflict(why) => (StatusCode::CONFLICT, "conflict", why, None, None),
            AppError::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests: try again later".to_owned(),
                None,
                Some(retry_after_secs),
            ),
            e if unavailable(&e) => {
                tracing::warn!(request_id = %meta.request_id, error = ?e, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!(
                        "The service is unavailable: try again in a few seconds. Reference: {}",
                        meta.request_id
                    ),
                    None,
                    Some(UNAVAILABLE_RETRY_AFTER_SECS),
                )
            }
            e @ (AppError::Internal(_) | AppError::Refused(_)) => {
                tracing::error!(request_id = %meta.request_id, error = ?e, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("Something went wrong. Reference: {}", meta.request_id),
                    None,
                    None,
                )
            }
        };
        Self {
            status,
            body: ApiErrorBody {
                error,
                message,
                fields,
            },
            retry_after,
        }
    }

    /// Errors the HTTP layer finds before any use case runs.
    pub fn plain(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ApiErrorBody {
                error,
                message: message.into(),
                fields: None,
            },
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage {
    layout: Layout,
    heading: String,
    message: String,
    request_id: String,
    show_reference: bool,
}

/// A whole page saying what went wrong, for people.
pub struct PageError {
    status: StatusCode,
    heading: &'static str,
    message: String,
    request_id: String,
    show_reference: bool,
    layout: Layout,
    retry_after: Option<u64>,
    redirect_to_sign_in: bool,
}

impl PageError {
    pub fn new(e: AppError, meta: &RequestMeta, layout: Option<Layout>) -> Self {
        let mut page = Self {
            status: StatusCode::BAD_REQUEST,
            heading: "There is a problem",
            message: String::new(),
            request_id: meta.request_id.clone(),
            show_reference: false,
            layout: layout.unwrap_or_default(),
            retry_after: None,
            redirect_to_sign_in: false,
        };
        match e.settled() {
            AppError::Invalid(fields) => {
                page.message = fields.into_values().collect::<Vec<_>>().join(". ");
            }
            AppError::CodeRejected => {
                page.status = StatusCode::UNAUTHORIZED;
                page.message = "The code is incorrect or has expired.".into();
            }
            AppError::Unauthenticated => page.redirect_to_sign_in = true,
            AppError::Forbidden(why) => {
                page.status = StatusCode::FORBIDDEN;
                page.heading = "You cannot do this";
                page.message = why;
            }
            AppError::NotFound => {
                page.status = StatusCode::NOT_FOUND;
                page.heading = "Page not found";
                page.message = "If you typed the web address, check it is correct. \
                                If you pasted the web address, check you copied the entire address."
                    .into();
            }
            AppError::Conflict(why) => {
                page.status = StatusCode::CONFLICT;
                page.message = why;
            }
            AppError::RateLimited { retry_after_secs } => {
                page.status = StatusCode::TOO_MANY_REQUESTS;
                page.heading = "Too many attempts";
                page.message = format!("Wait {retry_after_secs} seconds, then try again.");
                page.retry_after = Some(retry_after_secs);
            }
            e if unavailable(&e) => {
                tracing::warn!(request_id = %meta.request_id, error = ?e, "database unavailable");
                page.status = StatusCode::SERVICE_UNAVAILABLE;
                page.heading = "Sorry, the service is unavailable";
                page.message = "Try again in a few minutes. If it keeps happening, contact \
                                portal@officeforstudents.org.uk and quote the reference below."
                    .into();
                page.show_reference = true;
                page.retry_after = Some(UNAVAILABLE_RETRY_AFTER_SECS);
            }
            e @ (AppError::Internal(_) | AppError::Refused(_)) => {
                tracing::error!(request_id = %meta.request_id, error = ?e, "internal error");
                page.status = StatusCode::INTERNAL_SERVER_ERROR;
                page.heading = "Sorry, there is a problem with the service";
                page.message = "Try again later. If it keeps happening, contact \
                                portal@officeforstudents.org.uk and quote the reference below."
                    .into();
                page.show_reference = true;
            }
        }
        page
    }

    /// A refusal found by the HTTP layer (e.g. a cross-site form), with its own words.
    pub fn refused(
        status: StatusCode,
        heading: &'static str,
        message: &str,
        meta: &RequestMeta,
    ) -> Self {
        Self {
            status,
            heading,
            message: message.to_owned(),
            request_id: meta.request_id.clone(),
            show_reference: true,
            layout: Layout::default(),
            retry_after: None,
            redirect_to_sign_in: false,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.redirect_to_sign_in {
            return Redirect::to("/sign-in").into_response();
        }
        let mut layout = self.layout;
        layout.title = self.heading.to_owned();
        let page = ErrorPage {
            layout,
            heading: self.heading.to_owned(),
            message: self.message,
            request_id: self.request_id,
            show_reference: self.show_reference,
        };
        let mut resp = match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "error page failed to render");
                (self.status, "Sorry, there is a problem with the service").into_response()
            }
        };
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> RequestMeta {
        RequestMeta {
            request_id: "0123456789abcdef0123456789abcdef".into(),
            ip: None,
        }
    }

    #[test]
    fn an_unreachable_database_is_503_with_retry_after_and_the_reference() {
        let gone = AppError::from(store::StoreError::Unavailable("connection refused".into()));
        let api = ApiError::new(gone, &meta()).into_response();
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.headers()[header::RETRY_AFTER], "5");
        let page = PageError::new(
            AppError::from(store::StoreError::Unavailable("pool timed out".into())),
            &meta(),
            None,
        );
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(page.show_reference);
        // Any other database failure stays an internal error.
        let broken = AppError::from(store::StoreError::Database("syntax error".into()));
        let api = ApiError::new(broken, &meta());
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(api.body.error, "internal");
    }
}
