//! Which drafting format the pipeline asks the model in ([`DraftFormat`]), and the prose mode's
//! calls.
//!
//! - `json`: the JSON answer with one repair retry ([`Pipeline::llm_draft`]).
//! - `prose`: a short plain-text request, one warmer retry, the draft composed around the
//!   prose ([`writer::check_prose_answer`]).
//! - `auto`: JSON first, within two thirds of the drafting deadline; when the run's JSON answers
//!   are invalid (or time out), prose in the same run with the time left. After
//!   [`AUTO_JSON_FAILURES`] runs whose JSON failed without a valid JSON answer in between, this
//!   pipeline asks its model in prose only ([`AutoFormat`]): a pipeline has one model, so the
//!   memory is the pipeline's, for the life of the process.

use super::Pipeline;
use crate::model::{TemplateReason, VoiceProfile};
use crate::prompt::prose::AUTO_JSON_FAILURES;
use crate::prompt::{self, CheckedDraft, DraftFormat, DraftInput};
use crate::{Error, writer};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Why a draft could not be written by the model: the reason, its detail, the model that
/// answered (if one did).
pub(super) type Failure = (TemplateReason, String, Option<String>);

/// What [`DraftFormat::Auto`] has learnt about this pipeline's model.
#[derive(Debug, Default)]
pub struct AutoFormat {
    json_failures: AtomicU32,
    prose: AtomicBool,
}

impl AutoFormat {
    /// True once the model is asked in prose only.
    #[must_use]
    pub fn prose(&self) -> bool {
        self.prose.load(Ordering::Relaxed)
    }

    /// A valid JSON answer: failures so far no longer count.
    fn json_ok(&self) {
        self.json_failures.store(0, Ordering::Relaxed);
    }

    /// A run whose JSON drafting failed; after [`AUTO_JSON_FAILURES`] in a row, prose only.
    fn json_failed(&self) {
        let n = self.json_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= AUTO_JSON_FAILURES && !self.prose.swap(true, Ordering::Relaxed) {
            tracing::info!(
                failures = n,
                "drafting: the model's JSON drafts failed {n} runs in a row; asking in prose from now on"
            );
        }
    }
}

/// Whether a failure of the JSON attempt is worth a prose attempt (the model answered, or was
/// too slow), not a model that is missing or down.
fn prose_may_help(reason: TemplateReason) -> bool {
    matches!(
        reason,
        TemplateReason::InvalidOutput
            | TemplateReason::GroundingFailed
            | TemplateReason::LlmTimedOut
    )
}

fn timed_out(limit: Duration, model: Option<String>) -> Failure {
    (
        TemplateReason::LlmTimedOut,
        format!("llm timed out after {} ms", limit.as_millis()),
        model,
    )
}

impl Pipeline {
    /// The model's draft in the configured format: the checked draft, the model and the format
    /// it was written in, within `limit` in all.
    pub(super) async fn llm_draft_in_format(
        &self,
        input: &DraftInput,
        voice: Option<&VoiceProfile>,
        limit: Duration,
    ) -> std::result::Result<(CheckedDraft, String, DraftFormat), Failure> {
        let json = |limit: Duration| async move {
            tokio::time::timeout(limit, self.llm_draft(input))
                .await
                .unwrap_or_else(|_| Err(timed_out(limit, None)))
        };
        let prose = |limit: Duration| async move {
            tokio::time::timeout(limit, self.llm_prose_draft(input, voice))
                .await
                .unwrap_or_else(|_| Err(timed_out(limit, None)))
        };
        match self.config.draft_format {
            DraftFormat::Json => json(limit).await.map(|(c, m)| (c, m, DraftFormat::Json)),
            DraftFormat::Prose => prose(limit).await.map(|(c, m)| (c, m, DraftFormat::Prose)),
            DraftFormat::Auto if self.auto_format.prose() => {
                prose(limit).await.map(|(c, m)| (c, m, DraftFormat::Prose))
            }
            DraftFormat::Auto => {
                let started = tokio::time::Instant::now();
                let first = limit * 2 / 3;
                let failure = match json(first).await {
                    Ok((c, m)) => {
                        self.auto_format.json_ok();
                        return Ok((c, m, DraftFormat::Json));
                    }
                    Err(f) if prose_may_help(f.0) => f,
                    Err(f) => return Err(f),
                };
                self.auto_format.json_failed();
                let left = limit.saturating_sub(started.elapsed());
                match prose(left).await {
                    Ok((c, m)) => {
                        let mut c = c;
                        c.repairs.insert(
                            0,
                            format!(
                                "written in prose after the JSON draft failed: {}",
                                failure.1
                            ),
                        );
                        Ok((c, m, DraftFormat::Prose))
                    }
                    Err(p) => Err((
                        failure.0,
                        format!("{}; then in prose: {}", failure.1, p.1),
                        failure.2.or(p.2),
                    )),
                }
            }
        }
    }

    /// Asks the model for body prose ([`prompt::prose_request`]), checks and composes the
    /// draft ([`writer::check_prose_answer`]), and asks once more, warmer, when the answer is
    /// refused. The offline [`writer::TemplateLlm`] counts as no model at all.
    pub(super) async fn llm_prose_draft(
        &self,
        input: &DraftInput,
        voice: Option<&VoiceProfile>,
    ) -> std::result::Result<(CheckedDraft, String), Failure> {
        let llm = &self.ports.llm;
        let req = prompt::prose_request(input);
        let first = llm.complete(&req).await.map_err(|e| {
            (
                TemplateReason::LlmUnavailable,
                format!("llm unavailable: {e}"),
                None,
            )
        })?;
        if first.model == writer::TEMPLATE_MODEL {
            return Err((
                TemplateReason::NoModel,
                "no language model configured (offline template writer)".to_owned(),
                None,
            ));
        }
        let e = match writer::check_prose_answer(&first.content, input, voice) {
            Ok(out) => return Ok((out, first.model)),
            Err(e) => e,
        };
        let model = Some(first.model.clone());
        let second = llm
            .complete(&prompt::prose_retry_request(&req))
            .await
            .map_err(|e2| {
                (
                    TemplateReason::LlmUnavailable,
                    format!("llm unavailable on retry: {e2}"),
                    model.clone(),
                )
            })?;
        match writer::check_prose_answer(&second.content, input, voice) {
            Ok(mut out) => {
                out.repairs
                    .insert(0, format!("the first prose answer was refused: {e}"));
                Ok((out, second.model))
            }
            Err(e2) => {
                let reason = if matches!(&e2, Error::InvalidInput { field, .. } if field == "grounding")
                {
                    TemplateReason::GroundingFailed
                } else {
                    TemplateReason::InvalidOutput
                };
                Err((reason, format!("llm prose invalid twice: {e}; {e2}"), model))
            }
        }
    }
}
