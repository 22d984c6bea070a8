//! Attacks on sign-in and sessions (issue 2, "Done when" 4). Each asserts the
//! answer, that nothing else changed, and the audit row.

use domain::audit::Outcome;
use serde_json::{Value, json};
use server::Environment;
use testkit::{Backend, TestApp, test_config};
use time::Duration;

use crate::api_sign_in::{request_code, verify};

testkit::both_backends!(
    five_wrong_guesses_void_the_code,
    new_codes_do_not_reset_failures_and_the_tenth_locks,
    a_sixth_code_in_fifteen_minutes_is_not_sent_and_looks_the_same,
    fifty_concurrent_wrong_guesses_cannot_exceed_the_limits,
    a_used_code_is_refused,
    a_code_from_another_attempt_is_refused,
    unknown_disabled_locked_and_expired_addresses_get_identical_answers_and_no_email,
    a_session_cookie_set_before_sign_in_is_replaced,
    signing_in_again_ends_the_previous_session,
    signed_out_and_timed_out_sessions_are_refused,
    development_cookie_flags_are_exact,
    a_cross_site_form_post_is_refused,
    a_form_without_its_token_is_refused,
    bad_json_requests_get_400_415_413,
    a_forced_internal_error_shows_a_request_id_and_no_detail;
    raw:
    spoofed_forwarded_for_does_not_escape_the_per_ip_limit,
    production_cookie_flags_are_exact_and_dev_mail_is_absent,
);

fn refused(rows: &[store::AuditRecord], action: &str) -> usize {
    rows.iter()
        .filter(|r| r.entry.action == action && r.entry.outcome == Outcome::Refused)
        .count()
}

fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

async fn five_wrong_guesses_void_the_code(app: TestApp) {
    let email = app.user("10000011", "guess@example.ac.uk", &[]).await;
    let attempt = request_code(&app, &email).await;
    let code = app.last_code_for(&email).await.unwrap();
    let seq = app.last_audit_seq().await;
    for _ in 0..5 {
        assert_eq!(verify(&app, &attempt, &wrong(&code)).await.status(), 401);
    }
    let before = app.snapshot().await;
    let r = verify(&app, &attempt, &code).await;
    assert_eq!(r.status(), 401, "the right code no longer works");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "code_rejected");
    assert_eq!(
        app.snapshot().await,
        before,
        "the refused sixth guess changed nothing"
    );
    assert!(app.snapshot().await["sessions"].is_empty());
    let rows = app.audit_since(seq).await;
    assert_eq!(refused(&rows, "sign_in.code_entered"), 6);
    assert!(rows.last().unwrap().entry.detail.contains("no live code"));
    let user = app
        .store()
        .user_by_email("guess@example.ac.uk")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.failed_sign_ins, 5);
}

async fn new_codes_do_not_reset_failures_and_the_tenth_locks(app: TestApp) {
    let email = app.user("10000012", "lock@example.ac.uk", &[]).await;
    for round in 0..2 {
        let attempt = request_code(&app, &email).await;
        let code = app.last_code_for(&email).await.unwrap();
        for _ in 0..5 {
            assert_eq!(verify(&app, &attempt, &wrong(&code)).await.status(), 401);
        }
        let user = app
            .store()
            .user_by_email("lock@example.ac.uk")
            .await
            .unwrap()
            .unwrap();
        if round == 0 {
            assert_eq!(
                user.failed_sign_ins, 5,
                "a new code did not reset the count"
            );
            assert!(user.locked_until.is_none());
        } else {
            assert_eq!(
                user.locked_until,
                Some(app.clock.now_plus(Duration::minutes(15)))
            );
        }
    }
    let locks: Vec<_> = app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.entry.action == "sign_in.locked")
        .collect();
    assert_eq!(locks.len(), 1);
    // While locked: no code is sent, and the answer looks like any other.
    let sent = app.mailer.count();
    let before = app.snapshot().await;
    let r = app
        .post_json("/api/v1/auth/code", json!({ "email": email }))
        .await;
    assert_eq!(r.status(), 202);
    app.deliver_mail().await;
    assert_eq!(app.mailer.count(), sent);
    let after = app.snapshot().await;
    assert_eq!(after["outbox"], before["outbox"]);
    assert_eq!(after["users"], before["users"]);
    assert!(
        app.audit()
            .await
            .last()
            .unwrap()
            .entry
            .detail
            .contains("locked")
    );
    // After 15 minutes the person can sign in again; the next lock is longer.
    app.clock
        .advance(Duration::minutes(15) + Duration::seconds(1));
    app.api_sign_in(&email).await;
}

