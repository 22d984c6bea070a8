//! Who may do what to whom (PRODUCT §2): the one place that decides.
//!
//! Pages, the API, the role guidance page and the API's `grantable` flags all
//! ask [`decide`] and [`may_grant`]; nothing else compares roles. Every answer
//! is `Ok(())` or a [`Denial`] whose reason can be shown to the person and
//! written to the audit log. The rule that needs counting (a provider keeps an
//! enabled Portal Administrator) is [`keeps_a_portal_admin`], given the count.

use crate::{OrgId, OrganisationKind, Role, UserId};

/// Something done to an organisation's users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See the list of users (and search, filter, export it).
    ListUsers,
    /// See one user.
    ViewUser,
    /// Ask for a new user to be created.
    AddUser,
    /// Change title, names or email address.
    EditDetails,
    /// Enable or disable portal access.
    SetAccess,
    /// Set or change the expiry date.
    SetExpiry,
    /// Unlock a locked account.
    Unlock,
    /// Change roles (each role added or removed is also checked by [`may_grant`]).
    SetRoles,
    /// Send the welcome email again to someone who has never signed in
    /// ([`may_resend_invitation`] also looks at their account).
    ResendInvitation,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::ListUsers,
        Action::ViewUser,
        Action::AddUser,
        Action::EditDetails,
        Action::SetAccess,
        Action::SetExpiry,
        Action::Unlock,
        Action::SetRoles,
        Action::ResendInvitation,
    ];

    /// Actions on one user, as opposed to on the organisation.
    pub fn has_target_user(self) -> bool {
        !matches!(self, Action::ListUsers | Action::AddUser)
    }

    fn changes_access(self) -> bool {
        matches!(
            self,
            Action::SetAccess | Action::SetExpiry | Action::Unlock | Action::SetRoles
        )
    }
}

/// A signed-in actor, or the user an action is done to.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub user: UserId,
    pub org: OrgId,
    pub org_kind: OrganisationKind,
    pub roles: &'a [Role],
}

impl Subject<'_> {
    fn has(&self, role: &Role) -> bool {
        self.roles.contains(role)
    }

    fn is_regulator_admin(&self) -> bool {
        self.org_kind == OrganisationKind::Regulator && self.has(&Role::RegulatorAdmin)
    }

    fn is_portal_admin(&self) -> bool {
        self.org_kind == OrganisationKind::Provider && self.has(&Role::PortalAdmin)
    }

    fn is_delegated_admin(&self) -> bool {
        self.org_kind == OrganisationKind::Provider && self.has(&Role::DelegatedPortalAdmin)
    }

    /// Holds either administrator role of a provider.
    pub fn is_provider_admin(&self) -> bool {
        self.is_portal_admin() || self.is_delegated_admin()
    }
}

/// Why not. `NotFound` is answered exactly as a missing resource (404), so that
/// nobody learns what another organisation has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    NotFound,
    Forbidden(&'static str),
    /// The change would leave a provider without an enabled Portal Administrator (409).
    LastPortalAdmin,
}

impl Denial {
    pub fn reason(&self) -> &'static str {
        match self {
            Denial::NotFound => "not found",
            Denial::Forbidden(why) => why,
            Denial::LastPortalAdmin => LAST_PORTAL_ADMIN,
        }
    }
}

pub type Decision = Result<(), Denial>;

pub const NOT_AN_ADMIN: &str =
    "You need the Portal Administrator or Delegated - Portal Administrator role to manage users";
pub const NOT_YOURSELF: &str =
    "You cannot change your own roles or access: ask another administrator";
pub const DELEGATE_ON_ADMIN: &str = "Delegated - Portal Administrators cannot change the account of a Portal Administrator or another Delegated - Portal Administrator";
pub const DELEGATE_ROLE: &str = "Delegated - Portal Administrators can only give or remove Data collection contributor and Area member roles";
pub const SENSITIVE_ROLE: &str =
    "This role is for a sensitive area: it can only be obtained with an access key";
pub const WRONG_KIND: &str = "This role cannot be held by a user of this kind of organisation";
pub const LAST_PORTAL_ADMIN: &str = "Your organisation must always have at least one Portal Administrator with access: add another Portal Administrator first";

