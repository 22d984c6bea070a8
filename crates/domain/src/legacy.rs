//! The old portal's user export (`portal import-legacy`, docs/legacy-import.md):
//! reading and checking it, and what each row means in the new portal's roles.
//!
//! Everything here is pure: the file comes in as bytes and the areas the portal
//! knows come in as a list. Every row is checked and every bad row reported, by
//! the physical line it starts on (the header is line 1), so that an operator
//! can fix the whole file in one go. Checks that need the database (an address
//! that already belongs to another organisation) are the use case's.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use time::{Date, OffsetDateTime};

use crate::role::{Area, AreaSlug};
use crate::{EmailAddress, OrganisationKind, Role, Ukprn};

/// The columns of the export, in the order the old portal writes them. A file
/// may order them differently; it must have each exactly once and no other.
pub const COLUMNS: [&str; 11] = [
    "ukprn",
    "provider_name",
    "email",
    "title",
    "first_name",
    "last_name",
    "expires_on",
    "locked",
    "user_administrator",
    "areas",
    "legacy_roles",
];

/// The one role of the old portal that is not an area membership (PRODUCT §1).
pub const COLLECTION_CONTRIBUTOR: &str = "Collection contributor";

/// The area that "Collection contributor" grants (seed 001).
pub const COLLECTION_CONTRIBUTOR_AREA: &str = "annual-financial-return";

use crate::person::{NAME_MAX, TITLE_MAX};
const PROVIDER_NAME_MAX: usize = 200;

/// One row of the export, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyUser {
    /// The physical line the row starts on.
    pub line: u64,
    pub ukprn: Ukprn,
    pub provider_name: String,
    pub email: EmailAddress,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    /// The end of the `expires_on` day, UTC ([`end_of_day`]).
    pub expires_at: Option<OffsetDateTime>,
    pub locked: bool,
    /// The roles the row means, for a provider's user.
    pub roles: BTreeSet<Role>,
}

/// A bad row (or a bad header, line 1), with every reason it is bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub reasons: Vec<String>,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reasons.join("; "))
    }
}

/// The file read: its good rows and its bad ones. The file may be imported
/// only when `errors` is empty.
#[derive(Debug, Default)]
pub struct Export {
    pub users: Vec<LegacyUser>,
    pub errors: Vec<LineError>,
    /// Data rows read, good and bad.
    pub rows: u64,
}

/// When an account whose old expiry date is `date` stops working: the last
/// second of that day in the UK (the old portal was a UK service). It works
/// through the whole of `date`, and its expiry still reads as `date`.
pub fn end_of_day(date: Date) -> OffsetDateTime {
    crate::uk_time::uk_midnight(date.next_day().unwrap_or(date)) - time::Duration::seconds(1)
}

/// Reads an export (UTF-8 CSV, RFC 4180 quoting, a header row) against the
/// areas the portal knows.
pub fn read_export(bytes: &[u8], areas: &[Area]) -> Export {
    let mut export = Export::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let Some(header) = records.next() else {
        export.errors.push(LineError {
            line: 1,
            reasons: vec![format!(
                "the file is empty; the first line must name the columns: {}",
                COLUMNS.join(",")
            )],
        });
        return export;
    };
    let columns = match header
        .map_err(|e| e.to_string())
        .and_then(|h| header_map(&h))
    {
        Ok(c) => c,
        Err(why) => {
            export.errors.push(LineError {
                line: 1,
                reasons: vec![why],
            });
            return export;
        }
    };
    let areas: HashMap<&str, &Area> = areas.iter().map(|a| (a.slug.as_str(), a)).collect();
    // Where each address and provider was first seen, to report repeats.
    let mut emails: HashMap<String, u64> = HashMap::new();
    let mut providers: HashMap<Ukprn, (String, u64)> = HashMap::new();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                export.rows += 1;
                export.errors.push(LineError {
                    line,
                    reasons: vec![format!("cannot be read: {e}")],
                });
                // The reader cannot go on past an I/O error.
                break;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        export.rows += 1;
        let mut row = parse_row(line, &record, &columns, &areas);
        // Repeats are reported even on rows that are bad for other reasons too.
        if let Some(email) = &row.email {
            match emails.get(&email.normalised()) {
                Some(first) => row.reasons.push(format!(
                    "{email} is also on line {first} (addresses are compared ignoring case)"
                )),
                None => {
                    emails.insert(email.normalised(), line);
                }
            }
        }
        if let Some((ukprn, name)) = row.provider {
            match providers.get(&ukprn) {
                Some((first_name, first)) if *first_name != name => row.reasons.push(format!(
                    "provider {ukprn} is named {name:?} here but {first_name:?} on line {first}"
                )),
                Some(_) => {}
                None => {
                    providers.insert(ukprn, (name, line));
                }
            }
        }
        match row.user {
            Some(user) if row.reasons.is_empty() => export.users.push(user),
            _ => export.errors.push(LineError {
                line,
                reasons: row.reasons,
            }),
        }
    }
    export
}

