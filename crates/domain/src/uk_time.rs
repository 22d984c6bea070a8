//! Time as the portal shows it to people: UK time (Europe/London, GMT in
//! winter and BST in summer), in the one GOV.UK format — "3 December 2026 at
//! 2:15pm", and dates alone as "3 December 2026". Every page and email formats
//! a moment through this module; machine formats (the API, CSV exports, the
//! audit chain) stay RFC 3339 in UTC.

use time::{Date, Duration, Month, OffsetDateTime, Time, UtcOffset};

/// British Summer Time: from 01:00 UTC on the last Sunday of March to 01:00
/// UTC on the last Sunday of October (the Summer Time Order 2002).
pub fn is_bst(t: OffsetDateTime) -> bool {
    let t = t.to_offset(UtcOffset::UTC);
    let last_sunday = |month: Month| {
        Date::from_calendar_date(t.year(), month, 31)
            .map(|d| d - Duration::days(i64::from(d.weekday().number_days_from_sunday())))
            .map(|d| d.with_time(Time::MIDNIGHT).assume_utc() + Duration::hours(1))
    };
    match (last_sunday(Month::March), last_sunday(Month::October)) {
        (Ok(start), Ok(end)) => t >= start && t < end,
        _ => false,
    }
}

/// The same moment with the UK's offset at that moment (+00:00 or +01:00).
pub fn in_uk(t: OffsetDateTime) -> OffsetDateTime {
    let hours = if is_bst(t) { 1 } else { 0 };
    t.to_offset(UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC))
}

/// "3 December 2026 at 2:15pm", "1 July 2026 at 9am", "… at midday",
/// "… at midnight" (GOV.UK style: no ":00", midday and midnight in words).
pub fn moment(t: OffsetDateTime) -> String {
    let local = in_uk(t);
    format!("{} at {}", date(local.date()), clock(local.time()))
}

/// As [`moment`], or `none` for a moment that has not happened ("Never").
pub fn moment_or(t: Option<OffsetDateTime>, none: &str) -> String {
    t.map(moment).unwrap_or_else(|| none.to_owned())
}

/// "3 December 2026".
pub fn date(d: Date) -> String {
    format!("{} {} {}", d.day(), d.month(), d.year())
}

/// The UK calendar day a moment falls on, as [`date`] writes it.
pub fn day_of(t: OffsetDateTime) -> String {
    date(in_uk(t).date())
}

/// The UK calendar day a moment falls on.
pub fn uk_date(t: OffsetDateTime) -> Date {
    in_uk(t).date()
}

/// How long something lasts that ends at `end`: "until the end of 3
/// December 2026" when `end` is a UK midnight (an expiry date), otherwise
/// "until 3 December 2026 at 2:15pm" (an expiry set to any moment).
pub fn until(end: OffsetDateTime) -> String {
    if uk_midnight(uk_date(end)) == end {
        format!(
            "until the end of {}",
            day_of(end - Duration::microseconds(1))
        )
    } else {
        format!("until {}", moment(end))
    }
}

/// Midnight at the start of `d` in the UK, as a moment.
pub fn uk_midnight(d: Date) -> OffsetDateTime {
    let utc = d.midnight().assume_utc();
    // At midnight UK time in summer it is 23:00 UTC the day before.
    let summer = utc - Duration::hours(1);
    if is_bst(summer) { summer } else { utc }
}

/// "2:15pm", "9am", "midday", "midnight".
fn clock(t: Time) -> String {
    let (hour, minute) = (t.hour(), t.minute());
    match (hour, minute) {
        (0, 0) => "midnight".to_owned(),
        (12, 0) => "midday".to_owned(),
        _ => {
            let (h12, half) = match hour {
                0 => (12, "am"),
                1..=11 => (hour, "am"),
                12 => (12, "pm"),
                _ => (hour - 12, "pm"),
            };
            if minute == 0 {
                format!("{h12}{half}")
            } else {
                format!("{h12}:{minute:02}{half}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn january_is_gmt_and_july_is_bst_in_the_one_format() {
        assert_eq!(
            moment(datetime!(2027-01-14 14:15 UTC)),
            "14 January 2027 at 2:15pm"
        );
        assert_eq!(
            moment(datetime!(2026-07-14 14:15 UTC)),
            "14 July 2026 at 3:15pm"
        );
    }

    #[test]
    fn summer_time_starts_and_ends_at_one_in_the_morning_utc() {
        // 2026: last Sunday of March is the 29th, of October the 25th.
        assert!(!is_bst(datetime!(2026-03-29 00:59:59 UTC)));
        assert!(is_bst(datetime!(2026-03-29 01:00 UTC)));
        assert!(is_bst(datetime!(2026-10-25 00:59:59 UTC)));
        assert!(!is_bst(datetime!(2026-10-25 01:00 UTC)));
        assert_eq!(
            moment(datetime!(2026-03-29 01:00 UTC)),
            "29 March 2026 at 2am"
        );
        assert_eq!(
            moment(datetime!(2026-10-25 00:30 UTC)),
            "25 October 2026 at 1:30am"
        );
        assert_eq!(
            moment(datetime!(2026-10-25 01:30 UTC)),
            "25 October 2026 at 1:30am"
        );
    }

    #[test]
    fn a_summer_evening_in_utc_is_the_next_day_in_the_uk() {
        let t = datetime!(2026-06-30 23:30 UTC);
        assert_eq!(moment(t), "1 July 2026 at 12:30am");
        assert_eq!(day_of(t), "1 July 2026");
        assert_eq!(uk_date(t), time::macros::date!(2026 - 07 - 01));
    }

    #[test]
    fn hours_minutes_midday_and_midnight_read_as_gov_uk_writes_them() {
        let d =
            |h: i64, m: i64| moment(datetime!(2026-12-03 0:00 UTC) + Duration::minutes(h * 60 + m));
        assert_eq!(d(0, 0), "3 December 2026 at midnight");
        assert_eq!(d(0, 5), "3 December 2026 at 12:05am");
        assert_eq!(d(9, 0), "3 December 2026 at 9am");
        assert_eq!(d(12, 0), "3 December 2026 at midday");
        assert_eq!(d(12, 30), "3 December 2026 at 12:30pm");
        assert_eq!(d(23, 59), "3 December 2026 at 11:59pm");
        assert_eq!(moment_or(None, "Never"), "Never");
    }

    #[test]
    fn uk_midnight_is_gmt_in_winter_and_bst_in_summer() {
        assert_eq!(
            uk_midnight(time::macros::date!(2026 - 01 - 05)),
            datetime!(2026-01-05 0:00 UTC)
        );
        assert_eq!(
            uk_midnight(time::macros::date!(2026 - 07 - 05)),
            datetime!(2026-07-04 23:00 UTC)
        );
    }
}