/// May `actor` do `action` in organisation `org`, to
/// `target` when the action has one?
pub fn decide(actor: &Subject, action: Action, org: OrgId, target: Option<&Subject>) -> Decision {
    // Rule 1: everything is scoped to the actor's organisation; only a
    // regulator administrator crosses organisations.
    let regulator_admin = actor.is_regulator_admin();
    if org != actor.org && !regulator_admin {
        return Err(Denial::NotFound);
    }
    if !(regulator_admin || actor.is_provider_admin()) {
        return Err(Denial::Forbidden(NOT_AN_ADMIN));
    }
    let Some(target) = target.filter(|_| action.has_target_user()) else {
        return Ok(());
    };
    if target.org != org {
        return Err(Denial::NotFound);
    }
    // Rule 3: nobody changes their own roles or access.
    if target.user == actor.user && action.changes_access() {
        return Err(Denial::Forbidden(NOT_YOURSELF));
    }
    // Rule 2: a delegated administrator leaves administrators alone.
    let delegate_only = !regulator_admin && !actor.is_portal_admin();
    if delegate_only
        && action != Action::ViewUser
        && (target.has(&Role::PortalAdmin) || target.has(&Role::DelegatedPortalAdmin))
    {
        return Err(Denial::Forbidden(DELEGATE_ON_ADMIN));
    }
    Ok(())
}

/// May `actor` give `role` to (or remove it from) `target`? `sensitive` is
/// whether the role's area is sensitive. [`decide`] with `SetRoles` must also allow.
pub fn may_grant(actor: &Subject, target: &Subject, role: &Role, sensitive: bool) -> Decision {
    decide(actor, Action::SetRoles, target.org, Some(target))?;
    // Rule 5: sensitive areas only through an access key.
    if sensitive {
        return Err(Denial::Forbidden(SENSITIVE_ROLE));
    }
    if role.organisation_kind() != target.org_kind {
        return Err(Denial::Forbidden(WRONG_KIND));
    }
    if actor.is_regulator_admin() || actor.is_portal_admin() {
        return Ok(());
    }
    match role {
        Role::DataCollectionContributor(_) | Role::AreaMember(_) => Ok(()),
        _ => Err(Denial::Forbidden(DELEGATE_ROLE)),
    }
}

pub const NOT_REGULATOR_ADMIN: &str = "Only the regulator's administrators manage organisations";
pub const NOT_REGULATOR_ADMIN_AREAS: &str = "Only the regulator's administrators define areas";
pub const NOT_REGULATOR_ADMIN_FEEDBACK: &str =
    "Only the regulator's administrators read the feedback people send";
pub const NOT_REGULATOR_ADMIN_KEYS: &str =
    "Only the regulator's administrators issue, list and revoke access keys";

/// Work that is the regulator administrators' alone (PRODUCT §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegulatorTask {
    /// Create, list and change organisations (a provider's details and its
    /// accountable officer: [`may_edit_organisation`]).
    Organisations,
    /// Define areas.
    Areas,
    /// Issue, list and revoke access keys.
    AccessKeys,
    /// Read the feedback people send.
    Feedback,
    /// Open, change and close collection windows; see who has submitted.
    CollectionWindows,
}

impl RegulatorTask {
    fn refusal(self) -> &'static str {
        match self {
            Self::Organisations => NOT_REGULATOR_ADMIN,
            Self::Areas => NOT_REGULATOR_ADMIN_AREAS,
            Self::AccessKeys => NOT_REGULATOR_ADMIN_KEYS,
            Self::Feedback => NOT_REGULATOR_ADMIN_FEEDBACK,
            Self::CollectionWindows => crate::collection::NOT_REGULATOR_ADMIN,
        }
    }
}

/// May someone of an organisation of `kind`, holding `roles`, do `task`?
pub fn may_do_regulator_task(
    kind: OrganisationKind,
    roles: &[Role],
    task: RegulatorTask,
) -> Decision {
    if kind == OrganisationKind::Regulator && roles.contains(&Role::RegulatorAdmin) {
        Ok(())
    } else {
        Err(Denial::Forbidden(task.refusal()))
    }
}

/// Creating and listing organisations is the regulator administrators' (PRODUCT §5).
pub fn may_manage_organisations(kind: OrganisationKind, roles: &[Role]) -> Decision {
    may_do_regulator_task(kind, roles, RegulatorTask::Organisations)
}

pub const NOT_A_PROVIDER: &str =
    "Only a provider's details and accountable officer are changed here";

