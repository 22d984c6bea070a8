//! What a page handler gets: who is asking, the form token, the layout; and
//! [`Form`], the only way a page reads a form, which checks the token.

use app::{AppError, Principal};
use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use rand::RngCore;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::body::{self, BodyError};
use crate::context::Ctx;
use crate::error::PageError;
use crate::layout::{Layout, LayoutUser, TimeoutWarning};
use crate::state::{WebState, read_cookie};

/// Binds form tokens for visitors who are not signed in yet.
pub const CSRF_COOKIE: &str = "portal_csrf";

pub struct Page {
    pub ctx: Ctx,
    pub state: WebState,
    /// What the form token is bound to: the session, or the visitor's cookie.
    binding: Vec<u8>,
    /// A visitor cookie made for this response (none was sent).
    new_cookie: Option<String>,
    /// The path asked for (no query): the layout marks its section.
    path: String,
}

impl Page {
    pub fn principal(&self) -> Option<&Principal> {
        self.ctx.principal()
    }

    pub fn csrf_token(&self) -> String {
        hex::encode(self.state.app.key.mac("csrf", &[&self.binding]))
    }

    pub fn layout(&self, title: impl Into<String>) -> Layout {
        let now = self.state.app.clock.now();
        let idle = self.state.app.settings.session_idle_timeout;
        Layout {
            title: title.into(),
            user: self.principal().map(|p| LayoutUser {
                display_name: p.display_name(),
                organisation: p.organisation.name.clone(),
                manages_users: p.may_manage_users(),
                manages_organisations: p.may_manage_organisations(),
                manages_access_keys: p.may_manage_access_keys(),
                reads_activity: p.may_read_activity(),
                reads_feedback: p.may_read_feedback(),
            }),
            csrf_token: self.csrf_token(),
            show_dev_mail: self.state.config.dev_mail_dir.is_some(),
            path: self.path.clone(),
            timeout_warning: self.principal().map(|p| TimeoutWarning {
                seconds_left: (p.ends_at - now).whole_seconds().max(0),
                warn_seconds: warning_before(idle).whole_seconds(),
                last_moment: domain::uk_time::moment(
                    p.session_started_at + domain::session::ABSOLUTE_TIMEOUT,
                ),
            }),
        }
    }

    /// Renders a template, setting the visitor cookie if one was made.
    pub fn render(&self, status: StatusCode, template: &impl Template) -> Response {
        let mut resp = match template.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => return self.error(AppError::internal(format!("template: {e}"))),
        };
        self.finish(&mut resp);
        resp
    }

    /// Adds what every page response from this extractor needs.
    pub fn finish(&self, resp: &mut Response) {
        if let Some(value) = &self.new_cookie
            && let Ok(v) = HeaderValue::from_str(&self.state.cookie(CSRF_COOKIE, value, None))
        {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }

    /// Refuses a page the authorisation table does not allow: audited, 403.
    pub async fn refuse(&self, action: &str, why: impl Into<String>) -> Response {
        let why = why.into();
        audit(self, action, &why).await;
        self.error(AppError::Forbidden(why))
    }

    pub fn error(&self, e: AppError) -> Response {
        let mut resp = PageError::new(e, &self.ctx.meta, Some(self.layout(""))).into_response();
        self.finish(&mut resp);
        resp
    }
}

/// How long before the idle timeout the timeout warning appears: 2 minutes
/// (the GOV.UK pattern's usual lead), or half the timeout if that is shorter.
pub fn warning_before(idle: time::Duration) -> time::Duration {
    (idle / 2_i32).min(time::Duration::minutes(2))
}

impl FromRequestParts<WebState> for Page {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        let (binding, new_cookie) = match &ctx.principal {
            Some(p) => (p.session_hash.clone(), None),
            None => match read_cookie(&parts.headers, &state.cookie_name(CSRF_COOKIE)) {
                Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    (v.into_bytes(), None)
                }
                _ => {
                    let mut bytes = [0u8; 32];
                    rand::rngs::OsRng.fill_bytes(&mut bytes);
                    let v = hex::encode(bytes);
                    (v.clone().into_bytes(), Some(v))
                }
            },
        };
        Ok(Self {
            ctx,
            state: state.clone(),
            binding,
            new_cookie,
            path: parts.uri.path().to_owned(),
        })
    }
}

/// A submitted form whose CSRF token matched. Fields other than `csrf_token`
/// are deserialised into `T`.
pub struct Form<T> {
    pub page: Page,
    pub data: T,
}

#[derive(serde::Deserialize)]
struct TokenOnly {
    #[serde(default)]
    csrf_token: String,
}

impl<T: DeserializeOwned + Send> FromRequest<WebState> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let page = Page::from_request_parts(&mut parts, state).await?;
        let bytes =
            match body::read(&parts.headers, body, "application/x-www-form-urlencoded").await {
                Ok(b) => b,
                Err(e) => return Err(refuse(&page, e).await),
            };
        let token: TokenOnly = serde_urlencoded::from_bytes(&bytes).unwrap_or(TokenOnly {
            csrf_token: String::new(),
        });
        let expected = page.csrf_token();
        let matches: bool = token
            .csrf_token
            .as_bytes()
            .ct_eq(expected.as_bytes())
            .into();
        if !matches {
            audit(&page, "csrf.refused", "form token missing or wrong").await;
            let mut resp = PageError::refused(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "For your security, forms expire. Go back, refresh the page and try again.",
                &page.ctx.meta,
            )
            .into_response();
            page.finish(&mut resp);
            return Err(resp);
        }
        match serde_urlencoded::from_bytes::<T>(&bytes) {
            Ok(data) => Ok(Self { page, data }),
            Err(_) => {
                audit(&page, "form.invalid", "form fields could not be read").await;
                Err(page.error(AppError::invalid(
                    "form",
                    "The form could not be read. Go back and try again",
                )))
            }
        }
    }
}

async fn refuse(page: &Page, e: BodyError) -> Response {
    audit(page, "form.refused", e.detail()).await;
    let status = match e {
        BodyError::WrongType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        BodyError::Unreadable => StatusCode::BAD_REQUEST,
    };
    let mut resp = PageError::refused(
        status,
        "There is a problem",
        "The form could not be read.",
        &page.ctx.meta,
    )
    .into_response();
    page.finish(&mut resp);
    resp
}

async fn audit(page: &Page, action: &str, detail: &str) {
    page.state
        .app
        .record_refusal(&page.ctx.meta, page.principal(), action, detail)
        .await;
}
