//! Tests of `layout.html` and `components.html`.
//!
//! Every example in govuk-frontend's own fixtures
//! (`dist/govuk/components/<name>/fixtures.json` in the npm package that
//! `build.rs` installs) of each component our templates use is rendered
//! through the askama macro with the fixture's options, and compared with the
//! markup the Nunjucks macro produces for it, normalised. A govuk-frontend
//! upgrade that changes a component's markup, or adds an example that the
//! macros cannot reproduce, therefore fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use askama::Template;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::assets::{INLINE_SCRIPT, inline_script_csp_hash};
use crate::layout::{Layout, LayoutUser};
use crate::pages::pagination::PageLink;

const SPLIT: &str = "<!--split-->";

/// The components checked, in the order [`Preview`] renders them.
const COMPONENTS: &[&str] = &[
    "button",
    "input",
    "error-summary",
    "back-link",
    "inset-text",
    "notification-banner",
    "tag",
    "summary-list",
    "warning-text",
    "details",
    "panel",
    "pagination",
];

/// Fixtures left out, as (component, fixture name, reason): only those whose
/// options cannot be expressed as macro arguments at all. None so far.
const EXCLUDED: &[(&str, &str, &str)] = &[];

fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../frontend/node_modules/govuk-frontend/dist/govuk/components")
}

/// A JSON value that keeps object members in order: serde_json's `Value`
/// sorts them, but `attributes` are rendered in the order they are given.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

static NULL: Json = Json::Null;

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct JsonVisitor;
        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Number(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Number(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
                Ok(Json::Number(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::String(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Json::Object(members))
            }
        }
        deserializer.deserialize_any(JsonVisitor)
    }
}

impl Json {
    /// The value at a `/`-separated path of object keys and array indexes;
    /// null if missing.
    fn at(&self, path: &str) -> &Json {
        path.split('/')
            .filter(|key| !key.is_empty())
            .fold(self, |value, key| match value {
                Json::Object(members) => members
                    .iter()
                    .find(|(name, _)| name == key)
                    .map_or(&NULL, |(_, member)| member),
                Json::Array(items) => key
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .unwrap_or(&NULL),
                _ => &NULL,
            })
    }

    /// Whether Nunjucks treats the value as true.
    fn truthy(&self) -> bool {
        match self {
            Json::Null => false,
            Json::Bool(b) => *b,
            Json::Number(n) => n != "0",
            Json::String(s) => !s.is_empty(),
            Json::Array(_) | Json::Object(_) => true,
        }
    }

    fn flag(&self, path: &str) -> bool {
        self.at(path).truthy()
    }

    /// A string, number or boolean as Nunjucks prints it; "" if missing.
    fn text(&self, path: &str) -> String {
        match self.at(path) {
            Json::Null => String::new(),
            Json::Bool(b) => b.to_string(),
            Json::Number(n) | Json::String(n) => n.clone(),
            other => panic!("{path} is not text: {other:?}"),
        }
    }

    /// "true" or "false" for a boolean, "" for anything else: for the
    /// options that Nunjucks renders only when they are `true` or `false`.
    fn boolean_text(&self, path: &str) -> String {
        match self.at(path) {
            Json::Bool(b) => b.to_string(),
            _ => String::new(),
        }
    }

    fn items(&self, path: &str) -> &[Json] {
        match self.at(path) {
            Json::Array(items) => items,
            _ => &[],
        }
    }