async fn a_sixth_code_in_fifteen_minutes_is_not_sent_and_looks_the_same(app: TestApp) {
    let email = app.user("10000013", "many@example.ac.uk", &[]).await;
    let mut answers = Vec::new();
    for _ in 0..6 {
        let r = app
            .post_json("/api/v1/auth/code", json!({ "email": email }))
            .await;
        answers.push(normalised(r).await);
        if answers.len() == 5 {
            app.deliver_mail().await;
        }
    }
    let before = app.snapshot().await;
    app.deliver_mail().await;
    assert_eq!(
        app.mailer
            .sent_to(&email)
            .iter()
            .filter(|m| m.subject.contains("code"))
            .count(),
        5
    );
    assert_eq!(
        app.snapshot().await["outbox"],
        before["outbox"],
        "nothing queued for the sixth"
    );
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    let last = app.audit().await.pop().unwrap();
    assert_eq!(last.entry.outcome, Outcome::Refused);
    assert!(last.entry.detail.contains("code limit"));
    // Fifteen minutes later codes flow again.
    app.clock
        .advance(Duration::minutes(15) + Duration::seconds(1));
    request_code(&app, &email).await;
    app.deliver_mail().await;
    assert_eq!(
        app.mailer
            .sent_to(&email)
            .iter()
            .filter(|m| m.subject.contains("code"))
            .count(),
        6
    );
}

async fn fifty_concurrent_wrong_guesses_cannot_exceed_the_limits(app: TestApp) {
    let email = app.user("10000014", "race@example.ac.uk", &[]).await;
    let attempt = request_code(&app, &email).await;
    let code = app.last_code_for(&email).await.unwrap();
    let seq = app.last_audit_seq().await;
    let bad = wrong(&code);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (client, url, attempt, bad) = (
            app.client(),
            app.url("/api/v1/auth/token"),
            attempt.clone(),
            bad.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({ "attempt_id": attempt, "code": bad }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    let user = app
        .store()
        .user_by_email("race@example.ac.uk")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        user.failed_sign_ins, 5,
        "exactly five guesses reached the code"
    );
    let rows = app.audit_since(seq).await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.entry.detail == "wrong code")
            .count(),
        5
    );
    assert_eq!(refused(&rows, "sign_in.code_entered"), 50);
    assert_eq!(
        verify(&app, &attempt, &code).await.status(),
        401,
        "the code is void"
    );
    assert!(app.snapshot().await["sessions"].is_empty());
}

async fn a_used_code_is_refused(app: TestApp) {
    let email = app.user("10000015", "reuse@example.ac.uk", &[]).await;
    let attempt = request_code(&app, &email).await;
    let code = app.last_code_for(&email).await.unwrap();
    assert_eq!(verify(&app, &attempt, &code).await.status(), 200);
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    assert_eq!(verify(&app, &attempt, &code).await.status(), 401);
    assert_eq!(app.snapshot().await, before);
    assert_eq!(
        refused(&app.audit_since(seq).await, "sign_in.code_entered"),
        1
    );
}

async fn a_code_from_another_attempt_is_refused(app: TestApp) {
    let email = app.user("10000016", "swap@example.ac.uk", &[]).await;
    let first = request_code(&app, &email).await;
    let first_code = app.last_code_for(&email).await.unwrap();
    let (second, second_code) = loop {
        let a = request_code(&app, &email).await;
        let c = app.last_code_for(&email).await.unwrap();
        if c != first_code {
            break (a, c);
        }
    };
    let seq = app.last_audit_seq().await;
    let r = verify(&app, &second, &first_code).await;
    assert_eq!(r.status(), 401);
    assert!(app.snapshot().await["sessions"].is_empty());
    let rows = app.audit_since(seq).await;
    assert_eq!(refused(&rows, "sign_in.code_entered"), 1);
    assert_eq!(rows[0].entry.detail, "wrong code");
    // Each code still works with its own attempt.
    assert_eq!(verify(&app, &second, &second_code).await.status(), 200);
    assert_eq!(verify(&app, &first, &first_code).await.status(), 200);
}

