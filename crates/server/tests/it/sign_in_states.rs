//! Issue 15, item 4: disabled, locked and timed-out people are told what
//! happened and whom to ask; signing in again returns them to the page they
//! asked for (same-site paths only); and nothing of this tells a stranger
//! whether an address has an account.

use serde_json::json;
use server::Config;
use testkit::{Backend, TestApp};
use time::Duration;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    a_disabled_persons_next_click_says_access_was_turned_off_and_whom_to_ask,
    a_regulator_user_whose_access_ended_is_told_to_ask_a_regulator_administrator,
    an_expired_account_is_told_when_its_access_ended,
    the_access_disabled_email_does_not_tell_the_person_to_sign_in,
    a_stranger_learns_nothing_from_the_signed_out_page,
    signing_in_as_a_disabled_person_answers_as_for_any_address_and_says_why_no_code_may_come,
    after_the_idle_timeout_the_next_click_says_so_and_signing_in_returns_there,
    a_form_sent_after_the_idle_timeout_says_so_and_changes_nothing,
    an_anonymous_deep_link_returns_there_after_sign_in,
    open_redirect_attempts_are_refused_and_land_on_home,
    stay_signed_in_extends_the_session_and_needs_the_form_token,
    a_session_idle_overnight_says_it_was_idle_not_too_old,
    an_old_cookie_learns_nothing_of_a_later_disabling_or_expiry,
    an_expiry_at_a_moment_is_said_as_a_moment;
    raw:
    a_locked_password_account_is_told_it_may_be_locked_never_that_its_password_is_wrong,
    a_deep_link_returns_there_after_a_password_sign_in,
    the_idle_timeout_is_configurable_and_pages_say_how_long_is_left,
    a_short_idle_timeout_is_extended_by_use,
);

/// A Portal Administrator's API token, at the same provider as `ukprn`'s users.
async fn admin_token(app: &TestApp, ukprn: &str, email: &str) -> String {
    let admin = app.user(ukprn, email, &["portal-admin"]).await;
    app.api_sign_in(&admin).await
}

async fn patch_user(app: &TestApp, token: &str, email: &str, body: serde_json::Value) {
    let id = app.user_record(email).await.id;
    let (status, answer) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// Whether a reply clears the session cookie.
fn clears_session(r: &testkit::Reply) -> bool {
    r.set_cookies()
        .iter()
        .any(|c| c.starts_with("portal_session=;") && c.contains("Max-Age=0"))
}

async fn a_disabled_persons_next_click_says_access_was_turned_off_and_whom_to_ask(app: TestApp) {
    let admin = admin_token(&app, "10000601", "pa@six.example.ac.uk").await;
    let email = app
        .user(
            "10000601",
            "leaver@six.example.ac.uk",
            &["area-member:heses"],
        )
        .await;
    let mut b = page_sign_in(&app, &email).await;
    assert_eq!(b.get("/account").await.status, 200);
    patch_user(&app, &admin, &email, json!({ "access_enabled": false })).await;
    app.deliver_mail().await;
    // The very next click says what happened, not a bare sign-in page.
    let r = b.get("/account").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), Some("/signed-out"));
    let page = b.get("/signed-out").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("Your access to Provider Portal has been turned off"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("contact a Portal Administrator at Provider 10000601"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("Sign in again"),
        "no invitation to sign in"
    );
    assert!(
        clears_session(&page),
        "the ended session's cookie is cleared"
    );
    // Told once: from now on the browser is simply not signed in.
    let again = b.get("/account").await;
    assert_eq!(again.location(), Some("/sign-in?return=%2Faccount"));
    assert!(
        b.get("/signed-out")
            .await
            .body
            .contains("You have signed out")
    );
}

