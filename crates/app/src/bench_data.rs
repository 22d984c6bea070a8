//! A benchmark dataset (`portal bench-data`, docs/performance.md): providers,
//! their users and roles, live sessions, audit history, collection windows and
//! submissions, at a chosen scale and the same for the same seed.
//!
//! Users and roles go in through the legacy import (the portal's bulk path, so
//! a million users take seconds); the rest is written through the store, like
//! any use case would, in one transaction.
//!
//! The dataset is for benchmarks only: its session tokens are derived from the
//! seed and written to the manifest, so the command refuses a database that
//! already holds anything, and production (see the CLI).

use domain::audit::Outcome;
use domain::collection::{FileKind, SubmissionStatus};
use domain::role::{INITIAL_DATA_RETURN_AREAS, Role};
use domain::session::SessionToken;
use domain::{AreaSlug, OrgId, UserId};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::{FileRecord, NewAuditEvent, NewSession, NewSubmission, SessionKind, WindowRecord};
use time::Duration;

use crate::admin::{OrganisationInput, UserInput};
use crate::legacy_import::Progress;
use crate::{App, AppError, AppResult, RequestMeta};

/// How much to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub providers: usize,
    pub users: usize,
    /// Live sessions, spread over users who may sign in.
    pub sessions: usize,
    pub audit_events: usize,
    pub seed: u64,
}

impl Default for Scale {
    fn default() -> Self {
        Self {
            providers: 1_000,
            users: 50_000,
            sessions: 100_000,
            audit_events: 100_000,
            seed: 1,
        }
    }
}

/// The provider the User management scenario looks at has this many users.
pub const BIG_PROVIDER_USERS: usize = 500;

/// What the load harness needs to know about a generated dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub scale_providers: usize,
    pub scale_users: usize,
    pub seed: u64,
    /// A Portal Administrator of the provider with [`BIG_PROVIDER_USERS`] users:
    /// a browser session (cookie) and an API session (bearer token).
    pub big_provider_admin_web: String,
    pub big_provider_admin_api: String,
    pub big_provider_users: usize,
    /// API sessions of a Portal Administrator of each of several other providers.
    pub other_admins_api: Vec<String>,
    /// Users who may sign in (not locked, not expired), shuffled.
    pub sign_in_emails: Vec<String>,
    /// Prefixes of names and addresses that occur in the data.
    pub search_terms: Vec<String>,
    /// API sessions of users who may sign in ([`Scale::sessions`] of them).
    pub session_tokens: Vec<String>,
}

const FIRST_NAMES: [&str; 40] = [
    "Ada", "Ben", "Chloe", "Dev", "Ella", "Femi", "Grace", "Hana", "Isaac", "Jas", "Kai", "Lena",
    "Maya", "Niall", "Olu", "Priya", "Quinn", "Rhys", "Sara", "Tom", "Uma", "Vik", "Wren", "Xin",
    "Yusuf", "Zara", "Aled", "Bethan", "Cerys", "Dafydd", "Eilidh", "Fergus", "Gwen", "Hamish",
    "Iona", "Jamal", "Kirsty", "Lewis", "Morag", "Nia",
];

const LAST_NAMES: [&str; 60] = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Thomas",
    "Clarke",
    "Jackson",
    "Wood",
    "Harris",
    "Edwards",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Hughes",
    "Moore",
    "Clark",
    "King",
    "Harrison",
    "Lewis",
    "Baker",
    "Lee",
    "Allen",
    "Morris",
    "Khan",
    "Scott",
    "Watson",
    "Davis",
    "Parker",
    "James",
    "Bennett",
    "Young",
    "Phillips",
    "Richardson",
    "Mitchell",
    "Bailey",
    "Carter",
    "Cook",
    "Singh",
    "Shaw",
    "Bell",
    "Collins",
    "Morgan",
    "Kelly",
    "Begum",
];

struct Person {
    provider: usize,
    email: String,
    first: &'static str,
    last: &'static str,
    admin: bool,
    delegate: bool,
    areas: Vec<&'static str>,
    locked: bool,
    expired: bool,
}

impl Person {
    fn may_sign_in(&self) -> bool {
        !self.locked && !self.expired
    }
}

fn ukprn(provider: usize) -> String {
    format!("{}", 10_000_000 + provider)
}

