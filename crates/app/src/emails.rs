//! The emails the portal sends: plain text, short, and saying what to do next.

use domain::ids::MessageId;
use domain::otp::Passcode;
use store::NewEmail;
use time::OffsetDateTime;

pub(crate) fn passcode(to: &str, code: &Passcode, now: OffsetDateTime) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: "Your Provider Portal sign-in code".into(),
        body: format!(
            "Your code to sign in to Provider Portal is:\n\n\
             {}\n\n\
             The code expires in 10 minutes and can be used once.\n\n\
             If you did not try to sign in, you can ignore this email: nobody can\n\
             sign in without the code. Never share it with anyone.\n",
            code.expose()
        ),
        created_at: now,
    }
}

pub(crate) fn welcome(
    to: &str,
    name: &str,
    organisation: &str,
    base_url: &str,
    now: OffsetDateTime,
) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: "You have a Provider Portal account".into(),
        body: format!(
            "Dear {name},\n\n\
             An account on Provider Portal has been created for you at {organisation}.\n\n\
             To sign in, go to {base_url}/sign-in and enter this email address.\n\
             Each time you sign in we will email you a one-time code: you do not\n\
             need a password. Your account is yours alone; please do not share it.\n\n\
             If you were not expecting this email, contact portal@officeforstudents.org.uk.\n"
        ),
        created_at: now,
    }
}

pub(crate) fn account_changed(
    to: &str,
    name: &str,
    changes: &[String],
    base_url: &str,
    now: OffsetDateTime,
) -> NewEmail {
    let list: String = changes.iter().map(|c| format!("  - {c}\n")).collect();
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: "Your Provider Portal account has changed".into(),
        body: format!(
            "Dear {name},\n\n\
             An administrator has changed your Provider Portal account:\n\n\
             {list}\n\
             Sign in at {base_url}/sign-in to see your account.\n\n\
             If you did not expect this change, contact a portal administrator at\n\
             your organisation, or portal@officeforstudents.org.uk.\n"
        ),
        created_at: now,
    }
}

pub(crate) fn add_user_outcome(
    to: &str,
    person: &str,
    result: Result<(), &str>,
    now: OffsetDateTime,
) -> NewEmail {
    let (subject, body) = match result {
        Ok(()) => (
            "User added to Provider Portal",
            format!(
                "{person} now has a Provider Portal account.\n\n\
                 We have sent them a welcome email explaining how to sign in.\n"
            ),
        ),
        Err(why) => (
            "User not added to Provider Portal",
            format!("We could not add {person} to Provider Portal.\n\n{why}\n"),
        ),
    };
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: subject.into(),
        body,
        created_at: now,
    }
}

pub(crate) fn password_code(to: &str, code: &Passcode, now: OffsetDateTime) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: "Your Provider Portal code to set your password".into(),
        body: format!(
            "Your code to set a new Provider Portal password is:\n\n\
             {}\n\n\
             The code expires in 10 minutes and can be used once.\n\n\
             If you did not ask to change your password, sign in and check your\n\
             account, and tell portal@officeforstudents.org.uk. Never share this code.\n",
            code.expose()
        ),
        created_at: now,
    }
}

pub(crate) fn password_changed(to: &str, name: &str, now: OffsetDateTime) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: "Your Provider Portal password has been changed".into(),
        body: format!(
            "Dear {name},\n\n\
             The password of your Provider Portal account has just been changed.\n\n\
             If you did not do this, contact portal@officeforstudents.org.uk at once.\n"
        ),
        created_at: now,
    }
}

pub(crate) fn registered(
    to: &str,
    name: &str,
    organisation: &str,
    role: &str,
    base_url: &str,
    now: OffsetDateTime,
) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: "Your Provider Portal registration was successful".into(),
        body: format!(
            "Dear {name},\n\n\
             You have registered for Provider Portal at {organisation}, and your access\n\
             key has given you the role: {role}.\n\n\
             Sign in at {base_url}/sign-in with this email address and your password,\n\
             or with a one-time code that we email you.\n\n\
             If you did not register, contact portal@officeforstudents.org.uk.\n"
        ),
        created_at: now,
    }
}

pub(crate) fn submission_receipt(
    to: &str,
    window: &str,
    version: i64,
    submitter: &str,
    organisation: &str,
    base_url: &str,
    now: OffsetDateTime,
) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: format!("Submission received: {window}"),
        body: format!(
            "{submitter} has submitted version {version} of {organisation}'s return to\n\
             {window} on Provider Portal.\n\n\
             You can see it, and its status, at {base_url}/collections.\n"
        ),
        created_at: now,
    }
}

pub(crate) fn submission_outcome(
    to: &str,
    window: &str,
    version: i64,
    status: &str,
    comment: &str,
    base_url: &str,
    now: OffsetDateTime,
) -> NewEmail {
    let comment = if comment.is_empty() {
        String::new()
    } else {
        format!("\nThe regulator's comment:\n\n{comment}\n")
    };
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: format!("{window}: {status}"),
        body: format!(
            "Version {version} of your organisation's return to {window} has been\n\
             marked: {status}.\n{comment}\n\
             See it at {base_url}/collections.\n"
        ),
        created_at: now,
    }
}

// Security alerts (PRODUCT §8, issue 13) ----------------------------------------