/// May someone of an organisation of `kind`, holding `roles`, change the
/// details and accountable officer of an organisation of `target` kind? The
/// regulator's administrators, of a provider (seed 001: a provider asks the
/// regulator to correct its accountable officer; it does not change it itself).
pub fn may_edit_organisation(
    kind: OrganisationKind,
    roles: &[Role],
    target: OrganisationKind,
) -> Decision {
    may_do_regulator_task(kind, roles, RegulatorTask::Organisations)?;
    if target == OrganisationKind::Provider {
        Ok(())
    } else {
        Err(Denial::Forbidden(NOT_A_PROVIDER))
    }
}

/// May an actor of organisation `own` (of `kind`) have organisation
/// `target` looked up at all? A provider's user only their own: another is
/// "not found" whether or not it exists (PRODUCT §2 rule 1). The regulator's
/// staff may know which organisations exist.
pub fn may_look_up_organisation(kind: OrganisationKind, own: OrgId, target: OrgId) -> Decision {
    if kind == OrganisationKind::Provider && own != target {
        Err(Denial::NotFound)
    } else {
        Ok(())
    }
}

pub const ALREADY_SIGNED_IN: &str =
    "They have already signed in, so there is no invitation to resend";
pub const INVITE_ACCESS_DISABLED: &str =
    "Their access is disabled: turn it on before resending the invitation";
pub const INVITE_EXPIRED: &str =
    "Their account has expired: change its expiry date before resending the invitation";
pub const INVITE_LOCKED: &str =
    "Their account is locked: unlock it before resending the invitation";

/// May `actor` send `target` (of organisation `org`, whose account is
/// `account`) their welcome email again? By the rules for changing that
/// person's account ([`decide`]: a Delegated - Portal Administrator not for an
/// administrator), and only while the invitation is still what they need:
/// they have never signed in, and could sign in now.
pub fn may_resend_invitation(
    actor: &Subject,
    org: OrgId,
    target: &Subject,
    account: &crate::user::AccountState,
    now: time::OffsetDateTime,
) -> Decision {
    decide(actor, Action::ResendInvitation, org, Some(target))?;
    if account.last_signed_in_at.is_some() {
        return Err(Denial::Forbidden(ALREADY_SIGNED_IN));
    }
    match account.status(now) {
        crate::user::UserStatus::Disabled => Err(Denial::Forbidden(INVITE_ACCESS_DISABLED)),
        crate::user::UserStatus::Expired => Err(Denial::Forbidden(INVITE_EXPIRED)),
        crate::user::UserStatus::Locked => Err(Denial::Forbidden(INVITE_LOCKED)),
        crate::user::UserStatus::Invited | crate::user::UserStatus::Active => Ok(()),
    }
}

/// Why an access key may not be activated by someone of `actor_org` (rule 5:
/// the key's role is granted at the key's provider only), or `None`. The
/// reasons are for the audit log; the person always sees the same words.
pub fn access_key_refusal(
    key_org: OrgId,
    actor_org: OrgId,
    expired: bool,
    used_up: bool,
    revoked: bool,
) -> Option<&'static str> {
    if revoked {
        Some("access key revoked")
    } else if expired {
        Some("access key expired")
    } else if used_up {
        Some("access key has no uses left")
    } else if key_org != actor_org {
        Some("access key belongs to another organisation")
    } else {
        None
    }
}

/// Rule 4: after a change, does the provider still have an enabled, unexpired
/// Portal Administrator? `remaining` is how many it would have.
pub fn keeps_a_portal_admin(org_kind: OrganisationKind, remaining: i64) -> Decision {
    if org_kind == OrganisationKind::Provider && remaining < 1 {
        return Err(Denial::LastPortalAdmin);
    }
    Ok(())
}

// --- Reading the audit trail (issue 13) -------------------------------------

pub const NOT_AUDIT_READER: &str = "Only administrators can read an organisation's activity";

/// Whose audit trail `actor` may read (PRODUCT §8): a provider administrator
/// (either role) their own organisation's, `Some(org)`; a regulator
/// administrator every organisation's, `None`; nobody else any.
pub fn audit_reach(actor: &Subject) -> Result<Option<OrgId>, Denial> {
    if actor.is_regulator_admin() {
        Ok(None)
    } else if actor.is_provider_admin() {
        Ok(Some(actor.org))
    } else {
        Err(Denial::Forbidden(NOT_AUDIT_READER))
    }
}

#[cfg(test)]
mod audit_reach_tests {
    use super::*;

