//! Checks on a data return (PRODUCT §6 "Checks and sign-off", API.md
//! "Data-return checks and sign-off"): the column rules a collection window
//! may carry, and what a CSV upload's check finds against them.
//!
//! A missing required column or a value of the wrong type is an error (it
//! blocks submission); a value above `warn_above` is a warning (it needs an
//! explanation at submission).

use serde::{Deserialize, Serialize};

/// The type of a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Text,
    Integer,
    Number,
    /// A UK Provider Reference Number: eight digits starting with 1.
    Ukprn,
    /// A day, written `YYYY-MM-DD`.
    Date,
}

impl ColumnType {
    pub const ALL: [ColumnType; 5] = [
        ColumnType::Text,
        ColumnType::Integer,
        ColumnType::Number,
        ColumnType::Ukprn,
        ColumnType::Date,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Ukprn => "ukprn",
            Self::Date => "date",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Text => "Text",
            Self::Integer => "Whole number",
            Self::Number => "Number",
            Self::Ukprn => "UKPRN",
            Self::Date => "Date (YYYY-MM-DD)",
        }
    }

    /// Whether `min`, `max` and `warn_above` apply (numbers only).
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Integer | Self::Number)
    }
}

/// One column's rule, as the regulator sets it on a window and as the API
/// carries it (`{"name", "type", "required", "min"?, "max"?, "allowed"?, "warn_above"?}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnRule {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_above: Option<f64>,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Blocks submission.
    Error,
    /// Needs an explanation at submission.
    Warning,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "error" => Some(Self::Error),
            "warning" => Some(Self::Warning),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

/// One thing a check found: where (the row as a spreadsheet numbers it, the
/// header being row 1; `None` for the file as a whole) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The rule broken, the same words for every finding of it (the report
    /// groups by it), like "students: not a whole number".
    pub rule: String,
    pub row: Option<u64>,
    pub column: String,
    pub message: String,
}

/// How often one rule was broken in a file, and where first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCount {
    pub severity: Severity,
    pub rule: String,
    pub column: String,
    pub count: u64,
    pub first_row: Option<u64>,
}

/// A file's check: its size in data rows, the counts, each rule's count, and
/// the first findings (at most [`FINDINGS_KEPT`]; the counts are exact).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub data_rows: u64,
    pub errors: u64,
    pub warnings: u64,
    pub rules: Vec<RuleCount>,
    pub findings: Vec<Finding>,
}

/// How many findings a file's report keeps to show (the counts and the
/// per-rule counts are exact; the downloadable report checks the file again
/// and lists every finding).
pub const FINDINGS_KEPT: usize = 1000;

// ---------------------------------------------------------------------------
// A regulator's rule set
// ---------------------------------------------------------------------------

/// The most columns one window's rules may describe.
pub const MAX_RULES: usize = 100;
/// The longest column name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The most allowed values one column may list.
pub const MAX_ALLOWED: usize = 200;
/// The longest allowed value, in characters.
pub const MAX_ALLOWED_CHARS: usize = 100;

/// Something wrong with one column's rule: `index` is the rule's position
/// (from 0) in what was given — the form's row for [`parse_rule_rows`],
/// blank rows included — and `field` the part at fault ("name", "type",
/// "min", "max", "allowed", "warn_above"). The message is a sentence naming
/// the column, for the regulator's officer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub index: usize,
    pub field: &'static str,
    pub message: String,
}

/// Checks a rule set as the API carries it: at most [`MAX_RULES`] columns;
/// each name 1–64 characters (trimmed), without control characters, unique
/// whatever its case; `min`, `max` and `warn_above` only on numbers, finite,
/// `min <= max` and `warn_above` between them; allowed values only on text,
/// at most [`MAX_ALLOWED`], each 1–100 characters, none twice.
pub fn validate_rules(rules: &[ColumnRule]) -> Result<(), Vec<RuleProblem>> {
    let problems = rule_problems(rules.iter().enumerate());
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// How a column is named in a problem: "Column 3 (students)".
fn column_label(index: usize, name: &str) -> String {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        format!("Column {}", index + 1)
    } else {
        format!("Column {} ({name})", index + 1)
    }
}

/// The one set of checks behind [`validate_rules`] and [`parse_rule_rows`]:
/// `(position, rule)` pairs, the position being what messages count from.
fn rule_problems<'a>(rules: impl Iterator<Item = (usize, &'a ColumnRule)>) -> Vec<RuleProblem> {
    let mut problems = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut count = 0;
    for (index, rule) in rules {
        count += 1;
        if count == MAX_RULES + 1 {
            problems.push(RuleProblem {
                index,
                field: "name",
                message: format!(
                    "{}: a window can have at most {MAX_RULES} column rules",
                    column_label(index, &rule.name)
                ),
            });
        }
        let label = column_label(index, &rule.name);
        let mut problem = |field: &'static str, what: String| {
            problems.push(RuleProblem {
                index,
                field,
                message: format!("{label}: {what}"),
            })
        };
        let name = rule.name.trim();
        let chars = name.chars().count();
        if name.is_empty() {
            problem("name", "enter the column name".into());
        } else if chars > MAX_NAME_CHARS {
            problem(
                "name",
                format!("the column name must be {MAX_NAME_CHARS} characters or fewer"),
            );
        } else if name.chars().any(char::is_control) {
            problem(
                "name",
                "the column name must not contain tabs, line breaks or other control characters"
                    .into(),
            );
        } else if let Some(first) = seen.get(&name.to_lowercase()) {
            problem(
                "name",
                format!(
                    "the column name is the same as column {}'s: each column needs its own rule",
                    first + 1
                ),
            );
        } else {
            seen.insert(name.to_lowercase(), index);
        }
        let numeric = rule.kind.is_numeric();
        for (field, value, what) in [
            ("min", rule.min, "minimum"),
            ("max", rule.max, "maximum"),
            ("warn_above", rule.warn_above, "warning level"),
        ] {
            let Some(v) = value else { continue };
            if !numeric {
                problem(
                    field,
                    format!(
                        "a {what} applies only to whole numbers and numbers, not to {}",
                        rule.kind.label().to_lowercase()
                    ),
                );
            } else if !v.is_finite() {
                problem(field, format!("the {what} must be a number"));
            }
        }
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite() && numeric);
        let (min, max, warn) = (finite(rule.min), finite(rule.max), finite(rule.warn_above));
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            problem("min", "the minimum must not be above the maximum".into());
        }
        if let Some(warn) = warn {
            if min.is_some_and(|min| warn < min) {
                problem(
                    "warn_above",
                    "the warning level must not be below the minimum".into(),
                );
            }
            if max.is_some_and(|max| warn > max) {
                problem(
                    "warn_above",
                    "the warning level must not be above the maximum".into(),
                );
            }
        }
        if !rule.allowed.is_empty() {
            if rule.kind != ColumnType::Text {
                problem(
                    "allowed",
                    format!(
                        "allowed values apply only to text, not to {}",
                        rule.kind.label().to_lowercase()
                    ),
                );
            } else if rule.allowed.len() > MAX_ALLOWED {
                problem(
                    "allowed",
                    format!("a column can have at most {MAX_ALLOWED} allowed values"),
                );
            } else {
                let mut values = std::collections::HashSet::new();
                for value in &rule.allowed {
                    let v = value.trim();
                    if v.is_empty() {
                        problem("allowed", "an allowed value is empty".into());
                        break;
                    }
                    if v.chars().count() > MAX_ALLOWED_CHARS {
                        problem(
                            "allowed",
                            format!(
                                "each allowed value must be {MAX_ALLOWED_CHARS} characters or fewer"
                            ),
                        );
                        break;
                    }
                    if !values.insert(v) {
                        problem(
                            "allowed",
                            format!("the allowed value \"{v}\" is listed twice"),
                        );
                        break;
                    }
                }
            }
        }
    }
    problems
}

