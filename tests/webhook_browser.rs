//! End to end in a real browser: the host on loopback over a SQLite store holding one pending
//! draft; headless Chromium logs in at `/operator/login`, opens the draft from the queue and
//! clicks approve; the store then says `APPROVED`. Screenshots go to `target/browser/`
//! (`queue.png` before, `operator.png` after the approval).
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
}

impl Browser {
    fn launch(binary: &Path) -> Result<Self, String> {
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
                continue; // an event
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
