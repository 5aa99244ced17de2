//! The settings file on the shipped hosts (`examples/webhook`, `examples/cli`, spawned as
//! processes): both read the same effective settings from `cli config init` output and from the
//! environment alone, both start from either, and SIGHUP after an edit of the ICP rules changes
//! the next draft's score on a running webhook host, with an audit entry.
//!
//! `cargo test` builds the examples first; after `cargo test --test settings_hosts` alone on a
//! fresh tree they may be missing, and the tests then print a notice and skip.

#[path = "webhook_support/mod.rs"]
mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generous bound for a host to start or a job to finish (polled, never asserted on).
const STEP: Duration = Duration::from_secs(90);
const TOKEN: &str = "settings-test-operator-token-0123456789abcdef";

fn binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        Some(bin)
    } else {
        eprintln!(
            "skipped: {} not built (run `cargo build --examples`)",
            bin.display()
        );
        None
    }
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "salesagent-settings-hosts-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A command with none of the variables that configure salesagent set.
fn clean(bin: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir).stdin(Stdio::null());
    for v in salesagent::settings::ENV_VARS {
        cmd.env_remove(v.name);
    }
    for v in salesagent::settings::SECRET_ENV_VARS {
        cmd.env_remove(v);
    }
    for v in [
        salesagent::settings::CONFIG_ENV,
        "HUBSPOT_BASE_URL",
        "GOOGLE_API_BASE_URL",
        "GOOGLE_REDIRECT_URI",
        "OPENAI_BASE_URL",
        "SMTP_URL",
    ] {
        cmd.env_remove(v);
    }
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The effective settings each host prints: `cli config check --json` and
/// `webhook --print-settings`.
fn effective(
    cli: &Path,
    webhook: &Path,
    dir: &Path,
    env: &[(&str, &str)],
    config: Option<&Path>,
) -> (Value, Value) {
    let with = |mut cmd: Command| {
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    };
    let mut c = with(clean(cli, dir));
    if let Some(f) = config {
        c.arg("--config").arg(f);
    }
    c.args(["config", "check", "--json"]);
    let mut w = with(clean(webhook, dir));
    if let Some(f) = config {
        w.arg("--config").arg(f);
    }
    w.arg("--print-settings");
    let parse = |s: String| -> Value { serde_json::from_str(&s).expect("JSON") };
    (parse(run_ok(&mut c)), parse(run_ok(&mut w)))
}

