//! One-click unsubscribe links (RFC 8058): unforgeable tokens, the server secret they are keyed
//! with, the link base, and the check of the one-click POST body.
//!
//! A token is `base64url(draft id ‖ HMAC-SHA256(secret, "salesagent/unsubscribe/v1" ‖ draft id ‖
//! lower-cased address)[..16])`: 43 URL-safe characters without the address in plain. Whoever
//! serves the link looks the draft up by the id in the token and verifies the MAC against the
//! draft's contact address, so a token for an erased draft (or one whose address changed) fails
//! closed, and nobody without the secret can make a token for another address or draft.

use crate::model::{Draft, DraftId, EmailAddress};
use crate::ports::SettingsStore;
use crate::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::fmt;

/// Setting key under which a generated secret is kept, so restarts keep old links valid.
pub const SECRET_SETTING_KEY: &str = "unsubscribe.secret";
/// Shortest accepted secret, in bytes.
pub const MIN_SECRET_LEN: usize = 16;
/// Bytes of the MAC kept in a token (128 bits).
pub const TAG_LEN: usize = 16;
/// Length of an encoded token: base64url without padding of the 16-byte id and the tag.
pub const TOKEN_LEN: usize = 43;
/// The path the links point at, below the public URL: `{public_url}/unsubscribe/{token}`.
pub const UNSUBSCRIBE_PATH: &str = "/unsubscribe/";
/// The one-click POST body (RFC 8058 §3.1), as a form field `name=value`.
pub const ONE_CLICK_BODY: &str = "List-Unsubscribe=One-Click";
/// Longest accepted public base URL, in bytes.
pub const MAX_BASE_URL_LEN: usize = 400;

/// Domain separation of the MAC input, so the secret is never usable for another purpose's MAC.
const MAC_CONTEXT: &[u8] = b"salesagent/unsubscribe/v1\0";

/// The server secret unsubscribe tokens are keyed with. `Debug` prints `***`.
#[derive(Clone)]
pub struct UnsubscribeSecret(SecretString);

impl UnsubscribeSecret {
    /// A secret from configured text (surrounding whitespace ignored).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `unsubscribe_secret`) when shorter than
    /// [`MIN_SECRET_LEN`] bytes.
    pub fn new(secret: &SecretString) -> Result<Self> {
        let s = secret.expose_secret().trim();
        if s.len() < MIN_SECRET_LEN {
            return Err(Error::invalid(
                "unsubscribe_secret",
                format!("must be at least {MIN_SECRET_LEN} bytes"),
            ));
        }
        Ok(Self(SecretString::from(s.to_owned())))
    }

    /// A fresh random secret (256 bits from the OS random source, hex).
    #[must_use]
    pub fn generate() -> Self {
        let text = format!(
            "{}{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Self(SecretString::from(text))
    }

    fn mac(&self, draft_id: DraftId, email: &EmailAddress) -> Hmac<Sha256> {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(MAC_CONTEXT);
        mac.update(draft_id.as_uuid().as_bytes());
        mac.update(email.normalized().as_bytes());
        mac
    }
}

impl fmt::Debug for UnsubscribeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnsubscribeSecret(***)")
    }
}

impl PartialEq for UnsubscribeSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl Eq for UnsubscribeSecret {}

/// The secret to key tokens with: `configured` when given (`SALESAGENT_UNSUBSCRIBE_SECRET`),
/// else the one kept in the store's settings under [`SECRET_SETTING_KEY`], generated and stored
/// on first use. After storing, the setting is read back and that value used, so processes that
/// start together converge on one secret (set the variable to rule out even that race).
///
/// # Errors
/// [`Error::InvalidInput`] for a configured secret shorter than [`MIN_SECRET_LEN`]; store errors.
pub async fn load_or_create_secret(
    store: &dyn SettingsStore,
    configured: Option<&SecretString>,
) -> Result<UnsubscribeSecret> {
    if let Some(s) = configured {
        return UnsubscribeSecret::new(s);
    }
    let stored =
        |v: Option<String>| v.and_then(|v| UnsubscribeSecret::new(&SecretString::from(v)).ok());
    if let Some(s) = stored(store.setting(SECRET_SETTING_KEY).await?) {
        return Ok(s);
    }
    let fresh = UnsubscribeSecret::generate();
    store
        .put_setting(SECRET_SETTING_KEY, fresh.0.expose_secret())
        .await?;
    Ok(stored(store.setting(SECRET_SETTING_KEY).await?).unwrap_or(fresh))
}

