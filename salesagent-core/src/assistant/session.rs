//! One operator's conversation with the assistant.

use super::command::Command;
use super::interpret::{Interpretation, Interpreter, Source};
use super::parser::{Confirmation, parse_confirmation};
use crate::model::{Draft, DraftId, DraftStatus, EmailAddress, NewAuditEntry};
use crate::outcomes::{Outcomes, StatsQuery};
use crate::ports::{
    Audio, AudioFormat, DraftFilter, DynClock, DynLlm, DynStore, OutcomeFilter, SettingsExt,
    SpeechToText, TextToSpeech,
};
use crate::sending::{OperatorQueue, QueueItem, SendMode};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How the assistant behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssistantConfig {
    /// Draft-only or real sends: with real sends, approving asks for confirmation first.
    pub send_mode: SendMode,
    /// Ask before turning the kill switch on or off.
    pub confirm_kill_switch: bool,
    /// Days of outcomes the `stats` command covers.
    pub stats_days: u32,
}

impl Default for AssistantConfig {
    fn default() -> Self {
        Self {
            send_mode: SendMode::DraftOnly,
            confirm_kill_switch: true,
            stats_days: 30,
        }
    }
}

/// What the assistant answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    /// Plain text for the screen or for speech (no markup).
    pub text: String,
    /// The command this reply is about.
    pub command: Command,
    /// Who decided the command (`None` for answers to a confirmation).
    pub source: Option<Source>,
    /// True when the assistant waits for "yes" or "no".
    pub awaiting_confirmation: bool,
    /// The current draft after this turn.
    pub draft: Option<DraftId>,
}

/// One operator's session: the current draft, the drafts skipped, and a pending confirmation.
pub struct AssistantSession {
    actor: String,
    store: DynStore,
    clock: DynClock,
    queue: OperatorQueue,
    interpreter: Interpreter,
    config: AssistantConfig,
    current: Option<Draft>,
    skipped: BTreeSet<DraftId>,
    pending: Option<Command>,
}

impl std::fmt::Debug for AssistantSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssistantSession")
            .field("actor", &self.actor)
            .field("config", &self.config)
            .field("current", &self.current.as_ref().map(|d| d.id))
            .field("skipped", &self.skipped.len())
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn who(d: &Draft) -> String {
    let name = d
        .contact_name
        .clone()
        .unwrap_or_else(|| d.contact_email.to_string());
    match &d.company_name {
        Some(c) => format!("{name} at {c}"),
        None => name,
    }
}

fn factor_label(name: &str) -> &str {
    match name {
        "icp_fit" => "ICP fit",
        "recency" => "recency",
        "outcome_history" => "outcome history",
        other => other,
    }
}

/// Says why `item` is first in the queue: each priority factor with its points and reason, the
/// total, and the gap to the runner-up.
#[must_use]
pub fn explain_priority(item: &QueueItem, runner_up: Option<&QueueItem>, pending: usize) -> String {
    let mut s = format!(
        "Next is the draft to {}, subject: {}. It is first because ",
        who(&item.draft),
        squash(&item.draft.subject)
    );
    let parts: Vec<String> = item
        .factors
        .iter()
        .map(|f| {
            let verb = if f.points < 0.0 { "takes away" } else { "adds" };
            format!(
                "{} {verb} {:.1} points ({})",
                factor_label(&f.name),
                f.points.abs(),
                f.reason
            )
        })
        .collect();
    s.push_str(&parts.join("; "));
    s.push_str(&format!(". Total priority {:.1}", item.priority));
    match runner_up {
        Some(r) => s.push_str(&format!(
            ", ahead of the draft to {} at {:.1}",
            who(&r.draft),
            r.priority
        )),
        None => s.push_str(", and it is the only one to review"),
    }
    s.push_str(&format!(
        ". {} pending. Say approve, reject, skip, or read it to me.",
        plural(pending as u64, "draft", "drafts")
    ));
    s
}

