//! The regulator's pages: add a provider, invite its first Portal Administrator,
//! who then signs in by passcode (seed 001 "User accounts").

use testkit::TestApp;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    the_regulator_adds_a_provider_and_invites_its_accountable_officer,
    providers_cannot_open_the_organisation_pages,
);

async fn the_regulator_adds_a_provider_and_invites_its_accountable_officer(app: TestApp) {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let mut b = page_sign_in(&app, &admin).await;
    assert!(
        b.get("/home")
            .await
            .body
            .contains("href=\"/organisations\"")
    );
    b.get("/organisations/add").await;
    let r = b
        .submit(
            "/organisations/add",
            &[
                ("name", "University of Wessex"),
                ("ukprn", "123"),
                ("accountable_officer_name", ""),
                ("accountable_officer_email", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("8 digits") && r.body.contains("value=\"University of Wessex\""));
    let r = b
        .submit(
            "/organisations/add",
            &[
                ("name", "University of Wessex"),
                ("ukprn", "10000151"),
                ("accountable_officer_name", "Prof Vee Chancellor"),
                ("accountable_officer_email", "vc@wessex.example.ac.uk"),
            ],
        )
        .await;
    let page = r.location().unwrap().to_owned();
    assert!(page.starts_with("/organisations/"));
    let show = b.get(&page).await;
    assert!(
        show.body.contains("University of Wessex") && show.body.contains("Prof Vee Chancellor")
    );
    // Added: said so, and the invitation is ready for the accountable officer.
    assert!(
        show.body.contains("University of Wessex has been added"),
        "{}",
        show.body
    );
    for value in ["Prof", "Vee", "Chancellor", "vc@wessex.example.ac.uk"] {
        assert!(
            show.body.contains(&format!("value=\"{value}\"")),
            "{value}: {}",
            show.body
        );
    }
    let page = page.split('?').next().unwrap().to_owned();
    assert!(
        b.get("/organisations")
            .await
            .body
            .contains("University of Wessex")
    );
    let r = b
        .submit(
            &page,
            &[
                ("title", "Prof"),
                ("first_name", "Vee"),
                ("last_name", "Chancellor"),
                ("email", "vc@wessex.example.ac.uk"),
                ("role", "portal-admin"),
            ],
        )
        .await;
    let back = r.location().unwrap().to_owned();
    assert!(
        b.get(&back)
            .await
            .body
            .contains("Request received for Prof Vee Chancellor")
    );
    app.deliver_mail().await;
    // Support: the regulator's administrator can open the new user's Edit page.
    let vc_id = app.user_record("vc@wessex.example.ac.uk").await.id;
    assert!(
        b.get(&page)
            .await
            .body
            .contains(&format!("href=\"/users/{vc_id}\""))
    );
    // Once the officer has an account, the form is empty again.
    assert!(!b.get(&page).await.body.contains("value=\"Vee\""));
    let edit = b.get(&format!("/users/{vc_id}")).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("Portal Administrator"));
    let mut vc = page_sign_in(&app, "vc@wessex.example.ac.uk").await;
    let home = vc.get("/home").await;
    assert!(
        home.body.contains("University of Wessex") && home.body.contains("Portal Administrator")
    );
}

async fn providers_cannot_open_the_organisation_pages(app: TestApp) {
    let pa = app
        .user("10000152", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let mut b = page_sign_in(&app, &pa).await;
    assert!(
        !b.get("/home")
            .await
            .body
            .contains("href=\"/organisations\"")
    );
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    assert_eq!(b.get("/organisations").await.status, 403);
    assert_eq!(b.get("/organisations/add").await.status, 403);
    assert_eq!(app.snapshot().await, before);
    let rows = app.audit_since(seq).await;
    let actions: Vec<&str> = rows.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(actions, ["organisations.list", "organisations.create"]);
    assert!(
        rows.iter()
            .all(|r| r.entry.outcome == domain::audit::Outcome::Refused)
    );
}
