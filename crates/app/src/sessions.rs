//! Sessions you can see and end, sign out everywhere, and personal API tokens
//! (PRODUCT §3, §4, §9; API.md "Sessions and API tokens").
//!
//! A personal API token is a session of kind [`SessionKind::Token`] with a
//! name and an expiry of its own: it is looked up, resolved (user,
//! organisation and roles read fresh on every request), touched and ended
//! exactly as the other sessions are (`App::resolve_session`), so whatever
//! ends a user's sessions — disabled access, expiry, a lock, sign out
//! everywhere — ends their tokens too.
//!
//! Who may do what:
//! * Anyone signed in sees and ends their own sessions and tokens.
//! * Creating a token needs a signed-in session (browser or API sign-in), not
//!   another token: a leaked token cannot mint itself successors.
//! * Sign out everywhere, and seeing or revoking another user's tokens, follow
//!   the rule for changing that user's access (`Action::SetAccess`, as
//!   `PATCH /users/{id}` does): a Portal Administrator for their
//!   organisation's users, a Delegated administrator for those they may
//!   change (never a Portal Administrator), a regulator administrator for
//!   anyone; nobody for themselves (they use My account).

use domain::authz::{Action, Denial};
use domain::ids::MessageId;
use domain::session::{self, SessionToken};
use domain::{OrganisationKind, UserId};
use rand::rngs::OsRng;
use store::{NewApiToken, NewEmail, SessionKind, SessionRecord};
use time::{Duration, OffsetDateTime};

use crate::permit::{self, Permit, Refusal, TargetUser};
use crate::unit::Unit;
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta};

/// The longest a token's name may be, in characters.
pub const TOKEN_NAME_MAX: usize = 100;
/// The furthest ahead a token may expire.
pub const LONGEST_TOKEN: Duration = Duration::days(365);
/// Tokens one person may create in an hour.
pub const TOKENS_PER_HOUR: usize = 10;
/// Live (unrevoked, unexpired) tokens one person may hold at once.
pub const MOST_LIVE_TOKENS: usize = 25;

const CREATE: &str = "api_tokens.create";
const REVOKE: &str = "api_tokens.revoke";
const END: &str = "sessions.end";
const SIGN_OUT_EVERYWHERE: &str = "users.sign_out_everywhere";

/// Whether a session or token is still usable at `now` (ended ones are not
/// looked at here): a token until its expiry, a session until its idle
/// timeout (`idle`, the configured one) or its absolute timeout.
pub fn is_live(s: &SessionRecord, now: OffsetDateTime, idle: Duration) -> bool {
    ends_at(s, idle).is_some_and(|end| now < end)
}

/// When a session or token stops being usable if nothing more happens: a
/// token at its expiry, a session `idle` after it was last seen (at most 12
/// hours after sign-in). `None` for a token row without an expiry.
pub fn ends_at(s: &SessionRecord, idle: Duration) -> Option<OffsetDateTime> {
    match s.kind {
        SessionKind::Token => s.expires_at,
        SessionKind::Web | SessionKind::Api => {
            Some((s.last_seen_at + idle).min(s.created_at + session::ABSOLUTE_TIMEOUT))
        }
    }
}

/// A session or token as its owner sees it: never its hash.
#[derive(Debug, Clone)]
pub struct ListedSession {
    pub id: uuid::Uuid,
    pub kind: SessionKind,
    /// A token's name.
    pub name: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// The session the request came with.
    pub current: bool,
}

/// A personal API token, without its secret.
#[derive(Debug, Clone)]
pub struct ListedToken {
    pub id: uuid::Uuid,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// `None` until first used; then written at most once a minute.
    pub last_used_at: Option<OffsetDateTime>,
}

impl ListedToken {
    fn from_record(s: SessionRecord) -> Self {
        Self {
            id: s.id,
            last_used_at: (s.last_seen_at != s.created_at).then_some(s.last_seen_at),
            name: s.name.unwrap_or_default(),
            created_at: s.created_at,
            expires_at: s.expires_at.unwrap_or(s.created_at),
        }
    }
}

