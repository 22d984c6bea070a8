//! What every page's layout needs: title, who is signed in, the form token,
//! and which section of the service navigation the page is in.

/// Passed to `layout.html` by every page template as the field `layout`.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The page's own title; the layout appends " - Provider Portal".
    pub title: String,
    /// `Some` when someone is signed in: the header then shows navigation and Sign out.
    pub user: Option<LayoutUser>,
    /// The CSRF token every form on the page must carry as `csrf_token`.
    pub csrf_token: String,
    /// Development only: show the link to `/dev/mail` (in the footer: it is
    /// no section of the service).
    pub show_dev_mail: bool,
    /// The path of the page (no query): marks the navigation item of its section.
    pub path: String,
    /// Signed-in pages: when the timeout warning appears (app.js).
    pub timeout_warning: Option<TimeoutWarning>,
}

/// The timeout warning's timing (issue 15, item 4), for app.js: seconds until
/// the session ends if nothing more happens, and how long before that to warn.
#[derive(Debug, Clone, Default)]
pub struct TimeoutWarning {
    pub seconds_left: i64,
    pub warn_seconds: i64,
    /// When the session ends however busy (12 hours after sign-in), in
    /// words: said when "Stay signed in" can no longer extend it.
    pub last_moment: String,
}

/// One link of the service navigation (or of the header's account links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavItem {
    pub href: &'static str,
    pub text: &'static str,
    /// `"page"` on the section's own page, `"true"` on a page inside it
    /// (GOV.UK service navigation: `aria-current` and the active style);
    /// empty elsewhere.
    pub current: &'static str,
}

/// The sections a signed-in person may see, in the navigation's order:
/// (link, text, other paths that belong to the section). Which of the
/// administrators' sections are shown comes from [`LayoutUser`].
const HOME: (&str, &str, &[&str]) = ("/home", "Home", &[]);
const RETURNS: (&str, &str, &[&str]) = ("/collections", "Data returns", &["/submissions"]);
const DOCUMENTS: (&str, &str, &[&str]) = ("/documents", "Documents", &[]);
const ORGANISATIONS: (&str, &str, &[&str]) = ("/organisations", "Organisations", &[]);
const ACCESS_KEYS: (&str, &str, &[&str]) = ("/access-keys", "Access keys", &[]);
const USERS: (&str, &str, &[&str]) = ("/users", "User management", &[]);
const AREAS: (&str, &str, &[&str]) = ("/areas", "Areas", &[]);
/// Areas with the access keys that open the sensitive ones: for regulator
/// administrators, so that their navigation fits one row at 1200 px (the
/// Areas page links to Access keys).
const AREAS_AND_KEYS: (&str, &str, &[&str]) = ("/areas", "Areas", &["/access-keys"]);
const ACTIVITY: (&str, &str, &[&str]) = ("/activity", "Activity", &[]);
const FEEDBACK: (&str, &str, &[&str]) = ("/feedback/received", "Feedback", &[]);
const ACCOUNT: (&str, &str, &[&str]) = ("/account", "My account", &["/api-tokens"]);

impl Layout {
    /// The text of the layout's one inline `<script>` (the GOV.UK `js-enabled`
    /// snippet), rendered verbatim so that it matches the CSP hash from
    /// [`crate::assets::inline_script_csp_hash`].
    pub fn inline_script(&self) -> &'static str {
        crate::assets::INLINE_SCRIPT
    }

    fn item(&self, (href, text, also): (&'static str, &'static str, &[&str])) -> NavItem {
        let path = self.path.as_str();
        let inside = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
        };
        let current = if path == href {
            "page"
        } else if inside(href) || also.iter().any(|a| path == *a || inside(a)) {
            "true"
        } else {
            ""
        };
        NavItem {
            href,
            text,
            current,
        }
    }

    /// The service navigation's items, the current section marked. Account
    /// links are not among them: they are in the header ([`Layout::account`]).
    pub fn navigation(&self) -> Vec<NavItem> {
        let mut items = Vec::new();
        if let Some(user) = &self.user {
            items.extend([HOME, RETURNS, DOCUMENTS].map(|s| self.item(s)));
            let keys_in_areas = user.manages_users && user.manages_access_keys;
            let areas = if keys_in_areas { AREAS_AND_KEYS } else { AREAS };
            for (shown, section) in [
                (user.manages_organisations, ORGANISATIONS),
                (user.manages_access_keys && !keys_in_areas, ACCESS_KEYS),
                (user.manages_users, USERS),
                (user.manages_users, areas),
                (user.reads_activity, ACTIVITY),
                (user.reads_feedback, FEEDBACK),
            ] {
                if shown {
                    items.push(self.item(section));
                }
            }
        }
        items
    }

    /// "My account", in the header's account links (with Sign out).
    pub fn account(&self) -> NavItem {
        self.item(ACCOUNT)
    }
}

