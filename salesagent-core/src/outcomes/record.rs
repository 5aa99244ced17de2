//! Recording outcomes: the [`Outcomes`] service, its settings, what one recording did, and the
//! queries the CLI and the queue use. Statistics are in [`stats`](super::stats), the detectors in
//! `detect`.

use super::ImpactTable;
use super::effects::{self, ApsConfig};
use crate::model::{Draft, DraftId, EmailAddress, Outcome, OutcomeId, OutcomeType};
use crate::ports::{DynClock, DynStore, OutcomeFilter};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Setting keys the detectors keep their cursors and last-seen states under.
pub mod settings_keys {
    /// The mailbox history cursor.
    pub const MAILBOX_CURSOR: &str = "outcomes.mailbox_cursor";
    /// The CRM deal-changes cursor.
    pub const DEAL_CURSOR: &str = "outcomes.deal_cursor";
    /// Prefix of the last seen state of one deal (`outcomes.deal.<id>`).
    pub const DEAL_STATE_PREFIX: &str = "outcomes.deal.";
    /// Prefix of the last seen interval of one calendar event (`outcomes.event.<id>`).
    pub const EVENT_STATE_PREFIX: &str = "outcomes.event.";
    /// When the last mailbox scan that finished began (RFC 3339): where a re-sync after an
    /// expired cursor starts.
    pub const MAILBOX_SCANNED_AT: &str = "outcomes.mailbox_scanned_at";
}

/// Longest accepted `source_event_id`, in bytes.
const MAX_SOURCE_ID_LEN: usize = 512;

/// Settings of the outcomes service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeConfig {
    /// Points per outcome type.
    pub impacts: ImpactTable,
    /// How outcomes adjust priority.
    pub aps: ApsConfig,
    /// Silence after our send before `no_response` is recorded (default 7 days).
    pub no_response_after: Duration,
    /// How far back the calendar scan looks (default 30 days).
    pub calendar_lookback: Duration,
    /// How far ahead the calendar scan looks (default 90 days).
    pub calendar_lookahead: Duration,
    /// Actor name on draft events written by the effects (default `system:outcomes`).
    pub actor: String,
    /// Most history/deal pages read in one scan (default 50); a scan that stops there says so
    /// ([`ScanReport::more`](super::ScanReport::more)) and the next one continues from the saved cursor.
    pub max_pages: u32,
    /// How far back a mailbox re-sync searches when no earlier scan time is known (default 7
    /// days). A re-sync replaces history reading when the mailbox no longer knows the cursor.
    #[serde(default = "default_resync_window")]
    pub mailbox_resync_window: Duration,
    /// Most messages one mailbox re-sync reads (default 500).
    #[serde(default = "default_resync_limit")]
    pub mailbox_resync_limit: u32,
}

fn default_resync_window() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

fn default_resync_limit() -> u32 {
    500
}

impl Default for OutcomeConfig {
    fn default() -> Self {
        Self {
            impacts: ImpactTable::default(),
            aps: ApsConfig::default(),
            no_response_after: Duration::from_secs(7 * 24 * 3600),
            calendar_lookback: Duration::from_secs(30 * 24 * 3600),
            calendar_lookahead: Duration::from_secs(90 * 24 * 3600),
            actor: "system:outcomes".into(),
            max_pages: 50,
            mailbox_resync_window: default_resync_window(),
            mailbox_resync_limit: default_resync_limit(),
        }
    }
}

/// An outcome to record; the impact comes from the [`ImpactTable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOutcome {
    /// What happened.
    pub outcome_type: OutcomeType,
    /// The contact it concerns.
    pub contact_email: EmailAddress,
    /// The sender involved, if known.
    pub sender: Option<EmailAddress>,
    /// The draft involved, if known.
    pub draft_id: Option<DraftId>,
    /// Idempotency key of the provider event (`mail:<message-id>:email_replied`, …).
    pub source_event_id: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Free-text detail, without message bodies.
    pub details: Option<String>,
}

/// What recording did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// The outcome as stored (the earlier one when it already existed).
    pub outcome: Outcome,
    /// False when an outcome with the same source event id was already recorded.
    pub new: bool,
    /// Pending, approved or drafted drafts stopped because of it.
    pub drafts_stopped: usize,
    /// Whether the contact was newly suppressed.
    pub suppressed: bool,
}

