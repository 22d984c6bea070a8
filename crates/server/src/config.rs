//! Configuration: `PORTAL_*` environment variables, optionally a TOML file named
//! by `PORTAL_CONFIG` (environment wins). Loading never writes anything.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub env: Environment,
    pub database_url: String,
    pub listen: SocketAddr,
    /// Where people reach the portal; used in emails. Default `http://<listen>`.
    pub base_url: Option<String>,
    /// Every email is also written here as an `.eml` file. Default `data/mail`
    /// in development, none in production.
    pub mail_dir: Option<PathBuf>,
    pub smtp_url: Option<String>,
    /// Benchmarks only: every email goes, instead of anywhere else, to this
    /// file as one JSON line (docs/performance.md). Refused in production.
    pub mail_capture: Option<PathBuf>,
    pub mail_from: String,
    pub files_dir: PathBuf,
    /// Object storage (issue 14): where uploaded files live, `file:///dir` or
    /// `s3://bucket/prefix` (credentials and endpoint from the standard
    /// `AWS_*` variables). Default `file://<files_dir>`. With a bucket,
    /// uploads are still received and checked in `<files_dir>/incoming`.
    pub files_url: Option<String>,
    /// The largest upload, in megabytes (MiB).
    pub max_upload_mb: u64,
    /// At least 32 bytes. Required in production.
    pub secret_key: Option<String>,
    /// Earlier secret keys, comma-separated, newest first: only `portal audit
    /// verify` uses them, to check the audit chain written before a key
    /// rotation (docs/decisions.md, "The keyed audit chain").
    pub previous_secret_keys: Option<String>,
    /// Development: fill an empty database with demonstration data.
    pub demo: bool,
    pub sign_in_per_ip_per_minute: u32,
    /// Password sign-in and registration with an access key (seed 000). Off by default.
    pub password_sign_in: bool,
    /// A signed-in session ends after this many seconds without a request
    /// (PRODUCT §3: 30 minutes, the default and the longest allowed). The
    /// timeout warning appears 2 minutes before (half the time if shorter).
    pub session_idle_timeout_secs: u64,
    /// `modern` (default) or `legacy`.
    pub password_policy: String,
    /// `pretty` (development default) or `json` (production default).
    pub log_format: Option<String>,
    // Connections and metrics (issue 14; docs/decisions.md, "Bounded
    // connections, graceful shutdown, metrics").
    /// Seconds a client has to send a request's headers, from its first byte.
    pub header_timeout_secs: u64,
    /// Seconds a kept-alive connection may sit with no request before it is closed.
    pub idle_timeout_secs: u64,
    /// Seconds a request in progress may go with no byte moving either way
    /// (body arriving, answer leaving, or the portal still working on it).
    pub request_timeout_secs: u64,
    /// Connections open at once on the public listener; more are answered
    /// `503` and closed. Keep it well under the open-files limit.
    pub max_connections: usize,
    /// Seconds requests in flight get to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// `GET /metrics` (Prometheus text) on this address only. Unset: no metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// How long the outbox worker owns an email it claimed, in seconds (default
    /// 120). After a crash, emails the dead process had claimed but not sent
    /// wait this long; it must exceed the time to send one email (SMTP times
    /// out after 20 s).
    pub outbox_lease_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            database_url: "sqlite://data/portal.db".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_url: None,
            mail_dir: None,
            smtp_url: None,
            mail_capture: None,
            mail_from: "Provider Portal <no-reply@provider-portal.localhost>".into(),
            files_dir: "data/files".into(),
            files_url: None,
            max_upload_mb: 100,
            secret_key: None,
            previous_secret_keys: None,
            demo: true,
            sign_in_per_ip_per_minute: 30,
            password_sign_in: false,
            session_idle_timeout_secs: 1800,
            password_policy: "modern".into(),
            log_format: None,
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
            request_timeout_secs: 60,
            max_connections: 512,
            shutdown_grace_secs: 30,
            metrics_listen: None,
            outbox_lease_secs: 120,
        }
    }
}

// Written by hand so that the secret key and SMTP credentials never reach a log.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("listen", &self.listen)
            .field("base_url", &self.base_url)
            .field("mail_dir", &self.mail_dir)
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "…"))
            .field("mail_capture", &self.mail_capture)
            .field("mail_from", &self.mail_from)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "…"))
            .field(
                "previous_secret_keys",
                &self.previous_secret_keys.as_ref().map(|_| "…"),
            )
            .field("demo", &self.demo)
            .field("sign_in_per_ip_per_minute", &self.sign_in_per_ip_per_minute)
            .field("password_sign_in", &self.password_sign_in)
            .field("session_idle_timeout_secs", &self.session_idle_timeout_secs)
            .field("password_policy", &self.password_policy)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("metrics_listen", &self.metrics_listen)
            .field("outbox_lease_secs", &self.outbox_lease_secs)
            .finish_non_exhaustive()
    }
}

