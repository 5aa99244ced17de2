//! Voice-profile evaluation on real sent mail (`../shared/data/voice/`, see its README).
//!
//! Trains one profile per sender from `train/<sender>/*.txt`, attributes every test body to the
//! most similar profile, writes `predictions.csv` and prints top-1 accuracy and macro-F1, next
//! to a character 3-gram TF-IDF nearest-centroid baseline computed in the same run.
//!
//! ```text
//! cargo run --release --example voice_eval [-- DATA_DIR [PREDICTIONS_CSV]]
//! ```
//! DATA_DIR defaults to `../shared/data/voice` next to the repository; when it is absent the
//! run prints a notice and exits successfully. The predictions go to
//! `target/voice_eval/predictions.csv` unless a path is given; check them with
//! `python3 DATA_DIR/score.py PREDICTIONS_CSV DATA_DIR/test/`.

use chrono::{TimeZone, Utc};
use salesagent_core::model::EmailAddress;
use salesagent_core::voice::{self, SimilarityWeights};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One labelled message: sender, file relative to its split directory, body.
struct Sample {
    sender: String,
    file: String,
    body: String,
}

fn default_data_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // `../shared` next to the repository; worktrees sit one level deeper, so look further up.
    root.ancestors()
        .skip(1)
        .map(|a| a.join("shared/data/voice"))
        .find(|p| p.is_dir())
}

