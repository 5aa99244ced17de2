//! `cli sequences` end to end: a first e-mail really sent (to the file outbox) enrols its
//! contact; `sequences`, `sequences show`, `sequences stats` show it; `sequences stop` ends it
//! (reason `manual`). Runs the built `cli` example like `tests/cli.rs` (skips with a notice when
//! the binary was not built).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SCRUBBED_ENV: &[&str] = &[
    "DATABASE_URL",
    "OPENAI_API_KEY",
    "HUBSPOT_ACCESS_TOKEN",
    "GOOGLE_CLIENT_ID",
    "ALLOW_REAL_SENDS",
    "AUTO_APPROVE_ENABLED",
    "SALESAGENT_MAILBOX",
    "SALESAGENT_OPERATOR",
    "SEND_WINDOW",
    "SEND_TIME_ZONE",
    "MESSAGE_ID_DOMAIN",
];

fn binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("cli{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

struct World {
    bin: PathBuf,
    dir: PathBuf,
}

impl World {
    fn new(name: &str) -> Option<Self> {
        let Some(bin) = binary() else {
            eprintln!(
                "SKIPPED: the cli example binary is not built (run `cargo build --example cli`)"
            );
            return None;
        };
        let dir =
            std::env::temp_dir().join(format!("salesagent-seq-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        Some(Self { bin, dir })
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(&self.bin);
        for k in SCRUBBED_ENV {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
        let out = cmd
            .current_dir(&self.dir)
            .arg("--offline")
            .arg("--database")
            .arg(format!("sqlite://{}", self.dir.join("test.db").display()))
            .arg("--data")
            .arg(data)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the cli binary");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "the cli panicked:\n{err}");
        out
    }

    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.run(args, env);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "cli {args:?} failed: {:?}\n{stdout}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

#[test]
fn a_sent_first_email_enrols_and_the_cli_shows_and_stops_the_sequence() {
    let Some(w) = World::new("flow") else {
        return;
    };
    assert!(w.ok(&["sequences"], &[]).contains("(no sequences)"));
    let form = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/forms/01-acme-demo.json");
    w.ok(&["submit", &form.display().to_string()], &[]);
    w.ok(&["work", "--until-idle"], &[]);
    let drafts: Value = serde_json::from_str(&w.ok(&["drafts", "--json"], &[])).unwrap();
    let draft = &drafts.as_array().expect("drafts")[0];
    let id = draft["id"].as_str().unwrap().to_owned();
    let contact = draft["contact_email"].as_str().unwrap().to_owned();
    w.ok(&["approve", &id], &[]);
    let outbox = w.dir.join("outbox");
    let spec = format!("outbox:{}", outbox.display());
    let sent = w.ok(
        &["send", "--mailbox", &spec, "--ignore-window"],
        &[("ALLOW_REAL_SENDS", "true")],
    );
    assert!(sent.contains(&id), "{sent}");

    let list = w.ok(&["sequences"], &[]);
    assert!(list.contains(&contact) && list.contains("active"), "{list}");
    let shown: Value =
        serde_json::from_str(&w.ok(&["sequences", "show", &contact, "--json"], &[])).unwrap();
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["messages"].as_array().unwrap().len(), 1);
    let text = w.ok(&["sequences", "show", &contact], &[]);
    assert!(text.contains("0/3 sent, next"), "{text}");

    let stopped = w.ok(
        &["sequences", "stop", &contact],
        &[("SALESAGENT_OPERATOR", "operator:ann")],
    );
    assert!(
        stopped.contains("stopped after step 0: manual (operator:ann)"),
        "{stopped}"
    );
    let replay: Value =
        serde_json::from_str(&w.ok(&["sequences", "replay", "--json"], &[])).unwrap();
    assert_eq!(replay["sequences"], 1, "{replay}");
    assert_eq!(replay["identical"], 1, "{replay}");
    assert!(
        w.ok(&["sequences", "replay"], &[])
            .contains("1 replayed, 1 identical, 0 differing")
    );
    let stats: Value = serde_json::from_str(&w.ok(&["sequences", "stats", "--json"], &[])).unwrap();
    assert_eq!(stats["by_status"]["stopped"], 1);
    assert_eq!(stats["steps"][0]["stopped"]["manual"], 1);

    let missing = w.run(&["sequences", "show", "nobody@example.com"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    let bad = w.run(&["sequences", "--status", "bogus"], &[]);
    assert_eq!(bad.status.code(), Some(2));
}
