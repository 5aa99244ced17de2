//! The pipeline's steps and what each one waits for, declared once.
//!
//! [`STEP_GRAPH`] lists, for every [`Step`], the steps whose *results it reads* (its data
//! dependencies). [`PIPELINE_SCHEDULE`] lists what each step *waits for* in
//! [`Pipeline::process`](super::Pipeline::process) as written: the same edges plus the one
//! ordering the pipeline adds for simplicity (the ICP score is computed beside the draft, once
//! everything gathered is in). `tests/pipeline_graph.rs` checks that a run of the pipeline waits
//! exactly where [`PIPELINE_SCHEDULE`] says (a step starts after each step it waits for has
//! finished, and every other pair of steps overlaps) and that [`PIPELINE_SCHEDULE`] keeps every
//! edge of [`STEP_GRAPH`].
//!
//! [`critical_path`] computes the longest path through either graph for given step costs: the
//! pipeline benchmark divides its measured time to a draft by the critical path of
//! [`STEP_GRAPH`] (the least time any schedule of these steps can take).

use std::time::Duration;

/// A step of the pipeline. [`Step::name`] is the name of its
/// [`StepRecord`](crate::model::StepRecord) in a run (none for [`Step::Submission`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Storing the submission ([`Pipeline::process`](super::Pipeline::process)) or reading it
    /// back (a queued run): one store call.
    Submission,
    /// CRM contact lookup, or creation.
    ResolveContact,
    /// Mailbox search for earlier mail with the lead.
    MailHistory,
    /// Drive search for assets.
    DriveAssets,
    /// CRM company lookup by the lead's domain (by the contact's company for free mail).
    CompanyLookup,
    /// LLM company analysis.
    CompanyAnalysis,
    /// Calendar free/busy and the proposed slots (in the contact's time zone when the form
    /// gave none).
    MeetingSlots,
    /// The sender's voice profile from the store.
    VoiceProfile,
    /// The LLM draft (else the template writer).
    Draft,
    /// The ICP score (computation only).
    IcpScore,
    /// The one atomic write of the draft, its run, audit entry and follow-up job.
    StoreDraft,
}

impl Step {
    /// Every step, in an order that respects both graphs.
    pub const ALL: [Step; 11] = [
        Step::Submission,
        Step::ResolveContact,
        Step::MailHistory,
        Step::DriveAssets,
        Step::CompanyLookup,
        Step::CompanyAnalysis,
        Step::MeetingSlots,
        Step::VoiceProfile,
        Step::Draft,
        Step::IcpScore,
        Step::StoreDraft,
    ];

    /// The step's record name in a [`WorkflowRun`](crate::model::WorkflowRun)
    /// (`"submission"` for [`Step::Submission`], which has no record).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Step::Submission => "submission",
            Step::ResolveContact => "resolve_contact",
            Step::MailHistory => "mail_history",
            Step::DriveAssets => "drive_assets",
            Step::CompanyLookup => "company_lookup",
            Step::CompanyAnalysis => "company_analysis",
            Step::MeetingSlots => "meeting_slots",
            Step::VoiceProfile => "voice_profile",
            Step::Draft => "draft",
            Step::IcpScore => "icp_score",
            Step::StoreDraft => "store_draft",
        }
    }

    /// The step whose record is called `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }
}

use Step::{
    CompanyAnalysis, CompanyLookup, Draft, DriveAssets, IcpScore, MailHistory, MeetingSlots,
    ResolveContact, StoreDraft, Submission, VoiceProfile,
};

/// What each step reads: the step, and the steps whose results it needs. Every step reads the
/// submission; the meeting slots read the contact (its time zone when the form gave none); the
/// company lookup goes by the lead's domain (it reads the contact only for a free-mail lead,
/// whose company comes from the contact's company id); the analysis reads the company; the draft
/// reads everything gathered; the ICP score reads the contact and the company; the write stores
/// the draft and its score.
pub const STEP_GRAPH: &[(Step, &[Step])] = &[
    (Submission, &[]),
    (ResolveContact, &[Submission]),
    (MailHistory, &[Submission]),
    (DriveAssets, &[Submission]),
    (CompanyLookup, &[Submission]),
    (CompanyAnalysis, &[CompanyLookup]),
    (MeetingSlots, &[ResolveContact]),
    (VoiceProfile, &[Submission]),
    (
        Draft,
        &[
            ResolveContact,
            MailHistory,
            DriveAssets,
            CompanyLookup,
            CompanyAnalysis,
            MeetingSlots,
            VoiceProfile,
        ],
    ),
    (IcpScore, &[ResolveContact, CompanyLookup]),
    (StoreDraft, &[Draft, IcpScore]),
];

/// What each step waits for in the pipeline as written: the contact lookup, mail history, Drive
/// assets, the company lookup (then the analysis) and the voice profile start together; the
/// meeting slots start when the contact is resolved; the draft, with the ICP score beside it,
/// starts once all of those have finished; then the store. The company lookup of a lead with a
/// company domain goes by the domain and waits for the contact only when the CRM does not know
/// the domain (or the lead writes from free mail): a run of that case waits for
/// [`Step::ResolveContact`] too, which neither graph lists (the benchmark's and the test's leads
/// have a known domain). Compared with [`STEP_GRAPH`], the ICP score also waits for all of that.
pub const PIPELINE_SCHEDULE: &[(Step, &[Step])] = &[
    (Submission, &[]),
    (ResolveContact, &[Submission]),
    (MailHistory, &[Submission]),
    (DriveAssets, &[Submission]),
    (CompanyLookup, &[Submission]),
    (CompanyAnalysis, &[CompanyLookup]),
    (MeetingSlots, &[ResolveContact]),
    (VoiceProfile, &[Submission]),
    (
        Draft,
        &[
            MailHistory,
            DriveAssets,
            CompanyAnalysis,
            MeetingSlots,
            VoiceProfile,
        ],
    ),
    (
        IcpScore,
        &[
            MailHistory,
            DriveAssets,
            CompanyAnalysis,
            MeetingSlots,
            VoiceProfile,
        ],
    ),
    (StoreDraft, &[Draft, IcpScore]),
];