/// SMTP that is encrypted, or that never leaves this machine.
fn smtp_is_private(url: &str) -> bool {
    if url.starts_with("smtps://") || url.contains("tls=required") {
        return true;
    }
    let rest = url.strip_prefix("smtp://").unwrap_or(url);
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host_port.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// The settings read from `PORTAL_*` variables. Other `PORTAL_*` variables
/// (`PORTAL_CONFIG`, `PORTAL_LOG`, the tests' `PORTAL_TEST_POSTGRES_URL`) are not settings.
const KEYS: &[&str] = &[
    "env",
    "database_url",
    "listen",
    "base_url",
    "mail_dir",
    "smtp_url",
    "mail_capture",
    "mail_from",
    "files_dir",
    "files_url",
    "max_upload_mb",
    "secret_key",
    "previous_secret_keys",
    "demo",
    "sign_in_per_ip_per_minute",
    "password_sign_in",
    "session_idle_timeout_secs",
    "password_policy",
    "log_format",
    "header_timeout_secs",
    "idle_timeout_secs",
    "request_timeout_secs",
    "max_connections",
    "shutdown_grace_secs",
    "metrics_listen",
    "outbox_lease_secs",
];

/// The key used when none is configured, in development only. It is public,
/// so production refuses to start without `PORTAL_SECRET_KEY`.
const DEVELOPMENT_KEY: &str = "provider-portal-development-key-not-secret-0000";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(String),
    #[error("{0}")]
    Refused(String),
}