/// An unsubscribe token: the draft id and a MAC over it and the recipient's address.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UnsubscribeToken {
    draft_id: DraftId,
    tag: [u8; TAG_LEN],
}

impl UnsubscribeToken {
    /// The token for `email` on draft `draft_id` under `secret`.
    #[must_use]
    pub fn mint(secret: &UnsubscribeSecret, draft_id: DraftId, email: &EmailAddress) -> Self {
        let full = secret.mac(draft_id, email).finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        Self { draft_id, tag }
    }

    /// The token for `draft`'s contact.
    #[must_use]
    pub fn for_draft(secret: &UnsubscribeSecret, draft: &Draft) -> Self {
        Self::mint(secret, draft.id, &draft.contact_email)
    }

    /// Parses an encoded token. Says nothing about whether it is genuine: see
    /// [`UnsubscribeToken::verify`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `unsubscribe_token`) for anything but [`TOKEN_LEN`]
    /// canonical base64url characters.
    pub fn parse(text: &str) -> Result<Self> {
        let malformed = || Error::invalid("unsubscribe_token", "malformed");
        if text.len() != TOKEN_LEN {
            return Err(malformed());
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map_err(|_| malformed())?;
        let (id, tag) = bytes.split_at_checked(16).ok_or_else(malformed)?;
        let id: [u8; 16] = id.try_into().map_err(|_| malformed())?;
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| malformed())?;
        Ok(Self {
            draft_id: DraftId(uuid::Uuid::from_bytes(id)),
            tag,
        })
    }

    /// The draft the token names (not yet verified).
    #[must_use]
    pub fn draft_id(&self) -> DraftId {
        self.draft_id
    }

    /// Checks, in constant time, that the token was minted under `secret` for `email` on its
    /// draft.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] when it was not.
    pub fn verify(&self, secret: &UnsubscribeSecret, email: &EmailAddress) -> Result<()> {
        secret
            .mac(self.draft_id, email)
            .verify_truncated_left(&self.tag)
            .map_err(|_| Error::PermissionDenied {
                reason: "unsubscribe token does not match".into(),
            })
    }

    /// The token as it appears in the link.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 16 + TAG_LEN];
        bytes[..16].copy_from_slice(self.draft_id.as_uuid().as_bytes());
        bytes[16..].copy_from_slice(&self.tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

impl fmt::Display for UnsubscribeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl fmt::Debug for UnsubscribeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsubscribeToken")
            .field("draft_id", &self.draft_id)
            .finish_non_exhaustive()
    }
}

/// One-click links on our own host: `{base}/unsubscribe/{token}` under a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneClick {
    base: String,
    secret: UnsubscribeSecret,
}

impl OneClick {
    /// Links below `public_url` (`https://leads.example.com`, optionally with a path prefix; a
    /// trailing `/` is ignored).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `public_url`) unless it is an `https://` URL of printable
    /// ASCII without spaces, quotes, commas, angle brackets, query or fragment, at most
    /// [`MAX_BASE_URL_LEN`] bytes (RFC 8058 needs an HTTPS URI).
    pub fn new(public_url: &str, secret: UnsubscribeSecret) -> Result<Self> {
        let err = |reason: &str| Error::invalid("public_url", reason.to_owned());
        let base = public_url.trim().trim_end_matches('/');
        let Some(rest) = base.strip_prefix("https://") else {
            return Err(err(
                "must be an https:// URL for one-click unsubscribe (RFC 8058)",
            ));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(err("has no host"));
        }
        if base.len() > MAX_BASE_URL_LEN {
            return Err(err("is too long"));
        }
        if base
            .chars()
            .any(|c| !c.is_ascii_graphic() || matches!(c, '<' | '>' | '"' | ',' | '?' | '#'))
        {
            return Err(err(
                "must be printable ASCII without spaces, quotes, commas, angle brackets, query or fragment",
            ));
        }
        Ok(Self {
            base: base.to_owned(),
            secret,
        })
    }

