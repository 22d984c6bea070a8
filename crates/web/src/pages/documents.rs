//! Shared documents (PRODUCT §6): the documents a person may read, publishing
//! one in a communication area to chosen providers (regulator officers), and
//! downloading its file.
//!
//! Upload forms are `multipart/form-data` whose first field is the form token:
//! a request without the right token is refused before any file is read.

use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use domain::collection::Work;
use domain::role::AreaKind;

use super::forms::{Errors, error_for, first, pairs, summary_in};
use super::returns::{upload_problem, when};
use crate::files;
use crate::layout::Layout;
use crate::page::Page;
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/documents", get(documents))
        .route("/documents/publish/{area}", get(publish_form).post(publish))
        .route("/documents/{id}/file", get(document_file))
}

struct DocumentRow {
    title: String,
    area: String,
    href: String,
    name: String,
    sha256: String,
    published: String,
}

#[derive(Template)]
#[template(path = "pages/collections/documents.html")]
struct DocumentsPage {
    layout: Layout,
    documents: Vec<DocumentRow>,
    areas: Vec<(String, String)>,
    published: bool,
}

async fn documents(page: Page, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let docs = match app.visible_documents(actor).await {
        Ok(d) => d,
        Err(e) => return page.error(e),
    };
    let areas: Vec<(String, String)> = match app.areas().await {
        Ok(a) => a
            .into_iter()
            .filter(|a| a.kind == AreaKind::Communication)
            .filter(|a| app::permit::may_work(actor, a, actor.organisation.id, Work::Publish))
            .map(|a| (a.slug.to_string(), a.name))
            .collect(),
        Err(e) => return page.error(e),
    };
    let view = DocumentsPage {
        layout: page.layout("Documents"),
        documents: docs
            .iter()
            .map(|d| DocumentRow {
                title: d.document.title.clone(),
                area: d.area.name.clone(),
                href: format!("/documents/{}/file", d.document.id),
                name: d.document.file.filename.clone(),
                sha256: hex::encode(&d.document.file.sha256),
                published: when(d.document.published_at),
            })
            .collect(),
        areas,
        published: first(&pairs(raw), "published").is_some(),
    };
    page.render(StatusCode::OK, &view)
}

#[derive(Template)]
#[template(path = "pages/collections/publish.html")]
struct PublishPage {
    layout: Layout,
    slug: String,
    area: String,
    title: String,
    providers: Vec<(String, String, bool)>,
    errors: Errors,
    fields: FieldErrors,
}

impl PublishPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

async fn publish_page(
    page: &Page,
    area: &domain::role::Area,
    status: StatusCode,
    title: String,
    chosen: &[String],
    fields: FieldErrors,
) -> Response {
    let providers: Vec<(String, String, bool)> = match page.state.app.providers().await {
        Ok(orgs) => orgs
            .into_iter()
            .map(|o| {
                let id = o.id.to_string();
                let picked = chosen.contains(&id);
                (id, o.name, picked)
            })
            .collect(),
        Err(e) => return page.error(e),
    };
    let first_provider = providers.first().map(|(id, _, _)| id.clone());
    let view = PublishPage {
        layout: page.layout(if fields.is_empty() {
            format!("Publish a document: {}", area.name)
        } else {
            format!("Error: Publish a document: {}", area.name)
        }),
        slug: area.slug.to_string(),
        area: area.name.clone(),
        title,
        providers,
        errors: summary_in(&fields, &["title", "recipients", "file"])
            .into_iter()
            .map(|(message, href)| {
                // The providers' error leads to the first checkbox.
                let href = match (href.as_str(), &first_provider) {
                    ("#recipients", Some(id)) => format!("#recipients-{id}"),
                    _ => href,
                };
                (message, href)
            })
            .collect(),
        fields,
    };
    page.render(status, &view)
}

async fn publish_form(page: Page, Path(area): Path<String>) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .prepare_publish(actor, &area, &page.ctx.meta)
        .await
    {
        Ok((area, _)) => {
            publish_page(
                &page,
                &area,
                StatusCode::OK,
                String::new(),
                &[],
                FieldErrors::new(),
            )
            .await
        }
        Err(e) => page.error(e),
    }
}

async fn publish(page: Page, Path(area): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let meta = &page.ctx.meta;
    let (area, ticket) = match app.prepare_publish(actor, &area, meta).await {
        Ok(t) => t,
        Err(e) => return page.error(e),
    };
    let token = page.csrf_token();
    let mut parts = match files::receive(app, &headers, body, &ticket, Some(&token)).await {
        Ok(p) => p,
        Err(f) => {
            app.record_refusal(meta, Some(actor), "documents.publish", &f.detail())
                .await;
            let (status, why) = upload_problem(&f);
            let mut fields = FieldErrors::new();
            fields.insert("file", why);
            return publish_page(&page, &area, status, String::new(), &[], fields).await;
        }
    };
    let title = parts.field("title").unwrap_or_default().to_owned();
    let recipients = parts.all("recipients");
    let Some(file) = parts.files.pop() else {
        app.record_refusal(meta, Some(actor), "documents.publish", "no file")
            .await;
        // Every mistake at once: the title's and the providers' too.
        let mut fields = match app.document_details(&title, &recipients).await {
            Ok((_, _, fields)) => fields,
            Err(e) => return page.error(e),
        };
        fields.insert("file", "Select the document to publish".into());
        return publish_page(
            &page,
            &area,
            StatusCode::BAD_REQUEST,
            title,
            &recipients,
            fields,
        )
        .await;
    };
    parts.discard().await;
    match app
        .publish_document(actor, ticket, &title, &recipients, file, meta)
        .await
    {
        Ok(_) => Redirect::to("/documents?published=1").into_response(),
        Err(AppError::Invalid(fields)) => {
            app.record_refusal(meta, Some(actor), "documents.publish", "invalid form")
                .await;
            publish_page(
                &page,
                &area,
                StatusCode::BAD_REQUEST,
                title,
                &recipients,
                fields,
            )
            .await
        }
        Err(e) => page.error(e),
    }
}

async fn document_file(page: Page, Path(id): Path<String>) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .open_document(actor, &id, &page.ctx.meta)
        .await
    {
        Ok((record, reader)) => files::download(&record, reader),
        Err(e) => page.error(e),
    }
}
