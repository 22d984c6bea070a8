//! A window's column rules and settings (issue 16): set on the form (rows of
//! rules, spare rows, "Add another column" without JavaScript) and through
//! the API, shown again for changing, every bad rule explained beside its
//! field, and only by the regulator's administrators.

use serde_json::{Value, json};
use testkit::TestApp;
use time::format_description::well_known::Rfc3339;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    rules_and_settings_round_trip_through_the_form,
    bad_rules_on_the_form_are_explained_in_the_forms_order_and_nothing_is_stored,
    rules_and_settings_round_trip_through_the_api,
    every_bad_rule_sent_to_the_api_is_a_field_error_and_nothing_is_stored,
    only_the_regulators_administrators_set_rules,
);

const ADMIN: &str = "rita@ofs.example.org";

async fn admin_token(app: &TestApp) -> String {
    if app.store().user_by_email(ADMIN).await.unwrap().is_none() {
        app.regulator_user(ADMIN, &["regulator-admin"]).await;
    }
    app.api_sign_in(ADMIN).await
}

/// The window form's fields for a HESES window in September, with `extra`.
fn form<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("area", "heses"),
        ("name", "HESES 2026-27"),
        ("opens_at-day", "1"),
        ("opens_at-month", "9"),
        ("opens_at-year", "2026"),
        ("closes_at-day", "30"),
        ("closes_at-month", "11"),
        ("closes_at-year", "2026"),
        ("guidance", ""),
        ("file_types", "csv"),
    ];
    f.extend_from_slice(extra);
    f
}

