//! The regulator's window pages: open, change and close a collection window
//! without JavaScript; providers cannot reach them.

use testkit::TestApp;

use crate::attacks::page_sign_in;

testkit::both_backends!(a_regulator_administrator_opens_changes_and_closes_a_window);

async fn a_regulator_administrator_opens_changes_and_closes_a_window(app: TestApp) {
    let admin = app
        .regulator_user("windows@ofs.example.org", &["regulator-admin"])
        .await;
    let contributor = app
        .user(
            "10000801",
            "hana@w.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let mut b = page_sign_in(&app, &admin).await;
    let new = b.get("/collections/new").await;
    assert_eq!(new.status, 200);
    assert!(new.body.contains("Open a collection window"));
    // A date that is not one is explained, and nothing is stored.
    let before = app.snapshot().await;
    let fields = |day: &'static str| {
        vec![
            ("area", "heses"),
            ("name", "HESES 2026-27"),
            ("opens_at-day", day),
            ("opens_at-month", "9"),
            ("opens_at-year", "2026"),
            ("closes_at-day", "30"),
            ("closes_at-month", "9"),
            ("closes_at-year", "2026"),
            ("guidance", "Send the workbook."),
            ("file_types", "csv"),
            ("file_types", "xlsx"),
        ]
    };
    let r = b.submit("/collections/new", &fields("31")).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("govuk-error-summary") && r.body.contains("Enter a real date"));
    assert_eq!(app.snapshot().await, before);
    // Every error in one pass (issue 15, item 5): a bad date, no name, no area.
    let mut all_wrong = fields("31");
    all_wrong.retain(|(k, _)| *k != "area");
    all_wrong[0] = ("name", "");
    let r = b.submit("/collections/new", &all_wrong).await;
    assert_eq!(r.status, 400);
    let summary = &r.body[r.body.find("govuk-error-summary").unwrap()..];
    let summary = &summary[..summary.find("</ul>").unwrap()];
    for (href, words) in [
        ("#area", ""),
        ("#name", ""),
        ("#opens_at", "Enter a real date"),
    ] {
        assert!(summary.contains(href), "{href} in {summary}");
        assert!(summary.contains(words), "{words} in {summary}");
    }
    let at = |h: &str| summary.find(h).unwrap();
    assert!(
        at("#area") < at("#name") && at("#name") < at("#opens_at"),
        "{summary}"
    );
    assert_eq!(app.snapshot().await, before);
    let r = b.submit("/collections/new", &fields("1")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let at = r.location().unwrap().split('?').next().unwrap().to_owned();
    let id = at.trim_start_matches("/collections/").to_owned();
    let page = b.get(&at).await;
    assert!(
        page.body.contains("Change this window") && page.body.contains("Close this window now")
    );
    // The regulator is not told about "your organisation's" uploads.
    assert!(!page.body.contains("Your organisation"), "{}", page.body);
    assert!(
        page.body.contains("Open"),
        "the window is open on 1 September"
    );
    // Change it: the form comes filled in.
    let edit = b.get(&format!("/collections/{id}/edit")).await;
    assert!(
        edit.body.contains("value=\"HESES 2026-27\""),
        "{}",
        edit.body
    );
    let mut changed = fields("1");
    changed[1] = ("name", "HESES 2026-27 (second window)");
    let r = b.submit(&format!("/collections/{id}/edit"), &changed).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = b.get(&format!("/collections/{id}?changed=1")).await;
    assert!(page.body.contains("HESES 2026-27 (second window)"));
    // A provider's contributor cannot change it.
    let mut c = page_sign_in(&app, &contributor).await;
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let r = c.get(&format!("/collections/{id}/edit")).await;
    assert_eq!(r.status, 403);
    let page = c.get(&format!("/collections/{id}")).await;
    assert!(!page.body.contains("Close this window now"));
    assert!(
        page.body
            .contains("Your organisation has not uploaded anything")
    );
    let r = c.submit(&format!("/collections/{id}/close"), &[]).await;
    assert_eq!(r.status, 403);
    assert_eq!(app.snapshot().await, before);
    assert!(
        app.audit_since(seq)
            .await
            .iter()
            .any(|r| r.entry.action == "windows.close")
    );
    // Close it now: uploads stop at once.
    b.get(&format!("/collections/{id}")).await;
    let r = b.submit(&format!("/collections/{id}/close"), &[]).await;
    assert_eq!(r.status, 303);
    let page = b.get(&format!("/collections/{id}?closed=1")).await;
    assert!(page.body.contains("Closed") && !page.body.contains("Close this window now"));
    let page = c.get(&format!("/collections/{id}")).await;
    assert!(
        !page.body.contains("Upload a file"),
        "no upload form once closed"
    );
}
