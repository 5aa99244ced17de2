//! OAuth tokens as persisted (encrypted) by the store.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// An account's OAuth token set. `Debug` never shows the secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuthToken {
    /// The account (e.g. the Google mailbox address).
    pub account: String,
    /// Access token.
    #[serde(with = "secret_string")]
    pub access_token: SecretString,
    /// Refresh token, if granted.
    #[serde(with = "opt_secret_string", default)]
    pub refresh_token: Option<SecretString>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Set after `invalid_grant`: a human must re-authorise.
    pub needs_reauth: bool,
}

impl std::fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthToken")
            .field("account", &self.account)
            .field("access_token", &"***")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("needs_reauth", &self.needs_reauth)
            .finish()
    }
}

impl PartialEq for OAuthToken {
    fn eq(&self, other: &Self) -> bool {
        self.account == other.account
            && self.access_token.expose_secret() == other.access_token.expose_secret()
            && self.refresh_token.as_ref().map(ExposeSecret::expose_secret)
                == other
                    .refresh_token
                    .as_ref()
                    .map(ExposeSecret::expose_secret)
            && self.expires_at == other.expires_at
            && self.scopes == other.scopes
            && self.needs_reauth == other.needs_reauth
    }
}

mod secret_string {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.expose_secret())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<SecretString, D::Error> {
        Ok(SecretString::from(String::deserialize(de)?))
    }
}

mod opt_secret_string {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(s: &Option<SecretString>, ser: S) -> Result<S::Ok, S::Error> {
        match s {
            Some(s) => ser.serialize_some(s.expose_secret()),
            None => ser.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(de)?.map(SecretString::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let t = OAuthToken {
            account: "me@x.io".into(),
            access_token: SecretString::from("ya29.very-secret"),
            refresh_token: Some(SecretString::from("1//refresh-secret")),
            expires_at: None,
            scopes: vec![],
            needs_reauth: false,
        };
        let dbg = format!("{t:?}");
        assert!(
            !dbg.contains("very-secret") && !dbg.contains("refresh-secret"),
            "{dbg}"
        );
        let json = serde_json::to_string(&t).unwrap();
        let back: OAuthToken = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }
}
