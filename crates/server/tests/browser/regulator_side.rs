//! Issue 15, item 8 in a real browser, with JavaScript on and off: a regulator
//! administrator resends an invitation from a provider's page, changes the
//! provider's accountable officer (the error summary first, in the order of
//! the fields), and reads the feedback a provider sent on the regulator's own
//! Feedback page, which the provider's form no longer shows. Every page and
//! state here passes axe at 1200 and 500 px.

use fantoccini::Locator;
use testkit::{Backend, Chrome, TestApp};

use crate::{
    arrive, at_both_widths, click, click_link, fill, page_has, press, press_for, sign_out,
    signs_in, summary_leads_to,
};

testkit::both_backends!(
    ;
    raw:
    the_regulator_supports_a_provider_and_reads_feedback_with_javascript,
    the_regulator_supports_a_provider_and_reads_feedback_without_javascript,
);

async fn the_regulator_supports_a_provider_and_reads_feedback_with_javascript(backend: Backend) {
    regulator_side(backend, true).await;
}

async fn the_regulator_supports_a_provider_and_reads_feedback_without_javascript(backend: Backend) {
    regulator_side(backend, false).await;
}

/// The text of the page's `<main>`.
async fn main_text(c: &fantoccini::Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn regulator_side(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let c = &chrome.client;
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let meta = app::RequestMeta::operator("test");
    let org = app
        .portal
        .app
        .create_organisation(
            &app::admin::OrganisationInput {
                name: "University of Wessex".into(),
                kind: "provider".into(),
                ukprn: Some("10000221".into()),
                accountable_officer_name: Some("Professor Vee Chancellor".into()),
                accountable_officer_email: Some("vc@wessex.example.ac.uk".into()),
            },
            &meta,
        )
        .await
        .unwrap();
    let pa = app
        .user("10000221", "pa@wessex.example.ac.uk", &["portal-admin"])
        .await;
    let newbie = app
        .user(
            "10000221",
            "new.contributor.with.a.long.address@wessex.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let new_id = app.user_record(&newbie).await.id.to_string();

    // The provider's administrator sends feedback: the form shows only itself.
    signs_in(&chrome, &app, javascript, pa).await;
    c.goto(&app.url("/feedback")).await.unwrap();
    arrive(c, "/feedback").await;
    fill(
        c,
        "#feedback",
        "Uploading the HESES workbook took three tries.",
    )
    .await;
    press(c, "Send feedback").await;
    arrive(c, "/feedback").await;
    assert!(page_has(c, "Thank you for your feedback").await);
    assert!(!page_has(c, "/feedback/received").await);
    sign_out(c).await;

    signs_in(&chrome, &app, javascript, admin).await;
    // The organisation page: Change links, and Resend for the one who never signed in.
    let page = format!("/organisations/{org}");
    c.goto(&app.url(&page)).await.unwrap();
    arrive(c, &page).await;
    at_both_widths(&chrome, javascript, "regulator-organisation").await;
    // Its users, with the resend button, in view.
    c.goto(&app.url(&format!("{page}#member-{new_id}")))
        .await
        .unwrap();
    arrive(c, &page).await;
    at_both_widths(&chrome, javascript, "regulator-organisation-users").await;
    press_for(c, "user_id", &new_id).await;
    arrive(c, &page).await;
    assert!(
        main_text(c)
            .await
            .contains("We have sent Test Person their invitation again."),
        "{}",
        main_text(c).await
    );
    at_both_widths(&chrome, javascript, "regulator-organisation-resent").await;

    // Change the accountable officer: every problem at once, in field order.
    click(
        c,
        &format!("a[href='{page}/edit#accountable_officer_email']"),
    )
    .await;
    let edit = format!("{page}/edit");
    arrive(c, &edit).await;
    at_both_widths(&chrome, javascript, "regulator-edit-provider").await;
    fill(c, "#name", " ").await;
    fill(c, "#ukprn", "123").await;
    fill(c, "#accountable_officer_name", " ").await;
    fill(c, "#accountable_officer_email", "not an address").await;
    press(c, "Save changes").await;
    arrive(c, &edit).await;
    summary_leads_to(
        c,
        &[
            "#name",
            "#ukprn",
            "#accountable_officer_name",
            "#accountable_officer_email",
        ],
    )
    .await;
    at_both_widths(&chrome, javascript, "regulator-edit-provider-errors").await;
    fill(c, "#name", "University of Wessex").await;
    fill(c, "#ukprn", "10000221").await;
    fill(c, "#accountable_officer_name", "Dr Nia Newhead").await;
    fill(c, "#accountable_officer_email", "nia@wessex.example.ac.uk").await;
    press(c, "Save changes").await;
    arrive(c, &page).await;
    let shown = main_text(c).await;
    assert!(
        shown.contains("University of Wessex’s details have been changed.")
            && shown.contains("Dr Nia Newhead"),
        "{shown}"
    );
    at_both_widths(&chrome, javascript, "regulator-organisation-changed").await;
    app.deliver_mail().await;
    assert_eq!(app.mailer.sent_to("vc@wessex.example.ac.uk").len(), 1);
    assert_eq!(app.mailer.sent_to("nia@wessex.example.ac.uk").len(), 1);

    // The regulator's Feedback page, from the service navigation.
    click_link(c, "Feedback").await;
    arrive(c, "/feedback/received").await;
    let shown = main_text(c).await;
    for part in [
        "Test Person",
        "pa@wessex.example.ac.uk",
        "University of Wessex",
        "1 September 2026 at 10am",
        "Uploading the HESES workbook took three tries.",
    ] {
        assert!(shown.contains(part), "{part}: {shown}");
    }
    at_both_widths(&chrome, javascript, "regulator-feedback").await;
    // At 1200 px the navigation, Feedback included, stays on one row.
    let tops = c
        .execute(
            "return Array.from(document.querySelectorAll('.govuk-service-navigation__item')).map(i => i.offsetTop);",
            vec![],
        )
        .await
        .unwrap();
    let tops: Vec<i64> = tops
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap() as i64)
        .collect();
    assert!(tops.windows(2).all(|w| w[0] == w[1]), "{tops:?}");
    chrome.client.clone().close().await.unwrap();
}
