//! Object storage (issue 14): the file store `PORTAL_FILES_URL` names.

use std::sync::Arc;

use app::files::ObjectFileStore;

use crate::{Config, ConfigError};

/// The configured store: `file:///dir` (by default `PORTAL_FILES_DIR`) or
/// `s3://bucket/prefix` with the standard `AWS_*` variables; uploads to a
/// bucket are received and checked in `<PORTAL_FILES_DIR>/incoming`.
pub fn file_store(config: &Config) -> Result<Arc<ObjectFileStore>, ConfigError> {
    let store =
        ObjectFileStore::from_url(&config.files_url(), config.files_dir.join("incoming"), &[])
            .map_err(|e| ConfigError::Refused(format!("PORTAL_FILES_URL: {e}")))?;
    Ok(Arc::new(store))
}
