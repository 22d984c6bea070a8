//! Shared documents (API.md "Collections and submissions"): the documents
//! shared with the caller, publishing one in a communication area (regulator
//! officers), and a document's file. A publish is `multipart/form-data` with
//! exactly one `file` part; a refused upload is answered before its body is
//! read.

use app::AppError;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::returns::{FileView, file_view, rfc3339, upload_refused};
use super::{Caller, refuse};
use crate::error::{ApiError, ApiErrorBody};
use crate::files;
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(list_documents))
        .routes(routes!(publish))
        .routes(routes!(document_file))
}

#[derive(Serialize, ToSchema)]
struct DocumentView {
    id: String,
    area: String,
    area_name: String,
    title: String,
    file: FileView,
    published_at: String,
}

fn document_view(d: &app::records::DocumentRecord, area: &domain::role::Area) -> DocumentView {
    DocumentView {
        id: d.id.to_string(),
        area: area.slug.to_string(),
        area_name: area.name.clone(),
        title: d.title.clone(),
        file: file_view(&d.file),
        published_at: rfc3339(d.published_at),
    }
}

/// The documents shared with the caller's provider (officers: their areas').
#[utoipa::path(get, path = "/documents", tag = "Documents", security(("bearer" = [])),
    responses((status = 200, body = Vec<DocumentView>), (status = 401, body = ApiErrorBody)))]
async fn list_documents(State(state): State<WebState>, caller: Caller) -> Response {
    match state.app.visible_documents(caller.principal()).await {
        Ok(docs) => Json(
            docs.iter()
                .map(|d| document_view(&d.document, &d.area))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

/// Publish a document in a communication area to chosen providers (regulator
/// officers): `title`, `recipients` (organisation ids, repeated) and one `file`.
#[utoipa::path(post, path = "/areas/{slug}/documents", tag = "Documents", security(("bearer" = [])),
    params(("slug" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "`title`, `recipients` (repeated), `file`"),
    responses((status = 201, body = DocumentView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 413, body = ApiErrorBody)))]
async fn publish(
    State(state): State<WebState>,
    caller: Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let meta = &caller.ctx.meta;
    let actor = caller.principal();
    let (area, ticket) = match state.app.prepare_publish(actor, &slug, meta).await {
        Ok(t) => t,
        Err(e) => return ApiError::new(e, meta).into_response(),
    };
    let mut parts = match files::receive(&state.app, &headers, body, &ticket, None).await {
        Ok(p) => p,
        Err(f) => return upload_refused(&state, &caller, ticket.action(), f).await,
    };
    if parts.files.len() != 1 {
        parts.discard().await;
        return refuse(
            &state,
            &caller,
            AppError::invalid("file", "Attach exactly one file"),
        )
        .await;
    }
    let title = parts.field("title").unwrap_or_default().to_owned();
    let recipients = parts.all("recipients");
    let Some(file) = parts.files.pop() else {
        return refuse(
            &state,
            &caller,
            AppError::invalid("file", "Attach exactly one file"),
        )
        .await;
    };
    match state
        .app
        .publish_document(actor, ticket, &title, &recipients, file, meta)
        .await
    {
        Ok(d) => (StatusCode::CREATED, Json(document_view(&d, &area))).into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}

/// A document's file, as an attachment (404 for a provider it was not shared with).
#[utoipa::path(get, path = "/documents/{id}/file", tag = "Documents", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The bytes, Content-Disposition: attachment"),
        (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn document_file(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let meta = &caller.ctx.meta;
    match state.app.open_document(caller.principal(), &id, meta).await {
        Ok((record, reader)) => files::download(&record, reader),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}
