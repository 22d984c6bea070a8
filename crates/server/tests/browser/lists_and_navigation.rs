//! Issue 15, item 7 (and item 8's organisation user list) in a real browser,
//! with JavaScript on and off: the service navigation is one row at 1200 px
//! for the administrators with the most sections and marks the current one;
//! User management sorts by its headings and pages by number; at 500 px its
//! Edit links are on the screen; the regulator's organisation page searches
//! and pages its users. Every page here passes axe at 1200 and 500 px.

use domain::{EmailAddress, OrgId, Role, UserId};
use fantoccini::Locator;
use store::{NewRoleGrant, NewUser};
use testkit::{Backend, Chrome, TestApp};

use crate::{arrive, at_both_widths, click, click_link, fill, sign_out, signs_in};

testkit::both_backends!(
    ;
    raw:
    navigation_and_lists_work_at_both_widths_with_javascript,
    navigation_and_lists_work_at_both_widths_without_javascript,
);

async fn navigation_and_lists_work_at_both_widths_with_javascript(backend: Backend) {
    lists_and_navigation(backend, true).await;
}

async fn navigation_and_lists_work_at_both_widths_without_javascript(backend: Backend) {
    lists_and_navigation(backend, false).await;
}

/// Adds `n` users to `org` straight to the store, with long addresses (the
/// widest a table cell gets); the first also has two roles, a time it signed
/// in and its access disabled (the longest role, time and status).
async fn colleagues(app: &TestApp, org: OrgId, n: usize, domain: &str) {
    let mut tx = app.store().begin().await.unwrap();
    for i in 1..=n {
        let id = UserId::random();
        tx.insert_user(&NewUser {
            id,
            organisation_id: org,
            title: String::new(),
            first_name: "Alexandria".into(),
            last_name: format!("Montgomery-Wellington {i:02}"),
            email: EmailAddress::parse(&format!(
                "alexandria.montgomery-wellington.{i:02}@{domain}"
            ))
            .unwrap(),
            created_at: time::macros::datetime!(2026-01-01 00:00 UTC),
            created_by: None,
        })
        .await
        .unwrap();
        if i == 1 {
            for role in ["delegated-portal-admin", "portal-admin"] {
                tx.grant_role(&NewRoleGrant {
                    user_id: id,
                    role: Role::parse(role).unwrap(),
                    granted_by: None,
                    granted_at: time::macros::datetime!(2026-01-01 00:00 UTC),
                })
                .await
                .unwrap();
            }
            tx.record_sign_in(id, time::macros::datetime!(2026-12-03 14:15 UTC))
                .await
                .unwrap();
            tx.set_access(id, false).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// A script's answer as JSON.
async fn run(c: &fantoccini::Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap()
}

/// At 1200 px every item of the service navigation is on one row. (Where
/// they do not fit beside the service name, as for a regulator
/// administrator, govuk-frontend puts the name above them.)
async fn navigation_is_one_row(c: &fantoccini::Client, who: &str) {
    c.set_window_size(1200, 900).await.unwrap();
    if let Ok(dir) = std::env::var("PORTAL_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            format!("{dir}/navigation-{}.png", who.replace(' ', "-")),
            png,
        )
        .unwrap();
    }
    let rows = run(
        c,
        "const items = Array.from(document.querySelectorAll('.govuk-service-navigation__item'));
         return { tops: items.map(i => i.offsetTop), texts: items.map(i => i.textContent.trim()) };",
    )
    .await;
    let tops: Vec<f64> = rows["tops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    assert!(tops.len() >= 5, "{who}: {rows}");
    assert!(
        tops.iter().all(|t| *t == tops[0]),
        "{who}: the navigation wraps at 1200 px: {rows}"
    );
}

/// With `PORTAL_SCREENSHOTS`, a screenshot at 1200 px and 500 px of the page
/// scrolled to `css` (the part below the first screen): `<name>-<width>.png`.
async fn shot_of(c: &fantoccini::Client, css: &str, name: &str) {
    let Ok(dir) = std::env::var("PORTAL_SCREENSHOTS") else {
        return;
    };
    for width in [1200u32, 500] {
        c.set_window_size(width, 900).await.unwrap();
        run(
            c,
            &format!("document.querySelector(\"{css}\").scrollIntoView(); return null;"),
        )
        .await;
        let png = c.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}-{width}.png"), png).unwrap();
    }
    run(c, "window.scrollTo(0, 0); return null;").await;
    c.set_window_size(1200, 900).await.unwrap();
}

/// At 1200 px no table region has anything to scroll (no scroll bar under a
/// table that fits).
async fn tables_fit_at_1200(c: &fantoccini::Client, page: &str) {
    c.set_window_size(1200, 900).await.unwrap();
    let regions = run(
        c,
        "return Array.from(document.querySelectorAll('.portal-table-region')).map(r => [r.scrollWidth, r.clientWidth]);",
    )
    .await;
    let regions = regions.as_array().unwrap();
    assert!(!regions.is_empty(), "{page}: a table region");
    for r in regions {
        assert!(
            r[0].as_f64() <= r[1].as_f64(),
            "{page}: a region scrolls at 1200 px: {r}"
        );
    }
}

/// The text of the navigation's current item and its aria-current.
async fn current_section(c: &fantoccini::Client) -> (String, String) {
    let found = run(
        c,
        "const a = document.querySelector('.govuk-service-navigation__item--active a');
         return a ? [a.textContent.trim(), a.getAttribute('aria-current')] : null;",
    )
    .await;
    (
        found[0].as_str().unwrap_or_default().to_owned(),
        found[1].as_str().unwrap_or_default().to_owned(),
    )
}

/// At 500 px the first Edit link of the table is on the screen, and not
/// covered, once scrolled down to (never sideways: should the table be wider
/// than the screen, its region scrolls under the Edit column), and nothing
/// makes the page wider than the screen. With `PORTAL_SCREENSHOTS`, the table
/// at 500 px is saved as `<name>-table-500.png`.
async fn edit_is_on_the_screen_at_500(c: &fantoccini::Client, table: &str, name: &str) {
    c.set_window_size(500, 900).await.unwrap();
    let seen = run(
        c,
        &format!(
            "const edit = document.querySelector(\"{table} a[href^='/users/']\");
             window.scrollTo(0, edit.getBoundingClientRect().top + window.scrollY - 200);
             const r = edit.getBoundingClientRect();
             const region = edit.closest('.portal-table-region');
             const atEdit = document.elementFromPoint(r.left + 4, r.top + r.height / 2);
             return {{ left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                      screen: document.documentElement.clientWidth, height: window.innerHeight,
                      page: document.documentElement.scrollWidth,
                      uncovered: edit.contains(atEdit),
                      regionScrolled: region.scrollLeft,
                      regionTabindex: region.getAttribute('tabindex'),
                      regionRole: region.getAttribute('role'),
                      regionName: document.getElementById(region.getAttribute('aria-labelledby')).textContent.trim() }};"
        ),
    )
    .await;
    if let Ok(dir) = std::env::var("PORTAL_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}-table-500.png"), png).unwrap();
    }
    let n = |k: &str| seen[k].as_f64().unwrap();
    assert!(
        n("left") >= 0.0 && n("right") <= n("screen"),
        "Edit is on the screen at 500 px: {seen}"
    );
    assert!(n("top") >= 0.0 && n("bottom") <= n("height"), "{seen}");
    assert_eq!(seen["uncovered"], true, "nothing covers Edit: {seen}");
    assert_eq!(
        n("regionScrolled"),
        0.0,
        "without scrolling sideways: {seen}"
    );
    assert!(
        n("page") <= n("screen"),
        "the page is no wider than the screen: {seen}"
    );
    // A table wider than the screen scrolls in its region, from the keyboard too.
    assert_eq!(seen["regionTabindex"], "0");
    assert_eq!(seen["regionRole"], "region");
    assert!(!seen["regionName"].as_str().unwrap().is_empty(), "{seen}");
    run(c, "window.scrollTo(0, 0); return null;").await;
    c.set_window_size(1200, 900).await.unwrap();
}

