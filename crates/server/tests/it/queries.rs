//! Queries on a submission (issue 16): an officer raises one, the provider's
//! people answer, the officer closes it, each step emailed through the
//! outbox; and nobody outside the return ever learns a query exists.

use domain::audit::Outcome;
use serde_json::{Value, json};
use testkit::{Browser, TestApp};
use time::format_description::well_known::Rfc3339;

use crate::attacks::page_sign_in;

/// Signed in through the pages, on a page whose form token is the session's.
async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let mut b = page_sign_in(app, email).await;
    assert_eq!(b.get("/home").await.status, 200);
    b
}

testkit::both_backends!(
    an_officer_raises_the_provider_answers_and_the_officer_closes,
    another_provider_never_learns_a_query_exists,
    people_outside_the_return_are_refused_and_nothing_changes,
    a_draft_cannot_be_queried,
    bad_input_is_refused_clearly_and_kept_on_the_page,
    the_pages_raise_answer_close_and_list_queries,
);

const CSV: &[u8] = b"ukprn,students\n10000801,1234\n";

const C1: &str = "hana@a.example.ac.uk";
const PA: &str = "paul@a.example.ac.uk";
const PREVENT: &str = "priya@a.example.ac.uk";
const OFFICER: &str = "oscar@ofs.example.org";
const OTHER_OFFICER: &str = "olive@ofs.example.org";
const B_PA: &str = "bea@b.example.ac.uk";
const B_C: &str = "bob@b.example.ac.uk";

struct World {
    officer: String,
    other_officer: String,
    c1: String,
    pa: String,
    prevent: String,
    b_pa: String,
    b_c: String,
    /// Provider A's submitted version of the HESES return.
    submission: String,
}

async fn world(app: &TestApp) -> World {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    app.regulator_user(OFFICER, &["regulator-officer:heses"])
        .await;
    app.regulator_user(OTHER_OFFICER, &["regulator-officer:prevent"])
        .await;
    app.user("10000801", C1, &["data-collection-contributor:heses"])
        .await;
    app.user("10000801", PA, &["portal-admin"]).await;
    app.user(
        "10000801",
        PREVENT,
        &["data-collection-contributor:prevent"],
    )
    .await;
    app.user("10000802", B_PA, &["portal-admin"]).await;
    app.user("10000802", B_C, &["data-collection-contributor:heses"])
        .await;
    let admin = app.api_sign_in(&admin).await;
    let window = window(app, &admin).await;
    let c1 = app.api_sign_in(C1).await;
    let submission = upload(app, &c1, &window, false).await;
    // Provider B has a return of its own to the same window.
    let b_c = app.api_sign_in(B_C).await;
    upload(app, &b_c, &window, false).await;
    let w = World {
        officer: app.api_sign_in(OFFICER).await,
        other_officer: app.api_sign_in(OTHER_OFFICER).await,
        c1,
        pa: app.api_sign_in(PA).await,
        prevent: app.api_sign_in(PREVENT).await,
        b_pa: app.api_sign_in(B_PA).await,
        b_c,
        submission,
    };
    // Receipts, notices and sign-in codes so far are not what is tested.
    app.deliver_mail().await;
    clear_mail(app);
    w
}

