//! The pages every GOV.UK service has, linked from every page's footer and
//! open to everyone, signed in or not: Help, the accessibility statement, the
//! cookies page and the privacy notice.
//!
//! What they say is read from the code that does it wherever the code knows:
//! cookie names (with the `__Host-` prefix this deployment uses), code and
//! session lifetimes and limits (`domain::otp`, `domain::session`), and the
//! roles (`domain::role`, with the delegated administrators' rule from
//! `domain::authz`). What the code cannot know is taken from
//! what the rest of the portal already shows (the regulator and its address,
//! in the footer and on the start page); docs/decisions.md says why.

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use domain::role::{AreaSlug, Role};
use domain::{OrganisationKind, otp, session};
use time::Duration;

use crate::layout::Layout;
use crate::page::Page;
use crate::state::WebState;

/// Who runs the portal, as its header and footer say.
const REGULATOR: &str = "Office for Students";
/// The regulator's address for the portal, as the footer and start page give it.
const CONTACT: &str = "portal@officeforstudents.org.uk";
/// When the accessibility statement was prepared (and the checks it
/// describes last reviewed by a person).
const STATEMENT_PREPARED: time::Date = time::macros::date!(2026 - 12 - 03);

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/help", get(help))
        .route("/accessibility", get(accessibility))
        .route("/cookies", get(cookies))
        .route("/privacy", get(privacy))
}

/// "10 minutes", "1 hour", "24 hours": a whole number of the largest unit.
fn duration(d: Duration) -> String {
    let (n, one, many) = if d.whole_minutes() % 60 == 0 && d.whole_hours() > 0 {
        (d.whole_hours(), "hour", "hours")
    } else if d.whole_seconds() % 60 != 0 {
        // A short idle timeout (PORTAL_SESSION_IDLE_TIMEOUT_SECS).
        (d.whole_seconds(), "second", "seconds")
    } else {
        (d.whole_minutes(), "minute", "minutes")
    };
    format!("{n} {}", super::noun(n, one, many))
}

// ---- Help ------------------------------------------------------------------

struct RoleRow {
    name: String,
    description: String,
}

/// One role of each kind, each kind once. An area's roles are shown with a
/// placeholder for its name: there is one such role for every area.
fn every_kind_of_role() -> Vec<Role> {
    let Some(area) = AreaSlug::parse("area") else {
        return Vec::new();
    };
    vec![
        Role::PortalAdmin,
        Role::DelegatedPortalAdmin,
        Role::DataCollectionContributor(area.clone()),
        Role::AreaMember(area.clone()),
        Role::RegulatorAdmin,
        Role::RegulatorOfficer(area),
    ]
}

fn role_row(role: &Role) -> RoleRow {
    let (name, scope) = match role {
        Role::DataCollectionContributor(_) => ("[name of the data return]", "that data return"),
        Role::AreaMember(_) | Role::RegulatorOfficer(_) => ("[name of the area]", "that area"),
        Role::PortalAdmin | Role::DelegatedPortalAdmin | Role::RegulatorAdmin => ("", ""),
    };
    RoleRow {
        name: role.name(name),
        description: role.description(scope),
    }
}

fn roles_of(kind: OrganisationKind) -> Vec<RoleRow> {
    every_kind_of_role()
        .iter()
        .filter(|r| r.organisation_kind() == kind)
        .map(role_row)
        .collect()
}

#[derive(Template)]
#[template(path = "pages/service/help.html")]
struct HelpPage {
    layout: Layout,
    signed_in: bool,
    contact: &'static str,
    code_lasts: String,
    codes_at_most: i64,
    codes_window: String,
    failures_before_pause: i64,
    first_pause: String,
    longest_pause: String,
    passwords: bool,
    provider_roles: Vec<RoleRow>,
    regulator_roles: Vec<RoleRow>,
    delegate_rule: &'static str,
}

async fn help(page: Page) -> Response {
    let view = HelpPage {
        layout: page.layout("Help"),
        signed_in: page.principal().is_some(),
        contact: CONTACT,
        code_lasts: duration(otp::CODE_TTL),
        codes_at_most: otp::MAX_CODES_PER_WINDOW,
        codes_window: duration(otp::CODE_WINDOW),
        failures_before_pause: otp::FAILURES_BEFORE_LOCK,
        first_pause: duration(otp::lock_duration(0)),
        longest_pause: duration(otp::lock_duration(i64::MAX)),
        passwords: page.state.app.settings.password_sign_in,
        provider_roles: roles_of(OrganisationKind::Provider),
        regulator_roles: roles_of(OrganisationKind::Regulator),
        delegate_rule: domain::authz::DELEGATE_ROLE,
    };
    page.render(StatusCode::OK, &view)
}