/// Every `<split>/<sender>/*.txt`: the body is the text after the first blank line, verbatim
/// (the same text goes to the library and to the baseline).
fn load_split(dir: &Path) -> Result<Vec<Sample>, String> {
    let list = |d: &Path| -> Result<Vec<PathBuf>, String> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| format!("{}: {e}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    let mut out = Vec::new();
    for s in list(dir)?.into_iter().filter(|p| p.is_dir()) {
        let sender = s
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for f in list(&s)? {
            if f.extension().is_none_or(|e| e != "txt") {
                continue;
            }
            let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let text = text.replace("\r\n", "\n");
            let body = text
                .split_once("\n\n")
                .map_or(text.as_str(), |(_, b)| b)
                .to_owned();
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            out.push(Sample {
                sender: sender.clone(),
                file: format!("{sender}/{name}"),
                body,
            });
        }
    }
    Ok(out)
}

/// Top-1 accuracy and macro-F1 (mean F1 over the true senders).
fn metrics(truth: &[&str], pred: &[String], senders: &[String]) -> (f64, f64) {
    let correct = truth
        .iter()
        .zip(pred)
        .filter(|(t, p)| **t == p.as_str())
        .count();
    let mut f1_sum = 0.0;
    for s in senders {
        let tp = truth
            .iter()
            .zip(pred)
            .filter(|(t, p)| **t == s && *p == s)
            .count() as f64;
        let fp = truth
            .iter()
            .zip(pred)
            .filter(|(t, p)| **t != s && *p == s)
            .count() as f64;
        let fne = truth
            .iter()
            .zip(pred)
            .filter(|(t, p)| **t == s && *p != s)
            .count() as f64;
        let prec = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let rec = if tp + fne > 0.0 { tp / (tp + fne) } else { 0.0 };
        f1_sum += if prec + rec > 0.0 {
            2.0 * prec * rec / (prec + rec)
        } else {
            0.0
        };
    }
    (
        correct as f64 / truth.len() as f64,
        f1_sum / senders.len() as f64,
    )
}

/// Character 3-grams of a text (as-is, every position).
fn char_trigrams(text: &str) -> HashMap<String, f64> {
    let chars: Vec<char> = text.chars().collect();
    let mut m = HashMap::new();
    for w in chars.windows(3) {
        *m.entry(w.iter().collect::<String>()).or_insert(0.0) += 1.0;
    }
    m
}

fn normalize(v: &mut HashMap<String, f64>) {
    let n = v.values().map(|x| x * x).sum::<f64>().sqrt();
    if n > 0.0 {
        v.values_mut().for_each(|x| *x /= n);
    }
}

/// The baseline: TF-IDF over character 3-grams (smooth idf, L2-normalised documents), one
/// centroid per sender (mean of its normalised training vectors), cosine nearest centroid.
/// `sublinear` uses 1 + ln(tf) instead of raw counts.
fn baseline(train: &[Sample], test: &[Sample], senders: &[String], sublinear: bool) -> Vec<String> {
    let docs: Vec<HashMap<String, f64>> = train.iter().map(|s| char_trigrams(&s.body)).collect();
    let mut df: HashMap<&str, f64> = HashMap::new();
    for d in &docs {
        for k in d.keys() {
            *df.entry(k.as_str()).or_insert(0.0) += 1.0;
        }
    }
    let n = docs.len() as f64;
    let idf = |k: &str| ((1.0 + n) / (1.0 + df.get(k).copied().unwrap_or(0.0))).ln() + 1.0;
    let vectorize = |tf: &HashMap<String, f64>| {
        let mut v: HashMap<String, f64> = tf
            .iter()
            .map(|(k, &c)| (k.clone(), if sublinear { 1.0 + c.ln() } else { c } * idf(k)))
            .collect();
        normalize(&mut v);
        v
    };
    let mut centroids: BTreeMap<&str, HashMap<String, f64>> = BTreeMap::new();
    for (s, d) in train.iter().zip(&docs) {
        let c = centroids.entry(s.sender.as_str()).or_default();
        for (k, x) in vectorize(d) {
            *c.entry(k).or_insert(0.0) += x;
        }
    }
    centroids.values_mut().for_each(normalize);
    test.iter()
        .map(|t| {
            let v = vectorize(&char_trigrams(&t.body));
            senders
                .iter()
                .map(|s| {
                    let c = &centroids[s.as_str()];
                    let dot: f64 = v
                        .iter()
                        .map(|(k, x)| x * c.get(k).copied().unwrap_or(0.0))
                        .sum();
                    (s.clone(), dot)
                })
                .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                .map(|(s, _)| s)
                .unwrap_or_default()
        })
        .collect()
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = match args.first() {
        Some(d) => PathBuf::from(d),
        None => match default_data_dir() {
            Some(d) => d,
            None => {
                println!("voice_eval: ../shared/data/voice not found; skipping the evaluation");
                return Ok(());
            }
        },
    };
    if !data.join("train").is_dir() || !data.join("test").is_dir() {
        println!(
            "voice_eval: {} has no train/ and test/; skipping",
            data.display()
        );
        return Ok(());
    }
    let out_csv = args.get(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/voice_eval/predictions.csv"),
        PathBuf::from,
    );
    let train = load_split(&data.join("train"))?;
    let test = load_split(&data.join("test"))?;
    let mut senders: Vec<String> = train.iter().map(|s| s.sender.clone()).collect();
    senders.dedup();
    println!(
        "data: {} ({} senders, {} train, {} test files)",
        data.display(),
        senders.len(),
        train.len(),
        test.len()
    );

    let now = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .ok_or("bad date")?;
    let owner = EmailAddress::parse("eval@example.com").map_err(|e| e.to_string())?;
    let profiles: Vec<_> = senders
        .iter()
        .map(|s| {
            let bodies = train
                .iter()
                .filter(|t| &t.sender == s)
                .map(|t| t.body.as_str());
            voice::learn(owner.clone(), s, bodies, now).map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let truth: Vec<&str> = test.iter().map(|t| t.sender.as_str()).collect();
    // What a word or word pair the sender never wrote costs under each profile (before the
    // offset): ln(T / (N + T)) with Witten-Bell smoothing, next to ln(100 / (N + 100)) under the
    // fixed Dirichlet prior weight used before.
    for p in &profiles {
        let n = p.style.stats.term_total as f64;
        let t = p.style.stats.terms.len() as f64;
        println!(
            "profile {:<14} N {:>7} terms, T {:>6} distinct: unseen term {:.2} nats (Dirichlet 100: {:.2})",
            p.name,
            n,
            t,
            (t / (n + t)).ln(),
            (100.0 / (n + 100.0)).ln()
        );
    }

    let attribute = |w: &SimilarityWeights| -> Vec<String> {
        test.iter()
            .map(|t| {
                profiles
                    .iter()
                    .map(|p| (p.name.clone(), voice::similarity_with(p, &t.body, w).value))
                    .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                    .map(|(s, _)| s)
                    .unwrap_or_default()
            })
            .collect()
    };
    let ours = attribute(&SimilarityWeights::default());
    if let Some(dir) = out_csv.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let mut csv = String::from("file,predicted_sender\n");
    for (t, p) in test.iter().zip(&ours) {
        csv.push_str(&format!("{},{p}\n", t.file));
    }
    std::fs::write(&out_csv, csv).map_err(|e| format!("{}: {e}", out_csv.display()))?;

    let (acc, f1) = metrics(&truth, &ours, &senders);
    println!("voice profile similarity:   top-1 accuracy {acc:.4}  macro-F1 {f1:.4}");
    for sublinear in [false, true] {
        let (acc, f1) = metrics(
            &truth,
            &baseline(&train, &test, &senders, sublinear),
            &senders,
        );
        let label = if sublinear { "sublinear tf" } else { "raw tf" };
        println!(
            "baseline char-3gram TF-IDF centroid ({label}): top-1 accuracy {acc:.4}  macro-F1 {f1:.4}"
        );
    }
    let majority = senders
        .iter()
        .map(|s| truth.iter().filter(|t| **t == s).count())
        .max()
        .unwrap_or(0) as f64
        / truth.len().max(1) as f64;
    println!(
        "chance {:.4}  majority-class accuracy {majority:.4}",
        1.0 / senders.len().max(1) as f64
    );

    // Calibration: scores against the sender's own profile and against the others, to choose
    // a flagging threshold (`SimilarityThreshold`).
    let mut own = Vec::new();
    let mut other = Vec::new();
    let mut comp: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for t in &test {
        for p in &profiles {
            let sc = voice::similarity(p, &t.body);
            let v = sc.value;
            if p.name == t.sender {
                own.push(v);
            } else {
                other.push(v);
                for (i, n) in ["vocabulary", "characters"].iter().enumerate() {
                    let x = sc.feature(n).unwrap_or(0.5).clamp(1e-9, 1.0 - 1e-9);
                    comp[i].push((x / (1.0 - x)).ln());
                }
            }
        }
    }
    for (i, n) in ["vocabulary", "characters"].iter().enumerate() {
        let v = &mut comp[i];
        v.sort_by(f64::total_cmp);
        println!(
            "median {n} evidence against other profiles: {:.3} nats per unit (after the offset)",
            v[v.len() / 2]
        );
    }
    let q = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    println!(
        "scores vs own profile: p05 {:.3} p10 {:.3} p50 {:.3}; vs other profiles: p50 {:.3} p90 {:.3} p99 {:.3}",
        q(&mut own, 0.05),
        q(&mut own, 0.10),
        q(&mut own, 0.5),
        q(&mut other, 0.5),
        q(&mut other, 0.9),
        q(&mut other, 0.99)
    );
    let threshold = voice::SimilarityThreshold::default().min_score;
    let below = |v: &[f64]| v.iter().filter(|&&x| x < threshold).count() as f64 / v.len() as f64;
    println!(
        "below the flag threshold {threshold}: {:.3} of own-profile scores, {:.3} of other-profile scores",
        below(&own),
        below(&other)
    );

    // Ablations: which components carry the attribution.
    let zero = SimilarityWeights {
        vocabulary: 0.0,
        characters: 0.0,
        style: 0.0,
        greeting: 0.0,
        sign_off: 0.0,
    };
    let ablations = [
        (
            "vocabulary only",
            SimilarityWeights {
                vocabulary: 1.0,
                ..zero
            },
        ),
        (
            "characters only",
            SimilarityWeights {
                characters: 1.0,
                ..zero
            },
        ),
        (
            "style features only",
            SimilarityWeights { style: 1.0, ..zero },
        ),
        (
            "greeting + sign-off only",
            SimilarityWeights {
                greeting: 1.0,
                sign_off: 1.0,
                ..zero
            },
        ),
        (
            "all but style",
            SimilarityWeights {
                style: 0.0,
                ..SimilarityWeights::default()
            },
        ),
    ];
    for (label, w) in ablations {
        let (acc, f1) = metrics(&truth, &attribute(&w), &senders);
        println!("  ablation {label:<26} top-1 accuracy {acc:.4}  macro-F1 {f1:.4}");
    }
    println!("predictions: {}", out_csv.display());
    Ok(())
}