/// An open HESES window; its id.
async fn window(app: &TestApp, admin: &str) -> String {
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
            Some(admin),
            Some(
                json!({"area": "heses", "name": "HESES 2026-27", "opens_at": at(-1),
                        "closes_at": at(24 * 7), "file_types": ["csv"]}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Uploads the CSV (submitted, or kept as a draft); the version's id.
async fn upload(app: &TestApp, token: &str, window: &str, draft: bool) -> String {
    let form = reqwest::multipart::Form::new()
        .text("draft", if draft { "true" } else { "false" })
        .part(
            "file",
            reqwest::multipart::Part::bytes(CSV.to_vec()).file_name("heses.csv"),
        );
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/collections/{window}/submissions")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn raise(app: &TestApp, w: &World, subject: &str, message: &str) -> Value {
    let (status, q) = app
        .call(
            "POST",
            &format!("/api/v1/submissions/{}/queries", w.submission),
            Some(&w.officer),
            Some(json!({"subject": subject, "message": message})),
        )
        .await;
    assert_eq!(status, 201, "{q}");
    q
}

/// The mail delivered to `to` since the last look, whose subject has `what`.
fn mail_about(app: &TestApp, to: &str, what: &str) -> Vec<String> {
    app.mailer
        .sent_to(to)
        .into_iter()
        .filter(|m| m.subject.contains(what))
        .map(|m| format!("{}\n{}", m.subject, m.body))
        .collect()
}

fn clear_mail(app: &TestApp) {
    app.mailer.sent.lock().unwrap().clear();
}

/// The successful audit rows since `seq` with this action.
async fn audited(app: &TestApp, seq: i64, action: &str) -> usize {
    app.audit_since(seq)
        .await
        .iter()
        .filter(|r| r.entry.action == action && r.entry.outcome == Outcome::Success)
        .count()
}

async fn an_officer_raises_the_provider_answers_and_the_officer_closes(app: TestApp) {
    let w = world(&app).await;
    let seq = app.last_audit_seq().await;
    let q = raise(
        &app,
        &w,
        "Student numbers in row 2",
        "Please explain the 1234.",
    )
    .await;
    assert_eq!(q["status"], "open");
    assert_eq!(q["subject"], "Student numbers in row 2");
    assert_eq!(q["messages"][0]["body"], "Please explain the 1234.");
    assert_eq!(q["messages"][0]["from_regulator"], true);
    assert_eq!(q["may_close"], true);
    assert_eq!(audited(&app, seq, "queries.raise").await, 1);
    let id = q["id"].as_str().unwrap().to_owned();
    // The contributor for the return is emailed, with the text (HESES is
    // not a sensitive area); the administrator is not, as there is a
    // contributor; nobody at provider B, nor the Prevent contributor.
    app.deliver_mail().await;
    let raised = mail_about(&app, C1, "Query raised");
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(
        raised[0].contains("Please explain the 1234."),
        "{}",
        raised[0]
    );
    assert!(raised[0].contains(&format!("/submissions/{}#query-{id}", w.submission)));
    for nobody in [PA, PREVENT, B_PA, B_C, OFFICER] {
        assert!(
            app.mailer.sent_to(nobody).is_empty(),
            "{nobody} was emailed"
        );
    }
    clear_mail(&app);

    // Both sides see it in their lists of open queries.
    for token in [&w.c1, &w.pa, &w.officer] {
        let (status, list) = app
            .call("GET", "/api/v1/queries?open=true", Some(token), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list[0]["id"], id.as_str());
    }
    let (_, on_submission) = app
        .call(
            "GET",
            &format!("/api/v1/submissions/{}/queries", w.submission),
            Some(&w.c1),
            None,
        )
        .await;
    assert_eq!(on_submission[0]["id"], id.as_str());
    assert_eq!(on_submission[0]["may_answer"], true);
    assert_eq!(on_submission[0]["may_close"], false);

    // The contributor answers: the area's officers are emailed (the one
    // who raised it among them), the other officer is not.
    let seq = app.last_audit_seq().await;
    let (status, q) = app
        .call(
            "POST",
            &format!("/api/v1/queries/{id}/messages"),
            Some(&w.c1),
            Some(json!({"message": "It includes the franchised students.\r\nSee note."})),
        )
        .await;
    assert_eq!(status, 201, "{q}");
    assert_eq!(q["messages"].as_array().unwrap().len(), 2);
    assert_eq!(
        q["messages"][1]["body"],
        "It includes the franchised students.\nSee note."
    );
    assert_eq!(q["messages"][1]["from_regulator"], false);
    assert_eq!(audited(&app, seq, "queries.answer").await, 1);
    app.deliver_mail().await;
    let answered = mail_about(&app, OFFICER, "New message on a query");
    assert_eq!(answered.len(), 1);
    assert!(answered[0].contains("franchised students"));
    assert!(app.mailer.sent_to(OTHER_OFFICER).is_empty());
    assert!(app.mailer.sent_to(C1).is_empty(), "the writer was emailed");
    clear_mail(&app);

    // The administrator may answer too (they see every return).
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/queries/{id}/messages"),
            Some(&w.pa),
            Some(json!({"message": "I confirm."})),
        )
        .await;
    assert_eq!(status, 201);
    app.deliver_mail().await;
    clear_mail(&app);

    // The officer answers: the contributor, and the administrator who has
    // written in the thread, are emailed.
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/queries/{id}/messages"),
            Some(&w.officer),
            Some(json!({"message": "Thank you."})),
        )
        .await;
    assert_eq!(status, 201);
    app.deliver_mail().await;
    assert_eq!(mail_about(&app, C1, "New message").len(), 1);
    assert_eq!(mail_about(&app, PA, "New message").len(), 1);
    assert!(app.mailer.sent_to(PREVENT).is_empty());
    assert!(app.mailer.sent_to(OFFICER).is_empty());
    clear_mail(&app);

    // The officer closes it; the provider is told.
    let seq = app.last_audit_seq().await;
    let (status, q) = app
        .call(
            "POST",
            &format!("/api/v1/queries/{id}/close"),
            Some(&w.officer),
            None,
        )
        .await;
    assert_eq!(status, 200, "{q}");
    assert_eq!(q["status"], "closed");
    assert!(q["closed_at"].is_string());
    assert_eq!(q["may_answer"], false);
    assert_eq!(audited(&app, seq, "queries.close").await, 1);
    app.deliver_mail().await;
    assert_eq!(mail_about(&app, C1, "Query closed").len(), 1);
    clear_mail(&app);

    // A closed query takes no more messages and is not closed twice (409,
    // nothing changed, the refusal audited).
    let answer = app
        .refused(
            "POST",
            &format!("/api/v1/queries/{id}/messages"),
            Some(&w.c1),
            Some(json!({"message": "One more thing"})),
            409,
        )
        .await;
    assert!(
        answer["message"].as_str().unwrap().contains("closed"),
        "{answer}"
    );
    app.refused(
        "POST",
        &format!("/api/v1/queries/{id}/messages"),
        Some(&w.officer),
        Some(json!({"message": "One more thing"})),
        409,
    )
    .await;
    app.refused(
        "POST",
        &format!("/api/v1/queries/{id}/close"),
        Some(&w.officer),
        None,
        409,
    )
    .await;
    // No longer open: gone from the lists of open queries, still listed in all.
    for token in [&w.c1, &w.officer] {
        let (_, open) = app
            .call("GET", "/api/v1/queries?open=true", Some(token), None)
            .await;
        assert_eq!(open, json!([]));
        let (_, all) = app.call("GET", "/api/v1/queries", Some(token), None).await;
        assert_eq!(all[0]["id"], id.as_str());
    }
}

/// Every query URL of the API, for query `id` on submission `s`.
fn query_calls(s: &str, id: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("GET", format!("/api/v1/submissions/{s}/queries"), None),
        (
            "POST",
            format!("/api/v1/submissions/{s}/queries"),
            Some(json!({"subject": "Mine", "message": "Hello"})),
        ),
        (
            "POST",
            format!("/api/v1/queries/{id}/messages"),
            Some(json!({"message": "Hello"})),
        ),
        ("POST", format!("/api/v1/queries/{id}/close"), None),
    ]
}