// ---- Accessibility statement -------------------------------------------------

#[derive(Template)]
#[template(path = "pages/service/accessibility.html")]
struct AccessibilityPage {
    layout: Layout,
    regulator: &'static str,
    contact: &'static str,
    prepared: String,
}

async fn accessibility(page: Page) -> Response {
    let view = AccessibilityPage {
        layout: page.layout("Accessibility statement"),
        regulator: REGULATOR,
        contact: CONTACT,
        prepared: domain::uk_time::date(STATEMENT_PREPARED),
    };
    page.render(StatusCode::OK, &view)
}

// ---- Cookies -------------------------------------------------------------------

/// A cookie the portal sets: its name, why, and for how long. Tests compare
/// this list with every cookie name the code defines, and with the cookies a
/// real sign-in (and issuing an access key) sets, so it cannot drift from them.
struct Cookie {
    name: String,
    purpose: String,
    expires: String,
}

/// The cookies, each named as `name` makes a cookie's name from its base
/// (with the `__Host-` prefix outside development); `idle` is the configured
/// idle timeout.
fn cookie_list(name: impl Fn(&str) -> String, idle: Duration) -> Vec<Cookie> {
    vec![
        Cookie {
            name: name(crate::context::SESSION_COOKIE),
            purpose: "Keeps you signed in. It holds a random number that the portal \
                      recognises."
                .into(),
            expires: format!(
                "When you close your browser or sign out. The portal ends the session after \
                 {} without activity, and {} after you signed in.",
                duration(idle),
                duration(session::ABSOLUTE_TIMEOUT)
            ),
        },
        Cookie {
            name: name(crate::page::CSRF_COOKIE),
            purpose: "Set when you are not signed in. It protects the forms you fill in \
                      before signing in, such as the sign-in form, so that another website \
                      cannot send them for you."
                .into(),
            expires: "When you close your browser.".into(),
        },
        Cookie {
            name: name("portal_attempt"),
            purpose: "Remembers which sign-in your code is for, the email address you \
                      entered, and the page to return to after signing in, until you \
                      enter the code."
                .into(),
            expires: format!(
                "After {}, or as soon as you have signed in.",
                duration(otp::CODE_TTL)
            ),
        },
        Cookie {
            name: name("portal_issued_key"),
            purpose: "Only for the regulator's administrators, when they issue an access \
                      key: carries the new key, encrypted, to the page that shows it once."
                .into(),
            expires: format!(
                "After {}, or as soon as the key has been shown.",
                duration(Duration::minutes(5))
            ),
        },
    ]
}

#[derive(Template)]
#[template(path = "pages/service/cookies.html")]
struct CookiesPage {
    layout: Layout,
    cookies: Vec<Cookie>,
}

async fn cookies(page: Page) -> Response {
    let view = CookiesPage {
        layout: page.layout("Cookies"),
        cookies: cookie_list(
            |base| page.state.cookie_name(base),
            page.state.app.settings.session_idle_timeout,
        ),
    };
    page.render(StatusCode::OK, &view)
}

// ---- Privacy notice --------------------------------------------------------------

#[derive(Template)]
#[template(path = "pages/service/privacy.html")]
struct PrivacyPage {
    layout: Layout,
    regulator: &'static str,
    contact: &'static str,
    code_lasts: String,
    passwords: bool,
}

