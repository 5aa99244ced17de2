//! Auto-approval (no ML): a pending draft is approved without an operator when any rule
//! matches, the feature is enabled (`AUTO_APPROVE_ENABLED=true`) and the kill switch is off.
//!
//! Rules:
//! - `replied_before`: the recipient has written to us before (an inbound message or a reply /
//!   positive-response outcome on record);
//! - `approved_recipient`: the recipient is in the approved-recipients table;
//! - `icp_verified_domain`: ICP score at or above the threshold **and** a verified company domain
//!   (the e-mail domain matches the CRM company's domain and is not free-mail or disposable).
//!
//! Every evaluation yields a [`RuleDecision`] listing every rule (and the two gates) with why it
//! matched or not; [`AutoApprover::apply`] stores it with the draft.

use crate::model::{
    Draft, DraftAction, DraftId, DraftStatus, MessageDirection, NewAuditEntry, OutcomeType,
    RuleDecision, RuleVerdict,
};
use crate::ports::{DraftFilter, DynCrm, OutcomeFilter, SettingsExt, Store};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Actor name recorded when a rule approves a draft.
pub const RULE_ACTOR: &str = "rule:auto_approve";
/// Rule name: the recipient replied before.
pub const RULE_REPLIED_BEFORE: &str = "replied_before";
/// Rule name: the recipient is approved.
pub const RULE_APPROVED_RECIPIENT: &str = "approved_recipient";
/// Rule name: ICP over threshold on a verified company domain.
pub const RULE_ICP_VERIFIED_DOMAIN: &str = "icp_verified_domain";
/// Gate name: the feature is enabled.
pub const GATE_ENABLED: &str = "auto_approve_enabled";
/// Gate name: the kill switch is off.
pub const GATE_KILL_SWITCH: &str = "kill_switch_off";

/// Auto-approval settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesConfig {
    /// Off unless configured (`AUTO_APPROVE_ENABLED=true`).
    pub enabled: bool,
    /// Minimum ICP score for `icp_verified_domain` (0..=100).
    pub icp_threshold: u8,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            icp_threshold: 80,
        }
    }
}

/// What the rules look at, gathered from the store and CRM.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuleFacts {
    /// Why we believe the recipient replied before, if we do.
    pub replied_before: Option<String>,
    /// The recipient is in the approved-recipients table.
    pub approved_recipient: bool,
    /// The CRM company's domain, if known.
    pub company_domain: Option<String>,
    /// Why the company domain is unknown, when it is.
    pub company_lookup_note: Option<String>,
    /// The kill switch is on.
    pub kill_switch: bool,
}

fn verdict(rule: &str, matched: bool, reason: impl Into<String>) -> RuleVerdict {
    RuleVerdict {
        rule: rule.to_owned(),
        matched,
        reason: reason.into(),
    }
}

/// Evaluates the rules on plain values (no I/O).
#[must_use]
pub fn evaluate(
    config: &RulesConfig,
    draft: &Draft,
    facts: &RuleFacts,
    now: DateTime<Utc>,
) -> RuleDecision {
    let mut verdicts = Vec::with_capacity(5);

    verdicts.push(match &facts.replied_before {
        Some(why) => verdict(RULE_REPLIED_BEFORE, true, why.clone()),
        None => verdict(
            RULE_REPLIED_BEFORE,
            false,
            "no earlier message or reply from the recipient",
        ),
    });

    verdicts.push(verdict(
        RULE_APPROVED_RECIPIENT,
        facts.approved_recipient,
        if facts.approved_recipient {
            format!("{} is an approved recipient", draft.contact_email)
        } else {
            format!("{} is not in the approved recipients", draft.contact_email)
        },
    ));

    verdicts.push(icp_verdict(config, draft, facts));

    let any_rule = verdicts.iter().any(|v| v.matched);
    verdicts.push(verdict(
        GATE_ENABLED,
        config.enabled,
        if config.enabled {
            "auto-approval is enabled"
        } else {
            "auto-approval is disabled (set AUTO_APPROVE_ENABLED=true)"
        },
    ));
    verdicts.push(verdict(
        GATE_KILL_SWITCH,
        !facts.kill_switch,
        if facts.kill_switch {
            "the kill switch is on"
        } else {
            "the kill switch is off"
        },
    ));
    let pending = draft.status == DraftStatus::Pending;
    RuleDecision {
        approve: any_rule && config.enabled && !facts.kill_switch && pending,
        verdicts,
        decided_at: now,
    }
}

