//! What the page handlers share for forms and addresses.

use app::FieldErrors;

/// The error summary's entries: (message, `#field`). Every field's id is its name.
pub type Errors = Vec<(String, String)>;

pub fn summary(fields: &FieldErrors) -> Errors {
    fields
        .iter()
        .map(|(f, m)| (m.clone(), format!("#{f}")))
        .collect()
}

/// As [`summary`], listing the fields in the order the form shows them
/// (`order`); any other field comes last.
pub fn summary_in(fields: &FieldErrors, order: &[&str]) -> Errors {
    let rank = |f: &str| order.iter().position(|o| *o == f).unwrap_or(order.len());
    let mut items: Vec<(&&str, &String)> = fields.iter().collect();
    items.sort_by_key(|(f, _)| rank(f));
    items
        .into_iter()
        .map(|(f, m)| (m.clone(), format!("#{f}")))
        .collect()
}

/// The message to show beside one field ("" when it has none).
pub fn error_for(fields: &FieldErrors, name: &str) -> String {
    fields.get(name).cloned().unwrap_or_default()
}

/// Pairs of a query string, repeated keys kept.
pub fn pairs(raw: Option<String>) -> Vec<(String, String)> {
    raw.and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(&q).ok())
        .unwrap_or_default()
}

pub fn first(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

pub fn encode(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}