async fn privacy(page: Page) -> Response {
    let view = PrivacyPage {
        layout: page.layout("Privacy notice"),
        regulator: REGULATOR,
        contact: CONTACT,
        code_lasts: duration(otp::CODE_TTL),
        passwords: page.state.app.settings.password_sign_in,
    };
    page.render(StatusCode::OK, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where each kind of role sits in [`every_kind_of_role`]. A new kind of
    /// role does not compile here until the Help page lists it.
    fn listed_at(role: &Role) -> usize {
        match role {
            Role::PortalAdmin => 0,
            Role::DelegatedPortalAdmin => 1,
            Role::DataCollectionContributor(_) => 2,
            Role::AreaMember(_) => 3,
            Role::RegulatorAdmin => 4,
            Role::RegulatorOfficer(_) => 5,
        }
    }

    #[test]
    fn every_kind_of_role_is_listed_once_in_order() {
        let roles = every_kind_of_role();
        let at: Vec<usize> = roles.iter().map(listed_at).collect();
        assert_eq!(at, (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn roles_read_as_the_domain_names_them() {
        let provider = roles_of(OrganisationKind::Provider);
        let names: Vec<&str> = provider.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Portal Administrator",
                "Delegated - Portal Administrator",
                "Data collection contributor - [name of the data return]",
                "Area member - [name of the area]",
            ]
        );
        assert_eq!(
            provider[2].description,
            "Can make and edit collection submissions for that data return"
        );
        let regulator = roles_of(OrganisationKind::Regulator);
        assert_eq!(regulator[0].name, "Regulator administrator");
        assert_eq!(regulator[1].name, "Regulator officer - [name of the area]");
    }

    /// Every `const …_COOKIE: &str = "…"` under `dir`: (file, name).
    fn cookie_constants(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                cookie_constants(&path, found);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines() {
                let line = line.trim();
                let Some(rest) = line.split_once("_COOKIE: &str = \"").map(|(_, r)| r) else {
                    continue;
                };
                if line.starts_with("//") {
                    continue;
                }
                let value = rest.split('"').next().unwrap().to_owned();
                found.push((path.display().to_string(), value));
            }
        }
    }

    #[test]
    fn the_cookies_page_lists_every_cookie_the_code_names_and_no_other() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut constants = Vec::new();
        cookie_constants(&src, &mut constants);
        let mut defined: Vec<String> = constants.iter().map(|(_, n)| n.clone()).collect();
        defined.sort();
        defined.dedup();
        let mut listed: Vec<String> = cookie_list(str::to_owned, session::IDLE_TIMEOUT)
            .into_iter()
            .map(|c| c.name)
            .collect();
        listed.sort();
        assert_eq!(listed, defined, "the cookie constants: {constants:?}");
        let production = cookie_list(|b| format!("__Host-{b}"), session::IDLE_TIMEOUT);
        assert!(
            production
                .iter()
                .all(|c| c.name.starts_with("__Host-portal_"))
        );
    }

    /// Every page template is a whole page (it extends the layout, whose
    /// footer links these pages) or a part included in one.
    #[test]
    fn every_page_template_has_the_layouts_footer() {
        fn html(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    html(&path, found);
                } else if path.extension().is_some_and(|e| e == "html") {
                    found.push(path);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut all = Vec::new();
        html(&root.join("pages"), &mut all);
        let texts: Vec<(String, String)> = all
            .iter()
            .map(|p| {
                let name = p.strip_prefix(&root).unwrap().display().to_string();
                (name, std::fs::read_to_string(p).unwrap())
            })
            .collect();
        assert!(texts.len() > 20, "{} templates", texts.len());
        for (name, text) in &texts {
            let included = format!("{{% include \"{name}\" %}}");
            let whole = text.contains("{% extends \"layout.html\" %}");
            let part = texts.iter().any(|(_, t)| t.contains(&included));
            assert!(
                whole || part,
                "{name} neither extends layout.html nor is included"
            );
        }
        let layout = std::fs::read_to_string(root.join("layout.html")).unwrap();
        let footer = &layout[layout.find("<footer").unwrap()..layout.find("</footer>").unwrap()];
        for href in ["/help", "/accessibility", "/cookies", "/privacy"] {
            assert!(footer.contains(&format!("href=\"{href}\"")), "{href}");
        }
    }

    #[test]
    fn durations_are_said_in_whole_units() {
        assert_eq!(duration(Duration::minutes(10)), "10 minutes");
        assert_eq!(duration(Duration::minutes(1)), "1 minute");
        assert_eq!(duration(Duration::minutes(90)), "90 minutes");
        assert_eq!(duration(Duration::hours(1)), "1 hour");
        assert_eq!(duration(Duration::hours(24)), "24 hours");
        assert_eq!(duration(Duration::seconds(30)), "30 seconds");
        assert_eq!(
            cookie_list(str::to_owned, Duration::minutes(10))[0].expires,
            "When you close your browser or sign out. The portal ends the session after \
             10 minutes without activity, and 12 hours after you signed in."
        );
    }
}