impl AssistantSession {
    /// A session for `operator` (a name, or an actor like `operator:alice`) over `store`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty or multi-line operator name.
    pub fn new(operator: &str, store: DynStore, clock: DynClock) -> Result<Self> {
        let operator = operator.trim();
        if operator.is_empty() || operator.chars().any(char::is_control) || operator.len() > 200 {
            return Err(Error::invalid(
                "operator",
                "must be a non-empty single line",
            ));
        }
        let actor = if operator.contains(':') {
            operator.to_owned()
        } else {
            format!("operator:{operator}")
        };
        Ok(Self {
            actor,
            queue: OperatorQueue::new(store.clone(), clock.clone()),
            store,
            clock,
            interpreter: Interpreter::new(),
            config: AssistantConfig::default(),
            current: None,
            skipped: BTreeSet::new(),
            pending: None,
        })
    }

    /// Uses `llm` for utterances the parser cannot place.
    #[must_use]
    pub fn with_llm(mut self, llm: DynLlm) -> Self {
        self.interpreter = Interpreter::with_llm(llm);
        self
    }

    /// Replaces the configuration.
    #[must_use]
    pub fn with_config(mut self, config: AssistantConfig) -> Self {
        self.config = config;
        self
    }

    /// Uses `queue` (e.g. with an outcome adjustment and settings) instead of the default one.
    #[must_use]
    pub fn with_queue(mut self, queue: OperatorQueue) -> Self {
        self.queue = queue;
        self
    }

    /// The actor recorded in the audit log.
    #[must_use]
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The draft under review, as last seen.
    #[must_use]
    pub fn current(&self) -> Option<&Draft> {
        self.current.as_ref()
    }

    /// The command waiting for "yes" or "no", if any.
    #[must_use]
    pub fn awaiting_confirmation(&self) -> Option<&Command> {
        self.pending.as_ref()
    }

    /// What `utterance` would do, without doing it.
    pub async fn interpret(&self, utterance: &str) -> Interpretation {
        self.interpreter.interpret(utterance).await
    }

    fn reply(&self, text: impl Into<String>, command: Command, source: Option<Source>) -> Reply {
        Reply {
            text: text.into(),
            command,
            source,
            awaiting_confirmation: self.pending.is_some(),
            draft: self.current.as_ref().map(|d| d.id),
        }
    }

    /// Handles one utterance: an answer to a pending confirmation, or a new request.
    ///
    /// While a confirmation is pending, "yes" (or the same request again, as the parser reads
    /// it: "yes, send it") goes ahead; "no" or anything starting with "don't" ("no, don't send
    /// it") cancels and does nothing else; anything else cancels and is handled on its own.
    ///
    /// # Errors
    /// Only infrastructure failures (store unavailable and the like); refusals, conflicts and
    /// misunderstandings are replies.
    pub async fn handle(&mut self, utterance: &str) -> Result<Reply> {
        let mut prefix = String::new();
        let mut interpreted = None;
        if let Some(pending) = self.pending.take() {
            match parse_confirmation(utterance) {
                Some(Confirmation::Yes) => {
                    let mut r = self.run(pending).await?;
                    r.source = None;
                    return Ok(r);
                }
                Some(Confirmation::No) => {
                    return Ok(self.reply(
                        format!("OK, I did not {}.", describe(&pending)),
                        pending,
                        None,
                    ));
                }
                None => {
                    let i = self.interpreter.interpret(utterance).await;
                    if i.source == Source::Parser && i.command == pending {
                        let mut r = self.run(pending).await?;
                        r.source = Some(Source::Parser);
                        return Ok(r);
                    }
                    prefix = format!("I did not {}. ", describe(&pending));
                    interpreted = Some(i);
                }
            }
        }
        let Interpretation { command, source } = match interpreted {
            Some(i) => i,
            None => self.interpreter.interpret(utterance).await,
        };
        let mut r = self.execute(command).await?;
        r.source = Some(source);
        if !prefix.is_empty() {
            r.text = format!("{prefix}{}", r.text);
        }
        Ok(r)
    }

    /// Transcribes `audio` with `stt` and handles the transcript; returns both.
    ///
    /// # Errors
    /// Transcription failures and the errors of [`AssistantSession::handle`].
    pub async fn handle_audio(
        &mut self,
        stt: &dyn SpeechToText,
        audio: &Audio,
    ) -> Result<(String, Reply)> {
        let transcript = stt.transcribe(audio).await?;
        let reply = self.handle(&transcript).await?;
        Ok((transcript, reply))
    }

