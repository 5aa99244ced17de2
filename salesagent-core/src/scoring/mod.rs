//! Ideal-customer-profile (ICP) scoring: a configurable rule set that turns what we know about a
//! lead into a 0–100 score with one explained [`ScoreFactor`] per rule family.
//!
//! The rules are plain data ([`IcpRules`], serde-serialisable) so an operator can tune them
//! without code; [`IcpRules::default`] is a sensible B2B software profile.

use crate::model::{EmailAddress, IcpScore, ScoreFactor};
use keywords::{Folded, Hit, Pattern};
use matcher::{CompiledFamily, MatcherCache};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;

mod keywords;
mod matcher;

/// Points for any of a set of keywords found in a text (case-insensitive, whole words or phrases).
///
/// The keywords are `keywords` plus every list in `by_language` (the split by language is only
/// for the reader: all of them are tried, in that order). `label` and `points` are required;
/// unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordRule {
    /// A short label for the explanation and the CRM segment (`saas`, `executive`).
    pub label: String,
    /// Keywords or phrases in any language; any one matching applies the rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// More keywords, grouped by language code (`en`, `de`, `fr`, `es`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_language: BTreeMap<String, Vec<String>>,
    /// Points when it matches (may be negative).
    pub points: f64,
}

/// Points for a company-size band (employees, inclusive bounds).
///
/// `label`, `min` and `points` are required; a missing `max` means no upper bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeBand {
    /// Band label written to the CRM (`51-200`).
    pub label: String,
    /// Smallest employee count in the band.
    pub min: u32,
    /// Largest employee count in the band (`None` = no upper bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// Points for the band.
    pub points: f64,
}

/// Tier thresholds: a score at or above `a` is tier `A`, and so on; below `c` is `D`.
///
/// A missing key takes its default (`a = 75`, `b = 50`, `c = 25`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierThresholds {
    /// Lowest score of tier A.
    pub a: u8,
    /// Lowest score of tier B.
    pub b: u8,
    /// Lowest score of tier C.
    pub c: u8,
}

impl Default for TierThresholds {
    fn default() -> Self {
        Self {
            a: 75,
            b: 50,
            c: 25,
        }
    }
}

/// The whole rule set.
///
/// Every key is optional: a missing key keeps its value from [`IcpRules::default`] (a list given
/// in the file replaces the default list as a whole). Unknown keys are an error. In TOML (for
/// example the `[icp]` table of a settings file):
///
/// ```toml
/// base = 10.0                    # points every lead starts with
/// other_industry_points = 5.0    # industry known but matching no rule
/// free_mail_points = -10.0       # gmail.com, …
/// company_domain_points = 8.0
///
/// [tiers]                        # lowest score of each tier; below c is D
/// a = 75
/// b = 50
/// c = 25
///
/// [[industries]]                 # first match wins
/// label = "software"
/// points = 20.0
/// keywords = ["software", "saas"]
///
/// [[size_bands]]                 # first band containing the employee count wins
/// label = "51-200"
/// min = 51
/// max = 200                      # omit for no upper bound
/// points = 18.0
///
/// [[seniority]]                  # on the job title; first match wins
/// label = "executive"
/// points = 20.0
/// keywords = ["ceo", "cto"]      # any language
/// [seniority.by_language]        # more keywords, grouped by language for the reader
/// de = ["geschäftsführer", "vorstand"]
/// fr = ["directeur général", "pdg"]
///
/// [[countries]]                  # names or ISO codes; first match wins
/// label = "core_market"
/// points = 10.0
/// keywords = ["de", "germany"]
///
/// [[intents]]                    # on the message; every matching rule adds its points
/// label = "demo"
/// points = 12.0
/// [intents.by_language]
/// en = ["demo", "pricing"]
/// es = ["demostración", "presupuesto"]
/// ```
///
/// Keywords match whole words or phrases in any script, ignoring case and accents
/// (`Geschaftsführer` matches `geschäftsführer`, `PRESIDENTE` matches `présidente`); word
/// boundaries are Unicode-aware. A keyword starting with `*` also matches at the end of a longer
/// word (`*leiter` matches `Vertriebsleiter`), one ending with `*` at the start of one. Where
/// keywords overlap in a text the longest wins (`Vice President` is a `vice president`, not a
/// `president`); of the rest, the first rule in the list wins. Explanations quote the matched
/// words as the input wrote them. [`IcpRules::validate`] checks what serde cannot (tier order,
/// band bounds, finite points). The defaults are [`DEFAULT_ICP_TOML`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IcpRules {
    /// Points every lead starts with.
    pub base: f64,
    /// Industry rules; the first match wins.
    pub industries: Vec<KeywordRule>,
    /// Points when the industry is known but matches no rule.
    pub other_industry_points: f64,
    /// Size bands; the first band containing the employee count wins.
    pub size_bands: Vec<SizeBand>,
    /// Role/seniority rules on the job title; the first match wins.
    pub seniority: Vec<KeywordRule>,
    /// Country rules (names or ISO codes); the first match wins.
    pub countries: Vec<KeywordRule>,
    /// Points for a free-mail address (gmail.com, …).
    pub free_mail_points: f64,
    /// Points for a company domain.
    pub company_domain_points: f64,
    /// Form-intent rules on the message; every matching rule adds its points.
    pub intents: Vec<KeywordRule>,
    /// Tier thresholds.
    pub tiers: TierThresholds,
    /// The keyword families compiled for matching, built on the first assessment and again
    /// after the rules change (not part of the rules' value: never serialised, always equal).
    #[serde(skip)]
    compiled: MatcherCache,
}

