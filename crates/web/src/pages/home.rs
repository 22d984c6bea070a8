//! The signed-in home page: who you are, your organisation, your roles.

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::layout::Layout;
use crate::page::Page;
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new().route("/home", get(home))
}

struct RoleRow {
    name: String,
    description: String,
}

#[derive(Template)]
#[template(path = "pages/home.html")]
struct Home {
    layout: Layout,
    name: String,
    email: String,
    organisation: String,
    ukprn: String,
    kind: &'static str,
    roles: Vec<RoleRow>,
}

async fn home(page: Page) -> Response {
    let Some(p) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let kind = match p.organisation.kind {
        domain::OrganisationKind::Regulator => "Regulator",
        domain::OrganisationKind::Provider => "Provider",
    };
    let view = Home {
        layout: page.layout("Home"),
        name: p.display_name(),
        email: p.user.email.to_string(),
        organisation: p.organisation.name.clone(),
        ukprn: p
            .organisation
            .ukprn
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_default(),
        kind,
        roles: p
            .roles
            .iter()
            .map(|r| RoleRow {
                name: r.name(),
                description: r.description(),
            })
            .collect(),
    };
    page.render(StatusCode::OK, &view)
}
