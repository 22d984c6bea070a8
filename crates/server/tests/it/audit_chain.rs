//! The keyed audit chain (issue 13): `portal audit verify` finds rows edited,
//! a tail recomputed without the key, rows cut off the end after an export,
//! and the record of where the keyed chain starts being moved; an existing
//! trail is re-keyed from a stated row; a rotated key is checked with the
//! previous one.

use domain::audit::{ChainKey, GENESIS, Link};
use testkit::{Backend, TestApp};

use crate::cli::{portal, run};

testkit::both_backends!(
    a_row_edited_after_it_was_written_is_reported,
    a_tail_recomputed_without_the_key_is_reported_and_with_it_is_not,
    rows_cut_off_the_end_are_reported_against_an_export,
    moving_where_the_keyed_chain_starts_is_reported,
    an_unkeyed_trail_from_before_is_keyed_from_the_next_row,
    after_a_key_rotation_the_earlier_rows_verify_with_the_previous_key,
);

/// `portal audit verify [args…]` on the test app's database; (exit code, stdout).
async fn verify(app: &TestApp, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut c = portal();
    c.env("PORTAL_DATABASE_URL", app.db.process_url())
        .args(["audit", "verify"])
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let (code, out, err) = run(c).await;
    (code, format!("{out}{err}"))
}

/// Some history: sign-ins, a role change, a refusal.
async fn history(app: &TestApp) {
    app.user("10000061", "chain-admin@example.ac.uk", &["portal-admin"])
        .await;
    app.user("10000061", "chain-user@example.ac.uk", &[]).await;
    for _ in 0..3 {
        app.api_sign_in("chain-admin@example.ac.uk").await;
    }
    app.api_sign_in("chain-user@example.ac.uk").await;
    assert!(app.last_audit_seq().await >= 6);
}

/// Lets this test change audit rows, as someone with the database owner's rights could.
async fn allow_tampering(app: &TestApp) {
    match app.backend {
        Backend::Sqlite => {
            for t in [
                "audit_log_no_update",
                "audit_log_no_delete",
                "audit_chain_keys_no_update",
                "audit_chain_keys_no_delete",
            ] {
                app.sql(&format!("DROP TRIGGER {t}")).await;
            }
        }
        Backend::Postgres => {
            app.sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
                .await;
            app.sql("ALTER TABLE audit_chain_keys DISABLE TRIGGER audit_chain_keys_kept")
                .await;
        }
    }
}

fn bytes(app: &TestApp, b: &[u8]) -> String {
    match app.backend {
        Backend::Sqlite => format!("X'{}'", hex::encode(b)),
        Backend::Postgres => format!("'\\x{}'::bytea", hex::encode(b)),
    }
}

/// Rewrites rows `from..` as a forger would: row `from`'s detail changed, then
/// every link recomputed with `link`.
async fn recompute_tail(app: &TestApp, from: i64, link: Link<'_>) {
    let rows = app.audit().await;
    let mut prev = rows
        .iter()
        .find(|r| r.entry.seq == from - 1)
        .map_or(GENESIS.to_vec(), |r| r.hash.clone());
    for r in rows.iter().filter(|r| r.entry.seq >= from) {
        let mut entry = r.entry.clone();
        if entry.seq == from {
            entry.detail = "nothing to see here".into();
        }
        let hash = entry.chain_hash(link, &prev);
        app.sql(&format!(
            "UPDATE audit_log SET detail = '{}', prev_hash = {}, hash = {} WHERE seq = {}",
            entry.detail,
            bytes(app, &prev),
            bytes(app, &hash),
            entry.seq
        ))
        .await;
        prev = hash.to_vec();
    }
}

fn development_chain_key() -> ChainKey {
    ChainKey::derive(&testkit::test_config().secret_key().unwrap())
}

async fn a_row_edited_after_it_was_written_is_reported(app: TestApp) {
    history(&app).await;
    let (code, out) = verify(&app, &[], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit trail intact"), "{out}");
    allow_tampering(&app).await;
    app.sql("UPDATE audit_log SET detail = 'portal-admin' WHERE seq = 4")
        .await;
    let (code, out) = verify(&app, &[], &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BROKEN at row 4: its content does not match its hash"),
        "{out}"
    );
    // A broken trail is not exported (its head would vouch for the damage).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let mut c = portal();
    c.env("PORTAL_DATABASE_URL", app.db.process_url())
        .args(["audit", "export"])
        .arg(&file);
    let (code, out, err) = run(c).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("not exported") && err.contains("row 4"),
        "{err}"
    );
    assert!(!file.exists());
}

