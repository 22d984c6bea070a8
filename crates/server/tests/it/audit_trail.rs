//! Reading the audit trail (PRODUCT §8, API.md "Audit"; issue 13): the
//! Activity page and `GET /api/v1/audit(.csv)`. A provider administrator reads
//! their organisation's events only, refused attempts included; a regulator
//! administrator reads every organisation's; anyone else is refused.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use testkit::TestApp;
use time::format_description::well_known::Rfc3339;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    a_provider_administrator_never_sees_another_providers_events,
    a_delegates_refused_grant_reads_as_a_refused_sentence_found_by_person_and_date,
    the_regulator_administrator_reads_every_provider_and_filters_by_organisation,
    contributors_are_refused_the_trail_audited_and_nothing_changes,
    bad_filters_are_answered_400_with_the_fields_named,
    csv_cells_that_look_like_formulas_are_neutralised,
);

/// Two providers, each with a Portal Administrator who gave a colleague a
/// role; provider A also has a delegated administrator who tried to make that
/// colleague a Portal Administrator and was refused.
struct World {
    a: String,
    b: String,
    a_admin: String,
    a_delegate_id: String,
    a_contributor: String,
    b_admin: String,
    b_colleague_id: String,
    regulator: String,
}

async fn id_of(app: &TestApp, email: &str) -> String {
    app.user_record(email).await.id.to_string()
}