    /// An `attributes` object as (name, value) pairs, in order.
    fn attributes(&self, path: &str) -> Attributes {
        match self.at(path) {
            Json::Object(members) => members
                .iter()
                .map(|(name, _)| (name.clone(), self.at(path).text(name)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

struct Fixture {
    name: String,
    options: Json,
    html: String,
}

fn fixtures(component: &str) -> Vec<Fixture> {
    let path = fixtures_dir().join(component).join("fixtures.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Json = serde_json::from_slice(&bytes).unwrap();
    json.items("fixtures")
        .iter()
        .map(|fixture| Fixture {
            name: fixture.text("name"),
            options: fixture.at("options").clone(),
            html: fixture.text("html"),
        })
        .collect()
}

fn excluded(component: &str, name: &str) -> bool {
    EXCLUDED
        .iter()
        .any(|(c, n, _)| *c == component && *n == name)
}

/// Collapses whitespace, and drops it next to tags, so that only differences
/// in elements, attributes and text remain; and writes the characters that
/// askama and Nunjucks escape differently (`&#60;` / `&lt;`) the same way.
fn normalise(html: &str) -> String {
    let collapsed = html.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .replace("> ", ">")
        .replace(" <", "<")
        .replace(" >", ">")
        .replace("&#60;", "&lt;")
        .replace("&#62;", "&gt;")
        .replace("&#34;", "&quot;")
        .replace("&#38;", "&amp;")
}

type Attributes = Vec<(String, String)>;
/// (href, text, html, visually hidden text, classes, attributes)
type Action = (String, String, String, String, String, Attributes);
/// (key, key html, key classes, value, value html, value classes, classes,
/// actions, actions classes)
type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Vec<Action>,
    String,
);
/// (text, html, href, attributes)
type ErrorItem = (String, String, String, Attributes);

/// The arguments of one macro call, from a fixture's options.
struct Button {
    text: String,
    name: String,
    value: String,
    href: String,
    classes: String,
    button_type: String,
    id: String,
    disabled: bool,
    prevent_double_click: bool,
    is_start: bool,
    html: String,
    attributes: Attributes,
    allow_double_click: bool,
}

impl Button {
    fn new(o: &Json) -> Self {
        Self {
            text: o.text("text"),
            name: o.text("name"),
            value: o.text("value"),
            href: o.text("href"),
            classes: o.text("classes"),
            button_type: o.text("type"),
            id: o.text("id"),
            disabled: o.flag("disabled"),
            prevent_double_click: o.boolean_text("preventDoubleClick") == "true",
            is_start: o.flag("isStartButton"),
            html: o.text("html"),
            attributes: o.attributes("attributes"),
            allow_double_click: o.boolean_text("preventDoubleClick") == "false",
        }
    }
}

struct Input {
    name: String,
    label: String,
    id: String,
    value: String,
    hint: String,
    error: String,
    input_type: String,
    autocomplete: String,
    inputmode: String,
    spellcheck: String,
    classes: String,
    label_classes: String,
    is_page_heading: bool,
    pattern: String,
    autocapitalize: String,
    prefix: String,
    suffix: String,
    disabled: bool,
    describedby: String,
    attributes: Attributes,
    label_html: String,
    label_attributes: Attributes,
    hint_html: String,
    hint_classes: String,
    hint_attributes: Attributes,
    error_html: String,
    error_classes: String,
    error_attributes: Attributes,
    error_visually_hidden_text: String,
    prefix_html: String,
    prefix_classes: String,
    prefix_attributes: Attributes,
    suffix_html: String,
    suffix_classes: String,
    suffix_attributes: Attributes,
    wrapper_classes: String,
    wrapper_attributes: Attributes,
    form_group_classes: String,
    form_group_attributes: Attributes,
}

impl Input {
    fn new(o: &Json) -> Self {
        let error_visually_hidden_text = match o.at("errorMessage/visuallyHiddenText") {
            Json::Null => "Error".to_owned(),
            _ => o.text("errorMessage/visuallyHiddenText"),
        };
        Self {
            name: o.text("name"),
            label: o.text("label/text"),
            id: o.text("id"),
            value: o.text("value"),
            hint: o.text("hint/text"),
            error: o.text("errorMessage/text"),
            input_type: o.text("type"),
            autocomplete: o.text("autocomplete"),
            inputmode: o.text("inputmode"),
            spellcheck: o.boolean_text("spellcheck"),
            classes: o.text("classes"),
            label_classes: o.text("label/classes"),
            is_page_heading: o.flag("label/isPageHeading"),
            pattern: o.text("pattern"),
            autocapitalize: o.text("autocapitalize"),
            prefix: o.text("prefix/text"),
            suffix: o.text("suffix/text"),
            disabled: o.flag("disabled"),
            describedby: o.text("describedBy"),
            attributes: o.attributes("attributes"),
            label_html: o.text("label/html"),
            label_attributes: o.attributes("label/attributes"),
            hint_html: o.text("hint/html"),
            hint_classes: o.text("hint/classes"),
            hint_attributes: o.attributes("hint/attributes"),
            error_html: o.text("errorMessage/html"),
            error_classes: o.text("errorMessage/classes"),
            error_attributes: o.attributes("errorMessage/attributes"),
            error_visually_hidden_text,
            prefix_html: o.text("prefix/html"),
            prefix_classes: o.text("prefix/classes"),
            prefix_attributes: o.attributes("prefix/attributes"),
            suffix_html: o.text("suffix/html"),
            suffix_classes: o.text("suffix/classes"),
            suffix_attributes: o.attributes("suffix/attributes"),
            wrapper_classes: o.text("inputWrapper/classes"),
            wrapper_attributes: o.attributes("inputWrapper/attributes"),
            form_group_classes: o.text("formGroup/classes"),
            form_group_attributes: o.attributes("formGroup/attributes"),
        }
    }
}

struct ErrorSummary {
    /// Items with only text and href go here, the others in `error_items`,
    /// so that both arguments are checked.
    errors: Vec<(String, String)>,
    title: String,
    description: String,
    title_html: String,
    description_html: String,
    classes: String,
    attributes: Attributes,
    disable_auto_focus: String,
    error_items: Vec<ErrorItem>,
}

impl ErrorSummary {
    fn new(o: &Json) -> Self {
        let items = o.items("errorList");
        let simple = items
            .iter()
            .all(|item| !item.flag("html") && item.attributes("attributes").is_empty());
        let (errors, error_items) = if simple {
            let errors = items
                .iter()
                .map(|item| (item.text("text"), item.text("href")))
                .collect();
            (errors, Vec::new())
        } else {
            let error_items = items
                .iter()
                .map(|item| {
                    (
                        item.text("text"),
                        item.text("html"),
                        item.text("href"),
                        item.attributes("attributes"),
                    )
                })
                .collect();
            (Vec::new(), error_items)
        };
        Self {
            errors,
            title: o.text("titleText"),
            description: o.text("descriptionText"),
            title_html: o.text("titleHtml"),
            description_html: o.text("descriptionHtml"),
            classes: o.text("classes"),
            attributes: o.attributes("attributes"),
            disable_auto_focus: o.boolean_text("disableAutoFocus"),
            error_items,
        }
    }
}

struct BackLink {
    href: String,
    text: String,
    classes: String,
    html: String,
    attributes: Attributes,
}

impl BackLink {
    fn new(o: &Json) -> Self {
        Self {
            href: o.text("href"),
            text: o.text("text"),
            classes: o.text("classes"),
            html: o.text("html"),
            attributes: o.attributes("attributes"),
        }
    }
}

struct InsetText {
    text: String,
    html: String,
    id: String,
    classes: String,
    attributes: Attributes,
}

impl InsetText {
    fn new(o: &Json) -> Self {
        Self {
            text: o.text("text"),
            html: o.text("html"),
            id: o.text("id"),
            classes: o.text("classes"),
            attributes: o.attributes("attributes"),
        }
    }
}

struct NotificationBanner {
    text: String,
    html: String,
    success: bool,
    title: String,
    title_id: String,
    heading_level: u8,
    title_html: String,
    classes: String,
    attributes: Attributes,
    role: String,
    disable_auto_focus: String,
}

impl NotificationBanner {
    fn new(o: &Json) -> Self {
        Self {
            text: o.text("text"),
            html: o.text("html"),
            // Only "success" changes anything: other types are ignored.
            success: o.text("type") == "success",
            title: o.text("titleText"),
            title_id: o.text("titleId"),
            heading_level: o.text("titleHeadingLevel").parse().unwrap_or(2),
            title_html: o.text("titleHtml"),
            classes: o.text("classes"),
            attributes: o.attributes("attributes"),
            role: o.text("role"),
            disable_auto_focus: o.boolean_text("disableAutoFocus"),
        }
    }
}

struct Tag {
    text: String,
    classes: String,
    html: String,
    attributes: Attributes,
}

impl Tag {
    fn new(o: &Json) -> Self {
        Self {
            text: o.text("text"),
            classes: o.text("classes"),
            html: o.text("html"),
            attributes: o.attributes("attributes"),
        }
    }
}

fn action(item: &Json) -> Action {
    (
        item.text("href"),
        item.text("text"),
        item.text("html"),
        item.text("visuallyHiddenText"),
        item.text("classes"),
        item.attributes("attributes"),
    )
}

struct SummaryList {
    rows: Vec<Row>,
    classes: String,
    attributes: Attributes,
    card: bool,
    card_title: String,
    card_title_html: String,
    card_heading_level: u8,
    card_title_classes: String,
    card_actions: Vec<Action>,
    card_actions_classes: String,
    card_classes: String,
    card_attributes: Attributes,
}

impl SummaryList {
    fn new(o: &Json) -> Self {
        let rows = o
            .items("rows")
            .iter()
            // Nunjucks skips rows that are null, false or "".
            .filter(|row| row.truthy())
            .map(|row| {
                (
                    row.text("key/text"),
                    row.text("key/html"),
                    row.text("key/classes"),
                    row.text("value/text"),
                    row.text("value/html"),
                    row.text("value/classes"),
                    row.text("classes"),
                    row.items("actions/items").iter().map(action).collect(),
                    row.text("actions/classes"),
                )
            })
            .collect();
        Self {
            rows,
            classes: o.text("classes"),
            attributes: o.attributes("attributes"),
            card: o.flag("card"),
            card_title: o.text("card/title/text"),
            card_title_html: o.text("card/title/html"),
            card_heading_level: o.text("card/title/headingLevel").parse().unwrap_or(2),
            card_title_classes: o.text("card/title/classes"),
            card_actions: o.items("card/actions/items").iter().map(action).collect(),
            card_actions_classes: o.text("card/actions/classes"),
            card_classes: o.text("card/classes"),
            card_attributes: o.attributes("card/attributes"),
        }
    }
}

struct WarningText {
    text: String,
    icon_fallback_text: String,
    html: String,
    classes: String,
    attributes: Attributes,
}

impl WarningText {
    fn new(o: &Json) -> Self {
        Self {
            text: o.text("text"),
            icon_fallback_text: o.text("iconFallbackText"),
            html: o.text("html"),
            classes: o.text("classes"),
            attributes: o.attributes("attributes"),
        }
    }
}

struct Details {
    summary: String,
    text: String,
    html: String,
    open: bool,
    id: String,
    summary_html: String,
    classes: String,
    attributes: Attributes,
}

impl Details {
    fn new(o: &Json) -> Self {
        Self {
            summary: o.text("summaryText"),
            text: o.text("text"),
            html: o.text("html"),
            open: o.flag("open"),
            id: o.text("id"),
            summary_html: o.text("summaryHtml"),
            classes: o.text("classes"),
            attributes: o.attributes("attributes"),
        }
    }
}

/// (text, type, href, classes, attributes)
type PanelAction = (String, String, String, String, Attributes);

struct Panel {
    title: String,
    text: String,
    html: String,
    title_html: String,
    heading_level: u8,
    classes: String,
    attributes: Attributes,
    actions: Vec<PanelAction>,
    actions_classes: String,
    actions_attributes: Attributes,
}

impl Panel {
    fn new(o: &Json) -> Self {
        Self {
            title: o.text("titleText"),
            text: o.text("text"),
            html: o.text("html"),
            title_html: o.text("titleHtml"),
            heading_level: o.text("headingLevel").parse().unwrap_or(1),
            classes: o.text("classes"),
            attributes: o.attributes("attributes"),
            actions: o
                .items("actions/items")
                .iter()
                .map(|a| {
                    (
                        a.text("text"),
                        a.text("type"),
                        a.text("href"),
                        a.text("classes"),
                        a.attributes("attributes"),
                    )
                })
                .collect(),
            actions_classes: o.text("actions/classes"),
            actions_attributes: o.attributes("actions/attributes"),
        }
    }
}

/// The `pagination` macro's arguments.
struct PaginationArgs {
    items: Vec<PageLink>,
    previous_href: String,
    next_href: String,
    previous_text: String,
    previous_html: String,
    previous_label: String,
    previous_attributes: Attributes,
    next_text: String,
    next_html: String,
    next_label: String,
    next_attributes: Attributes,
    landmark_label: String,
    classes: String,
    attributes: Attributes,
}

impl PaginationArgs {
    fn new(o: &Json) -> Self {
        Self {
            items: o
                .items("items")
                .iter()
                // Nunjucks skips items that are null or empty objects.
                .filter(|item| matches!(item, Json::Object(members) if !members.is_empty()))
                .map(|item| PageLink {
                    number: item.text("number"),
                    href: item.text("href"),
                    current: item.flag("current"),
                    ellipsis: item.flag("ellipsis"),
                    visually_hidden_text: item.text("visuallyHiddenText"),
                    attributes: item.attributes("attributes"),
                })
                .collect(),
            previous_href: o.text("previous/href"),
            next_href: o.text("next/href"),
            previous_text: o.text("previous/text"),
            previous_html: o.text("previous/html"),
            previous_label: o.text("previous/labelText"),
            previous_attributes: o.attributes("previous/attributes"),
            next_text: o.text("next/text"),
            next_html: o.text("next/html"),
            next_label: o.text("next/labelText"),
            next_attributes: o.attributes("next/attributes"),
            landmark_label: o.text("landmarkLabel"),
            classes: o.text("classes"),
            attributes: o.attributes("attributes"),
        }
    }
}

/// One macro call per fixture, component by component in the order of
/// [`COMPONENTS`], every argument taken from the fixture's options.
#[derive(Template, Default)]
#[template(
    ext = "html",
    source = r##"{% import "components.html" as govuk -%}
{% for f in buttons %}{% call govuk::button(f.text, name = f.name, value = f.value, href = f.href, classes = f.classes, button_type = f.button_type, id = f.id, disabled = f.disabled, prevent_double_click = f.prevent_double_click, is_start = f.is_start, html = f.html, attributes = f.attributes, allow_double_click = f.allow_double_click) %}<!--split-->{% endfor %}
{% for f in inputs %}{% call govuk::input(f.name, f.label, id = f.id, value = f.value, hint = f.hint, error = f.error, input_type = f.input_type, autocomplete = f.autocomplete, inputmode = f.inputmode, spellcheck = f.spellcheck, classes = f.classes, label_classes = f.label_classes, is_page_heading = f.is_page_heading, pattern = f.pattern, autocapitalize = f.autocapitalize, prefix = f.prefix, suffix = f.suffix, disabled = f.disabled, describedby = f.describedby, attributes = f.attributes, label_html = f.label_html, label_attributes = f.label_attributes, hint_html = f.hint_html, hint_classes = f.hint_classes, hint_attributes = f.hint_attributes, error_html = f.error_html, error_classes = f.error_classes, error_attributes = f.error_attributes, error_visually_hidden_text = f.error_visually_hidden_text, prefix_html = f.prefix_html, prefix_classes = f.prefix_classes, prefix_attributes = f.prefix_attributes, suffix_html = f.suffix_html, suffix_classes = f.suffix_classes, suffix_attributes = f.suffix_attributes, wrapper_classes = f.wrapper_classes, wrapper_attributes = f.wrapper_attributes, form_group_classes = f.form_group_classes, form_group_attributes = f.form_group_attributes) %}<!--split-->{% endfor %}
{% for f in error_summaries %}{% call govuk::error_summary(f.errors, title = f.title, description = f.description, title_html = f.title_html, description_html = f.description_html, classes = f.classes, attributes = f.attributes, disable_auto_focus = f.disable_auto_focus, error_items = f.error_items) %}<!--split-->{% endfor %}
{% for f in back_links %}{% call govuk::back_link(f.href, text = f.text, classes = f.classes, html = f.html, attributes = f.attributes) %}<!--split-->{% endfor %}
{% for f in inset_texts %}{% call govuk::inset_text(f.text, html = f.html, id = f.id, classes = f.classes, attributes = f.attributes) %}<!--split-->{% endfor %}
{% for f in notification_banners %}{% call govuk::notification_banner(f.text, html = f.html, success = f.success, title = f.title, title_id = f.title_id, heading_level = f.heading_level, title_html = f.title_html, classes = f.classes, attributes = f.attributes, role = f.role, disable_auto_focus = f.disable_auto_focus) %}<!--split-->{% endfor %}
{% for f in tags %}{% call govuk::tag(f.text, classes = f.classes, html = f.html, attributes = f.attributes) %}<!--split-->{% endfor %}
{% for f in summary_lists %}{% call govuk::summary_list(f.rows, classes = f.classes, attributes = f.attributes, card = f.card, card_title = f.card_title, card_title_html = f.card_title_html, card_heading_level = f.card_heading_level, card_title_classes = f.card_title_classes, card_actions = f.card_actions, card_actions_classes = f.card_actions_classes, card_classes = f.card_classes, card_attributes = f.card_attributes) %}<!--split-->{% endfor %}
{% for f in warning_texts %}{% call govuk::warning_text(f.text, icon_fallback_text = f.icon_fallback_text, html = f.html, classes = f.classes, attributes = f.attributes) %}<!--split-->{% endfor %}
{% for f in details %}{% call govuk::details(f.summary, f.text, html = f.html, open = f.open, id = f.id, summary_html = f.summary_html, classes = f.classes, attributes = f.attributes) %}<!--split-->{% endfor %}
{% for f in panels %}{% call govuk::panel(f.title, text = f.text, html = f.html, title_html = f.title_html, heading_level = f.heading_level, classes = f.classes, attributes = f.attributes, actions = f.actions, actions_classes = f.actions_classes, actions_attributes = f.actions_attributes) %}<!--split-->{% endfor %}
{% for f in paginations %}{% call govuk::pagination(f.items, previous_href = f.previous_href, next_href = f.next_href, previous_text = f.previous_text, previous_html = f.previous_html, previous_label = f.previous_label, previous_attributes = f.previous_attributes, next_text = f.next_text, next_html = f.next_html, next_label = f.next_label, next_attributes = f.next_attributes, landmark_label = f.landmark_label, classes = f.classes, attributes = f.attributes) %}<!--split-->{% endfor %}"##
)]
struct Preview {
    buttons: Vec<Button>,
    inputs: Vec<Input>,
    error_summaries: Vec<ErrorSummary>,
    back_links: Vec<BackLink>,
    inset_texts: Vec<InsetText>,
    notification_banners: Vec<NotificationBanner>,
    tags: Vec<Tag>,
    summary_lists: Vec<SummaryList>,
    warning_texts: Vec<WarningText>,
    details: Vec<Details>,
    panels: Vec<Panel>,
    paginations: Vec<PaginationArgs>,
}

fn compare(checked: &[(&str, Fixture)], rendered: &str) -> Vec<String> {
    let parts: Vec<&str> = rendered.split(SPLIT).collect();
    assert_eq!(parts.len(), checked.len() + 1, "one part per fixture");
    let mut failures = Vec::new();
    for (part, (component, fixture)) in parts.iter().zip(checked) {
        let want = normalise(&fixture.html);
        let got = normalise(part);
        if want != got {
            failures.push(format!(
                "{component} / {}:\n  want: {want}\n  got:  {got}",
                fixture.name
            ));
        }
    }
    failures
}

#[test]
fn macros_render_every_govuk_frontend_fixture_of_their_component() {
    let mut preview = Preview::default();
    let mut checked: Vec<(&str, Fixture)> = Vec::new();
    let mut counts = Vec::new();
    for &component in COMPONENTS {
        let all = fixtures(component);
        let total = all.len();
        assert!(total > 0, "no fixtures for {component}");
        for (c, name, _) in EXCLUDED.iter().filter(|(c, _, _)| *c == component) {
            assert!(
                all.iter().any(|f| f.name == *name),
                "excluded fixture {c} / {name} does not exist"
            );
        }
        let before = checked.len();
        for fixture in all {
            if excluded(component, &fixture.name) {
                continue;
            }
            let o = &fixture.options;
            match component {
                "button" => preview.buttons.push(Button::new(o)),
                "input" => preview.inputs.push(Input::new(o)),
                "error-summary" => preview.error_summaries.push(ErrorSummary::new(o)),
                "back-link" => preview.back_links.push(BackLink::new(o)),
                "inset-text" => preview.inset_texts.push(InsetText::new(o)),
                "notification-banner" => preview
                    .notification_banners
                    .push(NotificationBanner::new(o)),
                "tag" => preview.tags.push(Tag::new(o)),
                "summary-list" => preview.summary_lists.push(SummaryList::new(o)),
                "warning-text" => preview.warning_texts.push(WarningText::new(o)),
                "details" => preview.details.push(Details::new(o)),
                "panel" => preview.panels.push(Panel::new(o)),
                "pagination" => preview.paginations.push(PaginationArgs::new(o)),
                other => panic!("no macro for {other}"),
            }
            checked.push((component, fixture));
        }
        let excluded_here = EXCLUDED.iter().filter(|(c, _, _)| *c == component).count();
        assert_eq!(
            checked.len() - before,
            total - excluded_here,
            "{component}: every fixture but the excluded ones is checked"
        );
        counts.push(format!("{component} {}/{total}", checked.len() - before));
    }
    let failures = compare(&checked, &preview.render().unwrap());
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ ({}):\n{}",
        failures.len(),
        checked.len(),
        counts.join(", "),
        failures.join("\n")
    );
}

/// A summary list row as the pages build it: the first action, if it is a
/// plain one, through `action_href` / `action_text` / `action_hidden_text`,
/// any others through `actions`.
struct PageRow {
    key: String,
    value: String,
    action_href: String,
    action_text: String,
    action_hidden_text: String,
    value_html: String,
    classes: String,
    key_html: String,
    key_classes: String,
    value_classes: String,
    actions: Vec<Action>,
    actions_classes: String,
    list_has_actions: bool,
}

/// The rows of a summary-list fixture as [`PageRow`]s, unless the list has
/// a card, classes or attributes (which the <dl> written by the page has).
fn page_rows(o: &Json) -> Option<Vec<PageRow>> {
    if ["card", "classes", "attributes"]
        .iter()
        .any(|key| o.flag(key))
    {
        return None;
    }
    let rows: Vec<&Json> = o.items("rows").iter().filter(|r| r.truthy()).collect();
    let list_has_actions = rows
        .iter()
        .any(|row| !row.items("actions/items").is_empty());
    let plain = |item: &Json| {
        matches!(item, Json::Object(members) if members.iter().all(|(key, _)| {
            ["href", "text", "visuallyHiddenText"].contains(&key.as_str())
        }))
    };
    let rows = rows
        .iter()
        .map(|row| {
            let items = row.items("actions/items");
            let (first, rest) = match items.split_first() {
                Some((first, rest)) if plain(first) => (Some(first), rest),
                _ => (None, items),
            };
            PageRow {
                key: row.text("key/text"),
                value: row.text("value/text"),
                action_href: first.map(|a| a.text("href")).unwrap_or_default(),
                action_text: first.map_or("Change".to_owned(), |a| a.text("text")),
                action_hidden_text: first
                    .map(|a| a.text("visuallyHiddenText"))
                    .unwrap_or_default(),
                value_html: row.text("value/html"),
                classes: row.text("classes"),
                key_html: row.text("key/html"),
                key_classes: row.text("key/classes"),
                value_classes: row.text("value/classes"),
                actions: rest.iter().map(action).collect(),
                actions_classes: row.text("actions/classes"),
                list_has_actions,
            }
        })
        .collect();
    Some(rows)
}

/// `summary_list_row`, as the pages call it inside their own <dl>, renders
/// the rows of every summary-list fixture that has no card, list classes or
/// list attributes.
#[test]
fn summary_list_row_renders_the_rows_of_the_plain_list_fixtures() {
    #[derive(Template)]
    #[template(
        ext = "html",
        source = r##"{% import "components.html" as govuk -%}
{% for rows in lists %}<dl class="govuk-summary-list">
{% for r in rows %}{% call govuk::summary_list_row(r.key, r.value, action_href = r.action_href, action_text = r.action_text, action_hidden_text = r.action_hidden_text, value_html = r.value_html, classes = r.classes, key_html = r.key_html, key_classes = r.key_classes, value_classes = r.value_classes, actions = r.actions, actions_classes = r.actions_classes, list_has_actions = r.list_has_actions) %}
{% endfor %}</dl><!--split-->{% endfor %}"##
    )]
    struct Rows {
        lists: Vec<Vec<PageRow>>,
    }
    let mut lists = Vec::new();
    let mut checked = Vec::new();
    for fixture in fixtures("summary-list") {
        if let Some(rows) = page_rows(&fixture.options) {
            lists.push(rows);
            checked.push(("summary-list", fixture));
        }
    }
    // govuk-frontend 6.6.0 has 30 summary-list fixtures: 9 cards, one with
    // list classes and one with list attributes.
    assert!(
        checked.len() >= 19,
        "only {} plain list fixtures",
        checked.len()
    );
    let failures = compare(&checked, &Rows { lists }.render().unwrap());
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
            ..Layout::default()
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
        manages_access_keys: false,
        reads_activity: false,
        reads_feedback: false,
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
fn development_mail_link_is_in_the_footer_when_asked_for_even_signed_out() {
    let html = page(None, true);
    assert_in_order(
        &html,
        &[
            r#"<footer class="govuk-template__footer">"#,
            r#"<a class="govuk-footer__link" href="/dev/mail">Development mail</a>"#,
            "</footer>",
        ],
    );
    assert!(!html.contains("Sign out"));
    // No section of the service for someone signed out: no navigation.
    assert!(!html.contains("govuk-service-navigation__list"));
}

#[test]
fn signed_in_layout_has_navigation_sign_out_and_who() {
    let html = page(signed_in(), false);
    assert_in_order(
        &html,
        &[
            // The account links are the header's, as GOV.UK services with
            // accounts have them.
            r#"<nav aria-label="Your account" class="portal-account-nav">"#,
            r#"<a class="portal-account-nav__link" href="/account">"#,
            "My account",
            r#"<form method="post" action="/sign-out" class="portal-inline-form" novalidate>"#,
            r#"<input type="hidden" name="csrf_token" value="tok+/=&#34;en">"#,
            r#"<button type="submit" class="portal-link-button portal-account-nav__link">Sign out</button>"#,
            "</form>",
            "</nav>",
            r#"<nav aria-label="Menu" class="govuk-service-navigation__wrapper">"#,
            r#"aria-controls="navigation" hidden aria-hidden="true">"#,
            r#"<ul class="govuk-service-navigation__list" id="navigation">"#,
            r#"<a class="govuk-service-navigation__link" href="/home">"#,
            "Home",
            "</nav>",
            r#"<p class="portal-signed-in">Signed in as <strong>Ann &#60;Admin&#62; &#38; Co</strong>, University of Example</p>"#,
            "</header>",
        ],
    );
    assert!(!html.contains("/dev/mail"));
    assert!(page(signed_in(), true).contains(r#"href="/dev/mail""#));
    for admin_only in ["/users", "/areas", "/organisations", "/access-keys"] {
        assert!(
            !html.contains(&format!("href=\"{admin_only}\"")),
            "{admin_only}"
        );
    }
}

#[test]
fn the_current_section_is_marked_as_govuk_frontend_marks_it() {
    let html = Page {
        layout: Layout {
            title: "Users".to_owned(),
            user: signed_in().map(|u| LayoutUser {
                manages_users: true,
                ..u
            }),
            path: "/users/123".to_owned(),
            ..Layout::default()
        },
    }
    .render()
    .unwrap();
    let start = html.find("govuk-service-navigation__list").unwrap();
    let nav = normalise(&html[start..start + html[start..].find("</ul>").unwrap()]);
    assert!(
        nav.contains(&normalise(
            r#"<li class="govuk-service-navigation__item govuk-service-navigation__item--active">
              <a class="govuk-service-navigation__link" href="/users" aria-current="true">
                <strong class="govuk-service-navigation__active-fallback">User management</strong>
              </a>
            </li>"#
        )),
        "{nav}"
    );
    assert_eq!(nav.matches("aria-current").count(), 1, "{nav}");
}

#[test]
fn administrators_navigation_follows_what_they_may_do() {
    let user = |users: bool, regulator: bool| {
        signed_in().map(|u| LayoutUser {
            manages_users: users,
            manages_organisations: regulator,
            manages_access_keys: regulator,
            ..u
        })
    };
    let provider_admin = page(user(true, false), false);
    assert_in_order(
        &provider_admin,
        &[
            r#"href="/account""#,
            r#"href="/home""#,
            r#"href="/users""#,
            r#"href="/areas""#,
        ],
    );
    assert!(!provider_admin.contains(r#"href="/access-keys""#));
    // A regulator administrator's access keys are found from Areas (their
    // navigation fits one row at 1200 px); the account links are first, in
    // the header.
    let regulator = page(user(true, true), false);
    assert_in_order(
        &regulator,
        &[
            r#"href="/account""#,
            r#"href="/organisations""#,
            r#"href="/users""#,
            r#"href="/areas""#,
        ],
    );
    assert!(!regulator.contains(r#"href="/access-keys""#));
}
