//! The harness itself: a test that leaves queued work fails when its app is
//! dropped, unless it says that leaving work is its point.

use serde_json::json;
use testkit::{Backend, TestApp};

testkit::both_backends!(work_left_on_purpose_passes_when_the_test_says_so);

/// Asks for a sign-in code for a new user and delivers nothing.
async fn queue_a_code(app: &TestApp) {
    let email = app
        .user("10000901", "left@harness.example.ac.uk", &[])
        .await;
    let r = app
        .post_json("/api/v1/auth/code", json!({ "email": email }))
        .await;
    assert_eq!(r.status(), 202);
}

async fn work_left_on_purpose_passes_when_the_test_says_so(app: TestApp) {
    queue_a_code(&app).await;
    app.expect_queued_work();
}

// On the single-threaded runtime too: the check runs on a runtime of its own.
#[tokio::test]
#[should_panic(expected = "email to left@harness.example.ac.uk \"")]
async fn undelivered_mail_fails_the_test() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    queue_a_code(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "add-user request")]
async fn a_pending_add_user_request_fails_the_test() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let pa = app
        .user("10000902", "pa@harness.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&pa).await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&token),
            Some(json!({ "title": "Dr", "first_name": "Grace", "last_name": "Hopper", "email": "grace@harness.example.ac.uk" })),
        )
        .await;
    assert_eq!(status, 202);
}

// Only the test's own failure shows: a second panic while unwinding would
// abort the whole test binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "the test's own failure")]
async fn a_failing_test_shows_its_own_failure_not_the_queued_work() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    queue_a_code(&app).await;
    panic!("the test's own failure");
}
