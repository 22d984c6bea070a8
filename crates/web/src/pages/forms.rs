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

/// A person's fields in the order every form shows them (Add user, Change
/// details, the regulator's invitation): its error summary lists them so.
pub const PERSON_FIELDS: &[&str] = &["title", "first_name", "last_name", "email", "role"];

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

/// The three boxes of a GOV.UK date input, as typed.
#[derive(Debug, Clone, Default)]
pub struct DateParts {
    pub day: String,
    pub month: String,
    pub year: String,
}

impl DateParts {
    /// The fields `<prefix>-day`, `<prefix>-month` and `<prefix>-year` of a form.
    pub fn from_form(pairs: &[(String, String)], prefix: &str) -> Self {
        let get = |part: &str| first(pairs, &format!("{prefix}-{part}")).unwrap_or_default();
        Self {
            day: get("day"),
            month: get("month"),
            year: get("year"),
        }
    }

    pub fn of(date: time::Date) -> Self {
        Self {
            day: date.day().to_string(),
            month: u8::from(date.month()).to_string(),
            year: date.year().to_string(),
        }
    }

    /// The date, or the GOV.UK message for what is wrong with it. `what` names
    /// the date in the messages, with a capital: "Expiry date".
    pub fn parse(&self, what: &str) -> Result<time::Date, String> {
        let parts = [
            ("day", &self.day),
            ("month", &self.month),
            ("year", &self.year),
        ];
        let missing: Vec<&str> = parts
            .iter()
            .filter(|(_, v)| v.trim().is_empty())
            .map(|(n, _)| *n)
            .collect();
        match missing.as_slice() {
            [] => {}
            [_, _, _] => return Err(format!("Enter the {}", what.to_lowercase())),
            [one] => return Err(format!("{what} must include a {one}")),
            [a, b] => return Err(format!("{what} must include a {a} and {b}")),
            _ => return Err(format!("{what} must be a real date")),
        }
        let number = |v: &str| v.trim().parse::<i32>().ok();
        let (Some(day), Some(month), Some(year)) =
            (number(&self.day), number(&self.month), number(&self.year))
        else {
            return Err(format!("{what} must be a real date"));
        };
        let year_text = self.year.trim();
        if year_text.len() != 4 || !year_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err("Year must include 4 numbers".to_owned());
        }
        let month = u8::try_from(month)
            .ok()
            .and_then(|m| time::Month::try_from(m).ok());
        let day = u8::try_from(day).ok();
        match (month, day) {
            (Some(m), Some(d)) => time::Date::from_calendar_date(year, m, d)
                .map_err(|_| format!("{what} must be a real date")),
            _ => Err(format!("{what} must be a real date")),
        }
    }
}

/// An expiry date means "usable until the end of that day" in the UK: the
/// moment it ends is UK midnight at the start of the next day.
pub fn end_of_day(date: time::Date) -> time::OffsetDateTime {
    domain::uk_time::uk_midnight(date.next_day().unwrap_or(date))
}

/// The last UK day an expiry time leaves usable: the day it falls in, or the
/// day before when it is exactly UK midnight.
pub fn last_day(expires_at: time::OffsetDateTime) -> time::Date {
    domain::uk_time::uk_date(expires_at - time::Duration::microseconds(1))
}

/// "31 December 2026".
pub fn long_date(date: time::Date) -> String {
    domain::uk_time::date(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn parts(day: &str, month: &str, year: &str) -> DateParts {
        DateParts {
            day: day.into(),
            month: month.into(),
            year: year.into(),
        }
    }

    #[test]
    fn dates_are_read_as_govuk_date_inputs_ask() {
        assert_eq!(
            parts("31", "12", "2026").parse("Expiry date"),
            Ok(date!(2026 - 12 - 31))
        );
        assert_eq!(
            parts(" 1", "02 ", "2027").parse("Expiry date"),
            Ok(date!(2027 - 02 - 01))
        );
        let error = |d: &str, m: &str, y: &str| parts(d, m, y).parse("Expiry date").unwrap_err();
        assert_eq!(error("", "", ""), "Enter the expiry date");
        assert_eq!(error("1", "", "2026"), "Expiry date must include a month");
        assert_eq!(
            error("", "", "2026"),
            "Expiry date must include a day and month"
        );
        assert_eq!(error("31", "2", "2026"), "Expiry date must be a real date");
        assert_eq!(error("1", "13", "2026"), "Expiry date must be a real date");
        assert_eq!(error("x", "1", "2026"), "Expiry date must be a real date");
        assert_eq!(error("1", "1", "26"), "Year must include 4 numbers");
        assert_eq!(error("1", "1", "-999"), "Year must include 4 numbers");
    }

    #[test]
    fn an_expiry_date_lasts_to_the_end_of_its_day() {
        let end = end_of_day(date!(2026 - 12 - 31));
        assert_eq!(end, datetime!(2027-01-01 00:00 UTC));
        assert_eq!(last_day(end), date!(2026 - 12 - 31));
        assert_eq!(
            last_day(datetime!(2026-09-03 14:30 UTC)),
            date!(2026 - 09 - 03)
        );
        assert_eq!(long_date(date!(2026 - 09 - 03)), "3 September 2026");
    }

    /// Issue 15, item 6: a time reaches a person only through
    /// `domain::uk_time`. No page, template or email formats one itself — no
    /// format description, no hour field, no "UTC" said to a reader.
    #[test]
    fn no_page_template_or_email_formats_a_time_by_itself() {
        fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    files(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut all = Vec::new();
        for dir in ["src/pages", "templates", "../app/src"] {
            files(&root.join(dir), &mut all);
        }
        assert!(all.len() > 50, "{} files", all.len());
        let own = std::path::Path::new(file!()).file_name().unwrap();
        let mut found = Vec::new();
        for path in all.iter().filter(|p| p.file_name() != Some(own)) {
            let text = std::fs::read_to_string(path).unwrap();
            for (n, line) in text.lines().enumerate() {
                if ["format_description!", "[hour", "(UTC)", " UTC\"", "%H:%M"]
                    .iter()
                    .any(|bad| line.contains(bad))
                {
                    found.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "times formatted outside domain::uk_time:\n{}",
            found.join("\n")
        );
    }
}
