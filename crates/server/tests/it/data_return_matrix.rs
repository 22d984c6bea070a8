//! Issue 16's permission table walked through the API: every actor × the
//! data-return checks' actions (validation report, submit, sign-off, raise,
//! answer and close a query, progress) on provider A's HESES return. The
//! expected answers are written here from PRODUCT §2 and §6 on their own, not
//! read from `domain::collection::may`, so the two check each other. Every
//! refusal changes nothing and leaves exactly one refused audit row.

use domain::audit::Outcome;
use serde_json::{Value, json};
use testkit::TestApp;
use time::format_description::well_known::Rfc3339;

testkit::both_backends!(every_actor_gets_the_documented_answer_on_a_data_return);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    PortalAdmin,
    Delegate,
    HesesContributor,
    PreventContributor,
    NoRole,
    OtherProvidersAdmin,
    RegulatorAdmin,
    HesesOfficer,
    PreventOfficer,
}

const ACTORS: [Actor; 9] = [
    Actor::PortalAdmin,
    Actor::Delegate,
    Actor::HesesContributor,
    Actor::PreventContributor,
    Actor::NoRole,
    Actor::OtherProvidersAdmin,
    Actor::RegulatorAdmin,
    Actor::HesesOfficer,
    Actor::PreventOfficer,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Validation,
    Submit,
    SignOff,
    RaiseQuery,
    ListQueries,
    AnswerQuery,
    CloseQuery,
    Progress,
}

/// PRODUCT §2 rule 1 (another organisation's things, and a return one holds
/// no role for, do not exist: 404) and §6 (who does what with a return).
fn expected(actor: Actor, action: Action) -> u16 {
    use Actor::*;
    // Provider A's people who take part in its HESES return.
    let team = matches!(actor, PortalAdmin | Delegate | HesesContributor);
    let outside = matches!(actor, PreventContributor | NoRole | OtherProvidersAdmin);
    match action {
        Action::Validation | Action::ListQueries => match actor {
            _ if team => 200,
            _ if outside => 404,
            HesesOfficer => 200,
            _ => 403,
        },
        Action::Submit => match actor {
            // The version is already submitted: the team may submit, but not
            // this again (409); nobody else may at all.
            _ if team => 409,
            _ if outside => 404,
            _ => 403,
        },
        Action::SignOff => match actor {
            PortalAdmin => 200,
            _ if outside => 404,
            _ => 403,
        },
        Action::RaiseQuery => match actor {
            HesesOfficer => 201,
            _ if outside => 404,
            _ => 403,
        },
        Action::AnswerQuery => match actor {
            _ if team => 201,
            HesesOfficer => 201,
            _ if outside => 404,
            _ => 403,
        },
        Action::CloseQuery => match actor {
            HesesOfficer => 200,
            _ if outside => 404,
            _ => 403,
        },
        Action::Progress => match actor {
            RegulatorAdmin | HesesOfficer => 200,
            PreventOfficer => 403,
            // Every provider's progress is the regulator's view: to a
            // provider's people it is other organisations' business (rule 1).
            _ => 404,
        },
    }
}

struct World {
    tokens: Vec<(Actor, String)>,
    window: String,
    submission: String,
}

async fn world(app: &TestApp) -> World {
    let people: [(Actor, &str, &str, &[&str]); 9] = [
        (
            Actor::PortalAdmin,
            "10000901",
            "pat@a.example.ac.uk",
            &["portal-admin"],
        ),
        (
            Actor::Delegate,
            "10000901",
            "dee@a.example.ac.uk",
            &["delegated-portal-admin"],
        ),
        (
            Actor::HesesContributor,
            "10000901",
            "hana@a.example.ac.uk",
            &["data-collection-contributor:heses"],
        ),
        (
            Actor::PreventContributor,
            "10000901",
            "priya@a.example.ac.uk",
            &["data-collection-contributor:prevent"],
        ),
        (Actor::NoRole, "10000901", "nora@a.example.ac.uk", &[]),
        (
            Actor::OtherProvidersAdmin,
            "10000902",
            "bea@b.example.ac.uk",
            &["portal-admin"],
        ),
        (
            Actor::RegulatorAdmin,
            "",
            "rita@ofs.example.org",
            &["regulator-admin"],
        ),
        (
            Actor::HesesOfficer,
            "",
            "oscar@ofs.example.org",
            &["regulator-officer:heses"],
        ),
        (
            Actor::PreventOfficer,
            "",
            "olive@ofs.example.org",
            &["regulator-officer:prevent"],
        ),
    ];
    let mut tokens = Vec::new();
    for (actor, ukprn, email, roles) in people {
        let email = if ukprn.is_empty() {
            app.regulator_user(email, roles).await
        } else {
            app.user(ukprn, email, roles).await
        };
        tokens.push((actor, app.api_sign_in(&email).await));
    }
    let token = |a: Actor| tokens.iter().find(|(x, _)| *x == a).unwrap().1.clone();
    let at = |hours: i64| {
        app.clock
            .now_plus(time::Duration::hours(hours))
            .format(&Rfc3339)
            .unwrap()
    };
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(&token(Actor::RegulatorAdmin)),
            Some(json!({
                "area": "heses", "name": "HESES 2026-27", "opens_at": at(-1),
                "closes_at": at(24 * 14), "guidance": "Send the HESES return.",
                "file_types": ["csv"], "sign_off_required": true,
                "columns": [
                    {"name": "ukprn", "type": "ukprn", "required": true},
                    {"name": "students", "type": "integer", "required": true, "min": 0,
                     "warn_above": 50000}
                ]
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let window = body["id"].as_str().unwrap().to_owned();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"ukprn,students\n10000901,1234\n".to_vec())
            .file_name("heses.csv"),
    );
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/collections/{window}/submissions")))
        .bearer_auth(token(Actor::HesesContributor))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "submitted", "{body}");
    let submission = body["id"].as_str().unwrap().to_owned();
    World {
        tokens,
        window,
        submission,
    }
}

