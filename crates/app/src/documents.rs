//! Documents the regulator shares in communication areas (PRODUCT §6, seed 000:
//! "each time we want to communicate confidential information … we set up a
//! portal area").
//!
//! A document goes to chosen providers only; another provider's people get
//! 404 for it. A sensitive area's documents need its key-granted role.

use domain::authz::Denial;
use domain::collection::{self, Work};
use domain::role::Area;
use domain::{OrgId, OrganisationKind};
use store::{DocumentRecord, FileRecord};

use crate::collections::UploadTicket;
use crate::files::Received;
use crate::permit::{self, Refusal};
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta};

/// A document with its area, as someone may see it.
#[derive(Debug, Clone)]
pub struct VisibleDocument {
    pub document: DocumentRecord,
    pub area: Area,
}

impl App {
    /// Step one of publishing: may `actor` publish in this communication area?
    /// Nothing is read from a refused request.
    pub async fn prepare_publish(
        &self,
        actor: &Principal,
        area: &str,
        meta: &RequestMeta,
    ) -> AppResult<(Area, UploadTicket)> {
        const ACTION: &str = "documents.publish";
        let area = self.area(actor, area, meta).await?;
        let decision = permit::publish(actor, &area, self.settings.max_upload_bytes, ACTION);
        let ticket = self.permitted(meta, Some(actor), decision).await?;
        Ok((area, ticket))
    }

    /// A document's title and providers as given: the title trimmed, the
    /// providers chosen, and what is wrong with either (nothing: empty). Also
    /// asked when no file came, so that one submit reports every mistake.
    pub async fn document_details<'t>(
        &self,
        title: &'t str,
        recipients: &[String],
    ) -> AppResult<(&'t str, Vec<OrgId>, FieldErrors)> {
        let mut errors = FieldErrors::new();
        let title = title.trim();
        if title.is_empty() {
            errors.insert("title", "Enter the document's title".into());
        } else if title.chars().count() > 200 || title.chars().any(char::is_control) {
            errors.insert("title", "The title must be 200 characters or fewer".into());
        }
        let mut orgs: Vec<OrgId> = Vec::new();
        for r in recipients {
            let found = match r.trim().parse::<OrgId>() {
                Ok(id) => self.store.organisation(id).await?,
                Err(_) => None,
            };
            match found {
                Some(o) if o.kind == OrganisationKind::Provider => {
                    if !orgs.contains(&o.id) {
                        orgs.push(o.id);
                    }
                }
                _ => {
                    errors.insert("recipients", "Select providers from the list".into());
                }
            }
        }
        if orgs.is_empty() && !errors.contains_key("recipients") {
            errors.insert("recipients", "Select at least one provider".into());
        }
        Ok((title, orgs, errors))
    }

    /// Step two: keeps the received file and shares it with `recipients`.
    pub async fn publish_document(
        &self,
        actor: &Principal,
        ticket: UploadTicket,
        title: &str,
        recipients: &[String],
        (received, filename): (Received, String),
        meta: &RequestMeta,
    ) -> AppResult<DocumentRecord> {
        if ticket.on().window.is_some() {
            received.discard().await;
            return Err(AppError::internal(
                "a window's upload permit offered for a document",
            ));
        }
        let area = &ticket.on().area;
        let (title, orgs, errors) = match self.document_details(title, recipients).await {
            Ok(d) => d,
            Err(e) => {
                received.discard().await;
                return Err(e);
            }
        };
        if !errors.is_empty() {
            received.discard().await;
            return Err(AppError::Invalid(errors));
        }
        let now = self.clock.now();
        let file = FileRecord {
            id: uuid::Uuid::new_v4(),
            storage_key: uuid::Uuid::new_v4().to_string(),
            filename: collection::display_filename(&filename),
            kind: received.kind,
            size: received.size as i64,
            sha256: received.sha256.to_vec(),
            uploaded_by: actor.user.id,
            uploaded_at: now,
        };
        let document = DocumentRecord {
            id: uuid::Uuid::new_v4(),
            area: area.slug.clone(),
            title: title.to_owned(),
            file,
            published_by: actor.user.id,
            published_at: now,
            recipients: orgs,
        };
        let detail = format!(
            "{} to {} providers sha256={}",
            area.slug,
            document.recipients.len(),
            hex::encode(&document.file.sha256)
        );
        // The file goes to the store first; the change names it, or it is
        // removed again (files::Kept).
        let key = document.file.storage_key.as_str();
        let stored =
            crate::files::Kept::put(self.files.as_ref(), &[(key, received.path.as_path())])
                .await
                .map_err(|e| AppError::internal(format!("file store: {e}")))?;
        let done = self
            .change(meta, Some(actor), async |u| {
                u.tx().insert_file(&document.file).await?;
                u.tx().insert_document(&document).await?;
                u.audit(&ticket, Some(document.id.to_string()), &detail)
                    .await?;
                Ok(u.done(&ticket, document.clone()))
            })
            .await;
        stored.settle(done).await
    }

    /// The documents `actor` may read: a provider's, those shared with it in
    /// areas they may read; an officer's, those of their areas.
    pub async fn visible_documents(&self, actor: &Principal) -> AppResult<Vec<VisibleDocument>> {
        let areas = self.store.areas().await?;
        let org = actor.organisation.id;
        let scope = (actor.organisation.kind == OrganisationKind::Provider).then_some(org);
        Ok(self
            .store
            .documents(scope)
            .await?
            .into_iter()
            .filter_map(|document| {
                let area = areas.iter().find(|a| a.slug == document.area)?.clone();
                permit::may_work(actor, &area, org, Work::ReadDocuments)
                    .then_some(VisibleDocument { document, area })
            })
            .collect())
    }

    /// A document's file, if `actor` may read it (404 otherwise); audited.
    pub async fn open_document(
        &self,
        actor: &Principal,
        id: &str,
        meta: &RequestMeta,
    ) -> AppResult<(FileRecord, Box<dyn tokio::io::AsyncRead + Send + Unpin>)> {
        const ACTION: &str = "documents.download";
        let found = match id.parse::<uuid::Uuid>() {
            Ok(id) => self.store.document(id).await?,
            Err(_) => None,
        };
        let target = Some(id.chars().take(40).collect::<String>());
        let Some(document) = found else {
            let refusal = Refusal::denied(ACTION, target, Denial::NotFound);
            return Err(self.refused(meta, Some(actor), refusal).await);
        };
        let Some(area) = self
            .store
            .areas()
            .await?
            .into_iter()
            .find(|a| a.slug == document.area)
        else {
            return Err(AppError::internal("document of a missing area"));
        };
        let decision = permit::read_document(actor, &area, &document, ACTION)
            .map_err(|r| Refusal { target, ..r });
        let permit = self.permitted(meta, Some(actor), decision).await?;
        self.open_audited(actor, &permit, document.file, meta).await
    }
}
