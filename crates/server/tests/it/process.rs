//! What the tests that run real processes share: free ports, waiting for a
//! process to listen, `portal serve` until it is ready, signing in through the
//! API, and reading `.eml` files.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::wait_until_ready;

/// A port on 127.0.0.1 that nothing listens on (the OS's pick).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 10 s) until something listens on `port` of 127.0.0.1;
/// `false` when `child` exits first or nothing listens by then.
pub(crate) async fn listening(child: &mut tokio::process::Child, port: u16) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Spawns `c` (a `portal serve` listening at `base`), stdout to nowhere,
/// stderr to `stderr`, killed when dropped; waits until it is ready.
pub(crate) async fn serve_ready(
    mut c: tokio::process::Command,
    stderr: impl Into<Stdio>,
    http: &reqwest::Client,
    base: &str,
) -> tokio::process::Child {
    c.stdout(Stdio::null()).stderr(stderr).kill_on_drop(true);
    let child = c.spawn().unwrap();
    wait_until_ready(http, base).await;
    child
}

/// Signs `email` in through the API at `base` with the code `code` finds (it
/// runs once the code was asked for); the bearer token.
pub(crate) async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    code: impl Future<Output = String>,
) -> String {
    let r: Value = http
        .post(format!("{base}/api/v1/auth/code"))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let attempt = r["attempt_id"].as_str().unwrap().to_owned();
    let code = code.await;
    let r = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({ "attempt_id": attempt, "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "sign-in of {email}");
    let body: Value = r.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// Every whole `.eml` file in `dir`, by name (a name starting with `.` is one
/// being written); none when there is no `dir`.
pub(crate) fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "eml")
                        && !p.file_name().unwrap().to_string_lossy().starts_with('.')
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// An email file read with mailparse: its headers and its text body.
pub(crate) struct Eml {
    headers: Vec<(String, String)>,
    pub body: String,
}

impl Eml {
    pub fn read(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap();
        let mail = mailparse::parse_mail(&bytes).unwrap();
        Self {
            headers: mail
                .headers
                .iter()
                .map(|h| (h.get_key(), h.get_value()))
                .collect(),
            body: mail.get_body().unwrap_or_default(),
        }
    }

    /// The first header called `name` (in any case); empty when there is none.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}