/// The default rules as TOML: [`IcpRules::default`] is exactly this text, comments included, so a
/// settings template can show it as written.
pub const DEFAULT_ICP_TOML: &str = include_str!("icp_defaults.toml");

/// The shape of [`DEFAULT_ICP_TOML`]: [`IcpRules`] with every key required (so the file is
/// complete) and without `IcpRules`' serde defaults (which would ask for the rules being built).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultFile {
    base: f64,
    industries: Vec<KeywordRule>,
    other_industry_points: f64,
    size_bands: Vec<SizeBand>,
    seniority: Vec<KeywordRule>,
    countries: Vec<KeywordRule>,
    free_mail_points: f64,
    company_domain_points: f64,
    intents: Vec<KeywordRule>,
    tiers: TierThresholds,
}

static DEFAULT_RULES: LazyLock<IcpRules> = LazyLock::new(|| {
    // The file is part of the source; a unit test parses and validates it.
    #[allow(clippy::expect_used)]
    let f: DefaultFile =
        toml::from_str(DEFAULT_ICP_TOML).expect("scoring/icp_defaults.toml parses");
    IcpRules {
        base: f.base,
        industries: f.industries,
        other_industry_points: f.other_industry_points,
        size_bands: f.size_bands,
        seniority: f.seniority,
        countries: f.countries,
        free_mail_points: f.free_mail_points,
        company_domain_points: f.company_domain_points,
        intents: f.intents,
        tiers: f.tiers,
        compiled: MatcherCache::default(),
    }
});

impl Default for IcpRules {
    /// The rules in [`DEFAULT_ICP_TOML`]: a B2B software profile with seniority titles and intent
    /// phrases in English, German, French and Spanish (and a few common titles in Chinese,
    /// Japanese and Russian).
    fn default() -> Self {
        DEFAULT_RULES.clone()
    }
}

/// What the scorer knows about a lead. Every text is untrusted and only matched, never executed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IcpInput {
    /// The lead's address (free-mail vs company domain).
    pub email: Option<EmailAddress>,
    /// Industry (CRM company, else unknown).
    pub industry: Option<String>,
    /// Employee count (CRM company).
    pub employee_count: Option<u32>,
    /// Job title (form or CRM).
    pub job_title: Option<String>,
    /// Country (form, CRM contact or company).
    pub country: Option<String>,
    /// The form message.
    pub message: Option<String>,
}

/// The segment written back to the CRM next to the score.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IcpSegment {
    /// Tier (`A`..`D`).
    pub tier: String,
    /// Industry label of the matched rule (`other`, `unknown`).
    pub industry: String,
    /// Size band label (`unknown` when the size is not known).
    pub size_band: String,
}

/// A score and the segment it implies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcpAssessment {
    /// The score with its per-factor explanation.
    pub score: IcpScore,
    /// The segment.
    pub segment: IcpSegment,
}

