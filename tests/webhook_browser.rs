//! End to end in a real browser: the host on loopback over a SQLite store holding one pending
//! draft; headless Chromium logs in at `/operator/login`, opens the draft from the queue and
//! clicks approve; the store then says `APPROVED`. Screenshots go to `target/browser/`
//! (`queue.png` before, `operator.png` after the approval).
//!
//! The second test reviews ten drafts by keyboard (counting main-frame navigations: none),
//! edits one and checks the diff, holds push-to-talk while Chromium's fake microphone plays an
//! espeak-ng WAVE (`--use-file-for-fake-audio-capture`), checks the charts and approves the
//! last draft with JavaScript off. Its screenshots (queue, draft, charts) go to
//! `target/browser/screenshots/`, or to `docs/screenshots/` for the README with
//! `UPDATE_SCREENSHOTS=1`.
//!
//! Chromium is driven over the DevTools protocol on `--remote-debugging-pipe` (JSON messages
//! separated by NUL bytes on file descriptors 3 and 4, wired up by `sh`), so no WebSocket crate
//! is needed. Clicks and typing are real input events at the element's position. The test is
//! skipped with a printed notice when Chromium is not installed (`scripts/test.sh` installs it
//! when run as root); `CHROMIUM` overrides the binary path.
#![cfg(feature = "host")]

use base64::Engine as _;
use chrono::Utc;
use salesagent::core::model::{Draft, DraftId, DraftStatus, DraftWriter, EmailAddress};
use salesagent::core::ports::{DynClock, DynStore, SystemClock};
use salesagent::host::{AppState, HostConfig};
use salesagent::store::SqlStore;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, PipeReader, PipeWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TOKEN: &str = "browser-operator-token";
/// Longest the whole browser session may take before Chromium is killed.
const BROWSER_DEADLINE: Duration = Duration::from_secs(120);
/// Longest to wait for one page condition.
const WAIT: Duration = Duration::from_secs(20);

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    )
}

/// A DevTools-protocol connection to one Chromium over `--remote-debugging-pipe`.
struct Browser {
    child: Child,
    to: PipeWriter,
    from: BufReader<PipeReader>,
    next_id: u64,
    session: Option<String>,
    profile: PathBuf,
    done: mpsc::Sender<()>,
    /// Main-frame navigations seen (`Page.frameNavigated` without a parent frame).
    navigations: u64,
}

impl Browser {
    fn launch(binary: &Path) -> Result<Self, String> {
        Self::launch_with(binary, &[])
    }

    /// Launches with `extra` command-line flags (e.g. the fake media-stream ones).
    fn launch_with(binary: &Path, extra: &[String]) -> Result<Self, String> {
        let profile = std::env::temp_dir().join(format!("sa-chromium-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile).map_err(|e| format!("profile dir: {e}"))?;
        let (cmd_read, cmd_write) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
        let (out_read, out_write) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
        let log = std::fs::File::create(profile.join("chromium.log"))
            .map_err(|e| format!("log file: {e}"))?;
        let child = {
            // Chromium reads commands on fd 3 and writes replies on fd 4.
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
                .arg(binary)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1200,900",
                    "--remote-debugging-pipe",
                ])
                .args(extra)
                .arg(format!("--user-data-dir={}", profile.display()))
                .stdin(Stdio::from(cmd_read))
                .stdout(Stdio::from(out_write))
                .stderr(Stdio::from(log));
            cmd.spawn()
                .map_err(|e| format!("{}: {e}", binary.display()))?
            // `cmd` drops here, closing our copies of the child's pipe ends.
        };
        // Watchdog: a hung browser is killed, which ends every pending read with EOF.
        let (done, stop) = mpsc::channel::<()>();
        let pid = child.id().to_string();
        std::thread::spawn(move || {
            if stop.recv_timeout(BROWSER_DEADLINE) == Err(mpsc::RecvTimeoutError::Timeout) {
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
        });
        Ok(Self {
            child,
            to: cmd_write,
            from: BufReader::new(out_read),
            next_id: 0,
            session: None,
            profile,
            done,
            navigations: 0,
        })
    }

    /// Sends one command (to the attached page when there is one) and waits for its reply.
    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let to_page = self.session.is_some() && !method.starts_with("Target.");
        self.call_on(to_page, method, params)
    }