async fn a_tail_recomputed_without_the_key_is_reported_and_with_it_is_not(app: TestApp) {
    history(&app).await;
    allow_tampering(&app).await;
    // Without the key, a forger can only use plain SHA-256 (what earlier
    // versions kept), or a key of their own.
    recompute_tail(&app, 3, Link::Plain).await;
    let (code, out) = verify(&app, &[], &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BROKEN at row 3: its content does not match"),
        "{out}"
    );
    let own = ChainKey::derive(&domain::otp::SecretKey::new(vec![9u8; 32]).unwrap());
    recompute_tail(&app, 3, Link::Keyed(&own)).await;
    let (code, out) = verify(&app, &[], &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at row 3"), "{out}");
    // With the key it is undetectable: the check rests on the key alone.
    recompute_tail(&app, 3, Link::Keyed(&development_chain_key())).await;
    let (code, out) = verify(&app, &[], &[]).await;
    assert_eq!(code, 0, "{out}");
}

async fn rows_cut_off_the_end_are_reported_against_an_export(app: TestApp) {
    history(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let mut c = portal();
    c.env("PORTAL_DATABASE_URL", app.db.process_url())
        .args(["audit", "export"])
        .arg(&file);
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "{out}{err}");
    let last = app.last_audit_seq().await;
    assert!(out.contains(&format!("{last} rows written")), "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as i64, last + 1);
    let head: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).unwrap();
    assert_eq!(head["chain_head"]["seq"], last);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the export is its owner's only: {mode:o}");
    }
    let against = ["--against", file.to_str().unwrap()];
    let (code, out) = verify(&app, &[], &against).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("matches the export"), "{out}");
    // More rows since the export are fine.
    app.api_sign_in("chain-user@example.ac.uk").await;
    let (code, out) = verify(&app, &[], &against).await;
    assert_eq!(code, 0, "{out}");

    // Cutting the last rows leaves a chain valid as far as it goes…
    allow_tampering(&app).await;
    app.sql(&format!("DELETE FROM audit_log WHERE seq >= {}", last - 1))
        .await;
    let (code, out) = verify(&app, &[], &[]).await;
    assert_eq!(code, 0, "on its own the chain cannot show it: {out}");
    // …which the export shows.
    let (code, out) = verify(&app, &[], &against).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("BROKEN at row {}", last - 1))
            && out.contains("removed from the end"),
        "{out}"
    );

    // An export altered to hide it is refused.
    let forged = text.replace(&format!("\"seq\":{last}"), "\"seq\":1");
    std::fs::write(&file, forged).unwrap();
    let (code, out) = verify(&app, &[], &against).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cannot compare"), "{out}");
}

async fn moving_where_the_keyed_chain_starts_is_reported(app: TestApp) {
    history(&app).await;
    // The portal itself will not change the record.
    for sql in [
        "UPDATE audit_chain_keys SET from_seq = 5",
        "DELETE FROM audit_chain_keys",
    ] {
        assert!(app.db.store.execute_raw(sql).await.is_err(), "{sql}");
    }
    // Claiming the first rows were written before the chain was keyed (so
    // that plain SHA-256 would do for them) needs the key.
    allow_tampering(&app).await;
    app.sql("UPDATE audit_chain_keys SET from_seq = 5").await;
    let (code, out) = verify(&app, &[], &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BROKEN at row 5") && out.contains("altered"),
        "{out}"
    );
    app.sql("DELETE FROM audit_chain_keys").await;
    let (code, out) = verify(&app, &[], &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BROKEN at row 1") && out.contains("where the keyed chain starts"),
        "{out}"
    );
    // And no portal writes to it until someone looks (it fails closed).
    let mut c = portal();
    c.env("PORTAL_DATABASE_URL", app.db.process_url())
        .arg("migrate");
    let (code, out, err) = run(c).await;
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("refusing to write to the audit trail")
            && err.contains("no record of the key"),
        "{err}"
    );
}