/// A row as far as it could be read.
struct Row {
    /// The user, if every field is good.
    user: Option<LegacyUser>,
    /// The address and the provider, when they are good, to find repeats.
    email: Option<EmailAddress>,
    provider: Option<(Ukprn, String)>,
    reasons: Vec<String>,
}

impl Row {
    fn bad(reasons: Vec<String>) -> Self {
        Self {
            user: None,
            email: None,
            provider: None,
            reasons,
        }
    }
}

/// Where each column is in the file.
type Columns = [usize; COLUMNS.len()];

fn header_map(header: &csv::ByteRecord) -> Result<Columns, String> {
    let mut found: [Option<usize>; COLUMNS.len()] = [None; COLUMNS.len()];
    let mut problems = Vec::new();
    for (i, raw) in header.iter().enumerate() {
        let name = String::from_utf8_lossy(raw);
        // A UTF-8 byte order mark is not part of the first name.
        let name = name
            .trim_start_matches('\u{feff}')
            .trim()
            .to_ascii_lowercase();
        match COLUMNS.iter().position(|c| *c == name) {
            Some(k) if found[k].is_some() => {
                problems.push(format!("column {name:?} appears twice"))
            }
            Some(k) => found[k] = Some(i),
            None => problems.push(format!("unknown column {name:?}")),
        }
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .zip(found)
        .filter(|(_, f)| f.is_none())
        .map(|(c, _)| *c)
        .collect();
    if !missing.is_empty() {
        problems.push(format!("missing column(s): {}", missing.join(", ")));
    }
    if !problems.is_empty() {
        problems.push(format!("the header must be: {}", COLUMNS.join(",")));
        return Err(problems.join("; "));
    }
    let mut columns = [0; COLUMNS.len()];
    for (slot, f) in columns.iter_mut().zip(found) {
        *slot = f.unwrap_or_default();
    }
    Ok(columns)
}

fn parse_row(
    line: u64,
    record: &csv::ByteRecord,
    columns: &Columns,
    areas: &HashMap<&str, &Area>,
) -> Row {
    if record.len() != COLUMNS.len() {
        return Row::bad(vec![format!(
            "has {} fields; every row must have {} (a comma inside a value needs \"quotes\")",
            record.len(),
            COLUMNS.len()
        )]);
    }
    let mut reasons = Vec::new();
    let mut fields = [""; COLUMNS.len()];
    for (k, slot) in fields.iter_mut().enumerate() {
        match std::str::from_utf8(&record[columns[k]]) {
            Ok(s) => *slot = s.trim(),
            Err(_) => reasons.push(format!("{} is not valid UTF-8", COLUMNS[k])),
        }
    }
    if !reasons.is_empty() {
        return Row::bad(reasons);
    }
    let [
        ukprn,
        provider_name,
        email,
        title,
        first_name,
        last_name,
        expires_on,
        locked,
        user_administrator,
        area_list,
        legacy_roles,
    ] = fields;

    let ukprn = Ukprn::parse(ukprn)
        .map_err(|_| reasons.push(format!("ukprn {ukprn:?} is not 8 digits")))
        .ok();
    let email = EmailAddress::parse(email)
        .map_err(|e| reasons.push(format!("email {email:?}: {e}")))
        .ok();
    let provider_name_ok = text(
        &mut reasons,
        "provider_name",
        provider_name,
        true,
        PROVIDER_NAME_MAX,
    );
    text(&mut reasons, "title", title, false, TITLE_MAX);
    text(&mut reasons, "first_name", first_name, true, NAME_MAX);
    text(&mut reasons, "last_name", last_name, true, NAME_MAX);
    let expires_at = if expires_on.is_empty() {
        None
    } else {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        match Date::parse(expires_on, &format) {
            Ok(d) => Some(end_of_day(d)),
            Err(_) => {
                reasons.push(format!(
                    "expires_on {expires_on:?} is not a date like 2027-07-31 (or empty)"
                ));
                None
            }
        }
    };
    let locked = boolean(&mut reasons, "locked", locked);
    let admin = boolean(&mut reasons, "user_administrator", user_administrator);

    let mut roles = BTreeSet::new();
    if admin == Some(true) {
        roles.insert(Role::PortalAdmin);
    }
    for slug in list(area_list) {
        match areas.get(slug) {
            Some(area) => {
                roles.insert(Role::for_area(area, OrganisationKind::Provider));
            }
            None => reasons.push(format!("unknown area {slug:?}")),
        }
    }
    for role in list(legacy_roles) {
        if role.eq_ignore_ascii_case(COLLECTION_CONTRIBUTOR) {
            match AreaSlug::parse(COLLECTION_CONTRIBUTOR_AREA) {
                Some(afr) => {
                    roles.insert(Role::DataCollectionContributor(afr));
                }
                None => reasons.push("the Annual Financial Return area is missing".into()),
            }
        } else {
            reasons.push(format!(
                "unknown legacy role {role:?} (the only one is {COLLECTION_CONTRIBUTOR:?})"
            ));
        }
    }
    let provider = ukprn
        .clone()
        .filter(|_| provider_name_ok)
        .map(|u| (u, provider_name.to_owned()));
    let user = match (ukprn, &email, locked, reasons.is_empty()) {
        (Some(ukprn), Some(email), Some(locked), true) => Some(LegacyUser {
            line,
            ukprn,
            provider_name: provider_name.to_owned(),
            email: email.clone(),
            title: title.to_owned(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            expires_at,
            locked,
            roles,
        }),
        _ => None,
    };
    Row {
        user,
        email,
        provider,
        reasons,
    }
}

/// A `;`-separated list: items trimmed, empty items skipped.
fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(';').map(str::trim).filter(|i| !i.is_empty())
}

/// Checks a text field; `false` (with the reason noted) if it is bad.
fn text(reasons: &mut Vec<String>, column: &str, value: &str, required: bool, max: usize) -> bool {
    let why = if required && value.is_empty() {
        format!("{column} is empty")
    } else if value.chars().count() > max {
        format!("{column} is longer than {max} characters")
    } else if value.chars().any(char::is_control) {
        format!("{column} contains a control character")
    } else {
        return true;
    };
    reasons.push(why);
    false
}

fn boolean(reasons: &mut Vec<String>, column: &str, value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => {
            reasons.push(format!(
                "{column} {value:?} is not true or false (yes/no and 1/0 are accepted)"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::{AreaKind, INITIAL_DATA_RETURN_AREAS};
    use time::macros::{date, datetime};

    const HEADER: &str = "ukprn,provider_name,email,title,first_name,last_name,expires_on,locked,user_administrator,areas,legacy_roles\n";

    fn areas() -> Vec<Area> {
        let mut areas: Vec<Area> = INITIAL_DATA_RETURN_AREAS
            .iter()
            .map(|(slug, name)| Area {
                slug: AreaSlug::parse(slug).unwrap(),
                name: (*name).into(),
                kind: AreaKind::DataReturn,
                sensitive: false,
            })
            .collect();
        areas.push(Area {
            slug: AreaSlug::parse("board-papers").unwrap(),
            name: "Board papers".into(),
            kind: AreaKind::Communication,
            sensitive: true,
        });
        areas
    }

    fn read(body: &str) -> Export {
        read_export(format!("{HEADER}{body}").as_bytes(), &areas())
    }

    fn role(id: &str) -> Role {
        Role::parse(id).unwrap()
    }

    #[test]
    fn a_row_means_the_new_portals_roles() {
        let e = read(
            "10000001,Uni A,Ada@Example.ac.uk,Dr,Ada,Lovelace,2027-07-31,yes,TRUE,heses; board-papers;,Collection contributor\n",
        );
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        let u = &e.users[0];
        assert_eq!(u.line, 2);
        assert_eq!(u.email.as_str(), "Ada@Example.ac.uk");
        assert_eq!(u.title, "Dr");
        assert!(u.locked);
        // The last second of 31 July in the UK (BST).
        assert_eq!(u.expires_at, Some(datetime!(2027-07-31 22:59:59 UTC)));
        let roles: Vec<Role> = u.roles.iter().cloned().collect();
        assert_eq!(
            roles,
            vec![
                Role::PortalAdmin,
                role("data-collection-contributor:annual-financial-return"),
                role("data-collection-contributor:heses"),
                role("area-member:board-papers"),
            ]
        );
    }

    #[test]
    fn the_expiry_day_is_usable_to_its_last_second() {
        assert_eq!(
            end_of_day(date!(2026 - 12 - 31)),
            datetime!(2026-12-31 23:59:59 UTC)
        );
        assert_eq!(
            end_of_day(date!(2026 - 12 - 31)).date(),
            date!(2026 - 12 - 31)
        );
    }

    #[test]
    fn quoting_follows_rfc_4180_and_columns_may_come_in_any_order() {
        let csv = "email,ukprn,provider_name,title,first_name,last_name,expires_on,locked,user_administrator,areas,legacy_roles\n\
                   b@example.ac.uk,10000001,\"Uni \"\"A\"\", Ltd\",,\"O'Brien,\nJr\",Smith,,0,no,,\n";
        let e = read_export(csv.as_bytes(), &areas());
        // A newline inside quotes is not allowed in a name (a control character).
        assert_eq!(e.errors.len(), 1);
        assert_eq!(e.errors[0].line, 2);
        assert!(e.errors[0].reasons[0].contains("first_name contains a control character"));
        let csv = csv.replace(",\nJr", ", Jr");
        let e = read_export(csv.as_bytes(), &areas());
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        assert_eq!(e.users[0].provider_name, "Uni \"A\", Ltd");
        assert_eq!(e.users[0].first_name, "O'Brien, Jr");
        assert!(e.users[0].roles.is_empty());
    }

    #[test]
    fn every_bad_row_is_reported_by_its_physical_line() {
        let e = read(
            "10000001,Uni A,a@example.ac.uk,,A,A,,false,false,,\n\
             1000001,Uni A,not-an-email,,,A,31/12/2026,maybe,false,nowhere,Submitter\n\
             10000001,\"Uni\nA\",b@example.ac.uk,,B,B,,false,false,,\n\
             10000001,Uni A,A@EXAMPLE.ac.uk,,A,A,,false,false,,\n\
             10000001,Uni A,c@example.ac.uk,,C\n\
             10000002,Uni B,d@example.ac.uk,,D,D,,false,false,heses,\n\
             10000002,Uni B2,e@example.ac.uk,,E,E,,false,false,heses,\n",
        );
        let lines: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
        assert_eq!(e.rows, 7);
        assert_eq!(e.users.len(), 2, "{lines:?}");
        assert_eq!(e.errors.len(), 5, "{lines:?}");
        let bad = &lines[0];
        assert!(bad.starts_with("line 3: "), "{bad}");
        for part in [
            "ukprn \"1000001\"",
            "email \"not-an-email\"",
            "first_name is empty",
            "expires_on \"31/12/2026\"",
            "locked \"maybe\"",
            "unknown area \"nowhere\"",
            "unknown legacy role \"Submitter\"",
        ] {
            assert!(bad.contains(part), "{part} in {bad}");
        }
        assert_eq!(
            lines[1],
            "line 4: provider_name contains a control character"
        );
        // That quoted newline made the row two lines long: the next starts on line 6.
        assert!(
            lines[2].starts_with("line 6: A@EXAMPLE.ac.uk is also on line 2"),
            "{}",
            lines[2]
        );
        assert!(lines[3].starts_with("line 7: has 5 fields"), "{}", lines[3]);
        assert_eq!(
            lines[4],
            "line 9: provider 10000002 is named \"Uni B2\" here but \"Uni B\" on line 8"
        );
    }

    #[test]
    fn the_header_must_name_every_column_once() {
        let e = read_export(b"", &areas());
        assert_eq!(e.errors[0].line, 1);
        let e = read_export(
            "\u{feff}ukprn,provider_name,email,title,first_name,last_name,expires_on,locked,user_administrator,areas,legacy_roles\n"
                .as_bytes(),
            &areas(),
        );
        assert!(
            e.errors.is_empty(),
            "a byte order mark is allowed: {:?}",
            e.errors
        );
        let e = read_export(b"ukprn,email,email,password\n", &areas());
        let why = e.errors[0].to_string();
        assert!(why.starts_with("line 1: "), "{why}");
        assert!(why.contains("\"email\" appears twice"), "{why}");
        assert!(why.contains("unknown column \"password\""), "{why}");
        assert!(
            why.contains("missing column(s): provider_name, title"),
            "{why}"
        );
    }

    #[test]
    fn invalid_utf8_is_reported_not_guessed() {
        let mut bytes = HEADER.as_bytes().to_vec();
        bytes.extend_from_slice(b"10000001,Uni A,a@example.ac.uk,,Andr\xe9,A,,false,false,,\n");
        let e = read_export(&bytes, &areas());
        assert_eq!(e.errors.len(), 1);
        assert_eq!(
            e.errors[0].to_string(),
            "line 2: first_name is not valid UTF-8"
        );
    }
}
