//! `portal import-legacy` (issue 4, done-when 5): the old portal's accounts,
//! through the real binary where its output matters and through the use case
//! where the roles do.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use app::Clock;
use app::legacy_import::{ImportError, ImportSummary, NoProgress};
use domain::AreaSlug;
use domain::audit::Outcome;
use domain::role::{Area, AreaKind};
use sha2::{Digest, Sha256};
use testkit::TestApp;
use time::macros::datetime;

use super::cli::{portal, run};

testkit::both_backends!(
    a_hundred_thousand_users_import_and_a_second_run_changes_nothing,
    one_bad_row_in_a_big_file_imports_nothing_and_names_its_line,
    every_bad_row_is_reported_including_addresses_of_other_organisations,
    old_portal_flags_and_areas_become_the_new_portals_roles,
    welcome_emails_are_queued_only_with_notify,
);

const HEADER: &str = "ukprn,provider_name,email,title,first_name,last_name,expires_on,locked,user_administrator,areas,legacy_roles\n";

const DATA_RETURN_AREAS: [&str; 6] = [
    "annual-fee-information",
    "annual-financial-return",
    "capital-funding",
    "heses",
    "medical-and-dental-students",
    "prevent",
];

/// A generated export of `n` users at `providers` providers, and how many roles
/// it grants. Provider names need quoting (a comma and quotes); memberships,
/// flags and expiry dates vary from row to row.
fn generate(n: usize, providers: usize) -> (String, usize) {
    let mut csv = String::with_capacity(n * 160);
    csv.push_str(HEADER);
    let mut roles = 0;
    for i in 0..n {
        let p = i % providers;
        let mut areas: BTreeSet<&str> = DATA_RETURN_AREAS
            .iter()
            .enumerate()
            .filter(|(k, _)| (i >> k) & 1 == 1 && *k != i % 6)
            .map(|(_, a)| *a)
            .collect();
        let admin = i % 100 == 0;
        let contributor = i % 3 == 0;
        let listed = areas.iter().copied().collect::<Vec<_>>().join(";");
        if contributor {
            areas.insert("annual-financial-return");
        }
        roles += areas.len() + usize::from(admin);
        writeln!(
            csv,
            "{},\"Provider {p}, \"\"Trading\"\" Ltd\",user{i}@p{p}.example.ac.uk,{},First{i},Last{i},{},{},{},{listed},{}",
            10_100_000 + p,
            if i % 7 == 0 { "Dr" } else { "" },
            if i % 10 == 0 { "2027-07-31" } else { "" },
            if i % 50 == 0 { "true" } else { "false" },
            if admin { "yes" } else { "no" },
            if contributor { "Collection contributor" } else { "" },
        )
        .unwrap();
    }
    (csv, roles)
}

/// Writes a file for the binary; the directory lives as long as the test.
fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// `portal import-legacy FILE [extra…]` against the test's database:
/// (exit code, stdout, stderr).
async fn import_cli(
    app: &TestApp,
    dir: &Path,
    file: &Path,
    extra: &[&str],
) -> (i32, String, String) {
    let mut c = portal();
    c.env("PORTAL_DATABASE_URL", app.db.process_url())
        .env("PORTAL_MAIL_DIR", dir.join("mail"))
        .arg("import-legacy")
        .arg(file)
        .args(extra);
    run(c).await
}

/// The same, through the use case.
async fn import(app: &TestApp, csv: &str, notify: bool) -> Result<ImportSummary, ImportError> {
    app.portal
        .app
        .import_legacy(
            csv.as_bytes(),
            notify,
            &app::RequestMeta::operator("test"),
            &NoProgress,
        )
        .await
}

fn rejected(result: Result<ImportSummary, ImportError>) -> Vec<String> {
    match result {
        Err(ImportError::Rejected(lines)) => lines.iter().map(ToString::to_string).collect(),
        Err(ImportError::Failed(e)) => panic!("failed instead of rejecting: {e:?}"),
        Ok(s) => panic!("imported a bad file: {s:?}"),
    }
}

async fn role_names(app: &TestApp, email: &str) -> Vec<String> {
    let user = app.user_record(email).await;
    app.store()
        .user_roles(user.id)
        .await
        .unwrap()
        .iter()
        .map(store::RoleGrant::name)
        .collect()
}

