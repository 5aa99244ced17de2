//! Encryption at rest and blind indexes.
//!
//! Sealed values are text so they fit a `TEXT` column on both backends:
//! - `e1:<key id>:<base64(nonce || ciphertext)>`: XChaCha20-Poly1305 with a random 192-bit
//!   nonce; the associated data binds the value to its table and row, so a ciphertext copied
//!   into another row does not open.
//! - `p:<plaintext>`: written only when no key is configured. With a key configured such a
//!   value is an error when read (whoever can write the database must not be able to plant an
//!   unauthenticated value); `cli keys encrypt` seals them in place.
//! - `d1:<base64(nonce || ciphertext)>`: sealed under a per-contact data key (audit details);
//!   the data key is stored wrapped by the master key in `contact_keys`, so deleting that row
//!   makes every value sealed under it unrecoverable (crypto-shredding).
//!
//! Blind indexes are HMAC-SHA256 of a normalised value under a key derived from the encryption
//! key, so an e-mail address can be looked up without being stored in the clear.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use salesagent_core::encoding::{from_hex, to_hex};
use salesagent_core::{Error, Result};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};

/// Name of the environment variable holding the encryption key.
pub const ENCRYPTION_KEY_ENV: &str = "SALESAGENT_ENCRYPTION_KEY";

/// Key id recorded for the blind index when no key is configured.
pub(crate) const NO_KEY_ID: &str = "none";

const SEALED_PREFIX: &str = "e1:";
const PLAIN_PREFIX: &str = "p:";
/// Prefix of a value sealed under a data key (see [`Crypto::seal_with`]).
pub(crate) const DATA_PREFIX: &str = "d1:";

/// A 256-bit encryption key. `Debug` shows only its id.
#[derive(Clone)]
pub struct EncryptionKey {
    bytes: std::sync::Arc<SecretBox<[u8; 32]>>,
    id: String,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .field("bytes", &"***")
            .finish()
    }
}

impl EncryptionKey {
    /// A key from 32 raw bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"salesagent key id v1");
        h.update(bytes);
        let id = to_hex(&h.finalize()[..8]);
        Self {
            bytes: std::sync::Arc::new(SecretBox::new(Box::new(bytes))),
            id,
        }
    }

    /// Parses a key written as 64 hex digits or as base64 of 32 bytes.
    ///
    /// Errors are [`Error::InvalidInput`] on the field `SALESAGENT_ENCRYPTION_KEY`; the message
    /// never repeats the input.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            from_hex(t)
        } else {
            B64.decode(t).ok()
        };
        let bytes: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
            Error::invalid(
                ENCRYPTION_KEY_ENV,
                "must be 32 bytes, written as 64 hex digits or base64",
            )
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// A new random key.
    ///
    /// Errors: [`Error::Unavailable`] when the system random number generator fails.
    pub fn generate() -> Result<Self> {
        Ok(Self::from_bytes(Crypto::random_key()?))
    }

    /// The key as 64 hex digits, the form [`EncryptionKey::parse`] reads: a secret, for writing
    /// a key file or showing a new key once.
    #[must_use]
    pub fn expose_hex(&self) -> String {
        to_hex(self.bytes.expose_secret())
    }

    /// The key from `SALESAGENT_ENCRYPTION_KEY`, if set.
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var(ENCRYPTION_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => Self::parse(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// A short, non-secret identifier of this key, stored with every value it seals.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256>>::new_from_slice(self.bytes.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }
}

/// The blind-index key of a database written without an encryption key.
const NO_KEY_BIDX: &[u8; 32] = b"salesagent blind index, no key!!";

/// The keys of one store: one to seal with, any number to open with, and the blind-index key.
pub(crate) struct Crypto {
    primary: Option<(String, XChaCha20Poly1305)>,
    openers: Vec<(String, XChaCha20Poly1305)>,
    bidx_key: [u8; 32],
    bidx_key_id: String,
    /// Whether `p:` values open although a key is configured (only while sealing them in
    /// place: `keys encrypt` and `keys rotate`).
    accept_plain: bool,
    /// The erasure-tombstone key, once read from `store_meta` (it never changes: rotation
    /// re-wraps the same bytes).
    pub(crate) tomb_key: std::sync::OnceLock<[u8; 32]>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto")
            .field("primary", &self.primary.as_ref().map(|(id, _)| id))
            .field(
                "openers",
                &self.openers.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .field("blind_index_key", &self.bidx_key_id)
            .finish_non_exhaustive()
    }
}

/// `base64(nonce || ciphertext)` of `plaintext` under `cipher`, bound to the row `context`.
fn encrypt(cipher: &XChaCha20Poly1305, context: &str, plaintext: &str) -> Result<String> {
    let nonce = XNonce::try_generate()
        .map_err(|_| Error::unavailable("the system random number generator failed"))?;
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext.as_bytes(),
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| Error::backend("encryption failed"))?;
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&ct);
    Ok(B64.encode(blob))
}

