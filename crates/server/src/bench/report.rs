//! The benchmark's report: what was measured, written as the tables
//! docs/performance.md shows. Every figure is a number that was measured, or
//! says why there is none ("–" where nothing could be divided, "not run"):
//! nothing here ever prints NaN or inf.

use std::fmt::Write as _;
use std::time::Duration;

use super::load::Measured;

/// One scenario at one concurrency.
pub struct Row {
    pub name: &'static str,
    pub connections: usize,
    /// Its rate over `/healthz`'s at the same concurrency, when both ran and
    /// the baseline completed anything; `None` prints "–".
    pub ratio: Option<f64>,
    pub m: Measured,
}

impl Row {
    /// A scenario measured beside `baseline` (the `/healthz` run at the same
    /// concurrency).
    pub fn beside(
        name: &'static str,
        connections: usize,
        m: Measured,
        baseline: &Measured,
    ) -> Self {
        let ratio = match (m.per_second(), baseline.per_second()) {
            (Some(r), Some(b)) if b > 0.0 => Some(r / b).filter(|x| x.is_finite()),
            _ => None,
        };
        Self {
            name,
            connections,
            ratio,
            m,
        }
    }

    /// A pass with nothing to compare it with.
    pub fn alone(name: &'static str, connections: usize, m: Measured) -> Self {
        Self {
            name,
            connections,
            ratio: None,
            m,
        }
    }
}

/// The legacy import at the end of the run.
pub enum Import {
    /// `--import-users 0`.
    NotRun,
    /// The whole `portal import-legacy` command, and what it printed.
    Ran {
        users: usize,
        took: Duration,
        said: String,
    },
}

/// The data-return check of a generated CSV (issue 16), in process.
pub enum CsvCheck {
    /// `--check-rows 0`, or `--only` left it out.
    NotRun,
    /// The checker alone, not making the file.
    Ran {
        rows: u64,
        bytes: u64,
        took: Duration,
    },
}

/// Everything the benchmark prints, in order.
pub struct Report {
    /// The first line: what was measured, on what.
    pub heading: String,
    pub dataset_built_in: Duration,
    pub rows: Vec<Row>,
    pub ready_in: Duration,
    pub rss_idle_kb: u64,
    pub rss_loaded_kb: u64,
    /// Live sessions that each made a request, and the memory after.
    pub sessions_used: u64,
    pub rss_sessions_kb: u64,
    pub import: Import,
    pub csv_check: CsvCheck,
}

/// `x` to `decimals` places, or "–" when there is no such number.
fn figure(x: Option<f64>, decimals: usize) -> String {
    match x.filter(|x| x.is_finite()) {
        Some(x) => format!("{x:.decimals$}"),
        None => "–".to_owned(),
    }
}