async fn a_hundred_thousand_users_import_and_a_second_run_changes_nothing(app: TestApp) {
    const USERS: usize = 100_000;
    const PROVIDERS: usize = 400;
    // One provider exists already: it is used, not created again.
    app.user("10100007", "already@p7.example.ac.uk", &["portal-admin"])
        .await;
    let (csv, roles) = generate(USERS, PROVIDERS);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "export.csv", &csv);
    let sha256 = hex(&Sha256::digest(csv.as_bytes()));

    let (code, out, err) = import_cli(&app, dir.path(), &file, &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    println!("{}: first run: {out}", app.db.store.backend_name());
    assert!(
        out.contains(&format!(
            "{USERS} rows: {USERS} created, 0 updated, 0 unchanged; {roles} roles granted; {} providers created; 0 welcome emails queued; ",
            PROVIDERS - 1
        )),
        "{out}"
    );
    assert!(
        regex::Regex::new(r"[\d.]+ s, \d+ users/s")
            .unwrap()
            .is_match(&out),
        "the rate is reported: {out}"
    );
    let after_first = app.snapshot().await;
    assert_eq!(after_first["users"].len(), USERS + 1);
    assert_eq!(after_first["user_roles"].len(), roles + 1);
    assert_eq!(after_first["organisations"].len(), PROVIDERS);
    assert_eq!(
        after_first["outbox"].len(),
        1,
        "only the existing user's welcome: none without --notify"
    );
    let locked = after_first["users"]
        .iter()
        .filter(|u| u.contains("locked: true"))
        .count();
    assert_eq!(locked, USERS / 50);

    let (code, out, err) = import_cli(&app, dir.path(), &file, &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    println!("{}: second run: {out}", app.db.store.backend_name());
    assert!(
        out.contains(&format!(
            "{USERS} rows: 0 created, 0 updated, {USERS} unchanged; 0 roles granted; 0 providers created; "
        )),
        "{out}"
    );
    assert!(
        app.snapshot().await == after_first,
        "the second run changed the database"
    );

    // One audit row per run, with the counts and the file's hash, in the chain.
    let runs: Vec<_> = app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.entry.action == "import_legacy")
        .collect();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.entry.outcome == Outcome::Success));
    assert!(
        runs[0]
            .entry
            .detail
            .starts_with(&format!("rows={USERS} created={USERS} updated=0 ")),
        "{}",
        runs[0].entry.detail
    );
    assert!(runs[1].entry.detail.contains("created=0 updated=0 "));
    assert!(runs.iter().all(|r| r.entry.detail.ends_with(&sha256)));
    let keys = app.portal.app.chain_keys(&[]);
    let chain = app.portal.app.verify_audit_chain(&keys).await.unwrap();
    assert_eq!(chain.first_broken, None);
}

