//! Concurrent writes on PostgreSQL never stall the portal: a burst of role
//! changes, add-user requests or registrations with one access key is answered
//! promptly and without a server error, and other providers' users are served
//! meanwhile. "Promptly" is a bound on a stall (the pool waits 10 s for a
//! connection before giving up), not a speed target.
//!
//! PostgreSQL only: row locks and the connection pool are what is at stake.
//! Without `PORTAL_TEST_POSTGRES_URL` the tests do not run, except under
//! `CI=true`, where they fail (through testkit, as every PostgreSQL test does).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server::Config;
use testkit::{Backend, TestApp};
use time::format_description::well_known::Rfc3339;
use tokio::sync::Barrier;

/// Longer than this for one answer is a stall.
const STALL: Duration = Duration::from_secs(2);

/// Half role changes, half add-user requests.
const WRITES: usize = 32;

/// Registrations sent at once with one access key (and its number of uses).
const REGISTRATIONS: usize = 16;

/// One request's outcome: what was asked, the status (`None` when no answer
/// came at all), the JSON answer and how long the whole exchange took.
struct Timed {
    what: String,
    status: Option<u16>,
    body: Value,
    took: Duration,
}

impl Timed {
    fn describe(&self) -> String {
        let status = self
            .status
            .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
        format!("{}: {status} in {:?}: {}", self.what, self.took, self.body)
    }
}

/// Sends `request` and reads its answer, timing both.
async fn timed(what: String, request: reqwest::RequestBuilder) -> Timed {
    let start = Instant::now();
    let (status, body) = match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (Some(status), r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => (None, Value::String(e.to_string())),
    };
    Timed {
        what,
        status,
        body,
        took: start.elapsed(),
    }
}

/// One client for every request of a test; it gives up on an answer long
/// after the stall bound, so that a deadlock fails the test instead of hanging it.
fn shared_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn max_took(answers: &[Timed]) -> Duration {
    answers.iter().map(|a| a.took).max().unwrap_or_default()
}

/// No answer is a server error (or missing), and none took `STALL` or longer.
fn assert_no_server_error_and_no_stall(kind: &str, answers: &[Timed]) {
    let errors: Vec<String> = answers
        .iter()
        .filter(|a| a.status.is_none_or(|s| s >= 500))
        .map(Timed::describe)
        .collect();
    assert!(
        errors.is_empty(),
        "{} of {} {kind} got a server error or no answer:\n{}",
        errors.len(),
        answers.len(),
        errors.join("\n")
    );
    let stalled: Vec<String> = answers
        .iter()
        .filter(|a| a.took >= STALL)
        .map(Timed::describe)
        .collect();
    assert!(
        stalled.is_empty(),
        "{} of {} {kind} took {STALL:?} or longer:\n{}",
        stalled.len(),
        answers.len(),
        stalled.join("\n")
    );
}

