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

#[derive(Clone)]
pub struct WebState {
    pub app: App,
    pub config: std::sync::Arc<WebConfig>,
}

impl WebState {
    pub fn new(app: App, config: WebConfig) -> Self {
        Self {
            app,
            config: std::sync::Arc::new(config),
        }
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
