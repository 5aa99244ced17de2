//! Voice-profile speed: learning from 1,000 messages and scoring one message.
//!
//! `cargo bench --bench voice` prints `RESULT voice.learn_1000_ms <ms> ms` and
//! `RESULT voice.score_us <µs> us` (median of several runs; messages are synthetic but
//! e-mail-sized, about 80 words each, with a varied vocabulary).

use chrono::{TimeZone, Utc};
use salesagent_core::model::EmailAddress;
use salesagent_core::voice::{self, VoiceSimilarity};
use std::hint::black_box;
use std::time::Instant;

const WORDS: &[&str] = &[
    "pipeline",
    "capacity",
    "gas",
    "deal",
    "contract",
    "meeting",
    "tomorrow",
    "price",
    "volume",
    "storage",
    "Houston",
    "agreement",
    "review",
    "attached",
    "schedule",
    "customer",
    "power",
    "trading",
    "desk",
    "counterparty",
    "credit",
    "approval",
    "draft",
    "question",
    "call",
    "the",
    "a",
    "to",
    "of",
    "and",
    "in",
    "for",
    "we",
    "you",
    "I",
    "is",
    "it's",
    "can't",
    "will",
    "please",
    "maybe",
    "Q3",
    "2001",
    "$45",
    "east",
    "west",
    "curve",
    "option",
    "swap",
    "term",
];
const GREETINGS: &[&str] = &["Hi Bob,", "Bob,", "Hello all,", "", "Dear Ms. Lee:"];
const SIGN_OFFS: &[&str] = &["Thanks,\nVince", "Vince", "Thanks!", "Regards,\nV. K.", ""];

/// A deterministic pseudo-random message (xorshift; no dependency needed).
fn message(seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = String::new();
    out.push_str(GREETINGS[(next() % GREETINGS.len() as u64) as usize]);
    out.push_str("\n\n");
    let sentences = 3 + next() % 6;
    for _ in 0..sentences {
        let n = 6 + next() % 14;
        for i in 0..n {
            let w = WORDS[(next() % WORDS.len() as u64) as usize];
            if i == 0 {
                let mut c = w.chars();
                if let Some(f) = c.next() {
                    out.extend(f.to_uppercase());
                    out.push_str(c.as_str());
                }
            } else {
                out.push(' ');
                out.push_str(w);
                if next() % 11 == 0 {
                    out.push(',');
                }
            }
        }
        out.push_str(if next() % 7 == 0 { "?\n" } else { ".\n" });
    }
    out.push('\n');
    out.push_str(SIGN_OFFS[(next() % SIGN_OFFS.len() as u64) as usize]);
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let owner = EmailAddress::parse("bench@example.com").expect("valid address");
    let now = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    let train: Vec<String> = (0..1000).map(message).collect();
    let words: usize = train.iter().map(|m| m.split_whitespace().count()).sum();

    let mut learn_ms = Vec::new();
    let mut profile = None;
    for _ in 0..7 {
        let start = Instant::now();
        let p = voice::learn(owner.clone(), "bench", black_box(&train), now).expect("learns");
        learn_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        profile = Some(p);
    }
    let profile = profile.expect("learned at least once");
    let json_kb = serde_json::to_vec(&profile).map_or(0, |j| j.len() / 1024);

    let test: Vec<String> = (10_000..10_500).map(message).collect();
    let mut score_us = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut sum = 0.0;
        for t in &test {
            sum += profile.similarity(black_box(t)).value;
        }
        black_box(sum);
        score_us.push(start.elapsed().as_secs_f64() * 1e6 / test.len() as f64);
    }
    println!(
        "# 1000 messages, {} words on average; profile JSON {json_kb} KiB",
        words / train.len()
    );
    println!("RESULT voice.learn_1000_ms {:.1} ms", median(learn_ms));
    println!("RESULT voice.score_us {:.1} us", median(score_us));
}