async fn one_bad_row_in_a_big_file_imports_nothing_and_names_its_line(app: TestApp) {
    app.user("10100001", "already@p1.example.ac.uk", &["portal-admin"])
        .await;
    let (csv, _) = generate(60_000, 100);
    // Line 1 is the header, so line N holds user N - 2.
    let csv = csv.replace(
        "user57340@p40.example.ac.uk",
        "user57340.at.p40.example.ac.uk",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "export.csv", &csv);
    let before = app.snapshot().await;

    let (code, out, err) = import_cli(&app, dir.path(), &file, &["--notify"]).await;
    assert_ne!(code, 0, "{out}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(
        lines,
        [
            "line 57342: email \"user57340.at.p40.example.ac.uk\": Enter an email address in the correct format, like name@example.ac.uk"
        ],
        "{err}"
    );
    assert!(
        err.contains("1 bad row(s)") && err.contains("nothing was imported"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
    assert!(
        app.snapshot().await == before,
        "a rejected file changed the database"
    );
    // The refusal itself is audited.
    let last = app.audit().await.pop().unwrap();
    assert_eq!(last.entry.action, "import_legacy");
    assert_eq!(last.entry.outcome, Outcome::Refused);
    assert!(last.entry.detail.starts_with("bad_rows=1 sha256="));
}

async fn every_bad_row_is_reported_including_addresses_of_other_organisations(app: TestApp) {
    app.user("10000001", "taken@one.example.ac.uk", &[]).await;
    app.user("10000002", "mine@two.example.ac.uk", &[]).await;
    let before = app.snapshot().await;
    let csv = format!(
        "{HEADER}\
         10000002,Two,mine@two.example.ac.uk,,Mine,Two,,false,false,heses,\n\
         10000002,Two,TAKEN@one.example.ac.uk,,Taken,Elsewhere,,false,false,,\n\
         10000003,\"New\nProvider\",new@three.example.ac.uk,,New,,2027-02-30,no,no,,\n\
         10000003,Three,Mine@Two.example.ac.uk,,Dup,Licate,,0,1,heses;nowhere,Editor\n"
    );
    let lines = rejected(import(&app, &csv, false).await);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[0],
        "line 3: TAKEN@one.example.ac.uk already has an account at another organisation, Provider 10000001 (UKPRN 10000001)"
    );
    assert!(lines[1].starts_with("line 4: "), "{}", lines[1]);
    for part in [
        "provider_name contains a control character",
        "last_name is empty",
        "expires_on \"2027-02-30\"",
    ] {
        assert!(lines[1].contains(part), "{part}: {}", lines[1]);
    }
    // The quoted newline made line 4 two lines long.
    assert!(lines[2].starts_with("line 6: "), "{}", lines[2]);
    for part in [
        "Mine@Two.example.ac.uk is also on line 2",
        "unknown area \"nowhere\"",
        "unknown legacy role \"Editor\"",
    ] {
        assert!(lines[2].contains(part), "{part}: {}", lines[2]);
    }
    assert!(app.snapshot().await == before);
    // Fixed, the same file imports.
    let fixed = format!(
        "{HEADER}\
         10000002,Two,mine@two.example.ac.uk,,Mine,Two,,false,false,heses,\n\
         10000003,New Provider,new@three.example.ac.uk,,New,Person,2027-02-28,no,no,,\n"
    );
    let s = import(&app, &fixed, false).await.unwrap();
    assert_eq!(
        (s.rows, s.created, s.updated, s.providers_created),
        (2, 1, 1, 1)
    );
}

async fn old_portal_flags_and_areas_become_the_new_portals_roles(app: TestApp) {
    // A sensitive communication area: its memberships were obtained with access
    // keys in the old portal, and are carried over.
    let mut tx = app.store().begin().await.unwrap();
    tx.insert_area(&Area {
        slug: AreaSlug::parse("board-papers").unwrap(),
        name: "Board papers".into(),
        kind: AreaKind::Communication,
        sensitive: true,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Someone already in the new portal, with a role granted there, and locked there.
    app.user(
        "10000010",
        "known@ten.example.ac.uk",
        &["delegated-portal-admin"],
    )
    .await;
    app.sql("UPDATE users SET locked = TRUE WHERE email_norm = 'known@ten.example.ac.uk'")
        .await;

    let csv = format!(
        "{HEADER}\
         10000010,Ignored Name,admin@ten.example.ac.uk,Dr,Ada,Admin,,false,true,,\n\
         10000010,Ignored Name,finance@ten.example.ac.uk,,Fin,Ance,,false,false,,Collection contributor\n\
         10000011,Eleven College,member@eleven.example.ac.uk,,Mem,Ber,,false,false,heses; prevent ;board-papers,\n\
         10000011,Eleven College,gone@eleven.example.ac.uk,,Gone,Away,2027-07-31,true,false,,\n\
         10000010,Ignored Name,Known@Ten.example.ac.uk,Ms,Kay,Nown,,false,false,heses,\n"
    );
    let s = import(&app, &csv, false).await.unwrap();
    assert_eq!(
        (
            s.rows,
            s.created,
            s.updated,
            s.unchanged,
            s.roles_granted,
            s.providers_created
        ),
        (5, 4, 1, 0, 6, 1)
    );
    assert_eq!(
        role_names(&app, "admin@ten.example.ac.uk").await,
        ["Portal Administrator"]
    );
    assert_eq!(
        role_names(&app, "finance@ten.example.ac.uk").await,
        ["Data collection contributor - Annual Financial Return"]
    );
    assert_eq!(
        role_names(&app, "member@eleven.example.ac.uk").await,
        [
            "Area member - Board papers",
            "Data collection contributor - HESES",
            "Data collection contributor - Prevent"
        ]
    );
    assert!(
        role_names(&app, "gone@eleven.example.ac.uk")
            .await
            .is_empty()
    );
    let gone = app.user_record("gone@eleven.example.ac.uk").await;
    assert!(gone.locked);
    assert_eq!(gone.expires_at, Some(datetime!(2027-07-31 22:59:59 UTC)));
    let admin = app.user_record("admin@ten.example.ac.uk").await;
    assert!(!admin.locked && admin.expires_at.is_none() && admin.access_enabled);
    assert_eq!(admin.display_name(), "Dr Ada Admin");
    assert!(!admin.has_password, "old passwords are not imported");
    // The existing user: details from the file, roles only added, the lock kept.
    let known = app.user_record("known@ten.example.ac.uk").await;
    assert_eq!(known.display_name(), "Ms Kay Nown");
    assert_eq!(
        known.email.as_str(),
        "known@ten.example.ac.uk",
        "the address stays as entered"
    );
    assert!(known.locked, "the import never unlocks");
    assert_eq!(
        role_names(&app, "known@ten.example.ac.uk").await,
        [
            "Data collection contributor - HESES",
            "Delegated - Portal Administrator"
        ]
    );
    // Providers: an existing one keeps its name, a new one has the file's.
    let ten = app
        .store()
        .organisation_by_ukprn(&domain::Ukprn::parse("10000010").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ten.name, "Provider 10000010");
    let eleven = app
        .store()
        .organisation_by_ukprn(&domain::Ukprn::parse("10000011").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(eleven.name, "Eleven College");
    assert_eq!(eleven.kind, domain::OrganisationKind::Provider);
    assert_eq!(gone.organisation_id, eleven.id);

    // Again: nothing to do.
    let before = app.snapshot().await;
    let s = import(&app, &csv, false).await.unwrap();
    assert_eq!(
        (s.created, s.updated, s.unchanged, s.roles_granted),
        (0, 0, 5, 0)
    );
    assert!(app.snapshot().await == before);
    // A later export: a new area and a changed expiry are applied; a role
    // dropped from the file and a cleared lock are not taken away.
    let later = csv
        .replace(",heses; prevent ;board-papers,", ",capital-funding,")
        .replace("2027-07-31,true", "2028-01-31,false");
    let s = import(&app, &later, false).await.unwrap();
    assert_eq!(
        (s.created, s.updated, s.unchanged, s.roles_granted),
        (0, 2, 3, 1)
    );
    assert_eq!(
        role_names(&app, "member@eleven.example.ac.uk").await.len(),
        4
    );
    let gone = app.user_record("gone@eleven.example.ac.uk").await;
    assert!(gone.locked);
    assert_eq!(gone.expires_at, Some(datetime!(2028-01-31 23:59:59 UTC)));
}

async fn welcome_emails_are_queued_only_with_notify(app: TestApp) {
    app.user("10000020", "known@twenty.example.ac.uk", &[])
        .await;
    let sent_before = app.mailer.count();
    let dir = tempfile::tempdir().unwrap();
    let quiet = write(
        dir.path(),
        "quiet.csv",
        &format!(
            "{HEADER}\
             10000020,Twenty,quiet@twenty.example.ac.uk,,Quiet,One,,false,false,heses,\n"
        ),
    );
    let (code, out, err) = import_cli(&app, dir.path(), &quiet, &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 welcome emails queued"), "{out}");
    assert_eq!(app.deliver_mail().await, 0);

    let loud = write(
        dir.path(),
        "loud.csv",
        &format!(
            "{HEADER}\
             10000020,Twenty,known@twenty.example.ac.uk,,Known,Person,,false,false,prevent,\n\
             10000020,Twenty,quiet@twenty.example.ac.uk,,Quiet,One,,false,false,heses,\n\
             10000021,Twenty-One,New.One@twentyone.example.ac.uk,Dr,New,One,,false,true,,\n\
             10000021,Twenty-One,new.two@twentyone.example.ac.uk,,New,Two,,false,false,,\n"
        ),
    );
    let (code, out, err) = import_cli(&app, dir.path(), &loud, &["--notify"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 created, 1 updated, 1 unchanged"), "{out}");
    assert!(out.contains("2 welcome emails queued"), "{out}");
    // Sealed at rest like every other email, and sent by the worker (whose
    // clock must reach the binary's, which is the real one).
    let outbox = app.store().outbox().await.unwrap();
    assert!(
        outbox
            .iter()
            .all(|m| m.body.starts_with("sealed:v1:") || m.sent_at.is_some())
    );
    let behind = time::OffsetDateTime::now_utc() - app.clock.now();
    if behind.is_positive() {
        app.clock.advance(behind + time::Duration::minutes(1));
    }
    assert_eq!(app.deliver_mail().await, 2);
    assert_eq!(app.mailer.count(), sent_before + 2);
    let welcome = app.mailer.sent_to("New.One@twentyone.example.ac.uk");
    assert_eq!(welcome.len(), 1);
    assert_eq!(welcome[0].to, "New.One@twentyone.example.ac.uk");
    assert_eq!(welcome[0].subject, "You have a Provider Portal account");
    assert!(
        welcome[0].body.contains("Dear Dr New One"),
        "{}",
        welcome[0].body
    );
    assert!(
        welcome[0].body.contains("at Twenty-One"),
        "{}",
        welcome[0].body
    );
    assert_eq!(
        app.mailer.sent_to("new.two@twentyone.example.ac.uk").len(),
        1
    );
    assert_eq!(
        app.mailer.sent_to("known@twenty.example.ac.uk").len(),
        1,
        "only the welcome of the account's creation"
    );
    assert!(app.mailer.sent_to("quiet@twenty.example.ac.uk").is_empty());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