/// Opens `nonce || ciphertext` (at least 24 bytes: the caller checked) sealed by [`encrypt`]
/// for the row `context`.
fn decrypt(cipher: &XChaCha20Poly1305, context: &str, blob: &[u8]) -> Result<String> {
    let (nonce, ct) = blob.split_at(24);
    let nonce = XNonce::try_from(nonce)
        .map_err(|_| Error::backend(format!("{context}: sealed value is malformed")))?;
    let pt = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ct,
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| {
            Error::backend(format!(
                "{context}: value does not authenticate (tampered or wrong key)"
            ))
        })?;
    String::from_utf8(pt).map_err(|_| Error::backend(format!("{context}: not UTF-8")))
}

impl Crypto {
    /// Builds the key set. `bidx_from` names the key whose derived blind-index key the database
    /// already uses (from `store_meta`); `None` on a fresh database.
    pub(crate) fn new(
        primary: Option<&EncryptionKey>,
        others: &[EncryptionKey],
        bidx_from: Option<&str>,
    ) -> Result<Self> {
        let all: Vec<&EncryptionKey> = primary.into_iter().chain(others).collect();
        let cipher = |k: &EncryptionKey| {
            XChaCha20Poly1305::new_from_slice(&k.derive(b"salesagent aead v1"))
                .expect("32-byte key")
        };
        let openers = all.iter().map(|k| (k.id.clone(), cipher(k))).collect();
        let (bidx_key, bidx_key_id) = match bidx_from {
            Some(NO_KEY_ID) | None if primary.is_none() => (*NO_KEY_BIDX, NO_KEY_ID.to_owned()),
            Some(NO_KEY_ID) => {
                return Err(Error::backend(
                    "this database was written without an encryption key: seal it under the \
                     key with `cli keys encrypt` (SqlStoreBuilder::reseal) first",
                ));
            }
            None => {
                let k = primary.expect("checked above");
                (k.derive(b"salesagent blind index v1"), k.id.clone())
            }
            Some(id) => {
                let k = all.iter().find(|k| k.id == id).ok_or_else(|| {
                    Error::backend(format!(
                        "the database's blind indexes use encryption key {id}, which is not \
                         configured: set {ENCRYPTION_KEY_ENV} (or add it as a decryption key)"
                    ))
                })?;
                (k.derive(b"salesagent blind index v1"), k.id.clone())
            }
        };
        Ok(Self {
            primary: primary.map(|k| (k.id.clone(), cipher(k))),
            openers,
            bidx_key,
            bidx_key_id,
            accept_plain: false,
            tomb_key: std::sync::OnceLock::new(),
        })
    }

    /// The key set that reads a database being re-sealed: opens `p:` values and values sealed
    /// under any of `keys` (the first seals), with the blind-index key the database records
    /// (`bidx_from`; `None` or `none` for a database written without a key).
    pub(crate) fn reader(keys: &[EncryptionKey], bidx_from: Option<&str>) -> Result<Self> {
        let (primary, others) = match keys.split_first() {
            Some((p, rest)) => (Some(p), rest),
            None => (None, &[][..]),
        };
        let no_key_bidx = matches!(bidx_from, None | Some(NO_KEY_ID));
        let mut c = Self::new(primary, others, if no_key_bidx { None } else { bidx_from })?;
        if no_key_bidx {
            c.bidx_key = *NO_KEY_BIDX;
            NO_KEY_ID.clone_into(&mut c.bidx_key_id);
        }
        c.accept_plain = true;
        Ok(c)
    }

    /// True when values are encrypted.
    pub(crate) fn encrypts(&self) -> bool {
        self.primary.is_some()
    }

    /// Id of the key the blind indexes are derived from (`none` without a key).
    pub(crate) fn bidx_key_id(&self) -> &str {
        &self.bidx_key_id
    }

    /// Id of the sealing key, if any.
    pub(crate) fn primary_id(&self) -> Option<&str> {
        self.primary.as_ref().map(|(id, _)| id.as_str())
    }