async fn a_regulator_user_whose_access_ended_is_told_to_ask_a_regulator_administrator(
    app: TestApp,
) {
    let email = app
        .regulator_user("officer@ofs.example.org", &["regulator-officer:heses"])
        .await;
    let mut b = page_sign_in(&app, &email).await;
    app.sql("UPDATE users SET access_enabled = FALSE WHERE email_norm = 'officer@ofs.example.org'")
        .await;
    assert_eq!(b.get("/home").await.location(), Some("/signed-out"));
    let page = b.get("/signed-out").await;
    assert!(
        page.body
            .contains("contact a regulator administrator at Office for Students"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Portal Administrator at"));
}

async fn an_expired_account_is_told_when_its_access_ended(app: TestApp) {
    let email = app
        .user("10000602", "temp@six.example.ac.uk", &["area-member:heses"])
        .await;
    // Expires at midnight (UK time) at the end of 1 September 2026; signed
    // in at 11pm and in use until then.
    let end = app.sql_time(time::macros::datetime!(2026-09-01 23:00 UTC));
    app.sql(&format!(
        "UPDATE users SET expires_at = {end} WHERE email_norm = 'temp@six.example.ac.uk'"
    ))
    .await;
    app.clock.advance(Duration::hours(13));
    let mut b = page_sign_in(&app, &email).await;
    app.clock.advance(Duration::minutes(25));
    assert_eq!(b.get("/account").await.status, 200);
    app.clock.advance(Duration::minutes(25));
    assert_eq!(b.get("/account").await.status, 200);
    app.clock.advance(Duration::minutes(11));
    b.get("/sign-in").await; // stays usable, and keeps the news for the next page
    assert_eq!(b.get("/home").await.location(), Some("/signed-out"));
    let page = b.get("/signed-out").await;
    assert!(
        page.body
            .contains("Your access to Provider Portal has ended"),
        "{}",
        page.body
    );
    assert!(page.body.contains("1 September 2026"), "{}", page.body);
    assert!(
        page.body
            .contains("contact a Portal Administrator at Provider 10000602")
    );
}

async fn the_access_disabled_email_does_not_tell_the_person_to_sign_in(app: TestApp) {
    let admin = admin_token(&app, "10000603", "pa@three.example.ac.uk").await;
    let email = app
        .user(
            "10000603",
            "gone@three.example.ac.uk",
            &["area-member:heses"],
        )
        .await;
    let before = app.mailer.sent_to(&email).len();
    patch_user(&app, &admin, &email, json!({ "access_enabled": false })).await;
    app.deliver_mail().await;
    let mails = app.mailer.sent_to(&email);
    assert_eq!(mails.len(), before + 1, "one email");
    let mail = mails.last().unwrap();
    assert_eq!(
        mail.subject,
        "Your access to Provider Portal has been turned off"
    );
    assert!(
        mail.body.contains("Portal access disabled"),
        "{}",
        mail.body
    );
    assert!(
        mail.body
            .contains("contact a Portal Administrator at Provider 10000603"),
        "{}",
        mail.body
    );
    for invitation in ["/sign-in", "Sign in at", "sign in to see"] {
        assert!(!mail.body.contains(invitation), "{}", mail.body);
    }
    // Access given back: the ordinary email, which does invite signing in.
    patch_user(&app, &admin, &email, json!({ "access_enabled": true })).await;
    app.deliver_mail().await;
    let back = app.mailer.sent_to(&email).pop().unwrap();
    assert_eq!(back.subject, "Your Provider Portal account has changed");
    assert!(back.body.contains("/sign-in"));
}

/// The signed-out page says something account-specific only to the browser
/// whose own session ended; everyone else sees the plain page.
async fn a_stranger_learns_nothing_from_the_signed_out_page(app: TestApp) {
    app.user("10000604", "locked-out@four.example.ac.uk", &[])
        .await;
    app.sql("UPDATE users SET access_enabled = FALSE WHERE email_norm = 'locked-out@four.example.ac.uk'")
        .await;
    let plain = app.browser().get("/signed-out").await;
    assert_eq!(plain.status, 200);
    assert!(plain.body.contains("You have signed out"));
    // A made-up session cookie, or one with a query naming a reason.
    let mut stranger = app.browser();
    stranger
        .cookies
        .insert("portal_session".into(), "b".repeat(64));
    assert_eq!(
        stranger.get("/home").await.location(),
        Some("/sign-in"),
        "no session: the ordinary way to sign in"
    );
    for path in [
        "/signed-out",
        "/signed-out?reason=disabled",
        "/signed-out?reason=timeout",
    ] {
        let page = stranger.get(path).await;
        assert!(page.body.contains("You have signed out"), "{path}");
        for secret in ["turned off", "locked", "Provider 10000604", "inactivity"] {
            assert!(!page.body.contains(secret), "{path}: {secret}");
        }
    }
}

/// The normalised answer to posting an address on the sign-in form from a
/// fresh visitor: status, every header (cookie values and ids blanked), body.
async fn email_posted(app: &TestApp, email: &str) -> (String, String) {
    let mut b = app.browser();
    b.get("/sign-in").await;
    let r = b.submit("/sign-in", &[("email", email)]).await;
    let mut headers: Vec<String> = r
        .headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id"))
        .map(|(k, v)| {
            let v = v.to_str().unwrap();
            let v = match v.split_once('=') {
                Some((name, rest)) if k == "set-cookie" => {
                    let attrs = rest.split_once(';').map(|(_, a)| a).unwrap_or("");
                    format!("{name}=<value>;{attrs}")
                }
                _ => v.to_owned(),
            };
            format!("{k}: {v}")
        })
        .collect();
    headers.sort();
    let answer = format!("{}\n{}\n\n{}", r.status, headers.join("\n"), r.body);
    let page = b.get("/sign-in/code").await;
    assert_eq!(page.status, 200);
    let csrf = regex::Regex::new("value=\"[0-9a-f]{64}\"").unwrap();
    let body = csrf
        .replace_all(&page.body.replace(email, "<email>"), "value=\"<token>\"")
        .into_owned();
    (answer, body)
}

async fn signing_in_as_a_disabled_person_answers_as_for_any_address_and_says_why_no_code_may_come(
    app: TestApp,
) {
    // Addresses of one length, so that nothing but the account differs.
    let active = app.user("10000605", "active@five.example.ac.uk", &[]).await;
    let disabled = app.user("10000605", "absent@five.example.ac.uk", &[]).await;
    let locked = app.user("10000605", "locked@five.example.ac.uk", &[]).await;
    app.sql(
        "UPDATE users SET access_enabled = FALSE WHERE email_norm = 'absent@five.example.ac.uk'",
    )
    .await;
    app.sql("UPDATE users SET locked = TRUE WHERE email_norm = 'locked@five.example.ac.uk'")
        .await;
    let sent = app.mailer.count();
    let mut answers = Vec::new();
    for email in [
        active.as_str(),
        &disabled,
        "nobody@five.example.ac.uk",
        &locked,
    ] {
        answers.push(email_posted(&app, email).await);
    }
    for (i, (answer, page)) in answers.iter().enumerate().skip(1) {
        assert_eq!(answer, &answers[0].0, "answer {i}");
        assert_eq!(page, &answers[0].1, "page {i}");
    }
    app.deliver_mail().await;
    assert_eq!(
        app.mailer.count(),
        sent + 1,
        "one code, to the active address"
    );
    assert_eq!(app.mailer.sent_to(&disabled).len(), 1, "only the welcome");
    // The page everyone sees says why a code may not come, and whom to ask.
    let page = &answers[0].1;
    for text in [
        "If no code arrives within a few minutes",
        "the address may not have a Provider Portal account",
        "locked or its access turned off",
        "ask a Portal Administrator at your organisation",
        "ask a regulator administrator",
    ] {
        assert!(page.contains(text), "{text}: {page}");
    }
}

async fn a_locked_password_account_is_told_it_may_be_locked_never_that_its_password_is_wrong(
    backend: Backend,
) {
    let Some(app) = TestApp::spawn_with(
        backend,
        Config {
            password_sign_in: true,
            ..testkit::test_config()
        },
    )
    .await
    else {
        return;
    };
    let password = "a long and memorable password";
    let locked = app.user("10000606", "locked@six.example.ac.uk", &[]).await;
    let other = app.user("10000606", "others@six.example.ac.uk", &[]).await;
    set_password(&app, &locked, password).await;
    set_password(&app, &other, password).await;
    let answer = |email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let mut b = app.browser();
            b.get("/sign-in/password").await;
            let r = b
                .submit(
                    "/sign-in/password",
                    &[("email", email), ("password", password)],
                )
                .await;
            let csrf = regex::Regex::new("value=\"[0-9a-f]{64}\"").unwrap();
            let body = csrf
                .replace_all(&r.body.replace(email, "<email>"), "value=\"<token>\"")
                .into_owned();
            (r.status, body)
        }
    };
    // Five wrong passwords lock the account.
    for _ in 0..5 {
        assert_eq!(
            answer("locked@six.example.ac.uk", "not the password")
                .await
                .0,
            400
        );
    }
    assert!(app.user_record(&locked).await.locked);
    let right_but_locked = answer("locked@six.example.ac.uk", password).await;
    assert_eq!(right_but_locked.0, 400);
    let body = &right_but_locked.1;
    assert!(
        !body.contains("is not correct"),
        "a locked account's right password is not called wrong: {body}"
    );
    for text in [
        "We could not sign you in",
        "your account may be locked",
        "After 5 wrong passwords in a row an account is locked",
        "ask a Portal Administrator at your organisation",
    ] {
        assert!(body.contains(text), "{text}: {body}");
    }
    // No oracle: the same answer as a wrong password, locked or not, and an
    // unknown address.
    for (email, pw) in [
        ("locked@six.example.ac.uk", "not the password"),
        ("others@six.example.ac.uk", "not the password"),
        ("nobody@six.example.ac.uk", "a long and memorable password"),
    ] {
        assert_eq!(answer(email, pw).await, right_but_locked, "{email}");
    }
    // The owner is told at their address that the account was locked, once.
    app.deliver_mail().await;
    let told: Vec<_> = app
        .mailer
        .sent_to(&locked)
        .into_iter()
        .filter(|m| m.subject == "Your Provider Portal account is locked")
        .collect();
    assert_eq!(told.len(), 1);
    let mail = &told[0];
    assert!(mail.body.contains("5 times in a row"), "{}", mail.body);
    assert!(
        mail.body
            .contains("ask a Portal Administrator at Provider 10000606"),
        "{}",
        mail.body
    );
    assert!(mail.body.contains("1 September 2026 at 10am (UK time)"));
    assert!(!mail.body.contains("/sign-in"), "{}", mail.body);
}

