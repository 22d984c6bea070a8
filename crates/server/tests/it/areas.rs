//! Areas and their members through the API (seed 000 B5, D, E), and copying
//! permissions: the same rules as Edit user, refusals audited and changing nothing.

use serde_json::{Value, json};
use testkit::TestApp;

testkit::both_backends!(
    an_administrator_adds_a_colleague_to_an_area_and_removes_them,
    only_administrators_of_the_same_provider_change_area_members,
    permissions_are_copied_whole_or_not_at_all,
    only_regulator_administrators_define_areas,
);

fn role_ids(user: &Value) -> Vec<String> {
    let mut ids: Vec<String> = user["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn an_administrator_adds_a_colleague_to_an_area_and_removes_them(app: TestApp) {
    let admin = app
        .user("10000601", "admin@areas.example.ac.uk", &["portal-admin"])
        .await;
    let colleague = app
        .user("10000601", "colleague@areas.example.ac.uk", &[])
        .await;
    let admin = app.api_sign_in(&admin).await;
    let id = app.user_record(&colleague).await.id.to_string();
    // E1: the areas.
    let (status, areas) = app.call("GET", "/api/v1/areas", Some(&admin), None).await;
    assert_eq!(status, 200);
    let slugs: Vec<&str> = areas
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["slug"].as_str().unwrap())
        .collect();
    for slug in ["heses", "prevent", "annual-financial-return"] {
        assert!(slugs.contains(&slug), "{slugs:?}");
    }
    assert_eq!(areas[0]["kind"], "data_return");
    assert_eq!(areas[0]["sensitive"], false);
    // E2-E3: add the colleague to HESES.
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/areas/heses/users",
            Some(&admin),
            Some(json!({ "user_id": id })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(role_ids(&body), ["data-collection-contributor:heses"]);
    let (_, members) = app
        .call("GET", "/api/v1/areas/heses/users", Some(&admin), None)
        .await;
    assert_eq!(members["total"], 1);
    assert_eq!(members["items"][0]["email"], colleague);
    // Adding again changes nothing and is not an error.
    let before = app.snapshot().await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/areas/heses/users",
            Some(&admin),
            Some(json!({ "user_id": id })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.snapshot().await, before);
    // B5: remove them again; they are told both times.
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/areas/heses/users/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, members) = app
        .call("GET", "/api/v1/areas/heses/users", Some(&admin), None)
        .await;
    assert_eq!(members["total"], 0);
    app.deliver_mail().await;
    let told: Vec<String> = app
        .mailer
        .sent_to(&colleague)
        .iter()
        .map(|m| m.body.clone())
        .collect();
    assert!(
        told.iter()
            .any(|b| b.contains("Role added: Data collection contributor - HESES"))
    );
    assert!(
        told.iter()
            .any(|b| b.contains("Role removed: Data collection contributor - HESES"))
    );
    let audit: Vec<String> = app
        .audit()
        .await
        .iter()
        .map(|r| r.entry.action.clone())
        .collect();
    assert!(audit.contains(&"areas.add_user".to_owned()));
    assert!(audit.contains(&"areas.remove_user".to_owned()));
}