    fn call_on(&mut self, to_page: bool, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method});
        msg["params"] = params;
        if to_page && let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).map_err(|e| e.to_string())?;
        bytes.push(0);
        self.to
            .write_all(&bytes)
            .and_then(|()| self.to.flush())
            .map_err(|e| format!("{method}: write to browser: {e}"))?;
        loop {
            let mut buf = Vec::new();
            let n = self
                .from
                .read_until(0, &mut buf)
                .map_err(|e| format!("{method}: read from browser: {e}"))?;
            if n == 0 {
                return Err(format!("{method}: browser closed the pipe"));
            }
            if buf.last() == Some(&0) {
                buf.pop();
            }
            let reply: Value =
                serde_json::from_slice(&buf).map_err(|e| format!("{method}: bad reply: {e}"))?;
            if reply["id"].as_u64() != Some(id) {
                // An event: count main-frame navigations.
                if reply["method"] == "Page.frameNavigated"
                    && reply["params"]["frame"].get("parentId").is_none()
                {
                    self.navigations += 1;
                }
                continue;
            }
            if let Some(err) = reply.get("error") {
                return Err(format!("{method}: {err}"));
            }
            return Ok(reply["result"].clone());
        }
    }

    /// Opens a fresh page and attaches to it.
    fn open_page(&mut self) -> Result<(), String> {
        let target = self.call("Target.createTarget", json!({"url": "about:blank"}))?;
        let target_id = target["targetId"].clone();
        let attached = self.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        )?;
        let session = attached["sessionId"]
            .as_str()
            .ok_or("attachToTarget gave no sessionId")?;
        self.session = Some(session.to_owned());
        self.call("Page.enable", json!({}))?;
        self.call("Runtime.enable", json!({}))?;
        Ok(())
    }

    /// Evaluates `expr` in the page and returns its value.
    fn eval(&mut self, expr: &str) -> Result<Value, String> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        )?;
        if let Some(ex) = r.get("exceptionDetails") {
            return Err(format!("evaluating {expr}: {ex}"));
        }
        Ok(r["result"]["value"].clone())
    }

    fn navigate(&mut self, url: &str) -> Result<(), String> {
        let r = self.call("Page.navigate", json!({"url": url}))?;
        if let Some(e) = r.get("errorText") {
            return Err(format!("navigate {url}: {e}"));
        }
        Ok(())
    }

    /// Polls until the page at `path` has loaded and `check` (a JS expression) is true.
    fn wait_for(&mut self, path: &str, check: &str) -> Result<(), String> {
        let expr = format!(
            "document.readyState === 'complete' && location.pathname === {} && !!({check})",
            json!(path)
        );
        let start = Instant::now();
        loop {
            // Evaluating during a navigation can fail while the old context goes away.
            if let Ok(Value::Bool(true)) = self.eval(&expr) {
                return Ok(());
            }
            if start.elapsed() > WAIT {
                let now = self
                    .eval("location.href + ' ' + document.title")
                    .unwrap_or_default();
                return Err(format!(
                    "timed out waiting for {path} with {check}; at {now}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A real left click at the centre of the element matching `selector`.
    fn click(&mut self, selector: &str) -> Result<(), String> {
        let expr = format!(
            "(() => {{ const e = document.querySelector({s}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()",
            s = json!(selector)
        );
        let at = self.eval(&expr)?;
        let (Some(x), Some(y)) = (at[0].as_f64(), at[1].as_f64()) else {
            return Err(format!("no element {selector} on the page"));
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )?;
        }
        Ok(())
    }

    /// Presses and releases one key (`modifiers`: 2 = Ctrl), as a real keyboard would.
    fn press(&mut self, key: &str, modifiers: u32) -> Result<(), String> {
        let (code, vk, text) = match key {
            "Enter" => ("Enter".to_owned(), 13, "\r".to_owned()),
            "Escape" => ("Escape".to_owned(), 27, String::new()),
            k if k.len() == 1 => {
                let c = k.chars().next().unwrap_or('a');
                (
                    format!("Key{}", c.to_ascii_uppercase()),
                    u32::from(c.to_ascii_uppercase()),
                    k.to_owned(),
                )
            }
            k => return Err(format!("no key {k}")),
        };
        let mut down = json!({"type": "keyDown", "key": key, "code": code,
            "windowsVirtualKeyCode": vk, "modifiers": modifiers});
        if !text.is_empty() && modifiers == 0 {
            down["text"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", down)?;
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": code,
                "windowsVirtualKeyCode": vk, "modifiers": modifiers}),
        )
        .map(|_| ())
    }

    /// Polls until `check` (a JS expression) is true on the current page, without navigating.
    fn until(&mut self, what: &str, check: &str) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Ok(Value::Bool(true)) = self.eval(&format!("!!({check})")) {
                return Ok(());
            }
            if start.elapsed() > WAIT {
                let now = self
                    .eval("location.href + ' ' + (document.querySelector('.msg:not(:empty)') || {}).textContent + ' ' + (document.getElementById('ptt-state') || {}).textContent")
                    .unwrap_or_default();
                return Err(format!("timed out waiting for {what} ({check}); at {now}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn type_text(&mut self, text: &str) -> Result<(), String> {
        self.call("Input.insertText", json!({"text": text}))
            .map(|_| ())
    }

    fn screenshot(&mut self, path: &Path) -> Result<(), String> {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}))?;
        let data = shot["data"].as_str().ok_or("screenshot without data")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("screenshot base64: {e}"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Closes the browser politely, then makes sure it is gone.
    fn close(mut self) {
        let _ = self.call_on(false, "Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        let _ = self.done.send(());
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn pending_draft() -> Draft {
    Draft {
        contact_name: Some("Ann Example".into()),
        company_name: Some("Acme".into()),
        priority: 42.0,
        ..Draft::new(
            EmailAddress::parse("ann@acme.io").expect("address"),
            EmailAddress::parse("sales@ours.io").expect("address"),
            "Onboarding three new teams",
            "Hi Ann,\n\nYou mentioned onboarding three new teams next quarter. Would a short \
             call next week help?\n\nBest,\nSam",
            DraftWriter::Human,
            Utc::now(),
        )
    }
}

/// Logs in, opens the draft from the queue, approves it; screenshots along the way.
fn drive(browser: &mut Browser, base: &str, draft: DraftId, shots: &Path) -> Result<(), String> {
    browser.open_page()?;
    browser.navigate(&format!("{base}/operator/login"))?;
    browser.wait_for("/operator/login", "document.querySelector('#token')")?;
    browser.click("#token")?;
    browser.type_text(TOKEN)?;
    browser.click("#login")?;
    let link = format!("a[href=\"/operator/drafts/{draft}\"]");
    browser.wait_for(
        "/operator",
        &format!("document.querySelector({})", json!(link)),
    )?;
    browser.screenshot(&shots.join("queue.png"))?;
    browser.click(&link)?;
    let page = format!("/operator/drafts/{draft}");
    browser.wait_for(&page, "document.querySelector('#approve')")?;
    browser.click("#approve")?;
    browser.wait_for(
        &page,
        "document.querySelector('#status') && \
         document.querySelector('#status').textContent === 'APPROVED'",
    )?;
    browser.screenshot(&shots.join("operator.png"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_approves_a_draft_in_chromium() {
    let Some(binary) = chromium() else {
        println!(
            "skipped: chromium not found (install Debian's `chromium`, or set CHROMIUM=/path)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("sa-browser-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("store.db").display());
    let clock: DynClock = Arc::new(SystemClock);
    let sql = SqlStore::builder(&url)
        .without_encryption()
        .clock(clock.clone())
        .connect()
        .await
        .unwrap();
    let store: DynStore = Arc::new(sql.clone());
    let draft = pending_draft();
    store
        .insert_draft(&draft, &draft.created_event("test"))
        .await
        .unwrap();

    let config = HostConfig {
        operator_token: Some(SecretString::from(TOKEN.to_owned())),
        ..HostConfig::default()
    };
    let state = AppState::new(store.clone(), clock, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            salesagent::host::app(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop_rx.await;
        })
        .await
    });

    let base = format!("http://{addr}");
    let shots = target_dir().join("browser");
    let id = draft.id;
    let outcome = tokio::task::spawn_blocking(move || {
        let mut browser = Browser::launch(&binary)?;
        let result = drive(&mut browser, &base, id, &shots);
        let log = browser.profile.join("chromium.log");
        let log = if result.is_err() {
            std::fs::read_to_string(log).unwrap_or_default()
        } else {
            String::new()
        };
        browser.close();
        result.map_err(|e| format!("{e}\nchromium log:\n{log}"))
    })
    .await
    .unwrap();
    let _ = stop_tx.send(());
    let _ = server.await;
    outcome.unwrap();

    let stored = store.get_draft(id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Approved);
    let events = store.draft_events(id).await.unwrap();
    let last = events.last().expect("an approval event");
    assert_eq!(last.actor, "operator:admin");
    let png = std::fs::read(target_dir().join("browser/operator.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
    sql.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- keyboard review, edit with diff, charts, push-to-talk and the page without script ----

/// Where the README's screenshots go: `docs/screenshots/` with `UPDATE_SCREENSHOTS=1`, else
/// `target/browser/screenshots/` (so a test run leaves the work tree alone).
fn docs_dir() -> PathBuf {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        target_dir().join("browser/screenshots")
    }
}

/// A spoken "what's next" as WAVE, made by espeak-ng (`None` when it is not installed).
fn spoken_wav(dir: &Path) -> Option<PathBuf> {
    let wav = dir.join("whats-next.wav");
    let ok = Command::new("espeak-ng")
        .arg("-w")
        .arg(&wav)
        .arg("what's next")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(wav)
}

const FIRST_NAMES: [&str; 11] = [
    "Ann", "Bo", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kai",
];

/// Eleven pending drafts (written by a model, one by the template writer with a flag), with
/// ICP reasons and the facts they used.
fn review_drafts(now: chrono::DateTime<Utc>) -> Vec<Draft> {
    use salesagent::core::model::{DraftFlag, DraftingReport, IcpScore, ScoreFactor, UsedFact};
    FIRST_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let lower = name.to_lowercase();
            let company = format!("Company{i}");
            let (writer, flags) = if i == 10 {
                (
                    DraftWriter::Template {
                        reason: "model timed out".into(),
                    },
                    vec![
                        DraftFlag::TemplateWritten,
                        DraftFlag::LowVoiceSimilarity { score_milli: 410 },
                    ],
                )
            } else {
                (
                    DraftWriter::Llm {
                        model: "smollm2-360m-instruct".into(),
                    },
                    Vec::new(),
                )
            };
            let minutes = i64::try_from(i).unwrap_or(0) * 7;
            Draft {
                contact_name: Some(format!("{name} Example")),
                company_name: Some(company.clone()),
                icp: Some(IcpScore {
                    score: u8::try_from(90 - i * 5).unwrap_or(0),
                    tier: if i < 4 { "A".into() } else { "B".into() },
                    factors: vec![
                        ScoreFactor {
                            name: "industry".into(),
                            points: 30.0,
                            reason: "industry \"software\" is in the target list".into(),
                        },
                        ScoreFactor {
                            name: "seniority".into(),
                            points: 25.0,
                            reason: "title \"VP Operations\" is a vp".into(),
                        },
                        ScoreFactor {
                            name: "company_size".into(),
                            points: 15.0 - 2.0 * f64::from(u32::try_from(i).unwrap_or(0)),
                            reason: "120 employees, in the 50-500 band".into(),
                        },
                    ],
                }),
                flags,
                drafting: Some(DraftingReport {
                    facts: vec![UsedFact {
                        id: "crm:company:1".into(),
                        source: "crm".into(),
                        text: format!("{company} plans to onboard three new teams"),
                        link: Some("https://crm.example/companies/1".into()),
                    }],
                    model: (i != 10).then(|| "smollm2-360m-instruct".to_owned()),
                    ..DraftingReport::default()
                }),
                ..Draft::new(
                    EmailAddress::parse(&format!("{lower}@company{i}.io")).expect("address"),
                    EmailAddress::parse("sales@ours.io").expect("address"),
                    format!("Onboarding at {company}"),
                    format!(
                        "Hi {name},\n\nYou mentioned onboarding three new teams next quarter. \
                         Would a short call next week help?\n\nBest,\nSam"
                    ),
                    writer,
                    now - chrono::Duration::minutes(minutes),
                )
            }
        })
        .collect()
}

/// Sent drafts and their outcomes over the last weeks, for the charts.
async fn seed_history(store: &DynStore, now: chrono::DateTime<Utc>) {
    use salesagent::core::model::{Outcome, OutcomeId, OutcomeType};
    let senders = ["sales@ours.io", "sam@ours.io"];
    for i in 0..24_i64 {
        let sent_at = now - chrono::Duration::days(3 + i * 2);
        let sender = EmailAddress::parse(senders[usize::try_from(i % 2).unwrap_or(0)]).unwrap();
        let contact = EmailAddress::parse(&format!("lead{i}@prospect{i}.io")).unwrap();
        let draft = Draft {
            status: DraftStatus::Sent,
            sent_at: Some(sent_at),
            ..Draft::new(
                contact.clone(),
                sender.clone(),
                "Following up",
                "Hi,\n\nA short note.\n\nSam",
                DraftWriter::Llm {
                    model: "smollm2-360m-instruct".into(),
                },
                sent_at - chrono::Duration::hours(2),
            )
        };
        store
            .insert_draft(&draft, &draft.created_event("test"))
            .await
            .unwrap();
        let mut outcomes = vec![(OutcomeType::EmailSent, 0)];
        if i % 3 != 0 {
            outcomes.push((OutcomeType::EmailReplied, 1));
        }
        if i % 4 == 1 {
            outcomes.push((OutcomeType::MeetingBooked, 2));
        }
        if i % 6 == 2 {
            outcomes.push((OutcomeType::PositiveResponse, 1));
        }
        for (t, hours) in outcomes {
            let at = sent_at + chrono::Duration::hours(hours * 20);
            store
                .record_outcome(&Outcome {
                    id: OutcomeId::new(),
                    outcome_type: t,
                    contact_email: contact.clone(),
                    sender: Some(sender.clone()),
                    draft_id: Some(draft.id),
                    impact: t.default_impact(),
                    source_event_id: format!("test:{i}:{}", t.as_str()),
                    occurred_at: at,
                    recorded_at: at,
                    details: None,
                })
                .await
                .unwrap();
        }
    }
}

/// What the keyboard test checks afterwards.
struct Reviewed {
    navigations_during_review: u64,
    edited: DraftId,
    rejected: DraftId,
}

fn count(browser: &mut Browser, expr: &str) -> Result<u64, String> {
    browser
        .eval(expr)?
        .as_u64()
        .ok_or_else(|| format!("{expr} is not a count"))
}

/// Reviews ten drafts with the keyboard only, and checks nothing navigated.
fn review_by_keyboard(browser: &mut Browser, base: &str, shots: &Path) -> Result<Reviewed, String> {
    browser.open_page()?;
    browser.navigate(&format!("{base}/operator/login"))?;
    browser.wait_for("/operator/login", "document.querySelector('#token')")?;
    browser.click("#token")?;
    browser.type_text(TOKEN)?;
    browser.click("#login")?;
    browser.wait_for(
        "/operator",
        "document.documentElement.dataset.enhanced === 'yes' && document.querySelector('tr.item.current')",
    )?;
    browser.eval("window.__sameDocument = 'still here'")?;
    let before = browser.navigations;
    let ids: Vec<String> =
        serde_json::from_value(browser.eval(
            "Array.from(document.querySelectorAll('#queue tr.item')).map(r => r.dataset.id)",
        )?)
        .map_err(|e| format!("row ids: {e}"))?;
    if ids.len() != 11 {
        return Err(format!("expected 11 rows, saw {}", ids.len()));
    }
    let current = "document.querySelector('tr.item.current').dataset.id";
    // 1: edit (e), append a sentence, save with Ctrl+Enter: the diff shows it; then approve (a).
    let edited = browser
        .eval(current)?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    browser.press("e", 0)?;
    browser.until(
        "the edit box",
        "document.activeElement && document.activeElement.tagName === 'TEXTAREA'",
    )?;
    browser.eval(
        "(() => { const t = document.activeElement; t.setSelectionRange(t.value.length, t.value.length); })()",
    )?;
    browser.type_text("\nPS: I can send the onboarding checklist first.")?;
    browser.press("Enter", 2)?;
    browser.until(
        "the diff after the edit",
        "document.querySelector('tr.item.current .diff ins')",
    )?;
    let ins = browser.eval("document.querySelector('tr.item.current .diff ins').textContent")?;
    if !ins
        .as_str()
        .unwrap_or_default()
        .contains("onboarding checklist")
    {
        return Err(format!("diff shows {ins}"));
    }
    browser.press("Escape", 0)?;
    browser.eval("window.scrollTo(0, 0)")?;
    browser.screenshot(&shots.join("queue.png"))?;
    browser.press("a", 0)?;
    browser.until(
        "1 reviewed",
        "document.querySelectorAll('tr.item.done').length === 1",
    )?;
    // 2: j then k (move down and back), approve.
    browser.press("j", 0)?;
    browser.press("k", 0)?;
    browser.press("a", 0)?;
    browser.until(
        "2 reviewed",
        "document.querySelectorAll('tr.item.done').length === 2",
    )?;
    // 3: reject with a reason (r, type, Enter).
    let rejected = browser
        .eval(current)?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    browser.press("r", 0)?;
    browser.until(
        "the reason field",
        "document.activeElement && document.activeElement.name === 'reason'",
    )?;
    browser.type_text("too early")?;
    browser.press("Enter", 0)?;
    browser.until(
        "3 reviewed",
        "document.querySelectorAll('tr.item.done').length === 3",
    )?;
    // 4: skip (s), come back (k), approve.
    browser.press("s", 0)?;
    browser.press("k", 0)?;
    browser.press("a", 0)?;
    browser.until(
        "4 reviewed",
        "document.querySelectorAll('tr.item.done').length === 4",
    )?;
    // 5..10: approve.
    for n in 5..=10 {
        browser.press("a", 0)?;
        browser.until(
            &format!("{n} reviewed"),
            &format!("document.querySelectorAll('tr.item.done').length === {n}"),
        )?;
    }
    let same = browser.eval("window.__sameDocument")?;
    if same != json!("still here") {
        return Err("the page was reloaded during the review".into());
    }
    let remaining = count(
        browser,
        "Number(document.getElementById('remaining').textContent)",
    )?;
    if remaining != 1 {
        return Err(format!("{remaining} left after 10 reviews"));
    }
    Ok(Reviewed {
        navigations_during_review: browser.navigations - before,
        edited: edited
            .parse()
            .map_err(|e| format!("edited id {edited}: {e}"))?,
        rejected: rejected
            .parse()
            .map_err(|e| format!("rejected id {rejected}: {e}"))?,
    })
}

impl Browser {
    /// Holds the left mouse button on `selector` for `hold` (push-to-talk).
    fn hold(&mut self, selector: &str, hold: Duration) -> Result<(), String> {
        let expr = format!(
            "(() => {{ const e = document.querySelector({s}); if (!e || e.hidden) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()",
            s = json!(selector)
        );
        let at = self.eval(&expr)?;
        let (Some(x), Some(y)) = (at[0].as_f64(), at[1].as_f64()) else {
            return Err(format!("no visible element {selector} on the page"));
        };
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mousePressed", "x": x, "y": y, "button": "left", "clickCount": 1}),
        )?;
        // The recording's length, not a timed assertion.
        std::thread::sleep(hold);
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseReleased", "x": x, "y": y, "button": "left", "clickCount": 1}),
        )
        .map(|_| ())
    }

    fn screenshot_full(&mut self, path: &Path) -> Result<(), String> {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        )?;
        let data = shot["data"].as_str().ok_or("screenshot without data")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("screenshot base64: {e}"))?;
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The chat: typed in the multi-line box, sent with Enter, answered in place (no page load).
fn chat(browser: &mut Browser) -> Result<(), String> {
    let before = browser.navigations;
    browser.click("#chat-text")?;
    browser.type_text("how many are pending?")?;
    browser.press("Enter", 0)?;
    browser.until(
        "the chat answer",
        "document.querySelectorAll('#chat-log .turn.bot').length === 1 && \
         document.querySelector('#chat-log .turn.you p').textContent === 'how many are pending?'",
    )?;
    let reply = browser.eval("document.getElementById('assistant-reply').textContent")?;
    if !reply.as_str().unwrap_or_default().contains('1') {
        return Err(format!("chat reply: {reply}"));
    }
    if browser.navigations != before {
        return Err("the chat loaded a page".into());
    }
    Ok(())
}

/// Push-to-talk: holds the button while Chromium's fake microphone plays the WAVE; the page
/// shows the transcript and plays the spoken answer.
fn push_to_talk(browser: &mut Browser, spoken_answer: bool) -> Result<(), String> {
    browser.until(
        "the push-to-talk button",
        "!document.getElementById('ptt').hidden",
    )?;
    browser.hold("#ptt", Duration::from_millis(2500))?;
    browser.until(
        "the transcript",
        "document.querySelector('.turn.spoken p') && document.querySelector('#assistant-reply')",
    )?;
    let heard = browser.eval("document.querySelector('.turn.spoken p').textContent")?;
    if heard != json!("what's next") {
        return Err(format!("transcript shown: {heard}"));
    }
    let reply = browser.eval("document.getElementById('assistant-reply').textContent")?;
    if !reply.as_str().unwrap_or_default().contains("Next is") {
        return Err(format!("reply shown: {reply}"));
    }
    if spoken_answer {
        browser.until(
            "the spoken answer playing",
            "document.getElementById('reply-audio') && \
             (document.getElementById('reply-audio').dataset.played === 'yes')",
        )?;
    }
    Ok(())
}

/// The draft pages: the edit's diff, readable reasons; the one left pending is screenshotted.
fn draft_pages(
    browser: &mut Browser,
    base: &str,
    edited: DraftId,
    pending: &str,
    shots: &Path,
) -> Result<(), String> {
    let page = format!("/operator/drafts/{edited}");
    browser.navigate(&format!("{base}{page}"))?;
    browser.wait_for(&page, "document.querySelector('#changes ins')")?;
    let ins = browser.eval("document.querySelector('#changes ins').textContent")?;
    if !ins
        .as_str()
        .unwrap_or_default()
        .contains("onboarding checklist")
    {
        return Err(format!("draft page diff shows {ins}"));
    }
    let writer = browser.eval("document.getElementById('writer').textContent")?;
    if writer != json!("written by smollm2-360m-instruct, edited by an operator") {
        return Err(format!("writer line: {writer}"));
    }
    let page = format!("/operator/drafts/{pending}");
    browser.navigate(&format!("{base}{page}"))?;
    browser.wait_for(
        &page,
        "document.querySelectorAll('#icp-reasons tr').length === 4 && \
         document.querySelector('#facts-used a[href=\"https://crm.example/companies/1\"]') && \
         document.querySelectorAll('#priority-reasons tr').length > 1",
    )?;
    browser.screenshot_full(&shots.join("draft.png"))
}

/// The charts page: SVG charts drawn, numbers in tables.
fn charts(browser: &mut Browser, base: &str, shots: &Path) -> Result<(), String> {
    browser.navigate(&format!("{base}/operator/charts"))?;
    browser.wait_for(
        "/operator/charts",
        "document.querySelectorAll('#chart-funnel rect').length === 5 && \
         document.querySelectorAll('#chart-weekly rect.week').length >= 4 && \
         document.querySelectorAll('#chart-types rect').length >= 3 && \
         document.querySelectorAll('#chart-senders rect').length === 2",
    )?;
    // Drawn, not just present: the funnel's widest bar has a width on screen.
    let width = browser
        .eval("document.querySelector('#chart-funnel rect').getBoundingClientRect().width")?;
    if width.as_f64().unwrap_or(0.0) < 100.0 {
        return Err(format!("funnel bar is {width} px wide"));
    }
    let funnel = browser.eval(
        "Array.from(document.querySelectorAll('#table-funnel tr')).slice(1).map(r => r.cells[0].textContent + ' ' + r.cells[1].textContent).join(', ')",
    )?;
    let expected = "drafted 35, approved 33, sent 24, replied 16, meeting 6";
    if funnel != json!(expected) {
        return Err(format!("funnel table: {funnel}, expected {expected}"));
    }
    browser.screenshot_full(&shots.join("charts.png"))
}

/// The queue without JavaScript: the forms alone approve the last draft (a page load).
fn without_script(browser: &mut Browser, base: &str, pending: &str) -> Result<(), String> {
    browser.call(
        "Emulation.setScriptExecutionDisabled",
        json!({"value": true}),
    )?;
    let before = browser.navigations;
    browser.navigate(&format!("{base}/operator"))?;
    browser.wait_for(
        "/operator",
        "document.querySelectorAll('#queue tr.item').length === 1 && \
         document.documentElement.dataset.enhanced === undefined && \
         document.getElementById('ptt').hidden",
    )?;
    browser.click("tr.item details.review summary")?;
    browser.click("tr.item button.approve")?;
    let page = format!("/operator/drafts/{pending}");
    browser.wait_for(
        &page,
        "document.querySelector('#status') && document.querySelector('#status').textContent === 'APPROVED'",
    )?;
    if browser.navigations < before + 2 {
        return Err("without script, approving should have loaded pages".into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_reviews_ten_drafts_by_keyboard_in_chromium() {
    use salesagent::core::ports::{DynSpeechToText, DynTextToSpeech};
    use salesagent::core::testing::FakeSpeechToText;
    let Some(binary) = chromium() else {
        println!(
            "skipped: chromium not found (install Debian's `chromium`, or set CHROMIUM=/path)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("sa-browser-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("store.db").display());
    let clock: DynClock = Arc::new(SystemClock);
    let sql = SqlStore::builder(&url)
        .without_encryption()
        .clock(clock.clone())
        .connect()
        .await
        .unwrap();
    let store: DynStore = Arc::new(sql.clone());
    let now = Utc::now();
    for d in review_drafts(now) {
        store
            .insert_draft(&d, &d.created_event("test"))
            .await
            .unwrap();
    }
    seed_history(&store, now).await;

    // Speech: the page's recording reaches a speech-to-text port that answers the words
    // espeak-ng spoke; the answer is spoken by espeak-ng (real WAVE the page plays).
    let wav = spoken_wav(&dir);
    if wav.is_none() {
        println!("NOTICE: espeak-ng not installed: push-to-talk is not exercised");
    }
    let stt = Arc::new(FakeSpeechToText::new());
    stt.push_transcript("what's next");
    let tts: Option<DynTextToSpeech> = wav
        .as_ref()
        .map(|_| Arc::new(salesagent::connectors::espeak::Espeak::new()) as DynTextToSpeech);
    let config = HostConfig {
        operator_token: Some(SecretString::from(TOKEN.to_owned())),
        ..HostConfig::default()
    };
    let state = AppState::new(store.clone(), clock, config)
        .with_speech(Some(stt.clone() as DynSpeechToText), tts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            salesagent::host::app(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop_rx.await;
        })
        .await
    });

    let base = format!("http://{addr}");
    let shots = docs_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let mut flags = vec!["--autoplay-policy=no-user-gesture-required".to_owned()];
    if let Some(wav) = &wav {
        flags.extend([
            "--use-fake-device-for-media-stream".to_owned(),
            "--use-fake-ui-for-media-stream".to_owned(),
            format!("--use-file-for-fake-audio-capture={}", wav.display()),
        ]);
    }
    let talk = wav.is_some();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut browser = Browser::launch_with(&binary, &flags)?;
        let result = (|| {
            let reviewed = review_by_keyboard(&mut browser, &base, &shots)?;
            let pending = browser
                .eval("document.querySelector('tr.item:not(.done)').dataset.id")?
                .as_str()
                .unwrap_or_default()
                .to_owned();
            chat(&mut browser)?;
            if talk {
                push_to_talk(&mut browser, true)?;
            }
            draft_pages(&mut browser, &base, reviewed.edited, &pending, &shots)?;
            charts(&mut browser, &base, &shots)?;
            without_script(&mut browser, &base, &pending)?;
            Ok::<_, String>(reviewed)
        })();
        let log = browser.profile.join("chromium.log");
        let log = if result.is_err() {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.contains("dbus"))
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            String::new()
        };
        browser.close();
        result.map_err(|e| format!("{e}\nchromium log:\n{log}"))
    })
    .await
    .unwrap();
    let _ = stop_tx.send(());
    let _ = server.await;
    let reviewed = outcome.unwrap();

    assert_eq!(
        reviewed.navigations_during_review, 0,
        "reviewing 10 drafts by keyboard loaded no page"
    );
    let edited = store.get_draft(reviewed.edited).await.unwrap();
    assert_eq!(edited.status, DraftStatus::Approved);
    assert!(
        edited.body.contains("onboarding checklist"),
        "{}",
        edited.body
    );
    let events = store.draft_events(reviewed.edited).await.unwrap();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.name(), e.actor.as_str()))
        .collect();
    assert_eq!(
        &actions[1..],
        &[("edit", "operator:admin"), ("approve", "operator:admin")],
        "{actions:?}"
    );
    let rejected = store.get_draft(reviewed.rejected).await.unwrap();
    assert_eq!(rejected.status, DraftStatus::Rejected);
    assert_eq!(rejected.status_reason.as_deref(), Some("too early"));
    let approved = store
        .list_drafts(&salesagent::core::ports::DraftFilter {
            status: Some(DraftStatus::Approved),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(approved.len(), 10, "9 by keyboard, 1 without script");
    if talk {
        let heard = stt.heard();
        assert_eq!(heard.len(), 1, "one recording posted");
        assert!(
            heard[0].bytes.len() > 1000,
            "the recording has sound: {} bytes",
            heard[0].bytes.len()
        );
    }
    for shot in ["queue.png", "draft.png", "charts.png"] {
        let png = std::fs::read(docs_dir().join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{shot} is a PNG");
    }
    sql.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
