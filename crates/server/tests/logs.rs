//! Secrets never reach the logs: a full sign-in (pages and API) with every log
//! line captured at TRACE shows neither the passcode nor the session token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use testkit::{Backend, TestApp};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c = Capture::default();
        let writer = c.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            // No timestamps: their microseconds could look like a passcode.
            .without_time()
            .init();
        c
    })
}

testkit::both_backends!(; raw: no_passcode_or_session_token_is_ever_logged);

async fn no_passcode_or_session_token_is_ever_logged(backend: Backend) {
    let logs = capture();
    let app = TestApp::spawn(backend).await.unwrap();
    let email = app
        .user("10000061", "secret@example.ac.uk", &["portal-admin"])
        .await;
    let mut secrets = Vec::new();

    // Pages.
    let mut b = app.browser();
    b.get("/sign-in").await;
    b.submit("/sign-in", &[("email", &email)]).await;
    let code = app.last_code_for(&email).await.unwrap();
    secrets.push(code.clone());
    b.get("/sign-in/code").await;
    b.submit("/sign-in/code", &[("code", &code)]).await;
    let cookie = b.cookies["portal_session"].clone();
    secrets.push(cookie);
    assert_eq!(b.get("/home").await.status, 200);
    b.submit("/sign-out", &[]).await;

    // API.
    let c = app.client();
    let r: Value = app
        .post_json("/api/v1/auth/code", json!({ "email": email }))
        .await
        .json()
        .await
        .unwrap();
    let code = app.last_code_for(&email).await.unwrap();
    secrets.push(code.clone());
    let t: Value = app
        .post_json(
            "/api/v1/auth/token",
            json!({ "attempt_id": r["attempt_id"], "code": code }),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = t["token"].as_str().unwrap().to_owned();
    secrets.push(token.clone());
    app.get_with("/api/v1/me", &token).await;
    c.delete(app.url("/api/v1/auth/token"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("answered"), "logs were captured");
    assert!(text.contains("email sent"), "the outbox logged too");
    for s in &secrets {
        // A passcode inside a longer hex id is not a leak: look for it standing alone.
        let alone = regex::Regex::new(&format!(r"(^|[^0-9A-Za-z]){s}($|[^0-9A-Za-z])")).unwrap();
        assert!(
            !alone.is_match(&text),
            "a secret ({} chars) is in the logs",
            s.len()
        );
    }
}
