//! Validated e-mail addresses and domains.
//!
//! Validation follows the RFC 5321/5322 addr-spec limits: local part at most 64 octets, domain at
//! most 255, whole address at most 254; no control characters anywhere (so no header injection);
//! dot-atom local parts; domains lower-cased, internationalised domains stored as punycode.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest local part, in octets (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_LEN: usize = 64;
/// Longest domain, in octets (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN_LEN: usize = 255;
/// Longest address, in octets (RFC 5321 path limit less the angle brackets).
pub const MAX_ADDRESS_LEN: usize = 254;

/// The words of `text` split at `separators`, each starting with a capital, joined by spaces.
fn capitalised_words(text: &str, separators: &[char]) -> String {
    text.split(separators)
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A validated domain name: lower-case ASCII (punycode for IDNs), at least two labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

impl Domain {
    /// A readable organisation name from the first label: `acme-robotics.com` gives
    /// "Acme Robotics", `example.co.uk` gives "Example". What a sender's company is called when
    /// nothing else names it.
    #[must_use]
    pub fn organisation_name(&self) -> String {
        let label = self.0.split('.').next().unwrap_or_default();
        capitalised_words(label, &['-', '_'])
    }

    /// Parses and normalises a domain; Unicode labels become punycode (`xn--…`).
    pub fn parse(input: &str) -> Result<Self> {
        let err = |reason: &str| Error::invalid("domain", reason.to_owned());
        if input.chars().any(char::is_control) {
            return Err(err("contains control characters"));
        }
        let trimmed = input.trim().trim_end_matches('.');
        if trimmed.is_empty() {
            return Err(err("is empty"));
        }
        let ascii = if trimmed.is_ascii() {
            trimmed.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(trimmed)
                .map_err(|_| err("is not a valid internationalised domain"))?
        };
        if ascii.len() > MAX_DOMAIN_LEN {
            return Err(err("is longer than 255 octets"));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(err("needs at least two labels"));
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err(err("has an empty or over-long label"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(err("has a label that starts or ends with '-'"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(err("has characters outside letters, digits and '-'"));
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(err("has a numeric top-level label"));
        }
        Ok(Self(ascii))
    }

    /// The domain as lower-case ASCII.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The registrable-looking part: the last two labels (`mail.acme.co` → `acme.co`).
    ///
    /// A heuristic without the public-suffix list; good enough to compare company domains.
    #[must_use]
    pub fn base(&self) -> &str {
        let mut dots = self.0.rmatch_indices('.');
        dots.next();
        match dots.next() {
            Some((i, _)) => &self.0[i + 1..],
            None => &self.0,
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Domain {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<Domain> for String {
    fn from(d: Domain) -> Self {
        d.0
    }
}

impl std::str::FromStr for Domain {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// A validated addr-spec (`local@domain`), safe to put in a mail header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress {
    local: String,
    domain: Domain,
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

impl EmailAddress {
    /// Parses an addr-spec. Surrounding whitespace is trimmed; nothing else is rewritten
    /// except that the domain is lower-cased (and punycoded when it is Unicode).
    pub fn parse(input: &str) -> Result<Self> {
        let err = |reason: &str| Error::invalid("email", reason.to_owned());
        if input.chars().any(char::is_control) {
            return Err(err("contains control characters (CR, LF, NUL, ...)"));
        }
        let s = input.trim();
        if s.is_empty() {
            return Err(err("is empty"));
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(|| err("has no '@'"))?;
        if local.is_empty() {
            return Err(err("has an empty local part"));
        }
        if local.len() > MAX_LOCAL_LEN {
            return Err(err("local part is longer than 64 octets"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(err("local part has a misplaced '.'"));
        }
        if !local.bytes().all(|b| b == b'.' || is_atext(b)) {
            return Err(err("local part has characters outside the dot-atom set"));
        }
        let domain = Domain::parse(domain).map_err(|e| match e {
            Error::InvalidInput { reason, .. } => err(&format!("domain {reason}")),
            other => other,
        })?;
        if local.len() + 1 + domain.as_str().len() > MAX_ADDRESS_LEN {
            return Err(err("is longer than 254 octets"));
        }
        Ok(Self {
            local: local.to_owned(),
            domain,
        })
    }

    /// The part before the `@`, as given.
    #[must_use]
    pub fn local_part(&self) -> &str {
        &self.local
    }

    /// A name to sign with when nothing else names the person: the local part without any
    /// `+tag`, its words capitalised (`sam@…` gives "Sam", `ann.keller@…` "Ann Keller").
    #[must_use]
    pub fn name_from_local_part(&self) -> String {
        let local = self.local.split('+').next().unwrap_or_default();
        let name = capitalised_words(local, &['.', '-', '_']);
        if name.is_empty() {
            self.local.clone()
        } else {
            name
        }
    }

    /// The normalised domain.
    #[must_use]
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// True when both name the same mailbox: what [`EmailAddress::normalized`] compares, without
    /// allocating.
    #[must_use]
    pub fn same_mailbox(&self, other: &Self) -> bool {
        self.domain == other.domain && self.local.eq_ignore_ascii_case(&other.local)
    }

    /// A case-insensitive key for lookups and limits (`Local@X.com` and `local@x.com` are one person).
    #[must_use]
    pub fn normalized(&self) -> String {
        format!("{}@{}", self.local.to_ascii_lowercase(), self.domain)
    }

    /// True when the domain belongs to a well-known free or disposable mail provider.
    #[must_use]
    pub fn is_free_mail(&self) -> bool {
        FREE_MAIL_DOMAINS
            .binary_search(&self.domain.as_str())
            .is_ok()
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> Self {
        e.to_string()
    }
}

impl std::str::FromStr for EmailAddress {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Free-mail and disposable providers, sorted for binary search.
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "aol.com",
    "gmail.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "guerrillamail.com",
    "hotmail.co.uk",
    "hotmail.com",
    "icloud.com",
    "live.com",
    "mail.com",
    "mail.ru",
    "mailinator.com",
    "me.com",
    "msn.com",
    "outlook.com",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "sharklasers.com",
    "t-online.de",
    "tempmail.com",
    "web.de",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.fr",
    "yandex.ru",
    "yopmail.com",
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_name_from_the_local_part_reads_like_a_signature() {
        let name = |a: &str| {
            EmailAddress::parse(a)
                .expect("address")
                .name_from_local_part()
        };
        assert_eq!(name("sam@northwind-traders.com"), "Sam");
        assert_eq!(name("ann.keller@acme-robotics.de"), "Ann Keller");
        assert_eq!(name("jean-luc_picard+sales@example.com"), "Jean Luc Picard");
    }

    #[test]
    fn free_mail_list_is_sorted() {
        assert!(FREE_MAIL_DOMAINS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn accepts_and_normalises() {
        let e = EmailAddress::parse("  Jane.Doe+sales@Example.COM ").unwrap();
        assert_eq!(e.to_string(), "Jane.Doe+sales@example.com");
        assert_eq!(e.normalized(), "jane.doe+sales@example.com");
        assert_eq!(e.domain().as_str(), "example.com");
        let idn = EmailAddress::parse("info@bücher.de").unwrap();
        assert_eq!(idn.domain().as_str(), "xn--bcher-kva.de");
        assert!(EmailAddress::parse("info@xn--bcher-kva.de").is_ok());
        assert!(EmailAddress::parse("x@gmail.com").unwrap().is_free_mail());
        assert_eq!(Domain::parse("mail.acme.co").unwrap().base(), "acme.co");
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a..b@example.com",
            ".a@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@-example.com",
            "a@example.123",
            "a\r\nBcc: x@y.com@example.com",
            "a@example.com\nBcc: evil@x.com",
            "a\0@example.com",
        ] {
            assert!(
                EmailAddress::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(EmailAddress::parse(&long_local).is_err());
        let ok_local = format!("{}@example.com", "a".repeat(64));
        assert!(EmailAddress::parse(&ok_local).is_ok());
        let long_total = format!(
            "{}@{}.com",
            "a".repeat(60),
            vec!["b".repeat(63); 3].join(".")
        );
        assert!(long_total.len() > 254);
        assert!(EmailAddress::parse(&long_total).is_err());
    }

    #[test]
    fn serde_validates() {
        let ok: EmailAddress = serde_json::from_str("\"a@b.co\"").unwrap();
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"a@b.co\"");
        assert!(serde_json::from_str::<EmailAddress>("\"a@b\\r\\n.co\"").is_err());
    }

    proptest! {
        #[test]
        fn same_mailbox_agrees_with_normalized(a in "[a-zA-Z]{1,3}@[a-cA-C]{1,2}\\.io", b in "[a-zA-Z]{1,3}@[a-cA-C]{1,2}\\.io") {
            let (a, b) = (EmailAddress::parse(&a).unwrap(), EmailAddress::parse(&b).unwrap());
            prop_assert_eq!(a.same_mailbox(&b), a.normalized() == b.normalized());
            prop_assert!(a.same_mailbox(&a));
        }

        #[test]
        fn rejects_any_string_with_cr_lf_nul(prefix in ".{0,40}", bad in prop::sample::select(vec!['\r', '\n', '\0']), suffix in ".{0,40}") {
            let s = format!("{prefix}{bad}{suffix}");
            prop_assert!(EmailAddress::parse(&s).is_err());
            let with_domain = format!("{prefix}{bad}{suffix}@example.com");
            prop_assert!(EmailAddress::parse(&with_domain).is_err());
        }

        #[test]
        fn valid_addresses_round_trip(local in "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[a-zA-Z0-9_-]{1,10}){0,3}",
                                      labels in prop::collection::vec("[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", 1..4),
                                      tld in "[a-z]{2,6}") {
            let s = format!("{local}@{}.{tld}", labels.join("."));
            let e = EmailAddress::parse(&s).unwrap();
            prop_assert_eq!(e.to_string(), s.clone());
            let again = EmailAddress::parse(&e.to_string()).unwrap();
            prop_assert_eq!(&again, &e);
            let json = serde_json::to_string(&e).unwrap();
            prop_assert_eq!(serde_json::from_str::<EmailAddress>(&json).unwrap(), e);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let _ = EmailAddress::parse(&s);
            let _ = Domain::parse(&s);
        }
    }
}