/// Status, headers and body of a code request, with the random parts masked.
async fn normalised(r: reqwest::Response) -> String {
    let status = r.status().as_u16();
    let mut headers: Vec<String> = r
        .headers()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id"))
        .map(|(k, v)| {
            let v = v.to_str().unwrap();
            let v = match v.split_once('=') {
                Some((name, rest)) if k == "set-cookie" => {
                    format!(
                        "{name}=<masked>;{}",
                        rest.split_once(';').map_or("", |x| x.1)
                    )
                }
                _ => v.to_owned(),
            };
            format!("{k}: {v}")
        })
        .collect();
    headers.sort();
    let body = r.text().await.unwrap();
    let re =
        regex::Regex::new("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    format!(
        "{status}\n{}\n\n{}",
        headers.join("\n"),
        re.replace_all(&body, "<id>")
    )
}

async fn unknown_disabled_locked_and_expired_addresses_get_identical_answers_and_no_email(
    app: TestApp,
) {
    let ok = app.user("10000017", "ok@example.ac.uk", &[]).await;
    let disabled = app.user("10000017", "disabled@example.ac.uk", &[]).await;
    let locked = app.user("10000017", "locked@example.ac.uk", &[]).await;
    let expired = app.user("10000017", "expired@example.ac.uk", &[]).await;
    app.sql("UPDATE users SET access_enabled = FALSE WHERE email_norm = 'disabled@example.ac.uk'")
        .await;
    let later = app.sql_time(app.clock.now_plus(Duration::hours(1)));
    let past = app.sql_time(app.clock.now_plus(Duration::seconds(-1)));
    app.sql(&format!(
        "UPDATE users SET locked_until = {later} WHERE email_norm = 'locked@example.ac.uk'"
    ))
    .await;
    app.sql(&format!(
        "UPDATE users SET expires_at = {past} WHERE email_norm = 'expired@example.ac.uk'"
    ))
    .await;
    let sent_before = app.mailer.count();
    let mut api = Vec::new();
    let mut pages = Vec::new();
    for email in [
        ok.as_str(),
        "nobody@example.ac.uk",
        &disabled,
        &locked,
        &expired,
    ] {
        let r = app
            .post_json("/api/v1/auth/code", json!({ "email": email }))
            .await;
        api.push(normalised(r).await);
        let mut b = app.browser();
        b.get("/sign-in").await;
        let token = b.csrf();
        let cookie = b
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let r = app
            .client()
            .post(app.url("/sign-in"))
            .header("cookie", cookie)
            .header("sec-fetch-site", "same-origin")
            .form(&[("csrf_token", token.as_str()), ("email", email)])
            .send()
            .await
            .unwrap();
        pages.push(normalised(r).await);
    }
    assert!(api.windows(2).all(|w| w[0] == w[1]), "{api:#?}");
    assert!(pages.windows(2).all(|w| w[0] == w[1]), "{pages:#?}");
    app.deliver_mail().await;
    assert_eq!(
        app.mailer.count(),
        sent_before + 2,
        "only the valid address got codes (API and page)"
    );
    assert_eq!(app.mailer.sent_to(&ok).len(), 3, "welcome + two codes");
    let refusals: Vec<String> = app
        .audit()
        .await
        .iter()
        .filter(|r| {
            r.entry.action == "sign_in.code_requested" && r.entry.outcome == Outcome::Refused
        })
        .map(|r| r.entry.detail.clone())
        .collect();
    for why in [
        "no account",
        "access disabled",
        "sign-in locked",
        "account expired",
    ] {
        assert_eq!(
            refusals.iter().filter(|d| d.contains(why)).count(),
            2,
            "{why}: {refusals:?}"
        );
    }
}