/// The steps `step` waits for in `graph` (empty when it is not listed).
#[must_use]
pub fn deps(graph: &[(Step, &[Step])], step: Step) -> Vec<Step> {
    graph
        .iter()
        .find(|(s, _)| *s == step)
        .map(|(_, d)| d.to_vec())
        .unwrap_or_default()
}

/// Whether `later` waits, directly or through other steps, for `earlier` in `graph`.
#[must_use]
pub fn waits_for(graph: &[(Step, &[Step])], later: Step, earlier: Step) -> bool {
    let mut stack = deps(graph, later);
    let mut seen = Vec::new();
    while let Some(s) = stack.pop() {
        if s == earlier {
            return true;
        }
        if !seen.contains(&s) {
            seen.push(s);
            stack.extend(deps(graph, s));
        }
    }
    false
}

/// The longest path through `graph` when each step takes `cost(step)` and starts as soon as
/// every step it waits for has finished: its length and its steps, first to last. `graph` must
/// be acyclic (both graphs of this module are; a cycle is broken arbitrarily, never looped on).
#[must_use]
pub fn critical_path(
    graph: &[(Step, &[Step])],
    cost: impl Fn(Step) -> Duration,
) -> (Duration, Vec<Step>) {
    // Steps in ALL order respect both graphs; a step's finish time is its cost after the latest
    // finish of the steps it waits for.
    let mut finish: Vec<(Step, Duration, Option<Step>)> = Vec::with_capacity(Step::ALL.len());
    for step in Step::ALL {
        let before = deps(graph, step)
            .into_iter()
            .filter_map(|d| finish.iter().find(|(s, _, _)| *s == d).copied())
            .max_by_key(|(_, f, _)| *f);
        let start = before.map_or(Duration::ZERO, |(_, f, _)| f);
        finish.push((step, start + cost(step), before.map(|(s, _, _)| s)));
    }
    let Some(&(last, total, _)) = finish.iter().max_by_key(|(_, f, _)| *f) else {
        return (Duration::ZERO, Vec::new());
    };
    let mut path = vec![last];
    let mut at = last;
    while let Some(prev) = finish
        .iter()
        .find(|(s, _, _)| *s == at)
        .and_then(|(_, _, p)| *p)
    {
        if path.contains(&prev) {
            break;
        }
        path.push(prev);
        at = prev;
    }
    path.reverse();
    (total, path)
}

/// The time the steps take one after another (the sum of their costs).
#[must_use]
pub fn sequential(cost: impl Fn(Step) -> Duration) -> Duration {
    Step::ALL.into_iter().map(cost).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_listed_once_in_both_graphs_in_all_order() {
        for graph in [STEP_GRAPH, PIPELINE_SCHEDULE] {
            let listed: Vec<Step> = graph.iter().map(|(s, _)| *s).collect();
            assert_eq!(listed, Step::ALL.to_vec());
            for (i, (_, d)) in graph.iter().enumerate() {
                for dep in *d {
                    let at = Step::ALL.iter().position(|s| s == dep).unwrap();
                    assert!(at < i, "{dep:?} comes before its dependant");
                }
            }
        }
    }

    #[test]
    fn the_schedule_keeps_every_data_dependency() {
        for (step, d) in STEP_GRAPH {
            for dep in *d {
                assert!(
                    waits_for(PIPELINE_SCHEDULE, *step, *dep),
                    "{step:?} reads {dep:?}"
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in Step::ALL {
            assert_eq!(Step::from_name(s.name()), Some(s));
        }
        assert_eq!(Step::from_name("nope"), None);
    }

    #[test]
    fn critical_path_of_the_benchmark_scenario() {
        let ms = Duration::from_millis;
        let cost = |s: Step| match s {
            Submission | VoiceProfile | StoreDraft => ms(10),
            ResolveContact | CompanyLookup => ms(300),
            MailHistory => ms(900),
            DriveAssets => ms(700),
            CompanyAnalysis => ms(4_000),
            MeetingSlots => ms(400),
            Draft => ms(8_000),
            IcpScore => Duration::ZERO,
        };
        let (len, path) = critical_path(STEP_GRAPH, cost);
        assert_eq!(len, ms(12_320));
        assert_eq!(
            path,
            vec![
                Submission,
                CompanyLookup,
                CompanyAnalysis,
                Draft,
                StoreDraft
            ]
        );
        let (len, path) = critical_path(PIPELINE_SCHEDULE, cost);
        assert_eq!(len, ms(12_320));
        assert_eq!(
            path,
            vec![
                Submission,
                CompanyLookup,
                CompanyAnalysis,
                Draft,
                StoreDraft
            ]
        );
        assert_eq!(sequential(cost), ms(14_630));
    }
}