async fn another_provider_never_learns_a_query_exists(app: TestApp) {
    let w = world(&app).await;
    let q = raise(&app, &w, "Row 2", "Please explain.").await;
    let id = q["id"].as_str().unwrap().to_owned();
    app.deliver_mail().await;
    clear_mail(&app);
    let missing = uuid::Uuid::new_v4().to_string();
    // Provider B's administrator and contributor, and provider A's Prevent
    // contributor (who holds no role for HESES): 404 on every URL, exactly
    // as for a query that does not exist.
    for token in [&w.b_pa, &w.b_c, &w.prevent] {
        for (method, path, body) in query_calls(&w.submission, &id) {
            let foreign = app
                .refused(method, &path, Some(token), body.clone(), 404)
                .await;
            let (_, absent) = app
                .call(
                    method,
                    &path.replace(&id, &missing).replace(&w.submission, &missing),
                    Some(token),
                    body,
                )
                .await;
            assert_eq!(foreign, absent, "{method} {path} told them something");
        }
        for list in ["/api/v1/queries?open=true", "/api/v1/queries"] {
            let (status, got) = app.call("GET", list, Some(token), None).await;
            assert_eq!(status, 200);
            assert_eq!(got, json!([]), "{list} showed another's query");
        }
    }
    // Nor through the pages: the forms answer 404, the list shows nothing.
    for email in [B_PA, B_C, PREVENT] {
        let mut b = signed_in(&app, email).await;
        let page = b.get("/queries").await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("Row 2"));
        assert!(page.body.contains("There are no open queries"));
        for (path, fields) in [
            (format!("/queries/{id}/answer"), vec![("message", "Hello")]),
            (format!("/queries/{id}/close"), vec![]),
            (
                format!("/submissions/{}/queries", w.submission),
                vec![("subject", "Mine"), ("message", "Hello")],
            ),
        ] {
            page_refused(&app, &mut b, &path, &fields, 404).await;
        }
    }
    assert!(app.mailer.sent_to(OFFICER).is_empty());
}

/// A form post that must be refused with `status`: nothing changed, and
/// exactly one audit row, a refusal.
async fn page_refused(
    app: &TestApp,
    b: &mut Browser,
    path: &str,
    fields: &[(&str, &str)],
    status: u16,
) -> String {
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let r = b.submit(path, fields).await;
    assert_eq!(r.status, status, "{path}: {}", r.body);
    assert_eq!(app.snapshot().await, before, "{path} changed something");
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "{path}: {rows:?}");
    assert_eq!(rows[0].entry.outcome, Outcome::Refused);
    r.body
}

