//! Add user (seed 001): the form is only for those who may send it (a refusal
//! is audited); a valid request goes back to the list, which names the person
//! requested.

use app::users::AddUserInput;
use app::{AppError, FieldErrors};
use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::PersonInput;
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::pages::forms::{Errors, PERSON_FIELDS, encode, error_for, summary_in};

#[derive(Template)]
#[template(path = "pages/users/add.html")]
struct AddPage {
    layout: Layout,
    title: String,
    first_name: String,
    last_name: String,
    email: String,
    errors: Errors,
    fields: FieldErrors,
}

impl AddPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

pub(super) async fn add_form(page: Page) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    // The form is only for those who may send it (a refusal is audited).
    if let Err(e) = page
        .state
        .app
        .may_add_users(actor, None, &page.ctx.meta)
        .await
    {
        return page.error(e);
    }
    page.render(
        StatusCode::OK,
        &AddPage {
            layout: page.layout("Add user"),
            title: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            errors: Vec::new(),
            fields: FieldErrors::new(),
        },
    )
}

pub(super) async fn add_submit(form: Form<PersonInput>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let input = AddUserInput {
        title: data.title.clone(),
        first_name: data.first_name.clone(),
        last_name: data.last_name.clone(),
        email: data.email.clone(),
        roles: Vec::new(),
    };
    match page
        .state
        .app
        .request_user(actor, None, &input, &page.ctx.meta)
        .await
    {
        Ok(_) => {
            let name = domain::user::display_name(&data.title, &data.first_name, &data.last_name);
            Redirect::to(&format!("/users?{}", encode(&[("requested", &name)]))).into_response()
        }
        Err(AppError::Invalid(fields)) => {
            page.state
                .app
                .record_refusal(&page.ctx.meta, Some(actor), "users.add", "invalid form")
                .await;
            page.render(
                StatusCode::BAD_REQUEST,
                &AddPage {
                    layout: page.layout("Error: Add user"),
                    title: data.title,
                    first_name: data.first_name,
                    last_name: data.last_name,
                    email: data.email,
                    errors: summary_in(&fields, PERSON_FIELDS),
                    fields,
                },
            )
        }
        Err(e) => page.error(e),
    }
}