    #[test]
    fn provider_admins_read_their_own_regulator_admins_all_others_none() {
        let org = OrgId::random();
        let who = |kind, roles: &'static [Role]| Subject {
            user: UserId::random(),
            org,
            org_kind: kind,
            roles,
        };
        use OrganisationKind::{Provider, Regulator};
        assert_eq!(
            audit_reach(&who(Provider, &[Role::PortalAdmin])),
            Ok(Some(org))
        );
        assert_eq!(
            audit_reach(&who(Provider, &[Role::DelegatedPortalAdmin])),
            Ok(Some(org))
        );
        assert_eq!(
            audit_reach(&who(Regulator, &[Role::RegulatorAdmin])),
            Ok(None)
        );
        let refused = Err(Denial::Forbidden(NOT_AUDIT_READER));
        assert_eq!(audit_reach(&who(Provider, &[])), refused);
        // A role held in the wrong kind of organisation gives nothing.
        assert_eq!(audit_reach(&who(Regulator, &[Role::PortalAdmin])), refused);
        assert_eq!(
            audit_reach(&who(Provider, &[Role::RegulatorAdmin])),
            refused
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AreaSlug;

    fn heses() -> Role {
        Role::DataCollectionContributor(AreaSlug::parse("heses").unwrap())
    }

    struct World {
        provider: OrgId,
        other: OrgId,
        regulator: OrgId,
    }

    fn world() -> World {
        World {
            provider: OrgId::random(),
            other: OrgId::random(),
            regulator: OrgId::random(),
        }
    }

    fn subject<'a>(org: OrgId, kind: OrganisationKind, roles: &'a [Role]) -> Subject<'a> {
        Subject {
            user: UserId::random(),
            org,
            org_kind: kind,
            roles,
        }
    }

    const P: OrganisationKind = OrganisationKind::Provider;
    const R: OrganisationKind = OrganisationKind::Regulator;

    #[test]
    fn another_organisations_users_do_not_exist_for_provider_users() {
        let w = world();
        for roles in [
            vec![Role::PortalAdmin],
            vec![Role::DelegatedPortalAdmin],
            vec![heses()],
            vec![],
        ] {
            let actor = subject(w.provider, P, &roles);
            let target_roles = [heses()];
            let target = subject(w.other, P, &target_roles);
            for action in Action::ALL {
                assert_eq!(
                    decide(&actor, action, w.other, Some(&target)),
                    Err(Denial::NotFound),
                    "{action:?}"
                );
            }
        }
    }

    #[test]
    fn only_regulator_administrators_do_the_regulators_work() {
        let officer = [Role::RegulatorOfficer(AreaSlug::parse("heses").unwrap())];
        for task in [
            RegulatorTask::Organisations,
            RegulatorTask::Areas,
            RegulatorTask::AccessKeys,
            RegulatorTask::Feedback,
            RegulatorTask::CollectionWindows,
        ] {
            assert!(may_do_regulator_task(R, &[Role::RegulatorAdmin], task).is_ok());
            assert!(may_do_regulator_task(R, &officer, task).is_err());
            assert!(may_do_regulator_task(P, &[Role::PortalAdmin], task).is_err());
            // A provider user cannot become a regulator administrator by holding the role id.
            assert!(may_do_regulator_task(P, &[Role::RegulatorAdmin], task).is_err());
        }
    }

    #[test]
    fn an_access_key_works_only_at_its_own_provider_while_live() {
        let w = world();
        assert_eq!(
            access_key_refusal(w.provider, w.provider, false, false, false),
            None
        );
        assert!(access_key_refusal(w.provider, w.other, false, false, false).is_some());
        assert!(access_key_refusal(w.provider, w.provider, true, false, false).is_some());
        assert!(access_key_refusal(w.provider, w.provider, false, true, false).is_some());
        assert!(access_key_refusal(w.provider, w.provider, false, false, true).is_some());
    }

    #[test]
    fn only_administrators_manage_users() {
        let w = world();
        let officer_roles = [Role::RegulatorOfficer(AreaSlug::parse("heses").unwrap())];
        for (org, kind, roles) in [
            (w.provider, P, vec![heses()]),
            (w.provider, P, vec![]),
            (w.regulator, R, officer_roles.to_vec()),
        ] {
            let actor = subject(org, kind, &roles);
            assert_eq!(
                decide(&actor, Action::ListUsers, org, None),
                Err(Denial::Forbidden(NOT_AN_ADMIN))
            );
            assert_eq!(
                decide(&actor, Action::AddUser, org, None),
                Err(Denial::Forbidden(NOT_AN_ADMIN))
            );
        }
        // A regulator officer sees no provider's users at all.
        let actor = subject(w.regulator, R, &officer_roles);
        assert_eq!(
            decide(&actor, Action::ListUsers, w.provider, None),
            Err(Denial::NotFound)
        );
    }

    #[test]
    fn a_delegated_admin_leaves_administrators_alone_and_grants_only_contributor_roles() {
        let w = world();
        let dpa = [Role::DelegatedPortalAdmin];
        let actor = subject(w.provider, P, &dpa);
        let pa = [Role::PortalAdmin];
        let pa_target = subject(w.provider, P, &pa);
        let contributor_roles = [heses()];
        let contributor = subject(w.provider, P, &contributor_roles);
        assert!(decide(&actor, Action::ViewUser, w.provider, Some(&pa_target)).is_ok());
        for action in [
            Action::EditDetails,
            Action::SetAccess,
            Action::SetExpiry,
            Action::Unlock,
            Action::SetRoles,
        ] {
            assert_eq!(
                decide(&actor, action, w.provider, Some(&pa_target)),
                Err(Denial::Forbidden(DELEGATE_ON_ADMIN))
            );
            assert!(decide(&actor, action, w.provider, Some(&contributor)).is_ok());
        }
        assert!(may_grant(&actor, &contributor, &heses(), false).is_ok());
        assert_eq!(
            may_grant(&actor, &contributor, &Role::PortalAdmin, false),
            Err(Denial::Forbidden(DELEGATE_ROLE))
        );
        assert_eq!(
            may_grant(&actor, &contributor, &Role::DelegatedPortalAdmin, false),
            Err(Denial::Forbidden(DELEGATE_ROLE))
        );
    }

    #[test]
    fn nobody_changes_their_own_roles_or_access() {
        let w = world();
        let pa = [Role::PortalAdmin];
        let actor = subject(w.provider, P, &pa);
        for action in [
            Action::SetAccess,
            Action::SetExpiry,
            Action::Unlock,
            Action::SetRoles,
        ] {
            assert_eq!(
                decide(&actor, action, w.provider, Some(&actor)),
                Err(Denial::Forbidden(NOT_YOURSELF))
            );
        }
        assert!(decide(&actor, Action::EditDetails, w.provider, Some(&actor)).is_ok());
        assert!(decide(&actor, Action::ViewUser, w.provider, Some(&actor)).is_ok());
    }

    #[test]
    fn sensitive_and_wrong_kind_roles_are_never_granted_directly() {
        let w = world();
        let ra = [Role::RegulatorAdmin];
        let admin = subject(w.regulator, R, &ra);
        let target_roles = [];
        let provider_user = subject(w.provider, P, &target_roles);
        assert!(may_grant(&admin, &provider_user, &Role::PortalAdmin, false).is_ok());
        assert_eq!(
            may_grant(&admin, &provider_user, &heses(), true),
            Err(Denial::Forbidden(SENSITIVE_ROLE))
        );
        assert_eq!(
            may_grant(&admin, &provider_user, &Role::RegulatorAdmin, false),
            Err(Denial::Forbidden(WRONG_KIND))
        );
        let pa = [Role::PortalAdmin];
        let provider_admin = subject(w.provider, P, &pa);
        assert_eq!(
            may_grant(
                &provider_admin,
                &provider_user,
                &Role::RegulatorAdmin,
                false
            ),
            Err(Denial::Forbidden(WRONG_KIND))
        );
    }

    #[test]
    fn a_regulator_administrator_supports_any_provider() {
        let w = world();
        let ra = [Role::RegulatorAdmin];
        let admin = subject(w.regulator, R, &ra);
        let pa = [Role::PortalAdmin];
        let target = subject(w.other, P, &pa);
        for action in Action::ALL {
            assert!(
                decide(&admin, action, w.other, Some(&target)).is_ok(),
                "{action:?}"
            );
        }
    }

    #[test]
    fn a_provider_keeps_a_portal_admin() {
        assert_eq!(keeps_a_portal_admin(P, 0), Err(Denial::LastPortalAdmin));
        assert!(keeps_a_portal_admin(P, 1).is_ok());
        assert!(keeps_a_portal_admin(R, 0).is_ok());
    }
}

