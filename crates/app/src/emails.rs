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
