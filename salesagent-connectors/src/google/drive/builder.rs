//! Building a [`GoogleDrive`] from the environment or by hand.

use super::{DEFAULT_BASE_URL, GoogleDrive};
use crate::google::api::{GoogleApi, GoogleApiBuilder};
use crate::http::{HttpService, RateLimit};

/// Builder of [`GoogleDrive`] (see [`GoogleApiBuilder`] for the shared settings).
pub type GoogleDriveBuilder = GoogleApiBuilder<GoogleDrive>;

impl GoogleApi for GoogleDrive {
    const NAME: &'static str = "drive";
    const DEFAULT_BASE_URL: &'static str = DEFAULT_BASE_URL;
    const DEFAULT_RESOURCE: &'static str = "";
    // A conservative client-side pace for Drive's per-user quota.
    const RATE_LIMIT: RateLimit = RateLimit {
        per_second: 10,
        burst: 20,
    };

    fn assemble(http: HttpService, _resource: String) -> Self {
        GoogleDrive { http }
    }
}