/// A token just created: the only moment its secret exists.
#[derive(Debug)]
pub struct CreatedToken {
    pub token: SessionToken,
    pub listed: ListedToken,
}

/// What a person asks for when creating a token.
#[derive(Debug, Clone, Default)]
pub struct NewTokenInput {
    pub name: String,
    /// `None`: not given (or not readable as a time).
    pub expires_at: Option<OffsetDateTime>,
}

impl App {
    /// The caller's live sessions and tokens, newest first, this one marked.
    pub async fn my_sessions(&self, actor: &Principal) -> AppResult<Vec<ListedSession>> {
        let now = self.clock.now();
        let found = self
            .store
            .user_sessions(actor.user.id, now, now - session::ABSOLUTE_TIMEOUT)
            .await?;
        Ok(found
            .into_iter()
            .filter(|s| is_live(s, now, self.settings.session_idle_timeout))
            .map(|s| ListedSession {
                current: s.id == actor.session_id,
                id: s.id,
                kind: s.kind,
                name: s.name,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
            })
            .collect())
    }

    /// The caller's live API tokens, newest first.
    pub async fn my_api_tokens(&self, actor: &Principal) -> AppResult<Vec<ListedToken>> {
        self.live_tokens_of(actor.user.id).await
    }

    async fn live_tokens_of(&self, user: UserId) -> AppResult<Vec<ListedToken>> {
        let now = self.clock.now();
        let found = self
            .store
            .user_sessions(user, now, now - session::ABSOLUTE_TIMEOUT)
            .await?;
        Ok(found
            .into_iter()
            .filter(|s| {
                s.kind == SessionKind::Token && is_live(s, now, self.settings.session_idle_timeout)
            })
            .map(ListedToken::from_record)
            .collect())
    }

