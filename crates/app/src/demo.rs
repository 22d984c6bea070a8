//! Demonstration data for development: the regulator, Research England and two
//! providers with administrators and contributors (README lists the addresses).

use crate::admin::{OrganisationInput, UserInput};
use crate::{App, AppResult, RequestMeta};

/// (organisation name, kind, UKPRN, users as (title, first, last, email, roles)).
type DemoOrg = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [DemoUser],
);
type DemoUser = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

pub const DEMO: &[DemoOrg] = &[
    (
        "Office for Students",
        "regulator",
        None,
        &[
            (
                "",
                "Rita",
                "Regulator",
                "rita.regulator@ofs.example.org",
                &["regulator-admin"],
            ),
            (
                "",
                "Oscar",
                "Officer",
                "oscar.officer@ofs.example.org",
                &["regulator-officer:heses"],
            ),
        ],
    ),
    (
        "Research England",
        "regulator",
        None,
        &[(
            "",
            "Rhys",
            "Research",
            "rhys.research@re.example.org",
            &["regulator-officer:capital-funding"],
        )],
    ),
    (
        "University of Barsetshire",
        "provider",
        Some("10099991"),
        &[
            (
                "Professor",
                "Ada",
                "Admin",
                "ada.admin@barsetshire.example.ac.uk",
                &["portal-admin"],
            ),
            (
                "",
                "Dev",
                "Delegate",
                "dev.delegate@barsetshire.example.ac.uk",
                &["delegated-portal-admin"],
            ),
            (
                "Dr",
                "Hana",
                "Heses",
                "hana.heses@barsetshire.example.ac.uk",
                &["data-collection-contributor:heses"],
            ),
            (
                "",
                "Harry",
                "Heses",
                "harry.heses@barsetshire.example.ac.uk",
                &[
                    "data-collection-contributor:heses",
                    "data-collection-contributor:capital-funding",
                ],
            ),
            (
                "",
                "Priya",
                "Prevent",
                "priya.prevent@barsetshire.example.ac.uk",
                &["data-collection-contributor:prevent"],
            ),
            (
                "Mx",
                "Finley",
                "Finance",
                "finley.finance@barsetshire.example.ac.uk",
                &["data-collection-contributor:annual-financial-return"],
            ),
        ],
    ),
    (
        "Wessex Institute of Technology",
        "provider",
        Some("10099992"),
        &[
            (
                "",
                "Wendy",
                "Admin",
                "wendy.admin@wessex.example.ac.uk",
                &["portal-admin"],
            ),
            (
                "",
                "Will",
                "Delegate",
                "will.delegate@wessex.example.ac.uk",
                &["delegated-portal-admin"],
            ),
            (
                "",
                "Maya",
                "Medic",
                "maya.medic@wessex.example.ac.uk",
                &["data-collection-contributor:medical-and-dental-students"],
            ),
            (
                "",
                "Fee",
                "Keeper",
                "fee.keeper@wessex.example.ac.uk",
                &["data-collection-contributor:annual-fee-information"],
            ),
        ],
    ),
];

/// Communication areas beside the six data returns: (slug, name, sensitive).
/// The sensitive one is joined only with an access key.
pub const DEMO_COMMUNICATION_AREAS: &[(&str, &str, bool)] = &[
    ("consultations", "Consultations", false),
    ("financial-sustainability", "Financial sustainability", true),
];

impl App {
    /// Loads the demonstration data. Welcome emails are queued like any others.
    pub async fn load_demo(&self) -> AppResult<()> {
        let meta = RequestMeta::operator("demo");
        for (slug, name, sensitive) in DEMO_COMMUNICATION_AREAS {
            self.define_area(
                &crate::areas::AreaInput {
                    slug: (*slug).into(),
                    name: (*name).into(),
                    kind: "communication".into(),
                    sensitive: *sensitive,
                },
                &meta,
            )
            .await?;
        }
        for (name, kind, ukprn, users) in DEMO {
            let org = self
                .create_organisation(
                    &OrganisationInput {
                        name: (*name).into(),
                        kind: (*kind).into(),
                        ukprn: ukprn.map(str::to_owned),
                        ..Default::default()
                    },
                    &meta,
                )
                .await?;
            for (title, first, last, email, roles) in *users {
                self.create_user(
                    &UserInput {
                        organisation: org.to_string(),
                        title: (*title).into(),
                        first_name: (*first).into(),
                        last_name: (*last).into(),
                        email: (*email).into(),
                        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                    },
                    &meta,
                )
                .await?;
            }
        }
        Ok(())
    }
}
