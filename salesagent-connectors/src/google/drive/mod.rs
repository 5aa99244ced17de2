//! Google Drive: the [`Drive`](salesagent_core::ports::Drive) port over Drive v3
//! (`files.list`, `files.get`, `files.export`).

mod builder;
mod client;
pub mod model;

pub use builder::GoogleDriveBuilder;

use crate::http::HttpService;

/// Default API base (Drive's discovery `rootUrl`).
pub const DEFAULT_BASE_URL: &str = "https://www.googleapis.com/";

/// A Google Drive.
#[derive(Debug, Clone)]
pub struct GoogleDrive {
    http: HttpService,
}

impl GoogleDrive {
    /// A builder (see [`GoogleDriveBuilder::from_env`]).
    #[must_use]
    pub fn builder() -> GoogleDriveBuilder {
        GoogleDriveBuilder::default()
    }
}