    /// Speaks a reply with `tts` in `format`.
    ///
    /// # Errors
    /// Whatever the engine returns (`Unsupported` for formats it cannot produce).
    pub async fn speak(
        tts: &dyn TextToSpeech,
        reply: &Reply,
        format: AudioFormat,
    ) -> Result<Audio> {
        tts.synthesize(&reply.text, format).await
    }

    /// Executes a typed command, asking for confirmation first where it is outward or
    /// destructive (approve with real sends on, pause and resume).
    ///
    /// # Errors
    /// As [`AssistantSession::handle`].
    pub async fn execute(&mut self, command: Command) -> Result<Reply> {
        self.pending = None;
        if let Err(e) = command.validate() {
            return Ok(self.reply(
                format!("I cannot do that: {}.", reason_of(&e)),
                command,
                None,
            ));
        }
        let question = match &command {
            Command::Approve if self.config.send_mode == SendMode::RealSends => {
                self.current.as_ref().map(|d| {
                    format!(
                        "Real sending is on: this e-mails {} at {} for real. Approve and send it? Say yes or no.",
                        who(d),
                        d.contact_email
                    )
                })
            }
            Command::PauseSending
                if self.config.confirm_kill_switch && !self.store.kill_switch().await? =>
            {
                Some(
                    "Pause all sending? Nothing will go out until you resume. Say yes or no."
                        .to_owned(),
                )
            }
            Command::ResumeSending
                if self.config.confirm_kill_switch && self.store.kill_switch().await? =>
            {
                Some(
                    "Resume sending? Approved drafts will start going out again. Say yes or no."
                        .to_owned(),
                )
            }
            _ => None,
        };
        if let Some(q) = question {
            self.pending = Some(command.clone());
            return Ok(self.reply(q, command, None));
        }
        self.run(command).await
    }

    async fn run(&mut self, command: Command) -> Result<Reply> {
        let outcome = match &command {
            Command::Next => self.next(false).await,
            Command::Skip => self.next(true).await,
            Command::Approve => self.approve().await,
            Command::Reject { reason } => self.reject(reason.as_deref()).await,
            Command::Edit { subject, body } => self.edit(subject.clone(), body.clone()).await,
            Command::Show => self.show().await,
            Command::PendingCount => self.pending_count().await,
            Command::Stats => self.stats().await,
            Command::Lookup { target } => self.lookup(target).await,
            Command::PauseSending => self.set_kill_switch(true).await,
            Command::ResumeSending => self.set_kill_switch(false).await,
            Command::StopSequence { target } => self.stop_sequence(target.as_deref()).await,
            Command::Clarify { question } => Ok(question.clone()),
        };
        let text = match outcome {
            Ok(text) => text,
            Err(Error::Conflict { .. }) => {
                let again = match self.current.as_ref().map(|d| d.id) {
                    Some(id) => match self.store.get_draft(id).await {
                        Ok(d) if d.status == DraftStatus::Pending => {
                            self.current = Some(d);
                            " Say read it to me to hear the latest version.".to_owned()
                        }
                        Ok(d) => {
                            self.current = None;
                            format!(
                                " It is now {}. Say next for the next one.",
                                d.status.as_str().to_lowercase()
                            )
                        }
                        Err(_) => {
                            self.current = None;
                            String::new()
                        }
                    },
                    None => String::new(),
                };
                format!("That draft changed since you saw it, so I did not act.{again}")
            }
            Err(Error::NotFound { .. }) => {
                self.current = None;
                "That draft no longer exists. Say next for the next one.".to_owned()
            }
            Err(e @ Error::InvalidInput { .. }) => {
                format!("I cannot do that: {}.", reason_of(&e))
            }
            Err(e) => return Err(e),
        };
        Ok(self.reply(text, command, None))
    }

    fn no_current(&self) -> String {
        "There is no draft in front of you yet. Say what's next to get one.".to_owned()
    }