async fn people_outside_the_return_are_refused_and_nothing_changes(app: TestApp) {
    let w = world(&app).await;
    let q = raise(&app, &w, "Row 2", "Please explain.").await;
    let id = q["id"].as_str().unwrap().to_owned();
    app.deliver_mail().await;
    clear_mail(&app);
    // An officer of another area: refused everywhere, sees nothing listed.
    for (method, path, body) in query_calls(&w.submission, &id) {
        app.refused(method, &path, Some(&w.other_officer), body, 403)
            .await;
    }
    let (_, list) = app
        .call("GET", "/api/v1/queries", Some(&w.other_officer), None)
        .await;
    assert_eq!(list, json!([]));
    // The provider's own people may not raise or close a query (403: they
    // see the return).
    for token in [&w.c1, &w.pa] {
        app.refused(
            "POST",
            &format!("/api/v1/submissions/{}/queries", w.submission),
            Some(token),
            Some(json!({"subject": "Ours", "message": "Hello"})),
            403,
        )
        .await;
        app.refused(
            "POST",
            &format!("/api/v1/queries/{id}/close"),
            Some(token),
            None,
            403,
        )
        .await;
    }
    // Nobody was emailed by any of it.
    app.deliver_mail().await;
    assert_eq!(app.mailer.count(), 0);
}

async fn a_draft_cannot_be_queried(app: TestApp) {
    let w = world(&app).await;
    // Provider A starts a new version, kept as a draft.
    let (_, windows) = app
        .call("GET", "/api/v1/collections", Some(&w.c1), None)
        .await;
    let window = windows[0]["id"].as_str().unwrap().to_owned();
    let draft = upload(&app, &w.c1, &window, true).await;
    // The regulator never sees a provider's draft: it is not found.
    app.refused(
        "POST",
        &format!("/api/v1/submissions/{draft}/queries"),
        Some(&w.officer),
        Some(json!({"subject": "Early", "message": "Hello"})),
        404,
    )
    .await;
    app.refused(
        "GET",
        &format!("/api/v1/submissions/{draft}/queries"),
        Some(&w.officer),
        None,
        404,
    )
    .await;
    // The provider sees its draft, with no queries on it.
    let (status, list) = app
        .call(
            "GET",
            &format!("/api/v1/submissions/{draft}/queries"),
            Some(&w.c1),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list, json!([]));
}

async fn bad_input_is_refused_clearly_and_kept_on_the_page(app: TestApp) {
    let w = world(&app).await;
    let path = format!("/api/v1/submissions/{}/queries", w.submission);
    let long = "x".repeat(151);
    let big = "y".repeat(5001);
    for (subject, message, field, words) in [
        ("", "Hello", "subject", "Enter a subject"),
        (long.as_str(), "Hello", "subject", "150 characters or fewer"),
        ("Line\nbreak", "Hello", "subject", "one line"),
        ("Row 2", "  ", "message", "Enter a message"),
        (
            "Row 2",
            big.as_str(),
            "message",
            "5,000 characters or fewer",
        ),
        ("Row 2", "Tab\there", "message", "control characters"),
    ] {
        let answer = app
            .refused(
                "POST",
                &path,
                Some(&w.officer),
                Some(json!({"subject": subject, "message": message})),
                400,
            )
            .await;
        assert_eq!(answer["error"], "invalid");
        let said = answer["fields"][field].as_str().unwrap_or_default();
        assert!(said.contains(words), "{subject:?}/{message:?}: {answer}");
    }
    // The page shows the form again with the error summary and what was typed.
    let mut b = signed_in(&app, OFFICER).await;
    let page = page_refused(
        &app,
        &mut b,
        &format!("/submissions/{}/queries", w.submission),
        &[("subject", ""), ("message", "Please explain <row 2>")],
        400,
    )
    .await;
    assert!(page.contains("govuk-error-summary"));
    assert!(page.contains("href=\"#subject\""));
    assert!(page.contains("Enter a subject"));
    assert!(
        page.contains("Please explain &#60;row 2&#62;</textarea>"),
        "{page}"
    );
    assert!(page.contains("<title>Error: Raise a query"));
    // A reply too, under the thread it answers.
    let q = raise(&app, &w, "Row 2", "Please explain.").await;
    let id = q["id"].as_str().unwrap().to_owned();
    app.deliver_mail().await;
    let mut c = signed_in(&app, C1).await;
    let page = page_refused(
        &app,
        &mut c,
        &format!("/queries/{id}/answer"),
        &[("message", &"z".repeat(5001))],
        400,
    )
    .await;
    assert!(page.contains("The message must be 5,000 characters or fewer"));
    assert!(page.contains("Please explain."), "the thread is shown");
    assert!(page.contains(&"z".repeat(5001)), "what was typed is kept");
}