#[derive(Debug, Clone)]
pub struct LayoutUser {
    pub display_name: String,
    pub organisation: String,
    /// Shows the "User management" and "Areas" links (from the authorisation table).
    pub manages_users: bool,
    /// Shows the "Organisations" link (regulator administrators).
    pub manages_organisations: bool,
    /// Shows the "Access keys" link (regulator administrators).
    pub manages_access_keys: bool,
    /// Shows the "Activity" link (provider and regulator administrators).
    pub reads_activity: bool,
    /// Shows the "Feedback" link to the feedback received (regulator administrators).
    pub reads_feedback: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> Layout {
        Layout {
            path: path.to_owned(),
            user: Some(LayoutUser {
                display_name: "Ann".into(),
                organisation: "Office for Students".into(),
                manages_users: true,
                manages_organisations: true,
                manages_access_keys: true,
                reads_activity: true,
                reads_feedback: true,
            }),
            ..Layout::default()
        }
    }

    fn at_as(layout: &Layout, path: &str) -> Layout {
        Layout {
            path: path.to_owned(),
            ..layout.clone()
        }
    }

    fn marked(layout: &Layout) -> Vec<(&'static str, &'static str)> {
        layout
            .navigation()
            .into_iter()
            .chain([layout.account()])
            .filter(|i| !i.current.is_empty())
            .map(|i| (i.href, i.current))
            .collect()
    }

    #[test]
    fn the_section_of_the_page_is_marked_and_no_other() {
        assert_eq!(marked(&at("/users")), [("/users", "page")]);
        assert_eq!(marked(&at("/users/1234/roles/add")), [("/users", "true")]);
        assert_eq!(
            marked(&at("/submissions/9/status")),
            [("/collections", "true")]
        );
        assert_eq!(marked(&at("/account")), [("/account", "page")]);
        // Access keys are part of Areas for someone who sees both.
        assert_eq!(marked(&at("/access-keys")), [("/areas", "true")]);
        assert_eq!(marked(&at("/access-keys/new")), [("/areas", "true")]);
        assert_eq!(marked(&at("/api-tokens/5/revoke")), [("/account", "true")]);
        // A path that only starts with the same letters is another section.
        assert_eq!(marked(&at("/users.csv")), []);
        assert_eq!(marked(&at("/areasx")), []);
        assert_eq!(marked(&at("/feedback")), []);
        assert_eq!(
            marked(&at("/feedback/received")),
            [("/feedback/received", "page")]
        );
        assert_eq!(marked(&at("/")), []);
    }

    #[test]
    fn the_navigation_follows_what_the_person_may_do() {
        let texts = |l: &Layout| l.navigation().iter().map(|i| i.text).collect::<Vec<_>>();
        let mut layout = at("/home");
        assert_eq!(
            texts(&layout),
            [
                "Home",
                "Data returns",
                "Documents",
                "Organisations",
                "User management",
                "Areas",
                "Activity",
                "Feedback"
            ],
            "a regulator administrator's Access keys are in Areas"
        );
        // Someone who may issue access keys but not see Areas has its own item.
        if let Some(u) = layout.user.as_mut() {
            u.manages_users = false;
        }
        assert!(texts(&layout).contains(&"Access keys"));
        assert_eq!(
            marked(&at_as(&layout, "/access-keys")),
            [("/access-keys", "page")]
        );
        if let Some(u) = layout.user.as_mut() {
            u.manages_users = true;
            u.manages_organisations = false;
            u.manages_access_keys = false;
            u.reads_activity = false;
            u.reads_feedback = false;
        }
        assert_eq!(
            texts(&layout),
            [
                "Home",
                "Data returns",
                "Documents",
                "User management",
                "Areas"
            ]
        );
        layout.user = None;
        assert!(texts(&layout).is_empty());
        // Development mail is a tool, not a section: it is in the footer.
        layout.show_dev_mail = true;
        assert!(texts(&layout).is_empty());
    }
}
