//! Property tests: the priority adjustment never leaves ±20, whatever the history, time and
//! configuration; classification never panics on arbitrary bytes.

use chrono::{DateTime, Duration as Td, Utc};
use proptest::prelude::*;
use salesagent_core::model::{EmailAddress, Outcome, OutcomeId, OutcomeType};
use salesagent_core::outcomes::{ApsConfig, MAX_ADJUSTMENT, classify_raw, priority_adjustment};
use std::time::Duration;

fn outcome(t: usize, impact: i32, age_secs: i64, now: DateTime<Utc>) -> Outcome {
    let outcome_type = OutcomeType::ALL[t % OutcomeType::ALL.len()];
    Outcome {
        id: OutcomeId::new(),
        outcome_type,
        contact_email: EmailAddress::parse("lead@example.com").unwrap(),
        sender: None,
        draft_id: None,
        impact,
        source_event_id: format!("p:{t}:{age_secs}"),
        occurred_at: now - Td::seconds(age_secs),
        recorded_at: now,
        details: None,
    }
}

proptest! {
    #[test]
    fn adjustment_is_capped(
        items in prop::collection::vec((0usize..20, -5i32..=10, -10_000_000i64..400_000_000), 0..200),
        half_life_secs in 0u64..200_000_000,
        per in prop_oneof![-1000.0f64..1000.0, Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
        cap in prop_oneof![0.0f64..100.0, Just(f64::NAN), Just(f64::INFINITY), Just(-30.0)],
        now_secs in 0i64..4_000_000_000,
    ) {
        let now = DateTime::from_timestamp(now_secs, 0).unwrap();
        let outcomes: Vec<_> = items.iter().map(|&(t, i, a)| outcome(t, i, a, now)).collect();
        let cfg = ApsConfig {
            half_life: Duration::from_secs(half_life_secs),
            points_per_impact: per,
            cap,
        };
        let adj = priority_adjustment(&outcomes, now, &cfg);
        prop_assert!(adj.is_finite(), "{adj}");
        prop_assert!((-MAX_ADJUSTMENT..=MAX_ADJUSTMENT).contains(&adj), "{adj}");
    }

    #[test]
    fn default_config_is_capped_and_signed(
        items in prop::collection::vec((0usize..20, 0i64..100_000_000), 0..100),
    ) {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let outcomes: Vec<_> = items
            .iter()
            .map(|&(t, a)| {
                let ty = OutcomeType::ALL[t];
                outcome(t, ty.default_impact(), a, now)
            })
            .collect();
        let adj = priority_adjustment(&outcomes, now, &ApsConfig::default());
        prop_assert!(adj.abs() <= 20.0);
        // Only positive impacts: never negative; only negative: never positive.
        if outcomes.iter().all(|o| o.impact >= 0) {
            prop_assert!(adj >= 0.0);
        }
        if outcomes.iter().all(|o| o.impact <= 0) {
            prop_assert!(adj <= 0.0);
        }
    }

    #[test]
    fn classification_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let c = classify_raw(&bytes);
        prop_assert!(!c.reason.is_empty());
    }

    #[test]
    fn header_shaped_input_never_panics(
        subject in ".{0,200}",
        body in ".{0,500}",
        ct in prop_oneof![
            Just("multipart/report; report-type=delivery-status; boundary=b".to_owned()),
            Just("text/plain".to_owned()),
            ".{0,60}",
        ],
    ) {
        let raw = format!(
            "From: MAILER-DAEMON@x.example\nSubject: {subject}\nContent-Type: {ct}\n\n--b\nContent-Type: message/delivery-status\n\n{body}\n\n--b--\n"
        );
        let c = classify_raw(raw.as_bytes());
        prop_assert!(!c.reason.is_empty());
    }
}