#[cfg(test)]
mod regulator_side_tests {
    use super::*;
    use crate::AreaSlug;
    use crate::user::AccountState;
    use time::macros::datetime;

    const P: OrganisationKind = OrganisationKind::Provider;
    const R: OrganisationKind = OrganisationKind::Regulator;

    fn who(org: OrgId, kind: OrganisationKind, roles: &[Role]) -> Subject<'_> {
        Subject {
            user: UserId::random(),
            org,
            org_kind: kind,
            roles,
        }
    }

    fn invited() -> AccountState {
        AccountState {
            access_enabled: true,
            expires_at: None,
            locked_until: None,
            locked: false,
            last_signed_in_at: None,
        }
    }

    #[test]
    fn only_regulator_administrators_edit_a_provider_and_only_a_provider() {
        let officer = [Role::RegulatorOfficer(AreaSlug::parse("heses").unwrap())];
        assert_eq!(may_edit_organisation(R, &[Role::RegulatorAdmin], P), Ok(()));
        assert_eq!(
            may_edit_organisation(R, &[Role::RegulatorAdmin], R),
            Err(Denial::Forbidden(NOT_A_PROVIDER))
        );
        for (kind, roles) in [
            (R, &officer[..]),
            (R, &[][..]),
            (P, &[Role::PortalAdmin][..]),
            (P, &[Role::RegulatorAdmin][..]),
        ] {
            assert_eq!(
                may_edit_organisation(kind, roles, P),
                Err(Denial::Forbidden(NOT_REGULATOR_ADMIN)),
                "{kind:?} {roles:?}"
            );
        }
    }

    #[test]
    fn another_organisation_is_not_found_by_a_providers_user_before_any_look_up() {
        let (own, other) = (OrgId::random(), OrgId::random());
        assert_eq!(may_look_up_organisation(P, own, own), Ok(()));
        assert_eq!(
            may_look_up_organisation(P, own, other),
            Err(Denial::NotFound)
        );
        assert_eq!(may_look_up_organisation(R, own, other), Ok(()));
    }

    #[test]
    fn an_invitation_is_resent_only_to_someone_who_never_signed_in_and_could() {
        let now = datetime!(2026-09-01 09:00 UTC);
        let (provider, other, regulator) = (OrgId::random(), OrgId::random(), OrgId::random());
        let ra = [Role::RegulatorAdmin];
        let admin = who(regulator, R, &ra);
        let pa_roles = [Role::PortalAdmin];
        let pa = who(provider, P, &pa_roles);
        let contributor_roles = [Role::DataCollectionContributor(
            AreaSlug::parse("heses").unwrap(),
        )];
        let newcomer = who(provider, P, &contributor_roles);
        let fresh = invited();
        assert_eq!(
            may_resend_invitation(&admin, provider, &newcomer, &fresh, now),
            Ok(())
        );
        assert_eq!(
            may_resend_invitation(&pa, provider, &newcomer, &fresh, now),
            Ok(())
        );
        // Another provider's people do not exist for a provider's administrator.
        let stranger = who(other, P, &contributor_roles);
        assert_eq!(
            may_resend_invitation(&pa, other, &stranger, &fresh, now),
            Err(Denial::NotFound)
        );
        // A delegate leaves administrators alone; a contributor manages nobody.
        let dpa_roles = [Role::DelegatedPortalAdmin];
        let dpa = who(provider, P, &dpa_roles);
        let new_admin = who(provider, P, &pa_roles);
        assert_eq!(
            may_resend_invitation(&dpa, provider, &new_admin, &fresh, now),
            Err(Denial::Forbidden(DELEGATE_ON_ADMIN))
        );
        assert_eq!(
            may_resend_invitation(&dpa, provider, &newcomer, &fresh, now),
            Ok(())
        );
        let plain = who(provider, P, &contributor_roles);
        assert_eq!(
            may_resend_invitation(&plain, provider, &newcomer, &fresh, now),
            Err(Denial::Forbidden(NOT_AN_ADMIN))
        );
        // The account decides too: signed in once is never "invited" again.
        let cases = [
            (
                AccountState {
                    last_signed_in_at: Some(now),
                    access_enabled: false,
                    ..fresh
                },
                ALREADY_SIGNED_IN,
            ),
            (
                AccountState {
                    access_enabled: false,
                    ..fresh
                },
                INVITE_ACCESS_DISABLED,
            ),
            (
                AccountState {
                    expires_at: Some(now),
                    ..fresh
                },
                INVITE_EXPIRED,
            ),
            (
                AccountState {
                    locked: true,
                    ..fresh
                },
                INVITE_LOCKED,
            ),
        ];
        for (account, why) in cases {
            assert_eq!(
                may_resend_invitation(&admin, provider, &newcomer, &account, now),
                Err(Denial::Forbidden(why))
            );
        }
    }
}