    /// Seals `plaintext` for the row named by `context` (`table:row`).
    pub(crate) fn seal(&self, context: &str, plaintext: &str) -> Result<String> {
        let Some((id, cipher)) = &self.primary else {
            return Ok(format!("{PLAIN_PREFIX}{plaintext}"));
        };
        Ok(format!(
            "{SEALED_PREFIX}{id}:{}",
            encrypt(cipher, context, plaintext)?
        ))
    }

    /// Opens a value sealed by [`Crypto::seal`].
    ///
    /// With a key configured, a `p:` (plaintext) value is an error: it was written without
    /// authentication, so it may have been planted by whoever can write the database.
    pub(crate) fn open(&self, context: &str, stored: &str) -> Result<String> {
        if let Some(plain) = stored.strip_prefix(PLAIN_PREFIX) {
            if self.primary.is_some() && !self.accept_plain {
                return Err(Error::backend(format!(
                    "{context}: stored unencrypted although an encryption key is configured \
                     (planted, or written before the key: run `cli keys encrypt`)"
                )));
            }
            return Ok(plain.to_owned());
        }
        let rest = stored.strip_prefix(SEALED_PREFIX).ok_or_else(|| {
            Error::backend(format!("{context}: stored value has no known format"))
        })?;
        let (id, b64) = rest
            .split_once(':')
            .ok_or_else(|| Error::backend(format!("{context}: sealed value is malformed")))?;
        let (_, cipher) = self.openers.iter().find(|(k, _)| k == id).ok_or_else(|| {
            Error::backend(format!(
                "{context}: encrypted with key {id}, which is not configured \
                 (set {ENCRYPTION_KEY_ENV})"
            ))
        })?;
        let blob = B64
            .decode(b64)
            .map_err(|_| Error::backend(format!("{context}: sealed value is malformed")))?;
        if blob.len() < 24 {
            return Err(Error::backend(format!(
                "{context}: sealed value is too short"
            )));
        }
        decrypt(cipher, context, &blob)
    }

    /// 32 fresh random bytes (a data key or a tombstone key).
    pub(crate) fn random_key() -> Result<[u8; 32]> {
        let fail = |_| Error::unavailable("the system random number generator failed");
        let a = XNonce::try_generate().map_err(fail)?;
        let b = XNonce::try_generate().map_err(fail)?;
        let mut out = [0u8; 32];
        out[..24].copy_from_slice(&a);
        out[24..].copy_from_slice(&b[..8]);
        Ok(out)
    }

    /// Seals `plaintext` under the data key `key` (whose id is `key_id`) for the row named by
    /// `context`: `d1:<key id>:<base64(nonce || ciphertext)>`.
    pub(crate) fn seal_with(
        key_id: &str,
        key: &[u8; 32],
        context: &str,
        plaintext: &str,
    ) -> Result<String> {
        let cipher = XChaCha20Poly1305::new_from_slice(key)
            .map_err(|_| Error::backend("data key has the wrong length"))?;
        Ok(format!(
            "{DATA_PREFIX}{key_id}:{}",
            encrypt(&cipher, context, plaintext)?
        ))
    }

    /// The data key id of a value sealed by [`Crypto::seal_with`].
    pub(crate) fn data_key_id(stored: &str) -> Option<&str> {
        stored
            .strip_prefix(DATA_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .map(|(id, _)| id)
    }

    /// Opens a value sealed by [`Crypto::seal_with`] under `key`.
    pub(crate) fn open_with(key: &[u8; 32], context: &str, stored: &str) -> Result<String> {
        let malformed = || Error::backend(format!("{context}: sealed value is malformed"));
        let (_, b64) = stored
            .strip_prefix(DATA_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(malformed)?;
        let blob = B64.decode(b64).map_err(|_| malformed())?;
        if blob.len() < 24 {
            return Err(malformed());
        }
        let cipher = XChaCha20Poly1305::new_from_slice(key)
            .map_err(|_| Error::backend("data key has the wrong length"))?;
        decrypt(&cipher, context, &blob)
    }

    /// A data key as stored: sealed under the master key for `context` (base64 inside).
    pub(crate) fn wrap_key(&self, context: &str, key: &[u8; 32]) -> Result<String> {
        self.seal(context, &B64.encode(key))
    }

    /// A data key stored by [`Crypto::wrap_key`].
    pub(crate) fn unwrap_key(&self, context: &str, stored: &str) -> Result<[u8; 32]> {
        let b64 = self.open(context, stored)?;
        B64.decode(b64.as_bytes())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| Error::backend(format!("{context}: data key is malformed")))
    }

    /// A keyed hash (hex HMAC-SHA256) of `value` under `key` (erasure tombstones).
    pub(crate) fn keyed_hash(key: &[u8; 32], value: &str) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(value.as_bytes());
        to_hex(&mac.finalize().into_bytes())
    }