async fn an_unkeyed_trail_from_before_is_keyed_from_the_next_row(app: TestApp) {
    history(&app).await;
    // The database as an earlier version left it: a plain SHA-256 chain and
    // no record of a key.
    allow_tampering(&app).await;
    let rows = app.audit().await;
    let mut prev = GENESIS.to_vec();
    for r in &rows {
        let hash = r.entry.chain_hash(Link::Plain, &prev);
        app.sql(&format!(
            "UPDATE audit_log SET prev_hash = {}, hash = {} WHERE seq = {}",
            bytes(&app, &prev),
            bytes(&app, &hash),
            r.entry.seq
        ))
        .await;
        prev = hash.to_vec();
    }
    app.sql("DELETE FROM audit_chain_keys").await;
    let last = rows.len() as i64;

    // No portal writes to it until the operator states where the unkeyed
    // trail ends…
    let mut c = portal();
    c.env("PORTAL_DATABASE_URL", app.db.process_url())
        .arg("migrate");
    let (code, out, err) = run(c).await;
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains(&format!("portal audit adopt-unkeyed --through {last}")),
        "{err}"
    );
    let adopt = |through: i64| {
        let mut c = portal();
        c.env("PORTAL_DATABASE_URL", app.db.process_url()).args([
            "audit",
            "adopt-unkeyed",
            "--through",
            &through.to_string(),
        ]);
        run(c)
    };
    let (code, _, err) = adopt(last - 1).await;
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("ends at row {last}, not row {}", last - 1)),
        "{err}"
    );
    // …and it is adopted only as an unbroken unkeyed chain.
    let (code, out, err) = adopt(last).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("from row {} on the chain is keyed", last + 1)),
        "{out}"
    );
    let (code, _, err) = adopt(last).await;
    assert_ne!(code, 0);
    assert!(err.contains("already kept with a key"), "{err}");
    let mut c = portal();
    c.env("PORTAL_DATABASE_URL", app.db.process_url())
        .args([
            "org",
            "create",
            "--name",
            "Keyed College",
            "--kind",
            "provider",
        ])
        .args(["--ukprn", "10000062"]);
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out) = verify(&app, &[], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("rows 1–{last} were chained without a key"))
            && out.contains(&format!("rows from {} on are keyed", last + 1)),
        "{out}"
    );
    // The first keyed row binds the unkeyed rows before it.
    recompute_tail(&app, 2, Link::Plain).await;
    let (code, out) = verify(&app, &[], &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("BROKEN at row {}", last + 1)),
        "{out}"
    );
}

async fn after_a_key_rotation_the_earlier_rows_verify_with_the_previous_key(app: TestApp) {
    history(&app).await;
    let before = app.last_audit_seq().await;
    // The test app runs with no PORTAL_SECRET_KEY, i.e. the development key.
    assert_eq!(testkit::test_config().secret_key, None);
    let old = "provider-portal-development-key-not-secret-0000";
    let new = "a-rotated-secret-key-of-more-than-32-bytes-0123";
    let mut c = portal();
    c.env("PORTAL_DATABASE_URL", app.db.process_url())
        .env("PORTAL_SECRET_KEY", new)
        .args([
            "org",
            "create",
            "--name",
            "Rotated College",
            "--kind",
            "provider",
        ])
        .args(["--ukprn", "10000063"]);
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out) = verify(&app, &[("PORTAL_SECRET_KEY", new)], &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BROKEN at row 1") && out.contains("not among the keys given"),
        "{out}"
    );
    let (code, out) = verify(
        &app,
        &[
            ("PORTAL_SECRET_KEY", new),
            ("PORTAL_PREVIOUS_SECRET_KEYS", old),
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("rows from {} on are keyed", before + 1)),
        "{out}"
    );
    // Removing the first stretch's record (to pass its rows off as unkeyed)
    // breaks the record after it.
    allow_tampering(&app).await;
    app.sql("DELETE FROM audit_chain_keys WHERE from_seq = 1")
        .await;
    let (code, out) = verify(
        &app,
        &[
            ("PORTAL_SECRET_KEY", new),
            ("PORTAL_PREVIOUS_SECRET_KEYS", old),
        ],
        &[],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("BROKEN at row {}", before + 1)) && out.contains("removed"),
        "{out}"
    );
}
