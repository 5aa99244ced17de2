//! Gmail: the [`Mailbox`](salesagent_core::ports::Mailbox) port over the Gmail v1 REST API.
//! Messages are read in `raw` format and parsed with `mail-parser` ([`parse`]).

mod builder;
mod client;
pub mod model;
pub mod parse;

pub use builder::GmailBuilder;

use crate::http::HttpService;

/// Default API base (Gmail's discovery `rootUrl`).
pub const DEFAULT_BASE_URL: &str = "https://gmail.googleapis.com/";

/// One Gmail mailbox.
#[derive(Debug, Clone)]
pub struct Gmail {
    http: HttpService,
    user_id: String,
}

impl Gmail {
    /// A builder (see [`GmailBuilder::from_env`]).
    #[must_use]
    pub fn builder() -> GmailBuilder {
        GmailBuilder::default()
    }

    /// The HTTP service (breaker state, base URL).
    #[must_use]
    pub fn http(&self) -> &HttpService {
        &self.http
    }
}
