//! Issue 15, item 6: every time a person reads is UK time in one format. A
//! sign-in in September (British Summer Time) and one in January (GMT) read
//! on User management and on My account as "1 September 2026 at
//! 10am" and "14 January 2027 at 2:15pm" — never UTC, never another format.

use fantoccini::Locator;
use testkit::{Backend, Chrome, TestApp};

use crate::{arrive, at_both_widths, sign_out, signs_in};

testkit::both_backends!(
    ;
    raw:
    times_read_as_uk_time_in_summer_and_winter_with_javascript,
    times_read_as_uk_time_in_summer_and_winter_without_javascript,
);

async fn times_read_as_uk_time_in_summer_and_winter_with_javascript(backend: Backend) {
    uk_time(backend, true).await;
}

async fn times_read_as_uk_time_in_summer_and_winter_without_javascript(backend: Backend) {
    uk_time(backend, false).await;
}

async fn uk_time(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let c = &chrome.client;
    let colleague = app.user("10000141", "cleo@one.example.ac.uk", &[]).await;
    let admin = app
        .user("10000141", "ada@one.example.ac.uk", &["portal-admin"])
        .await;
    // 1 September 2026, 09:00 UTC: 10am in British Summer Time.
    signs_in(&chrome, &app, javascript, colleague).await;
    sign_out(c).await;
    // 14 January 2027, 14:15 UTC: 2:15pm in GMT.
    let january = time::macros::datetime!(2027-01-14 14:15 UTC);
    app.clock
        .advance(january - app.clock.now_plus(time::Duration::ZERO));
    signs_in(&chrome, &app, javascript, admin).await;

    c.goto(&app.url("/users")).await.unwrap();
    arrive(c, "/users").await;
    let table = c
        .find(Locator::Css("main table"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(table.contains("1 September 2026 at 10am"), "{table}");
    assert!(table.contains("14 January 2027 at 2:15pm"), "{table}");
    // Someone without roles reads "No roles yet", not "None" (item 10).
    assert!(table.contains("No roles yet"), "{table}");
    let main = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!main.contains("UTC"), "{main}");
    at_both_widths(&chrome, javascript, "uk-time-users").await;

    c.goto(&app.url("/account")).await.unwrap();
    arrive(c, "/account").await;
    let main = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(main.contains("14 January 2027 at 2:15pm"), "{main}");
    assert!(!main.contains("UTC"), "{main}");
    chrome.client.clone().close().await.unwrap();
}