    /// The base URL, without a trailing `/`.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The secret tokens are keyed with.
    #[must_use]
    pub fn secret(&self) -> &UnsubscribeSecret {
        &self.secret
    }

    /// The one-click URL for `draft`'s contact.
    #[must_use]
    pub fn url(&self, draft: &Draft) -> String {
        format!(
            "{}{UNSUBSCRIBE_PATH}{}",
            self.base,
            UnsubscribeToken::for_draft(&self.secret, draft)
        )
    }
}

/// Whether a POST body is the RFC 8058 one-click request: a form field `List-Unsubscribe` with
/// value `One-Click`, sent as `application/x-www-form-urlencoded` (also assumed when there is
/// no content type) or `multipart/form-data`. Other fields are allowed; nothing here panics on
/// hostile input.
#[must_use]
pub fn is_one_click_body(content_type: Option<&str>, body: &[u8]) -> bool {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match media.as_deref() {
        None | Some("application/x-www-form-urlencoded") => urlencoded_one_click(body),
        Some("multipart/form-data") => content_type
            .and_then(boundary)
            .is_some_and(|b| multipart_one_click(&b, body)),
        Some(_) => false,
    }
}

fn urlencoded_one_click(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').any(|pair| {
        let mut kv = pair.splitn(2, |b| *b == b'=');
        let key = kv.next().map(percent_decode);
        let value = kv.next().map(percent_decode);
        key.as_deref() == Some(b"List-Unsubscribe".as_slice())
            && value
                .as_deref()
                .is_some_and(|v| v.trim_ascii() == b"One-Click")
    })
}

/// `application/x-www-form-urlencoded` decoding of one name or value (`+` is a space; a bad
/// `%` escape is kept literally).
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let pair = s
                    .get(i + 1)
                    .copied()
                    .and_then(hex)
                    .zip(s.get(i + 2).copied().and_then(hex));
                if let Some((hi, lo)) = pair {
                    #[allow(clippy::cast_possible_truncation)] // two hex digits fit a byte
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The `boundary` parameter of a multipart content type (quotes removed).
fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 200).then(|| v.to_owned())
    })
}

fn multipart_one_click(boundary: &str, body: &[u8]) -> bool {
    let delimiter = format!("--{boundary}");
    split_on(body, delimiter.as_bytes())
        .into_iter()
        .any(|part| {
            let Some((head, value)) =
                split_once_on(part, b"\r\n\r\n").or_else(|| split_once_on(part, b"\n\n"))
            else {
                return false;
            };
            let head = String::from_utf8_lossy(head);
            let named = head.lines().any(|line| {
                let Some((name, rest)) = line.split_once(':') else {
                    return false;
                };
                name.trim().eq_ignore_ascii_case("content-disposition")
                    && rest.split(';').skip(1).any(|p| {
                        p.split_once('=').is_some_and(|(k, v)| {
                            k.trim().eq_ignore_ascii_case("name")
                                && v.trim().trim_matches('"') == "List-Unsubscribe"
                        })
                    })
            });
            named && value.trim_ascii() == b"One-Click"
        })
}

fn split_on<'a>(haystack: &'a [u8], needle: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = haystack;
    while let Some((a, b)) = split_once_on(rest, needle) {
        parts.push(a);
        rest = b;
    }
    parts.push(rest);
    parts
}

