#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The behaviour every backend must show. Each backend's tests call
//! [`conformance_tests!`] with an expression that makes a fresh, migrated store.

use std::sync::Arc;

use domain::audit::{ChainKey, GENESIS, Link, Outcome};
use domain::checks::{ColumnRule, ColumnType, Finding, RuleCount, Severity};
use domain::collection::{FileKind, SubmissionStatus};
use domain::ids::MessageId;
use domain::{AreaSlug, AttemptId, EmailAddress, OrgId, OrganisationKind, Role, Ukprn, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::*;

/// Generates one `#[tokio::test]` per conformance check, each on a fresh store
/// made by `$make` (an `async` expression giving `Option<Arc<dyn Store>>`).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            duplicate_email_is_a_conflict_whatever_its_case,
            duplicate_ukprn_is_a_conflict,
            a_dropped_transaction_changes_nothing,
            no_more_guesses_than_allowed_even_concurrently,
            used_and_expired_attempts_take_no_guess,
            failures_count_up_and_a_lock_starts_them_again,
            outbox_messages_are_leased_retried_and_dead_lettered,
            outbox_messages_are_claimed_and_marked_sent_in_batches,
            audit_rows_are_chained_in_order_even_concurrently,
            sessions_end_one_or_all,
            roles_are_read_back_with_their_area_names,
            users_are_listed_per_organisation_searched_filtered_and_paged,
            users_are_sorted_by_each_column_both_ways_in_a_total_order,
            bulk_import_writes_span_statements_and_read_back,
            windows_are_read_back_listed_newest_first_updated_and_closed,
            submissions_are_read_back_with_their_files_per_organisation_and_window,
            submitting_and_reviewing_record_who_did_what_and_when,
            documents_are_listed_only_for_the_organisations_they_are_shared_with,
            audit_pages_are_filtered_newest_first_and_counted,
            hits_are_counted_up_to_the_limit_even_concurrently_and_windows_start_again,
            outbox_stats_count_the_queue_its_oldest_and_dead_letters,
            a_windows_opening_notice_is_claimed_once_even_concurrently,
            windows_keep_their_rules_and_settings_through_insert_update_and_claim,
            file_checks_and_findings_are_read_back_with_their_submission_in_file_order,
            submitting_keeps_the_explanation_and_late_reason_and_sign_off_happens_once,
            latest_statuses_give_each_organisations_newest_version_only,
            queries_are_raised_answered_listed_by_each_filter_and_closed_once,
            a_reminder_is_claimed_once_per_window_offset_and_closing_even_concurrently,
            snapshots_change_with_every_issue_16_table,
            claimed_reminders_are_listed_and_a_window_is_read_in_its_transaction,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                // `$make` gives `None` where this backend is not configured here.
                let Some(store): Option<std::sync::Arc<dyn $crate::Store>> = $make.await else {
                    return;
                };
                $crate::conformance::$name(store).await;
            }
        )*
    };
}

fn t0() -> OffsetDateTime {
    time::macros::datetime!(2026-03-01 09:00 UTC)
}