fn icp_verdict(config: &RulesConfig, draft: &Draft, facts: &RuleFacts) -> RuleVerdict {
    let email_domain = draft.contact_email.domain();
    let Some(icp) = &draft.icp else {
        return verdict(RULE_ICP_VERIFIED_DOMAIN, false, "no ICP score");
    };
    if icp.score < config.icp_threshold {
        return verdict(
            RULE_ICP_VERIFIED_DOMAIN,
            false,
            format!(
                "ICP {} is below the threshold {}",
                icp.score, config.icp_threshold
            ),
        );
    }
    if draft.contact_email.is_free_mail() {
        return verdict(
            RULE_ICP_VERIFIED_DOMAIN,
            false,
            format!(
                "ICP {} but {email_domain} is free-mail or disposable",
                icp.score
            ),
        );
    }
    let Some(company) = facts.company_domain.as_deref() else {
        let note = facts
            .company_lookup_note
            .as_deref()
            .unwrap_or("no CRM company domain");
        return verdict(
            RULE_ICP_VERIFIED_DOMAIN,
            false,
            format!("ICP {} but the domain is unverified: {note}", icp.score),
        );
    };
    let company = crate::model::Domain::parse(company);
    match company {
        Ok(c) if c.base() == email_domain.base() => verdict(
            RULE_ICP_VERIFIED_DOMAIN,
            true,
            format!(
                "ICP {} >= {} and {email_domain} matches the CRM company domain {c}",
                icp.score, config.icp_threshold
            ),
        ),
        Ok(c) => verdict(
            RULE_ICP_VERIFIED_DOMAIN,
            false,
            format!(
                "ICP {} but {email_domain} does not match the CRM company domain {c}",
                icp.score
            ),
        ),
        Err(_) => verdict(
            RULE_ICP_VERIFIED_DOMAIN,
            false,
            "the CRM company domain is invalid",
        ),
    }
}

/// What share of existing drafts the rules would approve.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DryRunReport {
    /// Drafts evaluated.
    pub total: u64,
    /// Drafts at least one rule matches (gates ignored: "if it were enabled").
    pub would_approve: u64,
    /// `would_approve / total` (0 when there are no drafts).
    pub share: f64,
    /// Matches per rule.
    pub per_rule: std::collections::BTreeMap<String, u64>,
    /// Whether auto-approval is enabled right now.
    pub enabled: bool,
}

/// Gathers facts and applies the rules to drafts.
#[derive(Debug, Clone, Default)]
pub struct AutoApprover {
    /// The configuration.
    pub config: RulesConfig,
    crm: Option<DynCrm>,
}

impl AutoApprover {
    /// An approver with `config`, without CRM (the domain rule then never matches).
    #[must_use]
    pub fn new(config: RulesConfig) -> Self {
        Self { config, crm: None }
    }

    /// Uses `crm` to find the contact's company domain.
    #[must_use]
    pub fn with_crm(mut self, crm: DynCrm) -> Self {
        self.crm = Some(crm);
        self
    }

    /// Reads what the rules need about `draft` from the store and the CRM.
    ///
    /// # Errors
    /// Store errors. CRM errors are not fatal: they become a note and the domain rule fails.
    pub async fn facts<S: Store + ?Sized>(&self, store: &S, draft: &Draft) -> Result<RuleFacts> {
        let email = &draft.contact_email;
        let inbound = store
            .messages_for_contact(email)
            .await?
            .into_iter()
            .find(|m| m.direction == MessageDirection::Inbound);
        let replied_before = if let Some(m) = inbound {
            Some(format!(
                "received a message from the recipient on {}",
                m.at.format("%Y-%m-%d")
            ))
        } else {
            let outcomes = store
                .list_outcomes(&OutcomeFilter {
                    contact: Some(email.clone()),
                    types: vec![OutcomeType::EmailReplied, OutcomeType::PositiveResponse],
                    limit: 1,
                    ..OutcomeFilter::default()
                })
                .await?;
            outcomes.first().map(|o| {
                format!(
                    "{} recorded on {}",
                    o.outcome_type.as_str(),
                    o.occurred_at.format("%Y-%m-%d")
                )
            })
        };
        let approved_recipient = store.is_approved_recipient(email).await?;
        let (company_domain, company_lookup_note) = self.company_domain(draft).await;
        Ok(RuleFacts {
            replied_before,
            approved_recipient,
            company_domain,
            company_lookup_note,
            kill_switch: store.kill_switch().await?,
        })
    }