/// Signs in through the pages; returns the browser.
pub async fn page_sign_in(app: &TestApp, email: &str) -> testkit::Browser {
    let mut b = app.browser();
    b.get("/sign-in").await;
    let r = b.submit("/sign-in", &[("email", email)]).await;
    assert_eq!(r.location(), Some("/sign-in/code"));
    let code = app.last_code_for(email).await.unwrap();
    b.get("/sign-in/code").await;
    let r = b.submit("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), Some("/home"));
    b
}

async fn a_session_cookie_set_before_sign_in_is_replaced(app: TestApp) {
    let email = app.user("10000018", "fixate@example.ac.uk", &[]).await;
    let planted = "a".repeat(64);
    let mut b = app.browser();
    b.cookies.insert("portal_session".into(), planted.clone());
    b.get("/sign-in").await;
    b.submit("/sign-in", &[("email", &email)]).await;
    let code = app.last_code_for(&email).await.unwrap();
    b.get("/sign-in/code").await;
    b.submit("/sign-in/code", &[("code", &code)]).await;
    let now = b.cookies["portal_session"].clone();
    assert_ne!(now, planted);
    assert_eq!(b.get("/home").await.status, 200);
    let mut attacker = app.browser();
    attacker.cookies.insert("portal_session".into(), planted);
    let r = attacker.get("/home").await;
    assert_eq!(
        r.location(),
        Some("/sign-in"),
        "the planted value is no session"
    );
}

async fn signing_in_again_ends_the_previous_session(app: TestApp) {
    let email = app.user("10000024", "again@example.ac.uk", &[]).await;
    let mut b = page_sign_in(&app, &email).await;
    let first = b.cookies["portal_session"].clone();
    // The sign-in form itself sends a signed-in browser home, but a form post still works.
    b.get("/home").await;
    b.submit("/sign-in", &[("email", &email)]).await;
    let code = app.last_code_for(&email).await.unwrap();
    b.get("/sign-in/code").await;
    let r = b.submit("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(r.location(), Some("/home"));
    assert_ne!(b.cookies["portal_session"], first);
    let mut old = app.browser();
    old.cookies.insert("portal_session".into(), first);
    assert_eq!(old.get("/home").await.location(), Some("/sign-in"));
}

async fn signed_out_and_timed_out_sessions_are_refused(app: TestApp) {
    let email = app.user("10000019", "timeout@example.ac.uk", &[]).await;
    let c = app.client();
    let me = |token: String| {
        let c = c.clone();
        let url = app.url("/api/v1/me");
        async move {
            c.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Signed out in the browser: the cookie no longer works.
    let mut b = page_sign_in(&app, &email).await;
    let cookie = b.cookies["portal_session"].clone();
    b.get("/home").await;
    let r = b.submit("/sign-out", &[]).await;
    assert_eq!(r.location(), Some("/signed-out"));
    let mut old = app.browser();
    old.cookies.insert("portal_session".into(), cookie);
    assert_eq!(old.get("/home").await.location(), Some("/sign-in"));
    // Idle for 30 minutes.
    let token = app.api_sign_in(&email).await;
    app.clock.advance(Duration::minutes(29));
    assert_eq!(me(token.clone()).await, 200);
    app.clock.advance(Duration::minutes(30));
    assert_eq!(me(token).await, 401);
    // Busy, but 12 hours old.
    let token = app.api_sign_in(&email).await;
    for _ in 0..35 {
        app.clock.advance(Duration::minutes(20));
        assert_eq!(me(token.clone()).await, 200);
    }
    app.clock.advance(Duration::minutes(20));
    assert_eq!(me(token).await, 401, "12 hours after sign-in");
    let rows = app.audit().await;
    assert!(refused(&rows, "api.unauthenticated") >= 2);
}

async fn development_cookie_flags_are_exact(app: TestApp) {
    let email = app.user("10000020", "cookie@example.ac.uk", &[]).await;
    let mut b = app.browser();
    b.get("/sign-in").await;
    b.submit("/sign-in", &[("email", &email)]).await;
    let code = app.last_code_for(&email).await.unwrap();
    b.get("/sign-in/code").await;
    let r = b.submit("/sign-in/code", &[("code", &code)]).await;
    let session = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("portal_session="))
        .unwrap();
    let re =
        regex::Regex::new("^portal_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Lax$").unwrap();
    assert!(re.is_match(&session), "{session}");
}

async fn production_cookie_flags_are_exact_and_dev_mail_is_absent(backend: Backend) {
    let mut config = test_config();
    config.env = Environment::Production;
    config.secret_key = Some("a-production-secret-key-of-enough-length-0123456789".into());
    config.smtp_url = Some("smtp://127.0.0.1:2525".into());
    config.mail_dir = None;
    let config = config.checked().unwrap();
    let app = TestApp::spawn_with(backend, config).await.unwrap();
    let email = app.user("10000021", "prod@example.ac.uk", &[]).await;
    let mut b = app.browser();
    let r = b.get("/sign-in").await;
    let csrf = r.set_cookies().pop().unwrap();
    assert!(
        regex::Regex::new(
            "^__Host-portal_csrf=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Lax; Secure$"
        )
        .unwrap()
        .is_match(&csrf),
        "{csrf}"
    );
    assert!(r.header("strict-transport-security").is_some());
    b.submit("/sign-in", &[("email", &email)]).await;
    let code = app.last_code_for(&email).await.unwrap();
    b.get("/sign-in/code").await;
    let r = b.submit("/sign-in/code", &[("code", &code)]).await;
    let session = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-portal_session="))
        .unwrap();
    let re = regex::Regex::new(
        "^__Host-portal_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Lax; Secure$",
    )
    .unwrap();
    assert!(re.is_match(&session), "{session}");
    assert_eq!(b.get("/home").await.status, 200);
    assert_eq!(b.get("/dev/mail").await.status, 404);
    assert!(!b.get("/home").await.body.contains("/dev/mail"));
}

async fn a_cross_site_form_post_is_refused(app: TestApp) {
    let email = app.user("10000022", "csrf@example.ac.uk", &[]).await;
    let mut b = app.browser();
    b.get("/sign-in").await;
    let token = b.csrf();
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("sec-fetch-site", "same-site"),
            ("origin", "https://sub.portal.test"),
        ],
    ] {
        let before = app.snapshot().await;
        let seq = app.last_audit_seq().await;
        let r = b
            .post_raw(
                "/sign-in",
                &[("csrf_token", token.as_str()), ("email", email.as_str())],
                &headers,
            )
            .await;
        assert_eq!(r.status, 403);
        assert!(r.body.contains("another website"));
        assert_eq!(app.snapshot().await, before);
        let rows = app.audit_since(seq).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(refused(&rows, "csrf.cross_site"), 1);
    }
    // What a real browser sends for its own form under our referrer policy
    // (Chrome may serialise Origin as "null"): accepted.
    let r = b
        .post_raw(
            "/sign-in",
            &[("csrf_token", token.as_str()), ("email", email.as_str())],
            &[("sec-fetch-site", "same-origin"), ("origin", "null")],
        )
        .await;
    assert_eq!(r.location(), Some("/sign-in/code"));
    // A signed-in user's session cannot be ended from another site either.
    let mut b = page_sign_in(&app, &email).await;
    b.get("/home").await;
    let token = b.csrf();
    let r = b
        .post_raw(
            "/sign-out",
            &[("csrf_token", token.as_str())],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(b.get("/home").await.status, 200, "still signed in");
    let last = app.audit().await.pop().unwrap();
    assert_eq!(last.entry.action, "csrf.cross_site");
    assert!(
        last.entry.actor_id.is_some(),
        "the refusal names the signed-in actor"
    );
}

async fn a_form_without_its_token_is_refused(app: TestApp) {
    let email = app.user("10000023", "token@example.ac.uk", &[]).await;
    let mut b = app.browser();
    b.get("/sign-in").await;
    for token in ["", "0000", &"f".repeat(64)] {
        let before = app.snapshot().await;
        let seq = app.last_audit_seq().await;
        let r = b
            .post_raw("/sign-in", &[("csrf_token", token), ("email", &email)], &[])
            .await;
        assert_eq!(r.status, 403);
        assert_eq!(app.snapshot().await, before);
        assert_eq!(refused(&app.audit_since(seq).await, "csrf.refused"), 1);
    }
    // Another visitor's token does not work with this visitor's cookie.
    let mut other = app.browser();
    other.get("/sign-in").await;
    let r = b
        .post_raw(
            "/sign-in",
            &[("csrf_token", &other.csrf()), ("email", &email)],
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
}

async fn bad_json_requests_get_400_415_413(app: TestApp) {
    let c = app.client();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            c.post(app.url("/api/v1/auth/code"))
                .json(&json!({ "email": "a@example.ac.uk", "admin": true })),
            400,
            "invalid",
        ),
        (
            c.post(app.url("/api/v1/auth/code"))
                .header("content-type", "text/plain")
                .body(r#"{"email":"a@example.ac.uk"}"#),
            415,
            "unsupported_media_type",
        ),
        (
            c.post(app.url("/api/v1/auth/code"))
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"email":"{}@example.ac.uk"}}"#,
                    "a".repeat(70_000)
                )),
            413,
            "too_large",
        ),
        (
            c.post(app.url("/api/v1/auth/token"))
                .json(&json!({ "attempt_id": "x", "code": "123456", "email": "x" })),
            400,
            "invalid",
        ),
        (
            c.post(app.url("/api/v1/auth/code")).json(&json!({})),
            400,
            "invalid",
        ),
        (
            c.post(app.url("/api/v1/auth/token"))
                .json(&json!({ "attempt_id": "x", "code": 987654 })),
            400,
            "invalid",
        ),
    ];
    for (req, status, error) in cases {
        let before = app.snapshot().await;
        let seq = app.last_audit_seq().await;
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], error, "{body}");
        assert_eq!(app.snapshot().await, before);
        let rows = app.audit_since(seq).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].entry.outcome, Outcome::Refused);
        assert!(
            !rows[0].entry.detail.contains("987654"),
            "no value from the body is audited"
        );
    }
}