async fn set_password(app: &TestApp, email: &str, password: &str) {
    let id = app.user_record(email).await.id;
    let hash = domain::password::hash(password, &mut rand::rngs::OsRng).unwrap();
    let mut tx = app.store().begin().await.unwrap();
    tx.set_password(id, &hash).await.unwrap();
    tx.commit().await.unwrap();
}

async fn after_the_idle_timeout_the_next_click_says_so_and_signing_in_returns_there(app: TestApp) {
    let email = app
        .user("10000607", "idle@seven.example.ac.uk", &["portal-admin"])
        .await;
    let mut b = page_sign_in(&app, &email).await;
    assert_eq!(b.get("/users?q=ada").await.status, 200);
    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        b.get("/account").await.status,
        200,
        "29 minutes is not idle"
    );
    app.clock.advance(Duration::minutes(30));
    let r = b.get("/users?q=ada").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), Some("/signed-out?return=%2Fusers%3Fq%3Dada"));
    let page = b.get("/signed-out?return=%2Fusers%3Fq%3Dada").await;
    assert_eq!(page.status, 200);
    for text in [
        "You have been signed out",
        "For your security, we signed you out because you had not used Provider Portal for 30 minutes",
        "href=\"/sign-in?return=%2Fusers%3Fq%3Dada\"",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
    assert!(clears_session(&page));
    // Sign in again from that link: back to the page asked for, not Home.
    let form = b.get("/sign-in?return=%2Fusers%3Fq%3Dada").await;
    assert!(
        form.body.contains("name=\"return\" value=\"/users?q=ada\""),
        "{}",
        form.body
    );
    let r = b
        .submit(
            "/sign-in",
            &[("email", email.as_str()), ("return", "/users?q=ada")],
        )
        .await;
    assert_eq!(r.location(), Some("/sign-in/code"));
    let code = app.last_code_for(&email).await.unwrap();
    b.get("/sign-in/code").await;
    let r = b.submit("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), Some("/users?q=ada"));
    assert_eq!(b.get("/users?q=ada").await.status, 200);
    // Twelve hours after signing in, however busy: said as such.
    for _ in 0..35 {
        app.clock.advance(Duration::minutes(20));
        assert_eq!(b.get("/account").await.status, 200);
    }
    app.clock.advance(Duration::minutes(20));
    assert_eq!(
        b.get("/account").await.location(),
        Some("/signed-out?return=%2Faccount")
    );
    let page = b.get("/signed-out?return=%2Faccount").await;
    assert!(
        page.body
            .contains("we sign everyone out 12 hours after they sign in"),
        "{}",
        page.body
    );
    // The API answers as it always has.
    let token = app.api_sign_in(&email).await;
    app.clock.advance(Duration::minutes(31));
    assert_eq!(
        app.call("GET", "/api/v1/me", Some(&token), None).await.0,
        401
    );
}

async fn a_form_sent_after_the_idle_timeout_says_so_and_changes_nothing(app: TestApp) {
    let email = app
        .user("10000608", "form@eight.example.ac.uk", &["portal-admin"])
        .await;
    let mut b = page_sign_in(&app, &email).await;
    b.get("/users/add").await;
    app.clock.advance(Duration::minutes(31));
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let r = b
        .submit(
            "/users/add",
            &[
                ("title", "Dr"),
                ("first_name", "Late"),
                ("last_name", "Comer"),
                ("email", "late@eight.example.ac.uk"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.location(),
        Some("/signed-out"),
        "a form is not returned to"
    );
    assert!(
        b.get("/signed-out")
            .await
            .body
            .contains("you had not used Provider Portal for 30 minutes")
    );
    assert_eq!(app.snapshot().await, before, "nothing was added");
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].entry.action, "session.over");
    assert_eq!(rows[0].entry.outcome, domain::audit::Outcome::Refused);
    // Audited under the person and organisation whose session it was, so
    // their provider's Activity page shows it.
    let user = app.user_record(&email).await;
    assert_eq!(rows[0].entry.actor_id, Some(user.id.0));
    assert_eq!(rows[0].entry.organisation_id, Some(user.organisation_id.0));
}

async fn an_anonymous_deep_link_returns_there_after_sign_in(app: TestApp) {
    let email = app
        .user("10000609", "deep@nine.example.ac.uk", &["portal-admin"])
        .await;
    let mut b = app.browser();
    let r = b.get("/users?q=deep&page=1").await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.location(),
        Some("/sign-in?return=%2Fusers%3Fq%3Ddeep%26page%3D1")
    );
    // Home is where signing in goes anyway: no parameter for it.
    assert_eq!(b.get("/home").await.location(), Some("/sign-in"));
    let form = b
        .get("/sign-in?return=%2Fusers%3Fq%3Ddeep%26page%3D1")
        .await;
    assert!(
        form.body
            .contains("name=\"return\" value=\"/users?q=deep&#38;page=1\""),
        "{}",
        form.body
    );
    let r = b
        .submit(
            "/sign-in",
            &[
                ("email", email.as_str()),
                ("return", "/users?q=deep&page=1"),
            ],
        )
        .await;
    assert_eq!(r.location(), Some("/sign-in/code"));
    // "Not received a code?" keeps where the person was going.
    b.get("/sign-in/resend").await;
    b.submit("/sign-in/resend", &[]).await;
    let code = app.last_code_for(&email).await.unwrap();
    b.get("/sign-in/code").await;
    let r = b.submit("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(r.location(), Some("/users?q=deep&page=1"));
    // Signed in, the sign-in page with a return goes there at once.
    let r = b.get("/sign-in?return=%2Faccount").await;
    assert_eq!(r.location(), Some("/account"));
}

async fn open_redirect_attempts_are_refused_and_land_on_home(app: TestApp) {
    let email = app
        .user("10000610", "redirect@ten.example.ac.uk", &[])
        .await;
    for (i, evil) in [
        "//evil.example",
        "///evil.example",
        "https://evil.example",
        "http:/evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%2fevil.example",
        "/\t/evil.example",
        "/%09/evil.example",
        " //evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/sign-out",
        "/api/v1/me",
        "/x/../signed-out",
        "/./sign-out",
        "/x/%2e%2e/api/v1/me",
        "/x/.%2E",
    ]
    .into_iter()
    .enumerate()
    {
        // At most 5 codes an address in 15 minutes.
        if i % 4 == 3 {
            app.clock.advance(Duration::minutes(16));
        }
        let mut b = app.browser();
        let encoded = serde_urlencoded_pair(evil);
        // Refused on the way in: the form does not carry it.
        let form = b.get(&format!("/sign-in?{encoded}")).await;
        assert_eq!(form.status, 200, "{evil}");
        assert!(
            !form.body.contains("name=\"return\""),
            "{evil}: {}",
            form.body
        );
        // And on the way out, when a hand-made form carries it anyway.
        let r = b
            .submit("/sign-in", &[("email", email.as_str()), ("return", evil)])
            .await;
        assert_eq!(r.location(), Some("/sign-in/code"), "{evil}");
        let code = app.last_code_for(&email).await.unwrap();
        b.get("/sign-in/code").await;
        let r = b.submit("/sign-in/code", &[("code", &code)]).await;
        assert_eq!(r.location(), Some("/home"), "{evil}");
        // Signed in: the sign-in page sends it home, not away.
        let r = b.get(&format!("/sign-in?{encoded}")).await;
        assert_eq!(r.location(), Some("/home"), "{evil}");
        // The signed-out page offers no link carrying it.
        let page = b.get(&format!("/signed-out?{encoded}")).await;
        assert!(page.body.contains("href=\"/sign-in\""), "{evil}");
    }
    // A planted attempt cookie naming another site is refused too.
    app.clock.advance(Duration::minutes(16));
    let mut b = app.browser();
    b.get("/sign-in").await;
    b.submit(
        "/sign-in",
        &[("email", email.as_str()), ("return", "/account")],
    )
    .await;
    let decoded = unbase64(&b.cookies["portal_attempt"]);
    let planted = decoded.replace("/account", "//evil.example");
    assert_ne!(planted, decoded, "the attempt carries the return path");
    b.cookies.insert("portal_attempt".into(), base64(&planted));
    let code = app.last_code_for(&email).await.unwrap();
    b.get("/sign-in/code").await;
    let r = b.submit("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(r.location(), Some("/home"));
    // A same-site path does work.
    let mut b = app.browser();
    b.get("/sign-in?return=%2Faccount").await;
    b.submit(
        "/sign-in",
        &[("email", email.as_str()), ("return", "/account")],
    )
    .await;
    let code = app.last_code_for(&email).await.unwrap();
    b.get("/sign-in/code").await;
    let r = b.submit("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(r.location(), Some("/account"));
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// URL-safe base64 without padding, as the attempt cookie is written.
fn base64(text: &str) -> String {
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn unbase64(text: &str) -> String {
    let mut bytes = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, c)| {
            let v = BASE64.iter().position(|b| b == c).unwrap() as u32;
            n | v << (18 - 6 * i)
        });
        for i in 0..chunk.len() - 1 {
            bytes.push((n >> (16 - 8 * i) & 255) as u8);
        }
    }
    String::from_utf8(bytes).unwrap()
}

fn serde_urlencoded_pair(value: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", &[("return", value)])
        .unwrap()
        .query()
        .unwrap()
        .to_owned()
}

async fn a_deep_link_returns_there_after_a_password_sign_in(backend: Backend) {
    let Some(app) = TestApp::spawn_with(
        backend,
        Config {
            password_sign_in: true,
            ..testkit::test_config()
        },
    )
    .await
    else {
        return;
    };
    let email = app
        .user("10000611", "pw@eleven.example.ac.uk", &["portal-admin"])
        .await;
    set_password(&app, &email, "a long and memorable password").await;
    let mut b = app.browser();
    let r = b.get("/activity").await;
    assert_eq!(r.location(), Some("/sign-in?return=%2Factivity"));
    let form = b.get("/sign-in?return=%2Factivity").await;
    assert!(
        form.body
            .contains("href=\"/sign-in/password?return=%2Factivity\""),
        "{}",
        form.body
    );
    let form = b.get("/sign-in/password?return=%2Factivity").await;
    assert!(form.body.contains("name=\"return\" value=\"/activity\""));
    // A mistake keeps the return; the right password then goes there.
    let r = b
        .submit(
            "/sign-in/password",
            &[
                ("email", email.as_str()),
                ("password", "wrong"),
                ("return", "/activity"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("name=\"return\" value=\"/activity\""));
    let r = b
        .submit(
            "/sign-in/password",
            &[
                ("email", email.as_str()),
                ("password", "a long and memorable password"),
                ("return", "/activity"),
            ],
        )
        .await;
    assert_eq!(r.location(), Some("/activity"));
    // And a foreign one lands on Home.
    let mut b = app.browser();
    b.get("/sign-in/password").await;
    let r = b
        .submit(
            "/sign-in/password",
            &[
                ("email", email.as_str()),
                ("password", "a long and memorable password"),
                ("return", "//evil.example"),
            ],
        )
        .await;
    assert_eq!(r.location(), Some("/home"));
}

async fn stay_signed_in_extends_the_session_and_needs_the_form_token(app: TestApp) {
    let email = app.user("10000612", "stay@twelve.example.ac.uk", &[]).await;
    let mut b = page_sign_in(&app, &email).await;
    app.clock.advance(Duration::minutes(25));
    // A page at 25:00: the session is touched, and now ends at 55:00.
    assert_eq!(b.get("/home").await.status, 200);
    // Without the form token: refused, audited, and nothing else happens.
    let seq = app.last_audit_seq().await;
    let r = b
        .post_raw("/stay-signed-in", &[], &[("sec-fetch-site", "same-origin")])
        .await;
    assert_eq!(r.status, 403);
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry.action, "csrf.refused");
    // A page for its form token, still at 25:00 (no touch: it was touched
    // at 25:00).
    b.get("/home").await;
    // With it, 59 seconds later: the request itself does not touch the
    // session (it was touched under a minute ago), so only "Stay signed in"
    // can move its end, to 55:59.
    app.clock.advance(Duration::seconds(59));
    let r = b.submit("/stay-signed-in", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let answer: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(answer["seconds_left"], 1800);
    // 55:30: past the end the page at 25:00 gave it.
    app.clock
        .advance(Duration::minutes(29) + Duration::seconds(31));
    assert_eq!(
        b.get("/account").await.status,
        200,
        "55:30 after sign-in, 29:31 after staying"
    );
    // Once the session is over, staying is refused without a redirect.
    app.clock.advance(Duration::minutes(31));
    let r = b.submit("/stay-signed-in", &[]).await;
    assert_eq!(r.status, 401);
}

async fn a_short_idle_timeout_is_extended_by_use(backend: Backend) {
    let Some(app) = TestApp::spawn_with(
        backend,
        Config {
            session_idle_timeout_secs: 40,
            ..testkit::test_config()
        },
    )
    .await
    else {
        return;
    };
    let email = app
        .user("10000614", "brisk@fourteen.example.ac.uk", &[])
        .await;
    let mut b = page_sign_in(&app, &email).await;
    // A page every 15 seconds for 2 minutes: never 40 seconds idle.
    for i in 1..=8 {
        app.clock.advance(Duration::seconds(15));
        let r = b.get("/account").await;
        assert_eq!(
            r.status,
            200,
            "after {} seconds: {:?}",
            i * 15,
            r.location()
        );
    }
    app.clock.advance(Duration::seconds(41));
    assert_eq!(
        b.get("/account")
            .await
            .location()
            .map(|l| l.starts_with("/signed-out")),
        Some(true)
    );
}

async fn a_session_idle_overnight_says_it_was_idle_not_too_old(app: TestApp) {
    let email = app
        .user("10000615", "night@fifteen.example.ac.uk", &[])
        .await;
    let mut b = page_sign_in(&app, &email).await;
    app.clock.advance(Duration::hours(13));
    assert_eq!(
        b.get("/account")
            .await
            .location()
            .map(|l| l.starts_with("/signed-out")),
        Some(true)
    );
    let page = b.get("/signed-out").await;
    assert!(
        page.body
            .contains("you had not used Provider Portal for 30 minutes"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("12 hours"), "{}", page.body);
}

async fn the_idle_timeout_is_configurable_and_pages_say_how_long_is_left(backend: Backend) {
    let Some(app) = TestApp::spawn_with(
        backend,
        Config {
            session_idle_timeout_secs: 600,
            ..testkit::test_config()
        },
    )
    .await
    else {
        return;
    };
    let email = app
        .user("10000613", "ten@thirteen.example.ac.uk", &[])
        .await;
    let mut b = page_sign_in(&app, &email).await;
    let home = b.get("/home").await;
    assert!(
        home.body.contains("data-seconds-left=\"600\""),
        "{}",
        home.body
    );
    assert!(home.body.contains("data-warn-seconds=\"120\""));
    app.clock.advance(Duration::seconds(30));
    // Not yet touched again (at most once a minute): 30 seconds fewer.
    assert!(
        b.get("/home")
            .await
            .body
            .contains("data-seconds-left=\"570\"")
    );
    app.clock.advance(Duration::minutes(10));
    // Home is where signing in goes anyway: no return for it.
    assert_eq!(b.get("/home").await.location(), Some("/signed-out"));
    assert!(
        b.get("/signed-out")
            .await
            .body
            .contains("you had not used Provider Portal for 10 minutes")
    );
    // Anonymous pages have no timer.
    assert!(
        !app.browser()
            .get("/sign-in")
            .await
            .body
            .contains("data-seconds-left")
    );
    let refused = Config {
        session_idle_timeout_secs: 7200,
        ..testkit::test_config()
    };
    assert!(
        refused
            .checked()
            .unwrap_err()
            .to_string()
            .contains("PORTAL_SESSION_IDLE_TIMEOUT_SECS")
    );
}

async fn an_old_cookie_learns_nothing_of_a_later_disabling_or_expiry(app: TestApp) {
    // A session that timed out before its account was disabled.
    let email = app
        .user("10000616", "gone@sixteen.example.ac.uk", &[])
        .await;
    let mut idle = page_sign_in(&app, &email).await;
    // A session signed out before its account expired.
    let temp = app
        .user("10000616", "temp@sixteen.example.ac.uk", &[])
        .await;
    let mut out = page_sign_in(&app, &temp).await;
    let old = out.cookies["portal_session"].clone();
    out.get("/account").await;
    assert_eq!(out.submit("/sign-out", &[]).await.status, 303);
    out.cookies.insert("portal_session".into(), old);
    app.clock.advance(Duration::minutes(31));
    let admin = admin_token(&app, "10000616", "pa2@sixteen.example.ac.uk").await;
    patch_user(&app, &admin, &email, json!({ "access_enabled": false })).await;
    app.deliver_mail().await;
    let end = app.sql_time(time::macros::datetime!(2026-09-01 23:00 UTC));
    app.sql(&format!(
        "UPDATE users SET expires_at = {end} WHERE email_norm = 'temp@sixteen.example.ac.uk'"
    ))
    .await;
    app.clock.advance(Duration::hours(14));
    for (who, b) in [("timed out", &mut idle), ("signed out", &mut out)] {
        let r = b.get("/account").await;
        assert_eq!(r.location(), Some("/sign-in?return=%2Faccount"), "{who}");
        let page = b.get("/signed-out").await;
        assert!(
            page.body.contains("You have signed out"),
            "{who}: {}",
            page.body
        );
        assert!(!page.body.contains("turned off"), "{who}: {}", page.body);
        assert!(
            !page.body.contains("access to Provider Portal has ended"),
            "{who}: {}",
            page.body
        );
    }
}

async fn an_expiry_at_a_moment_is_said_as_a_moment(app: TestApp) {
    let admin = admin_token(&app, "10000617", "pa@seventeen.example.ac.uk").await;
    let email = app
        .user("10000617", "brief@seventeen.example.ac.uk", &[])
        .await;
    let mut b = page_sign_in(&app, &email).await;
    // 2026-09-01 14:15 UK time (BST): 13:15 UTC, 4 hours 15 minutes on.
    patch_user(
        &app,
        &admin,
        &email,
        json!({ "expires_at": "2026-09-01T13:15:00Z" }),
    )
    .await;
    app.deliver_mail().await;
    let mail = app.mailer.sent_to(&email);
    let changed = mail.last().expect("the person is told");
    assert!(
        changed.body.contains("1 September 2026 at 2:15pm"),
        "{}",
        changed.body
    );
    assert!(!changed.body.contains("end of"), "{}", changed.body);
    for _ in 0..9 {
        app.clock.advance(Duration::minutes(29));
        b.get("/account").await;
    }
    assert_eq!(b.get("/home").await.location(), Some("/signed-out"));
    let page = b.get("/signed-out").await;
    assert!(
        page.body
            .contains("could be used until 1 September 2026 at 2:15pm"),
        "{}",
        page.body
    );
    // An expiry already past, set by an administrator: the email says access
    // has ended (not that it was turned off).
    let other = app
        .user("10000617", "past@seventeen.example.ac.uk", &[])
        .await;
    let admin = admin_token(&app, "10000617", "pa2@seventeen.example.ac.uk").await;
    patch_user(
        &app,
        &admin,
        &other,
        json!({ "expires_at": "2026-08-01T00:00:00+01:00" }),
    )
    .await;
    app.deliver_mail().await;
    let mail = app.mailer.sent_to(&other);
    let ended = mail.last().expect("the person is told");
    assert_eq!(ended.subject, "Your access to Provider Portal has ended");
    assert!(
        ended.body.contains("until the end of 31 July 2026"),
        "{}",
        ended.body
    );
}
