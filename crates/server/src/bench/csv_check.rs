//! The data-return check's scenario (issue 16): a generated CSV of about
//! 100 bytes a row, checked by [`domain::checks::Checker`] in this process,
//! fed in 64 KiB chunks as an upload feeds it. Only the checking is timed,
//! not making the file.

use std::time::{Duration, Instant};

use domain::checks::{Checker, ColumnRule, ColumnType};

/// What one check of the generated file measured.
pub struct CsvCheck {
    pub rows: u64,
    pub bytes: u64,
    pub took: Duration,
    pub errors: u64,
    pub warnings: u64,
}

/// The rules a HESES-like window might carry: five columns, one of each type.
fn rules() -> Vec<ColumnRule> {
    let rule = |name: &str, kind, required| ColumnRule {
        name: name.to_owned(),
        kind,
        required,
        min: None,
        max: None,
        allowed: Vec::new(),
        warn_above: None,
    };
    vec![
        rule("ukprn", ColumnType::Ukprn, true),
        ColumnRule {
            min: Some(0.0),
            max: Some(100_000.0),
            warn_above: Some(90_000.0),
            ..rule("students", ColumnType::Integer, true)
        },
        ColumnRule {
            min: Some(0.0),
            max: Some(1.0),
            ..rule("fte", ColumnType::Number, false)
        },
        ColumnRule {
            allowed: vec!["FT".into(), "PT".into(), "SW".into()],
            ..rule("mode", ColumnType::Text, true)
        },
        rule("census_date", ColumnType::Date, false),
    ]
}

/// `rows` data rows (and a header) of about 100 bytes each; the last row
/// has one error (a student count that is not a number).
pub fn generate(rows: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows as usize * 100 + 100);
    out.extend_from_slice(b"ukprn,students,fte,mode,census_date,course\n");
    let modes = ["FT", "PT", "SW"];
    for i in 0..rows {
        let students = if i + 1 == rows {
            "many".to_owned()
        } else {
            (i % 90_000).to_string()
        };
        let line = format!(
            "10000001,{students},0.{:03},{},2026-{:02}-{:02},\"Course {i:>10}, with a quoted \"\"name\"\" and padding to 100\"\n",
            i % 1000,
            modes[(i % 3) as usize],
            i % 12 + 1,
            i % 28 + 1,
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// Checks `file` in 64 KiB chunks, timing only the checker.
pub fn run(file: &[u8]) -> CsvCheck {
    let rules = rules();
    let started = Instant::now();
    let mut checker = Checker::new(&rules, Some("10000001"));
    for chunk in file.chunks(64 * 1024) {
        checker.feed(chunk, &mut |_| {});
    }
    let report = checker.finish(&mut |_| {});
    CsvCheck {
        rows: report.data_rows,
        bytes: file.len() as u64,
        took: started.elapsed(),
        errors: report.errors,
        warnings: report.warnings,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_file_has_one_error_in_its_last_row() {
        let file = generate(2000);
        let rows = 2000u64;
        let m = run(&file);
        assert_eq!((m.rows, m.errors, m.warnings), (rows, 1, 0));
        assert_eq!(m.bytes, file.len() as u64);
        let per_row = file.len() as f64 / rows as f64;
        assert!((90.0..=110.0).contains(&per_row), "{per_row} bytes a row");
    }
}