/// The window `id` as the API shows it to the administrator.
async fn window_json(app: &TestApp, token: &str, id: &str) -> Value {
    let (status, list) = app
        .call("GET", "/api/v1/collections", Some(token), None)
        .await;
    assert_eq!(status, 200);
    list.as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

/// The error summary of a page.
fn summary(body: &str) -> &str {
    let s = &body[body.find("govuk-error-summary").expect(body)..];
    &s[..s.find("</ul>").unwrap()]
}

async fn rules_and_settings_round_trip_through_the_form(app: TestApp) {
    let token = admin_token(&app).await;
    let mut b = page_sign_in(&app, ADMIN).await;
    let new = b.get("/collections/new").await;
    assert_eq!(new.status, 200);
    for part in [
        "Column 5",
        "for=\"columns-5-warn_above\"",
        "name=\"add_column\"",
        "Add another column",
        "A Portal Administrator must sign the return off before it can be accepted",
        "Accept late submissions (with a reason) until the window is closed",
        "Remind providers that have not submitted this many days before closing",
        "for example 14, 7, 1",
    ] {
        assert!(new.body.contains(part), "{part}");
    }
    assert!(!new.body.contains("Column 6"));

    // "Add another column" shows the form again with one row more, what was
    // typed kept; nothing is opened.
    let before = app.snapshot().await;
    let typed = form(&[("columns-1-name", "ukprn"), ("add_column", "1")]);
    let more = b.submit("/collections/new", &typed).await;
    assert_eq!(more.status, 200);
    assert!(more.body.contains("Column 7") && !more.body.contains("Column 8"));
    assert!(more.body.contains("value=\"ukprn\""));
    assert!(!more.body.contains("govuk-error-summary"));
    assert_eq!(app.snapshot().await, before);

    let fields = form(&[
        ("columns-1-name", "ukprn"),
        ("columns-1-type", "ukprn"),
        ("columns-1-required", "yes"),
        // Row 2 left empty: skipped.
        ("columns-2-name", ""),
        ("columns-2-type", ""),
        ("columns-3-name", " students "),
        ("columns-3-type", "integer"),
        ("columns-3-required", "yes"),
        ("columns-3-min", "0"),
        ("columns-3-max", "500"),
        ("columns-3-warn_above", "400"),
        ("columns-4-name", "mode"),
        ("columns-4-type", "text"),
        ("columns-4-allowed", "FT\r\nPT\r\n"),
        ("sign_off_required", "yes"),
        ("reminder_days", "1, 14,7"),
    ]);
    let r = b.submit("/collections/new", &fields).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let at = r.location().unwrap().split('?').next().unwrap().to_owned();
    let id = at.trim_start_matches("/collections/").to_owned();
    let w = window_json(&app, &token, &id).await;
    assert_eq!(
        w["columns"],
        json!([
            {"name": "ukprn", "type": "ukprn", "required": true},
            {"name": "students", "type": "integer", "required": true, "min": 0.0, "max": 500.0, "warn_above": 400.0},
            {"name": "mode", "type": "text", "required": false, "allowed": ["FT", "PT"]},
        ]),
        "{w}"
    );
    assert_eq!(w["sign_off_required"], true);
    assert_eq!(w["reminder_days"], json!([14, 7, 1]));
    assert_eq!(w["late_submissions"], false);
    let audit = app.audit().await;
    let created = audit
        .iter()
        .rfind(|r| r.entry.action == "windows.create")
        .unwrap();
    assert!(
        created.entry.detail.contains(
            "3 column rules, sign-off required, no late submissions, reminders 14, 7, 1 days before closing"
        ),
        "{}",
        created.entry.detail
    );

    // The edit form shows what is set, with spare rows after it.
    let edit = b.get(&format!("/collections/{id}/edit")).await;
    assert_eq!(edit.status, 200);
    for part in [
        "id=\"columns-2-name\" name=\"columns-2-name\" type=\"text\" spellcheck=\"false\" value=\"students\"",
        "<option value=\"integer\" selected>",
        "id=\"columns-2-warn_above\" name=\"columns-2-warn_above\"",
        "value=\"400\"",
        ">FT\nPT</textarea>",
        "id=\"sign_off_required\" name=\"sign_off_required\" type=\"checkbox\" value=\"yes\" checked",
        "value=\"14, 7, 1\"",
        "Column 8",
    ] {
        assert!(edit.body.contains(part), "{part}\n{}", edit.body);
    }
    assert!(!edit.body.contains("Column 9"));
    assert!(
        !edit
            .body
            .contains("name=\"late_submissions\" type=\"checkbox\" value=\"yes\" checked")
    );

    // Changed: one rule fewer, sign-off off, late submissions on, no reminders.
    let changed = form(&[
        ("columns-1-name", "ukprn"),
        ("columns-1-type", "ukprn"),
        ("columns-1-required", "yes"),
        ("columns-2-name", "students"),
        ("columns-2-type", "number"),
        ("late_submissions", "yes"),
        ("reminder_days", ""),
    ]);
    let r = b.submit(&format!("/collections/{id}/edit"), &changed).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let w = window_json(&app, &token, &id).await;
    assert_eq!(
        w["columns"],
        json!([
            {"name": "ukprn", "type": "ukprn", "required": true},
            {"name": "students", "type": "number", "required": false},
        ])
    );
    assert_eq!(w["sign_off_required"], false);
    assert_eq!(w["late_submissions"], true);
    assert_eq!(w["reminder_days"], json!([]));
    let audit = app.audit().await;
    let updated = audit
        .iter()
        .rfind(|r| r.entry.action == "windows.update")
        .unwrap();
    assert!(
        updated
            .entry
            .detail
            .contains("2 column rules, no sign-off, late submissions accepted, no reminders"),
        "{}",
        updated.entry.detail
    );
}

async fn bad_rules_on_the_form_are_explained_in_the_forms_order_and_nothing_is_stored(
    app: TestApp,
) {
    admin_token(&app).await;
    let mut b = page_sign_in(&app, ADMIN).await;
    b.get("/collections/new").await;
    let before = app.snapshot().await;
    let fields = form(&[
        ("columns-1-name", "students"),
        ("columns-1-type", "integer"),
        ("columns-2-name", "fee"),
        ("columns-2-type", "number"),
        ("columns-2-min", "lots"),
        ("columns-3-name", "STUDENTS"),
        ("columns-3-type", "integer"),
        ("columns-3-min", "10"),
        ("columns-3-max", "5"),
        ("columns-4-name", "mode"),
        ("columns-4-type", "integer"),
        ("columns-4-allowed", "FT\nPT"),
        // No type.
        ("columns-5-name", "start"),
        ("reminder_days", "14, 14"),
    ]);
    let r = b.submit("/collections/new", &fields).await;
    assert_eq!(r.status, 400);
    assert_eq!(app.snapshot().await, before);
    let s = summary(&r.body);
    let expected = [
        (
            "#columns-2-min",
            "Column 2 (fee): the minimum must be a number, like 100 or 12.5",
        ),
        (
            "#columns-3-name",
            "Column 3 (STUDENTS): the column name is the same as column 1",
        ),
        (
            "#columns-3-min",
            "the minimum must not be above the maximum",
        ),
        (
            "#columns-4-allowed",
            "Column 4 (mode): allowed values apply only to text",
        ),
        (
            "#columns-5-type",
            "Column 5 (start): choose the type of the column",
        ),
        ("#reminder_days", "14 days is given twice"),
    ];
    let mut last = 0;
    for (href, words) in expected {
        let at = s
            .find(&format!("href=\"{href}\""))
            .unwrap_or_else(|| panic!("{href} in {s}"));
        assert!(at >= last, "{href} out of order in {s}");
        last = at;
        assert!(r.body.contains(words), "{words} in {}", r.body);
    }
    // Each message also beside its field, which keeps what was typed.
    for id in [
        "columns-2-min-error",
        "columns-4-allowed-error",
        "reminder_days-error",
    ] {
        assert!(r.body.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(r.body.contains("value=\"lots\""));
    // The refusal is audited.
    let audit = app.audit().await;
    assert!(audit.iter().any(|r| r.entry.action == "windows.create"
        && r.entry.outcome == domain::audit::Outcome::Refused));
}

fn at(app: &TestApp, hours: i64) -> String {
    app.clock
        .now_plus(time::Duration::hours(hours))
        .format(&Rfc3339)
        .unwrap()
}

fn body(app: &TestApp, extra: Value) -> Value {
    let mut b = json!({"area": "heses", "name": "HESES 2026-27", "opens_at": at(app, 1),
        "closes_at": at(app, 24 * 30), "file_types": ["csv"]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

async fn rules_and_settings_round_trip_through_the_api(app: TestApp) {
    let token = admin_token(&app).await;
    let columns = json!([
        {"name": "ukprn", "type": "ukprn", "required": true},
        {"name": "students", "type": "integer", "required": true, "min": 0.0, "max": 500.0, "warn_above": 400.0},
        {"name": "fee", "type": "number", "required": false, "max": 9250.5},
        {"name": "start", "type": "date", "required": false},
        {"name": "mode", "type": "text", "required": false, "allowed": ["FT", "PT"]},
    ]);
    let (status, w) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(&token),
            Some(body(
                &app,
                json!({"columns": columns, "sign_off_required": true,
                    "reminder_days": [1, 14, 7], "late_submissions": true}),
            )),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    assert_eq!(w["columns"], columns);
    assert_eq!(w["sign_off_required"], true);
    assert_eq!(w["reminder_days"], json!([14, 7, 1]));
    assert_eq!(w["late_submissions"], true);
    let id = w["id"].as_str().unwrap().to_owned();
    assert_eq!(window_json(&app, &token, &id).await["columns"], columns);

    // A change that does not mention them keeps them (a client written
    // before they existed changes nothing of them).
    let path = format!("/api/v1/collections/{id}");
    let (status, w) = app
        .call(
            "PUT",
            &path,
            Some(&token),
            Some(body(&app, json!({"name": "HESES 2026-27 (renamed)"}))),
        )
        .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["name"], "HESES 2026-27 (renamed)");
    assert_eq!(w["columns"], columns);
    assert_eq!(w["reminder_days"], json!([14, 7, 1]));
    assert_eq!(w["sign_off_required"], true);
    assert_eq!(w["late_submissions"], true);

    // One that does, changes them.
    let (status, w) = app
        .call(
            "PUT",
            &path,
            Some(&token),
            Some(body(
                &app,
                json!({"columns": [], "sign_off_required": false, "reminder_days": [],
                    "late_submissions": false}),
            )),
        )
        .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["columns"], json!([]));
    assert_eq!(w["reminder_days"], json!([]));
    assert_eq!(w["sign_off_required"], false);
    assert_eq!(w["late_submissions"], false);

    // Without them, a new window has none.
    let (status, w) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(&token),
            Some(body(&app, json!({}))),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    assert_eq!(w["columns"], json!([]));
    assert_eq!(w["sign_off_required"], false);

    // Unknown fields are still refused, in a rule too.
    for extra in [
        json!({"colour": "red"}),
        json!({"columns": [{"name": "a", "type": "text", "required": true, "size": 3}]}),
    ] {
        let before = app.snapshot().await;
        let (status, answer) = app
            .call(
                "POST",
                "/api/v1/collections",
                Some(&token),
                Some(body(&app, extra)),
            )
            .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(app.snapshot().await, before);
    }
}

async fn every_bad_rule_sent_to_the_api_is_a_field_error_and_nothing_is_stored(app: TestApp) {
    let token = admin_token(&app).await;
    let rule = |extra: Value| {
        let mut r = json!({"name": "students", "type": "integer", "required": true});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    let many_allowed: Vec<String> = (0..201).map(|i| format!("v{i}")).collect();
    let many_rules: Vec<Value> = (0..101)
        .map(|i| json!({"name": format!("c{i}"), "type": "text", "required": false}))
        .collect();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!([rule(json!({"name": " "}))]),
            "columns-1-name",
            "Column 1: enter the column name",
        ),
        (
            json!([rule(json!({"name": "x".repeat(65)}))]),
            "columns-1-name",
            "the column name must be 64 characters or fewer",
        ),
        (
            json!([rule(json!({"name": "a\tb"}))]),
            "columns-1-name",
            "must not contain tabs",
        ),
        (
            json!([rule(json!({})), rule(json!({"name": "Students"}))]),
            "columns-2-name",
            "Column 2 (Students): the column name is the same as column 1's",
        ),
        (
            json!([rule(json!({"type": "integr"}))]),
            "columns-1-type",
            "the type must be one of text, integer, number, ukprn or date, not \"integr\"",
        ),
        (
            json!([rule(json!({"type": "text", "min": 1}))]),
            "columns-1-min",
            "a minimum applies only to whole numbers and numbers, not to text",
        ),
        (
            json!([rule(json!({"type": "date", "max": 1}))]),
            "columns-1-max",
            "a maximum applies only to whole numbers and numbers",
        ),
        (
            json!([rule(json!({"type": "ukprn", "warn_above": 1}))]),
            "columns-1-warn_above",
            "a warning level applies only to whole numbers and numbers",
        ),
        (
            json!([rule(json!({"min": 10, "max": 5}))]),
            "columns-1-min",
            "the minimum must not be above the maximum",
        ),
        (
            json!([rule(json!({"min": 10, "warn_above": 5}))]),
            "columns-1-warn_above",
            "the warning level must not be below the minimum",
        ),
        (
            json!([rule(json!({"max": 10, "warn_above": 50}))]),
            "columns-1-warn_above",
            "the warning level must not be above the maximum",
        ),
        (
            json!([rule(json!({"allowed": ["1"]}))]),
            "columns-1-allowed",
            "allowed values apply only to text, not to whole number",
        ),
        (
            json!([rule(json!({"type": "text", "allowed": many_allowed}))]),
            "columns-1-allowed",
            "a column can have at most 200 allowed values",
        ),
        (
            json!([rule(json!({"type": "text", "allowed": ["FT", " "]}))]),
            "columns-1-allowed",
            "an allowed value is empty",
        ),
        (
            json!([rule(json!({"type": "text", "allowed": ["x".repeat(101)]}))]),
            "columns-1-allowed",
            "each allowed value must be 100 characters or fewer",
        ),
        (
            json!([rule(json!({"type": "text", "allowed": ["FT", "FT"]}))]),
            "columns-1-allowed",
            "the allowed value \"FT\" is listed twice",
        ),
        (
            json!(many_rules),
            "columns-101-name",
            "a window can have at most 100 column rules",
        ),
    ];
    for (columns, key, words) in cases {
        let answer = app
            .refused(
                "POST",
                "/api/v1/collections",
                Some(&token),
                Some(body(&app, json!({"columns": columns}))),
                400,
            )
            .await;
        let got = answer["fields"][key].as_str().unwrap_or_default();
        assert!(got.contains(words), "{key}: {words}\n{answer}");
    }
    for (days, words) in [
        (json!([0]), "from 1 to 365 days before closing, not 0"),
        (json!([366]), "not 366"),
        (json!([7, 7]), "7 days is given twice"),
        (
            json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
            "at most 10 reminders",
        ),
    ] {
        let answer = app
            .refused(
                "POST",
                "/api/v1/collections",
                Some(&token),
                Some(body(&app, json!({"reminder_days": days}))),
                400,
            )
            .await;
        let got = answer["fields"]["reminder_days"]
            .as_str()
            .unwrap_or_default();
        assert!(got.contains(words), "{words}\n{answer}");
    }
    // On a change too, and the window keeps what it had.
    let (status, w) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(&token),
            Some(body(&app, json!({"columns": [rule(json!({}))]}))),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    let id = w["id"].as_str().unwrap();
    app.refused(
        "PUT",
        &format!("/api/v1/collections/{id}"),
        Some(&token),
        Some(body(
            &app,
            json!({"columns": [rule(json!({"min": 3, "max": 2}))]}),
        )),
        400,
    )
    .await;
    assert_eq!(
        window_json(&app, &token, id).await["columns"],
        json!([rule(json!({}))])
    );
}

async fn only_the_regulators_administrators_set_rules(app: TestApp) {
    let token = admin_token(&app).await;
    let officer = app
        .regulator_user("oscar@ofs.example.org", &["regulator-officer:heses"])
        .await;
    let pa = app
        .user("10000931", "ada@a.example.ac.uk", &["portal-admin"])
        .await;
    let columns = json!([{"name": "students", "type": "integer", "required": true}]);
    let (status, w) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(&token),
            Some(body(&app, json!({"columns": columns}))),
        )
        .await;
    assert_eq!(status, 201);
    let id = w["id"].as_str().unwrap().to_owned();
    let hostile = json!({"columns": [], "sign_off_required": true, "reminder_days": [1]});
    for who in [&officer, &pa] {
        let t = app.api_sign_in(who).await;
        app.refused(
            "POST",
            "/api/v1/collections",
            Some(&t),
            Some(body(&app, hostile.clone())),
            403,
        )
        .await;
        let path = format!("/api/v1/collections/{id}");
        let answer = app
            .refused(
                "PUT",
                &path,
                Some(&t),
                Some(body(&app, hostile.clone())),
                403,
            )
            .await;
        assert_eq!(answer["error"], "forbidden", "{answer}");
        // The pages: neither the form nor "Add another column".
        let mut b = page_sign_in(&app, who).await;
        let page = b.get("/collections/new").await;
        assert_eq!(page.status, 403);
        let before = app.snapshot().await;
        let seq = app.last_audit_seq().await;
        let r = b
            .submit(
                "/collections/new",
                &form(&[("columns-1-name", "x"), ("add_column", "1")]),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.body);
        let r = b
            .submit(
                &format!("/collections/{id}/edit"),
                &form(&[("columns-1-name", "x"), ("columns-1-type", "text")]),
            )
            .await;
        assert!(r.status == 403 || r.status == 404, "{}", r.status);
        assert_eq!(app.snapshot().await, before);
        let rows = app.audit_since(seq).await;
        assert!(!rows.is_empty());
        assert!(
            rows.iter()
                .all(|r| r.entry.outcome == domain::audit::Outcome::Refused)
        );
    }
    assert_eq!(window_json(&app, &token, &id).await["columns"], columns);
}