/// One row of the window form's column rules, as typed: `allowed` holds one
/// value per line, or values separated by commas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRow {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub min: String,
    #[serde(default)]
    pub max: String,
    #[serde(default)]
    pub allowed: String,
    #[serde(default)]
    pub warn_above: String,
}

impl RuleRow {
    /// Nothing typed or ticked: the form's spare rows.
    pub fn is_blank(&self) -> bool {
        self.name.trim().is_empty()
            && self.kind.trim().is_empty()
            && !self.required
            && self.min.trim().is_empty()
            && self.max.trim().is_empty()
            && self.allowed.trim().is_empty()
            && self.warn_above.trim().is_empty()
    }

    /// The form's row for a rule (to show a window's rules for changing).
    pub fn from_rule(rule: &ColumnRule) -> Self {
        let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        Self {
            name: rule.name.clone(),
            kind: rule.kind.as_str().to_owned(),
            required: rule.required,
            min: number(rule.min),
            max: number(rule.max),
            allowed: rule.allowed.join("\n"),
            warn_above: number(rule.warn_above),
        }
    }
}

/// The rules typed in the window form. Blank rows are skipped; a row with
/// anything in it needs a name and a type, and its numbers must be numbers;
/// then the rules are checked as [`validate_rules`] checks them. Problems
/// count rows from 1, blank rows included, as the form shows them.
pub fn parse_rule_rows(rows: &[RuleRow]) -> Result<Vec<ColumnRule>, Vec<RuleProblem>> {
    let mut problems = Vec::new();
    let mut rules: Vec<(usize, ColumnRule)> = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        if row.is_blank() {
            continue;
        }
        let label = column_label(index, &row.name);
        let mut problem = |field: &'static str, what: String| {
            problems.push(RuleProblem {
                index,
                field,
                message: format!("{label}: {what}"),
            })
        };
        let kind = if row.kind.trim().is_empty() {
            problem("type", "choose the type of the column's values".into());
            None
        } else {
            let kind = ColumnType::parse(&row.kind);
            if kind.is_none() {
                problem(
                    "type",
                    "choose one of the listed types for the column's values".into(),
                );
            }
            kind
        };
        let mut number = |field: &'static str, what: &str, text: &str| {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            let parsed = parse_number(text.as_bytes());
            if parsed.is_none() {
                problem(
                    field,
                    format!(
                        "the {what} must be a number, like 100 or 12.5, not \"{}\"",
                        shown(text)
                    ),
                );
            }
            parsed
        };
        let min = number("min", "minimum", &row.min);
        let max = number("max", "maximum", &row.max);
        let warn_above = number("warn_above", "warning level", &row.warn_above);
        let allowed = split_allowed(&row.allowed);
        if let Some(kind) = kind {
            rules.push((
                index,
                ColumnRule {
                    name: row.name.trim().to_owned(),
                    kind,
                    required: row.required,
                    min,
                    max,
                    allowed,
                    warn_above,
                },
            ));
        } else if row.name.trim().is_empty() {
            problems.push(RuleProblem {
                index,
                field: "name",
                message: format!("{}: enter the column name", column_label(index, "")),
            });
        }
    }
    problems.extend(rule_problems(rules.iter().map(|(i, r)| (*i, r))));
    if problems.is_empty() {
        Ok(rules.into_iter().map(|(_, r)| r).collect())
    } else {
        problems.sort_by_key(|p| p.index);
        Err(problems)
    }
}