    async fn next(&mut self, skip: bool) -> Result<String> {
        let mut prefix = String::new();
        if let Some(d) = self.current.take() {
            self.skipped.insert(d.id);
            if skip {
                prefix = format!("Skipped the draft to {}. ", who(&d));
            }
        } else if skip {
            prefix = "There was nothing to skip. ".to_owned();
        }
        let items = self.queue.pending().await?;
        if items.is_empty() {
            self.skipped.clear();
            return Ok(format!("{prefix}Nothing is pending. The queue is empty."));
        }
        let mut open: Vec<&QueueItem> = items
            .iter()
            .filter(|i| !self.skipped.contains(&i.draft.id))
            .collect();
        if open.is_empty() {
            prefix.push_str(&format!(
                "You have skipped all {} pending drafts, so I start again from the top. ",
                items.len()
            ));
            self.skipped.clear();
            open = items.iter().collect();
        }
        let top = open[0];
        let text = explain_priority(top, open.get(1).copied(), items.len());
        self.current = Some(top.draft.clone());
        Ok(format!("{prefix}{text}"))
    }

    async fn approve(&mut self) -> Result<String> {
        let Some(d) = self.current.clone() else {
            return Ok(self.no_current());
        };
        let approved = self.queue.approve(d.id, d.version, &self.actor).await?;
        self.current = None;
        self.skipped.remove(&approved.id);
        let mut s = format!("Approved the draft to {}.", who(&approved));
        match self.config.send_mode {
            SendMode::DraftOnly => {
                s.push_str(
                    " Real sending is off, so it becomes a draft in the mailbox; nothing is sent.",
                );
            }
            SendMode::RealSends => {
                s.push_str(" It will be sent within the send window and limits.");
            }
        }
        if self.store.kill_switch().await? {
            s.push_str(" Sending is paused right now, so it waits until you resume.");
        }
        s.push_str(" Say next for the next one.");
        Ok(s)
    }

    async fn reject(&mut self, reason: Option<&str>) -> Result<String> {
        let Some(d) = self.current.clone() else {
            return Ok(self.no_current());
        };
        let reason = reason.unwrap_or("rejected by the operator without a reason");
        let rejected = self
            .queue
            .reject(d.id, d.version, &self.actor, reason)
            .await?;
        self.current = None;
        Ok(format!(
            "Rejected the draft to {}. Reason: {reason}. Say next for the next one.",
            who(&rejected)
        ))
    }

    async fn edit(&mut self, subject: Option<String>, body: Option<String>) -> Result<String> {
        let Some(d) = self.current.clone() else {
            return Ok(self.no_current());
        };
        let changed = self
            .queue
            .edit(d.id, d.version, &self.actor, subject.clone(), body.clone())
            .await?;
        let mut parts = Vec::new();
        if let Some(s) = &subject {
            parts.push(format!("the subject is now: {s}"));
        }
        if body.is_some() {
            parts.push("the body is replaced".to_owned());
        }
        let text = format!(
            "Done, {}. The draft to {} is pending your approval.",
            parts.join(" and "),
            who(&changed)
        );
        self.current = Some(changed);
        Ok(text)
    }

    async fn show(&mut self) -> Result<String> {
        let Some(seen) = self.current.clone() else {
            return Ok(self.no_current());
        };
        let d = self.store.get_draft(seen.id).await?;
        let changed = if d.version == seen.version {
            ""
        } else {
            "It changed since you last saw it. "
        };
        let text = format!(
            "{changed}Draft to {}, {}. Subject: {}. Body: {} Status: {}.",
            who(&d),
            d.contact_email,
            squash(&d.subject),
            squash(&d.body),
            d.status.as_str().to_lowercase()
        );
        if d.status == DraftStatus::Pending {
            self.current = Some(d);
        } else {
            self.current = None;
        }
        Ok(text)
    }

    async fn pending_count(&self) -> Result<String> {
        let counts = self.store.draft_counts().await?;
        let pending = counts.get(&DraftStatus::Pending).copied().unwrap_or(0);
        let approved = counts.get(&DraftStatus::Approved).copied().unwrap_or(0);
        let mut s = match pending {
            0 => "Nothing is pending.".to_owned(),
            1 => "There is 1 draft pending.".to_owned(),
            n => format!("There are {n} drafts pending."),
        };
        if approved > 0 {
            s.push_str(&format!(
                " {} approved and waiting to go out.",
                plural(approved, "draft is", "drafts are")
            ));
        }
        Ok(s)
    }