async fn only_administrators_of_the_same_provider_change_area_members(app: TestApp) {
    let contributor = app
        .user(
            "10000602",
            "contrib@areas2.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let target = app
        .user("10000602", "target@areas2.example.ac.uk", &[])
        .await;
    let dpa = app
        .user(
            "10000602",
            "dpa@areas2.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let pa = app
        .user("10000602", "pa@areas2.example.ac.uk", &["portal-admin"])
        .await;
    let outsider = app
        .user(
            "10000603",
            "admin@elsewhere.example.ac.uk",
            &["portal-admin"],
        )
        .await;
    let target_id = app.user_record(&target).await.id.to_string();
    let pa_id = app.user_record(&pa).await.id.to_string();
    let contributor = app.api_sign_in(&contributor).await;
    let dpa = app.api_sign_in(&dpa).await;
    let outsider = app.api_sign_in(&outsider).await;
    let body = || Some(json!({ "user_id": target_id }));
    // A contributor manages nobody.
    app.refused(
        "POST",
        "/api/v1/areas/heses/users",
        Some(&contributor),
        body(),
        403,
    )
    .await;
    app.refused(
        "GET",
        "/api/v1/areas/heses/users",
        Some(&contributor),
        None,
        403,
    )
    .await;
    // Another provider's administrator: the user does not exist for them.
    app.refused(
        "POST",
        "/api/v1/areas/heses/users",
        Some(&outsider),
        body(),
        404,
    )
    .await;
    app.refused(
        "DELETE",
        &format!("/api/v1/areas/heses/users/{target_id}"),
        Some(&outsider),
        None,
        404,
    )
    .await;
    // An unknown area is not found.
    app.refused(
        "POST",
        "/api/v1/areas/no-such-area/users",
        Some(&dpa),
        body(),
        404,
    )
    .await;
    // A delegated administrator adds contributors, but leaves administrators alone.
    let (status, _) = app
        .call("POST", "/api/v1/areas/prevent/users", Some(&dpa), body())
        .await;
    assert_eq!(status, 200);
    app.refused(
        "POST",
        "/api/v1/areas/prevent/users",
        Some(&dpa),
        Some(json!({ "user_id": pa_id })),
        403,
    )
    .await;
    // The change is emailed to the person it changed.
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(&target)
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
}

async fn permissions_are_copied_whole_or_not_at_all(app: TestApp) {
    let pa = app
        .user("10000604", "pa@copy.example.ac.uk", &["portal-admin"])
        .await;
    let dpa = app
        .user(
            "10000604",
            "dpa@copy.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let source = app
        .user(
            "10000604",
            "source@copy.example.ac.uk",
            &[
                "data-collection-contributor:heses",
                "data-collection-contributor:prevent",
            ],
        )
        .await;
    let target = app
        .user(
            "10000604",
            "target@copy.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let outsider = app
        .user("10000605", "outsider@copy.example.ac.uk", &[])
        .await;
    let pa_token = app.api_sign_in(&pa).await;
    let dpa_token = app.api_sign_in(&dpa).await;
    let id = |email: String| {
        let app = &app;
        async move { app.user_record(&email).await.id.to_string() }
    };
    let (source_id, target_id, pa_id, dpa_id, outsider_id) = (
        id(source).await,
        id(target.clone()).await,
        id(pa.clone()).await,
        id(dpa).await,
        id(outsider).await,
    );
    // D1-D3: a delegated administrator copies contributor roles.
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/users/{source_id}/copy-roles"),
            Some(&dpa_token),
            Some(json!({ "to_user_id": target_id })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], target);
    assert_eq!(
        role_ids(&body),
        [
            "data-collection-contributor:heses",
            "data-collection-contributor:prevent"
        ]
    );
    // Copying the Portal Administrator's roles is beyond a delegate: nothing is copied.
    let answer = app
        .refused(
            "POST",
            &format!("/api/v1/users/{pa_id}/copy-roles"),
            Some(&dpa_token),
            Some(json!({ "to_user_id": target_id })),
            403,
        )
        .await;
    assert!(
        answer["message"].as_str().unwrap().contains("Delegated"),
        "{answer}"
    );
    // Nobody copies onto themselves (rule 3), nor to another provider's user.
    app.refused(
        "POST",
        &format!("/api/v1/users/{source_id}/copy-roles"),
        Some(&dpa_token),
        Some(json!({ "to_user_id": dpa_id })),
        403,
    )
    .await;
    app.refused(
        "POST",
        &format!("/api/v1/users/{source_id}/copy-roles"),
        Some(&pa_token),
        Some(json!({ "to_user_id": outsider_id })),
        404,
    )
    .await;
    // The change is emailed to the person it changed.
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(&target)
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
}

async fn only_regulator_administrators_define_areas(app: TestApp) {
    let pa = app
        .user("10000606", "pa@define.example.ac.uk", &["portal-admin"])
        .await;
    let regulator = app
        .regulator_user("areas@ofs.example.org", &["regulator-admin"])
        .await;
    let pa = app.api_sign_in(&pa).await;
    let regulator = app.api_sign_in(&regulator).await;
    let area = json!({"slug": "board-papers", "name": "Board papers", "kind": "communication"});
    app.refused("POST", "/api/v1/areas", Some(&pa), Some(area.clone()), 403)
        .await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/areas",
            Some(&regulator),
            Some(area.clone()),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["sensitive"], false);
    // Twice, or badly, is refused field by field.
    let answer = app
        .refused("POST", "/api/v1/areas", Some(&regulator), Some(area), 400)
        .await;
    assert!(answer["fields"]["slug"].is_string());
    let bad = json!({"slug": "Bad Slug", "name": "", "kind": "other"});
    let answer = app
        .refused("POST", "/api/v1/areas", Some(&regulator), Some(bad), 400)
        .await;
    for field in ["slug", "name", "kind"] {
        assert!(answer["fields"][field].is_string(), "{field}: {answer}");
    }
    // A provider's member role for a communication area.
    let (_, roles) = app.call("GET", "/api/v1/roles", Some(&pa), None).await;
    assert!(
        roles
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "area-member:board-papers" && r["grantable"] == true)
    );
}