    async fn company_domain(&self, draft: &Draft) -> (Option<String>, Option<String>) {
        let Some(crm) = &self.crm else {
            return (None, Some("no CRM configured".into()));
        };
        let contact = match crm.find_contact_by_email(&draft.contact_email).await {
            Ok(Some(c)) => c,
            Ok(None) => return (None, Some("contact not found in the CRM".into())),
            Err(e) => return (None, Some(format!("CRM lookup failed: {}", e.kind()))),
        };
        let Some(company_id) = contact.company_id else {
            return (None, Some("contact has no company in the CRM".into()));
        };
        match crm.get_company(&company_id).await {
            Ok(c) => match c.domain {
                Some(d) => (Some(d.to_string()), None),
                None => (None, Some("CRM company has no domain".into())),
            },
            Err(e) => (
                None,
                Some(format!("CRM company lookup failed: {}", e.kind())),
            ),
        }
    }

    /// The decision for one draft, without storing anything (`rules explain`).
    ///
    /// # Errors
    /// Store errors; `NotFound` for an unknown draft.
    pub async fn explain<S: Store + ?Sized>(
        &self,
        store: &S,
        id: DraftId,
        now: DateTime<Utc>,
    ) -> Result<RuleDecision> {
        let draft = store.get_draft(id).await?;
        let facts = self.facts(store, &draft).await?;
        Ok(evaluate(&self.config, &draft, &facts, now))
    }

    /// Evaluates a pending draft and stores the decision with it; approves it when the decision
    /// says so (actor [`RULE_ACTOR`]). Returns the decision.
    ///
    /// # Errors
    /// `Conflict` when the draft is not pending or changed meanwhile; store errors.
    pub async fn apply<S: Store + ?Sized>(
        &self,
        store: &S,
        id: DraftId,
        now: DateTime<Utc>,
    ) -> Result<RuleDecision> {
        let mut draft = store.get_draft(id).await?;
        if draft.status != DraftStatus::Pending {
            return Err(Error::conflict(format!(
                "rules apply to pending drafts; this one is {}",
                draft.status
            )));
        }
        let facts = self.facts(store, &draft).await?;
        let decision = evaluate(&self.config, &draft, &facts, now);
        let expected = draft.version;
        let event = if decision.approve {
            draft.rule_decision = Some(decision.clone());
            draft.apply(DraftAction::Approve, RULE_ACTOR, now)?
        } else {
            draft.apply(
                DraftAction::RecordDecision {
                    send: None,
                    rules: Some(decision.clone()),
                },
                RULE_ACTOR,
                now,
            )?
        };
        if decision.approve {
            // Approval, its audit entry (with every rule's explanation) and the send job are
            // one atomic write, as for an operator's approval.
            let entry = NewAuditEntry {
                actor: RULE_ACTOR.to_owned(),
                action: "draft.approve".to_owned(),
                subject: draft.id.to_string(),
                details: serde_json::json!({
                    "version": draft.version,
                    "verdicts": decision.verdicts,
                }),
            };
            let jobs = [super::sender::SendJob::new_job(draft.id, draft.version)];
            store
                .update_draft_record(&crate::ports::DraftUpdate {
                    draft: &draft,
                    expected_version: expected,
                    event: &event,
                    audit: Some(&entry),
                    jobs: &jobs,
                })
                .await?;
        } else {
            store.update_draft(&draft, expected, &event).await?;
        }
        Ok(decision)
    }

    /// What share of existing drafts (every status) at least one rule would approve, as if the
    /// feature were enabled and the kill switch off. Stores nothing.
    ///
    /// # Errors
    /// Store errors.
    pub async fn dry_run<S: Store + ?Sized>(
        &self,
        store: &S,
        now: DateTime<Utc>,
    ) -> Result<DryRunReport> {
        let drafts = store.list_drafts(&DraftFilter::default()).await?;
        let as_enabled = RulesConfig {
            enabled: true,
            ..self.config
        };
        let mut report = DryRunReport {
            enabled: self.config.enabled,
            ..DryRunReport::default()
        };
        for mut draft in drafts {
            let mut facts = self.facts(store, &draft).await?;
            facts.kill_switch = false;
            draft.status = DraftStatus::Pending;
            let d = evaluate(&as_enabled, &draft, &facts, now);
            report.total += 1;
            if d.approve {
                report.would_approve += 1;
            }
            for v in d.verdicts.iter().filter(|v| v.matched) {
                if v.rule != GATE_ENABLED && v.rule != GATE_KILL_SWITCH {
                    *report.per_rule.entry(v.rule.clone()).or_default() += 1;
                }
            }
        }
        report.share = if report.total == 0 {
            0.0
        } else {
            report.would_approve as f64 / report.total as f64
        };
        Ok(report)
    }
}