async fn a_forced_internal_error_shows_a_request_id_and_no_detail(app: TestApp) {
    app.sql("DROP TABLE sign_in_attempts").await;
    let r = app
        .post_json(
            "/api/v1/auth/code",
            json!({ "email": "someone@example.ac.uk" }),
        )
        .await;
    assert_eq!(r.status(), 500);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let text = r.text().await.unwrap();
    assert!(text.contains(&id), "{text}");
    for leak in [
        "sign_in_attempts",
        "no such table",
        "does not exist",
        "sqlx",
        "Database",
    ] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
    let mut b = app.browser();
    b.get("/sign-in").await;
    let r = b
        .submit("/sign-in", &[("email", "someone@example.ac.uk")])
        .await;
    assert_eq!(r.status, 500);
    let id = r.header("x-request-id").unwrap();
    assert!(r.body.contains(&format!(
        "Reference: <span class=\"govuk-!-font-weight-bold\">{id}"
    )));
    assert!(!r.body.contains("sign_in_attempts") && !r.body.contains("no such table"));
    assert!(app.mailer.sent_to("someone@example.ac.uk").is_empty());
}

async fn spoofed_forwarded_for_does_not_escape_the_per_ip_limit(backend: Backend) {
    let mut config = test_config();
    config.sign_in_per_ip_per_minute = 3;
    let app = TestApp::spawn_with(backend, config).await.unwrap();
    let c = app.client();
    for i in 0..3 {
        let r = c
            .post(app.url("/api/v1/auth/code"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({ "email": "ip@example.ac.uk" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    for spoof in ["203.0.113.9", "127.0.0.2", "::1"] {
        let r = c
            .post(app.url("/api/v1/auth/token"))
            .header("x-forwarded-for", spoof)
            .header("x-real-ip", spoof)
            .header("forwarded", format!("for={spoof}"))
            .json(&json!({ "attempt_id": uuid::Uuid::new_v4().to_string(), "code": "123456" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        assert!(r.headers().get("retry-after").is_some());
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "rate_limited");
    }
    assert_eq!(app.snapshot().await, before);
    assert_eq!(
        refused(&app.audit_since(seq).await, "sign_in.code_entered"),
        3
    );
    // The next minute, the address may try again.
    app.clock.advance(Duration::seconds(60));
    let r = app
        .post_json("/api/v1/auth/code", json!({ "email": "ip@example.ac.uk" }))
        .await;
    assert_eq!(r.status(), 202);
}