    async fn stats(&self) -> Result<String> {
        let now = self.clock.now();
        let since = now - chrono::TimeDelta::days(i64::from(self.config.stats_days));
        let stats = Outcomes::new(self.store.clone(), self.clock.clone())
            .stats(&StatsQuery {
                since: Some(since),
                until: None,
                sender: None,
                bucket: None,
            })
            .await?;
        let o = &stats.overall;
        let mut s = format!(
            "In the last {} days: {} sent, {} bounced, {}, a reply rate of {:.0} percent. {} recorded, net impact {:+}.",
            self.config.stats_days,
            plural(o.sent, "e-mail", "e-mails"),
            o.bounced,
            plural(o.human_replies, "human reply", "human replies"),
            o.reply_rate * 100.0,
            plural(o.total, "outcome", "outcomes"),
            o.net_impact
        );
        if self.store.kill_switch().await? {
            s.push_str(" Sending is paused.");
        }
        Ok(s)
    }

    async fn lookup(&self, target: &str) -> Result<String> {
        let drafts: Vec<Draft> = if let Ok(email) = EmailAddress::parse(target) {
            self.store
                .list_drafts(&DraftFilter {
                    contact: Some(email),
                    ..DraftFilter::default()
                })
                .await?
        } else {
            let needle = target.to_lowercase();
            self.store
                .list_drafts(&DraftFilter::default())
                .await?
                .into_iter()
                .filter(|d| {
                    d.company_name
                        .as_deref()
                        .is_some_and(|c| c.to_lowercase().contains(&needle))
                        || d.contact_name
                            .as_deref()
                            .is_some_and(|c| c.to_lowercase().contains(&needle))
                        || d.contact_email.to_string().contains(&needle)
                })
                .collect()
        };
        if drafts.is_empty() {
            return Ok(format!("I found nothing about {target} in the drafts."));
        }
        let mut contacts: BTreeMap<String, &Draft> = BTreeMap::new();
        let mut statuses: BTreeMap<&'static str, u64> = BTreeMap::new();
        for d in &drafts {
            contacts.entry(d.contact_email.to_string()).or_insert(d);
            *statuses.entry(d.status.as_str()).or_insert(0) += 1;
        }
        let people: Vec<String> = contacts
            .values()
            .take(5)
            .map(|d| match &d.contact_name {
                Some(n) => format!("{n}, {}", d.contact_email),
                None => d.contact_email.to_string(),
            })
            .collect();
        let status_text: Vec<String> = statuses
            .iter()
            .map(|(k, v)| format!("{v} {}", k.to_lowercase()))
            .collect();
        let mut s = format!(
            "For {target} I found {} for {}: {}. Statuses: {}.",
            plural(drafts.len() as u64, "draft", "drafts"),
            plural(contacts.len() as u64, "contact", "contacts"),
            people.join("; "),
            status_text.join(", ")
        );
        let mut latest = None;
        for d in contacts.values().take(5) {
            let outcomes = self
                .store
                .list_outcomes(&OutcomeFilter {
                    contact: Some(d.contact_email.clone()),
                    limit: 1,
                    ..OutcomeFilter::default()
                })
                .await?;
            if let Some(o) = outcomes.into_iter().next()
                && latest
                    .as_ref()
                    .is_none_or(|l: &crate::model::Outcome| o.occurred_at > l.occurred_at)
            {
                latest = Some(o);
            }
        }
        if let Some(o) = latest {
            s.push_str(&format!(
                " Latest outcome: {} from {} on {}.",
                o.outcome_type.to_string().replace('_', " "),
                o.contact_email,
                o.occurred_at.format("%-d %B %Y")
            ));
        }
        Ok(s)
    }

    /// The contacts a name or company refers to in the drafts, whose sequence is still running
    /// or paused.
    async fn contacts_with_sequences(&self, target: &str) -> Result<Vec<EmailAddress>> {
        let needle = target.to_lowercase();
        let mut found = BTreeSet::new();
        for d in self.store.list_drafts(&DraftFilter::default()).await? {
            let hit = d
                .company_name
                .as_deref()
                .is_some_and(|c| c.to_lowercase().contains(&needle))
                || d.contact_name
                    .as_deref()
                    .is_some_and(|c| c.to_lowercase().contains(&needle));
            if hit {
                found.insert(d.contact_email);
            }
        }
        let mut out = Vec::new();
        for email in found {
            if let Some(seq) = self.store.get_sequence(&email).await?
                && !seq.status.is_finished()
            {
                out.push(email);
            }
        }
        Ok(out)
    }

