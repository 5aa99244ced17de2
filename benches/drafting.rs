//! Draft quality: the shipped pipeline drafting replies to the fixture forms for the 12 shared
//! voice senders, with the template writer and, when it can be started here, a real local model.
//!
//! `cargo bench --bench drafting` runs every form of `examples/data/forms` (the fixture CRM,
//! earlier mail, Drive documents and calendar of `examples/data`) once per sender of the shared
//! voice set (`../shared/data/voice`, evaluation only: it is read from disk, never packaged; the
//! bench prints a notice and uses the fixture sender alone when it is absent). Each sender's
//! profile is learned from their `train/` mail and stored as their own profile; the pipeline
//! writes as that sender.
//!
//! Figures, per writer (`template`, then `llm` for the real local model):
//! - `valid_output_rate`: runs whose stored draft was written by that writer and passes
//!   validation (limits and grounding against the data the model was given);
//! - `fallback_rate`: runs that fell back to the template writer (with the reasons);
//! - `grounding_caught`: model answers refused for an invented figure, date or name, and
//!   `links_repaired`: invented links or addresses removed; `grounding_stored`: stored drafts
//!   that still fail grounding (must be 0);
//! - voice: similarity of each draft to its sender's profile (`voice_own`) and to the other
//!   senders' (`voice_other` mean, `voice_best_other`), `voice_top1_rate` (the own profile
//!   scores highest), and `voice_senders_own_highest` (senders whose drafts score higher, on
//!   average, against their own profile than against every other sender's);
//!   The per-sender criterion (issue #22): for each sender A, the mean over A's drafts of the
//!   similarity to A's profile against the highest mean similarity to any other sender B's
//!   profile; the table lists both, with the closest other sender, and under it each
//!   component's weighted evidence (own minus closest other) shows what separates them
//!   (`DRAFTING_VOICE_DEBUG=1` also prints each sender's greeting and sign-off habits and one
//!   draft). `held_out_mail.*` is the same criterion on each sender's real held-out `test/`
//!   mail: the sanity check of the similarity itself;
//! - `length_in_bounds_rate` (≤ 250 words, subject ≤ 120 characters) and
//!   `length_in_sender_range_rate` (within the sender's mean ± 2 standard deviations, at least
//!   40 words);
//! - `ms_per_draft` (mean and p50 of one pipeline run, all steps); for the real model also
//!   `drafting_calls_ms` (the drafting calls alone: the company analysis is another call).
//!
//! The real model: `salesagent_connectors::openai::local_server` starts llama-cpp-python's
//! server with SmolLM2-135M-Instruct (installed by `scripts/setup/llm-server.sh`); without it
//! that part is skipped with a notice. `DRAFTING_LLM_CASES` (default 24: two forms per
//! sender) sets how many runs it gets; `DRAFTING_LLM=0` skips it. `DRAFTING_FORMAT` sets the
//! pipeline's drafting format for it (`prose`, the default, `json` or `auto`); a prose request
//! carries no data document, so a prose run is checked against the same case's data from the
//! template pass with the facts its stored draft records (`prose_drafts` counts them).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use salesagent::connectors::openai::local_server::LocalServer;
use salesagent::services::fixtures;
use salesagent_core::model::{
    Draft, DraftWriter, EmailAddress, FormSubmission, TemplateReason, VoiceProfile,
};
use salesagent_core::offline::{ManualClock, MemoryStore};
use salesagent_core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent_core::ports::{
    DraftStore as _, DynLlm, Llm, LlmRequest, LlmResponse, VoiceStore as _,
};
use salesagent_core::prompt::{
    DraftFormat, DraftInput, Fact, MAX_DRAFT_SUBJECT_CHARS, MAX_DRAFT_WORDS, PURPOSE_DRAFT,
    PURPOSE_DRAFT_PROSE, check_draft, extract_data, ground, ground_subject,
};
use salesagent_core::voice;
use salesagent_core::writer::{TEMPLATE_MODEL, TemplateLlm, check_prose_answer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One sender of the evaluation: id, address, display name and learned profile.
struct Sender {
    id: String,
    email: EmailAddress,
    name: String,
    profile: Option<VoiceProfile>,
}

/// Every call a pipeline made to the model, with what came back.
#[derive(Debug)]
struct Recording {
    inner: DynLlm,
    calls: Mutex<Vec<(LlmRequest, Result<LlmResponse, String>)>>,
    /// Milliseconds each call took, in the order of `calls`.
    call_ms: Mutex<Vec<f64>>,
}

#[async_trait]
impl Llm for Recording {
    async fn complete(&self, request: &LlmRequest) -> salesagent_core::Result<LlmResponse> {
        let t0 = Instant::now();
        let res = self.inner.complete(request).await;
        if let Ok(mut m) = self.call_ms.lock() {
            m.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        let kept = match &res {
            Ok(a) => Ok(a.clone()),
            Err(e) => Err(e.to_string()),
        };
        if let Ok(mut c) = self.calls.lock() {
            c.push((request.clone(), kept));
        }
        res
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn voice_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DRAFTING_VOICE_DIR") {
        return Some(PathBuf::from(d)).filter(|p| p.is_dir());
    }
    repo()
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/data/voice"))
        .find(|p| p.is_dir())
}

/// The bodies of `dir/*.txt` (the text after the first blank line).
fn bodies(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|t| voice::corpus::parse_txt(&t).1)
        .collect()
}

/// A display name for a sender: `V. Kaminski` from `kaminski-v` (a sign-off that carries
/// their own name is used as it is).
fn display_name(id: &str) -> String {
    let (last, first) = id.split_once('-').unwrap_or((id, ""));
    let cap = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    format!("{}. {}", cap(first), cap(last))
}

fn senders(now: DateTime<Utc>, data: &Path) -> Vec<Sender> {
    let Some(dir) = voice_dir() else {
        println!(
            "drafting: ../shared/data/voice not found: one fixture sender without a learned profile, \
             no voice figures"
        );
        let s = fixtures::sender(data).expect("examples/data/sender.json");
        return vec![Sender {
            id: "fixture".into(),
            email: s.email,
            name: s.name,
            profile: None,
        }];
    };
    let train = dir.join("train");
    let mut ids: Vec<String> = std::fs::read_dir(&train)
        .map(|r| {
            r.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids.into_iter()
        .map(|id| {
            let email = EmailAddress::parse(&format!("{id}@senders.example")).expect("address");
            let profile = voice::learn(email.clone(), "default", bodies(&train.join(&id)), now)
                .expect("profile");
            Sender {
                name: display_name(&id),
                id,
                email,
                profile: Some(profile),
            }
        })
        .collect()
}

fn forms(data: &Path, now: DateTime<Utc>) -> Vec<FormSubmission> {
    let mut seen = std::collections::BTreeSet::new();
    fixtures::forms(data)
        .expect("examples/data/forms")
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| FormSubmission::from_canonical_json(&t, now).ok())
        .filter(|f| seen.insert(f.idempotency_key.clone()))
        .collect()
}

/// What one run produced, measured.
struct Run {
    sender: usize,
    form: usize,
    draft: Draft,
    input: Option<DraftInput>,
    /// Answers of the model that validation refused for grounding, and links it removed.
    grounding_caught: usize,
    links_repaired: usize,
    stored_ungrounded: bool,
    ms: f64,
    /// Milliseconds of the drafting calls alone.
    draft_ms: f64,
}

#[derive(Default)]
struct Tally {
    runs: usize,
    valid: usize,
    fallback: BTreeMap<String, usize>,
    grounding_caught: usize,
    links_repaired: usize,
    grounding_stored: usize,
    in_bounds: usize,
    in_range: usize,
    ms: Vec<f64>,
}

/// The data a prose run drafted from: a prose request carries no data document, so the same
/// case's input from the template pass (same fixtures, sender and form) with the facts the
/// stored draft records (the model's company analysis among them) put in for theirs.
fn prose_input(known: Option<&DraftInput>, draft: &Draft) -> Option<DraftInput> {
    let mut input = known?.clone();
    if let Some(report) = &draft.drafting {
        for f in &report.facts {
            let fact = Fact {
                id: f.id.clone(),
                source: serde_json::from_value(serde_json::json!(f.source)).ok()?,
                text: f.text.clone(),
                link: f.link.clone(),
            };
            match input.facts.iter_mut().find(|g| g.id == fact.id) {
                Some(g) => *g = fact,
                None => input.facts.push(fact),
            }
        }
    }
    Some(input)
}

/// The drafting format of the real-model pass (`DRAFTING_FORMAT`: `prose`, the default, `json`
/// or `auto`).
fn llm_format() -> DraftFormat {
    std::env::var("DRAFTING_FORMAT")
        .ok()
        .and_then(|v| DraftFormat::parse(&v))
        .unwrap_or(DraftFormat::Prose)
}

/// Runs `cases` (sender index, form index) through a fresh pipeline per sender.
#[allow(clippy::too_many_lines, clippy::too_many_arguments, clippy::map_entry)]
async fn run_cases(
    label: &str,
    llm: DynLlm,
    senders: &[Sender],
    forms: &[FormSubmission],
    cases: &[(usize, usize)],
    data: &Path,
    now: DateTime<Utc>,
    slow_model: bool,
    format: DraftFormat,
    known: &BTreeMap<(usize, usize), DraftInput>,
) -> Vec<Run> {
    let recording = Arc::new(Recording {
        inner: llm,
        calls: Mutex::new(Vec::new()),
        call_ms: Mutex::new(Vec::new()),
    });
    let fixture_sender = fixtures::sender(data).expect("sender.json");
    let mut runs = Vec::with_capacity(cases.len());
    let mut pipelines: BTreeMap<usize, (Arc<Pipeline>, Arc<MemoryStore>)> = BTreeMap::new();
    for (n, &(si, fi)) in cases.iter().enumerate() {
        let sender = &senders[si];
        if !pipelines.contains_key(&si) {
            let clock = ManualClock::new(now);
            let shared = clock.shared();
            let store = Arc::new(MemoryStore::new(shared.clone()));
            if let Some(p) = &sender.profile {
                store.save_voice_profile(p).await.expect("save profile");
            }
            let mut config = PipelineConfig::new(sender.email.clone());
            config.sender_name = sender.name.clone();
            config.sender_company = fixture_sender.company.clone();
            if let Some(zone) = salesagent_core::slots::parse_zone(&fixture_sender.time_zone) {
                config.slots.sender_zone = zone;
            }
            config.draft_format = format;
            if slow_model {
                config.timeouts.draft = Duration::from_secs(600);
                config.timeouts.company_analysis = Duration::from_secs(300);
            }
            let ports = Ports {
                crm: Arc::new(fixtures::crm(data).expect("crm")),
                mailbox: Arc::new(fixtures::mailbox(data, &shared).expect("mailbox")),
                drive: Arc::new(fixtures::drive(data).expect("drive")),
                calendar: Arc::new(fixtures::calendar(data, &shared).expect("calendar")),
                llm: recording.clone(),
                store: store.clone(),
                clock: shared,
            };
            pipelines.insert(si, (Arc::new(Pipeline::new(ports, config)), store));
        }
        let (pipeline, store) = &pipelines[&si];
        if let Ok(mut c) = recording.calls.lock() {
            c.clear();
        }
        if let Ok(mut m) = recording.call_ms.lock() {
            m.clear();
        }
        let t0 = Instant::now();
        let id = pipeline.process(&forms[fi]).await.expect("pipeline run");
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let draft = store.get_draft(id).await.expect("draft");
        let calls = recording
            .calls
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        let call_ms = recording
            .call_ms
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        // Time of the drafting calls alone (the company analysis is another call).
        let draft_ms: f64 = calls
            .iter()
            .zip(&call_ms)
            .filter(|((r, _), _)| r.purpose == PURPOSE_DRAFT || r.purpose == PURPOSE_DRAFT_PROSE)
            .map(|(_, ms)| *ms)
            .sum();
        let drafting: Vec<&(LlmRequest, Result<LlmResponse, String>)> = calls
            .iter()
            .filter(|(r, _)| r.purpose == PURPOSE_DRAFT || r.purpose == PURPOSE_DRAFT_PROSE)
            .collect();
        let input: Option<DraftInput> = drafting
            .iter()
            .find_map(|(r, _)| extract_data(r))
            .or_else(|| prose_input(known.get(&(si, fi)), &draft));
        if label != "template" && n < raw_shown() {
            // What the model actually returned, before any validation or repair.
            for (k, (_, answer)) in drafting.iter().enumerate() {
                match answer {
                    Ok(a) => println!(
                        "  raw answer {}.{k} ({} tokens out): {}",
                        n + 1,
                        a.usage.completion,
                        a.content
                    ),
                    Err(e) => println!("  raw answer {}.{k}: error {e}", n + 1),
                }
            }
        }
        let mut grounding_caught = 0;
        let mut links_repaired = 0;
        if let Some(input) = &input {
            for (req, answer) in &drafting {
                let Ok(a) = answer else { continue };
                if a.model == TEMPLATE_MODEL {
                    continue;
                }
                let checked = if req.purpose == PURPOSE_DRAFT_PROSE {
                    check_prose_answer(&a.content, input, sender.profile.as_ref())
                } else {
                    check_draft(&a.content, input)
                };
                match checked {
                    Ok(c) => links_repaired += c.repairs.len(),
                    Err(salesagent_core::Error::InvalidInput { field, .. })
                        if field == "grounding" =>
                    {
                        grounding_caught += 1;
                    }
                    Err(_) => {}
                }
            }
        }
        let stored_ungrounded = input.as_ref().is_some_and(|i| {
            ground_subject(&draft.subject, i).is_err()
                || ground(&draft.body, i).map_or(true, |g| !g.repairs.is_empty())
        });
        if label != "template" {
            // Slow models: one line per run, so an interrupted run still tells something.
            let reason = draft.drafting.as_ref().and_then(|d| d.template_reason);
            let written_as = draft
                .drafting
                .as_ref()
                .and_then(|d| d.format.clone())
                .unwrap_or_default();
            println!(
                "  {label} run {}/{}: {} form {fi}: writer {} {written_as} ({reason:?}), {} words, {grounding_caught} refused for grounding, {ms:.0} ms (drafting calls {draft_ms:.0} ms)",
                n + 1,
                cases.len(),
                sender.id,
                match &draft.writer {
                    DraftWriter::Llm { .. } => "llm",
                    DraftWriter::Template { .. } => "template",
                    DraftWriter::Human => "human",
                },
                words(&draft.body),
            );
        }
        if std::env::var_os("DRAFTING_SHOW").is_some() || n == 0 {
            println!(
                "--- {label} draft for {} ({}) to {}:\nSubject: {}\n\n{}\n",
                sender.id, sender.name, draft.contact_email, draft.subject, draft.body
            );
        }
        runs.push(Run {
            sender: si,
            form: fi,
            draft,
            input,
            grounding_caught,
            links_repaired,
            stored_ungrounded,
            ms,
            draft_ms,
        });
    }
    runs
}

/// How many runs' raw model answers are printed (`DRAFTING_RAW`, default 3).
fn raw_shown() -> usize {
    std::env::var("DRAFTING_RAW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

fn sender_range(p: &VoiceProfile) -> (f64, f64) {
    let sd = p
        .style
        .features
        .get("message_len_std")
        .copied()
        .unwrap_or(0.0);
    let mean = p.style.message_len_mean;
    ((mean - 2.0 * sd).max(0.0), (mean + 2.0 * sd).max(40.0))
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Prints the figures of one writer's runs.
#[allow(clippy::too_many_lines)]
fn report(label: &str, runs: &[Run], senders: &[Sender], expect_writer: &str) {
    let mut t = Tally::default();
    // sender -> profile -> similarities of that sender's drafts
    let mut sims: BTreeMap<usize, BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
    let mut top1 = 0usize;
    let mut scored = 0usize;
    for r in runs {
        t.runs += 1;
        t.ms.push(r.ms);
        t.grounding_caught += r.grounding_caught;
        t.links_repaired += r.links_repaired;
        t.grounding_stored += usize::from(r.stored_ungrounded);
        let reason = r.draft.drafting.as_ref().and_then(|d| d.template_reason);
        let writer = match (&r.draft.writer, reason) {
            (DraftWriter::Llm { .. }, _) => "llm",
            (DraftWriter::Template { .. }, _) => "template",
            (DraftWriter::Human, _) => "human",
        };
        let limits_ok = words(&r.draft.body) <= MAX_DRAFT_WORDS
            && r.draft.subject.chars().count() <= MAX_DRAFT_SUBJECT_CHARS;
        if writer == expect_writer && limits_ok && !r.stored_ungrounded && r.input.is_some() {
            t.valid += 1;
        }
        match reason {
            Some(TemplateReason::NoModel) | None => {}
            Some(other) => *t.fallback.entry(format!("{other:?}")).or_insert(0) += 1,
        }
        t.in_bounds += usize::from(limits_ok);
        if let Some(p) = &senders[r.sender].profile {
            let (lo, hi) = sender_range(p);
            let w = words(&r.draft.body) as f64;
            t.in_range += usize::from(w >= lo && w <= hi);
            let mut own = 0.0;
            let mut best_other = f64::MIN;
            for (j, s) in senders.iter().enumerate() {
                let Some(q) = &s.profile else { continue };
                let v = voice::similarity(q, &r.draft.body).value;
                sims.entry(r.sender)
                    .or_default()
                    .entry(j)
                    .or_default()
                    .push(v);
                if j == r.sender {
                    own = v;
                } else {
                    best_other = best_other.max(v);
                }
            }
            scored += 1;
            top1 += usize::from(own > best_other);
        }
    }
    let n = t.runs.max(1) as f64;
    let fallbacks: usize = t.fallback.values().sum();
    println!("RESULT drafting.{label}.runs {} runs", t.runs);
    println!(
        "RESULT drafting.{label}.valid_output_rate {:.3} ratio",
        t.valid as f64 / n
    );
    println!(
        "RESULT drafting.{label}.fallback_rate {:.3} ratio",
        fallbacks as f64 / n
    );
    for (why, k) in &t.fallback {
        println!("  fallback {why}: {k}");
    }
    println!(
        "RESULT drafting.{label}.grounding_caught {} answers",
        t.grounding_caught
    );
    println!(
        "RESULT drafting.{label}.links_repaired {} links",
        t.links_repaired
    );
    println!(
        "RESULT drafting.{label}.grounding_stored {} drafts",
        t.grounding_stored
    );
    println!(
        "RESULT drafting.{label}.length_in_bounds_rate {:.3} ratio",
        t.in_bounds as f64 / n
    );
    println!(
        "RESULT drafting.{label}.ms_per_draft_mean {:.1} ms",
        mean(&t.ms)
    );
    println!(
        "RESULT drafting.{label}.ms_per_draft_p50 {:.1} ms",
        median(t.ms.clone())
    );
    if scored == 0 {
        return;
    }
    println!(
        "RESULT drafting.{label}.length_in_sender_range_rate {:.3} ratio",
        t.in_range as f64 / scored as f64
    );
    let mut own_all = Vec::new();
    let mut other_all = Vec::new();
    let mut best_other_all = Vec::new();
    let mut senders_ok = 0usize;
    println!("  sender            drafts  own    best other (whose)      mean other");
    for (si, by_profile) in &sims {
        let own = mean(&by_profile[si]);
        let others: Vec<(usize, f64)> = by_profile
            .iter()
            .filter(|(j, _)| *j != si)
            .map(|(j, v)| (*j, mean(v)))
            .collect();
        let (bj, best) = others
            .iter()
            .copied()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((*si, 0.0));
        let other_mean = mean(&others.iter().map(|o| o.1).collect::<Vec<_>>());
        senders_ok += usize::from(own > best);
        own_all.push(own);
        other_all.push(other_mean);
        best_other_all.push(best);
        println!(
            "  {:<16} {:>6}  {own:.3}  {best:.3} ({:<14}) {other_mean:.3}",
            senders[*si].id,
            by_profile[si].len(),
            senders[bj].id
        );
    }
    components(runs, senders, &sims);
    println!(
        "RESULT drafting.{label}.voice_own {:.3} similarity",
        mean(&own_all)
    );
    println!(
        "RESULT drafting.{label}.voice_other {:.3} similarity",
        mean(&other_all)
    );
    println!(
        "RESULT drafting.{label}.voice_best_other {:.3} similarity",
        mean(&best_other_all)
    );
    println!(
        "RESULT drafting.{label}.voice_top1_rate {:.3} ratio",
        top1 as f64 / scored as f64
    );
    println!(
        "RESULT drafting.{label}.voice_senders_own_highest {senders_ok}/{} senders",
        sims.len()
    );
}

/// The weighted evidence of each similarity component (its share of the logit of the overall
/// score, with the default weights), by component name.
fn evidence(profile: &VoiceProfile, text: &str) -> Vec<(&'static str, f64)> {
    let w = voice::SimilarityWeights::default();
    let s = voice::similarity(profile, text);
    let logit = |p: f64| {
        let p = p.clamp(1e-9, 1.0 - 1e-9);
        (p / (1.0 - p)).ln()
    };
    let ln = |p: f64| p.max(1e-9).ln();
    let f = |n: &str| s.feature(n).unwrap_or(0.5);
    vec![
        ("vocabulary", w.vocabulary * logit(f("vocabulary"))),
        ("characters", w.characters * logit(f("characters"))),
        ("style", w.style * ln(f("style"))),
        ("greeting", w.greeting * ln(f("greeting"))),
        ("sign_off", w.sign_off * ln(f("sign_off"))),
    ]
}

/// Which components separate a sender's drafts from their closest other sender: per sender,
/// the mean weighted evidence of each component under the own profile minus under the other
/// sender whose profile scores the drafts highest (positive: the component favours the own
/// profile).
fn components(runs: &[Run], senders: &[Sender], sims: &BTreeMap<usize, BTreeMap<usize, Vec<f64>>>) {
    println!("  own minus closest other, weighted evidence per component:");
    println!("  sender           vocabulary characters  style  greeting sign_off");
    for (si, by_profile) in sims {
        let Some((bj, _)) = by_profile
            .iter()
            .filter(|(j, _)| *j != si)
            .map(|(j, v)| (*j, mean(v)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            continue;
        };
        let (Some(own), Some(other)) = (&senders[*si].profile, &senders[bj].profile) else {
            continue;
        };
        let mut diff = [0.0f64; 5];
        let mut n = 0usize;
        for r in runs.iter().filter(|r| r.sender == *si) {
            let a = evidence(own, &r.draft.body);
            let b = evidence(other, &r.draft.body);
            for (k, d) in diff.iter_mut().enumerate() {
                *d += a[k].1 - b[k].1;
            }
            n += 1;
        }
        if std::env::var("DRAFTING_VOICE_DEBUG").is_ok() {
            let top = |m: &BTreeMap<String, f64>| {
                m.iter()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(k, _)| k.clone())
            };
            println!(
                "  debug {}: greetings {:?} sign-offs {:?} top {:?} / {:?}",
                senders[*si].id,
                own.style.greetings,
                own.style.sign_offs,
                top(&own.style.greetings),
                top(&own.style.sign_offs)
            );
            if let Some(r) = runs.iter().find(|r| r.sender == *si) {
                println!("{}\n--", r.draft.body);
            }
        }
        let n = n.max(1) as f64;
        println!(
            "  {:<16} {:>10.3} {:>10.3} {:>6.3} {:>9.3} {:>8.3}",
            senders[*si].id,
            diff[0] / n,
            diff[1] / n,
            diff[2] / n,
            diff[3] / n,
            diff[4] / n
        );
    }
}

/// Sanity check of the similarity on real mail: each sender's held-out `test/` messages scored
/// against every profile, with the same per-sender criterion as the drafts (mean similarity to
/// the own profile above the best mean of any other).
fn held_out(senders: &[Sender]) {
    let Some(dir) = voice_dir() else { return };
    let mut ok = 0usize;
    let mut n = 0usize;
    let (mut own_all, mut best_all) = (Vec::new(), Vec::new());
    for (i, s) in senders.iter().enumerate() {
        let texts = bodies(&dir.join("test").join(&s.id));
        if texts.is_empty() {
            continue;
        }
        let mut means = Vec::new();
        for q in senders.iter().map(|q| q.profile.as_ref()) {
            let Some(q) = q else { continue };
            let v: Vec<f64> = texts
                .iter()
                .map(|t| voice::similarity(q, t).value)
                .collect();
            means.push(mean(&v));
        }
        let own = means[i];
        let best = means
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, v)| *v)
            .fold(f64::MIN, f64::max);
        ok += usize::from(own > best);
        n += 1;
        own_all.push(own);
        best_all.push(best);
    }
    println!(
        "RESULT drafting.held_out_mail.voice_own {:.3} similarity",
        mean(&own_all)
    );
    println!(
        "RESULT drafting.held_out_mail.voice_best_other {:.3} similarity",
        mean(&best_all)
    );
    println!("RESULT drafting.held_out_mail.voice_senders_own_highest {ok}/{n} senders");
}

fn main() {
    // Libtest passes `--bench`; a name filter after `--` is ignored.
    let data = repo().join("examples/data");
    let now = DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let senders = senders(now, &data);
    let forms = forms(&data, now);
    println!(
        "drafting: {} senders x {} forms from examples/data",
        senders.len(),
        forms.len()
    );
    // Interleaved so any prefix spreads over senders and forms.
    let total = senders.len() * forms.len();
    let cases: Vec<(usize, usize)> = (0..total)
        .map(|k| {
            let s = k % senders.len();
            let f = (k + k / senders.len()) % forms.len();
            (s, f)
        })
        .collect();

    let runs = rt.block_on(run_cases(
        "template",
        Arc::new(TemplateLlm),
        &senders,
        &forms,
        &cases,
        &data,
        now,
        false,
        DraftFormat::Json,
        &BTreeMap::new(),
    ));
    report("template", &runs, &senders, "template");
    let known: BTreeMap<(usize, usize), DraftInput> = runs
        .iter()
        .filter_map(|r| r.input.clone().map(|i| ((r.sender, r.form), i)))
        .collect();
    held_out(&senders);

    if std::env::var("DRAFTING_LLM").is_ok_and(|v| v == "0") {
        println!("drafting: DRAFTING_LLM=0: the real local model is skipped");
        return;
    }
    let limit = std::env::var("DRAFTING_LLM_CASES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(2 * senders.len())
        .min(cases.len());
    rt.block_on(async {
        let Some(server) = LocalServer::start_or_skip("drafting").await else {
            println!("drafting: the real local model is skipped (no local server here)");
            return;
        };
        let llm = match server.openai().build() {
            Ok(l) => Arc::new(l) as DynLlm,
            Err(e) => {
                println!("drafting: the real local model is skipped: {e}");
                return;
            }
        };
        let format = llm_format();
        println!(
            "drafting: real local model, draft format {format} (DRAFTING_FORMAT), load average at start: {}",
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
        );
        let runs = run_cases(
            "llm",
            llm,
            &senders,
            &forms,
            &cases[..limit],
            &data,
            now,
            true,
            format,
            &known,
        )
        .await;
        println!(
            "drafting: load average at the end: {}",
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
        );
        let prose = runs
            .iter()
            .filter(|r| {
                r.draft
                    .drafting
                    .as_ref()
                    .and_then(|d| d.format.as_deref())
                    == Some("prose")
            })
            .count();
        println!("RESULT drafting.llm.prose_drafts {prose} drafts");
        let draft_ms: Vec<f64> = runs.iter().map(|r| r.draft_ms).collect();
        println!(
            "RESULT drafting.llm.drafting_calls_ms_mean {:.1} ms",
            mean(&draft_ms)
        );
        println!(
            "RESULT drafting.llm.drafting_calls_ms_p50 {:.1} ms",
            median(draft_ms)
        );
        report("llm", &runs, &senders, "llm");
        server.stop().await;
    });
}