fn megabytes(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

impl Report {
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "{}", self.heading)?;
        writeln!(
            out,
            "dataset built in {:.1} s",
            self.dataset_built_in.as_secs_f64()
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "| scenario | connections | completed | per second | × /healthz | p50 ms | p99 ms | errors |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|")?;
        for r in &self.rows {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.name,
                r.connections,
                r.m.completed,
                figure(r.m.per_second(), 0),
                figure(r.ratio, 3),
                figure(r.m.percentile_ms(50), 2),
                figure(r.m.percentile_ms(99), 2),
                r.m.errors,
            )?;
        }
        writeln!(out)?;
        writeln!(out, "| measure | value |")?;
        writeln!(out, "|---|---:|")?;
        writeln!(
            out,
            "| start to /readyz (existing database) | {:.0} ms |",
            self.ready_in.as_secs_f64() * 1000.0
        )?;
        writeln!(out, "| RSS idle | {} |", megabytes(self.rss_idle_kb))?;
        writeln!(
            out,
            "| RSS after the load | {} |",
            megabytes(self.rss_loaded_kb)
        )?;
        let sessions = if self.sessions_used == 1 {
            "1 live session made a request".to_owned()
        } else {
            format!("{} live sessions each made a request", self.sessions_used)
        };
        writeln!(
            out,
            "| RSS after {sessions} | {} |",
            megabytes(self.rss_sessions_kb)
        )?;
        match &self.csv_check {
            CsvCheck::NotRun => writeln!(out, "| CSV check (data return) | not run |")?,
            CsvCheck::Ran { rows, bytes, took } => {
                let secs = took.as_secs_f64();
                let rate = |n: f64| (secs > 0.0).then(|| n / secs);
                let mb = *bytes as f64 / 1_000_000.0;
                writeln!(
                    out,
                    "| CSV check, {rows} rows, {mb:.1} MB (checker alone) | {secs:.2} s, {} rows/s, {} MB/s |",
                    figure(rate(*rows as f64), 0),
                    figure(rate(mb), 1),
                )?;
            }
        }
        match &self.import {
            Import::NotRun => {
                writeln!(out, "| legacy import | not run (--import-users 0) |")?;
                writeln!(out)?;
            }
            Import::Ran { users, took, said } => {
                let secs = took.as_secs_f64();
                let rate = if secs > 0.0 {
                    Some(*users as f64 / secs)
                } else {
                    None
                };
                writeln!(
                    out,
                    "| legacy import, {users} users (whole command) | {secs:.2} s, {} users/s |",
                    figure(rate, 0)
                )?;
                writeln!(out)?;
                writeln!(out, "import-legacy said: {said}")?;
            }
        }
        for r in self.rows.iter().filter(|r| r.m.errors > 0) {
            writeln!(
                out,
                "ERRORS in {} at {} connections: {} (first: {})",
                r.name,
                r.connections,
                r.m.errors,
                r.m.first_error.as_deref().unwrap_or("?")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing_ran() -> Measured {
        Measured::default()
    }

    fn ran(completed: u64, secs: u64, latencies_us: &[u32]) -> Measured {
        Measured::with(completed, Duration::from_secs(secs), latencies_us)
    }

    fn report(rows: Vec<Row>, import: Import) -> String {
        Report {
            heading: "portal bench: SQLite".to_owned(),
            dataset_built_in: Duration::ZERO,
            rows,
            ready_in: Duration::ZERO,
            rss_idle_kb: 0,
            rss_loaded_kb: 0,
            sessions_used: 0,
            rss_sessions_kb: 0,
            import,
            csv_check: CsvCheck::NotRun,
        }
        .render()
    }

    fn no_nan_or_inf(text: &str) {
        let lower = text.to_lowercase();
        assert!(!lower.contains("nan"), "{text}");
        assert!(!lower.contains("inf"), "{text}");
    }

    #[test]
    fn zero_counts_print_a_dash_or_not_run_never_nan_or_inf() {
        let baseline = nothing_ran();
        let text = report(
            vec![
                Row::beside("GET /api/v1/me", 1, nothing_ran(), &baseline),
                Row::beside("GET /api/v1/me", 32, ran(10, 1, &[1000]), &baseline),
                Row::alone("GET /api/v1/me, each live session once", 32, nothing_ran()),
                Row::beside("GET /healthz (baseline)", 1, baseline.clone(), &baseline),
            ],
            Import::NotRun,
        );
        no_nan_or_inf(&text);
        assert!(
            text.contains("| legacy import | not run (--import-users 0) |"),
            "{text}"
        );
        assert!(!text.contains("import-legacy said"), "{text}");
        // Nothing completed: no rate, no ratio, no latencies.
        assert!(
            text.contains("| GET /api/v1/me | 1 | 0 | – | – | – | – | 0 |"),
            "{text}"
        );
        // Completed, but beside a baseline that did not: no ratio.
        assert!(
            text.contains("| GET /api/v1/me | 32 | 10 | 10 | – | 1.00 | 1.00 | 0 |"),
            "{text}"
        );
        assert!(
            text.contains("| RSS after 0 live sessions each made a request | 0.0 MB |"),
            "{text}"
        );
    }

    #[test]
    fn the_csv_check_prints_rows_and_megabytes_per_second_or_a_dash() {
        let render = |csv_check| {
            Report {
                heading: "portal bench: SQLite".to_owned(),
                dataset_built_in: Duration::ZERO,
                rows: Vec::new(),
                ready_in: Duration::ZERO,
                rss_idle_kb: 0,
                rss_loaded_kb: 0,
                sessions_used: 0,
                rss_sessions_kb: 0,
                import: Import::NotRun,
                csv_check,
            }
            .render()
        };
        let text = render(CsvCheck::Ran {
            rows: 1_000_000,
            bytes: 100_000_000,
            took: Duration::from_millis(500),
        });
        assert!(
            text.contains(
                "| CSV check, 1000000 rows, 100.0 MB (checker alone) | 0.50 s, 2000000 rows/s, 200.0 MB/s |"
            ),
            "{text}"
        );
        let text = render(CsvCheck::Ran {
            rows: 0,
            bytes: 0,
            took: Duration::ZERO,
        });
        no_nan_or_inf(&text);
        assert!(text.contains("| 0.00 s, – rows/s, – MB/s |"), "{text}");
        let text = render(CsvCheck::NotRun);
        assert!(
            text.contains("| CSV check (data return) | not run |"),
            "{text}"
        );
    }

    #[test]
    fn an_import_that_took_no_measurable_time_has_no_rate() {
        let text = report(
            Vec::new(),
            Import::Ran {
                users: 0,
                took: Duration::ZERO,
                said: "0 rows".to_owned(),
            },
        );
        no_nan_or_inf(&text);
        assert!(
            text.contains("| legacy import, 0 users (whole command) | 0.00 s, – users/s |"),
            "{text}"
        );
        assert!(text.contains("import-legacy said: 0 rows"), "{text}");
    }

    #[test]
    fn measured_figures_are_printed_as_before() {
        let baseline = ran(2000, 2, &[100, 200, 300, 400]);
        let text = report(
            vec![
                Row::beside("GET /api/v1/me", 1, ran(500, 2, &[1500, 2500]), &baseline),
                Row::beside("GET /healthz (baseline)", 1, baseline.clone(), &baseline),
            ],
            Import::Ran {
                users: 100,
                took: Duration::from_secs(2),
                said: "100 rows".to_owned(),
            },
        );
        no_nan_or_inf(&text);
        assert!(
            text.contains("| GET /api/v1/me | 1 | 500 | 250 | 0.250 | 2.50 | 2.50 | 0 |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| GET /healthz (baseline) | 1 | 2000 | 1000 | 1.000 | 0.30 | 0.40 | 0 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| legacy import, 100 users (whole command) | 2.00 s, 50 users/s |"),
            "{text}"
        );
    }
}