fn role_ids(user: &Value) -> Vec<String> {
    user["roles"]
        .as_array()
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_role_changes_and_add_user_requests_on_postgres_never_stall() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    // A provider with three Portal Administrators and a contributor per role change.
    let mut admins = Vec::new();
    for n in 1..=3 {
        let pa = app
            .user(
                "10000901",
                &format!("pa{n}@busy.example.ac.uk"),
                &["portal-admin"],
            )
            .await;
        admins.push(app.api_sign_in(&pa).await);
    }
    let mut contributors = Vec::new();
    for n in 0..WRITES / 2 {
        let email = app
            .user(
                "10000901",
                &format!("contributor{n}@busy.example.ac.uk"),
                &["data-collection-contributor:heses"],
            )
            .await;
        contributors.push(app.user_record(&email).await.id.to_string());
    }
    // Someone at another provider, going about their business meanwhile.
    let reader = app
        .user(
            "10000902",
            "reader@quiet.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let reader = app.api_sign_in(&reader).await;

    let client = shared_client();
    let done = Arc::new(AtomicBool::new(false));
    let me_loop = tokio::spawn({
        let (client, url, done) = (client.clone(), app.url("/api/v1/me"), done.clone());
        async move {
            let mut answers = Vec::new();
            loop {
                let n = answers.len();
                answers.push(
                    timed(
                        format!("GET /me #{n}"),
                        client.get(&url).bearer_auth(&reader),
                    )
                    .await,
                );
                if done.load(Ordering::SeqCst) {
                    return answers;
                }
            }
        }
    });

    let new_roles = json!({ "roles": ["data-collection-contributor:prevent"] });
    let start = Arc::new(Barrier::new(WRITES));
    let mut writes = Vec::new();
    for n in 0..WRITES / 2 {
        let token = admins[n % admins.len()].clone();
        let role_change = client
            .put(app.url(&format!("/api/v1/users/{}/roles", contributors[n])))
            .bearer_auth(&token)
            .json(&new_roles);
        let add_user = client
            .post(app.url("/api/v1/users"))
            .bearer_auth(&token)
            .json(&json!({
                "title": "Dr", "first_name": "New", "last_name": format!("Colleague {n}"),
                "email": format!("newcomer{n}@busy.example.ac.uk"),
            }));
        for (what, request) in [
            (format!("PUT roles of contributor{n}"), role_change),
            (format!("POST /users newcomer{n}"), add_user),
        ] {
            let start = start.clone();
            writes.push(tokio::spawn(async move {
                start.wait().await;
                timed(what, request).await
            }));
        }
    }
    let mut answers = Vec::new();
    for w in writes {
        answers.push(w.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    let me = me_loop.await.unwrap();

    eprintln!(
        "{} concurrent writes: max latency {:?}; GET /me at another provider: {} calls, max latency {:?}",
        answers.len(),
        max_took(&answers),
        me.len(),
        max_took(&me)
    );
    assert_eq!(answers.len(), WRITES);
    assert_no_server_error_and_no_stall("writes", &answers);
    assert_no_server_error_and_no_stall("GET /me calls", &me);
    for a in &me {
        assert_eq!(a.status, Some(200), "{}", a.describe());
        assert_eq!(a.body["email"], "reader@quiet.example.ac.uk");
    }

    // Every role change took effect, and every add-user request was accepted
    // and then made its user.
    let mut requests = Vec::new();
    for a in &answers {
        if a.what.starts_with("PUT") {
            assert_eq!(a.status, Some(200), "{}", a.describe());
            assert_eq!(
                role_ids(&a.body),
                ["data-collection-contributor:prevent"],
                "{}",
                a.describe()
            );
        } else {
            assert_eq!(a.status, Some(202), "{}", a.describe());
            assert_eq!(a.body["status"], "pending", "{}", a.describe());
            requests.push(a.body["request_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(requests.len(), WRITES / 2);
    for (n, id) in contributors.iter().enumerate() {
        let (status, user) = app
            .call(
                "GET",
                &format!("/api/v1/users/{id}"),
                Some(&admins[0]),
                None,
            )
            .await;
        assert_eq!(status, 200, "{user}");
        assert_eq!(
            role_ids(&user),
            ["data-collection-contributor:prevent"],
            "contributor{n}"
        );
    }
    app.deliver_mail().await;
    for (n, id) in requests.iter().enumerate() {
        let (status, request) = app
            .call(
                "GET",
                &format!("/api/v1/user-requests/{id}"),
                Some(&admins[n % admins.len()]),
                None,
            )
            .await;
        assert_eq!(status, 200, "{request}");
        assert_eq!(request["status"], "completed", "{request}");
    }
    let (status, list) = app
        .call("GET", "/api/v1/users?q=newcomer", Some(&admins[0]), None)
        .await;
    assert_eq!(
        (status, list["total"].as_u64()),
        (200, Some((WRITES / 2) as u64)),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_with_one_multi_use_access_key_on_postgres_never_stall() {
    let Some(app) = TestApp::spawn_with(
        Backend::Postgres,
        Config {
            password_sign_in: true,
            password_policy: "modern".into(),
            ..testkit::test_config()
        },
    )
    .await
    else {
        return;
    };
    let regulator = app
        .regulator_user("keys@ofs.example.org", &["regulator-admin"])
        .await;
    let regulator = app.api_sign_in(&regulator).await;
    let admin = app
        .user("10000903", "admin@open.example.ac.uk", &["portal-admin"])
        .await;
    let org = app.user_record(&admin).await.organisation_id;
    let admin = app.api_sign_in(&admin).await;
    let (status, issued) = app
        .call(
            "POST",
            "/api/v1/access-keys",
            Some(&regulator),
            Some(json!({
                "organisation_id": org.to_string(),
                "role": "data-collection-contributor:heses",
                "max_uses": REGISTRATIONS,
                "expires_at": app.clock.now_plus(time::Duration::days(30)).format(&Rfc3339).unwrap(),
            })),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let key = issued["key"].as_str().unwrap().to_owned();

    let client = shared_client();
    let start = Arc::new(Barrier::new(REGISTRATIONS));
    let mut registrations = Vec::new();
    for n in 0..REGISTRATIONS {
        let request = client.post(app.url("/api/v1/register")).json(&json!({
            "title": "Ms", "first_name": "Reg", "last_name": format!("Istrant {n}"),
            "email": format!("registrant{n}@open.example.ac.uk"),
            "password": "a long and memorable password", "access_key": key,
        }));
        let start = start.clone();
        registrations.push(tokio::spawn(async move {
            start.wait().await;
            timed(format!("register registrant{n}"), request).await
        }));
    }
    let mut answers = Vec::new();
    for r in registrations {
        answers.push(r.await.unwrap());
    }

    eprintln!(
        "{} concurrent registrations with one access key: max latency {:?}",
        answers.len(),
        max_took(&answers)
    );
    assert_no_server_error_and_no_stall("registrations", &answers);
    for a in &answers {
        assert_eq!(a.status, Some(201), "{}", a.describe());
        assert_eq!(
            role_ids(&a.body),
            ["data-collection-contributor:heses"],
            "{}",
            a.describe()
        );
    }

    // Sixteen new users at the key's provider, and the key counted sixteen uses.
    for n in 0..REGISTRATIONS {
        let user = app
            .user_record(&format!("registrant{n}@open.example.ac.uk"))
            .await;
        assert_eq!(user.organisation_id, org);
    }
    let (status, list) = app
        .call("GET", "/api/v1/users?q=registrant", Some(&admin), None)
        .await;
    assert_eq!(
        (status, list["total"].as_u64()),
        (200, Some(REGISTRATIONS as u64)),
        "{list}"
    );
    let (status, keys) = app
        .call("GET", "/api/v1/access-keys", Some(&regulator), None)
        .await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{keys}");
    assert_eq!(keys[0]["uses"], REGISTRATIONS, "{keys}");
    // Each new account is welcomed.
    app.deliver_mail().await;
}