/// A one-click unsubscribe (RFC 8058 `List-Unsubscribe-Post`) receipt, as the webhook host
/// received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsubscribeReceipt {
    /// The address that unsubscribed.
    pub email: EmailAddress,
    /// A stable id of the receipt (the token in the unsubscribe URL), for idempotency.
    pub receipt_id: String,
    /// The draft whose link was used, when the token names one.
    pub draft_id: Option<DraftId>,
    /// When the POST arrived.
    pub received_at: DateTime<Utc>,
}

/// Records outcomes, runs the detectors and applies the effects, over a store and a clock.
#[derive(Debug, Clone)]
pub struct Outcomes {
    pub(crate) store: DynStore,
    pub(crate) clock: DynClock,
    pub(crate) config: OutcomeConfig,
}

impl Outcomes {
    /// A service with the default configuration.
    #[must_use]
    pub fn new(store: DynStore, clock: DynClock) -> Self {
        Self::with_config(store, clock, OutcomeConfig::default())
    }

    /// A service with `config`.
    #[must_use]
    pub fn with_config(store: DynStore, clock: DynClock, config: OutcomeConfig) -> Self {
        Self {
            store,
            clock,
            config,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &OutcomeConfig {
        &self.config
    }

    /// Records an outcome unless one with the same source event id exists, and applies its
    /// effects first: on a reply, a positive or negative response, a booked meeting, an
    /// unsubscribe or a bounce, pending, approved and drafted (DRAFT_ONLY) drafts to the contact
    /// are stopped; bounces and unsubscribes suppress the address. Effects run before the record
    /// is written, so a crash in between repeats them (they are idempotent) rather than losing
    /// them.
    ///
    /// `InvalidInput` for an empty, over-long or control-character source event id.
    pub async fn record(&self, new: NewOutcome) -> Result<Recorded> {
        self.record_with_impact(new, None).await
    }

    /// [`Outcomes::record`] with the impact given instead of taken from the [`ImpactTable`]
    /// (`None`: the table's), for outcomes an operator records with their own weight. The
    /// effects are those of the type, whatever the impact.
    ///
    /// `InvalidInput` for an impact outside `MIN_IMPACT..=MAX_IMPACT` or a bad source event id.
    pub async fn record_with_impact(
        &self,
        new: NewOutcome,
        impact: Option<i32>,
    ) -> Result<Recorded> {
        if let Some(i) = impact
            && !(super::MIN_IMPACT..=super::MAX_IMPACT).contains(&i)
        {
            return Err(Error::invalid(
                "impact",
                format!(
                    "must be within {}..={}",
                    super::MIN_IMPACT,
                    super::MAX_IMPACT
                ),
            ));
        }
        let id = new.source_event_id.trim();
        if id.is_empty() || id.len() > MAX_SOURCE_ID_LEN || id.chars().any(char::is_control) {
            return Err(Error::invalid(
                "source_event_id",
                "must be 1..=512 bytes without control characters",
            ));
        }
        if let Some(existing) = self.find_by_source(&new).await? {
            return Ok(Recorded {
                outcome: existing,
                new: false,
                drafts_stopped: 0,
                suppressed: false,
            });
        }
        let now = self.clock.now();
        let mut drafts_stopped = 0;
        if effects::stops_drafts(new.outcome_type) {
            let reason = format!("stopped: {}", new.outcome_type);
            drafts_stopped = effects::stop_drafts(
                self.store.as_ref(),
                &new.contact_email,
                &reason,
                &self.config.actor,
                now,
            )
            .await?;
        }
        let mut suppressed = false;
        if let Some(reason) = effects::suppression_reason(new.outcome_type) {
            suppressed = effects::suppress(
                self.store.as_ref(),
                &new.contact_email,
                reason,
                &format!("outcome {} ({id})", new.outcome_type),
                now,
            )
            .await?;
        }
        let outcome = Outcome {
            id: OutcomeId::new(),
            outcome_type: new.outcome_type,
            contact_email: new.contact_email,
            sender: new.sender,
            draft_id: new.draft_id,
            impact: impact.unwrap_or_else(|| self.config.impacts.impact(new.outcome_type)),
            source_event_id: id.to_owned(),
            occurred_at: new.occurred_at,
            recorded_at: now,
            details: new.details,
        };
        // The contact's follow-up sequence: enrolled on a first send, moved on by a follow-up's,
        // stopped by a reply, meeting, unsubscribe, bounce or deal (idempotent, like the rest).
        crate::sequences::on_outcome(self.store.as_ref(), &outcome, now).await?;
        let is_new = self.store.record_outcome(&outcome).await?;
        Ok(Recorded {
            outcome,
            new: is_new,
            drafts_stopped,
            suppressed,
        })
    }

    /// The outcome already recorded for `new`'s source event, if any.
    pub(crate) async fn find_by_source(&self, new: &NewOutcome) -> Result<Option<Outcome>> {
        let existing = self
            .store
            .list_outcomes(&OutcomeFilter {
                contact: Some(new.contact_email.clone()),
                types: vec![new.outcome_type],
                ..OutcomeFilter::default()
            })
            .await?;
        Ok(existing
            .into_iter()
            .find(|o| o.source_event_id == new.source_event_id.trim()))
    }

    /// Records an outcome an operator entered by hand (each call is a new event).
    pub async fn record_manual(
        &self,
        contact: EmailAddress,
        outcome_type: OutcomeType,
        actor: &str,
    ) -> Result<Recorded> {
        let now = self.clock.now();
        self.record(NewOutcome {
            outcome_type,
            contact_email: contact,
            sender: None,
            draft_id: None,
            source_event_id: format!("manual:{}", OutcomeId::new()),
            occurred_at: now,
            details: Some(format!("recorded by {}", crate::model::clean_line(actor))),
        })
        .await
    }

    /// Records `email_sent` for a sent draft (idempotent per draft).
    pub async fn record_sent(&self, draft: &Draft) -> Result<Recorded> {
        self.record(NewOutcome {
            outcome_type: OutcomeType::EmailSent,
            contact_email: draft.contact_email.clone(),
            sender: Some(draft.sender.clone()),
            draft_id: Some(draft.id),
            source_event_id: format!("sent:{}", draft.id),
            occurred_at: draft.sent_at.unwrap_or_else(|| self.clock.now()),
            details: None,
        })
        .await
    }

    /// Records a one-click unsubscribe receipt: `email_unsubscribed`, suppression and stopped
    /// drafts. Called by the webhook host; the same receipt twice records once.
    pub async fn record_unsubscribe_receipt(
        &self,
        receipt: &UnsubscribeReceipt,
    ) -> Result<Recorded> {
        let sender = match receipt.draft_id {
            Some(id) => match self.store.get_draft(id).await {
                Ok(d) => Some(d.sender),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        self.record(NewOutcome {
            outcome_type: OutcomeType::EmailUnsubscribed,
            contact_email: receipt.email.clone(),
            sender,
            draft_id: receipt.draft_id,
            source_event_id: format!("unsubscribe:{}", receipt.receipt_id.trim()),
            occurred_at: receipt.received_at,
            details: Some("one-click unsubscribe (RFC 8058)".into()),
        })
        .await
    }

    /// The newest `limit` outcomes (0 = all).
    pub async fn recent(&self, limit: u32) -> Result<Vec<Outcome>> {
        self.store
            .list_outcomes(&OutcomeFilter {
                limit,
                ..OutcomeFilter::default()
            })
            .await
    }

    /// Every outcome of a contact, newest first.
    pub async fn for_contact(&self, contact: &EmailAddress) -> Result<Vec<Outcome>> {
        self.store
            .list_outcomes(&OutcomeFilter {
                contact: Some(contact.clone()),
                ..OutcomeFilter::default()
            })
            .await
    }

    /// The priority adjustment a contact's outcome history gives now (within ±20).
    pub async fn priority_adjustment_for(&self, contact: &EmailAddress) -> Result<f64> {
        let outcomes = self.for_contact(contact).await?;
        Ok(effects::priority_adjustment(
            &outcomes,
            self.clock.now(),
            &self.config.aps,
        ))
    }
}
