//! The data-returns pages without a browser (issue 5): uploaded names shown
//! escaped, the form token that must open every upload, uploads to a closed
//! window explained, refused submits and outcomes shown beside their fields,
//! and the feedback page, sent, audited and read.

use domain::audit::Outcome;
use serde_json::json;
use testkit::{Browser, TestApp};
use time::format_description::well_known::Rfc3339;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    uploaded_file_names_are_shown_escaped_on_the_window_page,
    an_upload_without_the_form_token_first_is_refused_and_stores_nothing,
    an_upload_to_a_closed_or_upcoming_window_is_explained_on_the_page,
    the_feedback_page_sends_audits_and_shows_feedback_to_the_regulator,
    refused_submits_and_outcomes_are_shown_beside_their_fields,
    a_refused_publish_lists_its_errors_in_the_forms_order,
);

const CSV: &[u8] = b"ukprn,students\n10000901,1234\n";

/// A HESES window from `opens` to `closes` hours from now, opened through the
/// API by a regulator administrator; its id.
async fn window(app: &TestApp, opens: i64, closes: i64) -> String {
    let email = "rita@ofs.example.org";
    if app.store().user_by_email(email).await.unwrap().is_none() {
        app.regulator_user(email, &["regulator-admin"]).await;
    }
    let admin = app.api_sign_in(email).await;
    let at = |h: i64| {
        app.clock
            .now_plus(time::Duration::hours(h))
            .format(&Rfc3339)
            .unwrap()
    };
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(&admin),
            Some(
                json!({"area": "heses", "name": "HESES 2026-27", "opens_at": at(opens),
                        "closes_at": at(closes), "file_types": ["csv"]}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// A HESES contributor of provider A, signed in through the pages.
async fn contributor(app: &TestApp) -> Browser {
    let email = app
        .user(
            "10000901",
            "hana@a.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    page_sign_in(app, &email).await
}

/// Posts the window page's upload form as the browser would, with these
/// fields before the file (`csrf_token` first on the real page).
async fn upload(
    app: &TestApp,
    b: &Browser,
    window: &str,
    before: &[(&str, String)],
    name: &str,
    bytes: &[u8],
) -> (u16, String) {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in before {
        form = form.text(k.to_string(), v.clone());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
    );
    let cookies = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let r = app
        .client()
        .post(app.url(&format!("/collections/{window}/upload")))
        .header("cookie", cookies)
        .header("sec-fetch-site", "same-origin")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, location.unwrap_or(r.text().await.unwrap()))
}

fn stored_objects(app: &TestApp) -> usize {
    std::fs::read_dir(app.files.path().join("objects"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// An upload through the page that must be refused with `status`: nothing
/// changes but the audit log, whose new rows are refusals; the answer's page.
async fn refused_upload(
    app: &TestApp,
    b: &Browser,
    window: &str,
    before: &[(&str, String)],
    status: u16,
) -> String {
    let snapshot = app.snapshot().await;
    let objects = stored_objects(app);
    let seq = app.last_audit_seq().await;
    let (got, page) = upload(app, b, window, before, "heses.csv", CSV).await;
    assert_eq!(got, status, "{page}");
    assert_eq!(
        app.snapshot().await,
        snapshot,
        "a refused upload changed something"
    );
    assert_eq!(stored_objects(app), objects, "a refused file was kept");
    let rows = app.audit_since(seq).await;
    assert!(!rows.is_empty(), "the refusal was not audited");
    assert!(rows.iter().all(|r| r.entry.outcome == Outcome::Refused));
    page
}

/// Every `href="#…"` of the page leads to an element with that id.
fn links_lead_somewhere(html: &str) {
    for part in html.split("href=\"#").skip(1) {
        let id = &part[..part.find('"').unwrap()];
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "a link to #{id}, which is not on the page"
        );
    }
}

async fn uploaded_file_names_are_shown_escaped_on_the_window_page(app: TestApp) {
    let id = window(&app, -1, 24).await;
    let mut b = contributor(&app).await;
    for name in ["<script>alert(1)</script>.csv", "../../x.csv"] {
        b.get(&format!("/collections/{id}")).await;
        let token = b.csrf();
        let (status, location) = upload(&app, &b, &id, &[("csrf_token", token)], name, CSV).await;
        assert_eq!(status, 303, "{location}");
        assert_eq!(location, format!("/collections/{id}?uploaded=1"));
    }
    let page = b.get(&format!("/collections/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("<script>alert"),
        "the name is not markup"
    );
    assert!(
        page.body
            .contains(">&#60;script&#62;alert(1)&#60;_script&#62;.csv</a>"),
        "the name is shown, escaped"
    );
    assert!(page.body.contains(".._.._x.csv"), "the path is not a path");
    assert!(!page.body.contains("../../x"));
    // The link's text is the name; its address is the server's.
    assert!(page.body.contains("href=\"/submissions/"));
    links_lead_somewhere(&page.body);
}

async fn an_upload_without_the_form_token_first_is_refused_and_stores_nothing(app: TestApp) {
    let id = window(&app, -1, 24).await;
    let mut b = contributor(&app).await;
    b.get(&format!("/collections/{id}")).await;
    let token = b.csrf();
    // No token at all.
    refused_upload(&app, &b, &id, &[], 403).await;
    // A wrong token.
    refused_upload(&app, &b, &id, &[("csrf_token", "0".repeat(64))], 403).await;
    // The right token, but not as the first field.
    let page = refused_upload(
        &app,
        &b,
        &id,
        &[("note", "first".into()), ("csrf_token", token.clone())],
        403,
    )
    .await;
    assert!(page.contains("This form has expired"), "{page}");
    // Another session's token.
    let other = app
        .user(
            "10000901",
            "harry@a.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let mut b2 = page_sign_in(&app, &other).await;
    b2.get(&format!("/collections/{id}")).await;
    refused_upload(&app, &b, &id, &[("csrf_token", b2.csrf())], 403).await;
    // The right token first is accepted.
    let (status, _) = upload(&app, &b, &id, &[("csrf_token", token)], "heses.csv", CSV).await;
    assert_eq!(status, 303);
    assert_eq!(stored_objects(&app), 1);
}

async fn an_upload_to_a_closed_or_upcoming_window_is_explained_on_the_page(app: TestApp) {
    let closed = window(&app, -2, 1).await;
    let upcoming = window(&app, 24, 48).await;
    let admin = app.api_sign_in("rita@ofs.example.org").await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/collections/{closed}/close"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let mut b = contributor(&app).await;
    for (id, says) in [
        (&closed, "is closed: it closed on"),
        (&upcoming, "is not open yet: it opens on"),
    ] {
        let shown = b.get(&format!("/collections/{id}")).await;
        assert_eq!(shown.status, 200);
        assert!(!shown.body.contains("id=\"file\""), "no upload form");
        // A form kept from when the window was open, sent now.
        let token = b.csrf();
        let page = refused_upload(&app, &b, id, &[("csrf_token", token)], 409).await;
        assert!(page.contains("govuk-error-summary"), "{page}");
        assert!(page.contains(&format!("HESES 2026-27 {says}")), "{page}");
        links_lead_somewhere(&page);
    }
}

async fn the_feedback_page_sends_audits_and_shows_feedback_to_the_regulator(app: TestApp) {
    let mut b = contributor(&app).await;
    let home = b.get("/home").await;
    assert!(
        home.body.contains("href=\"/feedback\""),
        "linked in the footer"
    );
    let page = b.get("/feedback").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Give feedback on Provider Portal"));
    assert!(!page.body.contains("Feedback received"));
    // Nothing typed: the error summary, leading to the box, and nothing stored.
    let before = app.snapshot().await;
    let r = b.submit("/feedback", &[("feedback", "   ")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("govuk-error-summary") && r.body.contains("href=\"#feedback\""));
    assert!(
        r.body.contains("<title>Error: "),
        "the title says there is an error"
    );
    links_lead_somewhere(&r.body);
    assert_eq!(
        app.snapshot().await,
        before,
        "empty feedback stored something"
    );
    // Real feedback: back to the page with thanks, and an audit row.
    let seq = app.last_audit_seq().await;
    let r = b
        .submit(
            "/feedback",
            &[("feedback", "Uploading was <easy> & quick.")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), Some("/feedback?sent=1"));
    let thanks = b.get("/feedback?sent=1").await;
    assert!(thanks.body.contains("Thank you for your feedback"));
    let hana = app.user_record("hana@a.example.ac.uk").await;
    let rows = app.audit_since(seq).await;
    assert!(
        rows.iter().any(|r| r.entry.action == "feedback.sent"
            && r.entry.outcome == Outcome::Success
            && r.entry.actor_id == Some(hana.id.0)),
        "{rows:?}"
    );
    // A regulator administrator reads it on their own Feedback page (issue
    // 15), escaped.
    app.regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let mut rita = page_sign_in(&app, "rita@ofs.example.org").await;
    let page = rita.get("/feedback/received").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("Uploading was &#60;easy&#62; &#38; quick.")
    );
}

/// The error summary's links, in order.
fn summary_links(html: &str) -> Vec<String> {
    let Some(start) = html.find("govuk-error-summary__list") else {
        return Vec::new();
    };
    let list = &html[start..start + html[start..].find("</ul>").unwrap()];
    list.split("href=\"")
        .skip(1)
        .map(|p| p[..p.find('"').unwrap()].to_owned())
        .collect()
}

/// A page form post that must be refused with `status`: nothing but the
/// audit log changes; the answer's page.
async fn refused_post(
    app: &TestApp,
    b: &mut Browser,
    path: &str,
    fields: &[(&str, &str)],
    status: u16,
) -> String {
    let before = app.snapshot().await;
    let r = b.submit(path, fields).await;
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(app.snapshot().await, before, "{path} changed something");
    links_lead_somewhere(&r.body);
    r.body
}

async fn refused_submits_and_outcomes_are_shown_beside_their_fields(app: TestApp) {
    let id = window(&app, -2, 1).await;
    let mut b = contributor(&app).await;
    // A draft uploaded through the page while the window is open.
    b.get(&format!("/collections/{id}")).await;
    let token = b.csrf();
    let (status, _) = upload(&app, &b, &id, &[("csrf_token", token)], "heses.csv", CSV).await;
    assert_eq!(status, 303);
    let page = b.get(&format!("/collections/{id}")).await;
    let marker = "action=\"/submissions/";
    let at = page.body.find(marker).unwrap() + marker.len();
    let draft = page.body[at..at + page.body[at..].find('/').unwrap()].to_owned();
    // The window closes before the draft is submitted: the page says why,
    // and its summary links to nothing the page no longer has.
    let admin = app.api_sign_in("rita@ofs.example.org").await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/collections/{id}/close"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let body = refused_post(
        &app,
        &mut b,
        &format!("/submissions/{draft}/submit"),
        &[("note", "Late")],
        409,
    )
    .await;
    assert!(
        body.contains("HESES 2026-27 is closed: it closed on"),
        "{body}"
    );
    assert_eq!(summary_links(&body), Vec::<String>::new());

    // A submitted version (through the API, in a second window) for the officer.
    let open = window(&app, -1, 24).await;
    let token = app.api_sign_in("hana@a.example.ac.uk").await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(CSV.to_vec()).file_name("heses.csv"),
    );
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/collections/{open}/submissions")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let submitted: serde_json::Value = r.json().await.unwrap();
    let sid = submitted["id"].as_str().unwrap().to_owned();
    app.regulator_user("oscar@ofs.example.org", &["regulator-officer:heses"])
        .await;
    let mut officer = page_sign_in(&app, "oscar@ofs.example.org").await;
    officer.get(&format!("/collections/{open}")).await;
    let path = format!("/submissions/{sid}/status");
    // No outcome chosen: the summary leads to the first radio.
    let body = refused_post(&app, &mut officer, &path, &[("comment", "")], 400).await;
    assert_eq!(summary_links(&body), [format!("#status-{sid}-accepted")]);
    assert!(body.contains(&format!("id=\"status-{sid}-error\"")));
    // Returned without saying why: the message is beside the comment.
    let body = refused_post(
        &app,
        &mut officer,
        &path,
        &[("status", "returned"), ("comment", " ")],
        400,
    )
    .await;
    assert_eq!(summary_links(&body), [format!("#comment-{sid}")]);
    assert!(body.contains(&format!("id=\"comment-{sid}-error\"")));
    assert!(body.contains("Say what needs to change"));
}

async fn a_refused_publish_lists_its_errors_in_the_forms_order(app: TestApp) {
    app.regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let admin = app.api_sign_in("rita@ofs.example.org").await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/areas",
            Some(&admin),
            Some(
                json!({"slug": "consultations", "name": "Consultations", "kind": "communication"}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    app.user("10000901", "pa@a.example.ac.uk", &["portal-admin"])
        .await;
    let officer = app
        .regulator_user(
            "comms@ofs.example.org",
            &["regulator-officer:consultations"],
        )
        .await;
    let mut b = page_sign_in(&app, &officer).await;
    let form = b.get("/documents/publish/consultations").await;
    assert_eq!(form.status, 200);
    // No title and no provider chosen.
    let multipart = reqwest::multipart::Form::new()
        .text("csrf_token", b.csrf())
        .text("title", "")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"%PDF-1.4\nletter\n%%EOF\n".to_vec())
                .file_name("letter.pdf"),
        );
    let before = app.snapshot().await;
    let r = app
        .client()
        .post(app.url("/documents/publish/consultations"))
        .header(
            "cookie",
            b.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .header("sec-fetch-site", "same-origin")
        .multipart(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused publish changed something"
    );
    let links = summary_links(&body);
    assert_eq!(links.len(), 2, "{links:?}");
    assert_eq!(links[0], "#title");
    assert!(links[1].starts_with("#recipients-"), "{links:?}");
    links_lead_somewhere(&body);
}