impl KeywordRule {
    /// Every keyword of the rule: `keywords`, then each language's list in `by_language`.
    pub fn all_keywords(&self) -> impl Iterator<Item = &str> {
        self.keywords
            .iter()
            .chain(self.by_language.values().flatten())
            .map(String::as_str)
    }
}

/// Longest text scanned per field, in bytes (a form field is at most this long anyway).
const MAX_SCANNED: usize = crate::model::MAX_FIELD_LEN;

/// A keyword of rule `rule` found in a text.
struct Found {
    rule: usize,
    hit: Hit,
    pattern: Pattern,
}

/// One match of a rule: the rule and the matched words as the input wrote them.
struct Matched<'r> {
    rule: &'r KeywordRule,
    quote: String,
}

/// Every keyword hit of every rule in `text`, without the hits that a longer hit (of any rule)
/// covers: in "Vice President" the vp rule's `vice president` hides the executive's `president`.
fn find_all(family: &CompiledFamily, folded: &Folded) -> Vec<Found> {
    let mut found = Vec::new();
    for (i, patterns) in family.rules.iter().enumerate() {
        for pattern in patterns {
            for hit in folded.find_all(pattern) {
                found.push(Found {
                    rule: i,
                    hit,
                    pattern: pattern.clone(),
                });
            }
        }
    }
    let covered: Vec<bool> = found
        .iter()
        .map(|f| found.iter().any(|g| g.hit.swallows(f.hit)))
        .collect();
    found
        .into_iter()
        .zip(covered)
        .filter_map(|(f, c)| (!c).then_some(f))
        .collect()
}

fn scanned(text: &str) -> &str {
    if text.len() <= MAX_SCANNED {
        return text;
    }
    let mut end = MAX_SCANNED;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Every rule with a hit in `text`, in rule order, each with its leftmost (then longest) hit
/// (`family` is `rules` compiled).
fn matching_rules<'r>(
    rules: &'r [KeywordRule],
    family: &CompiledFamily,
    text: &str,
) -> Vec<Matched<'r>> {
    let text = scanned(text);
    let folded = keywords::fold_indexed(text);
    let mut found = find_all(family, &folded);
    found.sort_by_key(|f| (f.rule, f.hit.start, std::cmp::Reverse(f.hit.len())));
    found.dedup_by_key(|f| f.rule);
    found
        .into_iter()
        .filter_map(|f| {
            let quote = folded.quote(text, f.hit, &f.pattern);
            rules.get(f.rule).map(|rule| Matched {
                rule,
                quote: short(quote),
            })
        })
        .collect()
}

/// The first rule (in rule order) with a hit in `text`.
fn first_match<'r>(
    rules: &'r [KeywordRule],
    family: &CompiledFamily,
    text: &str,
) -> Option<Matched<'r>> {
    matching_rules(rules, family, text).into_iter().next()
}

fn short(text: &str) -> String {
    let mut s = crate::model::clean_line(text);
    if s.chars().count() > 60 {
        s = s.chars().take(60).collect::<String>() + "…";
    }
    s
}