    /// Ends one of the caller's own sessions or tokens (the current one too:
    /// that is signing out). Anyone else's, or one already over, is not found.
    pub async fn end_my_session(
        &self,
        actor: &Principal,
        id: uuid::Uuid,
        meta: &RequestMeta,
    ) -> AppResult<()> {
        let permit = permit::own_account(actor, END);
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            let found = u.tx().session_by_id(id).await?;
            let Some(s) = found.filter(|s| {
                s.user_id == actor.user.id
                    && s.ended_at.is_none()
                    && is_live(s, now, self.settings.session_idle_timeout)
            }) else {
                return Err(Refusal::denied(END, Some(id.to_string()), Denial::NotFound).into());
            };
            u.tx().end_session(&s.token_hash, now).await?;
            u.audit(&permit, Some(id.to_string()), s.kind.as_str())
                .await?;
            Ok(u.done(&permit, ()))
        })
        .await
    }

    /// Ends every browser and API session of the caller but this one.
    /// Personal API tokens stay: they are revoked one by one.
    pub async fn end_other_sessions(
        &self,
        actor: &Principal,
        meta: &RequestMeta,
    ) -> AppResult<u64> {
        let permit = permit::own_account(actor, "sessions.end_others");
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            let ended = u
                .tx()
                .end_other_sessions(actor.user.id, &actor.session_hash, now)
                .await?;
            u.audit(&permit, None, &format!("{ended} sessions ended"))
                .await?;
            Ok(u.done(&permit, ended))
        })
        .await
    }

    /// Ends every session and API token of user `id` at once (an
    /// administrator, by the rule for changing that user's access), and tells
    /// them by email.
    pub async fn sign_out_everywhere(
        &self,
        actor: &Principal,
        id: UserId,
        meta: &RequestMeta,
    ) -> AppResult<u64> {
        self.change(meta, Some(actor), async |u| {
            let target = target_for_change(u, actor, id, SIGN_OUT_EVERYWHERE).await?;
            let permit = permit::user(actor, target, &[Action::SetAccess], SIGN_OUT_EVERYWHERE)?;
            let now = u.now;
            let ended = u.tx().end_sessions_of(id, now).await?;
            u.audit(
                &permit,
                Some(id.to_string()),
                &format!("{ended} sessions and API tokens ended"),
            )
            .await?;
            let user = &permit.on().user;
            u.email(signed_out_everywhere(
                user.email.as_str(),
                &user.display_name(),
                &actor.display_name(),
                &self.settings.base_url,
                now,
            ))
            .await?;
            Ok(u.done(&permit, ended))
        })
        .await
    }

    /// The live tokens of user `id`, for whoever may change their access (the
    /// decision [`App::sign_out_everywhere`] takes); anyone else is refused.
    pub async fn user_tokens_for_admin(
        &self,
        actor: &Principal,
        id: UserId,
        meta: &RequestMeta,
    ) -> AppResult<Vec<ListedToken>> {
        const ACTION: &str = "api_tokens.list";
        let target = match self.read_target(actor, id).await? {
            Some(t) => permit::user(actor, t, &[Action::SetAccess], ACTION),
            None => Err(Refusal::denied(
                ACTION,
                Some(id.to_string()),
                Denial::NotFound,
            )),
        };
        self.permitted(meta, Some(actor), target).await?;
        self.live_tokens_of(id).await
    }

    /// Creates a personal API token for the caller, shown once. Needs a
    /// signed-in session, not another token; limited per address (as sign-in
    /// is), per person per hour, and in how many may be live at once.
    pub async fn create_api_token(
        &self,
        actor: &Principal,
        input: &NewTokenInput,
        meta: &RequestMeta,
    ) -> AppResult<CreatedToken> {
        let now = self.clock.now();
        if actor.session_kind == SessionKind::Token {
            let refusal = Refusal::because(
                CREATE,
                "an API token cannot create API tokens",
                AppError::Forbidden(
                    "API tokens are created while signed in, not with another API token".into(),
                ),
            );
            return Err(self.refused(meta, Some(actor), refusal).await);
        }
        if let Err(retry) = self.ip_hit(meta.ip).await? {
            let refusal = Refusal::because(
                CREATE,
                "too many requests from this address",
                AppError::RateLimited {
                    retry_after_secs: retry,
                },
            );
            return Err(self.refused(meta, Some(actor), refusal).await);
        }
        let name = input.name.trim().to_owned();
        let mut errors = FieldErrors::new();
        if name.is_empty() {
            errors.insert("name", "Enter a name for the token".into());
        } else if name.chars().count() > TOKEN_NAME_MAX {
            errors.insert(
                "name",
                format!("The name must be {TOKEN_NAME_MAX} characters or fewer"),
            );
        } else if name.chars().any(char::is_control) {
            errors.insert("name", "The name must be on one line".into());
        }
        match input.expires_at {
            None => {
                errors.insert("expires_at", "Enter the date the token expires".into());
            }
            Some(t) if t <= now => {
                errors.insert("expires_at", "The expiry date must be in the future".into());
            }
            Some(t) if t > now + LONGEST_TOKEN => {
                errors.insert(
                    "expires_at",
                    "The expiry date must be at most a year from today".into(),
                );
            }
            Some(_) => {}
        }
        let expires_at = match input.expires_at {
            Some(t) if errors.is_empty() => t,
            _ => {
                let fields = errors.keys().copied().collect::<Vec<_>>().join(",");
                let refusal = Refusal::because(
                    CREATE,
                    format!("invalid: {fields}"),
                    AppError::Invalid(errors),
                );
                return Err(self.refused(meta, Some(actor), refusal).await);
            }
        };
        let permit = permit::own_account(actor, CREATE);
        let token = SessionToken::generate(&mut OsRng);
        let id = uuid::Uuid::new_v4();
        let record = NewApiToken {
            id,
            token_hash: token.hash(),
            user_id: actor.user.id,
            name: name.clone(),
            created_at: now,
            expires_at,
        };
        self.change(meta, Some(actor), async |u| {
            // Locks the person's row on PostgreSQL: two creations at once are
            // counted one after the other.
            u.tx().user_for_update(actor.user.id).await?;
            let hour_ago = now - Duration::hours(1);
            let tokens = u.tx().api_tokens_of(actor.user.id, hour_ago, now).await?;
            let recent: Vec<&SessionRecord> =
                tokens.iter().filter(|t| t.created_at > hour_ago).collect();
            if recent.len() >= TOKENS_PER_HOUR {
                let oldest = recent.iter().map(|t| t.created_at).min().unwrap_or(now);
                let wait = (oldest + Duration::hours(1) - now).whole_seconds().max(1);
                return Err(Refusal::because(
                    CREATE,
                    format!("more than {TOKENS_PER_HOUR} tokens in an hour"),
                    AppError::RateLimited {
                        retry_after_secs: wait as u64,
                    },
                )
                .into());
            }
            let live: Vec<&SessionRecord> = tokens
                .iter()
                .filter(|t| {
                    t.ended_at.is_none() && is_live(t, now, self.settings.session_idle_timeout)
                })
                .collect();
            if live.len() >= MOST_LIVE_TOKENS {
                let soonest = live
                    .iter()
                    .filter_map(|t| t.expires_at)
                    .min()
                    .unwrap_or(now);
                let wait = (soonest - now).whole_seconds().max(1);
                return Err(Refusal::because(
                    CREATE,
                    format!("already {MOST_LIVE_TOKENS} live tokens"),
                    AppError::RateLimited {
                        retry_after_secs: wait as u64,
                    },
                )
                .into());
            }
            u.tx().insert_api_token(&record).await?;
            let detail = format!("name={name:?} expires_at={expires_at}");
            u.audit(&permit, Some(id.to_string()), &detail).await?;
            Ok(u.done(&permit, ()))
        })
        .await?;
        Ok(CreatedToken {
            token,
            listed: ListedToken {
                id,
                name,
                created_at: now,
                expires_at,
                last_used_at: None,
            },
        })
    }

    /// Revokes a token: its owner, or whoever may change the owner's access.
    /// Another organisation's token, or an id that is not a token, is not
    /// found. Revoking twice is not an error.
    pub async fn revoke_api_token(
        &self,
        actor: &Principal,
        id: uuid::Uuid,
        meta: &RequestMeta,
    ) -> AppResult<()> {
        self.change(meta, Some(actor), async |u| {
            let found = u.tx().session_by_id(id).await?;
            let Some(token) = found.filter(|s| s.kind == SessionKind::Token) else {
                return Err(Refusal::denied(REVOKE, Some(id.to_string()), Denial::NotFound).into());
            };
            let now = u.now;
            if token.user_id == actor.user.id {
                let permit = permit::own_account(actor, REVOKE);
                revoke(u, &permit, &token, now).await?;
                return Ok(u.done(&permit, ()));
            }
            let target = target_for_change(u, actor, token.user_id, REVOKE).await?;
            let permit = permit::user(actor, target, &[Action::SetAccess], REVOKE)
                // The refusal names the token asked for, not its owner.
                .map_err(|r| r.with_target(id.to_string()))?;
            revoke(u, &permit, &token, now).await?;
            Ok(u.done(&permit, ()))
        })
        .await
    }

    /// A user read without locking, as a decision about them needs it.
    async fn read_target(&self, actor: &Principal, id: UserId) -> AppResult<Option<TargetUser>> {
        let Some(user) = self.store.user(id).await? else {
            return Ok(None);
        };
        let kind = self.organisation_kind(actor, user.organisation_id).await?;
        let roles = self
            .store
            .user_roles(id)
            .await?
            .into_iter()
            .map(|g| g.role)
            .collect();
        Ok(Some(TargetUser { user, kind, roles }))
    }

    async fn organisation_kind(
        &self,
        actor: &Principal,
        org: domain::OrgId,
    ) -> AppResult<OrganisationKind> {
        if org == actor.organisation.id {
            return Ok(actor.organisation.kind);
        }
        match self.store.organisation(org).await? {
            Some(o) => Ok(o.kind),
            None => Err(AppError::internal("user without organisation")),
        }
    }
}

