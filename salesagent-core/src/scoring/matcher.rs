//! The keyword families of [`IcpRules`] compiled once: every keyword folded into a
//! [`Pattern`] ahead of the leads it is matched against.
//!
//! [`IcpRules`] keeps its rules in public fields (settings files, the operator's editor), so the
//! compiled form is a cache kept beside them: [`MatcherCache::get`] returns the patterns
//! compiled from the rules as they are *now*. It compares the rules with the copy the patterns
//! were compiled from (a comparison of the keyword strings, far cheaper than folding them) and
//! compiles again when they differ, so rules edited in place or reloaded from settings take
//! effect on the next [`IcpRules::assess`](super::IcpRules::assess).

use super::KeywordRule;
use super::keywords::Pattern;
use std::sync::{Arc, Mutex, PoisonError};

/// One family of rules (industries, seniority, countries or intents) compiled: for each rule,
/// in rule order, the patterns of its keywords in [`KeywordRule::all_keywords`] order (keywords
/// that fold to nothing are left out).
#[derive(Debug)]
pub(super) struct CompiledFamily {
    pub(super) rules: Vec<Vec<Pattern>>,
}

impl CompiledFamily {
    pub(super) fn new(rules: &[KeywordRule]) -> Self {
        Self {
            rules: rules
                .iter()
                .map(|r| r.all_keywords().filter_map(Pattern::new).collect())
                .collect(),
        }
    }
}

/// The four keyword families of a rule set, compiled, with the rules they came from.
#[derive(Debug)]
pub(super) struct Matchers {
    source: [Vec<KeywordRule>; 4],
    pub(super) industries: CompiledFamily,
    pub(super) seniority: CompiledFamily,
    pub(super) countries: CompiledFamily,
    pub(super) intents: CompiledFamily,
}

/// The families in the order of [`Matchers::source`].
pub(super) type Families<'a> = [&'a [KeywordRule]; 4];

impl Matchers {
    fn new(families: Families<'_>) -> Self {
        let [industries, seniority, countries, intents] = families;
        Self {
            source: families.map(<[KeywordRule]>::to_vec),
            industries: CompiledFamily::new(industries),
            seniority: CompiledFamily::new(seniority),
            countries: CompiledFamily::new(countries),
            intents: CompiledFamily::new(intents),
        }
    }

    fn compiled_from(&self, families: Families<'_>) -> bool {
        self.source
            .iter()
            .zip(families)
            .all(|(had, now)| had.as_slice() == now)
    }
}

/// The compiled form of an [`IcpRules`](super::IcpRules)' keywords, built on first use and
/// again whenever the rules have changed since. Clones start with the same compiled form;
/// every cache compares equal (it is not part of the rules' value).
#[derive(Default)]
pub(super) struct MatcherCache {
    slot: Mutex<Option<Arc<Matchers>>>,
}

impl MatcherCache {
    /// The patterns for `families` as they are now.
    pub(super) fn get(&self, families: Families<'_>) -> Arc<Matchers> {
        if let Some(m) = self.current().filter(|m| m.compiled_from(families)) {
            return m;
        }
        let m = Arc::new(Matchers::new(families));
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&m));
        m
    }

    fn current(&self) -> Option<Arc<Matchers>> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Clone for MatcherCache {
    fn clone(&self) -> Self {
        Self {
            slot: Mutex::new(self.current()),
        }
    }
}

impl PartialEq for MatcherCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for MatcherCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let compiled = self.current().is_some();
        f.debug_struct("MatcherCache")
            .field("compiled", &compiled)
            .finish()
    }
}
