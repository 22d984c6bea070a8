//! What the handlers share.

use std::path::PathBuf;

use app::App;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Production: `__Host-` cookies with `Secure`, HSTS, no `/dev/mail`.
    pub production: bool,
    /// Development only: the directory `/dev/mail` reads `.eml` files from.
    pub dev_mail_dir: Option<PathBuf>,
}

/// What every handler and middleware is given: cloned for each of them on
/// every request, so one shared allocation (one reference count to bump),
/// not a copy of every field.
#[derive(Clone)]
pub struct WebState(std::sync::Arc<Shared>);

/// The fields of [`WebState`], reached through it (`state.app`).
pub struct Shared {
    pub app: App,
    pub config: WebConfig,
}

impl std::ops::Deref for WebState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl WebState {
    pub fn new(app: App, config: WebConfig) -> Self {
        Self(std::sync::Arc::new(Shared { app, config }))
    }

    /// Cookie names: `__Host-` outside development, which the browser only
    /// accepts with `Secure`, `Path=/` and no `Domain`.
    pub fn cookie_name(&self, base: &str) -> String {
        if self.config.production {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// `Set-Cookie` value with exactly the flags PRODUCT §3 asks for.
    pub fn cookie(&self, base: &str, value: &str, max_age: Option<i64>) -> String {
        let mut c = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            self.cookie_name(base)
        );
        if self.config.production {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        c
    }

    pub fn clear_cookie(&self, base: &str) -> String {
        self.cookie(base, "", Some(0))
    }
}

/// The value of one cookie from the request's `Cookie` headers.
pub fn read_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