/// Everyone, provider by provider: provider 0 has [`BIG_PROVIDER_USERS`] users
/// (or half of a tiny dataset), the others share the rest evenly.
fn people(scale: &Scale, rng: &mut StdRng) -> Vec<Person> {
    let providers = scale.providers.max(1);
    let big = if providers == 1 {
        scale.users
    } else {
        BIG_PROVIDER_USERS.min(scale.users / 2)
    };
    let mut by_provider: Vec<usize> = vec![0; providers];
    by_provider[0] = big;
    for i in 0..scale.users - big {
        by_provider[1 + i % (providers - 1).max(1)] += 1;
    }
    let mut out = Vec::with_capacity(scale.users);
    for (provider, &count) in by_provider.iter().enumerate() {
        let admins = rng.gen_range(1..=3usize);
        for k in 0..count {
            let first = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())];
            let admin = k < admins;
            let delegate = !admin && rng.gen_bool(0.08);
            let mut areas = Vec::new();
            if !admin && !delegate {
                let how_many = match rng.gen_range(0..10) {
                    0 => 0,
                    1 | 2 => 2,
                    _ => 1,
                };
                for (slug, _) in INITIAL_DATA_RETURN_AREAS.choose_multiple(rng, how_many) {
                    areas.push(*slug);
                }
                areas.sort_unstable();
            }
            let unusual = !admin && rng.gen_bool(0.02);
            let email = format!(
                "{}.{}.{}@p{provider}.bench.example.ac.uk",
                first.to_lowercase(),
                last.to_lowercase(),
                out.len()
            );
            out.push(Person {
                provider,
                email,
                first,
                last,
                admin,
                delegate,
                areas,
                locked: unusual && rng.gen_bool(0.5),
                expired: unusual,
            });
        }
    }
    out
}

/// The old portal's export of everyone (docs/legacy-import.md): the same people
/// for the same scale and seed, with delegates as plain users (the old portal
/// had none).
pub fn legacy_export(scale: &Scale) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(scale.seed);
    export(&people(scale, &mut rng))
}

fn export(people: &[Person]) -> Vec<u8> {
    let mut csv = String::with_capacity(people.len() * 140);
    csv.push_str(
        "ukprn,provider_name,email,title,first_name,last_name,expires_on,locked,\
         user_administrator,areas,legacy_roles\n",
    );
    for p in people {
        csv.push_str(&format!(
            "{},Bench University {},{},,{},{},{},{},{},{},\n",
            ukprn(p.provider),
            p.provider,
            p.email,
            p.first,
            p.last,
            if p.expired { "2025-07-31" } else { "" },
            p.locked,
            p.admin,
            p.areas.join(";"),
        ));
    }
    csv.into_bytes()
}