async fn the_pages_raise_answer_close_and_list_queries(app: TestApp) {
    let w = world(&app).await;
    let mut officer = signed_in(&app, OFFICER).await;
    let r = officer
        .submit(
            &format!("/submissions/{}/queries", w.submission),
            &[("subject", "Row 2 & more"), ("message", "Please explain.")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let location = r.location().unwrap().to_owned();
    let prefix = format!("/submissions/{}?query=raised#query-", w.submission);
    assert!(location.starts_with(&prefix), "{location}");
    let id = location[prefix.len()..].to_owned();
    app.deliver_mail().await;
    assert_eq!(mail_about(&app, C1, "Query raised").len(), 1);

    // The submission's page shows the thread, with the officer's controls.
    let shown = officer.get(&format!("/submissions/{}", w.submission)).await;
    assert_eq!(shown.status, 200);
    let section = &shown.body[shown.body.find("id=\"queries-heading\"").unwrap()..];
    assert!(section.contains(&format!("id=\"query-{id}\"")));
    assert!(section.contains("Row 2 &#38; more"));
    assert!(section.contains("Please explain."));
    assert!(section.contains(&format!("action=\"/queries/{id}/answer\"")));
    assert!(section.contains(&format!("action=\"/queries/{id}/close\"")));
    assert!(section.contains("Raise a query"));

    // The contributor's page: the thread and a reply form, no Close, no Raise.
    let mut c = signed_in(&app, C1).await;
    let shown = c.get(&format!("/submissions/{}", w.submission)).await;
    assert_eq!(shown.status, 200);
    let section = &shown.body[shown.body.find("id=\"queries-heading\"").unwrap()..];
    assert!(section.contains("Please explain."));
    assert!(section.contains(&format!("action=\"/queries/{id}/answer\"")));
    assert!(!section.contains("/close\""));
    assert!(!section.contains("Raise a query"));
    // Another provider's administrator: the page does not exist for them.
    let mut other = signed_in(&app, B_PA).await;
    let shown = other.get(&format!("/submissions/{}", w.submission)).await;
    assert_eq!(shown.status, 404);
    assert!(!shown.body.contains("Row 2"));

    // The Data returns page counts it for the contributor and the officer,
    // not for another provider's administrator.
    let count = "href=\"/queries\">Open queries on returns</a> (1)";
    assert!(c.get("/collections").await.body.contains(count));
    assert!(officer.get("/collections").await.body.contains(count));
    let theirs = other.get("/collections").await;
    assert!(
        theirs.body.contains("Open queries on returns</a>:"),
        "{}",
        theirs.body
    );

    // The contributor's list shows it, linked to its thread.
    let list = c.get("/queries").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Row 2 &#38; more"), "{}", list.body);
    assert!(list.body.contains(&format!(
        "href=\"/submissions/{}#query-{id}\"",
        w.submission
    )));
    let r = c
        .submit(&format!("/queries/{id}/answer"), &[("message", "Done.")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location(),
        Some(format!("/submissions/{}?query=answered#query-{id}", w.submission).as_str())
    );
    // A contributor has no Close: refused, as the API refuses it.
    page_refused(&app, &mut c, &format!("/queries/{id}/close"), &[], 403).await;
    let r = officer.submit(&format!("/queries/{id}/close"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location(),
        Some(format!("/submissions/{}?query=closed#query-{id}", w.submission).as_str())
    );
    let list = officer.get("/queries").await;
    assert!(list.body.contains("There are no open queries"));
    // Closed: the thread says so, with no reply form or Close left.
    let shown = c.get(&format!("/submissions/{}", w.submission)).await;
    let section = &shown.body[shown.body.find("id=\"queries-heading\"").unwrap()..];
    assert!(section.contains("Closed"));
    assert!(section.contains("No more messages can be written in it."));
    assert!(!section.contains(&format!("action=\"/queries/{id}/answer\"")));
    // A form without its token is refused before anything is read.
    let before = app.snapshot().await;
    let r = c
        .post_raw(
            &format!("/queries/{id}/answer"),
            &[("message", "No token")],
            &[("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.snapshot().await, before);
    app.deliver_mail().await;
}
