//! Areas and portal roles (PRODUCT §1).
//!
//! A role is a domain enum, mapped to and from its stable id (`portal-admin`,
//! `data-collection-contributor:heses`, …) only at the edges. Display names follow
//! the new portal's guide exactly.

use std::fmt;

use serde::Serialize;

/// The slug of an area: lower-case letters, digits and single hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AreaSlug(String);

impl AreaSlug {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--")
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AreaSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaKind {
    /// Providers submit data returns here.
    DataReturn,
    /// The regulator shares documents here.
    Communication,
}

impl AreaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataReturn => "data_return",
            Self::Communication => "communication",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "data_return" => Some(Self::DataReturn),
            "communication" => Some(Self::Communication),
            _ => None,
        }
    }
}

/// One regulator process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Area {
    pub slug: AreaSlug,
    pub name: String,
    pub kind: AreaKind,
    /// Roles of a sensitive area are obtained only with an access key.
    pub sensitive: bool,
}

/// The data-return areas every portal starts with (PRODUCT §1): (slug, name).
/// The migrations insert exactly these; a test keeps the two in step.
pub const INITIAL_DATA_RETURN_AREAS: [(&str, &str); 6] = [
    ("annual-fee-information", "Annual Fee Information"),
    ("annual-financial-return", "Annual Financial Return"),
    ("capital-funding", "Capital Funding"),
    ("heses", "HESES"),
    ("medical-and-dental-students", "Medical and Dental Students"),
    ("prevent", "Prevent"),
];

/// A portal role. Area-scoped roles carry the area's slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    PortalAdmin,
    DelegatedPortalAdmin,
    DataCollectionContributor(AreaSlug),
    AreaMember(AreaSlug),
    RegulatorAdmin,
    RegulatorOfficer(AreaSlug),
}

impl Role {
    /// Parse a stable role id such as `portal-admin` or `regulator-officer:heses`.
    pub fn parse(id: &str) -> Option<Self> {
        match id {
            "portal-admin" => return Some(Self::PortalAdmin),
            "delegated-portal-admin" => return Some(Self::DelegatedPortalAdmin),
            "regulator-admin" => return Some(Self::RegulatorAdmin),
            _ => {}
        }
        let (kind, area) = id.split_once(':')?;
        let area = AreaSlug::parse(area)?;
        match kind {
            "data-collection-contributor" => Some(Self::DataCollectionContributor(area)),
            "area-member" => Some(Self::AreaMember(area)),
            "regulator-officer" => Some(Self::RegulatorOfficer(area)),
            _ => None,
        }
    }

    /// The stable id, as stored and as the API shows it.
    pub fn id(&self) -> String {
        match self {
            Self::PortalAdmin => "portal-admin".into(),
            Self::DelegatedPortalAdmin => "delegated-portal-admin".into(),
            Self::RegulatorAdmin => "regulator-admin".into(),
            Self::DataCollectionContributor(a) => format!("data-collection-contributor:{a}"),
            Self::AreaMember(a) => format!("area-member:{a}"),
            Self::RegulatorOfficer(a) => format!("regulator-officer:{a}"),
        }
    }

    /// The area an area-scoped role belongs to.
    pub fn area(&self) -> Option<&AreaSlug> {
        match self {
            Self::DataCollectionContributor(a)
            | Self::AreaMember(a)
            | Self::RegulatorOfficer(a) => Some(a),
            Self::PortalAdmin | Self::DelegatedPortalAdmin | Self::RegulatorAdmin => None,
        }
    }

    /// The role that membership of `area` means for a user of an organisation
    /// of `kind` (the Areas pages, access keys and the legacy import): a
    /// provider contributes to a data return or reads a communication area; the
    /// regulator's people are its officers.
    pub fn for_area(area: &Area, kind: crate::OrganisationKind) -> Self {
        let slug = area.slug.clone();
        match (kind, area.kind) {
            (crate::OrganisationKind::Regulator, _) => Self::RegulatorOfficer(slug),
            (crate::OrganisationKind::Provider, AreaKind::DataReturn) => {
                Self::DataCollectionContributor(slug)
            }
            (crate::OrganisationKind::Provider, AreaKind::Communication) => Self::AreaMember(slug),
        }
    }

    /// Which kind of organisation may hold this role.
    pub fn organisation_kind(&self) -> crate::OrganisationKind {
        match self {
            Self::RegulatorAdmin | Self::RegulatorOfficer(_) => crate::OrganisationKind::Regulator,
            _ => crate::OrganisationKind::Provider,
        }
    }

    /// The display name, given the name of the role's area (if it has one).
    pub fn name(&self, area_name: &str) -> String {
        match self {
            Self::PortalAdmin => "Portal Administrator".into(),
            Self::DelegatedPortalAdmin => "Delegated - Portal Administrator".into(),
            Self::RegulatorAdmin => "Regulator administrator".into(),
            Self::DataCollectionContributor(_) => {
                format!("Data collection contributor - {area_name}")
            }
            Self::AreaMember(_) => format!("Area member - {area_name}"),
            Self::RegulatorOfficer(_) => format!("Regulator officer - {area_name}"),
        }
    }

    /// The description shown beside the role (seed 001's wording where it has one).
    pub fn description(&self, area_name: &str) -> String {
        match self {
            Self::PortalAdmin => {
                "Full access to all features of the portal for your provider, including users and roles".into()
            }
            Self::DelegatedPortalAdmin => {
                "Can administer the portal and view all collection submission categories".into()
            }
            Self::RegulatorAdmin => {
                "Manages organisations, areas, collection windows and access keys, and supports provider accounts".into()
            }
            Self::DataCollectionContributor(_) => {
                format!("Can make and edit collection submissions for {area_name}")
            }
            Self::AreaMember(_) => format!("Can read documents shared in {area_name}"),
            Self::RegulatorOfficer(_) => {
                format!("Can see every provider's submissions for {area_name} and publish documents to it")
            }
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_ids_round_trip() {
        for id in [
            "portal-admin",
            "delegated-portal-admin",
            "regulator-admin",
            "data-collection-contributor:heses",
            "area-member:board-papers",
            "regulator-officer:prevent",
        ] {
            assert_eq!(Role::parse(id).unwrap().id(), id);
        }
        for bad in [
            "",
            "admin",
            "portal-admin:heses",
            "area-member:",
            "area-member:Bad",
            "x:heses",
        ] {
            assert!(Role::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn names_match_the_new_portal_guide() {
        let heses = Role::parse("data-collection-contributor:heses").unwrap();
        assert_eq!(heses.name("HESES"), "Data collection contributor - HESES");
        assert_eq!(
            Role::DelegatedPortalAdmin.name(""),
            "Delegated - Portal Administrator"
        );
    }

    #[test]
    fn initial_area_slugs_are_valid() {
        for (slug, _) in INITIAL_DATA_RETURN_AREAS {
            assert!(AreaSlug::parse(slug).is_some());
        }
    }
}
