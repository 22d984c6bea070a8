//! Passwords (PRODUCT §3, seed 000), when `PORTAL_PASSWORD_SIGN_IN` is on:
//! registering with an access key, signing in with a password, and setting a
//! password after proving control of the mailbox with an emailed code.
//!
//! Five wrong passwords in a row lock the account until an administrator
//! unlocks it (seed 000 B3–B4); that lock and the passcode lock are one lock
//! (`AccountState::is_locked`), so neither path gets round the other. Every
//! refusal a stranger could learn from gets the passcode path's answer
//! (`CodeRejected`), and an unknown address costs the same hashing work as a
//! known one.

use std::sync::OnceLock;

use domain::access_key::{self, AccessKey};
use domain::audit::Outcome;
use domain::otp::{self, Passcode};
use domain::{AttemptId, EmailAddress, password};
use rand::rngs::OsRng;
use store::{NewAttempt, SessionKind, UserRecord};

use crate::permit::{self, Refusal};
use crate::sign_in::SignedIn;
use crate::unit::Entry;
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta, emails};

/// Create an account (seed 000): name, email, password and access key.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub password: String,
    pub access_key: String,
}

pub const ADDRESS_REGISTERED: &str = "This email address already has a Provider Portal account: \
     sign in, then use ‘Activate an access key’ under My account";

/// A hash checked when there is no account, so that an unknown address costs
/// the same argon2 work as a known one.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        password::hash("no account has this password", &mut OsRng).unwrap_or_default()
    })
}

/// A refused password sign-in's audit row, about the account if there is one.
fn refused_sign_in<'a>(
    email: &EmailAddress,
    why: &'a str,
    about: Option<&'a UserRecord>,
) -> Entry<'a> {
    Entry::new(Outcome::Refused, Some(email.normalised()), why).about(about)
}

