//! Backup and restore (issue 14), through the real binary: `portal backup`
//! while a write load runs against a serving portal, `portal restore` into a
//! new, empty database, then counts as in the manifest, every user signs in,
//! every file downloads byte-identical, and `portal audit verify` passes.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};
use testkit::Backend;

use crate::object_storage::{ADMIN, CONTRIBUTOR, OFFICER, PA, Settings, World};

testkit::both_backends!(
    ;
    raw:
    a_backup_taken_under_load_restores_whole_into_an_empty_database,
);

/// A new, empty database of its own: a SQLite file, or a PostgreSQL database
/// (not a schema: `pg_dump` dumps a database), dropped with this value.
struct Database {
    url: String,
    drop_pg: Option<(String, String)>,
}

impl Database {
    async fn new(backend: Backend, dir: &Path, name: &str) -> Self {
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}/{name}.db", dir.display()),
                drop_pg: None,
            },
            Backend::Postgres => {
                let admin = std::env::var("PORTAL_TEST_POSTGRES_URL").unwrap();
                let db = format!("portal_{name}_{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::PgPool::connect(&admin).await.unwrap();
                sqlx::raw_sql(&format!("CREATE DATABASE {db}"))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                let (base, _) = admin.split_once('?').unwrap_or((&admin, ""));
                let (server, _) = base.rsplit_once('/').unwrap();
                Self {
                    url: format!("{server}/{db}"),
                    drop_pg: Some((admin, db)),
                }
            }
        }
    }

    /// Every user's email, read straight from the database.
    async fn emails(&self) -> Vec<String> {
        const Q: &str = "SELECT email FROM users ORDER BY email";
        if self.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            let e = sqlx::query_scalar(Q).fetch_all(&pool).await.unwrap();
            pool.close().await;
            e
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let e = sqlx::query_scalar(Q).fetch_all(&pool).await.unwrap();
            pool.close().await;
            e
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let Some((admin, db)) = self.drop_pg.take() else {
            return;
        };
        // Drop cannot await: a runtime of its own, in a thread of its own.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                        let _ =
                            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                                .execute(&pool)
                                .await;
                        pool.close().await;
                    }
                });
        })
        .join();
    }
}