    /// The blind index (hex HMAC-SHA256) of `value`.
    pub(crate) fn bidx(&self, value: &str) -> String {
        let mut mac =
            <Hmac<Sha256>>::new_from_slice(&self.bidx_key).expect("HMAC takes any key length");
        mac.update(value.as_bytes());
        to_hex(&mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> EncryptionKey {
        EncryptionKey::from_bytes([n; 32])
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let c = Crypto::new(Some(&key(1)), &[], None).unwrap();
        let sealed = c.seal("drafts:1", "Hello, Ann 🎉").unwrap();
        assert!(sealed.starts_with("e1:"), "{sealed}");
        assert!(!sealed.contains("Hello"));
        assert_eq!(c.open("drafts:1", &sealed).unwrap(), "Hello, Ann 🎉");
        assert!(c.open("drafts:2", &sealed).is_err(), "bound to its row");
        assert_ne!(sealed, c.seal("drafts:1", "Hello, Ann 🎉").unwrap());
        let other = Crypto::new(Some(&key(2)), &[], None).unwrap();
        let e = other.open("drafts:1", &sealed).unwrap_err();
        assert!(e.to_string().contains("not configured"), "{e}");
    }

    #[test]
    fn rotation_keeps_old_values_and_blind_index() {
        let old = Crypto::new(Some(&key(1)), &[], None).unwrap();
        let sealed = old.seal("t:1", "x").unwrap();
        let rotated = Crypto::new(Some(&key(2)), &[key(1)], Some(key(1).id())).unwrap();
        assert_eq!(rotated.open("t:1", &sealed).unwrap(), "x");
        assert_eq!(rotated.bidx("a@b.co"), old.bidx("a@b.co"));
        assert!(rotated.seal("t:1", "x").unwrap().contains(key(2).id()));
        assert!(Crypto::new(Some(&key(2)), &[], Some(key(1).id())).is_err());
    }

    #[test]
    fn parse_keys_without_echoing_them() {
        let hex64 = "00".repeat(31) + "ff";
        assert!(EncryptionKey::parse(&hex64).is_ok());
        assert!(EncryptionKey::parse(&B64.encode([7u8; 32])).is_ok());
        let e = EncryptionKey::parse("secret-but-short").unwrap_err();
        assert!(!e.to_string().contains("secret-but-short"));
        let k = key(9);
        assert!(!format!("{k:?}").contains("9, 9"));
    }

    #[test]
    fn no_key_is_plain_and_marked() {
        let c = Crypto::new(None, &[], None).unwrap();
        assert!(!c.encrypts());
        assert_eq!(c.seal("t:1", "x").unwrap(), "p:x");
        assert_eq!(c.open("t:1", "p:x").unwrap(), "x");
        assert!(Crypto::new(Some(&key(1)), &[], Some(NO_KEY_ID)).is_err());
    }

    #[test]
    fn plaintext_is_rejected_with_a_key() {
        let c = Crypto::new(Some(&key(1)), &[], None).unwrap();
        let e = c.open("t:1", "p:x").unwrap_err();
        assert!(e.to_string().contains("unencrypted"), "{e}");
        let r = Crypto::reader(&[key(1)], Some(NO_KEY_ID)).unwrap();
        assert_eq!(r.open("t:1", "p:x").unwrap(), "x");
        assert_eq!(r.bidx("a"), Crypto::new(None, &[], None).unwrap().bidx("a"));
    }

    #[test]
    fn data_keys_seal_and_wrap() {
        let c = Crypto::new(Some(&key(1)), &[], None).unwrap();
        let dk = Crypto::random_key().unwrap();
        assert_ne!(dk, Crypto::random_key().unwrap());
        let sealed = Crypto::seal_with("k1", &dk, "audit_log:1", "secret text").unwrap();
        assert!(sealed.starts_with(DATA_PREFIX) && !sealed.contains("secret"));
        assert_eq!(Crypto::data_key_id(&sealed), Some("k1"));
        assert_eq!(
            Crypto::open_with(&dk, "audit_log:1", &sealed).unwrap(),
            "secret text"
        );
        assert!(Crypto::open_with(&dk, "audit_log:2", &sealed).is_err());
        let wrapped = c.wrap_key("contact_keys:x", &dk).unwrap();
        assert_eq!(c.unwrap_key("contact_keys:x", &wrapped).unwrap(), dk);
    }
}