async fn revoke<P>(
    u: &mut Unit<'_>,
    permit: &Permit<P>,
    token: &SessionRecord,
    now: OffsetDateTime,
) -> AppResult<()> {
    if u.tx().end_session(&token.token_hash, now).await? {
        let detail = format!(
            "owner={} name={:?}",
            token.user_id,
            token.name.as_deref().unwrap_or_default()
        );
        u.audit(permit, Some(token.id.to_string()), &detail).await?;
    }
    Ok(())
}

/// User `id` for a change, read (and locked on PostgreSQL) in the change's
/// transaction; a user who does not exist is refused as not found.
async fn target_for_change(
    u: &mut Unit<'_>,
    actor: &Principal,
    id: UserId,
    action: &str,
) -> AppResult<TargetUser> {
    let tx = u.tx();
    let Some(user) = tx.user_for_update(id).await? else {
        return Err(Refusal::denied(action, Some(id.to_string()), Denial::NotFound).into());
    };
    let kind = if user.organisation_id == actor.organisation.id {
        actor.organisation.kind
    } else {
        match tx.organisation(user.organisation_id).await? {
            Some(org) => org.kind,
            None => return Err(AppError::internal("user without organisation")),
        }
    };
    let roles = tx
        .user_roles(id)
        .await?
        .into_iter()
        .map(|g| g.role)
        .collect();
    Ok(TargetUser { user, kind, roles })
}