impl App {
    /// Fills an empty database with a benchmark dataset; returns what the load
    /// harness needs. Refuses a database that holds any organisation.
    pub async fn generate_bench_data(
        &self,
        scale: &Scale,
        progress: &dyn Progress,
    ) -> AppResult<Manifest> {
        if scale.users < 2 || scale.providers < 1 || scale.users < scale.providers {
            return Err(AppError::invalid(
                "users",
                "a dataset needs at least two users and one user per provider",
            ));
        }
        if self.store.organisation_count().await? > 0 {
            return Err(AppError::Conflict(
                "the database is not empty: benchmark data goes only into a new database".into(),
            ));
        }
        let meta = RequestMeta::operator("bench-data");
        let mut rng = StdRng::seed_from_u64(scale.seed);
        let people = people(scale, &mut rng);

        let summary = self
            .import_legacy(&export(&people), false, &meta, progress)
            .await
            .map_err(|e| match e {
                crate::legacy_import::ImportError::Failed(e) => e,
                crate::legacy_import::ImportError::Rejected(lines) => AppError::Conflict(format!(
                    "generated export refused: {}",
                    lines
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
            })?;
        debug_assert_eq!(summary.created as usize, people.len());

        let regulator = self
            .create_organisation(
                &OrganisationInput {
                    name: "Office for Students".into(),
                    kind: "regulator".into(),
                    ukprn: None,
                    ..Default::default()
                },
                &meta,
            )
            .await?;
        let officer_roles = INITIAL_DATA_RETURN_AREAS
            .iter()
            .map(|(slug, _)| format!("regulator-officer:{slug}"))
            .collect();
        let staff = [
            ("Oscar", "Officer", "oscar.officer", officer_roles),
            (
                "Rita",
                "Regulator",
                "rita.regulator",
                vec!["regulator-admin".into()],
            ),
        ];
        for (first_name, last_name, mailbox, roles) in staff {
            let input = UserInput {
                organisation: regulator.to_string(),
                title: String::new(),
                first_name: first_name.into(),
                last_name: last_name.into(),
                email: format!("{mailbox}@ofs.bench.example.org"),
                roles,
            };
            self.create_user(&input, &meta).await?;
        }

        let now = self.clock.now();
        let mut tx = self.store.begin().await?;

        // Delegated administrators (the old portal had none to import).
        progress.stage("Delegated administrators", 0);
        let emails: Vec<String> = people.iter().map(|p| p.email.clone()).collect();
        let mut ids: Vec<UserId> = Vec::with_capacity(people.len());
        let mut orgs: Vec<Option<OrgId>> = vec![None; scale.providers];
        for chunk in emails.chunks(10_000) {
            let found = tx.accounts_by_emails(chunk).await?;
            let by_email: std::collections::HashMap<&str, (UserId, OrgId)> = found
                .iter()
                .map(|a| (a.email_norm.as_str(), (a.id, a.organisation_id)))
                .collect();
            for email in chunk {
                let (id, org) = by_email.get(email.as_str()).copied().ok_or_else(|| {
                    AppError::Conflict(format!("imported user {email} not found"))
                })?;
                orgs[people[ids.len()].provider] = Some(org);
                ids.push(id);
            }
        }
        let delegates: Vec<_> = people
            .iter()
            .zip(&ids)
            .filter(|(p, _)| p.delegate)
            .map(|(_, id)| store::role_grant(*id, Role::DelegatedPortalAdmin, None, now))
            .collect();
        tx.grant_roles(&delegates).await?;

        // Live sessions, for users who may sign in; tokens from the seed.
        progress.stage("Sessions", scale.sessions as u64);
        let may_sign_in: Vec<usize> = (0..people.len())
            .filter(|&i| people[i].may_sign_in())
            .collect();
        let session = |who: usize, kind: SessionKind, rng: &mut StdRng| {
            let token = SessionToken::generate(rng);
            let new = NewSession {
                token_hash: token.hash(),
                user_id: ids[who],
                kind,
                created_at: now - Duration::seconds(rng.gen_range(0..600)),
            };
            (token.expose().to_owned(), new)
        };
        let first_admin = |provider: usize| {
            people
                .iter()
                .position(|p| p.provider == provider && p.admin)
                .unwrap_or_default()
        };
        let mut admin_sessions = Vec::new();
        for kind in [SessionKind::Web, SessionKind::Api] {
            admin_sessions.push(session(first_admin(0), kind, &mut rng));
        }
        for provider in 1..scale.providers.min(33) {
            admin_sessions.push(session(first_admin(provider), SessionKind::Api, &mut rng));
        }
        for (_, new) in &admin_sessions {
            tx.insert_session(new).await?;
        }
        let mut session_tokens = Vec::with_capacity(scale.sessions);
        for n in 0..scale.sessions {
            let who = may_sign_in[rng.gen_range(0..may_sign_in.len())];
            let (token, new) = session(who, SessionKind::Api, &mut rng);
            tx.insert_session(&new).await?;
            session_tokens.push(token);
            if n % 1000 == 999 {
                progress.advance(1000);
            }
        }

        // A collection window open for each data return, with submissions
        // from about a third of the providers that have contributors for it.
        progress.stage("Windows and submissions", 0);
        for (slug, name) in INITIAL_DATA_RETURN_AREAS {
            let area = AreaSlug::parse(slug)
                .ok_or_else(|| AppError::Conflict(format!("bad area {slug}")))?;
            let window = WindowRecord {
                id: uuid::Uuid::new_v4(),
                area,
                name: format!("{name} 2026-27"),
                opens_at: now - Duration::days(14),
                closes_at: now + Duration::days(30),
                guidance: String::new(),
                file_types: vec![FileKind::Csv],
                closed_at: None,
                created_by: None,
                created_at: now - Duration::days(20),
                column_rules: Vec::new(),
                sign_off_required: false,
                reminder_days: Vec::new(),
                late_submissions: false,
            };
            tx.insert_window(&window).await?;
            let mut submitted = vec![false; scale.providers];
            for (i, p) in people.iter().enumerate() {
                if !p.areas.contains(&slug) || submitted[p.provider] || !rng.gen_bool(0.3) {
                    continue;
                }
                submitted[p.provider] = true;
                let Some(org) = orgs[p.provider] else {
                    continue;
                };
                self.bench_submission(&mut *tx, &window, org, ids[i], now)
                    .await?;
            }
        }
        // Opened a fortnight ago, so announced then: marked so (claimed
        // without queuing any email), or the outbox worker would email every
        // contributor during the benchmark and distort its figures. The
        // database held nothing before, so these are the only windows.
        while tx.claim_window_notice(now, &[]).await?.is_some() {}

        // Audit history: what a busy year leaves behind, spread over the
        // providers as their people are, one row in six a refused role change.
        // Written many rows per statement (`append_audit_bulk`), chained as
        // every row is: a million rows one statement each would take minutes.
        progress.stage("Audit history", scale.audit_events as u64);
        const ACTIONS: [(&str, &str); 6] = [
            ("sign_in.succeeded", ""),
            ("sign_in.code_requested", "code sent"),
            (
                "users.set_roles",
                "added=[data-collection-contributor:heses] removed=[]",
            ),
            ("users.update", "Portal access disabled"),
            ("submissions.upload", ""),
            ("users.set_roles", domain::authz::DELEGATE_ROLE),
        ];
        let mut batch = Vec::with_capacity(10_000);
        for n in 0..scale.audit_events {
            let i = rng.gen_range(0..people.len());
            let (action, detail) = ACTIONS[n % ACTIONS.len()];
            let refused = n % ACTIONS.len() == 5;
            // Someone of the same provider (people are listed provider by provider).
            let same = people.partition_point(|p| p.provider < people[i].provider);
            let end = people.partition_point(|p| p.provider <= people[i].provider);
            let target = ids[rng.gen_range(same..end.max(same + 1))];
            batch.push(NewAuditEvent {
                at: now - Duration::seconds((scale.audit_events - n) as i64),
                actor_id: Some(ids[i]),
                organisation_id: orgs[people[i].provider],
                action: action.into(),
                target: Some(target.to_string()),
                outcome: if refused {
                    Outcome::Refused
                } else {
                    Outcome::Success
                },
                detail: detail.into(),
                request_id: Some(format!("bench-{n}")),
                ip: Some("127.0.0.1".into()),
            });
            if batch.len() == batch.capacity() || n + 1 == scale.audit_events {
                tx.append_audit_bulk(&batch).await?;
                progress.advance(batch.len() as u64);
                batch.clear();
            }
        }
        tx.refresh_statistics().await?;
        tx.commit().await?;

        let mut sign_in_emails: Vec<String> = people
            .iter()
            .filter(|p| p.may_sign_in())
            .map(|p| p.email.clone())
            .collect();
        sign_in_emails.shuffle(&mut rng);
        let mut search_terms: Vec<String> = Vec::new();
        for last in LAST_NAMES {
            search_terms.push(last[..3].to_lowercase());
        }
        for first in FIRST_NAMES {
            search_terms.push(first.to_lowercase());
        }
        Ok(Manifest {
            scale_providers: scale.providers,
            scale_users: scale.users,
            seed: scale.seed,
            big_provider_admin_web: admin_sessions[0].0.clone(),
            big_provider_admin_api: admin_sessions[1].0.clone(),
            big_provider_users: people.iter().filter(|p| p.provider == 0).count(),
            other_admins_api: admin_sessions[2..].iter().map(|(t, _)| t.clone()).collect(),
            sign_in_emails,
            search_terms,
            session_tokens,
        })
    }

    /// One submitted return with a small CSV file, kept in the file store.
    async fn bench_submission(
        &self,
        tx: &mut dyn store::StoreTx,
        window: &WindowRecord,
        org: OrgId,
        by: UserId,
        now: time::OffsetDateTime,
    ) -> AppResult<()> {
        let bytes = format!("ukprn,students\n{org},{}\n", now.unix_timestamp());
        let key = uuid::Uuid::new_v4().to_string();
        let scratch = self.files.scratch_dir();
        tokio::fs::create_dir_all(&scratch)
            .await
            .map_err(|e| AppError::Conflict(format!("cannot write a file: {e}")))?;
        let path = scratch.join(&key);
        tokio::fs::write(&path, bytes.as_bytes())
            .await
            .map_err(|e| AppError::Conflict(format!("cannot write a file: {e}")))?;
        self.files
            .put(&key, &path)
            .await
            .map_err(|e| AppError::Conflict(format!("cannot keep a file: {e}")))?;
        let file = FileRecord {
            id: uuid::Uuid::new_v4(),
            storage_key: key,
            filename: format!("{}-return.csv", window.area),
            kind: FileKind::Csv,
            size: bytes.len() as i64,
            sha256: Sha256::digest(bytes.as_bytes()).to_vec(),
            uploaded_by: by,
            uploaded_at: now - Duration::days(2),
        };
        let submission = NewSubmission {
            id: uuid::Uuid::new_v4(),
            window_id: window.id,
            organisation_id: org,
            version: 1,
            status: SubmissionStatus::Draft,
            note: String::new(),
            created_by: by,
            created_at: now - Duration::days(2),
        };
        tx.insert_submission(&submission).await?;
        tx.insert_file(&file).await?;
        tx.attach_file(submission.id, file.id).await?;
        tx.submit(
            submission.id,
            &store::Submit {
                note: "Our return for this year.",
                explanation: None,
                late_reason: None,
                by,
                at: now - Duration::days(1),
            },
        )
        .await?;
        Ok(())
    }
}