impl IcpRules {
    /// Checks what the types cannot: finite points, tiers in order (`100 >= a >= b >= c`),
    /// band bounds in order, non-empty labels and keywords.
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) naming the first offending key (as a
    /// path such as `seniority[2].points`) and the allowed values.
    pub fn validate(&self) -> Result<(), crate::Error> {
        fn bad(field: String, reason: impl Into<String>) -> crate::Error {
            crate::Error::InvalidInput {
                field,
                reason: reason.into(),
            }
        }
        fn finite(field: &str, v: f64) -> Result<(), crate::Error> {
            if v.is_finite() {
                Ok(())
            } else {
                Err(bad(field.to_owned(), "must be a finite number"))
            }
        }
        fn rules(family: &str, list: &[KeywordRule]) -> Result<(), crate::Error> {
            for (i, r) in list.iter().enumerate() {
                if r.label.trim().is_empty() {
                    return Err(bad(format!("{family}[{i}].label"), "must not be empty"));
                }
                finite(&format!("{family}[{i}].points"), r.points)?;
                if r.all_keywords().next().is_none() {
                    return Err(bad(
                        format!("{family}[{i}]"),
                        "needs at least one keyword (in keywords or by_language)",
                    ));
                }
                for (lang, words) in std::iter::once(("", &r.keywords))
                    .chain(r.by_language.iter().map(|(l, w)| (l.as_str(), w)))
                {
                    if let Some(j) = words
                        .iter()
                        .position(|k| k.trim().trim_matches('*').trim().is_empty())
                    {
                        let at = if lang.is_empty() {
                            format!("{family}[{i}].keywords[{j}]")
                        } else {
                            format!("{family}[{i}].by_language.{lang}[{j}]")
                        };
                        return Err(bad(at, "a keyword must contain a word"));
                    }
                }
            }
            Ok(())
        }
        finite("base", self.base)?;
        finite("other_industry_points", self.other_industry_points)?;
        finite("free_mail_points", self.free_mail_points)?;
        finite("company_domain_points", self.company_domain_points)?;
        rules("industries", &self.industries)?;
        rules("seniority", &self.seniority)?;
        rules("countries", &self.countries)?;
        rules("intents", &self.intents)?;
        for (i, b) in self.size_bands.iter().enumerate() {
            if b.label.trim().is_empty() {
                return Err(bad(format!("size_bands[{i}].label"), "must not be empty"));
            }
            finite(&format!("size_bands[{i}].points"), b.points)?;
            if let Some(max) = b.max
                && max < b.min
            {
                return Err(bad(
                    format!("size_bands[{i}].max"),
                    format!(
                        "must be at least min ({}), or absent for no upper bound",
                        b.min
                    ),
                ));
            }
        }
        let t = self.tiers;
        if t.a > 100 {
            return Err(bad("tiers.a".to_owned(), "must be between 0 and 100"));
        }
        if t.b > t.a {
            return Err(bad(
                "tiers.b".to_owned(),
                format!("must be at most tiers.a ({}): tiers need a >= b >= c", t.a),
            ));
        }
        if t.c > t.b {
            return Err(bad(
                "tiers.c".to_owned(),
                format!("must be at most tiers.b ({}): tiers need a >= b >= c", t.b),
            ));
        }
        Ok(())
    }

    /// The tier of a score.
    #[must_use]
    pub fn tier(&self, score: u8) -> &'static str {
        if score >= self.tiers.a {
            "A"
        } else if score >= self.tiers.b {
            "B"
        } else if score >= self.tiers.c {
            "C"
        } else {
            "D"
        }
    }

    /// Scores a lead: `base` plus every factor, clamped to 0..=100, with one factor per rule
    /// family (industry, company size, seniority, country, email domain, intent).
    #[must_use]
    pub fn assess(&self, input: &IcpInput) -> IcpAssessment {
        let m = self.compiled.get([
            &self.industries,
            &self.seniority,
            &self.countries,
            &self.intents,
        ]);
        let (industry, industry_label) = self.industry_factor(&m.industries, input);
        let (size, size_label) = self.size_factor(input);
        let factors = vec![
            industry,
            size,
            self.seniority_factor(&m.seniority, input),
            self.country_factor(&m.countries, input),
            self.email_factor(input),
            self.intent_factor(&m.intents, input),
        ];
        let score = self.total(&factors);
        let tier = self.tier(score).to_owned();
        IcpAssessment {
            segment: IcpSegment {
                tier: tier.clone(),
                industry: industry_label,
                size_band: size_label,
            },
            score: IcpScore {
                score,
                tier,
                factors,
            },
        }
    }

    /// `base` plus every factor's points, clamped to 0..=100 (0 for a NaN sum).
    fn total(&self, factors: &[ScoreFactor]) -> u8 {
        let total = self.base + factors.iter().map(|f| f.points).sum::<f64>();
        if total.is_nan() {
            return 0;
        }
        // Clamped to 0..=100 first, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let s = total.clamp(0.0, 100.0).round() as u8;
        s
    }

    /// The industry factor and the segment's industry label: the first matching rule, else
    /// `other` (known but untargeted), else `unknown`.
    fn industry_factor(&self, family: &CompiledFamily, input: &IcpInput) -> (ScoreFactor, String) {
        let Some(ind) = input.industry.as_deref().filter(|s| !s.trim().is_empty()) else {
            let f = factor("industry", 0.0, "industry unknown".to_owned());
            return (f, "unknown".to_owned());
        };
        match first_match(&self.industries, family, ind) {
            Some(Matched { rule, quote }) => {
                let reason = format!(
                    "industry {:?} matches {} ({quote:?})",
                    short(ind),
                    rule.label
                );
                (factor("industry", rule.points, reason), rule.label.clone())
            }
            None => {
                let reason = format!("industry {:?} is outside the target list", short(ind));
                let points = self.other_industry_points;
                (factor("industry", points, reason), "other".to_owned())
            }
        }
    }

    /// The company-size factor and the segment's size-band label (the first band containing
    /// the employee count).
    fn size_factor(&self, input: &IcpInput) -> (ScoreFactor, String) {
        let Some(n) = input.employee_count else {
            let f = factor("company_size", 0.0, "company size unknown".to_owned());
            return (f, "unknown".to_owned());
        };
        let band = self
            .size_bands
            .iter()
            .find(|b| n >= b.min && b.max.is_none_or(|m| n <= m));
        match band {
            Some(b) => {
                let reason = format!("{n} employees is in band {}", b.label);
                (factor("company_size", b.points, reason), b.label.clone())
            }
            None => {
                let reason = format!("{n} employees is in no band");
                (factor("company_size", 0.0, reason), "other".to_owned())
            }
        }
    }

    /// The seniority factor: the first rule matching the job title.
    fn seniority_factor(&self, family: &CompiledFamily, input: &IcpInput) -> ScoreFactor {
        let (points, reason) = match input.job_title.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(t) => match first_match(&self.seniority, family, t) {
                Some(Matched { rule, quote }) => (
                    rule.points,
                    format!("title {:?} reads as {} ({quote:?})", short(t), rule.label),
                ),
                None => (
                    0.0,
                    format!("title {:?} matches no seniority rule", short(t)),
                ),
            },
            None => (0.0, "job title unknown".to_owned()),
        };
        factor("seniority", points, reason)
    }

    /// The country factor: the first rule matching the country.
    fn country_factor(&self, family: &CompiledFamily, input: &IcpInput) -> ScoreFactor {
        let (points, reason) = match input.country.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(c) => match first_match(&self.countries, family, c) {
                Some(Matched { rule, .. }) => (
                    rule.points,
                    format!("country {:?} is a {} ", short(c), rule.label)
                        .trim_end()
                        .to_owned(),
                ),
                None => (
                    0.0,
                    format!("country {:?} is outside the target markets", short(c)),
                ),
            },
            None => (0.0, "country unknown".to_owned()),
        };
        factor("country", points, reason)
    }

    /// The e-mail domain factor: free mail or a company domain.
    fn email_factor(&self, input: &IcpInput) -> ScoreFactor {
        let (points, reason) = match &input.email {
            Some(e) if e.is_free_mail() => (
                self.free_mail_points,
                format!("{} is a free-mail domain", e.domain()),
            ),
            Some(e) => (
                self.company_domain_points,
                format!("{} is a company domain", e.domain()),
            ),
            None => (0.0, "no e-mail address".to_owned()),
        };
        factor("email_domain", points, reason)
    }

    /// The intent factor: every intent rule matching the message counts once.
    fn intent_factor(&self, family: &CompiledFamily, input: &IcpInput) -> ScoreFactor {
        let message = input.message.as_deref().unwrap_or("");
        let mut points = 0.0;
        let mut hits = Vec::new();
        for Matched { rule, quote } in matching_rules(&self.intents, family, message) {
            points += rule.points;
            hits.push(format!("{} ({quote:?})", rule.label));
        }
        let reason = if hits.is_empty() {
            "no intent signals in the message".to_owned()
        } else {
            format!("message signals {}", hits.join(", "))
        };
        factor("intent", points, reason)
    }
}

