//! The impact table: how many points each outcome type is worth.

use crate::model::OutcomeType;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lowest impact an outcome type may have.
pub const MIN_IMPACT: i32 = -5;
/// Highest impact an outcome type may have.
pub const MAX_IMPACT: i32 = 10;

/// Impact score per outcome type: the defaults of [`OutcomeType::default_impact`] with optional
/// overrides, every value within [`MIN_IMPACT`]..=[`MAX_IMPACT`].
///
/// The default table (type, category, impact):
///
/// | type | category | impact |
/// |---|---|---:|
/// | `email_sent` | email | +1 |
/// | `email_opened` | email | +1 |
/// | `email_clicked` | email | +2 |
/// | `email_replied` | email | +5 |
/// | `email_bounced` | email | −3 |
/// | `email_unsubscribed` | email | −5 |
/// | `meeting_booked` | meeting | +8 |
/// | `meeting_held` | meeting | +10 |
/// | `meeting_no_show` | meeting | −3 |
/// | `meeting_rescheduled` | meeting | 0 |
/// | `deal_created` | deal | +8 |
/// | `deal_stage_advanced` | deal | +6 |
/// | `deal_stage_regressed` | deal | −3 |
/// | `deal_won` | deal | +10 |
/// | `deal_lost` | deal | −5 |
/// | `task_completed` | task | +2 |
/// | `task_overdue` | task | −1 |
/// | `positive_response` | general | +6 |
/// | `negative_response` | general | −4 |
/// | `no_response` | general | −1 |
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImpactTable {
    overrides: BTreeMap<OutcomeType, i32>,
}

impl ImpactTable {
    /// The default table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A table with these overrides; `InvalidInput` when a value is outside −5..=+10.
    pub fn with_overrides(overrides: impl IntoIterator<Item = (OutcomeType, i32)>) -> Result<Self> {
        let mut table = Self::default();
        for (t, v) in overrides {
            table.set(t, v)?;
        }
        Ok(table)
    }

    /// Overrides one type's impact; `InvalidInput` when outside −5..=+10.
    pub fn set(&mut self, outcome_type: OutcomeType, impact: i32) -> Result<()> {
        if !(MIN_IMPACT..=MAX_IMPACT).contains(&impact) {
            return Err(Error::invalid(
                "impact",
                format!("{outcome_type} impact {impact} is outside {MIN_IMPACT}..={MAX_IMPACT}"),
            ));
        }
        self.overrides.insert(outcome_type, impact);
        Ok(())
    }

    /// Parses overrides written as `type=impact` pairs separated by commas
    /// (`email_replied=6,no_response=0`); an empty string is the default table.
    pub fn parse(spec: &str) -> Result<Self> {
        let mut table = Self::default();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| Error::invalid("impact", format!("{pair:?} is not type=impact")))?;
            let t: OutcomeType = name.parse()?;
            let v: i32 = value
                .trim()
                .parse()
                .map_err(|_| Error::invalid("impact", format!("{value:?} is not an integer")))?;
            table.set(t, v)?;
        }
        Ok(table)
    }

    /// The impact of a type.
    #[must_use]
    pub fn impact(&self, outcome_type: OutcomeType) -> i32 {
        self.overrides
            .get(&outcome_type)
            .copied()
            .unwrap_or_else(|| outcome_type.default_impact())
    }

    /// Every type with its category and impact, in table order.
    #[must_use]
    pub fn rows(&self) -> Vec<ImpactRow> {
        OutcomeType::ALL
            .iter()
            .map(|&t| ImpactRow {
                outcome_type: t,
                category: t.category(),
                impact: self.impact(t),
            })
            .collect()
    }
}

/// One row of the impact table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactRow {
    /// The type.
    pub outcome_type: OutcomeType,
    /// Its category.
    pub category: crate::model::OutcomeCategory,
    /// Its impact.
    pub impact: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let t = ImpactTable::new();
        assert_eq!(t.rows().len(), 20);
        assert_eq!(t.impact(OutcomeType::MeetingHeld), 10);
        let t = ImpactTable::parse("email_replied=7, no_response=0").unwrap();
        assert_eq!(t.impact(OutcomeType::EmailReplied), 7);
        assert_eq!(t.impact(OutcomeType::NoResponse), 0);
        assert_eq!(t.impact(OutcomeType::DealWon), 10);
        assert!(ImpactTable::parse("email_replied=11").is_err());
        assert!(ImpactTable::parse("deal_lost=-6").is_err());
        assert!(ImpactTable::parse("nope=1").is_err());
        assert!(ImpactTable::parse("deal_won").is_err());
        assert!(ImpactTable::parse("").unwrap() == ImpactTable::new());
    }
}
