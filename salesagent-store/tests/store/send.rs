//! Send reservations, suppression and approved recipients.

use crate::common::{builder, email, stores, t0, urls};
use chrono::Duration as CDuration;
use salesagent_core::model::{
    ApprovedRecipient, DraftId, SendDecision, SendLimits, SendReservation, Suppression,
    SuppressionReason,
};
use salesagent_core::ports::SendStore;

fn res(contact: &str, sender: &str, at: chrono::DateTime<chrono::Utc>) -> SendReservation {
    SendReservation {
        draft_id: DraftId::new(),
        contact: email(contact),
        sender: email(sender),
        at,
    }
}

#[tokio::test]
async fn limits_defer_and_reservations_are_idempotent() {
    for (name, s, _) in stores().await {
        let limits = SendLimits::default();
        let first = res("ann@acme.io", "rep@seller.io", t0());
        assert_eq!(
            s.reserve_send(&first, &limits).await.unwrap(),
            SendDecision::Allow
        );
        assert_eq!(
            s.reserve_send(&first, &limits).await.unwrap(),
            SendDecision::Allow,
            "{name}: same draft again is not counted twice"
        );
        let second = res("ANN@acme.io", "rep@seller.io", t0() + CDuration::hours(1));
        assert!(s.reserve_send(&second, &limits).await.unwrap().is_allow());
        let third = res("ann@acme.io", "rep@seller.io", t0() + CDuration::hours(2));
        match s.reserve_send(&third, &limits).await.unwrap() {
            SendDecision::Defer { until, reason } => {
                assert!(reason.to_string().contains("weekly"), "{name}: {reason}");
                // The first send leaves the week at exactly t0 + 7 days (the rule in core).
                assert_eq!(until, t0() + CDuration::days(7), "{name}: {until}");
            }
            other => panic!("{name}: {other:?}"),
        }
        // A week later the first send has left the window.
        let later = SendReservation {
            at: t0() + CDuration::days(7) + CDuration::seconds(1),
            ..third.clone()
        };
        assert!(
            s.reserve_send(&later, &limits).await.unwrap().is_allow(),
            "{name}"
        );
        // Releasing a reservation frees its slot.
        let fourth = res("ann@acme.io", "rep@seller.io", later.at);
        assert!(!s.reserve_send(&fourth, &limits).await.unwrap().is_allow());
        s.release_send(later.draft_id).await.unwrap();
        s.release_send(later.draft_id).await.unwrap();
        assert!(
            s.reserve_send(&fourth, &limits).await.unwrap().is_allow(),
            "{name}"
        );
        // Per-domain and per-sender caps; a zero limit denies.
        let tight = SendLimits {
            per_contact_week: 10,
            per_contact_day: 10,
            per_sender_day: 100,
            per_domain_day: 2,
        };
        for (i, expect) in [true, true, false].into_iter().enumerate() {
            let r = res(&format!("p{i}@bigco.io"), "rep@seller.io", t0());
            assert_eq!(
                s.reserve_send(&r, &tight).await.unwrap().is_allow(),
                expect,
                "{name}"
            );
        }
        let zero = SendLimits {
            per_sender_day: 0,
            ..tight
        };
        assert!(matches!(
            s.reserve_send(&res("z@z.io", "rep@seller.io", t0()), &zero)
                .await
                .unwrap(),
            SendDecision::Deny { .. }
        ));
    }
}

#[tokio::test]
async fn suppression_and_approved_recipients() {
    for (name, s, _) in stores().await {
        let e = email("Gone@Acme.io");
        let sup = Suppression {
            email: e.clone(),
            reason: SuppressionReason::Unsubscribed,
            note: Some("clicked unsubscribe".into()),
            added_at: t0(),
        };
        s.suppress(&sup).await.unwrap();
        assert_eq!(
            s.suppression(&email("gone@acme.io")).await.unwrap(),
            Some(sup.clone())
        );
        assert_eq!(
            s.list_suppressions().await.unwrap(),
            vec![sup.clone()],
            "{name}"
        );
        let r = res("gone@acme.io", "rep@seller.io", t0());
        assert!(matches!(
            s.reserve_send(&r, &SendLimits::default()).await.unwrap(),
            SendDecision::Deny { .. }
        ));
        assert!(s.unsuppress(&e).await.unwrap());
        assert!(!s.unsuppress(&e).await.unwrap());
        assert!(
            s.reserve_send(&r, &SendLimits::default())
                .await
                .unwrap()
                .is_allow()
        );

        let a = ApprovedRecipient {
            email: email("vip@acme.io"),
            added_by: "operator:alice".into(),
            added_at: t0(),
        };
        s.add_approved_recipient(&a).await.unwrap();
        s.add_approved_recipient(&a).await.unwrap();
        assert!(
            s.is_approved_recipient(&email("VIP@acme.io"))
                .await
                .unwrap(),
            "{name}"
        );
        assert!(s.remove_approved_recipient(&a.email).await.unwrap());
        assert!(!s.remove_approved_recipient(&a.email).await.unwrap());
        assert!(!s.is_approved_recipient(&a.email).await.unwrap());
    }
}

/// Eight concurrent reservers hammering one contact (and one sender, one domain) never push
/// any count past its limit, for several limit settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservers_never_exceed_limits() {
    for (name, url) in urls().await {
        let s = builder(&url).max_connections(10).connect().await.unwrap();
        for (round, (week, sender_day, domain_day)) in
            [(2u32, 200u32, 50u32), (5, 3, 50), (9, 200, 4), (1, 1, 1)]
                .into_iter()
                .enumerate()
        {
            let contact = format!("target{round}@race{round}.io");
            let sender = format!("rep{round}@seller.io");
            let limits = SendLimits {
                per_contact_week: week,
                per_contact_day: 20,
                per_sender_day: sender_day,
                per_domain_day: domain_day,
            };
            let mut tasks = Vec::new();
            for w in 0..8 {
                let s = s.clone();
                let contact = contact.clone();
                let sender = sender.clone();
                tasks.push(tokio::spawn(async move {
                    let mut allowed = 0u32;
                    for i in 0..6 {
                        // Half the reservers hit the contact, the rest its colleagues on
                        // the same domain from the same sender.
                        let to = if (w + i) % 2 == 0 {
                            contact.clone()
                        } else {
                            format!("colleague{w}x{i}@{}", contact.split('@').nth(1).unwrap())
                        };
                        let r = res(&to, &sender, t0() + CDuration::seconds(i64::from(i)));
                        if s.reserve_send(&r, &limits).await.unwrap().is_allow() {
                            allowed += u32::from(to == contact) * 1000 + 1;
                        }
                    }
                    allowed
                }));
            }
            let mut to_contact = 0;
            let mut total = 0;
            for t in tasks {
                let a = t.await.unwrap();
                to_contact += a / 1000;
                total += a % 1000;
            }
            let cap = sender_day.min(domain_day);
            assert!(
                to_contact <= week,
                "{name} round {round}: {to_contact} > {week}"
            );
            assert!(total <= cap, "{name} round {round}: {total} > {cap}");
            // Limits are reached, not merely respected: 24 reservations went to colleagues,
            // so the shared caps fill up whatever the interleaving.
            assert_eq!(total, cap.min(24 + week), "{name} round {round}");
            if cap >= 24 + week {
                assert_eq!(to_contact, week, "{name} round {round}");
            }
        }
    }
}
