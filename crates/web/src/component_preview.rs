//! Tests of `layout.html` and `components.html`.
//!
//! The component macros are rendered with the options of govuk-frontend's own
//! examples (`dist/govuk/components/<name>/fixtures.json` in the npm package
//! that `build.rs` installs) and compared with the markup the Nunjucks macros
//! produce for them, whitespace-normalised. A govuk-frontend upgrade that
//! changes a component's markup therefore fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use askama::Template;
use serde_json::Value;

use crate::assets::{INLINE_SCRIPT, inline_script_csp_hash};
use crate::layout::{Layout, LayoutUser};

const SPLIT: &str = "<!--split-->";

fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../frontend/node_modules/govuk-frontend/dist/govuk/components")
}

fn fixture(component: &str, name: &str) -> Value {
    let path = fixtures_dir().join(component).join("fixtures.json");
    let json: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no fixture {component}/{name}"))
        .clone()
}

fn fixture_option(component: &str, name: &str, pointer: &str) -> String {
    fixture(component, name)["options"]
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no option {pointer} in {component}/{name}"))
        .to_owned()
}

fn fixture_errors(name: &str) -> Vec<(String, String)> {
    fixture("error-summary", name)["options"]["errorList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["text"].as_str().unwrap().to_owned(),
                item["href"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Collapses whitespace, and drops it next to tags, so that only differences
/// in elements, attributes and text remain.
fn normalise(html: &str) -> String {
    let collapsed = html.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .replace("> ", ">")
        .replace(" <", "<")
        .replace(" >", ">")
}

/// One call of each macro per fixture, in the order of [`FIXTURES`].
#[derive(Template)]
#[template(
    ext = "html",
    source = r##"{% import "components.html" as govuk -%}
{% call govuk::button("Save and continue") %}<!--split-->
{% call govuk::button("Disabled button", disabled = true) %}<!--split-->
{% call govuk::button("Link button", href = "/") %}<!--split-->
{% call govuk::button("Start now button", is_start = true) %}<!--split-->
{% call govuk::button("Start now link button", href = "/", is_start = true) %}<!--split-->
{% call govuk::button("Submit", name = "start-now") %}<!--split-->
{% call govuk::button("Submit", value = "start") %}<!--split-->
{% call govuk::button("Submit", button_type = "button") %}<!--split-->
{% call govuk::button("Submit", id = "submit") %}<!--split-->
{% call govuk::button("Submit", prevent_double_click = true) %}<!--split-->
{% call govuk::button("Secondary button", name = "secondary", classes = "govuk-button--secondary") %}<!--split-->
{% call govuk::input("test-name", "National Insurance number") %}<!--split-->
{% call govuk::input("test-name-2", "National insurance number", id = "input-with-hint-text", hint = nino_hint) %}<!--split-->
{% call govuk::input("test-name-3", "National Insurance number", id = "input-with-error-message", error = "Enter a National Insurance number in the correct format") %}<!--split-->
{% call govuk::input("with-error-hint", "National insurance number", id = "with-error-hint", hint = nino_hint, error = "Enter a National Insurance number in the correct format") %}<!--split-->
{% call govuk::input("test-width-10", "National insurance number", id = "input-width-10", hint = nino_hint, classes = "govuk-input--width-10") %}<!--split-->
{% call govuk::input("test-name", "National Insurance number", id = "input-with-page-heading", label_classes = "govuk-label--l", is_page_heading = true) %}<!--split-->
{% call govuk::input("cost", "Cost per item, in pounds", id = "input-with-prefix-suffix", prefix = "£", suffix = "per item") %}<!--split-->
{% call govuk::input("cost", "Cost per item, in pounds", id = "input-with-prefix-suffix", prefix = "£", suffix = "per item", error = "Error message goes here") %}<!--split-->
{% call govuk::input("with-custom-type", "With custom type", input_type = "number") %}<!--split-->
{% call govuk::input("with-value", "With value", value = value) %}<!--split-->
{% call govuk::input("with-inputmode", "With inputmode", inputmode = "decimal") %}<!--split-->
{% call govuk::input("postcode", "Postcode", id = "input-with-autocomplete-attribute", autocomplete = "postal-code") %}<!--split-->
{% call govuk::input("spellcheck", "Spellcheck is enabled", id = "input-with-spellcheck-enabled", spellcheck = "true") %}<!--split-->
{% call govuk::input("numbers-only", "Numbers only", id = "input-with-pattern-attribute", input_type = "number", pattern = "[0-9]*") %}<!--split-->
{% call govuk::input("autocapitalize", "Autocapitalize is turned off", id = "input-with-autocapitalize-off", autocapitalize = "none") %}<!--split-->
{% call govuk::input("disabled-input", "Disabled input", id = "disabled-input", disabled = true) %}<!--split-->
{% call govuk::error_summary(errors) %}<!--split-->
{% call govuk::error_summary(mixed_errors) %}<!--split-->
{% call govuk::error_summary(no_errors, description = "The file couldn't be loaded. Try again later.") %}<!--split-->
{% call govuk::back_link("#") %}<!--split-->
{% call govuk::back_link("#", classes = "govuk-back-link--inverse") %}<!--split-->
{% call govuk::inset_text("It can take up to 8 weeks to register a lasting power of attorney if there are no mistakes in the application.") %}<!--split-->
{% call govuk::inset_text("", html = inset_html) %}<!--split-->
{% call govuk::notification_banner("This publication was withdrawn on 7 March 2014.") %}<!--split-->
{% call govuk::notification_banner("Email sent to example@email.com", success = true) %}<!--split-->
{% call govuk::notification_banner("This publication was withdrawn on 7 March 2014.", title = "Important information") %}<!--split-->
{% call govuk::notification_banner("This publication was withdrawn on 7 March 2014.", heading_level = 3) %}<!--split-->
{% call govuk::notification_banner("This publication was withdrawn on 7 March 2014.", title_id = "my-id") %}<!--split-->
{% call govuk::notification_banner("", html = banner_html) %}<!--split-->
{% call govuk::tag("Alpha") %}<!--split-->
{% call govuk::tag("Grey", classes = "govuk-tag--grey") %}<!--split-->
<dl class="govuk-summary-list">
{% call govuk::summary_list_row("Name", "Firstname Lastname") %}
{% call govuk::summary_list_row("Date of birth", "13/08/1980") %}
{% call govuk::summary_list_row("Contact information", "", value_html = contact_html) %}
</dl><!--split-->
<dl class="govuk-summary-list">
{% call govuk::summary_list_row("Name", "Firstname Lastname", action_href = "https://www.gov.uk", action_text = "Go to GOV.UK") %}
</dl><!--split-->
<dl class="govuk-summary-list">
{% call govuk::summary_list_row("Dyddiad geni", "13/08/1980", action_href = "#", action_text = "Golygu", action_hidden_text = "dyddiad geni") %}
</dl><!--split-->
<dl class="govuk-summary-list">
{% call govuk::summary_list_row("Date of birth", "13/08/1980", classes = "govuk-summary-list__row--no-actions") %}
</dl><!--split-->
{% call govuk::warning_text("You can be fined up to £5,000 if you don’t register.") %}<!--split-->
{% call govuk::details("Help with nationality", nationality) %}<!--split-->
{% call govuk::details("Help with nationality", nationality, open = true, id = "help-with-nationality") %}<!--split-->
{% call govuk::details("Where to find your National Insurance Number", "", html = details_html) %}"##
)]
struct Preview {
    nino_hint: String,
    value: String,
    errors: Vec<(String, String)>,
    mixed_errors: Vec<(String, String)>,
    no_errors: Vec<(String, String)>,
    inset_html: String,
    banner_html: String,
    contact_html: String,
    nationality: String,
    details_html: String,
}

/// (component, fixture name) of each part of [`Preview`], or for a summary
/// list row, the fixture and the rows of it that the part reproduces.
const FIXTURES: &[(&str, &str)] = &[
    ("button", "default"),
    ("button", "disabled"),
    ("button", "link"),
    ("button", "start"),
    ("button", "start link"),
    ("button", "name"),
    ("button", "value"),
    ("button", "type"),
    ("button", "id"),
    ("button", "prevent double click"),
    ("button", "secondary"),
    ("input", "default"),
    ("input", "with hint text"),
    ("input", "with error message"),
    ("input", "with error and hint"),
    ("input", "with width-10 class"),
    ("input", "with label as page heading"),
    ("input", "with prefix and suffix"),
    ("input", "with prefix and suffix and error"),
    ("input", "custom type"),
    ("input", "value"),
    ("input", "inputmode"),
    ("input", "with autocomplete attribute"),
    ("input", "with spellcheck enabled"),
    ("input", "with pattern attribute"),
    ("input", "with autocapitalize turned off"),
    ("input", "disabled"),
    ("error-summary", "default"),
    ("error-summary", "mixed with and without links"),
    ("error-summary", "with description only"),
    ("back-link", "default"),
    ("back-link", "inverse"),
    ("inset-text", "default"),
    ("inset-text", "with html"),
    ("notification-banner", "default"),
    ("notification-banner", "with type as success"),
    ("notification-banner", "custom title"),
    ("notification-banner", "custom title heading level"),
    ("notification-banner", "custom title id"),
    ("notification-banner", "with text as html"),
    ("tag", "default"),
    ("tag", "grey"),
    ("summary-list", "default"),
    ("summary-list", "actions href"),
    // The second row of "translated": one action with visually hidden text.
    ("summary-list", "translated#2"),
    // The second row of "with some actions": a row without actions among rows with them.
    ("summary-list", "with some actions#2"),
    ("warning-text", "default"),
    ("details", "default"),
    ("details", "expanded"),
    ("details", "with html"),
];

/// The expected markup: the fixture's, or for "name#n" the n-th summary list
/// row of it wrapped in its own list.
fn expected(component: &str, name: &str) -> String {
    let Some((name, row)) = name.split_once('#') else {
        return fixture(component, name)["html"]
            .as_str()
            .unwrap()
            .to_owned();
    };
    let html = normalise(fixture(component, name)["html"].as_str().unwrap());
    let row: usize = row.parse().unwrap();
    let rows: Vec<&str> = html
        .split(r#"<div class="govuk-summary-list__row"#)
        .collect();
    let row = rows[row].trim_end_matches("</dl>");
    format!(r#"<dl class="govuk-summary-list"><div class="govuk-summary-list__row{row}</dl>"#)
}

fn preview() -> Preview {
    Preview {
        nino_hint: fixture_option("input", "with hint text", "/hint/text"),
        value: fixture_option("input", "value", "/value"),
        errors: fixture_errors("default"),
        mixed_errors: fixture_errors("mixed with and without links"),
        no_errors: Vec::new(),
        inset_html: fixture_option("inset-text", "with html", "/html"),
        banner_html: fixture_option("notification-banner", "with text as html", "/html"),
        contact_html: fixture_option("summary-list", "default", "/rows/2/value/html"),
        nationality: fixture_option("details", "default", "/text"),
        details_html: fixture_option("details", "with html", "/html"),
    }
}

#[test]
fn macros_render_the_same_markup_as_govuk_frontend() {
    let rendered = preview().render().unwrap();
    let parts: Vec<&str> = rendered.split(SPLIT).collect();
    assert_eq!(parts.len(), FIXTURES.len(), "one part per fixture");
    let mut failures = Vec::new();
    for (part, (component, name)) in parts.iter().zip(FIXTURES) {
        let want = normalise(&expected(component, name));
        let got = normalise(part);
        if want != got {
            failures.push(format!(
                "{component} / {name}:\n  want: {want}\n  got:  {got}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn macro_arguments_are_escaped_except_html() {
    #[derive(Template)]
    #[template(
        ext = "html",
        source = r#"{% import "components.html" as govuk -%}
{% call govuk::input(name, label, value = value, error = label) %}
{% call govuk::tag(label) %}
{% call govuk::details(label, label, html = trusted) %}"#
    )]
    struct Escaping<'a> {
        name: &'a str,
        label: String,
        value: &'a str,
        trusted: &'a str,
    }
    let html = Escaping {
        name: "email",
        label: "<script>x</script>".to_owned(),
        value: "\"><b>",
        trusted: "<p class=\"govuk-body\">ok</p>",
    }
    .render()
    .unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("\"><b>"), "{html}");
    assert!(
        html.contains("&#60;script&#62;x&#60;/script&#62;"),
        "{html}"
    );
    assert!(html.contains("<p class=\"govuk-body\">ok</p>"), "{html}");
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"{% extends "layout.html" %}
{%- import "components.html" as govuk -%}
{% block before_content %}{% call govuk::back_link("/home") %}{% endblock %}
{% block content %}<h1 class="govuk-heading-l">Preview page</h1>{% endblock %}"#
)]
struct Page {
    layout: Layout,
}

fn page(user: Option<LayoutUser>, show_dev_mail: bool) -> String {
    Page {
        layout: Layout {
            title: "Preview <page>".to_owned(),
            user,
            csrf_token: "tok+/=\"en".to_owned(),
            show_dev_mail,
        },
    }
    .render()
    .unwrap()
}

fn signed_in() -> Option<LayoutUser> {
    Some(LayoutUser {
        display_name: "Ann <Admin> & Co".to_owned(),
        organisation: "University of Example".to_owned(),
        manages_users: false,
        manages_organisations: false,
    })
}

fn assert_in_order(html: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        let at = html[from..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing or out of order in\n{html}"));
        from += at + needle.len();
    }
}

#[test]
fn layout_is_the_govuk_page_template_without_gov_uk_branding() {
    for html in [page(None, false), page(signed_in(), true)] {
        assert!(html.starts_with("<!DOCTYPE html>\n"), "{html}");
        assert_in_order(
            &html,
            &[
                r#"<html lang="en" class="govuk-template">"#,
                "<title>Preview &#60;page&#62; - Provider Portal</title>",
                r#"<link rel="stylesheet" href="/assets/portal.css">"#,
                r#"<body class="govuk-template__body">"#,
                &format!("<script>{INLINE_SCRIPT}</script>"),
                r##"<a href="#main-content" class="govuk-skip-link" data-module="govuk-skip-link">Skip to main content</a>"##,
                r#"<header class="govuk-template__header">"#,
                r#"class="govuk-generic-header""#,
                r#"data-module="govuk-service-navigation""#,
                r#"<a href="/" class="govuk-service-navigation__link">"#,
                "Provider Portal",
                r#"<div class="govuk-phase-banner govuk-width-container">"#,
                "Beta",
                "</header>",
                r#"<div class="govuk-width-container">"#,
                r#"<a href="/home" class="govuk-back-link">Back</a>"#,
                r#"<main class="govuk-main-wrapper" id="main-content">"#,
                r#"<h1 class="govuk-heading-l">Preview page</h1>"#,
                "</main>",
                r#"<footer class="govuk-template__footer">"#,
                "Provider Portal is run by the Office for Students.",
                r#"<a class="govuk-footer__link" href="mailto:portal@officeforstudents.org.uk">portal@officeforstudents.org.uk</a>"#,
                "</footer>",
                r#"<script type="module" src="/assets/app.js"></script>"#,
                "</body>",
                "</html>",
            ],
        );
        // One inline script only, and it is the one the CSP hash allows.
        assert_eq!(html.matches("<script").count(), 2, "{html}");
        assert_eq!(html.matches("<script>").count(), 1, "{html}");
        assert!(inline_script_csp_hash().starts_with("'sha256-"));
        for branding in [
            "crown",
            "Crown",
            "govuk-header",
            "govuk-logo",
            "GOV.UK",
            "Open Government Licence",
            "licence-logo",
            "/images/",
            "favicon",
        ] {
            assert!(!html.contains(branding), "layout contains {branding:?}");
        }
    }
}

#[test]
fn signed_out_layout_has_no_navigation() {
    let html = page(None, false);
    for absent in [
        "<nav",
        "Sign out",
        "/sign-out",
        "csrf_token",
        "Signed in as",
        "/dev/mail",
    ] {
        assert!(!html.contains(absent), "{absent:?} in\n{html}");
    }
}

#[test]
fn development_mail_link_is_shown_when_asked_for_even_signed_out() {
    let html = page(None, true);
    assert_in_order(
        &html,
        &[
            r#"<nav aria-label="Menu" class="govuk-service-navigation__wrapper">"#,
            r#"<a class="govuk-service-navigation__link" href="/dev/mail">"#,
            "Development mail",
            "</nav>",
        ],
    );
    assert!(!html.contains("Sign out"));
    // A single item: no collapsing menu button.
    assert!(!html.contains("govuk-service-navigation__toggle"));
}

#[test]
fn signed_in_layout_has_navigation_sign_out_and_who() {
    let html = page(signed_in(), false);
    assert_in_order(
        &html,
        &[
            r#"<nav aria-label="Menu" class="govuk-service-navigation__wrapper">"#,
            r#"aria-controls="navigation" hidden aria-hidden="true">"#,
            r#"<ul class="govuk-service-navigation__list" id="navigation">"#,
            r#"<a class="govuk-service-navigation__link" href="/home">"#,
            "Home",
            r#"<form method="post" action="/sign-out" class="portal-inline-form" novalidate>"#,
            r#"<input type="hidden" name="csrf_token" value="tok+/=&#34;en">"#,
            r#"<button type="submit" class="portal-link-button">Sign out</button>"#,
            "</form>",
            "</nav>",
            r#"<p class="portal-signed-in">Signed in as <strong>Ann &#60;Admin&#62; &#38; Co</strong>, University of Example</p>"#,
            "</header>",
        ],
    );
    assert!(!html.contains("/dev/mail"));
    assert!(page(signed_in(), true).contains(r#"href="/dev/mail""#));
}