impl Config {
    /// Defaults, then the TOML file named by `PORTAL_CONFIG`, then `PORTAL_*` variables.
    pub fn load() -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Ok(path) = std::env::var("PORTAL_CONFIG") {
            fig = fig.merge(Toml::file_exact(path));
        }
        let config: Config = fig
            .merge(Env::prefixed("PORTAL_").only(KEYS))
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        config.checked()
    }

    /// Refuses settings that would be unsafe in production.
    pub fn checked(self) -> Result<Self, ConfigError> {
        self.check_connections()?;
        // Object storage (issue 14).
        if let Some(url) = &self.files_url
            && !(url.starts_with("file:///") || url.starts_with("s3://"))
        {
            return Err(ConfigError::Refused(format!(
                "PORTAL_FILES_URL must be file:///absolute/dir or s3://bucket/prefix, not {url:?}"
            )));
        }
        if !(1..=86_400).contains(&self.outbox_lease_secs) {
            return Err(ConfigError::Refused(
                "PORTAL_OUTBOX_LEASE_SECS must be from 1 to 86400 (a day)".into(),
            ));
        }
        if !(10..=1_800).contains(&self.session_idle_timeout_secs) {
            return Err(ConfigError::Refused(format!(
                "PORTAL_SESSION_IDLE_TIMEOUT_SECS must be from 10 to 1800 (30 minutes, PRODUCT §3), not {}",
                self.session_idle_timeout_secs
            )));
        }
        if self.max_upload_mb == 0 {
            return Err(ConfigError::Refused(
                "PORTAL_MAX_UPLOAD_MB must be at least 1".into(),
            ));
        }
        if domain::password::Policy::parse(&self.password_policy).is_none() {
            return Err(ConfigError::Refused(format!(
                "PORTAL_PASSWORD_POLICY must be `modern` or `legacy`, not {:?}",
                self.password_policy
            )));
        }
        if self.env == Environment::Development && !self.listen.ip().is_loopback() {
            return Err(ConfigError::Refused(format!(
                "refusing to listen on {} in development: development mode serves everyone's email at \
                 /dev/mail and uses a public key, so it only listens on a loopback address. \
                 Set PORTAL_ENV=production to serve other machines",
                self.listen
            )));
        }
        if self.env == Environment::Production {
            let mut problems = Vec::new();
            if self.mail_capture.is_some() {
                problems.push("PORTAL_MAIL_CAPTURE is for benchmarks only: it would keep every sign-in code in a file");
            }
            if self.mail_dir.is_some() {
                problems.push("PORTAL_MAIL_DIR is for development only: it would write every email, sign-in codes included, to files");
            }
            match &self.secret_key {
                None => problems.push("PORTAL_SECRET_KEY is not set (use at least 32 random bytes, e.g. `openssl rand -hex 32`)"),
                Some(k) if k.len() < 32 => problems.push("PORTAL_SECRET_KEY is shorter than 32 bytes"),
                Some(k) if k == DEVELOPMENT_KEY => problems.push("PORTAL_SECRET_KEY is the public development key"),
                Some(_) => {}
            }
            // A send may take up to the SMTP timeout (20 s): a lease shorter
            // than two of those lets another replica claim a message still being
            // sent, and send it again.
            if self.outbox_lease_secs < 60 {
                problems.push("PORTAL_OUTBOX_LEASE_SECS must be at least 60 in production (twice the longest SMTP send, with room)");
            }
            match self.smtp_url.as_deref() {
                None | Some("") => {
                    problems.push("PORTAL_SMTP_URL is not set: production needs a real mail transport")
                }
                Some(url) if !smtp_is_private(url) => problems.push(
                    "PORTAL_SMTP_URL sends in clear: use smtps://, or smtp://…?tls=required, unless the relay is on this machine",
                ),
                Some(_) => {}
            }
            if !problems.is_empty() {
                return Err(ConfigError::Refused(format!(
                    "refusing to start in production: {}",
                    problems.join("; ")
                )));
            }
        }
        Ok(self)
    }

    /// Connection bounds that would not bound anything, or a metrics listener
    /// that would put `/metrics` on the public address (issue 14).
    fn check_connections(&self) -> Result<(), ConfigError> {
        for (name, secs) in [
            ("PORTAL_HEADER_TIMEOUT_SECS", self.header_timeout_secs),
            ("PORTAL_IDLE_TIMEOUT_SECS", self.idle_timeout_secs),
            ("PORTAL_REQUEST_TIMEOUT_SECS", self.request_timeout_secs),
        ] {
            if !(1..=86_400).contains(&secs) {
                return Err(ConfigError::Refused(format!(
                    "{name} must be between 1 and 86400 seconds, not {secs}"
                )));
            }
        }
        if self.shutdown_grace_secs > 3_600 {
            return Err(ConfigError::Refused(format!(
                "PORTAL_SHUTDOWN_GRACE_SECS must be at most 3600 seconds, not {}",
                self.shutdown_grace_secs
            )));
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(ConfigError::Refused(format!(
                "PORTAL_MAX_CONNECTIONS must be between 1 and 1000000, not {}",
                self.max_connections
            )));
        }
        if let Some(metrics) = self.metrics_listen
            && metrics.port() == self.listen.port()
            && (metrics.ip() == self.listen.ip()
                || metrics.ip().is_unspecified()
                || self.listen.ip().is_unspecified())
        {
            return Err(ConfigError::Refused(format!(
                "PORTAL_METRICS_LISTEN ({metrics}) must differ from PORTAL_LISTEN ({}): \
                 metrics are never served on the public listener",
                self.listen
            )));
        }
        Ok(())
    }

    pub fn production(&self) -> bool {
        self.env == Environment::Production
    }

    pub fn base_url(&self) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    /// The mail directory in force: as configured, or `data/mail` in development.
    pub fn mail_dir(&self) -> Option<PathBuf> {
        match (&self.mail_dir, self.env) {
            (Some(d), _) => Some(d.clone()),
            (None, Environment::Development) => Some(PathBuf::from("data/mail")),
            (None, Environment::Production) => None,
        }
    }

    pub fn secret_key(&self) -> Result<domain::otp::SecretKey, ConfigError> {
        let k = self.secret_key.as_deref().unwrap_or(DEVELOPMENT_KEY);
        domain::otp::SecretKey::new(k.as_bytes().to_vec())
            .map_err(|e| ConfigError::Refused(format!("PORTAL_SECRET_KEY: {e}")))
    }

    /// The earlier keys of `PORTAL_PREVIOUS_SECRET_KEYS`, newest first.
    pub fn previous_secret_keys(&self) -> Result<Vec<domain::otp::SecretKey>, ConfigError> {
        self.previous_secret_keys
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| {
                domain::otp::SecretKey::new(k.as_bytes().to_vec())
                    .map_err(|e| ConfigError::Refused(format!("PORTAL_PREVIOUS_SECRET_KEYS: {e}")))
            })
            .collect()
    }

    /// Where uploaded files live (object storage, issue 14): `PORTAL_FILES_URL`,
    /// or the directory `PORTAL_FILES_DIR`.
    pub fn files_url(&self) -> String {
        match &self.files_url {
            Some(url) => url.clone(),
            None => {
                let dir = std::path::absolute(&self.files_dir).unwrap_or(self.files_dir.clone());
                format!("file://{}", dir.display())
            }
        }
    }

    /// Demonstration data is never loaded in production.
    pub fn loads_demo(&self) -> bool {
        self.demo && !self.production()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_to_start_without_a_key_or_smtp() {
        let c = Config {
            env: Environment::Production,
            ..Config::default()
        };
        let err = c.checked().unwrap_err().to_string();
        assert!(err.contains("PORTAL_SECRET_KEY is not set"), "{err}");
        assert!(err.contains("PORTAL_SMTP_URL is not set"), "{err}");
        let c = Config {
            env: Environment::Production,
            secret_key: Some("x".repeat(40)),
            smtp_url: Some("smtp://127.0.0.1:25".into()),
            ..Config::default()
        };
        let c = c.checked().unwrap();
        assert!(!c.loads_demo());
        assert_eq!(c.mail_dir(), None);
    }

    #[test]
    fn production_refuses_a_mail_directory() {
        let c = Config {
            env: Environment::Production,
            secret_key: Some("x".repeat(40)),
            smtp_url: Some("smtp://127.0.0.1:25".into()),
            mail_dir: Some("mail".into()),
            ..Config::default()
        };
        let err = c.clone().checked().unwrap_err().to_string();
        assert!(
            err.contains("PORTAL_MAIL_DIR is for development only"),
            "{err}"
        );
        let c = Config {
            mail_dir: None,
            ..c
        };
        assert!(c.checked().is_ok());
    }

    #[test]
    fn production_refuses_the_benchmarks_mail_capture() {
        let c = Config {
            env: Environment::Production,
            secret_key: Some("x".repeat(40)),
            smtp_url: Some("smtp://127.0.0.1:25".into()),
            mail_capture: Some("codes.jsonl".into()),
            ..Config::default()
        };
        let err = c.checked().unwrap_err().to_string();
        assert!(
            err.contains("PORTAL_MAIL_CAPTURE is for benchmarks only"),
            "{err}"
        );
    }

    #[test]
    fn production_smtp_must_be_encrypted_unless_local_and_development_stays_on_loopback() {
        for (url, ok) in [
            ("smtp://relay.example:25", false),
            ("smtp://user:pw@relay.example:587", false),
            ("smtp://relay.example:587?tls=required", true),
            ("smtps://user:pw@relay.example", true),
            ("smtp://127.0.0.1:2525", true),
            ("smtp://localhost:25", true),
        ] {
            let c = Config {
                env: Environment::Production,
                secret_key: Some("x".repeat(40)),
                smtp_url: Some(url.into()),
                ..Config::default()
            };
            assert_eq!(c.checked().is_ok(), ok, "{url}");
        }
        let c = Config {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..Config::default()
        };
        assert!(c.checked().unwrap_err().to_string().contains("loopback"));
        let shown = format!(
            "{:?}",
            Config {
                secret_key: Some("s3cr3t-s3cr3t".into()),
                ..Config::default()
            }
        );
        assert!(!shown.contains("s3cr3t"));
    }

    #[test]
    fn connection_bounds_must_bound_and_metrics_stay_off_the_public_listener() {
        let c = Config::default().checked().unwrap();
        assert_eq!(
            (
                c.header_timeout_secs,
                c.idle_timeout_secs,
                c.request_timeout_secs
            ),
            (10, 60, 60)
        );
        assert_eq!((c.max_connections, c.shutdown_grace_secs), (512, 30));
        assert_eq!(c.metrics_listen, None);
        let refused = |c: Config, what: &str| {
            let err = c.checked().unwrap_err().to_string();
            assert!(err.contains(what), "{err}");
        };
        let d = Config::default;
        refused(
            Config {
                header_timeout_secs: 0,
                ..d()
            },
            "PORTAL_HEADER_TIMEOUT_SECS",
        );
        refused(
            Config {
                idle_timeout_secs: 0,
                ..d()
            },
            "PORTAL_IDLE_TIMEOUT_SECS",
        );
        refused(
            Config {
                request_timeout_secs: 100_000,
                ..d()
            },
            "PORTAL_REQUEST_TIMEOUT_SECS",
        );
        refused(
            Config {
                max_connections: 0,
                ..d()
            },
            "PORTAL_MAX_CONNECTIONS",
        );
        refused(
            Config {
                shutdown_grace_secs: 7_200,
                ..d()
            },
            "PORTAL_SHUTDOWN_GRACE_SECS",
        );
        refused(
            Config {
                metrics_listen: Some("127.0.0.1:8080".parse().unwrap()),
                ..d()
            },
            "never served on the public listener",
        );
        let c = Config {
            metrics_listen: Some("127.0.0.1:9464".parse().unwrap()),
            shutdown_grace_secs: 0,
            ..d()
        };
        assert!(c.checked().is_ok());
    }

    #[test]
    fn development_defaults_need_nothing() {
        let c = Config::default().checked().unwrap();
        assert!(c.loads_demo());
        assert_eq!(c.base_url(), "http://127.0.0.1:8080");
        assert_eq!(c.mail_dir(), Some(PathBuf::from("data/mail")));
        assert!(c.secret_key().is_ok());
    }
}
