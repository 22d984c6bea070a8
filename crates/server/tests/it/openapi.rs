//! The OpenAPI document: it parses, describes every route, and every route it
//! describes exists.

use serde_json::Value;
use testkit::{Backend, TestApp};

testkit::both_backends!(; raw: the_openapi_document_parses_and_matches_the_router);

async fn the_openapi_document_parses_and_matches_the_router(backend: Backend) {
    // With password sign-in on, so that its routes exist too.
    let config = server::Config {
        password_sign_in: true,
        ..testkit::test_config()
    };
    let Some(app) = TestApp::spawn_with(backend, config).await else {
        return;
    };
    let r = app
        .client()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    let paths = doc["paths"].as_object().unwrap();
    // Every route the API serves (API.md) is described, with its methods.
    let expected = [
        ("/auth/code", "post"),
        ("/auth/token", "post"),
        ("/auth/token", "delete"),
        ("/auth/password", "post"),
        ("/register", "post"),
        ("/me", "get"),
        ("/me/password/code", "post"),
        ("/me/password", "put"),
        ("/users", "get"),
        ("/users", "post"),
        ("/users/{id}", "get"),
        ("/users/{id}", "patch"),
        ("/users/{id}/roles", "put"),
        ("/users/{id}/copy-roles", "post"),
        ("/user-requests/{id}", "get"),
        ("/roles", "get"),
        ("/organisations", "get"),
        ("/organisations", "post"),
        ("/organisations/{id}/users", "post"),
        ("/areas", "get"),
        ("/areas", "post"),
        ("/areas/{slug}/users", "get"),
        ("/areas/{slug}/users", "post"),
        ("/areas/{slug}/users/{user_id}", "delete"),
        ("/access-keys", "get"),
        ("/access-keys", "post"),
        ("/access-keys/{id}", "delete"),
        ("/access-keys/activate", "post"),
        ("/collections", "get"),
        ("/collections", "post"),
        ("/collections/{id}", "put"),
        ("/collections/{id}/close", "post"),
        ("/collections/{id}/progress", "get"),
        ("/collections/{id}/submissions", "get"),
        ("/collections/{id}/submissions", "post"),
        ("/submissions/{id}", "get"),
        ("/submissions/{id}/submit", "post"),
        ("/submissions/{id}/file", "get"),
        ("/submissions/{id}/files/{file_id}", "get"),
        ("/submissions/{id}/status", "post"),
        ("/documents", "get"),
        ("/areas/{slug}/documents", "post"),
        ("/documents/{id}/file", "get"),
        ("/feedback", "get"),
        ("/feedback", "post"),
        ("/audit", "get"),
        ("/audit.csv", "get"),
        // Sessions and API tokens (issue 13).
        ("/me/sessions", "get"),
        ("/me/sessions/{id}", "delete"),
        ("/users/{id}/sign-out", "post"),
        ("/users/{id}/api-tokens", "get"),
        ("/api-tokens", "get"),
        ("/api-tokens", "post"),
        ("/api-tokens/{id}", "delete"),
        // The regulator's side (issue 15).
        ("/organisations/{id}", "patch"),
        ("/users/{id}/resend-invitation", "post"),
        // Queries on a submission (issue 16).
        ("/submissions/{id}/queries", "get"),
        ("/submissions/{id}/queries", "post"),
        ("/queries/{id}/messages", "post"),
        ("/queries/{id}/close", "post"),
        ("/queries", "get"),
        ("/submissions/{id}/sign-off", "post"),
        ("/submissions/{id}/validation", "get"),
        ("/submissions/{id}/validation.csv", "get"),
        ("/openapi.json", "get"),
    ];
    let mut described = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                described.push((path.clone(), method));
            }
        }
    }
    for (path, method) in expected {
        assert!(
            described.contains(&(path.to_owned(), method)),
            "{method} {path} is not described"
        );
    }
    assert_eq!(described.len(), expected.len(), "described: {described:?}");
    // Every described operation is routed: never the fallback's 404 nor a 405.
    let c = app.client();
    for (path, method) in &described {
        let url = app.url(&format!(
            "/api/v1{}",
            path.replace("{id}", &uuid::Uuid::new_v4().to_string())
                .replace("{user_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{file_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{slug}", "heses")
        ));
        let req = match *method {
            "get" => c.get(url),
            "post" => c.post(url),
            "put" => c.put(url),
            "patch" => c.patch(url),
            _ => c.delete(url),
        };
        let status = req
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            status != 404 && status != 405,
            "{method} {path} answered {status}"
        );
    }
    // And the API defines its routes only through the annotated router.
    let api_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/src/api");
    for entry in std::fs::read_dir(api_dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let plain = text.matches(".route(").count();
        let allowed = usize::from(path.ends_with("mod.rs"));
        assert_eq!(
            plain,
            allowed,
            "{} adds routes outside the OpenAPI router",
            path.display()
        );
    }
}
