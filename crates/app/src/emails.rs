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

/// Access turned off (issue 15, item 4): what changed, that the person can no
/// longer sign in, and whom to ask. No invitation to sign in.
pub(crate) fn access_ended(
    to: &str,
    name: &str,
    // Still enabled: it is the expiry (now past) that ends access.
    only_expired: bool,
    changes: &[String],
    contact: &str,
    now: OffsetDateTime,
) -> NewEmail {
    let list: String = changes.iter().map(|c| format!("  - {c}\n")).collect();
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: if only_expired {
            "Your access to Provider Portal has ended"
        } else {
            "Your access to Provider Portal has been turned off"
        }
        .into(),
        body: format!(
            "Dear {name},\n\n\
             An administrator has changed your Provider Portal account:\n\n\
             {list}\n\
             You can no longer use Provider Portal, and you have been signed out\n\
             everywhere.\n\n\
             If you think this is a mistake, or you need access again,\n\
             contact {contact}.\n"
        ),
        created_at: now,
    }
}

/// Locked after wrong passwords in a row (seed 000 B3): when, that nobody can
/// sign in to it until an administrator unlocks it, and whom to ask. Sent to
/// the account's address only, so a stranger guessing learns nothing.
pub(crate) fn account_locked(
    to: &str,
    name: &str,
    failures: i64,
    contact: &str,
    now: OffsetDateTime,
) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: "Your Provider Portal account is locked".into(),
        body: format!(
            "Dear {name},\n\n\
             Your Provider Portal account was locked on {when} because a wrong\n\
             password was entered for it {failures} times in a row.\n\n\
             While it is locked nobody can sign in to it, with a password or with a\n\
             code, and you have been signed out everywhere. It stays locked until an\n\
             administrator unlocks it: ask {contact}.\n\n\
             If you did not enter those passwords, someone else may have tried to\n\
             sign in as you: tell them, and portal@officeforstudents.org.uk.\n",
            when = uk_time(now),
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

// The regulator's side and a data collection's notices (issue 15) ----------------

/// To the address a provider's accountable officer had, when the regulator
/// records another one (or none): the person who loses the role is told.
pub(crate) fn accountable_officer_replaced(
    to: &str,
    name: &str,
    organisation: &str,
    now: OffsetDateTime,
) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: format!(
            "You are no longer {organisation}'s accountable officer on Provider Portal"
        ),
        body: format!(
            "Dear {name},\n\n\
             On {when} the Office for Students changed the accountable officer it\n\
             records for {organisation} on Provider Portal: this address is no longer\n\
             recorded as the accountable officer's.\n\n\
             Your Provider Portal account, if you have one, has not changed: your\n\
             roles and your access are as they were.\n\n\
             If this is not right, contact regulation@officeforstudents.org.uk. Do not\n\
             reply to this email.\n",
            when = uk_time(now),
        ),
        created_at: now,
    }
}

/// To the address the regulator now records as a provider's accountable officer.
pub(crate) fn accountable_officer_recorded(
    to: &str,
    name: &str,
    organisation: &str,
    now: OffsetDateTime,
) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: format!("You are now {organisation}'s accountable officer on Provider Portal"),
        body: format!(
            "Dear {name},\n\n\
             On {when} the Office for Students recorded this address as the\n\
             accountable officer's for {organisation} on Provider Portal.\n\n\
             You do not need to do anything. This email does not give you a\n\
             Provider Portal account: if you need one, the Office for Students or a\n\
             Portal Administrator at {organisation} can invite you, and you will\n\
             then receive an email telling you how to sign in.\n\n\
             If this is not right, contact regulation@officeforstudents.org.uk. Do not\n\
             reply to this email.\n",
            when = uk_time(now),
        ),
        created_at: now,
    }
}

/// A collection window has opened for a return the person works on at their
/// provider; `because` says why they are the one told.
#[allow(clippy::too_many_arguments)]
pub(crate) fn window_opened(
    to: &str,
    name: &str,
    window: &str,
    organisation: &str,
    closes_at: OffsetDateTime,
    because: &str,
    base_url: &str,
    now: OffsetDateTime,
) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: format!("{window} is open for your return"),
        body: format!(
            "Dear {name},\n\n\
             {window} is now open on Provider Portal for {organisation}'s return.\n\
             It closes on {closes}.\n\n\
             Sign in at {base_url}/collections to upload and submit the return.\n\n\
             {because}\n",
            closes = uk_time(closes_at),
        ),
        created_at: now,
    }
}

/// A provider submitted a return to a window: to each of the regulator's
/// officers for its area, who review it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn submission_to_review(
    to: &str,
    name: &str,
    window: &str,
    window_id: &str,
    version: i64,
    submitter: &str,
    organisation: &str,
    base_url: &str,
    now: OffsetDateTime,
) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.to_owned(),
        subject: format!("{organisation} has submitted its return to {window}"),
        body: format!(
            "Dear {name},\n\n\
             {submitter} submitted version {version} of {organisation}'s return to\n\
             {window} on {when}.\n\n\
             Review it at {base_url}/collections/{window_id}.\n\n\
             We tell the regulator's officers for a return whenever a provider\n\
             submits to it.\n",
            when = uk_time(now),
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
             {lead} on {when}:\n\n\
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
             changed from this address to {new} by {by} on {when}.\n\n\
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

/// A moment in an email: UK time in the portal's one format
/// ([`domain::uk_time::moment`]), said to be UK time because the reader may
/// be elsewhere: "3 December 2026 at 10:23am (UK time)".
pub(crate) fn uk_time(t: OffsetDateTime) -> String {
    format!("{} (UK time)", domain::uk_time::moment(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn uk_time_is_the_one_format_in_gmt_in_winter_and_bst_in_summer() {
        assert_eq!(
            uk_time(datetime!(2026-12-03 10:23 UTC)),
            "3 December 2026 at 10:23am (UK time)"
        );
        assert_eq!(
            uk_time(datetime!(2026-07-01 13:05 UTC)),
            "1 July 2026 at 2:05pm (UK time)"
        );
    }

    #[test]
    fn a_masked_address_keeps_the_first_character_and_the_domain() {
        assert_eq!(masked("new.person@example.ac.uk"), "n***@example.ac.uk");
        assert_eq!(masked("x@y.example"), "x***@y.example");
        assert_eq!(masked("not an address"), "***");
    }
}
