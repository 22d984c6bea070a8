//! Issue 15, item 4, in a real browser: the timeout warning (JavaScript on:
//! a modal dialog before the idle timeout, "Stay signed in" and Escape keep
//! the session, doing nothing signs out and says so); and, with JavaScript on
//! and off, the signed-out page after a timeout, returning to the page asked
//! for after signing in again, the page saying access was turned off, the
//! "Enter code" page saying why a code may not come, and the password page
//! of a locked account. Every one of them checked by axe at 1200 and 500 px.

use fantoccini::Locator;
use server::Config;
use testkit::{Backend, Chrome, TestApp};
use time::Duration;

use crate::{arrive, at_both_widths, click, fill, page_has, press, signs_in};

testkit::both_backends!(
    ;
    raw:
    the_timeout_warning_keeps_or_ends_the_session_with_javascript,
    the_warning_survives_a_double_stay_and_says_when_staying_cannot_help,
    timeouts_returns_and_ended_access_are_explained_with_javascript,
    timeouts_returns_and_ended_access_are_explained_without_javascript,
);

/// Waits (up to `secs` seconds) for an element to appear.
async fn appears_within(c: &fantoccini::Client, css: &str, secs: u64) {
    for _ in 0..secs * 20 {
        if c.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{css} did not appear within {secs} s");
}

/// Waits (up to 10 s) for an element to be gone.
async fn disappears(c: &fantoccini::Client, css: &str) {
    for _ in 0..200 {
        if c.find(Locator::Css(css)).await.is_err() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{css} is still there");
}

/// A script's answer as text.
async fn run(c: &fantoccini::Client, script: &str) -> String {
    let value = c.execute(script, vec![]).await.unwrap();
    value
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string())
}

const OPEN_WARNING: &str = "dialog.portal-timeout-dialog[open]";

/// With a 30-second idle timeout the warning appears 15 seconds before it.
async fn the_timeout_warning_keeps_or_ends_the_session_with_javascript(backend: Backend) {
    let Some(chrome) = Chrome::start(true).await else {
        return;
    };
    let config = Config {
        session_idle_timeout_secs: 30,
        ..testkit::test_config()
    };
    let app = TestApp::spawn_with(backend, config).await.unwrap();
    let email = app
        .user("10000661", "idle@one.example.ac.uk", &["portal-admin"])
        .await;
    let c = &chrome.client;
    signs_in(&chrome, &app, true, email.clone()).await;
    c.goto(&app.url("/users?q=idle")).await.unwrap();
    arrive(c, "/users").await;
    // Focus something, to see focus come back when the warning closes.
    c.find(Locator::Css("#q"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // The warning: a modal dialog, named and described, focus on its first action.
    appears_within(c, OPEN_WARNING, 20).await;
    assert_eq!(
        run(c, "return document.activeElement.textContent.trim()").await,
        "Stay signed in"
    );
    assert_eq!(
        run(
            c,
            "const d = document.querySelector('dialog.portal-timeout-dialog'); \
             return [d.getAttribute('aria-labelledby'), d.getAttribute('aria-describedby'), \
             document.getElementById(d.getAttribute('aria-labelledby')).textContent.trim()].join('|')"
        )
        .await,
        "portal-timeout-heading|portal-timeout-text|You’re about to be signed out"
    );
    let text = c
        .find(Locator::Css(OPEN_WARNING))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("For your security, we will sign you out in"),
        "{text}"
    );
    assert!(text.contains("seconds"), "{text}");
    assert_eq!(
        run(
            c,
            "return document.querySelector('[data-countdown-spoken]').getAttribute('aria-live')"
        )
        .await,
        "polite"
    );
    at_both_widths(&chrome, true, "timeout-warning").await;

    // "Stay signed in": the session's idle time starts again (on the
    // server's clock, moved on by hand here) and focus goes back.
    app.clock.advance(Duration::seconds(20));
    click(c, "dialog.portal-timeout-dialog [data-timeout-stay]").await;
    disappears(c, "dialog.portal-timeout-dialog").await;
    assert_eq!(run(c, "return document.activeElement.id").await, "q");
    app.clock.advance(Duration::seconds(25));
    // 45 seconds after signing in, 25 after staying: still signed in.
    c.goto(&app.url("/account")).await.unwrap();
    arrive(c, "/account").await;

    // Escape is "Stay signed in" too.
    appears_within(c, OPEN_WARNING, 20).await;
    let focused = c.active_element().await.unwrap();
    focused.send_keys("\u{E00C}").await.unwrap();
    disappears(c, "dialog.portal-timeout-dialog").await;
    // 70 seconds after signing in, 25 after pressing Escape: still signed in.
    app.clock.advance(Duration::seconds(25));
    c.goto(&app.url("/account")).await.unwrap();
    arrive(c, "/account").await;

    // Doing nothing: when the time is up the page is asked for again, and
    // the server, whose session has timed out, says so.
    appears_within(c, OPEN_WARNING, 20).await;
    app.clock.advance(Duration::seconds(40));
    arrive_within(c, "/signed-out", 25).await;
    assert!(page_has(c, "You have been signed out").await);
    assert!(
        page_has(
            c,
            "we signed you out because you had not used Provider Portal for 30 seconds"
        )
        .await
    );
    // Signing in again returns to the page that was open.
    click(c, "main a.govuk-button").await;
    arrive(c, "/sign-in").await;
    fill(c, "#email", &email).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/sign-in/code").await;
    let code = app.last_code_for(&email).await.unwrap();
    fill(c, "#code", &code).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/account").await;

    // "Sign out" in the warning signs out.
    appears_within(c, OPEN_WARNING, 20).await;
    c.find(Locator::XPath(
        "//dialog//button[normalize-space()='Sign out']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    arrive(c, "/signed-out").await;
    assert!(page_has(c, "You have signed out").await);
    chrome.client.clone().close().await.unwrap();
}

/// A double "Stay signed in" sends one request and throws nothing; near the
/// 12-hour limit "Stay signed in" cannot help, and the warning says so (and
/// when the session ends) instead of closing and opening again at once.
async fn the_warning_survives_a_double_stay_and_says_when_staying_cannot_help(backend: Backend) {
    let Some(chrome) = Chrome::start(true).await else {
        return;
    };
    let config = Config {
        // The warning comes 2 minutes before the end.
        session_idle_timeout_secs: 240,
        ..testkit::test_config()
    };
    let app = TestApp::spawn_with(backend, config).await.unwrap();
    let email = app.user("10000662", "twelve@two.example.ac.uk", &[]).await;
    let c = &chrome.client;
    signs_in(&chrome, &app, true, email.clone()).await;
    // 2 minutes 5 seconds before the 12 hours are up: the warning comes 5
    // seconds after the page.
    let signed_in = app::Clock::now(&*app.clock) - Duration::hours(12) + Duration::seconds(125);
    app.sql(&format!(
        "UPDATE sessions SET created_at = {} WHERE ended_at IS NULL",
        app.sql_time(signed_in)
    ))
    .await;
    c.goto(&app.url("/account")).await.unwrap();
    arrive(c, "/account").await;
    run(
        c,
        "window.portalErrors = []; \
         window.addEventListener('error', (e) => window.portalErrors.push(String(e.message))); \
         window.addEventListener('unhandledrejection', (e) => window.portalErrors.push(String(e.reason))); \
         return ''",
    )
    .await;
    appears_within(c, OPEN_WARNING, 20).await;
    // Two clicks before the first answer comes: one request, no error.
    run(
        c,
        "const b = document.querySelector('dialog [data-timeout-stay]'); b.click(); b.click(); return ''",
    )
    .await;
    disappears(c, "dialog.portal-timeout-dialog").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(run(c, "return window.portalErrors.join('|')").await, "");

    // 10 seconds on (the server's clock), the warning again: now "Stay
    // signed in" cannot give more than the 115 seconds left.
    app.clock.advance(Duration::seconds(10));
    appears_within(c, OPEN_WARNING, 20).await;
    click(c, "dialog.portal-timeout-dialog [data-timeout-stay]").await;
    appears_within(c, "dialog[open] [data-timeout-final]:not([hidden])", 10).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // Still the same warning, now without "Stay signed in", saying when.
    let text = c
        .find(Locator::Css(OPEN_WARNING))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("You cannot stay signed in any longer"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Your session ends at {}",
            domain::uk_time::moment(signed_in + Duration::hours(12))
        )),
        "{text}"
    );
    assert!(
        c.find(Locator::Css("dialog[open] [data-timeout-stay]"))
            .await
            .is_err()
    );
    assert_eq!(
        run(c, "return document.activeElement.textContent.trim()").await,
        "Sign out"
    );
    at_both_widths(&chrome, true, "timeout-warning-final").await;
    assert_eq!(run(c, "return window.portalErrors.join('|')").await, "");
    chrome.client.clone().close().await.unwrap();
}

/// As [`crate::arrive`], waiting up to `secs` seconds.
async fn arrive_within(c: &fantoccini::Client, path: &str, secs: u64) {
    for _ in 0..secs * 20 {
        let here = c.current_url().await.unwrap();
        if here.path() == path && c.find(Locator::Css("footer .govuk-footer")).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the browser did not reach {path}: it shows {}",
        c.current_url().await.unwrap()
    );
}

async fn timeouts_returns_and_ended_access_are_explained_with_javascript(backend: Backend) {
    explained(backend, true).await;
}

async fn timeouts_returns_and_ended_access_are_explained_without_javascript(backend: Backend) {
    explained(backend, false).await;
}

async fn explained(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let config = Config {
        password_sign_in: true,
        ..testkit::test_config()
    };
    let app = TestApp::spawn_with(backend, config).await.unwrap();
    let email = app
        .user("10000662", "ada@two.example.ac.uk", &["portal-admin"])
        .await;
    let leaver = app
        .user(
            "10000662",
            "leaver@two.example.ac.uk",
            &["area-member:heses"],
        )
        .await;
    let c = &chrome.client;

    // Thirty minutes without a request: the next click says so.
    signs_in(&chrome, &app, javascript, email.clone()).await;
    c.goto(&app.url("/users?q=leaver")).await.unwrap();
    arrive(c, "/users").await;
    app.clock.advance(Duration::minutes(31));
    c.goto(&app.url("/users?q=leaver")).await.unwrap();
    arrive(c, "/signed-out").await;
    assert!(page_has(c, "You have been signed out").await);
    assert!(
        page_has(
            c,
            "we signed you out because you had not used Provider Portal for 30 minutes"
        )
        .await
    );
    at_both_widths(&chrome, javascript, "signed-out-after-timeout").await;
    // Signing in again goes back to the list, search and all.
    click(c, "main a.govuk-button").await;
    arrive(c, "/sign-in").await;
    fill(c, "#email", &email).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/sign-in/code").await;
    let code = app.last_code_for(&email).await.unwrap();
    fill(c, "#code", &code).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/users").await;
    assert_eq!(
        c.current_url().await.unwrap().query(),
        Some("q=leaver"),
        "the page asked for, not Home"
    );
    assert!(page_has(c, "leaver@two.example.ac.uk").await);

    // A link followed while signed out: the same, from the start.
    crate::sign_out(c).await;
    at_both_widths(&chrome, javascript, "signed-out").await;
    c.goto(&app.url("/activity")).await.unwrap();
    arrive(c, "/sign-in").await;
    fill(c, "#email", &email).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/sign-in/code").await;
    let code = app.last_code_for(&email).await.unwrap();
    fill(c, "#code", &code).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/activity").await;

    // Access turned off while signed in: the next click says so, and whom to ask.
    crate::sign_out(c).await;
    signs_in(&chrome, &app, javascript, leaver.clone()).await;
    app.sql(
        "UPDATE users SET access_enabled = FALSE WHERE email_norm = 'leaver@two.example.ac.uk'",
    )
    .await;
    c.goto(&app.url("/documents")).await.unwrap();
    arrive(c, "/signed-out").await;
    assert!(page_has(c, "Your access to Provider Portal has been turned off").await);
    assert!(page_has(c, "contact a Portal Administrator at Provider 10000662").await);
    at_both_widths(&chrome, javascript, "access-turned-off").await;

    // Signing in as that person looks like any address, and says why no code may come.
    app.deliver_mail().await;
    let mails = app.mailer.sent_to(&leaver).len();
    c.goto(&app.url("/sign-in")).await.unwrap();
    arrive(c, "/sign-in").await;
    fill(c, "#email", &leaver).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/sign-in/code").await;
    assert!(page_has(c, "If no code arrives within a few minutes").await);
    assert!(page_has(c, "the account may be locked or its access turned off").await);
    at_both_widths(&chrome, javascript, "enter-code").await;
    app.deliver_mail().await;
    assert_eq!(
        app.mailer.sent_to(&leaver).len(),
        mails,
        "no code for a disabled account"
    );

    // A locked password account is not told its right password is wrong.
    let password = "a long and memorable password";
    let id = app.user_record(&email).await.id;
    let hash = domain::password::hash(password, &mut rand::rngs::OsRng).unwrap();
    let mut tx = app.store().begin().await.unwrap();
    tx.set_password(id, &hash).await.unwrap();
    tx.lock_account(id).await.unwrap();
    tx.commit().await.unwrap();
    c.goto(&app.url("/sign-in/password")).await.unwrap();
    arrive(c, "/sign-in/password").await;
    fill(c, "#email", &email).await;
    fill(c, "#password", password).await;
    press(c, "Sign in").await;
    crate::appears(c, ".govuk-error-summary").await;
    assert!(page_has(c, "your account may be locked or its access turned off").await);
    assert!(!page_has(c, "is not correct").await);
    at_both_widths(&chrome, javascript, "password-refused").await;
    chrome.client.clone().close().await.unwrap();
}
