//! Development only: the emails the portal wrote to `PORTAL_MAIL_DIR`, so a
//! person trying the portal locally can read their passcode. Never mounted in
//! production (the router leaves these routes out).

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use crate::layout::Layout;
use crate::page::Page;
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/dev/mail", get(list))
        .route("/dev/mail/{file}", get(show))
}

struct Mail {
    file: String,
    to: String,
    subject: String,
    date: String,
    body: String,
}

fn read_mail(path: &std::path::Path) -> Option<Mail> {
    let bytes = std::fs::read(path).ok()?;
    let parsed = mailparse::parse_mail(&bytes).ok()?;
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.get_key().eq_ignore_ascii_case(name))
            .map(|h| h.get_value())
            .unwrap_or_default()
    };
    Some(Mail {
        file: path.file_name()?.to_string_lossy().into_owned(),
        to: header("To"),
        subject: header("Subject"),
        date: header("Date"),
        body: parsed.get_body().unwrap_or_default(),
    })
}

/// Newest first. Files are named `<unix time>-<id>.eml`.
fn all_mail(dir: &std::path::Path) -> Vec<Mail> {
    let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.reverse();
    names
        .iter()
        .take(200)
        .filter_map(|p| read_mail(p))
        .collect()
}

#[derive(Template)]
#[template(path = "pages/dev_mail.html")]
struct List {
    layout: Layout,
    mails: Vec<Mail>,
}

async fn list(page: Page) -> Response {
    let mails = match &page.state.config.dev_mail_dir {
        Some(dir) => all_mail(dir),
        None => Vec::new(),
    };
    page.render(
        StatusCode::OK,
        &List {
            layout: page.layout("Development mail"),
            mails,
        },
    )
}

#[derive(Template)]
#[template(path = "pages/dev_mail_message.html")]
struct Show {
    layout: Layout,
    mail: Mail,
}

async fn show(page: Page, Path(file): Path<String>) -> Response {
    let safe = file.ends_with(".eml")
        && file[..file.len() - 4]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'-' || b.is_ascii_digit());
    let mail = match (&page.state.config.dev_mail_dir, safe) {
        (Some(dir), true) => read_mail(&dir.join(&file)),
        _ => None,
    };
    match mail {
        Some(mail) => page.render(
            StatusCode::OK,
            &Show {
                layout: page.layout(mail.subject.clone()),
                mail,
            },
        ),
        None => page.error(app::AppError::NotFound),
    }
}