/// A portal on `db` keeping its files in `files`, without demonstration
/// data or a sign-in limit that the test would reach.
fn settings(db: &Database, files: &Path) -> Settings {
    Settings::default()
        .with("PORTAL_DATABASE_URL", &db.url)
        .with("PORTAL_FILES_DIR", files)
        .with("PORTAL_DEMO", "false")
        .with("PORTAL_SIGN_IN_PER_IP_PER_MINUTE", "100000")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir` is private to its owner.
fn assert_private(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            assert_private(&p);
        } else {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

/// A surname for the `i`-th user: letters only.
fn letters(mut i: usize) -> String {
    let mut s = String::from("Tester");
    loop {
        s.push(char::from(b'a' + (i % 26) as u8));
        i /= 26;
        if i == 0 {
            return s;
        }
    }
}

/// Waits (up to 60 s) until the load has done `n` rounds; a load that failed
/// fails the test with its own message.
async fn wait_for_rounds(rounds: &AtomicUsize, n: usize, load: &mut tokio::task::JoinHandle<()>) {
    for _ in 0..1200 {
        if rounds.load(Ordering::Relaxed) >= n {
            return;
        }
        if load.is_finished() {
            (&mut *load).await.unwrap();
            panic!(
                "the load stopped after {} rounds",
                rounds.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the load did not reach {n} rounds in 60 s");
}

async fn a_backup_taken_under_load_restores_whole_into_an_empty_database(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let source = Database::new(backend, dir.path(), "source").await;
    let s = settings(&source, &dir.path().join("files"));
    World::create(&s).await;
    let served = Arc::new(s.serve(&dir.path().join("mail")).await);
    let admin = served.sign_in(ADMIN).await;
    let pa = served.sign_in(PA).await;
    let contributor = served.sign_in(CONTRIBUTOR).await;
    let window = served.open_window(&admin).await;
    let me: Value = served
        .http
        .get(served.url("/api/v1/me"))
        .bearer_auth(&contributor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let contributor_id = me["id"].as_str().unwrap().to_owned();

    // The write load: a new user, an upload and a role change, again and again.
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let load = {
        let (served, stop, rounds) = (served.clone(), stop.clone(), rounds.clone());
        let window = window.clone();
        tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) && i < 200 {
                let r = served
                    .http
                    .post(served.url("/api/v1/users"))
                    .bearer_auth(&pa)
                    .json(
                        &json!({"title": "Dr", "first_name": "Load", "last_name": letters(i),
                                  "email": format!("load{i}@provider.example.ac.uk")}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
                let csv = format!("ukprn,round\n10000801,{i}\n");
                let (status, answer) = served
                    .upload(&contributor, &window, "heses.csv", csv.into_bytes().into())
                    .await;
                assert_eq!(status, 201, "{answer}");
                let mut roles = vec!["data-collection-contributor:heses"];
                if i.is_multiple_of(2) {
                    roles.push("data-collection-contributor:prevent");
                }
                let r = served
                    .http
                    .put(served.url(&format!("/api/v1/users/{contributor_id}/roles")))
                    .bearer_auth(&pa)
                    .json(&json!({ "roles": roles }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
                i += 1;
                rounds.store(i, Ordering::Relaxed);
            }
        })
    };
    let mut load = load;
    wait_for_rounds(&rounds, 3, &mut load).await;
    let backup = dir.path().join("backup");
    let backup_arg = backup.to_str().unwrap();
    let (code, out, err) = s.run(&["backup", backup_arg]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backup of the"), "{out}");
    let during = rounds.load(Ordering::Relaxed);
    // The load goes on a little after the backup, then stops.
    wait_for_rounds(&rounds, during + 2, &mut load).await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert_private(&backup);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], 1);
    assert_eq!(
        manifest["database"],
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    let files: BTreeSet<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["sha256"].as_str().unwrap().to_owned())
        .collect();
    assert!(files.len() >= 3, "{manifest}");
    eprintln!(
        "backup under load: {} files, {} users in the snapshot; {during} load rounds done when it ended",
        files.len(),
        manifest["tables"]["users"]
    );
    assert_eq!(manifest["tables"]["stored_files"], files.len());
    // The same directory is never written twice.
    let (code, _, err) = s.run(&["backup", backup_arg]).await;
    assert_ne!(code, 0);
    assert!(err.contains("already holds a backup"), "{err}");

    // Restore into a new, empty database (and a new file directory).
    let target = Database::new(backend, dir.path(), "restored").await;
    let r = settings(&target, &dir.path().join("restored-files"));
    let (code, out, err) = r.run(&["restore", backup_arg]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("the counts match the manifest"), "{out}");
    // Not twice: the database is no longer empty.
    let (code, _, err) = r.run(&["restore", backup_arg]).await;
    assert_ne!(code, 0);
    assert!(err.contains("not empty"), "{err}");
    let (code, out, err) = r.run(&["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("audit trail intact"), "{out}");

    // The restored portal: every user signs in, every file downloads as it was.
    drop(served);
    let emails = target.emails().await;
    assert_eq!(manifest["tables"]["users"], emails.len());
    let restored = r.serve(&dir.path().join("mail-restored")).await;
    let mut officer = String::new();
    for email in &emails {
        let token = restored.sign_in(email).await;
        if email == OFFICER {
            officer = token;
        }
    }
    let list: Value = restored
        .http
        .get(restored.url(&format!("/api/v1/collections/{window}/submissions")))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut downloaded = BTreeSet::new();
    for s in list.as_array().unwrap() {
        let (_, sha) = restored.download(&officer, s["id"].as_str().unwrap()).await;
        assert_eq!(s["sha256"], sha);
        downloaded.insert(sha);
    }
    assert_eq!(
        downloaded, files,
        "the files that download differ from the backup's"
    );
    drop(restored);

    // A damaged backup is refused before anything is loaded.
    let key = manifest["files"][0]["key"].as_str().unwrap();
    let damaged = backup.join("files").join(key);
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&damaged, bytes).unwrap();
    let empty = Database::new(backend, dir.path(), "untouched").await;
    let e = r.clone().with("PORTAL_DATABASE_URL", &empty.url);
    let (code, _, err) = e.run(&["restore", backup_arg]).await;
    assert_ne!(code, 0);
    assert!(err.contains("damaged"), "{err}");
    if backend == Backend::Postgres {
        let pool = sqlx::PgPool::connect(&empty.url).await.unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        assert_eq!(n, 0, "a refused restore changed the database");
        // Without pg_dump on PATH, a PostgreSQL backup says so and writes nothing.
        let nowhere = dir.path().join("no-pg-dump");
        let (code, _, err) = s
            .clone()
            .with("PATH", dir.path())
            .run(&["backup", nowhere.to_str().unwrap()])
            .await;
        assert_ne!(code, 0);
        assert!(err.contains("pg_dump is not on PATH"), "{err}");
        assert!(!nowhere.exists());
    } else {
        assert!(!dir.path().join("untouched.db").exists());
    }
}