/// The request for `action`; `query` is the query the answer and close act on.
fn request(w: &World, action: Action, query: &str) -> (&'static str, String, Option<Value>) {
    let s = &w.submission;
    match action {
        Action::Validation => ("GET", format!("/api/v1/submissions/{s}/validation"), None),
        Action::Submit => (
            "POST",
            format!("/api/v1/submissions/{s}/submit"),
            Some(json!({"note": "again"})),
        ),
        Action::SignOff => (
            "POST",
            format!("/api/v1/submissions/{s}/sign-off"),
            Some(json!({"declaration": true})),
        ),
        Action::RaiseQuery => (
            "POST",
            format!("/api/v1/submissions/{s}/queries"),
            Some(json!({"subject": "Row 2", "message": "Please explain row 2."})),
        ),
        Action::ListQueries => ("GET", format!("/api/v1/submissions/{s}/queries"), None),
        Action::AnswerQuery => (
            "POST",
            format!("/api/v1/queries/{query}/messages"),
            Some(json!({"message": "Row 2 is right."})),
        ),
        Action::CloseQuery => ("POST", format!("/api/v1/queries/{query}/close"), None),
        Action::Progress => (
            "GET",
            format!("/api/v1/collections/{}/progress", w.window),
            None,
        ),
    }
}

async fn every_actor_gets_the_documented_answer_on_a_data_return(app: TestApp) {
    let w = world(&app).await;
    let token = |a: Actor| w.tokens.iter().find(|(x, _)| *x == a).unwrap().1.clone();
    // A query to answer and close, raised by the officer.
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/submissions/{}/queries", w.submission),
            Some(&token(Actor::HesesOfficer)),
            Some(json!({"subject": "Totals", "message": "Please check the totals."})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let query = body["id"].as_str().unwrap().to_owned();
    // Actions that change something are tried by everyone refused first, and
    // by the allowed ones last (a sign-off or a close happens once).
    let actions = [
        Action::Validation,
        Action::ListQueries,
        Action::Progress,
        Action::Submit,
        Action::RaiseQuery,
        Action::AnswerQuery,
        Action::SignOff,
        Action::CloseQuery,
    ];
    let mut checked = 0;
    for action in actions {
        let mut order: Vec<Actor> = ACTORS.to_vec();
        order.sort_by_key(|a| expected(*a, action) < 300);
        for actor in order {
            let want = expected(actor, action);
            let (method, path, body) = request(&w, action, &query);
            let before = app.snapshot().await;
            let seq = app.last_audit_seq().await;
            let (got, answer) = app.call(method, &path, Some(&token(actor)), body).await;
            assert_eq!(got, want, "{actor:?} {action:?}: {answer}");
            if want >= 400 {
                assert_eq!(
                    app.snapshot().await,
                    before,
                    "{actor:?} {action:?} was refused but changed something"
                );
                let rows = app.audit_since(seq).await;
                assert_eq!(rows.len(), 1, "{actor:?} {action:?}: {rows:?}");
                assert_eq!(rows[0].entry.outcome, Outcome::Refused);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ACTORS.len() * actions.len());
    // What the refusals protected: one sign-off, by the Portal Administrator;
    // the query closed by the officer, with the team's and officer's answers.
    let (_, s) = app
        .call(
            "GET",
            &format!("/api/v1/submissions/{}", w.submission),
            Some(&token(Actor::PortalAdmin)),
            None,
        )
        .await;
    assert!(s["signed_off_at"].is_string(), "{s}");
    let pa = app.user_record("pat@a.example.ac.uk").await;
    assert_eq!(s["signed_off_by"], pa.id.to_string());
    // The officers told of the submission and sign-off, the team of the query.
    app.deliver_mail().await;
    assert!(!app.mailer.sent_to("hana@a.example.ac.uk").is_empty());
}
