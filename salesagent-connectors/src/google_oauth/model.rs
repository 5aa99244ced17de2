//! Values handed to the application during the OAuth flow.

use secrecy::SecretString;

/// Where to send the user, and what to keep until the callback. `Debug` hides the verifier.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// The Google consent URL (with PKCE challenge, state, offline access).
    pub url: url::Url,
    /// The CSRF `state`: compare it with the one on the redirect.
    pub state: String,
    /// The PKCE verifier: keep it server-side and pass it to the code exchange.
    pub pkce_verifier: SecretString,
}

/// Default Google endpoints.
pub mod endpoints {
    /// Authorization endpoint.
    pub const AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
    /// Token endpoint.
    pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
}

/// Scopes the connectors need.
pub mod scopes {
    /// Read, compose, send Gmail (includes drafts and history).
    pub const GMAIL_MODIFY: &str = "https://www.googleapis.com/auth/gmail.modify";
    /// Read Drive files.
    pub const DRIVE_READONLY: &str = "https://www.googleapis.com/auth/drive.readonly";
    /// Read and write calendar events (holds).
    pub const CALENDAR_EVENTS: &str = "https://www.googleapis.com/auth/calendar.events";
    /// Free/busy.
    pub const CALENDAR_FREEBUSY: &str = "https://www.googleapis.com/auth/calendar.freebusy";
    /// Everything salesagent uses.
    pub const ALL: &[&str] = &[
        GMAIL_MODIFY,
        DRIVE_READONLY,
        CALENDAR_EVENTS,
        CALENDAR_FREEBUSY,
    ];
}