async fn lists_and_navigation(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let c = &chrome.client;
    let d = "lists.example.ac.uk";
    let pa = app
        .user("10000211", &format!("admin@{d}"), &["portal-admin"])
        .await;
    let org = app.user_record(&pa).await.organisation_id;
    colleagues(&app, org, 30, d).await;
    let regulator = app
        .regulator_user("lists@ofs.example.org", &["regulator-admin"])
        .await;

    // A Portal Administrator: one row, Home marked on Home.
    signs_in(&chrome, &app, javascript, pa.clone()).await;
    navigation_is_one_row(c, "Portal Administrator").await;
    assert_eq!(current_section(c).await, ("Home".into(), "page".into()));
    at_both_widths(&chrome, javascript, "lists-home-provider").await;

    // User management: marked, numbered, sorted by its headings.
    click_link(c, "User management").await;
    arrive(c, "/users").await;
    assert_eq!(
        current_section(c).await,
        ("User management".into(), "page".into())
    );
    let pages = c
        .find(Locator::Css("nav.govuk-pagination"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        pages.contains('1') && pages.contains('2') && pages.contains("Next"),
        "{pages}"
    );
    at_both_widths(&chrome, javascript, "lists-users").await;
    tables_fit_at_1200(c, "User management").await;
    edit_is_on_the_screen_at_500(c, "main table", &format!("lists-users-{javascript}")).await;

    click_link(c, "Status").await;
    arrive(c, "/users").await;
    let sorted = run(
        c,
        "return [location.search, Array.from(document.querySelectorAll('th[aria-sort]')).map(th => th.textContent.trim() + ':' + th.getAttribute('aria-sort'))];",
    )
    .await;
    assert_eq!(sorted[0], "?sort=status&order=ascending", "{sorted}");
    assert_eq!(
        sorted[1],
        serde_json::json!(["User:none", "Last logged in:none", "Status:ascending"])
    );
    // Page 2 keeps the sort.
    click(c, "nav.govuk-pagination a[aria-label='Page 2']").await;
    arrive(c, "/users").await;
    let here = c.current_url().await.unwrap();
    assert_eq!(here.query(), Some("sort=status&order=ascending&page=2"));
    let current = c
        .find(Locator::Css(".govuk-pagination__item--current a"))
        .await
        .unwrap();
    assert_eq!(
        current.attr("aria-current").await.unwrap().as_deref(),
        Some("page")
    );
    at_both_widths(&chrome, javascript, "lists-users-sorted-page-2").await;
    shot_of(
        c,
        "main table",
        &format!("lists-users-sorted-page-2-table-{javascript}"),
    )
    .await;
    // Sorting the other way round.
    click_link(c, "Status").await;
    arrive(c, "/users").await;
    assert_eq!(
        c.current_url().await.unwrap().query(),
        Some("sort=status&order=descending")
    );
    // On Edit user (inside the section), User management is still marked.
    c.goto(&app.url(&format!("/users/{}", app.user_record(&pa).await.id)))
        .await
        .unwrap();
    arrive(c, &format!("/users/{}", app.user_record(&pa).await.id)).await;
    assert_eq!(
        current_section(c).await,
        ("User management".into(), "true".into())
    );
    sign_out(c).await;

    // A regulator administrator, with every section: still one row.
    signs_in(&chrome, &app, javascript, regulator).await;
    navigation_is_one_row(c, "regulator administrator").await;
    at_both_widths(&chrome, javascript, "lists-home-regulator").await;
    click_link(c, "Activity").await;
    arrive(c, "/activity").await;
    assert_eq!(current_section(c).await, ("Activity".into(), "page".into()));
    at_both_widths(&chrome, javascript, "lists-activity").await;
    shot_of(
        c,
        "main table",
        &format!("lists-activity-table-{javascript}"),
    )
    .await;
    tables_fit_at_1200(c, "Activity").await;

    // The organisation page: its users searched and paged.
    c.goto(&app.url("/organisations")).await.unwrap();
    arrive(c, "/organisations").await;
    click_link(c, "Provider 10000211").await;
    let page = format!("/organisations/{org}");
    arrive(c, &page).await;
    assert_eq!(
        current_section(c).await,
        ("Organisations".into(), "true".into())
    );
    at_both_widths(&chrome, javascript, "lists-organisation").await;
    tables_fit_at_1200(c, "organisation").await;
    shot_of(
        c,
        "#users",
        &format!("lists-organisation-users-{javascript}"),
    )
    .await;
    edit_is_on_the_screen_at_500(c, "main table", &format!("lists-organisation-{javascript}"))
        .await;
    click(c, "nav.govuk-pagination a[aria-label='Page 2']").await;
    arrive(c, &page).await;
    let main = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(main.contains("Showing 26 to 31 of 31 users"), "{main}");
    fill(c, "#q", "alexandria.montgomery-wellington.1").await;
    c.find(Locator::XPath("//main//form[@method='get']//button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(c, &page).await;
    let main = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(main.contains("Showing 1 to 10 of 10 users"), "{main}");
    assert!(c.find(Locator::Css("nav.govuk-pagination")).await.is_err());
    at_both_widths(&chrome, javascript, "lists-organisation-searched").await;
    chrome.client.clone().close().await.unwrap();
}