impl App {
    fn passwords_enabled(&self) -> AppResult<()> {
        if self.settings.password_sign_in {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }

    /// Registers a new account at the access key's provider, with the key's
    /// role and a password. The key is checked before the address, so only
    /// someone holding a live key learns whether an address has an account.
    pub async fn register(
        &self,
        input: &Registration,
        meta: &RequestMeta,
    ) -> AppResult<store::UserWithRoles> {
        const ACTION: &str = "register";
        self.passwords_enabled()?;
        self.ip_limited(meta, None, ACTION).await?;
        let mut errors = FieldErrors::new();
        let person = crate::admin::person(
            &mut errors,
            &input.title,
            &input.first_name,
            &input.last_name,
            &input.email,
        );
        if let Err(why) = self.settings.password_policy.check(&input.password) {
            errors.insert("password", why.into());
        }
        let key = AccessKey::parse(&input.access_key);
        if key.is_none() {
            errors.insert(
                "access_key",
                "Enter the access key as printed in the letter: 24 letters and numbers".into(),
            );
        }
        let parsed = match (person, key) {
            (Some(person), Some(key)) if errors.is_empty() => Some((person, key)),
            _ => None,
        };
        let Some(((title, first_name, last_name, email), key)) = parsed else {
            let refusal = Refusal::because(ACTION, "invalid form", AppError::Invalid(errors));
            return Err(self.refused(meta, None, refusal).await);
        };
        let hash = password::hash(&input.password, &mut OsRng)
            .map_err(|e| AppError::internal(e.to_string()))?;
        let target = email.normalised();
        let refuse = |why: &str, answer: AppError| {
            AppError::from(Refusal::because(ACTION, why, answer).with_target(target.clone()))
        };
        self.change(meta, None, async |u| {
            let now = u.now;
            let Some(record) = u
                .tx()
                .access_key_by_hash_for_update(&key.hash(&self.key))
                .await?
            else {
                let answer = AppError::invalid("access_key", access_key::KEY_REFUSED);
                return Err(refuse("unknown access key", answer));
            };
            // The key's role is granted at the key's own provider.
            let org_id = record.organisation_id;
            let permit = permit::access_key(record, org_id, now, ACTION).map_err(|r| {
                let answer = AppError::invalid("access_key", access_key::KEY_REFUSED);
                refuse(&r.detail, answer)
            })?;
            if u.tx()
                .user_by_email_for_update(&email.normalised())
                .await?
                .is_some()
            {
                let answer = AppError::Conflict(ADDRESS_REGISTERED.into());
                return Err(refuse("address already has an account", answer));
            }
            let Some(org) = u.tx().organisation(org_id).await? else {
                return Err(AppError::internal("access key of a missing organisation"));
            };
            let user_id = domain::UserId::random();
            u.tx()
                .insert_user(&store::NewUser {
                    id: user_id,
                    organisation_id: org.id,
                    title: title.clone(),
                    first_name: first_name.clone(),
                    last_name: last_name.clone(),
                    email: email.clone(),
                    created_at: now,
                    created_by: None,
                })
                .await?;
            u.tx().set_password(user_id, &hash).await?;
            let grant = self
                .use_access_key(u, &permit, user_id)
                .await?
                .ok_or_else(|| AppError::internal("a new account already held a role"))?;
            let Some(user) = u.tx().user(user_id).await? else {
                return Err(AppError::internal("registered user vanished"));
            };
            let record = permit.on();
            let detail = format!("access key {} role={}", record.id, record.role.id());
            u.audit_as(
                &permit,
                Some(user_id),
                Some(target.clone()),
                Outcome::Success,
                &detail,
            )
            .await?;
            u.email(emails::registered(
                email.as_str(),
                &user.display_name(),
                &org.name,
                &grant.name(),
                &self.settings.base_url,
                now,
            ))
            .await?;
            let alert = crate::users::Alert {
                subject: "access key activated",
                lead: format!(
                    "{} registered a new account with an access key",
                    crate::users::person_named(&user.display_name(), user.email.as_str())
                ),
                changes: vec![format!("Role given: {}", grant.name())],
            };
            self.alert_portal_admins(u, org.id, &[user_id], &alert)
                .await?;
            let roles = vec![grant];
            Ok(u.done(&permit, store::UserWithRoles { user, roles }))
        })
        .await
    }

    /// Signs in with a password, counted for the metrics (issue 14): see
    /// `try_password`.
    pub async fn sign_in_with_password(
        &self,
        email_input: &str,
        password_input: &str,
        kind: SessionKind,
        replaces: Option<&[u8]>,
        meta: &RequestMeta,
    ) -> AppResult<SignedIn> {
        let result = self
            .try_password(email_input, password_input, kind, replaces, meta)
            .await;
        crate::sign_in::count_sign_in(&result, "signed_in");
        result
    }

    /// Signs in with email and password. Unknown, disabled, expired and locked
    /// accounts, accounts without a password and wrong passwords all get
    /// `CodeRejected`; the fifth wrong password in a row locks the account
    /// until an administrator unlocks it, and ends its sessions.
    async fn try_password(
        &self,
        email_input: &str,
        password_input: &str,
        kind: SessionKind,
        replaces: Option<&[u8]>,
        meta: &RequestMeta,
    ) -> AppResult<SignedIn> {
        const ACTION: &str = "sign_in.password";
        self.passwords_enabled()?;
        let permit = self.ip_limited(meta, None, ACTION).await?;
        let mut errors = FieldErrors::new();
        let email = EmailAddress::parse(email_input)
            .map_err(|e| errors.insert("email", e.to_string()))
            .ok();
        if password_input.is_empty() {
            errors.insert("password", "Enter your password".into());
        } else if password_input.chars().count() > password::MAX_CHARS {
            // Longer than any password can be: refused before any hashing work.
            errors.insert(
                "password",
                "Password must be 128 characters or fewer".into(),
            );
        }
        let Some(email) = email.filter(|_| errors.is_empty()) else {
            let refusal = Refusal::because(ACTION, "invalid form", AppError::Invalid(errors));
            return Err(self.refused(meta, None, refusal).await);
        };
        // A wrong password is counted and committed, then answered as a refusal.
        self.change(meta, None, async |u| {
            let now = u.now;
            let user = u.tx().user_by_email_for_update(&email.normalised()).await?;
            let stored = match &user {
                Some(x) => u.tx().password_hash(x.id).await?,
                None => None,
            };
            let matches =
                password::verify(password_input, stored.as_deref().unwrap_or(decoy_hash()))
                    && stored.is_some();
            let refuse = |why, about| refused_sign_in(&email, why, about);
            let Some(user) = user else {
                u.record(&permit, refuse("no account with this address", None))
                    .await?;
                return Ok(u.done(&permit, Err(AppError::CodeRejected)));
            };
            if !user.account_state().may_sign_in(now) {
                let why = "account may not sign in (disabled, expired or locked)";
                u.record(&permit, refuse(why, Some(&user))).await?;
                return Ok(u.done(&permit, Err(AppError::CodeRejected)));
            }
            if stored.is_none() {
                u.record(&permit, refuse("no password set", Some(&user)))
                    .await?;
                return Ok(u.done(&permit, Err(AppError::CodeRejected)));
            }
            if !matches {
                let failures = u.tx().add_password_failure(user.id).await?;
                u.record(&permit, refuse("wrong password", Some(&user)))
                    .await?;
                if failures >= password::FAILURES_BEFORE_LOCK {
                    u.tx().lock_account(user.id).await?;
                    u.tx().end_sessions_of(user.id, now).await?;
                    let why = "account locked after consecutive wrong passwords: an administrator must unlock it";
                    u.record(&permit, refuse(why, Some(&user)).action("sign_in.locked"))
                        .await?;
                    // Told at the account's address, never on the page: the
                    // page answers every refusal alike (PRODUCT §3).
                    let Some(org) = u.tx().organisation(user.organisation_id).await? else {
                        return Err(AppError::internal("user of a missing organisation"));
                    };
                    u.email(emails::account_locked(
                        user.email.as_str(),
                        &user.display_name(),
                        failures,
                        &crate::session::Contact::of(&org).to_string(),
                        now,
                    ))
                    .await?;
                }
                return Ok(u.done(&permit, Err(AppError::CodeRejected)));
            }
            let signed_in = self.start_session(u, &permit, &user, kind, replaces).await?;
            Ok(u.done(&permit, Ok(signed_in)))
        })
        .await?
    }

    /// Emails the signed-in person a code with which to set a new password
    /// (My account → Change your password). Counts against the same limits
    /// as sign-in codes.
    pub async fn request_password_code(
        &self,
        actor: &Principal,
        meta: &RequestMeta,
    ) -> AppResult<AttemptId> {
        const ACTION: &str = "password.code_requested";
        self.passwords_enabled()?;
        self.ip_limited(meta, Some(actor), ACTION).await?;
        let permit = permit::own_account(actor, ACTION);
        let email_norm = actor.user.email.normalised();
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            let sent = u
                .tx()
                .codes_sent_since(&email_norm, now - otp::CODE_WINDOW)
                .await?;
            if sent >= otp::MAX_CODES_PER_WINDOW {
                let answer = AppError::RateLimited {
                    retry_after_secs: otp::CODE_WINDOW.whole_seconds() as u64,
                };
                let why = "code limit reached for this address";
                return Err(Refusal::because(ACTION, why, answer).into());
            }
            let attempt = AttemptId::random();
            let code = Passcode::generate(&mut OsRng);
            u.email(emails::password_code(actor.user.email.as_str(), &code, now))
                .await?;
            u.tx()
                .insert_attempt(&NewAttempt {
                    id: attempt,
                    email_norm: email_norm.clone(),
                    user_id: Some(actor.user.id),
                    code_hash: Some(self.key.code_hash(attempt, &code).to_vec()),
                    created_at: now,
                    expires_at: now + otp::CODE_TTL,
                })
                .await?;
            u.audit(&permit, None, "code sent").await?;
            Ok(u.done(&permit, attempt))
        })
        .await
    }

    /// What is wrong with the code and the new password as typed, before
    /// either is checked against anything (nothing: empty). The page asks this
    /// too when the confirmation differs, so that one submit says it all.
    pub fn new_password_errors(&self, code: &str, new_password: &str) -> FieldErrors {
        let mut errors = FieldErrors::new();
        if Passcode::parse(code).is_none() {
            errors.insert("code", "Enter the 6-digit code from the email".into());
        }
        if let Err(why) = self.settings.password_policy.check(new_password) {
            errors.insert("password", why.into());
        }
        errors
    }

    /// Sets the signed-in person's password, given the code emailed to them.
    /// A policy failure uses up no guess; a wrong code does (five void it).
    pub async fn set_password(
        &self,
        actor: &Principal,
        attempt: &str,
        code: &str,
        new_password: &str,
        meta: &RequestMeta,
    ) -> AppResult<()> {
        const ACTION: &str = "password.changed";
        self.passwords_enabled()?;
        let errors = self.new_password_errors(code, new_password);
        let code = Passcode::parse(code);
        let (Some(code), true) = (code, errors.is_empty()) else {
            let refusal = Refusal::because(ACTION, "invalid form", AppError::Invalid(errors));
            return Err(self.refused(meta, Some(actor), refusal).await);
        };
        let hash = password::hash(new_password, &mut OsRng)
            .map_err(|e| AppError::internal(e.to_string()))?;
        let permit = permit::own_account(actor, ACTION);
        // A wrong code uses up a guess, committed, and is then answered.
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            let found = match attempt.parse::<AttemptId>() {
                Ok(id) => u
                    .tx()
                    .take_guess(id, otp::MAX_GUESSES_PER_CODE, now)
                    .await?
                    .filter(|a| a.user_id == Some(actor.user.id)),
                Err(_) => None,
            };
            let ok = found.as_ref().is_some_and(|a| {
                a.code_hash
                    .as_deref()
                    .is_some_and(|h| self.key.code_matches(a.id, &code, h))
            });
            let consumed = match (&found, ok) {
                (Some(a), true) => u.tx().consume_attempt(a.id, now).await?,
                _ => false,
            };
            if !consumed {
                let why = "wrong, expired or used code";
                u.record(&permit, Entry::new(Outcome::Refused, None, why))
                    .await?;
                return Ok(u.done(&permit, Err(AppError::CodeRejected)));
            }
            u.tx().set_password(actor.user.id, &hash).await?;
            u.audit(&permit, None, "").await?;
            u.email(emails::password_changed(
                actor.user.email.as_str(),
                &actor.display_name(),
                now,
            ))
            .await?;
            Ok(u.done(&permit, Ok(())))
        })
        .await?
    }
}
