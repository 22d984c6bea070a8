//! Issue 15, item 13: the pages every GOV.UK service has — Help, the
//! accessibility statement, the cookies page and the privacy notice — are
//! reached from the footer of any page, signed out and signed in, with
//! JavaScript on and off, and pass axe at 1200 and 500 px. The first Tab
//! reaches the skip link, as the accessibility statement says.

use fantoccini::Locator;
use testkit::{Backend, Chrome, TestApp};

use crate::{arrive, at_both_widths, sign_out, signs_in};

testkit::both_backends!(
    ;
    raw:
    the_footer_leads_to_help_accessibility_cookies_and_privacy_with_javascript,
    the_footer_leads_to_help_accessibility_cookies_and_privacy_without_javascript,
);

async fn the_footer_leads_to_help_accessibility_cookies_and_privacy_with_javascript(
    backend: Backend,
) {
    service_pages(backend, true).await;
}

async fn the_footer_leads_to_help_accessibility_cookies_and_privacy_without_javascript(
    backend: Backend,
) {
    service_pages(backend, false).await;
}

/// The footer's links, the path each leads to and the page's heading.
const PAGES: [(&str, &str, &str); 4] = [
    ("Help", "/help", "Help"),
    (
        "Accessibility statement",
        "/accessibility",
        "Accessibility statement for Provider Portal",
    ),
    ("Cookies", "/cookies", "Cookies"),
    ("Privacy notice", "/privacy", "Privacy notice"),
];

/// From the page the browser shows, follows each footer link in turn and
/// looks at each page at both widths.
async fn through_the_footer(chrome: &Chrome, javascript: bool, who: &str) {
    let c = &chrome.client;
    for (link, path, heading) in PAGES {
        c.find(Locator::XPath(&format!(
            "//footer//a[normalize-space()='{link}']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
        arrive(c, path).await;
        let h1 = c.find(Locator::Css("main h1")).await.unwrap();
        assert_eq!(h1.text().await.unwrap(), heading);
        let name = format!("service-{}-{who}", &path[1..]);
        at_both_widths(chrome, javascript, &name).await;
        whole_page_screenshots(chrome, javascript, &name).await;
    }
}

/// These pages are long: when `PORTAL_SCREENSHOTS` names a directory, each
/// is also saved whole (a tall window) at both widths, to be read by eye.
async fn whole_page_screenshots(chrome: &Chrome, javascript: bool, name: &str) {
    let Ok(dir) = std::env::var("PORTAL_SCREENSHOTS") else {
        return;
    };
    let c = &chrome.client;
    let js = if javascript { "js" } else { "nojs" };
    for width in [1200u32, 500] {
        c.set_window_size(width, 3600).await.unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(format!("{dir}/{name}-{js}-{width}-whole.png"), png).unwrap();
    }
    c.set_window_size(1200, 900).await.unwrap();
}

async fn service_pages(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let c = &chrome.client;

    // Signed out, from the start page.
    c.goto(&app.url("/")).await.unwrap();
    arrive(c, "/").await;
    through_the_footer(&chrome, javascript, "signed-out").await;

    // The keyboard: the first Tab reaches the skip link, which leads to the
    // page's main content.
    c.goto(&app.url("/help")).await.unwrap();
    arrive(c, "/help").await;
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E004}") // Tab
        .await
        .unwrap();
    let focused = c.active_element().await.unwrap();
    assert_eq!(focused.text().await.unwrap(), "Skip to main content");
    focused
        .send_keys("\u{E007}") // Enter
        .await
        .unwrap();
    for _ in 0..100 {
        if c.current_url().await.unwrap().fragment() == Some("main-content") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        c.current_url().await.unwrap().fragment(),
        Some("main-content")
    );

    // The cookies page names this portal's cookies, as set (no `__Host-`
    // prefix in development).
    c.goto(&app.url("/cookies")).await.unwrap();
    arrive(c, "/cookies").await;
    let names = c
        .find(Locator::Css("#essential-cookies"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in ["portal_session", "portal_csrf", "portal_attempt"] {
        assert!(names.contains(name), "{name}: {names}");
    }

    // Signed in, from Home: the same pages, now with the person's header.
    let admin = app
        .user("10000411", "ada@service.example.ac.uk", &["portal-admin"])
        .await;
    signs_in(&chrome, &app, javascript, admin).await;
    through_the_footer(&chrome, javascript, "signed-in").await;
    let header = c
        .find(Locator::Css("header"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(header.contains("Signed in as"), "{header}");
    let feedback = c
        .find(Locator::XPath("//footer//a[normalize-space()='Feedback']"))
        .await;
    assert!(feedback.is_ok(), "signed in, the footer offers Feedback");
    sign_out(c).await;
    chrome.client.clone().close().await.unwrap();
}
