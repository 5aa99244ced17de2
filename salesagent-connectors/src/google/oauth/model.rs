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

/// Reads what a user pasted after the consent screen: the whole redirect URL
/// (`…?code=…&state=…`) or the bare code. A redirect carrying `error=…` (consent refused) is
/// `PermissionDenied`; one whose `state` differs from `expected_state` is `Unauthenticated`
/// (a forged or stale redirect); a missing or malformed code is `InvalidInput`.
///
/// # Errors
/// As above.
pub fn code_from_redirect(pasted: &str, expected_state: &str) -> salesagent_core::Result<String> {
    use salesagent_core::Error;
    let pasted = pasted.trim();
    if pasted.is_empty() {
        return Err(Error::invalid("code", "nothing was pasted"));
    }
    let Ok(url) = url::Url::parse(pasted) else {
        // A bare code: Google's codes are printable ASCII without spaces.
        if pasted.len() > 2048 || !pasted.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::invalid(
                "code",
                "is neither a redirect URL nor a code",
            ));
        }
        return Ok(pasted.to_owned());
    };
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        return Err(Error::PermissionDenied {
            reason: format!("the consent screen answered {error:?}"),
        });
    }
    match param("state") {
        Some(state) if state == expected_state => {}
        Some(_) => {
            return Err(Error::unauthenticated(
                "the redirect's state does not match this authorisation request",
            ));
        }
        None => return Err(Error::invalid("state", "the redirect URL has no state")),
    }
    param("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::invalid("code", "the redirect URL has no code"))
}

#[cfg(test)]
mod tests {
    use super::code_from_redirect;

    #[test]
    fn redirects_and_bare_codes() {
        let url = "http://localhost:8080/oauth/callback?state=s1&code=4%2F0Ab-xyz&scope=a%20b";
        assert_eq!(code_from_redirect(url, "s1").unwrap(), "4/0Ab-xyz");
        assert_eq!(
            code_from_redirect("  4/0Ab-xyz\n", "s1").unwrap(),
            "4/0Ab-xyz"
        );
        let kind = |r: salesagent_core::Result<String>| r.unwrap_err().kind();
        assert_eq!(kind(code_from_redirect(url, "other")), "unauthenticated");
        assert_eq!(
            kind(code_from_redirect(
                "http://x/cb?error=access_denied&state=s1",
                "s1"
            )),
            "permission_denied"
        );
        assert_eq!(
            kind(code_from_redirect("http://x/cb?state=s1", "s1")),
            "invalid_input"
        );
        assert_eq!(
            kind(code_from_redirect("http://x/cb?code=c", "s1")),
            "invalid_input"
        );
        assert_eq!(kind(code_from_redirect("", "s1")), "invalid_input");
        assert_eq!(
            kind(code_from_redirect("a code with spaces", "s1")),
            "invalid_input"
        );
    }
}