async fn org(store: &Arc<dyn Store>, ukprn: &str) -> OrgId {
    let id = OrgId::random();
    let mut tx = store.begin().await.unwrap();
    tx.insert_organisation(&NewOrganisation {
        id,
        kind: OrganisationKind::Provider,
        name: format!("Provider {ukprn}"),
        ukprn: Some(Ukprn::parse(ukprn).unwrap()),
        accountable_officer_name: None,
        accountable_officer_email: None,
        created_at: t0(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn user(store: &Arc<dyn Store>, org: OrgId, email: &str) -> UserId {
    let id = UserId::random();
    let mut tx = store.begin().await.unwrap();
    tx.insert_user(&new_user(id, org, email)).await.unwrap();
    tx.commit().await.unwrap();
    id
}

fn new_user(id: UserId, org: OrgId, email: &str) -> NewUser {
    NewUser {
        id,
        organisation_id: org,
        title: String::new(),
        first_name: "Test".into(),
        last_name: "User".into(),
        email: EmailAddress::parse(email).unwrap(),
        created_at: t0(),
        created_by: None,
    }
}

pub async fn duplicate_email_is_a_conflict_whatever_its_case(store: Arc<dyn Store>) {
    let o = org(&store, "10000001").await;
    user(&store, o, "Ada@Example.ac.uk").await;
    let mut tx = store.begin().await.unwrap();
    let err = tx
        .insert_user(&new_user(UserId::random(), o, "ada@example.AC.UK"))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    drop(tx);
    let found = store
        .user_by_email("ada@example.ac.uk")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.email.as_str(), "Ada@Example.ac.uk", "kept as entered");
}

pub async fn duplicate_ukprn_is_a_conflict(store: Arc<dyn Store>) {
    org(&store, "10000002").await;
    let mut tx = store.begin().await.unwrap();
    let err = tx
        .insert_organisation(&NewOrganisation {
            id: OrgId::random(),
            kind: OrganisationKind::Provider,
            name: "Other".into(),
            ukprn: Some(Ukprn::parse("10000002").unwrap()),
            accountable_officer_name: None,
            accountable_officer_email: None,
            created_at: t0(),
        })
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
}

pub async fn a_dropped_transaction_changes_nothing(store: Arc<dyn Store>) {
    let before = store.snapshot().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.insert_organisation(&NewOrganisation {
        id: OrgId::random(),
        kind: OrganisationKind::Regulator,
        name: "Gone".into(),
        ukprn: None,
        accountable_officer_name: None,
        accountable_officer_email: None,
        created_at: t0(),
    })
    .await
    .unwrap();
    drop(tx);
    assert_eq!(store.snapshot().await.unwrap(), before);
    assert_eq!(store.organisation_count().await.unwrap(), 0);
}

async fn attempt(store: &Arc<dyn Store>, user: Option<UserId>) -> AttemptId {
    let id = AttemptId::random();
    let mut tx = store.begin().await.unwrap();
    tx.insert_attempt(&NewAttempt {
        id,
        email_norm: "a@example.com".into(),
        user_id: user,
        code_hash: Some(vec![1; 32]),
        created_at: t0(),
        expires_at: t0() + Duration::minutes(10),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

pub async fn no_more_guesses_than_allowed_even_concurrently(store: Arc<dyn Store>) {
    let id = attempt(&store, None).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let got = tx.take_guess(id, 5, t0()).await.unwrap();
            tx.commit().await.unwrap();
            got.is_some()
        }));
    }
    let mut granted = 0;
    for t in tasks {
        if t.await.unwrap() {
            granted += 1;
        }
    }
    assert_eq!(granted, 5);
}

pub async fn used_and_expired_attempts_take_no_guess(store: Arc<dyn Store>) {
    let id = attempt(&store, None).await;
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.take_guess(id, 5, t0() + Duration::minutes(10))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    let g = tx.take_guess(id, 5, t0()).await.unwrap().unwrap();
    assert_eq!(g.guesses, 1);
    assert!(tx.consume_attempt(id, t0()).await.unwrap());
    assert!(!tx.consume_attempt(id, t0()).await.unwrap(), "only once");
    assert!(tx.take_guess(id, 5, t0()).await.unwrap().is_none(), "used");
    assert!(
        tx.take_guess(AttemptId::random(), 5, t0())
            .await
            .unwrap()
            .is_none(),
        "unknown"
    );
    tx.commit().await.unwrap();
}

pub async fn failures_count_up_and_a_lock_starts_them_again(store: Arc<dyn Store>) {
    let o = org(&store, "10000003").await;
    let u = user(&store, o, "f@example.com").await;
    let mut tx = store.begin().await.unwrap();
    for n in 1..=3 {
        assert_eq!(tx.add_sign_in_failure(u).await.unwrap(), n);
    }
    tx.lock_sign_in(u, t0() + Duration::minutes(15))
        .await
        .unwrap();
    let rec = tx.user_for_update(u).await.unwrap().unwrap();
    assert_eq!((rec.failed_sign_ins, rec.lock_count), (0, 1));
    assert_eq!(rec.locked_until, Some(t0() + Duration::minutes(15)));
    tx.record_sign_in(u, t0()).await.unwrap();
    tx.commit().await.unwrap();
    let rec = store.user(u).await.unwrap().unwrap();
    assert_eq!(
        (rec.failed_sign_ins, rec.lock_count, rec.locked_until),
        (0, 0, None)
    );
    assert_eq!(rec.last_signed_in_at, Some(t0()));
}

async fn email(store: &Arc<dyn Store>, to: &str, at: OffsetDateTime) -> MessageId {
    let id = MessageId::random();
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_email(&NewEmail {
        id,
        to: to.into(),
        subject: "Hello".into(),
        body: "Body".into(),
        created_at: at,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

pub async fn outbox_messages_are_leased_retried_and_dead_lettered(store: Arc<dyn Store>) {
    let lease = Duration::minutes(1);
    let a = email(&store, "a@example.com", t0()).await;
    let b = email(&store, "b@example.com", t0() + Duration::seconds(1)).await;
    let now = t0() + Duration::seconds(2);
    let first = store.claim_emails(now, lease, 1).await.unwrap().remove(0);
    assert_eq!((first.id, first.attempts), (a, 1));
    let second = store.claim_emails(now, lease, 1).await.unwrap().remove(0);
    assert_eq!(second.id, b);
    assert!(
        store.claim_emails(now, lease, 1).await.unwrap().is_empty(),
        "both leased"
    );
    store.mark_emails_sent(&[a], now).await.unwrap();
    // b's worker died: after the lease, b is due again; a never is.
    let later = now + lease;
    let again = store.claim_emails(later, lease, 1).await.unwrap().remove(0);
    assert_eq!((again.id, again.attempts), (b, 2));
    store
        .mark_email_failed(b, "refused", Some(later + Duration::minutes(5)), later)
        .await
        .unwrap();
    assert!(
        store
            .claim_emails(later + Duration::minutes(4), lease, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let third = store
        .claim_emails(later + Duration::minutes(5), lease, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(third.attempts, 3);
    store
        .mark_email_failed(b, "refused again", None, later)
        .await
        .unwrap();
    assert!(
        store
            .claim_emails(later + Duration::days(9), lease, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let all = store.outbox().await.unwrap();
    assert!(
        all[0].sent_at.is_some() && all[0].body.is_empty(),
        "sent bodies are erased"
    );
    assert!(all[1].dead_at.is_some() && all[1].body.is_empty());
    assert_eq!(all[1].last_error.as_deref(), Some("refused again"));
}

pub async fn outbox_messages_are_claimed_and_marked_sent_in_batches(store: Arc<dyn Store>) {
    let lease = Duration::minutes(1);
    let mut ids = Vec::new();
    for i in 0..5 {
        let to = format!("batch{i}@example.com");
        // Queued newest first: the claim still hands them out oldest first.
        ids.push(email(&store, &to, t0() + Duration::seconds(10 - i)).await);
    }
    ids.reverse();
    let now = t0() + Duration::minutes(1);
    let first: Vec<_> = store.claim_emails(now, lease, 3).await.unwrap();
    assert_eq!(first.iter().map(|m| m.id).collect::<Vec<_>>(), ids[..3]);
    assert!(first.iter().all(|m| m.attempts == 1));
    let rest = store.claim_emails(now, lease, 3).await.unwrap();
    assert_eq!(rest.iter().map(|m| m.id).collect::<Vec<_>>(), ids[3..]);
    assert!(store.claim_emails(now, lease, 3).await.unwrap().is_empty());
    store.mark_emails_sent(&ids[..4], now).await.unwrap();
    store.mark_emails_sent(&[], now).await.unwrap();
    // After the lease only the one not marked sent is due again.
    let again = store.claim_emails(now + lease, lease, 10).await.unwrap();
    assert_eq!(again.iter().map(|m| m.id).collect::<Vec<_>>(), ids[4..]);
    let all = store.outbox().await.unwrap();
    let sent = all
        .iter()
        .filter(|m| ids[..4].contains(&m.id))
        .filter(|m| m.sent_at == Some(now) && m.body.is_empty())
        .count();
    assert_eq!(sent, 4, "sent bodies are erased");
}

// Issue 14, metrics (begin) ---------------------------------------------------

pub async fn outbox_stats_count_the_queue_its_oldest_and_dead_letters(store: Arc<dyn Store>) {
    assert_eq!(store.outbox_stats().await.unwrap(), OutboxStats::default());
    let lease = Duration::minutes(1);
    let a = email(&store, "a@example.com", t0()).await;
    let b = email(&store, "b@example.com", t0() + Duration::seconds(1)).await;
    let c = email(&store, "c@example.com", t0() + Duration::seconds(2)).await;
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(
        (stats.queued, stats.oldest_queued_at, stats.dead),
        (3, Some(t0()), 0)
    );
    // Leased (in the worker's hands) still counts as waiting.
    let now = t0() + Duration::minutes(1);
    assert_eq!(store.claim_emails(now, lease, 3).await.unwrap().len(), 3);
    assert_eq!(store.outbox_stats().await.unwrap().queued, 3);
    store.mark_emails_sent(&[a], now).await.unwrap();
    store
        .mark_email_failed(b, "refused", None, now)
        .await
        .unwrap();
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(
        stats,
        OutboxStats {
            queued: 1,
            oldest_queued_at: Some(t0() + Duration::seconds(2)),
            dead: 1,
        }
    );
    store
        .mark_email_failed(c, "refused", Some(now + lease), now)
        .await
        .unwrap();
    assert_eq!(store.outbox_stats().await.unwrap().queued, 1, "retrying");
    store.mark_emails_sent(&[c], now).await.unwrap();
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(
        (stats.queued, stats.oldest_queued_at, stats.dead),
        (0, None, 1)
    );
}

// Issue 14, metrics (end) -----------------------------------------------------

/// The key test stores keep their audit chain with (`testkit` opens every new
/// test database's chain with it).
pub fn chain_key() -> ChainKey {
    match domain::otp::SecretKey::new(b"store conformance tests: audit chain key".to_vec()) {
        Ok(k) => ChainKey::derive(&k),
        Err(_) => unreachable!("the key is long enough"),
    }
}

/// Panics unless `rows`, from the first, form one unbroken hash chain kept
/// with [`chain_key`].
pub fn assert_chained(rows: &[AuditRecord]) {
    let key = chain_key();
    let mut prev = GENESIS.to_vec();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.entry.seq, i as i64 + 1);
        assert_eq!(r.prev_hash, prev);
        assert_eq!(
            r.hash,
            r.entry.chain_hash(Link::Keyed(&key), &prev).to_vec()
        );
        prev = r.hash.clone();
    }
}

/// An audit event of `action`, at a fixed time, by no one.
pub fn event(action: &str) -> NewAuditEvent {
    NewAuditEvent {
        at: t0(),
        actor_id: None,
        organisation_id: None,
        action: action.into(),
        target: None,
        outcome: Outcome::Success,
        detail: String::new(),
        request_id: None,
        ip: None,
    }
}

pub async fn audit_rows_are_chained_in_order_even_concurrently(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            tx.append_audit(&event(&format!("test.{i}"))).await.unwrap();
            tx.commit().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rows = store.audit_after(0, 100).await.unwrap();
    assert_eq!(rows.len(), 12);
    assert_chained(&rows);
    assert_eq!(store.audit_after(10, 100).await.unwrap().len(), 2);
}

pub async fn sessions_end_one_or_all(store: Arc<dyn Store>) {
    let o = org(&store, "10000004").await;
    let u = user(&store, o, "s@example.com").await;
    let mut tx = store.begin().await.unwrap();
    for h in [[1u8; 32], [2u8; 32], [3u8; 32]] {
        tx.insert_session(&NewSession {
            token_hash: h.to_vec(),
            user_id: u,
            kind: SessionKind::Web,
            created_at: t0(),
        })
        .await
        .unwrap();
    }
    assert!(tx.end_session(&[1u8; 32], t0()).await.unwrap());
    assert!(!tx.end_session(&[1u8; 32], t0()).await.unwrap());
    assert_eq!(tx.end_sessions_of(u, t0()).await.unwrap(), 2);
    tx.commit().await.unwrap();
    let s = store.session(&[2u8; 32]).await.unwrap().unwrap();
    assert_eq!(s.session.ended_at, Some(t0()));
    assert_eq!(s.user.id, u);
    assert_eq!(s.organisation.id, o);
    assert!(
        s.roles.is_empty(),
        "a user without roles still has a session"
    );
    store
        .touch_session(&[2u8; 32], t0() + Duration::minutes(1))
        .await
        .unwrap();
    let s = store.session(&[2u8; 32]).await.unwrap().unwrap();
    assert_eq!(
        s.session.last_seen_at,
        t0(),
        "ended sessions are not touched"
    );
}

pub async fn roles_are_read_back_with_their_area_names(store: Arc<dyn Store>) {
    let o = org(&store, "10000005").await;
    let u = user(&store, o, "r@example.com").await;
    let mut tx = store.begin().await.unwrap();
    for id in ["portal-admin", "data-collection-contributor:heses"] {
        tx.grant_role(&role_grant(u, Role::parse(id).unwrap(), None, t0()))
            .await
            .unwrap();
    }
    // Granting twice is harmless.
    tx.grant_role(&role_grant(u, Role::PortalAdmin, None, t0()))
        .await
        .unwrap();
    tx.insert_session(&NewSession {
        token_hash: vec![5u8; 32],
        user_id: u,
        kind: SessionKind::Api,
        created_at: t0(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let roles = store.user_roles(u).await.unwrap();
    let names: Vec<String> = roles.iter().map(RoleGrant::name).collect();
    assert_eq!(
        names,
        [
            "Data collection contributor - HESES",
            "Portal Administrator"
        ]
    );
    // The session snapshot reads the same roles, in the same order, in one go.
    let s = store.session(&[5u8; 32]).await.unwrap().unwrap();
    assert_eq!(s.roles, roles);
    assert_eq!(s.user.id, u);
    assert_eq!(s.organisation.id, o);
}

pub async fn users_are_listed_per_organisation_searched_filtered_and_paged(store: Arc<dyn Store>) {
    let mine = org(&store, "10000006").await;
    let theirs = org(&store, "10000007").await;
    let mut tx = store.begin().await.unwrap();
    for (first, last, email, role) in [
        (
            "Ada",
            "Lovelace",
            "ada@example.ac.uk",
            &["portal-admin"][..],
        ),
        (
            "Charles",
            "Babbage",
            "charles@example.ac.uk",
            // Two roles: the page's rows for one user are one user.
            &[
                "data-collection-contributor:prevent",
                "data-collection-contributor:heses",
            ],
        ),
        ("Grace", "Hopper", "grace@example.ac.uk", &[]),
        ("Per%cent", "Under_score", "odd@example.ac.uk", &[]),
    ] {
        let id = UserId::random();
        let mut u = new_user(id, mine, email);
        u.first_name = first.into();
        u.last_name = last.into();
        tx.insert_user(&u).await.unwrap();
        for r in role {
            tx.grant_role(&role_grant(id, Role::parse(r).unwrap(), None, t0()))
                .await
                .unwrap();
        }
    }
    tx.insert_user(&new_user(
        UserId::random(),
        theirs,
        "elsewhere@example.ac.uk",
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let list = |q: Option<&str>, role: Option<&str>, offset: i64, limit: i64| {
        let store = store.clone();
        let filter = UserFilter {
            q: q.map(str::to_owned),
            role: role.map(str::to_owned),
            offset,
            limit,
            ..UserFilter::default()
        };
        async move {
            let (items, total) = store.list_users(mine, &filter).await.unwrap();
            (
                items
                    .iter()
                    .map(|u| u.user.last_name.clone())
                    .collect::<Vec<_>>(),
                total,
                items,
            )
        }
    };
    let (names, total, items) = list(None, None, 0, 10).await;
    assert_eq!(
        names,
        ["Babbage", "Hopper", "Lovelace", "Under_score"],
        "only my organisation, by last name"
    );
    assert_eq!(total, 4);
    let babbage = &items[0];
    let names: Vec<String> = babbage.roles.iter().map(|r| r.name()).collect();
    assert_eq!(
        names,
        [
            "Data collection contributor - HESES",
            "Data collection contributor - Prevent"
        ],
        "each of a user's roles, by role id"
    );
    assert!(items[1].roles.is_empty(), "Hopper has none");
    assert_eq!(items[2].roles.len(), 1);
    assert_eq!(
        list(Some("ADA"), None, 0, 10).await.0,
        ["Lovelace"],
        "first name, any case"
    );
    assert_eq!(
        list(Some("ada lov"), None, 0, 10).await.0,
        ["Lovelace"],
        "full name"
    );
    assert_eq!(
        list(Some("grace@"), None, 0, 10).await.0,
        ["Hopper"],
        "email"
    );
    assert_eq!(
        list(Some("elsewhere"), None, 0, 10).await.1,
        0,
        "never another organisation's"
    );
    assert_eq!(
        list(Some("%"), None, 0, 10).await.0,
        Vec::<String>::new(),
        "% is literal"
    );
    assert_eq!(
        list(Some("under_"), None, 0, 10).await.0,
        ["Under_score"],
        "_ is literal"
    );
    assert_eq!(
        list(None, Some("portal-admin"), 0, 10).await.0,
        ["Lovelace"]
    );
    let (page, total, _) = list(None, None, 1, 2).await;
    assert_eq!(
        (page, total),
        (vec!["Hopper".to_owned(), "Lovelace".to_owned()], 4)
    );
    // The last page, a short one, and a page past the end still give the total.
    let (page, total, _) = list(None, None, 3, 2).await;
    assert_eq!((page, total), (vec!["Under_score".to_owned()], 4));
    let (page, total, _) = list(None, None, 8, 2).await;
    assert_eq!((page.len(), total), (0, 4));
    let (page, total, _) = list(Some("gra"), None, 0, 10).await;
    assert_eq!((page, total), (vec!["Hopper".to_owned()], 1), "first name");
    let (page, total, _) = list(None, None, 0, 1).await;
    assert_eq!(
        (page, total),
        (vec!["Babbage".to_owned()], 4),
        "a full page counts"
    );
    let areas = store.areas().await.unwrap();
    assert_eq!(areas.len(), 6);
    assert!(areas.iter().any(|a| a.name == "HESES" && !a.sensitive));
}

/// Every order of a user list is the one the list shows: the column (a
/// status worked out at the list's moment, as `AccountState::status` works it
/// out, in the labels' alphabetical order; "never signed in" before any time),
/// then name, then id; and pages of it never repeat or skip anyone.
pub async fn users_are_sorted_by_each_column_both_ways_in_a_total_order(store: Arc<dyn Store>) {
    let o = org(&store, "10000008").await;
    let at = t0() + Duration::days(30);
    let people = [
        ("Ada", "Lovelace"),
        ("Charles", "babbage"),
        ("Grace", "Hopper"),
        ("Alan", "Turing"),
        ("Edsger", "Dijkstra"),
        ("Barbara", "Liskov"),
        ("Ada", "Lovelace"),
        ("Ada", "lovelace"),
        ("Frances", "Allen"),
        ("Radia", "Perlman"),
    ];
    let mut tx = store.begin().await.unwrap();
    let mut ids = Vec::new();
    for (i, (first, last)) in people.iter().enumerate() {
        let id = UserId::random();
        let mut u = new_user(id, o, &format!("person{i}@example.ac.uk"));
        u.first_name = (*first).to_owned();
        u.last_name = (*last).to_owned();
        tx.insert_user(&u).await.unwrap();
        ids.push(id);
    }
    let day = Duration::days(1);
    // Ada: active. Charles: invited. Grace: disabled. Alan: locked by an
    // administrator. Edsger: expired exactly now. Barbara: a temporary lock
    // still on. Ada 2: a temporary lock that has ended (active). Ada 3: to
    // expire tomorrow (active). Frances: invited and disabled. Radia: signed
    // in at the same time as Ada.
    tx.record_sign_in(ids[0], at - day * 3).await.unwrap();
    tx.record_sign_in(ids[2], at - day * 2).await.unwrap();
    tx.set_access(ids[2], false).await.unwrap();
    tx.record_sign_in(ids[3], at - day * 5).await.unwrap();
    tx.lock_account(ids[3]).await.unwrap();
    tx.record_sign_in(ids[4], at - day * 9).await.unwrap();
    tx.set_expiry(ids[4], Some(at)).await.unwrap();
    tx.record_sign_in(ids[5], at - day).await.unwrap();
    tx.lock_sign_in(ids[5], at + Duration::hours(1))
        .await
        .unwrap();
    tx.record_sign_in(ids[6], at - day * 4).await.unwrap();
    tx.lock_sign_in(ids[6], at - Duration::hours(1))
        .await
        .unwrap();
    tx.record_sign_in(ids[7], at - day * 7).await.unwrap();
    tx.set_expiry(ids[7], Some(at + day)).await.unwrap();
    tx.set_access(ids[8], false).await.unwrap();
    tx.record_sign_in(ids[9], at - day * 3).await.unwrap();
    tx.commit().await.unwrap();

    let list = |key: UserSortKey, descending: bool, offset: i64, limit: i64| {
        let store = store.clone();
        async move {
            let filter = UserFilter {
                sort: UserSort { key, descending },
                offset,
                limit,
                ..UserFilter::default()
            };
            let (items, total) = store.list_users(o, &filter).await.unwrap();
            assert_eq!(total, 10);
            items.into_iter().map(|u| u.user).collect::<Vec<_>>()
        }
    };
    let everyone = list(UserSortKey::Name, false, 0, 100).await;
    let name = |u: &UserRecord| {
        (
            u.last_name.to_lowercase(),
            u.first_name.to_lowercase(),
            u.id.0,
        )
    };
    let label = |u: &UserRecord| u.account_state().status(at).label();
    for key in [
        UserSortKey::Name,
        UserSortKey::LastSignedIn,
        UserSortKey::Status(at),
    ] {
        for descending in [false, true] {
            let mut expected = everyone.clone();
            expected.sort_by(|a, b| {
                let column = match key {
                    UserSortKey::Name => std::cmp::Ordering::Equal,
                    UserSortKey::LastSignedIn => {
                        // None (never) is the oldest.
                        a.last_signed_in_at.cmp(&b.last_signed_in_at)
                    }
                    UserSortKey::Status(_) => label(a).cmp(label(b)),
                };
                match key {
                    UserSortKey::Name if descending => name(b).cmp(&name(a)),
                    UserSortKey::Name => name(a).cmp(&name(b)),
                    _ if descending => column.reverse().then(name(a).cmp(&name(b))),
                    _ => column.then(name(a).cmp(&name(b))),
                }
            });
            let want: Vec<UserId> = expected.iter().map(|u| u.id).collect();
            let got: Vec<UserId> = list(key, descending, 0, 100)
                .await
                .iter()
                .map(|u| u.id)
                .collect();
            assert_eq!(got, want, "{key:?} descending: {descending}");
            // Pages of three, end to end, are the same list.
            let mut paged = Vec::new();
            for page in 0..4 {
                paged.extend(
                    list(key, descending, page * 3, 3)
                        .await
                        .iter()
                        .map(|u| u.id),
                );
            }
            assert_eq!(paged, want, "{key:?} descending: {descending}, paged");
        }
    }
    // The statuses the test meant to set up, so that it tests them all.
    let labels: std::collections::BTreeSet<&str> = everyone.iter().map(label).collect();
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        ["Access disabled", "Active", "Expired", "Invited", "Locked"]
    );
}

/// The legacy import's bulk methods, across more rows than one statement takes.
pub async fn bulk_import_writes_span_statements_and_read_back(store: Arc<dyn Store>) {
    const N: usize = 1_201;
    let heses = Role::parse("data-collection-contributor:heses").unwrap();
    let admin = Role::PortalAdmin;
    let mut tx = store.begin().await.unwrap();
    tx.refresh_statistics().await.unwrap();
    let orgs: Vec<NewOrganisation> = (0..2)
        .map(|i| NewOrganisation {
            id: OrgId::random(),
            kind: OrganisationKind::Provider,
            name: format!("Bulk {i}"),
            ukprn: Some(Ukprn::parse(&format!("1020000{i}")).unwrap()),
            accountable_officer_name: None,
            accountable_officer_email: None,
            created_at: t0(),
        })
        .collect();
    tx.insert_organisations(&orgs).await.unwrap();
    let users: Vec<ImportedUser> = (0..N)
        .map(|i| ImportedUser {
            id: UserId::random(),
            organisation_id: orgs[i % 2].id,
            title: String::new(),
            first_name: format!("First{i}"),
            last_name: "Bulk".into(),
            email: EmailAddress::parse(&format!("Bulk{i}@Example.ac.uk")).unwrap(),
            expires_at: (i % 3 == 0).then(|| t0() + Duration::days(30)),
            locked: i % 5 == 0,
            created_at: t0(),
        })
        .collect();
    tx.insert_imported_users(&users).await.unwrap();
    let grants: Vec<NewRoleGrant> = users
        .iter()
        .map(|u| role_grant(u.id, heses.clone(), None, t0()))
        .collect();
    assert_eq!(tx.grant_roles(&grants).await.unwrap(), N as u64);
    let mut again = grants.clone();
    again.push(role_grant(users[7].id, admin.clone(), None, t0()));
    assert_eq!(
        tx.grant_roles(&again).await.unwrap(),
        1,
        "roles already held are skipped"
    );
    let emails: Vec<NewEmail> = (0..3)
        .map(|i| NewEmail {
            id: MessageId::random(),
            to: format!("bulk{i}@example.ac.uk"),
            subject: "Welcome".into(),
            body: "sealed".into(),
            created_at: t0(),
        })
        .collect();
    tx.enqueue_emails(&emails).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let found = tx
        .organisations_by_ukprns(&[
            Ukprn::parse("10200001").unwrap(),
            Ukprn::parse("19999999").unwrap(),
        ])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "Bulk 1");
    let mut wanted: Vec<String> = (0..N).map(|i| format!("bulk{i}@example.ac.uk")).collect();
    wanted.push("nobody@example.ac.uk".into());
    let accounts = tx.accounts_by_emails(&wanted).await.unwrap();
    assert_eq!(accounts.len(), N);
    let seven = accounts
        .iter()
        .find(|a| a.email_norm == "bulk7@example.ac.uk")
        .unwrap();
    assert_eq!(seven.id, users[7].id);
    assert_eq!(seven.organisation_id, orgs[1].id);
    let mut roles = seven.roles.clone();
    roles.sort();
    assert_eq!(roles, vec![admin.clone(), heses.clone()]);
    let zero = accounts
        .iter()
        .find(|a| a.email_norm == "bulk0@example.ac.uk")
        .unwrap();
    assert!(zero.locked);
    assert_eq!(zero.expires_at, Some(t0() + Duration::days(30)));

    // Updates set names, expiry and lock, and nothing else.
    let changed: Vec<ImportedUser> = users
        .iter()
        .map(|u| ImportedUser {
            title: "Dr".into(),
            first_name: format!("{}-x", u.first_name),
            expires_at: None,
            locked: true,
            ..u.clone()
        })
        .collect();
    tx.update_imported_users(&changed).await.unwrap();
    // An address already taken is a conflict.
    let taken = ImportedUser {
        id: UserId::random(),
        email: EmailAddress::parse("BULK3@example.ac.uk").unwrap(),
        ..users[0].clone()
    };
    let err = tx.insert_imported_users(&[taken]).await.unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    tx.update_imported_users(&changed).await.unwrap();
    tx.commit().await.unwrap();
    let one = store
        .user_by_email("bulk1200@example.ac.uk")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.display_name(), "Dr First1200-x Bulk");
    assert_eq!(one.email.as_str(), "Bulk1200@Example.ac.uk");
    assert!(one.locked && one.expires_at.is_none() && one.access_enabled);
    assert_eq!(one.created_at, t0());
    assert_eq!(store.outbox().await.unwrap().len(), 3);
}

// Data returns and documents (PRODUCT §6) ------------------------------------

/// A regulator (no UKPRN), whose staff open windows, review and publish.
async fn regulator(store: &Arc<dyn Store>, name: &str) -> OrgId {
    let id = OrgId::random();
    let mut tx = store.begin().await.unwrap();
    tx.insert_organisation(&NewOrganisation {
        id,
        kind: OrganisationKind::Regulator,
        name: name.into(),
        ukprn: None,
        accountable_officer_name: None,
        accountable_officer_email: None,
        created_at: t0(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

fn area(slug: &str) -> AreaSlug {
    AreaSlug::parse(slug).unwrap()
}

/// A window of `area` opening at `opens` for thirty days.
fn window_record(area_slug: &str, name: &str, opens: OffsetDateTime) -> WindowRecord {
    WindowRecord {
        id: Uuid::new_v4(),
        area: area(area_slug),
        name: name.into(),
        opens_at: opens,
        closes_at: opens + Duration::days(30),
        guidance: format!("How to complete {name}."),
        file_types: vec![FileKind::Csv, FileKind::Xlsx],
        closed_at: None,
        created_by: None,
        created_at: t0(),
        column_rules: Vec::new(),
        sign_off_required: false,
        reminder_days: Vec::new(),
        late_submissions: false,
    }
}

async fn insert_window(store: &Arc<dyn Store>, window: &WindowRecord) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_window(window).await.unwrap();
    tx.commit().await.unwrap();
}

/// Submitting with a note, nothing to explain, on time.
fn submit_as(note: &str, by: UserId, at: OffsetDateTime) -> crate::Submit<'_> {
    crate::Submit {
        note,
        explanation: None,
        late_reason: None,
        by,
        at,
    }
}

/// A file record of `kind` uploaded by `by` at `at` (not yet inserted).
fn file_record(name: &str, kind: FileKind, by: UserId, at: OffsetDateTime) -> FileRecord {
    FileRecord {
        id: Uuid::new_v4(),
        storage_key: Uuid::new_v4().to_string(),
        filename: name.into(),
        kind,
        size: name.len() as i64 * 100,
        sha256: name.bytes().cycle().take(32).collect(),
        uploaded_by: by,
        uploaded_at: at,
    }
}

/// Inserts a draft version of `org`'s submission to `window`, made by `by`
/// at `at`, with `files` uploaded and attached, and returns how it should
/// read back.
async fn draft(
    store: &Arc<dyn Store>,
    window: Uuid,
    org: OrgId,
    version: i64,
    by: UserId,
    at: OffsetDateTime,
    files: Vec<FileRecord>,
) -> SubmissionRecord {
    let id = Uuid::new_v4();
    let mut tx = store.begin().await.unwrap();
    tx.insert_submission(&NewSubmission {
        id,
        window_id: window,
        organisation_id: org,
        version,
        status: SubmissionStatus::Draft,
        note: String::new(),
        created_by: by,
        created_at: at,
    })
    .await
    .unwrap();
    for f in &files {
        tx.insert_file(f).await.unwrap();
        tx.attach_file(id, f.id).await.unwrap();
    }
    tx.commit().await.unwrap();
    SubmissionRecord {
        id,
        window_id: window,
        organisation_id: org,
        version,
        status: SubmissionStatus::Draft,
        note: String::new(),
        created_by: by,
        created_at: at,
        submitted_by: None,
        submitted_at: None,
        status_comment: None,
        status_by: None,
        status_at: None,
        explanation: None,
        late_reason: None,
        signed_off_by: None,
        signed_off_at: None,
        files,
        checks: Vec::new(),
    }
}

fn ids<'a>(submissions: impl IntoIterator<Item = &'a SubmissionRecord>) -> Vec<Uuid> {
    submissions.into_iter().map(|s| s.id).collect()
}

pub async fn windows_are_read_back_listed_newest_first_updated_and_closed(store: Arc<dyn Store>) {
    let regulator = regulator(&store, "Office for Students").await;
    let officer = user(&store, regulator, "officer@example.org").await;
    let mut heses = window_record("heses", "HESES 2026", t0());
    heses.created_by = Some(officer);
    let prevent = window_record("prevent", "Prevent 2026", t0() + Duration::days(1));
    insert_window(&store, &heses).await;
    insert_window(&store, &prevent).await;

    assert_eq!(store.window(heses.id).await.unwrap(), Some(heses.clone()));
    assert_eq!(
        store.window(prevent.id).await.unwrap(),
        Some(prevent.clone())
    );
    assert_eq!(store.window(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        store.windows().await.unwrap(),
        [prevent.clone(), heses.clone()],
        "newest opening first"
    );

    // Name, times, guidance and file types change; nothing else does.
    let changed = WindowRecord {
        name: "HESES 2026 (revised)".into(),
        opens_at: t0() + Duration::days(2),
        closes_at: t0() + Duration::days(60),
        guidance: "New guidance.".into(),
        file_types: vec![FileKind::Pdf, FileKind::Csv],
        area: area("prevent"),
        closed_at: Some(t0()),
        created_by: None,
        created_at: t0() + Duration::days(9),
        ..heses.clone()
    };
    let mut tx = store.begin().await.unwrap();
    tx.update_window(&changed, t0()).await.unwrap();
    tx.commit().await.unwrap();
    let updated = WindowRecord {
        name: changed.name.clone(),
        opens_at: changed.opens_at,
        closes_at: changed.closes_at,
        guidance: changed.guidance.clone(),
        file_types: changed.file_types.clone(),
        ..heses.clone()
    };
    assert_eq!(store.window(heses.id).await.unwrap(), Some(updated.clone()));
    assert_eq!(
        store.windows().await.unwrap(),
        [updated.clone(), prevent.clone()],
        "listed by the new opening time"
    );

    let closed_at = t0() + Duration::days(3);
    let mut tx = store.begin().await.unwrap();
    tx.close_window(heses.id, closed_at).await.unwrap();
    tx.commit().await.unwrap();
    let closed = WindowRecord {
        closed_at: Some(closed_at),
        ..updated
    };
    assert_eq!(store.window(heses.id).await.unwrap(), Some(closed.clone()));
    // Closing again keeps the first closing time.
    let mut tx = store.begin().await.unwrap();
    tx.close_window(heses.id, closed_at + Duration::days(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.window(heses.id).await.unwrap(), Some(closed.clone()));
    assert_eq!(
        store.windows().await.unwrap(),
        [closed, prevent.clone()],
        "closed windows are still listed"
    );
    assert_eq!(
        store.window(prevent.id).await.unwrap(),
        Some(prevent),
        "the other window is untouched"
    );
}

pub async fn submissions_are_read_back_with_their_files_per_organisation_and_window(
    store: Arc<dyn Store>,
) {
    let mine = org(&store, "10000009").await;
    let theirs = org(&store, "10000010").await;
    let hana = user(&store, mine, "hana@example.ac.uk").await;
    let tom = user(&store, theirs, "tom@example.ac.uk").await;
    let heses = window_record("heses", "HESES 2026", t0());
    let prevent = window_record("prevent", "Prevent 2026", t0());
    insert_window(&store, &heses).await;
    insert_window(&store, &prevent).await;
    let h = |n: i64| t0() + Duration::hours(n);

    // My first version, submitted, with two files; my second, a draft, with one.
    let mut mine_v1 = draft(
        &store,
        heses.id,
        mine,
        1,
        hana,
        h(1),
        vec![
            file_record("students.csv", FileKind::Csv, hana, h(1)),
            file_record("workbook.xlsx", FileKind::Xlsx, hana, h(2)),
        ],
    )
    .await;
    let mut tx = store.begin().await.unwrap();
    tx.submit(mine_v1.id, &submit_as("First version", hana, h(3)))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    mine_v1.status = SubmissionStatus::Submitted;
    mine_v1.note = "First version".into();
    mine_v1.submitted_by = Some(hana);
    mine_v1.submitted_at = Some(h(3));
    let mine_v2 = draft(
        &store,
        heses.id,
        mine,
        2,
        hana,
        h(4),
        vec![file_record("students-2.csv", FileKind::Csv, hana, h(4))],
    )
    .await;
    // Another organisation's submission to the same window, and mine to another.
    let mut theirs_v1 = draft(
        &store,
        heses.id,
        theirs,
        1,
        tom,
        h(5),
        vec![file_record("theirs.csv", FileKind::Csv, tom, h(5))],
    )
    .await;
    let mut tx = store.begin().await.unwrap();
    tx.submit(theirs_v1.id, &submit_as("", tom, h(6)))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    theirs_v1.status = SubmissionStatus::Submitted;
    theirs_v1.submitted_by = Some(tom);
    theirs_v1.submitted_at = Some(h(6));
    let mine_prevent = draft(
        &store,
        prevent.id,
        mine,
        1,
        hana,
        h(7),
        vec![file_record("prevent.pdf", FileKind::Pdf, hana, h(7))],
    )
    .await;

    assert_eq!(
        store.submission(mine_v1.id).await.unwrap(),
        Some(mine_v1.clone()),
        "files in upload order"
    );
    assert_eq!(
        store.submission(mine_v2.id).await.unwrap(),
        Some(mine_v2.clone())
    );
    assert_eq!(store.submission(Uuid::new_v4()).await.unwrap(), None);

    assert_eq!(
        store.submissions(heses.id, Some(mine), true).await.unwrap(),
        [mine_v2.clone(), mine_v1.clone()],
        "newest version first, each with its own files, never another organisation's"
    );
    assert_eq!(
        store
            .submissions(heses.id, Some(mine), false)
            .await
            .unwrap(),
        [mine_v1.clone()],
        "drafts left out"
    );
    assert_eq!(
        store
            .submissions(heses.id, Some(theirs), true)
            .await
            .unwrap(),
        [theirs_v1.clone()]
    );
    let all = store.submissions(heses.id, None, true).await.unwrap();
    let mut expected = vec![mine_v1.id, mine_v2.id, theirs_v1.id];
    let mut got = ids(&all);
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "every organisation's");
    let mine_first = all.iter().position(|s| s.id == mine_v2.id).unwrap();
    assert_eq!(
        all[mine_first + 1],
        mine_v1,
        "one organisation's versions together, newest first"
    );
    let submitted = store.submissions(heses.id, None, false).await.unwrap();
    let mut got = ids(&submitted);
    let mut expected = vec![mine_v1.id, theirs_v1.id];
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "every organisation's, drafts left out");
    assert_eq!(
        store
            .submissions(prevent.id, Some(mine), true)
            .await
            .unwrap(),
        [mine_prevent],
        "only the window asked for, with only its files"
    );
    assert!(
        store
            .submissions(prevent.id, Some(theirs), true)
            .await
            .unwrap()
            .is_empty()
    );

    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.latest_submission_for_update(heses.id, mine)
            .await
            .unwrap(),
        Some(mine_v2),
        "the highest version, with its files"
    );
    assert_eq!(
        tx.latest_submission_for_update(heses.id, theirs)
            .await
            .unwrap(),
        Some(theirs_v1)
    );
    assert_eq!(
        tx.latest_submission_for_update(prevent.id, theirs)
            .await
            .unwrap(),
        None
    );
    tx.commit().await.unwrap();
}

pub async fn submitting_and_reviewing_record_who_did_what_and_when(store: Arc<dyn Store>) {
    let regulator = regulator(&store, "Office for Students").await;
    let officer = user(&store, regulator, "reviewer@example.org").await;
    let second_officer = user(&store, regulator, "second-reviewer@example.org").await;
    let provider = org(&store, "10000012").await;
    let maker = user(&store, provider, "maker@example.ac.uk").await;
    let submitter = user(&store, provider, "submitter@example.ac.uk").await;
    let window = window_record("heses", "HESES 2026", t0());
    insert_window(&store, &window).await;
    let h = |n: i64| t0() + Duration::hours(n);
    let files = vec![file_record("return.csv", FileKind::Csv, maker, h(1))];
    let created = draft(&store, window.id, provider, 1, maker, h(1), files).await;

    let mut tx = store.begin().await.unwrap();
    tx.submit(
        created.id,
        &submit_as("Our return for 2026", submitter, h(2)),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let submitted = SubmissionRecord {
        status: SubmissionStatus::Submitted,
        note: "Our return for 2026".into(),
        submitted_by: Some(submitter),
        submitted_at: Some(h(2)),
        ..created.clone()
    };
    assert_eq!(
        store.submission(created.id).await.unwrap(),
        Some(submitted.clone())
    );

    let mut tx = store.begin().await.unwrap();
    tx.set_submission_status(
        created.id,
        SubmissionStatus::Returned,
        "Row 3 is missing its UKPRN",
        officer,
        h(3),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let returned = SubmissionRecord {
        status: SubmissionStatus::Returned,
        status_comment: Some("Row 3 is missing its UKPRN".into()),
        status_by: Some(officer),
        status_at: Some(h(3)),
        ..submitted
    };
    assert_eq!(
        store.submission(created.id).await.unwrap(),
        Some(returned.clone()),
        "the submitter and note are kept"
    );

    // Only a draft can be submitted: a reviewed version stays as it is.
    let mut tx = store.begin().await.unwrap();
    tx.submit(created.id, &submit_as("Changed my mind", maker, h(4)))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.submission(created.id).await.unwrap(),
        Some(returned.clone())
    );

    let mut tx = store.begin().await.unwrap();
    tx.set_submission_status(
        created.id,
        SubmissionStatus::Accepted,
        "",
        second_officer,
        h(5),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let accepted = SubmissionRecord {
        status: SubmissionStatus::Accepted,
        status_comment: Some(String::new()),
        status_by: Some(second_officer),
        status_at: Some(h(5)),
        ..returned
    };
    assert_eq!(
        store
            .submissions(window.id, Some(provider), false)
            .await
            .unwrap(),
        [accepted]
    );
}

pub async fn documents_are_listed_only_for_the_organisations_they_are_shared_with(
    store: Arc<dyn Store>,
) {
    let regulator = regulator(&store, "Office for Students").await;
    let publisher = user(&store, regulator, "publisher@example.org").await;
    let mine = org(&store, "10000014").await;
    let theirs = org(&store, "10000015").await;
    let nobody = org(&store, "10000016").await;
    let h = |n: i64| t0() + Duration::hours(n);
    let mut documents = Vec::new();
    for (n, title, recipients) in [
        (1, "Guidance for everyone", vec![mine, theirs]),
        (2, "Letter to my provider", vec![mine]),
        (3, "Letter to theirs", vec![theirs]),
    ] {
        let mut recipients = recipients;
        // Read back in a stable order, which the store chooses; compare sorted.
        recipients.sort();
        let document = DocumentRecord {
            id: Uuid::new_v4(),
            area: area("heses"),
            title: title.into(),
            file: file_record(&format!("{title}.pdf"), FileKind::Pdf, publisher, h(n)),
            published_by: publisher,
            published_at: h(n),
            recipients,
        };
        let mut tx = store.begin().await.unwrap();
        tx.insert_file(&document.file).await.unwrap();
        tx.insert_document(&document).await.unwrap();
        tx.commit().await.unwrap();
        documents.push(document);
    }
    let sorted = |mut list: Vec<DocumentRecord>| {
        for d in &mut list {
            d.recipients.sort();
        }
        list
    };
    let [everyone, to_mine, to_theirs] = [&documents[0], &documents[1], &documents[2]];

    assert_eq!(
        sorted(store.documents(Some(mine)).await.unwrap()),
        [to_mine.clone(), everyone.clone()],
        "only those shared with the organisation, newest first"
    );
    assert_eq!(
        sorted(store.documents(Some(theirs)).await.unwrap()),
        [to_theirs.clone(), everyone.clone()]
    );
    assert!(store.documents(Some(nobody)).await.unwrap().is_empty());
    assert_eq!(
        sorted(store.documents(None).await.unwrap()),
        [to_theirs.clone(), to_mine.clone(), everyone.clone()],
        "all, newest first"
    );
    let one = store.document(everyone.id).await.unwrap().map(|mut d| {
        d.recipients.sort();
        d
    });
    assert_eq!(one.as_ref(), Some(everyone), "with its file and recipients");
    assert_eq!(store.document(Uuid::new_v4()).await.unwrap(), None);
}

pub async fn audit_pages_are_filtered_newest_first_and_counted(store: Arc<dyn Store>) {
    let mine = org(&store, "10000021").await;
    let theirs = org(&store, "10000022").await;
    let ada = user(&store, mine, "ada@example.org").await;
    let bo = user(&store, theirs, "bo@example.org").await;
    let before = store.audit_after(0, 1000).await.unwrap().len() as i64;
    let h = |n: i64| t0() + Duration::hours(n);
    // Ten rows per organisation, alternating actions and hours.
    for n in 0..20 {
        let (org, actor) = if n % 2 == 0 {
            (mine, ada)
        } else {
            (theirs, bo)
        };
        let mut e = event(["users.set_roles", "users.update", "sign_in.succeeded"][n as usize % 3]);
        e.at = h(n);
        e.organisation_id = Some(org);
        e.actor_id = Some(actor);
        e.target = Some(format!("row {n}"));
        let mut tx = store.begin().await.unwrap();
        tx.append_audit(&e).await.unwrap();
        tx.commit().await.unwrap();
    }
    let page = |f: AuditFilter| {
        let store = store.clone();
        async move {
            let (rows, total) = store.audit_page(&f).await.unwrap();
            let targets: Vec<String> = rows
                .iter()
                .map(|r| r.entry.target.clone().unwrap_or_default())
                .collect();
            (targets, total)
        }
    };
    let all = AuditFilter {
        limit: 100,
        ..Default::default()
    };
    let (rows, total) = page(all.clone()).await;
    assert_eq!(total, before + 20);
    assert_eq!(rows[0], "row 19", "newest first");
    let (rows, total) = page(AuditFilter {
        organisation: Some(mine),
        limit: 3,
        ..Default::default()
    })
    .await;
    assert_eq!(
        rows,
        ["row 18", "row 16", "row 14"],
        "one organisation's, a page"
    );
    assert_eq!(total, 10, "counted beyond the page");
    let (rows, total) = page(AuditFilter {
        organisation: Some(mine),
        limit: 3,
        offset: 9,
        ..Default::default()
    })
    .await;
    assert_eq!(
        (rows, total),
        (vec!["row 0".to_owned()], 10),
        "the last page"
    );
    let (rows, _) = page(AuditFilter {
        actor: Some(bo),
        action: Some("users.set_roles".into()),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(
        rows,
        ["row 15", "row 9", "row 3"],
        "by person and exact action"
    );
    let (rows, _) = page(AuditFilter {
        organisation: Some(mine),
        action: Some("users.".into()),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(
        rows,
        [
            "row 18", "row 16", "row 12", "row 10", "row 6", "row 4", "row 0"
        ],
        "an action group"
    );
    let (rows, _) = page(AuditFilter {
        action: Some("users".into()),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert!(rows.is_empty(), "an exact action is not a prefix");
    let (rows, total) = page(AuditFilter {
        from: Some(h(4)),
        to: Some(h(8)),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(
        (rows, total),
        (
            vec![
                "row 7".to_owned(),
                "row 6".into(),
                "row 5".into(),
                "row 4".into()
            ],
            4
        ),
        "from inclusive, to exclusive"
    );
    let (first, _) = store
        .audit_page(&AuditFilter {
            organisation: Some(theirs),
            limit: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    let last = first.last().unwrap().entry.seq;
    let (rows, _) = page(AuditFilter {
        organisation: Some(theirs),
        before_seq: Some(last),
        limit: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(rows, ["row 11", "row 9"], "read on after the last row seen");
    let (rows, total) = page(AuditFilter {
        organisation: Some(OrgId::random()),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!((rows.len(), total), (0, 0));

    // The names a page shows are read in one query.
    let mut named: Vec<UserId> = store
        .users_by_ids(&[ada, UserId::random(), bo, ada])
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect();
    named.sort();
    let mut both = vec![ada, bo];
    both.sort();
    assert_eq!(named, both, "those that exist, once each");

    // Rows appended in bulk continue the same chain, and a single append after them too.
    let bulk: Vec<NewAuditEvent> = (0..1_203).map(|n| event(&format!("bulk.{n}"))).collect();
    let mut tx = store.begin().await.unwrap();
    tx.append_audit_bulk(&bulk).await.unwrap();
    tx.append_audit(&event("after.bulk")).await.unwrap();
    tx.commit().await.unwrap();
    let all = store.audit_after(0, 10_000).await.unwrap();
    assert_eq!(all.len() as i64, before + 20 + 1_204);
    assert_chained(&all);
    assert_eq!(all.last().unwrap().entry.action, "after.bulk");
}

pub async fn hits_are_counted_up_to_the_limit_even_concurrently_and_windows_start_again(
    store: Arc<dyn Store>,
) {
    let window = time::Duration::minutes(1);
    let now = t0();
    // Twenty at once against a limit of seven: exactly seven are counted.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .take_hit("ip:192.0.2.1", 7, window, now)
                .await
                .unwrap()
        }));
    }
    let mut counted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => counted += 1,
            Err(ends) => assert_eq!(ends, now + window),
        }
    }
    assert_eq!(counted, 7);
    // Another bucket has its own window.
    assert_eq!(
        store
            .take_hit("ip:192.0.2.2", 7, window, now)
            .await
            .unwrap(),
        Ok(())
    );
    // A hit given back makes room for one more, once.
    let later = now + time::Duration::seconds(30);
    store.give_back_hit("ip:192.0.2.1", later).await.unwrap();
    assert_eq!(
        store
            .take_hit("ip:192.0.2.1", 7, window, later)
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        store
            .take_hit("ip:192.0.2.1", 7, window, later)
            .await
            .unwrap(),
        Err(now + window)
    );
    // When the window ends, a new one starts with this hit.
    let next = now + window;
    assert_eq!(
        store
            .take_hit("ip:192.0.2.1", 7, window, next)
            .await
            .unwrap(),
        Ok(())
    );
    for _ in 0..6 {
        assert_eq!(
            store
                .take_hit("ip:192.0.2.1", 7, window, next)
                .await
                .unwrap(),
            Ok(())
        );
    }
    assert_eq!(
        store
            .take_hit("ip:192.0.2.1", 7, window, next)
            .await
            .unwrap(),
        Err(next + window)
    );
    // Giving back in an ended window changes nothing.
    store.give_back_hit("ip:192.0.2.2", next).await.unwrap();
    // Ended windows are forgotten; the current one is kept.
    assert_eq!(
        store
            .forget_hits(next + time::Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .take_hit("ip:192.0.2.1", 7, window, next)
            .await
            .unwrap(),
        Err(next + window)
    );
}

/// Issue 15: a window's opening notice is claimed by one transaction only,
/// once it has opened and while it is open; the claim is the window's mark.
pub async fn a_windows_opening_notice_is_claimed_once_even_concurrently(store: Arc<dyn Store>) {
    let opens = t0() + Duration::hours(1);
    let heses = window_record("heses", "HESES 2026", opens);
    let closed = window_record("prevent", "Prevent 2026", opens);
    insert_window(&store, &heses).await;
    insert_window(&store, &closed).await;
    let mut tx = store.begin().await.unwrap();
    tx.close_window(closed.id, t0()).await.unwrap();
    tx.commit().await.unwrap();
    // Not before it opens.
    assert!(!store.window_awaiting_notice(t0()).await.unwrap());
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.claim_window_notice(t0(), &[]).await.unwrap(), None);
    tx.commit().await.unwrap();
    // Opened: two transactions try at once, one claims it.
    let at = opens + Duration::minutes(5);
    assert!(store.window_awaiting_notice(at).await.unwrap());
    let claim = async |store: Arc<dyn Store>| {
        let mut tx = store.begin().await.unwrap();
        let got = tx.claim_window_notice(at, &[]).await.unwrap();
        // Held a moment, as a transaction queuing emails would be.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        tx.commit().await.unwrap();
        got
    };
    let (a, b) = tokio::join!(claim(store.clone()), claim(store.clone()));
    let claimed: Vec<WindowRecord> = [a, b].into_iter().flatten().collect();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!(claimed[0].id, heses.id);
    assert_eq!(claimed[0].name, "HESES 2026");
    // Claimed for good; the window closed before it opened never is.
    assert!(!store.window_awaiting_notice(at).await.unwrap());
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.claim_window_notice(at, &[]).await.unwrap(), None);
    tx.commit().await.unwrap();
    // Changed but still open: it keeps its mark.
    let mut tx = store.begin().await.unwrap();
    tx.update_window(
        &WindowRecord {
            name: "HESES 2026 (2)".into(),
            ..heses.clone()
        },
        at,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(!store.window_awaiting_notice(at).await.unwrap());
    // Moved to open later: announced again when it opens.
    let later = at + Duration::days(1);
    let moved = WindowRecord {
        opens_at: later,
        ..heses.clone()
    };
    let mut tx = store.begin().await.unwrap();
    tx.update_window(&moved, at).await.unwrap();
    tx.commit().await.unwrap();
    assert!(!store.window_awaiting_notice(at).await.unwrap());
    let after = later + Duration::hours(1);
    assert!(store.window_awaiting_notice(after).await.unwrap());
    // A window passed over (its notice failed this round) does not stop
    // the next from being claimed.
    let next = window_record("prevent", "Prevent 2027", later + Duration::minutes(1));
    insert_window(&store, &next).await;
    let mut tx = store.begin().await.unwrap();
    let got = tx.claim_window_notice(after, &[heses.id]).await.unwrap();
    assert_eq!(got.map(|w| w.id), Some(next.id));
    assert_eq!(
        tx.claim_window_notice(after, &[heses.id]).await.unwrap(),
        None
    );
    let got = tx.claim_window_notice(after, &[]).await.unwrap();
    assert_eq!(got.map(|w| w.id), Some(heses.id));
    tx.commit().await.unwrap();
}

// Issue 16, data-return checks and sign-off (begin) ---------------------------

/// A rule of every column type, with and without each optional field, and
/// values that JSON must carry exactly (quotes, commas, non-ASCII, fractions).
fn every_rule() -> Vec<ColumnRule> {
    let rule = |name: &str, kind: ColumnType, required: bool| ColumnRule {
        name: name.into(),
        kind,
        required,
        min: None,
        max: None,
        allowed: Vec::new(),
        warn_above: None,
    };
    let rules = vec![
        rule("ukprn", ColumnType::Ukprn, true),
        ColumnRule {
            allowed: vec![
                "Full-time".into(),
                "Part-time, \"sandwich\"".into(),
                "Échange".into(),
            ],
            ..rule("mode", ColumnType::Text, false)
        },
        ColumnRule {
            min: Some(0.0),
            max: Some(250_000.0),
            warn_above: Some(100_000.0),
            ..rule("students", ColumnType::Integer, true)
        },
        ColumnRule {
            min: Some(-1.5),
            max: Some(0.1),
            warn_above: Some(0.07),
            ..rule("ratio", ColumnType::Number, false)
        },
        ColumnRule {
            max: Some(1e9),
            ..rule("income", ColumnType::Number, false)
        },
        rule("census date", ColumnType::Date, false),
    ];
    for kind in ColumnType::ALL {
        assert!(rules.iter().any(|r| r.kind == kind), "{kind:?} is covered");
    }
    rules
}

/// Which tables differ between two snapshots.
fn changed_tables(before: &Snapshot, after: &Snapshot) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = before.keys().chain(after.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter(|n| before.get(n) != after.get(n))
        .collect()
}

pub async fn windows_keep_their_rules_and_settings_through_insert_update_and_claim(
    store: Arc<dyn Store>,
) {
    let regulator = regulator(&store, "Office for Students").await;
    let officer = user(&store, regulator, "rules@example.org").await;
    let heses = WindowRecord {
        created_by: Some(officer),
        column_rules: every_rule(),
        sign_off_required: true,
        reminder_days: vec![14, 7, 1],
        late_submissions: true,
        ..window_record("heses", "HESES 2026", t0())
    };
    // Nothing set: no rules, no sign-off, no reminders, nothing late.
    let plain = window_record("prevent", "Prevent 2026", t0() + Duration::days(1));
    insert_window(&store, &heses).await;
    insert_window(&store, &plain).await;
    assert_eq!(store.window(heses.id).await.unwrap(), Some(heses.clone()));
    assert_eq!(store.window(plain.id).await.unwrap(), Some(plain.clone()));
    assert_eq!(
        store.windows().await.unwrap(),
        [plain.clone(), heses.clone()],
        "listed with their rules and settings"
    );

    // Reminder days given in any order are kept largest first.
    let unordered = WindowRecord {
        reminder_days: vec![1, 28, 7],
        ..window_record(
            "capital-funding",
            "Capital Funding 2026",
            t0() - Duration::days(1),
        )
    };
    insert_window(&store, &unordered).await;
    let read = store.window(unordered.id).await.unwrap().unwrap();
    assert_eq!(read.reminder_days, [28, 7, 1], "largest first");

    // Every setting changes both ways.
    let now = t0() - Duration::days(5);
    let cleared = WindowRecord {
        column_rules: Vec::new(),
        sign_off_required: false,
        reminder_days: Vec::new(),
        late_submissions: false,
        ..heses.clone()
    };
    let set = WindowRecord {
        column_rules: every_rule()[2..4].to_vec(),
        sign_off_required: true,
        reminder_days: vec![3],
        late_submissions: true,
        ..plain.clone()
    };
    let mut tx = store.begin().await.unwrap();
    tx.update_window(&cleared, now).await.unwrap();
    tx.update_window(&set, now).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.window(heses.id).await.unwrap(), Some(cleared.clone()));
    assert_eq!(store.window(plain.id).await.unwrap(), Some(set.clone()));
    let mut tx = store.begin().await.unwrap();
    tx.update_window(&heses, now).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.window(heses.id).await.unwrap(), Some(heses.clone()));
    assert_eq!(
        store.windows().await.unwrap(),
        [set.clone(), heses.clone(), read.clone()]
    );

    // The opening notice's claim hands the window over whole.
    let at = t0() + Duration::days(2);
    let mut tx = store.begin().await.unwrap();
    let mut claimed = Vec::new();
    while let Some(w) = tx.claim_window_notice(at, &[]).await.unwrap() {
        claimed.push(w);
    }
    tx.commit().await.unwrap();
    claimed.sort_by_key(|w| w.opens_at);
    assert_eq!(claimed, [read, heses, set]);
}

/// A finding of `severity` at `row` (none: the file as a whole).
fn finding(severity: Severity, n: usize, row: Option<u64>) -> Finding {
    Finding {
        severity,
        rule: format!("students: rule {}", n % 3),
        row,
        column: if n.is_multiple_of(2) {
            "students"
        } else {
            "ratio, \"%\""
        }
        .into(),
        message: format!("Row {n}: “{n}” is not a whole number — ünïcode ✓"),
    }
}

pub async fn file_checks_and_findings_are_read_back_with_their_submission_in_file_order(
    store: Arc<dyn Store>,
) {
    let mine = org(&store, "10000031").await;
    let theirs = org(&store, "10000032").await;
    let hana = user(&store, mine, "hana.checks@example.ac.uk").await;
    let tom = user(&store, theirs, "tom.checks@example.ac.uk").await;
    let window = WindowRecord {
        column_rules: every_rule(),
        ..window_record("heses", "HESES 2026", t0())
    };
    insert_window(&store, &window).await;
    let h = |n: i64| t0() + Duration::hours(n);
    let mine_files = vec![
        file_record("first.csv", FileKind::Csv, hana, h(1)),
        file_record("workbook.xlsx", FileKind::Xlsx, hana, h(2)),
        file_record("second.csv", FileKind::Csv, hana, h(3)),
    ];
    let mut mine_v1 = draft(&store, window.id, mine, 1, hana, h(1), mine_files.clone()).await;
    let theirs_file = file_record("theirs.csv", FileKind::Csv, tom, h(4));
    let mut theirs_v1 = draft(
        &store,
        window.id,
        theirs,
        1,
        tom,
        h(4),
        vec![theirs_file.clone()],
    )
    .await;

    // The first file: every finding a report keeps (many statements' worth),
    // errors and warnings, some for the file as a whole (no row).
    let many: Vec<Finding> = (0..domain::checks::FINDINGS_KEPT)
        .map(|n| {
            let severity = if n.is_multiple_of(5) {
                Severity::Warning
            } else {
                Severity::Error
            };
            let row = if n.is_multiple_of(97) {
                None
            } else {
                Some(n as u64 + 2)
            };
            finding(severity, n, row)
        })
        .collect();
    let first_check = FileCheckRecord {
        file_id: mine_files[0].id,
        rules: every_rule(),
        data_rows: 40_000,
        errors: 31_000,
        warnings: 9_000,
        rule_counts: vec![
            RuleCount {
                severity: Severity::Error,
                rule: "ratio: missing column".into(),
                column: "ratio".into(),
                count: 1,
                first_row: None,
            },
            RuleCount {
                severity: Severity::Error,
                rule: "students: not a whole number".into(),
                column: "students".into(),
                count: 30_999,
                first_row: Some(2),
            },
            RuleCount {
                severity: Severity::Warning,
                rule: "students: above 100000".into(),
                column: "students".into(),
                count: 9_000,
                first_row: Some(40_001),
            },
        ],
        checked_at: h(1) + Duration::seconds(5),
    };
    // The second: clean, checked against no rules at all.
    let second_check = FileCheckRecord {
        file_id: mine_files[2].id,
        rules: Vec::new(),
        data_rows: 0,
        errors: 0,
        warnings: 0,
        rule_counts: Vec::new(),
        checked_at: h(3),
    };
    let theirs_findings = vec![finding(Severity::Warning, 7, Some(9))];
    let theirs_check = FileCheckRecord {
        file_id: theirs_file.id,
        rules: every_rule()[..1].to_vec(),
        data_rows: 8,
        errors: 0,
        warnings: 1,
        rule_counts: vec![RuleCount {
            severity: Severity::Warning,
            rule: theirs_findings[0].rule.clone(),
            column: theirs_findings[0].column.clone(),
            count: 1,
            first_row: Some(9),
        }],
        checked_at: h(4),
    };
    // Checked out of file order, each in its own transaction.
    let mut tx = store.begin().await.unwrap();
    tx.insert_file_check(&second_check, &[]).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.insert_file_check(&theirs_check, &theirs_findings)
        .await
        .unwrap();
    tx.insert_file_check(&first_check, &many).await.unwrap();
    tx.commit().await.unwrap();

    mine_v1.checks = vec![first_check.clone(), second_check.clone()];
    theirs_v1.checks = vec![theirs_check.clone()];
    assert_eq!(
        store.submission(mine_v1.id).await.unwrap(),
        Some(mine_v1.clone()),
        "each checked file's check, in file order; the workbook has none"
    );
    assert_eq!((mine_v1.errors(), mine_v1.warnings()), (31_000, 9_000));
    assert_eq!(
        store.submission(theirs_v1.id).await.unwrap(),
        Some(theirs_v1.clone())
    );
    assert_eq!(
        store
            .submissions(window.id, Some(mine), true)
            .await
            .unwrap(),
        [mine_v1.clone()]
    );
    let mut all = store.submissions(window.id, None, true).await.unwrap();
    all.sort_by_key(|s| s.organisation_id != mine);
    assert_eq!(
        all,
        [mine_v1.clone(), theirs_v1.clone()],
        "only their own files' checks"
    );
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.submission(mine_v1.id).await.unwrap(),
        Some(mine_v1.clone())
    );
    assert_eq!(
        tx.latest_submission_for_update(window.id, theirs)
            .await
            .unwrap(),
        Some(theirs_v1.clone())
    );
    assert_eq!(tx.submission(Uuid::new_v4()).await.unwrap(), None);
    tx.commit().await.unwrap();

    // Findings: in order, exactly, and only the file's own.
    let read = store.file_findings(mine_files[0].id).await.unwrap();
    assert_eq!(read.len(), many.len());
    assert_eq!(read, many);
    assert_eq!(
        store.file_findings(theirs_file.id).await.unwrap(),
        theirs_findings
    );
    assert!(
        store
            .file_findings(mine_files[2].id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .file_findings(mine_files[1].id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .file_findings(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );

    // A submitted version keeps its checks.
    let mut tx = store.begin().await.unwrap();
    tx.submit(mine_v1.id, &submit_as("", hana, h(5)))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let got = store.submission(mine_v1.id).await.unwrap().unwrap();
    assert_eq!(got.checks, mine_v1.checks);
}

pub async fn submitting_keeps_the_explanation_and_late_reason_and_sign_off_happens_once(
    store: Arc<dyn Store>,
) {
    let regulator = regulator(&store, "Office for Students").await;
    let officer = user(&store, regulator, "signoff-officer@example.org").await;
    let provider = org(&store, "10000033").await;
    let maker = user(&store, provider, "maker.signoff@example.ac.uk").await;
    let admin = user(&store, provider, "admin.signoff@example.ac.uk").await;
    let other_admin = user(&store, provider, "admin2.signoff@example.ac.uk").await;
    let window = WindowRecord {
        sign_off_required: true,
        late_submissions: true,
        ..window_record("heses", "HESES 2026", t0())
    };
    insert_window(&store, &window).await;
    let h = |n: i64| t0() + Duration::hours(n);
    let files = vec![file_record("return.csv", FileKind::Csv, maker, h(1))];
    let created = draft(&store, window.id, provider, 1, maker, h(1), files).await;

    // A draft cannot be signed off, nor can what does not exist.
    let before = store.snapshot().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.sign_off(created.id, admin, h(2)).await.unwrap(),
        "a draft"
    );
    assert!(
        !tx.sign_off(Uuid::new_v4(), admin, h(2)).await.unwrap(),
        "unknown"
    );
    tx.commit().await.unwrap();
    assert_eq!(store.snapshot().await.unwrap(), before, "nothing changed");

    let explanation = "Numbers rose after the merger with \"Other College\"; see note 3.";
    let late = "Our system was down — Ünïcode ✓";
    let mut tx = store.begin().await.unwrap();
    tx.submit(
        created.id,
        &Submit {
            note: "Late return",
            explanation: Some(explanation),
            late_reason: Some(late),
            by: maker,
            at: h(40 * 24),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let submitted = SubmissionRecord {
        status: SubmissionStatus::Submitted,
        note: "Late return".into(),
        submitted_by: Some(maker),
        submitted_at: Some(h(40 * 24)),
        explanation: Some(explanation.into()),
        late_reason: Some(late.into()),
        ..created.clone()
    };
    assert_eq!(
        store.submission(created.id).await.unwrap(),
        Some(submitted.clone())
    );

    // Signed off once: the first sign-off stands.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.sign_off(created.id, admin, h(41 * 24)).await.unwrap());
    let signed = SubmissionRecord {
        signed_off_by: Some(admin),
        signed_off_at: Some(h(41 * 24)),
        ..submitted.clone()
    };
    assert_eq!(
        tx.submission(created.id).await.unwrap(),
        Some(signed.clone()),
        "seen in the same transaction"
    );
    tx.commit().await.unwrap();
    assert_eq!(
        store.submission(created.id).await.unwrap(),
        Some(signed.clone())
    );
    let before = store.snapshot().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.sign_off(created.id, other_admin, h(42 * 24))
            .await
            .unwrap()
    );
    // Submitting again changes nothing either: it is no longer a draft.
    tx.submit(
        created.id,
        &Submit {
            note: "Changed",
            explanation: Some("Other"),
            late_reason: None,
            by: other_admin,
            at: h(42 * 24),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.snapshot().await.unwrap(), before, "nothing changed");
    assert_eq!(store.submission(created.id).await.unwrap(), Some(signed));

    // A version submitted without explanation or reason keeps none; once
    // returned it can no longer be signed off.
    let files = vec![file_record("return-2.csv", FileKind::Csv, maker, h(2))];
    let second = draft(&store, window.id, provider, 2, maker, h(2), files).await;
    let mut tx = store.begin().await.unwrap();
    tx.submit(second.id, &submit_as("On time", maker, h(3)))
        .await
        .unwrap();
    tx.set_submission_status(
        second.id,
        SubmissionStatus::Returned,
        "Fix row 3",
        officer,
        h(4),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let returned = store.submission(second.id).await.unwrap().unwrap();
    assert_eq!((returned.explanation, returned.late_reason), (None, None));
    let before = store.snapshot().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.sign_off(second.id, admin, h(5)).await.unwrap(),
        "returned"
    );
    tx.commit().await.unwrap();
    assert_eq!(store.snapshot().await.unwrap(), before, "nothing changed");
}

pub async fn latest_statuses_give_each_organisations_newest_version_only(store: Arc<dyn Store>) {
    let regulator = regulator(&store, "Office for Students").await;
    let officer = user(&store, regulator, "statuses@example.org").await;
    let orgs = [
        org(&store, "10000034").await,
        org(&store, "10000035").await,
        org(&store, "10000036").await,
        org(&store, "10000037").await,
    ];
    let [a, b, c, d] = orgs;
    let maker = user(&store, a, "statuses.a@example.ac.uk").await;
    let heses = window_record("heses", "HESES 2026", t0());
    let prevent = window_record("prevent", "Prevent 2026", t0());
    insert_window(&store, &heses).await;
    insert_window(&store, &prevent).await;
    let h = |n: i64| t0() + Duration::hours(n);
    let status = async |id: Uuid, s: SubmissionStatus, at: OffsetDateTime| {
        let mut tx = store.begin().await.unwrap();
        tx.submit(id, &submit_as("", maker, at)).await.unwrap();
        if s != SubmissionStatus::Submitted {
            tx.set_submission_status(id, s, "", officer, at)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    };
    // a: submitted, then a newer draft. b: returned, then submitted again.
    // c: accepted. d: nothing here, but a draft to the other window, as has a.
    let a1 = draft(&store, heses.id, a, 1, maker, h(1), Vec::new()).await;
    status(a1.id, SubmissionStatus::Submitted, h(2)).await;
    draft(&store, heses.id, a, 2, maker, h(3), Vec::new()).await;
    let b1 = draft(&store, heses.id, b, 1, maker, h(1), Vec::new()).await;
    status(b1.id, SubmissionStatus::Returned, h(2)).await;
    let b2 = draft(&store, heses.id, b, 2, maker, h(3), Vec::new()).await;
    status(b2.id, SubmissionStatus::Submitted, h(4)).await;
    let c1 = draft(&store, heses.id, c, 1, maker, h(1), Vec::new()).await;
    status(c1.id, SubmissionStatus::Accepted, h(2)).await;
    draft(&store, prevent.id, d, 1, maker, h(1), Vec::new()).await;
    let a_prevent = draft(&store, prevent.id, a, 1, maker, h(1), Vec::new()).await;
    status(a_prevent.id, SubmissionStatus::Accepted, h(2)).await;

    let mut tx = store.begin().await.unwrap();
    let mut got = tx.latest_statuses(heses.id).await.unwrap();
    got.sort_by_key(|(o, _)| *o);
    let mut want = vec![
        (a, SubmissionStatus::Draft),
        (b, SubmissionStatus::Submitted),
        (c, SubmissionStatus::Accepted),
    ];
    want.sort_by_key(|(o, _)| *o);
    assert_eq!(got, want, "one row per organisation, its newest version's");
    let mut got = tx.latest_statuses(prevent.id).await.unwrap();
    got.sort_by_key(|(o, _)| *o);
    let mut want = vec![
        (a, SubmissionStatus::Accepted),
        (d, SubmissionStatus::Draft),
    ];
    want.sort_by_key(|(o, _)| *o);
    assert_eq!(got, want);
    assert!(tx.latest_statuses(Uuid::new_v4()).await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

fn message(author: UserId, body: &str, at: OffsetDateTime) -> QueryMessageRecord {
    QueryMessageRecord {
        id: Uuid::new_v4(),
        author,
        body: body.into(),
        created_at: at,
    }
}

pub async fn queries_are_raised_answered_listed_by_each_filter_and_closed_once(
    store: Arc<dyn Store>,
) {
    let regulator = regulator(&store, "Office for Students").await;
    let officer = user(&store, regulator, "queries-officer@example.org").await;
    let second_officer = user(&store, regulator, "queries-officer2@example.org").await;
    let mine = org(&store, "10000038").await;
    let theirs = org(&store, "10000039").await;
    let hana = user(&store, mine, "hana.queries@example.ac.uk").await;
    let tom = user(&store, theirs, "tom.queries@example.ac.uk").await;
    let heses = window_record("heses", "HESES 2026", t0());
    let prevent = window_record("prevent", "Prevent 2026", t0());
    insert_window(&store, &heses).await;
    insert_window(&store, &prevent).await;
    let h = |n: i64| t0() + Duration::hours(n);
    let mine_v1 = draft(&store, heses.id, mine, 1, hana, h(1), Vec::new()).await;
    let mine_v2 = draft(&store, heses.id, mine, 2, hana, h(1), Vec::new()).await;
    let theirs_v1 = draft(&store, heses.id, theirs, 1, tom, h(1), Vec::new()).await;
    let mine_prevent = draft(&store, prevent.id, mine, 1, hana, h(1), Vec::new()).await;

    let raise = |s: &SubmissionRecord, subject: &str, at: OffsetDateTime| QueryRecord {
        id: Uuid::new_v4(),
        submission_id: s.id,
        window_id: s.window_id,
        organisation_id: s.organisation_id,
        subject: subject.into(),
        raised_by: officer,
        raised_at: at,
        closed_by: None,
        closed_at: None,
        messages: vec![message(
            officer,
            &format!("About {subject}: please explain."),
            at,
        )],
    };
    let mut q1 = raise(&mine_v1, "Row 3's UKPRN", h(2));
    let mut q2 = raise(&mine_v2, "Student numbers \"up 40%\"", h(3));
    let q3 = raise(&theirs_v1, "Their census date", h(4));
    let q4 = raise(&mine_prevent, "Prevent — ünïcode ✓", h(5));
    let mut tx = store.begin().await.unwrap();
    // Raised out of order: listed by when they were raised.
    for q in [&q3, &q1, &q4, &q2] {
        tx.insert_query(q).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(store.query(q1.id).await.unwrap(), Some(q1.clone()));
    assert_eq!(store.query(Uuid::new_v4()).await.unwrap(), None);

    // Answers and replies, oldest first whatever order they are written in.
    let answer = message(hana, "It was a typing mistake.\nFixed in version 2.", h(7));
    let reply = message(officer, "Thank you.", h(8));
    let earlier = message(hana, "Looking into it.", h(6));
    let mut tx = store.begin().await.unwrap();
    let locked = tx.query_for_update(q1.id).await.unwrap();
    assert_eq!(locked, Some(q1.clone()));
    tx.insert_query_message(q1.id, &answer).await.unwrap();
    tx.insert_query_message(q1.id, &reply).await.unwrap();
    tx.insert_query_message(q1.id, &earlier).await.unwrap();
    q1.messages.extend([earlier, answer, reply]);
    assert_eq!(
        tx.query_for_update(q1.id).await.unwrap(),
        Some(q1.clone()),
        "seen in the same transaction"
    );
    assert_eq!(tx.query_for_update(Uuid::new_v4()).await.unwrap(), None);
    tx.commit().await.unwrap();
    assert_eq!(store.query(q1.id).await.unwrap(), Some(q1.clone()));

    let list = |filter: QueryFilter| {
        let store = store.clone();
        async move { store.queries(&filter).await.unwrap() }
    };
    let all = QueryFilter::default();
    assert_eq!(
        list(all).await,
        [q1.clone(), q2.clone(), q3.clone(), q4.clone()],
        "every query, with its own messages, oldest first"
    );
    let by_submission = QueryFilter {
        submission: Some(mine_v1.id),
        ..all
    };
    assert_eq!(list(by_submission).await, [q1.clone()]);
    let by_window = QueryFilter {
        window: Some(heses.id),
        ..all
    };
    assert_eq!(list(by_window).await, [q1.clone(), q2.clone(), q3.clone()]);
    let by_org = QueryFilter {
        organisation: Some(mine),
        ..all
    };
    assert_eq!(list(by_org).await, [q1.clone(), q2.clone(), q4.clone()]);
    let mine_in_heses = QueryFilter {
        window: Some(heses.id),
        organisation: Some(mine),
        ..all
    };
    assert_eq!(list(mine_in_heses).await, [q1.clone(), q2.clone()]);
    let theirs_as_mine = QueryFilter {
        submission: Some(theirs_v1.id),
        organisation: Some(mine),
        ..all
    };
    assert!(
        list(theirs_as_mine).await.is_empty(),
        "another organisation's submission, with my organisation: none"
    );

    // Closed once: the first close stands.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.close_query(q2.id, second_officer, h(9)).await.unwrap());
    tx.commit().await.unwrap();
    q2.closed_by = Some(second_officer);
    q2.closed_at = Some(h(9));
    assert_eq!(store.query(q2.id).await.unwrap(), Some(q2.clone()));
    let before = store.snapshot().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.close_query(q2.id, officer, h(10)).await.unwrap(),
        "already closed"
    );
    assert!(
        !tx.close_query(Uuid::new_v4(), officer, h(10))
            .await
            .unwrap(),
        "unknown"
    );
    tx.commit().await.unwrap();
    assert_eq!(store.snapshot().await.unwrap(), before, "nothing changed");
    assert_eq!(store.query(q2.id).await.unwrap(), Some(q2.clone()));

    let open = QueryFilter {
        open_only: true,
        ..all
    };
    assert_eq!(list(open).await, [q1.clone(), q3.clone(), q4.clone()]);
    assert_eq!(
        list(QueryFilter {
            organisation: Some(mine),
            ..open
        })
        .await,
        [q1.clone(), q4.clone()]
    );
    assert_eq!(
        list(QueryFilter {
            open_only: true,
            ..by_submission
        })
        .await,
        [q1.clone()]
    );
    assert!(
        list(QueryFilter {
            submission: Some(mine_v2.id),
            ..open
        })
        .await
        .is_empty()
    );
    assert_eq!(
        list(by_window).await,
        [q1, q2, q3],
        "closed ones still listed"
    );
}

pub async fn a_reminder_is_claimed_once_per_window_offset_and_closing_even_concurrently(
    store: Arc<dyn Store>,
) {
    let heses = window_record("heses", "HESES 2026", t0());
    let prevent = window_record("prevent", "Prevent 2026", t0());
    insert_window(&store, &heses).await;
    insert_window(&store, &prevent).await;
    let closes = heses.closes_at;
    let now = closes - Duration::days(7);

    let mut tx = store.begin().await.unwrap();
    assert!(tx.claim_reminder(heses.id, 7, closes, now).await.unwrap());
    assert!(
        !tx.claim_reminder(heses.id, 7, closes, now).await.unwrap(),
        "the same transaction"
    );
    assert!(
        tx.claim_reminder(heses.id, 3, closes, now).await.unwrap(),
        "another offset"
    );
    assert!(
        tx.claim_reminder(prevent.id, 7, closes, now).await.unwrap(),
        "another window"
    );
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.claim_reminder(heses.id, 7, closes, now + Duration::hours(1))
            .await
            .unwrap()
    );
    assert!(!tx.claim_reminder(heses.id, 3, closes, now).await.unwrap());
    // The window moved later: its reminders are due again on the new timetable.
    let moved = closes + Duration::days(5);
    assert!(tx.claim_reminder(heses.id, 7, moved, now).await.unwrap());
    tx.commit().await.unwrap();

    // A claim rolled back leaves the reminder to claim.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.claim_reminder(heses.id, 1, closes, now).await.unwrap());
    drop(tx);

    // Two transactions at once: the second waits and gets false once the first commits.
    let (claimed_tx, claimed_rx) = tokio::sync::oneshot::channel();
    let first = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let got = tx.claim_reminder(heses.id, 1, closes, now).await.unwrap();
            claimed_tx.send(()).unwrap();
            // Held a moment, as a transaction queuing emails would be.
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            tx.commit().await.unwrap();
            got
        })
    };
    let second = {
        let store = store.clone();
        tokio::spawn(async move {
            claimed_rx.await.unwrap();
            let mut tx = store.begin().await.unwrap();
            let got = tx.claim_reminder(heses.id, 1, closes, now).await.unwrap();
            tx.commit().await.unwrap();
            got
        })
    };
    assert!(first.await.unwrap(), "the first claims it");
    assert!(
        !second.await.unwrap(),
        "the second, at the same time, does not"
    );
    // And many at once: one.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let got = tx.claim_reminder(prevent.id, 1, closes, now).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            tx.commit().await.unwrap();
            got
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    let reminders = &store.snapshot().await.unwrap()["window_reminders"];
    assert_eq!(reminders.len(), 6, "{reminders:?}");
}

pub async fn snapshots_change_with_every_issue_16_table(store: Arc<dyn Store>) {
    let regulator = regulator(&store, "Office for Students").await;
    let officer = user(&store, regulator, "snap-officer@example.org").await;
    let provider = org(&store, "10000040").await;
    let maker = user(&store, provider, "snap.maker@example.ac.uk").await;
    let window = window_record("heses", "HESES 2026", t0());
    insert_window(&store, &window).await;
    let h = |n: i64| t0() + Duration::hours(n);
    let files = vec![
        file_record("a.csv", FileKind::Csv, maker, h(1)),
        file_record("b.csv", FileKind::Csv, maker, h(1)),
        file_record("c.csv", FileKind::Csv, maker, h(1)),
    ];
    let s = draft(&store, window.id, provider, 1, maker, h(1), files.clone()).await;

    let mut snap = store.snapshot().await.unwrap();
    let mut step = async |what: &str, expected: &[&str], tx: Box<dyn StoreTx>| {
        tx.commit().await.unwrap();
        let next = store.snapshot().await.unwrap();
        assert_eq!(changed_tables(&snap, &next), expected, "{what}");
        snap = next;
    };
    // Each window setting on its own.
    let mut w = window.clone();
    for n in 0..4 {
        match n {
            0 => w.column_rules = every_rule(),
            1 => w.sign_off_required = true,
            2 => w.reminder_days = vec![5],
            _ => w.late_submissions = true,
        }
        let mut tx = store.begin().await.unwrap();
        tx.update_window(&w, t0()).await.unwrap();
        step(&format!("window setting {n}"), &["collection_windows"], tx).await;
    }
    let check = |file: &FileRecord, rule_counts: Vec<RuleCount>| FileCheckRecord {
        file_id: file.id,
        rules: Vec::new(),
        data_rows: 1,
        errors: 0,
        warnings: 0,
        rule_counts,
        checked_at: h(1),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_file_check(&check(&files[0], Vec::new()), &[])
        .await
        .unwrap();
    step("a check alone", &["file_checks"], tx).await;
    let count = RuleCount {
        severity: Severity::Warning,
        rule: "r".into(),
        column: "c".into(),
        count: 1,
        first_row: Some(2),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_file_check(&check(&files[1], vec![count]), &[])
        .await
        .unwrap();
    step(
        "a check with a rule count",
        &["file_check_rules", "file_checks"],
        tx,
    )
    .await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_file_check(
        &check(&files[2], Vec::new()),
        &[finding(Severity::Error, 1, None)],
    )
    .await
    .unwrap();
    step(
        "a check with a finding",
        &["file_checks", "file_findings"],
        tx,
    )
    .await;
    let mut tx = store.begin().await.unwrap();
    tx.submit(
        s.id,
        &Submit {
            note: "",
            explanation: Some("Why"),
            late_reason: Some("Late"),
            by: maker,
            at: h(2),
        },
    )
    .await
    .unwrap();
    step("submitted", &["submissions"], tx).await;
    let mut tx = store.begin().await.unwrap();
    assert!(tx.sign_off(s.id, maker, h(3)).await.unwrap());
    step("signed off", &["submissions"], tx).await;
    let query = QueryRecord {
        id: Uuid::new_v4(),
        submission_id: s.id,
        window_id: window.id,
        organisation_id: provider,
        subject: "Why?".into(),
        raised_by: officer,
        raised_at: h(4),
        closed_by: None,
        closed_at: None,
        messages: Vec::new(),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_query(&query).await.unwrap();
    step("a query without messages", &["submission_queries"], tx).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_query_message(query.id, &message(maker, "Because", h(5)))
        .await
        .unwrap();
    step("a message", &["query_messages"], tx).await;
    let mut tx = store.begin().await.unwrap();
    assert!(tx.close_query(query.id, officer, h(6)).await.unwrap());
    step("closed", &["submission_queries"], tx).await;
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.claim_reminder(window.id, 5, window.closes_at, h(7))
            .await
            .unwrap()
    );
    step("a reminder", &["window_reminders"], tx).await;
}

// Issue 16, data-return checks and sign-off (end) -----------------------------

/// The reminder job's cheap look and its in-transaction read (issue 16).
pub async fn claimed_reminders_are_listed_and_a_window_is_read_in_its_transaction(
    store: Arc<dyn Store>,
) {
    let heses = window_record("heses", "HESES 2026", t0());
    let prevent = window_record("prevent", "Prevent 2026", t0());
    insert_window(&store, &heses).await;
    insert_window(&store, &prevent).await;
    let closes = heses.closes_at;
    assert!(
        store
            .reminders_claimed(heses.id, closes)
            .await
            .unwrap()
            .is_empty()
    );
    let mut tx = store.begin().await.unwrap();
    for days in [1, 14, 7] {
        assert!(
            tx.claim_reminder(heses.id, days, closes, t0())
                .await
                .unwrap()
        );
    }
    assert!(
        tx.claim_reminder(prevent.id, 3, closes, t0())
            .await
            .unwrap()
    );
    let later = closes + Duration::days(2);
    assert!(tx.claim_reminder(heses.id, 2, later, t0()).await.unwrap());
    assert_eq!(
        tx.window_for_update(heses.id).await.unwrap(),
        Some(heses.clone())
    );
    assert_eq!(tx.window_for_update(Uuid::new_v4()).await.unwrap(), None);
    tx.commit().await.unwrap();
    let mut claimed = store.reminders_claimed(heses.id, closes).await.unwrap();
    claimed.sort_unstable();
    assert_eq!(
        claimed,
        [1, 7, 14],
        "only this window's, for this closing time"
    );
    assert_eq!(store.reminders_claimed(heses.id, later).await.unwrap(), [2]);
    // A window moved inside a transaction is read back moved, in it.
    let moved = WindowRecord {
        closes_at: later,
        ..heses.clone()
    };
    let mut tx = store.begin().await.unwrap();
    tx.update_window(&moved, t0()).await.unwrap();
    assert_eq!(tx.window_for_update(heses.id).await.unwrap(), Some(moved));
    drop(tx);
    assert_eq!(store.window(heses.id).await.unwrap(), Some(heses));
}