/// The email a person gets when an administrator signs them out everywhere.
fn signed_out_everywhere(
    to: &str,
    name: &str,
    by: &str,
    base_url: &str,
    now: OffsetDateTime,
) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: "You have been signed out of Provider Portal everywhere".into(),
        body: format!(
            "Dear {name},\n\n\
             You have been signed out everywhere by {by}, an administrator.\n\
             Every session of your Provider Portal account has ended, and every\n\
             API token you created has stopped working.\n\n\
             To carry on, sign in again at {base_url}/sign-in. Create new API\n\
             tokens under My account if you need them.\n\n\
             If you did not expect this, contact a portal administrator at your\n\
             organisation, or portal@officeforstudents.org.uk.\n"
        ),
        created_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn record(kind: SessionKind, expires_at: Option<OffsetDateTime>) -> SessionRecord {
        let start = datetime!(2026-01-01 09:00 UTC);
        SessionRecord {
            token_hash: vec![1; 32],
            id: uuid::Uuid::nil(),
            user_id: UserId(uuid::Uuid::nil()),
            kind,
            name: expires_at.map(|_| "t".to_owned()),
            expires_at,
            created_at: start,
            last_seen_at: start,
            ended_at: None,
        }
    }

    #[test]
    fn a_token_lives_until_its_expiry_and_a_session_until_its_timeouts() {
        let start = datetime!(2026-01-01 09:00 UTC);
        let idle = session::IDLE_TIMEOUT;
        let token = record(SessionKind::Token, Some(start + Duration::days(30)));
        assert!(is_live(&token, start + Duration::days(29), idle));
        assert!(!is_live(&token, start + Duration::days(30), idle));
        let web = record(SessionKind::Web, None);
        assert!(is_live(&web, start + Duration::minutes(29), idle));
        assert!(!is_live(&web, start + Duration::minutes(30), idle));
        // A shorter configured idle timeout ends it sooner.
        let short = Duration::minutes(10);
        assert!(!is_live(&web, start + Duration::minutes(10), short));
        assert_eq!(ends_at(&web, short), Some(start + short));
        // However busy, 12 hours after sign-in.
        let mut busy = web.clone();
        busy.last_seen_at = start + Duration::hours(11) + Duration::minutes(59);
        assert_eq!(ends_at(&busy, idle), Some(start + Duration::hours(12)));
        // A token row without an expiry (which the database forbids) is dead.
        assert!(!is_live(&record(SessionKind::Token, None), start, idle));
    }

    #[test]
    fn last_used_is_empty_until_first_use() {
        let start = datetime!(2026-01-01 09:00 UTC);
        let mut t = record(SessionKind::Token, Some(start + Duration::days(1)));
        assert_eq!(ListedToken::from_record(t.clone()).last_used_at, None);
        t.last_seen_at = start + Duration::seconds(5);
        assert_eq!(
            ListedToken::from_record(t).last_used_at,
            Some(start + Duration::seconds(5))
        );
    }
}