/// A security alert to one of a provider's Portal Administrators: `lead` says
/// who did what to whom, `changes` what exactly, one line each.
#[allow(clippy::too_many_arguments)]
pub(crate) fn security_alert(
    to: &str,
    name: &str,
    organisation: &str,
    subject: &str,
    lead: &str,
    changes: &[String],
    base_url: &str,
    now: OffsetDateTime,
) -> NewEmail {
    let list: String = changes.iter().map(|c| format!("  - {c}\n")).collect();
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: format!("Security alert: {subject} at {organisation}"),
        body: format!(
            "Dear {name},\n\n\
             {lead} at {when}:\n\n\
             {list}\n\
             We tell every Portal Administrator of {organisation} whenever someone\n\
             there is given or loses the Portal Administrator or Delegated - Portal\n\
             Administrator role, activates an access key, or has their email address\n\
             changed.\n\n\
             If you expected this, you do not need to do anything.\n\n\
             If you did not expect it, sign in to Provider Portal at {base_url}\n\
             and check the user's account under User management, then tell\n\
             portal@officeforstudents.org.uk. Do not reply to this email.\n",
            when = uk_time(now),
        ),
        created_at: now,
    }
}

/// Tells a person's old address that their account's address was changed:
/// the new one is shown masked ([`masked`]), so whoever reads the old mailbox
/// can recognise it without learning it.
pub(crate) fn email_changed_to_old(
    to: &str,
    name: &str,
    new_address: &str,
    by: &str,
    organisation: &str,
    now: OffsetDateTime,
) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: "Your Provider Portal email address has been changed".into(),
        body: format!(
            "Dear {name},\n\n\
             The email address of your Provider Portal account at {organisation} was\n\
             changed from this address to {new} by {by} at {when}.\n\n\
             From now on we will send everything about your account to the new\n\
             address, and you cannot sign in with this one.\n\n\
             If you did not expect this change, report it at once to\n\
             portal@officeforstudents.org.uk and to a Portal Administrator at\n\
             {organisation}. Say which address this email was sent to and when\n\
             you received it. Do not reply to this email.\n",
            new = masked(new_address),
            when = uk_time(now),
        ),
        created_at: now,
    }
}

/// An address shown in part: the first character of the mailbox, then `***`,
/// then the whole domain (`n***@example.ac.uk`).
pub(crate) fn masked(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// A moment in UK time, as GOV.UK writes it: `10:23am on 3 December 2026 (UK
/// time)`. British Summer Time runs from 01:00 UTC on the last Sunday of
/// March to 01:00 UTC on the last Sunday of October.
pub(crate) fn uk_time(t: OffsetDateTime) -> String {
    use time::{Date, Month, Time, UtcOffset};
    let t = t.to_offset(UtcOffset::UTC);
    let last_sunday = |month: Month| {
        Date::from_calendar_date(t.year(), month, 31)
            .map(|d| d - time::Duration::days(i64::from(d.weekday().number_days_from_sunday())))
            .map(|d| d.with_time(Time::MIDNIGHT).assume_utc() + time::Duration::hours(1))
    };
    let summer = match (last_sunday(Month::March), last_sunday(Month::October)) {
        (Ok(start), Ok(end)) => t >= start && t < end,
        _ => false,
    };
    let local = if summer {
        t + time::Duration::hours(1)
    } else {
        t
    };
    let (hour, minute) = (local.hour(), local.minute());
    let (h12, half) = match hour {
        0 => (12, "am"),
        1..=11 => (hour, "am"),
        12 => (12, "pm"),
        _ => (hour - 12, "pm"),
    };
    let time = if minute == 0 && hour == 12 {
        "midday".to_owned()
    } else if minute == 0 && hour == 0 {
        "midnight".to_owned()
    } else {
        format!("{h12}:{minute:02}{half}")
    };
    format!(
        "{time} on {} {} {} (UK time)",
        local.day(),
        local.month(),
        local.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn uk_time_is_gmt_in_winter_and_bst_in_summer() {
        assert_eq!(
            uk_time(datetime!(2026-12-03 10:23 UTC)),
            "10:23am on 3 December 2026 (UK time)"
        );
        assert_eq!(
            uk_time(datetime!(2026-07-01 13:05 UTC)),
            "2:05pm on 1 July 2026 (UK time)"
        );
        // 2026: BST from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(
            uk_time(datetime!(2026-03-29 00:59 UTC)),
            "12:59am on 29 March 2026 (UK time)"
        );
        assert_eq!(
            uk_time(datetime!(2026-03-29 01:00 UTC)),
            "2:00am on 29 March 2026 (UK time)"
        );
        assert_eq!(
            uk_time(datetime!(2026-10-25 00:59 UTC)),
            "1:59am on 25 October 2026 (UK time)"
        );
        assert_eq!(
            uk_time(datetime!(2026-10-25 01:00 UTC)),
            "1:00am on 25 October 2026 (UK time)"
        );
        assert_eq!(
            uk_time(datetime!(2026-06-30 23:00 UTC)),
            "midnight on 1 July 2026 (UK time)"
        );
        assert_eq!(
            uk_time(datetime!(2026-01-05 12:00 UTC)),
            "midday on 5 January 2026 (UK time)"
        );
    }

    #[test]
    fn a_masked_address_keeps_the_first_character_and_the_domain() {
        assert_eq!(masked("new.person@example.ac.uk"), "n***@example.ac.uk");
        assert_eq!(masked("x@y.example"), "x***@y.example");
        assert_eq!(masked("not an address"), "***");
    }
}