/// Allowed values as typed: one a line if there are several lines, otherwise
/// separated by commas; blanks dropped.
fn split_allowed(text: &str) -> Vec<String> {
    let parts: Vec<&str> = if text.contains('\n') {
        text.lines().collect()
    } else {
        text.split(',').collect()
    };
    parts
        .into_iter()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A value as a message shows it: at most 40 characters.
fn shown(value: &str) -> String {
    const MAX: usize = 40;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// An optional sign and digits.
fn parse_integer(v: &[u8]) -> Option<f64> {
    let digits = match v.first() {
        Some(b'+' | b'-') => &v[1..],
        _ => v,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Up to 18 digits are exact as an i64; longer ones are compared as f64.
    if digits.len() <= 18 {
        let mut n: i64 = 0;
        for d in digits {
            n = n * 10 + i64::from(d - b'0');
        }
        return Some(if v[0] == b'-' { -(n as f64) } else { n as f64 });
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// A decimal number: `[sign] digits [. digits] [e [sign] digits]` (or
/// `.5`), finite. Words Rust would take ("inf", "NaN") are not numbers here.
fn parse_number(v: &[u8]) -> Option<f64> {
    let mut i = 0;
    if matches!(v.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while v.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if v.get(i) == Some(&b'.') {
        i += 1;
        let frac = i;
        while v.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        digits += i - frac;
    }
    if digits == 0 {
        return None;
    }
    if matches!(v.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(v.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = i;
        while v.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp {
            return None;
        }
    }
    if i != v.len() {
        return None;
    }
    let n: f64 = std::str::from_utf8(v).ok()?.parse().ok()?;
    n.is_finite().then_some(n)
}

/// Eight digits starting with 1.
fn is_ukprn(v: &[u8]) -> bool {
    v.len() == 8 && v[0] == b'1' && v.iter().all(u8::is_ascii_digit)
}

/// A real calendar day written `YYYY-MM-DD`.
fn is_date(v: &[u8]) -> bool {
    if v.len() != 10 || v[4] != b'-' || v[7] != b'-' {
        return false;
    }
    let num = |s: &[u8]| -> Option<u16> {
        s.iter().try_fold(0u16, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u16::from(d - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day)) = (num(&v[..4]), num(&v[5..7]), num(&v[8..])) else {
        return false;
    };
    let Ok(month) = time::Month::try_from(month as u8) else {
        return false;
    };
    time::Date::from_calendar_date(i32::from(year), month, day as u8).is_ok()
}

// ---------------------------------------------------------------------------
// The streaming check
// ---------------------------------------------------------------------------

/// The longest value checked, in bytes: a longer one is reported once and
/// the rest of it skipped (the checker's memory does not depend on the file).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// The most columns of a file that are checked: fields past them are counted
/// (for the row-width check) but not kept.
pub const MAX_COLUMNS: usize = 1000;
/// How much of a header name is kept to find duplicates (longer names keep a
/// hash of the rest).
const HEADER_KEY_BYTES: usize = 256;
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// A rule made ready for checking.
struct Prepared {
    rule: ColumnRule,
    /// The name as the file's header must say it, trimmed and lower case.
    key: String,
}

/// One column of the file, as its header named it.
struct Col {
    /// The rule's name if a rule names it, otherwise the header's.
    name: String,
    rule: Option<usize>,
    /// The column is named `ukprn`: its values must be the provider's.
    ukprn: bool,
}

/// Counts, per-rule counts and the first findings, as findings arrive.
struct Tally {
    report: Report,
    by_rule: std::collections::HashMap<String, usize>,
}

impl Tally {
    fn add(&mut self, finding: Finding, each: &mut dyn FnMut(&Finding)) {
        each(&finding);
        match finding.severity {
            Severity::Error => self.report.errors += 1,
            Severity::Warning => self.report.warnings += 1,
        }
        match self.by_rule.get(&finding.rule) {
            Some(&i) => self.report.rules[i].count += 1,
            None => {
                self.by_rule
                    .insert(finding.rule.clone(), self.report.rules.len());
                self.report.rules.push(RuleCount {
                    severity: finding.severity,
                    rule: finding.rule.clone(),
                    column: finding.column.clone(),
                    count: 1,
                    first_row: finding.row,
                });
            }
        }
        if self.report.findings.len() < FINDINGS_KEPT {
            self.report.findings.push(finding);
        }
    }
}

fn finding(
    severity: Severity,
    rule: String,
    row: Option<u64>,
    column: &str,
    message: String,
) -> Finding {
    Finding {
        severity,
        rule,
        row,
        column: column.to_owned(),
        message,
    }
}

/// Checks a CSV file against a window's column rules as it streams past, a
/// chunk at a time (chunks may split anywhere), in memory that does not grow
/// with the file: a fixed field buffer, the header's columns (at most
/// [`MAX_COLUMNS`]) and the first [`FINDINGS_KEPT`] findings.
///
/// Rows are numbered as a spreadsheet numbers them: the header is row 1 (or
/// later, after blank lines), a quoted value spanning lines is one row, and
/// blank lines (or rows of empty values) are skipped but still counted. A
/// missing required column is reported at the header's row (`None` if the
/// file has no header at all). With no rules the checker finds nothing but
/// still counts the rows.
pub struct Checker {
    rules: Vec<Prepared>,
    provider_ukprn: Option<String>,
    reader: csv_core::Reader,
    /// The field being read; one byte more than [`MAX_FIELD_BYTES`] so that
    /// a field of exactly that size is not taken for a longer one.
    field: Box<[u8]>,
    len: usize,
    /// The field being read is longer than [`MAX_FIELD_BYTES`].
    overflow: bool,
    /// The first bytes, held until it is clear whether they are a BOM.
    head: [u8; 3],
    head_len: usize,
    head_done: bool,
    /// Between records: line ends are skipped (and blank lines counted) here.
    at_boundary: bool,
    /// The last line ended with `\r`: a `\n` now belongs to it.
    after_cr: bool,
    /// The spreadsheet row of the record being read.
    row: u64,
    /// The header's columns, once read.
    cols: Option<Vec<Col>>,
    /// How many fields the header has (all of them, not only those kept).
    header_fields: u64,
    /// The header being read: each name's key and its words as shown (at
    /// most [`MAX_COLUMNS`]).
    header: Vec<(String, String)>,
    /// The field's position in the record being read.
    at: u64,
    /// The record being read has a value somewhere.
    has_value: bool,
    /// Required columns found empty in this record before any value: they
    /// are findings only if the row turns out not to be blank.
    pending_empty: Vec<usize>,
    tally: Tally,
}

impl Checker {
    pub fn new(rules: &[ColumnRule], provider_ukprn: Option<&str>) -> Checker {
        let mut reader = csv_core::ReaderBuilder::new();
        reader.terminator(csv_core::Terminator::CRLF);
        Checker {
            rules: rules
                .iter()
                .map(|r| Prepared {
                    rule: ColumnRule {
                        name: r.name.trim().to_owned(),
                        allowed: r.allowed.iter().map(|v| v.trim().to_owned()).collect(),
                        ..r.clone()
                    },
                    key: r.name.trim().to_lowercase(),
                })
                .collect(),
            provider_ukprn: provider_ukprn.map(|u| u.trim().to_owned()),
            reader: reader.build(),
            field: vec![0u8; MAX_FIELD_BYTES + 1].into_boxed_slice(),
            len: 0,
            overflow: false,
            head: [0; 3],
            head_len: 0,
            head_done: false,
            at_boundary: true,
            after_cr: false,
            row: 1,
            cols: None,
            header_fields: 0,
            header: Vec::new(),
            at: 0,
            has_value: false,
            pending_empty: Vec::new(),
            tally: Tally {
                report: Report::default(),
                by_rule: std::collections::HashMap::new(),
            },
        }
    }

    /// Whether there is anything to find (no rules: only rows are counted).
    fn active(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Reads the next chunk of the file; `each` is called for every finding
    /// in it, in file order.
    pub fn feed(&mut self, chunk: &[u8], each: &mut dyn FnMut(&Finding)) {
        let mut chunk = chunk;
        if !self.head_done {
            let take = (3 - self.head_len).min(chunk.len());
            self.head[self.head_len..self.head_len + take].copy_from_slice(&chunk[..take]);
            self.head_len += take;
            chunk = &chunk[take..];
            if self.head_len < 3 {
                return;
            }
            self.head_done = true;
            if &self.head != BOM {
                let head = self.head;
                self.read(&head, each);
            }
        }
        self.read(chunk, each);
    }

    /// Ends the file: its last row is checked, and the report made.
    pub fn finish(mut self, each: &mut dyn FnMut(&Finding)) -> Report {
        if !self.head_done {
            self.head_done = true;
            let (head, n) = (self.head, self.head_len);
            self.read(&head[..n], each);
        }
        // An empty input tells csv_core the file has ended.
        loop {
            let (res, _, nout) = self.reader.read_field(&[], &mut self.field[self.len..]);
            self.len += nout;
            match res {
                csv_core::ReadFieldResult::Field { record_end } => self.end_field(record_end, each),
                csv_core::ReadFieldResult::OutputFull => {
                    self.overflow = true;
                    self.len = 0;
                }
                csv_core::ReadFieldResult::InputEmpty | csv_core::ReadFieldResult::End => break,
            }
        }
        if self.cols.is_none() {
            // No header at all: every required column is missing.
            self.header_read(None, each);
        }
        self.tally.report
    }

    fn read(&mut self, mut input: &[u8], each: &mut dyn FnMut(&Finding)) {
        loop {
            if self.at_boundary {
                input = self.skip_line_ends(input);
            }
            if input.is_empty() {
                return;
            }
            let (res, nin, nout) = self.reader.read_field(input, &mut self.field[self.len..]);
            let ended_with_cr = nin > 0 && input[nin - 1] == b'\r';
            input = &input[nin..];
            self.len += nout;
            match res {
                csv_core::ReadFieldResult::InputEmpty => {}
                csv_core::ReadFieldResult::OutputFull => {
                    // Past the limit: the rest of the field is read over
                    // the same buffer and forgotten.
                    self.overflow = true;
                    self.len = 0;
                }
                csv_core::ReadFieldResult::Field { record_end } => {
                    self.end_field(record_end, each);
                    if record_end {
                        self.after_cr = ended_with_cr;
                    }
                }
                csv_core::ReadFieldResult::End => return,
            }
        }
    }

    /// Skips the line ends between records, counting the blank lines among them.
    fn skip_line_ends<'a>(&mut self, input: &'a [u8]) -> &'a [u8] {
        for (i, &b) in input.iter().enumerate() {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' => self.row += 1,
                b'\r' => {
                    self.row += 1;
                    self.after_cr = true;
                }
                _ => {
                    self.at_boundary = false;
                    self.after_cr = false;
                    return &input[i..];
                }
            }
        }
        &[]
    }

    /// A field has been read into the buffer.
    fn end_field(&mut self, record_end: bool, each: &mut dyn FnMut(&Finding)) {
        let at = self.at;
        self.at = self.at.saturating_add(1);
        let overflow = std::mem::replace(&mut self.overflow, false);
        let len = std::mem::replace(&mut self.len, 0);
        let value = self.field[..len].trim_ascii();
        if self.cols.is_none() {
            if at < MAX_COLUMNS as u64 {
                let key = header_key(value, overflow, at);
                let name = if overflow {
                    format!("Column {}", at + 1)
                } else {
                    shown(&String::from_utf8_lossy(value))
                };
                self.header.push((key, name));
            }
            self.has_value |= overflow || !value.is_empty();
        } else if self.active() {
            self.data_field(at, overflow, len, each);
        } else {
            self.has_value |= overflow || !value.is_empty();
        }
        if record_end {
            self.end_record(at + 1, each);
        }
    }

    /// A data row's field, checked against its column's rule.
    fn data_field(&mut self, at: u64, overflow: bool, len: usize, each: &mut dyn FnMut(&Finding)) {
        let row = Some(self.row);
        let field = std::mem::take(&mut self.field);
        let value = field[..len].trim_ascii();
        let cols = self.cols.as_deref().unwrap_or_default();
        let col = cols.get(at as usize);
        if !overflow && value.is_empty() {
            if let Some(c) = col
                .and_then(|c| c.rule)
                .filter(|&r| self.rules[r].rule.required)
            {
                if self.has_value {
                    self.tally
                        .add(empty_finding(&self.rules[c].rule.name, row), each);
                } else {
                    self.pending_empty.push(c);
                }
            }
            self.field = field;
            return;
        }
        if !self.has_value {
            self.has_value = true;
            for &c in &self.pending_empty {
                self.tally
                    .add(empty_finding(&self.rules[c].rule.name, row), each);
            }
            self.pending_empty.clear();
        }
        if let Some(col) = col {
            if overflow {
                self.tally.add(
                    finding(
                        Severity::Error,
                        format!("{}: value too long", col.name),
                        row,
                        &col.name,
                        format!(
                            "A value in {} is longer than {} KB: it cannot be checked",
                            col.name,
                            MAX_FIELD_BYTES / 1024
                        ),
                    ),
                    each,
                );
            } else {
                let mut typed = true;
                if let Some(r) = col.rule {
                    typed = check_value(&self.rules[r].rule, value, row, &mut self.tally, each);
                }
                if typed
                    && col.ukprn
                    && let Some(own) = &self.provider_ukprn
                    && value != own.as_bytes()
                {
                    let v = String::from_utf8_lossy(value);
                    self.tally.add(
                        finding(
                            Severity::Error,
                            format!("{}: not this provider's UKPRN", col.name),
                            row,
                            &col.name,
                            format!(
                                "{} is \"{}\", which does not match this provider's UKPRN {own}",
                                col.name,
                                shown(&v)
                            ),
                        ),
                        each,
                    );
                }
            }
        }
        self.field = field;
    }

    /// A record has ended after `fields` fields.
    fn end_record(&mut self, fields: u64, each: &mut dyn FnMut(&Finding)) {
        let row = self.row;
        let has_value = std::mem::replace(&mut self.has_value, false);
        self.pending_empty.clear();
        self.at = 0;
        self.row += 1;
        self.at_boundary = true;
        if self.cols.is_none() {
            if has_value {
                self.header_fields = fields;
                self.header_read(Some(row), each);
            } else {
                self.header.clear();
            }
            return;
        }
        if !has_value {
            return;
        }
        self.tally.report.data_rows += 1;
        if self.active() && fields != self.header_fields {
            self.tally.add(
                finding(
                    Severity::Error,
                    "Rows with a different number of values than the header".into(),
                    Some(row),
                    "",
                    format!(
                        "This row has {fields} values but the header row has {}",
                        self.header_fields
                    ),
                ),
                each,
            );
        }
    }

    /// The header row has been read (`row` is `None`: the file has none).
    fn header_read(&mut self, row: Option<u64>, each: &mut dyn FnMut(&Finding)) {
        let names = std::mem::take(&mut self.header);
        let mut cols = Vec::with_capacity(names.len());
        let mut seen = std::collections::HashSet::new();
        let mut used = vec![false; self.rules.len()];
        let active = self.active();
        for (key, shown_name) in names {
            let rule = self.rules.iter().position(|r| r.key == key);
            let shown_name = shown_name.as_str();
            if active && !key.is_empty() && !seen.insert(key.clone()) {
                self.tally.add(
                    finding(
                        Severity::Error,
                        format!("{shown_name}: column appears twice"),
                        row,
                        shown_name,
                        format!("The header row names the column \"{shown_name}\" more than once"),
                    ),
                    each,
                );
                cols.push(Col {
                    name: shown_name.to_owned(),
                    rule: None,
                    ukprn: false,
                });
                continue;
            }
            if let Some(r) = rule {
                used[r] = true;
            }
            cols.push(Col {
                name: match rule {
                    Some(r) => self.rules[r].rule.name.clone(),
                    None => shown_name.to_owned(),
                },
                rule,
                ukprn: key == "ukprn",
            });
        }
        if active && self.header_fields > MAX_COLUMNS as u64 {
            self.tally.add(
                finding(
                    Severity::Error,
                    "Too many columns".into(),
                    row,
                    "",
                    format!(
                        "The header row has {} columns: only the first {MAX_COLUMNS} are checked",
                        self.header_fields
                    ),
                ),
                each,
            );
        }
        for (r, rule) in self.rules.iter().enumerate() {
            if rule.rule.required && !used[r] {
                self.tally.add(
                    finding(
                        Severity::Error,
                        format!("{}: required column missing", rule.rule.name),
                        row,
                        &rule.rule.name,
                        format!(
                            "The file has no column named \"{}\", which is required",
                            rule.rule.name
                        ),
                    ),
                    each,
                );
            }
        }
        self.cols = Some(cols);
    }
}

/// What a header name is compared by: trimmed, lower case. A name too long
/// to keep is its start and a hash of the whole (marked by a leading NUL, which
/// no rule's name has); a field past [`MAX_FIELD_BYTES`] is unique.
fn header_key(value: &[u8], overflow: bool, at: u64) -> String {
    if overflow {
        return format!("\u{0}column {} (too long)", at + 1);
    }
    let text = String::from_utf8_lossy(value).to_lowercase();
    if text.len() <= HEADER_KEY_BYTES {
        return text;
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let mut cut = HEADER_KEY_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("\u{0}{}…#{:016x}", &text[..cut], hasher.finish())
}

fn empty_finding(name: &str, row: Option<u64>) -> Finding {
    finding(
        Severity::Error,
        format!("{name}: value missing"),
        row,
        name,
        format!("{name} is required but is empty"),
    )
}

/// Checks one non-empty value against its rule; false if it is not of the
/// rule's type (nothing more is said about it then).
fn check_value(
    rule: &ColumnRule,
    value: &[u8],
    row: Option<u64>,
    tally: &mut Tally,
    each: &mut dyn FnMut(&Finding),
) -> bool {
    let name = &rule.name;
    let text = || String::from_utf8_lossy(value);
    let wrong = |what: &str, expected: &str| {
        finding(
            Severity::Error,
            format!("{name}: not {what}"),
            row,
            name,
            format!("{name} must be {expected}, not \"{}\"", shown(&text())),
        )
    };
    let number = match rule.kind {
        ColumnType::Text => {
            if !rule.allowed.is_empty() && !rule.allowed.iter().any(|a| a.as_bytes() == value) {
                let mut list: Vec<&str> =
                    rule.allowed.iter().take(10).map(String::as_str).collect();
                if rule.allowed.len() > 10 {
                    list.push("…");
                }
                tally.add(
                    finding(
                        Severity::Error,
                        format!("{name}: not an allowed value"),
                        row,
                        name,
                        format!(
                            "{name} is \"{}\", which is not one of the allowed values ({})",
                            shown(&text()),
                            list.join(", ")
                        ),
                    ),
                    each,
                );
            }
            return true;
        }
        ColumnType::Ukprn => {
            if is_ukprn(value) {
                return true;
            }
            tally.add(
                wrong(
                    "a UKPRN",
                    "a UKPRN (8 digits starting with 1, like 10007788)",
                ),
                each,
            );
            return false;
        }
        ColumnType::Date => {
            if is_date(value) {
                return true;
            }
            tally.add(
                wrong("a date", "a real date written YYYY-MM-DD, like 2026-07-31"),
                each,
            );
            return false;
        }
        ColumnType::Integer => match parse_integer(value) {
            Some(n) => n,
            None => {
                tally.add(wrong("a whole number", "a whole number, like 42"), each);
                return false;
            }
        },
        ColumnType::Number => match parse_number(value) {
            Some(n) => n,
            None => {
                tally.add(wrong("a number", "a number, like 12.5"), each);
                return false;
            }
        },
    };
    let limit = |severity, rule_text: String, message: String| {
        finding(severity, rule_text, row, name, message)
    };
    if let Some(min) = rule.min
        && number < min
    {
        tally.add(
            limit(
                Severity::Error,
                format!("{name}: below the minimum {min}"),
                format!("{name} is {}, below the minimum of {min}", shown(&text())),
            ),
            each,
        );
    } else if let Some(max) = rule.max
        && number > max
    {
        tally.add(
            limit(
                Severity::Error,
                format!("{name}: above the maximum {max}"),
                format!("{name} is {}, above the maximum of {max}", shown(&text())),
            ),
            each,
        );
    } else if let Some(warn) = rule.warn_above
        && number > warn
    {
        tally.add(
            limit(
                Severity::Warning,
                format!("{name}: above {warn}"),
                format!(
                    "{name} is {}, above {warn}: explain this value when you submit the return",
                    shown(&text())
                ),
            ),
            each,
        );
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rule(name: &str, kind: ColumnType) -> ColumnRule {
        ColumnRule {
            name: name.into(),
            kind,
            required: false,
            min: None,
            max: None,
            allowed: Vec::new(),
            warn_above: None,
        }
    }

    fn required(name: &str, kind: ColumnType) -> ColumnRule {
        ColumnRule {
            required: true,
            ..rule(name, kind)
        }
    }

    /// The report, and every finding as `each` saw it, of `text` fed in chunks of `chunk`.
    fn check_in(
        rules: &[ColumnRule],
        ukprn: Option<&str>,
        text: &[u8],
        chunk: usize,
    ) -> (Report, Vec<Finding>) {
        let mut seen = Vec::new();
        let mut checker = Checker::new(rules, ukprn);
        for c in text.chunks(chunk.max(1)) {
            checker.feed(c, &mut |f| seen.push(f.clone()));
        }
        let report = checker.finish(&mut |f| seen.push(f.clone()));
        (report, seen)
    }

    fn check(rules: &[ColumnRule], text: &str) -> Report {
        check_in(rules, None, text.as_bytes(), usize::MAX).0
    }

    /// (row, rule) of each finding.
    fn found(report: &Report) -> Vec<(Option<u64>, String)> {
        report
            .findings
            .iter()
            .map(|f| (f.row, f.rule.clone()))
            .collect()
    }

    #[test]
    fn a_sound_rule_set_passes() {
        let rules = vec![
            required("ukprn", ColumnType::Ukprn),
            ColumnRule {
                min: Some(0.0),
                max: Some(100.0),
                warn_above: Some(100.0),
                ..required("students", ColumnType::Integer)
            },
            ColumnRule {
                allowed: vec!["FT".into(), "PT".into()],
                ..rule("mode", ColumnType::Text)
            },
            rule("census", ColumnType::Date),
        ];
        assert_eq!(validate_rules(&rules), Ok(()));
        assert_eq!(validate_rules(&[]), Ok(()));
    }

    #[test]
    fn each_broken_rule_is_named_with_its_column() {
        let problems = |rules: &[ColumnRule]| -> Vec<(usize, &'static str, String)> {
            validate_rules(rules)
                .unwrap_err()
                .into_iter()
                .map(|p| (p.index, p.field, p.message))
                .collect()
        };
        let p = problems(&[
            rule("a", ColumnType::Text),
            rule("b", ColumnType::Text),
            ColumnRule {
                min: Some(10.0),
                max: Some(5.0),
                ..rule("students", ColumnType::Integer)
            },
        ]);
        assert_eq!(
            p,
            vec![(
                2,
                "min",
                "Column 3 (students): the minimum must not be above the maximum".to_owned()
            )]
        );
        let p = problems(&[
            rule(" Students ", ColumnType::Integer),
            rule("STUDENTS", ColumnType::Number),
        ]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, 1);
        assert_eq!(p[0].1, "name");
        assert!(p[0].2.starts_with("Column 2 (STUDENTS): "), "{}", p[0].2);
        for bad in ["", "   ", "a\tb", &"x".repeat(65)] {
            let p = problems(&[rule(bad, ColumnType::Text)]);
            assert_eq!((p[0].0, p[0].1), (0, "name"), "{bad:?}");
            assert!(p[0].2.starts_with("Column 1: "), "{}", p[0].2);
        }
        assert_eq!(
            validate_rules(&[rule(&"é".repeat(64), ColumnType::Text)]),
            Ok(())
        );
        // Limits only on numbers, finite, and the warning level within them.
        let p = problems(&[ColumnRule {
            min: Some(1.0),
            warn_above: Some(2.0),
            ..rule("name", ColumnType::Text)
        }]);
        assert_eq!(
            p.iter().map(|p| p.1).collect::<Vec<_>>(),
            ["min", "warn_above"]
        );
        assert!(
            p[0].2.contains("only to whole numbers and numbers"),
            "{}",
            p[0].2
        );
        let p = problems(&[ColumnRule {
            max: Some(f64::INFINITY),
            ..rule("n", ColumnType::Number)
        }]);
        assert_eq!(p[0].1, "max");
        for (warn, why) in [(-1.0, "below the minimum"), (11.0, "above the maximum")] {
            let p = problems(&[ColumnRule {
                min: Some(0.0),
                max: Some(10.0),
                warn_above: Some(warn),
                ..rule("n", ColumnType::Integer)
            }]);
            assert_eq!(p[0].1, "warn_above");
            assert!(p[0].2.ends_with(why), "{}", p[0].2);
        }
        // Allowed values only on text: at most 200, each 1-100 characters, none twice.
        let allowed = |kind, values: Vec<String>| ColumnRule {
            allowed: values,
            ..rule("mode", kind)
        };
        let many = (0..201).map(|i| i.to_string()).collect();
        for bad in [
            allowed(ColumnType::Integer, vec!["1".into()]),
            allowed(ColumnType::Text, many),
            allowed(ColumnType::Text, vec!["FT".into(), " ".into()]),
            allowed(ColumnType::Text, vec!["x".repeat(101)]),
            allowed(ColumnType::Text, vec!["FT".into(), "FT ".into()]),
        ] {
            let p = problems(&[bad]);
            assert_eq!(p.len(), 1, "{p:?}");
            assert_eq!(p[0].1, "allowed");
            assert!(p[0].2.starts_with("Column 1 (mode): "), "{}", p[0].2);
        }
        let fine: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        assert_eq!(validate_rules(&[allowed(ColumnType::Text, fine)]), Ok(()));
        // At most 100 columns.
        let rules: Vec<ColumnRule> = (0..101)
            .map(|i| rule(&format!("c{i}"), ColumnType::Text))
            .collect();
        let p = problems(&rules);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, 100);
        assert_eq!(validate_rules(&rules[..100]), Ok(()));
    }

    fn row(name: &str, kind: &str) -> RuleRow {
        RuleRow {
            name: name.into(),
            kind: kind.into(),
            ..RuleRow::default()
        }
    }

    #[test]
    fn form_rows_become_rules_with_blank_rows_skipped() {
        let rows = vec![
            RuleRow {
                required: true,
                min: " 0 ".into(),
                max: "1e3".into(),
                warn_above: "500".into(),
                ..row(" students ", "integer")
            },
            RuleRow::default(),
            RuleRow {
                allowed: "FT\nPT, sandwich\n\n".into(),
                ..row("mode", "text")
            },
            RuleRow {
                allowed: "a, b ,c".into(),
                ..row("band", "text")
            },
            row("ukprn", "ukprn"),
        ];
        let rules = parse_rule_rows(&rows).unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(
            rules[0],
            ColumnRule {
                required: true,
                min: Some(0.0),
                max: Some(1000.0),
                warn_above: Some(500.0),
                ..rule("students", ColumnType::Integer)
            }
        );
        assert_eq!(rules[1].allowed, ["FT", "PT, sandwich"]);
        assert_eq!(rules[2].allowed, ["a", "b", "c"]);
        assert_eq!(rules[3].kind, ColumnType::Ukprn);
        // The form shows a window's rules back as rows that parse to the same.
        let back: Vec<RuleRow> = rules.iter().map(RuleRow::from_rule).collect();
        assert_eq!(parse_rule_rows(&back).unwrap(), rules);
        assert_eq!(
            parse_rule_rows(&[RuleRow::default(), RuleRow::default()]),
            Ok(vec![])
        );
    }

    #[test]
    fn form_rows_say_which_field_of_which_row_is_wrong() {
        let problems = |rows: &[RuleRow]| -> Vec<(usize, &'static str, String)> {
            parse_rule_rows(rows)
                .unwrap_err()
                .into_iter()
                .map(|p| (p.index, p.field, p.message))
                .collect()
        };
        let p = problems(&[
            RuleRow::default(),
            RuleRow {
                required: true,
                ..RuleRow::default()
            },
            row("students", ""),
            row("fte", "decimal"),
            RuleRow {
                min: "ten".into(),
                max: "inf".into(),
                warn_above: "1,000".into(),
                ..row("students", "integer")
            },
            RuleRow {
                min: "5".into(),
                ..row("name", "text")
            },
            RuleRow {
                min: "5".into(),
                max: "4".into(),
                ..row("STUDENTS", "number")
            },
        ]);
        let fields: Vec<(usize, &str)> = p.iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(
            fields,
            [
                (1, "type"),
                (1, "name"),
                (2, "type"),
                (3, "type"),
                (4, "min"),
                (4, "max"),
                (4, "warn_above"),
                (5, "min"),
                (6, "name"),
                (6, "min"),
            ]
        );
        assert_eq!(
            p[4].2,
            "Column 5 (students): the minimum must be a number, like 100 or 12.5, not \"ten\""
        );
        assert!(p[8].2.contains("same as column 5"), "{}", p[8].2);
        assert_eq!(
            p[9].2,
            "Column 7 (STUDENTS): the minimum must not be above the maximum"
        );
    }

    #[test]
    fn values_of_each_type() {
        for good in ["0", "42", "-7", "+3", "007", "123456789012345678901234"] {
            assert!(parse_integer(good.as_bytes()).is_some(), "{good}");
        }
        for bad in ["", "-", "1.0", "1e3", "1,000", " 1", "x"] {
            assert!(parse_integer(bad.as_bytes()).is_none(), "{bad}");
        }
        assert_eq!(parse_integer(b"-12"), Some(-12.0));
        for (good, n) in [
            ("-12.5", -12.5),
            ("1e3", 1000.0),
            ("1E-2", 0.01),
            (".5", 0.5),
            ("5.", 5.0),
            ("+4", 4.0),
        ] {
            assert_eq!(parse_number(good.as_bytes()), Some(n), "{good}");
        }
        for bad in [
            "", ".", "e3", "1e", "1e+", "inf", "NaN", "infinity", "1e999", "1.2.3", "1,5", "0x10",
            "- 1",
        ] {
            assert!(parse_number(bad.as_bytes()).is_none(), "{bad}");
        }
        assert!(is_ukprn(b"10007788"));
        for bad in ["20007788", "1000778", "100077888", "1000778x"] {
            assert!(!is_ukprn(bad.as_bytes()), "{bad}");
        }
        for good in ["2026-07-31", "2024-02-29", "2000-02-29", "1999-12-31"] {
            assert!(is_date(good.as_bytes()), "{good}");
        }
        for bad in [
            "2026-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "2026-7-31",
            "31/07/2026",
            "2026-07-31T00",
            "2026-07-00",
            "+026-07-31",
        ] {
            assert!(!is_date(bad.as_bytes()), "{bad}");
        }
    }

    fn heses_rules() -> Vec<ColumnRule> {
        vec![
            required("ukprn", ColumnType::Ukprn),
            ColumnRule {
                min: Some(0.0),
                max: Some(1000.0),
                warn_above: Some(900.0),
                ..required("Students", ColumnType::Integer)
            },
            ColumnRule {
                min: Some(-1.5),
                max: Some(1.5),
                ..rule("ratio", ColumnType::Number)
            },
            ColumnRule {
                allowed: vec!["FT".into(), " PT ".into()],
                ..rule("mode", ColumnType::Text)
            },
            rule("census", ColumnType::Date),
        ]
    }

    #[test]
    fn a_clean_file_has_no_findings_and_counts_its_rows() {
        let text = "\u{feff} UKPRN ,students,RATIO,mode,census,notes\r\n\
                    10007788,12,0.5,FT,2026-07-31,anything\r\n\
                    10007788, 900 ,-1.5, PT ,2024-02-29,\"quoted, with \"\"quotes\"\"\nand a line\"\r\n\
                    10007788,0,1.5,,,\r\n";
        let r = check(&heses_rules(), text);
        assert_eq!(r.findings, vec![]);
        assert_eq!((r.data_rows, r.errors, r.warnings), (3, 0, 0));
    }

    #[test]
    fn each_kind_of_finding_with_its_row_and_rule() {
        let text = "ukprn,students,ratio,mode,census\n\
                    1000778,12,0.5,FT,2026-07-31\n\
                    10007788,twelve,half,XX,2026-02-29\n\
                    \n\
                    10007788,,1e1,FT,2026-01-01\n\
                    10007788,-1,-2,FT,2026-01-01\n\
                    10007788,1001,1.5,FT,2026-01-01\n\
                    10007788,901,-1.5,FT,2026-01-01\n\
                    10007788,900,1,FT,2026-01-01\n\
                    10007788,0,1,FT,2026-01-01\n\
                    10007788,1000,1,FT\n\
                    10007788,1,1,FT,2026-01-01,extra\n\
                    10007788,12.0,0,PT,2026-01-01\n";
        let r = check(&heses_rules(), text);
        let rows = |rule: &str| -> Vec<u64> {
            r.findings
                .iter()
                .filter(|f| f.rule == rule)
                .map(|f| f.row.unwrap())
                .collect()
        };
        assert_eq!(rows("ukprn: not a UKPRN"), [2]);
        assert_eq!(rows("Students: not a whole number"), [3, 13]);
        assert_eq!(rows("ratio: not a number"), [3]);
        assert_eq!(rows("mode: not an allowed value"), [3]);
        assert_eq!(rows("census: not a date"), [3]);
        // Row 4 is blank: skipped, but counted.
        assert_eq!(rows("Students: value missing"), [5]);
        assert_eq!(rows("ratio: above the maximum 1.5"), [5]);
        assert_eq!(rows("Students: below the minimum 0"), [6]);
        assert_eq!(rows("ratio: below the minimum -1.5"), [6]);
        // Above the maximum is an error, not also a warning; exactly at a
        // limit is no finding.
        assert_eq!(rows("Students: above the maximum 1000"), [7]);
        assert_eq!(rows("Students: above 900"), [8, 11]);
        assert_eq!(
            rows("Rows with a different number of values than the header"),
            [11, 12]
        );
        assert_eq!(r.data_rows, 11);
        assert_eq!((r.errors, r.warnings), (13, 2));
        let warning = r
            .findings
            .iter()
            .find(|f| f.severity == Severity::Warning)
            .unwrap();
        assert_eq!(warning.column, "Students");
        assert_eq!(
            warning.message,
            "Students is 901, above 900: explain this value when you submit the return"
        );
        let typed = r.findings.iter().find(|f| f.row == Some(3)).unwrap();
        assert_eq!(
            typed.message,
            "Students must be a whole number, like 42, not \"twelve\""
        );
        assert_eq!(typed.column, "Students");
        let wide = r.findings.iter().find(|f| f.row == Some(12)).unwrap();
        assert_eq!(
            wide.message,
            "This row has 6 values but the header row has 5"
        );
        // Per-rule counts, in order of first appearance.
        let counts: Vec<(&str, u64, Option<u64>)> = r
            .rules
            .iter()
            .map(|c| (c.rule.as_str(), c.count, c.first_row))
            .collect();
        assert_eq!(counts[0], ("ukprn: not a UKPRN", 1, Some(2)));
        assert_eq!(counts[1], ("Students: not a whole number", 2, Some(3)));
        assert_eq!(r.rules.iter().map(|c| c.count).sum::<u64>(), 15);
    }

    #[test]
    fn a_missing_required_column_is_reported_once_at_the_header() {
        let r = check(&heses_rules(), "\n\nUKPRN,ratio\n10007788,1\n10007788,1\n");
        assert_eq!(
            found(&r),
            [(Some(3), "Students: required column missing".to_owned())]
        );
        assert_eq!(
            r.findings[0].message,
            "The file has no column named \"Students\", which is required"
        );
        assert_eq!(r.data_rows, 2);
        // A file with no header at all lacks them all, at no row.
        let r = check(&heses_rules(), "\r\n \r\n,,\n");
        assert_eq!(
            found(&r),
            [
                (None, "ukprn: required column missing".to_owned()),
                (None, "Students: required column missing".to_owned())
            ]
        );
        assert_eq!(r.data_rows, 0);
    }

    #[test]
    fn a_column_named_twice_is_an_error() {
        let r = check(
            &heses_rules(),
            "ukprn,students,Students ,x,x,,\n10007788,1,2,a,b,,\n",
        );
        assert_eq!(
            found(&r),
            [
                (
                    Some(1),
                    "Students : column appears twice".replace(" :", ":")
                ),
                (Some(1), "x: column appears twice".to_owned())
            ]
        );
    }

    #[test]
    fn the_provider_s_own_ukprn_must_be_in_its_ukprn_column() {
        let rules = [rule("students", ColumnType::Integer)];
        let text = b"students,UKPRN\n1,10000001\n2,10000002\n3,\n4,bad\n";
        let (r, _) = check_in(&rules, Some("10000001"), text, usize::MAX);
        assert_eq!(
            found(&r),
            [
                (Some(3), "UKPRN: not this provider's UKPRN".to_owned()),
                (Some(5), "UKPRN: not this provider's UKPRN".to_owned())
            ]
        );
        assert_eq!(
            r.findings[0].message,
            "UKPRN is \"10000002\", which does not match this provider's UKPRN 10000001"
        );
        // With a ukprn rule, a value that is no UKPRN is said so once.
        let rules = [rule("ukprn", ColumnType::Ukprn)];
        let (r, _) = check_in(&rules, Some("10000001"), text, usize::MAX);
        assert_eq!(
            found(&r),
            [
                (Some(3), "ukprn: not this provider's UKPRN".to_owned()),
                (Some(5), "ukprn: not a UKPRN".to_owned())
            ]
        );
        let (r, _) = check_in(&rules, None, text, usize::MAX);
        assert_eq!(found(&r), [(Some(5), "ukprn: not a UKPRN".to_owned())]);
    }

    #[test]
    fn no_rules_find_nothing_but_rows_are_counted() {
        let r = check(&[], "a,b\n1\n\n,\n1,2,3\n\"x\ny\",2\n");
        assert_eq!(
            r,
            Report {
                data_rows: 3,
                ..Report::default()
            }
        );
    }

    #[test]
    fn rows_are_numbered_as_a_spreadsheet_numbers_them() {
        let rules = [rule("n", ColumnType::Integer)];
        // LF, CRLF, CR, blank lines of each, a quoted value over two lines,
        // a row of empty values, and a last row without a line end.
        let text = "n,t\r\nx,a\n\nx,\"two\nlines\"\r\n\r\nx,b\r\rx,c\n,\n \t, \nx,d";
        let r = check(&rules, text);
        let rows: Vec<u64> = r.findings.iter().map(|f| f.row.unwrap()).collect();
        assert_eq!(rows, [2, 4, 6, 8, 11]);
        assert_eq!(r.data_rows, 5);
    }

    #[test]
    fn required_values_missing_from_a_row_are_findings_in_column_order() {
        let rules = [
            required("a", ColumnType::Text),
            required("b", ColumnType::Integer),
            required("c", ColumnType::Text),
        ];
        let (r, seen) = check_in(&rules, None, b"a,b,c\n,,x\n , ,\n,x,\n", usize::MAX);
        assert_eq!(
            found(&r),
            [
                (Some(2), "a: value missing".to_owned()),
                (Some(2), "b: value missing".to_owned()),
                (Some(4), "a: value missing".to_owned()),
                (Some(4), "b: not a whole number".to_owned()),
                (Some(4), "c: value missing".to_owned()),
            ]
        );
        assert_eq!(seen, r.findings);
        assert_eq!(r.data_rows, 2);
    }

    #[test]
    fn every_split_of_a_file_gives_the_same_findings() {
        let text = "\u{feff}ukprn,Students,mode,notes\r\n\
                    10007788,12,FT,\"Université \"\"Test\"\", €\r\nsecond line\"\r\n\
                    \r\n\
                    1000778,x,\"P\"\"T\",é\n\
                    10007788,901,PT,\"\"\"\"\r\n\
                    10007788,,FT\n";
        let rules = heses_rules();
        let (whole, whole_seen) = check_in(&rules, Some("10007788"), text.as_bytes(), usize::MAX);
        assert_eq!(whole.data_rows, 4);
        assert_eq!(
            found(&whole),
            [
                (Some(4), "ukprn: not a UKPRN".to_owned()),
                (Some(4), "Students: not a whole number".to_owned()),
                (Some(4), "mode: not an allowed value".to_owned()),
                (Some(5), "Students: above 900".to_owned()),
                (Some(6), "Students: value missing".to_owned()),
                (
                    Some(6),
                    "Rows with a different number of values than the header".to_owned()
                ),
            ]
        );
        assert_eq!(whole_seen, whole.findings);
        let bytes = text.as_bytes();
        for at in 0..=bytes.len() {
            let mut seen = Vec::new();
            let mut checker = Checker::new(&rules, Some("10007788"));
            checker.feed(&bytes[..at], &mut |f| seen.push(f.clone()));
            checker.feed(&bytes[at..], &mut |f| seen.push(f.clone()));
            let r = checker.finish(&mut |f| seen.push(f.clone()));
            assert_eq!(r, whole, "split at {at}");
            assert_eq!(seen, whole_seen, "split at {at}");
        }
        for chunk in [1, 2, 3, 5, 7] {
            let (r, seen) = check_in(&rules, Some("10007788"), bytes, chunk);
            assert_eq!(
                (r, seen),
                (whole.clone(), whole_seen.clone()),
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn the_report_keeps_the_first_findings_and_exact_counts() {
        let rules = [rule("n", ColumnType::Integer)];
        let mut text = String::from("n\n");
        for _ in 0..(FINDINGS_KEPT + 500) {
            text.push_str("x\n");
        }
        let (r, seen) = check_in(&rules, None, text.as_bytes(), 4096);
        assert_eq!(r.errors, (FINDINGS_KEPT + 500) as u64);
        assert_eq!(r.findings.len(), FINDINGS_KEPT);
        assert_eq!(seen.len(), FINDINGS_KEPT + 500);
        assert_eq!(seen.last().unwrap().row, Some((FINDINGS_KEPT + 501) as u64));
        assert_eq!(r.rules.len(), 1);
        assert_eq!(r.rules[0].count, (FINDINGS_KEPT + 500) as u64);
        assert_eq!(r.rules[0].first_row, Some(2));
    }

    /// The bytes the checker holds beside the report.
    fn held(c: &Checker) -> usize {
        c.field.len()
            + c.header.capacity()
            + c.pending_empty.capacity()
            + c.cols.as_ref().map_or(0, Vec::capacity)
    }

    #[test]
    fn memory_does_not_grow_with_a_huge_field_or_a_huge_row() {
        let rules = [
            required("a", ColumnType::Text),
            rule("b", ColumnType::Integer),
        ];
        let mut checker = Checker::new(&rules, None);
        let mut seen = Vec::new();
        checker.feed(b"a,b\nx,1\n", &mut |f| seen.push(f.clone()));
        let before = held(&checker);
        // A quoted value of 20 MB, in 64 KiB chunks (some with doubled quotes).
        checker.feed(b"\"", &mut |f| seen.push(f.clone()));
        let block = "ab\"\"".repeat(16 * 1024);
        for _ in 0..320 {
            checker.feed(block.as_bytes(), &mut |f| seen.push(f.clone()));
        }
        checker.feed(b"\",2\n", &mut |f| seen.push(f.clone()));
        assert_eq!(held(&checker), before, "a huge field");
        // A row of two million fields.
        let fields = ",".repeat(64 * 1024);
        checker.feed(b"y", &mut |f| seen.push(f.clone()));
        for _ in 0..32 {
            checker.feed(fields.as_bytes(), &mut |f| seen.push(f.clone()));
        }
        checker.feed(b"\n", &mut |f| seen.push(f.clone()));
        // A header-sized row of empty required values does not grow it either.
        checker.feed(b"x,1\n", &mut |f| seen.push(f.clone()));
        assert_eq!(held(&checker), before, "a huge row");
        let r = checker.finish(&mut |f| seen.push(f.clone()));
        assert_eq!(
            found(&r),
            [
                (Some(3), "a: value too long".to_owned()),
                (
                    Some(4),
                    "Rows with a different number of values than the header".to_owned()
                ),
            ]
        );
        assert_eq!(
            r.findings[1].message,
            "This row has 2097153 values but the header row has 2"
        );
        assert_eq!(r.data_rows, 4);
        // A huge header keeps only the first MAX_COLUMNS names.
        let mut header = "c,".repeat(50_000);
        header.push_str("a\n1\n");
        let mut checker = Checker::new(&rules, None);
        checker.feed(header.as_bytes(), &mut |_| {});
        assert!(checker.cols.as_ref().unwrap().len() == MAX_COLUMNS);
        let r = checker.finish(&mut |_| {});
        assert!(
            r.rules.iter().any(|c| c.rule == "Too many columns"),
            "{:?}",
            r.rules
        );
        assert!(
            r.rules
                .iter()
                .any(|c| c.rule == "a: required column missing")
        );
    }

    #[test]
    fn a_field_of_exactly_the_limit_is_checked() {
        let rules = [rule("a", ColumnType::Text)];
        let exact = format!(
            "a\n{}\n{}\n",
            "x".repeat(MAX_FIELD_BYTES),
            "x".repeat(MAX_FIELD_BYTES + 1)
        );
        let r = check(&rules, &exact);
        assert_eq!(found(&r), [(Some(3), "a: value too long".to_owned())]);
    }
}