    /// Stops the follow-up sequence of the current draft's contact, or of the contact `target`
    /// names (an address, or a name or company that matches one running sequence), with reason
    /// `manual` naming this operator, discards its unsent follow-up and records it in the audit
    /// log.
    async fn stop_sequence(&mut self, target: Option<&str>) -> Result<String> {
        let contact = match target {
            None => match &self.current {
                Some(d) => d.contact_email.clone(),
                None => {
                    return Ok("There is no draft in front of you, so I do not know whose \
                               follow-ups to stop. Say what's next, or name the e-mail address."
                        .to_owned());
                }
            },
            Some(t) => match EmailAddress::parse(t) {
                Ok(email) => email,
                Err(_) => {
                    let mut found = self.contacts_with_sequences(t).await?;
                    match found.len() {
                        0 => {
                            return Ok(format!(
                                "I found no running follow-up sequence for {t}. Which e-mail address do you mean?"
                            ));
                        }
                        1 => found.remove(0),
                        n => {
                            let list: Vec<String> =
                                found.iter().take(5).map(ToString::to_string).collect();
                            return Ok(format!(
                                "{t} matches {n} contacts with running follow-ups: {}. Which e-mail address should I stop?",
                                list.join(", ")
                            ));
                        }
                    }
                }
            },
        };
        let now = self.clock.now();
        let before = self.store.get_sequence(&contact).await?;
        let Some(before) = before else {
            return Ok(format!("{contact} has no follow-up sequence."));
        };
        if before.status.is_finished() {
            let why = before
                .stop_reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            return Ok(format!(
                "The follow-ups to {contact} already ended: {}{why}.",
                before.status
            ));
        }
        let Some(seq) = crate::sequences::stop_by_operator(
            &*self.store,
            &contact,
            &self.actor,
            Some("assistant"),
            now,
        )
        .await?
        else {
            return Ok(format!("{contact} has no follow-up sequence."));
        };
        let mut text = format!(
            "Stopped the follow-ups to {contact}: no more follow-ups go out, and any unsent one is discarded."
        );
        if let Some(d) = self.current.as_ref().filter(|d| seq.drafts.contains(&d.id)) {
            match self.store.get_draft(d.id).await {
                Ok(fresh) if fresh.status == DraftStatus::Pending => self.current = Some(fresh),
                Ok(_) | Err(Error::NotFound { .. }) => {
                    self.current = None;
                    text.push_str(
                        " The follow-up in front of you was discarded. Say next for the next one.",
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Ok(text)
    }

    async fn set_kill_switch(&mut self, on: bool) -> Result<String> {
        if self.store.kill_switch().await? == on {
            return Ok(if on {
                "Sending is already paused.".to_owned()
            } else {
                "Sending is already running.".to_owned()
            });
        }
        self.store.set_kill_switch(on).await?;
        self.store
            .append_audit(&NewAuditEntry {
                actor: self.actor.clone(),
                action: if on {
                    "kill_switch.on"
                } else {
                    "kill_switch.off"
                }
                .to_owned(),
                subject: crate::ports::KILL_SWITCH_KEY.to_owned(),
                details: serde_json::json!({"via": "assistant", "at": self.clock.now()}),
            })
            .await?;
        Ok(if on {
            "Sending is paused. Nothing goes out until you say resume sending.".to_owned()
        } else {
            "Sending is resumed. Approved drafts go out again within the send window and limits."
                .to_owned()
        })
    }
}

fn describe(c: &Command) -> &'static str {
    match c {
        Command::Approve => "approve the draft",
        Command::PauseSending => "pause sending",
        Command::ResumeSending => "resume sending",
        _ => "do that",
    }
}

fn reason_of(e: &Error) -> String {
    match e {
        Error::InvalidInput { field, reason } => format!("the {field} {reason}"),
        other => other.to_string(),
    }
}