fn split_once_on<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    if needle.is_empty() {
        return None;
    }
    let i = haystack.windows(needle.len()).position(|w| w == needle)?;
    Some((&haystack[..i], &haystack[i + needle.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> UnsubscribeSecret {
        UnsubscribeSecret::new(&SecretString::from(s.to_owned())).unwrap()
    }

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    #[test]
    fn tokens_round_trip_and_verify() {
        let k = secret("0123456789abcdef-server-secret");
        let id = DraftId::new();
        let t = UnsubscribeToken::mint(&k, id, &addr("Jane.Doe@Acme.io"));
        let text = t.encode();
        assert_eq!(text.len(), TOKEN_LEN);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(!text.to_lowercase().contains("jane"));
        let back = UnsubscribeToken::parse(&text).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.draft_id(), id);
        back.verify(&k, &addr("jane.doe@acme.io")).unwrap();
        back.verify(&k, &addr("JANE.DOE@ACME.IO")).unwrap();
        // Deterministic per (secret, draft, address).
        assert_eq!(UnsubscribeToken::mint(&k, id, &addr("jane.doe@acme.io")), t);
    }

    #[test]
    fn forged_and_foreign_tokens_are_refused() {
        let k = secret("0123456789abcdef-server-secret");
        let other = secret("another-secret-of-enough-length");
        let id = DraftId::new();
        let jane = addr("jane@acme.io");
        let t = UnsubscribeToken::mint(&k, id, &jane);
        let denied = |r: Result<()>| matches!(r, Err(Error::PermissionDenied { .. }));
        assert!(denied(t.verify(&other, &jane)), "other secret");
        assert!(denied(t.verify(&k, &addr("bob@acme.io"))), "other address");
        // The tag moved onto another draft id.
        let mut bytes = URL_SAFE_NO_PAD.decode(t.encode()).unwrap();
        bytes[..16].copy_from_slice(DraftId::new().as_uuid().as_bytes());
        let moved = UnsubscribeToken::parse(&URL_SAFE_NO_PAD.encode(&bytes)).unwrap();
        assert!(denied(moved.verify(&k, &jane)), "other draft");
        // Every single flipped tag bit.
        for i in 16..bytes.len() {
            let mut b = URL_SAFE_NO_PAD.decode(t.encode()).unwrap();
            b[i] ^= 1;
            let forged = UnsubscribeToken::parse(&URL_SAFE_NO_PAD.encode(&b)).unwrap();
            assert!(denied(forged.verify(&k, &jane)), "bit flip at {i}");
        }
        // A token minted with an all-zero tag.
        let zero = UnsubscribeToken {
            draft_id: id,
            tag: [0; TAG_LEN],
        };
        assert!(denied(zero.verify(&k, &jane)));
    }

    #[test]
    fn hostile_token_text_is_a_typed_error() {
        let k = secret("0123456789abcdef-server-secret");
        let good = UnsubscribeToken::mint(&k, DraftId::new(), &addr("a@b.co")).encode();
        let truncated = &good[..TOKEN_LEN - 1];
        let long = format!("{good}A");
        let padded = format!("{}=", &good[..TOKEN_LEN - 1]);
        let standard = good.replace('-', "+").replace('_', "/");
        let mut non_canonical = good.clone().into_bytes();
        // The last character carries 2 unused bits, which must be zero: set one.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let pos = alphabet
            .iter()
            .position(|c| *c == non_canonical[TOKEN_LEN - 1])
            .unwrap();
        non_canonical[TOKEN_LEN - 1] = alphabet[pos | 1];
        let non_canonical = String::from_utf8(non_canonical).unwrap();
        let multibyte = "é".repeat(21) + "A";
        for bad in [
            "",
            truncated,
            long.as_str(),
            padded.as_str(),
            "../../../../etc/passwd/../../../../../../..",
            "%00%00%00%00%00%00%00%00%00%00%00%00%00%00",
            multibyte.as_str(),
            non_canonical.as_str(),
            "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r",
        ] {
            let r = UnsubscribeToken::parse(bad);
            assert!(
                matches!(r, Err(Error::InvalidInput { ref field, .. }) if field == "unsubscribe_token"),
                "{bad:?}: {r:?}"
            );
        }
        if standard != good {
            assert!(UnsubscribeToken::parse(&standard).is_err());
        }
    }

    #[test]
    fn secrets_are_checked_and_redacted() {
        assert!(matches!(
            UnsubscribeSecret::new(&SecretString::from("short".to_owned())),
            Err(Error::InvalidInput { .. })
        ));
        let k = secret("0123456789abcdef-server-secret");
        assert_eq!(format!("{k:?}"), "UnsubscribeSecret(***)");
        let link = OneClick::new("https://x.dev", k.clone()).unwrap();
        assert!(!format!("{link:?}").contains("server-secret"));
        assert_ne!(UnsubscribeSecret::generate(), UnsubscribeSecret::generate());
    }

    #[test]
    fn one_click_base_urls() {
        let k = secret("0123456789abcdef-server-secret");
        let ok = OneClick::new("https://leads.example.com/sa/", k.clone()).unwrap();
        assert_eq!(ok.base(), "https://leads.example.com/sa");
        for bad in [
            "http://leads.example.com",
            "https://",
            "https:///path",
            "https://x.dev/a b",
            "https://x.dev/?q=1",
            "https://x.dev/#f",
            "https://x.dev/\r\nBcc: a@b.c",
            "https://x.dev/<x>",
        ] {
            assert!(
                matches!(OneClick::new(bad, k.clone()), Err(Error::InvalidInput { ref field, .. }) if field == "public_url"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn one_click_bodies() {
        let form = Some("application/x-www-form-urlencoded");
        assert!(is_one_click_body(form, b"List-Unsubscribe=One-Click"));
        assert!(is_one_click_body(None, b"List-Unsubscribe=One-Click"));
        assert!(is_one_click_body(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"a=b&List-Unsubscribe=One-Click&c"
        ));
        assert!(is_one_click_body(form, b"List%2DUnsubscribe=One%2DClick"));
        for bad in [
            &b""[..],
            b"List-Unsubscribe",
            b"List-Unsubscribe=",
            b"List-Unsubscribe=Two-Click",
            b"list-unsubscribe=one-click",
            b"%",
            b"%%%%=%%%",
            b"\xff\xfe=\x00",
        ] {
            assert!(!is_one_click_body(form, bad), "{bad:?}");
        }
        assert!(!is_one_click_body(
            Some("application/json"),
            b"List-Unsubscribe=One-Click"
        ));

        let multipart = "multipart/form-data; boundary=\"XyZ\"";
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
        assert!(is_one_click_body(Some(multipart), body));
        let wrong = b"--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nNope\r\n--XyZ--\r\n";
        assert!(!is_one_click_body(Some(multipart), wrong));
        assert!(!is_one_click_body(Some("multipart/form-data"), body));
        assert!(!is_one_click_body(
            Some("multipart/form-data; boundary="),
            body
        ));
        assert!(!is_one_click_body(Some(multipart), b"--XyZ--XyZ\r\n\r\n"));
    }

    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn the_generated_secret_is_kept_in_the_settings() {
        use crate::testing::MemoryStore;
        let store = MemoryStore::new(std::sync::Arc::new(crate::testing::ManualClock::new(
            crate::testing::ManualClock::default_start(),
        )));
        let a = load_or_create_secret(&store, None).await.unwrap();
        let b = load_or_create_secret(&store, None).await.unwrap();
        assert_eq!(a, b, "restarts keep old links valid");
        let configured = SecretString::from("configured-secret-0123456789".to_owned());
        let c = load_or_create_secret(&store, Some(&configured))
            .await
            .unwrap();
        assert_ne!(a, c);
        assert!(
            load_or_create_secret(&store, Some(&SecretString::from("x".to_owned())))
                .await
                .is_err()
        );
    }
}