fn factor(name: &str, points: f64, reason: String) -> ScoreFactor {
    ScoreFactor {
        name: name.to_owned(),
        points,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kw(label: &str, keywords: &[&str], points: f64) -> KeywordRule {
        KeywordRule {
            label: label.to_owned(),
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            by_language: BTreeMap::new(),
            points,
        }
    }

    fn band(label: &str, min: u32, max: Option<u32>, points: f64) -> SizeBand {
        SizeBand {
            label: label.to_owned(),
            min,
            max,
            points,
        }
    }

    fn contains_word(text: &str, keyword: &str) -> bool {
        let rules = [kw("x", &[keyword], 1.0)];
        first_match(&rules, &CompiledFamily::new(&rules), text).is_some()
    }

    #[test]
    fn rules_changed_after_an_assessment_take_effect_on_the_next() {
        let mut rules = IcpRules::default();
        let input = IcpInput {
            job_title: Some("Llama Wrangler".into()),
            ..IcpInput::default()
        };
        let before = rules.assess(&input);
        assert_eq!(before.score.factors[2].points, 0.0);
        // Edited in place (as a settings reload replaces the lists) and on a clone.
        rules
            .seniority
            .insert(0, kw("llama", &["llama wrangler"], 7.0));
        assert_eq!(rules.assess(&input).score.factors[2].points, 7.0);
        let mut copy = rules.clone();
        copy.seniority[0].points = 3.0;
        assert_eq!(copy.assess(&input).score.factors[2].points, 3.0);
        assert_eq!(rules.assess(&input).score.factors[2].points, 7.0);
        assert_eq!(IcpRules::default().assess(&input), before);
    }

    fn email(s: &str) -> Option<EmailAddress> {
        Some(EmailAddress::parse(s).unwrap())
    }

    #[test]
    fn strong_lead_scores_high_with_explanations() {
        let rules = IcpRules::default();
        let a = rules.assess(&IcpInput {
            email: email("ann@acme-robotics.de"),
            industry: Some("Industrial Machinery".into()),
            employee_count: Some(420),
            job_title: Some("VP Operations".into()),
            country: Some("Germany".into()),
            message: Some("We'd like a demo and pricing this quarter.".into()),
        });
        // 10 + 15 + 20 + 16 + 10 + 8 + (12 + 6) = 97
        assert_eq!(a.score.score, 97);
        assert_eq!(a.score.tier, "A");
        assert_eq!(a.segment.industry, "manufacturing");
        assert_eq!(a.segment.size_band, "201-1000");
        let names: Vec<_> = a.score.factors.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "industry",
                "company_size",
                "seniority",
                "country",
                "email_domain",
                "intent"
            ]
        );
        assert!(a.score.factors[5].reason.contains("demo"));
    }

    #[test]
    fn weak_lead_scores_low() {
        let rules = IcpRules::default();
        let a = rules.assess(&IcpInput {
            email: email("kid@gmail.com"),
            job_title: Some("Student".into()),
            message: Some("Looking for an internship, here is my CV".into()),
            ..IcpInput::default()
        });
        assert_eq!(a.score.score, 0);
        assert_eq!(a.score.tier, "D");
        assert_eq!(a.segment.size_band, "unknown");
    }

    #[test]
    fn words_match_on_boundaries_only() {
        assert!(contains_word("vp sales", "vp"));
        assert!(!contains_word("mvp builder", "vp"));
        assert!(contains_word("head of it", "head of"));
        assert!(!contains_word("", "x"));
        assert!(contains_word("über-ceo", "ceo"));
        assert!(!contains_word("überceo", "ceo"));
        assert!(contains_word("Directeur Général", "directeur general"));
    }

    #[test]
    fn the_default_file_parses_and_validates() {
        let complete: DefaultFile = toml::from_str(DEFAULT_ICP_TOML).unwrap();
        assert!(!complete.seniority.is_empty());
        let rules: IcpRules = toml::from_str(DEFAULT_ICP_TOML).unwrap();
        rules.validate().unwrap();
        assert_eq!(rules, IcpRules::default());
        let labels: Vec<_> = rules.seniority.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "assistant",
                "executive",
                "vp",
                "manager",
                "individual",
                "student"
            ]
        );
        for rule in rules.seniority.iter().chain(&rules.intents) {
            for lang in ["en", "de", "fr", "es"] {
                assert!(
                    rule.by_language.get(lang).is_some_and(|k| !k.is_empty()),
                    "{} has no {lang} keywords",
                    rule.label
                );
            }
        }
        // Every keyword compiles to something matchable and matches itself.
        for rule in rules
            .industries
            .iter()
            .chain(&rules.seniority)
            .chain(&rules.countries)
            .chain(&rules.intents)
        {
            for k in rule.all_keywords() {
                let plain = k.trim_matches('*');
                assert!(contains_word(plain, k), "{k:?} does not match itself");
            }
        }
    }

    #[test]
    fn rules_are_configurable_from_json() {
        let rules: IcpRules =
            serde_json::from_str(r#"{"base": 50, "intents": [], "free_mail_points": 0}"#).unwrap();
        assert!((rules.base - 50.0).abs() < f64::EPSILON);
        let a = rules.assess(&IcpInput::default());
        assert_eq!(a.score.score, 50);
        assert_eq!(a.score.tier, "B");
    }

    #[test]
    fn rules_reject_unknown_keys_and_round_trip() {
        let err = serde_json::from_str::<IcpRules>(r#"{"bse": 1}"#).unwrap_err();
        assert!(err.to_string().contains("bse"), "{err}");
        let err = serde_json::from_str::<IcpRules>(
            r#"{"seniority": [{"label": "x", "points": 1, "keyword": ["a"]}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("keyword"), "{err}");
        let err = serde_json::from_str::<IcpRules>(r#"{"tiers": {"d": 1}}"#).unwrap_err();
        assert!(err.to_string().contains('d'), "{err}");
        // A rule needs its label and points.
        assert!(serde_json::from_str::<IcpRules>(r#"{"intents": [{"label": "x"}]}"#).is_err());
        // Missing tier keys keep their defaults.
        let r: IcpRules = serde_json::from_str(r#"{"tiers": {"a": 80}}"#).unwrap();
        assert_eq!((r.tiers.a, r.tiers.b, r.tiers.c), (80, 50, 25));
        // The default survives a round trip.
        let json = serde_json::to_string(&IcpRules::default()).unwrap();
        let back: IcpRules = serde_json::from_str(&json).unwrap();
        assert_eq!(back, IcpRules::default());
        IcpRules::default().validate().unwrap();
    }

    #[test]
    fn validate_names_the_offending_key() {
        let cases: Vec<(IcpRules, &str)> = vec![
            (
                IcpRules {
                    tiers: TierThresholds {
                        a: 40,
                        b: 50,
                        c: 25,
                    },
                    ..IcpRules::default()
                },
                "tiers.b",
            ),
            (
                IcpRules {
                    tiers: TierThresholds {
                        a: 75,
                        b: 50,
                        c: 60,
                    },
                    ..IcpRules::default()
                },
                "tiers.c",
            ),
            (
                IcpRules {
                    tiers: TierThresholds {
                        a: 101,
                        b: 50,
                        c: 25,
                    },
                    ..IcpRules::default()
                },
                "tiers.a",
            ),
            (
                IcpRules {
                    base: f64::NAN,
                    ..IcpRules::default()
                },
                "base",
            ),
            (
                IcpRules {
                    size_bands: vec![band("x", 10, Some(5), 1.0)],
                    ..IcpRules::default()
                },
                "size_bands[0].max",
            ),
            (
                IcpRules {
                    intents: vec![kw("x", &[], 1.0)],
                    ..IcpRules::default()
                },
                "intents[0]",
            ),
            (
                IcpRules {
                    seniority: vec![kw("x", &["ceo", " "], 1.0)],
                    ..IcpRules::default()
                },
                "seniority[0].keywords[1]",
            ),
            (
                IcpRules {
                    countries: vec![kw("", &["de"], 1.0)],
                    ..IcpRules::default()
                },
                "countries[0].label",
            ),
        ];
        for (rules, field) in cases {
            match rules.validate() {
                Err(crate::Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    proptest! {
        #[test]
        fn score_is_always_in_range(
            industry in proptest::option::of(".{0,40}"),
            size in proptest::option::of(0u32..100_000),
            title in proptest::option::of(".{0,40}"),
            country in proptest::option::of(".{0,20}"),
            message in proptest::option::of(".{0,200}"),
            base in -500.0f64..500.0,
        ) {
            let rules = IcpRules { base, ..IcpRules::default() };
            let a = rules.assess(&IcpInput { email: None, industry, employee_count: size, job_title: title, country, message });
            prop_assert!(a.score.score <= 100);
            prop_assert_eq!(a.score.factors.len(), 6);
            prop_assert_eq!(a.score.tier.as_str(), rules.tier(a.score.score));
        }
    }
}