async fn rename(app: &TestApp, token: &str, id: &str, first: &str, last: &str) {
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            Some(token),
            Some(json!({"first_name": first, "last_name": last})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn world(app: &TestApp) -> World {
    let a_admin = app
        .user("10000401", "ada@a.example.ac.uk", &["portal-admin"])
        .await;
    app.user(
        "10000401",
        "dee@a.example.ac.uk",
        &["delegated-portal-admin"],
    )
    .await;
    app.user("10000401", "hana@a.example.ac.uk", &[]).await;
    let b_admin = app
        .user("10000402", "bob@b.example.ac.uk", &["portal-admin"])
        .await;
    app.user("10000402", "bea@b.example.ac.uk", &[]).await;
    let regulator = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let a_token = app.api_sign_in(&a_admin).await;
    let b_token = app.api_sign_in(&b_admin).await;
    let dee = id_of(app, "dee@a.example.ac.uk").await;
    let hana = id_of(app, "hana@a.example.ac.uk").await;
    let bea = id_of(app, "bea@b.example.ac.uk").await;
    rename(app, &a_token, &dee, "Dee", "Delegate").await;
    rename(app, &a_token, &hana, "Hana", "Heses").await;
    rename(app, &b_token, &bea, "Bea", "Bravo").await;
    for (token, id) in [(&a_token, &hana), (&b_token, &bea)] {
        let (status, body) = app
            .call(
                "PUT",
                &format!("/api/v1/users/{id}/roles"),
                Some(token),
                Some(json!({"roles": ["data-collection-contributor:heses"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let delegate = app.api_sign_in("dee@a.example.ac.uk").await;
    app.refused(
        "PUT",
        &format!("/api/v1/users/{hana}/roles"),
        Some(&delegate),
        Some(json!({"roles": ["data-collection-contributor:heses", "portal-admin"]})),
        403,
    )
    .await;
    app.deliver_mail().await;
    let org = |email: &'static str| async move {
        app.user_record(email).await.organisation_id.to_string()
    };
    World {
        a: org("ada@a.example.ac.uk").await,
        b: org("bob@b.example.ac.uk").await,
        a_admin: a_token,
        a_delegate_id: dee,
        a_contributor: app.api_sign_in("hana@a.example.ac.uk").await,
        b_admin: b_token,
        b_colleague_id: bea,
        regulator: app.api_sign_in(&regulator).await,
    }
}

/// Every item of the trail the filters give (one large page).
async fn items(app: &TestApp, token: &str, filters: &str) -> Vec<Value> {
    let (status, body) = app
        .call(
            "GET",
            &format!("/api/v1/audit?per_page=200&{filters}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let list = body["items"].as_array().unwrap().clone();
    assert_eq!(body["total"], list.len(), "one page holds them all");
    list
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The first column of each data line of a CSV export (the row ids).
fn csv_ids(csv: &str) -> Vec<String> {
    let mut lines = csv.split("\r\n");
    assert_eq!(
        lines.next().unwrap(),
        "id,at,actor_id,actor,organisation_id,action,target,outcome,summary"
    );
    lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').next().unwrap().trim_matches('"').to_owned())
        .collect()
}

async fn get_text(app: &TestApp, path: &str, token: &str) -> (u16, String, String) {
    let r = app.get_with(path, token).await;
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, r.text().await.unwrap())
}

async fn a_provider_administrator_never_sees_another_providers_events(app: TestApp) {
    let w = world(&app).await;
    let mine = items(&app, &w.a_admin, "").await;
    assert!(mine.len() >= 5, "{mine:?}");
    for i in &mine {
        assert_eq!(i["organisation_id"], w.a.as_str(), "{i}");
        assert!(!i["summary"].as_str().unwrap().contains("Bea Bravo"), "{i}");
        for key in ["id", "at", "action", "outcome", "summary"] {
            assert!(i[key].is_string(), "{key} in {i}");
        }
        assert!(i.get("hash").is_none() && i.get("prev_hash").is_none());
    }
    let times: Vec<&str> = mine.iter().map(|i| i["at"].as_str().unwrap()).collect();
    assert!(
        times
            .iter()
            .all(|t| time::OffsetDateTime::parse(t, &Rfc3339).is_ok() && t.ends_with('Z'))
    );
    let seqs: Vec<i64> = ids(&mine).iter().map(|s| s.parse().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(mine.iter().any(|i| i["summary"]
        == "Test Person gave Hana Heses the role Data collection contributor - HESES"));
    // Provider B's administrator sees B's own, and none of A's.
    let theirs = items(&app, &w.b_admin, "").await;
    assert!(!theirs.is_empty());
    assert!(theirs.iter().all(|i| i["organisation_id"] == w.b.as_str()));
    let mine_set: BTreeSet<String> = ids(&mine).into_iter().collect();
    assert!(ids(&theirs).iter().all(|id| !mine_set.contains(id)));
    // Asking for B's by name is refused as not found, audited, nothing changed.
    app.refused(
        "GET",
        &format!("/api/v1/audit?organisation_id={}", w.b),
        Some(&w.a_admin),
        None,
        404,
    )
    .await;
    app.refused(
        "GET",
        &format!("/api/v1/audit.csv?organisation_id={}", w.b),
        Some(&w.a_admin),
        None,
        404,
    )
    .await;
    // A row of B's is not found on A's detail page either.
    let b_row = ids(&theirs)[0].clone();

    // The CSV holds the same rows as the JSON (the export itself is recorded
    // after it is read, so the JSON is read again after it).
    let seq = app.last_audit_seq().await;
    let (status, kind, csv) = get_text(&app, "/api/v1/audit.csv", &w.a_admin).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let exported = app.audit_since(seq).await;
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].entry.action, "audit.exported");
    let json_ids: Vec<String> = ids(&items(&app, &w.a_admin, "").await)
        .into_iter()
        .filter(|id| id.parse::<i64>().unwrap() <= seq)
        .collect();
    assert_eq!(csv_ids(&csv), json_ids);
    assert!(!csv.contains("Bea Bravo"));

    // The pages: the same rows, and never B's.
    let mut page = page_sign_in(&app, "ada@a.example.ac.uk").await;
    let home = page.get("/home").await;
    assert!(
        home.body.contains("href=\"/activity\""),
        "the Activity link"
    );
    let list = page.get("/activity").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Hana Heses"));
    assert!(list.body.contains("govuk-tag--red") && list.body.contains("Refused"));
    assert!(!list.body.contains("Bea Bravo") && !list.body.contains("Provider 10000402"));
    let detail = page.get(&format!("/activity/{b_row}")).await;
    assert_eq!(
        detail.status, 404,
        "another provider's event does not exist"
    );
    let seq = app.last_audit_seq().await;
    let csv = page.get("/activity.csv").await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let json = page.get("/activity.json").await;
    assert_eq!(json.status, 200);
    let json: Vec<Value> = serde_json::from_str(&json.body).unwrap();
    let page_ids: Vec<String> = ids(&json)
        .into_iter()
        .filter(|id| id.parse::<i64>().unwrap() <= seq)
        .collect();
    assert_eq!(
        csv_ids(&csv.body),
        page_ids,
        "the page's CSV and JSON agree"
    );
    assert!(json.iter().all(|i| i["organisation_id"] == w.a.as_str()));
    assert!(!csv.body.contains("Bea Bravo"));
}

async fn a_delegates_refused_grant_reads_as_a_refused_sentence_found_by_person_and_date(
    app: TestApp,
) {
    let w = world(&app).await;
    let now = app.clock.now_plus(time::Duration::ZERO);
    let hour = time::Duration::hours(1);
    let at = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap();
    let by_dee = items(
        &app,
        &w.a_admin,
        &format!(
            "actor_id={}&from={}&to={}",
            w.a_delegate_id,
            at(now - hour),
            at(now + hour)
        ),
    )
    .await;
    let refused: Vec<&Value> = by_dee
        .iter()
        .filter(|i| i["outcome"] == "refused" && i["action"] == "users.set_roles")
        .collect();
    assert_eq!(refused.len(), 1, "{by_dee:?}");
    let summary = refused[0]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(
            "Dee Delegate tried to give Hana Heses the role Portal Administrator (refused"
        ),
        "{summary}"
    );
    assert!(
        by_dee
            .iter()
            .all(|i| i["actor_id"] == w.a_delegate_id.as_str())
    );
    // The action filter, exact and by group.
    assert_eq!(
        items(
            &app,
            &w.a_admin,
            &format!("actor_id={}&action=users.set_roles", w.a_delegate_id)
        )
        .await
        .len(),
        1
    );
    assert!(
        !items(
            &app,
            &w.a_admin,
            &format!("actor_id={}&action=users.", w.a_delegate_id)
        )
        .await
        .is_empty()
    );
    // Outside the dates it is not there.
    let earlier = items(
        &app,
        &w.a_admin,
        &format!("actor_id={}&to={}", w.a_delegate_id, at(now - hour)),
    )
    .await;
    assert!(earlier.is_empty(), "{earlier:?}");
    // The page finds it by the person's address and today's date (UK time).
    let mut page = page_sign_in(&app, "ada@a.example.ac.uk").await;
    // Today in the UK: tomorrow's UTC date once British Summer Time has begun it.
    let next = now.date().next_day().unwrap();
    let day = if app::activity::uk_midnight(next) <= now {
        next
    } else {
        now.date()
    };
    let q = format!(
        "/activity?person=dee%40a.example.ac.uk&from-day={d}&from-month={m}&from-year={y}&to-day={d}&to-month={m}&to-year={y}",
        d = day.day(),
        m = u8::from(day.month()),
        y = day.year()
    );
    let list = page.get(&q).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body
            .contains("Dee Delegate tried to give Hana Heses the role Portal Administrator")
    );
    assert!(list.body.contains("Refused"));
    assert!(!list.body.contains("Test Person gave"), "only Dee's");
    // Its detail page says who, what, to whom, when and why.
    let id = refused[0]["id"].as_str().unwrap();
    let detail = page.get(&format!("/activity/{id}")).await;
    assert_eq!(detail.status, 200);
    for text in [
        "Dee Delegate",
        "Hana Heses",
        "users.set_roles",
        "Refused",
        "Request ID",
        "September 2026 at ",
    ] {
        assert!(detail.body.contains(text), "{text}");
    }
    // The day before shows nothing of Dee's.
    let before = day.previous_day().unwrap();
    let q = format!(
        "/activity?person=dee%40a.example.ac.uk&to-day={}&to-month={}&to-year={}",
        before.day(),
        u8::from(before.month()),
        before.year()
    );
    let list = page.get(&q).await;
    assert!(list.body.contains("No activity matches these filters"));
    // An unknown person is a clear error, not an empty page.
    let list = page.get("/activity?person=nobody%40nowhere.example").await;
    assert_eq!(list.status, 400);
    assert!(list.body.contains("govuk-error-summary"));
}

async fn the_regulator_administrator_reads_every_provider_and_filters_by_organisation(
    app: TestApp,
) {
    let w = world(&app).await;
    let all = items(&app, &w.regulator, "").await;
    let orgs: BTreeSet<&str> = all
        .iter()
        .filter_map(|i| i["organisation_id"].as_str())
        .collect();
    assert!(orgs.contains(w.a.as_str()) && orgs.contains(w.b.as_str()));
    let only_b = items(&app, &w.regulator, &format!("organisation_id={}", w.b)).await;
    assert!(!only_b.is_empty());
    assert!(only_b.iter().all(|i| i["organisation_id"] == w.b.as_str()));
    assert!(only_b.iter().any(|i| {
        i["summary"]
            .as_str()
            .unwrap()
            .contains("gave Bea Bravo the role Data collection contributor - HESES")
    }));
    // The page offers the organisations and filters by one.
    let mut page = page_sign_in(&app, "rita@ofs.example.org").await;
    let list = page.get(&format!("/activity?organisation={}", w.b)).await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("Provider 10000401"),
        "offered in the select"
    );
    assert!(list.body.contains("Bea Bravo") && !list.body.contains("Hana Heses"));
}

async fn contributors_are_refused_the_trail_audited_and_nothing_changes(app: TestApp) {
    let w = world(&app).await;
    for path in ["/api/v1/audit", "/api/v1/audit.csv"] {
        let answer = app
            .refused("GET", path, Some(&w.a_contributor), None, 403)
            .await;
        assert_eq!(answer["error"], "forbidden");
    }
    let mut page = page_sign_in(&app, "hana@a.example.ac.uk").await;
    let home = page.get("/home").await;
    assert!(
        !home.body.contains("href=\"/activity\""),
        "no Activity link"
    );
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    for path in [
        "/activity",
        "/activity.csv",
        "/activity.json",
        "/activity/1",
    ] {
        let r = page.get(path).await;
        assert_eq!(r.status, 403, "{path}");
    }
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 4, "each refusal audited once");
    assert!(
        rows.iter()
            .all(|r| r.entry.outcome == domain::audit::Outcome::Refused)
    );
    assert_eq!(app.snapshot().await, before);
}

async fn bad_filters_are_answered_400_with_the_fields_named(app: TestApp) {
    let w = world(&app).await;
    for (query, field) in [
        ("actor_id=not-an-id", "actor_id"),
        ("organisation_id=42", "organisation_id"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("per_page=0", "per_page"),
        ("per_page=201", "per_page"),
        ("page=-1", "page"),
        ("action=DROP%20TABLE", "action"),
        ("from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
    ] {
        for path in ["/api/v1/audit", "/api/v1/audit.csv"] {
            let answer = app
                .refused(
                    "GET",
                    &format!("{path}?{query}"),
                    Some(&w.a_admin),
                    None,
                    400,
                )
                .await;
            assert_eq!(answer["error"], "invalid", "{query}");
            assert!(answer["fields"][field].is_string(), "{query}: {answer}");
        }
    }
    let mut page = page_sign_in(&app, "ada@a.example.ac.uk").await;
    let r = page
        .get("/activity?from-day=31&from-month=2&from-year=2026")
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Start date must be a real date"));
}

async fn csv_cells_that_look_like_formulas_are_neutralised(app: TestApp) {
    let w = world(&app).await;
    // B's administrator, renamed by the regulator, then acting: their name
    // starts the actor and summary cells of what they do.
    let bob = id_of(&app, "bob@b.example.ac.uk").await;
    rename(&app, &w.regulator, &bob, "=HYPERLINK(\"x\")", "Bravo").await;
    rename(&app, &w.b_admin, &w.b_colleague_id, "+Bea", "@Bravo").await;
    app.deliver_mail().await;
    let (status, _, csv) = get_text(&app, "/api/v1/audit.csv", &w.b_admin).await;
    assert_eq!(status, 200);
    assert!(csv.contains("\"'=HYPERLINK"), "{csv}");
    for line in csv.split("\r\n").skip(1) {
        for cell in line.split("\",\"") {
            let cell = cell.trim_start_matches('"');
            assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell}");
        }
    }
}