fn values(v: &Value) -> Vec<(String, String)> {
    v["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const ENV_ONLY: &[(&str, &str)] = &[
    ("SALESAGENT_SENDER", "sam@northwind-traders.com"),
    ("SENDER_NAME", "Sam Berger"),
    ("SENDER_COMPANY", "Northwind Traders"),
    ("SENDER_TIME_ZONE", "Europe/Berlin"),
    ("DATABASE_URL", "sqlite://env.db"),
    ("SEND_WINDOW", "8-18"),
    ("SEND_LIMIT_CONTACT_WEEK", "3"),
    ("AUTO_APPROVE_ICP_THRESHOLD", "70"),
    ("OUTCOME_IMPACTS", "email_replied=6"),
];

const SAME_AS_FILE: &str = r#"
[sender]
email = "sam@northwind-traders.com"
name = "Sam Berger"
company = "Northwind Traders"
time_zone = "Europe/Berlin"
[store]
database = "sqlite://env.db"
[sending.window]
start_hour = 8
end_hour = 18
[sending.limits]
per_contact_week = 3
[auto_approval]
icp_threshold = 70
[outcomes.impacts]
email_replied = 6
"#;

#[test]
fn both_hosts_read_the_same_effective_settings() {
    let (Some(cli), Some(webhook)) = (binary("cli"), binary("webhook")) else {
        return;
    };
    let dir = tempdir();
    let init = dir.join("salesagent.toml");
    run_ok(clean(&cli, &dir).args(["config", "init"]).arg(&init));

    // From the unchanged `config init` output: every value from the file, the same in both.
    let (c, w) = effective(&cli, &webhook, &dir, &[], Some(&init));
    assert_eq!(c["settings"], w["settings"]);
    assert!(
        c["settings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["source"] == "file"),
        "{c}"
    );

    // From the environment alone: the same in both, sources named.
    let (c, w) = effective(&cli, &webhook, &dir, ENV_ONLY, None);
    assert_eq!(c["settings"], w["settings"]);
    let sources: Vec<&str> = c["settings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["key"] == "sending.window.start_hour")
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["env SEND_WINDOW"]);

    // A file naming only the sender's address: the CLI's demo sender (fixtures) does not leak
    // its name or company into it.
    let only = dir.join("only-email.toml");
    std::fs::write(&only, "[sender]\nemail = \"sam@northwind-traders.com\"\n").unwrap();
    let (c_only, w_only) = effective(&cli, &webhook, &dir, &[], Some(&only));
    assert_eq!(c_only["settings"], w_only["settings"]);

    // A file saying the same as the environment gives the same values.
    let same = dir.join("same.toml");
    std::fs::write(&same, SAME_AS_FILE).unwrap();
    let (from_file, _) = effective(&cli, &webhook, &dir, &[], Some(&same));
    assert_eq!(values(&from_file), values(&c));

    // The CLI's outcome commands use the file's impacts.
    let out = run_ok(clean(&cli, &dir).arg("--config").arg(&same).args([
        "--offline",
        "--database",
        "memory:",
        "outcomes",
        "types",
        "--json",
    ]));
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    let replied = rows.iter().find(|r| r["type"] == "email_replied").unwrap();
    assert_eq!(replied["impact"], 6);
}

/// A running webhook host, killed on drop.
struct Host {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Host {
    /// Starts the host in `dir` with `args` and `env`, listening on a free port (set with
    /// `SALESAGENT_LISTEN`, so a settings file stays unchanged), and waits for `/healthz`.
    async fn start(bin: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Host {
        let port = free_port();
        let log = dir.join(format!("webhook-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = clean(bin, dir);
        cmd.args(args)
            .env("SALESAGENT_LISTEN", format!("127.0.0.1:{port}"))
            .env("SALESAGENT_OPERATOR_TOKEN", TOKEN)
            .env("HUBSPOT_CLIENT_SECRET", support::SECRET)
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let host = Host {
            child: cmd.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let client = reqwest::Client::new();
        host.eventually("the host to answer /healthz", || {
            let client = client.clone();
            let url = format!("{}/healthz", host.base);
            async move {
                let r = client.get(url).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
        host
    }

    async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let start = Instant::now();
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                start.elapsed() < STEP,
                "gave up waiting for {what}; host log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn submit(&self, id: &str, email: &str) {
        let body = serde_json::json!({
            "submission_id": id,
            "form_id": "contact-sales",
            "submitted_at": "2026-11-25T09:12:00Z",
            "fields": {"email": email, "firstname": "Ann", "company": "Acme", "message": "Pricing?"}
        });
        let body = body.to_string();
        let url = format!("{}/webhooks/forms", self.base);
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            .to_string();
        let sig = support::sign_v3(support::SECRET, "POST", &url, body.as_bytes(), &ts);
        let r = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header("X-HubSpot-Signature-v3", sig)
            .header("X-HubSpot-Request-Timestamp", ts)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "{}",
            r.text().await.unwrap_or_default()
        );
    }

    /// The pending draft to `email` once the workers wrote it.
    async fn draft(&self, email: &str) -> Value {
        let client = reqwest::Client::new();
        self.eventually(&format!("the draft to {email}"), || {
            let req = client
                .get(format!("{}/api/operator/drafts/pending", self.base))
                .bearer_auth(TOKEN);
            async move {
                let v: Value = req.send().await.ok()?.json().await.ok()?;
                v["drafts"]
                    .as_array()?
                    .iter()
                    .find(|d| d["contact_email"] == email)
                    .cloned()
            }
        })
        .await
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[tokio::test]
async fn both_hosts_start_from_config_init_output_and_from_the_environment() {
    let (Some(cli), Some(webhook)) = (binary("cli"), binary("webhook")) else {
        return;
    };
    let dir = tempdir();
    let init = dir.join("salesagent.toml");
    run_ok(clean(&cli, &dir).args(["config", "init"]).arg(&init));
    let init_arg = init.display().to_string();

    // The webhook host, from the unchanged file (its store `sqlite://salesagent.db` in `dir`).
    {
        let host = Host::start(&webhook, &dir, &["--config", &init_arg], &[]).await;
        host.submit("f-init", "ann@acme-robotics.com").await;
        let d = host.draft("ann@acme-robotics.com").await;
        let subject = d["subject"].as_str().unwrap();
        assert!(!subject.to_lowercase().contains("salesagent"), "{subject}");
        assert_eq!(d["sender"], "sales@example.com");
    }
    // The CLI, from the same file.
    let out = run_ok(clean(&cli, &dir).args([
        "--config",
        &init_arg,
        "--database",
        "sqlite://cli.db",
        "demo",
    ]));
    assert!(out.contains("Draft queue"), "{out}");
    assert!(
        !out.contains("Salesagent"),
        "the file names no company: {out}"
    );

    // From the environment alone.
    let env_dir = tempdir();
    {
        let host = Host::start(&webhook, &env_dir, &[], ENV_ONLY).await;
        host.submit("f-env", "bo@acme-robotics.com").await;
        let d = host.draft("bo@acme-robotics.com").await;
        assert_eq!(d["sender"], "sam@northwind-traders.com");
        assert!(
            d["subject"].as_str().unwrap().contains("Northwind Traders"),
            "{d}"
        );
    }
    let mut cmd = clean(&cli, &env_dir);
    for (k, v) in ENV_ONLY {
        cmd.env(k, v);
    }
    let out = run_ok(cmd.args(["demo"]));
    assert!(out.contains("Northwind Traders"), "{out}");
}

#[tokio::test]
async fn sighup_after_editing_the_icp_rules_changes_the_next_drafts_score() {
    let Some(webhook) = binary("webhook") else {
        return;
    };
    let dir = tempdir();
    let path = dir.join("salesagent.toml");
    let settings = |base: f64| {
        format!(
            "[sender]\nemail = \"sam@northwind-traders.com\"\n\n[store]\ndatabase = \"sqlite://db.sqlite\"\n\n\
             [host]\nworkers = 1\n\n[icp]\nbase = {base:?}\n"
        )
    };
    std::fs::write(&path, settings(0.0)).unwrap();
    let path_arg = path.display().to_string();
    // Only the signal reloads (no polling of the file), so the test shows SIGHUP works.
    let host = Host::start(
        &webhook,
        &dir,
        &[
            "--config",
            &path_arg,
            "--offline",
            "--config-poll-secs",
            "0",
        ],
        &[],
    )
    .await;
    host.submit("f-before", "ann@acme-robotics.com").await;
    let before = host.draft("ann@acme-robotics.com").await["icp"]["score"]
        .as_u64()
        .unwrap();

    std::fs::write(&path, settings(30.0)).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &host.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    host.eventually("the reload", || {
        let log = host.log();
        async move { log.contains("settings reloaded").then_some(()) }
    })
    .await;

    // Same lead data, new submission: scored with the new rules, without a restart.
    host.submit("f-after", "bo@acme-robotics.com").await;
    let after = host.draft("bo@acme-robotics.com").await["icp"]["score"]
        .as_u64()
        .unwrap();
    assert_eq!(after, before + 30, "before {before}, after {after}");
    assert!(host.child.id() > 0);

    // A broken edit is refused; the running rules stay.
    std::fs::write(&path, "[icp.tiers]\na = 10\nb = 60\n").unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &host.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    host.eventually("the refusal", || {
        let log = host.log();
        async move { log.contains("settings not reloaded").then_some(()) }
    })
    .await;
    assert!(host.log().contains("icp.tiers.b"), "{}", host.log());
    host.submit("f-broken", "cy@acme-robotics.com").await;
    let kept = host.draft("cy@acme-robotics.com").await["icp"]["score"]
        .as_u64()
        .unwrap();
    assert_eq!(kept, after);
    drop(host);

    // Both are in the audit log.
    let clock: salesagent::core::ports::DynClock =
        std::sync::Arc::new(salesagent::core::ports::SystemClock);
    let url = format!("sqlite://{}", dir.join("db.sqlite").display());
    let store = salesagent::services::open_store(&url, clock).await.unwrap();
    let entries = store.audit_entries(0, 1000).await.unwrap();
    let reload = entries
        .iter()
        .find(|e| e.action == "settings.reload")
        .expect("settings.reload audited");
    assert_eq!(reload.details["trigger"], "SIGHUP");
    assert_eq!(reload.details["applied"], serde_json::json!(["icp.base"]));
    assert!(
        entries
            .iter()
            .any(|e| e.action == "settings.reload_rejected")
    );
}
