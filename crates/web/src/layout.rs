//! What every page's layout needs: title, who is signed in, the form token.

/// Passed to `layout.html` by every page template as the field `layout`.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The page's own title; the layout appends " - Provider Portal".
    pub title: String,
    /// `Some` when someone is signed in: the header then shows navigation and Sign out.
    pub user: Option<LayoutUser>,
    /// The CSRF token every form on the page must carry as `csrf_token`.
    pub csrf_token: String,
    /// Development only: show the link to `/dev/mail`.
    pub show_dev_mail: bool,
}

impl Layout {
    /// The text of the layout's one inline `<script>` (the GOV.UK `js-enabled`
    /// snippet), rendered verbatim so that it matches the CSP hash from
    /// [`crate::assets::inline_script_csp_hash`].
    pub fn inline_script(&self) -> &'static str {
        crate::assets::INLINE_SCRIPT
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
}
